/* image prune: remove dangling images, or with -a every image no container uses, through
 * the same delete semantics as rmi (docker's daemon/images/image_prune.go). */
#include "cmd.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "ctr.h"
#include "format.h"
#include "imagecmd.h"
#include "log.h"
#include "store.h"

#include "banned.h"

static const struct cmd_help prune_help = {
	.usage = "berth image prune [OPTIONS]",
	.summary = "Remove unused images",
};

static const char *const prune_filters[] = {"dangling", "label", "label!", "until", NULL};

/* Go's time.ParseDuration: "1h30m", "90s", "-1.5h", "300ms". 0 or -EINVAL. */
static int parse_go_duration(const char *s, double *ret_seconds)
{
	static const struct {
		const char *unit;
		double seconds;
	} units[] = {
		{"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"\xce\xbcs", 1e-6},
		{"ms", 1e-3}, {"s", 1},     {"m", 60},           {"h", 3600},
	};
	double total = 0, sign = 1;
	if (*s == '-' || *s == '+') {
		sign = *s == '-' ? -1 : 1;
		s++;
	}
	if (streq(s, "0")) {
		*ret_seconds = 0;
		return 0;
	}
	if (!*s)
		return -EINVAL;
	while (*s) {
		if (!isdigit((unsigned char)*s) && *s != '.')
			return -EINVAL;
		char *end = NULL;
		double v = strtod(s, &end);
		if (end == s || !isfinite(v))
			return -EINVAL;
		s = end;
		size_t best = 0;
		int found = -1;
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			size_t n = strlen(units[i].unit);
			if (strncmp(s, units[i].unit, n) == 0 && n > best) {
				best = n;
				found = (int)i;
			}
		}
		if (found < 0)
			return -EINVAL;
		total += v * units[found].seconds;
		s += best;
	}
	*ret_seconds = sign * total;
	return 0;
}

/* docker's GetTimestamp for until=: a duration before now, an RFC 3339 time (or a prefix
 * of one, local when no zone is given), or Unix seconds. */
static int parse_until(const char *v, time_t now, time_t *ret, struct berr **err)
{
	/* Beyond this a double does not convert to time_t defined-ly; no real filter is. */
	const double limit = 1e15;
	double d;
	if (!streq(v, "0") && parse_go_duration(v, &d) == 0 && fabs(d) < limit) {
		*ret = now - (time_t)d;
		return 0;
	}
	if (strchr(v, '-')) {
		time_t t;
		if (fmt_parse_rfc3339(v, &t) == 0) {
			*ret = t;
			return 0;
		}
		static const char *const local[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
						    "%Y-%m-%dT%H", "%Y-%m-%d"};
		for (size_t i = 0; i < ARRAY_SIZE(local); i++) {
			struct tm tm = {0};
			const char *end = strptime(v, local[i], &tm);
			if (end && (!*end || *end == '.')) {
				tm.tm_isdst = -1;
				*ret = mktime(&tm);
				return 0;
			}
		}
		return berr_set(err, EINVAL, "parsing time \"%s\": cannot parse as a timestamp", v);
	}
	char *end = NULL;
	double secs = strtod(v, &end);
	if (end == v || *end || !isfinite(secs) || fabs(secs) >= limit)
		return berr_set(err, EINVAL, "failed to parse value as time or duration: \"%s\"", v);
	*ret = (time_t)secs;
	return 0;
}

/* PromptForConfirmation: the question on stdout, a "y" or "Y" line on stdin. */
static int confirm(const char *question)
{
	printf("%s [y/N] ", question);
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return 0;
	line[strcspn(line, "\r\n")] = '\0';
	return streq(line, "y") || streq(line, "Y");
}

struct candidate {
	char *id;
};

/* The images to prune, chosen as docker does: heads only for dangling, no intermediate
 * image without a reference, until= and label filters. Caller holds the meta lock. */
static int select_images(struct store *s, const struct imgcmd_filters *f, int dangling_only,
			 int have_until, time_t until, struct strv *ret, struct berr **err)
{
	_cleanup_(imgcmd_snap_free) struct imgcmd_snap snap = {0};
	int r = imgcmd_snap_load(s, &snap, err);
	if (r < 0)
		return r;
	int labels = imgcmd_filters_get(f, "label") || imgcmd_filters_get(f, "label!");
	for (size_t i = 0; i < snap.nimgs; i++) {
		const struct store_image *img = snap.imgs[i];
		int children = imgcmd_snap_has_children(&snap, img->id);
		if (dangling_only && children)
			continue;
		size_t first, nrefs = imgcmd_snap_refs_of(&snap, img->id, &first);
		if (nrefs == 0 && children)
			continue;
		if (have_until && imgcmd_created(img->created) > until)
			continue;
		if (labels) {
			_cleanup_json_ json_t *cfg = NULL;
			r = imgcmd_read_config(s, img->id, &cfg, err);
			if (r < 0)
				return r;
			json_t *c = json_object_get(cfg, "config");
			/* Like docker, an image without a config is not filtered by labels. */
			if (json_is_object(c)) {
				json_t *l = json_object_get(c, "Labels");
				if (!imgcmd_filters_match_kv(f, "label", l))
					continue;
				if (imgcmd_filters_get(f, "label!") &&
				    imgcmd_filters_match_kv(f, "label!", l))
					continue;
			}
		}
		/* With -a, an image a container uses is not unused. */
		char running[13], stopped[13];
		r = ctr_image_users(store_root(s), img->id, running, stopped, err);
		if (r < 0)
			return r;
		if (running[0] || stopped[0])
			continue;
		if (strv_push(ret, img->id) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

/* Delete one image the way prune does: through each of its references, or by id when
 * it has none; conflicts and vanished images are skipped quietly. */
static int prune_one(struct store *s, const char *id, int dangling_only,
		     struct imgcmd_dels *dels, struct berr **err)
{
	struct store_ref *refs = NULL;
	size_t nrefs = 0;
	int r = store_refs_list(s, &refs, &nrefs, err);
	if (r < 0)
		return r;
	_cleanup_strv_ struct strv mine = STRV_INIT;
	int tagged = 0;
	for (size_t i = 0; i < nrefs; i++) {
		if (!streq(refs[i].id, id))
			continue;
		if (!strchr(refs[i].name, '@'))
			tagged = 1;
		if (strv_push(&mine, refs[i].name) < 0) {
			store_refs_free(refs, nrefs);
			return berr_set(err, ENOMEM, "out of memory");
		}
	}
	store_refs_free(refs, nrefs);

	if (mine.n == 0) {
		const char *hex = strchr(id, ':');
		if (strv_push(&mine, hex ? hex + 1 : id) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	} else if (dangling_only && tagged) {
		return 0;
	}
	for (size_t i = 0; i < mine.n; i++) {
		_cleanup_berr_ struct berr *e = NULL;
		r = imgcmd_delete(s, mine.v[i], 0, 1, dels, &e);
		if (r < 0 && r != -ENOENT && r != -EBUSY)
			log_warn("failed to prune image %s: %s", mine.v[i], e->msg);
	}
	return 0;
}

int cmd_image_prune(struct berth_ctx *ctx, int argc, char **argv)
{
	int all = 0, force = 0;
	_cleanup_strv_ struct strv filter_args = STRV_INIT;
	const struct opt opts[] = {
		{OPT_BOOL, 'a', "all", &all, NULL,
		 "Remove all unused images, not just dangling ones"},
		{OPT_LIST, 0, "filter", &filter_args, "filter",
		 "Provide filter values (e.g. \"until=<timestamp>\")"},
		{OPT_BOOL, 'f', "force", &force, NULL, "Do not prompt for confirmation"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &prune_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (first < argc) {
		fprintf(stderr,
			"\"berth %s\" accepts no arguments.\nSee 'berth %s --help'.\n\nUsage:  %s\n\n%s\n",
			ctx->cmd_name, ctx->cmd_name, prune_help.usage, prune_help.summary);
		return 1;
	}

	_cleanup_(imgcmd_filters_free) struct imgcmd_filters filters = {0};
	_cleanup_berr_ struct berr *err = NULL;
	for (size_t i = 0; i < filter_args.n; i++) {
		if (imgcmd_filters_add(&filters, filter_args.v[i], &err) < 0) {
			cmd_errorf(ctx, "invalid argument \"%s\" for \"--filter\" flag: %s",
				   filter_args.v[i], err->msg);
			fprintf(stderr, "See 'berth %s --help'.\n", ctx->cmd_name);
			return EXIT_ENGINE;
		}
	}
	if (imgcmd_filters_add_kv(&filters, "dangling", all ? "false" : "true") < 0) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}

	if (!force &&
	    !confirm(all ? "WARNING! This will remove all images without at least one container "
			   "associated to them.\nAre you sure you want to continue?"
			 : "WARNING! This will remove all dangling images.\n"
			   "Are you sure you want to continue?")) {
		printf("Total reclaimed space: 0B\n");
		return 0;
	}

	int dangling_only = 1, have_until = 0;
	time_t until = 0;
	const struct strv *u = imgcmd_filters_get(&filters, "until");
	if (imgcmd_filters_validate(&filters, prune_filters, &err) < 0 ||
	    imgcmd_filters_bool(&filters, "dangling", 1, &dangling_only, &err) < 0 ||
	    (u && u->n > 1 && berr_set(&err, EINVAL, "more than one until filter specified")) ||
	    (u && parse_until(u->v[0], time(NULL), &until, &err) < 0)) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}
	have_until = u != NULL;

	_cleanup_store_ struct store *s = NULL;
	/* A writer, as rmi is: a kill halfway leaves its pin file for the next command. */
	if (store_open(ctx->root, &s, &err) < 0 || store_gc_hold(s, &err) < 0 ||
	    store_lock_meta(s, 1, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	_cleanup_strv_ struct strv ids = STRV_INIT;
	struct imgcmd_dels dels = {0};
	/* Every untagging and deletion in one store batch: a kill leaves all of them done
	 * or none. A failure aborts the batch, and nothing was done. */
	int r = store_batch_begin(s, &err);
	if (r == 0)
		r = select_images(s, &filters, dangling_only, have_until, until, &ids, &err);
	for (size_t i = 0; r == 0 && i < ids.n; i++)
		r = prune_one(s, ids.v[i], dangling_only, &dels, &err);
	if (r == 0)
		r = store_batch_commit(s, &err);
	if (r < 0)
		imgcmd_dels_free(&dels);
	if (r == 0 && store_gc(s, &err) < 0) {
		fprintf(stderr, "WARNING: garbage collection failed: %s\n", err->msg);
		berr_freep(&err);
	}
	store_unlock_meta(s);

	uint64_t reclaimed = 0;
	if (dels.n) {
		printf("Deleted Images:\n");
		for (size_t i = 0; i < dels.n; i++) {
			if (dels.v[i].untagged)
				printf("untagged: %s\n", dels.v[i].untagged);
			else
				printf("deleted: %s\n", dels.v[i].deleted);
			if (dels.v[i].is_layer)
				reclaimed += dels.v[i].size;
		}
		printf("\n");
	}
	imgcmd_dels_free(&dels);
	if (r < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	_cleanup_free_ char *total = imgcmd_human_size(reclaimed, 4);
	printf("Total reclaimed space: %s\n", total ? total : "?");
	return 0;
}
