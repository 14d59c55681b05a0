#!/usr/bin/env bats
# berth login / logout and authenticated pulls and pushes: htpasswd Basic auth on
# docker-registry, Docker's token flow (a python token server, and `berth registry serve
# --token-issuer`), credentials in $DOCKER_CONFIG/config.json or a credential helper.

load helpers.distribution

CFG='{"architecture":"amd64","os":"linux","config":{}}'

# A docker-credential-berthtest helper keeping one file per server in $TEST_DIR/helper-store,
# and logging each verb; put on PATH.
install_helper() {
	mkdir -p "$TEST_DIR/bin" "$TEST_DIR/helper-store"
	cat >"$TEST_DIR/bin/docker-credential-berthtest" <<EOF
#!/bin/sh
d=$TEST_DIR/helper-store
echo "\$1" >>"\$d/calls"
case \$1 in
get) read -r s; f="\$d/\$(printf %s "\$s" | tr '/:' '__')"
  if [ -f "\$f" ]; then cat "\$f"; else echo 'credentials not found in native keychain'; exit 1; fi ;;
store) cat >"\$d/in"; s=\$(jq -r .ServerURL "\$d/in"); mv "\$d/in" "\$d/\$(printf %s "\$s" | tr '/:' '__')" ;;
erase) read -r s; f="\$d/\$(printf %s "\$s" | tr '/:' '__')"
  [ -f "\$f" ] || { echo 'credentials not found in native keychain'; exit 1; }; rm "\$f" ;;
esac
EOF
	chmod +x "$TEST_DIR/bin/docker-credential-berthtest"
	export PATH=$TEST_DIR/bin:$PATH
}

@test "login --password-stdin (Basic), push and pull with the stored credentials, logout" {
	make_htpasswd "$TEST_DIR/htpasswd" alice 'correct horse'
	start_distribution --htpasswd "$TEST_DIR/htpasswd"
	load_config_image "$DIST_HOST/private:1" "$CFG" 3000 >/dev/null
	run_berth 1 push "$DIST_HOST/private:1"
	assert_contains "$output" "unauthorized"

	run berth login -u alice --password-stdin "$DIST_HOST" <<<'correct horse'
	[ "$status" -eq 0 ] || die "login failed: $output"
	assert_contains "$output" "Login Succeeded"
	assert_contains "$output" "WARNING! Your password will be stored unencrypted in $DOCKER_CONFIG/config.json"
	[[ "$output" != *"correct horse"* ]] || die "the password was printed"
	assert_equal "$(jq -r --arg h "$DIST_HOST" '.auths[$h].auth' "$DOCKER_CONFIG/config.json" | base64 -d)" \
		"alice:correct horse"
	assert_equal "$(stat -c %a "$DOCKER_CONFIG/config.json")" 600

	run_berth push "$DIST_HOST/private:1"
	assert_contains "$output" ": Pushed"
	run_berth rmi "$DIST_HOST/private:1"
	run_berth pull "$DIST_HOST/private:1"
	assert_contains "$output" "Status: Downloaded newer image for $DIST_HOST/private:1"

	# Without arguments the stored credentials are checked again.
	run_berth login "$DIST_HOST" </dev/null
	assert_contains "$output" "Authenticating with existing credentials..."
	assert_contains "$output" "Login Succeeded"

	run_berth logout "$DIST_HOST"
	assert_equal "$output" "Removing login credentials for $DIST_HOST"
	assert_equal "$(jq -r --arg h "$DIST_HOST" '.auths[$h]' "$DOCKER_CONFIG/config.json")" null
	run_berth logout "$DIST_HOST"
	assert_equal "$output" "Not logged in to $DIST_HOST"
	run_berth 1 pull "$DIST_HOST/private:1"
	assert_contains "$output" "unauthorized"
}

@test "login: a wrong password fails with docker's message and stores nothing" {
	make_htpasswd "$TEST_DIR/htpasswd" alice right
	start_distribution --htpasswd "$TEST_DIR/htpasswd"
	run berth login -u alice --password-stdin "$DIST_HOST" <<<'wrong'
	assert_equal "$status" 1
	assert_contains "$output" "Error response from daemon: login attempt to http://$DIST_HOST/v2/ failed with status: 401 Unauthorized"
	[[ "$output" != *wrong* ]] || die "the password was printed: $output"
	[ ! -e "$DOCKER_CONFIG/config.json" ] || die "config.json written: $(cat "$DOCKER_CONFIG/config.json")"
	run berth login -u nobody -p right "$DIST_HOST"
	assert_equal "$status" 1
	assert_contains "$output" "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
	assert_contains "$output" "401 Unauthorized"
}

@test "login: flag checks, and no prompt without a terminal" {
	run_berth 1 login --password-stdin localhost:1 </dev/null
	assert_contains "$output" "Must provide --username with --password-stdin"
	run_berth 1 login -u a -p b --password-stdin localhost:1 </dev/null
	assert_contains "$output" "--password and --password-stdin are mutually exclusive"
	run_berth 1 login localhost:1 </dev/null
	assert_contains "$output" "Cannot perform an interactive login from a non TTY device"
	run_berth 1 login -u a localhost:1 </dev/null
	assert_contains "$output" "Cannot perform an interactive login from a non TTY device"
	run_berth 1 login a b
	assert_contains "$output" "requires at most 1 argument"
	run_berth logout
	assert_equal "$output" "Not logged in to https://index.docker.io/v1/"
}

@test "login: a credential helper (credsStore, credHelpers) stores, serves and erases" {
	install_helper
	make_htpasswd "$TEST_DIR/htpasswd" bob 'pw with "quotes"'
	start_distribution --htpasswd "$TEST_DIR/htpasswd"
	echo '{"credsStore": "berthtest", "proxies": {}}' >"$DOCKER_CONFIG/config.json"
	run berth login -u bob --password-stdin "$DIST_HOST" <<<'pw with "quotes"'
	[ "$status" -eq 0 ] || die "login failed: $output"
	[[ "$output" != *unencrypted* ]] || die "warned about plain text with a helper"
	# config.json keeps an empty entry; the helper has the secret.
	assert_equal "$(jq -c --arg h "$DIST_HOST" '.auths[$h]' "$DOCKER_CONFIG/config.json")" "{}"
	assert_equal "$(jq -c .proxies "$DOCKER_CONFIG/config.json")" "{}"
	local f=$TEST_DIR/helper-store/$(tr '/:' '__' <<<"$DIST_HOST")
	assert_equal "$(jq -r .Secret "$f")" 'pw with "quotes"'
	assert_equal "$(jq -r .Username "$f")" bob

	load_config_image "$DIST_HOST/h:1" "$CFG" 1000 >/dev/null
	run_berth push "$DIST_HOST/h:1"
	grep -qx get "$TEST_DIR/helper-store/calls" || die "helper not asked"

	run_berth logout "$DIST_HOST"
	assert_equal "$output" "Removing login credentials for $DIST_HOST"
	[ ! -e "$f" ] || die "helper still has the credentials"
	run_berth 1 pull "$DIST_HOST/h:1"
	assert_contains "$output" "unauthorized"

	# credHelpers names a helper for one registry; a missing helper is an error.
	echo "{\"credHelpers\": {\"$DIST_HOST\": \"absent\"}}" >"$DOCKER_CONFIG/config.json"
	run berth login -u bob --password-stdin "$DIST_HOST" <<<'pw with "quotes"'
	assert_equal "$status" 1
	assert_contains "$output" "docker-credential-absent"
}

@test "token auth: anonymous tokens are fetched once and reused for a whole pull" {
	local f=$TEST_DIR/fake d=$TEST_DIR/img
	start_fake_registry "$f" bearer
	make_image "$d" amd64 "token protected"
	fake_image "$f" tok 1 "$d"
	run_berth pull "$FAKE_HOST/tok:1"
	assert_contains "$output" "Pull complete"
	assert_equal "$(grep -c '^TOKEN' "$f/requests.log")" 1
	grep -q '^TOKEN scope=repository:tok:pull basic=no' "$f/requests.log" ||
		die "unexpected token request: $(grep TOKEN "$f/requests.log")"
	# Every blob and manifest request carried the token.
	[ -z "$(grep -E '^GET /v2/tok/(blobs|manifests)' "$f/requests.log" | grep -v 'auth=Bearer' |
		grep -vE 'auth=$' | head -1)" ]
	assert_equal "$(grep -E '^GET /v2/tok/blobs' "$f/requests.log" | grep -c 'auth=Bearer')" 2
}

@test "token auth: login gets a token with Basic credentials; a wrong password is refused" {
	local f=$TEST_DIR/fake d=$TEST_DIR/img
	FAKE_USER=carol FAKE_PASS=secret start_fake_registry "$f" bearer expires=1
	make_image "$d" amd64 "for carol"
	fake_image "$f" mine 1 "$d"
	run berth login -u carol --password-stdin "$FAKE_HOST" <<<'nope'
	assert_equal "$status" 1
	assert_contains "$output" "incorrect username or password"
	run berth login -u carol --password-stdin "$FAKE_HOST" <<<'secret'
	[ "$status" -eq 0 ] || die "login failed: $output"
	grep -q '^TOKEN scope= basic=yes' "$f/requests.log" || die "$(cat "$f/requests.log")"
	run_berth pull "$FAKE_HOST/mine:1"
	grep -q '^TOKEN scope=repository:mine:pull basic=yes' "$f/requests.log" || die "$(cat "$f/requests.log")"
}

@test "token auth with berth registry serve: push (pull,push), cross-repository mount, pull" {
	"$BERTH" registry serve --help >/dev/null 2>&1 || skip "berth registry serve is not built"
	make_htpasswd "$TEST_DIR/htpasswd" dan 'dan-pw'
	local port
	port=$(free_port)
	"$BERTH" registry serve --addr "127.0.0.1:$port" --root "$TEST_DIR/regroot" \
		--htpasswd "$TEST_DIR/htpasswd" --token-issuer berth-test -q 2>"$TEST_DIR/serve.log" &
	DIST_PIDS+=("$!")
	wait_http "http://127.0.0.1:$port/v2/" || die "registry serve did not start: $(cat "$TEST_DIR/serve.log")"
	local host=127.0.0.1:$port
	run berth login -u dan --password-stdin "$host" <<<'dan-pw'
	[ "$status" -eq 0 ] || die "login failed: $output"
	load_config_image "$host/team/base:1" "$CFG" 4000 5000 >/dev/null
	run_berth push "$host/team/base:1"
	assert_equal "$(grep -c ': Pushed$' <<<"$output")" 2
	run_berth tag "$host/team/base:1" "$host/team/app:1"
	run_berth push "$host/team/app:1"
	assert_equal "$(grep -c ': Mounted from team/base$' <<<"$output")" 2
	run_berth rmi "$host/team/base:1" "$host/team/app:1"
	run_berth pull "$host/team/app:1"
	assert_contains "$output" "Status: Downloaded newer image for $host/team/app:1"
	run_berth logout "$host"
	run_berth 1 pull "$host/team/app:1"
	assert_contains "$output" "unauthorized"
}
