/* berth's nftables rules, through libnftables (no `nft` or `iptables` child processes).
 *
 * berth owns two tables and touches nothing else ("berth" is the default prefix; tests
 * use their own so that they never meet a real berth's rules):
 *
 *   table ip berth_nat
 *     chain prerouting   nat, dstnat:   fib daddr type local jump ports
 *     chain output       nat, -100:     fib daddr type local jump ports
 *     chain ports        one DNAT rule per published IPv4 port
 *     chain postrouting  nat, srcnat:   per network: masquerade of its subnet leaving by
 *                        another interface; of 127.0.0.0/8 sources entering the bridge
 *                        (published ports reached at 127.0.0.1); of DNATed traffic
 *                        from the subnet back into the bridge (hairpin)
 *   table inet berth
 *     set bridges        every berth bridge
 *     chain guard        filter, raw:   per network: drop packets from the bridge to
 *                        127.0.0.0/8 (route_localnet on the bridge would let a container
 *                        reach the host's loopback services otherwise)
 *     chain forward      filter:        DNATed traffic passes; a bridge may not forward to
 *                        another berth bridge (network isolation); an internal network
 *                        forwards nowhere
 *
 * Every rule carries a comment naming its owner: "berth-net:<bridge>:<hash of the rules'
 * text>" for a network's rules, "berth:<container id>:<proto>:<host ip or *>:<host port>"
 * for a published port. The rules are read with a rule dump over raw nf_tables netlink
 * (chain, handle, comment); removal deletes exactly the owner's rules by handle. All
 * changes are serialised by a host-wide flock (/run/berth-<prefix>.nft.lock) and applied
 * through libnftables as single batches, which the kernel commits atomically. A network
 * whose rules are in place (the same hash) costs one read, no lock and no commit.
 */
#ifndef BERTH_NET_NFT_H
#define BERTH_NET_NFT_H

#include <stdint.h>

#include "err.h"
#include "netconf.h"
#include "ports.h"

#define NET_NFT_DEFAULT_PREFIX "berth"

/* prefix: NULL for "berth"; else [a-zA-Z0-9_] up to 24 characters. */

/* Create the tables and base chains when missing, then add nc's rules (replacing any
 * earlier ones for the same bridge). Idempotent; when everything is in place already it
 * only reads the ruleset. */
int net_nft_network_add(const char *prefix, const struct net_conf *nc, struct berr **err);
/* Remove nc's rules and its set element. Idempotent. */
int net_nft_network_del(const char *prefix, const struct net_conf *nc, struct berr **err);

/* DNAT rules for the IPv4 entries of ports (resolved: family AF_INET, host_port set) to
 * container_ip. Replaces the container's earlier rules, and rules of other containers for
 * an overlapping address and the same port and protocol: those are stale, since the
 * caller holds the port's reservation (ports.h), which a live owner would hold instead.
 * IPv6 entries are skipped (the proxy serves them). */
int net_nft_ports_add(const char *prefix, const char *container_id, uint32_t container_ip,
		      const struct net_ports *ports, struct berr **err);
/* Remove every port rule of container_id. Idempotent. */
int net_nft_ports_del(const char *prefix, const char *container_id, struct berr **err);

/* Count the rules owned by container_id (ports) or, with container_id NULL, by bridge
 * (network). For tests and for `berth network inspect`-style diagnostics. */
int net_nft_count(const char *prefix, const char *container_id, const char *bridge,
		  struct berr **err);

/* Delete both tables (tests; a full reset). Missing tables are success. */
int net_nft_destroy(const char *prefix, struct berr **err);

#endif
