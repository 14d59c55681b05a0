/* exec (container exec): run a command in a running container (src/runtime/exec.h). */
#include <jansson.h>

#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caps.h"
#include "cgroup.h"
#include "cleanup.h"
#include "ctr.h"
#include "exec.h"
#include "fs.h"
#include "linux.h"
#include "pty.h"
#include "seccomp.h"
#include "user.h"

#include "banned.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const struct cmd_help exec_help = {
	.usage = "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]",
	.summary = "Execute a command in a running container",
	.aliases = "berth container exec, berth exec",
};

/* A file of the running container, read through /proc/<pid>/root and resolved inside it
 * (symlinks in the container cannot point us at the host's files). NULL when missing. */
static char *container_file(pid_t pid, const char *path)
{
	char root[64];
	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	_cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return NULL;
	_cleanup_close_ int fd = fs_open_in_root(rootfd, path, O_RDONLY | O_CLOEXEC, 0);
	char *data = NULL;
	size_t len;
	if (fd < 0 || fs_read_fd(fd, 4u << 20, &data, &len) < 0)
		return NULL;
	return data;
}

static int env_replace(struct strv *env, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
	for (size_t i = 0; i < env->n; i++)
		if (strncmp(env->v[i], kv, klen) == 0 &&
		    (env->v[i][klen] == '=' || env->v[i][klen] == '\0')) {
			if (!eq) {
				strv_remove_at(env, i);
				return 0;
			}
			char *c = strdup(kv);
			if (!c)
				return -ENOMEM;
			free(env->v[i]);
			env->v[i] = c;
			return 0;
		}
	return eq ? strv_push(env, kv) : 0;
}

static int has_key(const struct strv *env, const char *key)
{
	size_t l = strlen(key);
	for (size_t i = 0; i < env->n; i++)
		if (strncmp(env->v[i], key, l) == 0 && env->v[i][l] == '=')
			return 1;
	return 0;
}

int cmd_exec(struct berth_ctx *ctx, int argc, char **argv)
{
	int detach = 0, interactive = 0, tty = 0, privileged = 0;
	const char *user = NULL, *workdir = NULL, *detach_keys = NULL;
	_cleanup_strv_ struct strv env_flags = STRV_INIT, env_files = STRV_INIT;
	const struct opt opts[] = {
		{OPT_BOOL, 'd', "detach", &detach, NULL, "Detached mode: run command in the background"},
		{OPT_STRING, 0, "detach-keys", &detach_keys, "string",
		 "Override the key sequence for detaching a container", OPT_HIDDEN},
		{OPT_LIST, 'e', "env", &env_flags, "list", "Set environment variables"},
		{OPT_LIST, 0, "env-file", &env_files, "list", "Read in a file of environment variables"},
		{OPT_BOOL, 'i', "interactive", &interactive, NULL,
		 "Keep STDIN open even if not attached"},
		{OPT_BOOL, 0, "privileged", &privileged, NULL,
		 "Give extended privileges to the command"},
		{OPT_BOOL, 't', "tty", &tty, NULL, "Allocate a pseudo-TTY"},
		{OPT_STRING, 'u', "user", &user, "string",
		 "Username or UID (format: \"<name|uid>[:<group|gid>]\")"},
		{OPT_STRING, 'w', "workdir", &workdir, "string",
		 "Working directory inside the container"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &exec_help, opts, OPT_PARSE_STOP_AT_OPERAND, argc, argv, &first, &rc) <
	    0)
		return rc;
	if (cmd_check_args(ctx, &exec_help, argc - first, 2, -1) < 0)
		return 1;
	if (workdir && workdir[0] != '/') {
		fprintf(stderr, "Error: the working directory '%s' is invalid, it needs to be an "
				"absolute path\n", workdir);
		return 1;
	}

	_cleanup_berr_ struct berr *err = NULL;
	struct ctr c;
	if (ctr_lookup(ctx->root, argv[first], &c, &err) < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}
	if (c.state.status == RT_STATUS_PAUSED) {
		fprintf(stderr, "Error: container %s is paused, unpause the container before exec\n",
			c.id);
		ctr_free(&c);
		return 1;
	}
	if (c.state.status != RT_STATUS_RUNNING) {
		fprintf(stderr, "Error: container %s is not running\n", c.id);
		ctr_free(&c);
		return 1;
	}

	struct rt_spec spec;
	if (ctr_spec(&c, &spec, &err) < 0) {
		rt_spec_free(&spec);
		ctr_free(&c);
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	pid_t pid = c.state.pid;
	unsigned long long pid_start = c.state.pid_start;
	json_t *cfg = json_object_get(c.config, "Config");

	/* The process: the command, and the container's environment as Docker's exec builds
	 * it (its Config.Env over PATH/HOSTNAME, TERM with a tty, then -e). */
	strv_free(&spec.args);
	rc = 0;
	for (int i = first + 1; i < argc && rc == 0; i++)
		rc = strv_push(&spec.args, argv[i]);
	struct strv env = STRV_INIT;
	json_t *hn = json_object_get(cfg, "Hostname");
	_cleanup_free_ char *hostname = NULL;
	if (asprintf(&hostname, "HOSTNAME=%s", json_is_string(hn) ? json_string_value(hn) : "") <
	    0)
		hostname = NULL;
	rc |= strv_push(&env, DEFAULT_PATH) | strv_push(&env, hostname ? hostname : "HOSTNAME=");
	if (tty)
		rc |= strv_push(&env, "TERM=xterm");
	json_t *cenv = json_object_get(cfg, "Env");
	size_t i;
	json_t *e;
	json_array_foreach(cenv, i, e)
		if (json_is_string(e) && strchr(json_string_value(e), '='))
			rc |= env_replace(&env, json_string_value(e));
	for (size_t k = 0; k < env_files.n && rc == 0; k++) {
		_cleanup_free_ char *data = NULL;
		size_t len;
		if (fs_read_all_at(AT_FDCWD, env_files.v[k], 16u << 20, &data, &len) < 0) {
			fprintf(stderr, "Error: open %s: %s\n", env_files.v[k], strerror(errno));
			strv_free(&env);
			rt_spec_free(&spec);
			ctr_free(&c);
			return 1;
		}
		char *save = NULL;
		for (char *l = strtok_r(data, "\n", &save); l && rc == 0;
		     l = strtok_r(NULL, "\n", &save)) {
			while (*l == ' ' || *l == '\t')
				l++;
			if (!*l || *l == '#')
				continue;
			const char *v = strchr(l, '=') ? NULL : getenv(l);
			_cleanup_free_ char *kv = NULL;
			if (v && asprintf(&kv, "%s=%s", l, v) < 0)
				rc = -ENOMEM;
			else
				rc = env_replace(&env, kv ? kv : l);
		}
	}
	for (size_t k = 0; k < env_flags.n && rc == 0; k++) {
		const char *a = env_flags.v[k];
		const char *v = strchr(a, '=') ? NULL : getenv(a);
		_cleanup_free_ char *kv = NULL;
		if (v && asprintf(&kv, "%s=%s", a, v) < 0)
			rc = -ENOMEM;
		else
			rc = env_replace(&env, kv ? kv : a);
	}

	/* Who: -u resolved in the running container's own /etc/passwd and /etc/group,
	 * else the container's user. */
	if (user) {
		_cleanup_free_ char *passwd = container_file(pid, "/etc/passwd");
		_cleanup_free_ char *group = container_file(pid, "/etc/group");
		struct rt_user u;
		if (rt_user_resolve(user, passwd, group, &u, &err) < 0) {
			fprintf(stderr, "Error: %s\n", err->msg);
			strv_free(&env);
			rt_spec_free(&spec);
			ctr_free(&c);
			return 1;
		}
		free(spec.groups);
		spec.uid = u.uid;
		spec.gid = u.gid;
		spec.groups = TAKE_PTR(u.groups);
		spec.ngroups = u.ngroups;
		_cleanup_free_ char *home = NULL;
		if (!has_key(&env, "HOME") && asprintf(&home, "HOME=%s", u.home) >= 0)
			rc |= strv_push(&env, home);
		rt_user_free(&u);
	} else {
		/* The container's own HOME, added to its env at create. */
		for (size_t k = 0; k < spec.env.n; k++)
			if (strncmp(spec.env.v[k], "HOME=", 5) == 0 && !has_key(&env, "HOME"))
				rc |= strv_push(&env, spec.env.v[k]);
	}
	strv_free(&spec.env);
	spec.env = env;
	if (workdir) {
		free(spec.cwd);
		spec.cwd = strdup(workdir);
	}
	/* Detached, nobody would hold the pty master: the process gets /dev/null instead. */
	spec.tty = tty && !detach;
	if (privileged) {
		uint64_t all;
		if (rt_caps_available(&all, &err) == 0)
			spec.caps = all;
		berr_freep(&err);
	}
	if (rc < 0 || (workdir && !spec.cwd)) {
		rt_spec_free(&spec);
		ctr_free(&c);
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}

	struct rt_cgroup *cg = NULL;
	if (rt_cgroup_open(spec.cgroup_parent ? spec.cgroup_parent : "berth", c.id, &cg, &err) <
	    0)
		berr_freep(&err); /* no cgroup left (a killed monitor): run without one */
	struct rt_exec_opts eo = {
		.pid = pid,
		.pid_start = pid_start,
		.cg = cg,
		.spec = &spec,
		.io = {.in = interactive && !detach ? STDIN_FILENO : -1,
		       .out = detach ? -1 : STDOUT_FILENO,
		       .err = detach ? -1 : STDERR_FILENO},
		.detach = detach,
	};
	if (tty && !detach && (rt_pty_get_size(STDIN_FILENO, &eo.rows, &eo.cols) < 0))
		rt_pty_get_size(STDOUT_FILENO, &eo.rows, &eo.cols);
	ctr_free(&c);
	struct rt_exec_proc proc;
	int code = 0;
	fflush(stdout);
	_cleanup_free_ char *bpf_cache = NULL;
	if (asprintf(&bpf_cache, "%s/seccomp", ctx->runroot) >= 0)
		rt_seccomp_set_cache_dir(bpf_cache); /* the monitor's cache (seccomp.h) */
	int r = rt_exec_start(&eo, &proc, &code, &err);
	rt_seccomp_set_cache_dir(NULL);
	if (cg)
		rt_cgroup_free(cg);
	rt_spec_free(&spec);
	if (r < 0) {
		if (r == -ESRCH) {
			fprintf(stderr, "Error: %s\n", err->msg);
			return 1;
		}
		cmd_error(ctx, err);
		return code ? code : EXIT_ENGINE;
	}
	if (detach) {
		if (proc.pty_master >= 0)
			close(proc.pty_master);
		return 0;
	}
	r = rt_exec_wait(&proc, interactive ? STDIN_FILENO : -1, STDOUT_FILENO, &code, &err);
	if (r < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	return code;
}
