#!/usr/bin/env bats
# berth's archives against the real docker (dockerd 20.10 from Debian): what berth saves,
# docker loads and runs; what docker imports and saves, berth loads with the same ids, and
# as one transaction when killed.

load helpers.images
load helpers.docker

setup_file() {
	start_private_dockerd
}

teardown_file() {
	stop_private_dockerd
}

@test "interop: berth save | docker load, and docker runs the image" {
	require_dockerd
	make_busybox_tar "$TEST_DIR/bb.tar"
	run_berth import -c 'CMD ["/bin/echo","from cmd"]' -c 'ENV GREETING=hello' "$TEST_DIR/bb.tar" b2d:1
	local id=$output
	run_berth tag b2d:1 b2d:other
	berth save b2d:1 b2d:other | docker load >"$TEST_DIR/out"
	assert_contains "$(cat "$TEST_DIR/out")" "Loaded image: b2d:1"
	assert_contains "$(cat "$TEST_DIR/out")" "Loaded image: b2d:other"
	# The same image id: docker's id is the config digest, as berth's.
	run docker image inspect -f '{{.Id}}' b2d:1
	assert_equal "$output" "$id"
	run docker image inspect -f '{{.Id}}' b2d:other
	assert_equal "$output" "$id"
	run docker run --rm --network none b2d:1 /bin/echo hi
	[ "$status" -eq 0 ] || die "docker run failed: $output"
	assert_equal "$output" "hi"
	run docker run --rm --network none b2d:1
	assert_equal "$output" "from cmd"
	run docker run --rm --network none b2d:1 /bin/sh -c 'echo $GREETING; cat /usr/share/nginx/html/index.html'
	assert_equal "$output" "hello
<h1>Welcome to nginx!</h1>"
}

@test "interop: docker import + docker save, then berth load: same ids and diff_ids" {
	require_dockerd
	make_busybox_tar "$TEST_DIR/bb.tar"
	local did1 did2
	did1=$(docker import "$TEST_DIR/bb.tar" d2b:1)
	did2=$(docker import -c 'CMD ["/bin/sh"]' -m "from docker" "$TEST_DIR/bb.tar" d2b:2)
	docker tag d2b:1 d2b:again
	# Three names and two images that share one layer: docker 20.10 writes the second copy
	# of the layer as a symlink.
	docker save -o "$TEST_DIR/d.tar" d2b:1 d2b:2 d2b:again
	run tar -tvf "$TEST_DIR/d.tar"
	assert_contains "$output" "layer.tar ->"

	run_berth load -i "$TEST_DIR/d.tar"
	assert_contains "$output" "Loaded image: d2b:1"
	assert_contains "$output" "Loaded image: d2b:2"
	assert_contains "$output" "Loaded image: d2b:again"
	local name
	for name in d2b:1 d2b:2 d2b:again; do
		run_berth image inspect -f '{{.Id}}' "$name"
		assert_equal "$output" "$(docker image inspect -f '{{.Id}}' "$name")"
		run_berth image inspect -f '{{json .RootFS.Layers}}' "$name"
		assert_equal "$output" "$(docker image inspect -f '{{json .RootFS.Layers}}' "$name")"
	done
	run_berth image inspect -f '{{.Id}}' d2b:1
	assert_equal "$output" "$did1"
	run_berth image inspect -f '{{.Id}}' d2b:2
	assert_equal "$output" "$did2"
	run_berth image inspect -f '{{.Comment}}' d2b:2
	assert_equal "$output" "from docker"
	run_berth image inspect -f '{{json .Config.Cmd}}' d2b:2
	assert_equal "$output" '["/bin/sh"]'
	# The files are docker's: the same tar, the same diff_id as the tar's own sha256.
	assert_equal "$(docker image inspect -f '{{index .RootFS.Layers 0}}' d2b:1)" \
		"sha256:$(sha256sum "$TEST_DIR/bb.tar" | cut -d' ' -f1)"
	run_berth image inspect -f '{{.GraphDriver.Data.UpperDir}}' d2b:1
	[ -x "$output/bin/busybox" ]
}

@test "interop: docker save | gzip | berth load from stdin, and back to docker" {
	require_dockerd
	make_busybox_tar "$TEST_DIR/bb.tar"
	local did
	did=$(docker import "$TEST_DIR/bb.tar" round:1)
	docker save round:1 | gzip | "$BERTH" load >"$TEST_DIR/out"
	assert_equal "$(cat "$TEST_DIR/out")" "Loaded image: round:1"
	docker rmi round:1 >/dev/null
	berth save round:1 | docker load >/dev/null
	run docker image inspect -f '{{.Id}}' round:1
	assert_equal "$output" "$did"
	run docker run --rm --network none round:1 /bin/echo back
	assert_equal "$output" "back"
}

@test "interop: a docker save of three images loads as one transaction, killed at any moment" {
	require_dockerd
	make_busybox_tar "$TEST_DIR/bb.tar"
	docker import "$TEST_DIR/bb.tar" dkill:1 >/dev/null
	docker import -c 'CMD ["/bin/sh"]' "$TEST_DIR/bb.tar" dkill:2 >/dev/null
	make_file_tar "$TEST_DIR/other.tar" 400000
	docker import "$TEST_DIR/other.tar" dkill:3 >/dev/null
	docker save -o "$TEST_DIR/d.tar" dkill:1 dkill:2 dkill:3
	docker rmi dkill:1 dkill:2 dkill:3 >/dev/null
	berth images >/dev/null # makes the store
	load_kill_loop "$TEST_DIR/d.tar" 8 dkill:1 dkill:2 dkill:3
}
