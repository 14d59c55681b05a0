/* Registry credentials in Docker's client config ($DOCKER_CONFIG/config.json, else
 * ~/.docker/config.json), read and written the way the docker CLI does:
 *
 *   {"auths": {"localhost:5000": {"auth": base64("user:password")},
 *              "https://index.docker.io/v1/": {"auth": "...", "identitytoken": "..."}},
 *    "credsStore": "pass",                       (helper for every registry)
 *    "credHelpers": {"registry.example.com": "ecr-login"}}   (helper per registry)
 *
 * A helper is the program docker-credential-<name>, run directly (never through a shell)
 * with one argument, get / store / erase, talking JSON or the server name over stdin and
 * stdout (docker-credential-helpers' protocol; "<token>" as Username marks an identity
 * token). Other keys of config.json are kept as they are when the file is rewritten.
 *
 * Secrets are never logged or put into error messages. All functions return 0 or -errno
 * with *err set (err may be NULL); none prints.
 */
#ifndef BERTH_REGISTRY_CREDENTIALS_H
#define BERTH_REGISTRY_CREDENTIALS_H

#include "err.h"

/* The key Docker files Docker Hub's credentials under. */
#define REG_CRED_DOCKER_HUB "https://index.docker.io/v1/"

struct reg_cred {
	char *username;	      /* NULL when unknown */
	char *password;	      /* NULL with an identity token */
	char *identity_token; /* an OAuth refresh token from an earlier login, or NULL */
};
void reg_cred_clear(struct reg_cred *c);

/* The path of config.json: $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json (the
 * home directory from getpwuid when HOME is unset). Owned by the caller. */
int reg_cred_config_path(char **ret, struct berr **err);

/* The name credentials for server are filed under, as `docker login` computes it: Docker Hub
 * (docker.io, index.docker.io, registry-1.docker.io, with or without a scheme and path) is
 * REG_CRED_DOCKER_HUB; anything else is reduced to host[:port] ("https://h:5000/v2/" ->
 * "h:5000"). Owned by the caller; NULL on ENOMEM. */
char *reg_cred_server_key(const char *server);

/* The helper that holds key's credentials: credHelpers[key], else credsStore, else NULL
 * (the file itself). Owned by the caller. */
int reg_cred_helper(const char *config_path, const char *key, char **ret, struct berr **err);

/* Credentials for key (a reg_cred_server_key() result). Entries of "auths" match when they
 * reduce to the same host ("http://h:5000" matches "h:5000"). -ENOENT when there are none
 * (a missing config.json included); -EINVAL for a malformed file or auth field; a helper that
 * fails gives its exit status in the message, one that knows nothing gives -ENOENT. */
int reg_cred_get(const char *config_path, const char *key, struct reg_cred *ret, struct berr **err);

/* File credentials for key: through the helper when one is configured (config.json then
 * gets an empty entry for key, as docker writes it), else base64 in "auths" (*ret_plaintext
 * set to 1, so that the command can warn). The file is written atomically, mode 0600, its
 * directory created 0700; a symlinked config.json is written through the link. */
int reg_cred_store(const char *config_path, const char *key, const struct reg_cred *c,
		   int *ret_plaintext, struct berr **err);

/* Remove key's credentials from the file and from its helper. -ENOENT when there were
 * none in either. */
int reg_cred_erase(const char *config_path, const char *key, struct berr **err);

/* Base64 (RFC 4648, with padding), exposed for the tests. Results owned by the caller.
 * Decoding refuses anything but the standard alphabet and correct padding (-EINVAL). */
char *reg_base64_encode(const void *data, size_t len);
int reg_base64_decode(const char *s, char **ret, size_t *ret_len);

#endif
