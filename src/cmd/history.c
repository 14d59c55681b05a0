/* history (image history): the config's history[] newest first, non-empty entries matched
 * in order with the image's layers for their sizes, as docker's daemon (image_history.go)
 * and CLI (formatter_history.go) show it. */
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

/* Docker shows no age for entries dated before 2000 (formatter_history.go's epoch). */
#define HISTORY_EPOCH ((time_t)946684800)
/* The width docker truncates CREATED BY to. */
#define CREATED_BY_WIDTH 45

static const struct cmd_help history_help = {
	.usage = "berth history [OPTIONS] IMAGE",
	.summary = "Show the history of an image",
	.aliases = "berth image history, berth history",
};

struct hist {
	char *id; /* image id, or NULL for "<missing>" */
	time_t created;
	const char *created_by; /* point into the config */
	const char *comment;
	uint64_t size;
};

/* formatter.Ellipsis for a display width of CREATED_BY_WIDTH, counting each character as
 * one column (no East Asian wide forms in practice). */
static char *ellipsis(const char *s)
{
	size_t chars = 0, cut = 0;
	for (const char *p = s; *p; p++) {
		if (((unsigned char)*p & 0xc0) == 0x80)
			continue;
		if (chars == CREATED_BY_WIDTH - 1)
			cut = (size_t)(p - s);
		chars++;
	}
	if (chars <= CREATED_BY_WIDTH)
		return strdup(s);
	char *out = NULL;
	if (asprintf(&out, "%.*s\xe2\x80\xa6", (int)cut, s) < 0)
		return NULL;
	return out;
}

struct hist_opts {
	int human, no_trunc;
};

/* The fields a --format template sees, as docker's historyContext offers them. */
static json_t *hist_object(const struct hist *h, const struct hist_opts *o, time_t now)
{
	char short_id[13];
	const char *id = "<missing>";
	if (h->id) {
		imgcmd_short_id(h->id, short_id);
		id = o->no_trunc ? h->id : short_id;
	}
	_cleanup_free_ char *created_at = imgcmd_rfc3339(h->created);
	_cleanup_free_ char *since = NULL;
	if (!o->human)
		since = created_at ? strdup(created_at) : NULL;
	else if (h->created <= HISTORY_EPOCH)
		since = strdup("N/A");
	else
		since = fmt_time_ago(h->created, now);
	_cleanup_free_ char *by = strdup(h->created_by);
	if (by)
		for (char *p = by; *p; p++)
			if (*p == '\t')
				*p = ' ';
	_cleanup_free_ char *by_shown = by && !o->no_trunc ? ellipsis(by) : NULL;
	_cleanup_free_ char *size = NULL;
	if (o->human)
		size = fmt_human_size(h->size);
	else if (asprintf(&size, "%llu", (unsigned long long)h->size) < 0)
		size = NULL;
	if (!created_at || !since || !by || (!o->no_trunc && !by_shown) || !size)
		return NULL;
	return json_pack("{ss ss ss ss ss ss}", "Comment", h->comment, "CreatedAt", created_at,
			 "CreatedBy", o->no_trunc ? by : by_shown, "CreatedSince", since, "ID", id,
			 "Size", size);
}

static json_t *hist_headers(void)
{
	return json_pack("{ss ss ss ss ss ss}", "ID", "IMAGE", "CreatedSince", "CREATED",
			 "CreatedAt", "CREATED AT", "CreatedBy", "CREATED BY", "Size", "SIZE",
			 "Comment", "COMMENT");
}

/* Read the entries of image id (newest first) with the store's meta lock held. */
static int load_history(struct store *s, const char *name, json_t **ret_cfg,
			struct hist **ret, size_t *ret_n, struct berr **err)
{
	_cleanup_free_ char *id = NULL;
	int r = store_image_resolve(s, name, &id, err);
	if (r < 0)
		return r;
	struct store_image *img = NULL;
	r = store_image_get(s, id, &img, err);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *cfg = NULL;
	r = imgcmd_read_config(s, id, &cfg, err);
	if (r < 0) {
		store_image_free(img);
		return r;
	}
	json_t *history = json_object_get(cfg, "history");
	size_t n = json_is_array(history) ? json_array_size(history) : 0;
	struct hist *rows = calloc(n + 1, sizeof(*rows));
	if (!rows) {
		store_image_free(img);
		return berr_set(err, ENOMEM, "out of memory");
	}
	size_t layer = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *h = json_array_get(history, i);
		json_t *by = json_object_get(h, "created_by");
		json_t *comment = json_object_get(h, "comment");
		json_t *created = json_object_get(h, "created");
		struct hist *row = &rows[n - 1 - i];
		row->created = imgcmd_created(json_is_string(created) ? json_string_value(created)
								     : NULL);
		row->created_by = json_is_string(by) ? json_string_value(by) : "";
		row->comment = json_is_string(comment) ? json_string_value(comment) : "";
		if (json_is_true(json_object_get(h, "empty_layer")))
			continue;
		if (layer >= img->nlayers) {
			free(rows);
			store_image_free(img);
			return berr_set(err, EBADMSG, "too many non-empty layers in History section");
		}
		row->size = img->layers[layer++].size;
	}

	/* The newest entry is the image; older ones are its parents while it has any
	 * (images committed step by step), else "<missing>". */
	char *cur = strdup(id);
	char *parent = img->parent && *img->parent ? strdup(img->parent) : NULL;
	store_image_free(img);
	for (size_t i = 0; i < n && cur; i++) {
		rows[i].id = cur;
		cur = NULL;
		if (!parent)
			break;
		struct store_image *p = NULL;
		if (store_image_get(s, parent, &p, NULL) < 0)
			break;
		cur = parent;
		parent = p->parent && *p->parent ? strdup(p->parent) : NULL;
		store_image_free(p);
	}
	free(cur);
	free(parent);
	*ret_cfg = TAKE_PTR(cfg);
	*ret = rows;
	*ret_n = n;
	return 0;
}

static int print_table(const struct hist *rows, size_t n, const struct hist_opts *o,
		       time_t now)
{
	struct fmt_table *t = fmt_table_new();
	if (!t)
		return -ENOMEM;
	int r = fmt_table_add(t, o->human ? "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT"
					  : "IMAGE\tCREATED AT\tCREATED BY\tSIZE\tCOMMENT");
	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_json_ json_t *obj = hist_object(&rows[i], o, now);
		_cleanup_buf_ struct buf b = BUF_INIT;
		if (!obj) {
			r = -ENOMEM;
			break;
		}
		r = buf_printf(&b, "%s\t%s\t%s\t%s\t%s",
			       json_string_value(json_object_get(obj, "ID")),
			       json_string_value(json_object_get(obj, "CreatedSince")),
			       json_string_value(json_object_get(obj, "CreatedBy")),
			       json_string_value(json_object_get(obj, "Size")),
			       json_string_value(json_object_get(obj, "Comment")));
		if (r == 0)
			r = fmt_table_add(t, b.data);
	}
	if (r == 0)
		fmt_table_print(t, stdout);
	fmt_table_free(t);
	return r;
}

static int print_template(const char *format, const struct hist *rows, size_t n,
			  const struct hist_opts *o, time_t now, struct berr **err)
{
	struct fmt_template *tpl = NULL;
	if (fmt_template_parse(format, &tpl, err) < 0)
		return berr_wrap(err, "template parsing error");
	int table = fmt_template_is_table(tpl);
	/* Like docker, nothing is printed unless every row renders. */
	_cleanup_buf_ struct buf all = BUF_INIT;
	struct fmt_table *t = table ? fmt_table_new() : NULL;
	_cleanup_json_ json_t *headers = hist_headers();
	int r = (table && !t) || !headers ? berr_set(err, ENOMEM, "out of memory") : 0;
	if (r == 0 && table) {
		_cleanup_buf_ struct buf b = BUF_INIT;
		r = fmt_template_header(tpl, headers, &b, err);
		if (r == 0)
			r = fmt_table_add(t, b.data ? b.data : "");
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_json_ json_t *obj = hist_object(&rows[i], o, now);
		_cleanup_buf_ struct buf b = BUF_INIT;
		if (!obj) {
			r = berr_set(err, ENOMEM, "out of memory");
			break;
		}
		r = fmt_template_render(tpl, obj, &b, err);
		if (r < 0)
			berr_wrap(err, "template parsing error");
		else if (table)
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

int cmd_history(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *format = NULL;
	int human = 1, no_trunc = 0, quiet = 0;
	const struct opt opts[] = {
		{OPT_STRING, 0, "format", &format, "string",
		 "Format output: 'table', 'table TEMPLATE', 'json' or a Go template"},
		{OPT_BOOL, 'H', "human", &human, NULL,
		 "Print sizes and dates in human readable format (default true)"},
		{OPT_BOOL, 0, "no-trunc", &no_trunc, NULL, "Don't truncate output"},
		{OPT_BOOL, 'q', "quiet", &quiet, NULL, "Only show image IDs"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &history_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &history_help, argc - first, 1, 1) < 0)
		return 1;
	const char *name = argv[first];

	_cleanup_berr_ struct berr *err = NULL;
	int default_table = !format || !*format || streq(format, "table");
	int json = format && streq(format, "json");
	if (!default_table && !json) {
		struct fmt_template *check = NULL;
		if (fmt_template_parse(format, &check, &err) < 0) {
			fprintf(stderr, "template parsing error: %s\n", err->msg);
			return 1;
		}
		fmt_template_free(check);
	}

	_cleanup_store_ struct store *s = NULL;
	if (store_open(ctx->root, &s, &err) < 0 || store_lock_meta(s, 0, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	_cleanup_json_ json_t *cfg = NULL;
	struct hist *rows = NULL;
	size_t n = 0;
	int r = load_history(s, name, &cfg, &rows, &n, &err);
	store_unlock_meta(s);
	if (r == -ENOENT) {
		fprintf(stderr, "Error: No such image: %s\n", name);
		return 1;
	}
	if (r < 0) {
		if (r == -EBADMSG || r == -EINVAL) {
			fprintf(stderr, "Error: %s\n", err->msg);
			return 1;
		}
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}

	struct hist_opts o = {.human = human, .no_trunc = no_trunc};
	time_t now = time(NULL);
	rc = 0;
	if (default_table && quiet) {
		char short_id[13];
		for (size_t i = 0; i < n; i++) {
			if (!rows[i].id) {
				puts("<missing>");
				continue;
			}
			imgcmd_short_id(rows[i].id, short_id);
			puts(no_trunc ? rows[i].id : short_id);
		}
	} else if (default_table) {
		if (print_table(rows, n, &o, now) < 0) {
			cmd_errorf(ctx, "out of memory");
			rc = EXIT_ENGINE;
		}
	} else if (json) {
		for (size_t i = 0; i < n && rc == 0; i++) {
			_cleanup_json_ json_t *obj = hist_object(&rows[i], &o, now);
			if (!obj || imgcmd_print_json(stdout, obj, JSON_COMPACT | JSON_SORT_KEYS) < 0) {
				cmd_errorf(ctx, "out of memory");
				rc = EXIT_ENGINE;
			}
		}
	} else if (print_template(format, rows, n, &o, now, &err) < 0) {
		/* docker's formatter errors are client-side: no "Error: " prefix. */
		fprintf(stderr, "%s\n", err->msg);
		rc = 1;
	}
	for (size_t i = 0; i < n; i++)
		free(rows[i].id);
	free(rows);
	return rc;
}
