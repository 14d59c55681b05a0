/* Layer unpacking: the hostile and edge-case archives of data/tar (made by data/tar/gen.py)
 * and a big streamed file. Needs root: device nodes, owners, trusted.* xattrs. */
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
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include "cleanup.h"
#include "digest.h"
#include "fs.h"
#include "store.h"
#include "unpack.h"

#define DATA "data/tar"

struct fixture {
	char dir[64];
	char root[96];
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-unpack.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	if (store_open(f->root, &f->s, NULL) < 0)
		return -1;
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

/* Unpack a corpus file; returns store_layer_unpack's result, *ret_err the error. */
static int unpack_file(struct fixture *f, const char *name, enum store_blob_keep keep,
		       struct store_layer_info *info, struct berr **ret_err)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", DATA, name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail_msg("open %s: %s (run from tests/unit)", p, strerror(errno));
	int r = store_layer_unpack(f->s, fd, NULL, NULL, keep, info, ret_err);
	close(fd);
	return r;
}

/* Unpack a corpus file that must work; returns the layer directory (caller frees). */
static char *unpack_ok(struct fixture *f, const char *name, struct store_layer_info *info)
{
	struct berr *err = NULL;
	if (unpack_file(f, name, STORE_KEEP_NONE, info, &err) < 0)
		fail_msg("%s: %s", name, err ? err->msg : "?");
	char *dir = store_layer_dir(f->s, info->chain_id);
	assert_non_null(dir);
	assert_int_equal(count_in(f, "tmp"), 0);
	return dir;
}

static struct stat lstat_in(const char *dir, const char *name)
{
	char p[1024];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (lstat(p, &st) < 0)
		fail_msg("lstat %s: %s", p, strerror(errno));
	return st;
}

static int exists_in(const char *dir, const char *name)
{
	char p[1024];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

static ssize_t xattr_in(const char *dir, const char *name, const char *attr, char *buf,
			size_t size)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lgetxattr(p, attr, buf, size);
}

static char *read_in(const char *dir, const char *name)
{
	char p[1024];
	char *data = NULL;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (fs_read_all_at(AT_FDCWD, p, 1 << 20, &data, NULL) < 0)
		fail_msg("read %s", p);
	return data;
}

static void assert_escapes_absent(void)
{
	glob_t g;
	int r = glob("/tmp/berth-escape*", 0, NULL, &g);
	if (r == 0)
		fail_msg("an archive wrote %s", g.gl_pathv[0]);
	globfree(&g);
	assert_int_equal(access("/berth-escape-chain", F_OK), -1);
}

/* ---- hostile archives ---- */

static void test_hostile_refused(void **state)
{
	struct fixture *f = *state;
	struct dirent **names;
	int n = scandir(DATA "/hostile", &names, NULL, alphasort);
	assert_true(n > 20);
	int tested = 0;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		if (name[0] == '.') {
			free(names[i]);
			continue;
		}
		char rel[300];
		snprintf(rel, sizeof(rel), "hostile/%s", name);
		for (int keep = STORE_KEEP_NONE; keep <= STORE_KEEP_UNCOMPRESSED; keep++) {
			struct store_layer_info info;
			struct berr *err = NULL;
			int r = unpack_file(f, rel, (enum store_blob_keep)keep, &info, &err);
			if (r >= 0)
				fail_msg("%s was accepted", rel);
			assert_non_null(err);
			if (strncmp(name, "escape-", 7) == 0) {
				if (r != -EPERM)
					fail_msg("%s: %d, not EPERM: %s", rel, r, err->msg);
				if (!strstr(err->msg, "entry '"))
					fail_msg("%s: error does not name the entry: %s", rel, err->msg);
			}
			berr_free(err);
			/* Nothing of it is left: no temp dir, no layer, no blob. */
			assert_int_equal(count_in(f, "tmp"), 0);
			assert_int_equal(count_in(f, "layers"), 0);
			assert_int_equal(count_in(f, "blobs/sha256"), 0);
			assert_escapes_absent();
		}
		tested++;
		free(names[i]);
	}
	free(names);
	assert_true(tested > 20);
	/* Nothing landed next to the store either. */
	assert_int_equal(count_entries(f->dir), 1);
}

/* ---- edge cases ---- */

static void test_whiteouts(void **state)
{
	struct fixture *f = *state;
	struct store_layer_info info;
	_cleanup_free_ char *d = unpack_ok(f, "edge/whiteouts.tar", &info);
	struct stat st = lstat_in(d, "a/gone");
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
	assert_false(exists_in(d, "a/.wh.gone"));
	assert_true(exists_in(d, "a/kept"));
	st = lstat_in(d, "top");
	assert_true(S_ISCHR(st.st_mode));
	assert_false(exists_in(d, ".wh.top"));

	char v[8];
	assert_int_equal(xattr_in(d, "b", "trusted.overlay.opaque", v, sizeof(v)), 1);
	assert_int_equal(v[0], 'y');
	assert_false(exists_in(d, "b/.wh..wh..opq"));
	assert_true(exists_in(d, "b/new"));
	assert_int_equal(xattr_in(d, "implicit", "trusted.overlay.opaque", v, sizeof(v)), 1);
	assert_int_equal(xattr_in(d, "a", "trusted.overlay.opaque", v, sizeof(v)), -1);
	/* Other AUFS metadata is dropped. */
	assert_false(exists_in(d, "c/.wh..wh.plnk"));
	assert_true(S_ISDIR(lstat_in(d, "c").st_mode));
}

static void test_links(void **state)
{
	struct fixture *f = *state;
	struct store_layer_info info;
	_cleanup_free_ char *d = unpack_ok(f, "edge/links.tar", &info);
	struct stat sf = lstat_in(d, "f"), sh = lstat_in(d, "h"), sh2 = lstat_in(d, "h2");
	assert_int_equal(sf.st_ino, sh.st_ino);
	assert_int_equal(sf.st_ino, sh2.st_ino);
	assert_int_equal(sf.st_nlink, 3);

	char p[1024], t[256];
	snprintf(p, sizeof(p), "%s/rel", d);
	ssize_t n = readlink(p, t, sizeof(t) - 1);
	assert_true(n > 0);
	t[n] = '\0';
	assert_string_equal(t, "../../outside");
	assert_true(S_ISLNK(lstat_in(d, "dangling").st_mode));
	/* The hard link to the symlink is a symlink to /etc/passwd ... */
	snprintf(p, sizeof(p), "%s/hs", d);
	n = readlink(p, t, sizeof(t) - 1);
	assert_true(n > 0);
	t[n] = '\0';
	assert_string_equal(t, "/etc/passwd");
	/* ... and the file written over "abs" replaced the symlink, not its target. */
	_cleanup_free_ char *abs = read_in(d, "abs");
	assert_string_equal(abs, "replaced");
	assert_true(S_ISREG(lstat_in(d, "abs").st_mode));
}

static void test_hardlink_to_symlink_with_data(void **state)
{
	struct fixture *f = *state;
	struct store_layer_info info;
	_cleanup_free_ char *d = unpack_ok(f, "edge/hardlink-symlink-data.tar", &info);
	/* The link's data went nowhere, least of all through the symlink. */
	assert_true(S_ISLNK(lstat_in(d, "h").st_mode));
	assert_int_equal(lstat_in(d, "h").st_ino, lstat_in(d, "s").st_ino);
	assert_escapes_absent();
}

static void test_xattrs(void **state)
{
	struct fixture *f = *state;
	struct store_layer_info info;
	_cleanup_free_ char *d = unpack_ok(f, "edge/xattrs.tar", &info);
	char v[32];
	ssize_t n = xattr_in(d, "xattr", "user.berth", v, sizeof(v));
	assert_int_equal(n, 5);
	assert_memory_equal(v, "value", 5);
	/* Forged overlay metadata is gone. */
	assert_int_equal(xattr_in(d, "xattr", "trusted.overlay.opaque", v, sizeof(v)), -1);
	assert_int_equal(xattr_in(d, "xattr", "trusted.overlay.redirect", v, sizeof(v)), -1);
	assert_int_equal(xattr_in(d, "xattr", "user.overlay.opaque", v, sizeof(v)), -1);
	assert_int_equal(xattr_in(d, "xdir", "trusted.overlay.opaque", v, sizeof(v)), -1);
}

static void test_devices(void **state)
{
	struct fixture *f = *state;
	struct store_layer_info info;
	_cleanup_free_ char *d = unpack_ok(f, "edge/devices.tar", &info);
	struct stat st = lstat_in(d, "null");
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(1, 3));
	assert_int_equal(st.st_mode & 07777, 0666);
	st = lstat_in(d, "loop9");
	assert_true(S_ISBLK(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(7, 9));
	assert_int_equal(st.st_gid, 6);
	st = lstat_in(d, "fifo");
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	st = lstat_in(d, "whiteout-dev");
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
}

static void test_sparse(void **state)
{
	struct fixture *f = *state;
	struct store_layer_info info;
	_cleanup_free_ char *d = unpack_ok(f, "edge/sparse.tar", &info);
	struct stat st = lstat_in(d, "sparse");
	assert_int_equal(st.st_size, 16 << 20);
	/* Holes stay holes: far less than 16 MiB is allocated. */
	assert_true((uint64_t)st.st_blocks * 512 < (1u << 20));
	char p[1024];
	snprintf(p, sizeof(p), "%s/sparse", d);
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	char b[4];
	assert_int_equal(pread(fd, b, 1, 0), 1);
	assert_int_equal(b[0], 'A');
	assert_int_equal(pread(fd, b, 1, 4096), 1);
	assert_int_equal(b[0], 0);
	assert_int_equal(pread(fd, b, 1, 8 << 20), 1);
	assert_int_equal(b[0], 'B');
	assert_int_equal(pread(fd, b, 1, (16 << 20) - 1), 1);
	assert_int_equal(b[0], 'C');
	close(fd);
	assert_int_equal(info.size, 16 << 20);
}

static void check_longnames(const char *d, int hardlink)
{
	char name[256], dir[128];
	memset(dir, 'd', 120);
	dir[120] = '\0';
	snprintf(name, sizeof(name), "%s/", dir);
	memset(name + 121, 'n', 79);
	name[200] = '\0';
	assert_int_equal(strlen(name), 200);
	_cleanup_free_ char *data = read_in(d, name);
	assert_string_equal(data, "long");
	char p[1024], t[512];
	snprintf(p, sizeof(p), "%s/%s/ln", d, dir);
	ssize_t n = readlink(p, t, sizeof(t) - 1);
	assert_int_equal(n, 200);
	t[n] = '\0';
	assert_string_equal(t, name);
	if (hardlink) {
		snprintf(p, sizeof(p), "%s/hl", dir);
		assert_int_equal(lstat_in(d, p).st_ino, lstat_in(d, name).st_ino);
	}
}

static void test_longnames(void **state)
{
	struct fixture *f = *state;
	struct store_layer_info info;
	_cleanup_free_ char *d1 = unpack_ok(f, "edge/longnames-pax.tar", &info);
	check_longnames(d1, 0);
	_cleanup_free_ char *d2 = unpack_ok(f, "edge/longnames-gnu.tar", &info);
	check_longnames(d2, 1);
}

static void test_modes_owners_times(void **state)
{
	struct fixture *f = *state;
	struct store_layer_info info;
	_cleanup_free_ char *d = unpack_ok(f, "edge/modes.tar", &info);
	struct stat st = lstat_in(d, "suid");
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_int_equal(st.st_mtime, 1700000000);
	st = lstat_in(d, "sgid");
	assert_int_equal(st.st_mode & 07777, 02711);
	assert_int_equal(st.st_gid, 42);
	st = lstat_in(d, "sticky");
	assert_int_equal(st.st_mode & 07777, 01777);
	st = lstat_in(d, "ro");
	assert_int_equal(st.st_mode & 07777, 0555);
	/* A directory's time survives the files made in it afterwards. */
	assert_int_equal(st.st_mtime, 1700000000);
	st = lstat_in(d, "ro/file");
	assert_int_equal(st.st_mode & 07777, 0400);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1000);
	st = lstat_in(d, "owned");
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* size: bytes of file content, 2 + 2 + 1 + 1. */
	assert_int_equal(info.size, 6);
}

static void test_root_entry_and_formats(void **state)
{
	struct fixture *f = *state;
	struct store_layer_info info;
	_cleanup_free_ char *d = unpack_ok(f, "edge/root-entry.tar", &info);
	assert_int_equal(lstat_in(d, ".").st_mode & 07777, 0751);
	assert_true(exists_in(d, "a"));
	_cleanup_free_ char *u = unpack_ok(f, "edge/ustar.tar", &info);
	_cleanup_free_ char *data = read_in(u, "u/f");
	assert_string_equal(data, "u");
	_cleanup_free_ char *o = unpack_ok(f, "edge/overwrite.tar", &info);
	_cleanup_free_ char *two = read_in(o, "f");
	assert_string_equal(two, "two");
	assert_true(S_ISREG(lstat_in(o, "d").st_mode));
	assert_true(S_ISDIR(lstat_in(o, "x").st_mode));
}

static void test_utf8_names(void **state)
{
	struct fixture *f = *state;
	static const char *files[] = {"edge/utf8-pax.tar", "edge/utf8-gnu.tar"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		struct store_layer_info info;
		_cleanup_free_ char *d = unpack_ok(f, files[i], &info);
		_cleanup_free_ char *u = read_in(d, "h\xc3\xa9llo-w\xc3\xb6rld");
		assert_string_equal(u, "u");
		_cleanup_free_ char *j = read_in(d, "\xe6\x97\xa5\xe6\x9c\xac/"
						    "\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab");
		assert_string_equal(j, "j");
	}
}

static void test_empty(void **state)
{
	struct fixture *f = *state;
	struct store_layer_info info;
	_cleanup_free_ char *d = unpack_ok(f, "edge/empty-file.tar", &info);
	assert_string_equal(info.diff_id,
			    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(count_entries(d), 0);
	assert_int_equal(info.size, 0);
	_cleanup_free_ char *d2 = unpack_ok(f, "edge/empty.tar", &info);
	assert_int_equal(count_entries(d2), 0);
}

/* The digests cover every byte, including what follows the tar's end marker. */
static void test_trailing_data_hashed(void **state)
{
	struct fixture *f = *state;
	struct store_layer_info info;
	struct berr *err = NULL;
	int fd = open(DATA "/edge/trailing-data.tar", O_RDONLY);
	assert_true(fd >= 0);
	struct digest want;
	uint64_t size;
	assert_int_equal(digest_fd(DIGEST_SHA256, fd, &want, &size), 0);
	close(fd);
	assert_true(size > 10240);
	if (unpack_file(f, "edge/trailing-data.tar", STORE_KEEP_RAW, &info, &err) < 0)
		fail_msg("%s", err->msg);
	char want_s[DIGEST_STR_MAX];
	digest_format(&want, want_s);
	assert_string_equal(info.diff_id, want_s);
	assert_string_equal(info.blob_digest, want_s);
	assert_int_equal(info.blob_size, size);
	assert_string_equal(info.blob_media_type, "application/vnd.oci.image.layer.v1.tar");
}

/* ---- a big file, streamed through a pipe ---- */

#define BIG_SIZE (96ull << 20)

struct hash_sink {
	struct digester *h;
	int fd; /* or -1 */
};

static la_ssize_t sink_write(struct archive *a, void *opaque, const void *buf, size_t n)
{
	struct hash_sink *k = opaque;
	digester_update(k->h, buf, n);
	const char *p = buf;
	size_t left = n;
	while (k->fd >= 0 && left > 0) {
		ssize_t w = write(k->fd, p, left);
		if (w < 0)
			return -1;
		p += w;
		left -= (size_t)w;
	}
	return (la_ssize_t)n;
}

/* Write a tar with one BIG_SIZE file of non-zero bytes to fd (or nowhere); ret gets the
 * tar's sha256. No more than one block is ever in memory. */
static void write_big_tar(int fd, struct digest *ret)
{
	struct hash_sink k = {digester_new(DIGEST_SHA256), fd};
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_open(a, &k, NULL, sink_write, NULL);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "big/file");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)BIG_SIZE);
	archive_write_header(a, e);
	archive_entry_free(e);
	static unsigned char block[1 << 16];
	for (uint64_t off = 0; off < BIG_SIZE; off += sizeof(block)) {
		for (size_t i = 0; i < sizeof(block); i += 8)
			memcpy(block + i, &(uint64_t){off + i + 1}, 8);
		archive_write_data(a, block, sizeof(block));
	}
	archive_write_close(a);
	archive_write_free(a);
	digester_final(k.h, ret);
	digester_free(k.h);
}

static void test_big_file_streamed(void **state)
{
	struct fixture *f = *state;
	struct digest want;
	write_big_tar(-1, &want);
	char want_s[DIGEST_STR_MAX];
	digest_format(&want, want_s);

	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		struct digest d;
		write_big_tar(p[1], &d);
		_exit(0);
	}
	close(p[1]);
	struct store_layer_info info;
	struct berr *err = NULL;
	int r = store_layer_unpack(f->s, p[0], NULL, want_s, STORE_KEEP_NONE, &info, &err);
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	if (r < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(status, 0);
	assert_string_equal(info.diff_id, want_s);
	assert_int_equal(info.size, BIG_SIZE);
	_cleanup_free_ char *d = store_layer_dir(f->s, info.chain_id);
	struct stat st = lstat_in(d, "big/file");
	assert_int_equal(st.st_size, BIG_SIZE);
	/* Spot-check the content at the end. */
	char path[1024];
	snprintf(path, sizeof(path), "%s/big/file", d);
	int fd = open(path, O_RDONLY);
	uint64_t v = 0;
	assert_int_equal(pread(fd, &v, 8, (off_t)BIG_SIZE - 8), 8);
	assert_int_equal(v, BIG_SIZE - 8 + 1);
	close(fd);
}

/* ---- the unpack API itself ---- */

static int count_tap(void *opaque, const void *data, size_t len, struct berr **err)
{
	*(uint64_t *)opaque += len;
	return 0;
}

static int failing_tap(void *opaque, const void *data, size_t len, struct berr **err)
{
	return berr_set(err, ENOSPC, "tap is full");
}

static void test_unpack_api(void **state)
{
	struct fixture *f = *state;
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/plain", f->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	int fd = open(DATA "/hostile/bad-truncated.tar.gz", O_RDONLY);
	assert_true(dfd >= 0 && fd >= 0);
	uint64_t raw = 0;
	struct unpack_opts o = {.raw_tap = count_tap, .opaque = &raw};
	struct unpack_stats st;
	struct berr *err = NULL;
	assert_int_equal(unpack_layer(fd, dfd, &o, &st, &err), -EINVAL);
	assert_non_null(err);
	berr_free(err);
	err = NULL;
	close(fd);

	/* A failing tap stops the unpack with the tap's error. */
	fd = open(DATA "/edge/links.tar", O_RDONLY);
	o = (struct unpack_opts){.tar_tap = failing_tap};
	assert_int_equal(unpack_layer(fd, dfd, &o, &st, &err), -ENOSPC);
	assert_string_equal(err->msg, "tap is full");
	berr_free(err);
	err = NULL;
	close(fd);

	/* Our working directory is not the layer's at any time. */
	char cwd_before[512], cwd_after[512];
	assert_non_null(getcwd(cwd_before, sizeof(cwd_before)));
	fd = open(DATA "/edge/modes.tar", O_RDONLY);
	raw = 0;
	o = (struct unpack_opts){.raw_tap = count_tap, .opaque = &raw};
	assert_int_equal(unpack_layer(fd, dfd, &o, &st, &err), 0);
	assert_int_equal(raw, 10240);
	assert_int_equal(st.raw_bytes, 10240);
	assert_int_equal(st.tar_bytes, 10240);
	assert_int_equal(st.entries, 6);
	assert_int_equal(st.compression, UNPACK_NONE);
	assert_non_null(getcwd(cwd_after, sizeof(cwd_after)));
	assert_string_equal(cwd_before, cwd_after);
	close(fd);
	close(dfd);
}

/* gzip of data into out (one member, zlib's gzip wrapper): its length. */
static size_t gzip_member(const unsigned char *data, size_t len, unsigned char *out, size_t cap)
{
	z_stream z = {0};
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)data;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t n = cap - z.avail_out;
	deflateEnd(&z);
	return n;
}

/* Unpack len bytes of data (through a pipe, as a pull streams them) into a fresh dir. */
static int unpack_bytes(struct fixture *f, const char *name, const unsigned char *data,
			size_t len, struct unpack_stats *st, struct berr **err)
{
	char dir[256], p[300];
	snprintf(dir, sizeof(dir), "%s/%s", f->dir, name);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(p, sizeof(p), "%s.in", dir);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	int r = unpack_layer(fd, dfd, NULL, st, err);
	close(fd);
	close(dfd);
	return r;
}

/* gzip layers: several members one after the other are one stream (as gzip(1) and Go read
 * them), bytes after the last member are read but not unpacked, and a bad CRC or a cut
 * stream fail. */
static void test_gzip_members(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ unsigned char *tar = malloc(1 << 20), *gz = malloc(1 << 20);
	int fd = open(DATA "/edge/modes.tar", O_RDONLY);
	assert_true(fd >= 0 && tar && gz);
	ssize_t tn = read(fd, tar, 1 << 20);
	close(fd);
	assert_int_equal(tn, 10240);
	size_t n1 = gzip_member(tar, 3000, gz, 1 << 20);
	size_t n = n1 + gzip_member(tar + 3000, (size_t)tn - 3000, gz + n1, (1 << 20) - n1);

	struct unpack_stats st;
	struct berr *err = NULL;
	assert_int_equal(unpack_bytes(f, "two", gz, n, &st, &err), 0);
	assert_int_equal(st.compression, UNPACK_GZIP);
	assert_int_equal(st.tar_bytes, 10240);
	assert_int_equal(st.raw_bytes, n);
	assert_int_equal(st.entries, 6);

	/* Zeros after the stream: read (the blob's digest covers them), not unpacked. */
	memset(gz + n, 0, 100);
	assert_int_equal(unpack_bytes(f, "trailing", gz, n + 100, &st, &err), 0);
	assert_int_equal(st.raw_bytes, n + 100);
	assert_int_equal(st.tar_bytes, 10240);

	/* The CRC of the last member is 8 bytes from the end. */
	gz[n - 8] ^= 1;
	assert_int_equal(unpack_bytes(f, "badcrc", gz, n, &st, &err), -EINVAL);
	assert_non_null(err);
	berr_free(err);
	err = NULL;
	gz[n - 8] ^= 1;
	assert_int_not_equal(unpack_bytes(f, "cut", gz, n - 20, &st, &err), 0);
	assert_non_null(err);
	berr_free(err);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_unpack needs root (device nodes, owners, trusted.* xattrs)\n");
		return 77; /* meson: skipped */
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hostile_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlink_to_symlink_with_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_longnames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes_owners_times, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_entry_and_formats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trailing_data_hashed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_file_streamed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unpack_api, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
