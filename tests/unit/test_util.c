#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "fs.h"
#include "opt.h"
#include "strv.h"

static void test_err_chain(void **state)
{
	struct berr *err = NULL;
	assert_int_equal(berr_set(&err, ENOENT, "blob %s", "x"), -ENOENT);
	berr_wrap(&err, "load '%s'", "a.tar");
	assert_string_equal(err->msg, "load 'a.tar': blob x");
	/* A second set keeps the first (innermost) cause. */
	assert_int_equal(berr_set(&err, EINVAL, "other"), -EINVAL);
	assert_int_equal(err->code, ENOENT);
	berr_free(err);
}

static void test_buf(void **state)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	assert_int_equal(strncmp(b.data, "0,1,2,", 6), 0);
	assert_int_equal(b.len, strlen(b.data));
	char *s = buf_steal(&b);
	assert_null(b.data);
	free(s);
}

static void test_strv(void **state)
{
	struct strv v = STRV_INIT;
	strv_push(&v, "b");
	strv_push(&v, "a");
	strv_push(&v, "c");
	strv_sort(&v);
	assert_string_equal(v.v[0], "a");
	assert_true(strv_contains(&v, "c"));
	strv_remove_at(&v, 1);
	assert_false(strv_contains(&v, "b"));
	assert_null(v.v[v.n]);
	strv_free(&v);
}

static void test_opt_parse(void **state)
{
	int all = 0, quiet = 0, tty = 0;
	const char *format = NULL;
	struct strv env = STRV_INIT;
	const struct opt opts[] = {
		{OPT_BOOL, 'a', "all", &all, NULL, "all"},
		{OPT_BOOL, 'q', "quiet", &quiet, NULL, "quiet"},
		{OPT_BOOL, 't', "tty", &tty, NULL, "tty"},
		{OPT_STRING, 0, "format", &format, "string", "fmt"},
		{OPT_LIST, 'e', "env", &env, "list", "env"},
		{0},
	};
	char *argv[] = {"images", "-aq", "nginx", "--format={{.ID}}", "-e", "A=1", "-eB=2",
			"--env", "C=3", "--", "-x", NULL};
	int first;
	assert_int_equal(opt_parse(opts, 0, 11, argv, &first, NULL), 0);
	assert_true(all && quiet && !tty);
	assert_string_equal(format, "{{.ID}}");
	assert_int_equal(env.n, 3);
	assert_string_equal(env.v[1], "B=2");
	assert_int_equal(11 - first, 2);
	assert_string_equal(argv[first], "nginx");
	assert_string_equal(argv[first + 1], "-x");
	strv_free(&env);

	/* Stop at the first operand: the rest is the container's command. */
	all = quiet = tty = 0;
	char *argv2[] = {"run", "-t", "img", "ls", "-a", NULL};
	assert_int_equal(opt_parse(opts, OPT_PARSE_STOP_AT_OPERAND, 5, argv2, &first, NULL), 0);
	assert_true(tty && !all);
	assert_string_equal(argv2[first], "img");
	assert_string_equal(argv2[first + 2], "-a");

	struct berr *err = NULL;
	char *argv3[] = {"images", "--bogus", NULL};
	assert_int_equal(opt_parse(opts, 0, 2, argv3, &first, &err), -EINVAL);
	assert_string_equal(err->msg, "unknown flag: --bogus");
	berr_free(err);
	err = NULL;
	char *argv4[] = {"images", "--format", NULL};
	assert_int_equal(opt_parse(opts, 0, 2, argv4, &first, &err), -EINVAL);
	berr_free(err);
	err = NULL;
	char *argv5[] = {"images", "--all=false", "-h", NULL};
	all = 1;
	assert_int_equal(opt_parse(opts, 0, 3, argv5, &first, &err), 1);
	assert_int_equal(all, 0);
}

static char *write_tmp(const char *content)
{
	char *path = strdup("/tmp/berth-test-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

static void test_config(void **state)
{
	json_t *cfg = NULL;
	struct berr *err = NULL;
	assert_int_equal(config_load("/nonexistent/berth.json", 0, &cfg, &err), 0);
	assert_true(json_is_object(cfg));
	json_decref(cfg);
	assert_int_equal(config_load("/nonexistent/berth.json", 1, &cfg, &err), -ENOENT);
	berr_free(err);
	err = NULL;

	char *p = write_tmp("{\n  \"root\": \"/x\",\n  \"insecure-registries\": [\"a:5000\"]\n}\n");
	assert_int_equal(config_load(p, 1, &cfg, &err), 0);
	assert_string_equal(config_get_string(cfg, "root", NULL), "/x");
	json_decref(cfg);
	unlink(p);
	free(p);

	p = write_tmp("{\n  \"root\": \"/x\",\n  \"bogus\": 1\n}\n");
	assert_int_equal(config_load(p, 1, &cfg, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "line 3: unknown key 'bogus'"));
	berr_free(err);
	err = NULL;
	unlink(p);
	free(p);

	p = write_tmp("{\n  \"root\": \"/x\",\n  \"runroot\" \n}\n");
	assert_int_equal(config_load(p, 1, &cfg, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "line 4"));
	berr_free(err);
	err = NULL;
	unlink(p);
	free(p);

	p = write_tmp("{\"root\": 5}");
	assert_int_equal(config_load(p, 1, &cfg, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "'root' must be a string"));
	berr_free(err);
	unlink(p);
	free(p);
}

static void test_fs_atomic(void **state)
{
	char dir[] = "/tmp/berth-fs-XXXXXX";
	assert_non_null(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_int_equal(fs_mkdir_p_at(dfd, "a/b/c", 0755), 0);
	assert_int_equal(fs_write_atomic_at(dfd, "a/b/c/f", "hello", 5, 0640), 0);
	char *data;
	size_t len;
	assert_int_equal(fs_read_all_at(dfd, "a/b/c/f", 100, &data, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal(data, "hello");
	free(data);
	assert_int_equal(fs_read_all_at(dfd, "a/b/c/f", 3, &data, &len), -EFBIG);
	struct stat st;
	assert_int_equal(fstatat(dfd, "a/b/c/f", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0640);

	/* RESOLVE_IN_ROOT: an absolute symlink inside the root stays inside it. */
	assert_int_equal(symlinkat("/", dfd, "a/escape"), 0);
	int fd = fs_open_in_root(dfd, "/a/escape/a/b/c/f", O_RDONLY, 0);
	assert_true(fd >= 0);
	close(fd);
	assert_true(fs_open_in_root(dfd, "/a/escape/etc/passwd", O_RDONLY, 0) < 0);
	assert_true(fs_open_in_root(dfd, "../../../../etc/passwd", O_RDONLY, 0) < 0);

	uint64_t size = 0;
	assert_int_equal(fs_tree_size_at(dfd, "a", &size), 0);
	assert_int_equal(size, 5 + 1);
	close(dfd);
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, dir), 0);
	assert_int_equal(access(dir, F_OK), -1);
}

/* Count the entries of dir whose name starts with ".tmp-". */
static int temp_files(int dfd)
{
	int fd = dup(dfd);
	DIR *d = fdopendir(fd);
	assert_non_null(d);
	rewinddir(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, ".tmp-", 5) == 0)
			n++;
	closedir(d);
	return n;
}

static void test_fs_batch(void **state)
{
	char dir[] = "/tmp/berth-fsb-XXXXXX";
	assert_non_null(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_int_equal(fs_write_atomic_at(dfd, "b", "old", 3, 0600), 0);
	struct fs_batch b;
	fs_batch_init(&b, dfd);
	assert_int_equal(fs_batch_add(&b, "a", "one", 3, 0644), 0);
	assert_int_equal(fs_batch_add(&b, "b", "two", 3, 0600), 0);
	assert_int_equal(fs_batch_add(&b, "empty", "", 0, 0600), 0);
	/* Nothing is visible before the commit; the old content stays. */
	char *data;
	size_t len;
	assert_int_equal(fs_read_all_at(dfd, "a", 100, &data, &len), -ENOENT);
	assert_int_equal(fs_read_all_at(dfd, "b", 100, &data, &len), 0);
	assert_string_equal(data, "old");
	free(data);
	assert_int_equal(temp_files(dfd), 3);
	assert_int_equal(fs_batch_commit(&b), 0);
	assert_int_equal(temp_files(dfd), 0);
	assert_int_equal(fs_read_all_at(dfd, "a", 100, &data, &len), 0);
	assert_string_equal(data, "one");
	free(data);
	assert_int_equal(fs_read_all_at(dfd, "b", 100, &data, &len), 0);
	assert_string_equal(data, "two");
	free(data);
	struct stat st;
	assert_int_equal(fstatat(dfd, "a", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(fstatat(dfd, "empty", &st, 0), 0);
	assert_int_equal(st.st_size, 0);
	fs_batch_abort(&b); /* after a commit: nothing to do */
	assert_int_equal(fstatat(dfd, "a", &st, 0), 0);

	/* Abort removes the temp files and leaves the old content. */
	fs_batch_init(&b, dfd);
	assert_int_equal(fs_batch_add(&b, "a", "three", 5, 0644), 0);
	fs_batch_abort(&b);
	assert_int_equal(temp_files(dfd), 0);
	assert_int_equal(fs_read_all_at(dfd, "a", 100, &data, &len), 0);
	assert_string_equal(data, "one");
	free(data);

	/* Limits: names with a slash or too long, more than FS_BATCH_MAX files. */
	fs_batch_init(&b, dfd);
	assert_int_equal(fs_batch_add(&b, "x/y", "z", 1, 0600), -ENAMETOOLONG);
	char longname[100];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(fs_batch_add(&b, longname, "z", 1, 0600), -ENAMETOOLONG);
	for (int i = 0; i < FS_BATCH_MAX; i++) {
		char n[16];
		snprintf(n, sizeof(n), "f%d", i);
		assert_int_equal(fs_batch_add(&b, n, "z", 1, 0600), 0);
	}
	assert_int_equal(fs_batch_add(&b, "one-more", "z", 1, 0600), -E2BIG);
	fs_batch_abort(&b);
	assert_int_equal(temp_files(dfd), 0);
	assert_int_equal(fstatat(dfd, "f0", &st, 0), -1);

	/* The no-fsync write is still a whole replacement. */
	assert_int_equal(fs_write_atomic_nosync_at(dfd, "b", "four", 4, 0600), 0);
	assert_int_equal(fs_read_all_at(dfd, "b", 100, &data, &len), 0);
	assert_string_equal(data, "four");
	free(data);
	assert_int_equal(temp_files(dfd), 0);
	close(dfd);
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, dir), 0);
}

static ino_t inode_of(int dfd, const char *name)
{
	struct stat st;
	assert_int_equal(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	return st.st_ino;
}

static void test_fs_swap(void **state)
{
	char dir[] = "/tmp/berth-fss-XXXXXX";
	assert_non_null(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	char *data;
	size_t len;
	/* First write: no file yet, the spare is made and renamed into place. */
	assert_int_equal(fs_write_swap_at(dfd, "s.json", ".spare", "first", 5, 0600, 1), 0);
	assert_int_equal(fs_read_all_at(dfd, "s.json", 100, &data, &len), 0);
	assert_string_equal(data, "first");
	free(data);
	struct stat st;
	assert_int_equal(fstatat(dfd, ".spare", &st, 0), -1);
	ino_t a = inode_of(dfd, "s.json");
	/* Second: a new spare, then the two only ever swap: two inodes for every later write. */
	assert_int_equal(fs_write_swap_at(dfd, "s.json", ".spare", "second, longer", 14, 0600, 0), 0);
	ino_t b = inode_of(dfd, "s.json");
	assert_true(b != a);
	assert_int_equal(inode_of(dfd, ".spare"), a);
	assert_int_equal(fs_write_swap_at(dfd, "s.json", ".spare", "3rd", 3, 0640, 1), 0);
	assert_int_equal(inode_of(dfd, "s.json"), a);
	assert_int_equal(inode_of(dfd, ".spare"), b);
	/* The spare's old, longer content is truncated away; the mode is the one asked for. */
	assert_int_equal(fs_read_all_at(dfd, "s.json", 100, &data, &len), 0);
	assert_int_equal(len, 3);
	assert_string_equal(data, "3rd");
	free(data);
	assert_int_equal(fstatat(dfd, "s.json", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* A spare that is a symlink is not followed; names with a slash are refused. */
	assert_int_equal(unlinkat(dfd, ".spare", 0), 0);
	assert_int_equal(symlinkat("/etc/passwd", dfd, ".spare"), 0);
	assert_int_equal(fs_write_swap_at(dfd, "s.json", ".spare", "x", 1, 0600, 0), -ELOOP);
	assert_int_equal(fs_write_swap_at(dfd, "a/s.json", ".spare", "x", 1, 0600, 0), -EINVAL);
	assert_int_equal(fs_read_all_at(dfd, "s.json", 100, &data, &len), 0);
	assert_string_equal(data, "3rd");
	free(data);
	close(dfd);
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_err_chain), cmocka_unit_test(test_buf),
	    cmocka_unit_test(test_strv),      cmocka_unit_test(test_opt_parse),
	    cmocka_unit_test(test_config),    cmocka_unit_test(test_fs_atomic),
	    cmocka_unit_test(test_fs_batch),  cmocka_unit_test(test_fs_swap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
