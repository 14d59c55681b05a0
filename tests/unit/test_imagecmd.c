/* The image commands' shared code (src/cmd/imagecmd.c): Go's path.Match, docker's filter
 * sets, go-units sizes, Go time strings, and docker's delete semantics run against a real
 * store, including parent chains that the CLI tests can not build yet (no commit/build). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "digest.h"
#include "fs.h"
#include "store.h"
/* The command layer has no include directory of its own in the unit tests. */
#include "../../src/cmd/imagecmd.h"

/* ---- path.Match ---- */

static void test_path_match(void **state)
{
	static const struct {
		const char *pattern, *name;
		int want;
	} cases[] = {
		{"abc", "abc", 1},
		{"*", "abc", 1},
		{"*c", "abc", 1},
		{"a*", "a", 1},
		{"a*", "abc", 1},
		{"a*", "ab/c", 0},
		{"a*/b", "abc/b", 1},
		{"a*/b", "a/c/b", 0},
		{"a*b*c*d*e*/f", "axbxcxdxe/f", 1},
		{"a*b*c*d*e*/f", "axbxcxdxexxx/f", 1},
		{"a*b*c*d*e*/f", "axbxcxdxe/xxx/f", 0},
		{"a*b*c*d*e*/f", "axbxcxdxexxx/fff", 0},
		{"a*b?c*x", "abxbbxdbxebxczzx", 1},
		{"a*b?c*x", "abxbbxdbxebxczzy", 0},
		{"ab[c]", "abc", 1},
		{"ab[b-d]", "abc", 1},
		{"ab[e-g]", "abc", 0},
		{"ab[^c]", "abc", 0},
		{"ab[^b-d]", "abc", 0},
		{"ab[^e-g]", "abc", 1},
		{"a\\*b", "a*b", 1},
		{"a\\*b", "ab", 0},
		{"a?b", "a/b", 0},
		{"a*b", "a/b", 0},
		{"[\\]a]", "]", 1},
		{"[\\-]", "-", 1},
		{"[x\\-]", "x", 1},
		{"[x\\-]", "-", 1},
		{"[x\\-]", "z", 0},
		{"*x", "xxx", 1},
		{"busybox:m*", "busybox:musl", 1},
		{"localhost:5000/*/*", "localhost:5000/team/tool:2", 1},
		/* Malformed patterns are errors, also after a mismatch. */
		{"[]a]", "]", -EINVAL},
		{"[-]", "-", -EINVAL},
		{"[x-]", "x", -EINVAL},
		{"[-x]", "x", -EINVAL},
		{"\\", "a", -EINVAL},
		{"[a-b-c]", "a", -EINVAL},
		{"[", "a", -EINVAL},
		{"[^", "a", -EINVAL},
		{"[^bc", "a", -EINVAL},
		{"a[", "a", -EINVAL},
		{"a[", "ab", -EINVAL},
		{"a[", "x", -EINVAL},
		{"a/b[", "x", -EINVAL},
		{"*x[", "xxx", -EINVAL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int got = imgcmd_path_match(cases[i].pattern, cases[i].name);
		if (got != cases[i].want)
			fail_msg("match('%s', '%s') = %d, want %d", cases[i].pattern, cases[i].name,
				 got, cases[i].want);
	}
}

/* ---- filters ---- */

static void test_filters(void **state)
{
	struct imgcmd_filters f = {0};
	struct berr *err = NULL;
	assert_int_equal(imgcmd_filters_add(&f, " Label = x=y ", &err), 0);
	assert_int_equal(imgcmd_filters_add(&f, "label=x=y", &err), 0); /* a repeat: one value */
	assert_int_equal(imgcmd_filters_add(&f, "label=env", &err), 0);
	assert_int_equal(imgcmd_filters_add(&f, "", &err), 0); /* ignored, as docker does */
	assert_int_equal(imgcmd_filters_add(&f, "dangling=maybe", &err), 0);
	assert_int_equal(imgcmd_filters_add(&f, "nonsense", &err), -EINVAL);
	assert_string_equal(err->msg, "bad format of filter (expected name=value)");
	berr_freep(&err);

	const struct strv *v = imgcmd_filters_get(&f, "label");
	assert_non_null(v);
	assert_int_equal(v->n, 2);
	assert_string_equal(v->v[0], "x=y");
	assert_null(imgcmd_filters_get(&f, "before"));

	static const char *const accepted[] = {"label", "dangling", NULL};
	assert_int_equal(imgcmd_filters_validate(&f, accepted, &err), 0);
	static const char *const fewer[] = {"label", NULL};
	assert_int_equal(imgcmd_filters_validate(&f, fewer, &err), -EINVAL);
	assert_string_equal(err->msg, "invalid filter 'dangling'");
	berr_freep(&err);

	int b = 7;
	assert_int_equal(imgcmd_filters_bool(&f, "dangling", 1, &b, &err), -EINVAL);
	assert_string_equal(err->msg, "invalid filter 'dangling=[maybe]'");
	berr_freep(&err);
	assert_int_equal(imgcmd_filters_bool(&f, "absent", 1, &b, &err), 0);
	assert_int_equal(b, 1);

	/* label: every value must match. */
	json_t *labels = json_pack("{ss ss si}", "x", "y", "env", "prod", "n", 1);
	assert_int_equal(imgcmd_filters_match_kv(&f, "label", labels), 1);
	json_object_set_new(labels, "x", json_string("z"));
	assert_int_equal(imgcmd_filters_match_kv(&f, "label", labels), 0);
	assert_int_equal(imgcmd_filters_match_kv(&f, "label", NULL), 0);
	assert_int_equal(imgcmd_filters_match_kv(&f, "absent", NULL), 1);
	json_decref(labels);
	imgcmd_filters_free(&f);

	struct imgcmd_filters g = {0};
	assert_int_equal(imgcmd_filters_add_kv(&g, "dangling", "true"), 0);
	assert_int_equal(imgcmd_filters_add_kv(&g, "dangling", "0"), 0);
	assert_int_equal(imgcmd_filters_bool(&g, "dangling", 0, &b, &err), -EINVAL);
	assert_string_equal(err->msg, "invalid filter 'dangling=[true 0]'");
	berr_freep(&err);
	imgcmd_filters_free(&g);
	assert_int_equal(imgcmd_filters_add_kv(&g, "dangling", "1"), 0);
	assert_int_equal(imgcmd_filters_bool(&g, "dangling", 0, &b, &err), 0);
	assert_int_equal(b, 1);
	imgcmd_filters_free(&g);
}

/* ---- output helpers ---- */

static void expect_size(uint64_t n, int prec, const char *want)
{
	char *s = imgcmd_human_size(n, prec);
	assert_non_null(s);
	if (strcmp(s, want) != 0)
		fail_msg("size(%llu, %d) = %s, want %s", (unsigned long long)n, prec, s, want);
	free(s);
}

static void test_human_size(void **state)
{
	expect_size(0, 4, "0B");
	expect_size(999, 4, "999B");
	expect_size(1000, 4, "1kB");
	expect_size(1500, 4, "1.5kB");
	expect_size(4261574, 4, "4.262MB");
	expect_size(4261574, 3, "4.26MB");
	expect_size(123456789, 4, "123.5MB");
	expect_size(999999, 3, "1e+03kB"); /* Go's %.3g rounds the same way */
	expect_size(UINT64_MAX, 4, "18.45EB");
}

static void test_ids_and_times(void **state)
{
	char s[13];
	imgcmd_short_id("sha256:0123456789abcdef0123", s);
	assert_string_equal(s, "0123456789ab");
	imgcmd_short_id("abc", s);
	assert_string_equal(s, "abc");

	assert_int_equal(imgcmd_created("2024-01-02T03:04:05Z"), 1704164645);
	assert_int_equal(imgcmd_created(NULL), IMGCMD_ZERO_TIME);
	assert_int_equal(imgcmd_created("yesterday"), IMGCMD_ZERO_TIME);
	assert_int_equal(imgcmd_created_nsec("2024-01-02T03:04:05.5Z"), 500000000);
	assert_int_equal(imgcmd_created_nsec("2024-01-02T03:04:05.123456789123+01:00"), 123456789);
	assert_int_equal(imgcmd_created_nsec("2024-01-02T03:04:05Z"), 0);
	assert_int_equal(imgcmd_created_nsec(NULL), 0);

	char *saved = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	setenv("TZ", "UTC", 1);
	tzset();
	char *t = imgcmd_go_time(0);
	assert_string_equal(t, "1970-01-01 00:00:00 +0000 UTC");
	free(t);
	t = imgcmd_rfc3339(86400);
	assert_string_equal(t, "1970-01-02T00:00:00Z");
	free(t);
	t = imgcmd_go_time(IMGCMD_ZERO_TIME);
	assert_string_equal(t, "0001-01-01 00:00:00 +0000 UTC");
	free(t);
	setenv("TZ", "EST5", 1);
	tzset();
	t = imgcmd_go_time(0);
	assert_string_equal(t, "1969-12-31 19:00:00 -0500 EST");
	free(t);
	t = imgcmd_rfc3339(0);
	assert_string_equal(t, "1969-12-31T19:00:00-05:00");
	free(t);
	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
}

/* ---- delete semantics against a real store ---- */

struct fixture {
	char dir[64];
	char root[96];
	struct store *s;
	int seq;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-imagecmd.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	struct berr *err = NULL;
	if (store_open(f->root, &f->s, &err) < 0) {
		fprintf(stderr, "store_open: %s\n", err->msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	fs_rm_rf_at(AT_FDCWD, f->dir);
	free(f);
	return 0;
}

#define OK(expr)                                                                                   \
	do {                                                                                       \
		struct berr *e_ = NULL;                                                            \
		struct berr **err = &e_;                                                           \
		int r_ = (int)(expr);                                                              \
		if (r_ < 0)                                                                        \
			fail_msg("%s: %d %s", #expr, r_, e_ ? e_->msg : "(no message)");          \
		berr_free(e_);                                                                     \
	} while (0)

/* A layer of one file of size bytes (content unique per call) on top of parent. */
static void make_layer(struct fixture *f, const char *parent, size_t size,
		       struct store_layer_info *ret)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/layer%d.tar", f->dir, f->seq);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	char name[32];
	snprintf(name, sizeof(name), "file%d", f->seq++);
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_write_header(a, e);
	char *data = malloc(size + 1);
	assert_non_null(data);
	memset(data, 'a' + f->seq % 26, size);
	if (size)
		snprintf(data, size, "%d", f->seq);
	archive_write_data(a, data, size);
	free(data);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	OK(store_layer_unpack(f->s, fd, parent, NULL, STORE_KEEP_NONE, ret, err));
	close(fd);
	unlink(path);
}

/* An image of parent's layers plus one new layer of size bytes; returns its id (the
 * caller frees it). */
static char *make_image(struct fixture *f, const struct store_image *parent, size_t size)
{
	struct store_layer_info info;
	const char *top = parent && parent->nlayers ? parent->layers[parent->nlayers - 1].chain_id
						    : NULL;
	make_layer(f, top, size, &info);
	size_t n = (parent ? parent->nlayers : 0) + 1;
	struct store_image img = {0};
	img.layers = calloc(n, sizeof(*img.layers));
	assert_non_null(img.layers);
	for (size_t i = 0; i + 1 < n; i++)
		img.layers[i] = parent->layers[i];
	img.layers[n - 1] = (struct store_image_layer){
		.diff_id = info.diff_id, .chain_id = info.chain_id, .size = info.size};
	img.nlayers = n;
	for (size_t i = 0; i < n; i++)
		img.size += img.layers[i].size;
	char config[256];
	snprintf(config, sizeof(config),
		 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":"
		 "\"2024-01-01T00:00:%02dZ\",\"seq\":%d}",
		 f->seq % 60, f->seq);
	char id[DIGEST_STR_MAX];
	OK(store_blob_put(f->s, config, strlen(config), id, err));
	img.id = id;
	img.parent = parent ? parent->id : NULL;
	OK(store_image_put(f->s, &img, err));
	free(img.layers);
	return strdup(id);
}

static struct store_image *get(struct fixture *f, const char *id)
{
	struct store_image *img = NULL;
	OK(store_image_get(f->s, id, &img, err));
	return img;
}

static int exists(struct fixture *f, const char *id)
{
	struct store_image *img = NULL;
	int r = store_image_get(f->s, id, &img, NULL);
	store_image_free(img);
	return r == 0;
}

/* The records as "U name" / "D id" / "L chain" lines. */
static char *dels_text(const struct imgcmd_dels *d)
{
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].untagged)
			fprintf(m, "U %s\n", d->v[i].untagged);
		else
			fprintf(m, "%c %s\n", d->v[i].is_layer ? 'L' : 'D', d->v[i].deleted);
	}
	fclose(m);
	return out;
}

static void expect_dels(struct imgcmd_dels *d, const char *want)
{
	char *got = dels_text(d);
	if (strcmp(got, want) != 0)
		fail_msg("records:\n%s\nwant:\n%s", got, want);
	free(got);
	imgcmd_dels_free(d);
}

static void test_delete_by_reference(void **state)
{
	struct fixture *f = *state;
	char *id = make_image(f, NULL, 100);
	struct store_image *img = get(f, id);
	OK(store_ref_set(f->s, "docker.io/library/a:1", id, err));
	OK(store_ref_set(f->s, "docker.io/library/b:1", id, err));

	struct imgcmd_dels d = {0};
	OK(imgcmd_delete(f->s, "a:1", 0, 1, &d, err));
	expect_dels(&d, "U a:1\n");
	assert_true(exists(f, id));

	OK(imgcmd_delete(f->s, "b:1", 0, 1, &d, err));
	char want[512];
	snprintf(want, sizeof(want), "U b:1\nD %s\nL %s\n", id, img->layers[0].chain_id);
	expect_dels(&d, want);
	assert_false(exists(f, id));

	struct berr *e = NULL;
	assert_int_equal(imgcmd_delete(f->s, "b:1", 0, 1, &d, &e), -ENOENT);
	assert_string_equal(e->msg, "No such image: b:1");
	berr_free(e);
	assert_int_equal(d.n, 0);
	store_image_free(img);
	free(id);
}

static void test_delete_by_id_conflict(void **state)
{
	struct fixture *f = *state;
	char *id = make_image(f, NULL, 100);
	struct store_image *img = get(f, id);
	OK(store_ref_set(f->s, "docker.io/library/a:1", id, err));
	OK(store_ref_set(f->s, "docker.io/other/b:2", id, err));
	char short_id[13];
	imgcmd_short_id(id, short_id);

	struct imgcmd_dels d = {0};
	struct berr *e = NULL;
	assert_int_equal(imgcmd_delete(f->s, short_id, 0, 1, &d, &e), -EBUSY);
	char want[512];
	snprintf(want, sizeof(want),
		 "conflict: unable to delete %s (must be forced) - image is referenced in "
		 "multiple repositories",
		 short_id);
	assert_string_equal(e->msg, want);
	berr_free(e);
	assert_int_equal(d.n, 0);
	assert_true(exists(f, id));

	OK(imgcmd_delete(f->s, id, 1, 1, &d, err));
	snprintf(want, sizeof(want), "U a:1\nU other/b:2\nD %s\nL %s\n", id,
		 img->layers[0].chain_id);
	expect_dels(&d, want);
	store_image_free(img);
	free(id);
}

static void test_delete_tag_takes_digests(void **state)
{
	struct fixture *f = *state;
	char *id = make_image(f, NULL, 100);
	char dref[128];
	snprintf(dref, sizeof(dref), "docker.io/library/x@sha256:%064d", 1);
	OK(store_ref_set(f->s, "docker.io/library/x:1", id, err));
	OK(store_ref_set(f->s, dref, id, err));
	OK(store_ref_set(f->s, "docker.io/library/y:1", id, err));

	/* The last tag of x goes with x's digest; y keeps the image. */
	struct imgcmd_dels d = {0};
	OK(imgcmd_delete(f->s, "x:1", 0, 1, &d, err));
	char want[256];
	snprintf(want, sizeof(want), "U x:1\nU x@sha256:%064d\n", 1);
	expect_dels(&d, want);
	assert_true(exists(f, id));

	/* By id, one tag left: untag and delete without force. */
	OK(imgcmd_delete(f->s, id + strlen("sha256:"), 0, 1, &d, err));
	assert_int_equal(d.n, 3);
	assert_string_equal(d.v[0].untagged, "y:1");
	assert_string_equal(d.v[1].deleted, id);
	imgcmd_dels_free(&d);
	assert_false(exists(f, id));
	free(id);
}

static void test_delete_parents(void **state)
{
	struct fixture *f = *state;
	char *base = make_image(f, NULL, 100);
	struct store_image *bimg = get(f, base);
	char *child = make_image(f, bimg, 200);
	struct store_image *cimg = get(f, child);
	OK(store_ref_set(f->s, "docker.io/library/c:1", child, err));

	struct imgcmd_snap snap = {0};
	OK(imgcmd_snap_load(f->s, &snap, err));
	assert_int_equal(imgcmd_snap_has_children(&snap, base), 1);
	assert_int_equal(imgcmd_snap_has_children(&snap, child), 0);
	size_t first;
	assert_int_equal(imgcmd_snap_refs_of(&snap, child, &first), 1);
	assert_string_equal(snap.xrefs[snap.by_id[first]].familiar, "c:1");
	assert_int_equal(imgcmd_snap_refs_of(&snap, base, &first), 0);
	imgcmd_snap_free(&snap);

	/* A parent can not go, not even forced. */
	struct imgcmd_dels d = {0};
	struct berr *e = NULL;
	char short_id[13];
	imgcmd_short_id(base, short_id);
	assert_int_equal(imgcmd_delete(f->s, base, 1, 1, &d, &e), -EBUSY);
	char want[1024];
	snprintf(want, sizeof(want),
		 "conflict: unable to delete %s (cannot be forced) - image has dependent child "
		 "images",
		 short_id);
	assert_string_equal(e->msg, want);
	berr_freep(&e);
	assert_int_equal(d.n, 0);

	/* The child goes with its own layer only, then the untagged parent with the rest. */
	OK(imgcmd_delete(f->s, "c:1", 0, 1, &d, err));
	snprintf(want, sizeof(want), "U c:1\nD %s\nL %s\nD %s\nL %s\n", child,
		 cimg->layers[1].chain_id, base, bimg->layers[0].chain_id);
	expect_dels(&d, want);
	assert_false(exists(f, base));
	store_image_free(bimg);
	store_image_free(cimg);
	free(base);
	free(child);
}

static void test_delete_no_prune_and_tagged_parent(void **state)
{
	struct fixture *f = *state;
	char *base = make_image(f, NULL, 100);
	struct store_image *bimg = get(f, base);
	char *c1 = make_image(f, bimg, 200);
	char *c2 = make_image(f, bimg, 300);
	OK(store_ref_set(f->s, "docker.io/library/c:1", c1, err));
	OK(store_ref_set(f->s, "docker.io/library/c:2", c2, err));

	/* Another child still needs the parent: it stays, quietly. */
	struct imgcmd_dels d = {0};
	OK(imgcmd_delete(f->s, "c:1", 0, 1, &d, err));
	assert_int_equal(d.n, 3); /* untag, image, its own layer */
	imgcmd_dels_free(&d);
	assert_true(exists(f, base));

	/* --no-prune: the now childless, untagged parent stays too. */
	OK(imgcmd_delete(f->s, "c:2", 0, 0, &d, err));
	assert_int_equal(d.n, 3);
	imgcmd_dels_free(&d);
	assert_true(exists(f, base));

	/* A tagged parent is never pruned. */
	OK(store_ref_set(f->s, "docker.io/library/base:1", base, err));
	char *c3 = make_image(f, bimg, 400);
	OK(imgcmd_delete(f->s, c3, 0, 1, &d, err));
	assert_int_equal(d.n, 2); /* image and its own layer */
	imgcmd_dels_free(&d);
	assert_true(exists(f, base));
	store_image_free(bimg);
	free(base);
	free(c1);
	free(c2);
	free(c3);
}

static void test_delete_ambiguous_and_bad(void **state)
{
	struct fixture *f = *state;
	char *id = make_image(f, NULL, 100);
	struct imgcmd_dels d = {0};
	struct berr *e = NULL;
	assert_int_equal(imgcmd_delete(f->s, "nothing-here", 0, 1, &d, &e), -ENOENT);
	assert_string_equal(e->msg, "No such image: nothing-here");
	berr_freep(&e);
	assert_int_equal(imgcmd_delete(f->s, "", 0, 1, &d, &e), -ENOENT);
	berr_freep(&e);
	assert_int_equal(imgcmd_delete(f->s, "UPPER", 0, 1, &d, &e), -ENOENT);
	berr_freep(&e);
	assert_int_equal(d.n, 0);
	assert_true(exists(f, id));
	free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_match),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_human_size),
		cmocka_unit_test(test_ids_and_times),
		cmocka_unit_test_setup_teardown(test_delete_by_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_by_id_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_tag_takes_digests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_parents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_no_prune_and_tagged_parent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_delete_ambiguous_and_bad, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
