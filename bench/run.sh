#!/usr/bin/env bash
# `make bench`: every bench/*.sh (each sources lib.sh and cleans up after itself), one after
# the other so that they do not compete for the two cores, then the ratio lines together.
# BENCH_ONLY="images load" runs only those.
set -uo pipefail
cd "$(dirname "$0")" || exit 1

results=$(mktemp /tmp/berth-bench-results.XXXXXX)
trap 'rm -f "$results"' EXIT
export BENCH_RESULTS=$results

status=0
for script in *.sh; do
	name=${script%.sh}
	case $name in lib | run) continue ;; esac
	if [ -n "${BENCH_ONLY:-}" ] && [[ " $BENCH_ONLY " != *" $name "* ]]; then
		continue
	fi
	start=$SECONDS
	if ! "./$script"; then
		echo "bench: $script failed" >&2
		status=1
	fi
	echo "($script took $((SECONDS - start))s)"
	echo
done

echo "== summary"
cat "$results"
exit "$status"
