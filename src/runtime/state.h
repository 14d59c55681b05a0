/* Container records on disk: <root>/containers/<id>/config.json (what to run: written at
 * create, read at start) and state.json (what happened: status, pids, exit code, times).
 *
 * Both are written atomically (temp file, fsync, rename). A per-container flock(2) on the
 * container's directory serialises read-modify-write cycles: the monitor holds it exclusive
 * while it records an exit, commands hold it while they change the state (stop sets
 * stop_requested) or remove the container.
 *
 * state.json may lie after a crash: a monitor killed with SIGKILL or a reboot leaves
 * "running" behind. rt_state_read() checks the recorded pids against /proc (pid plus its
 * start time, so a reused pid is not mistaken for the container) and the boot id, and
 * reports (and writes back) "exited" with exit code 255 when the container is gone without a
 * recorded exit. Format: docs/internals/RUNTIME.md.
 *
 * All functions return 0 or -errno with *err set; none prints.
 */
#ifndef BERTH_RUNTIME_STATE_H
#define BERTH_RUNTIME_STATE_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "strv.h"

enum rt_status {
	RT_STATUS_CREATED = 0, /* recorded, never started (or its start failed: see error) */
	RT_STATUS_RUNNING,
	RT_STATUS_PAUSED,
	RT_STATUS_RESTARTING, /* exited, the monitor waits to start it again */
	RT_STATUS_EXITED,
};

/* "created", "running", "paused", "restarting", "exited" (Docker's words). */
const char *rt_status_name(enum rt_status s);
int rt_status_parse(const char *name, enum rt_status *ret);

/* The exit code recorded when a container vanished without its monitor seeing the exit. */
#define RT_EXIT_UNKNOWN 255

struct rt_state {
	enum rt_status status;
	pid_t pid;			  /* init's pid (host pid namespace); 0 when none */
	unsigned long long pid_start;	  /* its /proc/<pid>/stat starttime */
	pid_t monitor_pid;		  /* 0 when none */
	unsigned long long monitor_start; /* the monitor's starttime */
	int exit_code;			  /* last exit: the status, 128+signal, 125..127 */
	int64_t started_ns;		  /* last start, ns since the epoch; 0 = never */
	int64_t finished_ns;		  /* last exit; 0 = never */
	int restart_count;
	int stop_requested; /* set by stop/kill: the restart policy does not restart it */
	int oom_killed;
	char boot_id[40]; /* /proc/sys/kernel/random/boot_id when pid was recorded */
	char error[1024]; /* why the last start failed; "" when it did not */
};

/* A fresh "created" state. */
void rt_state_init(struct rt_state *st);

/* Create <root>/containers/<id> (mode 0700, parents 0700) and return an O_DIRECTORY fd.
 * -EEXIST when it exists. */
int rt_container_dir_create(const char *root, const char *id, int *ret_dirfd, struct berr **err);
/* Open an existing container directory. -ENOENT when there is no such container. */
int rt_container_dir_open(const char *root, const char *id, int *ret_dirfd, struct berr **err);

/* flock the container directory (blocking); unlock releases it. */
int rt_state_lock(int dirfd, int exclusive, struct berr **err);
void rt_state_unlock(int dirfd);

/* Write state.json atomically. The caller holds the lock exclusive. */
int rt_state_write(int dirfd, const struct rt_state *st, struct berr **err);
/* The same without fsync (fs_write_atomic_nosync_at): for the records a reboot makes moot
 * (a running container: after a reboot its boot id no longer matches, see
 * rt_state_reconcile) or that are about to be deleted (--rm). */
int rt_state_write_nosync(int dirfd, const struct rt_state *st, struct berr **err);
/* state.json into a batch of the container's directory (a new container's files). */
struct fs_batch;
int rt_state_add(struct fs_batch *batch, const struct rt_state *st, struct berr **err);
/* Read state.json as recorded (no check against /proc). -ENOENT when missing. */
int rt_state_load(int dirfd, struct rt_state *ret, struct berr **err);
/* Correct st against the running system as described at the top. Returns 1 when st was
 * changed, 0 when not. Does not write. */
int rt_state_reconcile(struct rt_state *st);
/* Load, reconcile and, when the record was wrong, write the correction back; takes the
 * lock itself. This is what commands should use to show a container's status. */
int rt_state_read(int dirfd, struct rt_state *ret, struct berr **err);

/* config.json: any JSON object the commands keep (the spec is under "Spec", see
 * rt_spec_to_json). Written atomically; read returns a new reference. */
int rt_config_write(int dirfd, json_t *config, struct berr **err);
int rt_config_add(struct fs_batch *batch, json_t *config, struct berr **err);
int rt_config_read(int dirfd, json_t **ret, struct berr **err);

/* The ids of all containers under root (directories with a valid id name), sorted. */
int rt_container_list(const char *root, struct strv *ret, struct berr **err);

/* Remove a container's directory and everything in it, holding its lock exclusive.
 * A missing container is -ENOENT. The caller checks that it is not running. */
int rt_container_remove(const char *root, const char *id, struct berr **err);
/* Its two halves: hide renames the directory to containers/.rm-<id> under the container's
 * lock (no listing shows it any more, its name is free); purge deletes that directory. */
int rt_container_hide(const char *root, const char *id, struct berr **err);
int rt_container_purge(const char *root, const char *id, struct berr **err);

/* This boot's id (36 characters) into buf (>= 40 bytes); "" when unknown. */
void rt_boot_id(char *buf, size_t len);

#endif
