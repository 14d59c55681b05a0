/* What the image commands (images, tag, rmi, inspect, history, image prune) share:
 *  - a snapshot of the image records and references, indexed for one-pass listing;
 *  - Docker's `--filter name=value` sets and Go's path.Match for reference patterns;
 *  - Docker's image delete semantics (untag, conflicts, delete, prune untagged parents),
 *    used by rmi and image prune, reported as Untagged/Deleted records;
 *  - Go-flavoured output helpers: go-units sizes at any precision, time.Time.String(),
 *    RFC 3339 in local time, JSON written as encoding/json writes it.
 * Nothing here prints; every function returns 0 (or a count) or -errno with *err set. */
#ifndef BERTH_CMD_IMAGECMD_H
#define BERTH_CMD_IMAGECMD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "err.h"
#include "store.h"
#include "strv.h"

/* Go's zero time.Time as seconds since the epoch (0001-01-01T00:00:00Z): what Docker shows
 * for an image config without "created". */
#define IMGCMD_ZERO_TIME ((time_t)-62135596800LL)

/* Docker's short id (stringid.TruncateID): the part after "sha256:", at most 12 chars. */
void imgcmd_short_id(const char *id, char ret[13]);

/* go-units HumanSizeWithPrecision(bytes, precision): "4.26MB" (3), "4.262MB" (4: HumanSize).
 * Owned by the caller; NULL on ENOMEM. */
char *imgcmd_human_size(uint64_t bytes, int precision);

/* Go's time.Unix(t, 0).String() in the local zone: "2024-01-02 03:04:05 +0100 CET". */
char *imgcmd_go_time(time_t t);
/* Go's time.Unix(t, 0).Format(time.RFC3339) in the local zone: "2024-01-02T03:04:05+01:00". */
char *imgcmd_rfc3339(time_t t);

/* The "created" of a record or a history entry as seconds; IMGCMD_ZERO_TIME when missing
 * or unparseable (as Go decodes a missing time). */
time_t imgcmd_created(const char *rfc3339);
/* Its fraction of a second in nanoseconds (0 when there is none): docker compares
 * before= and since= at full precision. */
long imgcmd_created_nsec(const char *rfc3339);

/* Print v as json_dumps(flags) does, followed by a newline, with U+2028 and U+2029
 * escaped as Go's encoding/json writes them (docker turns HTML escaping off). */
int imgcmd_print_json(FILE *out, json_t *v, size_t flags);

/* ---- filters (docker's filters.Args) ---- */
struct imgcmd_filter {
	char *name;          /* lowercased, trimmed */
	struct strv values;  /* trimmed, unique, in the order given */
};

struct imgcmd_filters {
	struct imgcmd_filter *v;
	size_t n;
};

/* Add one "name=value" argument of -f/--filter. -EINVAL with "bad format of filter
 * (expected name=value)" when there is no '='. An empty argument is ignored. */
int imgcmd_filters_add(struct imgcmd_filters *f, const char *arg, struct berr **err);
/* Add a parsed name and value (e.g. `images REPO` as reference=REPO). */
int imgcmd_filters_add_kv(struct imgcmd_filters *f, const char *name, const char *value);
/* -EINVAL "invalid filter 'x'" when a name is not in accepted (NULL-terminated). */
int imgcmd_filters_validate(const struct imgcmd_filters *f, const char *const *accepted,
			    struct berr **err);
/* The values given for name, or NULL when it was not given. */
const struct strv *imgcmd_filters_get(const struct imgcmd_filters *f, const char *name);
/* filters.GetBoolOrDefault: def when absent, -EINVAL "invalid filter 'name=[v]'" for
 * values that are not true/1/false/0 or that conflict. */
int imgcmd_filters_bool(const struct imgcmd_filters *f, const char *name, int def, int *ret,
			struct berr **err);
/* filters.MatchKVList: every "k" or "k=v" value of name must match labels (a JSON object
 * of strings, or NULL). 1 when matching, also when name was not given. */
int imgcmd_filters_match_kv(const struct imgcmd_filters *f, const char *name, json_t *labels);
void imgcmd_filters_free(struct imgcmd_filters *f);

/* Go's path.Match: 1 when name matches the whole pattern, 0 when not, -EINVAL when the
 * pattern is malformed ("syntax error in pattern"). */
int imgcmd_path_match(const char *pattern, const char *name);

/* ---- a snapshot of records and references ---- */
struct imgcmd_ref {
	const char *full;  /* the normalised name as stored (points into the snapshot) */
	const char *id;    /* the image it points at (points into the snapshot) */
	char *familiar;    /* "nginx:latest", "nginx@sha256:..." */
	size_t name_len;   /* length of the repository part of familiar ("nginx") */
	int canonical;     /* a digest reference */
};

struct imgcmd_snap {
	struct store_image **imgs; /* sorted by id */
	size_t nimgs;
	struct store_ref *refs;    /* sorted by name */
	size_t nrefs;
	struct imgcmd_ref *xrefs;  /* same order as refs */
	size_t *by_id;             /* indices into xrefs, sorted by image id, then name */
	const char **parents;      /* parent ids of all records, sorted (for "has children") */
	size_t nparents;
};

/* Read all records and references. The caller holds the meta lock (shared is enough). */
int imgcmd_snap_load(struct store *s, struct imgcmd_snap *ret, struct berr **err);
/* The same from the store's index alone (store_image_summaries): the records have no
 * layers. Enough for listing (images). */
int imgcmd_snap_load_summaries(struct store *s, struct imgcmd_snap *ret, struct berr **err);
void imgcmd_snap_free(struct imgcmd_snap *snap);
/* The record of id, or NULL. */
struct store_image *imgcmd_snap_image(const struct imgcmd_snap *snap, const char *id);
/* The references to id: *ret_first indexes snap->by_id; returns how many there are. */
size_t imgcmd_snap_refs_of(const struct imgcmd_snap *snap, const char *id, size_t *ret_first);
/* 1 when some record names id as its parent. */
int imgcmd_snap_has_children(const struct imgcmd_snap *snap, const char *id);

/* The image config (the blob named by the image id) as a JSON object owned by the caller.
 * -EBADMSG when it is not a JSON object. */
int imgcmd_read_config(struct store *s, const char *id, json_t **ret, struct berr **err);

/* ---- deleting (Docker's ImageDelete) ---- */
struct imgcmd_del {
	char *untagged;  /* "nginx:latest" for an Untagged record, else NULL */
	char *deleted;   /* "sha256:..." (image id or layer chain id) for a Deleted record */
	uint64_t size;   /* unpacked bytes, for a deleted layer */
	int is_layer;
};

struct imgcmd_dels {
	struct imgcmd_del *v;
	size_t n;
};

/* Delete what `input` names as Docker's daemon does for `rmi`: a reference is untagged and
 * the image deleted with its last reference; an id deletes the image (its single reference
 * untagged first), and an image still referenced needs force, which untags everything.
 * With prune, untagged parents go too. Records are appended to dels (also on failure: those
 * of the steps already done). The caller holds the meta lock exclusive and runs store_gc()
 * afterwards for what a concurrent writer kept; the image's own blobs and layers that no
 * remaining record uses are deleted at once (store_image_purge) and reported.
 * Errors: -ENOENT "No such image: input"; -EBUSY "conflict: unable to delete ..."; -EINVAL
 * for a malformed reference. */
int imgcmd_delete(struct store *s, const char *input, int force, int prune,
		  struct imgcmd_dels *dels, struct berr **err);
void imgcmd_dels_free(struct imgcmd_dels *dels);

#endif
