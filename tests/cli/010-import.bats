#!/usr/bin/env bats
# berth import: tars (plain and compressed), directories, stdin, URLs; --change, --message,
# --platform; bad input leaves nothing behind.

load helpers

# The image config (the blob named by the image id), as the store keeps it
# (docs/internals/STORE.md: blobs/<alg>/<hex>).
config_of() {
	cat "$BERTH_ROOT/blobs/sha256/${1#sha256:}"
}

# Files in blobs/ and layer directories in layers/, and what is in tmp/.
store_census() {
	local blobs layers tmp
	blobs=$(find "$BERTH_ROOT/blobs" -type f 2>/dev/null | wc -l)
	layers=$(find "$BERTH_ROOT/layers" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	tmp=$(find "$BERTH_ROOT/tmp" -mindepth 1 2>/dev/null | wc -l)
	echo "blobs=$blobs layers=$layers tmp=$tmp"
}

@test "import: a busybox tar gives a one-layer image whose diff_id is the tar's sha256" {
	make_busybox_tar "$TEST_DIR/bb.tar"
	run_berth import "$TEST_DIR/bb.tar" bb:1
	[[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]] || die "not an image id: $output"
	local id=$output
	local sum
	sum=$(sha256sum "$TEST_DIR/bb.tar" | cut -d' ' -f1)

	run_berth image inspect -f '{{.Id}}' bb:1
	assert_equal "$output" "$id"
	# The id is the digest of the config blob.
	assert_equal "sha256:$(sha256sum "$BERTH_ROOT/blobs/sha256/${id#sha256:}" | cut -d' ' -f1)" "$id"

	local cfg
	cfg=$(config_of "$id")
	assert_equal "$(jq -r .architecture <<<"$cfg")" "amd64"
	assert_equal "$(jq -r .os <<<"$cfg")" "linux"
	assert_equal "$(jq -r '.rootfs.type' <<<"$cfg")" "layers"
	assert_equal "$(jq -r '.rootfs.diff_ids | join(",")' <<<"$cfg")" "sha256:$sum"
	assert_equal "$(jq -r '.history | length' <<<"$cfg")" "1"
	assert_equal "$(jq -r '.history[0].comment' <<<"$cfg")" "Imported from -"
	assert_equal "$(jq -r '.history[0].created == .created' <<<"$cfg")" "true"
	[[ "$(jq -r .created <<<"$cfg")" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$ ]]

	# The layer blob is the uncompressed tar, described by an OCI manifest.
	[ -f "$BERTH_ROOT/blobs/sha256/$sum" ] || die "layer blob missing"
	cmp "$TEST_DIR/bb.tar" "$BERTH_ROOT/blobs/sha256/$sum"

	# And the files are there, unpacked.
	run_berth image inspect -f '{{.GraphDriver.Data.UpperDir}}' bb:1
	[ -x "$output/bin/busybox" ] || die "bin/busybox not unpacked in $output"
	[ -L "$output/bin/sh" ] || die "bin/sh is not a symlink"
}

# src/util/standin/libxml2.c: libarchive links libxml2 (and through it ICU and libstdc++)
# for the xar format, which berth never reads.
@test "import: libarchive is loaded with berth's libxml2 stand-in; one it refuses falls back" {
	make_busybox_tar "$TEST_DIR/bb.tar"
	LD_DEBUG=files "$BERTH" import "$TEST_DIR/bb.tar" std:1 2>"$TEST_DIR/ld.log" >/dev/null
	grep -q 'file=libarchive\.so' "$TEST_DIR/ld.log" || die "libarchive was not loaded"
	grep -q 'file=.*/berth-libxml2-off\.so' "$TEST_DIR/ld.log" || die "no stand-in loaded"
	# (Not libstdc++: a sanitizer build's libubsan needs it.)
	! grep -E 'file=[^ ]*(libxml2\.so|libicu)' "$TEST_DIR/ld.log" ||
		die "libxml2 or ICU was loaded"

	# Beside a stand-in without libxml2's symbols: libarchive loads with the real libxml2.
	mkdir "$TEST_DIR/bin"
	cp "$BERTH" "$TEST_DIR/bin/berth"
	echo 'int berth_not_libxml2;' | gcc -shared -fPIC -Wl,-soname,libxml2.so.2 \
		-o "$TEST_DIR/bin/berth-libxml2-off.so" -x c -
	LD_DEBUG=files "$TEST_DIR/bin/berth" import "$TEST_DIR/bb.tar" real:1 2>"$TEST_DIR/ld.log" >/dev/null
	grep -q 'file=libxml2\.so\.2 .*needed by .*libarchive' "$TEST_DIR/ld.log" ||
		die "libarchive did not load the real libxml2: $(grep 'file=' "$TEST_DIR/ld.log")"
	# The same layer either way.
	run_berth image inspect -f '{{json .RootFS.Layers}}' std:1
	local layers=$output
	assert_contains "$layers" "sha256:$(sha256sum "$TEST_DIR/bb.tar" | cut -d' ' -f1)"
	run_berth image inspect -f '{{json .RootFS.Layers}}' real:1
	assert_equal "$output" "$layers"
}

@test "import: gzip, zstd and xz tars give the same layer as the plain one" {
	make_busybox_tar "$TEST_DIR/bb.tar"
	local sum
	sum=$(sha256sum "$TEST_DIR/bb.tar" | cut -d' ' -f1)
	gzip -c "$TEST_DIR/bb.tar" >"$TEST_DIR/bb.tar.gz"
	zstd -q -c "$TEST_DIR/bb.tar" >"$TEST_DIR/bb.tar.zst"
	xz -c "$TEST_DIR/bb.tar" >"$TEST_DIR/bb.tar.xz"
	local f
	for f in bb.tar.gz bb.tar.zst bb.tar.xz; do
		run_berth import "$TEST_DIR/$f" "x:${f##*.}"
		assert_equal "$(config_of "$output" | jq -r '.rootfs.diff_ids[0]')" "sha256:$sum"
	done
	# One layer, shared by the three images.
	assert_equal "$(find "$BERTH_ROOT/layers" -mindepth 1 -maxdepth 1 | wc -l)" "1"
	run_berth images --format '{{.Repository}}:{{.Tag}}'
	assert_contains "$output" "x:gz"
	assert_contains "$output" "x:zst"
	assert_contains "$output" "x:xz"
}

@test "import: a directory is tarred in-process" {
	make_busybox_rootfs "$TEST_DIR/rootfs"
	echo same >"$TEST_DIR/rootfs/etc/one"
	ln "$TEST_DIR/rootfs/etc/one" "$TEST_DIR/rootfs/etc/two"
	mkdir -p "$TEST_DIR/rootfs/deep/er/still"
	echo bottom >"$TEST_DIR/rootfs/deep/er/still/file"
	mkfifo "$TEST_DIR/rootfs/tmp/fifo"
	mknod "$TEST_DIR/rootfs/tmp/null" c 1 3
	# A socket can not go into a tar: skipped, as GNU tar skips it.
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TEST_DIR/rootfs/tmp/sock"
	run_berth import "$TEST_DIR/rootfs" dir:1
	local id=$output
	local diff
	diff=$(config_of "$id" | jq -r '.rootfs.diff_ids[0]')
	# The kept layer blob is the tar that was made; it names the files relative to the root.
	local blob=$BERTH_ROOT/blobs/sha256/${diff#sha256:}
	run tar -tvf "$blob"
	assert_contains "$output" "bin/busybox"
	assert_contains "$output" "deep/er/still/file"
	assert_contains "$output" "etc/two link to etc/one"
	[[ "$output" != *"$TEST_DIR"* ]] || die "absolute source path leaked into the tar"

	run_berth image inspect -f '{{.GraphDriver.Data.UpperDir}}' dir:1
	local dir=$output
	assert_equal "$(cat "$dir/deep/er/still/file")" "bottom"
	assert_equal "$(stat -c %i "$dir/etc/one")" "$(stat -c %i "$dir/etc/two")"
	[ -x "$dir/bin/busybox" ]
	[ -p "$dir/tmp/fifo" ]
	[ -c "$dir/tmp/null" ]
	[ ! -e "$dir/tmp/sock" ]
	assert_equal "$(stat -c %a "$dir/tmp")" "1777"
}

@test "import: from stdin with -" {
	make_busybox_tar "$TEST_DIR/bb.tar"
	run_berth import - stdin:latest <"$TEST_DIR/bb.tar"
	local id=$output
	run_berth image inspect -f '{{.Id}}' stdin
	assert_equal "$output" "$id"
	# Untagged when no repository is given.
	run_berth import - <"$TEST_DIR/bb.tar"
	run_berth images --format '{{.Repository}} {{.Tag}}'
	assert_contains "$output" "<none> <none>"
	# Empty input is an empty layer, as dockerd 20.10 makes it.
	run_berth import - empty:1 </dev/null
	assert_equal "$(config_of "$output" | jq -r '.rootfs.diff_ids[0]')" \
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
}

@test "import: --change, --message and --platform end up in the config" {
	make_busybox_tar "$TEST_DIR/bb.tar"
	run_berth import -m "hello msg" \
		-c 'CMD echo hi' -c 'ENV A=1 B="x y"' -c 'EXPOSE 80/tcp 53/udp' -c 'LABEL a=b' \
		-c 'VOLUME /x' -c 'USER u:g' -c 'WORKDIR /w' -c 'ENTRYPOINT ["/bin/sh","-c"]' \
		-c 'ONBUILD RUN x' --change='ENV C=$A' \
		--platform linux/arm64 "$TEST_DIR/bb.tar" changed:1
	local id=$output
	local cfg
	cfg=$(config_of "$id")
	assert_equal "$(jq -c .config.Cmd <<<"$cfg")" '["/bin/sh","-c","echo hi"]'
	assert_equal "$(jq -c .config.Entrypoint <<<"$cfg")" '["/bin/sh","-c"]'
	assert_equal "$(jq -c .config.Env <<<"$cfg")" '["A=1","B=x y","C=1"]'
	assert_equal "$(jq -c '.config.ExposedPorts | keys' <<<"$cfg")" '["53/udp","80/tcp"]'
	assert_equal "$(jq -c .config.Labels <<<"$cfg")" '{"a":"b"}'
	assert_equal "$(jq -c .config.Volumes <<<"$cfg")" '{"/x":{}}'
	assert_equal "$(jq -r .config.User <<<"$cfg")" "u:g"
	assert_equal "$(jq -r .config.WorkingDir <<<"$cfg")" "/w"
	assert_equal "$(jq -c .config.OnBuild <<<"$cfg")" '["RUN x"]'
	assert_equal "$(jq -r .architecture <<<"$cfg")" "arm64"
	assert_equal "$(jq -r '.history[0].comment' <<<"$cfg")" "hello msg"
	assert_equal "$(jq -r .comment <<<"$cfg")" "hello msg"

	# The same as inspect and history show them.
	run_berth image inspect -f '{{json .Config.Cmd}}' changed:1
	assert_equal "$output" '["/bin/sh","-c","echo hi"]'
	run_berth history --format '{{.Comment}}' changed:1
	assert_equal "$output" "hello msg"
}

@test "import: a bad --change fails before reading, with docker's wording" {
	make_busybox_tar "$TEST_DIR/bb.tar"
	run_berth 1 import -c 'FOO bar' "$TEST_DIR/bb.tar"
	assert_contains "$output" "dockerfile parse error on line 1: unknown instruction: FOO"
	run_berth 1 import -c 'RUN make' "$TEST_DIR/bb.tar"
	assert_contains "$output" "run is not a valid change command"
	run_berth 1 import -c 'EXPOSE 80/foo' "$TEST_DIR/bb.tar"
	assert_contains "$output" "Invalid proto: foo"
	run_berth 1 import -c 'ENV A' "$TEST_DIR/bb.tar"
	assert_contains "$output" "ENV must have two arguments"
	# Nothing was even written (the store may not exist at all).
	assert_equal "$(store_census)" "blobs=0 layers=0 tmp=0"
	run_berth 1 import --platform windows/amd64 "$TEST_DIR/bb.tar"
	assert_contains "$output" "not supported"
}

@test "import: bad input fails with a clear error and leaves nothing in the store" {
	make_busybox_tar "$TEST_DIR/bb.tar"
	run_berth import "$TEST_DIR/bb.tar" keep:1
	local before
	before=$(store_census)

	run_berth 1 import "$TEST_DIR/missing.tar"
	assert_contains "$output" "open $TEST_DIR/missing.tar: No such file or directory"

	head -c 100000 /dev/urandom >"$TEST_DIR/noise"
	run_berth 1 import "$TEST_DIR/noise" bad:1
	assert_contains "$output" "berth: import:"

	# A tar cut in the middle of a file.
	head -c 700000 "$TEST_DIR/bb.tar" >"$TEST_DIR/cut.tar"
	run_berth 1 import "$TEST_DIR/cut.tar" bad:2

	# A gzip stream that is corrupt half way.
	gzip -c "$TEST_DIR/bb.tar" >"$TEST_DIR/bb.tgz"
	python3 - "$TEST_DIR/bb.tgz" <<-'EOF'
		import sys
		p = sys.argv[1]
		b = bytearray(open(p, 'rb').read())
		for i in range(len(b) // 2, len(b) // 2 + 64):
		    b[i] ^= 0x5a
		open(p, 'wb').write(b)
	EOF
	run_berth 1 import "$TEST_DIR/bb.tgz" bad:3

	# A tar that writes outside its root.
	python3 - "$TEST_DIR/evil.tar" <<-'EOF'
		import io, sys, tarfile
		with tarfile.open(sys.argv[1], 'w') as t:
		    data = b'owned\n'
		    info = tarfile.TarInfo('../../evil')
		    info.size = len(data)
		    t.addfile(info, io.BytesIO(data))
	EOF
	run_berth 1 import "$TEST_DIR/evil.tar" bad:4

	assert_equal "$(store_census)" "$before"
	run_berth images --format '{{.Repository}}:{{.Tag}}'
	assert_equal "$output" "keep:1"
	[ ! -e "$TEST_DIR/evil" ] && [ ! -e "$TEST_DIR/../evil" ]
}

@test "import: argument errors" {
	run_berth 1 import
	assert_contains "$output" '"berth import" requires at least 1 argument'
	run_berth 1 import a b c
	assert_contains "$output" '"berth import" requires at most 2 arguments'
	make_busybox_tar "$TEST_DIR/bb.tar"
	run_berth 1 import "$TEST_DIR/bb.tar" Bad:Name
	assert_contains "$output" "invalid reference format"
	run_berth 1 import "$TEST_DIR/bb.tar" "x@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	assert_contains "$output" "cannot import digest reference"
	assert_equal "$(store_census)" "blobs=0 layers=0 tmp=0"
}

# A static file server on 127.0.0.1 (busybox httpd), killed by its pid in teardown.
start_httpd() {
	local dir=$1 port
	for port in $(shuf -i 20000-60000 -n 20); do
		busybox httpd -f -p "127.0.0.1:$port" -h "$dir" &
		HTTPD_PID=$!
		local i
		for i in $(seq 1 50); do
			# Ours, not another program's on a port that was taken (then ours exits
			# with "Address already in use").
			if ss -Hltnp "sport = :$port" | grep -q "pid=$HTTPD_PID,"; then
				HTTPD_PORT=$port
				return 0
			fi
			kill -0 "$HTTPD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill "$HTTPD_PID" 2>/dev/null || true
		wait "$HTTPD_PID" 2>/dev/null || true
	done
	die "could not start busybox httpd"
}

teardown() {
	if [ -n "${HTTPD_PID:-}" ]; then
		kill "$HTTPD_PID" 2>/dev/null || true
		wait "$HTTPD_PID" 2>/dev/null || true
	fi
	berth_teardown
}

@test "import: from an http URL on 127.0.0.1" {
	mkdir "$TEST_DIR/www"
	make_busybox_tar "$TEST_DIR/www/bb.tar"
	gzip -c "$TEST_DIR/www/bb.tar" >"$TEST_DIR/www/bb.tgz"
	start_httpd "$TEST_DIR/www"
	local url=http://127.0.0.1:$HTTPD_PORT/bb.tgz
	run_berth import "$url" web:1
	local cfg
	cfg=$(config_of "$output")
	assert_equal "$(jq -r '.history[0].comment' <<<"$cfg")" "Imported from $url"
	assert_equal "$(jq -r '.rootfs.diff_ids[0]' <<<"$cfg")" \
		"sha256:$(sha256sum "$TEST_DIR/www/bb.tar" | cut -d' ' -f1)"

	local before
	before=$(store_census)
	run_berth 1 import "http://127.0.0.1:$HTTPD_PORT/nope.tar" web:2
	assert_contains "$output" "404"
	assert_equal "$(store_census)" "$before"
}
