/* Control groups of a container: create with limits, enter, freeze, signal, list, destroy.
 *
 * Works on the three layouts of cgroup_layout.h:
 *   v1      one directory per hierarchy: <mount>/<parent>/<id> for cpuset, cpu, cpuacct,
 *           memory, devices, freezer, blkio, pids and name=systemd (whichever are mounted;
 *           co-mounted controllers such as cpu,cpuacct share one directory);
 *   hybrid  the same plus <root>/unified/<parent>/<id> on the cgroup2 mount (no controllers
 *           there, but it tracks the processes and offers cgroup.kill);
 *   v2      <root>/<parent>/<id> with the cpu, cpuset, io, memory and pids controllers
 *           enabled in the parents' cgroup.subtree_control.
 * Like Docker's cgroupfs driver the directories sit at the top of each hierarchy
 * (/sys/fs/cgroup/memory/berth/<id>), not under the caller's own cgroup.
 *
 * A struct rt_cgroup is only a set of paths: create it in the process that starts the
 * container, and rt_cgroup_open() it again in `berth stop/pause/top/rm`.
 * All functions return 0 (or a count) or -errno with *err set; none prints.
 */
#ifndef BERTH_RUNTIME_CGROUP_H
#define BERTH_RUNTIME_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup_layout.h"
#include "err.h"

/* Limits; a zeroed struct means no limit at all. */
struct rt_cgroup_limits {
	int64_t memory;      /* bytes, --memory; 0 = unlimited. Docker's minimum is 6 MiB */
	int64_t memory_swap; /* memory plus swap, --memory-swap: 0 = Docker's default, twice
				memory; -1 = unlimited swap; else >= memory. Needs memory set.
				Applied only where the host accounts swap (memsw / swap.max) */
	int64_t pids;        /* --pids-limit; 0 or -1 = unlimited */
	uint64_t cpu_quota;  /* CFS quota in microseconds per period; 0 = unlimited */
	uint64_t cpu_period; /* CFS period in microseconds; 0 = the kernel's (100000) */
	uint64_t cpu_shares; /* --cpu-shares (v1 weight, 2..262144); 0 = unset. v2: cpu.weight */
	char *cpuset_cpus;   /* --cpuset-cpus "0-1,3"; NULL = the parent's CPUs. Not owned */
	int devices_all;     /* --privileged: no device restrictions (v1 "a" in devices.allow) */
};

struct rt_cgroup;

/* Create <parent>/<id> (parent "berth" for containers; it may contain '/', never "..";
 * id may not) in every hierarchy under /sys/fs/cgroup, apply lim (may be NULL), and on v1
 * restrict devices to Docker's default list (deny all; mknod of any device; rwm on
 * null, zero, full, random, urandom, tty, console, ptmx, every pts, net/tun; every device with
 * lim->devices_all). An existing
 * directory is reused. On failure every directory made here is removed again.
 * A limit whose controller the host lacks fails with -EOPNOTSUPP. *ret is owned by the
 * caller (rt_cgroup_free). */
int rt_cgroup_create(const char *parent, const char *id, const struct rt_cgroup_limits *lim,
		     struct rt_cgroup **ret, struct berr **err);

/* Find the directories of an existing container's cgroup. -ENOENT when there are none. */
int rt_cgroup_open(const char *parent, const char *id, struct rt_cgroup **ret,
		   struct berr **err);

/* The same with another cgroup root than /sys/fs/cgroup (tests use /sys/fs/cgroup/unified
 * to exercise the v2 code on a hybrid host). */
int rt_cgroup_create_at(const char *root, const char *parent, const char *id,
			const struct rt_cgroup_limits *lim, struct rt_cgroup **ret,
			struct berr **err);
int rt_cgroup_open_at(const char *root, const char *parent, const char *id,
		      struct rt_cgroup **ret, struct berr **err);

void rt_cgroup_free(struct rt_cgroup *cg);

enum rt_cgroup_layout rt_cgroup_get_layout(const struct rt_cgroup *cg);

/* The directory of controller ctl ("memory", "pids", "cpu", "freezer", "devices", "cpuset",
 * "blkio", "cpuacct"; "unified" for the cgroup2 directory on hybrid and v2), or NULL when
 * there is none. Owned by cg. On v2 every controller maps to the one directory. */
const char *rt_cgroup_path(const struct rt_cgroup *cg, const char *ctl);

/* Move process pid (all its threads) into every directory of cg. */
int rt_cgroup_enter(struct rt_cgroup *cg, pid_t pid, struct berr **err);

/* A new process joins cg on its own instead: moving another process (writing its pid to
 * cgroup.procs) takes the kernel's global cgroup_threadgroup_rwsem for writing, which waits
 * for an RCU grace period, 8-15 ms here per start; a single-threaded process writing "0"
 * (itself) to a v1 hierarchy's `tasks` file does not take it, and clone3(CLONE_INTO_CGROUP)
 * creates the process in a cgroup2 directory directly.
 *
 * rt_cgroup_join_prepare() opens, in the parent, the `tasks` file of every v1 directory and
 * the cgroup2 directory (for CLONE_INTO_CGROUP: j->v2_fd, -1 when there is none). The
 * parent passes j->v2_fd to clone3; when the kernel refused CLONE_INTO_CGROUP it calls
 * rt_cgroup_join_v2_pid() for the child. The child, single-threaded, calls
 * rt_cgroup_join_self() (only write(2): safe after a raw clone) before anything that must
 * run inside the cgroup. rt_cgroup_join_close() closes the fds (in both processes). */
#define RT_CGROUP_JOIN_MAX 16
struct rt_cgroup_join {
	int tasks_fd[RT_CGROUP_JOIN_MAX];
	const char *tasks_dir[RT_CGROUP_JOIN_MAX]; /* owned by the cgroup */
	size_t n;
	int v2_fd;
	const char *v2_path; /* owned by the cgroup */
};
int rt_cgroup_join_prepare(struct rt_cgroup *cg, struct rt_cgroup_join *j, struct berr **err);
/* Returns 0, or -errno with *ret_dir naming the directory that refused. */
int rt_cgroup_join_self(const struct rt_cgroup_join *j, const char **ret_dir);
int rt_cgroup_join_v2_pid(const struct rt_cgroup_join *j, pid_t pid, struct berr **err);
void rt_cgroup_join_close(struct rt_cgroup_join *j);

/* Freeze (1) or thaw (0) every process, and wait up to 10 s until the kernel reports the
 * new state: v1 freezer.state FROZEN/THAWED; v2 cgroup.freeze and "frozen" in cgroup.events
 * (used on hybrid hosts that lack the v1 freezer). -ETIMEDOUT on timeout (a failed freeze
 * is thawed back); -EOPNOTSUPP without any freezer. */
int rt_cgroup_freeze(struct rt_cgroup *cg, int frozen, struct berr **err);

/* *ret = 1 when frozen (Docker's "paused"). */
int rt_cgroup_is_frozen(struct rt_cgroup *cg, int *ret, struct berr **err);

/* Send sig to every process of cg and of its sub-cgroups. SIGKILL uses cgroup.kill when
 * there is a cgroup2 directory (kernel 5.14+); otherwise the cgroup is frozen while the
 * processes are listed and signalled, so that forks cannot escape, and then returned to
 * its previous state. Returns the number of processes signalled (cgroup.kill: 0). */
int rt_cgroup_kill_all(struct rt_cgroup *cg, int sig, struct berr **err);

/* The processes of cg (and of its sub-cgroups), as seen from the caller's pid namespace,
 * sorted, without duplicates. *ret_pids is owned by the caller (free; NULL when n is 0). */
int rt_cgroup_pids(struct rt_cgroup *cg, pid_t **ret_pids, size_t *ret_n, struct berr **err);

/* Kill what is left (SIGKILL; a frozen cgroup is thawed so that its processes can die),
 * wait up to 10 s for the cgroup to empty, and remove the directory (and sub-cgroups) in
 * every hierarchy. The parent directories stay. Killed children must be reaped by their
 * parent for the kernel to let go of them. -EBUSY when processes survive. cg stays
 * allocated (rt_cgroup_free). */
int rt_cgroup_destroy(struct rt_cgroup *cg, struct berr **err);

/* Docker's size syntax for --memory and friends (go-units RAMInBytes): a decimal number,
 * an optional space, an optional unit b, k, m, g, t, p (powers of 1024, any case), which may
 * be followed by "b" or "ib": "512m", "1.5g", "1024", "10 KiB". -EINVAL or -ERANGE. */
int rt_parse_bytes(const char *s, int64_t *ret, struct berr **err);

/* Docker's --cpus: a decimal number of CPUs with at most 9 decimals, returned in
 * nano-CPUs ("1.5" -> 1500000000). "0" means unset. Otherwise it must lie between 0.01 and
 * the number of online CPUs, as Docker checks (-EINVAL with Docker's message). */
int rt_parse_cpus(const char *s, uint64_t *ret_nano_cpus, struct berr **err);

/* Docker's translation of --cpus to CFS: period 100000 us, quota = nano * period / 1e9. */
void rt_cgroup_limits_set_cpus(struct rt_cgroup_limits *lim, uint64_t nano_cpus);

#endif
