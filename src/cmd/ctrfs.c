/* A container's layers and root file system for commit, cp, diff and export; see ctrfs.h. */
#include <jansson.h>

#include "ctrfs.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "linux.h"

#include "banned.h"

int ctrfs_is_up(const struct ctr *c)
{
	return (c->state.status == RT_STATUS_RUNNING || c->state.status == RT_STATUS_PAUSED) &&
	       c->state.pid > 0;
}

void ctrfs_close(struct ctrfs *fs)
{
	if (fs->upperfd >= 0)
		close(fs->upperfd);
	for (size_t i = 0; i < fs->nlower; i++)
		if (fs->lowerfds[i] >= 0)
			close(fs->lowerfds[i]);
	free(fs->lowerfds);
	if (fs->rootfd >= 0)
		close(fs->rootfd);
	free(fs->mounts);
	rt_spec_free(&fs->spec);
	memset(fs, 0, sizeof(*fs));
	fs->upperfd = fs->rootfd = -1;
}

static int add_mount(struct ctrfs *fs, const char *dest, const char *source, int readonly)
{
	struct cpath_mount *m = realloc(fs->mounts, (fs->nmounts + 1) * sizeof(*m));
	if (!m)
		return -ENOMEM;
	fs->mounts = m;
	m[fs->nmounts++] =
	    (struct cpath_mount){.dest = dest, .source = source, .readonly = readonly};
	return 0;
}

int ctrfs_open(const struct ctr *c, struct ctrfs *ret, struct berr **err)
{
	struct ctrfs *fs = ret;
	memset(fs, 0, sizeof(*fs));
	fs->upperfd = fs->rootfd = -1;
	int r = ctr_spec(c, &fs->spec, err);
	if (r < 0)
		return r;
	const struct rt_spec *s = &fs->spec;
	if (!s->upperdir || !s->lowerdirs.n)
		return berr_set(err, EINVAL, "container %s has no overlay root file system", c->id);
	fs->upperfd = open(s->upperdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->upperfd < 0)
		return berr_errno(err, errno, "container %s: open '%s'", c->id, s->upperdir);
	/* The init layer is <container dir>/init, beside the upper dir. */
	const char *slash = strrchr(s->upperdir, '/');
	size_t dl = slash ? (size_t)(slash - s->upperdir) : 0;
	fs->ninit = slash && strncmp(s->lowerdirs.v[0], s->upperdir, dl) == 0 &&
		    streq(s->lowerdirs.v[0] + dl, "/init");
	fs->lowerfds = calloc(s->lowerdirs.n, sizeof(int));
	if (!fs->lowerfds)
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < s->lowerdirs.n; i++) {
		int fd = open(s->lowerdirs.v[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return berr_errno(err, errno, "container %s: image layer '%s'", c->id,
					  s->lowerdirs.v[i]);
		fs->lowerfds[fs->nlower++] = fd;
	}
	/* The same files the runtime mounts: the user's bind mounts (tmpfs mounts have no
	 * host side; a copy lands in the root file system below them, as with Docker) and
	 * the three files of /etc. */
	const char *etc[3][2] = {{s->etc_hostname, "/etc/hostname"},
				 {s->etc_hosts, "/etc/hosts"},
				 {s->etc_resolv, "/etc/resolv.conf"}};
	for (int i = 0; i < 3; i++)
		if (etc[i][0] && add_mount(fs, etc[i][1], etc[i][0], 0) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < s->nmounts; i++) {
		const struct rt_mount *m = &s->mounts[i];
		if (m->type == RT_MOUNT_BIND && m->source &&
		    add_mount(fs, m->destination, m->source, (m->flags & MS_RDONLY) != 0) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

void ctrfs_cpath_root(const struct ctrfs *fs, const char *name, struct cpath_root *ret)
{
	*ret = (struct cpath_root){
	    .rootfd = fs->rootfd,
	    .mounts = fs->mounts,
	    .nmounts = fs->nmounts,
	    .readonly = fs->spec.readonly_rootfs,
	    .name = name,
	};
}

/* ---- a running container: a clone of its root mount ---- */

/* The child's half: join the container's mount namespace, where its root mount is then
 * ours to clone (open_tree(2) refuses mounts of other namespaces with EINVAL), and send the
 * detached clone back. Runs after fork: only system calls, ends in _exit. */
static void clone_child(int nsfd, int rootfd, int sock)
{
	int code = 0, fd = -1;
	if (setns(nsfd, CLONE_NEWNS) < 0)
		code = errno;
	else if ((fd = (int)syscall(SYS_open_tree, rootfd, "",
				    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)) < 0)
		code = errno;
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof(cbuf));
	struct iovec iov = {.iov_base = &code, .iov_len = sizeof(code)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	_exit(sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? 1 : 0);
}

static int recv_fd(int sock, int *ret_fd)
{
	int code = 0;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &code, .iov_len = sizeof(code)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t n;
	while ((n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -errno;
	int fd = -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (n != (ssize_t)sizeof(code) || (code == 0 && fd < 0)) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	if (code) {
		if (fd >= 0)
			close(fd);
		return -code;
	}
	*ret_fd = fd;
	return 0;
}

/* -ESRCH when the container's init is gone (or its pid names another process now). */
static int clone_running_root(const struct ctr *c, int *ret_fd, struct berr **err)
{
	pid_t pid = c->state.pid;
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -ESRCH;
	unsigned long long start;
	int zombie = 0;
	if (rt_proc_start_time(pid, &start, &zombie) < 0 || zombie || start != c->state.pid_start)
		return -ESRCH;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	_cleanup_close_ int rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	_cleanup_close_ int nsfd = open(path, O_RDONLY | O_CLOEXEC);
	/* Still alive after both opens: they name that process, not a successor. */
	if (rootfd < 0 || nsfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
		return -ESRCH;

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return berr_errno(err, errno, "socketpair");
	pid_t child = fork();
	if (child < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return berr_errno(err, e, "fork");
	}
	if (child == 0) {
		close(sv[0]);
		clone_child(nsfd, rootfd, sv[1]);
	}
	close(sv[1]);
	int fd = -1, r = recv_fd(sv[0], &fd);
	close(sv[0]);
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		return berr_errno(err, r, "container %s: clone its root mount", c->id);
	*ret_fd = fd;
	return 0;
}

/* ---- a stopped container: its overlay, detached ---- */

/* Overlay paths in the classic option string need escaping; /proc/self/fd paths do not. */
static int legacy_lowerdir(int fsfd, const struct rt_spec *s, const int *fds)
{
	_cleanup_buf_ struct buf opt = BUF_INIT;
	for (size_t i = 0; i < s->lowerdirs.n; i++)
		buf_printf(&opt, "%s/proc/self/fd/%d", i ? ":" : "", fds[i]);
	if (!opt.data)
		return -ENOMEM;
	return fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir", opt.data, 0) < 0 ? -errno : 0;
}

static int mount_stopped_root(const struct ctrfs *fs, int *ret_fd, struct berr **err)
{
	const struct rt_spec *s = &fs->spec;
	/* O_PATH fds of the layers stay valid in /proc/self/fd for the legacy form. */
	_cleanup_free_ int *fds = calloc(s->lowerdirs.n, sizeof(int));
	if (!fds)
		return berr_set(err, ENOMEM, "out of memory");
	int r = 0;
	for (size_t i = 0; i < s->lowerdirs.n; i++)
		fds[i] = -1;
	for (size_t i = 0; i < s->lowerdirs.n && r == 0; i++)
		if ((fds[i] = open(s->lowerdirs.v[i], O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			r = berr_errno(err, errno, "image layer '%s'", s->lowerdirs.v[i]);

	int fsfd = -1;
	for (int legacy = 0; r == 0 && legacy < 2; legacy++) {
		fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
		if (fsfd < 0) {
			r = berr_errno(err, errno, "overlay file system");
			break;
		}
		int e =
		    fsconfig(fsfd, FSCONFIG_SET_STRING, "source", "overlay", 0) < 0 ? -errno : 0;
		if (!legacy) {
			/* "lowerdir+" (Linux 6.8) takes one layer per call, with no limit from
			 * the size of a page of mount options. */
			for (size_t i = 0; e == 0 && i < s->lowerdirs.n; i++)
				if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+",
					     s->lowerdirs.v[i], 0) < 0)
					e = -errno;
			if (e == -EINVAL) {
				close(fsfd);
				fsfd = -1;
				continue;
			}
		} else if (e == 0) {
			e = legacy_lowerdir(fsfd, s, fds);
		}
		if (e == 0 &&
		    (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", s->upperdir, 0) < 0 ||
		     fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", s->workdir, 0) < 0))
			e = -errno;
		/* As the runtime mounts it (linux.c): the upper dir must stay a changeset. */
		static const char *const off[] = {"redirect_dir", "metacopy", "index"};
		for (size_t i = 0; e == 0 && i < ARRAY_SIZE(off); i++)
			if (fsconfig(fsfd, FSCONFIG_SET_STRING, off[i], "off", 0) < 0 &&
			    errno != EINVAL)
				e = -errno;
		if (e == 0 && fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
			e = -errno;
		if (e < 0)
			r = berr_errno(err, e, "mount the container's overlay");
		break;
	}
	if (r == 0 && fsfd < 0)
		r = berr_set(err, EOPNOTSUPP, "mount the container's overlay: not supported");
	int mfd = -1;
	if (r == 0 && (mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0)) < 0)
		r = berr_errno(err, errno, "mount the container's overlay");
	if (fsfd >= 0)
		close(fsfd);
	for (size_t i = 0; i < s->lowerdirs.n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (r < 0)
		return r;
	*ret_fd = mfd;
	return 0;
}

int ctrfs_mount_root(struct ctrfs *fs, const struct ctr *c, struct berr **err)
{
	if (fs->rootfd >= 0)
		return 0;
	if (ctrfs_is_up(c)) {
		int r = clone_running_root(c, &fs->rootfd, err);
		if (r != -ESRCH)
			return r;
		/* Stopped since it was looked up: its overlay is free to mount. */
	}
	return mount_stopped_root(fs, &fs->rootfd, err);
}
