#!/usr/bin/env bats
# berth tag, rmi and image prune: docker's untag/delete semantics, its conflict errors, its
# output lines and exit codes, and the layers going with the last image that used them.

load helpers.images

# The one layer (chain id = diff id) of a one-layer image.
layer_of() {
	berth inspect -f '{{json .RootFS.Layers}}' "$1" | jq -r '.[0]'
}

# The directory holding that layer's files.
layer_dir_of() {
	berth inspect -f '{{.GraphDriver.Data.UpperDir}}' "$1"
}

@test "tag: a new name for the same image, from a name, a short id, a full id or its hex" {
	local id
	id=$(import_image app:1)
	run_berth tag app:1 app:2
	assert_equal "$output" ""
	run_berth tag "$(short_id "$id")" other/app
	run_berth tag "$id" localhost:5000/app:v3
	run_berth tag "${id#sha256:}" by-hex:1
	run_berth image tag app:1 app-alias:1
	run_berth images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}'
	assert_equal "$(sort <<<"$output")" "$(printf '%s\n' app-alias:1 app:1 app:2 by-hex:1 \
		localhost:5000/app:v3 other/app:latest | sed "s|\$| $id|")"
}

@test "tag: an existing tag moves; the image it left becomes <none>" {
	local a b
	a=$(import_image app:1)
	b=$(import_image app:2)
	run_berth tag app:2 app:1
	run_berth images --format '{{.Repository}}:{{.Tag}} {{.ID}}'
	assert_equal "$(sort <<<"$output")" "$(printf '%s\n' "<none>:<none> $(short_id "$a")" \
		"app:1 $(short_id "$b")" "app:2 $(short_id "$b")" | sort)"
}

@test "tag: records the tag time in Metadata.LastTagTime" {
	import_image app:1 >/dev/null
	local t0 t1
	t0=$(date +%s)
	run_berth tag app:1 app:2
	run_berth inspect -f '{{.Metadata.LastTagTime}}' app:2
	[[ $output =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$ ]] ||
		die "LastTagTime: $output"
	t1=$(date -d "$output" +%s)
	[ "$t1" -ge "$((t0 - 1))" ] && [ "$t1" -le "$(($(date +%s) + 1))" ] || die "$output is not now"
}

@test "tag: errors" {
	import_image app:1 >/dev/null
	run_berth 1 tag missing:1 x:1
	assert_equal "$output" "Error: No such image: missing:1"
	run_berth 1 tag app:1 "x@sha256:$(printf '1%.0s' {1..64})"
	assert_equal "$output" "refusing to create a tag with a digest reference"
	run_berth 1 tag app:1 UPPER:1
	assert_equal "$output" 'Error parsing reference: "UPPER:1" is not a valid repository/tag: invalid reference format: repository name must be lowercase'
	run_berth 1 tag app:1 'bad tag'
	assert_contains "$output" 'is not a valid repository/tag: invalid reference format'
	run_berth 1 tag app:1
	assert_contains "$output" '"berth tag" requires exactly 2 arguments'
	run_berth 1 tag a b c
	assert_contains "$output" '"berth tag" requires exactly 2 arguments'
	run_berth 125 tag --bogus a b
	assert_contains "$output" "unknown flag: --bogus"
	# Nothing was tagged along the way.
	run_berth images --format '{{.Repository}}:{{.Tag}}'
	assert_equal "$output" "app:1"
}

@test "rmi: untagging one of several tags keeps the image" {
	local id
	id=$(import_image app:1)
	run_berth tag app:1 app:2
	run_berth rmi app:2
	assert_equal "$output" "Untagged: app:2"
	run_berth images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}'
	assert_equal "$output" "app:1 $id"
	# A name without a tag means :latest.
	run_berth tag app:1 app
	run_berth rmi app
	assert_equal "$output" "Untagged: app:latest"
}

@test "rmi: the last tag deletes the image and its layer" {
	local id layer dir
	id=$(import_image app:1)
	layer=$(layer_of app:1)
	dir=$(layer_dir_of app:1)
	[ -d "$dir" ] || die "no layer directory $dir"
	run_berth rmi app:1
	assert_equal "$output" "Untagged: app:1
Deleted: $id
Deleted: $layer"
	run_berth images -q
	assert_equal "$output" ""
	[ ! -e "$dir" ] || die "layer directory $dir is still there"
	run_berth 1 inspect "$id"
}

@test "rmi: by id with tags in several repositories: a conflict unless forced" {
	local id layer short
	id=$(import_image app:1)
	short=$(short_id "$id")
	layer=$(layer_of app:1)
	run_berth tag app:1 other:2
	run_berth 1 rmi "$short"
	assert_equal "$output" "Error: conflict: unable to delete $short (must be forced) - image is referenced in multiple repositories"
	run_berth images -q
	assert_equal "$output" "$short"

	run_berth rmi -f "$short"
	assert_equal "$output" "Untagged: app:1
Untagged: other:2
Deleted: $id
Deleted: $layer"
	run_berth images -q
	assert_equal "$output" ""
}

@test "rmi: by id with a single tag untags and deletes; a dangling image by id" {
	local id layer
	id=$(import_image app:1)
	layer=$(layer_of app:1)
	run_berth image rm "$id"
	assert_equal "$output" "Untagged: app:1
Deleted: $id
Deleted: $layer"

	id=$(import_image "")
	layer=$(layer_of "$id")
	run_berth image remove "${id#sha256:}"
	assert_equal "$output" "Deleted: $id
Deleted: $layer"
}

@test "rmi: a missing name fails with exit 1 after the others are done; -f forgives it" {
	local id keep
	id=$(import_image app:1)
	keep=$(import_image keep:1)
	run_berth 1 rmi missing app:1 other-missing
	assert_contains "$output" "Untagged: app:1"
	assert_contains "$output" "Deleted: $id"
	assert_contains "$output" "Error: No such image: missing"
	assert_contains "$output" "Error: No such image: other-missing"
	run_berth images --no-trunc -q
	assert_equal "$output" "$keep"

	run_berth rmi -f missing
	assert_equal "$output" "Error: No such image: missing"
	# With -f, a missing name next to a real one: both reported, exit 0.
	run_berth rmi -f missing keep:1
	assert_contains "$output" "Untagged: keep:1"
	assert_contains "$output" "Error: No such image: missing"

	run_berth 1 rmi
	assert_contains "$output" '"berth rmi" requires at least 1 argument'
}

@test "rmi: a layer shared by two images goes with the last of them" {
	local tar a1 a2 one two layer dir
	tar=$TEST_DIR/shared.tar
	make_file_tar "$tar" 1000
	a1=$TEST_DIR/one.tar
	a2=$TEST_DIR/two.tar
	make_save_archive "$a1" one:1 '{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z"}' "$tar"
	make_save_archive "$a2" two:1 '{"architecture":"amd64","os":"linux","created":"2024-01-02T00:00:00Z"}' "$tar"
	run_berth load -i "$a1"
	run_berth load -i "$a2"
	one=$(berth images --no-trunc -q one:1)
	two=$(berth images --no-trunc -q two:1)
	[ -n "$one" ] && [ -n "$two" ] && [ "$one" != "$two" ] || die "ids: '$one' '$two'"
	layer=$(layer_of one:1)
	assert_equal "$(layer_of two:1)" "$layer"
	dir=$(layer_dir_of one:1)

	run_berth rmi one:1
	assert_equal "$output" "Untagged: one:1
Deleted: $one"
	[ -d "$dir" ] || die "the shared layer went with the first image"
	run_berth rmi two:1
	assert_equal "$output" "Untagged: two:1
Deleted: $two
Deleted: $layer"
	[ ! -e "$dir" ] || die "the layer outlived its last image"
}

@test "rmi --no-prune: accepted, the image is removed" {
	local id
	id=$(import_image app:1)
	run_berth rmi --no-prune app:1
	assert_contains "$output" "Deleted: $id"
}

@test "image prune: asks first, then removes dangling images only" {
	local keep dangling layer
	keep=$(import_image app:1 1000)
	dangling=$(import_image "" 1000)
	layer=$(layer_of "$dangling")

	run_berth image prune <<<"n"
	assert_equal "$output" "WARNING! This will remove all dangling images.
Are you sure you want to continue? [y/N] Total reclaimed space: 0B"
	run_berth images -q
	[ "${#lines[@]}" -eq 2 ] || die "nothing may go without a yes: $output"

	run_berth image prune <<<"y"
	assert_equal "$output" "WARNING! This will remove all dangling images.
Are you sure you want to continue? [y/N] Deleted Images:
deleted: $dangling
deleted: $layer

Total reclaimed space: 1kB"
	run_berth images --no-trunc -q
	assert_equal "$output" "$keep"

	run_berth image prune -f
	assert_equal "$output" "Total reclaimed space: 0B"
}

@test "image prune -a: every unused image, tagged or not" {
	local id layer
	id=$(import_image app:1 2500)
	layer=$(layer_of app:1)
	run_berth image prune -a <<<"N"
	assert_equal "$output" "WARNING! This will remove all images without at least one container associated to them.
Are you sure you want to continue? [y/N] Total reclaimed space: 0B"
	run_berth image prune -a -f
	assert_equal "$output" "Deleted Images:
untagged: app:1
deleted: $id
deleted: $layer

Total reclaimed space: 2.5kB"
	run_berth images -q
	assert_equal "$output" ""
}

@test "image prune --filter: until= and label=, label!=; bad filters" {
	local cfg_old='{"architecture":"amd64","os":"linux","created":"2020-01-01T00:00:00Z","config":{"Labels":{"keep":"no"}}}'
	local cfg_new='{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z","config":{"Labels":{"keep":"yes"}}}'
	local old new
	old=$(load_config_image "" "$cfg_old" 100)
	new=$(load_config_image "" "$cfg_new" 100)

	run_berth image prune -f --filter until=2021-01-01T00:00:00Z
	assert_contains "$output" "deleted: $old"
	[[ $output != *"$new"* ]] || die "until= removed a newer image: $output"
	old=$(load_config_image "" "$cfg_old" 100)

	run_berth image prune -f --filter 'label!=keep=yes'
	assert_contains "$output" "deleted: $old"
	[[ $output != *"$new"* ]] || die "label!= removed the wrong image: $output"

	run_berth image prune -f --filter label=keep=yes
	assert_contains "$output" "deleted: $new"
	run_berth images -q
	assert_equal "$output" ""

	run_berth 1 image prune -f --filter bogus=1
	assert_equal "$output" "Error: invalid filter 'bogus'"
	run_berth 1 image prune -f --filter until=1h --filter until=2h
	assert_equal "$output" "Error: more than one until filter specified"
	run_berth 1 image prune -f --filter until=soon
	assert_contains "$output" 'failed to parse value as time or duration: "soon"'
	run_berth 1 image prune x
	assert_contains "$output" '"berth image prune" accepts no arguments.'
}
