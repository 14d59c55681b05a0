#include "ipam.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "buf.h"
#include "fs.h"
#include "hosts.h"
#include "log.h"
#include "banned.h"

#define STATE_MAX (64u << 20)
#define ID_MAX 128

struct state {
	uint32_t last; /* last address handed out; 0: none yet */
	struct net_ipam_entry *v;
	size_t n;
};

static void state_free(struct state *s)
{
	net_ipam_entries_free(s->v, s->n);
	s->v = NULL;
	s->n = 0;
}

static void entry_clear(struct net_ipam_entry *en)
{
	free(en->id);
	free(en->name);
	strv_free(&en->aliases);
	free(en->hosts_path);
	memset(en, 0, sizeof(*en));
}

void net_ipam_entries_free(struct net_ipam_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		entry_clear(&v[i]);
	free(v);
}

/* Ids and names end up in nft comments and hosts files: printable, no spaces. */
static int token_valid(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static int open_dir(const char *root, int *ret, struct berr **err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/networks/endpoints", root) < 0)
		return -ENOMEM;
	int r = fs_mkdir_p_at(AT_FDCWD, path, 0700);
	if (r < 0)
		return berr_errno(err, r, "create '%s'", path);
	int fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return berr_errno(err, errno, "open '%s'", path);
	*ret = fd;
	return 0;
}

static int lock_network(int dirfd, const char *name, int *ret, struct berr **err)
{
	char lname[256];
	if (snprintf(lname, sizeof(lname), "%s.lock", name) >= (int)sizeof(lname))
		return berr_set(err, ENAMETOOLONG, "network name too long");
	for (;;) {
		int fd = openat(dirfd, lname, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return berr_errno(err, errno, "lock network '%s'", name);
		while (flock(fd, LOCK_EX) < 0) {
			if (errno != EINTR) {
				int e = errno;
				close(fd);
				return berr_errno(err, e, "lock network '%s'", name);
			}
		}
		/* net_ipam_remove() unlinks the lock file while holding it; whoever waited
		 * on that inode must not go on, or a newcomer locking the new file would
		 * run beside it. Retry until the locked inode is the one at the path. */
		struct stat a, b;
		if (fstat(fd, &a) == 0 && fstatat(dirfd, lname, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
			*ret = fd;
			return 0;
		}
		close(fd);
	}
}

static int cmp_entry_ip(const void *a, const void *b)
{
	const struct net_ipam_entry *x = a, *y = b;
	return x->ip < y->ip ? -1 : x->ip > y->ip;
}

static int load_state(int dirfd, const char *name, struct state *st, struct berr **err)
{
	char fname[256];
	snprintf(fname, sizeof(fname), "%s.json", name);
	_cleanup_free_ char *text = NULL;
	size_t len;
	memset(st, 0, sizeof(*st));
	int r = fs_read_all_at(dirfd, fname, STATE_MAX, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berr_errno(err, r, "read address state of network '%s'", name);
	json_error_t je;
	_cleanup_json_ json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	json_t *eps = json_object_get(j, "endpoints");
	json_t *last = json_object_get(j, "last");
	if (!json_is_object(j) || !json_is_array(eps) || (last && !json_is_string(last)))
		return berr_set(err, EUCLEAN, "address state of network '%s' is corrupt: %s", name,
				j ? "bad structure" : je.text);
	if (last && net_ip4_parse(json_string_value(last), &st->last) < 0)
		return berr_set(err, EUCLEAN,
				"address state of network '%s' is corrupt: bad 'last'", name);
	size_t n = json_array_size(eps);
	st->v = calloc(n ? n : 1, sizeof(*st->v));
	if (!st->v)
		return -ENOMEM;
	size_t i;
	json_t *e;
	json_array_foreach(eps, i, e)
	{
		json_t *id = json_object_get(e, "id"), *ip = json_object_get(e, "ip");
		json_t *nm = json_object_get(e, "name"), *al = json_object_get(e, "aliases");
		json_t *hp = json_object_get(e, "hosts");
		struct net_ipam_entry *en = &st->v[st->n];
		if (!json_is_string(id) || !json_is_string(ip) || (nm && !json_is_string(nm)) ||
		    (al && !json_is_array(al)) || (hp && !json_is_string(hp)) ||
		    !token_valid(json_string_value(id), ID_MAX) ||
		    net_ip4_parse(json_string_value(ip), &en->ip) < 0) {
			state_free(st);
			return berr_set(err, EUCLEAN,
					"address state of network '%s' is corrupt: endpoint %zu",
					name, i);
		}
		st->n++;
		en->id = strdup(json_string_value(id));
		en->name = nm ? strdup(json_string_value(nm)) : NULL;
		en->hosts_path = hp ? strdup(json_string_value(hp)) : NULL;
		if (!en->id || (nm && !en->name) || (hp && !en->hosts_path)) {
			state_free(st);
			return -ENOMEM;
		}
		size_t k;
		json_t *a;
		json_array_foreach(al, k, a)
		{
			if (!json_is_string(a) ||
			    strv_push(&en->aliases, json_string_value(a)) < 0) {
				state_free(st);
				return berr_set(err, EUCLEAN,
						"address state of network '%s' is corrupt: aliases",
						name);
			}
		}
	}
	qsort(st->v, st->n, sizeof(*st->v), cmp_entry_ip);
	/* Two owners of one address or two addresses of one owner would defeat the point of
	 * the allocator: refuse the file rather than guess which entry is right. */
	for (i = 0; i < st->n; i++) {
		int dup = i > 0 && st->v[i].ip == st->v[i - 1].ip;
		for (size_t k = i + 1; k < st->n && !dup; k++)
			dup = streq(st->v[i].id, st->v[k].id);
		if (dup) {
			state_free(st);
			return berr_set(
			    err, EUCLEAN,
			    "address state of network '%s' is corrupt: duplicate endpoint", name);
		}
	}
	return 0;
}

static int save_state(int dirfd, const char *name, const struct state *st, struct berr **err)
{
	char ip[NET_IP4_STRLEN], fname[256];
	_cleanup_json_ json_t *eps = json_array();
	if (!eps)
		return -ENOMEM;
	for (size_t i = 0; i < st->n; i++) {
		const struct net_ipam_entry *en = &st->v[i];
		json_t *o = json_pack("{s:s,s:s}", "id", en->id, "ip", net_ip4_format(en->ip, ip));
		if (!o || json_array_append_new(eps, o) < 0)
			return -ENOMEM;
		if (en->name && json_object_set_new(o, "name", json_string(en->name)) < 0)
			return -ENOMEM;
		if (en->hosts_path &&
		    json_object_set_new(o, "hosts", json_string(en->hosts_path)) < 0)
			return -ENOMEM;
		if (en->aliases.n) {
			json_t *a = json_array();
			if (!a || json_object_set_new(o, "aliases", a) < 0)
				return -ENOMEM;
			for (size_t k = 0; k < en->aliases.n; k++)
				if (json_array_append_new(a, json_string(en->aliases.v[k])) < 0)
					return -ENOMEM;
		}
	}
	_cleanup_json_ json_t *j =
	    json_pack("{s:i,s:s,s:O}", "version", 1, "network", name, "endpoints", eps);
	if (!j)
		return -ENOMEM;
	if (st->last &&
	    json_object_set_new(j, "last", json_string(net_ip4_format(st->last, ip))) < 0)
		return -ENOMEM;
	_cleanup_free_ char *text = json_dumps(j, JSON_INDENT(1));
	if (!text)
		return -ENOMEM;
	snprintf(fname, sizeof(fname), "%s.json", name);
	int r = fs_write_atomic_at(dirfd, fname, text, strlen(text), 0600);
	if (r < 0)
		return berr_errno(err, r, "write address state of network '%s'", name);
	return 0;
}

static int ip_used(const struct state *st, uint32_t ip)
{
	struct net_ipam_entry key = {.ip = ip};
	if (st->n == 0)
		return 0;
	return bsearch(&key, st->v, st->n, sizeof(*st->v), cmp_entry_ip) != NULL;
}

static int ip_reserved(const struct net_conf *nc, uint32_t ip)
{
	if (ip == nc->gateway || ip == nc->subnet.addr)
		return 1;
	return nc->subnet.prefix < 31 && ip == net_subnet_last(&nc->subnet);
}

/* The peers section of member m's hosts file: everybody else on the network, by container
 * name, short id and aliases (Docker's DNS answers the same names on user networks). */
static int peers_text(const struct state *st, size_t m, struct buf *out)
{
	char ip[NET_IP4_STRLEN];
	int r = 0;
	for (size_t i = 0; i < st->n && r >= 0; i++) {
		const struct net_ipam_entry *en = &st->v[i];
		if (i == m || (!en->name && en->aliases.n == 0 && strlen(en->id) < 12))
			continue;
		r = buf_printf(out, "%s\t", net_ip4_format(en->ip, ip));
		const char *sep = "";
		if (r >= 0 && en->name) {
			r = buf_puts(out, en->name);
			sep = " ";
		}
		for (size_t k = 0; k < en->aliases.n && r >= 0; k++) {
			r = buf_printf(out, "%s%s", sep, en->aliases.v[k]);
			sep = " ";
		}
		if (r >= 0 && strlen(en->id) >= 12)
			r = buf_printf(out, "%s%.12s", sep, en->id);
		if (r >= 0)
			r = buf_putc(out, '\n');
	}
	return r;
}

static void refresh_hosts(const struct net_conf *nc, const struct state *st)
{
	/* The default network has no name resolution between containers (as in Docker). */
	if (nc->is_default)
		return;
	for (size_t m = 0; m < st->n; m++) {
		if (!st->v[m].hosts_path)
			continue;
		struct buf b = BUF_INIT;
		struct berr *e = NULL;
		if (peers_text(st, m, &b) < 0 ||
		    net_hosts_set_section(st->v[m].hosts_path, nc->name, b.data ? b.data : "", &e) <
			0)
			/* A member whose file is gone (container being removed) must not stop
			 * the others from being updated. */
			log_debug("network '%s': hosts of '%s': %s", nc->name, st->v[m].id,
				  e ? e->msg : "out of memory");
		berr_free(e);
		buf_free(&b);
	}
}

static int set_entry_info(struct net_ipam_entry *en, const struct net_ipam_req *req)
{
	free(en->name);
	free(en->hosts_path);
	strv_free(&en->aliases);
	en->name = req->name ? strdup(req->name) : NULL;
	en->hosts_path = req->hosts_path ? strdup(req->hosts_path) : NULL;
	if ((req->name && !en->name) || (req->hosts_path && !en->hosts_path))
		return -ENOMEM;
	for (size_t k = 0; req->aliases && k < req->aliases->n; k++)
		if (strv_push(&en->aliases, req->aliases->v[k]) < 0)
			return -ENOMEM;
	return 0;
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && streq(a, b));
}

/* Whether en already records what req says (name, aliases, hosts file). */
static int entry_info_same(const struct net_ipam_entry *en, const struct net_ipam_req *req)
{
	size_t n = req->aliases ? req->aliases->n : 0;
	if (!same_str(en->name, req->name) || !same_str(en->hosts_path, req->hosts_path) ||
	    en->aliases.n != n)
		return 0;
	for (size_t k = 0; k < n; k++)
		if (!streq(en->aliases.v[k], req->aliases->v[k]))
			return 0;
	return 1;
}

int net_ipam_alloc(const char *root, const struct net_conf *nc, const struct net_ipam_req *req,
		   uint32_t *ret_ip, struct berr **err)
{
	if (!req->id || !token_valid(req->id, ID_MAX))
		return berr_set(err, EINVAL, "invalid endpoint id");
	if ((req->name && !token_valid(req->name, 255)))
		return berr_set(err, EINVAL, "invalid container name '%s'", req->name);
	for (size_t k = 0; req->aliases && k < req->aliases->n; k++)
		if (!token_valid(req->aliases->v[k], 255))
			return berr_set(err, EINVAL, "invalid alias '%s'", req->aliases->v[k]);
	if (req->hosts_path && (req->hosts_path[0] != '/' || strchr(req->hosts_path, '\n')))
		return berr_set(err, EINVAL, "hosts path must be absolute");

	_cleanup_close_ int dirfd = -1, lockfd = -1;
	int r = open_dir(root, &dirfd, err);
	if (r >= 0)
		r = lock_network(dirfd, nc->name, &lockfd, err);
	if (r < 0)
		return r;
	struct state st;
	r = load_state(dirfd, nc->name, &st, err);
	if (r < 0)
		return r;

	uint32_t ip = 0;
	char ipbuf[NET_IP4_STRLEN];
	for (size_t i = 0; i < st.n; i++)
		if (streq(st.v[i].id, req->id))
			ip = st.v[i].ip;
	if (ip && (!req->want || req->want == ip)) {
		/* Already has one: keep it, refresh what peers see (the hosts files, also when
		 * the record is unchanged: the caller may just have written its own). */
		int same = 1;
		for (size_t i = 0; i < st.n; i++)
			if (streq(st.v[i].id, req->id) && !(same = entry_info_same(&st.v[i], req)))
				r = set_entry_info(&st.v[i], req);
		if (same) {
			refresh_hosts(nc, &st);
			*ret_ip = ip;
			goto out;
		}
		goto save;
	}
	if (ip) {
		r = berr_set(err, EEXIST, "endpoint '%s' already has address %s on network '%s'",
			     req->id, net_ip4_format(ip, ipbuf), nc->name);
		goto out;
	}
	if (req->want) {
		if (!net_subnet_contains(&nc->subnet, req->want) || ip_reserved(nc, req->want)) {
			r = berr_set(err, EINVAL,
				     "no configured subnet or ip-range contain the IP address %s",
				     net_ip4_format(req->want, ipbuf));
			goto out;
		}
		if (ip_used(&st, req->want)) {
			r = berr_set(err, EADDRINUSE, "Address already in use: %s on network '%s'",
				     net_ip4_format(req->want, ipbuf), nc->name);
			goto out;
		}
		ip = req->want;
	} else {
		uint32_t first = nc->ip_range.addr, last = net_subnet_last(&nc->ip_range);
		uint64_t count = (uint64_t)last - first + 1;
		uint32_t start = st.last >= first && st.last < last ? st.last + 1 : first;
		for (uint64_t i = 0; i < count; i++) {
			uint32_t cand = (uint32_t)(first + ((uint64_t)start - first + i) % count);
			if (!ip_reserved(nc, cand) && !ip_used(&st, cand)) {
				ip = cand;
				break;
			}
		}
		if (!ip) {
			r = berr_set(err, ENOSPC, "no available IPv4 addresses on network '%s'",
				     nc->name);
			goto out;
		}
		st.last = ip;
	}
	struct net_ipam_entry *nv = realloc(st.v, (st.n + 1) * sizeof(*nv));
	if (!nv) {
		r = -ENOMEM;
		goto out;
	}
	st.v = nv;
	memset(&st.v[st.n], 0, sizeof(st.v[0]));
	st.v[st.n].ip = ip;
	st.v[st.n].id = strdup(req->id);
	st.n++;
	r = st.v[st.n - 1].id ? set_entry_info(&st.v[st.n - 1], req) : -ENOMEM;
	qsort(st.v, st.n, sizeof(*st.v), cmp_entry_ip);
save:
	if (r >= 0)
		r = save_state(dirfd, nc->name, &st, err);
	if (r >= 0) {
		refresh_hosts(nc, &st);
		*ret_ip = ip;
	}
out:
	state_free(&st);
	return r;
}

/* Drop the entries for which drop() says so; saves and refreshes when any went. */
static int remove_where(const char *root, const struct net_conf *nc,
			int (*drop)(const struct net_ipam_entry *, const void *), const void *data,
			size_t *ret_n, struct berr **err)
{
	_cleanup_close_ int dirfd = -1, lockfd = -1;
	int r = open_dir(root, &dirfd, err);
	if (r >= 0)
		r = lock_network(dirfd, nc->name, &lockfd, err);
	if (r < 0)
		return r;
	struct state st;
	r = load_state(dirfd, nc->name, &st, err);
	if (r < 0)
		return r;
	size_t kept = 0, dropped = 0;
	_cleanup_strv_ struct strv gone_hosts = STRV_INIT;
	for (size_t i = 0; i < st.n; i++) {
		if (drop(&st.v[i], data)) {
			if (st.v[i].hosts_path && !nc->is_default)
				strv_push(&gone_hosts, st.v[i].hosts_path);
			entry_clear(&st.v[i]);
			dropped++;
			continue;
		}
		st.v[kept++] = st.v[i];
	}
	st.n = kept;
	if (dropped) {
		r = save_state(dirfd, nc->name, &st, err);
		if (r >= 0) {
			refresh_hosts(nc, &st);
			/* The leavers' own files lose this network's peers. */
			for (size_t i = 0; i < gone_hosts.n; i++)
				net_hosts_set_section(gone_hosts.v[i], nc->name, "", NULL);
		}
	}
	state_free(&st);
	if (ret_n)
		*ret_n = dropped;
	return r;
}

static int drop_id(const struct net_ipam_entry *en, const void *id)
{
	return streq(en->id, (const char *)id);
}

int net_ipam_release(const char *root, const struct net_conf *nc, const char *id, struct berr **err)
{
	size_t n = 0;
	int r = remove_where(root, nc, drop_id, id, &n, err);
	return r < 0 ? r : n > 0;
}

static int drop_dead(const struct net_ipam_entry *en, const void *live)
{
	return !strv_contains((const struct strv *)live, en->id);
}

int net_ipam_reconcile(const char *root, const struct net_conf *nc, const struct strv *live,
		       size_t *ret_freed, struct berr **err)
{
	return remove_where(root, nc, drop_dead, live, ret_freed, err);
}

int net_ipam_list(const char *root, const struct net_conf *nc, struct net_ipam_entry **ret,
		  size_t *ret_n, struct berr **err)
{
	_cleanup_close_ int dirfd = -1, lockfd = -1;
	int r = open_dir(root, &dirfd, err);
	if (r >= 0)
		r = lock_network(dirfd, nc->name, &lockfd, err);
	if (r < 0)
		return r;
	struct state st;
	r = load_state(dirfd, nc->name, &st, err);
	if (r < 0)
		return r;
	*ret = st.v;
	*ret_n = st.n;
	return 0;
}

int net_ipam_remove(const char *root, const char *name, struct berr **err)
{
	_cleanup_close_ int dirfd = -1, lockfd = -1;
	int r = open_dir(root, &dirfd, err);
	if (r >= 0)
		r = lock_network(dirfd, name, &lockfd, err);
	if (r < 0)
		return r;
	struct state st;
	r = load_state(dirfd, name, &st, err);
	if (r < 0)
		return r;
	size_t n = st.n;
	state_free(&st);
	if (n > 0)
		return berr_set(err, EBUSY,
				"error while removing network: network %s has active endpoints",
				name);
	char fname[256];
	snprintf(fname, sizeof(fname), "%s.json", name);
	if (unlinkat(dirfd, fname, 0) < 0 && errno != ENOENT)
		return berr_errno(err, errno, "remove address state of network '%s'", name);
	/* The lock file goes last, while still held (lock_network() copes with that). */
	snprintf(fname, sizeof(fname), "%s.lock", name);
	unlinkat(dirfd, fname, 0);
	return 0;
}
