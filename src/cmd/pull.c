/* pull (image pull): fetch an image from a registry. The work is reg_pull() (transfer.h); this
 * file picks the registry and credentials, and prints what happens the way docker does. It
 * also holds the progress display that push shares: one line per layer, redrawn in place on
 * a terminal, plain status lines otherwise. */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cleanup.h"
#include "client.h"
#include "config.h"
#include "credentials.h"
#include "format.h"
#include "imgarchive.h"
#include "imgconfig.h"
#include "ref.h"
#include "store.h"
#include "transfer.h"
#include "version.h"

#include "banned.h"

/* ---- progress display ---- */

struct cmd_progress {
	FILE *out; /* stdout, or stderr for run and create */
	int tty;
	int quiet;
	int width;  /* terminal columns: longer lines would wrap and break the redrawing */
	char **ids; /* lines on screen, in order (terminal mode) */
	size_t n;
};

static struct cmd_progress *progress_new(FILE *out, int quiet)
{
	struct cmd_progress *p = calloc(1, sizeof(*p));
	if (p) {
		struct winsize ws;
		p->out = out;
		p->quiet = quiet;
		p->tty = isatty(fileno(out));
		p->width =
		    ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 ? ws.ws_col : 80;
	}
	return p;
}

struct cmd_progress *cmd_progress_new(int quiet)
{
	return progress_new(stdout, quiet);
}

void cmd_progress_free(struct cmd_progress *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->ids[i]);
	free(p->ids);
	free(p);
}

static void progress_line(struct cmd_progress *p, const char *id, const char *text)
{
	if (!p->tty) {
		fprintf(p->out, "%s: %s\n", id, text);
		fflush(p->out);
		return;
	}
	char line[512];
	snprintf(line, sizeof(line), "%s: %s", id, text);
	if ((size_t)p->width - 1 < sizeof(line))
		line[p->width - 1] = '\0';
	size_t i;
	for (i = 0; i < p->n; i++)
		if (streq(p->ids[i], id))
			break;
	if (i == p->n) {
		char **g = realloc(p->ids, (p->n + 1) * sizeof(*g));
		char *copy = strdup(id);
		if (!g || !copy) {
			free(copy);
			if (g)
				p->ids = g;
			fprintf(p->out, "%s: %s\n", id, text);
			return;
		}
		p->ids = g;
		p->ids[p->n++] = copy;
		fprintf(p->out, "\r\033[2K%s\n", line);
	} else {
		/* Up to the layer's line, rewrite it, back down (docker's jsonmessage). */
		size_t diff = p->n - i;
		fprintf(p->out, "\033[%zuA\r\033[2K%s\033[%zuB\r", diff, line, diff);
	}
	fflush(p->out);
}

/* "[=====>      ]  1.2MB/3.4MB", like docker's JSONProgress: 50 columns of bar, fewer on a
 * narrow terminal (the id, the status word and the sizes take about 45). */
static void bar(char *out, size_t size, uint64_t cur, uint64_t total, int columns)
{
	char fill[51];
	size_t width = columns - 45 < 10 ? 10 : columns - 45 > 50 ? 50 : (size_t)(columns - 45);
	size_t n = total ? (size_t)((double)cur / (double)total * (double)width) : 0;
	if (n > width)
		n = width;
	for (size_t k = 0; k < width; k++)
		fill[k] = k + 1 < n ? '=' : (k + 1 == n ? '>' : ' ');
	fill[width] = '\0';
	_cleanup_free_ char *hc = fmt_human_size(cur), *ht = fmt_human_size(total);
	snprintf(out, size, "[%s] %8s/%s", fill, hc ? hc : "?", ht ? ht : "?");
}

void cmd_progress_event(void *opaque, const struct reg_event *ev)
{
	struct cmd_progress *p = opaque;
	char text[200], b[120];
	if (ev->type == REG_EV_WARNING) {
		fprintf(stderr, "WARNING: %s\n", ev->detail ? ev->detail : "");
		return;
	}
	if (p->quiet || !ev->id)
		return;
	switch (ev->type) {
	case REG_EV_LAYER_WAITING:
		progress_line(p, ev->id, "Pulling fs layer");
		break;
	case REG_EV_LAYER_EXISTS:
		progress_line(p, ev->id, "Already exists");
		break;
	case REG_EV_LAYER_DOWNLOADING:
	case REG_EV_PUSH_PUSHING:
		/* Progress bars only on a terminal, as docker's non-tty output has none. */
		if (!p->tty)
			break;
		bar(b, sizeof(b), ev->current, ev->total, p->width);
		snprintf(text, sizeof(text), "%s %s",
			 ev->type == REG_EV_PUSH_PUSHING ? "Pushing" : "Downloading", b);
		progress_line(p, ev->id, text);
		break;
	case REG_EV_LAYER_DOWNLOADED:
		progress_line(p, ev->id, "Download complete");
		break;
	case REG_EV_LAYER_EXTRACTING:
		if (p->tty)
			progress_line(p, ev->id, "Extracting");
		break;
	case REG_EV_LAYER_DONE:
		progress_line(p, ev->id, "Pull complete");
		break;
	case REG_EV_PUSH_PREPARING:
		progress_line(p, ev->id, "Preparing");
		break;
	case REG_EV_PUSH_WAITING:
		progress_line(p, ev->id, "Waiting");
		break;
	case REG_EV_PUSH_EXISTS:
		progress_line(p, ev->id, "Layer already exists");
		break;
	case REG_EV_PUSH_MOUNTED:
		snprintf(text, sizeof(text), "Mounted from %s", ev->detail ? ev->detail : "");
		progress_line(p, ev->id, text);
		break;
	case REG_EV_PUSH_PUSHED:
		progress_line(p, ev->id, "Pushed");
		break;
	case REG_EV_RETRY:
		snprintf(text, sizeof(text), "Retrying in %d second%s", ev->seconds,
			 ev->seconds == 1 ? "" : "s");
		progress_line(p, ev->id, text);
		break;
	case REG_EV_WARNING:
		break;
	}
}

/* ---- registry clients for commands ---- */

int cmd_registry_client(struct berth_ctx *ctx, const char *domain, int tls_verify,
			struct reg_client **ret)
{
	_cleanup_berr_ struct berr *err = NULL;
	struct reg_client_opts o = {
	    .config = ctx->config,
	    .tls_verify = tls_verify,
	    .user_agent = "berth/" BERTH_VERSION,
	};
	struct reg_client *c = NULL;
	if (reg_client_new(domain, &o, &c, &err) < 0) {
		cmd_error(ctx, err);
		return -1;
	}
	_cleanup_free_ char *path = NULL;
	/* A broken docker config does not stop an anonymous pull: docker warns and goes on. */
	if (reg_cred_config_path(&path, &err) < 0 || reg_client_load_cred(c, path, &err) < 0) {
		fprintf(stderr, "WARNING: Error loading config file: %s\n", err ? err->msg : "");
		berr_freep(&err);
	}
	*ret = c;
	return 0;
}

void cmd_registry_error(struct berth_ctx *ctx, const struct berr *err)
{
	cmd_errorf(ctx, "Error response from daemon: %s", err ? err->msg : "unknown error");
}

/* ---- pull ---- */

static const struct cmd_help pull_help = {
    .usage = "berth pull [OPTIONS] NAME[:TAG|@DIGEST]",
    .summary = "Download an image from a registry",
    .aliases = "berth image pull, berth pull",
};

/* Pull one reference; prints docker's lines to out. 0, or 1 after printing the error. */
/* The options of a pull for pull, run and create: the platform asked for, the
 * configured parallelism, progress reported to prog. */
static struct reg_pull_opts pull_opts(struct berth_ctx *ctx, const char *os, const char *arch,
				      const char *variant, int platform_explicit,
				      struct cmd_progress *prog)
{
	return (struct reg_pull_opts){
	    .os = os,
	    .arch = arch,
	    .variant = variant,
	    .platform_explicit = platform_explicit,
	    .max_concurrent = (int)config_get_int(ctx->config, "max-concurrent-downloads", 3),
	    .event = cmd_progress_event,
	    .opaque = prog,
	};
}

static int pull_one(struct berth_ctx *ctx, struct reg_client *c, struct store *s,
		    const struct ref *r, const struct reg_pull_opts *po, FILE *out, int quiet,
		    int *ret_newer)
{
	_cleanup_berr_ struct berr *err = NULL;
	struct reg_pull_result res;
	if (!quiet)
		fprintf(out, "%s: Pulling from %s\n", r->digest ? r->digest : r->tag, r->path);
	fflush(out);
	if (reg_pull(c, s, r, po, &res, &err) < 0) {
		cmd_registry_error(ctx, err);
		return 1;
	}
	if (!quiet)
		fprintf(out, "Digest: %s\n", res.digest);
	if (!res.up_to_date)
		*ret_newer = 1;
	return 0;
}

int cmd_pull(struct berth_ctx *ctx, int argc, char **argv)
{
	int all = 0, quiet = 0, tls_verify = -1;
	const char *platform = NULL;
	const struct opt opts[] = {
	    {OPT_BOOL, 'a', "all-tags", &all, NULL, "Download all tagged images in the repository"},
	    {OPT_STRING, 0, "platform", &platform, "string",
	     "Set platform if server is multi-platform capable"},
	    {OPT_BOOL, 'q', "quiet", &quiet, NULL, "Suppress verbose output"},
	    {OPT_BOOL, 0, "tls-verify", &tls_verify, NULL,
	     "Require HTTPS and a verified certificate (default: unless the registry is insecure)"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &pull_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &pull_help, argc - first, 1, 1) < 0)
		return 1;
	const char *arg = argv[first];

	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_ref_ struct ref r = {0};
	if (ref_parse(arg, REF_NO_DEFAULT_TAG, &r, &err) < 0) {
		cmd_error(ctx, err);
		return 1;
	}
	if (all && (r.tag || r.digest)) {
		cmd_errorf(ctx, "tag can't be used with --all-tags/-a");
		return 1;
	}
	if (!all && !r.tag && !r.digest) {
		if (!quiet)
			printf("Using default tag: latest\n");
		r.tag = strdup("latest");
		if (!r.tag) {
			cmd_errorf(ctx, "out of memory");
			return EXIT_ENGINE;
		}
	}
	_cleanup_free_ char *os = NULL, *arch = NULL, *variant = NULL;
	if (platform && imgconfig_platform_parse(platform, &os, &arch, &variant, &err) < 0) {
		cmd_error(ctx, err);
		return 1;
	}

	_cleanup_reg_client_ struct reg_client *c = NULL;
	if (cmd_registry_client(ctx, r.domain, tls_verify, &c) < 0)
		return 1;
	struct cmd_progress *prog = cmd_progress_new(quiet);
	if (!prog) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	struct reg_pull_opts po = pull_opts(ctx, os, arch, variant, platform != NULL, prog);
	_cleanup_strv_ struct strv tags = STRV_INIT;
	if (all) {
		if (reg_tags_list(c, r.path, &tags, &err) < 0) {
			cmd_registry_error(ctx, err);
			cmd_progress_free(prog);
			return 1;
		}
		if (!tags.n) {
			_cleanup_free_ char *fam = ref_familiar_name(&r);
			cmd_errorf(ctx, "Error response from daemon: no tags found for %s",
				   fam ? fam : arg);
			cmd_progress_free(prog);
			return 1;
		}
	}

	struct store *s = NULL;
	if (store_open(ctx->root, &s, &err) < 0) {
		cmd_error(ctx, err);
		cmd_progress_free(prog);
		return EXIT_ENGINE;
	}
	int newer = 0;
	rc = 0;
	if (all) {
		for (size_t i = 0; i < tags.n && rc == 0; i++) {
			free(r.tag);
			r.tag = strdup(tags.v[i]);
			if (!r.tag) {
				cmd_errorf(ctx, "out of memory");
				rc = EXIT_ENGINE;
				break;
			}
			rc = pull_one(ctx, c, s, &r, &po, stdout, quiet, &newer);
		}
		free(r.tag);
		r.tag = NULL;
	} else
		rc = pull_one(ctx, c, s, &r, &po, stdout, quiet, &newer);
	cmd_progress_free(prog);
	if (rc) {
		/* Blobs and layers of a failed pull go now, unless another command is writing. */
		store_close(s);
		imgarchive_cleanup(ctx->root);
		return rc;
	}
	store_close(s);
	_cleanup_free_ char *fam = all ? ref_familiar_name(&r) : ref_familiar_string(&r);
	_cleanup_free_ char *full = all ? ref_name(&r) : ref_string(&r);
	if (!fam || !full) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	if (!quiet)
		printf("Status: %s for %s\n",
		       newer ? "Downloaded newer image" : "Image is up to date", fam);
	printf("%s\n", full);
	return 0;
}

/* ---- the pull of run and create ---- */

int cmd_pull_for_create(struct berth_ctx *ctx, const char *image, const char *platform,
			int quiet)
{
	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_ref_ struct ref r = {0};
	/* The image as run names it: the default tag is latest. */
	if (ref_parse(image, 0, &r, &err) < 0) {
		cmd_error(ctx, err);
		return -1;
	}
	_cleanup_free_ char *os = NULL, *arch = NULL, *variant = NULL;
	if (platform && imgconfig_platform_parse(platform, &os, &arch, &variant, &err) < 0) {
		cmd_error(ctx, err);
		return -1;
	}
	_cleanup_reg_client_ struct reg_client *c = NULL;
	if (cmd_registry_client(ctx, r.domain, -1, &c) < 0)
		return -1;
	struct cmd_progress *prog = progress_new(stderr, quiet);
	if (!prog) {
		cmd_errorf(ctx, "out of memory");
		return -1;
	}
	struct reg_pull_opts po = pull_opts(ctx, os, arch, variant, platform != NULL, prog);
	struct store *s = NULL;
	if (store_open(ctx->root, &s, &err) < 0) {
		cmd_error(ctx, err);
		cmd_progress_free(prog);
		return -1;
	}
	int newer = 0;
	int rc = pull_one(ctx, c, s, &r, &po, stderr, quiet, &newer);
	cmd_progress_free(prog);
	store_close(s);
	if (rc) {
		imgarchive_cleanup(ctx->root);
		return -1;
	}
	_cleanup_free_ char *fam = ref_familiar_string(&r);
	if (!quiet)
		fprintf(stderr, "Status: %s for %s\n", newer ? "Downloaded newer image" : "Image is up to date",
		fam ? fam : image);
	return 0;
}
