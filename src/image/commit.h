/* `docker commit`: a container's changes (its overlay upper dir) become a new image on top of
 * the image the container was created from.
 *
 * One pass over the changes: a thread walks the upper dir (layerdiff_write) into a tar
 * stream; each chunk is gzip-compressed into a blob writer and, through a socket, unpacked
 * into the store as the new top layer by store_layer_unpack, which hashes the tar (diff_id)
 * on the way. Then the config, an OCI manifest, the image record and the optional name are
 * written. Work grows with the size of the change, never with the size of the image: the
 * base image's layers are only named, not read. Details and measurements:
 * docs/internals/COMMIT.md.
 *
 * Crash safety: blobs and the layer are written atomically under the store's tmp/ and are
 * garbage (removed by store_gc) until the image record names them; the record is written
 * last, then the reference. A commit killed at any point leaves either no new image or a
 * complete one.
 */
#ifndef BERTH_IMAGE_COMMIT_H
#define BERTH_IMAGE_COMMIT_H

#include <jansson.h>
#include <stddef.h>
#include "err.h"
#include "store.h"

struct commit_opts {
	/* Full id ("sha256:...") of the image the container runs, or NULL for none (scratch:
	 * linux on the host's architecture, no layers below). */
	const char *base_id;
	/* The container's overlay upper dir, read only (never written), or -1: no new layer. An
	 * empty upper dir gives no layer either; the history entry is then an empty_layer one,
	 * as Docker writes it. */
	int upperfd;
	/* The container's runtime config ("Cmd", "Entrypoint", "Env", "WorkingDir", ... with
	 * Docker's keys), borrowed; it becomes the image's "config" before the changes are
	 * applied. NULL: the base image's config (or {}). */
	json_t *config;
	/* `--change` lines (Dockerfile instructions: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK,
	 * LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR), applied in order. */
	char *const *changes;
	size_t nchanges;
	/* "author" and "comment" of the config and of its history entry, or NULL. */
	const char *author;
	const char *message;
	/* The history entry's "created_by" (Docker: the container's command), or NULL. */
	const char *created_by;
	/* Written as the config's "container", or NULL. */
	const char *container_id;
	/* Normalised reference (ref_string()) to point at the new image, or NULL. */
	const char *name;
};

/* Check what can fail before any work: the changes (Docker's wording: "dockerfile parse
 * error on line 1: unknown instruction: FOO"). 0 or -EINVAL. */
int image_commit_check(const struct commit_opts *o, struct berr **err);

/* Commit as described above. *ret_id ("sha256:<config digest>") is the caller's. Needs the
 * privileges store_layer_unpack needs (root: owners, devices, whiteouts). Errors: -ENOENT
 * ("No such image: x") for a missing base image, -EBADMSG for a damaged base (config and
 * record disagree), -EINVAL for bad changes, -EOPNOTSUPP for an upper dir made with overlay
 * redirect_dir or metacopy, or what reading the upper dir and writing the store give. On
 * failure nothing is recorded; blobs and layers already written are removed by the next
 * store_gc(). */
int image_commit(struct store *s, const struct commit_opts *o, char **ret_id, struct berr **err);

#endif
