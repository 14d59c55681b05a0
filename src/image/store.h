/* The local image store: content-addressed blobs, unpacked layers, image records and
 * references, under one root directory (--root, default /var/lib/berth). The on-disk format
 * is documented in docs/internals/STORE.md.
 *
 * Concurrency: two flock(2) locks.
 *  - the meta lock guards index.json and images/; readers take it shared, writers exclusive,
 *    for short sections only (never across a long download or unpack). A function marked
 *    "meta: shared" or "meta: exclusive" below takes the lock itself for the call when the
 *    handle does not hold it; hold it yourself (store_lock_meta) to make several calls one
 *    atomic step, e.g. resolve + tag. Holding it shared where exclusive is needed gives
 *    -EDEADLK (an upgrade would not be atomic).
 *  - the gc lock: every handle that writes blobs or layers holds it shared from then until
 *    store_close(). store_blob_writer_new(), store_blob_put() and store_layer_unpack() take
 *    it themselves (store_gc_hold() does it explicitly, e.g. before a long pull). store_gc()
 *    takes it exclusive without waiting and skips the sweep when it can not, so an in-flight
 *    load never loses its fresh blobs before its image record is written.
 *  Lock order: meta before gc. A handle is for one thread at a time; open one per thread.
 * Every write is atomic (temp file or dir in <root>/tmp named "<pid>-<random>", fsync,
 * rename); store_open() removes temp leftovers of dead writers, so a command killed at any
 * point leaves the store consistent.
 *
 * All functions return 0 (or a positive count where stated) or -errno with *err set (err
 * may be NULL). Messages start lowercase, except "No such image: x" (Docker's wording).
 */
#ifndef BERTH_IMAGE_STORE_H
#define BERTH_IMAGE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "digest.h"
#include "err.h"
#include "unpack.h"

struct store;

/* Open (creating when missing, mode 0700) the store at root. The result is owned by the
 * caller; store_close() drops its locks. Cleans tmp/ of dead writers when nobody holds the
 * gc lock. */
int store_open(const char *root, struct store **ret, struct berr **err);
/* Open an existing store for reading only (`images`): no directories made, tmp/ not
 * cleaned, no gc lock; the meta lock can only be taken shared (-EROFS otherwise) and
 * writing functions fail. Falls back to store_open() when the store or its index is
 * missing. */
int store_open_ro(const char *root, struct store **ret, struct berr **err);
void store_close(struct store *s);
static inline void store_closep(struct store **s)
{
	if (*s)
		store_close(*s);
}
#define _cleanup_store_ __attribute__((cleanup(store_closep)))

const char *store_root(const struct store *s);

/* ---- locks ---- */
/* Blocks until the meta lock is held (shared or exclusive); taking it again in the same
 * mode is a no-op. Released by store_unlock_meta() or store_close(). */
int store_lock_meta(struct store *s, int exclusive, struct berr **err);
void store_unlock_meta(struct store *s);
/* Take the gc lock shared for the rest of this store handle's life. It also makes the
 * handle a writer: every blob and layer it writes or looks at from then on is pinned (kept
 * from store_image_purge() in other processes) until store_close(). */
int store_gc_hold(struct store *s, struct berr **err);

/* ---- batches: several changes to records and references as one ---- */
/* Records and references live in one index file (index.json) whose atomic rename commits
 * every change. Between store_batch_begin() and store_batch_commit() the changes of
 * store_image_put/remove/purge and store_ref_set/remove collect in memory and the commit
 * writes them in one rename: another process, or this one after a kill, sees all of them
 * or none (records written meanwhile are not visible without the index naming them).
 * begin needs the meta lock held exclusive (-EDEADLK); unlocking it or closing the handle
 * aborts the batch, as does store_batch_abort(). */
int store_batch_begin(struct store *s, struct berr **err);
int store_batch_commit(struct store *s, struct berr **err);
void store_batch_abort(struct store *s);
/* Defer the directory fsyncs after blob and layer renames on this handle until
 * store_sync_dirs(), the next write of the index (which fsyncs them side by side with the
 * index and the records, before the swap that makes the index name them) or
 * store_close(): for a writer that puts several blobs and a layer before the record that
 * names them, one fsync per directory instead of one per rename, in a round it needs
 * anyway. The content of each is still synced before its rename; anything other than the
 * index that refers to them must wait for store_sync_dirs(). */
void store_defer_dir_sync(struct store *s);
int store_sync_dirs(struct store *s, struct berr **err);

/* ---- blobs ---- */
/* 1 when the blob exists, 0 when not. */
int store_blob_has(struct store *s, const char *digest);
/* store_blob_has() for a writer about to name the blob in what it writes instead of
 * storing it again: 1 when it exists, and then its directory is fsynced before anything
 * refers to it, as for a blob written now (deferred with store_defer_dir_sync()). */
int store_blob_reuse(struct store *s, const char *digest);
/* Open a blob read-only; the fd is the caller's. -ENOENT when missing. */
int store_blob_open(struct store *s, const char *digest, int *ret_fd, uint64_t *ret_size,
		    struct berr **err);
/* Read a whole blob of at most max bytes (-EFBIG past it) into a NUL-terminated buffer
 * owned by the caller. The content is checked against the digest: -EBADMSG when corrupt. */
int store_blob_read(struct store *s, const char *digest, size_t max, char **ret_data,
		    size_t *ret_len, struct berr **err);
/* Store data as a sha256 blob (mode 0444); ret_digest (DIGEST_STR_MAX bytes, may be NULL)
 * receives "sha256:...". Storing an existing blob again is harmless. */
int store_blob_put(struct store *s, const void *data, size_t len, char *ret_digest,
		   struct berr **err);

/* Streaming blob writer: data goes to a temp file in tmp/ while being hashed (sha256, or
 * the algorithm of the expected digest); commit verifies, fsyncs and renames into place.
 * -EINVAL for a malformed expected digest. Takes the gc lock shared (see above). */
struct blob_writer;
int store_blob_writer_new(struct store *s, const char *expected_digest /* or NULL */,
			  struct blob_writer **ret, struct berr **err);
int blob_writer_write(struct blob_writer *w, const void *data, size_t len, struct berr **err);
/* The blob will be about size bytes: its disk space is reserved now (fallocate, keeping the
 * file's length), which makes the writes cheaper. Best effort, nothing fails. */
void blob_writer_expect_size(struct blob_writer *w, uint64_t size);
/* On success ret_digest receives the digest and ret_size the length. A mismatch with the
 * expected digest gives -EBADMSG and stores nothing. The writer is freed either way. */
int blob_writer_commit(struct blob_writer *w, char *ret_digest, uint64_t *ret_size,
		       struct berr **err);
/* The digest and length of what was written, final: no more writes after it. For a caller
 * that must name the blob before committing it (blob_writers_commit). */
int blob_writer_digest(struct blob_writer *w, char *ret_digest, uint64_t *ret_size);
/* blob_writer_commit() of n writers at once, their fsyncs side by side (fs_fsync_all):
 * ret_digests[i] and ret_sizes[i] (may be NULL) for ws[i]. All writers are freed and set to
 * NULL either way; on failure some blobs may be stored (as garbage until referenced). */
int blob_writers_commit(struct blob_writer **ws, size_t n, char (*ret_digests)[DIGEST_STR_MAX],
			uint64_t *ret_sizes, struct berr **err);
/* Throw away the temp file and free the writer. NULL is fine. */
void blob_writer_abort(struct blob_writer *w);
/* Let the next layer this handle extracts (store_layer_unpack) fsync these complete
 * writers' data side by side with its own files, in the round it needs before its rename,
 * so that blob_writers_commit() only renames them: for a writer whose blobs are complete
 * before the layer is unpacked (a commit's gzip blob, config and manifest). Only for that
 * next call: when it extracts nothing (the layer exists) or fails, the commit syncs them
 * as usual. At most 4 writers; the writers stay the caller's. */
void store_blob_writers_sync_with_layer(struct store *s, struct blob_writer **ws, size_t n);

/* ---- layers ---- */
enum store_blob_keep {
	STORE_KEEP_NONE = 0,     /* the blob is stored already (or not wanted) */
	STORE_KEEP_RAW,          /* store the input bytes as they come (registry pulls) */
	STORE_KEEP_UNCOMPRESSED, /* store the decompressed tar (import) */
};

struct store_layer_info {
	char diff_id[DIGEST_STR_MAX];  /* sha256 of the uncompressed tar */
	char chain_id[DIGEST_STR_MAX]; /* OCI ChainID: parent's chain and this diff_id */
	uint64_t size;                 /* bytes of file content unpacked */
	/* Set when a blob was kept (enum store_blob_keep): */
	char blob_digest[DIGEST_STR_MAX];
	uint64_t blob_size;
	/* static string: OCI layer media type of what was kept, "...tar", "...tar+gzip",
	 * "...tar+zstd"; bzip2 and xz input give the unregistered "...tar+bzip2"/"+xz". */
	const char *blob_media_type;
};

/* Read a layer tar from fd (plain, gzip, bzip2, xz or zstd: detected from the bytes),
 * convert whiteouts to overlayfs form, and unpack it on top of parent_chain_id (NULL for a
 * base layer; -ENOENT when it is not in the store) into the store, in one pass over the
 * data, reading fd to its end. The diff id uses the expected diff id's algorithm (sha256
 * without one). When expected_diff_id is given and the uncompressed tar does not hash to
 * it, -EBADMSG and nothing is kept. When the layer already exists it is not unpacked twice
 * (with expected_diff_id known, the data is only read through to compute digests and keep
 * the blob). Archives that try to write outside the layer (.., absolute names, links out,
 * writes through symlinks) are refused with -EPERM naming the entry; data that is not a
 * tar gives -EINVAL. Any failure leaves nothing behind (no layer, no blob, no temp file).
 * Needs root for owners, device nodes and whiteouts. Details: src/image/unpack.h. */
int store_layer_unpack(struct store *s, int fd, const char *parent_chain_id,
		       const char *expected_diff_id, enum store_blob_keep keep,
		       struct store_layer_info *ret, struct berr **err);
/* The same, reading the pieces a source hands over in memory (unpack.h) instead of an fd,
 * for a stream whose producer checks the blob's digest before it hands over the end
 * (registry pulls): the source's error, or any count of bytes but raw_size (-EBADMSG),
 * fails the unpack and keeps nothing, so that a blob that failed its check never leaves a
 * layer behind. And the parent need not be in the store yet (a pull unpacks the layers of
 * an image side by side: a layer's files do not depend on its parent's, whiteouts are
 * files too); the caller must not record an image before all its layers are there. The gc
 * lock this takes keeps an orphan layer until store_close(); a later store_gc() removes it
 * if no image came. */
int store_layer_unpack_stream(struct store *s, unpack_source_fn source, void *source_opaque,
			      const char *parent_chain_id, const char *expected_diff_id,
			      enum store_blob_keep keep, uint64_t raw_size,
			      struct store_layer_info *ret, struct berr **err);
/* Info of an unpacked layer; -ENOENT when missing, -EBADMSG when its info.json is
 * damaged. blob_* fields are left empty. */
int store_layer_get(struct store *s, const char *chain_id, struct store_layer_info *ret,
		    struct berr **err);
/* Absolute path of the directory holding the layer's files (an overlay lowerdir).
 * Owned by the caller; NULL on ENOMEM. */
char *store_layer_dir(struct store *s, const char *chain_id);

/* Compute a chain id from the parent chain (NULL for the first) and a diff_id. */
void store_chain_id(const char *parent_chain_id, const char *diff_id, char *ret);

/* ---- images ---- */
struct store_image_layer {
	char *digest;     /* the layer's blob in this store (as referenced by the manifest) */
	char *media_type; /* of that blob */
	uint64_t blob_size;
	char *diff_id;
	char *chain_id;
	uint64_t size; /* unpacked bytes */
};

struct store_image {
	char *id;                  /* "sha256:..." = digest of the config blob */
	char *manifest_digest;     /* a manifest blob in this store describing the image */
	char *manifest_media_type; /* OCI or Docker schema2 manifest type */
	struct store_image_layer *layers;
	size_t nlayers;
	uint64_t size;  /* sum of the layers' unpacked sizes */
	char *created;  /* the config's "created" (RFC 3339), may be NULL */
	char *parent;   /* the image this one was committed or built from, or NULL */
	char *last_tag_time; /* RFC 3339 with nanoseconds, or NULL */
};

/* Write (create or replace) an image record atomically. A replacement goes to a new file
 * that the index write switches to, so that an aborted or killed batch leaves the old
 * record as it was; the same record again writes nothing. Meta: exclusive. Every blob and
 * layer it names must be in the store already (-ENOENT naming the missing one: the config
 * blob = id, the manifest blob, each layer's chain and blob), and each chain_id must follow
 * from the previous one and its diff_id (-EINVAL). NULL strings are left out. */
int store_image_put(struct store *s, const struct store_image *img, struct berr **err);
/* Read one record; id is a full "sha256:<hex>". -ENOENT ("No such image: id") when
 * missing, -EBADMSG when the record is damaged. Meta: shared. */
int store_image_get(struct store *s, const char *id, struct store_image **ret, struct berr **err);
/* All records, in no particular order. The array and its records are the caller's
 * (store_image_list_free). Meta: shared. */
int store_image_list(struct store *s, struct store_image ***ret, size_t *ret_n,
		     struct berr **err);
/* The same from the index alone (one file read): only id, created, parent, manifest_digest
 * and size are set, layers is NULL. Meta: shared. */
int store_image_summaries(struct store *s, struct store_image ***ret, size_t *ret_n,
			  struct berr **err);
/* Remove a record and every reference pointing to it (a reference never names a missing
 * record); blobs and layers stay until store_gc(). -ENOENT when missing. Meta: exclusive. */
int store_image_remove(struct store *s, const char *id, struct berr **err);
/* store_image_remove(), then at once delete the image's blobs and layers that no other
 * record uses and no live writer (another handle) has pinned (store_gc_hold), whatever else
 * runs. Returns the
 * bytes freed (in a batch: 0, the deletion happens at the commit). Meta: exclusive. */
int64_t store_image_purge(struct store *s, const char *id, struct berr **err);
void store_image_free(struct store_image *img);
void store_image_list_free(struct store_image **imgs, size_t n);

/* ---- references ---- */
struct store_ref {
	char *name; /* normalised: "docker.io/library/nginx:latest" or ".../nginx@sha256:..." */
	char *id;   /* image id */
};

/* All references, sorted by name (strcmp). Meta: shared. */
int store_refs_list(struct store *s, struct store_ref **ret, size_t *ret_n, struct berr **err);
void store_refs_free(struct store_ref *refs, size_t n);
/* Point name at id (replacing an older target). name is stored as given: pass
 * ref_string()'s normalised form; -EINVAL for an empty name, whitespace or control
 * characters. -ENOENT when no record has that id. Meta: exclusive. */
int store_ref_set(struct store *s, const char *name, const char *id, struct berr **err);
/* Remove name; -ENOENT when it was not there. Meta: exclusive. */
int store_ref_remove(struct store *s, const char *name, struct berr **err);

/* Resolve what a user typed to an image id (owned by the caller), as Docker does: a full
 * id ("sha256:<hex>" or 64 "<hex>") is only ever an id; otherwise a reference (normalised
 * with ref_parse, ":latest" added; "name@sha256:..." not in refs.json matches an image whose
 * manifest_digest is that digest), then a unique id prefix ("<hex>" or "sha256:<hex>").
 * -ENOENT: "No such image: x"; ambiguous prefix: -EINVAL ("multiple IDs found with provided
 * prefix: x"). Meta: shared. */
int store_image_resolve(struct store *s, const char *input, char **ret_id, struct berr **err);

/* ---- garbage collection ---- */
/* Remove layers and blobs that no image record references (id = config, manifest_digest,
 * each layer's digest and chain_id), and temp leftovers of dead writers. Returns the number
 * of bytes freed (>= 0), or 0 without sweeping when another handle holds the gc lock (this
 * handle's own shared hold does not count). Meta: exclusive. Layers mounted by containers
 * are not known here: keep the image record of any image a container uses. */
int64_t store_gc(struct store *s, struct berr **err);

#endif
