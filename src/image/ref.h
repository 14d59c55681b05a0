/* Image references with Docker's normalisation:
 *   nginx                    -> docker.io/library/nginx:latest
 *   user/app:1               -> docker.io/user/app:1
 *   localhost:5000/x         -> localhost:5000/x:latest
 *   host:port/a/b@sha256:... -> host:port/a/b@sha256:...   (no default tag)
 *   index.docker.io/x        -> docker.io/library/x:latest
 * The grammar is distribution/reference's: lowercase path components separated by
 * [._-] runs ("__" and "-" runs allowed), tags [\w][\w.-]{0,127}, a domain is the first
 * component when it has a '.' or ':' or is "localhost". Uppercase in a path, a 64-hex
 * string as the whole name, empty components: invalid. */
#ifndef BERTH_IMAGE_REF_H
#define BERTH_IMAGE_REF_H

#include "err.h"

struct ref {
	char *domain; /* "docker.io", "localhost:5000", "[::1]:5000"; "" in one corner case:
		       * a first component that has a '.' but is no valid host ("my_host.com/x")
		       * is, as in Go, the first path component of a domain-less name */
	char *path;   /* "library/nginx" */
	char *tag;    /* NULL when absent (and not defaulted) */
	char *digest; /* "sha256:...", NULL when absent */
};

/* Do not add ":latest" when neither tag nor digest is given (for filters and `images REPO`). */
#define REF_NO_DEFAULT_TAG 1

/* Parse and normalise s. Returns 0, or -EINVAL (-ENOMEM) with *err reading like Docker's:
 * "invalid reference format", "invalid reference format: repository name must be lowercase",
 * "repository name must not be more than 255 characters" (path only, as in
 * distribution/reference v0.6), "invalid repository name (<hex>), cannot specify 64-byte
 * hexadecimal strings", go-digest's "invalid checksum digest length" / "... format" /
 * "unsupported digest algorithm" (sha256 and sha512 only). Tag and digest may both be set.
 * All fields of ret are owned by ret (all NULL on failure); ref_free() releases them. */
int ref_parse(const char *s, int flags, struct ref *ret, struct berr **err);
void ref_free(struct ref *r);

/* Newly allocated strings (NULL on ENOMEM). */
char *ref_name(const struct ref *r);            /* docker.io/library/nginx */
char *ref_string(const struct ref *r);          /* docker.io/library/nginx:latest[@sha256:..] */
char *ref_familiar_name(const struct ref *r);   /* nginx, user/app, localhost:5000/x */
char *ref_familiar_string(const struct ref *r); /* nginx:latest, localhost:5000/x@sha256:... */

/* The familiar form of an already-normalised full string, e.g. for `images` output
 * ("docker.io/library/nginx:latest" -> "nginx:latest"). A string that is not a valid
 * reference ("<none>:<none>") comes back as a copy. NULL on ENOMEM or for NULL. */
char *ref_familiarize(const char *full);

#define _cleanup_ref_ __attribute__((cleanup(ref_free)))

#endif
