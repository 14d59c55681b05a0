/* WWW-Authenticate parsing (RFC 7235 section 4.1 / RFC 9110 11.6.1), token responses and the
 * token cache. The expected values follow from the grammar (and the headers real registries
 * send: Docker Hub, distribution, GHCR, Quay), not from running this code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_client.h"

/* One case: the header, then the expected challenges, each written as
 * "scheme|token68|name=value|name=value..." (token68 empty when absent); NULL ends the list.
 * An expected error has no challenges and the message fragment in err. */
struct case_ {
	const char *header;
	const char *want[4];
	const char *err;
};

/* One line per case reads better than what clang-format makes of long strings. */
/* clang-format off */
static const struct case_ cases[] = {
	/* distribution and Docker Hub */
	{"Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/nginx:pull\"",
	 {"bearer||realm=https://auth.docker.io/token|service=registry.docker.io|scope=repository:library/nginx:pull"}},
	{"Basic realm=\"Registry Realm\"", {"basic||realm=Registry Realm"}},
	/* scheme and names are case-insensitive; values are not */
	{"BEARER Realm=\"X\",SERVICE=Svc", {"bearer||realm=X|service=Svc"}},
	/* tokens as values, white space around '=' and ',' */
	{"Bearer realm = abc , service = s", {"bearer||realm=abc|service=s"}},
	{"Bearer realm=\"r\" ,  ,service=\"s\",", {"bearer||realm=r|service=s"}},
	/* a scope with several actions and two scopes in one value */
	{"Bearer realm=\"r\",scope=\"repository:a:pull,push repository:b:pull\"",
	 {"bearer||realm=r|scope=repository:a:pull,push repository:b:pull"}},
	/* escapes in quoted strings */
	{"Basic realm=\"say \\\"hi\\\" \\\\ ok\"", {"basic||realm=say \"hi\" \\ ok"}},
	{"Basic realm=\"\"", {"basic||realm="}},
	/* the RFC's example: two challenges in one header */
	{"Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", Basic realm=\"simple\"",
	 {"newauth||realm=apps|type=1|title=Login to \"apps\"", "basic||realm=simple"}},
	/* joined header lines */
	{"Basic realm=\"a\", Bearer realm=\"b\",service=\"c\"", {"basic||realm=a", "bearer||realm=b|service=c"}},
	/* a scheme alone, several schemes alone */
	{"Negotiate", {"negotiate|"}},
	{"Negotiate, NTLM", {"negotiate|", "ntlm|"}},
	/* token68 */
	{"Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEFoQMCAQ6iBwMFACAAAACjggStYYIEqTCCBKWgAwIBBaE=",
	 {"negotiate|YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEFoQMCAQ6iBwMFACAAAACjggStYYIEqTCCBKWgAwIBBaE="}},
	{"Foo abc/+.-_~==, Basic realm=x", {"foo|abc/+.-_~==", "basic||realm=x"}},
	/* a repeated parameter keeps its first value */
	{"Bearer realm=first,realm=second", {"bearer||realm=first"}},
	/* non-ASCII (obs-text) is allowed in quoted strings */
	{"Basic realm=\"caf\xc3\xa9\"", {"basic||realm=caf\xc3\xa9"}},
	/* tabs are white space */
	{"Bearer\trealm=\"r\",\tservice=\"s\"", {"bearer||realm=r|service=s"}},
	/* leading commas and spaces (empty list elements) */
	{" , Basic realm=x", {"basic||realm=x"}},

	/* errors */
	{"", {NULL}, "no challenge"},
	{"   ,  ", {NULL}, "no challenge"},
	{"Bearer realm=\"unterminated", {NULL}, "unterminated"},
	{"Bearer realm=\"ends with backslash\\", {NULL}, "unterminated"},
	{"Bearer realm=", {NULL}, NULL}, /* a token68 "realm=": valid */
	{"Bearer realm=,service=x", {NULL}, "unexpected character"}, /* token68, then "service=" */
	{"Bearer a=b, realm=,service=x", {NULL}, "no value"},
	{"Bearer =x", {NULL}, "without a name"},
	{"Bearer realm=\"a\" service=\"b\"", {NULL}, "expected ','"},
	{"Bearer realm=\"a\nb\"", {NULL}, "control character"},
	{"Bearer realm=\"a\x01\"", {NULL}, "control character"},
	{"\"quoted\" realm=x", {NULL}, "auth scheme"},
	{"Bearer realm=\"r\"x", {NULL}, "expected ','"},
	{"Bas(ic realm=x", {NULL}, "after scheme"},
	{"Bearer r@alm=x", {NULL}, "unexpected character"},
};
/* clang-format on */

/* Render parsed challenges in the case format, one per string. */
static void render(const struct reg_challenge *c, char *out, size_t size)
{
	int n = snprintf(out, size, "%s|%s", c->scheme, c->token68 ? c->token68 : "");
	for (size_t i = 0; i + 1 < c->params.n && n >= 0 && (size_t)n < size; i += 2)
		n += snprintf(out + n, size - (size_t)n, "|%s=%s", c->params.v[i],
			      c->params.v[i + 1]);
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct case_ *t = &cases[k];
		struct reg_challenge *ch = NULL;
		size_t n = 0;
		struct berr *err = NULL;
		int r = reg_wwwauth_parse(t->header, &ch, &n, &err);
		if (t->err) {
			if (r >= 0 || !err || !strstr(err->msg, t->err)) {
				fprintf(stderr, "case %zu '%s': want error '%s', got %d '%s'\n", k,
					t->header, t->err, r, err ? err->msg : "(none)");
				fail();
			}
			assert_int_equal(r, -EINVAL);
			assert_null(ch);
			berr_free(err);
			continue;
		}
		if (!t->want[0]) { /* only "parses" is expected */
			assert_int_equal(r, 0);
			reg_challenges_free(ch, n);
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "case %zu '%s': %s\n", k, t->header, err ? err->msg : "?");
			fail();
		}
		size_t want_n = 0;
		while (want_n < 4 && t->want[want_n])
			want_n++;
		if (n != want_n) {
			fprintf(stderr, "case %zu '%s': %zu challenges, want %zu\n", k, t->header,
				n, want_n);
			fail();
		}
		for (size_t i = 0; i < n; i++) {
			char got[1024];
			render(&ch[i], got, sizeof(got));
			if (strcmp(got, t->want[i]) != 0) {
				fprintf(stderr,
					"case %zu '%s' challenge %zu:\n  want %s\n  got  %s\n", k,
					t->header, i, t->want[i], got);
				fail();
			}
		}
		reg_challenges_free(ch, n);
	}
}

static void test_lookup(void **state)
{
	(void)state;
	struct reg_challenge *ch;
	size_t n;
	assert_int_equal(
	    reg_wwwauth_parse("Basic realm=a, Bearer realm=\"b\",scope=s", &ch, &n, NULL), 0);
	const struct reg_challenge *b = reg_challenge_find(ch, n, "bearer");
	assert_non_null(b);
	assert_string_equal(reg_challenge_param(b, "realm"), "b");
	assert_string_equal(reg_challenge_param(b, "scope"), "s");
	assert_null(reg_challenge_param(b, "service"));
	assert_null(reg_challenge_find(ch, n, "digest"));
	reg_challenges_free(ch, n);
}

static void test_limits(void **state)
{
	(void)state;
	/* Too long, and too many parameters. */
	char *big = malloc(REG_WWWAUTH_MAX + 16);
	memset(big, 'a', REG_WWWAUTH_MAX + 8);
	memcpy(big, "Basic realm=", 12);
	big[REG_WWWAUTH_MAX + 8] = '\0';
	struct reg_challenge *ch;
	size_t n;
	struct berr *err = NULL;
	assert_int_equal(reg_wwwauth_parse(big, &ch, &n, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "longer than"));
	berr_free(err);
	err = NULL;
	char many[4096] = "Bearer ";
	for (int i = 0; i < 100; i++) {
		char p[16];
		snprintf(p, sizeof(p), "p%d=v,", i);
		strncat(many, p, sizeof(many) - strlen(many) - 1);
	}
	assert_int_equal(reg_wwwauth_parse(many, &ch, &n, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "too many"));
	berr_free(err);
	free(big);
}

static void test_token_parse(void **state)
{
	(void)state;
	struct reg_token t;
	struct berr *err = NULL;
	/* distribution's token server */
	const char *a = "{\"token\":\"abc.def.ghi\",\"access_token\":\"abc.def.ghi\",\"expires_"
			"in\":300,\"issued_at\":\"2024-01-01T00:00:00Z\"}";
	assert_int_equal(reg_token_parse(a, strlen(a), &t, NULL), 0);
	assert_string_equal(t.token, "abc.def.ghi");
	assert_int_equal(t.expires_in, 300);
	assert_null(t.refresh_token);
	reg_token_clear(&t);
	/* OAuth2 form: access_token only, a refresh token, expiry under the minimum */
	const char *b = "{\"access_token\":\"xyz\",\"refresh_token\":\"r1\",\"expires_in\":5}";
	assert_int_equal(reg_token_parse(b, strlen(b), &t, NULL), 0);
	assert_string_equal(t.token, "xyz");
	assert_string_equal(t.refresh_token, "r1");
	assert_int_equal(t.expires_in, 60);
	reg_token_clear(&t);
	/* an empty "token" falls back to access_token; no expiry means 60 s */
	const char *c = "{\"token\":\"\",\"access_token\":\"q\"}";
	assert_int_equal(reg_token_parse(c, strlen(c), &t, NULL), 0);
	assert_string_equal(t.token, "q");
	assert_int_equal(t.expires_in, 60);
	reg_token_clear(&t);

	static const char *const bad[] = {
	    "",
	    "[]",
	    "{}",
	    "{\"token\":1}",
	    "{\"token\":\"a b\"}",
	    "{\"token\":\"a\\r\\nX-Evil: 1\"}",
	    "{\"token\":\"ok\",\"expires_in\":\"soon\"}",
	    "{\"token\":\"ok\",\"refresh_token\":5}",
	    "{\"token\":\"\\u00e9\"}",
	    "{\"token\":\"ok\"",
	    "null",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (reg_token_parse(bad[i], strlen(bad[i]), &t, &err) != -EINVAL) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			fail();
		}
		assert_non_null(err);
		assert_null(t.token);
		berr_free(err);
		err = NULL;
	}
}

static void test_cache(void **state)
{
	(void)state;
	struct reg_token_cache *tc = reg_token_cache_new();
	assert_non_null(tc);
	assert_null(reg_token_cache_get(tc, "r", "s", "repository:a:pull", 100));
	assert_int_equal(
	    reg_token_cache_put(tc, "r", "s", "repository:a:pull repository:b:pull", "T1", 60, 100),
	    0);
	/* the same set in another order, with a duplicate */
	char *t = reg_token_cache_get(tc, "r", "s",
				      "repository:b:pull repository:a:pull repository:b:pull", 120);
	assert_non_null(t);
	assert_string_equal(t, "T1");
	free(t);
	/* another service, realm or scope set is another token */
	assert_null(
	    reg_token_cache_get(tc, "r", "other", "repository:a:pull repository:b:pull", 120));
	assert_null(reg_token_cache_get(tc, "r2", "s", "repository:a:pull repository:b:pull", 120));
	assert_null(reg_token_cache_get(tc, "r", "s", "repository:a:pull", 120));
	/* expired 10 s early */
	assert_null(reg_token_cache_get(tc, "r", "s", "repository:a:pull repository:b:pull", 150));
	/* replaced, then dropped */
	assert_int_equal(reg_token_cache_put(tc, "r", "s", "repository:a:pull repository:b:pull",
					     "T2", 600, 150),
			 0);
	t = reg_token_cache_get(tc, "r", "s", "repository:a:pull repository:b:pull", 151);
	assert_string_equal(t, "T2");
	free(t);
	reg_token_cache_drop(tc, "r", "s", "repository:b:pull repository:a:pull");
	assert_null(reg_token_cache_get(tc, "r", "s", "repository:a:pull repository:b:pull", 152));
	/* no scope (login) and no service */
	assert_int_equal(reg_token_cache_put(tc, "r", NULL, "", "T3", 60, 0), 0);
	t = reg_token_cache_get(tc, "r", NULL, NULL, 1);
	assert_string_equal(t, "T3");
	free(t);
	reg_token_cache_free(tc);

	char *s = reg_scope_repo("library/nginx", "pull,push");
	assert_string_equal(s, "repository:library/nginx:pull,push");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),  cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_limits), cmocka_unit_test(test_token_parse),
	    cmocka_unit_test(test_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
