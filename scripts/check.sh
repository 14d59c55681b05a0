#!/usr/bin/env bash
# berth's whole test run, what `make check` does after scripts/deps.sh:
#
#   ./build       (normal)                           unit, fuzz replays, CLI (bats)
#   ./build-asan  (-Db_sanitize=address,undefined)   unit, fuzz replays, CLI (bats)
#
# Both build dirs are configured when missing and rebuilt incrementally otherwise. Unit tests
# count cmocka cases (their TAP output, from meson's testlog.json), fuzz replays count one per
# target, bats tests one per test. Every part prints its counts and time; the LAST line is
# exactly "N passed, N failed" (", N skipped" when any were), and the exit status is 1 when
# anything failed. What the run makes (logs, sanitizer reports) lives in one temp dir removed
# on exit; the tests list their own dirs there (BERTH_CHECK_DIRS), so that a mount a test
# leaves is undone and counts as a failure; processes the tests leave behind are found by an
# environment tag, killed by PID, and count as a failure too.
#
# Knobs (environment): CHECK_BUILDS="build build-asan" (which of the two to run),
# CHECK_OVERLAP=0 (build ./build-asan only after ./build's tests, not during them),
# CHECK_CLI="tests/cli/0*.bats" (which bats files), BATS_TEST_TIMEOUT (seconds per test,
# default 180), CHECK_FILE_TIMEOUT (seconds per bats file, default 900). The whole run must
# stay well under 25 minutes on the 2-core CI machine: past 20 it says so, and each build's
# CLI part lists its slowest tests.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
SRC=$PWD

CHECK_BUILDS=${CHECK_BUILDS:-build build-asan}
CHECK_CLI=${CHECK_CLI:-tests/cli/*.bats}
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-180}
CHECK_FILE_TIMEOUT=${CHECK_FILE_TIMEOUT:-900}

SAN_ARGS=("-Db_sanitize=address,undefined" -Db_lundef=false)
# The brief's options, plus abort_on_error for UBSan: an abort (status 134) cannot be
# mistaken for berth's own exit status 1 (see tests/cli/helpers.bash).
ASAN_OPTS="detect_leaks=1:abort_on_error=1"
UBSAN_OPTS="print_stacktrace=1:halt_on_error=1:abort_on_error=1"

WORK=$(mktemp -d /tmp/berth-check.XXXXXX) || exit 1
# Every process started under bats carries this in its environment, so the ones left
# behind can be found without guessing at names.
TAG=berth-check-$$-$RANDOM$RANDOM

# tagged_pids: processes (other than this script) whose environment has our tag.
tagged_pids() {
	local e pid
	# One grep over every environment (NUL-separated entries, -z) lists the matching files.
	grep -lxzF "BERTH_CHECK_TAG=$TAG" /proc/[0-9]*/environ 2>/dev/null |
		while read -r e; do
			pid=${e#/proc/}
			pid=${pid%/environ}
			# Never this script (bats gets the tag, check.sh does not: belt and braces).
			[ "$pid" = $$ ] || echo "$pid"
		done
}

# is_below PID ANCESTOR: whether PID descends from ANCESTOR (following PPid in /proc).
is_below() {
	local p=$1 st _state
	while [ "$p" -gt 1 ]; do
		[ "$p" = "$2" ] && return 0
		st=$(cat "/proc/$p/stat" 2>/dev/null) || return 1
		# The fields after the command name, which may itself hold ") ".
		read -r _state p _ <<<"${st##*) }"
	done
	return 1
}

# bats_done TAPFILE: the plan is printed and every test has reported.
bats_done() {
	local plan
	plan=$(grep -m1 -oE '^1\.\.[0-9]+' "$1") || return 1
	[ "$(grep -cE '^(not )?ok [0-9]+' "$1")" -ge "${plan#1..}" ]
}

# mounts_below DIR: mount points at or below DIR, deepest first.
mounts_below() {
	awk -v d="$1" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/self/mounts | sort -r
}

# Each test lists its dir in this file (tests/cli/helpers.bash), for clean_test_dirs.
TEST_DIRS=$WORK/test-dirs

# clean_test_dirs: unmount and remove what the tests left; prints the mounts it undid.
clean_test_dirs() {
	[ -f "$TEST_DIRS" ] || return 0
	local d m
	while read -r d; do
		case $d in /*/berth-bats.*) ;; *) continue ;; esac
		[ -d "$d" ] || continue
		for m in $(mounts_below "$d"); do
			umount -l "$m" 2>/dev/null
			echo "$m"
		done
		rm -rf --one-file-system "$d"
	done <"$TEST_DIRS"
	: >"$TEST_DIRS"
}

# kill_tree PID: PID and all its descendants, children first.
kill_tree() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		kill_tree "$c"
	done
	kill -KILL "$1" 2>/dev/null
}

cleanup() {
	local p m
	[ -z "${BG_PID:-}" ] || kill_tree "$BG_PID"
	for p in $(tagged_pids); do
		kill -KILL "$p" 2>/dev/null
	done
	clean_test_dirs >/dev/null
	for m in $(mounts_below "$WORK"); do
		umount -l "$m" 2>/dev/null
	done
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

total_pass=0
total_fail=0
total_skip=0
summary=()
failures=()

fmt_time() {
	local s=$1
	if [ "$s" -ge 60 ]; then
		printf '%dm%02ds' $((s / 60)) $((s % 60))
	else
		printf '%ds' "$s"
	fi
}

# record PART PASSED FAILED SKIPPED SECONDS [NOTE]
record() {
	local part=$1 p=$2 f=$3 s=$4 t=$5 note=${6:-}
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + s))
	summary+=("$(printf '%-18s %7s %7s %8s %8s  %s' "$part" "$p" "$f" "$s" "$(fmt_time "$t")" "$note")")
	printf '== %s: %d passed, %d failed, %d skipped (%s)%s\n' "$part" "$p" "$f" "$s" \
		"$(fmt_time "$t")" "${note:+, $note}"
}

option_value() { # BUILDDIR OPTION: the option's current value, as meson prints it
	meson introspect --buildoptions "$1" 2>/dev/null |
		python3 -c 'import json,sys
for o in json.load(sys.stdin):
    if o["name"] == sys.argv[1]:
        v = o["value"]
        print(",".join(v) if isinstance(v, list) else str(v).lower())' "$2"
}

# build_dir DIR [MESON ARGS...]: configure when needed, then ninja. Returns ninja's status.
build_dir() {
	local dir=$1
	shift
	local log=$WORK/build-$dir.log
	if [ ! -f "$dir/build.ninja" ]; then
		local wipe=()
		[ -d "$dir/meson-private" ] && wipe=(--wipe)
		"${NICE[@]}" meson setup "${wipe[@]}" "$dir" "$@" >"$log" 2>&1 || { cat "$log"; return 1; }
	elif [ $# -gt 0 ] && [ "$(option_value "$dir" b_sanitize)" != "address,undefined" ]; then
		"${NICE[@]}" meson configure "$dir" "$@" >"$log" 2>&1 || { cat "$log"; return 1; }
	fi
	if ! "${NICE[@]}" ninja -C "$dir" >>"$log" 2>&1; then
		# From the first failed step: the compiler's or linker's own words.
		sed -n '/^FAILED:/,$p' "$log" | grep -v '^\[' | head -n 40
		return 1
	fi
	BUILD_WARNINGS=$(grep -c 'warning:' "$log")
	[ "$BUILD_WARNINGS" -eq 0 ] || grep 'warning:' "$log" | head -n 20
	return 0
}

# parse_testlog MODE TESTLOG_JSON: MODE "unit" counts TAP cases (CMOCKA_MESSAGE_OUTPUT=TAP;
# a program that dies early fails its unrun cases, a non-zero exit with every case passed is one
# more failure); MODE "fuzz" counts one per target. Prints the failures, then "P F S NOTE".
parse_testlog() {
	python3 -c "$PARSE_TESTLOG_PY" "$@"
}
read -r -d '' PARSE_TESTLOG_PY <<'EOF'
import json, re, sys
mode = sys.argv[1]
P = F = S = 0
inputs = 0
out = []
for line in open(sys.argv[2], encoding="utf-8", errors="replace"):
    line = line.strip()
    if not line:
        continue
    t = json.loads(line)
    name, rc = t.get("name", "?"), t.get("returncode", -1)
    text = t.get("stdout", "") or ""
    err = t.get("stderr", "") or ""
    ok = t.get("result") == "OK"
    if mode == "fuzz":
        m = re.search(r"replayed (\d+) inputs", text)
        inputs += int(m.group(1)) if m else 0
        if ok:
            P += 1
        elif t.get("result") == "SKIP":
            S += 1
        else:
            F += 1
            out.append("FAIL fuzz %s (%s, exit status %s)" % (name, t.get("result"), rc))
            out += ["  " + l for l in (text + err).splitlines()[-30:]]
        continue
    plan = passed = failed = skipped = 0
    lines = text.splitlines()
    for i, l in enumerate(lines):
        m = re.match(r"1\.\.(\d+)", l)
        if m:
            plan += int(m.group(1))
        elif re.match(r"not ok \d+ # SKIP", l):
            skipped += 1
        elif re.match(r"ok \d+", l):
            passed += 1
        elif re.match(r"not ok \d+", l):
            failed += 1
            out.append("FAIL unit %s: %s" % (name, l))
            for d in lines[i + 1:i + 15]:
                if not d.startswith("#"):
                    break
                out.append("  " + d)
    missing = plan - passed - failed - skipped
    # After its cases a program can still die: a leak found at exit, a crash in teardown.
    # cmocka's own exit status is the number of failed cases, so only a signal (meson
    # reports -N), a sanitizer report, or a failure status without failed cases counts.
    died = rc < 0 or re.search(r"ERROR: (Address|Leak)Sanitizer|runtime error:", text + err)
    if missing > 0 or plan == 0 or died or (rc != 0 and failed == 0):
        n = max(missing, 1)
        failed += n
        out.append("FAIL unit %s: %d case(s) not run or failed outside a case (%s, exit status %s)"
                   % (name, n, t.get("result"), rc))
        out += ["  " + l for l in (text + err).splitlines()[-30:]]
    P += passed
    F += failed
    S += skipped
for l in out:
    print(l)
note = "%d inputs" % inputs if mode == "fuzz" else ""
print("%d %d %d %s" % (P, F, S, note))
EOF

# meson_suite BUILDDIR SUITE [MESON TEST ARGS...]
meson_suite() {
	local dir=$1 suite=$2
	shift 2
	local t0=$SECONDS log=$dir/meson-logs/testlog.json
	rm -f "$log"
	CMOCKA_MESSAGE_OUTPUT=TAP meson test -C "$dir" --no-rebuild --suite "$suite" "$@" \
		>"$WORK/meson-$suite.log" 2>&1 </dev/null
	local res
	if [ -f "$log" ]; then
		res=$(parse_testlog "$suite" "$log")
		# The next suite's run overwrites meson's log: keep this one.
		cp "$dir/meson-logs/testlog.txt" "$dir/meson-logs/check-$suite.txt" 2>/dev/null
	elif grep -q 'No suitable tests defined' "$WORK/meson-$suite.log"; then
		res="0 0 0 no tests"
	else
		cat "$WORK/meson-$suite.log"
		res="0 1 0 meson test failed to run"
	fi
	local counts=${res##*$'\n'}
	[ "$counts" = "$res" ] || { printf '%s\n' "${res%$'\n'*}"; failures+=("$dir/$suite"); }
	local p f s note
	read -r p f s note <<<"$counts"
	record "$dir/$suite" "$p" "$f" "$s" $((SECONDS - t0)) "$note"
}

# cli_suite BUILDDIR: every bats file in order, with the build's berth.
cli_suite() {
	local dir=$1 sanitized=$2
	local t0=$SECONDS P=0 F=0 S=0 file
	local san_dir=$WORK/sanitizer-$dir
	local log=$dir/meson-logs/check-cli.log
	: >"$log"
	mkdir -p "$san_dir"
	local env=(BERTH_CHECK_TAG="$TAG" BERTH_CHECK_DIRS="$TEST_DIRS" BERTH="$SRC/$dir/berth")
	if [ "$sanitized" = 1 ]; then
		# Per test, helpers.bash points log_path into the test's own dir; this catches
		# the rest (setup_file, helpers run outside a test).
		env+=(ASAN_OPTIONS="$ASAN_OPTS:log_path=$san_dir/asan" UBSAN_OPTIONS="$UBSAN_OPTS")
	fi
	for file in $CHECK_CLI; do
		[ -f "$file" ] || continue
		local out=$WORK/bats.out t1=$SECONDS
		env "${env[@]}" timeout -k 10 "$CHECK_FILE_TIMEOUT" bats --tap --timing "$file" >"$out" 2>&1 </dev/null &
		local bpid=$! since='' desc='' pid
		while kill -0 "$bpid" 2>/dev/null; do
			sleep 0.2
			# Every test has reported but bats runs on: a process a test left behind
			# holds bats' output pipe open, and bats waits for it. Give it 5 s, then
			# kill the tagged processes that are no longer below bats.
			[ -z "$since" ] && bats_done "$out" && since=$SECONDS
			if [ -n "$since" ] && [ $((SECONDS - since)) -ge 5 ]; then
				for pid in $(tagged_pids); do
					is_below "$pid" "$bpid" && continue
					desc+=" $pid($(tr -d '\n' </proc/"$pid"/comm 2>/dev/null))"
					kill -KILL "$pid" 2>/dev/null
				done
				since=$SECONDS
			fi
		done
		wait "$bpid"
		local rc=$?
		local plan p f s
		plan=$(grep -m1 -oE '^1\.\.[0-9]+' "$out" | cut -d. -f3)
		p=$(grep -E '^ok [0-9]+' "$out" | grep -vc ' # skip')
		s=$(grep -E '^ok [0-9]+' "$out" | grep -c ' # skip')
		f=$(grep -cE '^not ok [0-9]+' "$out")
		local missing=$((${plan:-0} - p - f - s))
		local extra=()
		if [ "$missing" -gt 0 ]; then
			f=$((f + missing))
			extra+=("$missing test(s) did not report (bats exit status $rc)")
		elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=$((f + 1))
			extra+=("bats exit status $rc with no failed test")
		fi

		# Leftovers: processes (after a grace period to exit), mounts, stray sanitizer logs.
		local left
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			left=$(tagged_pids)
			[ -z "$left" ] && break
			sleep 0.3
		done
		for pid in $left; do
			desc+=" $pid($(tr -d '\n' </proc/"$pid"/comm 2>/dev/null))"
			kill -KILL "$pid" 2>/dev/null
		done
		if [ -n "$desc" ]; then
			f=$((f + 1))
			extra+=("left processes behind, killed:$desc")
		fi
		local mounts
		mounts=$(clean_test_dirs | tr '\n' ' ')
		if [ -n "$mounts" ]; then
			f=$((f + 1))
			extra+=("left mounts behind, unmounted: $mounts")
		fi
		if [ -n "$(ls -A "$san_dir")" ]; then
			f=$((f + 1))
			extra+=("sanitizer reports outside any test:"$'\n'"$(cat "$san_dir"/* | head -n 40 | sed 's/^/       /')")
			rm -f "$san_dir"/*
		fi

		{
			echo "### $file"
			cat "$out"
			[ ${#extra[@]} -eq 0 ] || printf '# check.sh: %s\n' "${extra[@]}"
		} >>"$log"
		printf '   %-40s %3d passed, %d failed, %d skipped (%s)\n' "$file" "$p" "$f" "$s" \
			"$(fmt_time $((SECONDS - t1)))"
		if [ "$f" -gt 0 ]; then
			failures+=("$dir/cli:${file##*/}")
			# Each failed test with its diagnostics (bats prints them as "# " lines).
			awk '/^not ok /{show=1; n=0; print "     " $0; next}
			     /^ok /{show=0}
			     show && /^#/ && n++ < 40 {print "     " $0}' "$out"
			local e
			for e in "${extra[@]}"; do
				echo "     FAIL $file: $e"
			done
		fi
		# "ok 3 name in 1234ms": for the slowest tests below.
		sed -nE "s/^(not )?ok [0-9]+ (.*) in ([0-9]+)ms.*/\3\t${file##*/}: \2/p" "$out" >>"$WORK/timings-$dir"
		P=$((P + p))
		F=$((F + f))
		S=$((S + s))
	done
	if [ -s "$WORK/timings-$dir" ]; then
		echo "   slowest:"
		sort -t $'\t' -k1,1nr "$WORK/timings-$dir" | head -n 5 |
			awk -F '\t' '{printf "   %8.1fs  %s\n", $1 / 1000, $2}'
	fi
	record "$dir/cli" "$P" "$F" "$S" $((SECONDS - t0))
}

# build_step DIR: configure and build DIR, keeping what to report in $WORK/built-DIR
# ("STATUS SECONDS WARNINGS") and $WORK/built-DIR.out (errors, warnings), so that it can run
# in the background.
build_step() {
	local dir=$1 t0=$SECONDS rc
	BUILD_WARNINGS=0
	if [ "$dir" = build-asan ]; then
		build_dir "$dir" "${SAN_ARGS[@]}"
	else
		build_dir "$dir"
	fi >"$WORK/built-$dir.out" 2>&1
	rc=$?
	echo "$rc $((SECONDS - t0)) $BUILD_WARNINGS" >"$WORK/built-$dir"
}

# report_build DIR: print and record how DIR's build went; status 1 when it failed.
report_build() {
	local dir=$1 rc=1 secs=0 warnings=0
	[ -f "$WORK/built-$dir" ] && read -r rc secs warnings <"$WORK/built-$dir"
	cat "$WORK/built-$dir.out" 2>/dev/null
	if [ "$rc" -ne 0 ]; then
		failures+=("$dir (build)")
		record "$dir" 0 1 0 "$secs" "BUILD FAILED, its tests not run"
		return 1
	fi
	record "$dir" 0 0 0 "$secs" "built, $warnings warning(s)"
}

# test_build DIR: unit, fuzz and CLI suites of a built DIR.
test_build() {
	local dir=$1 sanitized=0
	[ "$dir" = build-asan ] && sanitized=1
	if [ "$sanitized" = 1 ]; then
		export ASAN_OPTIONS=$ASAN_OPTS UBSAN_OPTIONS=$UBSAN_OPTS
		meson_suite "$dir" unit --timeout-multiplier 4
		meson_suite "$dir" fuzz --timeout-multiplier 4
		unset ASAN_OPTIONS UBSAN_OPTIONS
	else
		meson_suite "$dir" unit
		meson_suite "$dir" fuzz
	fi
	cli_suite "$dir" "$sanitized"
}

start=$SECONDS
read -r -a builds <<<"$CHECK_BUILDS"
for b in "${builds[@]}"; do
	case $b in
	build | build-asan) ;;
	*)
		echo "check.sh: unknown build '$b' (build, build-asan)" >&2
		exit 2
		;;
	esac
done
NICE=()
BG_PID=
for i in "${!builds[@]}"; do
	b=${builds[$i]}
	echo "== $b: configure + build"
	if [ -n "$BG_PID" ]; then
		wait "$BG_PID"
		BG_PID=
	else
		build_step "$b"
	fi
	report_build "$b" || continue
	# The next build compiles, at the lowest priority, while this one's tests run: they
	# spend much of their time waiting (daemons, registries, sleeps), and the 2 cores idle.
	next=${builds[$((i + 1))]:-}
	if [ -n "$next" ] && [ "${CHECK_OVERLAP:-1}" = 1 ]; then
		(
			NICE=(nice -n 19)
			build_step "$next"
		) &
		BG_PID=$!
	fi
	test_build "$b"
done

echo
printf '%-18s %7s %7s %8s %8s\n' part passed failed skipped time
printf '%s\n' "${summary[@]}"
printf '%-18s %7d %7d %8d %8s\n' total "$total_pass" "$total_fail" "$total_skip" \
	"$(fmt_time $((SECONDS - start)))"
if [ ${#failures[@]} -gt 0 ]; then
	echo
	echo "failed: ${failures[*]}"
	echo "logs: <build>/meson-logs/check-unit.txt, check-fuzz.txt (meson), check-cli.log (bats)"
fi
elapsed=$((SECONDS - start))
if [ "$elapsed" -gt 1200 ]; then
	echo
	echo "check: WARNING: $(fmt_time "$elapsed") is close to or over the 25-minute budget; see the slowest tests above"
fi
line="$total_pass passed, $total_fail failed"
[ "$total_skip" -gt 0 ] && line+=", $total_skip skipped"
echo "$line"
[ "$total_fail" -eq 0 ]
