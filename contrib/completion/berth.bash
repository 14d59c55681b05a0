# bash completion for berth                                  -*- shell-script -*-
# shellcheck disable=SC2046 # candidate lists are split into words on purpose
#
# Load it with `source contrib/completion/berth.bash`, or install it as
# /usr/share/bash-completion/completions/berth. It needs only bash (bash-completion is not
# required).
#
# Nothing here lists berth's commands or flags: they are read from the binary being
# completed (`berth --help`, `berth COMMAND --help`) at the time Tab is pressed, so the
# completion knows exactly what that build of berth has. Operands are completed from the
# command's Usage line: IMAGE and REPOSITORY take image names (`berth images --format`),
# CONTAINER takes container names (`berth ps -a --format`), file and PATH take files. Global
# options typed before the command (--root, --config, ...) are passed on to those listings,
# so `berth --root /srv/x rmi <Tab>` offers the images of /srv/x.
#
# The list of all names berth answers to (aliases such as `image ls`, hidden verbs such as
# `image inspect`) costs one --help per command; it is kept per binary path and
# modification time, so a rebuilt berth is read again.

# _berth_run ARGS...: run the berth being completed, with the global options typed so far.
_berth_run() {
	"$_berth_bin" "${_berth_globals[@]}" "$@" 2>/dev/null </dev/null
}

# _berth_help_flags KEY...: one line per flag of `berth KEY --help`: "short long typed valuename".
_berth_help_flags() {
	_berth_run "$@" --help | awk '
		/^[ \t]*$/ { sect = 0; next }
		/^[A-Za-z ]*(Options|Flags):[ \t]*$/ { sect = 1; next }
		sect {
			s = $0; sub(/^[ \t]+/, "", s); short = "-"; long = "-"; typed = 0; vn = "-"
			if (s ~ /^-[^-]/) {
				short = substr(s, 2, 1); s = substr(s, 3)
				if (substr(s, 1, 2) == ", ") s = substr(s, 3)
			}
			if (substr(s, 1, 2) == "--" && match(s, /^--[A-Za-z0-9][A-Za-z0-9_.-]*/)) {
				long = substr(s, 3, RLENGTH - 2); s = substr(s, RLENGTH + 1)
			}
			if (s ~ /^ [^ ]/) { typed = 1; vn = substr(s, 2); sub(/ .*/, "", vn) }
			print short, long, typed, vn
		}'
}

# _berth_help_usage KEY...: the operand words of the Usage line, after the command's name.
_berth_help_usage() {
	_berth_run "$@" --help | awk '/^Usage:/ {
		for (i = 3; i <= NF; i++) if ($i !~ /^[a-z][a-z0-9-]*$/) break
		for (; i <= NF; i++) if ($i != "[OPTIONS]") print $i
		exit
	}'
}

# _berth_help_section KEY... SECTION: the first words of a section ("Commands", "Aliases").
_berth_help_section() {
	local sect=${!#}
	_berth_run "${@:1:$#-1}" --help | awk -v sect="$sect:" '
		/^[ \t]*$/ { on = 0; next }
		$0 ~ "^[A-Za-z ]*" sect "[ \t]*$" { on = 1; next }
		on && sect == "Aliases:" {
			n = split($0, a, /,[ \t]*/)
			for (i = 1; i <= n; i++) { s = a[i]; sub(/^[ \t]*berth[ \t]+/, "", s); print s }
			next
		}
		on { print $1 (($2 ~ /^[a-z][a-z0-9-]*$/) ? " " $2 : "") }'
}

declare -gA _berth_names_cache=()
# _berth_load_names: set _berth_names_list to every command name berth answers to, one per
# line ("images", "image ls", "registry serve", ...). Cached per binary and modification
# time; called in the completing shell itself (not in $(...)) so that the cache survives.
_berth_load_names() {
	local stamp
	stamp="$_berth_bin:$(stat -L -c %Y "$(type -P "$_berth_bin" 2>/dev/null || echo "$_berth_bin")" 2>/dev/null)"
	if [ -z "${_berth_names_cache[$stamp]+x}" ]; then
		local names='' n w1 w2 sub
		while read -r w1 w2; do
			[ -n "$w1" ] || continue
			# "image prune  Remove..." is two words; "images  List..." one.
			n=$w1
			[ -n "$w2" ] && n="$w1 $w2"
			names+="$n"$'\n'
			local -a nw
			read -r -a nw <<<"$n"
			while IFS= read -r sub; do
				[ -n "$sub" ] && names+="$sub"$'\n'
			done < <(_berth_help_section "${nw[@]}" Aliases)
			while read -r sub _; do
				[ -n "$sub" ] && names+="$n $sub"$'\n'
			done < <(_berth_help_section "${nw[@]}" Commands)
		done < <(_berth_help_section Commands)
		_berth_names_cache[$stamp]=$(printf '%s' "$names" | sort -u)
	fi
	_berth_names_list=${_berth_names_cache[$stamp]}
}

declare -gA _berth_hidden_cache=()
# _berth_load_verbs GROUP: set _berth_verbs to the verbs after GROUP ("image" -> ls, prune,
# inspect, ...). A group word that is not a command itself is asked about the verbs berth
# has elsewhere, to find hidden ones like `image inspect` (safe: berth stops at the unknown
# group word and runs nothing).
_berth_load_verbs() {
	local g=$1
	_berth_load_names
	_berth_verbs=$(printf '%s\n' "$_berth_names_list" | awk -v g="$g" '$1 == g && NF == 2 { print $2 }')
	if printf '%s\n' "$_berth_names_list" | grep -qxF -- "$g"; then
		[ -n "$_berth_verbs" ] # a command; a group only when it has verbs (registry)
		return
	fi
	local key="$_berth_bin:$g"
	if [ -z "${_berth_hidden_cache[$key]+x}" ]; then
		local v found=''
		for v in $(printf '%s\n' "$_berth_names_list" | awk '{ print $NF }' | sort -u); do
			printf '%s\n' "$_berth_names_list" | grep -qxF -- "$g $v" && continue
			_berth_run "$g" "$v" --help | grep -q "^Usage:  berth $g $v\b" && found+="$v "
		done
		_berth_hidden_cache[$key]=$found
	fi
	[ -n "$_berth_verbs" ] && [ -n "${_berth_hidden_cache[$key]}" ] &&
		_berth_verbs+=$'\n'
	_berth_verbs+=$(printf '%s\n' ${_berth_hidden_cache[$key]})
	[ -n "$_berth_verbs" ] || return 1
}

# _berth_store_exists: false when --root names a directory that does not exist: listing
# images would create a store there, and a completion must not change anything.
_berth_store_exists() {
	local i root=
	for ((i = 0; i < ${#_berth_globals[@]}; i++)); do
		case ${_berth_globals[$i]} in
		--root=*) root=${_berth_globals[$i]#--root=} ;;
		--root) root=${_berth_globals[$((i + 1))]:-} ;;
		esac
	done
	[ -n "$root" ] || root=${BERTH_ROOT:-}
	[ -z "$root" ] || [ -d "$root" ]
}

_berth_images() {
	_berth_store_exists || return 0
	_berth_run images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>'
}

_berth_containers() {
	_berth_store_exists || return 0
	_berth_run ps -a --format '{{.Names}}'
}

# _berth_reply CUR WORDS...: COMPREPLY from the candidates that start with CUR. Bash replaces
# only the part of the word after the last ':' or '=' (COMP_WORDBREAKS), so that prefix is
# cut from each candidate, as bash-completion's __ltrim_colon_completions does.
_berth_reply() {
	local cur=$1 c
	shift
	COMPREPLY=()
	for c in "$@"; do
		[ -n "$c" ] && [[ $c == "$cur"* ]] && COMPREPLY+=("$c")
	done
	local brk=${COMP_WORDBREAKS:-:=}
	if [[ $cur == *:* && $brk == *:* ]]; then
		local pre=${cur%"${cur##*:}"}
		COMPREPLY=("${COMPREPLY[@]#"$pre"}")
	fi
}

_berth_files() {
	local cur=$1
	COMPREPLY=()
	local f
	while IFS= read -r f; do
		COMPREPLY+=("$f")
	done < <(compgen -f -- "$cur")
	compopt -o filenames 2>/dev/null
}

_berth() {
	COMPREPLY=()
	# The words up to the cursor, split on blanks only: COMP_WORDS splits "busybox:1.36"
	# at the colon.
	local line=${COMP_LINE:0:$COMP_POINT}
	local -a words
	read -r -a words <<<"$line"
	local cur=
	if [[ $line != *[[:space:]] ]] && [ ${#words[@]} -gt 1 ]; then
		cur=${words[-1]}
		unset 'words[-1]'
	fi
	local _berth_bin=${words[0]/#\~/$HOME}
	local -a _berth_globals=()
	local _berth_names_list='' _berth_verbs=''
	local n=${#words[@]} i=1 w prev=${words[-1]}

	# Global options, before the command.
	local main_flags
	main_flags=$(_berth_help_flags)
	while [ $i -lt $n ] && [[ ${words[$i]} == -* ]]; do
		w=${words[$i]}
		_berth_globals+=("$w")
		if [[ $w != *=* ]] && printf '%s\n' "$main_flags" |
			awk -v w="$w" '($1 != "-" && "-" $1 == w || "--" $2 == w) && $3 == 1 { f = 1 } END { exit !f }'; then
			i=$((i + 1))
			[ $i -lt $n ] && _berth_globals+=("${words[$i]}")
		fi
		i=$((i + 1))
	done
	if [ $i -ge $n ]; then
		# A global option's value, a global option, or the command.
		case $prev in
		--root | --runroot)
			[ $n -gt 1 ] && { _berth_files "$cur"; compopt -o dirnames 2>/dev/null; return; } ;;
		--config)
			[ $n -gt 1 ] && { _berth_files "$cur"; return; } ;;
		--log-level)
			[ $n -gt 1 ] && { _berth_reply "$cur" debug info warn error; return; } ;;
		esac
		if [[ $cur == -* ]]; then
			_berth_reply "$cur" $(printf '%s\n' "$main_flags" | awk '{ print ($2 != "-" ? "--" $2 : "-" $1) }')
		else
			_berth_load_names
			_berth_reply "$cur" $(printf '%s\n' "$_berth_names_list" | awk '{ print $1 }' | sort -u) help
		fi
		return
	fi

	# The command: one word, or a group and its verb.
	local -a cmd=("${words[$i]}")
	i=$((i + 1))
	if [ "${cmd[0]}" = help ]; then
		_berth_load_names
		if [ $i -ge $n ]; then
			_berth_reply "$cur" $(printf '%s\n' "$_berth_names_list" | awk '{ print $1 }' | sort -u)
		elif [ $i -eq $((n - 1)) ] && _berth_load_verbs "${words[$i]}"; then
			_berth_reply "$cur" $_berth_verbs
		fi
		return
	fi
	if _berth_load_verbs "${cmd[0]}"; then
		local verbs=$_berth_verbs
		if [ $i -ge $n ]; then
			if [[ $cur == -* ]]; then
				_berth_reply "$cur" --help
			else
				_berth_reply "$cur" $verbs
			fi
			return
		fi
		if printf '%s\n' $verbs | grep -qxF -- "${words[$i]}"; then
			cmd+=("${words[$i]}")
			i=$((i + 1))
		fi
	fi

	local flags
	flags=$(_berth_help_flags "${cmd[@]}")
	# Walk the words after the command: flags, their values, operands.
	local nops=0 want_value='' vn
	for (( ; i < n; i++)); do
		w=${words[$i]}
		if [ -n "$want_value" ]; then
			want_value=''
			continue
		fi
		case $w in
		--*=* | -) [ "$w" = - ] && nops=$((nops + 1)) ;;
		--*)
			vn=$(printf '%s\n' "$flags" | awk -v f="${w#--}" '$2 == f && $3 == 1 { print $4 }')
			[ -n "$vn" ] && want_value=$w ;;
		-?*)
			# -it, -p80: the last letter may take a value when nothing follows it.
			vn=$(printf '%s\n' "$flags" | awk -v f="${w: -1}" '$1 == f && $3 == 1 { print $4 }')
			[ -n "$vn" ] && want_value=$w ;;
		*) nops=$((nops + 1)) ;;
		esac
	done

	if [ -n "$want_value" ]; then
		# The value of a flag: files for the flags that name one, nothing otherwise.
		local fname=${want_value#--}
		[[ $want_value == --* ]] || fname=$(printf '%s\n' "$flags" |
			awk -v f="${want_value: -1}" '$1 == f { print $2 }')
		case $fname in
		*file* | input | output | config | htpasswd | *cert* | *key*)
			_berth_files "$cur" ;;
		root | runroot | workdir | *dir*)
			_berth_files "$cur"; compopt -o dirnames 2>/dev/null ;;
		esac
		return
	fi

	# Which operand is being typed, from the Usage line.
	local -a ops
	mapfile -t ops < <(_berth_help_usage "${cmd[@]}")
	local op=
	if [ $nops -lt ${#ops[@]} ]; then
		op=${ops[$nops]}
	elif [ ${#ops[@]} -gt 0 ] && [[ ${ops[-1]} == *...* ]]; then
		op=${ops[-1]}
	fi
	# After the image of run/create (COMMAND [ARG...]) the words belong to the container.
	local bare=${op//[\[\].]/}
	case $bare in
	COMMAND | ARG) return ;;
	esac
	if [[ $cur == -* ]]; then
		_berth_reply "$cur" $(printf '%s\n' "$flags" | awk '{ print ($2 != "-" ? "--" $2 : "-" $1) }')
		return
	fi
	case $op in
	*CONTAINER:*)
		local c
		COMPREPLY=()
		_berth_reply "$cur" $(_berth_containers | sed 's/$/:/')
		compopt -o nospace 2>/dev/null ;;
	*NAME\|ID* | *CONTAINER\|IMAGE* | *IMAGE\|CONTAINER*)
		_berth_reply "$cur" $(_berth_containers) $(_berth_images) ;;
	*CONTAINER*)
		_berth_reply "$cur" $(_berth_containers) ;;
	*IMAGE* | *REPOSITORY*)
		_berth_reply "$cur" $(_berth_images) ;;
	*file* | *FILE* | *PATH* | *URL* | *-\]* | *\|-*)
		_berth_files "$cur" ;;
	esac
}

complete -F _berth berth
