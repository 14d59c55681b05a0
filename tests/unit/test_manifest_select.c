/* Platform selection from image indexes / manifest lists (reg_manifest_select) and the
 * classification of fetched manifests (reg_manifest_kind). The expected picks follow
 * containerd's platform matching as Docker uses it: exact os/arch, normalised variants, older
 * compatible arm and amd64 levels, first of equals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "transfer.h"

#define MT_OCI "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER "application/vnd.docker.distribution.manifest.v2+json"
/* The documents read better as written. */
/* clang-format off */
#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
	     c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

/* An entry: media type, digest, platform JSON (or "" for none). */
#define ENTRY(mt, dg, plat) "{\"mediaType\":\"" mt "\",\"digest\":\"" dg "\",\"size\":100" plat "}"
#define PLAT(os, arch) ",\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\"}"
#define PLATV(os, arch, v) \
	",\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\",\"variant\":\"" v "\"}"
#define INDEX(...) "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[" __VA_ARGS__ "]}"
#define LIST(...) "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\",\"manifests\":[" __VA_ARGS__ "]}"

/* A typical multi-arch list (docker hub's busybox shape), with an attestation entry. */
static const char busybox[] = LIST(
	ENTRY(MT_DOCKER, D("1"), PLAT("linux", "amd64")) ","
	ENTRY(MT_DOCKER, D("2"), PLATV("linux", "arm", "v5")) ","
	ENTRY(MT_DOCKER, D("3"), PLATV("linux", "arm", "v6")) ","
	ENTRY(MT_DOCKER, D("4"), PLATV("linux", "arm", "v7")) ","
	ENTRY(MT_DOCKER, D("5"), PLATV("linux", "arm64", "v8")) ","
	ENTRY(MT_DOCKER, D("6"), PLAT("linux", "386")) ","
	ENTRY(MT_DOCKER, D("7"), PLAT("linux", "ppc64le")) ","
	ENTRY(MT_DOCKER, D("8"), PLAT("linux", "s390x")) ","
	ENTRY(MT_OCI, D("9"), PLAT("unknown", "unknown")));

static const char onlyv6[] = INDEX(
	ENTRY(MT_OCI, D("a"), PLAT("windows", "arm")) ","
	ENTRY(MT_OCI, D("b"), PLATV("linux", "arm", "v6")));

static const char amd64_levels[] = INDEX(
	ENTRY(MT_OCI, D("c"), PLATV("linux", "amd64", "v3")) ","
	ENTRY(MT_OCI, D("d"), PLAT("linux", "amd64")) ","
	ENTRY(MT_OCI, D("e"), PLATV("linux", "amd64", "v2")));

static const char only_v2[] = INDEX(ENTRY(MT_OCI, D("f"), PLATV("linux", "amd64", "v2")));

/* Spellings: x86_64, aarch64; a variantless arm64; duplicates (the first wins); entries that
 * are no manifests, or have no platform. */
static const char odd[] = INDEX(
	ENTRY("application/vnd.in-toto+json", D("0"), PLAT("linux", "amd64")) ","
	ENTRY(MT_OCI, D("1"), "") ","
	ENTRY(MT_OCI, D("2"), PLAT("linux", "x86_64")) ","
	ENTRY(MT_OCI, D("3"), PLAT("linux", "amd64")) ","
	ENTRY(MT_OCI, D("4"), PLAT("linux", "aarch64")) ","
	ENTRY("application/vnd.oci.image.index.v1+json", D("5"), PLAT("linux", "riscv64")));

/* clang-format on */

struct pick {
	const char *index;
	const char *os, *arch, *variant;
	const char *want; /* digest, or NULL for "no match" */
};

static const struct pick picks[] = {
    {busybox, "linux", "amd64", NULL, D("1")},
    {busybox, "linux", "arm64", NULL, D("5")},
    {busybox, "linux", "arm64", "v8", D("5")},
    {busybox, "linux", "arm", "v7", D("4")},
    {busybox, "linux", "arm", NULL, D("4")}, /* arm alone means v7 */
    {busybox, "linux", "arm", "v6", D("3")},
    {busybox, "linux", "arm", "v5", D("2")},
    {busybox, "linux", "arm", "v8", D("4")}, /* the newest older level */
    {busybox, "linux", "386", NULL, D("6")},
    {busybox, "linux", "s390x", NULL, D("8")},
    {busybox, "linux", "riscv64", NULL, NULL},
    {busybox, "windows", "amd64", NULL, NULL},
    {busybox, "unknown", "unknown", NULL, D("9")},
    {onlyv6, "linux", "arm", "v7", D("b")},
    {onlyv6, "linux", "arm", "v6", D("b")},
    {onlyv6, "linux", "arm", "v5", NULL},
    {onlyv6, "windows", "arm", "v7", D("a")}, /* windows/arm without variant reads as v7 */
    {amd64_levels, "linux", "amd64", NULL, D("d")},
    {amd64_levels, "linux", "amd64", "v1", D("d")},
    {amd64_levels, "linux", "amd64", "v2", D("e")},
    {amd64_levels, "linux", "amd64", "v3", D("c")},
    {amd64_levels, "linux", "amd64", "v4", D("c")},
    {only_v2, "linux", "amd64", NULL, NULL}, /* a v2 image does not run on any amd64 */
    {only_v2, "linux", "amd64", "v3", D("f")},
    {odd, "linux", "amd64", NULL, D("2")},
    {odd, "linux", "x86_64", NULL, D("2")},
    {odd, "linux", "arm64", "v8", D("4")},
    {odd, "linux", "riscv64", NULL, D("5")}, /* a nested index is a valid pick */
    {odd, "linux", "arm", "v7", NULL},
    {odd, "linux", "ppc64le", "weird", NULL},
};

static void test_picks(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(picks) / sizeof(picks[0]); i++) {
		const struct pick *p = &picks[i];
		struct imgarchive_desc d;
		struct berr *err = NULL;
		int r = reg_manifest_select(p->index, strlen(p->index), p->os, p->arch, p->variant,
					    &d, &err);
		if (p->want) {
			if (r != 0 || strcmp(d.digest, p->want) != 0) {
				fprintf(stderr, "pick %zu (%s/%s/%s): r=%d got %s want %s (%s)\n",
					i, p->os, p->arch, p->variant ? p->variant : "", r,
					r == 0 ? d.digest : "-", p->want, err ? err->msg : "");
				fail();
			}
			imgarchive_desc_clear(&d);
		} else {
			if (r != -ENOENT) {
				fprintf(stderr, "pick %zu (%s/%s): r=%d, want -ENOENT\n", i, p->os,
					p->arch, r);
				fail();
			}
			assert_non_null(strstr(err->msg, "no matching manifest for"));
			assert_non_null(strstr(err->msg, "in the manifest list entries"));
			berr_free(err);
		}
	}
}

static void test_message(void **state)
{
	(void)state;
	struct imgarchive_desc d;
	struct berr *err = NULL;
	assert_int_equal(
	    reg_manifest_select(busybox, strlen(busybox), "linux", "arm", "v4", &d, &err), -ENOENT);
	assert_string_equal(err->msg,
			    "no matching manifest for linux/arm/v4 in the manifest list entries");
	berr_free(err);
	err = NULL;
	assert_int_equal(
	    reg_manifest_select(busybox, strlen(busybox), "linux", "mips64le", NULL, &d, &err),
	    -ENOENT);
	assert_string_equal(err->msg,
			    "no matching manifest for linux/mips64le in the manifest list entries");
	berr_free(err);
}

static void test_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "{",
	    "[]",
	    "{\"schemaVersion\":1,\"manifests\":[]}",
	    "{\"schemaVersion\":2}",
	    "{\"schemaVersion\":2,\"manifests\":{}}",
	    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_OCI
	    "\",\"digest\":\"sha256:12\",\"size\":1}]}",
	    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_OCI
	    "\",\"digest\":\"" D("1") "\",\"size\":-1}]}",
	    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_OCI
	    "\",\"digest\":\"" D("1") "\",\"size\":1,\"platform\":[]}]}",
	    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_OCI
	    "\",\"digest\":\"" D("1") "\",\"size\":1,\"platform\":{\"os\":5}}]}",
	    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"manifests\":[]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imgarchive_desc d;
		struct berr *err = NULL;
		int r =
		    reg_manifest_select(bad[i], strlen(bad[i]), "linux", "amd64", NULL, &d, &err);
		if (r != -EINVAL) {
			fprintf(stderr, "'%s': %d\n", bad[i], r);
			fail();
		}
		assert_non_null(err);
		berr_free(err);
	}
	/* An empty list is valid and matches nothing. */
	const char *empty = INDEX();
	struct imgarchive_desc d;
	assert_int_equal(
	    reg_manifest_select(empty, strlen(empty), "linux", "amd64", NULL, &d, NULL), -ENOENT);
}

static void test_kind(void **state)
{
	(void)state;
	static const struct {
		const char *mt, *doc;
		int r;
		enum reg_manifest_kind kind;
		const char *msg;
	} cases[] = {
	    {MT_OCI, "{}", 0, REG_KIND_MANIFEST, NULL},
	    {MT_DOCKER, "{}", 0, REG_KIND_MANIFEST, NULL},
	    {"application/vnd.oci.image.index.v1+json", "{}", 0, REG_KIND_INDEX, NULL},
	    {"application/vnd.docker.distribution.manifest.list.v2+json", "{}", 0, REG_KIND_INDEX,
	     NULL},
	    /* a generic or missing type: the document decides */
	    {"application/json", "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER "\"}", 0,
	     REG_KIND_MANIFEST, NULL},
	    {NULL, "{\"schemaVersion\":2,\"manifests\":[]}", 0, REG_KIND_INDEX, NULL},
	    {"text/plain", "{\"schemaVersion\":2,\"config\":{},\"layers\":[]}", 0,
	     REG_KIND_MANIFEST, NULL},
	    {"application/json", "{\"schemaVersion\":1,\"fsLayers\":[]}", -EPROTONOSUPPORT, 0,
	     "schema 1"},
	    {REG_MT_SCHEMA1_SIGNED, "{}", -EPROTONOSUPPORT, 0, "schema 1"},
	    {REG_MT_SCHEMA1, "{}", -EPROTONOSUPPORT, 0, "schema 1"},
	    {"application/vnd.oci.artifact.manifest.v1+json", "{}", -EPROTONOSUPPORT, 0,
	     "unsupported manifest media type \"application/vnd.oci.artifact.manifest.v1+json\""},
	    {"application/json", "[1,2]", -EPROTONOSUPPORT, 0, "no manifest"},
	    {NULL, "not json", -EPROTONOSUPPORT, 0, "no manifest"},
	    {"application/json", "{\"mediaType\":7}", -EPROTONOSUPPORT, 0, "no manifest"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum reg_manifest_kind k = 99;
		struct berr *err = NULL;
		int r = reg_manifest_kind(cases[i].mt, cases[i].doc, strlen(cases[i].doc), "x:1",
					  &k, &err);
		if (r != cases[i].r || (r == 0 && k != cases[i].kind) ||
		    (cases[i].msg && (!err || !strstr(err->msg, cases[i].msg)))) {
			fprintf(stderr, "kind case %zu: r=%d kind=%d msg=%s\n", i, r, (int)k,
				err ? err->msg : "(none)");
			fail();
		}
		berr_free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_picks),
	    cmocka_unit_test(test_message),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_kind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
