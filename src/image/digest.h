/* Content digests ("sha256:<64 hex>", "sha512:<128 hex>") and streaming hashing over
 * OpenSSL's EVP interface. */
#ifndef BERTH_IMAGE_DIGEST_H
#define BERTH_IMAGE_DIGEST_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

enum digest_alg { DIGEST_SHA256 = 0, DIGEST_SHA512 = 1 };

#define DIGEST_STR_MAX (7 + 128 + 1) /* "sha512:" + hex + NUL */

struct digest {
	enum digest_alg alg;
	char hex[129]; /* lowercase, NUL-terminated: 64 chars for sha256, 128 for sha512 */
};

/* Parse "alg:hex". Only sha256 and sha512 with lowercase hex of the exact length are valid
 * (the OCI image spec's registered algorithms). -EINVAL with *err on anything else. */
int digest_parse(const char *s, struct digest *ret, struct berr **err);
/* 1 when s is a valid digest string, 0 otherwise. */
int digest_valid(const char *s);
/* "sha256:..." into out (at least DIGEST_STR_MAX bytes). Returns out. */
char *digest_format(const struct digest *d, char *out);
int digest_equal(const struct digest *a, const struct digest *b);

/* Streaming hasher. digester_new returns NULL on ENOMEM. */
struct digester;
struct digester *digester_new(enum digest_alg alg);
void digester_update(struct digester *h, const void *data, size_t len);
/* Finish into ret; the digester can not be updated afterwards. */
void digester_final(struct digester *h, struct digest *ret);
void digester_free(struct digester *h);

/* One-shot helpers. */
void digest_buffer(enum digest_alg alg, const void *data, size_t len, struct digest *ret);
/* Hash all that remains of fd. 0 or -errno. */
int digest_fd(enum digest_alg alg, int fd, struct digest *ret, uint64_t *ret_size);

#endif
