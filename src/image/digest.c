#include "digest.h"
#include "cleanup.h"

/* SHA256_Init() and SHA512_Init(), deprecated in OpenSSL 3 but kept: they run the same
 * assembly as EVP without its provider machinery, whose first use (reading openssl.cnf,
 * loading the default provider, filling its method caches) cost 0.85 ms of every command
 * that hashes anything, a tenth of a one-byte commit. */
#define OPENSSL_API_COMPAT 10101
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

struct digester {
	enum digest_alg alg;
	union {
		SHA256_CTX s256;
		SHA512_CTX s512;
	} ctx;
};

static size_t hex_len(enum digest_alg alg)
{
	return alg == DIGEST_SHA512 ? 128 : 64;
}

static const char *alg_name(enum digest_alg alg)
{
	return alg == DIGEST_SHA512 ? "sha512" : "sha256";
}

int digest_parse(const char *s, struct digest *ret, struct berr **err)
{
	const char *colon = strchr(s, ':');
	if (!colon)
		return berr_set(err, EINVAL, "invalid digest '%.80s': missing algorithm", s);
	size_t alen = (size_t)(colon - s);
	enum digest_alg alg;
	if (alen == 6 && strncmp(s, "sha256", 6) == 0)
		alg = DIGEST_SHA256;
	else if (alen == 6 && strncmp(s, "sha512", 6) == 0)
		alg = DIGEST_SHA512;
	else if (alen == 0)
		return berr_set(err, EINVAL, "invalid digest '%.80s': missing algorithm", s);
	else
		return berr_set(err, EINVAL, "invalid digest '%.80s': unsupported algorithm", s);
	const char *hex = colon + 1;
	size_t n = strlen(hex);
	if (n != hex_len(alg))
		return berr_set(err, EINVAL, "invalid digest '%.80s': %s needs %zu hex digits", s,
				alg_name(alg), hex_len(alg));
	for (size_t i = 0; i < n; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return berr_set(err, EINVAL,
					"invalid digest '%.80s': not lowercase hexadecimal", s);
	ret->alg = alg;
	memcpy(ret->hex, hex, n + 1);
	return 0;
}

int digest_valid(const char *s)
{
	struct digest d;
	return s && digest_parse(s, &d, NULL) == 0;
}

char *digest_format(const struct digest *d, char *out)
{
	snprintf(out, DIGEST_STR_MAX, "%s:%s", alg_name(d->alg), d->hex);
	return out;
}

int digest_equal(const struct digest *a, const struct digest *b)
{
	return a->alg == b->alg && strcmp(a->hex, b->hex) == 0;
}

struct digester *digester_new(enum digest_alg alg)
{
	struct digester *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->alg = alg;
	if ((alg == DIGEST_SHA512 ? SHA512_Init(&h->ctx.s512) : SHA256_Init(&h->ctx.s256)) != 1) {
		digester_free(h);
		return NULL;
	}
	return h;
}

void digester_update(struct digester *h, const void *data, size_t len)
{
	if (h->alg == DIGEST_SHA512)
		SHA512_Update(&h->ctx.s512, data, len);
	else
		SHA256_Update(&h->ctx.s256, data, len);
}

void digester_final(struct digester *h, struct digest *ret)
{
	unsigned char md[SHA512_DIGEST_LENGTH];
	unsigned int n = h->alg == DIGEST_SHA512 ? SHA512_DIGEST_LENGTH : SHA256_DIGEST_LENGTH;
	static const char xd[] = "0123456789abcdef";
	if (h->alg == DIGEST_SHA512)
		SHA512_Final(md, &h->ctx.s512);
	else
		SHA256_Final(md, &h->ctx.s256);
	ret->alg = h->alg;
	for (unsigned int i = 0; i < n; i++) {
		ret->hex[2 * i] = xd[md[i] >> 4];
		ret->hex[2 * i + 1] = xd[md[i] & 15];
	}
	ret->hex[2 * n] = '\0';
}

void digester_free(struct digester *h)
{
	if (!h)
		return;
	OPENSSL_cleanse(&h->ctx, sizeof(h->ctx));
	free(h);
}

void digest_buffer(enum digest_alg alg, const void *data, size_t len, struct digest *ret)
{
	struct digester *h = digester_new(alg);
	if (!h) {
		memset(ret, 0, sizeof(*ret));
		return;
	}
	digester_update(h, data, len);
	digester_final(h, ret);
	digester_free(h);
}

int digest_fd(enum digest_alg alg, int fd, struct digest *ret, uint64_t *ret_size)
{
	struct digester *h = digester_new(alg);
	if (!h)
		return -ENOMEM;
	char b[1 << 16];
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, b, sizeof(b));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			digester_free(h);
			return e;
		}
		if (n == 0)
			break;
		digester_update(h, b, (size_t)n);
		total += (uint64_t)n;
	}
	digester_final(h, ret);
	digester_free(h);
	if (ret_size)
		*ret_size = total;
	return 0;
}
