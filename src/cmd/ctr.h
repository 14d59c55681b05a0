/* What the container commands (run, create, start, stop, ps, logs, exec, inspect, ...)
 * share: the container record, finding a container by name or id, the list, creating a
 * container from an image (image config + flags -> Docker-shaped config + runtime spec),
 * starting, signalling and stopping one, and Docker's inspect document.
 *
 * A container is <root>/containers/<id>/ (see src/runtime/state.h): config.json holds
 * Docker's fields (Id, Created, Name, Image, Path, Args, Config, HostConfig, Mounts) and the
 * runtime spec under "Spec"; state.json what happened. Names are unique: create and rename
 * check them under <root>/locks/containers. The image a container uses keeps its record in
 * the store (rmi refuses it, see ctr_image_users), since store_gc() would take its layers.
 *
 * Nothing here prints. Functions return 0 or -errno with *err set; messages follow Docker
 * ("No such container: x").
 */
#ifndef BERTH_CMD_CTR_H
#define BERTH_CMD_CTR_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "container.h"
#include "err.h"
#include "monitor.h"
#include "state.h"
#include "strv.h"

#define CTR_STOP_TIMEOUT 10 /* Docker's default seconds between the stop signal and SIGKILL */

/* One container as the commands see it. */
struct ctr {
	char id[RT_ID_LEN + 1];
	json_t *config;       /* config.json, owned */
	struct rt_state state; /* reconciled with /proc (rt_state_read) */
	const char *name;     /* without the leading '/', points into config */
	int64_t created_ns;
};

/* Read one container's config and state. -ENOENT when it is gone. */
int ctr_load(const char *root, const char *id, struct ctr *ret, struct berr **err);
void ctr_free(struct ctr *c);

/* Find a container the way Docker does: a full id, then an exact name (with or without the
 * leading '/'), then a unique id prefix. -ENOENT "No such container: x"; an ambiguous prefix
 * is -EINVAL. */
int ctr_lookup(const char *root, const char *input, struct ctr *ret, struct berr **err);

/* Every container, newest first. The array is the caller's (ctr_list_free). Containers
 * that vanish while being read are skipped. */
int ctr_list(const char *root, struct ctr **ret, size_t *ret_n, struct berr **err);
void ctr_list_free(struct ctr *v, size_t n);

/* Docker's container name rule, [a-zA-Z0-9][a-zA-Z0-9_.-]+ (a leading '/' allowed). */
int ctr_name_valid(const char *name);
/* A random "adjective_surname" name into buf (at least 64 bytes). */
void ctr_name_random(char *buf, size_t len);

/* The global lock of container names (create, rename, rm): flock on
 * <root>/locks/containers. Returns the fd (close it to unlock). */
int ctr_names_lock(const char *root, struct berr **err);
/* The id of the container called name ("" when none). The caller holds the names lock. */
int ctr_name_owner(const char *root, const char *name, char ret_id[RT_ID_LEN + 1],
		   struct berr **err);

/* For rmi: the short ids of a running (or paused, restarting) and of a stopped container
 * that use image id ("" when none). */
int ctr_image_users(const char *root, const char *image_id, char ret_running[13],
		    char ret_stopped[13], struct berr **err);

/* ---- create ---- */

/* What run and create were told. Strings are borrowed. */
struct ctr_create_opts {
	const char *image;         /* what the user typed */
	char **args;               /* the command after the image (may be empty) */
	int nargs;
	const char *name;          /* NULL: a random one */
	const char *entrypoint;    /* NULL: the image's; "" clears it */
	int entrypoint_set;
	const char *user, *workdir, *hostname;
	const struct strv *env, *env_files, *labels, *volumes, *mounts, *tmpfs;
	const struct strv *cap_add, *cap_drop, *security_opts, *ulimits, *group_add;
	const char *memory, *memory_swap, *cpus, *cpuset_cpus;
	long cpu_shares, pids_limit;
	int pids_limit_set;
	const char *cgroup_parent; /* NULL: "berth" */
	const char *network;       /* NULL: "none" */
	json_t *net;               /* ctrnet_parse's record (borrowed); NULL: none */
	const char *restart;       /* NULL: "no" */
	const char *stop_signal;
	long stop_timeout;
	int stop_timeout_set;
	int interactive, tty, detach, autoremove, privileged, read_only, init;
	unsigned short rows, cols; /* the caller's terminal, for -t */
};

/* Create a container: resolve the image (holding the store's meta lock until the record
 * is written, so that rmi cannot take the image away meanwhile), build its config and spec,
 * write <root>/containers/<id>. ret_id receives the id. Bad flags and a missing image
 * are -EINVAL / -ENOENT, a name in use -EEXIST, each with Docker's message. */
int ctr_create(const char *root, const struct ctr_create_opts *o, char ret_id[RT_ID_LEN + 1],
	       struct berr **err);

/* ---- lifecycle ---- */

/* Start a created or exited container under a new monitor, with its networking
 * (ctrnet.h: ctx gives the root, the runroot and the config). With ret_conn the caller gets
 * the attach connection (see rt_monitor_start). On failure *ret_exit_code is 125..127. */
struct berth_ctx;
int ctr_start(struct berth_ctx *ctx, const struct ctr *c, unsigned short rows,
	      unsigned short cols, int *ret_conn, struct rt_monitor_started *ret,
	      int *ret_exit_code, struct berr **err);

/* The monitor options of a container (the strings point into c and spec). */
int ctr_monitor_opts(const char *root, const char *runroot, const struct ctr *c,
		     struct rt_spec *spec, struct rt_monitor_opts *ret, struct berr **err);

/* Send sig to the container's init (checked against its recorded start time). -ESRCH when
 * it does not run. With stop set, the stop is recorded first (no restart afterwards). */
int ctr_signal(const char *root, const struct ctr *c, int sig, int stop, struct berr **err);

/* Docker's stop: the stop signal, timeout seconds (< 0: the container's or Docker's 10),
 * then SIGKILL of every process; returns once the monitor has recorded the exit. */
int ctr_stop(const char *root, const struct ctr *c, long timeout, struct berr **err);

/* Wait until the container's monitor has gone (the exit is recorded) or timeout_ms passed
 * (< 0: forever). 0, or -ETIMEDOUT. */
int ctr_wait_stopped(const char *root, const char *id, long timeout_ms, struct berr **err);

/* Remove a container that does not run: its directory, cgroup leftovers and runroot
 * directory. */
int ctr_remove(const char *root, const char *runroot, const struct ctr *c, struct berr **err);

/* Signals by name ("KILL", "SIGKILL", "9"); -EINVAL when unknown. */
int ctr_signal_parse(const char *s, int *ret);

/* The container's spec from its config (the caller frees it with rt_spec_free). */
int ctr_spec(const struct ctr *c, struct rt_spec *ret, struct berr **err);

/* ---- presentation ---- */

/* Docker's ContainerJSON (inspect); size adds SizeRw/SizeRootFs. Owned by the caller. */
int ctr_inspect(const char *root, const struct ctr *c, int size, json_t **ret, struct berr **err);

/* "Up 3 minutes", "Exited (0) 2 hours ago", "Created", ... (docker ps's STATUS). */
char *ctr_status_text(const struct ctr *c, int64_t now_ns);

/* Docker's human durations: "Less than a second", "3 minutes", "About an hour". */
char *ctr_human_duration(int64_t ns);

/* Image name as ps shows it: what the user typed, or a short id when that name now names
 * another image. */
const char *ctr_image_name(const struct ctr *c);

/* ---- command helpers (these print: they are the commands' shared code) ---- */

struct berth_ctx;
/* Relay an attach connection to our stdio until the container exits or the user detaches
 * (run, start -a, attach); with proxy and no tty, signals to us go to the container's init
 * (pid). Returns the exit code for the command: the container's, 0 after a detach. */
int ctr_cmd_attached(struct berth_ctx *ctx, const char *id, int conn, pid_t pid, int tty,
		     int interactive, int proxy, const char *detach_keys);

#endif
