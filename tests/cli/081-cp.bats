#!/usr/bin/env bats
# berth cp: docker cp's rules both ways (existing directory, trailing "/" and "/.", missing
# parents, a file onto a directory and the reverse), -a, -L, tar streams, stopped containers,
# bind mounts and read-only ones, and hostile symlinks in the container that must lead
# nowhere on the host (canary files). Messages and exit codes are docker's (checked against
# dockerd 20.10 with the docker 28 CLI).

load helpers.containers

# host_tree: $TEST_DIR/h with a file and a directory.
host_tree() {
	mkdir -p "$TEST_DIR/h/dir/sub" "$TEST_DIR/out"
	echo file >"$TEST_DIR/h/file"
	echo a >"$TEST_DIR/h/dir/a"
	echo b >"$TEST_DIR/h/dir/sub/b"
}

# in_ctr NAME CMD: run CMD in the container, keep $output.
in_ctr() {
	run_berth exec "$1" sh -c "$2"
}

@test "cp: into a container, docker's rules for files and directories" {
	host_tree
	run_berth run -d --network none --name web $IMG sleep 1000
	in_ctr web 'mkdir -p /tmp/x /tmp/dd /tmp/file && echo old >/tmp/existing && echo f >/tmp/dir'
	cd "$TEST_DIR"

	# A file into an existing directory keeps its name; onto a missing name it takes it;
	# onto an existing file it replaces it.
	run_berth cp h/file web:/tmp/dd
	run_berth cp h/file web:/tmp/new
	run_berth cp h/file web:/tmp/existing
	in_ctr web 'cat /tmp/dd/file /tmp/new /tmp/existing'
	assert_equal "$output" "file
file
file"
	# A directory into an existing one nests; onto a missing name it becomes it; "/."
	# copies the contents.
	run_berth cp h/dir web:/tmp/dd
	run_berth cp h/dir web:/tmp/d2
	run_berth cp h/dir/. web:/tmp/x
	in_ctr web 'cat /tmp/dd/dir/sub/b /tmp/d2/a /tmp/x/a /tmp/x/sub/b; [ -e /tmp/x/dir ] || echo flat'
	assert_equal "$output" "b
a
a
b
flat"
	# The errors, each as docker prints it.
	run_berth 1 cp h/file web:/tmp/nodir/
	assert_equal "$output" "no such directory"
	run_berth 1 cp h/file web:/tmp/existing/
	assert_equal "$output" "no such directory"
	run_berth 1 cp h/dir web:/tmp/existing
	assert_equal "$output" "cannot copy directory"
	run_berth 1 cp h/file/ web:/tmp/
	assert_equal "$output" "not a directory"
	run_berth 1 cp h/file web:/no/such/x
	assert_equal "$output" "Error response from daemon: Could not find the file /no/such in container web"
	run_berth 1 cp h/file web:/tmp/
	assert_equal "$output" 'Error response from daemon: Error processing tar file(exit status 1): cannot overwrite directory "/tmp/file" with non-directory "/tmp"'
	run_berth 1 cp h/dir web:/tmp/
	assert_equal "$output" 'Error response from daemon: Error processing tar file(exit status 1): cannot overwrite non-directory "/tmp/dir" with directory "/tmp"'
	run_berth 1 cp h/nosuch web:/tmp/
	assert_contains "$output" "lstat $TEST_DIR/h/nosuch: "
	# Nothing of the failed copies arrived.
	in_ctr web '[ -d /tmp/file ] && [ "$(cat /tmp/dir)" = f ] && [ ! -e /tmp/nodir ] && [ ! -e /no ] && echo intact'
	assert_equal "$output" "intact"
	# Relative container paths are relative to "/", as in docker.
	run_berth cp h/file web:tmp/rel
	in_ctr web 'cat /tmp/rel'
	assert_equal "$output" "file"
}

@test "cp: onto a symlink in the container writes its target, a dangling one too; the link stays" {
	host_tree
	run_berth run -d --network none --name web $IMG sleep 1000
	# Targets: existing parent (absolute and relative), missing parent (absolute,
	# relative, several levels), and a directory.
	in_ctr web 'mkdir /d && ln -s /tmp/new /abs && ln -s ../tmp/rel /d/rel && ln -s /nonexist/t /gone &&
		ln -s ../nodir/x /d/gone && ln -s /tmp/nf/x/y /deep && ln -s /d /todir'
	cd "$TEST_DIR"
	run_berth cp h/file web:/abs
	run_berth cp h/file web:/d/rel
	run_berth cp h/file web:/todir
	in_ctr web 'cat /tmp/new /tmp/rel /d/file; for l in /abs /d/rel /todir; do readlink $l; done'
	assert_equal "$output" "file
file
file
/tmp/new
../tmp/rel
/d"
	# Docker resolves the link lexically, then can not find the target's directory; the
	# link is not replaced by the file.
	run_berth 1 cp h/file web:/gone
	assert_equal "$output" "Error response from daemon: Could not find the file /nonexist in container web"
	run_berth 1 cp h/file web:/d/gone
	assert_equal "$output" "Error response from daemon: Could not find the file /nodir in container web"
	run_berth 1 cp h/file web:/deep
	assert_equal "$output" "Error response from daemon: Could not find the file /tmp/nf/x in container web"
	run_berth 1 cp h/file web:/abs/
	assert_equal "$output" "no such directory"
	in_ctr web 'for l in /gone /d/gone /deep; do readlink $l; done; [ ! -e /nonexist ] && [ ! -e /nodir ] && [ ! -e /tmp/nf ] && echo none'
	assert_equal "$output" "/nonexist/t
../nodir/x
/tmp/nf/x/y
none"
}

@test "cp: out of a container, docker's rules, -L, and symlinks copied as symlinks" {
	run_berth run -d --network none --name web $IMG sleep 1000
	in_ctr web 'mkdir -p /d/sub && echo one >/d/one && echo two >/d/sub/two && ln -s /d/one /link && ln -s nowhere /dangling'
	mkdir -p "$TEST_DIR/out/existing_dir"
	echo keep >"$TEST_DIR/out/existing_file"
	cd "$TEST_DIR/out"

	run_berth cp web:/d/one existing_dir
	run_berth cp web:/d/one newname
	run_berth cp web:/d .
	run_berth cp web:/d/. flat
	assert_equal "$(cat existing_dir/one newname d/sub/two flat/one flat/sub/two)" "one
one
two
one
two"
	# A symlink is copied as one; -L copies its target, under the link's name.
	run_berth cp web:/link .
	[ -L link ] && assert_equal "$(readlink link)" "/d/one"
	run_berth cp -L web:/link followed
	[ -f followed ] && [ ! -L followed ] || die "-L did not follow"
	assert_equal "$(cat followed)" "one"
	run_berth cp web:/dangling .
	assert_equal "$(readlink dangling)" "nowhere"
	run_berth 1 cp -L web:/dangling .
	assert_contains "$output" "Could not find the file /dangling in container web"

	run_berth 1 cp web:/d existing_file
	assert_equal "$output" "cannot copy directory"
	run_berth 1 cp web:/d/one nodir/
	assert_equal "$output" "no such directory"
	run_berth 1 cp web:/d/one missing/x
	assert_equal "$output" "invalid output path: directory \"$TEST_DIR/out/missing\" does not exist"
	run_berth 1 cp web:/d/one/ .
	assert_equal "$output" "Error response from daemon: lstat /d/one/: not a directory"
	run_berth 1 cp web:/nonexist x
	assert_equal "$output" "Error response from daemon: Could not find the file /nonexist in container web"
	assert_equal "$(cat existing_file)" "keep"
}

@test "cp: -a keeps owners; otherwise copies in are root's and copies out the caller's" {
	host_tree
	chown -R 1234:5678 "$TEST_DIR/h"
	chmod 640 "$TEST_DIR/h/file"
	run_berth run -d --network none --name web $IMG sleep 1000
	run_berth cp "$TEST_DIR/h/file" web:/plain
	run_berth cp -a "$TEST_DIR/h/file" web:/kept
	run_berth cp --archive "$TEST_DIR/h/dir" web:/keptdir
	in_ctr web 'stat -c "%n %u:%g %a" /plain /kept /keptdir /keptdir/sub/b'
	assert_equal "$output" "/plain 0:0 640
/kept 1234:5678 640
/keptdir 1234:5678 755
/keptdir/sub/b 1234:5678 644"

	in_ctr web 'echo x >/owned && chown 1000:1000 /owned && chmod 604 /owned'
	mkdir "$TEST_DIR/o"
	run_berth cp web:/owned "$TEST_DIR/o/plain"
	run_berth cp -a web:/owned "$TEST_DIR/o/kept"
	assert_equal "$(stat -c '%u:%g %a' "$TEST_DIR/o/plain" "$TEST_DIR/o/kept")" "$(id -u):$(id -g) 604
1000:1000 604"
}

@test "cp: tar streams in and out with -" {
	host_tree
	run_berth run -d --network none --name web $IMG sleep 1000
	tar -C "$TEST_DIR/h" -cf - dir file | berth cp - web:/tmp
	in_ctr web 'cat /tmp/file /tmp/dir/sub/b'
	assert_equal "$output" "file
b"
	# Compressed streams are read too.
	tar -C "$TEST_DIR/h" -czf - file | berth cp - web:/root
	in_ctr web 'cat /root/file'
	assert_equal "$output" "file"
	# The destination of a stream must be a directory.
	run berth cp - web:/tmp/file </dev/null
	[ "$status" -eq 1 ] || die "exit $status"
	assert_equal "$output" 'destination "web:/tmp/file" must be a directory'
	# Out: entries named by the source's base name.
	run bash -c "'$BERTH' cp web:/tmp/dir - | tar -tf - | sort"
	assert_equal "$output" "dir/
dir/a
dir/sub/
dir/sub/b"
	run bash -c "'$BERTH' cp web:/tmp/file - | tar -xOf -"
	assert_equal "$output" "file"
}

@test "cp: a stopped container, and one never started, both ways" {
	host_tree
	run_berth run --network none --name st $IMG sh -c 'echo made >/made'
	run_berth create --network none --name cr $IMG cat /tmp/file
	for c in st cr; do
		run_berth cp "$TEST_DIR/h/file" $c:/tmp/
		run_berth cp "$TEST_DIR/h/dir" $c:/tmp/
	done
	run_berth cp st:/made "$TEST_DIR/out/"
	assert_equal "$(cat "$TEST_DIR/out/made")" "made"
	run_berth cp cr:/tmp/dir/sub/b "$TEST_DIR/out/b"
	assert_equal "$(cat "$TEST_DIR/out/b")" "b"
	# What was copied in is there when the container runs.
	run_berth start -a cr
	assert_equal "$output" "file"
	run_berth diff st
	assert_contains "$output" "A /tmp/dir/sub/b"
	# No mount of ours is left behind.
	run grep -c " $BERTH_ROOT" /proc/self/mountinfo
	assert_equal "$output" "0"
}

@test "cp: bind mounts are written through, read-only ones and read-only containers refuse" {
	host_tree
	mkdir -p "$TEST_DIR/vol" "$TEST_DIR/ro"
	echo ro >"$TEST_DIR/ro/ro.txt"
	run_berth run -d --network none -v "$TEST_DIR/vol:/data" -v "$TEST_DIR/ro:/ro:ro" --name web $IMG sleep 1000
	run_berth cp "$TEST_DIR/h/file" web:/data/
	assert_equal "$(cat "$TEST_DIR/vol/file")" "file"
	in_ctr web 'cat /data/file'
	assert_equal "$output" "file"
	run_berth cp "$TEST_DIR/h/dir/." web:/data
	assert_equal "$(cat "$TEST_DIR/vol/sub/b")" "b"
	# The container's view: a copy out of "/" shows the mount's content.
	run bash -c "'$BERTH' cp web:/ - | tar -tf - | grep -E '^(\\./)?(data|ro)/' | sort"
	assert_contains "$output" "data/file"
	assert_contains "$output" "ro/ro.txt"
	run_berth 1 cp "$TEST_DIR/h/file" web:/ro/
	assert_equal "$output" "Error response from daemon: mounted volume is marked read-only"
	run_berth cp web:/ro/ro.txt "$TEST_DIR/out/"
	assert_equal "$(cat "$TEST_DIR/out/ro.txt")" "ro"
	# /etc/hosts is the container's file.
	run bash -c "'$BERTH' cp web:/etc/hosts - | tar -xOf -"
	assert_equal "$output" "$(berth exec web cat /etc/hosts)"
	assert_equal "$output" "$(cat "$BERTH_ROOT/containers/$(berth inspect -f '{{.Id}}' web)/hosts")"
	# Stopped, the same: the copy goes to the host directory, not under the mount point.
	run_berth stop -t 0 web
	echo later >"$TEST_DIR/h/later"
	run_berth cp "$TEST_DIR/h/later" web:/data/
	assert_equal "$(cat "$TEST_DIR/vol/later")" "later"
	run_berth 1 cp "$TEST_DIR/h/later" web:/ro/
	assert_equal "$output" "Error response from daemon: mounted volume is marked read-only"

	run_berth run -d --network none --read-only --name roc $IMG sleep 1000
	run_berth 1 cp "$TEST_DIR/h/file" roc:/tmp/
	assert_equal "$output" "Error response from daemon: container rootfs is marked read-only"
	run_berth cp roc:/etc/passwd "$TEST_DIR/out/passwd"
	assert_contains "$(cat "$TEST_DIR/out/passwd")" "user1:x:1000"
}

# canary_state: the canary tree on the host, names and contents.
canary_state() {
	(cd "$TEST_DIR/canary" && find . -printf '%p %s\n' | sort && cat secret)
}

@test "cp: hostile symlinks in the container never lead to the host" {
	host_tree
	mkdir "$TEST_DIR/canary"
	echo secret >"$TEST_DIR/canary/secret"
	local before uniq
	before=$(canary_state)
	uniq=berth-canary-$$-$RANDOM
	run_berth run -d --network none -v "$TEST_DIR/vol:/data" --name web $IMG sleep 1000
	in_ctr web "ln -s / /rootlink && ln -s ../../../../../.. /up && ln -s $TEST_DIR/canary /abs &&
		ln -s /proc/self/root /self && mkdir -p /d && ln -s ../../../../.. /d/esc &&
		ln -s / /data/up && ln -s $TEST_DIR /data/testdir"

	# In: every copy through a link lands inside the container (or fails), never on the host.
	local l
	for l in rootlink up d/esc data/up; do
		run_berth cp "$TEST_DIR/h/file" "web:/$l/$uniq"
		in_ctr web "cat /$uniq && rm /$uniq"
		assert_equal "$output" "file"
	done
	for l in abs abs/ self data/testdir; do
		run berth cp "$TEST_DIR/h/file" "web:/$l/$uniq"
		run berth cp "$TEST_DIR/h/dir" "web:/$l"
	done
	run berth cp - web:/up </dev/null
	[ ! -e "/$uniq" ] && [ ! -e "/tmp/$uniq" ] && [ ! -e "$TEST_DIR/$uniq" ] || die "a copy reached the host"
	[ ! -e "$TEST_DIR/canary/$uniq" ] && [ ! -e "$TEST_DIR/canary/dir" ] || die "a copy reached the canary"

	# Out: the container's files, never the host's.
	run_berth cp web:/up/etc/passwd "$TEST_DIR/out/passwd"
	assert_equal "$(cat "$TEST_DIR/out/passwd")" "$(berth exec web cat /etc/passwd)"
	run_berth cp web:/data/up/etc/group "$TEST_DIR/out/group"
	assert_equal "$(cat "$TEST_DIR/out/group")" "$(berth exec web cat /etc/group)"
	run_berth 1 cp web:/abs/secret "$TEST_DIR/out/"
	assert_contains "$output" "Could not find the file /abs/secret in container web"
	run_berth 1 cp -L web:/abs "$TEST_DIR/out/abs"
	run_berth 1 cp web:/data/testdir/canary/secret "$TEST_DIR/out/"
	run_berth 1 cp web:/self/etc/passwd "$TEST_DIR/out/"
	[ ! -e "$TEST_DIR/out/secret" ] && [ ! -e "$TEST_DIR/out/abs" ] || die "the host's file came out"
	# /data/testdir named a host path that dangles in the container: the directory copied
	# onto it was made at that path in the container, not on the host.
	in_ctr web "cat $TEST_DIR/a"
	assert_equal "$output" "a"
	[ ! -e "$TEST_DIR/a" ] && [ ! -e "$TEST_DIR/sub" ] || die "a copy reached the host's $TEST_DIR"

	# A copy out can not leave its destination on the host either: a symlink the first
	# copy made there is not followed by the second one.
	in_ctr web "mkdir -p /e1 /e2/esc && ln -s $TEST_DIR/canary /e1/esc && echo x >/e2/esc/$uniq"
	mkdir "$TEST_DIR/dst"
	run_berth cp web:/e1/. "$TEST_DIR/dst"
	run berth cp web:/e2/. "$TEST_DIR/dst"
	[ ! -e "$TEST_DIR/canary/$uniq" ] || die "a copy out went through a symlink into the canary"

	assert_equal "$(canary_state)" "$before"
	assert_equal "$(ls -A "$TEST_DIR/vol")" "testdir
up"
}

@test "cp: argument errors, as docker's CLI and daemon print them" {
	run_berth 1 cp a b
	assert_equal "$output" "must specify at least one container source"
	run_berth 1 cp c1:/a c2:/b
	assert_equal "$output" "copying between containers is not supported"
	run_berth 1 cp nosuch:/x "$TEST_DIR"
	assert_equal "$output" "Error response from daemon: No such container: nosuch"
	run_berth run -d --network none --name web $IMG sleep 1000
	run_berth 1 cp web: "$TEST_DIR"
	assert_equal "$output" "Error response from daemon: bad parameter: path cannot be empty"
	# "./c:x" and absolute paths are local files, even with a colon in them.
	run_berth 1 cp ./web:/x "$TEST_DIR"
	assert_equal "$output" "must specify at least one container source"
	run_berth 1 cp
	assert_contains "$output" '"berth cp" requires exactly 2 arguments.'
	run_berth 125 cp --bogus a b
	assert_contains "$output" "unknown flag: --bogus"
	# The alias.
	echo x >"$TEST_DIR/f"
	run_berth container cp "$TEST_DIR/f" web:/f
}

@test "cp: a directory swapped for a symlink to / while copies run never leads to the host" {
	host_tree
	local uniq=berth-race-$$-$RANDOM i
	run_berth run -d --network none --name race $IMG \
		sh -c 'mkdir -p /tmp; while :; do rm -rf /s; mkdir -p /s/tmp /s/etc; echo decoy >/s/etc/passwd; rm -rf /s; ln -s / /s; done'
	# At least 40 rounds each way, and on (up to 400) until a copy got through each way: how
	# often one does depends on the scheduling of the container's loop.
	for i in $(seq 1 400); do
		berth cp "$TEST_DIR/h/file" "race:/s/tmp/$uniq" 2>/dev/null || true
		berth cp race:/s/etc/passwd "$TEST_DIR/out/p$i" 2>/dev/null || true
		if [ "$i" -ge 40 ] && [ $((i % 10)) = 0 ] && [ -n "$(ls "$TEST_DIR/out")" ] &&
			"$BERTH" exec race test -f "/tmp/$uniq"; then
			break
		fi
	done
	[ ! -e "/tmp/$uniq" ] || die "a copy in reached the host's /tmp"
	# Some copies went through (the test is not vacuous): in, to the container's /tmp.
	run_berth exec race cat "/tmp/$uniq"
	assert_equal "$output" "file"
	[ -n "$(ls "$TEST_DIR/out")" ] || die "no copy out got through"
	# What came out is the container's passwd or the decoy, never the host's.
	local host_passwd
	host_passwd=$(cat /etc/passwd)
	for f in "$TEST_DIR"/out/p*; do
		[ -e "$f" ] || continue
		[ "$(cat "$f")" != "$host_passwd" ] || die "the host's /etc/passwd came out"
	done
}
