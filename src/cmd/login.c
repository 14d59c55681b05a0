/* login, logout: check credentials against a registry and keep them in the docker config
 * (credentials.h), as `docker login` / `docker logout` do. Secrets are never printed. */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "client.h"
#include "credentials.h"
#include "version.h"

#include "banned.h"

#define PASSWORD_MAX 65536

static const struct cmd_help login_help = {
    .usage = "berth login [OPTIONS] [SERVER]",
    .summary = "Log in to a registry.\nIf no server is specified, Docker Hub is used.",
};

static const struct cmd_help logout_help = {
    .usage = "berth logout [SERVER]",
    .summary = "Log out from a registry.\nIf no server is specified, Docker Hub is used.",
};

static void wipe(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
}

/* All of stdin (--password-stdin), trailing "\n" or "\r\n" dropped as docker does. */
static int read_stdin_password(char **ret)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	for (;;) {
		ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			explicit_bzero(chunk, sizeof(chunk));
			buf_free(&b);
			return -errno;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > PASSWORD_MAX || buf_append(&b, chunk, (size_t)n) < 0) {
			explicit_bzero(chunk, sizeof(chunk));
			if (b.data)
				explicit_bzero(b.data, b.len);
			buf_free(&b);
			return -EFBIG;
		}
	}
	explicit_bzero(chunk, sizeof(chunk));
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.data[--b.len] = '\0';
	*ret = b.data ? buf_steal(&b) : strdup("");
	return *ret ? 0 : -ENOMEM;
}

/* One line from the terminal; echo off for a password. */
static char *prompt(const char *text, int secret)
{
	struct termios old, quiet;
	int restore = 0;
	fputs(text, stdout);
	fflush(stdout);
	if (secret && tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);
	if (restore) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stdout);
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

/* The registry to contact for a credentials key. */
static const char *key_domain(const char *key)
{
	return streq(key, REG_CRED_DOCKER_HUB) ? "docker.io" : key;
}

/* Try cred against the registry; 0 on success (*ret_token: an identity token or NULL). */
static int try_login(struct berth_ctx *ctx, const char *key, const struct reg_cred *cred,
		     int tls_verify, char **ret_token, struct berr **err)
{
	struct reg_client_opts o = {
	    .config = ctx->config,
	    .tls_verify = tls_verify,
	    .cred = cred,
	    .user_agent = "berth/" BERTH_VERSION,
	};
	_cleanup_reg_client_ struct reg_client *c = NULL;
	int r = reg_client_new(key_domain(key), &o, &c, err);
	if (r < 0)
		return r;
	return reg_client_login(c, ret_token, err);
}

int cmd_login(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *username = NULL, *password = NULL;
	int password_stdin = 0, tls_verify = -1;
	const struct opt opts[] = {
	    {OPT_STRING, 'p', "password", &password, "string", "Password"},
	    {OPT_BOOL, 0, "password-stdin", &password_stdin, NULL, "Take the password from stdin"},
	    {OPT_STRING, 'u', "username", &username, "string", "Username"},
	    {OPT_BOOL, 0, "tls-verify", &tls_verify, NULL,
	     "Require HTTPS and a verified certificate (default: unless the registry is insecure)"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &login_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &login_help, argc - first, 0, 1) < 0)
		return 1;
	_cleanup_free_ char *key = reg_cred_server_key(argc > first ? argv[first] : "docker.io");
	_cleanup_free_ char *config_path = NULL;
	_cleanup_berr_ struct berr *err = NULL;
	if (!key) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	if (reg_cred_config_path(&config_path, &err) < 0) {
		cmd_error(ctx, err);
		return 1;
	}
	if (password && password_stdin) {
		cmd_errorf(ctx, "--password and --password-stdin are mutually exclusive");
		return 1;
	}
	struct reg_cred cred = {0};
	if (password_stdin) {
		if (!username) {
			cmd_errorf(ctx, "Must provide --username with --password-stdin");
			return 1;
		}
		int r = read_stdin_password(&cred.password);
		if (r < 0) {
			cmd_errorf(ctx, "read the password from stdin: %s", strerror(-r));
			return 1;
		}
	} else if (password) {
		fprintf(
		    stderr,
		    "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
		cred.password = strdup(password);
	}
	if (username)
		cred.username = strdup(username);
	if ((username && !cred.username) || (password && !cred.password)) {
		reg_cred_clear(&cred);
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}

	/* No credentials given: the stored ones, checked again (docker's "existing credentials").
	 */
	if (!cred.username && !cred.password) {
		struct reg_cred stored;
		struct berr *e = NULL;
		if (reg_cred_get(config_path, key, &stored, &e) == 0) {
			printf("Authenticating with existing credentials...\n");
			fflush(stdout);
			_cleanup_free_ char *tok = NULL;
			int r = try_login(ctx, key, &stored, tls_verify, &tok, &e);
			reg_cred_clear(&stored);
			if (r == 0) {
				printf("Login Succeeded\n");
				return 0;
			}
			fprintf(stderr, "Login did not succeed, error: %s\n",
				e ? e->msg : "unknown error");
		}
		berr_free(e);
	}
	if (!cred.username || !cred.password) {
		if (!isatty(STDIN_FILENO)) {
			reg_cred_clear(&cred);
			cmd_errorf(
			    ctx,
			    "Error: Cannot perform an interactive login from a non TTY device");
			return 1;
		}
		if (!cred.username && !(cred.username = prompt("Username: ", 0))) {
			reg_cred_clear(&cred);
			return 1;
		}
		if (!*cred.username) {
			reg_cred_clear(&cred);
			cmd_errorf(ctx, "Error: Non-null Username Required");
			return 1;
		}
		if (!cred.password && !(cred.password = prompt("Password: ", 1))) {
			reg_cred_clear(&cred);
			return 1;
		}
	}
	if (!*cred.password) {
		reg_cred_clear(&cred);
		cmd_errorf(ctx, "Error: Password Required");
		return 1;
	}

	char *token = NULL;
	if (try_login(ctx, key, &cred, tls_verify, &token, &err) < 0) {
		reg_cred_clear(&cred);
		cmd_registry_error(ctx, err);
		return 1;
	}
	if (token) {
		/* The token server gave an identity token: it is kept instead of the password. */
		wipe(cred.password);
		free(cred.password);
		cred.password = NULL;
		cred.identity_token = token;
	}
	int plaintext = 0;
	int r = reg_cred_store(config_path, key, &cred, &plaintext, &err);
	reg_cred_clear(&cred);
	if (r < 0) {
		cmd_errorf(ctx, "Error saving credentials: %s", err ? err->msg : strerror(-r));
		return 1;
	}
	if (plaintext)
		fprintf(stderr,
			"WARNING! Your password will be stored unencrypted in %s.\n"
			"Configure a credential helper (credsStore or credHelpers) to keep it "
			"elsewhere.\n\n",
			config_path);
	printf("Login Succeeded\n");
	return 0;
}

int cmd_logout(struct berth_ctx *ctx, int argc, char **argv)
{
	const struct opt opts[] = {{0}};
	int first, rc;
	if (cmd_parse(ctx, &logout_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &logout_help, argc - first, 0, 1) < 0)
		return 1;
	_cleanup_free_ char *key = reg_cred_server_key(argc > first ? argv[first] : "docker.io");
	_cleanup_free_ char *config_path = NULL;
	_cleanup_berr_ struct berr *err = NULL;
	if (!key) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	if (reg_cred_config_path(&config_path, &err) < 0) {
		cmd_error(ctx, err);
		return 1;
	}
	int r = reg_cred_erase(config_path, key, &err);
	if (r == -ENOENT) {
		printf("Not logged in to %s\n", key);
		return 0;
	}
	if (r < 0) {
		cmd_error(ctx, err);
		return 1;
	}
	printf("Removing login credentials for %s\n", key);
	return 0;
}
