#!/usr/bin/env bats
# `make demo` (scripts/demo.sh) in its quick mode: the whole course with busybox's httpd as
# nginx, the binary under test, a hub stand-in and a private registry with a password, all on
# 127.0.0.1 and the demo's own bridge. The full mode (nginx from Debian by mmdebstrap) is left
# to `make demo`: it needs the apt archive and a minute.
#
# The demo makes its temp dir under $TMPDIR, set here to the test's dir, so that the
# teardown of helpers.bash unmounts and removes whatever a broken run would leave.

load helpers

SRC=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

# demo [ENV=VALUE...]: the quick demo, keeping $output and $status, and what it started:
# DEMO_DIR (its temp dir), DEMO_PFX (its bridge and nft tables), DEMO_REGS (registry pids).
demo() {
	run env DEMO_QUICK=1 TMPDIR="$TEST_DIR" BERTH="$BERTH" "$@" "$SRC/scripts/demo.sh"
	DEMO_DIR=$(sed -n 's/.* store \([^ ,]*\), bridge .*/\1/p' <<<"$output" | head -1)
	DEMO_PFX=$(sed -n 's/.*, bridge \([a-z0-9]*\) on .*/\1/p' <<<"$output" | head -1)
	DEMO_REGS=$(sed -n 's/.*(pid \([0-9]*\))$/\1/p' <<<"$output")
	[ -n "$DEMO_DIR" ] && [ -n "$DEMO_PFX" ] || die "the demo did not name its store and bridge: $output"
}

# summary_of N: the summary line of step N.
summary_of() {
	sed -n '/^Summary/,$p' <<<"$output" | grep -E "^ *$1\. "
}

# assert_cleaned: nothing the demo started is left: no temp dir, no mount, no registry, no
# bridge, no nft table, no container process.
assert_cleaned() {
	[ ! -e "$DEMO_DIR" ] || die "the demo left $DEMO_DIR"
	! grep -qF "$DEMO_DIR" /proc/self/mounts || die "the demo left mounts below $DEMO_DIR"
	local p
	for p in $DEMO_REGS; do
		! kill -0 "$p" 2>/dev/null || die "registry pid $p still runs"
	done
	[ -z "$(ip -o link show | grep -F "$DEMO_PFX")" ] || die "bridge $DEMO_PFX left"
	! nft list tables | grep -qF "$DEMO_PFX" || die "nft tables $DEMO_PFX left"
	[ ! -e "/run/berth-$DEMO_PFX.nft.lock" ] || die "nft lock of $DEMO_PFX left"
	for p in /proc/[0-9]*; do
		if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$DEMO_DIR"; then
			die "process ${p#/proc/} still runs in the demo's dir"
		fi
	done
}

@test "demo: the quick course passes every step and cleans up" {
	demo
	if [ "$status" -ne 0 ]; then
		echo "$output" >&2
		die "the demo exited with $status"
	fi
	local n
	n=$(sed -n 's/.*demo: all \([0-9]*\) steps passed.*/\1/p' <<<"$output")
	[ "${n:-0}" -ge 12 ] || die "no 'all N steps passed' line: $output"
	for ((i = 1; i <= n; i++)); do
		[[ "$(summary_of $i)" =~ \ ok\ +[0-9]+\.[0-9]s$ ]] || die "step $i: $(summary_of $i)"
	done
	# The course's checkpoints, each printed as it passed.
	assert_contains "$output" 'ok: port '
	assert_contains "$output" 'serves "Welcome to nginx!"'
	assert_contains "$output" 'serves "hello!"'
	assert_contains "$output" 'serves "hi!"'
	assert_contains "$output" "ok: author and message are in the image"
	assert_contains "$output" "ok: without a login the registry refuses"
	assert_contains "$output" "Login Succeeded"
	assert_contains "$output" "ok: the credentials are gone"
	# The commands of the course, as the user types them.
	assert_contains "$output" "\$ berth commit -a user1 -m 'first commit' commit_test_container commit_test:1.0"
	assert_contains "$output" "\$ berth cp ./index.html commit_test2_container:/usr/share/nginx/html/index.html"
	# Two registries ran, both stopped; nothing else is left either.
	assert_equal "$(wc -w <<<"$DEMO_REGS")" 2
	assert_cleaned
	# The summary fits one screen.
	[ "$(sed -n '/^Summary/,$p' <<<"$output" | wc -l)" -le 24 ] || die "summary longer than a screen"
}

@test "demo: a failing step stops the course, and the trap cleans up what ran" {
	# Step 8 fails after its container started: two containers and the hub run then.
	demo DEMO_FAIL_AT=8
	assert_equal "$status" 1
	[[ "$(summary_of 7)" == *" ok "* ]] || die "step 7: $(summary_of 7)"
	[[ "$(summary_of 8)" == *" FAILED "* ]] || die "step 8: $(summary_of 8)"
	[[ "$(summary_of 9)" == *" not run "* ]] || die "step 9: $(summary_of 9)"
	assert_contains "$output" "FAILED: DEMO_FAIL_AT=8"
	assert_contains "$output" "failed or not run"
	assert_equal "$(wc -w <<<"$DEMO_REGS")" 1
	assert_cleaned
}

@test "demo: a command this build lacks is skipped, with the steps that need it" {
	# A berth without cp: the real binary behind a wrapper that answers `cp` as a build
	# without the command does (status 125, unknown command). Everything else is real.
	cat >"$TEST_DIR/berth-no-cp" <<-EOF
		#!/bin/sh
		[ "\$1" = cp ] && { echo "berth: 'cp' is not a berth command" >&2; exit 125; }
		exec "$BERTH" "\$@"
	EOF
	chmod +x "$TEST_DIR/berth-no-cp"
	BERTH=$TEST_DIR/berth-no-cp demo
	if [ "$status" -ne 0 ]; then
		echo "$output" >&2
		die "the demo exited with $status"
	fi
	[[ "$(summary_of 8)" == *" ok "* ]] || die "step 8: $(summary_of 8)"
	[[ "$(summary_of 9)" == *"skipped: cp not available yet"* ]] || die "step 9: $(summary_of 9)"
	[[ "$(summary_of 10)" == *"skipped: needs step 9"* ]] || die "step 10: $(summary_of 10)"
	[[ "$(summary_of 12)" == *" ok "* ]] || die "step 12: $(summary_of 12)"
	assert_contains "$output" "demo: 9 steps passed, 3 skipped"
	assert_cleaned
}
