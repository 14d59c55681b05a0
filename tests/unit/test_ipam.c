/* IPAM: the per-network allocator and endpoint registry, on real files in a temp root,
 * with real concurrent processes. */
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
#include <unistd.h>

#include "fs.h"
#include "ipam.h"
#include "netconf.h"

struct fixture {
	char root[256];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	snprintf(f->root, sizeof(f->root), "%s/berth-ipam-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->root))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fs_rm_rf_at(AT_FDCWD, f->root);
	free(f);
	return 0;
}

/* The default network with config {"bridge": {<json>}}. */
static void conf(const char *bridge_json, struct net_conf *nc)
{
	char text[512];
	snprintf(text, sizeof(text), "{\"bridge\": %s}", bridge_json);
	json_t *cfg = json_loads(text, 0, NULL);
	assert_non_null(cfg);
	struct berr *err = NULL;
	if (net_conf_default(cfg, nc, &err) < 0)
		fail_msg("%s", err->msg);
	json_decref(cfg);
}

static uint32_t ip(const char *s)
{
	uint32_t a;
	assert_int_equal(net_ip4_parse(s, &a), 0);
	return a;
}

static uint32_t alloc(const char *root, const struct net_conf *nc, const char *id, int want_r)
{
	struct net_ipam_req req = {.id = id};
	uint32_t a = 0;
	struct berr *err = NULL;
	int r = net_ipam_alloc(root, nc, &req, &a, &err);
	if (r != want_r)
		fail_msg("alloc %s: %d (%s), want %d", id, r, err ? err->msg : "", want_r);
	berr_free(err);
	return a;
}

static void test_sequence_and_wrap(void **state)
{
	struct fixture *f = *state;
	struct net_conf nc;
	/* .0 network, .1 gateway, .7 broadcast: .2 to .6 are for containers. */
	conf("{\"subnet\": \"10.201.0.0/29\"}", &nc);
	assert_int_equal(alloc(f->root, &nc, "a", 0), ip("10.201.0.2"));
	assert_int_equal(alloc(f->root, &nc, "b", 0), ip("10.201.0.3"));
	assert_int_equal(alloc(f->root, &nc, "c", 0), ip("10.201.0.4"));
	assert_int_equal(alloc(f->root, &nc, "d", 0), ip("10.201.0.5"));
	assert_int_equal(alloc(f->root, &nc, "e", 0), ip("10.201.0.6"));
	struct berr *err = NULL;
	struct net_ipam_req req = {.id = "f"};
	uint32_t a;
	assert_int_equal(net_ipam_alloc(f->root, &nc, &req, &a, &err), -ENOSPC);
	assert_string_equal(err->msg, "no available IPv4 addresses on network 'bridge'");
	berr_free(err);

	/* Idempotent for an id that has one. */
	assert_int_equal(alloc(f->root, &nc, "c", 0), ip("10.201.0.4"));

	/* Released, then reused only once the search has wrapped round. */
	assert_int_equal(net_ipam_release(f->root, &nc, "b", NULL), 1);
	assert_int_equal(net_ipam_release(f->root, &nc, "b", NULL), 0);
	assert_int_equal(net_ipam_release(f->root, &nc, "never", NULL), 0);
	assert_int_equal(alloc(f->root, &nc, "g", 0), ip("10.201.0.3"));

	/* Round robin: with .2 and .6 free again, the search goes on after the last address
	 * handed out (.3) and finds .6 before it comes round to .2. */
	assert_int_equal(net_ipam_release(f->root, &nc, "a", NULL), 1);
	assert_int_equal(net_ipam_release(f->root, &nc, "e", NULL), 1);
	assert_int_equal(alloc(f->root, &nc, "h", 0), ip("10.201.0.6"));
	assert_int_equal(alloc(f->root, &nc, "i", 0), ip("10.201.0.2"));

	struct net_ipam_entry *v;
	size_t n;
	assert_int_equal(net_ipam_list(f->root, &nc, &v, &n, NULL), 0);
	assert_int_equal(n, 5);
	const char *ids[] = {"i", "g", "c", "d", "h"};
	for (size_t k = 0; k < n; k++) {
		assert_string_equal(v[k].id, ids[k]);
		assert_int_equal(v[k].ip, ip("10.201.0.2") + k);
	}
	net_ipam_entries_free(v, n);
	net_conf_free(&nc);
}

static void test_requested_address(void **state)
{
	struct fixture *f = *state;
	struct net_conf nc;
	conf("{\"subnet\": \"10.201.1.0/24\"}", &nc);
	struct net_ipam_req req = {.id = "a", .want = ip("10.201.1.77")};
	uint32_t a;
	struct berr *err = NULL;
	assert_int_equal(net_ipam_alloc(f->root, &nc, &req, &a, NULL), 0);
	assert_int_equal(a, ip("10.201.1.77"));

	req.id = "b";
	assert_int_equal(net_ipam_alloc(f->root, &nc, &req, &a, &err), -EADDRINUSE);
	assert_string_equal(err->msg, "Address already in use: 10.201.1.77 on network 'bridge'");
	berr_free(err);
	err = NULL;
	const char *bad[] = {"10.201.2.1", "10.201.1.1", "10.201.1.0", "10.201.1.255"};
	for (size_t i = 0; i < 4; i++) {
		req.want = ip(bad[i]);
		assert_int_equal(net_ipam_alloc(f->root, &nc, &req, &a, &err), -EINVAL);
		berr_free(err);
		err = NULL;
	}
	/* An id with an address cannot ask for another. */
	req.id = "a";
	req.want = ip("10.201.1.78");
	assert_int_equal(net_ipam_alloc(f->root, &nc, &req, &a, &err), -EEXIST);
	berr_free(err);
	/* The next automatic address does not take the requested one. */
	assert_int_equal(alloc(f->root, &nc, "c", 0), ip("10.201.1.2"));
	net_conf_free(&nc);
}

static void test_ip_range(void **state)
{
	struct fixture *f = *state;
	struct net_conf nc;
	conf("{\"subnet\": \"10.201.2.0/24\", \"ip-range\": \"10.201.2.128/30\"}", &nc);
	for (int i = 0; i < 4; i++) {
		char id[8];
		snprintf(id, sizeof(id), "r%d", i);
		assert_int_equal(alloc(f->root, &nc, id, 0), ip("10.201.2.128") + (uint32_t)i);
	}
	alloc(f->root, &nc, "r4", -ENOSPC);
	net_conf_free(&nc);
}

static void test_reconcile(void **state)
{
	struct fixture *f = *state;
	struct net_conf nc;
	conf("{\"subnet\": \"10.201.3.0/24\"}", &nc);
	const char *ids[] = {"aa", "bb", "cc", "dd"};
	for (int i = 0; i < 4; i++)
		alloc(f->root, &nc, ids[i], 0);
	struct strv live = STRV_INIT;
	strv_push(&live, "bb");
	strv_push(&live, "dd");
	strv_push(&live, "zz");
	size_t freed = 99;
	assert_int_equal(net_ipam_reconcile(f->root, &nc, &live, &freed, NULL), 0);
	assert_int_equal(freed, 2);
	assert_int_equal(net_ipam_reconcile(f->root, &nc, &live, &freed, NULL), 0);
	assert_int_equal(freed, 0);
	struct net_ipam_entry *v;
	size_t n;
	assert_int_equal(net_ipam_list(f->root, &nc, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, "bb");
	assert_string_equal(v[1].id, "dd");
	net_ipam_entries_free(v, n);
	strv_free(&live);

	/* A network with endpoints cannot lose its state; an empty one can. */
	struct berr *err = NULL;
	assert_int_equal(net_ipam_remove(f->root, "bridge", &err), -EBUSY);
	assert_string_equal(err->msg,
			    "error while removing network: network bridge has active endpoints");
	berr_free(err);
	struct strv none = STRV_INIT;
	assert_int_equal(net_ipam_reconcile(f->root, &nc, &none, &freed, NULL), 0);
	assert_int_equal(freed, 2);
	assert_int_equal(net_ipam_remove(f->root, "bridge", NULL), 0);
	char path[512];
	snprintf(path, sizeof(path), "%s/networks/endpoints/bridge.json", f->root);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(net_ipam_remove(f->root, "bridge", NULL), 0);
	net_conf_free(&nc);
}

static void write_state(const char *root, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/networks/endpoints", root);
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, path, 0700), 0);
	snprintf(path, sizeof(path), "%s/networks/endpoints/bridge.json", root);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_corrupt_state(void **state)
{
	struct fixture *f = *state;
	struct net_conf nc;
	conf("{\"subnet\": \"10.201.4.0/24\"}", &nc);
	static const char *bad[] = {
	    "",
	    "{",
	    "[]",
	    "{\"endpoints\": {}}",
	    "{\"endpoints\": [], \"last\": 5}",
	    "{\"endpoints\": [], \"last\": \"10.1\"}",
	    "{\"endpoints\": [1]}",
	    "{\"endpoints\": [{\"id\": \"a\"}]}",
	    "{\"endpoints\": [{\"id\": \"a\", \"ip\": \"300.1.1.1\"}]}",
	    "{\"endpoints\": [{\"id\": \"\", \"ip\": \"10.201.4.2\"}]}",
	    "{\"endpoints\": [{\"id\": \"a b\", \"ip\": \"10.201.4.2\"}]}",
	    "{\"endpoints\": [{\"id\": \"a\", \"ip\": \"10.201.4.2\", \"aliases\": [1]}]}",
	    "{\"endpoints\": [{\"id\": \"a\", \"ip\": \"10.201.4.2\", \"name\": 1}]}",
	    "{\"endpoints\": [{\"id\": \"a\", \"ip\": \"10.201.4.2\"},"
	    " {\"id\": \"b\", \"ip\": \"10.201.4.2\"}]}",
	    "{\"endpoints\": [{\"id\": \"a\", \"ip\": \"10.201.4.2\"},"
	    " {\"id\": \"a\", \"ip\": \"10.201.4.3\"}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_state(f->root, bad[i]);
		struct net_ipam_req req = {.id = "x"};
		uint32_t a;
		struct berr *err = NULL;
		int r = net_ipam_alloc(f->root, &nc, &req, &a, &err);
		if (r != -EUCLEAN)
			fail_msg("state '%s': %d", bad[i], r);
		assert_non_null(strstr(err->msg, "address state of network 'bridge' is corrupt"));
		berr_free(err);
	}
	/* A well-formed file is used as it is. */
	write_state(f->root, "{\"endpoints\": [{\"id\": \"a\", \"ip\": \"10.201.4.9\"}],"
			     " \"last\": \"10.201.4.9\"}");
	assert_int_equal(alloc(f->root, &nc, "b", 0), ip("10.201.4.10"));
	net_conf_free(&nc);
}

/* Twenty processes allocate at once; every address must be different and recorded. */
static void test_parallel(void **state)
{
	struct fixture *f = *state;
	struct net_conf nc;
	conf("{\"subnet\": \"10.201.5.0/24\"}", &nc);
	enum { N = 20 };
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pids[N];
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(pfd[0]);
			char id[16];
			snprintf(id, sizeof(id), "p%02d", i);
			struct net_ipam_req req = {.id = id};
			uint32_t a = 0;
			/* Each child also churns: take, give back, take again. */
			int r = net_ipam_alloc(f->root, &nc, &req, &a, NULL);
			if (r == 0 && i % 2)
				r = net_ipam_release(f->root, &nc, id, NULL) == 1 ? 0 : -1;
			if (r == 0 && i % 2)
				r = net_ipam_alloc(f->root, &nc, &req, &a, NULL);
			uint32_t msg[2] = {(uint32_t)i, r == 0 ? a : 0};
			ssize_t w = write(pfd[1], msg, sizeof(msg));
			_exit(w == sizeof(msg) && r == 0 ? 0 : 1);
		}
	}
	close(pfd[1]);
	uint32_t got[N] = {0};
	uint32_t msg[2];
	int count = 0;
	while (read(pfd[0], msg, sizeof(msg)) == sizeof(msg)) {
		assert_true(msg[0] < N);
		got[msg[0]] = msg[1];
		count++;
	}
	close(pfd[0]);
	for (int i = 0; i < N; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(count, N);
	for (int i = 0; i < N; i++) {
		assert_true(net_subnet_contains(&nc.subnet, got[i]));
		for (int k = i + 1; k < N; k++)
			if (got[i] == got[k])
				fail_msg("p%02d and p%02d both got the same address", i, k);
	}
	struct net_ipam_entry *v;
	size_t n;
	assert_int_equal(net_ipam_list(f->root, &nc, &v, &n, NULL), 0);
	assert_int_equal(n, N);
	for (size_t k = 0; k < n; k++) {
		int i = atoi(v[k].id + 1);
		assert_int_equal(v[k].ip, got[i]);
	}
	net_ipam_entries_free(v, n);
	net_conf_free(&nc);
}

static char *slurp(const char *path)
{
	char *text = NULL;
	size_t len;
	if (fs_read_all_at(AT_FDCWD, path, 1 << 20, &text, &len) < 0)
		return NULL;
	return text;
}

static void make_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* User networks keep each member's /etc/hosts listing the others. */
static void test_hosts_kept_current(void **state)
{
	struct fixture *f = *state;
	struct net_create_opts o = {.name = "front", .subnet = "10.201.6.0/24"};
	struct net_conf nc;
	struct berr *err = NULL;
	if (net_conf_create(f->root, NULL, &o, &nc, &err) < 0)
		fail_msg("%s", err->msg);
	char ha[512], hb[512];
	snprintf(ha, sizeof(ha), "%s/hosts-a", f->root);
	snprintf(hb, sizeof(hb), "%s/hosts-b", f->root);
	make_file(ha, "127.0.0.1\tlocalhost\n10.201.6.2\tweb\n");
	make_file(hb, "127.0.0.1\tlocalhost\n10.201.6.3\tdb\n");

	struct strv aliases = STRV_INIT;
	strv_push(&aliases, "www");
	struct net_ipam_req ra = {
	    .id = "aaaaaaaaaaaaaaaa", .name = "web", .aliases = &aliases, .hosts_path = ha};
	struct net_ipam_req rb = {.id = "bbbbbbbbbbbbbbbb", .name = "db", .hosts_path = hb};
	uint32_t a;
	assert_int_equal(net_ipam_alloc(f->root, &nc, &ra, &a, NULL), 0);
	char *t = slurp(ha);
	/* Alone on the network: no section. */
	assert_string_equal(t, "127.0.0.1\tlocalhost\n10.201.6.2\tweb\n");
	free(t);
	assert_int_equal(net_ipam_alloc(f->root, &nc, &rb, &a, NULL), 0);
	t = slurp(ha);
	assert_string_equal(t, "127.0.0.1\tlocalhost\n10.201.6.2\tweb\n"
			       "# berth network front: other containers (kept current by berth)\n"
			       "10.201.6.3\tdb bbbbbbbbbbbb\n"
			       "# end of berth network front\n");
	free(t);
	t = slurp(hb);
	assert_string_equal(t, "127.0.0.1\tlocalhost\n10.201.6.3\tdb\n"
			       "# berth network front: other containers (kept current by berth)\n"
			       "10.201.6.2\tweb www aaaaaaaaaaaa\n"
			       "# end of berth network front\n");
	free(t);

	/* The hosts file keeps its inode (it is bind-mounted): rewritten in place. */
	struct stat before, after;
	assert_int_equal(stat(ha, &before), 0);
	assert_int_equal(net_ipam_release(f->root, &nc, rb.id, NULL), 1);
	assert_int_equal(stat(ha, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	t = slurp(ha);
	assert_string_equal(t, "127.0.0.1\tlocalhost\n10.201.6.2\tweb\n");
	free(t);
	t = slurp(hb);
	assert_string_equal(t, "127.0.0.1\tlocalhost\n10.201.6.3\tdb\n");
	free(t);

	/* A member whose file is gone does not stop the others. */
	assert_int_equal(unlink(hb), 0);
	assert_int_equal(net_ipam_alloc(f->root, &nc, &rb, &a, NULL), 0);
	t = slurp(ha);
	/* Round robin gave it .4 this time, not its old .3. */
	assert_non_null(strstr(t, "10.201.6.4\tdb bbbbbbbbbbbb\n"));
	free(t);

	/* The default network has no name resolution: nothing is written. */
	struct net_conf def;
	conf("{\"subnet\": \"10.201.7.0/24\"}", &def);
	make_file(hb, "x\n");
	struct net_ipam_req rc = {.id = "cccc", .name = "c", .hosts_path = hb};
	struct net_ipam_req rd = {.id = "dddd", .name = "d", .hosts_path = ha};
	assert_int_equal(net_ipam_alloc(f->root, &def, &rc, &a, NULL), 0);
	assert_int_equal(net_ipam_alloc(f->root, &def, &rd, &a, NULL), 0);
	t = slurp(hb);
	assert_string_equal(t, "x\n");
	free(t);
	net_conf_free(&def);
	strv_free(&aliases);
	net_conf_free(&nc);
}

static void test_bad_requests(void **state)
{
	struct fixture *f = *state;
	struct net_conf nc;
	conf("{}", &nc);
	uint32_t a;
	struct berr *err = NULL;
	struct net_ipam_req req = {.id = "has space"};
	assert_int_equal(net_ipam_alloc(f->root, &nc, &req, &a, &err), -EINVAL);
	berr_free(err);
	err = NULL;
	req.id = "ok";
	req.hosts_path = "relative/hosts";
	assert_int_equal(net_ipam_alloc(f->root, &nc, &req, &a, &err), -EINVAL);
	berr_free(err);
	err = NULL;
	req.hosts_path = NULL;
	req.name = "two words";
	assert_int_equal(net_ipam_alloc(f->root, &nc, &req, &a, &err), -EINVAL);
	berr_free(err);
	net_conf_free(&nc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sequence_and_wrap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_requested_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ip_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconcile, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parallel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hosts_kept_current, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
