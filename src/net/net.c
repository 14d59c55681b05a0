#include "net.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "ipam.h"
#include "link.h"
#include "nft.h"
#include "banned.h"

int net_network_up(const struct net_env *env, const struct net_conf *nc, struct berr **err)
{
	if (!net_ifname_valid(nc->bridge))
		return berr_set(err, EINVAL, "network '%s': bad bridge name '%s'", nc->name,
				nc->bridge);
	_cleanup_net_nl_ struct net_nl *nl = NULL;
	int index = 0;
	int r = net_nl_open(-1, &nl, err);
	if (r >= 0)
		r = net_link_bridge_add(nl, nc->bridge, nc->mtu, &index, err);
	if (r >= 0)
		r = net_addr_add(nl, index, nc->gateway, nc->subnet.prefix, err);
	if (r >= 0)
		r = net_link_up(nl, index, 0, err);
	if (r >= 0)
		r = net_sysctl_set("net/ipv4/ip_forward", "1", err);
	if (r >= 0) {
		char key[96];
		snprintf(key, sizeof(key), "net/ipv4/conf/%s/route_localnet", nc->bridge);
		r = net_sysctl_set(key, "1", err);
	}
	if (r >= 0)
		r = net_nft_network_add(env->nft_prefix, nc, err);
	if (r < 0)
		return berr_wrap(err, "network '%s' up", nc->name);
	return 0;
}

int net_network_down(const struct net_env *env, const struct net_conf *nc, struct berr **err)
{
	if (!net_ifname_valid(nc->bridge))
		return berr_set(err, EINVAL, "network '%s': bad bridge name '%s'", nc->name,
				nc->bridge);
	int r = net_nft_network_del(env->nft_prefix, nc, err);
	_cleanup_net_nl_ struct net_nl *nl = NULL;
	if (r >= 0)
		r = net_nl_open(-1, &nl, err);
	if (r >= 0) {
		char kind[16];
		/* Only ever delete a bridge: a name clash must not take down something else. */
		if (net_link_get(nl, nc->bridge, NULL, kind) == 0 && streq(kind, "bridge"))
			r = net_link_del(nl, nc->bridge, err);
	}
	if (r < 0)
		return berr_wrap(err, "network '%s' down", nc->name);
	return 0;
}

void net_veth_name(const char *container_id, const struct net_conf *nc, char ret[IF_NAMESIZE])
{
	uint32_t h = 2166136261u;
	for (const char *p = container_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (const char *p = nc->id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	char head[6] = "";
	size_t k = 0;
	for (const char *p = container_id; *p && k < 5; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
			head[k++] = *p;
	head[k] = '\0';
	snprintf(ret, IF_NAMESIZE, "vb%s%08x", head, h);
}

static int attach_inside(const struct net_conf *nc, const struct net_attach_req *req,
			 const char *ifname, uint32_t ip, struct berr **err)
{
	_cleanup_net_nl_ struct net_nl *nl = NULL;
	int lo, eth;
	int r = net_nl_open(req->netns_fd, &nl, err);
	if (r < 0)
		return r;
	r = net_link_get(nl, "lo", &lo, NULL);
	if (r < 0)
		return berr_errno(err, r, "container's lo");
	r = net_link_up(nl, lo, 0, err);
	if (r < 0)
		return r;
	r = net_link_get(nl, ifname, &eth, NULL);
	if (r < 0)
		return berr_errno(err, r, "container's %s", ifname);
	r = net_addr_add(nl, eth, ip, nc->subnet.prefix, err);
	if (r >= 0)
		r = net_link_up(nl, eth, 0, err);
	if (r >= 0 && !req->no_default_route)
		r = net_route_add_default(nl, eth, nc->gateway, err);
	return r;
}

int net_attach(const struct net_env *env, const struct net_conf *nc,
	       const struct net_attach_req *req, struct net_endpoint *ret, struct berr **err)
{
	const char *ifname = req->ifname ? req->ifname : "eth0";
	if (!req->container_id || !net_name_valid(req->container_id))
		return berr_set(err, EINVAL, "bad container id");
	if (!net_ifname_valid(ifname))
		return berr_set(err, EINVAL, "bad interface name '%s'", ifname);
	if (req->netns_fd < 0)
		return berr_set(err, EBADF, "no network namespace given");
	uint32_t want = 0;
	if (req->ip && net_ip4_parse(req->ip, &want) < 0)
		return berr_set(err, EINVAL, "invalid IPv4 address: %s", req->ip);

	int r = net_network_up(env, nc, err);
	if (r < 0)
		return r;
	struct net_ipam_req ireq = {
	    .id = req->container_id,
	    .name = req->name,
	    .aliases = req->aliases,
	    .hosts_path = req->hosts_path,
	    .want = want,
	};
	uint32_t ip;
	r = net_ipam_alloc(env->root, nc, &ireq, &ip, err);
	if (r < 0)
		return berr_wrap(err, "network '%s'", nc->name);

	struct net_endpoint ep = {0};
	snprintf(ep.ifname, sizeof(ep.ifname), "%s", ifname);
	net_veth_name(req->container_id, nc, ep.host_ifname);
	ep.ip = ip;
	ep.gateway = nc->gateway;
	ep.prefix = nc->subnet.prefix;
	/* A MAC that follows from the address (Docker's 02:42 and the four bytes): a reused
	 * address comes back with the same MAC, so peers' ARP caches stay right. */
	const uint8_t mac[6] = {
	    0x02, 0x42, (uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8), (uint8_t)ip};
	memcpy(ep.mac, mac, 6);
	net_ip4_format(ip, ep.ip_str);
	net_ip4_format(nc->gateway, ep.gateway_str);
	snprintf(ep.mac_str, sizeof(ep.mac_str), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);

	_cleanup_net_nl_ struct net_nl *nl = NULL;
	int br, veth;
	r = net_nl_open(-1, &nl, err);
	if (r >= 0) {
		r = net_link_get(nl, nc->bridge, &br, NULL);
		if (r < 0)
			r = berr_errno(err, r, "bridge '%s'", nc->bridge);
	}
	if (r >= 0)
		r = net_link_veth_add(nl, ep.host_ifname, ifname, req->netns_fd, nc->mtu, mac,
				      &veth, err);
	if (r < 0)
		goto undo_ipam;
	r = net_link_up(nl, veth, br, err);
	if (r >= 0)
		r = net_link_set_hairpin(nl, veth, err);
	if (r >= 0)
		r = attach_inside(nc, req, ifname, ip, err);
	if (r < 0)
		goto undo_veth;
	*ret = ep;
	return 0;

undo_veth:
	if (nl)
		net_link_del(nl, ep.host_ifname, NULL);
undo_ipam:
	net_ipam_release(env->root, nc, req->container_id, NULL);
	return berr_wrap(err, "attach to network '%s'", nc->name);
}

static int detach(const struct net_env *env, const struct net_conf *nc, const char *container_id,
		  pid_t *ret_pid, struct berr **err)
{
	if (!container_id || !net_name_valid(container_id))
		return berr_set(err, EINVAL, "bad container id");
	char host_if[IF_NAMESIZE];
	net_veth_name(container_id, nc, host_if);
	_cleanup_net_nl_ struct net_nl *nl = NULL;
	int r = net_nl_open(-1, &nl, err);
	if (r >= 0)
		r = ret_pid ? net_link_del_detached(nl, host_if, ret_pid, err)
			    : net_link_del(nl, host_if, err);
	/* After the link: its address is free only when nothing answers for it any more. */
	if (r >= 0)
		r = net_ipam_release(env->root, nc, container_id, err);
	if (r < 0)
		return berr_wrap(err, "detach from network '%s'", nc->name);
	return 0;
}

int net_detach(const struct net_env *env, const struct net_conf *nc, const char *container_id,
	       struct berr **err)
{
	return detach(env, nc, container_id, NULL, err);
}

int net_detach_nowait(const struct net_env *env, const struct net_conf *nc,
		      const char *container_id, pid_t *ret_pid, struct berr **err)
{
	*ret_pid = -1;
	return detach(env, nc, container_id, ret_pid, err);
}

int net_publish(const struct net_env *env, const char *container_id, const struct net_endpoint *ep,
		const struct net_port_rsvs *r, struct berr **err)
{
	_cleanup_net_ports_ struct net_ports ports = NET_PORTS_INIT;
	int e = net_port_rsvs_ports(r, &ports);
	if (e < 0)
		return e;
	return net_nft_ports_add(env->nft_prefix, container_id, ep->ip, &ports, err);
}

int net_unpublish(const struct net_env *env, const char *container_id, struct berr **err)
{
	return net_nft_ports_del(env->nft_prefix, container_id, err);
}
