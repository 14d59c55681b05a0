/* version, info */
#include "cmd.h"
#include "cleanup.h"
#include "cgroup_layout.h"
#include "version.h"

#include <archive.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <zlib.h>
#include <zstd.h>

#include "banned.h"

static const char *arch_name(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#else
	return "unknown";
#endif
}

static const struct cmd_help version_help = {
	.usage = "berth version [OPTIONS]",
	.summary = "Show the berth version information",
};

int cmd_version(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *format = NULL;
	const struct opt opts[] = {
		{OPT_STRING, 'f', "format", &format, "string",
		 "Format output: 'json' or a Go template such as '{{.Version}}'"},
		{0},
	};
	int first, rc;
	if (argc >= 0 && cmd_parse(ctx, &version_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (format && (streq(format, "json") || streq(format, "{{json .}}"))) {
		printf("{\"Version\":\"%s\",\"GitCommit\":\"%s\",\"Os\":\"linux\",\"Arch\":\"%s\"}\n",
		       BERTH_VERSION, BERTH_GIT_COMMIT, arch_name());
		return 0;
	}
	if (format && streq(format, "{{.Version}}")) {
		printf("%s\n", BERTH_VERSION);
		return 0;
	}
	printf("Version:      %s\n", BERTH_VERSION);
	printf("Git commit:   %s\n", BERTH_GIT_COMMIT);
	printf("OS/Arch:      linux/%s\n", arch_name());
	return 0;
}

static const struct cmd_help info_help = {
	.usage = "berth info [OPTIONS]",
	.summary = "Display system-wide information",
	.aliases = "berth system info, berth info",
};

int cmd_info(struct berth_ctx *ctx, int argc, char **argv)
{
	const struct opt opts[] = {{0}};
	int first, rc;
	if (cmd_parse(ctx, &info_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &info_help, argc - first, 0, 0) < 0)
		return 1;
	struct utsname u;
	uname(&u);
	const struct scmp_version *sv = seccomp_version();
	curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
	printf("Version:          %s\n", BERTH_VERSION);
	printf("Root Dir:         %s\n", ctx->root);
	printf("Run Root:         %s\n", ctx->runroot);
	printf("Config File:      %s\n", ctx->config_path);
	printf("Storage Driver:   overlay\n");
	printf("Cgroup Layout:    %s\n",
	       rt_cgroup_layout_name(rt_cgroup_layout_detect("/sys/fs/cgroup")));
	printf("Kernel Version:   %s\n", u.release);
	printf("Operating System: linux/%s\n", arch_name());
	printf("Libraries:\n");
	printf(" libarchive:      %s\n", archive_version_details());
	printf(" libcurl:         %s\n", cv->version);
	printf(" libmicrohttpd:   %s\n", MHD_get_version());
	printf(" jansson:         %s\n", jansson_version_str());
	printf(" OpenSSL:         %s\n", OpenSSL_version(OPENSSL_VERSION));
	printf(" zlib:            %s\n", zlibVersion());
	printf(" zstd:            %s\n", ZSTD_versionString());
	printf(" libseccomp:      %u.%u.%u\n", sv->major, sv->minor, sv->micro);
	return 0;
}
