#!/usr/bin/env bash
# doccheck: hold the command pages (docs/cmd/) and the command lines shown in the docs to what
# the berth binary prints, so that the docs cannot drift from the code.
#
#   scripts/doccheck.sh [--berth PATH] [--docs DIR] [--quiet | --verbose]
#
# The binary is the only source of truth, read at run time, so the check follows commands as
# they land. Commands are found in `berth --help`, in the "Commands:" list of a group's help
# (`berth registry --help`), in the "Aliases:" lines, and by asking each group word
# ("image", "system") for the verbs of the other commands (`berth image inspect`), which is
# how hidden nested verbs are found. A command's name is the lowercase words of its Usage line.
#
# For each command, docs/cmd/berth-<name with spaces as '-'>.md must:
#   - exist, and start with the title "# berth <name>";
#   - show the Usage line verbatim on a line of its own (the synopsis);
#   - mention each of its aliases ("berth image ls") and, for a group, each verb ("berth
#     registry serve");
#   - list in its options table (a markdown table whose first header cell is "Option") every
#     flag that --help prints, short and long form, and no flag that --help does not print.
# docs/cmd/berth.md is the same for `berth --help` and the global options.
#
# Every berth command line in the docs (code blocks and `inline code` of docs/cmd/*.md,
# docs/tutorial*.md and docs/README.md) must use only flags its command prints in --help,
# up to the first operand. A command line whose command the binary does not have yet is
# counted, not failed: the tutorial describes commands that are still being written.
#
# Output: one line per problem, "doccheck: FILE[:LINE]: berth CMD: what is wrong", then a
# summary. Exit status 0 when there is no problem, 1 when there is, 2 when the binary's own
# help cannot be read.
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BERTH_BIN=${BERTH:-$SRC/build/berth}
DOCS=$SRC/docs
QUIET=0
VERBOSE=0

while [ $# -gt 0 ]; do
	case $1 in
	--berth) BERTH_BIN=$2; shift 2 ;;
	--berth=*) BERTH_BIN=${1#*=}; shift ;;
	--docs) DOCS=$2; shift 2 ;;
	--docs=*) DOCS=${1#*=}; shift ;;
	-q | --quiet) QUIET=1; shift ;;
	-v | --verbose) VERBOSE=1; shift ;;
	-h | --help)
		sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0"
		exit 0 ;;
	*) echo "doccheck: unknown argument: $1" >&2; exit 2 ;;
	esac
done

if [ ! -x "$BERTH_BIN" ]; then
	echo "doccheck: no berth binary at $BERTH_BIN (build it, or pass --berth)" >&2
	exit 2
fi

problems=0
problem() {
	echo "doccheck: $*"
	problems=$((problems + 1))
}

# ---- reading --help ----

# parse_help: the records of one help text, fields separated by \037 (an empty field survives):
#   USAGE <usage line>   ALIAS <alias>   FLAG <short> <long> <1 when it takes a value>
#   SUB <word> <next word>   (an entry of a "Commands:" list; the next word may be the summary)
# An option line is "  -f, --filter filter   text" or "      --digests   text": a single
# space and a word after the name is the value's name, two spaces start the description.
parse_help() {
	awk '
	function value_after(s) { return s ~ /^ [^ ]/ }
	/^Usage:/ { s = $0; sub(/^Usage:[ \t]*/, "", s); print "USAGE\037" s; sect = ""; next }
	/^[ \t]*$/ { sect = ""; next }
	/^Aliases:[ \t]*$/ { sect = "alias"; next }
	/^[A-Za-z ]*(Options|Flags):[ \t]*$/ { sect = "opt"; next }
	/^[A-Za-z ]*Commands:[ \t]*$/ { sect = "cmd"; next }
	sect == "alias" {
		s = $0; sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s)
		n = split(s, a, /,[ \t]*/)
		for (i = 1; i <= n; i++) if (a[i] != "") print "ALIAS\037" a[i]
		next
	}
	sect == "opt" {
		s = $0; sub(/^[ \t]+/, "", s)
		short = ""; long = ""; typed = 0
		if (s ~ /^-[^-]/) {
			short = substr(s, 2, 1); s = substr(s, 3)
			if (substr(s, 1, 2) == ", ") s = substr(s, 3)
			else typed = value_after(s)
		}
		if (substr(s, 1, 2) == "--") {
			s = substr(s, 3)
			if (match(s, /^[A-Za-z0-9][A-Za-z0-9_.-]*/)) {
				long = substr(s, 1, RLENGTH); s = substr(s, RLENGTH + 1)
			}
			typed = value_after(s)
		}
		if (short != "" || long != "") print "FLAG\037" short "\037" long "\037" typed
		next
	}
	sect == "cmd" {
		n = split($0, w, /[ \t]+/)
		if (w[2] != "") print "SUB\037" w[2] "\037" w[3]
		next
	}'
}

# The lowercase words after "berth" in a Usage line: the command's name.
usage_name() {
	local w name=
	for w in $1; do
		[ "$w" = berth ] && [ -z "$name" ] && continue
		[[ $w =~ ^[a-z][a-z0-9-]*$ ]] || break
		name+="${name:+ }$w"
	done
	printf '%s' "$name"
}

# Per command key ("images", "image ls"): whether --help worked, and what it says.
declare -A H_OK H_USAGE H_NAME H_FLAGS H_ALIASES H_SUBS
# load_help KEY: run `berth KEY --help` once and keep what it printed.
load_help() {
	local key=$1
	[ -n "${H_OK[$key]+x}" ] && return
	local out rc=0 words=$key
	[ "$key" = "$MAIN_KEY" ] && words=
	# shellcheck disable=SC2086 # a key is lowercase words, split on purpose
	out=$(timeout 30 "$BERTH_BIN" $words --help </dev/null 2>/dev/null) || rc=$?
	if [ "$rc" -ne 0 ] || [[ $out != *"Usage:"* ]]; then
		H_OK[$key]=0
		return
	fi
	local kind a b c flags='' aliases='' subs='' usage=''
	while IFS=$'\037' read -r kind a b c; do
		case $kind in
		USAGE) usage=$a ;;
		ALIAS) aliases+="$a"$'\n' ;;
		FLAG) flags+="$a"$'\037'"$b"$'\037'"$c"$'\n' ;;
		SUB) subs+="$a"$'\037'"$b"$'\n' ;;
		esac
	done < <(printf '%s\n' "$out" | parse_help)
	H_OK[$key]=1
	H_USAGE[$key]=$usage
	H_NAME[$key]=$(usage_name "$usage")
	H_FLAGS[$key]=$flags
	H_ALIASES[$key]=$aliases
	H_SUBS[$key]=$subs
}

help_ok() {
	load_help "$1"
	[ "${H_OK[$1]}" = 1 ]
}

# ---- finding the commands ----

MAIN_KEY=. # `berth --help` itself
load_help "$MAIN_KEY"
if [ "${H_OK[$MAIN_KEY]}" != 1 ]; then
	echo "doccheck: '$BERTH_BIN --help' failed" >&2
	exit 2
fi

declare -A KNOWN    # every name berth answers to (commands, aliases, verbs) -> command
declare -A CMD_KEY  # command -> a key that runs its --help
declare -A SKIPPED=() # listed, but its --help fails: still being written
COMMANDS=()         # the commands to check, in --help order

# add_command KEY: KEY answers --help; record the command it names, its aliases, its verbs.
add_command() {
	local key=$1 name=${H_NAME[$1]:-$1}
	KNOWN[$key]=$name
	[ -n "${CMD_KEY[$name]+x}" ] && return
	CMD_KEY[$name]=$key
	KNOWN[$name]=$name
	COMMANDS+=("$name")
	local al
	while IFS= read -r al; do
		[ -n "$al" ] && KNOWN[${al#berth }]=$name
	done <<<"${H_ALIASES[$key]}"
	local verb _rest
	while IFS=$'\037' read -r verb _rest; do
		[ -n "$verb" ] || continue
		if help_ok "$name $verb"; then
			add_command "$name $verb"
		else
			SKIPPED["$name $verb"]=1
		fi
	done <<<"${H_SUBS[$key]}"
}

# resolve W1 W2: set RESOLVED to the key of the command a line "berth W1 W2 ..." runs (one
# word or two), empty when berth has no such command. W2 is only tried where that is safe:
# when it is a name berth is known to answer to, or when W1 alone is not a command (berth
# then stops at "unknown command" whatever follows): `berth run nginx --help` would run nginx.
RESOLVED=
resolve() {
	local w1=$1 w2=${2:-}
	RESOLVED=
	if [[ $w2 =~ ^[a-z][a-z0-9-]*$ ]]; then
		if [ -n "${KNOWN["$w1 $w2"]+x}" ]; then
			RESOLVED="$w1 $w2"
			return
		fi
		if ! help_ok "$w1" && help_ok "$w1 $w2"; then
			RESOLVED="$w1 $w2"
			return
		fi
	fi
	help_ok "$w1" && RESOLVED=$w1
}

while IFS=$'\037' read -r w1 w2; do
	[ -n "$w1" ] || continue
	resolve "$w1" "$w2"
	if [ -n "$RESOLVED" ]; then
		add_command "$RESOLVED"
	elif [[ $w2 =~ ^[a-z][a-z0-9-]*$ ]] && ! help_ok "$w1"; then
		SKIPPED["$w1 $w2"]=1
	else
		SKIPPED[$w1]=1
	fi
done <<<"${H_SUBS[$MAIN_KEY]}"

# Hidden nested verbs: "image inspect" is not in `berth --help`, but "image" is a group word
# (of "image prune", of the alias "berth image ls"). Ask each group word that is not itself a
# command for the verbs berth has elsewhere; a verb whose Usage names "GROUP VERB" is a
# command of its own, one whose Usage names another command is an alias.
declare -A GRP=() VERBS=()
for k in "${!KNOWN[@]}"; do
	set -- $k
	VERBS[${!#}]=1
	[ $# -ge 2 ] && GRP[$1]=1
done
for g in "${!GRP[@]}"; do
	help_ok "$g" && continue
	for v in "${!VERBS[@]}"; do
		[ -n "${KNOWN["$g $v"]+x}" ] && continue
		if help_ok "$g $v" && [ "${H_NAME["$g $v"]}" = "$g $v" ]; then
			add_command "$g $v"
		fi
	done
done

# ---- checking the pages ----

page_of() { printf '%s/cmd/berth%s.md' "$DOCS" "${1:+-${1// /-}}"; }

# parse_page FILE: TITLE <first line>, then OPT <flag> for each flag in the first cell of
# the rows of each options table (first header cell "Option"/"Options"/"Flag"/"Flags").
parse_page() {
	awk '
	function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
	function first_cell(l,   s, i, c, out) {
		s = substr(l, index(l, "|") + 1); out = ""
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c == "\\") { out = out substr(s, i + 1, 1); i++; continue }
			if (c == "|") break
			out = out c
		}
		return trim(out)
	}
	NR == 1 { print "TITLE\t" $0 }
	/^[ \t]*```/ { fence = !fence; next }
	fence { next }
	/^[ \t]*\|/ {
		if (!intable) {
			intable = 1; row = 0
			opttable = tolower(first_cell($0)) ~ /^(options?|flags?)$/
			next
		}
		row++
		if (row == 1 && $0 ~ /^[ \t|:-]*$/) next
		if (!opttable) next
		c = first_cell($0); gsub(/[`,\/]/, " ", c)
		n = split(c, w, /[ \t]+/)
		for (i = 1; i <= n; i++)
			if (w[i] ~ /^--?[A-Za-z0-9]/) { f = w[i]; sub(/[=[].*$/, "", f); print "OPT\t" f }
		next
	}
	{ intable = 0 }' "$1"
}

# The page's lines, trimmed, for the synopsis check.
page_lines() { sed 's/^[[:space:]]*//; s/[[:space:]]*$//' "$1"; }

checked_pages=0
# check_page KEY NAME: the page of command NAME against `berth KEY --help`.
check_page() {
	local key=$1 name=$2 page
	page=$(page_of "$name")
	local rel=${page#"$SRC"/}
	local what="berth${name:+ $name}"
	if [ ! -f "$page" ]; then
		problem "$rel: $what: no page (every command needs one)"
		return
	fi
	checked_pages=$((checked_pages + 1))
	local title='' kind f
	declare -A doc=()
	while IFS=$'\t' read -r kind f; do
		case $kind in
		TITLE) title=$f ;;
		OPT) doc[$f]=1 ;;
		esac
	done < <(parse_page "$page")
	[ "$title" = "# $what" ] || problem "$rel: $what: the first line must be '# $what', not '$title'"

	local usage=${H_USAGE[$key]}
	grep -qxF -- "$usage" < <(page_lines "$page") ||
		problem "$rel: $what: the synopsis does not show the Usage line '$usage'"

	local al
	while IFS= read -r al; do
		[ -n "$al" ] && [ "$al" != "$what" ] || continue
		grep -qF -- "$al" "$page" || problem "$rel: $what: the alias '$al' is not mentioned"
	done <<<"${H_ALIASES[$key]}"
	local verb _rest
	[ "$key" = "$MAIN_KEY" ] || while IFS=$'\037' read -r verb _rest; do
		[ -n "$verb" ] || continue
		grep -qF -- "$what $verb" "$page" ||
			problem "$rel: $what: the verb '$what $verb' is not mentioned"
	done <<<"${H_SUBS[$key]}"

	local s l _t
	declare -A help=()
	while IFS=$'\037' read -r s l _t; do
		[ -n "$s$l" ] || continue
		[ -n "$s" ] && help[-$s]=1
		[ -n "$l" ] && help[--$l]=1
	done <<<"${H_FLAGS[$key]}"
	for f in "${!help[@]}"; do
		[ -n "${doc[$f]+x}" ] ||
			problem "$rel: $what: $f is printed by '$what --help' but missing from the options table"
	done
	for f in "${!doc[@]}"; do
		[ -n "${help[$f]+x}" ] ||
			problem "$rel: $what: $f is in the options table but '$what --help' does not print it"
	done
}

check_page "$MAIN_KEY" ""
for name in "${COMMANDS[@]}"; do
	check_page "${CMD_KEY[$name]}" "$name"
done

# Pages of commands not found above: a hidden command berth does have, or one still being
# written (counted, not failed).
declare -A FUTURE=()
for page in "$DOCS"/cmd/berth-*.md; do
	[ -f "$page" ] || continue
	base=${page##*/berth-}
	base=${base%.md}
	found=0
	for name in "${COMMANDS[@]}"; do
		[ "${name// /-}" = "$base" ] && found=1 && break
	done
	[ $found = 1 ] && continue
	# "image-prune" is "image prune" or a hyphenated command "image-prune".
	for cand in "${base/-/ }" "$base"; do
		set -- $cand
		[ $# -le 2 ] || continue
		resolve "$@"
		key=$RESOLVED
		if [ -n "$key" ] && [ "${H_NAME[$key]}" = "$cand" ] && [ -z "${CMD_KEY[$cand]+x}" ]; then
			add_command "$key"
			check_page "$key" "$cand"
			found=1
			break
		fi
	done
	[ $found = 1 ] || FUTURE[${base}]=1
done

# ---- checking the command lines in the docs ----

# extract FILE...: "FILE:LINE<US>word<US>word..." for each berth invocation in a code block
# (a ``` fence, or lines indented by 4 spaces or a tab; a trailing backslash continues the
# line) or in `inline code`. Words are unquoted as the shell would; a comment, a pipe, a
# list operator or a redirection ends the invocation. An invocation is "berth" (or a path
# ending in /berth) where a command starts: first word, after an operator, after sudo.
extract() {
	awk '
	function words(loc, text,   n, i, c, q, cur, inword, nt, k, j, out, tok, kind) {
		n = length(text); nt = 0; cur = ""; inword = 0; q = ""
		for (i = 1; i <= n; i++) {
			c = substr(text, i, 1)
			if (q == "\047") { if (c == "\047") q = ""; else cur = cur c; continue }
			if (q == "\"") {
				if (c == "\"") q = ""
				else if (c == "\\" && i < n) { i++; cur = cur substr(text, i, 1) }
				else cur = cur c
				continue
			}
			if (c == "\047" || c == "\"") { q = c; inword = 1; continue }
			if (c == "\\" && i < n) { i++; cur = cur substr(text, i, 1); inword = 1; continue }
			if (c == " " || c == "\t") {
				if (inword) { tok[++nt] = cur; kind[nt] = "w"; cur = ""; inword = 0 }
				continue
			}
			if (c == "#" && !inword) break
			if (c == "$" && substr(text, i + 1, 1) == "(") c = "$("
			if (index("|;&()<>`", c) || c == "$(") {
				if (inword) { tok[++nt] = cur; kind[nt] = "w"; cur = ""; inword = 0 }
				tok[++nt] = c; kind[nt] = "o"
				if (c == "$(") i++
				continue
			}
			cur = cur c; inword = 1
		}
		if (inword) { tok[++nt] = cur; kind[nt] = "w" }
		for (k = 1; k <= nt; k++) {
			if (kind[k] != "w" || (tok[k] != "berth" && tok[k] !~ /\/berth$/)) continue
			if (k > 1 && kind[k - 1] == "w" && tok[k - 1] !~ /^(sudo|\$|time|exec|then|do|else|!)$/)
				continue
			out = loc
			for (j = k + 1; j <= nt && kind[j] == "w"; j++) out = out "\037" tok[j]
			print out
		}
	}
	FNR == 1 { fence = 0; cont = "" }
	/^[ \t]*```/ { fence = !fence; next }
	{
		line = $0
		if (fence || line ~ /^(    |\t)/) {
			if (cont != "") { line = cont " " line } else contloc = FILENAME ":" FNR
			if (line ~ /\\$/) { cont = substr(line, 1, length(line) - 1); next }
			cont = ""
			words(contloc, line)
			next
		}
		s = line
		while ((p = index(s, "`")) > 0) {
			rest = substr(s, p + 1); q = index(rest, "`")
			if (!q) break
			words(FILENAME ":" FNR, substr(rest, 1, q - 1))
			s = substr(rest, q + 1)
		}
	}' "$@"
}

# Global options from `berth --help`: name -> 1 when it takes a value.
declare -A GLOBAL
while IFS=$'\037' read -r s l t; do
	[ -n "$s$l" ] || continue
	[ -n "$s" ] && GLOBAL[-$s]=$t
	[ -n "$l" ] && GLOBAL[--$l]=$t
done <<<"${H_FLAGS[$MAIN_KEY]}"

checked_lines=0
declare -A NOT_YET=()
# check_line LOC WORDS...: the flags of one berth command line.
check_line() {
	local loc=${1#"$SRC"/}
	shift
	local -a a=("$@")
	local i=0 n=${#a[@]} w
	# Global options before the command.
	while [ $i -lt $n ] && [[ ${a[$i]} == -?* ]]; do
		w=${a[$i]%%=*}
		if [ -z "${GLOBAL[$w]+x}" ]; then
			problem "$loc: berth: unknown global option $w"
			return
		fi
		[ "${GLOBAL[$w]}" = 1 ] && [[ ${a[$i]} != *=* ]] && i=$((i + 1))
		i=$((i + 1))
	done
	[ $i -lt $n ] || return
	local w1=${a[$i]} w2=${a[$((i + 1))]:-}
	[[ $w1 =~ ^[a-z][a-z0-9-]*$ ]] || return # a placeholder: berth COMMAND --help
	[ "$w1" = help ] && return                # `berth help COMMAND`, main()'s own
	# In prose inside a code block: "(berth image inspect, inspect --type image)".
	w2=${w2%[,.;:]}
	resolve "$w1" "$w2"
	local key=$RESOLVED
	if [ -z "$key" ] || ! help_ok "$key"; then
		if [[ $w2 =~ ^[a-z][a-z0-9-]*$ ]] && [ -n "${GRP[$w1]+x}${SKIPPED["$w1 $w2"]+x}" ]; then
			NOT_YET["$w1 $w2"]+="$loc "
		else
			NOT_YET[$w1]+="$loc "
		fi
		return
	fi
	checked_lines=$((checked_lines + 1))
	set -- $key
	i=$((i + $#))
	# A group followed by a verb berth does not have yet.
	if [ -n "${H_SUBS[$key]}" ] && [ $i -lt $n ] && [[ ${a[$i]} =~ ^[a-z][a-z0-9-]*$ ]]; then
		NOT_YET["$key ${a[$i]}"]+="$loc "
		return
	fi
	local s l t
	declare -A fl=()
	while IFS=$'\037' read -r s l t; do
		[ -n "$s$l" ] || continue
		[ -n "$s" ] && fl[-$s]=$t
		[ -n "$l" ] && fl[--$l]=$t
	done <<<"${H_FLAGS[$key]}"
	# Every command takes --help; -h too, unless it means something else (run's --hostname).
	[ -n "${fl[-h]+x}" ] || fl[-h]=0
	fl[--help]=0
	local what="berth ${H_NAME[$key]:-$key}"
	while [ $i -lt $n ]; do
		w=${a[$i]}
		i=$((i + 1))
		case $w in
		--) return ;;
		--*)
			local f=${w%%=*}
			if [ -z "${fl[$f]+x}" ]; then
				problem "$loc: $what: $f is not an option of '$what' (see '$what --help')"
				continue
			fi
			[ "${fl[$f]}" = 1 ] && [[ $w != *=* ]] && i=$((i + 1))
			;;
		-?*)
			local j c
			for ((j = 1; j < ${#w}; j++)); do
				c=-${w:$j:1}
				if [ -z "${fl[$c]+x}" ]; then
					problem "$loc: $what: $c is not an option of '$what' (see '$what --help')"
					break
				fi
				if [ "${fl[$c]}" = 1 ]; then
					[ $((j + 1)) -eq ${#w} ] && i=$((i + 1))
					break
				fi
			done
			;;
		*) return ;; # the first operand: what follows may belong to a container
		esac
	done
}

files=()
for f in "$DOCS"/cmd/*.md "$DOCS"/tutorial*.md "$DOCS"/README.md; do
	[ -f "$f" ] && files+=("$f")
done
if [ ${#files[@]} -gt 0 ]; then
	while IFS=$'\037' read -r -a inv; do
		check_line "${inv[@]}"
	done < <(extract "${files[@]}")
fi

# ---- summary ----

if [ "$QUIET" = 0 ]; then
	joined() { local IFS=,; printf '%s' "$*" | sed 's/,/, /g'; }
	if [ ${#FUTURE[@]} -gt 0 ]; then
		mapfile -t fu < <(printf '%s\n' "${!FUTURE[@]}" | sort)
		echo "doccheck: pages of commands this berth does not have yet: $(joined "${fu[@]}")"
	fi
	if [ ${#NOT_YET[@]} -gt 0 ]; then
		mapfile -t ny < <(printf '%s\n' "${!NOT_YET[@]}" | sort)
		echo "doccheck: commands used in the docs that this berth does not have yet: $(joined "${ny[@]}")"
		if [ "$VERBOSE" = 1 ]; then
			for c in "${ny[@]}"; do
				echo "doccheck:   $c: ${NOT_YET[$c]% }"
			done
		fi
	fi
	if [ ${#SKIPPED[@]} -gt 0 ]; then
		mapfile -t sk < <(printf '%s\n' "${!SKIPPED[@]}" | sort)
		echo "doccheck: listed in --help but 'COMMAND --help' fails: $(joined "${sk[@]}")"
	fi
fi
echo "doccheck: ${#COMMANDS[@]} commands, $checked_pages pages, $checked_lines command lines checked; $problems problems"
[ "$problems" -eq 0 ]
