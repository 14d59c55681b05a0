/* The registry server's storage: CNCF distribution's filesystem layout, byte for byte, so
 * that a root written by berth can be served by registry:2 (docker-registry) and the other
 * way round. Under <root>/docker/registry/v2/:
 *
 *   blobs/<alg>/<first 2 hex>/<hex>/data                       every blob and manifest
 *   repositories/<name>/_layers/<alg>/<hex>/link                blobs linked into <name>
 *   repositories/<name>/_manifests/revisions/<alg>/<hex>/link   manifests of <name>
 *   repositories/<name>/_manifests/tags/<tag>/current/link      what <tag> points to
 *   repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link  every target it had
 *   repositories/<name>/_uploads/<uuid>/data, startedat         uploads in progress
 *
 * A link file holds "<alg>:<hex>" and nothing else. berth keeps its own files (the lock
 * that makes gc safe while serving, token keys) in <root>/berth/, which distribution never
 * looks at. Details and reasons: docs/internals/REGISTRY.md.
 *
 * Every write that becomes visible is atomic: a uniquely named temp file in the target's
 * directory, fsync, rename, fsync of the directory. Upload data is appended in place (an
 * upload is not visible until committed) and committed by rename.
 *
 * Names, tags and digests given to these functions must already be valid (route.h):
 * paths are built from them as they are. All functions are safe to call from several
 * threads at once; uploads are claimed by one request at a time.
 * Functions return 0 or -errno; those with an err parameter also fill it. */
#ifndef BERTH_REGISTRY_REGSTORE_H
#define BERTH_REGISTRY_REGSTORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "digest.h"
#include "err.h"
#include "strv.h"

struct regstore;

/* regstore_open flags */
#define REGSTORE_CREATE 1 /* create the root and the layout when missing (the server) */

/* Open the registry rooted at root. Without REGSTORE_CREATE a root without
 * docker/registry/v2 is -ENOENT. The result is owned by the caller: regstore_close(). */
int regstore_open(const char *root, int flags, struct regstore **ret, struct berr **err);
void regstore_close(struct regstore *s);
/* <root>/berth, created on demand (0700), as an fd owned by the store; -errno on failure. */
int regstore_berth_dir(struct regstore *s);

/* Health: the blob store and the repositories can be read, and a file can be created,
 * written and removed in <root>/berth. 0, or -errno with *err saying which step failed. */
int regstore_check(struct regstore *s, struct berr **err);

/* ---- blobs ---- */

/* The size of blob d as linked into repository name; -ENOENT when it is not linked or its
 * data is gone. */
int regstore_blob_stat(struct regstore *s, const char *name, const struct digest *d,
		       uint64_t *ret_size);
/* Open blob d of name for reading: *ret_fd (owned by the caller) and its size. -ENOENT as
 * above. */
int regstore_blob_open(struct regstore *s, const char *name, const struct digest *d, int *ret_fd,
		       uint64_t *ret_size);
/* Link an existing blob into name (cross-repository mount). With from, the blob must be
 * linked in repository from; with from == NULL, any blob of the registry will do.
 * -ENOENT when there is no such blob. */
int regstore_blob_mount(struct regstore *s, const char *name, const char *from,
			const struct digest *d, uint64_t *ret_size, struct berr **err);
/* Unlink blob d from name (the data stays until gc). -ENOENT when not linked. */
int regstore_blob_delete(struct regstore *s, const char *name, const struct digest *d);

/* ---- uploads ----
 * An upload session lives on disk (_uploads/<uuid>/) and, while the server runs, has a
 * running hash in memory, so that finishing it does not read the data again. After a
 * restart (or when a chunk had to be undone) the data file is hashed again on first use. */
struct regstore_upload;

/* Start an upload to name, hashing with alg. The upload is claimed (see resume) and must be
 * released, committed or cancelled. */
int regstore_upload_start(struct regstore *s, const char *name, enum digest_alg alg,
			  struct regstore_upload **ret, struct berr **err);
/* Claim the existing upload uuid of name for one request. -ENOENT when there is no such
 * upload (or it belongs to another repository), -EBUSY when another request holds it. */
int regstore_upload_resume(struct regstore *s, const char *name, const char *uuid,
			   struct regstore_upload **ret, struct berr **err);
/* The bytes received so far of an upload, without claiming it. -ENOENT as above. */
int regstore_upload_stat(struct regstore *s, const char *name, const char *uuid,
			 uint64_t *ret_size);
const char *regstore_upload_uuid(const struct regstore_upload *u);
uint64_t regstore_upload_size(const struct regstore_upload *u);
/* The request announces len more bytes (its Content-Length): reserve their disk space
 * (fallocate, FALLOC_FL_KEEP_SIZE), so that ext4 maps the written pages to blocks that
 * exist instead of reserving each 4 KiB as it comes: a third less CPU for the writes.
 * At most REGSTORE_RESERVE_MAX at a time; regstore_upload_commit() gives back what the
 * data did not fill. Nothing for less than 1 MiB; a failure only loses the head start. */
#define REGSTORE_RESERVE_MAX (1ull << 30)
void regstore_upload_expect(struct regstore_upload *u, uint64_t len);
/* Append data. On failure nothing of it stays in the upload. */
int regstore_upload_write(struct regstore_upload *u, const void *data, size_t len,
			  struct berr **err);
/* Cut the upload back to size bytes (undo a chunk that did not arrive whole). */
int regstore_upload_truncate(struct regstore_upload *u, uint64_t size);
/* Finish: check the data against expected (-EBADMSG and *ret_actual set when it differs;
 * the upload stays claimed for the caller to cancel), then move it into the blob store and
 * link it into the repository. On success u is freed. */
int regstore_upload_commit(struct regstore_upload *u, const struct digest *expected,
			   struct digest *ret_actual, struct berr **err);
/* Drop the upload and its data; u is freed. */
int regstore_upload_cancel(struct regstore_upload *u);
/* End of a request: give the claim back (the upload and its hash state stay). */
void regstore_upload_release(struct regstore_upload *u);
/* Upload sessions held in memory (each with its running hash), and how many of them a
 * request holds now. */
void regstore_upload_count(struct regstore *s, uint64_t *ret_total, uint64_t *ret_active);

/* ---- manifests and tags ---- */

/* What tag points to. -ENOENT when the tag does not exist. */
int regstore_tag_resolve(struct regstore *s, const char *name, const char *tag, struct digest *ret);
/* Read manifest d of name (a malloc'd copy, NUL-terminated, owned by the caller).
 * -ENOENT when it is not in the repository. */
int regstore_manifest_get(struct regstore *s, const char *name, const struct digest *d,
			  char **ret_data, size_t *ret_len);
/* 0 when name links manifest d (its bytes are not looked at), -ENOENT when not. */
int regstore_manifest_linked(struct regstore *s, const char *name, const struct digest *d);
/* The bytes of manifest d as regstore_manifest_get() gives them, whichever repository
 * links it: for a caller that asked regstore_manifest_linked() already. */
int regstore_manifest_read(struct regstore *s, const struct digest *d, char **ret_data,
			   size_t *ret_len);
/* 1 when manifest d is in name, 0 when not. */
int regstore_manifest_exists(struct regstore *s, const char *name, const struct digest *d);
/* Store manifest bytes under digest d (the caller computed it) and point each of tags at it.
 * blobs must be linked in name and manifests be manifests of name: when some are not,
 * nothing is written, their digests are added to *ret_missing and the result is -ENOENT.
 * Checking and writing happen under the gc lock, and every referenced blob is touched, so
 * that a concurrent gc keeps them (see regstore_gc). */
int regstore_manifest_put(struct regstore *s, const char *name, const struct digest *d,
			  const char *data, size_t len, const struct strv *blobs,
			  const struct strv *manifests, const char *const *tags, size_t ntags,
			  struct strv *ret_missing, struct berr **err);
/* Delete manifest d from name, and every tag pointing at it. -ENOENT when not there. */
int regstore_manifest_delete(struct regstore *s, const char *name, const struct digest *d,
			     struct berr **err);
/* Delete a tag (the manifest stays). -ENOENT when there is no such tag. */
int regstore_tag_delete(struct regstore *s, const char *name, const char *tag, struct berr **err);
/* The tags of name, sorted bytewise (Go's sort.Strings). -ENOENT when the repository does
 * not exist (has no _manifests). */
int regstore_tags(struct regstore *s, const char *name, struct strv *ret);
/* Every repository (a directory with _manifests), in distribution's order: compared
 * component by component, so "a/b" sorts before "a-b". */
int regstore_catalog(struct regstore *s, struct strv *ret);
/* Order of regstore_catalog: <0, 0, >0. */
int regstore_name_cmp(const char *a, const char *b);

/* The referrers of subject in name as the "manifests" array of an image index (a new
 * reference owned by the caller): one descriptor per manifest of name whose "subject" is
 * subject, with artifactType and annotations as the spec wants. With artifact_type, only
 * those of that type. An unknown repository has no referrers (an empty array). */
int regstore_referrers(struct regstore *s, const char *name, const struct digest *subject,
		       const char *artifact_type, json_t **ret, struct berr **err);

/* Call fn for each manifest digest of name ("sha256:..."); stops at and returns fn's first
 * non-zero value. -ENOENT when the repository has no manifests directory. */
int regstore_revisions(struct regstore *s, const char *name,
		       int (*fn)(void *cls, const char *digest), void *cls);

/* ---- garbage collection ---- */

struct regstore_gc_opts {
	int dry_run;
	int delete_untagged; /* also delete manifests no tag reaches (nor an index, nor a subject)
			      */
	/* Blobs and manifests younger than this are kept even if nothing references them:
	 * they may belong to a push that is still going on. */
	time_t grace_seconds;
	/* Uploads started longer ago than this are removed (distribution's purge). */
	time_t upload_max_age;
};

enum regstore_gc_event {
	REGSTORE_GC_MARK_MANIFEST,   /* repo, digest: kept */
	REGSTORE_GC_DELETE_MANIFEST, /* repo, digest: untagged, removed */
	REGSTORE_GC_DELETE_BLOB,     /* NULL, digest */
	REGSTORE_GC_DELETE_LINK,     /* repo, digest: layer link to a removed blob */
	REGSTORE_GC_DELETE_UPLOAD,   /* repo, uuid */
};

struct regstore_gc_stats {
	size_t manifests_marked, blobs_marked;
	size_t manifests_deleted, blobs_deleted, links_deleted, uploads_deleted;
	uint64_t bytes_freed;
};

/* Mark and sweep. Safe while a server writes to the same root: the sweep runs under the
 * exclusive gc lock, which every server write that makes a blob referenced holds shared,
 * and deletes only blobs older than the start of gc minus the grace period (those writes
 * touch the blobs they reference). With dry_run nothing is changed and the events say what
 * would be. report may be NULL. */
int regstore_gc(struct regstore *s, const struct regstore_gc_opts *o,
		void (*report)(void *cls, enum regstore_gc_event ev, const char *repo,
			       const char *what),
		void *cls, struct regstore_gc_stats *ret, struct berr **err);

#endif
