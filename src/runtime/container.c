#include <jansson.h>

#include "container.h"
#include "buf.h"
#include "caps.h"
#include "cleanup.h"
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <time.h>

#include "banned.h"

/* Docker's defaults (moby's oci/defaults.go): paths a container must not read, and paths it
 * must not write. Missing ones are skipped at mount time. */
static const char *const default_masked[] = {
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};
static const char *const default_readonly[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

int rt_spec_init(struct rt_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->namespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
			   CLONE_NEWCGROUP;
	spec->caps = rt_caps_default();
	spec->seccomp = RT_SECCOMP_DEFAULT;
	for (size_t i = 0; i < ARRAY_SIZE(default_masked); i++)
		if (strv_push(&spec->masked_paths, default_masked[i]) < 0)
			goto oom;
	for (size_t i = 0; i < ARRAY_SIZE(default_readonly); i++)
		if (strv_push(&spec->readonly_paths, default_readonly[i]) < 0)
			goto oom;
	return 0;
oom:
	rt_spec_free(spec);
	return -ENOMEM;
}

void rt_mount_clear(struct rt_mount *m)
{
	free(m->source);
	free(m->destination);
	free(m->data);
	memset(m, 0, sizeof(*m));
}

void rt_spec_free(struct rt_spec *spec)
{
	free(spec->rootfs);
	strv_free(&spec->lowerdirs);
	free(spec->upperdir);
	free(spec->workdir);
	strv_free(&spec->args);
	strv_free(&spec->env);
	free(spec->cwd);
	free(spec->groups);
	free(spec->seccomp_profile);
	free(spec->rlimits);
	free(spec->hostname);
	for (size_t i = 0; i < spec->nmounts; i++)
		rt_mount_clear(&spec->mounts[i]);
	free(spec->mounts);
	strv_free(&spec->masked_paths);
	strv_free(&spec->readonly_paths);
	free(spec->etc_hostname);
	free(spec->etc_hosts);
	free(spec->etc_resolv);
	free(spec->cgroup_parent);
	free(spec->cgroup.cpuset_cpus);
	memset(spec, 0, sizeof(*spec));
}

static int dup_opt(const char *s, char **ret)
{
	*ret = NULL;
	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

int rt_spec_add_mount(struct rt_spec *spec, const struct rt_mount *m)
{
	struct rt_mount *n = realloc(spec->mounts, (spec->nmounts + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	spec->mounts = n;
	struct rt_mount *c = &n[spec->nmounts];
	memset(c, 0, sizeof(*c));
	c->type = m->type;
	c->flags = m->flags;
	c->propagation = m->propagation;
	if (dup_opt(m->source, &c->source) < 0 || dup_opt(m->destination, &c->destination) < 0 ||
	    dup_opt(m->data, &c->data) < 0) {
		rt_mount_clear(c);
		return -ENOMEM;
	}
	spec->nmounts++;
	return 0;
}

struct flag_opt {
	const char *name;
	unsigned long set, clear;
};

static const struct flag_opt flag_opts[] = {
    {"ro", MS_RDONLY, 0},     {"rw", 0, MS_RDONLY},	  {"nosuid", MS_NOSUID, 0},
    {"suid", 0, MS_NOSUID},   {"nodev", MS_NODEV, 0},	  {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0}, {"exec", 0, MS_NOEXEC},	  {"rbind", MS_REC, 0},
    {"bind", 0, MS_REC},      {"readonly", MS_RDONLY, 0},
};

static const struct flag_opt prop_opts[] = {
    {"private", MS_PRIVATE, 0}, {"rprivate", MS_PRIVATE | MS_REC, 0},
    {"slave", MS_SLAVE, 0},	{"rslave", MS_SLAVE | MS_REC, 0},
    {"shared", MS_SHARED, 0},	{"rshared", MS_SHARED | MS_REC, 0},
};

static const char *const tmpfs_data_opts[] = {"size=", "mode=", "uid=", "gid=", "nr_inodes="};

int rt_mount_add_option(struct rt_mount *m, const char *opt, struct berr **err)
{
	for (size_t i = 0; i < ARRAY_SIZE(flag_opts); i++)
		if (streq(opt, flag_opts[i].name)) {
			m->flags = (m->flags | flag_opts[i].set) & ~flag_opts[i].clear;
			return 0;
		}
	for (size_t i = 0; i < ARRAY_SIZE(prop_opts); i++)
		if (streq(opt, prop_opts[i].name)) {
			m->propagation = prop_opts[i].set;
			return 0;
		}
	if (streq(opt, "z") || streq(opt, "Z"))
		return 0;
	if (m->type == RT_MOUNT_TMPFS)
		for (size_t i = 0; i < ARRAY_SIZE(tmpfs_data_opts); i++) {
			const char *p = tmpfs_data_opts[i];
			if (strncmp(opt, p, strlen(p)) != 0 || opt[strlen(p)] == '\0')
				continue;
			/* A comma would smuggle further options into the mount data. */
			if (strchr(opt, ','))
				break;
			char *d = NULL;
			if (asprintf(&d, "%s%s%s", m->data ? m->data : "", m->data ? "," : "",
				     opt) < 0)
				return berr_set(err, ENOMEM, "out of memory");
			free(m->data);
			m->data = d;
			return 0;
		}
	return berr_set(err, EINVAL, "invalid mount option '%s'", opt);
}

/* ---- JSON ---- */

static json_t *strv_json(const struct strv *v)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < v->n; i++)
		json_array_append_new(a, json_string(v->v[i]));
	return a;
}

static void set_str(json_t *o, const char *key, const char *s)
{
	if (s)
		json_object_set_new(o, key, json_string(s));
}

json_t *rt_spec_to_json(const struct rt_spec *s)
{
	_cleanup_json_ json_t *o = json_object();
	if (!o)
		return NULL;
	set_str(o, "rootfs", s->rootfs);
	json_object_set_new(o, "lowerdirs", strv_json(&s->lowerdirs));
	set_str(o, "upperdir", s->upperdir);
	set_str(o, "workdir", s->workdir);
	json_object_set_new(o, "readonly_rootfs", json_boolean(s->readonly_rootfs));
	json_object_set_new(o, "args", strv_json(&s->args));
	json_object_set_new(o, "env", strv_json(&s->env));
	set_str(o, "cwd", s->cwd);
	json_object_set_new(o, "uid", json_integer(s->uid));
	json_object_set_new(o, "gid", json_integer(s->gid));
	json_t *g = json_array();
	for (size_t i = 0; g && i < s->ngroups; i++)
		json_array_append_new(g, json_integer(s->groups[i]));
	json_object_set_new(o, "groups", g);
	json_object_set_new(o, "tty", json_boolean(s->tty));
	json_object_set_new(o, "no_new_privs", json_boolean(s->no_new_privs));
	json_object_set_new(o, "host_devices", json_boolean(s->host_devices));
	/* A string: JSON integers are signed 64-bit and a mask may use bit 63 one day. */
	char caps[24];
	snprintf(caps, sizeof(caps), "0x%016llx", (unsigned long long)s->caps);
	json_object_set_new(o, "caps", json_string(caps));
	json_object_set_new(o, "seccomp", json_integer(s->seccomp));
	set_str(o, "seccomp_profile", s->seccomp_profile);
	json_t *rl = json_array();
	for (size_t i = 0; rl && i < s->nrlimits; i++)
		json_array_append_new(rl,
				      json_pack("{s:i,s:I,s:I}", "resource", s->rlimits[i].resource,
						"soft", (json_int_t)s->rlimits[i].soft, "hard",
						(json_int_t)s->rlimits[i].hard));
	json_object_set_new(o, "rlimits", rl);
	set_str(o, "hostname", s->hostname);
	json_object_set_new(o, "namespaces", json_integer((json_int_t)s->namespaces));
	json_t *ms = json_array();
	for (size_t i = 0; ms && i < s->nmounts; i++) {
		const struct rt_mount *m = &s->mounts[i];
		json_t *mj = json_object();
		json_object_set_new(mj, "type", json_integer(m->type));
		set_str(mj, "source", m->source);
		set_str(mj, "destination", m->destination);
		json_object_set_new(mj, "flags", json_integer((json_int_t)m->flags));
		json_object_set_new(mj, "propagation", json_integer((json_int_t)m->propagation));
		set_str(mj, "data", m->data);
		json_array_append_new(ms, mj);
	}
	json_object_set_new(o, "mounts", ms);
	json_object_set_new(o, "masked_paths", strv_json(&s->masked_paths));
	json_object_set_new(o, "readonly_paths", strv_json(&s->readonly_paths));
	set_str(o, "etc_hostname", s->etc_hostname);
	set_str(o, "etc_hosts", s->etc_hosts);
	set_str(o, "etc_resolv", s->etc_resolv);
	set_str(o, "cgroup_parent", s->cgroup_parent);
	json_t *cg = json_pack(
	    "{s:I,s:I,s:I,s:I,s:I,s:I}", "memory", (json_int_t)s->cgroup.memory, "memory_swap",
	    (json_int_t)s->cgroup.memory_swap, "pids", (json_int_t)s->cgroup.pids, "cpu_quota",
	    (json_int_t)s->cgroup.cpu_quota, "cpu_period", (json_int_t)s->cgroup.cpu_period,
	    "cpu_shares", (json_int_t)s->cgroup.cpu_shares);
	if (cg)
		set_str(cg, "cpuset_cpus", s->cgroup.cpuset_cpus);
	if (cg && s->cgroup.devices_all)
		json_object_set_new(cg, "devices_all", json_true());
	json_object_set_new(o, "cgroup", cg);
	return TAKE_PTR(o);
}

static int get_str(json_t *o, const char *key, char **ret, struct berr **err)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return berr_set(err, EINVAL, "'%s' is not a string", key);
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : berr_set(err, ENOMEM, "out of memory");
}

static int get_strv(json_t *o, const char *key, struct strv *ret, struct berr **err)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return berr_set(err, EINVAL, "'%s' is not an array", key);
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return berr_set(err, EINVAL, "'%s[%zu]' is not a string", key, i);
		if (strv_push(ret, json_string_value(e)) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

static int get_int(json_t *o, const char *key, json_int_t min, json_int_t max, json_int_t *ret,
		   struct berr **err)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return berr_set(err, EINVAL, "'%s' is not an integer", key);
	json_int_t x = json_integer_value(v);
	if (x < min || x > max)
		return berr_set(err, ERANGE, "'%s' is out of range", key);
	*ret = x;
	return 0;
}

static int get_bool(json_t *o, const char *key, int *ret, struct berr **err)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return berr_set(err, EINVAL, "'%s' is not a boolean", key);
	*ret = json_is_true(v);
	return 0;
}

static int spec_from_json(json_t *o, struct rt_spec *s, struct berr **err)
{
	json_int_t x;
	int r;
	if (!json_is_object(o))
		return berr_set(err, EINVAL, "not an object");
	if ((r = get_str(o, "rootfs", &s->rootfs, err)) < 0 ||
	    (r = get_strv(o, "lowerdirs", &s->lowerdirs, err)) < 0 ||
	    (r = get_str(o, "upperdir", &s->upperdir, err)) < 0 ||
	    (r = get_str(o, "workdir", &s->workdir, err)) < 0 ||
	    (r = get_bool(o, "readonly_rootfs", &s->readonly_rootfs, err)) < 0 ||
	    (r = get_strv(o, "args", &s->args, err)) < 0 ||
	    (r = get_strv(o, "env", &s->env, err)) < 0 ||
	    (r = get_str(o, "cwd", &s->cwd, err)) < 0 ||
	    (r = get_bool(o, "tty", &s->tty, err)) < 0 ||
	    (r = get_bool(o, "no_new_privs", &s->no_new_privs, err)) < 0 ||
	    (r = get_bool(o, "host_devices", &s->host_devices, err)) < 0 ||
	    (r = get_str(o, "seccomp_profile", &s->seccomp_profile, err)) < 0 ||
	    (r = get_str(o, "hostname", &s->hostname, err)) < 0 ||
	    (r = get_strv(o, "masked_paths", &s->masked_paths, err)) < 0 ||
	    (r = get_strv(o, "readonly_paths", &s->readonly_paths, err)) < 0 ||
	    (r = get_str(o, "etc_hostname", &s->etc_hostname, err)) < 0 ||
	    (r = get_str(o, "etc_hosts", &s->etc_hosts, err)) < 0 ||
	    (r = get_str(o, "etc_resolv", &s->etc_resolv, err)) < 0 ||
	    (r = get_str(o, "cgroup_parent", &s->cgroup_parent, err)) < 0)
		return r;
	x = 0;
	if ((r = get_int(o, "uid", 0, UINT32_MAX - 1, &x, err)) < 0)
		return r;
	s->uid = (uid_t)x;
	x = 0;
	if ((r = get_int(o, "gid", 0, UINT32_MAX - 1, &x, err)) < 0)
		return r;
	s->gid = (gid_t)x;
	x = s->seccomp;
	if ((r = get_int(o, "seccomp", RT_SECCOMP_DEFAULT, RT_SECCOMP_FILE, &x, err)) < 0)
		return r;
	s->seccomp = (enum rt_seccomp_mode)x;
	x = (json_int_t)s->namespaces;
	if ((r = get_int(o, "namespaces", 0, INT32_MAX, &x, err)) < 0)
		return r;
	s->namespaces = (unsigned long)x;

	json_t *v = json_object_get(o, "caps");
	if (v) {
		char *end;
		if (!json_is_string(v))
			return berr_set(err, EINVAL, "'caps' is not a string");
		errno = 0;
		unsigned long long c = strtoull(json_string_value(v), &end, 16);
		if (errno || *end)
			return berr_set(err, EINVAL, "'caps' is not a hex mask");
		s->caps = c;
	}

	v = json_object_get(o, "groups");
	if (v && !json_is_null(v)) {
		if (!json_is_array(v))
			return berr_set(err, EINVAL, "'groups' is not an array");
		size_t n = json_array_size(v);
		s->groups = calloc(n ? n : 1, sizeof(gid_t));
		if (!s->groups)
			return berr_set(err, ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_array_get(v, i);
			if (!json_is_integer(e) || json_integer_value(e) < 0 ||
			    json_integer_value(e) >= UINT32_MAX)
				return berr_set(err, EINVAL, "'groups[%zu]' is not a gid", i);
			s->groups[i] = (gid_t)json_integer_value(e);
		}
		s->ngroups = n;
	}

	v = json_object_get(o, "rlimits");
	if (v && !json_is_null(v)) {
		if (!json_is_array(v))
			return berr_set(err, EINVAL, "'rlimits' is not an array");
		size_t n = json_array_size(v);
		s->rlimits = calloc(n ? n : 1, sizeof(*s->rlimits));
		if (!s->rlimits)
			return berr_set(err, ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_array_get(v, i);
			json_int_t res = -1, soft = 0, hard = 0;
			if (!json_is_object(e) || get_int(e, "resource", 0, 64, &res, err) < 0 ||
			    res < 0 || get_int(e, "soft", INT64_MIN, INT64_MAX, &soft, err) < 0 ||
			    get_int(e, "hard", INT64_MIN, INT64_MAX, &hard, err) < 0)
				return berr_set(err, EINVAL, "'rlimits[%zu]' is invalid", i);
			s->rlimits[i].resource = (int)res;
			s->rlimits[i].soft = (uint64_t)soft;
			s->rlimits[i].hard = (uint64_t)hard;
		}
		s->nrlimits = n;
	}

	v = json_object_get(o, "mounts");
	if (v && !json_is_null(v)) {
		if (!json_is_array(v))
			return berr_set(err, EINVAL, "'mounts' is not an array");
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			struct rt_mount m = {0};
			json_int_t type = 0, flags = 0, prop = 0;
			if (!json_is_object(e))
				return berr_set(err, EINVAL, "'mounts[%zu]' is not an object", i);
			r = get_int(e, "type", RT_MOUNT_BIND, RT_MOUNT_TMPFS, &type, err);
			if (r == 0)
				r = get_int(e, "flags", 0, UINT32_MAX, &flags, err);
			if (r == 0)
				r = get_int(e, "propagation", 0, UINT32_MAX, &prop, err);
			m.type = (enum rt_mount_type)type;
			m.flags = (unsigned long)flags;
			m.propagation = (unsigned long)prop;
			if (r == 0)
				r = get_str(e, "source", &m.source, err);
			if (r == 0)
				r = get_str(e, "destination", &m.destination, err);
			if (r == 0)
				r = get_str(e, "data", &m.data, err);
			if (r == 0 && (!m.destination || m.destination[0] != '/' ||
				       (m.type == RT_MOUNT_BIND && !m.source)))
				r = berr_set(err, EINVAL,
					     "'mounts[%zu]' lacks a source or an "
					     "absolute destination",
					     i);
			if (r == 0 && rt_spec_add_mount(s, &m) < 0)
				r = berr_set(err, ENOMEM, "out of memory");
			rt_mount_clear(&m);
			if (r < 0)
				return r;
		}
	}

	v = json_object_get(o, "cgroup");
	if (v && !json_is_null(v)) {
		json_int_t mem = 0, swap = 0, pids = 0, quota = 0, period = 0, shares = 0;
		if (!json_is_object(v))
			return berr_set(err, EINVAL, "'cgroup' is not an object");
		if ((r = get_int(v, "memory", -1, INT64_MAX, &mem, err)) < 0 ||
		    (r = get_int(v, "memory_swap", -1, INT64_MAX, &swap, err)) < 0 ||
		    (r = get_int(v, "pids", -1, INT64_MAX, &pids, err)) < 0 ||
		    (r = get_int(v, "cpu_quota", 0, INT64_MAX, &quota, err)) < 0 ||
		    (r = get_int(v, "cpu_period", 0, INT64_MAX, &period, err)) < 0 ||
		    (r = get_int(v, "cpu_shares", 0, INT64_MAX, &shares, err)) < 0 ||
		    (r = get_str(v, "cpuset_cpus", &s->cgroup.cpuset_cpus, err)) < 0 ||
		    (r = get_bool(v, "devices_all", &s->cgroup.devices_all, err)) < 0)
			return r;
		s->cgroup.memory = mem;
		s->cgroup.memory_swap = swap;
		s->cgroup.pids = pids;
		s->cgroup.cpu_quota = (uint64_t)quota;
		s->cgroup.cpu_period = (uint64_t)period;
		s->cgroup.cpu_shares = (uint64_t)shares;
	}

	if (!s->rootfs || s->rootfs[0] != '/')
		return berr_set(err, EINVAL, "'rootfs' is missing or not absolute");
	if (s->lowerdirs.n && (!s->upperdir || !s->workdir))
		return berr_set(err, EINVAL, "an overlay needs 'upperdir' and 'workdir'");
	if (s->args.n == 0)
		return berr_set(err, EINVAL, "'args' is empty");
	return 0;
}

int rt_spec_from_json(json_t *j, struct rt_spec *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	int r = spec_from_json(j, ret, err);
	if (r < 0)
		return berr_wrap(err, "container spec");
	return 0;
}

/* ---- ids ---- */

int rt_id_new(char ret[RT_ID_LEN + 1])
{
	unsigned char b[RT_ID_LEN / 2];
	size_t got = 0;
	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(ret + 2 * i, 3, "%02x", b[i]);
	return 0;
}

int rt_id_valid(const char *s)
{
	size_t i;
	for (i = 0; s[i]; i++)
		if (i >= RT_ID_LEN ||
		    !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == RT_ID_LEN;
}

/* ---- /etc files ---- */

static int is_loopback_nameserver(const char *line)
{
	const char *p = line + strlen("nameserver");
	while (*p == ' ' || *p == '\t')
		p++;
	return strncmp(p, "127.", 4) == 0 || strncmp(p, "::1", 3) == 0;
}

static int resolv_conf(struct buf *out)
{
	_cleanup_free_ char *host = NULL;
	int nameservers = 0;
	/* A missing host file is not an error: the container gets the fallback servers. */
	if (fs_read_all_at(AT_FDCWD, "/etc/resolv.conf", 1 << 20, &host, NULL) == 0) {
		char *save = NULL;
		for (char *line = strtok_r(host, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "nameserver", 10) == 0 &&
			    (line[10] == ' ' || line[10] == '\t')) {
				/* The container has its own loopback: the host's local resolver
				 * is not reachable there (Docker drops it too). */
				if (is_loopback_nameserver(line))
					continue;
				nameservers++;
			}
			if (buf_puts(out, line) < 0 || buf_putc(out, '\n') < 0)
				return -ENOMEM;
		}
	}
	if (nameservers == 0 && buf_puts(out, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n") < 0)
		return -ENOMEM;
	return 0;
}

static int set_path(char **dst, const char *dir, const char *name)
{
	free(*dst);
	*dst = NULL;
	return asprintf(dst, "%s/%s", dir, name) < 0 ? -ENOMEM : 0;
}

int rt_etc_files_write(int dirfd, const char *dir_path, const char *hostname, struct rt_spec *spec,
		       struct berr **err)
{
	struct fs_batch batch;
	fs_batch_init(&batch, dirfd);
	int r = rt_etc_files_add(&batch, dir_path, hostname, spec, err);
	if (r == 0 && (r = fs_batch_commit(&batch)) < 0)
		berr_errno(err, r, "write hostname, hosts and resolv.conf");
	fs_batch_abort(&batch);
	return r;
}

int rt_etc_files_add(struct fs_batch *batch, const char *dir_path, const char *hostname,
		     struct rt_spec *spec, struct berr **err)
{
	_cleanup_buf_ struct buf hosts = BUF_INIT, resolv = BUF_INIT, name = BUF_INIT;
	int r;
	if (!hostname || !*hostname || strchr(hostname, '\n') || strlen(hostname) > 64)
		return berr_set(err, EINVAL, "invalid hostname '%s'", hostname ? hostname : "");
	if (buf_printf(&name, "%s\n", hostname) < 0 ||
	    buf_puts(&hosts, "127.0.0.1\tlocalhost\n"
			     "::1\tlocalhost ip6-localhost ip6-loopback\n"
			     "fe00::0\tip6-localnet\n"
			     "ff00::0\tip6-mcastprefix\n"
			     "ff02::1\tip6-allnodes\n"
			     "ff02::2\tip6-allrouters\n") < 0 ||
	    resolv_conf(&resolv) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	if ((r = fs_batch_add(batch, "hostname", name.data, name.len, 0644)) < 0)
		return berr_errno(err, r, "write hostname");
	if ((r = fs_batch_add(batch, "hosts", hosts.data, hosts.len, 0644)) < 0)
		return berr_errno(err, r, "write hosts");
	if ((r = fs_batch_add(batch, "resolv.conf", resolv.data, resolv.len, 0644)) < 0)
		return berr_errno(err, r, "write resolv.conf");
	if (set_path(&spec->etc_hostname, dir_path, "hostname") < 0 ||
	    set_path(&spec->etc_hosts, dir_path, "hosts") < 0 ||
	    set_path(&spec->etc_resolv, dir_path, "resolv.conf") < 0)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

/* ---- time ---- */

int64_t rt_time_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void rt_time_format(int64_t ns, char *buf)
{
	time_t sec = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	struct tm tm;
	gmtime_r(&sec, &tm);
	char date[24];
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, RT_TIME_STR_MAX, "%s.%09ldZ", date, frac);
}
