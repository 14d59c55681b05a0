#!/usr/bin/env bats
# berth save and load: round trips (docker and oci-archive formats, files and pipes), the
# archive layouts other tools write, and refusal of corrupt archives without leftovers.

load helpers

config_of() {
	cat "$BERTH_ROOT/blobs/sha256/${1#sha256:}"
}

store_census() {
	local blobs layers tmp
	blobs=$(find "$BERTH_ROOT/blobs" -type f 2>/dev/null | wc -l)
	layers=$(find "$BERTH_ROOT/layers" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	tmp=$(find "$BERTH_ROOT/tmp" -mindepth 1 2>/dev/null | wc -l)
	echo "blobs=$blobs layers=$layers tmp=$tmp"
}

# Two images sharing their layer: bb:1 (and its second name bb:alias) and bb:2.
make_images() {
	make_busybox_tar "$TEST_DIR/bb.tar"
	run_berth import "$TEST_DIR/bb.tar" bb:1
	ID1=$output
	run_berth tag bb:1 bb:alias
	run_berth import -c 'CMD ["/bin/echo","two"]' -c 'ENV X=2' "$TEST_DIR/bb.tar" bb:2
	ID2=$output
}

# A listing of an image's files with modes, owners, sizes and link targets.
tree_of() {
	local dir
	dir=$(berth image inspect -f '{{.GraphDriver.Data.UpperDir}}' "$1")
	(cd "$dir" && find . -printf '%p %M %U:%G %s %l\n' | sort)
}

# Switch to an empty store.
fresh_root() {
	export BERTH_ROOT=$TEST_DIR/root-$1
}

@test "save | load: same ids, tags, configs and files in a fresh store" {
	make_images
	local tree1 cfg1
	tree1=$(tree_of bb:1)
	cfg1=$(config_of "$ID1")
	run_berth save -o "$TEST_DIR/all.tar" bb:1 bb:alias bb:2
	[ -s "$TEST_DIR/all.tar" ]
	# One copy of the shared layer, one config and one manifest per image.
	run tar -tf "$TEST_DIR/all.tar"
	assert_equal "$(grep -c '^blobs/sha256/.' <<<"$output")" "5"
	assert_contains "$output" "manifest.json"
	assert_contains "$output" "oci-layout"
	assert_contains "$output" "index.json"
	assert_contains "$output" "repositories"

	fresh_root 2
	run_berth load -i "$TEST_DIR/all.tar"
	assert_equal "$output" "Loaded image: bb:1
Loaded image: bb:alias
Loaded image: bb:2"
	run_berth image inspect -f '{{.Id}}' bb:1
	assert_equal "$output" "$ID1"
	run_berth image inspect -f '{{.Id}}' bb:alias
	assert_equal "$output" "$ID1"
	run_berth image inspect -f '{{.Id}}' bb:2
	assert_equal "$output" "$ID2"
	assert_equal "$(config_of "$ID1")" "$cfg1"
	assert_equal "$(tree_of bb:1)" "$tree1"
	run_berth image inspect -f '{{json .Config.Cmd}}' bb:2
	assert_equal "$output" '["/bin/echo","two"]'
}

@test "save to stdout, load from stdin, after rmi in the same store" {
	make_images
	berth save bb:2 >"$TEST_DIR/two.tar"
	run_berth rmi bb:2
	run_berth 1 image inspect bb:2
	run_berth load <"$TEST_DIR/two.tar"
	assert_equal "$output" "Loaded image: bb:2"
	run_berth image inspect -f '{{.Id}}' bb:2
	assert_equal "$output" "$ID2"

	# A pipe straight into another store, with -q (which still names what was loaded).
	berth save bb:1 | BERTH_ROOT=$TEST_DIR/root-pipe "$BERTH" load -q >"$TEST_DIR/out"
	assert_equal "$(cat "$TEST_DIR/out")" "Loaded image: bb:1"
	fresh_root pipe
	run_berth image inspect -f '{{.Id}}' bb:1
	assert_equal "$output" "$ID1"
}

@test "save: a repository name saves all its tags; an id saves the image without a name" {
	make_images
	run_berth save -o "$TEST_DIR/repo.tar" bb
	run_berth save -o "$TEST_DIR/byid.tar" "${ID2#sha256:}"
	fresh_root 2
	run_berth load -i "$TEST_DIR/repo.tar"
	assert_contains "$output" "Loaded image: bb:1"
	assert_contains "$output" "Loaded image: bb:alias"
	assert_contains "$output" "Loaded image: bb:2"
	fresh_root 3
	run_berth load -i "$TEST_DIR/byid.tar"
	assert_equal "$output" "Loaded image ID: $ID2"
	run_berth images -q --no-trunc
	assert_equal "$output" "$ID2"
}

@test "save --format oci-archive: an OCI layout only, names as ref.name, round trip" {
	make_images
	run_berth save --format oci-archive -o "$TEST_DIR/oci.tar" bb:1 bb:2
	run tar -tf "$TEST_DIR/oci.tar"
	[[ "$output" != *manifest.json* ]] || die "manifest.json in an oci-archive"
	[[ "$output" != *repositories* ]] || die "repositories in an oci-archive"
	mkdir "$TEST_DIR/x"
	tar -xf "$TEST_DIR/oci.tar" -C "$TEST_DIR/x"
	assert_equal "$(jq -r .imageLayoutVersion "$TEST_DIR/x/oci-layout")" "1.0.0"
	assert_equal "$(jq -r '[.manifests[].annotations["org.opencontainers.image.ref.name"]] | join(" ")' "$TEST_DIR/x/index.json")" \
		"docker.io/library/bb:1 docker.io/library/bb:2"
	# Every blob is named by its digest.
	local f
	for f in "$TEST_DIR"/x/blobs/sha256/*; do
		assert_equal "$(sha256sum "$f" | cut -d' ' -f1)" "$(basename "$f")"
	done

	fresh_root 2
	run_berth load -i "$TEST_DIR/oci.tar"
	assert_equal "$output" "Loaded image: bb:1
Loaded image: bb:2"
	run_berth image inspect -f '{{.Id}}' bb:2
	assert_equal "$output" "$ID2"
}

@test "load: whole-archive gzip, xz and zstd compression" {
	make_images
	berth save bb:1 >"$TEST_DIR/a.tar"
	gzip -c "$TEST_DIR/a.tar" >"$TEST_DIR/a.tar.gz"
	xz -c "$TEST_DIR/a.tar" >"$TEST_DIR/a.tar.xz"
	zstd -q -c "$TEST_DIR/a.tar" >"$TEST_DIR/a.tar.zst"
	local f
	for f in a.tar.gz a.tar.xz a.tar.zst; do
		fresh_root "$f"
		run_berth load -i "$TEST_DIR/$f"
		assert_equal "$output" "Loaded image: bb:1"
		run_berth image inspect -f '{{.Id}}' bb:1
		assert_equal "$output" "$ID1"
	done
}

@test "load: docker's legacy layout, with a layer shared through a symlink" {
	make_busybox_tar "$TEST_DIR/bb.tar"
	local d=$TEST_DIR/legacy sum
	sum=$(sha256sum "$TEST_DIR/bb.tar" | cut -d' ' -f1)
	mkdir -p "$d/aaaa" "$d/bbbb"
	cp "$TEST_DIR/bb.tar" "$d/aaaa/layer.tar"
	ln -s ../aaaa/layer.tar "$d/bbbb/layer.tar"
	echo 1.0 >"$d/aaaa/VERSION"
	printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$sum" >"$d/c1.json"
	printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$sum" >"$d/c2.json"
	cat >"$d/manifest.json" <<-EOF
		[{"Config":"c1.json","RepoTags":["legacy:1","localhost:5000/x/y:z"],"Layers":["aaaa/layer.tar"]},
		 {"Config":"./c2.json","RepoTags":null,"Layers":["bbbb/layer.tar"]}]
	EOF
	tar -C "$d" -cf "$TEST_DIR/legacy.tar" .
	run_berth load -i "$TEST_DIR/legacy.tar"
	local id2="sha256:$(sha256sum "$d/c2.json" | cut -d' ' -f1)"
	assert_equal "$output" "Loaded image: legacy:1
Loaded image: localhost:5000/x/y:z
Loaded image ID: $id2"
	run_berth image inspect -f '{{.Id}}' legacy:1
	assert_equal "$output" "sha256:$(sha256sum "$d/c1.json" | cut -d' ' -f1)"
	run_berth image inspect -f '{{json .RootFS.Layers}}' "$id2"
	assert_equal "$output" "[\"sha256:$sum\"]"
	# Loading it again changes nothing and says the same.
	run_berth load -i "$TEST_DIR/legacy.tar"
	assert_contains "$output" "Loaded image: legacy:1"
	# When a name moves to another image, docker says so.
	run_berth tag "$id2" legacy:1
	run_berth load -i "$TEST_DIR/legacy.tar"
	assert_contains "$output" "The image legacy:1 already exists, renaming the old one with ID $id2 to empty string"
}

# make_oci_layout DIR LAYER_TAR: an OCI layout whose index.json points at a nested index of
# two platforms (arm64 with a bogus layer, amd64 with LAYER_TAR gzipped), named "oci:multi".
make_oci_layout() {
	python3 - "$1" "$2" <<-'EOF'
		import gzip, hashlib, json, os, sys
		out, layer = sys.argv[1], sys.argv[2]
		os.makedirs(out + '/blobs/sha256')
		def put(data):
		    h = hashlib.sha256(data).hexdigest()
		    open(f'{out}/blobs/sha256/{h}', 'wb').write(data)
		    return {'digest': 'sha256:' + h, 'size': len(data)}
		raw = open(layer, 'rb').read()
		gz = gzip.compress(raw, mtime=0)
		def image(arch, tar_bytes, blob):
		    cfg = json.dumps({'architecture': arch, 'os': 'linux', 'config': {},
		        'rootfs': {'type': 'layers', 'diff_ids': ['sha256:' + hashlib.sha256(tar_bytes).hexdigest()]}}).encode()
		    m = {'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
		         'config': dict(mediaType='application/vnd.oci.image.config.v1+json', **put(cfg)),
		         'layers': [dict(mediaType='application/vnd.oci.image.layer.v1.tar+gzip', **put(blob))]}
		    d = put(json.dumps(m).encode())
		    return dict(mediaType='application/vnd.oci.image.manifest.v1+json',
		                platform={'os': 'linux', 'architecture': arch}, **d), cfg
		arm, _ = image('arm64', b'not a tar', gzip.compress(b'not a tar'))
		amd, cfg = image('amd64', raw, gz)
		open(out + '/amd64-config.json', 'wb').write(cfg)
		idx = put(json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.index.v1+json',
		                      'manifests': [arm, amd]}).encode())
		top = {'schemaVersion': 2, 'manifests': [dict(mediaType='application/vnd.oci.image.index.v1+json',
		       annotations={'org.opencontainers.image.ref.name': 'oci:multi'}, **idx)]}
		open(out + '/index.json', 'w').write(json.dumps(top))
		open(out + '/oci-layout', 'w').write('{"imageLayoutVersion":"1.0.0"}')
	EOF
}

@test "load: an OCI layout with a nested multi-platform index and gzip layers" {
	make_busybox_tar "$TEST_DIR/bb.tar"
	make_oci_layout "$TEST_DIR/oci" "$TEST_DIR/bb.tar"
	local cfg=$TEST_DIR/oci/amd64-config.json
	local want="sha256:$(sha256sum "$cfg" | cut -d' ' -f1)"
	mv "$cfg" "$TEST_DIR/amd64-config.json"
	tar -C "$TEST_DIR/oci" -cf "$TEST_DIR/oci.tar" .
	run_berth load -i "$TEST_DIR/oci.tar"
	assert_equal "$output" "Loaded image: oci:multi"
	run_berth image inspect -f '{{.Id}}' oci:multi
	assert_equal "$output" "$want"
	run_berth image inspect -f '{{.GraphDriver.Data.UpperDir}}' oci:multi
	[ -x "$output/bin/busybox" ]
	# The gzip layer is kept as it came, and saved as it is kept.
	run_berth save -o "$TEST_DIR/again.tar" oci:multi
	fresh_root 2
	run_berth load -i "$TEST_DIR/again.tar"
	run_berth image inspect -f '{{.Id}}' oci:multi
	assert_equal "$output" "$want"
	# Asking for a platform the index does not have fails.
	fresh_root 3
	run_berth 1 load --platform linux/s390x -i "$TEST_DIR/oci.tar"
	assert_contains "$output" "no matching manifest for linux/s390x"
}

# corrupt NAME: rebuild $TEST_DIR/c.tar from the unpacked archive in $TEST_DIR/c after the
# caller broke something, load it, and check that the load failed with MESSAGE and left the
# store as it was.
expect_refused() {
	local message=$1
	tar -C "$TEST_DIR/c" -cf "$TEST_DIR/c.tar" .
	local before
	before=$(store_census)
	run_berth 1 load -i "$TEST_DIR/c.tar"
	assert_contains "$output" "$message"
	assert_equal "$(store_census)" "$before"
	run_berth images --format '{{.Repository}}:{{.Tag}}'
	assert_equal "$output" "bb:1"
}

reset_archive() {
	rm -rf "$TEST_DIR/c"
	mkdir "$TEST_DIR/c"
	tar -xf "$TEST_DIR/good.tar" -C "$TEST_DIR/c"
}

@test "load: corrupt archives are refused and leave nothing behind" {
	make_busybox_tar "$TEST_DIR/bb.tar"
	run_berth import -c 'CMD x' "$TEST_DIR/bb.tar" good:1
	local id=$output
	run_berth save -o "$TEST_DIR/good.tar" good:1
	# The store the archives are loaded into holds another image only.
	fresh_root 2
	run_berth import "$TEST_DIR/bb.tar" bb:1
	local cfg=${id#sha256:}
	local layer
	layer=$(sha256sum "$TEST_DIR/bb.tar" | cut -d' ' -f1)

	reset_archive
	echo '{"architecture":"amd64"}' >"$TEST_DIR/c/blobs/sha256/$cfg"
	expect_refused "digest mismatch"

	reset_archive
	printf 'x' >>"$TEST_DIR/c/blobs/sha256/$layer"
	expect_refused "blobs/sha256/$layer"

	reset_archive
	rm "$TEST_DIR/c/blobs/sha256/$layer"
	expect_refused "is missing from the archive"

	reset_archive
	jq -c '.[0].Layers = ["../../etc/passwd"]' "$TEST_DIR/c/manifest.json" >"$TEST_DIR/m" && mv "$TEST_DIR/m" "$TEST_DIR/c/manifest.json"
	expect_refused "leaves the archive"

	reset_archive
	jq -c '.[0].Config = 7' "$TEST_DIR/c/manifest.json" >"$TEST_DIR/m" && mv "$TEST_DIR/m" "$TEST_DIR/c/manifest.json"
	expect_refused '"Config" is missing or not a string'

	reset_archive
	jq -c '.[0].RepoTags = ["Not:Valid:Tag"]' "$TEST_DIR/c/manifest.json" >"$TEST_DIR/m" && mv "$TEST_DIR/m" "$TEST_DIR/c/manifest.json"
	expect_refused "invalid reference format"

	# A config whose diff_id is not the layer's: the layer is read, found wrong, dropped.
	reset_archive
	local bad="{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$(printf '%064d' 0)\"]}}"
	printf '%s' "$bad" >"$TEST_DIR/c/evil.json"
	jq -c '.[0].Config = "evil.json"' "$TEST_DIR/c/manifest.json" >"$TEST_DIR/m" && mv "$TEST_DIR/m" "$TEST_DIR/c/manifest.json"
	expect_refused "layer sha256:0000"

	reset_archive
	python3 -c 'import sys; sys.stdout.write("[" + " " * (17 << 20) + "]")' >"$TEST_DIR/c/manifest.json"
	expect_refused "manifest.json: larger than"

	reset_archive
	rm "$TEST_DIR/c/manifest.json" "$TEST_DIR/c/index.json"
	expect_refused "neither manifest.json nor index.json"

	# Only the OCI side: a broken index.json.
	reset_archive
	rm "$TEST_DIR/c/manifest.json"
	echo '{"schemaVersion":2,"manifests":{}}' >"$TEST_DIR/c/index.json"
	expect_refused '"manifests" is missing or not an array'

	# Into an empty store: the layer blob that was written before the config was found
	# wrong goes again (the failed load runs the store's gc).
	fresh_root empty
	reset_archive
	printf '%s' "$bad" >"$TEST_DIR/c/evil.json"
	jq -c '.[0].Config = "evil.json"' "$TEST_DIR/c/manifest.json" >"$TEST_DIR/m" && mv "$TEST_DIR/m" "$TEST_DIR/c/manifest.json"
	tar -C "$TEST_DIR/c" -cf "$TEST_DIR/c.tar" .
	run_berth 1 load -i "$TEST_DIR/c.tar"
	assert_contains "$output" "diff"
	assert_equal "$(store_census)" "blobs=0 layers=0 tmp=0"
	fresh_root 2

	# Cut short, and not an archive at all.
	head -c 600000 "$TEST_DIR/good.tar" >"$TEST_DIR/cut.tar"
	local before
	before=$(store_census)
	run_berth 1 load -i "$TEST_DIR/cut.tar"
	assert_contains "$output" "berth: load:"
	head -c 5000 /dev/urandom >"$TEST_DIR/noise"
	run_berth 1 load -i "$TEST_DIR/noise"
	assert_contains "$output" "read archive"
	run_berth 1 load -i "$TEST_DIR/nope.tar"
	assert_contains "$output" "open $TEST_DIR/nope.tar: No such file or directory"
	assert_equal "$(store_census)" "$before"
}

@test "save: -o is atomic, errors and terminals" {
	make_images
	echo keep >"$TEST_DIR/out.tar"
	run_berth 1 save -o "$TEST_DIR/out.tar" bb:1 nosuch:image
	assert_contains "$output" "No such image: nosuch:image"
	assert_equal "$(cat "$TEST_DIR/out.tar")" "keep"
	assert_equal "$(ls -A "$TEST_DIR" | grep -c tmp)" "0"
	run_berth 1 save -o "$TEST_DIR/out.tar" --format zip bb:1
	assert_contains "$output" "invalid format"
	run_berth 1 save
	assert_contains "$output" '"berth save" requires at least 1 argument'
	# Through a symlink, the target file is replaced and the link stays.
	ln -s out.tar "$TEST_DIR/link.tar"
	run_berth save -o "$TEST_DIR/link.tar" bb:1
	[ -L "$TEST_DIR/link.tar" ]
	tar -tf "$TEST_DIR/out.tar" manifest.json
	# A device is written to, not replaced.
	run_berth save -o /dev/null bb:1
	[ -c /dev/null ]

	# stdout and stdin on a terminal are refused, as docker refuses them.
	run script -qec "$BERTH save bb:1" /dev/null
	assert_contains "$output" "cowardly refusing to save to a terminal"
	run script -qec "$BERTH load" /dev/null
	assert_contains "$output" "requested load from stdin, but stdin is empty"
}
