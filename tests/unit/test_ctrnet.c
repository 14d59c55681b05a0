/* The command side of container networking (src/cmd/ctrnet.c) without the kernel: the flags
 * of run/create turned into Docker's records, NetworkSettings for inspect, ps's PORTS and
 * port's lines, and what a config.json edited by hand does to them (never a crash). The
 * kernel side (namespaces, veths, rules) is tested by tests/cli/070-072. */
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
#include <unistd.h>

#include <jansson.h>

#include "fs.h"
#include "netconf.h"

#include "../../src/cmd/cmd.h"
#include "../../src/cmd/ctr.h"
#include "../../src/cmd/ctrnet.h"

struct fixture {
	char root[256];
	struct berth_ctx ctx;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	snprintf(f->root, sizeof(f->root), "%s/berth-ctrnet-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->root))
		return -1;
	f->ctx.root = f->root;
	f->ctx.runroot = f->root;
	f->ctx.config_path = "/nonexistent";
	f->ctx.cmd_name = "test";
	f->ctx.config =
	    json_pack("{s:{s:s,s:s}}", "bridge", "device", "btunit0", "subnet", "10.201.7.0/24");
	*state = f;
	return f->ctx.config ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fs_rm_rf_at(AT_FDCWD, f->root);
	json_decref(f->ctx.config);
	free(f);
	return 0;
}

static struct strv strv_of(const char *const *v)
{
	struct strv s = STRV_INIT;
	for (; v && *v; v++)
		assert_int_equal(strv_push(&s, *v), 0);
	return s;
}

static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	assert_non_null(s);
	return s;
}

static void assert_json(json_t *j, const char *want)
{
	char *s = dump(j);
	if (strcmp(s, want) != 0)
		fail_msg("got  %s\nwant %s", s, want);
	free(s);
}

static void test_parse_default_network(void **state)
{
	struct fixture *f = *state;
	struct strv publish = strv_of((const char *[]){"8080:80", "127.0.0.1:9000:90/udp", NULL});
	struct strv expose = strv_of((const char *[]){"7000", NULL});
	struct strv dns = strv_of((const char *[]){"192.0.2.53", NULL});
	struct ctrnet_opts o = {.publish = &publish, .expose = &expose, .dns = &dns};
	json_t *rec = NULL;
	struct berr *err = NULL;
	assert_int_equal(ctrnet_parse(&f->ctx, &o, &rec, &err), 0);
	assert_null(err);
	assert_string_equal(json_string_value(json_object_get(rec, "NetworkMode")), "bridge");
	assert_json(json_object_get(rec, "PortBindings"),
		    "{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"8080\"}],"
		    "\"90/udp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"9000\"}]}");
	assert_json(json_object_get(rec, "ExposedPorts"),
		    "{\"7000/tcp\":{},\"80/tcp\":{},\"90/udp\":{}}");
	assert_json(json_object_get(rec, "Dns"), "[\"192.0.2.53\"]");
	assert_true(json_is_null(json_object_get(rec, "DnsSearch")));
	assert_false(json_is_true(json_object_get(rec, "PublishAllPorts")));
	/* The endpoint names the default network by its fixed id. */
	struct net_conf nc = {0};
	assert_int_equal(net_conf_default(f->ctx.config, &nc, NULL), 0);
	json_t *ep = json_object_get(json_object_get(rec, "EndpointsConfig"), "bridge");
	assert_string_equal(json_string_value(json_object_get(ep, "NetworkID")), nc.id);
	net_conf_free(&nc);

	/* Recorded into a config being created: the image's exposed ports stay. */
	json_t *config = json_pack("{s:{s:{s:{}}},s:{s:s,s:{}}}", "Config", "ExposedPorts",
				   "443/tcp", "HostConfig", "NetworkMode", "none", "PortBindings");
	assert_int_equal(ctrnet_record(rec, config), 0);
	assert_json(json_object_get(json_object_get(config, "Config"), "ExposedPorts"),
		    "{\"443/tcp\":{},\"7000/tcp\":{},\"80/tcp\":{},\"90/udp\":{}}");
	json_t *hc = json_object_get(config, "HostConfig");
	assert_string_equal(json_string_value(json_object_get(hc, "NetworkMode")), "bridge");
	assert_non_null(json_object_get(
	    json_object_get(json_object_get(config, "NetworkingConfig"), "EndpointsConfig"),
	    "bridge"));
	/* Anything but an object is refused, not followed. */
	json_t *bad = json_pack("{s:s}", "Config", "x");
	assert_int_equal(ctrnet_record(rec, bad), -EINVAL);
	json_decref(bad);
	json_decref(config);
	json_decref(rec);
	strv_free(&publish);
	strv_free(&expose);
	strv_free(&dns);
}

static void test_parse_user_network(void **state)
{
	struct fixture *f = *state;
	struct net_create_opts co = {.name = "front", .subnet = "10.201.9.0/24"};
	struct net_conf nc = {0};
	assert_int_equal(net_conf_create(f->root, f->ctx.config, &co, &nc, NULL), 0);
	struct strv aliases = strv_of((const char *[]){"db", NULL});
	/* By id prefix: recorded by name, as Docker records it. */
	char prefix[13];
	snprintf(prefix, sizeof(prefix), "%.12s", nc.id);
	struct ctrnet_opts o = {.network = prefix, .ip = "10.201.9.20", .aliases = &aliases};
	json_t *rec = NULL;
	struct berr *err = NULL;
	assert_int_equal(ctrnet_parse(&f->ctx, &o, &rec, &err), 0);
	assert_string_equal(json_string_value(json_object_get(rec, "NetworkMode")), "front");
	char want[256];
	snprintf(want, sizeof(want),
		 "{\"Aliases\":[\"db\"],\"IPAMConfig\":{\"IPv4Address\":\"10.201.9.20\"},"
		 "\"NetworkID\":\"%s\"}",
		 nc.id);
	assert_json(json_object_get(json_object_get(rec, "EndpointsConfig"), "front"), want);
	json_decref(rec);
	/* An address outside the subnet is refused before anything exists. */
	o.ip = "10.201.10.1";
	rec = NULL;
	assert_int_equal(ctrnet_parse(&f->ctx, &o, &rec, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "10.201.10.1"));
	berr_freep(&err);
	json_decref(rec);
	net_conf_free(&nc);
	strv_free(&aliases);
}

static void test_parse_errors(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *network, *publish, *ip, *alias, *dns, *add_host;
		int code;
		const char *msg;
	} c[] = {
	    {NULL, "80a", NULL, NULL, NULL, NULL, EINVAL, "invalid containerPort: 80a"},
	    {NULL, "80/icmp", NULL, NULL, NULL, NULL, EINVAL, "invalid proto: icmp"},
	    {"nosuch", NULL, NULL, NULL, NULL, NULL, ENOENT, "network nosuch not found"},
	    {NULL, NULL, "10.201.7.9", NULL, NULL, NULL, EINVAL, "user defined networks only"},
	    {NULL, NULL, NULL, "db", NULL, NULL, EINVAL, "user defined networks"},
	    {"none", NULL, "10.1.1.1", NULL, NULL, NULL, EINVAL, "not supported with network"},
	    {"container:x", NULL, NULL, NULL, NULL, NULL, EOPNOTSUPP, "container:x"},
	    {NULL, NULL, NULL, NULL, "not-an-ip", NULL, EINVAL, "not-an-ip is not an ip address"},
	    {NULL, NULL, NULL, NULL, NULL, "nocolon", EINVAL, "nocolon"},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct strv publish = strv_of((const char *[]){c[i].publish, NULL});
		struct strv alias = strv_of((const char *[]){c[i].alias, NULL});
		struct strv dns = strv_of((const char *[]){c[i].dns, NULL});
		struct strv hosts = strv_of((const char *[]){c[i].add_host, NULL});
		struct ctrnet_opts o = {.network = c[i].network,
					.publish = &publish,
					.ip = c[i].ip,
					.aliases = &alias,
					.dns = &dns,
					.add_hosts = &hosts};
		json_t *rec = NULL;
		struct berr *err = NULL;
		int r = ctrnet_parse(&f->ctx, &o, &rec, &err);
		if (r != -c[i].code || !err || !strstr(err->msg, c[i].msg))
			fail_msg("case %zu: %d %s", i, r, err ? err->msg : "(no message)");
		assert_null(rec);
		berr_free(err);
		strv_free(&publish);
		strv_free(&alias);
		strv_free(&dns);
		strv_free(&hosts);
	}
	/* Host networking drops published ports (Docker warns), it does not fail. */
	struct strv publish = strv_of((const char *[]){"80:80", NULL});
	struct ctrnet_opts o = {.network = "host", .publish = &publish, .publish_all = 1};
	json_t *rec = NULL;
	assert_int_equal(ctrnet_parse(&f->ctx, &o, &rec, NULL), 0);
	assert_json(json_object_get(rec, "PortBindings"), "{}");
	assert_false(json_is_true(json_object_get(rec, "PublishAllPorts")));
	assert_int_equal(json_object_size(json_object_get(rec, "EndpointsConfig")), 0);
	json_decref(rec);
	strv_free(&publish);
}

/* A container as ctr_load gives it, from a config.json text. */
static void ctr_of(struct ctr *c, const char *config, enum rt_status status, pid_t pid)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%064d", 7);
	json_error_t je;
	c->config = json_loads(config, 0, &je);
	if (!c->config)
		fail_msg("bad fixture: %s", je.text);
	c->state.status = status;
	c->state.pid = pid;
	c->name = "web";
}

static const char running_config[] =
    "{\"HostConfig\":{\"NetworkMode\":\"bridge\"},"
    "\"NetworkingConfig\":{\"EndpointsConfig\":{\"bridge\":{\"NetworkID\":\"abc\"}}},"
    "\"NetworkSettings\":{\"IPAddress\":\"10.201.7.2\",\"Gateway\":\"10.201.7.1\","
    "\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8080\"},"
    "{\"HostIp\":\"::\",\"HostPort\":\"8080\"}],\"53/udp\":null},"
    "\"Networks\":{\"bridge\":{\"IPAddress\":\"10.201.7.2\",\"NetworkID\":\"abc\"}}}}";

static void test_settings_running_and_stopped(void **state)
{
	(void)state;
	struct ctr c;
	ctr_of(&c, running_config, RT_STATUS_RUNNING, 4242);
	json_t *ns = ctrnet_settings(&c);
	assert_non_null(ns);
	/* Docker's keys in Docker's order, the stored values, the sandbox of the pid. */
	const char *first[] = {"Bridge", "SandboxID", "SandboxKey", "Ports", "HairpinMode"};
	void *it = json_object_iter(ns);
	for (size_t i = 0; i < 5; i++, it = json_object_iter_next(ns, it))
		assert_string_equal(json_object_iter_key(it), first[i]);
	assert_string_equal(json_string_value(json_object_get(ns, "SandboxKey")),
			    "/proc/4242/ns/net");
	assert_string_equal(json_string_value(json_object_get(ns, "IPAddress")), "10.201.7.2");
	assert_int_equal(json_integer_value(json_object_get(ns, "IPPrefixLen")), 0);
	json_t *ep = json_object_get(json_object_get(ns, "Networks"), "bridge");
	assert_string_equal(json_string_value(json_object_get(ep, "NetworkID")), "abc");
	assert_true(json_is_null(json_object_get(ep, "DriverOpts")));
	json_decref(ns);

	char *ports = ctrnet_ps_ports(&c);
	assert_string_equal(ports, "53/udp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp");
	free(ports);
	char *lines = NULL;
	assert_int_equal(ctrnet_port_lines(&c, NULL, &lines, NULL), 0);
	assert_string_equal(lines, "80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n");
	free(lines);
	assert_int_equal(ctrnet_port_lines(&c, "80", &lines, NULL), 0);
	assert_string_equal(lines, "0.0.0.0:8080\n[::]:8080\n");
	free(lines);
	struct berr *err = NULL;
	assert_int_equal(ctrnet_port_lines(&c, "53/udp", &lines, &err), -ENOENT);
	assert_string_equal(err->msg, "No public port '53/udp' published for web");
	berr_freep(&err);
	assert_int_equal(ctrnet_port_lines(&c, "x/y", &lines, &err), -EINVAL);
	berr_freep(&err);
	ctr_free(&c);

	/* Stopped: what was stored is ignored; the networks without addresses. */
	ctr_of(&c, running_config, RT_STATUS_EXITED, 0);
	ns = ctrnet_settings(&c);
	assert_string_equal(json_string_value(json_object_get(ns, "IPAddress")), "");
	assert_json(json_object_get(ns, "Ports"), "{}");
	ep = json_object_get(json_object_get(ns, "Networks"), "bridge");
	assert_string_equal(json_string_value(json_object_get(ep, "NetworkID")), "abc");
	assert_string_equal(json_string_value(json_object_get(ep, "IPAddress")), "");
	json_decref(ns);
	ports = ctrnet_ps_ports(&c);
	assert_string_equal(ports, "");
	free(ports);
	ctr_free(&c);

	/* host and none: one entry under the mode's name. */
	ctr_of(&c, "{\"HostConfig\":{\"NetworkMode\":\"host\"}}", RT_STATUS_RUNNING, 1);
	ns = ctrnet_settings(&c);
	ep = json_object_get(json_object_get(ns, "Networks"), "host");
	assert_non_null(ep);
	assert_int_equal(strlen(json_string_value(json_object_get(ep, "NetworkID"))), 64);
	json_decref(ns);
	ctr_free(&c);
}

static void test_settings_of_corrupt_configs(void **state)
{
	(void)state;
	/* Every wrong type in a config.json someone edited: defaults, no crash. */
	static const char *const configs[] = {
	    "{}",
	    "{\"HostConfig\":5}",
	    "{\"HostConfig\":{\"NetworkMode\":7}}",
	    "{\"HostConfig\":{\"NetworkMode\":\"bridge\"},\"NetworkingConfig\":[]}",
	    "{\"HostConfig\":{\"NetworkMode\":\"bridge\"},\"NetworkingConfig\":{"
	    "\"EndpointsConfig\":"
	    "{\"bridge\":5,\"x\":{\"IPAMConfig\":\"s\",\"Aliases\":3,\"NetworkID\":[]}}}}",
	    "{\"NetworkSettings\":5}",
	    "{\"NetworkSettings\":{\"Ports\":5,\"Networks\":\"x\",\"IPAddress\":1,"
	    "\"HairpinMode\":\"yes\",\"SecondaryIPAddresses\":{}}}",
	    "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":5}}}",
	    "{\"NetworkSettings\":{\"Ports\":{\"nonsense\":null}}}",
	    "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":1,\"HostPort\":\"x\"}]}}}",
	    "{\"NetworkSettings\":{\"Networks\":{\"bridge\":5,\"n\":{\"IPAddress\":[]}}}}",
	};
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		for (int up = 0; up < 2; up++) {
			struct ctr c;
			ctr_of(&c, configs[i], up ? RT_STATUS_RUNNING : RT_STATUS_EXITED, 9);
			json_t *ns = ctrnet_settings(&c);
			assert_non_null(ns);
			assert_true(json_is_object(json_object_get(ns, "Ports")));
			assert_true(json_is_object(json_object_get(ns, "Networks")));
			assert_true(json_is_string(json_object_get(ns, "IPAddress")));
			assert_true(json_is_boolean(json_object_get(ns, "HairpinMode")));
			json_decref(ns);
			char *ports = ctrnet_ps_ports(&c);
			assert_non_null(ports);
			free(ports);
			char *lines = NULL;
			struct berr *err = NULL;
			if (ctrnet_port_lines(&c, NULL, &lines, &err) == 0)
				free(lines);
			berr_free(err);
			ctr_free(&c);
		}
	}
}

static void test_cleanup_without_state(void **state)
{
	struct fixture *f = *state;
	/* No such container, and one without network state: nothing to do, success. */
	char id[65];
	snprintf(id, sizeof(id), "%064d", 5);
	assert_int_equal(ctrnet_cleanup(f->root, id, NULL), 0);
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/containers/%s", f->root, id);
	assert_int_equal(fs_mkdir_p_at(AT_FDCWD, dir, 0700), 0);
	assert_int_equal(ctrnet_cleanup(f->root, id, NULL), 0);
	size_t n = 99;
	assert_int_equal(ctrnet_repair(&f->ctx, 0, &n, NULL), 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_parse_default_network, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_user_network, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_errors, setup, teardown),
	    cmocka_unit_test(test_settings_running_and_stopped),
	    cmocka_unit_test(test_settings_of_corrupt_configs),
	    cmocka_unit_test_setup_teardown(test_cleanup_without_state, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
