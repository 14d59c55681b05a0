#!/usr/bin/env bash
# Installs, with apt-get, every Debian package berth's build, tests, benchmarks and demo need.
# Idempotent and quiet: packages already installed are not touched.
set -euo pipefail

pkgs=(
	# build
	gcc meson ninja-build pkg-config git
	libjansson-dev libarchive-dev libssl-dev zlib1g-dev libzstd-dev
	libcurl4-openssl-dev libmicrohttpd-dev libseccomp-dev libnftables-dev libmnl-dev
	libcrypt-dev libisal-dev
	# tests
	libcmocka-dev bats busybox-static jq curl python3 iproute2 util-linux
	groff-base # man pages (make man) and their check in tests/cli/900-docs.bats
	# fuzzing (libFuzzer) and the sanitizer build
	clang-14 libclang-rt-14-dev
	# peers for interop tests and benchmarks
	docker.io skopeo umoci podman runc crun docker-registry apache2-utils hyperfine wrk
	mmdebstrap
)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Package postinst scripts must not start services (dockerd, registry) behind our back:
# tests start what they need themselves, on their own sockets and ports.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	created_policy=1
fi
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ "$created_policy" = 1 ] && rm -f "$policy"
exit 0
