/* Command-line options from one table that is both the parser and the --help text
 * (the habit of git's parse-options and libgit2's cli_opt_spec).
 *
 * Docker's syntax: bundled shorts (-it), -xVALUE, --long=value and --long value,
 * repeatable list options, "--" ends options. Options and operands may be mixed unless
 * OPT_PARSE_STOP_AT_OPERAND is given (run, exec: the rest belongs to the container).
 */
#ifndef BERTH_UTIL_OPT_H
#define BERTH_UTIL_OPT_H

#include "err.h"
#include "strv.h"

enum opt_type {
	OPT_END = 0,
	OPT_BOOL,   /* int *: set to 1; "--x=false" sets 0 */
	OPT_STRING, /* char **: points into argv (not owned) */
	OPT_LIST,   /* struct strv *: each use appends a copy */
	OPT_INT,    /* long *: decimal */
};

#define OPT_HIDDEN 1

struct opt {
	enum opt_type type;
	char short_name;      /* 0 for none */
	const char *long_name; /* without dashes */
	void *value;
	const char *arg_name; /* shown in help: "string", "list", "int" */
	const char *help;
	int flags;
};

#define OPT_PARSE_STOP_AT_OPERAND 1

/* What a command is, for its --help. */
struct cmd_help {
	const char *usage;   /* "berth images [OPTIONS] [REPOSITORY[:TAG]]" */
	const char *summary; /* "List images" */
	const char *aliases; /* "berth image ls, berth images" or NULL */
};

/* Parse argv[1..argc) (argv[0] is the command name). On success the operands are moved, in
 * order, to the end of argv and *ret_first is the index of the first one (== argc when there
 * are none). Returns 0, 1 when -h/--help was seen (the caller prints help and exits 0), or
 * -EINVAL with *err set ("unknown flag: --x", "flag needs an argument: 'x' in -x"). */
int opt_parse(const struct opt *opts, int flags, int argc, char **argv, int *ret_first,
	      struct berr **err);

/* Write the help of a command (usage, summary, aliases, options table) to stdout. */
void opt_print_help(const struct cmd_help *help, const struct opt *opts);

#endif
