/* Seccomp: Docker's default profile loaded for real in forked children, and the JSON
 * profile format (a file loaded for real, plus a table of malformed profiles). Needs root
 * (loading a filter without no_new_privs needs CAP_SYS_ADMIN). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/kcmp.h>
#include <linux/keyctl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "container.h"
#include "err.h"
#include "seccomp.h"

#define NRES 32

/* Run fn in a forked child; fn fills res[] (errno values, 0 for success) and the parent
 * gets them back through a pipe. Nothing in the child returns into cmocka. */
static void run_child(int (*fn)(int *res, void *arg), void *arg, int *res)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int out[NRES];
		for (int i = 0; i < NRES; i++)
			out[i] = -12345;
		int rc = fn(out, arg);
		ssize_t w = write(p[1], out, sizeof(out));
		_exit(w == (ssize_t)sizeof(out) ? rc : 99);
	}
	close(p[1]);
	ssize_t n = read(p[0], res, sizeof(int) * NRES);
	close(p[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(n, (ssize_t)(sizeof(int) * NRES));
}

static int err_of(long r)
{
	return r < 0 ? errno : 0;
}

/* "Seccomp:" of /proc/self/status: 0 off, 2 filter. */
static int seccomp_mode(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	char line[256];
	int mode = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	fclose(f);
	return mode;
}

static void *thread_fn(void *arg)
{
	*(int *)arg = 42;
	return NULL;
}

enum {
	R_LOAD,
	R_MODE,
	R_UNSHARE,
	R_MOUNT,
	R_KEYCTL,
	R_BPF,
	R_PERS_QUERY,
	R_PERS_BAD,
	R_CLONE3,
	R_CLONE_NS,
	R_GETPID,
	R_RW,
	R_THREAD,
	R_FORK,
	R_VSOCK,
	R_UNIX,
	R_PTRACE,
	R_KCMP,
};

static int probe_default(int *res, void *arg)
{
	uint64_t caps = *(uint64_t *)arg;
	struct berr *err = NULL;
	res[R_LOAD] = -rt_seccomp_load_default(caps, &err);
	if (res[R_LOAD])
		return 0;
	res[R_MODE] = seccomp_mode();
	res[R_UNSHARE] = err_of(unshare(CLONE_NEWNS));
	/* Without the filter this fails with ENOENT; nothing can be mounted either way. */
	res[R_MOUNT] = err_of(mount("none", "/nonexistent-confine-test", "tmpfs", 0, NULL));
	res[R_KEYCTL] = err_of(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID,
				       KEY_SPEC_SESSION_KEYRING, 0));
	res[R_BPF] = err_of(syscall(SYS_bpf, 0, NULL, 0));
	res[R_PERS_QUERY] = err_of(personality(0xffffffff));
	res[R_PERS_BAD] = err_of(personality(PER_LINUX | READ_IMPLIES_EXEC));
	res[R_CLONE3] = err_of(syscall(SYS_clone3, NULL, 0));
	/* A raw clone asking for a new UTS namespace: the child (if any) exits at once. */
	long c = syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, 0, NULL, NULL, 0);
	if (c == 0)
		_exit(0);
	res[R_CLONE_NS] = err_of(c);
	if (c > 0)
		waitpid((pid_t)c, NULL, 0);
	res[R_GETPID] = getpid() > 0 ? 0 : errno;
	int p[2];
	char b = 0;
	res[R_RW] = (pipe(p) == 0 && write(p[1], "x", 1) == 1 && read(p[0], &b, 1) == 1 &&
		     b == 'x')
			    ? 0
			    : errno;
	int val = 0;
	pthread_t t;
	int tr = pthread_create(&t, NULL, thread_fn, &val);
	if (tr == 0)
		tr = pthread_join(t, NULL);
	res[R_THREAD] = tr ? tr : (val == 42 ? 0 : EIO);
	pid_t f = fork();
	if (f == 0)
		_exit(7);
	int st = 0;
	res[R_FORK] = f < 0 ? errno
			    : (waitpid(f, &st, 0) == f && WIFEXITED(st) && WEXITSTATUS(st) == 7
				       ? 0
				       : EIO);
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);
	res[R_VSOCK] = err_of(s);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	res[R_UNIX] = err_of(s);
	/* ptrace is allowed on kernels >= 4.8 (the profile's minKernel): a pid that cannot
	 * exist gives ESRCH rather than EPERM. */
	res[R_PTRACE] = err_of(ptrace(PTRACE_ATTACH, 0x3ffffff0, NULL, NULL));
	res[R_KCMP] = err_of(syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, 0, 0));
	return 0;
}

static void test_default_profile(void **state)
{
	uint64_t caps = rt_caps_default();
	int res[NRES];
	run_child(probe_default, &caps, res);
	assert_int_equal(res[R_LOAD], 0);
	assert_int_equal(res[R_MODE], 2);
	assert_int_equal(res[R_UNSHARE], EPERM);
	assert_int_equal(res[R_MOUNT], EPERM);
	assert_int_equal(res[R_KEYCTL], EPERM);
	assert_int_equal(res[R_BPF], EPERM);
	/* Docker's profile allows the persona query 0xffffffff, and only that family. */
	assert_int_equal(res[R_PERS_QUERY], 0);
	assert_int_equal(res[R_PERS_BAD], EPERM);
	/* ENOSYS, so that glibc falls back to clone(2), whose flags the filter can see. */
	assert_int_equal(res[R_CLONE3], ENOSYS);
	assert_int_equal(res[R_CLONE_NS], EPERM);
	assert_int_equal(res[R_GETPID], 0);
	assert_int_equal(res[R_RW], 0);
	assert_int_equal(res[R_THREAD], 0);
	assert_int_equal(res[R_FORK], 0);
	assert_int_equal(res[R_VSOCK], EPERM);
	assert_int_equal(res[R_UNIX], 0);
	assert_int_equal(res[R_PTRACE], ESRCH);
	assert_int_equal(res[R_KCMP], EPERM);
}

/* The capability-gated rules follow the bounding set given. */
static void test_default_profile_with_caps(void **state)
{
	uint64_t caps = rt_caps_default() | (UINT64_C(1) << CAP_SYS_ADMIN) |
			(UINT64_C(1) << CAP_SYS_PTRACE);
	int res[NRES];
	run_child(probe_default, &caps, res);
	assert_int_equal(res[R_LOAD], 0);
	assert_int_equal(res[R_MODE], 2);
	assert_int_equal(res[R_UNSHARE], 0);
	assert_int_equal(res[R_MOUNT], ENOENT);
	assert_int_equal(res[R_KEYCTL], EPERM);
	assert_int_not_equal(res[R_CLONE3], ENOSYS);
	assert_int_equal(res[R_THREAD], 0);
	assert_int_equal(res[R_KCMP], 0);
}

enum { N_LOAD_NOCAP, N_LOAD_NNP, N_MODE };

/* no_new_privs is the caller's: without it and without CAP_SYS_ADMIN the kernel refuses
 * the filter; with it, loading works after the capabilities are dropped. */
static int probe_nnp(int *res, void *arg)
{
	struct berr *err = NULL;
	if (rt_caps_apply(rt_caps_default(), 0, &err) < 0)
		return 3;
	res[N_LOAD_NOCAP] = -rt_seccomp_load_default(rt_caps_default(), &err);
	berr_free(err);
	err = NULL;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return 4;
	res[N_LOAD_NNP] = -rt_seccomp_load_default(rt_caps_default(), &err);
	berr_free(err);
	res[N_MODE] = seccomp_mode();
	return 0;
}

static void test_no_new_privs_is_callers(void **state)
{
	int res[NRES];
	run_child(probe_nnp, NULL, res);
	assert_int_equal(res[N_LOAD_NOCAP], EACCES);
	assert_int_equal(res[N_LOAD_NNP], 0);
	assert_int_equal(res[N_MODE], 2);
}

static const char profile_json[] =
	"{\n"
	"  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n"
	"  \"syscalls\": [\n"
	"    {\"names\": [\"getppid\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 42},\n"
	"    {\"name\": \"uname\", \"action\": \"SCMP_ACT_ERRNO\"},\n"
	"    {\"names\": [\"no_such_syscall_anywhere\"], \"action\": \"SCMP_ACT_ERRNO\"},\n"
	"    {\"names\": [\"getpgid\"], \"action\": \"SCMP_ACT_ERRNO\",\n"
	"     \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
	"    {\"names\": [\"getsid\"], \"action\": \"SCMP_ACT_ERRNO\",\n"
	"     \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
	"    {\"names\": [\"getpriority\"], \"action\": \"SCMP_ACT_ERRNO\",\n"
	"     \"includes\": {\"minKernel\": \"99.0\"}},\n"
	"    {\"names\": [\"dup\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 33,\n"
	"     \"args\": [{\"index\": 0, \"value\": 1000, \"op\": \"SCMP_CMP_GE\"}]},\n"
	"    {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ALLOW\", \"comment\": \"same as "
	"default: skipped\"}\n"
	"  ]\n"
	"}\n";

enum { F_LOAD, F_MODE, F_GETPPID, F_UNAME, F_GETPGID, F_GETSID, F_GETPRIO, F_DUP_LOW, F_DUP_HIGH };

static int probe_file(int *res, void *arg)
{
	const char *path = arg;
	struct berr *err = NULL;
	res[F_LOAD] = -rt_seccomp_load_file(path, rt_caps_default(), &err);
	berr_free(err);
	if (res[F_LOAD])
		return 0;
	res[F_MODE] = seccomp_mode();
	res[F_GETPPID] = err_of(syscall(SYS_getppid));
	struct utsname_buf {
		char b[6 * 65];
	} u;
	res[F_UNAME] = err_of(syscall(SYS_uname, &u));
	res[F_GETPGID] = err_of(syscall(SYS_getpgid, 0));
	res[F_GETSID] = err_of(syscall(SYS_getsid, 0));
	res[F_GETPRIO] = err_of(syscall(SYS_getpriority, 0, 0));
	int d = (int)syscall(SYS_dup, 0);
	res[F_DUP_LOW] = d < 0 ? errno : 0;
	int hi = fcntl(0, F_DUPFD, 1000);
	res[F_DUP_HIGH] = hi < 0 ? -1 : err_of(syscall(SYS_dup, hi));
	return 0;
}

static void test_profile_file(void **state)
{
	char path[] = "/tmp/berth-seccomp-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, profile_json, strlen(profile_json)),
			 (ssize_t)strlen(profile_json));
	close(fd);
	int res[NRES];
	run_child(probe_file, path, res);
	unlink(path);
	assert_int_equal(res[F_LOAD], 0);
	assert_int_equal(res[F_MODE], 2);
	assert_int_equal(res[F_GETPPID], 42);
	assert_int_equal(res[F_UNAME], EPERM);
	assert_int_equal(res[F_GETPGID], 0); /* includes CAP_SYS_ADMIN: not held */
	assert_int_equal(res[F_GETSID], EPERM); /* excludes CAP_SYS_ADMIN: not held */
	assert_int_equal(res[F_GETPRIO], 0);    /* minKernel 99.0 */
	assert_int_equal(res[F_DUP_LOW], 0);
	assert_int_equal(res[F_DUP_HIGH], 33);
}

static void test_profile_read_errors(void **state)
{
	struct rt_seccomp_profile *p = NULL;
	struct berr *err = NULL;
	assert_int_equal(rt_seccomp_profile_read("/nonexistent/confine.json", &p, &err),
			 -ENOENT);
	assert_non_null(strstr(err->msg, "/nonexistent/confine.json"));
	berr_free(err);
}

static const struct {
	const char *json;
	int code;
	const char *msg; /* a part of the message */
} bad[] = {
	{"not json", -EINVAL, "line 1"},
	{"[]", -EINVAL, "expected a JSON object"},
	{"{\"defaultAction\": 5}", -EINVAL, "defaultAction: expected a string, got an integer"},
	{"{\"defaultAction\": \"SCMP_ACT_FOO\"}", -EINVAL,
	 "defaultAction: unknown action 'SCMP_ACT_FOO'"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": {}}", -EINVAL,
	 "syscalls: expected an array"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [1]}", -EINVAL,
	 "syscalls[0]: expected an object"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": \"x\", "
	 "\"action\": \"SCMP_ACT_ERRNO\"}]}",
	 -EINVAL, "syscalls[0].names: expected an array of strings"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [1], "
	 "\"action\": \"SCMP_ACT_ERRNO\"}]}",
	 -EINVAL, "syscalls[0].names: element 0: expected a string"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"]}]}",
	 -EINVAL, "syscalls[0].action: missing"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
	 "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"op\": \"SCMP_CMP_X\"}]}]}",
	 -EINVAL, "syscalls[0].args[0].op: unknown operator 'SCMP_CMP_X'"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
	 "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 6, \"op\": \"SCMP_CMP_EQ\"}]}]}",
	 -EINVAL, "syscalls[0].args[0].index: 6 is out of range"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
	 "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": -1, "
	 "\"op\": \"SCMP_CMP_EQ\"}]}]}",
	 -EINVAL, "syscalls[0].args[0].value: -1 is out of range"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
	 "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"op\": 3}]}]}",
	 -EINVAL, "syscalls[0].args[0].op: expected a string"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
	 "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0}]}]}",
	 -EINVAL, "syscalls[0].args[0].op: missing"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
	 "\"action\": \"SCMP_ACT_ERRNO\", \"args\": 7}]}",
	 -EINVAL, "syscalls[0].args: expected an array"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
	 "\"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": \"x\"}]}",
	 -EINVAL, "syscalls[0].errnoRet: expected an integer, got a string"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
	 "\"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 70000}]}",
	 -EINVAL, "syscalls[0].errnoRet: 70000 is out of range"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
	 "\"action\": \"SCMP_ACT_ERRNO\", \"includes\": {\"caps\": \"CAP_CHOWN\"}}]}",
	 -EINVAL, "syscalls[0].includes.caps: expected an array of strings"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
	 "\"action\": \"SCMP_ACT_ERRNO\", \"excludes\": []}]}",
	 -EINVAL, "syscalls[0].excludes: expected an object, got an array"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
	 "\"action\": \"SCMP_ACT_ERRNO\", \"includes\": {\"minKernel\": \"4\"}}]}",
	 -EINVAL, "syscalls[0].includes.minKernel: invalid kernel version '4'"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"name\": \"read\", "
	 "\"names\": [\"write\"], \"action\": \"SCMP_ACT_ERRNO\"}]}",
	 -EINVAL, "both 'name' and 'names'"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"X86\"]}", -EINVAL,
	 "architectures: unknown architecture 'X86'"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86\"], "
	 "\"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\"}]}",
	 -EINVAL, "both 'architectures' and 'archMap'"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"archMap\": [{\"subArchitectures\": []}]}",
	 -EINVAL, "archMap[0].architecture: missing"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"flags\": [\"SECCOMP_FILTER_FLAG_FOO\"]}",
	 -EINVAL, "flags: unknown flag 'SECCOMP_FILTER_FLAG_FOO'"},
	{"{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}", -EOPNOTSUPP, "defaultAction: SCMP_ACT_NOTIFY"},
	{"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"listenerPath\": \"/run/agent.sock\"}",
	 -EOPNOTSUPP, "listenerPath"},
	{"{\"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\"}]}", -EINVAL,
	 "defaultAction: missing"},
};

static void test_profile_parse_errors(void **state)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rt_seccomp_profile *p = NULL;
		struct berr *err = NULL;
		int r = rt_seccomp_profile_parse(bad[i].json, strlen(bad[i].json), "t.json", &p,
						 &err);
		if (r != bad[i].code || !err || !strstr(err->msg, bad[i].msg) ||
		    !strstr(err->msg, "'t.json'"))
			fail_msg("case %zu: got %d '%s', want %d '%s'", i, r,
				 err ? err->msg : "(none)", bad[i].code, bad[i].msg);
		assert_null(p);
		berr_free(err);
	}
}

/* Docker: no defaultAction and no syscalls means no filter at all. */
static void test_profile_empty_is_disabled(void **state)
{
	struct rt_seccomp_profile *p = NULL;
	struct berr *err = NULL;
	assert_int_equal(rt_seccomp_profile_parse("{}", 2, "e.json", &p, &err), 0);
	assert_true(p->disabled);
	scmp_filter_ctx ctx = (scmp_filter_ctx)1;
	assert_int_equal(rt_seccomp_profile_compile(p, 0, &ctx, &err), 0);
	assert_null(ctx);
	rt_seccomp_profile_free(p);
}

/* archMap, flags and repeated argument indexes compile for every capability set. */
static void test_profile_compile_variants(void **state)
{
	static const char js[] =
		"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 1, \"archMap\":"
		" [{\"architecture\": \"SCMP_ARCH_X86_64\", \"subArchitectures\":"
		" [\"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"]}, {\"architecture\":"
		" \"SCMP_ARCH_AARCH64\", \"subArchitectures\": [\"SCMP_ARCH_ARM\"]},"
		" {\"architecture\": \"SCMP_ARCH_LOONGARCH64\", \"subArchitectures\": null}],"
		" \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\"], \"syscalls\": [{\"names\": [\"read\","
		" \"write\", \"chown32\"], \"action\": \"SCMP_ACT_ALLOW\"}, {\"names\":"
		" [\"socket\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0,"
		" \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}, {\"index\": 0, \"value\": 2, \"op\":"
		" \"SCMP_CMP_EQ\"}, {\"index\": 1, \"value\": 255, \"valueTwo\": 1, \"op\":"
		" \"SCMP_CMP_MASKED_EQ\"}]}, {\"names\": [\"kill\"], \"action\":"
		" \"SCMP_ACT_KILL_PROCESS\"}, {\"names\": [\"tkill\"], \"action\":"
		" \"SCMP_ACT_TRAP\"}, {\"names\": [\"tgkill\"], \"action\": \"SCMP_ACT_LOG\"},"
		" {\"names\": [\"ptrace\"], \"action\": \"SCMP_ACT_TRACE\", \"errnoRet\": 5},"
		" {\"names\": [\"vhangup\"], \"action\": \"SCMP_ACT_KILL\"}]}";
	struct rt_seccomp_profile *p = NULL;
	struct berr *err = NULL;
	assert_int_equal(rt_seccomp_profile_parse(js, strlen(js), "v.json", &p, &err), 0);
	assert_false(p->disabled);
	assert_int_equal(p->n_rules, 7);
	assert_true(p->log);
	assert_int_equal(p->default_action, SCMP_ACT_ERRNO(1));
	uint64_t sets[] = {0, rt_caps_default(), UINT64_MAX};
	for (size_t i = 0; i < 3; i++) {
		scmp_filter_ctx ctx = NULL;
		assert_int_equal(rt_seccomp_profile_compile(p, sets[i], &ctx, &err), 0);
		assert_non_null(ctx);
		seccomp_release(ctx);
	}
	rt_seccomp_profile_free(p);

	/* The built-in profile too, for every capability set. */
	for (size_t i = 0; i < 3; i++) {
		scmp_filter_ctx ctx = NULL;
		assert_int_equal(rt_seccomp_profile_compile(rt_seccomp_profile_default(), sets[i],
							    &ctx, &err),
				 0);
		assert_non_null(ctx);
		seccomp_release(ctx);
	}
	/* Freeing the static default is a no-op, not a crash. */
	rt_seccomp_profile_free((struct rt_seccomp_profile *)rt_seccomp_profile_default());
}

/* ---- the compiled program and its cache ---- */

static int probe_bpf(int *res, void *arg)
{
	res[0] = -rt_seccomp_bpf_load(arg);
	res[1] = seccomp_mode();
	res[2] = err_of(unshare(CLONE_NEWNS));
	res[3] = getpid() > 0 ? 0 : errno;
	return 0;
}

static int same_bpf(const struct rt_seccomp_bpf *a, const struct rt_seccomp_bpf *b)
{
	return a->len == b->len && a->flags == b->flags && a->len &&
	       memcmp(a->insns, b->insns, a->len * 8) == 0;
}

/* Count the *.bpf files in dir; *ret gets the path of one whose path is not `skip`. */
static int bpf_files(const char *dir, const char *skip, char *ret, size_t size)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	char p[512];
	while ((de = readdir(d))) {
		if (!strstr(de->d_name, ".bpf"))
			continue;
		n++;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (!skip || strcmp(p, skip) != 0)
			snprintf(ret, size, "%s", p);
	}
	closedir(d);
	return n;
}

static void test_bpf_cache(void **state)
{
	char tmp[] = "/tmp/berth-bpf-XXXXXX";
	assert_non_null(mkdtemp(tmp));
	char dir[64], file[600], file2[600];
	snprintf(dir, sizeof(dir), "%s/seccomp", tmp);
	struct berr *err = NULL;
	uint64_t caps = rt_caps_default();

	/* Without a cache: compiled, nothing written. */
	struct rt_seccomp_bpf plain, miss, hit, other, again;
	rt_seccomp_set_cache_dir(NULL);
	assert_int_equal(rt_seccomp_mode_bpf(RT_SECCOMP_DEFAULT, NULL, caps, &plain, &err), 0);
	assert_true(plain.len > 100);
	/* First use: compiled (the same program) and written; then read back. */
	rt_seccomp_set_cache_dir(dir);
	assert_int_equal(rt_seccomp_mode_bpf(RT_SECCOMP_DEFAULT, NULL, caps, &miss, &err), 0);
	assert_true(same_bpf(&plain, &miss));
	assert_int_equal(bpf_files(dir, NULL, file, sizeof(file)), 1);
	struct stat st1;
	assert_int_equal(stat(file, &st1), 0);
	assert_int_equal(rt_seccomp_mode_bpf(RT_SECCOMP_DEFAULT, NULL, caps, &hit, &err), 0);
	assert_true(same_bpf(&plain, &hit));
	struct stat st2;
	assert_int_equal(stat(file, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino); /* read, not rewritten */

	/* The program from the cache confines for real. */
	int res[NRES];
	run_child(probe_bpf, &hit, res);
	assert_int_equal(res[0], 0);
	assert_int_equal(res[1], 2);
	assert_int_equal(res[2], EPERM);
	assert_int_equal(res[3], 0);

	/* Another bounding set is another key: another file, another program. */
	uint64_t more = caps | (UINT64_C(1) << CAP_SYS_ADMIN);
	assert_int_equal(rt_seccomp_mode_bpf(RT_SECCOMP_DEFAULT, NULL, more, &other, &err), 0);
	assert_false(same_bpf(&plain, &other));
	assert_int_equal(bpf_files(dir, file, file2, sizeof(file2)), 2);
	run_child(probe_bpf, &other, res);
	assert_int_equal(res[0], 0);
	assert_int_equal(res[2], 0); /* CAP_SYS_ADMIN's rules allow unshare */

	/* A torn or tampered file is not used: compiled again and rewritten. */
	int fd = open(file, O_RDWR);
	assert_true(fd >= 0);
	off_t size = lseek(fd, 0, SEEK_END);
	char c;
	assert_int_equal(pread(fd, &c, 1, size - 3), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, size - 3), 1);
	close(fd);
	assert_int_equal(rt_seccomp_mode_bpf(RT_SECCOMP_DEFAULT, NULL, caps, &again, &err), 0);
	assert_true(same_bpf(&plain, &again));
	assert_int_equal(stat(file, &st2), 0);
	assert_true(st1.st_ino != st2.st_ino);
	rt_seccomp_bpf_free(&again);
	assert_int_equal(truncate(file, 40), 0);
	assert_int_equal(rt_seccomp_mode_bpf(RT_SECCOMP_DEFAULT, NULL, caps, &again, &err), 0);
	assert_true(same_bpf(&plain, &again));
	rt_seccomp_bpf_free(&again);
	/* Another key's (valid) file under this key's name is not used either. */
	char cmd[1400];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", file2, file);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rt_seccomp_mode_bpf(RT_SECCOMP_DEFAULT, NULL, caps, &again, &err), 0);
	assert_true(same_bpf(&plain, &again));
	rt_seccomp_bpf_free(&again);

	/* Unconfined: nothing to load, and loading nothing succeeds. */
	assert_int_equal(rt_seccomp_mode_bpf(RT_SECCOMP_UNCONFINED, NULL, caps, &again, &err), 0);
	assert_int_equal(again.len, 0);
	assert_int_equal(rt_seccomp_bpf_load(&again), 0);

	rt_seccomp_set_cache_dir(NULL);
	rt_seccomp_bpf_free(&plain);
	rt_seccomp_bpf_free(&miss);
	rt_seccomp_bpf_free(&hit);
	rt_seccomp_bpf_free(&other);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_seccomp needs root\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_profile),
	    cmocka_unit_test(test_default_profile_with_caps),
	    cmocka_unit_test(test_no_new_privs_is_callers),
	    cmocka_unit_test(test_profile_file),
	    cmocka_unit_test(test_profile_read_errors),
	    cmocka_unit_test(test_profile_parse_errors),
	    cmocka_unit_test(test_profile_empty_is_disabled),
	    cmocka_unit_test(test_profile_compile_variants),
	    cmocka_unit_test(test_bpf_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
