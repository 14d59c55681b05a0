/* export (container export): a container's file system as one tar, to stdout or with -o to
 * a file that is replaced only by a complete archive. A running container's tree is read
 * through a clone of its root mount, a stopped one's merged from its layers (export.h:
 * both give the same stream). Volumes are not part of it, as with Docker. */
#include <jansson.h>

#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "ctr.h"
#include "ctrfs.h"
#include "export.h"
#include "fs.h"

#include "banned.h"

static const struct cmd_help export_help = {
    .usage = "berth export [OPTIONS] CONTAINER",
    .summary = "Export a container's filesystem as a tar archive",
    .aliases = "berth container export, berth export",
};

/* The -o target: a temp file beside it (same file system, so rename is atomic), or the
 * file itself when it is not a regular file (-o /dev/null). A symlink is followed so that
 * the rename replaces its target, not the link. */
struct output {
	char *path; /* where the archive ends up */
	char *tmp;  /* NULL when writing to path directly */
	int fd;
};

static int output_open(const char *arg, struct output *o, struct berr **err)
{
	struct stat st;
	*o = (struct output){.fd = -1};
	o->path = lstat(arg, &st) == 0 && S_ISLNK(st.st_mode) ? realpath(arg, NULL) : NULL;
	if (!o->path && !(o->path = strdup(arg)))
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_free_ char *d1 = strdup(o->path), *d2 = strdup(o->path);
	if (!d1 || !d2)
		return berr_set(err, ENOMEM, "out of memory");
	const char *dir = dirname(d1), *base = basename(d2);
	/* Docker checks the directory first, with this wording. */
	if (stat(dir, &st) < 0)
		return berr_errno(err, errno, "invalid output path: stat %s", dir);
	if (stat(o->path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			return berr_set(err, EISDIR, "open %s: is a directory", arg);
		if ((o->fd = open(o->path, O_WRONLY | O_CLOEXEC)) < 0)
			return berr_errno(err, errno, "open %s", arg);
		return 0;
	}
	if (asprintf(&o->tmp, "%s/.%s.tmp-%d", dir, base, (int)getpid()) < 0) {
		o->tmp = NULL;
		return berr_set(err, ENOMEM, "out of memory");
	}
	o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (o->fd < 0) {
		int e = errno;
		free(o->tmp);
		o->tmp = NULL;
		return berr_errno(err, e, "open %s", arg);
	}
	return 0;
}

/* Sync and rename into place (ok), or remove the temp file (!ok). */
static int output_close(struct output *o, int ok, const char *arg, struct berr **err)
{
	int r = 0;
	if (ok && o->tmp && fsync(o->fd) < 0)
		r = berr_errno(err, errno, "write %s", arg);
	if (o->fd >= 0)
		close(o->fd);
	if (ok && r == 0 && o->tmp) {
		if (rename(o->tmp, o->path) < 0)
			r = berr_errno(err, errno, "rename to %s", arg);
		else {
			_cleanup_free_ char *d = strdup(o->path);
			if (d)
				fs_fsync_dir_at(AT_FDCWD, dirname(d));
		}
	}
	if ((!ok || r < 0) && o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	*o = (struct output){.fd = -1};
	return r;
}

static int export_container(const struct ctr *c, int out_fd, struct berr **err)
{
	struct ctrfs fs = CTRFS_INIT;
	int r = ctrfs_open(c, &fs, err);
	if (r == 0 && ctrfs_is_up(c)) {
		/* The running tree, as the container sees it now. */
		r = ctrfs_mount_root(&fs, c, err);
		if (r == 0)
			r = export_rootfs(fs.rootfd, out_fd, err);
	} else if (r == 0) {
		/* The upper dir first: export_layers wants the layers top first. */
		_cleanup_free_ int *fds = malloc((fs.nlower + 1) * sizeof(int));
		if (!fds) {
			r = berr_set(err, ENOMEM, "out of memory");
		} else {
			fds[0] = fs.upperfd;
			memcpy(fds + 1, fs.lowerfds, fs.nlower * sizeof(int));
			r = export_layers(fds, fs.nlower + 1, out_fd, err);
		}
	}
	ctrfs_close(&fs);
	return r;
}

int cmd_export(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *output = NULL;
	const struct opt opts[] = {
	    {OPT_STRING, 'o', "output", &output, "string", "Write to a file, instead of STDOUT"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &export_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &export_help, argc - first, 1, 1) < 0)
		return 1;
	if (!output && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "cowardly refusing to save to a terminal. Use the -o flag or "
				"redirect\n");
		return 1;
	}
	_cleanup_berr_ struct berr *err = NULL;
	struct ctr c;
	if (ctr_lookup(ctx->root, argv[first], &c, &err) < 0) {
		fprintf(stderr, "Error response from daemon: %s\n", err->msg);
		return 1;
	}
	int r;
	if (output) {
		struct output o;
		r = output_open(output, &o, &err);
		if (r == 0)
			r = export_container(&c, o.fd, &err);
		int r2 = output_close(&o, r == 0, output, r == 0 ? &err : NULL);
		if (r == 0)
			r = r2;
	} else {
		r = export_container(&c, STDOUT_FILENO, &err);
	}
	ctr_free(&c);
	if (r < 0) {
		fprintf(stderr, "failed to export container: %s\n",
			err ? err->msg : "unknown error");
		return 1;
	}
	return 0;
}
