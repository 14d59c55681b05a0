/* port (container port): the published ports of a running container, as Docker lists them. */
#include <jansson.h>

#include "cmd.h"

#include <errno.h>
#include <stdio.h>

#include "cleanup.h"
#include "ctr.h"
#include "ctrnet.h"

#include "banned.h"

static const struct cmd_help port_help = {
    .usage = "berth port CONTAINER [PRIVATE_PORT[/PROTO]]",
    .summary = "List port mappings or a specific mapping for the container",
    .aliases = "berth container port, berth port",
};

int cmd_port(struct berth_ctx *ctx, int argc, char **argv)
{
	const struct opt opts[] = {{0}};
	int first, rc;
	if (cmd_parse(ctx, &port_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &port_help, argc - first, 1, 2) < 0)
		return 1;
	_cleanup_berr_ struct berr *err = NULL;
	struct ctr c;
	if (ctr_lookup(ctx->root, argv[first], &c, &err) < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}
	_cleanup_free_ char *out = NULL;
	int r = ctrnet_port_lines(&c, argc - first == 2 ? argv[first + 1] : NULL, &out, &err);
	ctr_free(&c);
	if (r < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}
	fputs(out, stdout);
	return 0;
}
