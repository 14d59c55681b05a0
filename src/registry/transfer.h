/* Pulling and pushing images between a registry (client.h) and the store (store.h).
 *
 * Pull: manifest (by tag or digest; an index or manifest list is resolved to the entry of the
 * wanted platform), config, then the layers, up to max_concurrent downloads at a time. Each
 * layer is read from the network once, in two threads: the download thread writes the blob
 * into the store (hashing it: the digest check) and passes the bytes on, in buffers of a
 * chunkq (handed over in memory, not copied), to the unpacking thread,
 * store_layer_unpack_stream() (decompress -> diff id -> unpack into a layer directory of
 * its own). Layers do not wait for their parents: each is unpacked on its own, the image
 * record comes when all are there. A blob that does not hash to its digest is refused
 * before anything of it is committed: the unpacker reads to the end of the stream before
 * it keeps anything, and the download thread ends the stream only once the blob is
 * verified and committed, or with the error. A blob in the store without its layer is
 * unpacked from there, in order. Layers and blobs present already are not fetched again.
 * Connection errors and 5xx/429 answers are retried with backoff (1, 2, 4, 8 s), resuming
 * downloads with a Range request. Last, under the meta lock: the image record and the names
 * (the tag, and name@digest: RepoDigests).
 *
 * Push: per layer (up to max_concurrent at a time): a stored uncompressed tar is gzipped
 * (ISA-L's igzip when built with it, else zlib) while it is uploaded, into one streamed
 * PATCH as docker does, and into a blob of the store on the way; the PUT that closes the
 * upload names the digest known by then. With a chunk size set (reg_push_opts.chunk,
 * BERTH_PUSH_CHUNK_SIZE), or to retry a failed streamed upload, the blob is made first and
 * sent like any other. A blob stored already (every layer of a pulled image) goes: HEAD
 * (present: "Layer already exists"), else a cross-repository mount from another repository
 * of the same registry that a local image of that layer was pulled from or pushed to, else
 * an upload (one PUT, or PATCH chunks for big blobs). The config goes the same way, as the
 * job after the last layer's (beside the last layers, within max_concurrent). Then the
 * manifest: the stored one byte for byte, or, when layers were compressed, the same document
 * with the new layer descriptors. After a push that compressed, the image record is switched to the
 * gzipped layers and the new manifest (the image id does not change), so a second push sends
 * the same bytes and yields the same digest.
 *
 * Progress goes to an event callback (never printed here); calls to it are serialised.
 * Errors: -errno with *err set, as in client.h.
 */
#ifndef BERTH_REGISTRY_TRANSFER_H
#define BERTH_REGISTRY_TRANSFER_H

#include <stddef.h>
#include <stdint.h>
#include "client.h"
#include "err.h"
#include "imgarchive.h"
#include "ref.h"
#include "store.h"

/* ---- platform selection ---- */

/* From an image index / manifest list (untrusted bytes), the entry for os/arch/variant, as
 * containerd's matcher picks it: os and architecture equal (x86_64 and aarch64 read as
 * amd64 and arm64), variants normalised (arm64/v8 = arm64, amd64/v1 = amd64, arm = arm/v7);
 * the exact variant is best, then an older compatible one (arm v8 > v7 > v6 > v5, amd64
 * v4 > v3 > v2 > v1); the first of equally good entries wins. Entries that are neither
 * manifests nor indexes are skipped. *ret is the caller's (imgarchive_desc_clear). -ENOENT:
 * "no matching manifest for linux/arm64 in the manifest list entries"; -EINVAL for a
 * malformed index. */
int reg_manifest_select(const char *data, size_t len, const char *os, const char *arch,
			const char *variant, struct imgarchive_desc *ret, struct berr **err);

/* ---- progress ---- */

enum reg_event_type {
	REG_EV_LAYER_WAITING,	  /* "Pulling fs layer" */
	REG_EV_LAYER_EXISTS,	  /* "Already exists" */
	REG_EV_LAYER_DOWNLOADING, /* current / total bytes */
	REG_EV_LAYER_DOWNLOADED,  /* "Download complete" (blob kept, to be unpacked) */
	REG_EV_LAYER_EXTRACTING,  /* unpacking a downloaded blob */
	REG_EV_LAYER_DONE,	  /* "Pull complete" */
	REG_EV_PUSH_PREPARING,	  /* "Preparing" */
	REG_EV_PUSH_WAITING,	  /* "Waiting" */
	REG_EV_PUSH_PUSHING,	  /* current / total bytes */
	REG_EV_PUSH_EXISTS,	  /* "Layer already exists" */
	REG_EV_PUSH_MOUNTED,	  /* "Mounted from <detail>" */
	REG_EV_PUSH_PUSHED,	  /* "Pushed" */
	REG_EV_RETRY,		  /* "Retrying in <seconds> seconds" */
	REG_EV_WARNING,		  /* detail: a message for the user */
};

struct reg_event {
	enum reg_event_type type;
	const char *id; /* 12 hex digits: the blob digest (pull) or the diff id (push); NULL for
			 * REG_EV_WARNING */
	uint64_t current, total;
	const char *detail;
	int seconds;
};

typedef void (*reg_event_fn)(void *opaque, const struct reg_event *ev);

/* ---- pull ---- */

struct reg_pull_opts {
	const char *os, *arch, *variant; /* NULL: linux and the host's architecture */
	int platform_explicit; /* --platform given: a single-platform image must match it */
	int max_concurrent;    /* <= 0: 3 (Docker's max-concurrent-downloads) */
	reg_event_fn event;    /* may be NULL */
	void *opaque;
};

struct reg_pull_result {
	char id[DIGEST_STR_MAX];     /* the image id */
	char digest[DIGEST_STR_MAX]; /* what the reference resolved to (index or manifest) */
	int up_to_date; /* the name pointed at this image already and nothing was fetched */
};

/* Pull r (its tag or digest; a reference with neither is refused) from c into s. The handle s
 * is used from this thread; the download threads open their own on store_root(s). */
int reg_pull(struct reg_client *c, struct store *s, const struct ref *r,
	     const struct reg_pull_opts *o, struct reg_pull_result *ret, struct berr **err);

/* ---- push ---- */

struct reg_push_opts {
	int max_concurrent; /* <= 0: 5 (Docker's max-concurrent-uploads) */
	uint64_t chunk;	    /* bigger blobs go in PATCH chunks; 0: $BERTH_PUSH_CHUNK_SIZE or
			     * REG_CHUNK_DEFAULT */
	reg_event_fn event; /* may be NULL */
	void *opaque;
};

struct reg_push_result {
	char digest[DIGEST_STR_MAX]; /* of the manifest pushed */
	size_t size;		     /* its length in bytes */
};

/* Push the image id as r (a tag reference) to c. */
int reg_push(struct reg_client *c, struct store *s, const char *id, const struct ref *r,
	     const struct reg_push_opts *o, struct reg_push_result *ret, struct berr **err);

/* Gzip the uncompressed layer blob digest of s into a new blob (deterministically: no name,
 * mtime 0). ret_digest (DIGEST_STR_MAX) and ret_size describe it. Exposed for the tests. */
int reg_layer_gzip(struct store *s, const char *digest, char *ret_digest, uint64_t *ret_size,
		   struct berr **err);

#endif
