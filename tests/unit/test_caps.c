/* Capabilities: Docker's default set, name parsing, Docker's add/drop rules, and
 * rt_caps_apply() for real in forked children (as root, then switching to uid 1000), read
 * back from /proc/self/status and checked by what the process may still do. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "err.h"

#define BIT(c) (UINT64_C(1) << (c))

/* A field of /proc/<self>/status as hex ("CapEff:\t00000000a80425fb"). */
static int status_hex(const char *status, const char *key, uint64_t *ret)
{
	const char *p = strstr(status, key);
	if (!p)
		return -1;
	p += strlen(key);
	while (*p == ':' || *p == '\t' || *p == ' ')
		p++;
	char *end;
	*ret = strtoull(p, &end, 16);
	return end == p ? -1 : 0;
}

static void read_status(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/status", "re");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
}

static void test_default_mask(void **state)
{
	assert_int_equal(rt_caps_default(), UINT64_C(0x00000000a80425fb));
	static const int docker[] = {CAP_CHOWN,	       CAP_DAC_OVERRIDE, CAP_FSETID,
				     CAP_FOWNER,       CAP_MKNOD,	 CAP_NET_RAW,
				     CAP_SETGID,       CAP_SETUID,	 CAP_SETFCAP,
				     CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
				     CAP_KILL,	       CAP_AUDIT_WRITE};
	uint64_t m = 0;
	for (size_t i = 0; i < sizeof(docker) / sizeof(docker[0]); i++)
		m |= BIT(docker[i]);
	assert_int_equal(rt_caps_default(), m);
}

static void test_parse(void **state)
{
	static const struct {
		const char *name;
		int r, cap;
	} cases[] = {
		{"NET_ADMIN", 0, CAP_NET_ADMIN},
		{"CAP_NET_ADMIN", 0, CAP_NET_ADMIN},
		{"cap_net_admin", 0, CAP_NET_ADMIN},
		{"Net_Admin", 0, CAP_NET_ADMIN},
		{"chown", 0, CAP_CHOWN},
		{"CAP_CHECKPOINT_RESTORE", 0, 40},
		{"AUDIT_WRITE", 0, CAP_AUDIT_WRITE},
		{"ALL", 0, RT_CAP_ALL},
		{"all", 0, RT_CAP_ALL},
		{"CAP_ALL", -EINVAL, 0},
		{"", -EINVAL, 0},
		{"CAP_", -EINVAL, 0},
		{"NET_ADMINX", -EINVAL, 0},
		{"NET ADMIN", -EINVAL, 0},
		{"CAP_CAP_CHOWN", -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int cap = -100;
		int r = rt_caps_parse(cases[i].name, &cap);
		if (r != cases[i].r || (r == 0 && cap != cases[i].cap))
			fail_msg("'%s': got %d/%d, want %d/%d", cases[i].name, r, cap,
				 cases[i].r, cases[i].cap);
	}
	assert_int_equal(rt_caps_parse(NULL, &(int){0}), -EINVAL);
	assert_string_equal(rt_caps_name(CAP_NET_ADMIN), "CAP_NET_ADMIN");
	assert_string_equal(rt_caps_name(0), "CAP_CHOWN");
	assert_null(rt_caps_name(-1));
	assert_null(rt_caps_name(64));
	/* Every name round-trips. */
	for (int c = 0; rt_caps_name(c); c++) {
		int back = -1;
		assert_int_equal(rt_caps_parse(rt_caps_name(c), &back), 0);
		assert_int_equal(back, c);
	}
}

/* rt_caps_available() is the bounding set shown by the kernel, within cap_last_cap. */
static void test_available(void **state)
{
	char st[8192];
	read_status(st, sizeof(st));
	uint64_t bnd;
	assert_int_equal(status_hex(st, "CapBnd", &bnd), 0);
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	assert_non_null(f);
	int last = -1;
	assert_int_equal(fscanf(f, "%d", &last), 1);
	fclose(f);
	uint64_t all = last >= 63 ? UINT64_MAX : (BIT(last + 1) - 1);
	uint64_t avail = 0;
	struct berr *err = NULL;
	assert_int_equal(rt_caps_available(&avail, &err), 0);
	assert_int_equal(avail, bnd & all);
}

/* In a container's init /proc may not be mounted yet: the same answer without it. */
static void test_available_without_proc(void **state)
{
	uint64_t with = 0;
	struct berr *err = NULL;
	assert_int_equal(rt_caps_available(&with, &err), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t without = 0;
		int ok = unshare(CLONE_NEWNS) == 0 &&
			 mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
			 umount2("/proc", MNT_DETACH) == 0 &&
			 access("/proc/sys/kernel/cap_last_cap", F_OK) < 0 &&
			 rt_caps_available(&without, NULL) == 0;
		if (!ok)
			without = UINT64_MAX;
		_exit(write(p[1], &without, sizeof(without)) == sizeof(without) ? 0 : 1);
	}
	close(p[1]);
	uint64_t without = 0;
	assert_int_equal(read(p[0], &without, sizeof(without)), (ssize_t)sizeof(without));
	close(p[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(without, with);
}

static void test_compute(void **state)
{
	uint64_t avail;
	struct berr *err = NULL;
	assert_int_equal(rt_caps_available(&avail, &err), 0);
	const uint64_t def = rt_caps_default();
	char *net_admin[] = {"NET_ADMIN", NULL};
	char *chown_[] = {"cap_chown", NULL};
	char *all[] = {"ALL", NULL};
	char *all_lower[] = {"all", NULL};
	char *bogus[] = {"CAP_NET_ADMIN", "FOO", NULL};
	const struct {
		char **add, **drop;
		int privileged;
		uint64_t want;
	} cases[] = {
		{NULL, NULL, 0, def},
		{net_admin, NULL, 0, def | BIT(CAP_NET_ADMIN)},
		{NULL, chown_, 0, def & ~BIT(CAP_CHOWN)},
		/* ALL in add: everything available minus the drops (drop wins). */
		{all, net_admin, 0, avail & ~BIT(CAP_NET_ADMIN)},
		/* ALL in drop: exactly the adds. */
		{chown_, all_lower, 0, BIT(CAP_CHOWN)},
		{NULL, all, 0, 0},
		/* A name in both lists: dropped from the base, then added (Docker's order). */
		{net_admin, net_admin, 0, def | BIT(CAP_NET_ADMIN)},
		{chown_, chown_, 0, def},
		/* ALL in both: add ALL is looked at first. */
		{all, all, 0, avail},
		/* privileged ignores add and drop. */
		{NULL, all, 1, avail},
		{net_admin, chown_, 1, avail},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t got = 0;
		int r = rt_caps_compute(def, cases[i].add, cases[i].drop, cases[i].privileged, &got,
					&err);
		if (r != 0 || got != cases[i].want)
			fail_msg("case %zu: r=%d got %016" PRIx64 " want %016" PRIx64 " (%s)", i, r,
				 got, cases[i].want, err ? err->msg : "");
	}
	uint64_t got = 0;
	assert_int_equal(rt_caps_compute(def, bogus, NULL, 0, &got, &err), -EINVAL);
	assert_string_equal(err->msg, "unknown capability: \"FOO\"");
	berr_free(err);
	err = NULL;
	assert_int_equal(rt_caps_compute(def, NULL, bogus, 0, &got, &err), -EINVAL);
	berr_free(err);
	err = NULL;

	/* Adding a capability this environment does not have fails like Docker; dropping it
	 * is fine. (On a host with every capability there is nothing to try.) */
	for (int c = 0; rt_caps_name(c); c++) {
		if (avail & BIT(c))
			continue;
		char *one[] = {(char *)rt_caps_name(c), NULL};
		assert_int_equal(rt_caps_compute(def, one, NULL, 0, &got, &err), -EPERM);
		assert_non_null(strstr(err->msg, rt_caps_name(c)));
		berr_free(err);
		err = NULL;
		assert_int_equal(rt_caps_compute(def, NULL, one, 0, &got, &err), 0);
		assert_int_equal(got, def & ~BIT(c));
	}
}

struct result {
	int rc;
	uint64_t eff, prm, inh, bnd, amb;
	unsigned uid;
	int unshare_errno; /* needs CAP_SYS_ADMIN */
	int chown_errno;   /* needs CAP_CHOWN (the file belongs to root, mode 0600) */
	int setuid_errno;  /* back to root: needs CAP_SETUID */
	char exec_status[64];
};

static void fill(struct result *res, const char *probe_file)
{
	char st[8192];
	read_status(st, sizeof(st));
	status_hex(st, "CapEff", &res->eff);
	status_hex(st, "CapPrm", &res->prm);
	status_hex(st, "CapInh", &res->inh);
	status_hex(st, "CapBnd", &res->bnd);
	status_hex(st, "CapAmb", &res->amb);
	res->uid = (unsigned)getuid();
	res->unshare_errno = unshare(CLONE_NEWUTS) < 0 ? errno : 0;
	res->chown_errno = chown(probe_file, 4242, 4242) < 0 ? errno : 0;
	res->setuid_errno = setuid(0) < 0 ? errno : 0;
}

struct plan {
	uint64_t caps;
	unsigned uid; /* 0: stay root */
	const char *probe_file;
	int exec; /* run /bin/cat /proc/self/status and keep its CapEff line */
};

static struct result run_apply(const struct plan *pl)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct result res;
		memset(&res, 0, sizeof(res));
		struct berr *err = NULL;
		if (pl->uid == 0) {
			res.rc = rt_caps_apply(pl->caps, 0, &err);
		} else {
			/* The documented order for a non-root user. */
			res.rc = rt_caps_apply(pl->caps, 1, &err);
			if (res.rc == 0 && (setgroups(0, NULL) < 0 || setgid(pl->uid) < 0 ||
					    setuid(pl->uid) < 0))
				res.rc = -errno;
			if (res.rc == 0)
				res.rc = rt_caps_apply(pl->caps, 0, &err);
		}
		if (res.rc == 0 && pl->exec) {
			int q[2];
			if (pipe(q) == 0) {
				pid_t c = fork();
				if (c == 0) {
					dup2(q[1], 1);
					execl("/bin/grep", "grep", "CapEff", "/proc/self/status",
					      (char *)NULL);
					_exit(127);
				}
				close(q[1]);
				size_t cap = sizeof(res.exec_status) - 1;
				ssize_t n = read(q[0], res.exec_status, cap);
				res.exec_status[n > 0 ? n : 0] = '\0';
				waitpid(c, NULL, 0);
			}
		}
		if (res.rc == 0)
			fill(&res, pl->probe_file);
		ssize_t w = write(p[1], &res, sizeof(res));
		_exit(w == (ssize_t)sizeof(res) ? 0 : 1);
	}
	close(p[1]);
	struct result res;
	memset(&res, 0xff, sizeof(res));
	ssize_t n = read(p[0], &res, sizeof(res));
	close(p[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(n, (ssize_t)sizeof(res));
	return res;
}

static char probe_path[64];

static int setup_probe(void **state)
{
	snprintf(probe_path, sizeof(probe_path), "/tmp/berth-caps-XXXXXX");
	int fd = mkstemp(probe_path);
	if (fd < 0)
		return -1;
	close(fd);
	return chmod(probe_path, 0600);
}

static int teardown_probe(void **state)
{
	unlink(probe_path);
	return 0;
}

static void test_apply_root(void **state)
{
	struct plan pl = {.caps = rt_caps_default(), .probe_file = probe_path, .exec = 1};
	struct result r = run_apply(&pl);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.eff, UINT64_C(0xa80425fb));
	assert_int_equal(r.prm, UINT64_C(0xa80425fb));
	assert_int_equal(r.bnd, UINT64_C(0xa80425fb));
	assert_int_equal(r.inh, 0);
	assert_int_equal(r.amb, 0);
	assert_int_equal(r.uid, 0);
	assert_int_equal(r.unshare_errno, EPERM); /* no CAP_SYS_ADMIN */
	assert_int_equal(r.chown_errno, 0);       /* CAP_CHOWN kept */
	/* root keeps its set across execve */
	assert_string_equal(r.exec_status, "CapEff:\t00000000a80425fb\n");
}

static void test_apply_user(void **state)
{
	/* Let uid 1000 reach the probe's directory entry; the file stays root's. */
	struct plan pl = {.caps = rt_caps_default(), .uid = 1000, .probe_file = probe_path,
			  .exec = 1};
	struct result r = run_apply(&pl);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.uid, 1000);
	/* What `docker run -u 1000` shows: nothing effective, the bounding set kept. */
	assert_int_equal(r.eff, 0);
	assert_int_equal(r.prm, 0);
	assert_int_equal(r.inh, 0);
	assert_int_equal(r.amb, 0);
	assert_int_equal(r.bnd, UINT64_C(0xa80425fb));
	assert_int_equal(r.chown_errno, EPERM);
	assert_int_equal(r.setuid_errno, EPERM);
	assert_string_equal(r.exec_status, "CapEff:\t0000000000000000\n");
}

/* --cap-drop SETUID,SETGID -u 1000: the switch must still work. */
static void test_apply_user_without_setuid(void **state)
{
	uint64_t caps = rt_caps_default() & ~(BIT(CAP_SETUID) | BIT(CAP_SETGID));
	struct plan pl = {.caps = caps, .uid = 1000, .probe_file = probe_path};
	struct result r = run_apply(&pl);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.uid, 1000);
	assert_int_equal(r.eff, 0);
	assert_int_equal(r.bnd, caps);
}

/* A root container with CAP_SYS_ADMIN added and CAP_CHOWN dropped. */
static void test_apply_root_custom(void **state)
{
	uint64_t caps = (rt_caps_default() | BIT(CAP_SYS_ADMIN)) & ~BIT(CAP_CHOWN);
	struct plan pl = {.caps = caps, .probe_file = probe_path};
	struct result r = run_apply(&pl);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.eff, caps);
	assert_int_equal(r.bnd, caps);
	assert_int_equal(r.unshare_errno, 0);
	assert_int_equal(r.chown_errno, EPERM);
}

/* Asking for a capability the process does not hold fails cleanly. */
static void test_apply_unavailable(void **state)
{
	uint64_t avail;
	struct berr *err = NULL;
	assert_int_equal(rt_caps_available(&avail, &err), 0);
	uint64_t missing = 0;
	for (int c = 0; rt_caps_name(c); c++)
		if (!(avail & BIT(c)) && c <= 40) {
			missing = BIT(c);
			break;
		}
	if (!missing)
		skip(); /* this host grants every capability */
	struct plan pl = {.caps = rt_caps_default() | missing, .probe_file = probe_path};
	struct result r = run_apply(&pl);
	assert_int_equal(r.rc, -EPERM);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_caps needs root\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_mask),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_available),
		cmocka_unit_test(test_available_without_proc),
		cmocka_unit_test(test_compute),
		cmocka_unit_test_setup_teardown(test_apply_root, setup_probe, teardown_probe),
		cmocka_unit_test_setup_teardown(test_apply_user, setup_probe, teardown_probe),
		cmocka_unit_test_setup_teardown(test_apply_user_without_setuid, setup_probe,
						teardown_probe),
		cmocka_unit_test_setup_teardown(test_apply_root_custom, setup_probe,
						teardown_probe),
		cmocka_unit_test_setup_teardown(test_apply_unavailable, setup_probe,
						teardown_probe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
