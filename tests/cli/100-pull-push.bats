#!/usr/bin/env bats
# berth pull / push against docker-registry (distribution 2.8) over plain HTTP on 127.0.0.1
# (loopback: insecure by Docker's rules), and against a python registry that misbehaves:
# wrong digests, connections cut half way, schema 1, unknown media types; pushes through a
# python proxy that cuts an upload half way.

load helpers.distribution

CFG='{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"]}}'

# The manifest a registry serves for REPO:REF (any of the four types).
registry_manifest() {
	dist_curl -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json' \
		"$1/v2/$2/manifests/$3"
}

@test "push, rmi, pull: a five-layer image comes back with the same id and digest" {
	start_distribution
	local id
	id=$(load_config_image "$DIST_HOST/multi:1" "$CFG" 3000 5000 7000 9000 11000)
	run_berth push "$DIST_HOST/multi:1"
	assert_contains "$output" "The push refers to repository [$DIST_HOST/multi]"
	assert_equal "$(grep -c ': Pushed$' <<<"$output")" 5
	local digest size
	digest=$(sed -n 's/^1: digest: \(sha256:[0-9a-f]\{64\}\) size: [0-9]*$/\1/p' <<<"$output")
	size=$(sed -n 's/^1: digest: sha256:[0-9a-f]* size: \([0-9]*\)$/\1/p' <<<"$output")
	[ -n "$digest" ] || die "no digest line in: $output"

	# The registry has what berth said: gzip layers (the store kept plain tars), same digest.
	registry_manifest "$DIST_URL" multi 1 >"$TEST_DIR/m.json"
	assert_equal "$(sha256_file "$TEST_DIR/m.json")" "$digest"
	assert_equal "$(stat -c %s "$TEST_DIR/m.json")" "$size"
	assert_equal "$(jq -r '[.layers[].mediaType] | unique | join(",")' "$TEST_DIR/m.json")" \
		"application/vnd.oci.image.layer.v1.tar+gzip"
	assert_equal "$(jq -r .config.digest "$TEST_DIR/m.json")" "$id"

	run_berth rmi "$DIST_HOST/multi:1"
	assert_equal "$(store_image_count)" 0
	run_berth pull "$DIST_HOST/multi:1"
	assert_contains "$output" "1: Pulling from multi"
	assert_equal "$(grep -c ': Pull complete$' <<<"$output")" 5
	assert_contains "$output" "Digest: $digest"
	assert_contains "$output" "Status: Downloaded newer image for $DIST_HOST/multi:1"
	assert_equal "${lines[-1]}" "$DIST_HOST/multi:1"
	run_berth image inspect -f '{{.Id}}' "$DIST_HOST/multi:1"
	assert_equal "$output" "$id"
	run_berth image inspect -f '{{json .RepoDigests}}' "$DIST_HOST/multi:1"
	assert_contains "$output" "$DIST_HOST/multi@$digest"
	# Every layer was unpacked: each holds its one 'data' file.
	assert_equal "$(find "$BERTH_ROOT/layers" -name data -type f | wc -l)" 5
}

@test "push twice: the second sends no layer and gives the same digest" {
	start_distribution
	load_config_image "$DIST_HOST/again:1" "$CFG" 4000 6000 >/dev/null
	run_berth push "$DIST_HOST/again:1"
	local first=${lines[-1]}
	run_berth push "$DIST_HOST/again:1"
	assert_equal "$(grep -c ': Layer already exists$' <<<"$output")" 2
	assert_equal "$(grep -c ': Pushed$' <<<"$output")" 0
	assert_equal "${lines[-1]}" "$first"
	# The record now names the gzip blobs, so save and a third push use them as they are.
	run_berth image inspect -f '{{json .RepoDigests}}' "$DIST_HOST/again:1"
	assert_contains "$output" "$DIST_HOST/again@$(sed 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/' <<<"$first")"
}

@test "pull: again is up to date; by digest; -q prints only the reference" {
	start_distribution
	load_config_image "$DIST_HOST/app:v1" "$CFG" 2000 >/dev/null
	run_berth push "$DIST_HOST/app:v1"
	local digest
	digest=$(sed -n 's/^v1: digest: \(sha256:[0-9a-f]*\) .*/\1/p' <<<"$output")
	run_berth pull "$DIST_HOST/app:v1"
	assert_contains "$output" "Already exists"
	assert_contains "$output" "Status: Image is up to date for $DIST_HOST/app:v1"

	run_berth rmi "$DIST_HOST/app:v1"
	run_berth pull "$DIST_HOST/app@$digest"
	assert_contains "$output" "$digest: Pulling from app"
	assert_contains "$output" "Status: Downloaded newer image for $DIST_HOST/app@$digest"
	assert_equal "${lines[-1]}" "$DIST_HOST/app@$digest"
	# Pulled by digest: no tag.
	run_berth images --format '{{.Repository}}:{{.Tag}}'
	assert_equal "$output" "$DIST_HOST/app:<none>"

	run_berth pull -q "$DIST_HOST/app:v1"
	assert_equal "$output" "$DIST_HOST/app:v1"
	run_berth 1 pull "$DIST_HOST/app:nope"
	assert_contains "$output" "manifest for $DIST_HOST/app:nope not found"
	assert_contains "$output" "manifest unknown"
	run_berth 1 pull "$DIST_HOST/app"
	assert_equal "${lines[0]}" "Using default tag: latest"
	assert_contains "$output" "manifest for $DIST_HOST/app:latest not found"
}

@test "pull -a: every tag of the repository" {
	start_distribution
	load_config_image "$DIST_HOST/tags:a" "$CFG" 1000 >/dev/null
	load_config_image "$DIST_HOST/tags:b" "$CFG" 1001 >/dev/null
	load_config_image "$DIST_HOST/tags:c" "$CFG" 1002 >/dev/null
	run_berth push -a "$DIST_HOST/tags"
	assert_equal "$(grep -c ': digest: ' <<<"$output")" 3
	run_berth rmi "$DIST_HOST/tags:a" "$DIST_HOST/tags:b" "$DIST_HOST/tags:c"
	run_berth pull -a "$DIST_HOST/tags"
	assert_contains "$output" "a: Pulling from tags"
	assert_contains "$output" "c: Pulling from tags"
	assert_equal "${lines[-1]}" "$DIST_HOST/tags"
	run_berth images --format '{{.Tag}}'
	assert_equal "$(sort <<<"$output" | tr '\n' ' ')" "a b c "
	run_berth 1 pull -a "$DIST_HOST/tags:a"
	assert_contains "$output" "tag can't be used with --all-tags/-a"
}

@test "push: gzip leaves random bytes in stored blocks and compresses the rest; pull reads it back" {
	start_distribution
	local d=$TEST_DIR/mixed
	mkdir -p "$d/root"
	# Random bytes first (the first piece of the stream), then text, then random again.
	head -c 3000000 /dev/urandom >"$d/root/random1"
	seq 1 600000 >"$d/root/text"
	head -c 1000000 /dev/urandom >"$d/root/random2"
	tar -C "$d/root" --numeric-owner -cf "$d/layer.tar" random1 text random2
	make_save_archive "$d/image.tar" "$DIST_HOST/mixed:1" "$CFG" "$d/layer.tar"
	run_berth load -i "$d/image.tar"
	run_berth push "$DIST_HOST/mixed:1"
	registry_manifest "$DIST_URL" mixed 1 >"$d/m.json"
	local layer
	layer=$(jq -r '.layers[0].digest' "$d/m.json")
	dist_curl "$DIST_URL/v2/mixed/blobs/$layer" >"$d/blob"
	assert_equal "$(sha256_file "$d/blob")" "$layer"
	gzip -t "$d/blob" || die "not a valid gzip stream"
	assert_equal "$(gzip -dc "$d/blob" | sha256sum | cut -d' ' -f1)" \
		"$(sha256sum "$d/layer.tar" | cut -d' ' -f1)"
	# The deflate stream starts (after gzip's 10 header bytes) with a stored block: type
	# 00, then LEN and its one's complement NLEN.
	local b
	read -ra b <<<"$(od -An -tu1 -j10 -N5 "$d/blob")"
	assert_equal "$((b[0] & 7)) $(((b[1] | b[2] << 8) ^ (b[3] | b[4] << 8)))" "0 65535"
	# The random 4 MB cost about their size, the 4.5 MB of text far less.
	local size text
	size=$(stat -c %s "$d/blob")
	text=$(stat -c %s "$d/root/text")
	[ "$size" -gt 4000000 ] && [ "$size" -lt $((4000000 + text / 2)) ] ||
		die "blob of $size bytes for 4000000 random bytes and $text of text"

	run_berth rmi "$DIST_HOST/mixed:1"
	run_berth pull "$DIST_HOST/mixed:1"
	cmp "$d/root/text" "$(find "$BERTH_ROOT/layers" -name text -type f)" ||
		die "the text file came back different"
}

@test "push: PATCH chunks for blobs bigger than the chunk size; one transfer at a time" {
	start_distribution --accesslog
	echo '{"max-concurrent-uploads": 1, "max-concurrent-downloads": 1}' >"$BERTH_CONFIG"
	local id
	id=$(load_config_image "$DIST_HOST/chunky:1" "$CFG" 300000 200000 100)
	BERTH_PUSH_CHUNK_SIZE=65536 run_berth push "$DIST_HOST/chunky:1"
	assert_equal "$(grep -c ': Pushed$' <<<"$output")" 3
	# Random data does not shrink: 300 kB in 64 KiB pieces is 5 PATCH requests, 200 kB 4.
	local patches
	patches=$(grep -c '"PATCH /v2/chunky/blobs/uploads/' "$DIST_DIR/log")
	[ "$patches" -ge 9 ] || die "$patches PATCH requests: $(grep -o '"[A-Z]* /v2/chunky[^ ]*' "$DIST_DIR/log")"
	run_berth rmi "$DIST_HOST/chunky:1"
	run_berth pull "$DIST_HOST/chunky:1"
	run_berth image inspect -f '{{.Id}}' "$DIST_HOST/chunky:1"
	assert_equal "$output" "$id"
}

@test "push: a layer another repository of the registry has is mounted, not uploaded" {
	start_distribution
	load_config_image "$DIST_HOST/src/base:1" "$CFG" 50000 >/dev/null
	run_berth push "$DIST_HOST/src/base:1"
	run_berth tag "$DIST_HOST/src/base:1" "$DIST_HOST/dst:1"
	run_berth push "$DIST_HOST/dst:1"
	assert_contains "$output" ": Mounted from src/base"
	# The registry serves the blob in the new repository.
	local layer
	layer=$(registry_manifest "$DIST_URL" dst 1 | jq -r '.layers[0].digest')
	dist_curl -I "$DIST_URL/v2/dst/blobs/$layer" >/dev/null
	run_berth 1 push "$DIST_HOST/nothing:1"
	assert_contains "$output" "An image does not exist locally with the tag: $DIST_HOST/nothing"
}

# start_cutting_proxy UPSTREAM-PORT DIR: a TCP proxy on 127.0.0.1 in front of a registry
# that cuts the first PATCH it sees: it passes on its head and 256 KiB of its body, then
# resets the client's connection. Every request line is logged to DIR/proxy.log, and the
# cut. Sets PROXY_HOST; its PID goes with the registries' (stopped by the teardown).
start_cutting_proxy() {
	local dir=$2
	mkdir -p "$dir"
	cat >"$dir/proxy.py" <<'PY'
import os, re, socket, struct, sys, threading
upstream, port_file, log = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], 'a', buffering=1)
CUT_AFTER = 256 * 1024
REQ = re.compile(rb'(GET|HEAD|POST|PUT|PATCH|DELETE) (/v2/\S*) HTTP/1\.1\r\n')
lock = threading.Lock()
state = {'cut': False}

def close_all(*socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass

def to_upstream(c, u):
    tail, body = b'', None  # body: bytes of the PATCH being cut passed on so far
    try:
        while True:
            data = c.recv(65536)
            if not data:
                break
            if body is None:
                seen = tail + data
                head_end = -1
                for m in REQ.finditer(seen):
                    if m.end() <= len(tail):
                        continue  # logged with the previous piece
                    log.write('%s %s\n' % (m.group(1).decode(), m.group(2).decode()))
                    with lock:
                        if m.group(1) == b'PATCH' and not state['cut']:
                            state['cut'] = True
                            head_end = seen.find(b'\r\n\r\n', m.end() - 2)
                if head_end < 0:
                    u.sendall(data)
                    tail = seen[-64:]
                    continue
                # The head goes on whole; the body from here is counted.
                n = head_end + 4 - len(tail)
                u.sendall(data[:n])
                data, body = data[n:], 0
            data = data[:CUT_AFTER - body]
            u.sendall(data)
            body += len(data)
            if body >= CUT_AFTER:
                log.write('cut PATCH after %d bytes of its body\n' % body)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                break
    except OSError:
        pass
    close_all(c, u)

def to_client(u, c):
    try:
        while True:
            data = u.recv(65536)
            if not data:
                break
            c.sendall(data)
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass

srv = socket.socket()
srv.bind(('127.0.0.1', 0))
srv.listen(16)
with open(port_file + '.tmp', 'w') as f:
    f.write(str(srv.getsockname()[1]))
os.rename(port_file + '.tmp', port_file)
while True:
    c, _ = srv.accept()
    u = socket.create_connection(('127.0.0.1', upstream))
    threading.Thread(target=to_upstream, args=(c, u), daemon=True).start()
    threading.Thread(target=to_client, args=(u, c), daemon=True).start()
PY
	python3 "$dir/proxy.py" "$1" "$dir/port" "$dir/proxy.log" 2>>"$dir/proxy.err" &
	DIST_PIDS+=("$!")
	wait_port_file "$dir/port" || die "proxy did not start: $(cat "$dir/proxy.err")"
	PROXY_HOST=127.0.0.1:$(cat "$dir/port")
}

@test "push: a streamed upload cut half way is sent again from a compressed blob, and the image is whole" {
	start_distribution
	local p=$TEST_DIR/proxy id layer
	start_cutting_proxy "$DIST_PORT" "$p"
	# 3 MB of random bytes: the gzip stream is far longer than what passes before the cut.
	id=$(load_config_image "$PROXY_HOST/cut:1" "$CFG" 3000000)
	run_berth --log-level info push "$PROXY_HOST/cut:1"
	grep -q '^cut PATCH after 262144 bytes' "$p/proxy.log" || die "no cut: $(cat "$p/proxy.log")"
	assert_contains "$output" "uploading again from a compressed blob"
	assert_equal "$(grep -c ': Pushed$' <<<"$output")" 1
	# The streamed PATCH was cut; the layer then went in full, its digest named at once.
	assert_equal "$(grep -c '^PATCH ' "$p/proxy.log")" 1
	sed -n '/^cut PATCH/,$p' "$p/proxy.log" | grep -q '^PUT /v2/cut/blobs/uploads/.*digest=sha256' ||
		die "no second upload: $(cat "$p/proxy.log")"

	# The registry has the layer whole; pulled into an empty store it gives the same image
	# (the pull checks the blob's digest and the config's diff id).
	layer=$(registry_manifest "$DIST_URL" cut 1 | jq -r '.layers[0].digest')
	assert_equal "sha256:$(dist_curl "$DIST_URL/v2/cut/blobs/$layer" | sha256sum | cut -d' ' -f1)" "$layer"
	export BERTH_ROOT=$TEST_DIR/root2
	run_berth pull "$DIST_HOST/cut:1"
	run_berth image inspect -f '{{.Id}}' "$DIST_HOST/cut:1"
	assert_equal "$output" "$id"
	assert_equal "$(find "$BERTH_ROOT/layers" -name data -type f -size 3000000c | wc -l)" 1
}

@test "pull: a manifest list gives the host's platform, or --platform's" {
	start_distribution
	local d=$TEST_DIR/ml entries=()
	local plat
	for plat in amd64 arm64 arm/v7 arm/v6; do
		local arch=${plat%%/*} variant=
		[ "$arch" = "$plat" ] || variant=${plat#*/}
		make_image "$d/$plat" "$arch" "built for $plat" gzip "$variant" \
			application/vnd.docker.distribution.manifest.v2+json
		push_image_parts "$DIST_URL" multi "$IMG_MANIFEST" "$d/$plat"
		entries+=("$(jq -n -c --arg d "$IMG_MANIFEST" --argjson s "$(stat -c %s "$d/$plat/manifest.json")" \
			--arg a "$arch" --arg v "$variant" \
			'{mediaType: "application/vnd.docker.distribution.manifest.v2+json", digest: $d, size: $s,
			  platform: ({architecture: $a, os: "linux"} + (if $v == "" then {} else {variant: $v} end))}')")
	done
	printf '%s\n' "${entries[@]}" | jq -s -c \
		'{schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.list.v2+json", manifests: .}' \
		>"$d/list.json"
	local list
	list=$(dist_put_manifest "$DIST_URL" multi 1 "$d/list.json" application/vnd.docker.distribution.manifest.list.v2+json)

	run_berth pull "$DIST_HOST/multi:1"
	assert_contains "$output" "Digest: $list"
	run_berth image inspect -f '{{.Architecture}}' "$DIST_HOST/multi:1"
	assert_equal "$output" "amd64"
	# RepoDigests name the list, as docker records it.
	run_berth image inspect -f '{{json .RepoDigests}}' "$DIST_HOST/multi:1"
	assert_contains "$output" "$DIST_HOST/multi@$list"

	run_berth pull --platform linux/arm64 "$DIST_HOST/multi:1"
	run_berth image inspect -f '{{.Architecture}}' "$DIST_HOST/multi:1"
	assert_equal "$output" "arm64"
	run_berth pull --platform linux/arm/v7 "$DIST_HOST/multi:1"
	run_berth image inspect -f '{{.Architecture}}/{{.Variant}}' "$DIST_HOST/multi:1"
	assert_equal "$output" "arm/v7"
	grep -rqx "built for arm/v7" "$BERTH_ROOT/layers" || die "arm/v7 layer not unpacked"
	run_berth 1 pull --platform linux/s390x "$DIST_HOST/multi:1"
	assert_contains "$output" "no matching manifest for linux/s390x in the manifest list entries"
	run_berth 1 pull --platform linux/ppc64le/v9 "$DIST_HOST/multi:1"
}

@test "pull: an OCI index, variant fallback, and a zstd layer" {
	start_distribution
	local d=$TEST_DIR/oci
	make_image "$d/v6" arm "arm v6 only" zstd v6
	push_image_parts "$DIST_URL" zimg "$IMG_MANIFEST" "$d/v6"
	local v6=$IMG_MANIFEST v6size
	v6size=$(stat -c %s "$d/v6/manifest.json")
	jq -n -c --arg d "$v6" --argjson s "$v6size" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
		  manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
		               platform: {architecture: "arm", os: "linux", variant: "v6"}},
		              {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
		               platform: {architecture: "unknown", os: "unknown"}}]}' >"$d/index.json"
	dist_put_manifest "$DIST_URL" zimg 1 "$d/index.json" application/vnd.oci.image.index.v1+json >/dev/null
	# arm/v7 can run v6: the v6 entry is taken.
	run_berth pull --platform linux/arm/v7 "$DIST_HOST/zimg:1"
	assert_contains "$output" "Pull complete"
	run_berth image inspect -f '{{.Architecture}}/{{.Variant}}' "$DIST_HOST/zimg:1"
	assert_equal "$output" "arm/v6"
	grep -rqx "arm v6 only" "$BERTH_ROOT/layers" || die "zstd layer not unpacked"
	# The store keeps the zstd blob as it came.
	assert_equal "$(cmp "$BERTH_ROOT/blobs/sha256/${IMG_LAYER#sha256:}" "$d/v6/layer" && echo same)" same
	run_berth 1 pull --platform linux/arm64 "$DIST_HOST/zimg:1"
	assert_contains "$output" "no matching manifest for linux/arm64"
	# A single-platform image that does not match an explicit --platform is refused.
	run_berth 1 pull --platform linux/amd64 "$DIST_HOST/zimg@$v6"
	assert_contains "$output" "does not match the specified platform"
}

@test "pull: a blob that does not match its digest is refused and nothing is stored" {
	local f=$TEST_DIR/fake d=$TEST_DIR/img
	start_fake_registry "$f"
	make_image "$d" amd64 "good content"
	fake_image "$f" bad 1 "$d"
	# The same tar compressed otherwise: same diff id, another digest, served under the old.
	gzip -9 -c "$d/layer.tar" >"$d/other.gz"
	fake_blob "$f" "$d/other.gz" "$IMG_LAYER"
	cmp -s "$d/other.gz" "$d/layer" && die "test bug: both gzip streams are the same"
	run_berth 1 pull "$FAKE_HOST/bad:1"
	assert_contains "$output" "verification failed for digest $IMG_LAYER"
	assert_equal "$(store_image_count) $(store_layer_count) $(store_blob_count)" "0 0 0"

	# Bytes that are no layer at all, as the second of two layers (downloaded while the
	# first is unpacked, or streamed after it).
	make_image "$d/two" amd64 "second"
	head -c 5000 /dev/urandom >"$d/junk"
	jq -c --arg a "$IMG_DIFFID" '.rootfs.diff_ids = [.rootfs.diff_ids[0], $a]' "$d/config.json" >"$d/cfg2.json"
	jq -c --arg c "$(sha256_file "$d/cfg2.json")" --argjson cs "$(stat -c %s "$d/cfg2.json")" \
		--arg l "$IMG_LAYER" --argjson ls "$(stat -c %s "$d/two/layer")" \
		'.config.digest = $c | .config.size = $cs | .layers += [{mediaType: .layers[0].mediaType, digest: $l, size: $ls}]' \
		"$d/manifest.json" >"$d/m2.json"
	fake_blob "$f" "$d/layer"
	fake_blob "$f" "$d/cfg2.json"
	fake_blob "$f" "$d/junk" "$IMG_LAYER"
	fake_put "$f" bad 2 "$d/m2.json" application/vnd.oci.image.manifest.v1+json
	run_berth 1 pull "$FAKE_HOST/bad:2"
	assert_contains "$output" "verification failed for digest $IMG_LAYER"
	assert_equal "$(store_image_count) $(store_layer_count) $(store_blob_count)" "0 0 0"
	[ -z "$(ls -A "$BERTH_ROOT/tmp")" ] || die "temp files left: $(ls "$BERTH_ROOT/tmp")"
}

@test "pull: a 503 is retried; a connection cut half way is resumed with a Range request" {
	local f=$TEST_DIR/fake d=$TEST_DIR/img
	start_fake_registry "$f" flaky
	make_image "$d" amd64 "$(head -c 300000 /dev/urandom | base64 -w0)" none
	fake_image "$f" flaky 1 "$d"
	run_berth pull "$FAKE_HOST/flaky:1"
	assert_contains "$output" "Retrying in 1 second"
	assert_contains "$output" "Pull complete"
	grep -q "GET /v2/flaky/blobs/$IMG_LAYER range=bytes=[1-9]" "$f/requests.log" ||
		die "no Range request: $(cat "$f/requests.log")"
	assert_equal "$(grep -c 'GET /v2/flaky/manifests/1 ' "$f/requests.log")" 2
	run_berth image inspect -f '{{.Id}}' "$FAKE_HOST/flaky:1"
	assert_equal "$output" "$IMG_CONFIG"
}

@test "pull: schema 1, unknown media types and broken documents get clear errors" {
	local f=$TEST_DIR/fake
	start_fake_registry "$f"
	printf '{"schemaVersion":1,"name":"old","tag":"1","fsLayers":[],"history":[]}' >"$TEST_DIR/s1.json"
	fake_put "$f" old 1 "$TEST_DIR/s1.json" application/vnd.docker.distribution.manifest.v1+prettyjws
	run_berth 1 pull "$FAKE_HOST/old:1"
	assert_contains "$output" "schema 1"
	fake_put "$f" old 2 "$TEST_DIR/s1.json" application/json
	run_berth 1 pull "$FAKE_HOST/old:2"
	assert_contains "$output" "schema 1"

	printf '{"schemaVersion":2,"mediaType":"application/vnd.cncf.helm.chart.v1+json"}' >"$TEST_DIR/x.json"
	fake_put "$f" odd 1 "$TEST_DIR/x.json" application/vnd.cncf.helm.chart.v1+json
	run_berth 1 pull "$FAKE_HOST/odd:1"
	assert_contains "$output" 'unsupported manifest media type "application/vnd.cncf.helm.chart.v1+json"'

	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:%064d","size":2},"layers":[]}' 0 >"$TEST_DIR/h.json"
	fake_put "$f" odd 2 "$TEST_DIR/h.json" application/vnd.oci.image.manifest.v1+json
	run_berth 1 pull "$FAKE_HOST/odd:2"
	assert_contains "$output" "is not an image config"

	printf '{"schemaVersion":2,"manifests":' >"$TEST_DIR/t.json"
	fake_put "$f" odd 3 "$TEST_DIR/t.json" application/vnd.oci.image.index.v1+json
	run_berth 1 pull "$FAKE_HOST/odd:3"
	assert_contains "$output" "invalid JSON"
	assert_equal "$(store_image_count)" 0
}

@test "transport: --tls-verify needs HTTPS; a registry that is not there fails cleanly" {
	start_distribution
	load_config_image "$DIST_HOST/t:1" "$CFG" 1000 >/dev/null
	run_berth 1 push --tls-verify "$DIST_HOST/t:1"
	assert_contains "$output" "https://$DIST_HOST/v2/"
	[[ "$output" != *"http://$DIST_HOST"* ]] || die "fell back to http: $output"
	local port
	port=$(free_port)
	run_berth 1 pull "127.0.0.1:$port/none:1"
	assert_contains "$output" "Error response from daemon"
	assert_contains "$output" "127.0.0.1:$port"
}
