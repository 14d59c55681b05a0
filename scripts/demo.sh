#!/usr/bin/env bash
# `make demo`: a guided run of what berth does today, on a private store. Each step prints
# its command, runs it, and checks the result; the first wrong result stops the demo with
# exit status 1. No network: the image is busybox-static from the host, the same rootfs the
# CLI tests use (make_busybox_rootfs in tests/cli/helpers.bash).
#
# The course so far (the store): import a rootfs with a CMD, list it, tag it, read its
# history, save it to a docker-compatible archive, remove it, load it back, list again.
# run, commit and push join here as they land.
#
# Environment: BERTH (default ./build/berth), DEMO_KEEP=1 to keep the temp dir for a look.
set -euo pipefail

cd "$(dirname "$0")/.."
SRC=$PWD
BERTH=${BERTH:-$SRC/build/berth}
[ -x "$BERTH" ] || {
	echo "demo: $BERTH not built (run make first)" >&2
	exit 1
}

DEMO=$(mktemp -d /tmp/berth-demo.XXXXXX)
cleanup() {
	local m
	for m in $(awk -v d="$DEMO" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	if [ "${DEMO_KEEP:-0}" = 1 ]; then
		echo "demo: kept $DEMO"
	else
		rm -rf --one-file-system "$DEMO"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# A store of its own: nothing of /var/lib/berth or a config in /etc is touched.
export BERTH_ROOT=$DEMO/root BERTH_RUNROOT=$DEMO/run BERTH_CONFIG=$DEMO/config.json
echo '{}' >"$BERTH_CONFIG"

# make_busybox_rootfs comes from the test helpers, so the demo and the tests share one image.
# shellcheck source=../tests/cli/helpers.bash
BATS_TEST_DIRNAME=$SRC/tests/cli source "$SRC/tests/cli/helpers.bash"

if [ -t 1 ]; then
	bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' reset=$'\e[0m'
else
	bold='' green='' red='' reset=''
fi

step=0
# say TEXT: a heading for the next step.
say() {
	step=$((step + 1))
	printf '\n%s%d. %s%s\n' "$bold" "$step" "$*" "$reset"
}

# quote ARG...: the arguments as one would type them into a shell.
quote() {
	local a q=()
	for a in "$@"; do
		if [[ -n "$a" && "$a" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
			q+=("$a")
		else
			q+=("'${a//\'/\'\\\'\'}'")
		fi
	done
	printf '%s' "${q[*]}"
}

# demo CMD...: print "$ berth ...", run it, keep its output in $out and show it.
demo() {
	printf '%s$ berth %s%s\n' "$bold" "$(quote "$@")" "$reset"
	if ! out=$("$BERTH" "$@" 2>&1); then
		printf '%s\n' "$out"
		fail "berth $* failed"
	fi
	[ -z "$out" ] || printf '%s\n' "$out"
}

fail() {
	printf '%sdemo: FAILED: %s%s\n' "$red" "$*" "$reset" >&2
	exit 1
}

# expect WHAT CONDITION...: check a result of the last step.
expect() {
	local what=$1
	shift
	if "$@"; then
		printf '%s   ok: %s%s\n' "$green" "$what" "$reset"
	else
		fail "$what"
	fi
}

has() { grep -qE -- "$2" <<<"$1"; }
hasnt() { ! grep -qE -- "$2" <<<"$1"; }

say "A root filesystem: busybox-static and its applets, as a tar"
make_busybox_rootfs "$DEMO/rootfs"
tar -C "$DEMO/rootfs" --numeric-owner -cf "$DEMO/busybox.tar" .
echo "$DEMO/busybox.tar: $(du -h "$DEMO/busybox.tar" | cut -f1), $(tar -tf "$DEMO/busybox.tar" | wc -l) entries"

say "Import it as an image whose command is a shell"
demo import -c 'CMD ["/bin/sh"]' "$DEMO/busybox.tar" busybox:demo
id=$(grep -oE 'sha256:[0-9a-f]{64}' <<<"$out" | tail -n1)
expect "import printed the image id" test -n "$id"

say "List the images"
demo images
expect "busybox:demo is listed with its short id" \
	has "$out" "^busybox +demo +${id:7:12} "
demo inspect --format '{{json .Config.Cmd}}' busybox:demo
expect "its command is [\"/bin/sh\"]" test "$out" = '["/bin/sh"]'

say "Give it a second name"
demo tag busybox:demo registry.example/tools/busybox:1.0
demo images
expect "both names, one image id" \
	test "$(grep -cE " ${id:7:12} " <<<"$out")" = 2
expect "the new name is listed" has "$out" "^registry.example/tools/busybox +1.0 +${id:7:12} "

say "Its history: one layer from import"
demo history busybox:demo
expect "one layer, made by import" has "$out" "Imported from"
demo history --format '{{.Size}}' busybox:demo
expect "the layer has a size" has "$out" "[0-9]"

say "Save both names to a docker-compatible archive"
demo save -o "$DEMO/busybox-save.tar" busybox:demo registry.example/tools/busybox:1.0
expect "the archive exists" test -s "$DEMO/busybox-save.tar"
members=$(tar -tf "$DEMO/busybox-save.tar")
expect "it has docker's manifest.json" has "$members" "^manifest.json$"
expect "and an OCI layout" has "$members" "^(\./)?oci-layout$"
tags=$(tar -xOf "$DEMO/busybox-save.tar" manifest.json | jq -r '.[].RepoTags[]' | sort | tr '\n' ' ')
expect "manifest.json names both tags" \
	test "$tags" = "busybox:demo registry.example/tools/busybox:1.0 "

say "Remove the image (both names)"
demo rmi busybox:demo registry.example/tools/busybox:1.0
expect "rmi untagged both names" has "$out" "Untagged: busybox:demo"
expect "and deleted the image" has "$out" "Deleted: $id"
demo images
expect "the store is empty" test "$(wc -l <<<"$out")" = 1

say "Load it back from the archive"
demo load -i "$DEMO/busybox-save.tar"
expect "load named both images" has "$out" "Loaded image: busybox:demo"
demo images --no-trunc
expect "busybox:demo is back with the same id" has "$out" "^busybox +demo +$id "
expect "and its second name too" has "$out" "^registry.example/tools/busybox +1.0 +$id "
demo inspect --format '{{json .Config.Cmd}}' busybox:demo
expect "its command survived the round trip" test "$out" = '["/bin/sh"]'

printf '\n%sdemo: all %d steps passed%s\n' "$green" "$step" "$reset"
