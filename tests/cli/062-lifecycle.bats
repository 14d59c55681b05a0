#!/usr/bin/env bats
# The lifecycle commands: start, stop (timeout then SIGKILL), kill, restart, pause/unpause,
# rm, wait, rename, attach (detach and re-attach), container prune, restart policies, the
# state after a killed monitor, and rmi refusing images that containers use.

load helpers.containers

@test "stop: the stop signal, the timeout, then SIGKILL; stopped containers stay stopped" {
	run_berth run -d --name s1 $IMG sleep 100
	local t0=$SECONDS
	# PID 1 ignores SIGTERM it has no handler for: the SIGKILL ends it after -t.
	run_berth stop -t 1 s1
	assert_equal "$output" "s1"
	local took=$((SECONDS - t0))
	[ "$took" -ge 1 ] && [ "$took" -lt 5 ] || die "stop -t 1 took $took s"
	run_berth inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}' s1
	assert_equal "$output" "exited 137 false"
	# Stopping again is fine, as in Docker.
	run_berth stop s1
	assert_equal "$output" "s1"
	run_berth 1 stop nosuch
	assert_equal "$output" "Error: No such container: nosuch"
	# A handled SIGTERM: no waiting.
	run_berth run -d --name t1 $IMG sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'
	t0=$SECONDS
	run_berth stop t1
	[ $((SECONDS - t0)) -lt 3 ] || die "a handled TERM still waited"
	run_berth inspect -f '{{.State.ExitCode}}' t1
	assert_equal "$output" "0"
	# stop -s picks another signal.
	run_berth run -d --name h1 $IMG sh -c 'trap "exit 7" HUP; while :; do sleep 0.1; done'
	run_berth stop -s HUP h1
	run_berth inspect -f '{{.State.ExitCode}}' h1
	assert_equal "$output" "7"
}

@test "stop: every process of the container goes, not only its init" {
	run_berth run -d --name tree $IMG sh -c 'sleep 100 & sleep 100 & sleep 100'
	local id
	id=$(berth inspect -f '{{.Id}}' tree)
	wait_until 5 sh -c "[ \$(\"$BERTH\" top tree | grep -c 'sleep 100') -eq 3 ]"
	run_berth stop -t 0 tree
	run_berth inspect -f '{{.State.Status}}' tree
	assert_equal "$output" "exited"
	[ -z "$(cgroup_dirs "$id")" ] || die "cgroup left: $(cgroup_dirs "$id")"
	run pgrep -f 'sleep 100'
	for p in $output; do
		grep -q "$id" "/proc/$p/cgroup" 2>/dev/null && die "process $p of the container is alive"
	done
	true
}

logs_say() { "$BERTH" logs "$1" 2>/dev/null | grep -qx "$2"; }

@test "kill: a signal to the container's init; errors for stopped containers" {
	run_berth run -d --name k1 $IMG sh -c 'trap "echo usr1; exit 3" USR1; echo ready; while :; do sleep 0.1; done'
	# The container's init ignores a signal it has no handler for: send it once the trap is set.
	wait_until 10 logs_say k1 ready
	run_berth kill -s USR1 k1
	assert_equal "$output" "k1"
	wait_until 5 is_status k1 exited
	run_berth inspect -f '{{.State.ExitCode}}' k1
	assert_equal "$output" "3"
	run_berth 1 kill k1
	assert_contains "$output" "is not running"
	run_berth run -d --name k9 $IMG sleep 100
	run_berth kill k9
	wait_until 5 is_status k9 exited
	run_berth inspect -f '{{.State.ExitCode}}' k9
	assert_equal "$output" "137"
	run_berth 1 kill -s NOSIG k9
	assert_contains "$output" "invalid signal: NOSIG"
}

@test "restart: a stopped or running container runs again, StartedAt moves" {
	run_berth run -d --name r1 $IMG sh -c 'echo run; sleep 100'
	local first
	first=$(berth inspect -f '{{.State.StartedAt}}' r1)
	run_berth restart -t 0 r1
	assert_equal "$output" "r1"
	run_berth inspect -f '{{.State.Status}}' r1
	assert_equal "$output" "running"
	[ "$(berth inspect -f '{{.State.StartedAt}}' r1)" != "$first" ] || die "StartedAt did not change"
	wait_until 5 sh -c "[ \$(\"$BERTH\" logs r1 | grep -c run) -eq 2 ]"
	run_berth stop -t 0 r1
	run_berth restart r1
	run_berth inspect -f '{{.State.Status}}' r1
	assert_equal "$output" "running"
}

@test "pause and unpause: frozen processes, Docker's statuses and errors" {
	run_berth run -d --name p1 $IMG sh -c 'i=0; while :; do i=$((i+1)); echo $i >/tmp/n; sleep 0.05; done'
	local id
	id=$(berth inspect -f '{{.Id}}' p1)
	run_berth pause p1
	assert_equal "$output" "p1"
	run_berth inspect -f '{{.State.Status}} {{.State.Paused}} {{.State.Running}}' p1
	assert_equal "$output" "paused true true"
	run_berth ps --format '{{.Status}}'
	assert_contains "$output" "(Paused)"
	local frozen
	frozen=$(grep -h -s . /sys/fs/cgroup/freezer/berth/$id/freezer.state /sys/fs/cgroup/unified/berth/$id/cgroup.freeze | head -1)
	[[ $frozen == FROZEN || $frozen == 1 ]] || die "freezer says $frozen"
	run_berth 1 pause p1
	assert_contains "$output" "is already paused"
	run_berth 1 exec p1 true
	assert_contains "$output" "is paused"
	run_berth 1 attach p1
	assert_contains "$output" "You cannot attach to a paused container"
	run_berth unpause p1
	run_berth inspect -f '{{.State.Status}}' p1
	assert_equal "$output" "running"
	run_berth 1 unpause p1
	assert_contains "$output" "is not paused"
	# A paused container can be stopped: it is thawed to take its signal.
	run_berth pause p1
	run_berth stop -t 1 p1
	run_berth inspect -f '{{.State.Status}}' p1
	assert_equal "$output" "exited"
	run_berth 1 pause p1
	assert_contains "$output" "is not running"
}

@test "rm: refuses running containers without -f; -f kills; several at once" {
	run_berth run -d --name a1 $IMG sleep 100
	run_berth 1 rm a1
	assert_contains "$output" 'cannot remove container "/a1": container is running: stop the container before removing or force remove'
	run_berth rm -f a1
	assert_equal "$output" "a1"
	run_berth create --name b1 $IMG true
	run_berth create --name c1 $IMG true
	run_berth 1 rm b1 nosuch c1
	assert_equal "$(head -n2 <<<"$output")" "$(printf 'b1\nc1')"
	assert_contains "$output" "Error: No such container: nosuch"
	run_berth ps -aq
	assert_equal "$output" ""
	run_berth run -d --name v1 $IMG true
	wait_until 5 is_status v1 exited
	run_berth rm -v v1
}

@test "rm: a container seen exited while its monitor still cleans up is removed whole" {
	# The monitor records the exit first and its last state afterwards: rm must not
	# delete the directory under that write (it once failed 'Directory not empty').
	local i
	for ((i = 0; i < 30; i++)); do
		run_berth run -d --name r$i $IMG true
		until [ "$("$BERTH" inspect -f '{{.State.Status}}' r$i)" = exited ]; do :; done
		run_berth rm r$i
		assert_equal "$output" "r$i"
	done
	run_berth ps -aq
	assert_equal "$output" ""
	run ls -A "$BERTH_ROOT/containers"
	assert_equal "$output" ""
}

@test "wait: blocks until the exit and prints the codes" {
	run_berth run -d --name w1 $IMG sh -c 'sleep 0.5; exit 3'
	run_berth run -d --name w2 $IMG sh -c 'exit 4'
	run_berth wait w1 w2
	assert_equal "$output" "$(printf '3\n4')"
	run_berth create --name w3 $IMG true
	run_berth wait w3
	assert_equal "$output" "0"
	run_berth 1 wait nosuch
}

@test "rename: the new name everywhere, conflicts refused" {
	run_berth run -d --name old $IMG sleep 100
	run_berth create --name taken $IMG true
	run_berth rename old new
	run_berth ps --format '{{.Names}}'
	assert_equal "$output" "new"
	run_berth 1 inspect old
	run_berth 1 rename new taken
	assert_contains "$output" 'Conflict. The container name "/taken" is already in use'
	run_berth 1 rename new new
	assert_contains "$output" "Renaming a container with the same name as its current name"
	run_berth 1 rename new 'bad name'
	assert_contains "$output" "Invalid container name (bad name)"
	run_berth exec new true
}

@test "attach: detach with ctrl-p ctrl-q, re-attach, the exit code at the end" {
	run pty_run 24 80 s:0.8 'w:echo one\r' s:0.5 'w:\x10\x11' s:0.5 -- "$BERTH" run -it --name d1 $IMG sh
	assert_contains "$output" "one"
	assert_contains "$output" "EXIT=0"
	run_berth inspect -f '{{.State.Status}}' d1
	assert_equal "$output" "running"
	run pty_run 24 80 s:0.5 'w:echo two\r' s:0.5 'w:exit 6\r' s:0.5 -- "$BERTH" attach d1
	assert_contains "$output" "two"
	assert_contains "$output" "EXIT=6"
	wait_until 5 is_status d1 exited
	run_berth 1 attach d1
	assert_contains "$output" "You cannot attach to a stopped container, start it first"
	# Custom detach keys.
	run pty_run 24 80 s:0.8 'w:xy' s:0.5 -- "$BERTH" run -it --detach-keys x,y --name d2 $IMG sh
	assert_contains "$output" "EXIT=0"
	run_berth inspect -f '{{.State.Status}}' d2
	assert_equal "$output" "running"
}

@test "attach without a tty: output and stdin of a running container" {
	run_berth run -d -i --name cat $IMG sh -c 'while read l; do echo "got $l"; done'
	run_berth attach cat <<<"hello"
	assert_equal "$output" "got hello"
}

@test "restart policies: on-failure:N, always until stopped, no restart after kill" {
	run_berth run -d --name f1 --restart on-failure:2 $IMG sh -c 'exit 3'
	wait_until 20 sh -c "[ \"\$(\"$BERTH\" inspect -f '{{.State.Status}} {{.RestartCount}}' f1)\" = 'exited 2' ]"
	run_berth inspect -f '{{.State.ExitCode}}' f1
	assert_equal "$output" "3"
	run_berth logs f1
	run_berth run -d --name ok --restart on-failure $IMG true
	wait_until 5 is_status ok exited
	run_berth inspect -f '{{.RestartCount}}' ok
	assert_equal "$output" "0"
	run_berth run -d --name a1 --restart always $IMG sh -c 'echo x; sleep 0.3; exit 1'
	wait_until 20 sh -c "[ \$(\"$BERTH\" inspect -f '{{.RestartCount}}' a1) -ge 2 ]"
	run_berth stop a1
	run_berth inspect -f '{{.State.Status}}' a1
	assert_equal "$output" "exited"
	local n
	n=$(berth inspect -f '{{.RestartCount}}' a1)
	sleep 1
	assert_equal "$(berth inspect -f '{{.RestartCount}}' a1)" "$n"
	run_berth run -d --name u1 --restart unless-stopped $IMG sleep 100
	run_berth kill u1
	wait_until 5 is_status u1 exited
	sleep 0.5
	run_berth inspect -f '{{.State.Status}}' u1
	assert_equal "$output" "exited"
}

@test "state: ps tells the truth after a kill -9 of the monitor and of the container" {
	run_berth run -d --name m1 $IMG sleep 100
	local pid mon
	pid=$(berth inspect -f '{{.State.Pid}}' m1)
	mon=$(awk '{print $4}' "/proc/$pid/stat")
	grep -q berth-monitor "/proc/$mon/cmdline"
	kill -9 "$mon"
	sleep 0.2
	run_berth ps --format '{{.Names}} {{.State}}'
	assert_equal "$output" "m1 running"
	kill -9 "$pid"
	wait_until 5 sh -c "! kill -0 $pid 2>/dev/null || grep -q '^State:.*Z' /proc/$pid/status"
	run_berth ps -a --format '{{.Names}} {{.State}} {{.Status}}'
	[[ "$output" =~ ^"m1 exited Exited (255) " ]] || die "ps: $output"
	run_berth rm m1
}

@test "state: a record from another boot is not running" {
	run_berth run -d --name b1 $IMG sleep 100
	local id dir
	id=$(berth inspect -f '{{.Id}}' b1)
	dir=$BERTH_ROOT/containers/$id
	# As if the host had rebooted: the recorded boot id is another one. The processes
	# are real, so stop them first.
	local pid
	pid=$(berth inspect -f '{{.State.Pid}}' b1)
	jq -c '.BootId = "00000000-0000-0000-0000-000000000000"' "$dir/state.json" >"$dir/state.new"
	kill -STOP "$(awk '{print $4}' /proc/$pid/stat)"
	mv "$dir/state.new" "$dir/state.json"
	run_berth ps -a --format '{{.State}} {{.Status}}'
	[[ "$output" =~ ^"exited Exited (255)" ]] || die "ps: $output"
	kill -CONT "$(awk '{print $4}' /proc/$pid/stat)"
	kill -9 "$pid"
}

@test "container prune: removes stopped containers only, with filters" {
	run_berth run -d --name up $IMG sleep 100
	run_berth create --name c1 -l keep=1 $IMG true
	run_berth run --name e1 $IMG true
	run_berth container prune -f --filter label!=keep
	assert_contains "$output" "Deleted Containers:"
	run_berth ps -a --format '{{.Names}}'
	assert_equal "$(sort <<<"$output")" "$(printf 'c1\nup')"
	run_berth container prune -f
	run_berth ps -a --format '{{.Names}}'
	assert_equal "$output" "up"
	run_berth container prune <<<"n"
	assert_contains "$output" "Total reclaimed space: 0B"
}

@test "rmi: an image a container uses is refused; -f untags but keeps it" {
	run_berth run -d --name user $IMG sleep 100
	local iid
	iid=$(berth inspect -f '{{.Image}}' user)
	run_berth 1 rmi $IMG
	assert_contains "$output" "conflict: unable to remove repository reference \"$IMG\" (must force) - container"
	run_berth 1 rmi "$iid"
	assert_contains "$output" "(cannot be forced) - image is being used by running container"
	run_berth rmi -f $IMG
	assert_equal "$output" "Untagged: $IMG:latest"
	run_berth images -q --no-trunc
	assert_equal "$output" "$iid"
	run_berth image prune -a -f
	run_berth images -q --no-trunc
	assert_equal "$output" "$iid"
	# Still runs, and a stopped container keeps it too.
	run_berth exec user true
	run_berth stop -t 0 user
	run_berth 1 rmi "$iid"
	assert_contains "$output" "(must be forced) - image is being used by stopped container"
	run_berth rmi -f "$iid"
	run_berth images -q --no-trunc
	assert_equal "$output" "$iid"
	run_berth start user
	run_berth rm -f user
	run_berth rmi "$iid"
	assert_contains "$output" "Deleted: $iid"
}

@test "container commands accept the container group's names" {
	run_berth container create --name g1 $IMG sh -c 'echo hi'
	run_berth container start g1
	wait_until 5 is_status g1 exited
	run_berth container logs g1
	assert_equal "$output" "hi"
	run_berth container ls -a --format '{{.Names}}'
	assert_equal "$output" "g1"
	run_berth container inspect -f '{{.Name}}' g1
	assert_equal "$output" "/g1"
	run_berth 1 container inspect $IMG
	assert_contains "$output" "No such container: $IMG"
	run_berth container rm g1
	run_berth container run --rm $IMG true
}
