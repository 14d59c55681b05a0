#!/usr/bin/env bash
# Container networking, side by side (docs/internals/NET.md):
#
#  1. Bridge set-up cost: `run --rm IMG true` on a bridge network against `--network none`,
#     for berth (its default network), docker (a private dockerd on a bridge of ours) and
#     podman (a network of ours, netavark). The difference is what a veth pair, an address,
#     the namespace's routes and the teardown cost each engine.
#  2. A published port under load: wrk against a small keep-alive HTTP server in a container
#     (tests/helper/http-ok.c), reached at 127.0.0.1:PORT through berth's kernel DNAT,
#     docker's userland docker-proxy and podman's netavark DNAT, plus berth at [::1]:PORT
#     (the proxy in its monitor) and the container's own address (no NAT at all: the floor).
#  3. A bulk transfer through the same published ports: curl fetches 1 GiB (GET /zero/N of
#     http-ok) from each target, BENCH_BULK_ROUNDS times (medians, MB/s).
#
# Nothing of the host's is used or changed: berth gets its own bridge, subnet and nft tables
# through its config, dockerd its own bridge (made here) with --iptables=false (so it neither
# adds rules nor sets the FORWARD policy to DROP, which would cut every other container off;
# docker-proxy serves the published port, as on a default install for 127.0.0.1), podman a
# network definition in a config dir of its own. Everything is removed on exit.
#
# On a shared machine the load moves between one command's runs and the next's: berth's
# bridge and none runs are also timed in alternation (the median of the paired
# differences), and wrk goes round the targets BENCH_WRK_ROUNDS times (medians).
#
# Environment: BERTH, BENCH_RUNS (default 20), BENCH_WRK_SECONDS (default 10),
# BENCH_WRK_CONNECTIONS (default 32), BENCH_WRK_ROUNDS (default 1), BENCH_BULK_BYTES
# (default 1 GiB), BENCH_BULK_ROUNDS (default 3), BENCH_KEEP.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

bench_init
RUNS=${BENCH_RUNS:-20}
WRK_S=${BENCH_WRK_SECONDS:-10}
WRK_C=${BENCH_WRK_CONNECTIONS:-32}
WRK_R=${BENCH_WRK_ROUNDS:-1}
D=$BENCH_DIR
command -v wrk >/dev/null || bench_die "wrk not installed (scripts/deps.sh)"
[ -f "$DOCKER_CONFIG/config.json" ] || echo '{}' >"$DOCKER_CONFIG/config.json"

# Names of our own: short enough for interface names.
TAG=$(printf '%04x' $(($$ & 0xffff)))
BR_BERTH=bnb$TAG
BR_DOCKER=bnd$TAG

# free_subnet: a 10.25x.y.0/24 no route or address of the host uses ("10.25x.y").
used_subnets=
free_subnet() {
	local a b i
	for ((i = 0; i < 200; i++)); do
		a=$((250 + RANDOM % 5))
		b=$((RANDOM % 256))
		case " $used_subnets " in *" 10.$a.$b "*) continue ;; esac
		if ! ip -4 route show | grep -q "^10\.$a\.$b\." &&
			! ip -4 addr show | grep -q "inet 10\.$a\.$b\."; then
			used_subnets+=" 10.$a.$b"
			echo "10.$a.$b"
			return 0
		fi
	done
	bench_die "no free subnet in 10.250.0.0/14"
}
SUB_BERTH=$(free_subnet)
SUB_DOCKER=$(free_subnet)
SUB_PODMAN=$(free_subnet)
cat >"$BERTH_CONFIG" <<EOF
{"bridge": {"device": "$BR_BERTH", "subnet": "$SUB_BERTH.0/24"}, "nft-prefix": "$BR_BERTH"}
EOF

DOCKERD2_PID=
PODMAN_NET=
# shellcheck disable=SC2086 # ids and $PODMAN are word lists on purpose
net_cleanup() {
	local ids
	ids=$("$BERTH" ps -aq 2>/dev/null)
	[ -z "$ids" ] || "$BERTH" rm -f $ids >/dev/null 2>&1
	if [ -n "$DOCKERD2_PID" ]; then
		ids=$(docker ps -aq 2>/dev/null)
		[ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1
		kill "$DOCKERD2_PID" 2>/dev/null
		local i
		for i in $(seq 1 120); do
			kill -0 "$DOCKERD2_PID" 2>/dev/null || break
			sleep 0.25
		done
		kill -0 "$DOCKERD2_PID" 2>/dev/null && kill -KILL "$DOCKERD2_PID" 2>/dev/null
		wait "$DOCKERD2_PID" 2>/dev/null
	fi
	if [ -n "$PODMAN_NET" ]; then
		ids=$($PODMAN ps -aq 2>/dev/null)
		[ -z "$ids" ] || $PODMAN --runtime runc rm -f -t 0 $ids >/dev/null 2>&1
		$PODMAN $PODMAN_NET network rm -f benchnet >/dev/null 2>&1
	fi
	local br
	for br in "$BR_BERTH" "$BR_DOCKER"; do
		ip link del "$br" 2>/dev/null
	done
	nft delete table inet "$BR_BERTH" 2>/dev/null
	nft delete table ip "${BR_BERTH}_nat" 2>/dev/null
	rm -f "/run/berth-$BR_BERTH.nft.lock"
}
trap 'net_cleanup; bench_cleanup' EXIT

# The image: busybox plus http-ok, in every engine.
cc -static -O2 -D_GNU_SOURCE -o "$D/http-ok" "$BENCH_SRC/tests/helper/http-ok.c" ||
	bench_die "cannot build tests/helper/http-ok.c"
bench_busybox_rootfs "$D/rootfs"
cp "$D/http-ok" "$D/rootfs/bin/http-ok"
tar -C "$D/rootfs" --numeric-owner -cf "$D/net.tar" .
"$BERTH" import "$D/net.tar" bench-net >/dev/null || bench_die "berth import failed"

# A dockerd of ours on a bridge of ours (lib.sh's runs without any bridge).
HAVE_DOCKER=0
if command -v dockerd >/dev/null && command -v docker >/dev/null; then
	ip link add "$BR_DOCKER" type bridge && ip addr add "$SUB_DOCKER.1/24" dev "$BR_DOCKER" &&
		ip link set "$BR_DOCKER" up
	dd=$D/dockerd
	mkdir -p "$dd"
	export DOCKER_HOST=unix://$dd/docker.sock
	for driver in overlay2 vfs; do
		dockerd --data-root "$dd/data-$driver" --exec-root "$dd/exec" -H "$DOCKER_HOST" \
			--pidfile "$dd/docker.pid" --bridge="$BR_DOCKER" --iptables=false \
			--ip6tables=false --ip-masq=false --userland-proxy=true --storage-driver="$driver" \
			--log-level=error </dev/null >"$dd/dockerd.log" 2>&1 &
		DOCKERD2_PID=$!
		for i in $(seq 1 120); do
			docker version >/dev/null 2>&1 && HAVE_DOCKER=1 && break
			kill -0 "$DOCKERD2_PID" 2>/dev/null || break
			sleep 0.25
		done
		[ "$HAVE_DOCKER" = 1 ] && break
		kill "$DOCKERD2_PID" 2>/dev/null
		wait "$DOCKERD2_PID" 2>/dev/null
		DOCKERD2_PID=
		bench_umount_below "$dd"
	done
	if [ "$HAVE_DOCKER" = 1 ]; then
		docker import "$D/net.tar" bench-net >/dev/null || HAVE_DOCKER=0
	else
		bench_log "bench: dockerd did not start ($(tail -n1 "$dd/dockerd.log")), comparing without docker"
	fi
fi

# podman on a network of ours.
PODMAN_RUN=
if [ "$HAVE_PODMAN" = 1 ]; then
	PODMAN_NET="--network-config-dir $D/podman-net"
	mkdir -p "$D/podman-net"
	PODMAN="$PODMAN $PODMAN_NET"
	PODMAN_RUN="$PODMAN --runtime runc run --ulimit nofile=1024:1024 --ulimit nproc=1024:1024"
	if ! $PODMAN import "$D/net.tar" bench-net >/dev/null 2>&1 ||
		! $PODMAN network create --subnet "$SUB_PODMAN.0/24" benchnet >/dev/null \
			2>"$D/podman-net.log"; then
		bench_log "bench: podman network unusable: $(tail -n1 "$D/podman-net.log")"
		HAVE_PODMAN=0
	fi
fi

# ---- 1. bridge set-up ----

names=(berth-bridge berth-none)
cmds=("$BERTH run --rm bench-net true" "$BERTH run --rm --network none bench-net true")
if [ "$HAVE_DOCKER" = 1 ]; then
	names+=(docker-bridge docker-none)
	cmds+=("docker run --rm bench-net true" "docker run --rm --network none bench-net true")
fi
if [ "$HAVE_PODMAN" = 1 ]; then
	names+=(podman-bridge podman-none)
	cmds+=("$PODMAN_RUN --rm --network benchnet bench-net true"
		"$PODMAN_RUN --rm --network none bench-net true")
fi
args=()
for i in "${!names[@]}"; do
	args+=(--command-name "${names[$i]}" "${cmds[$i]}")
done
json=$D/out/setup.json
echo "== run --rm true on a bridge network and without one, $RUNS runs each (3 warm-up)"
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$json" "${args[@]}" \
	>"$json.log" 2>&1 || {
	cat "$json.log" >&2
	bench_die "hyperfine failed"
}
printf '%-14s %10s %10s %10s %10s\n' "" mean "± σ" min max
jq -r '.results[] | [.command, .mean, .stddev, .min, .max] | @tsv' "$json" |
	while IFS=$'\t' read -r name mean sd min max; do
		printf '%-14s %10s %10s %10s %10s\n' "$name" "$(bench_fmt_time "$mean")" \
			"$(bench_fmt_time "${sd:-0}")" "$(bench_fmt_time "$min")" "$(bench_fmt_time "$max")"
	done
ratios=$(jq -r '
	. as $root
	| def m(n): [$root.results[] | select(.command == n) | .mean][0];
	def cost(e): if m(e + "-bridge") then "\(e) +\(((m(e + "-bridge") - m(e + "-none")) * 1000 | round)) ms" else empty end;
	[cost("berth"), cost("docker"), cost("podman")] as $costs
	| [$root.results[] | select(.command != "berth-bridge" and (.command | endswith("-bridge")))
	   | "\(.command | sub("-bridge"; "")) \((.mean / m("berth-bridge") * 100 | round) / 100)x"]
	| "bridge set-up: " + ($costs | join(", ")) + " over --network none; run --rm on a bridge: "
	  + (if length > 0 then join(", ") + " (time relative to berth)" else "berth alone" end)' "$json")
echo "$ratios"
[ -z "${BENCH_RESULTS:-}" ] || echo "$ratios" >>"$BENCH_RESULTS"

# The same for berth in alternation: bridge, none, bridge, none...
pairs=$D/out/pairs.txt
: >"$pairs"
for ((i = 0; i < RUNS; i++)); do
	t0=$(date +%s%N)
	"$BERTH" run --rm bench-net true || bench_die "berth run failed"
	t1=$(date +%s%N)
	"$BERTH" run --rm --network none bench-net true || bench_die "berth run failed"
	t2=$(date +%s%N)
	echo "$(((t1 - t0) / 1000)) $(((t2 - t1) / 1000))" >>"$pairs"
done
ratios=$(sort -n -k1,1 "$pairs" | awk '{ b[NR] = $1 } END { print b[int((NR + 1) / 2)] }')
ratios=$(awk -v mb="$ratios" '{ n[NR] = $2; d[NR] = $1 - $2 }
	function med(a, k,   i, j, t) {
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return a[int((k + 1) / 2)]
	}
	END { printf "berth in alternation, medians of %d pairs: bridge %.1f ms, none %.1f ms, bridge - none %.1f ms\n",
		NR, mb / 1000, med(n, NR) / 1000, med(d, NR) / 1000 }' "$pairs")
echo "$ratios"
[ -z "${BENCH_RESULTS:-}" ] || echo "$ratios" >>"$BENCH_RESULTS"
echo

# ---- 2. a published port under load ----

free_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::", 0)); print(s.getsockname()[1])'
}
wait_http() {
	local i
	for i in $(seq 1 100); do
		curl -s --max-time 1 -o /dev/null "$1" && return 0
		sleep 0.1
	done
	bench_log "bench: $1 does not answer"
	return 1
}

targets=()
tnames=()
p=$(free_port)
id=$("$BERTH" run -d -p "$p:8080" bench-net http-ok 8080) || bench_die "berth run -p failed"
ip=$("$BERTH" inspect -f '{{.NetworkSettings.IPAddress}}' "$id")
tnames+=("container address, no NAT" "berth 127.0.0.1 (DNAT)" "berth [::1] (proxy)")
targets+=("http://$ip:8080/" "http://127.0.0.1:$p/" "http://[::1]:$p/")
if [ "$HAVE_DOCKER" = 1 ]; then
	p=$(free_port)
	docker run -d -p "127.0.0.1:$p:8080" bench-net http-ok 8080 >/dev/null &&
		tnames+=("docker 127.0.0.1 (docker-proxy)") && targets+=("http://127.0.0.1:$p/")
fi
if [ "$HAVE_PODMAN" = 1 ]; then
	p=$(free_port)
	$PODMAN_RUN -d --network benchnet -p "127.0.0.1:$p:8080" bench-net http-ok 8080 \
		>/dev/null 2>&1 &&
		tnames+=("podman 127.0.0.1 (netavark DNAT)") && targets+=("http://127.0.0.1:$p/")
fi

echo "== wrk -t2 -c$WRK_C -d${WRK_S}s through a published port (http-ok, keep-alive), $WRK_R round(s)"
printf '%-34s %12s %12s %12s\n' path "requests/s" "latency avg" "p99"
res=$D/out/wrk.tsv
all=$D/out/wrk-rounds.tsv
: >"$res"
: >"$all"
ok=()
for i in "${!targets[@]}"; do
	wait_http "${targets[$i]}" && ok+=("$i")
done
for ((round = 1; round <= WRK_R; round++)); do
	for i in "${ok[@]}"; do
		out=$(wrk -t2 -c"$WRK_C" -d"${WRK_S}s" --latency "${targets[$i]}" 2>&1)
		rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
		lat=$(awk '$1 == "Latency" {print $2; exit}' <<<"$out")
		p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
		errs=$(grep -E 'Socket errors|Non-2xx' <<<"$out" | tr -s ' ' | tr '\n' ' ')
		[ "$WRK_R" = 1 ] || printf '%-34s %12s %12s %12s %s\n' "${tnames[$i]} ($round)" "${rps:-?}" "${lat:-?}" "${p99:-?}" "$errs"
		[ "$WRK_R" != 1 ] || printf '%-34s %12s %12s %12s %s\n' "${tnames[$i]}" "${rps:-?}" "${lat:-?}" "${p99:-?}" "$errs"
		printf '%s\t%s\n' "${tnames[$i]}" "${rps:-0}" >>"$all"
	done
done
# median_of FILE NAME: the median of NAME's values in FILE (lines "name<TAB>value").
median_of() {
	awk -F'\t' -v t="$2" '$1 == t { print $2 }' "$1" | sort -g |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
# ratios_to_dnat TITLE FILE: one line, each target's value in FILE over berth's DNAT.
ratios_to_dnat() {
	awk -F'\t' -v title="$1" '
		{ r[$1] = $2; order[n++] = $1 }
		END {
			b = r["berth 127.0.0.1 (DNAT)"]
			if (!b) exit
			s = title ":"
			for (i = 0; i < n; i++)
				if (order[i] != "berth 127.0.0.1 (DNAT)")
					s = s sprintf(" %s %.2fx,", order[i], r[order[i]] / b)
			sub(/,$/, "", s)
			print s
		}' "$2"
}

# The median of each target's rounds.
for i in "${ok[@]}"; do
	med=$(median_of "$all" "${tnames[$i]}")
	[ "$WRK_R" = 1 ] || printf '%-34s %12s (median)\n' "${tnames[$i]}" "$med"
	printf '%s\t%s\n' "${tnames[$i]}" "${med:-0}" >>"$res"
done
ratios=$(ratios_to_dnat "published port, requests/s relative to berth DNAT" "$res")
echo "$ratios"
[ -z "${BENCH_RESULTS:-}" ] || echo "$ratios" >>"$BENCH_RESULTS"

# ---- 3. a bulk transfer through the published ports ----

BULK=${BENCH_BULK_BYTES:-1073741824}
BULK_R=${BENCH_BULK_ROUNDS:-3}
echo
echo "== curl of $((BULK / 1048576)) MiB through each path, $BULK_R round(s), MB/s"
bulk=$D/out/bulk.tsv
: >"$bulk"
for ((round = 1; round <= BULK_R; round++)); do
	for i in "${ok[@]}"; do
		out=$(curl -s --max-time 120 -o /dev/null -w '%{size_download} %{speed_download}' \
			"${targets[$i]}zero/$BULK")
		size=${out% *}
		speed=${out#* }
		# A cut transfer is not a speed.
		[ "$size" = "$BULK" ] || speed=0
		printf '%s\t%s\n' "${tnames[$i]}" "$speed" >>"$bulk"
	done
done
bulk_med=$D/out/bulk-median.tsv
: >"$bulk_med"
for i in "${ok[@]}"; do
	med=$(median_of "$bulk" "${tnames[$i]}")
	printf '%-34s %10.0f MB/s (median)\n' "${tnames[$i]}" "$(awk -v v="${med:-0}" 'BEGIN { print v / 1e6 }')"
	printf '%s\t%s\n' "${tnames[$i]}" "${med:-0}" >>"$bulk_med"
done
bulk_ratios=$(ratios_to_dnat "bulk transfer, MB/s relative to berth DNAT" "$bulk_med")
echo "$bulk_ratios"
[ -z "${BENCH_RESULTS:-}" ] || echo "$bulk_ratios" >>"$BENCH_RESULTS"
