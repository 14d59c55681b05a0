#!/usr/bin/env bats
# berth run's flags for mounts, the root filesystem, privileges, seccomp, --init, rlimits,
# stop signal and timeout, restart policy checks: each seen from inside the container.

load helpers.containers

# A loop device a test attached goes, whatever the test's outcome (called by teardown).
test_teardown() {
	[ -z "${LOOPDEV:-}" ] || losetup -d "$LOOPDEV" || true
}

@test "run -v: bind mounts, read-only, missing host dirs made, bad specs refused" {
	mkdir "$TEST_DIR/vol"
	echo host-data >"$TEST_DIR/vol/f"
	run_berth run --rm -v "$TEST_DIR/vol:/data" $IMG sh -c 'cat /data/f; echo from-ctr >/data/g'
	assert_equal "$output" "host-data"
	assert_equal "$(cat "$TEST_DIR/vol/g")" "from-ctr"
	run_berth 1 run --rm -v "$TEST_DIR/vol:/data:ro" $IMG sh -c 'cat /data/f; touch /data/h'
	assert_contains "$output" "Read-only file system"
	[ ! -e "$TEST_DIR/vol/h" ]
	run_berth run --rm -v "$TEST_DIR/new/dir:/x" $IMG true
	[ -d "$TEST_DIR/new/dir" ]
	# A single file, and nested mounts in the right order whatever the flag order.
	run_berth run --rm -v "$TEST_DIR/vol/f:/etc/motd:ro" -v "$TEST_DIR/vol:/a/b" \
		-v "$TEST_DIR/new:/a" $IMG sh -c 'cat /etc/motd /a/b/f'
	assert_equal "$output" "$(printf 'host-data\nhost-data')"
	run_berth 125 run --rm -v named:/x $IMG true
	assert_contains "$output" "named volumes are not supported yet"
	run_berth 125 run --rm -v /x $IMG true
	assert_contains "$output" "anonymous volumes are not supported yet"
	run_berth 125 run --rm -v "$TEST_DIR/vol:relative" $IMG true
	assert_contains "$output" "must be absolute"
	run_berth 125 run --rm -v "$TEST_DIR/vol:/x:bogus" $IMG true
	assert_contains "$output" "invalid mode: bogus"
	run_berth 125 run --rm -v "$TEST_DIR/vol:/x" -v "$TEST_DIR/new:/x" $IMG true
	assert_contains "$output" "Duplicate mount point: /x"
	run_berth inspect -f '{{json .Mounts}}' "$(berth create -v "$TEST_DIR/vol:/data:ro" $IMG true)"
	assert_equal "$output" "[{\"Type\":\"bind\",\"Source\":\"$TEST_DIR/vol\",\"Destination\":\"/data\",\"Mode\":\"ro\",\"RW\":false,\"Propagation\":\"rprivate\"}]"
}

@test "run --mount and --tmpfs" {
	mkdir "$TEST_DIR/src"
	run_berth run --rm --mount "type=bind,source=$TEST_DIR/src,target=/m,readonly" $IMG \
		sh -c 'grep " /m " /proc/self/mountinfo'
	assert_contains "$output" " ro"
	run_berth 125 run --rm --mount "type=bind,source=$TEST_DIR/missing,target=/m" $IMG true
	assert_contains "$output" "bind source path does not exist: $TEST_DIR/missing"
	run_berth run --rm --mount "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770" $IMG \
		sh -c 'stat -c %a /t; grep " /t " /proc/mounts'
	assert_contains "$output" "1770"
	assert_contains "$output" "size=1024k"
	run_berth 125 run --rm --mount "type=volume,target=/v" $IMG true
	assert_contains "$output" "volumes are not supported yet"
	run_berth run --rm --tmpfs /scratch:size=2m,mode=700 $IMG sh -c 'grep " /scratch " /proc/mounts'
	assert_contains "$output" "size=2048k"
	assert_contains "$output" "nosuid,nodev,noexec"
	run_berth 125 run --rm --tmpfs /s:bogus $IMG true
	assert_contains "$output" "invalid tmpfs option"
}

@test "run --read-only: the root is read-only, mounts and /dev/shm stay writable" {
	run_berth 1 run --rm --read-only $IMG touch /x
	assert_contains "$output" "Read-only file system"
	run_berth run --rm --read-only --tmpfs /tmp $IMG sh -c 'touch /tmp/x /dev/shm/y && echo ok'
	assert_equal "$output" "ok"
	run_berth inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$(berth create --read-only $IMG true)"
	assert_equal "$output" "true"
}

@test "run --cap-add, --cap-drop, --privileged" {
	run_berth run --rm $IMG grep CapEff /proc/self/status
	assert_contains "$output" "00000000a80425fb"
	run_berth run --rm --cap-drop ALL --cap-add CHOWN $IMG grep CapEff /proc/self/status
	assert_contains "$output" "0000000000000001"
	run_berth run --rm --cap-add NET_ADMIN --cap-drop chown $IMG grep CapEff /proc/self/status
	assert_contains "$output" "00000000a80435fa"
	run_berth 1 run --rm --cap-drop CHOWN $IMG chown 1000 /tmp
	assert_contains "$output" "Operation not permitted"
	run_berth 125 run --rm --cap-add NOT_A_CAP $IMG true
	assert_contains "$output" "NOT_A_CAP"
	# Privileged: every capability we hold, no seccomp, nothing masked.
	run_berth run --rm --privileged $IMG grep -E "^(CapEff|Seccomp):" /proc/self/status
	assert_contains "$output" "Seccomp:	0"
	[[ "$output" != *"CapEff:	00000000a80425fb"* ]] || die "privileged has the default set: $output"
	run_berth run --rm --privileged $IMG sh -c 'grep -c " /proc/timer_list " /proc/self/mountinfo; true'
	assert_equal "$output" "0"
	run_berth run --rm $IMG sh -c 'grep -c " /proc/timer_list " /proc/self/mountinfo'
	assert_equal "$output" "1"
}

@test "run --privileged: the host's devices, usable; /sys writable" {
	command -v losetup >/dev/null || skip "no losetup"
	# A loop device this test attaches, holding known bytes: the host's node, as the host has it.
	printf 'berth-privileged-%s' "$BATS_TEST_NUMBER" >"$TEST_DIR/disk"
	truncate -s 1M "$TEST_DIR/disk"
	LOOPDEV=$(losetup -f --show "$TEST_DIR/disk") || skip "no free loop device"
	local dev=$LOOPDEV want
	want=$(stat -c '%F %t:%T %a' "$dev")
	run_berth run --rm --privileged $IMG stat -c '%F %t:%T %a' "$dev"
	assert_equal "$output" "$want"
	# The device cgroup lets the container read it.
	run_berth run --rm --privileged $IMG head -c 19 "$dev"
	assert_equal "$output" "berth-privileged-$BATS_TEST_NUMBER"
	# /sys is mounted read-write; a default container has it read-only and lacks the node.
	run_berth run --rm --privileged $IMG sh -c 'grep " /sys " /proc/self/mountinfo'
	assert_contains "$output" " rw,"
	run_berth run --rm $IMG sh -c 'grep " /sys " /proc/self/mountinfo'
	assert_contains "$output" " ro,"
	run_berth 1 run --rm $IMG test -e "$dev"
	# pts stays the container's own instance, not the host's.
	run_berth run --rm --privileged $IMG sh -c 'grep -c " /dev/pts " /proc/self/mountinfo'
	assert_equal "$output" "1"
}

@test "run --security-opt: no-new-privileges, seccomp=unconfined, a profile file" {
	run_berth run --rm --security-opt no-new-privileges $IMG grep NoNewPrivs /proc/self/status
	assert_contains "$output" "NoNewPrivs:	1"
	run_berth run --rm $IMG grep NoNewPrivs /proc/self/status
	assert_contains "$output" "NoNewPrivs:	0"
	run_berth run --rm --security-opt seccomp=unconfined $IMG grep '^Seccomp:' /proc/self/status
	assert_contains "$output" "Seccomp:	0"
	# A profile that refuses mkdir with EPERM and allows the rest; it is copied into the
	# container at create, so the file may go away before start.
	cat >"$TEST_DIR/profile.json" <<-'EOF'
	{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}
	EOF
	local id
	id=$(berth create --security-opt "seccomp=$TEST_DIR/profile.json" $IMG mkdir /x)
	rm "$TEST_DIR/profile.json"
	run_berth 1 start -a "$id"
	assert_contains "$output" "Operation not permitted"
	run_berth 125 run --rm --security-opt "seccomp=$TEST_DIR/missing.json" $IMG true
	assert_contains "$output" "opening seccomp profile ($TEST_DIR/missing.json) failed"
	echo '{"defaultAction":"SCMP_ACT_NOPE"}' >"$TEST_DIR/bad.json"
	run_berth 125 run --rm --security-opt "seccomp=$TEST_DIR/bad.json" $IMG true
	assert_contains "$output" "SCMP_ACT_NOPE"
	run_berth 125 run --rm --security-opt bogus $IMG true
	assert_contains "$output" 'invalid --security-opt 2: "bogus"'
}

@test "run --init: berth-init is PID 1, forwards signals, reaps orphans" {
	run_berth run --rm --init $IMG ps -o pid,comm
	assert_contains "$output" "1 berth-init"
	run_berth run --rm --init $IMG sh -c 'echo $$'
	assert_equal "$output" "2"
	# An orphan left by a daemonising child is reaped: no zombie stays.
	run_berth run --rm --init $IMG sh -c '(sh -c "sleep 0.1 &" ) ; sleep 0.5; ps -o stat | grep -c Z || true'
	assert_equal "$output" "0"
	# A plain sleep under --init stops at once on SIGTERM (no 10 s wait for SIGKILL).
	run_berth run -d --init --name i1 $IMG sleep 100
	local t0=$SECONDS
	run_berth stop i1
	[ $((SECONDS - t0)) -lt 5 ] || die "stop under --init took $((SECONDS - t0)) s"
	run_berth inspect -f '{{.State.ExitCode}}' i1
	assert_equal "$output" "143"
	run_berth inspect -f '{{.HostConfig.Init}} {{.Path}}' i1
	assert_equal "$output" "true sleep"
}

@test "run --ulimit: applied, clamped to our hard limit, bad ones refused" {
	run_berth run --rm --ulimit nofile=1024:2048 $IMG sh -c 'echo $(ulimit -n) $(ulimit -Hn)'
	assert_equal "$output" "1024 2048"
	local hard
	hard=$(ulimit -Hn)
	run_berth run --rm --ulimit nofile=100000:100000 $IMG sh -c 'ulimit -Hn'
	[ "$output" -le 100000 ] && [ "$output" -ge "$((hard < 100000 ? hard : 100000))" ] ||
		die "nofile hard limit $output (ours $hard)"
	run_berth 125 run --rm --ulimit nofile=10:5 $IMG true
	run_berth 125 run --rm --ulimit bogus=1 $IMG true
	run_berth inspect -f '{{json .HostConfig.Ulimits}}' "$(berth create --ulimit nproc=50 $IMG true)"
	assert_equal "$output" '[{"Name":"nproc","Hard":50,"Soft":50}]'
}

@test "run --stop-signal and --stop-timeout are what stop uses" {
	run_berth run -d --name s1 --stop-signal USR1 $IMG sh -c 'trap "echo usr1; exit 11" USR1; while :; do sleep 0.1; done'
	run_berth stop s1
	run_berth inspect -f '{{.State.ExitCode}} {{.Config.StopSignal}}' s1
	assert_equal "$output" "11 USR1"
	run_berth logs s1
	assert_equal "$output" "usr1"
	run_berth run -d --name s2 --stop-timeout 1 $IMG sleep 100
	local t0=$SECONDS
	run_berth stop s2
	[ $((SECONDS - t0)) -lt 4 ] || die "stop took $((SECONDS - t0)) s with --stop-timeout 1"
	run_berth inspect -f '{{.State.ExitCode}} {{.Config.StopTimeout}}' s2
	assert_equal "$output" "137 1"
	run_berth 125 run --rm --stop-signal NOPE $IMG true
	assert_contains "$output" "Invalid signal: NOPE"
}

@test "run --restart: policies checked, recorded, conflicting with --rm" {
	run_berth 125 run --rm --restart always $IMG true
	assert_contains "$output" "Conflicting options: --restart and --rm"
	run_berth 125 run -d --restart sometimes $IMG true
	assert_contains "$output" "invalid restart policy"
	run_berth 125 run -d --restart always:3 $IMG true
	run_berth inspect -f '{{json .HostConfig.RestartPolicy}}' "$(berth create --restart on-failure:3 $IMG true)"
	assert_equal "$output" '{"Name":"on-failure","MaximumRetryCount":3}'
}

@test "run --cpus, --memory, --cpu-shares, --pids-limit: checked like Docker" {
	run_berth 125 run --rm --memory 1m $IMG true
	assert_contains "$output" "Minimum memory limit allowed is 6MB"
	run_berth 125 run --rm --memory-swap 1g $IMG true
	assert_contains "$output" "You should always set the Memory limit when using Memoryswap limit"
	run_berth 125 run --rm --cpus 1000 $IMG true
	run_berth 125 run --rm --memory lots $IMG true
	run_berth inspect -f '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}}' \
		"$(berth create -m 64m --cpus 0.5 --pids-limit 20 -c 512 $IMG true)"
	assert_equal "$output" "67108864 500000000 20 512"
}
