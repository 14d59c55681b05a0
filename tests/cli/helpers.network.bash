# Fixtures of the network tests (070-072), on top of the container fixtures: every test gets
# a bridge device, a subnet and nft tables of its own through its BERTH_CONFIG, so that tests
# never meet each other's (or a real berth's) addresses and rules, and teardown removes every
# bridge, table and veth the test made. Traffic goes only to 127.0.0.1, ::1 and addresses on
# the test's own bridges.

load helpers.containers

eval "containers_$(declare -f setup)"
eval "containers_$(declare -f teardown)"

HELPER_DIR=$(cd "$BATS_TEST_DIRNAME/../helper" && pwd)

# free_subnet: a 10.x.y.0/24 (x in 210..249, out of the unit tests' 10.200.0.0/13) that no
# route and no address of the host uses; prints "10.x.y".
free_subnet() {
	local a b i
	for ((i = 0; i < 100; i++)); do
		a=$((210 + RANDOM % 40))
		b=$((RANDOM % 256))
		if ! ip -4 route show | grep -q "^10\.$a\.$b\." &&
			! ip -4 addr show | grep -q "inet 10\.$a\.$b\."; then
			echo "10.$a.$b"
			return 0
		fi
	done
	return 1
}

setup() {
	containers_setup
	# Short enough for interface names (user networks add two characters).
	PFX=bt$(printf '%06x' $(((RANDOM << 9 ^ RANDOM ^ $$) & 0xffffff)))
	NET=$(free_subnet)
	cat >"$BERTH_CONFIG" <<-EOF
		{"bridge": {"device": "$PFX", "subnet": "$NET.0/24"}, "nft-prefix": "$PFX"}
	EOF
	echo "$PFX" >"$TEST_DIR/pfx"
}

teardown() {
	local ids leftover=
	ids=$("$BERTH" ps -aq --no-trunc 2>/dev/null)
	[ -z "$ids" ] || "$BERTH" rm -f $ids >/dev/null 2>&1 || true
	# After the containers are gone no veth may be left on the test's bridges.
	local br v
	for br in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^$PFX" || true); do
		v=$(ip -o link show master "$br" | awk -F': ' '{print $2}' | sed 's/@.*//')
		[ -z "$v" ] || leftover+=" veths on $br: $v"
		ip link del "$br" 2>/dev/null || true
	done
	nft delete table inet "$PFX" 2>/dev/null || true
	nft delete table ip "${PFX}_nat" 2>/dev/null || true
	rm -f "/run/berth-$PFX.nft.lock"
	containers_teardown || return 1
	if [ -n "$leftover" ]; then
		echo "FAIL: left behind:$leftover" >&2
		return 1
	fi
}

# ip_of NAME [NETWORK]: the container's address (on NETWORK, default: the test's bridge).
ip_of() {
	berth inspect -f "{{.NetworkSettings.Networks.${2:-bridge}.IPAddress}}" "$1"
}

# port_rules: the DNAT rules of published ports in the test's tables.
port_rules() {
	nft list chain ip "${PFX}_nat" ports 2>/dev/null | grep -c 'comment "berth:' || true
}

# endpoints [NETWORK]: how many containers hold an address on NETWORK (default bridge).
endpoints() {
	berth network inspect -f '{{json .Containers}}' "${1:-bridge}" |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# conntrack_of IP...: conntrack entries that name any of the addresses.
conntrack_of() {
	local ip n=0
	for ip in "$@"; do
		n=$((n + $(grep -c "=$ip " /proc/net/nf_conntrack || true)))
	done
	echo "$n"
}

# veths: how many veths the test's bridges have.
veths() {
	local br n=0
	for br in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^$PFX" || true); do
		n=$((n + $(ip -o link show master "$br" | wc -l)))
	done
	echo "$n"
}

# http_get URL: the body, with a short timeout (a published port that does not answer
# fails the test instead of hanging it).
http_get() {
	curl -sS --max-time 5 "$1"
}

# wait_http URL: until URL answers (the server in the container takes a moment to listen).
wait_http() {
	wait_until 10 curl -s --max-time 1 -o /dev/null "$1"
}

# udp_ask ADDR PORT TEXT: send TEXT in one datagram, print the answer (3 s timeout).
udp_ask() {
	python3 - "$1" "$2" "$3" <<'EOF'
import socket, sys
addr, port, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(3)
for attempt in range(5):
    s.sendto(text.encode(), (addr, port))
    try:
        print(s.recvfrom(2048)[0].decode())
        sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
EOF
}

# make_udp_image NAME: the busybox image plus /bin/udp-echo (tests/helper/udp-echo.c, built
# statically once per file) and EXPOSE 80 and 5353/udp.
make_udp_image() {
	local bin=$BATS_FILE_TMPDIR/udp-echo
	[ -x "$bin" ] || cc -static -O2 -o "$bin" "$HELPER_DIR/udp-echo.c"
	local d=$TEST_DIR/udp-rootfs
	make_busybox_rootfs "$d"
	cp "$bin" "$d/bin/udp-echo"
	tar -C "$d" --numeric-owner -cf "$TEST_DIR/udp.tar" .
	rm -rf "$d"
	berth import -c 'EXPOSE 80' -c 'EXPOSE 5353/udp' "$TEST_DIR/udp.tar" "$1" >/dev/null
	rm -f "$TEST_DIR/udp.tar"
}
