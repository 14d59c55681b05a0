#include "regstore.h"
#include "regstore_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "dio.h"
#include "fs.h"
#include "regmanifest.h"
#include "route.h"

#include "banned.h"

/* Manifests are at most REGSRV_MANIFEST_MAX when berth stores them; a root written by another
 * registry may hold bigger ones, so reading allows some more. */
#define RS_MANIFEST_READ_MAX (16u << 20)
/* Upload state nobody used for this long is dropped from memory (the data stays). */
#define RS_UPLOAD_IDLE_MAX (24 * 3600)

struct regstore_upload {
	struct regstore *s;
	struct regstore_upload *next;
	char uuid[REGSRV_UUID_LEN + 1];
	char name[REGSRV_NAME_MAX + 1];
	enum digest_alg alg;
	EVP_MD_CTX *md; /* running hash of the first `hashed` bytes; NULL: rehash on use */
	uint64_t hashed;
	int busy; /* claimed by a request */
	time_t last_used;
	int fd;	       /* the data file while claimed, else -1 */
	uint64_t size; /* its size while claimed */
	uint64_t flushed; /* writeback started up to here */
	int want_dio;	  /* a big body comes: write it with O_DIRECT */
	struct dio *dio;  /* the O_DIRECT stream of this request's body */
};

const char *rs_alg(enum digest_alg alg)
{
	return alg == DIGEST_SHA512 ? "sha512" : "sha256";
}

int rs_path(char *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, RS_PATH_MAX, fmt, ap);
	va_end(ap);
	return n < 0 || n >= RS_PATH_MAX ? -ENAMETOOLONG : 0;
}

int rs_blob_data_path(char *buf, const struct digest *d)
{
	return rs_path(buf, "blobs/%s/%.2s/%s/data", rs_alg(d->alg), d->hex, d->hex);
}

/* The directory part of path ("a/b/c" -> "a/b") into dir; 0 when path has none. */
static int dir_of(const char *path, char *dir)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return 0;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return 1;
}

int rs_write_file(int dirfd, const char *path, const void *data, size_t len)
{
	/* Unique per writer: the server writes the same link from several threads at once
	 * (two pushes of one tag), and a shared temp name would let them mix their bytes.
	 * The pid comes first, as in fs_write_atomic_at, so leftovers can be traced. */
	static atomic_ulong counter;
	char dir[RS_PATH_MAX] = ".", tmp[RS_PATH_MAX];
	const char *base = strrchr(path, '/');
	int has_dir = dir_of(path, dir);
	base = base ? base + 1 : path;
	int r = has_dir ? rs_path(tmp, "%s/.tmp-%d-%lu-%s", dir, (int)getpid(),
				  atomic_fetch_add(&counter, 1), base)
			: rs_path(tmp, ".tmp-%d-%lu-%s", (int)getpid(),
				  atomic_fetch_add(&counter, 1), base);
	if (r < 0)
		return r;
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT && has_dir) {
		r = fs_mkdir_p_at(dirfd, dir, 0755);
		if (r < 0)
			return r;
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return -errno;
	r = fs_write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && renameat(dirfd, tmp, dirfd, path) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	return fs_fsync_dir_at(dirfd, dir);
}

int rs_read_link(int dirfd, const char *path, struct digest *ret)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[DIGEST_STR_MAX + 1];
	ssize_t n;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return digest_parse(buf, ret, NULL) < 0 ? -EINVAL : 0;
}

int rs_write_link(int dirfd, const char *path, const struct digest *d)
{
	char s[DIGEST_STR_MAX];
	digest_format(d, s);
	return rs_write_file(dirfd, path, s, strlen(s));
}

int rs_touch_blob(struct regstore *s, const struct digest *d)
{
	char p[RS_PATH_MAX];
	int r = rs_blob_data_path(p, d);
	if (r < 0)
		return r;
	return utimensat(s->v2fd, p, NULL, 0) < 0 ? -errno : 0;
}

int rs_list_dir(int dirfd, const char *path, struct strv *ret)
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (strv_push(ret, de->d_name) < 0)
			return -ENOMEM;
	}
	return errno ? -errno : 0;
}

int regstore_berth_dir(struct regstore *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->berthfd < 0) {
		if (mkdirat(s->rootfd, "berth", 0700) < 0 && errno != EEXIST) {
			int e = -errno;
			pthread_mutex_unlock(&s->lock);
			return e;
		}
		s->berthfd = openat(s->rootfd, "berth", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s->berthfd < 0) {
			int e = -errno;
			pthread_mutex_unlock(&s->lock);
			return e;
		}
	}
	int fd = s->berthfd;
	pthread_mutex_unlock(&s->lock);
	return fd;
}

int regstore_check(struct regstore *s, struct berr **err)
{
	static const char *const dirs[] = {"blobs", "repositories"};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		int fd = openat(s->v2fd, dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return berr_errno(err, errno, "open '%s'", dirs[i]);
		DIR *d = fdopendir(fd);
		if (!d) {
			int e = errno;
			close(fd);
			return berr_errno(err, e, "read '%s'", dirs[i]);
		}
		errno = 0;
		struct dirent *de = readdir(d);
		int e = de ? 0 : errno;
		closedir(d);
		if (e)
			return berr_errno(err, e, "read '%s'", dirs[i]);
	}
	int dfd = regstore_berth_dir(s);
	if (dfd < 0)
		return berr_errno(err, -dfd, "open 'berth'");
	static atomic_uint counter;
	char name[64];
	snprintf(name, sizeof(name), ".health-%d-%u", (int)getpid(), atomic_fetch_add(&counter, 1));
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return berr_errno(err, errno, "create a file in 'berth'");
	int r = 0;
	if (write(fd, "ok\n", 3) != 3)
		r = berr_errno(err, errno ? errno : EIO, "write a file in 'berth'");
	close(fd);
	if (unlinkat(dfd, name, 0) < 0 && r == 0)
		r = berr_errno(err, errno, "remove a file in 'berth'");
	return r;
}

int rs_gc_lock(struct regstore *s, int exclusive)
{
	int dfd = regstore_berth_dir(s);
	if (dfd < 0)
		return dfd;
	int fd = openat(dfd, "gc.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r;
	do
		r = flock(fd, exclusive ? LOCK_EX : LOCK_SH);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int regstore_open(const char *root, int flags, struct regstore **ret, struct berr **err)
{
	_cleanup_free_ struct regstore *s = calloc(1, sizeof(*s));
	if (!s)
		return berr_set(err, ENOMEM, "out of memory");
	s->rootfd = s->v2fd = s->berthfd = -1;
	int r;
	if (flags & REGSTORE_CREATE) {
		r = fs_mkdir_p_at(AT_FDCWD, root, 0755);
		if (r < 0)
			return berr_errno(err, -r, "create registry root '%s'", root);
	}
	_cleanup_close_ int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 && errno == ENOENT)
		return berr_set(err, ENOENT, "no registry in '%s' (no such directory)", root);
	if (rootfd < 0)
		return berr_errno(err, errno, "open registry root '%s'", root);
	if (flags & REGSTORE_CREATE) {
		static const char *const dirs[] = {"docker/registry/v2/blobs",
						   "docker/registry/v2/repositories"};
		for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
			r = fs_mkdir_p_at(rootfd, dirs[i], 0755);
			if (r < 0)
				return berr_errno(err, -r, "create '%s/%s'", root, dirs[i]);
		}
	}
	int v2fd = openat(rootfd, "docker/registry/v2", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v2fd < 0) {
		if (errno == ENOENT)
			return berr_set(err, ENOENT,
					"no registry in '%s' (docker/registry/v2 is missing)",
					root);
		return berr_errno(err, errno, "open '%s/docker/registry/v2'", root);
	}
	s->rootfd = TAKE_FD(rootfd);
	s->v2fd = v2fd;
	pthread_mutex_init(&s->lock, NULL);
	*ret = TAKE_PTR(s);
	return 0;
}

static int dio_stop(struct regstore_upload *u);

static void upload_free(struct regstore_upload *u)
{
	if (!u)
		return;
	(void)dio_stop(u);
	if (u->fd >= 0)
		close(u->fd);
	EVP_MD_CTX_free(u->md);
	free(u);
}

void regstore_close(struct regstore *s)
{
	if (!s)
		return;
	while (s->uploads) {
		struct regstore_upload *u = s->uploads;
		s->uploads = u->next;
		upload_free(u);
	}
	pthread_mutex_destroy(&s->lock);
	if (s->berthfd >= 0)
		close(s->berthfd);
	close(s->v2fd);
	close(s->rootfd);
	free(s);
}

/* ---- blobs ---- */

static int layer_link_path(char *p, const char *name, const struct digest *d)
{
	return rs_path(p, "repositories/%s/_layers/%s/%s/link", name, rs_alg(d->alg), d->hex);
}

/* The link must name d: distribution refuses a link whose content disagrees with its path. */
static int check_link(struct regstore *s, const char *path, const struct digest *d)
{
	struct digest got;
	int r = rs_read_link(s->v2fd, path, &got);
	if (r < 0)
		return r == -EINVAL ? -ENOENT : r;
	return digest_equal(&got, d) ? 0 : -ENOENT;
}

/* Size of the blob store's data for d; -ENOENT when absent. */
static int blob_data_size(struct regstore *s, const struct digest *d, uint64_t *ret)
{
	char p[RS_PATH_MAX];
	int r = rs_blob_data_path(p, d);
	if (r < 0)
		return r;
	struct stat st;
	if (fstatat(s->v2fd, p, &st, 0) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	if (ret)
		*ret = (uint64_t)st.st_size;
	return 0;
}

int regstore_blob_stat(struct regstore *s, const char *name, const struct digest *d,
		       uint64_t *ret_size)
{
	char p[RS_PATH_MAX];
	int r = layer_link_path(p, name, d);
	if (r < 0)
		return r;
	r = check_link(s, p, d);
	if (r < 0)
		return r;
	return blob_data_size(s, d, ret_size);
}

int regstore_blob_open(struct regstore *s, const char *name, const struct digest *d, int *ret_fd,
		       uint64_t *ret_size)
{
	char p[RS_PATH_MAX];
	int r = layer_link_path(p, name, d);
	if (r < 0)
		return r;
	r = check_link(s, p, d);
	if (r < 0)
		return r;
	r = rs_blob_data_path(p, d);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = openat(s->v2fd, p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	*ret_size = (uint64_t)st.st_size;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int regstore_blob_mount(struct regstore *s, const char *name, const char *from,
			const struct digest *d, uint64_t *ret_size, struct berr **err)
{
	char p[RS_PATH_MAX];
	_cleanup_close_ int lock = rs_gc_lock(s, 0);
	if (lock < 0)
		return berr_errno(err, -lock, "take the gc lock");
	int r = from ? regstore_blob_stat(s, from, d, ret_size) : blob_data_size(s, d, ret_size);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : berr_errno(err, -r, "stat blob");
	/* Fresh again: a gc that already decided the blob was garbage must now keep it. */
	r = rs_touch_blob(s, d);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : berr_errno(err, -r, "touch blob");
	r = layer_link_path(p, name, d);
	if (r == 0)
		r = rs_write_link(s->v2fd, p, d);
	if (r < 0)
		return berr_errno(err, -r, "link blob into '%s'", name);
	return 0;
}

int regstore_blob_delete(struct regstore *s, const char *name, const struct digest *d)
{
	char p[RS_PATH_MAX];
	int r = layer_link_path(p, name, d);
	if (r < 0)
		return r;
	r = check_link(s, p, d);
	if (r < 0)
		return r;
	if (unlinkat(s->v2fd, p, 0) < 0)
		return -errno;
	/* The now empty <hex> directory, as distribution leaves no empty link dirs. */
	char dir[RS_PATH_MAX];
	dir_of(p, dir);
	unlinkat(s->v2fd, dir, AT_REMOVEDIR);
	return 0;
}

/* ---- uploads ---- */

static int upload_dir_path(char *p, const char *name, const char *uuid)
{
	return rs_path(p, "repositories/%s/_uploads/%s", name, uuid);
}

static const EVP_MD *md_of(enum digest_alg alg)
{
	return alg == DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
}

/* Hash the first size bytes of fd with alg into a new context. */
static int hash_fd(int fd, uint64_t size, enum digest_alg alg, EVP_MD_CTX **ret)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || !EVP_DigestInit_ex(md, md_of(alg), NULL)) {
		EVP_MD_CTX_free(md);
		return -ENOMEM;
	}
	const size_t bufsz = 1 << 20;
	_cleanup_free_ char *buf = malloc(bufsz);
	if (!buf) {
		EVP_MD_CTX_free(md);
		return -ENOMEM;
	}
	uint64_t off = 0;
	while (off < size) {
		size_t want = size - off < bufsz ? (size_t)(size - off) : bufsz;
		ssize_t n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? -errno : -EIO;
			EVP_MD_CTX_free(md);
			return e;
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
		off += (uint64_t)n;
	}
	*ret = md;
	return 0;
}

static void make_uuid(char out[REGSRV_UUID_LEN + 1])
{
	unsigned char b[16];
	size_t got = 0;
	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, REGSRV_UUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
}

/* Drop idle in-memory state; called with s->lock held. */
static void prune_idle_locked(struct regstore *s, time_t now)
{
	struct regstore_upload **pp = &s->uploads;
	while (*pp) {
		struct regstore_upload *u = *pp;
		if (!u->busy && now - u->last_used > RS_UPLOAD_IDLE_MAX) {
			*pp = u->next;
			upload_free(u);
		} else {
			pp = &u->next;
		}
	}
}

static void unlist(struct regstore_upload *u)
{
	struct regstore *s = u->s;
	pthread_mutex_lock(&s->lock);
	for (struct regstore_upload **pp = &s->uploads; *pp; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	pthread_mutex_unlock(&s->lock);
}

int regstore_upload_start(struct regstore *s, const char *name, enum digest_alg alg,
			  struct regstore_upload **ret, struct berr **err)
{
	struct regstore_upload *u = calloc(1, sizeof(*u));
	if (!u)
		return berr_set(err, ENOMEM, "out of memory");
	u->s = s;
	u->fd = -1;
	u->alg = alg;
	snprintf(u->name, sizeof(u->name), "%s", name);
	make_uuid(u->uuid);
	u->md = EVP_MD_CTX_new();
	if (!u->md || !EVP_DigestInit_ex(u->md, md_of(alg), NULL)) {
		upload_free(u);
		return berr_set(err, ENOMEM, "out of memory");
	}

	char dir[RS_PATH_MAX], p[RS_PATH_MAX];
	int r = upload_dir_path(dir, name, u->uuid);
	if (r == 0)
		r = fs_mkdir_p_at(s->v2fd, dir, 0755);
	if (r < 0) {
		upload_free(u);
		return berr_errno(err, -r, "create upload directory");
	}
	/* startedat as distribution writes it (Go's time.RFC3339, UTC): its purge reads it. */
	char started[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	r = rs_path(p, "%s/startedat", dir);
	if (r == 0)
		r = rs_write_file(s->v2fd, p, started, strlen(started));
	if (r == 0)
		r = rs_path(p, "%s/data", dir);
	if (r == 0) {
		u->fd = openat(s->v2fd, p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (u->fd < 0)
			r = -errno;
	}
	if (r < 0) {
		fs_rm_rf_at(s->v2fd, dir);
		upload_free(u);
		return berr_errno(err, -r, "create upload");
	}
	u->busy = 1;
	u->last_used = now;
	pthread_mutex_lock(&s->lock);
	prune_idle_locked(s, now);
	u->next = s->uploads;
	s->uploads = u;
	pthread_mutex_unlock(&s->lock);
	*ret = u;
	return 0;
}

int regstore_upload_stat(struct regstore *s, const char *name, const char *uuid, uint64_t *ret_size)
{
	char p[RS_PATH_MAX];
	int r = rs_path(p, "repositories/%s/_uploads/%s/data", name, uuid);
	if (r < 0)
		return r;
	struct stat st;
	if (fstatat(s->v2fd, p, &st, 0) < 0)
		return -errno;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

int regstore_upload_resume(struct regstore *s, const char *name, const char *uuid,
			   struct regstore_upload **ret, struct berr **err)
{
	char p[RS_PATH_MAX];
	int r = rs_path(p, "repositories/%s/_uploads/%s/data", name, uuid);
	if (r < 0)
		return r;
	struct regstore_upload *u;
	pthread_mutex_lock(&s->lock);
	for (u = s->uploads; u; u = u->next)
		if (streq(u->uuid, uuid))
			break;
	if (u && !streq(u->name, name)) {
		pthread_mutex_unlock(&s->lock);
		return -ENOENT;
	}
	if (u && u->busy) {
		pthread_mutex_unlock(&s->lock);
		return -EBUSY;
	}
	if (!u) {
		/* Not in memory: the server restarted since the upload began (or the upload
		 * was never ours: distribution's uploads resume too). */
		u = calloc(1, sizeof(*u));
		if (!u) {
			pthread_mutex_unlock(&s->lock);
			return berr_set(err, ENOMEM, "out of memory");
		}
		u->s = s;
		u->fd = -1;
		u->alg = DIGEST_SHA256;
		snprintf(u->uuid, sizeof(u->uuid), "%s", uuid);
		snprintf(u->name, sizeof(u->name), "%s", name);
		u->next = s->uploads;
		s->uploads = u;
	}
	u->busy = 1;
	u->last_used = time(NULL);
	pthread_mutex_unlock(&s->lock);

	u->fd = openat(s->v2fd, p, O_RDWR | O_CLOEXEC);
	struct stat st;
	if (u->fd < 0 || fstat(u->fd, &st) < 0) {
		r = -errno;
		unlist(u);
		upload_free(u);
		return r == -ENOENT ? -ENOENT : berr_errno(err, -r, "open upload");
	}
	u->size = (uint64_t)st.st_size;
	u->flushed = u->size;
	if (!u->md || u->hashed != u->size) {
		EVP_MD_CTX_free(u->md);
		u->md = NULL;
		r = hash_fd(u->fd, u->size, u->alg, &u->md);
		if (r < 0) {
			regstore_upload_release(u);
			return berr_errno(err, -r, "hash upload data");
		}
		u->hashed = u->size;
	}
	*ret = u;
	return 0;
}

const char *regstore_upload_uuid(const struct regstore_upload *u)
{
	return u->uuid;
}

uint64_t regstore_upload_size(const struct regstore_upload *u)
{
	return u->size;
}

/* The body from here on goes to the disk with O_DIRECT (util/dio.h), when the file
 * system takes it; else it stays buffered. */
static void dio_begin(struct regstore_upload *u)
{
	char p[RS_PATH_MAX];
	u->want_dio = 0;
	if (rs_path(p, "repositories/%s/_uploads/%s/data", u->name, u->uuid) < 0)
		return;
	int dfd = openat(u->s->v2fd, p, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (dfd >= 0 && dio_start(&u->dio, u->fd, dfd, u->size) < 0)
		u->dio = NULL;
}

/* The O_DIRECT stream ends (the bytes it holds are written); after a failure, the file
 * is cut where its good part ends, and the hash starts over when needed. */
static int dio_stop(struct regstore_upload *u)
{
	if (!u->dio)
		return 0;
	uint64_t end;
	int r = dio_end(u->dio, &end);
	u->dio = NULL;
	u->want_dio = 0;
	if (r < 0) {
		(void)ftruncate(u->fd, (off_t)end);
		u->size = end;
		EVP_MD_CTX_free(u->md);
		u->md = NULL;
		u->hashed = 0;
	}
	u->flushed = u->size;
	return r;
}

static int write_buffered(struct regstore_upload *u, const void *data, size_t len,
			  struct berr **err)
{
	int r = fs_pwrite_all(u->fd, data, len, (off_t)u->size);
	if (r < 0) {
		/* Take back what part of it landed: the file and the hash agree again. */
		if (ftruncate(u->fd, (off_t)u->size) < 0) {
			EVP_MD_CTX_free(u->md);
			u->md = NULL;
		}
		return berr_errno(err, -r, "write upload data");
	}
	if (u->md)
		EVP_DigestUpdate(u->md, data, len);
	u->size += len;
	u->hashed = u->size;
	fs_writeback_start(u->fd, &u->flushed, u->size);
	return 0;
}

int regstore_upload_write(struct regstore_upload *u, const void *data, size_t len,
			  struct berr **err)
{
	if (u->want_dio) {
		/* O_DIRECT starts at an aligned offset: the bytes up to it are buffered. */
		size_t head = (DIO_ALIGN - u->size % DIO_ALIGN) % DIO_ALIGN;
		if (head >= len)
			return write_buffered(u, data, len, err);
		if (head) {
			int r = write_buffered(u, data, head, err);
			if (r < 0)
				return r;
			data = (const char *)data + head;
			len -= head;
		}
		dio_begin(u);
	}
	if (!u->dio)
		return write_buffered(u, data, len, err);
	int r = dio_write(u->dio, data, len);
	if (r < 0) {
		/* The writer's own error, rather than its echo (-EPIPE) here. */
		int e = dio_stop(u);
		return berr_errno(err, e < 0 ? -e : -r, "write upload data");
	}
	if (u->md)
		EVP_DigestUpdate(u->md, data, len);
	u->size += len;
	u->hashed = u->size;
	return 0;
}

void regstore_upload_expect(struct regstore_upload *u, uint64_t len)
{
	/* Not for a few bytes; and a client's word reserves at most this much at a time. */
	if (len < (1u << 20))
		return;
	/* Worth its buffers only for a body of several of them. */
	if (len >= 4 * DIO_BUFSIZE && !u->dio)
		u->want_dio = 1;
	if (len > REGSTORE_RESERVE_MAX)
		len = REGSTORE_RESERVE_MAX;
	(void)fallocate(u->fd, FALLOC_FL_KEEP_SIZE, (off_t)u->size, (off_t)len);
}

int regstore_upload_truncate(struct regstore_upload *u, uint64_t size)
{
	(void)dio_stop(u);
	if (size > u->size)
		return -EINVAL;
	if (ftruncate(u->fd, (off_t)size) < 0)
		return -errno;
	u->size = size;
	if (u->flushed > size)
		u->flushed = size;
	/* The running hash went past size and cannot go back: hash again when needed. */
	EVP_MD_CTX_free(u->md);
	u->md = NULL;
	u->hashed = 0;
	return 0;
}

void regstore_upload_release(struct regstore_upload *u)
{
	if (!u)
		return;
	(void)dio_stop(u);
	if (u->fd >= 0) {
		close(u->fd);
		u->fd = -1;
	}
	pthread_mutex_lock(&u->s->lock);
	u->busy = 0;
	u->last_used = time(NULL);
	pthread_mutex_unlock(&u->s->lock);
}

void regstore_upload_count(struct regstore *s, uint64_t *ret_total, uint64_t *ret_active)
{
	uint64_t n = 0, busy = 0;
	pthread_mutex_lock(&s->lock);
	for (struct regstore_upload *u = s->uploads; u; u = u->next) {
		n++;
		busy += u->busy ? 1 : 0;
	}
	pthread_mutex_unlock(&s->lock);
	*ret_total = n;
	*ret_active = busy;
}

int regstore_upload_cancel(struct regstore_upload *u)
{
	char dir[RS_PATH_MAX];
	int r = upload_dir_path(dir, u->name, u->uuid);
	(void)dio_stop(u);
	if (u->fd >= 0) {
		close(u->fd);
		u->fd = -1;
	}
	if (r == 0)
		r = fs_rm_rf_at(u->s->v2fd, dir);
	unlist(u);
	upload_free(u);
	return r;
}

int regstore_upload_commit(struct regstore_upload *u, const struct digest *expected,
			   struct digest *ret_actual, struct berr **err)
{
	struct regstore *s = u->s;
	struct digest got = {.alg = expected->alg};
	int r = dio_stop(u);
	if (r < 0)
		return berr_errno(err, -r, "write upload data");
	if (!u->md || u->alg != expected->alg || u->hashed != u->size) {
		/* Asked for another algorithm than the one we ran (a client that did not say
		 * digest-algorithm), or the state was lost: hash the data once more. */
		EVP_MD_CTX_free(u->md);
		u->md = NULL;
		r = hash_fd(u->fd, u->size, expected->alg, &u->md);
		if (r < 0)
			return berr_errno(err, -r, "hash upload data");
		u->alg = expected->alg;
		u->hashed = u->size;
	}
	/* Finish a copy, so that a failure below leaves the upload as it was. */
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *copy = EVP_MD_CTX_new();
	if (!copy || !EVP_MD_CTX_copy_ex(copy, u->md) || !EVP_DigestFinal_ex(copy, md, &mdlen)) {
		EVP_MD_CTX_free(copy);
		return berr_set(err, ENOMEM, "finish hash");
	}
	EVP_MD_CTX_free(copy);
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(got.hex + 2 * i, 3, "%02x", md[i]);
	if (ret_actual)
		*ret_actual = got;
	if (!digest_equal(&got, expected))
		return berr_set(err, EBADMSG, "digest mismatch");

	/* Whatever regstore_upload_expect() reserved past the data goes (a body that ended
	 * short of its Content-Length), or the blob would keep those blocks. */
	if (ftruncate(u->fd, (off_t)u->size) < 0 || fsync(u->fd) < 0)
		return berr_errno(err, errno, "fsync upload data");

	char src[RS_PATH_MAX], dst[RS_PATH_MAX], dstdir[RS_PATH_MAX], link[RS_PATH_MAX];
	if ((r = rs_path(src, "repositories/%s/_uploads/%s/data", u->name, u->uuid)) < 0 ||
	    (r = rs_blob_data_path(dst, expected)) < 0 ||
	    (r = layer_link_path(link, u->name, expected)) < 0)
		return berr_errno(err, -r, "commit upload");
	dir_of(dst, dstdir);

	_cleanup_close_ int lock = rs_gc_lock(s, 0);
	if (lock < 0)
		return berr_errno(err, -lock, "take the gc lock");
	if (blob_data_size(s, expected, NULL) < 0) {
		r = fs_mkdir_p_at(s->v2fd, dstdir, 0755);
		if (r == 0 && renameat(s->v2fd, src, s->v2fd, dst) < 0)
			r = -errno;
		if (r == 0)
			r = fs_fsync_dir_at(s->v2fd, dstdir);
		if (r < 0)
			return berr_errno(err, -r, "move upload into the blob store");
	}
	/* The rename kept the time of the last chunk, which may be old (a paused upload):
	 * gc must see the blob as new until a manifest references it. */
	r = rs_touch_blob(s, expected);
	if (r == 0)
		r = rs_write_link(s->v2fd, link, expected);
	if (r < 0)
		return berr_errno(err, -r, "link blob into '%s'", u->name);
	close(lock);
	lock = -1;
	regstore_upload_cancel(u);
	return 0;
}

/* ---- manifests and tags ---- */

static int revision_link_path(char *p, const char *name, const struct digest *d)
{
	return rs_path(p, "repositories/%s/_manifests/revisions/%s/%s/link", name, rs_alg(d->alg),
		       d->hex);
}

int regstore_tag_resolve(struct regstore *s, const char *name, const char *tag, struct digest *ret)
{
	char p[RS_PATH_MAX];
	int r = rs_path(p, "repositories/%s/_manifests/tags/%s/current/link", name, tag);
	if (r < 0)
		return r;
	r = rs_read_link(s->v2fd, p, ret);
	return r == -EINVAL ? -ENOENT : r;
}

int regstore_manifest_exists(struct regstore *s, const char *name, const struct digest *d)
{
	char p[RS_PATH_MAX];
	if (revision_link_path(p, name, d) < 0 || check_link(s, p, d) < 0)
		return 0;
	return blob_data_size(s, d, NULL) == 0;
}

int regstore_manifest_linked(struct regstore *s, const char *name, const struct digest *d)
{
	char p[RS_PATH_MAX];
	int r = revision_link_path(p, name, d);
	return r < 0 ? r : check_link(s, p, d);
}

int regstore_manifest_read(struct regstore *s, const struct digest *d, char **ret_data,
			   size_t *ret_len)
{
	char p[RS_PATH_MAX];
	int r = rs_blob_data_path(p, d);
	if (r < 0)
		return r;
	return fs_read_all_at(s->v2fd, p, RS_MANIFEST_READ_MAX, ret_data, ret_len);
}

int regstore_manifest_get(struct regstore *s, const char *name, const struct digest *d,
			  char **ret_data, size_t *ret_len)
{
	int r = regstore_manifest_linked(s, name, d);
	return r < 0 ? r : regstore_manifest_read(s, d, ret_data, ret_len);
}

int regstore_manifest_put(struct regstore *s, const char *name, const struct digest *d,
			  const char *data, size_t len, const struct strv *blobs,
			  const struct strv *manifests, const char *const *tags, size_t ntags,
			  struct strv *ret_missing, struct berr **err)
{
	char p[RS_PATH_MAX];
	int r;
	_cleanup_close_ int lock = rs_gc_lock(s, 0);
	if (lock < 0)
		return berr_errno(err, -lock, "take the gc lock");

	int missing = 0;
	for (size_t i = 0; i < blobs->n; i++) {
		struct digest b;
		if (digest_parse(blobs->v[i], &b, NULL) < 0 ||
		    regstore_blob_stat(s, name, &b, NULL) < 0 || rs_touch_blob(s, &b) < 0) {
			missing++;
			if (ret_missing && strv_push(ret_missing, blobs->v[i]) < 0)
				return berr_set(err, ENOMEM, "out of memory");
		}
	}
	for (size_t i = 0; i < manifests->n; i++) {
		struct digest m;
		if (digest_parse(manifests->v[i], &m, NULL) < 0 ||
		    !regstore_manifest_exists(s, name, &m) || rs_touch_blob(s, &m) < 0) {
			missing++;
			if (ret_missing && strv_push(ret_missing, manifests->v[i]) < 0)
				return berr_set(err, ENOMEM, "out of memory");
		}
	}
	if (missing)
		return berr_set(err, ENOENT, "%d referenced blob%s unknown", missing,
				missing == 1 ? "" : "s");

	r = rs_blob_data_path(p, d);
	if (r < 0)
		return berr_errno(err, -r, "store manifest");
	if (blob_data_size(s, d, NULL) < 0)
		r = rs_write_file(s->v2fd, p, data, len);
	else
		r = rs_touch_blob(s, d);
	if (r < 0)
		return berr_errno(err, -r, "store manifest");
	r = revision_link_path(p, name, d);
	if (r == 0)
		r = rs_write_link(s->v2fd, p, d);
	if (r < 0)
		return berr_errno(err, -r, "link manifest into '%s'", name);
	for (size_t i = 0; i < ntags; i++) {
		r = rs_path(p, "repositories/%s/_manifests/tags/%s/index/%s/%s/link", name, tags[i],
			    rs_alg(d->alg), d->hex);
		if (r == 0)
			r = rs_write_link(s->v2fd, p, d);
		if (r == 0)
			r = rs_path(p, "repositories/%s/_manifests/tags/%s/current/link", name,
				    tags[i]);
		if (r == 0)
			r = rs_write_link(s->v2fd, p, d);
		if (r < 0)
			return berr_errno(err, -r, "tag '%s'", tags[i]);
	}
	return 0;
}

/* Remove a tag directory: the current link first, so that the tag is gone at once even if
 * removing the rest fails halfway. */
static int remove_tag(struct regstore *s, const char *name, const char *tag)
{
	char p[RS_PATH_MAX];
	int r = rs_path(p, "repositories/%s/_manifests/tags/%s/current/link", name, tag);
	if (r < 0)
		return r;
	if (unlinkat(s->v2fd, p, 0) < 0 && errno != ENOENT)
		return -errno;
	r = rs_path(p, "repositories/%s/_manifests/tags/%s", name, tag);
	if (r < 0)
		return r;
	return fs_rm_rf_at(s->v2fd, p);
}

int regstore_tag_delete(struct regstore *s, const char *name, const char *tag, struct berr **err)
{
	struct digest d;
	int r = regstore_tag_resolve(s, name, tag, &d);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : berr_errno(err, -r, "read tag '%s'", tag);
	r = remove_tag(s, name, tag);
	return r < 0 ? berr_errno(err, -r, "delete tag '%s'", tag) : 0;
}

int regstore_manifest_delete(struct regstore *s, const char *name, const struct digest *d,
			     struct berr **err)
{
	char p[RS_PATH_MAX];
	int r = revision_link_path(p, name, d);
	if (r < 0)
		return r;
	r = check_link(s, p, d);
	if (r < 0)
		return r;
	/* Tags pointing at it go first: a tag must never name a missing manifest. */
	_cleanup_strv_ struct strv tags = STRV_INIT;
	r = regstore_tags(s, name, &tags);
	if (r < 0 && r != -ENOENT)
		return berr_errno(err, -r, "list tags of '%s'", name);
	for (size_t i = 0; i < tags.n; i++) {
		struct digest t;
		if (regstore_tag_resolve(s, name, tags.v[i], &t) == 0 && digest_equal(&t, d)) {
			r = remove_tag(s, name, tags.v[i]);
			if (r < 0)
				return berr_errno(err, -r, "delete tag '%s'", tags.v[i]);
		}
	}
	r = rs_path(p, "repositories/%s/_manifests/revisions/%s/%s", name, rs_alg(d->alg), d->hex);
	if (r == 0)
		r = fs_rm_rf_at(s->v2fd, p);
	return r < 0 ? berr_errno(err, -r, "delete manifest") : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int regstore_tags(struct regstore *s, const char *name, struct strv *ret)
{
	char p[RS_PATH_MAX];
	int r = rs_path(p, "repositories/%s/_manifests", name);
	if (r < 0)
		return r;
	struct stat st;
	if (fstatat(s->v2fd, p, &st, 0) < 0)
		return -errno;
	r = rs_path(p, "repositories/%s/_manifests/tags", name);
	if (r < 0)
		return r;
	_cleanup_strv_ struct strv all = STRV_INIT;
	r = rs_list_dir(s->v2fd, p, &all);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (size_t i = 0; i < all.n; i++) {
		/* Only tags that point somewhere: a tag half removed (or half written by a
		 * crashed writer) is no tag. */
		struct digest d;
		if (!regsrv_tag_valid(all.v[i]) || regstore_tag_resolve(s, name, all.v[i], &d) < 0)
			continue;
		if (strv_push(ret, all.v[i]) < 0)
			return -ENOMEM;
	}
	if (ret->n > 1)
		qsort(ret->v, ret->n, sizeof(char *), cmp_str);
	return 0;
}

int regstore_name_cmp(const char *a, const char *b)
{
	/* distribution walks the tree in path order: a separator sorts before any byte. */
	for (;; a++, b++) {
		unsigned char ca = (unsigned char)(*a == '/' ? 0 : *a);
		unsigned char cb = (unsigned char)(*b == '/' ? 0 : *b);
		if (!*a || !*b)
			return *a ? 1 : *b ? -1 : 0;
		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
}

static int cmp_name(const void *a, const void *b)
{
	return regstore_name_cmp(*(char *const *)a, *(char *const *)b);
}

/* Find repositories below dirfd/prefix: directories with _manifests (any: or _layers, or
 * _uploads). */
static int walk_repos(int dirfd, char *prefix, size_t plen, int any, struct strv *ret)
{
	int fd = openat(dirfd, plen ? prefix : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	int found = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (n[0] == '.')
			continue;
		if (n[0] == '_') {
			if (streq(n, "_manifests") ||
			    (any && (streq(n, "_layers") || streq(n, "_uploads"))))
				found = 1;
			continue;
		}
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		size_t nlen = strlen(n);
		if (plen + 1 + nlen > REGSRV_NAME_MAX)
			continue;
		if (plen)
			prefix[plen] = '/';
		memcpy(prefix + plen + (plen ? 1 : 0), n, nlen + 1);
		int r = walk_repos(dirfd, prefix, plen + (plen ? 1 : 0) + nlen, any, ret);
		prefix[plen] = '\0';
		if (r < 0)
			return r;
	}
	if (found && plen > 0 && regsrv_name_valid(prefix) && strv_push(ret, prefix) < 0)
		return -ENOMEM;
	return 0;
}

int rs_walk_repos(struct regstore *s, int any, struct strv *ret)
{
	_cleanup_close_ int fd =
	    openat(s->v2fd, "repositories", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	char prefix[REGSRV_NAME_MAX + 2] = "";
	int r = walk_repos(fd, prefix, 0, any, ret);
	if (r < 0)
		return r;
	if (ret->n > 1)
		qsort(ret->v, ret->n, sizeof(char *), cmp_name);
	return 0;
}

int regstore_catalog(struct regstore *s, struct strv *ret)
{
	return rs_walk_repos(s, 0, ret);
}

int regstore_revisions(struct regstore *s, const char *name,
		       int (*fn)(void *cls, const char *digest), void *cls)
{
	char p[RS_PATH_MAX];
	int r = rs_path(p, "repositories/%s/_manifests", name);
	if (r < 0)
		return r;
	struct stat st;
	if (fstatat(s->v2fd, p, &st, 0) < 0)
		return -errno;
	static const enum digest_alg algs[] = {DIGEST_SHA256, DIGEST_SHA512};
	for (size_t a = 0; a < ARRAY_SIZE(algs); a++) {
		r = rs_path(p, "repositories/%s/_manifests/revisions/%s", name, rs_alg(algs[a]));
		if (r < 0)
			return r;
		_cleanup_strv_ struct strv hexes = STRV_INIT;
		r = rs_list_dir(s->v2fd, p, &hexes);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		for (size_t i = 0; i < hexes.n; i++) {
			char ds[DIGEST_STR_MAX + 8];
			struct digest d;
			snprintf(ds, sizeof(ds), "%s:%.130s", rs_alg(algs[a]), hexes.v[i]);
			if (digest_parse(ds, &d, NULL) < 0)
				continue;
			char lp[RS_PATH_MAX];
			if (revision_link_path(lp, name, &d) < 0 || check_link(s, lp, &d) < 0)
				continue;
			r = fn(cls, ds);
			if (r)
				return r;
		}
	}
	return 0;
}

struct referrers_ctx {
	struct regstore *s;
	const char *name;
	const char *subject;
	const char *artifact_type;
	json_t *out;
	int err;
};

static int referrer_one(void *cls, const char *ds)
{
	struct referrers_ctx *c = cls;
	struct digest d;
	if (digest_parse(ds, &d, NULL) < 0)
		return 0;
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (regstore_manifest_get(c->s, c->name, &d, &data, &len) < 0)
		return 0;
	/* Cheap test first: most manifests have no subject at all. */
	if (!memmem(data, len, "\"subject\"", 9))
		return 0;
	struct regsrv_manifest m;
	if (regsrv_manifest_parse(data, len, NULL, &m, NULL) < 0)
		return 0;
	int r = 0;
	if (m.subject && streq(m.subject, c->subject) &&
	    (!c->artifact_type || (m.artifact_type && streq(m.artifact_type, c->artifact_type)))) {
		json_t *desc = json_pack("{s:s, s:I, s:s}", "mediaType", regsrv_mt_string(m.type),
					 "size", (json_int_t)len, "digest", ds);
		if (!desc ||
		    (m.artifact_type &&
		     json_object_set_new(desc, "artifactType", json_string(m.artifact_type)) < 0) ||
		    (m.annotations && json_object_size(m.annotations) > 0 &&
		     json_object_set(desc, "annotations", m.annotations) < 0) ||
		    json_array_append_new(c->out, desc) < 0) {
			c->err = -ENOMEM;
			r = 1;
		}
	}
	regsrv_manifest_free(&m);
	return r;
}

int regstore_referrers(struct regstore *s, const char *name, const struct digest *subject,
		       const char *artifact_type, json_t **ret, struct berr **err)
{
	char subj[DIGEST_STR_MAX];
	digest_format(subject, subj);
	struct referrers_ctx c = {s, name, subj, artifact_type, json_array(), 0};
	if (!c.out)
		return berr_set(err, ENOMEM, "out of memory");
	int r = regstore_revisions(s, name, referrer_one, &c);
	if (r < 0 && r != -ENOENT) {
		json_decref(c.out);
		return berr_errno(err, -r, "list manifests of '%s'", name);
	}
	if (c.err) {
		json_decref(c.out);
		return berr_set(err, -c.err, "out of memory");
	}
	*ret = c.out;
	return 0;
}
