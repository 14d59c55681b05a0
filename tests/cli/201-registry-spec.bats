#!/usr/bin/env bats
# The OCI distribution spec (v1.1), one rule per test, against `berth registry serve` with
# curl: status codes, headers (Location, Docker-Content-Digest, Range, Link, OCI-*), error
# codes, chunked uploads and their 416s, pagination, referrers, deletion, limits, and paths
# that try to leave the root.

load helpers.registry

setup() {
	registry_setup
	start_registry --delete
	make_image "$TEST_DIR/img"
}

OCI_M=application/vnd.oci.image.manifest.v1+json
OCI_I=application/vnd.oci.image.index.v1+json
DOCKER_M=application/vnd.docker.distribution.manifest.v2+json
DOCKER_L=application/vnd.docker.distribution.manifest.list.v2+json

# blob FILE BYTES...: write a file of that content.
blob() {
	printf '%s' "$2" >"$1"
}

@test "GET /v2/ answers 200 with the API version header" {
	expect_status 200 "$REG_URL/v2/"
	assert_equal "$(hdr Docker-Distribution-API-Version)" "registry/2.0"
	assert_equal "$(cat "$TEST_DIR/body")" "{}"
	expect_status 200 "$REG_URL/v2"
}

@test "an unknown endpoint is 404 with a JSON error body" {
	expect_status 404 "$REG_URL/v2/x/unknown/y"
	jq -e '.errors[0].code' "$TEST_DIR/body"
	expect_status 404 "$REG_URL/v1/_ping"
}

@test "a method a route does not take is 405 with Allow" {
	expect_error 405 UNSUPPORTED -X POST "$REG_URL/v2/x/tags/list"
	assert_equal "$(hdr Allow)" "GET, HEAD"
	expect_status 405 -X PATCH "$REG_URL/v2/x/manifests/latest"
}

@test "monolithic POST ?digest= creates the blob (201, Location, Docker-Content-Digest)" {
	blob "$TEST_DIR/b" "monolithic"
	d=$(sha256_of "$TEST_DIR/b")
	expect_status 201 -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$TEST_DIR/b" \
		"$REG_URL/v2/spec/mono/blobs/uploads/?digest=$d"
	assert_equal "$(hdr Location)" "/v2/spec/mono/blobs/$d"
	assert_equal "$(hdr Docker-Content-Digest)" "$d"
	run rcurl "$REG_URL$(hdr Location)"
	assert_equal "$output" "monolithic"
}

@test "monolithic POST with content that does not match the digest is 400 DIGEST_INVALID" {
	blob "$TEST_DIR/b" "real content"
	wrong=sha256:$(printf other | sha256sum | cut -d' ' -f1)
	expect_error 400 DIGEST_INVALID -X POST --data-binary @"$TEST_DIR/b" \
		"$REG_URL/v2/spec/mono/blobs/uploads/?digest=$wrong"
	expect_status 404 -I "$REG_URL/v2/spec/mono/blobs/$wrong"
	expect_status 404 -I "$REG_URL/v2/spec/mono/blobs/$(sha256_of "$TEST_DIR/b")"
}

@test "a malformed or unsupported digest parameter is 400 DIGEST_INVALID" {
	expect_error 400 DIGEST_INVALID -X POST --data-binary x "$REG_URL/v2/spec/d/blobs/uploads/?digest=sha256:xyz"
	expect_error 400 DIGEST_INVALID -X POST --data-binary x \
		"$REG_URL/v2/spec/d/blobs/uploads/?digest=md5:0123456789abcdef0123456789abcdef"
	expect_error 400 DIGEST_INVALID -X POST "$REG_URL/v2/spec/d/blobs/uploads/?digest-algorithm=md5"
}

@test "POST then PUT: 202 with Location, Range and Docker-Upload-UUID, then 201" {
	blob "$TEST_DIR/b" "post then put"
	d=$(sha256_of "$TEST_DIR/b")
	expect_status 202 -X POST -H 'Content-Length: 0' "$REG_URL/v2/spec/pp/blobs/uploads/"
	loc=$(hdr Location)
	uuid=$(hdr Docker-Upload-UUID)
	[[ "$loc" == "/v2/spec/pp/blobs/uploads/$uuid" ]]
	[[ "$uuid" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]
	assert_equal "$(hdr Range)" "0-0"
	assert_equal "$(hdr Content-Length)" "0"
	expect_status 201 -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$TEST_DIR/b" \
		"$REG_URL$loc?digest=$d"
	assert_equal "$(hdr Location)" "/v2/spec/pp/blobs/$d"
	assert_equal "$(hdr Docker-Content-Digest)" "$d"
	# The session is over.
	expect_error 404 BLOB_UPLOAD_UNKNOWN "$REG_URL$loc"
}

@test "chunked upload: PATCH chunks in order (202, Range 0-end), PUT closes it" {
	head -c 3000 /dev/urandom >"$TEST_DIR/b"
	d=$(sha256_of "$TEST_DIR/b")
	expect_status 202 -X POST "$REG_URL/v2/spec/chunks/blobs/uploads/"
	loc=$(hdr Location)
	for range in 0-999 1000-1999 2000-2999; do
		start=${range%-*} end=${range#*-}
		tail -c +$((start + 1)) "$TEST_DIR/b" | head -c $((end - start + 1)) >"$TEST_DIR/chunk"
		expect_status 202 -X PATCH -H "Content-Range: $range" -H 'Content-Type: application/octet-stream' \
			--data-binary @"$TEST_DIR/chunk" "$REG_URL$loc"
		assert_equal "$(hdr Range)" "0-$end"
		loc=$(hdr Location)
	done
	expect_status 201 -X PUT -H 'Content-Length: 0' "$REG_URL$loc?digest=$d"
	curl -sf "$REG_URL/v2/spec/chunks/blobs/$d" | cmp - "$TEST_DIR/b"
}

@test "an out-of-order PATCH is 416 with Location and Range; GET tells the offset; the upload goes on" {
	head -c 2000 /dev/urandom >"$TEST_DIR/b"
	d=$(sha256_of "$TEST_DIR/b")
	head -c 1000 "$TEST_DIR/b" >"$TEST_DIR/c1"
	tail -c 1000 "$TEST_DIR/b" >"$TEST_DIR/c2"
	expect_status 202 -X POST "$REG_URL/v2/spec/ooo/blobs/uploads/"
	loc=$(hdr Location)
	expect_status 202 -X PATCH -H 'Content-Range: 0-999' --data-binary @"$TEST_DIR/c1" "$REG_URL$loc"
	# Skipping ahead, and going back to 0.
	expect_error 416 BLOB_UPLOAD_INVALID -X PATCH -H 'Content-Range: 1500-2499' --data-binary @"$TEST_DIR/c2" "$REG_URL$loc"
	assert_equal "$(hdr Range)" "0-999"
	assert_equal "$(hdr Location)" "$loc"
	expect_status 416 -X PATCH -H 'Content-Range: 0-999' --data-binary @"$TEST_DIR/c1" "$REG_URL$loc"
	expect_status 204 "$REG_URL$loc"
	assert_equal "$(hdr Range)" "0-999"
	assert_equal "$(hdr Location)" "$loc"
	expect_status 202 -X PATCH -H 'Content-Range: 1000-1999' --data-binary @"$TEST_DIR/c2" "$REG_URL$loc"
	expect_status 201 -X PUT "$REG_URL$loc?digest=$d"
	curl -sf "$REG_URL/v2/spec/ooo/blobs/$d" | cmp - "$TEST_DIR/b"
}

@test "a final chunk sent out of order with PUT is 416" {
	head -c 2000 /dev/urandom >"$TEST_DIR/b"
	d=$(sha256_of "$TEST_DIR/b")
	head -c 1000 "$TEST_DIR/b" >"$TEST_DIR/c1"
	tail -c 1000 "$TEST_DIR/b" >"$TEST_DIR/c2"
	expect_status 202 -X POST "$REG_URL/v2/spec/putooo/blobs/uploads/"
	loc=$(hdr Location)
	expect_status 416 -X PUT -H 'Content-Range: 1000-1999' --data-binary @"$TEST_DIR/c2" "$REG_URL$loc?digest=$d"
	expect_status 202 -X PATCH -H 'Content-Range: 0-999' --data-binary @"$TEST_DIR/c1" "$REG_URL$loc"
	expect_status 201 -X PUT -H 'Content-Range: 1000-1999' --data-binary @"$TEST_DIR/c2" "$REG_URL$loc?digest=$d"
	assert_equal "$(hdr Docker-Content-Digest)" "$d"
}

@test "a streamed PATCH (chunked transfer encoding, no Content-Range) is accepted" {
	head -c 100000 /dev/urandom >"$TEST_DIR/b"
	d=$(sha256_of "$TEST_DIR/b")
	expect_status 202 -X POST "$REG_URL/v2/spec/stream/blobs/uploads/"
	loc=$(hdr Location)
	expect_status 202 -X PATCH -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/octet-stream' \
		--data-binary @"$TEST_DIR/b" "$REG_URL$loc"
	assert_equal "$(hdr Range)" "0-99999"
	expect_status 201 -X PUT "$REG_URL$(hdr Location)?digest=$d"
}

@test "closing an upload with the wrong digest is 400 DIGEST_INVALID and drops the upload" {
	expect_status 202 -X POST "$REG_URL/v2/spec/bad/blobs/uploads/"
	loc=$(hdr Location)
	expect_status 202 -X PATCH --data-binary "some data" "$REG_URL$loc"
	wrong=sha256:$(printf other | sha256sum | cut -d' ' -f1)
	expect_error 400 DIGEST_INVALID -X PUT "$REG_URL$loc?digest=$wrong"
	expect_error 404 BLOB_UPLOAD_UNKNOWN "$REG_URL$loc"
}

@test "closing an upload without a digest is 400 and keeps the upload" {
	expect_status 202 -X POST "$REG_URL/v2/spec/nodigest/blobs/uploads/"
	loc=$(hdr Location)
	expect_error 400 DIGEST_INVALID -X PUT --data-binary x "$REG_URL$loc"
	expect_status 204 "$REG_URL$loc"
}

@test "a Content-Length that disagrees with the Content-Range is 400 SIZE_INVALID" {
	expect_status 202 -X POST "$REG_URL/v2/spec/size/blobs/uploads/"
	loc=$(hdr Location)
	expect_error 400 SIZE_INVALID -X PATCH -H 'Content-Range: 0-9' --data-binary "12345" "$REG_URL$loc"
	expect_status 204 "$REG_URL$loc"
	assert_equal "$(hdr Range)" "0-0"
}

@test "upload status and cancel: GET 204, DELETE 204, then 404 BLOB_UPLOAD_UNKNOWN" {
	expect_status 202 -X POST "$REG_URL/v2/spec/cancel/blobs/uploads/"
	loc=$(hdr Location)
	expect_status 202 -X PATCH --data-binary "abc" "$REG_URL$loc"
	expect_status 204 "$REG_URL$loc"
	assert_equal "$(hdr Range)" "0-2"
	expect_status 204 -X DELETE "$REG_URL$loc"
	expect_error 404 BLOB_UPLOAD_UNKNOWN "$REG_URL$loc"
	expect_error 404 BLOB_UPLOAD_UNKNOWN -X DELETE "$REG_URL$loc"
	expect_error 404 BLOB_UPLOAD_UNKNOWN -X PATCH --data-binary x "$REG_URL$loc"
	# Ids the server could never have made.
	expect_error 404 BLOB_UPLOAD_UNKNOWN "$REG_URL/v2/spec/cancel/blobs/uploads/not-a-uuid"
	expect_error 404 BLOB_UPLOAD_UNKNOWN "$REG_URL/v2/spec/cancel/blobs/uploads/00000000-0000-4000-8000-000000000000"
}

@test "an upload cannot be reached through another repository" {
	expect_status 202 -X POST "$REG_URL/v2/spec/mine/blobs/uploads/"
	uuid=$(hdr Docker-Upload-UUID)
	expect_error 404 BLOB_UPLOAD_UNKNOWN "$REG_URL/v2/spec/theirs/blobs/uploads/$uuid"
	expect_error 404 BLOB_UPLOAD_UNKNOWN -X PATCH --data-binary x "$REG_URL/v2/spec/theirs/blobs/uploads/$uuid"
}

@test "digest-algorithm=sha512 uploads a sha512 blob" {
	blob "$TEST_DIR/b" "sha512 content"
	d=sha512:$(sha512sum "$TEST_DIR/b" | cut -d' ' -f1)
	expect_status 202 -X POST "$REG_URL/v2/spec/s512/blobs/uploads/?digest-algorithm=sha512"
	expect_status 201 -X PUT --data-binary @"$TEST_DIR/b" "$REG_URL$(hdr Location)?digest=$d"
	assert_equal "$(hdr Docker-Content-Digest)" "$d"
	run rcurl "$REG_URL/v2/spec/s512/blobs/$d"
	assert_equal "$output" "sha512 content"
	hex=${d#sha512:}
	[ -f "$REG_ROOT/docker/registry/v2/blobs/sha512/${hex:0:2}/$hex/data" ]
}

@test "cross-repository mount: 201 when the blob is in 'from', 202 (an upload) when not" {
	d=$(push_blob spec/src "$TEST_DIR/img/layer.tar.gz")
	expect_status 404 -I "$REG_URL/v2/spec/dst/blobs/$d"
	expect_status 201 -X POST "$REG_URL/v2/spec/dst/blobs/uploads/?mount=$d&from=spec/src"
	assert_equal "$(hdr Location)" "/v2/spec/dst/blobs/$d"
	assert_equal "$(hdr Docker-Content-Digest)" "$d"
	expect_status 200 -I "$REG_URL/v2/spec/dst/blobs/$d"
	expect_status 202 -X POST "$REG_URL/v2/spec/dst2/blobs/uploads/?mount=$d&from=spec/nowhere"
	[ -n "$(hdr Docker-Upload-UUID)" ]
	missing=sha256:$(printf missing | sha256sum | cut -d' ' -f1)
	expect_status 202 -X POST "$REG_URL/v2/spec/dst2/blobs/uploads/?mount=$missing&from=spec/src"
	expect_error 400 NAME_INVALID -X POST "$REG_URL/v2/spec/dst2/blobs/uploads/?mount=$d&from=../x"
	# Without "from" (no access control configured): any blob of the registry.
	expect_status 201 -X POST "$REG_URL/v2/spec/dst3/blobs/uploads/?mount=$d"
}

@test "GET and HEAD of a blob: 200, the bytes, Docker-Content-Digest, Content-Length" {
	d=$(push_blob spec/pull "$TEST_DIR/img/layer.tar.gz")
	size=$(stat -c %s "$TEST_DIR/img/layer.tar.gz")
	curl -sf "$REG_URL/v2/spec/pull/blobs/$d" | cmp - "$TEST_DIR/img/layer.tar.gz"
	expect_status 200 -I "$REG_URL/v2/spec/pull/blobs/$d"
	assert_equal "$(hdr Docker-Content-Digest)" "$d"
	assert_equal "$(hdr Content-Length)" "$size"
	assert_equal "$(hdr Accept-Ranges)" "bytes"
	# HEAD has no body: curl would wait for one that a wrong Content-Length announced.
	run curl -s -m 5 -X HEAD -o "$TEST_DIR/headbody" -w '%{size_download}' "$REG_URL/v2/spec/pull/blobs/$d"
	assert_equal "$output" 0
}

@test "an unknown blob, or one not linked into the repository, is 404 BLOB_UNKNOWN" {
	d=$(push_blob spec/owner "$TEST_DIR/img/config.json")
	expect_error 404 BLOB_UNKNOWN "$REG_URL/v2/spec/other/blobs/$d"
	missing=sha256:$(printf nothing | sha256sum | cut -d' ' -f1)
	expect_error 404 BLOB_UNKNOWN "$REG_URL/v2/spec/owner/blobs/$missing"
	expect_status 404 -I "$REG_URL/v2/spec/owner/blobs/$missing"
}

@test "Range requests on blobs: 206 with Content-Range, 416 when unsatisfiable" {
	head -c 3000 /dev/urandom >"$TEST_DIR/b"
	d=$(push_blob spec/range "$TEST_DIR/b")
	u=$REG_URL/v2/spec/range/blobs/$d
	expect_status 206 -H 'Range: bytes=500-1499' "$u"
	assert_equal "$(hdr Content-Range)" "bytes 500-1499/3000"
	assert_equal "$(hdr Content-Length)" "1000"
	tail -c +501 "$TEST_DIR/b" | head -c 1000 | cmp - "$TEST_DIR/body"
	expect_status 206 -H 'Range: bytes=500-' "$u"
	assert_equal "$(hdr Content-Range)" "bytes 500-2999/3000"
	expect_status 206 -H 'Range: bytes=-500' "$u"
	assert_equal "$(hdr Content-Range)" "bytes 2500-2999/3000"
	tail -c 500 "$TEST_DIR/b" | cmp - "$TEST_DIR/body"
	expect_status 206 -H 'Range: bytes=2000-5000' "$u"
	assert_equal "$(hdr Content-Length)" "1000"
	expect_status 416 -H 'Range: bytes=500-0' "$u"
	expect_status 416 -H 'Range: bytes=5000-10000' "$u"
	assert_equal "$(hdr Content-Range)" "bytes */3000"
	# Several ranges: served whole, as RFC 9110 allows.
	expect_status 200 -H 'Range: bytes=0-1,5-6' "$u"
	assert_equal "$(hdr Content-Length)" "3000"
}

@test "DELETE of a blob is 202, then 404; unknown blob 404" {
	d=$(push_blob spec/del "$TEST_DIR/img/config.json")
	expect_status 202 -X DELETE "$REG_URL/v2/spec/del/blobs/$d"
	expect_status 404 -I "$REG_URL/v2/spec/del/blobs/$d"
	expect_error 404 BLOB_UNKNOWN -X DELETE "$REG_URL/v2/spec/del/blobs/$d"
}

@test "PUT manifest by tag: 201, Location, Docker-Content-Digest; GET by tag and by digest give the same bytes" {
	push_image spec/app v1 "$TEST_DIR/img"
	assert_equal "$(hdr Location)" "/v2/spec/app/manifests/$MANIFEST_DIGEST"
	assert_equal "$(hdr Docker-Content-Digest)" "$MANIFEST_DIGEST"
	for ref in v1 "$MANIFEST_DIGEST"; do
		expect_status 200 -H "Accept: $OCI_M" "$REG_URL/v2/spec/app/manifests/$ref"
		cmp "$TEST_DIR/body" "$TEST_DIR/img/manifest.json"
		assert_equal "$(hdr Content-Type)" "$OCI_M"
		assert_equal "$(hdr Docker-Content-Digest)" "$MANIFEST_DIGEST"
	done
	expect_status 200 -I "$REG_URL/v2/spec/app/manifests/v1"
	assert_equal "$(hdr Content-Length)" "$(stat -c %s "$TEST_DIR/img/manifest.json")"
	assert_equal "$(hdr Docker-Content-Digest)" "$MANIFEST_DIGEST"
}

@test "PUT manifest by digest: the digest must be the content's" {
	push_blob spec/bd "$TEST_DIR/img/layer.tar.gz" >/dev/null
	push_blob spec/bd "$TEST_DIR/img/config.json" >/dev/null
	expect_status 201 -X PUT -H "Content-Type: $OCI_M" --data-binary @"$TEST_DIR/img/manifest.json" \
		"$REG_URL/v2/spec/bd/manifests/$MANIFEST_DIGEST"
	wrong=sha256:$(printf other | sha256sum | cut -d' ' -f1)
	expect_error 400 DIGEST_INVALID -X PUT -H "Content-Type: $OCI_M" --data-binary @"$TEST_DIR/img/manifest.json" \
		"$REG_URL/v2/spec/bd/manifests/$wrong"
	expect_error 400 DIGEST_INVALID -X PUT -H "Content-Type: $OCI_M" --data-binary @"$TEST_DIR/img/manifest.json" \
		"$REG_URL/v2/spec/bd/manifests/sha256:baddigeststring"
	expect_status 400 "$REG_URL/v2/spec/bd/manifests/sha256:baddigeststring"
}

@test "PUT manifest with ?tag= parameters answers one OCI-Tag per tag" {
	push_blob spec/tags "$TEST_DIR/img/layer.tar.gz" >/dev/null
	push_blob spec/tags "$TEST_DIR/img/config.json" >/dev/null
	expect_status 201 -X PUT -H "Content-Type: $OCI_M" --data-binary @"$TEST_DIR/img/manifest.json" \
		"$REG_URL/v2/spec/tags/manifests/$MANIFEST_DIGEST?tag=1.2.3&tag=1.2&tag=latest"
	run grep -ic '^OCI-Tag:' "$TEST_DIR/h"
	assert_equal "$output" 3
	expect_status 200 "$REG_URL/v2/spec/tags/manifests/1.2"
	expect_error 400 TAG_INVALID -X PUT -H "Content-Type: $OCI_M" --data-binary @"$TEST_DIR/img/manifest.json" \
		"$REG_URL/v2/spec/tags/manifests/$MANIFEST_DIGEST?tag=.bad"
}

@test "a manifest referencing unknown blobs is 400 MANIFEST_BLOB_UNKNOWN, one error per blob" {
	expect_status 400 -X PUT -H "Content-Type: $OCI_M" --data-binary @"$TEST_DIR/img/manifest.json" \
		"$REG_URL/v2/spec/missing/manifests/v1"
	assert_equal "$(jq -r '[.errors[].code] | unique | join(",")' "$TEST_DIR/body")" MANIFEST_BLOB_UNKNOWN
	assert_equal "$(jq '.errors | length' "$TEST_DIR/body")" 2
	jq -r '.errors[].detail' "$TEST_DIR/body" | grep -qx "$LAYER_DIGEST"
	push_blob spec/missing "$TEST_DIR/img/config.json" >/dev/null
	expect_status 400 -X PUT -H "Content-Type: $OCI_M" --data-binary @"$TEST_DIR/img/manifest.json" \
		"$REG_URL/v2/spec/missing/manifests/v1"
	assert_equal "$(jq '.errors | length' "$TEST_DIR/body")" 1
	# Nothing was stored: the repository has blobs but still no manifest.
	expect_error 404 NAME_UNKNOWN "$REG_URL/v2/spec/missing/manifests/$MANIFEST_DIGEST"
}

@test "an index whose manifests are unknown is 400 MANIFEST_BLOB_UNKNOWN until they are pushed" {
	size=$(stat -c %s "$TEST_DIR/img/manifest.json")
	printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%d,"platform":{"os":"linux","architecture":"amd64"}}]}' \
		"$OCI_I" "$OCI_M" "$MANIFEST_DIGEST" "$size" >"$TEST_DIR/index.json"
	expect_error 400 MANIFEST_BLOB_UNKNOWN -X PUT -H "Content-Type: $OCI_I" --data-binary @"$TEST_DIR/index.json" \
		"$REG_URL/v2/spec/multi/manifests/latest"
	push_blob spec/multi "$TEST_DIR/img/layer.tar.gz" >/dev/null
	push_blob spec/multi "$TEST_DIR/img/config.json" >/dev/null
	push_manifest spec/multi "$MANIFEST_DIGEST" "$TEST_DIR/img/manifest.json" >/dev/null
	expect_status 201 -X PUT -H "Content-Type: $OCI_I" --data-binary @"$TEST_DIR/index.json" \
		"$REG_URL/v2/spec/multi/manifests/latest"
}

@test "invalid manifests are 400 MANIFEST_INVALID: bad JSON, schema 1, unknown type, mediaType vs Content-Type" {
	push_blob spec/inv "$TEST_DIR/img/layer.tar.gz" >/dev/null
	push_blob spec/inv "$TEST_DIR/img/config.json" >/dev/null
	expect_error 400 MANIFEST_INVALID -X PUT -H "Content-Type: $OCI_M" --data-binary '{not json' \
		"$REG_URL/v2/spec/inv/manifests/v1"
	expect_error 400 MANIFEST_INVALID -X PUT -H "Content-Type: $OCI_M" --data-binary '{"schemaVersion":1}' \
		"$REG_URL/v2/spec/inv/manifests/v1"
	expect_error 400 MANIFEST_INVALID -X PUT -H "Content-Type: text/plain" --data-binary @"$TEST_DIR/img/manifest.json" \
		"$REG_URL/v2/spec/inv/manifests/v1"
	# The document says OCI, the header says Docker.
	expect_error 400 MANIFEST_INVALID -X PUT -H "Content-Type: $DOCKER_M" --data-binary @"$TEST_DIR/img/manifest.json" \
		"$REG_URL/v2/spec/inv/manifests/v1"
	# Content-Type parameters are ignored.
	expect_status 201 -X PUT -H "Content-Type: $OCI_M; charset=utf-8" --data-binary @"$TEST_DIR/img/manifest.json" \
		"$REG_URL/v2/spec/inv/manifests/v1"
}

@test "a manifest over 4 MiB is 413, announced or streamed" {
	{
		printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"x","digest":"%s","size":1},"layers":[],"annotations":{"pad":"' "$OCI_M" "$CONFIG_DIGEST"
		head -c $((4 * 1024 * 1024)) /dev/zero | tr '\0' a
		printf '"}}'
	} >"$TEST_DIR/big.json"
	expect_status 413 -X PUT -H "Content-Type: $OCI_M" --data-binary @"$TEST_DIR/big.json" "$REG_URL/v2/spec/big/manifests/v1"
	expect_status 413 -X PUT -H "Content-Type: $OCI_M" -H 'Transfer-Encoding: chunked' \
		--data-binary @"$TEST_DIR/big.json" "$REG_URL/v2/spec/big/manifests/v1"
	# The server is fine afterwards.
	expect_status 200 "$REG_URL/v2/"
}

@test "Accept negotiation: served as pushed; not accepted is 404; an index falls back to the platform's image" {
	# A Docker schema 2 manifest of the same blobs.
	jq -c --arg mt "$DOCKER_M" '.mediaType=$mt | .config.mediaType="application/vnd.docker.container.image.v1+json" | .layers[0].mediaType="application/vnd.docker.image.rootfs.diff.tar.gzip"' \
		"$TEST_DIR/img/manifest.json" | tr -d '\n' >"$TEST_DIR/docker.json"
	push_blob spec/neg "$TEST_DIR/img/layer.tar.gz" >/dev/null
	push_blob spec/neg "$TEST_DIR/img/config.json" >/dev/null
	push_manifest spec/neg docker "$TEST_DIR/docker.json" "$DOCKER_M" >/dev/null
	push_manifest spec/neg oci "$TEST_DIR/img/manifest.json" >/dev/null
	expect_status 200 -H "Accept: $DOCKER_M" -H "Accept: $DOCKER_L" "$REG_URL/v2/spec/neg/manifests/docker"
	assert_equal "$(hdr Content-Type)" "$DOCKER_M"
	expect_status 200 -H "Accept: $DOCKER_M, $OCI_M;q=0.9" "$REG_URL/v2/spec/neg/manifests/oci"
	assert_equal "$(hdr Content-Type)" "$OCI_M"
	expect_error 404 MANIFEST_UNKNOWN -H "Accept: $DOCKER_M" "$REG_URL/v2/spec/neg/manifests/oci"
	expect_status 200 "$REG_URL/v2/spec/neg/manifests/oci"   # no Accept: anything
	expect_status 200 -H 'Accept: */*' "$REG_URL/v2/spec/neg/manifests/oci"

	size=$(stat -c %s "$TEST_DIR/img/manifest.json")
	printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%d,"platform":{"os":"linux","architecture":"amd64"}}]}' \
		"$OCI_I" "$OCI_M" "$MANIFEST_DIGEST" "$size" >"$TEST_DIR/index.json"
	push_manifest spec/neg multi "$TEST_DIR/index.json" "$OCI_I" >/dev/null
	expect_status 200 -H "Accept: $OCI_I" "$REG_URL/v2/spec/neg/manifests/multi"
	assert_equal "$(hdr Content-Type)" "$OCI_I"
	if [ "$(uname -m)" = x86_64 ]; then
		expect_status 200 -H "Accept: $OCI_M" "$REG_URL/v2/spec/neg/manifests/multi"
		assert_equal "$(hdr Content-Type)" "$OCI_M"
		assert_equal "$(hdr Docker-Content-Digest)" "$MANIFEST_DIGEST"
	fi
}

@test "unknown manifests are 404: MANIFEST_UNKNOWN in a repository, NAME_UNKNOWN without one" {
	push_image spec/known v1 "$TEST_DIR/img"
	expect_error 404 MANIFEST_UNKNOWN "$REG_URL/v2/spec/known/manifests/nope"
	missing=sha256:$(printf nothing | sha256sum | cut -d' ' -f1)
	expect_error 404 MANIFEST_UNKNOWN "$REG_URL/v2/spec/known/manifests/$missing"
	expect_error 404 NAME_UNKNOWN "$REG_URL/v2/spec/unknown/manifests/v1"
	expect_status 404 -I "$REG_URL/v2/spec/unknown/manifests/v1"
}

@test "an invalid tag is 400 TAG_INVALID" {
	expect_error 400 TAG_INVALID "$REG_URL/v2/spec/t/manifests/.hidden"
	expect_error 400 TAG_INVALID "$REG_URL/v2/spec/t/manifests/$(printf 'a%.0s' $(seq 1 129))"
}

@test "If-None-Match with the manifest's ETag is 304" {
	push_image spec/etag v1 "$TEST_DIR/img"
	expect_status 200 "$REG_URL/v2/spec/etag/manifests/v1"
	etag=$(hdr ETag)
	assert_equal "$etag" "\"$MANIFEST_DIGEST\""
	expect_status 304 -H "If-None-Match: $etag" "$REG_URL/v2/spec/etag/manifests/v1"
}

@test "DELETE a manifest by digest: 202, then 404 by digest and by every tag" {
	push_image spec/rm v1 "$TEST_DIR/img"
	push_manifest spec/rm v2 "$TEST_DIR/img/manifest.json" >/dev/null
	# Served once before (the server keeps small manifests by digest): still asked of the
	# store for each repository and after the delete.
	curl -sf "$REG_URL/v2/spec/rm/manifests/v1" | cmp - "$TEST_DIR/img/manifest.json"
	curl -sf "$REG_URL/v2/spec/rm/manifests/$MANIFEST_DIGEST" | cmp - "$TEST_DIR/img/manifest.json"
	expect_error 404 NAME_UNKNOWN "$REG_URL/v2/spec/rmother/manifests/$MANIFEST_DIGEST"
	d=$MANIFEST_DIGEST
	make_image "$TEST_DIR/img2" "another image"
	push_image spec/rmother v1 "$TEST_DIR/img2"
	MANIFEST_DIGEST=$d
	expect_error 404 MANIFEST_UNKNOWN "$REG_URL/v2/spec/rmother/manifests/$MANIFEST_DIGEST"
	expect_status 202 -X DELETE "$REG_URL/v2/spec/rm/manifests/$MANIFEST_DIGEST"
	expect_status 404 "$REG_URL/v2/spec/rm/manifests/$MANIFEST_DIGEST"
	expect_status 404 "$REG_URL/v2/spec/rm/manifests/v1"
	expect_status 404 "$REG_URL/v2/spec/rm/manifests/v2"
	expect_error 404 MANIFEST_UNKNOWN -X DELETE "$REG_URL/v2/spec/rm/manifests/$MANIFEST_DIGEST"
}

@test "DELETE a tag: 202, the tag is gone, the manifest stays" {
	push_image spec/rmtag v1 "$TEST_DIR/img"
	expect_status 202 -X DELETE "$REG_URL/v2/spec/rmtag/manifests/v1"
	expect_status 404 "$REG_URL/v2/spec/rmtag/manifests/v1"
	expect_status 200 "$REG_URL/v2/spec/rmtag/manifests/$MANIFEST_DIGEST"
	expect_error 404 MANIFEST_UNKNOWN -X DELETE "$REG_URL/v2/spec/rmtag/manifests/v1"
}

@test "a manifest with a subject gets OCI-Subject; referrers list it with artifactType and annotations" {
	push_image spec/ref v1 "$TEST_DIR/img"
	subject=$MANIFEST_DIGEST
	size=$(stat -c %s "$TEST_DIR/img/manifest.json")
	empty=$TEST_DIR/empty.json
	printf '{}' >"$empty"
	ed=$(push_blob spec/ref "$empty")
	for kind in sbom sig; do
		printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.%s","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2}],"subject":{"mediaType":"%s","digest":"%s","size":%d},"annotations":{"org.example.kind":"%s"}}' \
			"$OCI_M" "$kind" "$ed" "$ed" "$OCI_M" "$subject" "$size" "$kind" >"$TEST_DIR/$kind.json"
		expect_status 201 -X PUT -H "Content-Type: $OCI_M" --data-binary @"$TEST_DIR/$kind.json" \
			"$REG_URL/v2/spec/ref/manifests/$(sha256_of "$TEST_DIR/$kind.json")"
		assert_equal "$(hdr OCI-Subject)" "$subject"
	done
	expect_status 200 "$REG_URL/v2/spec/ref/referrers/$subject"
	assert_equal "$(hdr Content-Type)" "$OCI_I"
	assert_equal "$(jq -r .mediaType "$TEST_DIR/body")" "$OCI_I"
	assert_equal "$(jq -r .schemaVersion "$TEST_DIR/body")" 2
	assert_equal "$(jq '.manifests | length' "$TEST_DIR/body")" 2
	assert_equal "$(jq -r '.manifests[] | select(.artifactType=="application/vnd.example.sbom") | .annotations["org.example.kind"]' "$TEST_DIR/body")" sbom
	assert_equal "$(jq -r '.manifests[] | select(.artifactType=="application/vnd.example.sbom") | .digest' "$TEST_DIR/body")" "$(sha256_of "$TEST_DIR/sbom.json")"
	assert_equal "$(jq -r '.manifests[0].size' "$TEST_DIR/body")" "$(stat -c %s "$TEST_DIR/sbom.json")"
	[ -z "$(hdr OCI-Filters-Applied)" ]
	expect_status 200 "$REG_URL/v2/spec/ref/referrers/$subject?artifactType=application/vnd.example.sig"
	assert_equal "$(hdr OCI-Filters-Applied)" "artifactType"
	assert_equal "$(jq '.manifests | length' "$TEST_DIR/body")" 1
	assert_equal "$(jq -r '.manifests[0].artifactType' "$TEST_DIR/body")" application/vnd.example.sig
}

@test "referrers: none is an empty index (200), also in an unknown repository; a bad digest is 400" {
	other=sha256:$(printf unrelated | sha256sum | cut -d' ' -f1)
	expect_status 200 "$REG_URL/v2/spec/noref/referrers/$other"
	assert_equal "$(jq '.manifests | length' "$TEST_DIR/body")" 0
	assert_equal "$(hdr Content-Type)" "$OCI_I"
	expect_error 400 DIGEST_INVALID "$REG_URL/v2/spec/noref/referrers/sha256:nothex"
}

@test "tags/list: sorted, n and last paginate with a Link header, n=0 is empty" {
	for t in b a C 1.0 latest; do
		push_image spec/list "$t" "$TEST_DIR/img"
	done
	expect_status 200 "$REG_URL/v2/spec/list/tags/list"
	assert_equal "$(jq -r .name "$TEST_DIR/body")" spec/list
	assert_equal "$(jq -r '.tags | join(",")' "$TEST_DIR/body")" "1.0,C,a,b,latest"
	[ -z "$(hdr Link)" ]
	expect_status 200 "$REG_URL/v2/spec/list/tags/list?n=2"
	assert_equal "$(jq -r '.tags | join(",")' "$TEST_DIR/body")" "1.0,C"
	assert_equal "$(hdr Link)" '</v2/spec/list/tags/list?last=C&n=2>; rel="next"'
	next=$(hdr Link | sed 's/^<\([^>]*\)>.*/\1/')
	expect_status 200 "$REG_URL$next"
	assert_equal "$(jq -r '.tags | join(",")' "$TEST_DIR/body")" "a,b"
	expect_status 200 "$REG_URL/v2/spec/list/tags/list?n=2&last=b"
	assert_equal "$(jq -r '.tags | join(",")' "$TEST_DIR/body")" "latest"
	[ -z "$(hdr Link)" ]
	expect_status 200 "$REG_URL/v2/spec/list/tags/list?last=a"
	assert_equal "$(jq -r '.tags | join(",")' "$TEST_DIR/body")" "b,latest"
	expect_status 200 "$REG_URL/v2/spec/list/tags/list?n=0"
	assert_equal "$(jq '.tags | length' "$TEST_DIR/body")" 0
	[ -z "$(hdr Link)" ]
	expect_status 400 "$REG_URL/v2/spec/list/tags/list?n=-1"
	expect_status 400 "$REG_URL/v2/spec/list/tags/list?n=x"
}

@test "tags/list of an unknown repository is 404 NAME_UNKNOWN" {
	expect_error 404 NAME_UNKNOWN "$REG_URL/v2/spec/nothing/tags/list"
}

@test "_catalog: repositories in distribution's order, paginated with Link" {
	for r in b a/b a-b a c; do
		push_image "$r" v1 "$TEST_DIR/img"
	done
	expect_status 200 "$REG_URL/v2/_catalog"
	assert_equal "$(jq -r '.repositories | join(",")' "$TEST_DIR/body")" "a,a/b,a-b,b,c"
	expect_status 200 "$REG_URL/v2/_catalog?n=2"
	assert_equal "$(jq -r '.repositories | join(",")' "$TEST_DIR/body")" "a,a/b"
	assert_equal "$(hdr Link)" '</v2/_catalog?last=a/b&n=2>; rel="next"'
	expect_status 200 "$REG_URL/v2/_catalog?n=2&last=a/b"
	assert_equal "$(jq -r '.repositories | join(",")' "$TEST_DIR/body")" "a-b,b"
	expect_status 200 "$REG_URL/v2/_catalog?n=2&last=b"
	assert_equal "$(jq -r '.repositories | join(",")' "$TEST_DIR/body")" "c"
	[ -z "$(hdr Link)" ]
	expect_status 400 "$REG_URL/v2/_catalog?n=99999999"
}

@test "invalid repository names are 400 NAME_INVALID" {
	expect_error 400 NAME_INVALID "$REG_URL/v2/UPPER/tags/list"
	expect_error 400 NAME_INVALID "$REG_URL/v2/a..b/tags/list"
	expect_error 400 NAME_INVALID "$REG_URL/v2/-a/manifests/latest"
	expect_error 400 NAME_INVALID -X POST "$REG_URL/v2/a_/blobs/uploads/"
	long=$(printf 'a%.0s' $(seq 1 256))
	expect_error 400 NAME_INVALID "$REG_URL/v2/$long/tags/list"
	expect_status 200 "$REG_URL/v2/"
}

@test "path traversal attempts never reach outside the root" {
	push_image spec/safe v1 "$TEST_DIR/img"
	touch "$TEST_DIR/outside-marker"
	before=$(find "$TEST_DIR" -path "$REG_ROOT" -prune -o -print | sort)
	for p in \
		'/v2/../../../etc/passwd/manifests/latest' \
		'/v2/%2e%2e/%2e%2e/etc/manifests/latest' \
		'/v2/spec/safe/manifests/..%2f..%2f..%2fx' \
		'/v2/spec/safe/blobs/..%2f..%2fdata' \
		'/v2/spec/safe/blobs/uploads/..%2f..%2f..%2f_manifests' \
		'/v2/spec%2f..%2f..%2fsafe/tags/list' \
		'/v2/spec/safe/_manifests/tags/list' \
		'/v2/spec/safe/manifests/v1%00.json' \
		'/v2/spec/safe/referrers/..%2f..' ; do
		code=$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$REG_URL$p")
		case $code in
		400 | 404) ;;
		*) die "$p: status $code" ;;
		esac
		code=$(curl -s --path-as-is -o /dev/null -w '%{http_code}' -X PUT --data-binary '{}' "$REG_URL$p")
		case $code in
		400 | 404 | 405) ;;
		*) die "PUT $p: status $code" ;;
		esac
	done
	code=$(curl -s --path-as-is -o /dev/null -w '%{http_code}' -X POST "$REG_URL/v2/../x/blobs/uploads/")
	[[ $code == 400 || $code == 404 ]]
	after=$(find "$TEST_DIR" -path "$REG_ROOT" -prune -o -print | grep -v '/registry.log$\|/h$\|/body$\|/code$' | sort)
	before=$(echo "$before" | grep -v '/registry.log$\|/h$\|/body$\|/code$')
	assert_equal "$after" "$before"
	expect_status 200 "$REG_URL/v2/spec/safe/manifests/v1"
}
