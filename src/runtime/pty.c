#include "pty.h"
#include "cleanup.h"
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "banned.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

int rt_pty_open(int dirfd, const char *ptmx_path, int *ret_master, int *ret_slave)
{
	_cleanup_close_ int master = -1;
	if (dirfd == AT_FDCWD)
		master = open(ptmx_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	else
		master = fs_open_in_root(dirfd, ptmx_path, O_RDWR | O_NOCTTY, 0);
	if (master < 0)
		return dirfd == AT_FDCWD ? -errno : master;
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return -errno;
	/* TIOCGPTPEER (Linux 4.13) opens the slave that belongs to this master without a path
	 * lookup: a /dev/pts/N path could be raced or resolve in the wrong devpts instance. */
	int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return -errno;
	*ret_master = TAKE_FD(master);
	*ret_slave = slave;
	return 0;
}

int rt_term_raw(int fd, struct termios *ret_saved)
{
	struct termios t;
	if (tcgetattr(fd, &t) < 0)
		return -errno;
	*ret_saved = t;
	cfmakeraw(&t);
	/* cfmakeraw clears OPOST; keep output processing so that the caller's own messages
	 * printed while raw ("\n") still start at column 0. The container's output comes
	 * through its own pty, already processed. */
	t.c_oflag |= OPOST;
	if (tcsetattr(fd, TCSADRAIN, &t) < 0)
		return -errno;
	return 0;
}

int rt_term_restore(int fd, const struct termios *saved)
{
	return tcsetattr(fd, TCSADRAIN, saved) < 0 ? -errno : 0;
}

int rt_pty_get_size(int fd, unsigned short *ret_rows, unsigned short *ret_cols)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) < 0)
		return -errno;
	*ret_rows = ws.ws_row;
	*ret_cols = ws.ws_col;
	return 0;
}

int rt_pty_set_size(int fd, unsigned short rows, unsigned short cols)
{
	struct winsize ws = {.ws_row = rows, .ws_col = cols};
	return ioctl(fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

static int parse_key(const char *k, size_t len, unsigned char *ret)
{
	if (len == 1) {
		*ret = (unsigned char)k[0];
		return 0;
	}
	if (len == 6 && strncmp(k, "ctrl-", 5) == 0) {
		char c = k[5];
		if (c >= 'a' && c <= 'z') {
			*ret = (unsigned char)(c - 'a' + 1);
			return 0;
		}
		if (c >= 'A' && c <= 'Z') {
			*ret = (unsigned char)(c - 'A' + 1);
			return 0;
		}
		/* ctrl-@ is NUL, ctrl-[ ESC, ctrl-\ FS, ctrl-] GS, ctrl-^ RS, ctrl-_ US. */
		const char *sym = "@[\\]^_";
		const char *p = strchr(sym, c);
		if (p && c) {
			*ret = (unsigned char)(p - sym == 0 ? 0 : 27 + (p - sym) - 1);
			return 0;
		}
	}
	return -EINVAL;
}

int rt_detach_keys_parse(const char *spec, struct rt_detach *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	const char *p = spec;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		unsigned char k;
		if (ret->n >= RT_DETACH_KEYS_MAX || parse_key(p, len, &k) < 0) {
			memset(ret, 0, sizeof(*ret));
			return berr_set(err, EINVAL, "invalid detach key '%.*s'", (int)len, p);
		}
		ret->keys[ret->n++] = k;
		if (!comma)
			break;
		p = comma + 1;
		if (!*p) {
			memset(ret, 0, sizeof(*ret));
			return berr_set(err, EINVAL, "invalid detach keys '%s'", spec);
		}
	}
	return 0;
}

int rt_detach_feed(struct rt_detach *d, const unsigned char *in, size_t n, unsigned char *out,
		   size_t *ret_out_n)
{
	size_t o = 0;
	if (d->n == 0) {
		memcpy(out, in, n);
		*ret_out_n = n;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (in[i] == d->keys[d->matched]) {
			if (++d->matched == d->n) {
				d->matched = 0;
				*ret_out_n = o;
				return 1;
			}
			continue;
		}
		/* Not the sequence after all: what was held back belongs to the container. */
		memcpy(out + o, d->keys, d->matched);
		o += d->matched;
		d->matched = 0;
		if (in[i] == d->keys[0]) {
			d->matched = 1;
			if (d->n == 1) {
				d->matched = 0;
				*ret_out_n = o;
				return 1;
			}
			continue;
		}
		out[o++] = in[i];
	}
	*ret_out_n = o;
	return 0;
}

int rt_fd_send(int sock, int fd, const void *data, size_t len)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

long rt_fd_recv(int sock, void *data, size_t cap, int *ret_fd)
{
	struct iovec iov = {.iov_base = data, .iov_len = cap};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = u.buf,
	    .msg_controllen = sizeof(u.buf),
	};
	*ret_fd = -1;
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			/* Only one descriptor is expected; close any extra one sent to us. */
			if (*ret_fd < 0)
				*ret_fd = fd;
			else
				close(fd);
		}
	}
	if (msg.msg_flags & MSG_CTRUNC) {
		if (*ret_fd >= 0)
			close(*ret_fd);
		*ret_fd = -1;
		return -EMSGSIZE;
	}
	return (long)n;
}
