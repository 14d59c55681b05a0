#include "ports.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "banned.h"

static const char *const proto_names[] = {"tcp", "udp", "sctp"};

const char *net_proto_name(enum net_proto p)
{
	return (unsigned)p < ARRAY_SIZE(proto_names) ? proto_names[p] : "?";
}

int net_proto_parse(const char *s, enum net_proto *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(proto_names); i++)
		if (strcasecmp(s, proto_names[i]) == 0) {
			*ret = (enum net_proto)i;
			return 0;
		}
	return -EINVAL;
}

void net_ports_free(struct net_ports *ps)
{
	free(ps->v);
	ps->v = NULL;
	ps->n = 0;
}

int net_ports_add(struct net_ports *ps, const struct net_port *p)
{
	struct net_port *nv = realloc(ps->v, (ps->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	ps->v = nv;
	ps->v[ps->n++] = *p;
	return 0;
}

/* Go's strconv.ParseUint(s, 10, 16): decimal digits only (leading zeros allowed), no sign,
 * no spaces, at most 65535. Length is bounded so that an absurd string cannot overflow. */
static int parse_u16(const char *s, size_t len, uint16_t *ret)
{
	if (len == 0)
		return -EINVAL;
	unsigned long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > 65535)
			return -ERANGE;
	}
	*ret = (uint16_t)v;
	return 0;
}

/* "80" or "8000-8010" (go-connections' ParsePortRange, but a second '-' is an error). */
static int parse_range(const char *s, size_t len, uint16_t *ret_start, uint16_t *ret_end)
{
	const char *dash = memchr(s, '-', len);
	if (!dash) {
		if (parse_u16(s, len, ret_start) < 0)
			return -EINVAL;
		*ret_end = *ret_start;
		return 0;
	}
	size_t l1 = (size_t)(dash - s);
	if (parse_u16(s, l1, ret_start) < 0 || parse_u16(dash + 1, len - l1 - 1, ret_end) < 0 ||
	    *ret_end < *ret_start)
		return -EINVAL;
	return 0;
}

/* The IP part of a short spec: "", "1.2.3.4", "::1", or "[::1]". Fills p's family and
 * canonical host_ip. */
static int parse_host_ip(const char *ip, size_t len, struct net_port *p, struct berr **err)
{
	char tmp[INET6_ADDRSTRLEN + 2];
	if (len == 0) {
		p->family = AF_UNSPEC;
		p->host_ip[0] = '\0';
		return 0;
	}
	if (len >= sizeof(tmp))
		return berr_set(err, EINVAL, "invalid IP address: %.*s",
				(int)(len > 200 ? 200 : len), ip);
	memcpy(tmp, ip, len);
	tmp[len] = '\0';
	char *addr = tmp;
	if (tmp[0] == '[') {
		/* Go's net.SplitHostPort(ip + ":") wants exactly "[host]" here. */
		char *close = strchr(tmp, ']');
		if (!close || close[1] != '\0')
			return berr_set(err, EINVAL,
					"invalid IP address %s: missing ']' in address", tmp);
		*close = '\0';
		addr = tmp + 1;
	}
	unsigned char bin[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, addr, bin) == 1)
		p->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, bin) == 1)
		p->family = AF_INET6;
	else
		return berr_set(err, EINVAL, "invalid IP address: %s", addr);
	if (!inet_ntop(p->family, bin, p->host_ip, sizeof(p->host_ip)))
		return berr_set(err, EINVAL, "invalid IP address: %s", addr);
	return 0;
}

/* docker run's long form "target=80,published=8080,protocol=udp,mode=host" becomes the short
 * "8080:80/udp" (the CLI's convertToStandardNotation: unknown keys are ignored). */
static int long_to_short(const char *spec, char **ret, struct berr **err)
{
	_cleanup_free_ char *copy = strdup(spec);
	if (!copy)
		return -ENOMEM;
	const char *target = NULL, *published = "", *protocol = "tcp";
	char *save = NULL;
	for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(f, '=');
		if (!eq || eq == f)
			return berr_set(
			    err, EINVAL,
			    "invalid publish opts format (should be name=value but got '%s')", f);
		*eq = '\0';
		if (streq(f, "target"))
			target = eq + 1;
		else if (streq(f, "published"))
			published = eq + 1;
		else if (streq(f, "protocol"))
			protocol = eq + 1;
	}
	if (!target)
		return berr_set(err, EINVAL, "invalid publish opts format (target is missing)");
	if (asprintf(ret, "%s:%s/%s", published, target, protocol) < 0)
		return -ENOMEM;
	return 0;
}

static int parse_short(const char *spec, struct net_ports *out, struct berr **err);

int net_port_parse(const char *spec, struct net_ports *out, struct berr **err)
{
	if (strchr(spec, '=')) {
		_cleanup_free_ char *s = NULL;
		int r = long_to_short(spec, &s, err);
		if (r < 0)
			return r;
		return parse_short(s, out, err);
	}
	return parse_short(spec, out, err);
}

static int parse_short(const char *spec, struct net_ports *out, struct berr **err)
{

	/* splitParts: the container port follows the last ':', the host port the one before,
	 * and everything before that is the IP (so "::1:80:80" is ::1, 80, 80). */
	const char *c2 = strrchr(spec, ':');
	const char *ip = spec, *hp = spec, *cp = spec;
	size_t ip_len = 0, hp_len = 0;
	if (c2) {
		const char *c1 = NULL;
		for (const char *q = c2 - 1; q >= spec; q--)
			if (*q == ':') {
				c1 = q;
				break;
			}
		if (c1) {
			ip_len = (size_t)(c1 - spec);
			hp = c1 + 1;
			hp_len = (size_t)(c2 - hp);
		} else {
			hp_len = (size_t)(c2 - spec);
		}
		cp = c2 + 1;
	}

	/* SplitProtoPort: "80", "80/", "80/udp". */
	const char *slash = strchr(cp, '/');
	size_t cp_len = slash ? (size_t)(slash - cp) : strlen(cp);
	const char *proto_s = slash && slash[1] ? slash + 1 : "tcp";
	if (cp_len == 0)
		return berr_set(err, EINVAL, "no port specified: %s<empty>", spec);
	struct net_port tmpl = {0};
	tmpl.published = 1;
	if (net_proto_parse(proto_s, &tmpl.proto) < 0)
		return berr_set(err, EINVAL, "invalid proto: %s", proto_s);
	int r = parse_host_ip(ip, ip_len, &tmpl, err);
	if (r < 0)
		return r;

	uint16_t cstart, cend;
	if (parse_range(cp, cp_len, &cstart, &cend) < 0 || cstart == 0)
		return berr_set(err, EINVAL, "invalid containerPort: %.*s", (int)cp_len, cp);
	uint16_t hstart = 0, hend = 0;
	if (hp_len > 0) {
		if (parse_range(hp, hp_len, &hstart, &hend) < 0)
			return berr_set(err, EINVAL, "invalid hostPort: %.*s", (int)hp_len, hp);
		/* A host range for a single container port is the range to pick a free port
		 * from; for a container range the sizes must agree. */
		if (cend - cstart != hend - hstart && cend != cstart)
			return berr_set(
			    err, EINVAL,
			    "invalid ranges specified for container and host Ports: %.*s and %.*s",
			    (int)cp_len, cp, (int)hp_len, hp);
	}

	size_t count = (size_t)(cend - cstart) + 1;
	struct net_port *nv = realloc(out->v, (out->n + count) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	out->v = nv;
	for (size_t i = 0; i < count; i++) {
		struct net_port p = tmpl;
		p.container_port = (uint16_t)(cstart + i);
		if (count == 1) {
			p.host_port = hstart;
			p.host_port_last = hend;
		} else if (hp_len > 0) {
			p.host_port = p.host_port_last = (uint16_t)(hstart + i);
		}
		out->v[out->n++] = p;
	}
	return 0;
}

int net_port_parse_expose(const char *spec, struct net_ports *out, struct berr **err)
{
	const char *slash = strchr(spec, '/');
	size_t len = slash ? (size_t)(slash - spec) : strlen(spec);
	const char *proto_s = slash && slash[1] ? slash + 1 : "tcp";
	struct net_port tmpl = {0};
	if (len == 0)
		return berr_set(err, EINVAL, "no port specified: %s<empty>", spec);
	if (net_proto_parse(proto_s, &tmpl.proto) < 0)
		return berr_set(err, EINVAL, "invalid proto: %s", proto_s);
	uint16_t start, end;
	if (parse_range(spec, len, &start, &end) < 0 || start == 0)
		return berr_set(err, EINVAL, "invalid range format for --expose: %s", spec);
	size_t count = (size_t)(end - start) + 1;
	struct net_port *nv = realloc(out->v, (out->n + count) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	out->v = nv;
	for (size_t i = 0; i < count; i++) {
		struct net_port p = tmpl;
		p.container_port = (uint16_t)(start + i);
		out->v[out->n++] = p;
	}
	return 0;
}

void net_ports_publish_all(struct net_ports *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		struct net_port *p = &ps->v[i];
		if (p->published)
			continue;
		int taken = 0;
		for (size_t j = 0; j < ps->n && !taken; j++)
			taken = ps->v[j].published && ps->v[j].proto == p->proto &&
				ps->v[j].container_port == p->container_port;
		if (taken)
			continue;
		p->published = 1;
		p->family = AF_UNSPEC;
		p->host_ip[0] = '\0';
		p->host_port = p->host_port_last = 0;
	}
}

/* The address as docker prints it: IPv6 in brackets, "all addresses" as 0.0.0.0. */
static const char *display_ip(const struct net_port *p)
{
	if (p->host_ip[0])
		return p->host_ip;
	return p->family == AF_INET6 ? "::" : "0.0.0.0";
}

static int put_hostport(struct buf *out, const char *ip, const char *port)
{
	if (strchr(ip, ':'))
		return buf_printf(out, "[%s]:%s", ip, port);
	return buf_printf(out, "%s:%s", ip, port);
}

int net_port_format(const struct net_port *p, struct buf *out)
{
	if (!p->published)
		return buf_printf(out, "%u/%s", p->container_port, net_proto_name(p->proto));
	char port[8];
	snprintf(port, sizeof(port), "%u", p->host_port);
	int r = put_hostport(out, display_ip(p), port);
	if (r < 0)
		return r;
	return buf_printf(out, "->%u/%s", p->container_port, net_proto_name(p->proto));
}

/* Order of docker ps: container port, then address (none first, IPv4 before IPv6, then
 * by bytes), then host port, then protocol name. */
static int addr_key(const struct net_port *p, unsigned char key[17])
{
	memset(key, 0, 17);
	if (!p->published)
		return 0;
	const char *ip = display_ip(p);
	if (inet_pton(AF_INET, ip, key + 1) == 1) {
		key[0] = 1;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, key + 1) == 1)
		key[0] = 2;
	return 0;
}

static int cmp_ports(const void *a, const void *b)
{
	const struct net_port *x = a, *y = b;
	if (x->container_port != y->container_port)
		return x->container_port < y->container_port ? -1 : 1;
	unsigned char kx[17], ky[17];
	addr_key(x, kx);
	addr_key(y, ky);
	int c = memcmp(kx, ky, kx[0] == 1 && ky[0] == 1 ? 5 : 17);
	if (c)
		return c;
	uint16_t hx = x->published ? x->host_port : 0, hy = y->published ? y->host_port : 0;
	if (hx != hy)
		return hx < hy ? -1 : 1;
	return strcmp(net_proto_name(x->proto), net_proto_name(y->proto));
}

static int sorted_copy(const struct net_ports *ps, struct net_port **ret)
{
	*ret = NULL;
	if (ps->n == 0)
		return 0;
	struct net_port *v = malloc(ps->n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v, ps->v, ps->n * sizeof(*v));
	qsort(v, ps->n, sizeof(*v), cmp_ports);
	*ret = v;
	return 0;
}

struct port_group {
	char key[INET6_ADDRSTRLEN + 8]; /* "ip/proto" or "proto" */
	const struct net_port *sample;
	uint16_t first, last;
};

static int emit_group(struct buf *out, const struct port_group *g, int *first_item)
{
	char range[16];
	if (g->first == g->last)
		snprintf(range, sizeof(range), "%u", g->first);
	else
		snprintf(range, sizeof(range), "%u-%u", g->first, g->last);
	int r = buf_puts(out, *first_item ? "" : ", ");
	*first_item = 0;
	if (r >= 0 && g->sample->published) {
		r = put_hostport(out, display_ip(g->sample), range);
		if (r >= 0)
			r = buf_printf(out, "->%s", range);
	} else if (r >= 0) {
		r = buf_puts(out, range);
	}
	if (r >= 0)
		r = buf_printf(out, "/%s", net_proto_name(g->sample->proto));
	return r;
}

int net_ports_format_ps(const struct net_ports *ps, struct buf *out)
{
	_cleanup_free_ struct net_port *v = NULL;
	_cleanup_free_ struct port_group *groups = NULL;
	int r = sorted_copy(ps, &v);
	if (r < 0 || ps->n == 0)
		return r;
	groups = calloc(ps->n, sizeof(*groups));
	if (!groups)
		return -ENOMEM;
	size_t ng = 0;
	int first_item = 1;
	struct buf mappings = BUF_INIT;

	for (size_t i = 0; i < ps->n && r >= 0; i++) {
		const struct net_port *p = &v[i];
		char key[sizeof(groups[0].key)];
		if (p->published) {
			if (p->host_port != p->container_port) {
				/* Mappings to a different port are not grouped: they follow the
				 * groups, in sorted order. */
				r = buf_puts(&mappings, mappings.len ? ", " : "");
				if (r >= 0)
					r = net_port_format(p, &mappings);
				continue;
			}
			snprintf(key, sizeof(key), "%s/%s", display_ip(p),
				 net_proto_name(p->proto));
		} else {
			snprintf(key, sizeof(key), "%s", net_proto_name(p->proto));
		}
		struct port_group *g = NULL;
		for (size_t j = 0; j < ng; j++)
			if (streq(groups[j].key, key))
				g = &groups[j];
		if (!g) {
			g = &groups[ng++];
			memcpy(g->key, key, sizeof(key));
			g->sample = p;
			g->first = g->last = p->container_port;
			continue;
		}
		if (p->container_port == g->last + 1) {
			g->last = p->container_port;
			continue;
		}
		/* A gap: the finished run is printed now, a new run starts under the key. */
		r = emit_group(out, g, &first_item);
		g->sample = p;
		g->first = g->last = p->container_port;
	}
	for (size_t j = 0; j < ng && r >= 0; j++)
		r = emit_group(out, &groups[j], &first_item);
	if (r >= 0 && mappings.len) {
		r = buf_puts(out, first_item ? "" : ", ");
		if (r >= 0)
			r = buf_append(out, mappings.data, mappings.len);
	}
	buf_free(&mappings);
	return r < 0 ? r : 0;
}

int net_ports_format_port_cmd(const struct net_ports *ps, struct buf *out)
{
	_cleanup_free_ struct net_port *v = NULL;
	int r = sorted_copy(ps, &v);
	for (size_t i = 0; i < ps->n && r >= 0; i++) {
		if (!v[i].published)
			continue;
		char port[8];
		snprintf(port, sizeof(port), "%u", v[i].host_port);
		r = buf_printf(out, "%u/%s -> ", v[i].container_port, net_proto_name(v[i].proto));
		if (r >= 0)
			r = put_hostport(out, display_ip(&v[i]), port);
		if (r >= 0)
			r = buf_putc(out, '\n');
	}
	return r < 0 ? r : 0;
}

json_t *net_ports_to_json(const struct net_ports *ps)
{
	_cleanup_json_ json_t *obj = json_object();
	if (!obj)
		return NULL;
	for (size_t i = 0; i < ps->n; i++) {
		const struct net_port *p = &ps->v[i];
		char key[16];
		snprintf(key, sizeof(key), "%u/%s", p->container_port, net_proto_name(p->proto));
		json_t *arr = json_object_get(obj, key);
		if (!p->published) {
			if (!arr && json_object_set_new(obj, key, json_null()) < 0)
				return NULL;
			continue;
		}
		if (!json_is_array(arr)) {
			arr = json_array();
			if (!arr || json_object_set_new(obj, key, arr) < 0)
				return NULL;
		}
		char hp[16] = "";
		if (p->host_port_last > p->host_port)
			snprintf(hp, sizeof(hp), "%u-%u", p->host_port, p->host_port_last);
		else if (p->host_port)
			snprintf(hp, sizeof(hp), "%u", p->host_port);
		if (json_array_append_new(
			arr, json_pack("{s:s,s:s}", "HostIp", p->host_ip, "HostPort", hp)) < 0)
			return NULL;
	}
	return TAKE_PTR(obj);
}

int net_ports_from_json(json_t *j, struct net_ports *out, struct berr **err)
{
	if (!json_is_object(j))
		return berr_set(err, EINVAL, "ports: want an object");
	const char *key;
	json_t *val;
	size_t start_n = out->n;
	int r = 0;
	json_object_foreach(j, key, val)
	{
		struct net_ports one = NET_PORTS_INIT;
		r = net_port_parse_expose(key, &one, err);
		if (r >= 0 && one.n != 1)
			r = berr_set(err, EINVAL, "ports: '%s' is not one port", key);
		if (r < 0) {
			net_ports_free(&one);
			break;
		}
		struct net_port base = one.v[0];
		net_ports_free(&one);
		if (json_is_null(val)) {
			r = net_ports_add(out, &base);
			if (r < 0)
				break;
			continue;
		}
		if (!json_is_array(val)) {
			r = berr_set(err, EINVAL, "ports: '%s': want an array or null", key);
			break;
		}
		size_t i;
		json_t *b;
		json_array_foreach(val, i, b)
		{
			json_t *hip = json_object_get(b, "HostIp");
			json_t *hpt = json_object_get(b, "HostPort");
			if (!json_is_object(b) || (hip && !json_is_string(hip)) ||
			    (hpt && !json_is_string(hpt))) {
				r = berr_set(err, EINVAL, "ports: '%s': bad binding", key);
				break;
			}
			struct net_port p = base;
			p.published = 1;
			const char *ips = hip ? json_string_value(hip) : "";
			r = parse_host_ip(ips, strlen(ips), &p, err);
			if (r < 0)
				break;
			const char *hps = hpt ? json_string_value(hpt) : "";
			if (*hps &&
			    parse_range(hps, strlen(hps), &p.host_port, &p.host_port_last) < 0) {
				r = berr_set(err, EINVAL, "ports: '%s': invalid hostPort: %s", key,
					     hps);
				break;
			}
			r = net_ports_add(out, &p);
			if (r < 0)
				break;
		}
		if (r < 0)
			break;
	}
	if (r < 0) {
		/* All or nothing, as with the parsers. */
		out->n = start_n;
		if (start_n == 0)
			net_ports_free(out);
	}
	return r;
}

/*
 * Reservation.
 */

void net_port_rsvs_free(struct net_port_rsvs *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].fd >= 0)
			close(r->v[i].fd);
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

int net_port_rsvs_ports(const struct net_port_rsvs *r, struct net_ports *out)
{
	for (size_t i = 0; i < r->n; i++) {
		int e = net_ports_add(out, &r->v[i].port);
		if (e < 0)
			return e;
	}
	return 0;
}

static int rsvs_add(struct net_port_rsvs *r, const struct net_port *p, int fd)
{
	struct net_port_rsv *nv = realloc(r->v, (r->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	r->v = nv;
	r->v[r->n].port = *p;
	r->v[r->n].fd = fd;
	r->n++;
	return 0;
}

/* Bind proto on family/ip:port (port 0: the kernel picks). Returns the fd, -EPROTONOSUPPORT
 * when the kernel lacks the protocol, or -errno of bind. *ret_port gets the bound port. */
static int bind_port(int family, const char *ip, uint16_t port, enum net_proto proto,
		     uint16_t *ret_port)
{
	int type = proto == NET_PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int protocol = proto == NET_PROTO_SCTP ? IPPROTO_SCTP : 0;
	_cleanup_close_ int fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
	if (fd < 0)
		return errno == ESOCKTNOSUPPORT || errno == EPROTONOSUPPORT ? -EPROTONOSUPPORT
									    : -errno;
	struct sockaddr_storage ss = {0};
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		if (inet_pton(AF_INET, *ip ? ip : "0.0.0.0", &sin->sin_addr) != 1)
			return -EINVAL;
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, *ip ? ip : "::", &sin6->sin6_addr) != 1)
			return -EINVAL;
		len = sizeof(*sin6);
		/* Keep IPv4 out of this socket: IPv4 has its own reservation. */
		int one = 1;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
			return -errno;
		/* The proxy's listener must come back quickly after a restart while its old
		 * connections sit in TIME_WAIT. A listening socket still excludes every other
		 * bind, SO_REUSEADDR or not. The IPv4 holder never listens, so it must not
		 * have it (two non-listening SO_REUSEADDR sockets may share a port). */
		if (type == SOCK_STREAM &&
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
			return -errno;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		return -errno;
	if (family == AF_INET6 && proto == NET_PROTO_TCP && listen(fd, 128) < 0)
		return -errno;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	*ret_port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					    : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return TAKE_FD(fd);
}

static int bind_error(struct berr **err, int r, int family, const char *ip, uint16_t port)
{
	const char *shown = *ip ? ip : family == AF_INET6 ? "::" : "0.0.0.0";
	const char *lb = family == AF_INET6 ? "[" : "", *rb = family == AF_INET6 ? "]" : "";
	if (r == -EADDRINUSE)
		return berr_set(err, EADDRINUSE,
				"Bind for %s%s%s:%u failed: port is already allocated", lb, shown,
				rb, port);
	if (r == -EADDRNOTAVAIL)
		return berr_set(err, EADDRNOTAVAIL,
				"Bind for %s%s%s:%u failed: address is not on this host", lb, shown,
				rb, port);
	return berr_errno(err, r, "Bind for %s%s%s:%u failed", lb, shown, rb, port);
}

/* Reserve one entry on port (0: kernel's pick) for each family it needs. Fills *ret_port.
 * Returns -EADDRINUSE (without message) when a fixed port is taken, so that the caller can
 * try the next port of a range. */
static int reserve_on(const struct net_port *p, uint16_t port, struct net_port_rsvs *out,
		      uint16_t *ret_port, int *ret_family, struct berr **err)
{
	int want4 = p->family != AF_INET6, want6 = p->family != AF_INET;
	size_t mark = out->n;
	uint16_t got = port;
	int r = 0;
	*ret_family = AF_INET;
	if (want4) {
		int fd = bind_port(AF_INET, p->family == AF_INET ? p->host_ip : "", port, p->proto,
				   &got);
		if (fd == -EPROTONOSUPPORT) {
			/* No SCTP in this kernel: nothing to hold, the nft rule still forwards. */
			fd = -1;
			if (got == 0)
				return berr_set(
				    err, EPROTONOSUPPORT,
				    "cannot pick a free %s port: no %s support in this kernel",
				    net_proto_name(p->proto), net_proto_name(p->proto));
		} else if (fd < 0) {
			return fd;
		}
		struct net_port rp = *p;
		rp.family = AF_INET;
		if (!rp.host_ip[0] || p->family != AF_INET)
			snprintf(rp.host_ip, sizeof(rp.host_ip), "0.0.0.0");
		rp.host_port = rp.host_port_last = got;
		r = rsvs_add(out, &rp, fd);
		if (r < 0) {
			if (fd >= 0)
				close(fd);
			return r;
		}
	}
	if (want6 && p->proto != NET_PROTO_SCTP) {
		uint16_t got6 = 0;
		*ret_family = AF_INET6;
		int fd = bind_port(AF_INET6, p->family == AF_INET6 ? p->host_ip : "", got, p->proto,
				   &got6);
		if (fd < 0 && p->family == AF_UNSPEC &&
		    (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)) {
			/* A host without IPv6 publishes IPv4 only, as Docker does. */
			fd = -1;
		} else if (fd < 0) {
			r = fd;
			goto undo;
		}
		if (fd >= 0) {
			struct net_port rp = *p;
			rp.family = AF_INET6;
			if (!rp.host_ip[0] || p->family != AF_INET6)
				snprintf(rp.host_ip, sizeof(rp.host_ip), "::");
			rp.host_port = rp.host_port_last = got6;
			got = got6;
			r = rsvs_add(out, &rp, fd);
			if (r < 0) {
				close(fd);
				goto undo;
			}
		}
	} else if (want6 && p->family == AF_INET6) {
		return berr_set(err, EPROTONOSUPPORT,
				"sctp port %u cannot be published on an IPv6 address",
				p->container_port);
	}
	*ret_port = got;
	return 0;
undo:
	while (out->n > mark) {
		out->n--;
		if (out->v[out->n].fd >= 0)
			close(out->v[out->n].fd);
	}
	return r;
}

static int reserve_one(const struct net_port *p, struct net_port_rsvs *out, struct berr **err)
{
	uint16_t got;
	int r, fam;
	if (p->host_port != 0 && p->host_port_last <= p->host_port) {
		r = reserve_on(p, p->host_port, out, &got, &fam, err);
		if (r == -EADDRINUSE || r == -EADDRNOTAVAIL || (r < 0 && !(err && *err)))
			return bind_error(err, r, fam, p->family == fam ? p->host_ip : "",
					  p->host_port);
		return r;
	}
	if (p->host_port_last > p->host_port) {
		/* A range to pick from: the first free one, like Docker's allocator. */
		unsigned first = p->host_port ? p->host_port : 1;
		for (unsigned port = first; port <= p->host_port_last; port++) {
			r = reserve_on(p, (uint16_t)port, out, &got, &fam, err);
			if (r != -EADDRINUSE)
				break;
		}
		if (r == -EADDRINUSE)
			return berr_set(err, EADDRINUSE,
					"Bind for %s:%u-%u failed: all ports are allocated",
					display_ip(p), p->host_port, p->host_port_last);
		if (r < 0 && !(err && *err))
			return bind_error(err, r, fam, p->family == fam ? p->host_ip : "",
					  p->host_port);
		return r;
	}
	/* Any port: the kernel picks one for the first family; the second family must get
	 * the same number, and a few retries cover the rare port that is free on only one. */
	for (int attempt = 0; attempt < 64; attempt++) {
		r = reserve_on(p, 0, out, &got, &fam, err);
		if (r != -EADDRINUSE)
			break;
	}
	if (r < 0 && !(err && *err))
		return bind_error(err, r, fam, p->family == fam ? p->host_ip : "", 0);
	return r;
}

int net_ports_reserve(const struct net_ports *ps, struct net_port_rsvs *out, struct berr **err)
{
	struct net_port_rsvs tmp = NET_PORT_RSVS_INIT;
	for (size_t i = 0; i < ps->n; i++) {
		if (!ps->v[i].published)
			continue;
		int r = reserve_one(&ps->v[i], &tmp, err);
		if (r < 0) {
			net_port_rsvs_free(&tmp);
			return r;
		}
	}
	*out = tmp;
	return 0;
}
