#!/usr/bin/env bats
# berth inspect / image inspect (docker's ImageInspect document, -f templates, --type,
# missing names) and berth history (rows from the config's history, sizes from the layers).

load helpers.images

# A config with every field inspect shows and a history of three entries, one of them an
# empty layer: with layers of 1000 and 2000000 bytes.
FULL_CONFIG='{
  "architecture": "amd64", "os": "linux", "variant": "v2",
  "created": "2024-03-04T05:06:07.123456789Z",
  "author": "Jo <jo@example.com>", "docker_version": "24.0.7", "comment": "a comment",
  "config": {
    "User": "1000", "Env": ["PATH=/bin", "A=b"], "Cmd": ["sh", "-c", "echo hi"],
    "Entrypoint": ["/bin/env"], "WorkingDir": "/srv", "Labels": {"z": "1", "a": "2"},
    "ExposedPorts": {"80/tcp": {}, "443/tcp": {}}, "Volumes": {"/data": {}},
    "StopSignal": "SIGTERM", "OnBuild": []
  },
  "history": [
    {"created": "2024-01-01T00:00:00Z",
     "created_by": "/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in / "},
    {"created": "2024-01-01T00:00:01Z", "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]",
     "empty_layer": true},
    {"created": "2024-02-01T00:00:00Z", "created_by": "RUN\tapk add curl",
     "comment": "buildkit.dockerfile.v0"}
  ]
}'

@test "inspect: docker's image document, field by field" {
	local id
	id=$(load_config_image web:1 "$FULL_CONFIG" 1000 2000000)
	run_berth inspect web:1
	local j=$output
	# Indented with 4 spaces, like docker's json.Indent.
	assert_equal "${lines[0]}" "["
	assert_equal "${lines[1]}" "    {"
	assert_equal "${lines[2]}" "        \"Id\": \"$id\","
	# '<' is not escaped: docker encodes with SetEscapeHTML(false).
	assert_contains "$j" '"Author": "Jo <jo@example.com>"'

	assert_equal "$(jq length <<<"$j")" 1
	assert_equal "$(jq -c '.[0] | keys_unsorted' <<<"$j")" \
		'["Id","RepoTags","RepoDigests","Parent","Comment","Created","DockerVersion","Author","Config","Architecture","Variant","Os","Size","VirtualSize","GraphDriver","RootFS","Metadata"]'
	assert_equal "$(jq -c '.[0] | [.Id, .RepoTags, .RepoDigests, .Parent, .Comment, .Created, .DockerVersion, .Author, .Architecture, .Variant, .Os, .Size, .VirtualSize]' <<<"$j")" \
		"[\"$id\",[\"web:1\"],[],\"\",\"a comment\",\"2024-03-04T05:06:07.123456789Z\",\"24.0.7\",\"Jo <jo@example.com>\",\"amd64\",\"v2\",\"linux\",2001000,2001000]"

	# Config: docker's container.Config, in its field order, defaults filled in,
	# maps with sorted keys, omitempty fields only when set.
	assert_equal "$(jq -c '.[0].Config | keys_unsorted' <<<"$j")" \
		'["Hostname","Domainname","User","AttachStdin","AttachStdout","AttachStderr","ExposedPorts","Tty","OpenStdin","StdinOnce","Env","Cmd","Image","Volumes","WorkingDir","Entrypoint","OnBuild","Labels","StopSignal"]'
	assert_equal "$(jq -c '.[0].Config' <<<"$j")" \
		'{"Hostname":"","Domainname":"","User":"1000","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"ExposedPorts":{"443/tcp":{},"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/bin","A=b"],"Cmd":["sh","-c","echo hi"],"Image":"","Volumes":{"/data":{}},"WorkingDir":"/srv","Entrypoint":["/bin/env"],"OnBuild":[],"Labels":{"a":"2","z":"1"},"StopSignal":"SIGTERM"}'

	# Two layers: the top one is the UpperDir, the other the LowerDir; both exist.
	assert_equal "$(jq -r '.[0].GraphDriver.Name' <<<"$j")" "overlay"
	local upper lower
	upper=$(jq -r '.[0].GraphDriver.Data.UpperDir' <<<"$j")
	lower=$(jq -r '.[0].GraphDriver.Data.LowerDir' <<<"$j")
	[ -d "$upper" ] && [ -d "$lower" ] && [ "$upper" != "$lower" ] || die "dirs: $upper $lower"
	[ "$(stat -c %s "$upper/data")" -eq 2000000 ] || die "UpperDir is not the top layer"
	[ "$(stat -c %s "$lower/data")" -eq 1000 ] || die "LowerDir is not the base layer"
	assert_equal "$(jq -r '.[0].RootFS.Type' <<<"$j")" "layers"
	[[ $(jq -r '.[0].RootFS.Layers | length' <<<"$j") == 2 ]] || die "$j"
	jq -e '.[0].RootFS.Layers | all(test("^sha256:[0-9a-f]{64}$"))' <<<"$j" >/dev/null
	[[ $(jq -r '.[0].Metadata.LastTagTime' <<<"$j") =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T ]] || die "$j"

	# image inspect and inspect --type image print the same document.
	run_berth image inspect web:1
	assert_equal "$output" "$j"
	run_berth inspect --type image "$(short_id "$id")"
	assert_equal "$output" "$j"
}

@test "inspect: an imported image" {
	local id
	id=$(import_image app:1 1234)
	run_berth inspect "$id"
	assert_equal "$(jq -r '.[0].Id' <<<"$output")" "$id"
	assert_equal "$(jq -c '.[0].RepoTags' <<<"$output")" '["app:1"]'
	assert_equal "$(jq -r '.[0].Size' <<<"$output")" 1234
	assert_equal "$(jq -r '.[0].Os' <<<"$output")" linux
	assert_equal "$(jq -r '.[0].GraphDriver.Data | keys | join(",")' <<<"$output")" "UpperDir"
	assert_equal "$(jq -r '.[0].RootFS.Layers | length' <<<"$output")" 1
}

@test "inspect -f / --format: Go templates, json" {
	local id
	id=$(load_config_image web:1 "$FULL_CONFIG" 1000 2000000)
	run_berth inspect -f '{{.Id}}' web:1
	assert_equal "$output" "$id"
	run_berth image inspect --format '{{.Os}}/{{.Architecture}} {{.Config.WorkingDir}}' web:1
	assert_equal "$output" "linux/amd64 /srv"
	run_berth inspect -f '{{json .Config.Env}}' web:1
	assert_equal "$output" '["PATH=/bin","A=b"]'
	run_berth inspect -f '{{json .RepoTags}} {{.Size}}' web:1
	assert_equal "$output" '["web:1"] 2001000'
	run_berth inspect -f '{{json .Config}}' web:1
	assert_equal "$(jq -r .User <<<"$output")" 1000
	# One line per object.
	run_berth tag web:1 web:2
	run_berth inspect -f '{{.Id}}' web:1 web:2
	assert_equal "$output" "$id
$id"
	# json: the compact array.
	run_berth inspect --format json web:1
	[ "${#lines[@]}" -eq 1 ] || die "$output"
	assert_equal "$(jq -r '.[0].Id' <<<"$output")" "$id"
	# A template that does not parse: docker's status 64.
	run_berth 64 inspect -f '{{.Id' web:1
	assert_contains "$output" "template parsing error"
}

@test "inspect: several names in order; missing names" {
	local a b
	a=$(import_image a:1)
	b=$(import_image b:1)
	run_berth inspect b:1 a:1
	assert_equal "$(jq -r '.[].Id' <<<"$output")" "$b
$a"
	run_berth 1 inspect missing
	assert_equal "$output" "[]
Error: No such object: missing"
	run_berth 1 image inspect missing
	assert_equal "$output" "[]
Error: No such image: missing"
	run_berth 1 inspect --type image missing
	assert_equal "$output" "[]
Error: No such image: missing"

	# Found ones are printed, the missing reported after them; status 1.
	run berth inspect a:1 missing
	[ "$status" -eq 1 ] || die "status $status"
	assert_equal "${lines[-1]}" "Error: No such object: missing"
	assert_equal "$(sed '$d' <<<"$output" | jq -r '.[].Id')" "$a"

	run_berth 1 inspect -f '{{.Id}}' missing a:1
	assert_equal "$output" "$a
Error: No such object: missing"

	# No containers yet: --type container finds nothing; unknown types are refused.
	run_berth 1 inspect --type container a:1
	assert_contains "$output" "Error: No such container: a:1"
	run_berth 1 inspect --type bogus a:1
	assert_contains "$output" '"bogus" is not a valid value for --type'
	run_berth inspect -s a:1
	assert_contains "$output" "WARNING: --size ignored for image"
	run_berth 1 inspect
	assert_contains "$output" '"berth inspect" requires at least 1 argument'
	run_berth 1 image inspect
	assert_contains "$output" '"berth image inspect" requires at least 1 argument'
}

@test "inspect, history: odd types in a config show as defaults" {
	# load checks the config's shape (history an array of objects, ...); inside that,
	# values of the wrong type are inspect's and history's to cope with.
	local cfg='{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
		"author":7,"comment":["x"],
		"config":{"User":false,"Env":"notalist","Cmd":"sh","Entrypoint":[1,2],
			  "Labels":{"a":1,"b":"x"},"ExposedPorts":[],"Volumes":"v",
			  "Healthcheck":{"Test":["CMD","true"],"Interval":5,"Retries":"x"},
			  "StopTimeout":"soon","Shell":[]},
		"history":[{"created":12,"created_by":["x"],"comment":5,"empty_layer":"yes"}]}'
	local id
	id=$(load_config_image odd:1 "$cfg" 100)
	run_berth inspect odd:1
	assert_equal "$(jq -c '.[0].Config' <<<"$output")" \
		'{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["sh"],"Healthcheck":{"Test":["CMD","true"],"Interval":5},"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"b":"x"}}'
	assert_equal "$(jq -r '.[0].Author + "|" + .[0].Comment' <<<"$output")" "|"
	run_berth history --format '{{.ID}}|{{.CreatedSince}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}' odd:1
	assert_equal "$output" "$(short_id "$id")|N/A||100B|"
	run_berth images -f label=b=x --format '{{.Repository}}'
	assert_equal "$output" "odd"
	run_berth images -f label=a --format '{{.Repository}}'
	assert_equal "$output" ""
}

@test "history: rows newest first, empty layers 0B, sizes of the layers, -H=false" {
	local id short
	id=$(load_config_image web:1 "$FULL_CONFIG" 1000 2000000)
	short=$(short_id "$id")
	# Exact, in UTC: the non-human form has no relative times.
	TZ=UTC run_berth history -H=false web:1
	local add
	add=$(printf '%-50s' '/bin/sh -c #(nop) ADD file:0123456789abcdef0…')
	assert_equal "$output" "IMAGE          CREATED AT             CREATED BY                                      SIZE      COMMENT
$short   2024-02-01T00:00:00Z   RUN apk add curl                                2000000   buildkit.dockerfile.v0
<missing>      2024-01-01T00:00:01Z   /bin/sh -c #(nop)  CMD [\"sh\"]                   0         
<missing>      2024-01-01T00:00:00Z   ${add}1000      "

	run_berth history web:1
	[[ ${lines[0]} =~ ^IMAGE\ +CREATED\ +CREATED\ BY\ +SIZE\ +COMMENT$ ]] || die "${lines[0]}"
	[[ ${lines[1]} =~ ^$short\ +[0-9]+\ (months|years)\ ago\ +RUN\ apk\ add\ curl\ +2MB\ +buildkit.dockerfile.v0$ ]] ||
		die "${lines[1]}"
	[[ ${lines[2]} =~ ^\<missing\>\ +[0-9]+\ (months|years)\ ago\ +/bin/sh\ -c\ \#\(nop\)\ \ CMD\ \[\"sh\"\]\ +0B\ +$ ]] ||
		die "${lines[2]}"
	[[ ${lines[3]} =~ ^\<missing\>\ +.*ago\ +/bin/sh\ -c\ \#\(nop\)\ ADD\ file:0123456789abcdef0…\ +1kB\ +$ ]] ||
		die "${lines[3]}"
	local human=$output
	run_berth image history web:1
	assert_equal "$output" "$human"
	run_berth history --human=true web:1
	assert_equal "$output" "$human"
}

@test "history: --no-trunc, -q, --format" {
	local id short
	id=$(load_config_image web:1 "$FULL_CONFIG" 1000 2000000)
	short=$(short_id "$id")
	run_berth history --no-trunc web:1
	[[ ${lines[1]} =~ ^$id\ + ]] || die "${lines[1]}"
	assert_contains "${lines[3]}" "/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in / "
	run_berth history -q web:1
	assert_equal "$output" "$short
<missing>
<missing>"
	run_berth history -q --no-trunc web:1
	assert_equal "${lines[0]}" "$id"

	run_berth history --format '{{.ID}}|{{.Size}}|{{.Comment}}' web:1
	assert_equal "$output" "$short|2MB|buildkit.dockerfile.v0
<missing>|0B|
<missing>|1kB|"
	run_berth history --format 'table {{.ID}}\t{{.CreatedBy}}' web:1
	assert_equal "${lines[0]}" "IMAGE          CREATED BY"
	TZ=UTC run_berth history --format json web:1
	[ "${#lines[@]}" -eq 3 ] || die "$output"
	assert_equal "$(jq -c 'keys_unsorted' <<<"${lines[0]}")" \
		'["Comment","CreatedAt","CreatedBy","CreatedSince","ID","Size"]'
	assert_equal "$(jq -r '[.ID, .CreatedAt, .CreatedBy, .Size, .Comment] | join("|")' <<<"${lines[0]}")" \
		"$short|2024-02-01T00:00:00Z|RUN apk add curl|2MB|buildkit.dockerfile.v0"
	assert_equal "$(jq -r .CreatedBy <<<"${lines[2]}")" "/bin/sh -c #(nop) ADD file:0123456789abcdef0…"
}

@test "history: an imported image has one row carrying the whole layer" {
	local id
	id=$(import_image app:1 2000000)
	run_berth history --format '{{.ID}} {{.Size}}' app:1
	assert_equal "$output" "$(short_id "$id") 2MB"
}

@test "history: no date before 2000, too many layers in the history, missing image" {
	local cfg='{"architecture":"amd64","os":"linux","history":[{"created_by":"x"}]}'
	load_config_image old:1 "$cfg" 100 >/dev/null
	run_berth history --format '{{.CreatedSince}} {{.CreatedBy}} {{.Size}}' old:1
	assert_equal "$output" "N/A x 100B"

	cfg='{"architecture":"amd64","os":"linux","history":[{"created_by":"a"},{"created_by":"b"}]}'
	load_config_image bad:1 "$cfg" 100 >/dev/null
	run_berth 1 history bad:1
	assert_equal "$output" "Error: too many non-empty layers in History section"

	run_berth 1 history missing
	assert_equal "$output" "Error: No such image: missing"
	run_berth 1 history
	assert_contains "$output" '"berth history" requires exactly 1 argument'
}
