/* Container file system -> tar; see export.h. */
#include "export.h"

#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "cleanup.h"
#include "layerdiff.h"
#include "strv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "banned.h"

static int open_out(int out_fd, struct archive **ret, struct berr **err)
{
	struct archive *a = archive_write_new();
	if (!a)
		return berr_set(err, ENOMEM, "out of memory");
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_fd(a, out_fd) != ARCHIVE_OK) {
		int r = berr_set(err, EIO, "tar: %s", archive_error_string(a));
		archive_write_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

static int close_out(struct archive *a, int r, struct berr **err)
{
	/* Closed even after an error: libarchive 3.6 frees its output buffers only in close,
	 * and archive_write_free skips the close once a write failed. */
	if (archive_write_close(a) != ARCHIVE_OK && r == 0) {
		int code = archive_errno(a);
		r = berr_set(err, code > 0 ? code : EIO, "tar: %s", archive_error_string(a));
	}
	archive_write_free(a);
	return r;
}

int export_rootfs(int rootfd, int out_fd, struct berr **err)
{
	struct archive *a;
	struct layerdiff_tar *t;
	int r = open_out(out_fd, &a, err);
	if (r < 0)
		return r;
	if (layerdiff_tar_new(a, 0, &t) < 0)
		return close_out(a, berr_set(err, ENOMEM, "out of memory"), err);
	r = layerdiff_tar_add(t, rootfd, ".", "", 1, err);
	layerdiff_tar_free(t);
	return close_out(a, r, err);
}

/* ---- the union of layers ---- */

static int is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static int is_opaque(int dirfd, const char *name)
{
	char p[64 + NAME_MAX], v[2];
	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dirfd, name);
	ssize_t n = lgetxattr(p, "trusted.overlay.opaque", v, sizeof(v));
	return n == 1 && v[0] == 'y';
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_names(int fd, struct strv *ret)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = -errno;
		close(dfd);
		return e;
	}
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			r = strv_push(ret, de->d_name);
	closedir(d);
	return r;
}

struct owned {
	const char *name;
	size_t layer;
};

static int cmp_owned(const void *a, const void *b)
{
	return strcmp(((const struct owned *)a)->name, ((const struct owned *)b)->name);
}

struct merge {
	struct layerdiff_tar *t;
	size_t n;
};

/* fds[i]: this directory in layer i, or -1 when layer i does not take part. */
static int merge_dir(struct merge *m, const int *fds, const char *tarname, int depth,
		     struct berr **err)
{
	_cleanup_strv_ struct strv seen = STRV_INIT; /* names decided by a higher layer, sorted */
	_cleanup_strv_ struct strv visible = STRV_INIT;
	_cleanup_free_ size_t *owner = NULL;
	_cleanup_free_ int *child = NULL;
	_cleanup_buf_ struct buf name = BUF_INIT;
	if (depth > LAYERDIFF_MAX_DEPTH)
		return berr_set(err, ELOOP, "'%s': directories nested deeper than %d", tarname,
				LAYERDIFF_MAX_DEPTH);
	/* Collect: the highest layer decides each name. */
	for (size_t i = 0; i < m->n; i++) {
		if (fds[i] < 0)
			continue;
		_cleanup_strv_ struct strv names = STRV_INIT;
		size_t sorted =
		    seen.n; /* what higher layers decided; this layer's names are unique */
		int r = list_names(fds[i], &names);
		if (r < 0)
			return berr_errno(err, r, "read directory '%s'",
					  tarname[0] ? tarname : "/");
		for (size_t k = 0; k < names.n; k++) {
			if (sorted &&
			    bsearch(&names.v[k], seen.v, sorted, sizeof(char *), cmp_names))
				continue;
			struct stat st;
			if (fstatat(fds[i], names.v[k], &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (strv_push(&seen, names.v[k]) < 0)
				return berr_set(err, ENOMEM, "out of memory");
			if (is_whiteout(&st))
				continue;
			size_t *no = realloc(owner, (visible.n + 1) * sizeof(*no));
			if (!no)
				return berr_set(err, ENOMEM, "out of memory");
			owner = no;
			owner[visible.n] = i;
			if (strv_push(&visible, names.v[k]) < 0)
				return berr_set(err, ENOMEM, "out of memory");
		}
		strv_sort(&seen);
		/* Layers below an opaque directory do not show through it. */
		if (depth > 0 && is_opaque(fds[i], "."))
			break;
	}
	/* Sort visible names, keeping each one's owner. */
	_cleanup_free_ struct owned *order = malloc((visible.n + 1) * sizeof(*order));
	if (!order)
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t k = 0; k < visible.n; k++)
		order[k] = (struct owned){visible.v[k], owner[k]};
	if (visible.n > 1)
		qsort(order, visible.n, sizeof(*order), cmp_owned);
	child = malloc(m->n * sizeof(int));
	if (!child)
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t k = 0; k < visible.n; k++) {
		const char *nm = order[k].name;
		size_t j = order[k].layer;
		buf_reset(&name);
		if ((tarname[0] ? buf_printf(&name, "%s/%s", tarname, nm) : buf_puts(&name, nm)) <
		    0)
			return berr_set(err, ENOMEM, "out of memory");
		struct stat st;
		if (fstatat(fds[j], nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone meanwhile */
		int r = layerdiff_tar_add(m->t, fds[j], nm, name.data, 0, err);
		if (r < 0)
			return r;
		if (!S_ISDIR(st.st_mode))
			continue;
		/* The directory merges with the same directory in the layers below, until a
		 * whiteout, a non-directory or an opaque directory. */
		int stop = 0;
		for (size_t i = 0; i < m->n; i++) {
			child[i] = -1;
			if (i < j || stop || fds[i] < 0)
				continue;
			struct stat cs;
			if (fstatat(fds[i], nm, &cs, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (!S_ISDIR(cs.st_mode)) {
				stop = 1;
				continue;
			}
			child[i] =
			    openat(fds[i], nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (child[i] < 0) {
				r = berr_errno(err, errno, "open '%s'", name.data);
				break;
			}
			if (is_opaque(fds[i], nm))
				stop = 1;
		}
		if (r == 0)
			r = merge_dir(m, child, name.data, depth + 1, err);
		for (size_t i = 0; i < m->n; i++)
			if (child[i] >= 0)
				close(child[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int export_layers(const int *dirfds, size_t n, int out_fd, struct berr **err)
{
	struct archive *a;
	struct merge m = {.n = n};
	int r = open_out(out_fd, &a, err);
	if (r < 0)
		return r;
	if (layerdiff_tar_new(a, 0, &m.t) < 0)
		return close_out(a, berr_set(err, ENOMEM, "out of memory"), err);
	r = n ? merge_dir(&m, dirfds, "", 0, err) : 0;
	layerdiff_tar_free(m.t);
	return close_out(a, r, err);
}
