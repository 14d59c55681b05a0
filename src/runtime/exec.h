/* Running another process in a running container (`berth exec`), the way runc exec does:
 * the new process joins the container's namespaces (pid, mount, uts, ipc, net, cgroup),
 * its cgroup, and gets the confinement of the spec it is given (capabilities, seccomp,
 * no_new_privs, rlimits, user, groups, working directory, environment).
 *
 * How: the caller (single-threaded, root) enters the container's pid namespace for its
 * children only (setns(CLONE_NEWPID) changes pid_for_children), forks the process, puts
 * it into the cgroup and lets it go on; the child joins the other namespaces with one
 * setns() on a pidfd of the container's init (atomic: all or none, and the pidfd cannot
 * name a reused pid), which also moves its root and working directory into the
 * container's. A pty comes from the container's own devpts (through /proc/<pid>/root), as
 * for the container's init. The process is a child of the caller, which waits for it.
 */
#ifndef BERTH_RUNTIME_EXEC_H
#define BERTH_RUNTIME_EXEC_H

#include <sys/types.h>

#include "container.h"
#include "err.h"
#include "linux.h"

struct rt_cgroup;

struct rt_exec_opts {
	pid_t pid;                    /* the container's init, host pid namespace */
	unsigned long long pid_start; /* its start time (rt_proc_start_time), or 0: unchecked */
	struct rt_cgroup *cg;         /* the container's cgroup, or NULL */
	/* The process: args, env, cwd, uid, gid, groups, caps, seccomp (+profile),
	 * no_new_privs, rlimits and tty are used; nothing else of the spec is. */
	const struct rt_spec *spec;
	struct rt_stdio io;        /* without a tty: the process's stdin/out/err (-1: /dev/null) */
	unsigned short rows, cols; /* with a tty: its initial size (0: the kernel's) */
	int detach;                /* a new session: the process outlives the caller */
};

struct rt_exec_proc {
	pid_t pid;      /* host pid; a child of the caller */
	int pty_master; /* spec->tty: the pty master (O_CLOEXEC, the caller's); else -1 */
};

/* Start the process. Returns 0 once it has called execve, or -errno with *err set and
 * *ret_exit_code = 126 (cannot execute: permission, a directory, a bad working directory),
 * 127 (not found) or 125 (anything else; e.g. -ESRCH when the container is not running).
 * The failed child has been reaped then. */
int rt_exec_start(const struct rt_exec_opts *o, struct rt_exec_proc *ret, int *ret_exit_code,
		  struct berr **err);

/* Wait for a started process; *ret_exit_code is its status, or 128+signal. With a pty,
 * relays between in/out (the caller's terminal: raw mode, window size on SIGWINCH) and the
 * master until the process exits and its output is drained; in may be -1. Closes the
 * master. Returns 0 or -errno. */
int rt_exec_wait(struct rt_exec_proc *p, int in, int out, int *ret_exit_code, struct berr **err);

#endif
