/* Garbage collection of a registry root: mark what the repositories reference, sweep the
 * rest. Unlike distribution's `registry garbage-collect`, which must run with the registry
 * stopped or read-only, this one may run while a server writes to the same root:
 *
 * - Every server write that makes a blob referenced (upload commit, cross-repository mount,
 *   manifest push: the manifest itself and every blob and manifest it references) holds the
 *   gc lock shared while it checks that the blob exists and sets the blob's mtime to now.
 * - gc marks without the lock, then takes it exclusive and deletes only unmarked blobs whose
 *   mtime is still older than gc's start minus the grace period, checking each again.
 *
 * So a blob referenced by something written after gc began is fresh and kept; one
 * referenced before was seen by the mark; and a write that comes after the sweep removed a
 * blob finds it missing and fails cleanly (MANIFEST_BLOB_UNKNOWN, or a new upload) instead
 * of leaving a manifest that points to nothing. The grace period keeps blobs of a push that
 * is under way (layers uploaded, manifest not yet) and untagged manifests just pushed (an
 * index's children come before the index). */
#include "regstore.h"
#include "regstore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "format.h"
#include "fs.h"
#include "regmanifest.h"
#include "route.h"

#include "banned.h"

/* A set of digest strings (open addressing). */
struct dset {
	char **slot;
	size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int dset_has(const struct dset *set, const char *d)
{
	if (!set->cap)
		return 0;
	for (size_t i = hash_str(d) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
		if (!set->slot[i])
			return 0;
		if (streq(set->slot[i], d))
			return 1;
	}
}

/* 1 when added, 0 when it was there, -ENOMEM. */
static int dset_add(struct dset *set, const char *d)
{
	if (dset_has(set, d))
		return 0;
	if ((set->n + 1) * 2 > set->cap) {
		size_t ncap = set->cap ? set->cap * 2 : 64;
		char **ns = calloc(ncap, sizeof(char *));
		if (!ns)
			return -ENOMEM;
		for (size_t i = 0; i < set->cap; i++) {
			if (!set->slot[i])
				continue;
			size_t j = hash_str(set->slot[i]) & (ncap - 1);
			while (ns[j])
				j = (j + 1) & (ncap - 1);
			ns[j] = set->slot[i];
		}
		free(set->slot);
		set->slot = ns;
		set->cap = ncap;
	}
	char *copy = strdup(d);
	if (!copy)
		return -ENOMEM;
	size_t i = hash_str(d) & (set->cap - 1);
	while (set->slot[i])
		i = (i + 1) & (set->cap - 1);
	set->slot[i] = copy;
	set->n++;
	return 1;
}

static void dset_free(struct dset *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->slot[i]);
	free(set->slot);
	memset(set, 0, sizeof(*set));
}
#define _cleanup_dset_ __attribute__((cleanup(dset_free)))

/* One manifest of a repository while marking. */
struct rev {
	char digest[DIGEST_STR_MAX];
	struct regsrv_manifest m; /* type REGSRV_MT_UNKNOWN when it could not be read */
	int readable;
	int kept;
};

struct repo_revs {
	struct rev *v;
	size_t n, cap;
};

static int collect_rev(void *cls, const char *d)
{
	struct repo_revs *rr = cls;
	if (rr->n == rr->cap) {
		size_t ncap = rr->cap ? rr->cap * 2 : 16;
		struct rev *nv = realloc(rr->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		rr->v = nv;
		rr->cap = ncap;
	}
	struct rev *r = &rr->v[rr->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->digest, sizeof(r->digest), "%s", d);
	return 0;
}

static void repo_revs_free(struct repo_revs *rr)
{
	for (size_t i = 0; i < rr->n; i++)
		regsrv_manifest_free(&rr->v[i].m);
	free(rr->v);
	memset(rr, 0, sizeof(*rr));
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* 1 when the file's mtime is at or after cutoff (or it cannot be read: keep what we do not
 * understand). */
static int fresh_at(int dirfd, const char *path, const struct timespec *cutoff)
{
	struct stat st;
	if (fstatat(dirfd, path, &st, 0) < 0)
		return errno != ENOENT;
	return !ts_before(&st.st_mtim, cutoff);
}

/* A manifest counts as fresh when its revision link or its blob is. */
static int manifest_fresh(struct regstore *s, const char *name, const char *ds,
			  const struct timespec *cutoff)
{
	struct digest d;
	char p[RS_PATH_MAX];
	if (digest_parse(ds, &d, NULL) < 0)
		return 1;
	if (rs_path(p, "repositories/%s/_manifests/revisions/%s/%s/link", name, rs_alg(d.alg),
		    d.hex) < 0 ||
	    fresh_at(s->v2fd, p, cutoff))
		return 1;
	return rs_blob_data_path(p, &d) < 0 || fresh_at(s->v2fd, p, cutoff);
}

static struct rev *find_rev(struct repo_revs *rr, const char *d)
{
	for (size_t i = 0; i < rr->n; i++)
		if (streq(rr->v[i].digest, d))
			return &rr->v[i];
	return NULL;
}

struct gc_run {
	struct regstore *s;
	const struct regstore_gc_opts *o;
	void (*report)(void *cls, enum regstore_gc_event ev, const char *repo, const char *what);
	void *cls;
	struct regstore_gc_stats st;
	struct timespec cutoff;
	struct dset marked;
	/* untagged manifests to delete: "repo\0digest" pairs in two vectors */
	struct strv del_repo, del_digest;
};

static void emit(struct gc_run *g, enum regstore_gc_event ev, const char *repo, const char *what)
{
	if (g->report)
		g->report(g->cls, ev, repo, what);
}

/* Keep r and, through index entries, what it lists. */
static void keep(struct repo_revs *rr, struct rev *r, int *changed)
{
	if (r->kept)
		return;
	r->kept = 1;
	*changed = 1;
	for (size_t i = 0; i < r->m.manifests.n; i++) {
		struct rev *c = find_rev(rr, r->m.manifests.v[i]);
		if (c)
			keep(rr, c, changed);
	}
}

static int mark_repo(struct gc_run *g, const char *name, struct berr **err)
{
	struct regstore *s = g->s;
	struct repo_revs rr = {0};
	int r = regstore_revisions(s, name, collect_rev, &rr);
	if (r < 0 && r != -ENOENT) {
		repo_revs_free(&rr);
		return berr_errno(err, -r, "list manifests of '%s'", name);
	}
	for (size_t i = 0; i < rr.n; i++) {
		struct rev *v = &rr.v[i];
		struct digest d;
		_cleanup_free_ char *data = NULL;
		size_t len;
		if (digest_parse(v->digest, &d, NULL) == 0 &&
		    regstore_manifest_get(s, name, &d, &data, &len) == 0 &&
		    regsrv_manifest_parse(data, len, NULL, &v->m, NULL) == 0)
			v->readable = 1;
	}

	int changed = 0;
	if (!g->o->delete_untagged) {
		for (size_t i = 0; i < rr.n; i++)
			keep(&rr, &rr.v[i], &changed);
	} else {
		_cleanup_strv_ struct strv tags = STRV_INIT;
		r = regstore_tags(s, name, &tags);
		if (r < 0 && r != -ENOENT) {
			repo_revs_free(&rr);
			return berr_errno(err, -r, "list tags of '%s'", name);
		}
		for (size_t i = 0; i < tags.n; i++) {
			struct digest t;
			char ts[DIGEST_STR_MAX];
			if (regstore_tag_resolve(s, name, tags.v[i], &t) < 0)
				continue;
			struct rev *v = find_rev(&rr, digest_format(&t, ts));
			if (v)
				keep(&rr, v, &changed);
		}
		for (size_t i = 0; i < rr.n; i++)
			if (!rr.v[i].readable ||
			    manifest_fresh(s, name, rr.v[i].digest, &g->cutoff))
				keep(&rr, &rr.v[i], &changed);
		/* Referrers (signatures, SBOMs) live as long as their subject. */
		do {
			changed = 0;
			for (size_t i = 0; i < rr.n; i++) {
				struct rev *v = &rr.v[i];
				if (v->kept || !v->m.subject)
					continue;
				struct rev *subj = find_rev(&rr, v->m.subject);
				if (subj && subj->kept)
					keep(&rr, v, &changed);
			}
		} while (changed);
	}

	for (size_t i = 0; i < rr.n && r >= 0; i++) {
		struct rev *v = &rr.v[i];
		if (!v->kept) {
			emit(g, REGSTORE_GC_DELETE_MANIFEST, name, v->digest);
			if (strv_push(&g->del_repo, name) < 0 ||
			    strv_push(&g->del_digest, v->digest) < 0)
				r = -ENOMEM;
			continue;
		}
		emit(g, REGSTORE_GC_MARK_MANIFEST, name, v->digest);
		g->st.manifests_marked++;
		if (dset_add(&g->marked, v->digest) < 0)
			r = -ENOMEM;
		for (size_t j = 0; j < v->m.blobs.n && r >= 0; j++)
			if (dset_add(&g->marked, v->m.blobs.v[j]) < 0)
				r = -ENOMEM;
	}
	repo_revs_free(&rr);
	return r < 0 ? berr_set(err, ENOMEM, "out of memory") : 0;
}

/* Delete the untagged manifests found by the mark, unless they became fresh since. */
static int sweep_manifests(struct gc_run *g, struct berr **err)
{
	struct regstore *s = g->s;
	for (size_t i = 0; i < g->del_digest.n; i++) {
		const char *name = g->del_repo.v[i], *ds = g->del_digest.v[i];
		if (manifest_fresh(s, name, ds, &g->cutoff)) {
			/* Pushed again meanwhile: its blob stays too. */
			if (dset_add(&g->marked, ds) < 0)
				return berr_set(err, ENOMEM, "out of memory");
			continue;
		}
		struct digest d;
		char p[RS_PATH_MAX];
		if (digest_parse(ds, &d, NULL) < 0 ||
		    rs_path(p, "repositories/%s/_manifests/revisions/%s/%s", name, rs_alg(d.alg),
			    d.hex) < 0)
			continue;
		int r = fs_rm_rf_at(s->v2fd, p);
		if (r < 0)
			return berr_errno(err, -r, "delete manifest %s of '%s'", ds, name);
		g->st.manifests_deleted++;
	}
	return 0;
}

/* Walk blobs/<alg>/<xx>/<hex>/data; delete (or, dry, report) the unmarked old ones. */
static int sweep_blobs(struct gc_run *g, struct dset *deleted, struct berr **err)
{
	struct regstore *s = g->s;
	static const enum digest_alg algs[] = {DIGEST_SHA256, DIGEST_SHA512};
	for (size_t a = 0; a < ARRAY_SIZE(algs); a++) {
		char p[RS_PATH_MAX];
		rs_path(p, "blobs/%s", rs_alg(algs[a]));
		_cleanup_strv_ struct strv pre = STRV_INIT;
		int r = rs_list_dir(s->v2fd, p, &pre);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return berr_errno(err, -r, "list blobs");
		for (size_t i = 0; i < pre.n; i++) {
			if (strlen(pre.v[i]) != 2)
				continue;
			_cleanup_strv_ struct strv hexes = STRV_INIT;
			if (rs_path(p, "blobs/%s/%s", rs_alg(algs[a]), pre.v[i]) < 0 ||
			    rs_list_dir(s->v2fd, p, &hexes) < 0)
				continue;
			for (size_t j = 0; j < hexes.n; j++) {
				char ds[DIGEST_STR_MAX + 8];
				struct digest d;
				snprintf(ds, sizeof(ds), "%s:%.130s", rs_alg(algs[a]), hexes.v[j]);
				if (digest_parse(ds, &d, NULL) < 0 ||
				    strncmp(d.hex, pre.v[i], 2) != 0)
					continue;
				if (dset_has(&g->marked, ds) || rs_blob_data_path(p, &d) < 0 ||
				    fresh_at(s->v2fd, p, &g->cutoff))
					continue;
				struct stat st;
				if (fstatat(s->v2fd, p, &st, 0) < 0)
					continue;
				emit(g, REGSTORE_GC_DELETE_BLOB, NULL, ds);
				g->st.blobs_deleted++;
				g->st.bytes_freed += (uint64_t)st.st_size;
				if (dset_add(deleted, ds) < 0)
					return berr_set(err, ENOMEM, "out of memory");
				if (g->o->dry_run)
					continue;
				rs_path(p, "blobs/%s/%s/%s", rs_alg(algs[a]), pre.v[i], hexes.v[j]);
				r = fs_rm_rf_at(s->v2fd, p);
				if (r < 0)
					return berr_errno(err, -r, "delete blob %s", ds);
			}
		}
	}
	return 0;
}

/* Remove layer links of name that point to deleted (or already missing) blobs. */
static int sweep_links(struct gc_run *g, const char *name, const struct dset *deleted,
		       struct berr **err)
{
	struct regstore *s = g->s;
	static const enum digest_alg algs[] = {DIGEST_SHA256, DIGEST_SHA512};
	for (size_t a = 0; a < ARRAY_SIZE(algs); a++) {
		char p[RS_PATH_MAX];
		_cleanup_strv_ struct strv hexes = STRV_INIT;
		if (rs_path(p, "repositories/%s/_layers/%s", name, rs_alg(algs[a])) < 0 ||
		    rs_list_dir(s->v2fd, p, &hexes) < 0)
			continue;
		for (size_t j = 0; j < hexes.n; j++) {
			char ds[DIGEST_STR_MAX + 8];
			struct digest d;
			snprintf(ds, sizeof(ds), "%s:%.130s", rs_alg(algs[a]), hexes.v[j]);
			if (digest_parse(ds, &d, NULL) < 0)
				continue;
			char data[RS_PATH_MAX];
			struct stat st;
			int gone = dset_has(deleted, ds) ||
				   (rs_blob_data_path(data, &d) == 0 &&
				    fstatat(s->v2fd, data, &st, 0) < 0 && errno == ENOENT);
			if (!gone)
				continue;
			emit(g, REGSTORE_GC_DELETE_LINK, name, ds);
			g->st.links_deleted++;
			if (g->o->dry_run)
				continue;
			rs_path(p, "repositories/%s/_layers/%s/%s", name, rs_alg(algs[a]),
				hexes.v[j]);
			int r = fs_rm_rf_at(s->v2fd, p);
			if (r < 0)
				return berr_errno(err, -r, "delete layer link %s of '%s'", ds,
						  name);
		}
	}
	return 0;
}

/* Remove uploads of name older than the limit (by startedat, else the directory's mtime). */
static int sweep_uploads(struct gc_run *g, const char *name, time_t now, struct berr **err)
{
	struct regstore *s = g->s;
	char p[RS_PATH_MAX];
	_cleanup_strv_ struct strv ids = STRV_INIT;
	if (rs_path(p, "repositories/%s/_uploads", name) < 0 || rs_list_dir(s->v2fd, p, &ids) < 0)
		return 0;
	for (size_t i = 0; i < ids.n; i++) {
		time_t started = 0;
		_cleanup_free_ char *text = NULL;
		struct stat st;
		if (rs_path(p, "repositories/%s/_uploads/%s/startedat", name, ids.v[i]) < 0)
			continue;
		if (fs_read_all_at(s->v2fd, p, 128, &text, NULL) == 0 &&
		    fmt_parse_rfc3339(text, &started) == 0) {
		} else {
			if (rs_path(p, "repositories/%s/_uploads/%s", name, ids.v[i]) < 0 ||
			    fstatat(s->v2fd, p, &st, 0) < 0)
				continue;
			started = st.st_mtim.tv_sec;
		}
		if (now - started <= g->o->upload_max_age)
			continue;
		emit(g, REGSTORE_GC_DELETE_UPLOAD, name, ids.v[i]);
		g->st.uploads_deleted++;
		if (g->o->dry_run)
			continue;
		rs_path(p, "repositories/%s/_uploads/%s", name, ids.v[i]);
		int r = fs_rm_rf_at(s->v2fd, p);
		if (r < 0)
			return berr_errno(err, -r, "delete upload %s of '%s'", ids.v[i], name);
	}
	return 0;
}

static int gc_all(struct gc_run *g, struct dset *deleted, const struct timespec *now,
		  struct berr **err)
{
	struct regstore *s = g->s;
	const struct regstore_gc_opts *o = g->o;
	_cleanup_strv_ struct strv repos = STRV_INIT;
	int r = regstore_catalog(s, &repos);
	if (r < 0)
		return berr_errno(err, -r, "list repositories");
	for (size_t i = 0; i < repos.n; i++) {
		r = mark_repo(g, repos.v[i], err);
		if (r < 0)
			return r;
	}
	g->st.blobs_marked = g->marked.n;

	_cleanup_close_ int lock = -1;
	if (!o->dry_run) {
		lock = rs_gc_lock(s, 1);
		if (lock < 0)
			return berr_errno(err, -lock, "take the gc lock");
		r = sweep_manifests(g, err);
		if (r < 0)
			return r;
	} else {
		g->st.manifests_deleted = g->del_digest.n;
	}
	r = sweep_blobs(g, deleted, err);
	if (r < 0)
		return r;
	/* Layer links and uploads also live in repositories that have no manifest yet (a
	 * push under way, or one that failed), which the catalog does not list. */
	_cleanup_strv_ struct strv all = STRV_INIT;
	r = rs_walk_repos(s, 1, &all);
	if (r < 0)
		return berr_errno(err, -r, "list repositories");
	for (size_t i = 0; i < all.n; i++) {
		r = sweep_links(g, all.v[i], deleted, err);
		if (r < 0)
			return r;
		r = sweep_uploads(g, all.v[i], now->tv_sec, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int regstore_gc(struct regstore *s, const struct regstore_gc_opts *o,
		void (*report)(void *cls, enum regstore_gc_event ev, const char *repo,
			       const char *what),
		void *cls, struct regstore_gc_stats *ret, struct berr **err)
{
	struct gc_run g = {.s = s, .o = o, .report = report, .cls = cls};
	struct dset deleted = {0};
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	g.cutoff = now;
	g.cutoff.tv_sec -= o->grace_seconds;
	int r = gc_all(&g, &deleted, &now, err);
	if (ret)
		*ret = g.st;
	dset_free(&deleted);
	dset_free(&g.marked);
	strv_free(&g.del_repo);
	strv_free(&g.del_digest);
	return r;
}
