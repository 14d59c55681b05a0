/* The image store: blobs, image records, references, resolve, layers, gc, and what
 * concurrent or killed writers leave behind. Every test gets a fresh store in a temp dir. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "digest.h"
#include "fs.h"
#include "store.h"

/* The digest of no bytes, which nothing in these stores has; and of "abc". */
#define NOWHERE "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA256 "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

struct fixture {
	char dir[64];
	char root[96];
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-store.XXXXXX");
	if (!f || !mkdtemp(f->dir))
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

/* Fail the test with the error's text when r < 0. */
#define OK(expr)                                                                                   \
	do {                                                                                       \
		struct berr *e_ = NULL;                                                            \
		struct berr **err = &e_;                                                           \
		int r_ = (int)(expr);                                                              \
		if (r_ < 0)                                                                        \
			fail_msg("%s: %d %s", #expr, r_, e_ ? e_->msg : "(no message)");          \
		berr_free(e_);                                                                     \
	} while (0)

/* Expect expr to fail with code and a message containing text. */
#define FAILS(code, text, expr)                                                                    \
	do {                                                                                       \
		struct berr *e_ = NULL;                                                            \
		struct berr **err = &e_;                                                           \
		int r_ = (int)(expr);                                                              \
		if (r_ != (code))                                                                  \
			fail_msg("%s: %d (%s), expected %d", #expr, r_, e_ ? e_->msg : "",        \
				 (code));                                                          \
		assert_non_null(e_);                                                               \
		if (!strstr(e_->msg, (text)))                                                      \
			fail_msg("%s: message '%s' lacks '%s'", #expr, e_->msg, (text));           \
		berr_free(e_);                                                                     \
	} while (0)

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int count_in(struct fixture *f, const char *sub)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", f->root, sub);
	return count_entries(p);
}

/* What the next command's full open does: clean up after dead writers. */
static void open_once(struct fixture *f)
{
	struct store *s2 = NULL;
	OK(store_open(f->root, &s2, err));
	store_close(s2);
}

/* In a child: open the store, start a batch, run work, and die by SIGKILL before the
 * commit. */
static void killed_in_batch(struct fixture *f, int (*work)(struct store *s, const char *arg),
			    const char *arg)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *s = NULL;
		if (store_open(f->root, &s, NULL) < 0 || store_lock_meta(s, 1, NULL) < 0 ||
		    store_batch_begin(s, NULL) < 0 || work(s, arg) < 0)
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
}

/* Another command writing to the store: a child that holds the gc lock shared (with its
 * pin file), having looked at the blob pin (when not NULL), until writer_stop(). */
struct writer {
	pid_t pid;
	int done; /* closing it lets the child go */
};

static void writer_start(struct fixture *f, const char *pin, struct writer *w)
{
	int ready[2], done[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(done), 0);
	w->pid = fork();
	assert_true(w->pid >= 0);
	if (w->pid == 0) {
		struct store *s = NULL;
		char c;
		close(ready[0]);
		close(done[1]);
		if (store_open(f->root, &s, NULL) < 0 || store_gc_hold(s, NULL) < 0 ||
		    (pin && store_blob_has(s, pin) != 1))
			_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(done[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]); /* a child that fails gives EOF here */
	close(done[0]);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	w->done = done[1];
}

static void writer_stop(struct writer *w)
{
	close(w->done);
	int status;
	assert_int_equal(waitpid(w->pid, &status, 0), w->pid);
	assert_int_equal(status, 0);
}

/* ---- blobs ---- */

static void test_blob_put_read(void **state)
{
	struct fixture *f = *state;
	char d[DIGEST_STR_MAX];
	OK(store_blob_put(f->s, "abc", 3, d, err));
	assert_string_equal(d, ABC_SHA256);
	assert_int_equal(store_blob_has(f->s, d), 1);
	assert_int_equal(store_blob_has(f->s, NOWHERE), 0);
	assert_int_equal(store_blob_has(f->s, "not a digest"), 0);

	char *data = NULL;
	size_t len = 0;
	OK(store_blob_read(f->s, d, 100, &data, &len, err));
	assert_int_equal(len, 3);
	assert_string_equal(data, "abc");
	free(data);
	FAILS(-EFBIG, "larger than", store_blob_read(f->s, d, 2, &data, &len, err));

	int fd = -1;
	uint64_t size = 0;
	OK(store_blob_open(f->s, d, &fd, &size, err));
	assert_int_equal(size, 3);
	close(fd);

	char p[256];
	struct stat st;
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", f->root, d + 7);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0444);
	assert_int_equal(count_in(f, "tmp"), 0);

	FAILS(-ENOENT, "open blob", store_blob_open(f->s, NOWHERE, &fd, &size, err));
	FAILS(-EINVAL, "invalid digest", store_blob_open(f->s, "sha256:../../etc/passwd", &fd, &size, err));
}

static void test_blob_corrupt_read(void **state)
{
	struct fixture *f = *state;
	char d[DIGEST_STR_MAX], p[256];
	OK(store_blob_put(f->s, "{}", 2, d, err));
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", f->root, d + 7);
	chmod(p, 0644);
	int fd = open(p, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[]", 2), 2);
	close(fd);
	char *data = NULL;
	size_t len;
	FAILS(-EBADMSG, "corrupt", store_blob_read(f->s, d, 100, &data, &len, err));
}

static void test_blob_writer(void **state)
{
	struct fixture *f = *state;
	struct blob_writer *w = NULL;
	char d[DIGEST_STR_MAX];
	uint64_t size = 0;

	/* Streamed in pieces, with the expected digest: stored. */
	OK(store_blob_writer_new(f->s, ABC_SHA256, &w, err));
	OK(blob_writer_write(w, "a", 1, err));
	OK(blob_writer_write(w, "bc", 2, err));
	OK(blob_writer_commit(w, d, &size, err));
	assert_int_equal(size, 3);
	assert_int_equal(store_blob_has(f->s, d), 1);

	/* A mismatch stores nothing. */
	OK(store_blob_writer_new(f->s, ABC_SHA256, &w, err));
	OK(blob_writer_write(w, "abd", 3, err));
	FAILS(-EBADMSG, "digest mismatch", blob_writer_commit(w, d, &size, err));
	assert_int_equal(count_in(f, "tmp"), 0);
	assert_int_equal(count_in(f, "blobs/sha256"), 1);

	/* sha512 when the expected digest says so. */
	OK(store_blob_writer_new(f->s, "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f", &w, err));
	OK(blob_writer_write(w, "abc", 3, err));
	OK(blob_writer_commit(w, d, NULL, err));
	assert_int_equal(strncmp(d, "sha512:ddaf35", 13), 0);
	assert_int_equal(count_in(f, "blobs/sha512"), 1);
	char *data = NULL;
	size_t len;
	OK(store_blob_read(f->s, d, 10, &data, &len, err));
	free(data);

	/* Abort throws the temp file away. */
	OK(store_blob_writer_new(f->s, NULL, &w, err));
	OK(blob_writer_write(w, "xyz", 3, err));
	assert_int_equal(count_in(f, "tmp"), 1);
	blob_writer_abort(w);
	blob_writer_abort(NULL);
	assert_int_equal(count_in(f, "tmp"), 0);
	assert_int_equal(count_in(f, "blobs/sha256"), 1);

	FAILS(-EINVAL, "invalid digest", store_blob_writer_new(f->s, "md5:abc", &w, err));
}

/* Several writers committed at once: digests, sizes, blobs in place, temps gone, a blob the
 * store had left as it was; a mismatch in one stores none of the ones after it. */
static void test_blob_writers_commit(void **state)
{
	struct fixture *f = *state;
	struct blob_writer *ws[3] = {NULL, NULL, NULL};
	char d[3][DIGEST_STR_MAX], had[DIGEST_STR_MAX];
	uint64_t sizes[3];
	OK(store_blob_put(f->s, "abc", 3, had, err));
	store_defer_dir_sync(f->s);
	static const char *const text[] = {"one", "abc", "three!"};
	for (int i = 0; i < 3; i++) {
		OK(store_blob_writer_new(f->s, NULL, &ws[i], err));
		OK(blob_writer_write(ws[i], text[i], strlen(text[i]), err));
	}
	/* Named before the commit, as the commit names them. */
	char named[DIGEST_STR_MAX];
	uint64_t nsize = 0;
	blob_writer_digest(ws[2], named, &nsize);
	assert_int_equal(nsize, 6);
	assert_int_equal(count_in(f, "tmp"), 3);
	OK(blob_writers_commit(ws, 3, d, sizes, err));
	OK(store_sync_dirs(f->s, err));
	assert_string_equal(d[1], had);
	assert_string_equal(d[2], named);
	for (int i = 0; i < 3; i++) {
		assert_null(ws[i]);
		assert_int_equal(sizes[i], strlen(text[i]));
		char *data = NULL;
		size_t len;
		OK(store_blob_read(f->s, d[i], 100, &data, &len, err));
		assert_int_equal(len, strlen(text[i]));
		assert_memory_equal(data, text[i], len);
		free(data);
	}
	assert_int_equal(count_in(f, "tmp"), 0);
	assert_int_equal(count_in(f, "blobs/sha256"), 3);

	/* The second expects another digest: -EBADMSG, every writer freed, nothing new. */
	OK(store_blob_writer_new(f->s, NULL, &ws[0], err));
	OK(blob_writer_write(ws[0], "four", 4, err));
	OK(store_blob_writer_new(f->s, ABC_SHA256, &ws[1], err));
	OK(blob_writer_write(ws[1], "abd", 3, err));
	FAILS(-EBADMSG, "digest mismatch", blob_writers_commit(ws, 2, d, NULL, err));
	assert_null(ws[0]);
	assert_null(ws[1]);
	assert_int_equal(count_in(f, "tmp"), 0);
	assert_int_equal(count_in(f, "blobs/sha256"), 3);
}

/* ---- images and refs ---- */

/* A layer-less image whose config is cfg; returns its id in ret (DIGEST_STR_MAX). */
static void put_image(struct fixture *f, const char *cfg, char *ret)
{
	char mdig[DIGEST_STR_MAX];
	OK(store_blob_put(f->s, cfg, strlen(cfg), ret, err));
	OK(store_blob_put(f->s, "{\"manifest\":1}", 14, mdig, err));
	struct store_image img = {
		.id = ret,
		.manifest_digest = mdig,
		.manifest_media_type = (char *)"application/vnd.oci.image.manifest.v1+json",
		.created = (char *)"2024-01-02T03:04:05Z",
	};
	OK(store_image_put(f->s, &img, err));
}

static void test_image_put_get_list_remove(void **state)
{
	struct fixture *f = *state;
	char id1[DIGEST_STR_MAX], id2[DIGEST_STR_MAX];
	put_image(f, "{\"a\":1}", id1);
	put_image(f, "{\"a\":2}", id2);

	struct store_image *img = NULL;
	OK(store_image_get(f->s, id1, &img, err));
	assert_string_equal(img->id, id1);
	assert_string_equal(img->created, "2024-01-02T03:04:05Z");
	assert_string_equal(img->manifest_media_type, "application/vnd.oci.image.manifest.v1+json");
	assert_null(img->parent);
	assert_int_equal(img->nlayers, 0);
	store_image_free(img);

	struct store_image **imgs = NULL;
	size_t n = 0;
	OK(store_image_list(f->s, &imgs, &n, err));
	assert_int_equal(n, 2);
	assert_true((streq(imgs[0]->id, id1) && streq(imgs[1]->id, id2)) ||
		    (streq(imgs[0]->id, id2) && streq(imgs[1]->id, id1)));
	store_image_list_free(imgs, n);

	OK(store_image_remove(f->s, id1, err));
	FAILS(-ENOENT, "No such image", store_image_get(f->s, id1, &img, err));
	FAILS(-ENOENT, "No such image", store_image_remove(f->s, id1, err));
	OK(store_image_list(f->s, &imgs, &n, err));
	assert_int_equal(n, 1);
	store_image_list_free(imgs, n);

	/* The config blob must be there first. */
	struct store_image bad = {.id = (char *)NOWHERE};
	FAILS(-ENOENT, "config blob", store_image_put(f->s, &bad, err));
	bad.id = (char *)"nonsense";
	FAILS(-EINVAL, "invalid image id", store_image_put(f->s, &bad, err));
}

static void test_image_corrupt_record(void **state)
{
	struct fixture *f = *state;
	char id[DIGEST_STR_MAX], p[256];
	put_image(f, "{}", id);
	snprintf(p, sizeof(p), "%s/images/%s.json", f->root, id + 7);
	static const char *bad[] = {
		"", "[]", "{\"id\":5,\"layers\":[],\"size\":0}",
		"{\"id\":\"sha256:00\",\"layers\":[],\"size\":0}",
		"{\"layers\":[{\"diff_id\":1}],\"size\":0}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(fs_write_atomic_at(AT_FDCWD, p, bad[i], strlen(bad[i]), 0600), 0);
		struct store_image *img = NULL;
		FAILS(-EBADMSG, "corrupt", store_image_get(f->s, id, &img, err));
	}
}

static void test_refs(void **state)
{
	struct fixture *f = *state;
	char id1[DIGEST_STR_MAX], id2[DIGEST_STR_MAX];
	put_image(f, "{\"r\":1}", id1);
	put_image(f, "{\"r\":2}", id2);

	OK(store_lock_meta(f->s, 1, err));
	OK(store_ref_set(f->s, "docker.io/library/zz:latest", id1, err));
	OK(store_ref_set(f->s, "docker.io/library/aa:1", id2, err));
	OK(store_ref_set(f->s, "localhost:5000/m:x", id1, err));
	store_unlock_meta(f->s);
	/* Re-pointing a name replaces its target. */
	OK(store_ref_set(f->s, "docker.io/library/aa:1", id1, err));

	struct store_ref *refs = NULL;
	size_t n = 0;
	OK(store_refs_list(f->s, &refs, &n, err));
	assert_int_equal(n, 3);
	assert_string_equal(refs[0].name, "docker.io/library/aa:1");
	assert_string_equal(refs[0].id, id1);
	assert_string_equal(refs[1].name, "docker.io/library/zz:latest");
	assert_string_equal(refs[2].name, "localhost:5000/m:x");
	store_refs_free(refs, n);

	FAILS(-ENOENT, "No such image", store_ref_remove(f->s, "docker.io/library/nope:1", err));
	OK(store_ref_remove(f->s, "localhost:5000/m:x", err));
	FAILS(-EINVAL, "invalid reference", store_ref_set(f->s, "a b", id1, err));
	FAILS(-EINVAL, "invalid reference", store_ref_set(f->s, "", id1, err));
	FAILS(-EINVAL, "invalid image id", store_ref_set(f->s, "x", "sha256:1", err));
	FAILS(-ENOENT, "No such image", store_ref_set(f->s, "x", NOWHERE, err));

	/* Removing an image drops the references to it. */
	OK(store_image_remove(f->s, id1, err));
	OK(store_refs_list(f->s, &refs, &n, err));
	assert_int_equal(n, 0);
	store_refs_free(refs, n);

	/* A shared lock can not be silently upgraded. */
	OK(store_lock_meta(f->s, 0, err));
	FAILS(-EDEADLK, "exclusive", store_ref_set(f->s, "docker.io/library/b:1", id2, err));
	store_unlock_meta(f->s);

	/* index.json holds the references and the images' summaries, readable with jq. */
	OK(store_ref_set(f->s, "docker.io/library/b:1", id2, err));
	char p[256];
	snprintf(p, sizeof(p), "%s/index.json", f->root);
	char *text = NULL;
	assert_int_equal(fs_read_all_at(AT_FDCWD, p, 1 << 20, &text, NULL), 0);
	assert_non_null(strstr(text, "\"refs\":{\"docker.io/library/b:1\":\""));
	assert_non_null(strstr(text, "\"created\":\"2024-01-02T03:04:05Z\""));
	free(text);
}

/* Work for killed_in_batch(): an image of config cfg (blobs written) named x:1. */
static int image_and_name(struct store *s, const char *cfg)
{
	char a[DIGEST_STR_MAX], m[DIGEST_STR_MAX];
	if (store_blob_put(s, cfg, strlen(cfg), a, NULL) < 0 || store_blob_put(s, "{}", 2, m, NULL) < 0)
		return -1;
	struct store_image i = {.id = a, .manifest_digest = m};
	return store_image_put(s, &i, NULL) < 0 ? -1 : store_ref_set(s, "x:1", a, NULL);
}

/* Several puts and references in a batch: nothing is visible to others until the commit,
 * nothing at all after an abort or a kill, and gc removes the records written meanwhile. */
static void test_batch(void **state)
{
	struct fixture *f = *state;
	char id1[DIGEST_STR_MAX], id2[DIGEST_STR_MAX];
	FAILS(-EDEADLK, "exclusive", store_batch_begin(f->s, err));

	/* Aborted. */
	OK(store_lock_meta(f->s, 1, err));
	OK(store_batch_begin(f->s, err));
	put_image(f, "{\"b\":1}", id1);
	OK(store_ref_set(f->s, "docker.io/library/b:1", id1, err));
	struct store_image *img = NULL;
	OK(store_image_get(f->s, id1, &img, err)); /* the batch sees its own changes */
	store_image_free(img);
	store_batch_abort(f->s);
	store_unlock_meta(f->s);
	FAILS(-ENOENT, "No such image", store_image_get(f->s, id1, &img, err));
	assert_int_equal(count_in(f, "images"), 1); /* the record file, not visible */
	OK(store_gc(f->s, err));
	assert_int_equal(count_in(f, "images"), 0);

	/* Killed in the middle: a child puts an image and a name, and dies before the commit.
	 * (Our handle gets a fresh start: as a writer it would hold off cleaning.) */
	store_close(f->s);
	OK(store_open(f->root, &f->s, err));
	int blobs = count_in(f, "blobs/sha256");
	killed_in_batch(f, image_and_name, "{\"k\":1}");
	struct store_image **imgs = NULL;
	size_t n = 9;
	OK(store_image_list(f->s, &imgs, &n, err));
	assert_int_equal(n, 0);
	store_image_list_free(imgs, n);
	/* The next full open sees the dead writer and collects its blobs and record. */
	open_once(f);
	assert_int_equal(count_in(f, "images"), 0);
	assert_int_equal(count_in(f, "pins"), 0);
	assert_int_equal(count_in(f, "blobs/sha256"), blobs);

	/* Committed: both images and both names at once. */
	OK(store_lock_meta(f->s, 1, err));
	OK(store_batch_begin(f->s, err));
	put_image(f, "{\"b\":1}", id1);
	put_image(f, "{\"b\":2}", id2);
	OK(store_ref_set(f->s, "docker.io/library/b:1", id1, err));
	OK(store_ref_set(f->s, "docker.io/library/b:2", id2, err));
	OK(store_batch_commit(f->s, err));
	store_unlock_meta(f->s);
	struct store_ref *refs = NULL;
	OK(store_refs_list(f->s, &refs, &n, err));
	assert_int_equal(n, 2);
	store_refs_free(refs, n);
	OK(store_image_summaries(f->s, &imgs, &n, err));
	assert_int_equal(n, 2);
	assert_string_equal(imgs[0]->created, "2024-01-02T03:04:05Z");
	assert_null(imgs[0]->layers);
	store_image_list_free(imgs, n);
}

/* A handle keeps the index it read under the shared lock and takes it again under the
 * exclusive one only while the file holds the same bytes: a change another handle made in
 * between (here one of the same length: a name moved between two ids of equal length) is
 * what the next write starts from, not lost. */
static void test_index_kept(void **state)
{
	struct fixture *f = *state;
	char id1[DIGEST_STR_MAX], id2[DIGEST_STR_MAX], id3[DIGEST_STR_MAX];
	put_image(f, "{\"k\":1}", id1);
	put_image(f, "{\"k\":2}", id2);
	OK(store_ref_set(f->s, "docker.io/library/k:1", id1, err));
	struct store_image *img = NULL;
	for (int round = 0; round < 2; round++) {
		OK(store_image_get(f->s, id1, &img, err)); /* read under the shared lock */
		store_image_free(img);
		struct store *other = NULL;
		OK(store_open(f->root, &other, err));
		if (round == 0)
			OK(store_ref_set(other, "docker.io/library/k:1", id2, err));
		store_close(other);
		/* Round 0: changed meanwhile; round 1: unchanged, the kept index is taken. */
		OK(store_lock_meta(f->s, 1, err));
		OK(store_batch_begin(f->s, err));
		put_image(f, round ? "{\"k\":4}" : "{\"k\":3}", id3);
		OK(store_ref_set(f->s, round ? "docker.io/library/k:4" : "docker.io/library/k:3", id3,
				 err));
		OK(store_batch_commit(f->s, err));
		store_unlock_meta(f->s);
	}
	struct store *fresh = NULL;
	OK(store_open(f->root, &fresh, err));
	char *got = NULL;
	OK(store_image_resolve(fresh, "k:1", &got, err));
	assert_string_equal(got, id2);
	free(got);
	OK(store_image_resolve(fresh, "k:3", &got, err));
	free(got);
	OK(store_image_resolve(fresh, "k:4", &got, err));
	assert_string_equal(got, id3);
	free(got);
	struct store_image **imgs = NULL;
	size_t n = 0;
	OK(store_image_summaries(fresh, &imgs, &n, err));
	assert_int_equal(n, 4);
	store_image_list_free(imgs, n);
	store_close(fresh);
}

/* The tag time of id's record ("" when it has none). */
static void assert_tag_time(struct fixture *f, const char *id, const char *want)
{
	struct store_image *img = NULL;
	OK(store_image_get(f->s, id, &img, err));
	assert_string_equal(img->last_tag_time ? img->last_tag_time : "", want);
	store_image_free(img);
}

/* Put id's record again with another tag time (a load of an image already there). */
static int retag(struct store *s, const char *id, const char *when, struct berr **err)
{
	struct store_image *img = NULL;
	int r = store_image_get(s, id, &img, err);
	if (r < 0)
		return r;
	free(img->last_tag_time);
	img->last_tag_time = strdup(when);
	r = store_image_put(s, img, err);
	store_image_free(img);
	return r;
}

static int retag_february(struct store *s, const char *id)
{
	return retag(s, id, "2024-02-02T00:00:00Z", NULL);
}

/* A record replaced in a batch goes to a new file that the commit switches to: killed
 * before the commit, the old record is read as it was; the same record put again writes
 * nothing; removed and put again in one batch, the file the old index names is kept. */
static void test_batch_replace(void **state)
{
	struct fixture *f = *state;
	char id[DIGEST_STR_MAX], p[256];
	put_image(f, "{\"t\":1}", id);
	OK(retag(f->s, id, "2024-01-01T00:00:00Z", err));
	assert_tag_time(f, id, "2024-01-01T00:00:00Z");
	assert_int_equal(count_in(f, "images"), 1);

	/* A child replaces the record in a batch and dies before the commit. */
	killed_in_batch(f, retag_february, id);
	assert_tag_time(f, id, "2024-01-01T00:00:00Z");
	assert_int_equal(count_in(f, "images"), 2); /* the new file, which no index names */
	OK(store_gc(f->s, err));
	assert_int_equal(count_in(f, "images"), 1);
	assert_tag_time(f, id, "2024-01-01T00:00:00Z");

	/* Committed: the new record, in its own file; the old file is gone. */
	OK(store_lock_meta(f->s, 1, err));
	OK(store_batch_begin(f->s, err));
	OK(retag(f->s, id, "2024-03-03T00:00:00Z", err));
	OK(retag(f->s, id, "2024-04-04T00:00:00Z", err)); /* twice in one batch */
	OK(store_batch_commit(f->s, err));
	store_unlock_meta(f->s);
	assert_tag_time(f, id, "2024-04-04T00:00:00Z");
	assert_int_equal(count_in(f, "images"), 1);
	snprintf(p, sizeof(p), "%s/images/%s.json", f->root, id + 7);
	assert_int_equal(access(p, F_OK), -1);

	/* The same record again: no write, not even of the index. */
	struct stat before, after;
	snprintf(p, sizeof(p), "%s/index.json", f->root);
	assert_int_equal(stat(p, &before), 0);
	OK(retag(f->s, id, "2024-04-04T00:00:00Z", err));
	assert_int_equal(stat(p, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(count_in(f, "images"), 1);

	/* Removed and put again in one batch, aborted: the committed record is whole. */
	struct store_image *img = NULL;
	OK(store_image_get(f->s, id, &img, err));
	free(img->last_tag_time);
	img->last_tag_time = strdup("2024-05-05T00:00:00Z");
	OK(store_lock_meta(f->s, 1, err));
	OK(store_batch_begin(f->s, err));
	OK(store_image_remove(f->s, id, err));
	OK(store_image_put(f->s, img, err));
	store_batch_abort(f->s);
	store_unlock_meta(f->s);
	assert_tag_time(f, id, "2024-04-04T00:00:00Z");
	/* And committed: the new one, one file, which gc keeps. */
	OK(store_lock_meta(f->s, 1, err));
	OK(store_batch_begin(f->s, err));
	OK(store_image_remove(f->s, id, err));
	OK(store_image_put(f->s, img, err));
	OK(store_batch_commit(f->s, err));
	store_unlock_meta(f->s);
	store_image_free(img);
	OK(store_gc(f->s, err));
	assert_int_equal(count_in(f, "images"), 1);
	assert_tag_time(f, id, "2024-05-05T00:00:00Z");
	/* Removed for good: no file left. */
	OK(store_image_remove(f->s, id, err));
	assert_int_equal(count_in(f, "images"), 0);
}

/* An older store (records and refs.json, no index) is converted by the next open. */
static void test_index_migrate(void **state)
{
	struct fixture *f = *state;
	char id[DIGEST_STR_MAX], p[256], refs[512];
	put_image(f, "{\"m\":1}", id);
	snprintf(p, sizeof(p), "%s/index.json", f->root);
	assert_int_equal(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/refs.json", f->root);
	snprintf(refs, sizeof(refs),
		 "{\"refs\":{\"docker.io/library/m:1\":\"%s\",\"docker.io/library/gone:1\":"
		 "\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}}",
		 id);
	assert_int_equal(fs_write_atomic_at(AT_FDCWD, p, refs, strlen(refs), 0600), 0);
	store_close(f->s);
	OK(store_open(f->root, &f->s, err));
	assert_int_equal(access(p, F_OK), -1);
	struct store_ref *r = NULL;
	size_t n = 0;
	OK(store_refs_list(f->s, &r, &n, err));
	assert_int_equal(n, 1);
	assert_string_equal(r[0].name, "docker.io/library/m:1");
	assert_string_equal(r[0].id, id);
	store_refs_free(r, n);
}

/* A purge deletes the image's content at once, except what a live writer pinned. */
static void test_purge(void **state);

static void test_resolve(void **state)
{
	struct fixture *f = *state;
	char id1[DIGEST_STR_MAX], id2[DIGEST_STR_MAX];
	/* Find two configs whose ids share no first hex digit, so that one-digit prefixes are
	 * unique, and a third that shares the first digit with id1. */
	put_image(f, "{\"n\":1}", id1);
	int i = 2;
	do {
		char cfg[32];
		snprintf(cfg, sizeof(cfg), "{\"n\":%d}", i++);
		OK(store_blob_put(f->s, cfg, strlen(cfg), id2, err));
	} while (id2[7] == id1[7]);
	struct store_image img = {.id = id2};
	OK(store_image_put(f->s, &img, err));
	OK(store_ref_set(f->s, "docker.io/library/busybox:latest", id1, err));
	OK(store_ref_set(f->s, "localhost:5000/app:v1", id2, err));

	char *id = NULL;
	OK(store_image_resolve(f->s, id1, &id, err));
	assert_string_equal(id, id1);
	free(id);
	OK(store_image_resolve(f->s, id1 + 7, &id, err));
	assert_string_equal(id, id1);
	free(id);
	char prefix[16];
	snprintf(prefix, sizeof(prefix), "%.12s", id2 + 7);
	OK(store_image_resolve(f->s, prefix, &id, err));
	assert_string_equal(id, id2);
	free(id);
	snprintf(prefix, sizeof(prefix), "sha256:%.3s", id2 + 7);
	OK(store_image_resolve(f->s, prefix, &id, err));
	assert_string_equal(id, id2);
	free(id);

	/* References, normalised the way Docker does. */
	OK(store_image_resolve(f->s, "docker.io/library/busybox:latest", &id, err));
	assert_string_equal(id, id1);
	free(id);
	OK(store_image_resolve(f->s, "busybox", &id, err));
	assert_string_equal(id, id1);
	free(id);
	OK(store_image_resolve(f->s, "localhost:5000/app:v1", &id, err));
	assert_string_equal(id, id2);
	free(id);

	FAILS(-ENOENT, "No such image: busybox:1", store_image_resolve(f->s, "busybox:1", &id, err));
	FAILS(-ENOENT, "No such image: ", store_image_resolve(f->s, "", &id, err));
	FAILS(-ENOENT, "No such image: NOPE", store_image_resolve(f->s, "NOPE", &id, err));

	/* An ambiguous prefix. */
	char id3[DIGEST_STR_MAX];
	do {
		char cfg[32];
		snprintf(cfg, sizeof(cfg), "{\"n\":%d}", i++);
		OK(store_blob_put(f->s, cfg, strlen(cfg), id3, err));
	} while (id3[7] != id1[7]);
	img.id = id3;
	OK(store_image_put(f->s, &img, err));
	snprintf(prefix, sizeof(prefix), "%.1s", id1 + 7);
	FAILS(-EINVAL, "multiple IDs", store_image_resolve(f->s, prefix, &id, err));
}


/* ---- layers ---- */

/* A small tar, compressed with filter (ARCHIVE_FILTER_*), written to the test's dir as
 * name; its path in ret_path. The tar bytes are the same whatever the filter, so the diff
 * id is too. */
static void make_tar(struct fixture *f, const char *name, int filter, const char *content,
		     char ret_path[128])
{
	snprintf(ret_path, 128, "%s/%s", f->dir, name);
	const char *path = ret_path;
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (filter != ARCHIVE_FILTER_NONE)
		assert_int_equal(archive_write_add_filter(a, filter), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "etc/");
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_mtime(e, 1700000000, 0);
	archive_write_header(a, e);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, "etc/hello");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, 1700000000, 0);
	archive_entry_set_size(e, (la_int64_t)strlen(content));
	archive_write_header(a, e);
	archive_write_data(a, content, strlen(content));
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void file_digest(const char *path, char *ret, uint64_t *ret_size)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct digest d;
	assert_int_equal(digest_fd(DIGEST_SHA256, fd, &d, ret_size), 0);
	close(fd);
	digest_format(&d, ret);
}

static int unpack_path(struct store *s, const char *path, const char *parent,
		       const char *expected, enum store_blob_keep keep,
		       struct store_layer_info *info, struct berr **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	int r = store_layer_unpack(s, fd, parent, expected, keep, info, err);
	close(fd);
	return r;
}

static void test_layer_compressions(void **state)
{
	struct fixture *f = *state;
	static const struct {
		int filter;
		const char *media_type;
	} kinds[] = {
		{ARCHIVE_FILTER_NONE, "application/vnd.oci.image.layer.v1.tar"},
		{ARCHIVE_FILTER_GZIP, "application/vnd.oci.image.layer.v1.tar+gzip"},
		{ARCHIVE_FILTER_ZSTD, "application/vnd.oci.image.layer.v1.tar+zstd"},
		{ARCHIVE_FILTER_XZ, "application/vnd.oci.image.layer.v1.tar+xz"},
		{ARCHIVE_FILTER_BZIP2, "application/vnd.oci.image.layer.v1.tar+bzip2"},
	};
	char diff_id[DIGEST_STR_MAX] = "";
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		char name[32], path[128], want[DIGEST_STR_MAX];
		uint64_t size;
		snprintf(name, sizeof(name), "layer-%zu", i);
		make_tar(f, name, kinds[i].filter, "hello\n", path);
		file_digest(path, want, &size);
		struct store_layer_info info;
		OK(unpack_path(f->s, path, NULL, NULL, STORE_KEEP_RAW, &info, err));
		/* The kept blob is the input as it came. */
		assert_string_equal(info.blob_digest, want);
		assert_int_equal(info.blob_size, size);
		assert_string_equal(info.blob_media_type, kinds[i].media_type);
		assert_int_equal(store_blob_has(f->s, want), 1);
		if (i == 0)
			assert_string_equal(info.diff_id, want);
		else
			assert_string_equal(info.diff_id, diff_id);
		snprintf(diff_id, sizeof(diff_id), "%s", info.diff_id);
		/* A base layer's chain id is its diff id. */
		assert_string_equal(info.chain_id, info.diff_id);
		assert_int_equal(info.size, 6);
		char *dir = store_layer_dir(f->s, info.chain_id);
		char file[256];
		snprintf(file, sizeof(file), "%s/etc/hello", dir);
		char *data = NULL;
		assert_int_equal(fs_read_all_at(AT_FDCWD, file, 100, &data, NULL), 0);
		assert_string_equal(data, "hello\n");
		free(data);
		free(dir);
	}
	/* One layer for all five, nothing left over. */
	assert_int_equal(count_in(f, "layers"), 1);
	assert_int_equal(count_in(f, "tmp"), 0);
	assert_int_equal(count_in(f, "blobs/sha256"), 5);

	struct store_layer_info got;
	OK(store_layer_get(f->s, diff_id, &got, err));
	assert_string_equal(got.diff_id, diff_id);
	assert_int_equal(got.size, 6);
	FAILS(-ENOENT, "not found", store_layer_get(f->s, NOWHERE, &got, err));
}

static void test_layer_keep_uncompressed_and_chain(void **state)
{
	struct fixture *f = *state;
	char p1[128], p2[128];
	make_tar(f, "l1.tar.gz", ARCHIVE_FILTER_GZIP, "one\n", p1);
	make_tar(f, "l2.tar.zst", ARCHIVE_FILTER_ZSTD, "two\n", p2);
	struct store_layer_info l1, l2;
	OK(unpack_path(f->s, p1, NULL, NULL, STORE_KEEP_UNCOMPRESSED, &l1, err));
	/* The uncompressed blob is the tar itself: its digest is the diff id. */
	assert_string_equal(l1.blob_digest, l1.diff_id);
	assert_string_equal(l1.blob_media_type, "application/vnd.oci.image.layer.v1.tar");
	assert_int_equal(store_blob_has(f->s, l1.diff_id), 1);

	OK(unpack_path(f->s, p2, l1.chain_id, NULL, STORE_KEEP_NONE, &l2, err));
	assert_string_equal(l2.blob_digest, "");
	char want[DIGEST_STR_MAX];
	store_chain_id(l1.chain_id, l2.diff_id, want);
	assert_string_equal(l2.chain_id, want);
	assert_string_not_equal(l2.chain_id, l2.diff_id);
	/* OCI: sha256 of "<parent chain> <diff id>". */
	char buf[2 * DIGEST_STR_MAX];
	snprintf(buf, sizeof(buf), "%s %s", l1.chain_id, l2.diff_id);
	struct digest d;
	digest_buffer(DIGEST_SHA256, buf, strlen(buf), &d);
	char dstr[DIGEST_STR_MAX];
	assert_string_equal(l2.chain_id, digest_format(&d, dstr));

	/* The same diff on another parent is another layer. */
	struct store_layer_info l2b;
	OK(unpack_path(f->s, p2, NULL, NULL, STORE_KEEP_NONE, &l2b, err));
	assert_string_not_equal(l2b.chain_id, l2.chain_id);
	assert_int_equal(count_in(f, "layers"), 3);

	FAILS(-ENOENT, "parent", unpack_path(f->s, p2, NOWHERE, NULL, STORE_KEEP_NONE, &l2b, err));
}

static void test_layer_expected_diff_id(void **state)
{
	struct fixture *f = *state;
	char p[128];
	make_tar(f, "l.tar.xz", ARCHIVE_FILTER_XZ, "expected\n", p);

	/* A wrong diff id: -EBADMSG, and neither a layer nor a blob nor a temp file. */
	struct store_layer_info info;
	FAILS(-EBADMSG, "diff id mismatch",
	      unpack_path(f->s, p, NULL, NOWHERE, STORE_KEEP_RAW, &info, err));
	assert_int_equal(count_in(f, "layers"), 0);
	assert_int_equal(count_in(f, "blobs/sha256"), 0);
	assert_int_equal(count_in(f, "tmp"), 0);

	OK(unpack_path(f->s, p, NULL, NULL, STORE_KEEP_NONE, &info, err));
	char diff_id[DIGEST_STR_MAX];
	snprintf(diff_id, sizeof(diff_id), "%s", info.diff_id);

	/* Known diff id of a layer already there: read through, not unpacked again; the
	 * blob is still kept. A marker file in the layer shows it was left alone. */
	char *dir = store_layer_dir(f->s, info.chain_id);
	char marker[256];
	snprintf(marker, sizeof(marker), "%s/marker", dir);
	free(dir);
	assert_int_equal(fs_write_atomic_at(AT_FDCWD, marker, "m", 1, 0600), 0);
	struct store_layer_info again;
	OK(unpack_path(f->s, p, NULL, diff_id, STORE_KEEP_RAW, &again, err));
	assert_string_equal(again.chain_id, info.chain_id);
	assert_int_equal(again.size, info.size);
	assert_int_equal(store_blob_has(f->s, again.blob_digest), 1);
	assert_string_equal(again.blob_media_type, "application/vnd.oci.image.layer.v1.tar+xz");
	assert_int_equal(access(marker, F_OK), 0);
	/* ... and still checked against the data. */
	char other[128];
	make_tar(f, "other.tar", ARCHIVE_FILTER_NONE, "other\n", other);
	FAILS(-EBADMSG, "diff id mismatch",
	      unpack_path(f->s, other, NULL, diff_id, STORE_KEEP_NONE, &again, err));
	assert_int_equal(count_in(f, "tmp"), 0);
}

/* Two processes unpack the same layer at the same moment: both succeed, one wins. */
static void test_layer_concurrent(void **state)
{
	struct fixture *f = *state;
	char p[128];
	make_tar(f, "c.tar.gz", ARCHIVE_FILTER_GZIP, "concurrent\n", p);
	int go[2];
	assert_int_equal(pipe(go), 0);
	pid_t kids[2];
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			close(go[1]);
			char c;
			struct store *s = NULL;
			struct store_layer_info info;
			if (store_open(f->root, &s, NULL) < 0)
				_exit(2);
			/* Start together: both block on the pipe until the parent closes it. */
			if (read(go[0], &c, 1) != 0)
				_exit(3);
			int fd = open(p, O_RDONLY);
			int r = store_layer_unpack(s, fd, NULL, NULL, STORE_KEEP_RAW, &info, NULL);
			_exit(r < 0 ? 1 : 0);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int i = 0; i < 2; i++) {
		int status;
		assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(count_in(f, "layers"), 1);
	assert_int_equal(count_in(f, "blobs/sha256"), 1);
	assert_int_equal(count_in(f, "tmp"), 0);
	struct store_layer_info info;
	OK(unpack_path(f->s, p, NULL, NULL, STORE_KEEP_NONE, &info, err));
	OK(store_layer_get(f->s, info.chain_id, &info, err));
}

/* ---- images with layers, gc ---- */

static void put_layered_image(struct fixture *f, const char *content, char *ret_id,
			      struct store_layer_info *ret_layer)
{
	char name[64], p[128];
	snprintf(name, sizeof(name), "img-%s.tar.gz", content);
	make_tar(f, name, ARCHIVE_FILTER_GZIP, content, p);
	OK(unpack_path(f->s, p, NULL, NULL, STORE_KEEP_RAW, ret_layer, err));
	char cfg[256], mdig[DIGEST_STR_MAX];
	snprintf(cfg, sizeof(cfg), "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
		 ret_layer->diff_id);
	OK(store_blob_put(f->s, cfg, strlen(cfg), ret_id, err));
	snprintf(cfg, sizeof(cfg), "{\"manifest\":\"%s\"}", content);
	OK(store_blob_put(f->s, cfg, strlen(cfg), mdig, err));
	struct store_image_layer l = {
		.digest = ret_layer->blob_digest,
		.media_type = (char *)ret_layer->blob_media_type,
		.blob_size = ret_layer->blob_size,
		.diff_id = ret_layer->diff_id,
		.chain_id = ret_layer->chain_id,
		.size = ret_layer->size,
	};
	struct store_image img = {
		.id = ret_id,
		.manifest_digest = mdig,
		.layers = &l,
		.nlayers = 1,
		.size = ret_layer->size,
	};
	OK(store_image_put(f->s, &img, err));
}

static void test_image_with_layers(void **state)
{
	struct fixture *f = *state;
	char id[DIGEST_STR_MAX];
	struct store_layer_info layer;
	put_layered_image(f, "layered", id, &layer);
	struct store_image *img = NULL;
	OK(store_image_get(f->s, id, &img, err));
	assert_int_equal(img->nlayers, 1);
	assert_string_equal(img->layers[0].chain_id, layer.chain_id);
	assert_string_equal(img->layers[0].digest, layer.blob_digest);
	assert_string_equal(img->layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
	assert_int_equal(img->layers[0].size, layer.size);

	/* A record naming a missing layer, or a chain id that does not follow, is refused. */
	free(img->layers[0].chain_id);
	img->layers[0].chain_id = strdup(NOWHERE);
	FAILS(-EINVAL, "does not follow", store_image_put(f->s, img, err));
	free(img->layers[0].diff_id);
	img->layers[0].diff_id = strdup(img->layers[0].chain_id);
	FAILS(-ENOENT, "not found", store_image_put(f->s, img, err));
	store_image_free(img);
}

static void test_gc(void **state)
{
	struct fixture *f = *state;
	char keep_id[DIGEST_STR_MAX], drop_id[DIGEST_STR_MAX];
	struct store_layer_info keep, drop;
	put_layered_image(f, "keep", keep_id, &keep);
	put_layered_image(f, "drop", drop_id, &drop);
	char loose[DIGEST_STR_MAX];
	OK(store_blob_put(f->s, "loose", 5, loose, err));
	assert_int_equal(count_in(f, "layers"), 2);
	assert_int_equal(count_in(f, "blobs/sha256"), 7);

	/* Nothing is unreferenced but the loose blob. */
	int64_t freed = store_gc(f->s, NULL);
	assert_int_equal(freed, 5);
	assert_int_equal(count_in(f, "blobs/sha256"), 6);

	OK(store_image_remove(f->s, drop_id, err));
	/* While another process holds the gc lock, gc does nothing. */
	struct writer w;
	writer_start(f, NULL, &w);
	OK(store_lock_meta(f->s, 1, err));
	assert_int_equal(store_gc(f->s, NULL), 0);
	store_unlock_meta(f->s);
	assert_int_equal(count_in(f, "layers"), 2);
	writer_stop(&w);

	/* Our own hold does not stop our own gc. */
	OK(store_gc_hold(f->s, err));
	struct berr *e = NULL;
	freed = store_gc(f->s, &e);
	assert_null(e);
	/* The dropped image's config, manifest, layer blob and unpacked layer. */
	assert_true(freed > (int64_t)(drop.blob_size + drop.size));
	assert_int_equal(count_in(f, "layers"), 1);
	assert_int_equal(count_in(f, "blobs/sha256"), 3);
	assert_int_equal(store_blob_has(f->s, drop.blob_digest), 0);
	assert_int_equal(store_blob_has(f->s, keep.blob_digest), 1);
	assert_int_equal(store_blob_has(f->s, keep_id), 1);
	struct store_layer_info info;
	OK(store_layer_get(f->s, keep.chain_id, &info, err));
	FAILS(-ENOENT, "not found", store_layer_get(f->s, drop.chain_id, &info, err));
	/* Still held shared after gc: a second handle's gc is skipped. */
	struct store *s2 = NULL;
	OK(store_open(f->root, &s2, err));
	assert_int_equal(store_gc(s2, NULL), 0);
	store_close(s2);
	/* A second gc finds nothing. */
	assert_int_equal(store_gc(f->s, NULL), 0);
}

static void test_purge(void **state)
{
	struct fixture *f = *state;
	char a_id[DIGEST_STR_MAX], b_id[DIGEST_STR_MAX];
	struct store_layer_info a, b;
	put_layered_image(f, "a", a_id, &a);
	put_layered_image(f, "b", b_id, &b);
	/* Another writer (a load that found b's layer blob and will use it) holds gc. */
	struct writer w;
	writer_start(f, b.blob_digest, &w);
	int blobs = count_in(f, "blobs/sha256");
	int64_t freed = store_image_purge(f->s, a_id, NULL);
	assert_true(freed > (int64_t)(a.blob_size + a.size));
	/* Config, manifest and layer blob of a; its layer. */
	assert_int_equal(count_in(f, "blobs/sha256"), blobs - 3);
	assert_int_equal(count_in(f, "layers"), 1);
	assert_int_equal(store_blob_has(f->s, a.blob_digest), 0);
	/* b: all but the pinned blob. */
	OK(store_image_purge(f->s, b_id, err));
	assert_int_equal(count_in(f, "blobs/sha256"), 1);
	assert_int_equal(store_blob_has(f->s, b.blob_digest), 1);
	assert_int_equal(count_in(f, "layers"), 0);
	assert_int_equal(count_in(f, "images"), 0);
	writer_stop(&w);
	/* The writer is gone: gc takes the rest. */
	assert_true(store_gc(f->s, NULL) > 0);
	assert_int_equal(count_in(f, "blobs/sha256"), 0);
}

/* The one entry of pins/ other than this writer's, or "" (asserts there is at most one). */
static void only_pin(struct fixture *f, char *name, size_t cap, struct stat *st)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/pins", f->root);
	DIR *d = opendir(p);
	assert_non_null(d);
	struct dirent *de;
	name[0] = '\0';
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		assert_string_equal(name, "");
		snprintf(name, cap, "%s", de->d_name);
	}
	closedir(d);
	if (name[0]) {
		snprintf(p, sizeof(p), "%s/pins/%s", f->root, name);
		assert_int_equal(stat(p, st), 0);
	}
}

/* A writer's pin file is emptied and left as ".spare" when it closes; the next writer
 * renames it to its own name instead of making a new file, and a full open's cleanup of
 * dead writers' files leaves it alone. */
static void test_pin_spare(void **state)
{
	struct fixture *f = *state;
	char name[256], d[DIGEST_STR_MAX];
	struct stat st, first;
	OK(store_blob_put(f->s, "pinned", 6, d, err)); /* a writer now, with a pin written */
	only_pin(f, name, sizeof(name), &first);
	assert_true(name[0] != '.');
	assert_true(first.st_size > 0);
	store_close(f->s);
	f->s = NULL;
	only_pin(f, name, sizeof(name), &st);
	assert_string_equal(name, ".spare");
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_ino, first.st_ino);

	OK(store_open(f->root, &f->s, err)); /* the full open's cleanup keeps it */
	only_pin(f, name, sizeof(name), &st);
	assert_string_equal(name, ".spare");
	sleep(1);
	OK(store_gc_hold(f->s, err));
	only_pin(f, name, sizeof(name), &st);
	char want[32];
	snprintf(want, sizeof(want), "%d-", (int)getpid());
	assert_memory_equal(name, want, strlen(want));
	assert_int_equal(st.st_ino, first.st_ino);
	assert_int_equal(st.st_size, 0);
	/* touched: its age tells a reused pid (nanoseconds: a second's worth of coarse
	 * file-system clock must not decide) */
	assert_true(st.st_mtim.tv_sec > first.st_mtim.tv_sec ||
		    (st.st_mtim.tv_sec == first.st_mtim.tv_sec &&
		     st.st_mtim.tv_nsec > first.st_mtim.tv_nsec));
	assert_int_equal(store_blob_has(f->s, d), 1);
	only_pin(f, name, sizeof(name), &st);
	assert_int_equal(st.st_size, (off_t)strlen(strchr(d, ':') + 1) + 1); /* "<hex>\n" */
}

/* ---- leftovers ---- */

static void test_dead_writer_leftovers(void **state)
{
	struct fixture *f = *state;
	/* A writer that died: a child that made a temp file and a temp dir, then exited. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *s = NULL;
		struct blob_writer *w = NULL;
		if (store_open(f->root, &s, NULL) < 0 || store_blob_writer_new(s, NULL, &w, NULL) < 0 ||
		    blob_writer_write(w, "partial", 7, NULL) < 0)
			_exit(1);
		char p[256];
		snprintf(p, sizeof(p), "%s/tmp/%d-0000000000000001", f->root, (int)getpid());
		if (mkdir(p, 0700) < 0)
			_exit(1);
		_exit(0); /* killed mid-write: no commit, no abort */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	assert_int_equal(count_in(f, "tmp"), 2);

	/* Ours (a live writer) stays; so does a file of pid 1 newer than its start. */
	char mine[256], init_new[256], init_old[256];
	snprintf(mine, sizeof(mine), "%s/tmp/%d-00000000000000ff", f->root, (int)getpid());
	snprintf(init_new, sizeof(init_new), "%s/tmp/1-00000000000000aa", f->root);
	snprintf(init_old, sizeof(init_old), "%s/tmp/1-00000000000000bb", f->root);
	assert_int_equal(fs_write_atomic_at(AT_FDCWD, mine, "x", 1, 0600), 0);
	assert_int_equal(fs_write_atomic_at(AT_FDCWD, init_new, "x", 1, 0600), 0);
	/* pid 1's file from before boot: pid 1 must have been reused since. */
	assert_int_equal(fs_write_atomic_at(AT_FDCWD, init_old, "x", 1, 0600), 0);
	struct timespec old[2] = {{.tv_sec = 315532800}, {.tv_sec = 315532800}};
	assert_int_equal(utimensat(AT_FDCWD, init_old, old, 0), 0);

	open_once(f);
	assert_int_equal(count_in(f, "tmp"), 2);
	assert_int_equal(access(mine, F_OK), 0);
	assert_int_equal(access(init_new, F_OK), 0);
	assert_int_equal(access(init_old, F_OK), -1);
	unlink(mine);
	unlink(init_new);
}

static void test_open_skips_cleanup_while_held(void **state)
{
	struct fixture *f = *state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	char p[256];
	snprintf(p, sizeof(p), "%s/tmp/%d-0000000000000002", f->root, (int)pid);
	assert_int_equal(fs_write_atomic_at(AT_FDCWD, p, "x", 1, 0600), 0);

	/* While someone holds the gc lock (a command writing blobs), open leaves tmp/ alone. */
	OK(store_gc_hold(f->s, err));
	open_once(f);
	assert_int_equal(access(p, F_OK), 0);
	store_close(f->s);
	OK(store_open(f->root, &f->s, err));
	assert_int_equal(access(p, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blob_put_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_corrupt_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_writers_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_put_get_list_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_corrupt_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_migrate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layer_compressions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layer_keep_uncompressed_and_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layer_expected_diff_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layer_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_with_layers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_spare, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_writer_leftovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_skips_cleanup_while_held, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
