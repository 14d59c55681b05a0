#include <jansson.h>

#include "state.h"
#include "cleanup.h"
#include "container.h"
#include "fs.h"
#include "linux.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

#define STATE_MAX (64u << 10)
#define CONFIG_MAX (16u << 20)

static const char *const status_names[] = {
    [RT_STATUS_CREATED] = "created", [RT_STATUS_RUNNING] = "running",
    [RT_STATUS_PAUSED] = "paused",   [RT_STATUS_RESTARTING] = "restarting",
    [RT_STATUS_EXITED] = "exited",
};

const char *rt_status_name(enum rt_status s)
{
	if ((unsigned)s < ARRAY_SIZE(status_names))
		return status_names[s];
	return "unknown";
}

int rt_status_parse(const char *name, enum rt_status *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(status_names); i++)
		if (streq(name, status_names[i])) {
			*ret = (enum rt_status)i;
			return 0;
		}
	return -EINVAL;
}

void rt_state_init(struct rt_state *st)
{
	memset(st, 0, sizeof(*st));
	st->status = RT_STATUS_CREATED;
}

void rt_boot_id(char *buf, size_t len)
{
	buf[0] = '\0';
	_cleanup_close_ int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || len == 0)
		return;
	ssize_t n = read(fd, buf, len - 1);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

static int containers_path(const char *root, const char *id, char **ret, struct berr **err)
{
	if (!rt_id_valid(id))
		return berr_set(err, EINVAL, "invalid container id '%s'", id);
	if (asprintf(ret, "%s/containers/%s", root, id) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

int rt_container_dir_create(const char *root, const char *id, int *ret_dirfd, struct berr **err)
{
	_cleanup_free_ char *path = NULL, *parent = NULL;
	int r = containers_path(root, id, &path, err);
	if (r < 0)
		return r;
	if (asprintf(&parent, "%s/containers", root) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	if ((r = fs_mkdir_p_at(AT_FDCWD, parent, 0700)) < 0)
		return berr_errno(err, r, "create '%s'", parent);
	if (mkdir(path, 0700) < 0)
		return berr_errno(err, errno, "create '%s'", path);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berr_errno(err, errno, "open '%s'", path);
	*ret_dirfd = fd;
	return 0;
}

int rt_container_dir_open(const char *root, const char *id, int *ret_dirfd, struct berr **err)
{
	_cleanup_free_ char *path = NULL;
	int r = containers_path(root, id, &path, err);
	if (r < 0)
		return r;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return berr_set(err, ENOENT, "no such container: %s", id);
		return berr_errno(err, errno, "open '%s'", path);
	}
	*ret_dirfd = fd;
	return 0;
}

int rt_state_lock(int dirfd, int exclusive, struct berr **err)
{
	while (flock(dirfd, exclusive ? LOCK_EX : LOCK_SH) < 0)
		if (errno != EINTR)
			return berr_errno(err, errno, "lock the container");
	return 0;
}

void rt_state_unlock(int dirfd)
{
	flock(dirfd, LOCK_UN);
}

static char *state_json(const struct rt_state *st)
{
	_cleanup_json_ json_t *o = json_pack(
	    "{s:s,s:i,s:I,s:i,s:I,s:i,s:I,s:I,s:i,s:b,s:b,s:s,s:s}", "Status",
	    rt_status_name(st->status), "Pid", (int)st->pid, "PidStartTime",
	    (json_int_t)st->pid_start, "MonitorPid", (int)st->monitor_pid, "MonitorStartTime",
	    (json_int_t)st->monitor_start, "ExitCode", st->exit_code, "StartedAt",
	    (json_int_t)st->started_ns, "FinishedAt", (json_int_t)st->finished_ns, "RestartCount",
	    st->restart_count, "StopRequested", st->stop_requested, "OOMKilled", st->oom_killed,
	    "BootId", st->boot_id, "Error", st->error);
	return o ? json_dumps(o, JSON_COMPACT) : NULL;
}

static int state_write(int dirfd, struct fs_batch *batch, int sync, const struct rt_state *st,
		       struct berr **err)
{
	_cleanup_free_ char *s = state_json(st);
	if (!s)
		return berr_set(err, ENOMEM, "out of memory");
	/* Every writer holds the state lock (rt_state_lock), as the shared spare needs. */
	int r = batch ? fs_batch_add(batch, "state.json", s, strlen(s), 0600)
		      : fs_write_swap_at(dirfd, "state.json", ".state.json.spare", s, strlen(s),
					 0600, sync);
	if (r < 0)
		return berr_errno(err, r, "write state.json");
	return 0;
}

int rt_state_write(int dirfd, const struct rt_state *st, struct berr **err)
{
	return state_write(dirfd, NULL, 1, st, err);
}

int rt_state_write_nosync(int dirfd, const struct rt_state *st, struct berr **err)
{
	return state_write(dirfd, NULL, 0, st, err);
}

int rt_state_add(struct fs_batch *batch, const struct rt_state *st, struct berr **err)
{
	return state_write(-1, batch, 1, st, err);
}

static int get_num(json_t *o, const char *key, long long min, long long max, long long *ret,
		   struct berr **err)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return berr_set(err, EINVAL, "state.json: '%s' is not a valid number", key);
	*ret = json_integer_value(v);
	return 0;
}

static int get_text(json_t *o, const char *key, char *buf, size_t cap, struct berr **err)
{
	json_t *v = json_object_get(o, key);
	buf[0] = '\0';
	if (!v)
		return 0;
	if (!json_is_string(v))
		return berr_set(err, EINVAL, "state.json: '%s' is not a string", key);
	snprintf(buf, cap, "%s", json_string_value(v));
	return 0;
}

static int get_flag(json_t *o, const char *key, int *ret, struct berr **err)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return berr_set(err, EINVAL, "state.json: '%s' is not a boolean", key);
	*ret = json_is_true(v);
	return 0;
}

int rt_state_load(int dirfd, struct rt_state *ret, struct berr **err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	rt_state_init(ret);
	int r = fs_read_all_at(dirfd, "state.json", STATE_MAX, &data, &len);
	if (r < 0)
		return berr_errno(err, r, "read state.json");
	json_error_t je;
	_cleanup_json_ json_t *o = json_loadb(data, len, 0, &je);
	if (!o || !json_is_object(o))
		return berr_set(err, EINVAL, "state.json: not a JSON object");
	json_t *s = json_object_get(o, "Status");
	if (!json_is_string(s) || rt_status_parse(json_string_value(s), &ret->status) < 0)
		return berr_set(err, EINVAL, "state.json: bad 'Status'");
	long long v[8] = {0};
	if ((r = get_num(o, "Pid", 0, INT32_MAX, &v[0], err)) < 0 ||
	    (r = get_num(o, "PidStartTime", 0, INT64_MAX, &v[1], err)) < 0 ||
	    (r = get_num(o, "MonitorPid", 0, INT32_MAX, &v[2], err)) < 0 ||
	    (r = get_num(o, "MonitorStartTime", 0, INT64_MAX, &v[3], err)) < 0 ||
	    (r = get_num(o, "ExitCode", -1, 255, &v[4], err)) < 0 ||
	    (r = get_num(o, "StartedAt", 0, INT64_MAX, &v[5], err)) < 0 ||
	    (r = get_num(o, "FinishedAt", 0, INT64_MAX, &v[6], err)) < 0 ||
	    (r = get_num(o, "RestartCount", 0, INT32_MAX, &v[7], err)) < 0 ||
	    (r = get_flag(o, "StopRequested", &ret->stop_requested, err)) < 0 ||
	    (r = get_flag(o, "OOMKilled", &ret->oom_killed, err)) < 0 ||
	    (r = get_text(o, "BootId", ret->boot_id, sizeof(ret->boot_id), err)) < 0 ||
	    (r = get_text(o, "Error", ret->error, sizeof(ret->error), err)) < 0)
		return r;
	ret->pid = (pid_t)v[0];
	ret->pid_start = (unsigned long long)v[1];
	ret->monitor_pid = (pid_t)v[2];
	ret->monitor_start = (unsigned long long)v[3];
	ret->exit_code = (int)v[4];
	ret->started_ns = v[5];
	ret->finished_ns = v[6];
	ret->restart_count = (int)v[7];
	return 0;
}

/* 1 when pid is alive and is the process that started at start_time. A zombie counts as
 * alive only when zombie_ok: its parent has not collected the exit status yet. */
static int proc_alive(pid_t pid, unsigned long long start_time, int zombie_ok)
{
	unsigned long long st;
	int zombie = 0;
	if (pid <= 0 || rt_proc_start_time(pid, &st, &zombie) < 0)
		return 0;
	return st == start_time && (zombie_ok || !zombie);
}

int rt_state_reconcile(struct rt_state *st)
{
	if (st->status != RT_STATUS_RUNNING && st->status != RT_STATUS_PAUSED &&
	    st->status != RT_STATUS_RESTARTING)
		return 0;
	char boot[40];
	rt_boot_id(boot, sizeof(boot));
	int same_boot = !st->boot_id[0] || !boot[0] || streq(boot, st->boot_id);
	int monitor = same_boot && proc_alive(st->monitor_pid, st->monitor_start, 0);
	int alive;
	if (st->status == RT_STATUS_RESTARTING)
		/* Between two runs only the monitor exists; without it nobody restarts. */
		alive = monitor;
	else
		/* A zombie with a live monitor: the monitor is about to record the exit (it
		 * records before it reaps, under the lock). */
		alive = same_boot && proc_alive(st->pid, st->pid_start, monitor);
	if (alive)
		return 0;
	st->status = RT_STATUS_EXITED;
	st->exit_code = RT_EXIT_UNKNOWN;
	st->finished_ns = rt_time_now_ns();
	st->pid = 0;
	st->pid_start = 0;
	if (!monitor) {
		st->monitor_pid = 0;
		st->monitor_start = 0;
	}
	return 1;
}

int rt_state_read(int dirfd, struct rt_state *ret, struct berr **err)
{
	int r = rt_state_lock(dirfd, 1, err);
	if (r < 0)
		return r;
	r = rt_state_load(dirfd, ret, err);
	if (r == 0 && rt_state_reconcile(ret) == 1)
		r = rt_state_write(dirfd, ret, err);
	rt_state_unlock(dirfd);
	return r;
}

static int config_write(int dirfd, struct fs_batch *batch, json_t *config, struct berr **err)
{
	_cleanup_free_ char *s = json_dumps(config, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!s)
		return berr_set(err, ENOMEM, "out of memory");
	int r = batch ? fs_batch_add(batch, "config.json", s, strlen(s), 0600)
		      : fs_write_atomic_at(dirfd, "config.json", s, strlen(s), 0600);
	if (r < 0)
		return berr_errno(err, r, "write config.json");
	return 0;
}

int rt_config_write(int dirfd, json_t *config, struct berr **err)
{
	return config_write(dirfd, NULL, config, err);
}

int rt_config_add(struct fs_batch *batch, json_t *config, struct berr **err)
{
	return config_write(-1, batch, config, err);
}

int rt_config_read(int dirfd, json_t **ret, struct berr **err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = fs_read_all_at(dirfd, "config.json", CONFIG_MAX, &data, &len);
	if (r < 0)
		return berr_errno(err, r, "read config.json");
	json_error_t je;
	json_t *o = json_loadb(data, len, 0, &je);
	if (!o)
		return berr_set(err, EINVAL, "config.json: line %d: %s", je.line, je.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return berr_set(err, EINVAL, "config.json: not a JSON object");
	}
	*ret = o;
	return 0;
}

int rt_container_list(const char *root, struct strv *ret, struct berr **err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/containers", root) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_closedir_ DIR *d = opendir(path);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return berr_errno(err, errno, "open '%s'", path);
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (rt_id_valid(de->d_name) && strv_push(ret, de->d_name) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	strv_sort(ret);
	return 0;
}

static int containers_dir(const char *root, struct berr **err)
{
	_cleanup_free_ char *parent = NULL;
	if (asprintf(&parent, "%s/containers", root) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return berr_errno(err, errno, "open '%s'", parent);
	return pfd;
}

int rt_container_hide(const char *root, const char *id, struct berr **err)
{
	_cleanup_close_ int dirfd = -1;
	int r = rt_container_dir_open(root, id, &dirfd, err);
	if (r < 0)
		return r;
	if ((r = rt_state_lock(dirfd, 1, err)) < 0)
		return r;
	_cleanup_close_ int pfd = containers_dir(root, err);
	if (pfd < 0)
		return pfd;
	/* Rename first, then delete: a crash half-way leaves a name that no listing shows
	 * (it is not a valid id) instead of a half-deleted container. */
	char tmp[RT_ID_LEN + 16];
	snprintf(tmp, sizeof(tmp), ".rm-%s", id);
	if (renameat(pfd, id, pfd, tmp) < 0)
		return berr_errno(err, errno, "remove container %s", id);
	return 0;
}

int rt_container_purge(const char *root, const char *id, struct berr **err)
{
	_cleanup_close_ int pfd = containers_dir(root, err);
	if (pfd < 0)
		return pfd;
	char tmp[RT_ID_LEN + 16];
	snprintf(tmp, sizeof(tmp), ".rm-%s", id);
	int r = fs_rm_rf_at(pfd, tmp);
	if (r < 0)
		return berr_errno(err, r, "remove container %s", id);
	return 0;
}

int rt_container_remove(const char *root, const char *id, struct berr **err)
{
	int r = rt_container_hide(root, id, err);
	return r < 0 ? r : rt_container_purge(root, id, err);
}
