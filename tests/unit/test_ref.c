/* Reference parsing against distribution/reference's behaviour. The expected values are
 * worked out from the Go grammar and normalisation rules (and the cases of its own test
 * suite), not produced by running this code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

#define H64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define D256 "sha256:" H64
#define D512 "sha512:" H64 H64
#define HEXID "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"
#define T128 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

#define E_FORMAT "invalid reference format"
#define E_LOWER "invalid reference format: repository name must be lowercase"
#define E_LOWER_BARE "repository name must be lowercase"
#define E_HEX "invalid repository name (" HEXID "), cannot specify 64-byte hexadecimal strings"
#define E_LONG "repository name must not be more than 255 characters"

struct ref_case {
	const char *in;
	int flags;
	const char *full;     /* expected ref_string, NULL when an error is expected */
	const char *error;    /* expected error message (exact) */
	const char *familiar; /* expected ref_familiar_name */
	const char *domain;   /* expected domain, NULL to skip the check */
};

#define OK(in, full, fam) {in, 0, full, NULL, fam, NULL}
#define OKD(in, full, fam, dom) {in, 0, full, NULL, fam, dom}
#define OKF(in, flags, full, fam) {in, flags, full, NULL, fam, NULL}
#define BAD(in, msg) {in, 0, NULL, msg, NULL, NULL}

static const struct ref_case cases[] = {
	/* Docker Hub names and their normalisation. */
	OKD("nginx", "docker.io/library/nginx:latest", "nginx", "docker.io"),
	OK("nginx:1.25", "docker.io/library/nginx:1.25", "nginx"),
	OK("user/app:1", "docker.io/user/app:1", "user/app"),
	OK("library/nginx", "docker.io/library/nginx:latest", "nginx"),
	OK("docker.io/nginx", "docker.io/library/nginx:latest", "nginx"),
	OK("docker.io/library/nginx", "docker.io/library/nginx:latest", "nginx"),
	OKD("index.docker.io/nginx", "docker.io/library/nginx:latest", "nginx", "docker.io"),
	OK("index.docker.io/user/app", "docker.io/user/app:latest", "user/app"),
	OK("index.docker.io/library/debian", "docker.io/library/debian:latest", "debian"),
	OK("docker.io/user/app:tag", "docker.io/user/app:tag", "user/app"),
	OK("docker.io/library/foo/bar", "docker.io/library/foo/bar:latest", "library/foo/bar"),
	OK("library/foo/bar", "docker.io/library/foo/bar:latest", "library/foo/bar"),
	OK("other/library", "docker.io/other/library:latest", "other/library"),
	OK("store/foo/bar", "docker.io/store/foo/bar:latest", "store/foo/bar"),
	OK("library/ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base:latest",
	   "ubuntu-12.04-base"),
	OK("docker---rules/docker", "docker.io/docker---rules/docker:latest",
	   "docker---rules/docker"),
	OK("dock__er/docker", "docker.io/dock__er/docker:latest", "dock__er/docker"),
	OK("d/docker", "docker.io/d/docker:latest", "d/docker"),
	OK("jess/t", "docker.io/jess/t:latest", "jess/t"),
	OK("a/b-c__d.e/f", "docker.io/a/b-c__d.e/f:latest", "a/b-c__d.e/f"),
	OK("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
	   "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest",
	   "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"),
	/* A 64-hex name is refused alone, accepted with a domain or a tag. */
	OK("docker.io/" HEXID, "docker.io/library/" HEXID ":latest", HEXID),
	OK(HEXID ":latest", "docker.io/library/" HEXID ":latest", HEXID),
	/* Single components that look like hosts are still Docker Hub names. */
	OK("localhost", "docker.io/library/localhost:latest", "localhost"),
	OK("localhost:5000", "docker.io/library/localhost:5000", "localhost"),
	OK("192.168.0.1", "docker.io/library/192.168.0.1:latest", "192.168.0.1"),
	OK("192.168.0.1:80", "docker.io/library/192.168.0.1:80", "192.168.0.1"),
	OK("test.com:5000", "docker.io/library/test.com:5000", "test.com"),
	OK("foo_bar.com:8080", "docker.io/library/foo_bar.com:8080", "foo_bar.com"),
	OK("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080", "foo/foo_bar.com"),
	/* Other registries. */
	OKD("localhost/x", "localhost/x:latest", "localhost/x", "localhost"),
	OKD("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x", "localhost:5000"),
	OK("localhost:5000/a/b/c:v1", "localhost:5000/a/b/c:v1", "localhost:5000/a/b/c"),
	OKD("127.0.0.1:5000/debian", "127.0.0.1:5000/debian:latest", "127.0.0.1:5000/debian",
	    "127.0.0.1:5000"),
	OK("127.0.0.1/repo", "127.0.0.1/repo:latest", "127.0.0.1/repo"),
	OK("192.168.0.1:8/debian", "192.168.0.1:8/debian:latest", "192.168.0.1:8/debian"),
	OK("example.com/privatebase", "example.com/privatebase:latest", "example.com/privatebase"),
	OK("example.com:8000/private/moonbase", "example.com:8000/private/moonbase:latest",
	   "example.com:8000/private/moonbase"),
	OK("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
	   "sub-dom1.foo.com/bar/baz/quux"),
	OK("b.gcr.io/test.example.com/my-app:test.example.com",
	   "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app"),
	OK("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage"),
	OK("docker.io.example.com/library/x", "docker.io.example.com/library/x:latest",
	   "docker.io.example.com/library/x"),
	/* IPv6 hosts. */
	OKD("[::1]:5000/repo", "[::1]:5000/repo:latest", "[::1]:5000/repo", "[::1]:5000"),
	OKD("[2001:db8::1]/repo:tag", "[2001:db8::1]/repo:tag", "[2001:db8::1]/repo", "[2001:db8::1]"),
	OK("[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo:latest", "[2001:db8::]:5000/repo"),
	OK("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest",
	   "[fc00:1:2:3:4:5:6:7]:5000/library/debian"),
	OK("[2001:db8::1]:5000/repo:tag@" D256, "[2001:db8::1]:5000/repo:tag@" D256,
	   "[2001:db8::1]:5000/repo"),
	/* An uppercase first component is a domain. */
	OKD("LOCALDOMAIN/debian", "LOCALDOMAIN/debian:latest", "LOCALDOMAIN/debian", "LOCALDOMAIN"),
	OK("Docker/docker", "Docker/docker:latest", "Docker/docker"),
	OK("FOO/bar", "FOO/bar:latest", "FOO/bar"),
	/* A first component with a '.' that is not a valid host: no domain at all, as in Go. */
	OKD("my_host.com/foo", "my_host.com/foo:latest", "my_host.com/foo", ""),
	/* Tags. */
	OK("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase", "lowercase"),
	OK("nginx:_x", "docker.io/library/nginx:_x", "nginx"),
	OK("nginx:a.b-c_D", "docker.io/library/nginx:a.b-c_D", "nginx"),
	OK("nginx:" T128, "docker.io/library/nginx:" T128, "nginx"),
	/* Digests: no default tag; tag and digest both kept. */
	OK("busybox@" D256, "docker.io/library/busybox@" D256, "busybox"),
	OK("busybox:latest@" D256, "docker.io/library/busybox:latest@" D256, "busybox"),
	OK("busybox@" D512, "docker.io/library/busybox@" D512, "busybox"),
	OK("test:5000/repo@" D256, "test:5000/repo@" D256, "test:5000/repo"),
	OK("xn--7o8h.com/myimage:xn--7o8h.com@" D256, "xn--7o8h.com/myimage:xn--7o8h.com@" D256,
	   "xn--7o8h.com/myimage"),
	/* REF_NO_DEFAULT_TAG. */
	OKF("nginx", REF_NO_DEFAULT_TAG, "docker.io/library/nginx", "nginx"),
	OKF("nginx:1", REF_NO_DEFAULT_TAG, "docker.io/library/nginx:1", "nginx"),
	OKF("localhost:5000/x", REF_NO_DEFAULT_TAG, "localhost:5000/x", "localhost:5000/x"),
	OKF("x@" D256, REF_NO_DEFAULT_TAG, "docker.io/library/x@" D256, "x"),

	/* Invalid: format. */
	BAD("", E_FORMAT),
	BAD(":justtag", E_FORMAT),
	BAD("@" D256, E_FORMAT),
	BAD("https://github.com/docker/docker", E_FORMAT),
	BAD("-docker", E_FORMAT),
	BAD("-docker/docker", E_FORMAT),
	BAD("-docker.io/docker/docker", E_FORMAT),
	BAD("docker-/docker", E_FORMAT),
	BAD("-docker-/docker", E_FORMAT),
	BAD("docker///docker", E_FORMAT),
	BAD("docker.io/docker///docker", E_FORMAT),
	BAD("____/____", E_FORMAT),
	BAD("_docker/_docker", E_FORMAT),
	BAD("dock..er/docker", E_FORMAT),
	BAD("dock_.er/docker", E_FORMAT),
	BAD("dock-.er/docker", E_FORMAT),
	BAD("dock___er/docker", E_FORMAT),
	BAD("docker/", E_FORMAT),
	BAD("docker.io/", E_FORMAT),
	BAD("/", E_FORMAT),
	BAD("a//b", E_FORMAT),
	BAD("aa/asdf$$^/aa", E_FORMAT),
	BAD("a b", E_FORMAT),
	BAD("nginx ", E_FORMAT),
	BAD("[fc00::1]", E_FORMAT),
	BAD("[fc00::1]:5000", E_FORMAT),
	BAD("[2001:db8::1]:tag", E_FORMAT),
	BAD("fc00::1:5000/debian", E_FORMAT),
	BAD("[fe80::1%eth0]:5000/debian", E_FORMAT),
	BAD("[2001:db8:3:4::192.0.2.33]:5000/debian", E_FORMAT),
	BAD("[]:5000/x", E_FORMAT),
	BAD("example.com:/x", E_FORMAT),
	BAD("example.com:abc/x", E_FORMAT),
	BAD("example-.com/x", E_FORMAT),
	BAD("my_host.com:5000/foo", E_FORMAT),
	BAD("nginx:", E_FORMAT),
	BAD("nginx@", E_FORMAT),
	BAD("nginx:tag@", E_FORMAT),
	BAD("nginx:-x", E_FORMAT),
	BAD("nginx:.x", E_FORMAT),
	BAD("nginx:a:b", E_FORMAT),
	BAD("nginx:a" T128, E_FORMAT),
	BAD("a/b:tag/c", E_FORMAT),
	BAD("nginx@sha256:abc", E_FORMAT),
	BAD("nginx@sha256:" H64 "g", E_FORMAT),
	BAD("nginx@256:" H64, E_FORMAT),
	BAD("nginx@sha256-:" H64, E_FORMAT),
	BAD("ngénx", E_FORMAT),
	/* Invalid: case. */
	BAD("Nginx", E_LOWER),
	BAD("UPPER", E_LOWER),
	BAD("Uppercase:tag", E_LOWER),
	BAD("docker/Docker", E_LOWER),
	BAD("docker.io/docker/Docker", E_LOWER),
	BAD("test:5000/Uppercase/lowercase:tag", E_LOWER),
	BAD("localhost/Foo", E_LOWER),
	BAD("FOO/Bar", E_LOWER),
	BAD("ngÉnx", E_LOWER),
	BAD("nginx\xff", E_LOWER),
	/* Go lowercases the whole string to tell a case problem from a format problem. */
	BAD("Foo_x.com/bar", E_LOWER_BARE),
	BAD("\xc4\xb0.com/foo:tag", E_LOWER_BARE),
	BAD("foo:\xe2\x84\xaa", E_LOWER_BARE),
	/* Invalid: identifiers and digests. */
	BAD(HEXID, E_HEX),
	BAD("repo@sha256:ffffffffffffffffffffffffffffffffff", "invalid checksum digest length"),
	BAD("repo@sha512:" H64, "invalid checksum digest length"),
	BAD("validname@invaliddigest:" H64, "unsupported digest algorithm"),
	BAD("repo@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
	    "invalid checksum digest format"),
};

static void check_case(const struct ref_case *c)
{
	struct ref r;
	struct berr *err = NULL;
	int rc = ref_parse(c->in, c->flags, &r, &err);
	if (!c->full) {
		if (rc != -EINVAL || !err || strcmp(err->msg, c->error) != 0)
			fail_msg("'%s': want error '%s', got rc %d '%s'", c->in, c->error, rc,
				 err ? err->msg : "(none)");
		assert_null(r.domain);
		assert_null(r.path);
		berr_free(err);
		return;
	}
	if (rc != 0)
		fail_msg("'%s': unexpected error '%s'", c->in, err ? err->msg : "(none)");
	assert_null(err);
	char *full = ref_string(&r);
	char *fam = ref_familiar_name(&r);
	if (strcmp(full, c->full) != 0 || strcmp(fam, c->familiar) != 0)
		fail_msg("'%s': got '%s' (familiar '%s'), want '%s' ('%s')", c->in, full, fam,
			 c->full, c->familiar);
	if (c->domain)
		assert_string_equal(r.domain, c->domain);

	/* Round trips: the full and the familiar strings parse back to the same reference,
	 * and ref_familiarize() of the full string is the familiar string. */
	char *famstr = ref_familiar_string(&r);
	struct ref again;
	assert_int_equal(ref_parse(full, c->flags, &again, NULL), 0);
	char *full2 = ref_string(&again);
	assert_string_equal(full2, full);
	free(full2);
	ref_free(&again);
	assert_int_equal(ref_parse(famstr, c->flags, &again, NULL), 0);
	full2 = ref_string(&again);
	assert_string_equal(full2, full);
	free(full2);
	ref_free(&again);
	char *fz = ref_familiarize(full);
	assert_string_equal(fz, famstr);
	free(fz);

	free(famstr);
	free(full);
	free(fam);
	ref_free(&r);
}

static void test_table(void **state)
{
	assert_true(sizeof(cases) / sizeof(cases[0]) >= 80);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i]);
}

static char *repeat(const char *prefix, const char *unit, size_t n, const char *suffix)
{
	size_t plen = strlen(prefix), ulen = strlen(unit), slen = strlen(suffix);
	char *s = malloc(plen + ulen * n + slen + 1);
	assert_non_null(s);
	memcpy(s, prefix, plen);
	for (size_t i = 0; i < n; i++)
		memcpy(s + plen + i * ulen, unit, ulen);
	memcpy(s + plen + ulen * n, suffix, slen + 1);
	return s;
}

/* The 255 limit is on the path (with "library/" when added), not on the domain. */
static void test_length_limit(void **state)
{
	struct ref r;
	struct berr *err = NULL;
	char *s = repeat("example.com/", "a", 255, ":tag");
	assert_int_equal(ref_parse(s, 0, &r, NULL), 0);
	assert_int_equal(strlen(r.path), 255);
	assert_string_equal(r.domain, "example.com");
	ref_free(&r);
	free(s);

	s = repeat("example.com/", "a", 256, "");
	assert_int_equal(ref_parse(s, 0, &r, &err), -EINVAL);
	assert_string_equal(err->msg, "repository name must not be more than 255 characters");
	berr_free(err);
	err = NULL;
	free(s);

	/* "domain" is lowercase without '.' or ':', so it is a path component here. */
	s = repeat("domain/", "a", 256, ":tag");
	assert_int_equal(ref_parse(s, 0, &r, &err), -EINVAL);
	assert_string_equal(err->msg, "repository name must not be more than 255 characters");
	berr_free(err);
	err = NULL;
	free(s);

	/* 127 "a/" + "a" is exactly 255 characters of path; the tag does not count. */
	s = repeat("", "a/", 127, "a:tag-puts-this-over-max");
	assert_int_equal(ref_parse(s, 0, &r, NULL), 0);
	assert_string_equal(r.domain, "docker.io");
	assert_int_equal(strlen(r.path), 255);
	assert_string_equal(r.tag, "tag-puts-this-over-max");
	ref_free(&r);
	free(s);

	/* 247 characters become 255 with "library/"; 248 become too long. */
	s = repeat("", "b", 247, "");
	assert_int_equal(ref_parse(s, 0, &r, NULL), 0);
	assert_int_equal(strlen(r.path), 255);
	ref_free(&r);
	free(s);
	s = repeat("", "b", 248, "");
	assert_int_equal(ref_parse(s, 0, &r, &err), -EINVAL);
	assert_string_equal(err->msg, "repository name must not be more than 255 characters");
	berr_free(err);
	free(s);
}

static void test_fields(void **state)
{
	struct ref r;
	assert_int_equal(ref_parse("localhost:5000/a/b:v2@" D256, 0, &r, NULL), 0);
	assert_string_equal(r.domain, "localhost:5000");
	assert_string_equal(r.path, "a/b");
	assert_string_equal(r.tag, "v2");
	assert_string_equal(r.digest, D256);
	char *s = ref_name(&r);
	assert_string_equal(s, "localhost:5000/a/b");
	free(s);
	s = ref_familiar_string(&r);
	assert_string_equal(s, "localhost:5000/a/b:v2@" D256);
	free(s);
	ref_free(&r);
	assert_null(r.path);
	ref_free(&r); /* twice is harmless */

	assert_int_equal(ref_parse("busybox@" D256, 0, &r, NULL), 0);
	assert_null(r.tag);
	assert_string_equal(r.digest, D256);
	s = ref_familiar_string(&r);
	assert_string_equal(s, "busybox@" D256);
	free(s);
	ref_free(&r);

	assert_int_equal(ref_parse("ubuntu", REF_NO_DEFAULT_TAG, &r, NULL), 0);
	assert_null(r.tag);
	assert_null(r.digest);
	s = ref_familiar_string(&r);
	assert_string_equal(s, "ubuntu");
	free(s);
	ref_free(&r);

	/* No error object wanted: the code alone. */
	assert_int_equal(ref_parse("Bad", 0, &r, NULL), -EINVAL);
	assert_int_equal(ref_parse(NULL, 0, &r, NULL), -EINVAL);
}

static void test_familiarize(void **state)
{
	static const char *const pairs[][2] = {
		{"docker.io/library/nginx:latest", "nginx:latest"},
		{"docker.io/library/nginx", "nginx"},
		{"docker.io/user/app:1", "user/app:1"},
		{"docker.io/library/a/b:1", "library/a/b:1"},
		{"localhost:5000/x:latest", "localhost:5000/x:latest"},
		{"docker.io/library/busybox@" D256, "busybox@" D256},
		{"quay.io/org/img:v1@" D256, "quay.io/org/img:v1@" D256},
		/* Not a reference: returned as it is, for display. */
		{"<none>:<none>", "<none>:<none>"},
		{"", ""},
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char *f = ref_familiarize(pairs[i][0]);
		assert_string_equal(f, pairs[i][1]);
		free(f);
	}
	assert_null(ref_familiarize(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_familiarize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
