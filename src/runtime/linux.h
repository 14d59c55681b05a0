/* Starting a container's init process on Linux: namespaces, the root filesystem and its
 * mounts, then the process's identity and confinement, then execve. The steps and their
 * order are described in docs/internals/RUNTIME.md.
 */
#ifndef BERTH_RUNTIME_LINUX_H
#define BERTH_RUNTIME_LINUX_H

#include <sys/types.h>

#include "container.h"
#include "err.h"

struct rt_cgroup;

/* Docker's exit codes for a container that could not start. */
#define RT_EXIT_SETUP 125	/* the runtime failed (mounts, namespaces, ...) */
#define RT_EXIT_CANNOT_EXEC 126 /* the command is not executable (permission, directory) */
#define RT_EXIT_NOT_FOUND 127	/* the command does not exist */

/* The container's stdio when spec->tty is 0: caller fds dup'ed onto 0, 1 and 2 in the
 * container; -1 gives /dev/null. The caller keeps and closes its fds. */
struct rt_stdio {
	int in, out, err;
};

struct rt_process {
	pid_t pid;	/* the init process, in the caller's pid namespace; a child of the caller */
	int pidfd;	/* pidfd of pid (O_CLOEXEC), the caller's to close */
	int pty_master; /* spec->tty: the pty master (O_CLOEXEC, the caller's); else -1 */
};

/* Start the container's init as a child of the calling process and return once it has
 * called execve (successfully) or failed.
 *
 * The child is cloned into new mount, pid, uts, ipc and net namespaces (those in
 * spec->namespaces) and waits; the caller puts it into cg (when not NULL) and lets it go on;
 * it then unshares its cgroup namespace (so that the namespace's root is its own cgroup),
 * builds the root filesystem, pivots into it, sets up the process and execs.
 *
 * The seccomp profile (RT_SECCOMP_FILE) is read and compiled here in the caller, so its
 * errors name the file before any process exists.
 *
 * Returns 0 with *ret filled, or -errno with *err set and *ret_exit_code set to Docker's
 * code for the failure: RT_EXIT_NOT_FOUND (executable file not found in $PATH, no such
 * file), RT_EXIT_CANNOT_EXEC (permission denied, a directory, not an executable format),
 * RT_EXIT_SETUP for everything else. The failed child has been reaped then.
 *
 * The caller must be single-threaded (the child runs on from a raw clone) and root. */
int rt_linux_start(const struct rt_spec *spec, const struct rt_stdio *io, struct rt_cgroup *cg,
		   struct rt_process *ret, int *ret_exit_code, struct berr **err);

/* Tests set this to mount overlays with mount(2), the fallback for kernels before 6.8. */
extern int rt_linux_overlay_mount2;

/* Read field 22 (starttime, clock ticks after boot) of /proc/<pid>/stat: with the pid it
 * identifies a process across pid reuse. *ret_zombie (may be NULL) is set for a zombie.
 * -ENOENT when there is no such process. */
/* Find a command as Go's exec.LookPath does (Docker's behaviour): a name with a slash as is,
 * else the first entry of env's PATH (the default PATH when unset) holding a regular file
 * with an execute bit. Returns 0 with *ret (malloc'ed, the caller's), or the exit code
 * (126/127, 125 on ENOMEM) with *err set. Used by the init process and by exec. */
int rt_lookup_executable(const char *file, char **env, char **ret, struct berr **err);

/* Switch to the spec's uid, gid and groups, keeping its capability set across the change
 * (order in docs/internals/CONFINE.md). In the container's process, before execve. */
int rt_switch_user(const struct rt_spec *s, struct berr **err);

int rt_proc_start_time(pid_t pid, unsigned long long *ret, int *ret_zombie);

#endif
