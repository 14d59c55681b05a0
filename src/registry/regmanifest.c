#include "regmanifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "digest.h"

#include "banned.h"

static const struct {
	enum regsrv_mt type;
	const char *s;
} types[] = {
    {REGSRV_MT_DOCKER_MANIFEST, REGSRV_MT_DOCKER_MANIFEST_S},
    {REGSRV_MT_DOCKER_LIST, REGSRV_MT_DOCKER_LIST_S},
    {REGSRV_MT_OCI_MANIFEST, REGSRV_MT_OCI_MANIFEST_S},
    {REGSRV_MT_OCI_INDEX, REGSRV_MT_OCI_INDEX_S},
};

enum regsrv_mt regsrv_mt_parse(const char *s)
{
	if (!s)
		return REGSRV_MT_UNKNOWN;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strcspn(s, "; \t");
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (strlen(types[i].s) == n && strncasecmp(types[i].s, s, n) == 0)
			return types[i].type;
	return REGSRV_MT_UNKNOWN;
}

const char *regsrv_mt_string(enum regsrv_mt t)
{
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (types[i].type == t)
			return types[i].s;
	return NULL;
}

int regsrv_mt_is_index(enum regsrv_mt t)
{
	return t == REGSRV_MT_DOCKER_LIST || t == REGSRV_MT_OCI_INDEX;
}

void regsrv_manifest_free(struct regsrv_manifest *m)
{
	strv_free(&m->blobs);
	strv_free(&m->manifests);
	free(m->subject);
	free(m->artifact_type);
	if (m->root)
		json_decref(m->root);
	memset(m, 0, sizeof(*m));
}

/* A descriptor: an object with a valid "digest" and a non-negative integer "size";
 * "mediaType", when there, a string. Returns the digest or NULL with *err set. */
static const char *descriptor(json_t *d, const char *what, struct berr **err)
{
	if (!json_is_object(d)) {
		berr_set(err, EINVAL, "%s: not an object", what);
		return NULL;
	}
	json_t *dg = json_object_get(d, "digest");
	json_t *size = json_object_get(d, "size");
	json_t *mt = json_object_get(d, "mediaType");
	if (!json_is_string(dg) || !digest_valid(json_string_value(dg))) {
		berr_set(err, EINVAL, "%s: missing or invalid digest", what);
		return NULL;
	}
	if (!json_is_integer(size) || json_integer_value(size) < 0) {
		berr_set(err, EINVAL, "%s: missing or invalid size", what);
		return NULL;
	}
	if (mt && !json_is_string(mt)) {
		berr_set(err, EINVAL, "%s: mediaType is not a string", what);
		return NULL;
	}
	return json_string_value(dg);
}

/* 1 when the descriptor points outside the registry (non-empty "urls"). */
static int is_foreign(json_t *d)
{
	json_t *urls = json_object_get(d, "urls");
	return json_is_array(urls) && json_array_size(urls) > 0;
}

static enum regsrv_mt shape_type(json_t *root)
{
	if (json_object_get(root, "manifests"))
		return REGSRV_MT_OCI_INDEX;
	return REGSRV_MT_OCI_MANIFEST;
}

int regsrv_manifest_parse(const char *data, size_t len, const char *content_type,
			  struct regsrv_manifest *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	int r = -EINVAL; /* what a descriptor() failure returns */
	json_error_t je;
	_cleanup_json_ json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return berr_set(err, EINVAL, "manifest is not JSON: %s", je.text);
	if (!json_is_object(root))
		return berr_set(err, EINVAL, "manifest is not a JSON object");

	json_t *mtj = json_object_get(root, "mediaType");
	if (mtj && !json_is_string(mtj))
		return berr_set(err, EINVAL, "mediaType is not a string");
	const char *doc_mt = json_string_value(mtj);
	enum regsrv_mt doc_type = regsrv_mt_parse(doc_mt);

	json_t *sv = json_object_get(root, "schemaVersion");
	if (json_is_integer(sv) && json_integer_value(sv) == 1)
		return berr_set(err, EINVAL, "schema 1 manifests are not supported");

	enum regsrv_mt type;
	enum regsrv_mt ct_type = regsrv_mt_parse(content_type);
	int ct_given =
	    content_type && *content_type && strncasecmp(content_type, "application/json", 16) != 0;
	if (ct_given) {
		if (ct_type == REGSRV_MT_UNKNOWN)
			return berr_set(err, EINVAL, "unsupported manifest media type '%.100s'",
					content_type);
		if (doc_mt && doc_type != ct_type)
			return berr_set(err, EINVAL,
					"mediaType '%.100s' does not match Content-Type '%.100s'",
					doc_mt, content_type);
		type = ct_type;
	} else if (doc_mt) {
		if (doc_type == REGSRV_MT_UNKNOWN)
			return berr_set(err, EINVAL, "unsupported manifest media type '%.100s'",
					doc_mt);
		type = doc_type;
	} else {
		type = shape_type(root);
	}
	/* Docker's types always carry mediaType; only OCI made it optional. */
	if ((type == REGSRV_MT_DOCKER_MANIFEST || type == REGSRV_MT_DOCKER_LIST) && !doc_mt)
		return berr_set(err, EINVAL, "mediaType is missing");

	if (!json_is_integer(sv) || json_integer_value(sv) != 2)
		return berr_set(err, EINVAL, "schemaVersion must be 2");

	ret->type = type;
	if (regsrv_mt_is_index(type)) {
		json_t *ms = json_object_get(root, "manifests");
		if (!json_is_array(ms))
			goto shape;
		if (json_object_get(root, "config") || json_object_get(root, "layers"))
			goto shape;
		size_t i;
		json_t *m;
		json_array_foreach(ms, i, m)
		{
			const char *d = descriptor(m, "manifests entry", err);
			if (!d)
				goto fail;
			json_t *p = json_object_get(m, "platform");
			if (p && !json_is_object(p)) {
				berr_set(err, EINVAL, "manifests entry: platform is not an object");
				goto fail;
			}
			if (strv_push(&ret->manifests, d) < 0)
				goto nomem;
		}
	} else {
		json_t *cfg = json_object_get(root, "config");
		json_t *layers = json_object_get(root, "layers");
		if (!cfg || json_object_get(root, "manifests"))
			goto shape;
		const char *d = descriptor(cfg, "config", err);
		if (!d)
			goto fail;
		if (strv_push(&ret->blobs, d) < 0)
			goto nomem;
		json_t *cmt = json_object_get(cfg, "mediaType");
		if (layers && !json_is_array(layers))
			goto shape;
		if (!layers && type == REGSRV_MT_DOCKER_MANIFEST)
			goto shape;
		size_t i;
		json_t *l;
		json_array_foreach(layers, i, l)
		{
			d = descriptor(l, "layer", err);
			if (!d)
				goto fail;
			if (is_foreign(l) || strv_contains(&ret->blobs, d))
				continue;
			if (strv_push(&ret->blobs, d) < 0)
				goto nomem;
		}
		if (json_is_string(cmt) && json_string_length(cmt) > 0 &&
		    !(ret->artifact_type = strdup(json_string_value(cmt))))
			goto nomem;
	}

	json_t *at = json_object_get(root, "artifactType");
	if (at && !json_is_string(at)) {
		berr_set(err, EINVAL, "artifactType is not a string");
		goto fail;
	}
	if (at && json_string_length(at) > 0) {
		free(ret->artifact_type);
		if (!(ret->artifact_type = strdup(json_string_value(at))))
			goto nomem;
	}
	json_t *subj = json_object_get(root, "subject");
	if (subj) {
		const char *d = descriptor(subj, "subject", err);
		if (!d)
			goto fail;
		if (!(ret->subject = strdup(d)))
			goto nomem;
	}
	json_t *ann = json_object_get(root, "annotations");
	if (ann && !json_is_object(ann)) {
		berr_set(err, EINVAL, "annotations is not an object");
		goto fail;
	}
	ret->annotations = ann;
	ret->root = TAKE_PTR(root);
	return 0;

shape:
	r = berr_set(err, EINVAL, "the document does not have the fields of a %s",
		     regsrv_mt_string(type));
	goto fail;
nomem:
	r = berr_set(err, ENOMEM, "out of memory");
fail:
	regsrv_manifest_free(ret);
	return r;
}

enum regsrv_mt regsrv_manifest_sniff(const char *data, size_t len)
{
	_cleanup_json_ json_t *root = json_loadb(data, len, 0, NULL);
	if (!json_is_object(root))
		return REGSRV_MT_UNKNOWN;
	enum regsrv_mt t = regsrv_mt_parse(json_string_value(json_object_get(root, "mediaType")));
	return t != REGSRV_MT_UNKNOWN ? t : shape_type(root);
}

int regsrv_index_find_platform(const char *data, size_t len, const char *os, const char *arch,
			       int (*accept)(void *cls, enum regsrv_mt type), void *cls, char *ret,
			       enum regsrv_mt *ret_type)
{
	_cleanup_json_ json_t *root = json_loadb(data, len, 0, NULL);
	json_t *ms = json_object_get(root, "manifests");
	size_t i;
	json_t *m;
	json_array_foreach(ms, i, m)
	{
		json_t *p = json_object_get(m, "platform");
		const char *pos = json_string_value(json_object_get(p, "os"));
		const char *parch = json_string_value(json_object_get(p, "architecture"));
		const char *d = json_string_value(json_object_get(m, "digest"));
		enum regsrv_mt t =
		    regsrv_mt_parse(json_string_value(json_object_get(m, "mediaType")));
		if (!pos || !parch || !d || !digest_valid(d) || strcmp(pos, os) != 0 ||
		    strcmp(parch, arch) != 0 || t == REGSRV_MT_UNKNOWN || !accept(cls, t))
			continue;
		snprintf(ret, 140, "%s", d);
		*ret_type = t;
		return 0;
	}
	return -ENOENT;
}
