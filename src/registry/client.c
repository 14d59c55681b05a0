#include "client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth_client.h"
#include "buf.h"
#include "cleanup.h"
#include "fs.h"
#include "imgarchive.h"
#include "imgconfig.h"
#include "log.h"
#include "ref.h"

#include "banned.h"

/* Error bodies and token answers are small; more is not kept. */
#define ERROR_BODY_MAX ((size_t)64 << 10)
#define TOKEN_BODY_MAX ((size_t)1 << 20)
#define TAGS_BODY_MAX ((size_t)16 << 20)
#define TAGS_PAGES_MAX 1000
#define CA_FILE_MAX ((size_t)4 << 20)
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

enum auth_kind { AUTH_UNKNOWN = 0, AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

struct reg_client {
	char *domain;	/* as given: "localhost:5000" */
	char *host;	/* what URLs use: "registry-1.docker.io", "[::1]:5000" */
	char *hostname; /* host without port or brackets, for address checks */
	int insecure;
	int tls_verify; /* the option: -1, 0, 1 */
	int loopback;
	char *ca_blob; /* extra CA roots + the system's, or NULL for curl's default */
	size_t ca_len;
	char *client_cert, *client_key;
	char *user_agent;
	struct reg_cred cred;
	char *scopes;
	struct reg_token_cache *tokens;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

	pthread_mutex_t ping_lock; /* one ping at a time */
	pthread_mutex_t lock;      /* guards what follows */
	int pinged;
	int ping_r;
	char *ping_msg;
	char *base_url;
	enum auth_kind auth;
	char *realm, *service;
};

/* ---- curl global state and the share handle ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *opaque)
{
	struct reg_client *c = opaque;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *opaque)
{
	struct reg_client *c = opaque;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->share_locks[data]);
}

/* ---- small helpers ---- */

static int64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Go's method spelling in error messages: "Get", "Head", "Put". */
static const char *method_word(const char *m)
{
	static const char *const w[][2] = {{"GET", "Get"},     {"HEAD", "Head"},
					   {"PUT", "Put"},     {"POST", "Post"},
					   {"PATCH", "Patch"}, {"DELETE", "Delete"}};
	for (size_t i = 0; i < ARRAY_SIZE(w); i++)
		if (streq(m, w[i][0]))
			return w[i][1];
	return m;
}

/* A URL for messages: the query (upload state, token parameters) left out. */
static char *url_for_msg(const char *url)
{
	return strndup(url, strcspn(url, "?"));
}

static const char *status_text(long s)
{
	switch (s) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 307:
		return "Temporary Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Request Entity Too Large";
	case 416:
		return "Requested Range Not Satisfiable";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	}
	return "";
}

static int status_errno(long s)
{
	if (s == 401)
		return EACCES;
	if (s == 403)
		return EPERM;
	if (s == 404)
		return ENOENT;
	if (s == 429 || s >= 500)
		return EAGAIN;
	return EPROTO;
}

int reg_error_retryable(int r)
{
	return r == -ECONNREFUSED || r == -ECONNRESET || r == -ETIMEDOUT || r == -EAGAIN;
}

/* ---- addresses: which registries are insecure ---- */

static int parse_cidr(const char *s, int *ret_family, unsigned char *ret_addr, int *ret_bits)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	char *end;
	errno = 0;
	long bits = strtol(slash + 1, &end, 10);
	if (errno || *end || end == slash + 1)
		return -EINVAL;
	if (inet_pton(AF_INET, ip, ret_addr) == 1) {
		*ret_family = AF_INET;
		if (bits < 0 || bits > 32)
			return -EINVAL;
	} else if (inet_pton(AF_INET6, ip, ret_addr) == 1) {
		*ret_family = AF_INET6;
		if (bits < 0 || bits > 128)
			return -EINVAL;
	} else
		return -EINVAL;
	*ret_bits = (int)bits;
	return 0;
}

static int prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (!rest)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

static int addr_in(int family, const unsigned char *addr, const char *cidr)
{
	int cf, bits;
	unsigned char net[16];
	if (parse_cidr(cidr, &cf, net, &bits) < 0)
		return 0;
	if (cf == family)
		return prefix_match(addr, net, bits);
	/* An IPv4-mapped IPv6 address is the IPv4 one. */
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (family == AF_INET6 && cf == AF_INET && memcmp(addr, mapped, 12) == 0)
		return prefix_match(addr + 12, net, bits);
	return 0;
}

static int addr_loopback(int family, const unsigned char *addr)
{
	return addr_in(family, addr, "127.0.0.0/8") || addr_in(family, addr, "::1/128");
}

/* Addresses of the host: the literal, or (only when needed) what the resolver says. */
struct addrs {
	int n;
	int family[16];
	unsigned char addr[16][16];
};

static void host_addrs(const char *hostname, int resolve, struct addrs *ret)
{
	ret->n = 0;
	if (inet_pton(AF_INET, hostname, ret->addr[0]) == 1) {
		ret->family[ret->n++] = AF_INET;
		return;
	}
	if (inet_pton(AF_INET6, hostname, ret->addr[0]) == 1) {
		ret->family[ret->n++] = AF_INET6;
		return;
	}
	if (!resolve)
		return;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	if (getaddrinfo(hostname, NULL, &hints, &res) != 0)
		return;
	for (struct addrinfo *a = res; a && ret->n < 16; a = a->ai_next) {
		if (a->ai_family == AF_INET) {
			memcpy(ret->addr[ret->n], &((struct sockaddr_in *)a->ai_addr)->sin_addr, 4);
			ret->family[ret->n++] = AF_INET;
		} else if (a->ai_family == AF_INET6) {
			memcpy(ret->addr[ret->n], &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr,
			       16);
			ret->family[ret->n++] = AF_INET6;
		}
	}
	freeaddrinfo(res);
}

static int is_localhost_name(const char *h)
{
	size_t n = strlen(h);
	return strcasecmp(h, "localhost") == 0 ||
	       (n > 10 && strcasecmp(h + n - 10, ".localhost") == 0);
}

/* Docker's isSecureIndex, plus ::1: listed names, then the host's addresses (resolved, as
 * Docker does) against the listed CIDRs and loopback. */
static void classify(struct reg_client *c, json_t *config)
{
	json_t *list = config ? json_object_get(config, "insecure-registries") : NULL;
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
	{
		const char *s = json_string_value(v);
		if (s && !strchr(s, '/') && (streq(s, c->domain) || streq(s, c->hostname)))
			c->insecure = 1;
	}
	struct addrs a;
	host_addrs(c->hostname, 1, &a);
	if (is_localhost_name(c->hostname))
		c->loopback = 1;
	for (int k = 0; k < a.n; k++) {
		if (addr_loopback(a.family[k], a.addr[k]))
			c->loopback = 1;
		json_array_foreach(list, i,
				   v) if (json_is_string(v) && strchr(json_string_value(v), '/') &&
					  addr_in(a.family[k], a.addr[k], json_string_value(v)))
		    c->insecure = 1;
	}
	if (c->loopback)
		c->insecure = 1;
	if (c->tls_verify == 1)
		c->insecure = 0;
	else if (c->tls_verify == 0)
		c->insecure = 1;
}

/* ---- TLS material from certs.d ---- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int append_file(struct buf *b, int dfd, const char *name, struct berr **err, const char *dir)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = fs_read_all_at(dfd, name, CA_FILE_MAX, &data, &len);
	if (r < 0)
		return berr_errno(err, r, "read '%s/%s'", dir, name);
	if (buf_append(b, data, len) < 0 || buf_putc(b, '\n') < 0)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

static int load_certs(struct reg_client *c, const char *certs_dir, struct berr **err)
{
	_cleanup_free_ char *dir = NULL;
	if (asprintf(&dir, "%s/%s", certs_dir, c->domain) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return 0; /* no directory: nothing extra, as in Docker */
	struct strv names = STRV_INIT;
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && (r = strv_push(&names, de->d_name)) < 0)
			break;
	if (r < 0) {
		strv_free(&names);
		return berr_set(err, ENOMEM, "out of memory");
	}
	if (names.n)
		qsort(names.v, names.n, sizeof(char *), cmp_names);
	struct buf ca = BUF_INIT;
	for (size_t i = 0; i < names.n && r >= 0; i++) {
		const char *n = names.v[i];
		size_t len = strlen(n);
		if (len > 4 && streq(n + len - 4, ".crt")) {
			r = append_file(&ca, dirfd(d), n, err, dir);
		} else if (len > 5 && streq(n + len - 5, ".cert") && !c->client_cert) {
			_cleanup_free_ char *key = NULL;
			if (asprintf(&key, "%.*s.key", (int)(len - 5), n) < 0) {
				r = berr_set(err, ENOMEM, "out of memory");
				break;
			}
			if (!strv_contains(&names, key)) {
				r = berr_set(err, ENOENT,
					     "missing key %s for client certificate %s. CA "
					     "certificates must use the extension .crt",
					     key, n);
				break;
			}
			if (asprintf(&c->client_cert, "%s/%s", dir, n) < 0 ||
			    asprintf(&c->client_key, "%s/%s", dir, key) < 0)
				r = berr_set(err, ENOMEM, "out of memory");
		} else if (len > 4 && streq(n + len - 4, ".key")) {
			_cleanup_free_ char *cert = NULL;
			if (asprintf(&cert, "%.*s.cert", (int)(len - 4), n) < 0) {
				r = berr_set(err, ENOMEM, "out of memory");
				break;
			}
			if (!strv_contains(&names, cert))
				r = berr_set(err, ENOENT,
					     "missing client certificate %s for key %s", cert, n);
		}
	}
	strv_free(&names);
	if (r < 0) {
		buf_free(&ca);
		return r;
	}
	if (ca.len) {
		/* CURLOPT_CAINFO_BLOB replaces the default bundle: add the system's, so that
		 * the extra roots extend it as Docker's SystemCertPool + AppendCertsFromPEM do. */
		_cleanup_close_ int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		_cleanup_free_ char *sys = NULL;
		size_t slen;
		if (root >= 0 &&
		    fs_read_all_at(root, SYSTEM_CA_BUNDLE + 1, CA_FILE_MAX * 4, &sys, &slen) == 0 &&
		    buf_append(&ca, sys, slen) < 0) {
			buf_free(&ca);
			return berr_set(err, ENOMEM, "out of memory");
		}
		c->ca_len = ca.len;
		c->ca_blob = buf_steal(&ca);
		if (!c->ca_blob)
			return berr_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- client ---- */

/* Split a domain into the URL host and the bare host name. */
static int split_domain(const char *domain, char **ret_host, char **ret_hostname)
{
	for (const char *p = domain; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '/' || *p == '?' || *p == '#' || *p == '@' ||
		    (unsigned char)*p >= 0x7f)
			return -EINVAL;
	const char *start = domain, *end;
	if (domain[0] == '[') {
		end = strchr(domain, ']');
		if (!end || end == domain + 1)
			return -EINVAL;
		start = domain + 1;
	} else {
		end = domain + strcspn(domain, ":");
		if (end == domain)
			return -EINVAL;
	}
	const char *rest = end + (domain[0] == '[');
	if (*rest == ':') {
		const char *port = rest + 1;
		if (!*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port))
			return -EINVAL;
	} else if (*rest)
		return -EINVAL;
	int hub = streq(domain, REG_DOCKER_HUB_DOMAIN);
	_cleanup_free_ char *hostname =
	    hub ? strdup(REG_DOCKER_HUB_HOST) : strndup(start, (size_t)(end - start));
	_cleanup_free_ char *host = strdup(hub ? REG_DOCKER_HUB_HOST : domain);
	if (!hostname || !host)
		return -ENOMEM;
	*ret_host = TAKE_PTR(host);
	*ret_hostname = TAKE_PTR(hostname);
	return 0;
}

int reg_client_new(const char *domain, const struct reg_client_opts *o, struct reg_client **ret,
		   struct berr **err)
{
	pthread_once(&curl_once, curl_init_once);
	struct reg_client *c = calloc(1, sizeof(*c));
	if (!c)
		return berr_set(err, ENOMEM, "out of memory");
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->ping_lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	c->tls_verify = o ? o->tls_verify : -1;
	c->domain = strdup(domain);
	c->user_agent = strdup(o && o->user_agent ? o->user_agent : "berth");
	c->tokens = reg_token_cache_new();
	c->share = curl_share_init();
	int r;
	if (!c->domain || !c->user_agent || !c->tokens || !c->share) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	r = split_domain(domain, &c->host, &c->hostname);
	if (r < 0) {
		r = r == -ENOMEM ? berr_set(err, ENOMEM, "out of memory")
				 : berr_set(err, EINVAL, "invalid registry host '%.200s'", domain);
		goto fail;
	}
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	classify(c, o ? o->config : NULL);
	const char *certs = o && o->certs_dir ? o->certs_dir : getenv("BERTH_CERTS_D");
	if ((r = load_certs(c, certs && *certs ? certs : REG_CERTS_D_DEFAULT, err)) < 0)
		goto fail;
	if (o && o->cred) {
		if ((o->cred->username && !(c->cred.username = strdup(o->cred->username))) ||
		    (o->cred->password && !(c->cred.password = strdup(o->cred->password))) ||
		    (o->cred->identity_token &&
		     !(c->cred.identity_token = strdup(o->cred->identity_token)))) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto fail;
		}
	}
	*ret = c;
	return 0;
fail:
	reg_client_free(c);
	return r;
}

void reg_client_free(struct reg_client *c)
{
	if (!c)
		return;
	if (c->share)
		curl_share_cleanup(c->share);
	reg_token_cache_free(c->tokens);
	reg_cred_clear(&c->cred);
	free(c->domain);
	free(c->host);
	free(c->hostname);
	free(c->ca_blob);
	free(c->client_cert);
	free(c->client_key);
	free(c->user_agent);
	free(c->scopes);
	free(c->ping_msg);
	free(c->base_url);
	free(c->realm);
	free(c->service);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->ping_lock);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	free(c);
}

int reg_client_load_cred(struct reg_client *c, const char *config_path, struct berr **err)
{
	_cleanup_free_ char *key = reg_cred_server_key(c->domain);
	if (!key)
		return berr_set(err, ENOMEM, "out of memory");
	struct reg_cred cred;
	int r = reg_cred_get(config_path, key, &cred, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	reg_cred_clear(&c->cred);
	c->cred = cred;
	return 0;
}

const char *reg_client_domain(const struct reg_client *c)
{
	return c->domain;
}

const char *reg_client_host(const struct reg_client *c)
{
	return c->host;
}

int reg_client_insecure(const struct reg_client *c)
{
	return c->insecure;
}

const char *reg_client_base_url(const struct reg_client *c)
{
	return c->base_url;
}

int reg_client_set_scopes(struct reg_client *c, const char *scopes)
{
	char *s = NULL;
	if (scopes && !(s = strdup(scopes)))
		return -ENOMEM;
	free(c->scopes);
	c->scopes = s;
	return 0;
}

/* ---- one HTTP exchange ---- */

struct req {
	const char *method;
	const char *url;    /* absolute */
	const char *accept; /* NULL: none */
	const char *content_type;
	const char *range;	   /* "bytes=N-" or NULL */
	const char *content_range; /* "start-end" or NULL */
	const char *authz;	   /* full "Authorization: ..." header, or NULL */
	const char *user, *pass;   /* Basic auth for a token request */
	/* Body: mem/mem_len, or body_fd from body_off for body_len bytes (fd -1 for none). */
	const char *mem;
	size_t mem_len;
	int body_fd;
	uint64_t body_off, body_len;
	int has_body;
	/* Or a body of unknown length made as it is sent (chunked transfer encoding). */
	reg_source_fn source;
	void *source_opaque;
	/* Response body: into sink when 2xx (skipping the first skip bytes), else buffered up
	 * to max (more is an error for 2xx, silently dropped otherwise). */
	reg_sink_fn sink;
	void *sink_opaque;
	uint64_t skip;
	size_t max;
	int follow; /* follow redirects */
	reg_upload_progress_fn progress;
	void *progress_opaque;
};

struct resp {
	long status;
	struct buf body;
	int too_big;
	char *content_type, *location, *digest, *link, *chunk_min;
	struct buf wwwauth;
	int64_t content_length;
	char *url; /* the absolute URL requested (set by request()), for messages */
	/* sink state */
	uint64_t skipped;
	int sink_r;
	struct berr *sink_err;
	/* body state */
	uint64_t sent;
	CURL *h;
};

static void resp_clear(struct resp *r)
{
	buf_free(&r->body);
	buf_free(&r->wwwauth);
	free(r->content_type);
	free(r->location);
	free(r->digest);
	free(r->link);
	free(r->chunk_min);
	free(r->url);
	berr_free(r->sink_err);
	memset(r, 0, sizeof(*r));
}

static void resp_reset_headers(struct resp *r)
{
	buf_reset(&r->wwwauth);
	free(r->content_type);
	free(r->location);
	free(r->digest);
	free(r->link);
	free(r->chunk_min);
	r->content_type = r->location = r->digest = r->link = r->chunk_min = NULL;
	r->content_length = -1;
}

static char *trim_dup(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && strchr(" \t\r\n", s[n - 1]))
		n--;
	return strndup(s, n);
}

struct xfer {
	const struct req *rq;
	struct resp *rs;
};

static size_t on_header(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct xfer *x = opaque;
	struct resp *rs = x->rs;
	size_t n = size * nmemb;
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* A new response (after a 100 Continue or a redirect): forget the last one. */
		resp_reset_headers(rs);
		return n;
	}
	const char *colon = memchr(data, ':', n);
	if (!colon)
		return n;
	size_t nl = (size_t)(colon - data);
	const char *v = colon + 1;
	size_t vl = n - nl - 1;
	char **slot = NULL;
#define HDR(name) (nl == strlen(name) && strncasecmp(data, name, nl) == 0)
	if (HDR("content-type"))
		slot = &rs->content_type;
	else if (HDR("location"))
		slot = &rs->location;
	else if (HDR("docker-content-digest"))
		slot = &rs->digest;
	else if (HDR("link"))
		slot = &rs->link;
	else if (HDR("oci-chunk-min-length"))
		slot = &rs->chunk_min;
	else if (HDR("content-length")) {
		_cleanup_free_ char *t = trim_dup(v, vl);
		char *end;
		if (t && *t) {
			long long cl = strtoll(t, &end, 10);
			if (!*end && cl >= 0)
				rs->content_length = cl;
		}
	} else if (HDR("www-authenticate")) {
		_cleanup_free_ char *t = trim_dup(v, vl);
		/* Several headers are one list (RFC 9110 5.3). */
		if (t && rs->wwwauth.len < REG_WWWAUTH_MAX &&
		    ((rs->wwwauth.len && buf_puts(&rs->wwwauth, ", ") < 0) ||
		     buf_puts(&rs->wwwauth, t) < 0))
			return 0;
	}
#undef HDR
	if (slot) {
		free(*slot);
		*slot = trim_dup(v, vl);
		if (!*slot)
			return 0;
	}
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct xfer *x = opaque;
	struct resp *rs = x->rs;
	const struct req *rq = x->rq;
	size_t n = size * nmemb;
	long status = 0;
	curl_easy_getinfo(rs->h, CURLINFO_RESPONSE_CODE, &status);
	if (rq->sink && status >= 200 && status < 300) {
		const char *p = data;
		size_t left = n;
		/* 206: the registry honoured the Range; 200: it sent everything again. */
		uint64_t skip = status == 206 ? 0 : rq->skip;
		if (rs->skipped < skip) {
			uint64_t s = skip - rs->skipped;
			if (s > left)
				s = left;
			rs->skipped += s;
			p += s;
			left -= (size_t)s;
		}
		if (left) {
			int r = rq->sink(rq->sink_opaque, p, left, &rs->sink_err);
			if (r < 0) {
				rs->sink_r = r;
				return 0;
			}
		}
		return n;
	}
	size_t max = (status >= 200 && status < 300) ? rq->max : ERROR_BODY_MAX;
	if (rs->body.len + n > max) {
		if (status >= 200 && status < 300) {
			rs->too_big = 1;
			return 0;
		}
		n = max > rs->body.len ? max - rs->body.len : 0;
		if (buf_append(&rs->body, data, n) < 0)
			return 0;
		return size * nmemb;
	}
	if (buf_append(&rs->body, data, n) < 0)
		return 0;
	return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *opaque)
{
	struct xfer *x = opaque;
	const struct req *rq = x->rq;
	struct resp *rs = x->rs;
	size_t want = size * nmemb;
	if (rq->source) {
		ssize_t n = rq->source(rq->source_opaque, buf, want, &rs->sink_err);
		if (n < 0) {
			rs->sink_r = (int)n;
			return CURL_READFUNC_ABORT;
		}
		rs->sent += (uint64_t)n;
		return (size_t)n;
	}
	if (rq->body_fd < 0) {
		size_t left = rq->mem_len - (size_t)rs->sent;
		if (want > left)
			want = left;
		if (want)
			memcpy(buf, rq->mem + rs->sent, want);
		rs->sent += want;
		return want;
	}
	uint64_t left = rq->body_len - rs->sent;
	if (want > left)
		want = (size_t)left;
	if (!want)
		return 0;
	ssize_t n;
	do
		n = pread(rq->body_fd, buf, want, (off_t)(rq->body_off + rs->sent));
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return CURL_READFUNC_ABORT; /* a blob shorter than its size: stop, do not hang */
	rs->sent += (uint64_t)n;
	return (size_t)n;
}

static int on_seek(void *opaque, curl_off_t offset, int origin)
{
	struct xfer *x = opaque;
	uint64_t len = x->rq->body_fd < 0 ? x->rq->mem_len : x->rq->body_len;
	if (x->rq->source) /* made once: only "from the start" before anything was sent */
		return origin == SEEK_SET && offset == 0 && x->rs->sent == 0
			   ? CURL_SEEKFUNC_OK
			   : CURL_SEEKFUNC_CANTSEEK;
	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->rs->sent = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int on_progress(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = opaque;
	if (x->rq->progress && ulnow > 0)
		x->rq->progress(x->rq->progress_opaque, (uint64_t)ulnow);
	return 0;
}

/* The scheme and host part of an absolute URL ("https://h:5000"), for comparisons. */
static size_t origin_len(const char *url)
{
	const char *p = strstr(url, "://");
	if (!p)
		return 0;
	p += 3;
	return (size_t)(p - url) + strcspn(p, "/?#");
}

static int curl_errno(CURLcode res)
{
	switch (res) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -ENXIO;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return -ECONNRESET;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return -EPROTO;
	default:
		return -EIO;
	}
}

/* Perform one request. Returns 0 with rs filled for any HTTP status, or -errno for a
 * transport failure (or a sink's error). */
static int perform(struct reg_client *c, const struct req *rq, struct resp *rs, struct berr **err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct xfer x = {.rq = rq, .rs = rs};
	_cleanup_free_ char *shown = NULL;
	int r = 0;
	memset(rs, 0, sizeof(*rs));
	rs->content_length = -1;
	CURL *h = curl_easy_init();
	if (!h)
		return berr_set(err, ENOMEM, "curl: out of memory");
	rs->h = h;
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	/* No overall timeout (a layer may take long); a stalled connection is dropped. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 120L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L << 10);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	if (rq->follow) {
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
		/* A custom Authorization header is not sent to another host on a redirect
		 * (curl >= 7.58), which is what a redirect to a blob store needs. */
	}
	if (c->loopback)
		curl_easy_setopt(h, CURLOPT_PROXY, "");
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->ca_blob) {
		struct curl_blob blob = {
		    .data = c->ca_blob, .len = c->ca_len, .flags = CURL_BLOB_NOCOPY};
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (c->client_cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->client_cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->client_key);
	}
	if (rq->user) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, rq->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, rq->pass ? rq->pass : "");
	}
	char line[512];
	struct curl_slist *t;
#define ADD_HDR(...)                                                                               \
	do {                                                                                       \
		snprintf(line, sizeof(line), __VA_ARGS__);                                         \
		if (!(t = curl_slist_append(hdrs, line)))                                          \
			goto oom;                                                                  \
		hdrs = t;                                                                          \
	} while (0)
	if (rq->accept && strlen(rq->accept) < 400)
		ADD_HDR("Accept: %s", rq->accept);
	if (rq->content_type)
		ADD_HDR("Content-Type: %s", rq->content_type);
	if (rq->range)
		ADD_HDR("Range: %s", rq->range);
	if (rq->content_range)
		ADD_HDR("Content-Range: %s", rq->content_range);
	if (rq->authz) {
		/* Tokens can be long: not through the fixed line buffer. */
		if (!(t = curl_slist_append(hdrs, rq->authz)))
			goto oom;
		hdrs = t;
	}
#undef ADD_HDR
	if (streq(rq->method, "HEAD"))
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (streq(rq->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		if (!rq->has_body) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		} else {
			curl_easy_setopt(
			    h, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)(rq->body_fd < 0 ? rq->mem_len : rq->body_len));
			curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(h, CURLOPT_READDATA, &x);
			curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
			curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
		}
	} else if (streq(rq->method, "PUT") || streq(rq->method, "PATCH")) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		if (streq(rq->method, "PATCH"))
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PATCH");
		curl_off_t infile = (curl_off_t)(!rq->has_body	  ? 0
						 : rq->body_fd < 0 ? rq->mem_len
								   : rq->body_len);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, rq->source ? (curl_off_t)-1 : infile);
		if (rq->source)
			curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &x);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
	} else if (!streq(rq->method, "GET"))
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	if (rq->progress) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);

	CURLcode res = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
	shown = url_for_msg(rq->url);
	if ((res == CURLE_WRITE_ERROR || res == CURLE_ABORTED_BY_CALLBACK) && rs->sink_r < 0) {
		r = rs->sink_r;
		if (err && !*err && rs->sink_err) {
			*err = rs->sink_err;
			rs->sink_err = NULL;
		} else if (!rs->sink_err)
			berr_set(err, -r, "%s \"%s\": write failed", method_word(rq->method),
				 shown ? shown : "");
	} else if (res == CURLE_WRITE_ERROR && rs->too_big) {
		r = berr_set(err, EFBIG, "%s \"%s\": response larger than %zu bytes",
			     method_word(rq->method), shown ? shown : "", rq->max);
	} else if (res != CURLE_OK) {
		r = curl_errno(res);
		berr_set(err, -r, "%s \"%s\": %s", method_word(rq->method), shown ? shown : "",
			 errbuf[0] ? errbuf : curl_easy_strerror(res));
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	rs->h = NULL;
	return r;
oom:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return berr_set(err, ENOMEM, "out of memory");
}

/* The error text of a registry's error body, Docker's way: "<code words>: <message>" for each
 * entry of {"errors": [...]}, else the token server's "details", else the status. */
static int http_error(const struct req *rq, const struct resp *rs, struct berr **err)
{
	_cleanup_free_ char *shown = url_for_msg(rs->url ? rs->url : rq->url);
	struct buf msg = BUF_INIT;
	json_error_t je;
	_cleanup_json_ json_t *j =
	    rs->body.len ? json_loadb(rs->body.data, rs->body.len, 0, &je) : NULL;
	json_t *errors = json_object_get(j, "errors");
	size_t i;
	json_t *e;
	json_array_foreach(errors, i, e)
	{
		if (i >= 4)
			break;
		json_t *code = json_object_get(e, "code"), *m = json_object_get(e, "message");
		if (msg.len)
			buf_puts(&msg, "; ");
		if (json_is_string(code)) {
			const char *s = json_string_value(code);
			for (size_t k = 0; s[k] && k < 64; k++)
				buf_putc(&msg,
					 s[k] == '_' ? ' ' : (char)tolower((unsigned char)s[k]));
		}
		if (json_is_string(m))
			buf_printf(&msg, "%s%.200s", json_is_string(code) ? ": " : "",
				   json_string_value(m));
	}
	if (!msg.len) {
		json_t *d = json_object_get(j, "details");
		if (json_is_string(d))
			buf_printf(&msg, "%s: %.200s", rs->status == 401 ? "unauthorized" : "error",
				   json_string_value(d));
	}
	if (!msg.len && rs->status == 401)
		buf_puts(&msg, "unauthorized: authentication required");
	if (!msg.len)
		buf_printf(&msg, "unexpected status code %ld %s", rs->status,
			   status_text(rs->status));
	int r = berr_set(err, status_errno(rs->status), "%s \"%s\": %s", method_word(rq->method),
			 shown ? shown : "", msg.data ? msg.data : "error");
	buf_free(&msg);
	return r;
}

/* ---- tokens ---- */

static char *url_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *d = e ? strdup(e) : NULL;
	curl_free(e);
	return d;
}

/* Fetch a token for scopes (space-separated, may be empty) from realm. */
static int fetch_token(struct reg_client *c, const char *realm, const char *service,
		       const char *scopes, int offline, struct reg_token *ret, struct berr **err)
{
	if (strncmp(realm, "https://", 8) != 0 && strncmp(realm, "http://", 7) != 0)
		return berr_set(err, EPROTO, "token realm \"%.200s\" is not an http(s) URL", realm);
	struct buf url = BUF_INIT, form = BUF_INIT;
	struct req rq = {.method = "GET", .body_fd = -1, .max = TOKEN_BODY_MAX};
	struct resp rs;
	_cleanup_free_ char *esvc = service ? url_escape(service) : NULL;
	_cleanup_free_ char *scopes_copy = strdup(scopes ? scopes : "");
	int r = 0;
	if ((service && !esvc) || !scopes_copy) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if (c->cred.identity_token) {
		/* OAuth2 refresh grant (distribution's token spec, "oauth"). */
		_cleanup_free_ char *etok = url_escape(c->cred.identity_token);
		_cleanup_free_ char *escope = url_escape(scopes_copy);
		if (!etok || !escope ||
		    buf_printf(&form,
			       "grant_type=refresh_token&refresh_token=%s&client_id=berth%s%s%s%s",
			       etok, esvc ? "&service=" : "", esvc ? esvc : "",
			       *scopes_copy ? "&scope=" : "", *scopes_copy ? escope : "") < 0 ||
		    buf_puts(&url, realm) < 0) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
		if (etok)
			explicit_bzero(etok, strlen(etok));
		rq.method = "POST";
		rq.mem = form.data;
		rq.mem_len = form.len;
		rq.has_body = 1;
		rq.content_type = "application/x-www-form-urlencoded";
	} else {
		char sep = strchr(realm, '?') ? '&' : '?';
		if (buf_puts(&url, realm) < 0) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
		if (esvc) {
			buf_printf(&url, "%cservice=%s", sep, esvc);
			sep = '&';
		}
		for (char *save = NULL, *s = strtok_r(scopes_copy, " ", &save); s;
		     s = strtok_r(NULL, " ", &save)) {
			_cleanup_free_ char *es = url_escape(s);
			if (!es || buf_printf(&url, "%cscope=%s", sep, es) < 0) {
				r = berr_set(err, ENOMEM, "out of memory");
				goto out;
			}
			sep = '&';
		}
		if (offline && buf_printf(&url, "%coffline_token=true&client_id=berth", sep) < 0) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
		if (c->cred.username && c->cred.password) {
			rq.user = c->cred.username;
			rq.pass = c->cred.password;
		}
	}
	rq.url = url.data;
	rq.follow = 1;
	r = perform(c, &rq, &rs, err);
	if (r >= 0) {
		if (rs.status == 200) {
			r = reg_token_parse(rs.body.data ? rs.body.data : "", rs.body.len, ret,
					    err);
			if (r < 0)
				berr_wrap(err, "%s \"%s\"", method_word(rq.method), realm);
		} else
			r = http_error(&rq, &rs, err);
		resp_clear(&rs);
	}
out:
	if (form.data)
		explicit_bzero(form.data, form.len);
	buf_free(&form);
	buf_free(&url);
	return r;
}

/* Remember the auth scheme a 401 (or the ping) asked for. */
static void note_challenge(struct reg_client *c, const char *wwwauth)
{
	struct reg_challenge *ch = NULL;
	size_t n = 0;
	if (!wwwauth || !*wwwauth || reg_wwwauth_parse(wwwauth, &ch, &n, NULL) < 0)
		return;
	const struct reg_challenge *b = reg_challenge_find(ch, n, "bearer");
	pthread_mutex_lock(&c->lock);
	if (b && reg_challenge_param(b, "realm")) {
		char *realm = strdup(reg_challenge_param(b, "realm"));
		const char *svc = reg_challenge_param(b, "service");
		char *service = svc ? strdup(svc) : NULL;
		if (realm && (!svc || service)) {
			free(c->realm);
			free(c->service);
			c->realm = realm;
			c->service = service;
			c->auth = AUTH_BEARER;
		} else {
			free(realm);
			free(service);
		}
	} else if (reg_challenge_find(ch, n, "basic"))
		c->auth = AUTH_BASIC;
	pthread_mutex_unlock(&c->lock);
	reg_challenges_free(ch, n);
}

/* The scope a 401 names, added to ours (a registry may need one we did not predict). */
static char *challenge_scope(const char *wwwauth)
{
	struct reg_challenge *ch = NULL;
	size_t n = 0;
	char *s = NULL;
	if (!wwwauth || reg_wwwauth_parse(wwwauth, &ch, &n, NULL) < 0)
		return NULL;
	const struct reg_challenge *b = reg_challenge_find(ch, n, "bearer");
	if (b && reg_challenge_param(b, "scope"))
		s = strdup(reg_challenge_param(b, "scope"));
	reg_challenges_free(ch, n);
	return s;
}

static char *join_scopes(const char *a, const char *b)
{
	char *s;
	if (!a || !*a)
		return strdup(b ? b : "");
	if (!b || !*b)
		return strdup(a);
	if (asprintf(&s, "%s %s", a, b) < 0)
		return NULL;
	return s;
}

/* The Authorization header for a request to url with scopes, fetching a token when the
 * registry uses them and none is cached; NULL (and 0) when none is to be sent. */
static int authorization(struct reg_client *c, const char *url, const char *scopes, char **ret,
			 struct berr **err)
{
	*ret = NULL;
	if (!c->base_url || strncmp(url, c->base_url, origin_len(c->base_url)) != 0 ||
	    origin_len(url) != origin_len(c->base_url))
		return 0;
	pthread_mutex_lock(&c->lock);
	enum auth_kind kind = c->auth;
	_cleanup_free_ char *realm = c->realm ? strdup(c->realm) : NULL;
	_cleanup_free_ char *service = c->service ? strdup(c->service) : NULL;
	pthread_mutex_unlock(&c->lock);
	if (kind == AUTH_BASIC) {
		if (!c->cred.username || !c->cred.password)
			return 0;
		_cleanup_free_ char *pair = NULL;
		if (asprintf(&pair, "%s:%s", c->cred.username, c->cred.password) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		_cleanup_free_ char *enc = reg_base64_encode(pair, strlen(pair));
		explicit_bzero(pair, strlen(pair));
		if (!enc || asprintf(ret, "Authorization: Basic %s", enc) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		explicit_bzero(enc, strlen(enc));
		return 0;
	}
	if (kind != AUTH_BEARER || !realm)
		return 0;
	int64_t now = mono_now();
	_cleanup_free_ char *tok = reg_token_cache_get(c->tokens, realm, service, scopes, now);
	if (!tok) {
		struct reg_token t;
		int r = fetch_token(c, realm, service, scopes, 0, &t, err);
		if (r < 0)
			return r;
		reg_token_cache_put(c->tokens, realm, service, scopes, t.token, t.expires_in, now);
		tok = TAKE_PTR(t.token);
		reg_token_clear(&t);
	}
	if (asprintf(ret, "Authorization: Bearer %s", tok) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

/* ---- ping ---- */

static int ping_one(struct reg_client *c, const char *base, struct berr **err)
{
	_cleanup_free_ char *url = NULL;
	if (asprintf(&url, "%s/v2/", base) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	struct req rq = {
	    .method = "GET", .url = url, .body_fd = -1, .max = ERROR_BODY_MAX, .follow = 1};
	struct resp rs;
	int r = perform(c, &rq, &rs, err);
	if (r < 0)
		return r;
	if (rs.status == 401) {
		note_challenge(c, rs.wwwauth.data);
		r = 0;
	} else if (rs.status >= 200 && rs.status < 300) {
		pthread_mutex_lock(&c->lock);
		c->auth = AUTH_NONE;
		pthread_mutex_unlock(&c->lock);
		r = 0;
	} else if (rs.status == 404) {
		/* Not a v2 registry (or a proxy): requests will tell more. */
		r = 0;
	} else
		r = http_error(&rq, &rs, err);
	resp_clear(&rs);
	return r;
}

static int ping_locked(struct reg_client *c, struct berr **err)
{
	pthread_mutex_lock(&c->lock);
	int done = c->pinged, r = c->ping_r;
	_cleanup_free_ char *msg = c->ping_msg ? strdup(c->ping_msg) : NULL;
	pthread_mutex_unlock(&c->lock);
	if (done) {
		if (r < 0)
			berr_set(err, -r, "%s", msg ? msg : "registry unreachable");
		return r;
	}
	char https[300], http[300];
	snprintf(https, sizeof(https), "https://%s", c->host);
	snprintf(http, sizeof(http), "http://%s", c->host);
	struct berr *e1 = NULL, *e2 = NULL;
	const char *base = https;
	r = ping_one(c, https, &e1);
	if (r < 0 && c->insecure && r != -ENOMEM) {
		/* Docker's fallback for insecure registries: plain HTTP after HTTPS failed. */
		log_debug("registry %s: https failed (%s), trying http", c->domain,
			  e1 ? e1->msg : "");
		r = ping_one(c, http, &e2);
		base = http;
	}
	struct berr *e = e2 ? e2 : e1;
	pthread_mutex_lock(&c->lock);
	c->pinged = 1;
	c->ping_r = r;
	if (r < 0) {
		/* Report the https failure for a secure registry, both for an insecure one. */
		if (e1 && e2) {
			if (asprintf(&c->ping_msg, "%s; %s", e1->msg, e2->msg) < 0)
				c->ping_msg = NULL;
		} else
			c->ping_msg = e ? strdup(e->msg) : NULL;
	} else
		c->base_url = strdup(base);
	if (r >= 0 && !c->base_url)
		r = c->ping_r = -ENOMEM;
	msg = c->ping_msg ? strdup(c->ping_msg) : NULL;
	pthread_mutex_unlock(&c->lock);
	berr_free(e1);
	berr_free(e2);
	if (r < 0)
		return berr_set(err, -r, "%s", msg ? msg : "out of memory");
	return 0;
}

int reg_client_ping(struct reg_client *c, struct berr **err)
{
	pthread_mutex_lock(&c->ping_lock);
	int r = ping_locked(c, err);
	pthread_mutex_unlock(&c->ping_lock);
	return r;
}

/* ---- requests with authentication ---- */

/* Make rq (url relative to the base when it starts with '/') with the client's scopes plus
 * extra; on a 401, learn the challenge, fetch a token for the scopes it names too, and try
 * once more. rs is filled for any status (the caller's: resp_clear). */
static int request(struct reg_client *c, struct req *rq, const char *extra_scopes, struct resp *rs,
		   struct berr **err)
{
	int r = reg_client_ping(c, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *url = NULL;
	const char *given = rq->url;
	if (rq->url[0] == '/') {
		if (asprintf(&url, "%s%s", c->base_url, rq->url) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	} else if (!(url = strdup(rq->url)))
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_free_ char *scopes = join_scopes(c->scopes, extra_scopes);
	if (!scopes)
		return berr_set(err, ENOMEM, "out of memory");
	for (int attempt = 0;; attempt++) {
		_cleanup_free_ char *authz = NULL;
		if ((r = authorization(c, url, scopes, &authz, err)) < 0)
			return r;
		rq->authz = authz;
		rq->url = url;
		r = perform(c, rq, rs, err);
		rq->authz = NULL;
		rq->url = given;
		if (r < 0)
			return r;
		/* The response keeps the URL for the caller's messages. */
		if (!(rs->url = strdup(url))) {
			resp_clear(rs);
			return berr_set(err, ENOMEM, "out of memory");
		}
		if (rs->status != 401 || attempt > 0)
			return 0;
		pthread_mutex_lock(&c->lock);
		enum auth_kind before = c->auth;
		_cleanup_free_ char *realm = c->realm ? strdup(c->realm) : NULL;
		_cleanup_free_ char *service = c->service ? strdup(c->service) : NULL;
		pthread_mutex_unlock(&c->lock);
		if (before == AUTH_BEARER && realm)
			reg_token_cache_drop(c->tokens, realm, service, scopes);
		note_challenge(c, rs->wwwauth.data);
		_cleanup_free_ char *more = challenge_scope(rs->wwwauth.data);
		pthread_mutex_lock(&c->lock);
		enum auth_kind now = c->auth;
		pthread_mutex_unlock(&c->lock);
		if (more && !strstr(scopes, more)) {
			char *j = join_scopes(scopes, more);
			if (!j)
				return berr_set(err, ENOMEM, "out of memory");
			free(scopes);
			scopes = j;
		}
		/* Once more with a fresh token, or with the Basic credentials the registry
		 * asks for now; Basic credentials it refused are not sent again. */
		if (!(now == AUTH_BEARER || (now == AUTH_BASIC && before != AUTH_BASIC &&
					     c->cred.username && c->cred.password)))
			return 0;
		resp_clear(rs);
	}
}

/* ---- login ---- */

int reg_client_login(struct reg_client *c, char **ret_identity_token, struct berr **err)
{
	if (ret_identity_token)
		*ret_identity_token = NULL;
	int r = reg_client_ping(c, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	enum auth_kind kind = c->auth;
	_cleanup_free_ char *realm = c->realm ? strdup(c->realm) : NULL;
	_cleanup_free_ char *service = c->service ? strdup(c->service) : NULL;
	pthread_mutex_unlock(&c->lock);
	_cleanup_free_ char *url = NULL;
	if (asprintf(&url, "%s/v2/", c->base_url) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_free_ char *authz = NULL;
	if (kind == AUTH_BEARER && realm) {
		struct reg_token t;
		r = fetch_token(c, realm, service, "", 1, &t, err);
		if (r < 0)
			return r;
		if (asprintf(&authz, "Authorization: Bearer %s", t.token) < 0) {
			reg_token_clear(&t);
			return berr_set(err, ENOMEM, "out of memory");
		}
		if (ret_identity_token && t.refresh_token)
			*ret_identity_token = TAKE_PTR(t.refresh_token);
		reg_token_clear(&t);
	} else if (kind == AUTH_BASIC) {
		if (!c->cred.username || !c->cred.password)
			return berr_set(err, EACCES,
					"login attempt to %s failed with status: 401 Unauthorized",
					url);
		r = authorization(c, url, "", &authz, err);
		if (r < 0)
			return r;
	}
	struct req rq = {.method = "GET",
			 .url = url,
			 .body_fd = -1,
			 .max = ERROR_BODY_MAX,
			 .authz = authz,
			 .follow = 1};
	struct resp rs;
	r = perform(c, &rq, &rs, err);
	if (r >= 0) {
		if (rs.status == 200)
			r = 0;
		else if (rs.status == 401)
			r = berr_set(err, EACCES,
				     "login attempt to %s failed with status: 401 Unauthorized",
				     url);
		else
			r = berr_set(err, status_errno(rs.status),
				     "login attempt to %s failed with status: %ld %s", url,
				     rs.status, status_text(rs.status));
		resp_clear(&rs);
	}
	if (r < 0 && ret_identity_token) {
		free(*ret_identity_token);
		*ret_identity_token = NULL;
	}
	return r;
}

/* ---- manifests ---- */

void reg_manifest_clear(struct reg_manifest *m)
{
	if (!m)
		return;
	free(m->data);
	free(m->media_type);
	memset(m, 0, sizeof(*m));
}

static const char manifest_accept[] = IMGARCHIVE_MT_OCI_MANIFEST
    ", " IMGARCHIVE_MT_OCI_INDEX ", " IMGARCHIVE_MT_DOCKER_MANIFEST ", " IMGARCHIVE_MT_DOCKER_LIST
    ", " REG_MT_SCHEMA1_SIGNED ";q=0.5, " REG_MT_SCHEMA1 ";q=0.5";

static char *media_type_of(const char *content_type)
{
	if (!content_type)
		return NULL;
	size_t n = strcspn(content_type, ";");
	while (n && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t'))
		n--;
	return n ? strndup(content_type, n) : NULL;
}

/* Repository paths and references come from a parsed struct ref; this only makes sure
 * nothing in them changes the URL's structure. */
static int url_safe(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("/._-:", *s))
			return 0;
	return 1;
}

int reg_manifest_get(struct reg_client *c, const char *repo, const char *reference,
		     struct reg_manifest *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	if (!url_safe(repo) || !url_safe(reference))
		return berr_set(err, EINVAL, "invalid repository or reference");
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "/v2/%s/manifests/%s", repo, reference) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	struct req rq = {.method = "GET",
			 .url = path,
			 .accept = manifest_accept,
			 .body_fd = -1,
			 .max = REG_MANIFEST_MAX,
			 .follow = 1};
	struct resp rs;
	int r = request(c, &rq, NULL, &rs, err);
	if (r < 0)
		return r;
	if (rs.status != 200) {
		r = http_error(&rq, &rs, err);
		resp_clear(&rs);
		return r;
	}
	struct digest got;
	digest_buffer(DIGEST_SHA256, rs.body.data ? rs.body.data : "", rs.body.len, &got);
	digest_format(&got, ret->digest);
	if (digest_valid(reference)) {
		struct digest want;
		digest_parse(reference, &want, NULL);
		if (want.alg != DIGEST_SHA256) {
			digest_buffer(want.alg, rs.body.data ? rs.body.data : "", rs.body.len,
				      &got);
			digest_format(&got, ret->digest);
		}
		if (!digest_equal(&got, &want)) {
			resp_clear(&rs);
			return berr_set(err, EBADMSG, "manifest verification failed for digest %s",
					reference);
		}
	} else if (rs.digest && digest_valid(rs.digest) && strncmp(rs.digest, "sha256:", 7) == 0 &&
		   !streq(rs.digest, ret->digest)) {
		r = berr_set(err, EBADMSG,
			     "manifest for %s: content digest %s does not match the registry's %s",
			     reference, ret->digest, rs.digest);
		resp_clear(&rs);
		return r;
	}
	ret->media_type = media_type_of(rs.content_type);
	ret->len = rs.body.len;
	ret->data = rs.body.data ? buf_steal(&rs.body) : strdup("");
	resp_clear(&rs);
	if (!ret->data) {
		reg_manifest_clear(ret);
		return berr_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

int reg_manifest_put(struct reg_client *c, const char *repo, const char *reference,
		     const char *data, size_t len, const char *media_type, char *ret_digest,
		     struct berr **err)
{
	if (!url_safe(repo) || !url_safe(reference))
		return berr_set(err, EINVAL, "invalid repository or reference");
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "/v2/%s/manifests/%s", repo, reference) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	struct digest d;
	char dstr[DIGEST_STR_MAX];
	digest_buffer(DIGEST_SHA256, data, len, &d);
	digest_format(&d, dstr);
	struct req rq = {.method = "PUT",
			 .url = path,
			 .content_type = media_type,
			 .mem = data,
			 .mem_len = len,
			 .has_body = 1,
			 .body_fd = -1,
			 .max = ERROR_BODY_MAX};
	struct resp rs;
	int r = request(c, &rq, NULL, &rs, err);
	if (r < 0)
		return r;
	if (rs.status != 201 && rs.status != 200 && rs.status != 202)
		r = http_error(&rq, &rs, err);
	else if (rs.digest && digest_valid(rs.digest) && strncmp(rs.digest, "sha256:", 7) == 0 &&
		 !streq(rs.digest, dstr))
		r = berr_set(err, EBADMSG, "registry stored the manifest as %s, expected %s",
			     rs.digest, dstr);
	resp_clear(&rs);
	if (r >= 0 && ret_digest)
		snprintf(ret_digest, DIGEST_STR_MAX, "%s", dstr);
	return r;
}

static int doc_is_schema1(json_t *j)
{
	json_t *v = json_object_get(j, "schemaVersion");
	return json_is_integer(v) && json_integer_value(v) == 1;
}

int reg_manifest_kind(const char *media_type, const char *data, size_t len, const char *ref_name,
		      enum reg_manifest_kind *ret, struct berr **err)
{
	const char *name = ref_name ? ref_name : "the image";
	const char *mt = media_type;
	_cleanup_json_ json_t *j = NULL;
	if (!mt || streq(mt, "application/json") || streq(mt, "text/plain") ||
	    streq(mt, "application/octet-stream")) {
		json_error_t je;
		j = len <= REG_MANIFEST_MAX ? json_loadb(data, len, 0, &je) : NULL;
		json_t *m = json_object_get(j, "mediaType");
		if (doc_is_schema1(j))
			mt = REG_MT_SCHEMA1;
		else if (json_is_string(m))
			mt = json_string_value(m);
		else if (json_is_array(json_object_get(j, "manifests")))
			mt = IMGARCHIVE_MT_OCI_INDEX;
		else if (json_is_object(json_object_get(j, "config")))
			mt = IMGARCHIVE_MT_OCI_MANIFEST;
		else
			return berr_set(err, EPROTONOSUPPORT,
					"%s: the registry returned a document that is no manifest",
					name);
	}
	if (streq(mt, REG_MT_SCHEMA1) || streq(mt, REG_MT_SCHEMA1_SIGNED))
		return berr_set(
		    err, EPROTONOSUPPORT,
		    "%s uses image manifest version 2, schema 1 (Docker Image Format v1), which is "
		    "not supported; the image must be pushed again as Docker schema 2 or OCI",
		    name);
	if (imgarchive_is_manifest_type(mt)) {
		*ret = REG_KIND_MANIFEST;
		return 0;
	}
	if (imgarchive_is_index_type(mt)) {
		*ret = REG_KIND_INDEX;
		return 0;
	}
	return berr_set(err, EPROTONOSUPPORT, "%s: unsupported manifest media type \"%.100s\"",
			name, mt);
}

/* ---- blobs ---- */

static int blob_path(const char *repo, const char *digest, char **ret, struct berr **err)
{
	if (!url_safe(repo) || !digest_valid(digest))
		return berr_set(err, EINVAL, "invalid repository or digest");
	if (asprintf(ret, "/v2/%s/blobs/%s", repo, digest) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

int reg_blob_head(struct reg_client *c, const char *repo, const char *digest, int *ret_exists,
		  uint64_t *ret_size, struct berr **err)
{
	_cleanup_free_ char *path = NULL;
	int r = blob_path(repo, digest, &path, err);
	if (r < 0)
		return r;
	struct req rq = {
	    .method = "HEAD", .url = path, .body_fd = -1, .max = ERROR_BODY_MAX, .follow = 1};
	struct resp rs;
	if ((r = request(c, &rq, NULL, &rs, err)) < 0)
		return r;
	*ret_exists = 0;
	if (rs.status == 200) {
		*ret_exists = 1;
		if (ret_size)
			*ret_size = rs.content_length > 0 ? (uint64_t)rs.content_length : 0;
	} else if (rs.status != 404)
		r = http_error(&rq, &rs, err);
	resp_clear(&rs);
	return r;
}

int reg_blob_get(struct reg_client *c, const char *repo, const char *digest, uint64_t offset,
		 reg_sink_fn sink, void *opaque, struct berr **err)
{
	_cleanup_free_ char *path = NULL;
	char range[64];
	int r = blob_path(repo, digest, &path, err);
	if (r < 0)
		return r;
	snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)offset);
	struct req rq = {.method = "GET",
			 .url = path,
			 .body_fd = -1,
			 .max = ERROR_BODY_MAX,
			 .follow = 1,
			 .sink = sink,
			 .sink_opaque = opaque,
			 .range = offset ? range : NULL};
	struct resp rs;
	/* On a 200 (Range ignored) the sink must not see the bytes it has: on_body skips
	 * them, knowing the status before the first body byte arrives. */
	rq.skip = offset;
	r = request(c, &rq, NULL, &rs, err);
	if (r < 0) {
		resp_clear(&rs);
		return r;
	}
	if (rs.status != 200 && rs.status != 206)
		r = http_error(&rq, &rs, err);
	resp_clear(&rs);
	return r;
}

struct mem_sink {
	struct buf b;
	size_t max;
};

static int mem_sink_write(void *opaque, const void *data, size_t len, struct berr **err)
{
	struct mem_sink *m = opaque;
	if (m->b.len + len > m->max)
		return berr_set(err, EFBIG, "blob larger than %zu bytes", m->max);
	if (buf_append(&m->b, data, len) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

int reg_blob_fetch(struct reg_client *c, const char *repo, const char *digest, size_t max,
		   char **ret_data, size_t *ret_len, struct berr **err)
{
	struct mem_sink m = {.b = BUF_INIT, .max = max};
	struct digest want, got;
	int r = digest_parse(digest, &want, err);
	if (r < 0)
		return r;
	r = reg_blob_get(c, repo, digest, 0, mem_sink_write, &m, err);
	if (r < 0) {
		buf_free(&m.b);
		return r;
	}
	digest_buffer(want.alg, m.b.data ? m.b.data : "", m.b.len, &got);
	if (!digest_equal(&want, &got)) {
		buf_free(&m.b);
		return berr_set(err, EBADMSG,
				"blob %s: digest mismatch (content has another digest)", digest);
	}
	*ret_len = m.b.len;
	*ret_data = m.b.data ? buf_steal(&m.b) : strdup("");
	return *ret_data ? 0 : berr_set(err, ENOMEM, "out of memory");
}

/* An upload Location made absolute (registries often send a path). */
static int absolute_location(struct reg_client *c, const char *loc, char **ret, struct berr **err)
{
	if (!loc || !*loc)
		return berr_set(err, EPROTO, "registry sent no upload location");
	if (strncmp(loc, "http://", 7) == 0 || strncmp(loc, "https://", 8) == 0)
		*ret = strdup(loc);
	else if (loc[0] == '/') {
		if (asprintf(ret, "%s%s", c->base_url, loc) < 0)
			*ret = NULL;
	} else
		return berr_set(err, EPROTO, "registry sent an unusable upload location");
	for (const char *p = *ret ? *ret : ""; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			free(*ret);
			return berr_set(err, EPROTO, "registry sent an unusable upload location");
		}
	return *ret ? 0 : berr_set(err, ENOMEM, "out of memory");
}

static int push_scopes(const char *repo, char **ret)
{
	*ret = reg_scope_repo(repo, "pull,push");
	return *ret ? 0 : -ENOMEM;
}

int reg_blob_mount(struct reg_client *c, const char *repo, const char *digest, const char *from,
		   int *ret_mounted, char **ret_location, struct berr **err)
{
	*ret_mounted = 0;
	*ret_location = NULL;
	if (!url_safe(repo) || !url_safe(from) || !digest_valid(digest))
		return berr_set(err, EINVAL, "invalid repository or digest");
	_cleanup_free_ char *path = NULL, *scopes = NULL,
			    *from_scope = reg_scope_repo(from, "pull");
	if (!from_scope || push_scopes(repo, &scopes) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_free_ char *extra = join_scopes(scopes, from_scope);
	if (!extra ||
	    asprintf(&path, "/v2/%s/blobs/uploads/?mount=%s&from=%s", repo, digest, from) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	struct req rq = {.method = "POST", .url = path, .body_fd = -1, .max = ERROR_BODY_MAX};
	struct resp rs;
	int r = request(c, &rq, extra, &rs, err);
	if (r < 0)
		return r;
	if (rs.status == 201)
		*ret_mounted = 1;
	else if (rs.status == 202)
		r = absolute_location(c, rs.location, ret_location, err);
	else
		r = http_error(&rq, &rs, err);
	resp_clear(&rs);
	return r;
}

/* location with "digest=<d>" added to its query. */
static char *with_digest(const char *location, const char *digest)
{
	char *s;
	if (asprintf(&s, "%s%cdigest=%s", location, strchr(location, '?') ? '&' : '?', digest) < 0)
		return NULL;
	return s;
}

int reg_blob_upload(struct reg_client *c, const char *repo, const char *digest, int fd,
		    uint64_t size, const char *location, uint64_t chunk,
		    reg_upload_progress_fn progress, void *opaque, struct berr **err)
{
	if (!url_safe(repo) || !digest_valid(digest))
		return berr_set(err, EINVAL, "invalid repository or digest");
	_cleanup_free_ char *loc = NULL;
	int r;
	struct resp rs;
	uint64_t min_chunk = 0;
	if (location) {
		loc = strdup(location);
		if (!loc)
			return berr_set(err, ENOMEM, "out of memory");
	} else {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "/v2/%s/blobs/uploads/", repo) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		struct req rq = {
		    .method = "POST", .url = path, .body_fd = -1, .max = ERROR_BODY_MAX};
		if ((r = request(c, &rq, NULL, &rs, err)) < 0)
			return r;
		if (rs.status != 202)
			r = http_error(&rq, &rs, err);
		else
			r = absolute_location(c, rs.location, &loc, err);
		if (rs.chunk_min)
			min_chunk = strtoull(rs.chunk_min, NULL, 10);
		resp_clear(&rs);
		if (r < 0)
			return r;
	}
	if (!chunk)
		chunk = REG_CHUNK_DEFAULT;
	if (chunk < min_chunk)
		chunk = min_chunk;
	uint64_t off = 0;
	if (size > chunk) {
		/* Chunked: PATCH each piece with its Content-Range; the registry answers 202 with
		 * the location for the next. */
		while (off < size) {
			uint64_t n = size - off < chunk ? size - off : chunk;
			char cr[64];
			snprintf(cr, sizeof(cr), "%llu-%llu", (unsigned long long)off,
				 (unsigned long long)(off + n - 1));
			struct req rq = {.method = "PATCH",
					 .url = loc,
					 .content_type = "application/octet-stream",
					 .content_range = cr,
					 .body_fd = fd,
					 .body_off = off,
					 .body_len = n,
					 .has_body = 1,
					 .max = ERROR_BODY_MAX};
			if ((r = request(c, &rq, NULL, &rs, err)) < 0)
				return r;
			if (rs.status != 202 && rs.status != 204)
				r = http_error(&rq, &rs, err);
			else {
				char *next = NULL;
				r = absolute_location(c, rs.location, &next, err);
				if (r >= 0) {
					free(loc);
					loc = next;
				}
			}
			resp_clear(&rs);
			if (r < 0)
				return r;
			off += n;
			if (progress)
				progress(opaque, off);
		}
	}
	_cleanup_free_ char *put = with_digest(loc, digest);
	if (!put)
		return berr_set(err, ENOMEM, "out of memory");
	struct req rq = {.method = "PUT",
			 .url = put,
			 .content_type = "application/octet-stream",
			 .body_fd = fd,
			 .body_off = off,
			 .body_len = size - off,
			 .has_body = size - off > 0,
			 .max = ERROR_BODY_MAX,
			 .progress = off == 0 ? progress : NULL,
			 .progress_opaque = opaque};
	if ((r = request(c, &rq, NULL, &rs, err)) < 0)
		return r;
	if (rs.status != 201)
		r = http_error(&rq, &rs, err);
	else if (rs.digest && digest_valid(rs.digest) && !streq(rs.digest, digest))
		r = berr_set(err, EBADMSG, "registry stored blob %s as %s", digest, rs.digest);
	resp_clear(&rs);
	if (r >= 0 && progress)
		progress(opaque, size);
	return r;
}

int reg_blob_upload_stream(struct reg_client *c, const char *repo, reg_source_fn source,
			   void *opaque, reg_upload_progress_fn progress, void *popaque,
			   char **ret_location, struct berr **err)
{
	*ret_location = NULL;
	if (!url_safe(repo))
		return berr_set(err, EINVAL, "invalid repository");
	_cleanup_free_ char *path = NULL, *loc = NULL;
	if (asprintf(&path, "/v2/%s/blobs/uploads/", repo) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	struct resp rs;
	struct req post = {.method = "POST", .url = path, .body_fd = -1, .max = ERROR_BODY_MAX};
	int r = request(c, &post, NULL, &rs, err);
	if (r < 0)
		return r;
	r = rs.status != 202 ? http_error(&post, &rs, err)
			     : absolute_location(c, rs.location, &loc, err);
	resp_clear(&rs);
	if (r < 0)
		return r;
	/* One PATCH without Content-Range: the body is appended as it comes (Docker's way). */
	struct req patch = {.method = "PATCH",
			    .url = loc,
			    .content_type = "application/octet-stream",
			    .body_fd = -1,
			    .has_body = 1,
			    .source = source,
			    .source_opaque = opaque,
			    .max = ERROR_BODY_MAX,
			    .progress = progress,
			    .progress_opaque = popaque};
	if ((r = request(c, &patch, NULL, &rs, err)) < 0)
		return r;
	char *next = NULL;
	r = rs.status != 202 && rs.status != 204 ? http_error(&patch, &rs, err)
						   : absolute_location(c, rs.location, &next, err);
	resp_clear(&rs);
	if (r < 0)
		return r;
	*ret_location = next;
	return 0;
}

/* ---- tags ---- */

/* The next page from a Link header: <url>; rel="next". */
static char *next_link(const char *link)
{
	if (!link)
		return NULL;
	const char *lt = strchr(link, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (!lt || !gt || !strstr(gt, "rel=\"next\""))
		return NULL;
	return strndup(lt + 1, (size_t)(gt - lt - 1));
}

int reg_tags_list(struct reg_client *c, const char *repo, struct strv *ret, struct berr **err)
{
	if (!url_safe(repo))
		return berr_set(err, EINVAL, "invalid repository");
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "/v2/%s/tags/list", repo) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	struct strv out = STRV_INIT;
	int r = 0;
	for (int page = 0; path && page < TAGS_PAGES_MAX; page++) {
		struct req rq = {
		    .method = "GET", .url = path, .body_fd = -1, .max = TAGS_BODY_MAX, .follow = 1};
		struct resp rs;
		if ((r = request(c, &rq, NULL, &rs, err)) < 0)
			break;
		if (rs.status != 200) {
			r = http_error(&rq, &rs, err);
			resp_clear(&rs);
			break;
		}
		json_error_t je;
		_cleanup_json_ json_t *j =
		    json_loadb(rs.body.data ? rs.body.data : "", rs.body.len, 0, &je);
		json_t *tags = json_object_get(j, "tags");
		if (!json_is_object(j) || (tags && !json_is_array(tags) && !json_is_null(tags))) {
			r = berr_set(err, EPROTO, "tags list of %s: not a {\"tags\": [...]} object",
				     repo);
			resp_clear(&rs);
			break;
		}
		size_t i;
		json_t *t;
		json_array_foreach(tags, i, t)
		{
			_cleanup_ref_ struct ref chk = {0};
			_cleanup_free_ char *full = NULL;
			const char *s = json_string_value(t);
			if (!s || strlen(s) > 128 || asprintf(&full, "x:%s", s) < 0 ||
			    ref_parse(full, 0, &chk, NULL) < 0 || !chk.tag || !streq(chk.tag, s)) {
				r = berr_set(err, EPROTO, "tags list of %s: invalid tag", repo);
				break;
			}
			if (!strv_contains(&out, s) && strv_push(&out, s) < 0) {
				r = berr_set(err, ENOMEM, "out of memory");
				break;
			}
		}
		_cleanup_free_ char *next = r >= 0 ? next_link(rs.link) : NULL;
		resp_clear(&rs);
		if (r < 0)
			break;
		free(path);
		path = NULL;
		if (next) {
			/* Only follow pages on the same registry. */
			if (next[0] == '/')
				path = TAKE_PTR(next);
			else if (strncmp(next, c->base_url, strlen(c->base_url)) == 0 &&
				 next[strlen(c->base_url)] == '/')
				path = strdup(next + strlen(c->base_url));
		}
	}
	if (r < 0) {
		strv_free(&out);
		return r;
	}
	*ret = out;
	return 0;
}
