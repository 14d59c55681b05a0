/* Image archives: the tar files of `docker save` / `docker load`, OCI image layouts in a tar
 * ("oci-archive"), and plain root-file-system tars for `import`.
 *
 * Formats read by imgarchive_load():
 *  - docker-save, legacy (Docker <= 24): manifest.json, <id>.json configs, <id>/layer.tar
 *    (later copies of a layer are symlinks to the first), repositories;
 *  - docker-save, OCI (Docker >= 25): an OCI image layout plus manifest.json and repositories;
 *  - OCI image layout: oci-layout, index.json, blobs/<alg>/<hex>; nested indexes, gzip and
 *    zstd layers;
 * each possibly compressed as a whole (gzip, xz, zstd, bzip2).
 * imgarchive_save() writes the Docker >= 25 form (which docker 20.10's `load` and skopeo's
 * oci-archive transport both read) or a plain OCI layout.
 *
 * (The file is not called archive.h: with src/image on the include path it would hide
 * libarchive's <archive.h> from every other file here.)
 *
 * Everything an archive says is untrusted: every JSON type is checked, paths are cleaned and
 * may not leave the archive, every blob is hashed and compared with the digest that names it.
 * All functions return 0 or -errno with *err set, and never print.
 */
#ifndef BERTH_IMAGE_IMGARCHIVE_H
#define BERTH_IMAGE_IMGARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "store.h"
#include "strv.h"

#define IMGARCHIVE_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMGARCHIVE_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define IMGARCHIVE_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define IMGARCHIVE_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define IMGARCHIVE_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMGARCHIVE_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMGARCHIVE_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* OCI annotations naming an image in an index. */
#define IMGARCHIVE_ANNOT_REF_NAME "org.opencontainers.image.ref.name"
#define IMGARCHIVE_ANNOT_IMAGE_NAME "io.containerd.image.name"

/* ---- parsers (pure: no I/O, usable on fuzzed input) ---- */

/* Clean a path found in an archive: "./a//b/" -> "a/b". Without IMGARCHIVE_PATH_RESOLVE,
 * ".." components and absolute paths are refused (-EINVAL: "path '../x' leaves the
 * archive"); with it (symlink targets), ".." is resolved lexically and absolute paths are
 * taken from the archive root, but nothing may climb above the root. An empty result is
 * -EINVAL too. *ret is the caller's. */
#define IMGARCHIVE_PATH_RESOLVE 1
int imgarchive_path_clean(const char *path, int flags, char **ret, struct berr **err);

/* One image of a docker-save manifest.json. */
struct imgarchive_docker_image {
	char *config;          /* cleaned member path */
	struct strv repo_tags; /* as written ("nginx:latest"); may be empty */
	struct strv layers;    /* cleaned member paths, base layer first */
};

/* Parse manifest.json: an array of {"Config": path, "RepoTags": [string] | null,
 * "Layers": [path]}. The array is the caller's (imgarchive_docker_manifest_free). */
int imgarchive_parse_docker_manifest(const char *data, size_t len,
				     struct imgarchive_docker_image **ret, size_t *ret_n,
				     struct berr **err);
void imgarchive_docker_manifest_free(struct imgarchive_docker_image *imgs, size_t n);

/* An OCI content descriptor. */
struct imgarchive_desc {
	char *media_type;
	char *digest; /* valid per digest_valid() */
	int64_t size; /* >= 0 */
	char *os, *architecture, *variant; /* platform; NULL when absent */
	char *ref_name;   /* annotation org.opencontainers.image.ref.name, or NULL */
	char *image_name; /* annotation io.containerd.image.name, or NULL */
};
void imgarchive_desc_clear(struct imgarchive_desc *d);

/* An image index (index.json or a nested index / Docker manifest list). */
struct imgarchive_index {
	char *media_type; /* NULL when the document has none (index.json often has none) */
	struct imgarchive_desc *manifests;
	size_t n;
};
int imgarchive_parse_index(const char *data, size_t len, struct imgarchive_index *ret,
			   struct berr **err);
void imgarchive_index_free(struct imgarchive_index *ix);

/* An image manifest (OCI or Docker schema 2). The config must have an image config media
 * type and every layer a tar layer media type (plain, gzip or zstd; Docker's and OCI's,
 * non-distributable ones included). */
struct imgarchive_manifest {
	char *media_type; /* the document's mediaType, or the OCI one when it has none */
	struct imgarchive_desc config;
	struct imgarchive_desc *layers;
	size_t nlayers;
};
int imgarchive_parse_manifest(const char *data, size_t len, struct imgarchive_manifest *ret,
			      struct berr **err);
void imgarchive_manifest_free(struct imgarchive_manifest *m);

/* The oci-layout file: {"imageLayoutVersion": "1.x.y"}. */
int imgarchive_parse_oci_layout(const char *data, size_t len, struct berr **err);

/* 1 for the media types of an image index / manifest list, 0 otherwise. */
int imgarchive_is_index_type(const char *media_type);
/* 1 for the media types of an image manifest, 0 otherwise. */
int imgarchive_is_manifest_type(const char *media_type);

/* ---- load ---- */

struct imgarchive_loaded {
	char *id;       /* "sha256:..." */
	char *name;     /* full normalised reference ("docker.io/library/nginx:latest"), or NULL:
			 * the image came without a name */
	char *replaced; /* the image id name pointed to before, when it was another one */
};
void imgarchive_loaded_free(struct imgarchive_loaded *l, size_t n);

struct imgarchive_load_opts {
	/* Platform to pick from multi-platform indexes; NULL fields: linux and the host's. */
	const char *os, *architecture, *variant;
};

/* Read an archive from fd (read once, front to back; a pipe is fine) and add its images
 * and names to the store. Holds the store's gc lock (store_gc_hold) from the start, takes
 * the meta lock exclusive only to write records and references at the end, so either every
 * image and name of the archive is recorded or none is. Blobs and layers of a failed load
 * stay until the next store_gc(); see imgarchive_cleanup().
 * *ret (one entry per name, or per image without a name, in archive order) is the caller's. */
int imgarchive_load(struct store *s, int fd, const struct imgarchive_load_opts *opts,
		    struct imgarchive_loaded **ret, size_t *ret_n, struct berr **err);

/* After a failed load or import (with the store handle closed): run store_gc() on the store
 * at root to remove the blobs and layers no image names. Does nothing when another command
 * is writing (the gc lock is busy). Errors are ignored: this is best effort. */
void imgarchive_cleanup(const char *root);

/* ---- save ---- */

enum imgarchive_format {
	IMGARCHIVE_FORMAT_DOCKER = 0, /* OCI layout + manifest.json + repositories (Docker 25) */
	IMGARCHIVE_FORMAT_OCI,        /* OCI layout only */
};

struct imgarchive_save_item {
	const char *id;   /* full image id */
	const char *name; /* full normalised reference to record for it, or NULL */
};

/* Write the images to fd as one tar archive. An id may appear in several items (one per
 * name); each blob is written once. Holds the gc lock so that no blob disappears while it is
 * read. On error, what was written to fd is garbage: write to a temp file and rename. */
int imgarchive_save(struct store *s, const struct imgarchive_save_item *items, size_t n,
		    enum imgarchive_format format, int fd, struct berr **err);

/* ---- import ---- */

struct imgarchive_import_opts {
	const char *name;         /* full normalised reference to tag the image with, or NULL */
	char *const *changes;     /* Dockerfile change lines (imgconfig_apply_changes) */
	size_t nchanges;
	const char *message;      /* history comment; NULL: "Imported from <source>" */
	const char *source;       /* "-" or the URL, for the default message */
	const char *os, *architecture, *variant; /* NULL: linux and the host's architecture */
	/* When fd is the read end of a producer: once the layer is read, the import waits for
	 * it (and sets *producer to NULL) and fails without recording anything when the
	 * producer failed. On an earlier failure *producer is left to the caller. */
	struct imgarchive_producer **producer;
};

/* Check what can be checked before any data is read: the changes and the platform.
 * Commands call it first so that a typo fails at once, not after a long download. */
int imgarchive_import_check(const struct imgarchive_import_opts *o, struct berr **err);

/* Read a root file system tar (plain, gzip, zstd or xz) from fd and make a one-layer image of
 * it: the uncompressed tar is kept as the layer blob, then config, OCI manifest, record and
 * name. ret_id (DIGEST_STR_MAX bytes) receives the image id. */
int imgarchive_import(struct store *s, int fd, const struct imgarchive_import_opts *o,
		      char *ret_id, struct berr **err);

/* ---- producers: data made by a thread, read through a socket ---- */

/* A producer writes a stream for a consumer (store_layer_unpack) on another fd. It runs in
 * its own thread; it must write with fs_send_all() (util/fs.h), which never raises SIGPIPE, and
 * stop on the first error (the consumer closed its end). */
typedef int (*imgarchive_produce_fn)(void *opaque, int out_fd, struct berr **err);
struct imgarchive_producer;

/* Start fn in a thread; *ret_fd is the read end (the caller's, close it when done). */
int imgarchive_producer_start(imgarchive_produce_fn fn, void *opaque, int *ret_fd,
			      struct imgarchive_producer **ret, struct berr **err);
/* Wait for the producer and free it; returns its result (and its *err). Close or drain the
 * read end first, or a producer blocked on a full socket never ends. */
int imgarchive_producer_finish(struct imgarchive_producer *p, struct berr **err);

/* A producer that writes the directory tree at path as a tar (pax): the root's contents with
 * relative names, hard links, symlinks, xattrs, device nodes; no ACLs or file flags; mount
 * points below path are not crossed. opaque is the path (a const char *). */
int imgarchive_produce_dir_tar(void *opaque, int out_fd, struct berr **err);

#endif
