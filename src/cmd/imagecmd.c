/* Shared by the image commands: see imagecmd.h. */
#include "imagecmd.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "buf.h"
#include "ctr.h"
#include "format.h"
#include "log.h"
#include "ref.h"

#include "banned.h"

/* Image configs are a few kB; this only stops a hostile blob from eating memory. */
#define IMGCMD_CONFIG_MAX (16u << 20)

void imgcmd_short_id(const char *id, char ret[13])
{
	const char *colon = strchr(id, ':');
	if (colon)
		id = colon + 1;
	snprintf(ret, 13, "%.12s", id);
}

char *imgcmd_human_size(uint64_t bytes, int precision)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
	double v = (double)bytes;
	size_t i = 0;
	while (v >= 1000.0 && i < ARRAY_SIZE(units) - 1) {
		v /= 1000.0;
		i++;
	}
	char *s = NULL;
	/* C's %g and Go's %g agree here: v < 1000 keeps the exponent below the precision
	 * except where rounding reaches 1000 ("1e+03kB"), which both print alike. */
	if (asprintf(&s, "%.*g%s", precision, v, units[i]) < 0)
		return NULL;
	return s;
}

char *imgcmd_go_time(time_t t)
{
	struct tm tm;
	char date[64], zone[64];
	char *s = NULL;
	if (t == IMGCMD_ZERO_TIME || !localtime_r(&t, &tm))
		return strdup("0001-01-01 00:00:00 +0000 UTC");
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	strftime(zone, sizeof(zone), "%z %Z", &tm);
	if (asprintf(&s, "%s %s", date, zone) < 0)
		return NULL;
	return s;
}

char *imgcmd_rfc3339(time_t t)
{
	struct tm tm;
	char date[64];
	char *s = NULL;
	if (t == IMGCMD_ZERO_TIME || !localtime_r(&t, &tm))
		return strdup("0001-01-01T00:00:00Z");
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	long off = tm.tm_gmtoff;
	int r;
	if (off == 0) {
		r = asprintf(&s, "%sZ", date);
	} else {
		char sign = off < 0 ? '-' : '+';
		if (off < 0)
			off = -off;
		r = asprintf(&s, "%s%c%02ld:%02ld", date, sign, off / 3600, (off % 3600) / 60);
	}
	return r < 0 ? NULL : s;
}

time_t imgcmd_created(const char *rfc3339)
{
	time_t t;
	if (!rfc3339 || fmt_parse_rfc3339(rfc3339, &t) < 0)
		return IMGCMD_ZERO_TIME;
	return t;
}

long imgcmd_created_nsec(const char *rfc3339)
{
	if (!rfc3339)
		return 0;
	const char *t = strpbrk(rfc3339, "Tt ");
	const char *dot = t ? strchr(t, '.') : NULL;
	if (!dot)
		return 0;
	long ns = 0;
	int digits = 0;
	for (const char *p = dot + 1; isdigit((unsigned char)*p); p++)
		if (digits < 9) {
			ns = ns * 10 + (*p - '0');
			digits++;
		}
	for (; digits < 9; digits++)
		ns *= 10;
	return ns;
}

int imgcmd_print_json(FILE *out, json_t *v, size_t flags)
{
	_cleanup_free_ char *s = json_dumps(v, flags | JSON_ENCODE_ANY);
	if (!s)
		return -ENOMEM;
	/* Docker encodes with SetEscapeHTML(false), so '<' stays as it is; encoding/json
	 * still escapes U+2028 and U+2029, which jansson writes raw. */
	for (const char *p = s; *p; p++) {
		if ((unsigned char)p[0] == 0xe2 && (unsigned char)p[1] == 0x80 &&
		    ((unsigned char)p[2] == 0xa8 || (unsigned char)p[2] == 0xa9)) {
			fprintf(out, "\\u202%c", (unsigned char)p[2] == 0xa8 ? '8' : '9');
			p += 2;
		} else {
			fputc(*p, out);
		}
	}
	fputc('\n', out);
	return 0;
}

/* ---- filters ---- */

static char *trim_dup(const char *s, size_t len)
{
	while (len && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	return strndup(s, len);
}

int imgcmd_filters_add_kv(struct imgcmd_filters *f, const char *name, const char *value)
{
	struct imgcmd_filter *flt = NULL;
	for (size_t i = 0; i < f->n; i++)
		if (streq(f->v[i].name, name))
			flt = &f->v[i];
	if (!flt) {
		struct imgcmd_filter *n = realloc(f->v, (f->n + 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		f->v = n;
		flt = &f->v[f->n];
		*flt = (struct imgcmd_filter){.name = strdup(name), .values = STRV_INIT};
		if (!flt->name)
			return -ENOMEM;
		f->n++;
	}
	if (strv_contains(&flt->values, value))
		return 0;
	return strv_push(&flt->values, value);
}

int imgcmd_filters_add(struct imgcmd_filters *f, const char *arg, struct berr **err)
{
	if (!*arg)
		return 0;
	const char *eq = strchr(arg, '=');
	if (!eq)
		return berr_set(err, EINVAL, "bad format of filter (expected name=value)");
	_cleanup_free_ char *name = trim_dup(arg, (size_t)(eq - arg));
	_cleanup_free_ char *value = trim_dup(eq + 1, strlen(eq + 1));
	if (!name || !value)
		return berr_set(err, ENOMEM, "out of memory");
	for (char *p = name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (imgcmd_filters_add_kv(f, name, value) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

int imgcmd_filters_validate(const struct imgcmd_filters *f, const char *const *accepted,
			    struct berr **err)
{
	for (size_t i = 0; i < f->n; i++) {
		int ok = 0;
		for (const char *const *a = accepted; *a; a++)
			if (streq(*a, f->v[i].name))
				ok = 1;
		if (!ok)
			return berr_set(err, EINVAL, "invalid filter '%s'", f->v[i].name);
	}
	return 0;
}

const struct strv *imgcmd_filters_get(const struct imgcmd_filters *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (streq(f->v[i].name, name))
			return &f->v[i].values;
	return NULL;
}

int imgcmd_filters_bool(const struct imgcmd_filters *f, const char *name, int def, int *ret,
			struct berr **err)
{
	const struct strv *v = imgcmd_filters_get(f, name);
	*ret = def;
	if (!v)
		return 0;
	int is_false = strv_contains(v, "0") || strv_contains(v, "false");
	int is_true = strv_contains(v, "1") || strv_contains(v, "true");
	if (is_false == is_true) {
		/* Go prints the []string of values as "[a b]". */
		_cleanup_buf_ struct buf b = BUF_INIT;
		for (size_t i = 0; i < v->n; i++)
			if (buf_printf(&b, "%s%s", i ? " " : "", v->v[i]) < 0)
				return berr_set(err, ENOMEM, "out of memory");
		return berr_set(err, EINVAL, "invalid filter '%s=[%s]'", name, b.data ? b.data : "");
	}
	*ret = is_true;
	return 0;
}

int imgcmd_filters_match_kv(const struct imgcmd_filters *f, const char *name, json_t *labels)
{
	const struct strv *v = imgcmd_filters_get(f, name);
	if (!v || v->n == 0)
		return 1;
	if (!json_is_object(labels) || json_object_size(labels) == 0)
		return 0;
	for (size_t i = 0; i < v->n; i++) {
		const char *eq = strchr(v->v[i], '=');
		size_t klen = eq ? (size_t)(eq - v->v[i]) : strlen(v->v[i]);
		json_t *val = json_object_getn(labels, v->v[i], klen);
		if (!json_is_string(val))
			return 0;
		if (eq && !streq(json_string_value(val), eq + 1))
			return 0;
	}
	return 1;
}

void imgcmd_filters_free(struct imgcmd_filters *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].name);
		strv_free(&f->v[i].values);
	}
	free(f->v);
	f->v = NULL;
	f->n = 0;
}

/* ---- Go's path.Match, byte for byte (references are ASCII) ---- */

struct span {
	const char *p;
	size_t n;
};

static void scan_chunk(struct span *pat, int *ret_star, struct span *ret_chunk)
{
	int star = 0;
	while (pat->n && pat->p[0] == '*') {
		pat->p++;
		pat->n--;
		star = 1;
	}
	int inrange = 0;
	size_t i;
	for (i = 0; i < pat->n; i++) {
		char c = pat->p[i];
		if (c == '\\') {
			if (i + 1 < pat->n)
				i++;
		} else if (c == '[') {
			inrange = 1;
		} else if (c == ']') {
			inrange = 0;
		} else if (c == '*' && !inrange) {
			break;
		}
	}
	*ret_star = star;
	ret_chunk->p = pat->p;
	ret_chunk->n = i;
	pat->p += i;
	pat->n -= i;
}

static int get_esc(struct span *chunk, unsigned char *ret)
{
	if (!chunk->n || chunk->p[0] == '-' || chunk->p[0] == ']')
		return -EINVAL;
	if (chunk->p[0] == '\\') {
		chunk->p++;
		chunk->n--;
		if (!chunk->n)
			return -EINVAL;
	}
	*ret = (unsigned char)chunk->p[0];
	chunk->p++;
	chunk->n--;
	if (!chunk->n)
		return -EINVAL;
	return 0;
}

/* 1 with *rest set when chunk matches a prefix of s, 0 when not, -EINVAL for a bad chunk.
 * After a mismatch the rest of the chunk is still checked for syntax, as Go does. */
static int match_chunk(struct span chunk, struct span s, struct span *rest)
{
	int failed = 0;
	while (chunk.n) {
		if (!failed && !s.n)
			failed = 1;
		char c = chunk.p[0];
		if (c == '[') {
			unsigned char r = 0;
			if (!failed) {
				r = (unsigned char)s.p[0];
				s.p++;
				s.n--;
			}
			chunk.p++;
			chunk.n--;
			int negated = 0;
			if (chunk.n && chunk.p[0] == '^') {
				negated = 1;
				chunk.p++;
				chunk.n--;
			}
			int match = 0, nrange = 0;
			for (;;) {
				if (chunk.n && chunk.p[0] == ']' && nrange > 0) {
					chunk.p++;
					chunk.n--;
					break;
				}
				unsigned char lo, hi;
				if (get_esc(&chunk, &lo) < 0)
					return -EINVAL;
				hi = lo;
				if (chunk.p[0] == '-') {
					chunk.p++;
					chunk.n--;
					if (get_esc(&chunk, &hi) < 0)
						return -EINVAL;
				}
				if (lo <= r && r <= hi)
					match = 1;
				nrange++;
			}
			if (match == negated)
				failed = 1;
			continue;
		}
		if (c == '?') {
			if (!failed) {
				if (s.p[0] == '/')
					failed = 1;
				s.p++;
				s.n--;
			}
			chunk.p++;
			chunk.n--;
			continue;
		}
		if (c == '\\') {
			chunk.p++;
			chunk.n--;
			if (!chunk.n)
				return -EINVAL;
		}
		if (!failed) {
			if (chunk.p[0] != s.p[0])
				failed = 1;
			s.p++;
			s.n--;
		}
		chunk.p++;
		chunk.n--;
	}
	if (failed)
		return 0;
	*rest = s;
	return 1;
}

int imgcmd_path_match(const char *pattern, const char *name)
{
	struct span pat = {pattern, strlen(pattern)};
	struct span s = {name, strlen(name)};
	while (pat.n) {
		int star;
		struct span chunk, t;
		scan_chunk(&pat, &star, &chunk);
		if (star && !chunk.n)
			return memchr(s.p, '/', s.n) == NULL;
		int r = match_chunk(chunk, s, &t);
		if (r == 1 && (!t.n || pat.n)) {
			s = t;
			continue;
		}
		if (r < 0)
			return r;
		int found = 0;
		if (star) {
			for (size_t i = 0; i < s.n && s.p[i] != '/'; i++) {
				struct span sub = {s.p + i + 1, s.n - i - 1};
				r = match_chunk(chunk, sub, &t);
				if (r == 1) {
					if (!pat.n && t.n)
						continue;
					s = t;
					found = 1;
					break;
				}
				if (r < 0)
					return r;
			}
		}
		if (found)
			continue;
		while (pat.n) {
			struct span empty = {"", 0};
			scan_chunk(&pat, &star, &chunk);
			if (match_chunk(chunk, empty, &t) < 0)
				return -EINVAL;
		}
		return 0;
	}
	return s.n == 0;
}

/* ---- snapshot ---- */

/* Length of the repository part of a reference: "nginx" in "nginx:1" or "nginx@sha256:..",
 * "localhost:5000/x" in "localhost:5000/x:1". */
static size_t repo_len(const char *r)
{
	const char *at = strchr(r, '@');
	if (at)
		return (size_t)(at - r);
	const char *slash = strrchr(r, '/');
	const char *colon = strrchr(slash ? slash : r, ':');
	return colon ? (size_t)(colon - r) : strlen(r);
}

static int cmp_image_id(const void *a, const void *b)
{
	const struct store_image *x = *(const struct store_image *const *)a;
	const struct store_image *y = *(const struct store_image *const *)b;
	return strcmp(x->id, y->id);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_ref_by_id(const void *a, const void *b, void *snap)
{
	const struct imgcmd_ref *xrefs = ((const struct imgcmd_snap *)snap)->xrefs;
	const struct imgcmd_ref *x = &xrefs[*(const size_t *)a];
	const struct imgcmd_ref *y = &xrefs[*(const size_t *)b];
	int c = strcmp(x->id, y->id);
	return c ? c : strcmp(x->full, y->full);
}

static int cmp_ref_name(const void *a, const void *b)
{
	return strcmp(((const struct store_ref *)a)->name, ((const struct store_ref *)b)->name);
}

static int snap_load(struct store *s, int summaries, struct imgcmd_snap *ret,
		     struct berr **err)
{
	struct imgcmd_snap snap = {0};
	int r = summaries ? store_image_summaries(s, &snap.imgs, &snap.nimgs, err)
			  : store_image_list(s, &snap.imgs, &snap.nimgs, err);
	if (r < 0)
		return r;
	r = store_refs_list(s, &snap.refs, &snap.nrefs, err);
	if (r < 0) {
		imgcmd_snap_free(&snap);
		return r;
	}
	if (snap.nimgs > 1)
		qsort(snap.imgs, snap.nimgs, sizeof(*snap.imgs), cmp_image_id);
	if (snap.nrefs > 1)
		qsort(snap.refs, snap.nrefs, sizeof(*snap.refs), cmp_ref_name);

	snap.xrefs = calloc(snap.nrefs + 1, sizeof(*snap.xrefs));
	snap.by_id = calloc(snap.nrefs + 1, sizeof(*snap.by_id));
	snap.parents = calloc(snap.nimgs + 1, sizeof(*snap.parents));
	if (!snap.xrefs || !snap.by_id || !snap.parents)
		goto oom;
	for (size_t i = 0; i < snap.nrefs; i++) {
		struct imgcmd_ref *x = &snap.xrefs[i];
		x->full = snap.refs[i].name;
		x->id = snap.refs[i].id;
		x->familiar = ref_familiarize(x->full);
		if (!x->familiar)
			x->familiar = strdup(x->full);
		if (!x->familiar)
			goto oom;
		x->name_len = repo_len(x->familiar);
		x->canonical = strchr(x->familiar, '@') != NULL;
		snap.by_id[i] = i;
	}
	if (snap.nrefs > 1)
		qsort_r(snap.by_id, snap.nrefs, sizeof(*snap.by_id), cmp_ref_by_id, &snap);
	for (size_t i = 0; i < snap.nimgs; i++)
		if (snap.imgs[i]->parent && *snap.imgs[i]->parent)
			snap.parents[snap.nparents++] = snap.imgs[i]->parent;
	if (snap.nparents > 1)
		qsort(snap.parents, snap.nparents, sizeof(*snap.parents), cmp_str);
	*ret = snap;
	return 0;
oom:
	imgcmd_snap_free(&snap);
	return berr_set(err, ENOMEM, "out of memory");
}

int imgcmd_snap_load(struct store *s, struct imgcmd_snap *ret, struct berr **err)
{
	return snap_load(s, 0, ret, err);
}

int imgcmd_snap_load_summaries(struct store *s, struct imgcmd_snap *ret, struct berr **err)
{
	return snap_load(s, 1, ret, err);
}

void imgcmd_snap_free(struct imgcmd_snap *snap)
{
	if (snap->xrefs)
		for (size_t i = 0; i < snap->nrefs; i++)
			free(snap->xrefs[i].familiar);
	free(snap->xrefs);
	free(snap->by_id);
	free(snap->parents);
	if (snap->imgs)
		store_image_list_free(snap->imgs, snap->nimgs);
	if (snap->refs)
		store_refs_free(snap->refs, snap->nrefs);
	*snap = (struct imgcmd_snap){0};
}

struct store_image *imgcmd_snap_image(const struct imgcmd_snap *snap, const char *id)
{
	size_t lo = 0, hi = snap->nimgs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(snap->imgs[mid]->id, id);
		if (c == 0)
			return snap->imgs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

size_t imgcmd_snap_refs_of(const struct imgcmd_snap *snap, const char *id, size_t *ret_first)
{
	size_t lo = 0, hi = snap->nrefs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(snap->xrefs[snap->by_id[mid]].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < snap->nrefs && streq(snap->xrefs[snap->by_id[end]].id, id))
		end++;
	*ret_first = lo;
	return end - lo;
}

int imgcmd_snap_has_children(const struct imgcmd_snap *snap, const char *id)
{
	return snap->nparents &&
	       bsearch(&id, snap->parents, snap->nparents, sizeof(*snap->parents), cmp_str) != NULL;
}

int imgcmd_read_config(struct store *s, const char *id, json_t **ret, struct berr **err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r = store_blob_read(s, id, IMGCMD_CONFIG_MAX, &data, &len, err);
	if (r < 0)
		return berr_wrap(err, "read config of image '%s'", id);
	json_error_t jerr;
	json_t *cfg = json_loadb(data, len, 0, &jerr);
	if (!json_is_object(cfg)) {
		json_decref(cfg);
		return berr_set(err, EBADMSG, "config of image '%s' is not a JSON object", id);
	}
	*ret = cfg;
	return 0;
}

/* ---- deleting ---- */

static int dels_push(struct imgcmd_dels *dels, const char *untagged, const char *deleted,
		     uint64_t size, int is_layer, struct berr **err)
{
	struct imgcmd_del *n = realloc(dels->v, (dels->n + 1) * sizeof(*n));
	if (!n)
		return berr_set(err, ENOMEM, "out of memory");
	dels->v = n;
	struct imgcmd_del *d = &dels->v[dels->n];
	*d = (struct imgcmd_del){.size = size, .is_layer = is_layer};
	d->untagged = untagged ? strdup(untagged) : NULL;
	d->deleted = deleted ? strdup(deleted) : NULL;
	if ((untagged && !d->untagged) || (deleted && !d->deleted)) {
		free(d->untagged);
		free(d->deleted);
		return berr_set(err, ENOMEM, "out of memory");
	}
	dels->n++;
	return 0;
}

void imgcmd_dels_free(struct imgcmd_dels *dels)
{
	for (size_t i = 0; i < dels->n; i++) {
		free(dels->v[i].untagged);
		free(dels->v[i].deleted);
	}
	free(dels->v);
	dels->v = NULL;
	dels->n = 0;
}

/* Docker's isImageIDPrefix: input names the image by (a prefix of) its id. */
static int is_id_prefix(const char *id, const char *input)
{
	if (strncmp(id, input, strlen(input)) == 0)
		return 1;
	const char *colon = strchr(id, ':');
	return colon && strncmp(colon + 1, input, strlen(input)) == 0;
}

/* Docker's isSingleReference: exactly one tag (or none) and digest references all of that
 * tag's repository. */
static int is_single_reference(const struct imgcmd_snap *snap, size_t first, size_t n)
{
	if (n <= 1)
		return n == 1;
	const struct imgcmd_ref *single = NULL;
	for (size_t i = first; i < first + n; i++) {
		const struct imgcmd_ref *x = &snap->xrefs[snap->by_id[i]];
		if (x->canonical)
			continue;
		if (single)
			return 0;
		single = x;
	}
	if (!single)
		single = &snap->xrefs[snap->by_id[first]];
	/* All digest references must name one repository, single's. */
	int seen = 0;
	for (size_t i = first; i < first + n; i++) {
		const struct imgcmd_ref *x = &snap->xrefs[snap->by_id[i]];
		if (!x->canonical)
			continue;
		if (x->name_len != single->name_len ||
		    strncmp(x->familiar, single->familiar, x->name_len) != 0)
			return 0;
		seen = 1;
	}
	return seen;
}

static int untag_all(struct store *s, const struct imgcmd_snap *snap, const char *id,
		     struct imgcmd_dels *dels, struct berr **err)
{
	size_t first, n = imgcmd_snap_refs_of(snap, id, &first);
	for (size_t i = first; i < first + n; i++) {
		const struct imgcmd_ref *x = &snap->xrefs[snap->by_id[i]];
		int r = store_ref_remove(s, x->full, err);
		if (r < 0 && r != -ENOENT)
			return r;
		if (r == -ENOENT && err && *err)
			berr_freep(err);
		r = dels_push(dels, x->familiar, NULL, 0, 0, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Docker's imageDeleteHelper for one image. Returns 0 when deleted (*ret_parent is its
 * parent, owned by the caller, or NULL), 1 when a conflict was skipped quietly. */
static int delete_one(struct store *s, const char *id, int force, int quiet,
		      struct imgcmd_dels *dels, char **ret_parent, struct berr **err)
{
	_cleanup_(imgcmd_snap_free) struct imgcmd_snap snap = {0};
	*ret_parent = NULL;
	int r = imgcmd_snap_load(s, &snap, err);
	if (r < 0)
		return r;
	struct store_image *img = imgcmd_snap_image(&snap, id);
	if (!img)
		return berr_set(err, ENOENT, "No such image: %s", id);
	size_t first, nrefs = imgcmd_snap_refs_of(&snap, id, &first);
	int children = imgcmd_snap_has_children(&snap, id);

	/* Containers: a running one using the image is a hard conflict, a stopped one a
	 * soft conflict; both set used, so a quiet delete reports them. */
	char running[13], stopped[13], used_by[96];
	r = ctr_image_users(store_root(s), id, running, stopped, err);
	if (r < 0)
		return r;
	const char *why = NULL;
	int hard = 0, used = 0;
	if (children) {
		why = "image has dependent child images";
		hard = 1;
	} else if (running[0]) {
		snprintf(used_by, sizeof(used_by), "image is being used by running container %s",
			 running);
		why = used_by;
		hard = used = 1;
	} else if (!force && nrefs > 0) {
		why = "image is referenced in multiple repositories";
	} else if (!force && stopped[0]) {
		snprintf(used_by, sizeof(used_by), "image is being used by stopped container %s",
			 stopped);
		why = used_by;
		used = 1;
	}
	if (why) {
		int dangling = nrefs == 0 && !children;
		if (quiet && (!dangling || used))
			return 1;
		char short_id[13];
		imgcmd_short_id(id, short_id);
		return berr_set(err, EBUSY, "conflict: unable to delete %s (%s) - %s", short_id,
				hard ? "cannot be forced" : "must be forced", why);
	}

	_cleanup_free_ char *parent = img->parent && *img->parent ? strdup(img->parent) : NULL;
	r = untag_all(s, &snap, id, dels, err);
	if (r < 0)
		return r;
	/* Forced, with a stopped container using it: Docker deletes the image and the
	 * container keeps its layers; here store_gc() would take them, so the record stays
	 * (untagged) until the container is removed. */
	if (stopped[0])
		return 1;
	/* Its blobs and layers go at once, unless another image or a running writer
	 * (a load or pull that is about to use them) still needs them. */
	int64_t freed = store_image_purge(s, id, err);
	if (freed < 0)
		return (int)freed;
	r = dels_push(dels, NULL, id, 0, 0, err);
	if (r < 0)
		return r;

	/* The layers that go with it: from the top down, until one that another image still
	 * uses (chain ids include every layer below, so everything under it is used too). */
	size_t nchains = 0;
	for (size_t i = 0; i < snap.nimgs; i++)
		if (!streq(snap.imgs[i]->id, id))
			nchains += snap.imgs[i]->nlayers;
	_cleanup_free_ const char **chains = calloc(nchains + 1, sizeof(*chains));
	if (!chains)
		return berr_set(err, ENOMEM, "out of memory");
	nchains = 0;
	for (size_t i = 0; i < snap.nimgs; i++) {
		if (streq(snap.imgs[i]->id, id))
			continue;
		for (size_t l = 0; l < snap.imgs[i]->nlayers; l++)
			if (snap.imgs[i]->layers[l].chain_id)
				chains[nchains++] = snap.imgs[i]->layers[l].chain_id;
	}
	if (nchains > 1)
		qsort(chains, nchains, sizeof(*chains), cmp_str);
	for (size_t l = img->nlayers; l-- > 0;) {
		const char *chain = img->layers[l].chain_id;
		if (!chain)
			break;
		if (nchains && bsearch(&chain, chains, nchains, sizeof(*chains), cmp_str))
			break;
		/* Two layers of one image with the same chain id can not happen; a repeat
		 * would only mean a corrupt record, so report each once. */
		int dup = 0;
		for (size_t k = l + 1; k < img->nlayers; k++)
			if (img->layers[k].chain_id && streq(img->layers[k].chain_id, chain))
				dup = 1;
		if (dup)
			continue;
		r = dels_push(dels, NULL, chain, img->layers[l].size, 1, err);
		if (r < 0)
			return r;
	}
	*ret_parent = TAKE_PTR(parent);
	return 0;
}

int imgcmd_delete(struct store *s, const char *input, int force, int prune,
		  struct imgcmd_dels *dels, struct berr **err)
{
	_cleanup_free_ char *id = NULL;
	int r = store_image_resolve(s, input, &id, err);
	if (r == -ENOENT) {
		berr_freep(err);
		return berr_set(err, ENOENT, "No such image: %s", input);
	}
	if (r < 0)
		return r;

	_cleanup_(imgcmd_snap_free) struct imgcmd_snap snap = {0};
	r = imgcmd_snap_load(s, &snap, err);
	if (r < 0)
		return r;
	size_t first, nrefs = imgcmd_snap_refs_of(&snap, id, &first);
	int quiet = 0;

	if (!is_id_prefix(id, input)) {
		/* A reference: untag it; the image goes only with its last reference.
		 * Without force, not the last reference of an image a container uses. */
		if (!force && is_single_reference(&snap, first, nrefs)) {
			char running[13], stopped[13];
			r = ctr_image_users(store_root(s), id, running, stopped, err);
			if (r < 0)
				return r;
			if (running[0] || stopped[0]) {
				char short_id[13];
				imgcmd_short_id(id, short_id);
				return berr_set(err, EBUSY,
						"conflict: unable to remove repository reference \"%s\" "
						"(must force) - container %s is using its referenced "
						"image %s",
						input, running[0] ? running : stopped, short_id);
			}
		}
		_cleanup_(ref_free) struct ref ref = {0};
		r = ref_parse(input, 0, &ref, err);
		if (r < 0)
			return r;
		_cleanup_free_ char *full = ref_string(&ref);
		_cleanup_free_ char *fam = ref_familiar_string(&ref);
		if (!full || !fam)
			return berr_set(err, ENOMEM, "out of memory");
		r = store_ref_remove(s, full, err);
		if (r < 0 && r != -ENOENT)
			return r;
		if (r == -ENOENT)
			berr_freep(err);
		r = dels_push(dels, fam, NULL, 0, 0, err);
		if (r < 0)
			return r;

		size_t fam_name = repo_len(fam);
		size_t remaining = 0;
		int tag_left = 0;
		for (size_t i = first; i < first + nrefs; i++) {
			const struct imgcmd_ref *x = &snap.xrefs[snap.by_id[i]];
			if (streq(x->full, full))
				continue;
			remaining++;
			if (!x->canonical && x->name_len == fam_name &&
			    strncmp(x->familiar, fam, fam_name) == 0)
				tag_left = 1;
		}
		/* Untagging the last tag of a repository takes that repository's digest
		 * references with it. */
		if (!ref.digest && !tag_left) {
			for (size_t i = first; i < first + nrefs; i++) {
				const struct imgcmd_ref *x = &snap.xrefs[snap.by_id[i]];
				if (!x->canonical || x->name_len != fam_name ||
				    strncmp(x->familiar, fam, fam_name) != 0)
					continue;
				r = store_ref_remove(s, x->full, err);
				if (r < 0 && r != -ENOENT)
					return r;
				if (r == -ENOENT)
					berr_freep(err);
				r = dels_push(dels, x->familiar, NULL, 0, 0, err);
				if (r < 0)
					return r;
				remaining--;
			}
		}
		if (remaining > 0)
			return 0;
		quiet = 1;
	} else if (is_single_reference(&snap, first, nrefs)) {
		/* An id with one tag (and digests of its repository): untag, then delete. */
		char short_id[13], running[13], stopped[13];
		imgcmd_short_id(id, short_id);
		if (imgcmd_snap_has_children(&snap, id))
			return berr_set(err, EBUSY,
					"conflict: unable to delete %s (cannot be forced) - image has "
					"dependent child images",
					short_id);
		r = ctr_image_users(store_root(s), id, running, stopped, err);
		if (r < 0)
			return r;
		if (running[0])
			return berr_set(err, EBUSY,
					"conflict: unable to delete %s (cannot be forced) - image is "
					"being used by running container %s",
					short_id, running);
		if (!force && stopped[0])
			return berr_set(err, EBUSY,
					"conflict: unable to delete %s (must be forced) - image is "
					"being used by stopped container %s",
					short_id, stopped);
		r = untag_all(s, &snap, id, dels, err);
		if (r < 0)
			return r;
	}

	_cleanup_free_ char *parent = NULL;
	r = delete_one(s, id, force, quiet, dels, &parent, err);
	if (r != 0)
		return r < 0 ? r : 0;
	/* Untagged parents go too, quietly stopping at the first one still in use. */
	while (prune && parent) {
		_cleanup_free_ char *next = NULL;
		r = delete_one(s, parent, 0, 1, dels, &next, err);
		if (r == -ENOENT) {
			berr_freep(err);
			break;
		}
		if (r < 0)
			return r;
		if (r == 1)
			break;
		free(parent);
		parent = TAKE_PTR(next);
	}
	return 0;
}
