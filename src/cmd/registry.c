/* registry: serve a private registry, and look after its root (gc, ls, tags, rm). */
#include "cmd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "format.h"
#include "regstore.h"
#include "route.h"
#include "server.h"

#include "banned.h"

/* How long a graceful stop waits for requests in flight. */
#define SHUTDOWN_TIMEOUT_MS 30000

static const struct cmd_help registry_help = {
    .usage = "berth registry COMMAND",
    .summary = "Run and manage a private image registry",
};

static void print_group_help(FILE *f)
{
	fprintf(f, "\nUsage:  %s\n\n%s\n\nCommands:\n", registry_help.usage, registry_help.summary);
	fprintf(f, "  serve       Serve the registry API (OCI distribution) in the foreground\n");
	fprintf(f, "  gc          Delete blobs (and untagged manifests) nothing references\n");
	fprintf(f, "  ls          List the repositories of a registry root\n");
	fprintf(f, "  tags        List the tags of a repository\n");
	fprintf(f, "  rm          Remove a tag or a manifest\n");
	fprintf(f, "\nRun 'berth registry COMMAND --help' for more information on a command.\n");
}

/* The registry root: --root, else the config's registry.root, else <berth root>/registry
 * (/var/lib/berth/registry by default). Returns a string owned by the caller. */
static char *registry_root(struct berth_ctx *ctx, const char *flag)
{
	if (flag)
		return strdup(flag);
	json_t *reg = json_object_get(ctx->config, "registry");
	const char *r = json_string_value(json_object_get(reg, "root"));
	if (r)
		return strdup(r);
	char *p = NULL;
	if (asprintf(&p, "%s/registry", ctx->root) < 0)
		return NULL;
	return p;
}

/* "90", "90s", "15m", "2h", "7d" to seconds; -1 when invalid. */
static long parse_duration(const char *s)
{
	char *end;
	if (!s || !*s)
		return -1;
	long v = strtol(s, &end, 10);
	if (end == s || v < 0 || v > 100L * 365 * 86400)
		return -1;
	long mul = 1;
	if (streq(end, "") || streq(end, "s"))
		mul = 1;
	else if (streq(end, "m"))
		mul = 60;
	else if (streq(end, "h"))
		mul = 3600;
	else if (streq(end, "d"))
		mul = 86400;
	else
		return -1;
	return v * mul;
}

/* ---- serve ---- */

static const struct cmd_help serve_help = {
    .usage = "berth registry serve [OPTIONS]",
    .summary = "Serve the registry API (OCI distribution) in the foreground",
};

static void access_log(void *cls, const struct regsrv_log_entry *e)
{
	(void)cls;
	char line[2048], when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	int n = snprintf(line, sizeof(line), "%s %s %s \"%s %s\" %u %llu %.3fms\n", when, e->client,
			 e->user ? e->user : "-", e->method, e->path, e->status,
			 (unsigned long long)e->bytes, e->ms);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write per line: lines of concurrent requests never interleave. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

static int cmd_registry_serve(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *addr = NULL, *root = NULL, *config = NULL, *htpasswd = NULL, *realm = NULL,
		   *cert = NULL, *key = NULL, *issuer = NULL, *service = NULL, *alg = NULL;
	const char *debug_addr = NULL;
	int read_only = -1, del = -1, quiet = 0;
	long threads = -1, max_conns = -1, header_timeout = -1, idle_timeout = -1;
	const struct opt opts[] = {
	    {OPT_STRING, 0, "addr", &addr, "string", "Address to listen on (default \":5000\")"},
	    {OPT_STRING, 0, "root", &root, "string",
	     "Registry root directory (default \"/var/lib/berth/registry\")"},
	    {OPT_STRING, 0, "config", &config, "string", "Server config file (JSON)"},
	    {OPT_STRING, 0, "htpasswd", &htpasswd, "string", "htpasswd file of bcrypt entries"},
	    {OPT_STRING, 0, "realm", &realm, "string",
	     "Basic auth realm; with --token-issuer, the token endpoint URL"},
	    {OPT_STRING, 0, "tls-cert", &cert, "string", "TLS certificate file (PEM)"},
	    {OPT_STRING, 0, "tls-key", &key, "string", "TLS private key file (PEM)"},
	    {OPT_BOOL, 0, "read-only", &read_only, NULL, "Refuse every write"},
	    {OPT_BOOL, 0, "delete", &del, NULL, "Allow deleting manifests, tags and blobs"},
	    {OPT_STRING, 0, "token-issuer", &issuer, "string",
	     "Issue and require Bearer tokens (the \"iss\" of the tokens)"},
	    {OPT_STRING, 0, "token-service", &service, "string",
	     "Service name of the tokens (default \"berth-registry\")"},
	    {OPT_STRING, 0, "token-alg", &alg, "string",
	     "Token signature: HS256 or ES256 (default HS256)"},
	    {OPT_INT, 0, "threads", &threads, "int", "Worker threads (default: 4 per CPU)"},
	    {OPT_INT, 0, "max-connections", &max_conns, "int",
	     "Connections served at once, more get 503 (default: what the open-file limit "
	     "allows, at most 10000)"},
	    {OPT_INT, 0, "header-timeout", &header_timeout, "seconds",
	     "Close a connection that takes longer to send a request's headers (default 30)"},
	    {OPT_INT, 0, "idle-timeout", &idle_timeout, "seconds",
	     "Close a connection silent for this long, between requests or in a body "
	     "(default 120)"},
	    {OPT_STRING, 0, "debug-addr", &debug_addr, "string",
	     "Also listen here for GET /metrics and /debug/health (default: off)"},
	    {OPT_BOOL, 'q', "quiet", &quiet, NULL, "Do not write the access log"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &serve_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &serve_help, argc - first, 0, 0) < 0)
		return 1;

	struct regsrv_config cfg;
	regsrv_config_init(&cfg);
	_cleanup_berr_ struct berr *err = NULL;
	json_t *reg = json_object_get(ctx->config, "registry");
	if (reg && regsrv_config_apply_json(&cfg, reg, &err) < 0) {
		cmd_errorf(ctx, "%s: %s", ctx->config_path, err->msg);
		return EXIT_ENGINE;
	}
	_cleanup_json_ json_t *file = NULL;
	if (config) {
		json_error_t je;
		file = json_load_file(config, JSON_REJECT_DUPLICATES, &je);
		if (!file) {
			cmd_errorf(ctx, "config '%s': line %d: %s", config, je.line, je.text);
			return EXIT_ENGINE;
		}
		/* The file may be the registry object itself, or berth's config shape. */
		json_t *obj = json_object_get(file, "registry");
		if (regsrv_config_apply_json(&cfg, obj ? obj : file, &err) < 0) {
			cmd_errorf(ctx, "%s: %s", config, err->msg);
			return EXIT_ENGINE;
		}
	}
	if (addr)
		cfg.addr = addr;
	_cleanup_free_ char *rootdir = registry_root(ctx, root ? root : cfg.root);
	if (!rootdir) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	cfg.root = rootdir;
	if (htpasswd)
		cfg.htpasswd = htpasswd;
	if (realm)
		cfg.realm = realm;
	if (cert)
		cfg.tls_cert = cert;
	if (key)
		cfg.tls_key = key;
	if (read_only >= 0)
		cfg.read_only = read_only;
	if (del >= 0)
		cfg.delete_enabled = del;
	if (issuer)
		cfg.token_issuer = issuer;
	if (service)
		cfg.token_service = service;
	if (alg && regsrv_token_alg_parse(alg, &cfg.token_alg) < 0) {
		cmd_errorf(ctx, "--token-alg: want HS256 or ES256, not '%s'", alg);
		return EXIT_ENGINE;
	}
	if (threads >= 0) {
		if (threads > 1024) {
			cmd_errorf(ctx, "--threads: at most 1024");
			return EXIT_ENGINE;
		}
		cfg.threads = (unsigned)threads;
	}
	const struct {
		const char *flag;
		long v, max;
		unsigned *dst;
	} limits[] = {
	    {"--max-connections", max_conns, 1000000, &cfg.max_connections},
	    {"--header-timeout", header_timeout, 86400, &cfg.header_timeout},
	    {"--idle-timeout", idle_timeout, 86400, &cfg.idle_timeout},
	};
	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		if (limits[i].v < 0)
			continue;
		if (limits[i].v < 1 || limits[i].v > limits[i].max) {
			cmd_errorf(ctx, "%s: want 1..%ld", limits[i].flag, limits[i].max);
			return EXIT_ENGINE;
		}
		*limits[i].dst = (unsigned)limits[i].v;
	}
	if (debug_addr)
		cfg.debug_addr = debug_addr;
	if (!quiet)
		cfg.log = access_log;

	/* Thousands of keep-alive connections need as many descriptors: the soft limit goes
	 * up to the hard one (the server sizes its connection limit from it). */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	/* The signals are taken synchronously by regsrv_serve; blocked before the server's
	 * threads exist, so that they inherit the mask and never take one themselves. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct regsrv *srv;
	if (regsrv_start(&cfg, &srv, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	fprintf(stderr, "berth registry: listening on %s (port %u), root %s%s%s%s\n", cfg.addr,
		regsrv_port(srv), cfg.root, cfg.tls_cert ? ", TLS" : "",
		cfg.read_only ? ", read-only" : "",
		cfg.token_issuer ? ", token auth"
		: cfg.htpasswd	 ? ", basic auth"
				 : "");
	if (cfg.debug_addr)
		fprintf(stderr,
			"berth registry: debug listener on %s (port %u): /metrics, /debug/health\n",
			cfg.debug_addr, regsrv_debug_port(srv));
	if (cfg.max_connections && regsrv_connection_limit(srv) < cfg.max_connections)
		fprintf(stderr,
			"berth registry: serving at most %u connections (the open-file limit "
			"allows no more than that)\n",
			regsrv_connection_limit(srv));
	int sig = regsrv_serve(srv, &set);
	fprintf(stderr, "berth registry: %s, finishing requests in flight\n",
		sig == SIGINT ? "interrupted" : "terminated");
	regsrv_stop(srv, SHUTDOWN_TIMEOUT_MS);
	fprintf(stderr, "berth registry: stopped\n");
	return 0;
}

/* ---- gc ---- */

static const struct cmd_help gc_help = {
    .usage = "berth registry gc [OPTIONS]",
    .summary = "Delete blobs (and untagged manifests) nothing references; safe while serving",
};

struct gc_out {
	int verbose;
};

static void gc_report(void *cls, enum regstore_gc_event ev, const char *repo, const char *what)
{
	struct gc_out *o = cls;
	switch (ev) {
	case REGSTORE_GC_MARK_MANIFEST:
		if (o->verbose)
			printf("%s: marking manifest %s\n", repo, what);
		break;
	case REGSTORE_GC_DELETE_MANIFEST:
		printf("%s: manifest eligible for deletion: %s\n", repo, what);
		break;
	case REGSTORE_GC_DELETE_BLOB:
		printf("blob eligible for deletion: %s\n", what);
		break;
	case REGSTORE_GC_DELETE_LINK:
		printf("%s: layer link eligible for deletion: %s\n", repo, what);
		break;
	case REGSTORE_GC_DELETE_UPLOAD:
		printf("%s: stale upload eligible for deletion: %s\n", repo, what);
		break;
	}
}

static int cmd_registry_gc(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *root = NULL, *grace = NULL;
	int dry = 0, untagged = 0, verbose = 0;
	const struct opt opts[] = {
	    {OPT_STRING, 0, "root", &root, "string",
	     "Registry root directory (default \"/var/lib/berth/registry\")"},
	    {OPT_BOOL, 'd', "dry-run", &dry, NULL, "Only print what would be deleted"},
	    {OPT_BOOL, 'm', "delete-untagged", &untagged, NULL,
	     "Also delete manifests that no tag, index or subject keeps"},
	    {OPT_STRING, 0, "grace", &grace, "duration",
	     "Keep anything younger than this: pushes under way (default \"1h\")"},
	    {OPT_BOOL, 'v', "verbose", &verbose, NULL, "Also print what is kept"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &gc_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &gc_help, argc - first, 0, 0) < 0)
		return 1;
	long g = grace ? parse_duration(grace) : 3600;
	if (g < 0) {
		cmd_errorf(ctx, "--grace: invalid duration '%s' (like 90s, 15m, 2h, 7d)", grace);
		return EXIT_ENGINE;
	}
	_cleanup_free_ char *rootdir = registry_root(ctx, root);
	_cleanup_berr_ struct berr *err = NULL;
	struct regstore *s;
	if (!rootdir || regstore_open(rootdir, 0, &s, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	struct regstore_gc_opts o = {
	    .dry_run = dry,
	    .delete_untagged = untagged,
	    .grace_seconds = g,
	    .upload_max_age = 7 * 86400,
	};
	struct gc_out out = {verbose};
	struct regstore_gc_stats st;
	int r = regstore_gc(s, &o, gc_report, &out, &st, &err);
	regstore_close(s);
	if (r < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	_cleanup_free_ char *freed = fmt_human_size(st.bytes_freed);
	printf("\n%zu manifests and %zu blobs marked, %zu blobs (%s) and %zu manifests %s\n",
	       st.manifests_marked, st.blobs_marked, st.blobs_deleted, freed ? freed : "?",
	       st.manifests_deleted, dry ? "eligible for deletion" : "deleted");
	return 0;
}

/* ---- ls, tags, rm ---- */

static int open_root(struct berth_ctx *ctx, const char *flag, struct regstore **ret)
{
	_cleanup_free_ char *rootdir = registry_root(ctx, flag);
	_cleanup_berr_ struct berr *err = NULL;
	if (!rootdir || regstore_open(rootdir, 0, ret, &err) < 0) {
		if (err)
			cmd_error(ctx, err);
		else
			cmd_errorf(ctx, "out of memory");
		return -1;
	}
	return 0;
}

static const struct cmd_help ls_help = {
    .usage = "berth registry ls [OPTIONS]",
    .summary = "List the repositories of a registry root",
};

static int cmd_registry_ls(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *root = NULL;
	int quiet = 0;
	const struct opt opts[] = {
	    {OPT_STRING, 0, "root", &root, "string",
	     "Registry root directory (default \"/var/lib/berth/registry\")"},
	    {OPT_BOOL, 'q', "quiet", &quiet, NULL, "Only show repository names"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &ls_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &ls_help, argc - first, 0, 0) < 0)
		return 1;
	struct regstore *s;
	if (open_root(ctx, root, &s) < 0)
		return EXIT_ENGINE;
	_cleanup_strv_ struct strv repos = STRV_INIT;
	int r = regstore_catalog(s, &repos);
	if (r < 0) {
		regstore_close(s);
		cmd_errorf(ctx, "list repositories: %s", strerror(-r));
		return EXIT_ENGINE;
	}
	struct fmt_table *t = quiet ? NULL : fmt_table_new();
	if (t)
		fmt_table_add(t, "REPOSITORY\tTAGS");
	for (size_t i = 0; i < repos.n; i++) {
		if (quiet) {
			printf("%s\n", repos.v[i]);
			continue;
		}
		_cleanup_strv_ struct strv tags = STRV_INIT;
		regstore_tags(s, repos.v[i], &tags);
		char row[512];
		snprintf(row, sizeof(row), "%s\t%zu", repos.v[i], tags.n);
		fmt_table_add(t, row);
	}
	if (t) {
		fmt_table_print(t, stdout);
		fmt_table_free(t);
	}
	regstore_close(s);
	return 0;
}

static const struct cmd_help tags_help = {
    .usage = "berth registry tags [OPTIONS] REPOSITORY",
    .summary = "List the tags of a repository, with the digests they point to",
};

static int cmd_registry_tags(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *root = NULL;
	int quiet = 0;
	const struct opt opts[] = {
	    {OPT_STRING, 0, "root", &root, "string",
	     "Registry root directory (default \"/var/lib/berth/registry\")"},
	    {OPT_BOOL, 'q', "quiet", &quiet, NULL, "Only show tag names"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &tags_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &tags_help, argc - first, 1, 1) < 0)
		return 1;
	const char *name = argv[first];
	if (!regsrv_name_valid(name)) {
		cmd_errorf(ctx, "invalid repository name '%s'", name);
		return 1;
	}
	struct regstore *s;
	if (open_root(ctx, root, &s) < 0)
		return EXIT_ENGINE;
	_cleanup_strv_ struct strv tags = STRV_INIT;
	int r = regstore_tags(s, name, &tags);
	if (r < 0) {
		regstore_close(s);
		if (r == -ENOENT)
			cmd_errorf(ctx, "no repository '%s'", name);
		else
			cmd_errorf(ctx, "list tags of '%s': %s", name, strerror(-r));
		return 1;
	}
	for (size_t i = 0; i < tags.n; i++) {
		struct digest d;
		char ds[DIGEST_STR_MAX] = "";
		if (quiet) {
			printf("%s\n", tags.v[i]);
			continue;
		}
		if (regstore_tag_resolve(s, name, tags.v[i], &d) == 0)
			digest_format(&d, ds);
		printf("%s\t%s\n", tags.v[i], ds);
	}
	regstore_close(s);
	return 0;
}

static const struct cmd_help rm_help = {
    .usage = "berth registry rm [OPTIONS] REPOSITORY:TAG|REPOSITORY@DIGEST...",
    .summary = "Remove tags, or manifests (with the tags pointing at them); run gc to free space",
};

static int cmd_registry_rm(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *root = NULL;
	const struct opt opts[] = {
	    {OPT_STRING, 0, "root", &root, "string",
	     "Registry root directory (default \"/var/lib/berth/registry\")"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &rm_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &rm_help, argc - first, 1, -1) < 0)
		return 1;
	struct regstore *s;
	if (open_root(ctx, root, &s) < 0)
		return EXIT_ENGINE;
	int status = 0;
	for (int i = first; i < argc; i++) {
		char name[REGSRV_NAME_MAX + 1];
		const char *arg = argv[i];
		const char *at = strchr(arg, '@');
		const char *slash = strrchr(arg, '/');
		const char *colon = strrchr(arg, ':');
		const char *sep = at ? at : (colon && (!slash || colon > slash) ? colon : NULL);
		if (!sep || (size_t)(sep - arg) > REGSRV_NAME_MAX) {
			cmd_errorf(ctx, "'%s': want REPOSITORY:TAG or REPOSITORY@DIGEST", arg);
			status = 1;
			continue;
		}
		memcpy(name, arg, (size_t)(sep - arg));
		name[sep - arg] = '\0';
		const char *ref = sep + 1;
		_cleanup_berr_ struct berr *err = NULL;
		int r;
		struct digest d;
		if (!regsrv_name_valid(name)) {
			cmd_errorf(ctx, "'%s': invalid repository name", arg);
			status = 1;
			continue;
		}
		if (at) {
			if (digest_parse(ref, &d, &err) < 0) {
				cmd_errorf(ctx, "'%s': %s", arg, err->msg);
				status = 1;
				continue;
			}
			r = regstore_manifest_delete(s, name, &d, &err);
		} else {
			if (!regsrv_tag_valid(ref)) {
				cmd_errorf(ctx, "'%s': invalid tag", arg);
				status = 1;
				continue;
			}
			r = regstore_tag_delete(s, name, ref, &err);
		}
		if (r == -ENOENT) {
			cmd_errorf(ctx, "'%s': no such %s", arg, at ? "manifest" : "tag");
			status = 1;
		} else if (r < 0) {
			cmd_errorf(ctx, "'%s': %s", arg, err ? err->msg : strerror(-r));
			status = 1;
		} else {
			printf("%s: %s\n", at ? "Deleted" : "Untagged", arg);
		}
	}
	regstore_close(s);
	return status;
}

static const struct {
	const char *name;
	int (*fn)(struct berth_ctx *ctx, int argc, char **argv);
	const char *full;
} subcommands[] = {
    {"serve", cmd_registry_serve, "registry serve"},	 {"gc", cmd_registry_gc, "registry gc"},
    {"garbage-collect", cmd_registry_gc, "registry gc"}, {"ls", cmd_registry_ls, "registry ls"},
    {"tags", cmd_registry_tags, "registry tags"},	 {"rm", cmd_registry_rm, "registry rm"},
};

int cmd_registry(struct berth_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || streq(argv[1], "-h") || streq(argv[1], "--help")) {
		print_group_help(stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
		if (streq(argv[1], subcommands[i].name)) {
			ctx->cmd_name = subcommands[i].full;
			return subcommands[i].fn(ctx, argc - 1, argv + 1);
		}
	fprintf(stderr,
		"berth: 'registry %s' is not a berth command.\nSee 'berth registry --help'\n",
		argv[1]);
	return EXIT_ENGINE;
}
