#!/usr/bin/env bats
# What a default container sees: Docker's capabilities and seccomp, masked and read-only
# /proc paths, its own pid/uts/ipc/net/mount/cgroup namespaces, /dev, and no host mount.

load helpers.containers

@test "isolation: CapEff a80425fb, Seccomp 2, no new privileges off, as Docker" {
	run_berth run --rm $IMG grep -E '^(CapEff|CapBnd|CapInh|CapAmb|Seccomp|NoNewPrivs):' /proc/self/status
	assert_contains "$output" "CapEff:	00000000a80425fb"
	assert_contains "$output" "CapBnd:	00000000a80425fb"
	assert_contains "$output" "CapInh:	0000000000000000"
	assert_contains "$output" "CapAmb:	0000000000000000"
	assert_contains "$output" "Seccomp:	2"
	assert_contains "$output" "NoNewPrivs:	0"
	# The filter refuses what Docker's profile refuses.
	run_berth 1 run --rm $IMG unshare -U true
	run_berth 1 run --rm --cap-add SYS_ADMIN --security-opt seccomp=unconfined $IMG sh -c 'mount -t tmpfs x /tmp && umount /tmp && echo mounted; exit 1'
	assert_contains "$output" "mounted"
}

@test "isolation: masked paths unreadable, /proc/sys read-only" {
	run_berth run --rm $IMG sh -c 'for p in /proc/keys /proc/timer_list; do [ -e $p ] && [ -z "$(cat $p)" ] && echo "$p empty"; done; ls /sys/firmware | wc -l'
	assert_contains "$output" "/proc/keys empty"
	assert_contains "$output" "/proc/timer_list empty"
	assert_equal "${lines[-1]}" "0"
	run_berth 1 run --rm $IMG sh -c 'echo 1 > /proc/sys/kernel/domainname'
	assert_contains "$output" "Read-only file system"
	run_berth 1 run --rm $IMG sh -c 'echo x > /proc/sysrq-trigger'
	run_berth 1 run --rm $IMG touch /sys/x
}

@test "isolation: own pid, uts, ipc, net and cgroup namespaces" {
	run_berth run --rm $IMG ps -o pid,comm
	assert_equal "$(tr -s ' ' <<<"$output")" "$(printf 'PID COMMAND\n 1 ps')"
	for ns in pid uts ipc net mnt cgroup; do
		run_berth run --rm $IMG readlink /proc/self/ns/$ns
		[ "$output" != "$(readlink /proc/self/ns/$ns)" ] || die "$ns namespace is the host's"
	done
	run_berth run --rm $IMG cat /proc/self/cgroup
	while read -r line; do
		[ "${line##*:}" = "/" ] || die "cgroup namespace root: $line"
	done <<<"$output"
	run_berth run --rm --network none $IMG sh -c 'ip link 2>/dev/null | grep -c "^[0-9]"; cat /sys/class/net/lo/operstate'
	assert_equal "${lines[0]}" "1"
	run_berth run --rm -h iso $IMG sh -c 'hostname; cat /etc/hostname; grep -c localhost /etc/hosts'
	assert_equal "$output" "$(printf 'iso\niso\n2')"
}

@test "isolation: the root filesystem is the image's, nothing of the host's is mounted" {
	# Only the three /etc files come from the host (as Docker's do).
	run_berth run --rm $IMG sh -c 'cat /proc/self/mountinfo'
	[[ "$(grep -v -E ' /etc/(hostname|hosts|resolv.conf) ' <<<"$output")" != *"$TEST_DIR"* ]] ||
		die "a host path shows in mountinfo: $output"
	[[ "$(head -n1 <<<"$output")" == *" / / "*overlay* ]] || die "root: $(head -n1 <<<"$output")"
	run_berth run --rm $IMG ls /
	assert_equal "$(sort <<<"$output" | tr '\n' ' ')" \
		"bin dev etc proc root sys tmp usr var "
	# Writes go to the container's upper dir, never to the image's layers.
	run_berth run --name w1 $IMG sh -c 'echo new >/etc/newfile; rm /bin/ls'
	run_berth run --rm $IMG sh -c 'ls /etc/newfile 2>&1; ls /bin/ls'
	assert_contains "$output" "No such file"
	assert_contains "$output" "/bin/ls"
	[ -f "$(berth inspect -f '{{.GraphDriver.Data.UpperDir}}' w1)/etc/newfile" ]
	# A symlink in the image cannot point a mount at the host.
	run_berth run --rm -v "$TEST_DIR:/etc/x" $IMG sh -c 'ls /etc/x >/dev/null && echo mounted-inside'
	assert_equal "$output" "mounted-inside"
}

@test "isolation: Docker's /dev" {
	run_berth run --rm $IMG ls /dev
	assert_equal "$(tr '\n' ' ' <<<"$output")" \
		"core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero "
	run_berth run --rm -t $IMG ls /dev/console
	run_berth 1 run --rm $IMG sh -c 'mknod /tmp/sda b 8 0 && head -c1 /tmp/sda'
}

@test "isolation: --pid is the container's, host processes are invisible" {
	sleep 123 &
	local mine=$!
	run_berth run --rm $IMG ps -o args
	[[ "$output" != *"sleep 123"* ]] || die "a host process is visible"
	kill $mine
}
