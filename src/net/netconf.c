#include "netconf.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "format.h"
#include "fs.h"
#include "ipam.h"
#include "banned.h"

#define CONF_MAX (1u << 20)
#define NAME_MAX_LEN 64

void net_conf_free(struct net_conf *nc)
{
	free(nc->name);
	if (nc->labels)
		json_decref(nc->labels);
	memset(nc, 0, sizeof(*nc));
}

int net_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > NAME_MAX_LEN)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		int alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return 0;
	}
	return 1;
}

int net_ifname_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= IF_NAMESIZE || streq(name, ".") || streq(name, ".."))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

/* Check what every network needs: a subnet with room for a gateway and containers, the
 * gateway and range inside it. what names the network in messages. */
static int conf_check(const struct net_conf *nc, const char *what, struct berr **err)
{
	char a[NET_CIDR4_STRLEN], b[NET_CIDR4_STRLEN];
	if (!net_ifname_valid(nc->bridge))
		return berr_set(err, EINVAL, "%s: invalid bridge name '%s'", what, nc->bridge);
	if (nc->subnet.prefix < 8 || nc->subnet.prefix > 30)
		return berr_set(err, EINVAL, "%s: subnet %s: prefix length must be 8 to 30", what,
				net_subnet_format(&nc->subnet, a));
	if (!net_subnet_contains(&nc->subnet, nc->gateway) || nc->gateway == nc->subnet.addr ||
	    nc->gateway == net_subnet_last(&nc->subnet))
		return berr_set(err, EINVAL, "%s: gateway %s is not a host address of subnet %s",
				what, net_ip4_format(nc->gateway, b),
				net_subnet_format(&nc->subnet, a));
	if (nc->ip_range.prefix < nc->subnet.prefix ||
	    !net_subnet_contains(&nc->subnet, nc->ip_range.addr))
		return berr_set(err, EINVAL, "%s: ip-range %s is not inside subnet %s", what,
				net_subnet_format(&nc->ip_range, b),
				net_subnet_format(&nc->subnet, a));
	if (nc->mtu < 68 || nc->mtu > 65535)
		return berr_set(err, EINVAL, "%s: mtu %u is out of range (68-65535)", what,
				nc->mtu);
	return 0;
}

/* A fixed id for the default network, so that it reads the same in every command. */
static void default_id(const char *device, char out[NET_ID_LEN + 1])
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (int part = 0; part < 4; part++) {
		for (const char *p = "berth default network "; *p; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
		for (const char *p = device; *p; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
		h = (h ^ (unsigned)part) * 0x100000001b3ull;
		snprintf(out + part * 16, 17, "%016llx", (unsigned long long)h);
	}
}

int net_conf_default(json_t *config, struct net_conf *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	json_t *b = config ? json_object_get(config, "bridge") : NULL;
	if (b && !json_is_object(b))
		return berr_set(err, EINVAL, "config: 'bridge' must be an object");
	const char *device = NET_DEFAULT_DEVICE, *subnet = NET_DEFAULT_SUBNET;
	const char *gateway = NULL, *range = NULL;
	unsigned mtu = 1500;
	const char *key;
	json_t *v;
	json_object_foreach(b, key, v)
	{
		const char **dst = streq(key, "device")	    ? &device
				   : streq(key, "subnet")   ? &subnet
				   : streq(key, "gateway")  ? &gateway
				   : streq(key, "ip-range") ? &range
							    : NULL;
		if (dst) {
			if (!json_is_string(v))
				return berr_set(err, EINVAL, "config: 'bridge.%s' must be a string",
						key);
			*dst = json_string_value(v);
		} else if (streq(key, "mtu")) {
			if (!json_is_integer(v) || json_integer_value(v) < 68 ||
			    json_integer_value(v) > 65535)
				return berr_set(
				    err, EINVAL,
				    "config: 'bridge.mtu' must be an integer from 68 to 65535");
			mtu = (unsigned)json_integer_value(v);
		} else {
			return berr_set(err, EINVAL, "config: unknown key 'bridge.%s'", key);
		}
	}
	ret->name = strdup(NET_DEFAULT_NAME);
	ret->labels = json_object();
	if (!ret->name || !ret->labels) {
		net_conf_free(ret);
		return -ENOMEM;
	}
	ret->is_default = 1;
	ret->mtu = mtu;
	snprintf(ret->bridge, sizeof(ret->bridge), "%s", device);
	int r = 0;
	if (strlen(device) >= IF_NAMESIZE || !net_ifname_valid(device))
		r = berr_set(err, EINVAL, "config: 'bridge.device': invalid name '%s'", device);
	if (r >= 0)
		r = net_subnet_parse(subnet, 0, &ret->subnet, NULL, err);
	if (r >= 0 && gateway && net_ip4_parse(gateway, &ret->gateway) < 0)
		r = berr_set(err, EINVAL, "config: 'bridge.gateway': invalid address '%s'",
			     gateway);
	if (r >= 0 && !gateway)
		ret->gateway = ret->subnet.addr + 1;
	if (r >= 0 && range)
		r = net_subnet_parse(range, 0, &ret->ip_range, NULL, err);
	else if (r >= 0)
		ret->ip_range = ret->subnet;
	if (r >= 0)
		r = conf_check(ret, "config: 'bridge'", err);
	if (r < 0) {
		if (err && *err && strncmp((*err)->msg, "config", 6) != 0)
			berr_wrap(err, "config: 'bridge'");
		net_conf_free(ret);
		return r;
	}
	default_id(ret->bridge, ret->id);
	return 0;
}

json_t *net_conf_to_json(const struct net_conf *nc)
{
	char s[NET_CIDR4_STRLEN], g[NET_IP4_STRLEN], ir[NET_CIDR4_STRLEN];
	return json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:b,s:O,s:s}", "version", 1, "name",
			 nc->name, "id", nc->id, "driver", "bridge", "bridge", nc->bridge, "subnet",
			 net_subnet_format(&nc->subnet, s), "gateway",
			 net_ip4_format(nc->gateway, g), "ip_range",
			 net_subnet_format(&nc->ip_range, ir), "mtu", (json_int_t)nc->mtu,
			 "internal", nc->internal, "labels",
			 nc->labels ? nc->labels : json_object(), "created", nc->created);
}

static int id_valid(const char *s)
{
	if (strlen(s) != NET_ID_LEN)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

int net_conf_from_json(json_t *j, struct net_conf *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	json_t *name = json_object_get(j, "name"), *id = json_object_get(j, "id");
	json_t *driver = json_object_get(j, "driver"), *bridge = json_object_get(j, "bridge");
	json_t *subnet = json_object_get(j, "subnet"), *gw = json_object_get(j, "gateway");
	json_t *range = json_object_get(j, "ip_range"), *mtu = json_object_get(j, "mtu");
	json_t *internal = json_object_get(j, "internal"), *labels = json_object_get(j, "labels");
	json_t *created = json_object_get(j, "created");
	if (!json_is_object(j) || !json_is_string(name) || !json_is_string(id) ||
	    !json_is_string(driver) || !json_is_string(bridge) || !json_is_string(subnet) ||
	    !json_is_string(gw) || (range && !json_is_string(range)) || !json_is_integer(mtu) ||
	    (internal && !json_is_boolean(internal)) || (labels && !json_is_object(labels)) ||
	    (created && !json_is_string(created)))
		return berr_set(err, EINVAL, "bad network definition: missing or mistyped field");
	if (!net_name_valid(json_string_value(name)) || !id_valid(json_string_value(id)))
		return berr_set(err, EINVAL, "bad network definition: bad name or id");
	if (!streq(json_string_value(driver), "bridge"))
		return berr_set(err, EINVAL, "bad network definition: driver '%s' is not supported",
				json_string_value(driver));
	const char *k;
	json_t *v;
	json_object_foreach(labels, k, v)
	{
		if (!json_is_string(v))
			return berr_set(err, EINVAL, "bad network definition: label '%s'", k);
	}
	if (json_integer_value(mtu) < 68 || json_integer_value(mtu) > 65535)
		return berr_set(err, EINVAL, "bad network definition: bad mtu");
	if (strlen(json_string_value(bridge)) >= IF_NAMESIZE ||
	    (created && strlen(json_string_value(created)) >= sizeof(ret->created)))
		return berr_set(err, EINVAL, "bad network definition: field too long");
	ret->name = strdup(json_string_value(name));
	ret->labels = labels ? json_deep_copy(labels) : json_object();
	if (!ret->name || !ret->labels) {
		net_conf_free(ret);
		return -ENOMEM;
	}
	snprintf(ret->id, sizeof(ret->id), "%s", json_string_value(id));
	snprintf(ret->bridge, sizeof(ret->bridge), "%s", json_string_value(bridge));
	snprintf(ret->created, sizeof(ret->created), "%s",
		 created ? json_string_value(created) : "");
	ret->mtu = (unsigned)json_integer_value(mtu);
	ret->internal = json_is_true(internal);
	int r = net_subnet_parse(json_string_value(subnet), 0, &ret->subnet, NULL, err);
	if (r >= 0 && net_ip4_parse(json_string_value(gw), &ret->gateway) < 0)
		r = berr_set(err, EINVAL, "bad gateway '%s'", json_string_value(gw));
	if (r >= 0 && range)
		r = net_subnet_parse(json_string_value(range), 0, &ret->ip_range, NULL, err);
	else if (r >= 0)
		ret->ip_range = ret->subnet;
	if (r >= 0)
		r = conf_check(ret, "network", err);
	if (r < 0) {
		berr_wrap(err, "bad network definition '%s'", json_string_value(name));
		net_conf_free(ret);
	}
	return r;
}

static int networks_dir(const char *root, int create, int *ret, struct berr **err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/networks", root) < 0)
		return -ENOMEM;
	if (create) {
		int r = fs_mkdir_p_at(AT_FDCWD, path, 0700);
		if (r < 0)
			return berr_errno(err, r, "create '%s'", path);
	}
	int fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT && !create ? -ENOENT
						  : berr_errno(err, errno, "open '%s'", path);
	*ret = fd;
	return 0;
}

static int load_file(int dirfd, const char *fname, struct net_conf *ret, struct berr **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = fs_read_all_at(dirfd, fname, CONF_MAX, &text, &len);
	if (r < 0)
		return r == -ENOENT ? r : berr_errno(err, r, "read network '%s'", fname);
	json_error_t je;
	_cleanup_json_ json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return berr_set(err, EINVAL, "network file '%s': %s", fname, je.text);
	r = net_conf_from_json(j, ret, err);
	if (r < 0)
		return berr_wrap(err, "network file '%s'", fname);
	return 0;
}

static int cmp_conf_name(const void *a, const void *b)
{
	return strcmp(((const struct net_conf *)a)->name, ((const struct net_conf *)b)->name);
}

static void confs_free(struct net_conf *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		net_conf_free(&v[i]);
	free(v);
}

int net_conf_list(const char *root, json_t *config, struct net_conf **ret, size_t *ret_n,
		  struct berr **err)
{
	struct net_conf *v = calloc(1, sizeof(*v));
	size_t n = 0;
	if (!v)
		return -ENOMEM;
	int r = net_conf_default(config, &v[0], err);
	if (r < 0) {
		free(v);
		return r;
	}
	n = 1;
	_cleanup_close_ int dirfd = -1;
	_cleanup_closedir_ DIR *d = NULL;
	r = networks_dir(root, 0, &dirfd, err);
	if (r == -ENOENT) {
		*ret = v;
		*ret_n = n;
		return 0;
	}
	if (r < 0)
		goto fail;
	int dfd = dup(dirfd);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		r = berr_errno(err, errno, "read networks");
		goto fail;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 6 || !streq(de->d_name + l - 5, ".json"))
			continue;
		struct net_conf *nv = realloc(v, (n + 1) * sizeof(*nv));
		if (!nv) {
			r = -ENOMEM;
			goto fail;
		}
		v = nv;
		r = load_file(dirfd, de->d_name, &v[n], err);
		if (r == -ENOENT)
			continue; /* removed while we listed */
		if (r < 0)
			goto fail;
		n++;
	}
	qsort(v + 1, n - 1, sizeof(*v), cmp_conf_name);
	*ret = v;
	*ret_n = n;
	return 0;
fail:
	confs_free(v, n);
	return r;
}

int net_conf_load(const char *root, json_t *config, const char *name_or_id, struct net_conf *ret,
		  struct berr **err)
{
	struct net_conf *all = NULL;
	size_t n = 0;
	int r = net_conf_list(root, config, &all, &n, err);
	if (r < 0)
		return r;
	/* Docker's order: exact name, then full id, then a unique id prefix. */
	ssize_t found = -1;
	for (size_t i = 0; i < n && found < 0; i++)
		if (streq(all[i].name, name_or_id))
			found = (ssize_t)i;
	for (size_t i = 0; i < n && found < 0; i++)
		if (streq(all[i].id, name_or_id))
			found = (ssize_t)i;
	size_t plen = strlen(name_or_id);
	if (found < 0 && plen > 0) {
		size_t matches = 0;
		for (size_t i = 0; i < n; i++)
			if (strncmp(all[i].id, name_or_id, plen) == 0) {
				matches++;
				found = (ssize_t)i;
			}
		if (matches > 1) {
			confs_free(all, n);
			return berr_set(
			    err, EINVAL,
			    "network %s is ambiguous (%zu matches found based on ID prefix)",
			    name_or_id, matches);
		}
	}
	if (found < 0) {
		confs_free(all, n);
		return berr_set(err, ENOENT, "network %s not found", name_or_id);
	}
	*ret = all[found];
	memset(&all[found], 0, sizeof(all[found]));
	confs_free(all, n);
	return 0;
}

/* IPv4 routes of the host (the main table as /proc/net/route shows it), so that an
 * automatic subnet does not shadow a network the host already reaches. */
static int host_routes(struct net_subnet **ret, size_t *ret_n)
{
	*ret = NULL;
	*ret_n = 0;
	_cleanup_fclose_ FILE *f = fopen("/proc/net/route", "re");
	if (!f)
		return 0;
	char line[512];
	struct net_subnet *v = NULL;
	size_t n = 0;
	while (fgets(line, sizeof(line), f)) {
		char ifn[64];
		unsigned dst, gw, flags, mask;
		if (sscanf(line, "%63s %x %x %x %*s %*s %*s %x", ifn, &dst, &gw, &flags, &mask) !=
		    5)
			continue;
		if (mask == 0)
			continue; /* the default route overlaps everything by definition */
		/* /proc/net/route prints the network-order value as a host integer: ntohl
		 * gives the address on either byte order. */
		uint32_t d = ntohl(dst), m = ntohl(mask);
		unsigned prefix = (unsigned)__builtin_popcount(m);
		struct net_subnet *nv = realloc(v, (n + 1) * sizeof(*nv));
		if (!nv) {
			free(v);
			return -ENOMEM;
		}
		v = nv;
		v[n].addr = d & net_prefix_mask(prefix);
		v[n].prefix = (uint8_t)prefix;
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int lock_networks(int dirfd, int *ret, struct berr **err)
{
	int fd = openat(dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return berr_errno(err, errno, "lock networks");
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			return berr_errno(err, e, "lock networks");
		}
	*ret = fd;
	return 0;
}

static int random_id(char out[NET_ID_LEN + 1])
{
	unsigned char b[NET_ID_LEN / 2];
	size_t got = 0;
	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

int net_conf_create(const char *root, json_t *config, const struct net_create_opts *o,
		    struct net_conf *ret, struct berr **err)
{
	if (!o->name || !net_name_valid(o->name))
		return berr_set(
		    err, EINVAL,
		    "invalid network name '%s': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
		    o->name ? o->name : "");
	if (streq(o->name, NET_DEFAULT_NAME) || streq(o->name, "host") || streq(o->name, "none"))
		return berr_set(err, EEXIST, "network with name %s already exists", o->name);
	if (o->labels && !json_is_object(o->labels))
		return berr_set(err, EINVAL, "labels must be an object");

	_cleanup_net_conf_ struct net_conf nc = {0};
	nc.name = strdup(o->name);
	nc.labels = o->labels ? json_deep_copy(o->labels) : json_object();
	if (!nc.name || !nc.labels)
		return -ENOMEM;
	int r = random_id(nc.id);
	if (r < 0)
		return berr_errno(err, r, "network id");
	nc.mtu = o->mtu ? o->mtu : 1500;
	nc.internal = o->internal;
	if (o->bridge && (strlen(o->bridge) >= IF_NAMESIZE || !net_ifname_valid(o->bridge)))
		return berr_set(err, EINVAL, "invalid bridge name '%s'", o->bridge);
	snprintf(nc.bridge, sizeof(nc.bridge), "%s", o->bridge ? o->bridge : "");
	if (!o->bridge)
		snprintf(nc.bridge, sizeof(nc.bridge), "br-%.12s", nc.id);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	_cleanup_free_ char *created = fmt_rfc3339_nano(ts.tv_sec, ts.tv_nsec);
	snprintf(nc.created, sizeof(nc.created), "%s", created ? created : "");

	if (o->subnet) {
		r = net_subnet_parse(o->subnet, 0, &nc.subnet, NULL, err);
		if (r < 0)
			return r;
	} else if (o->gateway || o->ip_range) {
		return berr_set(err, EINVAL, "a gateway or ip-range needs a subnet");
	}

	_cleanup_close_ int dirfd = -1, lockfd = -1;
	r = networks_dir(root, 1, &dirfd, err);
	if (r >= 0)
		r = lock_networks(dirfd, &lockfd, err);
	if (r < 0)
		return r;
	struct net_conf *all = NULL;
	size_t n = 0;
	r = net_conf_list(root, config, &all, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (streq(all[i].name, nc.name))
			r = berr_set(err, EEXIST, "network with name %s already exists", nc.name);
		else if (streq(all[i].bridge, nc.bridge))
			r = berr_set(err, EEXIST, "bridge name %s is used by network %s", nc.bridge,
				     all[i].name);
		else if (o->subnet && net_subnet_overlaps(&all[i].subnet, &nc.subnet))
			r = berr_set(err, EINVAL,
				     "invalid pool request: Pool overlaps with other one on this "
				     "address space (network %s)",
				     all[i].name);
	}
	if (r >= 0 && !o->subnet) {
		/* Podman's choice of pool: 10.89.N.0/24, the first that is free here. */
		struct net_subnet *routes = NULL;
		size_t nroutes = 0;
		r = host_routes(&routes, &nroutes);
		int found = 0;
		for (unsigned k = 0; k < 256 && r >= 0 && !found; k++) {
			struct net_subnet cand = {(10u << 24) | (89u << 16) | (k << 8), 24};
			int clash = 0;
			for (size_t i = 0; i < n && !clash; i++)
				clash = net_subnet_overlaps(&all[i].subnet, &cand);
			for (size_t i = 0; i < nroutes && !clash; i++)
				clash = net_subnet_overlaps(&routes[i], &cand);
			if (!clash) {
				nc.subnet = cand;
				found = 1;
			}
		}
		free(routes);
		if (r >= 0 && !found)
			r = berr_set(
			    err, ENOSPC,
			    "could not find an available, non-overlapping IPv4 address pool");
	}
	confs_free(all, n);
	if (r < 0)
		return r;

	nc.gateway = nc.subnet.addr + 1;
	if (o->gateway && net_ip4_parse(o->gateway, &nc.gateway) < 0)
		return berr_set(err, EINVAL, "invalid gateway '%s'", o->gateway);
	nc.ip_range = nc.subnet;
	if (o->ip_range) {
		r = net_subnet_parse(o->ip_range, 0, &nc.ip_range, NULL, err);
		if (r < 0)
			return r;
	}
	r = conf_check(&nc, "network", err);
	if (r < 0)
		return r;

	_cleanup_json_ json_t *j = net_conf_to_json(&nc);
	_cleanup_free_ char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	if (!text)
		return -ENOMEM;
	char fname[NAME_MAX_LEN + 8];
	snprintf(fname, sizeof(fname), "%s.json", nc.name);
	r = fs_write_atomic_at(dirfd, fname, text, strlen(text), 0600);
	if (r < 0)
		return berr_errno(err, r, "write network '%s'", nc.name);
	*ret = nc;
	memset(&nc, 0, sizeof(nc));
	return 0;
}

int net_conf_remove(const char *root, const char *name, struct berr **err)
{
	if (streq(name, NET_DEFAULT_NAME) || streq(name, "host") || streq(name, "none"))
		return berr_set(err, EPERM, "%s is a pre-defined network and cannot be removed",
				name);
	if (!net_name_valid(name))
		return berr_set(err, ENOENT, "network %s not found", name);
	_cleanup_close_ int dirfd = -1, lockfd = -1;
	int r = networks_dir(root, 0, &dirfd, err);
	if (r == -ENOENT)
		return berr_set(err, ENOENT, "network %s not found", name);
	if (r >= 0)
		r = lock_networks(dirfd, &lockfd, err);
	if (r < 0)
		return r;
	char fname[NAME_MAX_LEN + 8];
	snprintf(fname, sizeof(fname), "%s.json", name);
	if (faccessat(dirfd, fname, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return berr_set(err, ENOENT, "network %s not found", name);
	r = net_ipam_remove(root, name, err);
	if (r < 0)
		return r;
	if (unlinkat(dirfd, fname, 0) < 0)
		return berr_errno(err, errno, "remove network '%s'", name);
	return fs_fsync_dir_at(dirfd, ".");
}
