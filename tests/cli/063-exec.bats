#!/usr/bin/env bats
# berth exec: a process joins a running container's namespaces, cgroup and confinement;
# Docker's flags (-d -i -t -u -e -w --privileged) and exit codes.

load helpers.containers

start_box() {
	run_berth run -d --name box -h boxhost -e FROMRUN=1 -w /tmp $IMG sleep 1000
}

@test "exec: same namespaces, cgroup and root as the container" {
	start_box
	local pid
	pid=$(berth inspect -f '{{.State.Pid}}' box)
	run_berth exec box sh -c 'hostname; pwd; echo $FROMRUN; ps -o pid,comm | awk "\$2 == \"sleep\" {print \$1}"'
	assert_equal "$output" "$(printf 'boxhost\n/tmp\n1\n1')"
	for ns in mnt uts ipc net pid cgroup; do
		run_berth exec box readlink /proc/self/ns/$ns
		assert_equal "$output" "$(readlink /proc/$pid/ns/$ns)"
	done
	run_berth exec box cat /proc/self/cgroup
	assert_equal "$output" "$(berth exec box cat /proc/1/cgroup)"
	# The exec'd process is in the container's cgroup on the host.
	berth exec -d box sleep 77
	wait_until 5 sh -c "\"$BERTH\" top box | grep -q 'sleep 77'"
	run_berth exec box sh -c 'echo x > /tmp/written-by-exec'
	run_berth exec box cat /tmp/written-by-exec
	assert_equal "$output" "x"
}

@test "exec: the exit status, 126 and 127, stopped and missing containers" {
	start_box
	run_berth 3 exec box sh -c 'exit 3'
	run_berth 127 exec box no-such-cmd
	assert_contains "$output" 'exec: "no-such-cmd": executable file not found in $PATH'
	run_berth 126 exec box /etc
	run_berth 126 exec -w /no/such/dir box true
	assert_contains "$output" "/no/such/dir"
	run_berth 1 exec nosuch true
	assert_equal "$output" "Error: No such container: nosuch"
	run_berth 1 exec box
	assert_contains "$output" '"berth exec" requires at least 2 arguments.'
	run_berth stop -t 0 box
	run_berth 1 exec box true
	assert_contains "$output" "is not running"
}

@test "exec -u, -e, -w, --env-file" {
	start_box
	run_berth exec -u user1 box sh -c 'id -u; echo $HOME'
	assert_equal "$output" "$(printf '1000\n/home/user1')"
	run_berth exec -u 1000:65534 box sh -c 'echo $(id -u):$(id -g)'
	assert_equal "$output" "1000:65534"
	run_berth 1 exec -u nobodyhere box true
	assert_contains "$output" "unable to find user nobodyhere"
	run_berth exec -e FROMRUN=2 -e NEW=3 box sh -c 'echo $FROMRUN $NEW'
	assert_equal "$output" "2 3"
	run_berth exec -w /etc box pwd
	assert_equal "$output" "/etc"
	printf 'EF=file\n' >"$TEST_DIR/envf"
	run_berth exec --env-file "$TEST_DIR/envf" box sh -c 'echo $EF'
	assert_equal "$output" "file"
	run_berth exec box sh -c 'echo $HOME $HOSTNAME'
	assert_equal "$output" "/root boxhost"
}

@test "exec: the container's confinement, and --privileged's capabilities" {
	start_box
	run_berth exec box grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status
	assert_contains "$output" "CapEff:	00000000a80425fb"
	assert_contains "$output" "Seccomp:	2"
	run_berth exec -u user1 box grep CapEff /proc/self/status
	assert_contains "$output" "CapEff:	0000000000000000"
	run_berth exec --privileged box grep CapEff /proc/self/status
	[[ "$output" != *a80425fb* ]] || die "privileged exec kept the default set"
	run_berth run -d --name nnp --security-opt no-new-privileges --cap-drop ALL $IMG sleep 100
	run_berth exec nnp grep -E '^(CapEff|NoNewPrivs):' /proc/self/status
	assert_contains "$output" "CapEff:	0000000000000000"
	assert_contains "$output" "NoNewPrivs:	1"
}

@test "exec -i and -t" {
	start_box
	run_berth exec -i box cat <<<"to stdin"
	assert_equal "$output" "to stdin"
	run_berth exec box cat <<<"not read"
	assert_equal "$output" ""
	run pty_run 21 77 s:1 -- "$BERTH" exec -it box sh -c 'tty; stty size; echo $TERM'
	assert_contains "$output" "/dev/pts/"
	assert_contains "$output" "21 77"
	assert_contains "$output" "xterm"
	assert_contains "$output" "EXIT=0"
	run pty_run 24 80 s:0.8 'w:echo $((3*4))\r' s:0.5 'w:exit 5\r' s:0.5 -- "$BERTH" exec -it box sh
	assert_contains "$output" "12"
	assert_contains "$output" "EXIT=5"
	# The container's devpts: the host's ptys are not visible there.
	run_berth exec box ls /dev/pts
	[[ "$output" == ptmx ]] || [[ "$output" == *ptmx* ]] || die "devpts: $output"
}

@test "exec -d: runs on after exec returns" {
	start_box
	run_berth exec -d box sh -c 'sleep 0.3; echo done >/tmp/bg'
	assert_equal "$output" ""
	wait_until 5 sh -c "\"$BERTH\" exec box cat /tmp/bg 2>/dev/null | grep -q done"
	# Killing the container takes the exec'd processes with it. Only this container's
	# sleep counts (by its cgroup): another on the machine may have the same command line.
	local id
	id=$(berth inspect -f '{{.Id}}' box)
	berth exec -d box sleep 500
	wait_until 5 sh -c "for p in \$(pgrep -f 'sleep 500'); do grep -q $id /proc/\$p/cgroup && echo \$p; done >'$TEST_DIR/pids'; [ -s '$TEST_DIR/pids' ]"
	run_berth rm -f box
	local p
	for p in $(cat "$TEST_DIR/pids"); do
		! tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'sleep 500' ||
			die "the exec'd process $p outlived its container"
	done
}
