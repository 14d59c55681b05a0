/* The distribution API, client side, over libcurl: one struct reg_client per registry host.
 *
 * Endpoints and transport (Docker's rules):
 *  - "docker.io" is served by registry-1.docker.io; every other domain by itself;
 *  - HTTPS first. A registry is *insecure* when its "host[:port]" or "host" is listed in the
 *    config's "insecure-registries", when one of its addresses is inside a CIDR listed there,
 *    or when it is a loopback address (localhost, 127.0.0.0/8, ::1) as Docker's default
 *    127.0.0.0/8 entry makes it. For an insecure registry the certificate is not verified
 *    and plain HTTP is tried when HTTPS fails. tls_verify = 1 forces verified HTTPS only,
 *    tls_verify = 0 makes any registry insecure;
 *  - TLS material from <certs.d>/<host[:port]>/ (certs.d = $BERTH_CERTS_D, else
 *    /etc/docker/certs.d): *.crt are extra CA roots (added to the system's), X.cert + X.key a
 *    client certificate;
 *  - proxies from the environment (curl's http_proxy, https_proxy, no_proxy), never for
 *    loopback hosts (as Go's ProxyFromEnvironment); HTTP/1.1 keep-alive, connections and
 *    TLS sessions shared by the threads of one client.
 *
 * Authentication: the first request pings GET /v2/ and keeps the challenge. Bearer: a token
 * is fetched from the realm for the request's scopes (credentials as Basic auth, or an
 * identity token as an OAuth2 refresh grant), cached until it expires, and fetched again on a
 * 401 that names another scope. Basic: the credentials go with every request. The
 * Authorization header is only sent to the registry's own scheme and host (a redirect to a
 * blob store does not get it).
 *
 * Threads: after reg_client_new() and a first request (or reg_client_ping()) from one
 * thread, every function here may be called from several threads at once.
 *
 * Errors: -errno with *err set. HTTP statuses map to 401 -EACCES, 403 -EPERM, 404 -ENOENT,
 * 429 and 5xx -EAGAIN, others -EPROTO; transport failures to -ECONNREFUSED, -ETIMEDOUT,
 * -EHOSTUNREACH, -ECONNRESET (all retryable: reg_error_retryable()). Messages look like
 * Docker's: `Get "http://h/v2/x/manifests/1": manifest unknown: manifest unknown`.
 */
#ifndef BERTH_REGISTRY_CLIENT_H
#define BERTH_REGISTRY_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "credentials.h"
#include "digest.h"
#include "err.h"
#include "strv.h"

#define REG_DOCKER_HUB_DOMAIN "docker.io"
#define REG_DOCKER_HUB_HOST "registry-1.docker.io"
#define REG_CERTS_D_DEFAULT "/etc/docker/certs.d"

/* Manifests bigger than this are refused (Docker's limit is 4 MiB too). */
#define REG_MANIFEST_MAX ((size_t)4 << 20)

#define REG_MT_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define REG_MT_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

struct reg_client_opts {
	json_t *config;	       /* berth's config, for insecure-registries; borrowed, may be NULL */
	int tls_verify;	       /* -1: the rules above; 0: never verify, HTTP allowed; 1: verify */
	const char *certs_dir; /* NULL: $BERTH_CERTS_D, else REG_CERTS_D_DEFAULT */
	const struct reg_cred *cred; /* NULL: none (see reg_client_load_cred) ; copied */
	const char *user_agent;	     /* NULL: "berth" */
};

struct reg_client;

/* A client for domain (as in struct ref: "docker.io", "localhost:5000", "[::1]:5000").
 * Nothing is sent yet. Owned by the caller: reg_client_free(). -EINVAL for a domain that
 * is no host[:port]; -ENOMEM. */
int reg_client_new(const char *domain, const struct reg_client_opts *o, struct reg_client **ret,
		   struct berr **err);
void reg_client_free(struct reg_client *c);
static inline void reg_client_freep(struct reg_client **c)
{
	if (*c)
		reg_client_free(*c);
}
#define _cleanup_reg_client_ __attribute__((cleanup(reg_client_freep)))

/* Look up the credentials for the client's domain in the docker config at config_path
 * (credentials.h) and use them. No credentials is not an error. */
int reg_client_load_cred(struct reg_client *c, const char *config_path, struct berr **err);

/* The domain and the host requests go to ("registry-1.docker.io" for "docker.io").
 * Borrowed from c. */
const char *reg_client_domain(const struct reg_client *c);
const char *reg_client_host(const struct reg_client *c);
/* 1 when the rules above make the registry insecure. */
int reg_client_insecure(const struct reg_client *c);

/* Scopes added to every request's token ("repository:x:pull,push"), space-separated; copied.
 * Set it before the threads start. NULL clears. 0 or -ENOMEM. */
int reg_client_set_scopes(struct reg_client *c, const char *scopes);

/* GET /v2/ on each endpoint in turn (https, then http when insecure) until one answers,
 * and keep its challenge. Done once; later calls return the first result. */
int reg_client_ping(struct reg_client *c, struct berr **err);
/* "https://host:port" or "http://host:port" after a successful ping, else NULL. */
const char *reg_client_base_url(const struct reg_client *c);

/* Check the client's credentials as `docker login` does: GET /v2/ must answer 200 with
 * them, following the token flow when the registry asks for one (no scope, offline_token
 * requested). -EACCES with Docker's wording when they are refused. *ret_identity_token (may
 * be NULL) receives the refresh token a token server hands out, or NULL. */
int reg_client_login(struct reg_client *c, char **ret_identity_token, struct berr **err);

/* 1 for errors worth retrying (connection failures, 429, 5xx), 0 otherwise. r is the
 * negative errno. */
int reg_error_retryable(int r);

/* ---- manifests ---- */

struct reg_manifest {
	char *data; /* the exact bytes, NUL-terminated */
	size_t len;
	char
	    *media_type; /* from Content-Type (parameters dropped), else the document's mediaType */
	char digest[DIGEST_STR_MAX]; /* sha256 of data */
};
void reg_manifest_clear(struct reg_manifest *m);

/* GET a manifest by tag or digest, accepting OCI and Docker schema 2 manifests and indexes
 * (and schema 1, so that reg_manifest_kind() can refuse it by name). Fetched by digest, the
 * bytes must hash to it (-EBADMSG); by tag, they must match a Docker-Content-Digest header
 * when the registry sends one. -ENOENT for an unknown manifest. */
int reg_manifest_get(struct reg_client *c, const char *repo, const char *reference,
		     struct reg_manifest *ret, struct berr **err);

/* PUT a manifest under reference (a tag, or its digest). ret_digest (DIGEST_STR_MAX, may be
 * NULL) receives the digest of data; a registry answering with another
 * Docker-Content-Digest is an error (-EBADMSG). */
int reg_manifest_put(struct reg_client *c, const char *repo, const char *reference,
		     const char *data, size_t len, const char *media_type, char *ret_digest,
		     struct berr **err);

enum reg_manifest_kind {
	REG_KIND_MANIFEST = 0, /* OCI image manifest or Docker schema 2 */
	REG_KIND_INDEX,	       /* OCI image index or Docker manifest list */
};

/* What a fetched manifest is, from its media type (Content-Type) or, when that is absent or
 * generic ("application/json", "text/plain"), from the document itself. Schema 1 and
 * unknown types are -EPROTONOSUPPORT with a message naming them; schema 1 names ref_name. */
int reg_manifest_kind(const char *media_type, const char *data, size_t len, const char *ref_name,
		      enum reg_manifest_kind *ret, struct berr **err);

/* ---- blobs ---- */

/* Receives downloaded bytes in order; a negative return (with *err set) stops the transfer
 * with that error. */
typedef int (*reg_sink_fn)(void *opaque, const void *data, size_t len, struct berr **err);
/* Upload progress: bytes of the body sent so far. */
typedef void (*reg_upload_progress_fn)(void *opaque, uint64_t sent);

/* HEAD a blob: *ret_exists 1 (and *ret_size, may be NULL, its Content-Length) or 0. */
int reg_blob_head(struct reg_client *c, const char *repo, const char *digest, int *ret_exists,
		  uint64_t *ret_size, struct berr **err);

/* GET a blob from byte offset on, into sink. With offset > 0 a Range request is made; a
 * registry that ignores it (200) has its first offset bytes skipped, so the sink sees the
 * bytes from offset on either way. Nothing is verified here: the caller hashes. */
int reg_blob_get(struct reg_client *c, const char *repo, const char *digest, uint64_t offset,
		 reg_sink_fn sink, void *opaque, struct berr **err);

/* GET a small blob (a config) of at most max bytes into a fresh buffer (the caller's),
 * checked against digest (-EBADMSG). */
int reg_blob_fetch(struct reg_client *c, const char *repo, const char *digest, size_t max,
		   char **ret_data, size_t *ret_len, struct berr **err);

/* Ask for a cross-repository mount of digest from repository from (this adds the scope
 * "repository:<from>:pull"). *ret_mounted is 1 when the registry mounted it (201); else 0
 * and *ret_location is the upload session the registry opened instead (the caller's, to be
 * passed to reg_blob_upload), or NULL. */
int reg_blob_mount(struct reg_client *c, const char *repo, const char *digest, const char *from,
		   int *ret_mounted, char **ret_location, struct berr **err);

/* Upload size bytes of fd (from offset 0, read with pread) as blob digest. location: an
 * upload session from reg_blob_mount(), or NULL to open one (POST). Blobs up to chunk bytes
 * go in one PUT; bigger ones as PATCH requests of chunk bytes (at least the registry's
 * OCI-Chunk-Min-Length) and a closing PUT. chunk 0 means REG_CHUNK_DEFAULT. */
#define REG_CHUNK_DEFAULT ((uint64_t)128 << 20)
int reg_blob_upload(struct reg_client *c, const char *repo, const char *digest, int fd,
		    uint64_t size, const char *location, uint64_t chunk,
		    reg_upload_progress_fn progress, void *opaque, struct berr **err);

/* Fills buf with up to len bytes of a body made as it is sent: the count, 0 at its end, or
 * -errno with *err set (the upload stops with that error). */
typedef ssize_t (*reg_source_fn)(void *opaque, void *buf, size_t len, struct berr **err);
/* The first part of an upload whose bytes are made while they go (push compresses layers
 * this way, so the digest is known only at the end): POST, then one PATCH of all the bytes
 * source makes (chunked transfer encoding, no Content-Range). *ret_location (the caller's)
 * is where the upload continues: reg_blob_upload(c, repo, digest, -1, 0, location, ...)
 * closes it with the digest. The body cannot be sent twice: a registry that asks for
 * credentials again on the PATCH gets an error, for the caller to start over. */
int reg_blob_upload_stream(struct reg_client *c, const char *repo, reg_source_fn source,
			   void *opaque, reg_upload_progress_fn progress, void *popaque,
			   char **ret_location, struct berr **err);

/* ---- tags ---- */

/* All tags of repo (GET /v2/<repo>/tags/list, following Link pages), in the registry's
 * order. Each must be a valid tag (else -EPROTO). ret is the caller's. */
int reg_tags_list(struct reg_client *c, const char *repo, struct strv *ret, struct berr **err);

#endif
