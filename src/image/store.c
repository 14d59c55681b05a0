/* The local image store; the layout and the locking are described in store.h and
 * docs/internals/STORE.md. */
#include "store.h"

#include <jansson.h>

#include "cleanup.h"
#include "fs.h"
#include "log.h"
#include "strv.h"
#include "ref.h"
#include "unpack.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

/* Records and refs.json are small; anything bigger is not ours. */
#define STORE_JSON_MAX (16u << 20)

/* "<pid>-<16 hex>" */
#define STORE_TMP_NAME_MAX 40

/* Every image's summary and every reference: the file whose rename commits a change. */
#define STORE_INDEX "index.json"
/* The emptied pin file a writer leaves for the next (store_gc_hold); no writer's name. */
#define PIN_SPARE ".spare"

struct store {
	char *root;     /* absolute, canonical */
	int root_fd;
	int tmp_fd;     /* <root>/tmp */
	int images_fd;  /* <root>/images */
	int meta_fd;    /* <root>/locks/meta */
	int gc_fd;      /* <root>/locks/gc */
	int meta_state; /* 0: not held, 1: shared, 2: exclusive */
	int gc_held;    /* gc lock held shared (store_gc_hold) */
	int ro;         /* opened by store_open_ro(): no writes, no gc lock */
	/* The writer's pin file pins/<pid>-<rand> (while gc_held): what it wrote or reuses,
	 * one hex digest a line, for store_image_purge() in other processes. */
	int pins_fd, pin_fd;
	char pin_name[STORE_TMP_NAME_MAX];
	/* index.json as read under the meta lock held now (NULL: not read); dropped when the
	 * lock is. In a batch, changes stay here until store_batch_commit(). */
	json_t *idx;
	/* The bytes idx was parsed from (NULL once it may differ from them), and what a shared
	 * lock read last: taken again by the next index_load() when the file still holds the
	 * same bytes, instead of parsing it again (a writer reads under the shared lock, then
	 * writes under the exclusive one). */
	char *idx_text;
	size_t idx_len;
	json_t *kept;
	char *kept_text;
	size_t kept_len;
	/* Record files renamed into images/ and not yet fsynced: the next index write fsyncs
	 * them side by side with the index, before the index names them. */
	int *rec_fds;
	size_t nrec_fds, rec_cap;
	int batch, batch_dirty;
	/* What the next index write makes unreachable, acted on after it: the record files
	 * of replaced and removed images (names in images/, unlinked) and the records of
	 * purged images (their content deleted unless they were put again). */
	struct strv stale;
	struct store_image **purged;
	size_t npurged;
	/* store_defer_dir_sync(): the directories renamed into and not yet fsynced */
	int defer_dir_sync, dirty_dirs;
	/* store_blob_writers_sync_with_layer(): synced in the next layer's round */
	struct blob_writer *ride[4];
	size_t nride;
};

/* Bits of dirty_dirs, in the order of dirty_dir_names. */
static const char *const dirty_dir_names[] = {"blobs/sha256", "blobs/sha512", "layers", "images"};
#define DIRTY_IMAGES (1 << 3)

/* fsync the directory path (relative to the root) now, or later with the handle's other
 * renames when deferred. */
static void sync_dir(struct store *s, const char *path)
{
	if (s->defer_dir_sync) {
		for (size_t i = 0; i < ARRAY_SIZE(dirty_dir_names); i++)
			if (streq(path, dirty_dir_names[i])) {
				s->dirty_dirs |= 1 << i;
				return;
			}
	}
	if (fs_fsync_dir_at(s->root_fd, path) < 0)
		log_debug("store: fsync %s: %s", path, strerror(errno));
}

void store_defer_dir_sync(struct store *s)
{
	s->defer_dir_sync = 1;
}

/* fsync the directories renamed into, the records not synced yet and (>= 0) fd, side by
 * side: one round of the disk's flushes. */
static int sync_pending(struct store *s, int fd, struct berr **err)
{
	int stack[ARRAY_SIZE(dirty_dir_names) + 8];
	size_t max = ARRAY_SIZE(dirty_dir_names) + s->nrec_fds + 1, n = 0, ndirs = 0;
	int *fds = max <= ARRAY_SIZE(stack) ? stack : calloc(max, sizeof(int));
	int r = 0;
	if (!fds)
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < ARRAY_SIZE(dirty_dir_names); i++) {
		if (!(s->dirty_dirs & (1 << i)))
			continue;
		fds[n] = openat(s->root_fd, dirty_dir_names[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fds[n] < 0) {
			r = berr_errno(err, errno, "store: open %s", dirty_dir_names[i]);
			break;
		}
		n++;
	}
	ndirs = n;
	for (size_t i = 0; r == 0 && i < s->nrec_fds; i++)
		fds[n++] = s->rec_fds[i];
	if (r == 0 && fd >= 0)
		fds[n++] = fd;
	if (r == 0 && (r = fs_fsync_all(fds, n)) < 0)
		r = berr_errno(err, r, "store: fsync");
	for (size_t i = 0; i < ndirs; i++)
		close(fds[i]);
	if (fds != stack)
		free(fds);
	if (r == 0) {
		s->dirty_dirs = 0;
		for (size_t i = 0; i < s->nrec_fds; i++)
			close(s->rec_fds[i]);
		s->nrec_fds = 0;
	}
	return r;
}

int store_sync_dirs(struct store *s, struct berr **err)
{
	return sync_pending(s, -1, err);
}

static const char *const store_dirs[] = {
	"blobs", "blobs/sha256", "blobs/sha512", "layers", "images", "tmp", "locks", "pins",
};

/* ---- small helpers ---- */

static int flock_retry(int fd, int op)
{
	while (flock(fd, op) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static int store_tmp_name(char ret[STORE_TMP_NAME_MAX])
{
	uint64_t rnd;
	ssize_t n = getrandom(&rnd, sizeof(rnd), 0);
	if (n != (ssize_t)sizeof(rnd))
		return n < 0 ? -errno : -EIO;
	snprintf(ret, STORE_TMP_NAME_MAX, "%d-%016llx", (int)getpid(), (unsigned long long)rnd);
	return 0;
}

/* Full digest string to its hex part and blob directory, validating it. */
static int blob_path(const char *digest, char *ret_path, size_t size, struct berr **err)
{
	struct digest d;
	if (!digest)
		return berr_set(err, EINVAL, "missing digest");
	int r = digest_parse(digest, &d, err);
	if (r < 0)
		return r;
	snprintf(ret_path, size, "blobs/%s/%s", d.alg == DIGEST_SHA512 ? "sha512" : "sha256",
		 d.hex);
	return 0;
}

static const char *digest_hex(const char *digest)
{
	const char *colon = strchr(digest, ':');
	return colon ? colon + 1 : digest;
}

/* ---- temp leftovers ---- */

/* Start time of a process in seconds since the epoch (rounded down), or -1. */
static int64_t pid_start_time(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_free_ char *stat = NULL;
	if (fs_read_all_at(AT_FDCWD, path, 4096, &stat, NULL) < 0)
		return -1;
	/* The command name may hold spaces and parentheses: fields restart after the last
	 * ')'. starttime is field 22, the 20th after it. */
	char *p = strrchr(stat, ')');
	if (!p)
		return -1;
	p++;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p + 1, ' ');
	}
	if (!p)
		return -1;
	unsigned long long ticks = strtoull(p + 1, NULL, 10);
	_cleanup_free_ char *pstat = NULL;
	if (fs_read_all_at(AT_FDCWD, "/proc/stat", 1 << 20, &pstat, NULL) < 0)
		return -1;
	char *bt = strstr(pstat, "\nbtime ");
	if (!bt)
		return -1;
	long long btime = strtoll(bt + 7, NULL, 10);
	long hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		return -1;
	return (int64_t)btime + (int64_t)(ticks / (unsigned long long)hz);
}

/* Whether the temp entry name (written by "<pid>-...") belongs to a writer that is gone:
 * the pid does not exist, or the process now holding that pid started after the entry was
 * made (pid reuse). */
static int tmp_entry_dead(int tmpfd, const char *name)
{
	char *end;
	errno = 0;
	long pid = strtol(name, &end, 10);
	if (errno || end == name || *end != '-' || pid <= 0 || pid > 0x7fffffff)
		return 1; /* not a name we make: nobody owns it */
	if (pid == getpid())
		return 0;
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return 1;
	struct stat st;
	if (fstatat(tmpfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	int64_t started = pid_start_time((pid_t)pid);
	/* /proc/stat's btime has one second resolution: allow two of slack. */
	return started >= 0 && started > (int64_t)st.st_mtime + 2;
}

/* Remove the entries of dir whose writer is gone (only count them with dry_run); returns
 * how many or -errno. */
static int clean_dead(int dirfd, int dry_run)
{
	int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	int ret = 0, dead = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, "..") || streq(de->d_name, PIN_SPARE))
			continue;
		if (!tmp_entry_dead(dirfd, de->d_name))
			continue;
		dead++;
		if (dry_run)
			continue;
		log_debug("store: removing leftover %s", de->d_name);
		int r = fs_rm_rf_at(dirfd, de->d_name);
		if (r < 0 && ret == 0)
			ret = r;
	}
	return ret < 0 ? ret : dead;
}

/* Leftovers of dead writers in tmp/ and pins/. Returns the number of dead writers' pin
 * files (a writer was killed) or -errno. */
static int clean_tmp(struct store *s)
{
	int r = clean_dead(s->tmp_fd, 0);
	int writers = clean_dead(s->pins_fd, 0);
	return r < 0 ? r : writers;
}

/* ---- open / close / locks ---- */

static int index_migrate(struct store *s, struct berr **err);
static void pending_clear(struct store *s);
static int record_files(struct store *s, struct strv *ret, struct berr **err);
static int record_name_parse(const char *name, char ret_id[DIGEST_STR_MAX], uint64_t *ret_rev);
static int image_load(struct store *s, const char *id, uint64_t rev, struct store_image **ret,
		      struct berr **err);
static int ref_name_ok(const char *name);

int store_open(const char *root, struct store **ret, struct berr **err)
{
	_cleanup_free_ struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return berr_set(err, ENOMEM, "out of memory");
	s->root_fd = s->tmp_fd = s->images_fd = s->pins_fd = s->meta_fd = s->gc_fd = s->pin_fd = -1;
	int r = fs_mkdir_p_at(AT_FDCWD, root, 0700);
	if (r < 0)
		return berr_errno(err, r, "create store '%s'", root);
	s->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0)
		return berr_errno(err, errno, "open store '%s'", root);
	s->root = realpath(root, NULL);
	if (!s->root) {
		r = berr_errno(err, errno, "open store '%s'", root);
		goto fail;
	}
	for (size_t i = 0; i < ARRAY_SIZE(store_dirs); i++) {
		if (mkdirat(s->root_fd, store_dirs[i], 0700) < 0 && errno != EEXIST) {
			r = berr_errno(err, errno, "create '%s/%s'", root, store_dirs[i]);
			goto fail;
		}
	}
	s->tmp_fd = openat(s->root_fd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	s->images_fd = openat(s->root_fd, "images", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	s->pins_fd = openat(s->root_fd, "pins", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	s->meta_fd = openat(s->root_fd, "locks/meta", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
			    0600);
	s->gc_fd = openat(s->root_fd, "locks/gc", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->tmp_fd < 0 || s->images_fd < 0 || s->pins_fd < 0 || s->meta_fd < 0 || s->gc_fd < 0) {
		r = berr_errno(err, errno, "open store '%s'", root);
		goto fail;
	}
	/* A store made before index.json existed (refs.json and records only) gets one. */
	struct stat st;
	if (fstatat(s->root_fd, STORE_INDEX, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = index_migrate(s, err);
		if (r < 0)
			goto fail;
	}
	/* Leftovers can only be removed while no live writer may be using tmp/: that is
	 * exactly when the gc lock is free. Otherwise the next open or gc will do it. */
	if (flock(s->gc_fd, LOCK_EX | LOCK_NB) == 0) {
		/* A writer was killed (its pin file was left): what it committed before its
		 * record is garbage now, so this command collects it with a gc, which cleans
		 * tmp/ and pins/ too. When another writer comes first, the pin file stays for
		 * the next command. */
		int killed = clean_dead(s->pins_fd, 1);
		if (killed <= 0) {
			r = clean_tmp(s);
			if (r < 0)
				log_debug("store: cleaning tmp/: %s", strerror(-r));
		}
		flock(s->gc_fd, LOCK_UN);
		if (killed > 0 && store_gc(s, NULL) < 0)
			log_debug("store: gc after a dead writer failed");
	}
	*ret = TAKE_PTR(s);
	return 0;
fail:
	store_close(TAKE_PTR(s));
	return r;
}

int store_open_ro(const char *root, struct store **ret, struct berr **err)
{
	_cleanup_free_ struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return berr_set(err, ENOMEM, "out of memory");
	s->root_fd = s->tmp_fd = s->images_fd = s->pins_fd = s->meta_fd = s->gc_fd = s->pin_fd = -1;
	s->ro = 1;
	struct stat st;
	s->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd >= 0 && fstatat(s->root_fd, STORE_INDEX, &st, AT_SYMLINK_NOFOLLOW) == 0)
		s->meta_fd = openat(s->root_fd, "locks/meta", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (s->meta_fd >= 0)
		s->images_fd = openat(s->root_fd, "images",
				      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->images_fd >= 0)
		s->root = strdup(root);
	if (!s->root) {
		/* Missing, or older than index.json: the full open makes or converts it. */
		store_close(TAKE_PTR(s));
		return store_open(root, ret, err);
	}
	*ret = TAKE_PTR(s);
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_unlock_meta(s);
	if (s->pin_fd >= 0) {
		/* Emptied and kept as the next writer's pin file (see store_gc_hold). */
		if (ftruncate(s->pin_fd, 0) < 0 ||
		    renameat2(s->pins_fd, s->pin_name, s->pins_fd, PIN_SPARE, RENAME_NOREPLACE) < 0)
			unlinkat(s->pins_fd, s->pin_name, 0);
		close(s->pin_fd);
	}
	if (s->pins_fd >= 0)
		close(s->pins_fd);
	if (s->dirty_dirs || s->nrec_fds)
		sync_pending(s, -1, NULL);
	for (size_t i = 0; i < s->nrec_fds; i++)
		close(s->rec_fds[i]);
	free(s->rec_fds);
	json_decref(s->kept);
	free(s->kept_text);
	/* Closing the lock files drops their flocks. */
	if (s->gc_fd >= 0)
		close(s->gc_fd);
	if (s->meta_fd >= 0)
		close(s->meta_fd);
	if (s->tmp_fd >= 0)
		close(s->tmp_fd);
	if (s->images_fd >= 0)
		close(s->images_fd);
	if (s->root_fd >= 0)
		close(s->root_fd);
	free(s->root);
	free(s);
}

const char *store_root(const struct store *s)
{
	return s->root;
}

/* Forget what was read under the lock (another process may change it once we let go).
 * Read under the shared lock, it can not have been changed here: kept for index_load() to
 * take again if the file is still the same. */
static void index_drop(struct store *s)
{
	if (s->batch) {
		s->batch = 0;
		pending_clear(s);
	}
	if (s->idx && s->idx_text && s->meta_state == 1) {
		json_decref(s->kept);
		free(s->kept_text);
		s->kept = TAKE_PTR(s->idx);
		s->kept_text = TAKE_PTR(s->idx_text);
		s->kept_len = s->idx_len;
	}
	json_decref(s->idx);
	s->idx = NULL;
	free(s->idx_text);
	s->idx_text = NULL;
}

int store_lock_meta(struct store *s, int exclusive, struct berr **err)
{
	int want = exclusive ? 2 : 1;
	if (s->meta_state == want)
		return 0;
	if (exclusive && s->ro)
		return berr_set(err, EROFS, "store '%s' is open read-only", s->root);
	/* Converting a flock may release it for a moment. */
	index_drop(s);
	int r = flock_retry(s->meta_fd, exclusive ? LOCK_EX : LOCK_SH);
	if (r < 0) {
		s->meta_state = 0;
		return berr_errno(err, r, "lock store '%s'", s->root);
	}
	s->meta_state = want;
	return 0;
}

void store_unlock_meta(struct store *s)
{
	index_drop(s);
	if (s->meta_state)
		flock(s->meta_fd, LOCK_UN);
	s->meta_state = 0;
}

/* Take the meta lock for one call when the caller does not hold it. *taken tells
 * meta_leave() whether to drop it again. Holding it shared when exclusive is needed is a
 * caller bug: upgrading would not be atomic. */
static int meta_enter(struct store *s, int exclusive, int *taken, struct berr **err)
{
	*taken = 0;
	if (s->meta_state == 2 || (s->meta_state == 1 && !exclusive))
		return 0;
	if (s->meta_state == 1)
		return berr_set(err, EDEADLK, "store meta lock is held shared, exclusive needed");
	int r = store_lock_meta(s, exclusive, err);
	if (r < 0)
		return r;
	*taken = 1;
	return 0;
}

static void meta_leave(struct store *s, int taken)
{
	if (taken)
		store_unlock_meta(s);
}

static int index_load(struct store *s, struct berr **err);

/* The value of call (an int or int64_t expression) run with the meta lock held, shared or
 * exclusive (taken for the call when the handle does not hold it: meta_enter) and the
 * index read into s->idx: every function that reads or changes images and names. */
#define WITH_INDEX(s, exclusive, err, call)                                                        \
	({                                                                                         \
		int taken_;                                                                        \
		__typeof__(call) r_ = meta_enter((s), (exclusive), &taken_, (err));                \
		if (r_ == 0) {                                                                     \
			r_ = index_load((s), (err));                                               \
			if (r_ == 0)                                                               \
				r_ = (call);                                                       \
			meta_leave((s), taken_);                                                   \
		}                                                                                  \
		r_;                                                                                \
	})

int store_gc_hold(struct store *s, struct berr **err)
{
	if (s->gc_held)
		return 0;
	if (s->ro)
		return berr_set(err, EROFS, "store '%s' is open read-only", s->root);
	int r = store_tmp_name(s->pin_name);
	if (r < 0)
		return berr_errno(err, r, "lock store '%s'", s->root);
	r = flock_retry(s->gc_fd, LOCK_SH);
	if (r < 0)
		return berr_errno(err, r, "lock store '%s'", s->root);
	/* Made after the lock: a cleaner that saw the lock free is done before this exists.
	 * The last writer's emptied file when there is one, renamed to this writer's name
	 * (nobody else opens that name), then touched: its age is what tells a reused pid
	 * (tmp_entry_dead). A file created and deleted by every writer would cost an inode
	 * each time, which ext4 without a journal makes slow (fs.h, fs_write_swap_at). */
	if (renameat2(s->pins_fd, PIN_SPARE, s->pins_fd, s->pin_name, RENAME_NOREPLACE) == 0) {
		s->pin_fd = openat(s->pins_fd, s->pin_name,
				   O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
		if (s->pin_fd >= 0 && (ftruncate(s->pin_fd, 0) < 0 || futimens(s->pin_fd, NULL) < 0)) {
			close(s->pin_fd);
			s->pin_fd = -1;
		}
		if (s->pin_fd < 0)
			unlinkat(s->pins_fd, s->pin_name, 0);
	}
	if (s->pin_fd < 0)
		s->pin_fd = openat(s->pins_fd, s->pin_name,
				   O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (s->pin_fd < 0) {
		r = berr_errno(err, errno, "lock store '%s': create pins/%s", s->root, s->pin_name);
		flock(s->gc_fd, LOCK_UN);
		return r;
	}
	s->gc_held = 1;
	return 0;
}

/* Record that this writer uses digest (a blob digest or a layer chain id), so that
 * store_image_purge() in another process keeps it. The write happens under the meta lock
 * (shared): a purge, which holds it exclusive while it reads pins and deletes, either ran
 * before (and the caller then finds the blob missing and writes it) or sees the pin.
 * Handles that are not writers pin nothing. */
static int pin(struct store *s, const char *digest)
{
	if (s->pin_fd < 0 || !digest)
		return 0;
	char line[DIGEST_STR_MAX + 2];
	int n = snprintf(line, sizeof(line), "%s\n", digest_hex(digest));
	int taken;
	int r = meta_enter(s, 0, &taken, NULL);
	if (r < 0)
		return r;
	ssize_t w = write(s->pin_fd, line, (size_t)n);
	r = w == n ? 0 : w < 0 ? -errno : -EIO;
	meta_leave(s, taken);
	return r;
}

/* ---- blobs ---- */

int store_blob_has(struct store *s, const char *digest)
{
	char path[DIGEST_STR_MAX + 32];
	if (blob_path(digest, path, sizeof(path), NULL) < 0)
		return 0;
	/* A writer asks in order to reuse it: keep it from a purge. Unpinned, it is "not there"
	 * and gets written again. */
	if (pin(s, digest) < 0)
		return 0;
	struct stat st;
	return fstatat(s->root_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

int store_blob_reuse(struct store *s, const char *digest)
{
	char path[DIGEST_STR_MAX + 32];
	if (!store_blob_has(s, digest) || blob_path(digest, path, sizeof(path), NULL) < 0)
		return 0;
	/* Whoever renamed it there may have been killed before syncing the directory. */
	*strrchr(path, '/') = '\0';
	sync_dir(s, path);
	return 1;
}

int store_blob_open(struct store *s, const char *digest, int *ret_fd, uint64_t *ret_size,
		    struct berr **err)
{
	char path[DIGEST_STR_MAX + 32];
	int r = blob_path(digest, path, sizeof(path), err);
	if (r < 0)
		return r;
	if ((r = pin(s, digest)) < 0)
		return berr_errno(err, r, "open blob %s", digest);
	_cleanup_close_ int fd = openat(s->root_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return berr_errno(err, errno, "open blob %s", digest);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return berr_errno(err, errno, "open blob %s", digest);
	if (!S_ISREG(st.st_mode))
		return berr_set(err, EBADMSG, "blob %s is not a regular file", digest);
	if (ret_size)
		*ret_size = (uint64_t)st.st_size;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int store_blob_read(struct store *s, const char *digest, size_t max, char **ret_data,
		    size_t *ret_len, struct berr **err)
{
	_cleanup_close_ int fd = -1;
	int r = store_blob_open(s, digest, &fd, NULL, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	r = fs_read_fd(fd, max, &data, &len);
	if (r == -EFBIG)
		return berr_set(err, EFBIG, "blob %s is larger than %zu bytes", digest, max);
	if (r < 0)
		return berr_errno(err, r, "read blob %s", digest);
	/* Blobs read whole are manifests and configs: small, and worth checking since
	 * everything else is trusted because of them. */
	struct digest want, got;
	digest_parse(digest, &want, NULL);
	digest_buffer(want.alg, data, len, &got);
	if (!digest_equal(&want, &got))
		return berr_set(err, EBADMSG, "blob %s is corrupt", digest);
	*ret_data = TAKE_PTR(data);
	if (ret_len)
		*ret_len = len;
	return 0;
}

struct blob_writer {
	struct store *s;
	int fd;
	char tmp[STORE_TMP_NAME_MAX];
	struct digester *h;
	int has_expected;
	struct digest expected;
	uint64_t size;
	uint64_t flushed; /* handed to the disk so far (fs_writeback_queue) */
	int finished; /* got is final (blob_writer_digest) */
	int synced;   /* fsynced with a layer, mode set (store_blob_writers_sync_with_layer) */
	int riding;   /* in s->ride */
	struct digest got;
};

/* A writer that goes away no longer rides with the next layer (only a riding one is in
 * the handle's list). */
static void ride_forget(struct blob_writer *w)
{
	struct store *s = w->s;
	if (!w->riding)
		return;
	w->riding = 0;
	for (size_t i = 0; i < s->nride; i++)
		if (s->ride[i] == w) {
			s->ride[i] = s->ride[--s->nride];
			return;
		}
}

void store_blob_writers_sync_with_layer(struct store *s, struct blob_writer **ws, size_t n)
{
	for (size_t i = 0; i < n && s->nride < ARRAY_SIZE(s->ride); i++)
		if (ws[i] && !ws[i]->synced && !ws[i]->riding) {
			blob_writer_digest(ws[i], NULL, NULL);
			ws[i]->riding = 1;
			s->ride[s->nride++] = ws[i];
		}
}

int blob_writer_digest(struct blob_writer *w, char *ret_digest, uint64_t *ret_size)
{
	if (!w->finished) {
		digester_final(w->h, &w->got);
		w->finished = 1;
	}
	if (ret_digest)
		digest_format(&w->got, ret_digest);
	if (ret_size)
		*ret_size = w->size;
	return 0;
}

int store_blob_writer_new(struct store *s, const char *expected_digest, struct blob_writer **ret,
			  struct berr **err)
{
	struct digest expected = {.alg = DIGEST_SHA256};
	if (expected_digest) {
		int r = digest_parse(expected_digest, &expected, err);
		if (r < 0)
			return r;
	}
	int r = store_gc_hold(s, err);
	if (r < 0)
		return r;
	struct blob_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return berr_set(err, ENOMEM, "out of memory");
	w->s = s;
	w->has_expected = expected_digest != NULL;
	w->expected = expected;
	w->h = digester_new(expected.alg);
	r = store_tmp_name(w->tmp);
	if (!w->h || r < 0) {
		digester_free(w->h);
		free(w);
		return berr_errno(err, r < 0 ? r : -ENOMEM, "new blob");
	}
	w->fd = openat(s->tmp_fd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		r = berr_errno(err, errno, "create temp blob in '%s/tmp'", s->root);
		digester_free(w->h);
		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int blob_writer_write(struct blob_writer *w, const void *data, size_t len, struct berr **err)
{
	const char *p = data;
	digester_update(w->h, data, len);
	w->size += len;
	while (len > 0) {
		ssize_t n = write(w->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berr_errno(err, errno, "write blob");
		}
		p += n;
		len -= (size_t)n;
	}
	fs_writeback_queue(w->fd, &w->flushed, w->size);
	return 0;
}

void blob_writer_expect_size(struct blob_writer *w, uint64_t size)
{
	if (size > (uint64_t)INT64_MAX)
		return;
	(void)fallocate(w->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)size);
}

void blob_writer_abort(struct blob_writer *w)
{
	if (!w)
		return;
	ride_forget(w);
	close(w->fd);
	unlinkat(w->s->tmp_fd, w->tmp, 0);
	digester_free(w->h);
	free(w);
}

int blob_writers_commit(struct blob_writer **ws, size_t n, char (*ret_digests)[DIGEST_STR_MAX],
			uint64_t *ret_sizes, struct berr **err)
{
	char(*paths)[DIGEST_STR_MAX + 32] = calloc(n ? n : 1, sizeof(*paths));
	int *fds = calloc(n ? n : 1, sizeof(int));
	char *have = calloc(n ? n : 1, 1);
	int r = 0;
	size_t nfd = 0;
	if (!paths || !fds || !have) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct blob_writer *w = ws[i];
		blob_writer_digest(w, ret_digests[i], NULL);
		if (w->has_expected && !digest_equal(&w->got, &w->expected)) {
			char want_s[DIGEST_STR_MAX];
			r = berr_set(err, EBADMSG, "digest mismatch: expected %s, got %s",
				     digest_format(&w->expected, want_s), ret_digests[i]);
			goto out;
		}
		blob_path(ret_digests[i], paths[i], sizeof(paths[i]), NULL);
		if ((r = pin(w->s, ret_digests[i])) < 0) {
			r = berr_errno(err, r, "store blob %s", ret_digests[i]);
			goto out;
		}
		/* The store has it: whoever renamed it there synced it first. Its directory is
		 * synced before anything refers to it, as for a blob written now. */
		struct stat st;
		have[i] = fstatat(w->s->root_fd, paths[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			  S_ISREG(st.st_mode) && (uint64_t)st.st_size == w->size;
		ride_forget(w);
		if (have[i] || w->synced)
			continue;
		if (fchmod(w->fd, 0444) < 0) {
			r = berr_errno(err, errno, "store blob %s", ret_digests[i]);
			goto out;
		}
		fds[nfd++] = w->fd;
	}
	/* Side by side: the disk's flushes of concurrent fsyncs coalesce. */
	if ((r = fs_fsync_all(fds, nfd)) < 0) {
		r = berr_errno(err, r, "store blobs: fsync");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct blob_writer *w = ws[i];
		if (have[i])
			unlinkat(w->s->tmp_fd, w->tmp, 0);
		else if (renameat(w->s->tmp_fd, w->tmp, w->s->root_fd, paths[i]) < 0) {
			r = berr_errno(err, errno, "store blob %s", ret_digests[i]);
			goto out;
		}
		*strrchr(paths[i], '/') = '\0';
		sync_dir(w->s, paths[i]);
		if (ret_sizes)
			ret_sizes[i] = w->size;
		close(w->fd);
		digester_free(w->h);
		free(w);
		ws[i] = NULL;
	}
out:
	for (size_t i = 0; i < n; i++) {
		blob_writer_abort(ws[i]);
		ws[i] = NULL;
	}
	free(paths);
	free(fds);
	free(have);
	return r;
}

int blob_writer_commit(struct blob_writer *w, char *ret_digest, uint64_t *ret_size,
		       struct berr **err)
{
	char d[1][DIGEST_STR_MAX];
	uint64_t size;
	int r = blob_writers_commit(&w, 1, d, &size, err);
	if (r < 0)
		return r;
	if (ret_digest)
		memcpy(ret_digest, d[0], strlen(d[0]) + 1);
	if (ret_size)
		*ret_size = size;
	return 0;
}

int store_blob_put(struct store *s, const void *data, size_t len, char *ret_digest,
		   struct berr **err)
{
	struct blob_writer *w = NULL;
	int r = store_blob_writer_new(s, NULL, &w, err);
	if (r < 0)
		return r;
	r = blob_writer_write(w, data, len, err);
	if (r < 0) {
		blob_writer_abort(w);
		return r;
	}
	return blob_writer_commit(w, ret_digest, NULL, err);
}

/* ---- layers ---- */

void store_chain_id(const char *parent_chain_id, const char *diff_id, char *ret)
{
	if (!parent_chain_id) {
		snprintf(ret, DIGEST_STR_MAX, "%s", diff_id);
		return;
	}
	/* OCI image spec, "ChainID": SHA256(ChainID(parent) + " " + DiffID). */
	char buf[2 * DIGEST_STR_MAX + 2];
	int n = snprintf(buf, sizeof(buf), "%s %s", parent_chain_id, diff_id);
	struct digest d;
	digest_buffer(DIGEST_SHA256, buf, (size_t)n, &d);
	digest_format(&d, ret);
}

static int copy_digest_field(json_t *obj, const char *key, int optional, char *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		out[0] = '\0';
		return optional ? 0 : -EBADMSG;
	}
	if (!json_is_string(v) || !digest_valid(json_string_value(v)))
		return -EBADMSG;
	snprintf(out, DIGEST_STR_MAX, "%s", json_string_value(v));
	return 0;
}

int store_layer_get(struct store *s, const char *chain_id, struct store_layer_info *ret,
		    struct berr **err)
{
	if (!digest_valid(chain_id))
		return berr_set(err, EINVAL, "invalid layer id '%.80s'", chain_id ? chain_id : "");
	char path[DIGEST_STR_MAX + 32];
	snprintf(path, sizeof(path), "layers/%s/info.json", digest_hex(chain_id));
	_cleanup_free_ char *data = NULL;
	int r = pin(s, chain_id);
	if (r < 0)
		return berr_errno(err, r, "read layer %s", chain_id);
	r = fs_read_all_at(s->root_fd, path, STORE_JSON_MAX, &data, NULL);
	if (r == -ENOENT)
		return berr_set(err, ENOENT, "layer %s not found", chain_id);
	if (r < 0)
		return berr_errno(err, r, "read layer %s", chain_id);
	json_error_t je;
	_cleanup_json_ json_t *j = json_loads(data, 0, &je);
	memset(ret, 0, sizeof(*ret));
	json_t *size = j ? json_object_get(j, "size") : NULL;
	char parent[DIGEST_STR_MAX];
	if (!json_is_object(j) || copy_digest_field(j, "diff_id", 0, ret->diff_id) < 0 ||
	    copy_digest_field(j, "chain_id", 0, ret->chain_id) < 0 ||
	    copy_digest_field(j, "parent", 1, parent) < 0 || !json_is_integer(size) ||
	    json_integer_value(size) < 0 || !streq(ret->chain_id, chain_id))
		return berr_set(err, EBADMSG, "layer %s: info.json is corrupt", chain_id);
	ret->size = (uint64_t)json_integer_value(size);
	return 0;
}

char *store_layer_dir(struct store *s, const char *chain_id)
{
	char *p = NULL;
	if (asprintf(&p, "%s/layers/%s/diff", s->root, digest_hex(chain_id)) < 0)
		return NULL;
	return p;
}

/* ---- images ---- */

static char *json_strdup(json_t *obj, const char *key, int optional, int *bad)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		if (!optional)
			*bad = 1;
		return NULL;
	}
	if (!json_is_string(v)) {
		*bad = 1;
		return NULL;
	}
	char *r = strdup(json_string_value(v));
	if (!r)
		*bad = 1;
	return r;
}

static uint64_t json_u64(json_t *obj, const char *key, int *bad)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		*bad = 1;
		return 0;
	}
	return (uint64_t)json_integer_value(v);
}

void store_image_free(struct store_image *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->nlayers; i++) {
		struct store_image_layer *l = &img->layers[i];
		free(l->digest);
		free(l->media_type);
		free(l->diff_id);
		free(l->chain_id);
	}
	free(img->layers);
	free(img->id);
	free(img->manifest_digest);
	free(img->manifest_media_type);
	free(img->created);
	free(img->parent);
	free(img->last_tag_time);
	free(img);
}

void store_image_list_free(struct store_image **imgs, size_t n)
{
	if (!imgs)
		return;
	for (size_t i = 0; i < n; i++)
		store_image_free(imgs[i]);
	free(imgs);
}

static inline void store_image_freep(struct store_image **p)
{
	store_image_free(*p);
}
#define _cleanup_image_ _cleanup_(store_image_freep)

static int opt_digest_ok(const char *d)
{
	return !d || digest_valid(d);
}

static int json_set_str(json_t *obj, const char *key, const char *val)
{
	if (!val)
		return 0;
	return json_object_set_new(obj, key, json_string(val));
}

/* The fields a record shares with its summary in the index. */
static void image_common_from_json(struct store_image *img, json_t *j, int *bad)
{
	img->manifest_digest = json_strdup(j, "manifest_digest", 1, bad);
	img->created = json_strdup(j, "created", 1, bad);
	img->parent = json_strdup(j, "parent", 1, bad);
	img->size = json_u64(j, "size", bad);
	if (!opt_digest_ok(img->manifest_digest) || !opt_digest_ok(img->parent))
		*bad = 1;
}

static int image_common_to_json(json_t *j, const struct store_image *img)
{
	int r = json_set_str(j, "manifest_digest", img->manifest_digest);
	r |= json_set_str(j, "created", img->created);
	r |= json_set_str(j, "parent", img->parent);
	return r | json_object_set_new(j, "size", json_integer((json_int_t)img->size));
}

/* Parse and check a record; NULL when it is not one. */
static struct store_image *image_from_json(json_t *j)
{
	if (!json_is_object(j))
		return NULL;
	_cleanup_image_ struct store_image *img = calloc(1, sizeof(*img));
	if (!img)
		return NULL;
	int bad = 0;
	img->id = json_strdup(j, "id", 0, &bad);
	img->manifest_media_type = json_strdup(j, "manifest_media_type", 1, &bad);
	img->last_tag_time = json_strdup(j, "last_tag_time", 1, &bad);
	image_common_from_json(img, j, &bad);
	json_t *layers = json_object_get(j, "layers");
	if (bad || !json_is_array(layers) || !digest_valid(img->id))
		return NULL;
	size_t n = json_array_size(layers);
	if (n > 0) {
		img->layers = calloc(n, sizeof(*img->layers));
		if (!img->layers)
			return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *lj = json_array_get(layers, i);
		struct store_image_layer *l = &img->layers[i];
		img->nlayers = i + 1;
		if (!json_is_object(lj))
			return NULL;
		l->digest = json_strdup(lj, "digest", 1, &bad);
		l->media_type = json_strdup(lj, "media_type", 1, &bad);
		l->diff_id = json_strdup(lj, "diff_id", 0, &bad);
		l->chain_id = json_strdup(lj, "chain_id", 0, &bad);
		l->blob_size = json_u64(lj, "blob_size", &bad);
		l->size = json_u64(lj, "size", &bad);
		if (bad || !opt_digest_ok(l->digest) || !digest_valid(l->diff_id) ||
		    !digest_valid(l->chain_id))
			return NULL;
	}
	return TAKE_PTR(img);
}

static json_t *image_to_json(const struct store_image *img)
{
	_cleanup_json_ json_t *j = json_object();
	json_t *layers = json_array();
	if (!j || !layers || json_object_set_new(j, "layers", layers) < 0)
		return NULL;
	int r = json_set_str(j, "id", img->id);
	r |= image_common_to_json(j, img);
	r |= json_set_str(j, "manifest_media_type", img->manifest_media_type);
	r |= json_set_str(j, "last_tag_time", img->last_tag_time);
	for (size_t i = 0; i < img->nlayers; i++) {
		const struct store_image_layer *l = &img->layers[i];
		json_t *lj = json_object();
		if (!lj || json_array_append_new(layers, lj) < 0)
			return NULL;
		r |= json_set_str(lj, "digest", l->digest);
		r |= json_set_str(lj, "media_type", l->media_type);
		r |= json_object_set_new(lj, "blob_size", json_integer((json_int_t)l->blob_size));
		r |= json_set_str(lj, "diff_id", l->diff_id);
		r |= json_set_str(lj, "chain_id", l->chain_id);
		r |= json_object_set_new(lj, "size", json_integer((json_int_t)l->size));
	}
	return r ? NULL : TAKE_PTR(j);
}

static int image_check(struct store *s, const struct store_image *img, struct berr **err)
{
	if (!digest_valid(img->id))
		return berr_set(err, EINVAL, "invalid image id '%.80s'", img->id ? img->id : "");
	if (!store_blob_has(s, img->id))
		return berr_set(err, ENOENT, "image %s: config blob is not in the store", img->id);
	if (img->manifest_digest && !store_blob_has(s, img->manifest_digest))
		return berr_set(err, ENOENT, "image %s: manifest %.140s is not in the store", img->id,
				img->manifest_digest);
	if (img->parent && !digest_valid(img->parent))
		return berr_set(err, EINVAL, "image %s: invalid parent '%.80s'", img->id,
				img->parent);
	if (img->nlayers > 0 && !img->layers)
		return berr_set(err, EINVAL, "image %s: missing layers", img->id);
	const char *prev = NULL;
	for (size_t i = 0; i < img->nlayers; i++) {
		const struct store_image_layer *l = &img->layers[i];
		char chain[DIGEST_STR_MAX];
		if (!digest_valid(l->diff_id) || !digest_valid(l->chain_id))
			return berr_set(err, EINVAL, "image %s: layer %zu: invalid diff or chain id",
					img->id, i);
		store_chain_id(prev, l->diff_id, chain);
		if (!streq(chain, l->chain_id))
			return berr_set(err, EINVAL,
					"image %s: layer %zu: chain id %s does not follow from "
					"its parent and diff id",
					img->id, i, l->chain_id);
		struct store_layer_info info;
		int r = store_layer_get(s, l->chain_id, &info, err);
		if (r < 0)
			return berr_wrap(err, "image %s", img->id);
		if (l->digest && !store_blob_has(s, l->digest))
			return berr_set(err, ENOENT, "image %s: layer blob %.140s is not in the store",
					img->id, l->digest);
		prev = l->chain_id;
	}
	return 0;
}

/* ---- the index ---- */

/* "<hex>.<rev>.json" and its NUL at most. */
#define RECORD_NAME_MAX (128 + 1 + 20 + sizeof(".json"))

/* The file in images/ of an image's record: "<hex>.json", and "<hex>.<rev>.json" once it
 * was replaced (the index summary's "rev" says which is current). */
static void record_name(const char *id, uint64_t rev, char ret[RECORD_NAME_MAX])
{
	if (rev)
		snprintf(ret, RECORD_NAME_MAX, "%s.%llu.json", digest_hex(id), (unsigned long long)rev);
	else
		snprintf(ret, RECORD_NAME_MAX, "%s.json", digest_hex(id));
}

/* A name record_name() makes back to the image id and rev; -EINVAL for any other name. */
static int record_name_parse(const char *name, char ret_id[DIGEST_STR_MAX], uint64_t *ret_rev)
{
	size_t hl = strspn(name, "0123456789abcdef");
	const char *p = name + hl;
	char *end = (char *)p;
	uint64_t rev = 0;
	if (hl != 64 && hl != 128)
		return -EINVAL;
	if (p[0] == '.' && p[1] >= '1' && p[1] <= '9') {
		errno = 0;
		rev = strtoull(p + 1, &end, 10);
		if (errno || rev > INT64_MAX)
			return -EINVAL;
	}
	if (!streq(end, ".json"))
		return -EINVAL;
	snprintf(ret_id, DIGEST_STR_MAX, "%s:%.*s", hl == 128 ? "sha512" : "sha256", (int)hl, name);
	*ret_rev = rev;
	return 0;
}

/* The summary of a record kept in the index: what `images` and resolve need, and which
 * revision of the record file is current. */
static json_t *image_summary(const struct store_image *img, uint64_t rev)
{
	_cleanup_json_ json_t *j = json_object();
	if (!j)
		return NULL;
	int r = image_common_to_json(j, img);
	if (rev)
		r |= json_object_set_new(j, "rev", json_integer((json_int_t)rev));
	return r ? NULL : TAKE_PTR(j);
}

static uint64_t summary_rev(json_t *sum)
{
	json_t *v = json_object_get(sum, "rev");
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
							       : 0;
}

static int opt_string(json_t *obj, const char *key, int digest)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_string(v) || (digest && !digest_valid(json_string_value(v))))
		return -EBADMSG;
	return 0;
}

static int opt_u64(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return !v || (json_is_integer(v) && json_integer_value(v) >= 0) ? 0 : -EBADMSG;
}

/* Shape check: {"images": {id: summary}, "refs": {name: id of an image}, "version": 1}. */
static int index_check(json_t *j)
{
	json_t *imgs = json_object_get(j, "images"), *refs = json_object_get(j, "refs");
	if (!json_is_object(imgs) || !json_is_object(refs))
		return -EBADMSG;
	const char *k;
	json_t *v;
	json_object_foreach(imgs, k, v) {
		if (!digest_valid(k) || !json_object_get(v, "size") || opt_u64(v, "size") < 0 ||
		    opt_u64(v, "rev") < 0 || opt_string(v, "created", 0) < 0 ||
		    opt_string(v, "parent", 1) < 0 || opt_string(v, "manifest_digest", 1) < 0)
			return -EBADMSG;
	}
	json_object_foreach(refs, k, v) {
		if (!json_is_string(v) || !json_object_get(imgs, json_string_value(v)))
			return -EBADMSG;
	}
	return 0;
}

/* Read the index into s->idx unless it is there (it goes with the meta lock). */
static int index_load(struct store *s, struct berr **err)
{
	if (s->idx)
		return 0;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r = fs_read_all_at(s->root_fd, STORE_INDEX, STORE_JSON_MAX, &data, &len);
	if (r < 0)
		return berr_errno(err, r, "read '%s/" STORE_INDEX "'", s->root);
	json_t *j = NULL;
	if (s->kept && len == s->kept_len && memcmp(data, s->kept_text, len) == 0) {
		/* Unchanged since the shared lock read it: the same document. */
		j = TAKE_PTR(s->kept);
	} else {
		json_error_t je;
		j = json_loadb(data, len, 0, &je);
		if (!json_is_object(j) || index_check(j) < 0) {
			json_decref(j);
			return berr_set(err, EBADMSG, "'%s/" STORE_INDEX "' is corrupt", s->root);
		}
	}
	json_decref(TAKE_PTR(s->kept));
	free(s->kept_text);
	s->kept_text = NULL;
	s->idx = j;
	s->idx_text = TAKE_PTR(data);
	s->idx_len = len;
	return 0;
}

static json_t *index_images(struct store *s)
{
	return json_object_get(s->idx, "images");
}

static json_t *index_refs(struct store *s)
{
	return json_object_get(s->idx, "refs");
}

static void pending_clear(struct store *s)
{
	/* Records written for an index write that does not happen: garbage for gc. */
	for (size_t i = 0; i < s->nrec_fds; i++)
		close(s->rec_fds[i]);
	s->nrec_fds = 0;
	strv_free(&s->stale);
	store_image_list_free(s->purged, s->npurged);
	s->purged = NULL;
	s->npurged = 0;
}

static int64_t purge_content(struct store *s, struct store_image *const *imgs, size_t n);

/* Write the index (the commit point), then remove the record files it no longer names
 * and, for purges, the content. Returns the bytes purged. */
static int64_t index_flush(struct store *s, struct berr **err)
{
	_cleanup_free_ char *text = json_dumps(s->idx, JSON_SORT_KEYS | JSON_COMPACT);
	_cleanup_close_ int fd = -1;
	/* It differs from what was read now. */
	free(TAKE_PTR(s->idx_text));
	/* Swapped with a spare, not renamed over: no inode freed or allocated on each change
	 * (fs.h). The exclusive meta lock makes this the only writer. Before the swap, one round
	 * of fsyncs side by side: the new index, the records it names for the first time and
	 * the directories they (and a deferring writer's blobs and layers) were renamed into. */
	int r = text ? fs_swap_fill(s->root_fd, "." STORE_INDEX ".spare", text, strlen(text), 0600,
				    &fd)
		     : -ENOMEM;
	if (r == 0 && (r = sync_pending(s, fd, err)) < 0) {
		json_decref(TAKE_PTR(s->idx));
		pending_clear(s);
		return r;
	}
	if (r == 0)
		r = fs_swap_commit(s->root_fd, STORE_INDEX, "." STORE_INDEX ".spare", 1);
	if (r < 0) {
		json_decref(TAKE_PTR(s->idx));
		pending_clear(s);
		return berr_errno(err, r, "write '%s/" STORE_INDEX "'", s->root);
	}
	/* Unreachable now; a kill before this leaves files that gc removes. */
	for (size_t i = 0; i < s->stale.n; i++)
		unlinkat(s->images_fd, s->stale.v[i], 0);
	if (s->stale.n)
		fsync(s->images_fd);
	/* A record put again after its removal keeps its content (it is marked). */
	size_t k = 0;
	for (size_t i = 0; i < s->npurged; i++)
		if (json_object_get(index_images(s), s->purged[i]->id))
			store_image_free(s->purged[i]);
		else
			s->purged[k++] = s->purged[i];
	s->npurged = k;
	int64_t freed = k ? purge_content(s, s->purged, k) : 0;
	pending_clear(s);
	return freed;
}

/* After a change to s->idx: write it, unless a batch collects the changes. Returns the
 * bytes purged. */
static int64_t index_changed(struct store *s, struct berr **err)
{
	if (s->batch) {
		s->batch_dirty = 1;
		return 0;
	}
	return index_flush(s, err);
}

int store_batch_begin(struct store *s, struct berr **err)
{
	if (s->meta_state != 2)
		return berr_set(err, EDEADLK, "a store batch needs the meta lock held exclusive");
	if (s->batch)
		return berr_set(err, EBUSY, "a store batch is open already");
	int r = index_load(s, err);
	if (r < 0)
		return r;
	s->batch = 1;
	s->batch_dirty = 0;
	return 0;
}

int store_batch_commit(struct store *s, struct berr **err)
{
	if (!s->batch)
		return berr_set(err, EINVAL, "no store batch is open");
	s->batch = 0;
	if (!s->batch_dirty)
		return 0;
	int64_t r = index_flush(s, err);
	return r < 0 ? (int)r : 0;
}

void store_batch_abort(struct store *s)
{
	if (!s->batch)
		return;
	s->batch = 0;
	pending_clear(s);
	json_decref(TAKE_PTR(s->idx));
	free(TAKE_PTR(s->idx_text));
}

/* Build index.json from the records and refs.json of an older store (or an empty one).
 * Records that do not parse are left out (gc removes their files), and references to
 * records that are not there. */
static int index_migrate(struct store *s, struct berr **err)
{
	int r = store_lock_meta(s, 1, err);
	if (r < 0)
		return r;
	struct stat st;
	if (fstatat(s->root_fd, STORE_INDEX, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		store_unlock_meta(s);
		return 0; /* another process did it meanwhile */
	}
	_cleanup_json_ json_t *idx = json_pack("{s{}s{}si}", "images", "refs", "version", 1);
	_cleanup_strv_ struct strv names = STRV_INIT;
	r = idx ? record_files(s, &names, err) : berr_set(err, ENOMEM, "out of memory");
	json_t *imgs = json_object_get(idx, "images"), *refs = json_object_get(idx, "refs");
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		char id[DIGEST_STR_MAX];
		uint64_t rev;
		struct store_image *img = NULL;
		/* Revisions came with the index: an older store has none. */
		if (record_name_parse(names.v[i], id, &rev) < 0 || rev ||
		    image_load(s, id, 0, &img, NULL) < 0)
			continue;
		if (json_object_set_new(imgs, img->id, image_summary(img, 0)) < 0)
			r = berr_set(err, ENOMEM, "out of memory");
		store_image_free(img);
	}
	_cleanup_free_ char *data = NULL;
	if (r == 0 && fs_read_all_at(s->root_fd, "refs.json", STORE_JSON_MAX, &data, NULL) == 0) {
		json_error_t je;
		_cleanup_json_ json_t *old = json_loads(data, 0, &je);
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(old, "refs"), k, v) {
			if (ref_name_ok(k) && json_is_string(v) &&
			    json_object_get(imgs, json_string_value(v)))
				json_object_set(refs, k, v);
		}
	}
	if (r == 0) {
		s->idx = json_incref(idx);
		int64_t w = index_flush(s, err);
		r = w < 0 ? (int)w : 0;
	}
	if (r == 0)
		unlinkat(s->root_fd, "refs.json", 0);
	store_unlock_meta(s);
	return r < 0 ? berr_wrap(err, "convert store '%s'", s->root) : 0;
}

/* ---- records ---- */

/* Past the revision of id's record the index names, and past any this change made stale
 * (an image removed and put again in one batch): a file that the index on disk names is
 * never written over, so a kill before the commit leaves the old record as it was. */
static uint64_t next_rev(struct store *s, const char *id, json_t *sum)
{
	uint64_t rev = sum ? summary_rev(sum) + 1 : 0;
	for (size_t i = 0; i < s->stale.n; i++) {
		char sid[DIGEST_STR_MAX];
		uint64_t srev;
		if (record_name_parse(s->stale.v[i], sid, &srev) == 0 && streq(sid, id) &&
		    srev >= rev)
			rev = srev + 1;
	}
	return rev;
}

/* images/name through a temp file, renamed into place before it is synced: the name is
 * one the index on disk does not use (next_rev), so nothing reads it until the index
 * names it, and the index write fsyncs it and images/ first (sync_pending). A kill or
 * crash before that leaves a file gc removes. */
static int record_write(struct store *s, const char *name, const char *text, size_t len)
{
	char tmp[STORE_TMP_NAME_MAX];
	int r = store_tmp_name(tmp);
	if (r < 0)
		return r;
	if (s->nrec_fds == s->rec_cap) {
		size_t cap = s->rec_cap ? 2 * s->rec_cap : 4;
		int *v = realloc(s->rec_fds, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->rec_fds = v;
		s->rec_cap = cap;
	}
	_cleanup_close_ int fd =
		openat(s->tmp_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if ((r = fs_write_all(fd, text, len)) < 0) {
		unlinkat(s->tmp_fd, tmp, 0);
		return r;
	}
	if (renameat(s->tmp_fd, tmp, s->images_fd, name) < 0) {
		r = -errno;
		unlinkat(s->tmp_fd, tmp, 0);
		return r;
	}
	s->rec_fds[s->nrec_fds++] = TAKE_FD(fd);
	s->dirty_dirs |= DIRTY_IMAGES;
	return 0;
}

/* The functions named *_unlocked need the meta lock held and the index read
 * (WITH_INDEX). */
static int image_put_unlocked(struct store *s, const struct store_image *img, struct berr **err)
{
	/* Checked under the lock: gc (which needs it too) can not remove what we checked
	 * before the record that keeps it is written. */
	int r = image_check(s, img, err);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *j = image_to_json(img);
	_cleanup_free_ char *text = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	if (!text)
		return berr_set(err, ENOMEM, "out of memory");
	json_t *old = json_object_get(index_images(s), img->id);
	char name[RECORD_NAME_MAX], old_name[RECORD_NAME_MAX];
	if (old) {
		_cleanup_free_ char *cur = NULL;
		record_name(img->id, summary_rev(old), old_name);
		if (fs_read_all_at(s->images_fd, old_name, STORE_JSON_MAX, &cur, NULL) == 0 &&
		    streq(cur, text))
			return 0; /* the same record again: nothing changes */
	}
	uint64_t rev = next_rev(s, img->id, old);
	record_name(img->id, rev, name);
	json_t *sum = image_summary(img, rev);
	if (!sum)
		return berr_set(err, ENOMEM, "out of memory");
	/* The record first: until the index names it, nobody reads it. */
	r = record_write(s, name, text, strlen(text));
	if (r < 0) {
		json_decref(sum);
		return berr_errno(err, r, "write image %s", img->id);
	}
	if (json_object_set_new(index_images(s), img->id, sum) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	/* The old file goes after the commit (when this push fails, gc takes it). */
	if (old)
		strv_push(&s->stale, old_name);
	int64_t w = index_changed(s, err);
	return w < 0 ? (int)w : 0;
}

int store_image_put(struct store *s, const struct store_image *img, struct berr **err)
{
	return WITH_INDEX(s, 1, err, image_put_unlocked(s, img, err));
}

/* A record file; -ENOENT (no message) when it is not there. */
static int image_load(struct store *s, const char *id, uint64_t rev, struct store_image **ret,
		      struct berr **err)
{
	char name[RECORD_NAME_MAX];
	record_name(id, rev, name);
	_cleanup_free_ char *data = NULL;
	int r = fs_read_all_at(s->images_fd, name, STORE_JSON_MAX, &data, NULL);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : berr_errno(err, r, "read images/%s", name);
	json_error_t je;
	_cleanup_json_ json_t *j = json_loads(data, 0, &je);
	struct store_image *img = image_from_json(j);
	if (!img || !streq(img->id, id)) {
		store_image_free(img);
		return berr_set(err, EBADMSG, "image record images/%s is corrupt", name);
	}
	*ret = img;
	return 0;
}

/* The record of an image the index names; -ENOENT when it does not. */
static int image_get_unlocked(struct store *s, const char *id, struct store_image **ret,
			      struct berr **err)
{
	json_t *sum = json_object_get(index_images(s), id);
	if (!sum)
		return -ENOENT;
	int r = image_load(s, id, summary_rev(sum), ret, err);
	if (r == -ENOENT) {
		char name[RECORD_NAME_MAX];
		record_name(id, summary_rev(sum), name);
		return berr_set(err, EBADMSG, "image record images/%s is missing", name);
	}
	return r;
}

int store_image_get(struct store *s, const char *id, struct store_image **ret, struct berr **err)
{
	if (!digest_valid(id))
		return berr_set(err, EINVAL, "invalid image id '%.80s'", id ? id : "");
	int r = WITH_INDEX(s, 0, err, image_get_unlocked(s, id, ret, err));
	if (r == -ENOENT)
		return berr_set(err, ENOENT, "No such image: %s", id);
	return r;
}

static int is_lower_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

/* The record files in images/ (names record_name() makes), unlocked: only for converting
 * an old store and for gc (the index says which images exist). */
static int record_files(struct store *s, struct strv *ret, struct berr **err)
{
	int dfd = openat(s->images_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berr_errno(err, errno, "open '%s/images'", s->root);
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return berr_errno(err, errno, "open '%s/images'", s->root);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		char id[DIGEST_STR_MAX];
		uint64_t rev;
		if (record_name_parse(de->d_name, id, &rev) == 0 && strv_push(ret, de->d_name) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

/* An image as its index summary tells it: id, created, parent, manifest_digest and size. */
static struct store_image *image_from_summary(const char *id, json_t *sum)
{
	_cleanup_image_ struct store_image *img = calloc(1, sizeof(*img));
	int bad = 0;
	if (!img || !(img->id = strdup(id)))
		return NULL;
	image_common_from_json(img, sum, &bad);
	return bad ? NULL : TAKE_PTR(img);
}

/* Every image of the index: its record (full) or its summary. */
static int image_list_unlocked(struct store *s, int full, struct store_image ***ret,
			       size_t *ret_n, struct berr **err)
{
	json_t *imgs_j = index_images(s);
	size_t n = json_object_size(imgs_j), k = 0;
	struct store_image **imgs = calloc(n ? n : 1, sizeof(*imgs));
	if (!imgs)
		return berr_set(err, ENOMEM, "out of memory");
	const char *id;
	json_t *sum;
	json_object_foreach(imgs_j, id, sum) {
		int r = 0;
		if (full)
			r = image_get_unlocked(s, id, &imgs[k], err);
		else if (!(imgs[k] = image_from_summary(id, sum)))
			r = berr_set(err, ENOMEM, "out of memory");
		if (r < 0) {
			store_image_list_free(imgs, k);
			return r;
		}
		k++;
	}
	*ret = imgs;
	*ret_n = k;
	return 0;
}

int store_image_list(struct store *s, struct store_image ***ret, size_t *ret_n,
		     struct berr **err)
{
	return WITH_INDEX(s, 0, err, image_list_unlocked(s, 1, ret, ret_n, err));
}

int store_image_summaries(struct store *s, struct store_image ***ret, size_t *ret_n,
			  struct berr **err)
{
	return WITH_INDEX(s, 0, err, image_list_unlocked(s, 0, ret, ret_n, err));
}

/* ---- references ---- */

void store_refs_free(struct store_ref *refs, size_t n)
{
	if (!refs)
		return;
	for (size_t i = 0; i < n; i++) {
		free(refs[i].name);
		free(refs[i].id);
	}
	free(refs);
}

static int ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_ref *)a)->name, ((const struct store_ref *)b)->name);
}

static int refs_list_unlocked(struct store *s, struct store_ref **ret, size_t *ret_n,
			      struct berr **err)
{
	json_t *refs = index_refs(s);
	size_t n = json_object_size(refs), i = 0;
	struct store_ref *list = calloc(n ? n : 1, sizeof(*list));
	if (!list)
		return berr_set(err, ENOMEM, "out of memory");
	const char *k;
	json_t *v;
	json_object_foreach(refs, k, v) {
		list[i].name = strdup(k);
		list[i].id = strdup(json_string_value(v));
		if (!list[i].name || !list[i].id) {
			store_refs_free(list, i + 1);
			return berr_set(err, ENOMEM, "out of memory");
		}
		i++;
	}
	qsort(list, n, sizeof(*list), ref_cmp);
	*ret = list;
	*ret_n = n;
	return 0;
}

int store_refs_list(struct store *s, struct store_ref **ret, size_t *ret_n, struct berr **err)
{
	return WITH_INDEX(s, 0, err, refs_list_unlocked(s, ret, ret_n, err));
}

/* A stored name: what ref_string() makes. Only the basic shape is checked here, so that
 * nothing odd (control characters, huge strings) lands in the index. */
static int ref_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 1024)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] <= ' ' || (unsigned char)name[i] >= 0x7f)
			return 0;
	return 1;
}

static int ref_set_unlocked(struct store *s, const char *name, const char *id,
			    struct berr **err)
{
	if (!json_object_get(index_images(s), id))
		return berr_set(err, ENOENT, "No such image: %s", id);
	json_t *old = json_object_get(index_refs(s), name);
	if (old && streq(json_string_value(old), id))
		return 0;
	if (json_object_set_new(index_refs(s), name, json_string(id)) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	int64_t w = index_changed(s, err);
	return w < 0 ? (int)w : 0;
}

int store_ref_set(struct store *s, const char *name, const char *id, struct berr **err)
{
	if (!ref_name_ok(name))
		return berr_set(err, EINVAL, "invalid reference name '%.200s'", name ? name : "");
	if (!digest_valid(id))
		return berr_set(err, EINVAL, "invalid image id '%.80s'", id ? id : "");
	return WITH_INDEX(s, 1, err, ref_set_unlocked(s, name, id, err));
}

static int ref_remove_unlocked(struct store *s, const char *name, struct berr **err)
{
	if (!name || json_object_del(index_refs(s), name) < 0)
		return berr_set(err, ENOENT, "No such image: %.200s", name ? name : "");
	int64_t w = index_changed(s, err);
	return w < 0 ? (int)w : 0;
}

int store_ref_remove(struct store *s, const char *name, struct berr **err)
{
	return WITH_INDEX(s, 1, err, ref_remove_unlocked(s, name, err));
}

static int64_t image_remove_unlocked(struct store *s, const char *id, int purge,
				     struct berr **err)
{
	json_t *sum = json_object_get(index_images(s), id);
	if (!sum)
		return berr_set(err, ENOENT, "No such image: %s", id);
	/* A purge needs to know the content: the record is read first. */
	_cleanup_image_ struct store_image *img = NULL;
	if (purge) {
		int r = image_get_unlocked(s, id, &img, err);
		if (r < 0)
			return r;
		struct store_image **np = realloc(s->purged, (s->npurged + 1) * sizeof(*np));
		if (!np)
			return berr_set(err, ENOMEM, "out of memory");
		s->purged = np;
	}
	char name[RECORD_NAME_MAX];
	record_name(id, summary_rev(sum), name);
	/* A reference never names a missing record: they go in the same write. */
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(index_refs(s), tmp, k, v) {
		if (streq(json_string_value(v), id))
			json_object_del(index_refs(s), k);
	}
	json_object_del(index_images(s), id);
	/* The file goes after the commit (when this push fails, gc takes it). */
	strv_push(&s->stale, name);
	if (img)
		s->purged[s->npurged++] = TAKE_PTR(img);
	return index_changed(s, err);
}

static int64_t image_remove(struct store *s, const char *id, int purge, struct berr **err)
{
	if (!digest_valid(id))
		return berr_set(err, EINVAL, "invalid image id '%.80s'", id ? id : "");
	return WITH_INDEX(s, 1, err, image_remove_unlocked(s, id, purge, err));
}

int store_image_remove(struct store *s, const char *id, struct berr **err)
{
	int64_t r = image_remove(s, id, 0, err);
	return r < 0 ? (int)r : 0;
}

int64_t store_image_purge(struct store *s, const char *id, struct berr **err)
{
	return image_remove(s, id, 1, err);
}

/* ---- resolve ---- */

/* Image ids whose hex starts with prefix (lowercase hex, 1..128 chars). */
static int match_prefix(struct store *s, const char *prefix, char **ret_id, struct berr **err)
{
	size_t pl = strlen(prefix);
	const char *found = NULL;
	int count = 0;
	const char *id;
	json_t *v;
	json_object_foreach(index_images(s), id, v) {
		if (strncmp(digest_hex(id), prefix, pl) == 0) {
			found = id;
			count++;
		}
	}
	if (count > 1)
		return berr_set(err, EINVAL, "multiple IDs found with provided prefix: %s", prefix);
	if (count == 1 && !(*ret_id = strdup(found)))
		return berr_set(err, ENOMEM, "out of memory");
	return count;
}

static int resolve_unlocked(struct store *s, const char *input, char **ret_id,
			    struct berr **err)
{
	int r = 0;
	size_t len = strlen(input);
	const char *hex = input;
	if (strncmp(input, "sha256:", 7) == 0)
		hex = input + 7;
	size_t hl = len - (size_t)(hex - input);
	/* A full id is only ever an id (Docker: ParseAnyReference). */
	if ((hl == 64 && is_lower_hex(hex, hl)) ||
	    (strncmp(input, "sha512:", 7) == 0 && digest_valid(input))) {
		char id[DIGEST_STR_MAX];
		if (hex == input)
			snprintf(id, sizeof(id), "sha256:%s", hex);
		else
			snprintf(id, sizeof(id), "%s", input);
		if (!json_object_get(index_images(s), id))
			return -ENOENT;
		*ret_id = strdup(id);
		return *ret_id ? 0 : berr_set(err, ENOMEM, "out of memory");
	}

	struct ref ref = {0};
	if (hex == input && ref_parse(input, 0, &ref, NULL) == 0) {
		_cleanup_free_ char *full = ref_string(&ref);
		const char *found = NULL;
		if (!full)
			r = berr_set(err, ENOMEM, "out of memory");
		json_t *v = r == 0 ? json_object_get(index_refs(s), full) : NULL;
		if (v)
			found = json_string_value(v);
		if (r == 0 && !v && ref.digest) {
			/* name@digest: any image whose manifest has that digest. */
			const char *id;
			json_t *sum;
			json_object_foreach(index_images(s), id, sum) {
				json_t *md = json_object_get(sum, "manifest_digest");
				if (json_is_string(md) && streq(json_string_value(md), ref.digest))
					found = id;
			}
		}
		ref_free(&ref);
		if (r < 0)
			return r;
		if (found) {
			*ret_id = strdup(found);
			return *ret_id ? 0 : berr_set(err, ENOMEM, "out of memory");
		}
	}

	if (hl == 0 || hl > 128 || !is_lower_hex(hex, hl) || len > 7 + 128)
		return -ENOENT;
	r = match_prefix(s, hex, ret_id, err);
	if (r < 0)
		return r;
	return r == 1 ? 0 : -ENOENT;
}

int store_image_resolve(struct store *s, const char *input, char **ret_id, struct berr **err)
{
	if (!input || !*input)
		return berr_set(err, ENOENT, "No such image: %s", input ? input : "");
	int r = WITH_INDEX(s, 0, err, resolve_unlocked(s, input, ret_id, err));
	if (r == -ENOENT)
		return berr_set(err, ENOENT, "No such image: %s", input);
	return r;
}

/* ---- layer unpacking ---- */

struct layer_taps {
	struct digester *tar_hash; /* of the tar: the diff id */
	struct blob_writer *raw_w;
	struct blob_writer *tar_w;
};

static int tap_raw(void *opaque, const void *data, size_t len, struct berr **err)
{
	struct layer_taps *t = opaque;
	return t->raw_w ? blob_writer_write(t->raw_w, data, len, err) : 0;
}

static int tap_tar(void *opaque, const void *data, size_t len, struct berr **err)
{
	struct layer_taps *t = opaque;
	digester_update(t->tar_hash, data, len);
	return t->tar_w ? blob_writer_write(t->tar_w, data, len, err) : 0;
}

static void taps_free(struct layer_taps *t)
{
	digester_free(t->tar_hash);
	blob_writer_abort(t->raw_w);
	blob_writer_abort(t->tar_w);
}

static int layer_exists(struct store *s, const char *chain_id)
{
	char path[DIGEST_STR_MAX + 32];
	snprintf(path, sizeof(path), "layers/%s/info.json", digest_hex(chain_id));
	struct stat st;
	return fstatat(s->root_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Open every regular file and directory below dirfd into fds (*n of them so far, at most
 * max): -E2BIG when there are more. */
static int open_tree(int dirfd, int *fds, size_t *n, size_t max)
{
	int dfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_DIR)
			continue; /* links and devices are metadata: the directory's fsync */
		if (*n == max) {
			r = -E2BIG;
			break;
		}
		int fd = openat(dirfd, de->d_name,
				O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			r = -errno;
			break;
		}
		fds[(*n)++] = fd;
		if (de->d_type == DT_DIR)
			r = open_tree(fd, fds, n, max);
	}
	closedir(d);
	return r;
}

/* A layer of at most this many nodes (regular files and directories) is synced file by
 * file, the fsyncs run side by side (fs_fsync_all): a syncfs would also write out whatever
 * else is dirty on the file system, which on a busy machine costs far more than the few
 * fsyncs of a small change. */
#define LAYER_FSYNC_NODES 64

/* tmp/<name>/info.json, then syncfs and rename tmp/<name> to layers/<chain hex>. Returns
 * 1 when another writer had put the same layer there first (ours is then removed). */
static int layer_commit(struct store *s, const char *tmpname, const char *parent,
			struct store_layer_info *info, struct berr **err)
{
	char path[DIGEST_STR_MAX + 32];
	snprintf(path, sizeof(path), "%s/diff", tmpname);
	int r = fs_tree_size_at(s->tmp_fd, path, &info->size);
	if (r < 0)
		return berr_errno(err, r, "layer %s: size", info->chain_id);
	_cleanup_json_ json_t *j = json_pack("{sssssIso}", "diff_id", info->diff_id, "chain_id",
					     info->chain_id, "size", (json_int_t)info->size,
					     "parent", parent ? json_string(parent) : json_null());
	_cleanup_free_ char *text = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	if (!text)
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_close_ int dfd = openat(s->tmp_fd, tmpname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berr_errno(err, errno, "layer %s", info->chain_id);
	/* No fsync of its own: the sync below covers it. */
	r = fs_write_atomic_nosync_at(dfd, "info.json", text, strlen(text), 0600);
	if (r < 0)
		return berr_errno(err, r, "layer %s: write info.json", info->chain_id);
	/* The rename below must not publish a layer whose files are not on disk yet: an fsync
	 * of each node of a small layer, else one syncfs instead of an fsync per file. The
	 * blobs riding along (store_blob_writers_sync_with_layer) get their mode and fsync in
	 * the same round. */
	int fds[LAYER_FSYNC_NODES + 1 + ARRAY_SIZE(s->ride)];
	size_t n = 0;
	r = open_tree(dfd, fds, &n, LAYER_FSYNC_NODES);
	size_t nown = n;
	for (size_t i = 0; r == 0 && i < s->nride; i++) {
		if (fchmod(s->ride[i]->fd, 0444) < 0)
			r = -errno;
		fds[n++] = s->ride[i]->fd;
	}
	if (r == 0) {
		fds[n++] = dfd;
		r = fs_fsync_all(fds, n);
	}
	for (size_t i = 0; i < nown; i++)
		close(fds[i]);
	if (r == -E2BIG)
		r = syncfs(dfd) < 0 ? -errno : 0;
	if (r < 0)
		return berr_errno(err, r, "layer %s: sync", info->chain_id);
	for (size_t i = 0; i < s->nride; i++) {
		s->ride[i]->synced = 1;
		s->ride[i]->riding = 0;
	}
	s->nride = 0;
	snprintf(path, sizeof(path), "layers/%s", digest_hex(info->chain_id));
	if (renameat2(s->tmp_fd, tmpname, s->root_fd, path, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY) {
			/* Another process unpacked the same layer meanwhile: theirs stands. */
			fs_rm_rf_at(s->tmp_fd, tmpname);
			return 1;
		}
		return berr_errno(err, errno, "layer %s: rename into place", info->chain_id);
	}
	sync_dir(s, "layers");
	return 0;
}

/* store_layer_unpack() reading fd, or store_layer_unpack_stream() (raw_size not
 * UINT64_MAX) reading the source. */
static int layer_unpack_body(struct store *s, int fd, unpack_source_fn source,
			     void *source_opaque, const char *parent_chain_id,
			     const char *expected_diff_id, enum store_blob_keep keep,
			     uint64_t raw_size, struct store_layer_info *ret, struct berr **err)
{
	struct digest expected = {.alg = DIGEST_SHA256};
	struct store_layer_info info = {0};
	int r;
	if (expected_diff_id && digest_parse(expected_diff_id, &expected, err) < 0)
		return berr_wrap(err, "unpack layer");
	/* Held (and the pin file made) before the parent is looked at: that pins it. */
	r = store_gc_hold(s, err);
	if (r < 0)
		return r;
	if (parent_chain_id && raw_size == UINT64_MAX) {
		r = store_layer_get(s, parent_chain_id, &info, err);
		if (r < 0)
			return berr_wrap(err, "unpack layer: parent");
	}

	/* With the diff id known in advance, an existing layer is only read through. */
	int no_extract = 0;
	if (expected_diff_id) {
		store_chain_id(parent_chain_id, expected_diff_id, info.chain_id);
		r = pin(s, info.chain_id);
		if (r < 0)
			return berr_errno(err, r, "unpack layer");
		no_extract = layer_exists(s, info.chain_id);
	}

	struct layer_taps t = {0};
	t.tar_hash = digester_new(expected.alg);
	if (!t.tar_hash) {
		taps_free(&t);
		return berr_set(err, ENOMEM, "out of memory");
	}
	if (keep == STORE_KEEP_RAW)
		r = store_blob_writer_new(s, NULL, &t.raw_w, err);
	else if (keep == STORE_KEEP_UNCOMPRESSED)
		r = store_blob_writer_new(s, NULL, &t.tar_w, err);
	if (r < 0) {
		taps_free(&t);
		return r;
	}

	char tmpname[STORE_TMP_NAME_MAX], diffpath[STORE_TMP_NAME_MAX + 8];
	_cleanup_close_ int dfd = -1;
	r = store_tmp_name(tmpname);
	if (r < 0) {
		taps_free(&t);
		return berr_errno(err, r, "unpack layer");
	}
	snprintf(diffpath, sizeof(diffpath), "%s/diff", tmpname);
	if (!no_extract) {
		if (mkdirat(s->tmp_fd, tmpname, 0700) < 0 || mkdirat(s->tmp_fd, diffpath, 0755) < 0) {
			r = berr_errno(err, errno, "unpack layer: create '%s/tmp/%s'", s->root,
				       diffpath);
			goto fail;
		}
		dfd = openat(s->tmp_fd, diffpath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		/* The layer's root is the container's "/" unless the tar has a "./" entry:
		 * 0755 whatever our umask is. */
		if (dfd < 0 || fchmod(dfd, 0755) < 0) {
			r = berr_errno(err, errno, "unpack layer");
			goto fail;
		}
	}

	struct unpack_opts o = {
		.raw_tap = tap_raw,
		.tar_tap = tap_tar,
		.opaque = &t,
		.no_extract = no_extract,
		.source = source,
		.source_opaque = source_opaque,
	};
	struct unpack_stats st;
	r = unpack_layer(fd, dfd, &o, &st, err);
	if (r < 0) {
		berr_wrap(err, "unpack layer");
		goto fail;
	}

	if (raw_size != UINT64_MAX && st.raw_bytes != raw_size) {
		r = berr_set(err, EBADMSG, "unpack layer: %llu bytes, %llu expected",
			     (unsigned long long)st.raw_bytes, (unsigned long long)raw_size);
		goto fail;
	}
	struct digest got;
	digester_final(t.tar_hash, &got);
	digest_format(&got, info.diff_id);
	if (expected_diff_id && !digest_equal(&got, &expected)) {
		r = berr_set(err, EBADMSG, "unpack layer: diff id mismatch: expected %s, got %s",
			     expected_diff_id, info.diff_id);
		goto fail;
	}
	store_chain_id(parent_chain_id, info.diff_id, info.chain_id);

	/* The blob goes in before the layer: a layer never points to a missing blob. */
	if (t.raw_w) {
		r = blob_writer_commit(TAKE_PTR(t.raw_w), info.blob_digest, &info.blob_size, err);
		info.blob_media_type = unpack_media_type(st.compression);
	} else if (t.tar_w) {
		r = blob_writer_commit(TAKE_PTR(t.tar_w), info.blob_digest, &info.blob_size, err);
		info.blob_media_type = unpack_media_type(UNPACK_NONE);
	}
	if (r < 0) {
		berr_wrap(err, "unpack layer");
		goto fail;
	}

	if (!no_extract) {
		close(TAKE_FD(dfd));
		r = pin(s, info.chain_id);
		if (r < 0) {
			berr_errno(err, r, "unpack layer");
			goto fail;
		}
		r = layer_commit(s, tmpname, parent_chain_id, &info, err);
		if (r < 0)
			goto fail;
	}
	if (no_extract || r == 1) {
		struct store_layer_info have;
		r = store_layer_get(s, info.chain_id, &have, err);
		if (r < 0)
			goto fail;
		info.size = have.size;
	}
	taps_free(&t);
	*ret = info;
	return 0;
fail:
	taps_free(&t);
	if (!no_extract)
		fs_rm_rf_at(s->tmp_fd, tmpname);
	return r;
}

static int layer_unpack(struct store *s, int fd, unpack_source_fn source, void *source_opaque,
			const char *parent_chain_id, const char *expected_diff_id,
			enum store_blob_keep keep, uint64_t raw_size, struct store_layer_info *ret,
			struct berr **err)
{
	int r = layer_unpack_body(s, fd, source, source_opaque, parent_chain_id, expected_diff_id,
				  keep, raw_size, ret, err);
	/* Only for this call (store.h). */
	for (size_t i = 0; i < s->nride; i++)
		s->ride[i]->riding = 0;
	s->nride = 0;
	return r;
}

int store_layer_unpack(struct store *s, int fd, const char *parent_chain_id,
		       const char *expected_diff_id, enum store_blob_keep keep,
		       struct store_layer_info *ret, struct berr **err)
{
	return layer_unpack(s, fd, NULL, NULL, parent_chain_id, expected_diff_id, keep, UINT64_MAX,
			    ret, err);
}

int store_layer_unpack_stream(struct store *s, unpack_source_fn source, void *source_opaque,
			      const char *parent_chain_id, const char *expected_diff_id,
			      enum store_blob_keep keep, uint64_t raw_size,
			      struct store_layer_info *ret, struct berr **err)
{
	return layer_unpack(s, -1, source, source_opaque, parent_chain_id, expected_diff_id, keep,
			    raw_size, ret, err);
}

/* ---- garbage collection ---- */

static int sorted_has(const struct strv *v, const char *key)
{
	size_t lo = 0, hi = v->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v->v[mid], key);
		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Remove a blob, or a layer directory: renamed into tmp/ first, so that a kill halfway
 * through never leaves a layer with part of its files under its name. */
static int remove_entry(struct store *s, int dfd, const char *name, int is_dir)
{
	if (!is_dir)
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	char tmp[STORE_TMP_NAME_MAX];
	int r = store_tmp_name(tmp);
	if (r < 0)
		return r;
	if (renameat(dfd, name, s->tmp_fd, tmp) < 0)
		return errno == ENOENT ? 0 : -errno;
	return fs_rm_rf_at(s->tmp_fd, tmp);
}

/* Remove the entries of dir (below the root) named by lowercase hex of 64 or 128 digits
 * that are not in keep (sorted); add their sizes to *freed. */
static int sweep(struct store *s, const char *dir, const struct strv *keep, uint64_t *freed)
{
	int dfd = openat(s->root_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	int ret = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if ((len != 64 && len != 128) || !is_lower_hex(de->d_name, len) ||
		    sorted_has(keep, de->d_name))
			continue;
		struct stat st;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		uint64_t size = (uint64_t)st.st_size;
		if (S_ISDIR(st.st_mode) && fs_tree_size_at(dfd, de->d_name, &size) < 0)
			size = 0;
		log_debug("store: gc removes %s/%s", dir, de->d_name);
		int r = remove_entry(s, dfd, de->d_name, S_ISDIR(st.st_mode));
		if (r < 0) {
			if (ret == 0)
				ret = r;
			continue;
		}
		*freed += size;
	}
	return ret;
}

static int mark_digest(struct strv *v, const char *digest)
{
	return digest ? strv_push(v, digest_hex(digest)) : 0;
}

/* Record files the index does not name: written by a writer killed before its index
 * write, or left by one killed after its index write replaced or removed a record.
 * Meta: exclusive. */
static int sweep_records(struct store *s)
{
	_cleanup_strv_ struct strv names = STRV_INIT;
	int r = record_files(s, &names, NULL);
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		char id[DIGEST_STR_MAX];
		uint64_t rev;
		record_name_parse(names.v[i], id, &rev);
		json_t *sum = json_object_get(index_images(s), id);
		if (sum && summary_rev(sum) == rev)
			continue;
		log_debug("store: gc removes images/%s", names.v[i]);
		if (unlinkat(s->images_fd, names.v[i], 0) < 0 && errno != ENOENT)
			r = -errno;
	}
	return r;
}

/* The blobs (sha256 and sha512 hex) and layers every record uses. */
static int mark_all(struct store *s, struct strv *blobs, struct strv *layers, struct berr **err)
{
	struct store_image **imgs = NULL;
	size_t n = 0;
	int r = image_list_unlocked(s, 1, &imgs, &n, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct store_image *img = imgs[i];
		r = mark_digest(blobs, img->id);
		if (r == 0)
			r = mark_digest(blobs, img->manifest_digest);
		for (size_t k = 0; r == 0 && k < img->nlayers; k++) {
			r = mark_digest(blobs, img->layers[k].digest);
			if (r == 0)
				r = mark_digest(layers, img->layers[k].chain_id);
		}
		if (r < 0)
			r = berr_set(err, ENOMEM, "out of memory");
	}
	store_image_list_free(imgs, n);
	if (r == 0) {
		strv_sort(blobs);
		strv_sort(layers);
	}
	return r;
}

/* What live writers pinned (hex digests, sorted). */
static int read_pins(struct store *s, struct strv *ret)
{
	int dfd = openat(s->pins_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		/* Our own pins do not count: the caller knows what it still uses. */
		if (de->d_name[0] == '.' || (s->pin_fd >= 0 && streq(de->d_name, s->pin_name)) ||
		    tmp_entry_dead(s->pins_fd, de->d_name))
			continue;
		_cleanup_free_ char *data = NULL;
		if (fs_read_all_at(s->pins_fd, de->d_name, 64u << 20, &data, NULL) < 0)
			continue; /* gone: its writer closed */
		for (char *line = data, *nl; r == 0 && (nl = strchr(line, '\n')); line = nl + 1) {
			*nl = '\0';
			r = strv_push(ret, line);
		}
	}
	strv_sort(ret);
	return r;
}

struct purge_marks {
	struct strv blobs, layers, pins;
	uint64_t freed;
};

static void purge_one(struct store *s, struct purge_marks *m, const char *digest, int is_layer)
{
	char path[DIGEST_STR_MAX + 32];
	const char *hex = digest ? digest_hex(digest) : NULL;
	if (!hex || sorted_has(is_layer ? &m->layers : &m->blobs, hex) || sorted_has(&m->pins, hex))
		return;
	if (is_layer)
		snprintf(path, sizeof(path), "layers/%s", hex);
	else if (blob_path(digest, path, sizeof(path), NULL) < 0)
		return;
	struct stat st;
	if (fstatat(s->root_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	uint64_t size = (uint64_t)st.st_size;
	if (is_layer && fs_tree_size_at(s->root_fd, path, &size) < 0)
		size = 0;
	log_debug("store: purge removes %s", path);
	if (remove_entry(s, s->root_fd, path, is_layer) == 0)
		m->freed += size;
}

/* The content of removed records that nothing uses any more: not a remaining record, not
 * a live writer's pin. Meta: exclusive (held by the caller). Best effort: what fails here
 * stays for store_gc(). Returns the bytes freed. */
static int64_t purge_content(struct store *s, struct store_image *const *imgs, size_t n)
{
	struct purge_marks m = {STRV_INIT, STRV_INIT, STRV_INIT, 0};
	if (mark_all(s, &m.blobs, &m.layers, NULL) == 0 && read_pins(s, &m.pins) == 0) {
		for (size_t i = 0; i < n; i++) {
			const struct store_image *img = imgs[i];
			/* Layers from the top (a layer's parent is below it), then the blobs. */
			for (size_t k = img->nlayers; k-- > 0;) {
				purge_one(s, &m, img->layers[k].chain_id, 1);
				purge_one(s, &m, img->layers[k].digest, 0);
			}
			purge_one(s, &m, img->manifest_digest, 0);
			purge_one(s, &m, img->id, 0);
		}
	}
	strv_free(&m.blobs);
	strv_free(&m.layers);
	strv_free(&m.pins);
	return (int64_t)m.freed;
}

static int64_t gc_unlocked(struct store *s, struct berr **err)
{
	/* Our own shared hold converts; anyone else's makes us skip. */
	if (flock(s->gc_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return berr_errno(err, errno, "lock store '%s'", s->root);
		log_debug("store: gc skipped, the store is in use");
		return 0;
	}
	_cleanup_strv_ struct strv blobs = STRV_INIT;
	_cleanup_strv_ struct strv layers = STRV_INIT;
	int r = mark_all(s, &blobs, &layers, err);
	uint64_t freed = 0;
	if (r == 0) {
		r = sweep(s, "layers", &layers, &freed);
		int r2 = sweep(s, "blobs/sha256", &blobs, &freed);
		int r3 = sweep(s, "blobs/sha512", &blobs, &freed);
		int r4 = clean_tmp(s);
		int r5 = sweep_records(s);
		if (r4 > 0)
			r4 = 0;
		if (r == 0)
			r = r2 ? r2 : r3 ? r3 : r4 ? r4 : r5;
		if (r < 0)
			r = berr_errno(err, r, "gc '%s'", s->root);
	}
	flock(s->gc_fd, s->gc_held ? LOCK_SH : LOCK_UN);
	return r < 0 ? r : (int64_t)freed;
}

int64_t store_gc(struct store *s, struct berr **err)
{
	return WITH_INDEX(s, 1, err, gc_unlocked(s, err));
}
