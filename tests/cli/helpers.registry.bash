# Helpers for the tests of `berth registry` (the model: podman's test/system/helpers.registry.bash).
#
# start_registry [ARGS...] runs `berth registry serve` in the background on 127.0.0.1 with a
# port the kernel picks (--addr 127.0.0.1:0; the port is read back from its first log line),
# rooted at $REG_ROOT (default $TEST_DIR/registry), and waits until /v2/ answers. It sets
# REG_PID, REG_PORT, REG_HOST (127.0.0.1:PORT) and REG_URL (http[s]://REG_HOST). Its stderr
# (the access log) goes to $TEST_DIR/registry.log. stop_registry stops it by PID with SIGTERM
# (a graceful stop, so that sanitizer builds report leaks) and checks that it exited 0; the
# teardown stops whatever a test left running.

load helpers

REG_PID=
REG_SCHEME=http

registry_setup() {
	berth_setup
	REG_ROOT=$TEST_DIR/registry
	REG_PID=
	REG_SCHEME=http
	EXTRA_PIDS=()
}

registry_teardown() {
	local p
	if [ -n "$REG_PID" ]; then
		stop_registry || true
	fi
	for p in "${EXTRA_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${EXTRA_PIDS[@]}"; do
		for _ in $(seq 1 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	berth_teardown
}

setup() { registry_setup; }
teardown() { registry_teardown; }

# start_registry [SERVE ARGS...]
start_registry() {
	local log=$TEST_DIR/registry.log
	: >"$log"
	"$BERTH" registry serve --addr 127.0.0.1:0 --root "$REG_ROOT" "$@" 2>>"$log" &
	REG_PID=$!
	local i
	for i in $(seq 1 100); do
		REG_PORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$log" | head -1)
		[ -n "$REG_PORT" ] && break
		if ! kill -0 "$REG_PID" 2>/dev/null; then
			cat "$log" >&2
			REG_PID=
			die "berth registry serve exited at start"
			return 1
		fi
		sleep 0.05
	done
	[ -n "$REG_PORT" ] || die "berth registry serve did not say its port"
	REG_HOST=127.0.0.1:$REG_PORT
	REG_URL=$REG_SCHEME://$REG_HOST
	for i in $(seq 1 100); do
		local code
		code=$(curl -sk -o /dev/null -w '%{http_code}' "$REG_URL/v2/") || true
		if [ "$code" = 200 ] || [ "$code" = 401 ]; then
			return 0
		fi
		sleep 0.05
	done
	die "registry at $REG_URL does not answer"
}

# stop_registry [SIGNAL]: stop it by PID and check a clean exit.
stop_registry() {
	local sig=${1:-TERM} rc=0
	[ -n "$REG_PID" ] || return 0
	kill -"$sig" "$REG_PID" 2>/dev/null || true
	wait "$REG_PID" || rc=$?
	REG_PID=
	if [ "$sig" != KILL ] && [ "$rc" -ne 0 ]; then
		echo "registry exited with $rc; log:" >&2
		tail -20 "$TEST_DIR/registry.log" >&2
		return 1
	fi
}

# rcurl ARGS...: curl against the registry; prints the body, keeps headers in $TEST_DIR/h
# and the status in $TEST_DIR/code. Use with `run rcurl ...` or directly.
rcurl() {
	curl -sk -D "$TEST_DIR/h" -o "$TEST_DIR/body" -w '%{http_code}' "$@" >"$TEST_DIR/code"
	cat "$TEST_DIR/body"
}

# status_of: the HTTP status of the last rcurl; hdr NAME: a header of it (first, no CR).
status_of() { cat "$TEST_DIR/code"; }
hdr() {
	grep -i "^$1:" "$TEST_DIR/h" | head -1 | cut -d' ' -f2- | tr -d '\r'
}

# expect_status CODE CURL-ARGS...: rcurl and check the status (prints body and headers on
# failure).
expect_status() {
	local want=$1
	shift
	rcurl "$@" >/dev/null
	local got
	got=$(status_of)
	if [ "$got" != "$want" ]; then
		echo "curl $*: status $got, expected $want" >&2
		cat "$TEST_DIR/h" "$TEST_DIR/body" >&2
		return 1
	fi
}

# expect_error CODE ERRORCODE CURL-ARGS...: a status and the spec's JSON error code.
expect_error() {
	local want=$1 code=$2
	shift 2
	expect_status "$want" "$@" || return 1
	local got
	got=$(jq -r '.errors[0].code' "$TEST_DIR/body" 2>/dev/null)
	if [ "$got" != "$code" ]; then
		echo "curl $*: error code '$got', expected '$code'; body:" >&2
		cat "$TEST_DIR/body" >&2
		return 1
	fi
}

sha256_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# push_blob REPO FILE: monolithic upload; prints the digest.
push_blob() {
	local d
	d=$(sha256_of "$2")
	expect_status 201 -X POST -H 'Content-Type: application/octet-stream' \
		--data-binary @"$2" "$REG_URL/v2/$1/blobs/uploads/?digest=$d" || return 1
	echo "$d"
}

# push_manifest REPO REF FILE [MEDIATYPE]: prints the digest.
push_manifest() {
	local mt=${4:-application/vnd.oci.image.manifest.v1+json}
	expect_status 201 -X PUT -H "Content-Type: $mt" --data-binary @"$3" \
		"$REG_URL/v2/$1/manifests/$2" || return 1
	sha256_of "$3"
}

# make_image DIR [CONTENT]: a small OCI image in DIR: layer.tar.gz (one file with CONTENT),
# config.json, manifest.json; sets LAYER_DIGEST, CONFIG_DIGEST, MANIFEST_DIGEST.
make_image() {
	local dir=$1 content=${2:-hello from berth}
	mkdir -p "$dir/rootfs"
	printf '%s\n' "$content" >"$dir/rootfs/hello.txt"
	tar -C "$dir/rootfs" --numeric-owner --mtime=@0 -cf - hello.txt | gzip -n >"$dir/layer.tar.gz"
	local diffid
	diffid=sha256:$(tar -C "$dir/rootfs" --numeric-owner --mtime=@0 -cf - hello.txt | sha256sum | cut -d' ' -f1)
	printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
		"$diffid" >"$dir/config.json"
	LAYER_DIGEST=$(sha256_of "$dir/layer.tar.gz")
	CONFIG_DIGEST=$(sha256_of "$dir/config.json")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
		"$CONFIG_DIGEST" "$(stat -c %s "$dir/config.json")" "$LAYER_DIGEST" \
		"$(stat -c %s "$dir/layer.tar.gz")" >"$dir/manifest.json"
	MANIFEST_DIGEST=$(sha256_of "$dir/manifest.json")
}

# push_image REPO TAG DIR: blobs then the manifest of make_image.
push_image() {
	push_blob "$1" "$3/layer.tar.gz" >/dev/null || return 1
	push_blob "$1" "$3/config.json" >/dev/null || return 1
	push_manifest "$1" "$2" "$3/manifest.json" >/dev/null
}

# make_oci_layout DIR TAG: an OCI image layout (as skopeo reads with oci:DIR:TAG) of the
# busybox rootfs from helpers.bash in one gzip layer, built by hand.
make_oci_layout() {
	local dir=$1 tag=$2 tmp=$TEST_DIR/oci-build.$$
	mkdir -p "$dir/blobs/sha256" "$tmp"
	make_busybox_tar "$tmp/rootfs.tar"
	local diffid layer config manifest
	diffid=$(sha256sum "$tmp/rootfs.tar" | cut -d' ' -f1)
	gzip -n -c "$tmp/rootfs.tar" >"$tmp/layer.tar.gz"
	layer=$(sha256sum "$tmp/layer.tar.gz" | cut -d' ' -f1)
	cp "$tmp/layer.tar.gz" "$dir/blobs/sha256/$layer"
	printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"berth test"}]}' \
		"$diffid" >"$tmp/config.json"
	config=$(sha256sum "$tmp/config.json" | cut -d' ' -f1)
	cp "$tmp/config.json" "$dir/blobs/sha256/$config"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
		"$config" "$(stat -c %s "$tmp/config.json")" "$layer" "$(stat -c %s "$tmp/layer.tar.gz")" \
		>"$tmp/manifest.json"
	manifest=$(sha256sum "$tmp/manifest.json" | cut -d' ' -f1)
	cp "$tmp/manifest.json" "$dir/blobs/sha256/$manifest"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
		"$manifest" "$(stat -c %s "$tmp/manifest.json")" "$tag" >"$dir/index.json"
	rm -rf "$tmp"
	OCI_MANIFEST_DIGEST=sha256:$manifest
}
