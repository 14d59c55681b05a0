#!/usr/bin/env bats
# HTTPS registries: a CA and certificates made here with openssl, trust through
# $BERTH_CERTS_D/<host:port>/ca.crt (docker's /etc/docker/certs.d layout), client
# certificates, htpasswd over TLS, and what --tls-verify changes.

load helpers.distribution

CFG='{"architecture":"amd64","os":"linux","config":{}}'

@test "TLS + htpasswd: verified with the CA from certs.d, refused without it" {
	make_certs "$TEST_DIR/pki"
	make_htpasswd "$TEST_DIR/htpasswd" tls-user 'tls pw'
	start_distribution --htpasswd "$TEST_DIR/htpasswd" --tls "$TEST_DIR/pki/server.crt" "$TEST_DIR/pki/server.key"
	[[ $DIST_URL == https://* ]]

	# Verification demanded, no CA: the certificate is refused, nothing is stored.
	run berth login --tls-verify -u tls-user --password-stdin "$DIST_HOST" <<<'tls pw'
	assert_equal "$status" 1
	assert_contains "$output" "https://$DIST_HOST/v2/"
	assert_contains "$output" "certificate"
	[ ! -e "$DOCKER_CONFIG/config.json" ]

	mkdir -p "$BERTH_CERTS_D/$DIST_HOST"
	cp "$TEST_DIR/pki/ca.crt" "$BERTH_CERTS_D/$DIST_HOST/ca.crt"
	run berth login --tls-verify -u tls-user --password-stdin "$DIST_HOST" <<<'wrong'
	assert_equal "$status" 1
	assert_contains "$output" "login attempt to https://$DIST_HOST/v2/ failed with status: 401 Unauthorized"
	run berth login --tls-verify -u tls-user --password-stdin "$DIST_HOST" <<<'tls pw'
	[ "$status" -eq 0 ] || die "login failed: $output"
	assert_contains "$output" "Login Succeeded"

	local id
	id=$(load_config_image "$DIST_HOST/secure:1" "$CFG" 6000 7000)
	run_berth push --tls-verify "$DIST_HOST/secure:1"
	assert_equal "$(grep -c ': Pushed$' <<<"$output")" 2
	run_berth rmi "$DIST_HOST/secure:1"
	run_berth pull --tls-verify "$DIST_HOST/secure:1"
	run_berth image inspect -f '{{.Id}}' "$DIST_HOST/secure:1"
	assert_equal "$output" "$id"

	# Loopback registries are insecure by default (as in docker): no CA needed then, but
	# still HTTPS and still the credentials.
	rm -rf "$BERTH_CERTS_D/$DIST_HOST"
	run_berth rmi "$DIST_HOST/secure:1"
	run_berth pull "$DIST_HOST/secure:1"
	assert_contains "$output" "Pull complete"
	run_berth 1 pull --tls-verify "$DIST_HOST/secure:1"
	assert_contains "$output" "certificate"
}

@test "TLS: a client certificate from certs.d (client.cert + client.key)" {
	make_certs "$TEST_DIR/pki"
	start_distribution --tls "$TEST_DIR/pki/server.crt" "$TEST_DIR/pki/server.key" \
		--clientca "$TEST_DIR/pki/ca.crt"
	mkdir -p "$BERTH_CERTS_D/$DIST_HOST"
	cp "$TEST_DIR/pki/ca.crt" "$BERTH_CERTS_D/$DIST_HOST/ca.crt"
	load_config_image "$DIST_HOST/mtls:1" "$CFG" 2000 >/dev/null
	run_berth 1 push --tls-verify "$DIST_HOST/mtls:1"
	assert_contains "$output" "https://$DIST_HOST/v2/"

	cp "$TEST_DIR/pki/client.cert" "$TEST_DIR/pki/client.key" "$BERTH_CERTS_D/$DIST_HOST/"
	run_berth push --tls-verify "$DIST_HOST/mtls:1"
	assert_contains "$output" ": Pushed"
	run_berth rmi "$DIST_HOST/mtls:1"
	run_berth pull --tls-verify "$DIST_HOST/mtls:1"
	assert_contains "$output" "Pull complete"

	# A key without its certificate is a configuration error, named.
	rm "$BERTH_CERTS_D/$DIST_HOST/client.cert"
	run_berth 1 pull "$DIST_HOST/mtls:1"
	assert_contains "$output" "missing client certificate client.cert for key client.key"
}

@test "TLS: --tls-verify=false accepts an unknown CA and never needs certs.d" {
	make_certs "$TEST_DIR/pki"
	start_distribution --tls "$TEST_DIR/pki/server.crt" "$TEST_DIR/pki/server.key"
	load_config_image "$DIST_HOST/open:1" "$CFG" 1000 >/dev/null
	run_berth push --tls-verify=false "$DIST_HOST/open:1"
	assert_contains "$output" ": Pushed"
	run_berth rmi "$DIST_HOST/open:1"
	run_berth pull --tls-verify=false "$DIST_HOST/open:1"
	assert_contains "$output" "Pull complete"
	# The registry really speaks TLS: plain HTTP gets nowhere.
	run curl -s -o /dev/null -w '%{http_code}' "http://$DIST_HOST/v2/"
	assert_equal "$output" 400
}
