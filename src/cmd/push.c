/* push (image push): upload a local image to a registry. The work is reg_push() (transfer.h);
 * this file finds the local image(s) for the name and prints docker's lines. */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "client.h"
#include "config.h"
#include "ref.h"
#include "store.h"
#include "strv.h"
#include "transfer.h"

#include "banned.h"

static const struct cmd_help push_help = {
    .usage = "berth push [OPTIONS] NAME[:TAG]",
    .summary = "Upload an image to a registry",
    .aliases = "berth image push, berth push",
};

/* The tags of repository name (full, "localhost:5000/x") in the store, and their image ids. */
static int local_tags(struct store *s, const char *name, const char *only_tag, struct strv *tags,
		      struct strv *ids, struct berr **err)
{
	struct store_ref *refs = NULL;
	size_t n = 0;
	int r = store_refs_list(s, &refs, &n, err);
	if (r < 0)
		return r;
	size_t nl = strlen(name);
	for (size_t i = 0; i < n && r >= 0; i++) {
		const char *ref = refs[i].name;
		if (strncmp(ref, name, nl) != 0 || ref[nl] != ':' || strchr(ref + nl + 1, '@'))
			continue;
		if (only_tag && !streq(ref + nl + 1, only_tag))
			continue;
		if (strv_push(tags, ref + nl + 1) < 0 || strv_push(ids, refs[i].id) < 0)
			r = berr_set(err, ENOMEM, "out of memory");
	}
	store_refs_free(refs, n);
	return r;
}

int cmd_push(struct berth_ctx *ctx, int argc, char **argv)
{
	int all = 0, quiet = 0, tls_verify = -1;
	const struct opt opts[] = {
	    {OPT_BOOL, 'a', "all-tags", &all, NULL, "Push all tags of an image to the repository"},
	    {OPT_BOOL, 'q', "quiet", &quiet, NULL, "Suppress verbose output"},
	    {OPT_BOOL, 0, "tls-verify", &tls_verify, NULL,
	     "Require HTTPS and a verified certificate (default: unless the registry is insecure)"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &push_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &push_help, argc - first, 1, 1) < 0)
		return 1;
	const char *arg = argv[first];

	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_ref_ struct ref r = {0};
	if (ref_parse(arg, REF_NO_DEFAULT_TAG, &r, &err) < 0) {
		cmd_error(ctx, err);
		return 1;
	}
	if (r.digest) {
		cmd_errorf(ctx, "cannot push a digest reference");
		return 1;
	}
	if (all && r.tag) {
		cmd_errorf(ctx, "tag can't be used with --all-tags/-a");
		return 1;
	}
	if (!all && !r.tag) {
		if (!quiet)
			printf("Using default tag: latest\n");
		r.tag = strdup("latest");
		if (!r.tag) {
			cmd_errorf(ctx, "out of memory");
			return EXIT_ENGINE;
		}
	}
	_cleanup_free_ char *name = ref_name(&r);
	_cleanup_free_ char *fam = ref_familiar_name(&r);
	if (!name || !fam) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}

	_cleanup_store_ struct store *s = NULL;
	if (store_open(ctx->root, &s, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	_cleanup_strv_ struct strv tags = STRV_INIT;
	_cleanup_strv_ struct strv ids = STRV_INIT;
	if (local_tags(s, name, r.tag, &tags, &ids, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	if (!tags.n) {
		cmd_errorf(ctx, "An image does not exist locally with the tag: %s",
			   fam); /* docker's */
		return 1;
	}

	_cleanup_reg_client_ struct reg_client *c = NULL;
	if (cmd_registry_client(ctx, r.domain, tls_verify, &c) < 0)
		return 1;
	struct cmd_progress *prog = cmd_progress_new(quiet);
	if (!prog) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	struct reg_push_opts po = {
	    .max_concurrent = (int)config_get_int(ctx->config, "max-concurrent-uploads", 5),
	    .event = cmd_progress_event,
	    .opaque = prog,
	};
	if (!quiet)
		printf("The push refers to repository [%s]\n", name);
	fflush(stdout);
	rc = 0;
	for (size_t i = 0; i < tags.n; i++) {
		free(r.tag);
		r.tag = strdup(tags.v[i]);
		struct reg_push_result res;
		if (!r.tag) {
			cmd_errorf(ctx, "out of memory");
			rc = EXIT_ENGINE;
			break;
		}
		if (reg_push(c, s, ids.v[i], &r, &po, &res, &err) < 0) {
			cmd_registry_error(ctx, err);
			rc = 1;
			break;
		}
		if (!quiet)
			printf("%s: digest: %s size: %zu\n", r.tag, res.digest, res.size);
		else {
			_cleanup_free_ char *shown = ref_familiar_string(&r);
			printf("%s\n", shown ? shown : r.tag);
		}
		fflush(stdout);
	}
	cmd_progress_free(prog);
	return rc;
}
