#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "digest.h"

static void test_parse_valid(void **state)
{
	struct digest d;
	assert_int_equal(digest_parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", &d, NULL), 0);
	assert_int_equal(d.alg, DIGEST_SHA256);
	char s[DIGEST_STR_MAX];
	assert_string_equal(digest_format(&d, s),
			    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	char sha512[7 + 128 + 1] = "sha512:";
	memset(sha512 + 7, 'a', 128);
	sha512[135] = '\0';
	assert_int_equal(digest_parse(sha512, &d, NULL), 0);
	assert_int_equal(d.alg, DIGEST_SHA512);
}

static void test_parse_invalid(void **state)
{
	static const char *bad[] = {
		"",
		"sha256",
		"sha256:",
		":e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
		"sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct digest d;
		struct berr *err = NULL;
		assert_int_equal(digest_parse(bad[i], &d, &err), -EINVAL);
		assert_non_null(err);
		berr_free(err);
		assert_false(digest_valid(bad[i]));
	}
}

static void test_hash(void **state)
{
	struct digest d;
	char s[DIGEST_STR_MAX];
	digest_buffer(DIGEST_SHA256, "", 0, &d);
	assert_string_equal(digest_format(&d, s),
			    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	digest_buffer(DIGEST_SHA256, "abc", 3, &d);
	assert_string_equal(d.hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* Streaming in pieces gives the same result as one shot. */
	struct digester *h = digester_new(DIGEST_SHA512);
	digester_update(h, "a", 1);
	digester_update(h, "bc", 2);
	struct digest d2;
	digester_final(h, &d2);
	digester_free(h);
	assert_string_equal(d2.hex, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
				    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_hash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
