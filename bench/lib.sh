# shellcheck shell=bash
# Shared by the bench/*.sh scripts (sourced, not run): a private store for each engine, a
# private dockerd, and hyperfine runs printed as a table plus the ratios against berth.
#
#   bench_init                  temp dir, berth/podman stores, docker's client config; trap
#   bench_dockerd_start         a dockerd of our own; DOCKER_HOST points at it, or HAVE_DOCKER=0
#   bench_compare VERB NOTE ... hyperfine side by side, then the table and the ratios
#
# Nothing outside $BENCH_DIR is touched: berth gets --root/--runroot through BERTH_ROOT and
# BERTH_RUNROOT, podman gets --root/--runroot/--tmpdir flags, dockerd gets its own
# --data-root, --exec-root, socket and pid file, with --bridge=none --iptables=false so that
# it creates no network state. On exit the dockerd we started (that pid, nothing else) is
# stopped, mounts below $BENCH_DIR are unmounted, and $BENCH_DIR is removed.
#
# Environment: BERTH (default ./build/berth), BENCH_KEEP=1 keeps $BENCH_DIR, BENCH_RESULTS
# (a file each comparison's ratio line is appended to; bench/run.sh sets it).

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BERTH=${BERTH:-$BENCH_SRC/build/berth}

bench_log() { printf '%s\n' "$*" >&2; }
bench_die() {
	bench_log "bench: $*"
	exit 1
}

bench_init() {
	[ -x "$BERTH" ] || bench_die "$BERTH not built (run make first)"
	command -v hyperfine >/dev/null || bench_die "hyperfine not installed (scripts/deps.sh)"
	command -v jq >/dev/null || bench_die "jq not installed (scripts/deps.sh)"
	BENCH_DIR=$(mktemp -d /tmp/berth-bench.XXXXXX)
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM HUP
	mkdir -p "$BENCH_DIR/bin" "$BENCH_DIR/out"

	export BERTH_ROOT=$BENCH_DIR/berth/root BERTH_RUNROOT=$BENCH_DIR/berth/run
	export BERTH_CONFIG=$BENCH_DIR/berth/config.json
	mkdir -p "$BENCH_DIR/berth"
	echo '{}' >"$BERTH_CONFIG"

	HAVE_PODMAN=0
	PODMAN=
	if command -v podman >/dev/null; then
		local driver
		for driver in overlay vfs; do
			PODMAN="podman --root $BENCH_DIR/podman-$driver/root --runroot $BENCH_DIR/podman-$driver/run"
			PODMAN+=" --tmpdir $BENCH_DIR/podman-$driver/tmp --storage-driver $driver"
			PODMAN+=" --cgroup-manager cgroupfs --events-backend none"
			if $PODMAN images >/dev/null 2>"$BENCH_DIR/podman-$driver.log"; then
				HAVE_PODMAN=1
				break
			fi
		done
		[ "$HAVE_PODMAN" = 1 ] || bench_log "bench: podman unusable here: $(tail -n1 "$BENCH_DIR/podman-vfs.log")"
	fi

	# The docker client keeps its config (auths, contexts) here, not in ~/.docker.
	export DOCKER_CONFIG=$BENCH_DIR/docker-client
	mkdir -p "$DOCKER_CONFIG"
	HAVE_DOCKER=0
	DOCKERD_PID=
}

bench_dockerd_start() {
	command -v dockerd >/dev/null && command -v docker >/dev/null || {
		bench_log "bench: docker is not installed, comparing without it"
		return 0
	}
	local d=$BENCH_DIR/dockerd driver i
	export DOCKER_HOST=unix://$d/docker.sock
	# overlay2 as docker would use it; vfs only where overlay mounts are impossible.
	for driver in overlay2 vfs; do
		mkdir -p "$d"
		dockerd --data-root "$d/data" --exec-root "$d/exec" -H "$DOCKER_HOST" \
			--pidfile "$d/docker.pid" --bridge=none --iptables=false --ip6tables=false \
			--storage-driver="$driver" --log-level=error </dev/null >"$d/dockerd.log" 2>&1 &
		DOCKERD_PID=$!
		for i in $(seq 1 120); do
			if docker version >/dev/null 2>&1; then
				HAVE_DOCKER=1
				bench_log "bench: private dockerd (storage driver $driver) on $DOCKER_HOST"
				return 0
			fi
			kill -0 "$DOCKERD_PID" 2>/dev/null || break
			sleep 0.25
		done
		bench_dockerd_stop
		bench_umount_below "$d"
		rm -rf "$d"
	done
	bench_log "bench: dockerd did not start, comparing without docker"
}

# Stops the dockerd this script started: that pid, TERM then KILL after 30 s.
bench_dockerd_stop() {
	[ -n "${DOCKERD_PID:-}" ] || return 0
	kill "$DOCKERD_PID" 2>/dev/null
	local i
	for i in $(seq 1 120); do
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.25
	done
	kill -0 "$DOCKERD_PID" 2>/dev/null && kill -KILL "$DOCKERD_PID" 2>/dev/null
	wait "$DOCKERD_PID" 2>/dev/null
	DOCKERD_PID=
	HAVE_DOCKER=0
}

bench_umount_below() {
	local m
	for m in $(awk -v d="$1" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r); do
		umount -l "$m" 2>/dev/null
	done
}

bench_cleanup() {
	bench_dockerd_stop
	[ -n "${BENCH_DIR:-}" ] && [ -d "$BENCH_DIR" ] || return 0
	bench_umount_below "$BENCH_DIR"
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		bench_log "bench: kept $BENCH_DIR"
	else
		rm -rf --one-file-system "$BENCH_DIR"
	fi
}

# bench_script NAME BODY: an executable $BENCH_DIR/bin/NAME running BODY with bash, for
# hyperfine's --prepare (which must not fail) and for anything needing a pipe.
bench_script() {
	printf '#!/usr/bin/env bash\n%s\n' "$2" >"$BENCH_DIR/bin/$1"
	chmod +x "$BENCH_DIR/bin/$1"
	echo "$BENCH_DIR/bin/$1"
}

# bench_busybox_rootfs DIR: the busybox-static rootfs of the CLI tests.
bench_busybox_rootfs() {
	# shellcheck source=../tests/cli/helpers.bash
	BATS_TEST_DIRNAME=$BENCH_SRC/tests/cli source "$BENCH_SRC/tests/cli/helpers.bash"
	make_busybox_rootfs "$1"
}

bench_fmt_time() { # seconds (float) -> "1.23 ms" / "4.56 s"
	awk -v t="$1" 'BEGIN {
		if (t < 0.001) printf "%.1f us", t * 1e6;
		else if (t < 1) printf "%.1f ms", t * 1e3;
		else printf "%.2f s", t }'
}

# bench_compare VERB NOTE [--prepare-each P_BERTH P_DOCKER P_PODMAN] [HYPERFINE ARGS...] --
#               BERTH_CMD DOCKER_CMD PODMAN_CMD
# Runs the commands side by side (docker's and podman's only when that engine is here),
# prints a table of mean, deviation, min and max, and a line with the ratios:
#   berth images: 1.2 ms, docker images: 45.0 ms, podman images: 120.0 ms -> berth 37.5x faster than docker, 100.0x faster than podman
bench_compare() {
	local verb=$1 note=$2
	shift 2
	local prep=() hf=()
	if [ "${1:-}" = --prepare-each ]; then
		prep=("$2" "$3" "$4")
		shift 4
	fi
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		hf+=("$1")
		shift
	done
	shift
	local cmds=("$1" "$2" "$3") names=(berth docker podman) have=(1 "$HAVE_DOCKER" "$HAVE_PODMAN")
	local args=() i
	for i in 0 1 2; do
		[ "${have[$i]}" = 1 ] || continue
		[ ${#prep[@]} -eq 0 ] || args+=(--prepare "${prep[$i]}")
		args+=(--command-name "${names[$i]}" "${cmds[$i]}")
	done
	local json
	json=$BENCH_DIR/out/$(tr -c 'A-Za-z0-9\n' _ <<<"$verb").json
	echo "== $verb: $note"
	if ! hyperfine -N --style basic "${hf[@]}" --export-json "$json" "${args[@]}" \
		>"$json.log" 2>&1; then
		cat "$json.log" >&2
		bench_die "hyperfine failed for '$verb'"
	fi
	printf '%-8s %-40s %10s %10s %10s %10s %5s\n' engine command mean "± σ" min max runs
	jq -r '.results[] | [.command, .mean, .stddev, .min, .max, (.times | length)] | @tsv' "$json" |
		while IFS=$'\t' read -r name mean sd min max runs; do
			local c
			for i in 0 1 2; do
				[ "${names[$i]}" = "$name" ] && c=${cmds[$i]}
			done
			# The private paths say nothing: show the command as one would type it.
			c=${c//"$BERTH"/berth}
			c=${c//"$BENCH_DIR"/\$D}
			c=$(sed -E 's/ --(root|runroot|tmpdir|storage-driver|cgroup-manager|events-backend) [^ ]+//g' <<<"$c")
			printf '%-8s %-40.40s %10s %10s %10s %10s %5s\n' "$name" "$c" "$(bench_fmt_time "$mean")" \
				"$(bench_fmt_time "${sd:-0}")" "$(bench_fmt_time "$min")" "$(bench_fmt_time "$max")" "$runs"
		done
	local line
	line=$(jq -r --arg t "$verb" '
		def d1: (. * 10 | round / 10) as $v
			| ($v | tostring) + (if ($v | floor) == $v then ".0" else "" end);
		def fmt: if . < 0.001 then "\(. * 1e6 | d1) us"
			elif . < 1 then "\(. * 1e3 | d1) ms"
			else (. * 100 | round) as $c | "\($c / 100 | floor).\($c % 100 + 100 | tostring | .[1:]) s" end;
		def x: d1 + "x";
		(.results | map({key: .command, value: .mean}) | from_entries) as $m
		| [.results[] | "\(.command) \($t): \(.mean | fmt)"] | join(", ")
		+ " -> " + ([$m | to_entries[] | select(.key != "berth")
			| if .value >= $m.berth then "\(.value / $m.berth | x) faster than \(.key)"
			  else "\($m.berth / .value | x) slower than \(.key)" end] | join(", ")
			| if . == "" then "no engine to compare with" else "berth " + . end)' "$json")
	echo "$line"
	echo
	[ -z "${BENCH_RESULTS:-}" ] || echo "$line" >>"$BENCH_RESULTS"
}
