/* Network definitions (the default network from the config, user networks on disk),
 * address helpers, and the container files that depend on the network: /etc/hosts and
 * /etc/resolv.conf. */
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
#include <unistd.h>

#include "addr.h"
#include "fs.h"
#include "hosts.h"
#include "ipam.h"
#include "netconf.h"

struct fixture {
	char root[256];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	snprintf(f->root, sizeof(f->root), "%s/berth-netconf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
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

static void test_ip4(void **state)
{
	static const struct {
		const char *s;
		uint32_t v;
		int ok;
	} c[] = {
	    {"0.0.0.0", 0, 1},
	    {"10.88.0.1", 0x0a580001, 1},
	    {"255.255.255.255", 0xffffffff, 1},
	    {"256.1.1.1", 0, 0},
	    {"1.2.3", 0, 0},
	    {"1.2.3.4.", 0, 0},
	    {"1.2.3.4.5", 0, 0},
	    {"01.2.3.4", 0, 0},
	    {"1..3.4", 0, 0},
	    {" 1.2.3.4", 0, 0},
	    {"1.2.3.4 ", 0, 0},
	    {"1.2.3.-4", 0, 0},
	    {"1000.2.3.4", 0, 0},
	    {"", 0, 0},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint32_t v = 0;
		int r = net_ip4_parse(c[i].s, &v);
		if (c[i].ok != (r == 0))
			fail_msg("'%s': %d", c[i].s, r);
		if (c[i].ok)
			assert_int_equal(v, c[i].v);
	}
	char buf[NET_IP4_STRLEN];
	assert_string_equal(net_ip4_format(0x0a580001, buf), "10.88.0.1");
	assert_string_equal(net_ip4_format(0xffffffff, buf), "255.255.255.255");
}

static void test_subnet(void **state)
{
	struct net_subnet s;
	char buf[NET_CIDR4_STRLEN];
	struct berr *err = NULL;
	assert_int_equal(net_subnet_parse("10.88.0.0/16", 0, &s, NULL, NULL), 0);
	assert_int_equal(s.addr, 0x0a580000);
	assert_int_equal(s.prefix, 16);
	assert_string_equal(net_subnet_format(&s, buf), "10.88.0.0/16");
	assert_int_equal(net_subnet_last(&s), 0x0a58ffff);
	assert_true(net_subnet_contains(&s, 0x0a581234));
	assert_false(net_subnet_contains(&s, 0x0a590000));

	assert_int_equal(net_subnet_parse("10.88.0.1/16", 0, &s, NULL, &err), -EINVAL);
	assert_string_equal(err->msg, "invalid subnet '10.88.0.1/16': host bits are set");
	berr_free(err);
	uint32_t host;
	assert_int_equal(net_subnet_parse("10.88.0.1/16", 1, &s, &host, NULL), 0);
	assert_int_equal(s.addr, 0x0a580000);
	assert_int_equal(host, 0x0a580001);
	const char *bad[] = {"10.88.0.0",    "10.88.0.0/", "10.88.0.0/33", "10.88.0.0/016",
			     "10.88.0.0/1x", "x/8",	   "10.88.0.0/-1", "10.88.0.0/16/1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (net_subnet_parse(bad[i], 1, &s, NULL, NULL) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(net_subnet_parse("0.0.0.0/0", 0, &s, NULL, NULL), 0);
	assert_int_equal(net_subnet_last(&s), 0xffffffff);
	assert_int_equal(net_subnet_parse("1.2.3.4/32", 0, &s, NULL, NULL), 0);

	struct net_subnet a = {0x0a580000, 16}, b = {0x0a58ff00, 24}, c = {0x0a590000, 16};
	assert_true(net_subnet_overlaps(&a, &b));
	assert_true(net_subnet_overlaps(&b, &a));
	assert_false(net_subnet_overlaps(&a, &c));
	assert_false(net_subnet_overlaps(&b, &c));
}

static void test_names(void **state)
{
	assert_true(net_name_valid("front"));
	assert_true(net_name_valid("a_b.c-d9"));
	assert_true(net_name_valid("X"));
	assert_false(net_name_valid(""));
	assert_false(net_name_valid("-x"));
	assert_false(net_name_valid(".x"));
	assert_false(net_name_valid("a b"));
	assert_false(net_name_valid("a/b"));
	assert_false(
	    net_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	assert_true(net_ifname_valid("berth0"));
	assert_true(net_ifname_valid("br-0123456789ab"));
	assert_false(net_ifname_valid("br-0123456789abc"));
	assert_false(net_ifname_valid("a\"b"));
	assert_false(net_ifname_valid(".."));
	assert_false(net_ifname_valid(""));
}

static int load_default(const char *cfg_text, struct net_conf *nc, struct berr **err)
{
	json_t *cfg = cfg_text ? json_loads(cfg_text, 0, NULL) : NULL;
	if (cfg_text)
		assert_non_null(cfg);
	int r = net_conf_default(cfg, nc, err);
	if (cfg)
		json_decref(cfg);
	return r;
}

static void test_default(void **state)
{
	struct net_conf nc;
	char a[NET_CIDR4_STRLEN], b[NET_IP4_STRLEN];
	assert_int_equal(load_default(NULL, &nc, NULL), 0);
	assert_string_equal(nc.name, "bridge");
	assert_string_equal(nc.bridge, "berth0");
	assert_string_equal(net_subnet_format(&nc.subnet, a), "10.88.0.0/16");
	assert_string_equal(net_ip4_format(nc.gateway, b), "10.88.0.1");
	assert_int_equal(nc.ip_range.addr, nc.subnet.addr);
	assert_int_equal(nc.ip_range.prefix, 16);
	assert_int_equal(nc.mtu, 1500);
	assert_true(nc.is_default);
	assert_false(nc.internal);
	assert_int_equal(strlen(nc.id), 64);
	char id[65];
	memcpy(id, nc.id, sizeof(id));
	net_conf_free(&nc);
	/* The same id every time: commands agree on it. */
	assert_int_equal(load_default("{}", &nc, NULL), 0);
	assert_string_equal(nc.id, id);
	net_conf_free(&nc);

	assert_int_equal(
	    load_default("{\"bridge\": {\"device\": \"bt7\", \"subnet\": \"172.30.0.0/24\","
			 " \"gateway\": \"172.30.0.254\", \"ip-range\": \"172.30.0.64/26\","
			 " \"mtu\": 9000}}",
			 &nc, NULL),
	    0);
	assert_string_equal(nc.bridge, "bt7");
	assert_string_equal(net_subnet_format(&nc.subnet, a), "172.30.0.0/24");
	assert_string_equal(net_ip4_format(nc.gateway, b), "172.30.0.254");
	assert_string_equal(net_subnet_format(&nc.ip_range, a), "172.30.0.64/26");
	assert_int_equal(nc.mtu, 9000);
	assert_string_not_equal(nc.id, id);
	net_conf_free(&nc);

	static const struct {
		const char *cfg, *msg;
	} bad[] = {
	    {"{\"bridge\": 5}", "config: 'bridge' must be an object"},
	    {"{\"bridge\": {\"bip\": \"x\"}}", "config: unknown key 'bridge.bip'"},
	    {"{\"bridge\": {\"subnet\": 5}}", "config: 'bridge.subnet' must be a string"},
	    {"{\"bridge\": {\"mtu\": 10}}",
	     "config: 'bridge.mtu' must be an integer from 68 to 65535"},
	    {"{\"bridge\": {\"mtu\": \"1500\"}}",
	     "config: 'bridge.mtu' must be an integer from 68 to 65535"},
	    {"{\"bridge\": {\"device\": \"a b\"}}", "config: 'bridge.device': invalid name 'a b'"},
	    {"{\"bridge\": {\"device\": \"0123456789abcdef\"}}",
	     "config: 'bridge.device': invalid name '0123456789abcdef'"},
	    {"{\"bridge\": {\"subnet\": \"10.88.0.1/16\"}}",
	     "config: 'bridge': invalid subnet '10.88.0.1/16': host bits are set"},
	    {"{\"bridge\": {\"subnet\": \"10.0.0.0/31\"}}",
	     "config: 'bridge': subnet 10.0.0.0/31: prefix length must be 8 to 30"},
	    {"{\"bridge\": {\"gateway\": \"10.89.0.1\"}}",
	     "config: 'bridge': gateway 10.89.0.1 is not a host address of subnet 10.88.0.0/16"},
	    {"{\"bridge\": {\"gateway\": \"10.88.255.255\"}}",
	     "config: 'bridge': gateway 10.88.255.255 is not a host address of subnet "
	     "10.88.0.0/16"},
	    {"{\"bridge\": {\"gateway\": \"x\"}}", "config: 'bridge.gateway': invalid address 'x'"},
	    {"{\"bridge\": {\"ip-range\": \"10.0.0.0/24\"}}",
	     "config: 'bridge': ip-range 10.0.0.0/24 is not inside subnet 10.88.0.0/16"},
	    {"{\"bridge\": {\"ip-range\": \"10.0.0.0/8\"}}",
	     "config: 'bridge': ip-range 10.0.0.0/8 is not inside subnet 10.88.0.0/16"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct berr *err = NULL;
		if (load_default(bad[i].cfg, &nc, &err) >= 0)
			fail_msg("accepted %s", bad[i].cfg);
		if (strcmp(err->msg, bad[i].msg) != 0)
			fail_msg("%s: '%s', want '%s'", bad[i].cfg, err->msg, bad[i].msg);
		assert_null(nc.name);
		berr_free(err);
	}
}

static void test_create_load_remove(void **state)
{
	struct fixture *f = *state;
	struct net_conf a, b, c;
	struct berr *err = NULL;
	char s[NET_CIDR4_STRLEN];

	struct net_create_opts oa = {.name = "front"};
	if (net_conf_create(f->root, NULL, &oa, &a, &err) < 0)
		fail_msg("%s", err->msg);
	/* An automatic /24 from 10.89.0.0/16, away from the default network. */
	assert_int_equal(a.subnet.prefix, 24);
	assert_int_equal(a.subnet.addr & 0xffff0000, 0x0a590000);
	assert_int_equal(a.gateway, a.subnet.addr + 1);
	assert_false(a.is_default);
	assert_int_equal(strlen(a.id), 64);
	char want_br[16];
	snprintf(want_br, sizeof(want_br), "br-%.12s", a.id);
	assert_string_equal(a.bridge, want_br);
	assert_true(a.created[0] != '\0');

	json_t *labels = json_pack("{s:s}", "team", "x");
	struct net_create_opts ob = {
	    .name = "back", .labels = labels, .internal = 1, .bridge = "bt-back", .mtu = 1400};
	assert_int_equal(net_conf_create(f->root, NULL, &ob, &b, NULL), 0);
	assert_false(net_subnet_overlaps(&a.subnet, &b.subnet));
	assert_true(b.internal);
	assert_string_equal(b.bridge, "bt-back");
	assert_int_equal(b.mtu, 1400);

	/* Explicit subnet, gateway, range. */
	struct net_create_opts oc = {.name = "c.1",
				     .subnet = "172.31.250.0/24",
				     .gateway = "172.31.250.10",
				     .ip_range = "172.31.250.128/25"};
	assert_int_equal(net_conf_create(f->root, NULL, &oc, &c, NULL), 0);
	assert_string_equal(net_subnet_format(&c.ip_range, s), "172.31.250.128/25");
	net_conf_free(&c);

	static const struct {
		struct net_create_opts o;
		int code;
		const char *msg;
	} bad[] = {
	    {{.name = "front"}, -EEXIST, "network with name front already exists"},
	    {{.name = "bridge"}, -EEXIST, "network with name bridge already exists"},
	    {{.name = "host"}, -EEXIST, "network with name host already exists"},
	    {{.name = "none"}, -EEXIST, "network with name none already exists"},
	    {{.name = "a b"},
	     -EINVAL,
	     "invalid network name 'a b': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"},
	    {{.name = "x", .bridge = "bt-back"},
	     -EEXIST,
	     "bridge name bt-back is used by network back"},
	    {{.name = "x", .bridge = "bad\"name"}, -EINVAL, "invalid bridge name 'bad\"name'"},
	    {{.name = "x", .subnet = "172.31.250.128/25"},
	     -EINVAL,
	     "invalid pool request: Pool overlaps with other one on this address space (network "
	     "c.1)"},
	    {{.name = "x", .subnet = "10.0.0.0/8"},
	     -EINVAL,
	     "invalid pool request: Pool overlaps with other one on this address space (network "
	     "bridge)"},
	    {{.name = "x", .gateway = "10.1.1.1"}, -EINVAL, "a gateway or ip-range needs a subnet"},
	    {{.name = "x", .subnet = "172.16.5.0/24", .gateway = "172.16.6.1"},
	     -EINVAL,
	     "network: gateway 172.16.6.1 is not a host address of subnet 172.16.5.0/24"},
	    {{.name = "x", .subnet = "172.16.5.0/24", .gateway = "1.2"},
	     -EINVAL,
	     "invalid gateway '1.2'"},
	    {{.name = "x", .subnet = "172.16.5.1/24"},
	     -EINVAL,
	     "invalid subnet '172.16.5.1/24': host bits are set"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct net_conf x;
		err = NULL;
		int r = net_conf_create(f->root, NULL, &bad[i].o, &x, &err);
		if (r != bad[i].code)
			fail_msg("case %zu: %d (%s)", i, r, err ? err->msg : "");
		if (strcmp(err->msg, bad[i].msg) != 0)
			fail_msg("case %zu: '%s', want '%s'", i, err->msg, bad[i].msg);
		berr_free(err);
	}

	/* Load by name, id, id prefix. */
	struct net_conf l;
	assert_int_equal(net_conf_load(f->root, NULL, "front", &l, NULL), 0);
	assert_string_equal(l.id, a.id);
	assert_int_equal(l.subnet.addr, a.subnet.addr);
	net_conf_free(&l);
	assert_int_equal(net_conf_load(f->root, NULL, b.id, &l, NULL), 0);
	assert_string_equal(l.name, "back");
	assert_true(l.internal);
	assert_string_equal(json_string_value(json_object_get(l.labels, "team")), "x");
	net_conf_free(&l);
	char prefix[8];
	snprintf(prefix, sizeof(prefix), "%.6s", a.id);
	if (strncmp(a.id, b.id, 6) != 0) {
		assert_int_equal(net_conf_load(f->root, NULL, prefix, &l, NULL), 0);
		assert_string_equal(l.name, "front");
		net_conf_free(&l);
	}
	assert_int_equal(net_conf_load(f->root, NULL, "bridge", &l, NULL), 0);
	assert_true(l.is_default);
	net_conf_free(&l);
	err = NULL;
	assert_int_equal(net_conf_load(f->root, NULL, "nope", &l, &err), -ENOENT);
	assert_string_equal(err->msg, "network nope not found");
	berr_free(err);

	/* List: the default first, then by name. */
	struct net_conf *all;
	size_t n;
	assert_int_equal(net_conf_list(f->root, NULL, &all, &n, NULL), 0);
	assert_int_equal(n, 4);
	assert_string_equal(all[0].name, "bridge");
	assert_string_equal(all[1].name, "back");
	assert_string_equal(all[2].name, "c.1");
	assert_string_equal(all[3].name, "front");
	for (size_t i = 0; i < n; i++)
		net_conf_free(&all[i]);
	free(all);

	/* Remove: not while containers are attached; never the default. */
	struct net_ipam_req req = {.id = "c1"};
	uint32_t ip;
	assert_int_equal(net_ipam_alloc(f->root, &a, &req, &ip, NULL), 0);
	err = NULL;
	assert_int_equal(net_conf_remove(f->root, "front", &err), -EBUSY);
	assert_string_equal(err->msg,
			    "error while removing network: network front has active endpoints");
	berr_free(err);
	assert_int_equal(net_ipam_release(f->root, &a, "c1", NULL), 1);
	assert_int_equal(net_conf_remove(f->root, "front", NULL), 0);
	err = NULL;
	assert_int_equal(net_conf_remove(f->root, "front", &err), -ENOENT);
	assert_string_equal(err->msg, "network front not found");
	berr_free(err);
	err = NULL;
	assert_int_equal(net_conf_remove(f->root, "bridge", &err), -EPERM);
	assert_string_equal(err->msg, "bridge is a pre-defined network and cannot be removed");
	berr_free(err);
	err = NULL;
	assert_int_equal(net_conf_remove(f->root, "../x", &err), -ENOENT);
	berr_free(err);

	/* Its subnet is free again. */
	struct net_create_opts oa2 = {.name = "front2"};
	struct net_conf a2;
	assert_int_equal(net_conf_create(f->root, NULL, &oa2, &a2, NULL), 0);
	assert_int_equal(a2.subnet.addr, a.subnet.addr);
	net_conf_free(&a2);

	json_decref(labels);
	net_conf_free(&a);
	net_conf_free(&b);
}

static void test_json_roundtrip_and_corrupt(void **state)
{
	struct fixture *f = *state;
	struct net_conf a, back;
	struct net_create_opts o = {.name = "rt", .subnet = "172.29.0.0/16"};
	assert_int_equal(net_conf_create(f->root, NULL, &o, &a, NULL), 0);
	json_t *j = net_conf_to_json(&a);
	assert_non_null(j);
	assert_int_equal(net_conf_from_json(j, &back, NULL), 0);
	assert_string_equal(back.name, a.name);
	assert_string_equal(back.id, a.id);
	assert_string_equal(back.bridge, a.bridge);
	assert_string_equal(back.created, a.created);
	assert_int_equal(back.subnet.addr, a.subnet.addr);
	assert_int_equal(back.gateway, a.gateway);
	assert_int_equal(back.mtu, a.mtu);
	net_conf_free(&back);

	static const char *patches[] = {
	    "{\"name\": 5}",
	    "{\"name\": \"a b\"}",
	    "{\"id\": \"xyz\"}",
	    "{\"driver\": \"macvlan\"}",
	    "{\"bridge\": \"a\\\"b\"}",
	    "{\"subnet\": \"10.0.0.1/8\"}",
	    "{\"gateway\": \"1.1.1.1\"}",
	    "{\"mtu\": 1}",
	    "{\"mtu\": \"x\"}",
	    "{\"internal\": 1}",
	    "{\"labels\": {\"a\": 1}}",
	    "{\"labels\": []}",
	    "{\"ip_range\": \"9.9.9.0/24\"}",
	    "{\"created\": 7}",
	};
	for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++) {
		json_t *c = json_deep_copy(j), *p = json_loads(patches[i], 0, NULL);
		assert_non_null(p);
		json_object_update(c, p);
		struct berr *err = NULL;
		if (net_conf_from_json(c, &back, &err) >= 0)
			fail_msg("accepted %s", patches[i]);
		assert_non_null(err);
		assert_null(back.name);
		berr_free(err);
		json_decref(c);
		json_decref(p);
	}
	json_decref(j);

	/* A broken file makes list fail, naming the file. */
	char path[512];
	snprintf(path, sizeof(path), "%s/networks/broken.json", f->root);
	FILE *fp = fopen(path, "w");
	fputs("{\"name\":", fp);
	fclose(fp);
	struct net_conf *all;
	size_t n;
	struct berr *err = NULL;
	assert_int_equal(net_conf_list(f->root, NULL, &all, &n, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "network file 'broken.json'"));
	berr_free(err);
	net_conf_free(&a);
}

/*
 * /etc/hosts and /etc/resolv.conf.
 */

static const char docker_defaults[] = "127.0.0.1\tlocalhost\n"
				      "::1\tlocalhost ip6-localhost ip6-loopback\n"
				      "fe00::0\tip6-localnet\n"
				      "ff00::0\tip6-mcastprefix\n"
				      "ff02::1\tip6-allnodes\n"
				      "ff02::2\tip6-allrouters\n";

static void test_hosts_render(void **state)
{
	struct strv extra = STRV_INIT;
	strv_push(&extra, "db:10.0.0.5");
	strv_push(&extra, "v6=[2001:db8::33]");
	strv_push(&extra, "old:::1");
	strv_push(&extra, "gw:host-gateway");
	struct net_hosts_opts o = {
	    .hostname = "abc123", .ip = "10.88.0.2", .extra = &extra, .host_gateway = "10.88.0.1"};
	struct buf b = BUF_INIT;
	assert_int_equal(net_hosts_render(&o, &b, NULL), 0);
	char want[1024];
	snprintf(want, sizeof(want),
		 "%s10.0.0.5\tdb\n2001:db8::33\tv6\n::1\told\n10.88.0.1\tgw\n10.88.0.2\tabc123\n",
		 docker_defaults);
	assert_string_equal(b.data, want);
	buf_free(&b);

	struct net_hosts_opts o2 = {
	    .hostname = "web", .domainname = "example.org", .ip = "10.1.1.1"};
	assert_int_equal(net_hosts_render(&o2, &b, NULL), 0);
	snprintf(want, sizeof(want), "%s10.1.1.1\tweb.example.org web\n", docker_defaults);
	assert_string_equal(b.data, want);
	buf_free(&b);

	struct net_hosts_opts o3 = {.hostname = "lonely"};
	assert_int_equal(net_hosts_render(&o3, &b, NULL), 0);
	assert_string_equal(b.data, docker_defaults);
	buf_free(&b);

	static const struct {
		const char *spec, *msg;
	} bad[] = {
	    {"nohost", "bad format for add-host: \"nohost\""},
	    {":1.2.3.4", "bad format for add-host: \":1.2.3.4\""},
	    {"a b:1.2.3.4", "bad format for add-host: \"a b:1.2.3.4\""},
	    {"x:notanip", "invalid IP address in add-host: \"notanip\""},
	    {"x:[1.2.3.4", "invalid IP address in add-host: \"[1.2.3.4\""},
	    {"x=host-gateway", "unable to derive the IP value for host-gateway"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct berr *err = NULL;
		if (net_hosts_extra_line(bad[i].spec, NULL, &b, &err) >= 0)
			fail_msg("accepted %s", bad[i].spec);
		if (strcmp(err->msg, bad[i].msg) != 0)
			fail_msg("%s: '%s', want '%s'", bad[i].spec, err->msg, bad[i].msg);
		berr_free(err);
	}
	assert_int_equal(b.len, 0);
	struct berr *err = NULL;
	struct net_hosts_opts o4 = {.hostname = "a b"};
	assert_int_equal(net_hosts_render(&o4, &b, &err), -EINVAL);
	berr_free(err);
	buf_free(&b);
	strv_free(&extra);
}

static char *slurp(const char *path)
{
	char *text = NULL;
	size_t len;
	if (fs_read_all_at(AT_FDCWD, path, 1 << 20, &text, &len) < 0)
		return NULL;
	return text;
}

static void test_hosts_sections(void **state)
{
	struct fixture *f = *state;
	char path[512];
	snprintf(path, sizeof(path), "%s/hosts", f->root);
	FILE *fp = fopen(path, "w");
	fputs("127.0.0.1\tlocalhost\n10.0.0.2\tme", fp); /* no final newline */
	fclose(fp);
	struct stat st0, st1;
	assert_int_equal(stat(path, &st0), 0);

	assert_int_equal(net_hosts_set_section(path, "a", "10.0.0.3\tx\n", NULL), 0);
	assert_int_equal(net_hosts_set_section(path, "b", "10.1.0.3\ty\n10.1.0.4\tz", NULL), 0);
	char *t = slurp(path);
	assert_string_equal(t, "127.0.0.1\tlocalhost\n10.0.0.2\tme\n"
			       "# berth network a: other containers (kept current by berth)\n"
			       "10.0.0.3\tx\n"
			       "# end of berth network a\n"
			       "# berth network b: other containers (kept current by berth)\n"
			       "10.1.0.3\ty\n10.1.0.4\tz\n"
			       "# end of berth network b\n");
	free(t);
	/* Replacing a's section keeps b's and moves a's to the end. */
	assert_int_equal(net_hosts_set_section(path, "a", "10.0.0.9\tw\n", NULL), 0);
	t = slurp(path);
	assert_string_equal(t, "127.0.0.1\tlocalhost\n10.0.0.2\tme\n"
			       "# berth network b: other containers (kept current by berth)\n"
			       "10.1.0.3\ty\n10.1.0.4\tz\n"
			       "# end of berth network b\n"
			       "# berth network a: other containers (kept current by berth)\n"
			       "10.0.0.9\tw\n"
			       "# end of berth network a\n");
	free(t);
	/* Removing both gives the original back, same inode, shorter file. */
	assert_int_equal(net_hosts_set_section(path, "b", NULL, NULL), 0);
	assert_int_equal(net_hosts_set_section(path, "a", "", NULL), 0);
	assert_int_equal(net_hosts_set_section(path, "a", "", NULL), 0);
	t = slurp(path);
	assert_string_equal(t, "127.0.0.1\tlocalhost\n10.0.0.2\tme\n");
	free(t);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(st0.st_ino, st1.st_ino);

	struct berr *err = NULL;
	assert_int_equal(net_hosts_set_section("/nonexistent/berth/hosts", "a", "x\n", &err),
			 -ENOENT);
	berr_free(err);
	err = NULL;
	assert_int_equal(net_hosts_set_section(path, "a\nb", "x\n", &err), -EINVAL);
	berr_free(err);
}

static void render_resolv(const char *host, const struct net_resolv_opts *o, const char *want)
{
	struct buf b = BUF_INIT;
	struct berr *err = NULL;
	if (net_resolv_render(host, o, &b, &err) < 0)
		fail_msg("%s", err->msg);
	if (strcmp(b.data ? b.data : "", want) != 0)
		fail_msg("got:\n%s\nwant:\n%s", b.data, want);
	buf_free(&b);
}

static void test_resolv(void **state)
{
	struct net_resolv_opts none = {0};
	/* Loopback servers go, the rest stay; search and options are kept. */
	render_resolv("# generated\n"
		      "nameserver 127.0.0.53\n"
		      "nameserver 192.0.2.53\n"
		      "nameserver ::1\n"
		      "nameserver 2001:db8::53\n"
		      "search example.org corp.example\n"
		      "options ndots:2 timeout:1\n"
		      "sortlist 10.0.0.0/8\n",
		      &none,
		      "nameserver 192.0.2.53\n"
		      "search example.org corp.example\n"
		      "options ndots:2 timeout:1\n");
	/* With IPv6, IPv6 servers stay (::1 still goes). */
	struct net_resolv_opts v6 = {.ipv6 = 1};
	render_resolv("nameserver ::1\nnameserver 2001:db8::53\nnameserver fe80::1%eth0\n", &v6,
		      "nameserver 2001:db8::53\nnameserver fe80::1%eth0\n");
	/* Nothing reachable left: Docker's fallback. */
	render_resolv("nameserver 127.0.0.1\nnameserver 127.0.1.1\n", &none,
		      "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
	render_resolv("", &none, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
	render_resolv(NULL, &none, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
	/* Odd spacing, a trailing comment, CRLF, the last search/domain line wins. */
	render_resolv("  nameserver\t192.0.2.1  # office\r\n"
		      "domain a.example\n"
		      "search b.example\n"
		      "nameserver not-an-ip\n",
		      &none, "nameserver 192.0.2.1\nsearch b.example\n");

	/* --dns, --dns-search, --dns-option replace the host's. */
	struct strv dns = STRV_INIT, search = STRV_INIT, opts = STRV_INIT;
	strv_push(&dns, "10.0.0.2");
	strv_push(&dns, "127.0.0.1");
	strv_push(&search, "x.example");
	strv_push(&search, "y.example");
	strv_push(&opts, "ndots:5");
	struct net_resolv_opts user = {.dns = &dns, .dns_search = &search, .dns_options = &opts};
	render_resolv("nameserver 192.0.2.53\nsearch h.example\noptions rotate\n", &user,
		      "nameserver 10.0.0.2\nnameserver 127.0.0.1\n"
		      "search x.example y.example\n"
		      "options ndots:5\n");
	/* "." means no search domains at all. */
	struct strv dot = STRV_INIT;
	strv_push(&dot, ".");
	struct net_resolv_opts nosearch = {.dns_search = &dot};
	render_resolv("nameserver 192.0.2.53\nsearch h.example\n", &nosearch,
		      "nameserver 192.0.2.53\n");

	struct strv baddns = STRV_INIT;
	strv_push(&baddns, "dns.example");
	struct net_resolv_opts bad = {.dns = &baddns};
	struct buf b = BUF_INIT;
	struct berr *err = NULL;
	assert_int_equal(net_resolv_render("", &bad, &b, &err), -EINVAL);
	assert_string_equal(err->msg, "invalid IP address for --dns: dns.example");
	berr_free(err);
	buf_free(&b);
	strv_free(&baddns);
	strv_free(&dot);
	strv_free(&dns);
	strv_free(&search);
	strv_free(&opts);
}

static void test_resolv_read_host(void **state)
{
	struct fixture *f = *state;
	char path[512];
	snprintf(path, sizeof(path), "%s/resolv.conf", f->root);
	FILE *fp = fopen(path, "w");
	fputs("nameserver 192.0.2.9\n", fp);
	fclose(fp);
	char *t = NULL;
	assert_int_equal(net_resolv_read_host(path, &t, NULL), 0);
	assert_string_equal(t, "nameserver 192.0.2.9\n");
	free(t);
	snprintf(path, sizeof(path), "%s/missing", f->root);
	assert_int_equal(net_resolv_read_host(path, &t, NULL), 0);
	assert_string_equal(t, "");
	free(t);
	/* The host's own file reads (whatever it holds) and renders. */
	assert_int_equal(net_resolv_read_host(NULL, &t, NULL), 0);
	struct net_resolv_opts none = {0};
	struct buf b = BUF_INIT;
	assert_int_equal(net_resolv_render(t, &none, &b, NULL), 0);
	assert_non_null(strstr(b.data, "nameserver "));
	assert_null(strstr(b.data, "nameserver 127."));
	buf_free(&b);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ip4),
	    cmocka_unit_test(test_subnet),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_default),
	    cmocka_unit_test_setup_teardown(test_create_load_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json_roundtrip_and_corrupt, setup, teardown),
	    cmocka_unit_test(test_hosts_render),
	    cmocka_unit_test_setup_teardown(test_hosts_sections, setup, teardown),
	    cmocka_unit_test(test_resolv),
	    cmocka_unit_test_setup_teardown(test_resolv_read_host, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
