#!/usr/bin/env bats
# `berth registry`: serve (flags, config, access log, graceful stop, read-only, delete,
# Basic and token authentication, access rules, TLS) and the root helpers gc, ls, tags, rm.

load helpers.registry

@test "registry --help lists the subcommands; unknown ones are refused" {
	run_berth registry --help
	for c in serve gc ls tags rm; do
		assert_contains "$output" "  $c "
	done
	run_berth registry serve --help
	assert_contains "$output" "--htpasswd"
	assert_contains "$output" "--token-issuer"
	run_berth 125 registry fly
	assert_contains "$output" "'registry fly' is not a berth command"
	run_berth 125 registry serve --no-such-flag
	run_berth 1 registry serve extra-arg
}

@test "serve logs where it listens and one access line per request" {
	start_registry
	assert_contains "$(head -1 "$TEST_DIR/registry.log")" "listening on 127.0.0.1:0 (port $REG_PORT), root $REG_ROOT"
	curl -sf "$REG_URL/v2/" >/dev/null
	curl -s "$REG_URL/v2/a/manifests/nope" >/dev/null
	stop_registry
	grep -E '^[0-9T:-]+Z 127\.0\.0\.1 - "GET /v2/" 200 2 [0-9.]+ms$' "$TEST_DIR/registry.log"
	grep -E '"GET /v2/a/manifests/nope" 404 [0-9]+ [0-9.]+ms$' "$TEST_DIR/registry.log"
	# (The last access line may come after "terminated": it is written once the answer is
	# out, and the client may have it already.)
	grep -q "^berth registry: terminated, finishing requests in flight$" "$TEST_DIR/registry.log"
	assert_equal "$(tail -1 "$TEST_DIR/registry.log")" "berth registry: stopped"
	[ -d "$REG_ROOT/docker/registry/v2/repositories" ]
}

@test "serve --quiet writes no access log; SIGINT stops it too" {
	start_registry --quiet
	curl -sf "$REG_URL/v2/" >/dev/null
	stop_registry INT
	run grep -c '"GET /v2/"' "$TEST_DIR/registry.log"
	assert_equal "$output" 0
	assert_contains "$(cat "$TEST_DIR/registry.log")" "interrupted"
}

@test "SIGTERM lets an upload in flight finish, and refuses new connections" {
	start_registry
	head -c 600000 /dev/urandom >"$TEST_DIR/big"
	d=$(sha256_of "$TEST_DIR/big")
	curl -s -o /dev/null -w '%{http_code}' --limit-rate 200k -X POST --data-binary @"$TEST_DIR/big" \
		"$REG_URL/v2/slow/blobs/uploads/?digest=$d" >"$TEST_DIR/slow.code" &
	curl_pid=$!
	sleep 1
	kill -TERM "$REG_PID"
	sleep 0.3
	run curl -s -m 2 -o /dev/null -w '%{http_code}' "$REG_URL/v2/"
	assert_equal "$output" "000"
	wait "$curl_pid"
	assert_equal "$(cat "$TEST_DIR/slow.code")" 201
	rc=0
	wait "$REG_PID" || rc=$?
	REG_PID=
	assert_equal "$rc" 0
	hex=${d#sha256:}
	cmp "$REG_ROOT/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data" "$TEST_DIR/big"
}

@test "big bodies go to the disk past the page cache (O_DIRECT), in odd-sized chunks too, and come back intact" {
	start_registry -q
	mib=1048576
	head -c $((5 * mib + 4097)) /dev/urandom >"$TEST_DIR/c1"
	head -c $((6 * mib + 333)) /dev/urandom >"$TEST_DIR/c2"
	cat "$TEST_DIR/c1" "$TEST_DIR/c2" >"$TEST_DIR/b"
	d=$(sha256_of "$TEST_DIR/b")
	n1=$(stat -c %s "$TEST_DIR/c1")
	n=$(stat -c %s "$TEST_DIR/b")
	expect_status 202 -X POST "$REG_URL/v2/big/chunks/blobs/uploads/"
	loc=$(hdr Location)
	expect_status 202 -X PATCH -H "Content-Range: 0-$((n1 - 1))" --data-binary @"$TEST_DIR/c1" "$REG_URL$loc"
	loc=$(hdr Location)
	# The second chunk starts at an offset that is not a multiple of 4096.
	expect_status 202 -X PATCH -H "Content-Range: $n1-$((n - 1))" --data-binary @"$TEST_DIR/c2" "$REG_URL$loc"
	assert_equal "$(hdr Range)" "0-$((n - 1))"
	loc=$(hdr Location)
	expect_status 201 -X PUT -H 'Content-Length: 0' "$REG_URL$loc?digest=$d"
	hex=${d#sha256:}
	data=$REG_ROOT/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
	# Only each chunk's unaligned head and its last, partial MiB went through the page
	# cache: well under 3 MiB of the 11 cached (all of it, written the usual way).
	cached=$(fincore -nb -o RES "$data")
	[ "$cached" -lt $((3 * mib)) ] || die "$cached bytes of the blob are in the page cache"
	curl -sf "$REG_URL/v2/big/chunks/blobs/$d" | cmp - "$TEST_DIR/b"

	# A monolithic push of the same size: the same.
	head -c $((9 * mib + 1)) /dev/urandom >"$TEST_DIR/m"
	d=$(push_blob big/mono "$TEST_DIR/m")
	hex=${d#sha256:}
	data=$REG_ROOT/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
	cached=$(fincore -nb -o RES "$data")
	[ "$cached" -lt $((2 * mib)) ] || die "$cached bytes of the blob are in the page cache"
	curl -sf "$REG_URL/v2/big/mono/blobs/$d" | cmp - "$TEST_DIR/m"
}

@test "the default root is <berth root>/registry; the config's registry object is read" {
	cat >"$BERTH_CONFIG" <<EOF
{"registry": {"addr": "127.0.0.1:0", "delete": true, "realm": "cfg-realm"}}
EOF
	REG_ROOT=$BERTH_ROOT/registry
	"$BERTH" registry serve 2>"$TEST_DIR/registry.log" &
	REG_PID=$!
	for _ in $(seq 1 100); do
		grep -q 'port [0-9]' "$TEST_DIR/registry.log" && break
		sleep 0.05
	done
	REG_PORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$TEST_DIR/registry.log")
	REG_URL=http://127.0.0.1:$REG_PORT
	assert_contains "$(cat "$TEST_DIR/registry.log")" "root $BERTH_ROOT/registry"
	make_image "$TEST_DIR/img"
	push_image cfg/app v1 "$TEST_DIR/img"
	# "delete": true came from the config.
	expect_status 202 -X DELETE "$REG_URL/v2/cfg/app/manifests/v1"
	[ -d "$BERTH_ROOT/registry/docker/registry/v2/repositories/cfg/app/_manifests" ]
	stop_registry
}

@test "serve --config FILE: its settings, overridden by flags; bad files are refused" {
	mkdir -p "$TEST_DIR/alt"
	cat >"$TEST_DIR/serve.json" <<EOF
{"root": "$TEST_DIR/alt", "read-only": true}
EOF
	REG_ROOT=$TEST_DIR/ignored
	# start_registry passes --root, which wins over the file's root.
	start_registry --config "$TEST_DIR/serve.json"
	expect_error 405 UNSUPPORTED -X POST "$REG_URL/v2/x/blobs/uploads/"
	[ -d "$TEST_DIR/ignored/docker/registry/v2" ]
	stop_registry
	start_registry --config "$TEST_DIR/serve.json" --read-only=false
	expect_status 202 -X POST "$REG_URL/v2/x/blobs/uploads/"
	stop_registry

	echo '{"root": "/x", "colour": "blue"}' >"$TEST_DIR/bad.json"
	run_berth 125 registry serve --config "$TEST_DIR/bad.json"
	assert_contains "$output" "unknown key 'colour'"
	echo '{"read-only": "yes"}' >"$TEST_DIR/bad.json"
	run_berth 125 registry serve --config "$TEST_DIR/bad.json"
	assert_contains "$output" "'read-only' must be true or false"
	echo '{"root": ' >"$TEST_DIR/bad.json"
	run_berth 125 registry serve --config "$TEST_DIR/bad.json"
	assert_contains "$output" "bad.json': line "
	run_berth 125 registry serve --root "$REG_ROOT" --addr 127.0.0.1
	assert_contains "$output" "HOST:PORT"
	run_berth 125 registry serve --root "$REG_ROOT" --addr 127.0.0.1:99999
	run_berth 125 registry serve --root "$REG_ROOT" --token-alg RS256 --token-issuer x
}

@test "serve --addr [::1]:0 listens on the IPv6 loopback only" {
	"$BERTH" registry serve --addr '[::1]:0' --root "$REG_ROOT" 2>"$TEST_DIR/registry.log" &
	REG_PID=$!
	for _ in $(seq 1 100); do
		grep -q 'port [0-9]' "$TEST_DIR/registry.log" && break
		sleep 0.05
	done
	port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$TEST_DIR/registry.log")
	[ -n "$port" ]
	run curl -s -g "http://[::1]:$port/v2/"
	assert_equal "$output" "{}"
	run curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/"
	assert_equal "$output" "000"
	grep -q '^[0-9T:-]*Z ::1 - "GET /v2/" 200' "$TEST_DIR/registry.log"
	stop_registry
}

@test "a port in use is an error" {
	start_registry
	run_berth 125 registry serve --root "$TEST_DIR/second" --addr "127.0.0.1:$REG_PORT"
	assert_contains "$output" "cannot listen on"
}

@test "--read-only serves pulls and refuses every write with 405 UNSUPPORTED" {
	start_registry --delete
	make_image "$TEST_DIR/img"
	push_image ro/app v1 "$TEST_DIR/img"
	stop_registry
	start_registry --read-only --delete
	expect_status 200 "$REG_URL/v2/ro/app/manifests/v1"
	expect_status 200 "$REG_URL/v2/ro/app/blobs/$LAYER_DIGEST"
	expect_error 405 UNSUPPORTED -X POST "$REG_URL/v2/ro/app/blobs/uploads/"
	expect_error 405 UNSUPPORTED -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		--data-binary @"$TEST_DIR/img/manifest.json" "$REG_URL/v2/ro/app/manifests/v2"
	expect_error 405 UNSUPPORTED -X DELETE "$REG_URL/v2/ro/app/manifests/v1"
	expect_error 405 UNSUPPORTED -X DELETE "$REG_URL/v2/ro/app/blobs/$LAYER_DIGEST"
}

@test "without --delete, DELETE of manifests, tags and blobs is 405 UNSUPPORTED" {
	start_registry
	make_image "$TEST_DIR/img"
	push_image nodel/app v1 "$TEST_DIR/img"
	expect_error 405 UNSUPPORTED -X DELETE "$REG_URL/v2/nodel/app/manifests/v1"
	expect_error 405 UNSUPPORTED -X DELETE "$REG_URL/v2/nodel/app/manifests/$MANIFEST_DIGEST"
	expect_error 405 UNSUPPORTED -X DELETE "$REG_URL/v2/nodel/app/blobs/$LAYER_DIGEST"
	expect_status 200 "$REG_URL/v2/nodel/app/manifests/v1"
}

make_htpasswd() {
	htpasswd -B -b -c "$TEST_DIR/htpasswd" alice wonderland 2>/dev/null
	htpasswd -B -b "$TEST_DIR/htpasswd" bob builder 2>/dev/null
}

@test "Basic auth with an htpasswd file: 401 with a challenge, then the right password works" {
	make_htpasswd
	start_registry --htpasswd "$TEST_DIR/htpasswd" --realm test-realm
	expect_error 401 UNAUTHORIZED "$REG_URL/v2/"
	assert_equal "$(hdr WWW-Authenticate)" 'Basic realm="test-realm"'
	expect_status 401 -u alice:wrong "$REG_URL/v2/"
	expect_status 401 -u mallory:wonderland "$REG_URL/v2/"
	expect_status 200 -u alice:wonderland "$REG_URL/v2/"
	make_image "$TEST_DIR/img"
	expect_status 401 -X POST "$REG_URL/v2/auth/app/blobs/uploads/"
	d=$(sha256_of "$TEST_DIR/img/config.json")
	expect_status 201 -u bob:builder -X POST --data-binary @"$TEST_DIR/img/config.json" \
		"$REG_URL/v2/auth/app/blobs/uploads/?digest=$d"
	expect_status 200 -u alice:wonderland "$REG_URL/v2/auth/app/blobs/$d"
	expect_status 200 -u alice:wonderland "$REG_URL/v2/_catalog"
	grep -q ' alice "GET /v2/auth/app/blobs/' "$TEST_DIR/registry.log"
}

@test "access rules: per repository and user, anonymous pulls, 403 DENIED for the rest" {
	make_htpasswd
	cat >"$TEST_DIR/serve.json" <<'EOF'
{"access": [
  {"repository": "public/*", "users": ["anonymous", "*"], "actions": ["pull"]},
  {"repository": "*", "users": ["alice"], "actions": ["pull", "push", "delete", "catalog"]},
  {"repository": "bob/*", "users": ["bob"], "actions": ["pull", "push"]}
]}
EOF
	start_registry --htpasswd "$TEST_DIR/htpasswd" --config "$TEST_DIR/serve.json"
	make_image "$TEST_DIR/img"
	d=$(sha256_of "$TEST_DIR/img/config.json")
	expect_status 201 -u alice:wonderland -X POST --data-binary @"$TEST_DIR/img/config.json" \
		"$REG_URL/v2/public/base/blobs/uploads/?digest=$d"
	# Anonymous: public pulls only.
	expect_status 200 "$REG_URL/v2/public/base/blobs/$d"
	expect_error 401 UNAUTHORIZED -X POST "$REG_URL/v2/public/base/blobs/uploads/"
	expect_error 401 UNAUTHORIZED "$REG_URL/v2/_catalog"
	# bob: pull public, push his own, nothing else.
	expect_status 200 -u bob:builder "$REG_URL/v2/public/base/blobs/$d"
	expect_error 403 DENIED -u bob:builder -X POST "$REG_URL/v2/public/base/blobs/uploads/"
	expect_status 202 -u bob:builder -X POST "$REG_URL/v2/bob/app/blobs/uploads/"
	expect_error 403 DENIED -u bob:builder "$REG_URL/v2/alice/app/tags/list"
	expect_error 403 DENIED -u bob:builder "$REG_URL/v2/_catalog"
	# A mount needs pull on the source: bob gets a plain upload instead.
	expect_status 202 -u bob:builder -X POST "$REG_URL/v2/bob/app/blobs/uploads/?mount=$d&from=alice/private"
	expect_status 200 -u alice:wonderland "$REG_URL/v2/_catalog"
}

# token URL SCOPE...: fetch a token from the registry's issuer; prints it.
get_token() {
	local creds=$1 args=()
	shift
	for s in "$@"; do
		args+=(--data-urlencode "scope=$s")
	done
	curl -sf -G ${creds:+-u "$creds"} "$REG_URL/token" --data-urlencode service=berth-registry \
		"${args[@]}" | jq -r .token
}

@test "token auth: Bearer challenge, /token issues scoped tokens, the API takes them" {
	make_htpasswd
	start_registry --htpasswd "$TEST_DIR/htpasswd" --token-issuer berth-test
	expect_error 401 UNAUTHORIZED "$REG_URL/v2/"
	assert_equal "$(hdr WWW-Authenticate)" "Bearer realm=\"http://$REG_HOST/token\",service=\"berth-registry\""
	expect_status 401 "$REG_URL/v2/tok/app/tags/list"
	assert_contains "$(hdr WWW-Authenticate)" 'scope="repository:tok/app:pull"'
	# Basic credentials are not accepted by the API in token mode.
	expect_status 401 -u alice:wonderland "$REG_URL/v2/"

	expect_status 200 -u alice:wonderland "$REG_URL/token?service=berth-registry&scope=repository:tok/app:pull,push"
	jq -e '.token and .access_token and .expires_in == 300 and .issued_at' "$TEST_DIR/body"
	tok=$(jq -r .token "$TEST_DIR/body")
	[ "$(jq -r .access_token "$TEST_DIR/body")" = "$tok" ]
	expect_status 200 -H "Authorization: Bearer $tok" "$REG_URL/v2/"
	expect_status 202 -H "Authorization: Bearer $tok" -X POST "$REG_URL/v2/tok/app/blobs/uploads/"
	# Another repository is not in the token: insufficient_scope.
	expect_status 401 -H "Authorization: Bearer $tok" -X POST "$REG_URL/v2/tok/other/blobs/uploads/"
	assert_contains "$(hdr WWW-Authenticate)" 'error="insufficient_scope"'
	assert_contains "$(hdr WWW-Authenticate)" 'scope="repository:tok/other:pull,push"'
	# A pull-only token cannot push.
	pull=$(get_token alice:wonderland repository:tok/app:pull)
	expect_status 401 -H "Authorization: Bearer $pull" -X POST "$REG_URL/v2/tok/app/blobs/uploads/"
	# Bad credentials at the issuer; anonymous tokens grant nothing here.
	expect_status 401 -u alice:nope "$REG_URL/token?service=berth-registry"
	anon=$(get_token "" repository:tok/app:pull)
	expect_status 401 -H "Authorization: Bearer $anon" "$REG_URL/v2/tok/app/tags/list"
	expect_status 401 -H "Authorization: Bearer ${tok}x" "$REG_URL/v2/"
	expect_status 400 "$REG_URL/token?service=other"
	expect_status 400 -u alice:wonderland "$REG_URL/token?scope=repository:../x:pull"
	# The catalog scope.
	cat=$(get_token alice:wonderland registry:catalog:*)
	expect_status 200 -H "Authorization: Bearer $cat" "$REG_URL/v2/_catalog"
	[ "$(stat -c %a "$REG_ROOT/berth/token-hs256.key")" = 600 ]
}

@test "token auth with ES256 and access rules: tokens grant only what the rules allow" {
	make_htpasswd
	cat >"$TEST_DIR/serve.json" <<'EOF'
{"token": {"issuer": "berth-es", "service": "reg", "alg": "ES256", "expiry": 60},
 "access": [{"repository": "shared/*", "users": ["*"], "actions": ["pull"]},
            {"repository": "shared/*", "users": ["alice"], "actions": ["push"]}]}
EOF
	start_registry --htpasswd "$TEST_DIR/htpasswd" --config "$TEST_DIR/serve.json"
	expect_status 401 "$REG_URL/v2/"
	assert_contains "$(hdr WWW-Authenticate)" 'service="reg"'
	expect_status 200 -u bob:builder "$REG_URL/token?service=reg&scope=repository:shared/x:pull,push"
	jq -e '.expires_in == 60' "$TEST_DIR/body"
	tok=$(jq -r .token "$TEST_DIR/body")
	# The header says ES256; the claims grant bob pull only.
	hdr64=${tok%%.*}
	pad=$(printf '%*s' $(((4 - ${#hdr64} % 4) % 4)) '' | tr ' ' '=')
	echo "$hdr64$pad" | tr '_-' '/+' | base64 -d | jq -e '.alg == "ES256" and (.kid | length) == 59'
	body=$(echo "$tok" | cut -d. -f2)
	pad=$(printf '%*s' $(((4 - ${#body} % 4) % 4)) '' | tr ' ' '=')
	echo "$body$pad" | tr '_-' '/+' | base64 -d | jq -e '.sub == "bob" and .iss == "berth-es" and .aud == "reg" and .access[0].actions == ["pull"]'
	expect_status 404 -H "Authorization: Bearer $tok" "$REG_URL/v2/shared/x/tags/list"
	expect_status 401 -H "Authorization: Bearer $tok" -X POST "$REG_URL/v2/shared/x/blobs/uploads/"
	alice=$(curl -sf -u alice:wonderland "$REG_URL/token?service=reg&scope=repository:shared/x:pull,push" | jq -r .token)
	expect_status 202 -H "Authorization: Bearer $alice" -X POST "$REG_URL/v2/shared/x/blobs/uploads/"
	[ -f "$REG_ROOT/berth/token-es256.pem" ]
	# The key survives a restart: old tokens still verify.
	stop_registry
	start_registry --htpasswd "$TEST_DIR/htpasswd" --config "$TEST_DIR/serve.json"
	expect_status 202 -H "Authorization: Bearer $alice" -X POST "$REG_URL/v2/shared/x/blobs/uploads/"
}

@test "TLS: serves HTTPS with the given certificate and key" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		-keyout "$TEST_DIR/key.pem" -out "$TEST_DIR/cert.pem" 2>/dev/null
	REG_SCHEME=https
	start_registry --tls-cert "$TEST_DIR/cert.pem" --tls-key "$TEST_DIR/key.pem"
	run curl -sf --cacert "$TEST_DIR/cert.pem" "https://$REG_HOST/v2/"
	assert_equal "$output" "{}"
	# With TLS the real GnuTLS is loaded, not berth's stand-in.
	grep -q '/libgnutls\.so\.30' "/proc/$REG_PID/maps"
	! grep -q 'berth-gnutls-off' "/proc/$REG_PID/maps" || die "the stand-in is loaded"
	run curl -s -m 3 -o /dev/null -w '%{http_code}' "http://$REG_HOST/v2/"
	[ "$output" != 200 ]
	make_image "$TEST_DIR/img"
	push_image tls/app v1 "$TEST_DIR/img"
	curl -sf --cacert "$TEST_DIR/cert.pem" "https://$REG_HOST/v2/tls/app/blobs/$LAYER_DIGEST" | cmp - "$TEST_DIR/img/layer.tar.gz"
	stop_registry
	run_berth 125 registry serve --root "$REG_ROOT" --tls-cert "$TEST_DIR/cert.pem"
	assert_contains "$output" "both a certificate and a key"
	run_berth 125 registry serve --root "$REG_ROOT" --addr 127.0.0.1:0 --tls-cert "$TEST_DIR/cert.pem" --tls-key /nonexistent
	assert_contains "$output" "/nonexistent"
}

# src/util/standin/gnutls.c: libmicrohttpd links GnuTLS, which a plain HTTP server never calls.
@test "plain HTTP: GnuTLS stays out of the process; a stand-in it refuses falls back to GnuTLS" {
	start_registry
	grep -q 'libmicrohttpd' "/proc/$REG_PID/maps"
	grep -q '/berth-gnutls-off\.so' "/proc/$REG_PID/maps"
	! grep -q -e '/libgnutls\.so' -e 'libp11-kit' -e 'libnettle' "/proc/$REG_PID/maps" ||
		die "GnuTLS is loaded: $(grep -e gnutls -e p11 -e nettle "/proc/$REG_PID/maps")"
	make_image "$TEST_DIR/img"
	push_image plain/app v1 "$TEST_DIR/img"
	curl -sf "$REG_URL/v2/plain/app/blobs/$LAYER_DIGEST" | cmp - "$TEST_DIR/img/layer.tar.gz"
	stop_registry

	# A berth beside a stand-in that lacks GnuTLS's symbols (and so its versions):
	# libmicrohttpd does not load against it, and berth loads it with the real GnuTLS.
	mkdir "$TEST_DIR/bin"
	cp "$BERTH" "$TEST_DIR/bin/berth"
	echo 'int berth_not_gnutls;' | gcc -shared -fPIC -Wl,-soname,libgnutls.so.30 \
		-o "$TEST_DIR/bin/berth-gnutls-off.so" -x c -
	BERTH=$TEST_DIR/bin/berth start_registry
	grep -q '/libgnutls\.so\.30' "/proc/$REG_PID/maps"
	! grep -q 'berth-gnutls-off' "/proc/$REG_PID/maps" || die "the stand-in is loaded"
	push_image plain/app v2 "$TEST_DIR/img"
	curl -sf "$REG_URL/v2/plain/app/blobs/$LAYER_DIGEST" | cmp - "$TEST_DIR/img/layer.tar.gz"
}

# A blob's data file in the root.
blob_file() {
	local hex=${1#sha256:}
	echo "$REG_ROOT/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}

@test "gc: --dry-run deletes nothing; then unreferenced blobs go, referenced ones stay" {
	start_registry --delete
	make_image "$TEST_DIR/keep" "kept"
	push_image gc/app keep "$TEST_DIR/keep"
	keep_layer=$LAYER_DIGEST
	make_image "$TEST_DIR/drop" "dropped"
	push_image gc/app drop "$TEST_DIR/drop"
	drop_layer=$LAYER_DIGEST drop_manifest=$MANIFEST_DIGEST
	expect_status 202 -X DELETE "$REG_URL/v2/gc/app/manifests/$drop_manifest"
	stop_registry

	run_berth registry gc --root "$REG_ROOT" --dry-run --grace 0
	assert_contains "$output" "blob eligible for deletion: $drop_layer"
	assert_contains "$output" "blob eligible for deletion: $drop_manifest"
	assert_contains "$output" "eligible for deletion"
	[ -f "$(blob_file "$drop_layer")" ]
	# With the default grace period (1h) a fresh push is kept.
	run_berth registry gc --root "$REG_ROOT"
	[ -f "$(blob_file "$drop_layer")" ]
	run_berth registry gc --root "$REG_ROOT" --grace 0s
	assert_contains "$output" "blobs ("
	assert_contains "$output" ") and 0 manifests deleted"
	[ ! -e "$(blob_file "$drop_layer")" ]
	[ ! -e "$(blob_file "$drop_manifest")" ]
	[ -f "$(blob_file "$keep_layer")" ]
	[ ! -e "$REG_ROOT/docker/registry/v2/repositories/gc/app/_layers/sha256/${drop_layer#sha256:}" ]
	start_registry
	expect_status 200 "$REG_URL/v2/gc/app/manifests/keep"
	expect_status 404 "$REG_URL/v2/gc/app/blobs/$drop_layer"
	run_berth 125 registry gc --root "$REG_ROOT" --grace soon
	run_berth 125 registry gc --root "$TEST_DIR/nothing-here"
	assert_contains "$output" "no registry"
}

@test "gc --delete-untagged removes manifests no tag keeps, not index children or referrers" {
	start_registry
	make_image "$TEST_DIR/a" "tagged"
	push_image u/app v1 "$TEST_DIR/a"
	tagged=$MANIFEST_DIGEST
	make_image "$TEST_DIR/b" "untagged"
	push_blob u/app "$TEST_DIR/b/layer.tar.gz" >/dev/null
	push_blob u/app "$TEST_DIR/b/config.json" >/dev/null
	push_manifest u/app "$MANIFEST_DIGEST" "$TEST_DIR/b/manifest.json" >/dev/null
	untagged=$MANIFEST_DIGEST untagged_layer=$LAYER_DIGEST
	stop_registry
	run_berth registry gc --root "$REG_ROOT" --grace 0 --delete-untagged
	assert_contains "$output" "u/app: manifest eligible for deletion: $untagged"
	assert_contains "$output" "1 manifests deleted"
	[ ! -e "$(blob_file "$untagged_layer")" ]
	[ ! -e "$REG_ROOT/docker/registry/v2/repositories/u/app/_manifests/revisions/sha256/${untagged#sha256:}" ]
	[ -e "$REG_ROOT/docker/registry/v2/repositories/u/app/_manifests/revisions/sha256/${tagged#sha256:}" ]
}

# check_complete REPO: every tag of REPO names a manifest whose blobs are all there.
check_complete() {
	expect_status 200 "$REG_URL/v2/$1/tags/list"
	local t d
	for t in $(jq -r '.tags[]' "$TEST_DIR/body"); do
		expect_status 200 -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$REG_URL/v2/$1/manifests/$t"
		for d in $(jq -r '.config.digest, .layers[].digest' "$TEST_DIR/body"); do
			expect_status 200 -I "$REG_URL/v2/$1/blobs/$d" || return 1
		done
	done
}

@test "gc while the server takes pushes: pushes succeed, old garbage goes, nothing referenced does" {
	start_registry
	# Old garbage for the concurrent gc to collect.
	for i in 1 2 3; do
		echo "garbage $i" >"$TEST_DIR/garbage$i"
		g[$i]=$(push_blob race/junk "$TEST_DIR/garbage$i")
		touch -d '2 hours ago' "$(blob_file "${g[$i]}")"
	done
	(
		for _ in $(seq 1 20); do
			"$BERTH" registry gc --root "$REG_ROOT" >/dev/null 2>&1 || exit 1
		done
	) &
	gc_pid=$!
	EXTRA_PIDS+=("$gc_pid")
	for i in $(seq 1 10); do
		make_image "$TEST_DIR/img$i" "image number $i"
		push_image race/app "v$i" "$TEST_DIR/img$i"
	done
	wait "$gc_pid"
	check_complete race/app
	run_berth registry gc --root "$REG_ROOT"
	for i in 1 2 3; do
		[ ! -e "$(blob_file "${g[$i]}")" ]
	done
	check_complete race/app
}

@test "gc with no grace racing pushes: a push may fail, an accepted manifest is never incomplete" {
	start_registry
	(
		for _ in $(seq 1 40); do
			"$BERTH" registry gc --root "$REG_ROOT" --grace 0 >/dev/null 2>&1 || exit 1
		done
	) &
	gc_pid=$!
	EXTRA_PIDS+=("$gc_pid")
	for i in $(seq 1 10); do
		make_image "$TEST_DIR/img$i" "image number $i"
		# Blobs pushed just before may be collected before the manifest comes: then the
		# manifest is refused (MANIFEST_BLOB_UNKNOWN) and the client pushes again.
		for _ in 1 2 3 4 5; do
			push_image race/app "v$i" "$TEST_DIR/img$i" 2>/dev/null && break
		done
	done
	wait "$gc_pid"
	check_complete race/app
}

@test "ls, tags and rm read and change a root directly" {
	start_registry
	make_image "$TEST_DIR/img"
	push_image team/web v1 "$TEST_DIR/img"
	push_manifest team/web v2 "$TEST_DIR/img/manifest.json" >/dev/null
	push_image team/api latest "$TEST_DIR/img"
	stop_registry
	run_berth registry ls --root "$REG_ROOT"
	assert_contains "${lines[0]}" "REPOSITORY"
	assert_contains "${lines[1]}" "team/api"
	assert_contains "${lines[2]}" "team/web"
	[[ "${lines[2]}" =~ team/web\ +2$ ]]
	run_berth registry ls -q --root "$REG_ROOT"
	assert_equal "$output" "$(printf 'team/api\nteam/web')"
	run_berth registry tags --root "$REG_ROOT" team/web
	assert_equal "$output" "$(printf 'v1\t%s\nv2\t%s' "$MANIFEST_DIGEST" "$MANIFEST_DIGEST")"
	run_berth registry rm --root "$REG_ROOT" team/web:v1
	assert_equal "$output" "Untagged: team/web:v1"
	run_berth registry tags -q --root "$REG_ROOT" team/web
	assert_equal "$output" "v2"
	run_berth registry rm --root "$REG_ROOT" "team/web@$MANIFEST_DIGEST"
	run_berth registry tags -q --root "$REG_ROOT" team/web
	assert_equal "$output" ""
	run_berth 1 registry rm --root "$REG_ROOT" team/web:v1 team/api
	assert_contains "$output" "no such tag"
	assert_contains "$output" "want REPOSITORY:TAG"
	run_berth 1 registry tags --root "$REG_ROOT" nothing/here
	assert_contains "$output" "no repository 'nothing/here'"
	run_berth 1 registry tags --root "$REG_ROOT" ../etc
	run_berth 125 registry ls --root "$TEST_DIR/none"
}
