#!/usr/bin/env bats
# berth logs (json-file log: streams, -f, --tail, -t, --since, --until), berth ps (columns,
# Docker's statuses, filters, --format, -q, -n, -l, --no-trunc), berth top and inspect.

load helpers.containers

@test "logs: both streams, in order, of a detached container" {
	run_berth run -d --name lg $IMG sh -c 'for i in 1 2 3; do echo out$i; echo err$i >&2; done'
	wait_until 5 is_status lg exited
	# Two pipes: each stream keeps its order (across them, as in Docker, no promise).
	run_berth logs lg
	assert_equal "${#lines[@]}" 6
	assert_equal "$(berth logs lg 2>/dev/null)" "$(printf 'out1\nout2\nout3')"
	assert_equal "$(berth logs lg 2>&1 >/dev/null)" "$(printf 'err1\nerr2\nerr3')"
	# The file is Docker's json-file format.
	local path
	path=$(berth inspect -f '{{.LogPath}}' lg)
	run jq -j 'select(.stream == "stderr") | .log' "$path"
	assert_equal "$output" "$(printf 'err1\nerr2\nerr3')"
	run jq -r .time "$path"
	[[ "${lines[0]}" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z$ ]] ||
		die "time: ${lines[0]}"
}

@test "logs --tail, -t, --since, --until" {
	run_berth run --name tl $IMG sh -c 'for i in 1 2 3 4 5; do echo line$i; done'
	run_berth logs --tail 2 tl
	assert_equal "$output" "$(printf 'line4\nline5')"
	run_berth logs -n 0 tl
	assert_equal "$output" ""
	run_berth logs --tail all tl
	assert_equal "${#lines[@]}" 5
	run_berth logs --tail 100 tl
	assert_equal "${#lines[@]}" 5
	run_berth logs -t --tail 1 tl
	[[ "$output" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\ line5$ ]] || die "with -t: $output"
	run_berth logs --since 1h tl
	assert_equal "${#lines[@]}" 5
	run_berth logs --until 1h tl
	assert_equal "$output" ""
	run_berth logs --since "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" tl
	assert_equal "$output" ""
	run_berth logs --since "$(($(date +%s) - 60))" tl
	assert_equal "${#lines[@]}" 5
	run_berth 1 logs --since yesterday tl
	assert_contains "$output" "invalid value for \"since\""
}

@test "logs -f: follows until the container exits" {
	run_berth run -d --name fo $IMG sh -c 'echo first; sleep 1; echo second; sleep 0.5'
	run_berth logs -f fo
	assert_equal "$output" "$(printf 'first\nsecond')"
	run_berth logs -f fo
	assert_equal "$output" "$(printf 'first\nsecond')"
}

@test "logs: a tty container's output, long lines, missing containers" {
	run_berth run -t --name tt $IMG sh -c 'echo with-tty'
	run_berth logs tt
	assert_equal "$output" "with-tty"$'\r'
	run_berth run --name long $IMG sh -c 'head -c 40000 /dev/zero | tr "\0" a; echo'
	run_berth logs long
	assert_equal "${#output}" 40000
	run_berth 1 logs nosuch
	assert_equal "$output" "Error: No such container: nosuch"
}

@test "ps: Docker's columns and statuses, running only without -a" {
	run_berth run -d --name up1 $IMG sleep 100
	run_berth create --name cr1 $IMG sh -c 'echo a long command line that is cut'
	run_berth 3 run --name ex1 $IMG sh -c 'exit 3'
	run_berth ps
	[[ "${lines[0]}" =~ ^CONTAINER\ ID\ \ \ IMAGE\ +COMMAND\ +CREATED\ +STATUS\ +PORTS\ +NAMES$ ]] ||
		die "header: ${lines[0]}"
	[[ "${lines[1]}" =~ ^[0-9a-f]{12}\ \ \ busybox\ \ \ \"sleep\ 100\"\ \ \ .*\ ago\ +Up\ .*up1$ ]] ||
		die "row: ${lines[1]}"
	assert_equal "${#lines[@]}" 2
	run_berth ps -a --format '{{.Names}}|{{.Status}}|{{.State}}|{{.Command}}'
	assert_equal "${lines[0]}" 'ex1|Exited (3) Less than a second ago|exited|"sh -c '"'"'exit 3'"'"'"' ||
		[[ "${lines[0]}" =~ ^'ex1|Exited (3) '.*' ago|exited|"sh -c exit 3"'$ ]] || die "${lines[0]}"
	[[ "${lines[1]}" == 'cr1|Created|created|"sh -c echo a long c…"' ]] || die "${lines[1]}"
	[[ "${lines[2]}" =~ ^'up1|Up '.*'|running|"sleep 100"'$ ]] || die "${lines[2]}"
	run_berth ps -a --no-trunc --format '{{.ID}} {{.Command}}'
	[[ "${lines[1]}" =~ ^[0-9a-f]{64}\ \"sh\ -c\ echo\ a\ long\ command\ line\ that\ is\ cut\"$ ]] ||
		die "${lines[1]}"
	run_berth ps -q
	assert_equal "$output" "$(berth inspect -f '{{.Id}}' up1 | cut -c1-12)"
	run_berth ps -aq --no-trunc
	assert_equal "${#lines[@]}" 3
	run_berth ps -l --format '{{.Names}}'
	assert_equal "$output" "ex1"
	run_berth ps -n 2 --format '{{.Names}}'
	assert_equal "$output" "$(printf 'ex1\ncr1')"
	run_berth ps --format json
	assert_equal "$(jq -r '.Names + " " + .State + " " + .Networks' <<<"$output")" "up1 running bridge"
	run_berth ps --format 'table {{.Names}}\t{{.Image}}'
	assert_equal "${lines[0]}" "NAMES     IMAGE"
	run_berth 1 ps --format '{{.Nope'
	run_berth 1 ps extra
}

@test "ps --filter: status, exited, name, id, label, ancestor, before, since" {
	run_berth run -d --name f-up -l tier=web $IMG sleep 100
	run_berth run --name f-ex0 $IMG true
	run_berth 3 run --name f-ex3 -l tier=db $IMG sh -c 'exit 3'
	local id
	id=$(berth inspect -f '{{.Id}}' f-up)
	run_berth ps -a --filter status=exited --format '{{.Names}}'
	assert_equal "$(sort <<<"$output")" "$(printf 'f-ex0\nf-ex3')"
	run_berth ps --filter status=exited --format '{{.Names}}'
	assert_equal "${#lines[@]}" 2
	run_berth ps -a --filter exited=3 --format '{{.Names}}'
	assert_equal "$output" "f-ex3"
	run_berth ps -a --filter name=ex --format '{{.Names}}'
	assert_equal "${#lines[@]}" 2
	run_berth ps -a --filter "id=${id:0:8}" --format '{{.Names}}'
	assert_equal "$output" "f-up"
	run_berth ps -a --filter label=tier --format '{{.Names}}'
	assert_equal "$(sort <<<"$output")" "$(printf 'f-ex3\nf-up')"
	run_berth ps -a --filter label=tier=db --format '{{.Names}}'
	assert_equal "$output" "f-ex3"
	run_berth ps -a --filter ancestor=$IMG --format '{{.Names}}'
	assert_equal "${#lines[@]}" 3
	run_berth ps -a --filter ancestor=other --format '{{.Names}}'
	assert_equal "$output" ""
	run_berth ps -a --filter before=f-ex3 --format '{{.Names}}'
	assert_equal "$output" "$(printf 'f-ex0\nf-up')"
	run_berth ps -a --filter since=f-up --format '{{.Names}}'
	assert_equal "$output" "$(printf 'f-ex3\nf-ex0')"
	run_berth 1 ps --filter status=bogus
	assert_contains "$output" "invalid filter 'status=bogus'"
	run_berth 1 ps --filter nope=1
	assert_contains "$output" "invalid filter 'nope'"
}

@test "top: the container's processes from the host's ps" {
	# sh runs its last command in its own place: two processes, sleep 102 as PID 1.
	run_berth run -d --name tp $IMG sh -c 'sleep 101 & sleep 102'
	wait_until 5 sh -c "\"$BERTH\" top tp | grep -q 'sleep 101'"
	run_berth top tp
	[[ "${lines[0]}" =~ ^UID\ +PID\ +PPID\ +C\ +STIME\ +TTY\ +TIME\ +CMD$ ]] || die "${lines[0]}"
	assert_equal "${#lines[@]}" 3
	assert_contains "$output" "sleep 102"
	run_berth top tp -o pid,comm
	assert_equal "${lines[0]%% *}" "PID"
	assert_equal "${#lines[@]}" 3
	run_berth 1 top tp -o comm
	assert_contains "$output" "Couldn't find PID field in ps output"
	run_berth stop -t 0 tp
	run_berth 1 top tp
	assert_contains "$output" "is not running"
}

@test "inspect: Docker's ContainerJSON fields, templates, plain inspect finds containers first" {
	run_berth run -d --name insp -e K=V --restart on-failure:1 $IMG sleep 100
	run_berth inspect insp
	local j=$output
	assert_equal "$(jq -r '.[0] | keys_unsorted | join(",")' <<<"$j")" \
		"Id,Created,Path,Args,State,Image,ResolvConfPath,HostnamePath,HostsPath,LogPath,Name,RestartCount,Driver,Platform,MountLabel,ProcessLabel,AppArmorProfile,ExecIDs,HostConfig,GraphDriver,Mounts,Config,NetworkSettings"
	assert_equal "$(jq -r '.[0].State | keys_unsorted | join(",")' <<<"$j")" \
		"Status,Running,Paused,Restarting,OOMKilled,Dead,Pid,ExitCode,Error,StartedAt,FinishedAt"
	assert_equal "$(jq -r '.[0].Config.Env | join(",")' <<<"$j")" "K=V"
	assert_equal "$(jq -r '.[0].HostConfig.RestartPolicy | "\(.Name):\(.MaximumRetryCount)"' <<<"$j")" "on-failure:1"
	assert_equal "$(jq -r '.[0].GraphDriver.Name' <<<"$j")" "overlay"
	[ -d "$(jq -r '.[0].GraphDriver.Data.UpperDir' <<<"$j")" ]
	run_berth inspect -f '{{.State.Running}} {{.Name}} {{.Config.Image}}' insp
	assert_equal "$output" "true /insp busybox"
	run_berth inspect --type container -f '{{.State.Pid}}' insp
	[ "$output" -gt 1 ]
	run_berth inspect -s -f '{{.SizeRw}}' insp
	[ "$output" -ge 0 ]
	run_berth 1 inspect --type container $IMG
	assert_equal "$output" "$(printf '[]\nError: No such container: %s' $IMG)"
	run_berth inspect --type image -f '{{.Id}}' $IMG
	run_berth inspect -f '{{.Id}}' "$(berth inspect -f '{{.Id}}' insp | cut -c1-10)"
	assert_equal "$output" "$(berth inspect -f '{{.Id}}' insp)"
}
