#include "fs.h"
#include "cleanup.h"
#include "thread.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>
#include <dirent.h>

#include "banned.h"

enum write_how { W_WRITE, W_SEND, W_PWRITE };

/* The loop of the three below: again after a short write or EINTR; a full non-blocking fd
 * is waited for with poll(2) by write(2) only. */
static int write_loop(int fd, const void *data, size_t len, off_t off, enum write_how how)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = how == W_SEND     ? send(fd, p, len, MSG_NOSIGNAL)
			    : how == W_PWRITE ? pwrite(fd, p, len, off)
					      : write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && how == W_WRITE) {
				struct pollfd pf = {.fd = fd, .events = POLLOUT};
				(void)poll(&pf, 1, -1);
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int fs_write_all(int fd, const void *data, size_t len)
{
	return write_loop(fd, data, len, 0, W_WRITE);
}

int fs_send_all(int fd, const void *data, size_t len)
{
	return write_loop(fd, data, len, 0, W_SEND);
}

int fs_pwrite_all(int fd, const void *data, size_t len, off_t off)
{
	return write_loop(fd, data, len, off, W_PWRITE);
}

int fs_beside_self(const char *name, char *buf, size_t len)
{
	if (len < 2)
		return -ENAMETOOLONG;
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (!slash)
		return -ENOENT;
	size_t room = len - (size_t)(slash + 1 - buf);
	if ((size_t)snprintf(slash + 1, room, "%s", name) >= room)
		return -ENAMETOOLONG;
	return 0;
}

int fs_fsync_dir_at(int dirfd, const char *path)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

static int write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			int sync);

/* The whole content of a new file, its mode, and (sync) an fsync. */
static int fill(int fd, const void *data, size_t len, mode_t mode, int sync)
{
	int r = fs_write_all(fd, data, len);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && sync && fsync(fd) < 0)
		r = -errno;
	return r;
}

int fs_write_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	return write_atomic(dirfd, name, data, len, mode, 1);
}

int fs_write_atomic_nosync_at(int dirfd, const char *name, const void *data, size_t len,
			      mode_t mode)
{
	return write_atomic(dirfd, name, data, len, mode, 0);
}

void fs_batch_init(struct fs_batch *b, int dirfd)
{
	b->dirfd = dirfd;
	b->n = 0;
}

int fs_batch_add(struct fs_batch *b, const char *name, const void *data, size_t len, mode_t mode)
{
	if (b->n >= FS_BATCH_MAX)
		return -E2BIG;
	if (strlen(name) >= sizeof(b->f[0].name) || strchr(name, '/'))
		return -ENAMETOOLONG;
	char *tmp = b->f[b->n].tmp;
	snprintf(tmp, sizeof(b->f[0].tmp), ".tmp-%d-%s", (int)getpid(), name);
	int fd = openat(b->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int r = fill(fd, data, len, mode, 0);
	if (r < 0) {
		close(fd);
		unlinkat(b->dirfd, tmp, 0);
		return r;
	}
	/* Start the writeback now: the blocks are allocated in the running journal
	 * transaction, which the first fsync of the commit then writes for all files. */
	if (len)
		sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	b->f[b->n].fd = fd;
	snprintf(b->f[b->n].name, sizeof(b->f[0].name), "%s", name);
	b->n++;
	return 0;
}

void fs_batch_abort(struct fs_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->f[i].fd >= 0)
			close(b->f[i].fd);
		unlinkat(b->dirfd, b->f[i].tmp, 0);
	}
	b->n = 0;
}

int fs_batch_commit(struct fs_batch *b)
{
	int r = 0;
	for (size_t i = 0; i < b->n && r == 0; i++)
		if (fsync(b->f[i].fd) < 0)
			r = -errno;
	for (size_t i = 0; i < b->n && r == 0; i++)
		if (renameat(b->dirfd, b->f[i].tmp, b->dirfd, b->f[i].name) < 0)
			r = -errno;
	if (r < 0) {
		fs_batch_abort(b); /* the renamed ones are gone from tmp: unlink is a no-op */
		return r;
	}
	for (size_t i = 0; i < b->n; i++)
		close(b->f[i].fd);
	b->n = 0;
	return fsync(b->dirfd) < 0 ? -errno : 0;
}

static int write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			int sync)
{
	char tmp[4096];
	const char *slash = strrchr(name, '/');
	int n;
	/* The temp name carries the pid so that a later cleanup can tell a dead writer's
	 * leftover from a live one's. */
	if (slash)
		n = snprintf(tmp, sizeof(tmp), "%.*s/.tmp-%d-%s", (int)(slash - name), name, (int)getpid(),
			     slash + 1);
	else
		n = snprintf(tmp, sizeof(tmp), ".tmp-%d-%s", (int)getpid(), name);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;

	_cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int r = fill(fd, data, len, mode, sync);
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (!sync)
		return 0;
	if (slash) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name), name);
		return fs_fsync_dir_at(dirfd, dir);
	}
	return fs_fsync_dir_at(dirfd, ".");
}

int fs_swap_fill(int dirfd, const char *spare, const void *data, size_t len, mode_t mode,
		 int *ret_fd)
{
	if (strchr(spare, '/'))
		return -EINVAL;
	_cleanup_close_ int fd = openat(dirfd, spare, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		fd = openat(dirfd, spare, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	/* In place, then cut to length (fs.h: no truncation to zero). */
	int r = fs_pwrite_all(fd, data, len, 0);
	if (r < 0)
		return r;
	if (ftruncate(fd, (off_t)len) < 0 || fchmod(fd, mode) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int fs_swap_commit(int dirfd, const char *name, const char *spare, int sync)
{
	if (strchr(name, '/') || strchr(spare, '/'))
		return -EINVAL;
	/* The old file becomes the spare: no inode is freed, none allocated. */
	if (renameat2(dirfd, spare, dirfd, name, RENAME_EXCHANGE) < 0) {
		if (errno != ENOENT || renameat(dirfd, spare, dirfd, name) < 0)
			return -errno;
	}
	return sync ? fs_fsync_dir_at(dirfd, ".") : 0;
}

int fs_write_swap_at(int dirfd, const char *name, const char *spare, const void *data, size_t len,
		     mode_t mode, int sync)
{
	if (strchr(name, '/'))
		return -EINVAL;
	_cleanup_close_ int fd = -1;
	int r = fs_swap_fill(dirfd, spare, data, len, mode, &fd);
	if (r < 0)
		return r;
	if (sync && fsync(fd) < 0)
		return -errno;
	return fs_swap_commit(dirfd, name, spare, sync);
}

/* The range to hand to the disk once FS_WRITEBACK_EVERY more bytes were written: 1 and
 * *flushed moved past it, or 0 while it is shorter. */
static int writeback_due(uint64_t *flushed, uint64_t size, off_t *ret_off, off_t *ret_len)
{
	if (size < *flushed || size - *flushed < FS_WRITEBACK_EVERY)
		return 0;
	*ret_off = (off_t)*flushed;
	*ret_len = (off_t)(size - *flushed);
	*flushed = size;
	return 1;
}

void fs_writeback_start(int fd, uint64_t *flushed, uint64_t size)
{
	off_t off, len;
	/* A failure costs nothing but the head start. */
	if (writeback_due(flushed, size, &off, &len))
		(void)sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE);
}

/* The background thread of fs_writeback_queue(): requests (a dup of the fd, a range) in a
 * ring; the thread is started on first use and lives as long as the process. */
#define WB_QUEUE 16
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int started; /* 1 running, -1 could not start (requests are done inline) */
	size_t head, n;
	struct wb_req {
		int fd;
		off_t off, len;
	} q[WB_QUEUE];
} wbq = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *wb_main(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&wbq.lock);
		while (!wbq.n)
			pthread_cond_wait(&wbq.cond, &wbq.lock);
		struct wb_req r = wbq.q[wbq.head];
		wbq.head = (wbq.head + 1) % WB_QUEUE;
		wbq.n--;
		pthread_mutex_unlock(&wbq.lock);
		(void)sync_file_range(r.fd, r.off, r.len, SYNC_FILE_RANGE_WRITE);
		close(r.fd);
	}
	return NULL;
}

/* Queue the range for the thread: 0, or -1 when the caller must do it (no thread, the
 * queue full, no descriptor left). */
static int wb_enqueue(int fd, off_t off, off_t len)
{
	int r = -1;
	pthread_mutex_lock(&wbq.lock);
	if (!wbq.started)
		wbq.started = thread_start_quiet(NULL, wb_main, NULL, 64 * 1024) == 0 ? 1 : -1;
	if (wbq.started == 1 && wbq.n < WB_QUEUE) {
		int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (dup >= 0) {
			wbq.q[(wbq.head + wbq.n++) % WB_QUEUE] = (struct wb_req){dup, off, len};
			pthread_cond_signal(&wbq.cond);
			r = 0;
		}
	}
	pthread_mutex_unlock(&wbq.lock);
	return r;
}

void fs_writeback_queue(int fd, uint64_t *flushed, uint64_t size)
{
	off_t off, len;
	if (writeback_due(flushed, size, &off, &len) && wb_enqueue(fd, off, len) < 0)
		(void)sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE);
}

int fs_read_fd(int fd, size_t max, char **ret_data, size_t *ret_len)
{
	size_t cap = 4096, len = 0;
	char *data = malloc(cap + 1);
	if (!data)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			if (cap >= max + 1) {
				free(data);
				return -EFBIG;
			}
			cap *= 2;
			char *n = realloc(data, cap + 1);
			if (!n) {
				free(data);
				return -ENOMEM;
			}
			data = n;
		}
		ssize_t r = read(fd, data + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			free(data);
			return e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > max) {
			free(data);
			return -EFBIG;
		}
	}
	data[len] = '\0';
	*ret_data = data;
	if (ret_len)
		*ret_len = len;
	return 0;
}

int fs_read_all_at(int dirfd, const char *name, size_t max, char **ret_data, size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fs_read_fd(fd, max, ret_data, ret_len);
}

int fs_mkdir_p_at(int dirfd, const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdirat(dirfd, p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdirat(dirfd, p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int rm_rf_children(int fd, dev_t dev)
{
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	int ret = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT && ret == 0)
				ret = -errno;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (st.st_dev != dev) {
				if (ret == 0)
					ret = -EBUSY;
				continue;
			}
			int cfd = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				if (errno != ENOENT && ret == 0)
					ret = -errno;
				continue;
			}
			int r = rm_rf_children(cfd, dev);
			if (r < 0 && ret == 0)
				ret = r;
			if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT &&
			    ret == 0)
				ret = -errno;
		} else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT && ret == 0) {
			ret = -errno;
		}
	}
	return ret;
}

int fs_rm_rf_at(int dirfd, const char *name)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = rm_rf_children(fd, st.st_dev);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
		r = -errno;
	return r;
}

int fs_open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;
	do
		fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return fd < 0 ? -errno : fd;
}

int64_t fs_copy_fd(int in, int out)
{
	int64_t total = 0;
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS)
				break;
			return -errno;
		}
		if (n == 0)
			return total;
		total += n;
	}
	char b[1 << 16];
	for (;;) {
		ssize_t n = read(in, b, sizeof(b));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return total;
		int r = fs_write_all(out, b, (size_t)n);
		if (r < 0)
			return r;
		total += n;
	}
}

struct inode_seen {
	dev_t dev;
	ino_t ino;
};

static int tree_size(int fd, uint64_t *sum, struct inode_seen **seen, size_t *nseen)
{
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (S_ISDIR(st.st_mode)) {
			int cfd = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0)
				return -errno;
			int r = tree_size(cfd, sum, seen, nseen);
			if (r < 0)
				return r;
		} else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
			if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
				int dup = 0;
				for (size_t i = 0; i < *nseen; i++)
					if ((*seen)[i].ino == st.st_ino && (*seen)[i].dev == st.st_dev) {
						dup = 1;
						break;
					}
				if (dup)
					continue;
				struct inode_seen *n = realloc(*seen, (*nseen + 1) * sizeof(**seen));
				if (!n)
					return -ENOMEM;
				*seen = n;
				n[(*nseen)++] = (struct inode_seen){st.st_dev, st.st_ino};
			}
			*sum += (uint64_t)st.st_size;
		}
	}
	return 0;
}

int fs_tree_size_at(int dirfd, const char *name, uint64_t *ret)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint64_t sum = 0;
	struct inode_seen *seen = NULL;
	size_t nseen = 0;
	int r = tree_size(fd, &sum, &seen, &nseen);
	free(seen);
	if (r < 0)
		return r;
	*ret = sum;
	return 0;
}

/* ---- fsync of many files at once ---- */

#define FSYNC_THREADS 8

struct fsync_job {
	const int *fds;
	size_t n, next;
	pthread_mutex_t lock;
	int err;
};

static void *fsync_worker(void *arg)
{
	struct fsync_job *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->lock);
		size_t i = j->next++;
		pthread_mutex_unlock(&j->lock);
		if (i >= j->n)
			return NULL;
		if (fsync(j->fds[i]) < 0) {
			int e = errno;
			pthread_mutex_lock(&j->lock);
			if (!j->err)
				j->err = e;
			pthread_mutex_unlock(&j->lock);
		}
	}
}

int fs_fsync_all(const int *fds, size_t n)
{
	struct fsync_job j = {.fds = fds, .n = n};
	pthread_t t[FSYNC_THREADS];
	size_t nt = 0;
	if (n == 0)
		return 0;
	pthread_mutex_init(&j.lock, NULL);
	/* The helpers take no signals; this thread does its share too. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; nt + 1 < n && nt < FSYNC_THREADS; nt++)
		if (pthread_create(&t[nt], NULL, fsync_worker, &j) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	fsync_worker(&j);
	for (size_t i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&j.lock);
	return -j.err;
}
