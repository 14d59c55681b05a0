# Shared set-up for berth's bats tests (the model: podman's test/system/helpers.bash).
#
# Every test gets its own store, runroot and config under a fresh temp dir, exported as
# BERTH_ROOT, BERTH_RUNROOT and BERTH_CONFIG, so tests never touch /var/lib/berth and can run
# side by side. Call `berth ...` for the binary and `run_berth [EXPECTED_RC] ARGS...` to
# capture $output and check the exit status (default 0).
#
# Under a sanitizer build (ASAN_OPTIONS or UBSAN_OPTIONS set, as scripts/check.sh does for
# ./build-asan) a sanitizer error fails the test even when the test ignores berth's status:
# - ASan/LSan write their reports to $TEST_DIR/sanitizer/asan.<pid> (log_path), which
#   berth_teardown prints and fails on;
# - UBSan (gcc's combined runtime ignores log_path) reports on stderr: run_berth scans
#   $output for it, and berth() records any abort (status 134, what abort_on_error gives)
#   for berth_teardown. To expect 134 from a container, call "$BERTH" directly.
# scripts/check.sh sets BERTH_CHECK_DIRS to a file where each test dir is listed, so that it
# can unmount and remove whatever a test leaves behind; the dirs themselves stay short paths
# in $TMPDIR (default /tmp), as in a run by hand (podman refuses a runroot over 50 bytes, a
# unix socket path has 108).

BERTH=${BERTH:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build/berth}

berth_setup() {
	TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/berth-bats.XXXXXX")
	[ -z "${BERTH_CHECK_DIRS:-}" ] || echo "$TEST_DIR" >>"$BERTH_CHECK_DIRS"
	export BERTH_ROOT=$TEST_DIR/root
	export BERTH_RUNROOT=$TEST_DIR/run
	export BERTH_CONFIG=$TEST_DIR/config.json
	echo '{}' >"$BERTH_CONFIG"
	# A test whose config leaves the default network in place makes berth0 and the "berth"
	# nft tables on the host; remember whether they were there, so that teardown removes
	# what this test made and never a real berth's network.
	BERTH_DEFAULT_NET_BEFORE=0
	! ip link show berth0 >/dev/null 2>&1 || BERTH_DEFAULT_NET_BEFORE=1
	if berth_sanitized; then
		mkdir "$TEST_DIR/sanitizer"
		# The last log_path wins, so this overrides one the caller may have set.
		export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$TEST_DIR/sanitizer/asan"
	fi
}

# berth_sanitized: true when the berth under test runs with sanitizer options.
berth_sanitized() {
	[ -n "${ASAN_OPTIONS:-}${UBSAN_OPTIONS:-}" ]
}

# killed_asan_options: ASAN_OPTIONS for a berth that a test kills with SIGKILL at a random
# moment (`ASAN_OPTIONS=$(killed_asan_options) "$BERTH" ... &`): the same, without the
# exit-time leak check, which a SIGKILL in its middle turns into a report of its own
# ("Unable to get registers from thread"). Every other sanitizer report still counts.
killed_asan_options() {
	echo "${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
}

berth_teardown() {
	[ -n "${TEST_DIR:-}" ] && [ -d "$TEST_DIR" ] || return 0
	# Unmount anything the test left mounted below its dir, deepest first.
	local m
	for m in $(awk -v d="$TEST_DIR" '$2 ~ "^"d {print $2}' /proc/self/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	local reports=
	if [ -d "$TEST_DIR/sanitizer" ]; then
		reports=$(find "$TEST_DIR/sanitizer" -type f)
		[ -z "$reports" ] || cat $reports >&2
	fi
	rm -rf "$TEST_DIR"
	if [ "${BERTH_DEFAULT_NET_BEFORE:-1}" = 0 ] && ip link show berth0 >/dev/null 2>&1; then
		ip link del berth0 2>/dev/null || true
		nft delete table inet berth 2>/dev/null || true
		nft delete table ip berth_nat 2>/dev/null || true
		rm -f /run/berth-berth.nft.lock
	fi
	if [ -n "$reports" ]; then
		echo "FAIL: sanitizer error (report above)" >&2
		return 1
	fi
}

setup() { berth_setup; }
teardown() { berth_teardown; }

berth() {
	local rc=0
	"$BERTH" "$@" || rc=$?
	if [ "$rc" -eq 134 ] && [ -d "${TEST_DIR:-}/sanitizer" ]; then
		echo "berth $*: aborted (status 134): a sanitizer error, see stderr" \
			>>"$TEST_DIR/sanitizer/aborted"
	fi
	return "$rc"
}

# run_berth [EXPECTED_STATUS] ARGS...: run berth, keep $output and $status, and fail the
# test with the command and its output when the status is not the expected one.
run_berth() {
	local expected=0
	if [[ $1 =~ ^[0-9]+$ ]]; then
		expected=$1
		shift
	fi
	run berth "$@"
	if [ "$status" -ne "$expected" ]; then
		echo "berth $*" >&2
		echo "exit status $status, expected $expected; output:" >&2
		echo "$output" >&2
		return 1
	fi
	if berth_sanitized && [[ "$output" =~ "runtime error:"|"ERROR: AddressSanitizer"|"ERROR: LeakSanitizer" ]]; then
		echo "berth $*: sanitizer error:" >&2
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
