#!/usr/bin/env bats
# berth's archives against skopeo's oci-archive, oci and docker-archive transports
# (containers/image): each side reads what the other writes. No network: files only.

load helpers

setup() {
	berth_setup
	command -v skopeo >/dev/null || skip "skopeo is not installed"
	make_busybox_tar "$TEST_DIR/bb.tar"
	run_berth import -c 'CMD ["/bin/sh"]' -c 'LABEL made.by=berth' "$TEST_DIR/bb.tar" sk:1
	ID=$output
	SUM=$(sha256sum "$TEST_DIR/bb.tar" | cut -d' ' -f1)
}

# skopeo keeps a policy file; an insecureAcceptAnything one under the test dir keeps the
# host's /etc/containers out of it.
skopeo_() {
	echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$TEST_DIR/policy.json"
	skopeo --policy "$TEST_DIR/policy.json" --tmpdir "$TEST_DIR" "$@"
}

@test "skopeo reads berth save --format oci-archive" {
	run_berth save --format oci-archive -o "$TEST_DIR/oci.tar" sk:1
	run skopeo_ inspect "oci-archive:$TEST_DIR/oci.tar"
	[ "$status" -eq 0 ] || die "skopeo inspect: $output"
	assert_equal "$(jq -r '.Layers | join(",")' <<<"$output")" "sha256:$SUM"
	assert_equal "$(jq -r .Architecture <<<"$output")" "amd64"
	assert_equal "$(jq -r '.Labels["made.by"]' <<<"$output")" "berth"
	run skopeo_ inspect --config "oci-archive:$TEST_DIR/oci.tar"
	assert_equal "$(jq -c .config.Cmd <<<"$output")" '["/bin/sh"]'

	# Also by the name berth put into ref.name.
	run skopeo_ copy "oci-archive:$TEST_DIR/oci.tar:docker.io/library/sk:1" "dir:$TEST_DIR/dir"
	[ "$status" -eq 0 ] || die "skopeo copy: $output"
	assert_equal "$(jq -r .config.digest "$TEST_DIR/dir/manifest.json")" "$ID"
	cmp "$TEST_DIR/dir/$SUM" "$TEST_DIR/bb.tar"
	# berth's default format is an OCI layout too.
	run_berth save -o "$TEST_DIR/default.tar" sk:1
	run skopeo_ inspect "oci-archive:$TEST_DIR/default.tar"
	[ "$status" -eq 0 ] || die "skopeo inspect (default format): $output"
	assert_equal "$(jq -r '.Layers | join(",")' <<<"$output")" "sha256:$SUM"
	run skopeo_ inspect "docker-archive:$TEST_DIR/default.tar"
	[ "$status" -eq 0 ] || die "skopeo inspect docker-archive: $output"
	assert_equal "$(jq -r '.Layers | join(",")' <<<"$output")" "sha256:$SUM"
	run skopeo_ copy "docker-archive:$TEST_DIR/default.tar" "dir:$TEST_DIR/dir2"
	[ "$status" -eq 0 ] || die "skopeo copy docker-archive: $output"
	assert_equal "$(jq -r .config.digest "$TEST_DIR/dir2/manifest.json")" "$ID"
}

@test "berth loads what skopeo writes: oci-archive, gzip and zstd layers, oci dir, docker-archive" {
	run_berth save --format oci-archive -o "$TEST_DIR/oci.tar" sk:1
	skopeo_ copy -q "oci-archive:$TEST_DIR/oci.tar" "dir:$TEST_DIR/dir"

	fresh() { export BERTH_ROOT=$TEST_DIR/root-$1; }

	# As it is (uncompressed layer), named "back:1" in ref.name.
	skopeo_ copy -q "dir:$TEST_DIR/dir" "oci-archive:$TEST_DIR/a.tar:back:1"
	fresh a
	run_berth load -i "$TEST_DIR/a.tar"
	assert_equal "$output" "Loaded image: back:1"
	run_berth image inspect -f '{{.Id}}' back:1
	assert_equal "$output" "$ID"

	# Recompressed layers: the blobs change, the image id (config) and diff_ids do not.
	local fmt
	for fmt in gzip zstd; do
		skopeo_ copy -q --dest-compress --dest-compress-format "$fmt" "dir:$TEST_DIR/dir" \
			"oci-archive:$TEST_DIR/$fmt.tar:c:$fmt"
		fresh "$fmt"
		run_berth load -i "$TEST_DIR/$fmt.tar"
		assert_equal "$output" "Loaded image: c:$fmt"
		run_berth image inspect -f '{{.Id}}' "c:$fmt"
		assert_equal "$output" "$ID"
		run_berth image inspect -f '{{json .RootFS.Layers}}' "c:$fmt"
		assert_equal "$output" "[\"sha256:$SUM\"]"
		run_berth image inspect -f '{{.GraphDriver.Data.UpperDir}}' "c:$fmt"
		[ -x "$output/bin/busybox" ]
		# Saved again as they are kept, and read again by skopeo.
		run_berth save --format oci-archive -o "$TEST_DIR/$fmt-again.tar" "c:$fmt"
		run skopeo_ inspect "oci-archive:$TEST_DIR/$fmt-again.tar"
		[ "$status" -eq 0 ] || die "skopeo inspect: $output"
	done

	# An OCI layout directory, tarred by hand.
	skopeo_ copy -q "dir:$TEST_DIR/dir" "oci:$TEST_DIR/layout:lay:1"
	tar -C "$TEST_DIR/layout" -cf "$TEST_DIR/layout.tar" .
	fresh layout
	run_berth load -i "$TEST_DIR/layout.tar"
	assert_equal "$output" "Loaded image: lay:1"

	# skopeo's docker-archive (docker's manifest.json layout).
	skopeo_ copy -q "dir:$TEST_DIR/dir" "docker-archive:$TEST_DIR/docker.tar:dock/er:2"
	fresh docker
	run_berth load -i "$TEST_DIR/docker.tar"
	assert_equal "$output" "Loaded image: dock/er:2"
	run_berth image inspect -f '{{.Id}}' dock/er:2
	assert_equal "$output" "$ID"
}
