/* The container's init layer; see initlayer.h. */
#include "initlayer.h"

#include "cleanup.h"
#include "fs.h"
#include "layerdiff.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

#define INITLAYER_MAX_DEPTH 64

/* A directory of the init layer that stands for one of the image's: its attributes are set
 * after everything is made in it (making entries changes its times). */
struct mirror {
	char *path; /* relative to the init layer */
	struct stat st;
};

struct state {
	int fd; /* the init layer */
	const int *lowerfds;
	size_t nlower;
	struct mirror *m;
	size_t nm;
};

static int mirror_add(struct state *s, const char *rel, const struct stat *st)
{
	for (size_t i = 0; i < s->nm; i++)
		if (streq(s->m[i].path, rel))
			return 0;
	struct mirror *m = realloc(s->m, (s->nm + 1) * sizeof(*m));
	if (!m)
		return -ENOMEM;
	s->m = m;
	if (!(m[s->nm].path = strdup(rel)))
		return -ENOMEM;
	m[s->nm++].st = *st;
	return 0;
}

/* Plan and make one path. 1 when made, 0 when left to the runtime. */
static int make_path(struct state *s, const struct initlayer_path *p)
{
	char rel[PATH_MAX];
	size_t len = 0, ncomp = 0;
	size_t ends[INITLAYER_MAX_DEPTH];
	/* Clean: single slashes, no "." or ".." (a destination with them is left alone). */
	for (const char *c = p->path; *c;) {
		while (*c == '/')
			c++;
		if (!*c)
			break;
		size_t cl = strcspn(c, "/");
		if ((cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		if (ncomp == INITLAYER_MAX_DEPTH || len + cl + 2 > sizeof(rel))
			return 0;
		if (len)
			rel[len++] = '/';
		memcpy(rel + len, c, cl);
		len += cl;
		ends[ncomp++] = len;
		c += cl;
	}
	if (!ncomp)
		return 0;
	rel[len] = '\0';

	/* The image's view of each prefix: every parent must be a directory there or be
	 * missing, and the path itself missing. */
	struct stat st[INITLAYER_MAX_DEPTH];
	int have[INITLAYER_MAX_DEPTH];
	for (size_t i = 0; i < ncomp; i++) {
		char save = rel[ends[i]];
		rel[ends[i]] = '\0';
		have[i] = layerdiff_image_stat(s->lowerfds, s->nlower, rel, &st[i]);
		rel[ends[i]] = save;
		if (have[i] < 0)
			return have[i];
		if (have[i] && (i == ncomp - 1 || !S_ISDIR(st[i].st_mode)))
			return 0;
		if (!have[i]) { /* nothing below a missing name can be in the image */
			for (size_t k = i + 1; k < ncomp; k++)
				have[k] = 0;
			break;
		}
	}

	/* Make it, through directories of the init layer only (O_NOFOLLOW: it has no links). */
	_cleanup_close_ int cur = fcntl(s->fd, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return -errno;
	for (size_t i = 0; i < ncomp; i++) {
		size_t start = i ? ends[i - 1] + 1 : 0;
		char name[NAME_MAX + 1];
		size_t nl = ends[i] - start;
		if (nl > NAME_MAX)
			return 0;
		memcpy(name, rel + start, nl);
		name[nl] = '\0';
		int last = i == ncomp - 1;
		if (last && p->is_file) {
			int f = openat(cur, name,
				       O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (f < 0)
				return errno == EEXIST ? 0 : -errno;
			/* umask-proof, as the runtime would have made it */
			int r = fchmod(f, 0644) < 0 ? -errno : 0;
			close(f);
			return r < 0 ? r : 1;
		}
		if (mkdirat(cur, name, 0755) < 0) {
			if (errno != EEXIST)
				return -errno;
			if (last)
				return 0;
		} else if (fchmodat(cur, name, 0755, 0) < 0) {
			return -errno;
		}
		int next = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return errno == ENOTDIR ? 0 : -errno; /* a file another path made */
		close(cur);
		cur = next;
		if (have[i]) {
			char save = rel[ends[i]];
			rel[ends[i]] = '\0';
			int r = mirror_add(s, rel, &st[i]);
			rel[ends[i]] = save;
			if (r < 0)
				return r;
		}
	}
	return 1;
}

int initlayer_make(int dirfd, const char *name, const int *lowerfds, size_t nlower,
		   const struct initlayer_path *paths, size_t n, size_t *ret_made,
		   struct berr **err)
{
	struct state s = {.fd = -1, .lowerfds = lowerfds, .nlower = nlower};
	size_t made = 0;
	int r = 0;
	*ret_made = 0;
	if (!nlower)
		return berr_set(err, EINVAL, "init layer: no image layers");
	if (mkdirat(dirfd, name, 0755) < 0)
		return berr_errno(err, errno, "init layer: create '%s'", name);
	s.fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s.fd < 0) {
		r = berr_errno(err, errno, "init layer: open '%s'", name);
		goto out;
	}
	/* The root: the top lower dir decides the merged root's attributes too. */
	struct stat root;
	if (layerdiff_image_stat(lowerfds, nlower, "", &root) == 1 &&
	    mirror_add(&s, ".", &root) < 0) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		r = make_path(&s, &paths[i]);
		if (r < 0) {
			r = berr_errno(err, r, "init layer: '%s'", paths[i].path);
			goto out;
		}
		made += (size_t)r;
	}
	r = 0;
	for (size_t i = 0; made && i < s.nm; i++) {
		const struct stat *st = &s.m[i].st;
		const struct timespec ts[2] = {st->st_atim, st->st_mtim};
		if (fchownat(s.fd, s.m[i].path, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
		    fchmodat(s.fd, s.m[i].path, st->st_mode & 07777, 0) < 0 ||
		    utimensat(s.fd, s.m[i].path, ts, AT_SYMLINK_NOFOLLOW) < 0) {
			r = berr_errno(err, errno, "init layer: attributes of '%s'", s.m[i].path);
			goto out;
		}
	}
out:
	for (size_t i = 0; i < s.nm; i++)
		free(s.m[i].path);
	free(s.m);
	if (s.fd >= 0)
		close(s.fd);
	if (r < 0 || !made)
		fs_rm_rf_at(dirfd, name);
	else
		*ret_made = made;
	return r;
}
