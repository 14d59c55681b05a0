#!/usr/bin/env bash
# `berth registry serve` vs Debian's docker-registry (CNCF distribution 2.8, what registry:2
# runs), on the same machine, each with its own root under one temp dir:
#   - wrk on GET /v2/ and on GET of a manifest by tag (requests per second);
#   - a 200 MB blob pushed with POST + PUT (the monolithic flow that both support), then
#     pulled with curl twice: the first GET right after the push (berth writes big uploads
#     past the page cache, so it reads from the disk; distribution's is still cached), the
#     second from the page cache for both; each the best of BENCH_ROUNDS (MB/s);
#   - 8 such pushes at once (8 different blobs), then 8 pulls at once, twice: aggregate
#     MB/s, the best of BENCH_ROUNDS;
#   - the servers' CPU time per GB of single PUTs (user + system), which, unlike the
#     rates, the load of a shared machine does not change;
#   - memory (RSS): idle (right after start), during the wrk run on the manifest, the peak
#     (VmHWM, reached during the parallel transfers), and after all that; the size of each
#     binary.
# The blob rounds alternate between the servers (berth, distribution, berth, ...).
# Both servers log nothing (berth -q; distribution's access log off and level error), both
# listen on 127.0.0.1 and both get the same requests. Ratios are printed as "berth is Nx".
#
# Environment: BERTH (default ./build/berth), BENCH_SECONDS (wrk duration, default 10),
# BENCH_CONNS (wrk connections, default 32), BENCH_BLOB_MB (default 200), BENCH_ROUNDS
# (default 3), BENCH_BLOBS=0 (the wrk runs and memory only, no blobs), BENCH_KEEP=1 keeps
# the temp dir, BENCH_RESULTS (bench/run.sh: a file the ratio lines are appended to).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BERTH=${BERTH:-$SRC/build/berth}
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-32}
BLOB_MB=${BENCH_BLOB_MB:-200}
ROUNDS=${BENCH_ROUNDS:-3}
BLOBS=${BENCH_BLOBS:-1}

log() { printf '%s\n' "$*" >&2; }
die() {
	log "bench registry: $*"
	exit 1
}

for t in wrk curl jq docker-registry sha256sum; do
	command -v "$t" >/dev/null || die "$t not installed (scripts/deps.sh)"
done
[ -x "$BERTH" ] || die "$BERTH not built (run make first)"

DIR=$(mktemp -d /tmp/berth-bench-registry.XXXXXX)
BERTH_PID= DIST_PID=
cleanup() {
	local p
	for p in $BERTH_PID $DIST_PID; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $BERTH_PID $DIST_PID; do
		wait "$p" 2>/dev/null || true
	done
	[ "${BENCH_KEEP:-0}" = 1 ] && log "kept $DIR" || rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		ss -Htln "sport = :$p" | grep -q . || {
			echo "$p"
			return 0
		}
	done
	die "no free port"
}

wait_http() {
	for _ in $(seq 1 100); do
		curl -sf -o /dev/null "$1" && return 0
		sleep 0.1
	done
	die "$1 does not answer"
}

# ---- the two servers ----
BP=$(free_port)
"$BERTH" registry serve -q --addr "127.0.0.1:$BP" --root "$DIR/berth" 2>"$DIR/berth.log" &
BERTH_PID=$!
DP=$(free_port)
cat >"$DIR/distribution.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DIR/distribution
http:
  addr: 127.0.0.1:$DP
EOF
docker-registry serve "$DIR/distribution.yml" >"$DIR/distribution.log" 2>&1 &
DIST_PID=$!
B=http://127.0.0.1:$BP
D=http://127.0.0.1:$DP
wait_http "$B/v2/"
wait_http "$D/v2/"
sleep 1
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
declare -A res
res[berth.idle]=$(awk -v k="$(rss_kb "$BERTH_PID")" 'BEGIN { printf "%.1f", k / 1024 }')
res[distribution.idle]=$(awk -v k="$(rss_kb "$DIST_PID")" 'BEGIN { printf "%.1f", k / 1024 }')

# ---- content: a small image, and big blobs ----
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$DIR/config.json"
head -c 4096 /dev/urandom | gzip -n >"$DIR/layer.gz"
digest() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
CFG=$(digest "$DIR/config.json")
LAYER=$(digest "$DIR/layer.gz")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
	"$CFG" "$(stat -c %s "$DIR/config.json")" "$LAYER" "$(stat -c %s "$DIR/layer.gz")" >"$DIR/manifest.json"

# push_blob URL REPO FILE DIGEST: POST then PUT with the whole body; prints seconds.
push_blob() {
	local loc
	loc=$(curl -sf -D - -o /dev/null -X POST "$1/v2/$2/blobs/uploads/" | sed -n 's/^Location: //Ip' | tr -d '\r')
	[ -n "$loc" ] || die "no upload location from $1"
	case $loc in http*) ;; *) loc=$1$loc ;; esac
	case $loc in *\?*) loc="$loc&digest=$4" ;; *) loc="$loc?digest=$4" ;; esac
	curl -sf -o /dev/null -w '%{time_total}' -X PUT -H 'Content-Type: application/octet-stream' \
		-T "$3" "$loc" || die "push to $1 failed"
}

# parallel_secs URL FIRST push|pull: 8 transfers of big.FIRST.. at once; prints seconds.
parallel_secs() {
	local t0 t1 i pids=()
	t0=$(date +%s.%N)
	for i in $(seq "$2" $(($2 + 7))); do
		if [ "$3" = push ]; then
			push_blob "$1" bench/par "$DIR/big.$i" "${BIG[$i]}" >/dev/null &
		else
			curl -sf -o /dev/null "$1/v2/bench/par/blobs/${BIG[$i]}" &
		fi
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || die "a parallel $3 to $1 failed"
	done
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

for url in "$B" "$D"; do
	push_blob "$url" bench/app "$DIR/config.json" "$CFG" >/dev/null
	push_blob "$url" bench/app "$DIR/layer.gz" "$LAYER" >/dev/null
	curl -sf -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		--data-binary @"$DIR/manifest.json" "$url/v2/bench/app/manifests/latest" || die "manifest push to $url"
done

# Blobs 1..ROUNDS for the single transfers, then 8 per round for the parallel ones: all
# different (a server may skip the work for a blob it has).
NBIG=$((BLOBS == 1 ? ROUNDS * 9 : 0))
if [ "$NBIG" -gt 0 ]; then
	log "registry: making $NBIG blobs of $BLOB_MB MB"
	head -c $((BLOB_MB * 1024 * 1024)) /dev/urandom >"$DIR/big.base"
	for r in $(seq 1 "$NBIG"); do
		{ printf 'blob %d\n' "$r"; cat "$DIR/big.base"; } >"$DIR/big.$r"
		BIG[$r]=$(digest "$DIR/big.$r")
	done
	rm -f "$DIR/big.base"
fi

# ---- measurements ----
rps() { # URL [HEADER]
	local out
	if [ -n "${2:-}" ]; then
		out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" -H "$2" "$1")
	else
		out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" "$1")
	fi
	echo "$out" | grep -q 'Non-2xx' && die "errors from $1: $out"
	echo "$out" | awk '/^Requests\/sec/ {print $2}'
}

best_time() { # best of the given seconds
	printf '%s\n' "$@" | sort -g | head -1
}

mbps() { awk -v s="$1" -v mb="$BLOB_MB" 'BEGIN { printf "%.0f", mb / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

accept='Accept: application/vnd.oci.image.manifest.v1+json'
for who in berth distribution; do
	url=$B pid=$BERTH_PID
	[ "$who" = distribution ] && url=$D pid=$DIST_PID
	log "registry: $who: GET /v2/ ($SECS s, $CONNS connections)"
	res[$who.ping]=$(rps "$url/v2/")
	log "registry: $who: GET manifest"
	# The resident memory half way through.
	(
		sleep "$(awk -v s="$SECS" 'BEGIN { print s / 2 }')"
		rss_kb "$pid" >"$DIR/$who.loadrss"
	) &
	sampler=$!
	res[$who.manifest]=$(rps "$url/v2/bench/app/manifests/latest" "$accept")
	wait "$sampler"
	res[$who.load]=$(awk '{ printf "%.1f", $1 / 1024 }' "$DIR/$who.loadrss")
done
# The blob transfers, round by round, the two servers one after the other in each round:
# the load of a shared machine changes by the minute, and must not favour either.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
declare -A puts gets gets2 puts8 gets8 gets8b ticks
for r in $(seq 1 $((BLOBS == 1 ? ROUNDS : 0))); do
	for who in berth distribution; do
		url=$B pid=$BERTH_PID
		[ "$who" = distribution ] && url=$D pid=$DIST_PID
		log "registry: round $r: $who: PUT and GET of a $BLOB_MB MB blob, then 8 at once"
		t0=$(cpu_ticks "$pid")
		puts[$who]+="$(push_blob "$url" bench/big "$DIR/big.$r" "${BIG[$r]}") "
		ticks[$who]=$((${ticks[$who]:-0} + $(cpu_ticks "$pid") - t0))
		gets[$who]+="$(curl -sf -o /dev/null -w '%{time_total}' "$url/v2/bench/big/blobs/${BIG[$r]}") "
		gets2[$who]+="$(curl -sf -o /dev/null -w '%{time_total}' "$url/v2/bench/big/blobs/${BIG[$r]}") "
		first=$((ROUNDS + 1 + (r - 1) * 8))
		puts8[$who]+="$(parallel_secs "$url" "$first" push) "
		gets8[$who]+="$(parallel_secs "$url" "$first" pull) "
		gets8b[$who]+="$(parallel_secs "$url" "$first" pull) "
	done
done
for who in berth distribution; do
	[ "$BLOBS" = 1 ] || break
	# shellcheck disable=SC2086 # the lists are words
	{
		res[$who.put]=$(mbps "$(best_time ${puts[$who]})")
		res[$who.get]=$(mbps "$(best_time ${gets[$who]})")
		res[$who.get2]=$(mbps "$(best_time ${gets2[$who]})")
		res[$who.put8]=$(awk -v s="$(best_time ${puts8[$who]})" -v mb="$BLOB_MB" 'BEGIN { printf "%.0f", 8 * mb / s }')
		res[$who.get8]=$(awk -v s="$(best_time ${gets8[$who]})" -v mb="$BLOB_MB" 'BEGIN { printf "%.0f", 8 * mb / s }')
		res[$who.get8b]=$(awk -v s="$(best_time ${gets8b[$who]})" -v mb="$BLOB_MB" 'BEGIN { printf "%.0f", 8 * mb / s }')
	}
	# The server's CPU time per GB of single PUTs: what the load of the machine does not change.
	res[$who.putcpu]=$(awk -v t="${ticks[$who]}" -v hz="$(getconf CLK_TCK)" -v mb="$((ROUNDS * BLOB_MB))" \
		'BEGIN { printf "%.2f", t / hz / (mb / 1024) }')
done
# Check what came back is what went in, once each.
for url in "$B" "$D"; do
	[ "$BLOBS" = 1 ] || break
	got=$(curl -sf "$url/v2/bench/big/blobs/${BIG[1]}" | sha256sum | cut -d' ' -f1)
	[ "sha256:$got" = "${BIG[1]}" ] || die "$url served a different blob"
done
res[berth.rss]=$(($(rss_kb "$BERTH_PID") / 1024))
res[distribution.rss]=$(($(rss_kb "$DIST_PID") / 1024))
res[berth.hwm]=$(($(hwm_kb "$BERTH_PID") / 1024))
res[distribution.hwm]=$(($(hwm_kb "$DIST_PID") / 1024))
res[berth.size]=$(($(stat -c %s "$(readlink -f "$BERTH")") / 1024))
res[distribution.size]=$(($(stat -c %s "$(command -v docker-registry)") / 1024))

printf '\n== registry: berth registry serve vs docker-registry %s (%d CPUs, load %s)\n' \
	"$(docker-registry --version | awk '{print $3}')" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %14s %14s %8s\n' "" berth distribution ratio
row() { # LABEL KEY UNIT HIGHER_IS_BETTER
	local b=${res[berth.$2]} d=${res[distribution.$2]} r
	if [ "$4" = 1 ]; then r=$(ratio "$b" "$d"); else r=$(ratio "$d" "$b"); fi
	printf '%-28s %11s %-2s %11s %-2s %7sx\n' "$1" "$b" "$3" "$d" "$3" "$r"
	RATIOS+="$1 ${r}x, "
}
RATIOS=
row "GET /v2/" ping "/s" 1
row "GET manifest" manifest "/s" 1
if [ "$BLOBS" = 1 ]; then
	row "GET ${BLOB_MB} MB blob, 1st" get MB/s 1
	row "GET ${BLOB_MB} MB blob, 2nd" get2 MB/s 1
	row "PUT ${BLOB_MB} MB blob" put MB/s 1
	row "8 parallel PUTs" put8 MB/s 1
	row "server CPU per GB PUT" putcpu s 0
	row "8 parallel GETs, 1st" get8 MB/s 1
	row "8 parallel GETs, 2nd" get8b MB/s 1
fi
row "memory idle (RSS)" idle MB 0
row "memory in the manifest wrk" load MB 0
row "memory peak (VmHWM)" hwm MB 0
row "memory after the runs" rss MB 0
row "binary size" size KB 0
line="registry (berth is Nx docker-registry): ${RATIOS%, }"
echo
echo "$line"
[ -z "${BENCH_RESULTS:-}" ] || echo "$line" >>"$BENCH_RESULTS"
