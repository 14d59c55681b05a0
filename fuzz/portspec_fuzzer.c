/* net_port_parse and net_port_parse_expose on arbitrary bytes. Beyond not crashing:
 *   - a failure appends nothing and always explains itself;
 *   - every mapping parsed prints back (host ip, host port range, container port, proto)
 *     as a short spec that parses to exactly that one mapping;
 *   - the inspect JSON of the result reads back to the same mappings;
 *   - the ps and port renderings never fail.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "ports.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const struct net_port *a, const struct net_port *b)
{
	return a->proto == b->proto && a->container_port == b->container_port &&
	       a->published == b->published && a->family == b->family &&
	       strcmp(a->host_ip, b->host_ip) == 0 && a->host_port == b->host_port &&
	       a->host_port_last == b->host_port_last;
}

static void respec(const struct net_port *p)
{
	char spec[128], hp[16] = "";
	if (p->host_port_last > p->host_port)
		snprintf(hp, sizeof(hp), "%u-%u", p->host_port, p->host_port_last);
	else if (p->host_port)
		snprintf(hp, sizeof(hp), "%u", p->host_port);
	if (p->family == AF_INET6)
		snprintf(spec, sizeof(spec), "[%s]:%s:%u/%s", p->host_ip, hp, p->container_port,
			 net_proto_name(p->proto));
	else if (p->family == AF_INET)
		snprintf(spec, sizeof(spec), "%s:%s:%u/%s", p->host_ip, hp, p->container_port,
			 net_proto_name(p->proto));
	else
		snprintf(spec, sizeof(spec), "%s%s%u/%s", hp, *hp ? ":" : "", p->container_port,
			 net_proto_name(p->proto));
	struct net_ports again = NET_PORTS_INIT;
	struct berr *err = NULL;
	if (net_port_parse(spec, &again, &err) < 0 || again.n != 1 || !same(&again.v[0], p)) {
		fprintf(stderr, "'%s' does not parse back: %s\n", spec,
			err ? err->msg : "mismatch");
		abort();
	}
	net_ports_free(&again);
}

static void check(const char *s, int expose)
{
	struct net_ports ps = NET_PORTS_INIT;
	struct berr *err = NULL;
	int r = expose ? net_port_parse_expose(s, &ps, &err) : net_port_parse(s, &ps, &err);
	if (r < 0) {
		if (!err || !err->msg || !*err->msg || ps.n != 0)
			abort();
		berr_free(err);
		return;
	}
	if (err || ps.n == 0 || ps.n > 65535)
		abort();
	/* A whole-range spec expands to 65535 entries: check the ends, not every one. */
	for (size_t i = 0; i < ps.n; i = i < 8 || i + 8 >= ps.n ? i + 1 : ps.n - 8) {
		const struct net_port *p = &ps.v[i];
		if (p->container_port == 0 || p->published == expose)
			abort();
		if (!expose)
			respec(p);
	}
	if (ps.n <= 1024) {
		json_t *j = net_ports_to_json(&ps);
		struct net_ports back = NET_PORTS_INIT;
		if (!j || net_ports_from_json(j, &back, NULL) < 0)
			abort();
		/* JSON groups by container port: compare as multisets. */
		if (back.n != ps.n)
			abort();
		for (size_t i = 0; i < ps.n; i++) {
			size_t k;
			for (k = 0; k < back.n && !same(&back.v[k], &ps.v[i]); k++)
				;
			if (k == back.n)
				abort();
		}
		net_ports_free(&back);
		json_decref(j);
		struct buf b = BUF_INIT;
		if (net_ports_format_ps(&ps, &b) < 0 || net_ports_format_port_cmd(&ps, &b) < 0)
			abort();
		buf_free(&b);
	}
	net_ports_free(&ps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 512)
		return 0;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check(s, 0);
	check(s, 1);
	free(s);
	return 0;
}
