/* The registry server's authentication (auth.h): bcrypt htpasswd files made by the real
 * `htpasswd -B`, Basic headers, scopes, access rules, and tokens (HS256 and ES256) signed,
 * verified, tampered with and expired. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "cleanup.h"
#include "fs.h"

struct fixture {
	char dir[64];
	int dirfd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-regauth.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*state = f;
	return f->dirfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	close(f->dirfd);
	fs_rm_rf_at(AT_FDCWD, f->dir);
	free(f);
	return 0;
}

/* Run argv, wait; returns the exit status (-1 when it could not run). */
static int run(char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void test_htpasswd_bcrypt(void **state)
{
	struct fixture *f = *state;
	char path[128];
	snprintf(path, sizeof(path), "%s/htpasswd", f->dir);
	char *c1[] = {"htpasswd", "-B", "-b", "-c", path, "alice", "s3cret", NULL};
	char *c2[] = {"htpasswd", "-B", "-C", "5", "-b", path, "bob", "pa:ss word", NULL};
	if (run(c1) != 0 || run(c2) != 0)
		skip();
	struct regsrv_htpasswd *h;
	struct berr *e = NULL;
	assert_int_equal(regsrv_htpasswd_load(path, &h, &e), 0);
	assert_true(regsrv_htpasswd_has_user(h, "alice"));
	assert_false(regsrv_htpasswd_has_user(h, "mallory"));
	assert_int_equal(regsrv_htpasswd_check(h, "alice", "s3cret"), 1);
	/* The second time comes from the cache; the answer must not change. */
	assert_int_equal(regsrv_htpasswd_check(h, "alice", "s3cret"), 1);
	assert_int_equal(regsrv_htpasswd_check(h, "alice", "s3cret "), 0);
	assert_int_equal(regsrv_htpasswd_check(h, "alice", ""), 0);
	assert_int_equal(regsrv_htpasswd_check(h, "bob", "pa:ss word"), 1);
	assert_int_equal(regsrv_htpasswd_check(h, "bob", "s3cret"), 0);
	assert_int_equal(regsrv_htpasswd_check(h, "mallory", "s3cret"), 0);
	regsrv_htpasswd_free(h);

	/* MD5 (apr1) entries are refused, naming the line, as distribution refuses them. */
	char *c3[] = {"htpasswd", "-m", "-b", path, "carol", "x", NULL};
	assert_int_equal(run(c3), 0);
	assert_int_equal(regsrv_htpasswd_load(path, &h, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "line 3"));
	assert_non_null(strstr(e->msg, "bcrypt"));
	berr_free(e);
	e = NULL;
	snprintf(path, sizeof(path), "%s/missing", f->dir);
	assert_int_equal(regsrv_htpasswd_load(path, &h, &e), -ENOENT);
	berr_free(e);
}

static void test_htpasswd_format(void **state)
{
	struct fixture *f = *state;
	char path[128];
	snprintf(path, sizeof(path), "%s/h2", f->dir);
	FILE *fp = fopen(path, "w");
	/* A comment, a blank line, CRLF ends: all fine. The hash is bcrypt("pw", cost 4). */
	fputs("# users\r\n\r\n", fp);
	fclose(fp);
	char *c[] = {"htpasswd", "-B", "-C", "4", "-b", path, "dave", "pw", NULL};
	if (run(c) != 0)
		skip();
	struct regsrv_htpasswd *h;
	struct berr *e = NULL;
	assert_int_equal(regsrv_htpasswd_load(path, &h, &e), 0);
	assert_int_equal(regsrv_htpasswd_check(h, "dave", "pw"), 1);
	regsrv_htpasswd_free(h);
	fp = fopen(path, "w");
	fputs("no colon here\n", fp);
	fclose(fp);
	assert_int_equal(regsrv_htpasswd_load(path, &h, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "line 1"));
	berr_free(e);
}

static void test_basic_decode(void **state)
{
	(void)state;
	char *u, *p;
	/* "alice:open sesame" */
	assert_int_equal(regsrv_basic_decode("Basic YWxpY2U6b3BlbiBzZXNhbWU=", &u, &p), 0);
	assert_string_equal(u, "alice");
	assert_string_equal(p, "open sesame");
	free(u);
	free(p);
	/* "a:b:c": the password keeps its colons. */
	assert_int_equal(regsrv_basic_decode("basic YTpiOmM=", &u, &p), 0);
	assert_string_equal(u, "a");
	assert_string_equal(p, "b:c");
	free(u);
	free(p);
	assert_int_equal(regsrv_basic_decode("Bearer abc", &u, &p), -EINVAL);
	assert_int_equal(regsrv_basic_decode("Basic !!!!", &u, &p), -EINVAL);
	assert_int_equal(regsrv_basic_decode("Basic bm9jb2xvbg==", &u, &p),
			 -EINVAL);						  /* "nocolon" */
	assert_int_equal(regsrv_basic_decode("Basic YQBiOmM=", &u, &p), -EINVAL); /* NUL inside */
	assert_int_equal(regsrv_basic_decode("Basic ", &u, &p), -EINVAL);
	assert_int_equal(regsrv_basic_decode(NULL, &u, &p), -EINVAL);
}

static void test_scopes(void **state)
{
	(void)state;
	struct regsrv_scope s;
	assert_int_equal(regsrv_scope_parse("repository:samalba/my-app:pull,push", &s), 0);
	assert_string_equal(s.type, "repository");
	assert_string_equal(s.name, "samalba/my-app");
	assert_int_equal(s.actions, REGSRV_ACT_PULL | REGSRV_ACT_PUSH);
	assert_int_equal(regsrv_scope_parse("repository(plugin):a/b:pull", &s), 0);
	assert_string_equal(s.type, "repository");
	assert_int_equal(s.actions, REGSRV_ACT_PULL);
	assert_int_equal(regsrv_scope_parse("repository:a:*", &s), 0);
	assert_int_equal(s.actions, REGSRV_ACT_ALL);
	assert_int_equal(regsrv_scope_parse("repository:a:pull,bogus,delete", &s), 0);
	assert_int_equal(s.actions, REGSRV_ACT_PULL | REGSRV_ACT_DELETE);
	assert_int_equal(regsrv_scope_parse("registry:catalog:*", &s), 0);
	assert_string_equal(s.name, "catalog");
	assert_int_equal(s.actions, REGSRV_ACT_ALL);
	const char *bad[] = {"",
			     "repository",
			     "repository:a",
			     "repository::pull",
			     "repository:A:pull",
			     "repository:../x:pull",
			     "registry:other:*",
			     "team:a:pull",
			     "repository(x:a:pull",
			     ":a:pull",
			     "repository:localhost:5000/a:pull"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (regsrv_scope_parse(bad[i], &s) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	char buf[64];
	regsrv_actions_format(REGSRV_ACT_ALL, buf, sizeof(buf));
	assert_string_equal(buf, "pull,push,delete");
	regsrv_actions_format(REGSRV_ACT_PUSH, buf, sizeof(buf));
	assert_string_equal(buf, "push");
	regsrv_actions_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "");
}

static void test_acl(void **state)
{
	(void)state;
	struct regsrv_acl *a;
	struct berr *e = NULL;
	/* No rules: all or nothing by authentication. */
	assert_int_equal(regsrv_acl_new(NULL, 1, &a, &e), 0);
	assert_int_equal(regsrv_acl_allowed(a, "alice", "x"), REGSRV_ACT_ALL);
	assert_int_equal(regsrv_acl_allowed(a, NULL, "x"), 0);
	assert_true(regsrv_acl_catalog(a, "alice"));
	assert_false(regsrv_acl_catalog(a, NULL));
	regsrv_acl_free(a);
	assert_int_equal(regsrv_acl_new(NULL, 0, &a, &e), 0);
	assert_int_equal(regsrv_acl_allowed(a, NULL, "x"), REGSRV_ACT_ALL);
	regsrv_acl_free(a);

	json_t *rules = json_loads(
	    "[{\"repository\":\"public/*\",\"users\":[\"anonymous\",\"*\"],\"actions\":[\"pull\"]},"
	    " {\"repository\":\"*\",\"users\":[\"admin\"],\"actions\":[\"*\"]},"
	    " {\"repository\":\"team/*\",\"users\":[\"alice\"],\"actions\":[\"pull\",\"push\"]},"
	    " {\"repository\":\"\",\"users\":[\"alice\"],\"actions\":[\"catalog\"]}]",
	    0, NULL);
	assert_non_null(rules);
	assert_int_equal(regsrv_acl_new(rules, 1, &a, &e), 0);
	assert_int_equal(regsrv_acl_allowed(a, NULL, "public/x"), REGSRV_ACT_PULL);
	assert_int_equal(regsrv_acl_allowed(a, NULL, "public/deep/x"), REGSRV_ACT_PULL);
	assert_int_equal(regsrv_acl_allowed(a, NULL, "team/x"), 0);
	assert_int_equal(regsrv_acl_allowed(a, "bob", "public/x"), REGSRV_ACT_PULL);
	assert_int_equal(regsrv_acl_allowed(a, "bob", "team/x"), 0);
	assert_int_equal(regsrv_acl_allowed(a, "alice", "team/x"),
			 REGSRV_ACT_PULL | REGSRV_ACT_PUSH);
	assert_int_equal(regsrv_acl_allowed(a, "alice", "public/x"), REGSRV_ACT_PULL);
	assert_int_equal(regsrv_acl_allowed(a, "admin", "anything/at/all"), REGSRV_ACT_ALL);
	assert_true(regsrv_acl_catalog(a, "admin"));
	assert_true(regsrv_acl_catalog(a, "alice"));
	assert_false(regsrv_acl_catalog(a, "bob"));
	assert_false(regsrv_acl_catalog(a, NULL));
	regsrv_acl_free(a);
	json_decref(rules);

	const char *bad[] = {"{}",
			     "[1]",
			     "[{\"repository\":\"x\",\"users\":[],\"actions\":[\"fly\"]}]",
			     "[{\"repository\":\"x\",\"users\":[1],\"actions\":[]}]",
			     "[{\"repository\":\"x\",\"users\":[],\"actions\":[],\"extra\":1}]",
			     "[{\"users\":[],\"actions\":[]}]"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		rules = json_loads(bad[i], 0, NULL);
		assert_non_null(rules);
		if (regsrv_acl_new(rules, 1, &a, &e) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
		berr_free(e);
		e = NULL;
		json_decref(rules);
	}
}

static void roundtrip(struct fixture *f, enum regsrv_token_alg alg)
{
	struct regsrv_token_key *k, *k2;
	struct berr *e = NULL;
	assert_int_equal(regsrv_token_key_load(f->dirfd, alg, &k, &e), 0);
	/* Generated once: a second load reads the same key. */
	assert_int_equal(regsrv_token_key_load(f->dirfd, alg, &k2, &e), 0);
	const char *file = alg == REGSRV_TOKEN_HS256 ? "token-hs256.key" : "token-es256.pem";
	struct stat st;
	assert_int_equal(fstatat(f->dirfd, file, &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	if (alg == REGSRV_TOKEN_ES256) {
		/* libtrust's key id: 12 groups of 4 base32 characters. */
		assert_int_equal(strlen(regsrv_token_key_id(k)), 59);
		assert_string_equal(regsrv_token_key_id(k), regsrv_token_key_id(k2));
	}

	struct regsrv_access acc[2] = {
	    {"repository", "team/app", REGSRV_ACT_PULL | REGSRV_ACT_PUSH},
	    {"registry", "catalog", REGSRV_ACT_ALL},
	};
	time_t now = time(NULL);
	char *tok;
	assert_int_equal(regsrv_token_sign(k, "berth", "svc", "alice", acc, 2, now, 300, &tok, &e),
			 0);
	struct regsrv_token_claims c;
	assert_int_equal(regsrv_token_verify(k2, tok, "berth", "svc", now, &c, &e), 0);
	assert_string_equal(c.subject, "alice");
	assert_int_equal(regsrv_token_claims_allowed(&c, "repository", "team/app"),
			 REGSRV_ACT_PULL | REGSRV_ACT_PUSH);
	assert_int_equal(regsrv_token_claims_allowed(&c, "repository", "team/other"), 0);
	assert_int_equal(regsrv_token_claims_allowed(&c, "registry", "catalog"), REGSRV_ACT_ALL);
	assert_int_equal(c.expires, now + 300);
	regsrv_token_claims_free(&c);

	/* Wrong issuer, wrong audience, expired, not yet valid. */
	assert_int_equal(regsrv_token_verify(k, tok, "other", "svc", now, &c, &e), -EACCES);
	berr_free(e);
	e = NULL;
	assert_int_equal(regsrv_token_verify(k, tok, "berth", "other", now, &c, &e), -EACCES);
	berr_free(e);
	e = NULL;
	assert_int_equal(regsrv_token_verify(k, tok, "berth", "svc", now + 300, &c, &e), -EACCES);
	assert_non_null(strstr(e->msg, "expired"));
	berr_free(e);
	e = NULL;
	assert_int_equal(regsrv_token_verify(k, tok, "berth", "svc", now - 3600, &c, &e), -EACCES);
	berr_free(e);
	e = NULL;

	/* Flip one character of each part, the last one included (its low bits are padding
	 * in base64url: a lax decoder would let some changes through). */
	size_t len = strlen(tok);
	char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
	size_t where[] = {1, (size_t)(dot1 - tok) + 2, (size_t)(dot2 - tok) + 2, len - 1};
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	for (size_t i = 0; i < ARRAY_SIZE(where); i++) {
		for (const char *a = alphabet; *a; a++) {
			char *t = strdup(tok);
			if (t[where[i]] == *a) {
				free(t);
				continue;
			}
			t[where[i]] = *a;
			if (regsrv_token_verify(k, t, "berth", "svc", now, &c, &e) == 0)
				fail_msg("tampered token accepted (position %zu, '%c')", where[i],
					 *a);
			berr_free(e);
			e = NULL;
			free(t);
		}
	}
	/* A forged claims part with the original signature. */
	char forged_claims[] = "{\"iss\":\"berth\",\"aud\":\"svc\",\"exp\":9999999999,\"access\":[{"
			       "\"type\":\"repository\",\"name\":\"x\",\"actions\":[\"push\"]}]}";
	char *c64 = regsrv_b64url_encode(forged_claims, strlen(forged_claims));
	char *forged = NULL;
	assert_true(asprintf(&forged, "%.*s.%s%s", (int)(dot1 - tok), tok, c64, dot2) > 0);
	assert_int_equal(regsrv_token_verify(k, forged, "berth", "svc", now, &c, &e), -EACCES);
	berr_free(e);
	e = NULL;
	free(forged);
	free(c64);
	/* "alg":"none" with no signature. */
	const char *none_hdr = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
	char *h64 = regsrv_b64url_encode(none_hdr, strlen(none_hdr));
	assert_true(asprintf(&forged, "%s.%.*s.", h64, (int)(dot2 - dot1 - 1), dot1 + 1) > 0);
	assert_int_equal(regsrv_token_verify(k, forged, "berth", "svc", now, &c, &e), -EACCES);
	berr_free(e);
	e = NULL;
	free(forged);
	free(h64);
	const char *junk[] = {"", "a", "a.b", "a.b.c", "a.b.c.d", "....", "eyJ.eyJ.eyJ"};
	for (size_t i = 0; i < ARRAY_SIZE(junk); i++) {
		assert_int_equal(regsrv_token_verify(k, junk[i], "berth", "svc", now, &c, &e),
				 -EACCES);
		berr_free(e);
		e = NULL;
	}
	free(tok);
	regsrv_token_key_free(k);
	regsrv_token_key_free(k2);
}

static void test_token_hs256(void **state)
{
	roundtrip(*state, REGSRV_TOKEN_HS256);
}

static void test_token_es256(void **state)
{
	roundtrip(*state, REGSRV_TOKEN_ES256);
}

/* A token of one key does not verify with the other (nor across algorithms). */
static void test_token_keys_differ(void **state)
{
	struct fixture *f = *state;
	struct regsrv_token_key *hs, *es;
	struct berr *e = NULL;
	assert_int_equal(regsrv_token_key_load(f->dirfd, REGSRV_TOKEN_HS256, &hs, &e), 0);
	assert_int_equal(regsrv_token_key_load(f->dirfd, REGSRV_TOKEN_ES256, &es, &e), 0);
	time_t now = time(NULL);
	char *t1, *t2;
	assert_int_equal(regsrv_token_sign(hs, "i", "s", "", NULL, 0, now, 60, &t1, &e), 0);
	assert_int_equal(regsrv_token_sign(es, "i", "s", "", NULL, 0, now, 60, &t2, &e), 0);
	struct regsrv_token_claims c;
	assert_int_equal(regsrv_token_verify(es, t1, "i", "s", now, &c, &e), -EACCES);
	berr_free(e);
	e = NULL;
	assert_int_equal(regsrv_token_verify(hs, t2, "i", "s", now, &c, &e), -EACCES);
	berr_free(e);
	e = NULL;
	assert_int_equal(regsrv_token_verify(es, t2, "i", "s", now, &c, &e), 0);
	assert_string_equal(c.subject, "");
	assert_int_equal(c.n, 0);
	regsrv_token_claims_free(&c);
	free(t1);
	free(t2);
	regsrv_token_key_free(hs);
	regsrv_token_key_free(es);
	/* A damaged key file is an error, not a new key. */
	assert_int_equal(fs_write_atomic_at(f->dirfd, "token-hs256.key", "short", 5, 0600), 0);
	assert_int_equal(regsrv_token_key_load(f->dirfd, REGSRV_TOKEN_HS256, &hs, &e), -EINVAL);
	berr_free(e);
}

static void test_b64url(void **state)
{
	(void)state;
	const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd"};
	for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
		char *enc = regsrv_b64url_encode(in[i], strlen(in[i]));
		assert_null(strchr(enc, '='));
		assert_null(strchr(enc, '+'));
		assert_null(strchr(enc, '/'));
		unsigned char *dec;
		size_t n;
		assert_int_equal(regsrv_b64url_decode(enc, strlen(enc), &dec, &n), 0);
		assert_int_equal(n, strlen(in[i]));
		assert_memory_equal(dec, in[i], n);
		free(dec);
		free(enc);
	}
	unsigned char *dec;
	size_t n;
	assert_int_equal(regsrv_b64url_decode("a", 1, &dec, &n), -EINVAL);
	assert_int_equal(regsrv_b64url_decode("a$==", 4, &dec, &n), -EINVAL);
	/* "Zg" is "f"; "Zh" has a padding bit set: not canonical, refused. */
	assert_int_equal(regsrv_b64url_decode("Zg", 2, &dec, &n), 0);
	free(dec);
	assert_int_equal(regsrv_b64url_decode("Zh", 2, &dec, &n), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_htpasswd_bcrypt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_htpasswd_format, setup, teardown),
	    cmocka_unit_test(test_basic_decode),
	    cmocka_unit_test(test_scopes),
	    cmocka_unit_test(test_acl),
	    cmocka_unit_test_setup_teardown(test_token_hs256, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_es256, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_keys_differ, setup, teardown),
	    cmocka_unit_test(test_b64url),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
