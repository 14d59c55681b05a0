/* Resource limits: Docker's --ulimit syntax, and rt_rlimit_apply() for real in forked
 * children, including the clamp to the current hard limit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "rlimit.h"

#define INF ((uint64_t)RLIM_INFINITY)

static void test_parse(void **state)
{
	static const struct {
		const char *spec;
		int r;
		int res;
		uint64_t soft, hard;
		const char *msg;
	} cases[] = {
		{"nofile=1024:2048", 0, RLIMIT_NOFILE, 1024, 2048, NULL},
		{"nofile=1024", 0, RLIMIT_NOFILE, 1024, 1024, NULL},
		{"nproc=-1", 0, RLIMIT_NPROC, INF, INF, NULL},
		{"core=0:-1", 0, RLIMIT_CORE, 0, INF, NULL},
		{"stack=8388608:-1", 0, RLIMIT_STACK, 8388608, INF, NULL},
		{"rtprio=0", 0, RLIMIT_RTPRIO, 0, 0, NULL},
		{"nofile=-1:1024", -EINVAL, 0, 0, 0, "soft: -1 (unlimited), hard: 1024"},
		{"nofile=2048:1024", -EINVAL, 0, 0, 0, "2048 > 1024"},
		{"as=1", -EINVAL, 0, 0, 0, "invalid ulimit type: as"},
		{"NOFILE=1", -EINVAL, 0, 0, 0, "invalid ulimit type: NOFILE"},
		{"nofile", -EINVAL, 0, 0, 0, "invalid ulimit argument: nofile"},
		{"=1", -EINVAL, 0, 0, 0, "invalid ulimit type: "},
		{"nofile=", -EINVAL, 0, 0, 0, "invalid ulimit value"},
		{"nofile=1:", -EINVAL, 0, 0, 0, "invalid ulimit value"},
		{"nofile=:1", -EINVAL, 0, 0, 0, "invalid ulimit value"},
		{"nofile=1:2:3", -EINVAL, 0, 0, 0, "too many limit value arguments"},
		{"nofile=abc", -EINVAL, 0, 0, 0, "invalid ulimit value"},
		{"nofile= 12", -EINVAL, 0, 0, 0, "invalid ulimit value"},
		{"nofile=+12", -EINVAL, 0, 0, 0, "invalid ulimit value"},
		{"nofile=12k", -EINVAL, 0, 0, 0, "invalid ulimit value"},
		{"nofile=99999999999999999999", -EINVAL, 0, 0, 0, "invalid ulimit value"},
		{"nofile=-2", -EINVAL, 0, 0, 0, "only -1 may be negative"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rt_rlimit l = {-1, 7, 7};
		struct berr *err = NULL;
		int r = rt_rlimit_parse(cases[i].spec, &l, &err);
		if (r != cases[i].r)
			fail_msg("'%s': got %d (%s), want %d", cases[i].spec, r,
				 err ? err->msg : "", cases[i].r);
		if (r == 0) {
			assert_int_equal(l.resource, cases[i].res);
			assert_int_equal(l.soft, cases[i].soft);
			assert_int_equal(l.hard, cases[i].hard);
			assert_null(err);
		} else {
			if (!strstr(err->msg, cases[i].msg))
				fail_msg("'%s': message '%s' lacks '%s'", cases[i].spec, err->msg,
					 cases[i].msg);
			/* *ret is untouched on failure. */
			assert_int_equal(l.resource, -1);
			berr_free(err);
		}
	}
}

/* Every Docker name maps to its resource and back. */
static void test_names(void **state)
{
	static const struct {
		const char *name;
		int res;
	} names[] = {
		{"core", RLIMIT_CORE},       {"cpu", RLIMIT_CPU},
		{"data", RLIMIT_DATA},       {"fsize", RLIMIT_FSIZE},
		{"locks", RLIMIT_LOCKS},     {"memlock", RLIMIT_MEMLOCK},
		{"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
		{"nofile", RLIMIT_NOFILE},   {"nproc", RLIMIT_NPROC},
		{"rss", RLIMIT_RSS},         {"rtprio", RLIMIT_RTPRIO},
		{"rttime", RLIMIT_RTTIME},   {"sigpending", RLIMIT_SIGPENDING},
		{"stack", RLIMIT_STACK},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char spec[64];
		snprintf(spec, sizeof(spec), "%s=5:6", names[i].name);
		struct rt_rlimit l;
		assert_int_equal(rt_rlimit_parse(spec, &l, NULL), 0);
		assert_int_equal(l.resource, names[i].res);
		assert_string_equal(rt_rlimit_name(names[i].res), names[i].name);
	}
	assert_null(rt_rlimit_name(RLIMIT_AS));
}

struct outcome {
	int rc;
	struct rlimit nofile, core;
	char log[256];
};

/* Apply lims in a child; report the result, the limits it ended with and its stderr. */
static struct outcome apply_in_child(const struct rt_rlimit *lims, size_t n)
{
	int p[2], e[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(e, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct outcome o;
		memset(&o, 0, sizeof(o));
		dup2(e[1], 2);
		log_min_level = LOG_DEBUG;
		struct berr *err = NULL;
		o.rc = rt_rlimit_apply(lims, n, &err);
		getrlimit(RLIMIT_NOFILE, &o.nofile);
		getrlimit(RLIMIT_CORE, &o.core);
		ssize_t w = write(p[1], &o, sizeof(o));
		_exit(w == (ssize_t)sizeof(o) ? 0 : 1);
	}
	close(p[1]);
	close(e[1]);
	struct outcome o;
	memset(&o, 0, sizeof(o));
	ssize_t n1 = read(p[0], &o, sizeof(o));
	ssize_t n2 = read(e[0], o.log, sizeof(o.log) - 1);
	o.log[n2 > 0 ? n2 : 0] = '\0';
	close(p[0]);
	close(e[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(n1, (ssize_t)sizeof(o));
	return o;
}

static void test_apply_lower(void **state)
{
	struct rt_rlimit l[2];
	assert_int_equal(rt_rlimit_parse("nofile=512:1024", &l[0], NULL), 0);
	assert_int_equal(rt_rlimit_parse("core=0:0", &l[1], NULL), 0);
	struct outcome o = apply_in_child(l, 2);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.nofile.rlim_cur, 512);
	assert_int_equal(o.nofile.rlim_max, 1024);
	assert_int_equal(o.core.rlim_cur, 0);
	assert_int_equal(o.core.rlim_max, 0);
	assert_null(strstr(o.log, "clamped"));
}

/* Above fs.nr_open no process may raise nofile, whatever its capabilities: the request is
 * clamped to the current hard limit, with a debug line, instead of failing. */
static void test_apply_clamps(void **state)
{
	struct rlimit cur;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &cur), 0);
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");
	assert_non_null(f);
	unsigned long long nr_open = 0;
	assert_int_equal(fscanf(f, "%llu", &nr_open), 1);
	fclose(f);
	struct rt_rlimit l = {RLIMIT_NOFILE, nr_open + 1, nr_open + 1};
	struct outcome o = apply_in_child(&l, 1);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.nofile.rlim_max, cur.rlim_max);
	assert_int_equal(o.nofile.rlim_cur, cur.rlim_max);
	assert_non_null(strstr(o.log, "ulimit nofile="));
	assert_non_null(strstr(o.log, "clamped"));

	/* Soft below the current hard, hard above it: soft is kept. */
	struct rt_rlimit l2 = {RLIMIT_NOFILE, 100, nr_open + 1};
	o = apply_in_child(&l2, 1);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.nofile.rlim_cur, 100);
	assert_int_equal(o.nofile.rlim_max, cur.rlim_max);
}

static void test_apply_bad_resource(void **state)
{
	struct rt_rlimit l = {RLIMIT_AS, 1, 1};
	struct berr *err = NULL;
	assert_int_equal(rt_rlimit_apply(&l, 1, &err), -EINVAL);
	assert_non_null(err);
	berr_free(err);
	assert_int_equal(rt_rlimit_apply(NULL, 0, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_apply_lower),
		cmocka_unit_test(test_apply_clamps),
		cmocka_unit_test(test_apply_bad_resource),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
