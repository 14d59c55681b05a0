#!/usr/bin/env bats
# Nothing of a gone container's network stays: no veth, no address, no DNAT rule, no
# conntrack entry; after a normal exit (the monitor's exit command), a stop, and a monitor
# killed with SIGKILL (repaired by network prune, the next run, or ps).

load helpers.network

# state_field ID KEY: a field of the container's state.json (MonitorPid, Pid).
state_field() {
	python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
		"$BERTH_ROOT/containers/$1/state.json" "$2"
}

# kill_monitor_and_container ID: SIGKILL to the monitor, then to the container's init: no
# exit command runs, the namespace dies with the container.
kill_monitor_and_container() {
	local m p
	m=$(state_field "$1" MonitorPid)
	p=$(state_field "$1" Pid)
	[ "$m" -gt 0 ] && [ "$p" -gt 0 ] || die "no pids for $1"
	kill -KILL "$m"
	kill -KILL "$p"
	wait_until 10 bash -c "! kill -0 $p 2>/dev/null && ! kill -0 $m 2>/dev/null"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::", 0)); print(s.getsockname()[1])'
}

# assert_clean IP...: no veth, address, rule or conntrack entry is left.
assert_clean() {
	assert_equal "$(veths)" 0
	assert_equal "$(endpoints)" 0
	assert_equal "$(port_rules)" 0
	assert_equal "$(conntrack_of "$@")" 0
	run find "$BERTH_ROOT/containers" -name net.json
	assert_equal "$output" ""
}

@test "100 run --rm -p cycles with traffic leave nothing behind" {
	p=$(free_port)
	ips=()
	for ((i = 0; i < 100; i++)); do
		id=$(berth run -d --rm -p "$p:80" $IMG httpd -f -p 80 -h /usr/share/nginx/html)
		ips+=("$(ip_of "$id")")
		wait_http "http://127.0.0.1:$p/"
		out=$(http_get "http://127.0.0.1:$p/")
		[ "$out" = "<h1>Welcome to nginx!</h1>" ] || die "cycle $i: $out"
		berth stop -t 0 "$id" >/dev/null
	done
	run_berth ps -aq
	assert_equal "$output" ""
	assert_clean "${ips[@]}"
	# Round-robin: no address came back while others were free.
	assert_equal "$(printf '%s\n' "${ips[@]}" | sort -u | wc -l)" 100
}

@test "a container that exits by itself, and one stopped, are cleaned up by their monitors" {
	p=$(free_port)
	run_berth run -d --name short -p "$p:80" $IMG sh -c 'sleep 0.5'
	ip=$(ip_of short)
	run_berth wait short
	wait_until 10 bash -c "[ \"\$(nft list chain ip ${PFX}_nat ports | grep -c berth:)\" = 0 ]"
	assert_clean "$ip"
	run_berth run -d --name long -p "$p:80" $IMG sleep 100
	ip=$(ip_of long)
	run_berth stop -t 1 long
	assert_clean "$ip"
	# And the port is free for the next one.
	run_berth start long
	run_berth port long 80
	assert_contains "$output" "0.0.0.0:$p"
}

@test "kill -9 of a monitor: network prune repairs" {
	p=$(free_port)
	run_berth run -d --name victim -p "$p:80" $IMG httpd -f -p 80 -h /usr/share/nginx/html
	id=$(berth inspect -f '{{.Id}}' victim)
	ip=$(ip_of victim)
	wait_http "http://127.0.0.1:$p/"
	kill_monitor_and_container "$id"
	# The rule and the address are still there: nobody ran the exit command.
	assert_equal "$(port_rules)" 1
	assert_equal "$(endpoints)" 1
	run_berth network prune -f
	assert_clean "$ip"
	run_berth inspect -f '{{.State.Status}} {{.State.ExitCode}}' victim
	assert_equal "$output" "exited 255"
}

@test "kill -9 of a monitor: the next run repairs, and gets the port" {
	p=$(free_port)
	run_berth run -d --name victim -p "$p:80" $IMG httpd -f -p 80 -h /usr/share/nginx/html
	id=$(berth inspect -f '{{.Id}}' victim)
	ip=$(ip_of victim)
	wait_http "http://127.0.0.1:$p/"
	kill_monitor_and_container "$id"
	run_berth run -d --name next -p "$p:80" $IMG httpd -f -p 80 -h /usr/share/nginx/html
	assert_equal "$(endpoints)" 1
	assert_equal "$(port_rules)" 1
	assert_equal "$(conntrack_of "$ip")" 0
	wait_http "http://127.0.0.1:$p/"
	run http_get "http://[::1]:$p/"
	assert_equal "$output" "<h1>Welcome to nginx!</h1>"
}

@test "kill -9 of a monitor: ps repairs; rm of such a container too" {
	p=$(free_port)
	run_berth run -d --name one -p "$p:80" $IMG sleep 100
	run_berth run -d --name two $IMG sleep 100
	kill_monitor_and_container "$(berth inspect -f '{{.Id}}' one)"
	ip2=$(ip_of two)
	run_berth ps --format '{{.Names}}'
	assert_equal "$output" "two"
	assert_equal "$(port_rules)" 0
	assert_equal "$(endpoints)" 1
	kill_monitor_and_container "$(berth inspect -f '{{.Id}}' two)"
	run_berth rm two
	assert_clean "$ip2"
}

@test "a monitor killed while its container runs: the network stays until the container goes" {
	p=$(free_port)
	run_berth run -d --name orphan -p "$p:80" $IMG httpd -f -p 80 -h /usr/share/nginx/html
	id=$(berth inspect -f '{{.Id}}' orphan)
	ip=$(ip_of orphan)
	wait_http "http://127.0.0.1:$p/"
	kill -KILL "$(state_field "$id" MonitorPid)"
	run_berth ps --format '{{.Names}} {{.Status}}'
	assert_contains "$output" "orphan Up"
	run_berth network prune -f
	# Still served over IPv4: DNAT needs no monitor (the IPv6 proxy died with it).
	run http_get "http://127.0.0.1:$p/"
	assert_equal "$output" "<h1>Welcome to nginx!</h1>"
	assert_equal "$(endpoints)" 1
	pid=$(state_field "$id" Pid)
	kill -KILL "$pid"
	wait_until 10 bash -c "! kill -0 $pid 2>/dev/null"
	run_berth network prune -f
	assert_clean "$ip"
}

@test "a restarted container keeps its network" {
	run_berth run -d --name again --restart on-failure:2 $IMG sh -c 'sleep 1; exit 3'
	ip=$(ip_of again)
	wait_until 20 bash -c "[ \"\$('$BERTH' inspect -f '{{.RestartCount}}' again)\" -ge 1 ]"
	wait_until 10 bash -c "[ \"\$('$BERTH' inspect -f '{{.State.Status}}' again)\" = running ]"
	assert_equal "$(ip_of again)" "$ip"
	run_berth exec again ping -c 1 -W 3 "$NET.1"
	assert_equal "$(endpoints)" 1
	# wait returns at each exit (as Docker's does); the last is the third run's.
	wait_until 30 bash -c "[ \"\$('$BERTH' inspect -f '{{.State.Status}} {{.RestartCount}}' again)\" = 'exited 2' ]"
	wait_until 10 bash -c "[ \"\$(ip -o link show master $PFX | wc -l)\" = 0 ]"
	assert_clean "$ip"
}
