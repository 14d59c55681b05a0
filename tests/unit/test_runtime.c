/* The runtime core with real containers: a busybox root filesystem built in a temp dir,
 * started through rt_linux_start() (linux.c) and rt_monitor_start() (monitor.c), checked
 * from inside the container. Needs root, overlayfs and cgroups (the CI machine has them).
 * After every container the test checks that no mount, process, cgroup or socket is left. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cgroup.h"
#include "cleanup.h"
#include "container.h"
#include "fs.h"
#include "linux.h"
#include "monitor.h"
#include "pty.h"
#include "rlimit.h"
#include "state.h"

#define CG_PARENT "berth-test-runtime"

static char tmpdir[256]; /* everything of this test run lives below it */
static char base[300];	 /* the busybox root filesystem, used as the lower layer */
static char root[300];	 /* the store root (<root>/containers/<id>) */
static char runroot[300];
static char monitor_bin[PATH_MAX]; /* build/berth-monitor, found from this test's own path */

static int sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 1;
#else
	return 0;
#endif
}

static void xsystem_rm_rf(const char *path)
{
	fs_rm_rf_at(AT_FDCWD, path);
}

static void write_text(const char *path, const char *s, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
}

/* A busybox-static root: /bin/busybox and a symlink per applet, passwd and group. */
static void make_busybox_rootfs(const char *dir)
{
	char p[PATH_MAX];
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, dir, 0755), 0);
	const char *dirs[] = {"bin", "etc", "tmp", "root"};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
	}
	snprintf(p, sizeof(p), "%s/tmp", dir);
	chmod(p, 01777);
	const char *bb = access("/bin/busybox", X_OK) == 0 ? "/bin/busybox" : "/usr/bin/busybox";
	int in = open(bb, O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	snprintf(p, sizeof(p), "%s/bin/busybox", dir);
	int out = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
	assert_true(out >= 0);
	assert_true(fs_copy_fd(in, out) > 0);
	close(in);
	close(out);

	/* The applet list: `busybox --list`, one name per line. */
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		execl(bb, "busybox", "--list", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	char *list = NULL;
	assert_int_equal(fs_read_fd(pfd[0], 1 << 20, &list, NULL), 0);
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	char *save = NULL;
	int n = 0;
	for (char *a = strtok_r(list, "\n", &save); a; a = strtok_r(NULL, "\n", &save)) {
		if (strcmp(a, "busybox") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/bin/%s", dir, a);
		assert_int_equal(symlink("busybox", p), 0);
		n++;
	}
	free(list);
	assert_true(n > 100);
	snprintf(p, sizeof(p), "%s/etc/passwd", dir);
	write_text(p, "root:x:0:0:root:/root:/bin/sh\nuser1:x:1000:1000::/tmp:/bin/sh\n", 0644);
	snprintf(p, sizeof(p), "%s/etc/group", dir);
	write_text(p, "root:x:0:\nuser1:x:1000:\n", 0644);
	snprintf(p, sizeof(p), "%s/etc/lowerfile", dir);
	write_text(p, "from the lower layer\n", 0644);
}

static int group_setup(void **state)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_runtime needs root\n");
		return -1;
	}
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/berth-rt-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(base, sizeof(base), "%s/base", tmpdir);
	snprintf(root, sizeof(root), "%s/root", tmpdir);
	snprintf(runroot, sizeof(runroot), "%s/run", tmpdir);
	make_busybox_rootfs(base);
	ssize_t n = readlink("/proc/self/exe", monitor_bin, sizeof(monitor_bin) - 32);
	if (n <= 0)
		return -1;
	monitor_bin[n] = '\0';
	char *slash = strrchr(monitor_bin, '/');
	snprintf(slash, 32, "/../../berth-monitor");
	if (access(monitor_bin, X_OK) < 0) {
		fprintf(stderr, "no berth-monitor at %s\n", monitor_bin);
		return -1;
	}
	return 0;
}

static void cgroup_parent_remove(void)
{
	_cleanup_closedir_ DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *de;
	char p[PATH_MAX];
	while (d && (de = readdir(d))) {
		snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/" CG_PARENT, de->d_name);
		rmdir(p);
	}
	rmdir("/sys/fs/cgroup/" CG_PARENT);
}

static int group_teardown(void **state)
{
	xsystem_rm_rf(tmpdir);
	cgroup_parent_remove();
	return 0;
}

static int read_file(const char *path, char **ret)
{
	return fs_read_all_at(AT_FDCWD, path, 64 << 20, ret, NULL);
}

/* ---- checks that nothing is left ---- */

static int mounts_below(const char *dir)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int n = 0;
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, dir))
			n++;
	return n;
}

static int cgroup_dirs(const char *id)
{
	_cleanup_closedir_ DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *de;
	char p[PATH_MAX];
	struct stat st;
	int n = 0;
	while (d && (de = readdir(d))) {
		snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/" CG_PARENT "/%s", de->d_name, id);
		if (stat(p, &st) == 0)
			n++;
	}
	return n;
}

static int alive(pid_t pid)
{
	unsigned long long st;
	int zombie = 0;
	return pid > 0 && rt_proc_start_time(pid, &st, &zombie) == 0 && !zombie;
}

static void assert_clean(const char *id, pid_t pid, pid_t monitor)
{
	if (monitor > 0) {
		/* The monitor cleans up after recording the exit, then exits: wait for it. */
		for (int i = 0; i < 500 && alive(monitor); i++)
			poll(NULL, 0, 10);
		assert_false(alive(monitor));
	}
	assert_int_equal(mounts_below(tmpdir), 0);
	assert_int_equal(cgroup_dirs(id), 0);
	if (pid > 0)
		assert_false(alive(pid));
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof(p), "%s/containers/%s", runroot, id);
	assert_int_equal(stat(p, &st), -1);
}

/* ---- cleanup even when a test fails half-way ---- */

/* Containers a test started: the teardown kills what is left and removes their cgroups and
 * sockets, so that a failed assertion (which leaves the test at once) leaks nothing. */
static struct {
	char id[RT_ID_LEN + 1];
	pid_t pid, monitor;
} tracked[32];
static size_t ntracked;

static void track(const char *id, pid_t pid, pid_t monitor)
{
	size_t i;
	for (i = 0; i < ntracked; i++)
		if (strcmp(tracked[i].id, id) == 0)
			break;
	if (i == ntracked) {
		assert_true(ntracked < ARRAY_SIZE(tracked));
		ntracked++;
		snprintf(tracked[i].id, sizeof(tracked[i].id), "%s", id);
	}
	if (pid)
		tracked[i].pid = pid;
	if (monitor)
		tracked[i].monitor = monitor;
}

static int test_teardown(void **state)
{
	for (size_t i = 0; i < ntracked; i++) {
		pid_t pids[2] = {tracked[i].monitor, tracked[i].pid};
		for (int k = 0; k < 2; k++)
			if (alive(pids[k])) {
				kill(pids[k], SIGKILL);
				for (int t = 0; t < 200 && alive(pids[k]); t++) {
					waitpid(pids[k], NULL, WNOHANG);
					poll(NULL, 0, 10);
				}
			}
		struct rt_cgroup *cg = NULL;
		if (rt_cgroup_open(CG_PARENT, tracked[i].id, &cg, NULL) == 0) {
			rt_cgroup_destroy(cg, NULL);
			rt_cgroup_free(cg);
		}
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/containers/%s", runroot, tracked[i].id);
		xsystem_rm_rf(p);
	}
	ntracked = 0;
	return 0;
}

/* ---- a container for the linux.c tests ---- */

struct ctr {
	char id[RT_ID_LEN + 1];
	char dir[400];
	char upper[450];
	struct rt_spec spec;
};

/* A spec for an overlay of the busybox base with a fresh upper dir, running argv. */
static void ctr_init(struct ctr *c, const char *const *argv)
{
	char p[PATH_MAX];
	assert_int_equal(rt_id_new(c->id), 0);
	snprintf(c->dir, sizeof(c->dir), "%s/c-%.12s", tmpdir, c->id);
	assert_int_equal(rt_spec_init(&c->spec), 0);
	snprintf(c->upper, sizeof(c->upper), "%s/upper", c->dir);
	snprintf(p, sizeof(p), "%s/work", c->dir);
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, c->upper, 0755), 0);
	assert_int_equal(mkdir(p, 0755), 0);
	c->spec.workdir = strdup(p);
	c->spec.upperdir = strdup(c->upper);
	snprintf(p, sizeof(p), "%s/merged", c->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	c->spec.rootfs = strdup(p);
	assert_int_equal(strv_push(&c->spec.lowerdirs, base), 0);
	for (size_t i = 0; argv[i]; i++)
		assert_int_equal(strv_push(&c->spec.args, argv[i]), 0);
	assert_int_equal(strv_push(&c->spec.env, "PATH=/bin"), 0);
	c->spec.cgroup_parent = strdup(CG_PARENT);
}

static void ctr_free(struct ctr *c)
{
	rt_spec_free(&c->spec);
	xsystem_rm_rf(c->dir);
}

/* Run the spec to its end with pipes; returns the exit code (or the start failure's). */
static int ctr_run(struct ctr *c, char **ret_out, char **ret_err, struct berr **ret_error)
{
	struct rt_cgroup *cg = NULL;
	struct berr *err = NULL;
	int out[2], errp[2], code = -1;
	track(c->id, 0, 0);
	assert_int_equal(rt_cgroup_create(CG_PARENT, c->id, &c->spec.cgroup, &cg, &err), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(errp, O_CLOEXEC), 0);
	struct rt_stdio io = {.in = -1, .out = out[1], .err = errp[1]};
	struct rt_process proc;
	int r = rt_linux_start(&c->spec, &io, cg, &proc, &code, &err);
	close(out[1]);
	close(errp[1]);
	if (r == 0)
		track(c->id, proc.pid, 0);
	struct buf o = BUF_INIT, e = BUF_INIT;
	buf_puts(&o, "");
	buf_puts(&e, "");
	if (r == 0) {
		struct pollfd p[2] = {{.fd = out[0], .events = POLLIN},
				      {.fd = errp[0], .events = POLLIN}};
		int open_n = 2;
		while (open_n) {
			assert_true(poll(p, 2, 20000) > 0);
			for (int i = 0; i < 2; i++) {
				char b[4096];
				if (!p[i].revents)
					continue;
				ssize_t n = read(p[i].fd, b, sizeof(b));
				if (n <= 0) {
					p[i].fd = -1;
					open_n--;
					continue;
				}
				buf_append(i == 0 ? &o : &e, b, (size_t)n);
			}
		}
		int status;
		assert_int_equal(waitpid(proc.pid, &status, 0), proc.pid);
		code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		close(proc.pidfd);
		assert_false(alive(proc.pid));
	} else {
		assert_true(code >= 125 && code <= 127);
	}
	close(out[0]);
	close(errp[0]);
	assert_int_equal(rt_cgroup_destroy(cg, NULL), 0);
	rt_cgroup_free(cg);
	assert_int_equal(cgroup_dirs(c->id), 0);
	assert_int_equal(mounts_below(tmpdir), 0);
	*ret_out = buf_steal(&o);
	if (ret_err)
		*ret_err = buf_steal(&e);
	else
		buf_free(&e);
	if (ret_error)
		*ret_error = err;
	else
		berr_free(err);
	return code;
}

static int run_sh(const char *script, char **ret_out)
{
	struct ctr c;
	const char *argv[] = {"sh", "-c", script, NULL};
	ctr_init(&c, argv);
	int code = ctr_run(&c, ret_out, NULL, NULL);
	ctr_free(&c);
	return code;
}

/* ---- data-only tests ---- */

static void test_spec_json(void **state)
{
	struct rt_spec s, back;
	struct berr *err = NULL;
	assert_int_equal(rt_spec_init(&s), 0);
	assert_int_equal(s.caps, 0xa80425fbULL);
	assert_true(strv_contains(&s.masked_paths, "/proc/kcore"));
	assert_true(strv_contains(&s.readonly_paths, "/proc/sys"));
	s.rootfs = strdup("/x/merged");
	strv_push(&s.lowerdirs, "/l/top");
	strv_push(&s.lowerdirs, "/l/bottom");
	s.upperdir = strdup("/x/upper");
	s.workdir = strdup("/x/work");
	strv_push(&s.args, "sh");
	strv_push(&s.args, "-c");
	strv_push(&s.args, "echo \"hi\"");
	s.uid = 1000;
	s.groups = calloc(2, sizeof(gid_t));
	s.groups[0] = 10;
	s.groups[1] = 20;
	s.ngroups = 2;
	s.caps = 1ULL << 63 | 5;
	struct rt_rlimit rl;
	assert_int_equal(rt_rlimit_parse("nofile=100:200", &rl, &err), 0);
	s.rlimits = malloc(sizeof(rl));
	s.rlimits[0] = rl;
	s.nrlimits = 1;
	struct rt_mount m = {.type = RT_MOUNT_TMPFS, .destination = "/t"};
	assert_int_equal(rt_mount_add_option(&m, "size=1m", &err), 0);
	assert_int_equal(rt_mount_add_option(&m, "ro", &err), 0);
	assert_int_equal(rt_spec_add_mount(&s, &m), 0);
	free(m.data);
	s.cgroup.memory = 64 << 20;
	s.cgroup.cpuset_cpus = strdup("0");
	s.host_devices = 1;
	s.cgroup.devices_all = 1;

	json_t *j = rt_spec_to_json(&s);
	assert_non_null(j);
	assert_int_equal(rt_spec_from_json(j, &back, &err), 0);
	json_decref(j);
	assert_string_equal(back.rootfs, "/x/merged");
	assert_int_equal(back.lowerdirs.n, 2);
	assert_string_equal(back.lowerdirs.v[0], "/l/top");
	assert_string_equal(back.args.v[2], "echo \"hi\"");
	assert_int_equal(back.uid, 1000);
	assert_int_equal(back.ngroups, 2);
	assert_int_equal(back.groups[1], 20);
	assert_true(back.caps == (1ULL << 63 | 5));
	assert_int_equal(back.nrlimits, 1);
	assert_int_equal(back.rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(back.rlimits[0].hard, 200);
	assert_int_equal(back.nmounts, 1);
	assert_int_equal(back.mounts[0].type, RT_MOUNT_TMPFS);
	assert_string_equal(back.mounts[0].data, "size=1m");
	assert_true(back.mounts[0].flags & MS_RDONLY);
	assert_int_equal(back.cgroup.memory, 64 << 20);
	assert_string_equal(back.cgroup.cpuset_cpus, "0");
	assert_int_equal(back.host_devices, 1);
	assert_int_equal(back.cgroup.devices_all, 1);
	assert_true(strv_contains(&back.masked_paths, "/sys/firmware"));
	rt_spec_free(&back);
	rt_spec_free(&s);

	/* Hostile or broken records: errors, never a crash. */
	const char *bad[] = {
	    "[]",
	    "{\"rootfs\":\"/r\"}",
	    "{\"rootfs\":1,\"args\":[\"a\"]}",
	    "{\"rootfs\":\"/r\",\"args\":[1]}",
	    "{\"rootfs\":\"/r\",\"args\":[\"a\"],\"uid\":-1}",
	    "{\"rootfs\":\"/r\",\"args\":[\"a\"],\"groups\":{}}",
	    "{\"rootfs\":\"/r\",\"args\":[\"a\"],\"groups\":[\"x\"]}",
	    "{\"rootfs\":\"/r\",\"args\":[\"a\"],\"caps\":\"zz\"}",
	    "{\"rootfs\":\"/r\",\"args\":[\"a\"],\"mounts\":[{\"destination\":\"rel\"}]}",
	    "{\"rootfs\":\"/r\",\"args\":[\"a\"],\"mounts\":[{\"type\":0,\"destination\":\"/d\"}]}",
	    "{\"rootfs\":\"/r\",\"args\":[\"a\"],\"mounts\":[7]}",
	    "{\"rootfs\":\"/r\",\"args\":[\"a\"],\"rlimits\":[{\"resource\":\"x\"}]}",
	    "{\"rootfs\":\"/r\",\"args\":[\"a\"],\"cgroup\":{\"memory\":\"1g\"}}",
	    "{\"rootfs\":\"/r\",\"args\":[\"a\"],\"seccomp\":9}",
	    "{\"rootfs\":\"/r\",\"args\":[\"a\"],\"lowerdirs\":[\"/l\"]}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_error_t je;
		json_t *b = json_loads(bad[i], 0, &je);
		assert_non_null(b);
		struct berr *e = NULL;
		assert_true(rt_spec_from_json(b, &back, &e) < 0);
		assert_non_null(e);
		rt_spec_free(&back);
		berr_free(e);
		json_decref(b);
	}
}

static void test_mount_options(void **state)
{
	struct rt_mount m = {.type = RT_MOUNT_BIND, .source = "/a", .destination = "/b"};
	struct berr *err = NULL;
	const char *ok[] = {"ro", "nosuid", "nodev", "noexec", "rbind", "rslave", "Z"};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		assert_int_equal(rt_mount_add_option(&m, ok[i], &err), 0);
	assert_true(m.flags == (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REC));
	assert_true(m.propagation == (MS_SLAVE | MS_REC));
	assert_int_equal(rt_mount_add_option(&m, "rw", &err), 0);
	assert_false(m.flags & MS_RDONLY);
	/* tmpfs options are a bind mount's error, and no option may smuggle a comma. */
	assert_int_equal(rt_mount_add_option(&m, "size=1m", &err), -EINVAL);
	assert_non_null(err);
	assert_string_equal(err->msg, "invalid mount option 'size=1m'");
	berr_free(err);
	err = NULL;
	struct rt_mount t = {.type = RT_MOUNT_TMPFS, .destination = "/t"};
	assert_int_equal(rt_mount_add_option(&t, "size=10m", &err), 0);
	assert_int_equal(rt_mount_add_option(&t, "mode=1777", &err), 0);
	assert_string_equal(t.data, "size=10m,mode=1777");
	assert_int_equal(rt_mount_add_option(&t, "size=1m,exec", &err), -EINVAL);
	berr_free(err);
	err = NULL;
	assert_int_equal(rt_mount_add_option(&t, "size=", &err), -EINVAL);
	berr_free(err);
	free(t.data);
}

static void test_detach_keys(void **state)
{
	struct rt_detach d;
	struct berr *err = NULL;
	unsigned char out[64 + RT_DETACH_KEYS_MAX];
	size_t n;
	assert_int_equal(rt_detach_keys_parse(RT_DETACH_KEYS_DEFAULT, &d, &err), 0);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.keys[0], 0x10);
	assert_int_equal(d.keys[1], 0x11);

	/* Plain input passes; ctrl-p alone is held until the next byte decides. */
	assert_int_equal(rt_detach_feed(&d, (const unsigned char *)"ab\x10", 3, out, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "ab", 2);
	assert_int_equal(rt_detach_feed(&d, (const unsigned char *)"x", 1, out, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "\x10x", 2);
	/* The sequence split over two reads detaches; the bytes before it still go. */
	assert_int_equal(rt_detach_feed(&d, (const unsigned char *)"ls\x10", 3, out, &n), 0);
	assert_int_equal(rt_detach_feed(&d, (const unsigned char *)"\x11rest", 5, out, &n), 1);
	assert_int_equal(n, 0);
	assert_int_equal(rt_detach_feed(&d, (const unsigned char *)"q\x10\x10\x11", 4, out, &n), 1);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "q\x10", 2);

	assert_int_equal(rt_detach_keys_parse("ctrl-a,x,ctrl-@,ctrl-[,ctrl-_", &d, &err), 0);
	assert_int_equal(d.n, 5);
	assert_int_equal(d.keys[0], 1);
	assert_int_equal(d.keys[1], 'x');
	assert_int_equal(d.keys[2], 0);
	assert_int_equal(d.keys[3], 27);
	assert_int_equal(d.keys[4], 31);
	assert_int_equal(rt_detach_keys_parse("", &d, &err), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(rt_detach_feed(&d, (const unsigned char *)"\x10\x11", 2, out, &n), 0);
	assert_int_equal(n, 2);
	const char *bad[] = {"ctrl-", "ctrl-1", "ab", "ctrl-p,", ",", "ctrl-pp"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(rt_detach_keys_parse(bad[i], &d, &err), -EINVAL);
		berr_free(err);
		err = NULL;
	}
}

static void test_restart_parse(void **state)
{
	struct rt_restart_policy p;
	struct berr *err = NULL;
	assert_int_equal(rt_restart_parse("no", &p, &err), 0);
	assert_int_equal(p.mode, RT_RESTART_NO);
	assert_int_equal(rt_restart_parse("always", &p, &err), 0);
	assert_int_equal(p.mode, RT_RESTART_ALWAYS);
	assert_int_equal(rt_restart_parse("unless-stopped", &p, &err), 0);
	assert_int_equal(p.mode, RT_RESTART_UNLESS_STOPPED);
	assert_int_equal(rt_restart_parse("on-failure", &p, &err), 0);
	assert_int_equal(p.mode, RT_RESTART_ON_FAILURE);
	assert_int_equal(p.max_retries, 0);
	assert_int_equal(rt_restart_parse("on-failure:5", &p, &err), 0);
	assert_int_equal(p.max_retries, 5);
	const char *bad[] = {"sometimes",     "on-failure:", "on-failure:x",
			     "on-failure:-1", "always:3",    "on-failures"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(rt_restart_parse(bad[i], &p, &err), -EINVAL);
		berr_free(err);
		err = NULL;
	}
}

static void test_id_time(void **state)
{
	char a[RT_ID_LEN + 1], b[RT_ID_LEN + 1];
	assert_int_equal(rt_id_new(a), 0);
	assert_int_equal(rt_id_new(b), 0);
	assert_int_equal(strlen(a), RT_ID_LEN);
	assert_true(rt_id_valid(a));
	assert_string_not_equal(a, b);
	assert_false(rt_id_valid("abc"));
	assert_false(rt_id_valid("../../../../etc/passwd"));
	a[3] = 'G';
	assert_false(rt_id_valid(a));
	char t[RT_TIME_STR_MAX];
	rt_time_format(1700000000123456789LL, t);
	assert_string_equal(t, "2023-11-14T22:13:20.123456789Z");
	rt_time_format(5, t);
	assert_string_equal(t, "1970-01-01T00:00:00.000000005Z");
}

/* ---- containers ---- */

static void test_pid1_hostname_nnp(void **state)
{
	struct ctr c;
	const char *argv[] = {
	    "sh", "-c",
	    "echo pid=$$; hostname; grep -E '^(NoNewPrivs|Seccomp|CapEff|CapBnd):' "
	    "/proc/self/status; cat /proc/1/cmdline | tr '\\0' ' '; echo; ps -o pid,args > "
	    "/tmp/ps; wc -l < /tmp/ps",
	    NULL};
	ctr_init(&c, argv);
	c.spec.hostname = strdup("boxhost");
	c.spec.no_new_privs = 1;
	char *out;
	assert_int_equal(ctr_run(&c, &out, NULL, NULL), 0);
	assert_string_equal(out,
			    "pid=1\nboxhost\n"
			    "CapEff:\t00000000a80425fb\n"
			    "CapBnd:\t00000000a80425fb\n"
			    "NoNewPrivs:\t1\n"
			    "Seccomp:\t2\n"
			    "sh -c echo pid=$$; hostname; grep -E '^(NoNewPrivs|Seccomp|CapEff|"
			    "CapBnd):' /proc/self/status; cat /proc/1/cmdline | tr '\\0' ' '; "
			    "echo; ps -o pid,args > /tmp/ps; wc -l < /tmp/ps \n"
			    /* header, sh, ps: only the container's processes are seen */
			    "3\n");
	free(out);
	ctr_free(&c);
	/* Without no_new_privs and seccomp: the filter is off and NoNewPrivs 0. */
	const char *argv2[] = {"grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status", NULL};
	ctr_init(&c, argv2);
	c.spec.seccomp = RT_SECCOMP_UNCONFINED;
	assert_int_equal(ctr_run(&c, &out, NULL, NULL), 0);
	assert_string_equal(out, "NoNewPrivs:\t0\nSeccomp:\t0\n");
	free(out);
	ctr_free(&c);
}

static void test_proc_sys_masked(void **state)
{
	char *out;
	const char *script =
	    /* masked files read as empty, masked dirs are empty (this host has these; the
	     * test checks below that they are not empty outside) */
	    "cat /proc/keys /proc/timer_list | wc -c; ls -A /proc/acpi | wc -l; ls -A "
	    "/sys/firmware | wc -l;"
	    /* read-only paths and /sys */
	    "echo x 2>/dev/null > /proc/sys/kernel/hostname && echo sys-rw || echo sys-ro;"
	    "echo x 2>/dev/null > /proc/sysrq-trigger && echo sysrq-rw || echo sysrq-ro;"
	    "touch /sys/x 2>/dev/null && echo sysfs-rw || echo sysfs-ro;"
	    /* the cgroup namespace: the container's own cgroup is the root */
	    "grep -c -v ':/$' /proc/self/cgroup;"
	    "touch /sys/fs/cgroup/x 2>/dev/null && echo cg-rw || echo cg-ro;"
	    "test -e /sys/fs/cgroup/pids/pids.max -o -e /sys/fs/cgroup/pids.max && echo cg-pids;"
	    /* the network: only lo, and it is up (IFF_UP|IFF_LOOPBACK = 0x9) */
	    "ls /sys/class/net; cat /sys/class/net/lo/flags;"
	    /* no fd of the runtime leaked into the container */
	    "ls /proc/self/fd | tr '\\n' ' '";
	struct stat st;
	if (stat("/proc/acpi", &st) < 0 || stat("/proc/keys", &st) < 0)
		skip();
	char *keys = NULL;
	assert_int_equal(read_file("/proc/keys", &keys), 0);
	assert_true(strlen(keys) > 0);
	free(keys);
	assert_int_equal(run_sh(script, &out), 0);
	assert_string_equal(out, "0\n0\n0\nsys-ro\nsysrq-ro\nsysfs-ro\n0\ncg-ro\ncg-pids\nlo\n"
				 "0x9\n0 1 2 3 ");
	free(out);
}

static void test_dev(void **state)
{
	char *out;
	const char *script =
	    "ls -A /dev | tr '\\n' ' '; echo;"
	    "for n in null zero full random urandom tty; do stat -c '%n %F %a %t:%T' /dev/$n; "
	    "done;"
	    "for n in ptmx fd stdin core; do readlink /dev/$n; done;"
	    "grep -E ' /dev(/pts|/shm|/mqueue)? ' /proc/mounts | cut -d' ' -f2,3,4;"
	    "head -c 4 /dev/zero | wc -c; echo hi > /dev/null && echo null-ok";
	assert_int_equal(run_sh(script, &out), 0);
	assert_string_equal(
	    out,
	    "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero \n"
	    "/dev/null character special file 666 1:3\n"
	    "/dev/zero character special file 666 1:5\n"
	    "/dev/full character special file 666 1:7\n"
	    "/dev/random character special file 666 1:8\n"
	    "/dev/urandom character special file 666 1:9\n"
	    "/dev/tty character special file 666 5:0\n"
	    "pts/ptmx\n/proc/self/fd\n/proc/self/fd/0\n/proc/kcore\n"
	    "/dev tmpfs rw,nosuid,size=65536k,mode=755\n"
	    "/dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666\n"
	    "/dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k\n"
	    "/dev/mqueue mqueue rw,nosuid,nodev,noexec,relatime\n"
	    "4\nnull-ok\n");
	free(out);
}

static void test_overlay(void **state)
{
	struct ctr c;
	const char *argv[] = {"sh", "-c",
			      "echo new > /newfile; echo changed >> /etc/lowerfile; rm /etc/group;"
			      "mkdir -p /a/b; cat /etc/lowerfile",
			      NULL};
	ctr_init(&c, argv);
	char *out, *s = NULL, p[PATH_MAX];
	assert_int_equal(ctr_run(&c, &out, NULL, NULL), 0);
	assert_string_equal(out, "from the lower layer\nchanged\n");
	free(out);
	/* The writes went to the upper dir ... */
	snprintf(p, sizeof(p), "%s/newfile", c.upper);
	assert_int_equal(read_file(p, &s), 0);
	assert_string_equal(s, "new\n");
	free(s);
	snprintf(p, sizeof(p), "%s/etc/lowerfile", c.upper);
	assert_int_equal(read_file(p, &s), 0);
	assert_string_equal(s, "from the lower layer\nchanged\n");
	free(s);
	struct stat st;
	snprintf(p, sizeof(p), "%s/etc/group", c.upper);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)); /* a whiteout */
	snprintf(p, sizeof(p), "%s/a/b", c.upper);
	assert_int_equal(stat(p, &st), 0);
	/* ... and the lower layer is untouched. */
	snprintf(p, sizeof(p), "%s/etc/lowerfile", base);
	assert_int_equal(read_file(p, &s), 0);
	assert_string_equal(s, "from the lower layer\n");
	free(s);
	snprintf(p, sizeof(p), "%s/etc/group", base);
	assert_int_equal(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s/newfile", base);
	assert_int_equal(stat(p, &st), -1);
	ctr_free(&c);
}

/* More layers than mount(2)'s one-page option string can name with these long paths:
 * the overlay must come from fsconfig("lowerdir+"), layer order top first. */
static void test_many_layers(void **state)
{
	struct ctr c;
	const char *argv[] = {"sh", "-c", "ls /layers | wc -l; cat /layers/which", NULL};
	ctr_init(&c, argv);
	strv_free(&c.spec.lowerdirs);
	char ldir[512], p[PATH_MAX];
	snprintf(ldir, sizeof(ldir),
		 "%s/layers-with-a-rather-long-directory-name-like-a-real-store-path-has-"
		 "0123456789abcdef0123456789abcdef",
		 tmpdir);
	size_t total = 0;
	const int n = 120;
	for (int i = n - 1; i >= 0; i--) {
		snprintf(p, sizeof(p), "%s/%03d-0123456789abcdef0123456789abcdef/layers", ldir, i);
		assert_int_equal(fs_mkdir_p_at(AT_FDCWD, p, 0755), 0);
		snprintf(p, sizeof(p), "%s/%03d-0123456789abcdef0123456789abcdef/layers/f%03d",
			 ldir, i, i);
		write_text(p, "", 0644);
		snprintf(p, sizeof(p), "%s/%03d-0123456789abcdef0123456789abcdef/layers/which",
			 ldir, i);
		char txt[16];
		snprintf(txt, sizeof(txt), "layer %d\n", i);
		write_text(p, txt, 0644);
		snprintf(p, sizeof(p), "%s/%03d-0123456789abcdef0123456789abcdef", ldir, i);
		total += strlen(p) + 1;
	}
	/* Top first: layer 119 is on top, the busybox base at the bottom. */
	for (int i = n - 1; i >= 0; i--) {
		snprintf(p, sizeof(p), "%s/%03d-0123456789abcdef0123456789abcdef", ldir, i);
		strv_push(&c.spec.lowerdirs, p);
	}
	strv_push(&c.spec.lowerdirs, base);
	assert_true(total > 4096 * 3);
	char *out;
	assert_int_equal(ctr_run(&c, &out, NULL, NULL), 0);
	char want[64];
	snprintf(want, sizeof(want), "%d\nlayer %d\n", n + 1, n - 1);
	assert_string_equal(out, want);
	free(out);
	ctr_free(&c);
	xsystem_rm_rf(ldir);
}

/* The mount(2) fallback: a few layers work, more than one page of options is a clear
 * setup error. */
static void test_overlay_mount2(void **state)
{
	struct ctr c;
	const char *argv[] = {"cat", "/etc/lowerfile", "/top", NULL};
	ctr_init(&c, argv);
	char top[PATH_MAX], p[PATH_MAX];
	snprintf(top, sizeof(top), "%s/top", c.dir);
	assert_int_equal(mkdir(top, 0755), 0);
	snprintf(p, sizeof(p), "%s/top/top", c.dir);
	write_text(p, "top layer\n", 0644);
	strv_free(&c.spec.lowerdirs);
	strv_push(&c.spec.lowerdirs, top);
	strv_push(&c.spec.lowerdirs, base);
	rt_linux_overlay_mount2 = 1;
	char *out;
	struct berr *e = NULL;
	int code = ctr_run(&c, &out, NULL, &e);
	rt_linux_overlay_mount2 = 0;
	assert_int_equal(code, 0);
	assert_string_equal(out, "from the lower layer\ntop layer\n");
	free(out);
	for (int i = 0; i < 300; i++)
		strv_push(&c.spec.lowerdirs, base);
	rt_linux_overlay_mount2 = 1;
	code = ctr_run(&c, &out, NULL, &e);
	rt_linux_overlay_mount2 = 0;
	assert_int_equal(code, 125);
	assert_non_null(e);
	assert_non_null(strstr(e->msg, "302 layers do not fit into the overlay mount options"));
	berr_free(e);
	free(out);
	ctr_free(&c);
}

static void test_exit_codes(void **state)
{
	struct {
		const char *argv[4];
		int code;
		const char *msg; /* expected error text, or NULL when the command ran */
	} cases[] = {
	    {{"sh", "-c", "exit 3"}, 3, NULL},
	    {{"true"}, 0, NULL},
	    {{"nonexistent-cmd"},
	     127,
	     "exec: \"nonexistent-cmd\": executable file not found in $PATH"},
	    {{"/bin/nope"}, 127, "exec: \"/bin/nope\": stat /bin/nope: No such file or directory"},
	    {{"/etc"}, 126, "exec: \"/etc\": is a directory"},
	    {{"/etc/passwd"}, 126, "exec: \"/etc/passwd\": permission denied"},
	    {{"/etc/passwd/x"}, 127, NULL},
	    {{""}, 127, "exec: \"\": executable file not found in $PATH"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ctr c;
		ctr_init(&c, cases[i].argv);
		char *out;
		struct berr *e = NULL;
		int code = ctr_run(&c, &out, NULL, &e);
		if (code != cases[i].code)
			fail_msg("case %zu: exit %d, want %d (%s)", i, code, cases[i].code,
				 e ? e->msg : "");
		if (cases[i].msg) {
			assert_non_null(e);
			assert_string_equal(e->msg, cases[i].msg);
		}
		berr_free(e);
		free(out);
		ctr_free(&c);
	}
	/* A file that is executable but no valid format. */
	struct ctr c;
	const char *argv[] = {"/script", NULL};
	ctr_init(&c, argv);
	char p[PATH_MAX], *out;
	snprintf(p, sizeof(p), "%s/script", c.upper);
	write_text(p,
		   "\x7f"
		   "ELF garbage",
		   0755);
	struct berr *e = NULL;
	assert_int_equal(ctr_run(&c, &out, NULL, &e), 126);
	assert_non_null(e);
	assert_string_equal(e->msg, "exec: \"/script\": Exec format error");
	berr_free(e);
	free(out);
	ctr_free(&c);
	/* Setup failures are 125 and say what failed. */
	const char *argv2[] = {"true", NULL};
	ctr_init(&c, argv2);
	struct rt_mount m = {
	    .type = RT_MOUNT_BIND, .source = "/nonexistent-src", .destination = "/x"};
	rt_spec_add_mount(&c.spec, &m);
	assert_int_equal(ctr_run(&c, &out, NULL, &e), 125);
	assert_non_null(e);
	assert_string_equal(e->msg, "bind source '/nonexistent-src': No such file or directory");
	berr_free(e);
	free(out);
	ctr_free(&c);
}

static void test_user_and_caps(void **state)
{
	struct ctr c;
	const char *argv[] = {"sh", "-c", "id; grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status",
			      NULL};
	ctr_init(&c, argv);
	c.spec.uid = 1000;
	c.spec.gid = 1000;
	c.spec.groups = calloc(2, sizeof(gid_t));
	c.spec.groups[0] = 1000;
	c.spec.groups[1] = 2000;
	c.spec.ngroups = 2;
	char *out;
	assert_int_equal(ctr_run(&c, &out, NULL, NULL), 0);
	assert_string_equal(out, "uid=1000(user1) gid=1000(user1) groups=1000(user1),2000\n"
				 "CapPrm:\t0000000000000000\n"
				 "CapEff:\t0000000000000000\n"
				 "CapBnd:\t00000000a80425fb\n");
	free(out);
	ctr_free(&c);
	/* rlimits are applied, clamped to what the host allows. */
	const char *argv2[] = {"sh", "-c", "ulimit -n; ulimit -Hn", NULL};
	ctr_init(&c, argv2);
	c.spec.rlimits = calloc(1, sizeof(struct rt_rlimit));
	struct berr *e = NULL;
	assert_int_equal(rt_rlimit_parse("nofile=123:456", &c.spec.rlimits[0], &e), 0);
	c.spec.nrlimits = 1;
	assert_int_equal(ctr_run(&c, &out, NULL, NULL), 0);
	assert_string_equal(out, "123\n456\n");
	free(out);
	ctr_free(&c);
}

static void test_mounts_and_files(void **state)
{
	struct ctr c;
	const char *argv[] = {
	    "sh", "-c",
	    "cat /data/in; echo x > /data/out 2>/dev/null && echo data-rw || echo data-ro;"
	    "echo s > /scratch/f && cat /scratch/f; grep ' /scratch ' /proc/mounts | cut -d' ' "
	    "-f3,4;"
	    "cat /etc/hostname; head -1 /etc/hosts",
	    NULL};
	ctr_init(&c, argv);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/data", c.dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/data/in", c.dir);
	write_text(p, "host data\n", 0644);
	snprintf(p, sizeof(p), "%s/data", c.dir);
	struct berr *err = NULL;
	struct rt_mount b = {.type = RT_MOUNT_BIND, .source = p, .destination = "/data"};
	assert_int_equal(rt_mount_add_option(&b, "ro", &err), 0);
	assert_int_equal(rt_spec_add_mount(&c.spec, &b), 0);
	struct rt_mount t = {.type = RT_MOUNT_TMPFS, .destination = "/scratch/"};
	assert_int_equal(rt_mount_add_option(&t, "size=1m", &err), 0);
	t.flags = MS_NOSUID | MS_NODEV;
	assert_int_equal(rt_spec_add_mount(&c.spec, &t), 0);
	free(t.data);
	int dfd = open(c.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(rt_etc_files_write(dfd, c.dir, "myhost", &c.spec, &err), 0);
	close(dfd);
	char *out;
	assert_int_equal(ctr_run(&c, &out, NULL, NULL), 0);
	assert_string_equal(out,
			    "host data\ndata-ro\ns\ntmpfs rw,nosuid,nodev,relatime,size=1024k\n"
			    "myhost\n127.0.0.1\tlocalhost\n");
	free(out);
	ctr_free(&c);
}

/* resolv.conf depends on the host's: at least one name server, never a loopback one. */
static void test_files_cwd_ro(void **state)
{
	struct ctr c;
	const char *argv[] = {
	    "sh", "-c",
	    "grep -c '^nameserver' /etc/resolv.conf; grep -c '127\\.' "
	    "/etc/resolv.conf; pwd; touch /rootfile 2>/dev/null && echo root-rw || "
	    "echo root-ro; ls -ld /work/dir | cut -c1",
	    NULL};
	ctr_init(&c, argv);
	struct berr *err = NULL;
	int dfd = open(c.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(rt_etc_files_write(dfd, c.dir, "myhost", &c.spec, &err), 0);
	close(dfd);
	c.spec.cwd = strdup("/work/dir");
	c.spec.readonly_rootfs = 1;
	char *out;
	assert_int_equal(ctr_run(&c, &out, NULL, NULL), 0);
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_true(atoi(out) >= 1);
	assert_string_equal(nl + 1, "0\n/work/dir\nroot-ro\nd\n");
	free(out);
	ctr_free(&c);
}

/* A symlink in the image pointing at a host path must not carry a mount out of the root:
 * the destination resolves inside the rootfs, as the kernel resolves it there. */
static void test_symlink_escape(void **state)
{
	struct ctr c;
	const char *argv[] = {
	    "sh", "-c",
	    "touch /escape/sub/f && echo mounted; grep -c ' tmpfs ' /proc/mounts "
	    ">/dev/null && grep -o '/outside/sub tmpfs' /proc/mounts; cat /hostfile",
	    NULL};
	ctr_init(&c, argv);
	char outside[512], p[PATH_MAX], hostfile[512];
	snprintf(outside, sizeof(outside), "%s/outside", c.dir);
	assert_int_equal(mkdir(outside, 0755), 0);
	snprintf(hostfile, sizeof(hostfile), "%s/secret", c.dir);
	write_text(hostfile, "host secret\n", 0600);
	snprintf(p, sizeof(p), "%s/escape", c.upper);
	assert_int_equal(symlink(outside, p), 0);
	snprintf(p, sizeof(p), "%s/hostfile", c.upper);
	assert_int_equal(symlink(hostfile, p), 0);
	struct rt_mount t = {.type = RT_MOUNT_TMPFS, .destination = "//escape//sub/"};
	assert_int_equal(rt_spec_add_mount(&c.spec, &t), 0);
	/* A file bind through a symlink to a host file replaces nothing on the host. */
	struct rt_mount b = {
	    .type = RT_MOUNT_BIND, .source = "/etc/hostname", .destination = "/hostfile"};
	assert_int_equal(rt_spec_add_mount(&c.spec, &b), 0);
	char *out;
	assert_int_equal(ctr_run(&c, &out, NULL, NULL), 0);
	char *hostname = NULL;
	assert_int_equal(read_file("/etc/hostname", &hostname), 0);
	char want[PATH_MAX];
	snprintf(want, sizeof(want), "mounted\n/outside/sub tmpfs\n%s", hostname);
	assert_string_equal(out, want);
	free(hostname);
	free(out);
	/* Nothing was created or mounted at the host paths. */
	struct stat st;
	snprintf(p, sizeof(p), "%s/sub", outside);
	assert_int_equal(stat(p, &st), -1);
	char *secret = NULL;
	assert_int_equal(read_file(hostfile, &secret), 0);
	assert_string_equal(secret, "host secret\n");
	free(secret);
	ctr_free(&c);
}

static void test_pty(void **state)
{
	struct ctr c;
	const char *argv[] = {"sh", "-c",
			      "tty; test -t 0 && test -t 1 && echo isatty; stty size; "
			      "ls /dev/console; cat /proc/self/stat | cut -d' ' -f6,8",
			      NULL};
	ctr_init(&c, argv);
	c.spec.tty = 1;
	c.spec.console_rows = 33;
	c.spec.console_cols = 101;
	struct rt_cgroup *cg = NULL;
	struct berr *err = NULL;
	track(c.id, 0, 0);
	assert_int_equal(rt_cgroup_create(CG_PARENT, c.id, NULL, &cg, &err), 0);
	struct rt_process proc;
	int code;
	assert_int_equal(rt_linux_start(&c.spec, NULL, cg, &proc, &code, &err), 0);
	track(c.id, proc.pid, 0);
	assert_true(proc.pty_master >= 0);
	struct buf o = BUF_INIT;
	for (;;) {
		char b[1024];
		struct pollfd p = {.fd = proc.pty_master, .events = POLLIN};
		assert_true(poll(&p, 1, 20000) > 0);
		ssize_t n = read(proc.pty_master, b, sizeof(b));
		if (n <= 0) { /* EIO: the last slave is gone */
			assert_int_equal(errno, EIO);
			break;
		}
		buf_append(&o, b, (size_t)n);
	}
	int status;
	assert_int_equal(waitpid(proc.pid, &status, 0), proc.pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The tty's output processing turns "\n" into "\r\n". Field 6 of stat is the
	 * session (1: sh is the session leader) and field 8 the terminal's foreground pgrp. */
	assert_string_equal(o.data, "/dev/pts/0\r\nisatty\r\n33 101\r\n/dev/console\r\n1 1\r\n");
	buf_free(&o);
	close(proc.pty_master);
	close(proc.pidfd);
	assert_int_equal(rt_cgroup_destroy(cg, NULL), 0);
	rt_cgroup_free(cg);
	assert_clean(c.id, proc.pid, 0);
	ctr_free(&c);
}

/* ---- the monitor ---- */

struct mctr {
	struct ctr c;
	int dirfd;
	struct rt_monitor_opts o;
};

static void mctr_init(struct mctr *m, const char *const *argv)
{
	struct berr *err = NULL;
	ctr_init(&m->c, argv);
	track(m->c.id, 0, 0);
	assert_int_equal(rt_container_dir_create(root, m->c.id, &m->dirfd, &err), 0);
	struct rt_state st;
	rt_state_init(&st);
	assert_int_equal(rt_state_write(m->dirfd, &st, &err), 0);
	m->o = (struct rt_monitor_opts){.root = root,
					.runroot = runroot,
					.id = m->c.id,
					.spec = &m->c.spec,
					.monitor_path = monitor_bin};
}

static void mctr_free(struct mctr *m)
{
	if (m->dirfd >= 0)
		close(m->dirfd);
	ctr_free(&m->c);
}

/* Wait until state.json says exited (or created after a failed start). */
static void wait_exited(struct mctr *m, struct rt_state *st)
{
	struct berr *err = NULL;
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(rt_state_read(m->dirfd, st, &err), 0);
		if (st->status == RT_STATUS_EXITED)
			return;
		poll(NULL, 0, 10);
	}
	fail_msg("the container did not exit: status %s", rt_status_name(st->status));
}

static json_t *log_lines(struct mctr *m)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/containers/%s/%s-json.log", root, m->c.id, m->c.id);
	char *data = NULL;
	assert_int_equal(read_file(p, &data), 0);
	json_t *arr = json_array();
	char *save = NULL;
	for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		json_error_t je;
		json_t *o = json_loads(l, 0, &je);
		if (!o)
			fail_msg("log line is no JSON: %s", l);
		/* Exactly Docker's three keys; the time in RFC 3339 with nanoseconds, UTC. */
		assert_int_equal(json_object_size(o), 3);
		const char *t = json_string_value(json_object_get(o, "time"));
		assert_non_null(t);
		assert_int_equal(strlen(t), 30);
		assert_true(t[4] == '-' && t[10] == 'T' && t[19] == '.' && t[29] == 'Z');
		json_array_append_new(arr, o);
	}
	free(data);
	return arr;
}

static void assert_log(json_t *lines, size_t i, const char *log, const char *stream)
{
	json_t *o = json_array_get(lines, i);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "log")), log);
	assert_string_equal(json_string_value(json_object_get(o, "stream")), stream);
}

static void test_monitor_detached_logs(void **state)
{
	struct mctr m;
	const char *argv[] = {"sh", "-c",
			      "echo out; echo err >&2; printf 'tab\\t<&>\"\\\\\\001\\377\\n';"
			      "sleep 0.2; printf partial; exit 7",
			      NULL};
	mctr_init(&m, argv);
	struct rt_monitor_started started;
	struct berr *err = NULL;
	int code;
	assert_int_equal(rt_monitor_start(&m.o, NULL, &started, &code, &err), 0);
	track(m.c.id, started.pid, started.monitor_pid);
	assert_true(started.pid > 0 && started.monitor_pid > 0);
	/* The caller side is gone (no connection): the monitor records the exit alone. */
	struct rt_state st;
	assert_int_equal(rt_state_read(m.dirfd, &st, &err), 0);
	assert_true(st.status == RT_STATUS_RUNNING || st.status == RT_STATUS_EXITED);
	wait_exited(&m, &st);
	assert_int_equal(st.exit_code, 7);
	assert_true(st.finished_ns >= st.started_ns && st.started_ns > 0);
	assert_int_equal(st.pid, 0);
	assert_clean(m.c.id, started.pid, started.monitor_pid);

	json_t *lines = log_lines(&m);
	assert_int_equal(json_array_size(lines), 4);
	/* stdout and stderr come through different pipes: their relative order is open. */
	json_t *outs = json_array(), *errs = json_array();
	for (size_t i = 0; i < 4; i++) {
		json_t *o = json_array_get(lines, i);
		const char *stream = json_string_value(json_object_get(o, "stream"));
		json_array_append(strcmp(stream, "stdout") == 0 ? outs : errs, o);
	}
	assert_int_equal(json_array_size(errs), 1);
	assert_log(errs, 0, "err\n", "stderr");
	assert_log(outs, 0, "out\n", "stdout");
	assert_log(outs, 1, "tab\t<&>\"\\\x01\xef\xbf\xbd\n", "stdout");
	assert_log(outs, 2, "partial", "stdout");
	json_decref(outs);
	json_decref(errs);
	json_decref(lines);
	/* The raw bytes follow Docker's escaping (HTML-safe, U+FFFD for bad UTF-8). */
	char p[PATH_MAX], *raw = NULL;
	snprintf(p, sizeof(p), "%s/containers/%s/%s-json.log", root, m.c.id, m.c.id);
	assert_int_equal(read_file(p, &raw), 0);
	assert_non_null(strstr(raw,
			       "{\"log\":\"tab\\t\\u003c\\u0026\\u003e\\\"\\\\\\u0001\\ufffd\\n\","
			       "\"stream\":\"stdout\",\"time\":\""));
	free(raw);
	mctr_free(&m);
}

static void test_monitor_attach_pipes(void **state)
{
	struct mctr m;
	const char *argv[] = {"sh", "-c", "cat; echo done >&2; exit 4", NULL};
	mctr_init(&m, argv);
	m.o.interactive = 1;
	struct rt_monitor_started started;
	struct berr *err = NULL;
	int code, conn;
	assert_int_equal(rt_monitor_start(&m.o, &conn, &started, &code, &err), 0);
	track(m.c.id, started.pid, started.monitor_pid);
	/* Feed enough input that both directions back up: the relay must not deadlock. */
	char inpath[PATH_MAX], outpath[PATH_MAX], errpath[PATH_MAX];
	snprintf(inpath, sizeof(inpath), "%s/in", m.c.dir);
	snprintf(outpath, sizeof(outpath), "%s/out", m.c.dir);
	snprintf(errpath, sizeof(errpath), "%s/err", m.c.dir);
	struct buf big = BUF_INIT;
	for (int i = 0; i < 20000; i++)
		buf_printf(&big, "line %05d of the input\n", i);
	write_text(inpath, big.data, 0644);
	int in = open(inpath, O_RDONLY | O_CLOEXEC);
	int out = open(outpath, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	int errfd = open(errpath, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	struct rt_attach_io io = {.in = in, .out = out, .err = errfd};
	int exit_code = -1;
	assert_int_equal(rt_attach_relay(conn, &io, &exit_code, &err), RT_ATTACH_EXITED);
	assert_int_equal(exit_code, 4);
	close(conn);
	close(in);
	close(out);
	close(errfd);
	char *s = NULL;
	assert_int_equal(read_file(outpath, &s), 0);
	assert_string_equal(s, big.data);
	free(s);
	assert_int_equal(read_file(errpath, &s), 0);
	assert_string_equal(s, "done\n");
	free(s);
	/* Every line of output is in the log too. */
	json_t *lines = log_lines(&m);
	assert_int_equal(json_array_size(lines), 20001);
	size_t last = json_array_size(lines) - 1;
	if (strcmp(json_string_value(json_object_get(json_array_get(lines, last), "stream")),
		   "stderr") == 0)
		last--;
	assert_log(lines, last, "line 19999 of the input\n", "stdout");
	json_decref(lines);
	buf_free(&big);
	struct rt_state st;
	wait_exited(&m, &st);
	assert_int_equal(st.exit_code, 4);
	assert_clean(m.c.id, started.pid, started.monitor_pid);
	mctr_free(&m);
}

static void relay_with_input(int conn, const char *input, int want, int *ret_exit, char **ret_out)
{
	int in[2], out[2];
	struct berr *err = NULL;
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(write(in[1], input, strlen(input)), (ssize_t)strlen(input));
	struct rt_attach_io io = {.in = in[0], .out = out[1], .err = out[1], .tty = 1};
	assert_int_equal(rt_attach_relay(conn, &io, ret_exit, &err), want);
	close(in[1]);
	close(out[1]);
	assert_int_equal(fs_read_fd(out[0], 1 << 20, ret_out, NULL), 0);
	close(in[0]);
	close(out[0]);
}

static void test_monitor_attach_tty(void **state)
{
	struct mctr m;
	/* Not an interactive sh: its line editor queries the cursor position and would eat
	 * input typed before the answer. The tty still reads lines (canonical mode, echo). */
	const char *argv[] = {"sh", "-c", "while read -r l; do eval \"$l\"; done", NULL};
	mctr_init(&m, argv);
	m.c.spec.tty = 1;
	m.o.interactive = 1;
	m.o.rows = 40;
	m.o.cols = 120;
	struct rt_monitor_started started;
	struct berr *err = NULL;
	int code, conn;
	assert_int_equal(rt_monitor_start(&m.o, &conn, &started, &code, &err), 0);
	track(m.c.id, started.pid, started.monitor_pid);
	/* A second client attaches through the socket, resizes the terminal and watches. */
	int conn2;
	assert_int_equal(rt_attach_connect(runroot, m.c.id, &conn2, &err), 0);
	unsigned char rs[5] = {RT_MSG_RESIZE};
	uint16_t rows = 50, cols = 160;
	memcpy(rs + 1, &rows, 2);
	memcpy(rs + 3, &cols, 2);
	assert_int_equal(send(conn2, rs, sizeof(rs), 0), 5);

	/* The first client types a command and then the detach keys. */
	int exit_code = -1;
	char *s = NULL;
	relay_with_input(conn, "sleep 0.3; stty size; echo mark-$((6*7))\n\x10\x11",
			 RT_ATTACH_DETACHED, &exit_code, &s);
	free(s);
	close(conn);
	struct rt_state st;
	assert_int_equal(rt_state_read(m.dirfd, &st, &err), 0);
	assert_int_equal(st.status, RT_STATUS_RUNNING);

	/* A new client attaches later and ends the shell. */
	assert_int_equal(rt_attach_connect(runroot, m.c.id, &conn, &err), 0);
	relay_with_input(conn, "exit 5\n", RT_ATTACH_EXITED, &exit_code, &s);
	assert_int_equal(exit_code, 5);
	free(s);
	close(conn);

	/* The watcher saw everything, with the new size, and the exit code. */
	struct buf b2 = BUF_INIT;
	int got_exit = -1;
	for (;;) {
		unsigned char msg[1 + RT_MSG_MAX];
		ssize_t n = recv(conn2, msg, sizeof(msg), 0);
		if (n <= 0)
			break;
		if (msg[0] == RT_MSG_STDOUT)
			buf_append(&b2, msg + 1, (size_t)n - 1);
		if (msg[0] == RT_MSG_EXIT) {
			int32_t c;
			memcpy(&c, msg + 1, 4);
			got_exit = c;
		}
	}
	close(conn2);
	assert_int_equal(got_exit, 5);
	assert_non_null(b2.data);
	assert_non_null(strstr(b2.data, "50 160\r\n"));
	assert_non_null(strstr(b2.data, "mark-42\r\n"));
	buf_free(&b2);
	wait_exited(&m, &st);
	assert_int_equal(st.exit_code, 5);
	/* With a tty everything is "stdout" in the log, as in Docker. */
	json_t *lines = log_lines(&m);
	int found = 0;
	for (size_t i = 0; i < json_array_size(lines); i++) {
		json_t *o = json_array_get(lines, i);
		assert_string_equal(json_string_value(json_object_get(o, "stream")), "stdout");
		if (strcmp(json_string_value(json_object_get(o, "log")), "mark-42\r\n") == 0)
			found = 1;
	}
	assert_true(found);
	json_decref(lines);
	assert_clean(m.c.id, started.pid, started.monitor_pid);
	mctr_free(&m);
}

/* Read from fd until the collected text contains want (or 20 s pass). */
static void read_until(int fd, struct buf *b, const char *want)
{
	for (int i = 0; i < 200 && !(b->data && strstr(b->data, want)); i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		char tmp[4096];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n <= 0)
			break;
		buf_append(b, tmp, (size_t)n);
	}
	if (!b->data || !strstr(b->data, want))
		fail_msg("never saw '%s' in: %s", want, b->data ? b->data : "");
}

/* The client side on a real terminal: raw mode while attached (restored after), the
 * terminal's size sent at start and again on SIGWINCH. */
static void test_attach_terminal(void **state)
{
	struct mctr m;
	const char *argv[] = {"sh", "-c", "while read -r l; do eval \"$l\"; done", NULL};
	mctr_init(&m, argv);
	m.c.spec.tty = 1;
	m.o.interactive = 1;
	struct rt_monitor_started started;
	struct berr *err = NULL;
	int code, conn;
	assert_int_equal(rt_monitor_start(&m.o, &conn, &started, &code, &err), 0);
	track(m.c.id, started.pid, started.monitor_pid);

	int master, slave, out[2];
	assert_int_equal(rt_pty_open(AT_FDCWD, "/dev/ptmx", &master, &slave), 0);
	assert_int_equal(rt_pty_set_size(slave, 30, 90), 0);
	struct termios t;
	assert_int_equal(tcgetattr(slave, &t), 0);
	assert_true(t.c_lflag & ICANON);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid_t relay = fork();
	assert_true(relay >= 0);
	if (relay == 0) {
		struct rt_attach_io io = {.in = slave, .out = out[1], .err = out[1], .tty = 1};
		int ec = -1;
		int r = rt_attach_relay(conn, &io, &ec, NULL);
		_exit(r == RT_ATTACH_EXITED ? ec : 100);
	}
	close(out[1]);
	close(conn);
	struct buf b = BUF_INIT;
	const char *cmd = "stty size\n";
	assert_int_equal(write(master, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
	read_until(out[0], &b, "30 90\r\n");
	/* The relay has the terminal in raw mode now. */
	assert_int_equal(tcgetattr(slave, &t), 0);
	assert_false(t.c_lflag & (ICANON | ECHO));
	assert_int_equal(rt_pty_set_size(slave, 20, 70), 0);
	assert_int_equal(kill(relay, SIGWINCH), 0);
	cmd = "sleep 0.3; stty size; exit 3\n";
	assert_int_equal(write(master, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
	read_until(out[0], &b, "20 70\r\n");
	int status;
	assert_int_equal(waitpid(relay, &status, 0), relay);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	/* Restored on the way out. */
	assert_int_equal(tcgetattr(slave, &t), 0);
	assert_true(t.c_lflag & ICANON);
	buf_free(&b);
	close(out[0]);
	close(master);
	close(slave);
	struct rt_state st;
	wait_exited(&m, &st);
	assert_int_equal(st.exit_code, 3);
	assert_clean(m.c.id, started.pid, started.monitor_pid);
	mctr_free(&m);
}

static void test_monitor_start_failure(void **state)
{
	struct mctr m;
	const char *argv[] = {"no-such-command", NULL};
	mctr_init(&m, argv);
	struct rt_monitor_started started;
	struct berr *err = NULL;
	int code, conn = -1;
	assert_int_equal(rt_monitor_start(&m.o, &conn, &started, &code, &err), -ENOENT);
	assert_int_equal(code, 127);
	assert_int_equal(conn, -1);
	assert_string_equal(err->msg,
			    "exec: \"no-such-command\": executable file not found in $PATH");
	berr_free(err);
	err = NULL;
	struct rt_state st;
	assert_int_equal(rt_state_read(m.dirfd, &st, &err), 0);
	assert_int_equal(st.status, RT_STATUS_CREATED);
	assert_int_equal(st.exit_code, 127);
	assert_string_equal(st.error,
			    "exec: \"no-such-command\": executable file not found in $PATH");
	assert_clean(m.c.id, 0, 0);
	mctr_free(&m);
}

static void test_monitor_autoremove_restart(void **state)
{
	/* on-failure:2 restarts twice, then gives up; --rm removes it all. */
	struct mctr m;
	const char *argv[] = {"sh", "-c", "echo run; exit 1", NULL};
	mctr_init(&m, argv);
	assert_int_equal(rt_restart_parse("on-failure:2", &m.o.restart, NULL), 0);
	struct rt_monitor_started started;
	struct berr *err = NULL;
	int code;
	assert_int_equal(rt_monitor_start(&m.o, NULL, &started, &code, &err), 0);
	track(m.c.id, started.pid, started.monitor_pid);
	struct rt_state st;
	wait_exited(&m, &st);
	assert_int_equal(st.exit_code, 1);
	assert_int_equal(st.restart_count, 2);
	json_t *lines = log_lines(&m);
	assert_int_equal(json_array_size(lines), 3);
	json_decref(lines);
	assert_clean(m.c.id, started.pid, started.monitor_pid);
	mctr_free(&m);

	const char *argv2[] = {"true", NULL};
	mctr_init(&m, argv2);
	m.o.autoremove = 1;
	int conn;
	assert_int_equal(rt_monitor_start(&m.o, &conn, &started, &code, &err), 0);
	track(m.c.id, started.pid, started.monitor_pid);
	struct rt_attach_io io = {.in = -1, .out = -1, .err = -1};
	int exit_code = -1;
	assert_int_equal(rt_attach_relay(conn, &io, &exit_code, &err), RT_ATTACH_EXITED);
	assert_int_equal(exit_code, 0);
	close(conn);
	/* The exit message comes after the removal: it is gone by now. */
	char p[PATH_MAX];
	struct stat sb;
	snprintf(p, sizeof(p), "%s/containers/%s", root, m.c.id);
	assert_int_equal(stat(p, &sb), -1);
	assert_clean(m.c.id, started.pid, started.monitor_pid);
	mctr_free(&m);
}

static long rss_kb(pid_t pid)
{
	char p[64], *s = NULL;
	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	if (read_file(p, &s) < 0)
		return -1;
	char *v = strstr(s, "VmRSS:");
	long kb = v ? atol(v + 6) : -1;
	free(s);
	return kb;
}

/* The monitor killed with SIGKILL: the state reader still tells the truth, first that the
 * container runs, then (once it is gone too) that it exited with an unknown code. */
static void test_monitor_killed_and_rss(void **state)
{
	struct mctr m;
	const char *argv[] = {"sleep", "1000", NULL};
	mctr_init(&m, argv);
	struct rt_monitor_started started;
	struct berr *err = NULL;
	int code;
	assert_int_equal(rt_monitor_start(&m.o, NULL, &started, &code, &err), 0);
	track(m.c.id, started.pid, started.monitor_pid);
	long kb = rss_kb(started.monitor_pid);
	print_message("monitor RSS: %ld kB\n", kb);
	assert_true(kb > 0);
	/* About 1.2 MB measured: 0.2 anonymous, 1 of the static binary's pages. */
	if (!sanitized())
		assert_true(kb < 2 * 1024);
	struct rt_state st;
	assert_int_equal(rt_state_read(m.dirfd, &st, &err), 0);
	assert_int_equal(st.status, RT_STATUS_RUNNING);
	assert_int_equal(st.pid, started.pid);
	assert_int_equal(st.monitor_pid, started.monitor_pid);
	assert_true(st.boot_id[0]);

	assert_int_equal(kill(started.monitor_pid, SIGKILL), 0);
	for (int i = 0; i < 500 && alive(started.monitor_pid); i++)
		poll(NULL, 0, 10);
	assert_int_equal(rt_state_read(m.dirfd, &st, &err), 0);
	assert_int_equal(st.status, RT_STATUS_RUNNING);

	assert_int_equal(kill(started.pid, SIGKILL), 0);
	for (int i = 0; i < 500 && alive(started.pid); i++)
		poll(NULL, 0, 10);
	assert_int_equal(rt_state_read(m.dirfd, &st, &err), 0);
	assert_int_equal(st.status, RT_STATUS_EXITED);
	assert_int_equal(st.exit_code, RT_EXIT_UNKNOWN);
	assert_int_equal(st.monitor_pid, 0);
	/* The correction was written back. */
	struct rt_state raw;
	assert_int_equal(rt_state_load(m.dirfd, &raw, &err), 0);
	assert_int_equal(raw.status, RT_STATUS_EXITED);

	/* What the dead monitor would have cleaned up. */
	struct rt_cgroup *cg = NULL;
	assert_int_equal(rt_cgroup_open(CG_PARENT, m.c.id, &cg, &err), 0);
	assert_int_equal(rt_cgroup_destroy(cg, &err), 0);
	rt_cgroup_free(cg);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/containers/%s", runroot, m.c.id);
	xsystem_rm_rf(p);
	assert_clean(m.c.id, started.pid, started.monitor_pid);
	mctr_free(&m);
}

/* A container killed from outside: 128 + the signal, like Docker. */
static void test_monitor_signal_exit(void **state)
{
	struct mctr m;
	const char *argv[] = {"sleep", "1000", NULL};
	mctr_init(&m, argv);
	struct rt_monitor_started started;
	struct berr *err = NULL;
	int code;
	assert_int_equal(rt_monitor_start(&m.o, NULL, &started, &code, &err), 0);
	track(m.c.id, started.pid, started.monitor_pid);
	assert_int_equal(kill(started.pid, SIGKILL), 0);
	struct rt_state st;
	wait_exited(&m, &st);
	assert_int_equal(st.exit_code, 137);
	assert_clean(m.c.id, started.pid, started.monitor_pid);
	mctr_free(&m);
}

static void test_state_reconcile(void **state)
{
	char id[RT_ID_LEN + 1];
	struct berr *err = NULL;
	int dirfd;
	assert_int_equal(rt_id_new(id), 0);
	assert_int_equal(rt_container_dir_create(root, id, &dirfd, &err), 0);
	assert_int_equal(rt_container_dir_create(root, id, &dirfd, &err), -EEXIST);
	berr_free(err);
	err = NULL;
	struct rt_state st, got;
	rt_state_init(&st);
	st.status = RT_STATUS_RUNNING;
	/* Our own pid with a wrong start time: a reused pid is not the container. */
	st.pid = getpid();
	unsigned long long me;
	assert_int_equal(rt_proc_start_time(getpid(), &me, NULL), 0);
	st.pid_start = me + 1;
	rt_boot_id(st.boot_id, sizeof(st.boot_id));
	assert_int_equal(rt_state_write(dirfd, &st, &err), 0);
	assert_int_equal(rt_state_read(dirfd, &got, &err), 0);
	assert_int_equal(got.status, RT_STATUS_EXITED);
	assert_int_equal(got.exit_code, 255);
	/* The right start time: running. */
	st.pid_start = me;
	assert_int_equal(rt_state_write(dirfd, &st, &err), 0);
	assert_int_equal(rt_state_read(dirfd, &got, &err), 0);
	assert_int_equal(got.status, RT_STATUS_RUNNING);
	/* After a reboot nothing recorded runs, whatever the pid. */
	snprintf(st.boot_id, sizeof(st.boot_id), "00000000-0000-0000-0000-000000000000");
	assert_int_equal(rt_state_write(dirfd, &st, &err), 0);
	assert_int_equal(rt_state_read(dirfd, &got, &err), 0);
	assert_int_equal(got.status, RT_STATUS_EXITED);

	/* Broken state files are errors, not crashes. */
	const char *bad[] = {"",
			     "[]",
			     "{\"Status\":\"flying\"}",
			     "{\"Status\":1}",
			     "{\"Status\":\"running\",\"Pid\":\"1\"}",
			     "{\"Status\":\"running\",\"Pid\":-5}",
			     "{\"Status\":\"exited\",\"ExitCode\":999}",
			     "{\"Status\":\"exited\",\"Error\":[]}"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(
		    fs_write_atomic_at(dirfd, "state.json", bad[i], strlen(bad[i]), 0600), 0);
		assert_true(rt_state_read(dirfd, &got, &err) < 0);
		assert_non_null(err);
		berr_free(err);
		err = NULL;
	}
	/* config.json round trip, listing, removal. */
	json_t *cfg = json_pack("{s:s}", "Name", "x");
	assert_int_equal(rt_config_write(dirfd, cfg, &err), 0);
	json_decref(cfg);
	assert_int_equal(rt_config_read(dirfd, &cfg, &err), 0);
	assert_string_equal(json_string_value(json_object_get(cfg, "Name")), "x");
	json_decref(cfg);
	close(dirfd);
	struct strv ids = STRV_INIT;
	assert_int_equal(rt_container_list(root, &ids, &err), 0);
	assert_true(strv_contains(&ids, id));
	strv_free(&ids);
	assert_int_equal(rt_container_remove(root, id, &err), 0);
	assert_int_equal(rt_container_dir_open(root, id, &dirfd, &err), -ENOENT);
	berr_free(err);
	err = NULL;
	assert_int_equal(rt_container_remove(root, "../../etc", &err), -EINVAL);
	berr_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_json),
	    cmocka_unit_test(test_mount_options),
	    cmocka_unit_test(test_detach_keys),
	    cmocka_unit_test(test_restart_parse),
	    cmocka_unit_test(test_id_time),
	    cmocka_unit_test_teardown(test_pid1_hostname_nnp, test_teardown),
	    cmocka_unit_test_teardown(test_proc_sys_masked, test_teardown),
	    cmocka_unit_test_teardown(test_dev, test_teardown),
	    cmocka_unit_test_teardown(test_overlay, test_teardown),
	    cmocka_unit_test_teardown(test_many_layers, test_teardown),
	    cmocka_unit_test_teardown(test_overlay_mount2, test_teardown),
	    cmocka_unit_test_teardown(test_exit_codes, test_teardown),
	    cmocka_unit_test_teardown(test_user_and_caps, test_teardown),
	    cmocka_unit_test_teardown(test_mounts_and_files, test_teardown),
	    cmocka_unit_test_teardown(test_files_cwd_ro, test_teardown),
	    cmocka_unit_test_teardown(test_symlink_escape, test_teardown),
	    cmocka_unit_test_teardown(test_pty, test_teardown),
	    cmocka_unit_test_teardown(test_monitor_detached_logs, test_teardown),
	    cmocka_unit_test_teardown(test_monitor_attach_pipes, test_teardown),
	    cmocka_unit_test_teardown(test_monitor_attach_tty, test_teardown),
	    cmocka_unit_test_teardown(test_attach_terminal, test_teardown),
	    cmocka_unit_test_teardown(test_monitor_start_failure, test_teardown),
	    cmocka_unit_test_teardown(test_monitor_autoremove_restart, test_teardown),
	    cmocka_unit_test_teardown(test_monitor_killed_and_rss, test_teardown),
	    cmocka_unit_test_teardown(test_monitor_signal_exit, test_teardown),
	    cmocka_unit_test(test_state_reconcile),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
