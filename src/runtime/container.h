/* The container spec: everything needed to start a container's init process, independent
 * of how the CLI got it (flags, image config, config.json of `berth create`).
 *
 * A spec owns every string and array it points to; rt_spec_free() releases them. The spec
 * is plain data: linux.c turns it into namespaces and mounts (rt_linux_start), monitor.c
 * runs it under a monitor, state.c stores it (rt_spec_to_json / rt_spec_from_json) in the
 * container's config.json.
 *
 * On-disk layout of one container (all under <root>/containers/<id>/, see state.h):
 *   config.json state.json <id>-json.log hostname hosts resolv.conf
 *   upper/ work/ merged/   (the overlay's upper, work and mount point)
 */
#ifndef BERTH_RUNTIME_CONTAINER_H
#define BERTH_RUNTIME_CONTAINER_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "strv.h"
#include "cgroup.h"
#include "rlimit.h"

/* Length of a container id in hex (sha256-sized, like Docker's). */
#define RT_ID_LEN 64

enum rt_mount_type {
	RT_MOUNT_BIND = 0,
	RT_MOUNT_TMPFS,
};

/* One user mount (-v, --mount, --tmpfs). */
struct rt_mount {
	enum rt_mount_type type;
	char *source;		   /* bind: absolute host path; tmpfs: NULL */
	char *destination;	   /* absolute path inside the container */
	unsigned long flags;	   /* MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC (rbind) */
	unsigned long propagation; /* 0 (keep), or MS_PRIVATE/MS_SLAVE/MS_SHARED, | MS_REC */
	char *data;		   /* tmpfs: "size=64m,mode=1777"; NULL for none */
};

enum rt_seccomp_mode {
	RT_SECCOMP_DEFAULT = 0, /* Docker's default profile (rt_seccomp_load_default) */
	RT_SECCOMP_UNCONFINED,	/* no filter */
	RT_SECCOMP_FILE,	/* seccomp_profile names a Docker JSON profile */
};

struct rt_spec {
	/* Root filesystem. rootfs is required: with lowerdirs it is the (empty) directory the
	 * overlay is mounted on, without them it is a plain root directory used as is. */
	char *rootfs;
	struct strv lowerdirs; /* overlay lower dirs, TOP FIRST (overlay's order) */
	char *upperdir;	       /* required with lowerdirs; same fs as workdir */
	char *workdir;
	int readonly_rootfs;

	/* The process. */
	struct strv args; /* args.v[0] is looked up in the container's PATH when it has no '/' */
	struct strv env;  /* "K=V"; PATH from here is used for the lookup, else Docker's default */
	char *cwd;	  /* absolute; created when missing; NULL = "/" */
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* additional gids */
	size_t ngroups;
	int tty; /* a pty from the container's own devpts as stdin/out/err */
	unsigned short console_rows, console_cols; /* its initial size; 0: the kernel's.
						    * Not stored by rt_spec_to_json. */
	int no_new_privs;			   /* prctl(PR_SET_NO_NEW_PRIVS) */
	uint64_t caps; /* capability mask (rt_caps_default() for Docker's set) */
	enum rt_seccomp_mode seccomp;
	char *seccomp_profile; /* RT_SECCOMP_FILE: path of the JSON profile */
	struct rt_rlimit *rlimits;
	size_t nrlimits;

	/* Isolation. */
	char *hostname;		  /* NULL: keep the host's (only with a new UTS namespace) */
	unsigned long namespaces; /* CLONE_NEW* flags to create; CLONE_NEWNS is always created */
	struct rt_mount *mounts;
	size_t nmounts;
	struct strv masked_paths; /* made unreadable: /dev/null on files, empty ro tmpfs on dirs */
	struct strv readonly_paths; /* bind-mounted read-only onto themselves */
	int host_devices; /* --privileged: the host's device nodes in /dev, /sys writable */
	/* Host files bind-mounted onto /etc/hostname, /etc/hosts, /etc/resolv.conf (NULL: not
	 * mounted). rt_etc_files_write() writes them into the container's directory. */
	char *etc_hostname;
	char *etc_hosts;
	char *etc_resolv;

	/* Resources: the cgroup <cgroup_parent>/<id> gets these limits (see cgroup.h; zero
	 * means unlimited). Unlike in cgroup.h, cgroup.cpuset_cpus is owned by the spec. */
	char *cgroup_parent; /* NULL = "berth" */
	struct rt_cgroup_limits cgroup;
};

/* Docker's defaults: every namespace, Docker's capability set, the default seccomp
 * profile, Docker's masked and read-only paths, cwd "/", uid/gid 0, no limits.
 * Returns 0 or -ENOMEM (the spec is then freed). */
int rt_spec_init(struct rt_spec *spec);
void rt_spec_free(struct rt_spec *spec);

/* Append a copy of m (strings are copied). 0 or -ENOMEM. */
int rt_spec_add_mount(struct rt_spec *spec, const struct rt_mount *m);

/* Apply one mount option of Docker's -v/--mount/--tmpfs syntax to m: ro, rw, nosuid, suid,
 * nodev, dev, noexec, exec, bind, rbind, [r]private, [r]slave, [r]shared; "z"/"Z" are
 * accepted and ignored (no SELinux). For tmpfs, size=, mode=, uid=, gid=, nr_inodes= are
 * appended to m->data. Anything else: -EINVAL with err naming the option. */
int rt_mount_add_option(struct rt_mount *m, const char *opt, struct berr **err);
void rt_mount_clear(struct rt_mount *m);

/* Serialise a spec into a new JSON object (owned by the caller), and back. from_json checks
 * every type and fills a spec that the caller frees with rt_spec_free() (also on failure). */
json_t *rt_spec_to_json(const struct rt_spec *spec);
int rt_spec_from_json(json_t *j, struct rt_spec *ret, struct berr **err);

/* A fresh random container id: RT_ID_LEN lowercase hex digits and a NUL. */
int rt_id_new(char ret[RT_ID_LEN + 1]);
/* 1 when s is a full container id (RT_ID_LEN lowercase hex digits), else 0. */
int rt_id_valid(const char *s);

/* Write "hostname", "hosts" and "resolv.conf" into dirfd for a container named hostname
 * (Docker's localhost entries, the host's resolv.conf without loopback name servers; with
 * none left, Docker's fallback 8.8.8.8 / 8.8.4.4), and point spec->etc_* at them
 * (dir_path is dirfd's absolute path). */
int rt_etc_files_write(int dirfd, const char *dir_path, const char *hostname, struct rt_spec *spec,
		       struct berr **err);
/* The same into a batch of the container's directory (written by fs_batch_commit). */
struct fs_batch;
int rt_etc_files_add(struct fs_batch *batch, const char *dir_path, const char *hostname,
		     struct rt_spec *spec, struct berr **err);

/* Time helpers: now as nanoseconds since the epoch, and the RFC 3339 form with nine
 * fractional digits in UTC ("2024-05-01T10:20:30.123456789Z", Docker's log time format).
 * buf must hold RT_TIME_STR_MAX bytes. */
#define RT_TIME_STR_MAX 40
int64_t rt_time_now_ns(void);
void rt_time_format(int64_t ns, char *buf);

#endif
