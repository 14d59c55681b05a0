/* import (image import): make a one-layer image from a root file system tar, a directory or
 * a URL. The work is imgarchive_import(); this file picks the source and prints the id. */
#include "cmd.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs.h"
#include "imgarchive.h"
#include "imgconfig.h"
#include "ref.h"
#include "store.h"
#include "version.h"

#include "banned.h"

static const struct cmd_help import_help = {
	.usage = "berth import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
	.summary = "Import the contents from a tarball to create a filesystem image",
	.aliases = "berth image import, berth import",
};

static int is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

struct url_sink {
	int fd;
	int error; /* errno of the failed send */
};

static size_t curl_sink(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct url_sink *sink = opaque;
	int r = fs_send_all(sink->fd, data, size * nmemb);
	if (r < 0) {
		/* A short count makes curl stop with CURLE_WRITE_ERROR. */
		sink->error = -r;
		return 0;
	}
	return size * nmemb;
}

/* Producer: GET the URL (following redirects, http and https only) into out_fd. */
static int produce_url(void *opaque, int out_fd, struct berr **err)
{
	const char *url = opaque;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct url_sink sink = {.fd = out_fd};
	CURL *c = curl_easy_init();
	if (!c)
		return berr_set(err, ENOMEM, "curl: out of memory");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "berth/" BERTH_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	CURLcode res = curl_easy_perform(c);
	curl_easy_cleanup(c);
	if (res == CURLE_WRITE_ERROR && sink.error)
		return berr_errno(err, sink.error, "Get \"%s\"", url);
	if (res != CURLE_OK)
		return berr_set(err, EIO, "Get \"%s\": %s", url, errbuf[0] ? errbuf : curl_easy_strerror(res));
	return 0;
}

int cmd_import(struct berth_ctx *ctx, int argc, char **argv)
{
	_cleanup_strv_ struct strv changes = STRV_INIT;
	const char *message = NULL, *platform = NULL;
	const struct opt opts[] = {
		{OPT_LIST, 'c', "change", &changes, "list", "Apply Dockerfile instruction to the created image"},
		{OPT_STRING, 'm', "message", &message, "string", "Set commit message for imported image"},
		{OPT_STRING, 0, "platform", &platform, "string", "Set platform if server is multi-platform capable"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &import_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &import_help, argc - first, 1, 2) < 0)
		return 1;
	const char *source = argv[first];
	const char *repo = argc - first > 1 ? argv[first + 1] : NULL;

	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_free_ char *name = NULL, *os = NULL, *arch = NULL, *variant = NULL;
	if (repo) {
		_cleanup_(ref_free) struct ref r = {0};
		if (ref_parse(repo, 0, &r, &err) < 0) {
			cmd_error(ctx, err);
			return 1;
		}
		if (r.digest) {
			cmd_errorf(ctx, "cannot import digest reference");
			return 1;
		}
		if (!(name = ref_string(&r))) {
			cmd_errorf(ctx, "out of memory");
			return 1;
		}
	}
	if (platform && imgconfig_platform_parse(platform, &os, &arch, &variant, &err) < 0) {
		cmd_error(ctx, err);
		return 1;
	}
	struct imgarchive_import_opts o = {
		.name = name,
		.changes = changes.v,
		.nchanges = changes.n,
		.message = message,
		.source = is_url(source) ? source : "-",
		.os = os,
		.architecture = arch,
		.variant = variant,
	};
	if (imgarchive_import_check(&o, &err) < 0) {
		cmd_error(ctx, err);
		return 1;
	}

	_cleanup_close_ int fd = -1;
	struct imgarchive_producer *prod = NULL;
	int r = 0;
	if (streq(source, "-")) {
		fd = dup(STDIN_FILENO);
		if (fd < 0)
			r = berr_errno(&err, errno, "stdin");
	} else if (is_url(source)) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		r = imgarchive_producer_start(produce_url, (void *)source, &fd, &prod, &err);
	} else {
		struct stat st;
		if (stat(source, &st) < 0)
			r = berr_errno(&err, errno, "open %s", source);
		else if (S_ISDIR(st.st_mode))
			r = imgarchive_producer_start(imgarchive_produce_dir_tar, (void *)source, &fd,
						      &prod, &err);
		else if ((fd = open(source, O_RDONLY | O_CLOEXEC)) < 0)
			r = berr_errno(&err, errno, "open %s", source);
	}
	if (r < 0) {
		cmd_error(ctx, err);
		return 1;
	}

	_cleanup_store_ struct store *s = NULL;
	char id[DIGEST_STR_MAX];
	o.producer = &prod;
	r = store_open(ctx->root, &s, &err);
	if (r >= 0)
		r = imgarchive_import(s, fd, &o, id, &err);
	if (prod) {
		/* Failed before the whole stream was read: stop the producer. Its own failure (an
		 * HTTP error, an unreadable file) explains more than what the unpacker made of
		 * the truncated stream. */
		close(TAKE_FD(fd));
		struct berr *perr = NULL;
		if (imgarchive_producer_finish(prod, &perr) < 0 && perr && perr->code != EPIPE &&
		    perr->code != ECONNRESET) {
			berr_free(err);
			err = TAKE_PTR(perr);
		}
		berr_free(perr);
	}
	if (r < 0) {
		if (s) {
			store_close(TAKE_PTR(s));
			imgarchive_cleanup(ctx->root);
		}
		cmd_error(ctx, err);
		return 1;
	}
	printf("%s\n", id);
	return 0;
}
