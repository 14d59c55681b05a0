# Registries for the registry client tests (100-103): Debian's docker-registry (CNCF
# distribution 2.8) and a small python3 "fake registry" that can misbehave on purpose.
#
# start_distribution [--htpasswd FILE] [--tls CERT KEY] [--clientca CA] [--accesslog]:
#   docker-registry on 127.0.0.1 at a free port, configured by $TEST_DIR/dist-N/config.yml,
#   storing into $TEST_DIR/dist-N/data, logging (with --accesslog: every request) to
#   $DIST_DIR/log. Sets DIST_PID, DIST_PORT, DIST_HOST (127.0.0.1:PORT), DIST_URL, DIST_DIR.
#   Several may run at once; the teardown stops all of them by PID.
# start_fake_registry DIR [OPTION...]: the python server of fake_registry.py below, serving
#   DIR/manifests/<repo>/<ref> (+ <ref>.type: its Content-Type) and DIR/blobs/<digest> as
#   they are, whatever their digests. Options: flaky (the first GET of each manifest answers
#   503, the first GET of each blob stops half way), bearer (Docker token auth with /token; FAKE_USER/FAKE_PASS when set are required),
#   expires=N (token lifetime). Requests are logged to DIR/requests.log. Sets FAKE_PID,
#   FAKE_HOST, FAKE_URL.
# DOCKER_CONFIG points at $TEST_DIR/docker-config; BERTH_CERTS_D at $TEST_DIR/certs.d.
# Images to push come from helpers.images (load_config_image), loaded here first: it loads
# helpers.bash, whose setup/teardown the ones below replace.

load helpers.images

DIST_PIDS=()

dist_setup() {
	berth_setup
	export DOCKER_CONFIG=$TEST_DIR/docker-config
	export BERTH_CERTS_D=$TEST_DIR/certs.d
	mkdir -p "$DOCKER_CONFIG" "$BERTH_CERTS_D"
	DIST_PIDS=()
	DIST_N=0
}

dist_teardown() {
	local p
	for p in "${DIST_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${DIST_PIDS[@]}"; do
		# Until it is gone or a zombie (kill -0 succeeds on a zombie until it is reaped).
		for _ in $(seq 1 50); do
			kill -0 "$p" 2>/dev/null || break
			[ "$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" = Z ] && break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		{ wait "$p"; } 2>/dev/null || true
	done
	DIST_PIDS=()
	berth_teardown
}

setup() { dist_setup; }
teardown() { dist_teardown; }

# free_port: a TCP port on 127.0.0.1 nobody uses right now, below the kernel's ephemeral
# range: a port the kernel handed out for port 0 may be taken by any outgoing connection
# (of a parallel test) before the server binds it.
free_port() {
	python3 -c '
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    p = random.randrange(20000, max(low, 20001))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
'
}

# wait_http URL: until URL answers at all (any status), for up to 10 s.
wait_http() {
	local i
	for i in $(seq 1 100); do
		if curl -sk -o /dev/null "$1"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# wait_port PORT: until something listens on 127.0.0.1:PORT, for up to 10 s.
wait_port() {
	local i
	for i in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

start_distribution() {
	local htpasswd="" cert="" key="" clientca="" accesslog=true
	while [ $# -gt 0 ]; do
		case $1 in
		--accesslog) accesslog=false; shift ;;
		--htpasswd) htpasswd=$2; shift 2 ;;
		--tls) cert=$2; key=$3; shift 3 ;;
		--clientca) clientca=$2; shift 2 ;;
		*) die "start_distribution: unknown option $1"; return 1 ;;
		esac
	done
	DIST_N=$((DIST_N + 1))
	local dir=$TEST_DIR/dist-$DIST_N attempt
	mkdir -p "$dir/data"
	for attempt in 1 2 3 4 5; do
		DIST_PORT=$(free_port)
		{
			echo "version: 0.1"
			echo "log: {level: error, accesslog: {disabled: $accesslog}}"
			echo "storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}"
			echo "http:"
			echo "  addr: 127.0.0.1:$DIST_PORT"
			echo "  secret: berth-test-secret"
			if [ -n "$cert" ]; then
				echo "  tls:"
				echo "    certificate: $cert"
				echo "    key: $key"
				[ -z "$clientca" ] || echo "    clientcas: [$clientca]"
			fi
			if [ -n "$htpasswd" ]; then
				echo "auth: {htpasswd: {realm: berth-test, path: $htpasswd}}"
			fi
		} >"$dir/config.yml"
		docker-registry serve "$dir/config.yml" >>"$dir/log" 2>&1 &
		DIST_PID=$!
		DIST_PIDS+=("$DIST_PID")
		DIST_HOST=127.0.0.1:$DIST_PORT
		DIST_URL=$([ -n "$cert" ] && echo https || echo http)://$DIST_HOST
		DIST_DIR=$dir
		if wait_port "$DIST_PORT" && kill -0 "$DIST_PID" 2>/dev/null; then
			return 0
		fi
		kill -KILL "$DIST_PID" 2>/dev/null || true
	done
	cat "$dir/log" >&2
	die "docker-registry did not start"
}

# dist_curl ARGS...: curl against a registry (no certificate checks: tests check berth's).
dist_curl() {
	curl -skf "$@"
}

sha256_file() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# dist_put_blob URL REPO FILE [CURL-ARGS...]: a monolithic upload; prints the digest.
dist_put_blob() {
	local url=$1 repo=$2 file=$3 d loc
	shift 3
	d=$(sha256_file "$file")
	loc=$(curl -sk "$@" -X POST -D - -o /dev/null "$url/v2/$repo/blobs/uploads/" |
		tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	[ -n "$loc" ] || { echo "no upload location from $url" >&2; return 1; }
	case $loc in http*) ;; *) loc=$url$loc ;; esac
	case $loc in *\?*) loc="$loc&digest=$d" ;; *) loc="$loc?digest=$d" ;; esac
	curl -skf "$@" -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$file" \
		"$loc" >/dev/null || { echo "blob upload to $url failed" >&2; return 1; }
	echo "$d"
}

# dist_put_manifest URL REPO REF FILE MEDIATYPE [CURL-ARGS...]: prints the digest.
dist_put_manifest() {
	local url=$1 repo=$2 ref=$3 file=$4 mt=$5
	shift 5
	curl -skf "$@" -X PUT -H "Content-Type: $mt" --data-binary @"$file" \
		"$url/v2/$repo/manifests/$ref" >/dev/null || {
		echo "manifest upload to $url failed" >&2
		return 1
	}
	sha256_file "$file"
}

# make_image DIR ARCH CONTENT [gzip|zstd|none] [VARIANT] [MANIFEST-MEDIATYPE]: a one-layer
# image whose layer holds /platform with CONTENT: DIR/layer, DIR/config.json,
# DIR/manifest.json. Sets IMG_LAYER, IMG_DIFFID, IMG_CONFIG, IMG_MANIFEST (digests) and
# IMG_MT (the manifest media type).
make_image() {
	local dir=$1 arch=$2 content=$3 comp=${4:-gzip} variant=${5:-} mt=${6:-application/vnd.oci.image.manifest.v1+json}
	mkdir -p "$dir/rootfs"
	printf '%s\n' "$content" >"$dir/rootfs/platform"
	tar -C "$dir/rootfs" --numeric-owner --owner=0 --group=0 --mtime=@0 -cf "$dir/layer.tar" platform
	local lmt
	local docker=0
	[ "$mt" = application/vnd.docker.distribution.manifest.v2+json ] && docker=1
	case $comp in
	gzip)
		gzip -n -c "$dir/layer.tar" >"$dir/layer"
		lmt=$([ $docker = 1 ] && echo application/vnd.docker.image.rootfs.diff.tar.gzip || echo application/vnd.oci.image.layer.v1.tar+gzip)
		;;
	zstd)
		zstd -q -c "$dir/layer.tar" >"$dir/layer"
		lmt=application/vnd.oci.image.layer.v1.tar+zstd
		;;
	none)
		cp "$dir/layer.tar" "$dir/layer"
		lmt=application/vnd.oci.image.layer.v1.tar
		;;
	esac
	IMG_DIFFID=$(sha256_file "$dir/layer.tar")
	IMG_LAYER=$(sha256_file "$dir/layer")
	jq -n -c --arg a "$arch" --arg v "$variant" --arg d "$IMG_DIFFID" \
		'{architecture: $a, os: "linux", config: {Cmd: ["/bin/sh"]}, rootfs: {type: "layers", diff_ids: [$d]}}
		 + (if $v == "" then {} else {variant: $v} end)' >"$dir/config.json"
	IMG_CONFIG=$(sha256_file "$dir/config.json")
	local cmt=application/vnd.oci.image.config.v1+json
	[ $docker = 1 ] && cmt=application/vnd.docker.container.image.v1+json
	jq -n -c --arg mt "$mt" --arg cmt "$cmt" --arg c "$IMG_CONFIG" --argjson cs "$(stat -c %s "$dir/config.json")" \
		--arg lmt "$lmt" --arg l "$IMG_LAYER" --argjson ls "$(stat -c %s "$dir/layer")" \
		'{schemaVersion: 2, mediaType: $mt, config: {mediaType: $cmt, digest: $c, size: $cs},
		  layers: [{mediaType: $lmt, digest: $l, size: $ls}]}' >"$dir/manifest.json"
	IMG_MANIFEST=$(sha256_file "$dir/manifest.json")
	IMG_MT=$mt
}

# push_image_parts URL REPO REF DIR [CURL-ARGS...]: upload what make_image made.
push_image_parts() {
	local url=$1 repo=$2 ref=$3 dir=$4
	shift 4
	dist_put_blob "$url" "$repo" "$dir/layer" "$@" >/dev/null || return 1
	dist_put_blob "$url" "$repo" "$dir/config.json" "$@" >/dev/null || return 1
	dist_put_manifest "$url" "$repo" "$ref" "$dir/manifest.json" "$IMG_MT" "$@" >/dev/null
}

# make_certs DIR: a CA (DIR/ca.crt, ca.key), a server certificate for 127.0.0.1 and localhost
# signed by it (DIR/server.crt, server.key) and a client certificate (DIR/client.cert,
# client.key).
make_certs() {
	local d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=berth test CA" \
		-keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/server.key" \
		-out "$d/server.csr" 2>/dev/null || return 1
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$d/server.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=berth client" -keyout "$d/client.key" \
		-out "$d/client.csr" 2>/dev/null || return 1
	printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
	openssl x509 -req -in "$d/client.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -extfile "$d/client.ext" -out "$d/client.cert" 2>/dev/null
}

# make_htpasswd FILE USER PASSWORD: a bcrypt htpasswd file (what docker-registry reads).
make_htpasswd() {
	htpasswd -Bbn "$2" "$3" >"$1"
}

# insecure_config ENTRY...: berth's config with insecure-registries.
insecure_config() {
	jq -n -c '{"insecure-registries": $ARGS.positional}' --args "$@" >"$BERTH_CONFIG"
}

# blob_count / layer_count / image_count: what the store holds.
store_blob_count() { find "$BERTH_ROOT/blobs" -type f 2>/dev/null | wc -l; }
store_layer_count() { find "$BERTH_ROOT/layers" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
store_image_count() { find "$BERTH_ROOT/images" -type f 2>/dev/null | wc -l; }

# ---- the fake registry ----

write_fake_registry() {
	cat >"$TEST_DIR/fake_registry.py" <<'EOF'
# A registry that serves files as they are (wrong digests included), for berth's tests.
import http.server, json, os, re, socketserver, sys, threading, base64, urllib.parse

root, port_file = sys.argv[1], sys.argv[2]
opts = sys.argv[3:]
flaky = 'flaky' in opts
bearer = 'bearer' in opts
expires = 300
for o in opts:
    if o.startswith('expires='):
        expires = int(o.split('=', 1)[1])
user, password = os.environ.get('FAKE_USER'), os.environ.get('FAKE_PASS')
lock = threading.Lock()
cut = set()
tokens = {}
log = open(os.path.join(root, 'requests.log'), 'a', buffering=1)

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def reply(self, code, body=b'', ctype='application/json', headers=None, send_body=True):
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Docker-Distribution-Api-Version', 'registry/2.0')
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def challenge(self, scope):
        realm = 'http://%s/token' % self.headers.get('Host')
        h = 'Bearer realm="%s",service="fake"' % realm
        if scope:
            h += ',scope="%s"' % scope
        body = json.dumps({'errors': [{'code': 'UNAUTHORIZED', 'message': 'authentication required'}]}).encode()
        self.reply(401, body, headers={'WWW-Authenticate': h})

    def token(self, q):
        auth = self.headers.get('Authorization', '')
        if user is not None:
            want = 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode()
            if auth != want:
                self.reply(401, json.dumps({'details': 'incorrect username or password'}).encode())
                return
        scopes = q.get('scope', [])
        with lock:
            name = 't%d' % (len(tokens) + 1)
            tokens[name] = ' '.join(scopes)
        log.write('TOKEN scope=%s basic=%s\n' % (','.join(scopes), 'yes' if auth else 'no'))
        self.reply(200, json.dumps({'token': name, 'expires_in': expires}).encode())

    def allowed(self, repo, action):
        auth = self.headers.get('Authorization', '')
        if not auth.startswith('Bearer '):
            return False
        granted = tokens.get(auth[7:], '')
        for s in granted.split(' '):
            parts = s.split(':')
            if len(parts) == 3 and parts[0] == 'repository' and parts[1] == repo and action in parts[2].split(','):
                return True
        return False

    def do_HEAD(self):
        self.handle_req(False)

    def do_GET(self):
        self.handle_req(True)

    def handle_req(self, send_body):
        u = urllib.parse.urlparse(self.path)
        path, q = u.path, urllib.parse.parse_qs(u.query)
        log.write('%s %s range=%s auth=%s\n' % (self.command, path, self.headers.get('Range', ''),
                                                 self.headers.get('Authorization', '').split(' ')[0]))
        if path == '/token':
            return self.token(q)
        m = re.match(r'^/v2/(.+)/(manifests|blobs|tags)/(.+)$', path)
        if bearer and path == '/v2/' and not self.headers.get('Authorization', '').startswith('Bearer '):
            return self.challenge(None)
        if bearer and m and not self.allowed(m.group(1), 'pull'):
            return self.challenge('repository:%s:pull' % m.group(1))
        if path == '/v2/':
            return self.reply(200, b'{}', send_body=send_body)
        if not m:
            return self.reply(404, b'{"errors":[{"code":"NOT_FOUND","message":"not found"}]}')
        repo, kind, ref = m.groups()
        if kind == 'tags' and ref == 'list':
            d = os.path.join(root, 'manifests', repo)
            tags = sorted(t for t in os.listdir(d) if ':' not in t and not t.endswith('.type')) if os.path.isdir(d) else []
            return self.reply(200, json.dumps({'name': repo, 'tags': tags}).encode(), send_body=send_body)
        if kind == 'manifests':
            f = os.path.join(root, 'manifests', repo, ref)
            if send_body and flaky:
                with lock:
                    first = path not in cut
                    cut.add(path)
                if first:
                    return self.reply(503, b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')
            if not os.path.isfile(f):
                return self.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
            ctype = open(f + '.type').read().strip() if os.path.exists(f + '.type') else 'application/json'
            return self.reply(200, open(f, 'rb').read(), ctype, send_body=send_body)
        f = os.path.join(root, 'blobs', ref)
        if not os.path.isfile(f):
            return self.reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}')
        data = open(f, 'rb').read()
        rng = self.headers.get('Range', '')
        m2 = re.match(r'^bytes=(\d+)-$', rng)
        if send_body and flaky:
            with lock:
                first = ref not in cut
                cut.add(ref)
            if first:
                # Promise everything, send half, hang up.
                self.send_response(200)
                self.send_header('Content-Type', 'application/octet-stream')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
        if m2 and int(m2.group(1)) < len(data):
            start = int(m2.group(1))
            return self.reply(206, data[start:], 'application/octet-stream',
                              {'Content-Range': 'bytes %d-%d/%d' % (start, len(data) - 1, len(data))},
                              send_body=send_body)
        self.reply(200, data, 'application/octet-stream', send_body=send_body)

srv = Server(('127.0.0.1', 0), H)
with open(port_file + '.tmp', 'w') as pf:
    pf.write(str(srv.server_address[1]))
os.rename(port_file + '.tmp', port_file)
srv.serve_forever()
EOF
}

start_fake_registry() {
	local dir=$1
	shift
	mkdir -p "$dir/manifests" "$dir/blobs"
	[ -f "$TEST_DIR/fake_registry.py" ] || write_fake_registry
	rm -f "$dir/port"
	python3 "$TEST_DIR/fake_registry.py" "$dir" "$dir/port" "$@" 2>>"$dir/server.log" &
	FAKE_PID=$!
	DIST_PIDS+=("$FAKE_PID")
	wait_port_file "$dir/port" || { cat "$dir/server.log" >&2; die "fake registry did not start"; return 1; }
	FAKE_HOST=127.0.0.1:$(cat "$dir/port")
	FAKE_URL=http://$FAKE_HOST
}

# fake_put DIR REPO REF FILE MEDIATYPE: a manifest for the fake registry (by tag, and by its
# digest); fake_blob DIR FILE [DIGEST]: a blob, under its own digest or the one given.
fake_put() {
	local dir=$1 repo=$2 ref=$3 file=$4 mt=$5 d
	mkdir -p "$dir/manifests/$repo"
	d=$(sha256_file "$file")
	cp "$file" "$dir/manifests/$repo/$ref"
	echo "$mt" >"$dir/manifests/$repo/$ref.type"
	cp "$file" "$dir/manifests/$repo/$d"
	echo "$mt" >"$dir/manifests/$repo/$d.type"
}

fake_blob() {
	local dir=$1 file=$2 d=${3:-}
	[ -n "$d" ] || d=$(sha256_file "$file")
	mkdir -p "$dir/blobs"
	cp "$file" "$dir/blobs/$d"
}

# fake_image DIR REPO REF IMGDIR: what make_image made, served by the fake registry.
fake_image() {
	fake_blob "$1" "$4/layer"
	fake_blob "$1" "$4/config.json"
	fake_put "$1" "$2" "$3" "$4/manifest.json" "$IMG_MT"
}

# wait_port_file FILE: wait up to 5 s for a helper server started in the background to
# write the port it listens on into FILE; fails when it did not.
wait_port_file() {
	local i
	for i in $(seq 1 100); do
		[ -f "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
