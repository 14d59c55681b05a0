/* The lifecycle commands: start, stop, kill, restart, pause, unpause, rm, wait, rename,
 * attach, container prune (and container inspect, which is inspect --type container).
 * Like Docker's CLI, the commands taking several containers go through all of them, print
 * each name as it is done, and report the errors together ("Error: ...", exit 1). */
#include <jansson.h>

#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cgroup.h"
#include "cleanup.h"
#include "ctr.h"
#include "format.h"
#include "fs.h"
#include "imagecmd.h"
#include "pty.h"

#include "banned.h"

/* ---- one operation on each named container ---- */

typedef int (*ctr_op)(struct berth_ctx *ctx, struct ctr *c, const char *arg, void *data,
		      struct berr **err);

/* Run op for every name; print the name after each success (when print), the errors at the
 * end. Returns the exit code: 0, or 1 when any failed. */
static int for_each(struct berth_ctx *ctx, int n, char **names, ctr_op op, void *data, int print)
{
	_cleanup_buf_ struct buf errors = BUF_INIT;
	for (int i = 0; i < n; i++) {
		_cleanup_berr_ struct berr *err = NULL;
		struct ctr c;
		int r = ctr_lookup(ctx->root, names[i], &c, &err);
		if (r == 0) {
			r = op(ctx, &c, names[i], data, &err);
			ctr_free(&c);
		}
		if (r < 0) {
			buf_printf(&errors, "Error: %s\n", err ? err->msg : "unknown error");
			continue;
		}
		if (print) {
			printf("%s\n", names[i]);
			fflush(stdout);
		}
	}
	if (errors.len) {
		fputs(errors.data, stderr);
		return 1;
	}
	return 0;
}

static int is_up(const struct ctr *c)
{
	return c->state.status == RT_STATUS_RUNNING || c->state.status == RT_STATUS_PAUSED ||
	       c->state.status == RT_STATUS_RESTARTING;
}

/* ---- start ---- */

static const struct cmd_help start_help = {
	.usage = "berth start [OPTIONS] CONTAINER [CONTAINER...]",
	.summary = "Start one or more stopped containers",
	.aliases = "berth container start, berth start",
};

static int op_start(struct berth_ctx *ctx, struct ctr *c, const char *arg, void *data,
		    struct berr **err)
{
	if (c->state.status == RT_STATUS_PAUSED)
		return berr_set(err, EINVAL, "cannot start a paused container, try unpause instead");
	if (is_up(c))
		return 0;
	struct rt_monitor_started started;
	int code;
	return ctr_start(ctx, c, 0, 0, NULL, &started, &code, err);
}

int cmd_start(struct berth_ctx *ctx, int argc, char **argv)
{
	int attach = 0, interactive = 0;
	const char *detach_keys = NULL;
	const struct opt opts[] = {
		{OPT_BOOL, 'a', "attach", &attach, NULL, "Attach STDOUT/STDERR and forward signals"},
		{OPT_STRING, 0, "detach-keys", &detach_keys, "string",
		 "Override the key sequence for detaching a container"},
		{OPT_BOOL, 'i', "interactive", &interactive, NULL, "Attach container's STDIN"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &start_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &start_help, argc - first, 1, -1) < 0)
		return 1;
	if (!attach && !interactive) {
		rc = for_each(ctx, argc - first, argv + first, op_start, NULL, 1);
		if (rc)
			fprintf(stderr, "Error: failed to start containers: %s\n", argv[first]);
		return rc;
	}
	if (argc - first > 1) {
		fprintf(stderr, "Error: you cannot start and attach multiple containers at once\n");
		return 1;
	}
	_cleanup_berr_ struct berr *err = NULL;
	struct ctr c;
	if (ctr_lookup(ctx->root, argv[first], &c, &err) < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}
	json_t *cfg = json_object_get(c.config, "Config");
	int tty = json_is_true(json_object_get(cfg, "Tty"));
	int open_stdin = json_is_true(json_object_get(cfg, "OpenStdin"));
	char id[RT_ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", c.id);
	int conn = -1, code = 0, r;
	struct rt_monitor_started started = {0};
	if (is_up(&c)) {
		/* Already running: docker start -a attaches to it. */
		started.pid = c.state.pid;
		r = rt_attach_connect(ctx->runroot, c.id, &conn, &err);
	} else if (c.state.status == RT_STATUS_PAUSED) {
		r = berr_set(&err, EINVAL, "cannot start a paused container, try unpause instead");
	} else {
		unsigned short rows = 0, cols = 0;
		if (tty && rt_pty_get_size(STDIN_FILENO, &rows, &cols) < 0)
			rt_pty_get_size(STDOUT_FILENO, &rows, &cols);
		r = ctr_start(ctx, &c, rows, cols, &conn, &started, &code,
			      &err);
	}
	ctr_free(&c);
	if (r < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return code ? code : 1;
	}
	code = ctr_cmd_attached(ctx, id, conn, started.pid, tty, interactive && open_stdin, 1,
				detach_keys);
	close(conn);
	return code;
}

/* ---- stop, restart, kill ---- */

struct stop_args {
	long timeout;
	int sig; /* 0: the container's stop signal */
};

static int op_stop(struct berth_ctx *ctx, struct ctr *c, const char *arg, void *data,
		   struct berr **err)
{
	struct stop_args *a = data;
	if (a->sig) {
		/* stop -s: this signal instead of the stop signal, then the same timeout. */
		int r = ctr_signal(ctx->root, c, a->sig, 1, err);
		if (r == -ESRCH) {
			berr_freep(err);
			return 0;
		}
		if (r < 0)
			return r;
		if (ctr_wait_stopped(ctx->root, c->id, a->timeout < 0 ? CTR_STOP_TIMEOUT * 1000
								      : a->timeout * 1000,
				     err) == 0)
			return 0;
		berr_freep(err);
		struct ctr again;
		if (ctr_load(ctx->root, c->id, &again, err) < 0)
			return 0;
		r = ctr_stop(ctx->root, &again, 0, err);
		ctr_free(&again);
		return r;
	}
	return ctr_stop(ctx->root, c, a->timeout, err);
}

static const struct cmd_help stop_help = {
	.usage = "berth stop [OPTIONS] CONTAINER [CONTAINER...]",
	.summary = "Stop one or more running containers",
	.aliases = "berth container stop, berth stop",
};

static int parse_stop_opts(struct berth_ctx *ctx, const struct cmd_help *help, int argc,
			   char **argv, int with_signal, struct stop_args *a, int *ret_first,
			   int *ret_rc)
{
	long timeout = -1;
	const char *sig = NULL;
	const struct opt opts[] = {
		{OPT_STRING, 's', "signal", &sig, "string", "Signal to send to the container",
		 with_signal ? 0 : OPT_HIDDEN},
		{OPT_INT, 't', "time", &timeout, "int",
		 "Seconds to wait before killing the container"},
		{OPT_INT, 0, "timeout", &timeout, "int", "Alias of --time", OPT_HIDDEN},
		{0},
	};
	if (cmd_parse(ctx, help, opts, 0, argc, argv, ret_first, ret_rc) < 0)
		return -1;
	if (cmd_check_args(ctx, help, argc - *ret_first, 1, -1) < 0) {
		*ret_rc = 1;
		return -1;
	}
	a->timeout = timeout;
	a->sig = 0;
	if (sig && ctr_signal_parse(sig, &a->sig) < 0) {
		fprintf(stderr, "Error: invalid signal: %s\n", sig);
		*ret_rc = 1;
		return -1;
	}
	return 0;
}

int cmd_stop(struct berth_ctx *ctx, int argc, char **argv)
{
	struct stop_args a;
	int first, rc;
	if (parse_stop_opts(ctx, &stop_help, argc, argv, 1, &a, &first, &rc) < 0)
		return rc;
	return for_each(ctx, argc - first, argv + first, op_stop, &a, 1);
}

static const struct cmd_help restart_help = {
	.usage = "berth restart [OPTIONS] CONTAINER [CONTAINER...]",
	.summary = "Restart one or more containers",
	.aliases = "berth container restart, berth restart",
};

static int op_restart(struct berth_ctx *ctx, struct ctr *c, const char *arg, void *data,
		      struct berr **err)
{
	int r = op_stop(ctx, c, arg, data, err);
	if (r < 0)
		return r;
	struct ctr again;
	if ((r = ctr_load(ctx->root, c->id, &again, err)) < 0)
		return r;
	r = op_start(ctx, &again, arg, NULL, err);
	ctr_free(&again);
	return r;
}

int cmd_restart(struct berth_ctx *ctx, int argc, char **argv)
{
	struct stop_args a;
	int first, rc;
	if (parse_stop_opts(ctx, &restart_help, argc, argv, 1, &a, &first, &rc) < 0)
		return rc;
	return for_each(ctx, argc - first, argv + first, op_restart, &a, 1);
}

static const struct cmd_help kill_help = {
	.usage = "berth kill [OPTIONS] CONTAINER [CONTAINER...]",
	.summary = "Kill one or more running containers",
	.aliases = "berth container kill, berth kill",
};

static int op_kill(struct berth_ctx *ctx, struct ctr *c, const char *arg, void *data,
		   struct berr **err)
{
	int sig = *(int *)data;
	if (c->state.status != RT_STATUS_RUNNING && c->state.status != RT_STATUS_PAUSED)
		return berr_set(err, ESRCH, "cannot kill container: %s: container %s is not running",
				arg, c->id);
	/* Docker marks a killed container as stopped by hand: no restart afterwards. */
	int r = ctr_signal(ctx->root, c, sig, 1, err);
	if (r == -ESRCH) {
		berr_freep(err);
		return berr_set(err, ESRCH, "cannot kill container: %s: container %s is not running",
				arg, c->id);
	}
	return r;
}

int cmd_kill(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *sig = "KILL";
	const struct opt opts[] = {
		{OPT_STRING, 's', "signal", &sig, "string", "Signal to send to the container"},
		{0},
	};
	int first, rc, signo;
	if (cmd_parse(ctx, &kill_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &kill_help, argc - first, 1, -1) < 0)
		return 1;
	if (ctr_signal_parse(sig, &signo) < 0) {
		fprintf(stderr, "Error: invalid signal: %s\n", sig);
		return 1;
	}
	return for_each(ctx, argc - first, argv + first, op_kill, &signo, 1);
}

/* ---- pause, unpause ---- */

static int set_paused(struct berth_ctx *ctx, struct ctr *c, int pause, struct berr **err)
{
	_cleanup_close_ int dirfd = -1;
	int r = rt_container_dir_open(ctx->root, c->id, &dirfd, err);
	if (r < 0)
		return r;
	/* Under the container's lock: the monitor records an exit under it too. */
	if ((r = rt_state_lock(dirfd, 1, err)) < 0)
		return r;
	struct rt_state st;
	r = rt_state_load(dirfd, &st, err);
	if (r == 0)
		rt_state_reconcile(&st);
	if (r == 0 && pause && st.status == RT_STATUS_PAUSED)
		r = berr_set(err, EINVAL, "container %s is already paused", c->id);
	else if (r == 0 && pause && st.status != RT_STATUS_RUNNING)
		r = berr_set(err, EINVAL, "container %s is not running", c->id);
	else if (r == 0 && !pause && st.status != RT_STATUS_PAUSED)
		r = berr_set(err, EINVAL, "container %s is not paused", c->id);
	struct rt_cgroup *cg = NULL;
	struct rt_spec spec = {0};
	if (r == 0 && (r = ctr_spec(c, &spec, err)) == 0 &&
	    (r = rt_cgroup_open(spec.cgroup_parent ? spec.cgroup_parent : "berth", c->id, &cg,
				err)) == 0 &&
	    (r = rt_cgroup_freeze(cg, pause, err)) == 0) {
		st.status = pause ? RT_STATUS_PAUSED : RT_STATUS_RUNNING;
		r = rt_state_write(dirfd, &st, err);
	}
	if (cg)
		rt_cgroup_free(cg);
	rt_spec_free(&spec);
	rt_state_unlock(dirfd);
	return r;
}

static int op_pause(struct berth_ctx *ctx, struct ctr *c, const char *arg, void *data,
		    struct berr **err)
{
	return set_paused(ctx, c, *(int *)data, err);
}

static const struct cmd_help pause_help = {
	.usage = "berth pause CONTAINER [CONTAINER...]",
	.summary = "Pause all processes within one or more containers",
	.aliases = "berth container pause, berth pause",
};
static const struct cmd_help unpause_help = {
	.usage = "berth unpause CONTAINER [CONTAINER...]",
	.summary = "Unpause all processes within one or more containers",
	.aliases = "berth container unpause, berth unpause",
};

static int pause_cmd(struct berth_ctx *ctx, int argc, char **argv, int pause)
{
	const struct cmd_help *help = pause ? &pause_help : &unpause_help;
	const struct opt opts[] = {{0}};
	int first, rc;
	if (cmd_parse(ctx, help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, help, argc - first, 1, -1) < 0)
		return 1;
	return for_each(ctx, argc - first, argv + first, op_pause, &pause, 1);
}

int cmd_pause(struct berth_ctx *ctx, int argc, char **argv)
{
	return pause_cmd(ctx, argc, argv, 1);
}

int cmd_unpause(struct berth_ctx *ctx, int argc, char **argv)
{
	return pause_cmd(ctx, argc, argv, 0);
}

/* ---- rm ---- */

static const struct cmd_help rm_help = {
	.usage = "berth rm [OPTIONS] CONTAINER [CONTAINER...]",
	.summary = "Remove one or more containers",
	.aliases = "berth container rm, berth container remove, berth rm",
};

static int op_rm(struct berth_ctx *ctx, struct ctr *c, const char *arg, void *data,
		 struct berr **err)
{
	int force = *(int *)data;
	if (is_up(c)) {
		if (!force)
			return berr_set(err, EBUSY,
					"cannot remove container \"/%s\": container is %s: stop the "
					"container before removing or force remove",
					c->name, rt_status_name(c->state.status));
		int r = ctr_signal(ctx->root, c, SIGKILL, 1, err);
		if (r == -ESRCH)
			berr_freep(err);
		else if (r < 0)
			return r;
		if (c->state.status == RT_STATUS_RESTARTING &&
		    ctr_stop(ctx->root, c, 0, err) < 0)
			berr_freep(err);
		if ((r = ctr_wait_stopped(ctx->root, c->id, 30000, err)) < 0)
			return r;
	}
	return ctr_remove(ctx->root, ctx->runroot, c, err);
}

int cmd_rm(struct berth_ctx *ctx, int argc, char **argv)
{
	int force = 0, volumes = 0, link = 0;
	const struct opt opts[] = {
		{OPT_BOOL, 'f', "force", &force, NULL,
		 "Force the removal of a running container (uses SIGKILL)"},
		{OPT_BOOL, 'l', "link", &link, NULL, "Remove the specified link", OPT_HIDDEN},
		{OPT_BOOL, 'v', "volumes", &volumes, NULL,
		 "Remove anonymous volumes associated with the container"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &rm_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &rm_help, argc - first, 1, -1) < 0)
		return 1;
	return for_each(ctx, argc - first, argv + first, op_rm, &force, 1);
}

/* ---- wait ---- */

static const struct cmd_help wait_help = {
	.usage = "berth wait CONTAINER [CONTAINER...]",
	.summary = "Block until one or more containers stop, then print their exit codes",
	.aliases = "berth container wait, berth wait",
};

static int op_wait(struct berth_ctx *ctx, struct ctr *c, const char *arg, void *data,
		   struct berr **err)
{
	int code = c->state.exit_code;
	if (is_up(c)) {
		/* The monitor's EXIT message ends the wait; its output is read and dropped
		 * (an attach client that does not read would hold the container back). */
		int conn = -1;
		int r = rt_attach_connect(ctx->runroot, c->id, &conn, err);
		if (r == 0) {
			unsigned char buf[1 + RT_MSG_MAX];
			ssize_t n;
			int got = 0;
			while ((n = recv(conn, buf, sizeof(buf), 0)) > 0 || (n < 0 && errno == EINTR))
				if (n == 5 && buf[0] == RT_MSG_EXIT) {
					int32_t x;
					memcpy(&x, buf + 1, 4);
					code = x;
					got = 1;
					break;
				}
			close(conn);
			if (got) {
				printf("%d\n", code);
				return 0;
			}
		} else {
			berr_freep(err);
		}
		if ((r = ctr_wait_stopped(ctx->root, c->id, -1, err)) < 0)
			return r;
		struct ctr again;
		if (ctr_load(ctx->root, c->id, &again, err) == 0) {
			code = again.state.exit_code;
			ctr_free(&again);
		} else {
			berr_freep(err);
		}
	}
	printf("%d\n", code);
	return 0;
}

int cmd_wait(struct berth_ctx *ctx, int argc, char **argv)
{
	const struct opt opts[] = {{0}};
	int first, rc;
	if (cmd_parse(ctx, &wait_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &wait_help, argc - first, 1, -1) < 0)
		return 1;
	return for_each(ctx, argc - first, argv + first, op_wait, NULL, 0);
}

/* ---- rename ---- */

static const struct cmd_help rename_help = {
	.usage = "berth rename CONTAINER NEW_NAME",
	.summary = "Rename a container",
	.aliases = "berth container rename, berth rename",
};

int cmd_rename(struct berth_ctx *ctx, int argc, char **argv)
{
	const struct opt opts[] = {{0}};
	int first, rc;
	if (cmd_parse(ctx, &rename_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &rename_help, argc - first, 2, 2) < 0)
		return 1;
	const char *newname = argv[first + 1];
	if (newname[0] == '/')
		newname++;
	_cleanup_berr_ struct berr *err = NULL;
	if (!ctr_name_valid(newname)) {
		fprintf(stderr,
			"Error: Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are "
			"allowed\n",
			newname);
		return 1;
	}
	int lock = ctr_names_lock(ctx->root, &err);
	if (lock < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	struct ctr c;
	char owner[RT_ID_LEN + 1];
	int r = ctr_lookup(ctx->root, argv[first], &c, &err);
	if (r == 0 && streq(c.name, newname)) {
		r = berr_set(&err, EINVAL,
			     "Renaming a container with the same name as its current name");
	} else if (r == 0 && (r = ctr_name_owner(ctx->root, newname, owner, &err)) == 0 &&
		   owner[0]) {
		r = berr_set(&err, EEXIST,
			     "Conflict. The container name \"/%s\" is already in use by container "
			     "\"%s\". You have to remove (or rename) that container to be able to "
			     "reuse that name.",
			     newname, owner);
	}
	if (r == 0) {
		_cleanup_free_ char *full = NULL;
		_cleanup_close_ int dirfd = -1;
		if (asprintf(&full, "/%s", newname) < 0 ||
		    json_object_set_new(c.config, "Name", json_string(full)) < 0)
			r = berr_set(&err, ENOMEM, "out of memory");
		else if ((r = rt_container_dir_open(ctx->root, c.id, &dirfd, &err)) == 0 &&
			 (r = rt_state_lock(dirfd, 1, &err)) == 0) {
			r = rt_config_write(dirfd, c.config, &err);
			rt_state_unlock(dirfd);
		}
	}
	ctr_free(&c);
	close(lock);
	if (r < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}
	return 0;
}

/* ---- attach ---- */

static const struct cmd_help attach_help = {
	.usage = "berth attach [OPTIONS] CONTAINER",
	.summary = "Attach local standard input, output, and error streams to a running container",
	.aliases = "berth container attach, berth attach",
};

int cmd_attach(struct berth_ctx *ctx, int argc, char **argv)
{
	int no_stdin = 0, proxy = 1;
	const char *detach_keys = NULL;
	const struct opt opts[] = {
		{OPT_STRING, 0, "detach-keys", &detach_keys, "string",
		 "Override the key sequence for detaching a container"},
		{OPT_BOOL, 0, "no-stdin", &no_stdin, NULL, "Do not attach STDIN"},
		{OPT_BOOL, 0, "sig-proxy", &proxy, NULL,
		 "Proxy all received signals to the process (default true)"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &attach_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &attach_help, argc - first, 1, 1) < 0)
		return 1;
	_cleanup_berr_ struct berr *err = NULL;
	struct ctr c;
	if (ctr_lookup(ctx->root, argv[first], &c, &err) < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}
	int status = c.state.status;
	json_t *cfg = json_object_get(c.config, "Config");
	int tty = json_is_true(json_object_get(cfg, "Tty"));
	int interactive = json_is_true(json_object_get(cfg, "OpenStdin")) && !no_stdin;
	pid_t pid = c.state.pid;
	char id[RT_ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", c.id);
	ctr_free(&c);
	if (status == RT_STATUS_PAUSED) {
		fprintf(stderr, "Error: You cannot attach to a paused container, unpause it first\n");
		return 1;
	}
	if (status != RT_STATUS_RUNNING && status != RT_STATUS_RESTARTING) {
		fprintf(stderr, "Error: You cannot attach to a stopped container, start it first\n");
		return 1;
	}
	int conn = -1;
	if (rt_attach_connect(ctx->runroot, id, &conn, &err) < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}
	rc = ctr_cmd_attached(ctx, id, conn, pid, tty, interactive, proxy, detach_keys);
	close(conn);
	return rc;
}

/* ---- container prune ---- */

static const struct cmd_help cprune_help = {
	.usage = "berth container prune [OPTIONS]",
	.summary = "Remove all stopped containers",
};

int cmd_container_prune(struct berth_ctx *ctx, int argc, char **argv)
{
	int force = 0;
	_cleanup_strv_ struct strv filter_args = STRV_INIT;
	const struct opt opts[] = {
		{OPT_LIST, 0, "filter", &filter_args, "filter",
		 "Provide filter values (e.g. \"until=<timestamp>\")"},
		{OPT_BOOL, 'f', "force", &force, NULL, "Do not prompt for confirmation"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &cprune_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &cprune_help, argc - first, 0, 0) < 0)
		return 1;
	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_(imgcmd_filters_free) struct imgcmd_filters filters = {0};
	static const char *const accepted[] = {"until", "label", "label!", NULL};
	for (size_t i = 0; i < filter_args.n; i++)
		if (imgcmd_filters_add(&filters, filter_args.v[i], &err) < 0) {
			fprintf(stderr, "Error: %s\n", err->msg);
			return 1;
		}
	if (imgcmd_filters_validate(&filters, accepted, &err) < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}
	time_t until = 0;
	const struct strv *u = imgcmd_filters_get(&filters, "until");
	if (u && u->n) {
		/* An RFC 3339 time or a Unix timestamp (a duration is read by the image
		 * prune code; here a plain number of seconds before now is enough). */
		if (fmt_parse_rfc3339(u->v[0], &until) < 0) {
			char *end;
			double d = strtod(u->v[0], &end);
			if (*end || end == u->v[0]) {
				fprintf(stderr, "Error: invalid until filter: %s\n", u->v[0]);
				return 1;
			}
			until = (time_t)d;
		}
	}
	if (!force) {
		printf("WARNING! This will remove all stopped containers.\n"
		       "Are you sure you want to continue? [y/N] ");
		fflush(stdout);
		char line[64];
		if (!fgets(line, sizeof(line), stdin) ||
		    (line[strcspn(line, "\r\n")] = '\0', !streq(line, "y") && !streq(line, "Y"))) {
			printf("Total reclaimed space: 0B\n");
			return 0;
		}
	}
	struct ctr *v;
	size_t n;
	if (ctr_list(ctx->root, &v, &n, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	uint64_t total = 0;
	int header = 0;
	for (size_t i = n; i-- > 0;) {
		struct ctr *c = &v[i];
		if (c->state.status != RT_STATUS_EXITED && c->state.status != RT_STATUS_CREATED)
			continue;
		if (u && c->created_ns / 1000000000 > until)
			continue;
		json_t *labels = json_object_get(json_object_get(c->config, "Config"), "Labels");
		if (!imgcmd_filters_match_kv(&filters, "label", labels))
			continue;
		if (imgcmd_filters_get(&filters, "label!") &&
		    imgcmd_filters_match_kv(&filters, "label!", labels))
			continue;
		uint64_t size = 0;
		_cleanup_free_ char *upper = NULL;
		if (asprintf(&upper, "%s/containers/%s/upper", ctx->root, c->id) >= 0)
			fs_tree_size_at(AT_FDCWD, upper, &size);
		if (ctr_remove(ctx->root, ctx->runroot, c, &err) < 0) {
			fprintf(stderr, "WARNING: %s\n", err->msg);
			berr_freep(&err);
			continue;
		}
		if (!header)
			printf("Deleted Containers:\n");
		header = 1;
		printf("%s\n", c->id);
		total += size;
	}
	if (header)
		printf("\n");
	ctr_list_free(v, n);
	_cleanup_free_ char *h = imgcmd_human_size(total, 4);
	printf("Total reclaimed space: %s\n", h ? h : "0B");
	return 0;
}

/* container inspect: inspect restricted to containers. */
int cmd_container_inspect(struct berth_ctx *ctx, int argc, char **argv)
{
	_cleanup_free_ char **v = calloc((size_t)argc + 2, sizeof(*v));
	if (!v) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	v[0] = argv[0];
	v[1] = "--type=container";
	for (int i = 1; i < argc; i++)
		v[i + 1] = argv[i];
	return cmd_inspect(ctx, argc + 1, v);
}
