#!/usr/bin/env bats
# The store as a whole: a load of several images is one transaction (kill -9 at random
# moments), rmi deletes an image's content at once (also while another writer runs), and
# concurrent load, rmi, images, import and image prune are safe together.

load helpers.images

# Three images in one berth save archive: each has its own top layer on a shared base.
make_three() {
	make_file_tar "$TEST_DIR/base.tar" 300000 base
	local i
	for i in 1 2 3; do
		make_file_tar "$TEST_DIR/top$i.tar" $((200000 * i)) "top$i"
		make_save_archive "$TEST_DIR/img$i.tar" "three:$i" \
			"{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-0${i}T00:00:00Z\"}" \
			"$TEST_DIR/base.tar" "$TEST_DIR/top$i.tar"
		berth load -q -i "$TEST_DIR/img$i.tar" >/dev/null
	done
	berth save -o "$TEST_DIR/three.tar" three:1 three:2 three:3
	berth rmi three:1 three:2 three:3 >/dev/null
	assert_equal "$(store_files)" "$STORE_EMPTY"
}

# three_listed_then_removed: three:1..3 are listed, rmi removes them and leaves the store empty.
three_listed_then_removed() {
	run_berth images --format '{{.Repository}}:{{.Tag}}'
	assert_equal "$(sort <<<"$output")" "three:1
three:2
three:3"
	run_berth rmi three:1 three:2 three:3
	assert_equal "$(store_files)" "$STORE_EMPTY"
}

@test "load: an archive of three images is one transaction, killed at any moment" {
	make_three
	load_kill_loop "$TEST_DIR/three.tar" 12 three:1 three:2 three:3
}

@test "rmi: the last image using a blob takes it and its layers at once, nothing is left" {
	berth images >/dev/null # makes the store
	assert_equal "$(store_files)" "$STORE_EMPTY"
	make_file_tar "$TEST_DIR/a.tar" 100000
	run_berth import "$TEST_DIR/a.tar" a:1
	# Same layer, another config: shares the layer blob and the layer.
	run_berth import -c 'CMD ["/x"]' "$TEST_DIR/a.tar" a:2
	local b
	b=$(import_image b:1 5000)
	# a:1 and a:2: 2 configs, 2 manifests, 1 layer blob; b: 3 blobs. Two layers.
	assert_equal "$(store_files)" "blobs=8 layers=2 images=3 tmp=0 pins=0"
	run_berth rmi a:1
	assert_equal "$(store_files)" "blobs=6 layers=2 images=2 tmp=0 pins=0"
	run_berth rmi a:2
	assert_equal "$(store_files)" "blobs=3 layers=1 images=1 tmp=0 pins=0"
	run_berth image prune -af
	assert_contains "$output" "$b"
	assert_equal "$(store_files)" "$STORE_EMPTY"
}

@test "rmi: content goes at once while a load holds the store, and the load's stays" {
	make_three
	# A load that has started (it holds the gc lock and has a pin file) and waits for data.
	mkfifo "$TEST_DIR/fifo"
	exec 7<>"$TEST_DIR/fifo"
	"$BERTH" load -i "$TEST_DIR/fifo" >"$TEST_DIR/load.out" 2>&1 3>&- 7>&- &
	local loader=$! i
	for i in $(seq 1 100); do
		[ "$(pin_files)" = 1 ] && break
		sleep 0.05
	done
	assert_equal "$(store_files)" "blobs=0 layers=0 images=0 tmp=0 pins=1"
	local x
	x=$(import_image x:1 50000)
	assert_equal "$(store_files)" "blobs=3 layers=1 images=1 tmp=0 pins=1"
	run_berth rmi x:1
	assert_contains "$output" "Deleted: $x"
	assert_equal "$(store_files)" "blobs=0 layers=0 images=0 tmp=0 pins=1"
	# The load gets the archive now and completes.
	cat "$TEST_DIR/three.tar" >&7
	exec 7>&-
	wait "$loader"
	assert_contains "$(cat "$TEST_DIR/load.out")" "Loaded image: three:3"
	three_listed_then_removed
}

@test "two loads of overlapping archives at once, repeatedly: both work, nothing is left" {
	make_three
	berth load -q -i "$TEST_DIR/img1.tar" >/dev/null
	berth load -q -i "$TEST_DIR/img2.tar" >/dev/null
	berth load -q -i "$TEST_DIR/img3.tar" >/dev/null
	berth save -o "$TEST_DIR/12.tar" three:1 three:2
	berth save -o "$TEST_DIR/23.tar" three:2 three:3
	berth rmi three:1 three:2 three:3 >/dev/null
	local i p1 p2
	for i in 1 2 3 4 5; do
		"$BERTH" load -q -i "$TEST_DIR/12.tar" >"$TEST_DIR/l1.out" 2>&1 &
		p1=$!
		"$BERTH" load -q -i "$TEST_DIR/23.tar" >"$TEST_DIR/l2.out" 2>&1 &
		p2=$!
		wait "$p1" || die "load 12 failed: $(cat "$TEST_DIR/l1.out")"
		wait "$p2" || die "load 23 failed: $(cat "$TEST_DIR/l2.out")"
		run_berth images --format '{{.Repository}}:{{.Tag}}'
		assert_equal "$(sort <<<"$output")" "three:1
three:2
three:3"
		# Every image is whole: its files are there.
		run_berth image inspect -f '{{.RootFS.Layers}}' three:2
		run_berth rmi three:1 three:2 three:3
		assert_equal "$(store_files)" "$STORE_EMPTY"
	done
}

@test "images during loads and rmi shows all of an archive or none of it" {
	make_three
	local errors=$TEST_DIR/errors
	: >"$errors"
	(
		for i in $(seq 1 6); do
			berth load -q -i "$TEST_DIR/three.tar" >/dev/null || echo "load $i failed" >>"$errors"
			berth rmi three:1 three:2 three:3 >/dev/null || echo "rmi $i failed" >>"$errors"
		done
	) &
	local churner=$! n=0 out count
	while kill -0 "$churner" 2>/dev/null; do
		out=$(berth images --format '{{.Repository}}:{{.Tag}}') || echo "images failed: $out" >>"$errors"
		count=$(grep -c '^three:' <<<"$out" || true)
		case $count in
		0 | 3) ;;
		*) echo "half a load or rmi listed: $out" >>"$errors" ;;
		esac
		n=$((n + 1))
	done
	wait "$churner"
	[ "$n" -gt 0 ] || die "the listing never ran"
	[ ! -s "$errors" ] || die "$(cat "$errors")"
	assert_equal "$(store_files)" "$STORE_EMPTY"
}

@test "import during image prune -a: every import works, prune leaves nothing behind" {
	berth images >/dev/null
	local errors=$TEST_DIR/errors
	: >"$errors"
	(
		for i in $(seq 1 15); do
			berth image prune -af >/dev/null || echo "prune $i failed" >>"$errors"
		done
	) &
	local pruner=$! i
	for i in $(seq 1 8); do
		import_image "imp:$i" 20000 >/dev/null || echo "import $i failed" >>"$errors"
	done
	wait "$pruner"
	[ ! -s "$errors" ] || die "$(cat "$errors")"
	# What prune did not take is whole.
	local ref
	for ref in $(berth images --format '{{.Repository}}:{{.Tag}}'); do
		run_berth image inspect "$ref"
	done
	run_berth image prune -af
	assert_equal "$(store_files)" "$STORE_EMPTY"
}

@test "rmi during a save: the save gets every blob it needs, gc takes them after" {
	make_three
	berth load -q -i "$TEST_DIR/three.tar" >/dev/null
	mkfifo "$TEST_DIR/fifo"
	exec 7<>"$TEST_DIR/fifo"
	# The save blocks once the pipe is full, in the middle of the archive.
	"$BERTH" save three:1 three:2 three:3 >"$TEST_DIR/fifo" 2>"$TEST_DIR/save.err" 3>&- 7>&- &
	local saver=$! i
	for i in $(seq 1 100); do
		[ "$(pin_files)" = 1 ] && break
		sleep 0.05
	done
	sleep 0.2
	run_berth rmi three:1 three:2 three:3
	assert_contains "$output" "Deleted:"
	cat "$TEST_DIR/fifo" >"$TEST_DIR/saved.tar" 3>&- 7>&- &
	local reader=$!
	wait "$saver" || die "save failed: $(cat "$TEST_DIR/save.err")"
	# With our read-write end closed too, the reader sees the end.
	exec 7>&-
	wait "$reader"
	# The store kept what the save had pinned: the 10 blobs (3 configs, 3 manifests, 4
	# layer tars) and the base layer, whose chain id is its uncompressed tar's digest. The
	# three top layers are gone. gc takes the rest now that the save is done.
	assert_equal "$(store_files)" "blobs=10 layers=1 images=0 tmp=0 pins=0"
	run_berth image prune -af
	run_berth images -q
	assert_equal "$(store_files)" "$STORE_EMPTY"
	export BERTH_ROOT=$TEST_DIR/root2
	run_berth load -i "$TEST_DIR/saved.tar"
	assert_contains "$output" "Loaded image: three:3"
}

@test "rmi killed at any moment: each image goes whole or stays whole, nothing is left after" {
	make_three
	local n=0 midway=0 pid delay left end=$((SECONDS + 8)) ref
	while [ "$SECONDS" -lt "$end" ] || [ "$n" -lt 3 ]; do
		berth load -q -i "$TEST_DIR/three.tar" >/dev/null
		ASAN_OPTIONS=$(killed_asan_options) "$BERTH" rmi three:1 three:2 three:3 >/dev/null 2>&1 3>&- &
		pid=$!
		delay=$((RANDOM % 60))
		sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		# Each name went with its image or not at all (no untagged image is left), what
		# is still listed is whole, and removing it leaves an empty store.
		left=$(berth images --format '{{.Repository}}:{{.Tag}}')
		[[ $left != *"<none>"* ]] || die "rmi killed after ${delay} ms left: $left"
		for ref in $left; do
			run_berth image inspect -f '{{.Id}}' "$ref"
		done
		case $(wc -w <<<"$left") in
		1 | 2) midway=$((midway + 1)) ;;
		esac
		[ -z "$left" ] || berth rmi $left >/dev/null
		berth image prune -af >/dev/null
		left=$(store_files)
		[ "$left" = "$STORE_EMPTY" ] || die "rmi killed after ${delay} ms: left $left"
		n=$((n + 1))
	done
	echo "# $n kills, $midway between two of the three names" >&3
}

# tag_times REF...: each image's Metadata.LastTagTime, one line each.
tag_times() {
	berth image inspect -f '{{.Metadata.LastTagTime}}' "$@"
}

@test "load of an archive already loaded, killed at any moment: the old tag times or the new, whole" {
	make_three
	berth load -q -i "$TEST_DIR/three.tar" >/dev/null
	local t0 full_ms before after n=0 old=0 new=0 pid delay end
	before=$(tag_times three:1 three:2 three:3)
	# One load of the three names notes one tag time on all three images.
	[ "$(sort -u <<<"$before" | wc -l)" = 1 ] || die "first load: $before"
	# How long a load of what is there takes, at best of three, to spread the kills over.
	full_ms=
	for n in 1 2 3; do
		t0=$(date +%s%N)
		berth load -q -i "$TEST_DIR/three.tar" >/dev/null
		t0=$((($(date +%s%N) - t0) / 1000000 + 1))
		[ -n "$full_ms" ] && [ "$full_ms" -le "$t0" ] || full_ms=$t0
	done
	n=0
	before=$(tag_times three:1 three:2 three:3)
	end=$((SECONDS + 10))
	while [ "$SECONDS" -lt "$end" ] || [ "$n" -lt 3 ]; do
		ASAN_OPTIONS=$(killed_asan_options) "$BERTH" load -q -i "$TEST_DIR/three.tar" >/dev/null 2>&1 3>&- &
		pid=$!
		delay=$((RANDOM % (full_ms + full_ms / 4 + 1)))
		sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		# The names stay, every record reads, and the three tag times are the ones
		# before the load or one new time on all three.
		after=$(tag_times three:1 three:2 three:3) || die "kill $n after ${delay} ms: inspect failed: $after"
		if [ "$after" = "$before" ]; then
			old=$((old + 1))
		elif [ "$(sort -u <<<"$after" | wc -l)" = 1 ] && [[ $(head -n1 <<<"$after") > $(head -n1 <<<"$before") ]]; then
			new=$((new + 1))
		else
			die "kill $n after ${delay} ms left tag times
$after
where there were
$before"
		fi
		before=$after
		n=$((n + 1))
	done
	three_listed_then_removed
	echo "# $n kills (a load takes ${full_ms} ms): $old before the commit, $new after" >&3
}

@test "image prune and prune -a killed at any moment: all of their removals or none" {
	make_three
	# listing: "<tagged> <dangling>" as counted by images; every listed image reads.
	listing() {
		local out ref
		out=$(berth images --format '{{.Repository}}:{{.Tag}} {{.ID}}') || return 1
		for ref in $(awk '{print $2}' <<<"$out"); do
			berth image inspect -f '{{.Id}}' "$ref" >/dev/null || return 1
		done
		echo "$(grep -c '^three:' <<<"$out") $(grep -c '^<none>:<none> ' <<<"$out")"
	}
	# fill: the three tagged images and two dangling ones, whatever is missing.
	fill() {
		local got
		got=$(listing)
		[ "${got% *}" = 3 ] || berth load -q -i "$TEST_DIR/three.tar" >/dev/null
		while [ "${got#* }" -lt 2 ]; do
			import_image "" 3000 >/dev/null
			got=$(listing)
		done
	}
	local t0 full_ms= ms mode flags n=0 got pid delay end none=0 all=0
	# How long a prune takes here, at best of four, to spread the kills over.
	for flags in -f -af -f -af; do
		fill
		t0=$(date +%s%N)
		berth image prune $flags >/dev/null
		ms=$((($(date +%s%N) - t0) / 1000000 + 1))
		[ -n "$full_ms" ] && [ "$full_ms" -le "$ms" ] || full_ms=$ms
	done
	mkfifo "$TEST_DIR/never"
	exec 8<>"$TEST_DIR/never"
	end=$((SECONDS + 10))
	while [ "$SECONDS" -lt "$end" ] || [ "$n" -lt 4 ]; do
		fill
		mode=$((n % 2))
		flags=-f
		[ "$mode" = 0 ] || flags=-af
		ASAN_OPTIONS=$(killed_asan_options) "$BERTH" image prune $flags >/dev/null 2>&1 3>&- 8>&- &
		pid=$!
		# Timed by a read that times out: no process to start, as sleep is, which
		# would take as long as the prune.
		delay=$((RANDOM % (full_ms + full_ms / 4 + 1)))
		read -r -t "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))" -u 8 || true
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		got=$(listing) || die "prune $flags killed after ${delay} ms: an image does not read"
		case "$flags $got" in
		"-f 3 2" | "-af 3 2") none=$((none + 1)) ;;
		"-f 3 0" | "-af 0 0") all=$((all + 1)) ;;
		*) die "prune $flags killed after ${delay} ms left $got (tagged, dangling)" ;;
		esac
		n=$((n + 1))
	done
	exec 8>&-
	run_berth image prune -af
	assert_equal "$(store_files)" "$STORE_EMPTY"
	echo "# $n kills (a prune takes ${full_ms} ms): $none before the commit, $all after" >&3
}
