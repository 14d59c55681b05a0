/* Overlay upper dir -> layer tar and `docker diff`; see layerdiff.h for the rules and
 * docs/internals/COMMIT.md for the reasons. */
#include "layerdiff.h"

#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "cleanup.h"
#include "strv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "banned.h"

#define COPY_CHUNK (256 * 1024)
#define XATTR_LIST_MAX_BYTES (64 * 1024) /* the kernel's own limit for a list */
#define XATTR_VALUE_MAX_BYTES (64 * 1024)
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* ---- extended attributes, read without following the last component ---- */

/* "/proc/self/fd/<dirfd>/<name>": the l*xattr calls resolve the directory through its fd
 * (no path walk that a rename could redirect) and never follow name itself. The *xattrat
 * system calls (Linux 6.13) would avoid /proc, but glibc 2.36 has no wrappers. */
static int fd_path(int dirfd, const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "/proc/self/fd/%d/%s", dirfd, name);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* List the xattr names of dirfd/name into a fresh buffer (NUL-separated). 0 names: *ret
 * NULL and *ret_len 0. Filesystems without xattrs count as having none. */
static int xattr_list(int dirfd, const char *name, char **ret, size_t *ret_len)
{
	char p[PATH_MAX];
	*ret = NULL;
	*ret_len = 0;
	int r = fd_path(dirfd, name, p, sizeof(p));
	if (r < 0)
		return r;
	for (int tries = 0; tries < 4; tries++) {
		ssize_t n = llistxattr(p, NULL, 0);
		if (n < 0)
			return errno == ENOTSUP ? 0 : -errno;
		if (n == 0)
			return 0;
		if (n > XATTR_LIST_MAX_BYTES)
			return -E2BIG;
		char *list = malloc((size_t)n + 1);
		if (!list)
			return -ENOMEM;
		ssize_t m = llistxattr(p, list, (size_t)n);
		if (m < 0) {
			free(list);
			if (errno == ERANGE)
				continue; /* grew meanwhile */
			return -errno;
		}
		list[m] = '\0';
		*ret = list;
		*ret_len = (size_t)m;
		return 0;
	}
	return -EAGAIN;
}

/* Value of one xattr into a fresh buffer; -ENODATA when absent. */
static int xattr_get(int dirfd, const char *name, const char *key, char **ret, size_t *ret_len)
{
	char p[PATH_MAX];
	int r = fd_path(dirfd, name, p, sizeof(p));
	if (r < 0)
		return r;
	for (int tries = 0; tries < 4; tries++) {
		ssize_t n = lgetxattr(p, key, NULL, 0);
		if (n < 0)
			return errno == ENOTSUP ? -ENODATA : -errno;
		if (n > XATTR_VALUE_MAX_BYTES)
			return -E2BIG;
		char *v = malloc((size_t)n + 1);
		if (!v)
			return -ENOMEM;
		ssize_t m = lgetxattr(p, key, v, (size_t)n);
		if (m < 0) {
			free(v);
			if (errno == ERANGE)
				continue;
			return -errno;
		}
		v[m] = '\0';
		*ret = v;
		*ret_len = (size_t)m;
		return 0;
	}
	return -EAGAIN;
}

static int is_overlay_xattr(const char *key)
{
	return strncmp(key, "trusted.overlay.", 16) == 0 || strncmp(key, "user.overlay.", 13) == 0;
}

/* 1 when dirfd/name is a directory marked opaque ("y"), 0 when not. */
static int is_opaque(int dirfd, const char *name)
{
	_cleanup_free_ char *v = NULL;
	size_t len;
	if (xattr_get(dirfd, name, "trusted.overlay.opaque", &v, &len) < 0)
		return 0;
	return len == 1 && v[0] == 'y';
}

static int is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* ---- the tar writer ---- */

struct link_slot {
	dev_t dev;
	ino_t ino;
	char *name; /* NULL: free slot */
};

struct layerdiff_tar {
	struct archive *a;
	int flags;
	uid_t uid;
	gid_t gid;
	struct link_slot *links; /* open addressing on (dev, ino) */
	size_t nlinks, caplinks;
	struct layerdiff_stats stats;
	char *chunk;
	layerdiff_redirect_fn redirect;
	void *redirect_opaque;
};

int layerdiff_tar_new(struct archive *out, int flags, struct layerdiff_tar **ret)
{
	struct layerdiff_tar *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->chunk = malloc(COPY_CHUNK);
	if (!t->chunk) {
		free(t);
		return -ENOMEM;
	}
	t->a = out;
	t->flags = flags;
	*ret = t;
	return 0;
}

void layerdiff_tar_set_owner(struct layerdiff_tar *t, uid_t uid, gid_t gid)
{
	t->uid = uid;
	t->gid = gid;
}

void layerdiff_tar_set_redirect(struct layerdiff_tar *t, layerdiff_redirect_fn fn, void *opaque)
{
	t->redirect = fn;
	t->redirect_opaque = opaque;
}

void layerdiff_tar_stats(const struct layerdiff_tar *t, struct layerdiff_stats *ret)
{
	*ret = t->stats;
}

void layerdiff_tar_free(struct layerdiff_tar *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->caplinks; i++)
		free(t->links[i].name);
	free(t->links);
	free(t->chunk);
	free(t);
}

static size_t link_hash(dev_t dev, ino_t ino, size_t cap)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4fULL;
	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static int links_grow(struct layerdiff_tar *t)
{
	size_t cap = t->caplinks ? t->caplinks * 2 : 64;
	struct link_slot *n = calloc(cap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < t->caplinks; i++) {
		if (!t->links[i].name)
			continue;
		size_t j = link_hash(t->links[i].dev, t->links[i].ino, cap);
		while (n[j].name)
			j = (j + 1) & (cap - 1);
		n[j] = t->links[i];
	}
	free(t->links);
	t->links = n;
	t->caplinks = cap;
	return 0;
}

/* The first tar name of a multiply linked inode, or NULL after recording tarname for it. */
static int links_seen(struct layerdiff_tar *t, const struct stat *st, const char *tarname,
		      const char **ret_first)
{
	*ret_first = NULL;
	if (t->caplinks) {
		size_t j = link_hash(st->st_dev, st->st_ino, t->caplinks);
		while (t->links[j].name) {
			if (t->links[j].dev == st->st_dev && t->links[j].ino == st->st_ino) {
				*ret_first = t->links[j].name;
				return 0;
			}
			j = (j + 1) & (t->caplinks - 1);
		}
	}
	if ((t->nlinks + 1) * 2 > t->caplinks && links_grow(t) < 0)
		return -ENOMEM;
	char *copy = strdup(tarname);
	if (!copy)
		return -ENOMEM;
	size_t j = link_hash(st->st_dev, st->st_ino, t->caplinks);
	while (t->links[j].name)
		j = (j + 1) & (t->caplinks - 1);
	t->links[j] = (struct link_slot){st->st_dev, st->st_ino, copy};
	t->nlinks++;
	return 0;
}

static int archive_fail(struct archive *a, struct berr **err, const char *tarname)
{
	int code = archive_errno(a);
	return berr_set(err, code > 0 ? code : EIO, "write '%s': %s", tarname,
			archive_error_string(a) ? archive_error_string(a) : "tar error");
}

/* Copy the xattrs of dirfd/name into e (dropping overlay's own), checking in overlay mode
 * for features berth cannot turn into a changeset. ret_opaque: the dir is opaque. */
static int add_xattrs(struct layerdiff_tar *t, struct archive_entry *e, int dirfd, const char *name,
		      const char *tarname, int *ret_opaque, struct berr **err)
{
	_cleanup_free_ char *list = NULL;
	size_t len;
	*ret_opaque = 0;
	int r = xattr_list(dirfd, name, &list, &len);
	if (r < 0)
		return berr_errno(err, r, "list xattrs of '%s'", tarname);
	for (size_t off = 0; off < len;) {
		const char *key = list + off;
		off += strlen(key) + 1;
		if (!*key)
			continue;
		if (is_overlay_xattr(key)) {
			if (!(t->flags & LAYERDIFF_OVERLAY))
				continue;
			const char *what = strrchr(key, '.') + 1;
			if (streq(what, "redirect") || streq(what, "metacopy"))
				return berr_set(
				    err, EOPNOTSUPP,
				    "'%s' has the overlay xattr %s: berth needs overlay mounts "
				    "with redirect_dir=off,metacopy=off",
				    tarname, key);
			if (streq(key, "trusted.overlay.opaque"))
				*ret_opaque = is_opaque(dirfd, name);
			continue;
		}
		_cleanup_free_ char *v = NULL;
		size_t vlen;
		r = xattr_get(dirfd, name, key, &v, &vlen);
		if (r == -ENODATA)
			continue; /* removed meanwhile */
		if (r < 0)
			return berr_errno(err, r, "read xattr %s of '%s'", key, tarname);
		archive_entry_xattr_add_entry(e, key, v, vlen);
	}
	return 0;
}

/* Write size bytes of fd (fewer if it shrank: the archive pads the entry with zeros). */
static int copy_data(struct layerdiff_tar *t, int fd, int64_t size, const char *tarname,
		     struct berr **err)
{
	int64_t left = size;
	while (left > 0) {
		size_t want = left < COPY_CHUNK ? (size_t)left : COPY_CHUNK;
		ssize_t n = read(fd, t->chunk, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berr_errno(err, errno, "read '%s'", tarname);
		}
		if (n == 0)
			break;
		la_ssize_t w = archive_write_data(t->a, t->chunk, (size_t)n);
		if (w < 0)
			return archive_fail(t->a, err, tarname);
		left -= n;
		t->stats.bytes += (uint64_t)n;
	}
	return 0;
}

static int write_header(struct layerdiff_tar *t, struct archive_entry *e, const char *tarname,
			struct berr **err)
{
	int r = archive_write_header(t->a, e);
	if (r == ARCHIVE_WARN)
		r = ARCHIVE_OK;
	if (r != ARCHIVE_OK)
		return archive_fail(t->a, err, tarname);
	t->stats.entries++;
	return 0;
}

/* A zero-length regular entry: whiteouts and opaque markers. */
static int write_marker(struct layerdiff_tar *t, const char *tarname, mode_t perm, uid_t uid,
			gid_t gid, time_t mtime, struct berr **err)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return berr_set(err, ENOMEM, "out of memory");
	archive_entry_set_pathname(e, tarname);
	archive_entry_set_mode(e, AE_IFREG | perm);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	archive_entry_set_mtime(e, mtime, 0);
	archive_entry_set_size(e, 0);
	int r = write_header(t, e, tarname, err);
	archive_entry_free(e);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in the directory fd (kept open), sorted. */
static int list_dir(int fd, struct strv *ret)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = -errno;
		close(dfd);
		return e;
	}
	rewinddir(d);
	struct dirent *de;
	int r = 0;
	errno = 0;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if ((r = strv_push(ret, de->d_name)) < 0)
			break;
		errno = 0;
	}
	if (r == 0 && errno)
		r = -errno;
	closedir(d);
	if (r == 0 && ret->n > 1)
		qsort(ret->v, ret->n, sizeof(char *), cmp_names);
	return r;
}

static int join_name(struct buf *b, const char *parent, const char *name)
{
	buf_reset(b);
	if (parent[0])
		return buf_printf(b, "%s/%s", parent, name);
	return buf_puts(b, name);
}

static int add_node(struct layerdiff_tar *t, int dirfd, const char *name, const char *tarname,
		    int recursive, int depth, struct berr **err);

static int add_children(struct layerdiff_tar *t, int fd, const char *tarname, int depth,
			struct berr **err)
{
	_cleanup_strv_ struct strv names = STRV_INIT;
	_cleanup_buf_ struct buf child = BUF_INIT;
	int r = list_dir(fd, &names);
	if (r < 0)
		return berr_errno(err, r, "read directory '%s'", tarname[0] ? tarname : ".");
	for (size_t i = 0; i < names.n; i++) {
		if (join_name(&child, tarname, names.v[i]) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		r = add_node(t, fd, names.v[i], child.data, 1, depth + 1, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int add_node(struct layerdiff_tar *t, int dirfd, const char *name, const char *tarname,
		    int recursive, int depth, struct berr **err)
{
	struct stat st;
	_cleanup_close_ int fd = -1;
	if (depth > LAYERDIFF_MAX_DEPTH)
		return berr_set(err, ELOOP, "'%s': directories nested deeper than %d", tarname,
				LAYERDIFF_MAX_DEPTH);
	if (t->redirect && depth > 0) {
		const char *rname = NULL;
		int rfd = t->redirect(t->redirect_opaque, tarname, &rname);
		if (rfd >= 0 && rname) {
			dirfd = rfd;
			name = rname;
		}
	}
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT && depth > 0)
			return 0; /* deleted while we walk: it is not part of the change */
		return berr_errno(err, errno, "stat '%s'", tarname[0] ? tarname : name);
	}
	/* Regular files and directories are read through an fd, and the fd's stat is the truth
	 * (a rename between fstatat and open changes nothing then). O_NONBLOCK: a FIFO swapped
	 * in does not block the open. */
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
			    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
		fd = openat(dirfd, name, flags);
		if (fd < 0) {
			if ((errno == ENOENT || errno == ELOOP || errno == ENOTDIR) && depth > 0)
				return 0;
			return berr_errno(err, errno, "open '%s'", tarname[0] ? tarname : name);
		}
		struct stat fst;
		if (fstat(fd, &fst) < 0)
			return berr_errno(err, errno, "stat '%s'", tarname);
		if ((fst.st_mode & S_IFMT) != (st.st_mode & S_IFMT))
			return berr_set(err, EAGAIN, "'%s' changed while it was read", tarname);
		st = fst;
		if (S_ISREG(st.st_mode)) {
			int fl = fcntl(fd, F_GETFL);
			if (fl >= 0)
				fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		}
	}
	if (S_ISSOCK(st.st_mode))
		return 0;

	const char *base = strrchr(tarname, '/');
	base = base ? base + 1 : tarname;
	if ((t->flags & LAYERDIFF_OVERLAY) && is_whiteout(&st)) {
		_cleanup_buf_ struct buf wh = BUF_INIT;
		if (buf_printf(&wh, "%.*s%s%s", (int)(base - tarname), tarname, WH_PREFIX, base) <
		    0)
			return berr_set(err, ENOMEM, "out of memory");
		int r =
		    write_marker(t, wh.data, 0600, st.st_uid, st.st_gid, st.st_mtim.tv_sec, err);
		if (r == 0)
			t->stats.whiteouts++;
		return r;
	}

	int opaque = 0;
	if (tarname[0]) {
		struct archive_entry *e = archive_entry_new();
		if (!e)
			return berr_set(err, ENOMEM, "out of memory");
		archive_entry_set_pathname(e, tarname);
		archive_entry_set_mode(e, st.st_mode);
		archive_entry_set_uid(e, (t->flags & LAYERDIFF_CHOWN) ? t->uid : st.st_uid);
		archive_entry_set_gid(e, (t->flags & LAYERDIFF_CHOWN) ? t->gid : st.st_gid);
		/* Whole seconds, as Docker writes layers: the same tree gives the same bytes
		 * whatever sub-second times the copy-up left. */
		archive_entry_set_mtime(e, st.st_mtim.tv_sec, 0);
		if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
			archive_entry_set_rdev(e, st.st_rdev);
		int r = 0;
		const char *first = NULL;
		if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 &&
		    links_seen(t, &st, tarname, &first) < 0)
			r = berr_set(err, ENOMEM, "out of memory");
		if (r == 0 && first) {
			archive_entry_set_hardlink(e, first);
			archive_entry_set_size(e, 0);
			t->stats.hardlinks++;
		} else if (r == 0 && S_ISLNK(st.st_mode)) {
			/* st_size is the target's length; a longer result means it changed. */
			size_t cap = (size_t)st.st_size + 2;
			_cleanup_free_ char *target = cap > 2 && cap < 65536 ? malloc(cap) : NULL;
			ssize_t n = target ? readlinkat(dirfd, name, target, cap) : -1;
			if (!target)
				r = berr_set(err, cap > 2 ? ENOMEM : EINVAL, "symlink '%s'",
					     tarname);
			else if (n < 0)
				r = berr_errno(err, errno, "read symlink '%s'", tarname);
			else if ((size_t)n >= cap - 1)
				r = berr_set(err, EAGAIN, "'%s' changed while it was read",
					     tarname);
			else {
				target[n] = '\0';
				archive_entry_set_symlink(e, target);
			}
		} else if (r == 0 && S_ISREG(st.st_mode)) {
			archive_entry_set_size(e, st.st_size);
		}
		if (r == 0 && !first)
			r = add_xattrs(t, e, dirfd, name, tarname, &opaque, err);
		if (r == 0)
			r = write_header(t, e, tarname, err);
		archive_entry_free(e);
		if (r == 0 && S_ISREG(st.st_mode) && !first)
			r = copy_data(t, fd, st.st_size, tarname, err);
		if (r < 0)
			return r;
		if (opaque && (t->flags & LAYERDIFF_OVERLAY) && S_ISDIR(st.st_mode)) {
			_cleanup_buf_ struct buf m = BUF_INIT;
			if (buf_printf(&m, "%s/%s", tarname, WH_OPAQUE) < 0)
				return berr_set(err, ENOMEM, "out of memory");
			/* As Docker writes it: the directory's permissions and owner, time 0. */
			r = write_marker(t, m.data, st.st_mode & 0777, st.st_uid, st.st_gid, 0,
					 err);
			if (r < 0)
				return r;
			t->stats.opaques++;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		return berr_set(err, ENOTDIR, "'%s' is not a directory", name);
	}
	if (recursive && S_ISDIR(st.st_mode))
		return add_children(t, fd, tarname, depth, err);
	return 0;
}

int layerdiff_tar_add(struct layerdiff_tar *t, int dirfd, const char *name, const char *tarname,
		      int recursive, struct berr **err)
{
	return add_node(t, dirfd, name, tarname, recursive, 0, err);
}

int layerdiff_write(int upperfd, struct archive *out, struct layerdiff_stats *ret,
		    struct berr **err)
{
	struct layerdiff_tar *t;
	if (layerdiff_tar_new(out, LAYERDIFF_OVERLAY, &t) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	int r = layerdiff_tar_add(t, upperfd, ".", "", 1, err);
	if (r == 0 && ret)
		layerdiff_tar_stats(t, ret);
	layerdiff_tar_free(t);
	return r;
}

/* ---- docker diff ---- */

enum lower_state {
	LOWER_MISSING = 0, /* not in this layer: look further down (unless hidden) */
	LOWER_HIDDEN,	   /* a whiteout, a non-directory on the way or an opaque parent */
	LOWER_FOUND,
};

/* Look path ("a/b/c") up in one image layer, never following a symlink. On LOWER_FOUND,
 * *ret_parent is an fd of the parent directory (the caller's) and st the node's stat. */
static enum lower_state layer_lookup(int layerfd, const char *path, struct stat *st,
				     int *ret_parent, const char **ret_base)
{
	_cleanup_close_ int cur = fcntl(layerfd, F_DUPFD_CLOEXEC, 3);
	int opaque_above = 0;
	const char *p = path;
	if (cur < 0)
		return LOWER_MISSING;
	for (;;) {
		const char *slash = strchr(p, '/');
		char comp[NAME_MAX + 1];
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || len > NAME_MAX)
			return LOWER_HIDDEN;
		memcpy(comp, p, len);
		comp[len] = '\0';
		if (fstatat(cur, comp, st, AT_SYMLINK_NOFOLLOW) < 0)
			return opaque_above ? LOWER_HIDDEN : LOWER_MISSING;
		if (is_whiteout(st))
			return LOWER_HIDDEN;
		if (!slash) {
			*ret_parent = TAKE_FD(cur);
			*ret_base = p;
			return LOWER_FOUND;
		}
		if (!S_ISDIR(st->st_mode))
			return LOWER_HIDDEN;
		if (is_opaque(cur, comp))
			opaque_above = 1;
		int next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return LOWER_HIDDEN;
		close(cur);
		cur = next;
		p = slash + 1;
	}
}

struct lower_node {
	int found;
	struct stat st;
	int parent; /* fd, -1 when not found */
	const char *base;
};

/* The image's node at path (relative, no leading "/"), layers top first. */
static void lower_lookup(const int *lowerfds, size_t n, const char *path, struct lower_node *ret)
{
	ret->found = 0;
	ret->parent = -1;
	for (size_t i = 0; i < n; i++) {
		enum lower_state s =
		    layer_lookup(lowerfds[i], path, &ret->st, &ret->parent, &ret->base);
		if (s == LOWER_FOUND) {
			ret->found = 1;
			return;
		}
		if (s == LOWER_HIDDEN)
			return;
	}
}

int layerdiff_image_stat(const int *lowerfds, size_t n, const char *path, struct stat *ret)
{
	struct lower_node ln;
	while (*path == '/')
		path++;
	if (!*path)
		return fstat(lowerfds[0], ret) < 0 ? -errno : 1;
	lower_lookup(lowerfds, n, path, &ln);
	if (ln.parent >= 0)
		close(ln.parent);
	if (ln.found)
		*ret = ln.st;
	return ln.found;
}

/* key among the first n (sorted) strings of v. */
static int sorted_has(const struct strv *v, size_t n, const char *key)
{
	if (!n)
		return 0;
	return bsearch(&key, v->v, n, sizeof(char *), cmp_names) != NULL;
}

/* The names the image shows in directory path ("" for the root), sorted. */
static int lower_list(const int *lowerfds, size_t n, const char *path, struct strv *ret)
{
	_cleanup_strv_ struct strv decided = STRV_INIT; /* visible or whited out, sorted */
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int dfd = -1;
		int opaque = 0;
		if (path[0]) {
			struct stat st;
			_cleanup_close_ int parent = -1;
			const char *base;
			enum lower_state s = layer_lookup(lowerfds[i], path, &st, &parent, &base);
			if (s == LOWER_HIDDEN)
				break;
			if (s == LOWER_MISSING)
				continue;
			if (!S_ISDIR(st.st_mode))
				break;
			opaque = is_opaque(parent, base);
			dfd = openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		} else {
			dfd = openat(lowerfds[i], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		}
		if (dfd < 0)
			return -errno;
		_cleanup_strv_ struct strv names = STRV_INIT;
		int r = list_dir(dfd, &names);
		if (r < 0)
			return r;
		size_t before = decided.n; /* decided by higher layers: sorted */
		for (size_t k = 0; k < names.n; k++) {
			if (sorted_has(&decided, before, names.v[k]))
				continue;
			struct stat st;
			if (fstatat(dfd, names.v[k], &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if ((r = strv_push(&decided, names.v[k])) < 0)
				return r;
			if (!is_whiteout(&st) && (r = strv_push(ret, names.v[k])) < 0)
				return r;
		}
		if (decided.n != before)
			strv_sort(&decided);
		if (opaque)
			break;
	}
	strv_sort(ret);
	return 0;
}

struct differ {
	const int *lowerfds;
	size_t nlower;
	struct layerdiff_change *c;
	size_t n, cap;
};

static int emit(struct differ *d, size_t at, enum layerdiff_kind kind, const char *path)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 32;
		struct layerdiff_change *nc = realloc(d->c, cap * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		d->c = nc;
		d->cap = cap;
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	memmove(&d->c[at + 1], &d->c[at], (d->n - at) * sizeof(*d->c));
	d->c[at] = (struct layerdiff_change){kind, p};
	d->n++;
	return 0;
}

static int xattr_equal(int dfd1, const char *n1, int dfd2, const char *n2, const char *key)
{
	_cleanup_free_ char *v1 = NULL, *v2 = NULL;
	size_t l1 = 0, l2 = 0;
	int r1 = xattr_get(dfd1, n1, key, &v1, &l1);
	int r2 = xattr_get(dfd2, n2, key, &v2, &l2);
	if (r1 < 0 || r2 < 0)
		return (r1 < 0) == (r2 < 0);
	return l1 == l2 && memcmp(v1, v2, l1) == 0;
}

/* Docker's statDifferent: for directories neither size nor mtime mean anything. */
static int node_differs(const struct stat *old, const struct stat *new)
{
	if (old->st_mode != new->st_mode || old->st_uid != new->st_uid ||
	    old->st_gid != new->st_gid || old->st_rdev != new->st_rdev)
		return 1;
	if (S_ISDIR(old->st_mode))
		return 0;
	/* Docker's sameFsTime: equal, or the same second with one side truncated. */
	int same_time = (old->st_mtim.tv_sec == new->st_mtim.tv_sec &&
			 (old->st_mtim.tv_nsec == new->st_mtim.tv_nsec ||
			  old->st_mtim.tv_nsec == 0 || new->st_mtim.tv_nsec == 0));
	return !same_time || old->st_size != new->st_size;
}

static int diff_dir(struct differ *d, int upfd, const char *path, int added, int opaque,
		    int *ret_changed, int depth, struct berr **err);

static int diff_node(struct differ *d, int upfd, const char *name, const char *full, int added,
		     int *changed, int depth, struct berr **err)
{
	struct stat st;
	int r;
	if (fstatat(upfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return berr_errno(err, errno, "stat '%s'", full);
	}
	if (is_whiteout(&st)) {
		if (added)
			return 0; /* overlay never needs one there; nothing to report */
		*changed = 1;
		return emit(d, d->n, LAYERDIFF_DELETED, full) < 0
			   ? berr_set(err, ENOMEM, "out of memory")
			   : 0;
	}
	struct lower_node low = {.parent = -1};
	if (!added)
		lower_lookup(d->lowerfds, d->nlower, full + 1, &low);
	size_t at = d->n;
	int reported = 0, below = 0, child_added = added || !low.found;
	if (child_added) {
		r = emit(d, d->n, LAYERDIFF_ADDED, full);
		reported = 1;
	} else {
		reported = node_differs(&low.st, &st) ||
			   !xattr_equal(low.parent, low.base, upfd, name, "security.capability");
		r = reported ? emit(d, d->n, LAYERDIFF_CHANGED, full) : 0;
		/* A directory over a non-directory: everything below it is new. */
		if (S_ISDIR(st.st_mode) && !S_ISDIR(low.st.st_mode))
			child_added = 1;
	}
	if (low.parent >= 0)
		close(low.parent);
	if (r < 0)
		return berr_set(err, ENOMEM, "out of memory");
	if (S_ISDIR(st.st_mode)) {
		_cleanup_close_ int cfd =
		    openat(upfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0) {
			if (errno == ENOENT)
				return 0;
			return berr_errno(err, errno, "open '%s'", full);
		}
		r = diff_dir(d, cfd, full, child_added, !child_added && is_opaque(upfd, name),
			     &below, depth + 1, err);
		if (r < 0)
			return r;
		if (below && !reported && emit(d, at, LAYERDIFF_CHANGED, full) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	}
	if (reported || below)
		*changed = 1;
	return 0;
}

static int diff_dir(struct differ *d, int upfd, const char *path, int added, int opaque,
		    int *ret_changed, int depth, struct berr **err)
{
	_cleanup_strv_ struct strv names = STRV_INIT;
	_cleanup_strv_ struct strv gone = STRV_INIT; /* image entries an opaque dir hides */
	_cleanup_buf_ struct buf full = BUF_INIT;
	if (depth > LAYERDIFF_MAX_DEPTH)
		return berr_set(err, ELOOP, "'%s': directories nested deeper than %d", path,
				LAYERDIFF_MAX_DEPTH);
	int r = list_dir(upfd, &names);
	if (r < 0)
		return berr_errno(err, r, "read directory '%s'", path[0] ? path : "/");
	if (opaque) {
		_cleanup_strv_ struct strv low = STRV_INIT;
		r = lower_list(d->lowerfds, d->nlower, path[0] ? path + 1 : "", &low);
		if (r < 0)
			return berr_errno(err, r, "read the image's '%s'", path);
		for (size_t i = 0; i < low.n; i++)
			if (!sorted_has(&names, names.n, low.v[i]) &&
			    (r = strv_push(&gone, low.v[i])) < 0)
				return berr_set(err, ENOMEM, "out of memory");
	}
	/* Merge the two sorted lists so that the output stays in walk order. */
	size_t i = 0, k = 0;
	while (i < names.n || k < gone.n) {
		int take_gone = k < gone.n && (i == names.n || strcmp(gone.v[k], names.v[i]) < 0);
		const char *name = take_gone ? gone.v[k++] : names.v[i++];
		buf_reset(&full);
		if (buf_printf(&full, "%s/%s", path, name) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		if (take_gone) {
			*ret_changed = 1;
			if (emit(d, d->n, LAYERDIFF_DELETED, full.data) < 0)
				return berr_set(err, ENOMEM, "out of memory");
			continue;
		}
		r = diff_node(d, upfd, name, full.data, added, ret_changed, depth, err);
		if (r < 0)
			return r;
	}
	return 0;
}

void layerdiff_changes_free(struct layerdiff_change *c, size_t n)
{
	if (!c)
		return;
	for (size_t i = 0; i < n; i++)
		free(c[i].path);
	free(c);
}

int layerdiff_changes(int upperfd, const int *lowerfds, size_t nlower,
		      struct layerdiff_change **ret, size_t *ret_n, struct berr **err)
{
	struct differ d = {.lowerfds = lowerfds, .nlower = nlower};
	int changed = 0;
	int r = diff_dir(&d, upperfd, "", nlower == 0, 0, &changed, 0, err);
	if (r < 0) {
		layerdiff_changes_free(d.c, d.n);
		return r;
	}
	*ret = d.c;
	*ret_n = d.n;
	return 0;
}
