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
#include "strv.h"

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

	/* Networking prepared by the caller (src/cmd/ctrnet.c). With join_netns, the
	 * container joins the network namespace netns_fd instead of getting a new one; the
	 * monitor keeps it open, so a restarted container finds the same interfaces. The
	 * caller keeps its own fd. */
	int join_netns;
	int netns_fd;
	/* For the monitor program's extension (struct rt_monitor_ext, berth-monitor.c): ext
	 * is passed to its setup (borrowed; NULL: none), with copies of ext_fds. */
	json_t *ext;
	const int *ext_fds;
	size_t n_ext_fds;
	/* A program (argv, exit_command->v[0] an absolute path) that the monitor runs after
	 * the container's last run, before autoremove, and waits for (at most
	 * RT_MONITOR_EXIT_COMMAND_MS, then it is killed): conmon's --exit-command. It does
	 * not run when the first start fails, since the caller learns of that and cleans up
	 * itself. Its stdio is /dev/null. NULL: none. */
	const struct strv *exit_command;
};

#define RT_MONITOR_EXIT_COMMAND_MS 30000
/* At most this many ext_fds (a published port range needs one or two per port). */
#define RT_MONITOR_EXT_FDS_MAX 1024

/* Duties of the monitor program that the runtime does not know about: berth-monitor.c
 * plugs in the userland proxy of published IPv6 ports and holds the port reservations
 * (docs/internals/NET.md). Every member may be NULL. The monitor is single-threaded: the
 * callbacks must not block. */
struct rt_monitor_ext {
	/* Before the container's first start, with rt_monitor_opts.ext (NULL when none) and
	 * the ext_fds, now owned by the extension (close-on-exec). A failure fails the start
	 * with err's message. */
	int (*setup)(json_t *opts, int *fds, size_t nfds, struct berr **err);
	/* An fd the monitor polls for readability (-1: none), and how long it may wait
	 * before calling dispatch regardless (-1: no limit). */
	int (*poll_fd)(void);
	int (*timeout_ms)(void);
	/* Called when poll_fd is readable or the timeout passed. */
	void (*dispatch)(void);
	/* After the last run and the exit command: close everything. */
	void (*finish)(void);
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
 * container on the connection at fd 3 (network namespace and ext fds from fd 5 on).
 * Returns only when the options are unusable. ext may be NULL. */
int rt_monitor_main(int argc, char **argv);
int rt_monitor_main_ext(int argc, char **argv, const struct rt_monitor_ext *ext);

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
