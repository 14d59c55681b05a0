/* cpath's path cleaning, splitting and in-root resolution on arbitrary bytes.
 *
 * Input: "<path>" or "<path>\n<symlink target>". The path is cleaned and split, and the
 * results are checked for form (absolute, no empty, "." or ".." components, idempotent,
 * split parts that join back). Then it is resolved, with and without following the last
 * symlink, in a fixed hostile root whose symlinks point at the host (absolute, relative,
 * through /proc, loops) and which has a bind mount; when a target is given, the root's
 * symlink "fz" points at it first. Whatever resolves must be inside the root or the mount's
 * directory (checked on the fds, through /proc/self/fd), never next to them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpath.h"
#include "fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64], root[96], vol[96], outside[96];
static int rootfd = -1;
static struct cpath_mount mnt;
static struct cpath_root croot;

static void cleanup(void)
{
	if (rootfd >= 0)
		close(rootfd);
	if (base[0])
		fs_rm_rf_at(AT_FDCWD, base);
}

static void mkfile(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		abort();
	close(fd);
}

static void init(void)
{
	snprintf(base, sizeof(base), "/tmp/berth-fuzz-cpath.XXXXXX");
	if (!mkdtemp(base))
		abort();
	atexit(cleanup);
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(vol, sizeof(vol), "%s/vol", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	char p[512];
	if (mkdir(root, 0755) < 0 || mkdir(vol, 0755) < 0 || mkdir(outside, 0755) < 0)
		abort();
	snprintf(p, sizeof(p), "%s/etc", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/etc/passwd", root);
	mkfile(p);
	snprintf(p, sizeof(p), "%s/data", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/v", vol);
	mkfile(p);
	snprintf(p, sizeof(p), "%s/secret", outside);
	mkfile(p);
	static const char *const links[][2] = {
	    {"abs", NULL}, /* the outside dir, absolute */
	    {"up", "../../../../../../../../.."},
	    {"rootlink", "/"},
	    {"proc", "/proc/self/root"},
	    {"loop1", "loop2"},
	    {"loop2", "loop1"},
	    {"etc/pw", "passwd"},
	    {"dataup", "data/.."},
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, links[i][0]);
		if (symlink(links[i][1] ? links[i][1] : outside, p) < 0)
			abort();
	}
	snprintf(p, sizeof(p), "%s/vol-up", vol);
	if (symlink("../outside", p) < 0)
		abort();
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		abort();
	mnt = (struct cpath_mount){"/data", vol, 0};
	croot = (struct cpath_root){.rootfd = rootfd, .mounts = &mnt, .nmounts = 1, .name = "fz"};
}

/* The fd's path must be root or vol, or below one of them. */
static void check_inside(int fd, const char *what)
{
	if (fd < 0)
		return;
	char link[64], real[4096];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, real, sizeof(real) - 1);
	if (n < 0)
		abort();
	real[n] = '\0';
	size_t rl = strlen(root), vl = strlen(vol);
	int in_root = strncmp(real, root, rl) == 0 && (real[rl] == '\0' || real[rl] == '/');
	int in_vol = strncmp(real, vol, vl) == 0 && (real[vl] == '\0' || real[vl] == '/');
	if (!in_root && !in_vol) {
		fprintf(stderr, "%s resolved to %s\n", what, real);
		abort();
	}
}

static void check_clean(const char *in, const char *c)
{
	size_t n = strlen(c);
	if (c[0] != '/' || n > strlen(in) + 3)
		abort();
	/* Components: none empty (but a trailing "/"), none "..", "." only as the last. */
	for (const char *p = c + 1; *p;) {
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t len = (size_t)(p - s);
		if (len == 0 && *p)
			abort();
		if (len == 2 && s[0] == '.' && s[1] == '.')
			abort();
		if (len == 1 && s[0] == '.' && *p)
			abort();
		if (*p)
			p++;
	}
	char *again;
	if (cpath_clean(c, &again) < 0 || strcmp(again, c) != 0)
		abort();
	free(again);
	char *dir, *b;
	if (cpath_split(c, &dir, &b) < 0)
		abort();
	if (dir[0] != '/' || !b[0] || strchr(b, '/'))
		abort();
	/* dir + "/" + base cleans back to the path without a trailing "/". */
	if (strcmp(c, "/") != 0 && strcmp(c, "/.") != 0) {
		char *joined, *jc;
		if (asprintf(&joined, "%s/%s", dir, b) < 0 || cpath_clean(joined, &jc) < 0)
			abort();
		size_t cl = strlen(c);
		if (strlen(jc) != cl - (c[cl - 1] == '/') || strncmp(jc, c, strlen(jc)) != 0)
			abort();
		free(joined);
		free(jc);
	}
	free(dir);
	free(b);
}

static void resolve(const char *path, int flags)
{
	struct cpath_loc l;
	struct berr *err = NULL;
	if (cpath_resolve(&croot, path, flags, &l, &err) < 0) {
		if (!err || !err->msg)
			abort();
		berr_free(err);
		return;
	}
	if (err || !l.path || l.path[0] != '/' || !l.base)
		abort();
	check_inside(l.fd, "node");
	check_inside(l.parentfd, "parent");
	cpath_loc_clear(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (rootfd < 0)
		init();
	if (size > 8192)
		return 0;
	char *in = malloc(size + 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	char *target = strchr(in, '\n');
	if (target)
		*target++ = '\0';

	char *c;
	int r = cpath_clean(in, &c);
	if (r == 0) {
		check_clean(in, c);
		free(c);
	} else if (r != -ENAMETOOLONG || strlen(in) <= CPATH_MAX) {
		abort();
	}
	if (target && target[0] && strlen(target) < 4096) {
		char p[256];
		snprintf(p, sizeof(p), "%s/fz", root);
		unlink(p);
		if (symlink(target, p) < 0)
			abort();
	}
	resolve(in, 0);
	resolve(in, CPATH_FOLLOW);
	free(in);
	return 0;
}
