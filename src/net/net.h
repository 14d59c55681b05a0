/* Container networking, put together: what `berth run` calls.
 *
 * A container on a bridge network, in order (each step is undone by its counterpart):
 *
 *   net_ports_reserve()   before anything else: a port in use fails here (ports.h)
 *   ... the runtime creates the container with a new network namespace ...
 *   net_attach()          network up (bridge, gateway address, ip_forward, nft rules),
 *                         an address from IPAM, a veth pair (host end on the bridge, the
 *                         other end created as eth0 inside the container), address, lo up,
 *                         default route; peers' /etc/hosts updated
 *   net_publish()         DNAT rules for the IPv4 reservations (nft.h); the IPv6 ones go
 *                         to a proxy (net_proxy_add_reserved, proxy.h) that the container's
 *                         monitor runs; the monitor also keeps the reservations open
 *   ...
 *   net_unpublish()       on stop: the DNAT rules go
 *   net_detach()          the host veth goes (its peer with it), the address is released,
 *                         peers' /etc/hosts updated
 *   (the monitor closes the reservations and the proxy)
 *
 * Every undo step is idempotent and succeeds when there is nothing to undo, so a cleanup
 * after a crash can run all of them blindly.
 */
#ifndef BERTH_NET_NET_H
#define BERTH_NET_NET_H

#include <jansson.h>
#include <net/if.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "err.h"
#include "netconf.h"
#include "ports.h"
#include "strv.h"

struct net_env {
	const char *root;	/* berth's --root; <root>/networks/ holds the state */
	json_t *config;		/* berth's config (its "bridge" object); NULL: defaults */
	const char *nft_prefix; /* NULL: "berth" (tables "inet berth" and "ip berth_nat") */
};

/* Bring up the host side of nc: bridge (created when missing) with the gateway address,
 * up; net.ipv4.ip_forward=1; route_localnet=1 on the bridge (for published ports reached
 * at 127.0.0.1, see nft.h); the network's nft rules. Idempotent. */
int net_network_up(const struct net_env *env, const struct net_conf *nc, struct berr **err);
/* Remove nc's nft rules and its bridge. Idempotent. Containers still attached lose their
 * connectivity: check for endpoints first (net_ipam_list). */
int net_network_down(const struct net_env *env, const struct net_conf *nc, struct berr **err);

struct net_attach_req {
	const char *container_id;   /* required; [a-zA-Z0-9_.-] */
	const char *name;	    /* container name, for peers; NULL: none */
	const struct strv *aliases; /* --network-alias; NULL: none */
	const char *ip;		    /* --ip; NULL: allocate */
	const char *ifname;	    /* name inside the container; NULL: "eth0" */
	const char *hosts_path;	    /* the container's hosts file to keep current; NULL: none */
	int netns_fd;		    /* the container's network namespace (net_netns_open_pid) */
	int no_default_route;	    /* 1 for a second network: no default route through it */
};

struct net_endpoint {
	char ifname[IF_NAMESIZE];      /* inside the container */
	char host_ifname[IF_NAMESIZE]; /* the host end of the veth */
	uint32_t ip, gateway;	       /* host byte order */
	unsigned prefix;
	uint8_t mac[6];
	char ip_str[NET_IP4_STRLEN], gateway_str[NET_IP4_STRLEN];
	char mac_str[18];
};

/* Attach a container to nc (see above). On failure everything done so far is undone. */
int net_attach(const struct net_env *env, const struct net_conf *nc,
	       const struct net_attach_req *req, struct net_endpoint *ret, struct berr **err);
/* Detach container_id from nc. Idempotent. */
int net_detach(const struct net_env *env, const struct net_conf *nc, const char *container_id,
	       struct berr **err);
/* The same, returning once the veth is gone from the host rather than once the kernel is
 * done with it (net_link_del_detached): *ret_pid is the child still finishing the
 * deletion, or -1; the caller reaps it or leaves it to a subreaper. */
int net_detach_nowait(const struct net_env *env, const struct net_conf *nc,
		      const char *container_id, pid_t *ret_pid, struct berr **err);

/* The host end's name for a container on a network: "vb", 5 digits of the id, 8 of a hash
 * of both ids (so that two networks of one container never share a name). */
void net_veth_name(const char *container_id, const struct net_conf *nc, char ret[IF_NAMESIZE]);

/* Publish the IPv4 reservations of r (DNAT to ep->ip). */
int net_publish(const struct net_env *env, const char *container_id, const struct net_endpoint *ep,
		const struct net_port_rsvs *r, struct berr **err);
int net_unpublish(const struct net_env *env, const char *container_id, struct berr **err);

#endif
