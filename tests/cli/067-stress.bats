#!/usr/bin/env bats
# Many containers: 200 sequential `run --rm`, 20 parallel `run -d` then `rm -f`, and nothing
# left afterwards: no mount, no cgroup, no runroot entry, no container directory, no process,
# no open file descriptor of any of them.

load helpers.containers

# A cgroup parent of this test's own (--cgroup-parent), so that the check sees only our
# containers' cgroups whatever else runs on the host.
CGP=berth-stress-$$

# cgroups: the container cgroups under our parent, in every hierarchy.
cgroups() {
	find /sys/fs/cgroup/*/"$CGP" /sys/fs/cgroup/"$CGP" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l
}

teardown() {
	local d
	for d in $(find /sys/fs/cgroup -maxdepth 2 -type d -name "$CGP" 2>/dev/null); do
		rmdir "$d" 2>/dev/null || true
	done
	local ids
	ids=$("$BERTH" ps -aq --no-trunc 2>/dev/null)
	[ -z "$ids" ] || "$BERTH" rm -f $ids >/dev/null 2>&1 || true
	berth_teardown
}

no_leftovers() {
	run_berth ps -aq
	assert_equal "$output" ""
	# A --rm container's monitor deletes its directory (hidden as .rm-<id> before `run`
	# got the exit code) and exits just after: give the last one a moment.
	# (test_pids reads every process's fds: only polled once the directory is gone.)
	local i
	for ((i = 0; i < 100; i++)); do
		[ -z "$(ls -A "$BERTH_ROOT/containers")" ] && break
		sleep 0.1
	done
	for ((i = 0; i < 20; i++)); do
		[ -z "$(test_pids)" ] && break
		sleep 0.1
	done
	assert_equal "$(ls -A "$BERTH_ROOT/containers")" ""
	assert_equal "$(ls -A "$BERTH_RUNROOT/containers" 2>/dev/null)" ""
	[[ "$(cat /proc/self/mountinfo)" != *"$TEST_DIR"* ]] || die "a mount below the test dir is left"
	assert_equal "$(cgroups)" 0
	assert_equal "$(ls /proc/$$/fd | wc -l)" "$1"
	[ -z "$(test_pids)" ] || die "processes left: $(test_pids)"
}

@test "stress: 200 sequential run --rm leave nothing behind" {
	local before
	before=$(ls /proc/$$/fd | wc -l)
	local i out
	for ((i = 0; i < 200; i++)); do
		out=$(berth run --rm --cgroup-parent "$CGP" $IMG echo "run $i") || die "run $i failed"
		[ "$out" = "run $i" ] || die "run $i printed: $out"
	done
	no_leftovers "$before"
}

@test "stress: 20 parallel run -d, then rm -f of all at once" {
	local before
	before=$(ls /proc/$$/fd | wc -l)
	local i pids=()
	for ((i = 0; i < 20; i++)); do
		"$BERTH" run -d --cgroup-parent "$CGP" --name "p$i" $IMG sh -c "echo ready $i; sleep 1000" >"$TEST_DIR/id.$i" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || die "a parallel run failed"
	done
	run_berth ps -q
	assert_equal "${#lines[@]}" 20
	assert_equal "$(cgroups)" "$(($(find /sys/fs/cgroup -maxdepth 2 -type d -name "$CGP" | wc -l) * 20))"
	run_berth ps --format '{{.Names}}'
	assert_equal "$(sort <<<"$output" | uniq | wc -l)" 20
	for ((i = 0; i < 20; i++)); do
		wait_until 5 sh -c "\"$BERTH\" logs p$i | grep -q 'ready $i'"
	done
	run_berth rm -f $(cat "$TEST_DIR"/id.*)
	assert_equal "${#lines[@]}" 20
	no_leftovers "$before"
}

@test "stress: parallel creates with random names never clash, parallel removes are clean" {
	local before i
	before=$(ls /proc/$$/fd | wc -l)
	# Wait for our own children by pid: a bare `wait` would also wait for the watchdog that
	# bats starts in this shell when BATS_TEST_TIMEOUT is set, until it fires.
	local pids=() p
	for ((i = 0; i < 20; i++)); do
		"$BERTH" create $IMG true >/dev/null &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || die "a parallel create failed"
	done
	run_berth ps -a --format '{{.Names}}'
	assert_equal "${#lines[@]}" 20
	assert_equal "$(sort <<<"$output" | uniq | wc -l)" 20
	pids=()
	for id in $(berth ps -aq); do
		"$BERTH" rm "$id" >/dev/null &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || die "a parallel rm failed"
	done
	no_leftovers "$before"
}

@test "stress: the same name from parallel creates goes to exactly one" {
	local i ok=0 pids=()
	for ((i = 0; i < 10; i++)); do
		"$BERTH" create --name same $IMG true >/dev/null 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" && ok=$((ok + 1))
	done
	assert_equal "$ok" 1
	run_berth ps -a --format '{{.Names}}'
	assert_equal "$output" "same"
}
