/* rmi (image rm, image remove): docker's untag-then-delete semantics (imagecmd_delete),
 * then a garbage collection of what no image uses any more. */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "buf.h"
#include "imagecmd.h"
#include "store.h"

#include "banned.h"

static const struct cmd_help rmi_help = {
	.usage = "berth rmi [OPTIONS] IMAGE [IMAGE...]",
	.summary = "Remove one or more images",
	.aliases = "berth image rm, berth image remove, berth rmi",
};

int cmd_rmi(struct berth_ctx *ctx, int argc, char **argv)
{
	int force = 0, no_prune = 0;
	const struct opt opts[] = {
		{OPT_BOOL, 'f', "force", &force, NULL, "Force removal of the image"},
		{OPT_BOOL, 0, "no-prune", &no_prune, NULL, "Do not delete untagged parents"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &rmi_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &rmi_help, argc - first, 1, -1) < 0)
		return 1;

	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_store_ struct store *s = NULL;
	/* As a writer (gc lock shared, a pin file): killed halfway through deleting, this
	 * leaves the pin file, and the next command collects what was not deleted yet. */
	if (store_open(ctx->root, &s, &err) < 0 || store_gc_hold(s, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	if (store_lock_meta(s, 1, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}

	/* Like docker: go through every argument, print what was done as it happens, and
	 * report the errors together at the end. A missing image under -f is not fatal. */
	_cleanup_buf_ struct buf errors = BUF_INIT;
	int fatal = 0, any_error = 0, engine = 0;
	for (int i = first; i < argc; i++) {
		struct imgcmd_dels dels = {0};
		/* Each argument is one step: untagging, deleting the image and its untagged
		 * parents are one index write (a kill leaves all of it done or none). What a
		 * failed delete had done already is kept, as docker keeps it. */
		int r = store_batch_begin(s, &err);
		if (r == 0) {
			r = imgcmd_delete(s, argv[i], force, !no_prune, &dels, &err);
			struct berr *cerr = NULL;
			int c = store_batch_commit(s, &cerr);
			if (c < 0) {
				imgcmd_dels_free(&dels);
				berr_freep(&err);
				err = cerr;
				r = c;
			}
		}
		for (size_t k = 0; k < dels.n; k++) {
			if (dels.v[k].deleted)
				printf("Deleted: %s\n", dels.v[k].deleted);
			else
				printf("Untagged: %s\n", dels.v[k].untagged);
		}
		imgcmd_dels_free(&dels);
		if (r < 0) {
			any_error = 1;
			if (r != -ENOENT)
				fatal = 1;
			if (r != -ENOENT && r != -EBUSY && r != -EINVAL)
				engine = 1;
			buf_printf(&errors, "Error: %s\n", err ? err->msg : "unknown error");
			berr_freep(&err);
		}
	}
	fflush(stdout);

	/* Reclaim the space now; when a running import or load holds the gc lock, the
	 * next gc does it. */
	if (store_gc(s, &err) < 0) {
		fprintf(stderr, "WARNING: garbage collection failed: %s\n", err->msg);
		berr_freep(&err);
	}
	store_unlock_meta(s);

	if (any_error) {
		fputs(errors.data, stderr);
		if (!force || fatal)
			return engine ? EXIT_ENGINE : 1;
	}
	return 0;
}
