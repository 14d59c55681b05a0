#!/usr/bin/env bats
# berth commit: a container's changes as a new image. Deleted files, replaced directories
# (opaque), hard links, symlinks, xattrs, owners and modes through a commit; commits of
# commits; --change; the pause (the container's cgroup frozen while its files are read);
# stopped containers; a commit killed with SIGKILL; the overlay options the runtime mounts
# with; Docker's errors.

load helpers.containers

# layer_entries IMAGE: the entries of the image's top layer, as saved.
layer_entries() {
	local d=$TEST_DIR/save.$RANDOM
	mkdir "$d"
	berth save -o "$d/x.tar" "$1"
	tar -C "$d" -xf "$d/x.tar"
	tar -tf "$d/$(jq -r '.[0].Layers[-1]' "$d/manifest.json")"
	rm -rf "$d"
}

# image_config IMAGE: the image's config document, as saved.
image_config() {
	local d=$TEST_DIR/save.$RANDOM
	mkdir "$d"
	berth save -o "$d/x.tar" "$1"
	tar -C "$d" -xf "$d/x.tar"
	cat "$d/$(jq -r '.[0].Config' "$d/manifest.json")"
	rm -rf "$d"
}

# listing: owner, mode, type, links, size and mtime of every node below /t, run in a
# container (hard links: the same inode number printed once per name).
LISTING='cd /t && for f in $(ls -A | sort); do stat -c "%n %u:%g %a %F %h %s %Y" "$f"; [ -L "$f" ] && echo "  -> $(readlink "$f")"; done; [ "$(stat -c %i f)" = "$(stat -c %i hard)" ] && echo "f and hard: one inode"'

@test "commit: a deleted lower file is gone, a replaced directory is opaque, nothing else moves" {
	run_berth run -d --network none --name c1 $IMG sleep 1000
	run_berth exec c1 sh -c 'rm /bin/vi /etc/group; rm -rf /usr/share/nginx/html; mkdir /usr/share/nginx/html; echo new >/usr/share/nginx/html/new.html'
	run_berth diff c1
	assert_equal "$output" "C /bin
D /bin/vi
C /etc
D /etc/group
C /usr
C /usr/share
C /usr/share/nginx
C /usr/share/nginx/html
D /usr/share/nginx/html/index.html
A /usr/share/nginx/html/new.html"
	run_berth commit c1 del:1
	run_berth run --rm --network none del:1 sh -c 'ls -A /usr/share/nginx/html; [ -e /bin/vi ] || echo no vi; [ -e /etc/group ] || echo no group; [ -x /bin/ls ] && echo ls'
	assert_equal "$output" "new.html
no vi
no group
ls"
	# The changeset as Docker writes it: whiteouts for the files, an opaque marker for the
	# directory made again, and only the changed paths.
	run layer_entries del:1
	[ "$status" -eq 0 ] || die "$output"
	assert_equal "$(grep -v '/$' <<<"$output" | sort)" "$(printf '%s\n' bin/.wh.vi etc/.wh.group usr/share/nginx/html/.wh..wh..opq usr/share/nginx/html/new.html | sort)"
}

@test "commit: hard links, symlinks, devices, fifos, xattrs, capabilities, owners and modes survive" {
	run_berth run -d --network none --name c2 $IMG sleep 1000
	run_berth exec c2 sh -c 'mkdir /t && cd /t && echo data >f && ln f hard && ln -s f rel && ln -s /etc/passwd abs &&
		chown 1000:1000 f && chmod 4750 f && mkdir d && chown 65534:65534 d && chmod 1777 d &&
		mkfifo fifo && chmod 600 fifo && mknod null c 1 3 && touch -d "2001-02-03 04:05:06" old'
	# Extended attributes come in with a tar stream (busybox has no setfattr): a user
	# attribute and a file capability, set on the host.
	mkdir "$TEST_DIR/x"
	echo attr >"$TEST_DIR/x/withattr"
	python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.berth", b"hello")' "$TEST_DIR/x/withattr"
	cp /bin/busybox "$TEST_DIR/x/ping"
	setcap cap_net_raw+ep "$TEST_DIR/x/ping"
	tar --xattrs --xattrs-include='*' -C "$TEST_DIR/x" -cf - withattr ping | berth cp -a - c2:/t
	run_berth exec c2 sh -c "$LISTING"
	local before=$output
	assert_contains "$before" "f and hard: one inode"
	assert_contains "$before" "f 1000:1000 4750 regular file 2 5"
	assert_contains "$before" "d 65534:65534 1777 directory"
	assert_contains "$before" "old 0:0 644 regular empty file 1 0 981173106"

	run_berth commit c2 kinds:1
	run_berth run -d --network none --name c3 kinds:1 sleep 1000
	run_berth exec c3 sh -c "$LISTING"
	assert_equal "$output" "$before"
	# The attributes, read back on the host through a copy out with -a.
	mkdir "$TEST_DIR/out"
	berth cp -a c3:/t/withattr - | tar --xattrs --xattrs-include='*' -C "$TEST_DIR/out" -xf -
	run python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.berth").decode())' "$TEST_DIR/out/withattr"
	assert_equal "$output" "hello"
	berth cp -a c3:/t/ping - | tar --xattrs --xattrs-include='*' -C "$TEST_DIR/out" -xf -
	run getcap "$TEST_DIR/out/ping"
	assert_contains "$output" "cap_net_raw=ep"
}

@test "commit: an unchanged container commits an empty layer; the runtime's own mount points stay out of diff and the image" {
	# An image without /proc, /sys, /dev or the /etc files the runtime binds, whose /etc
	# has its own mode and time, which the container must still show.
	local d=$TEST_DIR/stubless
	make_busybox_rootfs "$d"
	chmod 0750 "$d/etc"
	touch -d @1000000000 "$d/etc"
	tar -C "$d" --numeric-owner -cf "$TEST_DIR/stubless.tar" .
	run_berth import "$TEST_DIR/stubless.tar" stubless:1
	run_berth run -d --network none --name st stubless:1 sleep 1000
	wait_until 5 is_status st running
	run_berth exec st sh -c 'stat -c "%a %Y" /etc; [ -f /etc/hosts ] && [ -f /etc/hostname ] && [ -d /proc/self ] && [ -c /dev/null ] && echo mounted'
	assert_equal "$output" "750 1000000000
mounted"
	run_berth diff st
	assert_equal "$output" ""
	# Docker (20.10) adds no layer for an empty change, only a history entry.
	run_berth commit -m "nothing changed" st stubless:2
	run_berth image inspect -f '{{json .RootFS.Layers}}' stubless:1
	local layers=$output
	run_berth image inspect -f '{{json .RootFS.Layers}}|{{.Comment}}' stubless:2
	assert_equal "$output" "$layers|nothing changed"
	run_berth history --format '{{.Size}}|{{.Comment}}' stubless:2
	assert_equal "$(head -n1 <<<"$output")" "0B|nothing changed"
	image_config stubless:2 | jq -c '.history[-1] | [.empty_layer, .comment]' >"$TEST_DIR/h"
	assert_equal "$(cat "$TEST_DIR/h")" '[true,"nothing changed"]'
	# Changes next to the mount points are committed, and only they.
	run_berth exec st sh -c 'echo z >/etc/z'
	run_berth diff st
	assert_equal "$output" "C /etc
A /etc/z"
	run_berth commit st stubless:3
	run layer_entries stubless:3
	assert_equal "$output" "etc/
etc/z"
	# Docker's Comment is the last commit's message: none here.
	run_berth image inspect -f '{{json .Comment}}' stubless:3
	assert_equal "$output" '""'
	# Go's printing of a slice, as docker's templates print it, and JSON with json.
	run_berth image inspect -f '{{.Config.Cmd}}|{{json .Config.Cmd}}' stubless:3
	assert_equal "$output" '[sleep 1000]|["sleep","1000"]'
	run_berth run --rm --network none stubless:3 sh -c 'cat /etc/z; stat -c "%a" /etc; [ -f /etc/hosts ] && echo ok'
	assert_equal "$output" "z
750
ok"

	# Volume, bind and tmpfs mount points and --init's binary are made in the container's
	# layer by Docker: docker diff lists them and docker commit keeps them, empty.
	mkdir -p "$TEST_DIR/hostdir"
	echo host >"$TEST_DIR/hostfile"
	run_berth run -d --network none --init --name mp -v "$TEST_DIR/hostdir:/mnt/a/b" \
		-v "$TEST_DIR/hostfile:/srv/f" --tmpfs /scratch stubless:1 sleep 1000
	wait_until 5 is_status mp running
	run_berth diff mp
	assert_equal "$output" "A /mnt
A /mnt/a
A /mnt/a/b
A /sbin
A /sbin/berth-init
A /scratch
A /srv
A /srv/f"
	run_berth commit mp stubless:4
	run layer_entries stubless:4
	assert_equal "$(sort <<<"$output")" "mnt/
mnt/a/
mnt/a/b/
sbin/
sbin/berth-init
scratch/
srv/
srv/f"
}

@test "commit: a commit of a commit of a commit stacks layers, history and parents" {
	run_berth run -d --network none --name g1 $IMG sh -c 'echo one >/one; sleep 1000'
	wait_until 5 berth exec g1 test -f /one
	run_berth commit -m m1 g1 gen:1
	local id1=$output
	run_berth run -d --network none --name g2 gen:1 sh -c 'echo two >/two; rm /one; sleep 1000'
	wait_until 5 berth exec g2 test -f /two
	run_berth commit -m m2 g2 gen:2
	local id2=$output
	run_berth run -d --network none --name g3 gen:2 sh -c 'echo three >/three; echo changed >/two; sleep 1000'
	wait_until 5 berth exec g3 test -f /three
	run_berth commit -m m3 g3 gen:3

	run_berth run --rm --network none gen:3 sh -c 'cat /two /three; [ -e /one ] || echo no one'
	assert_equal "$output" "changed
three
no one"
	run_berth image inspect -f '{{json .RootFS.Layers}}' gen:3
	assert_equal "$(jq length <<<"$output")" "4"
	run_berth image inspect -f '{{.Parent}}' gen:3
	assert_equal "$output" "$id2"
	run_berth image inspect -f '{{.Parent}}' gen:2
	assert_equal "$output" "$id1"
	run_berth history --format '{{.Comment}}' gen:3
	assert_equal "$output" "m3
m2
m1
Imported from -"
	# The lower images are still whole.
	run_berth run --rm --network none gen:1 cat /one
	assert_equal "$output" "one"
}

@test "commit: the container's config goes into the image, --change applies on top" {
	run_berth run -d --network none --name cf -e FOO=bar --label l=1 -w /tmp $IMG sleep 1000
	run_berth commit cf plain:1
	run_berth image inspect -f '{{json .Config.Cmd}} {{json .Config.Env}} {{json .Config.Labels}} {{.Config.WorkingDir}}' plain:1
	assert_equal "$output" '["sleep","1000"] ["FOO=bar"] {"l":"1"} /tmp'
	run image_config plain:1
	assert_equal "$(jq -r .container <<<"$output")" "$(berth inspect -f '{{.Id}}' cf)"
	assert_equal "$(jq -r '.history[-1].created_by' <<<"$output")" "sleep 1000"

	run_berth commit -c 'CMD ["/bin/echo","from change"]' --change 'ENV A=b' -c 'EXPOSE 8080' \
		-c 'LABEL x=y' -c 'WORKDIR /srv' -c 'USER user1' -c 'ENTRYPOINT []' cf changed:1
	run_berth run --rm --network none changed:1
	assert_equal "$output" "from change"
	run_berth run --rm --network none changed:1 sh -c 'echo $A $FOO $(pwd) $(id -u)'
	assert_equal "$output" "b bar /srv 1000"
	run_berth image inspect -f '{{json .Config.ExposedPorts}} {{json .Config.Labels}}' changed:1
	assert_equal "$output" '{"8080/tcp":{}} {"l":"1","x":"y"}'

	# A bad change fails before anything is written.
	local before
	before=$(berth images -aq | sort)
	run_berth 1 commit -c 'FOO bar' cf bad:1
	assert_contains "$output" "Error response from daemon: "
	assert_contains "$output" "FOO"
	assert_equal "$(berth images -aq | sort)" "$before"
}

@test "commit: a stopped container's changes, and an unnamed commit is a dangling image" {
	run_berth run --network none --name st $IMG sh -c 'echo done >/result; rm /etc/passwd'
	run_berth inspect -f '{{.State.Status}}' st
	assert_equal "$output" "exited"
	run_berth commit st
	local id=$output
	run_berth images --filter dangling=true -q
	assert_equal "$output" "${id:7:12}"
	run_berth run --rm --network none "$id" sh -c 'cat /result; [ -e /etc/passwd ] || echo no passwd'
	assert_equal "$output" "done
no passwd"
	# The container is as it was.
	run_berth inspect -f '{{.State.Status}}' st
	assert_equal "$output" "exited"
	run_berth start st
	wait_until 5 is_status st exited
}

# A container that appends a line to a host file every 20 ms, and 200 MB of change for its
# commit to take long enough to watch.
start_writer() {
	mkdir -p "$TEST_DIR/vol"
	run_berth run -d --network none -v "$TEST_DIR/vol:/vol" --name wr $IMG \
		sh -c 'while :; do echo x >>/vol/log; usleep 20000; done'
	run_berth exec wr dd if=/dev/urandom of=/big bs=1M count=200
	wait_until 5 test -s "$TEST_DIR/vol/log"
}

lines() {
	wc -l <"$TEST_DIR/vol/log"
}

freezer_state() {
	local id
	id=$(berth inspect -f '{{.Id}}' wr)
	if [ -f "/sys/fs/cgroup/freezer/berth/$id/freezer.state" ]; then
		cat "/sys/fs/cgroup/freezer/berth/$id/freezer.state"
	else
		grep frozen "/sys/fs/cgroup/unified/berth/$id/cgroup.events" 2>/dev/null ||
			grep frozen "/sys/fs/cgroup/berth/$id/cgroup.events"
	fi
}

@test "commit: --pause (the default) freezes the container while its files are read; -p=false does not" {
	start_writer
	# The store's gc lock held here: the commit freezes the container, then waits for the
	# lock (it takes it before it writes anything), so it is watched while frozen however
	# fast it would be.
	exec 8>"$BERTH_ROOT/locks/gc"
	flock -x 8
	"$BERTH" commit wr paused:1 >"$TEST_DIR/commit.out" 2>&1 8>&- &
	local cpid=$!
	wait_until 20 is_status wr paused
	local n1 n2 fs
	n1=$(lines)
	fs=$(freezer_state)
	sleep 0.5
	n2=$(lines)
	kill -0 "$cpid" || die "the commit ended while the gc lock was held: $(cat "$TEST_DIR/commit.out")"
	is_status wr paused || die "not paused during the commit"
	exec 8>&-
	assert_contains "$fs" "FROZEN"
	[[ $fs != *"frozen 0"* ]] || die "cgroup not frozen: $fs"
	assert_equal "$n2" "$n1"
	wait "$cpid" || die "commit failed: $(cat "$TEST_DIR/commit.out")"
	[[ $(cat "$TEST_DIR/commit.out") =~ ^sha256: ]] || die "$(cat "$TEST_DIR/commit.out")"
	run_berth inspect -f '{{.State.Status}}' wr
	assert_equal "$output" "running"
	wait_until 5 sh -c "[ \$(wc -l <'$TEST_DIR/vol/log') -gt $n2 ]"
	run_berth run --rm --network none paused:1 stat -c %s /big
	assert_equal "$output" "209715200"

	# -p=false: never paused, and the writer goes on during the commit.
	"$BERTH" commit -p=false wr unpaused:1 >"$TEST_DIR/commit.out" 2>&1 &
	cpid=$!
	local seen=" " first
	first=$(lines)
	while kill -0 "$cpid" 2>/dev/null; do
		seen+="$(status_of wr) "
		sleep 0.05
	done
	local grew=$(($(lines) - first))
	wait "$cpid" || die "commit -p=false failed: $(cat "$TEST_DIR/commit.out")"
	[[ $seen != *paused* ]] || die "paused during commit -p=false: $seen"
	[ "$grew" -gt 0 ] || die "the writer stood still during commit -p=false"
	# A container paused by the user is committed as it is and stays paused.
	run_berth pause wr
	run_berth commit wr again:1
	run_berth inspect -f '{{.State.Status}}' wr
	assert_equal "$output" "paused"
	run_berth unpause wr
}

@test "commit: SIGKILL during a commit leaves no image and nothing half-written; unpause recovers" {
	start_writer
	local before layers_before
	before=$(berth images -aq --no-trunc | sort)
	layers_before=$(ls "$BERTH_ROOT/layers" | sort)
	# Held back at the store's gc lock until the container is frozen, then let go: the
	# kill lands while the 200 MB change is being written, however fast the start was.
	exec 8>"$BERTH_ROOT/locks/gc"
	flock -x 8
	ASAN_OPTIONS=$(killed_asan_options) "$BERTH" commit wr half:1 >/dev/null 2>&1 8>&- &
	local cpid=$!
	wait_until 20 is_status wr paused
	exec 8>&-
	sleep 0.15
	kill -0 "$cpid" || die "the commit of 200 MB ended within 0.15 s: nothing to kill"
	kill -KILL "$cpid"
	wait "$cpid" || true
	# No record and no name; the container stays visibly paused, as Docker shows a
	# container being committed, and unpause thaws it.
	assert_equal "$(berth images -aq --no-trunc | sort)" "$before"
	run_berth 1 image inspect half:1
	run_berth inspect -f '{{.State.Status}}' wr
	assert_equal "$output" "paused"
	run_berth unpause wr
	local n
	n=$(lines)
	wait_until 5 sh -c "[ \$(wc -l <'$TEST_DIR/vol/log') -gt $n ]"
	# The dead writer's temp files went with the first store open above; what it renamed
	# into place (blobs, the layer) is garbage that gc removes.
	assert_equal "$(ls -A "$BERTH_ROOT/tmp")" ""
	run_berth image prune -f
	assert_equal "$(ls "$BERTH_ROOT/layers" | sort)" "$layers_before"
	# And the next commit is whole.
	run_berth commit wr whole:1
	run_berth run --rm --network none whole:1 stat -c %s /big
	assert_equal "$output" "209715200"
}

@test "commit: SIGTERM or Ctrl-C during a commit waits for the thaw: the container is never left frozen" {
	start_writer
	local sig
	for sig in TERM INT; do
		# (bash starts background jobs with SIGINT ignored: give it back its default.)
		env --default-signal=INT "$BERTH" commit wr "sig-${sig,,}:1" >/dev/null 2>&1 &
		local cpid=$!
		wait_until 20 is_status wr paused
		kill -s $sig "$cpid"
		local rc=0
		wait "$cpid" || rc=$?
		# The signal ended berth once the container was thawed (128 + the signal).
		[ "$rc" -eq $((128 + $(kill -l $sig))) ] || die "commit ended with $rc after SIG$sig"
		run_berth inspect -f '{{.State.Status}}' wr
		assert_equal "$output" "running"
		assert_contains "$(freezer_state)" "THAWED"
	done
}

@test "commit: overlays are mounted with redirect_dir, metacopy and index off; a renamed lower directory commits whole" {
	if command -v strace >/dev/null; then
		# (LeakSanitizer can not run under ptrace.)
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
			strace -f -qq -e trace=fsconfig -o "$TEST_DIR/strace" "$BERTH" run --rm --network none $IMG true
		run grep -E '"(redirect_dir|metacopy|index)", "off"' "$TEST_DIR/strace"
		assert_equal "$(grep -c ' = 0$' <<<"$output")" "3"
	fi
	run_berth run -d --network none --name mv1 $IMG sleep 1000
	# With redirect_dir off, rename(2) of a lower directory is EXDEV and mv copies; a
	# chown copies the data up (no metacopy).
	run_berth exec mv1 sh -c 'mv /usr/share/nginx /usr/share/web && chown 1000 /bin/busybox'
	run_berth commit mv1 moved:1
	run_berth run --rm --network none moved:1 sh -c 'cat /usr/share/web/html/index.html; [ -e /usr/share/nginx ] || echo gone; stat -c %u /bin/busybox; busybox true && echo runs'
	assert_equal "$output" "<h1>Welcome to nginx!</h1>
gone
1000
runs"
}

@test "commit: Docker's errors and exit codes" {
	run_berth 1 commit nosuch
	assert_equal "$output" "Error response from daemon: No such container: nosuch"
	run_berth run -d --network none --name e1 $IMG sleep 1000
	run_berth 1 commit e1 BAD:name
	assert_contains "$output" "invalid reference format"
	run_berth 1 commit e1 "x@sha256:$(printf '%064d' 0)"
	assert_equal "$output" "Error response from daemon: refusing to create a tag with a digest reference"
	run_berth 1 commit
	assert_contains "$output" '"berth commit" requires at least 1 argument.'
	run_berth 1 commit e1 a:1 b:2
	assert_contains "$output" '"berth commit" requires at most 2 arguments.'
	run_berth 125 commit --no-such-flag e1
	# Nothing was made by any of them.
	run_berth images -q --filter dangling=true
	assert_equal "$output" ""
	# The alias.
	run_berth container commit e1 alias:1
	[[ $output =~ ^sha256: ]] || die "$output"
}
