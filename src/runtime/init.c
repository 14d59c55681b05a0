/* berth-init: the minimal init of `berth run --init` (Docker's docker-init, which is tini).
 *
 * It is PID 1 of the container: it starts the command as its only child, forwards every
 * signal it gets to that child (PID 1 of a pid namespace ignores the signals it has no
 * handler for, so without an init `docker stop` of a plain `sleep` waits for the SIGKILL),
 * reaps every orphan the kernel hands it (zombies of daemonising programs), and exits with
 * the child's status (128+signal when it was killed), at which point the kernel kills
 * whatever is left in the namespace.
 *
 * Usage: berth-init [--] COMMAND [ARG...]. berth bind-mounts this program read-only into the
 * container, so it is linked statically and uses nothing but libc.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "banned.h"

static void fatal(const char *what, const char *arg)
{
	fprintf(stderr, "berth-init: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
		strerror(errno));
}

int main(int argc, char **argv)
{
	int first = 1;
	if (argc > 1 && strcmp(argv[1], "--") == 0)
		first = 2;
	if (first >= argc) {
		fprintf(stderr, "usage: berth-init [--] COMMAND [ARG...]\n");
		return 125;
	}
	/* Not PID 1 (run by hand or nested): still reap the grandchildren we can. */
	if (getpid() != 1)
		prctl(PR_SET_CHILD_SUBREAPER, 1);

	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);

	pid_t child = fork();
	if (child < 0) {
		fatal("fork", NULL);
		return 125;
	}
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		/* Its own process group, in the foreground of the terminal if there is one, so
		 * that ^C reaches the command and not only its init. */
		setpgid(0, 0);
		if (isatty(0)) {
			signal(SIGTTOU, SIG_IGN);
			tcsetpgrp(0, getpid());
			signal(SIGTTOU, SIG_DFL);
		}
		execvp(argv[first], argv + first);
		int e = errno;
		fatal("exec", argv[first]);
		_exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
	}

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			/* Job control stops of the terminal are not forwarded: they target us. */
			if (sig != SIGTTIN && sig != SIGTTOU && sig != SIGTSTP)
				kill(child, sig);
			continue;
		}
		int status;
		pid_t p;
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p != child)
				continue;
			if (WIFEXITED(status))
				return WEXITSTATUS(status);
			if (WIFSIGNALED(status))
				return 128 + WTERMSIG(status);
		}
	}
}
