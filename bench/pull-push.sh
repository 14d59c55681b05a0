#!/usr/bin/env bash
# berth pull / push against skopeo (and docker and podman when they run here), all talking to
# one local docker-registry (CNCF distribution 2.8) on 127.0.0.1 over plain HTTP:
#   - "big":   one layer of BENCH_BIG_MB (default 200) MB of random bytes (gzip cannot shrink
#              it: the time is transfer, hashing and unpacking);
#   - "small": BENCH_SMALL_LAYERS (default 20) layers of 64 kB each (the time is round trips
#              and per-layer work).
# push: every run starts from an empty registry (its storage is wiped in --prepare) and from
# an image whose layers are plain tars, so every tool compresses and uploads everything:
# berth's image is loaded again before each run, skopeo reads a docker-archive, docker and
# podman keep their uncompressed layers anyway.
# pull: every run starts without the image (berth rmi, docker/podman rmi); skopeo copies into
# an OCI layout (download and verify, no unpacking: it has no image store), the others
# download, verify and unpack.
# Each round runs every tool once, one after the other (berth, skopeo, docker, podman, then
# again), so that the machine's noise hits them alike. Ratios (of the mean wall times) are
# printed as "berth Nx faster/slower than X", one line per benchmark.
#
# Environment: BERTH (default ./build/berth), BENCH_ROUNDS (rounds, default 3),
# BENCH_BIG_MB, BENCH_SMALL_LAYERS, BENCH_KEEP=1 keeps the temp dir, BENCH_RESULTS (a file
# bench/run.sh collects the ratio lines in).
set -uo pipefail

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-3}
BIG_MB=${BENCH_BIG_MB:-200}
SMALL_LAYERS=${BENCH_SMALL_LAYERS:-20}

for t in docker-registry skopeo jq curl python3; do
	command -v "$t" >/dev/null || bench_die "$t not installed (scripts/deps.sh)"
done
bench_init
bench_dockerd_start
D=$BENCH_DIR
# podman's push and pull read $DOCKER_CONFIG/config.json and fail when it is missing.
[ -f "$DOCKER_CONFIG/config.json" ] || echo '{}' >"$DOCKER_CONFIG/config.json"

# ---- the registry ----
REG_PID=
stop_registry() {
	[ -n "$REG_PID" ] || return 0
	kill -TERM "$REG_PID" 2>/dev/null
	wait "$REG_PID" 2>/dev/null
	REG_PID=
}
trap 'stop_registry; bench_cleanup' EXIT
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HOST=127.0.0.1:$PORT
mkdir -p "$D/registry"
cat >"$D/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $D/registry}, delete: {enabled: true}}
http: {addr: "$HOST"}
EOF
docker-registry serve "$D/registry.yml" >"$D/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 1 100); do
	curl -sf -o /dev/null "http://$HOST/v2/" && break
	sleep 0.1
done
curl -sf -o /dev/null "http://$HOST/v2/" || bench_die "docker-registry did not start: $(cat "$D/registry.log")"
bench_log "bench: docker-registry on $HOST"

# ---- the images, as docker-save archives (what every tool can read) ----
# make_archive OUT REF SIZE...: one layer per SIZE bytes of random data.
make_archive() {
	local out=$1 ref=$2
	shift 2
	local w=$D/build.$$ i=0 s layers=() diffs=()
	rm -rf "$w"
	mkdir -p "$w"
	for s in "$@"; do
		mkdir -p "$w/l$i/root"
		head -c "$s" /dev/urandom >"$w/l$i/root/data$i"
		tar -C "$w/l$i/root" --numeric-owner -cf "$w/l$i/layer.tar" .
		rm -rf "$w/l$i/root"
		layers+=("l$i/layer.tar")
		diffs+=("sha256:$(sha256sum "$w/l$i/layer.tar" | cut -d' ' -f1)")
		i=$((i + 1))
	done
	jq -n -c '{architecture: "amd64", os: "linux", config: {Cmd: ["/data0"]},
		rootfs: {type: "layers", diff_ids: $ARGS.positional}}' --args "${diffs[@]}" >"$w/config.json"
	local cid
	cid=$(sha256sum "$w/config.json" | cut -d' ' -f1)
	mv "$w/config.json" "$w/$cid.json"
	jq -n -c --arg c "$cid.json" --arg r "$ref" '[{Config: $c, RepoTags: [$r], Layers: $ARGS.positional}]' \
		--args "${layers[@]}" >"$w/manifest.json"
	tar -C "$w" -cf "$out" .
	rm -rf "$w"
}
bench_log "bench: making a ${BIG_MB} MB one-layer image and a ${SMALL_LAYERS}-layer one"
make_archive "$D/big.tar" "$HOST/bench/big:1" $((BIG_MB * 1000 * 1000))
sizes=()
for _ in $(seq 1 "$SMALL_LAYERS"); do sizes+=(64000); done
make_archive "$D/small.tar" "$HOST/bench/small:1" "${sizes[@]}"

for img in big small; do
	"$BERTH" load -q -i "$D/$img.tar" >/dev/null || bench_die "berth load failed"
	[ "$HAVE_DOCKER" = 1 ] && { docker load -q -i "$D/$img.tar" >/dev/null || HAVE_DOCKER=0; }
	[ "$HAVE_PODMAN" = 1 ] && { $PODMAN load -q -i "$D/$img.tar" >/dev/null 2>&1 || HAVE_PODMAN=0; }
done

# ---- a side-by-side comparison of up to four tools ----
# compare NAME NOTE then, per tool, TOOL PREPARE COMMAND (triples; a tool that is not here
# is left out by the caller). Each round runs every tool once, in the order given (the
# PREPARE script and a sync first, untimed), so that a busy moment of the machine hits all
# of them alike instead of the runs of one tool. COMMAND is split on blanks and run without
# a shell.
# Wall time from bash's EPOCHREALTIME around it; CPU time (user + system) of the command
# and its children from bash's `times` (docker's work is done by dockerd: the client only).
compare() {
	local verb=$1 note=$2
	shift 2
	local names=() preps=() cmds=() i round
	while [ $# -gt 0 ]; do
		names+=("$1")
		preps+=("$2")
		cmds+=("$3")
		shift 3
	done
	local base=$D/out/${verb// /_}
	for i in "${!names[@]}"; do : >"$base.${names[$i]}.runs"; done
	echo "== $verb: $note"
	for round in $(seq 1 "$ROUNDS"); do
		for i in "${!names[@]}"; do
			"${preps[$i]}" >>"$base.log" 2>&1
			# What the preparation deleted or wrote reaches the disk before the clock
			# starts, not during the next tool's run.
			sync
			time_run "$base.${names[$i]}.runs" "${cmds[$i]}" "$base.log" ||
				bench_die "'$verb' failed for ${names[$i]} in round $round: $(tail -n 3 "$base.log")"
		done
	done
	# The runs as hyperfine would export them: mean, stddev, min, max per command.
	local json=$base.json
	for i in "${!names[@]}"; do
		jq -R -s --arg c "${names[$i]}" '
			[split("\n")[] | select(length > 0) | split(" ") | map(tonumber)] as $r
			| ($r | map(.[0])) as $t | ($t | add / length) as $m
			| {command: $c, mean: $m, min: ($t | min), max: ($t | max),
			   stddev: (if ($t | length) > 1
				then ($t | map((. - $m) * (. - $m)) | add / (length - 1) | sqrt) else null end),
			   cpu: ($r | map(.[1]) | add / length), times: $t}' "$base.${names[$i]}.runs"
	done | jq -s '{results: .}' >"$json"
	printf '%-8s %10s %10s %10s %10s\n' tool mean "± σ" min max
	jq -r '.results[] | [.command, .mean, .stddev, .min, .max] | @tsv' "$json" |
		while IFS=$'\t' read -r name mean sd min max; do
			printf '%-8s %10s %10s %10s %10s\n' "$name" "$(bench_fmt_time "$mean")" \
				"$(bench_fmt_time "${sd:-0}")" "$(bench_fmt_time "$min")" "$(bench_fmt_time "$max")"
		done
	echo "cpu (user + system, mean): $(jq -r '[.results[] | "\(.command) \(.cpu * 100 | round / 100) s"] | join(", ")' "$json")"
	local line
	line=$(jq -r --arg t "$verb" '
		def r1: (. * 10 | round / 10 | tostring) + "x";
		(.results | map({key: .command, value: .mean}) | from_entries) as $m
		| [.results[] | "\(.command) \($t): \(.mean * 100 | round / 100) s"] | join(", ")
		+ " -> berth " + ([$m | to_entries[] | select(.key != "berth")
			| if .value >= $m.berth then "\(.value / $m.berth | r1) faster than \(.key)"
			  else "\($m.berth / .value | r1) slower than \(.key)" end] | join(", "))' "$json")
	echo "$line"
	echo
	[ -z "${BENCH_RESULTS:-}" ] || echo "$line" >>"$BENCH_RESULTS"
}

# time_run OUT COMMAND LOG: run COMMAND (output to LOG), append "wall cpu" in seconds to OUT.
time_run() {
	local out=$1 argv t0 t1 c0 c1
	read -ra argv <<<"$2"
	times >"$D/out/times.0"
	t0=$EPOCHREALTIME
	"${argv[@]}" >>"$3" 2>&1 || return 1
	t1=$EPOCHREALTIME
	times >"$D/out/times.1"
	c0=$(children_cpu "$D/out/times.0")
	c1=$(children_cpu "$D/out/times.1")
	awk -v a="$t0" -v b="$t1" -v c="$c0" -v d="$c1" 'BEGIN {printf "%.6f %.6f\n", b - a, d - c}' >>"$out"
}

# The user + system time of the shell's finished children, from the second line of `times`
# ("0m1.234s 0m0.567s").
children_cpu() {
	sed -n 2p "$1" | awk '{
		t = 0
		for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] }
		printf "%.6f", t }'
}

WIPE="rm -rf '$D/registry/docker'"
SK="skopeo --insecure-policy"
for img in big small; do
	ref=$HOST/bench/$img:1
	tools=(berth "$(bench_script "prep-berth-push-$img" "$WIPE; '$BERTH' rmi -f '$ref' >/dev/null 2>&1; '$BERTH' load -q -i '$D/$img.tar' >/dev/null")"
		"$BERTH push -q $ref")
	tools+=(skopeo "$(bench_script "prep-skopeo-push-$img" "$WIPE")"
		"$SK copy -q --dest-tls-verify=false docker-archive:$D/$img.tar docker://$ref")
	[ "$HAVE_DOCKER" = 1 ] && tools+=(docker "$(bench_script "prep-docker-push-$img" "$WIPE")" "docker push -q $ref")
	[ "$HAVE_PODMAN" = 1 ] && tools+=(podman "$(bench_script "prep-podman-push-$img" "$WIPE")"
		"$PODMAN push -q --tls-verify=false $ref")
	compare "push $img" "$([ $img = big ] && echo "one ${BIG_MB} MB layer" || echo "$SMALL_LAYERS layers of 64 kB"), empty registry each run" "${tools[@]}"
done

for img in big small; do
	ref=$HOST/bench/$img:1
	# One copy in the registry for every pull.
	"$BERTH" push -q "$ref" >/dev/null || bench_die "berth push $ref failed"
	tools=(berth "$(bench_script "prep-berth-pull-$img" "'$BERTH' rmi -f '$ref' >/dev/null 2>&1; true")"
		"$BERTH pull -q $ref")
	tools+=(skopeo "$(bench_script "prep-skopeo-pull-$img" "rm -rf '$D/skopeo-out'")"
		"$SK copy -q --src-tls-verify=false docker://$ref oci:$D/skopeo-out:x")
	[ "$HAVE_DOCKER" = 1 ] && tools+=(docker "$(bench_script "prep-docker-pull-$img" "docker rmi -f '$ref' >/dev/null 2>&1; true")"
		"docker pull -q $ref")
	[ "$HAVE_PODMAN" = 1 ] && tools+=(podman "$(bench_script "prep-podman-pull-$img" "$PODMAN rmi -f '$ref' >/dev/null 2>&1; true")"
		"$PODMAN pull -q --tls-verify=false $ref")
	compare "pull $img" "$([ $img = big ] && echo "one ${BIG_MB} MB layer" || echo "$SMALL_LAYERS layers of 64 kB"), not in the local store (skopeo: into an OCI layout, no unpacking)" "${tools[@]}"
done
