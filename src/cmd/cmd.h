/* The command layer: the only code that prints results and errors, and picks exit codes.
 * Each command is `int cmd_NAME(struct berth_ctx *ctx, int argc, char **argv)`, argv[0]
 * being the command's name, returning the process exit code. */
#ifndef BERTH_CMD_H
#define BERTH_CMD_H

#include <jansson.h>
#include "err.h"
#include "opt.h"

/* Docker's exit codes. */
#define EXIT_ENGINE 125  /* berth itself failed (bad flags, engine error in run) */
#define EXIT_CANNOT_INVOKE 126
#define EXIT_NOT_FOUND 127

struct berth_ctx {
	const char *root;        /* --root, BERTH_ROOT, config "root", /var/lib/berth */
	const char *runroot;     /* --runroot, BERTH_RUNROOT, config "runroot", /run/berth */
	const char *config_path; /* --config or /etc/berth/config.json */
	json_t *config;          /* the parsed config file; an empty object when absent */
	const char *cmd_name;    /* "images", "image inspect": used in messages */
};

/* Parse a command's options; prints help or a usage error itself.
 * Returns 0 to go on, or -1 when the command must return *ret_code at once
 * (0 after --help, 125 after a bad flag). */
int cmd_parse(struct berth_ctx *ctx, const struct cmd_help *help, const struct opt *opts,
	      int flags, int argc, char **argv, int *ret_first, int *ret_code);

/* Check the operand count (Docker's wording and exit code 1):
 * "berth rmi" requires at least 1 argument. Returns 0 or -1 after printing. */
int cmd_check_args(struct berth_ctx *ctx, const struct cmd_help *help, int n, int min, int max);

/* Print "berth: <cmd>: <message>" on stderr. */
void cmd_error(struct berth_ctx *ctx, const struct berr *err);
void cmd_errorf(struct berth_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Every command of berth. */
#define BERTH_COMMANDS(X)                                                                          \
	X(version)                                                                                 \
	X(info)                                                                                    \
	X(run) X(create) X(start) X(stop) X(kill) X(restart) X(pause) X(unpause) X(rm) X(wait)      \
	X(rename) X(attach) X(ps) X(logs) X(exec) X(top) X(container_prune) X(container_inspect)   \
	X(images)                                                                                  \
	X(import)                                                                                  \
	X(load)                                                                                    \
	X(save)                                                                                    \
	X(tag)                                                                                     \
	X(rmi)                                                                                     \
	X(inspect)                                                                                 \
	X(image_inspect)                                                                           \
	X(history)                                                                                 \
	X(image_prune)                                                                             \
	X(registry)                                                                                \
	X(pull) X(push) X(login) X(logout)                                                         \
	X(commit) X(cp) X(diff) X(export)                                                         \
	X(network) X(port)

/* A command that is declared but not written yet. */
#define CMD_STUB(name)                                                                             \
	int cmd_##name(struct berth_ctx *ctx, int argc, char **argv)                               \
	{                                                                                          \
		(void)argc;                                                                        \
		(void)argv;                                                                        \
		cmd_errorf(ctx, "not implemented yet");                                            \
		return EXIT_ENGINE;                                                                \
	}

/* pull.c, shared with push and login: a registry client for domain with the docker config's
 * credentials (prints the error and returns -1 on failure; tls_verify as in client.h), the
 * "Error response from daemon: ..." message, and the per-layer progress display. */
struct reg_client;
struct reg_event;
struct cmd_progress;
int cmd_registry_client(struct berth_ctx *ctx, const char *domain, int tls_verify,
			struct reg_client **ret);
void cmd_registry_error(struct berth_ctx *ctx, const struct berr *err);
struct cmd_progress *cmd_progress_new(int quiet); /* NULL on ENOMEM */
void cmd_progress_event(void *opaque, const struct reg_event *ev); /* a reg_event_fn */
void cmd_progress_free(struct cmd_progress *p);
/* The pull run and create do (docker's --pull): IMAGE (default tag latest) for the platform
 * (NULL: the host's), docker's lines on stderr unless quiet. 0, or -1 after printing the
 * error. */
int cmd_pull_for_create(struct berth_ctx *ctx, const char *image, const char *platform,
			int quiet);

#define X(name) int cmd_##name(struct berth_ctx *ctx, int argc, char **argv);
BERTH_COMMANDS(X)
#undef X

#endif
