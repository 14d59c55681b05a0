/* Registry authentication, the client side: what a registry's 401 asks for and the tokens that
 * answer it.
 *
 *  - WWW-Authenticate parsing (RFC 7235 section 4.1: one or more challenges, each a scheme
 *    with a token68 or comma-separated auth-params whose values are tokens or quoted strings;
 *    several header lines are joined with ", " before parsing);
 *  - the token server's answer (the distribution "token" spec: {"token" | "access_token",
 *    "expires_in", "refresh_token"});
 *  - a token cache: one entry per (realm, service, scope set), reused until it expires.
 *
 * The HTTP requests themselves are made by client.c, which owns the transport settings; this
 * file never does I/O, so every function here can be fed fuzzed input.
 * All functions return 0 or -errno with *err set (err may be NULL); none prints.
 */
#ifndef BERTH_REGISTRY_AUTH_CLIENT_H
#define BERTH_REGISTRY_AUTH_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "err.h"
#include "strv.h"

/* Longest WWW-Authenticate text and the most challenges/params parsed: real ones are a few
 * hundred bytes; the limits keep a hostile server from making us allocate without bound. */
#define REG_WWWAUTH_MAX 16384
#define REG_WWWAUTH_MAX_ITEMS 64

struct reg_challenge {
	char *scheme;	    /* lowercased: "bearer", "basic", ... */
	char *token68;	    /* the token68 form ("Negotiate abc=="), or NULL */
	struct strv params; /* flattened pairs: v[2i] lowercased name, v[2i+1] unquoted value */
};

/* Parse a WWW-Authenticate value. *ret (an array of *ret_n challenges, in header order) is the
 * caller's: reg_challenges_free(). -EINVAL with a message for anything that is not the
 * grammar (empty value, unterminated quoted string, control characters, "=" without a name,
 * too long or too many items). A repeated parameter keeps its first value. */
int reg_wwwauth_parse(const char *value, struct reg_challenge **ret, size_t *ret_n,
		      struct berr **err);
void reg_challenges_free(struct reg_challenge *c, size_t n);
/* The value of parameter name (lowercase) of c, or NULL. Borrowed from c. */
const char *reg_challenge_param(const struct reg_challenge *c, const char *name);
/* The first challenge of scheme (lowercase) in the array, or NULL. */
const struct reg_challenge *reg_challenge_find(const struct reg_challenge *c, size_t n,
					       const char *scheme);

/* A token server's answer. */
struct reg_token {
	char *token;	     /* owned; only visible ASCII (it goes into a header) */
	char *refresh_token; /* owned, or NULL: an identity token for `login` to keep */
	int64_t expires_in;  /* seconds, at least 60 (the spec's default and minimum) */
};

/* Parse the JSON body of a token response (at most 1 MiB). "token" wins over
 * "access_token" when both are there. -EINVAL: not an object, no token, a token or refresh
 * token that is not a string of visible ASCII, expires_in not a number. */
int reg_token_parse(const char *body, size_t len, struct reg_token *ret, struct berr **err);
void reg_token_clear(struct reg_token *t);

/* Scope strings ("repository:library/nginx:pull") for a repository and a set of actions
 * ("pull", "pull,push"). Owned by the caller; NULL on ENOMEM. */
char *reg_scope_repo(const char *repo, const char *actions);

/* ---- the token cache ---- */

/* Thread-safe: the transfer threads share one. */
struct reg_token_cache;
struct reg_token_cache *reg_token_cache_new(void); /* NULL on ENOMEM */
void reg_token_cache_free(struct reg_token_cache *tc);
/* A copy (the caller's) of an unexpired token for realm+service+scopes, or NULL. scopes is a
 * space-separated list; its order does not matter. now is CLOCK_MONOTONIC seconds. A token
 * is considered expired 10 s before its end, so a request does not race the expiry. */
char *reg_token_cache_get(struct reg_token_cache *tc, const char *realm, const char *service,
			  const char *scopes, int64_t now);
/* Remember a token (copied) until now + expires_in. 0 or -ENOMEM. */
int reg_token_cache_put(struct reg_token_cache *tc, const char *realm, const char *service,
			const char *scopes, const char *token, int64_t expires_in, int64_t now);
/* Forget every token for realm+service+scopes (a server refused it). */
void reg_token_cache_drop(struct reg_token_cache *tc, const char *realm, const char *service,
			  const char *scopes);

#endif
