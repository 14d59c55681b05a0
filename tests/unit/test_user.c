/* Unit tests of src/runtime/user.c: Docker's (runc's) user resolution against passwd and
 * group contents, and reading a file through unmounted overlay layers (whiteouts, opaque
 * directories, symlinks inside the image). The layers are real directories in a temp dir;
 * whiteouts are real 0/0 character devices and opaque markers real trusted.* xattrs (root). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "fs.h"
#include "user.h"

static const char *const passwd = "root:x:0:0:root:/root:/bin/sh\n"
				  "# a comment\n"
				  "\n"
				  "user1:x:1000:1000::/home/user1:/bin/sh\n"
				  "short:x:1001:1002\n"
				  "bad:x:notanumber:0::/:/bin/sh\n"
				  "dup:x:1003:1003::/first:/bin/sh\n"
				  "dup:x:1004:1004::/second:/bin/sh\n";
static const char *const group = "root:x:0:\n"
				 "wheel:x:10:root,user1\n"
				 "staff:x:50:user1\n"
				 "user1:x:1000:\n"
				 "other:x:77:someone\n";

struct user_case {
	const char *spec;
	int ok;
	unsigned uid, gid;
	const char *groups; /* comma-separated gids */
	const char *home;
	const char *error;
};

static const struct user_case user_cases[] = {
	{"", 1, 0, 0, "10", "/root", NULL},
	{"root", 1, 0, 0, "10", "/root", NULL},
	{"0", 1, 0, 0, "10", "/root", NULL},
	{"user1", 1, 1000, 1000, "10,50", "/home/user1", NULL},
	{"1000", 1, 1000, 1000, "10,50", "/home/user1", NULL},
	{"user1:staff", 1, 1000, 50, "", "/home/user1", NULL},
	{"user1:77", 1, 1000, 77, "", "/home/user1", NULL},
	{"user1:4242", 1, 1000, 4242, "", "/home/user1", NULL},
	{"4242", 1, 4242, 0, "", "/", NULL},
	{"4242:4243", 1, 4242, 4243, "", "/", NULL},
	{"short", 1, 1001, 1002, "", "/", NULL},
	{"dup", 1, 1003, 1003, "", "/first", NULL},
	{"user1:", 1, 1000, 1000, "10,50", "/home/user1", NULL},
	{"nosuch", 0, 0, 0, NULL, NULL, "unable to find user nosuch: no matching entries in passwd file"},
	{"bad", 0, 0, 0, NULL, NULL, "unable to find user bad"},
	{"root:nosuch", 0, 0, 0, NULL, NULL, "unable to find group nosuch: no matching entries in group file"},
	{"2147483648", 0, 0, 0, NULL, NULL, "uids and gids must be in range"},
	{"-1", 0, 0, 0, NULL, NULL, "unable to find user -1"},
};

static void test_resolve_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(user_cases) / sizeof(user_cases[0]); i++) {
		const struct user_case *c = &user_cases[i];
		struct rt_user u;
		struct berr *err = NULL;
		int r = rt_user_resolve(c->spec, passwd, group, &u, &err);
		if (!c->ok) {
			if (r >= 0)
				fail_msg("'%s' resolved", c->spec);
			assert_non_null(err);
			if (!strstr(err->msg, c->error))
				fail_msg("'%s': %s", c->spec, err->msg);
			berr_free(err);
			continue;
		}
		if (r < 0)
			fail_msg("'%s': %s", c->spec, err ? err->msg : "?");
		char gids[256] = "";
		for (size_t k = 0; k < u.ngroups; k++)
			snprintf(gids + strlen(gids), sizeof(gids) - strlen(gids), "%s%u",
				 k ? "," : "", (unsigned)u.groups[k]);
		if (u.uid != c->uid || u.gid != c->gid || strcmp(gids, c->groups) ||
		    strcmp(u.home, c->home))
			fail_msg("'%s': %u:%u [%s] %s", c->spec, (unsigned)u.uid, (unsigned)u.gid, gids,
				 u.home);
		rt_user_free(&u);
	}
}

static void test_resolve_without_files(void **state)
{
	(void)state;
	struct rt_user u;
	struct berr *err = NULL;
	assert_int_equal(rt_user_resolve("", NULL, NULL, &u, &err), 0);
	assert_int_equal(u.uid, 0);
	assert_string_equal(u.home, "/");
	rt_user_free(&u);
	assert_int_equal(rt_user_resolve("33:44", NULL, NULL, &u, &err), 0);
	assert_int_equal(u.uid, 33);
	assert_int_equal(u.gid, 44);
	rt_user_free(&u);
	assert_int_equal(rt_user_resolve("www", NULL, NULL, &u, &err), -EINVAL);
	berr_free(err);
}

/* ---- layers ---- */

static char tmp[256];

static void put(const char *rel, const char *content)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, p, 0755), 0);
	*slash = '/';
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void whiteout(const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	assert_int_equal(mknod(p, S_IFCHR | 0, makedev(0, 0)), 0);
}

static void link_to(const char *rel, const char *target)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	assert_int_equal(symlink(target, p), 0);
}

static void opaque(const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, p, 0755), 0);
	assert_int_equal(setxattr(p, "trusted.overlay.opaque", "y", 1, 0), 0);
}

static int setup_layers(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/berth-test-user-%d", (int)getpid());
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, tmp), 0);
	/* bottom: etc/passwd, etc/group, data/a, data/b, old/x, real/file, usr/etc/passwd */
	put("bottom/etc/passwd", "bottom-passwd\n");
	put("bottom/etc/group", "bottom-group\n");
	put("bottom/data/a", "a-bottom\n");
	put("bottom/data/b", "b-bottom\n");
	put("bottom/old/x", "x-bottom\n");
	put("bottom/real/file", "real\n");
	put("bottom/usr/etc/passwd", "usr-passwd\n");
	/* middle: replaces group, whites out data/b, makes old opaque */
	put("middle/etc/group", "middle-group\n");
	char p[512];
	snprintf(p, sizeof(p), "%s/middle/data", tmp);
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, p, 0755), 0);
	whiteout("middle/data/b");
	opaque("middle/old");
	put("middle/old/y", "y-middle\n");
	/* top: a symlinked directory and a symlink chain, absolute and relative */
	snprintf(p, sizeof(p), "%s/top", tmp);
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, p, 0755), 0);
	link_to("top/link", "/real/file");
	link_to("top/rel", "real/../real/file");
	link_to("top/dir", "usr/etc");
	link_to("top/escape", "../../../../../../etc/hostname");
	link_to("top/loop", "loop");
	return 0;
}

static int teardown_layers(void **state)
{
	(void)state;
	fs_rm_rf_at(AT_FDCWD, tmp);
	return 0;
}

static int read_layered(const char *path, char **ret)
{
	char top[512], middle[512], bottom[512];
	snprintf(top, sizeof(top), "%s/top", tmp);
	snprintf(middle, sizeof(middle), "%s/middle", tmp);
	snprintf(bottom, sizeof(bottom), "%s/bottom", tmp);
	char *dirs[] = {top, middle, bottom};
	size_t len;
	return rt_layers_read_file(dirs, 3, path, 1 << 20, ret, &len);
}

static void expect(const char *path, const char *content)
{
	char *data = NULL;
	int r = read_layered(path, &data);
	if (r < 0)
		fail_msg("%s: %s", path, strerror(-r));
	assert_string_equal(data, content);
	free(data);
}

static void expect_error(const char *path, int code)
{
	char *data = NULL;
	int r = read_layered(path, &data);
	if (r != code)
		fail_msg("%s: %d, expected %d", path, r, code);
	free(data);
}

static void test_layers(void **state)
{
	(void)state;
	expect("/etc/passwd", "bottom-passwd\n");
	expect("/etc/group", "middle-group\n");
	expect("etc/../etc/./group", "middle-group\n");
	expect("/data/a", "a-bottom\n");
	expect_error("/data/b", -ENOENT);
	/* The opaque directory hides the bottom layer's files below it. */
	expect("/old/y", "y-middle\n");
	expect_error("/old/x", -ENOENT);
	/* Symlinks resolve inside the image. */
	expect("/link", "real\n");
	expect("/rel", "real\n");
	expect("/dir/passwd", "usr-passwd\n");
	expect_error("/escape", -ENOENT);
	expect_error("/loop", -ELOOP);
	expect_error("/etc", -EISDIR);
	expect_error("/etc/passwd/x", -ENOTDIR);
	expect_error("/nothing/here", -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_table),
		cmocka_unit_test(test_resolve_without_files),
		cmocka_unit_test_setup_teardown(test_layers, setup_layers, teardown_layers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
