/* load (image load): read a docker-save or OCI archive into the store. The work is
 * imgarchive_load(); this file opens the input and prints what was loaded as docker does. */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "imgarchive.h"
#include "imgconfig.h"
#include "ref.h"
#include "store.h"

#include "banned.h"

static const struct cmd_help load_help = {
	.usage = "berth load [OPTIONS]",
	.summary = "Load an image from a tar archive or STDIN",
	.aliases = "berth image load, berth load",
};

int cmd_load(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *input = NULL, *platform = NULL;
	int quiet = 0;
	const struct opt opts[] = {
		{OPT_STRING, 'i', "input", &input, "string", "Read from tar archive file, instead of STDIN"},
		{OPT_STRING, 0, "platform", &platform, "string",
		 "Load only the given platform variant. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")"},
		{OPT_BOOL, 'q', "quiet", &quiet, NULL, "Suppress the load output"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &load_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &load_help, argc - first, 0, 0) < 0)
		return 1;

	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_free_ char *os = NULL, *arch = NULL, *variant = NULL;
	if (platform && imgconfig_platform_parse(platform, &os, &arch, &variant, &err) < 0) {
		cmd_error(ctx, err);
		return 1;
	}
	_cleanup_close_ int fd = -1;
	if (!input || streq(input, "-")) {
		if (isatty(STDIN_FILENO)) {
			cmd_errorf(ctx, "requested load from stdin, but stdin is empty");
			return 1;
		}
		fd = dup(STDIN_FILENO);
	} else
		fd = open(input, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cmd_errorf(ctx, "open %s: %s", input ? input : "stdin", strerror(errno));
		return 1;
	}

	_cleanup_store_ struct store *s = NULL;
	struct imgarchive_loaded *loaded = NULL;
	size_t n = 0;
	struct imgarchive_load_opts lo = {.os = os, .architecture = arch, .variant = variant};
	int r = store_open(ctx->root, &s, &err);
	if (r >= 0)
		r = imgarchive_load(s, fd, &lo, &loaded, &n, &err);
	if (r < 0) {
		if (s) {
			store_close(TAKE_PTR(s));
			imgarchive_cleanup(ctx->root);
		}
		cmd_error(ctx, err);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!loaded[i].name) {
			printf("Loaded image ID: %s\n", loaded[i].id);
			continue;
		}
		_cleanup_free_ char *fam = ref_familiarize(loaded[i].name);
		const char *shown = fam ? fam : loaded[i].name;
		if (loaded[i].replaced)
			printf("The image %s already exists, renaming the old one with ID %s to empty string\n",
			       shown, loaded[i].replaced);
		printf("Loaded image: %s\n", shown);
	}
	imgarchive_loaded_free(loaded, n);
	return 0;
}
