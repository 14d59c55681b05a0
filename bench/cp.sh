#!/usr/bin/env bash
# `berth cp` vs `docker cp` (and `podman cp` where podman can run containers) of a 200 MB
# directory (200 files of 1 MB random data, in 10 subdirectories) from the host into a
# running container. Before each run the copy of the last run is removed in the container,
# so every run creates the whole tree: reading it on the host, resolving the destination in
# the container, extracting with owners, modes and times.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

MB=${BENCH_CP_MB:-200}
RUNS=${BENCH_RUNS:-5}
bench_init
bench_dockerd_start

bench_log "cp: making a ${MB} MB directory"
src=$BENCH_DIR/src
for i in $(seq 1 "$MB"); do
	mkdir -p "$src/d$((i % 10))"
	head -c 1M /dev/urandom >"$src/d$((i % 10))/f$i"
done

root=$BENCH_DIR/rootfs
bench_busybox_rootfs "$root"
tar -C "$root" --numeric-owner -cf "$BENCH_DIR/image.tar" .
rm -rf "$root"
"$BERTH" import "$BENCH_DIR/image.tar" bench/base:1 >/dev/null
"$BERTH" run -d --network none --name target bench/base:1 sleep 1000000 >/dev/null
if [ "$HAVE_DOCKER" = 1 ]; then
	docker import "$BENCH_DIR/image.tar" bench/base:1 >/dev/null
	docker run -d --network none --name target bench/base:1 sleep 1000000 >/dev/null
fi
if [ "$HAVE_PODMAN" = 1 ]; then
	# podman reads the docker client's config (for credentials) and wants it to exist.
	[ -f "$DOCKER_CONFIG/config.json" ] || echo '{}' >"$DOCKER_CONFIG/config.json"
	if ! $PODMAN import "$BENCH_DIR/image.tar" bench/base:1 >/dev/null 2>&1 ||
		! $PODMAN run -d --network none --name target localhost/bench/base:1 sleep 1000000 \
			>/dev/null 2>"$BENCH_DIR/podman-run.log"; then
		bench_log "bench: podman can not run containers here: $(tail -n1 "$BENCH_DIR/podman-run.log")"
		HAVE_PODMAN=0
	fi
fi
rm -f "$BENCH_DIR/image.tar"

p_berth=$(bench_script rm-berth "\"$BERTH\" exec target rm -rf /dst; exit 0")
p_docker=$(bench_script rm-docker "docker exec target rm -rf /dst; exit 0")
p_podman=$(bench_script rm-podman "$PODMAN exec target rm -rf /dst; exit 0")

bench_compare cp "a ${MB} MB directory (${MB} files) into a running container" \
	--prepare-each "$p_berth" "$p_docker" "$p_podman" --runs "$RUNS" -- \
	"$BERTH cp $src target:/dst" "docker cp -q $src target:/dst" "$PODMAN cp $src target:/dst"

# Every engine made the same tree.
"$BERTH" exec target sh -c 'find /dst -type f | wc -l' | grep -qx "$MB" || bench_die "berth cp: incomplete copy"
[ "$HAVE_DOCKER" = 1 ] && { docker exec target sh -c 'find /dst -type f | wc -l' | grep -qx "$MB" ||
	bench_die "docker cp: incomplete copy"; }

"$BERTH" rm -f target >/dev/null 2>&1 || true
[ "$HAVE_DOCKER" = 1 ] && docker rm -f target >/dev/null 2>&1
[ "$HAVE_PODMAN" = 1 ] && $PODMAN rm -f -t 0 target >/dev/null 2>&1
exit 0
