/* Who may do what on the registry server:
 *
 * - htpasswd files of bcrypt entries ("user:$2y$..."), as `htpasswd -B` writes them and as
 *   distribution reads them, for HTTP Basic authentication and for the token issuer;
 * - access rules per repository (glob patterns, users, actions) from the config;
 * - Docker's token authentication: scopes ("repository:name:pull,push"), and JWTs that the
 *   server's /token endpoint issues and its API endpoints verify, signed HS256 or ES256
 *   with a key the server generates once into its root.
 *
 * Everything read from a request (headers, tokens) is untrusted: every parser checks
 * lengths and JSON types and answers "no" to what it does not understand. */
#ifndef BERTH_REGISTRY_AUTH_H
#define BERTH_REGISTRY_AUTH_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "err.h"
#include "route.h"

/* Actions on a repository, as Docker's token scopes name them. */
#define REGSRV_ACT_PULL 1u
#define REGSRV_ACT_PUSH 2u
#define REGSRV_ACT_DELETE 4u
#define REGSRV_ACT_ALL (REGSRV_ACT_PULL | REGSRV_ACT_PUSH | REGSRV_ACT_DELETE)

/* "pull,push" (or "*", meaning all) to action bits; unknown words are ignored. */
unsigned regsrv_actions_parse(const char *s, size_t len);
/* Action bits to "pull,push,delete" order into buf; "" for none. */
void regsrv_actions_format(unsigned actions, char *buf, size_t size);

struct regsrv_scope {
	char type[32];			/* "repository" or "registry" */
	char name[REGSRV_NAME_MAX + 1]; /* a repository name, or "catalog" for type registry */
	unsigned actions;
};

/* One scope: "<type>[(<class>)]:<name>:<actions>"; the name is what lies between the first
 * and the last ':'. 0, or -EINVAL when malformed, the type is not "repository" or
 * "registry", or a repository name is invalid. */
int regsrv_scope_parse(const char *s, struct regsrv_scope *ret);

/* The user and password of an "Authorization: Basic ..." header value, newly allocated.
 * 0 or -EINVAL. */
int regsrv_basic_decode(const char *header, char **ret_user, char **ret_password);

/* ---- htpasswd ---- */

struct regsrv_htpasswd;

/* Load an htpasswd file. Only bcrypt entries ($2a$, $2b$, $2y$) are accepted, as in
 * distribution; any other line that is not blank or a comment is an error naming the line. */
int regsrv_htpasswd_load(const char *path, struct regsrv_htpasswd **ret, struct berr **err);
/* 1 when user and password match an entry, else 0. bcrypt costs tens of milliseconds and
 * Docker sends Basic credentials with every request, so a success is remembered for a few
 * minutes, keyed by an HMAC (with a per-process random key) of user and password: the
 * password is never kept. Safe from several threads. */
int regsrv_htpasswd_check(struct regsrv_htpasswd *h, const char *user, const char *password);
/* 1 when the file has user, else 0. */
int regsrv_htpasswd_has_user(const struct regsrv_htpasswd *h, const char *user);
void regsrv_htpasswd_free(struct regsrv_htpasswd *h);

/* ---- access rules ----
 * The config's "access" array; each rule:
 *   {"repository": "public-*", "users": ["alice", "*", "anonymous"],
 *    "actions": ["pull", "push", "delete", "catalog"]}
 * "repository" is an fnmatch(3) pattern where '*' also matches '/'. In "users", "*" is any
 * authenticated user and "anonymous" a client without credentials. A user gets the union of
 * the actions of the rules that match. "catalog" (the repository is then not looked at)
 * allows listing /v2/_catalog.
 * Without rules: when authentication is on, authenticated users may do everything and
 * anonymous clients nothing; when it is off, everyone may do everything. */
struct regsrv_acl;

int regsrv_acl_new(json_t *rules, int auth_enabled, struct regsrv_acl **ret, struct berr **err);
/* The actions user (NULL: anonymous) may take on repository repo. */
unsigned regsrv_acl_allowed(const struct regsrv_acl *a, const char *user, const char *repo);
/* 1 when user may list the catalog. */
int regsrv_acl_catalog(const struct regsrv_acl *a, const char *user);
void regsrv_acl_free(struct regsrv_acl *a);

/* ---- tokens ---- */

enum regsrv_token_alg { REGSRV_TOKEN_HS256 = 0, REGSRV_TOKEN_ES256 };

/* "HS256" or "ES256" (case-insensitive). 0 or -EINVAL. */
int regsrv_token_alg_parse(const char *s, enum regsrv_token_alg *ret);

struct regsrv_token_key;

/* Load the signing key of alg from dirfd ("token-hs256.key": 32 random bytes,
 * "token-es256.pem": a P-256 private key, PKCS#8 PEM), generating it (mode 0600) when it
 * does not exist yet. */
int regsrv_token_key_load(int dirfd, enum regsrv_token_alg alg, struct regsrv_token_key **ret,
			  struct berr **err);
void regsrv_token_key_free(struct regsrv_token_key *k);
/* ES256 only: the key id that distribution's token auth expects in "kid" (libtrust's
 * format: base32 of the SHA-256 of the public key, in groups of four); "" for HS256. */
const char *regsrv_token_key_id(const struct regsrv_token_key *k);

/* One access grant of a token: Docker's {"type", "name", "actions"}. */
struct regsrv_access {
	char type[32];
	char name[REGSRV_NAME_MAX + 1];
	unsigned actions;
};

/* Sign a token (compact JWS) for subject ("" for anonymous) with the grants, valid from now
 * for expiry seconds. *ret is newly allocated. */
int regsrv_token_sign(const struct regsrv_token_key *k, const char *issuer, const char *service,
		      const char *subject, const struct regsrv_access *access, size_t n, time_t now,
		      long expiry, char **ret, struct berr **err);

struct regsrv_token_claims {
	char *subject; /* "" for anonymous */
	struct regsrv_access *access;
	size_t n;
	time_t expires;
};

/* Verify a token made by regsrv_token_sign with the same key: the algorithm must be the key's,
 * the signature, issuer and audience (service) must match, and now must lie within
 * [nbf - 60 s, exp). 0 with *ret filled (free with regsrv_token_claims_free), or -EACCES
 * with *err saying what was wrong. */
int regsrv_token_verify(const struct regsrv_token_key *k, const char *token, const char *issuer,
			const char *service, time_t now, struct regsrv_token_claims *ret,
			struct berr **err);
void regsrv_token_claims_free(struct regsrv_token_claims *c);
/* The actions the claims grant on type/name. */
unsigned regsrv_token_claims_allowed(const struct regsrv_token_claims *c, const char *type,
				     const char *name);

/* base64url without padding (JWS). *ret newly allocated; NULL on ENOMEM. */
char *regsrv_b64url_encode(const void *data, size_t len);
/* Decode base64url (padding optional); 0 or -EINVAL. *ret newly allocated, NUL-terminated. */
int regsrv_b64url_decode(const char *s, size_t len, unsigned char **ret, size_t *ret_len);

#endif
