/* docker cp semantics: path cleaning, the rules table (each of docker's rules and errors, both
 * directions, symlinks, mounts, read-only), owners, tar streams, and hostile containers:
 * symlinks out of the root, a symlink swapped while copies run (CVE-2018-15664), hostile
 * NSS libraries (CVE-2019-14271). Files planted outside the root must never be read or
 * written. Needs root (owners, devices). */
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
#include <linux/fs.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "cpath.h"
#include "fs.h"

extern char **environ;

#define SYS(expr)                                                                                  \
	do {                                                                                       \
		if ((expr) < 0)                                                                    \
			fail_msg("%s: %s", #expr, strerror(errno));                                \
	} while (0)

struct fixture {
	char dir[64];
	char root[96], host[96], outside[96], vol[96], rovol[96], vol2[96];
	int rootfd;
	char cwd[4096];
	struct cpath_mount mounts[4];
	char hostname[96];
	struct cpath_root r;
};

static char *at(const char *dir, const char *name)
{
	static char p[8][1024];
	static int k;
	k = (k + 1) % 8;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static void put(const char *dir, const char *name, const char *content)
{
	int fd = open(at(dir, name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fail_msg("create %s/%s: %s", dir, name, strerror(errno));
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static void mk(const char *dir, const char *name)
{
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, at(dir, name), 0755), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-cpath.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	snprintf(f->host, sizeof(f->host), "%s/h", f->dir);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->dir);
	snprintf(f->vol, sizeof(f->vol), "%s/vol", f->dir);
	snprintf(f->rovol, sizeof(f->rovol), "%s/rovol", f->dir);
	snprintf(f->vol2, sizeof(f->vol2), "%s/vol2", f->dir);
	snprintf(f->hostname, sizeof(f->hostname), "%s/hostname", f->dir);
	const char *c = f->root, *h = f->host;
	mk(c, "etc");
	put(c, "etc/passwd", "PW");
	put(c, "etc/hosts", "HOSTS");
	put(c, "etc/hostname", "PLACE"); /* under a file bind mount */
	mk(c, "dir1/sub");
	put(c, "dir1/d", "OLD");
	put(c, "dir1/g", "G");
	put(c, "dir1/sub/s", "OLDS");
	mk(c, "dd/mnt");
	put(c, "dd/file", "DD");
	mk(c, "x/file");
	mk(c, "tmp");
	mk(c, "data");
	mk(c, "rodata");
	if (symlink("/etc", at(c, "etclink")) < 0 || symlink("passwd", at(c, "etc/pwlink")) < 0 ||
	    symlink("../../../../..", at(c, "up")) < 0 || symlink("/", at(c, "rootlink")) < 0 ||
	    symlink("/newtarget", at(c, "dangling")) < 0)
		return -1;
	mk(h, "dir/sub");
	put(h, "file", "F");
	put(h, "dir/d", "D");
	put(h, "dir/sub/s", "S");
	mk(h, "h2/file");
	mk(h, "h3");
	put(h, "h3/file", "H3");
	if (symlink("file", at(h, "lnk")) < 0)
		return -1;
	mk(f->outside, "");
	put(f->outside, "secret", "SECRET");
	mk(f->vol, "");
	put(f->vol, "v", "V");
	mk(f->rovol, "");
	put(f->rovol, "ro", "RO");
	mk(f->vol2, "");
	put(f->vol2, "m", "M");
	put(f->dir, "hostname", "HN");
	f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->mounts[0] = (struct cpath_mount){"/data", f->vol, 0};
	f->mounts[1] = (struct cpath_mount){"/rodata/", f->rovol, 1};
	f->mounts[2] = (struct cpath_mount){"dd//mnt", f->vol2, 0};
	f->mounts[3] = (struct cpath_mount){"/etc/hostname", f->hostname, 0};
	f->r = (struct cpath_root){
	    .rootfd = f->rootfd, .mounts = f->mounts, .nmounts = 4, .name = "c1"};
	if (!getcwd(f->cwd, sizeof(f->cwd)) || chdir(f->host) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (chdir(f->cwd) < 0)
		return -1;
	close(f->rootfd);
	fs_rm_rf_at(AT_FDCWD, f->dir);
	free(f);
	return 0;
}

/* ---- pure functions ---- */

static void test_clean_split(void **state)
{
	(void)state;
	static const char *const clean[][2] = {
	    {"", "/"},
	    {"/", "/"},
	    {".", "/."},
	    {"/.", "/."},
	    {"..", "/"},
	    {"../../x", "/x"},
	    {"etc", "/etc"},
	    {"etc/", "/etc/"},
	    {"//etc//passwd", "/etc/passwd"},
	    {"/etc/./passwd", "/etc/passwd"},
	    {"/a/b/../c", "/a/c"},
	    {"/a/b/..", "/a"},
	    {"/a/b/../", "/a/"},
	    {"/a/.", "/a/."},
	    {"/a/./", "/a/."},
	    {"/a/b/.//", "/a/b/."},
	    {"a/../..", "/"},
	    {"/..a/b", "/..a/b"},
	    {"/a./b.", "/a./b."},
	    {"/.../x", "/.../x"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(clean); i++) {
		char *c;
		assert_int_equal(cpath_clean(clean[i][0], &c), 0);
		if (!streq(c, clean[i][1]))
			fail_msg("clean '%s': '%s', want '%s'", clean[i][0], c, clean[i][1]);
		free(c);
	}
	static const char *const split[][3] = {
	    {"/a/b/", "/a", "b"}, {"/a/b/.", "/a/b", "."}, {"/a", "/", "a"},
	    {"/", "/", "."},	  {"/.", "/", "."},	   {"/a/b/c", "/a/b", "c"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(split); i++) {
		char *d, *b;
		assert_int_equal(cpath_split(split[i][0], &d, &b), 0);
		assert_string_equal(d, split[i][1]);
		assert_string_equal(b, split[i][2]);
		free(d);
		free(b);
	}
	assert_true(cpath_asserts_dir("/a/"));
	assert_true(cpath_asserts_dir("/a/."));
	assert_true(cpath_asserts_dir("/"));
	assert_false(cpath_asserts_dir("/a"));
	assert_false(cpath_asserts_dir("/a."));
	char big[CPATH_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char *c;
	assert_int_equal(cpath_clean(big, &c), -ENAMETOOLONG);
}

/* ---- the rules table ---- */

enum dir { IN, OUT };

struct cpcase {
	const char *what;
	enum dir dir;
	const char *src, *dst; /* host paths relative to the host dir; "-" for a tar */
	int follow, archive, ro_root;
	int no_up;	 /* remove the /up symlink first */
	const char *tar; /* IN from "-": which tar (see make_tar) */
	int rc;
	const char *msg; /* part of the error message */
	/* Checks: side ('c' container, 'h' host, 'o' outside, 'v' the volume, 'x' the test's
	 * top dir) then 'f' file=content,
	 * 'd' directory, 'l' symlink>target, '!' absent, 'u' owner@uid, then the path. */
	const char *check[5];
};

static const struct cpcase cases[] = {
    /* host -> container: SRC a file */
    {"file into existing dir", IN, "file", "/etc", .check = {"cf/etc/file=F"}},
    {"file to missing name", IN, "file", "/newfile", .check = {"cf/newfile=F"}},
    {"file to missing dir/", IN, "file", "/newdir/", .rc = -ENOENT, .msg = "no such directory",
     .check = {"c!/newdir"}},
    {"file over file", IN, "file", "/etc/passwd", .check = {"cf/etc/passwd=F"}},
    {"file over file/", IN, "file", "/etc/passwd/", .rc = -ENOENT, .msg = "no such directory",
     .check = {"cf/etc/passwd=PW"}},
    {"missing parent", IN, "file", "/nope/x", .rc = -ENOENT,
     .msg = "Could not find the file /nope in container c1"},
    {"file/ not a dir", IN, "file/", "/tmp", .rc = -ENOTDIR, .msg = "not a directory"},
    {"missing host src", IN, "nope", "/tmp", .rc = -ENOENT, .msg = "/h/nope: No such file"},
    /* SRC a directory */
    {"dir onto file", IN, "dir", "/etc/passwd", .rc = -EISDIR, .msg = "cannot copy directory"},
    {"dir to missing", IN, "dir", "/dircopy", .check = {"cf/dircopy/d=D", "cf/dircopy/sub/s=S"}},
    {"dir into dir", IN, "dir", "/tmp", .check = {"cf/tmp/dir/d=D", "cf/tmp/dir/sub/s=S"}},
    {"dir/ into dir", IN, "dir/", "/tmp", .check = {"cf/tmp/dir/d=D", "c!/tmp/d"}},
    {"dir/. into dir", IN, "dir/.", "/dir1",
     .check = {"cf/dir1/d=D", "cf/dir1/sub/s=S", "cf/dir1/g=G", "c!/dir1/dir"}},
    {"dir/. to missing", IN, "dir/.", "/newd", .check = {"cf/newd/d=D", "cf/newd/sub/s=S"}},
    {"dir over file inside", IN, "h2/file", "/dd", .rc = -EEXIST,
     .msg = "cannot overwrite non-directory \"/dd/file\" with directory \"/dd\""},
    {"file over dir inside", IN, "h3/.", "/x", .rc = -EEXIST,
     .msg = "cannot overwrite directory \"/x/file\" with non-directory \"/x\""},
    /* symlinks */
    {"dest symlink to dir", IN, "file", "/etclink", .check = {"cf/etc/file=F", "cl/etclink>/etc"}},
    {"dest symlink to dir/", IN, "file", "/etclink/", .check = {"cf/etc/file=F"}},
    {"dest symlink to file", IN, "file", "/etc/pwlink",
     .check = {"cf/etc/passwd=F", "cl/etc/pwlink>passwd"}},
    {"dest dangling symlink", IN, "file", "/dangling", .check = {"cf/newtarget=F"}},
    {"src symlink kept", IN, "lnk", "/tmp/lnk1", .check = {"cl/tmp/lnk1>file"}},
    {"src symlink -L", IN, "lnk", "/tmp/lnk2", .follow = 1, .check = {"cf/tmp/lnk2=F"}},
    {"up symlink stays in", IN, "file", "/up/etc", .check = {"cf/etc/file=F", "o!/etc"}},
    {"root symlink", IN, "file", "/rootlink/etc/", .check = {"cf/etc/file=F"}},
    /* mounts and read-only */
    {"into a mount", IN, "file", "/data", .check = {"vf/v=V", "c!/data/file", "vf/file=F"}},
    {"into a ro mount", IN, "file", "/rodata", .rc = -EROFS,
     .msg = "mounted volume is marked read-only"},
    {"ro rootfs", IN, "file", "/etc", .ro_root = 1, .rc = -EROFS,
     .msg = "container rootfs is marked read-only"},
    {"ro rootfs, rw mount", IN, "dir", "/data", .ro_root = 1, .check = {"vf/dir/d=D"}},
    /* tar streams in */
    {"tar into dir", IN, "-", "/tmp", .tar = "plain",
     .check = {"cf/tmp/t/a=A", "cl/tmp/t/l>a", "cf/tmp/t/h=A"}},
    {"tar onto file", IN, "-", "/etc/passwd", .tar = "plain", .rc = -ENOTDIR,
     .msg = "destination \"c1:/etc/passwd\" must be a directory"},
    {"tar to missing", IN, "-", "/nope", .tar = "plain", .rc = -ENOTDIR,
     .msg = "destination \"c1:/nope\" must be a directory"},
    {"tar with ..", IN, "-", "/tmp", .tar = "dotdot", .rc = -EPERM,
     .msg = "\"../../evil\" is outside of \"/tmp\"", .check = {"c!/evil", "o!/evil"}},
    {"tar with /abs", IN, "-", "/tmp", .tar = "abs", .check = {"cf/tmp/abs=E", "c!/abs"}},
    {"tar symlink out", IN, "-", "/tmp", .tar = "symout", .rc = -EPERM, .msg = "invalid symlink"},
    {"tar hard link out", IN, "-", "/tmp", .tar = "hardout", .rc = -EPERM,
     .msg = "invalid hardlink"},
    {"tar through symlink", IN, "-", "/tmp", .tar = "through",
     .check = {"cf/etc/owned=X", "o!/owned"}},
    /* owners */
    {"owner root", IN, "file", "/etc", .check = {"cu/etc/file@0"}},
    {"owner -a", IN, "file", "/etc", .archive = 1, .check = {"cu/etc/file@1234"}},

    /* container -> host */
    {"out file to missing", OUT, "/etc/passwd", "out1", .check = {"hf/out1=PW"}},
    {"out file into dir", OUT, "/etc/passwd", "dir", .check = {"hf/dir/passwd=PW"}},
    {"out missing", OUT, "/nope", "x", .rc = -ENOENT,
     .msg = "Could not find the file /nope in container c1"},
    {"out file/", OUT, "/etc/passwd/", "x", .rc = -ENOTDIR,
     .msg = "lstat /etc/passwd/: not a directory"},
    {"out dir onto file", OUT, "/etc", "file", .rc = -EISDIR, .msg = "cannot copy directory"},
    {"out missing parent", OUT, "/etc/passwd", "nodir/x", .rc = -ENOENT,
     .msg = "invalid output path: directory \""},
    {"out file to dir/", OUT, "/etc/passwd", "newd/", .rc = -ENOENT, .msg = "no such directory"},
    {"out onto file/", OUT, "/dir1", "file/", .rc = -ENOTDIR, .msg = "/h/file/: not a directory"},
    {"out symlink", OUT, "/etclink", "o1", .check = {"hl/o1>/etc"}},
    {"out symlink -L", OUT, "/etclink", "o2", .follow = 1, .check = {"hf/o2/passwd=PW"}},
    {"out symlink/", OUT, "/etclink/", "o3", .check = {"hf/o3/hosts=HOSTS"}},
    {"out link to file -L", OUT, "/etc/pwlink", "o4", .follow = 1, .check = {"hf/o4=PW"}},
    {"out through up", OUT, "/up/etc/passwd", "o5", .check = {"hf/o5=PW"}},
    {"out dir/. to missing", OUT, "/dir1/.", "o6", .check = {"hf/o6/d=OLD", "hf/o6/sub/s=OLDS"}},
    {"out dir/. into dir", OUT, "/dir1/.", "dir", .check = {"hf/dir/g=G", "hf/dir/d=OLD"}},
    {"out dir into dir", OUT, "/dir1", "dir", .check = {"hf/dir/dir1/g=G", "hf/dir/d=D"}},
    {"out dir with a mount in it", OUT, "/dd", "dd2",
     .check = {"hf/dd2/file=DD", "hf/dd2/mnt/m=M"}},
    {"out root: relative link out", OUT, "/", "all", .rc = -EPERM,
     .msg = "invalid symlink \"/all/up\" -> \"../../../../..\""},
    {"out root with mounts", OUT, "/", "all", .no_up = 1,
     .check = {"hf/all/etc/passwd=PW", "hf/all/data/v=V", "hf/all/rodata/ro=RO"}},
    {"out from a mount", OUT, "/data/v", "v1", .check = {"hf/v1=V"}},
    {"out a file mount", OUT, "/etc/hostname", "hn", .check = {"hf/hn=HN"}},
    {"out dir with a file mount", OUT, "/etc", "etc2",
     .check = {"hf/etc2/hostname=HN", "hf/etc2/passwd=PW"}},
    {"onto a file mount", IN, "file", "/etc/hostname", .rc = -EBUSY, .msg = "mount point",
     .check = {"xf/hostname=HN", "cf/etc/hostname=PLACE"}},
    {"out from ro", OUT, "/rodata/ro", "v2", .ro_root = 1, .check = {"hf/v2=RO"}},
    {"out owner caller", OUT, "/etc/hosts", "o7", .check = {"hu/o7@0"}},
    {"out owner -a", OUT, "/etc/hosts", "o8", .archive = 1, .check = {"hu/o8@1234"}},
};

static void add_entry(struct archive *a, const char *name, mode_t type, const char *data,
		      const char *link, int hard)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_mode(e, type | (type == AE_IFDIR ? 0755 : 0644));
	archive_entry_set_mtime(e, 1700000000, 0);
	if (hard)
		archive_entry_set_hardlink(e, link);
	else if (link)
		archive_entry_set_symlink(e, link);
	archive_entry_set_size(e, data ? (int64_t)strlen(data) : 0);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (data)
		archive_write_data(a, data, strlen(data));
	archive_entry_free(e);
}

static int make_tar(struct fixture *f, const char *which)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s.tar", f->dir, which);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, p), ARCHIVE_OK);
	if (streq(which, "plain")) {
		add_entry(a, "t", AE_IFDIR, NULL, NULL, 0);
		add_entry(a, "t/a", AE_IFREG, "A", NULL, 0);
		add_entry(a, "t/l", AE_IFLNK, NULL, "a", 0);
		add_entry(a, "t/h", AE_IFREG, NULL, "t/a", 1);
	} else if (streq(which, "dotdot")) {
		add_entry(a, "../../evil", AE_IFREG, "E", NULL, 0);
	} else if (streq(which, "abs")) {
		add_entry(a, "/abs", AE_IFREG, "E", NULL, 0);
	} else if (streq(which, "symout")) {
		add_entry(a, "s", AE_IFLNK, NULL, "../../../outside", 0);
	} else if (streq(which, "hardout")) {
		add_entry(a, "h", AE_IFREG, NULL, "../etc/passwd", 1);
	} else if (streq(which, "through")) {
		/* A symlink to "/" and a file written through it: lands in the container's
		 * /etc (Docker extracts chrooted, the same), never the host's. */
		add_entry(a, "r", AE_IFLNK, NULL, "/", 0);
		add_entry(a, "r/etc/owned", AE_IFREG, "X", NULL, 0);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void check_one(struct fixture *f, const char *what, const char *c)
{
	const char *base = c[0] == 'x'	 ? f->dir
			   : c[0] == 'c' ? f->root
			   : c[0] == 'h' ? f->host
			   : c[0] == 'o' ? f->outside
					 : f->vol;
	char path[1024], arg[256] = "";
	const char *sep = strpbrk(c + 2, "=>@");
	size_t plen = sep ? (size_t)(sep - (c + 2)) : strlen(c + 2);
	snprintf(path, sizeof(path), "%s%.*s", base, (int)plen, c + 2);
	if (sep)
		snprintf(arg, sizeof(arg), "%s", sep + 1);
	struct stat st;
	int r = lstat(path, &st);
	switch (c[1]) {
	case '!':
		if (r == 0)
			fail_msg("%s: %s exists", what, path);
		return;
	case 'd':
		if (r < 0 || !S_ISDIR(st.st_mode))
			fail_msg("%s: %s is not a directory", what, path);
		return;
	case 'l': {
		char t[512];
		ssize_t n = readlink(path, t, sizeof(t) - 1);
		if (n < 0)
			fail_msg("%s: %s is not a symlink", what, path);
		t[n] = '\0';
		if (!streq(t, arg))
			fail_msg("%s: %s -> %s, want %s", what, path, t, arg);
		return;
	}
	case 'u':
		if (r < 0 || st.st_uid != (uid_t)atoi(arg))
			fail_msg("%s: %s owned by %d, want %s", what, path,
				 r < 0 ? -1 : (int)st.st_uid, arg);
		return;
	case 'f': {
		char *data;
		size_t len;
		if (r < 0 || !S_ISREG(st.st_mode) ||
		    fs_read_all_at(AT_FDCWD, path, 1 << 20, &data, &len) < 0)
			fail_msg("%s: %s is not a file", what, path);
		if (!streq(data, arg))
			fail_msg("%s: %s has '%s', want '%s'", what, path, data, arg);
		free(data);
		return;
	}
	}
	fail_msg("bad check %s", c);
}

static void test_rules(void **state)
{
	struct fixture *f = *state;
	size_t n = ARRAY_SIZE(cases);
	assert_true(n >= 40);
	for (size_t i = 0; i < n; i++) {
		const struct cpcase *k = &cases[i];
		/* Each case on a fresh fixture: the table's cases change the trees. */
		void *fresh;
		if (i > 0) {
			teardown(state);
			assert_int_equal(setup(&fresh), 0);
			*state = fresh;
			f = fresh;
		}
		SYS(chown(at(f->host, "file"), 1234, 1234));
		SYS(chown(at(f->root, "etc/hosts"), 1234, 1234));
		f->r.readonly = k->ro_root;
		if (k->no_up)
			SYS(unlink(at(f->root, "up")));
		struct cpath_copy_opts o = {.follow = k->follow, .archive = k->archive};
		struct berr *e = NULL;
		int r;
		if (k->dir == IN) {
			int fd = k->tar ? make_tar(f, k->tar) : -1;
			r = cpath_copy_in(&f->r, k->src, fd, k->dst, &o, &e);
			if (fd >= 0)
				close(fd);
		} else {
			r = cpath_copy_out(&f->r, k->src, k->dst, -1, &o, &e);
		}
		if (r != k->rc)
			fail_msg("case '%s': %d (%s), want %d", k->what, r, e ? e->msg : "", k->rc);
		if (k->msg && (!e || !strstr(e->msg, k->msg)))
			fail_msg("case '%s': message '%s', want '%s'", k->what,
				 e ? e->msg : "(none)", k->msg);
		if (r == 0 && e)
			fail_msg("case '%s': success with an error set", k->what);
		berr_free(e);
		for (size_t c = 0; c < ARRAY_SIZE(k->check) && k->check[c]; c++)
			check_one(f, k->what, k->check[c]);
		/* Nothing ever lands outside the root. */
		char *data;
		size_t len;
		assert_int_equal(
		    fs_read_all_at(AT_FDCWD, at(f->outside, "secret"), 100, &data, &len), 0);
		assert_string_equal(data, "SECRET");
		free(data);
	}
}

/* The tar written to a stream names entries by SRC's base name, keeps owners and types. */
static void test_tar_out(void **state)
{
	struct fixture *f = *state;
	char p[128];
	snprintf(p, sizeof(p), "%s/out.tar", f->dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	SYS(symlink("d", at(f->root, "dir1/dl")));
	SYS(link(at(f->root, "dir1/d"), at(f->root, "dir1/dh")));
	SYS(mknod(at(f->root, "dir1/fifo"), S_IFIFO | 0600, 0));
	SYS(chown(at(f->root, "dir1/g"), 1234, 55));
	struct berr *e = NULL;
	assert_int_equal(cpath_copy_out(&f->r, "/dir1", "-", fd, NULL, &e), 0);
	close(fd);
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_filename(a, p, 10240), ARCHIVE_OK);
	struct archive_entry *ent;
	char names[1024] = "";
	while (archive_read_next_header(a, &ent) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(ent);
		strncat(names, n, sizeof(names) - strlen(names) - 2);
		strncat(names, " ", sizeof(names) - strlen(names) - 1);
		if (streq(n, "dir1/g")) {
			assert_int_equal(archive_entry_uid(ent), 1234);
			assert_int_equal(archive_entry_gid(ent), 55);
			/* numeric only: no NSS lookup */
			const char *un = archive_entry_uname(ent);
			assert_true(!un || !un[0]);
		}
		if (streq(n, "dir1/dh"))
			assert_string_equal(archive_entry_hardlink(ent), "dir1/d");
		if (streq(n, "dir1/dl"))
			assert_string_equal(archive_entry_symlink(ent), "d");
		if (streq(n, "dir1/fifo"))
			assert_int_equal(archive_entry_filetype(ent), AE_IFIFO);
	}
	archive_read_free(a);
	assert_string_equal(names,
			    "dir1/ dir1/d dir1/dh dir1/dl dir1/fifo dir1/g dir1/sub/ dir1/sub/s ");

	/* "/." streams the contents as "./..." and into a dir that round-trips. */
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_int_equal(cpath_copy_out(&f->r, "/dir1/.", "-", fd, NULL, &e), 0);
	close(fd);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_int_equal(cpath_copy_in(&f->r, "-", fd, "/tmp", NULL, &e), 0);
	close(fd);
	check_one(f, "round trip", "cf/tmp/g=G");
	check_one(f, "round trip", "cf/tmp/sub/s=OLDS");
	check_one(f, "round trip", "cl/tmp/dl>d");
	struct stat a1, a2;
	SYS(lstat(at(f->root, "tmp/d"), &a1));
	SYS(lstat(at(f->root, "tmp/dh"), &a2));
	assert_int_equal(a1.st_ino, a2.st_ino);
}

static void test_resolve(void **state)
{
	struct fixture *f = *state;
	struct cpath_loc l;
	struct berr *e = NULL;
	/* ".." never climbs above the root, absolute links restart at it. */
	assert_int_equal(cpath_resolve(&f->r, "/../../../etc/passwd", 0, &l, &e), 0);
	assert_string_equal(l.path, "/etc/passwd");
	assert_true(l.fd >= 0 && S_ISREG(l.st.st_mode));
	cpath_loc_clear(&l);
	assert_int_equal(cpath_resolve(&f->r, "/up/up/etclink/pwlink", CPATH_FOLLOW, &l, &e), 0);
	assert_string_equal(l.path, "/etc/passwd");
	cpath_loc_clear(&l);
	/* In a mount: ".." goes back to the container. */
	assert_int_equal(cpath_resolve(&f->r, "/data/../etc", 0, &l, &e), 0);
	assert_string_equal(l.path, "/etc");
	assert_int_equal(l.mount, -1);
	cpath_loc_clear(&l);
	assert_int_equal(cpath_resolve(&f->r, "/rodata/ro", 0, &l, &e), 0);
	assert_int_equal(l.mount, 1);
	assert_true(l.readonly);
	cpath_loc_clear(&l);
	assert_int_equal(cpath_resolve(&f->r, "/data", 0, &l, &e), 0);
	assert_int_equal(l.parentfd, -1); /* a mount's root can not be replaced */
	cpath_loc_clear(&l);
	/* A symlink loop. */
	SYS(symlink("loop2", at(f->root, "loop1")));
	SYS(symlink("loop1", at(f->root, "loop2")));
	assert_int_equal(cpath_resolve(&f->r, "/loop1", CPATH_FOLLOW, &l, &e), -ELOOP);
	berr_free(e);
	e = NULL;
	assert_int_equal(cpath_resolve(&f->r, "/etc/passwd/x", 0, &l, &e), -ENOTDIR);
	berr_free(e);
	e = NULL;
	assert_int_equal(cpath_resolve(&f->r, "/nope/x", 0, &l, &e), -ENOENT);
	berr_free(e);
	e = NULL;
	/* A missing last component: the directory it would go in. */
	assert_int_equal(cpath_resolve(&f->r, "/etclink/new", 0, &l, &e), 0);
	assert_int_equal(l.fd, -1);
	assert_string_equal(l.path, "/etc/new");
	cpath_loc_clear(&l);
}

/* Hostile symlinks pointing at the host: every way in and out stays in the root. */
static void test_hostile_links(void **state)
{
	struct fixture *f = *state;
	char abs_out[200], rel_out[200];
	snprintf(abs_out, sizeof(abs_out), "%s", f->outside);
	snprintf(rel_out, sizeof(rel_out), "../../../../../../../../..%s", f->outside);
	SYS(symlink(abs_out, at(f->root, "abs")));
	SYS(symlink(rel_out, at(f->root, "rel")));
	SYS(symlink("/proc/self/root", at(f->root, "magic")));
	static const char *const outs[] = {"/abs/secret", "/rel/secret", "/magic/etc/hostname",
					   "/abs/", "/rel/."};
	for (size_t i = 0; i < ARRAY_SIZE(outs); i++) {
		struct berr *e = NULL;
		char dst[64];
		snprintf(dst, sizeof(dst), "got%zu", i);
		struct cpath_copy_opts o = {.follow = 1};
		int r = cpath_copy_out(&f->r, outs[i], dst, -1, &o, &e);
		assert_int_equal(r, -ENOENT);
		berr_free(e);
		assert_int_equal(access(at(f->host, dst), F_OK), -1);
	}
	static const char *const ins[] = {"/abs/x", "/rel/x", "/abs/", "/rel/", "/magic/tmp/x"};
	for (size_t i = 0; i < ARRAY_SIZE(ins); i++) {
		struct berr *e = NULL;
		int r = cpath_copy_in(&f->r, "file", -1, ins[i], NULL, &e);
		assert_true(r < 0);
		berr_free(e);
	}
	/* Nothing was written outside, not even in the real /tmp. */
	DIR *d = opendir(f->outside);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n++;
	closedir(d);
	assert_int_equal(n, 3);
}

/* CVE-2018-15664: the container swaps a directory and a symlink to the host while copies
 * run. The symlink's target is read by us and resolved in the root, so every copy either
 * lands in the container or fails. */
struct flipper {
	int rootfd;
	atomic_int stop;
	long flips;
};

static void *flip(void *arg)
{
	struct flipper *fl = arg;
	while (!atomic_load(&fl->stop)) {
		syscall(SYS_renameat2, fl->rootfd, "w", fl->rootfd, "wswap", RENAME_EXCHANGE);
		fl->flips++;
	}
	return NULL;
}

static void test_swap_race(void **state)
{
	struct fixture *f = *state;
	mk(f->root, "w");
	put(f->root, "w/inside", "INSIDE");
	SYS(symlink(f->outside, at(f->root, "wswap")));
	put(f->outside, "inside", "HOST");
	struct flipper fl = {.rootfd = f->rootfd};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, flip, &fl), 0);
	int ok_in = 0, ok_out = 0;
	/* 400 rounds, and more while no copy either way got through: on a loaded machine the
	 * flipper can win every race of the first 400. */
	for (int i = 0; i < 400 || ((!ok_in || !ok_out) && i < 20000); i++) {
		struct berr *e = NULL;
		if (cpath_copy_in(&f->r, "file", -1, "/w/planted", NULL, &e) == 0)
			ok_in++;
		berr_free(e);
		e = NULL;
		unlink(at(f->host, "stolen"));
		if (cpath_copy_out(&f->r, "/w/inside", "stolen", -1, NULL, &e) == 0) {
			ok_out++;
			char *data;
			size_t len;
			assert_int_equal(
			    fs_read_all_at(AT_FDCWD, at(f->host, "stolen"), 100, &data, &len), 0);
			assert_string_equal(data, "INSIDE");
			free(data);
		}
		berr_free(e);
	}
	atomic_store(&fl.stop, 1);
	pthread_join(t, NULL);
	assert_true(fl.flips > 100);
	assert_true(ok_in > 0 && ok_out > 0);
	assert_int_equal(access(at(f->outside, "planted"), F_OK), -1);
	char *data;
	size_t len;
	assert_int_equal(fs_read_all_at(AT_FDCWD, at(f->outside, "inside"), 100, &data, &len), 0);
	assert_string_equal(data, "HOST");
	free(data);
}

/* CVE-2019-14271: docker-tar chrooted into the container and loaded its libnss_*.so for user
 * names. A hostile NSS module here would drop a canary file when loaded; copies with owners
 * that have names in the container's /etc/passwd must not load it (owners stay numeric). */
static void test_nss_not_loaded(void **state)
{
	struct fixture *f = *state;
	char src[200], canary[200];
	snprintf(src, sizeof(src), "%s/nss.c", f->dir);
	snprintf(canary, sizeof(canary), "%s/canary", f->outside);
	FILE *c = fopen(src, "w");
	assert_non_null(c);
	fprintf(c,
		"#include <fcntl.h>\n#include <unistd.h>\n"
		"__attribute__((constructor)) static void boom(void)"
		"{ int fd = open(\"%s\", O_WRONLY | O_CREAT, 0600); if (fd >= 0) close(fd); }\n",
		canary);
	fclose(c);
	mk(f->root, "lib/x86_64-linux-gnu");
	mk(f->root, "lib64");
	char out1[300], out2[300];
	snprintf(out1, sizeof(out1), "%s/lib/x86_64-linux-gnu/libnss_files.so.2", f->root);
	snprintf(out2, sizeof(out2), "%s/lib64/libnss_files.so.2", f->root);
	char *argv[] = {"cc", "-shared", "-fPIC", "-o", out1, src, NULL};
	pid_t pid;
	int status;
	if (posix_spawnp(&pid, "cc", NULL, NULL, argv, environ) != 0 ||
	    waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		skip();
	SYS(link(out1, out2));
	put(f->root, "etc/passwd", "evil:x:1234:1234::/:/bin/sh\n");
	put(f->root, "etc/group", "evil:x:1234:\n");
	put(f->root, "etc/nsswitch.conf", "passwd: files\ngroup: files\n");
	SYS(chown(at(f->root, "etc/hosts"), 1234, 1234));
	struct cpath_copy_opts o = {.archive = 1};
	struct berr *e = NULL;
	assert_int_equal(cpath_copy_out(&f->r, "/etc", "etc-copy", -1, &o, &e), 0);
	assert_int_equal(cpath_copy_in(&f->r, "etc-copy", -1, "/tmp", &o, &e), 0);
	char p[128];
	snprintf(p, sizeof(p), "%s/t.tar", f->dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_int_equal(cpath_copy_out(&f->r, "/etc", "-", fd, &o, &e), 0);
	close(fd);
	assert_int_equal(access(canary, F_OK), -1);
	struct stat st;
	SYS(lstat(at(f->root, "tmp/etc-copy/hosts"), &st));
	assert_int_equal(st.st_uid, 1234);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_cpath needs root (owners, devices)\n");
		return 77;
	}
	umask(022);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean_split),
	    cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tar_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_links, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_swap_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nss_not_loaded, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
