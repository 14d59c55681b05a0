# Image fixtures for the image command tests (030-images, 040-tag-rmi, 050-inspect-history).
# Images always enter the store through berth itself (`berth import`, `berth load`), never by
# writing into it; load_config_image builds a `docker save` archive by hand so that a test
# controls every field of the config (history, labels, created, several layers).

load helpers

# make_file_tar OUT SIZE [NAME]: a tar holding one regular file NAME (default "data") of
# exactly SIZE random bytes, so every call gives a new layer of a known unpacked size.
make_file_tar() {
	local out=$1 size=$2 name=${3:-data} d
	d=$(mktemp -d "$TEST_DIR/tar.XXXXXX")
	head -c "$size" /dev/urandom >"$d/$name"
	tar -C "$d" --numeric-owner -cf "$out" "$name"
	rm -rf "$d"
}

# import_image [REF] [SIZE] [IMPORT-OPTIONS...]: import a fresh one-file layer of SIZE bytes
# (default 1000) as REF ("" for an untagged image); prints the full image id.
import_image() {
	local ref=${1:-} size=${2:-1000} tar out id
	shift 2 || shift $#
	tar=$(mktemp "$TEST_DIR/import.XXXXXX")
	make_file_tar "$tar" "$size"
	out=$(berth import "$@" "$tar" ${ref:+"$ref"}) || {
		echo "berth import $* $tar $ref failed: $out" >&2
		return 1
	}
	rm -f "$tar"
	id=$(grep -oE 'sha256:[0-9a-f]{64}' <<<"$out" | tail -n1)
	[ -n "$id" ] || {
		echo "berth import printed no image id: $out" >&2
		return 1
	}
	echo "$id"
}

# make_save_archive OUT REF CONFIG LAYER-TAR...: a `docker save` archive of one image whose
# config is the JSON object CONFIG with rootfs.diff_ids filled in from the layer tars.
# REF "" makes an untagged image.
make_save_archive() {
	local out=$1 ref=$2 config=$3
	shift 3
	local d i=0 l cid
	local diff_ids=() layers=()
	d=$(mktemp -d "$TEST_DIR/save.XXXXXX")
	for l in "$@"; do
		mkdir "$d/l$i"
		cp "$l" "$d/l$i/layer.tar"
		diff_ids+=("sha256:$(sha256sum "$l" | cut -d' ' -f1)")
		layers+=("l$i/layer.tar")
		i=$((i + 1))
	done
	jq -c '.rootfs = {type: "layers", diff_ids: $ARGS.positional}' --args "${diff_ids[@]}" \
		<<<"$config" >"$d/config.json"
	cid=$(sha256sum "$d/config.json" | cut -d' ' -f1)
	mv "$d/config.json" "$d/$cid.json"
	jq -n -c --arg c "$cid.json" --arg r "$ref" \
		'[{Config: $c, RepoTags: (if $r == "" then null else [$r] end), Layers: $ARGS.positional}]' \
		--args "${layers[@]}" >"$d/manifest.json"
	tar -C "$d" --numeric-owner -cf "$out" .
	rm -rf "$d"
}

# load_config_image REF CONFIG SIZE...: load an image of one fresh layer per SIZE with the
# given config (a JSON object); prints its id (sha256 of the config, as docker computes it).
load_config_image() {
	local ref=$1 config=$2
	shift 2
	local tars=() s t archive out
	for s in "$@"; do
		t=$(mktemp "$TEST_DIR/layer.XXXXXX")
		make_file_tar "$t" "$s"
		tars+=("$t")
	done
	archive=$(mktemp "$TEST_DIR/archive.XXXXXX")
	make_save_archive "$archive" "$ref" "$config" "${tars[@]}"
	out=$(berth load -i "$archive") || {
		echo "berth load failed: $out" >&2
		return 1
	}
	tar -xOf "$archive" ./manifest.json | jq -r '.[0].Config' | sed 's/^/sha256:/; s/\.json$//'
	rm -f "$archive" "${tars[@]}"
}

# short_id ID: docker's 12-hex form.
short_id() {
	local id=${1#sha256:}
	echo "${id:0:12}"
}

# column_starts LINE NAMES...: print the offset of each name in LINE (for alignment checks).
column_starts() {
	local line=$1 n
	shift
	for n in "$@"; do
		local before=${line%%"$n"*}
		echo "${#before}"
	done
}

# store_files: what the store holds on disk, one line: blobs, unpacked layers, image
# records, work in progress (tmp/) and live or dead writers' pin files. An empty store gives
# "blobs=0 layers=0 images=0 tmp=0 pins=0".
STORE_EMPTY="blobs=0 layers=0 images=0 tmp=0 pins=0"
pin_files() {
	find "$BERTH_ROOT/pins" -mindepth 1 -maxdepth 1 ! -name .spare 2>/dev/null | wc -l
}
store_files() {
	local d n out=
	for d in blobs layers images tmp pins; do
		case $d in
		blobs) n=$(find "$BERTH_ROOT/blobs" -type f 2>/dev/null | wc -l) ;;
		# pins/.spare is the emptied file a writer leaves for the next, nobody's pins.
		pins) n=$(pin_files) ;;
		*) n=$(find "$BERTH_ROOT/$d" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) ;;
		esac
		out+="${out:+ }$d=$n"
	done
	echo "$out"
}

# load_kill_loop ARCHIVE SECONDS NAME...: for about SECONDS, start `berth load` of ARCHIVE
# and kill it with SIGKILL at a random moment of its run; after each kill either every NAME
# is listed or none is (a load is one transaction), and the next load gives all of them,
# after which rmi leaves an empty store (the kill's leftovers were collected). Prints how
# many kills fell before and after the commit to fd 3.
load_kill_loop() {
	local archive=$1 secs=$2
	shift 2
	local want got pid t0 full_ms delay n=0 all=0 none=0 end
	want=$(printf '%s\n' "$@" | sort)
	# How long a whole load takes here, to spread the kills over it.
	t0=$(date +%s%N)
	berth load -q -i "$archive" >/dev/null
	full_ms=$((($(date +%s%N) - t0) / 1000000 + 1))
	berth rmi "$@" >/dev/null
	assert_equal "$(store_files)" "$STORE_EMPTY"
	end=$((SECONDS + secs))
	while [ "$SECONDS" -lt "$end" ] || [ "$n" -lt 3 ]; do
		ASAN_OPTIONS=$(killed_asan_options) "$BERTH" load -q -i "$archive" >/dev/null 2>&1 &
		pid=$!
		delay=$((RANDOM % (full_ms + full_ms / 4 + 1)))
		sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		got=$(berth images --format '{{.Repository}}:{{.Tag}}' | sort)
		if [ -z "$got" ]; then
			none=$((none + 1))
		elif [ "$got" = "$want" ]; then
			all=$((all + 1))
		else
			die "kill $n after ${delay} ms left part of the archive loaded: $got"
		fi
		berth load -q -i "$archive" >/dev/null
		got=$(berth images --format '{{.Repository}}:{{.Tag}}' | sort)
		assert_equal "$got" "$want"
		berth rmi "$@" >/dev/null
		got=$(store_files)
		[ "$got" = "$STORE_EMPTY" ] || die "kill $n after ${delay} ms: left $got"
		n=$((n + 1))
	done
	echo "# $n kills (a load takes ${full_ms} ms): $none before the commit, $all after" >&3
}
