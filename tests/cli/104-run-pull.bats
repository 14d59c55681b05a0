#!/usr/bin/env bats
# run and create of an image that is not in the store pull it first, as docker does
# ("Unable to find image ... locally", the pull's lines on stderr, then the container), and
# --pull always|missing|never. The registry is berth's own on 127.0.0.1 (insecure: loopback).

load helpers.registry

setup() {
	registry_setup
	start_registry
	IMG=$REG_HOST/busybox
}

teardown() {
	local ids
	ids=$("$BERTH" ps -aq --no-trunc 2>/dev/null)
	[ -z "$ids" ] || "$BERTH" rm -f $ids >/dev/null 2>&1 || true
	registry_teardown
}

# push_busybox REF [MARKER]: a busybox image whose /marker holds MARKER, pushed as REF and
# removed from the store again.
push_busybox() {
	local ref=$1 marker=${2:-one}
	make_busybox_tar "$TEST_DIR/bb.tar"
	mkdir -p "$TEST_DIR/extra"
	echo "$marker" >"$TEST_DIR/extra/marker"
	tar -C "$TEST_DIR/extra" --numeric-owner -rf "$TEST_DIR/bb.tar" marker
	berth import -c 'CMD ["/bin/sh"]' "$TEST_DIR/bb.tar" "$ref" >/dev/null
	berth push -q "$ref" >/dev/null
	berth rmi "$ref" >/dev/null
	rm -rf "$TEST_DIR/bb.tar" "$TEST_DIR/extra"
}

@test "run: a missing image is pulled first, the pull's lines on stderr" {
	push_busybox "$IMG:latest" hello
	berth run --rm --network none "$IMG" cat /marker >"$TEST_DIR/out" 2>"$TEST_DIR/err" || {
		cat "$TEST_DIR/err" >&2
		die "run failed"
	}
	assert_equal "$(cat "$TEST_DIR/out")" "hello"
	local err
	err=$(cat "$TEST_DIR/err")
	assert_equal "$(head -n1 <<<"$err")" "Unable to find image '$IMG:latest' locally"
	assert_equal "$(sed -n 2p <<<"$err")" "latest: Pulling from busybox"
	assert_contains "$err" ": Pull complete"
	grep -qE '^Digest: sha256:[0-9a-f]{64}$' <<<"$err" || die "no digest line in: $err"
	assert_equal "$(tail -n1 <<<"$err")" "Status: Downloaded newer image for $IMG:latest"
	# The image stays, under its name: a second run pulls nothing.
	run_berth images --format '{{.Repository}}:{{.Tag}}'
	assert_equal "$output" "$IMG:latest"
	berth run --rm --network none "$IMG" true 2>"$TEST_DIR/err2"
	assert_equal "$(cat "$TEST_DIR/err2")" ""
}

@test "create: pulls a missing image (stdout is the container id only); -q keeps stderr quiet" {
	push_busybox "$IMG:1" created
	berth create --network none "$IMG:1" cat /marker >"$TEST_DIR/out" 2>"$TEST_DIR/err"
	grep -qE '^[0-9a-f]{64}$' "$TEST_DIR/out" || die "stdout is not an id: $(cat "$TEST_DIR/out")"
	assert_contains "$(cat "$TEST_DIR/err")" "Unable to find image '$IMG:1' locally"
	run_berth start -a "$(cat "$TEST_DIR/out")"
	assert_equal "$output" "created"

	berth rm -f "$(cat "$TEST_DIR/out")" >/dev/null
	berth rmi "$IMG:1" >/dev/null
	berth run --rm -q --network none "$IMG:1" cat /marker >"$TEST_DIR/out" 2>"$TEST_DIR/err"
	assert_equal "$(cat "$TEST_DIR/out")" "created"
	assert_equal "$(cat "$TEST_DIR/err")" ""
}

@test "run --pull never: a missing image is an error (125), nothing is pulled" {
	push_busybox "$IMG:latest"
	run_berth 125 run --rm --pull never --network none "$IMG" true
	assert_contains "$output" "No such image"
	[[ "$output" != *"Pulling from"* ]] || die "pulled anyway: $output"
	run_berth images -q
	assert_equal "$output" ""
	run_berth 125 create --pull never "$IMG"
	# A local image is used as it is.
	run_berth pull -q "$IMG"
	run_berth run --rm --pull never --network none "$IMG" cat /marker
	assert_equal "$output" "one"
}

@test "run --pull always: pulls even when the image is here, and gets the registry's" {
	push_busybox "$IMG:v" from-registry
	# A local image of the same name with other content.
	make_busybox_tar "$TEST_DIR/bb.tar"
	echo local >"$TEST_DIR/marker"
	tar -C "$TEST_DIR" --numeric-owner -rf "$TEST_DIR/bb.tar" marker
	berth import "$TEST_DIR/bb.tar" "$IMG:v" >/dev/null
	run_berth run --rm --network none "$IMG:v" cat /marker
	assert_equal "$output" "local"
	berth run --rm --pull always --network none "$IMG:v" cat /marker >"$TEST_DIR/out" 2>"$TEST_DIR/err"
	assert_equal "$(cat "$TEST_DIR/out")" "from-registry"
	assert_contains "$(cat "$TEST_DIR/err")" "v: Pulling from busybox"
	[[ "$(cat "$TEST_DIR/err")" != *"Unable to find image"* ]] || die "said the image was missing"
	# Up to date the second time.
	berth run --rm --pull always --network none "$IMG:v" true 2>"$TEST_DIR/err"
	assert_contains "$(cat "$TEST_DIR/err")" "Status: Image is up to date for $IMG:v"
}

@test "run: a bad --pull value and an image the registry lacks fail with 125" {
	run_berth 125 run --pull sometimes "$IMG" true
	assert_contains "$output" "invalid pull option: 'sometimes': must be one of \"always\", \"missing\" or \"never\""
	run_berth 125 run --rm --network none "$IMG:nosuch" true
	assert_contains "$output" "Unable to find image '$IMG:nosuch' locally"
	assert_contains "$output" "Error response from daemon:"
	assert_contains "$output" "not found"
	run_berth ps -aq
	assert_equal "$output" ""
	run_berth images -q
	assert_equal "$output" ""
}
