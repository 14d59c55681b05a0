/* tag (image tag): point a new reference at an existing image. */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "format.h"
#include "ref.h"
#include "store.h"

#include "banned.h"

static const struct cmd_help tag_help = {
	.usage = "berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
	.summary = "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
	.aliases = "berth image tag, berth tag",
};

/* Record the tag time (docker's LastTagTime) in the image record. */
static int touch_last_tag_time(struct store *s, const char *id, struct berr **err)
{
	struct store_image *img = NULL;
	int r = store_image_get(s, id, &img, err);
	if (r < 0)
		return r;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char *now = fmt_rfc3339_nano(ts.tv_sec, ts.tv_nsec);
	if (!now) {
		store_image_free(img);
		return berr_set(err, ENOMEM, "out of memory");
	}
	free(img->last_tag_time);
	img->last_tag_time = now;
	r = store_image_put(s, img, err);
	store_image_free(img);
	return r;
}

int cmd_tag(struct berth_ctx *ctx, int argc, char **argv)
{
	const struct opt opts[] = {{0}};
	int first, rc;
	/* Docker's tag takes no flags after the first operand (SetInterspersed(false)). */
	if (cmd_parse(ctx, &tag_help, opts, OPT_PARSE_STOP_AT_OPERAND, argc, argv, &first, &rc) <
	    0)
		return rc;
	if (cmd_check_args(ctx, &tag_help, argc - first, 2, 2) < 0)
		return 1;
	const char *source = argv[first], *target = argv[first + 1];

	/* Both names are checked before the store is opened. These are docker's client-side
	 * errors, printed as its CLI prints them: without an "Error: " prefix. */
	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_(ref_free) struct ref src = {0};
	_cleanup_(ref_free) struct ref dst = {0};
	int src_is_id = strncmp(source, "sha256:", 7) == 0 ||
			(strlen(source) == 64 && strspn(source, "0123456789abcdef") == 64);
	if (!src_is_id && ref_parse(source, 0, &src, &err) < 0) {
		fprintf(stderr, "Error parsing reference: \"%s\" is not a valid repository/tag: %s\n",
			source, err->msg);
		return 1;
	}
	if (ref_parse(target, 0, &dst, &err) < 0) {
		fprintf(stderr, "Error parsing reference: \"%s\" is not a valid repository/tag: %s\n",
			target, err->msg);
		return 1;
	}
	if (dst.digest) {
		fprintf(stderr, "refusing to create a tag with a digest reference\n");
		return 1;
	}
	_cleanup_free_ char *name = ref_string(&dst);
	if (!name) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}

	_cleanup_store_ struct store *s = NULL;
	if (store_open(ctx->root, &s, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	if (store_lock_meta(s, 1, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	_cleanup_free_ char *id = NULL;
	int r = store_image_resolve(s, source, &id, &err);
	if (r == -ENOENT) {
		store_unlock_meta(s);
		fprintf(stderr, "Error: No such image: %s\n", source);
		return 1;
	}
	/* The name and the record's tag time in one index write. */
	if (r == 0)
		r = store_batch_begin(s, &err);
	if (r == 0)
		r = store_ref_set(s, name, id, &err);
	if (r == 0)
		r = touch_last_tag_time(s, id, &err);
	if (r == 0)
		r = store_batch_commit(s, &err);
	store_unlock_meta(s);
	if (r < 0) {
		if (r == -EINVAL) {
			fprintf(stderr, "Error: %s\n", err->msg);
			return 1;
		}
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	return 0;
}
