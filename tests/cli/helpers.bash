# Shared set-up for berth's bats tests (the model: podman's test/system/helpers.bash).
#
# Every test gets its own store, runroot and config under a fresh temp dir, exported as
# BERTH_ROOT, BERTH_RUNROOT and BERTH_CONFIG, so tests never touch /var/lib/berth and can run
# side by side. Call `berth ...` for the binary and `run_berth [EXPECTED_RC] ARGS...` to
# capture $output and check the exit status (default 0).

BERTH=${BERTH:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build/berth}

berth_setup() {
	TEST_DIR=$(mktemp -d /tmp/berth-bats.XXXXXX)
	export BERTH_ROOT=$TEST_DIR/root
	export BERTH_RUNROOT=$TEST_DIR/run
	export BERTH_CONFIG=$TEST_DIR/config.json
	echo '{}' >"$BERTH_CONFIG"
}

berth_teardown() {
	[ -n "${TEST_DIR:-}" ] && [ -d "$TEST_DIR" ] || return 0
	# Unmount anything the test left mounted below its dir, deepest first.
	local m
	for m in $(awk -v d="$TEST_DIR" '$2 ~ "^"d {print $2}' /proc/self/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$TEST_DIR"
}

setup() { berth_setup; }
teardown() { berth_teardown; }

berth() {
	"$BERTH" "$@"
}

# run_berth [EXPECTED_STATUS] ARGS...: run berth, keep $output and $status, and fail the
# test with the command and its output when the status is not the expected one.
run_berth() {
	local expected=0
	if [[ $1 =~ ^[0-9]+$ ]]; then
		expected=$1
		shift
	fi
	run "$BERTH" "$@"
	if [ "$status" -ne "$expected" ]; then
		echo "berth $*" >&2
		echo "exit status $status, expected $expected; output:" >&2
		echo "$output" >&2
		return 1
	fi
}

# die MESSAGE: fail the test.
die() {
	echo "FAIL: $*" >&2
	return 1
}

# assert_contains HAYSTACK NEEDLE
assert_contains() {
	if [[ "$1" != *"$2"* ]]; then
		echo "expected to find: $2" >&2
		echo "in: $1" >&2
		return 1
	fi
}

# assert_equal ACTUAL EXPECTED
assert_equal() {
	if [ "$1" != "$2" ]; then
		echo "expected: $2" >&2
		echo "actual:   $1" >&2
		return 1
	fi
}

# make_busybox_rootfs DIR: a tiny root filesystem of busybox-static with its applets as
# symlinks, an /etc/passwd and /etc/group, enough to run shells, httpd and coreutils.
make_busybox_rootfs() {
	local dir=$1 a
	mkdir -p "$dir"/{bin,etc,tmp,root,usr/share/nginx/html,var/www}
	cp /bin/busybox "$dir/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser1:x:1000:1000::/home/user1:/bin/sh\n' >"$dir/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\nuser1:x:1000:\n' >"$dir/etc/group"
	echo '<h1>Welcome to nginx!</h1>' >"$dir/usr/share/nginx/html/index.html"
	chmod 1777 "$dir/tmp"
}

# make_busybox_tar FILE: the rootfs above as a tar archive (cached per test file).
make_busybox_tar() {
	local out=$1
	local cache=$BATS_FILE_TMPDIR/busybox-rootfs.tar
	if [ ! -f "$cache" ]; then
		local d=$BATS_FILE_TMPDIR/busybox-rootfs
		make_busybox_rootfs "$d"
		tar -C "$d" --numeric-owner -cf "$cache" .
	fi
	cp "$cache" "$out"
}
