/* docker cp: path rules, in-root resolution with bind mounts, tar in and out; see cpath.h and
 * docs/internals/COMMIT.md ("cp"). */
#include "cpath.h"

#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "cleanup.h"
#include "fs.h"
#include "imgarchive.h"
#include "layerdiff.h"
#include "strv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "banned.h"

#define COPY_CHUNK (256 * 1024)

/* ---- pure path functions ---- */

int cpath_clean(const char *path, char **ret)
{
	size_t len = strlen(path);
	if (len > CPATH_MAX)
		return -ENAMETOOLONG;
	/* Docker's trailing forms are decided on the path as given: a last component "."
	 * (trailing slashes ignored, as Go's filepath.Base does), or a trailing "/". */
	size_t end = len;
	while (end > 0 && path[end - 1] == '/')
		end--;
	int dot = end > 0 && path[end - 1] == '.' && (end == 1 || path[end - 2] == '/');
	int slash = len > 0 && path[len - 1] == '/';

	char *out = malloc(len + 4);
	if (!out)
		return -ENOMEM;
	size_t o = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - s);
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the '/' before the popped component */
			continue;
		}
		out[o++] = '/';
		memcpy(out + o, s, n);
		o += n;
	}
	if (o == 0)
		out[o++] = '/';
	if (dot) {
		if (out[o - 1] != '/')
			out[o++] = '/';
		out[o++] = '.';
	} else if (slash && o > 1) {
		out[o++] = '/';
	}
	out[o] = '\0';
	*ret = out;
	return 0;
}

int cpath_asserts_dir(const char *clean)
{
	size_t n = strlen(clean);
	return n > 0 &&
	       (clean[n - 1] == '/' || (clean[n - 1] == '.' && (n == 1 || clean[n - 2] == '/')));
}

int cpath_split(const char *clean, char **ret_dir, char **ret_base)
{
	size_t n = strlen(clean);
	char *dir = NULL, *base = NULL;
	if (n >= 2 && clean[n - 1] == '.' && clean[n - 2] == '/') {
		dir = n == 2 ? strdup("/") : strndup(clean, n - 2);
		base = strdup(".");
	} else {
		while (n > 1 && clean[n - 1] == '/')
			n--;
		if (n <= 1) {
			dir = strdup("/");
			base = strdup(".");
		} else {
			const char *slash = clean + n;
			while (slash > clean && slash[-1] != '/')
				slash--;
			size_t dlen = (size_t)(slash - clean);
			dir = dlen <= 1 ? strdup("/") : strndup(clean, dlen - 1);
			base = strndup(slash, (size_t)(clean + n - slash));
		}
	}
	if (!dir || !base) {
		free(dir);
		free(base);
		return -ENOMEM;
	}
	*ret_dir = dir;
	*ret_base = base;
	return 0;
}

/* A relative tar member name cleaned lexically; -EPERM when it climbs above its start
 * ("a/../../x"). Leading "/" are dropped (Docker extracts "/abs" as "abs"). "" for ".". */
static int rel_clean(const char *name, char **ret)
{
	size_t len = strlen(name);
	if (len > CPATH_MAX)
		return -ENAMETOOLONG;
	char *out = malloc(len + 1);
	if (!out)
		return -ENOMEM;
	size_t o = 0;
	const char *p = name;
	while (*p) {
		while (*p == '/')
			p++;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - s);
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (o == 0) {
				free(out);
				return -EPERM;
			}
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		if (o)
			out[o++] = '/';
		memcpy(out + o, s, n);
		o += n;
	}
	out[o] = '\0';
	*ret = out;
	return 0;
}

/* Host paths are made absolute against the cwd first, as the docker client does (its
 * messages show absolute paths); the trailing "/" or "/." stays. */
static char *host_abs(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	_cleanup_free_ char *cwd = getcwd(NULL, 0);
	char *r = NULL;
	if (!cwd || asprintf(&r, "%s/%s", cwd, path) < 0)
		return NULL;
	return r;
}

/* ---- resolution ---- */

struct frame {
	int fd;	     /* O_PATH directory fd */
	size_t plen; /* length of the logical path up to and including this frame */
	int mount;   /* this frame is the root of mount #, or -1 */
};

struct walker {
	const struct cpath_root *root;
	char **dests; /* the mounts' cleaned container paths */
	struct frame *f;
	size_t n, cap;
	struct buf path; /* logical path of the top frame, "" for the root */
};

static void walker_free(struct walker *w)
{
	for (size_t i = 0; i < w->n; i++)
		close(w->f[i].fd);
	free(w->f);
	for (size_t i = 0; w->dests && i < w->root->nmounts; i++)
		free(w->dests[i]);
	free(w->dests);
	buf_free(&w->path);
}

static int push(struct walker *w, int fd, const char *name, int mount)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		struct frame *nf = realloc(w->f, cap * sizeof(*nf));
		if (!nf) {
			close(fd);
			return -ENOMEM;
		}
		w->f = nf;
		w->cap = cap;
	}
	if (name && (buf_putc(&w->path, '/') < 0 || buf_puts(&w->path, name) < 0)) {
		close(fd);
		return -ENOMEM;
	}
	w->f[w->n++] = (struct frame){fd, w->path.len, mount};
	return 0;
}

static void pop(struct walker *w)
{
	if (w->n <= 1)
		return; /* ".." of "/" is "/" */
	close(w->f[--w->n].fd);
	w->path.len = w->f[w->n - 1].plen;
	if (w->path.data)
		w->path.data[w->path.len] = '\0';
}

static void pop_all(struct walker *w)
{
	while (w->n > 1)
		pop(w);
}

static int walker_init(struct walker *w, const struct cpath_root *root)
{
	*w = (struct walker){.root = root, .path = BUF_INIT};
	if (root->nmounts) {
		w->dests = calloc(root->nmounts, sizeof(char *));
		if (!w->dests)
			return -ENOMEM;
		for (size_t i = 0; i < root->nmounts; i++) {
			char *c;
			int r = cpath_clean(root->mounts[i].dest ? root->mounts[i].dest : "/", &c);
			if (r < 0)
				return r;
			size_t n = strlen(c);
			/* "/data/" and "/data/." name the mount point "/data". */
			if (n > 2 && c[n - 1] == '.' && c[n - 2] == '/')
				c[n - 2] = '\0';
			else if (n > 1 && c[n - 1] == '/')
				c[n - 1] = '\0';
			w->dests[i] = c;
		}
	}
	int fd = fcntl(root->rootfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	if (buf_puts(&w->path, "") < 0) {
		close(fd);
		return -ENOMEM;
	}
	return push(w, fd, NULL, -1);
}

static int match_mount(struct walker *w, const char *name)
{
	for (size_t i = 0; i < w->root->nmounts; i++) {
		const char *d = w->dests[i];
		size_t plen = w->path.len;
		/* d == path + "/" + name, without building it */
		if (strncmp(d, w->path.data, plen) == 0 && d[plen] == '/' &&
		    streq(d + plen + 1, name))
			return (int)i;
	}
	return -1;
}

/* 1 when the rest of the path has a component other than "." (or ".."), else 0. */
static int has_more(const char *rest)
{
	for (const char *p = rest; *p;) {
		while (*p == '/')
			p++;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		if (p > s && !(p - s == 1 && s[0] == '.'))
			return 1;
	}
	return 0;
}

static int region(struct walker *w, int *ret_mount)
{
	for (size_t i = w->n; i-- > 0;)
		if (w->f[i].mount >= 0) {
			*ret_mount = w->f[i].mount;
			return w->root->mounts[w->f[i].mount].readonly;
		}
	*ret_mount = -1;
	return w->root->readonly;
}

#define WALK_MKDIR 0x100 /* create missing directories before the last component */

struct walk_owner {
	uid_t uid;
	gid_t gid;
};

static int walk(struct walker *w, const char *path, int flags, const struct walk_owner *own,
		struct cpath_loc *ret)
{
	_cleanup_free_ char *todo = strdup(path);
	size_t pos = 0;
	int links = 0, r;
	if (!todo)
		return -ENOMEM;
	*ret = (struct cpath_loc){.parentfd = -1, .fd = -1, .mount = -1};
	for (;;) {
		while (todo[pos] == '/')
			pos++;
		if (!todo[pos])
			break;
		const char *comp = todo + pos;
		size_t clen = strcspn(comp, "/");
		pos += clen;
		char name[NAME_MAX + 1];
		if (clen > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, comp, clen);
		name[clen] = '\0';
		if (streq(name, "."))
			continue;
		if (streq(name, "..")) {
			pop(w);
			continue;
		}
		int last = !has_more(todo + pos);
		int m = match_mount(w, name);
		if (m >= 0) {
			int fd = open(w->root->mounts[m].source, O_PATH | O_CLOEXEC);
			struct stat ms;
			if (fd < 0 || fstat(fd, &ms) < 0) {
				r = -errno;
				if (fd >= 0)
					close(fd);
				return r;
			}
			if (S_ISDIR(ms.st_mode)) {
				if ((r = push(w, fd, name, m)) < 0)
					return r;
				continue;
			}
			/* A file bind mount (/etc/hosts): the node, which can not be replaced. */
			if (!last) {
				close(fd);
				return -ENOTDIR;
			}
			ret->fd = fd;
			ret->st = ms;
			ret->base = strdup(".");
			ret->readonly = w->root->mounts[m].readonly;
			ret->mount = m;
			if (!ret->base || asprintf(&ret->path, "%s/%s", w->path.data, name) < 0) {
				ret->path = NULL;
				return -ENOMEM;
			}
			return 0;
		}
		int fd = fs_open_in_root(w->f[w->n - 1].fd, name, O_PATH | O_NOFOLLOW, 0);
		if (fd == -ENOENT && !last && (flags & WALK_MKDIR)) {
			int top = w->f[w->n - 1].fd;
			if (mkdirat(top, name, 0755) < 0 && errno != EEXIST)
				return -errno;
			/* fchownat without following: the name may be swapped meanwhile. */
			if (own && fchownat(top, name, own->uid, own->gid, AT_SYMLINK_NOFOLLOW) < 0)
				return -errno;
			fd = fs_open_in_root(top, name, O_PATH | O_NOFOLLOW, 0);
		}
		if (fd == -ENOENT && last) {
			ret->base = strdup(name);
			ret->parentfd = fcntl(w->f[w->n - 1].fd, F_DUPFD_CLOEXEC, 3);
			if (!ret->base || ret->parentfd < 0)
				return -ENOMEM;
			goto done;
		}
		if (fd < 0)
			return fd;
		struct stat st;
		if (fstat(fd, &st) < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		if (S_ISLNK(st.st_mode) && (!last || (flags & CPATH_FOLLOW))) {
			char target[PATH_MAX];
			ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
			close(fd);
			if (n < 0)
				return -errno;
			if (n == 0)
				return -ENOENT;
			if (++links > CPATH_MAX_LINKS)
				return -ELOOP;
			target[n] = '\0';
			/* The target replaces the link in the rest of the path. */
			size_t rest = strlen(todo + pos);
			if ((size_t)n + 1 + rest > CPATH_MAX)
				return -ENAMETOOLONG;
			char *nt = malloc((size_t)n + 2 + rest);
			if (!nt)
				return -ENOMEM;
			memcpy(nt, target, (size_t)n);
			nt[n] = '/';
			memcpy(nt + n + 1, todo + pos, rest + 1);
			free(todo);
			todo = nt;
			pos = 0;
			if (target[0] == '/')
				pop_all(w);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if ((r = push(w, fd, name, -1)) < 0)
				return r;
			continue;
		}
		if (!last) {
			close(fd);
			return -ENOTDIR;
		}
		ret->fd = fd;
		ret->st = st;
		ret->base = strdup(name);
		ret->parentfd = fcntl(w->f[w->n - 1].fd, F_DUPFD_CLOEXEC, 3);
		if (!ret->base || ret->parentfd < 0)
			return -ENOMEM;
		goto done;
	}
	/* The node is the top directory. */
	{
		struct frame *top = &w->f[w->n - 1];
		ret->fd = fcntl(top->fd, F_DUPFD_CLOEXEC, 3);
		if (ret->fd < 0 || fstat(ret->fd, &ret->st) < 0)
			return -errno;
		if (w->n == 1 || top->mount >= 0) {
			ret->base = strdup(".");
		} else {
			const char *slash = strrchr(w->path.data, '/');
			ret->base = strdup(slash + 1);
			ret->parentfd = fcntl(w->f[w->n - 2].fd, F_DUPFD_CLOEXEC, 3);
			if (ret->parentfd < 0)
				return -errno;
		}
		if (!ret->base)
			return -ENOMEM;
		ret->readonly = region(w, &ret->mount);
		ret->path = strdup(w->n == 1 ? "/" : w->path.data);
		return ret->path ? 0 : -ENOMEM;
	}
done:
	ret->readonly = region(w, &ret->mount);
	if (asprintf(&ret->path, "%s/%s", w->path.data, ret->base) < 0) {
		ret->path = NULL;
		return -ENOMEM;
	}
	return 0;
}

void cpath_loc_clear(struct cpath_loc *l)
{
	if (l->parentfd >= 0)
		close(l->parentfd);
	if (l->fd >= 0)
		close(l->fd);
	free(l->base);
	free(l->path);
	*l = (struct cpath_loc){.parentfd = -1, .fd = -1, .mount = -1};
}

static int resolve(const struct cpath_root *root, const char *path, int flags,
		   const struct walk_owner *own, struct cpath_loc *ret)
{
	struct walker w;
	int r = walker_init(&w, root);
	if (r == 0)
		r = walk(&w, path, flags, own, ret);
	walker_free(&w);
	if (r < 0)
		cpath_loc_clear(ret);
	return r;
}

int cpath_resolve(const struct cpath_root *root, const char *path, int flags, struct cpath_loc *ret,
		  struct berr **err)
{
	_cleanup_free_ char *clean = NULL;
	int r = cpath_clean(path, &clean);
	if (r < 0)
		return berr_errno(err, r, "path '%.64s'", path);
	r = resolve(root, clean, flags & CPATH_FOLLOW, NULL, ret);
	if (r < 0)
		return berr_errno(err, r, "resolve '%s'", clean);
	return 0;
}

static const char *cname(const struct cpath_root *root)
{
	return root->name ? root->name : "";
}

/* ---- writing a tar of one node ---- */

struct tar_src {
	int dirfd; /* the node: dirfd/name (name "." for dirfd itself) */
	const char *name;
	const char *tarname; /* the node's entry name; its children are tarname/... */
	int chown;
	uid_t uid;
	gid_t gid;
	/* Container copies: where the node is, for the bind mounts below it. */
	const struct cpath_root *root;
	const char *cpath;
	char **dests;
	int *mount_fds;	    /* per mount, -1 until opened */
	char **mount_names; /* per mount, NULL until opened */
};

/* The host directory fd and name of a mount, opened on first use: "." in the mount's own
 * directory, or the file's name in its directory for a file mount. */
static int mount_node(struct tar_src *s, size_t i, const char **ret_name)
{
	if (s->mount_fds[i] < 0) {
		_cleanup_free_ char *abs = host_abs(s->root->mounts[i].source), *clean = NULL;
		_cleanup_free_ char *dir = NULL, *base = NULL;
		struct stat st;
		if (!abs || cpath_clean(abs, &clean) < 0 || stat(clean, &st) < 0)
			return -1;
		free(s->mount_names[i]);
		s->mount_names[i] = NULL;
		if (S_ISDIR(st.st_mode)) {
			s->mount_fds[i] = open(clean, O_PATH | O_DIRECTORY | O_CLOEXEC);
			s->mount_names[i] = strdup(".");
		} else if (cpath_split(clean, &dir, &base) == 0) {
			s->mount_fds[i] = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
			s->mount_names[i] = TAKE_PTR(base);
		}
		if (s->mount_fds[i] < 0 || !s->mount_names[i])
			return -1;
	}
	*ret_name = s->mount_names[i];
	return s->mount_fds[i];
}

static int mount_redirect(void *opaque, const char *tarname, const char **ret_name)
{
	struct tar_src *s = opaque;
	size_t tl = strlen(s->tarname);
	if (!s->root || strncmp(tarname, s->tarname, tl) != 0)
		return -1;
	_cleanup_free_ char *cp = NULL;
	if (asprintf(&cp, "%s%s", streq(s->cpath, "/") ? "" : s->cpath, tarname + tl) < 0)
		return -1;
	for (size_t i = 0; i < s->root->nmounts; i++)
		if (streq(cp, s->dests[i]))
			return mount_node(s, i, ret_name);
	return -1;
}

static int write_tar(struct tar_src *s, struct archive *a, struct berr **err)
{
	struct layerdiff_tar *t;
	if (layerdiff_tar_new(a, s->chown ? LAYERDIFF_CHOWN : 0, &t) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	layerdiff_tar_set_owner(t, s->uid, s->gid);
	if (s->root && s->root->nmounts)
		layerdiff_tar_set_redirect(t, mount_redirect, s);
	int r = layerdiff_tar_add(t, s->dirfd, s->name, s->tarname, 1, err);
	layerdiff_tar_free(t);
	if (r < 0) {
		/* Closed anyway: libarchive 3.6 frees its buffers only in close, which
		 * archive_write_free skips after a failed write. */
		archive_write_close(a);
		return r;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		int code = archive_errno(a);
		return berr_set(err, code > 0 ? code : EIO, "tar: %s", archive_error_string(a));
	}
	return 0;
}

static la_ssize_t sock_write(struct archive *a, void *opaque, const void *buf, size_t len)
{
	int r = fs_send_all(*(int *)opaque, buf, len);
	if (r < 0) {
		archive_set_error(a, -r, "write: %s", strerror(-r));
		return -1;
	}
	return (la_ssize_t)len;
}

static int produce(void *opaque, int out_fd, struct berr **err)
{
	struct tar_src *s = opaque;
	_cleanup_archive_write_ struct archive *a = archive_write_new();
	int fd = out_fd;
	if (!a)
		return berr_set(err, ENOMEM, "out of memory");
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open(a, &fd, NULL, sock_write, NULL) != ARCHIVE_OK)
		return berr_set(err, EIO, "tar: %s", archive_error_string(a));
	return write_tar(s, a, err);
}

/* ---- extraction ---- */

struct extract {
	const struct cpath_root *root;
	const char *dest; /* cleaned container path of the directory extracted into */
	int keep_owner;
	struct walk_owner own; /* owner without keep_owner, and of created parents */
	struct strv dirs;      /* directories whose times are set at the end */
	struct timespec *dir_times;
	char *chunk;
};

static int is_overlay_xattr(const char *key)
{
	return strncmp(key, "trusted.overlay.", 16) == 0 || strncmp(key, "user.overlay.", 13) == 0;
}

static const char *ro_message(const struct cpath_root *root, int mount)
{
	(void)root;
	return mount >= 0 ? "mounted volume is marked read-only"
			  : "container rootfs is marked read-only";
}

/* Owner, mode, xattrs and times of a node just made, through an fd of it (the name may be
 * swapped meanwhile; the fd is the node we made). fd is O_RDONLY for files and dirs, else
 * O_PATH (then the /proc magic link stands in for the fd). */
static int apply_meta(struct extract *x, int fd, int opath, struct archive_entry *e,
		      const char *path, int set_times, struct berr **err)
{
	uid_t uid = x->keep_owner ? (uid_t)archive_entry_uid(e) : x->own.uid;
	gid_t gid = x->keep_owner ? (gid_t)archive_entry_gid(e) : x->own.gid;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int r = opath ? fchownat(fd, "", uid, gid, AT_EMPTY_PATH) : fchown(fd, uid, gid);
	if (r < 0)
		return berr_errno(err, errno, "chown '%s'", path);
	/* After chown, which clears set-id bits. */
	mode_t mode = archive_entry_perm(e);
	r = opath ? chmod(proc, mode) : fchmod(fd, mode);
	if (r < 0)
		return berr_errno(err, errno, "chmod '%s'", path);
	const char *key;
	const void *val;
	size_t sz;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &key, &val, &sz) == ARCHIVE_OK) {
		if (!key || is_overlay_xattr(key))
			continue;
		r = opath ? setxattr(proc, key, val, sz, 0) : fsetxattr(fd, key, val, sz, 0);
		/* As Docker: file systems without (these) xattrs are not an error. */
		if (r < 0 && errno != ENOTSUP && errno != EPERM)
			return berr_errno(err, errno, "set xattr %s on '%s'", key, path);
	}
	if (set_times) {
		struct timespec ts[2];
		ts[1].tv_sec = archive_entry_mtime(e);
		ts[1].tv_nsec = archive_entry_mtime_nsec(e);
		ts[0] = ts[1];
		if (archive_entry_atime_is_set(e)) {
			ts[0].tv_sec = archive_entry_atime(e);
			ts[0].tv_nsec = archive_entry_atime_nsec(e);
		}
		r = opath ? utimensat(AT_FDCWD, proc, ts, 0) : futimens(fd, ts);
		if (r < 0)
			return berr_errno(err, errno, "set times of '%s'", path);
	}
	return 0;
}

static int write_data(struct extract *x, struct archive *a, int fd, const char *path,
		      struct berr **err)
{
	for (;;) {
		la_ssize_t n = archive_read_data(a, x->chunk, COPY_CHUNK);
		if (n < 0)
			return berr_set(err, EIO, "read tar: %s", archive_error_string(a));
		if (n == 0)
			return 0;
		for (la_ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, x->chunk + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				return berr_errno(err, errno, "write '%s'", path);
			}
			off += w;
		}
	}
}

static int join_path(const char *dir, const char *rel, char **ret)
{
	if (!rel[0])
		*ret = strdup(dir);
	else if (asprintf(ret, "%s/%s", streq(dir, "/") ? "" : dir, rel) < 0)
		*ret = NULL;
	return *ret ? 0 : -ENOMEM;
}

static int extract_entry(struct extract *x, struct archive *a, struct archive_entry *e,
			 struct berr **err)
{
	const char *name = archive_entry_pathname(e);
	_cleanup_free_ char *rel = NULL, *full = NULL;
	if (!name)
		return berr_set(err, EINVAL, "tar entry without a name");
	int r = rel_clean(name, &rel);
	if (r == -EPERM)
		return berr_set(err, EPERM, "\"%s\" is outside of \"%s\"", name, x->dest);
	if (r < 0 || (r = join_path(x->dest, rel, &full)) < 0)
		return berr_errno(err, r, "tar entry '%.64s'", name);
	mode_t type = archive_entry_filetype(e);
	const char *hardlink = archive_entry_hardlink(e);
	int is_dir = type == AE_IFDIR && !hardlink;

	struct cpath_loc loc;
	r = resolve(x->root, full, WALK_MKDIR, &x->own, &loc);
	if (r < 0)
		return berr_errno(err, r, "extract '%s'", full);
	if (loc.readonly) {
		r = berr_set(err, EROFS, "%s", ro_message(x->root, loc.mount));
		goto out;
	}
	if (loc.fd >= 0) {
		int exists_dir = S_ISDIR(loc.st.st_mode);
		if (exists_dir && !is_dir) {
			r = berr_set(err, EEXIST,
				     "cannot overwrite directory \"%s\" with non-directory \"%s\"",
				     loc.path, x->dest);
			goto out;
		}
		if (!exists_dir && is_dir) {
			r = berr_set(err, EEXIST,
				     "cannot overwrite non-directory \"%s\" with directory \"%s\"",
				     loc.path, x->dest);
			goto out;
		}
		/* "." of an existing directory: Docker leaves it as it is. */
		if (exists_dir && !rel[0]) {
			r = 0;
			goto out;
		}
		if (!exists_dir && loc.parentfd < 0) {
			r = berr_set(err, EBUSY, "'%s' is a mount point and can not be replaced",
				     loc.path);
			goto out;
		}
		if (!exists_dir) {
			if (unlinkat(loc.parentfd, loc.base, 0) < 0 && errno != ENOENT) {
				r = berr_errno(err, errno, "replace '%s'", loc.path);
				goto out;
			}
			close(loc.fd);
			loc.fd = -1;
		}
	}
	if (loc.fd < 0 && loc.parentfd < 0) {
		r = berr_set(err, EBUSY, "'%s' can not be replaced", loc.path);
		goto out;
	}

	if (hardlink) {
		_cleanup_free_ char *lrel = NULL, *lfull = NULL;
		r = rel_clean(hardlink, &lrel);
		if (r == -EPERM || (r == 0 && !lrel[0])) {
			r = berr_set(err, EPERM, "invalid hardlink \"%s\" -> \"%s\"", loc.path,
				     hardlink);
			goto out;
		}
		if (r < 0 || (r = join_path(x->dest, lrel, &lfull)) < 0) {
			r = berr_errno(err, r, "hard link '%s'", loc.path);
			goto out;
		}
		struct cpath_loc t;
		r = resolve(x->root, lfull, 0, NULL, &t);
		if (r == 0 && (t.fd < 0 || S_ISDIR(t.st.st_mode) || t.parentfd < 0))
			r = -ENOENT;
		if (r == 0 && linkat(t.parentfd, t.base, loc.parentfd, loc.base, 0) < 0)
			r = -errno;
		cpath_loc_clear(&t);
		if (r < 0)
			r = berr_errno(err, r, "hard link '%s' to '%s'", loc.path, lfull);
		goto out;
	}
	switch (type) {
	case AE_IFDIR: {
		_cleanup_close_ int dfd = -1;
		if (loc.fd >= 0) {
			dfd = openat(loc.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		} else {
			if (mkdirat(loc.parentfd, loc.base, 0700) < 0) {
				r = berr_errno(err, errno, "mkdir '%s'", loc.path);
				goto out;
			}
			dfd = openat(loc.parentfd, loc.base,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (dfd < 0) {
			r = berr_errno(err, errno, "open '%s'", loc.path);
			goto out;
		}
		r = apply_meta(x, dfd, 0, e, loc.path, 0, err);
		if (r < 0)
			goto out;
		/* Times last, when nothing is added to the directory any more. */
		struct timespec *nt = realloc(x->dir_times, (x->dirs.n + 1) * sizeof(*nt));
		if (!nt || strv_push(&x->dirs, loc.path) < 0) {
			if (nt)
				x->dir_times = nt;
			r = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
		x->dir_times = nt;
		nt[x->dirs.n - 1] =
		    (struct timespec){archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
		break;
	}
	case AE_IFREG: {
		_cleanup_close_ int fd =
		    openat(loc.parentfd, loc.base,
			   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			r = berr_errno(err, errno, "create '%s'", loc.path);
			goto out;
		}
		r = write_data(x, a, fd, loc.path, err);
		if (r == 0)
			r = apply_meta(x, fd, 0, e, loc.path, 1, err);
		break;
	}
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);
		if (!target || !target[0]) {
			r = berr_set(err, EINVAL, "symlink '%s' without a target", loc.path);
			goto out;
		}
		/* Docker's rule: a relative target may not climb out of the extraction dir. */
		if (target[0] != '/') {
			_cleanup_free_ char *joined = NULL, *lc = NULL;
			const char *slash = strrchr(rel, '/');
			if (asprintf(&joined, "%.*s%s%s", slash ? (int)(slash - rel) : 0, rel,
				     slash ? "/" : "", target) < 0) {
				r = berr_set(err, ENOMEM, "out of memory");
				goto out;
			}
			if (rel_clean(joined, &lc) == -EPERM) {
				r = berr_set(err, EPERM, "invalid symlink \"%s\" -> \"%s\"",
					     loc.path, target);
				goto out;
			}
		}
		if (symlinkat(target, loc.parentfd, loc.base) < 0) {
			r = berr_errno(err, errno, "symlink '%s'", loc.path);
			goto out;
		}
		goto opath_meta;
	}
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		if (mknodat(loc.parentfd, loc.base, type | 0600, archive_entry_rdev(e)) < 0) {
			r = berr_errno(err, errno, "mknod '%s'", loc.path);
			goto out;
		}
	opath_meta : {
		_cleanup_close_ int nfd =
		    openat(loc.parentfd, loc.base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (nfd < 0 || fstat(nfd, &st) < 0 || (st.st_mode & S_IFMT) != type) {
			r = berr_set(err, EAGAIN, "'%s' changed while it was made", loc.path);
			goto out;
		}
		if (type == AE_IFLNK) {
			/* Symlinks: no mode, times and owner without following. */
			uid_t uid = x->keep_owner ? (uid_t)archive_entry_uid(e) : x->own.uid;
			gid_t gid = x->keep_owner ? (gid_t)archive_entry_gid(e) : x->own.gid;
			struct timespec ts[2] = {
			    {archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
			    {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
			if (fchownat(nfd, "", uid, gid, AT_EMPTY_PATH) < 0 ||
			    utimensat(loc.parentfd, loc.base, ts, AT_SYMLINK_NOFOLLOW) < 0)
				r = berr_errno(err, errno, "symlink '%s'", loc.path);
		} else {
			r = apply_meta(x, nfd, 1, e, loc.path, 1, err);
		}
		break;
	}
	default:
		r = 0; /* sockets and unknown types: nothing, as Docker */
		break;
	}
out:
	cpath_loc_clear(&loc);
	return r < 0 ? r : 0;
}

static int dir_times(struct extract *x, struct berr **err)
{
	/* Deepest first does not matter: setting a directory's times changes no other's. */
	for (size_t i = 0; i < x->dirs.n; i++) {
		struct cpath_loc loc;
		if (resolve(x->root, x->dirs.v[i], 0, NULL, &loc) < 0)
			continue;
		if (loc.fd >= 0 && S_ISDIR(loc.st.st_mode)) {
			int dfd = openat(loc.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			struct timespec ts[2] = {x->dir_times[i], x->dir_times[i]};
			int r = dfd >= 0 ? futimens(dfd, ts) : -1;
			if (dfd >= 0)
				close(dfd);
			if (r < 0) {
				cpath_loc_clear(&loc);
				return berr_errno(err, errno, "set times of '%s'", x->dirs.v[i]);
			}
		}
		cpath_loc_clear(&loc);
	}
	return 0;
}

/* Extract the tar on fd into the directory dest (cleaned container path) of root. */
static int extract_tar(const struct cpath_root *root, const char *dest, int fd, int keep_owner,
		       uid_t uid, gid_t gid, struct berr **err)
{
	struct extract x = {.root = root,
			    .dest = dest,
			    .keep_owner = keep_owner,
			    .own = {uid, gid},
			    .dirs = STRV_INIT};
	_cleanup_archive_read_ struct archive *a = archive_read_new();
	x.chunk = malloc(COPY_CHUNK);
	int r = 0;
	if (!a || !x.chunk) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_zstd(a);
	if (archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK) {
		r = berr_set(err, EINVAL, "read tar: %s", archive_error_string(a));
		goto out;
	}
	for (;;) {
		struct archive_entry *e;
		int ar = archive_read_next_header(a, &e);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
			r = berr_set(err, EINVAL, "read tar: %s", archive_error_string(a));
			goto out;
		}
		if ((r = extract_entry(&x, a, e, err)) < 0)
			goto out;
	}
	r = dir_times(&x, err);
out:
	strv_free(&x.dirs);
	free(x.dir_times);
	free(x.chunk);
	return r;
}

/* ---- the copies ---- */

/* Docker's PrepareArchiveCopy: where to extract (the destination or its parent) and what to
 * call the copied node there. */
struct plan {
	char *dst_dir; /* directory to extract into */
	char *tarname; /* name of the source node in the tar */
};

static void plan_clear(struct plan *p)
{
	free(p->dst_dir);
	free(p->tarname);
}

static int plan_copy(int src_is_dir, const char *src_base, int dst_exists, int dst_is_dir,
		     const char *dst_path, int dst_asserts_dir, struct plan *p, struct berr **err)
{
	_cleanup_free_ char *ddir = NULL, *dbase = NULL, *clean = NULL;
	int r = cpath_clean(dst_path, &clean);
	if (r == 0)
		r = cpath_split(clean, &ddir, &dbase);
	if (r < 0)
		return berr_errno(err, r, "destination");
	if (dst_exists && dst_is_dir) {
		p->dst_dir = strdup(dst_path);
		p->tarname = strdup(src_base);
	} else if (dst_exists && src_is_dir) {
		return berr_set(err, EISDIR, "cannot copy directory");
	} else if (!dst_exists && !src_is_dir && dst_asserts_dir) {
		return berr_set(err, ENOENT, "no such directory");
	} else {
		p->dst_dir = TAKE_PTR(ddir);
		p->tarname = TAKE_PTR(dbase);
	}
	if (!p->dst_dir || !p->tarname)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

/* Run a producer into extract_tar; errors of the producer win unless it only saw the
 * extraction stop. */
static int pipe_copy(struct tar_src *src, const struct cpath_root *root, const char *dest,
		     int keep_owner, uid_t uid, gid_t gid, struct berr **err)
{
	int fd;
	struct imgarchive_producer *prod;
	int r = imgarchive_producer_start(produce, src, &fd, &prod, err);
	if (r < 0)
		return r;
	struct berr *xerr = NULL, *perr = NULL;
	int rx = extract_tar(root, dest, fd, keep_owner, uid, gid, &xerr);
	if (rx == 0) {
		/* The tar's padding after its end marker: the producer must see it read. */
		char buf[4096];
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	}
	close(fd);
	int rp = imgarchive_producer_finish(prod, &perr);
	if (rp < 0 && rp != -EPIPE) {
		r = rp;
		if (err && !*err)
			*err = TAKE_PTR(perr);
	} else if (rx < 0) {
		r = rx;
		if (err && !*err)
			*err = TAKE_PTR(xerr);
	} else if (rp < 0) {
		r = rp;
		if (err && !*err)
			*err = TAKE_PTR(perr);
	}
	berr_free(xerr);
	berr_free(perr);
	return r;
}

/* A host source (Docker's CopyInfoSourcePath): the directory part is resolved by the
 * kernel; the last component only with -L or a trailing "/" or "/.". */
struct host_node {
	int dirfd;
	char *name; /* in dirfd; "." for dirfd itself */
	struct stat st;
	char *base; /* the base name of the path as given ("." for "/.") */
};

static void host_node_clear(struct host_node *h)
{
	if (h->dirfd >= 0)
		close(h->dirfd);
	free(h->name);
	free(h->base);
}

static int host_source(const char *path, int follow, struct host_node *h, struct berr **err)
{
	_cleanup_free_ char *abs = host_abs(path), *clean = NULL, *dir = NULL, *real = NULL;
	_cleanup_free_ char *rdir = NULL, *rbase = NULL;
	*h = (struct host_node){.dirfd = -1};
	if (!abs)
		return berr_errno(err, errno ? errno : ENOMEM, "'%s'", path);
	int r = cpath_clean(abs, &clean);
	if (r < 0 || (r = cpath_split(clean, &dir, &h->base)) < 0)
		return berr_errno(err, r, "'%s'", path);
	int asserts = cpath_asserts_dir(clean);
	_cleanup_free_ char *shown = NULL;
	if (cpath_split(clean, &rdir, &rbase) == 0 &&
	    asprintf(&shown, "%s%s%s", rdir, streq(rdir, "/") ? "" : "/", rbase) < 0)
		shown = NULL;
	free(rdir);
	free(rbase);
	rdir = rbase = NULL;
	if (follow || asserts) {
		real = realpath(clean, NULL);
		if (!real && errno == ENOTDIR && asserts)
			return berr_set(err, ENOTDIR, "not a directory");
		if (!real)
			return berr_errno(err, errno, "lstat %s", shown ? shown : clean);
		if ((r = cpath_split(real, &rdir, &rbase)) < 0)
			return berr_errno(err, r, "'%s'", path);
		h->dirfd = open(rdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		h->name = strdup(streq(real, "/") ? "." : rbase);
	} else {
		h->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		h->name = strdup(h->base);
	}
	if (!h->name)
		return berr_set(err, ENOMEM, "out of memory");
	if (h->dirfd < 0 || fstatat(h->dirfd, h->name, &h->st, AT_SYMLINK_NOFOLLOW) < 0)
		return berr_errno(err, errno, "lstat %s", shown ? shown : clean);
	if (asserts && !S_ISDIR(h->st.st_mode))
		return berr_set(err, ENOTDIR, "not a directory");
	return 0;
}

/* dst (clean) is a symlink whose target's directory is missing, so that resolving it failed:
 * its target as Docker's FollowSymlinkInScope gives it, lexically (relative to the link's
 * directory, cleaned), in *ret. The copy then fails because that directory is missing, as
 * docker cp does, rather than replacing the link. 0, or negative when dst is no symlink. */
static int dangling_lexical(const struct cpath_root *root, const char *dst, char **ret)
{
	struct cpath_loc l;
	int r = resolve(root, dst, 0, NULL, &l);
	if (r < 0)
		return r;
	char target[PATH_MAX];
	ssize_t n = -1;
	if (l.fd >= 0 && S_ISLNK(l.st.st_mode))
		n = readlinkat(l.fd, "", target, sizeof(target) - 1);
	_cleanup_free_ char *joined = NULL;
	if (n > 0) {
		target[n] = '\0';
		const char *slash = l.path ? strrchr(l.path, '/') : NULL;
		int dlen = target[0] == '/' || !slash ? 0 : (int)(slash - l.path);
		if (asprintf(&joined, "%.*s/%s", dlen, l.path, target) < 0)
			joined = NULL;
	}
	cpath_loc_clear(&l);
	if (!joined)
		return n > 0 ? -ENOMEM : -EINVAL;
	return cpath_clean(joined, ret);
}

int cpath_copy_in(const struct cpath_root *root, const char *host_src, int in_fd, const char *dst,
		  const struct cpath_copy_opts *o, struct berr **err)
{
	static const struct cpath_copy_opts none = {0};
	_cleanup_free_ char *cdst = NULL, *lex = NULL;
	struct cpath_loc dl = {.parentfd = -1, .fd = -1};
	struct plan p = {0};
	struct host_node h = {.dirfd = -1};
	int r;
	if (!o)
		o = &none;
	if ((r = cpath_clean(dst, &cdst)) < 0)
		return berr_errno(err, r, "destination '%.64s'", dst);
	/* Docker stats the destination following symlinks, and takes a failed stat for "does
	 * not exist": the extraction into the parent then says what is missing. */
	int dst_exists = 0, dst_is_dir = 0;
	const char *dst_path = cdst;
	if (resolve(root, cdst, CPATH_FOLLOW, NULL, &dl) == 0 && dl.fd >= 0 &&
	    (!cpath_asserts_dir(cdst) || S_ISDIR(dl.st.st_mode))) {
		dst_exists = 1;
		dst_is_dir = S_ISDIR(dl.st.st_mode);
		dst_path = dl.path;
	} else if (dl.path && !cpath_asserts_dir(cdst)) {
		dst_path = dl.path; /* a dangling symlink: its target is created */
	} else if (!cpath_asserts_dir(cdst) && dangling_lexical(root, cdst, &lex) == 0) {
		dst_path = lex;
	}

	if (streq(host_src, "-")) {
		if (!dst_is_dir) {
			r = berr_set(err, ENOTDIR, "destination \"%s:%s\" must be a directory",
				     cname(root), dst);
			goto out;
		}
		p.dst_dir = strdup(dst_path);
		if (!p.dst_dir) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
	} else {
		if ((r = host_source(host_src, o->follow, &h, err)) < 0)
			goto out;
		if ((r = plan_copy(S_ISDIR(h.st.st_mode), h.base, dst_exists, dst_is_dir, dst_path,
				   cpath_asserts_dir(cdst), &p, err)) < 0)
			goto out;
	}

	/* The extraction point must be an existing directory, writable. */
	struct cpath_loc xl;
	r = resolve(root, p.dst_dir, CPATH_FOLLOW, NULL, &xl);
	if (r < 0 || xl.fd < 0) {
		if (r == 0)
			cpath_loc_clear(&xl);
		r = berr_set(err, ENOENT, "Could not find the file %s in container %s", p.dst_dir,
			     cname(root));
		goto out;
	}
	int is_dir = S_ISDIR(xl.st.st_mode), ro = xl.readonly, mount = xl.mount;
	char *xdir = TAKE_PTR(xl.path);
	cpath_loc_clear(&xl);
	free(p.dst_dir);
	p.dst_dir = xdir;
	if (!is_dir) {
		r = berr_set(err, ENOTDIR, "extraction point is not a directory");
		goto out;
	}
	if (ro) {
		r = berr_set(err, EROFS, "%s", ro_message(root, mount));
		goto out;
	}

	if (streq(host_src, "-")) {
		r = extract_tar(root, p.dst_dir, in_fd, o->archive, 0, 0, err);
	} else {
		struct tar_src src = {.dirfd = h.dirfd, .name = h.name, .tarname = p.tarname};
		r = pipe_copy(&src, root, p.dst_dir, o->archive, 0, 0, err);
	}
out:
	cpath_loc_clear(&dl);
	plan_clear(&p);
	host_node_clear(&h);
	return r;
}

/* Docker's CopyInfoDestinationPath on the host: symlinks at the end followed (at most 10),
 * the parent must exist. */
static int host_dest(const char *path, int *ret_exists, int *ret_is_dir, char **ret_path,
		     struct berr **err)
{
	_cleanup_free_ char *cur = strdup(path);
	struct stat st;
	if (!cur)
		return berr_set(err, ENOMEM, "out of memory");
	int r = lstat(cur, &st);
	for (int n = 0; r == 0 && S_ISLNK(st.st_mode); n++) {
		if (n > 10)
			return berr_set(err, ELOOP, "too many symlinks in %s", path);
		char target[PATH_MAX];
		ssize_t len = readlink(cur, target, sizeof(target) - 1);
		if (len < 0)
			return berr_errno(err, errno, "readlink %s", cur);
		target[len] = '\0';
		char *next = NULL;
		if (target[0] == '/') {
			next = strdup(target);
		} else {
			const char *slash = strrchr(cur, '/');
			if (asprintf(&next, "%.*s%s", slash ? (int)(slash - cur + 1) : 0, cur,
				     target) < 0)
				next = NULL;
		}
		if (!next)
			return berr_set(err, ENOMEM, "out of memory");
		free(cur);
		cur = next;
		r = lstat(cur, &st);
	}
	if (r < 0) {
		if (errno != ENOENT)
			return berr_errno(err, errno, "lstat %s", cur);
		/* Missing: its parent must be a directory. */
		_cleanup_free_ char *parent = strdup(cur);
		if (!parent)
			return berr_set(err, ENOMEM, "out of memory");
		size_t n = strlen(parent);
		while (n > 1 && parent[n - 1] == '/')
			parent[--n] = '\0';
		char *slash = strrchr(parent, '/');
		if (slash)
			*(slash == parent ? slash + 1 : slash) = '\0';
		struct stat ps;
		if (stat(slash ? parent : ".", &ps) < 0)
			return berr_errno(err, errno, "stat %s", slash ? parent : ".");
		if (!S_ISDIR(ps.st_mode))
			return berr_set(err, ENOTDIR, "not a directory");
		*ret_exists = 0;
		*ret_is_dir = 0;
	} else {
		*ret_exists = 1;
		*ret_is_dir = S_ISDIR(st.st_mode);
	}
	*ret_path = TAKE_PTR(cur);
	return 0;
}

/* The host half of a copy out: Docker's ValidateOutputPath, CopyInfoDestinationPath and
 * PrepareArchiveCopy, then the tar of ts extracted there. */
static int out_to_host(struct tar_src *ts, int src_is_dir, const char *sbase, const char *host_dst,
		       int archive, struct berr **err)
{
	_cleanup_free_ char *habs = host_abs(host_dst), *hclean = NULL, *hdir = NULL;
	_cleanup_free_ char *hbase = NULL, *hpath = NULL;
	struct plan p = {0};
	struct stat st;
	int dst_exists, dst_is_dir;
	if (!habs)
		return berr_errno(err, errno ? errno : ENOMEM, "'%s'", host_dst);
	int r = cpath_clean(habs, &hclean);
	if (r < 0 || (r = cpath_split(hclean, &hdir, &hbase)) < 0)
		return berr_errno(err, r, "'%s'", host_dst);
	if (stat(hdir, &st) < 0 && errno == ENOENT)
		return berr_set(err, ENOENT, "invalid output path: directory \"%s\" does not exist",
				hdir);
	if (stat(habs, &st) < 0 && errno == ENOTDIR)
		return berr_set(err, ENOTDIR, "stat %s: not a directory", habs);
	if ((r = host_dest(habs, &dst_exists, &dst_is_dir, &hpath, err)) < 0)
		return r;
	r = plan_copy(src_is_dir, sbase, dst_exists, dst_is_dir, hpath, cpath_asserts_dir(hclean),
		      &p, err);
	if (r < 0)
		return r;
	int dfd = open(p.dst_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = berr_errno(err, errno, "open %s", p.dst_dir);
		plan_clear(&p);
		return r;
	}
	/* Extracted "in root" of the destination directory: an entry can not leave it. */
	struct cpath_root host = {.rootfd = dfd};
	ts->tarname = p.tarname;
	r = pipe_copy(ts, &host, "/", archive, geteuid(), getegid(), err);
	close(dfd);
	plan_clear(&p);
	return r;
}

int cpath_copy_out(const struct cpath_root *root, const char *src, const char *host_dst, int out_fd,
		   const struct cpath_copy_opts *o, struct berr **err)
{
	static const struct cpath_copy_opts none = {0};
	_cleanup_free_ char *csrc = NULL, *sdir = NULL, *sbase = NULL;
	struct cpath_loc sl = {.parentfd = -1, .fd = -1};
	struct walker w = {.root = root};
	_cleanup_free_ int *mount_fds = NULL;
	_cleanup_free_ char **mount_names = NULL;
	_cleanup_free_ char *mabs = NULL, *mclean = NULL, *mdir = NULL, *mbase = NULL;
	_cleanup_close_ int mdirfd = -1;
	int r;
	if (!o)
		o = &none;
	if ((r = cpath_clean(src, &csrc)) < 0 || (r = cpath_split(csrc, &sdir, &sbase)) < 0)
		return berr_errno(err, r, "source '%.64s'", src);
	int asserts = cpath_asserts_dir(csrc);
	r = resolve(root, csrc, (o->follow || asserts) ? CPATH_FOLLOW : 0, NULL, &sl);
	if (r == -ENOTDIR && asserts) {
		r = berr_set(err, ENOTDIR, "lstat %s: not a directory", csrc);
		goto out;
	}
	if (r < 0 || sl.fd < 0) {
		r = berr_set(err, ENOENT, "Could not find the file %s in container %s", csrc,
			     cname(root));
		goto out;
	}
	if (asserts && !S_ISDIR(sl.st.st_mode)) {
		r = berr_set(err, ENOTDIR, "lstat %s: not a directory", csrc);
		goto out;
	}
	int src_is_dir = S_ISDIR(sl.st.st_mode);

	/* The bind mounts below the source show their contents, as in the container. */
	if ((r = walker_init(&w, root)) < 0) {
		r = berr_errno(err, r, "mounts");
		goto out;
	}
	mount_fds = malloc((root->nmounts + 1) * sizeof(int));
	for (size_t i = 0; mount_fds && i < root->nmounts; i++)
		mount_fds[i] = -1;
	mount_names = calloc(root->nmounts + 1, sizeof(char *));
	if (!mount_fds || !mount_names) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	/* A file bind mount has no parent in the container: read it from its host directory. */
	if (!src_is_dir && sl.parentfd < 0) {
		if (sl.mount < 0 || !(mabs = host_abs(root->mounts[sl.mount].source)) ||
		    (r = cpath_clean(mabs, &mclean)) < 0 ||
		    (r = cpath_split(mclean, &mdir, &mbase)) < 0 ||
		    (mdirfd = open(mdir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
			r = berr_errno(err,
				       r < 0   ? r
				       : errno ? errno
					       : EINVAL,
				       "mount of '%s'", sl.path);
			goto out;
		}
	}
	struct tar_src ts = {
	    /* A directory is read through its own fd (it may be a mount's root). */
	    .dirfd = src_is_dir	   ? sl.fd
		     : mdirfd >= 0 ? mdirfd
				   : sl.parentfd,
	    .name = src_is_dir	  ? "."
		    : mdirfd >= 0 ? mbase
				  : sl.base,
	    .root = root,
	    .cpath = sl.path,
	    .dests = w.dests,
	    .mount_fds = mount_fds,
	    .mount_names = mount_names,
	};
	if (streq(host_dst, "-")) {
		struct archive *a = archive_write_new();
		if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
		    archive_write_open_fd(a, out_fd) != ARCHIVE_OK) {
			r = berr_set(err, EIO, "tar: %s",
				     a ? archive_error_string(a) : "out of memory");
		} else {
			ts.tarname = sbase;
			r = write_tar(&ts, a, err);
		}
		if (a)
			archive_write_free(a);
	} else {
		r = out_to_host(&ts, src_is_dir, sbase, host_dst, o->archive, err);
	}
out:
	for (size_t i = 0; mount_fds && i < root->nmounts; i++)
		if (mount_fds[i] >= 0)
			close(mount_fds[i]);
	for (size_t i = 0; mount_names && i < root->nmounts; i++)
		free(mount_names[i]);
	walker_free(&w);
	cpath_loc_clear(&sl);
	return r;
}
