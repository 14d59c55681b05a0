/* cp (container cp): copy files between a container and the host, or a tar stream in or out
 * with "-". The rules and the resolution that never leaves the container are cpath's
 * (cpath.h); this file splits the arguments as docker's CLI does, gets the container's root
 * (ctrfs.h: its live root mount when it runs, its own overlay when it does not) and prints
 * the errors the way docker prints them: the daemon's with "Error response from daemon: ",
 * the CLI's own bare. */
#include <jansson.h>

#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "cpath.h"
#include "ctr.h"
#include "ctrfs.h"

#include "banned.h"

static const struct cmd_help cp_help = {
    .usage = "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
	     "\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    .summary = "Copy files/folders between a container and the local filesystem\n\n"
	       "Use '-' as the source to read a tar archive from stdin\n"
	       "and extract it to a directory destination in a container.\n"
	       "Use '-' as the destination to stream a tar archive of a\n"
	       "container source to stdout.",
    .aliases = "berth container cp, berth cp",
};

/* docker's splitCpArg: an absolute path is local; otherwise "container:path" when there is
 * a ':' and the part before it does not start with '.' ("./a:b" is a local file). */
static void split_arg(char *arg, const char **ret_container, const char **ret_path)
{
	char *colon = arg[0] == '/' ? NULL : strchr(arg, ':');
	if (!colon || arg[0] == '.') {
		*ret_container = NULL;
		*ret_path = arg;
		return;
	}
	*colon = '\0';
	*ret_container = arg;
	*ret_path = colon + 1;
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Which side of docker's client/daemon split a cpath error belongs to, judged from its
 * wording (cpath.h keeps docker's): the CLI plans the copy and does the host side, the
 * daemon stats and extracts in the container. */
static int from_daemon(const char *msg, int to_container, const char *container_path)
{
	static const char *const cli[] = {
	    "cannot copy directory",
	    "no such directory",
	    "destination \"",
	    "invalid output path",
	};
	for (size_t i = 0; i < ARRAY_SIZE(cli); i++)
		if (starts_with(msg, cli[i]))
			return 0;
	if (streq(msg, "not a directory"))
		return 0;
	if (to_container)
		/* The source is read on the host by the CLI. */
		return !starts_with(msg, "lstat ") && !starts_with(msg, "stat ") &&
		       !starts_with(msg, "readlink ");
	if (starts_with(msg, "Could not find the file "))
		return 1;
	if (starts_with(msg, "lstat ") && starts_with(msg + 6, container_path))
		return 1;
	/* The rest of a copy out happens on the host. */
	return 0;
}

static void print_error(const struct berr *err, int to_container, const char *container_path)
{
	static const char *const extraction[] = {
	    "cannot overwrite ",
	    "invalid symlink ",
	    "invalid hardlink ",
	    "\"",
	};
	const char *msg = err ? err->msg : "unknown error";
	if (!from_daemon(msg, to_container, container_path)) {
		fprintf(stderr, "%s\n", msg);
		return;
	}
	/* The daemon extracts in a helper process and reports its failures so. */
	const char *helper = "";
	for (size_t i = 0; to_container && i < ARRAY_SIZE(extraction); i++)
		if (starts_with(msg, extraction[i]))
			helper = "Error processing tar file(exit status 1): ";
	fprintf(stderr, "Error response from daemon: %s%s\n", helper, msg);
}

int cmd_cp(struct berth_ctx *ctx, int argc, char **argv)
{
	int archive = 0, follow = 0, quiet = 0;
	const struct opt opts[] = {
	    {OPT_BOOL, 'a', "archive", &archive, NULL,
	     "Archive mode (copy all uid/gid information)"},
	    {OPT_BOOL, 'L', "follow-link", &follow, NULL, "Always follow symbol link in SRC_PATH"},
	    {OPT_BOOL, 'q', "quiet", &quiet, NULL,
	     "Suppress progress output during copy (berth prints none)"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &cp_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &cp_help, argc - first, 2, 2) < 0)
		return 1;
	(void)quiet;
	_cleanup_free_ char *src = strdup(argv[first]), *dst = strdup(argv[first + 1]);
	if (!src || !dst) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	const char *src_ctr, *src_path, *dst_ctr, *dst_path;
	split_arg(src, &src_ctr, &src_path);
	split_arg(dst, &dst_ctr, &dst_path);
	if (src_ctr && dst_ctr) {
		fprintf(stderr, "copying between containers is not supported\n");
		return 1;
	}
	if (!src_ctr && !dst_ctr) {
		fprintf(stderr, "must specify at least one container source\n");
		return 1;
	}
	int to_container = dst_ctr != NULL;
	const char *name = to_container ? dst_ctr : src_ctr;
	const char *cpath = to_container ? dst_path : src_path;
	const char *host = to_container ? src_path : dst_path;
	if (!*cpath) {
		fprintf(stderr,
			"Error response from daemon: bad parameter: path cannot be empty\n");
		return 1;
	}
	if (!*host) {
		fprintf(stderr, "%s\n",
			to_container ? "lstat : no such file or directory"
				     : "invalid output path: path is empty");
		return 1;
	}
	if (!to_container && streq(host, "-") && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "cowardly refusing to save to a terminal. Use the -o flag or "
				"redirect\n");
		return 1;
	}

	_cleanup_berr_ struct berr *err = NULL;
	struct ctr c;
	if (ctr_lookup(ctx->root, name, &c, &err) < 0) {
		fprintf(stderr, "Error response from daemon: %s\n", err->msg);
		return 1;
	}
	struct ctrfs fs = CTRFS_INIT;
	int r = ctrfs_open(&c, &fs, &err);
	if (r == 0)
		r = ctrfs_mount_root(&fs, &c, &err);
	if (r < 0) {
		fprintf(stderr, "Error response from daemon: %s\n", err->msg);
		ctrfs_close(&fs);
		ctr_free(&c);
		return 1;
	}
	struct cpath_root root;
	ctrfs_cpath_root(&fs, name, &root);
	struct cpath_copy_opts co = {.follow = follow, .archive = archive};
	if (to_container)
		r = cpath_copy_in(&root, host, STDIN_FILENO, cpath, &co, &err);
	else
		r = cpath_copy_out(&root, cpath, host, STDOUT_FILENO, &co, &err);
	ctrfs_close(&fs);
	ctr_free(&c);
	if (r < 0) {
		/* The message names the path as cpath cleaned it. */
		_cleanup_free_ char *clean = NULL;
		if (cpath_clean(cpath, &clean) < 0)
			clean = NULL;
		print_error(err, to_container, clean ? clean : cpath);
		return 1;
	}
	return 0;
}
