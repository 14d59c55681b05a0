#include "linux.h"
#include "buf.h"
#include "caps.h"
#include "cgroup.h"
#include "cleanup.h"
#include "fs.h"
#include "pty.h"
#include "rlimit.h"
#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "banned.h"

int rt_linux_overlay_mount2;

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Messages on the sync socket (SOCK_SEQPACKET, so one send is one message):
 *   parent -> child  'G'                  go on, after the parent moved the child into the
 *                                         cgroup2 directory (only when the kernel refused
 *                                         CLONE_INTO_CGROUP: otherwise the child does not
 *                                         wait, it joins its cgroup itself)
 *   child -> parent  'P' + SCM_RIGHTS     the pty master
 *   child -> parent  'E' + struct failure the setup or execve failed; the child exits
 * End of stream without 'E' means the execve succeeded (the socket is O_CLOEXEC). */
struct failure {
	char kind; /* 'E' */
	unsigned char exit_code;
	int errno_code;
	char msg[2048];
};

/* Everything the child needs, prepared by the parent before clone. */
struct child {
	const struct rt_spec *spec;
	const struct rt_stdio *io;
	int sync;
	struct rt_seccomp_bpf seccomp;	  /* prepared in the parent; len 0: none */
	const struct rt_cgroup_join *cgj; /* NULL without a cgroup */
	int wait_go;			  /* wait for 'G' (see the messages above) */
};

/* ---- small helpers ---- */

#define FDPATH_MAX 32
static const char *fdpath(int fd, char buf[FDPATH_MAX])
{
	snprintf(buf, FDPATH_MAX, "/proc/self/fd/%d", fd);
	return buf;
}

/* The path relative to the rootfs: "/etc/hosts" -> "etc/hosts", "/" -> ".". */
static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

/* Open (creating what is missing) path inside rootfd, each step resolved by the kernel
 * inside the root so that a symlink in the image cannot point a mount at the host. The
 * last component is created as a directory, or as an empty file when is_file.
 * Returns an O_PATH fd or -errno. */
static int open_or_create_in_root_depth(int rootfd, const char *path, int is_file, int depth);

static int open_or_create_in_root(int rootfd, const char *path, int is_file)
{
	return open_or_create_in_root_depth(rootfd, path, is_file, 0);
}

/* comp, a child of the directory parent (whose path in the root is p[0..comp-p)), is a
 * symlink that resolves to nothing yet: continue at its target, as the kernel would resolve
 * it inside the root, with the rest of the path appended (runc's securejoin does the same).
 * rest is NULL or the components after comp. */
static int follow_dangling(int rootfd, int parent, const char *p, const char *comp,
			   const char *rest, int is_file, int depth)
{
	char target[PATH_MAX];
	struct stat st;
	/* Linux's own limit on symlinks in one lookup. */
	if (depth >= 40)
		return -ELOOP;
	if (fstatat(parent, comp, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode))
		return -ENOENT;
	ssize_t n = readlinkat(parent, comp, target, sizeof(target) - 1);
	if (n <= 0)
		return -ENOENT;
	target[n] = '\0';
	_cleanup_free_ char *next = NULL;
	int dir_len = comp > p ? (int)(comp - p - 1) : 0;
	if (asprintf(&next, "%s%.*s/%s%s%s", target[0] == '/' ? "" : "/",
		     target[0] == '/' ? 0 : dir_len, p, target, rest ? "/" : "",
		     rest ? rest : "") < 0)
		return -ENOMEM;
	return open_or_create_in_root_depth(rootfd, next, is_file, depth + 1);
}

static int open_or_create_in_root_depth(int rootfd, const char *path, int is_file, int depth)
{
	int fd = fs_open_in_root(rootfd, rel(path), O_PATH, 0);
	if (fd != -ENOENT)
		return fd;
	/* A copy with single slashes between the components and none at either end. */
	_cleanup_free_ char *p = malloc(strlen(path) + 1);
	if (!p)
		return -ENOMEM;
	size_t n = 0;
	for (const char *s = path; *s; s++)
		if (*s != '/' || (n > 0 && p[n - 1] != '/'))
			p[n++] = *s;
	if (n > 0 && p[n - 1] == '/')
		n--;
	p[n] = '\0';
	if (n == 0)
		return fs_open_in_root(rootfd, ".", O_PATH, 0);
	_cleanup_close_ int parent = fs_open_in_root(rootfd, ".", O_PATH | O_DIRECTORY, 0);
	if (parent < 0)
		return parent;
	char *comp = p;
	for (;;) {
		char *slash = strchr(comp, '/');
		int last = slash == NULL, want_file = last && is_file;
		if (slash)
			*slash = '\0';
		/* parent came from the kernel's in-root resolution, and comp has no slash:
		 * the new entry is inside the root. O_EXCL|O_NOFOLLOW: never create through a
		 * symlink planted in the image. */
		if (want_file) {
			int f = openat(parent, comp,
				       O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
			if (f < 0 && errno != EEXIST)
				return -errno;
			if (f >= 0)
				close(f);
		} else if (mkdirat(parent, comp, 0755) < 0 && errno != EEXIST) {
			return -errno;
		}
		/* Reopen the whole prefix in the root: an existing symlink resolves inside it. */
		int next = fs_open_in_root(rootfd, p, O_PATH | (want_file ? 0 : O_DIRECTORY), 0);
		if (next == -ENOENT)
			return follow_dangling(rootfd, parent, p, comp, last ? NULL : slash + 1,
					       is_file, depth);
		if (next < 0 || last)
			return next;
		close(parent);
		parent = next;
		*slash = '/';
		comp = slash + 1;
	}
}

static int mount_on_fd(const char *src, int fd, const char *type, unsigned long flags,
		       const char *data)
{
	char p[FDPATH_MAX];
	return mount(src, fdpath(fd, p), type, flags, data) < 0 ? -errno : 0;
}

/* Make the mount at path (inside rootfd) read-only with extra flags, keeping the flags it
 * has: a bind remount sets all per-mount flags at once, so omitting nosuid would clear it. */
static int remount_ro(int rootfd, const char *path, unsigned long extra)
{
	_cleanup_close_ int fd = fs_open_in_root(rootfd, rel(path), O_PATH, 0);
	if (fd < 0)
		return fd;
	struct statvfs sv;
	if (fstatvfs(fd, &sv) < 0)
		return -errno;
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | extra;
	if (sv.f_flag & ST_NOSUID)
		flags |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		flags |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		flags |= MS_NOEXEC;
	return mount_on_fd(NULL, fd, NULL, flags, NULL);
}

/* ---- the root filesystem ---- */

/* Overlay features berth turns off on every container mount (see overlay_fsmount). */
static const char *const overlay_off[] = {"redirect_dir", "metacopy", "index"};

/* The overlay via the new mount API (fsopen/fsconfig/fsmount). Each lower layer is added
 * with "lowerdir+" (Linux 6.8) as an O_PATH fd's /proc/self/fd path, so there is no limit
 * on the number of layers from the mount data's page size (the classic mount(2) data is
 * one page: a few dozen layers of store paths). Returns -EINVAL when the kernel lacks
 * "lowerdir+"; the caller then falls back to mount(2). */
static int overlay_fsmount(const struct rt_spec *s, int *lower_fds, struct berr **err)
{
	char p[FDPATH_MAX];
	_cleanup_close_ int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -errno;
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", "overlay", 0) < 0)
		return -errno;
	for (size_t i = 0; i < s->lowerdirs.n; i++)
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", fdpath(lower_fds[i], p), 0) <
		    0)
			return -errno;
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", fdpath(lower_fds[s->lowerdirs.n], p),
		     0) < 0 ||
	    fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", fdpath(lower_fds[s->lowerdirs.n + 1], p),
		     0) < 0)
		return berr_errno(err, errno, "overlay upperdir/workdir");
	/* commit and diff read the upper dir as a changeset, which a renamed directory
	 * (redirect_dir) or a metadata-only copy-up (metacopy) would break; a distribution
	 * may build either on by default (docs/internals/COMMIT.md). The index is off as in
	 * the tests of the layer code. A kernel that lacks an option does not do that either. */
	for (size_t i = 0; i < ARRAY_SIZE(overlay_off); i++)
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, overlay_off[i], "off", 0) < 0 &&
		    errno != EINVAL)
			return berr_errno(err, errno, "overlay option %s=off", overlay_off[i]);
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return berr_errno(err, errno, "create overlay");
	_cleanup_close_ int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
	if (mfd < 0)
		return berr_errno(err, errno, "fsmount overlay");
	if (move_mount(mfd, "", AT_FDCWD, s->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return berr_errno(err, errno, "move overlay to '%s'", s->rootfs);
	return 0;
}

/* Classic mount(2): the whole option string must fit in one page. Short /proc/self/fd
 * paths stretch that to about 200 layers. */
static int overlay_mount2(const struct rt_spec *s, int *fds, struct berr **err)
{
	_cleanup_buf_ struct buf opt = BUF_INIT;
	char p[FDPATH_MAX];
	buf_puts(&opt, "lowerdir=");
	for (size_t i = 0; i < s->lowerdirs.n; i++)
		buf_printf(&opt, "%s%s", i ? ":" : "", fdpath(fds[i], p));
	buf_printf(&opt, ",upperdir=%s", fdpath(fds[s->lowerdirs.n], p));
	for (size_t i = 0; i < ARRAY_SIZE(overlay_off); i++)
		buf_printf(&opt, ",%s=off", overlay_off[i]);
	if (buf_printf(&opt, ",workdir=%s", fdpath(fds[s->lowerdirs.n + 1], p)) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	if (opt.len >= (size_t)sysconf(_SC_PAGESIZE))
		return berr_set(err, E2BIG,
				"%zu layers do not fit into the overlay mount options of this "
				"kernel (Linux 6.8 lifts the limit)",
				s->lowerdirs.n);
	if (mount("overlay", s->rootfs, "overlay", 0, opt.data) < 0)
		return berr_errno(err, errno, "mount overlay on '%s'", s->rootfs);
	return 0;
}

static int mount_rootfs(const struct rt_spec *s, struct berr **err)
{
	if (s->lowerdirs.n == 0) {
		/* pivot_root needs a mount point: bind the plain directory onto itself. */
		if (mount(s->rootfs, s->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
			return berr_errno(err, errno, "bind rootfs '%s'", s->rootfs);
		return 0;
	}
	size_t n = s->lowerdirs.n + 2;
	_cleanup_free_ int *fds = calloc(n, sizeof(int));
	if (!fds)
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *path = i < s->lowerdirs.n	 ? s->lowerdirs.v[i]
				   : i == s->lowerdirs.n ? s->upperdir
							 : s->workdir;
		/* On an early return the fds stay open until execve or _exit closes them: this
		 * is the short-lived child. */
		fds[i] = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fds[i] < 0)
			return berr_errno(err, errno, "overlay layer '%s'", path);
	}
	int r = rt_linux_overlay_mount2 ? -EINVAL : overlay_fsmount(s, fds, err);
	if (r == -EINVAL && !*err)
		r = overlay_mount2(s, fds, err);
	else if (r < 0 && !*err)
		r = berr_errno(err, r, "mount overlay on '%s'", s->rootfs);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	return r;
}

/* ---- /dev ---- */

struct devnode {
	const char *name;
	unsigned int major, minor;
};
static const struct devnode devnodes[] = {
    {"null", 1, 3},   {"zero", 1, 5},	 {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};
static const char *const devlinks[][2] = {
    {"fd", "/proc/self/fd"},	   {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"}, {"core", "/proc/kcore"},	 {"ptmx", "pts/ptmx"},
};

/* --privileged: recreate the host's device nodes (dir is the host's, below /dev) in the
 * container's fresh /dev, as Docker does: same names, modes and owners; directories of
 * pseudo files systems and what the container already has are skipped. Runs before
 * pivot_root, while the host's /dev is still in view. */
static int copy_host_devices(int src, int dst, int depth, struct berr **err)
{
	static const char *const skip[] = {"pts", "shm", "fd", "mqueue", "console", ".lxc",
					   ".lxd-mounts", ".udev"};
	if (depth > 8)
		return 0;
	_cleanup_closedir_ DIR *d = fdopendir(src);
	if (!d) {
		close(src);
		return berr_errno(err, errno, "read the host's /dev");
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (streq(e->d_name, ".") || streq(e->d_name, ".."))
			continue;
		int skipped = 0;
		for (size_t i = 0; depth == 0 && i < ARRAY_SIZE(skip); i++)
			skipped |= streq(e->d_name, skip[i]);
		struct stat st;
		if (skipped || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (mkdirat(dst, e->d_name, st.st_mode & 07777) < 0 && errno != EEXIST)
				return berr_errno(err, errno, "mkdir /dev/%s", e->d_name);
			int s = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			_cleanup_close_ int t = openat(dst, e->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s < 0 || t < 0) {
				if (s >= 0)
					close(s);
				continue;
			}
			int r = copy_host_devices(s, t, depth + 1, err);
			if (r < 0)
				return r;
			continue;
		}
		if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
			continue;
		if (mknodat(dst, e->d_name, st.st_mode, st.st_rdev) < 0) {
			if (errno == EEXIST)
				continue;
			return berr_errno(err, errno, "mknod /dev/%s", e->d_name);
		}
		if (fchmodat(dst, e->d_name, st.st_mode & 07777, 0) < 0 ||
		    fchownat(dst, e->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
			return berr_errno(err, errno, "set the mode of /dev/%s", e->d_name);
	}
	return 0;
}

static int mount_dev(const struct rt_spec *s, int rootfd, struct berr **err)
{
	_cleanup_close_ int t = open_or_create_in_root(rootfd, "/dev", 0);
	if (t < 0)
		return berr_errno(err, t, "create /dev");
	if (mount_on_fd("tmpfs", t, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") <
	    0)
		return berr_errno(err, errno, "mount /dev");
	/* The fresh tmpfs is ours alone: plain *at() calls below it are safe. */
	_cleanup_close_ int dev = fs_open_in_root(rootfd, "dev", O_RDONLY | O_DIRECTORY, 0);
	if (dev < 0)
		return berr_errno(err, dev, "open /dev");
	for (size_t i = 0; i < ARRAY_SIZE(devnodes); i++) {
		const struct devnode *d = &devnodes[i];
		if (mknodat(dev, d->name, S_IFCHR | 0666, makedev(d->major, d->minor)) < 0 ||
		    fchmodat(dev, d->name, 0666, 0) < 0)
			return berr_errno(err, errno, "mknod /dev/%s", d->name);
	}
	for (size_t i = 0; i < ARRAY_SIZE(devlinks); i++)
		if (symlinkat(devlinks[i][1], dev, devlinks[i][0]) < 0)
			return berr_errno(err, errno, "symlink /dev/%s", devlinks[i][0]);
	static const struct {
		const char *dir, *type, *data;
		unsigned long flags;
	} subs[] = {
	    {"pts", "devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5", MS_NOSUID | MS_NOEXEC},
	    {"shm", "tmpfs", "mode=1777,size=65536k", MS_NOSUID | MS_NODEV | MS_NOEXEC},
	    {"mqueue", "mqueue", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC},
	};
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		if (mkdirat(dev, subs[i].dir, 0755) < 0)
			return berr_errno(err, errno, "mkdir /dev/%s", subs[i].dir);
		_cleanup_close_ int d = openat(dev, subs[i].dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (d < 0 ||
		    mount_on_fd(subs[i].type, d, subs[i].type, subs[i].flags, subs[i].data) < 0)
			return berr_errno(err, errno, "mount /dev/%s", subs[i].dir);
	}
	if (s->host_devices) {
		int host = open("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (host < 0)
			return berr_errno(err, errno, "open the host's /dev");
		return copy_host_devices(host, dev, 0, err);
	}
	return 0;
}

/* ---- /proc, /sys ---- */

static int mount_proc(int rootfd, struct berr **err)
{
	_cleanup_close_ int t = open_or_create_in_root(rootfd, "/proc", 0);
	if (t < 0)
		return berr_errno(err, t, "create /proc");
	if (mount_on_fd("proc", t, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return berr_errno(err, errno, "mount /proc");
	return 0;
}

/* Subsystem names the kernel knows (first column of /proc/cgroups). */
static int is_cgroup_subsys(const char *name)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/cgroups", "re");
	char line[256];
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, " \t");
		if (line[0] != '#' && n == strlen(name) && strncmp(line, name, n) == 0)
			return 1;
	}
	return 0;
}

/* v1 mount data for a hierarchy from its super options ("rw,cpu,cpuacct"): only the
 * subsystems and name=, because other options (release_agent=, ...) must match the
 * existing hierarchy or be left out. */
static int cgroup_v1_data(const char *super, struct buf *out)
{
	_cleanup_free_ char *s = strdup(super);
	if (!s)
		return -ENOMEM;
	char *save = NULL;
	for (char *o = strtok_r(s, ",", &save); o; o = strtok_r(NULL, ",", &save))
		if (strncmp(o, "name=", 5) == 0 || streq(o, "none") || is_cgroup_subsys(o))
			if (buf_printf(out, "%s%s", out->len ? "," : "", o) < 0)
				return -ENOMEM;
	return 0;
}

/* /sys/fs/cgroup inside the container, read-only, showing the container's own cgroup
 * (mounted after unshare(CLONE_NEWCGROUP), the cgroup namespace's root is that cgroup).
 * The host's layout is mirrored: on v2 one cgroup2 mount; on v1 and hybrid a tmpfs with one
 * mount per hierarchy found under the host's /sys/fs/cgroup (cgroup2 at unified/ included)
 * and the host's symlinks (cpu -> cpu,cpuacct). */
static int mount_cgroup(int rootfd, struct berr **err)
{
	struct statvfs sv;
	_cleanup_close_ int t = open_or_create_in_root(rootfd, "/sys/fs/cgroup", 0);
	if (t < 0)
		return berr_errno(err, t, "open /sys/fs/cgroup");
	if (statvfs("/sys/fs/cgroup", &sv) < 0)
		return 0; /* the host has no cgroups mounted: nothing to show */
	_cleanup_fclose_ FILE *mi = fopen("/proc/self/mountinfo", "re");
	if (!mi)
		return berr_errno(err, errno, "read mountinfo");
	char *line = NULL;
	size_t cap = 0;
	int tmpfs_done = 0, r = 0;
	_cleanup_close_ int cgdir = -1;
	while (getline(&line, &cap, mi) > 0) {
		/* id parent maj:min root mountpoint options [optional...] - fstype source super */
		char *f[6] = {0}, *save = NULL, *p = line;
		int n = 0;
		line[strcspn(line, "\n")] = '\0';
		for (char *tok = strtok_r(p, " ", &save); tok && n < 5;
		     tok = strtok_r(NULL, " ", &save))
			f[n++] = tok;
		char *dash = strstr(save ? save : "", "- ");
		if (n < 5 || !dash)
			continue;
		char *rest = dash + 2, *save2 = NULL;
		char *fstype = strtok_r(rest, " ", &save2);
		char *source = strtok_r(NULL, " ", &save2);
		char *super = strtok_r(NULL, " ", &save2);
		(void)source;
		if (!fstype || !super)
			continue;
		const char *mp = f[4];
		int v2 = streq(fstype, "cgroup2");
		if (!v2 && !streq(fstype, "cgroup"))
			continue;
		if (streq(mp, "/sys/fs/cgroup") && v2) {
			if (mount_on_fd("cgroup2", t, "cgroup2",
					MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
				r = berr_errno(err, errno, "mount cgroup2 on /sys/fs/cgroup");
			break;
		}
		if (strncmp(mp, "/sys/fs/cgroup/", 15) != 0 || strchr(mp + 15, '/'))
			continue;
		if (!tmpfs_done) {
			if (mount_on_fd("tmpfs", t, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
					"mode=755,size=64k") < 0) {
				r = berr_errno(err, errno, "mount tmpfs on /sys/fs/cgroup");
				break;
			}
			tmpfs_done = 1;
			cgdir = fs_open_in_root(rootfd, "sys/fs/cgroup", O_RDONLY | O_DIRECTORY, 0);
			if (cgdir < 0) {
				r = berr_errno(err, cgdir, "open /sys/fs/cgroup");
				break;
			}
		}
		const char *name = mp + 15;
		_cleanup_buf_ struct buf data = BUF_INIT;
		if (!v2 && cgroup_v1_data(super, &data) < 0) {
			r = berr_set(err, ENOMEM, "out of memory");
			break;
		}
		_cleanup_close_ int d = -1;
		if (mkdirat(cgdir, name, 0755) < 0 ||
		    (d = openat(cgdir, name, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
		    mount_on_fd("cgroup", d, v2 ? "cgroup2" : "cgroup",
				MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
				v2 ? NULL : data.data) < 0) {
			r = berr_errno(err, errno, "mount cgroup on /sys/fs/cgroup/%s", name);
			break;
		}
	}
	free(line);
	if (r < 0 || !tmpfs_done)
		return r;
	/* The host's symlinks (cpu -> cpu,cpuacct), then make the tmpfs read-only. */
	_cleanup_closedir_ DIR *host = opendir("/sys/fs/cgroup");
	struct dirent *de;
	while (host && (de = readdir(host))) {
		char target[256];
		if (de->d_type != DT_LNK)
			continue;
		ssize_t n = readlinkat(dirfd(host), de->d_name, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (symlinkat(target, cgdir, de->d_name) < 0 && errno != EEXIST)
			return berr_errno(err, errno, "symlink /sys/fs/cgroup/%s", de->d_name);
	}
	if (remount_ro(rootfd, "/sys/fs/cgroup", 0) < 0)
		return berr_errno(err, errno, "remount /sys/fs/cgroup read-only");
	return 0;
}

static int mount_sys(const struct rt_spec *s, int rootfd, struct berr **err)
{
	_cleanup_close_ int t = open_or_create_in_root(rootfd, "/sys", 0);
	if (t < 0)
		return berr_errno(err, t, "create /sys");
	unsigned long fl = (s->host_devices ? 0 : MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	if (mount_on_fd("sysfs", t, "sysfs", fl, NULL) < 0) {
		/* sysfs can only be mounted in a network namespace we own; sharing the host's,
		 * bind the host's /sys instead, read-only (runc does the same). */
		if (errno != EPERM || (s->namespaces & CLONE_NEWNET))
			return berr_errno(err, errno, "mount /sys");
		if (mount_on_fd("/sys", t, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    (!s->host_devices && remount_ro(rootfd, "/sys", 0) < 0))
			return berr_errno(err, errno, "bind /sys");
		return 0;
	}
	return mount_cgroup(rootfd, err);
}

/* ---- masked, read-only and user paths ---- */

static int mask_paths(const struct rt_spec *s, int rootfd, int devnull, struct berr **err)
{
	char p[FDPATH_MAX];
	for (size_t i = 0; i < s->masked_paths.n; i++) {
		const char *path = s->masked_paths.v[i];
		_cleanup_close_ int fd = fs_open_in_root(rootfd, rel(path), O_PATH, 0);
		struct stat st;
		if (fd == -ENOENT)
			continue;
		if (fd < 0 || fstat(fd, &st) < 0)
			return berr_errno(err, fd < 0 ? fd : errno, "masked path '%s'", path);
		int r = S_ISDIR(st.st_mode)
			    ? mount_on_fd("tmpfs", fd, "tmpfs", MS_RDONLY, "size=0k")
			    : mount_on_fd(fdpath(devnull, p), fd, NULL, MS_BIND, NULL);
		if (r < 0)
			return berr_errno(err, r, "mask '%s'", path);
	}
	for (size_t i = 0; i < s->readonly_paths.n; i++) {
		const char *path = s->readonly_paths.v[i];
		_cleanup_close_ int fd = fs_open_in_root(rootfd, rel(path), O_PATH, 0);
		if (fd == -ENOENT)
			continue;
		if (fd < 0)
			return berr_errno(err, fd, "read-only path '%s'", path);
		int r = mount_on_fd(fdpath(fd, p), fd, NULL, MS_BIND | MS_REC, NULL);
		if (r == 0)
			r = remount_ro(rootfd, path, 0);
		if (r < 0)
			return berr_errno(err, r, "make '%s' read-only", path);
	}
	return 0;
}

static int bind_file(int rootfd, const char *src, const char *dst, struct berr **err)
{
	_cleanup_close_ int t = open_or_create_in_root(rootfd, dst, 1);
	if (t < 0)
		return berr_errno(err, t, "create '%s'", dst);
	if (mount_on_fd(src, t, NULL, MS_BIND, NULL) < 0)
		return berr_errno(err, errno, "bind '%s' on '%s'", src, dst);
	return 0;
}

static int user_mount(const struct rt_mount *m, int rootfd, struct berr **err)
{
	int is_file = 0;
	if (m->type == RT_MOUNT_BIND) {
		struct stat st;
		if (stat(m->source, &st) < 0)
			return berr_errno(err, errno, "bind source '%s'", m->source);
		is_file = !S_ISDIR(st.st_mode);
	}
	_cleanup_close_ int t = open_or_create_in_root(rootfd, m->destination, is_file);
	if (t < 0)
		return berr_errno(err, t, "mount point '%s'", m->destination);
	unsigned long opt = m->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
	if (m->type == RT_MOUNT_TMPFS) {
		if (mount_on_fd("tmpfs", t, "tmpfs", opt, m->data) < 0)
			return berr_errno(err, errno, "mount tmpfs on '%s'", m->destination);
	} else {
		if (mount_on_fd(m->source, t, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
			return berr_errno(err, errno, "bind '%s' on '%s'", m->source,
					  m->destination);
		/* Flags on a bind need a second call (the kernel ignores them on MS_BIND). */
		if (opt) {
			_cleanup_close_ int nt =
			    fs_open_in_root(rootfd, rel(m->destination), O_PATH, 0);
			if (nt < 0 ||
			    mount_on_fd(NULL, nt, NULL, MS_BIND | MS_REMOUNT | opt, NULL) < 0)
				return berr_errno(err, nt < 0 ? nt : errno, "remount '%s'",
						  m->destination);
		}
	}
	if (m->propagation) {
		_cleanup_close_ int nt = fs_open_in_root(rootfd, rel(m->destination), O_PATH, 0);
		if (nt < 0 || mount_on_fd(NULL, nt, NULL, m->propagation, NULL) < 0)
			return berr_errno(err, nt < 0 ? nt : errno, "propagation of '%s'",
					  m->destination);
	}
	return 0;
}

/* ---- the process ---- */

static int loopback_up(struct berr **err)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	if (s < 0)
		return berr_errno(err, errno, "socket");
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return berr_errno(err, errno, "get flags of lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return berr_errno(err, errno, "bring lo up");
	return 0;
}

static const char *env_get(char **env, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

/* Find args[0] as Go's exec.LookPath does (Docker's behaviour): a name with a slash is
 * used as is, else the first PATH entry holding a regular file with an execute bit.
 * Returns 0 with *ret (malloc'ed), or the exit code with *err set. */
int rt_lookup_executable(const char *file, char **env, char **ret, struct berr **err)
{
	struct stat st;
	if (!*file) {
		berr_set(err, ENOENT, "exec: \"\": executable file not found in $PATH");
		return RT_EXIT_NOT_FOUND;
	}
	if (strchr(file, '/')) {
		if (stat(file, &st) < 0) {
			int e = errno;
			berr_set(err, e, "exec: \"%s\": stat %s: %s", file, file, strerror(e));
			return e == ENOENT || e == ENOTDIR ? RT_EXIT_NOT_FOUND
							   : RT_EXIT_CANNOT_EXEC;
		}
		if (S_ISDIR(st.st_mode)) {
			berr_set(err, EISDIR, "exec: \"%s\": is a directory", file);
			return RT_EXIT_CANNOT_EXEC;
		}
		*ret = strdup(file);
		return *ret ? 0 : RT_EXIT_SETUP;
	}
	const char *path = env_get(env, "PATH");
	if (!path)
		path = DEFAULT_PATH;
	const char *p = path;
	for (;;) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		char *cand = NULL;
		/* An empty PATH entry is the current directory. */
		if (asprintf(&cand, "%.*s/%s", (int)(len ? len : 1), len ? p : ".", file) < 0)
			return RT_EXIT_SETUP;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) {
			*ret = cand;
			return 0;
		}
		free(cand);
		if (!colon)
			break;
		p = colon + 1;
	}
	berr_set(err, ENOENT, "exec: \"%s\": executable file not found in $PATH", file);
	return RT_EXIT_NOT_FOUND;
}

int rt_switch_user(const struct rt_spec *s, struct berr **err)
{
	if (s->uid == 0) {
		/* Root keeps its capabilities across the switch; do it before they shrink. */
		if (setgroups(s->ngroups, s->groups) < 0)
			return berr_errno(err, errno, "setgroups");
		if (setgid(s->gid) < 0)
			return berr_errno(err, errno, "setgid %u", (unsigned)s->gid);
		return rt_caps_apply(s->caps, 0, err);
	}
	int r = rt_caps_apply(s->caps, 1, err);
	if (r < 0)
		return r;
	if (setgroups(s->ngroups, s->groups) < 0)
		return berr_errno(err, errno, "setgroups");
	if (setgid(s->gid) < 0)
		return berr_errno(err, errno, "setgid %u", (unsigned)s->gid);
	if (setuid(s->uid) < 0)
		return berr_errno(err, errno, "setuid %u", (unsigned)s->uid);
	return rt_caps_apply(s->caps, 0, err);
}

/* ---- the child ---- */

static _Noreturn void child_fail(int sync, int code, struct berr *e, const char *what)
{
	struct failure f = {.kind = 'E', .exit_code = (unsigned char)code};
	f.errno_code = e ? e->code : EIO;
	snprintf(f.msg, sizeof(f.msg), "%s%s%s", what ? what : "", what && e ? ": " : "",
		 e ? e->msg : "");
	ssize_t n = send(sync, &f, sizeof(f), MSG_NOSIGNAL);
	(void)n;
	_exit(code);
}

static int setup_stdio(const struct child *c, int pty_slave, struct berr **err)
{
	int fds[3];
	_cleanup_close_ int devnull = -1;
	if (pty_slave >= 0) {
		fds[0] = fds[1] = fds[2] = pty_slave;
	} else {
		const int want[3] = {c->io ? c->io->in : -1, c->io ? c->io->out : -1,
				     c->io ? c->io->err : -1};
		for (int i = 0; i < 3; i++) {
			if (want[i] >= 0) {
				fds[i] = want[i];
				continue;
			}
			if (devnull < 0)
				devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (devnull < 0)
				return berr_errno(err, errno, "open /dev/null");
			fds[i] = devnull;
		}
	}
	/* Move the sources out of 0..2 first, so that dup2 of one does not clobber another. */
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0 && fds[i] <= 2) {
			int d = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
			if (d < 0)
				return berr_errno(err, errno, "dup");
			for (int j = i + 1; j < 3; j++)
				if (fds[j] == fds[i])
					fds[j] = d;
			fds[i] = d;
		}
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			return berr_errno(err, errno, "dup2");
	if (setsid() < 0)
		return berr_errno(err, errno, "setsid");
	if (pty_slave >= 0 && ioctl(0, TIOCSCTTY, 0) < 0)
		return berr_errno(err, errno, "set the controlling terminal");
	return 0;
}

static _Noreturn void child_main(struct child *c)
{
	const struct rt_spec *s = c->spec;
	struct berr *err = NULL;
	int sync = c->sync, r;
	char go;

	/* The container starts with default signal handling whatever the runtime ignores or
	 * blocks (SIG_IGN survives execve: an ignored SIGPIPE would change `yes | head`). */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* Die with the runtime while still being set up; reset before execve. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* A parent gone before the prctl: its end of the socket reads as end of stream. */
	if (!c->wait_go && recv(sync, &go, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
		_exit(RT_EXIT_SETUP);
	if (c->wait_go && (recv(sync, &go, 1, 0) != 1 || go != 'G'))
		_exit(RT_EXIT_SETUP);
	/* Into the cgroup before anything else, by ourselves (see rt_cgroup_join_self). */
	const char *cgdir = NULL;
	if (c->cgj && (r = rt_cgroup_join_self(c->cgj, &cgdir)) < 0) {
		berr_errno(&err, r, "cgroup: move into %s", cgdir);
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}

	if ((s->namespaces & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0) {
		berr_errno(&err, errno, "unshare cgroup namespace");
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}
	/* Host mounts still propagate in, ours never out (Docker's rslave default). */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
		berr_errno(&err, errno, "make / rslave");
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}
	_cleanup_close_ int devnull = open("/dev/null", O_PATH | O_CLOEXEC);
	if (devnull < 0) {
		berr_errno(&err, errno, "open /dev/null");
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}
	if (mount_rootfs(s, &err) < 0)
		child_fail(sync, RT_EXIT_SETUP, err, "rootfs");
	_cleanup_close_ int rootfd = open(s->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		berr_errno(&err, errno, "open rootfs '%s'", s->rootfs);
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}

	if (mount_proc(rootfd, &err) < 0 || mount_dev(s, rootfd, &err) < 0 ||
	    mount_sys(s, rootfd, &err) < 0)
		child_fail(sync, RT_EXIT_SETUP, err, NULL);

	int pty_master = -1, pty_slave = -1;
	if (s->tty) {
		if ((r = rt_pty_open(rootfd, "dev/pts/ptmx", &pty_master, &pty_slave)) < 0) {
			berr_errno(&err, r, "open the container's pty");
			child_fail(sync, RT_EXIT_SETUP, err, NULL);
		}
		char p[FDPATH_MAX];
		_cleanup_close_ int console = open_or_create_in_root(rootfd, "/dev/console", 1);
		if (console < 0 ||
		    mount_on_fd(fdpath(pty_slave, p), console, NULL, MS_BIND, NULL) < 0) {
			berr_errno(&err, console < 0 ? console : errno, "bind /dev/console");
			child_fail(sync, RT_EXIT_SETUP, err, NULL);
		}
		if ((r = rt_fd_send(sync, pty_master, "P", 1)) < 0) {
			berr_errno(&err, r, "send the pty");
			child_fail(sync, RT_EXIT_SETUP, err, NULL);
		}
		close(pty_master);
		if (s->console_rows && s->console_cols)
			rt_pty_set_size(pty_slave, s->console_rows, s->console_cols);
	}

	const char *etc[3][2] = {{s->etc_hostname, "/etc/hostname"},
				 {s->etc_hosts, "/etc/hosts"},
				 {s->etc_resolv, "/etc/resolv.conf"}};
	for (int i = 0; i < 3; i++)
		if (etc[i][0] && bind_file(rootfd, etc[i][0], etc[i][1], &err) < 0)
			child_fail(sync, RT_EXIT_SETUP, err, NULL);
	for (size_t i = 0; i < s->nmounts; i++)
		if (user_mount(&s->mounts[i], rootfd, &err) < 0)
			child_fail(sync, RT_EXIT_SETUP, err, NULL);
	if (mask_paths(s, rootfd, devnull, &err) < 0)
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	const char *cwd = s->cwd && *s->cwd ? s->cwd : "/";
	_cleanup_close_ int cwdfd = open_or_create_in_root(rootfd, cwd, 0);
	if (cwdfd < 0) {
		berr_errno(&err, cwdfd, "working directory '%s'", cwd);
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}

	/* pivot_root(".", ".") stacks the old root on top of the new one; unmounting "."
	 * then removes it without needing a directory for it in the image. */
	if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0) {
		berr_errno(&err, errno, "pivot_root");
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 || umount2(".", MNT_DETACH) < 0 ||
	    chdir("/") < 0) {
		berr_errno(&err, errno, "detach the old root");
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}
	if (s->readonly_rootfs &&
	    mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
		berr_errno(&err, errno, "remount / read-only");
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}
	if (s->hostname && (s->namespaces & CLONE_NEWUTS) &&
	    sethostname(s->hostname, strlen(s->hostname)) < 0) {
		berr_errno(&err, errno, "sethostname");
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}
	if ((s->namespaces & CLONE_NEWNET) && loopback_up(&err) < 0)
		child_fail(sync, RT_EXIT_SETUP, err, NULL);

	if (setup_stdio(c, pty_slave, &err) < 0)
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	if (pty_slave > 2)
		close(pty_slave);
	/* Nothing of the runtime leaks into the container: every fd above 2 closes on exec. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		berr_errno(&err, errno, "close_range");
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}
	if (s->nrlimits && rt_rlimit_apply(s->rlimits, s->nrlimits, &err) < 0)
		child_fail(sync, RT_EXIT_SETUP, err, "rlimits");
	umask(022);
	if (chdir(cwd) < 0) {
		berr_errno(&err, errno, "chdir '%s'", cwd);
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}

	char **env = s->env.v;
	static char *empty_env[] = {NULL};
	_cleanup_free_ char *exe = NULL;
	int code = rt_lookup_executable(s->args.v[0], env, &exe, &err);
	if (code)
		child_fail(sync, code, err, NULL);

	/* Without no_new_privs, loading a filter takes CAP_SYS_ADMIN: load it while the
	 * runtime still has it, before the capabilities shrink (runc's order). The default
	 * profile allows what follows (capset, setuid, setgroups, prctl). */
	if (c->seccomp.len && !s->no_new_privs && (r = rt_seccomp_bpf_load(&c->seccomp)) < 0) {
		berr_errno(&err, r, "load the seccomp filter");
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}
	if (rt_switch_user(s, &err) < 0)
		child_fail(sync, RT_EXIT_SETUP, err, "user");
	if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		berr_errno(&err, errno, "no_new_privs");
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}
	prctl(PR_SET_PDEATHSIG, 0);
	/* With no_new_privs the filter goes last, so it need not allow our own setup. */
	if (c->seccomp.len && s->no_new_privs && (r = rt_seccomp_bpf_load(&c->seccomp)) < 0) {
		berr_errno(&err, r, "load the seccomp filter");
		child_fail(sync, RT_EXIT_SETUP, err, NULL);
	}
	execve(exe, s->args.v, env ? env : empty_env);
	int e = errno;
	berr_set(&err, e, "exec: \"%s\": %s", s->args.v[0],
		 e == EACCES ? "permission denied" : strerror(e));
	child_fail(sync, e == ENOENT || e == ENOTDIR ? RT_EXIT_NOT_FOUND : RT_EXIT_CANNOT_EXEC, err,
		   NULL);
}

/* ---- the parent ---- */

/* cgroup_fd >= 0: create the child in that cgroup2 directory (CLONE_INTO_CGROUP); when
 * the kernel refuses that, *ret_in_cgroup says 0 and the caller moves the child. */
/* *wait_go is set to 1 before the plain clone after a refused CLONE_INTO_CGROUP: the child,
 * a copy of our memory, then waits for the parent to move it. */
static pid_t clone_child(unsigned long flags, int cgroup_fd, int *ret_pidfd, int *ret_in_cgroup,
			 int *wait_go)
{
	int pidfd = -1;
	struct clone_args args = {
	    .flags = flags | CLONE_PIDFD,
	    .pidfd = (uint64_t)(uintptr_t)&pidfd,
	    .exit_signal = SIGCHLD,
	};
	*ret_in_cgroup = 0;
	if (cgroup_fd >= 0) {
		struct clone_args a = args;
		a.flags |= CLONE_INTO_CGROUP;
		a.cgroup = (uint64_t)cgroup_fd;
		long pid = syscall(SYS_clone3, &a, sizeof(a));
		if (pid >= 0) {
			if (pid > 0) {
				*ret_pidfd = pidfd;
				*ret_in_cgroup = 1;
			}
			return (pid_t)pid;
		}
		/* Before Linux 5.7, or a cgroup the kernel refuses (the caller's write gives
		 * the error message then): the plain way. */
		*wait_go = 1;
	}
	/* A raw clone (no glibc wrapper exists for clone3): the child runs on a copy of our
	 * stack like after fork(), but glibc does not know about it, so the child must not
	 * use thread-related glibc state (raise, abort, pthread_*). It only does syscalls,
	 * allocations and formatting before execve or _exit. */
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0 && errno == ENOSYS) {
		pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
		if (pid > 0) {
			pidfd = pidfd_open((pid_t)pid, 0);
			if (pidfd < 0) {
				int e = errno;
				kill((pid_t)pid, SIGKILL);
				waitpid((pid_t)pid, NULL, 0);
				errno = e;
				return -1;
			}
		}
	}
	if (pid > 0)
		*ret_pidfd = pidfd;
	return (pid_t)pid;
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int rt_linux_start(const struct rt_spec *spec, const struct rt_stdio *io, struct rt_cgroup *cg,
		   struct rt_process *ret, int *ret_exit_code, struct berr **err)
{
	int r;
	*ret_exit_code = RT_EXIT_SETUP;
	ret->pid = -1;
	ret->pidfd = -1;
	ret->pty_master = -1;
	if (!spec->rootfs || spec->args.n == 0)
		return berr_set(err, EINVAL, "the spec lacks a rootfs or a command");
	if (spec->lowerdirs.n && (!spec->upperdir || !spec->workdir))
		return berr_set(err, EINVAL, "an overlay rootfs needs an upper and a work dir");

	struct child c = {.spec = spec, .io = io};
	_cleanup_close_ int sync = -1;
	struct rt_cgroup_join cgj = {.v2_fd = -1};
	if ((r = rt_seccomp_mode_bpf(spec->seccomp, spec->seccomp_profile, spec->caps, &c.seccomp,
				     err)) < 0)
		return berr_wrap(err, "seccomp");
	if (cg) {
		if ((r = rt_cgroup_join_prepare(cg, &cgj, err)) < 0) {
			berr_wrap(err, "cgroup");
			goto out;
		}
		c.cgj = &cgj;
	}

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = berr_errno(err, errno, "socketpair");
		goto out;
	}
	/* The cgroup namespace is unshared later, from inside the cgroup (see child_main). */
	unsigned long flags =
	    (spec->namespaces | CLONE_NEWNS) &
	    (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET);
	int pidfd = -1, in_cgroup = 0;
	pid_t pid = clone_child(flags, cgj.v2_fd, &pidfd, &in_cgroup, &c.wait_go);
	if (pid == 0) {
		close(sv[0]);
		c.sync = sv[1];
		child_main(&c);
	}
	close(sv[1]);
	sync = sv[0];
	if (pid < 0) {
		r = berr_errno(err, errno, "clone");
		goto out;
	}

	if (cg && !in_cgroup && (r = rt_cgroup_join_v2_pid(&cgj, pid, err)) < 0) {
		kill(pid, SIGKILL);
		reap(pid);
		close(pidfd);
		berr_wrap(err, "cgroup");
		goto out;
	}
	if (c.wait_go && send(sync, "G", 1, MSG_NOSIGNAL) != 1) {
		r = berr_errno(err, errno, "start the container's init");
		kill(pid, SIGKILL);
		reap(pid);
		close(pidfd);
		goto out;
	}

	int master = -1;
	for (;;) {
		struct failure f;
		int fd = -1;
		long n = rt_fd_recv(sync, &f, sizeof(f), &fd);
		if (n > 0 && f.kind == 'P' && fd >= 0 && master < 0) {
			master = fd;
			continue;
		}
		if (fd >= 0)
			close(fd);
		if (n == 0) {
			r = 0; /* execve closed the socket */
			break;
		}
		if (n < 0 && n == -EINTR)
			continue;
		if (master >= 0)
			close(master);
		master = -1;
		if (n == (long)sizeof(f) && f.kind == 'E') {
			f.msg[sizeof(f.msg) - 1] = '\0';
			*ret_exit_code = f.exit_code;
			r = berr_set(err, f.errno_code ? f.errno_code : EIO, "%s", f.msg);
		} else {
			r = berr_errno(err, n < 0 ? (int)n : EPROTO,
				       "the container's init failed before reporting");
		}
		kill(pid, SIGKILL);
		reap(pid);
		close(pidfd);
		goto out;
	}
	if (spec->tty && master < 0) {
		kill(pid, SIGKILL);
		reap(pid);
		close(pidfd);
		r = berr_set(err, EPROTO, "the container's init sent no pty");
		goto out;
	}
	ret->pid = pid;
	ret->pidfd = pidfd;
	ret->pty_master = master;
	*ret_exit_code = 0;
out:
	rt_cgroup_join_close(&cgj);
	rt_seccomp_bpf_free(&c.seccomp);
	return r;
}

int rt_proc_start_time(pid_t pid, unsigned long long *ret, int *ret_zombie)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return n < 0 ? -errno : -ENOENT;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields restart after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EINVAL;
	p += 2;
	char state = *p;
	/* After the ')': field 3 (state) ... field 22 (starttime): skip 19 separators. */
	for (int i = 0; i < 19; i++) {
		p = strchr(p, ' ');
		if (!p)
			return -EINVAL;
		p++;
	}
	char *end;
	errno = 0;
	unsigned long long st = strtoull(p, &end, 10);
	if (errno || end == p)
		return -EINVAL;
	*ret = st;
	if (ret_zombie)
		*ret_zombie = state == 'Z' || state == 'X';
	return 0;
}
