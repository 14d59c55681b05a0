#!/usr/bin/env bash
# `make demo`: the user's whole course (docs/tutorial.md) with berth alone, no Docker Hub.
# Each step prints the commands it runs and checks their results; the end is a one-screen
# summary of every step, its result and its time, and the exit status is 1 when a step
# failed (the steps after a failure are not run: each builds on the one before).
#
#  1. an nginx image: nginx:1.22 made offline from Debian packages by
#     scripts/make-nginx-image.sh and cached as a saved archive in
#     ${XDG_CACHE_HOME:-~/.cache}/berth-demo, so later runs only load it; with DEMO_QUICK=1 the
#     busybox image of tests/cli/helpers.bash plays nginx (httpd serving /usr/share/nginx/html)
#  2. a "Docker Hub": `berth registry serve` on a free port of 127.0.0.1, holding the image as
#     library/nginx:1.22; the local copy is removed, so from here on the demo pulls
#  3. the course: pull, run -p 9999:80, exec, commit -a -m, images, history, run -p 8888:80,
#     cp, commit 2.0, each page read with curl on 127.0.0.1
#  4. a private registry with htpasswd logins: login, tag, push, rmi, pull, run, logout
#
# Everything runs on a store, runroot, config and DOCKER_CONFIG of its own under a temp dir,
# with a bridge device, subnet and nft tables of its own (never the user's berth0), and all
# of it (containers, registries, bridge, tables, temp dir) is removed on exit, also after a
# failure or Ctrl-C. Traffic goes only to 127.0.0.1 and to the demo's own bridge.
#
# A command this build does not have yet (probed with `berth CMD --help`) makes its step
# "skipped: CMD not available yet" instead of a failure.
#
# Environment: BERTH (default ./build/berth), DEMO_QUICK=1 (busybox instead of nginx),
# DEMO_KEEP=1 (keep the temp dir), TMPDIR (where the temp dir goes), XDG_CACHE_HOME.
# Functions called only through the step table or the trap look unreachable to shellcheck.
# shellcheck disable=SC2317
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
SRC=$PWD
BERTH=${BERTH:-$SRC/build/berth}
QUICK=${DEMO_QUICK:-0}
if [ ! -x "$BERTH" ]; then
	echo "demo: building berth"
	if ! { [ -f build/build.ninja ] || meson setup build >/dev/null; } || ! ninja -C build >/dev/null; then
		echo "demo: the build failed" >&2
		exit 1
	fi
	BERTH=$SRC/build/berth
fi
[ "$(id -u)" = 0 ] || {
	echo "demo: run as root (containers, bridges and nftables need it)" >&2
	exit 1
}

DEMO=$(mktemp -d "${TMPDIR:-/tmp}/berth-demo.XXXXXX") || exit 1
export BERTH_ROOT=$DEMO/root BERTH_RUNROOT=$DEMO/run BERTH_CONFIG=$DEMO/config.json
export DOCKER_CONFIG=$DEMO/docker
mkdir -p "$DOCKER_CONFIG" "$DEMO/work"

if [ -t 1 ]; then
	bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' yellow=$'\e[33m' reset=$'\e[0m'
else
	bold='' green='' red='' yellow='' reset=''
fi

# --- the demo's own network: a bridge name, a free subnet and nft tables of its own -------

PFX=bdemo$(printf '%04x' $(((RANDOM ^ $$) & 0xffff)))
free_subnet() {
	local a b i
	for ((i = 0; i < 100; i++)); do
		a=$((210 + RANDOM % 40))
		b=$((RANDOM % 256))
		if ! ip -4 route show | grep -q "^10\.$a\.$b\." &&
			! ip -4 addr show | grep -q "inet 10\.$a\.$b\."; then
			echo "10.$a.$b"
			return 0
		fi
	done
	return 1
}
NET=$(free_subnet) || {
	echo "demo: no free 10.x.y.0/24 subnet" >&2
	exit 1
}
INSECURE=()
# write_config: the demo's config.json (the registries started so far are insecure: plain
# HTTP; loopback is insecure anyway, saying so shows where a real host would go).
write_config() {
	jq -n --arg dev "$PFX" --arg net "$NET.0/24" --args \
		'{"bridge": {"device": $dev, "subnet": $net}, "nft-prefix": $dev,
		  "insecure-registries": $ARGS.positional}' "${INSECURE[@]}" >"$BERTH_CONFIG"
}
write_config

REG_PIDS=()
cleanup() {
	local ids p m
	trap - EXIT INT TERM HUP
	ids=$("$BERTH" ps -aq --no-trunc 2>/dev/null)
	# shellcheck disable=SC2086 # one id a word
	[ -z "$ids" ] || "$BERTH" rm -f $ids >/dev/null 2>&1
	for p in "${REG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${REG_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	for p in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^$PFX"); do
		ip link del "$p" 2>/dev/null
	done
	nft delete table inet "$PFX" 2>/dev/null
	nft delete table ip "${PFX}_nat" 2>/dev/null
	rm -f "/run/berth-$PFX.nft.lock"
	for m in $(awk -v d="$DEMO" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r); do
		umount -l "$m" 2>/dev/null
	done
	if [ "${DEMO_KEEP:-0}" = 1 ]; then
		echo "demo: kept $DEMO"
	else
		rm -rf --one-file-system "$DEMO"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- printing, running and checking ---------------------------------------------------------

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

# b ARG...: print "$ berth ARGS", run it, keep its output in $out and show it.
b() {
	printf '%s$ berth %s%s\n' "$bold" "$(quote "$@")" "$reset"
	local rc=0
	out=$("$BERTH" "$@" 2>&1) || rc=$?
	indent "$out"
	if [ "$rc" -ne 0 ]; then
		problem "berth $1 exited with status $rc"
		return 1
	fi
}

# sh_ CMD...: the same for a command other than berth.
sh_() {
	printf '%s$ %s%s\n' "$bold" "$(quote "$@")" "$reset"
	local rc=0
	out=$("$@" 2>&1) || rc=$?
	indent "$out"
	if [ "$rc" -ne 0 ]; then
		problem "$1 exited with status $rc"
		return 1
	fi
}

# indent TEXT: TEXT shifted under its command, nothing when empty.
indent() { [ -z "$1" ] || printf '%s\n' "$1" | sed -e '/^$/d' -e 's/^/  /'; }

problem() { printf '%s  FAILED: %s%s\n' "$red" "$*" "$reset"; }

# check WHAT COMMAND...: a check of the last result.
check() {
	local what=$1
	shift
	if "$@"; then
		printf '%s  ok: %s%s\n' "$green" "$what" "$reset"
	else
		problem "$what"
		return 1
	fi
}
has() { grep -qF -- "$2" <<<"$1"; }

# page PORT: what curl reads from 127.0.0.1:PORT (the page, tags stripped, one line).
page() {
	curl -s --max-time 2 "http://127.0.0.1:$1/" | sed 's/<[^>]*>//g' | tr -s ' \n' ' '
}

# serves PORT TEXT [SECONDS]: print the curl command, wait until the page holds TEXT.
serves() {
	local i t=${3:-20} p
	printf '%s$ curl -s http://127.0.0.1:%s/%s\n' "$bold" "$1" "$reset"
	for ((i = 0; i < t * 10; i++)); do
		p=$(page "$1")
		if has "$p" "$2"; then
			printf '  %s\n' "${p:0:120}"
			printf '%s  ok: port %s serves "%s"%s\n' "$green" "$1" "$2" "$reset"
			return 0
		fi
		sleep 0.1
	done
	printf '  %s\n' "${p:0:120}"
	problem "port $1 does not serve \"$2\" after ${t}s"
	return 1
}

# port_free PORT: nothing listens on it (TCP, any address).
port_free() {
	[ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
}

# pick_port WANTED: WANTED when free, else a free port the kernel picks (and says so).
pick_port() {
	if port_free "$1"; then
		echo "$1"
		return
	fi
	local p
	p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
	echo "  note: port $1 is in use on this machine, the demo uses $p instead" >&2
	echo "$p"
}

# have CMD...: this build has `berth CMD`.
have() { "$BERTH" "$@" --help >/dev/null 2>&1; }

# need CMD...: the step's commands; sets $missing to the first one this build lacks.
need() {
	local c
	missing=
	for c in "$@"; do
		# shellcheck disable=SC2086 # "registry serve" is two words
		have $c || {
			missing=$c
			return 1
		}
	done
}

# start_registry NAME [SERVE ARGS...]: `berth registry serve` on 127.0.0.1 with a port the
# kernel picks (read back from its first log line); sets REG_HOST.
start_registry() {
	local name=$1 log=$DEMO/$1.log i port=
	shift
	printf '%s$ berth registry serve --addr 127.0.0.1:0 --root %s %s &%s\n' \
		"$bold" "$DEMO/$name" "$(quote "$@")" "$reset"
	"$BERTH" registry serve --addr 127.0.0.1:0 --root "$DEMO/$name" "$@" 2>"$log" &
	local pid=$!
	REG_PIDS+=("$pid")
	for ((i = 0; i < 100; i++)); do
		port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$log" | head -1)
		[ -n "$port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if [ -z "$port" ]; then
		cat "$log"
		problem "the registry did not start"
		return 1
	fi
	REG_HOST=127.0.0.1:$port
	local code
	for ((i = 0; i < 100; i++)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://$REG_HOST/v2/")
		if [ "$code" = 200 ] || [ "$code" = 401 ]; then
			printf '%s  ok: registry %s answers on http://%s/v2/ (pid %s)%s\n' \
				"$green" "$name" "$REG_HOST" "$pid" "$reset"
			INSECURE+=("$REG_HOST")
			write_config
			return 0
		fi
		sleep 0.05
	done
	problem "the registry at $REG_HOST does not answer"
	return 1
}

# --- steps ---------------------------------------------------------------------------------

NAMES=() RESULTS=() TIMES=()
failed=0
# The steps build on each other (the course's containers and images): after a skip, the
# later steps are skipped too, naming the step they needed.
skipped_at=
# For the tests of the demo itself: DEMO_FAIL_AT=N fails step N after its commands ran, to
# show that the trap cleans up what the steps started.
FAIL_AT=${DEMO_FAIL_AT:-0}

# [ALWAYS=1] step TITLE FUNCTION [NEEDED COMMAND...]: run FUNCTION as one step unless an
# earlier step failed or was skipped (ALWAYS=1: runs after a skip), or this build lacks a
# command; record result and time.
step() {
	local title=$1 fn=$2 result t0 t1 n
	shift 2
	NAMES+=("$title")
	n=${#NAMES[@]}
	printf '\n%s%d. %s%s\n' "$bold" "$n" "$title" "$reset"
	t0=$(date +%s.%N)
	if [ "$failed" = 1 ]; then
		result="not run"
		echo "  not run: an earlier step failed"
	elif [ -n "$skipped_at" ] && [ "${ALWAYS:-0}" != 1 ]; then
		result="skipped: needs step $skipped_at"
		printf '%s  %s%s\n' "$yellow" "$result" "$reset"
	elif ! need "$@"; then
		result="skipped: $missing not available yet"
		skipped_at=$n
		printf '%s  %s%s\n' "$yellow" "$result" "$reset"
	elif "$fn" && { [ "$FAIL_AT" != "$n" ] || ! problem "DEMO_FAIL_AT=$n"; }; then
		result=ok
	else
		result=FAILED
		failed=1
	fi
	t1=$(date +%s.%N)
	RESULTS+=("$result")
	TIMES+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1fs", b - a }')")
}

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/berth-demo
NGINX_TAR=$CACHE/nginx-1.22.tar

s_image() {
	if [ "$QUICK" = 1 ]; then
		echo "  quick mode: busybox's httpd plays nginx, serving /usr/share/nginx/html on port 80"
		# shellcheck source=../tests/cli/helpers.bash
		BATS_TEST_DIRNAME=$SRC/tests/cli source "$SRC/tests/cli/helpers.bash" || return 1
		make_busybox_rootfs "$DEMO/work/rootfs" || return 1
		tar -C "$DEMO/work/rootfs" --numeric-owner -cf "$DEMO/work/busybox.tar" . || return 1
		# httpd as PID 1 has no handler for SIGTERM, so stop would wait its 10 s for
		# nothing: SIGKILL is its graceful stop (nginx's image says SIGQUIT).
		b import -c 'CMD ["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]' \
			-c 'EXPOSE 80' -c 'STOPSIGNAL SIGKILL' -m 'busybox httpd playing nginx' \
			"$DEMO/work/busybox.tar" nginx:1.22 || return 1
	else
		if [ -s "$NGINX_TAR" ]; then
			echo "  cached: $NGINX_TAR"
		else
			echo "  not cached yet: mmdebstrap --variant=minbase --include=nginx-light bookworm - | berth import ... - nginx:1.22"
			echo "  (see scripts/make-nginx-image.sh; about a minute, only this once)"
			command -v mmdebstrap >/dev/null || {
				problem "mmdebstrap is not installed (make deps installs it)"
				return 1
			}
			printf '%s$ scripts/make-nginx-image.sh %s%s\n' "$bold" "$NGINX_TAR" "$reset"
			BERTH=$BERTH "$SRC/scripts/make-nginx-image.sh" "$NGINX_TAR" || {
				problem "the nginx image could not be made"
				return 1
			}
		fi
		b load -i "$NGINX_TAR" || return 1
	fi
	# The command as history shows it (CREATED BY of a commit).
	CMD=$("$BERTH" image inspect -f '{{json .Config.Cmd}}' nginx:1.22 | jq -r 'join(" ")') || {
		problem "no command in nginx:1.22"
		return 1
	}
	b images nginx || return 1
	check "nginx:1.22 is in the store" has "$out" "1.22"
	b image inspect -f '{{json .Config.Cmd}} {{json .Config.ExposedPorts}}' nginx:1.22 || return 1
	check "it serves on port 80" has "$out" '"80/tcp"'
}

s_hub() {
	start_registry hub || return 1
	HUB=$REG_HOST
	echo "  this registry stands in for Docker Hub: library/nginx there is what 'berth pull nginx' fetches"
	b tag nginx:1.22 "$HUB/library/nginx:1.22" || return 1
	b push "$HUB/library/nginx:1.22" || return 1
	sh_ curl -s "http://$HUB/v2/library/nginx/tags/list" || return 1
	check "the hub lists library/nginx:1.22" has "$out" '"1.22"'
	b rmi nginx:1.22 "$HUB/library/nginx:1.22" || return 1
	b images -q || return 1
	check "the local store is empty: from here on, images come by pull" test -z "$out"
}

s_pull() {
	b pull "$HUB/library/nginx:1.22" || return 1
	# With the real Docker Hub this is `berth pull nginx`: the short name is the hub's.
	b tag "$HUB/library/nginx:1.22" nginx || return 1
	b images || return 1
	check "nginx is listed" has "$out" "nginx"
}

s_run1() {
	P1=$(pick_port 9999)
	b run -d --name commit_test_container -p "$P1:80" nginx || return 1
	b ps || return 1
	check "commit_test_container is up" has "$out" "commit_test_container"
	serves "$P1" "Welcome to nginx!"
}

s_exec() {
	b exec commit_test_container sh -c 'echo "hello!" > /usr/share/nginx/html/index.html' || return 1
	serves "$P1" "hello!"
}

s_commit1() {
	b commit -a "user1" -m "first commit" commit_test_container commit_test:1.0 || return 1
	check "commit printed the new image id" grep -qE '^sha256:[0-9a-f]{64}$' <<<"$out"
}

s_look() {
	b images || return 1
	check "commit_test:1.0 is listed" grep -qE '^commit_test +1\.0 ' <<<"$out" || return 1
	b history commit_test:1.0 || return 1
	check "the newest layer carries the message" has "$(sed -n 2p <<<"$out")" "first commit" || return 1
	b image inspect -f '{{.Author}} | {{.Comment}}' commit_test:1.0 || return 1
	check "author and message are in the image" test "$out" = "user1 | first commit"
}

s_run2() {
	P2=$(pick_port 8888)
	b run -d --name commit_test2_container -p "$P2:80" commit_test:1.0 || return 1
	serves "$P2" "hello!"
}

s_cp() {
	echo '<h1>hi!</h1>' >"$DEMO/work/index.html"
	(cd "$DEMO/work" && b cp ./index.html commit_test2_container:/usr/share/nginx/html/index.html) || return 1
	serves "$P2" "hi!" || return 1
	check "and port $P1 still serves hello!" has "$(page "$P1")" "hello!"
}

s_commit2() {
	b commit commit_test2_container commit_test:2.0 || return 1
	b history --format '{{.ID}} | {{.CreatedBy}} | {{.Comment}}' commit_test:2.0 || return 1
	local id1
	id1=$("$BERTH" image inspect -f '{{.Id}}' commit_test:1.0) || return 1
	check "2.0 is one layer on top of 1.0 and its \"first commit\"" \
		test "$(sed -n 2p <<<"$out")" = "${id1:7:12} | $CMD | first commit" || return 1
	check "three layers: nginx, the exec's page, the cp's page" test "$(wc -l <<<"$out")" = 3
}

s_private() {
	local pass
	pass=demo-$RANDOM$RANDOM
	sh_ htpasswd -Bbn user1 "$pass" || return 1
	printf '%s\n' "$out" | grep . >"$DEMO/htpasswd"
	start_registry private --htpasswd "$DEMO/htpasswd" || return 1
	PRIV=$REG_HOST
	b tag commit_test:2.0 "$PRIV/user1/commit_test:2.0" || return 1
	printf '%s$ berth push %s   # before login%s\n' "$bold" "$PRIV/user1/commit_test:2.0" "$reset"
	local o
	if o=$("$BERTH" push "$PRIV/user1/commit_test:2.0" 2>&1); then
		problem "the push went through without a login"
		return 1
	fi
	indent "$o"
	check "without a login the registry refuses" has "$o" "unauthorized" || return 1
	printf '%s$ echo ******** | berth login -u user1 --password-stdin %s%s\n' "$bold" "$PRIV" "$reset"
	out=$(printf '%s\n' "$pass" | "$BERTH" login -u user1 --password-stdin "$PRIV" 2>&1) || {
		indent "$out"
		problem "login failed"
		return 1
	}
	indent "$out"
	check "login succeeded" has "$out" "Login Succeeded" || return 1
	b push "$PRIV/user1/commit_test:2.0" || return 1
	b rmi "$PRIV/user1/commit_test:2.0" commit_test:2.0 || return 1
	b pull "$PRIV/user1/commit_test:2.0" || return 1
	P3=$(pick_port 8080)
	b run -d --name commit_test3_container -p "$P3:80" "$PRIV/user1/commit_test:2.0" || return 1
	serves "$P3" "hi!" || return 1
	b logout "$PRIV" || return 1
	check "the credentials are gone" test "$(jq -r --arg h "$PRIV" '.auths[$h] // "none"' \
		"$DOCKER_CONFIG/config.json" 2>/dev/null || echo none)" = none
}

s_cleanup() {
	local c cs=()
	for c in commit_test_container commit_test2_container commit_test3_container; do
		"$BERTH" inspect "$c" >/dev/null 2>&1 && cs+=("$c")
	done
	if [ ${#cs[@]} -gt 0 ]; then
		b stop "${cs[@]}" || return 1
		b rm "${cs[@]}" || return 1
	fi
	b ps -a || return 1
	check "no container is left" test "$(wc -l <<<"$out")" = 1 || return 1
	local imgs=()
	for c in commit_test:1.0 commit_test:2.0 "${PRIV:-none}/user1/commit_test:2.0"; do
		"$BERTH" image inspect "$c" >/dev/null 2>&1 && imgs+=("$c")
	done
	if [ ${#imgs[@]} -gt 0 ]; then
		b rmi "${imgs[@]}" || return 1
	fi
	b images || return 1
	check "the commits are gone, nginx stays" test "$(grep -c commit_test <<<"$out")" = 0 || return 1
	[ -z "${PRIV:-}" ] || b registry gc --grace 0s --root "$DEMO/private"
}

echo "${bold}berth demo$reset: $([ "$QUICK" = 1 ] && echo "quick mode (busybox as nginx)" || echo "nginx from Debian")," \
	"store $DEMO, bridge $PFX on $NET.0/24"
"$BERTH" version 2>/dev/null | head -n1

T0=$SECONDS
step "An nginx image, made offline" s_image import load images inspect
step "A stand-in for Docker Hub: push nginx there, remove it here" s_hub "registry serve" push tag rmi
step "Pull nginx" s_pull pull tag
step "Run nginx with port 9999 published" s_run1 run ps
step "Change the page from inside with exec" s_exec exec
step "Commit the container as commit_test:1.0" s_commit1 commit
step "Look at the images and the history" s_look images history
step "Run commit_test:1.0 with port 8888 published" s_run2 run
step "Copy a new index.html in with cp" s_cp cp
step "Commit again as commit_test:2.0" s_commit2 commit history
step "A private registry with a password: login, push, pull, run, logout" s_private \
	"registry serve" login push pull logout
ALWAYS=1 step "Clean up: stop, rm, rmi, registry gc" s_cleanup stop rm rmi "registry gc"

# --- the summary ---------------------------------------------------------------------------

nok=0 nskip=0 nfail=0
printf '\n%sSummary%s (%s, %ss in all)\n' "$bold" "$reset" "$([ "$QUICK" = 1 ] && echo quick mode || echo nginx)" $((SECONDS - T0))
for i in "${!NAMES[@]}"; do
	case ${RESULTS[$i]} in
	ok) c=$green nok=$((nok + 1)) ;;
	skipped*) c=$yellow nskip=$((nskip + 1)) ;;
	*) c=$red nfail=$((nfail + 1)) ;;
	esac
	printf '%3d. %-68s %s%-10s%s %7s\n' $((i + 1)) "${NAMES[$i]}" "$c" "${RESULTS[$i]}" "$reset" "${TIMES[$i]}"
done
if [ "$nfail" -gt 0 ]; then
	printf '%sdemo: %d ok, %d skipped, %d failed or not run%s\n' "$red" "$nok" "$nskip" "$nfail" "$reset"
	exit 1
fi
if [ "$nskip" -gt 0 ]; then
	printf '%sdemo: %d steps passed, %d skipped%s\n' "$yellow" "$nok" "$nskip" "$reset"
else
	printf '%sdemo: all %d steps passed%s\n' "$green" "$nok" "$reset"
fi
exit 0
