#!/usr/bin/env bats
# Resource limits seen from inside the container (its own cgroup files, through its cgroup
# namespace), a fork bomb held by --pids-limit, an OOM kill, rlimits clamped to ours.

load helpers.containers

# cg FILE...: the first readable of the files, from inside a container run with the
# remaining berth flags in $LIMITS.
cg_read() {
	berth run --rm $LIMITS $IMG sh -c "for f in $*; do [ -r /sys/fs/cgroup/\$f ] && { cat /sys/fs/cgroup/\$f; exit 0; }; done; exit 1"
}

@test "limits: --memory, --memory-swap, --cpus, --cpu-shares, --cpuset-cpus, --pids-limit in the cgroup files" {
	LIMITS="--memory 64m --cpus 1.5 --cpu-shares 512 --cpuset-cpus 0 --pids-limit 42"
	run cg_read memory/memory.limit_in_bytes memory.max
	assert_equal "$output" "67108864"
	run cg_read cpu/cpu.cfs_quota_us cpu.max
	[[ "$output" == 150000 || "$output" == "150000 100000" ]] || die "cpu: $output"
	run cg_read cpu/cpu.shares cpu.weight
	[[ "$output" == 512 || "$output" == 20 ]] || die "shares: $output"
	run cg_read cpuset/cpuset.cpus cpuset.cpus
	assert_equal "$output" "0"
	run cg_read pids/pids.max pids.max
	assert_equal "$output" "42"
	LIMITS="--memory 64m --memory-swap 128m"
	if [ -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ]; then
		run cg_read memory/memory.memsw.limit_in_bytes
		assert_equal "$output" "134217728"
	fi
	# No flags: no limits.
	LIMITS=""
	run cg_read pids/pids.max pids.max
	assert_equal "$output" "max"
}

@test "limits: a fork bomb is stopped by --pids-limit and the host is fine" {
	run_berth run -d --name bomb --pids-limit 30 $IMG sh -c 'b() { b | b & }; b; sleep 1000'
	local id
	id=$(berth inspect -f '{{.Id}}' bomb)
	sleep 2
	local cur
	cur=$(cat /sys/fs/cgroup/pids/berth/$id/pids.current 2>/dev/null ||
		cat /sys/fs/cgroup/berth/$id/pids.current)
	[ "$cur" -le 30 ] || die "pids.current $cur above the limit"
	local events
	events=$(grep -h max /sys/fs/cgroup/pids/berth/$id/pids.events /sys/fs/cgroup/berth/$id/pids.events 2>/dev/null | head -1)
	[ "${events##* }" -gt 0 ] || die "no fork was refused: $events"
	# The host can still start processes, and the container goes away cleanly.
	run true
	run_berth rm -f bomb
	[ -z "$(cgroup_dirs "$id")" ] || die "cgroup left: $(cgroup_dirs "$id")"
}

@test "limits: a container over --memory is OOM-killed and says so" {
	run berth run --name oom --memory 8m --memory-swap 8m $IMG sh -c 'x=$(head -c 64m /dev/zero | tr "\0" a); echo survived'
	[ "$status" -eq 137 ] || die "status $status: $output"
	run_berth inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' oom
	assert_equal "$output" "true 137"
}

@test "limits: --ulimit is clamped to our own hard limit" {
	local hard
	hard=$(ulimit -Hn)
	run_berth run --rm --ulimit "nofile=$((hard + 1000)):$((hard + 1000))" $IMG sh -c 'ulimit -Hn'
	assert_equal "$output" "$hard"
	run_berth run --rm --ulimit nproc=64:128 --ulimit core=0 $IMG sh -c 'echo $(ulimit -u) $(ulimit -Hu) $(ulimit -c)'
	assert_equal "$output" "64 128 0"
	# Without --ulimit the container keeps what the runtime has.
	run_berth run --rm $IMG sh -c 'ulimit -Hn'
	assert_equal "$output" "$hard"
}

@test "limits: --cpus restricts CPU time" {
	# 0.2 CPUs for a busy loop: at most about a fifth of the wall time as CPU time.
	run_berth run -d --name cpu --cpus 0.2 $IMG sh -c 'while :; do :; done'
	local id
	id=$(berth inspect -f '{{.Id}}' cpu)
	local f=/sys/fs/cgroup/cpuacct/berth/$id/cpuacct.usage
	[ -r "$f" ] || skip "no cpuacct controller"
	local a b
	a=$(cat "$f")
	sleep 2
	b=$(cat "$f")
	local used=$(((b - a) / 1000000))
	[ "$used" -lt 900 ] || die "used $used ms of CPU in 2 s with --cpus 0.2"
	[ "$used" -gt 100 ] || die "used only $used ms"
}
