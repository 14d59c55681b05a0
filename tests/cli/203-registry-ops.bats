#!/usr/bin/env bats
# `berth registry serve` in operation: the debug listener (/metrics in Prometheus text
# format, /debug/health), and behaviour under load: thousands of keep-alive connections,
# the connection limit, slow clients, many parallel uploads of one blob. The clients are
# curl and python3 on 127.0.0.1 only.

# helpers.images first (berth load of test images): it loads helpers.bash, whose setup and
# teardown helpers.registry's replace.
load helpers.images
load helpers.registry

# start_registry with a debug listener; sets DBG_URL.
start_debug_registry() {
	start_registry --debug-addr 127.0.0.1:0 "$@"
	local p
	p=$(sed -n 's/.*debug listener on .* (port \([0-9]*\)).*/\1/p' "$TEST_DIR/registry.log")
	[ -n "$p" ] || die "no debug listener in the log"
	DBG_URL=http://127.0.0.1:$p
}

# scrape: the metrics into $TEST_DIR/metrics. metric KEY: a sample's value (0 when absent).
scrape() { curl -sf "$DBG_URL/metrics" >"$TEST_DIR/metrics"; }
metric() {
	awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$TEST_DIR/metrics"
}
req_count() { metric "registry_http_requests_total{method=\"$1\",handler=\"$2\",code=\"$3\"}"; }

@test "debug listener: /metrics counts requests, bytes and uploads; other paths 404" {
	start_debug_registry
	scrape
	assert_contains "$(cat "$TEST_DIR/metrics")" "# TYPE registry_http_requests_total counter"
	base0=$(req_count GET base 200)
	miss0=$(req_count GET manifest 404)
	put0=$(req_count POST blob_upload 201)
	in0=$(metric registry_http_request_body_bytes_total)
	out0=$(metric registry_http_response_body_bytes_total)
	conns0=$(metric registry_http_connections_total)

	head -c 300000 /dev/urandom >"$TEST_DIR/blob"
	d=$(sha256_of "$TEST_DIR/blob")
	sent=0
	for _ in 1 2 3; do
		n=$(curl -sf -o /dev/null -w '%{size_download}' "$REG_URL/v2/")
		sent=$((sent + n))
	done
	n=$(curl -s -o /dev/null -w '%{size_download}' "$REG_URL/v2/a/manifests/nope")
	sent=$((sent + n))
	n=$(curl -sf -o /dev/null -w '%{size_download}' -X POST --data-binary @"$TEST_DIR/blob" \
		"$REG_URL/v2/a/blobs/uploads/?digest=$d")
	sent=$((sent + n))
	n=$(curl -sf -o "$TEST_DIR/back" -w '%{size_download}' "$REG_URL/v2/a/blobs/$d")
	sent=$((sent + n))
	cmp "$TEST_DIR/blob" "$TEST_DIR/back"
	curl -sfI -o /dev/null "$REG_URL/v2/a/blobs/$d"

	scrape
	assert_equal "$(req_count GET base 200)" $((base0 + 3))
	assert_equal "$(req_count GET manifest 404)" $((miss0 + 1))
	assert_equal "$(req_count POST blob_upload 201)" $((put0 + 1))
	assert_equal "$(req_count GET blob 200)" 1
	assert_equal "$(req_count HEAD blob 200)" 1
	assert_equal "$(metric registry_http_request_body_bytes_total)" $((in0 + 300000))
	# What curl read is what the server counted (a HEAD answer has no body).
	assert_equal "$(metric registry_http_response_body_bytes_total)" $((out0 + sent))
	assert_equal "$(metric registry_http_connections_total)" $((conns0 + 7))
	assert_equal "$(metric 'registry_http_request_duration_seconds_count{handler="blob"}')" 2
	assert_equal "$(metric registry_http_in_flight_requests)" 0
	assert_equal "$(metric registry_storage_upload_sessions_active)" 0

	# The process: memory, descriptors, start time.
	[ "$(metric process_resident_memory_bytes)" -gt 100000 ]
	[ "$(metric process_open_fds)" -gt 3 ]
	[ "$(metric process_max_fds)" -ge "$(metric process_open_fds)" ]
	start=$(metric process_start_time_seconds)
	now=$(date +%s)
	awk -v s="$start" -v n="$now" 'BEGIN { exit !(s > n - 120 && s <= n + 1) }'

	# A request in flight and its upload session show while it runs.
	curl -s -o /dev/null --limit-rate 100k -X POST --data-binary @"$TEST_DIR/blob" \
		"$REG_URL/v2/b/blobs/uploads/?digest=$d" &
	slow=$!
	sleep 1
	scrape
	assert_equal "$(metric registry_http_in_flight_requests)" 1
	assert_equal "$(metric registry_storage_upload_sessions_active)" 1
	assert_equal "$(metric registry_http_connections)" 1
	wait "$slow"
	scrape
	assert_equal "$(metric registry_http_in_flight_requests)" 0
	assert_equal "$(req_count POST blob_upload 201)" $((put0 + 2))

	run curl -s -o /dev/null -w '%{http_code}' "$DBG_URL/nope"
	assert_equal "$output" 404
	run curl -s -o /dev/null -w '%{http_code}' -X POST "$DBG_URL/metrics"
	assert_equal "$output" 405
	# The API is not on the debug listener, nor the debug paths on the API.
	run curl -s -o /dev/null -w '%{http_code}' "$DBG_URL/v2/"
	assert_equal "$output" 404
	run curl -s -o /dev/null -w '%{http_code}' "$REG_URL/metrics"
	assert_equal "$output" 404
}

@test "/metrics: blobs and manifests stored, mounted, served, deleted, untagged by berth push, pull and DELETEs" {
	start_debug_registry --delete
	scrape
	for a in stored mounted served deleted; do
		assert_equal "$(metric "registry_storage_blobs_total{action=\"$a\"}")" 0
	done
	assert_contains "$(cat "$TEST_DIR/metrics")" 'registry_storage_manifests_total{action="untagged"} 0'

	load_config_image "$REG_HOST/app:v1" '{"architecture":"amd64","os":"linux","config":{}}' \
		3000 5000 >/dev/null
	run_berth push "$REG_HOST/app:v1"
	rcurl -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"$REG_URL/v2/app/manifests/v1" >"$TEST_DIR/m.json"
	# The config and two layers, and the sizes the manifest gives them.
	bytes=$(jq '[.config.size, .layers[].size] | add' "$TEST_DIR/m.json")
	scrape
	assert_equal "$(metric 'registry_storage_blobs_total{action="stored"}')" 3
	assert_equal "$(metric 'registry_storage_blob_bytes_total{action="stored"}')" "$bytes"
	assert_equal "$(metric 'registry_storage_manifests_total{action="stored"}')" 1
	assert_equal "$(metric 'registry_storage_blobs_total{action="served"}')" 0
	# The rcurl above.
	assert_equal "$(metric 'registry_storage_manifests_total{action="served"}')" 1

	# The same image to another repository: its layers are mounted, not sent again (the
	# config is, as docker does).
	run_berth tag "$REG_HOST/app:v1" "$REG_HOST/other:v1"
	run_berth push "$REG_HOST/other:v1"
	scrape
	assert_equal "$(metric 'registry_storage_blobs_total{action="mounted"}')" 2
	assert_equal "$(metric 'registry_storage_blob_bytes_total{action="mounted"}')" \
		"$(jq '[.layers[].size] | add' "$TEST_DIR/m.json")"
	assert_equal "$(metric 'registry_storage_blobs_total{action="stored"}')" 4
	assert_equal "$(metric 'registry_storage_blob_bytes_total{action="stored"}')" \
		$((bytes + $(jq .config.size "$TEST_DIR/m.json")))
	assert_equal "$(metric 'registry_storage_manifests_total{action="stored"}')" 2

	run_berth rmi "$REG_HOST/app:v1" "$REG_HOST/other:v1"
	run_berth pull "$REG_HOST/app:v1"
	scrape
	assert_equal "$(metric 'registry_storage_blobs_total{action="served"}')" 3
	assert_equal "$(metric 'registry_storage_blob_bytes_total{action="served"}')" "$bytes"
	# The pull's GET and the rcurl's.
	assert_equal "$(metric 'registry_storage_manifests_total{action="served"}')" 2
	# A HEAD serves nothing, nor does a GET of what is not there.
	rcurl -I "$REG_URL/v2/app/manifests/v1" >/dev/null
	rcurl "$REG_URL/v2/app/manifests/nope" >/dev/null
	rcurl -I "$REG_URL/v2/app/blobs/$(jq -r .config.digest "$TEST_DIR/m.json")" >/dev/null
	# A range is served, and counts what was sent of the blob.
	rcurl -H 'Range: bytes=0-9' \
		"$REG_URL/v2/app/blobs/$(jq -r .config.digest "$TEST_DIR/m.json")" >/dev/null
	assert_equal "$(status_of)" 206
	scrape
	assert_equal "$(metric 'registry_storage_manifests_total{action="served"}')" 2
	assert_equal "$(metric 'registry_storage_blobs_total{action="served"}')" 4
	assert_equal "$(metric 'registry_storage_blob_bytes_total{action="served"}')" $((bytes + 10))

	digest=sha256:$(sha256sum "$TEST_DIR/m.json" | cut -d' ' -f1)
	expect_status 202 -X DELETE "$REG_URL/v2/other/manifests/v1"
	expect_status 202 -X DELETE "$REG_URL/v2/app/manifests/$digest"
	expect_status 202 -X DELETE "$REG_URL/v2/app/blobs/$(jq -r .config.digest "$TEST_DIR/m.json")"
	expect_status 404 -X DELETE "$REG_URL/v2/app/manifests/$digest"
	scrape
	assert_equal "$(metric 'registry_storage_manifests_total{action="untagged"}')" 1
	assert_equal "$(metric 'registry_storage_manifests_total{action="deleted"}')" 1
	assert_equal "$(metric 'registry_storage_blobs_total{action="deleted"}')" 1
}

@test "debug listener: off by default; debug.addr in the config; a bad address is an error" {
	start_registry
	! grep -q "debug listener" "$TEST_DIR/registry.log" || die "a debug listener was started"
	stop_registry
	cat >"$TEST_DIR/reg.json" <<EOF
{"debug": {"addr": "127.0.0.1:0"}, "limits": {"connections": 77, "idle-timeout": 9, "header-timeout": 4}}
EOF
	start_registry --config "$TEST_DIR/reg.json"
	p=$(sed -n 's/.*debug listener on 127.0.0.1:0 (port \([0-9]*\)).*/\1/p' "$TEST_DIR/registry.log")
	DBG_URL=http://127.0.0.1:$p
	scrape
	assert_equal "$(metric registry_http_connection_limit)" 77
	stop_registry
	run_berth 125 registry serve --addr 127.0.0.1:0 --root "$REG_ROOT" --debug-addr nonsense
	assert_contains "$output" "debug address"
	echo '{"limits": {"connections": 0}}' >"$TEST_DIR/bad.json"
	run_berth 125 registry serve --config "$TEST_DIR/bad.json" --root "$REG_ROOT"
	assert_contains "$output" "'limits.connections' must be 1.."
	run_berth 125 registry serve --idle-timeout 0 --root "$REG_ROOT"
	assert_contains "$output" "--idle-timeout: want 1..86400"
}

@test "/debug/health: {} when the storage works, 503 naming the failed check when not" {
	start_debug_registry
	run curl -s -w ' %{http_code}' "$DBG_URL/debug/health"
	assert_equal "$output" "{} 200"

	v2=$REG_ROOT/docker/registry/v2
	mv "$v2/repositories" "$v2/repositories.away"
	run curl -s -w ' %{http_code}' "$DBG_URL/debug/health"
	assert_contains "$output" " 503"
	assert_contains "$output" "open 'repositories'"
	mv "$v2/repositories.away" "$v2/repositories"
	run curl -s -w ' %{http_code}' "$DBG_URL/debug/health"
	assert_equal "$output" "{} 200"

	# Not writable: an immutable berth/ (root ignores permissions, not this).
	if chattr +i "$REG_ROOT/berth" 2>/dev/null; then
		run curl -s -w ' %{http_code}' "$DBG_URL/debug/health"
		chattr -i "$REG_ROOT/berth"
		assert_contains "$output" " 503"
		assert_equal "$(echo "${output% *}" | jq -r .storage)" \
			"create a file in 'berth': Operation not permitted"
		run curl -s -w ' %{http_code}' "$DBG_URL/debug/health"
		assert_equal "$output" "{} 200"
	else
		echo "# chattr +i not supported here: the write check is not exercised" >&3
	fi
	# The checks leave nothing behind.
	assert_equal "$(find "$REG_ROOT/berth" -name '.health-*' | wc -l)" 0
}

# The python client of the load tests: opens N keep-alive connections at once, then sends
# ROUNDS requests of GET PATH on every one of them, one round after the other, and prints
# "STATUS COUNT" lines for the answers; connections the server closed count as "closed".
# With a fifth argument, a file name, it keeps the connections open after printing until that
# file exists.
many_conns() {
	python3 - "$@" <<'EOF'
import collections, os, resource, socket, sys, time
port, n, rounds, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = [socket.create_connection(("127.0.0.1", port), timeout=20) for _ in range(n)]
def answer(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return "closed", True
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = lines[0].split()[1]
    length, close = 0, False
    for l in lines[1:]:
        k, _, v = l.partition(":")
        if k.lower() == "content-length":
            length = int(v)
        if k.lower() == "connection" and "close" in v.lower():
            close = True
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, close
open_ = list(socks)
for r in range(rounds):
    counts = collections.Counter()
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode()
    for s in open_:
        try:
            s.sendall(req)
        except OSError:
            pass
    still = []
    for s in open_:
        try:
            st, close = answer(s)
        except OSError:
            st, close = "closed", True
        counts[st] += 1
        if close or st == "closed":
            s.close()
        else:
            still.append(s)
    open_ = still
    for k in sorted(counts):
        print("round%d %s %d" % (r + 1, k, counts[k]), flush=True)
if len(sys.argv) > 5:
    print("holding %d" % len(open_), flush=True)
    t0 = time.time()
    while not os.path.exists(sys.argv[5]) and time.time() - t0 < 60:
        time.sleep(0.05)
EOF
}

@test "2000 keep-alive connections held open at once: every request on each succeeds" {
	start_debug_registry --quiet
	run many_conns "$REG_PORT" 2000 3 /v2/
	[ "$status" -eq 0 ]
	assert_equal "$output" "round1 200 2000
round2 200 2000
round3 200 2000"
	scrape
	# 3 requests per connection: they were kept alive, not reopened.
	[ "$(metric registry_http_connections_total)" -lt 2100 ]
	[ "$(req_count GET base 200)" -ge 6000 ]
	assert_equal "$(metric registry_http_connections_refused_total)" 0
}

@test "over --max-connections: 503 UNAVAILABLE and close; a freed slot serves again" {
	start_debug_registry --quiet --max-connections 50
	coproc HOLDER { many_conns "$REG_PORT" 60 2 /v2/ "$TEST_DIR/release"; }
	EXTRA_PIDS+=("$HOLDER_PID")
	lines=()
	for _ in 1 2 3 4 5; do
		read -r -t 30 line <&"${HOLDER[0]}"
		lines+=("$line")
		[[ $line == holding* ]] && break
	done
	assert_equal "${lines[*]}" "round1 200 50 round1 503 10 round2 200 50 holding 50"
	# 50 held: one more is over the limit.
	expect_error 503 UNAVAILABLE "$REG_URL/v2/"
	assert_equal "$(hdr Retry-After)" 1
	scrape
	assert_equal "$(metric registry_http_connections_refused_total)" 11
	assert_equal "$(req_count GET rejected 503)" 11
	assert_equal "$(metric registry_http_connections)" 50
	# Let them go: the next client is served.
	touch "$TEST_DIR/release"
	wait "$HOLDER_PID"
	for _ in $(seq 1 50); do
		scrape
		[ "$(metric registry_http_connections)" = 0 ] && break
		sleep 0.1
	done
	expect_status 200 "$REG_URL/v2/"
}

@test "slow clients are cut off after the timeouts and do not hold up the others" {
	start_debug_registry --header-timeout 2 --idle-timeout 3
	head -c 100000 /dev/urandom >"$TEST_DIR/blob"
	d=$(sha256_of "$TEST_DIR/blob")
	run python3 - "$REG_PORT" "$d" <<'EOF'
import socket, sys, threading, time, select, urllib.request
port, digest = int(sys.argv[1]), sys.argv[2]
res = {}
def until_closed(name, first, trickle, every):
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.time()
    s.sendall(first)
    i = 0
    while time.time() - t0 < 30:
        r, _, _ = select.select([s], [], [], every)
        if r:
            try:
                if not s.recv(4096):
                    break
            except OSError:
                break
            continue
        if trickle:
            try:
                s.sendall(trickle[i % len(trickle)].encode())
            except OSError:
                break
            i += 1
    res[name] = time.time() - t0
    s.close()
body = "POST /v2/slow/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" % digest
ts = [
    # Headers one byte at a time, for ever: header timeout (2 s) after the request line.
    threading.Thread(target=until_closed, args=("headers", b"GET /v2/ HTTP/1.1\r\n", "X-Slow: abcdefgh\r\n", 0.2)),
    # The request line itself one byte at a time: idle timeout (3 s, and a second).
    threading.Thread(target=until_closed, args=("line", b"G", "ET /v2/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0.2)),
    # A body that stops: silent for the idle timeout (3 s).
    threading.Thread(target=until_closed, args=("body", body.encode() + b"x" * 1000, "", 0.2)),
]
for t in ts:
    t.start()
# Meanwhile others are served, each at once.
slowest = 0
t0 = time.time()
while any(t.is_alive() for t in ts) and time.time() - t0 < 30:
    a = time.time()
    with urllib.request.urlopen("http://127.0.0.1:%d/v2/" % port, timeout=5) as r:
        assert r.status == 200
    slowest = max(slowest, time.time() - a)
    time.sleep(0.05)
for t in ts:
    t.join()
print("headers %.1f" % res["headers"])
print("line %.1f" % res["line"])
print("body %.1f" % res["body"])
print("others %.2f" % slowest)
EOF
	echo "$output" >&3
	[ "$status" -eq 0 ]
	within() { awk -v v="$(echo "$output" | awk -v k="$1" '$1 == k {print $2}')" -v lo="$2" -v hi="$3" \
		'BEGIN { exit !(v >= lo && v <= hi) }'; }
	within headers 1.8 6
	within line 2.8 8
	within body 2.8 8
	# (Under the shortest timeout: a request held up by a slow client would wait that long.)
	within others 0 1.9
	scrape
	[ "$(metric registry_http_connections_timed_out_total)" -ge 2 ]
	# The cut upload left nothing: no blob, no upload directory.
	expect_status 404 -I "$REG_URL/v2/slow/blobs/$d"
	assert_equal "$(find "$REG_ROOT/docker/registry/v2/repositories" -path '*_uploads/*' | wc -l)" 0
	hex=${d#sha256:}
	[ ! -e "$REG_ROOT/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex" ]
}

@test "30 parallel uploads of one blob to 5 repositories: all correct, never a partial blob" {
	start_debug_registry --quiet
	head -c $((8 * 1024 * 1024)) /dev/urandom >"$TEST_DIR/blob"
	size=$(stat -c %s "$TEST_DIR/blob")
	d=$(sha256_of "$TEST_DIR/blob")
	hex=${d#sha256:}
	data=$REG_ROOT/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
	head -c 3000000 "$TEST_DIR/blob" >"$TEST_DIR/part1"
	tail -c +3000001 "$TEST_DIR/blob" >"$TEST_DIR/part2"

	# A watcher: whenever the blob's data file exists, it is whole.
	python3 - "$data" "$size" "$TEST_DIR/stop" >"$TEST_DIR/watch" <<'EOF' &
import os, sys, time
path, size, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seen = bad = 0
open(stop + ".ready", "w").close()
while not os.path.exists(stop):
    try:
        st = os.stat(path)
        seen += 1
        if st.st_size != size:
            bad += 1
    except FileNotFoundError:
        pass
    time.sleep(0.002)
print("seen %d bad %d" % (seen, bad))
EOF
	watcher=$!
	EXTRA_PIDS+=("$watcher")
	for _ in $(seq 1 200); do
		[ -e "$TEST_DIR/stop.ready" ] && break
		sleep 0.05
	done

	upload() { # REPO FLOW
		local loc
		with_digest() { case $1 in *\?*) echo "$1&digest=$d" ;; *) echo "$1?digest=$d" ;; esac; }
		case $2 in
		mono)
			curl -sf -o /dev/null -w '%{http_code}\n' -X POST --data-binary @"$TEST_DIR/blob" \
				"$REG_URL/v2/$1/blobs/uploads/?digest=$d"
			;;
		put)
			loc=$(curl -sf -D - -o /dev/null -X POST "$REG_URL/v2/$1/blobs/uploads/" |
				sed -n 's/^Location: //Ip' | tr -d '\r')
			curl -sf -o /dev/null -w '%{http_code}\n' -X PUT -T "$TEST_DIR/blob" \
				"$REG_URL$(with_digest "$loc")"
			;;
		chunks)
			loc=$(curl -sf -D - -o /dev/null -X POST "$REG_URL/v2/$1/blobs/uploads/" |
				sed -n 's/^Location: //Ip' | tr -d '\r')
			loc=$(curl -sf -D - -o /dev/null -X PATCH -H 'Content-Range: 0-2999999' \
				--data-binary @"$TEST_DIR/part1" "$REG_URL$loc" | sed -n 's/^Location: //Ip' | tr -d '\r')
			loc=$(curl -sf -D - -o /dev/null -X PATCH -H "Content-Range: 3000000-$((size - 1))" \
				--data-binary @"$TEST_DIR/part2" "$REG_URL$loc" | sed -n 's/^Location: //Ip' | tr -d '\r')
			curl -sf -o /dev/null -w '%{http_code}\n' -X PUT "$REG_URL$(with_digest "$loc")"
			;;
		esac
	}
	pids=()
	i=0
	for repo in r0 r1 r2 r3 team/r4; do
		for flow in mono put chunks mono put chunks; do
			upload "$repo" "$flow" >"$TEST_DIR/up.$i" 2>&1 &
			pids+=($!)
			i=$((i + 1))
		done
	done
	for p in "${pids[@]}"; do
		wait "$p"
	done
	touch "$TEST_DIR/stop"
	wait "$watcher"
	assert_equal "$(cat "$TEST_DIR"/up.* | sort | uniq -c | awk '{print $1, $2}')" "30 201"
	read -r _ seen _ bad <"$TEST_DIR/watch"
	assert_equal "$bad" 0
	[ "$seen" -gt 0 ]
	for repo in r0 r1 r2 r3 team/r4; do
		curl -sf "$REG_URL/v2/$repo/blobs/$d" | cmp - "$TEST_DIR/blob"
	done
	cmp "$data" "$TEST_DIR/blob"
	# No upload left, no temp file anywhere.
	assert_equal "$(find "$REG_ROOT" -path '*_uploads/*' -o -name '.tmp-*' | wc -l)" 0
	scrape
	assert_equal "$(metric registry_storage_upload_sessions)" 0
	assert_equal "$(req_count POST blob_upload 201)" 10
	assert_equal "$(req_count PUT blob_upload_chunk 201)" 20
	assert_equal "$(req_count PATCH blob_upload_chunk 202)" 20
}

@test "the connection limit is clamped to what the open-file limit allows, and said so" {
	# Hard limit 1000: two descriptors per connection after 192 kept, (1000 - 192) / 2.
	(ulimit -n 1000 && exec "$BERTH" registry serve --addr 127.0.0.1:0 --root "$REG_ROOT" \
		--debug-addr 127.0.0.1:0 --max-connections 5000) 2>"$TEST_DIR/registry.log" &
	REG_PID=$!
	for _ in $(seq 1 100); do
		grep -q 'debug listener' "$TEST_DIR/registry.log" && break
		sleep 0.05
	done
	assert_contains "$(cat "$TEST_DIR/registry.log")" "serving at most 404 connections"
	p=$(sed -n 's/.*debug listener on .* (port \([0-9]*\)).*/\1/p' "$TEST_DIR/registry.log")
	DBG_URL=http://127.0.0.1:$p
	scrape
	assert_equal "$(metric registry_http_connection_limit)" 404
	assert_equal "$(metric process_max_fds)" 1000
	stop_registry
	# Without a limit given, the default follows the raised soft limit: the hard one.
	(ulimit -Sn 300 && ulimit -Hn 1000 && exec "$BERTH" registry serve --addr 127.0.0.1:0 \
		--root "$REG_ROOT" --debug-addr 127.0.0.1:0) 2>"$TEST_DIR/registry.log" &
	REG_PID=$!
	for _ in $(seq 1 100); do
		grep -q 'debug listener' "$TEST_DIR/registry.log" && break
		sleep 0.05
	done
	! grep -q "serving at most" "$TEST_DIR/registry.log" || die "the limit was said to be clamped"
	p=$(sed -n 's/.*debug listener on .* (port \([0-9]*\)).*/\1/p' "$TEST_DIR/registry.log")
	DBG_URL=http://127.0.0.1:$p
	scrape
	assert_equal "$(metric process_max_fds)" 1000
	assert_equal "$(metric registry_http_connection_limit)" 404
}

@test "an upload's announced length is reserved on disk; what the body did not fill is given back at the commit" {
	# A body that stops short is ended by the server after 1 s of silence.
	start_registry --idle-timeout 1
	head -c $((3 << 20)) /dev/urandom >"$TEST_DIR/blob"
	local d loc
	d=$(sha256_of "$TEST_DIR/blob")
	expect_status 202 -X POST "$REG_URL/v2/r/blobs/uploads/"
	loc=$(hdr Location)
	case $loc in http*) ;; *) loc=$REG_URL$loc ;; esac
	# A PATCH that announces 8 MiB and stops after 2 MiB; the server gives up on it.
	python3 - "$REG_PORT" "${loc#"$REG_URL"}" "$TEST_DIR/blob" <<'PY'
import socket, sys
port, path, blob = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], "rb").read()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("PATCH %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
           "Content-Length: %d\r\n\r\n" % (path, 8 << 20)).encode() + blob[: 2 << 20])
s.settimeout(30)
s.recv(1)  # the server closes the connection at its idle timeout
s.close()
PY
	local uuid=${loc##*/uploads/}
	uuid=${uuid%%\?*}
	local data=$REG_ROOT/docker/registry/v2/repositories/r/_uploads/$uuid/data n=
	local i
	for i in $(seq 1 100); do
		n=$(stat -c %s "$data" 2>/dev/null) || n=
		[ "$n" = $((2 << 20)) ] && break
		sleep 0.05
	done
	assert_equal "$n" $((2 << 20))
	# Reserved for the announced 8 MiB, far beyond the 2 MiB received.
	[ $(($(stat -c %b "$data") * 512)) -ge $((8 << 20)) ]
	# The rest goes up with the final PUT; the blob keeps only its own blocks.
	tail -c +$(((2 << 20) + 1)) "$TEST_DIR/blob" >"$TEST_DIR/rest"
	local sep='?'
	case $loc in *\?*) sep='&' ;; esac
	expect_status 201 -X PUT -H 'Content-Type: application/octet-stream' \
		--data-binary @"$TEST_DIR/rest" "$loc${sep}digest=$d"
	local stored=$REG_ROOT/docker/registry/v2/blobs/sha256/${d:7:2}/${d#sha256:}/data
	assert_equal "$(stat -c %s "$stored")" $((3 << 20))
	[ $(($(stat -c %b "$stored") * 512)) -le $(((3 << 20) + 65536)) ]
	cmp "$TEST_DIR/blob" <(curl -sf "$REG_URL/v2/r/blobs/$d")
}

@test "a disk that fills up in a big upload: 507, the upload keeps only what was written, the space comes back" {
	mkdir "$TEST_DIR/small"
	mount -t tmpfs -o size=12m tmpfs "$TEST_DIR/small"
	REG_ROOT=$TEST_DIR/small/registry
	start_registry -q
	mib=1048576
	head -c $((20 * mib)) /dev/urandom >"$TEST_DIR/big"
	d=$(sha256_of "$TEST_DIR/big")
	hex=${d#sha256:}
	v2=$REG_ROOT/docker/registry/v2

	# Monolithic: refused, and neither a blob nor an upload stays.
	expect_error 507 UNKNOWN -X POST -H 'Content-Type: application/octet-stream' \
		--data-binary @"$TEST_DIR/big" "$REG_URL/v2/full/blobs/uploads/?digest=$d"
	grep -q "No space left on device" "$TEST_DIR/body" || die "$(cat "$TEST_DIR/body")"
	[ ! -e "$v2/blobs/sha256/${hex:0:2}/$hex" ] || die "a partial blob is in the store"
	[ -z "$(ls -A "$v2/repositories/full/_uploads" 2>/dev/null)" ] || die "the upload was left behind"

	# A chunk: refused; the upload holds a prefix of it, and says so.
	expect_status 202 -X POST "$REG_URL/v2/full/blobs/uploads/"
	loc=$(hdr Location)
	expect_error 507 UNKNOWN -X PATCH -H 'Content-Type: application/octet-stream' \
		--data-binary @"$TEST_DIR/big" "$REG_URL$loc"
	expect_status 204 "$REG_URL$loc"
	range=$(hdr Range)
	uuid=${loc##*/}
	uuid=${uuid%%\?*}
	data=$v2/repositories/full/_uploads/$uuid/data
	size=$(stat -c %s "$data")
	[ "$size" -gt 0 ] && [ "$size" -lt $((20 * mib)) ] || die "upload of $size bytes"
	assert_equal "$range" "0-$((size - 1))"
	cmp -n "$size" "$data" "$TEST_DIR/big"
	expect_status 204 -X DELETE "$REG_URL$loc"

	# The space is free again: a blob big enough for O_DIRECT goes in whole.
	head -c $((5 * mib)) /dev/urandom >"$TEST_DIR/ok"
	d=$(push_blob full "$TEST_DIR/ok")
	curl -sf "$REG_URL/v2/full/blobs/$d" | cmp - "$TEST_DIR/ok"
	stop_registry
}
