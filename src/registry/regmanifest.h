/* The manifests a registry accepts, read as far as the server needs: their media type,
 * the blobs and manifests they reference (which must exist before the manifest may be
 * stored), the subject and artifact type (for the referrers API) and, for indexes, the
 * platform of each entry (to answer a client that does not accept indexes).
 *
 * Accepted: Docker schema 2 manifests and manifest lists, OCI image manifests and indexes.
 * Schema 1 and anything else is refused. Manifests are untrusted input: every field read is
 * type-checked and a wrong type is an error, never a crash. */
#ifndef BERTH_REGISTRY_REGMANIFEST_H
#define BERTH_REGISTRY_REGMANIFEST_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"
#include "strv.h"

#define REGSRV_MT_DOCKER_MANIFEST_S "application/vnd.docker.distribution.manifest.v2+json"
#define REGSRV_MT_DOCKER_LIST_S "application/vnd.docker.distribution.manifest.list.v2+json"
#define REGSRV_MT_OCI_MANIFEST_S "application/vnd.oci.image.manifest.v1+json"
#define REGSRV_MT_OCI_INDEX_S "application/vnd.oci.image.index.v1+json"

/* The registry's manifest size limit: the spec asks for at least 4 MB to be accepted. */
#define REGSRV_MANIFEST_MAX (4u << 20)

enum regsrv_mt {
	REGSRV_MT_UNKNOWN = 0,
	REGSRV_MT_DOCKER_MANIFEST,
	REGSRV_MT_DOCKER_LIST,
	REGSRV_MT_OCI_MANIFEST,
	REGSRV_MT_OCI_INDEX,
};

/* The media type named by s, ignoring parameters (";charset=...") and case; REGSRV_MT_UNKNOWN
 * for anything else. */
enum regsrv_mt regsrv_mt_parse(const char *s);
/* The canonical string of t (static), or NULL for REGSRV_MT_UNKNOWN. */
const char *regsrv_mt_string(enum regsrv_mt t);
/* 1 for the two index types. */
int regsrv_mt_is_index(enum regsrv_mt t);

struct regsrv_manifest {
	enum regsrv_mt type;
	struct strv blobs;     /* config and layer digests that must be in the repository */
	struct strv manifests; /* index entries: manifest digests that must be in the repository */
	char *subject;	       /* "sha256:..." of the subject, or NULL */
	/* For a referrers list: artifactType, else (image manifests) the config's media type;
	 * NULL when neither. */
	char *artifact_type;
	json_t *annotations; /* the manifest's "annotations" object (a reference), or NULL */
	json_t *root;	     /* the parsed document (owned) */
};

/* Parse and check a manifest about to be stored. content_type is the request's Content-Type
 * (NULL when absent). The type is the Content-Type when it names a known type; without one
 * (or with "application/json"), the document's "mediaType", else its shape ("manifests":
 * an OCI index, "config": an OCI manifest). A "mediaType" that disagrees with the
 * Content-Type is refused, as are schema 1 manifests, unknown types, schemaVersion other
 * than 2, descriptors without a valid digest or a non-negative size, and a shape that does
 * not fit the type. Descriptors with "urls" (foreign layers) are not put in blobs: the
 * registry does not hold them.
 * Returns 0 and fills *ret (free with regsrv_manifest_free), or -EINVAL with *err saying why. */
int regsrv_manifest_parse(const char *data, size_t len, const char *content_type,
			  struct regsrv_manifest *ret, struct berr **err);
void regsrv_manifest_free(struct regsrv_manifest *m);

/* The media type to serve stored manifest bytes with: the document's "mediaType" when it is
 * a known type, else guessed from its shape (an OCI index or an OCI manifest).
 * REGSRV_MT_UNKNOWN only for bytes that are not a JSON object. */
enum regsrv_mt regsrv_manifest_sniff(const char *data, size_t len);

/* In the index data, the digest of the first entry for os/arch ("linux", "amd64") whose
 * media type is accepted by accept(cls, type). Returns 0 with the digest copied into ret
 * (at least 140 bytes) and its type in *ret_type, or -ENOENT. */
int regsrv_index_find_platform(const char *data, size_t len, const char *os, const char *arch,
			       int (*accept)(void *cls, enum regsrv_mt type), void *cls, char *ret,
			       enum regsrv_mt *ret_type);

#endif
