/* Cgroups on the real host (root needed): limits written to the kernel's files, processes
 * entered, frozen and thawed, a fork bomb held by pids.max, and destroy leaving nothing in
 * any hierarchy. On a hybrid host the v2 code runs too, against /sys/fs/cgroup/unified.
 * Every test works under its own parent "berth-test-<pid>" and the teardown removes it,
 * with every process the test started, whether the test passed or not. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup_layout.h"
#include "devices.h"
#include "err.h"

#include <sys/sysmacros.h>

#define ROOT "/sys/fs/cgroup"
#define UNIFIED "/sys/fs/cgroup/unified"

static char parent[64];
static pid_t children[64];
static size_t nchildren;

/* ---- helpers ---- */

static void msleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The content of dir/file without the trailing newline, or "" when unreadable. */
static const char *cat(const char *dir, const char *file)
{
	static char buf[8192];
	char p[PATH_MAX];
	buf[0] = '\0';
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	FILE *f = fopen(p, "re");
	if (!f)
		return buf;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return buf;
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Does the host offer controller ctl (v1: enabled in /proc/cgroups and mounted; v2: listed
 * in the root's cgroup.controllers)? */
static int host_has(const char *ctl)
{
	if (rt_cgroup_layout_detect(ROOT) == RT_CGROUP_V2) {
		const char *c = cat(ROOT, "cgroup.controllers");
		size_t l = strlen(ctl);
		for (const char *p = c; (p = strstr(p, ctl)); p += l)
			if ((p == c || p[-1] == ' ') && (p[l] == '\0' || p[l] == ' '))
				return 1;
		return 0;
	}
	char p[PATH_MAX];
	snprintf(p, sizeof(p), ROOT "/%s", ctl);
	return exists(p);
}

static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			char sub[PATH_MAX];
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_tree(sub);
		}
	closedir(d);
	rmdir(path);
}

/* Call fn(hierarchy mount dir) for every cgroup hierarchy under ROOT (and ROOT itself on
 * v2, unified/ on hybrid). */
static void each_hierarchy(void (*fn)(const char *dir, void *arg), void *arg)
{
	if (rt_cgroup_layout_detect(ROOT) == RT_CGROUP_V2) {
		fn(ROOT, arg);
		return;
	}
	DIR *d = opendir(ROOT);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof(p), ROOT "/%s", de->d_name);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			fn(p, arg);
	}
	closedir(d);
}

static void remove_parent_in(const char *dir, void *arg)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, parent);
	rm_tree(p);
}

static void count_leftovers(const char *dir, void *arg)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s/%s", dir, parent, (const char *)((void **)arg)[0]);
	if (exists(p))
		(*(int *)((void **)arg)[1])++;
}

static int leftovers(const char *id)
{
	int n = 0;
	void *arg[2] = {(void *)id, &n};
	each_hierarchy(count_leftovers, arg);
	return n;
}

static void reap(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

enum mode { SLEEP, SLEEP_WITH_CHILD, SPIN, BOMB };

/* Fork a child that waits for a byte on a pipe (so that the test can put it into its
 * cgroup first) and then sleeps, spins or fork-bombs. *ret_go is the pipe's write end;
 * report (may be -1) receives 'E' from the bomb once fork fails with EAGAIN. */
static pid_t spawn(enum mode m, int *ret_go, int report)
{
	int go[2];
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char b;
		close(go[1]);
		if (read(go[0], &b, 1) != 1)
			_exit(1);
		switch (m) {
		case SLEEP:
			for (;;)
				pause();
		case SLEEP_WITH_CHILD:
			if (fork() < 0)
				_exit(2);
			for (;;)
				pause();
		case SPIN:
			for (volatile unsigned long i = 0;; i++)
				;
		case BOMB: {
			int told = 0;
			for (;;) {
				pid_t c = fork();
				if (c < 0 && errno == EAGAIN && !told) {
					told = write(report, "E", 1) == 1;
				}
				msleep(c < 0 ? 20 : 2);
			}
		}
		}
		_exit(0);
	}
	close(go[0]);
	if (nchildren < sizeof(children) / sizeof(children[0]))
		children[nchildren++] = pid;
	*ret_go = go[1];
	return pid;
}

static void go(int fd)
{
	assert_int_equal(write(fd, "g", 1), 1);
	close(fd);
}

/* utime + stime of pid, in clock ticks. */
static unsigned long long cpu_ticks(pid_t pid)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return 0;
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *s = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	if (!s || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return 0;
	return ut + st;
}

static int procs_has(const char *dir, pid_t pid)
{
	char want[32];
	snprintf(want, sizeof(want), "%d", (int)pid);
	const char *c = cat(dir, "cgroup.procs");
	for (const char *p = c; (p = strstr(p, want)); p++) {
		size_t l = strlen(want);
		if ((p == c || p[-1] == '\n') && (p[l] == '\0' || p[l] == '\n'))
			return 1;
	}
	return 0;
}

static void destroy_free(struct rt_cgroup *cg)
{
	struct berr *err = NULL;
	int r = rt_cgroup_destroy(cg, &err);
	if (r < 0)
		fail_msg("destroy: %s", err->msg);
	rt_cgroup_free(cg);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	/* Orphans of a fork bomb come back to us to be reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	snprintf(parent, sizeof(parent), "berth-test-%d", (int)getpid());
	nchildren = 0;
	return 0;
}

static const char *const ids[] = {"limits", "validate", "enter", "freeze", "bomb",
				  "destroy", "v2",      "v2lim", "v2dev",  "v2devall"};

static int teardown(void **state)
{
	/* Processes first (through the cgroups, which also catch grandchildren), then the
	 * directories, then the zombies. */
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		const char *roots[] = {ROOT, UNIFIED};
		for (size_t k = 0; k < 2; k++) {
			struct rt_cgroup *cg = NULL;
			if (rt_cgroup_open_at(roots[k], parent, ids[i], &cg, NULL) == 0) {
				rt_cgroup_destroy(cg, NULL);
				rt_cgroup_free(cg);
			}
		}
	}
	for (size_t i = 0; i < nchildren; i++)
		kill(children[i], SIGKILL);
	for (size_t i = 0; i < nchildren; i++)
		waitpid(children[i], NULL, 0);
	nchildren = 0;
	reap();
	each_hierarchy(remove_parent_in, NULL);
	if (exists(UNIFIED))
		remove_parent_in(UNIFIED, NULL);
	return 0;
}

/* ---- tests ---- */

static void test_invalid_names(void **state)
{
	static const char *const bad[][2] = {
		{"berth", "a/b"}, {"berth", ".."}, {"berth", ""},   {"../x", "id"},
		{"a//b", "id"},   {"/abs", "id"},  {"", "id"},      {"a/./b", "id"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rt_cgroup *cg = NULL;
		struct berr *err = NULL;
		assert_int_equal(rt_cgroup_create(bad[i][0], bad[i][1], NULL, &cg, &err), -EINVAL);
		assert_null(cg);
		berr_free(err);
	}
	struct rt_cgroup *cg = NULL;
	assert_int_equal(rt_cgroup_create(parent, NULL, NULL, &cg, NULL), -EINVAL);
}

static void test_create_limits(void **state)
{
	int mem = host_has("memory"), pids = host_has("pids"), cpu = host_has("cpu"),
	    cpuset = host_has("cpuset");
	if (!mem && !pids && !cpu)
		skip();
	struct rt_cgroup_limits lim = {0};
	if (mem)
		lim.memory = 64 << 20;
	if (pids)
		lim.pids = 50;
	if (cpu) {
		rt_cgroup_limits_set_cpus(&lim, 500000000); /* --cpus 0.5 */
		lim.cpu_shares = 512;
	}
	if (cpuset)
		lim.cpuset_cpus = "0";
	struct rt_cgroup *cg = NULL;
	struct berr *err = NULL;
	int r = rt_cgroup_create(parent, "limits", &lim, &cg, &err);
	if (r < 0)
		fail_msg("create: %s", err->msg);
	enum rt_cgroup_layout layout = rt_cgroup_get_layout(cg);
	assert_int_equal(layout, rt_cgroup_layout_detect(ROOT));

	if (layout == RT_CGROUP_V2) {
		const char *d = rt_cgroup_path(cg, "unified");
		assert_non_null(d);
		if (mem) {
			assert_string_equal(cat(d, "memory.max"), "67108864");
			if (exists(d) && strlen(cat(d, "memory.swap.max")))
				assert_string_equal(cat(d, "memory.swap.max"), "67108864");
		}
		if (pids)
			assert_string_equal(cat(d, "pids.max"), "50");
		if (cpu) {
			assert_string_equal(cat(d, "cpu.max"), "50000 100000");
			/* runc's shares-to-weight: 1 + (512 - 2) * 9999 / 262142 */
			assert_string_equal(cat(d, "cpu.weight"), "20");
		}
		if (cpuset)
			assert_string_equal(cat(d, "cpuset.cpus"), "0");
	} else {
		if (mem) {
			const char *d = rt_cgroup_path(cg, "memory");
			assert_non_null(d);
			assert_string_equal(cat(d, "memory.limit_in_bytes"), "67108864");
			/* Docker's default --memory-swap: twice --memory, where swap is
			 * accounted. */
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "%s/memory.memsw.limit_in_bytes", d);
			if (exists(p))
				assert_string_equal(cat(d, "memory.memsw.limit_in_bytes"),
						    "134217728");
		}
		if (pids)
			assert_string_equal(cat(rt_cgroup_path(cg, "pids"), "pids.max"), "50");
		if (cpu) {
			const char *d = rt_cgroup_path(cg, "cpu");
			assert_string_equal(cat(d, "cpu.cfs_quota_us"), "50000");
			assert_string_equal(cat(d, "cpu.cfs_period_us"), "100000");
			assert_string_equal(cat(d, "cpu.shares"), "512");
		}
		if (cpuset) {
			const char *d = rt_cgroup_path(cg, "cpuset");
			assert_string_equal(cat(d, "cpuset.cpus"), "0");
			char mems[256];
			snprintf(mems, sizeof(mems), "%s", cat(ROOT "/cpuset", "cpuset.mems"));
			assert_string_equal(cat(d, "cpuset.mems"), mems);
		}
		const char *dev = rt_cgroup_path(cg, "devices");
		if (dev) {
			char list[8192];
			snprintf(list, sizeof(list), "%s", cat(dev, "devices.list"));
			assert_non_null(strstr(list, "c 1:3 rwm"));
			assert_non_null(strstr(list, "c 136:* rwm"));
			assert_non_null(strstr(list, "c *:* m"));
			assert_null(strstr(list, "a *:* rwm"));
			assert_null(strstr(list, "c 10:229"));
		}
		if (layout == RT_CGROUP_HYBRID)
			assert_non_null(rt_cgroup_path(cg, "unified"));
	}

	/* Another process finds the same directories. */
	struct rt_cgroup *again = NULL;
	assert_int_equal(rt_cgroup_open(parent, "limits", &again, &err), 0);
	static const char *const ctls[] = {"memory", "pids",    "cpu",   "cpuacct", "cpuset",
					   "blkio",  "devices", "freezer", "unified"};
	for (size_t i = 0; i < sizeof(ctls) / sizeof(ctls[0]); i++) {
		const char *a = rt_cgroup_path(cg, ctls[i]), *b = rt_cgroup_path(again, ctls[i]);
		assert_true((a == NULL) == (b == NULL));
		if (a)
			assert_string_equal(a, b);
	}
	/* Creating again reuses the directories. */
	struct rt_cgroup *twice = NULL;
	assert_int_equal(rt_cgroup_create(parent, "limits", &lim, &twice, &err), 0);
	rt_cgroup_free(twice);
	rt_cgroup_free(again);
	destroy_free(cg);
	assert_int_equal(leftovers("limits"), 0);
}

static void test_limit_validation(void **state)
{
	static const struct {
		struct rt_cgroup_limits lim;
		const char *msg;
	} bad[] = {
		{{.memory = 1 << 20}, "Minimum memory limit allowed is 6MB"},
		{{.memory = 64 << 20, .memory_swap = 32 << 20}, "Minimum memoryswap limit"},
		{{.memory_swap = 64 << 20}, "You should always set the Memory limit"},
		{{.memory = -5}, "invalid memory limit"},
		{{.pids = -2}, "invalid pids limit"},
		{{.cpu_period = 500}, "CPU cfs period"},
		{{.cpu_quota = 10}, "CPU cfs quota"},
		{{.cpuset_cpus = "abc"}, "invalid value abc for cpuset cpus"},
		{{.cpuset_cpus = ""}, "for cpuset cpus"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rt_cgroup *cg = NULL;
		struct berr *err = NULL;
		assert_int_equal(rt_cgroup_create(parent, "validate", &bad[i].lim, &cg, &err),
				 -EINVAL);
		if (!strstr(err->msg, bad[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err->msg, bad[i].msg);
		berr_free(err);
	}
	assert_int_equal(leftovers("validate"), 0);
	struct rt_cgroup *cg = NULL;
	struct berr *err = NULL;
	assert_int_equal(rt_cgroup_open(parent, "validate", &cg, &err), -ENOENT);
	berr_free(err);
}

static void test_enter_and_pids(void **state)
{
	struct rt_cgroup *cg = NULL;
	struct berr *err = NULL;
	assert_int_equal(rt_cgroup_create(parent, "enter", NULL, &cg, &err), 0);
	int g;
	pid_t pid = spawn(SLEEP_WITH_CHILD, &g, -1);
	assert_int_equal(rt_cgroup_enter(cg, pid, &err), 0);
	go(g);

	static const char *const ctls[] = {"memory", "pids",    "cpu",   "cpuacct", "cpuset",
					   "blkio",  "devices", "freezer", "systemd", "unified"};
	int seen = 0;
	for (size_t i = 0; i < sizeof(ctls) / sizeof(ctls[0]); i++) {
		const char *d = rt_cgroup_path(cg, ctls[i]);
		if (!d)
			continue;
		if (!procs_has(d, pid))
			fail_msg("%d not in %s/cgroup.procs", (int)pid, d);
		seen++;
	}
	assert_true(seen > 0);
	char p[64], want[128];
	snprintf(p, sizeof(p), "/proc/%d/cgroup", (int)pid);
	snprintf(want, sizeof(want), "/%s/enter", parent);
	assert_non_null(strstr(cat("/", p + 1), want));

	/* The grandchild, forked inside, is listed too. */
	pid_t *pids = NULL;
	size_t n = 0;
	for (int i = 0; i < 200 && n < 2; i++) {
		free(pids);
		assert_int_equal(rt_cgroup_pids(cg, &pids, &n, &err), 0);
		if (n < 2)
			msleep(5);
	}
	assert_int_equal(n, 2);
	assert_true(pids[0] < pids[1]);
	assert_true(pids[0] == pid || pids[1] == pid);
	free(pids);

	/* A different process opens the cgroup by name and lists the same two. */
	pid_t c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		struct rt_cgroup *o = NULL;
		pid_t *v = NULL;
		size_t k = 0;
		if (rt_cgroup_open(parent, "enter", &o, NULL) < 0 ||
		    rt_cgroup_pids(o, &v, &k, NULL) < 0)
			_exit(100);
		_exit((int)k);
	}
	int st;
	assert_int_equal(waitpid(c, &st, 0), c);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);

	assert_int_equal(rt_cgroup_kill_all(cg, SIGTERM, &err), 2);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	destroy_free(cg);
	assert_int_equal(leftovers("enter"), 0);
}

/* Freeze a spinning child: its CPU time stops, and runs again after the thaw. */
static void check_freeze(struct rt_cgroup *cg, pid_t pid, const char *state_dir,
			 const char *state_file)
{
	struct berr *err = NULL;
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long t0 = cpu_ticks(pid);
	for (int i = 0; i < 100 && cpu_ticks(pid) <= t0; i++)
		msleep(10);
	assert_true(cpu_ticks(pid) > t0);

	assert_int_equal(rt_cgroup_freeze(cg, 1, &err), 0);
	int frozen = -1;
	assert_int_equal(rt_cgroup_is_frozen(cg, &frozen, &err), 0);
	assert_int_equal(frozen, 1);
	if (state_file && strcmp(state_file, "freezer.state") == 0)
		assert_string_equal(cat(state_dir, state_file), "FROZEN");
	else if (state_file)
		assert_non_null(strstr(cat(state_dir, state_file), "frozen 1"));
	unsigned long long t1 = cpu_ticks(pid);
	msleep(300);
	unsigned long long t2 = cpu_ticks(pid);
	/* 300 ms of spinning would be ~30 ticks at 100 Hz; allow one for accounting lag. */
	assert_true(t2 <= t1 + 1);
	(void)hz;

	assert_int_equal(rt_cgroup_freeze(cg, 0, &err), 0);
	assert_int_equal(rt_cgroup_is_frozen(cg, &frozen, &err), 0);
	assert_int_equal(frozen, 0);
	for (int i = 0; i < 100 && cpu_ticks(pid) <= t2 + 2; i++)
		msleep(10);
	assert_true(cpu_ticks(pid) > t2 + 2);
}

static void test_freeze(void **state)
{
	struct rt_cgroup *cg = NULL;
	struct berr *err = NULL;
	assert_int_equal(rt_cgroup_create(parent, "freeze", NULL, &cg, &err), 0);
	int g;
	pid_t pid = spawn(SPIN, &g, -1);
	assert_int_equal(rt_cgroup_enter(cg, pid, &err), 0);
	go(g);
	const char *fz = rt_cgroup_path(cg, "freezer");
	if (rt_cgroup_get_layout(cg) == RT_CGROUP_V2)
		check_freeze(cg, pid, rt_cgroup_path(cg, "unified"), "cgroup.events");
	else if (fz)
		check_freeze(cg, pid, fz, "freezer.state");
	else if (rt_cgroup_path(cg, "unified"))
		check_freeze(cg, pid, rt_cgroup_path(cg, "unified"), "cgroup.events");
	else
		skip();

	/* A paused container can be removed: destroy thaws so that SIGKILL lands. */
	assert_int_equal(rt_cgroup_freeze(cg, 1, &err), 0);
	destroy_free(cg);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(leftovers("freeze"), 0);
}

static void test_fork_bomb(void **state)
{
	if (!host_has("pids"))
		skip();
	struct rt_cgroup_limits lim = {.pids = 16};
	if (host_has("memory"))
		lim.memory = 128 << 20;
	struct rt_cgroup *cg = NULL;
	struct berr *err = NULL;
	int r = rt_cgroup_create(parent, "bomb", &lim, &cg, &err);
	if (r < 0)
		fail_msg("create: %s", err->msg);
	int rep[2];
	assert_int_equal(pipe2(rep, O_CLOEXEC | O_NONBLOCK), 0);
	int g;
	pid_t pid = spawn(BOMB, &g, rep[1]);
	close(rep[1]);
	assert_int_equal(rt_cgroup_enter(cg, pid, &err), 0);
	go(g);

	/* Wait until the bomb hits the wall. */
	char b = 0;
	for (int i = 0; i < 500 && read(rep[0], &b, 1) != 1; i++)
		msleep(10);
	close(rep[0]);
	assert_int_equal(b, 'E');
	msleep(100);
	pid_t *pids = NULL;
	size_t n = 0;
	assert_int_equal(rt_cgroup_pids(cg, &pids, &n, &err), 0);
	free(pids);
	assert_true(n >= 2);
	assert_true(n <= 16);
	const char *pd = rt_cgroup_path(cg, "pids");
	assert_true(atoi(cat(pd, "pids.current")) <= 16);

	destroy_free(cg);
	reap();
	assert_int_equal(leftovers("bomb"), 0);
	/* Every process of the bomb is gone (they were our children or grandchildren). */
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

static void make_sub(const char *dir, void *arg)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s/destroy", dir, parent);
	if (!exists(p))
		return;
	snprintf(p, sizeof(p), "%s/%s/destroy/nested", dir, parent);
	mkdir(p, 0755);
}

static void test_destroy_leaves_nothing(void **state)
{
	struct rt_cgroup *cg = NULL;
	struct berr *err = NULL;
	assert_int_equal(rt_cgroup_create(parent, "destroy", NULL, &cg, &err), 0);
	assert_true(leftovers("destroy") > 0);
	int g;
	pid_t pid = spawn(SLEEP_WITH_CHILD, &g, -1);
	assert_int_equal(rt_cgroup_enter(cg, pid, &err), 0);
	go(g);
	/* What a container running its own cgroup manager would leave: sub-cgroups. */
	each_hierarchy(make_sub, NULL);

	assert_int_equal(rt_cgroup_destroy(cg, &err), 0);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(leftovers("destroy"), 0);
	/* Destroying twice is harmless. */
	assert_int_equal(rt_cgroup_destroy(cg, &err), 0);
	rt_cgroup_free(cg);
	assert_int_equal(rt_cgroup_open(parent, "destroy", &cg, &err), -ENOENT);
	berr_free(err);
	reap();
}

/* On a hybrid host, the v2 code (cgroup.freeze, cgroup.events, cgroup.kill) runs against
 * the cgroup2 mount at unified/. A pure v2 host runs it in the tests above already. */
static void test_v2_on_unified(void **state)
{
	if (rt_cgroup_layout_detect(ROOT) != RT_CGROUP_HYBRID ||
	    rt_cgroup_layout_detect(UNIFIED) != RT_CGROUP_V2)
		skip();
	struct rt_cgroup *cg = NULL;
	struct berr *err = NULL;
	assert_int_equal(rt_cgroup_create_at(UNIFIED, parent, "v2", NULL, &cg, &err), 0);
	assert_int_equal(rt_cgroup_get_layout(cg), RT_CGROUP_V2);
	const char *d = rt_cgroup_path(cg, "unified");
	assert_non_null(d);
	/* v2: one directory for every controller name. */
	assert_string_equal(rt_cgroup_path(cg, "memory"), d);

	int g;
	pid_t pid = spawn(SPIN, &g, -1);
	assert_int_equal(rt_cgroup_enter(cg, pid, &err), 0);
	go(g);
	assert_true(procs_has(d, pid));
	check_freeze(cg, pid, d, "cgroup.events");

	/* Not SIGKILL: frozen, listed, signalled, thawed. */
	assert_int_equal(rt_cgroup_kill_all(cg, SIGTERM, &err), 1);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);

	/* SIGKILL: cgroup.kill. */
	pid = spawn(SLEEP_WITH_CHILD, &g, -1);
	assert_int_equal(rt_cgroup_enter(cg, pid, &err), 0);
	go(g);
	assert_true(rt_cgroup_kill_all(cg, SIGKILL, &err) >= 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	destroy_free(cg);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), UNIFIED "/%s/v2", parent);
	assert_false(exists(p));
	reap();

	/* A limit whose controller the hierarchy lacks: refused, nothing left behind. */
	if (!strstr(cat(UNIFIED, "cgroup.controllers"), "memory")) {
		struct rt_cgroup_limits lim = {.memory = 64 << 20};
		assert_int_equal(rt_cgroup_create_at(UNIFIED, parent, "v2lim", &lim, &cg, &err),
				 -EOPNOTSUPP);
		assert_non_null(strstr(err->msg, "memory"));
		berr_free(err);
		snprintf(p, sizeof(p), UNIFIED "/%s/v2lim", parent);
		assert_false(exists(p));
	}
}

static void test_device_rules(void **state)
{
	static const struct {
		const char *s;
		char type;
		long major, minor;
		unsigned access;
	} good[] = {
	    {"a", 'a', -1, -1, 7},	       {"c 1:3 rwm", 'c', 1, 3, 7},
	    {"b *:* m", 'b', -1, -1, 1},       {"c 136:* rw", 'c', 136, -1, 6},
	    {"c 10:200 rwm", 'c', 10, 200, 7}, {"b 7:0", 'b', 7, 0, 7},
	    {"c 1:5 wr", 'c', 1, 5, 6},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct rt_dev_rule r;
		struct berr *err = NULL;
		assert_int_equal(rt_dev_rule_parse(good[i].s, &r, &err), 0);
		assert_int_equal(r.type, good[i].type);
		assert_int_equal(r.major, good[i].major);
		assert_int_equal(r.minor, good[i].minor);
		assert_int_equal(r.access, good[i].access);
	}
	static const char *const bad[] = {"", "x 1:3 rwm", "c", "c 1", "c 1:", "c :3", "c 1:3 ",
					  "c 1:3 rwx", "c 1:3 rr", "c -1:3", "c 99999999:1 r",
					  "c1:3 r", "a 1:1 r"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rt_dev_rule r;
		struct berr *err = NULL;
		assert_int_equal(rt_dev_rule_parse(bad[i], &r, &err), -EINVAL);
		assert_non_null(strstr(err->msg, "invalid device rule"));
		berr_free(err);
	}
	/* Every default rule parses, and the program ends in "deny": r0 = 0, exit. */
	struct rt_dev_rule rules[32];
	for (size_t i = 0; i < rt_n_default_device_rules; i++)
		assert_int_equal(rt_dev_rule_parse(rt_default_device_rules[i], &rules[i], NULL), 0);
	struct bpf_insn *insns = NULL;
	size_t len = 0;
	assert_int_equal(rt_devices_bpf_build(rules, rt_n_default_device_rules, &insns, &len, NULL), 0);
	assert_true(len > rt_n_default_device_rules * 2);
	assert_int_equal(insns[len - 1].code, BPF_JMP | BPF_EXIT);
	assert_int_equal(insns[len - 2].imm, 0);
	/* Every jump lands inside the program. */
	for (size_t i = 0; i < len; i++)
		if (BPF_CLASS(insns[i].code) == BPF_JMP && BPF_OP(insns[i].code) == BPF_JNE)
			assert_true(i + 1 + (size_t)insns[i].off < len);
	free(insns);
}

/* In a child entered into cg: what opening a fresh node of each device gives (0 or errno),
 * packed as one exit status: bit 0 /dev/null, bit 1 a kmsg node (c 1:11), bit 2 a loop node
 * (b 7:0) opened; bit 3 mknod refused. */
static int device_probe(struct rt_cgroup *cg, const char *tmp)
{
	int go_pipe[2];
	assert_int_equal(pipe(go_pipe), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;
		close(go_pipe[1]);
		if (read(go_pipe[0], &c, 1) != 1)
			_exit(100);
		int bits = 0, fd;
		if ((fd = open("/dev/null", O_RDWR)) >= 0) {
			bits |= 1;
			close(fd);
		}
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/kmsg", tmp);
		unlink(p);
		if (mknod(p, S_IFCHR | 0600, makedev(1, 11)) < 0)
			bits |= 8;
		else if ((fd = open(p, O_RDONLY | O_NONBLOCK)) >= 0) {
			bits |= 2;
			close(fd);
		}
		snprintf(p, sizeof(p), "%s/loop", tmp);
		unlink(p);
		if (mknod(p, S_IFBLK | 0600, makedev(7, 0)) < 0)
			bits |= 8;
		else if ((fd = open(p, O_RDONLY | O_NONBLOCK)) >= 0) {
			bits |= 4;
			close(fd);
		}
		_exit(bits);
	}
	close(go_pipe[0]);
	struct berr *err = NULL;
	assert_int_equal(rt_cgroup_enter(cg, pid, &err), 0);
	assert_int_equal(write(go_pipe[1], "x", 1), 1);
	close(go_pipe[1]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* cgroup v2's device filter (a BPF program), run against the cgroup2 mount: on a hybrid host
 * at unified/, on a pure v2 host at the root. Docker's rules: mknod of anything, but only the
 * listed devices open. */
static void test_v2_device_filter(void **state)
{
	const char *root = rt_cgroup_layout_detect(ROOT) == RT_CGROUP_V2 ? ROOT
			   : rt_cgroup_layout_detect(UNIFIED) == RT_CGROUP_V2 ? UNIFIED
									  : NULL;
	if (!root || geteuid() != 0)
		skip();
	char tmp[] = "/tmp/berth-test-dev.XXXXXX";
	assert_non_null(mkdtemp(tmp));
	struct rt_cgroup *cg = NULL;
	struct berr *err = NULL;
	/* Docker's rules: the filter refuses to open kmsg and a loop device, not /dev/null. */
	int cr = rt_cgroup_create_at(root, parent, "v2dev", NULL, &cg, &err);
	if (cr < 0)
		print_error("%s\n", err->msg);
	assert_int_equal(cr, 0);
	int bits = device_probe(cg, tmp);
	assert_int_equal(bits, 1); /* /dev/null only; kmsg and loop refused; mknod allowed */
	destroy_free(cg);

	struct rt_cgroup_limits all = {.devices_all = 1};
	assert_int_equal(rt_cgroup_create_at(root, parent, "v2devall", &all, &cg, &err), 0);
	bits = device_probe(cg, tmp);
	assert_int_equal(bits & 3, 3); /* no filter: kmsg opens */
	assert_int_equal(bits & 8, 0);
	destroy_free(cg);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/kmsg", tmp);
	unlink(p);
	snprintf(p, sizeof(p), "%s/loop", tmp);
	unlink(p);
	assert_int_equal(rmdir(tmp), 0);
	reap();
}

static void test_parse_bytes(void **state)
{
	static const struct {
		const char *s;
		int r;
		int64_t v;
	} cases[] = {
		{"1024", 0, 1024},
		{"1b", 0, 1},
		{"1k", 0, 1024},
		{"1K", 0, 1024},
		{"1kb", 0, 1024},
		{"1KiB", 0, 1024},
		{"512m", 0, 512LL << 20},
		{"512M", 0, 512LL << 20},
		{"1g", 0, 1LL << 30},
		{"1.5g", 0, 1610612736},
		{"10 KiB", 0, 10240},
		{"2t", 0, 2LL << 40},
		{"1p", 0, 1LL << 50},
		{"0.5k", 0, 512},
		{".5k", 0, 512},
		{"8191p", 0, 8191LL << 50},
		{"8192p", -ERANGE, 0},
		{"99999999999999999999", -ERANGE, 0},
		{"", -EINVAL, 0},
		{"m", -EINVAL, 0},
		{"1x", -EINVAL, 0},
		{"1mm", -EINVAL, 0},
		{"1kib2", -EINVAL, 0},
		{"1bb", -EINVAL, 0},
		{"1kbb", -EINVAL, 0},
		{"1.2.3m", -EINVAL, 0},
		{"-1m", -EINVAL, 0},
		{"1e3", -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -7;
		struct berr *err = NULL;
		int r = rt_parse_bytes(cases[i].s, &v, &err);
		if (r != cases[i].r || (r == 0 && v != cases[i].v))
			fail_msg("'%s': got %d/%lld, want %d/%lld", cases[i].s, r, (long long)v,
				 cases[i].r, (long long)cases[i].v);
		assert_true((r == 0) == (err == NULL));
		berr_free(err);
	}
}

static void test_parse_cpus(void **state)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t v = 0;
	struct berr *err = NULL;
	assert_int_equal(rt_parse_cpus("0.5", &v, &err), 0);
	assert_int_equal(v, 500000000);
	assert_int_equal(rt_parse_cpus("0.01", &v, &err), 0);
	assert_int_equal(v, 10000000);
	assert_int_equal(rt_parse_cpus("0", &v, &err), 0);
	assert_int_equal(v, 0);
	char s[32];
	snprintf(s, sizeof(s), "%ld", ncpu);
	assert_int_equal(rt_parse_cpus(s, &v, &err), 0);
	assert_int_equal(v, (uint64_t)ncpu * 1000000000u);
	snprintf(s, sizeof(s), "%ld.5", ncpu);
	assert_int_equal(rt_parse_cpus(s, &v, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "Range of CPUs is from 0.01"));
	berr_free(err);
	err = NULL;
	static const char *const bad[] = {"0.001", "abc", "", "-1", "1.5.", "1,5",
					  "0.0000000001"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(rt_parse_cpus(bad[i], &v, &err), -EINVAL);
		berr_free(err);
		err = NULL;
	}
	assert_int_equal(rt_parse_cpus("0.0000000001", &v, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "too precise"));
	berr_free(err);

	struct rt_cgroup_limits lim = {0};
	rt_cgroup_limits_set_cpus(&lim, 1500000000);
	assert_int_equal(lim.cpu_period, 100000);
	assert_int_equal(lim.cpu_quota, 150000);
	rt_cgroup_limits_set_cpus(&lim, 0);
	assert_int_equal(lim.cpu_quota, 0);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_cgroup needs root\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_bytes),
		cmocka_unit_test(test_parse_cpus),
		cmocka_unit_test_setup_teardown(test_invalid_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enter_and_pids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_freeze, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork_bomb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_on_unified, setup, teardown),
		cmocka_unit_test(test_device_rules),
		cmocka_unit_test_setup_teardown(test_v2_device_filter, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
