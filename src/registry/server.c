#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fs.h"
#include "lazy.h"
#include "regmanifest.h"
#include "regstore.h"
#include "route.h"
#include "srvmetrics.h"

#include "banned.h"

LAZY_LIB(microhttpd);

#define JSON_TYPE "application/json; charset=utf-8"
/* distribution's default page size of /v2/_catalog, and the most we hand out at once. */
#define CATALOG_DEFAULT_N 100
#define CATALOG_MAX_N 10000
/* A request body that must be read and thrown away (its request failed before it came) is
 * drained up to this size, so the client gets the answer instead of a reset; past it the
 * connection is closed. */
#define DISCARD_MAX (64u << 20)

/* Descriptors kept for other uses than connections (listening sockets, wake-up pipes, the store's
 * directories, gc locks, the debug listener), and the connections above the limit that are
 * accepted only to be told 503. */
#define FD_RESERVE 128
#define OVER_LIMIT_SLACK 64
#define CONNECTIONS_DEFAULT_MAX 10000
#define HEADER_TIMEOUT_DEFAULT 30
#define IDLE_TIMEOUT_DEFAULT 120
/* The manifest cache: slots, and the largest manifest kept (256 KiB at most in all). */
#define MC_SLOTS 64
#define MC_ENTRY_MAX 4096

/* Where a connection is, for the timeouts libmicrohttpd does not have. Its own timeout
 * closes a connection silent for idle_timeout, but a client that sends one byte now and
 * then is never silent: regsrv_serve() closes a connection whose request line is not
 * complete idle_timeout after its last request (or its start), or whose headers are not
 * complete header_timeout after its request line. */
enum conn_state { CONN_IDLE = 0, CONN_HEADERS, CONN_REQUEST };

struct conn {
	struct conn *prev, *next; /* in regsrv.conns, under conns_lock */
	int fd;
	int over;	       /* accepted above the limit: answered 503 */
	int reaped;	       /* shut down for a timeout */
	atomic_int state;      /* enum conn_state */
	atomic_llong since_ms; /* CLOCK_MONOTONIC when it entered that state */
};

struct regsrv {
	struct regsrv_config cfg;
	struct MHD_Daemon *d, *debug;
	struct regstore *store;
	struct regsrv_htpasswd *htpasswd;
	struct regsrv_acl *acl;
	struct regsrv_token_key *key;
	char *tls_cert, *tls_key;
	struct regsrv_metrics m; /* m.in_flight: requests begun and not completed */
	unsigned port, debug_port;
	unsigned conn_limit, header_timeout, idle_timeout;
	const char *arch; /* the platform served to clients that do not take indexes */
	int tls;

	pthread_mutex_t conns_lock;
	struct conn *conns;

	/* Small manifests by digest, with their media type: the bytes under a digest never
	 * change, so an entry is never stale; whether a repository has the manifest is still
	 * asked of the store on every request. Direct-mapped, a new one takes the slot. */
	pthread_mutex_t mc_lock;
	struct mc_slot {
		struct digest d;
		char *data;
		size_t len;
		enum regsrv_mt t;
	} mc[MC_SLOTS];
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A manifest GET reads three files (tag link, revision link, the manifest) and parses the
 * manifest for its media type; the cache saves the last two steps. A digest's slot: its
 * first four hex digits. */
static struct mc_slot *mc_slot_of(struct regsrv *s, const struct digest *d)
{
	unsigned h = 0;
	for (int i = 0; i < 4 && d->hex[i]; i++)
		h = h * 16 + (unsigned)hexval(d->hex[i]);
	return &s->mc[h % MC_SLOTS];
}

static int mc_get(struct regsrv *s, const struct digest *d, char **ret_data, size_t *ret_len,
		  enum regsrv_mt *ret_t)
{
	struct mc_slot *m = mc_slot_of(s, d);
	int hit = 0;
	pthread_mutex_lock(&s->mc_lock);
	if (m->data && digest_equal(&m->d, d) && (*ret_data = malloc(m->len + 1))) {
		memcpy(*ret_data, m->data, m->len + 1);
		*ret_len = m->len;
		*ret_t = m->t;
		hit = 1;
	}
	pthread_mutex_unlock(&s->mc_lock);
	return hit;
}

static void mc_put(struct regsrv *s, const struct digest *d, const char *data, size_t len,
		   enum regsrv_mt t)
{
	if (len > MC_ENTRY_MAX)
		return;
	char *copy = malloc(len + 1);
	if (!copy)
		return;
	memcpy(copy, data, len + 1);
	struct mc_slot *m = mc_slot_of(s, d);
	pthread_mutex_lock(&s->mc_lock);
	free(m->data);
	*m = (struct mc_slot){.d = *d, .data = copy, .len = len, .t = t};
	pthread_mutex_unlock(&s->mc_lock);
}

/* Manifest d of name (a malloc'd, NUL-terminated copy) and its media type; -ENOENT when
 * name does not have it. */
static int manifest_load(struct regsrv *s, const char *name, const struct digest *d,
			 char **ret_data, size_t *ret_len, enum regsrv_mt *ret_t)
{
	int r = regstore_manifest_linked(s->store, name, d);
	if (r < 0)
		return r;
	if (mc_get(s, d, ret_data, ret_len, ret_t))
		return 0;
	r = regstore_manifest_read(s->store, d, ret_data, ret_len);
	if (r < 0)
		return r;
	*ret_t = regsrv_manifest_sniff(*ret_data, *ret_len);
	mc_put(s, d, *ret_data, *ret_len, *ret_t);
	return 0;
}

enum body_kind { BODY_NONE = 0, BODY_DISCARD, BODY_UPLOAD, BODY_MANIFEST };

enum req_method { M_OTHER = 0, M_GET, M_HEAD, M_PUT, M_POST, M_PATCH, M_DELETE };

struct req {
	struct regsrv *srv;
	struct timespec start;
	enum req_method m;
	char method[16];
	char *path;
	struct regsrv_route route;
	char *user; /* authenticated user, NULL for anonymous */
	unsigned status;
	uint64_t bytes, received;

	enum body_kind body;
	struct regstore_upload *up;
	int up_monolithic; /* the upload exists for this request only (POST ?digest=) */
	int has_range;
	uint64_t range_start, range_end;
	uint64_t body_start; /* upload size before this request's body */
	struct buf manifest;
	int too_large;
	int write_failed;
	struct berr *werr;
	/* The answer to give once the body is drained (BODY_DISCARD). */
	struct MHD_Response *pending;
	unsigned pending_status;
	uint64_t pending_len;
	int first_call;	 /* in begin() */
	int respond_now; /* refuse the body: answer on the first call */
	int rejected;	 /* over the connection limit */
};

/* ---- config ---- */

void regsrv_config_init(struct regsrv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->addr = ":5000";
	cfg->realm = NULL;
	cfg->token_service = "berth-registry";
	cfg->token_alg = REGSRV_TOKEN_HS256;
	cfg->token_expiry = 300;
}

static int want_string(json_t *v, const char *key, const char **out, struct berr **err)
{
	if (!json_is_string(v))
		return berr_set(err, EINVAL, "registry config: '%s' must be a string", key);
	*out = json_string_value(v);
	return 0;
}

static int want_bool(json_t *v, const char *key, int *out, struct berr **err)
{
	if (!json_is_boolean(v))
		return berr_set(err, EINVAL, "registry config: '%s' must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

int regsrv_config_apply_json(struct regsrv_config *cfg, json_t *obj, struct berr **err)
{
	if (!json_is_object(obj))
		return berr_set(err, EINVAL, "registry config: must be an object");
	const char *key;
	json_t *v;
	int r = 0;
	json_object_foreach(obj, key, v)
	{
		if (streq(key, "addr"))
			r = want_string(v, key, &cfg->addr, err);
		else if (streq(key, "root"))
			r = want_string(v, key, &cfg->root, err);
		else if (streq(key, "htpasswd"))
			r = want_string(v, key, &cfg->htpasswd, err);
		else if (streq(key, "realm"))
			r = want_string(v, key, &cfg->realm, err);
		else if (streq(key, "read-only"))
			r = want_bool(v, key, &cfg->read_only, err);
		else if (streq(key, "delete"))
			r = want_bool(v, key, &cfg->delete_enabled, err);
		else if (streq(key, "threads")) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 1024)
				return berr_set(err, EINVAL,
						"registry config: 'threads' must be 0..1024");
			cfg->threads = (unsigned)json_integer_value(v);
		} else if (streq(key, "limits")) {
			const char *k2;
			json_t *v2;
			if (!json_is_object(v))
				return berr_set(err, EINVAL,
						"registry config: 'limits' must be an object");
			json_object_foreach(v, k2, v2)
			{
				unsigned *dst;
				long long max;
				if (streq(k2, "connections")) {
					dst = &cfg->max_connections;
					max = 1000000;
				} else if (streq(k2, "header-timeout")) {
					dst = &cfg->header_timeout;
					max = 86400;
				} else if (streq(k2, "idle-timeout")) {
					dst = &cfg->idle_timeout;
					max = 86400;
				} else {
					return berr_set(err, EINVAL,
							"registry config: unknown key 'limits.%s'",
							k2);
				}
				if (!json_is_integer(v2) || json_integer_value(v2) < 1 ||
				    json_integer_value(v2) > max)
					return berr_set(
					    err, EINVAL,
					    "registry config: 'limits.%s' must be 1..%lld", k2,
					    max);
				*dst = (unsigned)json_integer_value(v2);
			}
		} else if (streq(key, "debug")) {
			const char *k2;
			json_t *v2;
			if (!json_is_object(v))
				return berr_set(err, EINVAL,
						"registry config: 'debug' must be an object");
			json_object_foreach(v, k2, v2)
			{
				if (!streq(k2, "addr"))
					return berr_set(err, EINVAL,
							"registry config: unknown key 'debug.%s'",
							k2);
				r = want_string(v2, "debug.addr", &cfg->debug_addr, err);
				if (r < 0)
					return r;
			}
		} else if (streq(key, "access")) {
			if (!json_is_array(v))
				return berr_set(err, EINVAL,
						"registry config: 'access' must be an array");
			cfg->access = v;
		} else if (streq(key, "tls")) {
			const char *k2;
			json_t *v2;
			if (!json_is_object(v))
				return berr_set(err, EINVAL,
						"registry config: 'tls' must be an object");
			json_object_foreach(v, k2, v2)
			{
				if (streq(k2, "cert"))
					r = want_string(v2, "tls.cert", &cfg->tls_cert, err);
				else if (streq(k2, "key"))
					r = want_string(v2, "tls.key", &cfg->tls_key, err);
				else
					return berr_set(err, EINVAL,
							"registry config: unknown key 'tls.%s'",
							k2);
				if (r < 0)
					return r;
			}
		} else if (streq(key, "token")) {
			const char *k2;
			json_t *v2;
			if (!json_is_object(v))
				return berr_set(err, EINVAL,
						"registry config: 'token' must be an object");
			json_object_foreach(v, k2, v2)
			{
				const char *s = NULL;
				if (streq(k2, "issuer")) {
					r = want_string(v2, "token.issuer", &cfg->token_issuer,
							err);
				} else if (streq(k2, "service")) {
					r = want_string(v2, "token.service", &cfg->token_service,
							err);
				} else if (streq(k2, "alg")) {
					r = want_string(v2, "token.alg", &s, err);
					if (r == 0 &&
					    regsrv_token_alg_parse(s, &cfg->token_alg) < 0)
						return berr_set(err, EINVAL,
								"registry config: 'token.alg' must "
								"be HS256 or ES256");
				} else if (streq(k2, "expiry")) {
					if (!json_is_integer(v2) || json_integer_value(v2) < 10 ||
					    json_integer_value(v2) > 86400)
						return berr_set(err, EINVAL,
								"registry config: 'token.expiry' "
								"must be 10..86400 seconds");
					cfg->token_expiry = (long)json_integer_value(v2);
				} else {
					return berr_set(err, EINVAL,
							"registry config: unknown key 'token.%s'",
							k2);
				}
				if (r < 0)
					return r;
			}
		} else {
			return berr_set(err, EINVAL, "registry config: unknown key '%s'", key);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- responses ---- */

static struct MHD_Response *resp_buf(const void *data, size_t len)
{
	return MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
}

/* Takes ownership of data (malloc'd). */
static struct MHD_Response *resp_take(char *data, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (!r)
		free(data);
	return r;
}

static void hdr(struct MHD_Response *r, const char *name, const char *value)
{
	if (r)
		MHD_add_response_header(r, name, value);
}

static void hdrf(struct MHD_Response *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void hdrf(struct MHD_Response *r, const char *name, const char *fmt, ...)
{
	char v[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(v))
		hdr(r, name, v);
}

/* Give up the request's upload: a monolithic one (no session the client knows) is
 * dropped, a session is released for the next request. */
static void drop_upload(struct req *rq)
{
	if (!rq->up)
		return;
	if (rq->up_monolithic)
		regstore_upload_cancel(rq->up);
	else
		regstore_upload_release(rq->up);
	rq->up = NULL;
}

/* Hand r to libmicrohttpd now. The upload is let go first: the client may send its next
 * request for it (on another connection) as soon as it has this answer, before
 * libmicrohttpd reports this one complete. */
static enum MHD_Result send_resp(struct req *rq, struct MHD_Connection *c, unsigned status,
				 struct MHD_Response *r, uint64_t bytes)
{
	drop_upload(rq);
	rq->status = status;
	rq->bytes = rq->m == M_HEAD ? 0 : bytes;
	enum MHD_Result res = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return res;
}

/* Answer the request. Decided on the first call (before any body), the answer is kept
 * for the last call: libmicrohttpd 0.9.75 closes the connection after a response queued
 * on the first call, and clients that keep connections alive would have to reconnect for
 * every request. A body that comes meanwhile is read and dropped. */
static enum MHD_Result queue(struct req *rq, struct MHD_Connection *c, unsigned status,
			     struct MHD_Response *r, uint64_t bytes)
{
	if (!r)
		return MHD_NO;
	hdr(r, "Docker-Distribution-API-Version", "registry/2.0");
	if (rq->first_call && !rq->respond_now) {
		if (rq->pending)
			MHD_destroy_response(rq->pending);
		rq->pending = r;
		rq->pending_status = status;
		rq->pending_len = bytes;
		if (rq->body == BODY_NONE)
			rq->body = BODY_DISCARD;
		return MHD_YES;
	}
	return send_resp(rq, c, status, r, bytes);
}

/* An error response with the spec's body: {"errors": [{"code", "message", "detail"}]}.
 * errors is stolen. */
static struct MHD_Response *error_body(json_t *errors, uint64_t *ret_len)
{
	_cleanup_json_ json_t *doc = json_pack("{s:o}", "errors", errors);
	if (!doc)
		return NULL;
	char *s = json_dumps(doc, JSON_COMPACT);
	if (!s)
		return NULL;
	*ret_len = strlen(s);
	struct MHD_Response *r = resp_take(s, strlen(s));
	hdr(r, "Content-Type", JSON_TYPE);
	return r;
}

static json_t *error_item(const char *code, const char *message, json_t *detail)
{
	json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message);
	if (e && detail)
		json_object_set_new(e, "detail", detail);
	else if (detail)
		json_decref(detail);
	return e;
}

static struct MHD_Response *error_resp(const char *code, const char *message, json_t *detail,
				       uint64_t *ret_len)
{
	json_t *arr = json_array();
	json_t *e = error_item(code, message, detail);
	if (!arr || !e || json_array_append_new(arr, e) < 0) {
		json_decref(arr);
		json_decref(e);
		return NULL;
	}
	return error_body(arr, ret_len);
}

/* ---- request helpers ---- */

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* The request has a body to read (or may have: chunked). */
static int has_body(struct MHD_Connection *c, uint64_t *ret_len)
{
	const char *cl = header(c, "Content-Length");
	const char *te = header(c, "Transfer-Encoding");
	*ret_len = cl ? strtoull(cl, NULL, 10) : 0;
	if (te && strcasestr(te, "chunked"))
		return 1;
	return *ret_len > 0;
}

/* Answer with an error. Decided before the body, the answer normally waits for it (see
 * queue()), but a client waiting for "100 Continue" has not sent its body and a huge one is
 * not worth reading: those get the answer at once, and libmicrohttpd closes the connection
 * after it. */
static enum MHD_Result fail_resp(struct req *rq, struct MHD_Connection *c, unsigned status,
				 struct MHD_Response *r, uint64_t rlen)
{
	uint64_t len;
	const char *expect = header(c, "Expect");
	if (rq->first_call && has_body(c, &len) &&
	    ((expect && strcasestr(expect, "100-continue")) || len > DISCARD_MAX))
		rq->respond_now = 1;
	return queue(rq, c, status, r, rlen);
}

static enum MHD_Result fail(struct req *rq, struct MHD_Connection *c, unsigned status,
			    const char *code, const char *message, json_t *detail)
{
	uint64_t rlen = 0;
	struct MHD_Response *r = error_resp(code, message, detail, &rlen);
	return fail_resp(rq, c, status, r, rlen);
}

static enum MHD_Result fail_errno(struct req *rq, struct MHD_Connection *c, const char *what, int r,
				  const struct berr *e)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "%s: %s", what, e ? e->msg : strerror(-r));
	if (r == -ENOSPC || r == -EDQUOT)
		return fail(rq, c, 507, "UNKNOWN", msg, NULL);
	return fail(rq, c, 500, "UNKNOWN", msg, NULL);
}

/* ---- authentication ---- */

static int auth_enabled(const struct regsrv *s)
{
	return s->htpasswd || s->cfg.token_issuer;
}

/* A Host header fit to go into a URL we send back; NULL when it has anything odd. */
static const char *safe_host(struct MHD_Connection *c)
{
	const char *h = header(c, "Host");
	if (!h || !*h || strlen(h) > 255)
		return NULL;
	for (const char *p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(".-:[]", *p)))
			return NULL;
	return h;
}

static enum MHD_Result challenge(struct req *rq, struct MHD_Connection *c, const char *scope,
				 int insufficient)
{
	struct regsrv *s = rq->srv;
	uint64_t rlen = 0;
	struct MHD_Response *r = error_resp("UNAUTHORIZED", "authentication required", NULL, &rlen);
	if (!r)
		return MHD_NO;
	if (s->cfg.token_issuer) {
		char realm[512];
		const char *host = safe_host(c);
		if (s->cfg.realm)
			snprintf(realm, sizeof(realm), "%s", s->cfg.realm);
		else
			snprintf(realm, sizeof(realm), "%s://%s/token", s->tls ? "https" : "http",
				 host ? host : "localhost");
		char v[1024];
		int n = snprintf(v, sizeof(v), "Bearer realm=\"%s\",service=\"%s\"", realm,
				 s->cfg.token_service);
		if (scope && n > 0 && (size_t)n < sizeof(v))
			n += snprintf(v + n, sizeof(v) - (size_t)n, ",scope=\"%s\"", scope);
		if (insufficient && n > 0 && (size_t)n < sizeof(v))
			snprintf(v + n, sizeof(v) - (size_t)n, ",error=\"insufficient_scope\"");
		hdr(r, "WWW-Authenticate", v);
	} else {
		hdrf(r, "WWW-Authenticate", "Basic realm=\"%s\"",
		     s->cfg.realm ? s->cfg.realm : "berth-registry");
	}
	return fail_resp(rq, c, 401, r, rlen);
}

/* What the request needs: the actions on rq->route.name (0 for none). */
static unsigned required_actions(const struct req *rq)
{
	switch (rq->route.kind) {
	case REGSRV_ROUTE_MANIFEST:
	case REGSRV_ROUTE_BLOB:
		if (rq->m == M_GET || rq->m == M_HEAD)
			return REGSRV_ACT_PULL;
		if (rq->m == M_DELETE)
			return REGSRV_ACT_DELETE;
		return REGSRV_ACT_PUSH | REGSRV_ACT_PULL;
	case REGSRV_ROUTE_TAGS:
	case REGSRV_ROUTE_REFERRERS:
		return REGSRV_ACT_PULL;
	case REGSRV_ROUTE_UPLOAD_START:
	case REGSRV_ROUTE_UPLOAD:
		/* Docker asks for "pull,push" when it pushes; distribution wants both too. */
		return REGSRV_ACT_PUSH | REGSRV_ACT_PULL;
	default:
		return 0;
	}
}

struct identity {
	int present;			   /* credentials were sent */
	int valid;			   /* and were good */
	struct regsrv_token_claims claims; /* token mode */
};

/* Work out who is asking. Returns 0, or -1 when the request has been answered (bad
 * credentials). */
static int identify(struct req *rq, struct MHD_Connection *c, struct identity *id)
{
	struct regsrv *s = rq->srv;
	const char *a = header(c, "Authorization");
	memset(id, 0, sizeof(*id));
	if (!a)
		return 0;
	id->present = 1;
	if (s->cfg.token_issuer) {
		if (strncasecmp(a, "Bearer ", 7) != 0)
			return 0;
		if (regsrv_token_verify(s->key, a + 7, s->cfg.token_issuer, s->cfg.token_service,
					time(NULL), &id->claims, NULL) < 0)
			return 0;
		id->valid = 1;
		if (id->claims.subject[0]) {
			free(rq->user);
			rq->user = strdup(id->claims.subject);
		}
		return 0;
	}
	if (!s->htpasswd)
		return 0;
	char *user = NULL, *pass = NULL;
	if (regsrv_basic_decode(a, &user, &pass) == 0 &&
	    regsrv_htpasswd_check(s->htpasswd, user, pass)) {
		id->valid = 1;
		free(rq->user);
		rq->user = user;
		user = NULL;
	}
	free(user);
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		free(pass);
	}
	return 0;
}

/* 1 when the request may go on; 0 when it has been answered (401/403). */
static int authorize(struct req *rq, struct MHD_Connection *c, enum MHD_Result *res)
{
	struct regsrv *s = rq->srv;
	if (!auth_enabled(s))
		return 1;
	struct identity id;
	identify(rq, c, &id);
	int ok;
	char scope[REGSRV_NAME_MAX + 128] = "";
	unsigned need = required_actions(rq);

	if (rq->route.kind == REGSRV_ROUTE_BASE) {
		ok = id.valid;
	} else if (rq->route.kind == REGSRV_ROUTE_CATALOG) {
		snprintf(scope, sizeof(scope), "registry:catalog:*");
		ok = s->cfg.token_issuer
			 ? regsrv_token_claims_allowed(&id.claims, "registry", "catalog") != 0
			 : regsrv_acl_catalog(s->acl, rq->user);
	} else {
		char acts[32];
		regsrv_actions_format(need, acts, sizeof(acts));
		snprintf(scope, sizeof(scope), "repository:%s:%s", rq->route.name, acts);
		unsigned have =
		    s->cfg.token_issuer
			? regsrv_token_claims_allowed(&id.claims, "repository", rq->route.name)
			: regsrv_acl_allowed(s->acl, rq->user, rq->route.name);
		ok = (have & need) == need;
	}
	int token_mode = s->cfg.token_issuer != NULL;
	regsrv_token_claims_free(&id.claims);
	if (ok)
		return 1;
	if (!token_mode && id.valid) {
		*res =
		    fail(rq, c, 403, "DENIED", "requested access to the resource is denied", NULL);
		return 0;
	}
	*res = challenge(rq, c, scope[0] ? scope : NULL, token_mode && id.valid);
	return 0;
}

/* ---- the token endpoint ---- */

struct scope_iter {
	struct regsrv_access *acc;
	size_t n, cap;
	struct regsrv *s;
	const char *user;
	int bad;
};

static void grant_scope(struct scope_iter *it, const char *text)
{
	struct regsrv_scope sc;
	if (regsrv_scope_parse(text, &sc) < 0) {
		it->bad = 1;
		return;
	}
	unsigned allowed;
	if (streq(sc.type, "registry"))
		allowed = regsrv_acl_catalog(it->s->acl, it->user) ? REGSRV_ACT_ALL : 0;
	else
		allowed = regsrv_acl_allowed(it->s->acl, it->user, sc.name);
	if (it->n == it->cap) {
		size_t ncap = it->cap ? it->cap * 2 : 4;
		if (ncap > 64) {
			it->bad = 1;
			return;
		}
		struct regsrv_access *na = realloc(it->acc, ncap * sizeof(*na));
		if (!na) {
			it->bad = 1;
			return;
		}
		it->acc = na;
		it->cap = ncap;
	}
	struct regsrv_access *a = &it->acc[it->n++];
	snprintf(a->type, sizeof(a->type), "%s", sc.type);
	snprintf(a->name, sizeof(a->name), "%s", sc.name);
	a->actions = sc.actions & allowed;
}

static enum MHD_Result each_scope(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	struct scope_iter *it = cls;
	(void)kind;
	if (!key || !value || strcmp(key, "scope") != 0)
		return MHD_YES;
	/* Several scopes may share one parameter, separated by spaces. */
	char buf[1024];
	if (strlen(value) >= sizeof(buf)) {
		it->bad = 1;
		return MHD_YES;
	}
	snprintf(buf, sizeof(buf), "%s", value);
	char *save = NULL;
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
		grant_scope(it, t);
	return MHD_YES;
}

static enum MHD_Result handle_token(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	if (!s->cfg.token_issuer)
		return fail(rq, c, 404, "UNSUPPORTED", "no token issuer here", NULL);
	if (rq->m != M_GET)
		return fail(rq, c, 405, "UNSUPPORTED", "the token endpoint takes GET", NULL);
	const char *service = arg(c, "service");
	if (service && !streq(service, s->cfg.token_service))
		return fail(rq, c, 400, "DENIED", "unknown service", NULL);
	const char *a = header(c, "Authorization");
	if (a) {
		char *user = NULL, *pass = NULL;
		int ok = s->htpasswd && regsrv_basic_decode(a, &user, &pass) == 0 &&
			 regsrv_htpasswd_check(s->htpasswd, user, pass);
		if (pass) {
			explicit_bzero(pass, strlen(pass));
			free(pass);
		}
		if (!ok) {
			free(user);
			uint64_t rlen = 0;
			struct MHD_Response *r =
			    error_resp("UNAUTHORIZED", "invalid username or password", NULL, &rlen);
			hdrf(r, "WWW-Authenticate", "Basic realm=\"%s\"", s->cfg.token_service);
			return fail_resp(rq, c, 401, r, rlen);
		}
		rq->user = user;
	}
	struct scope_iter it = {.s = s, .user = rq->user};
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, each_scope, &it);
	if (it.bad) {
		free(it.acc);
		return fail(rq, c, 400, "UNSUPPORTED", "invalid scope", NULL);
	}
	time_t now = time(NULL);
	char *tok = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = regsrv_token_sign(s->key, s->cfg.token_issuer, s->cfg.token_service,
				  rq->user ? rq->user : "", it.acc, it.n, now, s->cfg.token_expiry,
				  &tok, &e);
	free(it.acc);
	if (r < 0)
		return fail_errno(rq, c, "issue token", r, e);
	char issued[64];
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm);
	_cleanup_json_ json_t *doc =
	    json_pack("{s:s, s:s, s:I, s:s}", "token", tok, "access_token", tok, "expires_in",
		      (json_int_t)s->cfg.token_expiry, "issued_at", issued);
	free(tok);
	char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	if (!body)
		return MHD_NO;
	size_t len = strlen(body);
	struct MHD_Response *resp = resp_take(body, len);
	hdr(resp, "Content-Type", JSON_TYPE);
	hdr(resp, "Cache-Control", "no-store");
	return queue(rq, c, 200, resp, len);
}

/* ---- blobs ---- */

static enum MHD_Result handle_blob(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	const struct regsrv_route *rt = &rq->route;
	if (rq->m == M_DELETE) {
		if (!s->cfg.delete_enabled)
			return fail(rq, c, 405, "UNSUPPORTED",
				    "deletion is disabled on this registry", NULL);
		int r = regstore_blob_delete(s->store, rt->name, &rt->digest);
		if (r == -ENOENT)
			return fail(rq, c, 404, "BLOB_UNKNOWN", "blob unknown to registry",
				    json_string(rt->ref));
		if (r < 0)
			return fail_errno(rq, c, "delete blob", r, NULL);
		regsrv_metrics_storage(&s->m, REGSRV_MO_BLOB, REGSRV_MA_DELETED, 0);
		struct MHD_Response *resp = resp_buf("", 0);
		hdr(resp, "Docker-Content-Digest", rt->ref);
		return queue(rq, c, 202, resp, 0);
	}
	int fd;
	uint64_t size;
	int r = regstore_blob_open(s->store, rt->name, &rt->digest, &fd, &size);
	if (r == -ENOENT)
		return fail(rq, c, 404, "BLOB_UNKNOWN", "blob unknown to registry",
			    json_string(rt->ref));
	if (r < 0)
		return fail_errno(rq, c, "open blob", r, NULL);

	uint64_t off = 0, len = size;
	unsigned status = 200;
	int rr = regsrv_range_parse(header(c, "Range"), size, &off, &len);
	if (rr == -ERANGE) {
		close(fd);
		uint64_t rlen = 0;
		struct MHD_Response *resp =
		    error_resp("BLOB_UNKNOWN", "requested range not satisfiable", NULL, &rlen);
		hdrf(resp, "Content-Range", "bytes */%llu", (unsigned long long)size);
		return queue(rq, c, 416, resp, rlen);
	}
	if (rr == 1)
		status = 206;
	/* The fd response is what makes MHD use sendfile(2). */
	struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, off);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	hdr(resp, "Content-Type", "application/octet-stream");
	hdr(resp, "Docker-Content-Digest", rt->ref);
	hdrf(resp, "ETag", "\"%s\"", rt->ref);
	hdr(resp, "Accept-Ranges", "bytes");
	hdr(resp, "Cache-Control", "max-age=31536000");
	if (status == 206)
		hdrf(resp, "Content-Range", "bytes %llu-%llu/%llu", (unsigned long long)off,
		     (unsigned long long)(off + len - 1), (unsigned long long)size);
	return queue(rq, c, status, resp, rq->m == M_HEAD ? 0 : len);
}

/* ---- uploads ---- */

static struct MHD_Response *upload_progress(struct req *rq, const char *uuid, uint64_t size)
{
	struct MHD_Response *r = resp_buf("", 0);
	hdrf(r, "Location", "/v2/%s/blobs/uploads/%s", rq->route.name, uuid);
	hdrf(r, "Range", "0-%llu", (unsigned long long)(size ? size - 1 : 0));
	hdr(r, "Docker-Upload-UUID", uuid);
	return r;
}

static enum MHD_Result range_not_satisfiable(struct req *rq, struct MHD_Connection *c,
					     const char *uuid, uint64_t size, const char *why)
{
	uint64_t rlen = 0;
	struct MHD_Response *r = error_resp("BLOB_UPLOAD_INVALID", why, NULL, &rlen);
	hdrf(r, "Location", "/v2/%s/blobs/uploads/%s", rq->route.name, uuid);
	hdrf(r, "Range", "0-%llu", (unsigned long long)(size ? size - 1 : 0));
	hdr(r, "Docker-Upload-UUID", uuid);
	return fail_resp(rq, c, 416, r, rlen);
}

static enum MHD_Result blob_created(struct req *rq, struct MHD_Connection *c, const char *digest)
{
	struct MHD_Response *r = resp_buf("", 0);
	hdrf(r, "Location", "/v2/%s/blobs/%s", rq->route.name, digest);
	hdr(r, "Docker-Content-Digest", digest);
	return queue(rq, c, 201, r, 0);
}

static int may_pull(struct req *rq, struct MHD_Connection *c, const char *repo)
{
	struct regsrv *s = rq->srv;
	if (!auth_enabled(s))
		return 1;
	if (!s->cfg.token_issuer)
		return (regsrv_acl_allowed(s->acl, rq->user, repo) & REGSRV_ACT_PULL) != 0;
	struct identity id;
	identify(rq, c, &id);
	int ok =
	    (regsrv_token_claims_allowed(&id.claims, "repository", repo) & REGSRV_ACT_PULL) != 0;
	regsrv_token_claims_free(&id.claims);
	return ok;
}

/* An upload body of a known length: its disk space reserved before it arrives. */
static void expect_body(struct req *rq, struct MHD_Connection *c)
{
	uint64_t len;
	has_body(c, &len); /* 0 when chunked: nothing reserved */
	regstore_upload_expect(rq->up, len);
}

/* First call of POST /blobs/uploads/: mounts answer at once, a monolithic upload gets its
 * body sink, a plain start waits for the (normally empty) body to end. */
static enum MHD_Result upload_post_begin(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	const char *mount = arg(c, "mount"), *from = arg(c, "from"), *dg = arg(c, "digest");
	if (mount) {
		struct digest d;
		if (digest_parse(mount, &d, NULL) < 0)
			return fail(rq, c, 400, "DIGEST_INVALID", "invalid digest to mount",
				    json_string(mount));
		if (from && !regsrv_name_valid(from))
			return fail(rq, c, 400, "NAME_INVALID",
				    "invalid repository name to mount from", json_string(from));
		/* Without "from" any blob of the registry would do: only when nobody's
		 * access is restricted. A refused mount is a plain upload, as the spec says. */
		if ((from && may_pull(rq, c, from)) || (!from && !auth_enabled(s))) {
			uint64_t size;
			int r =
			    regstore_blob_mount(s->store, rq->route.name, from, &d, &size, NULL);
			if (r == 0) {
				regsrv_metrics_storage(&s->m, REGSRV_MO_BLOB, REGSRV_MA_MOUNTED,
						       size);
				char ds[DIGEST_STR_MAX];
				return blob_created(rq, c, digest_format(&d, ds));
			}
		}
		return MHD_YES; /* an upload session, at the final call */
	}
	if (dg) {
		struct digest d;
		if (digest_parse(dg, &d, NULL) < 0)
			return fail(rq, c, 400, "DIGEST_INVALID", "invalid digest",
				    json_string(dg));
		_cleanup_berr_ struct berr *e = NULL;
		int r = regstore_upload_start(s->store, rq->route.name, d.alg, &rq->up, &e);
		if (r < 0)
			return fail_errno(rq, c, "start upload", r, e);
		rq->up_monolithic = 1;
		rq->body = BODY_UPLOAD;
		expect_body(rq, c);
		return MHD_YES;
	}
	const char *alg = arg(c, "digest-algorithm");
	if (alg && !streq(alg, "sha256") && !streq(alg, "sha512"))
		return fail(rq, c, 400, "DIGEST_INVALID", "unsupported digest algorithm",
			    json_string(alg));
	rq->body = BODY_DISCARD; /* a body without ?digest= means nothing */
	return MHD_YES;
}

/* A body that could not be written fails as such (a full disk: 507), not as a digest
 * mismatch. */
static enum MHD_Result write_failure(struct req *rq, struct MHD_Connection *c)
{
	return fail_errno(rq, c, "write upload", -(rq->werr ? rq->werr->code : EIO), rq->werr);
}

/* The request's upload checked against ?digest= and made a blob: 201; or 400
 * DIGEST_INVALID, and the upload is gone (as distribution does: the client starts over). */
static enum MHD_Result upload_finish(struct req *rq, struct MHD_Connection *c)
{
	struct digest d, actual;
	digest_parse(arg(c, "digest"), &d, NULL);
	uint64_t size = regstore_upload_size(rq->up);
	_cleanup_berr_ struct berr *e = NULL;
	int r = regstore_upload_commit(rq->up, &d, &actual, &e);
	if (r == -EBADMSG) {
		regstore_upload_cancel(rq->up);
		rq->up = NULL;
		char ds[DIGEST_STR_MAX];
		return fail(rq, c, 400, "DIGEST_INVALID",
			    "provided digest did not match uploaded content",
			    json_string(digest_format(&actual, ds)));
	}
	if (r < 0)
		return fail_errno(rq, c, "finish upload", r, e);
	rq->up = NULL;
	regsrv_metrics_storage(&rq->srv->m, REGSRV_MO_BLOB, REGSRV_MA_STORED, size);
	char ds[DIGEST_STR_MAX];
	return blob_created(rq, c, digest_format(&d, ds));
}

static enum MHD_Result upload_post_end(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	_cleanup_berr_ struct berr *e = NULL;
	if (rq->up_monolithic) {
		/* The upload goes with the request, whatever the outcome. */
		if (rq->write_failed)
			return write_failure(rq, c);
		return upload_finish(rq, c);
	}
	const char *alg = arg(c, "digest-algorithm");
	enum digest_alg a = alg && streq(alg, "sha512") ? DIGEST_SHA512 : DIGEST_SHA256;
	struct regstore_upload *u;
	int r = regstore_upload_start(s->store, rq->route.name, a, &u, &e);
	if (r < 0)
		return fail_errno(rq, c, "start upload", r, e);
	struct MHD_Response *resp = upload_progress(rq, regstore_upload_uuid(u), 0);
	regstore_upload_release(u);
	return queue(rq, c, 202, resp, 0);
}

/* First call of PATCH and PUT on an upload: claim it and check the Content-Range. */
static enum MHD_Result upload_chunk_begin(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	const char *uuid = rq->route.ref;
	if (rq->m == M_PUT) {
		const char *dg = arg(c, "digest");
		struct digest d;
		if (!dg || digest_parse(dg, &d, NULL) < 0)
			return fail(rq, c, 400, "DIGEST_INVALID", "missing or invalid digest",
				    dg ? json_string(dg) : NULL);
	}
	_cleanup_berr_ struct berr *e = NULL;
	int r = regstore_upload_resume(s->store, rq->route.name, uuid, &rq->up, &e);
	if (r == -ENOENT)
		return fail(rq, c, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry",
			    json_string(uuid));
	if (r == -EBUSY) {
		uint64_t size = 0;
		regstore_upload_stat(s->store, rq->route.name, uuid, &size);
		return range_not_satisfiable(rq, c, uuid, size,
					     "another request is writing to this upload");
	}
	if (r < 0)
		return fail_errno(rq, c, "resume upload", r, e);
	uint64_t size = regstore_upload_size(rq->up);
	rq->body_start = size;
	const char *cr = header(c, "Content-Range");
	if (cr) {
		if (regsrv_content_range_parse(cr, &rq->range_start, &rq->range_end) < 0)
			return range_not_satisfiable(rq, c, uuid, size, "invalid Content-Range");
		if (rq->range_start != size)
			return range_not_satisfiable(rq, c, uuid, size,
						     "chunk does not start where the upload ends");
		const char *cl = header(c, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) != rq->range_end - rq->range_start + 1)
			return fail(rq, c, 400, "SIZE_INVALID",
				    "Content-Length does not match Content-Range", NULL);
		rq->has_range = 1;
	}
	rq->body = BODY_UPLOAD;
	expect_body(rq, c);
	return MHD_YES;
}

static enum MHD_Result upload_chunk_end(struct req *rq, struct MHD_Connection *c)
{
	struct regstore_upload *u = rq->up;
	const char *uuid = rq->route.ref;
	if (rq->write_failed)
		return write_failure(rq, c);
	uint64_t size = regstore_upload_size(u);
	if (rq->has_range && size - rq->body_start != rq->range_end - rq->range_start + 1) {
		regstore_upload_truncate(u, rq->body_start);
		return fail(rq, c, 400, "SIZE_INVALID",
			    "the chunk is not as long as its Content-Range says", NULL);
	}
	if (rq->m == M_PATCH) {
		struct MHD_Response *resp = upload_progress(rq, uuid, size);
		return queue(rq, c, 202, resp, 0);
	}
	return upload_finish(rq, c);
}

static enum MHD_Result handle_upload_now(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	const char *uuid = rq->route.ref;
	if (rq->m == M_GET) {
		uint64_t size;
		if (regstore_upload_stat(s->store, rq->route.name, uuid, &size) < 0)
			return fail(rq, c, 404, "BLOB_UPLOAD_UNKNOWN",
				    "blob upload unknown to registry", json_string(uuid));
		return queue(rq, c, 204, upload_progress(rq, uuid, size), 0);
	}
	/* DELETE: cancel */
	struct regstore_upload *u;
	int r = regstore_upload_resume(s->store, rq->route.name, uuid, &u, NULL);
	if (r == -ENOENT)
		return fail(rq, c, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry",
			    json_string(uuid));
	if (r == -EBUSY)
		return fail(rq, c, 409, "BLOB_UPLOAD_INVALID", "the upload is in use", NULL);
	if (r < 0)
		return fail_errno(rq, c, "cancel upload", r, NULL);
	regstore_upload_cancel(u);
	return queue(rq, c, 204, resp_buf("", 0), 0);
}

/* ---- manifests ---- */

struct accept_set {
	unsigned mask; /* 1 << regsrv_mt */
	int any;
	int seen;
};

static void accept_add(struct accept_set *as, const char *v)
{
	as->seen = 1;
	while (*v) {
		while (*v == ' ' || *v == ',' || *v == '\t')
			v++;
		size_t n = strcspn(v, ",");
		char one[256];
		if (n < sizeof(one)) {
			memcpy(one, v, n);
			one[n] = '\0';
			char *semi = strchr(one, ';');
			if (semi)
				*semi = '\0';
			size_t l = strlen(one);
			while (l && (one[l - 1] == ' ' || one[l - 1] == '\t'))
				one[--l] = '\0';
			enum regsrv_mt t = regsrv_mt_parse(one);
			if (t != REGSRV_MT_UNKNOWN)
				as->mask |= 1u << t;
			else if (streq(one, "*/*") || streq(one, "application/*") ||
				 streq(one, "application/json"))
				as->any = 1;
		}
		v += n;
	}
}

static enum MHD_Result each_accept(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	(void)kind;
	if (key && value && strcasecmp(key, "Accept") == 0)
		accept_add(cls, value);
	return MHD_YES;
}

static int accepts(void *cls, enum regsrv_mt t)
{
	const struct accept_set *as = cls;
	return !as->seen || as->any || (as->mask & (1u << t));
}

static enum MHD_Result manifest_unknown(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	_cleanup_strv_ struct strv tags = STRV_INIT;
	if (regstore_tags(s->store, rq->route.name, &tags) == -ENOENT)
		return fail(rq, c, 404, "NAME_UNKNOWN", "repository name not known to registry",
			    json_pack("{s:s}", "name", rq->route.name));
	return fail(rq, c, 404, "MANIFEST_UNKNOWN", "manifest unknown",
		    json_pack("{s:s}", rq->route.ref_is_digest ? "digest" : "tag", rq->route.ref));
}

static enum MHD_Result manifest_get(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	const struct regsrv_route *rt = &rq->route;
	struct digest d;
	if (rt->ref_is_digest)
		d = rt->digest;
	else if (regstore_tag_resolve(s->store, rt->name, rt->ref, &d) < 0)
		return manifest_unknown(rq, c);
	char *data;
	size_t len;
	enum regsrv_mt t;
	int r = manifest_load(s, rt->name, &d, &data, &len, &t);
	if (r == -ENOENT)
		return manifest_unknown(rq, c);
	if (r < 0)
		return fail_errno(rq, c, "read manifest", r, NULL);
	struct accept_set as = {0};
	MHD_get_connection_values(c, MHD_HEADER_KIND, each_accept, &as);
	if (t != REGSRV_MT_UNKNOWN && !accepts(&as, t)) {
		/* A client that takes no index gets the image of this platform, as
		 * distribution serves old clients. */
		char child[140];
		enum regsrv_mt ct;
		if (!regsrv_mt_is_index(t) ||
		    regsrv_index_find_platform(data, len, "linux", s->arch, accepts, &as, child,
					       &ct) < 0 ||
		    digest_parse(child, &d, NULL) < 0) {
			free(data);
			return fail(rq, c, 404, "MANIFEST_UNKNOWN",
				    "the manifest's media type is not in the Accept header",
				    json_pack("{s:s}", "mediaType", regsrv_mt_string(t)));
		}
		free(data);
		r = manifest_load(s, rt->name, &d, &data, &len, &t);
		if (r < 0)
			return manifest_unknown(rq, c);
		t = ct;
	}
	char ds[DIGEST_STR_MAX];
	digest_format(&d, ds);
	const char *inm = header(c, "If-None-Match");
	if (inm) {
		char etag[DIGEST_STR_MAX + 2];
		snprintf(etag, sizeof(etag), "\"%s\"", ds);
		if (strstr(inm, etag)) {
			free(data);
			struct MHD_Response *resp = resp_buf("", 0);
			hdr(resp, "Docker-Content-Digest", ds);
			hdrf(resp, "ETag", "\"%s\"", ds);
			return queue(rq, c, 304, resp, 0);
		}
	}
	struct MHD_Response *resp = resp_take(data, len);
	const char *mt = regsrv_mt_string(t);
	hdr(resp, "Content-Type", mt ? mt : "application/json");
	hdr(resp, "Docker-Content-Digest", ds);
	hdrf(resp, "ETag", "\"%s\"", ds);
	return queue(rq, c, 200, resp, rq->m == M_HEAD ? 0 : len);
}

static enum MHD_Result manifest_delete(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	const struct regsrv_route *rt = &rq->route;
	if (!s->cfg.delete_enabled)
		return fail(rq, c, 405, "UNSUPPORTED", "deletion is disabled on this registry",
			    NULL);
	_cleanup_berr_ struct berr *e = NULL;
	int r = rt->ref_is_digest ? regstore_manifest_delete(s->store, rt->name, &rt->digest, &e)
				  : regstore_tag_delete(s->store, rt->name, rt->ref, &e);
	if (r == -ENOENT)
		return manifest_unknown(rq, c);
	if (r < 0)
		return fail_errno(rq, c, "delete manifest", r, e);
	regsrv_metrics_storage(&s->m, REGSRV_MO_MANIFEST,
			       rt->ref_is_digest ? REGSRV_MA_DELETED : REGSRV_MA_UNTAGGED, 0);
	return queue(rq, c, 202, resp_buf("", 0), 0);
}

struct tag_args {
	const char *v[32];
	size_t n;
	int bad;
};

static enum MHD_Result each_tag(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct tag_args *ta = cls;
	(void)kind;
	if (!key || strcmp(key, "tag") != 0)
		return MHD_YES;
	if (!value || !regsrv_tag_valid(value) || ta->n == ARRAY_SIZE(ta->v)) {
		ta->bad = 1;
		return MHD_YES;
	}
	for (size_t i = 0; i < ta->n; i++)
		if (streq(ta->v[i], value))
			return MHD_YES;
	ta->v[ta->n++] = value;
	return MHD_YES;
}

static enum MHD_Result manifest_put_begin(struct req *rq, struct MHD_Connection *c)
{
	uint64_t len;
	has_body(c, &len);
	if (len > REGSRV_MANIFEST_MAX) {
		/* Answer before the body: nobody wants 4 MiB+ read to be told no. */
		uint64_t rlen = 0;
		struct MHD_Response *r =
		    error_resp("SIZE_INVALID", "manifest too large", NULL, &rlen);
		rq->respond_now = 1;
		return queue(rq, c, 413, r, rlen);
	}
	rq->body = BODY_MANIFEST;
	return MHD_YES;
}

static enum MHD_Result manifest_put_end(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	const struct regsrv_route *rt = &rq->route;
	if (rq->too_large)
		return fail(rq, c, 413, "SIZE_INVALID", "manifest too large", NULL);
	const char *data = rq->manifest.data ? rq->manifest.data : "";
	size_t len = rq->manifest.len;

	struct digest d;
	enum digest_alg alg = rt->ref_is_digest ? rt->digest.alg : DIGEST_SHA256;
	digest_buffer(alg, data, len, &d);
	char ds[DIGEST_STR_MAX];
	digest_format(&d, ds);
	if (rt->ref_is_digest && !digest_equal(&d, &rt->digest))
		return fail(rq, c, 400, "DIGEST_INVALID",
			    "the manifest does not have the digest in the URL", json_string(ds));

	struct regsrv_manifest m;
	_cleanup_berr_ struct berr *e = NULL;
	if (regsrv_manifest_parse(data, len, header(c, "Content-Type"), &m, &e) < 0)
		return fail(rq, c, 400, "MANIFEST_INVALID", "manifest invalid",
			    json_string(e ? e->msg : "invalid"));

	struct tag_args ta = {0};
	if (rt->ref_is_digest) {
		MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, each_tag, &ta);
		if (ta.bad) {
			regsrv_manifest_free(&m);
			return fail(rq, c, 400, "TAG_INVALID", "invalid tag parameter", NULL);
		}
	} else {
		ta.v[ta.n++] = rt->ref;
	}
	_cleanup_strv_ struct strv missing = STRV_INIT;
	berr_free(e);
	e = NULL;
	int r = regstore_manifest_put(s->store, rt->name, &d, data, len, &m.blobs, &m.manifests,
				      ta.v, ta.n, &missing, &e);
	if (r == -ENOENT && missing.n) {
		regsrv_manifest_free(&m);
		json_t *arr = json_array();
		for (size_t i = 0; i < missing.n; i++)
			json_array_append_new(
			    arr,
			    error_item("MANIFEST_BLOB_UNKNOWN",
				       "manifest references a manifest or blob unknown to registry",
				       json_string(missing.v[i])));
		uint64_t rlen = 0;
		struct MHD_Response *resp = error_body(arr, &rlen);
		return queue(rq, c, 400, resp, rlen);
	}
	if (r < 0) {
		regsrv_manifest_free(&m);
		return fail_errno(rq, c, "store manifest", r, e);
	}
	regsrv_metrics_storage(&s->m, REGSRV_MO_MANIFEST, REGSRV_MA_STORED, len);
	struct MHD_Response *resp = resp_buf("", 0);
	hdrf(resp, "Location", "/v2/%s/manifests/%s", rt->name, ds);
	hdr(resp, "Docker-Content-Digest", ds);
	if (m.subject)
		hdr(resp, "OCI-Subject", m.subject);
	if (rt->ref_is_digest)
		for (size_t i = 0; i < ta.n; i++)
			hdr(resp, "OCI-Tag", ta.v[i]);
	regsrv_manifest_free(&m);
	return queue(rq, c, 201, resp, 0);
}

/* ---- listings ---- */

/* The "n" parameter: -1 when absent, -2 when invalid. */
static long page_size(struct MHD_Connection *c, long max)
{
	const char *n = arg(c, "n");
	if (!n)
		return -1;
	if (!*n || strlen(n) > 9 || strspn(n, "0123456789") != strlen(n))
		return -2;
	long v = strtol(n, NULL, 10);
	return v > max ? -2 : v;
}

static enum MHD_Result json_reply(struct req *rq, struct MHD_Connection *c, json_t *doc,
				  const char *type, const char *link)
{
	char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!body)
		return MHD_NO;
	size_t len = strlen(body);
	struct MHD_Response *resp = resp_take(body, len);
	hdr(resp, "Content-Type", type);
	if (link)
		hdr(resp, "Link", link);
	return queue(rq, c, 200, resp, rq->m == M_HEAD ? 0 : len);
}

/* Page through a sorted list: entries after `last` (by cmp), at most n (-1: all).
 * *ret_more when some remain. */
static json_t *page(const struct strv *all, const char *last, long n,
		    int (*cmp)(const char *, const char *), int *ret_more)
{
	json_t *arr = json_array();
	*ret_more = 0;
	if (!arr)
		return NULL;
	for (size_t i = 0; i < all->n; i++) {
		if (last && cmp(all->v[i], last) <= 0)
			continue;
		if (n >= 0 && (long)json_array_size(arr) >= n) {
			*ret_more = n > 0;
			break;
		}
		json_array_append_new(arr, json_string(all->v[i]));
	}
	return arr;
}

static int cmp_bytes(const char *a, const char *b)
{
	return strcmp(a, b);
}

static enum MHD_Result handle_tags(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	long n = page_size(c, 1000000);
	if (n == -2)
		return fail(rq, c, 400, "PAGINATION_NUMBER_INVALID",
			    "invalid number of results requested", json_string(arg(c, "n")));
	_cleanup_strv_ struct strv tags = STRV_INIT;
	int r = regstore_tags(s->store, rq->route.name, &tags);
	if (r == -ENOENT)
		return fail(rq, c, 404, "NAME_UNKNOWN", "repository name not known to registry",
			    json_pack("{s:s}", "name", rq->route.name));
	if (r < 0)
		return fail_errno(rq, c, "list tags", r, NULL);
	int more;
	json_t *arr = page(&tags, arg(c, "last"), n, cmp_bytes, &more);
	char link[1024];
	if (more) {
		const char *lastv =
		    json_string_value(json_array_get(arr, json_array_size(arr) - 1));
		snprintf(link, sizeof(link), "</v2/%s/tags/list?last=%s&n=%ld>; rel=\"next\"",
			 rq->route.name, lastv, n);
	}
	return json_reply(rq, c, json_pack("{s:s, s:o}", "name", rq->route.name, "tags", arr),
			  JSON_TYPE, more ? link : NULL);
}

static enum MHD_Result handle_catalog(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	if (rq->m != M_GET && rq->m != M_HEAD)
		return fail(rq, c, 405, "UNSUPPORTED", "method not allowed", NULL);
	long n = page_size(c, CATALOG_MAX_N);
	if (n == -2)
		return fail(rq, c, 400, "PAGINATION_NUMBER_INVALID",
			    "invalid number of results requested", json_string(arg(c, "n")));
	if (n == -1)
		n = CATALOG_DEFAULT_N;
	const char *last = arg(c, "last");
	_cleanup_strv_ struct strv repos = STRV_INIT;
	int r = regstore_catalog(s->store, &repos);
	if (r < 0)
		return fail_errno(rq, c, "list repositories", r, NULL);
	int more;
	json_t *arr = page(&repos, last, n, regstore_name_cmp, &more);
	char link[1024];
	if (more) {
		const char *lastv =
		    json_string_value(json_array_get(arr, json_array_size(arr) - 1));
		snprintf(link, sizeof(link), "</v2/_catalog?last=%s&n=%ld>; rel=\"next\"", lastv,
			 n);
	}
	return json_reply(rq, c, json_pack("{s:o}", "repositories", arr), JSON_TYPE,
			  more ? link : NULL);
}

static enum MHD_Result handle_referrers(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	const char *at = arg(c, "artifactType");
	if (at && !*at)
		at = NULL;
	json_t *list;
	_cleanup_berr_ struct berr *e = NULL;
	int r = regstore_referrers(s->store, rq->route.name, &rq->route.digest, at, &list, &e);
	if (r < 0)
		return fail_errno(rq, c, "list referrers", r, e);
	json_t *doc = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType",
				REGSRV_MT_OCI_INDEX_S, "manifests", list);
	char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!body)
		return MHD_NO;
	size_t len = strlen(body);
	struct MHD_Response *resp = resp_take(body, len);
	hdr(resp, "Content-Type", REGSRV_MT_OCI_INDEX_S);
	if (at)
		hdr(resp, "OCI-Filters-Applied", "artifactType");
	return queue(rq, c, 200, resp, rq->m == M_HEAD ? 0 : len);
}

/* ---- dispatch ---- */

static enum req_method method_of(const char *m)
{
	static const struct {
		const char *s;
		enum req_method m;
	} t[] = {{"GET", M_GET},   {"HEAD", M_HEAD},   {"PUT", M_PUT},
		 {"POST", M_POST}, {"PATCH", M_PATCH}, {"DELETE", M_DELETE}};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		if (streq(m, t[i].s))
			return t[i].m;
	return M_OTHER;
}

/* The methods each route takes, for 405 and its Allow header. */
static const char *allowed_methods(enum regsrv_route_kind k)
{
	switch (k) {
	case REGSRV_ROUTE_BASE:
	case REGSRV_ROUTE_CATALOG:
	case REGSRV_ROUTE_TAGS:
	case REGSRV_ROUTE_REFERRERS:
		return "GET, HEAD";
	case REGSRV_ROUTE_TOKEN:
		return "GET";
	case REGSRV_ROUTE_MANIFEST:
		return "GET, HEAD, PUT, DELETE";
	case REGSRV_ROUTE_BLOB:
		return "GET, HEAD, DELETE";
	case REGSRV_ROUTE_UPLOAD_START:
		return "POST";
	case REGSRV_ROUTE_UPLOAD:
		return "GET, PATCH, PUT, DELETE";
	default:
		return "";
	}
}

static int method_allowed(enum regsrv_route_kind k, enum req_method m)
{
	static const char *const names[] = {"", "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"};
	const char *a = allowed_methods(k);
	if (m == M_OTHER)
		return 0;
	/* Whole words of the list: "GET, HEAD, PUT". */
	size_t n = strlen(names[m]);
	for (const char *p = a; (p = strstr(p, names[m])); p += n)
		if ((p == a || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

static int is_write(enum req_method m)
{
	return m == M_PUT || m == M_POST || m == M_PATCH || m == M_DELETE;
}

/* The first call: everything that can be decided from the headers. */
static enum MHD_Result begin(struct req *rq, struct MHD_Connection *c)
{
	struct regsrv *s = rq->srv;
	struct regsrv_route *rt = &rq->route;
	enum MHD_Result res;

	if (rt->kind == REGSRV_ROUTE_NONE)
		return fail(rq, c, 404, "UNSUPPORTED", "no such endpoint", NULL);
	if (!method_allowed(rt->kind, rq->m)) {
		uint64_t rlen = 0;
		struct MHD_Response *r =
		    error_resp("UNSUPPORTED", "method not allowed", NULL, &rlen);
		hdr(r, "Allow", allowed_methods(rt->kind));
		return fail_resp(rq, c, 405, r, rlen);
	}
	if (rt->kind == REGSRV_ROUTE_TOKEN)
		return handle_token(rq, c);
	switch (rt->error) {
	case REGSRV_ROUTE_OK:
		break;
	case REGSRV_ROUTE_NAME_INVALID:
		return fail(rq, c, 400, "NAME_INVALID", "invalid repository name", NULL);
	case REGSRV_ROUTE_DIGEST_INVALID:
		return fail(rq, c, 400, "DIGEST_INVALID", "invalid digest", NULL);
	case REGSRV_ROUTE_TAG_INVALID:
		return fail(rq, c, 400, "TAG_INVALID", "invalid tag", NULL);
	case REGSRV_ROUTE_UUID_INVALID:
		return fail(rq, c, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry",
			    NULL);
	}
	if (!authorize(rq, c, &res))
		return res;
	if (s->cfg.read_only && is_write(rq->m))
		return fail(rq, c, 405, "UNSUPPORTED", "the registry is read-only", NULL);

	switch (rt->kind) {
	case REGSRV_ROUTE_BASE: {
		struct MHD_Response *r = resp_buf("{}", 2);
		hdr(r, "Content-Type", JSON_TYPE);
		return queue(rq, c, 200, r, rq->m == M_HEAD ? 0 : 2);
	}
	case REGSRV_ROUTE_CATALOG:
		return handle_catalog(rq, c);
	case REGSRV_ROUTE_TAGS:
		return handle_tags(rq, c);
	case REGSRV_ROUTE_REFERRERS:
		return handle_referrers(rq, c);
	case REGSRV_ROUTE_BLOB:
		return handle_blob(rq, c);
	case REGSRV_ROUTE_MANIFEST:
		if (rq->m == M_PUT)
			return manifest_put_begin(rq, c);
		if (rq->m == M_DELETE)
			return manifest_delete(rq, c);
		return manifest_get(rq, c);
	case REGSRV_ROUTE_UPLOAD_START:
		return upload_post_begin(rq, c);
	case REGSRV_ROUTE_UPLOAD:
		if (rq->m == M_PATCH || rq->m == M_PUT)
			return upload_chunk_begin(rq, c);
		return handle_upload_now(rq, c);
	default:
		return fail(rq, c, 404, "UNSUPPORTED", "no such endpoint", NULL);
	}
}

/* Body bytes. */
static void feed(struct req *rq, const char *data, size_t len)
{
	rq->received += len;
	switch (rq->body) {
	case BODY_UPLOAD:
		if (rq->write_failed)
			return;
		if (rq->has_range && regstore_upload_size(rq->up) - rq->body_start + len >
					 rq->range_end - rq->range_start + 1) {
			/* More than the Content-Range announced: stop writing, fail at the end. */
			rq->has_range = 2;
			return;
		}
		if (regstore_upload_write(rq->up, data, len, &rq->werr) < 0)
			rq->write_failed = 1;
		return;
	case BODY_MANIFEST:
		if (rq->too_large)
			return;
		if (rq->manifest.len + len > REGSRV_MANIFEST_MAX) {
			rq->too_large = 1;
			buf_free(&rq->manifest);
			return;
		}
		if (buf_append(&rq->manifest, data, len) < 0)
			rq->too_large = 1;
		return;
	default:
		return;
	}
}

/* The last call, once the body is in. */
static enum MHD_Result end(struct req *rq, struct MHD_Connection *c)
{
	if (rq->pending) {
		struct MHD_Response *r = rq->pending;
		rq->pending = NULL;
		return send_resp(rq, c, rq->pending_status, r, rq->pending_len);
	}
	switch (rq->route.kind) {
	case REGSRV_ROUTE_UPLOAD_START:
		return upload_post_end(rq, c);
	case REGSRV_ROUTE_UPLOAD:
		if (rq->has_range == 2) {
			regstore_upload_truncate(rq->up, rq->body_start);
			return fail(rq, c, 400, "SIZE_INVALID",
				    "the chunk is longer than its Content-Range says", NULL);
		}
		return upload_chunk_end(rq, c);
	case REGSRV_ROUTE_MANIFEST:
		return manifest_put_end(rq, c);
	default:
		return fail(rq, c, 500, "UNKNOWN", "request in an unexpected state", NULL);
	}
}

/* ---- connections: limit, timeouts ---- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void conn_enter(struct conn *cn, enum conn_state st)
{
	atomic_store_explicit(&cn->since_ms, now_ms(), memory_order_relaxed);
	atomic_store_explicit(&cn->state, (int)st, memory_order_relaxed);
}

static void conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
			enum MHD_ConnectionNotificationCode code)
{
	struct regsrv *s = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		long long n = (long long)atomic_fetch_add(&s->m.connections, 1) + 1;
		atomic_fetch_add_explicit(&s->m.connections_total, 1, memory_order_relaxed);
		struct conn *cn = calloc(1, sizeof(*cn));
		if (!cn)
			return;
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		cn->fd = ci ? ci->connect_fd : -1;
		cn->over = n > (long long)s->conn_limit;
		conn_enter(cn, CONN_IDLE);
		pthread_mutex_lock(&s->conns_lock);
		cn->next = s->conns;
		if (s->conns)
			s->conns->prev = cn;
		s->conns = cn;
		pthread_mutex_unlock(&s->conns_lock);
		*socket_context = cn;
		return;
	}
	if (code != MHD_CONNECTION_NOTIFY_CLOSED)
		return;
	atomic_fetch_sub(&s->m.connections, 1);
	struct conn *cn = *socket_context;
	if (!cn)
		return;
	/* Under the lock: libmicrohttpd closes the socket after this returns, so reap_slow()
	 * never shuts down a descriptor number that a new connection reuses. */
	pthread_mutex_lock(&s->conns_lock);
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		s->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	pthread_mutex_unlock(&s->conns_lock);
	free(cn);
	*socket_context = NULL;
}

/* The request line is in: the headers must follow within header_timeout. (The return
 * value would become the request's context: none yet.) */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls;
	(void)uri;
	struct conn *cn = conn_of(c);
	if (cn)
		conn_enter(cn, CONN_HEADERS);
	return NULL;
}

/* Shut down (not close: the descriptor stays libmicrohttpd's) the connections that are
 * too slow with their request; libmicrohttpd sees the end of the stream and cleans up.
 * Returns the milliseconds until the next deadline. A connection that starts or changes
 * state later gets a deadline at least the shorter timeout away, so that is the longest
 * wait. */
static long long reap_slow(struct regsrv *s)
{
	long long idle_ms = (long long)s->idle_timeout * 1000 + 1000;
	long long header_ms = (long long)s->header_timeout * 1000;
	long long wait = idle_ms < header_ms ? idle_ms : header_ms;
	pthread_mutex_lock(&s->conns_lock);
	long long now = now_ms();
	for (struct conn *cn = s->conns; cn; cn = cn->next) {
		if (cn->reaped || cn->fd < 0)
			continue;
		int st = atomic_load_explicit(&cn->state, memory_order_relaxed);
		long long since = atomic_load_explicit(&cn->since_ms, memory_order_relaxed);
		long long limit = st == CONN_IDLE ? idle_ms : st == CONN_HEADERS ? header_ms : -1;
		if (limit < 0)
			continue;
		if (now - since > limit) {
			shutdown(cn->fd, SHUT_RDWR);
			cn->reaped = 1;
			atomic_fetch_add_explicit(&s->m.connections_timeout, 1,
						  memory_order_relaxed);
		} else if (since + limit + 1 - now < wait) {
			wait = since + limit + 1 - now;
		}
	}
	pthread_mutex_unlock(&s->conns_lock);
	return wait;
}

int regsrv_serve(struct regsrv *s, const sigset_t *stop)
{
	for (;;) {
		long long ms = reap_slow(s);
		struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
		int sig = sigtimedwait(stop, NULL, &ts);
		if (sig > 0)
			return sig;
	}
}

/* A connection accepted above the limit: 503 and close. */
static enum MHD_Result reject(struct req *rq, struct MHD_Connection *c)
{
	rq->rejected = 1;
	rq->respond_now = 1;
	atomic_fetch_add_explicit(&rq->srv->m.connections_refused, 1, memory_order_relaxed);
	uint64_t rlen = 0;
	struct MHD_Response *r =
	    error_resp("UNAVAILABLE", "too many connections, try again later", NULL, &rlen);
	hdr(r, "Retry-After", "1");
	hdr(r, MHD_HTTP_HEADER_CONNECTION, "close");
	return queue(rq, c, 503, r, rlen);
}

static enum regsrv_mhandler handler_of(enum regsrv_route_kind k)
{
	switch (k) {
	case REGSRV_ROUTE_BASE:
		return REGSRV_MH_BASE;
	case REGSRV_ROUTE_CATALOG:
		return REGSRV_MH_CATALOG;
	case REGSRV_ROUTE_TOKEN:
		return REGSRV_MH_TOKEN;
	case REGSRV_ROUTE_TAGS:
		return REGSRV_MH_TAGS;
	case REGSRV_ROUTE_MANIFEST:
		return REGSRV_MH_MANIFEST;
	case REGSRV_ROUTE_BLOB:
		return REGSRV_MH_BLOB;
	case REGSRV_ROUTE_UPLOAD_START:
		return REGSRV_MH_BLOB_UPLOAD;
	case REGSRV_ROUTE_UPLOAD:
		return REGSRV_MH_BLOB_UPLOAD_CHUNK;
	case REGSRV_ROUTE_REFERRERS:
		return REGSRV_MH_REFERRERS;
	default:
		return REGSRV_MH_NONE;
	}
}

/* ---- the debug listener: /metrics, /debug/health ---- */

static enum MHD_Result debug_reply(struct MHD_Connection *c, unsigned status, const char *type,
				   char *body)
{
	if (!body)
		return MHD_NO;
	struct MHD_Response *r = resp_take(body, strlen(body));
	if (!r)
		return MHD_NO;
	hdr(r, "Content-Type", type);
	enum MHD_Result res = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return res;
}

static enum MHD_Result debug_handler(void *cls, struct MHD_Connection *c, const char *url,
				     const char *method, const char *version,
				     const char *upload_data, size_t *upload_data_size,
				     void **con_cls)
{
	static int begun;
	struct regsrv *s = cls;
	(void)version;
	(void)upload_data;
	/* Answer on the last call, for the same reason as queue() does. */
	if (!*con_cls) {
		*con_cls = &begun;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!streq(method, "GET") && !streq(method, "HEAD"))
		return debug_reply(c, 405, "text/plain; charset=utf-8",
				   strdup("405 method not allowed\n"));
	if (streq(url, "/metrics")) {
		struct regsrv_mgauges g = {.connection_limit = s->conn_limit};
		regstore_upload_count(s->store, &g.uploads, &g.uploads_active);
		struct buf out = BUF_INIT;
		if (regsrv_metrics_render(&s->m, &g, &out) < 0) {
			buf_free(&out);
			return MHD_NO;
		}
		return debug_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8",
				   buf_steal(&out));
	}
	if (streq(url, "/debug/health")) {
		_cleanup_berr_ struct berr *err = NULL;
		if (regstore_check(s->store, &err) == 0)
			return debug_reply(c, 200, JSON_TYPE, strdup("{}"));
		_cleanup_json_ json_t *doc =
		    json_pack("{s:s}", "storage", err ? err->msg : "storage check failed");
		return debug_reply(c, 503, JSON_TYPE, doc ? json_dumps(doc, JSON_COMPACT) : NULL);
	}
	return debug_reply(c, 404, "text/plain; charset=utf-8", strdup("404 page not found\n"));
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload_data,
			       size_t *upload_data_size, void **con_cls)
{
	struct regsrv *s = cls;
	struct req *rq = *con_cls;
	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		atomic_fetch_add(&s->m.in_flight, 1);
		rq->srv = s;
		clock_gettime(CLOCK_MONOTONIC, &rq->start);
		rq->m = method_of(method);
		snprintf(rq->method, sizeof(rq->method), "%s", method);
		rq->path = strdup(url);
		regsrv_route_parse(url, &rq->route);
		rq->first_call = 1;
		struct conn *cn = conn_of(c);
		if (cn)
			conn_enter(cn, CONN_REQUEST);
		enum MHD_Result res = cn && cn->over ? reject(rq, c) : begin(rq, c);
		rq->first_call = 0;
		return res;
	}
	if (*upload_data_size) {
		feed(rq, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return end(rq, c);
}

/* Control characters out of what goes to the log, so that a path cannot forge lines. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct regsrv *s = cls;
	struct req *rq = *con_cls;
	struct conn *cn = conn_of(c);
	if (cn)
		conn_enter(cn, CONN_IDLE);
	if (!rq)
		return;
	*con_cls = NULL;
	drop_upload(rq);
	struct timespec done;
	clock_gettime(CLOCK_MONOTONIC, &done);
	/* Served: sent to the end (a HEAD sends nothing). */
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && rq->m == M_GET &&
	    (rq->status == 200 || rq->status == 206) &&
	    (rq->route.kind == REGSRV_ROUTE_BLOB || rq->route.kind == REGSRV_ROUTE_MANIFEST))
		regsrv_metrics_storage(&s->m,
				       rq->route.kind == REGSRV_ROUTE_BLOB ? REGSRV_MO_BLOB
									   : REGSRV_MO_MANIFEST,
				       REGSRV_MA_SERVED, rq->bytes);
	regsrv_metrics_request(&s->m, (enum regsrv_mmethod)rq->m,
			       rq->rejected ? REGSRV_MH_REJECTED : handler_of(rq->route.kind),
			       toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? rq->status : 0,
			       (double)(done.tv_sec - rq->start.tv_sec) +
				   (double)(done.tv_nsec - rq->start.tv_nsec) / 1e9,
			       rq->received, rq->bytes);
	if (rq->pending)
		MHD_destroy_response(rq->pending);
	if (s->cfg.log) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		char client[INET6_ADDRSTRLEN] = "-";
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci && ci->client_addr) {
			const struct sockaddr *sa = ci->client_addr;
			if (sa->sa_family == AF_INET)
				inet_ntop(AF_INET,
					  &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
					  client, sizeof(client));
			else if (sa->sa_family == AF_INET6)
				inet_ntop(
				    AF_INET6,
				    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
				    client, sizeof(client));
		}
		if (rq->path)
			sanitize(rq->path);
		sanitize(rq->method);
		struct regsrv_log_entry e = {
		    .client = client,
		    .user = rq->user,
		    .method = rq->method,
		    .path = rq->path ? rq->path : "-",
		    .status = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? rq->status : 0,
		    .bytes = rq->bytes,
		    .received = rq->received,
		    .ms = (double)(now.tv_sec - rq->start.tv_sec) * 1e3 +
			  (double)(now.tv_nsec - rq->start.tv_nsec) / 1e6,
		};
		if (rq->user)
			sanitize(rq->user);
		s->cfg.log(s->cfg.log_cls, &e);
	}
	buf_free(&rq->manifest);
	berr_free(rq->werr);
	free(rq->path);
	free(rq->user);
	free(rq);
	atomic_fetch_sub(&s->m.in_flight, 1);
}

/* ---- start and stop ---- */

/* URL decoding for paths and query values. A %00 decoded would cut the string short where
 * the router looks ("v1%00.json" would read as the tag "v1"), so control characters stay
 * encoded and fail the grammar instead. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	char *w = s;
	for (const char *r = s; *r;) {
		int hi, lo;
		if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 &&
		    hi * 16 + lo >= 0x20 && hi * 16 + lo != 0x7f) {
			*w++ = (char)(hi * 16 + lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static int parse_addr(const char *addr, struct sockaddr_storage *ss, int *ret_v6any,
		      struct berr **err)
{
	memset(ss, 0, sizeof(*ss));
	const char *colon = strrchr(addr, ':');
	if (!colon)
		return berr_set(err, EINVAL, "address '%s': want HOST:PORT or :PORT", addr);
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 0 || port > 65535)
		return berr_set(err, EINVAL, "address '%s': bad port", addr);
	char host[256];
	size_t hl = (size_t)(colon - addr);
	if (hl >= sizeof(host))
		return berr_set(err, EINVAL, "address '%s': host too long", addr);
	memcpy(host, addr, hl);
	host[hl] = '\0';
	*ret_v6any = 0;
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return berr_set(err, EINVAL, "address '%s': bad IPv6 address", addr);
		return 0;
	}
	if (hl == 0) {
		/* ":5000": every address, IPv4 and IPv6, as Go's listener does. */
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		s6->sin6_addr = in6addr_any;
		*ret_v6any = 1;
		return 0;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	if (streq(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return berr_set(err, EINVAL,
				"address '%s': bad IPv4 address (names are not resolved)", addr);
	return 0;
}

/* The debug listener, before the main daemon goes. */
static void stop_threads(struct regsrv *s)
{
	if (s->debug) {
		MHD_stop_daemon(s->debug);
		s->debug = NULL;
	}
	if (s->d) {
		MHD_stop_daemon(s->d);
		s->d = NULL;
	}
}

static void server_free(struct regsrv *s)
{
	if (!s)
		return;
	regstore_close(s->store);
	regsrv_htpasswd_free(s->htpasswd);
	regsrv_acl_free(s->acl);
	regsrv_token_key_free(s->key);
	pthread_mutex_destroy(&s->conns_lock);
	for (size_t i = 0; i < MC_SLOTS; i++)
		free(s->mc[i].data);
	pthread_mutex_destroy(&s->mc_lock);
	if (s->tls_key)
		explicit_bzero(s->tls_key, strlen(s->tls_key));
	free(s->tls_cert);
	free(s->tls_key);
	free(s);
}

static const char *host_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__arm__)
	return "arm";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__powerpc64__)
	return "ppc64le";
#else
	return "amd64";
#endif
}

int regsrv_start(const struct regsrv_config *cfg, struct regsrv **ret, struct berr **err)
{
	struct regsrv *s = calloc(1, sizeof(*s));
	if (!s)
		return berr_set(err, ENOMEM, "out of memory");
	s->cfg = *cfg;
	s->arch = host_arch();
	regsrv_metrics_init(&s->m);
	pthread_mutex_init(&s->conns_lock, NULL);
	pthread_mutex_init(&s->mc_lock, NULL);
	int r;
	if (!cfg->root) {
		server_free(s);
		return berr_set(err, EINVAL, "no registry root given");
	}
	if ((r = regstore_open(cfg->root, REGSTORE_CREATE, &s->store, err)) < 0)
		goto fail;
	if (cfg->htpasswd && (r = regsrv_htpasswd_load(cfg->htpasswd, &s->htpasswd, err)) < 0)
		goto fail;
	if ((r = regsrv_acl_new(cfg->access, cfg->htpasswd || cfg->token_issuer, &s->acl, err)) < 0)
		goto fail;
	if (cfg->token_issuer) {
		int dfd = regstore_berth_dir(s->store);
		if (dfd < 0) {
			r = berr_errno(err, -dfd, "create '%s/berth'", cfg->root);
			goto fail;
		}
		if ((r = regsrv_token_key_load(dfd, cfg->token_alg, &s->key, err)) < 0)
			goto fail;
	}
	if (!cfg->tls_cert != !cfg->tls_key) {
		r = berr_set(err, EINVAL, "TLS needs both a certificate and a key");
		goto fail;
	}
	if (cfg->tls_cert) {
		if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
			r = berr_set(err, ENOTSUP, "this libmicrohttpd was built without TLS");
			goto fail;
		}
		if ((r = fs_read_all_at(AT_FDCWD, cfg->tls_cert, 1u << 20, &s->tls_cert, NULL)) <
		    0) {
			r = berr_errno(err, -r, "read TLS certificate '%s'", cfg->tls_cert);
			goto fail;
		}
		if ((r = fs_read_all_at(AT_FDCWD, cfg->tls_key, 1u << 20, &s->tls_key, NULL)) < 0) {
			r = berr_errno(err, -r, "read TLS key '%s'", cfg->tls_key);
			goto fail;
		}
		s->tls = 1;
	}

	/* Plain HTTP: GnuTLS, which libmicrohttpd links, stays out of the process (a stand-in
	 * with its name; src/util/standin/gnutls.c). Before the first call into libmicrohttpd. */
	if (!s->tls && berth_lazy_load_with)
		berth_lazy_load_with(&berth_lazy_microhttpd, "berth-gnutls-off.so");

	struct sockaddr_storage ss;
	int v6any = 0;
	if ((r = parse_addr(cfg->addr, &ss, &v6any, err)) < 0)
		goto fail;
	unsigned threads = cfg->threads;
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)(4 * n) : 4;
		if (threads > 64)
			threads = 64;
	}
	/* Two descriptors per connection (its socket, and the file of a blob it sends or an
	 * upload it writes), the rest kept for the server itself. */
	struct rlimit rl;
	unsigned long long fd_room = CONNECTIONS_DEFAULT_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		fd_room = rl.rlim_cur > 2 * (FD_RESERVE + OVER_LIMIT_SLACK)
			      ? (rl.rlim_cur - FD_RESERVE - OVER_LIMIT_SLACK) / 2
			      : 16;
	s->conn_limit = cfg->max_connections ? cfg->max_connections : CONNECTIONS_DEFAULT_MAX;
	if (s->conn_limit > fd_room)
		s->conn_limit = (unsigned)fd_room;
	s->header_timeout = cfg->header_timeout ? cfg->header_timeout : HEADER_TIMEOUT_DEFAULT;
	s->idle_timeout = cfg->idle_timeout ? cfg->idle_timeout : IDLE_TIMEOUT_DEFAULT;

	/* poll(2), not epoll: libmicrohttpd 0.9.75's epoll loop waits again, with the timeout
	 * it computed before, when one wait returned its whole batch of 128 events, and the
	 * connections of that batch are served only when another event comes, or at the next
	 * idle timeout (up to --idle-timeout). A worker with 128 ready connections is enough:
	 * 203's 2000 keep-alive connections hit it once in about 40 runs. poll serves 10% fewer
	 * requests per second at 500 connections and as many at 32 (docs/internals/REGISTRY.md). */
	unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_TURBO;
	if (v6any)
		flags |= MHD_USE_DUAL_STACK;
	else if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (s->tls)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem tls_opts[] = {
	    {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
	    {MHD_OPTION_END, 0, NULL},
	};
	struct MHD_OptionItem none[] = {{MHD_OPTION_END, 0, NULL}};
	/* The memory pool per connection (headers and the read buffer): libmicrohttpd 0.9.75
	 * zeroes all of it between two requests of a keep-alive connection, so each such
	 * connection keeps it resident. Bigger reads bodies in bigger pieces (less CPU per
	 * uploaded byte), smaller costs less per idle connection (REGISTRY.md). */
	s->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)(128 * 1024), MHD_OPTION_CONNECTION_TIMEOUT, s->idle_timeout,
	    MHD_OPTION_CONNECTION_LIMIT, s->conn_limit + OVER_LIMIT_SLACK,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
	    MHD_OPTION_NOTIFY_CONNECTION, conn_notify, s, MHD_OPTION_URI_LOG_CALLBACK, uri_logged,
	    s, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_ARRAY,
	    s->tls ? tls_opts : none, MHD_OPTION_END);
	if (!s->d) {
		r = berr_set(
		    err, EADDRINUSE,
		    "cannot listen on '%s' (address in use, not permitted, or bad TLS files)",
		    cfg->addr);
		goto fail;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : 0;

	if (cfg->debug_addr) {
		if ((r = parse_addr(cfg->debug_addr, &ss, &v6any, err)) < 0) {
			berr_wrap(err, "debug address");
			goto fail;
		}
		unsigned dflags = MHD_USE_AUTO_INTERNAL_THREAD;
		if (v6any)
			dflags |= MHD_USE_DUAL_STACK;
		else if (ss.ss_family == AF_INET6)
			dflags |= MHD_USE_IPv6;
		s->debug = MHD_start_daemon(
		    dflags, 0, NULL, NULL, debug_handler, s, MHD_OPTION_SOCK_ADDR,
		    (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 32u,
		    MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		    (size_t)(32 * 1024), MHD_OPTION_END);
		if (!s->debug) {
			r = berr_set(
			    err, EADDRINUSE,
			    "cannot listen on '%s' (debug address in use or not permitted)",
			    cfg->debug_addr);
			goto fail;
		}
		di = MHD_get_daemon_info(s->debug, MHD_DAEMON_INFO_BIND_PORT);
		s->debug_port = di ? di->port : 0;
	}
	*ret = s;
	return 0;
fail:
	stop_threads(s);
	server_free(s);
	return r;
}

unsigned regsrv_debug_port(const struct regsrv *s)
{
	return s->debug_port;
}

unsigned regsrv_connection_limit(const struct regsrv *s)
{
	return s->conn_limit;
}

unsigned regsrv_port(const struct regsrv *s)
{
	return s->port;
}

void regsrv_stop(struct regsrv *s, int timeout_ms)
{
	if (!s)
		return;
	MHD_socket fd = MHD_quiesce_daemon(s->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	for (int waited = 0; waited < timeout_ms && atomic_load(&s->m.in_flight) > 0;
	     waited += 10) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	stop_threads(s);
	server_free(s);
}
