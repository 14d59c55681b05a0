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
	char *domain; /* "docker.io", "localhost:5000", "[::1]:5000" */
	char *path;   /* "library/nginx" */
	char *tag;    /* NULL when absent (and not defaulted) */
	char *digest; /* "sha256:...", NULL when absent */
};

/* Do not add ":latest" when neither tag nor digest is given (for filters and `images REPO`). */
#define REF_NO_DEFAULT_TAG 1

/* Parse and normalise s. On error *err reads like Docker's: "invalid reference format",
 * "invalid reference format: repository name must be lowercase". All fields of ret are
 * owned by ret; ref_free() releases them. */
int ref_parse(const char *s, int flags, struct ref *ret, struct berr **err);
void ref_free(struct ref *r);

/* Newly allocated strings (NULL on ENOMEM). */
char *ref_name(const struct ref *r);            /* docker.io/library/nginx */
char *ref_string(const struct ref *r);          /* docker.io/library/nginx:latest[@sha256:..] */
char *ref_familiar_name(const struct ref *r);   /* nginx, user/app, localhost:5000/x */
char *ref_familiar_string(const struct ref *r); /* nginx:latest, localhost:5000/x@sha256:... */

/* The familiar form of an already-normalised full string, e.g. for `images` output. */
char *ref_familiarize(const char *full);

#define _cleanup_ref_ __attribute__((cleanup(ref_free)))

#endif
