#!/usr/bin/env bats
# berth diff (A/C/D lines, running and stopped, the runtime's mount points left out as
# Docker's init layer leaves them out) and berth export (the merged tree of a running or a
# stopped container as one tar, without volumes; -o replaced only by a complete archive).

load helpers.containers

CHANGES='echo changed >/etc/passwd && mkdir -p /new/deep && echo x >/new/deep/file &&
	rm /bin/vi && rm -rf /var/www && chmod 700 /root && chown 1000 /usr/share/nginx/html/index.html &&
	cat /usr/share/nginx/html/index.html >/dev/null'

DIFF='C /bin
D /bin/vi
C /etc
C /etc/passwd
A /new
A /new/deep
A /new/deep/file
C /root
C /usr
C /usr/share
C /usr/share/nginx
C /usr/share/nginx/html
C /usr/share/nginx/html/index.html
C /var
D /var/www'

@test "diff: docker's A, C and D lines; nothing for a fresh container; the same once stopped" {
	# The runtime made /proc, /sys, /dev and the /etc files in the container's layer (the
	# image has none of them); Docker makes its own in the "-init" layer: not listed. A
	# volume's mount point is, by both.
	run_berth run -d --network none --name d0 $IMG sleep 1000
	run_berth diff d0
	assert_equal "$output" ""
	run_berth run -d --network none -v "$TEST_DIR/vol:/vol" --name d1 $IMG sleep 1000
	run_berth diff d1
	assert_equal "$output" "A /vol"
	run_berth exec d1 sh -c "$CHANGES"
	run_berth diff d1
	assert_equal "$output" "$DIFF
A /vol"
	run_berth container diff d1
	assert_equal "$output" "$DIFF
A /vol"
	run_berth stop -t 0 d1
	run_berth diff d1
	assert_equal "$output" "$DIFF
A /vol"
	# A file only opened for writing is no change; a runtime mount point with something in
	# it is one (a copy into a stopped container's /proc lands in its layer).
	run_berth run --network none --name d2 $IMG sh -c '>>/etc/group'
	echo x >"$TEST_DIR/x"
	run_berth cp "$TEST_DIR/x" d2:/proc/
	run_berth diff d2
	assert_equal "$output" "A /proc
A /proc/x"
}

@test "diff: errors" {
	run_berth 1 diff nosuch
	assert_equal "$output" "Error response from daemon: No such container: nosuch"
	run_berth 1 diff
	assert_contains "$output" '"berth diff" requires exactly 1 argument.'
	run_berth 1 diff a b
	assert_contains "$output" '"berth diff" requires exactly 1 argument.'
}

# export_list CONTAINER: the names of berth export's tar, sorted.
export_list() {
	berth export "$1" | tar -tf - | sort
}

@test "export: the same stream running and stopped, the container's files, no volumes" {
	mkdir -p "$TEST_DIR/vol"
	echo volume >"$TEST_DIR/vol/v.txt"
	run_berth run -d --network none -v "$TEST_DIR/vol:/vol" --name e1 $IMG sleep 1000
	run_berth exec e1 sh -c "$CHANGES"
	berth export e1 >"$TEST_DIR/running.tar"
	run_berth container export -o "$TEST_DIR/running-o.tar" e1
	run_berth stop -t 0 e1
	berth export e1 >"$TEST_DIR/stopped.tar"
	# Byte for byte: the merged mount and the layers merged by berth agree.
	cmp "$TEST_DIR/running.tar" "$TEST_DIR/stopped.tar" || die "running and stopped exports differ"
	# To a file the last block is not padded (libarchive pads only devices and stdout).
	assert_equal "$(tar -tvf "$TEST_DIR/running-o.tar")" "$(tar -tvf "$TEST_DIR/running.tar")"
	cmp -n "$(stat -c %s "$TEST_DIR/running-o.tar")" "$TEST_DIR/running.tar" "$TEST_DIR/running-o.tar" ||
		die "-o and stdout differ"

	run tar -tf "$TEST_DIR/stopped.tar"
	assert_contains "$output" "new/deep/file"
	assert_contains "$output" "bin/busybox"
	[[ $output != *bin/vi$'\n'* ]] || die "deleted file exported"
	[[ $output != *var/www* ]] || die "deleted directory exported"
	[[ $output != *v.txt* ]] || die "the volume's content was exported"
	[[ $output != *.wh.* ]] || die "a whiteout was exported"
	run tar -xOf "$TEST_DIR/stopped.tar" etc/passwd
	assert_equal "$output" "changed"
	run tar -tvf "$TEST_DIR/stopped.tar" usr/share/nginx/html/index.html
	assert_contains "$output" "1000/0"

	# What export writes, import reads: the container's tree as an image.
	run_berth import "$TEST_DIR/stopped.tar" exported:1
	run_berth run --rm --network none exported:1 sh -c 'cat /etc/passwd /new/deep/file; [ -e /bin/vi ] || echo no vi'
	assert_equal "$output" "changed
x
no vi"
}

@test "export: -o is replaced only by a complete archive; errors" {
	run_berth run -d --network none --name e2 $IMG sleep 1000
	mkdir "$TEST_DIR/o"
	echo old >"$TEST_DIR/o/out.tar"
	run_berth 1 export -o "$TEST_DIR/o/out.tar" nosuch
	assert_equal "$output" "Error response from daemon: No such container: nosuch"
	assert_equal "$(cat "$TEST_DIR/o/out.tar")" "old"
	run_berth export -o "$TEST_DIR/o/out.tar" e2
	run tar -tf "$TEST_DIR/o/out.tar"
	assert_contains "$output" "bin/busybox"
	# No temp file left beside it.
	assert_equal "$(ls -A "$TEST_DIR/o")" "out.tar"
	# Through a symlink: the target is replaced, the link stays.
	ln -s out.tar "$TEST_DIR/o/link.tar"
	echo old >"$TEST_DIR/o/out.tar"
	run_berth export -o "$TEST_DIR/o/link.tar" e2
	[ -L "$TEST_DIR/o/link.tar" ] || die "the link was replaced"
	tar -tf "$TEST_DIR/o/out.tar" >/dev/null || die "the target is no archive"
	run_berth export -o /dev/null e2
	run_berth 1 export -o "$TEST_DIR/nodir/x.tar" e2
	assert_contains "$output" "failed to export container: invalid output path: stat $TEST_DIR/nodir: "
	# Never to a terminal.
	run pty_run 24 80 -- "$BERTH" export e2
	assert_contains "$output" "cowardly refusing to save to a terminal. Use the -o flag or redirect"
	assert_contains "$output" "EXIT=1"
	run_berth 1 export
	assert_contains "$output" '"berth export" requires exactly 1 argument.'
}
