/* berth: a daemonless, Docker-compatible container engine.
 * main() parses the global options, loads the config file and dispatches to a command. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cleanup.h"
#include "config.h"
#include "log.h"

#include "banned.h"

struct command {
	const char *name; /* "images", or "image ls" for a nested verb */
	int (*fn)(struct berth_ctx *ctx, int argc, char **argv);
	const char *summary; /* NULL: an alias, not listed in `berth --help` */
};

static const struct command commands[] = {
	{"images", cmd_images, "List images"},
	{"image ls", cmd_images, NULL},
	{"image list", cmd_images, NULL},
	{"import", cmd_import, "Import the contents from a tarball to create a filesystem image"},
	{"image import", cmd_import, NULL},
	{"load", cmd_load, "Load an image from a tar archive or STDIN"},
	{"image load", cmd_load, NULL},
	{"save", cmd_save, "Save one or more images to a tar archive"},
	{"image save", cmd_save, NULL},
	{"tag", cmd_tag, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"},
	{"image tag", cmd_tag, NULL},
	{"rmi", cmd_rmi, "Remove one or more images"},
	{"image rm", cmd_rmi, NULL},
	{"image remove", cmd_rmi, NULL},
	{"inspect", cmd_inspect, "Return low-level information on berth objects"},
	{"image inspect", cmd_image_inspect, NULL},
	{"history", cmd_history, "Show the history of an image"},
	{"image history", cmd_history, NULL},
	{"image prune", cmd_image_prune, "Remove unused images"},
	{"run", cmd_run, "Create and run a new container from an image"},
	{"container run", cmd_run, NULL},
	{"create", cmd_create, "Create a new container"},
	{"container create", cmd_create, NULL},
	{"start", cmd_start, "Start one or more stopped containers"},
	{"container start", cmd_start, NULL},
	{"stop", cmd_stop, "Stop one or more running containers"},
	{"container stop", cmd_stop, NULL},
	{"restart", cmd_restart, "Restart one or more containers"},
	{"container restart", cmd_restart, NULL},
	{"kill", cmd_kill, "Kill one or more running containers"},
	{"container kill", cmd_kill, NULL},
	{"pause", cmd_pause, "Pause all processes within one or more containers"},
	{"container pause", cmd_pause, NULL},
	{"unpause", cmd_unpause, "Unpause all processes within one or more containers"},
	{"container unpause", cmd_unpause, NULL},
	{"rm", cmd_rm, "Remove one or more containers"},
	{"container rm", cmd_rm, NULL},
	{"container remove", cmd_rm, NULL},
	{"wait", cmd_wait, "Block until one or more containers stop, then print their exit codes"},
	{"container wait", cmd_wait, NULL},
	{"rename", cmd_rename, "Rename a container"},
	{"container rename", cmd_rename, NULL},
	{"attach", cmd_attach, "Attach local standard input, output, and error streams to a running container"},
	{"container attach", cmd_attach, NULL},
	{"ps", cmd_ps, "List containers"},
	{"container ls", cmd_ps, NULL},
	{"container list", cmd_ps, NULL},
	{"container ps", cmd_ps, NULL},
	{"logs", cmd_logs, "Fetch the logs of a container"},
	{"container logs", cmd_logs, NULL},
	{"exec", cmd_exec, "Execute a command in a running container"},
	{"container exec", cmd_exec, NULL},
	{"top", cmd_top, "Display the running processes of a container"},
	{"container top", cmd_top, NULL},
	{"container prune", cmd_container_prune, "Remove all stopped containers"},
	{"port", cmd_port, "List port mappings or a specific mapping for the container"},
	{"container port", cmd_port, NULL},
	{"network", cmd_network, "Manage networks"},
	{"container inspect", cmd_container_inspect, NULL},
	{"commit", cmd_commit, "Create a new image from a container's changes"},
	{"container commit", cmd_commit, NULL},
	{"cp", cmd_cp, "Copy files/folders between a container and the local filesystem"},
	{"container cp", cmd_cp, NULL},
	{"diff", cmd_diff, "Inspect changes to files or directories on a container's filesystem"},
	{"container diff", cmd_diff, NULL},
	{"export", cmd_export, "Export a container's filesystem as a tar archive"},
	{"container export", cmd_export, NULL},
	{"pull", cmd_pull, "Download an image from a registry"},
	{"image pull", cmd_pull, NULL},
	{"push", cmd_push, "Upload an image to a registry"},
	{"image push", cmd_push, NULL},
	{"login", cmd_login, "Log in to a registry"},
	{"logout", cmd_logout, "Log out from a registry"},
	{"registry", cmd_registry, "Run and manage a private image registry"},
	{"info", cmd_info, "Display system-wide information"},
	{"system info", cmd_info, NULL},
	{"version", cmd_version, "Show the berth version information"},
};

static const char *const main_usage =
	"\nUsage:  berth [OPTIONS] COMMAND\n\n"
	"A daemonless, Docker-compatible container engine\n\n"
	"Options:\n"
	"      --config string      Location of the config file (default \"/etc/berth/config.json\")\n"
	"  -h, --help               Print usage\n"
	"      --log-level string   Set the logging level (\"debug\"|\"info\"|\"warn\"|\"error\") (default \"warn\")\n"
	"      --root string        Root of the image and container store (default \"/var/lib/berth\")\n"
	"      --runroot string     Root of runtime state (default \"/run/berth\")\n"
	"  -v, --version            Print version information and quit\n\n"
	"Commands:\n";

static void print_main_help(FILE *f)
{
	fputs(main_usage, f);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (commands[i].summary)
			fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fputs("\nRun 'berth COMMAND --help' for more information on a command.\n", f);
}

static const struct command *find_command(int argc, char **argv, int *ret_words)
{
	if (argc >= 2) {
		char two[128];
		snprintf(two, sizeof(two), "%s %s", argv[0], argv[1]);
		for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
			if (streq(commands[i].name, two)) {
				*ret_words = 2;
				return &commands[i];
			}
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (streq(commands[i].name, argv[0])) {
			*ret_words = 1;
			return &commands[i];
		}
	return NULL;
}

/* A global option with a value: "--root DIR" or "--root=DIR". Returns 1 when argv[*i]
 * was this option (and advances *i past its value), 0 when not, -1 when the value is
 * missing. */
static int global_value(const char *name, int argc, char **argv, int *i, const char **ret)
{
	size_t n = strlen(name);
	const char *a = argv[*i];
	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*ret = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*ret = argv[++*i];
	return 1;
}

int main(int argc, char **argv)
{
	struct berth_ctx ctx = {.cmd_name = "berth"};
	const char *root = NULL, *runroot = NULL, *config = NULL, *level = NULL;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		int r;
		if (streq(a, "-h") || streq(a, "--help")) {
			print_main_help(stdout);
			return 0;
		}
		if (streq(a, "-v") || streq(a, "--version")) {
			char *vargv[] = {"version", NULL};
			ctx.cmd_name = "version";
			return cmd_version(&ctx, -1, vargv);
		}
		if ((r = global_value("--root", argc, argv, &i, &root)) ||
		    (r = global_value("--runroot", argc, argv, &i, &runroot)) ||
		    (r = global_value("--config", argc, argv, &i, &config)) ||
		    (r = global_value("--log-level", argc, argv, &i, &level))) {
			if (r < 0) {
				fprintf(stderr, "berth: flag needs an argument: %s\n", a);
				return EXIT_ENGINE;
			}
			continue;
		}
		fprintf(stderr, "berth: unknown flag: %s\nSee 'berth --help'.\n", a);
		return EXIT_ENGINE;
	}
	if (i >= argc) {
		print_main_help(stdout);
		return 0;
	}

	if (!config)
		config = getenv("BERTH_CONFIG");
	ctx.config_path = config ? config : CONFIG_DEFAULT_PATH;
	_cleanup_berr_ struct berr *err = NULL;
	json_t *cfg = NULL;
	if (config_load(ctx.config_path, config != NULL, &cfg, &err) < 0) {
		fprintf(stderr, "berth: %s\n", err->msg);
		return EXIT_ENGINE;
	}
	ctx.config = cfg;

	if (!level)
		level = getenv("BERTH_LOG_LEVEL");
	if (!level)
		level = config_get_string(cfg, "log-level", NULL);
	if (level && log_level_parse(level, &log_min_level) < 0) {
		fprintf(stderr, "berth: unable to parse logging level: %s\n", level);
		json_decref(cfg);
		return EXIT_ENGINE;
	}
	if (!root)
		root = getenv("BERTH_ROOT");
	if (!root)
		root = config_get_string(cfg, "root", "/var/lib/berth");
	if (!runroot)
		runroot = getenv("BERTH_RUNROOT");
	if (!runroot)
		runroot = config_get_string(cfg, "runroot", "/run/berth");
	ctx.root = root;
	ctx.runroot = runroot;

	argc -= i;
	argv += i;
	int rc;
	if (streq(argv[0], "help")) {
		if (argc < 2) {
			print_main_help(stdout);
			rc = 0;
			goto out;
		}
		/* `berth help CMD` is `berth CMD --help`: the same table prints it. */
		argc--;
		argv++;
		int words;
		const struct command *c = find_command(argc, argv, &words);
		if (!c) {
			fprintf(stderr, "berth: unknown help topic '%s'\n", argv[0]);
			rc = 1;
			goto out;
		}
		char name[128];
		snprintf(name, sizeof(name), "%s", c->name);
		char *hargv[] = {name, "--help", NULL};
		ctx.cmd_name = c->name;
		rc = c->fn(&ctx, 2, hargv);
		goto out;
	}

	int words;
	const struct command *c = find_command(argc, argv, &words);
	if (!c) {
		fprintf(stderr, "berth: '%s' is not a berth command.\nSee 'berth --help'\n", argv[0]);
		rc = EXIT_ENGINE;
		goto out;
	}
	ctx.cmd_name = c->name;
	/* argv[0] becomes the command's own name; a nested verb drops its group word. */
	rc = c->fn(&ctx, argc - (words - 1), argv + (words - 1));
out:
	json_decref(cfg);
	return rc;
}
