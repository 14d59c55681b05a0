#!/usr/bin/env bash
# make-nginx-image.sh OUT.tar: an nginx:1.22 image made offline from Debian packages (the
# apt archive is the only network this needs), saved by `berth save` to OUT.tar, which
# `berth load` reads back. scripts/demo.sh keeps OUT.tar in its cache, so only its first run
# pays for mmdebstrap (about a minute on 2 cores).
#
# The image follows docs/tutorial.md ("Without Docker Hub"): nginx-light from bookworm, the
# default site's root moved to /usr/share/nginx/html (where the official image keeps its
# page, so the course's paths work unchanged), logs to the container's output, nginx in the
# foreground, port 80 exposed, SIGQUIT as the graceful stop.
#
# Environment: BERTH (default ./build/berth), MIRROR (default: mmdebstrap's, deb.debian.org).
# The import runs in a scratch store of its own, removed on exit; OUT.tar appears whole or
# not at all (written next to it, then renamed).
set -euo pipefail

[ $# -eq 1 ] || {
	echo "usage: $0 OUT.tar" >&2
	exit 2
}
OUT=$1
cd "$(dirname "$0")/.."
BERTH=${BERTH:-$PWD/build/berth}

WORK=$(mktemp -d /tmp/berth-nginx.XXXXXX)
trap 'rm -rf --one-file-system "$WORK"; rm -f "$OUT.part"' EXIT
export BERTH_ROOT=$WORK/root BERTH_RUNROOT=$WORK/run BERTH_CONFIG=$WORK/config.json
echo '{}' >"$BERTH_CONFIG"

# The page: Debian's postinst writes its welcome page to /var/www/html; the official image
# serves /usr/share/nginx/html/index.html, so make sure that one exists and is served.
site=/etc/nginx/sites-available/default
hooks=(
	--customize-hook='sed -i "s|root /var/www/html;|root /usr/share/nginx/html;|" "$1'"$site"'"'
	--customize-hook='mkdir -p "$1/usr/share/nginx/html"; [ -s "$1/usr/share/nginx/html/index.html" ] || cp "$1/var/www/html/index.nginx-debian.html" "$1/usr/share/nginx/html/index.html"'
	--customize-hook='ln -sf /dev/stdout "$1/var/log/nginx/access.log"; ln -sf /dev/stderr "$1/var/log/nginx/error.log"'
)
mkdir -p "$(dirname "$OUT")"
# shellcheck disable=SC2086 # MIRROR is optional and one word
mmdebstrap --quiet --variant=minbase --include=nginx-light "${hooks[@]}" bookworm - ${MIRROR:-} |
	"$BERTH" import \
		-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		-c 'CMD ["nginx", "-g", "daemon off;"]' \
		-c 'EXPOSE 80' \
		-c 'STOPSIGNAL SIGQUIT' \
		-m 'nginx-light from Debian 12' \
		- nginx:1.22 >/dev/null
"$BERTH" save -o "$OUT.part" nginx:1.22
mv "$OUT.part" "$OUT"
