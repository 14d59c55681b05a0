#!/usr/bin/env bats
# The documentation against the binary under test: the command pages and every berth
# command line in the docs (scripts/doccheck.sh), the man pages made from them
# (scripts/gen-man.sh, `make man`), and the bash completion (contrib/completion/berth.bash),
# which reads the same --help at Tab time. Commands, flags and aliases are read from $BERTH,
# never listed here, so the tests follow the commands as they land.

load helpers

SRC=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

# help_flags CMD...: the flags `berth CMD --help` prints, long and short, one per line.
help_flags() {
	"$BERTH" "$@" --help | awk '
		/^[ \t]*$/ { on = 0; next }
		/^Options:/ { on = 1; next }
		on { for (i = 1; i <= NF; i++) { f = $i; sub(/,$/, "", f); if (f ~ /^-/) print f; else break } }'
}

# doccheck ARGS...: run scripts/doccheck.sh on $BERTH, keeping $output and $status.
doccheck() {
	run "$SRC/scripts/doccheck.sh" --berth "$BERTH" "$@"
}

# copy_docs: a copy of docs/ under $TEST_DIR to break on purpose; prints its path.
copy_docs() {
	cp -r "$SRC/docs" "$TEST_DIR/docs"
	echo "$TEST_DIR/docs"
}

# problems: the problem count of the last doccheck.
problems() {
	[[ $output =~ ([0-9]+)\ problems ]] || die "no summary in: $output"
	echo "${BASH_REMATCH[1]}"
}

@test "docs: every command has a page that matches its --help; doc command lines use real flags" {
	doccheck
	echo "$output"
	[ "$status" -eq 0 ] || die "doccheck found the problems above"
	[[ $output =~ doccheck:\ ([0-9]+)\ commands,\ ([0-9]+)\ pages ]] || die "no summary"
	# Every command of `berth --help` was looked at (nested verbs and hidden ones come on top).
	local listed
	listed=$("$BERTH" --help | awk '/^Commands:/ { on = 1; next } on && !NF { exit } on { n++ } END { print n }')
	[ "${BASH_REMATCH[1]}" -ge "$listed" ] ||
		die "checked ${BASH_REMATCH[1]} commands, berth --help lists $listed"
}

@test "docs: doccheck names the page, the command and the flag that drifted" {
	local docs flag base
	docs=$(copy_docs)
	# Problems of the tree as it is are the first test's business: count them, add ours.
	doccheck --docs "$docs"
	base=$(problems)
	# A long flag without a short form: its row names one flag.
	flag=$("$BERTH" images --help | awk '/^      --/ { print $1; exit }')
	[ -n "$flag" ] || die "berth images --help prints no long-only flag"

	# A flag --help prints, dropped from the table; one it does not print, added; a page
	# removed; an example with a flag that does not exist.
	awk -v f="$flag" '!(/^\|/ && (index($0, "`" f "`") || index($0, "`" f " ")))' \
		"$SRC/docs/cmd/berth-images.md" >"$docs/cmd/berth-images.md"
	awk '{ print } /^\|---/ && !done { print "| `--no-such-flag` | made up |"; done = 1 }' \
		"$SRC/docs/cmd/berth-rmi.md" >"$docs/cmd/berth-rmi.md"
	rm "$docs/cmd/berth-tag.md"
	printf '\n    berth history --no-such-option IMAGE\n' >>"$docs/cmd/berth-history.md"
	local line
	line=$(wc -l <"$docs/cmd/berth-history.md")

	doccheck --docs "$docs"
	echo "$output"
	[ "$status" -eq 1 ] || die "doccheck exited $status, expected 1"
	assert_contains "$output" \
		"berth-images.md: berth images: $flag is printed by 'berth images --help' but missing from the options table"
	assert_contains "$output" \
		"berth-rmi.md: berth rmi: --no-such-flag is in the options table but 'berth rmi --help' does not print it"
	assert_contains "$output" "berth-tag.md: berth tag: no page"
	assert_contains "$output" \
		"berth-history.md:$line: berth history: --no-such-option is not an option of 'berth history'"
	[ "$(problems)" -eq $((base + 4)) ] || die "expected exactly 4 problems more than $base"
}

@test "docs: doccheck checks short flags, bundles, values, global options and the synopsis" {
	local docs short
	docs=$(copy_docs)
	short=$(help_flags images | grep -E '^-[a-zA-Z]$' | head -n1)
	[ -n "$short" ] || die "berth images --help prints no short flag"
	# A short flag missing, a wrong Usage line, a bundle with an unknown letter, a value that
	# looks like a flag (must not be read as one), an unknown global option.
	awk -v f="$short" '!(/^\|/ && (index($0, "`" f "`") || index($0, "`" f ",")))' \
		"$SRC/docs/cmd/berth-images.md" >"$docs/cmd/berth-images.md"
	sed -i 's/^    berth history \[OPTIONS\] IMAGE$/    berth history IMAGE/' "$docs/cmd/berth-history.md"
	cat >>"$docs/README.md" <<'EOF'

    berth images -qZ
    berth images --format -q busybox
    berth --no-such-global images
    berth --root /x --log-level=debug images -q
EOF
	local n
	n=$(wc -l <"$docs/README.md")

	doccheck --docs "$docs"
	echo "$output"
	assert_contains "$output" "berth images: $short is printed by 'berth images --help' but missing"
	assert_contains "$output" \
		"berth-history.md: berth history: the synopsis does not show the Usage line 'berth history [OPTIONS] IMAGE'"
	assert_contains "$output" "README.md:$((n - 3)): berth images: -Z is not an option"
	assert_contains "$output" "README.md:$((n - 1)): berth: unknown global option --no-such-global"
	[[ $output != *"README.md:$((n - 2)):"* ]] || die "the value of --format was read as a flag"
	[[ $output != *"README.md:$n:"* ]] || die "valid global options were refused"
	[ "$status" -eq 1 ]
}

@test "docs: doccheck finds aliases and hidden nested verbs, and counts commands not written yet" {
	local docs base
	docs=$(copy_docs)
	doccheck --docs "$docs"
	base=$(problems)
	# `image inspect` is not in `berth --help`: found by asking the group word.
	"$BERTH" image inspect --help >/dev/null || skip "this berth has no 'image inspect'"
	rm "$docs/cmd/berth-image-inspect.md"
	# An alias --help prints must be named on the page.
	local alias
	alias=$("$BERTH" images --help | awk '/^Aliases:/ { getline; n = split($0, a, /, */); for (i = 1; i <= n; i++) { s = a[i]; sub(/^ +/, "", s); if (s != "berth images") { print s; exit } } }')
	[ -n "$alias" ] || die "berth images --help shows no alias"
	local page
	page=$(cat "$SRC/docs/cmd/berth-images.md")
	printf '%s\n' "${page//"$alias"/an alias}" >"$docs/cmd/berth-images.md"
	# A command this berth does not have: counted, not failed.
	printf '\n    berth frobnicate --wobble\n' >>"$docs/tutorial.md"

	doccheck --docs "$docs"
	echo "$output"
	assert_contains "$output" "berth-image-inspect.md: berth image inspect: no page"
	assert_contains "$output" "berth-images.md: berth images: the alias '$alias' is not mentioned"
	grep -q 'does not have yet: .*\bfrobnicate\b' <<<"$output" || die "frobnicate not counted as not written yet"
	[ "$(problems)" -eq $((base + 2)) ] || die "expected exactly 2 problems more than $base"
}

@test "man: every page becomes a man page groff reads without warnings, flags included" {
	command -v groff >/dev/null || skip "groff is not installed (scripts/deps.sh installs groff-base)"
	run "$SRC/scripts/gen-man.sh" "$TEST_DIR/man"
	echo "$output"
	[ "$status" -eq 0 ]
	local md name warnings text
	for md in "$SRC"/docs/cmd/*.md; do
		name=$(basename "$md" .md)
		[ -s "$TEST_DIR/man/man1/$name.1" ] || die "no man page for $name"
		warnings=$(groff -man -Tutf8 -ww -z "$TEST_DIR/man/man1/$name.1" 2>&1)
		[ -z "$warnings" ] || die "$name.1: $warnings"
		head -n3 "$TEST_DIR/man/man1/$name.1" | grep -q "^\.TH \"${name^^}\" \"1\"" ||
			die "$name.1 has no .TH line"
	done

	# The rendered page of images names each flag its --help prints.
	text=$(groff -man -Tutf8 -rLL=200n -rHY=0 -P-cbou "$TEST_DIR/man/man1/berth-images.1")
	assert_contains "$text" "berth images [OPTIONS]"
	local f
	for f in $(help_flags images); do
		assert_contains "$text" "$f"
	done
	# berth(1) lists every command page, and its global options.
	text=$(groff -man -Tutf8 -rLL=200n -rHY=0 -P-cbou "$TEST_DIR/man/man1/berth.1")
	for md in "$SRC"/docs/cmd/berth-*.md; do
		assert_contains "$text" "$(basename "$md" .md)(1)"
	done
	for f in $(help_flags); do
		assert_contains "$text" "$f"
	done
}

# complete LINE: the candidates the completion offers with the cursor at the end of LINE,
# one per line (in a subshell: compopt fails outside a real completion, and bats' errexit
# must not see that).
complete_line() {
	(
		set +eu
		# shellcheck source=/dev/null
		source "$SRC/contrib/completion/berth.bash"
		COMP_LINE=$1
		COMP_POINT=${#1}
		COMP_WORDBREAKS=$' \t\n"\'><=;|&(:'
		_berth
		printf '%s\n' "${COMPREPLY[@]}"
	)
}

@test "completion: commands, nested verbs and flags come from the binary's --help" {
	local out c f
	out=$(complete_line "$BERTH ")
	for c in $("$BERTH" --help | awk '/^Commands:/ { on = 1; next } on && !NF { exit } on { print $1 }'); do
		grep -qxF -- "$c" <<<"$out" || die "'$c' not offered after 'berth ': $out"
	done
	out=$(complete_line "$BERTH ima")
	grep -qx image <<<"$out" || die "'image' (a group word) not offered: $out"
	grep -qx images <<<"$out" || die "'images' not offered: $out"
	grep -v '^ima' <<<"$out" && die "offered words not starting with 'ima': $out"

	# The verbs of `image`: aliases (ls), listed ones (prune) and hidden ones (inspect).
	out=$(complete_line "$BERTH image ")
	for c in ls prune inspect; do
		if "$BERTH" image $c --help >/dev/null 2>&1; then
			grep -qx "$c" <<<"$out" || die "'image $c' not offered: $out"
		fi
	done
	grep -qx images <<<"$out" && die "'images' offered as a verb of 'image'"

	# Flags: exactly the long flags of --help.
	out=$(complete_line "$BERTH images --")
	assert_equal "$(sort <<<"$out")" "$(help_flags images | grep -- '^--' | sort)"
	out=$(complete_line "$BERTH image prune --")
	assert_equal "$(sort <<<"$out")" "$(help_flags image prune | grep -- '^--' | sort)"
	out=$(complete_line "$BERTH --log")
	assert_equal "$out" "--log-level"
	out=$(complete_line "$BERTH --log-level ")
	assert_equal "$(sort <<<"$out" | tr '\n' ' ')" "debug error info warn "
}

@test "completion: image names, across a colon and from the --root given on the line" {
	make_busybox_tar "$TEST_DIR/bb.tar"
	run_berth import "$TEST_DIR/bb.tar" docs/complete:1.0
	run_berth tag docs/complete:1.0 docs/other:2

	local out
	out=$(complete_line "$BERTH rmi ")
	grep -qx 'docs/complete:1.0' <<<"$out" || die "image not offered: $out"
	grep -qx 'docs/other:2' <<<"$out" || die "second tag not offered: $out"
	# Bash replaces only what follows the last ':' of the word.
	out=$(complete_line "$BERTH rmi docs/complete:")
	assert_equal "$out" "1.0"
	# The second operand of tag is an image too; flags of rmi after a '-'.
	out=$(complete_line "$BERTH tag docs/complete:1.0 docs/o")
	assert_equal "$out" "docs/other:2"

	# Another store named by --root: its images, not $BERTH_ROOT's.
	local other=$TEST_DIR/other-root
	BERTH_ROOT=$other run_berth import "$TEST_DIR/bb.tar" elsewhere:1
	out=$(complete_line "$BERTH --root $other rmi ")
	assert_equal "$out" "elsewhere:1"
	# A --root that does not exist lists nothing and creates nothing.
	out=$(complete_line "$BERTH --root $TEST_DIR/missing rmi ")
	assert_equal "$out" ""
	[ ! -e "$TEST_DIR/missing" ] || die "completion created a store"

	# Files where the Usage line or the flag takes one.
	out=$(complete_line "$BERTH load -i $TEST_DIR/bb")
	assert_equal "$out" "$TEST_DIR/bb.tar"
	out=$(complete_line "$BERTH import $TEST_DIR/bb")
	assert_equal "$out" "$TEST_DIR/bb.tar"
}

@test "completion: container names once ps exists" {
	"$BERTH" ps --help >/dev/null 2>&1 || skip "this berth has no 'ps' yet"
	"$BERTH" create --help >/dev/null 2>&1 || skip "this berth has no 'create' yet"
	make_busybox_tar "$TEST_DIR/bb.tar"
	run_berth import -c 'CMD ["/bin/sh"]' "$TEST_DIR/bb.tar" docs/ctr:1
	run_berth create --name docs-complete-ctr docs/ctr:1
	# Any command whose Usage takes a CONTAINER offers it.
	local c usage out
	for c in start rm inspect; do
		usage=$("$BERTH" $c --help 2>/dev/null | grep '^Usage:') || continue
		[[ $usage == *CONTAINER* || $usage == *NAME\|ID* ]] || continue
		out=$(complete_line "$BERTH $c docs-")
		grep -qx docs-complete-ctr <<<"$out" || die "container not offered after 'berth $c': $out"
	done
	"$BERTH" rm docs-complete-ctr >/dev/null 2>&1 || true
}
