#!/usr/bin/env bats
# berth run and create: real containers from an imported busybox image; Docker's output,
# exit codes (the container's, 125, 126, 127), the command from image and flags, ttys, stdin.

load helpers.containers

@test "run: the command's output and its exit status" {
	run_berth run --rm $IMG echo hello world
	assert_equal "$output" "hello world"
	run_berth 42 run --rm $IMG sh -c 'exit 42'
	run_berth 0 run --rm $IMG true
	run_berth 1 run --rm $IMG false
	# A signal is 128+N, as in Docker (under --init: PID 1 of a namespace ignores a
	# SIGKILL sent from inside).
	run_berth 137 run --rm --init $IMG sh -c 'kill -9 $$'
	run_berth 0 run --rm $IMG sh -c 'kill -9 $$'
}

@test "run: stdout and stderr stay separate without a tty" {
	run berth run --rm $IMG sh -c 'echo to-out; echo to-err >&2'
	[ "$status" -eq 0 ]
	out=$(berth run --rm $IMG sh -c 'echo to-out; echo to-err >&2' 2>/dev/null)
	assert_equal "$out" "to-out"
	err=$(berth run --rm $IMG sh -c 'echo to-out; echo to-err >&2' 2>&1 >/dev/null)
	assert_equal "$err" "to-err"
}

@test "run: 127 for a missing command, 126 for one that cannot run, 125 for engine errors" {
	run_berth 127 run --rm $IMG no-such-command
	assert_contains "$output" 'exec: "no-such-command": executable file not found in $PATH'
	run_berth 127 run --rm $IMG /no/such/file
	run_berth 126 run --rm $IMG /etc
	assert_contains "$output" "is a directory"
	run_berth 126 run --rm $IMG /etc/passwd
	assert_contains "$output" "permission denied"
	# After the image everything is the container's: this is a command, not a flag.
	run_berth 127 run --rm $IMG --no-such-flag
	run_berth 125 run --rm --no-such-flag $IMG true
	assert_contains "$output" "unknown flag: --no-such-flag"
	run_berth 125 run --rm -u nosuchuser $IMG true
	assert_contains "$output" "unable to find user nosuchuser: no matching entries in passwd file"
	# Nothing is left of the failed runs.
	run_berth ps -aq
	assert_equal "$output" ""
}

@test "run --pull never: a missing image says so (104-run-pull tests the pull itself)" {
	run_berth 125 run --rm --pull never nosuchimage true
	assert_contains "$output" "berth: run: No such image: nosuchimage"
	[[ "$output" != *"Pulling from"* ]] || die "pulled: $output"
	run_berth 125 run
	assert_contains "$output" '"berth run" requires at least 1 argument.'
}

@test "run: the image's Entrypoint, Cmd, Env, WorkingDir and User, and the flags over them" {
	local cfg='{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/echo","entry"],"Cmd":["from-cmd"],"Env":["PATH=/bin:/usr/bin","IMGVAR=img"],"WorkingDir":"/tmp","User":"user1"}}'
	make_busybox_tar "$TEST_DIR/l.tar"
	mkdir "$TEST_DIR/arch"
	mkdir "$TEST_DIR/arch/l0"
	mv "$TEST_DIR/l.tar" "$TEST_DIR/arch/l0/layer.tar"
	local diff
	diff=sha256:$(sha256sum "$TEST_DIR/arch/l0/layer.tar" | cut -d' ' -f1)
	jq -c --arg d "$diff" '.rootfs = {type: "layers", diff_ids: [$d]}' <<<"$cfg" >"$TEST_DIR/arch/config.json"
	local cid
	cid=$(sha256sum "$TEST_DIR/arch/config.json" | cut -d' ' -f1)
	mv "$TEST_DIR/arch/config.json" "$TEST_DIR/arch/$cid.json"
	echo "[{\"Config\":\"$cid.json\",\"RepoTags\":[\"cfg:1\"],\"Layers\":[\"l0/layer.tar\"]}]" >"$TEST_DIR/arch/manifest.json"
	tar -C "$TEST_DIR/arch" -cf "$TEST_DIR/cfg.tar" .
	berth load -i "$TEST_DIR/cfg.tar" >/dev/null

	run_berth run --rm cfg:1
	assert_equal "$output" "entry from-cmd"
	run_berth run --rm cfg:1 a b
	assert_equal "$output" "entry a b"
	run_berth run --rm --entrypoint /bin/sh cfg:1 -c 'echo $IMGVAR $(pwd) $(id -u) $PATH'
	assert_equal "$output" "img /tmp 1000 /bin:/usr/bin"
	run_berth run --rm --entrypoint "" -e IMGVAR=flag -w / -u 0 cfg:1 sh -c 'echo $IMGVAR $(pwd) $(id -u)'
	assert_equal "$output" "flag / 0"
	# --entrypoint alone drops the image's Cmd, as in Docker.
	run_berth run --rm --entrypoint /bin/echo cfg:1
	assert_equal "$output" ""
	run_berth inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Path}}' \
		"$(berth create cfg:1)"
	assert_equal "$output" '["/bin/echo","entry"] ["from-cmd"] /bin/echo'
}

@test "run: no command at all is an engine error" {
	run_berth 125 run --rm --entrypoint "" $IMG
	assert_contains "$output" "no command specified"
}

@test "run: the environment as Docker builds it" {
	run_berth run --rm -h myhost -e A=1 -e B $IMG env
	assert_contains "$output" "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	assert_contains "$output" "HOSTNAME=myhost"
	assert_contains "$output" "HOME=/root"
	assert_contains "$output" "A=1"
	[[ "$output" != *"B="* ]] || die "an unset -e B must not appear"
	B=from-host run_berth run --rm -e B $IMG sh -c 'echo $B'
	assert_equal "$output" "from-host"
	printf 'X=1\n# comment\n\n  Y=two words\nZ\n' >"$TEST_DIR/env"
	Z=zz run_berth run --rm --env-file "$TEST_DIR/env" $IMG sh -c 'echo "$X|$Y|$Z"'
	assert_equal "$output" "1|two words|zz"
	printf 'BAD KEY=1\n' >"$TEST_DIR/bad"
	run_berth 125 run --rm --env-file "$TEST_DIR/bad" $IMG true
	assert_contains "$output" "variable 'BAD KEY' contains whitespaces"
	run_berth run --rm -t $IMG sh -c 'echo $TERM'
	assert_equal "${output%$'\r'}" "xterm"
	run_berth run --rm -u user1 $IMG sh -c 'echo $HOME'
	assert_equal "$output" "/home/user1"
}

@test "run: -u names and numbers from the image's passwd and group" {
	run_berth run --rm -u user1 $IMG id
	assert_equal "$output" "uid=1000(user1) gid=1000(user1)"
	run_berth run --rm -u root $IMG id -G
	assert_equal "$output" "0"
	run_berth run --rm -u 1000:65534 $IMG id -u
	assert_equal "$output" "1000"
	run_berth run --rm -u nobody:user1 $IMG sh -c 'echo $(id -u):$(id -g)'
	assert_equal "$output" "65534:1000"
	# A number not in passwd is fine (gid 0), a name is not.
	run_berth run --rm -u 4242 $IMG sh -c 'echo $(id -u):$(id -g)'
	assert_equal "$output" "4242:0"
	run_berth 125 run --rm -u 0:nosuchgroup $IMG true
	assert_contains "$output" "unable to find group nosuchgroup: no matching entries in group file"
	run_berth run --rm --group-add 65534 --group-add user1 $IMG id -G
	assert_equal "$output" "0 1000 65534"
}

@test "run -d: prints the id, runs in the background, logs keep the output" {
	run_berth run -d $IMG sh -c 'echo started; sleep 100'
	local id=$output
	[[ $id =~ ^[0-9a-f]{64}$ ]] || die "not an id: $id"
	wait_until 5 is_status "$id" running
	wait_until 5 sh -c "\"$BERTH\" logs $id | grep -q started"
	run_berth ps -q
	assert_equal "$output" "${id:0:12}"
	run_berth rm -f "$id"
	assert_equal "$output" "$id"
	run_berth ps -aq
	assert_equal "$output" ""
}

@test "run --rm: the container is gone when run returns, also after a failed start" {
	run_berth run --rm --name gone $IMG true
	run_berth ps -aq
	assert_equal "$output" ""
	run_berth 127 run --rm $IMG nosuch
	run_berth ps -aq
	assert_equal "$output" ""
	# Without --rm the failed container stays "created", with the error.
	run_berth 127 run --name failed $IMG nosuch
	run_berth inspect -f '{{.State.Status}} {{.State.ExitCode}}' failed
	assert_equal "$output" "created 127"
	run_berth inspect -f '{{.State.Error}}' failed
	assert_contains "$output" "executable file not found"
	# -d --rm: removed by the monitor when it exits.
	local id
	id=$(berth run -d --rm $IMG sleep 0.2)
	wait_until 10 sh -c "! \"$BERTH\" inspect $id >/dev/null 2>&1"
}

@test "run -i: stdin reaches the container, its end closes the container's stdin" {
	run_berth run --rm -i $IMG cat <<<"line one"
	assert_equal "$output" "line one"
	head -c 300000 /dev/urandom >"$TEST_DIR/big"
	berth run --rm -i $IMG cat <"$TEST_DIR/big" >"$TEST_DIR/back"
	cmp "$TEST_DIR/big" "$TEST_DIR/back"
	# Without -i the container's stdin is empty.
	run_berth run --rm $IMG cat <<<"not read"
	assert_equal "$output" ""
}

@test "run -i: the exit code arrives while stdin still streams into a container that ended" {
	# The container exits without reading; our input is still queued at the monitor when
	# it ends. Its close must not cost us the exit code (ECONNRESET ahead of the queue).
	local i
	for ((i = 0; i < 20; i++)); do
		run_berth 3 run --rm -i $IMG sh -c 'echo out; exit 3' < <(yes input-line)
		assert_equal "$output" "out"
	done
}

@test "run -it: a real pty of the container's own devpts, raw input, the terminal's size" {
	run pty_run 33 101 s:1 -- "$BERTH" run --rm -it $IMG sh -c 'tty; stty size; exit 3'
	assert_contains "$output" "/dev/pts/0"
	assert_contains "$output" "33 101"
	assert_contains "$output" "EXIT=3"
	run pty_run 24 80 s:0.8 'w:echo $((6*7))\r' s:0.5 'w:exit 9\r' s:0.5 -- "$BERTH" run --rm -it $IMG sh
	assert_contains "$output" "42"
	assert_contains "$output" "EXIT=9"
	# -t without -i: output only.
	run_berth run --rm -t $IMG sh -c 'test -t 1 && echo tty'
	assert_equal "${output%$'\r'}" "tty"
}

@test "run: --sig-proxy forwards our signals to the container without a tty" {
	"$BERTH" run --init --name sp $IMG sh -c 'trap "echo got-term; exit 5" TERM; sleep 100 & wait' >"$TEST_DIR/out" 2>&1 &
	local runpid=$!
	wait_until 10 sh -c "\"$BERTH\" top sp 2>/dev/null | grep -q 'sleep 100'"
	kill -TERM $runpid
	local rc=0
	wait $runpid || rc=$?
	assert_equal "$rc" 5
	assert_contains "$(cat "$TEST_DIR/out")" "got-term"
}

@test "run: names are unique and checked, random ones are adjective_name" {
	run_berth create --name web $IMG true
	local id=$output
	run_berth 125 create --name web $IMG true
	assert_contains "$output" "Conflict. The container name \"/web\" is already in use by container \"$id\""
	run_berth 125 create --name '-bad' $IMG true
	assert_contains "$output" "Invalid container name (-bad)"
	run_berth create $IMG true
	run_berth inspect -f '{{.Name}}' "$output"
	[[ $output =~ ^/[a-z]+_[a-z]+[0-9]*$ ]] || die "name: $output"
	run_berth inspect -f '{{.Config.Hostname}}' web
	assert_equal "$output" "${id:0:12}"
}

@test "create then start: the same container, Docker's statuses" {
	run_berth create --name c1 $IMG sh -c 'echo ran; exit 4'
	local id=$output
	run_berth inspect -f '{{.State.Status}}' c1
	assert_equal "$output" "created"
	run_berth ps -a --format '{{.Status}}'
	assert_equal "$output" "Created"
	run_berth start c1
	assert_equal "$output" "c1"
	wait_until 10 is_status c1 exited
	run_berth inspect -f '{{.State.ExitCode}}' c1
	assert_equal "$output" "4"
	run_berth logs c1
	assert_equal "$output" "ran"
	# start -a attaches and returns the exit code.
	run_berth 4 start -a c1
	assert_equal "$output" "ran"
	run_berth logs c1
	assert_equal "$output" "$(printf 'ran\nran')"
}

@test "run: --network none and host" {
	run_berth run --rm --network none $IMG ls /sys/class/net
	assert_equal "$output" "lo"
	run_berth run --rm --network none $IMG cat /proc/net/dev
	[[ "$output" != *eth0* ]] || die "network none has an interface: $output"
	run_berth run --rm --network host $IMG hostname
	assert_equal "$output" "$(hostname)"
	run_berth inspect -f '{{.HostConfig.NetworkMode}} {{json .NetworkSettings.Networks}}' \
		"$(berth create --network none $IMG true)"
	assert_contains "$output" 'none {"none":{'
}

@test "run: --cidfile, --label, --hostname, inspect's Config and HostConfig" {
	run_berth run -d --cidfile "$TEST_DIR/cid" -l a=1 -l b --hostname box --name lab $IMG sleep 100
	assert_equal "$(cat "$TEST_DIR/cid")" "$output"
	run_berth inspect -f '{{json .Config.Labels}} {{.Config.Hostname}}' lab
	assert_equal "$output" '{"a":"1","b":""} box'
	run_berth exec lab hostname
	assert_equal "$output" "box"
	run_berth 125 run --cidfile "$TEST_DIR/cid" $IMG true
	assert_contains "$output" "cid"
}
