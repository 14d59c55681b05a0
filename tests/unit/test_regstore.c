/* The registry server's storage (regstore.h) on a temp root: distribution's layout byte for
 * byte, uploads (running hash, restart, undo), manifests and tags, catalog order, referrers,
 * gc (with and without untagged deletion, grace, dry run), concurrent writers; and the
 * names, routes and ranges of route.h that guard every path. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "digest.h"
#include "fs.h"
#include "regmanifest.h"
#include "regstore.h"
#include "route.h"

#define V2 "docker/registry/v2/"

struct fixture {
	char dir[64];
	char root[96];
	struct regstore *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-regstore.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	struct berr *err = NULL;
	if (regstore_open(f->root, REGSTORE_CREATE, &f->s, &err) < 0) {
		fprintf(stderr, "regstore_open: %s\n", err->msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	regstore_close(f->s);
	fs_rm_rf_at(AT_FDCWD, f->dir);
	free(f);
	return 0;
}

#define OK(expr)                                                                                   \
	do {                                                                                       \
		struct berr *e_ = NULL;                                                            \
		struct berr **err = &e_;                                                           \
		(void)err;                                                                         \
		int r_ = (int)(expr);                                                              \
		if (r_ < 0)                                                                        \
			fail_msg("%s: %d %s", #expr, r_, e_ ? e_->msg : "(no message)");           \
		berr_free(e_);                                                                     \
	} while (0)

/* The content of root/path, or NULL. */
static char *slurp(struct fixture *f, const char *path)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", f->root, path);
	char *data = NULL;
	if (fs_read_all_at(AT_FDCWD, p, 1 << 24, &data, NULL) < 0)
		return NULL;
	return data;
}

static int exists(struct fixture *f, const char *path)
{
	char p[1024];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", f->root, path);
	return stat(p, &st) == 0;
}

static void digest_of(const char *data, size_t len, struct digest *d)
{
	digest_buffer(DIGEST_SHA256, data, len, d);
}

/* Upload data to name in one go; returns its digest string in ds. */
static void put_blob(struct fixture *f, const char *name, const char *data, char *ds)
{
	struct regstore_upload *u;
	struct digest d;
	digest_of(data, strlen(data), &d);
	OK(regstore_upload_start(f->s, name, DIGEST_SHA256, &u, err));
	OK(regstore_upload_write(u, data, strlen(data), err));
	OK(regstore_upload_commit(u, &d, NULL, err));
	digest_format(&d, ds);
}

static void test_upload_layout(void **state)
{
	struct fixture *f = *state;
	struct regstore_upload *u;
	OK(regstore_upload_start(f->s, "library/hello", DIGEST_SHA256, &u, err));
	char uuid[64], path[512];
	snprintf(uuid, sizeof(uuid), "%s", regstore_upload_uuid(u));
	assert_true(regsrv_uuid_valid(uuid));
	snprintf(path, sizeof(path), V2 "repositories/library/hello/_uploads/%s/startedat", uuid);
	_cleanup_free_ char *started = slurp(f, path);
	assert_non_null(started);
	/* Go's time.RFC3339 in UTC, as distribution writes and reads it. */
	assert_int_equal(strlen(started), 20);
	assert_int_equal(started[4], '-');
	assert_int_equal(started[10], 'T');
	assert_int_equal(started[19], 'Z');

	OK(regstore_upload_write(u, "hello ", 6, err));
	OK(regstore_upload_write(u, "world", 5, err));
	assert_int_equal(regstore_upload_size(u), 11);
	regstore_upload_release(u);
	uint64_t size;
	OK(regstore_upload_stat(f->s, "library/hello", uuid, &size));
	assert_int_equal(size, 11);
	/* Another repository cannot reach it. */
	assert_int_equal(regstore_upload_resume(f->s, "library/other", uuid, &u, NULL), -ENOENT);
	assert_int_equal(regstore_upload_stat(f->s, "library/other", uuid, &size), -ENOENT);

	OK(regstore_upload_resume(f->s, "library/hello", uuid, &u, err));
	struct regstore_upload *u2;
	assert_int_equal(regstore_upload_resume(f->s, "library/hello", uuid, &u2, NULL), -EBUSY);
	struct digest d;
	digest_of("hello world", 11, &d);
	OK(regstore_upload_commit(u, &d, NULL, err));

	char hex[129];
	snprintf(hex, sizeof(hex), "%s", d.hex);
	snprintf(path, sizeof(path), V2 "blobs/sha256/%.2s/%s/data", hex, hex);
	_cleanup_free_ char *data = slurp(f, path);
	assert_string_equal(data, "hello world");
	snprintf(path, sizeof(path), V2 "repositories/library/hello/_layers/sha256/%s/link", hex);
	_cleanup_free_ char *link = slurp(f, path);
	char want[160];
	snprintf(want, sizeof(want), "sha256:%s", hex);
	/* Exactly the digest, no newline: distribution compares the bytes. */
	assert_string_equal(link, want);
	snprintf(path, sizeof(path), V2 "repositories/library/hello/_uploads/%s", uuid);
	assert_false(exists(f, path));

	int fd;
	OK(regstore_blob_open(f->s, "library/hello", &d, &fd, &size));
	assert_int_equal(size, 11);
	close(fd);
	assert_int_equal(regstore_blob_stat(f->s, "library/other", &d, &size), -ENOENT);
}

static void test_upload_digest_mismatch(void **state)
{
	struct fixture *f = *state;
	struct regstore_upload *u;
	OK(regstore_upload_start(f->s, "a", DIGEST_SHA256, &u, err));
	OK(regstore_upload_write(u, "abc", 3, err));
	struct digest want, got;
	digest_of("abd", 3, &want);
	struct berr *e = NULL;
	assert_int_equal(regstore_upload_commit(u, &want, &got, &e), -EBADMSG);
	berr_free(e);
	struct digest real;
	digest_of("abc", 3, &real);
	assert_true(digest_equal(&got, &real));
	/* Still there for the caller to cancel. */
	char uuid[64];
	snprintf(uuid, sizeof(uuid), "%s", regstore_upload_uuid(u));
	uint64_t size;
	OK(regstore_upload_stat(f->s, "a", uuid, &size));
	OK(regstore_upload_cancel(u));
	assert_int_equal(regstore_upload_stat(f->s, "a", uuid, &size), -ENOENT);
	assert_int_equal(regstore_blob_stat(f->s, "a", &want, &size), -ENOENT);
}

static void test_upload_after_restart(void **state)
{
	struct fixture *f = *state;
	struct regstore_upload *u;
	OK(regstore_upload_start(f->s, "x/y", DIGEST_SHA256, &u, err));
	char uuid[64];
	snprintf(uuid, sizeof(uuid), "%s", regstore_upload_uuid(u));
	OK(regstore_upload_write(u, "first half, ", 12, err));
	regstore_upload_release(u);
	/* A new process: the running hash is gone; the data file is hashed again. */
	regstore_close(f->s);
	OK(regstore_open(f->root, 0, &f->s, err));
	OK(regstore_upload_resume(f->s, "x/y", uuid, &u, err));
	assert_int_equal(regstore_upload_size(u), 12);
	OK(regstore_upload_write(u, "second half", 11, err));
	struct digest d;
	digest_of("first half, second half", 23, &d);
	OK(regstore_upload_commit(u, &d, NULL, err));
	uint64_t size;
	OK(regstore_blob_stat(f->s, "x/y", &d, &size));
	assert_int_equal(size, 23);
}

static void test_upload_truncate_and_sha512(void **state)
{
	struct fixture *f = *state;
	struct regstore_upload *u;
	OK(regstore_upload_start(f->s, "t", DIGEST_SHA256, &u, err));
	OK(regstore_upload_write(u, "keep", 4, err));
	OK(regstore_upload_write(u, "DROP", 4, err));
	OK(regstore_upload_truncate(u, 4));
	OK(regstore_upload_write(u, "this", 4, err));
	/* Asked for sha512 although it ran sha256: hashed again with sha512. */
	struct digest d;
	digest_buffer(DIGEST_SHA512, "keepthis", 8, &d);
	OK(regstore_upload_commit(u, &d, NULL, err));
	char path[512];
	snprintf(path, sizeof(path), V2 "blobs/sha512/%.2s/%s/data", d.hex, d.hex);
	_cleanup_free_ char *data = slurp(f, path);
	assert_string_equal(data, "keepthis");
}

static void test_mount(void **state)
{
	struct fixture *f = *state;
	char ds[DIGEST_STR_MAX];
	put_blob(f, "src", "shared layer", ds);
	struct digest d;
	digest_parse(ds, &d, NULL);
	uint64_t size;
	assert_int_equal(regstore_blob_stat(f->s, "dst", &d, &size), -ENOENT);
	assert_int_equal(regstore_blob_mount(f->s, "dst", "elsewhere", &d, &size, NULL), -ENOENT);
	OK(regstore_blob_mount(f->s, "dst", "src", &d, &size, err));
	assert_int_equal(size, 12);
	OK(regstore_blob_stat(f->s, "dst", &d, &size));
	/* Without "from": any blob of the registry. */
	OK(regstore_blob_mount(f->s, "third", NULL, &d, &size, err));
	struct digest none;
	digest_of("nope", 4, &none);
	assert_int_equal(regstore_blob_mount(f->s, "third", NULL, &none, &size, NULL), -ENOENT);
	/* Deleting unlinks from one repository only. */
	OK(regstore_blob_delete(f->s, "dst", &d));
	assert_int_equal(regstore_blob_stat(f->s, "dst", &d, &size), -ENOENT);
	assert_int_equal(regstore_blob_delete(f->s, "dst", &d), -ENOENT);
	OK(regstore_blob_stat(f->s, "src", &d, &size));
}

/* A manifest referencing config and layer (both pushed to name); returns its text. */
static char *make_manifest(const char *config, const char *layer, const char *subject,
			   const char *artifact_type)
{
	char *m = NULL;
	char extra[512] = "";
	if (subject)
		snprintf(extra, sizeof(extra),
			 ",\"subject\":{\"mediaType\":\"application/"
			 "vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":10}",
			 subject);
	if (artifact_type)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			 ",\"artifactType\":\"%s\",\"annotations\":{\"k\":\"v\"}", artifact_type);
	int n = asprintf(&m,
			 "{\"schemaVersion\":2,\"mediaType\":\"" REGSRV_MT_OCI_MANIFEST_S "\","
			 "\"config\":{\"mediaType\":\"application/"
			 "vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":2},"
			 "\"layers\":[{\"mediaType\":\"application/"
			 "vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":5}]%s}",
			 config, layer, extra);
	assert_true(n > 0);
	return m;
}

static void put_manifest(struct fixture *f, const char *name, const char *text, const char *tag,
			 char *ds)
{
	struct regsrv_manifest m;
	struct digest d;
	OK(regsrv_manifest_parse(text, strlen(text), NULL, &m, err));
	digest_of(text, strlen(text), &d);
	const char *tags[] = {tag};
	OK(regstore_manifest_put(f->s, name, &d, text, strlen(text), &m.blobs, &m.manifests, tags,
				 tag ? 1 : 0, NULL, err));
	regsrv_manifest_free(&m);
	digest_format(&d, ds);
}

static void test_manifests_and_tags(void **state)
{
	struct fixture *f = *state;
	char cfg[DIGEST_STR_MAX], layer[DIGEST_STR_MAX], md[DIGEST_STR_MAX];
	put_blob(f, "app", "{}", cfg);
	_cleanup_free_ char *missing_text = make_manifest(
	    cfg, "sha256:0000000000000000000000000000000000000000000000000000000000000000", NULL,
	    NULL);
	struct regsrv_manifest m;
	OK(regsrv_manifest_parse(missing_text, strlen(missing_text), REGSRV_MT_OCI_MANIFEST_S, &m,
				 err));
	struct digest d;
	digest_of(missing_text, strlen(missing_text), &d);
	_cleanup_strv_ struct strv missing = STRV_INIT;
	const char *tags[] = {"v1"};
	struct berr *e = NULL;
	assert_int_equal(regstore_manifest_put(f->s, "app", &d, missing_text, strlen(missing_text),
					       &m.blobs, &m.manifests, tags, 1, &missing, &e),
			 -ENOENT);
	berr_free(e);
	regsrv_manifest_free(&m);
	assert_int_equal(missing.n, 1);
	assert_string_equal(
	    missing.v[0],
	    "sha256:0000000000000000000000000000000000000000000000000000000000000000");
	/* Nothing was written. */
	assert_false(exists(f, V2 "repositories/app/_manifests"));

	put_blob(f, "app", "layer", layer);
	_cleanup_free_ char *text = make_manifest(cfg, layer, NULL, NULL);
	put_manifest(f, "app", text, "v1", md);
	char path[512];
	digest_parse(md, &d, NULL);
	snprintf(path, sizeof(path), V2 "repositories/app/_manifests/tags/v1/current/link");
	_cleanup_free_ char *cur = slurp(f, path);
	assert_string_equal(cur, md);
	snprintf(path, sizeof(path), V2 "repositories/app/_manifests/tags/v1/index/sha256/%s/link",
		 d.hex);
	_cleanup_free_ char *idx = slurp(f, path);
	assert_string_equal(idx, md);
	snprintf(path, sizeof(path), V2 "repositories/app/_manifests/revisions/sha256/%s/link",
		 d.hex);
	_cleanup_free_ char *rev = slurp(f, path);
	assert_string_equal(rev, md);

	struct digest t;
	OK(regstore_tag_resolve(f->s, "app", "v1", &t));
	assert_true(digest_equal(&t, &d));
	_cleanup_free_ char *back = NULL;
	size_t len;
	OK(regstore_manifest_get(f->s, "app", &d, &back, &len));
	assert_int_equal(len, strlen(text));
	assert_memory_equal(back, text, len);
	assert_true(regstore_manifest_exists(f->s, "app", &d));
	assert_int_equal(regstore_manifest_get(f->s, "other", &d, &back, &len), -ENOENT);

	/* More tags, listed sorted bytewise; "B" < "a". */
	const char *more[] = {"latest", "B", "a"};
	OK(regsrv_manifest_parse(text, strlen(text), NULL, &m, err));
	OK(regstore_manifest_put(f->s, "app", &d, text, strlen(text), &m.blobs, &m.manifests, more,
				 3, NULL, err));
	regsrv_manifest_free(&m);
	_cleanup_strv_ struct strv all = STRV_INIT;
	OK(regstore_tags(f->s, "app", &all));
	assert_int_equal(all.n, 4);
	assert_string_equal(all.v[0], "B");
	assert_string_equal(all.v[1], "a");
	assert_string_equal(all.v[2], "latest");
	assert_string_equal(all.v[3], "v1");
	_cleanup_strv_ struct strv none = STRV_INIT;
	assert_int_equal(regstore_tags(f->s, "nothing", &none), -ENOENT);

	OK(regstore_tag_delete(f->s, "app", "B", err));
	assert_int_equal(regstore_tag_delete(f->s, "app", "B", NULL), -ENOENT);
	assert_false(exists(f, V2 "repositories/app/_manifests/tags/B"));
	/* Deleting the manifest takes the tags pointing at it along. */
	OK(regstore_manifest_delete(f->s, "app", &d, err));
	assert_false(regstore_manifest_exists(f->s, "app", &d));
	_cleanup_strv_ struct strv after = STRV_INIT;
	OK(regstore_tags(f->s, "app", &after));
	assert_int_equal(after.n, 0);
	assert_int_equal(regstore_manifest_delete(f->s, "app", &d, NULL), -ENOENT);
}

static void test_index_needs_children(void **state)
{
	struct fixture *f = *state;
	char cfg[DIGEST_STR_MAX], layer[DIGEST_STR_MAX], child[DIGEST_STR_MAX], idx[DIGEST_STR_MAX];
	put_blob(f, "multi", "{}", cfg);
	put_blob(f, "multi", "layer", layer);
	_cleanup_free_ char *text = make_manifest(cfg, layer, NULL, NULL);
	struct digest cd;
	digest_of(text, strlen(text), &cd);
	digest_format(&cd, child);
	char index[1024];
	snprintf(index, sizeof(index),
		 "{\"schemaVersion\":2,\"mediaType\":\"" REGSRV_MT_OCI_INDEX_S
		 "\",\"manifests\":[{\"mediaType\":\"" REGSRV_MT_OCI_MANIFEST_S
		 "\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\","
		 "\"architecture\":\"amd64\"}}]}",
		 child, strlen(text));
	struct regsrv_manifest m;
	OK(regsrv_manifest_parse(index, strlen(index), NULL, &m, err));
	assert_int_equal(m.type, REGSRV_MT_OCI_INDEX);
	struct digest d;
	digest_of(index, strlen(index), &d);
	_cleanup_strv_ struct strv missing = STRV_INIT;
	struct berr *e = NULL;
	assert_int_equal(regstore_manifest_put(f->s, "multi", &d, index, strlen(index), &m.blobs,
					       &m.manifests, NULL, 0, &missing, &e),
			 -ENOENT);
	berr_free(e);
	assert_int_equal(missing.n, 1);
	put_manifest(f, "multi", text, NULL, child);
	OK(regstore_manifest_put(f->s, "multi", &d, index, strlen(index), &m.blobs, &m.manifests,
				 NULL, 0, NULL, err));
	regsrv_manifest_free(&m);
	digest_format(&d, idx);
	assert_true(regstore_manifest_exists(f->s, "multi", &d));
}

static void test_catalog_order(void **state)
{
	struct fixture *f = *state;
	const char *names[] = {"a-b", "a/b", "a", "b/c/d", "a.b", "0"};
	char cfg[DIGEST_STR_MAX], layer[DIGEST_STR_MAX], md[DIGEST_STR_MAX];
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		put_blob(f, names[i], "{}", cfg);
		put_blob(f, names[i], "layer", layer);
		_cleanup_free_ char *text = make_manifest(cfg, layer, NULL, NULL);
		put_manifest(f, names[i], text, "t", md);
	}
	/* Blobs only, no manifest yet: not a repository of the catalog. */
	put_blob(f, "pending/push", "data", cfg);
	_cleanup_strv_ struct strv repos = STRV_INIT;
	OK(regstore_catalog(f->s, &repos));
	/* distribution's order: by path component, "/" before any other byte. */
	const char *want[] = {"0", "a", "a/b", "a-b", "a.b", "b/c/d"};
	assert_int_equal(repos.n, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_string_equal(repos.v[i], want[i]);
	assert_true(regstore_name_cmp("a/b", "a-b") < 0);
	assert_true(regstore_name_cmp("a", "a/b") < 0);
	assert_int_equal(regstore_name_cmp("x/y", "x/y"), 0);
}

static void test_referrers(void **state)
{
	struct fixture *f = *state;
	char cfg[DIGEST_STR_MAX], layer[DIGEST_STR_MAX], subj[DIGEST_STR_MAX], sig[DIGEST_STR_MAX],
	    sbom[DIGEST_STR_MAX];
	put_blob(f, "r", "{}", cfg);
	put_blob(f, "r", "layer", layer);
	_cleanup_free_ char *base = make_manifest(cfg, layer, NULL, NULL);
	put_manifest(f, "r", base, "v1", subj);
	_cleanup_free_ char *s1 = make_manifest(cfg, layer, subj, "application/vnd.example.sig");
	_cleanup_free_ char *s2 = make_manifest(cfg, layer, subj, "application/vnd.example.sbom");
	put_manifest(f, "r", s1, NULL, sig);
	put_manifest(f, "r", s2, NULL, sbom);
	struct digest sd;
	digest_parse(subj, &sd, NULL);
	json_t *list;
	OK(regstore_referrers(f->s, "r", &sd, NULL, &list, err));
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	OK(regstore_referrers(f->s, "r", &sd, "application/vnd.example.sbom", &list, err));
	assert_int_equal(json_array_size(list), 1);
	json_t *e = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(e, "digest")), sbom);
	assert_string_equal(json_string_value(json_object_get(e, "artifactType")),
			    "application/vnd.example.sbom");
	assert_string_equal(json_string_value(json_object_get(e, "mediaType")),
			    REGSRV_MT_OCI_MANIFEST_S);
	assert_int_equal(json_integer_value(json_object_get(e, "size")), (json_int_t)strlen(s2));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(e, "annotations"), "k")), "v");
	json_decref(list);
	/* Unknown repository: no referrers, no error. */
	OK(regstore_referrers(f->s, "nowhere", &sd, NULL, &list, err));
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

/* Set a file's mtime into the past (older than any grace period the test uses). */
static void age(struct fixture *f, const char *path)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", f->root, path);
	struct timespec ts[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static void age_blob(struct fixture *f, const char *ds)
{
	struct digest d;
	char p[512];
	digest_parse(ds, &d, NULL);
	snprintf(p, sizeof(p), V2 "blobs/sha256/%.2s/%s/data", d.hex, d.hex);
	age(f, p);
}

static void age_revision(struct fixture *f, const char *name, const char *ds)
{
	struct digest d;
	char p[512];
	digest_parse(ds, &d, NULL);
	snprintf(p, sizeof(p), V2 "repositories/%s/_manifests/revisions/sha256/%s/link", name,
		 d.hex);
	age(f, p);
	age_blob(f, ds);
}

struct events {
	int deleted_blobs, deleted_manifests, deleted_links, deleted_uploads;
};

static void count(void *cls, enum regstore_gc_event ev, const char *repo, const char *what)
{
	struct events *e = cls;
	(void)repo;
	(void)what;
	e->deleted_blobs += ev == REGSTORE_GC_DELETE_BLOB;
	e->deleted_manifests += ev == REGSTORE_GC_DELETE_MANIFEST;
	e->deleted_links += ev == REGSTORE_GC_DELETE_LINK;
	e->deleted_uploads += ev == REGSTORE_GC_DELETE_UPLOAD;
}

static void test_gc(void **state)
{
	struct fixture *f = *state;
	char cfg[DIGEST_STR_MAX], layer[DIGEST_STR_MAX], md[DIGEST_STR_MAX], orphan[DIGEST_STR_MAX],
	    fresh[DIGEST_STR_MAX];
	put_blob(f, "g", "{}", cfg);
	put_blob(f, "g", "layer", layer);
	_cleanup_free_ char *text = make_manifest(cfg, layer, NULL, NULL);
	put_manifest(f, "g", text, "v1", md);
	put_blob(f, "g", "nobody uses me", orphan);
	put_blob(f, "g", "pushed a moment ago", fresh);
	age_blob(f, cfg);
	age_blob(f, layer);
	age_revision(f, "g", md);
	age_blob(f, orphan);
	/* A stale upload (older than the limit) and a current one. */
	struct regstore_upload *u;
	OK(regstore_upload_start(f->s, "g", DIGEST_SHA256, &u, err));
	char stale[64], path[512];
	snprintf(stale, sizeof(stale), "%s", regstore_upload_uuid(u));
	regstore_upload_release(u);
	snprintf(path, sizeof(path), "%s/" V2 "repositories/g/_uploads/%s/startedat", f->root,
		 stale);
	FILE *fp = fopen(path, "w");
	fputs("2001-01-01T00:00:00Z", fp);
	fclose(fp);

	struct regstore_gc_opts o = {.dry_run = 1, .grace_seconds = 3600, .upload_max_age = 86400};
	struct regstore_gc_stats st;
	struct events ev = {0};
	OK(regstore_gc(f->s, &o, count, &ev, &st, err));
	assert_int_equal(ev.deleted_blobs, 1);
	assert_int_equal(ev.deleted_links, 1);
	assert_int_equal(ev.deleted_uploads, 1);
	struct digest od;
	digest_parse(orphan, &od, NULL);
	uint64_t size;
	OK(regstore_blob_stat(f->s, "g", &od, &size)); /* dry run: still there */

	o.dry_run = 0;
	memset(&ev, 0, sizeof(ev));
	OK(regstore_gc(f->s, &o, count, &ev, &st, err));
	assert_int_equal(st.blobs_deleted, 1);
	assert_int_equal(st.bytes_freed, strlen("nobody uses me"));
	assert_int_equal(regstore_blob_stat(f->s, "g", &od, &size), -ENOENT);
	char p2[512];
	snprintf(p2, sizeof(p2), V2 "blobs/sha256/%.2s/%s", od.hex, od.hex);
	assert_false(exists(f, p2));
	snprintf(p2, sizeof(p2), V2 "repositories/g/_layers/sha256/%s", od.hex);
	assert_false(exists(f, p2));
	snprintf(p2, sizeof(p2), V2 "repositories/g/_uploads/%s", stale);
	assert_false(exists(f, p2));
	struct digest fd_, md_, ld, cd;
	digest_parse(fresh, &fd_, NULL);
	digest_parse(md, &md_, NULL);
	digest_parse(layer, &ld, NULL);
	digest_parse(cfg, &cd, NULL);
	OK(regstore_blob_stat(f->s, "g", &fd_, &size)); /* younger than the grace period */
	OK(regstore_blob_stat(f->s, "g", &ld, &size));
	OK(regstore_blob_stat(f->s, "g", &cd, &size));
	assert_true(regstore_manifest_exists(f->s, "g", &md_));

	/* No grace: the fresh orphan goes too. */
	o.grace_seconds = 0;
	OK(regstore_gc(f->s, &o, NULL, NULL, &st, err));
	assert_int_equal(regstore_blob_stat(f->s, "g", &fd_, &size), -ENOENT);
	OK(regstore_blob_stat(f->s, "g", &ld, &size));
}

static void test_gc_untagged(void **state)
{
	struct fixture *f = *state;
	char cfg[DIGEST_STR_MAX], layer[DIGEST_STR_MAX], l2[DIGEST_STR_MAX], tagged[DIGEST_STR_MAX],
	    old[DIGEST_STR_MAX], child[DIGEST_STR_MAX], idx[DIGEST_STR_MAX], sig[DIGEST_STR_MAX];
	put_blob(f, "u", "{}", cfg);
	put_blob(f, "u", "layer", layer);
	put_blob(f, "u", "old layer", l2);
	_cleanup_free_ char *t1 = make_manifest(cfg, layer, NULL, NULL);
	put_manifest(f, "u", t1, "v1", tagged);
	_cleanup_free_ char *t2 = make_manifest(cfg, l2, NULL, NULL);
	put_manifest(f, "u", t2, NULL, old); /* untagged */
	/* An index, tagged, whose child is untagged. */
	_cleanup_free_ char *t3 = make_manifest(layer, cfg, NULL, NULL);
	put_manifest(f, "u", t3, NULL, child);
	char index[1024];
	snprintf(index, sizeof(index),
		 "{\"schemaVersion\":2,\"mediaType\":\"" REGSRV_MT_OCI_INDEX_S
		 "\",\"manifests\":[{\"mediaType\":\"" REGSRV_MT_OCI_MANIFEST_S
		 "\",\"digest\":\"%s\",\"size\":%zu}]}",
		 child, strlen(t3));
	put_manifest(f, "u", index, "multi", idx);
	/* A signature of the tagged image, untagged itself. */
	_cleanup_free_ char *t4 = make_manifest(cfg, layer, tagged, "application/vnd.example.sig");
	put_manifest(f, "u", t4, NULL, sig);
	const char *all[] = {cfg, layer, l2};
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		age_blob(f, all[i]);
	const char *revs[] = {tagged, old, child, idx, sig};
	for (size_t i = 0; i < ARRAY_SIZE(revs); i++)
		age_revision(f, "u", revs[i]);

	struct regstore_gc_opts o = {
	    .delete_untagged = 1, .grace_seconds = 60, .upload_max_age = 86400};
	struct regstore_gc_stats st;
	OK(regstore_gc(f->s, &o, NULL, NULL, &st, err));
	assert_int_equal(st.manifests_deleted, 1);
	struct digest d;
	uint64_t size;
	digest_parse(old, &d, NULL);
	assert_false(regstore_manifest_exists(f->s, "u", &d));
	digest_parse(l2, &d, NULL);
	assert_int_equal(regstore_blob_stat(f->s, "u", &d, &size), -ENOENT);
	const char *kept[] = {tagged, child, idx, sig};
	for (size_t i = 0; i < ARRAY_SIZE(kept); i++) {
		digest_parse(kept[i], &d, NULL);
		assert_true(regstore_manifest_exists(f->s, "u", &d));
	}
}

struct tag_race {
	struct regstore *s;
	const char *text;
	const struct regsrv_manifest *m;
	int fails;
};

static void *tag_writer(void *arg)
{
	struct tag_race *t = arg;
	struct digest d;
	digest_buffer(DIGEST_SHA256, t->text, strlen(t->text), &d);
	const char *tags[] = {"race"};
	for (int i = 0; i < 50; i++)
		if (regstore_manifest_put(t->s, "race", &d, t->text, strlen(t->text), &t->m->blobs,
					  &t->m->manifests, tags, 1, NULL, NULL) < 0)
			t->fails++;
	return NULL;
}

static void test_concurrent_tag_writers(void **state)
{
	struct fixture *f = *state;
	char cfg[DIGEST_STR_MAX], l1[DIGEST_STR_MAX], l2[DIGEST_STR_MAX];
	put_blob(f, "race", "{}", cfg);
	put_blob(f, "race", "layer one", l1);
	put_blob(f, "race", "layer two", l2);
	_cleanup_free_ char *a = make_manifest(cfg, l1, NULL, NULL);
	/* Two writers of one tag: the link must end up as one of the two, never a mix. */
	_cleanup_free_ char *b = make_manifest(cfg, l2, NULL, NULL);
	struct regsrv_manifest ma, mb;
	OK(regsrv_manifest_parse(a, strlen(a), NULL, &ma, err));
	OK(regsrv_manifest_parse(b, strlen(b), NULL, &mb, err));
	struct tag_race ta = {f->s, a, &ma, 0}, tb = {f->s, b, &mb, 0};
	pthread_t x, y;
	pthread_create(&x, NULL, tag_writer, &ta);
	pthread_create(&y, NULL, tag_writer, &tb);
	pthread_join(x, NULL);
	pthread_join(y, NULL);
	assert_int_equal(ta.fails + tb.fails, 0);
	struct digest t, da, db;
	OK(regstore_tag_resolve(f->s, "race", "race", &t));
	digest_buffer(DIGEST_SHA256, a, strlen(a), &da);
	digest_buffer(DIGEST_SHA256, b, strlen(b), &db);
	assert_true(digest_equal(&t, &da) || digest_equal(&t, &db));
	regsrv_manifest_free(&ma);
	regsrv_manifest_free(&mb);
	/* No temp file was left behind. */
	_cleanup_strv_ struct strv left = STRV_INIT;
	char p[512];
	snprintf(p, sizeof(p), "%s/" V2 "repositories/race/_manifests/tags/race/current", f->root);
	DIR *dir = opendir(p);
	assert_non_null(dir);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(dir)))
		n += de->d_name[0] != '.' || strncmp(de->d_name, ".tmp", 4) == 0;
	closedir(dir);
	assert_int_equal(n, 1);
}

static void test_open_missing(void **state)
{
	struct fixture *f = *state;
	char p[128];
	snprintf(p, sizeof(p), "%s/none", f->dir);
	struct regstore *s;
	struct berr *e = NULL;
	assert_int_equal(regstore_open(p, 0, &s, &e), -ENOENT);
	assert_non_null(e);
	berr_free(e);
	mkdir(p, 0755);
	e = NULL;
	assert_int_equal(regstore_open(p, 0, &s, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "no registry"));
	berr_free(e);
}

/* ---- names, routes, ranges ---- */

static void test_names(void **state)
{
	(void)state;
	const char *good[] = {"a",     "library/nginx", "a0/b-c/d.e", "a__b",
			      "a---b", "x_y.z-w",	"0",	      "a/b/c/d/e/f"};
	const char *bad[] = {"",    "A",     "a/",  "/a",  "a//b",   "a..b",  "a___b",
			     "-a",  "a-",    "_a",  "..",  "a/../b", "a/./b", "a/_manifests",
			     "a b", "a%2fb", "a:b", "a/B", ".a",     "a.",    "a/-b"};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		if (!regsrv_name_valid(good[i]))
			fail_msg("'%s' should be valid", good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (regsrv_name_valid(bad[i]))
			fail_msg("'%s' should be invalid", bad[i]);
	char longname[300];
	memset(longname, 'a', 255);
	longname[255] = '\0';
	assert_true(regsrv_name_valid(longname));
	longname[255] = 'a';
	longname[256] = '\0';
	assert_false(regsrv_name_valid(longname));

	assert_true(regsrv_tag_valid("latest"));
	assert_true(regsrv_tag_valid("_x"));
	assert_true(regsrv_tag_valid("V1.2-rc_3"));
	assert_false(regsrv_tag_valid(".x"));
	assert_false(regsrv_tag_valid("-x"));
	assert_false(regsrv_tag_valid(".."));
	assert_false(regsrv_tag_valid("a/b"));
	assert_false(regsrv_tag_valid(""));
	char tag[200];
	memset(tag, 't', 128);
	tag[128] = '\0';
	assert_true(regsrv_tag_valid(tag));
	tag[128] = 't';
	tag[129] = '\0';
	assert_false(regsrv_tag_valid(tag));

	assert_true(regsrv_uuid_valid("0123abcd-0000-4000-8000-0123456789ab"));
	assert_false(regsrv_uuid_valid("0123ABCD-0000-4000-8000-0123456789ab"));
	assert_false(regsrv_uuid_valid("../../../../etc/passwd-0000000000000"));
	assert_false(regsrv_uuid_valid("0123abcd-0000-4000-8000-0123456789a"));
}

static void test_routes(void **state)
{
	(void)state;
	struct regsrv_route r;
	const char *dg = "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
	char p[512];
	static const struct {
		const char *path;
		enum regsrv_route_kind kind;
		enum regsrv_route_error error;
		const char *name, *ref;
	} cases[] = {
	    {"/v2/", REGSRV_ROUTE_BASE, 0, "", ""},
	    {"/v2", REGSRV_ROUTE_BASE, 0, "", ""},
	    {"/token", REGSRV_ROUTE_TOKEN, 0, "", ""},
	    {"/v2/_catalog", REGSRV_ROUTE_CATALOG, 0, "", ""},
	    {"/v2/a/b/tags/list", REGSRV_ROUTE_TAGS, 0, "a/b", ""},
	    {"/v2/a/manifests/latest", REGSRV_ROUTE_MANIFEST, 0, "a", "latest"},
	    {"/v2/a/blobs/manifests/x", REGSRV_ROUTE_MANIFEST, 0, "a/blobs", "x"},
	    {"/v2/a/blobs/uploads/", REGSRV_ROUTE_UPLOAD_START, 0, "a", ""},
	    {"/v2/a/blobs/uploads", REGSRV_ROUTE_UPLOAD_START, 0, "a", ""},
	    {"/v2/a/b/blobs/uploads/0123abcd-0000-4000-8000-0123456789ab", REGSRV_ROUTE_UPLOAD, 0,
	     "a/b", "0123abcd-0000-4000-8000-0123456789ab"},
	    {"/v2/a/blobs/uploads/../../x", REGSRV_ROUTE_NONE, 0, "", ""},
	    {"/v2/a/blobs/uploads/nope", REGSRV_ROUTE_UPLOAD, REGSRV_ROUTE_UUID_INVALID, "a", ""},
	    {"/v2/../../etc/manifests/x", REGSRV_ROUTE_MANIFEST, REGSRV_ROUTE_NAME_INVALID, "",
	     "x"},
	    {"/v2/A/manifests/x", REGSRV_ROUTE_MANIFEST, REGSRV_ROUTE_NAME_INVALID, "", "x"},
	    {"/v2/a/manifests/sha256:baddigeststring", REGSRV_ROUTE_MANIFEST,
	     REGSRV_ROUTE_DIGEST_INVALID, "a", "sha256:baddigeststring"},
	    {"/v2/a/manifests/.hidden", REGSRV_ROUTE_MANIFEST, REGSRV_ROUTE_TAG_INVALID, "a", ""},
	    {"/v2/a/blobs/latest", REGSRV_ROUTE_BLOB, REGSRV_ROUTE_DIGEST_INVALID, "a", "latest"},
	    {"/v2/a/referrers/x", REGSRV_ROUTE_REFERRERS, REGSRV_ROUTE_DIGEST_INVALID, "a", "x"},
	    {"/v2/a/unknown/x", REGSRV_ROUTE_NONE, 0, "", ""},
	    {"/v2/manifests/x", REGSRV_ROUTE_NONE, 0, "", ""},
	    {"/v3/a/manifests/x", REGSRV_ROUTE_NONE, 0, "", ""},
	    {"/v2//manifests/x", REGSRV_ROUTE_MANIFEST, REGSRV_ROUTE_NAME_INVALID, "", "x"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum regsrv_route_kind k = regsrv_route_parse(cases[i].path, &r);
		if (k != cases[i].kind || r.error != cases[i].error ||
		    strcmp(r.name, cases[i].name) != 0 || strcmp(r.ref, cases[i].ref) != 0)
			fail_msg("'%s': kind %d error %d name '%s' ref '%s'", cases[i].path, k,
				 r.error, r.name, r.ref);
	}
	snprintf(p, sizeof(p), "/v2/x/y/blobs/%s", dg);
	assert_int_equal(regsrv_route_parse(p, &r), REGSRV_ROUTE_BLOB);
	assert_int_equal(r.error, 0);
	assert_true(r.ref_is_digest);
	assert_string_equal(r.ref, dg);
	snprintf(p, sizeof(p), "/v2/x/manifests/%s", dg);
	assert_int_equal(regsrv_route_parse(p, &r), REGSRV_ROUTE_MANIFEST);
	assert_true(r.ref_is_digest);
	assert_int_equal(r.error, 0);
}

static void test_ranges(void **state)
{
	(void)state;
	uint64_t a, n;
	assert_int_equal(regsrv_range_parse("bytes=500-1499", 2000, &a, &n), 1);
	assert_int_equal(a, 500);
	assert_int_equal(n, 1000);
	assert_int_equal(regsrv_range_parse("bytes=500-", 2000, &a, &n), 1);
	assert_int_equal(n, 1500);
	assert_int_equal(regsrv_range_parse("bytes=-500", 2000, &a, &n), 1);
	assert_int_equal(a, 1500);
	assert_int_equal(regsrv_range_parse("bytes=-5000", 2000, &a, &n), 1);
	assert_int_equal(a, 0);
	assert_int_equal(n, 2000);
	assert_int_equal(regsrv_range_parse("bytes=1000-5000", 2000, &a, &n), 1);
	assert_int_equal(n, 1000);
	assert_int_equal(regsrv_range_parse("bytes=500-0", 2000, &a, &n), -ERANGE);
	assert_int_equal(regsrv_range_parse("bytes=5000-10000", 2000, &a, &n), -ERANGE);
	assert_int_equal(regsrv_range_parse("bytes=-0", 2000, &a, &n), -ERANGE);
	assert_int_equal(regsrv_range_parse("bytes=0-0", 0, &a, &n), -ERANGE);
	assert_int_equal(regsrv_range_parse("bytes=0-1,5-6", 2000, &a, &n), 0);
	assert_int_equal(regsrv_range_parse("items=0-1", 2000, &a, &n), 0);
	assert_int_equal(regsrv_range_parse("bytes=x-1", 2000, &a, &n), 0);
	assert_int_equal(regsrv_range_parse("bytes=99999999999999999999-", 2000, &a, &n), 0);
	assert_int_equal(regsrv_range_parse(NULL, 2000, &a, &n), 0);

	uint64_t s, e;
	assert_int_equal(regsrv_content_range_parse("0-99", &s, &e), 0);
	assert_int_equal(s, 0);
	assert_int_equal(e, 99);
	assert_int_equal(regsrv_content_range_parse("bytes 100-199/*", &s, &e), 0);
	assert_int_equal(s, 100);
	assert_int_equal(regsrv_content_range_parse("bytes 100-199/500", &s, &e), 0);
	assert_int_equal(regsrv_content_range_parse("bytes 100-199/150", &s, &e), -EINVAL);
	assert_int_equal(regsrv_content_range_parse("5-4", &s, &e), -EINVAL);
	assert_int_equal(regsrv_content_range_parse("5-", &s, &e), -EINVAL);
	assert_int_equal(regsrv_content_range_parse("-5", &s, &e), -EINVAL);
	assert_int_equal(regsrv_content_range_parse("0-99x", &s, &e), -EINVAL);
}

static void test_manifest_parse(void **state)
{
	(void)state;
	struct regsrv_manifest m;
	struct berr *e = NULL;
	const char *cfgd =
	    "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
	char doc[1024];
	snprintf(doc, sizeof(doc),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"x\","
		 "\"digest\":\"%s\",\"size\":1},\"layers\":[{\"mediaType\":\"l\",\"digest\":\"%s\","
		 "\"size\":1},{\"mediaType\":\"f\",\"digest\":\"sha256:"
		 "1111111111111111111111111111111111111111111111111111111111111111\",\"size\":1,"
		 "\"urls\":[\"http://x\"]}]}",
		 REGSRV_MT_DOCKER_MANIFEST_S, cfgd, cfgd);
	OK(regsrv_manifest_parse(doc, strlen(doc), REGSRV_MT_DOCKER_MANIFEST_S "; charset=utf-8",
				 &m, err));
	assert_int_equal(m.type, REGSRV_MT_DOCKER_MANIFEST);
	assert_int_equal(m.blobs.n, 1); /* the duplicate once, the foreign layer not */
	assert_string_equal(m.artifact_type, "x");
	regsrv_manifest_free(&m);
	/* Content-Type and mediaType disagree. */
	assert_int_equal(regsrv_manifest_parse(doc, strlen(doc), REGSRV_MT_OCI_MANIFEST_S, &m, &e),
			 -EINVAL);
	assert_non_null(strstr(e->msg, "does not match"));
	berr_free(e);
	e = NULL;
	assert_int_equal(regsrv_manifest_parse(doc, strlen(doc), "text/plain", &m, &e), -EINVAL);
	berr_free(e);
	e = NULL;
	const char *bad[] = {
	    "[]",
	    "{\"schemaVersion\":1}",
	    "{\"schemaVersion\":2,\"config\":{\"digest\":1,\"size\":1},\"layers\":[]}",
	    "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:x\",\"size\":1},\"layers\":[]}",
	    "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:"
	    "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9\",\"size\":-1},"
	    "\"layers\":[]}",
	    "{\"schemaVersion\":2,\"manifests\":{}}",
	    "{\"schemaVersion\":2,\"manifests\":[1]}",
	    "{\"schemaVersion\":\"2\",\"manifests\":[]}",
	    "{\"schemaVersion\":2,\"mediaType\":7,\"manifests\":[]}",
	    "{\"schemaVersion\":2,\"mediaType\":\"application/"
	    "vnd.oci.image.index.v1+json\",\"config\":{}}",
	    "{\"schemaVersion\":2,\"manifests\":[],\"subject\":\"x\"}",
	    "{\"schemaVersion\":2,\"manifests\":[],\"annotations\":[]}",
	    "{\"schemaVersion\":2,\"mediaType\":\"application/"
	    "vnd.docker.distribution.manifest.v1+json\"}",
	    "not json",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (regsrv_manifest_parse(bad[i], strlen(bad[i]), NULL, &m, &e) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(e);
		berr_free(e);
		e = NULL;
	}
	const char *idx = "{\"schemaVersion\":2,\"manifests\":[]}";
	OK(regsrv_manifest_parse(idx, strlen(idx), NULL, &m, err));
	assert_int_equal(m.type, REGSRV_MT_OCI_INDEX);
	regsrv_manifest_free(&m);
	assert_int_equal(regsrv_manifest_sniff(idx, strlen(idx)), REGSRV_MT_OCI_INDEX);
	assert_int_equal(regsrv_manifest_sniff("[1]", 3), REGSRV_MT_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_upload_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upload_digest_mismatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upload_after_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upload_truncate_and_sha512, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mount, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_manifests_and_tags, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_index_needs_children, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_catalog_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_referrers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gc_untagged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_tag_writers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_missing, setup, teardown),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_routes),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_manifest_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
