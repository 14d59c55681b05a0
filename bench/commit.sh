#!/usr/bin/env bash
# `berth commit` vs `docker commit` vs `podman commit` of a running container made from a
# ~300 MB image (busybox plus 300 files of 1 MB random data): once after a 1-byte change,
# once after a 100 MB change (one file of random data). Every engine pauses the container
# during its commit (the default of all three). What is measured is the whole command: the
# diff of the container's layer, compressing it, storing layer, config, manifest and name.
# Each run commits the same change again under the same name; a third comparison makes a new
# 1-byte change before each run.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

IMAGE_MB=${BENCH_COMMIT_IMAGE_MB:-300}
CHANGE_MB=${BENCH_COMMIT_CHANGE_MB:-100}
RUNS=${BENCH_RUNS:-5}
bench_init
bench_dockerd_start

bench_log "commit: making a ${IMAGE_MB} MB image"
root=$BENCH_DIR/rootfs
bench_busybox_rootfs "$root"
mkdir -p "$root/data"
for i in $(seq 1 "$IMAGE_MB"); do
	head -c 1M /dev/urandom >"$root/data/f$i"
done
tar -C "$root" --numeric-owner -cf "$BENCH_DIR/image.tar" .
rm -rf "$root"

# One container per engine and per case, each running a shell that sleeps.
"$BERTH" import "$BENCH_DIR/image.tar" bench/base:1 >/dev/null
[ "$HAVE_DOCKER" = 1 ] && docker import "$BENCH_DIR/image.tar" bench/base:1 >/dev/null
if [ "$HAVE_PODMAN" = 1 ] && ! $PODMAN import "$BENCH_DIR/image.tar" bench/base:1 >/dev/null; then
	HAVE_PODMAN=0
fi
rm -f "$BENCH_DIR/image.tar"

start() { # ENGINE NAME
	case $1 in
	berth) "$BERTH" run -d --network none --name "$2" bench/base:1 sleep 1000000 >/dev/null ;;
	docker) docker run -d --network none --name "$2" bench/base:1 sleep 1000000 >/dev/null ;;
	podman) $PODMAN run -d --network none --name "$2" localhost/bench/base:1 sleep 1000000 >/dev/null ;;
	esac
}
in_ctr() { # ENGINE NAME CMD
	case $1 in
	berth) "$BERTH" exec "$2" sh -c "$3" ;;
	docker) docker exec "$2" sh -c "$3" ;;
	podman) $PODMAN exec "$2" sh -c "$3" ;;
	esac
}
# podman reads the docker client's config (for credentials) and wants it to exist.
[ -f "$DOCKER_CONFIG/config.json" ] || echo '{}' >"$DOCKER_CONFIG/config.json"
engines=(berth)
[ "$HAVE_DOCKER" = 1 ] && engines+=(docker)
if [ "$HAVE_PODMAN" = 1 ] && ! start podman probe 2>"$BENCH_DIR/podman-run.log"; then
	bench_log "bench: podman can not run containers here: $(tail -n1 "$BENCH_DIR/podman-run.log")"
	HAVE_PODMAN=0
fi
[ "$HAVE_PODMAN" = 1 ] && engines+=(podman)
for e in "${engines[@]}"; do
	start "$e" small
	start "$e" large
	in_ctr "$e" small 'printf x >/one-byte'
	in_ctr "$e" large "dd if=/dev/urandom of=/changed bs=1M count=$CHANGE_MB 2>/dev/null"
done

bench_compare "commit (1 byte)" "running container of a ${IMAGE_MB} MB image, one 1-byte file changed" \
	--runs "$RUNS" -- \
	"$BERTH commit small bench/small:1" "docker commit small bench/small:1" \
	"$PODMAN commit -q small bench/small:1"

# The same, with a new 1-byte change before each run (not timed): the runs above commit the
# same change again, whose layer the store then already has.
p_berth=$(bench_script prep-berth "\"$BERTH\" exec small sh -c 'head -c1 /dev/urandom >/one-byte'")
p_docker=$(bench_script prep-docker "docker exec small sh -c 'head -c1 /dev/urandom >/one-byte'")
p_podman=$(bench_script prep-podman "$PODMAN exec small sh -c 'head -c1 /dev/urandom >/one-byte'")
bench_compare "commit (new 1-byte change)" "as above, the 1-byte file rewritten before each run" \
	--prepare-each "$p_berth" "$p_docker" "$p_podman" --runs "$RUNS" -- \
	"$BERTH commit small bench/small:1" "docker commit small bench/small:1" \
	"$PODMAN commit -q small bench/small:1"

bench_compare "commit (${CHANGE_MB} MB)" "running container of a ${IMAGE_MB} MB image, one ${CHANGE_MB} MB file of random data" \
	--runs "$RUNS" -- \
	"$BERTH commit large bench/large:1" "docker commit large bench/large:1" \
	"$PODMAN commit -q large bench/large:1"

# The containers go with their engines' stores; stop them first so nothing holds a mount.
"$BERTH" rm -f small large >/dev/null 2>&1 || true
[ "$HAVE_DOCKER" = 1 ] && docker rm -f small large >/dev/null 2>&1
[ "$HAVE_PODMAN" = 1 ] && $PODMAN rm -f -t 0 small large probe >/dev/null 2>&1
exit 0
