#!/usr/bin/env bats
# berth and skopeo on one docker-registry: what skopeo pushes berth pulls (same image id,
# Docker schema 2, OCI, zstd, multi-platform), and what berth pushes skopeo reads and copies
# out unchanged.

load helpers.distribution

SK=(skopeo --insecure-policy)

# A busybox image in the store (one plain-tar layer, as import keeps it); prints its id.
busybox_image() {
	make_busybox_tar "$TEST_DIR/bb.tar"
	berth import -c 'CMD ["/bin/sh"]' "$TEST_DIR/bb.tar" "$1" | tail -n1
}

@test "skopeo copy docker-archive -> registry -> berth pull: same image id, unpacked rootfs" {
	start_distribution
	local id
	id=$(busybox_image bb:src)
	run_berth save -o "$TEST_DIR/bb-save.tar" bb:src
	"${SK[@]}" copy -q --dest-tls-verify=false "docker-archive:$TEST_DIR/bb-save.tar" \
		"docker://$DIST_HOST/sk/busybox:1"
	local digest
	digest=$("${SK[@]}" inspect --tls-verify=false "docker://$DIST_HOST/sk/busybox:1" | jq -r .Digest)
	run_berth rmi bb:src
	assert_equal "$(store_image_count)" 0
	run_berth pull "$DIST_HOST/sk/busybox:1"
	assert_contains "$output" "Digest: $digest"
	run_berth image inspect -f '{{.Id}}' "$DIST_HOST/sk/busybox:1"
	assert_equal "$output" "$id"
	# The layer is on disk, ready for a container: busybox and its applet links.
	local dir
	dir=$(find "$BERTH_ROOT/layers" -mindepth 2 -maxdepth 2 -name diff | head -1)
	[ -x "$dir/bin/busybox" ] || die "no /bin/busybox in $dir"
	[ -L "$dir/bin/sh" ] || die "no /bin/sh link in $dir"
}

@test "skopeo copy --format oci and zstd layers -> berth pull" {
	# Two registries: skopeo would reuse the gzip blob it pushed to the first one instead of
	# compressing with zstd.
	start_distribution
	local gz=$DIST_HOST
	start_distribution
	local zs=$DIST_HOST
	busybox_image bb:src >/dev/null
	run_berth save -o "$TEST_DIR/bb-save.tar" bb:src
	"${SK[@]}" copy -q --dest-tls-verify=false --format oci \
		"docker-archive:$TEST_DIR/bb-save.tar" "docker://$gz/sk/oci:1"
	"${SK[@]}" copy -q --dest-tls-verify=false --format oci --dest-compress --dest-compress-format zstd \
		"docker-archive:$TEST_DIR/bb-save.tar" "docker://$zs/sk/zstd:1"
	local mt
	mt=$("${SK[@]}" inspect --raw --tls-verify=false "docker://$zs/sk/zstd:1" | jq -r '.layers[0].mediaType')
	assert_equal "$mt" "application/vnd.oci.image.layer.v1.tar+zstd"
	run_berth rmi bb:src
	run_berth pull "$gz/sk/oci:1"
	run_berth pull "$zs/sk/zstd:1"
	# The zstd blob is another blob of the same layer: downloaded, not "Already exists".
	assert_contains "$output" "Pull complete"
	# One image (skopeo's OCI conversion rewrote the config, the same way both times).
	run_berth image inspect -f '{{.Id}}' "$gz/sk/oci:1"
	local oci_id=$output
	run_berth image inspect -f '{{.Id}}' "$zs/sk/zstd:1"
	assert_equal "$output" "$oci_id"
	assert_equal "$(store_image_count)" 1
}

@test "berth push -> skopeo inspect and copy out -> berth load: the same image" {
	start_distribution
	local id
	id=$(load_config_image "$DIST_HOST/from/berth:2" \
		'{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/true"]}}' 4000 8000 16000)
	run_berth push "$DIST_HOST/from/berth:2"
	local digest
	digest=$(sed -n 's/^2: digest: \(sha256:[0-9a-f]*\) size: .*/\1/p' <<<"$output")
	"${SK[@]}" inspect --tls-verify=false "docker://$DIST_HOST/from/berth:2" >"$TEST_DIR/inspect.json"
	assert_equal "$(jq -r .Digest "$TEST_DIR/inspect.json")" "$digest"
	assert_equal "$(jq -r '.Layers | length' "$TEST_DIR/inspect.json")" 3
	assert_equal "$(jq -r .Architecture "$TEST_DIR/inspect.json")" amd64
	"${SK[@]}" inspect --config --tls-verify=false "docker://$DIST_HOST/from/berth:2" |
		jq -c .config.Cmd >"$TEST_DIR/cmd.json"
	assert_equal "$(cat "$TEST_DIR/cmd.json")" '["/bin/true"]'

	# skopeo checks every digest on the way out; berth load checks them again.
	"${SK[@]}" copy -q --src-tls-verify=false "docker://$DIST_HOST/from/berth:2" \
		"docker-archive:$TEST_DIR/out.tar:copied/back:1"
	run_berth rmi "$DIST_HOST/from/berth:2"
	run_berth load -i "$TEST_DIR/out.tar"
	run_berth image inspect -f '{{.Id}}' copied/back:1
	assert_equal "$output" "$id"
	"${SK[@]}" copy -q --src-tls-verify=false "docker://$DIST_HOST/from/berth:2" "oci:$TEST_DIR/oci-out:x"
	assert_equal "$(jq -r '.manifests[0].digest' "$TEST_DIR/oci-out/index.json")" "$digest"
}

@test "skopeo copy --all of a two-platform OCI layout -> berth pull --platform" {
	start_distribution
	local d=$TEST_DIR/layout p entries=()
	mkdir -p "$d/blobs/sha256"
	for p in amd64 arm64; do
		make_image "$TEST_DIR/$p" "$p" "made for $p"
		local f
		for f in layer config.json manifest.json; do
			cp "$TEST_DIR/$p/$f" "$d/blobs/sha256/$(sha256sum "$TEST_DIR/$p/$f" | cut -d' ' -f1)"
		done
		entries+=("$(jq -n -c --arg dg "$IMG_MANIFEST" --argjson s "$(stat -c %s "$TEST_DIR/$p/manifest.json")" --arg a "$p" \
			'{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $dg, size: $s, platform: {os: "linux", architecture: $a}}')")
	done
	printf '%s\n' "${entries[@]}" | jq -s -c '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: .}' >"$TEST_DIR/index.json"
	local ix
	ix=$(sha256sum "$TEST_DIR/index.json" | cut -d' ' -f1)
	cp "$TEST_DIR/index.json" "$d/blobs/sha256/$ix"
	jq -n -c --arg dg "sha256:$ix" --argjson s "$(stat -c %s "$TEST_DIR/index.json")" \
		'{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $dg, size: $s, annotations: {"org.opencontainers.image.ref.name": "multi"}}]}' \
		>"$d/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
	"${SK[@]}" copy -q --all --dest-tls-verify=false "oci:$d:multi" "docker://$DIST_HOST/sk/multi:1"

	run_berth pull --platform linux/arm64 "$DIST_HOST/sk/multi:1"
	assert_contains "$output" "Digest: sha256:$ix"
	run_berth image inspect -f '{{.Os}}/{{.Architecture}}' "$DIST_HOST/sk/multi:1"
	assert_equal "$output" linux/arm64
	grep -rqx "made for arm64" "$BERTH_ROOT/layers" || die "arm64 layer not unpacked"
	run_berth pull "$DIST_HOST/sk/multi:1"
	run_berth image inspect -f '{{.Architecture}}' "$DIST_HOST/sk/multi:1"
	assert_equal "$output" amd64
}
