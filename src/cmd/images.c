/* images (image ls, image list): one pass over the image records and references, filtered
 * and printed the way docker's daemon (image_list.go) and CLI (formatter/image.go) do. */
#include "cmd.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "buf.h"
#include "format.h"
#include "imagecmd.h"
#include "store.h"

#include "banned.h"

static const struct cmd_help images_help = {
	.usage = "berth images [OPTIONS] [REPOSITORY[:TAG]]",
	.summary = "List images",
	.aliases = "berth image ls, berth image list, berth images",
};

static const char *const images_filters[] = {"dangling", "label", "before", "since", "reference",
					     NULL};

/* One image that passed the filters, with the references that did. */
struct summary {
	struct store_image *img;
	time_t created;
	long created_nsec;
	size_t *refs; /* indices into snap.xrefs */
	size_t nrefs;
	/* Column values shared by all rows of this image. */
	char *id, *created_since, *created_at, *size, *virtual_size;
};

struct row {
	const struct summary *sum;
	char *repo;
	const char *tag;    /* points into the snapshot or a literal */
	const char *digest; /* likewise */
};

struct listing {
	struct imgcmd_snap snap;
	struct summary *sums;
	size_t nsums;
	struct row *rows;
	size_t nrows;
};

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->nsums; i++) {
		struct summary *s = &l->sums[i];
		free(s->refs);
		free(s->id);
		free(s->created_since);
		free(s->created_at);
		free(s->size);
		free(s->virtual_size);
	}
	free(l->sums);
	for (size_t i = 0; i < l->nrows; i++)
		free(l->rows[i].repo);
	free(l->rows);
	imgcmd_snap_free(&l->snap);
}

static int add_row(struct listing *l, const struct summary *sum, const char *repo,
		   size_t repo_len, const char *tag, const char *digest)
{
	struct row *n = realloc(l->rows, (l->nrows + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	l->rows = n;
	char *r = strndup(repo, repo_len);
	if (!r)
		return -ENOMEM;
	l->rows[l->nrows++] = (struct row){.sum = sum, .repo = r, .tag = tag, .digest = digest};
	return 0;
}

/* What follows the repository: the tag of a tag reference, the digest of a digest one.
 * A stored name without either can only come from a damaged refs.json. */
static const char *ref_suffix(const struct imgcmd_ref *x)
{
	return x->familiar[x->name_len] ? x->familiar + x->name_len + 1 : "<none>";
}

static int same_repo(const struct imgcmd_ref *a, const struct imgcmd_ref *b)
{
	return a->name_len == b->name_len && strncmp(a->familiar, b->familiar, a->name_len) == 0;
}

/* The rows of one image, as docker's imageFormatTaggedAndDigest makes them: a row per tag
 * (times each digest of its repository when digests are wanted), then the repositories
 * that only have digests. */
static int add_rows(struct listing *l, const struct summary *sum, int need_digest,
		    int show_digests)
{
	const struct imgcmd_ref *x = l->snap.xrefs;
	if (sum->nrefs == 0)
		return add_row(l, sum, "<none>", 6, "<none>", "<none>");
	for (size_t i = 0; i < sum->nrefs; i++) {
		const struct imgcmd_ref *t = &x[sum->refs[i]];
		if (t->canonical)
			continue;
		const char *tag = ref_suffix(t);
		int any = 0;
		for (size_t k = 0; need_digest && k < sum->nrefs; k++) {
			const struct imgcmd_ref *d = &x[sum->refs[k]];
			if (!d->canonical || !same_repo(d, t))
				continue;
			if (add_row(l, sum, t->familiar, t->name_len, tag, ref_suffix(d)) < 0)
				return -ENOMEM;
			any = 1;
		}
		if (!any && add_row(l, sum, t->familiar, t->name_len, tag, "<none>") < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; i < sum->nrefs; i++) {
		const struct imgcmd_ref *d = &x[sum->refs[i]];
		if (!d->canonical)
			continue;
		int tagged = 0, earlier = 0;
		for (size_t k = 0; k < sum->nrefs; k++) {
			const struct imgcmd_ref *o = &x[sum->refs[k]];
			if (!same_repo(o, d))
				continue;
			if (!o->canonical)
				tagged = 1;
			else if (k < i)
				earlier = 1;
		}
		if (tagged)
			continue;
		if (show_digests) {
			if (add_row(l, sum, d->familiar, d->name_len, "<none>", ref_suffix(d)) < 0)
				return -ENOMEM;
		} else if (!earlier) {
			if (add_row(l, sum, d->familiar, d->name_len, "<none>", "") < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static int cmp_summary(const void *a, const void *b)
{
	const struct summary *x = a, *y = b;
	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	if (x->created_nsec != y->created_nsec)
		return x->created_nsec > y->created_nsec ? -1 : 1;
	return strcmp(x->img->id, y->img->id);
}

/* Created times compared at full precision, as Go's time.Time.Before does. */
static int ts_cmp(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	return a.tv_nsec < b.tv_nsec ? -1 : a.tv_nsec > b.tv_nsec;
}

static struct timespec created_ts(const struct store_image *img)
{
	struct timespec ts = {.tv_sec = imgcmd_created(img->created)};
	if (ts.tv_sec != IMGCMD_ZERO_TIME)
		ts.tv_nsec = imgcmd_created_nsec(img->created);
	return ts;
}

/* The created time of what a before/since filter names. */
static int filter_image_time(struct store *s, const struct imgcmd_snap *snap, const char *what,
			     struct timespec *ret, struct berr **err)
{
	_cleanup_free_ char *id = NULL;
	int r = store_image_resolve(s, what, &id, err);
	if (r < 0)
		return r;
	const struct store_image *img = imgcmd_snap_image(snap, id);
	if (!img)
		return berr_set(err, ENOENT, "No such image: %s", what);
	*ret = created_ts(img);
	return 0;
}

struct list_opts {
	struct imgcmd_filters *filters;
	int all, no_trunc, need_digest, show_digests;
};

/* Select the images and references to show, with the store's meta lock held shared so
 * that records and references are one consistent state. */
static int collect(struct store *s, const struct list_opts *o, struct listing *l,
		   struct berr **err)
{
	const struct imgcmd_filters *f = o->filters;
	int dangling_only = 0;
	int r = imgcmd_filters_bool(f, "dangling", 0, &dangling_only, err);
	if (r < 0)
		return r;
	int has_dangling = imgcmd_filters_get(f, "dangling") != NULL;
	const struct strv *refpat = imgcmd_filters_get(f, "reference");
	const struct strv *before = imgcmd_filters_get(f, "before");
	const struct strv *since = imgcmd_filters_get(f, "since");
	int has_label = imgcmd_filters_get(f, "label") != NULL;

	r = imgcmd_snap_load_summaries(s, &l->snap, err);
	if (r < 0)
		return r;
	const struct imgcmd_snap *snap = &l->snap;

	/* Several before values mean the oldest, several since values the newest. */
	struct timespec before_t = {0}, since_t = {0};
	int have_before = 0, have_since = 0;
	for (size_t i = 0; before && i < before->n; i++) {
		struct timespec t;
		r = filter_image_time(s, snap, before->v[i], &t, err);
		if (r < 0)
			return r;
		if (!have_before || ts_cmp(t, before_t) < 0)
			before_t = t;
		have_before = 1;
	}
	for (size_t i = 0; since && i < since->n; i++) {
		struct timespec t;
		r = filter_image_time(s, snap, since->v[i], &t, err);
		if (r < 0)
			return r;
		if (!have_since || ts_cmp(t, since_t) > 0)
			since_t = t;
		have_since = 1;
	}

	l->sums = calloc(snap->nimgs + 1, sizeof(*l->sums));
	if (!l->sums)
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < snap->nimgs; i++) {
		struct store_image *img = snap->imgs[i];
		int children = imgcmd_snap_has_children(snap, img->id);
		if (dangling_only && children)
			continue;
		struct timespec created = created_ts(img);
		if (have_before && ts_cmp(created, before_t) >= 0)
			continue;
		if (have_since && ts_cmp(created, since_t) <= 0)
			continue;
		if (has_label) {
			/* The only filter that needs the config: read it only then. */
			_cleanup_json_ json_t *cfg = NULL;
			r = imgcmd_read_config(s, img->id, &cfg, err);
			if (r < 0)
				return r;
			json_t *c = json_object_get(cfg, "config");
			if (!json_is_object(c))
				continue;
			if (!imgcmd_filters_match_kv(f, "label", json_object_get(c, "Labels")))
				continue;
		}

		size_t first, n = imgcmd_snap_refs_of(snap, img->id, &first);
		struct summary *sum = &l->sums[l->nsums];
		*sum = (struct summary){
			.img = img, .created = created.tv_sec, .created_nsec = created.tv_nsec};
		sum->refs = calloc(n + 1, sizeof(*sum->refs));
		if (!sum->refs)
			return berr_set(err, ENOMEM, "out of memory");
		int tags = 0;
		for (size_t k = first; k < first + n; k++) {
			size_t xi = snap->by_id[k];
			const struct imgcmd_ref *x = &snap->xrefs[xi];
			if (refpat) {
				/* reference.FamiliarMatch: the familiar string, then its name. */
				int found = 0;
				for (size_t p = 0; p < refpat->n && !found; p++) {
					int m = imgcmd_path_match(refpat->v[p], x->familiar);
					if (m == 0) {
						_cleanup_free_ char *name =
							strndup(x->familiar, x->name_len);
						if (!name) {
							free(sum->refs);
							return berr_set(err, ENOMEM, "out of memory");
						}
						m = imgcmd_path_match(refpat->v[p], name);
						if (m < 0)
							m = 0;
					}
					if (m < 0) {
						free(sum->refs);
						return berr_set(err, EINVAL, "syntax error in pattern");
					}
					found = m;
				}
				if (!found)
					continue;
			}
			sum->refs[sum->nrefs++] = xi;
			if (!x->canonical)
				tags++;
		}
		int keep = 1;
		if (sum->nrefs == 0) {
			if (o->all || !children) {
				if (has_dangling && !dangling_only)
					keep = 0;
				if (refpat)
					keep = 0;
			} else {
				keep = 0;
			}
		} else if (dangling_only && tags > 0) {
			keep = 0;
		}
		if (!keep) {
			free(sum->refs);
			continue;
		}
		l->nsums++;
	}
	return 0;
}

static int fill_columns(struct summary *sum, int no_trunc, time_t now)
{
	char short_id[13];
	imgcmd_short_id(sum->img->id, short_id);
	sum->id = strdup(no_trunc ? sum->img->id : short_id);
	sum->created_since = sum->created == IMGCMD_ZERO_TIME ? strdup("")
							      : fmt_time_ago(sum->created, now);
	sum->created_at = imgcmd_go_time(sum->created);
	sum->size = fmt_human_size(sum->img->size);
	sum->virtual_size = imgcmd_human_size(sum->img->size, 4);
	if (!sum->id || !sum->created_since || !sum->created_at || !sum->size ||
	    !sum->virtual_size)
		return -ENOMEM;
	return 0;
}

/* The fields a --format template sees, as docker's imageContext offers them. */
static json_t *row_object(const struct row *row)
{
	const struct summary *s = row->sum;
	return json_pack("{ss ss ss ss ss ss ss ss ss ss ss}", "Containers", "N/A", "CreatedAt",
			 s->created_at, "CreatedSince", s->created_since, "Digest", row->digest,
			 "ID", s->id, "Repository", row->repo, "SharedSize", "N/A", "Size",
			 s->size, "Tag", row->tag, "UniqueSize", "N/A", "VirtualSize",
			 s->virtual_size);
}

static json_t *header_object(void)
{
	return json_pack("{ss ss ss ss ss ss ss ss ss ss ss}", "ID", "IMAGE ID", "Repository",
			 "REPOSITORY", "Tag", "TAG", "Digest", "DIGEST", "CreatedSince", "CREATED",
			 "CreatedAt", "CREATED AT", "Size", "SIZE", "Containers", "CONTAINERS",
			 "VirtualSize", "SIZE", "SharedSize", "SHARED SIZE", "UniqueSize",
			 "UNIQUE SIZE");
}

static int print_default_table(const struct listing *l, int digests)
{
	struct fmt_table *t = fmt_table_new();
	if (!t)
		return -ENOMEM;
	int r = fmt_table_add(t, digests ? "REPOSITORY\tTAG\tDIGEST\tIMAGE ID\tCREATED\tSIZE"
					 : "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE");
	for (size_t i = 0; r == 0 && i < l->nrows; i++) {
		const struct row *row = &l->rows[i];
		const struct summary *s = row->sum;
		_cleanup_buf_ struct buf b = BUF_INIT;
		const char *since = *s->created_since ? s->created_since : "N/A";
		if (digests)
			r = buf_printf(&b, "%s\t%s\t%s\t%s\t%s\t%s", row->repo, row->tag,
				       row->digest, s->id, since, s->size);
		else
			r = buf_printf(&b, "%s\t%s\t%s\t%s\t%s", row->repo, row->tag, s->id,
				       since, s->size);
		if (r == 0)
			r = fmt_table_add(t, b.data);
	}
	if (r == 0)
		fmt_table_print(t, stdout);
	fmt_table_free(t);
	return r;
}

/* Render rows through a user template; a "table" template is aligned with a header. */
static int print_template(const struct listing *l, const char *format, struct berr **err)
{
	struct fmt_template *tpl = NULL;
	int r = fmt_template_parse(format, &tpl, err);
	if (r < 0)
		return berr_wrap(err, "template parsing error");
	int table = fmt_template_is_table(tpl);
	/* Like docker, nothing is printed unless every row renders. */
	_cleanup_buf_ struct buf all = BUF_INIT;
	struct fmt_table *t = table ? fmt_table_new() : NULL;
	_cleanup_json_ json_t *headers = header_object();
	if ((table && !t) || !headers) {
		fmt_template_free(tpl);
		fmt_table_free(t);
		return berr_set(err, ENOMEM, "out of memory");
	}
	if (table) {
		_cleanup_buf_ struct buf b = BUF_INIT;
		r = fmt_template_header(tpl, headers, &b, err);
		if (r == 0)
			r = fmt_table_add(t, b.data ? b.data : "");
	}
	for (size_t i = 0; r == 0 && i < l->nrows; i++) {
		_cleanup_json_ json_t *obj = row_object(&l->rows[i]);
		_cleanup_buf_ struct buf b = BUF_INIT;
		if (!obj) {
			r = berr_set(err, ENOMEM, "out of memory");
			break;
		}
		r = fmt_template_render(tpl, obj, &b, err);
		if (r < 0) {
			berr_wrap(err, "template parsing error");
			break;
		}
		if (table)
			r = fmt_table_add(t, b.data ? b.data : "");
		else
			r = buf_printf(&all, "%s\n", b.data ? b.data : "");
	}
	if (r == 0 && table)
		fmt_table_print(t, stdout);
	else if (r == 0 && all.len)
		fputs(all.data, stdout);
	fmt_table_free(t);
	fmt_template_free(tpl);
	if (r < 0)
		berr_set(err, ENOMEM, "out of memory"); /* kept when already set */
	return r;
}

int cmd_images(struct berth_ctx *ctx, int argc, char **argv)
{
	int all = 0, digests = 0, no_trunc = 0, quiet = 0;
	const char *format = NULL;
	_cleanup_strv_ struct strv filter_args = STRV_INIT;
	const struct opt opts[] = {
		{OPT_BOOL, 'a', "all", &all, NULL,
		 "Show all images (default hides intermediate images)"},
		{OPT_BOOL, 0, "digests", &digests, NULL, "Show digests"},
		{OPT_LIST, 'f', "filter", &filter_args, "filter",
		 "Filter output based on conditions provided"},
		{OPT_STRING, 0, "format", &format, "string",
		 "Format output: 'table', 'table TEMPLATE', 'json' or a Go template"},
		{OPT_BOOL, 0, "no-trunc", &no_trunc, NULL, "Don't truncate output"},
		{OPT_BOOL, 'q', "quiet", &quiet, NULL, "Only show image IDs"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &images_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &images_help, argc - first, 0, 1) < 0)
		return 1;

	_cleanup_(imgcmd_filters_free) struct imgcmd_filters filters = {0};
	_cleanup_berr_ struct berr *err = NULL;
	for (size_t i = 0; i < filter_args.n; i++) {
		if (imgcmd_filters_add(&filters, filter_args.v[i], &err) < 0) {
			cmd_errorf(ctx, "invalid argument \"%s\" for \"-f, --filter\" flag: %s",
				   filter_args.v[i], err->msg);
			fprintf(stderr, "See 'berth %s --help'.\n", ctx->cmd_name);
			return EXIT_ENGINE;
		}
	}
	if (first < argc && imgcmd_filters_add_kv(&filters, "reference", argv[first]) < 0) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	if (imgcmd_filters_validate(&filters, images_filters, &err) < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}

	/* docker's NewImageFormat: "table" (or nothing) is the default table, or the ids
	 * with -q; a table template gets the digest column appended with --digests. */
	int default_table = !format || !*format || streq(format, "table");
	_cleanup_free_ char *tpl_text = NULL;
	if (!default_table && !streq(format, "json") && !streq(format, "raw")) {
		if (strncmp(format, "table", 5) == 0 && digests && !strstr(format, "{{.Digest}}")) {
			if (asprintf(&tpl_text, "%s\\t{{.Digest}}", format) < 0)
				tpl_text = NULL;
		} else {
			tpl_text = strdup(format);
		}
		if (!tpl_text) {
			cmd_errorf(ctx, "out of memory");
			return EXIT_ENGINE;
		}
	}
	if (format && streq(format, "raw"))
		tpl_text = strdup(digests ? "repository: {{.Repository}}\\ntag: {{.Tag}}\\n"
					    "digest: {{.Digest}}\\nimage_id: {{.ID}}\\n"
					    "created_at: {{.CreatedAt}}\\nvirtual_size: {{.Size}}\\n"
					  : "repository: {{.Repository}}\\ntag: {{.Tag}}\\n"
					    "image_id: {{.ID}}\\ncreated_at: {{.CreatedAt}}\\n"
					    "virtual_size: {{.Size}}\\n");
	if (format && streq(format, "raw") && quiet) {
		free(tpl_text);
		tpl_text = strdup("image_id: {{.ID}}\\n");
	}
	/* Check the template before touching the store. */
	if (tpl_text) {
		struct fmt_template *check = NULL;
		if (fmt_template_parse(tpl_text, &check, &err) < 0) {
			fprintf(stderr, "template parsing error: %s\n", err->msg);
			return 1;
		}
		fmt_template_free(check);
	}

	struct list_opts lo = {
		.filters = &filters,
		.all = all,
		.no_trunc = no_trunc,
		.need_digest = digests || (format && strstr(format, "{{.Digest}}")),
		.show_digests = digests,
	};
	/* Listing reads one file (the store's index) under a shared lock; the output goes out
	 * in one write. */
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	_cleanup_store_ struct store *s = NULL;
	if (store_open_ro(ctx->root, &s, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	struct listing l = {0};
	int r = store_lock_meta(s, 0, &err);
	if (r == 0) {
		r = collect(s, &lo, &l, &err);
		store_unlock_meta(s);
	}
	if (r < 0) {
		listing_free(&l);
		if (err && (err->code == ENOENT || err->code == EINVAL)) {
			fprintf(stderr, "Error: %s\n", err->msg);
			return 1;
		}
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}

	qsort(l.sums, l.nsums, sizeof(*l.sums), cmp_summary);
	time_t now = time(NULL);
	for (size_t i = 0; i < l.nsums; i++) {
		if (fill_columns(&l.sums[i], no_trunc, now) < 0 ||
		    add_rows(&l, &l.sums[i], lo.need_digest, digests) < 0) {
			listing_free(&l);
			cmd_errorf(ctx, "out of memory");
			return EXIT_ENGINE;
		}
	}

	rc = 0;
	if (default_table && quiet) {
		/* One id per image, however many tags it has. */
		const struct summary *last = NULL;
		for (size_t i = 0; i < l.nrows; i++) {
			if (l.rows[i].sum != last)
				printf("%s\n", l.rows[i].sum->id);
			last = l.rows[i].sum;
		}
	} else if (default_table) {
		if (print_default_table(&l, digests) < 0) {
			cmd_errorf(ctx, "out of memory");
			rc = EXIT_ENGINE;
		}
	} else if (streq(format, "json")) {
		for (size_t i = 0; i < l.nrows && rc == 0; i++) {
			_cleanup_json_ json_t *obj = row_object(&l.rows[i]);
			if (!obj || imgcmd_print_json(stdout, obj, JSON_COMPACT | JSON_SORT_KEYS) < 0) {
				cmd_errorf(ctx, "out of memory");
				rc = EXIT_ENGINE;
			}
		}
	} else if (print_template(&l, tpl_text, &err) < 0) {
		/* docker's formatter errors are client-side: no "Error: " prefix. */
		fprintf(stderr, "%s\n", err->msg);
		rc = 1;
	}
	listing_free(&l);
	return rc;
}
