/* What a request to the registry server names: the API endpoint, the repository, the tag
 * or digest, the upload session. Everything here is checked against the OCI distribution
 * spec's grammar before the storage layer builds a path from it, so that a name can never
 * walk out of its directory ("..", "/" runs, "_uploads" and other internal names all fail).
 *
 * The grammar (distribution-spec, "Pulling manifests"):
 *   name  [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
 *         at most 255 characters in all (distribution's limit; clients add the host)
 *   tag   [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
 *   digest  sha256:<64 hex> or sha512:<128 hex>, lowercase (digest.h)
 * No function here allocates or fails beyond its return value. */
#ifndef BERTH_REGISTRY_ROUTE_H
#define BERTH_REGISTRY_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

#define REGSRV_NAME_MAX 255
#define REGSRV_TAG_MAX 128
#define REGSRV_UUID_LEN 36

/* 1 when s is a valid repository name (the spec's regex, and at most REGSRV_NAME_MAX). */
int regsrv_name_valid(const char *s);
/* 1 when s is a valid tag. */
int regsrv_tag_valid(const char *s);
/* 1 when s is an upload id as the server makes them: a lowercase 8-4-4-4-12 hex UUID. */
int regsrv_uuid_valid(const char *s);

enum regsrv_route_kind {
	REGSRV_ROUTE_NONE = 0,	   /* no endpoint of the API */
	REGSRV_ROUTE_BASE,	   /* /v2/ */
	REGSRV_ROUTE_CATALOG,	   /* /v2/_catalog */
	REGSRV_ROUTE_TOKEN,	   /* /token: the built-in token issuer */
	REGSRV_ROUTE_TAGS,	   /* /v2/<name>/tags/list */
	REGSRV_ROUTE_MANIFEST,	   /* /v2/<name>/manifests/<tag-or-digest> */
	REGSRV_ROUTE_BLOB,	   /* /v2/<name>/blobs/<digest> */
	REGSRV_ROUTE_UPLOAD_START, /* /v2/<name>/blobs/uploads/ */
	REGSRV_ROUTE_UPLOAD,	   /* /v2/<name>/blobs/uploads/<uuid> */
	REGSRV_ROUTE_REFERRERS,	   /* /v2/<name>/referrers/<digest> */
};

/* Why a path of a known shape is still refused (kind is set all the same). */
enum regsrv_route_error {
	REGSRV_ROUTE_OK = 0,
	REGSRV_ROUTE_NAME_INVALID,   /* NAME_INVALID, 400 */
	REGSRV_ROUTE_DIGEST_INVALID, /* DIGEST_INVALID, 400 */
	REGSRV_ROUTE_TAG_INVALID,    /* TAG_INVALID, 400 */
	REGSRV_ROUTE_UUID_INVALID,   /* BLOB_UPLOAD_UNKNOWN, 404: no upload can have that id */
};

struct regsrv_route {
	enum regsrv_route_kind kind;
	enum regsrv_route_error error;
	char name[REGSRV_NAME_MAX + 1]; /* "" unless the route has a name */
	/* The tag, digest string or upload id; "" when the route has none. */
	char ref[DIGEST_STR_MAX > REGSRV_TAG_MAX + 1 ? DIGEST_STR_MAX : REGSRV_TAG_MAX + 1];
	int ref_is_digest;    /* manifests, blobs, referrers: ref is a digest, parsed below */
	struct digest digest; /* valid when ref_is_digest and error == REGSRV_ROUTE_OK */
};

/* Classify an URL path (as the HTTP layer decoded it; no query string). Fills *ret and
 * returns ret->kind. Only a path of a known shape has its parts copied; parts that fail the
 * grammar set ret->error (the first one found, name before reference). */
enum regsrv_route_kind regsrv_route_parse(const char *path, struct regsrv_route *ret);

/* The Range header of a GET (RFC 9110, 14.2) against a resource of size bytes. One range of
 * "bytes=a-b", "bytes=a-" or "bytes=-n"; b past the end is cut to the end.
 * Returns 1 with the range in *ret_start / *ret_len, 0 when the header is to be ignored (not
 * a bytes range, several ranges, bad syntax) and the whole resource served, or -ERANGE when
 * the range cannot be satisfied (start past the end, b < a, a suffix of 0, empty resource):
 * answer 416. */
int regsrv_range_parse(const char *header, uint64_t size, uint64_t *ret_start, uint64_t *ret_len);

/* The Content-Range of an upload chunk: the spec's "<start>-<end>" (inclusive), and for
 * clients that send the RFC form, "bytes <start>-<end>/<total or *>". 0 with the values, or
 * -EINVAL for anything else, including end < start. */
int regsrv_content_range_parse(const char *header, uint64_t *ret_start, uint64_t *ret_end);

#endif
