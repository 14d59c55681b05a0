/* IPv4 addresses and subnets as berth's networks use them.
 *
 * Addresses are kept in host byte order (uint32_t) so that the allocator can count through
 * a subnet with plain arithmetic; the netlink and socket code converts at the edge
 * (htonl). Text forms are the dotted quad and "a.b.c.d/len". None of these allocate.
 */
#ifndef BERTH_NET_ADDR_H
#define BERTH_NET_ADDR_H

#include <stdint.h>

#include "err.h"

/* Room for "255.255.255.255" and for "255.255.255.255/32" (with the NUL). */
#define NET_IP4_STRLEN 16
#define NET_CIDR4_STRLEN 19

struct net_subnet {
	uint32_t addr;	/* the network address, host bits zero */
	uint8_t prefix; /* 0..32 */
};

/* Parse a dotted quad strictly: four decimal parts 0..255, no leading zeros (so "010.1.1.1"
 * is not silently octal or decimal), nothing after it. 0 or -EINVAL (no message). */
int net_ip4_parse(const char *s, uint32_t *ret);
/* Write the dotted quad of a into buf (NET_IP4_STRLEN bytes); returns buf. */
char *net_ip4_format(uint32_t a, char buf[NET_IP4_STRLEN]);

/* Parse "a.b.c.d/len". With host bits set ("10.88.0.1/16") it fails with -EINVAL unless
 * allow_host_bits is non-zero, in which case *ret_host (when not NULL) receives the address
 * and ret the masked network. err gets a message naming s. */
int net_subnet_parse(const char *s, int allow_host_bits, struct net_subnet *ret, uint32_t *ret_host,
		     struct berr **err);
char *net_subnet_format(const struct net_subnet *n, char buf[NET_CIDR4_STRLEN]);

/* The netmask of a prefix length, host order (prefix 0 gives 0). */
uint32_t net_prefix_mask(unsigned prefix);
/* Last address of the subnet (its broadcast address for prefixes below 31). */
uint32_t net_subnet_last(const struct net_subnet *n);
int net_subnet_contains(const struct net_subnet *n, uint32_t a);
/* 1 when the two subnets share at least one address. */
int net_subnet_overlaps(const struct net_subnet *a, const struct net_subnet *b);

#endif
