/* rtnetlink through libmnl: links (bridge, veth), addresses, routes, in any network
 * namespace. No `ip` child processes: every change is one netlink request whose error comes
 * back as an errno.
 *
 * A struct net_nl is a NETLINK_ROUTE socket created inside a network namespace; every
 * request on it acts in that namespace (a netlink socket stays in the namespace it was
 * created in). Opening one for another namespace switches the calling thread there with
 * setns() for the socket() call only and back at once.
 *
 * Addresses are IPv4 in host byte order (addr.h).
 */
#ifndef BERTH_NET_LINK_H
#define BERTH_NET_LINK_H

#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct net_nl;

/* Open a socket in the namespace of netns_fd (an fd of /proc/<pid>/ns/net or of a file
 * under /run/netns), or in the caller's with -1. Caller closes with net_nl_close. */
int net_nl_open(int netns_fd, struct net_nl **ret, struct berr **err);
void net_nl_close(struct net_nl *nl);
static inline void net_nl_closep(struct net_nl **nl)
{
	if (*nl)
		net_nl_close(*nl);
}
#define _cleanup_net_nl_ __attribute__((cleanup(net_nl_closep)))

/* Open /proc/<pid>/ns/net (close-on-exec). fd or -errno. */
int net_netns_open_pid(pid_t pid);

/* Index of link name; -ENODEV when there is none. ret_kind (may be NULL, 16 bytes) gets
 * its kind ("bridge", "veth", "" for a device without one). */
int net_link_get(struct net_nl *nl, const char *name, int *ret_index, char *ret_kind);

/* Create bridge name (mtu; a fixed random MAC so that the bridge's address does not follow
 * its lowest port's), or accept an existing bridge of that name. -EEXIST when name exists
 * and is no bridge. */
int net_link_bridge_add(struct net_nl *nl, const char *name, unsigned mtu, int *ret_index,
			struct berr **err);

/* Create a veth pair: host_name here, its peer named peer_name created directly in the
 * namespace peer_netns_fd with MAC peer_mac (NULL: the kernel's). Creating the peer in place
 * saves the move-and-rename and cannot collide with a host link of the peer's name.
 * A stale host_name (a crash between create and delete) is deleted and the pair made
 * again. */
int net_link_veth_add(struct net_nl *nl, const char *host_name, const char *peer_name,
		      int peer_netns_fd, unsigned mtu, const uint8_t *peer_mac, int *ret_index,
		      struct berr **err);

/* Set a link up (and, when master_index > 0, enslave it to that bridge). */
int net_link_up(struct net_nl *nl, int index, int master_index, struct berr **err);

/* Turn hairpin mode on for a bridge port, so that a container reaching its own published
 * port through the host's address gets its packets back through the same port. */
int net_link_set_hairpin(struct net_nl *nl, int index, struct berr **err);

/* Delete a link by name (a veth's peer goes with it). A missing link is success. */
int net_link_del(struct net_nl *nl, const char *name, struct berr **err);
/* Delete link name (host namespace only) and return once it is gone from the namespace
 * (the kernel's RTM_DELLINK notification: unlisted, closed, off its bridge, addresses
 * gone), not once the kernel has finished with it: after that it still waits for RCU
 * grace periods, 10-40 ms here. A child process sends the request and stays in the kernel
 * for that part; *ret_pid is that child when it still runs on return (the caller must reap
 * it, or leave it to a subreaper), else -1. The child holds no file descriptor of ours.
 * Gone already: 0. Without notifications (ENOBUFS), it waits for the child. */
int net_link_del_detached(struct net_nl *nl, const char *name, pid_t *ret_pid, struct berr **err);

/* Add ip/prefix to link index (broadcast: the subnet's last address). Already there: 0. */
int net_addr_add(struct net_nl *nl, int index, uint32_t ip, unsigned prefix, struct berr **err);
/* 1 when link index has address ip, 0 when not. */
int net_addr_has(struct net_nl *nl, int index, uint32_t ip, struct berr **err);

/* Default route via gw out of link index. Already there: 0. */
int net_route_add_default(struct net_nl *nl, int index, uint32_t gw, struct berr **err);

/* Write value to /proc/sys/<key> (key like "net/ipv4/ip_forward") unless it already holds
 * it. Acts in the caller's network namespace. */
int net_sysctl_set(const char *key, const char *value, struct berr **err);

#endif
