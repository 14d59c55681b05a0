#!/usr/bin/env bats
# berth images (image ls, image list): docker's columns and alignment, a row per tag,
# <none> rows, newest first, filters, -q, --digests, --no-trunc and every --format; and
# listing while other commands change the store.

load helpers.images

# A config for load_config_image: created at $1, labels $2 (a JSON object or null).
cfg() {
	printf '{"architecture":"amd64","os":"linux","created":"%s","config":{"Labels":%s}}' \
		"$1" "${2:-null}"
}

@test "images: an empty store prints docker's header and nothing else" {
	run_berth images
	assert_equal "$output" "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE"
	run_berth images --digests
	assert_equal "$output" "REPOSITORY   TAG       DIGEST    IMAGE ID   CREATED   SIZE"
	run_berth images -q
	assert_equal "$output" ""
	run_berth image ls
	assert_equal "$output" "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE"
	run_berth image list
	assert_equal "$output" "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE"
}

@test "images: a row per tag with the short id, the age and the size, aligned" {
	local id
	id=$(import_image busybox:latest 2000000)
	run_berth tag busybox:latest busybox:1.36
	run_berth images
	[ "${#lines[@]}" -eq 3 ] || die "expected a header and 2 rows: $output"
	local short
	short=$(short_id "$id")
	[[ ${lines[1]} =~ ^busybox\ +1\.36\ +$short\ +(Less\ than\ a\ second|1\ second|[0-9]+\ seconds)\ ago\ +2MB$ ]] ||
		die "row 1: ${lines[1]}"
	[[ ${lines[2]} =~ ^busybox\ +latest\ +$short\ +(Less\ than\ a\ second|1\ second|[0-9]+\ seconds)\ ago\ +2MB$ ]] ||
		die "row 2: ${lines[2]}"
	# Columns start where their headers do (tabwriter: widest cell + 3 spaces, at least 10).
	[[ ${lines[2]} =~ ^(busybox\ +)(latest\ +)($short\ +)(.*ago\ +)2MB$ ]] || die "${lines[2]}"
	local a=${#BASH_REMATCH[1]} b=${#BASH_REMATCH[2]} c=${#BASH_REMATCH[3]} d=${#BASH_REMATCH[4]}
	assert_equal "$a $((a + b)) $((a + b + c)) $((a + b + c + d))" \
		"$(column_starts "${lines[0]}" TAG 'IMAGE ID' CREATED SIZE | tr '\n' ' ' | sed 's/ $//')"
	[ "$a" -eq 13 ] && [ "$b" -eq 10 ] && [ "$c" -eq 15 ] || die "widths $a $b $c: $output"

	# The same with the aliases. The age may cross a second boundary between the runs (and
	# change the column width with it), so it is compared as a word.
	local want
	want=$(age_as_word <<<"$output")
	run_berth image ls
	assert_equal "$(age_as_word <<<"$output")" "$want"
	run_berth image list
	assert_equal "$(age_as_word <<<"$output")" "$want"
}

# age_as_word: the CREATED column's "N seconds ago" as one word, runs of spaces as one.
age_as_word() {
	sed -E 's/(Less than a second|[0-9]+ seconds?) ago/AGO/; s/ +/ /g'
}

@test "images: newest first, by the config's created time" {
	local old mid new
	mid=$(load_config_image mid:1 "$(cfg 2022-06-01T00:00:00Z)" 100)
	new=$(load_config_image new:1 "$(cfg 2024-06-01T00:00:00Z)" 100)
	old=$(load_config_image old:1 "$(cfg 2020-06-01T00:00:00Z)" 100)
	run_berth images --format '{{.Repository}} {{.ID}}'
	assert_equal "$output" "new $(short_id "$new")
mid $(short_id "$mid")
old $(short_id "$old")"
	run_berth images
	[[ ${lines[3]} =~ ^old\ +1\ +$(short_id "$old")\ +[0-9]+\ years\ ago\ +100B$ ]] ||
		die "old row: ${lines[3]}"
}

@test "images: an untagged image is <none> <none>; the dangling filter" {
	local tagged dangling
	tagged=$(import_image app:1)
	dangling=$(import_image "")
	run_berth images --format '{{.Repository}} {{.Tag}} {{.ID}}'
	assert_contains "$output" "app 1 $(short_id "$tagged")"
	assert_contains "$output" "<none> <none> $(short_id "$dangling")"
	run_berth images
	assert_contains "$output" "<none>       <none>    $(short_id "$dangling")"

	run_berth images -f dangling=true --format '{{.ID}}'
	assert_equal "$output" "$(short_id "$dangling")"
	run_berth images --filter dangling=1 --format '{{.ID}}'
	assert_equal "$output" "$(short_id "$dangling")"
	run_berth images -f dangling=false --format '{{.ID}}'
	assert_equal "$output" "$(short_id "$tagged")"
	run_berth images -a -q
	[ "${#lines[@]}" -eq 2 ] || die "-a: $output"

	run_berth 1 images -f dangling=maybe
	assert_equal "$output" "Error: invalid filter 'dangling=[maybe]'"
	run_berth 1 images -f dangling=true -f dangling=false
	assert_contains "$output" "invalid filter 'dangling=["
}

@test "images -q: each image once; --no-trunc: full ids" {
	local a b
	a=$(import_image one:1)
	run_berth tag one:1 two:2
	b=$(import_image "")
	run_berth images -q
	assert_equal "$(sort <<<"$output")" "$(printf '%s\n' "$(short_id "$a")" "$(short_id "$b")" | sort)"
	run_berth images -q --no-trunc
	assert_equal "$(sort <<<"$output")" "$(printf '%s\n' "$a" "$b" | sort)"
	run_berth images --no-trunc
	assert_contains "$output" "one          1         $a   "
	# -q with "table" is still -q; with a template the template wins.
	run_berth images -q --format table
	[ "${#lines[@]}" -eq 2 ] || die "$output"
	run_berth images -q --format '{{.Repository}}'
	assert_equal "$(sort <<<"$output")" "$(printf '<none>\none\ntwo\n')"
}

@test "images --digests: a DIGEST column, <none> without digest references" {
	local id
	id=$(import_image app:1)
	run_berth images --digests
	[[ ${lines[0]} =~ ^REPOSITORY\ \ \ TAG\ {7}DIGEST\ {4}IMAGE\ ID\ {7}CREATED\ +SIZE$ ]] ||
		die "header: ${lines[0]}"
	[[ ${lines[1]} =~ ^app\ +1\ +\<none\>\ +$(short_id "$id")\  ]] || die "${lines[1]}"
	run_berth images --digests --format '{{.Digest}}'
	assert_equal "$output" "<none>"
	# A table template gets the digest column appended.
	run_berth images --digests --format 'table {{.Repository}}'
	assert_equal "$output" "REPOSITORY   DIGEST
app          <none>"
}

@test "images REPOSITORY[:TAG] and reference=: path.Match globs on the familiar name" {
	import_image busybox:latest >/dev/null
	run_berth tag busybox:latest busybox:musl
	import_image user/app:1 >/dev/null
	import_image localhost:5000/team/tool:2 >/dev/null

	local f='{{.Repository}}:{{.Tag}}'
	run_berth images busybox --format "$f"
	assert_equal "$(sort <<<"$output")" "busybox:latest
busybox:musl"
	run_berth images busybox:musl --format "$f"
	assert_equal "$output" "busybox:musl"
	run_berth images 'busy*' --format "$f"
	[ "${#lines[@]}" -eq 2 ] || die "$output"
	run_berth images 'busybox:m*' --format "$f"
	assert_equal "$output" "busybox:musl"
	# '*' does not cross a '/'.
	run_berth images '*' --format "$f"
	assert_equal "$(sort <<<"$output")" "busybox:latest
busybox:musl"
	run_berth images '*/*' --format "$f"
	assert_equal "$output" "user/app:1"
	run_berth images 'localhost:5000/*/*' --format "$f"
	assert_equal "$output" "localhost:5000/team/tool:2"
	run_berth images -f 'reference=user/[a-z]pp' --format "$f"
	assert_equal "$output" "user/app:1"
	# Several reference filters: any of them.
	run_berth images -f reference=busybox:latest -f 'reference=*/app' --format "$f"
	assert_equal "$(sort <<<"$output")" "busybox:latest
user/app:1"
	# No match: the header only.
	run_berth images nomatch
	assert_equal "$output" "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE"
	run_berth 1 images '['
	assert_equal "$output" "Error: syntax error in pattern"
	run_berth 1 images a b
	assert_contains "$output" '"berth images" requires at most 1 argument'
}

@test "images -f label=: key, key=value, all of them must match" {
	load_config_image web:1 "$(cfg 2024-01-01T00:00:00Z '{"tier":"web","env":"prod"}')" 100 >/dev/null
	load_config_image db:1 "$(cfg 2023-01-01T00:00:00Z '{"tier":"db"}')" 100 >/dev/null
	load_config_image plain:1 "$(cfg 2022-01-01T00:00:00Z)" 100 >/dev/null

	local f='{{.Repository}}'
	run_berth images -f label=tier --format "$f"
	assert_equal "$output" "web
db"
	run_berth images -f label=tier=web --format "$f"
	assert_equal "$output" "web"
	run_berth images -f label=tier=web -f label=env=prod --format "$f"
	assert_equal "$output" "web"
	run_berth images -f label=tier=web -f label=env=dev --format "$f"
	assert_equal "$output" ""
	run_berth images -f label=nothing --format "$f"
	assert_equal "$output" ""
}

@test "images -f before= and since=: strictly older or newer than the named images" {
	local old mid new
	old=$(load_config_image old:1 "$(cfg 2020-01-01T00:00:00Z)" 100)
	mid=$(load_config_image mid:1 "$(cfg 2022-01-01T00:00:00.5Z)" 100)
	new=$(load_config_image new:1 "$(cfg 2022-01-01T00:00:00.7Z)" 100)
	local f='{{.Repository}}'
	run_berth images -f before=mid:1 --format "$f"
	assert_equal "$output" "old"
	run_berth images -f since=mid:1 --format "$f"
	assert_equal "$output" "new"
	run_berth images -f since=old:1 -f before="$(short_id "$new")" --format "$f"
	assert_equal "$output" "mid"
	# Several values: the oldest before, the newest since.
	run_berth images -f before=new:1 -f before=mid:1 --format "$f"
	assert_equal "$output" "old"
	run_berth images -f since=old:1 -f since=mid:1 --format "$f"
	assert_equal "$output" "new"
	run_berth 1 images -f before=missing:1
	assert_equal "$output" "Error: No such image: missing:1"
}

@test "images: bad filters" {
	run_berth 1 images -f bogus=1
	assert_equal "$output" "Error: invalid filter 'bogus'"
	run_berth 125 images -f nonsense
	assert_contains "$output" 'invalid argument "nonsense" for "-f, --filter" flag: bad format of filter (expected name=value)'
	assert_contains "$output" "See 'berth images --help'"
	# Names are lowercased and values trimmed, as docker's filter parser does.
	import_image app:1 >/dev/null
	run_berth images -f ' Reference = app ' --format '{{.Repository}}'
	assert_equal "$output" "app"
}

@test "images --format: templates, table templates, json" {
	local id
	id=$(import_image app:1 1500)
	local short
	short=$(short_id "$id")
	run_berth images --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'
	assert_equal "$output" "app:1 $short 1.5kB"
	run_berth images --no-trunc --format '{{.ID}}'
	assert_equal "$output" "$id"
	run_berth images --format 'table {{.Repository}}\t{{.Tag}}'
	assert_equal "$output" "REPOSITORY   TAG
app          1"
	run_berth images --format 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedAt}}\t{{.Containers}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.VirtualSize}}'
	[[ ${lines[0]} =~ ^IMAGE\ ID\ +CREATED\ +CREATED\ AT\ +CONTAINERS\ +SHARED\ SIZE\ +UNIQUE\ SIZE\ +SIZE$ ]] ||
		die "header: ${lines[0]}"
	[[ ${lines[1]} =~ ^$short\ +.*\ ago\ +[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9:]{8}\ [+-][0-9]{4}\ [A-Z]+\ +N/A\ +N/A\ +N/A\ +1\.5kB$ ]] ||
		die "row: ${lines[1]}"

	run_berth images --format json
	[ "${#lines[@]}" -eq 1 ] || die "one line per row: $output"
	assert_equal "$(jq -c 'keys_unsorted' <<<"$output")" \
		'["Containers","CreatedAt","CreatedSince","Digest","ID","Repository","SharedSize","Size","Tag","UniqueSize","VirtualSize"]'
	assert_equal "$(jq -r '[.Repository, .Tag, .ID, .Digest, .Size, .VirtualSize, .Containers, .SharedSize, .UniqueSize] | join(" ")' <<<"$output")" \
		"app 1 $short <none> 1.5kB 1.5kB N/A N/A N/A"
	[[ $(jq -r .CreatedSince <<<"$output") == *ago ]] || die "CreatedSince: $output"
	# The two forms print the same object; CreatedSince is dropped from the comparison
	# because the clock may cross a second boundary between the two runs.
	local j
	j=$(jq -c 'del(.CreatedSince)' <<<"$output")
	run_berth images --format '{{json .}}'
	assert_equal "$(jq -c 'del(.CreatedSince)' <<<"$output")" "$j"
	[[ $(jq -r .CreatedSince <<<"$output") == *ago ]] || die "CreatedSince: $output"

	run_berth 1 images --format '{{if .Tag}}x{{end}}'
	assert_contains "$output" "template parsing error"
}

@test "images: listing while tag, rmi and import change the store never fails or shows a half state" {
	local base
	base=$(import_image base:1 1000)
	local errors=$TEST_DIR/errors
	: >"$errors"

	(
		for i in $(seq 1 25); do
			berth tag base:1 "moving:$i" || echo "tag moving:$i failed" >>"$errors"
			berth rmi "moving:$i" >/dev/null || echo "rmi moving:$i failed" >>"$errors"
		done
	) &
	local tagger=$!
	(
		for i in $(seq 1 8); do
			import_image "churn:$i" 500 >/dev/null || echo "import churn:$i failed" >>"$errors"
			berth rmi "churn:$i" >/dev/null || echo "rmi churn:$i failed" >>"$errors"
		done
	) &
	local churner=$!

	local n=0 out line
	while kill -0 "$tagger" 2>/dev/null || kill -0 "$churner" 2>/dev/null; do
		out=$(berth images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}') ||
			echo "images failed: $out" >>"$errors"
		while read -r line; do
			case $line in
			"moving:"*) [ "${line#* }" = "$base" ] || echo "moving tag on another image: $line" >>"$errors" ;;
			"base:1 "*) [ "${line#* }" = "$base" ] || echo "base moved: $line" >>"$errors" ;;
			"churn:"*) ;;
			# An image between losing its last tag and being deleted would show here.
			*) echo "unexpected row: $line" >>"$errors" ;;
			esac
		done <<<"$out"
		grep -q "^base:1 " <<<"$out" || echo "base missing: $out" >>"$errors"
		n=$((n + 1))
	done
	wait "$tagger"
	wait "$churner"
	[ "$n" -gt 0 ] || die "the listing never ran"
	[ ! -s "$errors" ] || die "$(cat "$errors")"
	run_berth images --format '{{.Repository}}:{{.Tag}}'
	assert_equal "$output" "base:1"
}
