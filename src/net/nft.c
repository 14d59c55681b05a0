#include "nft.h"

#include <errno.h>
#include <fcntl.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "buf.h"
#include "log.h"
#include "banned.h"

#define PREFIX_MAX 24
#define COMMENT_BASE "berth-base"

struct rule {
	char family[8];
	char chain[32];
	long long handle;
	char comment[160];
};

struct rules {
	struct rule *v;
	size_t n;
};

static int prefix_check(const char **prefix, struct berr **err)
{
	if (!*prefix)
		*prefix = NET_NFT_DEFAULT_PREFIX;
	size_t n = strlen(*prefix);
	if (n == 0 || n > PREFIX_MAX)
		return berr_set(err, EINVAL, "bad nft table prefix '%s'", *prefix);
	for (const char *p = *prefix; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return berr_set(err, EINVAL, "bad nft table prefix '%s'", *prefix);
	return 0;
}

/* Owners end up inside nft comments: a conservative alphabet keeps quoting out of it. */
static int owner_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 80)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
			return 0;
	return 1;
}

/* Run nft commands (one batch, one commit).
 * -ENOENT when nft says a table/chain/rule does not exist, -EPERM without the right. */
static int nft_exec(const char *cmds, struct berr **err)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx)
		return berr_set(err, ENOMEM, "nftables context");
	/* libnftables prints to stdout/stderr by default; a library must not. */
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	int rc = nft_run_cmd_from_buffer(ctx, cmds);
	int r = 0;
	if (rc != 0) {
		const char *e = nft_ctx_get_error_buffer(ctx);
		e = e ? e : "";
		const char *line = strstr(e, "Error: ");
		line = line ? line + 7 : e;
		size_t len = strcspn(line, "\n");
		if (strstr(e, "No such file or directory"))
			r = -ENOENT;
		else if (strstr(e, "Operation not permitted"))
			r = -EPERM;
		else
			r = -EIO;
		berr_set(err, -r, "nftables: %.*s", (int)(len > 300 ? 300 : len), line);
	}
	nft_ctx_free(ctx);
	return r;
}

static int lock_nft(const char *prefix, int *ret, struct berr **err)
{
	char path[128];
	snprintf(path, sizeof(path), "/run/berth-%s.nft.lock", prefix);
	for (;;) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return berr_errno(err, errno, "lock '%s'", path);
		while (flock(fd, LOCK_EX) < 0)
			if (errno != EINTR) {
				int e = errno;
				close(fd);
				return berr_errno(err, e, "lock '%s'", path);
			}
		/* net_nft_destroy() unlinks the file while holding it: a waiter on the old
		 * inode must try again, or it would run beside a newcomer. */
		struct stat a, b;
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			*ret = fd;
			return 0;
		}
		close(fd);
	}
}

/* ---- reading the rules: raw nf_tables netlink ----
 *
 * Listing through libnftables builds its whole cache (tables, chains, sets, elements,
 * objects, rules) and prints it as JSON for us to parse again; a rule dump of the two
 * tables over a netlink socket of our own reads only what we need: chain, handle and
 * comment. Reading commits nothing, so closing the socket waits for nothing (closing a
 * netfilter socket after a commit waits for the kernel to free what the commit replaced). */

#define NFT_DUMP_BUF 32768

struct dump_ctx {
	struct rules *rs;
	const char *family;
	const char *table;
	int intr; /* NLM_F_DUMP_INTR: the ruleset changed during the dump */
};

static int rule_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	if (mnl_attr_type_valid(a, NFTA_RULE_MAX) < 0)
		return MNL_CB_OK;
	tb[mnl_attr_get_type(a)] = a;
	return MNL_CB_OK;
}

/* The comment in a rule's user data: libnftnl's TLVs (type, length, value), the comment
 * being type 0, NUL-terminated. */
static void udata_comment(const struct nlattr *a, char *out, size_t outsz)
{
	const unsigned char *p = mnl_attr_get_payload(a);
	size_t n = mnl_attr_get_payload_len(a);
	out[0] = '\0';
	while (n >= 2) {
		size_t len = p[1];
		if (2 + len > n)
			return;
		if (p[0] == 0) {
			size_t l = strnlen((const char *)p + 2, len);
			snprintf(out, outsz, "%.*s", (int)l, (const char *)p + 2);
			return;
		}
		p += 2 + len;
		n -= 2 + len;
	}
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		d->intr = 1;
	if ((nlh->nlmsg_type & 0xff) != NFT_MSG_NEWRULE)
		return MNL_CB_OK;
	const struct nlattr *tb[NFTA_RULE_MAX + 1] = {0};
	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), rule_attr_cb, tb) < 0)
		return MNL_CB_ERROR;
	if (!tb[NFTA_RULE_TABLE] || !tb[NFTA_RULE_CHAIN] || !tb[NFTA_RULE_HANDLE] ||
	    mnl_attr_validate(tb[NFTA_RULE_TABLE], MNL_TYPE_NUL_STRING) < 0 ||
	    mnl_attr_validate(tb[NFTA_RULE_CHAIN], MNL_TYPE_NUL_STRING) < 0 ||
	    mnl_attr_validate(tb[NFTA_RULE_HANDLE], MNL_TYPE_U64) < 0 ||
	    !streq(mnl_attr_get_str(tb[NFTA_RULE_TABLE]), d->table))
		return MNL_CB_OK;
	struct rules *rs = d->rs;
	struct rule *nv = realloc(rs->v, (rs->n + 1) * sizeof(*nv));
	if (!nv) {
		errno = ENOMEM;
		return MNL_CB_ERROR;
	}
	rs->v = nv;
	struct rule *ru = &rs->v[rs->n++];
	snprintf(ru->family, sizeof(ru->family), "%s", d->family);
	snprintf(ru->chain, sizeof(ru->chain), "%s", mnl_attr_get_str(tb[NFTA_RULE_CHAIN]));
	ru->handle = (long long)be64toh(mnl_attr_get_u64(tb[NFTA_RULE_HANDLE]));
	ru->comment[0] = '\0';
	if (tb[NFTA_RULE_USERDATA])
		udata_comment(tb[NFTA_RULE_USERDATA], ru->comment, sizeof(ru->comment));
	return MNL_CB_OK;
}

/* Append the rules of one table to rs; a missing table has none. */
static int dump_table(struct mnl_socket *nl, unsigned *seq, char *buf, uint8_t family,
		      const char *fname, const char *table, struct rules *rs)
{
	unsigned portid = mnl_socket_get_portid(nl);
	size_t keep = rs->n;
	for (int attempt = 0;; attempt++) {
		rs->n = keep;
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
		nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		nlh->nlmsg_seq = ++*seq;
		struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
		g->nfgen_family = family;
		g->version = NFNETLINK_V0;
		g->res_id = 0;
		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, table);
		if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
			return -errno;
		struct dump_ctx d = {.rs = rs, .family = fname, .table = table};
		int r;
		for (;;) {
			ssize_t n = mnl_socket_recvfrom(nl, buf, NFT_DUMP_BUF);
			if (n < 0) {
				r = -errno;
				break;
			}
			r = mnl_cb_run(buf, (size_t)n, *seq, portid, rule_cb, &d);
			if (r == MNL_CB_ERROR) {
				r = errno ? -errno : -EIO;
				break;
			}
			if (r == MNL_CB_STOP) {
				r = 0;
				break;
			}
		}
		if (r == -ENOENT) {
			rs->n = keep;
			return 0;
		}
		if (r < 0)
			return r;
		if (!d.intr)
			return 0;
		if (attempt >= 3)
			return -EAGAIN;
	}
}

/* Every rule of berth's two tables (a missing table has none). */
static int list_rules(const char *prefix, struct rules *rs, struct berr **err)
{
	memset(rs, 0, sizeof(*rs));
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl)
		return berr_errno(err, errno, "nftables: netlink socket");
	_cleanup_free_ char *buf = malloc(NFT_DUMP_BUF);
	int r = buf ? 0 : -ENOMEM;
	if (r == 0 && mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		r = -errno;
	unsigned seq = (unsigned)time(NULL);
	char table[PREFIX_MAX + 8];
	snprintf(table, sizeof(table), "%s_nat", prefix);
	if (r == 0)
		r = dump_table(nl, &seq, buf, NFPROTO_IPV4, "ip", table, rs);
	if (r == 0)
		r = dump_table(nl, &seq, buf, NFPROTO_INET, "inet", prefix, rs);
	mnl_socket_close(nl);
	if (r < 0) {
		free(rs->v);
		memset(rs, 0, sizeof(*rs));
		return berr_errno(err, r, "nftables: list the rules of %s", prefix);
	}
	return 0;
}

static int put_delete(struct buf *b, const char *prefix, const struct rule *ru)
{
	if (streq(ru->family, "ip"))
		return buf_printf(b, "delete rule ip %s_nat %s handle %lld\n", prefix, ru->chain,
				  ru->handle);
	return buf_printf(b, "delete rule inet %s %s handle %lld\n", prefix, ru->chain, ru->handle);
}

/* Which of the jumps into berth's chains rs has: BASE_PRE | BASE_OUT | BASE_FWD. */
enum { BASE_PRE = 1, BASE_OUT = 2, BASE_FWD = 4, BASE_ALL = 7 };
static int base_jumps(const struct rules *rs)
{
	int have = 0;
	for (size_t i = 0; i < rs->n; i++) {
		if (!streq(rs->v[i].comment, COMMENT_BASE))
			continue;
		have |= streq(rs->v[i].chain, "prerouting") ? BASE_PRE
			: streq(rs->v[i].chain, "output")   ? BASE_OUT
			: streq(rs->v[i].chain, "forward")  ? BASE_FWD
							    : 0;
	}
	return have;
}

/* Whether rs has the jumps into berth's chains (which imply the tables and those chains). */
static int base_ok(const struct rules *rs)
{
	return base_jumps(rs) == BASE_ALL;
}

/* Append to b the commands that make the tables, chains and the jumps into berth's chains
 * that rs (the current rules, read under the lock) lacks. Adding what exists is a no-op. */
static int put_base(struct buf *b, const char *prefix, const struct rules *rs)
{
	int r = buf_printf(
	    b,
	    "add table ip %1$s_nat\n"
	    "add chain ip %1$s_nat prerouting { type nat hook prerouting priority dstnat; policy "
	    "accept; }\n"
	    "add chain ip %1$s_nat output { type nat hook output priority -100; policy accept; }\n"
	    "add chain ip %1$s_nat postrouting { type nat hook postrouting priority srcnat; policy "
	    "accept; }\n"
	    "add chain ip %1$s_nat ports\n"
	    "add table inet %1$s\n"
	    "add set inet %1$s bridges { type ifname; }\n"
	    "add chain inet %1$s guard { type filter hook prerouting priority raw; policy accept; "
	    "}\n"
	    "add chain inet %1$s forward { type filter hook forward priority filter; policy "
	    "accept; }\n",
	    prefix);
	int have = base_jumps(rs);
	if (r >= 0 && !(have & BASE_PRE))
		r = buf_printf(b,
			       "insert rule ip %s_nat prerouting fib daddr type local jump ports "
			       "comment \"%s\"\n",
			       prefix, COMMENT_BASE);
	if (r >= 0 && !(have & BASE_OUT))
		r = buf_printf(
		    b,
		    "insert rule ip %s_nat output fib daddr type local jump ports comment \"%s\"\n",
		    prefix, COMMENT_BASE);
	/* First in forward: traffic to a published port passes the isolation rules below
	 * (a container of another network may use a published port, as from outside). */
	if (r >= 0 && !(have & BASE_FWD))
		r = buf_printf(b,
			       "insert rule inet %s forward ct status dnat accept comment \"%s\"\n",
			       prefix, COMMENT_BASE);
	return r;
}

/* A network's rules are owned by "berth-net:<bridge>:<hash>", the hash being that of their
 * text: rules made for another subnet, or by another version of berth, carry another hash
 * and are replaced. A bare "berth-net:<bridge>" is an older berth's. */
static int network_owned(const char *comment, const void *data)
{
	const char *base = data; /* "berth-net:<bridge>" */
	size_t n = strlen(base);
	return strncmp(comment, base, n) == 0 && (comment[n] == '\0' || comment[n] == ':');
}

/* The rules of network nc, each with the comment owner. */
static int put_network_rules(struct buf *b, const char *prefix, const struct net_conf *nc,
			     const char *owner)
{
	char sn[NET_CIDR4_STRLEN];
	net_subnet_format(&nc->subnet, sn);
	const char *br = nc->bridge;
	int r = 0;
	if (!nc->internal)
		r = buf_printf(b,
			       "add rule ip %1$s_nat postrouting ip saddr %2$s oifname != \"%3$s\" "
			       "masquerade comment \"%4$s\"\n",
			       prefix, sn, br, owner);
	if (r >= 0)
		r = buf_printf(b,
			       "add rule ip %1$s_nat postrouting oifname \"%2$s\" ip saddr "
			       "127.0.0.0/8 masquerade comment \"%3$s\"\n"
			       "add rule ip %1$s_nat postrouting oifname \"%2$s\" ct status dnat "
			       "ip saddr %4$s masquerade comment \"%3$s\"\n"
			       "add rule inet %1$s guard iifname \"%2$s\" ip daddr 127.0.0.0/8 "
			       "drop comment \"%3$s\"\n",
			       prefix, br, owner, sn);
	if (r >= 0 && nc->internal)
		r = buf_printf(b,
			       "add rule inet %1$s forward iifname \"%2$s\" oifname != \"%2$s\" "
			       "drop comment \"%3$s\"\n"
			       "add rule inet %1$s forward oifname \"%2$s\" iifname != \"%2$s\" "
			       "drop comment \"%3$s\"\n",
			       prefix, br, owner);
	else if (r >= 0)
		r = buf_printf(b,
			       "add rule inet %1$s forward iifname \"%2$s\" oifname != \"%2$s\" "
			       "oifname @bridges drop comment \"%3$s\"\n",
			       prefix, br, owner);
	return r;
}

/* Whether rs has exactly nc's current rules: n rules owned by owner, none by another
 * version of them, and the base. */
static int network_ok(const struct rules *rs, const char *base_owner, const char *owner, size_t n)
{
	size_t have = 0;
	for (size_t i = 0; i < rs->n; i++) {
		if (!network_owned(rs->v[i].comment, base_owner))
			continue;
		if (!streq(rs->v[i].comment, owner))
			return 0;
		have++;
	}
	return have == n && base_ok(rs);
}

/* Make a batch from the rules as they are now (build appends its commands to b) and run
 * it. The batch is one transaction: when it fails on something that vanished since the
 * listing (ENOENT: a rule or table another berth removed meanwhile), nothing changed, and it
 * is made again from a new listing, up to three more times. An empty batch runs nothing. */
static int exec_from_listing(const char *prefix,
			     int (*build)(struct buf *b, const char *prefix, const struct rules *rs,
					  const void *data),
			     const void *data, struct berr **err)
{
	for (int attempt = 0;; attempt++) {
		struct rules rs;
		int r = list_rules(prefix, &rs, err);
		if (r < 0)
			return r;
		struct buf b = BUF_INIT;
		r = build(&b, prefix, &rs, data);
		free(rs.v);
		struct berr *e = NULL;
		if (r >= 0 && b.len)
			r = nft_exec(b.data, &e);
		buf_free(&b);
		if (r == -ENOENT && attempt < 3) {
			log_debug("%s; again", e ? e->msg : "nftables: ENOENT");
			berr_free(e);
			continue;
		}
		if (r < 0 && err && !*err)
			*err = TAKE_PTR(e);
		berr_free(e);
		return r;
	}
}

/* The deletes of the rules whose comment owned() accepts. */
struct owned_by {
	int (*owned)(const char *comment, const void *data);
	const void *data;
};

static int build_deletes(struct buf *b, const char *prefix, const struct rules *rs,
			 const void *data)
{
	const struct owned_by *o = data;
	int r = 0;
	for (size_t i = 0; i < rs->n && r >= 0; i++)
		if (o->owned(rs->v[i].comment, o->data))
			r = put_delete(b, prefix, &rs->v[i]);
	return r;
}

/* A network's batch: base, its old rules out, the new in. */
struct network_batch {
	const struct net_conf *nc;
	const char *base_owner, *owner;
};

static int build_network(struct buf *b, const char *prefix, const struct rules *rs,
			 const void *data)
{
	const struct network_batch *nb = data;
	const struct owned_by old = {network_owned, nb->base_owner};
	int r = put_base(b, prefix, rs);
	if (r >= 0)
		r = build_deletes(b, prefix, rs, &old);
	if (r >= 0)
		r = buf_printf(b, "add element inet %s bridges { \"%s\" }\n", prefix,
			       nb->nc->bridge);
	if (r >= 0)
		r = put_network_rules(b, prefix, nb->nc, nb->owner);
	return r;
}

int net_nft_network_add(const char *prefix, const struct net_conf *nc, struct berr **err)
{
	int r = prefix_check(&prefix, err);
	if (r < 0)
		return r;
	if (!net_ifname_valid(nc->bridge))
		return berr_set(err, EINVAL, "bad bridge name '%s'", nc->bridge);

	/* The rules as they should be, and their hash (FNV-1a of the text). */
	char base_owner[64], owner[80];
	snprintf(base_owner, sizeof(base_owner), "berth-net:%s", nc->bridge);
	_cleanup_buf_ struct buf text = BUF_INIT;
	if ((r = put_network_rules(&text, prefix, nc, base_owner)) < 0)
		return r;
	uint32_t h = 2166136261u;
	size_t nrules = 0;
	for (size_t i = 0; i < text.len; i++) {
		h = (h ^ (unsigned char)text.data[i]) * 16777619u;
		nrules += text.data[i] == '\n';
	}
	snprintf(owner, sizeof(owner), "%s:%08x", base_owner, h);

	/* Attaching a container runs this every time: when the rules are in place, which is
	 * nearly always, a read of the ruleset is all it costs (no lock, no commit). */
	struct rules rs;
	if ((r = list_rules(prefix, &rs, err)) < 0)
		return berr_wrap(err, "network '%s'", nc->name);
	int ok = network_ok(&rs, base_owner, owner, nrules);
	free(rs.v);
	if (ok)
		return 0;

	_cleanup_close_ int lockfd = -1;
	if ((r = lock_nft(prefix, &lockfd, err)) < 0)
		return berr_wrap(err, "network '%s'", nc->name);
	struct network_batch nb = {nc, base_owner, owner};
	if ((r = exec_from_listing(prefix, build_network, &nb, err)) < 0)
		return berr_wrap(err, "network '%s'", nc->name);
	return 0;
}

/* Delete the rules whose comment owned() accepts (a rule another berth removed meanwhile
 * makes the batch start again: the outcome is the same). */
static int delete_owned(const char *prefix, int (*owned)(const char *comment, const void *data),
			const void *data, struct berr **err)
{
	struct owned_by o = {owned, data};
	return exec_from_listing(prefix, build_deletes, &o, err);
}

int net_nft_network_del(const char *prefix, const struct net_conf *nc, struct berr **err)
{
	int r = prefix_check(&prefix, err);
	if (r < 0)
		return r;
	if (!net_ifname_valid(nc->bridge))
		return berr_set(err, EINVAL, "bad bridge name '%s'", nc->bridge);
	_cleanup_close_ int lockfd = -1;
	r = lock_nft(prefix, &lockfd, err);
	if (r < 0)
		return r;
	char owner[64], cmd[160];
	snprintf(owner, sizeof(owner), "berth-net:%s", nc->bridge);
	r = delete_owned(prefix, network_owned, owner, err);
	if (r < 0)
		return berr_wrap(err, "network '%s'", nc->name);
	snprintf(cmd, sizeof(cmd), "delete element inet %s bridges { \"%s\" }", prefix, nc->bridge);
	struct berr *e = NULL;
	r = nft_exec(cmd, &e);
	berr_free(e);
	/* Gone already (or the table is): that is the state we want. */
	return r == -ENOENT ? 0
	       : r < 0	    ? berr_set(err, -r, "network '%s': remove bridge from set", nc->name)
			    : 0;
}

/* "berth:<id>:<proto>:<ip or *>:<port>" */
struct port_owner {
	char id[96];
	char proto[8];
	char ip[20];
	unsigned port;
};

static int parse_port_comment(const char *c, struct port_owner *o)
{
	if (strncmp(c, "berth:", 6) != 0)
		return -EINVAL;
	const char *p = c + 6;
	const char *f[4];
	size_t l[4];
	for (int i = 0; i < 4; i++) {
		f[i] = p;
		const char *colon = i < 3 ? strchr(p, ':') : p + strlen(p);
		if (!colon)
			return -EINVAL;
		l[i] = (size_t)(colon - p);
		p = colon + (i < 3);
	}
	if (l[0] == 0 || l[0] >= sizeof(o->id) || l[1] == 0 || l[1] >= sizeof(o->proto) ||
	    l[2] == 0 || l[2] >= sizeof(o->ip) || l[3] == 0 || l[3] > 5)
		return -EINVAL;
	snprintf(o->id, sizeof(o->id), "%.*s", (int)l[0], f[0]);
	snprintf(o->proto, sizeof(o->proto), "%.*s", (int)l[1], f[1]);
	snprintf(o->ip, sizeof(o->ip), "%.*s", (int)l[2], f[2]);
	o->port = 0;
	for (size_t i = 0; i < l[3]; i++) {
		if (f[3][i] < '0' || f[3][i] > '9')
			return -EINVAL;
		o->port = o->port * 10 + (unsigned)(f[3][i] - '0');
	}
	return 0;
}

struct ports_match {
	const char *id;
	const struct net_ports *ports; /* NULL: only the id's own rules */
};

static int owned_by_port(const char *comment, const void *data)
{
	const struct ports_match *m = data;
	struct port_owner o;
	if (parse_port_comment(comment, &o) < 0)
		return 0;
	if (streq(o.id, m->id))
		return 1;
	for (size_t i = 0; m->ports && i < m->ports->n; i++) {
		const struct net_port *p = &m->ports->v[i];
		if (!p->published || p->family != AF_INET)
			continue;
		const char *ip = streq(p->host_ip, "0.0.0.0") ? "*" : p->host_ip;
		if (o.port == p->host_port && streq(o.proto, net_proto_name(p->proto)) &&
		    (streq(o.ip, "*") || streq(ip, "*") || streq(o.ip, ip))) {
			log_info("removing stale published port %s:%u/%s of container %.12s", o.ip,
				 o.port, o.proto, o.id);
			return 1;
		}
	}
	return 0;
}

/* The batch of net_nft_ports_add(). */
struct ports_batch {
	const char *id;
	uint32_t ip; /* the container's */
	const struct net_ports *ports;
};

/* The tables and the jumps into "ports" when missing (normally the network made them),
 * old and stale rules out, the new in: one batch, which the kernel applies atomically, so
 * no packet meets a half-updated chain. Host addresses were checked by the caller. */
static int build_ports(struct buf *b, const char *prefix, const struct rules *rs, const void *data)
{
	const struct ports_batch *pb = data;
	struct ports_match m = {pb->id, pb->ports};
	int r = 0;
	if (!base_ok(rs))
		r = put_base(b, prefix, rs);
	for (size_t i = 0; i < rs->n && r >= 0; i++)
		if (streq(rs->v[i].family, "ip") && streq(rs->v[i].chain, "ports") &&
		    owned_by_port(rs->v[i].comment, &m))
			r = put_delete(b, prefix, &rs->v[i]);
	char cip[NET_IP4_STRLEN];
	net_ip4_format(pb->ip, cip);
	for (size_t i = 0; i < pb->ports->n && r >= 0; i++) {
		const struct net_port *p = &pb->ports->v[i];
		if (!p->published || p->family != AF_INET || p->host_port == 0)
			continue;
		const char *proto = net_proto_name(p->proto);
		uint32_t hip = 0;
		(void)net_ip4_parse(p->host_ip, &hip);
		if (hip == 0)
			r = buf_printf(b,
				       "add rule ip %s_nat ports meta l4proto %s th dport %u dnat "
				       "to %s:%u comment \"berth:%s:%s:*:%u\"\n",
				       prefix, proto, p->host_port, cip, p->container_port, pb->id,
				       proto, p->host_port);
		else
			r = buf_printf(b,
				       "add rule ip %s_nat ports ip daddr %s meta l4proto %s th "
				       "dport %u dnat to %s:%u comment \"berth:%s:%s:%s:%u\"\n",
				       prefix, p->host_ip, proto, p->host_port, cip,
				       p->container_port, pb->id, proto, p->host_ip, p->host_port);
	}
	return r;
}

int net_nft_ports_add(const char *prefix, const char *container_id, uint32_t container_ip,
		      const struct net_ports *ports, struct berr **err)
{
	int r = prefix_check(&prefix, err);
	if (r < 0)
		return r;
	if (!owner_valid(container_id))
		return berr_set(err, EINVAL, "bad container id '%s'", container_id);
	for (size_t i = 0; i < ports->n; i++) {
		const struct net_port *p = &ports->v[i];
		uint32_t hip;
		if (p->published && p->family == AF_INET && p->host_port &&
		    net_ip4_parse(p->host_ip, &hip) < 0)
			return berr_set(err, EINVAL,
					"publish ports of %.12s: bad host address '%s'",
					container_id, p->host_ip);
	}
	_cleanup_close_ int lockfd = -1;
	r = lock_nft(prefix, &lockfd, err);
	if (r < 0)
		return r;
	struct ports_batch pb = {container_id, container_ip, ports};
	/* Made from a listing, and made again from a new one when a rule it deletes is gone
	 * (ENOENT), as a network's batch is. */
	r = exec_from_listing(prefix, build_ports, &pb, err);
	if (r < 0)
		return berr_wrap(err, "publish ports of %.12s", container_id);
	return 0;
}

int net_nft_ports_del(const char *prefix, const char *container_id, struct berr **err)
{
	int r = prefix_check(&prefix, err);
	if (r < 0)
		return r;
	if (!owner_valid(container_id))
		return berr_set(err, EINVAL, "bad container id '%s'", container_id);
	_cleanup_close_ int lockfd = -1;
	r = lock_nft(prefix, &lockfd, err);
	if (r < 0)
		return r;
	struct ports_match m = {container_id, NULL};
	r = delete_owned(prefix, owned_by_port, &m, err);
	if (r < 0)
		return berr_wrap(err, "unpublish ports of %.12s", container_id);
	return 0;
}

int net_nft_count(const char *prefix, const char *container_id, const char *bridge,
		  struct berr **err)
{
	int r = prefix_check(&prefix, err);
	if (r < 0)
		return r;
	struct rules rs;
	r = list_rules(prefix, &rs, err);
	if (r < 0)
		return r;
	char owner[64];
	snprintf(owner, sizeof(owner), "berth-net:%s", bridge ? bridge : "");
	struct ports_match m = {container_id, NULL};
	int n = 0;
	for (size_t i = 0; i < rs.n; i++)
		n += container_id ? owned_by_port(rs.v[i].comment, &m)
				  : network_owned(rs.v[i].comment, owner);
	free(rs.v);
	return n;
}

int net_nft_destroy(const char *prefix, struct berr **err)
{
	int r = prefix_check(&prefix, err);
	if (r < 0)
		return r;
	_cleanup_close_ int lockfd = -1;
	r = lock_nft(prefix, &lockfd, err);
	if (r < 0)
		return r;
	char cmd[96];
	for (int t = 0; t < 2; t++) {
		if (t == 0)
			snprintf(cmd, sizeof(cmd), "delete table ip %s_nat", prefix);
		else
			snprintf(cmd, sizeof(cmd), "delete table inet %s", prefix);
		struct berr *e = NULL;
		r = nft_exec(cmd, &e);
		if (r < 0 && r != -ENOENT) {
			if (err && !*err)
				*err = TAKE_PTR(e);
			berr_free(e);
			return r;
		}
		berr_free(e);
	}
	char path[128];
	snprintf(path, sizeof(path), "/run/berth-%s.nft.lock", prefix);
	unlink(path);
	return 0;
}
