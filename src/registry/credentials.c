#include "credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fs.h"

#include "banned.h"

extern char **environ;

/* config.json is small; a bigger one is not Docker's. */
#define CONFIG_MAX ((size_t)4 << 20)
#define HELPER_OUT_MAX ((size_t)1 << 20)

void reg_cred_clear(struct reg_cred *c)
{
	if (!c)
		return;
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	if (c->identity_token)
		explicit_bzero(c->identity_token, strlen(c->identity_token));
	free(c->username);
	free(c->password);
	free(c->identity_token);
	c->username = c->password = c->identity_token = NULL;
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *reg_base64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

int reg_base64_decode(const char *s, char **ret, size_t *ret_len)
{
	size_t n = strlen(s);
	if (n % 4)
		return -EINVAL;
	char *out = malloc(n / 4 * 3 + 1);
	size_t k = 0;
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		int last = i + 4 == n;
		for (int j = 0; j < 4; j++) {
			v[j] = b64_val(s[i + j]);
			if (v[j] < 0 && !(last && j >= 2 && s[i + j] == '=')) {
				free(out);
				return -EINVAL;
			}
		}
		/* "x=y=" is not padding. */
		if (v[2] < 0 && v[3] >= 0) {
			free(out);
			return -EINVAL;
		}
		unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 |
			     (unsigned)(v[2] < 0 ? 0 : v[2]) << 6 | (unsigned)(v[3] < 0 ? 0 : v[3]);
		out[k++] = (char)(w >> 16);
		if (v[2] >= 0)
			out[k++] = (char)(w >> 8);
		if (v[3] >= 0)
			out[k++] = (char)w;
	}
	out[k] = '\0';
	*ret = out;
	*ret_len = k;
	return 0;
}

/* ---- names ---- */

int reg_cred_config_path(char **ret, struct berr **err)
{
	const char *dir = getenv("DOCKER_CONFIG");
	int r;
	if (dir && *dir)
		r = asprintf(ret, "%s/config.json", dir);
	else {
		const char *home = getenv("HOME");
		if (!home || !*home) {
			struct passwd *pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home)
			return berr_set(err, ENOENT,
					"cannot find the home directory for the docker config");
		r = asprintf(ret, "%s/.docker/config.json", home);
	}
	return r < 0 ? berr_set(err, ENOMEM, "out of memory") : 0;
}

/* host[:port] of a server name: scheme and path dropped. */
static char *to_hostname(const char *s)
{
	if (strncmp(s, "http://", 7) == 0)
		s += 7;
	else if (strncmp(s, "https://", 8) == 0)
		s += 8;
	return strndup(s, strcspn(s, "/"));
}

char *reg_cred_server_key(const char *server)
{
	_cleanup_free_ char *host = to_hostname(server);
	if (!host)
		return NULL;
	if (!*host || streq(host, "docker.io") || streq(host, "index.docker.io") ||
	    streq(host, "registry-1.docker.io"))
		return strdup(REG_CRED_DOCKER_HUB);
	return TAKE_PTR(host);
}

/* ---- config.json ---- */

/* Load config.json; a missing file is an empty object. */
static int load_config(const char *path, json_t **ret, struct berr **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = fs_read_all_at(AT_FDCWD, path, CONFIG_MAX, &text, &len);
	if (r == -ENOENT) {
		*ret = json_object();
		return *ret ? 0 : berr_set(err, ENOMEM, "out of memory");
	}
	if (r < 0)
		return berr_errno(err, r, "read '%s'", path);
	json_error_t je;
	/* An empty file is what some tools leave behind: Docker treats it as no config. */
	size_t i = 0;
	while (i < len && strchr(" \t\r\n", text[i]))
		i++;
	json_t *j = i == len ? json_object() : json_loadb(text, len, 0, &je);
	if (!j)
		return berr_set(err, EINVAL, "'%s': invalid JSON: %s (line %d)", path, je.text,
				je.line);
	if (!json_is_object(j)) {
		json_decref(j);
		return berr_set(err, EINVAL, "'%s': not a JSON object", path);
	}
	json_t *auths = json_object_get(j, "auths");
	json_t *helpers = json_object_get(j, "credHelpers");
	json_t *store = json_object_get(j, "credsStore");
	if ((auths && !json_is_object(auths) && !json_is_null(auths)) ||
	    (helpers && !json_is_object(helpers) && !json_is_null(helpers)) ||
	    (store && !json_is_string(store) && !json_is_null(store))) {
		json_decref(j);
		return berr_set(err, EINVAL,
				"'%s': auths, credHelpers or credsStore has the wrong type", path);
	}
	*ret = j;
	return 0;
}

/* Indent with tabs like Go's json.MarshalIndent(v, "", "\t"): jansson only indents with
 * spaces, and JSON strings hold no raw newline, so every run of spaces after one is
 * indentation. */
static char *dump_tabs(json_t *j)
{
	_cleanup_free_ char *text = json_dumps(j, JSON_INDENT(1));
	if (!text)
		return NULL;
	struct buf b = BUF_INIT;
	int r = 0;
	for (const char *p = text; *p && r >= 0; p++) {
		r = buf_putc(&b, *p);
		if (*p == '\n')
			while (p[1] == ' ' && r >= 0) {
				r = buf_putc(&b, '\t');
				p++;
			}
	}
	if (r >= 0)
		r = buf_putc(&b, '\n');
	if (r < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static int save_config(const char *path, json_t *j, struct berr **err)
{
	_cleanup_free_ char *text = dump_tabs(j);
	_cleanup_free_ char *target = NULL;
	if (!text)
		return berr_set(err, ENOMEM, "out of memory");
	struct stat st;
	/* Write through a symlink, as docker does (dotfile managers link config.json). */
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		target = realpath(path, NULL);
	const char *real = target ? target : path;
	_cleanup_free_ char *dir = strdup(real);
	if (!dir)
		return berr_set(err, ENOMEM, "out of memory");
	char *slash = strrchr(dir, '/');
	const char *name = real;
	if (slash) {
		*slash = '\0';
		name = real + (slash - dir) + 1;
	}
	const char *d = slash ? (*dir ? dir : "/") : ".";
	int r = fs_mkdir_p_at(AT_FDCWD, d, 0700);
	if (r < 0)
		return berr_errno(err, r, "create '%s'", d);
	_cleanup_close_ int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berr_errno(err, errno, "open '%s'", d);
	r = fs_write_atomic_at(dfd, name, text, strlen(text), 0600);
	if (r < 0)
		return berr_errno(err, r, "write '%s'", real);
	return 0;
}

int reg_cred_helper(const char *config_path, const char *key, char **ret, struct berr **err)
{
	_cleanup_json_ json_t *j = NULL;
	*ret = NULL;
	int r = load_config(config_path, &j, err);
	if (r < 0)
		return r;
	json_t *h = json_object_get(json_object_get(j, "credHelpers"), key);
	if (!json_is_string(h) || !*json_string_value(h))
		h = json_object_get(j, "credsStore");
	if (!json_is_string(h) || !*json_string_value(h))
		return 0;
	const char *name = json_string_value(h);
	/* A name is a suffix of a program in PATH, never a path of its own. */
	if (strchr(name, '/'))
		return berr_set(err, EINVAL, "'%s': invalid credential helper name '%.100s'",
				config_path, name);
	*ret = strdup(name);
	return *ret ? 0 : berr_set(err, ENOMEM, "out of memory");
}

/* ---- helpers (docker-credential-helpers protocol) ---- */

/* Run docker-credential-<helper> <verb>, input on its stdin; its stdout (at most 1 MiB) into
 * *ret_out, trailing white space dropped. Returns the exit status (>= 0) or -errno. Its
 * stderr goes to /dev/null, as Go's exec does by default: a helper may print secrets there. */
static int run_helper(const char *helper, const char *verb, const char *input, char **ret_out,
		      struct berr **err)
{
	_cleanup_free_ char *prog = NULL;
	if (asprintf(&prog, "docker-credential-%s", helper) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	int in[2] = {-1, -1}, out[2] = {-1, -1};
	/* A socket for stdin, so a helper that exits without reading cannot SIGPIPE us. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)
		return berr_errno(err, errno, "%s", prog);
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return berr_errno(err, errno, "%s", prog);
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[1], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	char *argv[] = {prog, (char *)verb, NULL};
	pid_t pid;
	int r = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[1]);
	close(out[1]);
	_cleanup_close_ int infd = in[0], outfd = out[0];
	if (r != 0) {
		if (r == ENOENT)
			return berr_set(err, ENOENT, "credential helper '%s' not found in PATH",
					prog);
		return berr_errno(err, r, "start %s", prog);
	}
	int wr = fs_send_all(infd, input, strlen(input));
	shutdown(infd, SHUT_WR);
	struct buf b = BUF_INIT;
	char chunk[4096];
	for (;;) {
		ssize_t n = read(outfd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b.len + (size_t)n > HELPER_OUT_MAX || buf_append(&b, chunk, (size_t)n) < 0) {
			wr = wr ? wr : -EFBIG;
			break;
		}
	}
	close(TAKE_FD(outfd));
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			buf_free(&b);
			return berr_errno(err, errno, "wait for %s", prog);
		}
	if (wr == -EFBIG) {
		buf_free(&b);
		return berr_set(err, EFBIG, "%s %s: output larger than 1 MiB", prog, verb);
	}
	while (b.len && strchr(" \t\r\n", b.data[b.len - 1]))
		b.data[--b.len] = '\0';
	*ret_out = b.data ? buf_steal(&b) : strdup("");
	if (!*ret_out)
		return berr_set(err, ENOMEM, "out of memory");
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* The helpers' "not found" answer (credentials.ErrCredentialsNotFound). */
static int is_not_found(const char *out)
{
	return strstr(out, "credentials not found") != NULL;
}

/* Helper output is shown in errors only when it looks like a message, never when it might be
 * a credential: one short line. */
static const char *helper_msg(const char *out)
{
	return (*out && strlen(out) < 200 && !strchr(out, '{') && !strchr(out, '\n')) ? out
										      : "failed";
}

static int helper_get(const char *helper, const char *key, struct reg_cred *ret, struct berr **err)
{
	_cleanup_free_ char *out = NULL;
	int st = run_helper(helper, "get", key, &out, err);
	if (st < 0)
		return st;
	if (st != 0) {
		if (is_not_found(out))
			return -ENOENT;
		return berr_set(err, EIO, "docker-credential-%s get: exit status %d: %s", helper,
				st, helper_msg(out));
	}
	json_error_t je;
	_cleanup_json_ json_t *j = json_loads(out, 0, &je);
	explicit_bzero(out, strlen(out));
	if (!json_is_object(j))
		return berr_set(err, EINVAL,
				"docker-credential-%s get: output is not a JSON object", helper);
	json_t *u = json_object_get(j, "Username"), *s = json_object_get(j, "Secret");
	if ((u && !json_is_string(u)) || !json_is_string(s))
		return berr_set(err, EINVAL,
				"docker-credential-%s get: Username or Secret is not a string",
				helper);
	const char *user = u ? json_string_value(u) : "";
	if (!*json_string_value(s))
		return -ENOENT;
	memset(ret, 0, sizeof(*ret));
	if (streq(user, "<token>"))
		ret->identity_token = strdup(json_string_value(s));
	else {
		ret->username = strdup(user);
		ret->password = strdup(json_string_value(s));
	}
	if (!ret->identity_token && !(ret->username && ret->password)) {
		reg_cred_clear(ret);
		return berr_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- lookups ---- */

/* The "auths" entry for key: exact, else the first whose host matches. */
static json_t *find_auth(json_t *auths, const char *key)
{
	json_t *e = json_object_get(auths, key);
	if (e)
		return e;
	_cleanup_free_ char *want = reg_cred_server_key(key);
	const char *k;
	json_object_foreach(auths, k, e)
	{
		_cleanup_free_ char *have = reg_cred_server_key(k);
		if (want && have && streq(want, have))
			return e;
	}
	return NULL;
}

static int file_get(json_t *j, const char *config_path, const char *key, struct reg_cred *ret,
		    struct berr **err)
{
	json_t *e = find_auth(json_object_get(j, "auths"), key);
	if (!e)
		return -ENOENT;
	if (!json_is_object(e))
		return berr_set(err, EINVAL, "'%s': auths entry for %s is not an object",
				config_path, key);
	memset(ret, 0, sizeof(*ret));
	json_t *a = json_object_get(e, "auth"), *it = json_object_get(e, "identitytoken");
	json_t *u = json_object_get(e, "username"), *p = json_object_get(e, "password");
	if ((a && !json_is_string(a)) || (it && !json_is_string(it)) || (u && !json_is_string(u)) ||
	    (p && !json_is_string(p)))
		return berr_set(err, EINVAL,
				"'%s': auths entry for %s has a field of the wrong type",
				config_path, key);
	if (a && *json_string_value(a)) {
		_cleanup_free_ char *dec = NULL;
		size_t n;
		if (reg_base64_decode(json_string_value(a), &dec, &n) < 0 || memchr(dec, '\0', n))
			return berr_set(err, EINVAL, "'%s': invalid auth configuration for %s",
					config_path, key);
		char *colon = strchr(dec, ':');
		if (!colon) {
			explicit_bzero(dec, n);
			return berr_set(err, EINVAL, "'%s': invalid auth configuration for %s",
					config_path, key);
		}
		*colon = '\0';
		ret->username = strdup(dec);
		ret->password = strdup(colon + 1);
		explicit_bzero(dec, n);
	} else if (u && p) {
		ret->username = strdup(json_string_value(u));
		ret->password = strdup(json_string_value(p));
	}
	if (it && *json_string_value(it)) {
		ret->identity_token = strdup(json_string_value(it));
		if (!ret->identity_token) {
			reg_cred_clear(ret);
			return berr_set(err, ENOMEM, "out of memory");
		}
		/* With an identity token the password is not used. */
		if (ret->password) {
			explicit_bzero(ret->password, strlen(ret->password));
			free(ret->password);
			ret->password = NULL;
		}
	}
	if (!ret->identity_token && !ret->password) {
		reg_cred_clear(ret);
		return -ENOENT;
	}
	return 0;
}

int reg_cred_get(const char *config_path, const char *key, struct reg_cred *ret, struct berr **err)
{
	_cleanup_json_ json_t *j = NULL;
	_cleanup_free_ char *helper = NULL;
	memset(ret, 0, sizeof(*ret));
	int r = load_config(config_path, &j, err);
	if (r < 0)
		return r;
	if ((r = reg_cred_helper(config_path, key, &helper, err)) < 0)
		return r;
	if (helper)
		return helper_get(helper, key, ret, err);
	return file_get(j, config_path, key, ret, err);
}

int reg_cred_store(const char *config_path, const char *key, const struct reg_cred *c,
		   int *ret_plaintext, struct berr **err)
{
	_cleanup_json_ json_t *j = NULL;
	_cleanup_free_ char *helper = NULL;
	*ret_plaintext = 0;
	int r = load_config(config_path, &j, err);
	if (r < 0)
		return r;
	if ((r = reg_cred_helper(config_path, key, &helper, err)) < 0)
		return r;
	json_t *auths = json_object_get(j, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		if (!auths || json_object_set_new(j, "auths", auths) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	}
	json_t *entry = json_object();
	if (!entry)
		return berr_set(err, ENOMEM, "out of memory");
	if (helper) {
		const char *user = c->identity_token ? "<token>" : (c->username ? c->username : "");
		const char *secret =
		    c->identity_token ? c->identity_token : (c->password ? c->password : "");
		_cleanup_json_ json_t *in = json_pack("{s:s,s:s,s:s}", "ServerURL", key, "Username",
						      user, "Secret", secret);
		_cleanup_free_ char *text = in ? json_dumps(in, JSON_COMPACT) : NULL;
		_cleanup_free_ char *out = NULL;
		if (!text) {
			json_decref(entry);
			return berr_set(err, ENOMEM, "out of memory");
		}
		int st = run_helper(helper, "store", text, &out, err);
		explicit_bzero(text, strlen(text));
		if (st != 0) {
			json_decref(entry);
			if (st < 0)
				return st;
			return berr_set(err, EIO, "docker-credential-%s store: exit status %d: %s",
					helper, st, helper_msg(out));
		}
	} else {
		_cleanup_free_ char *pair = NULL;
		if (asprintf(&pair, "%s:%s", c->username ? c->username : "",
			     c->identity_token ? "" : (c->password ? c->password : "")) < 0) {
			json_decref(entry);
			return berr_set(err, ENOMEM, "out of memory");
		}
		_cleanup_free_ char *enc = reg_base64_encode(pair, strlen(pair));
		explicit_bzero(pair, strlen(pair));
		if (!enc || json_object_set_new(entry, "auth", json_string(enc)) < 0 ||
		    (c->identity_token &&
		     json_object_set_new(entry, "identitytoken", json_string(c->identity_token)) <
			 0)) {
			json_decref(entry);
			return berr_set(err, ENOMEM, "out of memory");
		}
		*ret_plaintext = 1;
	}
	/* Drop entries that name the same host under another spelling ("http://h:5000"), so a
	 * later lookup cannot find stale credentials first. */
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(auths, tmp, k, v)
	{
		_cleanup_free_ char *h = reg_cred_server_key(k);
		if (h && streq(h, key) && !streq(k, key))
			json_object_del(auths, k);
	}
	if (json_object_set_new(auths, key, entry) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	r = save_config(config_path, j, err);
	return r;
}

int reg_cred_erase(const char *config_path, const char *key, struct berr **err)
{
	_cleanup_json_ json_t *j = NULL;
	_cleanup_free_ char *helper = NULL;
	int r = load_config(config_path, &j, err);
	if (r < 0)
		return r;
	if ((r = reg_cred_helper(config_path, key, &helper, err)) < 0)
		return r;
	int found = 0;
	if (helper) {
		_cleanup_free_ char *out = NULL;
		int st = run_helper(helper, "erase", key, &out, err);
		if (st < 0)
			return st;
		if (st == 0)
			found = 1;
		else if (!is_not_found(out))
			return berr_set(err, EIO, "docker-credential-%s erase: exit status %d: %s",
					helper, st, helper_msg(out));
	}
	json_t *auths = json_object_get(j, "auths");
	if (json_is_object(auths)) {
		const char *k;
		json_t *v;
		void *tmp;
		int changed = 0;
		json_object_foreach_safe(auths, tmp, k, v)
		{
			_cleanup_free_ char *h = reg_cred_server_key(k);
			if (streq(k, key) || (h && streq(h, key))) {
				/* An empty entry (left by a helper login) is not a login on its
				 * own. */
				if (json_is_object(v) && json_object_size(v))
					found = 1;
				json_object_del(auths, k);
				changed = 1;
			}
		}
		if (changed && (r = save_config(config_path, j, err)) < 0)
			return r;
	}
	return found ? 0 : -ENOENT;
}
