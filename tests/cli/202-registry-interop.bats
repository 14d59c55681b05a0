#!/usr/bin/env bats
# `berth registry serve` with real clients and the reference registry: skopeo, podman and a
# private dockerd push and pull through it (docker also logs in to its token issuer), and
# Debian's docker-registry (CNCF distribution 2.8) serves a root berth wrote and the other
# way round. Last, crash safety: kill -9 during parallel uploads, then push again.

load helpers.registry

# A TCP port nobody listens on right now (for servers that cannot be asked for port 0).
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! ss -Htln "sport = :$p" | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# The digests of a pulled OCI layout's manifest, config and layers, one per line.
layout_digests() {
	local dir=$1 m
	m=$(jq -r '.manifests[0].digest' "$dir/index.json")
	echo "$m"
	jq -r '.config.digest, .layers[].digest' "$dir/blobs/sha256/${m#sha256:}"
}

@test "skopeo: copy an OCI layout in and out, inspect, list tags, delete" {
	start_registry --delete
	make_oci_layout "$TEST_DIR/oci" latest
	run skopeo copy --dest-tls-verify=false "oci:$TEST_DIR/oci:latest" "docker://$REG_HOST/sk/busybox:1.0"
	[ "$status" -eq 0 ] || die "skopeo copy in: $output"
	run skopeo copy --src-tls-verify=false "docker://$REG_HOST/sk/busybox:1.0" "oci:$TEST_DIR/back:x"
	[ "$status" -eq 0 ] || die "skopeo copy out: $output"
	assert_equal "$(layout_digests "$TEST_DIR/back")" "$(layout_digests "$TEST_DIR/oci")"
	assert_equal "$(jq -r '.manifests[0].digest' "$TEST_DIR/back/index.json")" "$OCI_MANIFEST_DIGEST"
	run skopeo inspect --tls-verify=false "docker://$REG_HOST/sk/busybox:1.0"
	[ "$status" -eq 0 ]
	assert_equal "$(echo "$output" | jq -r .Digest)" "$OCI_MANIFEST_DIGEST"
	assert_equal "$(echo "$output" | jq -r '.Env[0]')" "PATH=/bin"
	# A second tag: the blobs exist already, skopeo only checks them (no new upload).
	uploads=$(grep -c '"POST /v2/sk/busybox/blobs/uploads/"' "$TEST_DIR/registry.log")
	run skopeo copy --dest-tls-verify=false "oci:$TEST_DIR/oci:latest" "docker://$REG_HOST/sk/busybox:latest"
	[ "$status" -eq 0 ]
	assert_equal "$(grep -c '"POST /v2/sk/busybox/blobs/uploads/"' "$TEST_DIR/registry.log")" "$uploads"
	run skopeo list-tags --tls-verify=false "docker://$REG_HOST/sk/busybox"
	assert_equal "$(echo "$output" | jq -r '.Tags | join(",")')" "1.0,latest"
	run skopeo delete --tls-verify=false "docker://$REG_HOST/sk/busybox:latest"
	[ "$status" -eq 0 ] || die "skopeo delete: $output"
	# Deleting by tag resolves to the manifest: both tags go.
	run skopeo list-tags --tls-verify=false "docker://$REG_HOST/sk/busybox"
	assert_equal "$(echo "$output" | jq -r '.Tags | length')" 0
}

@test "skopeo copies from one repository of the registry to another" {
	start_registry
	first=$REG_HOST
	make_oci_layout "$TEST_DIR/oci" latest
	skopeo copy -q --dest-tls-verify=false "oci:$TEST_DIR/oci:latest" "docker://$first/a/img:1"
	skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$first/a/img:1" "docker://$first/b/img:1"
	run skopeo inspect --tls-verify=false "docker://$first/b/img:1"
	assert_equal "$(echo "$output" | jq -r .Digest)" "$OCI_MANIFEST_DIGEST"
}

@test "podman push and pull (its own root, --tls-verify=false)" {
	start_registry
	make_oci_layout "$TEST_DIR/oci" latest
	local pr=$TEST_DIR/podman
	P=(podman --root "$pr/root" --runroot "$pr/run" --storage-driver vfs --events-backend file
		--cgroup-manager cgroupfs --tmpdir "$pr/tmp")
	mkdir -p "$pr/tmp"
	skopeo copy -q "oci:$TEST_DIR/oci:latest" "containers-storage:[vfs@$pr/root+$pr/run]localhost/busybox:latest"
	run "${P[@]}" push --tls-verify=false localhost/busybox:latest "$REG_HOST/pod/busybox:1"
	[ "$status" -eq 0 ] || die "podman push: $output"
	run "${P[@]}" rmi -a -f
	run "${P[@]}" pull --tls-verify=false "$REG_HOST/pod/busybox:1"
	[ "$status" -eq 0 ] || die "podman pull: $output"
	config=$(jq -r '.config.digest' "$TEST_DIR/oci/blobs/sha256/${OCI_MANIFEST_DIGEST#sha256:}")
	assert_contains "$output" "${config#sha256:}"
	run "${P[@]}" image inspect --format '{{.Id}} {{.Os}}/{{.Architecture}}' "$REG_HOST/pod/busybox:1"
	assert_equal "$output" "${config#sha256:} linux/amd64"
	grep -q '"PUT /v2/pod/busybox/manifests/1" 201' "$TEST_DIR/registry.log"
	"${P[@]}" rmi -a -f >/dev/null 2>&1 || true
}

# start_dockerd INSECURE...: a private dockerd under $TEST_DIR/docker; sets DOCKER_HOST.
start_dockerd() {
	local d=$TEST_DIR/docker args=() r
	mkdir -p "$d/data" "$d/exec" "$d/cfg"
	for r in "$@"; do
		args+=(--insecure-registry "$r")
	done
	dockerd --data-root "$d/data" --exec-root "$d/exec" -H "unix://$d/docker.sock" \
		--pidfile "$d/docker.pid" --bridge=none --iptables=false --ip6tables=false \
		--storage-driver=vfs "${args[@]}" >"$d/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	EXTRA_PIDS+=("$DOCKERD_PID")
	export DOCKER_HOST=unix://$d/docker.sock DOCKER_CONFIG=$d/cfg
	for _ in $(seq 1 150); do
		docker version >/dev/null 2>&1 && return 0
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.2
	done
	tail -20 "$d/dockerd.log" >&2
	skip "no private dockerd here"
}

stop_dockerd() {
	kill -TERM "$DOCKERD_PID" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	# dockerd's own containerd and mounts go with it; the teardown unmounts leftovers.
}

@test "docker push, pull and login to the token issuer (a private dockerd)" {
	htpasswd -B -b -c "$TEST_DIR/htpasswd" alice wonderland 2>/dev/null
	start_registry
	open=$REG_HOST open_pid=$REG_PID
	# A second registry with token auth, on its own root.
	REG_PID= REG_ROOT=$TEST_DIR/registry-auth
	mv "$TEST_DIR/registry.log" "$TEST_DIR/registry-open.log"
	start_registry --htpasswd "$TEST_DIR/htpasswd" --token-issuer berth-test
	auth=$REG_HOST
	EXTRA_PIDS+=("$open_pid")
	start_dockerd "$open" "$auth"

	make_oci_layout "$TEST_DIR/oci" latest
	skopeo copy -q "oci:$TEST_DIR/oci:latest" "docker-archive:$TEST_DIR/bb.tar:busybox:latest"
	docker load -i "$TEST_DIR/bb.tar" >/dev/null
	docker tag busybox:latest "$open/dock/busybox:1"
	run docker push "$open/dock/busybox:1"
	[ "$status" -eq 0 ] || die "docker push: $output"
	digest=$(echo "$output" | sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p')
	[ -n "$digest" ]
	docker rmi "$open/dock/busybox:1" busybox:latest >/dev/null
	run docker pull "$open/dock/busybox:1"
	[ "$status" -eq 0 ] || die "docker pull: $output"
	assert_contains "$output" "Digest: $digest"
	run docker pull "$open/dock/busybox@$digest"
	[ "$status" -eq 0 ]

	# Token auth: a push without login is refused, docker login works, then push and pull.
	docker tag "$open/dock/busybox:1" "$auth/secure/busybox:1"
	run docker push "$auth/secure/busybox:1"
	[ "$status" -ne 0 ]
	run docker login -u alice -p wrong "$auth"
	[ "$status" -ne 0 ]
	run docker login -u alice --password-stdin "$auth" <<<"wonderland"
	[ "$status" -eq 0 ] || die "docker login: $output"
	assert_contains "$output" "Login Succeeded"
	run docker push "$auth/secure/busybox:1"
	[ "$status" -eq 0 ] || die "docker push (token): $output"
	docker rmi "$auth/secure/busybox:1" >/dev/null
	run docker pull "$auth/secure/busybox:1"
	[ "$status" -eq 0 ] || die "docker pull (token): $output"
	grep -q '"GET /token" 200' "$TEST_DIR/registry.log"
	grep -q ' alice "PUT /v2/secure/busybox/manifests/1" 201' "$TEST_DIR/registry.log"
	docker logout "$auth" >/dev/null
	docker rmi -f "$auth/secure/busybox:1" "$open/dock/busybox:1" >/dev/null 2>&1 || true
	stop_dockerd
}

# start_distribution ROOT: Debian's docker-registry on ROOT, 127.0.0.1; sets DIST_HOST.
# A port taken between free_port and docker-registry's bind makes it exit ("address already
# in use"): then another port. It has started when it listens (ss shows its PID, not
# another program's on that port) and answers.
start_distribution() {
	local port attempt
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		cat >"$TEST_DIR/distribution.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $1
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
		docker-registry serve "$TEST_DIR/distribution.yml" >"$TEST_DIR/distribution.log" 2>&1 &
		DIST_PID=$!
		EXTRA_PIDS+=("$DIST_PID")
		DIST_HOST=127.0.0.1:$port
		for _ in $(seq 1 100); do
			if ss -Hltnp "sport = :$port" | grep -q "pid=$DIST_PID," &&
				curl -sf "http://$DIST_HOST/v2/" >/dev/null; then
				return 0
			fi
			kill -0 "$DIST_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$DIST_PID" 2>/dev/null && break # running, but not answering
	done
	cat "$TEST_DIR/distribution.log" >&2
	die "docker-registry did not start"
}

stop_distribution() {
	kill -TERM "$DIST_PID"
	wait "$DIST_PID" || true
}

@test "docker-registry (distribution 2.8) serves a root that berth wrote" {
	start_registry
	make_oci_layout "$TEST_DIR/oci" latest
	skopeo copy -q --dest-tls-verify=false "oci:$TEST_DIR/oci:latest" "docker://$REG_HOST/lib/busybox:1"
	skopeo copy -q --dest-tls-verify=false "oci:$TEST_DIR/oci:latest" "docker://$REG_HOST/lib/busybox:2"
	make_image "$TEST_DIR/img"
	push_image other/app v1 "$TEST_DIR/img"
	stop_registry

	start_distribution "$REG_ROOT"
	run curl -sf "http://$DIST_HOST/v2/_catalog"
	assert_equal "$(echo "$output" | jq -r '.repositories | join(",")')" "lib/busybox,other/app"
	run curl -sf "http://$DIST_HOST/v2/lib/busybox/tags/list"
	# distribution 2.8 lists tags in directory order.
	assert_equal "$(echo "$output" | jq -r '.tags | sort | join(",")')" "1,2"
	run skopeo copy --src-tls-verify=false "docker://$DIST_HOST/lib/busybox:1" "oci:$TEST_DIR/back:x"
	[ "$status" -eq 0 ] || die "pull from docker-registry: $output"
	assert_equal "$(layout_digests "$TEST_DIR/back")" "$(layout_digests "$TEST_DIR/oci")"
	curl -sf "http://$DIST_HOST/v2/other/app/blobs/$LAYER_DIGEST" | cmp - "$TEST_DIR/img/layer.tar.gz"
	# And it can go on writing to it; berth then reads what it wrote.
	skopeo copy -q --dest-tls-verify=false "oci:$TEST_DIR/oci:latest" "docker://$DIST_HOST/lib/busybox:3"
	curl -sf -X DELETE "http://$DIST_HOST/v2/other/app/manifests/$MANIFEST_DIGEST"
	stop_distribution
	start_registry
	expect_status 200 "$REG_URL/v2/lib/busybox/tags/list"
	assert_equal "$(jq -r '.tags | join(",")' "$TEST_DIR/body")" "1,2,3"
	expect_status 404 "$REG_URL/v2/other/app/manifests/v1"
}

@test "berth serves a root that docker-registry wrote, and collects its garbage" {
	mkdir -p "$REG_ROOT"
	start_distribution "$REG_ROOT"
	make_oci_layout "$TEST_DIR/oci" latest
	run skopeo copy --dest-tls-verify=false "oci:$TEST_DIR/oci:latest" "docker://$DIST_HOST/dist/busybox:latest"
	[ "$status" -eq 0 ] || die "push to docker-registry: $output"
	make_image "$TEST_DIR/img"
	skopeo copy -q --dest-tls-verify=false "oci:$TEST_DIR/oci:latest" "docker://$DIST_HOST/dist/tmp:x"
	curl -sf -X DELETE "http://$DIST_HOST/v2/dist/tmp/manifests/$OCI_MANIFEST_DIGEST"
	# An upload left half done.
	loc=$(curl -sf -D - -o /dev/null -X POST "http://$DIST_HOST/v2/dist/busybox/blobs/uploads/" | sed -n 's/^Location: //Ip' | tr -d '\r')
	curl -sf -X PATCH -H 'Content-Type: application/octet-stream' --data-binary "partial" "$loc" >/dev/null
	stop_distribution

	start_registry --delete
	run skopeo copy --src-tls-verify=false "docker://$REG_HOST/dist/busybox:latest" "oci:$TEST_DIR/back:x"
	[ "$status" -eq 0 ] || die "pull from berth: $output"
	assert_equal "$(layout_digests "$TEST_DIR/back")" "$(layout_digests "$TEST_DIR/oci")"
	expect_status 200 "$REG_URL/v2/_catalog"
	assert_equal "$(jq -r '.repositories | join(",")' "$TEST_DIR/body")" "dist/busybox,dist/tmp"
	expect_status 404 "$REG_URL/v2/dist/tmp/manifests/x"
	# berth resumes distribution's upload (no hash state of ours: it hashes the data).
	uuid=${loc##*/}
	uuid=${uuid%%\?*}
	expect_status 204 "$REG_URL/v2/dist/busybox/blobs/uploads/$uuid"
	assert_equal "$(hdr Range)" "0-6"
	d=sha256:$(printf 'partial data' | sha256sum | cut -d' ' -f1)
	expect_status 201 -X PUT --data-binary " data" "$REG_URL/v2/dist/busybox/blobs/uploads/$uuid?digest=$d"
	stop_registry
	run_berth registry gc --root "$REG_ROOT" --grace 0
	run_berth registry ls --root "$REG_ROOT"
	assert_contains "$output" "dist/busybox"
	start_registry
	run skopeo copy --src-tls-verify=false "docker://$REG_HOST/dist/busybox:latest" "oci:$TEST_DIR/again:x"
	[ "$status" -eq 0 ]
	# docker-registry still reads the root after berth's gc.
	stop_registry
	start_distribution "$REG_ROOT"
	run skopeo copy --src-tls-verify=false "docker://$DIST_HOST/dist/busybox:latest" "oci:$TEST_DIR/third:x"
	[ "$status" -eq 0 ] || die "docker-registry after berth gc: $output"
}

@test "crash safety: kill -9 during parallel uploads, then resume and push again" {
	start_registry
	for i in 1 2 3 4; do
		head -c 3000000 /dev/urandom >"$TEST_DIR/blob$i"
	done
	# Four uploads: chunked ones that have sent a first chunk, then slow streams.
	for i in 1 2 3 4; do
		expect_status 202 -X POST "$REG_URL/v2/crash/app/blobs/uploads/"
		loc[$i]=$(hdr Location)
		head -c 1000000 "$TEST_DIR/blob$i" >"$TEST_DIR/first$i"
		expect_status 202 -X PATCH -H 'Content-Range: 0-999999' --data-binary @"$TEST_DIR/first$i" "$REG_URL${loc[$i]}"
		tail -c +1000001 "$TEST_DIR/blob$i" >"$TEST_DIR/rest$i"
		curl -s -o /dev/null --limit-rate 300k -X PATCH --data-binary @"$TEST_DIR/rest$i" "$REG_URL${loc[$i]}" &
		EXTRA_PIDS+=($!)
	done
	# A monolithic push in flight too.
	d5=$(sha256_of "$TEST_DIR/blob1")
	curl -s -o /dev/null --limit-rate 300k -X POST --data-binary @"$TEST_DIR/blob1" \
		"$REG_URL/v2/crash/mono/blobs/uploads/?digest=$d5" &
	EXTRA_PIDS+=($!)
	sleep 1.5
	stop_registry KILL
	start_registry

	# Every blob in the store is whole: it hashes to its name.
	while read -r f; do
		hex=$(basename "$(dirname "$f")")
		[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$hex" ] || die "torn blob $f"
	done < <(find "$REG_ROOT/docker/registry/v2/blobs" -name data)
	f=$REG_ROOT/docker/registry/v2/blobs/sha256/${d5:7:2}/${d5#sha256:}/data
	[ ! -e "$f" ] || cmp "$f" "$TEST_DIR/blob1"

	# The sessions resume where the data on disk ends (hashed again after the restart).
	for i in 1 2 3 4; do
		expect_status 204 "$REG_URL${loc[$i]}"
		end=$(hdr Range)
		end=${end#0-}
		[ "$end" -ge 999999 ] && [ "$end" -lt 3000000 ]
		tail -c +$((end + 2)) "$TEST_DIR/blob$i" >"$TEST_DIR/tail$i"
		d=$(sha256_of "$TEST_DIR/blob$i")
		expect_status 201 -X PUT -H "Content-Range: $((end + 1))-2999999" --data-binary @"$TEST_DIR/tail$i" \
			"$REG_URL${loc[$i]}?digest=$d"
		curl -sf "$REG_URL/v2/crash/app/blobs/$d" | cmp - "$TEST_DIR/blob$i"
	done
	# A whole image pushes again after the crash.
	make_oci_layout "$TEST_DIR/oci" latest
	run skopeo copy --dest-tls-verify=false "oci:$TEST_DIR/oci:latest" "docker://$REG_HOST/crash/busybox:1"
	[ "$status" -eq 0 ] || die "push after crash: $output"
	run skopeo inspect --tls-verify=false "docker://$REG_HOST/crash/busybox:1"
	assert_equal "$(echo "$output" | jq -r .Digest)" "$OCI_MANIFEST_DIGEST"
}
