#!/usr/bin/env bash
# `berth images` vs `docker images` vs `podman images`, each engine holding the same ten
# images: ten busybox images that differ by one file, imported by berth, saved to one archive
# and loaded into docker and podman from it. Listing is what `images` does, so the time is the
# whole command: process start, store read, table output (and for docker, the daemon's reply).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

N=${BENCH_IMAGES:-10}
bench_init
bench_dockerd_start

bench_log "images: making $N images"
bench_busybox_rootfs "$BENCH_DIR/rootfs"
refs=()
for i in $(seq 1 "$N"); do
	head -c 4096 /dev/urandom >"$BENCH_DIR/rootfs/etc/bench-id"
	tar -C "$BENCH_DIR/rootfs" --numeric-owner -cf "$BENCH_DIR/img.tar" .
	"$BERTH" import -c 'CMD ["/bin/sh"]' "$BENCH_DIR/img.tar" "bench/img$i:latest" >/dev/null
	refs+=("bench/img$i:latest")
done
rm -f "$BENCH_DIR/img.tar"
"$BERTH" save -o "$BENCH_DIR/all.tar" "${refs[@]}"
[ "$HAVE_DOCKER" = 1 ] && docker load -q -i "$BENCH_DIR/all.tar" >/dev/null
[ "$HAVE_PODMAN" = 1 ] && $PODMAN load -q -i "$BENCH_DIR/all.tar" >/dev/null
rm -f "$BENCH_DIR/all.tar"

# The same ten names in each engine, or the comparison means nothing.
want=$(printf '%s\n' "${refs[@]}" | sort)
got=$("$BERTH" images --format '{{.Repository}}:{{.Tag}}' | sort)
[ "$got" = "$want" ] || bench_die "berth lists: $got"
if [ "$HAVE_DOCKER" = 1 ]; then
	got=$(docker images --format '{{.Repository}}:{{.Tag}}' | sort)
	[ "$got" = "$want" ] || bench_die "docker lists: $got"
fi
if [ "$HAVE_PODMAN" = 1 ]; then
	got=$($PODMAN images --format '{{.Repository}}:{{.Tag}}' | sed 's|^localhost/||' | sort)
	[ "$got" = "$want" ] || bench_die "podman lists: $got"
fi

bench_compare images "$N images in each engine" --warmup 3 --min-runs 20 -- \
	"$BERTH images" "docker images" "$PODMAN images"
