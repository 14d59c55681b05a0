/* Port specs as docker parses them (go-connections/nat ParsePortSpec and the CLI's long
 * form), their display forms (docker ps, docker port, inspect), and host port reservation.
 * Expected values follow the Go code and its tests, worked out by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "ports.h"

/* One mapping as "family|host ip|host port-last|container port/proto", family U, 4 or 6,
 * or "x|container port/proto" for an exposed-only port; mappings joined by ";". */
static char *describe(const struct net_ports *ps)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < ps->n; i++) {
		const struct net_port *p = &ps->v[i];
		if (i)
			buf_putc(&b, ';');
		if (!p->published) {
			buf_printf(&b, "x|%u/%s", p->container_port, net_proto_name(p->proto));
			continue;
		}
		char f = p->family == AF_INET ? '4' : p->family == AF_INET6 ? '6' : 'U';
		buf_printf(&b, "%c|%s|%u-%u|%u/%s", f, p->host_ip, p->host_port, p->host_port_last,
			   p->container_port, net_proto_name(p->proto));
	}
	return buf_steal(&b);
}

struct parse_case {
	const char *spec;
	const char *want; /* describe() of the result, or NULL for an error */
	const char *error;
};

static const struct parse_case cases[] = {
    {"80", "U||0-0|80/tcp", NULL},
    {"8080:80", "U||8080-8080|80/tcp", NULL},
    {"127.0.0.1:8080:80", "4|127.0.0.1|8080-8080|80/tcp", NULL},
    {"0.0.0.0:8080:80", "4|0.0.0.0|8080-8080|80/tcp", NULL},
    {"[::1]:8080:80", "6|::1|8080-8080|80/tcp", NULL},
    {"::1:80:80", "6|::1|80-80|80/tcp", NULL},
    {"2001:4860:0:2001::68::333", "6|2001:4860:0:2001::68|0-0|333/tcp", NULL},
    {"[2001:4860:0:2001::68]::333", "6|2001:4860:0:2001::68|0-0|333/tcp", NULL},
    {"::::80", "6|::|0-0|80/tcp", NULL},
    {"[0:0:0:0:0:0:0:1]:8080:80", "6|::1|8080-8080|80/tcp", NULL},
    {"192.168.1.100::80", "4|192.168.1.100|0-0|80/tcp", NULL},
    {"192.168.1.100::6000/udp", "4|192.168.1.100|0-0|6000/udp", NULL},
    {"192.168.1.100:8080:80", "4|192.168.1.100|8080-8080|80/tcp", NULL},
    {"80/udp", "U||0-0|80/udp", NULL},
    {"80/UDP", "U||0-0|80/udp", NULL},
    {"80/", "U||0-0|80/tcp", NULL},
    {"3456:3456/sctp", "U||3456-3456|3456/sctp", NULL},
    {"1234-1236/tcp", "U||0-0|1234/tcp;U||0-0|1235/tcp;U||0-0|1236/tcp", NULL},
    {"8000-8002:80-82", "U||8000-8000|80/tcp;U||8001-8001|81/tcp;U||8002-8002|82/tcp", NULL},
    {"0.0.0.0:1234-1235:3333-3334/tcp", "4|0.0.0.0|1234-1234|3333/tcp;4|0.0.0.0|1235-1235|3334/tcp",
     NULL},
    /* A host range for one container port: any free port of the range. */
    {"8000-8010:80", "U||8000-8010|80/tcp", NULL},
    {"8000-8000:80", "U||8000-8000|80/tcp", NULL},
    {"0123:80", "U||123-123|80/tcp", NULL},
    {"0:80", "U||0-0|80/tcp", NULL},
    {"65535:65535/udp", "U||65535-65535|65535/udp", NULL},
    /* docker run's long form. */
    {"target=80,published=8080,protocol=udp", "U||8080-8080|80/udp", NULL},
    {"target=80", "U||0-0|80/tcp", NULL},
    {"published=8080,target=80,mode=host", "U||8080-8080|80/tcp", NULL},

    {"", NULL, "no port specified: <empty>"},
    {"8080:", NULL, "no port specified: 8080:<empty>"},
    {"/udp", NULL, "no port specified: /udp<empty>"},
    {"80/icmp", NULL, "invalid proto: icmp"},
    {"80/tcp/x", NULL, "invalid proto: tcp/x"},
    {"localhost:8080:80", NULL, "invalid IP address: localhost"},
    {"1.2.3.4.5:80:80", NULL, "invalid IP address: 1.2.3.4.5"},
    {"01.2.3.4:80:80", NULL, "invalid IP address: 01.2.3.4"},
    {"[::1:8080:80", NULL, "invalid IP address [::1: missing ']' in address"},
    {"[::1]x:8080:80", NULL, "invalid IP address [::1]x: missing ']' in address"},
    {"fe80::1%eth0:80:80", NULL, "invalid IP address: fe80::1%eth0"},
    {"192.168.1.100", NULL, "invalid containerPort: 192.168.1.100"},
    {"192.168.1.100:-1:-1", NULL, "invalid containerPort: -1"},
    {"80a", NULL, "invalid containerPort: 80a"},
    {" 80", NULL, "invalid containerPort:  80"},
    {"+80", NULL, "invalid containerPort: +80"},
    {"65536", NULL, "invalid containerPort: 65536"},
    {"99999999999999999999", NULL, "invalid containerPort: 99999999999999999999"},
    {"83-80", NULL, "invalid containerPort: 83-80"},
    {"1-2-3", NULL, "invalid containerPort: 1-2-3"},
    {"0", NULL, "invalid containerPort: 0"},
    {"x:80", NULL, "invalid hostPort: x"},
    {"70000:80", NULL, "invalid hostPort: 70000"},
    {"90-80:80", NULL, "invalid hostPort: 90-80"},
    {"8000-8003:80-81", NULL,
     "invalid ranges specified for container and host Ports: 80-81 and 8000-8003"},
    {"8000:80-81", NULL, "invalid ranges specified for container and host Ports: 80-81 and 8000"},
    {"published=8080", NULL, "invalid publish opts format (target is missing)"},
    {"=5,target=80", NULL, "invalid publish opts format (should be name=value but got '=5')"},
    {"target=80,junk", NULL, "invalid publish opts format (should be name=value but got 'junk')"},
    {"target=x", NULL, "invalid containerPort: x"},
    {"target=80,protocol=icmp", NULL, "invalid proto: icmp"},
};

static void test_parse_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];
		struct net_ports ps = NET_PORTS_INIT;
		struct berr *err = NULL;
		int r = net_port_parse(c->spec, &ps, &err);
		if (c->want) {
			if (r < 0)
				fail_msg("'%s': %s", c->spec, err ? err->msg : "?");
			char *got = describe(&ps);
			if (strcmp(got, c->want) != 0)
				fail_msg("'%s': got '%s', want '%s'", c->spec, got, c->want);
			free(got);
			assert_null(err);
		} else {
			if (r >= 0)
				fail_msg("'%s' parsed, want error '%s'", c->spec, c->error);
			assert_int_equal(r, -EINVAL);
			assert_non_null(err);
			if (strcmp(err->msg, c->error) != 0)
				fail_msg("'%s': error '%s', want '%s'", c->spec, err->msg,
					 c->error);
			/* All or nothing. */
			assert_int_equal(ps.n, 0);
		}
		berr_free(err);
		net_ports_free(&ps);
	}
}

static void test_parse_appends(void **state)
{
	struct net_ports ps = NET_PORTS_INIT;
	assert_int_equal(net_port_parse("8080:80", &ps, NULL), 0);
	assert_int_equal(net_port_parse("90-91/udp", &ps, NULL), 0);
	/* A failing spec leaves the earlier ones alone. */
	assert_int_equal(net_port_parse("80x", &ps, NULL), -EINVAL);
	char *got = describe(&ps);
	assert_string_equal(got, "U||8080-8080|80/tcp;U||0-0|90/udp;U||0-0|91/udp");
	free(got);
	net_ports_free(&ps);
}

static void test_expose(void **state)
{
	struct net_ports ps = NET_PORTS_INIT;
	struct berr *err = NULL;
	assert_int_equal(net_port_parse_expose("80", &ps, NULL), 0);
	assert_int_equal(net_port_parse_expose("8000-8002/udp", &ps, NULL), 0);
	assert_int_equal(net_port_parse_expose("53/UDP", &ps, NULL), 0);
	char *got = describe(&ps);
	assert_string_equal(got, "x|80/tcp;x|8000/udp;x|8001/udp;x|8002/udp;x|53/udp");
	free(got);
	assert_int_equal(net_port_parse_expose("0", &ps, &err), -EINVAL);
	assert_string_equal(err->msg, "invalid range format for --expose: 0");
	berr_free(err);
	err = NULL;
	assert_int_equal(net_port_parse_expose("80/icmp", &ps, &err), -EINVAL);
	assert_string_equal(err->msg, "invalid proto: icmp");
	berr_free(err);
	err = NULL;
	assert_int_equal(net_port_parse_expose("1:2", &ps, &err), -EINVAL);
	berr_free(err);
	assert_int_equal(ps.n, 5);
	net_ports_free(&ps);
}

static void test_publish_all(void **state)
{
	struct net_ports ps = NET_PORTS_INIT;
	assert_int_equal(net_port_parse_expose("80", &ps, NULL), 0);
	assert_int_equal(net_port_parse_expose("81", &ps, NULL), 0);
	assert_int_equal(net_port_parse_expose("81/udp", &ps, NULL), 0);
	assert_int_equal(net_port_parse("127.0.0.1:8080:80", &ps, NULL), 0);
	net_ports_publish_all(&ps);
	char *got = describe(&ps);
	/* 80/tcp is published already (-p wins over -P); the others get a random port. */
	assert_string_equal(got,
			    "x|80/tcp;U||0-0|81/tcp;U||0-0|81/udp;4|127.0.0.1|8080-8080|80/tcp");
	free(got);
	net_ports_free(&ps);
}

static struct net_port mk(int published, int family, const char *ip, uint16_t hp, uint16_t cp,
			  enum net_proto proto)
{
	struct net_port p = {0};
	p.published = published;
	p.family = family;
	snprintf(p.host_ip, sizeof(p.host_ip), "%s", ip);
	p.host_port = p.host_port_last = hp;
	p.container_port = cp;
	p.proto = proto;
	return p;
}

static char *ps_string(const struct net_port *v, size_t n)
{
	struct net_ports ps = NET_PORTS_INIT;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(net_ports_add(&ps, &v[i]), 0);
	struct buf b = BUF_INIT;
	assert_int_equal(net_ports_format_ps(&ps, &b), 0);
	net_ports_free(&ps);
	char *s = buf_steal(&b);
	return s;
}

#define PS(want, ...)                                                                              \
	do {                                                                                       \
		struct net_port v_[] = {__VA_ARGS__};                                              \
		char *s_ = ps_string(v_, sizeof(v_) / sizeof(v_[0]));                              \
		if (strcmp(s_, want) != 0)                                                         \
			fail_msg("ps: got '%s', want '%s'", s_, want);                             \
		free(s_);                                                                          \
	} while (0)

static void test_format(void **state)
{
	struct buf b = BUF_INIT;
	struct net_port p = mk(1, AF_INET, "0.0.0.0", 9999, 80, NET_PROTO_TCP);
	assert_int_equal(net_port_format(&p, &b), 0);
	buf_puts(&b, " ");
	p = mk(1, AF_INET6, "::1", 9999, 80, NET_PROTO_UDP);
	net_port_format(&p, &b);
	buf_puts(&b, " ");
	p = mk(0, 0, "", 0, 53, NET_PROTO_UDP);
	net_port_format(&p, &b);
	buf_puts(&b, " ");
	p = mk(1, AF_UNSPEC, "", 8080, 80, NET_PROTO_TCP);
	net_port_format(&p, &b);
	assert_string_equal(b.data, "0.0.0.0:9999->80/tcp [::1]:9999->80/udp 53/udp "
				    "0.0.0.0:8080->80/tcp");
	buf_free(&b);

	/* docker ps (the cases of the CLI's DisplayablePorts tests, in berth's terms). */
	PS("9988/tcp", mk(0, 0, "", 0, 9988, NET_PROTO_TCP));
	PS("9988/udp", mk(0, 0, "", 0, 9988, NET_PROTO_UDP));
	PS("0.0.0.0:0->9988/tcp", mk(1, AF_INET, "0.0.0.0", 0, 9988, NET_PROTO_TCP));
	PS("4.3.2.1:8899->9988/tcp", mk(1, AF_INET, "4.3.2.1", 8899, 9988, NET_PROTO_TCP));
	PS("4.3.2.1:9988->9988/tcp", mk(1, AF_INET, "4.3.2.1", 9988, 9988, NET_PROTO_TCP));
	PS("9988/udp, 9988/udp", mk(0, 0, "", 0, 9988, NET_PROTO_UDP),
	   mk(0, 0, "", 0, 9988, NET_PROTO_UDP));
	PS("1.2.3.4:9998-9999->9998-9999/udp", mk(1, AF_INET, "1.2.3.4", 9998, 9998, NET_PROTO_UDP),
	   mk(1, AF_INET, "1.2.3.4", 9999, 9999, NET_PROTO_UDP));
	PS("1.2.3.4:8887->9998/udp, 1.2.3.4:8888->9999/udp",
	   mk(1, AF_INET, "1.2.3.4", 8888, 9999, NET_PROTO_UDP),
	   mk(1, AF_INET, "1.2.3.4", 8887, 9998, NET_PROTO_UDP));
	PS("6677-6678/tcp", mk(0, 0, "", 0, 6678, NET_PROTO_TCP),
	   mk(0, 0, "", 0, 6677, NET_PROTO_TCP));
	PS("6677/tcp, 6679/tcp", mk(0, 0, "", 0, 6679, NET_PROTO_TCP),
	   mk(0, 0, "", 0, 6677, NET_PROTO_TCP));
	/* The usual `run -p 8080:80` of an image exposing 80 and 81. */
	PS("80-81/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp",
	   mk(1, AF_INET6, "::", 8080, 80, NET_PROTO_TCP), mk(0, 0, "", 0, 81, NET_PROTO_TCP),
	   mk(1, AF_INET, "0.0.0.0", 8080, 80, NET_PROTO_TCP), mk(0, 0, "", 0, 80, NET_PROTO_TCP));
	/* IPv4 sorts before IPv6, then by address bytes. */
	PS("0.0.0.0:80->80/tcp, 10.0.0.1:80->80/tcp, [::]:80->80/tcp",
	   mk(1, AF_INET6, "::", 80, 80, NET_PROTO_TCP),
	   mk(1, AF_INET, "10.0.0.1", 80, 80, NET_PROTO_TCP),
	   mk(1, AF_INET, "0.0.0.0", 80, 80, NET_PROTO_TCP));

	/* docker port. */
	struct net_ports ps = NET_PORTS_INIT;
	struct net_port v[] = {mk(1, AF_INET6, "::", 8080, 80, NET_PROTO_TCP),
			       mk(1, AF_INET, "0.0.0.0", 8080, 80, NET_PROTO_TCP),
			       mk(0, 0, "", 0, 81, NET_PROTO_TCP),
			       mk(1, AF_INET, "127.0.0.1", 5353, 53, NET_PROTO_UDP)};
	for (size_t i = 0; i < 4; i++)
		net_ports_add(&ps, &v[i]);
	struct buf pb = BUF_INIT;
	assert_int_equal(net_ports_format_port_cmd(&ps, &pb), 0);
	assert_string_equal(pb.data, "53/udp -> 127.0.0.1:5353\n"
				     "80/tcp -> 0.0.0.0:8080\n"
				     "80/tcp -> [::]:8080\n");
	buf_free(&pb);
	net_ports_free(&ps);
}

static void test_empty_ps(void **state)
{
	struct net_ports ps = NET_PORTS_INIT;
	struct buf b = BUF_INIT;
	assert_int_equal(net_ports_format_ps(&ps, &b), 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void test_json(void **state)
{
	struct net_ports ps = NET_PORTS_INIT;
	assert_int_equal(net_port_parse("8080:80", &ps, NULL), 0);
	assert_int_equal(net_port_parse("127.0.0.1::53/udp", &ps, NULL), 0);
	assert_int_equal(net_port_parse("9000-9009:81", &ps, NULL), 0);
	assert_int_equal(net_port_parse_expose("82", &ps, NULL), 0);
	json_t *j = net_ports_to_json(&ps);
	assert_non_null(j);
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(s, "{\"53/udp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"\"}],"
			       "\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"8080\"}],"
			       "\"81/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"9000-9009\"}],"
			       "\"82/tcp\":null}");
	free(s);

	/* Back again: the same mappings. */
	struct net_ports back = NET_PORTS_INIT;
	assert_int_equal(net_ports_from_json(j, &back, NULL), 0);
	char *a = describe(&ps), *b = describe(&back);
	assert_string_equal(a, b);
	free(a);
	free(b);
	json_decref(j);
	net_ports_free(&back);
	net_ports_free(&ps);

	/* Untrusted shapes are refused, and leave nothing behind. */
	static const char *bad[] = {
	    "[]",
	    "{\"80/icmp\":null}",
	    "{\"80-81/tcp\":null}",
	    "{\"80/tcp\":5}",
	    "{\"80/tcp\":[5]}",
	    "{\"80/tcp\":[{\"HostIp\":1}]}",
	    "{\"80/tcp\":[{\"HostIp\":\"x\"}]}",
	    "{\"80/tcp\":[{\"HostPort\":\"abc\"}]}",
	    "{\"80/tcp\":null,\"81/tcp\":[{\"HostPort\":\"70000\"}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *bj = json_loads(bad[i], 0, NULL);
		assert_non_null(bj);
		struct net_ports out = NET_PORTS_INIT;
		struct berr *err = NULL;
		if (net_ports_from_json(bj, &out, &err) >= 0)
			fail_msg("accepted %s", bad[i]);
		assert_non_null(err);
		assert_int_equal(out.n, 0);
		berr_free(err);
		net_ports_free(&out);
		json_decref(bj);
	}
}

/*
 * Reservation, on loopback addresses only.
 */

static int can_bind(int family, const char *ip, uint16_t port)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_storage ss = {0};
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		inet_pton(AF_INET, ip, &s->sin_addr);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &s->sin6_addr);
		len = sizeof(*s);
	}
	int ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
	close(fd);
	return ok;
}

static void test_reserve(void **state)
{
	struct net_ports ps = NET_PORTS_INIT;
	struct net_port_rsvs r = NET_PORT_RSVS_INIT;
	struct berr *err = NULL;
	assert_int_equal(net_port_parse("127.0.0.1::80", &ps, NULL), 0);
	assert_int_equal(net_ports_reserve(&ps, &r, &err), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].port.family, AF_INET);
	assert_string_equal(r.v[0].port.host_ip, "127.0.0.1");
	uint16_t port = r.v[0].port.host_port;
	assert_true(port > 0);
	assert_true(r.v[0].fd >= 0);
	/* The port is held: nobody can bind it now... */
	assert_false(can_bind(AF_INET, "127.0.0.1", port));
	assert_false(can_bind(AF_INET, "0.0.0.0", port));

	/* ...and a second reservation of it fails with Docker's message. */
	char spec[64], want[128];
	snprintf(spec, sizeof(spec), "127.0.0.1:%u:81", port);
	struct net_ports ps2 = NET_PORTS_INIT;
	struct net_port_rsvs r2 = NET_PORT_RSVS_INIT;
	assert_int_equal(net_port_parse(spec, &ps2, NULL), 0);
	assert_int_equal(net_ports_reserve(&ps2, &r2, &err), -EADDRINUSE);
	snprintf(want, sizeof(want), "Bind for 127.0.0.1:%u failed: port is already allocated",
		 port);
	assert_string_equal(err->msg, want);
	assert_int_equal(r2.n, 0);
	berr_free(err);
	err = NULL;
	net_ports_free(&ps2);

	/* A range skips the taken port. */
	snprintf(spec, sizeof(spec), "127.0.0.1:%u-%u:81", port, port + 1);
	if (port < 65535 && can_bind(AF_INET, "127.0.0.1", port + 1)) {
		assert_int_equal(net_port_parse(spec, &ps2, NULL), 0);
		assert_int_equal(net_ports_reserve(&ps2, &r2, &err), 0);
		assert_int_equal(r2.n, 1);
		assert_int_equal(r2.v[0].port.host_port, port + 1);
		net_port_rsvs_free(&r2);
		net_ports_free(&ps2);
	}

	/* Released with the reservation. */
	net_port_rsvs_free(&r);
	assert_int_equal(r.n, 0);
	assert_true(can_bind(AF_INET, "127.0.0.1", port));
	net_ports_free(&ps);
}

static void test_reserve_all_or_nothing(void **state)
{
	/* Hold a port, then ask for a free one and the held one: the free one must be let go. */
	struct net_ports hold = NET_PORTS_INIT, ps = NET_PORTS_INIT;
	struct net_port_rsvs rh = NET_PORT_RSVS_INIT, r = NET_PORT_RSVS_INIT;
	assert_int_equal(net_port_parse("127.0.0.1::80", &hold, NULL), 0);
	assert_int_equal(net_ports_reserve(&hold, &rh, NULL), 0);
	uint16_t held = rh.v[0].port.host_port;

	struct net_ports probe = NET_PORTS_INIT;
	struct net_port_rsvs rp = NET_PORT_RSVS_INIT;
	assert_int_equal(net_port_parse("127.0.0.1::80", &probe, NULL), 0);
	assert_int_equal(net_ports_reserve(&probe, &rp, NULL), 0);
	uint16_t free_port = rp.v[0].port.host_port;
	net_port_rsvs_free(&rp);
	net_ports_free(&probe);

	char spec[64];
	snprintf(spec, sizeof(spec), "127.0.0.1:%u:80", free_port);
	assert_int_equal(net_port_parse(spec, &ps, NULL), 0);
	snprintf(spec, sizeof(spec), "127.0.0.1:%u:81", held);
	assert_int_equal(net_port_parse(spec, &ps, NULL), 0);
	struct berr *err = NULL;
	assert_int_equal(net_ports_reserve(&ps, &r, &err), -EADDRINUSE);
	berr_free(err);
	assert_int_equal(r.n, 0);
	assert_true(can_bind(AF_INET, "127.0.0.1", free_port));

	net_port_rsvs_free(&rh);
	net_ports_free(&hold);
	net_ports_free(&ps);
}

static void test_reserve_both_families(void **state)
{
	if (!can_bind(AF_INET6, "::1", 0))
		skip();
	struct net_ports ps = NET_PORTS_INIT;
	struct net_port_rsvs r = NET_PORT_RSVS_INIT;
	assert_int_equal(net_port_parse("0:80", &ps, NULL), 0);
	assert_int_equal(net_port_parse("[::1]::53/udp", &ps, NULL), 0);
	assert_int_equal(net_ports_reserve(&ps, &r, NULL), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.v[0].port.family, AF_INET);
	assert_string_equal(r.v[0].port.host_ip, "0.0.0.0");
	assert_int_equal(r.v[1].port.family, AF_INET6);
	assert_string_equal(r.v[1].port.host_ip, "::");
	/* One port number for both halves of an "every address" mapping. */
	assert_int_equal(r.v[0].port.host_port, r.v[1].port.host_port);
	assert_int_equal(r.v[2].port.family, AF_INET6);
	assert_int_equal(r.v[2].port.proto, NET_PROTO_UDP);

	/* The IPv6 TCP half is a listening socket (the proxy's): a client connects. */
	int c = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
				  .sin6_port = htons(r.v[1].port.host_port)};
	inet_pton(AF_INET6, "::1", &sa.sin6_addr);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(c);

	struct net_ports back = NET_PORTS_INIT;
	assert_int_equal(net_port_rsvs_ports(&r, &back), 0);
	assert_int_equal(back.n, 3);
	struct buf b = BUF_INIT;
	net_port_format(&back.v[0], &b);
	char want[64];
	snprintf(want, sizeof(want), "0.0.0.0:%u->80/tcp", r.v[0].port.host_port);
	assert_string_equal(b.data, want);
	buf_free(&b);
	net_ports_free(&back);
	net_port_rsvs_free(&r);
	net_ports_free(&ps);
}

static void test_reserve_foreign_address(void **state)
{
	/* 203.0.113.0/24 is TEST-NET-3: never an address of this host. Nothing is sent. */
	struct net_ports ps = NET_PORTS_INIT;
	struct net_port_rsvs r = NET_PORT_RSVS_INIT;
	struct berr *err = NULL;
	assert_int_equal(net_port_parse("203.0.113.7:18080:80", &ps, NULL), 0);
	assert_int_equal(net_ports_reserve(&ps, &r, &err), -EADDRNOTAVAIL);
	assert_string_equal(err->msg,
			    "Bind for 203.0.113.7:18080 failed: address is not on this host");
	berr_free(err);
	net_ports_free(&ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_parse_appends),
	    cmocka_unit_test(test_expose),
	    cmocka_unit_test(test_publish_all),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_empty_ps),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_reserve),
	    cmocka_unit_test(test_reserve_all_or_nothing),
	    cmocka_unit_test(test_reserve_both_families),
	    cmocka_unit_test(test_reserve_foreign_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
