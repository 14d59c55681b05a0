/* The per-container monitor (berth's conmon): a small process, detached from the command
 * that started it, that is the parent of the container's init. It
 *  - owns the container's pty master, or its stdout/stderr (and stdin) pipes;
 *  - writes the output to <root>/containers/<id>/<id>-json.log in Docker's json-file format;
 *  - serves attach clients on <runroot>/containers/<id>/attach (SOCK_SEQPACKET);
 *  - records the exit in state.json, applies the restart policy, and cleans up: cgroup,
 *    attach socket, and with autoremove the whole container directory.
 * One thread, one poll() loop, fixed buffers. Design notes: docs/internals/RUNTIME.md.
 *
 * The attach protocol: every message is one SEQPACKET datagram, a type byte and a payload.
 */
#ifndef BERTH_RUNTIME_MONITOR_H
#define BERTH_RUNTIME_MONITOR_H

#include <sys/types.h>

#include "container.h"
#include "err.h"

enum rt_attach_msg {
	RT_MSG_STDIN = 'i',	/* client -> monitor: bytes for the container's stdin */
	RT_MSG_STDIN_EOF = 'e', /* client -> monitor: close the container's stdin (pipes only) */
	RT_MSG_RESIZE = 'w',	/* client -> monitor: uint16 rows, uint16 cols (host order) */
	RT_MSG_STDOUT = 'o',	/* monitor -> client: output (everything, with a tty) */
	RT_MSG_STDERR = 'r',	/* monitor -> client */
	RT_MSG_EXIT = 'x',	/* monitor -> client: int32 exit code; the last message */
	RT_MSG_STARTED = 's',	/* monitor -> starter: int32 container pid, int32 monitor pid */
	RT_MSG_FAILED = 'f',	/* monitor -> starter: int32 exit code, then the message */
};
#define RT_MSG_MAX 8192 /* payload bytes per message */

enum rt_restart_mode {
	RT_RESTART_NO = 0,
	RT_RESTART_ALWAYS,
	RT_RESTART_ON_FAILURE,
	RT_RESTART_UNLESS_STOPPED,
};

struct rt_restart_policy {
	enum rt_restart_mode mode;
	int max_retries; /* on-failure:N; 0 = no limit */
};

/* Docker's --restart: "no", "always", "unless-stopped", "on-failure[:N]". */
int rt_restart_parse(const char *s, struct rt_restart_policy *ret, struct berr **err);

struct rt_monitor_opts {
	const char *root;    /* the container's directory is <root>/containers/<id> */
	const char *runroot; /* the attach socket goes under <runroot>/containers/<id>/ */
	const char *id;
	const struct rt_spec *spec;
	int interactive; /* -i: the container's stdin stays open for attach clients */
	int autoremove;	 /* --rm: remove the container directory after the exit */
	struct rt_restart_policy restart;
	unsigned short rows, cols; /* initial pty size (0: leave the kernel's default) */
	/* The monitor program; NULL: $BERTH_MONITOR, else berth-monitor beside the running
	 * binary, else the installed one (libexecdir/berth/berth-monitor). */
	const char *monitor_path;
};

struct rt_monitor_started {
	pid_t pid; /* the container's init */
	pid_t monitor_pid;
};

/* Start the monitor program (double fork and setsid, so that it outlives the caller and
 * belongs to no terminal; then exec of berth-monitor) and let it start the container. Returns once
 * the container runs, or failed to start: then -errno with *err set and *ret_exit_code = 125, 126
 * or 127 (the monitor has already recorded the failure in state.json and cleaned up).
 *
 * The container directory must exist (rt_container_dir_create). When ret_conn is not NULL,
 * *ret_conn is the caller's attach connection, connected from before the container's first
 * byte of output (what `run` needs); pass it to rt_attach_relay() or close it. When NULL, the
 * container runs detached. */
int rt_monitor_start(const struct rt_monitor_opts *o, int *ret_conn, struct rt_monitor_started *ret,
		     int *ret_exit_code, struct berr **err);

/* The monitor program's main (berth-monitor): reads its options from fd 4 and serves the
 * container on the connection at fd 3. Returns only when the options are unusable. */
int rt_monitor_main(int argc, char **argv);

/* Connect to a running container's monitor. -ENOENT when it has none. */
int rt_attach_connect(const char *runroot, const char *id, int *ret_conn, struct berr **err);

struct rt_attach_io {
	int in;	 /* the caller's input, or -1 to send none */
	int out; /* where RT_MSG_STDOUT goes */
	int err; /* where RT_MSG_STDERR goes */
	int tty; /* the container has a pty: raw mode for `in` when it is a terminal, window
		    size (of `in`, else of `out`) forwarded on SIGWINCH, detach keys on */
	const char *detach_keys; /* NULL: RT_DETACH_KEYS_DEFAULT; "": none */
};

#define RT_ATTACH_EXITED 0   /* *ret_exit_code holds the container's exit code */
#define RT_ATTACH_DETACHED 1 /* the user typed the detach keys */

/* Relay between the caller's terminal or files and the container until it exits or the
 * user detaches. The caller's terminal settings and signal mask are restored before it
 * returns. conn is not closed. -EPIPE when the monitor went away without an exit code. */
int rt_attach_relay(int conn, const struct rt_attach_io *io, int *ret_exit_code, struct berr **err);

#endif
