#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "devices.h"
#include "fs.h"
#include "log.h"
#include "banned.h"

#define CG_DEFAULT_ROOT "/sys/fs/cgroup"
#define CG_MAX_DIRS 16
#define CG_TIMEOUT_MS 10000
#define CG_MAX_DEPTH 32

/* Docker's lower bound (daemon/daemon_unix.go: linuxMinMemory). */
#define MIN_MEMORY (6 * 1024 * 1024)

enum {
	CTL_CPUSET = 1u << 0,
	CTL_CPU = 1u << 1,
	CTL_CPUACCT = 1u << 2,
	CTL_MEMORY = 1u << 3,
	CTL_DEVICES = 1u << 4,
	CTL_FREEZER = 1u << 5,
	CTL_BLKIO = 1u << 6,
	CTL_PIDS = 1u << 7,
	CTL_NAMED = 1u << 8, /* name=systemd: no controller, only process tracking */
	CTL_UNIFIED = 1u << 9,
};

static const struct {
	const char *name;
	unsigned bit;
} v1_ctls[] = {
	{"cpuset", CTL_CPUSET},   {"cpu", CTL_CPU},     {"cpuacct", CTL_CPUACCT},
	{"memory", CTL_MEMORY},   {"devices", CTL_DEVICES}, {"freezer", CTL_FREEZER},
	{"blkio", CTL_BLKIO},     {"pids", CTL_PIDS},   {"name=systemd", CTL_NAMED},
	{"unified", CTL_UNIFIED},
};

struct cg_dir {
	char *path;
	unsigned ctl;
};

struct rt_cgroup {
	enum rt_cgroup_layout layout;
	size_t n;
	struct cg_dir dir[CG_MAX_DIRS];
};

/* ---- small file helpers ---- */

static int join(char *buf, size_t size, const char *a, const char *b)
{
	int n = snprintf(buf, size, "%s/%s", a, b);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int write_file(const char *dir, const char *file, const char *val)
{
	char p[PATH_MAX];
	int r = join(p, sizeof(p), dir, file);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = strlen(val);
	ssize_t n = write(fd, val, len);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static int write_filef(const char *dir, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int write_filef(const char *dir, const char *file, const char *fmt, ...)
{
	char v[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	return write_file(dir, file, v);
}

static int read_file(const char *dir, const char *file, char **ret)
{
	char p[PATH_MAX];
	int r = join(p, sizeof(p), dir, file);
	if (r < 0)
		return r;
	return fs_read_all_at(AT_FDCWD, p, 1 << 20, ret, NULL);
}

static int file_exists(const char *dir, const char *file)
{
	char p[PATH_MAX];
	if (join(p, sizeof(p), dir, file) < 0)
		return 0;
	return access(p, F_OK) == 0;
}

static void strip(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- finding the hierarchies ---- */

static int valid_component(const char *s, size_t len)
{
	if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	return 1;
}

/* parent: components separated by '/', none empty, ".", ".."; id: one component. */
static int check_names(const char *parent, const char *id, struct berr **err)
{
	if (!id || !valid_component(id, strlen(id)) || strchr(id, '/') || strlen(id) > 255)
		return berr_set(err, EINVAL, "invalid cgroup name '%s'", id ? id : "(null)");
	if (!parent || !parent[0] || strlen(parent) > 1024)
		return berr_set(err, EINVAL, "invalid cgroup parent '%s'", parent ? parent : "");
	const char *s = parent;
	for (;;) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);
		if (!valid_component(s, len))
			return berr_set(err, EINVAL, "invalid cgroup parent '%s'", parent);
		if (!slash)
			break;
		s = slash + 1;
	}
	return 0;
}

static unsigned v1_bits_of_options(char *opts)
{
	unsigned bits = 0;
	char *save = NULL;
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save))
		for (size_t i = 0; i < ARRAY_SIZE(v1_ctls); i++)
			if (v1_ctls[i].bit != CTL_UNIFIED && streq(o, v1_ctls[i].name))
				bits |= v1_ctls[i].bit;
	return bits;
}

struct hier {
	char mnt[PATH_MAX];
	unsigned ctl;
};

/* v1 hierarchies mounted under root, from /proc/self/mountinfo (a mount's super options
 * name its controllers, so co-mounted "cpu,cpuacct" and missing symlinks both work). */
static int find_v1(const char *root, struct hier *h, size_t *n, struct berr **err)
{
	_cleanup_free_ char *mi = NULL;
	int r = fs_read_all_at(AT_FDCWD, "/proc/self/mountinfo", 4 << 20, &mi, NULL);
	if (r < 0)
		return berr_errno(err, r, "read /proc/self/mountinfo");
	size_t rootlen = strlen(root);
	char *save = NULL;
	for (char *line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* id parent maj:min root mountpoint options [optional...] - fstype source super */
		char *sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		char *f[5] = {0};
		char *fs = NULL;
		char *p = line;
		for (int i = 0; i < 5 && p; i++) {
			f[i] = strsep(&p, " ");
		}
		char *tail = sep + 3;
		fs = strsep(&tail, " ");
		char *source = strsep(&tail, " ");
		char *super = tail;
		(void)source;
		if (!f[4] || !fs || !super || !streq(fs, "cgroup"))
			continue;
		if (strncmp(f[4], root, rootlen) != 0 || f[4][rootlen] != '/')
			continue;
		unsigned bits = v1_bits_of_options(super);
		if (!bits)
			continue;
		int dup = 0;
		for (size_t i = 0; i < *n; i++)
			if (h[i].ctl == bits || streq(h[i].mnt, f[4]))
				dup = 1;
		if (dup || *n >= CG_MAX_DIRS - 1)
			continue;
		if (snprintf(h[*n].mnt, sizeof(h[*n].mnt), "%s", f[4]) >= (int)sizeof(h[*n].mnt))
			continue;
		h[*n].ctl = bits;
		(*n)++;
	}
	return 0;
}

static int find_hierarchies(const char *root, enum rt_cgroup_layout layout, struct hier *h,
			    size_t *n, struct berr **err)
{
	*n = 0;
	if (layout == RT_CGROUP_V2) {
		if (snprintf(h[0].mnt, sizeof(h[0].mnt), "%s", root) >= (int)sizeof(h[0].mnt))
			return berr_set(err, ENAMETOOLONG, "cgroup root too long");
		h[0].ctl = CTL_UNIFIED;
		*n = 1;
		return 0;
	}
	int r = find_v1(root, h, n, err);
	if (r < 0)
		return r;
	if (layout == RT_CGROUP_HYBRID) {
		if (snprintf(h[*n].mnt, sizeof(h[*n].mnt), "%s/unified", root) >=
		    (int)sizeof(h[*n].mnt))
			return berr_set(err, ENAMETOOLONG, "cgroup root too long");
		h[*n].ctl = CTL_UNIFIED;
		(*n)++;
	}
	if (*n == 0)
		return berr_set(err, ENOENT, "no cgroup hierarchy mounted under %s", root);
	return 0;
}

static struct cg_dir *dir_with(struct rt_cgroup *cg, unsigned bit)
{
	for (size_t i = 0; i < cg->n; i++)
		if (cg->dir[i].ctl & bit)
			return &cg->dir[i];
	return NULL;
}

void rt_cgroup_free(struct rt_cgroup *cg)
{
	if (!cg)
		return;
	for (size_t i = 0; i < cg->n; i++)
		free(cg->dir[i].path);
	free(cg);
}

enum rt_cgroup_layout rt_cgroup_get_layout(const struct rt_cgroup *cg)
{
	return cg->layout;
}

const char *rt_cgroup_path(const struct rt_cgroup *cg, const char *ctl)
{
	if (!ctl)
		return NULL;
	unsigned bit = 0;
	for (size_t i = 0; i < ARRAY_SIZE(v1_ctls); i++)
		if (streq(ctl, v1_ctls[i].name) ||
		    (v1_ctls[i].bit == CTL_NAMED && streq(ctl, "systemd")))
			bit = v1_ctls[i].bit;
	if (!bit)
		return NULL;
	for (size_t i = 0; i < cg->n; i++) {
		if (cg->dir[i].ctl & bit)
			return cg->dir[i].path;
		/* v2: one directory for every controller. */
		if (cg->layout == RT_CGROUP_V2 && bit != CTL_NAMED)
			return cg->dir[i].path;
	}
	return NULL;
}

/* ---- creation ---- */

static int check_limits(const struct rt_cgroup_limits *l, struct berr **err)
{
	if (l->memory < 0)
		return berr_set(err, EINVAL, "invalid memory limit %" PRId64, l->memory);
	if (l->memory > 0 && l->memory < MIN_MEMORY)
		return berr_set(err, EINVAL, "Minimum memory limit allowed is 6MB");
	if (l->memory_swap < -1)
		return berr_set(err, EINVAL, "invalid memory-swap limit %" PRId64, l->memory_swap);
	if (l->memory_swap > 0 && l->memory == 0)
		return berr_set(err, EINVAL,
				"You should always set the Memory limit when using Memoryswap "
				"limit, see usage");
	if (l->memory_swap > 0 && l->memory_swap < l->memory)
		return berr_set(err, EINVAL,
				"Minimum memoryswap limit should be larger than memory limit, see "
				"usage");
	if (l->pids < -1)
		return berr_set(err, EINVAL, "invalid pids limit %" PRId64, l->pids);
	if (l->cpu_period && (l->cpu_period < 1000 || l->cpu_period > 1000000))
		return berr_set(err, EINVAL,
				"CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
				"than 1s (i.e. 1000000)");
	if (l->cpu_quota && l->cpu_quota < 1000)
		return berr_set(err, EINVAL, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
	if (l->cpu_quota > INT64_MAX / 2)
		return berr_set(err, EINVAL, "CPU cfs quota too large");
	if (l->cpuset_cpus) {
		if (!l->cpuset_cpus[0] || strspn(l->cpuset_cpus, "0123456789,-") !=
						  strlen(l->cpuset_cpus))
			return berr_set(err, EINVAL, "invalid value %s for cpuset cpus",
					l->cpuset_cpus);
	}
	return 0;
}

/* A fresh v1 cpuset cgroup has no CPUs and no memory nodes, and refuses tasks until both
 * are set: copy them from the parent unless already set. */
static int cpuset_inherit(const char *dir, struct berr **err)
{
	static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
	_cleanup_free_ char *parent = strdup(dir);
	if (!parent)
		return berr_set(err, ENOMEM, "out of memory");
	char *slash = strrchr(parent, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *mine = NULL, *theirs = NULL;
		int r = read_file(dir, files[i], &mine);
		if (r < 0)
			return berr_errno(err, r, "read %s/%s", dir, files[i]);
		strip(mine);
		if (mine[0])
			continue;
		r = read_file(parent, files[i], &theirs);
		if (r < 0)
			return berr_errno(err, r, "read %s/%s", parent, files[i]);
		strip(theirs);
		r = write_file(dir, files[i], theirs);
		if (r < 0)
			return berr_errno(err, r, "write %s/%s", dir, files[i]);
	}
	return 0;
}

/* Turn on the controllers berth uses in dir's cgroup.subtree_control, so that children
 * get them. Controllers the kernel does not offer there are left out. */
static void v2_enable_controllers(const char *dir)
{
	static const char *const want[] = {"cpu", "cpuset", "io", "memory", "pids"};
	_cleanup_free_ char *avail = NULL;
	if (read_file(dir, "cgroup.controllers", &avail) < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		char *p = avail;
		size_t wl = strlen(want[i]);
		int found = 0;
		while ((p = strstr(p, want[i]))) {
			int start = p == avail || p[-1] == ' ';
			int end = p[wl] == '\0' || p[wl] == ' ' || p[wl] == '\n';
			if (start && end) {
				found = 1;
				break;
			}
			p += wl;
		}
		if (!found)
			continue;
		int r = write_filef(dir, "cgroup.subtree_control", "+%s", want[i]);
		/* A limit that needs it fails later with a clear message. */
		if (r < 0)
			log_debug("cgroup: enable %s in %s: %s", want[i], dir, strerror(-r));
	}
}

/* mkdir each component of rel under mnt; for v2 enable controllers on the way. Returns 1
 * when the last directory was created, 0 when it existed. */
static int make_path(const char *mnt, const char *rel, unsigned ctl, int v2_layout,
		     struct berr **err)
{
	char p[PATH_MAX];
	int r = join(p, sizeof(p), mnt, rel);
	if (r < 0)
		return berr_set(err, ENAMETOOLONG, "cgroup path too long");
	size_t base = strlen(mnt);
	if (v2_layout)
		v2_enable_controllers(mnt);
	int created = 0;
	for (size_t i = base + 1;; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char c = p[i];
		p[i] = '\0';
		created = 0;
		if (mkdir(p, 0755) == 0)
			created = 1;
		else if (errno != EEXIST)
			return berr_errno(err, errno, "create cgroup %s", p);
		if ((ctl & CTL_CPUSET) && (r = cpuset_inherit(p, err)) < 0)
			return r;
		if (v2_layout && c == '/')
			v2_enable_controllers(p);
		p[i] = c;
		if (c == '\0')
			break;
	}
	return created;
}

static int need(struct rt_cgroup *cg, unsigned bit, const char *what, struct cg_dir **ret,
		struct berr **err)
{
	*ret = dir_with(cg, bit);
	if (!*ret)
		return berr_set(err, EOPNOTSUPP,
				"%s requested but the %s cgroup controller is not available", what,
				what);
	return 0;
}

static int set(const char *dir, const char *file, const char *val, struct berr **err)
{
	int r = write_file(dir, file, val);
	if (r < 0)
		return berr_errno(err, r, "write '%s' to %s/%s", val, dir, file);
	return 0;
}

static int apply_v1(struct rt_cgroup *cg, const struct rt_cgroup_limits *l, struct berr **err)
{
	struct cg_dir *d;
	char v[64];
	int r;
	if (l->memory > 0) {
		if ((r = need(cg, CTL_MEMORY, "memory", &d, err)) < 0)
			return r;
		snprintf(v, sizeof(v), "%" PRId64, l->memory);
		if ((r = set(d->path, "memory.limit_in_bytes", v, err)) < 0)
			return r;
		/* memsw exists only with swap accounting (CONFIG_MEMCG_SWAP, swapaccount=1). */
		if (file_exists(d->path, "memory.memsw.limit_in_bytes")) {
			int64_t sw = l->memory_swap == 0    ? (l->memory > INT64_MAX / 2
								       ? -1
								       : 2 * l->memory)
				     : l->memory_swap;
			snprintf(v, sizeof(v), "%" PRId64, sw);
			if ((r = set(d->path, "memory.memsw.limit_in_bytes", v, err)) < 0)
				return r;
		}
	}
	if (l->pids > 0) {
		if ((r = need(cg, CTL_PIDS, "pids", &d, err)) < 0)
			return r;
		snprintf(v, sizeof(v), "%" PRId64, l->pids);
		if ((r = set(d->path, "pids.max", v, err)) < 0)
			return r;
	}
	if (l->cpu_period || l->cpu_quota || l->cpu_shares) {
		if ((r = need(cg, CTL_CPU, "cpu", &d, err)) < 0)
			return r;
		if (l->cpu_period) {
			snprintf(v, sizeof(v), "%" PRIu64, l->cpu_period);
			if ((r = set(d->path, "cpu.cfs_period_us", v, err)) < 0)
				return r;
		}
		if (l->cpu_quota) {
			snprintf(v, sizeof(v), "%" PRIu64, l->cpu_quota);
			if ((r = set(d->path, "cpu.cfs_quota_us", v, err)) < 0)
				return r;
		}
		if (l->cpu_shares) {
			snprintf(v, sizeof(v), "%" PRIu64, l->cpu_shares);
			if ((r = set(d->path, "cpu.shares", v, err)) < 0)
				return r;
		}
	}
	if (l->cpuset_cpus) {
		if ((r = need(cg, CTL_CPUSET, "cpuset", &d, err)) < 0)
			return r;
		if ((r = set(d->path, "cpuset.cpus", l->cpuset_cpus, err)) < 0)
			return r;
	}
	return 0;
}

/* Docker's (runc's) map of cgroup v1 shares [2, 262144] onto v2 weights [1, 10000]. */
static uint64_t shares_to_weight(uint64_t shares)
{
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

static int v2_has(const char *dir, const char *ctl)
{
	_cleanup_free_ char *c = NULL;
	if (read_file(dir, "cgroup.controllers", &c) < 0)
		return 0;
	size_t l = strlen(ctl);
	for (char *p = c; (p = strstr(p, ctl)); p += l)
		if ((p == c || p[-1] == ' ') && (p[l] == '\0' || p[l] == ' ' || p[l] == '\n'))
			return 1;
	return 0;
}

static int need_v2(const char *dir, const char *ctl, struct berr **err)
{
	if (v2_has(dir, ctl))
		return 0;
	return berr_set(err, EOPNOTSUPP,
			"%s limit requested but the %s controller is not enabled for %s", ctl, ctl,
			dir);
}

static int apply_v2(const char *dir, const struct rt_cgroup_limits *l, struct berr **err)
{
	char v[64];
	int r;
	if (l->memory > 0) {
		if ((r = need_v2(dir, "memory", err)) < 0)
			return r;
		snprintf(v, sizeof(v), "%" PRId64, l->memory);
		if ((r = set(dir, "memory.max", v, err)) < 0)
			return r;
		/* v2 limits swap alone; Docker's --memory-swap counts memory plus swap. */
		if (file_exists(dir, "memory.swap.max")) {
			if (l->memory_swap == -1)
				snprintf(v, sizeof(v), "max");
			else if (l->memory_swap == 0)
				snprintf(v, sizeof(v), "%" PRId64, l->memory);
			else
				snprintf(v, sizeof(v), "%" PRId64, l->memory_swap - l->memory);
			if ((r = set(dir, "memory.swap.max", v, err)) < 0)
				return r;
		}
	}
	if (l->pids > 0) {
		if ((r = need_v2(dir, "pids", err)) < 0)
			return r;
		snprintf(v, sizeof(v), "%" PRId64, l->pids);
		if ((r = set(dir, "pids.max", v, err)) < 0)
			return r;
	}
	if (l->cpu_quota || l->cpu_period || l->cpu_shares) {
		if ((r = need_v2(dir, "cpu", err)) < 0)
			return r;
	}
	if (l->cpu_quota || l->cpu_period) {
		uint64_t period = l->cpu_period ? l->cpu_period : 100000;
		if (l->cpu_quota)
			snprintf(v, sizeof(v), "%" PRIu64 " %" PRIu64, l->cpu_quota, period);
		else
			snprintf(v, sizeof(v), "max %" PRIu64, period);
		if ((r = set(dir, "cpu.max", v, err)) < 0)
			return r;
	}
	if (l->cpu_shares) {
		snprintf(v, sizeof(v), "%" PRIu64, shares_to_weight(l->cpu_shares));
		if ((r = set(dir, "cpu.weight", v, err)) < 0)
			return r;
	}
	if (l->cpuset_cpus) {
		if ((r = need_v2(dir, "cpuset", err)) < 0)
			return r;
		if ((r = set(dir, "cpuset.cpus", l->cpuset_cpus, err)) < 0)
			return r;
	}
	return 0;
}

/* Docker's default device rules (devices.h). Order matters on v1: deny everything first,
 * then open the holes. */
static int apply_devices_v1(const char *dir, int all, struct berr **err)
{
	if (all)
		return set(dir, "devices.allow", "a", err);
	int r = set(dir, "devices.deny", "a", err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rt_n_default_device_rules; i++) {
		r = set(dir, "devices.allow", rt_default_device_rules[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int rmdir_tree(const char *path, int depth);

int rt_cgroup_create_at(const char *root, const char *parent, const char *id,
			const struct rt_cgroup_limits *lim, struct rt_cgroup **ret,
			struct berr **err)
{
	static const struct rt_cgroup_limits none = {0};
	if (!lim)
		lim = &none;
	int r = check_names(parent, id, err);
	if (r < 0)
		return r;
	r = check_limits(lim, err);
	if (r < 0)
		return r;
	enum rt_cgroup_layout layout = rt_cgroup_layout_detect(root);
	if (layout == RT_CGROUP_UNKNOWN)
		return berr_set(err, ENOENT, "no cgroup file system at %s", root);

	struct hier h[CG_MAX_DIRS];
	size_t nh;
	r = find_hierarchies(root, layout, h, &nh, err);
	if (r < 0)
		return r;

	_cleanup_free_ char *rel = NULL;
	if (asprintf(&rel, "%s/%s", parent, id) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	struct rt_cgroup *cg = calloc(1, sizeof(*cg));
	if (!cg)
		return berr_set(err, ENOMEM, "out of memory");
	cg->layout = layout;
	int created[CG_MAX_DIRS] = {0};

	for (size_t i = 0; i < nh; i++) {
		r = make_path(h[i].mnt, rel, h[i].ctl, layout == RT_CGROUP_V2, err);
		if (r < 0)
			goto fail;
		created[cg->n] = r;
		if (asprintf(&cg->dir[cg->n].path, "%s/%s", h[i].mnt, rel) < 0) {
			cg->dir[cg->n].path = NULL;
			r = berr_set(err, ENOMEM, "out of memory");
			goto fail;
		}
		cg->dir[cg->n].ctl = h[i].ctl;
		cg->n++;
	}

	if (layout == RT_CGROUP_V2) {
		r = apply_v2(cg->dir[0].path, lim, err);
		/* v2 has no devices.allow: a BPF program answers instead (devices.h). */
		if (r == 0 && !lim->devices_all)
			r = rt_devices_bpf_apply_default(cg->dir[0].path, err);
	} else {
		r = apply_v1(cg, lim, err);
		struct cg_dir *dev = dir_with(cg, CTL_DEVICES);
		if (r == 0 && dev)
			r = apply_devices_v1(dev->path, lim->devices_all, err);
	}
	if (r < 0)
		goto fail;
	*ret = cg;
	return 0;

fail:
	berr_wrap(err, "create cgroup %s", rel);
	for (size_t i = 0; i < cg->n; i++)
		if (created[i])
			rmdir_tree(cg->dir[i].path, 0);
	rt_cgroup_free(cg);
	return r;
}

int rt_cgroup_create(const char *parent, const char *id, const struct rt_cgroup_limits *lim,
		     struct rt_cgroup **ret, struct berr **err)
{
	return rt_cgroup_create_at(CG_DEFAULT_ROOT, parent, id, lim, ret, err);
}

int rt_cgroup_open_at(const char *root, const char *parent, const char *id,
		      struct rt_cgroup **ret, struct berr **err)
{
	int r = check_names(parent, id, err);
	if (r < 0)
		return r;
	enum rt_cgroup_layout layout = rt_cgroup_layout_detect(root);
	if (layout == RT_CGROUP_UNKNOWN)
		return berr_set(err, ENOENT, "no cgroup file system at %s", root);
	struct hier h[CG_MAX_DIRS];
	size_t nh;
	r = find_hierarchies(root, layout, h, &nh, err);
	if (r < 0)
		return r;
	struct rt_cgroup *cg = calloc(1, sizeof(*cg));
	if (!cg)
		return berr_set(err, ENOMEM, "out of memory");
	cg->layout = layout;
	for (size_t i = 0; i < nh; i++) {
		char *p = NULL;
		if (asprintf(&p, "%s/%s/%s", h[i].mnt, parent, id) < 0) {
			rt_cgroup_free(cg);
			return berr_set(err, ENOMEM, "out of memory");
		}
		struct stat st;
		if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
			free(p);
			continue;
		}
		cg->dir[cg->n].path = p;
		cg->dir[cg->n].ctl = h[i].ctl;
		cg->n++;
	}
	if (cg->n == 0) {
		rt_cgroup_free(cg);
		return berr_set(err, ENOENT, "no cgroup %s/%s under %s", parent, id, root);
	}
	*ret = cg;
	return 0;
}

int rt_cgroup_open(const char *parent, const char *id, struct rt_cgroup **ret,
		   struct berr **err)
{
	return rt_cgroup_open_at(CG_DEFAULT_ROOT, parent, id, ret, err);
}

/* ---- processes ---- */

int rt_cgroup_enter(struct rt_cgroup *cg, pid_t pid, struct berr **err)
{
	char v[32];
	snprintf(v, sizeof(v), "%d", (int)pid);
	for (size_t i = 0; i < cg->n; i++) {
		int r = write_file(cg->dir[i].path, "cgroup.procs", v);
		if (r < 0)
			return berr_errno(err, r, "move process %d into %s", (int)pid,
					  cg->dir[i].path);
	}
	return 0;
}

void rt_cgroup_join_close(struct rt_cgroup_join *j)
{
	for (size_t i = 0; i < j->n; i++)
		if (j->tasks_fd[i] >= 0)
			close(j->tasks_fd[i]);
	j->n = 0;
	if (j->v2_fd >= 0)
		close(j->v2_fd);
	j->v2_fd = -1;
}

int rt_cgroup_join_prepare(struct rt_cgroup *cg, struct rt_cgroup_join *j, struct berr **err)
{
	*j = (struct rt_cgroup_join){.v2_fd = -1};
	if (cg->n > RT_CGROUP_JOIN_MAX)
		return berr_set(err, E2BIG, "%zu cgroup hierarchies", cg->n);
	for (size_t i = 0; i < cg->n; i++) {
		const char *dir = cg->dir[i].path;
		int v2 = cg->dir[i].ctl == CTL_UNIFIED;
		char p[PATH_MAX];
		int r = join(p, sizeof(p), dir, v2 ? "." : "tasks");
		int fd =
		    r < 0 ? r
			  : open(p, v2 ? O_RDONLY | O_DIRECTORY | O_CLOEXEC : O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			r = r < 0 ? r : -errno;
			rt_cgroup_join_close(j);
			return berr_errno(err, r, "open %s", p);
		}
		if (v2) {
			if (j->v2_fd >= 0)
				close(j->v2_fd);
			j->v2_fd = fd;
			j->v2_path = dir;
		} else {
			j->tasks_dir[j->n] = dir;
			j->tasks_fd[j->n++] = fd;
		}
	}
	return 0;
}

int rt_cgroup_join_self(const struct rt_cgroup_join *j, const char **ret_dir)
{
	for (size_t i = 0; i < j->n; i++) {
		ssize_t n = write(j->tasks_fd[i], "0", 1);
		if (n != 1) {
			*ret_dir = j->tasks_dir[i];
			return n < 0 ? -errno : -EIO;
		}
	}
	return 0;
}

int rt_cgroup_join_v2_pid(const struct rt_cgroup_join *j, pid_t pid, struct berr **err)
{
	if (!j->v2_path)
		return 0;
	char v[32];
	snprintf(v, sizeof(v), "%d", (int)pid);
	int r = write_file(j->v2_path, "cgroup.procs", v);
	if (r < 0)
		return berr_errno(err, r, "move process %d into %s", (int)pid, j->v2_path);
	return 0;
}

struct pidset {
	pid_t *v;
	size_t n, cap;
};

static int pidset_add(struct pidset *s, pid_t p)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		pid_t *nv = realloc(s->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = p;
	return 0;
}

/* cgroup.procs of path and of every sub-cgroup below it. A cgroup removed while we walk
 * is not an error. */
static int collect(const char *path, int depth, struct pidset *s)
{
	if (depth > CG_MAX_DEPTH)
		return -ELOOP;
	_cleanup_free_ char *procs = NULL;
	int r = read_file(path, "cgroup.procs", &procs);
	if (r == -ENOENT || r == -ENODEV)
		return 0;
	if (r < 0)
		return r;
	for (char *p = procs; *p;) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		if (v > 0 && v <= INT_MAX && (r = pidset_add(s, (pid_t)v)) < 0)
			return r;
		p = end;
		while (*p == '\n' || *p == ' ')
			p++;
	}
	_cleanup_closedir_ DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		char sub[PATH_MAX];
		if (join(sub, sizeof(sub), path, de->d_name) < 0)
			continue;
		r = collect(sub, depth + 1, s);
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

/* The directory that lists every process: the cgroup2 one, else one v1 hierarchy (all of
 * them hold the same processes since rt_cgroup_enter writes to each). */
static struct cg_dir *tracking_dir(struct rt_cgroup *cg)
{
	static const unsigned order[] = {CTL_UNIFIED, CTL_PIDS, CTL_FREEZER, CTL_MEMORY,
					 CTL_CPU, CTL_NAMED};
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		struct cg_dir *d = dir_with(cg, order[i]);
		if (d)
			return d;
	}
	return cg->n ? &cg->dir[0] : NULL;
}

int rt_cgroup_pids(struct rt_cgroup *cg, pid_t **ret_pids, size_t *ret_n, struct berr **err)
{
	struct cg_dir *d = tracking_dir(cg);
	struct pidset s = {0};
	*ret_pids = NULL;
	*ret_n = 0;
	if (!d)
		return 0;
	int r = collect(d->path, 0, &s);
	if (r < 0) {
		free(s.v);
		return berr_errno(err, r, "list the processes of %s", d->path);
	}
	if (s.n == 0) {
		free(s.v);
		return 0;
	}
	qsort(s.v, s.n, sizeof(*s.v), cmp_pid);
	size_t k = 0;
	for (size_t i = 0; i < s.n; i++)
		if (k == 0 || s.v[k - 1] != s.v[i])
			s.v[k++] = s.v[i];
	*ret_pids = s.v;
	*ret_n = k;
	return 0;
}

/* ---- freezing ---- */

static struct cg_dir *freezer_dir(struct rt_cgroup *cg, int *ret_v2)
{
	struct cg_dir *d = dir_with(cg, CTL_FREEZER);
	*ret_v2 = 0;
	if (d)
		return d;
	d = dir_with(cg, CTL_UNIFIED);
	if (d && file_exists(d->path, "cgroup.freeze")) {
		*ret_v2 = 1;
		return d;
	}
	return NULL;
}

/* v2: "frozen 0|1" line of cgroup.events. */
static int v2_frozen(const char *dir, int *ret)
{
	_cleanup_free_ char *ev = NULL;
	int r = read_file(dir, "cgroup.events", &ev);
	if (r < 0)
		return r;
	char *p = strstr(ev, "frozen ");
	if (!p || (p != ev && p[-1] != '\n'))
		return -EIO;
	*ret = p[7] == '1';
	return 0;
}

static int freeze_state(const char *dir, int v2, int *ret)
{
	if (v2)
		return v2_frozen(dir, ret);
	_cleanup_free_ char *st = NULL;
	int r = read_file(dir, "freezer.state", &st);
	if (r < 0)
		return r;
	strip(st);
	*ret = streq(st, "FROZEN");
	return 0;
}

static int freeze_write(const char *dir, int v2, int frozen)
{
	if (v2)
		return write_file(dir, "cgroup.freeze", frozen ? "1" : "0");
	return write_file(dir, "freezer.state", frozen ? "FROZEN" : "THAWED");
}

int rt_cgroup_freeze(struct rt_cgroup *cg, int frozen, struct berr **err)
{
	int v2;
	struct cg_dir *d = freezer_dir(cg, &v2);
	if (!d)
		return berr_set(err, EOPNOTSUPP, "no freezer cgroup available");
	frozen = !!frozen;
	int64_t deadline = now_ms() + CG_TIMEOUT_MS;
	for (int i = 0;; i++) {
		/* A v1 cgroup can stay FREEZING when a task forks or sleeps uninterruptibly
		 * at the wrong moment; writing the state again retries the freeze. */
		if (i % 100 == 0) {
			int r = freeze_write(d->path, v2, frozen);
			if (r < 0)
				return berr_errno(err, r, "%s %s", frozen ? "freeze" : "thaw",
						  d->path);
		}
		int state;
		int r = freeze_state(d->path, v2, &state);
		if (r < 0)
			return berr_errno(err, r, "read the freezer state of %s", d->path);
		if (state == frozen)
			return 0;
		if (now_ms() > deadline) {
			if (frozen)
				freeze_write(d->path, v2, 0);
			return berr_set(err, ETIMEDOUT, "%s %s: timed out",
					frozen ? "freeze" : "thaw", d->path);
		}
		sleep_ms(i < 10 ? 1 : 10);
	}
}

int rt_cgroup_is_frozen(struct rt_cgroup *cg, int *ret, struct berr **err)
{
	int v2;
	struct cg_dir *d = freezer_dir(cg, &v2);
	if (!d) {
		*ret = 0;
		return 0;
	}
	int r = freeze_state(d->path, v2, ret);
	if (r < 0)
		return berr_errno(err, r, "read the freezer state of %s", d->path);
	return 0;
}

int rt_cgroup_kill_all(struct rt_cgroup *cg, int sig, struct berr **err)
{
	struct cg_dir *u = dir_with(cg, CTL_UNIFIED);
	if (sig == SIGKILL && u && file_exists(u->path, "cgroup.kill")) {
		int r = write_file(u->path, "cgroup.kill", "1");
		if (r < 0)
			return berr_errno(err, r, "kill the processes of %s", u->path);
		return 0;
	}

	int v2, was_frozen = 1, r;
	if (freezer_dir(cg, &v2)) {
		/* Frozen processes cannot fork, so the list below is complete. */
		r = rt_cgroup_is_frozen(cg, &was_frozen, err);
		if (r < 0)
			return r;
		if (!was_frozen) {
			/* A task stuck in D state can keep the freeze from completing (then it
			 * is thawed back): signal what is there anyway rather than not at all. */
			struct berr *ferr = NULL;
			if (rt_cgroup_freeze(cg, 1, &ferr) < 0) {
				log_debug("cgroup: kill without freezing: %s",
					  ferr ? ferr->msg : "?");
				was_frozen = 1;
			}
			berr_free(ferr);
		}
	}
	pid_t *pids = NULL;
	size_t n = 0;
	r = rt_cgroup_pids(cg, &pids, &n, err);
	int count = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (kill(pids[i], sig) == 0)
			count++;
		else if (errno != ESRCH)
			r = berr_errno(err, errno, "send signal %d to process %d", sig,
				       (int)pids[i]);
	}
	free(pids);
	if (!was_frozen) {
		int r2 = rt_cgroup_freeze(cg, 0, err);
		if (r == 0)
			r = r2;
	}
	return r < 0 ? r : count;
}

/* ---- removal ---- */

/* rmdir path after its sub-cgroups (cgroupfs directories hold only control files, which
 * go with the directory). Missing is fine. */
static int rmdir_tree(const char *path, int depth)
{
	if (depth > CG_MAX_DEPTH)
		return -ELOOP;
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		char sub[PATH_MAX];
		if (join(sub, sizeof(sub), path, de->d_name) < 0)
			continue;
		int r2 = rmdir_tree(sub, depth + 1);
		if (r2 < 0 && r == 0)
			r = r2;
	}
	closedir(d);
	if (rmdir(path) < 0 && errno != ENOENT)
		return -errno;
	return r;
}

int rt_cgroup_destroy(struct rt_cgroup *cg, struct berr **err)
{
	/* The common case, a container whose processes are all gone (its pid namespace died
	 * with its init): plain rmdirs. rmdir fails with EBUSY while a process or a
	 * sub-cgroup is left, and a process is in every hierarchy: the first success proves
	 * that the rest only need their rmdir too. Anything else takes the long way below,
	 * which counts directories already removed as done. */
	size_t done = 0;
	while (done < cg->n && rmdir(cg->dir[done].path) == 0)
		done++;
	if (done == cg->n)
		return 0;
	int64_t deadline = now_ms() + CG_TIMEOUT_MS;
	size_t left = 0;
	for (size_t i = 0; i < cg->n; i++)
		left += access(cg->dir[i].path, F_OK) == 0;
	if (left == 0)
		return 0; /* removed already */
	/* ENOENT: a hierarchy removed by an earlier, interrupted destroy. */
	struct berr *kerr = NULL;
	int r = rt_cgroup_kill_all(cg, SIGKILL, &kerr);
	if (r < 0 && r != -ENOENT) {
		berr_set(err, -r, "%s", kerr ? kerr->msg : "kill the processes");
		berr_free(kerr);
		return berr_wrap(err, "remove cgroup");
	}
	berr_free(kerr);
	/* A paused container: v1 frozen tasks only die once thawed. */
	int frozen = 0;
	if (rt_cgroup_is_frozen(cg, &frozen, NULL) == 0 && frozen)
		rt_cgroup_freeze(cg, 0, NULL);

	for (int i = 0;; i++) {
		pid_t *pids = NULL;
		size_t n = 0;
		r = rt_cgroup_pids(cg, &pids, &n, err);
		free(pids);
		if (r < 0)
			return berr_wrap(err, "remove cgroup");
		if (n == 0)
			break;
		if (now_ms() > deadline)
			return berr_set(err, EBUSY, "remove cgroup: %zu processes still running",
					n);
		/* Processes forked while the first signal was on its way. */
		if (i % 20 == 19)
			rt_cgroup_kill_all(cg, SIGKILL, NULL);
		sleep_ms(i < 10 ? 1 : 10);
	}

	for (size_t i = 0; i < cg->n; i++) {
		for (int k = 0;; k++) {
			r = rmdir_tree(cg->dir[i].path, 0);
			/* The kernel drops a cgroup's last reference a little after its last
			 * process is gone; rmdir says EBUSY until then. */
			if (r != -EBUSY || now_ms() > deadline)
				break;
			sleep_ms(k < 10 ? 1 : 10);
		}
		if (r < 0)
			return berr_errno(err, r, "remove cgroup %s", cg->dir[i].path);
	}
	return 0;
}

/* ---- Docker's number syntaxes ---- */

/* Parse "123.456" (digits, at most one dot, at least one digit) into an integer part and
 * a fraction in units of 1e-9. *ret_too_precise tells whether non-zero digits past the
 * ninth decimal were dropped. */
static int parse_decimal(const char *s, size_t len, uint64_t *ret_int, uint64_t *ret_nano,
			 int *ret_too_precise)
{
	uint64_t ip = 0, fp = 0;
	unsigned fd = 0;
	int digits = 0, dot = 0, too_precise = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (dot)
				return -EINVAL;
			dot = 1;
			continue;
		}
		if (c < '0' || c > '9')
			return -EINVAL;
		digits++;
		if (!dot) {
			if (ip > (UINT64_MAX - 9) / 10)
				return -ERANGE;
			ip = ip * 10 + (uint64_t)(c - '0');
		} else if (fd < 9) {
			fp = fp * 10 + (uint64_t)(c - '0');
			fd++;
		} else if (c != '0') {
			too_precise = 1;
		}
	}
	if (!digits)
		return -EINVAL;
	for (; fd < 9; fd++)
		fp *= 10;
	*ret_int = ip;
	*ret_nano = fp;
	*ret_too_precise = too_precise;
	return 0;
}

int rt_parse_bytes(const char *s, int64_t *ret, struct berr **err)
{
	if (!s)
		return berr_set(err, EINVAL, "invalid size: ''");
	size_t len = strlen(s);
	/* As go-units does: the number ends at the last digit, dot or space; a space there
	 * is a separator, and what follows is the unit. */
	size_t sep = len;
	for (size_t i = len; i > 0; i--)
		if ((s[i - 1] >= '0' && s[i - 1] <= '9') || s[i - 1] == '.' || s[i - 1] == ' ') {
			sep = i - 1;
			break;
		}
	if (sep == len)
		return berr_set(err, EINVAL, "invalid size: '%s'", s);
	size_t numlen = s[sep] == ' ' ? sep : sep + 1;
	const char *sfx = s + sep + 1;

	uint64_t mul = 1;
	size_t sl = strlen(sfx);
	if (sl > 3)
		return berr_set(err, EINVAL, "invalid suffix: '%s'", sfx);
	if (sl > 0) {
		static const char units[] = "kmgtp";
		char c = (char)(sfx[0] | 0x20);
		const char *u = strchr(units, c);
		if (c == 'b') {
			if (sl > 1)
				return berr_set(err, EINVAL, "invalid suffix: '%s'", sfx);
		} else if (u) {
			for (long k = 0; k <= u - units; k++)
				mul *= 1024;
			if ((sl == 2 && (sfx[1] | 0x20) != 'b') ||
			    (sl == 3 && ((sfx[1] | 0x20) != 'i' || (sfx[2] | 0x20) != 'b')))
				return berr_set(err, EINVAL, "invalid suffix: '%s'", sfx);
		} else {
			return berr_set(err, EINVAL, "invalid suffix: '%s'", sfx);
		}
	}

	/* Fixed-point (9 decimals) instead of Go's float64: "1.5g" gives 1610612736 either
	 * way, and values near 2^63 do not round; digits below a nano-unit are dropped. */
	uint64_t ip, fp;
	int too_precise;
	int r = parse_decimal(s, numlen, &ip, &fp, &too_precise);
	if (r == -EINVAL)
		return berr_set(err, EINVAL, "invalid size: '%s'", s);
	if (r < 0 || (ip && mul > (uint64_t)INT64_MAX / ip))
		return berr_set(err, ERANGE, "size out of range: '%s'", s);
	__uint128_t total = (__uint128_t)ip * mul + (__uint128_t)fp * mul / 1000000000u;
	if (total > INT64_MAX)
		return berr_set(err, ERANGE, "size out of range: '%s'", s);
	*ret = (int64_t)total;
	return 0;
}

int rt_parse_cpus(const char *s, uint64_t *ret_nano_cpus, struct berr **err)
{
	uint64_t ip, fp;
	int too_precise = 0;
	int r = s ? parse_decimal(s, strlen(s), &ip, &fp, &too_precise) : -EINVAL;
	if (r == 0 && too_precise)
		return berr_set(err, EINVAL,
				"invalid argument \"%s\" for \"--cpus\" flag: value is too precise",
				s);
	if (r < 0 || ip > 1000000)
		return berr_set(err, EINVAL, "invalid argument \"%s\" for \"--cpus\" flag",
				s ? s : "");
	uint64_t nano = ip * 1000000000u + fp;
	if (nano == 0) {
		*ret_nano_cpus = 0;
		return 0;
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (nano < 10000000u || nano > (uint64_t)ncpu * 1000000000u)
		return berr_set(err, EINVAL,
				"Range of CPUs is from 0.01 to %ld.00, as there are only %ld CPUs "
				"available",
				ncpu, ncpu);
	*ret_nano_cpus = nano;
	return 0;
}

void rt_cgroup_limits_set_cpus(struct rt_cgroup_limits *lim, uint64_t nano_cpus)
{
	if (nano_cpus == 0) {
		lim->cpu_quota = 0;
		lim->cpu_period = 0;
		return;
	}
	lim->cpu_period = 100000;
	lim->cpu_quota = nano_cpus * lim->cpu_period / 1000000000u;
}
