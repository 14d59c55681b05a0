#include "cmd.h"

#include <stdarg.h>
#include <stdio.h>

#include "banned.h"

void cmd_error(struct berth_ctx *ctx, const struct berr *err)
{
	fprintf(stderr, "berth: %s: %s\n", ctx->cmd_name, err ? err->msg : "unknown error");
}

void cmd_errorf(struct berth_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "berth: %s: ", ctx->cmd_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int cmd_parse(struct berth_ctx *ctx, const struct cmd_help *help, const struct opt *opts,
	      int flags, int argc, char **argv, int *ret_first, int *ret_code)
{
	_cleanup_berr_ struct berr *err = NULL;
	int r = opt_parse(opts, flags, argc, argv, ret_first, &err);
	if (r == 1) {
		opt_print_help(help, opts);
		*ret_code = 0;
		return -1;
	}
	if (r < 0) {
		cmd_error(ctx, err);
		fprintf(stderr, "See 'berth %s --help'.\n", ctx->cmd_name);
		*ret_code = EXIT_ENGINE;
		return -1;
	}
	return 0;
}

int cmd_check_args(struct berth_ctx *ctx, const struct cmd_help *help, int n, int min, int max)
{
	const char *what = NULL;
	int count = 0;
	if (min == max && n != min) {
		what = "exactly";
		count = min;
	} else if (n < min) {
		what = "at least";
		count = min;
	} else if (max >= 0 && n > max) {
		what = "at most";
		count = max;
	}
	if (!what)
		return 0;
	fprintf(stderr, "\"berth %s\" requires %s %d argument%s.\nSee 'berth %s --help'.\n\nUsage:  %s\n\n%s\n",
		ctx->cmd_name, what, count, count == 1 ? "" : "s", ctx->cmd_name, help->usage,
		help->summary);
	return -1;
}
