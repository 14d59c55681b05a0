#!/usr/bin/env bats
# The frame every other command relies on: global options, help, version, info, the config
# file and Docker's exit code 125 for engine-level usage errors.

load helpers

@test "berth --help lists the global options and the commands" {
	run_berth --help
	assert_contains "$output" "Usage:  berth [OPTIONS] COMMAND"
	local o
	for o in --config --log-level --root --runroot --version; do
		assert_contains "$output" "$o"
	done
	local c
	for c in images import load save tag rmi inspect history info version; do
		[[ "$output" =~ $'\n'"  $c " ]] || die "command '$c' missing from --help"
	done

	# -h and no command at all print the same text.
	local help=$output
	run_berth -h
	assert_equal "$output" "$help"
	run_berth
	assert_equal "$output" "$help"
}

@test "berth version prints the version of meson.build and a commit" {
	local want
	want=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$BATS_TEST_DIRNAME/../../meson.build" | head -n1)
	[ -n "$want" ] || die "no version in meson.build"

	run_berth version
	assert_contains "$output" "Version:      $want"
	[[ "$output" =~ Git\ commit:\ +([0-9a-f]{7,}|unknown) ]] || die "no commit: $output"
	[[ "$output" =~ OS/Arch:\ +linux/ ]] || die "no OS/Arch: $output"

	# -v is version; --format json is JSON carrying the same version.
	local plain=$output
	run_berth -v
	assert_equal "$output" "$plain"
	run_berth version --format json
	assert_equal "$(jq -r .Version <<<"$output")" "$want"
	assert_equal "$(jq -r .Os <<<"$output")" "linux"
	run_berth version --format '{{.Version}}'
	assert_equal "$output" "$want"
}

@test "berth info shows the root, the runroot, the cgroup layout and the libraries" {
	run_berth info
	[[ "$output" =~ Root\ Dir:\ +"$BERTH_ROOT"$'\n' ]] || die "root missing: $output"
	[[ "$output" =~ Run\ Root:\ +"$BERTH_RUNROOT"$'\n' ]] || die "runroot missing: $output"
	[[ "$output" =~ Config\ File:\ +"$BERTH_CONFIG"$'\n' ]] || die "config missing: $output"

	# The layout, found independently with stat(1) file system types.
	local want
	case $(stat -f -c %T /sys/fs/cgroup) in
	cgroup2fs) want="v2" ;;
	tmpfs)
		if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
			want="hybrid"
		else
			want="v1"
		fi
		;;
	*) want="unknown" ;;
	esac
	[[ "$output" =~ Cgroup\ Layout:\ +$want ]] || die "expected layout $want: $output"
	assert_contains "$output" "Kernel Version:   $(uname -r)"

	# Each library berth links, at the version its development package declares.
	local pc line
	for pc in libarchive:libarchive libcurl:libcurl libmicrohttpd:libmicrohttpd \
		jansson:jansson OpenSSL:libcrypto zlib:zlib zstd:libzstd libseccomp:libseccomp; do
		line=$(grep "^ ${pc%%:*}:" <<<"$output") || die "library ${pc%%:*} missing: $output"
		assert_contains "$line" "$(pkg-config --modversion "${pc#*:}")"
	done
}

@test "berth help COMMAND is berth COMMAND --help" {
	local c
	for c in version info; do
		run_berth "$c" --help
		local want=$output
		assert_contains "$want" "Usage:  berth $c"
		run_berth help "$c"
		assert_equal "$output" "$want"
	done
	run_berth 1 help nosuchcommand
	assert_contains "$output" "unknown help topic 'nosuchcommand'"

	run "$BERTH" images --help
	if [[ "$output" == *"not implemented yet"* ]]; then
		skip "berth images is not implemented yet"
	fi
	[ "$status" -eq 0 ] || die "images --help: status $status: $output"
	local want=$output
	assert_contains "$want" "Usage:  berth images"
	run_berth help images
	assert_equal "$output" "$want"
	run_berth help image ls
	assert_equal "$output" "$want"
}

@test "unknown command: exit 125 and a message" {
	run_berth 125 nosuchcommand
	assert_contains "$output" "'nosuchcommand' is not a berth command"
	assert_contains "$output" "See 'berth --help'"
}

@test "unknown flag: exit 125, globally and for a command" {
	run_berth 125 --bogus version
	assert_contains "$output" "unknown flag: --bogus"

	run_berth 125 version --bogus
	assert_contains "$output" "berth: version: unknown flag: --bogus"
	assert_contains "$output" "See 'berth version --help'"

	run_berth 125 info -Z
	assert_contains "$output" "berth: info: unknown shorthand flag: 'Z' in -Z"

	# A global option without its value.
	run_berth 125 --root
	assert_contains "$output" "flag needs an argument: --root"
}

@test "--root, --runroot, BERTH_ROOT and the config file choose the directories" {
	local d=$TEST_DIR

	# --root DIR and --runroot=DIR beat the environment.
	run_berth --root "$d/r1" --runroot="$d/run1" info
	[[ "$output" =~ Root\ Dir:\ +"$d/r1"$'\n' ]] || die "--root ignored: $output"
	[[ "$output" =~ Run\ Root:\ +"$d/run1"$'\n' ]] || die "--runroot ignored: $output"

	# The environment beats the config file.
	printf '{"root": "%s", "runroot": "%s"}\n' "$d/r3" "$d/run3" >"$BERTH_CONFIG"
	BERTH_ROOT=$d/r2 BERTH_RUNROOT=$d/run2 run_berth info
	[[ "$output" =~ Root\ Dir:\ +"$d/r2"$'\n' ]] || die "BERTH_ROOT ignored: $output"
	[[ "$output" =~ Run\ Root:\ +"$d/run2"$'\n' ]] || die "BERTH_RUNROOT ignored: $output"

	# Without both, the config file decides.
	unset BERTH_ROOT BERTH_RUNROOT
	run_berth info
	[[ "$output" =~ Root\ Dir:\ +"$d/r3"$'\n' ]] || die "config root ignored: $output"
	[[ "$output" =~ Run\ Root:\ +"$d/run3"$'\n' ]] || die "config runroot ignored: $output"

	# --config beats BERTH_CONFIG.
	printf '{"root": "%s"}\n' "$d/r4" >"$d/other.json"
	run_berth --config "$d/other.json" info
	[[ "$output" =~ Root\ Dir:\ +"$d/r4"$'\n' ]] || die "--config ignored: $output"
	[[ "$output" =~ Config\ File:\ +"$d/other.json"$'\n' ]] || die "--config not shown: $output"

	# Looking is not creating: info leaves the directories alone.
	[ ! -e "$d/r1" ] && [ ! -e "$d/r2" ] && [ ! -e "$d/run1" ] || die "info created a directory"
}

@test "config file: bad JSON names the file and the line, exit 125" {
	printf '{\n  "root": "/x",\n  "runroot": \n}\n' >"$BERTH_CONFIG"
	run_berth 125 info
	assert_contains "$output" "config '$BERTH_CONFIG'"
	assert_contains "$output" "line 4"

	# Not an object at all.
	echo '[1, 2]' >"$BERTH_CONFIG"
	run_berth 125 version
	assert_contains "$output" "config '$BERTH_CONFIG'"
	assert_contains "$output" "must be an object"
}

@test "config file: an unknown key or a wrong type is named, exit 125" {
	printf '{\n  "root": "/x",\n\n  "no-such-key": true\n}\n' >"$BERTH_CONFIG"
	run_berth 125 info
	assert_contains "$output" "config '$BERTH_CONFIG'"
	assert_contains "$output" "line 4"
	assert_contains "$output" "unknown key 'no-such-key'"

	printf '{"log-level": 3}\n' >"$BERTH_CONFIG"
	run_berth 125 info
	assert_contains "$output" "'log-level' must be a string"

	# A config file named explicitly must exist.
	run_berth 125 --config "$TEST_DIR/missing.json" info
	assert_contains "$output" "config '$TEST_DIR/missing.json'"
}

@test "--log-level: a bad level is an error, exit 125" {
	run_berth 125 --log-level loud info
	assert_contains "$output" "unable to parse logging level: loud"
	run_berth --log-level debug version
	assert_contains "$output" "Version:"
}
