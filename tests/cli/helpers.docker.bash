# A private dockerd for the interop tests (025-interop-docker.bats): its own data root, exec
# root, socket and pid file under a temp dir, no bridge and no iptables rules, so that it
# touches nothing of the host's docker (if there is one) and nothing of the network.
#
# start_private_dockerd (from setup_file) exports DOCKER_HOST and DOCKERD_PID, or writes the
# reason it could not start to $DOCKERD_DIR/skip; tests call require_dockerd first, which
# skips them with that reason. stop_private_dockerd (from teardown_file) kills exactly the
# dockerd it started, waits for it, and removes its directory.

start_private_dockerd() {
	DOCKERD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/berth-dockerd.XXXXXX")
	export DOCKERD_DIR
	if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
		echo "dockerd or docker is not installed" >"$DOCKERD_DIR/skip"
		return 0
	fi
	local driver i
	# overlay2 first; vfs when the file system under TMPDIR can not host overlay mounts.
	for driver in overlay2 vfs; do
		rm -rf "$DOCKERD_DIR/data" "$DOCKERD_DIR/exec"
		dockerd --data-root "$DOCKERD_DIR/data" --exec-root "$DOCKERD_DIR/exec" \
			-H "unix://$DOCKERD_DIR/docker.sock" --pidfile "$DOCKERD_DIR/docker.pid" \
			--bridge=none --iptables=false --ip6tables=false \
			--storage-driver="$driver" >"$DOCKERD_DIR/dockerd-$driver.log" 2>&1 &
		DOCKERD_PID=$!
		export DOCKERD_PID DOCKER_HOST="unix://$DOCKERD_DIR/docker.sock"
		for i in $(seq 1 120); do
			if [ -S "$DOCKERD_DIR/docker.sock" ] && docker version >/dev/null 2>&1; then
				return 0
			fi
			kill -0 "$DOCKERD_PID" 2>/dev/null || break
			sleep 0.25
		done
		stop_dockerd_pid
	done
	{
		echo "dockerd could not start (overlay2, then vfs); last log lines:"
		tail -n 3 "$DOCKERD_DIR/dockerd-vfs.log"
	} >"$DOCKERD_DIR/skip"
}

# Kill the dockerd we started (by its pid) and wait until it is gone.
stop_dockerd_pid() {
	[ -n "${DOCKERD_PID:-}" ] || return 0
	kill "$DOCKERD_PID" 2>/dev/null || true
	local i
	for i in $(seq 1 120); do
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.25
	done
	if kill -0 "$DOCKERD_PID" 2>/dev/null; then
		kill -9 "$DOCKERD_PID" 2>/dev/null || true
	fi
	wait "$DOCKERD_PID" 2>/dev/null || true
	DOCKERD_PID=
}

stop_private_dockerd() {
	stop_dockerd_pid
	[ -n "${DOCKERD_DIR:-}" ] && [ -d "$DOCKERD_DIR" ] || return 0
	local m
	for m in $(awk -v d="$DOCKERD_DIR" '$2 ~ "^"d {print $2}' /proc/self/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$DOCKERD_DIR"
}

require_dockerd() {
	if [ -f "$DOCKERD_DIR/skip" ]; then
		skip "$(cat "$DOCKERD_DIR/skip")"
	fi
}
