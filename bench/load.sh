#!/usr/bin/env bash
# `berth load` vs `docker load` vs `podman load` of one ~200 MB image archive: one layer of
# random (incompressible) data, imported and saved by berth in docker's format. Before each
# run the image is removed from that engine, so every run stores the layers anew: reading the
# archive, checking digests, unpacking, writing the image record.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

MB=${BENCH_LOAD_MB:-200}
RUNS=${BENCH_RUNS:-5}
bench_init
bench_dockerd_start

bench_log "load: making a ${MB} MB image archive"
mkdir -p "$BENCH_DIR/data"
head -c "${MB}M" /dev/urandom >"$BENCH_DIR/data/random.bin"
tar -C "$BENCH_DIR/data" --numeric-owner -cf "$BENCH_DIR/data.tar" random.bin
rm -rf "$BENCH_DIR/data"
"$BERTH" import "$BENCH_DIR/data.tar" bench/big:1 >/dev/null
"$BERTH" save -o "$BENCH_DIR/big.tar" bench/big:1
"$BERTH" rmi bench/big:1 >/dev/null
rm -f "$BENCH_DIR/data.tar"
bench_log "load: $(du -h "$BENCH_DIR/big.tar" | cut -f1) archive"

# A first load in each engine checks that it accepts the archive at all.
"$BERTH" load -i "$BENCH_DIR/big.tar" >/dev/null
[ "$HAVE_DOCKER" = 1 ] && docker load -q -i "$BENCH_DIR/big.tar" >/dev/null
[ "$HAVE_PODMAN" = 1 ] && $PODMAN load -q -i "$BENCH_DIR/big.tar" >/dev/null

p_berth=$(bench_script rm-berth "\"$BERTH\" rmi -f bench/big:1 >/dev/null 2>&1; exit 0")
p_docker=$(bench_script rm-docker "docker rmi -f bench/big:1 >/dev/null 2>&1; exit 0")
p_podman=$(bench_script rm-podman "$PODMAN rmi -f bench/big:1 >/dev/null 2>&1; exit 0")

bench_compare load "one image archive of $(du -h "$BENCH_DIR/big.tar" | cut -f1), image removed before each run" \
	--prepare-each "$p_berth" "$p_docker" "$p_podman" --runs "$RUNS" -- \
	"$BERTH load -q -i $BENCH_DIR/big.tar" "docker load -q -i $BENCH_DIR/big.tar" \
	"$PODMAN load -q -i $BENCH_DIR/big.tar"
