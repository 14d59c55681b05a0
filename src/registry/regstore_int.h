/* Internals shared by regstore.c (the layout) and reggc.c (garbage collection). Not an API:
 * nothing outside these two files includes it. */
#ifndef BERTH_REGISTRY_REGSTORE_INT_H
#define BERTH_REGISTRY_REGSTORE_INT_H

#include <pthread.h>
#include <stddef.h>

#include "digest.h"
#include "regstore.h"

/* Room for any path of the layout: a name is at most 255 bytes, a digest 135. */
#define RS_PATH_MAX 1024

struct regstore {
	int rootfd;	      /* <root> */
	int v2fd;	      /* <root>/docker/registry/v2 */
	int berthfd;	      /* <root>/berth, -1 until first needed */
	pthread_mutex_t lock; /* the upload table and berthfd */
	struct regstore_upload *uploads;
};

const char *rs_alg(enum digest_alg alg);
/* snprintf into buf (RS_PATH_MAX); -ENAMETOOLONG when it does not fit. */
int rs_path(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* blobs/<alg>/<xx>/<hex>/data */
int rs_blob_data_path(char *buf, const struct digest *d);

/* Read a link file: its content must be a valid digest. -ENOENT, -EINVAL (garbage). */
int rs_read_link(int dirfd, const char *path, struct digest *ret);
/* Write "<alg>:<hex>" to path atomically, creating directories as needed. */
int rs_write_link(int dirfd, const char *path, const struct digest *d);
/* Atomic write (unique temp name, fsync, rename, fsync of the directory), creating the
 * parent directories when missing. */
int rs_write_file(int dirfd, const char *path, const void *data, size_t len);
/* Set the blob's data mtime to now; -ENOENT when it is not in the blob store. */
int rs_touch_blob(struct regstore *s, const struct digest *d);

/* Take the gc lock (flock on <root>/berth/gc.lock), shared for server writes, exclusive for
 * the sweep. Returns the fd holding it (close it to unlock) or -errno. Each holder opens the
 * file anew: flock belongs to the open file description, so threads sharing one fd would
 * share (and release) one lock. */
int rs_gc_lock(struct regstore *s, int exclusive);

/* Repositories, sorted as regstore_catalog does; with any, also directories that have only
 * _layers or _uploads (a first push under way). */
int rs_walk_repos(struct regstore *s, int any, struct strv *ret);

/* The entries of dirfd/path (not "." and ".."), unsorted. -ENOENT when path is missing. */
int rs_list_dir(int dirfd, const char *path, struct strv *ret);

#endif
