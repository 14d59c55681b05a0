/* `berth registry serve`: an OCI distribution (v1.1) server over libmicrohttpd, on the
 * storage of regstore.h, with the authentication of auth.h.
 *
 * Threads: libmicrohttpd's internal poll(2) thread pool; a request is handled on the thread
 * that owns its connection, disk I/O included. The caller's thread, in regsrv_serve(),
 * closes the connections that are too slow with a request. Blobs are sent from their file
 * descriptor (sendfile without TLS); uploads are written as they arrive with the hash kept
 * running.
 * The server never prints: each finished request is passed to the config's log callback. */
#ifndef BERTH_REGISTRY_SERVER_H
#define BERTH_REGISTRY_SERVER_H

#include <jansson.h>
#include <signal.h>
#include <stdint.h>

#include "auth.h"
#include "err.h"

/* One finished request, for the access log. Strings are only valid during the callback. */
struct regsrv_log_entry {
	const char *client; /* "127.0.0.1", "::1" */
	const char *user;   /* NULL for anonymous */
	const char *method;
	const char *path;  /* as decoded by the HTTP layer, without the query */
	unsigned status;   /* 0 when the connection ended before a response */
	uint64_t bytes;	   /* response body size */
	uint64_t received; /* request body bytes */
	double ms;
};

struct regsrv_config {
	const char *addr;     /* "127.0.0.1:5000", ":5000" (all IPv4 and IPv6), "[::1]:5000" */
	const char *root;     /* the registry root (regstore.h) */
	const char *htpasswd; /* bcrypt htpasswd file; NULL: no passwords */
	/* Basic auth: the realm. Token auth: the URL of the token endpoint to announce
	 * (default: <scheme>://<the request's Host>/token). */
	const char *realm;
	const char *tls_cert, *tls_key; /* PEM files; both or neither */
	int read_only;			/* refuse every write with 405 UNSUPPORTED */
	int delete_enabled;		/* allow DELETE of manifests, tags and blobs */
	/* Token auth: when set, API requests need a Bearer token from the built-in issuer
	 * (/token), which authenticates with htpasswd and grants what the access rules allow. */
	const char *token_issuer;
	const char *token_service; /* the "service" of challenges and tokens */
	enum regsrv_token_alg token_alg;
	long token_expiry; /* seconds */
	json_t *access;	   /* access rules (auth.h), NULL for the defaults; borrowed */
	unsigned threads;  /* 0: four per CPU */
	/* Connections served at once; more get 503 and are closed. 0: as many as the
	 * open-file limit allows (two descriptors each), at most 10000. Clamped to that. */
	unsigned max_connections;
	/* Seconds a client may take to send a request's headers once its request line came,
	 * and seconds a connection may stay silent (idle between requests, or stalled in a
	 * request's body) before it is closed. 0: the defaults, 30 and 120. */
	unsigned header_timeout, idle_timeout;
	/* The debug listener (GET /metrics, GET /debug/health), NULL for none. */
	const char *debug_addr;
	void (*log)(void *cls, const struct regsrv_log_entry *e); /* may be NULL */
	void *log_cls;
};

/* Defaults: addr ":5000", realm "berth-registry", service "berth-registry", HS256, 300 s,
 * no debug listener. */
void regsrv_config_init(struct regsrv_config *cfg);

/* Fill cfg from a JSON object (berth's config "registry" object, or the file of
 * `serve --config`): "addr", "root", "htpasswd", "realm", "read-only", "delete",
 * "threads", "tls": {"cert", "key"}, "token": {"issuer", "service", "alg", "expiry"},
 * "access": [rules], "limits": {"connections", "header-timeout", "idle-timeout"},
 * "debug": {"addr"}. Only keys present change cfg; strings point into obj, which must
 * outlive cfg. Unknown keys and wrong types are -EINVAL with *err naming them. */
int regsrv_config_apply_json(struct regsrv_config *cfg, json_t *obj, struct berr **err);

struct regsrv;

/* Open the store, load htpasswd, rules, token key and TLS files, and start listening.
 * cfg (and its strings and JSON) must outlive the server. */
int regsrv_start(const struct regsrv_config *cfg, struct regsrv **ret, struct berr **err);
/* The port the server listens on (the bound one when cfg->addr asked for port 0). */
unsigned regsrv_port(const struct regsrv *s);
/* The port of the debug listener, 0 when there is none. */
unsigned regsrv_debug_port(const struct regsrv *s);
/* The connection limit in force (cfg->max_connections, or its default, clamped). */
unsigned regsrv_connection_limit(const struct regsrv *s);
/* Serve until one of the signals in stop arrives (blocked in every thread, before
 * regsrv_start, so that only this call takes them) and return its number. The calling
 * thread enforces the header and idle timeouts meanwhile, waking at the next deadline:
 * while nothing waits here, slow connections stay open. */
int regsrv_serve(struct regsrv *s, const sigset_t *stop);
/* Graceful stop: stop accepting connections, let requests in flight finish (at most
 * timeout_ms), then close everything and free s. */
void regsrv_stop(struct regsrv *s, int timeout_ms);

#endif
