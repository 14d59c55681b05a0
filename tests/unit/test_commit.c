/* image_commit on real overlay mounts: a commit of a commit of a commit shows the container's
 * tree; config, history, author, comment, changes, manifest and record are right; an empty
 * change is an empty_layer; commits killed with SIGKILL at random points leave a consistent
 * store; the cost of a commit follows the change, not the image. Needs root; runs in a private
 * mount namespace. */
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
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "commit.h"
#include "digest.h"
#include "fs.h"
#include "imgarchive.h"
#include "imgconfig.h"
#include "layerdiff.h"
#include "store.h"
#include "strv.h"

#define OK(expr)                                                                                   \
	do {                                                                                       \
		struct berr *e_ = NULL;                                                            \
		struct berr **err = &e_;                                                           \
		int r_ = (int)(expr);                                                              \
		if (r_ < 0)                                                                        \
			fail_msg("%s: %d %s", #expr, r_, e_ ? e_->msg : "(no message)");           \
		berr_free(e_);                                                                     \
	} while (0)

#define SYS(expr)                                                                                  \
	do {                                                                                       \
		if ((expr) < 0)                                                                    \
			fail_msg("%s: %s", #expr, strerror(errno));                                \
	} while (0)

struct fixture {
	char dir[64];
	char root[96];
	struct store *s;
	char *mounts[8];
	int nmounts;
	int seq;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-commit.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/store", f->dir);
	if (store_open(f->root, &f->s, NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	for (int i = f->nmounts - 1; i >= 0; i--) {
		umount2(f->mounts[i], MNT_DETACH);
		free(f->mounts[i]);
	}
	if (f->s)
		store_close(f->s);
	fs_rm_rf_at(AT_FDCWD, f->dir);
	free(f);
	return 0;
}

static char *at(const char *dir, const char *name)
{
	static char p[4][600];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static void write_file(const char *dir, const char *name, const char *content, mode_t mode)
{
	int fd = open(at(dir, name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		fail_msg("create %s/%s: %s", dir, name, strerror(errno));
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static void write_big(const char *path, size_t size, unsigned seed)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	static uint32_t b[16384];
	uint32_t x = seed * 2654435761u + 1;
	for (size_t done = 0; done < size;) {
		/* Half noise, half text: neither all-compressible nor incompressible. */
		for (size_t i = 0; i < ARRAY_SIZE(b); i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			b[i] = (i & 1) ? x : 0x61626364;
		}
		size_t n = size - done < sizeof(b) ? size - done : sizeof(b);
		assert_int_equal(write(fd, b, n), (ssize_t)n);
		done += n;
	}
	close(fd);
}

/* A base image imported from a small tree; returns its id (caller frees). */
static char *make_base(struct fixture *f, size_t big)
{
	char t[128], tar[128];
	snprintf(t, sizeof(t), "%s/base-tree", f->dir);
	snprintf(tar, sizeof(tar), "%s/base.tar", f->dir);
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, at(t, "usr/share/nginx/html"), 0755), 0);
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, at(t, "etc"), 0755), 0);
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, at(t, "old/dir"), 0755), 0);
	write_file(t, "usr/share/nginx/html/index.html", "<h1>Welcome to nginx!</h1>\n", 0644);
	write_file(t, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
	write_file(t, "old/dir/file", "old\n", 0644);
	if (big)
		write_big(at(t, "big"), big, 7);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, tar), ARCHIVE_OK);
	struct layerdiff_tar *lt;
	assert_int_equal(layerdiff_tar_new(a, 0, &lt), 0);
	int dfd = open(t, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	OK(layerdiff_tar_add(lt, dfd, ".", "", 1, err));
	close(dfd);
	layerdiff_tar_free(lt);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	char *changes[] = {"CMD [\"/bin/sh\"]", "ENV BASE=1"};
	struct imgarchive_import_opts io = {.changes = changes, .nchanges = 2, .source = "-"};
	char id[DIGEST_STR_MAX];
	int fd = open(tar, O_RDONLY | O_CLOEXEC);
	OK(imgarchive_import(f->s, fd, &io, id, err));
	close(fd);
	return strdup(id);
}

/* A container of image id: an overlay of its layers with a fresh upper dir. */
struct container {
	char upper[128], work[128], merged[128];
	int upperfd;
};

static void start_container(struct fixture *f, const char *id, struct container *c)
{
	int n = ++f->seq;
	snprintf(c->upper, sizeof(c->upper), "%s/c%d-upper", f->dir, n);
	snprintf(c->work, sizeof(c->work), "%s/c%d-work", f->dir, n);
	snprintf(c->merged, sizeof(c->merged), "%s/c%d-merged", f->dir, n);
	SYS(mkdir(c->upper, 0755));
	SYS(mkdir(c->work, 0700));
	SYS(mkdir(c->merged, 0755));
	struct store_image *img;
	OK(store_image_get(f->s, id, &img, err));
	_cleanup_buf_ struct buf opts = BUF_INIT;
	buf_puts(&opts, "lowerdir=");
	for (size_t i = img->nlayers; i-- > 0;) {
		char *d = store_layer_dir(f->s, img->layers[i].chain_id);
		buf_printf(&opts, "%s%s", d, i ? ":" : "");
		free(d);
	}
	buf_printf(&opts, ",upperdir=%s,workdir=%s,redirect_dir=off,metacopy=off,index=off",
		   c->upper, c->work);
	store_image_free(img);
	SYS(mount("overlay", c->merged, "overlay", 0, opts.data));
	f->mounts[f->nmounts++] = strdup(c->merged);
	c->upperfd = open(c->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(c->upperfd >= 0);
}

/* The image's tree, read only: mounted at dir. */
static void mount_image(struct fixture *f, const char *id, const char *dir)
{
	struct store_image *img;
	OK(store_image_get(f->s, id, &img, err));
	_cleanup_buf_ struct buf opts = BUF_INIT;
	buf_puts(&opts, "lowerdir=");
	for (size_t i = img->nlayers; i-- > 0;) {
		char *d = store_layer_dir(f->s, img->layers[i].chain_id);
		buf_printf(&opts, "%s%s", d, i ? ":" : "");
		free(d);
	}
	/* One layer can not be an overlay without an upper dir: add an empty lower. */
	if (img->nlayers == 1)
		buf_printf(&opts, ":%s/empty", f->dir);
	mkdir(at(f->dir, "empty"), 0755);
	store_image_free(img);
	SYS(mkdir(dir, 0755));
	SYS(mount("overlay", dir, "overlay", MS_RDONLY, opts.data));
	f->mounts[f->nmounts++] = strdup(dir);
}

/* ---- tree listing (as in test_layerdiff) ---- */

static void snap_dir(const char *dir, const char *rel, struct strv *out)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s%s%s", dir, rel[0] ? "/" : "", rel);
	DIR *d = opendir(p);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		char r[1024], full[1200];
		snprintf(r, sizeof(r), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
		snprintf(full, sizeof(full), "%s/%s", dir, r);
		struct stat st;
		SYS(lstat(full, &st));
		_cleanup_buf_ struct buf line = BUF_INIT;
		buf_printf(&line, "%s %o %u:%u", r, st.st_mode, st.st_uid, st.st_gid);
		if (!S_ISDIR(st.st_mode))
			buf_printf(&line, " t=%lld", (long long)st.st_mtim.tv_sec);
		if (S_ISREG(st.st_mode)) {
			struct digest dg;
			int fd = open(full, O_RDONLY | O_CLOEXEC);
			assert_int_equal(digest_fd(DIGEST_SHA256, fd, &dg, NULL), 0);
			close(fd);
			buf_printf(&line, " %.12s", dg.hex);
		}
		if (S_ISLNK(st.st_mode)) {
			char t[512];
			ssize_t n = readlink(full, t, sizeof(t) - 1);
			t[n < 0 ? 0 : n] = '\0';
			buf_printf(&line, " -> %s", t);
		}
		strv_push(out, line.data);
		if (S_ISDIR(st.st_mode))
			snap_dir(dir, r, out);
	}
	closedir(d);
}

static void assert_same_trees(const char *a, const char *b)
{
	_cleanup_strv_ struct strv sa = STRV_INIT, sb = STRV_INIT;
	snap_dir(a, "", &sa);
	snap_dir(b, "", &sb);
	strv_sort(&sa);
	strv_sort(&sb);
	assert_true(sa.n > 5);
	for (size_t i = 0; i < sa.n || i < sb.n; i++) {
		const char *x = i < sa.n ? sa.v[i] : "(end)";
		const char *y = i < sb.n ? sb.v[i] : "(end)";
		if (!streq(x, y))
			fail_msg("trees differ at line %zu:\n  %s: %s\n  %s: %s", i, a, x, b, y);
	}
}

/* ---- reading what a commit wrote ---- */

static json_t *read_config(struct fixture *f, const char *id)
{
	char *text;
	size_t len;
	OK(store_blob_read(f->s, id, 1 << 20, &text, &len, err));
	json_t *j = NULL;
	struct imgconfig_info info = {0};
	OK(imgconfig_parse(text, len, &j, &info, err));
	imgconfig_info_free(&info);
	free(text);
	return j;
}

/* The gzip blob decompresses to a tar whose sha256 is the diff id. */
static void check_layer_blob(struct fixture *f, const struct store_image_layer *l)
{
	assert_string_equal(l->media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
	int fd;
	uint64_t size;
	OK(store_blob_open(f->s, l->digest, &fd, &size, err));
	assert_int_equal(size, l->blob_size);
	struct digest raw;
	assert_int_equal(digest_fd(DIGEST_SHA256, fd, &raw, NULL), 0);
	char hex[DIGEST_STR_MAX];
	assert_string_equal(digest_format(&raw, hex), l->digest);
	lseek(fd, 0, SEEK_SET);
	struct archive *a = archive_read_new();
	archive_read_support_filter_gzip(a);
	archive_read_support_format_raw(a);
	assert_int_equal(archive_read_open_fd(a, fd, 65536), ARCHIVE_OK);
	struct archive_entry *e;
	assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
	assert_int_equal(archive_filter_code(a, 0), ARCHIVE_FILTER_GZIP);
	struct digester *h = digester_new(DIGEST_SHA256);
	char buf[65536];
	la_ssize_t n;
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
		digester_update(h, buf, (size_t)n);
	assert_int_equal(n, 0);
	struct digest tar;
	digester_final(h, &tar);
	digester_free(h);
	archive_read_free(a);
	close(fd);
	assert_string_equal(digest_format(&tar, hex), l->diff_id);
}

static const char *hist_str(json_t *cfg, size_t i, const char *key)
{
	json_t *h = json_array_get(json_object_get(cfg, "history"), i);
	return json_string_value(json_object_get(h, key));
}

static void test_commit_stack(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *base = make_base(f, 0);

	/* 1: the lesson: edit index.html, add a file, delete a dir. */
	struct container c1;
	start_container(f, base, &c1);
	write_file(c1.merged, "usr/share/nginx/html/index.html", "<h1>Hello from berth</h1>\n",
		   0644);
	write_file(c1.merged, "added", "added\n", 0600);
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, at(c1.merged, "old")), 0);
	json_t *ccfg =
	    json_pack("{s:[s],s:[s],s:s}", "Cmd", "sh", "Env", "BASE=1", "WorkingDir", "/");
	char *changes[] = {"ENV B=2", "ONBUILD RUN echo hi", "CMD [\"/bin/app\", \"-x\"]",
			   "LABEL lesson=one"};
	struct commit_opts o = {
	    .base_id = base,
	    .upperfd = c1.upperfd,
	    .config = ccfg,
	    .changes = changes,
	    .nchanges = ARRAY_SIZE(changes),
	    .author = "Ann <ann@example.com>",
	    .message = "first edit",
	    .created_by = "sh",
	    .container_id = "0123abcd",
	    .name = "docker.io/library/lesson:1",
	};
	_cleanup_free_ char *id1 = NULL;
	OK(image_commit(f->s, &o, &id1, err));
	json_decref(ccfg);

	struct store_image *img;
	OK(store_image_get(f->s, id1, &img, err));
	assert_string_equal(img->parent, base);
	assert_int_equal(img->nlayers, 2);
	assert_string_equal(img->manifest_media_type, IMGARCHIVE_MT_OCI_MANIFEST);
	check_layer_blob(f, &img->layers[1]);
	assert_int_equal(img->size, img->layers[0].size + img->layers[1].size);
	/* The manifest names the config and both layer blobs. */
	char *mtext;
	size_t mlen;
	OK(store_blob_read(f->s, img->manifest_digest, 1 << 20, &mtext, &mlen, err));
	struct imgarchive_manifest m;
	OK(imgarchive_parse_manifest(mtext, mlen, &m, err));
	assert_string_equal(m.config.digest, id1);
	assert_int_equal(m.nlayers, 2);
	assert_string_equal(m.layers[1].digest, img->layers[1].digest);
	assert_int_equal(m.layers[1].size, (int64_t)img->layers[1].blob_size);
	imgarchive_manifest_free(&m);
	free(mtext);
	store_image_free(img);

	json_t *cfg = read_config(f, id1);
	assert_string_equal(json_string_value(json_object_get(cfg, "author")),
			    "Ann <ann@example.com>");
	assert_string_equal(json_string_value(json_object_get(cfg, "comment")), "first edit");
	assert_string_equal(json_string_value(json_object_get(cfg, "container")), "0123abcd");
	assert_string_equal(json_string_value(json_object_get(cfg, "os")), "linux");
	json_t *rc = json_object_get(cfg, "config");
	char *env = json_dumps(json_object_get(rc, "Env"), JSON_COMPACT);
	assert_string_equal(env, "[\"BASE=1\",\"B=2\"]");
	free(env);
	char *cmd = json_dumps(json_object_get(rc, "Cmd"), JSON_COMPACT);
	assert_string_equal(cmd, "[\"/bin/app\",\"-x\"]");
	free(cmd);
	char *onb = json_dumps(json_object_get(rc, "OnBuild"), JSON_COMPACT);
	assert_string_equal(onb, "[\"RUN echo hi\"]");
	free(onb);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(rc, "Labels"), "lesson")), "one");
	assert_string_equal(json_string_value(json_object_get(rc, "WorkingDir")), "/");
	assert_int_equal(json_array_size(json_object_get(cfg, "history")), 2);
	assert_string_equal(hist_str(cfg, 0, "comment"), "Imported from -");
	assert_string_equal(hist_str(cfg, 1, "comment"), "first edit");
	assert_string_equal(hist_str(cfg, 1, "author"), "Ann <ann@example.com>");
	assert_string_equal(hist_str(cfg, 1, "created_by"), "sh");
	assert_string_equal(hist_str(cfg, 1, "created"),
			    json_string_value(json_object_get(cfg, "created")));
	assert_null(
	    json_object_get(json_array_get(json_object_get(cfg, "history"), 1), "empty_layer"));
	json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	assert_int_equal(json_array_size(diff_ids), 2);
	json_decref(cfg);
	_cleanup_free_ char *resolved = NULL;
	OK(store_image_resolve(f->s, "lesson:1", &resolved, err));
	assert_string_equal(resolved, id1);

	/* 2: a container of the commit, changed again, committed again (no config: the
	 * image's own config carries over), 3: and once more. */
	struct container c2;
	start_container(f, id1, &c2);
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, at(c2.merged, "srv/www"), 0755), 0);
	write_file(c2.merged, "srv/www/page", "page\n", 0644);
	SYS(unlink(at(c2.merged, "added")));
	SYS(symlink("../srv/www/page", at(c2.merged, "etc/page")));
	struct commit_opts o2 = {.base_id = id1, .upperfd = c2.upperfd, .message = "second"};
	_cleanup_free_ char *id2 = NULL;
	OK(image_commit(f->s, &o2, &id2, err));

	struct container c3;
	start_container(f, id2, &c3);
	write_file(c3.merged, "usr/share/nginx/html/index.html", "<h1>third</h1>\n", 0644);
	SYS(chmod(at(c3.merged, "srv/www"), 0700));
	SYS(chown(at(c3.merged, "srv/www/page"), 33, 33));
	char *ch3[] = {"USER www"};
	struct commit_opts o3 = {.base_id = id2,
				 .upperfd = c3.upperfd,
				 .changes = ch3,
				 .nchanges = 1,
				 .author = "Bob",
				 .name = "docker.io/library/lesson:3"};
	_cleanup_free_ char *id3 = NULL;
	OK(image_commit(f->s, &o3, &id3, err));

	OK(store_image_get(f->s, id3, &img, err));
	assert_int_equal(img->nlayers, 4);
	assert_string_equal(img->parent, id2);
	for (size_t i = 1; i < 4; i++)
		check_layer_blob(f, &img->layers[i]);
	store_image_free(img);
	cfg = read_config(f, id3);
	assert_int_equal(json_array_size(json_object_get(cfg, "history")), 4);
	assert_string_equal(hist_str(cfg, 1, "comment"), "first edit");
	assert_string_equal(hist_str(cfg, 2, "comment"), "second");
	assert_string_equal(hist_str(cfg, 3, "author"), "Bob");
	assert_null(hist_str(cfg, 3, "comment"));
	rc = json_object_get(cfg, "config");
	assert_string_equal(json_string_value(json_object_get(rc, "User")), "www");
	cmd = json_dumps(json_object_get(rc, "Cmd"), JSON_COMPACT);
	assert_string_equal(cmd, "[\"/bin/app\",\"-x\"]"); /* carried from commit 1 */
	free(cmd);
	json_decref(cfg);

	/* The image's tree is the container's tree. */
	char view[128];
	snprintf(view, sizeof(view), "%s/view3", f->dir);
	mount_image(f, id3, view);
	assert_same_trees(c3.merged, view);
	assert_int_equal(access(at(view, "added"), F_OK), -1);
	assert_int_equal(access(at(view, "old"), F_OK), -1);

	/* Committing the same container twice gives two images (new created time) sharing
	 * the same layer. */
	_cleanup_free_ char *id3b = NULL;
	OK(image_commit(f->s, &o3, &id3b, err));
	assert_string_not_equal(id3, id3b);
	struct store_image *a, *b;
	OK(store_image_get(f->s, id3, &a, err));
	OK(store_image_get(f->s, id3b, &b, err));
	assert_string_equal(a->layers[3].chain_id, b->layers[3].chain_id);
	assert_string_equal(a->layers[3].digest, b->layers[3].digest);
	store_image_free(a);
	store_image_free(b);
	close(c1.upperfd);
	close(c2.upperfd);
	close(c3.upperfd);

	/* gc keeps everything the records name. */
	struct berr *e = NULL;
	assert_true(store_gc(f->s, &e) >= 0);
	berr_free(e);
	OK(store_image_get(f->s, id3, &img, err));
	for (size_t i = 0; i < img->nlayers; i++) {
		struct store_layer_info li;
		OK(store_layer_get(f->s, img->layers[i].chain_id, &li, err));
	}
	store_image_free(img);
}

static void test_empty_and_scratch(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *base = make_base(f, 0);
	struct container c;
	start_container(f, base, &c);
	struct commit_opts o = {.base_id = base, .upperfd = c.upperfd, .message = "nothing"};
	_cleanup_free_ char *id = NULL;
	OK(image_commit(f->s, &o, &id, err));
	struct store_image *img, *bimg;
	OK(store_image_get(f->s, id, &img, err));
	OK(store_image_get(f->s, base, &bimg, err));
	assert_int_equal(img->nlayers, 1);
	assert_string_equal(img->layers[0].chain_id, bimg->layers[0].chain_id);
	store_image_free(img);
	store_image_free(bimg);
	json_t *cfg = read_config(f, id);
	json_t *last = json_array_get(json_object_get(cfg, "history"), 1);
	assert_true(json_is_true(json_object_get(last, "empty_layer")));
	/* The base's config carries over when the container's is not given. */
	char *env =
	    json_dumps(json_object_get(json_object_get(cfg, "config"), "Env"), JSON_COMPACT);
	assert_string_equal(env, "[\"BASE=1\"]");
	free(env);
	json_decref(cfg);
	close(c.upperfd);

	/* No base: one layer of the upper dir, linux and this machine's architecture. */
	char up[128];
	snprintf(up, sizeof(up), "%s/scratch-upper", f->dir);
	SYS(mkdir(up, 0755));
	write_file(up, "hello", "hello\n", 0755);
	int ufd = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct commit_opts os = {.upperfd = ufd};
	_cleanup_free_ char *sid = NULL;
	OK(image_commit(f->s, &os, &sid, err));
	close(ufd);
	OK(store_image_get(f->s, sid, &img, err));
	assert_int_equal(img->nlayers, 1);
	assert_null(img->parent);
	check_layer_blob(f, &img->layers[0]);
	store_image_free(img);
	cfg = read_config(f, sid);
	assert_string_equal(json_string_value(json_object_get(cfg, "architecture")),
			    imgconfig_host_arch());
	json_decref(cfg);
}

static int count_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += !streq(de->d_name, ".") && !streq(de->d_name, "..");
	closedir(d);
	return n;
}

static void test_errors_write_nothing(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *base = make_base(f, 0);
	int blobs = count_dir(at(f->root, "blobs/sha256"));
	int layers = count_dir(at(f->root, "layers"));
	char up[128];
	snprintf(up, sizeof(up), "%s/upper", f->dir);
	SYS(mkdir(up, 0755));
	write_file(up, "x", "x\n", 0644);
	int ufd = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char *bad[] = {"ENV A=1", "FROB x"};
	struct commit_opts o = {.base_id = base, .upperfd = ufd, .changes = bad, .nchanges = 2};
	struct berr *e = NULL;
	char *id = NULL;
	assert_int_equal(image_commit(f->s, &o, &id, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "line 2"));
	berr_free(e);
	e = NULL;
	assert_int_equal(image_commit_check(&o, &e), -EINVAL);
	berr_free(e);
	char *run[] = {"RUN echo"};
	o.changes = run;
	o.nchanges = 1;
	e = NULL;
	assert_int_equal(image_commit(f->s, &o, &id, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "not a valid change command"));
	berr_free(e);
	o.nchanges = 0;
	o.base_id = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
	e = NULL;
	assert_int_equal(image_commit(f->s, &o, &id, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "No such image"));
	berr_free(e);
	assert_null(id);
	assert_int_equal(count_dir(at(f->root, "blobs/sha256")), blobs);
	assert_int_equal(count_dir(at(f->root, "layers")), layers);

	/* A redirect xattr in the upper dir (redirect_dir=on): refused, and after gc nothing of
	 * the attempt is left. */
	SYS(mkdir(at(up, "moved"), 0755));
	SYS(setxattr(at(up, "moved"), "trusted.overlay.redirect", "/old", 4, 0));
	o.base_id = base;
	e = NULL;
	assert_int_equal(image_commit(f->s, &o, &id, &e), -EOPNOTSUPP);
	assert_non_null(strstr(e->msg, "redirect_dir=off"));
	berr_free(e);
	assert_null(id);
	close(ufd);
	assert_int_equal(count_dir(at(f->root, "tmp")), 0);
	e = NULL;
	assert_true(store_gc(f->s, &e) >= 0);
	berr_free(e);
	assert_int_equal(count_dir(at(f->root, "blobs/sha256")), blobs);
	assert_int_equal(count_dir(at(f->root, "layers")), layers);
}

/* Every record complete: its blobs and layers are there. */
static void check_store(const char *root, size_t *ret_images)
{
	struct store *s;
	OK(store_open(root, &s, err));
	struct store_image **imgs;
	size_t n;
	OK(store_image_list(s, &imgs, &n, err));
	for (size_t i = 0; i < n; i++) {
		assert_true(store_blob_has(s, imgs[i]->id));
		assert_true(store_blob_has(s, imgs[i]->manifest_digest));
		for (size_t k = 0; k < imgs[i]->nlayers; k++) {
			struct store_layer_info li;
			assert_true(store_blob_has(s, imgs[i]->layers[k].digest));
			OK(store_layer_get(s, imgs[i]->layers[k].chain_id, &li, err));
		}
	}
	store_image_list_free(imgs, n);
	struct berr *e = NULL;
	assert_true(store_gc(s, &e) >= 0);
	berr_free(e);
	store_close(s);
	/* After gc of a store nobody writes to: no temp leftovers. */
	assert_int_equal(count_dir(at(root, "tmp")), 0);
	*ret_images = n;
}

static pid_t commit_child(const char *root, const char *base, const char *upper)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *s;
		if (store_open(root, &s, NULL) < 0)
			_exit(2);
		int ufd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct commit_opts o = {.base_id = base, .upperfd = ufd, .message = "killed?"};
		char *id = NULL;
		int r = image_commit(s, &o, &id, NULL);
		_exit(r < 0 ? 1 : 0);
	}
	return pid;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Let the child run for at_s seconds, then SIGKILL it. 1 when the kill ended it; 0 when it
 * had ended by itself first (and succeeded), having run for *ret_s seconds. */
static int kill_at(pid_t pid, double at_s, double *ret_s)
{
	double t0 = now_s(), left;
	int status;
	pid_t w;
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && (left = at_s - (now_s() - t0)) > 0) {
		struct timespec ts = {0, left < 0.001 ? (long)(left * 1e9) : 1000000};
		nanosleep(&ts, NULL);
	}
	if (w == 0) {
		kill(pid, SIGKILL);
		w = waitpid(pid, &status, 0);
	}
	assert_int_equal(w, pid);
	*ret_s = now_s() - t0;
	if (WIFSIGNALED(status))
		return 1;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 0;
}

static void test_kill9(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *base = make_base(f, 0);
	/* A big change: one 16 MiB file and 400 small ones in a plain upper dir. */
	char up[128];
	snprintf(up, sizeof(up), "%s/upper", f->dir);
	SYS(mkdir(up, 0755));
	write_big(at(up, "big"), 16 << 20, 1);
	SYS(mkdir(at(up, "many"), 0755));
	for (int i = 0; i < 400; i++) {
		char name[32];
		snprintf(name, sizeof(name), "many/f%03d", i);
		write_file(up, name, name, 0644);
	}
	SYS(mknod(at(up, "old"), S_IFCHR, makedev(0, 0)));
	store_close(f->s); /* the children use the store alone */
	f->s = NULL;

	double t0 = now_s();
	pid_t pid = commit_child(f->root, base, up);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	double full = now_s() - t0;
	size_t n;
	check_store(f->root, &n);
	assert_int_equal(n, 2);

	srand((unsigned)getpid());
	int killed = 0;
	/* Kill points spread over the whole commit, a few right at the start. How long a
	 * commit takes is what the last one that ran to its end took: a first commit slowed
	 * down by another process's disk writes (20 s once, the next ones 0.5 s) put most
	 * kills after the end, and too few landed. 10 rounds, more until 5 kills landed. */
	for (int round = 0; round < 40 && (round < 10 || killed < 5); round++) {
		double at_s = round < 3 ? 0.001 * round : full * (double)(rand() % 1100) / 1000.0;
		double ran;
		pid = commit_child(f->root, base, up);
		if (kill_at(pid, at_s, &ran))
			killed++;
		else
			full = ran;
		size_t m;
		check_store(f->root, &m);
		assert_true(m >= n);
		n = m;
	}
	assert_true(killed >= 5);
	/* And the store still works: a last commit goes through. */
	pid = commit_child(f->root, base, up);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check_store(f->root, &n);
	assert_int_equal(store_open(f->root, &f->s, NULL), 0);
}

/* Bytes this process has read and written through system calls (/proc/self/io: rchar and
 * wchar count every read(2)/write(2)-like call, page cache or not, of all threads). */
static void io_bytes(unsigned long long *rchar, unsigned long long *wchar)
{
	char *text;
	size_t len;
	assert_int_equal(fs_read_all_at(AT_FDCWD, "/proc/self/io", 4096, &text, &len), 0);
	const char *r = strstr(text, "rchar: "), *w = strstr(text, "wchar: ");
	assert_true(r && w);
	*rchar = strtoull(r + 7, NULL, 10);
	*wchar = strtoull(w + 7, NULL, 10);
	free(text);
}

/* A small change on a big image costs what the change costs: the commit reads and writes a
 * few kB, not the image's 100 MiB. Measured in bytes, which load can not disturb: its time
 * against the import's was checked too, and a burst of another process's disk writes during
 * the commit's fsyncs can make it the longer one. */
static void test_time_follows_change(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *base = make_base(f, 100 << 20);
	struct container c;
	start_container(f, base, &c);
	write_file(c.merged, "usr/share/nginx/html/index.html", "<h1>small</h1>\n", 0644);
	struct commit_opts o = {.base_id = base, .upperfd = c.upperfd};
	_cleanup_free_ char *id = NULL;
	unsigned long long r0, w0, r1, w1;
	io_bytes(&r0, &w0);
	OK(image_commit(f->s, &o, &id, err));
	io_bytes(&r1, &w1);
	close(c.upperfd);
	if (r1 - r0 > (1 << 20) || w1 - w0 > (1 << 20))
		fail_msg("commit of a small change read %llu and wrote %llu bytes", r1 - r0, w1 - w0);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_commit needs root (overlay mounts, whiteouts, owners)\n");
		return 77;
	}
	umask(022);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "test_commit: private mount namespace: %s\n", strerror(errno));
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_commit_stack, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_and_scratch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors_write_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_time_follows_change, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
