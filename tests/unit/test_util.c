#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "chunkq.h"
#include "config.h"
#include "dio.h"
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

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_fs_writeback_queue(void **state)
{
	(void)state;
	char path[] = "/tmp/berth-test-wb-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	int base = count_fds();
	static char block[1 << 20];
	memset(block, 'w', sizeof(block));
	uint64_t written = 0, flushed = 0;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
		written += sizeof(block);
		fs_writeback_queue(fd, &flushed, written);
		/* Handed over every FS_WRITEBACK_EVERY bytes, not before. */
		assert_int_equal(flushed, written - written % FS_WRITEBACK_EVERY);
	}
	/* The background thread closes its duplicates once done (within 10 s here). */
	for (int i = 0; i < 1000 && count_fds() > base; i++)
		usleep(10 * 1000);
	assert_int_equal(count_fds(), base);
	/* The caller's descriptor is untouched. */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)written);
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

/* ---- chunkq ---- */

struct cq_producer {
	struct chunkq *q;
	size_t total; /* bytes to send: byte i is (i * 7) & 0xff */
	int end;      /* what to close with once they are sent */
	int r;	      /* the first failure of take or put */
	size_t sent;
};

static void *cq_produce(void *arg)
{
	struct cq_producer *p = arg;
	size_t bufsize = chunkq_bufsize(p->q), piece = 1;
	while (p->sent < p->total) {
		void *b;
		if ((p->r = chunkq_take(p->q, &b)) < 0)
			break;
		/* Pieces of every length from 1 to bufsize, not only full buffers. */
		size_t n = piece < p->total - p->sent ? piece : p->total - p->sent;
		piece = piece % bufsize + 1;
		for (size_t i = 0; i < n; i++)
			((unsigned char *)b)[i] = (unsigned char)(((p->sent + i) * 7) & 0xff);
		if ((p->r = chunkq_put(p->q, b, n)) < 0)
			break;
		p->sent += n;
	}
	chunkq_close(p->q, p->r < 0 ? p->r : p->end);
	return NULL;
}

/* Reads to the end; returns the end's value, *ret_got the bytes (checked in order). */
static ssize_t cq_consume(struct chunkq *q, size_t *ret_got, const void **seen, size_t nseen)
{
	size_t got = 0;
	for (;;) {
		const void *d;
		ssize_t n = chunkq_next(q, &d);
		if (n <= 0) {
			*ret_got = got;
			return n;
		}
		size_t k = 0;
		while (k < nseen && seen[k] && seen[k] != d)
			k++;
		assert_true(k < nseen); /* never more distinct buffers than the queue has */
		seen[k] = d;
		for (ssize_t i = 0; i < n; i++)
			assert_int_equal(((const unsigned char *)d)[i],
					 ((got + (size_t)i) * 7) & 0xff);
		got += (size_t)n;
	}
}

static void test_chunkq_stream(void **state)
{
	(void)state;
	struct cq_producer p = {.total = 1000003, .end = 0};
	p.q = chunkq_new(3, 4096);
	assert_non_null(p.q);
	assert_int_equal(chunkq_bufsize(p.q), 4096);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, cq_produce, &p), 0);
	const void *seen[3] = {0};
	size_t got;
	assert_int_equal(cq_consume(p.q, &got, seen, 3), 0);
	chunkq_stop(p.q);
	pthread_join(t, NULL);
	assert_int_equal(p.r, 0);
	assert_int_equal(got, p.total);
	chunkq_free(p.q);

	/* A producer's error comes after the bytes queued before it. */
	struct cq_producer e = {.total = 10000, .end = -EBADMSG};
	e.q = chunkq_new(2, 100);
	assert_non_null(e.q);
	assert_int_equal(pthread_create(&t, NULL, cq_produce, &e), 0);
	const void *seen2[2] = {0};
	assert_int_equal(cq_consume(e.q, &got, seen2, 2), -EBADMSG);
	assert_int_equal(got, 10000);
	chunkq_stop(e.q);
	pthread_join(t, NULL);
	chunkq_free(e.q);
}

struct cq_taker {
	struct chunkq *q;
	int r;
	volatile int done;
};

static void *cq_take_one(void *arg)
{
	struct cq_taker *k = arg;
	void *b;
	k->r = chunkq_take(k->q, &b);
	if (k->r == 0)
		k->r = chunkq_put(k->q, b, 0);
	k->done = 1;
	return NULL;
}

static void test_chunkq_bounded(void **state)
{
	(void)state;
	struct chunkq *q = chunkq_new(2, 16);
	assert_non_null(q);
	void *a, *b;
	assert_int_equal(chunkq_take(q, &a), 0);
	assert_int_equal(chunkq_put(q, a, 5), 0);
	assert_int_equal(chunkq_take(q, &b), 0);
	assert_ptr_not_equal(a, b);
	assert_int_equal(chunkq_put(q, b, 16), 0);
	/* Both buffers queued: a third take waits until the consumer gives one back, which
	 * it does with its second read (the first buffer is held until then). */
	struct cq_taker k = {.q = q, .r = 1};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, cq_take_one, &k), 0);
	const void *d;
	assert_int_equal(chunkq_next(q, &d), 5);
	assert_ptr_equal(d, a);
	usleep(50 * 1000);
	assert_int_equal(k.done, 0);
	assert_int_equal(chunkq_next(q, &d), 16);
	assert_ptr_equal(d, b);
	pthread_join(t, NULL);
	assert_int_equal(k.r, 0);

	/* A consumer that stops early releases a producer waiting for a buffer: -EPIPE. */
	assert_int_equal(chunkq_take(q, &a), 0);
	assert_int_equal(chunkq_put(q, a, 1), 0);
	k = (struct cq_taker){.q = q, .r = 1};
	assert_int_equal(pthread_create(&t, NULL, cq_take_one, &k), 0);
	usleep(50 * 1000);
	assert_int_equal(k.done, 0); /* b is held, a is queued */
	chunkq_stop(q);
	pthread_join(t, NULL);
	assert_int_equal(k.r, -EPIPE);
	assert_int_equal(chunkq_take(q, &a), -EPIPE);
	chunkq_close(q, 0);
	chunkq_free(q);
}

/* A temporary file on a disk file system (O_DIRECT), its path in path[64]. */
static int dio_tmpfile(char *path)
{
	snprintf(path, 64, "/var/tmp/berth-dio.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	return fd;
}

static void test_dio_stream(void **state)
{
	(void)state;
	char path[64];
	int fd = dio_tmpfile(path);
	/* What the caller wrote itself before the stream: one aligned block. */
	unsigned char head[DIO_ALIGN];
	memset(head, 'h', sizeof(head));
	assert_int_equal(pwrite(fd, head, sizeof(head), 0), (ssize_t)sizeof(head));

	size_t n = 3 * (size_t)DIO_BUFSIZE + 12345;
	unsigned char *data = malloc(n);
	assert_non_null(data);
	srand(7);
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)rand();
	int dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	assert_true(dfd >= 0);
	struct dio *d;
	assert_int_equal(dio_start(&d, fd, dfd, DIO_ALIGN), 0);
	/* Pieces of odd sizes, as a socket hands them over, some across buffer ends. */
	static const size_t sizes[] = {1, 4095, 65537, 300000, 1048575, 7};
	size_t done = 0;
	for (size_t k = 0; done < n; k++) {
		size_t m = sizes[k % 6] < n - done ? sizes[k % 6] : n - done;
		assert_int_equal(dio_write(d, data + done, m), 0);
		done += m;
	}
	uint64_t end = 0;
	assert_int_equal(dio_end(d, &end), 0);
	assert_int_equal(end, DIO_ALIGN + n);

	/* The full buffers went past the page cache: none of their pages is cached. */
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)(DIO_ALIGN + n));
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	size_t pages = (3 * (size_t)DIO_BUFSIZE) / 4096;
	unsigned char *vec = malloc(pages + 1);
	assert_non_null(vec);
	assert_int_equal(mincore((char *)map + DIO_ALIGN, 3 * (size_t)DIO_BUFSIZE, vec), 0);
	size_t cached = 0;
	for (size_t i = 0; i < pages; i++)
		cached += vec[i] & 1;
	assert_int_equal(cached, 0);
	/* And the file holds the head, then every byte in order. */
	assert_memory_equal(map, head, sizeof(head));
	assert_memory_equal((char *)map + DIO_ALIGN, data, n);
	munmap(map, (size_t)st.st_size);
	free(vec);
	free(data);
	close(fd);
	unlink(path);
}

static void test_dio_errors(void **state)
{
	(void)state;
	char path[64];
	int fd = dio_tmpfile(path);
	struct dio *d;
	/* Only from an aligned offset; the O_DIRECT descriptor is closed all the same. */
	int dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(dio_start(&d, fd, dfd, 100), -EINVAL);
	errno = 0;
	assert_int_equal(fcntl(dfd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);

	/* Writes that fail (descriptors open for reading): the caller hears of it, takes no
	 * more bytes, and learns that nothing past the start is good. */
	close(fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	dfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	assert_true(fd >= 0 && dfd >= 0);
	assert_int_equal(dio_start(&d, fd, dfd, 8192), 0);
	unsigned char *buf = calloc(1, DIO_BUFSIZE);
	assert_non_null(buf);
	int r = 0;
	for (int i = 0; i < 50 && r == 0; i++) {
		r = dio_write(d, buf, DIO_BUFSIZE);
		if (r == 0)
			usleep(1000);
	}
	assert_int_equal(r, -EPIPE); /* the writer stopped taking buffers */
	uint64_t end = 0;
	assert_int_equal(dio_end(d, &end), -EBADF);
	assert_int_equal(end, 8192);
	free(buf);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_err_chain),	  cmocka_unit_test(test_buf),
	    cmocka_unit_test(test_strv),	  cmocka_unit_test(test_opt_parse),
	    cmocka_unit_test(test_config),	  cmocka_unit_test(test_fs_atomic),
	    cmocka_unit_test(test_fs_batch),	  cmocka_unit_test(test_fs_swap),
	    cmocka_unit_test(test_fs_writeback_queue),
	    cmocka_unit_test(test_chunkq_stream), cmocka_unit_test(test_chunkq_bounded),
	    cmocka_unit_test(test_dio_stream),	  cmocka_unit_test(test_dio_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
