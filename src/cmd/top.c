/* top (container top): the processes of a running container, as Docker shows them: the
 * host's ps (default options -ef) cut down to the container's cgroup's pids. */
#include <jansson.h>

#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cgroup.h"
#include "cleanup.h"
#include "ctr.h"
#include "fs.h"

#include "banned.h"

static const struct cmd_help top_help = {
	.usage = "berth top CONTAINER [ps OPTIONS]",
	.summary = "Display the running processes of a container",
	.aliases = "berth container top, berth top",
};

/* Run ps with args and collect its output. Returns 0, or -errno / a message in err. */
static int run_ps(char **args, char **ret_out, struct berr **err)
{
	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return berr_errno(err, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(out[0]);
		close(out[1]);
		return berr_errno(err, e, "fork");
	}
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		execvp("ps", args);
		fprintf(stderr, "exec ps: %s\n", strerror(errno));
		_exit(127);
	}
	close(out[1]);
	size_t len;
	int r = fs_read_fd(out[0], 64u << 20, ret_out, &len);
	close(out[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		return berr_errno(err, r, "read the output of ps");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(*ret_out);
		*ret_out = NULL;
		return berr_set(err, EINVAL, "ps: exit status %d",
				WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	}
	return 0;
}

/* Split a line into at most n fields at white space, the last taking the rest (docker's
 * parsing of ps output: the command may contain spaces). */
static size_t fields(char *line, char **f, size_t n)
{
	size_t k = 0;
	char *p = line;
	while (k < n) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		f[k++] = p;
		if (k == n)
			break;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = '\0';
	}
	return k;
}

int cmd_top(struct berth_ctx *ctx, int argc, char **argv)
{
	const struct opt opts[] = {{0}};
	int first, rc;
	if (cmd_parse(ctx, &top_help, opts, OPT_PARSE_STOP_AT_OPERAND, argc, argv, &first, &rc) <
	    0)
		return rc;
	if (cmd_check_args(ctx, &top_help, argc - first, 1, -1) < 0)
		return 1;
	_cleanup_berr_ struct berr *err = NULL;
	struct ctr c;
	if (ctr_lookup(ctx->root, argv[first], &c, &err) < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}
	if (c.state.status != RT_STATUS_RUNNING && c.state.status != RT_STATUS_PAUSED) {
		fprintf(stderr, "Error: container %s is not running\n", c.id);
		ctr_free(&c);
		return 1;
	}
	struct rt_spec spec;
	struct rt_cgroup *cg = NULL;
	pid_t *pids = NULL;
	size_t npids = 0;
	int r = ctr_spec(&c, &spec, &err);
	if (r == 0)
		r = rt_cgroup_open(spec.cgroup_parent ? spec.cgroup_parent : "berth", c.id, &cg,
				   &err);
	if (r == 0)
		r = rt_cgroup_pids(cg, &pids, &npids, &err);
	if (cg)
		rt_cgroup_free(cg);
	rt_spec_free(&spec);
	ctr_free(&c);
	if (r < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	_cleanup_free_ pid_t *pids_owned = pids;

	_cleanup_free_ char **args = calloc((size_t)(argc - first) + 2, sizeof(*args));
	if (!args) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	args[0] = "ps";
	size_t na = 1;
	if (argc - first > 1)
		for (int i = first + 1; i < argc; i++)
			args[na++] = argv[i];
	else
		args[na++] = "-ef";
	_cleanup_free_ char *out = NULL;
	if (run_ps(args, &out, &err) < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}

	/* The header names the columns; the PID column picks the rows. */
	char *save = NULL;
	char *header = strtok_r(out, "\n", &save);
	if (!header) {
		fprintf(stderr, "Error: ps printed nothing\n");
		return 1;
	}
	_cleanup_free_ char *hcopy = strdup(header);
	char *titles[64];
	size_t nt = hcopy ? fields(hcopy, titles, 64) : 0;
	ssize_t pid_col = -1;
	for (size_t i = 0; i < nt; i++)
		if (streq(titles[i], "PID"))
			pid_col = (ssize_t)i;
	if (pid_col < 0) {
		fprintf(stderr, "Error: Couldn't find PID field in ps output\n");
		return 1;
	}
	/* Docker prints with a tabwriter of minimum width 20 and padding 3. */
	struct row {
		char *f[64];
		size_t n;
	};
	_cleanup_free_ struct row *rows = calloc(1, sizeof(*rows));
	size_t nrows = 0;
	if (!rows) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	memcpy(rows[0].f, titles, sizeof(titles));
	rows[0].n = nt;
	nrows = 1;
	for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct row rw = {.n = 0};
		rw.n = fields(line, rw.f, nt);
		if (rw.n <= (size_t)pid_col)
			continue;
		long p = strtol(rw.f[pid_col], NULL, 10);
		int mine = 0;
		for (size_t k = 0; k < npids; k++)
			if (pids[k] == p)
				mine = 1;
		if (!mine)
			continue;
		struct row *nr = realloc(rows, (nrows + 1) * sizeof(*rows));
		if (!nr) {
			cmd_errorf(ctx, "out of memory");
			return EXIT_ENGINE;
		}
		rows = nr;
		rows[nrows++] = rw;
	}
	size_t width[64] = {0};
	for (size_t i = 0; i < nrows; i++)
		for (size_t k = 0; k < rows[i].n; k++) {
			size_t w = strlen(rows[i].f[k]) + 3;
			if (w > width[k])
				width[k] = w;
		}
	for (size_t i = 0; i < nrows; i++) {
		for (size_t k = 0; k < rows[i].n; k++) {
			if (k + 1 == rows[i].n) {
				printf("%s", rows[i].f[k]);
				break;
			}
			int w = (int)(width[k] < 20 ? 20 : width[k]);
			printf("%-*s", w, rows[i].f[k]);
		}
		printf("\n");
	}
	return 0;
}
