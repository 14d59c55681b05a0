#include "exec.h"
#include "caps.h"
#include "cgroup.h"
#include "cleanup.h"
#include "fs.h"
#include "pty.h"
#include "rlimit.h"
#include "seccomp.h"
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "banned.h"


/* What the child reports when it fails before execve. */
struct failure {
	int exit_code;
	int errnum;
	char msg[1024];
};

static const struct {
	const char *name;
	int flag;
} namespaces[] = {
	{"mnt", CLONE_NEWNS}, {"uts", CLONE_NEWUTS},	  {"ipc", CLONE_NEWIPC},
	{"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP}, {"pid", CLONE_NEWPID},
};

/* The namespaces of pid that differ from ours: only those are joined (a container run
 * with --network host shares ours, and setns into one's own user-visible namespace is
 * pointless). */
static int ns_differing(pid_t pid, int *ret_flags, struct berr **err)
{
	int flags = 0;
	for (size_t i = 0; i < ARRAY_SIZE(namespaces); i++) {
		char theirs[64], ours[64];
		struct stat a, b;
		snprintf(theirs, sizeof(theirs), "/proc/%d/ns/%s", (int)pid, namespaces[i].name);
		snprintf(ours, sizeof(ours), "/proc/self/ns/%s", namespaces[i].name);
		if (stat(theirs, &a) < 0)
			return berr_errno(err, errno, "namespace %s of pid %d", namespaces[i].name,
					  (int)pid);
		if (stat(ours, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
			flags |= namespaces[i].flag;
	}
	*ret_flags = flags;
	return 0;
}

static _Noreturn void child_fail(int fd, int code, struct berr *e, const char *what)
{
	struct failure f = {.exit_code = code, .errnum = e ? e->code : EIO};
	snprintf(f.msg, sizeof(f.msg), "%s%s%s", what ? what : "", what && e ? ": " : "",
		 e ? e->msg : "");
	ssize_t n = write(fd, &f, sizeof(f));
	(void)n;
	_exit(code);
}

struct child {
	const struct rt_exec_opts *o;
	int pidfd, nsflags, sync_rd, fail_wr, pty_slave;
	struct rt_seccomp_bpf seccomp; /* prepared in the parent; len 0: none */
};

static int setup_stdio(const struct child *c, struct berr **err)
{
	int fds[3];
	_cleanup_close_ int devnull = -1;
	if (c->pty_slave >= 0) {
		fds[0] = fds[1] = fds[2] = c->pty_slave;
	} else {
		const int want[3] = {c->o->io.in, c->o->io.out, c->o->io.err};
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
	/* Sources that sit on 0..2 move away first so that one dup2 cannot clobber another. */
	for (int i = 0; i < 3; i++)
		if (fds[i] <= 2 && fds[i] != i) {
			int d = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
			if (d < 0)
				return berr_errno(err, errno, "dup");
			for (int j = i + 1; j < 3; j++)
				if (fds[j] == fds[i])
					fds[j] = d;
			fds[i] = d;
		}
	for (int i = 0; i < 3; i++)
		if (fds[i] != i && dup2(fds[i], i) < 0)
			return berr_errno(err, errno, "dup2");
		else if (fds[i] == i)
			fcntl(i, F_SETFD, 0);
	if ((c->pty_slave >= 0 || c->o->detach) && setsid() < 0)
		return berr_errno(err, errno, "setsid");
	if (c->pty_slave >= 0 && ioctl(0, TIOCSCTTY, 0) < 0)
		return berr_errno(err, errno, "set the controlling terminal");
	return 0;
}

static _Noreturn void child_main(struct child *c)
{
	const struct rt_spec *s = c->o->spec;
	struct berr *err = NULL;
	int fd = c->fail_wr, r;
	char go;

	/* Default dispositions and an empty mask, as for the container's init: SIG_IGN and
	 * blocked signals survive execve. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (!c->o->detach)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (read(c->sync_rd, &go, 1) != 1 || go != 'G')
		_exit(RT_EXIT_SETUP);

	/* One setns for all: either every namespace is joined or none. Joining the mount
	 * namespace also moves root and cwd to the container's. */
	int join = c->nsflags & ~CLONE_NEWPID;
	if (join && setns(c->pidfd, join) < 0) {
		berr_errno(&err, errno, "join the container's namespaces");
		child_fail(fd, RT_EXIT_SETUP, err, NULL);
	}
	if (setup_stdio(c, &err) < 0)
		child_fail(fd, RT_EXIT_SETUP, err, NULL);
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		berr_errno(&err, errno, "close_range");
		child_fail(fd, RT_EXIT_SETUP, err, NULL);
	}
	if (s->nrlimits && rt_rlimit_apply(s->rlimits, s->nrlimits, &err) < 0)
		child_fail(fd, RT_EXIT_SETUP, err, "rlimits");
	umask(022);
	const char *cwd = s->cwd && *s->cwd ? s->cwd : "/";
	if (chdir(cwd) < 0) {
		int e = errno;
		berr_set(&err, e, "chdir to cwd (\"%s\") set in config.json failed: %s", cwd,
			 strerror(e));
		child_fail(fd, RT_EXIT_CANNOT_EXEC, err, NULL);
	}
	_cleanup_free_ char *exe = NULL;
	int code = rt_lookup_executable(s->args.v[0], s->env.v, &exe, &err);
	if (code)
		child_fail(fd, code, err, NULL);
	if (c->seccomp.len && !s->no_new_privs && (r = rt_seccomp_bpf_load(&c->seccomp)) < 0) {
		berr_errno(&err, r, "load the seccomp filter");
		child_fail(fd, RT_EXIT_SETUP, err, NULL);
	}
	if (rt_switch_user(s, &err) < 0)
		child_fail(fd, RT_EXIT_SETUP, err, "user");
	if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		berr_errno(&err, errno, "no_new_privs");
		child_fail(fd, RT_EXIT_SETUP, err, NULL);
	}
	prctl(PR_SET_PDEATHSIG, 0);
	if (c->seccomp.len && s->no_new_privs && (r = rt_seccomp_bpf_load(&c->seccomp)) < 0) {
		berr_errno(&err, r, "load the seccomp filter");
		child_fail(fd, RT_EXIT_SETUP, err, NULL);
	}
	static char *empty_env[] = {NULL};
	execve(exe, s->args.v, s->env.v ? s->env.v : empty_env);
	int e = errno;
	berr_set(&err, e, "exec: \"%s\": %s", s->args.v[0],
		 e == EACCES ? "permission denied" : strerror(e));
	child_fail(fd, e == ENOENT || e == ENOTDIR ? RT_EXIT_NOT_FOUND : RT_EXIT_CANNOT_EXEC, err,
		   NULL);
}

/* A pidfd for the container's init that is known to name it (not a reused pid). */
static int open_init(const struct rt_exec_opts *o, struct berr **err)
{
	int fd = (int)syscall(SYS_pidfd_open, o->pid, 0);
	if (fd < 0) {
		if (errno == ESRCH)
			return berr_set(err, ESRCH, "the container is not running");
		return berr_errno(err, errno, "pidfd_open %d", (int)o->pid);
	}
	if (o->pid_start) {
		unsigned long long st;
		int zombie = 0;
		if (rt_proc_start_time(o->pid, &st, &zombie) < 0 || st != o->pid_start || zombie) {
			close(fd);
			return berr_set(err, ESRCH, "the container is not running");
		}
	}
	return fd;
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int rt_exec_start(const struct rt_exec_opts *o, struct rt_exec_proc *ret, int *ret_exit_code,
		  struct berr **err)
{
	const struct rt_spec *s = o->spec;
	int r;
	*ret_exit_code = RT_EXIT_SETUP;
	ret->pid = -1;
	ret->pty_master = -1;
	if (!s || s->args.n == 0)
		return berr_set(err, EINVAL, "no command given");

	struct child c = {.o = o, .pidfd = -1, .sync_rd = -1, .fail_wr = -1, .pty_slave = -1};
	_cleanup_close_ int pidfd = open_init(o, err);
	if (pidfd < 0)
		return pidfd;
	c.pidfd = pidfd;
	if ((r = ns_differing(o->pid, &c.nsflags, err)) < 0)
		return r;

	_cleanup_close_ int master = -1, slave = -1;
	if (s->tty) {
		char root[64];
		snprintf(root, sizeof(root), "/proc/%d/root", (int)o->pid);
		_cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		/* The pidfd is still alive after the open: /proc/<pid> was the container's. */
		if (rootfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
			return berr_set(err, ESRCH, "the container is not running");
		if ((r = rt_pty_open(rootfd, "dev/pts/ptmx", &master, &slave)) < 0)
			return berr_errno(err, r, "open a pty in the container");
		if (o->rows && o->cols)
			rt_pty_set_size(slave, o->rows, o->cols);
		c.pty_slave = slave;
	}
	if ((r = rt_seccomp_mode_bpf(s->seccomp, s->seccomp_profile, s->caps, &c.seccomp, err)) < 0)
		return berr_wrap(err, "seccomp");

	int syncp[2] = {-1, -1}, failp[2] = {-1, -1};
	_cleanup_close_ int self_pidns = -1;
	if (pipe2(syncp, O_CLOEXEC) < 0 || pipe2(failp, O_CLOEXEC) < 0) {
		r = berr_errno(err, errno, "pipe");
		goto out;
	}
	c.sync_rd = syncp[0];
	c.fail_wr = failp[1];

	/* Our own children (only this one) are born in the container's pid namespace. */
	if (c.nsflags & CLONE_NEWPID) {
		self_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
		if (self_pidns < 0 || setns(pidfd, CLONE_NEWPID) < 0) {
			r = berr_errno(err, errno, "join the container's pid namespace");
			goto out;
		}
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(syncp[1]);
		close(failp[0]);
		child_main(&c);
	}
	int fork_errno = errno;
	if (self_pidns >= 0 && setns(self_pidns, CLONE_NEWPID) < 0 && pid > 0) {
		/* Should not happen (our own namespace); the child is fine either way. */
		r = berr_errno(err, errno, "return to our pid namespace");
		kill(pid, SIGKILL);
		reap(pid);
		goto out;
	}
	if (pid < 0) {
		r = berr_errno(err, fork_errno, "fork");
		goto out;
	}
	close(failp[1]);
	failp[1] = -1;
	close(syncp[0]);
	syncp[0] = -1;

	if (o->cg && (r = rt_cgroup_enter(o->cg, pid, err)) < 0) {
		kill(pid, SIGKILL);
		reap(pid);
		berr_wrap(err, "cgroup");
		goto out;
	}
	if (write(syncp[1], "G", 1) != 1) {
		r = berr_errno(err, errno, "start the process");
		kill(pid, SIGKILL);
		reap(pid);
		goto out;
	}
	struct failure f;
	ssize_t n;
	do
		n = read(failp[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	if (n != 0) {
		if (n == (ssize_t)sizeof(f)) {
			f.msg[sizeof(f.msg) - 1] = '\0';
			*ret_exit_code = f.exit_code;
			r = berr_set(err, f.errnum ? f.errnum : EIO, "%s", f.msg);
		} else {
			r = berr_set(err, EPROTO, "the process failed before reporting");
		}
		reap(pid);
		goto out;
	}
	ret->pid = pid;
	ret->pty_master = TAKE_FD(master);
	*ret_exit_code = 0;
	r = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (syncp[i] >= 0)
			close(syncp[i]);
		if (failp[i] >= 0)
			close(failp[i]);
	}
	rt_seccomp_bpf_free(&c.seccomp);
	return r;
}

static void copy_size(int from_a, int from_b, int to)
{
	unsigned short rows, cols;
	if (rt_pty_get_size(from_a, &rows, &cols) == 0 ||
	    rt_pty_get_size(from_b, &rows, &cols) == 0)
		rt_pty_set_size(to, rows, cols);
}

static int status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return RT_EXIT_UNKNOWN;
}

int rt_exec_wait(struct rt_exec_proc *p, int in, int out, int *ret_exit_code, struct berr **err)
{
	int status = 0, r = 0;
	if (p->pty_master < 0) {
		while (waitpid(p->pid, &status, 0) < 0)
			if (errno != EINTR)
				return berr_errno(err, errno, "wait for the process");
		*ret_exit_code = status_code(status);
		return 0;
	}

	_cleanup_close_ int master = TAKE_FD(p->pty_master);
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	struct termios saved;
	int raw = in >= 0 && isatty(in) && rt_term_raw(in, &saved) == 0;
	sigset_t winch, oldmask;
	sigemptyset(&winch);
	sigaddset(&winch, SIGWINCH);
	sigprocmask(SIG_BLOCK, &winch, &oldmask);
	_cleanup_close_ int sfd = signalfd(-1, &winch, SFD_CLOEXEC | SFD_NONBLOCK);
	copy_size(in, out, master);
	fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);

	int in_open = in >= 0, exited = pidfd < 0;
	char buf[8192];
	for (;;) {
		struct pollfd pf[4];
		int np = 0, i_in = -1, i_sig = -1, i_pid = -1;
		pf[np++] = (struct pollfd){.fd = master, .events = POLLIN};
		if (in_open) {
			i_in = np;
			pf[np++] = (struct pollfd){.fd = in, .events = POLLIN};
		}
		if (sfd >= 0) {
			i_sig = np;
			pf[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		}
		if (!exited) {
			i_pid = np;
			pf[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		}
		/* Once the process is gone, what is left in the pty is read without waiting:
		 * a background process in the container may keep the slave open. */
		int pr = poll(pf, (nfds_t)np, exited ? 0 : -1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			r = berr_errno(err, errno, "poll");
			break;
		}
		if (pf[0].revents) {
			ssize_t n = read(master, buf, sizeof(buf));
			if (n > 0) {
				if (fs_write_all(out, buf, (size_t)n) < 0 && errno != EPIPE) {
					r = berr_errno(err, errno, "write output");
					break;
				}
				continue;
			}
			if (n < 0 && (errno == EINTR || errno == EAGAIN) && !exited)
				continue;
			break; /* EIO: the last slave is closed */
		}
		if (exited)
			break;
		if (i_in >= 0 && pf[i_in].revents) {
			ssize_t n = read(in, buf, sizeof(buf));
			if (n <= 0 && !(n < 0 && (errno == EINTR || errno == EAGAIN)))
				in_open = 0;
			else if (n > 0 && fs_write_all(master, buf, (size_t)n) < 0)
				in_open = 0;
		}
		if (i_sig >= 0 && pf[i_sig].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
			copy_size(in, out, master);
		}
		if (i_pid >= 0 && pf[i_pid].revents)
			exited = 1;
	}
	if (raw)
		rt_term_restore(in, &saved);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	while (waitpid(p->pid, &status, 0) < 0)
		if (errno != EINTR) {
			if (r == 0)
				r = berr_errno(err, errno, "wait for the process");
			return r;
		}
	*ret_exit_code = status_code(status);
	return r;
}
