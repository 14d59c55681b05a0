#!/usr/bin/env bats
# Published ports: -p in its forms, -P, port, ps and inspect; reached at 127.0.0.1 (kernel
# DNAT) and [::1] (the proxy in the container's monitor), TCP and UDP.

load helpers.network

# free_port: a TCP and UDP port nothing listens on, on IPv4 and IPv6.
free_port() {
	python3 - <<'EOF'
import socket
for _ in range(50):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(('::', 0))
    p = s.getsockname()[1]
    ok = True
    for fam, t, a in ((socket.AF_INET, socket.SOCK_DGRAM, '0.0.0.0'), (socket.AF_INET6, socket.SOCK_DGRAM, '::')):
        u = socket.socket(fam, t)
        try:
            u.bind((a, p))
        except OSError:
            ok = False
        u.close()
    s.close()
    if ok and 20000 <= p:
        print(p)
        break
EOF
}

httpd() {
	echo httpd -f -p 80 -h /usr/share/nginx/html
}

@test "run -p HOST:80: the page at 127.0.0.1 and [::1]; a second container on another port" {
	p1=$(free_port)
	p2=$(free_port)
	run_berth run -d --name web1 -p "$p1:80" $IMG $(httpd)
	wait_http "http://127.0.0.1:$p1/"
	run http_get "http://127.0.0.1:$p1/"
	assert_equal "$output" "<h1>Welcome to nginx!</h1>"
	run http_get "http://[::1]:$p1/"
	assert_equal "$output" "<h1>Welcome to nginx!</h1>"
	# The bridge's address reaches it too (the host's own address, from the host).
	run http_get "http://$NET.1:$p1/"
	assert_equal "$output" "<h1>Welcome to nginx!</h1>"

	run_berth run -d --name web2 -p "127.0.0.1:$p2:80" $IMG sh -c \
		'echo second >/tmp/index.html; exec httpd -f -p 80 -h /tmp'
	wait_http "http://127.0.0.1:$p2/"
	run http_get "http://127.0.0.1:$p2/"
	assert_equal "$output" "second"
	# 127.0.0.1 only: not on IPv6.
	run curl -s --max-time 3 "http://[::1]:$p2/"
	[ "$status" -ne 0 ]
	run http_get "http://127.0.0.1:$p1/"
	assert_equal "$output" "<h1>Welcome to nginx!</h1>"

	# ps, port and inspect show them as Docker does.
	run_berth ps --format '{{.Names}} {{.Ports}}'
	assert_contains "$output" "web1 0.0.0.0:$p1->80/tcp, [::]:$p1->80/tcp"
	assert_contains "$output" "web2 127.0.0.1:$p2->80/tcp"
	run_berth port web1
	assert_equal "$output" "$(printf '80/tcp -> 0.0.0.0:%s\n80/tcp -> [::]:%s' "$p1" "$p1")"
	run_berth port web1 80/tcp
	assert_equal "$output" "$(printf '0.0.0.0:%s\n[::]:%s' "$p1" "$p1")"
	run_berth container port web2 80
	assert_equal "$output" "127.0.0.1:$p2"
	run_berth 1 port web1 81
	assert_contains "$output" "No public port '81/tcp' published for web1"
	run_berth inspect -f '{{json .NetworkSettings.Ports}}' web1
	assert_equal "$output" "{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"$p1\"},{\"HostIp\":\"::\",\"HostPort\":\"$p1\"}]}"
	run_berth inspect -f '{{json .HostConfig.PortBindings}}' web1
	assert_equal "$output" "{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"$p1\"}]}"
	assert_equal "$(port_rules)" 2

	# Stopped: no rule, no ports shown, the port is free again.
	run_berth stop -t 0 web1
	run_berth ps -a --format '{{.Names}}:{{.Ports}}' --filter name=web1
	assert_equal "$output" "web1:"
	assert_equal "$(port_rules)" 1
	run curl -s --max-time 2 "http://127.0.0.1:$p1/"
	[ "$status" -ne 0 ]
	python3 -c "import socket; s=socket.socket(); s.bind(('0.0.0.0', $p1))"
	run_berth start web1
	wait_http "http://127.0.0.1:$p1/"
}

@test "the same host port twice is refused, with nothing left behind" {
	p=$(free_port)
	run_berth run -d --name first -p "$p:80" $IMG $(httpd)
	before_rules=$(port_rules)
	before_veths=$(veths)
	before_eps=$(endpoints)
	run_berth 125 run -d --name second -p "$p:80" $IMG $(httpd)
	assert_contains "$output" "Bind for 0.0.0.0:$p failed: port is already allocated"
	assert_contains "$output" "driver failed programming external connectivity on endpoint second"
	assert_equal "$(port_rules)" "$before_rules"
	assert_equal "$(veths)" "$before_veths"
	assert_equal "$(endpoints)" "$before_eps"
	run_berth inspect -f '{{.State.Status}}' second
	assert_equal "$output" "created"
	# A port some other program holds is refused the same way; a range takes the next.
	run_berth 125 run --rm -p "$p-$p:80" $IMG true
	run_berth run -d --name third -p "$p-$((p + 20)):80" $IMG $(httpd)
	run_berth port third 80
	got=${lines[0]##*:}
	[ "$got" -gt "$p" ] && [ "$got" -le $((p + 20)) ] || die "port $got is not in $((p + 1))-$((p + 20))"
	# The first still serves.
	wait_http "http://127.0.0.1:$p/"
}

@test "run -p 80 publishes on a random port that port shows" {
	run_berth run -d --name rnd -p 80 $IMG $(httpd)
	run_berth port rnd 80
	hp=${lines[0]##*:}
	[[ $hp =~ ^[0-9]+$ ]] && [ "$hp" -gt 0 ] || die "no port: $output"
	assert_equal "${lines[1]}" "[::]:$hp"
	wait_http "http://127.0.0.1:$hp/"
	run http_get "http://[::1]:$hp/"
	assert_equal "$output" "<h1>Welcome to nginx!</h1>"
}

@test "UDP: -p HOST:5353/udp answers at 127.0.0.1 and ::1" {
	make_udp_image udpimg
	p=$(free_port)
	run_berth run -d --name udp -p "$p:5353/udp" udpimg udp-echo 5353
	run udp_ask 127.0.0.1 "$p" hello4
	[ "$status" -eq 0 ] || die "no answer over IPv4"
	assert_equal "$output" "echo:hello4"
	run udp_ask ::1 "$p" hello6
	[ "$status" -eq 0 ] || die "no answer over IPv6"
	assert_equal "$output" "echo:hello6"
	run_berth port udp
	assert_contains "$output" "5353/udp -> 0.0.0.0:$p"
	# TCP on the same number is not published.
	run curl -s --max-time 2 "http://127.0.0.1:$p/"
	[ "$status" -ne 0 ]
	# A new container on the port gets the datagrams, not the dead one's address: the
	# conntrack entry of the first flow goes with the first container.
	ip1=$(ip_of udp)
	run_berth rm -f udp
	assert_equal "$(conntrack_of "$ip1")" 0
	run_berth run -d --name udp2 -p "$p:5353/udp" udpimg udp-echo 5353
	run udp_ask 127.0.0.1 "$p" again
	assert_equal "$output" "echo:again"
}

@test "-P publishes EXPOSE and --expose on random ports; the long form of -p" {
	make_udp_image exposing
	run_berth run -d --name all -P --expose 7000 exposing $(httpd)
	run_berth port all
	assert_contains "$output" "80/tcp -> 0.0.0.0:"
	assert_contains "$output" "5353/udp -> 0.0.0.0:"
	assert_contains "$output" "7000/tcp -> 0.0.0.0:"
	run_berth port all 80
	hp=${lines[0]##*:}
	wait_http "http://127.0.0.1:$hp/"
	run_berth inspect -f '{{json .Config.ExposedPorts}}' all
	assert_equal "$output" '{"5353/udp":{},"7000/tcp":{},"80/tcp":{}}'
	# Without -P, exposed ports are listed as not published, as Docker does.
	run_berth run -d --name some exposing $(httpd)
	run_berth inspect -f '{{json .NetworkSettings.Ports}}' some
	assert_equal "$output" '{"5353/udp":null,"80/tcp":null}'
	run_berth ps --filter name=some --format '{{.Ports}}'
	assert_equal "$output" "80/tcp, 5353/udp"
	p=$(free_port)
	run_berth run -d --name long -p "target=80,published=$p,protocol=tcp" $IMG $(httpd)
	wait_http "http://127.0.0.1:$p/"
	# Bad specs are Docker's errors, before anything is created.
	run_berth 125 run --rm -p 80a $IMG true
	assert_contains "$output" "invalid containerPort: 80a"
	run_berth 125 run --rm -p 1:2:3:4 $IMG true
	run_berth 125 run --rm -p 80/icmp $IMG true
	assert_contains "$output" "invalid proto: icmp"
	run_berth ps -a --format '{{.Names}}'
	assert_equal "$(echo "$output" | sort | tr '\n' ' ')" "all long some "
	# ps filters: publish= matches -p's container ports, expose= the exposed ones (tcp
	# unless said; a range is START-END), network= a network's name or id prefix.
	names() { run_berth ps "$@" --format '{{.Names}}'; echo "$output" | sort | tr '\n' ' '; }
	assert_equal "$(names --filter publish=80)" "long "
	assert_equal "$(names --filter publish=79-81/tcp)" "long "
	assert_equal "$(names --filter publish=80/udp)" " "
	assert_equal "$(names --filter expose=7000)" "all "
	assert_equal "$(names --filter expose=5000-5400/udp)" "all some "
	assert_equal "$(names --filter expose=80 --filter name=^some)" "some "
	assert_equal "$(names --filter network=bridge)" "all long some "
	nid=$(berth network inspect -f '{{.Id}}' bridge)
	assert_equal "$(names --filter "network=${nid:0:12}")" "all long some "
	assert_equal "$(names --filter network=none)" " "
	run_berth 1 ps --filter publish=8080:80
	assert_contains "$output" "filter for 'publish' should not contain ':'"
	run_berth 1 ps --filter expose=80a
	assert_contains "$output" "expose 80a"
}

@test "a container reaches its own published port through the host (hairpin)" {
	p=$(free_port)
	run_berth run -d --name hair -p "$p:80" $IMG $(httpd)
	wait_http "http://127.0.0.1:$p/"
	run_berth exec hair wget -qO- "http://$NET.1:$p/"
	assert_equal "$output" "<h1>Welcome to nginx!</h1>"
	# And another container of the network too.
	run_berth run --rm $IMG wget -qO- "http://$NET.1:$p/"
	assert_equal "$output" "<h1>Welcome to nginx!</h1>"
}
