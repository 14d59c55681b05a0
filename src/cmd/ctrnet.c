/* Container networking for the container commands. See ctrnet.h for the life of a
 * container's network, docs/internals/NET.md for the library under it. */
#include <jansson.h>

#include "ctrnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libmnl/libmnl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "cmd.h"
#include "config.h"
#include "ctr.h"
#include "digest.h"
#include "fs.h"
#include "hosts.h"
#include "ipam.h"
#include "link.h"
#include "log.h"
#include "net.h"
#include "netconf.h"
#include "state.h"

#include "banned.h"

#define MARKER "net.json"
#define MARKER_LOCK "net.lock"
#define MARKER_MAX (1u << 20)
/* Held shared from writing a marker to allocating its addresses, exclusive while the
 * addresses of vanished containers are freed (see repair_addresses). */
#define GLOBAL_LOCK ".ctrnet.lock"

static const char *jstr(json_t *o, const char *key, const char *def)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : def;
}

static int jset(json_t *o, const char *key, json_t *v)
{
	return !v || json_object_set_new(o, key, v) < 0;
}

int ctrnet_mode_is_bridge(const char *mode)
{
	return mode && *mode && !streq(mode, "none") && !streq(mode, "host") &&
	       strncmp(mode, "container:", 10) != 0;
}

static const char *nft_prefix(json_t *config)
{
	return config_get_string(config, "nft-prefix", NULL);
}

/* A strv of a JSON array of strings; other members are skipped. */
static int strv_of(json_t *a, struct strv *ret)
{
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		if (json_is_string(v) && strv_push(ret, json_string_value(v)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static json_t *json_of_strv(const struct strv *v)
{
	if (!v || !v->n)
		return json_null();
	json_t *a = json_array();
	for (size_t i = 0; a && i < v->n; i++)
		if (json_array_append_new(a, json_string(v->v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* ---- create ---- */

int ctrnet_parse(struct berth_ctx *ctx, const struct ctrnet_opts *o, json_t **ret,
		 struct berr **err)
{
	const char *mode =
	    o->network && *o->network
		? o->network
		: config_get_string(ctx->config, "default-network", NET_DEFAULT_NAME);
	if (strncmp(mode, "container:", 10) == 0)
		return berr_set(err, EOPNOTSUPP, "network mode '%s' is not supported yet", mode);
	if (streq(mode, "default"))
		mode = NET_DEFAULT_NAME;
	int bridged = ctrnet_mode_is_bridge(mode);
	_cleanup_(net_conf_free) struct net_conf nc = {0};
	if (bridged) {
		int r = net_conf_load(ctx->root, ctx->config, mode, &nc, err);
		if (r < 0)
			return r;
		/* By name, as Docker records it, also when the user gave an id. */
		mode = nc.name;
	} else if (o->ip || (o->aliases && o->aliases->n)) {
		return berr_set(
		    err, EINVAL,
		    "%s is not supported with network mode '%s' (only on bridge networks)",
		    o->ip ? "--ip" : "--network-alias", mode);
	}
	if (o->ip) {
		uint32_t a;
		if (net_ip4_parse(o->ip, &a) < 0)
			return berr_set(err, EINVAL, "invalid IPv4 address: %s", o->ip);
		if (nc.is_default)
			return berr_set(err, EINVAL,
					"user specified IP address is supported on user defined "
					"networks only");
		if (!net_subnet_contains(&nc.subnet, a))
			return berr_set(
			    err, EINVAL,
			    "no configured subnet or ip-range contain the IP address %s", o->ip);
	}
	if (o->aliases && o->aliases->n && nc.is_default)
		return berr_set(err, EINVAL,
				"network-scoped alias is supported only for containers in user "
				"defined networks");
	for (size_t i = 0; o->aliases && i < o->aliases->n; i++)
		if (!net_name_valid(o->aliases->v[i]))
			return berr_set(err, EINVAL, "invalid network alias '%s'",
					o->aliases->v[i]);

	_cleanup_net_ports_ struct net_ports ps = NET_PORTS_INIT, ex = NET_PORTS_INIT;
	for (size_t i = 0; o->publish && i < o->publish->n; i++) {
		int r = net_port_parse(o->publish->v[i], &ps, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; o->expose && i < o->expose->n; i++) {
		int r = net_port_parse_expose(o->expose->v[i], &ex, err);
		if (r < 0)
			return berr_wrap(err, "invalid argument \"%s\" for \"--expose\" flag",
					 o->expose->v[i]);
	}
	for (size_t i = 0; o->add_hosts && i < o->add_hosts->n; i++) {
		_cleanup_buf_ struct buf b = BUF_INIT;
		/* host-gateway stands for the bridge's address, known at start. */
		int r = net_hosts_extra_line(o->add_hosts->v[i], "192.0.2.1", &b, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; o->dns && i < o->dns->n; i++) {
		unsigned char a[16];
		if (inet_pton(AF_INET, o->dns->v[i], a) != 1 &&
		    inet_pton(AF_INET6, o->dns->v[i], a) != 1)
			return berr_set(err, EINVAL, "%s is not an ip address", o->dns->v[i]);
	}
	if (!bridged && (ps.n || o->publish_all)) {
		/* Docker's words for host; the ports are dropped, not an error (also with
		 * none, where Docker drops them silently). */
		if (streq(mode, "host"))
			fprintf(stderr, "WARNING: Published ports are discarded when using host "
					"network mode\n");
		net_ports_free(&ps);
	}

	json_t *rec = json_object();
	if (!rec)
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_json_ json_t *guard = rec;
	json_t *pb = net_ports_to_json(&ps);
	json_t *exposed = json_object();
	int e = jset(rec, "NetworkMode", json_string(mode));
	e |= jset(rec, "PortBindings", pb);
	e |= jset(rec, "PublishAllPorts", json_boolean(o->publish_all && bridged));
	e |= jset(rec, "ExposedPorts", exposed);
	/* docker records every -p container port as exposed too. */
	for (size_t i = 0; exposed && i < ps.n + ex.n; i++) {
		const struct net_port *p = i < ps.n ? &ps.v[i] : &ex.v[i - ps.n];
		char key[16];
		snprintf(key, sizeof(key), "%u/%s", p->container_port, net_proto_name(p->proto));
		e |= jset(exposed, key, json_object());
	}
	e |= jset(rec, "Dns", json_of_strv(o->dns));
	e |= jset(rec, "DnsSearch", json_of_strv(o->dns_search));
	e |= jset(rec, "DnsOptions", json_of_strv(o->dns_options));
	e |= jset(rec, "ExtraHosts", json_of_strv(o->add_hosts));
	json_t *eps = json_object();
	e |= jset(rec, "EndpointsConfig", eps);
	if (eps && bridged) {
		json_t *ep = json_object();
		e |= jset(eps, mode, ep);
		if (ep) {
			e |= jset(ep, "IPAMConfig",
				  o->ip ? json_pack("{s:s}", "IPv4Address", o->ip) : json_null());
			e |= jset(ep, "Aliases", json_of_strv(o->aliases));
			e |= jset(ep, "NetworkID", json_string(nc.id));
		}
	}
	if (e)
		return berr_set(err, ENOMEM, "out of memory");
	*ret = TAKE_PTR(guard);
	return 0;
}

int ctrnet_record(json_t *rec, json_t *config)
{
	json_t *cfg = json_object_get(config, "Config");
	json_t *hc = json_object_get(config, "HostConfig");
	if (!json_is_object(cfg) || !json_is_object(hc) || !json_is_object(rec))
		return -EINVAL;
	static const char *const hkeys[] = {"NetworkMode", "PortBindings", "PublishAllPorts", "Dns",
					    "DnsSearch",   "DnsOptions",   "ExtraHosts"};
	for (size_t i = 0; i < ARRAY_SIZE(hkeys); i++) {
		json_t *v = json_object_get(rec, hkeys[i]);
		if (v && json_object_set(hc, hkeys[i], v) < 0)
			return -ENOMEM;
	}
	json_t *add = json_object_get(rec, "ExposedPorts");
	if (json_object_size(add)) {
		json_t *have = json_object_get(cfg, "ExposedPorts");
		if (!json_is_object(have)) {
			have = json_object();
			if (jset(cfg, "ExposedPorts", have))
				return -ENOMEM;
		}
		if (json_object_update(have, add) < 0)
			return -ENOMEM;
	}
	json_t *eps = json_object_get(rec, "EndpointsConfig");
	if (json_is_object(eps) &&
	    jset(config, "NetworkingConfig", json_pack("{s:O}", "EndpointsConfig", eps)))
		return -ENOMEM;
	return 0;
}

/* ---- the container's endpoint configuration ---- */

static json_t *endpoints_config(json_t *config)
{
	json_t *eps =
	    json_object_get(json_object_get(config, "NetworkingConfig"), "EndpointsConfig");
	return json_is_object(eps) ? eps : NULL;
}

/* The networks a container is to be attached to: the network mode first when it is one of
 * them, then the others by name (the order of the interfaces eth0, eth1, ...). */
static int wanted_networks(json_t *config, struct strv *ret)
{
	json_t *hc = json_object_get(config, "HostConfig");
	const char *mode = jstr(hc, "NetworkMode", "none");
	json_t *eps = endpoints_config(config);
	if (!ctrnet_mode_is_bridge(mode) || !eps)
		return 0;
	if (json_object_get(eps, mode) && strv_push(ret, mode) < 0)
		return -ENOMEM;
	_cleanup_strv_ struct strv rest = STRV_INIT;
	const char *k;
	json_t *v;
	json_object_foreach(eps, k, v)
	{
		if (!streq(k, mode) && strv_push(&rest, k) < 0)
			return -ENOMEM;
	}
	strv_sort(&rest);
	for (size_t i = 0; i < rest.n; i++)
		if (strv_push(ret, rest.v[i]) < 0)
			return -ENOMEM;
	return 0;
}

/* ---- files of the container directory ---- */

static int marker_read(int dirfd, json_t **ret, struct berr **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = fs_read_all_at(dirfd, MARKER, MARKER_MAX, &text, &len);
	if (r == -ENOENT)
		return r;
	if (r < 0)
		return berr_errno(err, r, "read %s", MARKER);
	json_error_t je;
	json_t *j = json_loadb(text, len, 0, &je);
	if (!json_is_object(j) || !json_is_array(json_object_get(j, "networks"))) {
		json_decref(j);
		return berr_set(err, EINVAL, "%s: not a network state", MARKER);
	}
	*ret = j;
	return 0;
}

/* Replaced by rename but not synced: it matters only while the kernel state it describes
 * exists, and a reboot takes that away (the repair then frees the addresses of containers
 * without a marker, which is right after a reboot). fsync cost a millisecond per start. */
static int marker_write(int dirfd, json_t *j, struct berr **err)
{
	_cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);
	if (!s)
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_close_ int fd = openat(
	    dirfd, MARKER ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return berr_errno(err, errno, "write %s", MARKER);
	size_t len = strlen(s);
	if (write(fd, s, len) != (ssize_t)len ||
	    renameat(dirfd, MARKER ".tmp", dirfd, MARKER) < 0) {
		int e = errno ? errno : EIO;
		unlinkat(dirfd, MARKER ".tmp", 0);
		return berr_errno(err, e, "write %s", MARKER);
	}
	return 0;
}

/* flock net.lock: blocking, or (nonblock) -EWOULDBLOCK when someone holds it. */
static int marker_lock(int dirfd, int nonblock, struct berr **err)
{
	int fd = openat(dirfd, MARKER_LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return berr_errno(err, errno, "open %s", MARKER_LOCK);
	while (flock(fd, LOCK_EX | (nonblock ? LOCK_NB : 0)) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK)
			return -EWOULDBLOCK;
		return berr_errno(err, e, "lock %s", MARKER_LOCK);
	}
	return fd;
}

static int global_lock(const char *root, int exclusive, struct berr **err)
{
	_cleanup_free_ char *dir = NULL, *path = NULL;
	if (asprintf(&dir, "%s/networks", root) < 0 || asprintf(&path, "%s/" GLOBAL_LOCK, dir) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	int r = fs_mkdir_p_at(AT_FDCWD, dir, 0700);
	if (r < 0)
		return berr_errno(err, r, "create '%s'", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return berr_errno(err, errno, "open '%s'", path);
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0)
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			return berr_errno(err, e, "lock '%s'", path);
		}
	return fd;
}

/* Replace (v not NULL) or remove NetworkSettings in config.json, under the container's lock,
 * on a fresh read: other commands write config.json too (rename). */
static int config_set_settings(int dirfd, json_t *v, struct berr **err)
{
	int r = rt_state_lock(dirfd, 1, err);
	if (r < 0)
		return r;
	json_t *cfg = NULL;
	r = rt_config_read(dirfd, &cfg, err);
	if (r == 0) {
		if (v && json_object_set(cfg, "NetworkSettings", v) < 0)
			r = berr_set(err, ENOMEM, "out of memory");
		else if (v || json_object_del(cfg, "NetworkSettings") == 0)
			r = rt_config_write(dirfd, cfg, err);
		json_decref(cfg);
	}
	rt_state_unlock(dirfd);
	return r;
}

/* ---- conntrack ---- */

struct ct_dump {
	const uint32_t *ips; /* network order */
	size_t nips;
	struct buf tuples; /* matching entries: uint16 length + the CTA_TUPLE_ORIG payload,
			    * then uint16 zone + 1 flag byte */
};

static int ct_ip_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int t = mnl_attr_get_type(a);
	if (t == CTA_IP_V4_SRC || t == CTA_IP_V4_DST) {
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		tb[t] = a;
	}
	return MNL_CB_OK;
}

static int ct_tuple_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	if (mnl_attr_get_type(a) == CTA_TUPLE_IP) {
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0)
			return MNL_CB_ERROR;
		tb[CTA_TUPLE_IP] = a;
	}
	return MNL_CB_OK;
}

/* The source and destination of a tuple attribute (network order); 0 when absent. */
static void ct_tuple_addrs(const struct nlattr *tuple, uint32_t *src, uint32_t *dst)
{
	const struct nlattr *tb[CTA_TUPLE_MAX + 1] = {0};
	const struct nlattr *ib[CTA_IP_MAX + 1] = {0};
	*src = *dst = 0;
	if (mnl_attr_parse_nested(tuple, ct_tuple_attr, tb) < 0 || !tb[CTA_TUPLE_IP] ||
	    mnl_attr_parse_nested(tb[CTA_TUPLE_IP], ct_ip_attr, ib) < 0)
		return;
	if (ib[CTA_IP_V4_SRC])
		*src = mnl_attr_get_u32(ib[CTA_IP_V4_SRC]);
	if (ib[CTA_IP_V4_DST])
		*dst = mnl_attr_get_u32(ib[CTA_IP_V4_DST]);
}

static int ct_top_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int t = mnl_attr_get_type(a);
	if (t > CTA_MAX)
		return MNL_CB_OK;
	if ((t == CTA_TUPLE_ORIG || t == CTA_TUPLE_REPLY) &&
	    mnl_attr_validate(a, MNL_TYPE_NESTED) < 0)
		return MNL_CB_ERROR;
	if (t == CTA_ZONE && mnl_attr_validate(a, MNL_TYPE_U16) < 0)
		return MNL_CB_ERROR;
	tb[t] = a;
	return MNL_CB_OK;
}

static int ct_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ct_dump *d = data;
	const struct nlattr *tb[CTA_MAX + 1] = {0};
	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), ct_top_attr, tb) < 0 ||
	    !tb[CTA_TUPLE_ORIG] || !tb[CTA_TUPLE_REPLY])
		return MNL_CB_OK;
	uint32_t osrc, odst, rsrc, rdst;
	ct_tuple_addrs(tb[CTA_TUPLE_ORIG], &osrc, &odst);
	ct_tuple_addrs(tb[CTA_TUPLE_REPLY], &rsrc, &rdst);
	int match = 0;
	for (size_t i = 0; i < d->nips && !match; i++)
		/* From the container, to it, or NATed to it (the reply comes from it). */
		match = osrc == d->ips[i] || odst == d->ips[i] || rsrc == d->ips[i];
	if (!match)
		return MNL_CB_OK;
	uint16_t len = (uint16_t)mnl_attr_get_payload_len(tb[CTA_TUPLE_ORIG]);
	uint16_t zone = tb[CTA_ZONE] ? mnl_attr_get_u16(tb[CTA_ZONE]) : 0;
	char has_zone = tb[CTA_ZONE] != NULL;
	if (buf_append(&d->tuples, &len, sizeof(len)) < 0 ||
	    buf_append(&d->tuples, mnl_attr_get_payload(tb[CTA_TUPLE_ORIG]), len) < 0 ||
	    buf_append(&d->tuples, &zone, sizeof(zone)) < 0 ||
	    buf_append(&d->tuples, &has_zone, 1) < 0)
		return MNL_CB_ERROR;
	return MNL_CB_OK;
}

static struct nlmsghdr *ct_msg(char *buf, int type, int flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_INET;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	return nlh;
}

/* The kernel's filter flags for CTA_FILTER_ORIG_FLAGS/CTA_FILTER_REPLY_FLAGS (part of the
 * netlink ABI, but not of the uapi headers). */
#define CT_FILTER_IP_SRC (1u << 0)
#define CT_FILTER_IP_DST (1u << 1)

/* Delete, by a filter the kernel applies itself, every entry whose tuple dir (CTA_TUPLE_ORIG
 * or CTA_TUPLE_REPLY) has ip (network order) as its source (CT_FILTER_IP_SRC) or destination.
 * The kernel walks its table skipping empty buckets: about 0.2 ms against 10 ms for a dump of
 * 262144 buckets. 0, or -errno: a kernel without filtered deletes answers EINVAL (it reads
 * the tuple as one entry's, which lacks its ports) or EOPNOTSUPP, and never deletes more. */
static int ct_delete_filtered(struct mnl_socket *nl, unsigned portid, unsigned seq, char *buf,
			      size_t bufsize, uint32_t ip, int dir, unsigned flag)
{
	struct nlmsghdr *nlh = ct_msg(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK);
	nlh->nlmsg_seq = seq;
	/* Version 1: this family's entries only (version 0 would mean every family). */
	((struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->version = 1;
	struct nlattr *t = mnl_attr_nest_start(nlh, (uint16_t)dir);
	struct nlattr *a = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put_u32(nlh, flag == CT_FILTER_IP_SRC ? CTA_IP_V4_SRC : CTA_IP_V4_DST, ip);
	mnl_attr_nest_end(nlh, a);
	mnl_attr_nest_end(nlh, t);
	struct nlattr *f = mnl_attr_nest_start(nlh, CTA_FILTER);
	mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, dir == CTA_TUPLE_ORIG ? flag : 0);
	mnl_attr_put_u32(nlh, CTA_FILTER_REPLY_FLAGS, dir == CTA_TUPLE_REPLY ? flag : 0);
	mnl_attr_nest_end(nlh, f);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, bufsize);
		if (n < 0)
			return errno == EINTR ? -EINTR : -errno;
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);
		if (r == MNL_CB_ERROR)
			return errno ? -errno : -EIO;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

/* The old way: dump the whole table, delete the matching entries one by one. */
static void ct_flush_walk(struct mnl_socket *nl, unsigned portid, unsigned seq, char *buf,
			  size_t bufsize, const uint32_t *ips, size_t nips)
{
	struct ct_dump d = {.ips = ips, .nips = nips, .tuples = BUF_INIT};
	struct nlmsghdr *nlh = ct_msg(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP);
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		goto out;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, bufsize);
		if (n <= 0)
			break;
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, ct_dump_cb, &d);
		if (r <= MNL_CB_STOP)
			break;
	}
	for (size_t off = 0; off + 2 <= d.tuples.len;) {
		uint16_t len, zone;
		memcpy(&len, d.tuples.data + off, 2);
		if (off + 2 + len + 3 > d.tuples.len)
			break;
		const char *tuple = d.tuples.data + off + 2;
		memcpy(&zone, tuple + len, 2);
		char has_zone = tuple[len + 2];
		off += 2 + len + 3u;
		nlh = ct_msg(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK);
		nlh->nlmsg_seq = ++seq;
		mnl_attr_put(nlh, CTA_TUPLE_ORIG | NLA_F_NESTED, len, tuple);
		if (has_zone)
			mnl_attr_put_u16(nlh, CTA_ZONE, zone);
		if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
			break;
		/* The answer: an ack, or ENOENT when the entry expired meanwhile. */
		ssize_t n = mnl_socket_recvfrom(nl, buf, bufsize);
		if (n > 0)
			mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);
	}
out:
	buf_free(&d.tuples);
}

/* Delete the conntrack entries of the container addresses ips (host order): a client whose
 * UDP "connection" was NATed to a container that is gone would keep going to the dead
 * address for as long as it sends, even after a new container took the port. An entry is
 * the container's when it comes from the address, goes to it, or is NATed to it (its reply
 * comes from the address). Best effort: a kernel without conntrack has nothing to delete. */
static void ct_flush(const uint32_t *ips_host, size_t nips)
{
	if (!nips)
		return;
	uint32_t ips[nips];
	for (size_t i = 0; i < nips; i++)
		ips[i] = htonl(ips_host[i]);
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl)
		return;
	/* Room for the kernel's largest dump chunk (libmnl's MNL_SOCKET_DUMP_SIZE). */
	const size_t bufsize = 32768;
	_cleanup_free_ char *buf = malloc(bufsize);
	if (!buf || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto out;
	unsigned portid = mnl_socket_get_portid(nl);
	unsigned seq = (unsigned)time(NULL);
	static const struct {
		int dir;
		unsigned flag;
	} match[] = {{CTA_TUPLE_ORIG, CT_FILTER_IP_SRC},
		     {CTA_TUPLE_ORIG, CT_FILTER_IP_DST},
		     {CTA_TUPLE_REPLY, CT_FILTER_IP_SRC}};
	int r = 0;
	for (size_t i = 0; i < nips && r >= 0; i++)
		for (size_t k = 0; k < ARRAY_SIZE(match) && r >= 0; k++)
			r = ct_delete_filtered(nl, portid, ++seq, buf, bufsize, ips[i],
					       match[k].dir, match[k].flag);
	if (r < 0)
		ct_flush_walk(nl, portid, ++seq, buf, bufsize, ips, nips);
out:
	mnl_socket_close(nl);
}

/* ---- tearing down ---- */

/* The addresses (host order) id holds on the networks nets (net_conf JSON). */
static size_t addresses_of(const char *root, json_t *nets, const char *id, uint32_t *ips,
			   size_t max)
{
	size_t n = 0, i;
	json_t *j;
	json_array_foreach(nets, i, j)
	{
		_cleanup_(net_conf_free) struct net_conf nc = {0};
		struct net_ipam_entry *v = NULL;
		size_t nv = 0;
		if (net_conf_from_json(j, &nc, NULL) < 0 ||
		    net_ipam_list(root, &nc, &v, &nv, NULL) < 0)
			continue;
		for (size_t k = 0; k < nv; k++)
			if (streq(v[k].id, id) && n < max)
				ips[n++] = v[k].ip;
		net_ipam_entries_free(v, nv);
	}
	return n;
}

/* Undo everything the marker names. The caller holds net.lock. Stops at nothing: every
 * step is tried, the first error is returned, and the marker stays when one failed (the
 * next repair tries again). With leave_children, the veths' deletions may still be
 * finishing in child processes on return (net_detach_nowait): for the monitor's exit
 * command, whose parent, the monitor, reaps them after telling its clients the container
 * is gone; the veths are gone from the host already. */
static int cleanup_locked(const char *root, int dirfd, const char *id, json_t *marker,
			  int leave_children, struct berr **err)
{
	json_t *nets = json_object_get(marker, "networks");
	struct net_env env = {.root = root, .nft_prefix = jstr(marker, "prefix", NULL)};
	/* The conntrack entries of its addresses go too: a client that keeps sending UDP to
	 * a published port would otherwise keep reaching the dead address through its entry,
	 * also after another container took the port. Finding them walks the whole table
	 * (about 10 ms with 262144 buckets). */
	uint32_t ips[64];
	size_t nips = addresses_of(root, nets, id, ips, ARRAY_SIZE(ips));
	int r = 0;
	if (json_is_true(json_object_get(marker, "published")))
		r = net_unpublish(&env, id, err);
	ct_flush(ips, nips);
	size_t i;
	json_t *j;
	json_array_foreach(nets, i, j)
	{
		_cleanup_(net_conf_free) struct net_conf nc = {0};
		struct berr *e = NULL;
		int k = net_conf_from_json(j, &nc, &e);
		pid_t child = -1;
		if (k >= 0)
			k = leave_children ? net_detach_nowait(&env, &nc, id, &child, &e)
					   : net_detach(&env, &nc, id, &e);
		(void)child; /* the monitor reaps it */
		if (k < 0 && r >= 0) {
			r = k;
			if (err && !*err)
				*err = TAKE_PTR(e);
		}
		berr_free(e);
	}
	/* The monitor removes an autoremove container right after its exit command: its
	 * settings need no rewrite of config.json (two fsyncs) first. They are shown only
	 * while the container runs anyway. */
	int reset = 1;
	if (leave_children) {
		json_t *cfg = NULL;
		if (rt_config_read(dirfd, &cfg, NULL) == 0)
			reset = !json_is_true(
			    json_object_get(json_object_get(cfg, "HostConfig"), "AutoRemove"));
		json_decref(cfg);
	}
	struct berr *e = NULL;
	if (reset && config_set_settings(dirfd, NULL, &e) < 0 && r >= 0 && e && e->code != ENOENT) {
		r = -e->code;
		if (err && !*err)
			*err = TAKE_PTR(e);
	}
	berr_free(e);
	if (r >= 0 && unlinkat(dirfd, MARKER, 0) < 0 && errno != ENOENT)
		r = berr_errno(err, errno, "remove %s", MARKER);
	return r;
}

static int is_up(const struct rt_state *st)
{
	return st->status == RT_STATUS_RUNNING || st->status == RT_STATUS_PAUSED ||
	       st->status == RT_STATUS_RESTARTING;
}

/* Clean up after id when it has network state and does not run. 1 when something was
 * cleaned up, 0 when there was nothing to do, -EWOULDBLOCK (nonblock) when another
 * command holds its lock. */
static int cleanup_one(const char *root, const char *id, int nonblock, int leave_children,
		       struct berr **err)
{
	_cleanup_close_ int dirfd = -1;
	struct berr *e = NULL;
	int r = rt_container_dir_open(root, id, &dirfd, &e);
	berr_free(e);
	if (r < 0)
		return 0;
	if (faccessat(dirfd, MARKER, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	_cleanup_close_ int lock = marker_lock(dirfd, nonblock, err);
	if (lock < 0)
		return lock;
	_cleanup_json_ json_t *marker = NULL;
	r = marker_read(dirfd, &marker, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	struct rt_state st;
	if ((r = rt_state_read(dirfd, &st, err)) < 0)
		return r;
	if (is_up(&st))
		return 0;
	r = cleanup_locked(root, dirfd, id, marker, leave_children, err);
	return r < 0 ? r : 1;
}

int ctrnet_cleanup(const char *root, const char *id, struct berr **err)
{
	int r = cleanup_one(root, id, 0, 0, err);
	return r < 0 ? berr_wrap(err, "clean up the network of container %.12s", id) : 0;
}

int ctrnet_cleanup_exit(const char *root, const char *id, struct berr **err)
{
	int r = cleanup_one(root, id, 0, 1, err);
	return r < 0 ? berr_wrap(err, "clean up the network of container %.12s", id) : 0;
}

/* Free the addresses (and rules, conntrack entries, veths) of containers that have an
 * address but no network state: their directory is gone. */
static int repair_addresses(struct berth_ctx *ctx, struct berr **err)
{
	_cleanup_close_ int glock = global_lock(ctx->root, 1, err);
	if (glock < 0)
		return glock;
	struct net_conf *confs = NULL;
	size_t n = 0;
	int r = net_conf_list(ctx->root, ctx->config, &confs, &n, err);
	if (r < 0)
		return r;
	struct net_env env = {
	    .root = ctx->root, .config = ctx->config, .nft_prefix = nft_prefix(ctx->config)};
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *state = NULL;
		if (asprintf(&state, "%s/networks/endpoints/%s.json", ctx->root, confs[i].name) <
		    0) {
			r = berr_set(err, ENOMEM, "out of memory");
			break;
		}
		if (access(state, F_OK) < 0)
			continue; /* never used: no lock file made for nothing */
		struct net_ipam_entry *v = NULL;
		size_t nv = 0;
		r = net_ipam_list(ctx->root, &confs[i], &v, &nv, err);
		for (size_t k = 0; r >= 0 && k < nv; k++) {
			_cleanup_free_ char *marker = NULL;
			if (asprintf(&marker, "%s/containers/%s/" MARKER, ctx->root, v[k].id) < 0) {
				r = berr_set(err, ENOMEM, "out of memory");
				break;
			}
			if (access(marker, F_OK) == 0)
				continue;
			struct berr *e = NULL;
			if (net_unpublish(&env, v[k].id, &e) < 0 ||
			    net_detach(&env, &confs[i], v[k].id, &e) < 0)
				log_debug("repair of %s: %s", v[k].id, e ? e->msg : "?");
			berr_free(e);
			ct_flush(&v[k].ip, 1);
		}
		net_ipam_entries_free(v, nv);
	}
	for (size_t i = 0; i < n; i++)
		net_conf_free(&confs[i]);
	free(confs);
	return r;
}

int ctrnet_repair(struct berth_ctx *ctx, int full, size_t *ret_repaired, struct berr **err)
{
	_cleanup_strv_ struct strv ids = STRV_INIT;
	size_t repaired = 0;
	if (ret_repaired)
		*ret_repaired = 0;
	int r = rt_container_list(ctx->root, &ids, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ids.n; i++) {
		struct berr *e = NULL;
		int k = cleanup_one(ctx->root, ids.v[i], 1, 0, &e);
		if (k > 0)
			repaired++;
		else if (k < 0 && k != -EWOULDBLOCK)
			log_debug("repair of %s: %s", ids.v[i], e ? e->msg : "?");
		berr_free(e);
	}
	if (ret_repaired)
		*ret_repaired = repaired;
	return full ? repair_addresses(ctx, err) : 0;
}

/* ---- Docker's NetworkSettings ---- */

/* A stable hex id for something berth has no record of (Docker's host and none networks,
 * an endpoint): sha256 of its description. */
static void stable_id(const char *a, const char *b, char ret[NET_ID_LEN + 1])
{
	_cleanup_free_ char *text = NULL;
	struct digest d;
	if (asprintf(&text, "berth %s %s", a, b ? b : "") < 0) {
		memset(ret, '0', NET_ID_LEN);
		ret[NET_ID_LEN] = '\0';
		return;
	}
	digest_buffer(DIGEST_SHA256, text, strlen(text), &d);
	snprintf(ret, NET_ID_LEN + 1, "%.64s", d.hex);
}

/* The id of a network mode that is no network ("host", "none"). */
static void pseudo_network_id(const char *mode, char ret[NET_ID_LEN + 1])
{
	stable_id("network", mode, ret);
}

static const char *const settings_order[] = {"Bridge",
					     "SandboxID",
					     "SandboxKey",
					     "Ports",
					     "HairpinMode",
					     "LinkLocalIPv6Address",
					     "LinkLocalIPv6PrefixLen",
					     "SecondaryIPAddresses",
					     "SecondaryIPv6Addresses",
					     "EndpointID",
					     "Gateway",
					     "GlobalIPv6Address",
					     "GlobalIPv6PrefixLen",
					     "IPAddress",
					     "IPPrefixLen",
					     "IPv6Gateway",
					     "MacAddress",
					     "Networks",
					     NULL};
static const char *const endpoint_order[] = {"IPAMConfig",
					     "Links",
					     "Aliases",
					     "NetworkID",
					     "EndpointID",
					     "Gateway",
					     "IPAddress",
					     "IPPrefixLen",
					     "IPv6Gateway",
					     "GlobalIPv6Address",
					     "GlobalIPv6PrefixLen",
					     "MacAddress",
					     "DriverOpts",
					     NULL};

/* The empty value of a settings or endpoint key. */
static json_t *empty_value(const char *key)
{
	if (strstr(key, "PrefixLen"))
		return json_integer(0);
	if (streq(key, "HairpinMode"))
		return json_false();
	if (streq(key, "Ports"))
		return json_object();
	if (streq(key, "Networks"))
		return json_object();
	if (streq(key, "SecondaryIPAddresses") || streq(key, "SecondaryIPv6Addresses") ||
	    streq(key, "IPAMConfig") || streq(key, "Links") || streq(key, "Aliases") ||
	    streq(key, "DriverOpts"))
		return json_null();
	return json_string("");
}

/* A copy of src with exactly the keys of order, in that order; a missing key or one of
 * another JSON type than its empty value (null accepts anything) gets the empty value. */
static json_t *ordered_copy(json_t *src, const char *const *order)
{
	json_t *o = json_object();
	for (size_t i = 0; o && order[i]; i++) {
		json_t *def = empty_value(order[i]);
		json_t *v = json_object_get(src, order[i]);
		json_t *use;
		if (v && (json_is_null(def) || json_typeof(v) == json_typeof(def) ||
			  (json_is_boolean(v) && json_is_boolean(def))))
			use = json_deep_copy(v);
		else
			use = json_incref(def);
		json_decref(def);
		if (jset(o, order[i], use)) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* One entry of NetworkSettings.Networks. ep NULL: not attached (a stopped container). */
static json_t *endpoint_json(json_t *epcfg, const char *network_id, const struct net_endpoint *ep,
			     const char *container_id)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_t *ipam = json_object_get(epcfg, "IPAMConfig");
	json_t *aliases = json_object_get(epcfg, "Aliases");
	int e = jset(o, "IPAMConfig", json_is_object(ipam) ? json_deep_copy(ipam) : json_null());
	e |= jset(o, "Aliases", json_is_array(aliases) ? json_deep_copy(aliases) : json_null());
	e |= jset(o, "NetworkID", json_string(network_id));
	if (ep) {
		char eid[NET_ID_LEN + 1];
		stable_id(container_id, network_id, eid);
		e |= jset(o, "EndpointID", json_string(eid));
		e |= jset(o, "Gateway", json_string(ep->gateway_str));
		e |= jset(o, "IPAddress", json_string(ep->ip_str));
		e |= jset(o, "IPPrefixLen", json_integer(ep->prefix));
		e |= jset(o, "MacAddress", json_string(ep->mac_str));
	}
	if (e) {
		json_decref(o);
		return NULL;
	}
	json_t *r = ordered_copy(o, endpoint_order);
	json_decref(o);
	return r;
}

/* The stored form of a running container's settings. Docker fills the top-level address
 * fields only for the default network ("bridge"). */
static json_t *settings_running(const char *id, const struct net_conf *confs,
				const struct net_endpoint *eps, size_t n, json_t *epcfgs,
				json_t *ports)
{
	json_t *o = json_object(), *nets = json_object();
	int e = !o || !nets;
	e |= jset(o, "Networks", nets);
	for (size_t i = 0; !e && i < n; i++) {
		e |= jset(nets, confs[i].name,
			  endpoint_json(json_object_get(epcfgs, confs[i].name), confs[i].id,
					&eps[i], id));
		if (confs[i].is_default) {
			char eid[NET_ID_LEN + 1];
			stable_id(id, confs[i].id, eid);
			e |= jset(o, "EndpointID", json_string(eid));
			e |= jset(o, "Gateway", json_string(eps[i].gateway_str));
			e |= jset(o, "IPAddress", json_string(eps[i].ip_str));
			e |= jset(o, "IPPrefixLen", json_integer(eps[i].prefix));
			e |= jset(o, "MacAddress", json_string(eps[i].mac_str));
		}
	}
	char sid[NET_ID_LEN + 1];
	stable_id("sandbox", id, sid);
	e |= jset(o, "SandboxID", json_string(sid));
	e |= jset(o, "Ports", json_incref(ports));
	if (e) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *ctrnet_settings(const struct ctr *c)
{
	json_t *hc = json_object_get(c->config, "HostConfig");
	const char *mode = jstr(hc, "NetworkMode", "none");
	json_t *stored = json_object_get(c->config, "NetworkSettings");
	if (!is_up(&c->state) || !json_is_object(stored))
		stored = NULL;
	_cleanup_json_ json_t *src = stored ? json_deep_copy(stored) : json_object();
	if (!src)
		return NULL;
	if (stored && c->state.pid > 0) {
		char key[64];
		snprintf(key, sizeof(key), "/proc/%d/ns/net", (int)c->state.pid);
		if (jset(src, "SandboxKey", json_string(key)))
			return NULL;
	}
	json_t *o = ordered_copy(src, settings_order);
	json_t *nets = json_object();
	if (!o || !nets || jset(o, "Networks", nets)) {
		json_decref(o);
		return NULL;
	}
	json_t *snets = json_object_get(src, "Networks");
	if (stored && json_is_object(snets)) {
		const char *k;
		json_t *v;
		json_object_foreach(snets, k, v)
		{
			if (json_is_object(v) && jset(nets, k, ordered_copy(v, endpoint_order))) {
				json_decref(o);
				return NULL;
			}
		}
		return o;
	}
	/* Not running: the networks it is attached to, without addresses. */
	if (!ctrnet_mode_is_bridge(mode)) {
		char nid[NET_ID_LEN + 1];
		pseudo_network_id(mode, nid);
		if (jset(nets, mode, endpoint_json(NULL, nid, NULL, c->id))) {
			json_decref(o);
			return NULL;
		}
		return o;
	}
	json_t *eps = endpoints_config(c->config);
	const char *k;
	json_t *v;
	json_object_foreach(eps, k, v)
	{
		if (jset(nets, k, endpoint_json(v, jstr(v, "NetworkID", ""), NULL, c->id))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* The resolved ports of a running container (NetworkSettings.Ports). */
static int running_ports(const struct ctr *c, struct net_ports *ret)
{
	json_t *ns = json_object_get(c->config, "NetworkSettings");
	json_t *ports = json_object_get(ns, "Ports");
	if (!is_up(&c->state) || !json_is_object(ports))
		return 0;
	return net_ports_from_json(ports, ret, NULL);
}

char *ctrnet_ps_ports(const struct ctr *c)
{
	_cleanup_net_ports_ struct net_ports ps = NET_PORTS_INIT;
	_cleanup_buf_ struct buf b = BUF_INIT;
	if (running_ports(c, &ps) < 0 || net_ports_format_ps(&ps, &b) < 0)
		return strdup("");
	return strdup(b.data ? b.data : "");
}

int ctrnet_port_lines(const struct ctr *c, const char *spec, char **ret, struct berr **err)
{
	_cleanup_net_ports_ struct net_ports ps = NET_PORTS_INIT, want = NET_PORTS_INIT,
					     sel = NET_PORTS_INIT;
	_cleanup_buf_ struct buf b = BUF_INIT;
	int r = running_ports(c, &ps);
	if (r < 0)
		return berr_errno(err, r, "ports of %s", c->name);
	if (spec) {
		r = net_port_parse_expose(spec, &want, err);
		if (r < 0)
			return r;
		if (want.n != 1)
			return berr_set(err, EINVAL, "Error: invalid port (%s)", spec);
		for (size_t i = 0; i < ps.n; i++)
			if (ps.v[i].published &&
			    ps.v[i].container_port == want.v[0].container_port &&
			    ps.v[i].proto == want.v[0].proto && net_ports_add(&sel, &ps.v[i]) < 0)
				return berr_set(err, ENOMEM, "out of memory");
		if (!sel.n)
			return berr_set(err, ENOENT, "No public port '%u/%s' published for %s",
					want.v[0].container_port, net_proto_name(want.v[0].proto),
					c->name);
		/* `docker port c 80` prints only the addresses. */
		for (size_t i = 0; i < sel.n; i++) {
			_cleanup_buf_ struct buf one = BUF_INIT;
			if (net_port_format(&sel.v[i], &one) < 0)
				return berr_set(err, ENOMEM, "out of memory");
			const char *arrow = strstr(one.data, "->");
			buf_printf(&b, "%.*s\n", arrow ? (int)(arrow - one.data) : (int)one.len,
				   one.data);
		}
	} else if (net_ports_format_port_cmd(&ps, &b) < 0) {
		return berr_set(err, ENOMEM, "out of memory");
	}
	*ret = strdup(b.data ? b.data : "");
	return *ret ? 0 : berr_set(err, ENOMEM, "out of memory");
}

/* ---- starting ---- */

/* A new network namespace, as an fd. unshare() switches only the calling thread, which
 * switches back at once; failing that would leave berth acting in the wrong namespace, so
 * it aborts (as link.c does). */
static int netns_new(struct berr **err)
{
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return berr_errno(err, errno, "open our network namespace");
	if (unshare(CLONE_NEWNET) < 0)
		return berr_errno(err, errno, "create a network namespace");
	int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int e = errno;
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	if (fd < 0)
		return berr_errno(err, e, "open the new network namespace");
	return fd;
}

/* Every port of the container: the bindings, the exposed ports, and with -P those
 * published on random ports. */
static int ports_of(json_t *config, struct net_ports *ret, struct berr **err)
{
	json_t *hc = json_object_get(config, "HostConfig");
	json_t *pb = json_object_get(hc, "PortBindings");
	int r;
	if (json_is_object(pb) && (r = net_ports_from_json(pb, ret, err)) < 0)
		return berr_wrap(err, "HostConfig.PortBindings");
	json_t *ex = json_object_get(json_object_get(config, "Config"), "ExposedPorts");
	const char *k;
	json_t *v;
	json_object_foreach(ex, k, v)
	{
		int have = 0;
		_cleanup_net_ports_ struct net_ports one = NET_PORTS_INIT;
		if ((r = net_port_parse_expose(k, &one, err)) < 0)
			return berr_wrap(err, "Config.ExposedPorts");
		for (size_t i = 0; i < ret->n && one.n == 1; i++)
			have |= ret->v[i].container_port == one.v[0].container_port &&
				ret->v[i].proto == one.v[0].proto;
		for (size_t i = 0; !have && i < one.n; i++)
			if (net_ports_add(ret, &one.v[i]) < 0)
				return berr_set(err, ENOMEM, "out of memory");
	}
	if (json_is_true(json_object_get(hc, "PublishAllPorts")))
		net_ports_publish_all(ret);
	return 0;
}

/* Replace name in dirfd by data unless it holds exactly that already (as resolv.conf
 * often does: the runtime wrote the same at create time, or the last start did): a
 * rewrite costs two fsyncs. */
static int write_if_changed(int dirfd, const char *name, const char *data, size_t len)
{
	_cleanup_free_ char *old = NULL;
	size_t old_len = 0;
	if (fs_read_all_at(dirfd, name, len + 1, &old, &old_len) == 0 && old_len == len &&
	    memcmp(old, data, len) == 0)
		return 0;
	return fs_write_atomic_at(dirfd, name, data, len, 0644);
}

/* /etc/hosts and /etc/resolv.conf of the container, before it starts (so a rename over
 * the old files is fine: nothing has them mounted yet). */
static int write_etc(int dirfd, const struct ctr *c, const char *ip, const char *gateway,
		     struct berr **err)
{
	json_t *cfg = json_object_get(c->config, "Config");
	json_t *hc = json_object_get(c->config, "HostConfig");
	_cleanup_strv_ struct strv extra = STRV_INIT, dns = STRV_INIT, search = STRV_INIT,
				   opts = STRV_INIT;
	if (strv_of(json_object_get(hc, "ExtraHosts"), &extra) < 0 ||
	    strv_of(json_object_get(hc, "Dns"), &dns) < 0 ||
	    strv_of(json_object_get(hc, "DnsSearch"), &search) < 0 ||
	    strv_of(json_object_get(hc, "DnsOptions"), &opts) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	char shortid[13];
	snprintf(shortid, sizeof(shortid), "%.12s", c->id);
	const char *hostname = jstr(cfg, "Hostname", "");
	const char *domain = jstr(cfg, "Domainname", "");
	struct net_hosts_opts ho = {
	    .hostname = *hostname ? hostname : shortid,
	    .domainname = *domain ? domain : NULL,
	    .ip = ip,
	    .extra = &extra,
	    .host_gateway = gateway,
	};
	_cleanup_buf_ struct buf hosts = BUF_INIT, resolv = BUF_INIT;
	_cleanup_free_ char *host_text = NULL;
	int r = net_hosts_render(&ho, &hosts, err);
	if (r < 0)
		return r;
	struct net_resolv_opts ro = {
	    .dns = dns.n ? &dns : NULL,
	    .dns_search = search.n ? &search : NULL,
	    .dns_options = opts.n ? &opts : NULL,
	};
	if ((r = net_resolv_read_host(NULL, &host_text, err)) < 0 ||
	    (r = net_resolv_render(host_text, &ro, &resolv, err)) < 0)
		return r;
	if ((r = write_if_changed(dirfd, "hosts", hosts.data, hosts.len)) < 0)
		return berr_errno(err, r, "write hosts");
	if ((r = write_if_changed(dirfd, "resolv.conf", resolv.data ? resolv.data : "",
				  resolv.len)) < 0)
		return berr_errno(err, r, "write resolv.conf");
	return 0;
}

/* `berth --root R --runroot RR [--config C] network cleanup --from-monitor ID`, run by
 * the monitor (which reaps what the cleanup leaves running, ctrnet_cleanup_exit). The
 * config is passed only when it exists: the default path may not, and an explicit --config
 * must (the cleanup itself needs nothing from it). */
static int exit_command(struct berth_ctx *ctx, const char *id, struct strv *ret, struct berr **err)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return berr_errno(err, errno, "find the berth binary");
	self[n] = '\0';
	int with_config = ctx->config_path && access(ctx->config_path, F_OK) == 0;
	const char *argv[] = {
	    self,	"--root",	  ctx->root, "--runroot", ctx->runroot,
	    "--config", ctx->config_path, "network", "cleanup",	  "--from-monitor",
	    id};
	for (size_t i = 0; i < ARRAY_SIZE(argv); i++) {
		if (!with_config && (i == 5 || i == 6))
			continue;
		if (strv_push(ret, argv[i]) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

static void confs_free(struct net_conf *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		net_conf_free(&v[i]);
	free(v);
}

/* The --ip of a network's endpoint config, or NULL. */
static const char *wanted_ip(json_t *epcfg)
{
	const char *ip = jstr(json_object_get(epcfg, "IPAMConfig"), "IPv4Address", "");
	return *ip ? ip : NULL;
}

int ctrnet_start_prepare(struct berth_ctx *ctx, const struct ctr *c, struct rt_monitor_opts *mo,
			 struct ctrnet_start *st, struct berr **err)
{
	_cleanup_strv_ struct strv names = STRV_INIT;
	if (wanted_networks(c->config, &names) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	if (!names.n)
		return 0; /* none, host, or disconnected from everything: the runtime's own */
	ctrnet_repair(ctx, 1, NULL, NULL);

	_cleanup_close_ int dirfd = -1;
	int r = rt_container_dir_open(ctx->root, c->id, &dirfd, err);
	if (r < 0)
		return r;
	st->lockfd = marker_lock(dirfd, 0, err);
	if (st->lockfd < 0)
		return st->lockfd;
	/* Left by a run whose cleanup has not happened yet (it waits for this lock). */
	_cleanup_json_ json_t *old = NULL;
	if (marker_read(dirfd, &old, NULL) == 0 &&
	    (r = cleanup_locked(ctx->root, dirfd, c->id, old, 0, err)) < 0)
		return r;

	struct net_conf *confs = calloc(names.n, sizeof(*confs));
	struct net_endpoint *eps = calloc(names.n, sizeof(*eps));
	_cleanup_free_ struct net_endpoint *eps_guard = eps;
	_cleanup_json_ json_t *marker = json_object(), *mnets = json_array();
	_cleanup_net_ports_ struct net_ports ports = NET_PORTS_INIT, resolved = NET_PORTS_INIT;
	_cleanup_close_ int glock = -1;
	_cleanup_free_ char *hosts_path = NULL;
	_cleanup_strv_ struct strv aliases0 = STRV_INIT;
	_cleanup_json_ json_t *pj = NULL, *settings = NULL;
	json_t *epcfgs = endpoints_config(c->config);
	size_t nconfs = 0;
	if (!confs || !eps || !marker || !mnets) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (; nconfs < names.n; nconfs++) {
		r = net_conf_load(ctx->root, ctx->config, names.v[nconfs], &confs[nconfs], err);
		if (r < 0)
			goto out;
		if (json_array_append_new(mnets, net_conf_to_json(&confs[nconfs])) < 0) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
	}

	/* Ports first: a port in use must fail before anything exists. */
	if ((r = ports_of(c->config, &ports, err)) < 0)
		goto out;
	if ((r = net_ports_reserve(&ports, &st->rsvs, err)) < 0) {
		r = berr_wrap(err,
			      "driver failed programming external connectivity on endpoint %s "
			      "(%.12s)",
			      c->name, c->id);
		goto out;
	}
	if ((st->netns_fd = netns_new(err)) < 0) {
		r = st->netns_fd;
		goto out;
	}

	struct net_env env = {
	    .root = ctx->root, .config = ctx->config, .nft_prefix = nft_prefix(ctx->config)};
	if (jset(marker, "version", json_integer(1)) ||
	    (env.nft_prefix && jset(marker, "prefix", json_string(env.nft_prefix))) ||
	    json_object_set(marker, "networks", mnets) < 0) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if ((glock = global_lock(ctx->root, 0, err)) < 0) {
		r = glock;
		goto out;
	}
	if ((r = marker_write(dirfd, marker, err)) < 0)
		goto out;
	st->active = 1;

	/* The own address first, for the container's own line in /etc/hosts: IPAM hands
	 * the same one to net_attach (allocation is idempotent per id). */
	uint32_t ip;
	uint32_t want = 0;
	const char *wip = wanted_ip(json_object_get(epcfgs, confs[0].name));
	if (wip && net_ip4_parse(wip, &want) < 0) {
		r = berr_set(err, EINVAL, "invalid IPv4 address: %s", wip);
		goto out;
	}
	if (asprintf(&hosts_path, "%s/containers/%s/hosts", ctx->root, c->id) < 0) {
		hosts_path = NULL;
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	/* The whole record at once (as net_attach will ask for it), so that its allocation
	 * finds nothing to change and writes nothing. */
	json_t *epcfg0 = json_object_get(epcfgs, confs[0].name);
	if (strv_of(json_object_get(epcfg0, "Aliases"), &aliases0) < 0) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	struct net_ipam_req ireq = {.id = c->id,
				    .name = c->name,
				    .aliases = &aliases0,
				    .hosts_path = hosts_path,
				    .want = want};
	if ((r = net_ipam_alloc(ctx->root, &confs[0], &ireq, &ip, err)) < 0) {
		r = berr_wrap(err, "network '%s'", confs[0].name);
		goto out;
	}
	char ip_str[NET_IP4_STRLEN], gw_str[NET_IP4_STRLEN];
	net_ip4_format(ip, ip_str);
	net_ip4_format(confs[0].gateway, gw_str);
	if ((r = write_etc(dirfd, c, ip_str, gw_str, err)) < 0)
		goto out;
	for (size_t i = 0; i < nconfs; i++) {
		json_t *epcfg = json_object_get(epcfgs, confs[i].name);
		_cleanup_strv_ struct strv aliases = STRV_INIT;
		char ifname[IF_NAMESIZE];
		snprintf(ifname, sizeof(ifname), "eth%u", (unsigned)i % 1000);
		if (strv_of(json_object_get(epcfg, "Aliases"), &aliases) < 0) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
		struct net_attach_req req = {
		    .container_id = c->id,
		    .name = c->name,
		    .aliases = &aliases,
		    .ip = i == 0 ? ip_str : wanted_ip(epcfg),
		    .ifname = ifname,
		    .hosts_path = hosts_path,
		    .netns_fd = st->netns_fd,
		    .no_default_route = i > 0,
		};
		if ((r = net_attach(&env, &confs[i], &req, &eps[i], err)) < 0)
			goto out;
	}
	close(TAKE_FD(glock));
	if (st->rsvs.n) {
		/* Marked first: a crash between the two must not leave rules nobody removes. */
		if (jset(marker, "published", json_true()) ||
		    (r = marker_write(dirfd, marker, err)) < 0 ||
		    (r = net_publish(&env, c->id, &eps[0], &st->rsvs, err)) < 0)
			goto out;
	}

	/* What inspect, ps and port show while it runs. */
	if (net_port_rsvs_ports(&st->rsvs, &resolved) < 0) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < ports.n; i++)
		if (!ports.v[i].published && net_ports_add(&resolved, &ports.v[i]) < 0) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
	pj = net_ports_to_json(&resolved);
	settings = pj ? settings_running(c->id, confs, eps, nconfs, epcfgs, pj) : NULL;
	if (!settings) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if ((r = config_set_settings(dirfd, settings, err)) < 0)
		goto out;

	/* What the monitor takes over: the reservations, and the IPv6 ones to proxy. */
	json_t *proxy = json_array();
	st->ext = json_pack("{s:o}", "proxy", proxy);
	st->fds = calloc(st->rsvs.n ? st->rsvs.n : 1, sizeof(int));
	if (!proxy || !st->ext || !st->fds) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < st->rsvs.n; i++) {
		const struct net_port_rsv *rv = &st->rsvs.v[i];
		st->fds[st->nfds] = rv->fd;
		if (rv->port.family == AF_INET6 && rv->port.proto != NET_PROTO_SCTP &&
		    json_array_append_new(proxy, json_pack("{s:i,s:s,s:s,s:i}", "fd", (int)st->nfds,
							   "proto", net_proto_name(rv->port.proto),
							   "ip", eps[0].ip_str, "port",
							   (int)rv->port.container_port)) < 0) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
		st->nfds++;
	}
	if ((r = exit_command(ctx, c->id, &st->exit_cmd, err)) < 0)
		goto out;
	mo->join_netns = 1;
	mo->netns_fd = st->netns_fd;
	mo->ext = st->ext;
	mo->ext_fds = st->fds;
	mo->n_ext_fds = st->nfds;
	mo->exit_command = &st->exit_cmd;
	r = 0;
out:
	confs_free(confs, nconfs);
	return r;
}

void ctrnet_start_finish(struct ctrnet_start *st, const char *root, const char *id, int failed)
{
	if (failed && st->active) {
		_cleanup_close_ int dirfd = -1;
		_cleanup_json_ json_t *marker = NULL;
		struct berr *e = NULL;
		if (rt_container_dir_open(root, id, &dirfd, &e) == 0 &&
		    marker_read(dirfd, &marker, &e) == 0 &&
		    cleanup_locked(root, dirfd, id, marker, 0, &e) < 0)
			log_warn("clean up the network of %.12s: %s", id, e ? e->msg : "?");
		berr_free(e);
	}
	net_port_rsvs_free(&st->rsvs);
	if (st->netns_fd >= 0)
		close(st->netns_fd);
	if (st->lockfd >= 0)
		close(st->lockfd);
	json_decref(st->ext);
	free(st->fds);
	strv_free(&st->exit_cmd);
	*st = (struct ctrnet_start)CTRNET_START_INIT;
}

/* ---- connect, disconnect ---- */

/* Read-modify-write of config.json under the container's lock: fn changes the fresh copy. */
static int config_update(int dirfd, int (*fn)(json_t *cfg, void *data), void *data,
			 struct berr **err)
{
	int r = rt_state_lock(dirfd, 1, err);
	if (r < 0)
		return r;
	json_t *cfg = NULL;
	r = rt_config_read(dirfd, &cfg, err);
	if (r == 0) {
		r = fn(cfg, data);
		if (r < 0)
			r = berr_set(err, -r, "update config.json: %s", strerror(-r));
		else
			r = rt_config_write(dirfd, cfg, err);
		json_decref(cfg);
	}
	rt_state_unlock(dirfd);
	return r;
}

struct ep_change {
	const char *network;
	json_t *epcfg;	     /* connect: the new endpoint config; NULL: disconnect */
	json_t *settings_ep; /* connect while running: NetworkSettings.Networks entry */
	int is_default;	     /* the default network: the top-level fields follow it */
	const struct net_endpoint *ep;
	const char *id;
};

static int apply_ep_change(json_t *cfg, void *data)
{
	struct ep_change *ch = data;
	json_t *nc = json_object_get(cfg, "NetworkingConfig");
	if (!json_is_object(nc)) {
		nc = json_object();
		if (jset(cfg, "NetworkingConfig", nc))
			return -ENOMEM;
	}
	json_t *eps = json_object_get(nc, "EndpointsConfig");
	if (!json_is_object(eps)) {
		eps = json_object();
		if (jset(nc, "EndpointsConfig", eps))
			return -ENOMEM;
	}
	if (ch->epcfg ? json_object_set(eps, ch->network, ch->epcfg) < 0
		      : (json_object_del(eps, ch->network), 0))
		return -ENOMEM;
	json_t *ns = json_object_get(cfg, "NetworkSettings");
	if (!json_is_object(ns))
		return 0;
	json_t *nets = json_object_get(ns, "Networks");
	if (json_is_object(nets)) {
		if (ch->settings_ep ? json_object_set(nets, ch->network, ch->settings_ep) < 0
				    : (json_object_del(nets, ch->network), 0))
			return -ENOMEM;
	}
	if (ch->is_default) {
		char eid[NET_ID_LEN + 1] = "";
		if (ch->ep)
			stable_id(ch->id, jstr(ch->epcfg, "NetworkID", ""), eid);
		int e = jset(ns, "EndpointID", json_string(eid));
		e |= jset(ns, "Gateway", json_string(ch->ep ? ch->ep->gateway_str : ""));
		e |= jset(ns, "IPAddress", json_string(ch->ep ? ch->ep->ip_str : ""));
		e |= jset(ns, "IPPrefixLen", json_integer(ch->ep ? ch->ep->prefix : 0));
		e |= jset(ns, "MacAddress", json_string(ch->ep ? ch->ep->mac_str : ""));
		if (e)
			return -ENOMEM;
	}
	return 0;
}

static int running(const struct rt_state *st)
{
	return st->status == RT_STATUS_RUNNING || st->status == RT_STATUS_PAUSED;
}

int ctrnet_connect(struct berth_ctx *ctx, const struct ctr *c, const char *network, const char *ip,
		   const struct strv *aliases, struct berr **err)
{
	json_t *hc = json_object_get(c->config, "HostConfig");
	const char *mode = jstr(hc, "NetworkMode", "none");
	if (!ctrnet_mode_is_bridge(mode))
		return berr_set(err, EINVAL,
				"container sharing network namespace with another container or "
				"host cannot be connected to any other network");
	_cleanup_(net_conf_free) struct net_conf nc = {0};
	int r = net_conf_load(ctx->root, ctx->config, network, &nc, err);
	if (r < 0)
		return r;
	if (json_object_get(endpoints_config(c->config), nc.name))
		return berr_set(err, EEXIST, "endpoint with name %s already exists in network %s",
				c->name, nc.name);
	uint32_t want = 0;
	if (ip && (net_ip4_parse(ip, &want) < 0 || !net_subnet_contains(&nc.subnet, want)))
		return berr_set(err, EINVAL, "invalid IPv4 address for network %s: %s", nc.name,
				ip);
	if ((ip || (aliases && aliases->n)) && nc.is_default)
		return berr_set(err, EINVAL,
				"user specified IP address and network-scoped aliases "
				"are supported on user defined networks only");
	_cleanup_json_ json_t *epcfg = json_pack(
	    "{s:o,s:o,s:s}", "IPAMConfig", ip ? json_pack("{s:s}", "IPv4Address", ip) : json_null(),
	    "Aliases", json_of_strv(aliases), "NetworkID", nc.id);
	if (!epcfg)
		return berr_set(err, ENOMEM, "out of memory");

	_cleanup_close_ int dirfd = -1, lock = -1, glock = -1, netns = -1;
	if ((r = rt_container_dir_open(ctx->root, c->id, &dirfd, err)) < 0 ||
	    (lock = r = marker_lock(dirfd, 0, err)) < 0)
		return r;
	struct rt_state st;
	if ((r = rt_state_read(dirfd, &st, err)) < 0)
		return r;
	struct ep_change ch = {.network = nc.name, .epcfg = epcfg, .id = c->id};
	if (!running(&st))
		return config_update(dirfd, apply_ep_change, &ch, err);

	/* Running: attach now, on the next free ethN, without a default route unless it is
	 * its only network. */
	_cleanup_json_ json_t *marker = NULL;
	struct net_env env = {
	    .root = ctx->root, .config = ctx->config, .nft_prefix = nft_prefix(ctx->config)};
	r = marker_read(dirfd, &marker, err);
	if (r == -ENOENT) {
		marker = json_pack("{s:i,s:[]}", "version", 1, "networks");
		if (!marker ||
		    (env.nft_prefix && jset(marker, "prefix", json_string(env.nft_prefix))))
			return berr_set(err, ENOMEM, "out of memory");
	} else if (r < 0) {
		return r;
	} else {
		env.nft_prefix = jstr(marker, "prefix", NULL);
	}
	json_t *mnets = json_object_get(marker, "networks");
	size_t before = json_array_size(mnets);
	if ((netns = net_netns_open_pid(st.pid)) < 0)
		return berr_errno(err, netns, "network namespace of %s", c->name);
	char ifname[IF_NAMESIZE] = "";
	{
		_cleanup_net_nl_ struct net_nl *nl = NULL;
		if ((r = net_nl_open(netns, &nl, err)) < 0)
			return r;
		for (int k = 0; k < 1000 && !ifname[0]; k++) {
			char n[IF_NAMESIZE];
			snprintf(n, sizeof(n), "eth%d", k);
			if (net_link_get(nl, n, NULL, NULL) == -ENODEV)
				snprintf(ifname, sizeof(ifname), "%s", n);
		}
	}
	if (!ifname[0])
		return berr_set(err, ENOSPC, "no free interface name in %s", c->name);
	if (json_array_append_new(mnets, net_conf_to_json(&nc)) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	if ((glock = r = global_lock(ctx->root, 0, err)) < 0 ||
	    (r = marker_write(dirfd, marker, err)) < 0)
		return r;
	_cleanup_free_ char *hosts_path = NULL;
	if (asprintf(&hosts_path, "%s/containers/%s/hosts", ctx->root, c->id) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	struct net_endpoint ep;
	struct net_attach_req req = {
	    .container_id = c->id,
	    .name = c->name,
	    .aliases = aliases,
	    .ip = ip,
	    .ifname = ifname,
	    .hosts_path = hosts_path,
	    .netns_fd = netns,
	    .no_default_route = before > 0,
	};
	r = net_attach(&env, &nc, &req, &ep, err);
	if (r < 0) {
		json_array_remove(mnets, before);
		if (before)
			marker_write(dirfd, marker, NULL);
		else
			unlinkat(dirfd, MARKER, 0);
		return r;
	}
	ch.settings_ep = endpoint_json(epcfg, nc.id, &ep, c->id);
	ch.is_default = nc.is_default;
	ch.ep = &ep;
	if (!ch.settings_ep)
		return berr_set(err, ENOMEM, "out of memory");
	r = config_update(dirfd, apply_ep_change, &ch, err);
	json_decref(ch.settings_ep);
	return r;
}

int ctrnet_disconnect(struct berth_ctx *ctx, const struct ctr *c, const char *network, int force,
		      struct berr **err)
{
	json_t *hc = json_object_get(c->config, "HostConfig");
	if (!ctrnet_mode_is_bridge(jstr(hc, "NetworkMode", "none")))
		return berr_set(err, EINVAL,
				"container cannot be disconnected from host network or connected "
				"to host network");
	_cleanup_(net_conf_free) struct net_conf nc = {0};
	struct berr *e = NULL;
	int r = net_conf_load(ctx->root, ctx->config, network, &nc, &e);
	const char *name = r == 0 ? nc.name : network;
	if (r < 0 && !force) {
		if (err && !*err)
			*err = e;
		else
			berr_free(e);
		return r;
	}
	berr_free(e);
	if (!json_object_get(endpoints_config(c->config), name) && !force)
		return berr_set(err, ENOENT, "container %s is not connected to network %s", c->id,
				name);

	_cleanup_close_ int dirfd = -1, lock = -1;
	if ((r = rt_container_dir_open(ctx->root, c->id, &dirfd, err)) < 0 ||
	    (lock = r = marker_lock(dirfd, 0, err)) < 0)
		return r;
	struct rt_state st;
	if ((r = rt_state_read(dirfd, &st, err)) < 0)
		return r;
	_cleanup_json_ json_t *marker = NULL;
	if (running(&st) && marker_read(dirfd, &marker, NULL) == 0) {
		json_t *mnets = json_object_get(marker, "networks");
		struct net_env env = {.root = ctx->root,
				      .nft_prefix = jstr(marker, "prefix", NULL)};
		size_t i;
		json_t *j;
		json_array_foreach(mnets, i, j)
		{
			if (!streq(jstr(j, "name", ""), name))
				continue;
			_cleanup_(net_conf_free) struct net_conf mc = {0};
			if ((r = net_conf_from_json(j, &mc, err)) < 0)
				return r;
			uint32_t ips[1];
			_cleanup_json_ json_t *one = json_pack("[O]", j);
			size_t n = one ? addresses_of(ctx->root, one, c->id, ips, 1) : 0;
			/* Published ports go to the first network's address. */
			if (i == 0 && (r = net_unpublish(&env, c->id, err)) < 0)
				return r;
			if ((r = net_detach(&env, &mc, c->id, err)) < 0)
				return r;
			ct_flush(ips, n);
			json_array_remove(mnets, i);
			r = json_array_size(mnets)
				? marker_write(dirfd, marker, err)
				: (unlinkat(dirfd, MARKER, 0) < 0 && errno != ENOENT
				       ? berr_errno(err, errno, "remove %s", MARKER)
				       : 0);
			if (r < 0)
				return r;
			break;
		}
	}
	struct ep_change ch = {.network = name, .is_default = nc.is_default, .id = c->id};
	return config_update(dirfd, apply_ep_change, &ch, err);
}
