#!/usr/bin/env bats
# Commits against the real docker (a private dockerd, helpers.docker.bash): a berth commit,
# saved and loaded by docker, has the same id, history and files; a docker commit, saved and
# loaded by berth, runs in berth with its changes (whiteouts and opaque directories
# included).

load helpers.containers
load helpers.docker

setup_file() {
	start_private_dockerd
}

teardown_file() {
	stop_private_dockerd
}

# The changes both engines make in their containers: a deleted file, a directory made
# again (opaque), a new file, a changed page, an owner.
CHANGES='rm /bin/vi && rm -rf /usr/share/nginx/html && mkdir /usr/share/nginx/html &&
	echo "hello!" >/usr/share/nginx/html/index.html && mkdir /data && echo d >/data/d &&
	chown 1000:1000 /data/d'

CHECK='cat /usr/share/nginx/html/index.html; ls /usr/share/nginx/html; [ -e /bin/vi ] || echo no vi;
	stat -c "%u:%g" /data/d; cat /data/d'

EXPECTED='hello!
index.html
no vi
1000:1000
d'

@test "interop: berth commit | berth save | docker load: same id, history and files" {
	require_dockerd
	run_berth run -d --network none --name bc $IMG sleep 1000
	run_berth exec bc sh -c "$CHANGES"
	run_berth commit -a "user1 <u@example.com>" -m "first commit" -c 'ENV STAGE=one' bc commit_test:1.0
	local id=$output
	berth save commit_test:1.0 | docker load >"$TEST_DIR/load.out"
	assert_contains "$(cat "$TEST_DIR/load.out")" "Loaded image: commit_test:1.0"
	run docker image inspect -f '{{.Id}}|{{.Author}}|{{.Comment}}' commit_test:1.0
	assert_equal "$output" "$id|user1 <u@example.com>|first commit"
	run docker history --no-trunc --format '{{.CreatedBy}}|{{.Comment}}' commit_test:1.0
	local dh=$output
	run_berth history --no-trunc --format '{{.CreatedBy}}|{{.Comment}}' commit_test:1.0
	assert_equal "$dh" "$output"
	assert_equal "$(head -n1 <<<"$dh")" "sleep 1000|first commit"
	run timeout 60 docker run --rm --network none commit_test:1.0 sh -c "$CHECK; echo \$STAGE"
	[ "$status" -eq 0 ] || die "docker run failed: $output"
	assert_equal "$output" "$EXPECTED
one"
	# docker diff of a container of it: nothing changed yet, so the layers were whole.
	docker rm -f bc-d >/dev/null 2>&1 || true
	docker create --network none --name bc-d commit_test:1.0 >/dev/null
	run docker diff bc-d
	assert_equal "$output" ""
	docker rm -f bc-d >/dev/null
	docker rmi commit_test:1.0 >/dev/null
}

@test "interop: docker commit | docker save | berth load | berth run" {
	require_dockerd
	make_busybox_tar "$TEST_DIR/bb.tar"
	docker import "$TEST_DIR/bb.tar" d-base:1 >/dev/null
	docker rm -f dc >/dev/null 2>&1 || true
	docker run -d --network none --name dc d-base:1 sleep 1000 >/dev/null
	docker exec dc sh -c "$CHANGES"
	local did
	did=$(docker commit -a user1 -m "docker commit" -c 'CMD ["cat","/data/d"]' dc d-commit:1)
	docker save -o "$TEST_DIR/d.tar" d-commit:1
	docker rm -f dc >/dev/null

	run_berth load -i "$TEST_DIR/d.tar"
	assert_contains "$output" "Loaded image: d-commit:1"
	# (docker 20.10 keeps a commit's message in its history entry only.)
	run_berth image inspect -f '{{.Id}}|{{.Author}}' d-commit:1
	assert_equal "$output" "$did|user1"
	run_berth history --format '{{.CreatedBy}}|{{.Comment}}' d-commit:1
	assert_equal "$(head -n1 <<<"$output")" "sleep 1000|docker commit"
	run_berth run --rm --network none d-commit:1
	assert_equal "$output" "d"
	run_berth run --rm --network none d-commit:1 sh -c "$CHECK"
	assert_equal "$output" "$EXPECTED"
	# And a berth commit on top of docker's, back to docker.
	run_berth run -d --network none --name on-top d-commit:1 sleep 1000
	run_berth exec on-top sh -c 'echo again >/data/d'
	run_berth commit -m "berth on docker" on-top d-commit:2
	local bid=$output
	berth save d-commit:2 | docker load >/dev/null
	# The commit's Cmd is its container's ("sleep 1000"), as in docker.
	run timeout 60 docker run --rm --network none d-commit:2 cat /data/d
	assert_equal "$output" "again"
	run docker image inspect -f '{{.Id}}' d-commit:2
	assert_equal "$output" "$bid"
	docker rmi d-commit:1 d-commit:2 d-base:1 >/dev/null
}
