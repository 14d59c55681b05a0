# Fixtures of the container tests (060-067): every test gets its own store with a busybox
# image imported through `berth import` (make_busybox_tar), and its teardown removes every
# container it made (rm -f, which stops the monitors) and then checks that nothing of them
# is left: no mount below the test dir, no cgroup directory, no runroot entry, no process.

load helpers

IMG=busybox

setup() {
	berth_setup
	make_busybox_tar "$TEST_DIR/busybox.tar"
	berth import "$TEST_DIR/busybox.tar" "$IMG" >/dev/null
	rm -f "$TEST_DIR/busybox.tar"
}

teardown() {
	local ids id
	# A test file's own cleanup first, when it has one.
	! declare -F test_teardown >/dev/null || test_teardown
	ids=$("$BERTH" ps -aq --no-trunc 2>/dev/null)
	[ -z "$ids" ] || "$BERTH" rm -f $ids >/dev/null 2>&1 || true
	local leftover=
	for id in $ids; do
		leftover+=$(find /sys/fs/cgroup -maxdepth 3 -type d -name "$id" 2>/dev/null)
	done
	# Processes still holding something of this test (a monitor, a container).
	local pids
	pids=$(test_pids)
	if [ -n "$pids" ]; then
		kill -KILL $pids 2>/dev/null || true
		leftover+=" processes: $pids"
	fi
	berth_teardown || return 1
	if [ -n "$leftover" ]; then
		echo "FAIL: left behind: $leftover" >&2
		return 1
	fi
}

# test_pids: processes (not this shell) whose cwd, root or open files lie in this test's dir,
# or whose command line names it (monitors keep the container directory open).
test_pids() {
	local p
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = $$ ] && continue
		if ls -l "$p/fd" 2>/dev/null | grep -q -- "$TEST_DIR" ||
			{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q -- "$TEST_DIR"; then
			echo "${p#/proc/}"
		fi
	done
}

# wait_until TIMEOUT_SECONDS COMMAND...: poll until COMMAND succeeds.
wait_until() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 20; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

# status_of NAME: the container's State.Status.
status_of() {
	berth inspect -f '{{.State.Status}}' "$1"
}

is_status() {
	[ "$(status_of "$1")" = "$2" ]
}

# cgroup_dirs ID: the container's directories in every hierarchy.
cgroup_dirs() {
	find /sys/fs/cgroup -maxdepth 3 -type d -name "$1" 2>/dev/null
}

# pty_run ROWS COLS STEPS... -- COMMAND...: run COMMAND on a real pty (python3's pty
# module); STEPS are "w:TEXT" (type TEXT, backslash escapes allowed: \r, \x10) and
# "s:SECONDS" (read output for that long). Prints the output, then "EXIT=<status>".
pty_run() {
	python3 - "$@" <<'EOF'
import os, pty, sys, time, struct, fcntl, termios, select
i = sys.argv.index('--')
rows, cols, steps, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:i], sys.argv[i+1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
out = b''
def pump(t):
    """Read for t seconds; True at end of file."""
    global out
    end = time.time() + t
    while True:
        left = end - time.time()
        if left <= 0:
            return False
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            return False
        try:
            d = os.read(fd, 4096)
        except OSError:
            return True
        if not d:
            return True
        out += d
eof = False
for s in steps:
    k, v = s.split(':', 1)
    if k == 'w':
        os.write(fd, v.encode().decode('unicode_escape').encode('latin1'))
    elif not eof:
        eof = pump(float(v))
deadline = time.time() + 30
while not eof and time.time() < deadline:
    eof = pump(0.5)
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace').replace('\r', ''))
sys.stdout.write('\nEXIT=%d\n' % os.waitstatus_to_exitcode(st))
EOF
}
