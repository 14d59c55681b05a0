/* Terminals: the container's pty, the caller's terminal in raw mode, window sizes, the
 * detach key sequence, and passing a file descriptor over a unix socket.
 *
 * Where the pty lives: like runc, berth opens the pty in the container's OWN devpts
 * instance (mounted newinstance at <rootfs>/dev/pts before pivot_root), so that `tty` in the
 * container prints /dev/pts/0 and the container cannot see the host's ptys. The container's
 * init sends the master to the monitor over the sync socket (rt_fd_send), keeps the slave
 * as its stdin/stdout/stderr and controlling terminal, and bind-mounts it on /dev/console.
 */
#ifndef BERTH_RUNTIME_PTY_H
#define BERTH_RUNTIME_PTY_H

#include <stddef.h>
#include <termios.h>

#include "err.h"

/* Open dirfd/ptmx_path (inside dirfd as a root, see fs_open_in_root; AT_FDCWD and an
 * absolute path for the host's), unlock it and open its slave with TIOCGPTPEER (no path
 * lookup, so it works before and after pivot_root). Both fds are O_CLOEXEC and the
 * caller's. Returns 0 or -errno. */
int rt_pty_open(int dirfd, const char *ptmx_path, int *ret_master, int *ret_slave);

/* Put the terminal fd in raw mode (cfmakeraw), saving the old settings in *ret_saved for
 * rt_term_restore(). -ENOTTY when fd is no terminal. */
int rt_term_raw(int fd, struct termios *ret_saved);
int rt_term_restore(int fd, const struct termios *saved);

/* Window size of a terminal, and setting it (which sends SIGWINCH to the foreground
 * process group of the pty). Return 0 or -errno. */
int rt_pty_get_size(int fd, unsigned short *ret_rows, unsigned short *ret_cols);
int rt_pty_set_size(int fd, unsigned short rows, unsigned short cols);

/* The detach key sequence, Docker's syntax: comma-separated keys, each a single character
 * or "ctrl-X" with X one of a-z @ [ \ ] ^ _ ("ctrl-p,ctrl-q" is the default). An empty
 * string disables detaching. */
#define RT_DETACH_KEYS_MAX 16
#define RT_DETACH_KEYS_DEFAULT "ctrl-p,ctrl-q"
struct rt_detach {
	unsigned char keys[RT_DETACH_KEYS_MAX];
	size_t n;	/* 0: detaching disabled */
	size_t matched; /* bytes of keys seen so far, held back from the container */
};
/* Returns 0, or -EINVAL with *err naming the bad key. */
int rt_detach_keys_parse(const char *spec, struct rt_detach *ret, struct berr **err);

/* Filter n input bytes: what the container should get is written to out (which must hold
 * n + RT_DETACH_KEYS_MAX bytes) and its length to *ret_out_n. A prefix of the sequence is
 * held back until the next byte shows whether it completes the sequence; when it does not,
 * the held bytes are passed on. Returns 1 when the full sequence was typed (the bytes
 * before it are in out, the rest of in is dropped), else 0. */
int rt_detach_feed(struct rt_detach *d, const unsigned char *in, size_t n, unsigned char *out,
		   size_t *ret_out_n);

/* Send len bytes (len >= 1) and, when fd >= 0, the descriptor fd (SCM_RIGHTS) as one
 * message on a unix socket. Returns 0 or -errno. */
int rt_fd_send(int sock, int fd, const void *data, size_t len);
/* Receive one message of at most cap bytes; *ret_fd gets a passed descriptor (O_CLOEXEC,
 * the caller's) or -1. Returns the byte count (0 at end of stream) or -errno. */
long rt_fd_recv(int sock, void *data, size_t cap, int *ret_fd);

#endif
