/* Docker's client config (config.json): reading and writing "auths", credential helpers over
 * their stdin/stdout protocol (a real helper program written by the test), server names, and
 * base64. Also which registries the client treats as insecure (client.h's rules; no request
 * is made). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "credentials.h"
#include "fs.h"

static char tmpdir[256];
static char cfg[300];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/berth-cred.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(cfg, sizeof(cfg), "%s/dc/config.json", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fs_rm_rf_at(AT_FDCWD, tmpdir);
	return 0;
}

static char *slurp(const char *path)
{
	char *data = NULL;
	size_t len;
	if (fs_read_all_at(AT_FDCWD, path, 1 << 20, &data, &len) < 0)
		return NULL;
	return data;
}

static void spit(const char *path, const char *text)
{
	char dir[400];
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, dir, 0700), 0);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_base64(void **state)
{
	(void)state;
	static const char *const pairs[][2] = {
	    {"", ""},
	    {"f", "Zg=="},
	    {"fo", "Zm8="},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg=="},
	    {"user:pa:ss", "dXNlcjpwYTpzcw=="},
	    {"\xff\xfe", "//4="},
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char *e = reg_base64_encode(pairs[i][0], strlen(pairs[i][0]));
		assert_string_equal(e, pairs[i][1]);
		free(e);
		char *d;
		size_t n;
		assert_int_equal(reg_base64_decode(pairs[i][1], &d, &n), 0);
		assert_int_equal(n, strlen(pairs[i][0]));
		assert_memory_equal(d, pairs[i][0], n);
		free(d);
	}
	static const char *const bad[] = {
	    "Zg", "Zg=", "Z===", "Zm9v!A==", "Zm=v", "Zg==Zg==", "Zm 9v"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *d = NULL;
		size_t n;
		if (reg_base64_decode(bad[i], &d, &n) != -EINVAL) {
			fprintf(stderr, "accepted %s\n", bad[i]);
			fail();
		}
	}
}

static void test_server_key(void **state)
{
	(void)state;
	static const char *const pairs[][2] = {
	    {"docker.io", REG_CRED_DOCKER_HUB},
	    {"index.docker.io", REG_CRED_DOCKER_HUB},
	    {"registry-1.docker.io", REG_CRED_DOCKER_HUB},
	    {"https://index.docker.io/v1/", REG_CRED_DOCKER_HUB},
	    {"localhost:5000", "localhost:5000"},
	    {"http://localhost:5000", "localhost:5000"},
	    {"https://reg.example.com:8443/v2/", "reg.example.com:8443"},
	    {"reg.example.com/some/path", "reg.example.com"},
	    {"[::1]:5000", "[::1]:5000"},
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char *k = reg_cred_server_key(pairs[i][0]);
		assert_string_equal(k, pairs[i][1]);
		free(k);
	}
}

static void test_config_path(void **state)
{
	(void)state;
	char *old_dc = getenv("DOCKER_CONFIG") ? strdup(getenv("DOCKER_CONFIG")) : NULL;
	char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	char *p;
	setenv("DOCKER_CONFIG", "/x/dc", 1);
	assert_int_equal(reg_cred_config_path(&p, NULL), 0);
	assert_string_equal(p, "/x/dc/config.json");
	free(p);
	unsetenv("DOCKER_CONFIG");
	setenv("HOME", "/home/u", 1);
	assert_int_equal(reg_cred_config_path(&p, NULL), 0);
	assert_string_equal(p, "/home/u/.docker/config.json");
	free(p);
	if (old_dc)
		setenv("DOCKER_CONFIG", old_dc, 1);
	if (old_home)
		setenv("HOME", old_home, 1);
	else
		unsetenv("HOME");
	free(old_dc);
	free(old_home);
}

static void test_store_get_erase(void **state)
{
	(void)state;
	struct reg_cred c = {0}, got;
	struct berr *err = NULL;
	int plain = 0;
	unlink(cfg);
	/* No file: nothing found, and erasing finds nothing. */
	assert_int_equal(reg_cred_get(cfg, "localhost:5000", &got, NULL), -ENOENT);
	assert_int_equal(reg_cred_erase(cfg, "localhost:5000", NULL), -ENOENT);

	/* Other keys of the file survive a write. */
	spit(cfg, "{\"proxies\":{\"default\":{\"httpProxy\":\"http://"
		  "p:3128\"}},\"auths\":{\"other:1\":{\"auth\":\"YTpi\"}}}");
	c.username = "alice";
	c.password = "s3cr:et";
	assert_int_equal(reg_cred_store(cfg, "localhost:5000", &c, &plain, &err), 0);
	assert_int_equal(plain, 1);
	struct stat st;
	assert_int_equal(stat(cfg, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char *text = slurp(cfg);
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	assert_string_equal(
	    json_string_value(json_object_get(
		json_object_get(json_object_get(j, "auths"), "localhost:5000"), "auth")),
	    "YWxpY2U6czNjcjpldA=="); /* base64("alice:s3cr:et") */
	assert_non_null(json_object_get(json_object_get(j, "auths"), "other:1"));
	assert_string_equal(
	    json_string_value(json_object_get(
		json_object_get(json_object_get(j, "proxies"), "default"), "httpProxy")),
	    "http://p:3128");
	/* Indented with tabs, as docker writes it. */
	assert_non_null(strstr(text, "\n\t\"auths\""));
	json_decref(j);
	free(text);

	assert_int_equal(reg_cred_get(cfg, "localhost:5000", &got, NULL), 0);
	assert_string_equal(got.username, "alice");
	assert_string_equal(got.password, "s3cr:et"); /* split at the first ':' only */
	assert_null(got.identity_token);
	reg_cred_clear(&got);
	assert_int_equal(reg_cred_get(cfg, "other:1", &got, NULL), 0);
	assert_string_equal(got.username, "a");
	assert_string_equal(got.password, "b");
	reg_cred_clear(&got);

	/* An identity token replaces the password. */
	c.username = "bob";
	c.password = NULL;
	c.identity_token = "refresh-1";
	assert_int_equal(reg_cred_store(cfg, "https://index.docker.io/v1/", &c, &plain, NULL), 0);
	assert_int_equal(reg_cred_get(cfg, REG_CRED_DOCKER_HUB, &got, NULL), 0);
	assert_string_equal(got.username, "bob");
	assert_null(got.password);
	assert_string_equal(got.identity_token, "refresh-1");
	reg_cred_clear(&got);

	assert_int_equal(reg_cred_erase(cfg, "localhost:5000", NULL), 0);
	assert_int_equal(reg_cred_get(cfg, "localhost:5000", &got, NULL), -ENOENT);
	assert_int_equal(reg_cred_erase(cfg, "localhost:5000", NULL), -ENOENT);
	assert_int_equal(reg_cred_get(cfg, "other:1", &got, NULL), 0);
	reg_cred_clear(&got);
}

static void test_spellings(void **state)
{
	(void)state;
	struct reg_cred got, c = {.username = "u", .password = "p"};
	int plain;
	/* docker 1.x wrote "http://host" keys: they are found for "host", and replaced. */
	spit(cfg, "{\"auths\":{\"http://reg.local:5000\":{\"auth\":\"b2xkOnB3\"}}}");
	assert_int_equal(reg_cred_get(cfg, "reg.local:5000", &got, NULL), 0);
	assert_string_equal(got.username, "old");
	reg_cred_clear(&got);
	assert_int_equal(reg_cred_store(cfg, "reg.local:5000", &c, &plain, NULL), 0);
	char *text = slurp(cfg);
	assert_null(strstr(text, "http://reg.local"));
	free(text);
	assert_int_equal(reg_cred_get(cfg, "reg.local:5000", &got, NULL), 0);
	assert_string_equal(got.username, "u");
	reg_cred_clear(&got);
	/* Username and password fields without "auth" (older files). */
	spit(cfg, "{\"auths\":{\"h:1\":{\"username\":\"x\",\"password\":\"y\"}}}");
	assert_int_equal(reg_cred_get(cfg, "h:1", &got, NULL), 0);
	assert_string_equal(got.username, "x");
	assert_string_equal(got.password, "y");
	reg_cred_clear(&got);
	/* An empty entry (left by a helper login) is no credential. */
	spit(cfg, "{\"auths\":{\"h:1\":{}}}");
	assert_int_equal(reg_cred_get(cfg, "h:1", &got, NULL), -ENOENT);
	/* An empty file is no config. */
	spit(cfg, "  \n");
	assert_int_equal(reg_cred_get(cfg, "h:1", &got, NULL), -ENOENT);
}

static void test_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "[]",
	    "{\"auths\":[]}",
	    "{\"auths\":{\"h:1\":\"x\"}}",
	    "{\"auths\":{\"h:1\":{\"auth\":5}}}",
	    "{\"auths\":{\"h:1\":{\"auth\":\"not base64!\"}}}",
	    "{\"auths\":{\"h:1\":{\"auth\":\"bm9jb2xvbg==\"}}}",
	    "{\"credsStore\":7}",
	    "{\"credHelpers\":[]}",
	    "{\"auths\":",
	    "{\"credsStore\":\"../../bin/sh\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct reg_cred got;
		struct berr *err = NULL;
		spit(cfg, bad[i]);
		int r = reg_cred_get(cfg, "h:1", &got, &err);
		if (r != -EINVAL) {
			fprintf(stderr, "'%s': %d\n", bad[i], r);
			fail();
		}
		assert_non_null(err);
		/* The message names the file, never a secret. */
		assert_non_null(strstr(err->msg, cfg));
		berr_free(err);
	}
}

static void test_symlink(void **state)
{
	(void)state;
	char real[400], link[400];
	snprintf(real, sizeof(real), "%s/real.json", tmpdir);
	snprintf(link, sizeof(link), "%s/dc/config.json", tmpdir);
	spit(real, "{}");
	unlink(link);
	assert_int_equal(symlink(real, link), 0);
	struct reg_cred c = {.username = "u", .password = "p"};
	int plain;
	assert_int_equal(reg_cred_store(link, "h:2", &c, &plain, NULL), 0);
	struct stat st;
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	char *text = slurp(real);
	assert_non_null(strstr(text, "\"h:2\""));
	free(text);
	unlink(link);
}

/* A credential helper in the docker-credential-helpers protocol, keeping one file per
 * server in a directory. */
static void write_helper(const char *dir, const char *name)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/docker-credential-%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"#!/bin/sh\n"
		"d=%s/store-%s\n"
		"mkdir -p \"$d\"\n"
		"echo \"$1\" >>\"$d/calls\"\n"
		"case $1 in\n"
		"get) read -r s; f=\"$d/$(printf %%s \"$s\" | tr '/:' '__')\"\n"
		"  if [ -f \"$f\" ]; then cat \"$f\"; else echo 'credentials not found in native "
		"keychain'; exit 1; fi ;;\n"
		"store) cat >\"$d/in\"; s=$(sed -n 's/.*\"ServerURL\":\"\\([^\"]*\\)\".*/\\1/p' "
		"\"$d/in\")\n"
		"  mv \"$d/in\" \"$d/$(printf %%s \"$s\" | tr '/:' '__')\" ;;\n"
		"erase) read -r s; f=\"$d/$(printf %%s \"$s\" | tr '/:' '__')\"\n"
		"  [ -f \"$f\" ] || { echo 'credentials not found in native keychain'; exit 1; }; "
		"rm \"$f\" ;;\n"
		"*) echo unknown; exit 3 ;;\n"
		"esac\n",
		dir, name);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

static void test_helpers(void **state)
{
	(void)state;
	char bin[300], path[2000], stored[500];
	snprintf(bin, sizeof(bin), "%s/bin", tmpdir);
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, bin, 0755), 0);
	write_helper(bin, "berthtest");
	write_helper(bin, "other");
	char *old_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	snprintf(path, sizeof(path), "%s:%s", bin, old_path);
	setenv("PATH", path, 1);

	spit(cfg, "{\"credsStore\":\"berthtest\",\"credHelpers\":{\"special:1\":\"other\"}}");
	struct reg_cred c = {.username = "carol", .password = "pw\"with quote"}, got;
	int plain = 1;
	struct berr *err = NULL;
	char *helper = NULL;
	assert_int_equal(reg_cred_helper(cfg, "h:1", &helper, NULL), 0);
	assert_string_equal(helper, "berthtest");
	free(helper);
	assert_int_equal(reg_cred_helper(cfg, "special:1", &helper, NULL), 0);
	assert_string_equal(helper, "other");
	free(helper);

	assert_int_equal(reg_cred_get(cfg, "h:1", &got, NULL), -ENOENT);
	assert_int_equal(reg_cred_store(cfg, "h:1", &c, &plain, &err), 0);
	assert_int_equal(plain, 0);
	/* The helper has it; config.json only an empty entry. */
	snprintf(stored, sizeof(stored), "%s/store-berthtest/h_1", bin);
	assert_int_equal(access(stored, F_OK), 0);
	char *text = slurp(cfg);
	assert_null(strstr(text, "carol"));
	assert_null(strstr(text, "auth\""));
	json_t *j = json_loads(text, 0, NULL);
	assert_true(json_is_object(json_object_get(json_object_get(j, "auths"), "h:1")));
	assert_int_equal(json_object_size(json_object_get(json_object_get(j, "auths"), "h:1")), 0);
	json_decref(j);
	free(text);
	assert_int_equal(reg_cred_get(cfg, "h:1", &got, NULL), 0);
	assert_string_equal(got.username, "carol");
	assert_string_equal(got.password, "pw\"with quote");
	reg_cred_clear(&got);

	/* credHelpers wins for its registry. */
	c.username = "dave";
	assert_int_equal(reg_cred_store(cfg, "special:1", &c, &plain, NULL), 0);
	snprintf(stored, sizeof(stored), "%s/store-other/special_1", bin);
	assert_int_equal(access(stored, F_OK), 0);
	/* An identity token goes as Username "<token>". */
	struct reg_cred t = {.username = "erin", .identity_token = "idt"};
	assert_int_equal(reg_cred_store(cfg, "tok:1", &t, &plain, NULL), 0);
	assert_int_equal(reg_cred_get(cfg, "tok:1", &got, NULL), 0);
	assert_null(got.password);
	assert_string_equal(got.identity_token, "idt");
	reg_cred_clear(&got);

	assert_int_equal(reg_cred_erase(cfg, "h:1", NULL), 0);
	assert_int_equal(reg_cred_get(cfg, "h:1", &got, NULL), -ENOENT);
	assert_int_equal(reg_cred_erase(cfg, "h:1", NULL), -ENOENT);

	/* A helper that is not installed. */
	spit(cfg, "{\"credsStore\":\"missing-helper\"}");
	assert_int_equal(reg_cred_get(cfg, "h:1", &got, &err), -ENOENT);
	assert_non_null(strstr(err->msg, "docker-credential-missing-helper"));
	berr_free(err);
	err = NULL;
	/* A helper that fails otherwise: its exit status, not its output when that could be a
	 * secret. */
	spit(cfg, "{\"credsStore\":\"other\",\"credHelpers\":{\"h:9\":\"berthtest\"}}");
	assert_int_equal(reg_cred_helper(cfg, "h:9", &helper, NULL), 0);
	assert_string_equal(helper, "berthtest");
	free(helper);

	setenv("PATH", old_path, 1);
	free(old_path);
}

static void test_insecure(void **state)
{
	(void)state;
	struct {
		const char *domain;
		const char *config;
		int tls_verify;
		int insecure;
	} cases[] = {
	    {"127.0.0.1:5000", "{}", -1, 1},
	    {"127.3.4.5", "{}", -1, 1},
	    {"[::1]:5000", "{}", -1, 1},
	    {"localhost:5000", "{}", -1, 1},
	    {"10.1.2.3:5000", "{}", -1, 0},
	    {"10.1.2.3:5000", "{\"insecure-registries\":[\"10.1.2.3:5000\"]}", -1, 1},
	    {"10.1.2.3:5000", "{\"insecure-registries\":[\"10.1.2.3\"]}", -1, 1},
	    {"10.1.2.3:5000", "{\"insecure-registries\":[\"10.1.2.3:5001\"]}", -1, 0},
	    {"10.1.2.3:5000", "{\"insecure-registries\":[\"10.0.0.0/8\"]}", -1, 1},
	    {"10.1.2.3:5000", "{\"insecure-registries\":[\"10.1.2.0/31\"]}", -1, 0},
	    {"10.1.2.3:5000", "{\"insecure-registries\":[\"10.1.2.3/32\", 7]}", -1, 1},
	    {"[fd00::5]:5000", "{\"insecure-registries\":[\"fd00::/8\"]}", -1, 1},
	    {"[fd00::5]:5000", "{\"insecure-registries\":[\"10.0.0.0/8\", \"bogus/99\"]}", -1, 0},
	    {"127.0.0.1:5000", "{}", 1, 0},
	    {"10.1.2.3:5000", "{}", 0, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = json_loads(cases[i].config, 0, NULL);
		struct reg_client_opts o = {
		    .config = j, .tls_verify = cases[i].tls_verify, .certs_dir = tmpdir};
		struct reg_client *c = NULL;
		assert_int_equal(reg_client_new(cases[i].domain, &o, &c, NULL), 0);
		if (reg_client_insecure(c) != cases[i].insecure) {
			fprintf(stderr, "%s with %s (tls-verify %d): insecure %d\n",
				cases[i].domain, cases[i].config, cases[i].tls_verify,
				reg_client_insecure(c));
			fail();
		}
		reg_client_free(c);
		json_decref(j);
	}
	struct reg_client *c = NULL;
	assert_int_equal(reg_client_new("docker.io", NULL, &c, NULL), 0);
	assert_string_equal(reg_client_host(c), "registry-1.docker.io");
	reg_client_free(c);
	static const char *const bad[] = {"",	      ":5000", "a b", "h:port",
					  "h:123456", "[::1",  "h/x", "u@h"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct berr *err = NULL;
		if (reg_client_new(bad[i], NULL, &c, &err) != -EINVAL) {
			fprintf(stderr, "accepted domain '%s'\n", bad[i]);
			fail();
		}
		berr_free(err);
	}
}

static void test_certs_dir(void **state)
{
	(void)state;
	/* A client key without its certificate is refused with docker's message. */
	char d[400], f[500];
	snprintf(d, sizeof(d), "%s/certs.d/10.9.9.9:443", tmpdir);
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, d, 0700), 0);
	snprintf(f, sizeof(f), "%s/client.cert", d);
	spit(f, "not really a certificate");
	snprintf(d, sizeof(d), "%s/certs.d", tmpdir);
	struct reg_client_opts o = {.tls_verify = -1, .certs_dir = d};
	struct reg_client *c = NULL;
	struct berr *err = NULL;
	assert_int_equal(reg_client_new("10.9.9.9:443", &o, &c, &err), -ENOENT);
	assert_non_null(
	    strstr(err->msg, "missing key client.key for client certificate client.cert"));
	berr_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64),	cmocka_unit_test(test_server_key),
	    cmocka_unit_test(test_config_path), cmocka_unit_test(test_store_get_erase),
	    cmocka_unit_test(test_spellings),	cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_symlink),	cmocka_unit_test(test_helpers),
	    cmocka_unit_test(test_insecure),	cmocka_unit_test(test_certs_dir),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
