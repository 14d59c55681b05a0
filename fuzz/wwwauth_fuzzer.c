/* reg_wwwauth_parse and reg_token_parse on arbitrary bytes. Beyond not crashing: a parse that
 * succeeds gives at least one challenge, schemes and parameter names are non-empty lowercase
 * tokens, reg_challenge_param finds every name, and a parsed token is header-safe (it is sent
 * back in an Authorization header, so CR/LF would be a header injection). */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_token_chars(const char *s)
{
	if (!s || !*s)
		abort();
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			abort();
}

static void check_lower_token(const char *s)
{
	if (!s || !*s)
		abort();
	for (; *s; s++)
		if (isupper((unsigned char)*s) || (unsigned char)*s <= ' ' || *s == '"' ||
		    *s == ',' || *s == '=')
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	struct reg_challenge *ch = NULL;
	size_t n = 0;
	struct berr *err = NULL;
	if (reg_wwwauth_parse(s, &ch, &n, &err) == 0) {
		if (!n || !ch || err)
			abort();
		for (size_t i = 0; i < n; i++) {
			check_lower_token(ch[i].scheme);
			if (ch[i].params.n % 2)
				abort();
			for (size_t k = 0; k + 1 < ch[i].params.n; k += 2) {
				check_lower_token(ch[i].params.v[k]);
				if (!reg_challenge_param(&ch[i], ch[i].params.v[k]))
					abort();
			}
			if (reg_challenge_find(ch, n, ch[i].scheme) == NULL)
				abort();
		}
		reg_challenges_free(ch, n);
	} else {
		if (!err || !err->msg || ch || n)
			abort();
		berr_free(err);
	}

	struct reg_token t;
	err = NULL;
	if (reg_token_parse(s, size, &t, &err) == 0) {
		check_token_chars(t.token);
		if (t.refresh_token)
			check_token_chars(t.refresh_token);
		if (t.expires_in < 60)
			abort();
		reg_token_clear(&t);
	} else {
		if (!err || t.token)
			abort();
		berr_free(err);
	}

	/* The cache splits scope lists on spaces: any string is a key. */
	struct reg_token_cache *tc = reg_token_cache_new();
	if (tc) {
		if (reg_token_cache_put(tc, "r", "s", s, "tok", 60, 0) == 0) {
			char *got = reg_token_cache_get(tc, "r", "s", s, 1);
			if (!got || strcmp(got, "tok") != 0)
				abort();
			free(got);
		}
		reg_token_cache_free(tc);
	}
	free(s);
	return 0;
}
