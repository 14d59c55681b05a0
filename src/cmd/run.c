/* run and create (container run, container create): a container from an image, Docker's
 * flags; run also starts it and, unless detached, stays attached until it exits and
 * returns its exit status. */
#include <jansson.h>

#include "cmd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "ctr.h"
#include "ctrnet.h"
#include "linux.h"
#include "pty.h"
#include "ref.h"

#include "banned.h"

static const struct cmd_help run_help = {
	.usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]",
	.summary = "Create and run a new container from an image",
	.aliases = "berth container run, berth run",
};

static const struct cmd_help create_help = {
	.usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]",
	.summary = "Create a new container",
	.aliases = "berth container create, berth create",
};

/* Docker's --sig-proxy: signals to `run` go to the container's init while attached
 * without a tty. Set from the handler, read by nothing else. */
static volatile sig_atomic_t proxy_pid;

static void proxy_signal(int sig)
{
	if (proxy_pid > 0)
		kill((pid_t)proxy_pid, sig);
}

static const int proxied[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void sig_proxy(pid_t pid, int on)
{
	struct sigaction sa = {.sa_handler = on ? proxy_signal : SIG_DFL};
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	proxy_pid = on ? pid : 0;
	for (size_t i = 0; i < ARRAY_SIZE(proxied); i++)
		sigaction(proxied[i], &sa, NULL);
}

/* The exit code of a run whose attach ended without one: what the state recorded. */
static int recorded_exit(struct berth_ctx *ctx, const char *id)
{
	struct ctr c;
	_cleanup_berr_ struct berr *err = NULL;
	if (ctr_wait_stopped(ctx->root, id, 5000, &err) < 0 || ctr_load(ctx->root, id, &c, &err) < 0)
		return EXIT_ENGINE;
	int code = c.state.status == RT_STATUS_EXITED ? c.state.exit_code : EXIT_ENGINE;
	ctr_free(&c);
	return code;
}

int ctr_cmd_attached(struct berth_ctx *ctx, const char *id, int conn, pid_t pid, int tty,
		     int interactive, int proxy, const char *detach_keys)
{
	_cleanup_berr_ struct berr *err = NULL;
	struct rt_attach_io io = {
		.in = interactive ? STDIN_FILENO : -1,
		.out = STDOUT_FILENO,
		.err = STDERR_FILENO,
		.tty = tty,
		.detach_keys = detach_keys,
	};
	if (proxy && !tty)
		sig_proxy(pid, 1);
	int code = 0;
	int r = rt_attach_relay(conn, &io, &code, &err);
	if (proxy && !tty)
		sig_proxy(0, 0);
	if (r == RT_ATTACH_DETACHED) {
		/* Docker's CLI says nothing but ends the line the terminal was on. */
		if (tty && isatty(STDOUT_FILENO))
			fputs("\r\n", stdout);
		return 0;
	}
	if (r == RT_ATTACH_EXITED)
		return code;
	/* The monitor went away without an exit message (it was killed): what the state
	 * says. */
	if (r == -EPIPE)
		return recorded_exit(ctx, id);
	cmd_error(ctx, err);
	return EXIT_ENGINE;
}

static void terminal_size(unsigned short *rows, unsigned short *cols)
{
	*rows = *cols = 0;
	if (rt_pty_get_size(STDIN_FILENO, rows, cols) < 0)
		rt_pty_get_size(STDOUT_FILENO, rows, cols);
}

static int run_or_create(struct berth_ctx *ctx, int is_run, int argc, char **argv)
{
	int detach = 0, interactive = 0, tty = 0, rm = 0, privileged = 0, read_only = 0;
	int init = 0, sig_proxy_on = 1, publish_all = 0, no_healthcheck = 0, quiet = 0;
	const char *name = NULL, *entrypoint = NULL, *user = NULL, *workdir = NULL;
	const char *hostname = NULL, *memory = NULL, *memory_swap = NULL, *cpus = NULL;
	const char *cpuset = NULL, *network = NULL, *net_alias = NULL, *restart = NULL;
	const char *stop_signal = NULL, *detach_keys = NULL, *pull = NULL, *platform = NULL;
	const char *cidfile = NULL, *cgroup_parent = NULL, *ip = NULL;
	_cleanup_strv_ struct strv expose = STRV_INIT, add_hosts = STRV_INIT, dns = STRV_INIT;
	_cleanup_strv_ struct strv dns_search = STRV_INIT, dns_opts = STRV_INIT;
	_cleanup_strv_ struct strv net_aliases = STRV_INIT;
	long stop_timeout = -1, pids_limit = 0, cpu_shares = 0;
	_cleanup_strv_ struct strv env = STRV_INIT, env_files = STRV_INIT, labels = STRV_INIT;
	_cleanup_strv_ struct strv volumes = STRV_INIT, mounts = STRV_INIT, tmpfs = STRV_INIT;
	_cleanup_strv_ struct strv cap_add = STRV_INIT, cap_drop = STRV_INIT, secopts = STRV_INIT;
	_cleanup_strv_ struct strv ulimits = STRV_INIT, publish = STRV_INIT, groups = STRV_INIT;
	const struct opt opts[] = {
		{OPT_LIST, 0, "add-host", &add_hosts, "list",
		 "Add a custom host-to-IP mapping (host:ip)"},
		{OPT_LIST, 0, "cap-add", &cap_add, "list", "Add Linux capabilities"},
		{OPT_LIST, 0, "cap-drop", &cap_drop, "list", "Drop Linux capabilities"},
		{OPT_STRING, 0, "cgroup-parent", &cgroup_parent, "string",
		 "Optional parent cgroup for the container"},
		{OPT_STRING, 0, "cidfile", &cidfile, "string", "Write the container ID to the file"},
		{OPT_INT, 'c', "cpu-shares", &cpu_shares, "int", "CPU shares (relative weight)"},
		{OPT_STRING, 0, "cpus", &cpus, "decimal", "Number of CPUs"},
		{OPT_STRING, 0, "cpuset-cpus", &cpuset, "string",
		 "CPUs in which to allow execution (0-3, 0,1)"},
		{OPT_BOOL, 'd', "detach", &detach, NULL,
		 "Run container in background and print container ID", is_run ? 0 : OPT_HIDDEN},
		{OPT_STRING, 0, "detach-keys", &detach_keys, "string",
		 "Override the key sequence for detaching a container"},
		{OPT_LIST, 0, "dns", &dns, "list", "Set custom DNS servers"},
		{OPT_LIST, 0, "dns-option", &dns_opts, "list", "Set DNS options"},
		{OPT_LIST, 0, "dns-search", &dns_search, "list", "Set custom DNS search domains"},
		{OPT_STRING, 0, "entrypoint", &entrypoint, "string",
		 "Overwrite the default ENTRYPOINT of the image"},
		{OPT_LIST, 'e', "env", &env, "list", "Set environment variables"},
		{OPT_LIST, 0, "env-file", &env_files, "list", "Read in a file of environment variables"},
		{OPT_LIST, 0, "expose", &expose, "list", "Expose a port or a range of ports"},
		{OPT_LIST, 0, "group-add", &groups, "list", "Add additional groups to join"},
		{OPT_STRING, 'h', "hostname", &hostname, "string", "Container host name"},
		{OPT_BOOL, 0, "init", &init, NULL,
		 "Run an init inside the container that forwards signals and reaps processes"},
		{OPT_BOOL, 'i', "interactive", &interactive, NULL,
		 "Keep STDIN open even if not attached"},
		{OPT_STRING, 0, "ip", &ip, "string", "IPv4 address (e.g., 172.30.100.104)"},
		{OPT_LIST, 'l', "label", &labels, "list", "Set meta data on a container"},
		{OPT_STRING, 'm', "memory", &memory, "bytes", "Memory limit"},
		{OPT_STRING, 0, "memory-swap", &memory_swap, "bytes",
		 "Swap limit equal to memory plus swap: '-1' to enable unlimited swap"},
		{OPT_LIST, 0, "mount", &mounts, "mount", "Attach a filesystem mount to the container"},
		{OPT_STRING, 0, "name", &name, "string", "Assign a name to the container"},
		{OPT_STRING, 0, "network", &network, "network",
		 "Connect a container to a network (bridge, host, none, or a network's name)"},
		{OPT_LIST, 0, "network-alias", &net_aliases, "list",
		 "Add network-scoped alias for the container"},
		{OPT_STRING, 0, "net", &net_alias, "network", "Alias of --network", OPT_HIDDEN},
		{OPT_BOOL, 0, "no-healthcheck", &no_healthcheck, NULL,
		 "Disable any container-specified HEALTHCHECK"},
		{OPT_INT, 0, "pids-limit", &pids_limit, "int",
		 "Tune container pids limit (set -1 for unlimited)"},
		{OPT_STRING, 0, "platform", &platform, "string", "Set platform if server is multi-platform capable"},
		{OPT_BOOL, 0, "privileged", &privileged, NULL,
		 "Give extended privileges to this container"},
		{OPT_LIST, 'p', "publish", &publish, "list",
		 "Publish a container's port(s) to the host"},
		{OPT_BOOL, 'P', "publish-all", &publish_all, NULL,
		 "Publish all exposed ports to random ports"},
		{OPT_STRING, 0, "pull", &pull, "string",
		 "Pull image before running (\"always\", \"missing\", \"never\") (default \"missing\")"},
		{OPT_BOOL, 'q', "quiet", &quiet, NULL, "Suppress the pull output"},
		{OPT_BOOL, 0, "read-only", &read_only, NULL,
		 "Mount the container's root filesystem as read only"},
		{OPT_STRING, 0, "restart", &restart, "string",
		 "Restart policy to apply when a container exits (default \"no\")"},
		{OPT_BOOL, 0, "rm", &rm, NULL,
		 "Automatically remove the container and its associated anonymous volumes when it exits"},
		{OPT_LIST, 0, "security-opt", &secopts, "list", "Security Options"},
		{OPT_BOOL, 0, "sig-proxy", &sig_proxy_on, NULL,
		 "Proxy received signals to the process (default true)", is_run ? 0 : OPT_HIDDEN},
		{OPT_STRING, 0, "stop-signal", &stop_signal, "string",
		 "Signal to stop the container"},
		{OPT_INT, 0, "stop-timeout", &stop_timeout, "int",
		 "Timeout (in seconds) to stop a container"},
		{OPT_LIST, 0, "tmpfs", &tmpfs, "list", "Mount a tmpfs directory"},
		{OPT_BOOL, 't', "tty", &tty, NULL, "Allocate a pseudo-TTY"},
		{OPT_LIST, 0, "ulimit", &ulimits, "ulimit", "Ulimit options"},
		{OPT_STRING, 'u', "user", &user, "string",
		 "Username or UID (format: <name|uid>[:<group|gid>])"},
		{OPT_LIST, 'v', "volume", &volumes, "list", "Bind mount a volume"},
		{OPT_STRING, 'w', "workdir", &workdir, "string",
		 "Working directory inside the container"},
		{0},
	};
	int first, rc;
	const struct cmd_help *help = is_run ? &run_help : &create_help;
	/* Every option must come before the image: the rest belongs to the container. */
	if (cmd_parse(ctx, help, opts, OPT_PARSE_STOP_AT_OPERAND, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, help, argc - first, 1, -1) < 0)
		return EXIT_ENGINE;
	if (!is_run)
		detach = 1;
	if (!network)
		network = net_alias;
	_cleanup_berr_ struct berr *nerr = NULL;
	_cleanup_json_ json_t *net = NULL;
	struct ctrnet_opts no = {
		.network = network,
		.publish = &publish,
		.publish_all = publish_all,
		.expose = &expose,
		.ip = ip,
		.aliases = &net_aliases,
		.add_hosts = &add_hosts,
		.dns = &dns,
		.dns_search = &dns_search,
		.dns_options = &dns_opts,
	};
	if (ctrnet_parse(ctx, &no, &net, &nerr) < 0) {
		cmd_error(ctx, nerr);
		return EXIT_ENGINE;
	}
	network = json_string_value(json_object_get(net, "NetworkMode"));
	if (!pull)
		pull = "missing";
	if (!streq(pull, "always") && !streq(pull, "missing") && !streq(pull, "never")) {
		cmd_errorf(ctx, "invalid pull option: '%s': must be one of \"always\", \"missing\" or \"never\"",
			   pull);
		return EXIT_ENGINE;
	}
	if (detach_keys) {
		struct rt_detach d;
		_cleanup_berr_ struct berr *e = NULL;
		if (rt_detach_keys_parse(detach_keys, &d, &e) < 0) {
			cmd_error(ctx, e);
			return EXIT_ENGINE;
		}
	}

	struct ctr_create_opts o = {
		.image = argv[first],
		.args = argv + first + 1,
		.nargs = argc - first - 1,
		.name = name,
		.entrypoint = entrypoint,
		.entrypoint_set = entrypoint != NULL,
		.user = user,
		.workdir = workdir,
		.hostname = hostname,
		.env = &env,
		.env_files = &env_files,
		.labels = &labels,
		.volumes = &volumes,
		.mounts = &mounts,
		.tmpfs = &tmpfs,
		.cap_add = &cap_add,
		.cap_drop = &cap_drop,
		.security_opts = &secopts,
		.ulimits = &ulimits,
		.group_add = &groups,
		.memory = memory,
		.memory_swap = memory_swap,
		.cpus = cpus,
		.cpuset_cpus = cpuset,
		.cpu_shares = cpu_shares,
		.pids_limit = pids_limit,
		.pids_limit_set = pids_limit != 0,
		.cgroup_parent = cgroup_parent,
		.network = network,
		.net = net,
		.restart = restart,
		.stop_signal = stop_signal,
		.stop_timeout = stop_timeout,
		.stop_timeout_set = stop_timeout != -1,
		.interactive = interactive,
		.tty = tty,
		.detach = detach,
		.autoremove = rm,
		.privileged = privileged,
		.read_only = read_only,
		.init = init,
	};
	if (tty)
		terminal_size(&o.rows, &o.cols);

	_cleanup_berr_ struct berr *err = NULL;
	char id[RT_ID_LEN + 1];
	if (streq(pull, "always") && cmd_pull_for_create(ctx, o.image, platform, quiet) < 0)
		return EXIT_ENGINE;
	int r = ctr_create(ctx->root, &o, id, &err);
	if (r == -ENOENT && err && strncmp(err->msg, "No such image", 13) == 0 &&
	    streq(pull, "missing")) {
		/* Docker says this, pulls (the output on stderr) and creates again. */
		_cleanup_(ref_free) struct ref ref = {0};
		_cleanup_berr_ struct berr *e = NULL;
		_cleanup_free_ char *fam = NULL;
		if (ref_parse(o.image, 0, &ref, &e) == 0)
			fam = ref_familiar_string(&ref);
		if (!quiet)
			fprintf(stderr, "Unable to find image '%s' locally\n", fam ? fam : o.image);
		if (cmd_pull_for_create(ctx, o.image, platform, quiet) < 0)
			return EXIT_ENGINE;
		berr_freep(&err);
		r = ctr_create(ctx->root, &o, id, &err);
	}
	if (r < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	if (cidfile) {
		FILE *f = fopen(cidfile, "wx");
		if (!f || fputs(id, f) < 0 || fclose(f) != 0) {
			cmd_errorf(ctx, "write the container id to '%s': %s", cidfile,
				   strerror(errno));
			return EXIT_ENGINE;
		}
	}
	if (!is_run) {
		printf("%s\n", id);
		return 0;
	}

	struct ctr c;
	if (ctr_load(ctx->root, id, &c, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	struct rt_monitor_started started;
	int code = 0, conn = -1;
	fflush(stdout);
	r = ctr_start(ctx, &c, o.rows, o.cols, detach ? NULL : &conn, &started,
		      &code, &err);
	ctr_free(&c);
	if (r < 0) {
		cmd_error(ctx, err);
		return code ? code : EXIT_ENGINE;
	}
	if (detach) {
		printf("%s\n", id);
		return 0;
	}
	code = ctr_cmd_attached(ctx, id, conn, started.pid, tty, interactive, sig_proxy_on,
				detach_keys);
	close(conn);
	return code;
}

int cmd_run(struct berth_ctx *ctx, int argc, char **argv)
{
	return run_or_create(ctx, 1, argc, argv);
}

int cmd_create(struct berth_ctx *ctx, int argc, char **argv)
{
	return run_or_create(ctx, 0, argc, argv);
}
