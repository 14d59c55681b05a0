#!/usr/bin/env bats
# berth network (create, ls, inspect, rm, prune, connect, disconnect) and run --network:
# real bridges, veths and namespaces of the test's own (helpers.network.bash).

load helpers.network

@test "network ls: bridge, host and none, as Docker lists them" {
	run_berth network ls
	assert_equal "$(echo "$output" | head -1)" "NETWORK ID     NAME      DRIVER    SCOPE"
	assert_contains "$output" "bridge    bridge    local"
	assert_contains "$output" "host      host      local"
	assert_contains "$output" "none      null      local"
	run_berth network ls --format '{{.Name}}'
	assert_equal "$output" "$(printf 'bridge\nhost\nnone')"
	run_berth network ls -q
	assert_equal "$(echo "$output" | wc -l)" 3
	assert_equal "${#lines[0]}" 12
	# The ids are stable from one command to the next.
	run_berth network ls -q --no-trunc
	ids=$output
	run_berth network ls -q --no-trunc
	assert_equal "$output" "$ids"
	run_berth network inspect -f '{{.Driver}} {{.Scope}} {{json .IPAM.Config}}' bridge
	assert_equal "$output" "bridge local [{\"Subnet\":\"$NET.0/24\",\"Gateway\":\"$NET.1\"}]"
	run_berth network inspect -f '{{json .Options}}' bridge
	assert_contains "$output" "\"com.docker.network.bridge.name\":\"$PFX\""
}

@test "network create, inspect, ls filters, rm" {
	sub=$(free_subnet)
	run_berth network create --subnet "$sub.0/24" --gateway "$sub.254" --ip-range "$sub.128/25" \
		--label team=web -o "com.docker.network.bridge.name=${PFX}u1" front
	id=$output
	[[ $id =~ ^[0-9a-f]{64}$ ]] || die "not an id: $id"
	run_berth network inspect front
	assert_contains "$output" '"Name": "front"'
	assert_contains "$output" "\"Id\": \"$id\""
	assert_contains "$output" "\"Subnet\": \"$sub.0/24\""
	assert_contains "$output" "\"Gateway\": \"$sub.254\""
	assert_contains "$output" "\"IPRange\": \"$sub.128/25\""
	assert_contains "$output" '"team": "web"'
	# By id and id prefix too.
	run_berth network inspect -f '{{.Name}}' "${id:0:12}" "$id"
	assert_equal "$output" "$(printf 'front\nfront')"
	run_berth network ls --filter label=team=web --format '{{.Name}} {{.Driver}} {{.Labels}}'
	assert_equal "$output" "front bridge team=web"
	run_berth network ls --filter type=custom -q
	assert_equal "$output" "${id:0:12}"
	run_berth network ls --filter driver=null --format '{{.Name}}'
	assert_equal "$output" "none"
	run_berth network ls --filter name=fro --format '{{.Name}}'
	assert_equal "$output" "front"
	run_berth 1 network ls --filter nosuch=x
	assert_contains "$output" "invalid filter 'nosuch'"

	# Docker's refusals.
	run_berth 1 network create --subnet "$sub.0/24" front
	assert_contains "$output" "front"
	run_berth 1 network create --subnet "$sub.0/25" other
	assert_contains "$output" "overlaps"
	run_berth 1 network create host
	run_berth 1 network create -d overlay other
	assert_contains "$output" 'plugin "overlay" not found'
	run_berth 1 network rm bridge
	assert_contains "$output" "bridge is a pre-defined network and cannot be removed"
	run_berth 1 network inspect nosuch
	assert_contains "$output" "network nosuch not found"

	# A container on it gets an address of the ip-range and the gateway given.
	run_berth run --rm --network front $IMG sh -c 'ip -4 addr show eth0; ip route'
	assert_contains "$output" "inet $sub.128/24"
	assert_contains "$output" "default via $sub.254 dev eth0"
	run_berth network rm front
	assert_equal "$output" "front"
	run_berth network ls --format '{{.Name}}'
	assert_equal "$output" "$(printf 'bridge\nhost\nnone')"
	# Gone: an error, unless --force (Docker's: a missing network is no error).
	run_berth 1 network rm front
	assert_contains "$output" "network front not found"
	run_berth network rm -f front
	assert_equal "$output" ""
	run_berth 1 network rm -f front bridge
	assert_contains "$output" "bridge is a pre-defined network and cannot be removed"
	[[ "$output" != *front* ]] || die "a missing network reported under --force: $output"
	# Its bridge went with it.
	run ip link show "${PFX}u1"
	[ "$status" -ne 0 ]
}

@test "run --network none has only lo; --network host sees the host's interfaces" {
	run_berth run --rm --network none $IMG cat /proc/net/dev
	assert_equal "$(echo "$output" | tail -n +3 | awk -F: '{gsub(/ /, "", $1); print $1}')" "lo"
	run_berth run --rm --network none $IMG sh -c 'ip -4 addr show lo | grep -c 127.0.0.1'
	assert_equal "$output" "1"
	host_ifs=$(tail -n +3 /proc/net/dev | awk -F: '{gsub(/ /, "", $1); print $1}' | sort)
	run_berth run --rm --network host $IMG cat /proc/net/dev
	assert_equal "$(echo "$output" | tail -n +3 | awk -F: '{gsub(/ /, "", $1); print $1}' | sort)" \
		"$host_ifs"
	run_berth run --rm --network host $IMG hostname
	assert_equal "$output" "$(hostname)"
	run_berth run -d --name nonet --network none $IMG sleep 100
	run_berth inspect -f '{{.HostConfig.NetworkMode}} {{.NetworkSettings.IPAddress}}|{{json .NetworkSettings.Ports}}' nonet
	assert_equal "$output" "none |{}"
	run_berth inspect -f '{{json .NetworkSettings.Networks}}' nonet
	assert_contains "$output" '"none":'
	# Nothing of the bridge was made for them.
	assert_equal "$(veths)" 0
}

@test "run on the default network: eth0, route, inspect's NetworkSettings, resolv.conf" {
	run_berth run -d --name web $IMG sleep 100
	ip=$(ip_of web)
	[[ $ip == "$NET".* ]] || die "address $ip is not in $NET.0/24"
	run_berth exec web sh -c 'ip -4 addr show eth0; ip route'
	assert_contains "$output" "inet $ip/24"
	assert_contains "$output" "default via $NET.1 dev eth0"
	run_berth inspect -f '{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.IPPrefixLen}} {{.NetworkSettings.MacAddress}}' web
	mac=$(printf '02:42:%02x:%02x:%02x:%02x' ${ip//./ })
	assert_equal "$output" "$ip $NET.1 24 $mac"
	run_berth inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}} {{.NetworkSettings.Networks.bridge.NetworkID}}' web
	netid=$(berth network ls -q --no-trunc --filter name=bridge)
	assert_equal "$output" "$ip $netid"
	run_berth exec web cat /sys/class/net/eth0/address
	assert_equal "$output" "$mac"
	# The bridge answers, and the container sees the host's gateway address.
	run_berth exec web ping -c 1 -W 3 "$NET.1"
	# /etc/hosts names the container; resolv.conf is the host's without loopback servers.
	run_berth exec web cat /etc/hosts
	assert_contains "$output" "$ip	$(berth inspect -f '{{.Config.Hostname}}' web)"
	run_berth exec web cat /etc/resolv.conf
	[[ $output != *"nameserver 127."* ]] || die "a loopback name server: $output"
	[[ $output != *"nameserver ::1"* ]] || die "a loopback name server: $output"
	run_berth run --rm --dns 192.0.2.53 --dns-search example.test --dns-option ndots:2 $IMG cat /etc/resolv.conf
	assert_contains "$output" "nameserver 192.0.2.53"
	assert_contains "$output" "search example.test"
	assert_contains "$output" "options ndots:2"
	run_berth run --rm --add-host db.test:192.0.2.7 --add-host gw.test:host-gateway $IMG cat /etc/hosts
	assert_contains "$output" "192.0.2.7	db.test"
	assert_contains "$output" "$NET.1	gw.test"
	# Stopped: no address, the network still named.
	run_berth stop -t 0 web
	run_berth inspect -f '{{.NetworkSettings.IPAddress}}|{{json .NetworkSettings.Ports}}|{{.NetworkSettings.Networks.bridge.NetworkID}}' web
	assert_equal "$output" "|{}|$netid"
	assert_equal "$(veths)" 0
	assert_equal "$(endpoints)" 0
	# And back, with a working network.
	run_berth start web
	run_berth exec web ping -c 1 -W 3 "$NET.1"
}

@test "two containers on a user network reach each other by name and address" {
	sub=$(free_subnet)
	run_berth network create --subnet "$sub.0/24" -o "com.docker.network.bridge.name=${PFX}u1" front
	run_berth run -d --name alpha --network front $IMG httpd -f -p 80 -h /usr/share/nginx/html
	run_berth run -d --name beta --network front --network-alias db $IMG httpd -f -p 80 -h /usr/share/nginx/html
	a=$(ip_of alpha front)
	b=$(ip_of beta front)
	[[ $a == "$sub".* && $b == "$sub".* && $a != "$b" ]] || die "addresses $a $b"
	run_berth exec alpha wget -qO- http://beta/
	assert_equal "$output" "<h1>Welcome to nginx!</h1>"
	run_berth exec alpha wget -qO- http://db/
	assert_equal "$output" "<h1>Welcome to nginx!</h1>"
	run_berth exec beta wget -qO- "http://$a/"
	assert_equal "$output" "<h1>Welcome to nginx!</h1>"
	run_berth exec beta ping -c 1 -W 3 alpha
	# A container that joins later is known to the others at once, and forgotten when
	# it goes.
	run_berth run -d --name gamma --network front $IMG sleep 100
	run_berth exec alpha ping -c 1 -W 3 gamma
	run_berth exec alpha cat /etc/hosts
	assert_contains "$output" "$(ip_of gamma front)	gamma"
	run_berth rm -f gamma
	run_berth exec alpha cat /etc/hosts
	[[ $output != *gamma* ]] || die "gamma still listed: $output"
	# The default network has no names (Docker's rule), and isolation: a container on the
	# default network does not reach one on another bridge network.
	run_berth run -d --name other $IMG sleep 100
	# (Debian's busybox wget dies of SIGSEGV at its timeout: any failure counts.)
	run berth exec other wget -qO- -T 2 "http://$a/"
	[ "$status" -ne 0 ] || die "reached another network: $output"
	[[ $output != *Welcome* ]] || die "reached another network: $output"
	# Network inspect lists the members; rm refuses while they are attached.
	run_berth network inspect -f '{{json .Containers}}' front
	assert_contains "$output" '"Name":"alpha"'
	assert_contains "$output" "\"IPv4Address\":\"$a/24\""
	run_berth 1 network rm front
	assert_contains "$output" "has active endpoints"
	run_berth rm -f alpha beta
	run_berth network rm front
	run ip link show "${PFX}u1"
	[ "$status" -ne 0 ] || die "the bridge of front is still there"
	# Only "other" is left, on the default network.
	assert_equal "$(veths)" 1
}

@test "network connect and disconnect: running and stopped containers" {
	sub=$(free_subnet)
	run_berth network create --subnet "$sub.0/24" -o "com.docker.network.bridge.name=${PFX}u1" back
	run_berth run -d --name multi $IMG sleep 100
	run_berth network connect --alias api back multi
	run_berth exec multi sh -c 'ip -4 -o addr show | awk "{print \$2, \$4}"'
	assert_contains "$output" "eth0 $NET."
	assert_contains "$output" "eth1 $sub."
	# The default route stays on the first network.
	run_berth exec multi ip route
	assert_contains "$output" "default via $NET.1 dev eth0"
	run_berth inspect -f '{{.NetworkSettings.Networks.back.IPAddress}} {{json .NetworkSettings.Networks.back.Aliases}}' multi
	assert_equal "$output" "$(ip_of multi back) [\"api\"]"
	run_berth 1 network connect back multi
	assert_contains "$output" "already exists in network back"
	# A peer finds it by its alias.
	run_berth run --rm --network back $IMG ping -c 1 -W 3 api
	run_berth network disconnect back multi
	run_berth exec multi sh -c 'ip -4 -o addr show | awk "{print \$2}"'
	[[ $output != *eth1* ]] || die "eth1 still there: $output"
	run_berth 1 network disconnect back multi
	assert_contains "$output" "is not connected to network back"
	run_berth network disconnect -f back multi
	assert_equal "$(endpoints back)" 0
	# A stopped container is connected at its next start.
	run_berth create --name later $IMG sleep 100
	run_berth network connect back later
	run_berth start later
	run_berth exec later sh -c 'ip -4 -o addr show | awk "{print \$2, \$4}"'
	assert_contains "$output" "eth1 $sub."
	run_berth 1 network connect back nosuchcontainer
	run_berth 1 network connect nosuchnet later
	assert_contains "$output" "network nosuchnet not found"
	run_berth run -d --name hostnet --network host $IMG sleep 100
	run_berth 1 network connect back hostnet
}

@test "network prune removes unused user networks only" {
	s1=$(free_subnet)
	s2=$(free_subnet)
	[ "$s1" != "$s2" ] || s2=$(free_subnet)
	run_berth network create --subnet "$s1.0/24" -o "com.docker.network.bridge.name=${PFX}u1" used
	run_berth network create --subnet "$s2.0/24" -o "com.docker.network.bridge.name=${PFX}u2" \
		--label keep=no idle
	run_berth run -d --name user --network used $IMG sleep 100
	run_berth network prune -f --filter label=keep=yes
	assert_equal "$output" ""
	run_berth network prune -f
	assert_equal "$output" "$(printf 'Deleted Networks:\nidle')"
	run_berth network ls --format '{{.Name}}'
	assert_equal "$output" "$(printf 'bridge\nhost\nnone\nused')"
	# Without -f it asks, and no is the default.
	run_berth rm -f user
	run bash -c "echo n | '$BERTH' network prune"
	assert_contains "$output" "Are you sure you want to continue? [y/N]"
	run_berth network ls --format '{{.Name}}'
	assert_contains "$output" "used"
	run bash -c "echo y | '$BERTH' network prune"
	assert_contains "$output" "Deleted Networks:"
	assert_contains "$output" "used"
}
