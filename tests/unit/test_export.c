/* docker export: the tar of a mounted overlay and the tar merged from its layer dirs and upper
 * dir are the same stream, and show the tree the mount shows: whiteouts and opaque dirs of
 * the upper dir and of the image's layers honoured, never written. Needs root (overlay
 * mounts, whiteouts); runs in a private mount namespace. */
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
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "export.h"
#include "fs.h"
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
	struct store *s;
	char *mounts[4];
	int nmounts;
	char *l1, *l2;
	char upper[128], work[128], merged[128];
};

static char *at(const char *dir, const char *name)
{
	static char p[4][2200];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static void put(const char *dir, const char *name, const char *content, mode_t mode)
{
	int fd = open(at(dir, name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		fail_msg("create %s/%s: %s", dir, name, strerror(errno));
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static void mk(const char *dir, const char *name)
{
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, at(dir, name), 0755), 0);
}

/* A tree as a layer in the store (overlay forms converted with overlay set). */
static char *layer(struct fixture *f, const char *tree, int overlay, const char *parent,
		   char *ret_chain)
{
	char tar[128];
	snprintf(tar, sizeof(tar), "%s.tar", tree);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, tar), ARCHIVE_OK);
	int dfd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (overlay) {
		OK(layerdiff_write(dfd, a, NULL, err));
	} else {
		struct layerdiff_tar *t;
		assert_int_equal(layerdiff_tar_new(a, 0, &t), 0);
		OK(layerdiff_tar_add(t, dfd, ".", "", 1, err));
		layerdiff_tar_free(t);
	}
	close(dfd);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	int fd = open(tar, O_RDONLY | O_CLOEXEC);
	struct store_layer_info info;
	OK(store_layer_unpack(f->s, fd, parent, NULL, STORE_KEEP_NONE, &info, err));
	close(fd);
	snprintf(ret_chain, DIGEST_STR_MAX, "%s", info.chain_id);
	return store_layer_dir(f->s, info.chain_id);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-export.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	char root[128];
	snprintf(root, sizeof(root), "%s/store", f->dir);
	if (store_open(root, &f->s, NULL) < 0)
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
	free(f->l1);
	free(f->l2);
	store_close(f->s);
	fs_rm_rf_at(AT_FDCWD, f->dir);
	free(f);
	return 0;
}

static void mount_at(struct fixture *f, const char *dir, const char *opts)
{
	SYS(mkdir(dir, 0755));
	SYS(mount("overlay", dir, "overlay", 0, opts));
	f->mounts[f->nmounts++] = strdup(dir);
}

/* Image: l1 a tree with hard links; l2 deletes a file of l1 (whiteout) and replaces a
 * directory (opaque). Container: more changes through the mount. */
static void make_container(struct fixture *f)
{
	char t1[128], t2[128], c1[DIGEST_STR_MAX], c2[DIGEST_STR_MAX];
	snprintf(t1, sizeof(t1), "%s/t1", f->dir);
	snprintf(t2, sizeof(t2), "%s/t2", f->dir);
	mk(t1, "etc");
	mk(t1, "opq/inner");
	mk(t1, "keep/deep");
	mk(t1, "bin");
	put(t1, "etc/passwd", "root:x:0:0\n", 0644);
	put(t1, "etc/deleted-by-l2", "x\n", 0644);
	put(t1, "opq/old", "old\n", 0644);
	put(t1, "opq/inner/old2", "old2\n", 0644);
	put(t1, "keep/deep/f", "f\n", 0600);
	put(t1, "bin/busybox", "#!/bin/sh\n", 0755);
	SYS(link(at(t1, "bin/busybox"), at(t1, "bin/sh")));
	SYS(symlink("busybox", at(t1, "bin/ls")));
	SYS(mkfifo(at(t1, "fifo"), 0600));
	SYS(chown(at(t1, "keep/deep/f"), 1000, 1000));
	f->l1 = layer(f, t1, 0, NULL, c1);
	mk(t2, "etc");
	mk(t2, "opq");
	SYS(mknod(at(t2, "etc/deleted-by-l2"), S_IFCHR, makedev(0, 0)));
	SYS(setxattr(at(t2, "opq"), "trusted.overlay.opaque", "y", 1, 0));
	put(t2, "opq/new", "new\n", 0644);
	f->l2 = layer(f, t2, 1, c1, c2);

	snprintf(f->upper, sizeof(f->upper), "%s/upper", f->dir);
	snprintf(f->work, sizeof(f->work), "%s/work", f->dir);
	snprintf(f->merged, sizeof(f->merged), "%s/merged", f->dir);
	SYS(mkdir(f->upper, 0755));
	SYS(mkdir(f->work, 0700));
	char opts[2048];
	snprintf(opts, sizeof(opts),
		 "lowerdir=%s:%s,upperdir=%s,workdir=%s,redirect_dir=off,metacopy=off,index=off",
		 f->l2, f->l1, f->upper, f->work);
	mount_at(f, f->merged, opts);
	const char *m = f->merged;
	put(m, "etc/passwd", "root:x:0:0:changed\n", 0644);
	put(m, "added", "added\n", 0640);
	SYS(unlink(at(m, "bin/ls")));
	SYS(fs_rm_rf_at(AT_FDCWD, at(m, "keep")));
	mk(m, "keep");
	put(m, "keep/again", "again\n", 0644);
	SYS(link(at(m, "added"), at(m, "added-link")));
	SYS(symlink("/etc/passwd", at(m, "pw")));
	SYS(setxattr(at(m, "added"), "user.k", "v", 1, 0));
	SYS(chmod(at(m, "bin"), 0700));
}

/* The tar at path as lines "name type mode uid:gid mtime [content digest|link|hardlink]
 * [xattrs]". */
static void tar_lines(const char *path, struct strv *out)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	struct archive_entry *e;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		_cleanup_buf_ struct buf l = BUF_INIT;
		const char *name = archive_entry_pathname(e);
		if (strstr(name, ".wh."))
			fail_msg("whiteout in an export: %s", name);
		buf_printf(&l, "%s %o %u:%u t=%lld", name, archive_entry_mode(e),
			   (unsigned)archive_entry_uid(e), (unsigned)archive_entry_gid(e),
			   (long long)archive_entry_mtime(e));
		if (archive_entry_hardlink(e))
			buf_printf(&l, " hard=%s", archive_entry_hardlink(e));
		else if (archive_entry_symlink(e))
			buf_printf(&l, " -> %s", archive_entry_symlink(e));
		else if (archive_entry_filetype(e) == AE_IFREG) {
			struct digester *h = digester_new(DIGEST_SHA256);
			char b[4096];
			la_ssize_t n;
			while ((n = archive_read_data(a, b, sizeof(b))) > 0)
				digester_update(h, b, (size_t)n);
			struct digest d;
			digester_final(h, &d);
			digester_free(h);
			buf_printf(&l, " %.12s", d.hex);
		}
		const char *k;
		const void *v;
		size_t sz;
		archive_entry_xattr_reset(e);
		while (archive_entry_xattr_next(e, &k, &v, &sz) == ARCHIVE_OK) {
			if (strstr(k, "overlay"))
				fail_msg("overlay xattr in an export: %s %s", name, k);
			buf_printf(&l, " %s=%.*s", k, (int)sz, (const char *)v);
		}
		strv_push(out, l.data);
	}
	archive_read_free(a);
}

/* The names the mounted tree shows, as the tar names them. */
static void tree_names(const char *dir, const char *rel, struct strv *out)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s%s%s", dir, rel[0] ? "/" : "", rel);
	DIR *d = opendir(p);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		char r[1024];
		snprintf(r, sizeof(r), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
		struct stat st;
		SYS(lstat(at(dir, r), &st));
		if (S_ISDIR(st.st_mode)) {
			char slash[1030];
			snprintf(slash, sizeof(slash), "%s/", r);
			strv_push(out, slash);
			tree_names(dir, r, out);
		} else {
			strv_push(out, r);
		}
	}
	closedir(d);
}

static void test_mount_and_layers_agree(void **state)
{
	struct fixture *f = *state;
	make_container(f);
	char a[128], b[128];
	snprintf(a, sizeof(a), "%s/a.tar", f->dir);
	snprintf(b, sizeof(b), "%s/b.tar", f->dir);
	int afd = open(a, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int mfd = open(f->merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	OK(export_rootfs(mfd, afd, err));
	close(afd);
	close(mfd);
	int bfd = open(b, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int fds[3] = {open(f->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
		      open(f->l2, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
		      open(f->l1, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
	OK(export_layers(fds, 3, bfd, err));
	close(bfd);

	_cleanup_strv_ struct strv la = STRV_INIT, lb = STRV_INIT, names = STRV_INIT;
	tar_lines(a, &la);
	tar_lines(b, &lb);
	for (size_t i = 0; i < la.n || i < lb.n; i++)
		if (i >= la.n || i >= lb.n || !streq(la.v[i], lb.v[i]))
			fail_msg("entry %zu: mount '%s', layers '%s'", i,
				 i < la.n ? la.v[i] : "(end)", i < lb.n ? lb.v[i] : "(end)");

	/* The same names as the mount shows, in walk order (sorted per directory). */
	tree_names(f->merged, "", &names);
	strv_sort(&names);
	_cleanup_strv_ struct strv tarnames = STRV_INIT;
	for (size_t i = 0; i < la.n; i++)
		strv_push_take(&tarnames, strndup(la.v[i], strcspn(la.v[i], " ")));
	strv_sort(&tarnames);
	assert_int_equal(names.n, tarnames.n);
	for (size_t i = 0; i < names.n; i++)
		assert_string_equal(names.v[i], tarnames.v[i]);

	/* What must and must not be there. */
	static const char *const want[] = {
	    "added ",	   "added-link ", "bin/busybox ", "bin/sh ",
	    "keep/again ", "opq/new ",	  "pw ",	  "fifo ",
	};
	static const char *const gone[] = {"bin/ls ", "etc/deleted-by-l2 ", "opq/old ",
					   "opq/inner/", "keep/deep/"};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		int found = 0;
		for (size_t k = 0; k < la.n; k++)
			found |= strncmp(la.v[k], want[i], strlen(want[i])) == 0;
		if (!found)
			fail_msg("'%s' missing", want[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(gone); i++)
		for (size_t k = 0; k < la.n; k++)
			if (strncmp(la.v[k], gone[i], strlen(gone[i])) == 0)
				fail_msg("'%s' exported", gone[i]);
	int hard = 0, xattr = 0;
	for (size_t k = 0; k < la.n; k++) {
		hard += strstr(la.v[k], "hard=") != NULL;
		xattr += strstr(la.v[k], "user.k=v") != NULL;
	}
	assert_int_equal(hard, 2); /* added-link, bin/sh */
	assert_int_equal(xattr, 1);
	/* Docker's form: no root entry, relative names, a directory before its entries. */
	assert_true(strncmp(la.v[0], "added ", 6) == 0);
	for (size_t k = 0; k < la.n; k++)
		assert_true(la.v[k][0] != '/' && strncmp(la.v[k], "./", 2) != 0);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

/* Only the image's layers, no upper dir: the same as an image-only mount. */
static void test_image_only(void **state)
{
	struct fixture *f = *state;
	make_container(f);
	char view[128], opts[1024], a[128], b[128];
	snprintf(view, sizeof(view), "%s/view", f->dir);
	snprintf(opts, sizeof(opts), "lowerdir=%s:%s", f->l2, f->l1);
	mount_at(f, view, opts);
	snprintf(a, sizeof(a), "%s/a.tar", f->dir);
	snprintf(b, sizeof(b), "%s/b.tar", f->dir);
	int afd = open(a, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int vfd = open(view, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	OK(export_rootfs(vfd, afd, err));
	close(afd);
	close(vfd);
	int bfd = open(b, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int fds[2] = {open(f->l2, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
		      open(f->l1, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
	OK(export_layers(fds, 2, bfd, err));
	close(bfd);
	close(fds[0]);
	close(fds[1]);
	_cleanup_strv_ struct strv la = STRV_INIT, lb = STRV_INIT;
	tar_lines(a, &la);
	tar_lines(b, &lb);
	assert_int_equal(la.n, lb.n);
	assert_true(la.n > 10);
	for (size_t i = 0; i < la.n; i++)
		assert_string_equal(la.v[i], lb.v[i]);

	/* An unwritable output is an error, not a crash. */
	int pfd[2];
	SYS(pipe(pfd));
	close(pfd[0]);
	signal(SIGPIPE, SIG_IGN);
	struct berr *e = NULL;
	assert_true(export_layers(fds, 0, pfd[1], &e) <= 0);
	berr_free(e);
	e = NULL;
	int rfd = open(f->l1, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(export_rootfs(rfd, pfd[1], &e) < 0);
	berr_free(e);
	close(rfd);
	close(pfd[1]);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_export needs root (overlay mounts, whiteouts)\n");
		return 77;
	}
	umask(022);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "test_export: private mount namespace: %s\n", strerror(errno));
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mount_and_layers_agree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_image_only, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
