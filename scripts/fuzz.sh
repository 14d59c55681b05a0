#!/usr/bin/env bash
# `make fuzz`: real fuzzing with libFuzzer. Builds every fuzz/<t>_fuzzer.c with clang-14
# -fsanitize=fuzzer,address,undefined and runs each for FUZZ_SECONDS (default 60) on its corpus
# fuzz/corpus/<t>/, where libFuzzer saves every input that reaches new coverage; `make check`
# replays those corpora under gcc. A crash leaves its input in fuzz/build/artifacts/ and makes
# the exit status 1: add that file to the corpus once the bug is fixed.
#
# How it builds: a meson build dir, fuzz/build, configured with CC=clang-14,
# -Db_sanitize=address,undefined and -fsanitize=fuzzer-no-link in c_args, so the project's own
# libraries are instrumented exactly as meson compiles them. Its fuzz/<t>_fuzzer target (the
# standalone replay driver) is built, then relinked from ninja's own link command without
# standalone.c and with -fsanitize=fuzzer, which supplies main(): the libraries and
# dependencies are the ones fuzz/meson.build declares, never a second list kept here.
#
# Environment: FUZZ_SECONDS (per target), FUZZ_TARGETS="ref tar" (default: all),
# FUZZ_ARGS (extra libFuzzer flags, e.g. "-jobs=2 -workers=2").
set -euo pipefail

cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
BUILD=fuzz/build
CC_FUZZ=${CC_FUZZ:-clang-14}

command -v "$CC_FUZZ" >/dev/null || {
	echo "fuzz: $CC_FUZZ not found (scripts/deps.sh installs clang-14 and libclang-rt-14-dev)" >&2
	exit 1
}

if [ ! -f "$BUILD/build.ninja" ]; then
	CC=$CC_FUZZ meson setup "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link --buildtype=debugoptimized >"$BUILD.setup.log" 2>&1 || {
		cat "$BUILD.setup.log" >&2
		exit 1
	}
	rm -f "$BUILD.setup.log"
fi

targets=()
if [ -n "${FUZZ_TARGETS:-}" ]; then
	read -r -a targets <<<"$FUZZ_TARGETS"
else
	for f in fuzz/*_fuzzer.c; do
		t=${f#fuzz/}
		targets+=("${t%_fuzzer.c}")
	done
fi
[ ${#targets[@]} -gt 0 ] || {
	echo "fuzz: no fuzz/*_fuzzer.c" >&2
	exit 1
}

mkdir -p "$BUILD/artifacts"
status=0
results=()
for t in "${targets[@]}"; do
	exe=fuzz/${t}_fuzzer
	if ! ninja -C "$BUILD" "$exe" >"$BUILD/$t.build.log" 2>&1; then
		sed -n '/^FAILED:/,$p' "$BUILD/$t.build.log" | grep -v '^\[' | head -n 40 >&2
		echo "fuzz: $t: build failed (is it listed in fuzz/meson.build?)" >&2
		results+=("$(printf '%-18s build failed' "$t")")
		status=1
		continue
	fi
	# ninja's link command for the replay binary, minus standalone.c, plus libFuzzer.
	link=$(ninja -C "$BUILD" -t commands "$exe" | tail -n 1)
	case $link in
	*"$exe.p/standalone.c.o"*"-o $exe "* | *"-o $exe "*"$exe.p/standalone.c.o"*) ;;
	*)
		echo "fuzz: $t: unexpected link command: $link" >&2
		exit 1
		;;
	esac
	link=${link//" $exe.p/standalone.c.o"/}
	link=${link//"-o $exe "/"-o $exe.libfuzzer "}
	(cd "$BUILD" && eval "$link -fsanitize=fuzzer") >>"$BUILD/$t.build.log" 2>&1 || {
		tail -n 20 "$BUILD/$t.build.log" >&2
		echo "fuzz: $t: link with -fsanitize=fuzzer failed" >&2
		exit 1
	}

	corpus=fuzz/corpus/$t
	mkdir -p "$corpus"
	before=$(find "$corpus" -type f | wc -l)
	args=(-max_total_time="$FUZZ_SECONDS" -timeout=25 -print_final_stats=1
		-artifact_prefix="$BUILD/artifacts/$t-")
	[ -f "fuzz/$t.dict" ] && args+=(-dict="fuzz/$t.dict")
	echo "== fuzz $t: ${FUZZ_SECONDS}s on $corpus ($before inputs)"
	log=$BUILD/$t.fuzz.log
	# shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
	if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$BUILD/$exe.libfuzzer" "${args[@]}" ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1 </dev/null; then
		outcome=ok
	else
		outcome="CRASH: $(grep -m1 -oE "Test unit written to [^ ]+" "$log" | sed 's/Test unit written to //')"
		grep -m1 -B2 -A25 -E 'ERROR: |runtime error:|deadly signal' "$log" >&2 || tail -n 30 "$log" >&2
		status=1
	fi
	after=$(find "$corpus" -type f | wc -l)
	execs=$(grep -m1 -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
	results+=("$(printf '%-18s %10s execs %6d -> %6d inputs  %s' "$t" "$execs" "$before" "$after" "$outcome")")
	echo "   ${results[-1]}"
done

echo
printf '%s\n' "${results[@]}"
[ "$status" -eq 0 ] || echo "fuzz: failures above; crashing inputs are in $BUILD/artifacts/"
exit "$status"
