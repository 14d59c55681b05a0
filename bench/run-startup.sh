#!/usr/bin/env bash
# Container start-up, side by side: `berth run --rm --network none IMG true` against
# `runc run` and `crun run` on a prepared bundle (the runtimes alone, no image handling),
# `podman run --rm --network none` and `docker run --rm --network none` (a private dockerd,
# bench/lib.sh). Then the resident memory of one container's monitor: berth-monitor against
# podman's conmon (and docker's containerd-shim when docker runs).
#
# Every engine runs the same busybox-static rootfs (tests/cli/helpers.bash), imported into
# each. Engines missing here, or unable to run on this host (crun refuses hybrid cgroups),
# are left out with a note. Environment: BERTH, BENCH_RUNS (default 30), BENCH_KEEP.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

bench_init
bench_dockerd_start
# podman reads registry credentials from $DOCKER_CONFIG (lib.sh's private one) and stops
# when the file is missing.
[ -f "$DOCKER_CONFIG/config.json" ] || echo '{}' >"$DOCKER_CONFIG/config.json"
RUNS=${BENCH_RUNS:-30}
D=$BENCH_DIR

rootfs=$D/rootfs
bench_busybox_rootfs "$rootfs"
tar -C "$rootfs" --numeric-owner -cf "$D/busybox.tar" .
"$BERTH" import "$D/busybox.tar" bench-busybox >/dev/null || bench_die "berth import failed"
if [ "$HAVE_DOCKER" = 1 ]; then
	docker import "$D/busybox.tar" bench-busybox >/dev/null || HAVE_DOCKER=0
fi
if [ "$HAVE_PODMAN" = 1 ]; then
	$PODMAN import "$D/busybox.tar" bench-busybox >/dev/null 2>&1 || HAVE_PODMAN=0
fi

# An OCI bundle for runc and crun: their default spec (all namespaces but user, a network
# namespace with nothing in it: --network none), running `true`.
bundle=$D/bundle
mkdir -p "$bundle"
cp -a "$rootfs" "$bundle/rootfs"
HAVE_RUNC=0
HAVE_CRUN=0
if command -v runc >/dev/null; then
	(cd "$bundle" && runc spec) &&
		jq '.process.args = ["true"] | .process.terminal = false' "$bundle/config.json" \
			>"$bundle/config.new" && mv "$bundle/config.new" "$bundle/config.json" &&
		runc --root "$D/runc-state" run --bundle "$bundle" bench-check >/dev/null 2>"$D/runc.log" &&
		HAVE_RUNC=1
	[ "$HAVE_RUNC" = 1 ] || bench_log "bench: runc unusable here: $(tail -n1 "$D/runc.log")"
fi
if command -v crun >/dev/null && [ -f "$bundle/config.json" ]; then
	crun --root "$D/crun-state" run --bundle "$bundle" bench-check >/dev/null 2>"$D/crun.log" &&
		HAVE_CRUN=1
	[ "$HAVE_CRUN" = 1 ] || bench_log "bench: crun unusable here: $(tail -n1 "$D/crun.log")"
fi

names=(berth)
cmds=("$BERTH run --rm --network none bench-busybox true")
if [ "$HAVE_RUNC" = 1 ]; then
	names+=(runc)
	cmds+=("runc --root $D/runc-state run --bundle $bundle bench-runc")
fi
if [ "$HAVE_CRUN" = 1 ]; then
	names+=(crun)
	cmds+=("crun --root $D/crun-state run --bundle $bundle bench-crun")
fi
# podman's default rlimits (nofile 1048576, nproc) are above this host's hard limits, which
# its runtimes refuse instead of clamping (berth clamps): give it limits it can set, and
# runc, since crun refuses hybrid cgroups.
PODMAN_RUN="$PODMAN --runtime runc run --ulimit nofile=1024:1024 --ulimit nproc=1024:1024"
if [ "$HAVE_PODMAN" = 1 ]; then
	names+=(podman)
	cmds+=("$PODMAN_RUN --rm --network none bench-busybox true")
fi
if [ "$HAVE_DOCKER" = 1 ]; then
	names+=(docker)
	cmds+=("docker run --rm --network none bench-busybox true")
fi

args=()
for i in "${!names[@]}"; do
	args+=(--command-name "${names[$i]}" "${cmds[$i]}")
done
json=$D/out/startup.json
echo "== run --rm true: start-up to exit, $RUNS runs each (3 warm-up)"
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$json" "${args[@]}" \
	>"$json.log" 2>&1 || {
	cat "$json.log" >&2
	bench_die "hyperfine failed"
}
# The median beside the mean: on a shared machine a few runs that wait for a CPU pull the
# mean up; the ratio line is given for both.
printf '%-8s %10s %10s %10s %10s %10s\n' engine mean "± σ" median min max
jq -r '.results[] | [.command, .mean, .stddev, .median, .min, .max] | @tsv' "$json" |
	while IFS=$'\t' read -r name mean sd med min max; do
		printf '%-8s %10s %10s %10s %10s %10s\n' "$name" "$(bench_fmt_time "$mean")" \
			"$(bench_fmt_time "${sd:-0}")" "$(bench_fmt_time "$med")" \
			"$(bench_fmt_time "$min")" "$(bench_fmt_time "$max")"
	done
ratios=$(jq -r '
	(.results[] | select(.command == "berth")) as $b
	| [.results[] | select(.command != "berth")
	   | "\(.command) \((.mean / $b.mean * 100 | round) / 100)x"
	     + " (median \((.median / $b.median * 100 | round) / 100)x)"] | join(", ")
	| "berth run --rm: " + . + " (time of each relative to berth, means and medians)"' "$json")
echo "$ratios"
[ -z "${BENCH_RESULTS:-}" ] || echo "$ratios" >>"$BENCH_RESULTS"
echo

# Resident memory of what stays beside one running container.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
echo "== memory beside one running container (VmRSS)"
id=$("$BERTH" run -d --network none bench-busybox sleep 100)
pid=$("$BERTH" inspect -f '{{.State.Pid}}' "$id")
mon=$(awk '{print $4}' "/proc/$pid/stat")
printf '%-22s %8s kB\n' berth-monitor "$(rss_kb "$mon")"
"$BERTH" rm -f "$id" >/dev/null
if [ "$HAVE_PODMAN" = 1 ]; then
	pid=$($PODMAN_RUN -d --network none bench-busybox sleep 100 2>/dev/null)
	conmon=$($PODMAN inspect -f '{{.State.ConmonPid}}' "$pid" 2>/dev/null)
	[ -n "$conmon" ] && [ "$conmon" != 0 ] && printf '%-22s %8s kB\n' "conmon (podman)" "$(rss_kb "$conmon")"
	$PODMAN --runtime runc rm -f -t 0 "$pid" >/dev/null 2>&1
fi
if [ "$HAVE_DOCKER" = 1 ]; then
	cid=$(docker run -d --network none bench-busybox sleep 100)
	cpid=$(docker inspect -f '{{.State.Pid}}' "$cid")
	shim=$(awk '{print $4}' "/proc/$cpid/stat")
	printf '%-22s %8s kB\n' "containerd-shim (docker)" "$(rss_kb "$shim")"
	docker rm -f "$cid" >/dev/null
fi
