/* diff (container diff): the changes of a container's file system, as docker diff prints
 * them ("A /new", "C /changed", "D /deleted"). layerdiff_changes() compares the overlay
 * upper dir with the image's layers; this file removes the runtime's own mount points from
 * the list and prints it. */
#include <jansson.h>

#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "ctr.h"
#include "ctrfs.h"
#include "fs.h"
#include "layerdiff.h"

#include "banned.h"

static const struct cmd_help diff_help = {
    .usage = "berth diff CONTAINER",
    .summary = "Inspect changes to files or directories on a container's filesystem",
    .aliases = "berth container diff, berth diff",
};

/* What the runtime makes when the image lacks it (linux.c: the mount points of /proc, /sys
 * and /dev, and the /etc files it binds). Docker makes its own in the container's "-init"
 * layer, below the layer that diff reads, so docker diff never shows them. berth does the
 * same since containers have an init layer (initlayer.h); this list is for containers made
 * before, whose upper dirs hold them. */
static const char *const runtime_made[] = {
    "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/proc", "/sys",
};

static int is_runtime_made(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(runtime_made); i++)
		if (streq(path, runtime_made[i]))
			return 1;
	return 0;
}

/* 1 when c[j] lies below c[i] ("/a/b" below "/a"). */
static int below(const struct layerdiff_change *c, size_t i, size_t j)
{
	size_t n = strlen(c[i].path);
	return strncmp(c[j].path, c[i].path, n) == 0 && c[j].path[n] == '/';
}

/* stat of path (absolute, in the container) under dirfd, never leaving it. */
static int stat_in(int dirfd, const char *path, struct stat *st)
{
	_cleanup_close_ int fd = fs_open_in_root(dirfd, path + 1, O_PATH | O_NOFOLLOW, 0);
	if (fd < 0)
		return fd;
	return fstat(fd, st) < 0 ? -errno : 0;
}

/* 1 when the upper dir's node at path has the type, mode and owner of the image's, which
 * is what the highest layer holding it has. */
static int same_as_image(const struct ctrfs *fs, const char *path)
{
	struct stat up, low;
	if (stat_in(fs->upperfd, path, &up) < 0)
		return 0;
	for (size_t i = fs->ninit; i < fs->nlower; i++) {
		if (stat_in(fs->lowerfds[i], path, &low) < 0)
			continue;
		if (S_ISCHR(low.st_mode) && low.st_rdev == 0)
			return 0; /* a whiteout: not in the image after all */
		return up.st_mode == low.st_mode && up.st_uid == low.st_uid &&
		       up.st_gid == low.st_gid;
	}
	return 0;
}

/* Drop the runtime's mount points while they are as the runtime made them (an empty file,
 * an empty directory), and then the directories listed only because of them. */
static void drop_runtime_made(const struct ctrfs *fs, struct layerdiff_change *c, size_t n,
			      char *drop)
{
	for (size_t i = 0; i < n; i++) {
		if (c[i].kind != LAYERDIFF_ADDED || !is_runtime_made(c[i].path))
			continue;
		struct stat st;
		if (stat_in(fs->upperfd, c[i].path, &st) < 0)
			continue;
		int has_below = i + 1 < n && below(c, i, i + 1);
		if ((S_ISREG(st.st_mode) && st.st_size == 0) || (S_ISDIR(st.st_mode) && !has_below))
			drop[i] = 1;
	}
	/* Children come after their directory: walk backwards so that a directory sees its
	 * entries decided. */
	for (size_t i = n; i-- > 0;) {
		if (drop[i] || c[i].kind == LAYERDIFF_DELETED)
			continue;
		size_t j = i + 1, kept = 0, dropped = 0;
		for (; j < n && below(c, i, j); j++) {
			if (drop[j])
				dropped++;
			else
				kept++;
		}
		if (!dropped || kept)
			continue;
		if (c[i].kind == LAYERDIFF_ADDED || same_as_image(fs, c[i].path))
			drop[i] = 1;
	}
}

int cmd_diff(struct berth_ctx *ctx, int argc, char **argv)
{
	const struct opt opts[] = {{0}};
	int first, rc;
	if (cmd_parse(ctx, &diff_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &diff_help, argc - first, 1, 1) < 0)
		return 1;
	_cleanup_berr_ struct berr *err = NULL;
	struct ctr c;
	if (ctr_lookup(ctx->root, argv[first], &c, &err) < 0) {
		fprintf(stderr, "Error response from daemon: %s\n", err->msg);
		return 1;
	}
	struct ctrfs fs = CTRFS_INIT;
	struct layerdiff_change *changes = NULL;
	size_t n = 0;
	int r = ctrfs_open(&c, &fs, &err);
	if (r == 0)
		/* Against the image: the init layer's mount points are not the image's. */
		r = layerdiff_changes(fs.upperfd, fs.lowerfds + fs.ninit, fs.nlower - fs.ninit,
				      &changes, &n, &err);
	_cleanup_free_ char *drop = r == 0 ? calloc(n + 1, 1) : NULL;
	if (r == 0 && !drop)
		r = berr_set(&err, ENOMEM, "out of memory");
	if (r == 0) {
		drop_runtime_made(&fs, changes, n, drop);
		for (size_t i = 0; i < n; i++)
			if (!drop[i])
				printf("%c %s\n", (char)changes[i].kind, changes[i].path);
		if (fflush(stdout) != 0)
			r = berr_errno(&err, errno, "write");
	}
	layerdiff_changes_free(changes, n);
	ctrfs_close(&fs);
	ctr_free(&c);
	if (r < 0) {
		fprintf(stderr, "Error response from daemon: %s\n", err->msg);
		return 1;
	}
	return 0;
}
