#include "user.h"
#include "cleanup.h"
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "banned.h"

/* runc's range for uids and gids: a negative or 2^31 and above is refused. */
#define ID_MAX 2147483647L

/* A decimal id, or -1 when s is not one (runc uses strconv.Atoi: digits, optional sign). */
static long parse_id(const char *s, size_t len)
{
	if (len == 0 || len > 10)
		return -1;
	long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Split one line of passwd or group at ':' into at most max fields (pointers into line,
 * which is modified). Returns the number of fields. */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	f[n++] = line;
	for (char *p = line; *p && n < max; p++)
		if (*p == ':') {
			*p = '\0';
			f[n++] = p + 1;
		}
	return n;
}

struct pw_match {
	long uid, gid;
	char *name, *home;
};

static int find_passwd(const char *passwd, const char *user, long uid_arg, struct pw_match *ret)
{
	if (!passwd)
		return 0;
	_cleanup_free_ char *copy = strdup(passwd);
	if (!copy)
		return -ENOMEM;
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[7];
		/* Comments and blank lines are skipped as runc's parser does. */
		if (!*line || line[0] == '#')
			continue;
		size_t nf = split_fields(line, f, 7);
		if (nf < 4)
			continue;
		long uid = parse_id(f[2], strlen(f[2]));
		long gid = parse_id(f[3], strlen(f[3]));
		if (uid < 0 || gid < 0)
			continue;
		int match = uid_arg >= 0 ? uid == uid_arg : streq(f[0], user);
		if (!match)
			continue;
		ret->uid = uid;
		ret->gid = gid;
		ret->name = strdup(f[0]);
		/* Field 6 is the home directory; a short line has none. */
		const char *home = nf >= 6 ? f[5] : NULL;
		ret->home = strdup(home && *home ? home : "/");
		if (!ret->name || !ret->home)
			return -ENOMEM;
		return 1;
	}
	return 0;
}

static int push_gid(struct rt_user *u, gid_t g)
{
	gid_t *n = realloc(u->groups, (u->ngroups + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	u->groups = n;
	u->groups[u->ngroups++] = g;
	return 0;
}

/* Walk group: with group_arg (name or gid_arg >= 0) find that group's gid (*ret_gid, 1 when
 * found); without it collect every group listing member as supplementary. */
static int walk_groups(const char *group, const char *group_arg, long gid_arg,
		       const char *member, struct rt_user *u, long *ret_gid)
{
	if (!group)
		return 0;
	_cleanup_free_ char *copy = strdup(group);
	if (!copy)
		return -ENOMEM;
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = {0};
		if (!*line || line[0] == '#')
			continue;
		if (split_fields(line, f, 4) < 3)
			continue;
		long gid = parse_id(f[2], strlen(f[2]));
		if (gid < 0)
			continue;
		if (group_arg) {
			if (gid_arg >= 0 ? gid == gid_arg : streq(f[0], group_arg)) {
				*ret_gid = gid;
				return 1;
			}
			continue;
		}
		if (!member || !f[3])
			continue;
		char *s2 = NULL;
		for (char *m = strtok_r(f[3], ",", &s2); m; m = strtok_r(NULL, ",", &s2))
			if (streq(m, member)) {
				if (push_gid(u, (gid_t)gid) < 0)
					return -ENOMEM;
				break;
			}
	}
	return 0;
}

void rt_user_free(struct rt_user *u)
{
	free(u->groups);
	free(u->home);
	memset(u, 0, sizeof(*u));
}

int rt_user_resolve(const char *spec, const char *passwd, const char *group, struct rt_user *ret,
		    struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	_cleanup_free_ char *user = strndup(spec, ulen);
	const char *group_arg = colon ? colon + 1 : NULL;
	if (!user)
		return berr_set(err, ENOMEM, "out of memory");
	if (group_arg && !*group_arg)
		group_arg = NULL;

	long uid_arg = *user ? parse_id(user, ulen) : 0;
	struct pw_match pw = {.uid = -1};
	int r = find_passwd(passwd, user, uid_arg, &pw);
	if (r < 0) {
		free(pw.name);
		free(pw.home);
		return berr_set(err, ENOMEM, "out of memory");
	}
	_cleanup_free_ char *matched = pw.name;
	long uid = 0, gid = 0;
	if (r == 1) {
		uid = pw.uid;
		gid = pw.gid;
		ret->home = pw.home;
	} else if (*user) {
		if (uid_arg < 0)
			return berr_set(err, EINVAL,
					"unable to find user %s: no matching entries in passwd file",
					user);
		uid = uid_arg;
	}
	if (uid > ID_MAX || gid > ID_MAX) {
		rt_user_free(ret);
		return berr_set(err, EINVAL, "uids and gids must be in range 0-%ld", ID_MAX);
	}

	if (group_arg) {
		long gid_arg = parse_id(group_arg, strlen(group_arg)), found = -1;
		r = walk_groups(group, group_arg, gid_arg, NULL, ret, &found);
		if (r < 0) {
			rt_user_free(ret);
			return berr_set(err, ENOMEM, "out of memory");
		}
		if (r == 1) {
			gid = found;
		} else if (gid_arg < 0) {
			rt_user_free(ret);
			return berr_set(err, EINVAL,
					"unable to find group %s: no matching entries in group file",
					group_arg);
		} else {
			gid = gid_arg;
		}
		if (gid > ID_MAX) {
			rt_user_free(ret);
			return berr_set(err, EINVAL, "uids and gids must be in range 0-%ld", ID_MAX);
		}
	} else if (matched && walk_groups(group, NULL, -1, matched, ret, NULL) < 0) {
		rt_user_free(ret);
		return berr_set(err, ENOMEM, "out of memory");
	}
	if (!ret->home && !(ret->home = strdup("/"))) {
		rt_user_free(ret);
		return berr_set(err, ENOMEM, "out of memory");
	}
	ret->uid = (uid_t)uid;
	ret->gid = (gid_t)gid;
	return 0;
}

/* ---- reading a file through unmounted overlay layers ---- */

#define MAX_SYMLINKS 40
#define MAX_DEPTH 256

static int is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) == 0 && minor(st->st_rdev) == 0;
}

static int is_opaque(int dirfd)
{
	char v[4];
	ssize_t n = fgetxattr(dirfd, "trusted.overlay.opaque", v, sizeof(v));
	return n == 1 && v[0] == 'y';
}

struct walk {
	int fds[MAX_DEPTH]; /* for the current directory: the layers that show it, top first */
	size_t nfds;
};

static void walk_close(struct walk *w)
{
	for (size_t i = 0; i < w->nfds; i++)
		close(w->fds[i]);
	w->nfds = 0;
}

/* Open the root of every layer: the merged root is the union of all of them, down to the
 * first opaque one. */
static int walk_root(struct walk *w, char *const *lowerdirs, size_t n)
{
	walk_close(w);
	for (size_t i = 0; i < n && i < MAX_DEPTH; i++) {
		int fd = open(lowerdirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			int e = -errno;
			walk_close(w);
			return e;
		}
		w->fds[w->nfds++] = fd;
		if (is_opaque(fd))
			break;
	}
	return 0;
}

int rt_layers_read_file(char *const *lowerdirs, size_t n, const char *path, size_t max,
			char **ret_data, size_t *ret_len)
{
	struct walk w = {.nfds = 0};
	/* The path still to resolve, and the components resolved so far (for "..", which
	 * goes back lexically: every component on the stack is a real directory). */
	_cleanup_free_ char *todo = strdup(path);
	_cleanup_free_ char *done = strdup("");
	int links = 0, r;
	if (!todo || !done)
		return -ENOMEM;
	if ((r = walk_root(&w, lowerdirs, n)) < 0)
		return r;

	char *p = todo;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p) {
			walk_close(&w);
			return -EISDIR;
		}
		char *slash = strchr(p, '/');
		size_t clen = slash ? (size_t)(slash - p) : strlen(p);
		char comp[NAME_MAX + 1];
		if (clen > NAME_MAX) {
			walk_close(&w);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, clen);
		comp[clen] = '\0';
		char *rest = p + clen;
		int last = !*rest || strspn(rest, "/") == strlen(rest);

		if (streq(comp, ".")) {
			p = rest;
			continue;
		}
		if (streq(comp, "..")) {
			char *s = strrchr(done, '/');
			if (s)
				*s = '\0';
			_cleanup_free_ char *again = NULL;
			if (asprintf(&again, "%s/%s", done, rest) < 0) {
				walk_close(&w);
				return -ENOMEM;
			}
			free(todo);
			todo = TAKE_PTR(again);
			done[0] = '\0';
			if ((r = walk_root(&w, lowerdirs, n)) < 0)
				return r;
			p = todo;
			continue;
		}

		/* The topmost layer that has the name decides what it is. */
		struct stat st;
		size_t top = w.nfds;
		for (size_t i = 0; i < w.nfds; i++) {
			if (fstatat(w.fds[i], comp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
				top = i;
				break;
			}
			if (errno != ENOENT && errno != ENOTDIR) {
				int e = -errno;
				walk_close(&w);
				return e;
			}
		}
		if (top == w.nfds || is_whiteout(&st)) {
			walk_close(&w);
			return -ENOENT;
		}
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t tl = readlinkat(w.fds[top], comp, target, sizeof(target) - 1);
			if (tl < 0 || ++links > MAX_SYMLINKS) {
				int e = tl < 0 ? -errno : -ELOOP;
				walk_close(&w);
				return e;
			}
			target[tl] = '\0';
			_cleanup_free_ char *again = NULL;
			if (asprintf(&again, "%s/%s/%s", target[0] == '/' ? "" : done, target, rest) <
			    0) {
				walk_close(&w);
				return -ENOMEM;
			}
			free(todo);
			todo = TAKE_PTR(again);
			done[0] = '\0';
			if ((r = walk_root(&w, lowerdirs, n)) < 0)
				return r;
			p = todo;
			continue;
		}
		if (last) {
			if (!S_ISREG(st.st_mode)) {
				walk_close(&w);
				return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
			}
			int fd = openat(w.fds[top], comp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			walk_close(&w);
			if (fd < 0)
				return -errno;
			r = fs_read_fd(fd, max, ret_data, ret_len);
			close(fd);
			return r;
		}
		if (!S_ISDIR(st.st_mode)) {
			walk_close(&w);
			return -ENOTDIR;
		}
		/* The directory merges this layer's and those below that have a directory of
		 * the same name, down to an opaque one or anything that is not a directory. */
		struct walk next = {.nfds = 0};
		for (size_t i = top; i < w.nfds; i++) {
			if (i > top) {
				struct stat s2;
				if (fstatat(w.fds[i], comp, &s2, AT_SYMLINK_NOFOLLOW) < 0) {
					if (errno == ENOENT)
						continue; /* a layer without it hides nothing */
					break;
				}
				if (!S_ISDIR(s2.st_mode))
					break; /* a file or a whiteout hides the rest */
			}
			int fd = openat(w.fds[i], comp,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				int e = -errno;
				walk_close(&next);
				walk_close(&w);
				return e;
			}
			next.fds[next.nfds++] = fd;
			if (is_opaque(fd))
				break;
		}
		walk_close(&w);
		w = next;
		_cleanup_free_ char *d = NULL;
		if (asprintf(&d, "%s/%s", done, comp) < 0) {
			walk_close(&w);
			return -ENOMEM;
		}
		free(done);
		done = TAKE_PTR(d);
		p = rest;
	}
}
