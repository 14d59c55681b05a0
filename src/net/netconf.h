/* Network definitions: which bridge, which subnet.
 *
 * The default network is named "bridge" (as in Docker) and is not stored: it comes from
 * the "bridge" object of berth's config file, with these keys and defaults:
 *   "device": "berth0", "subnet": "10.88.0.0/16", "gateway": first address of the subnet,
 *   "ip-range": the whole subnet, "mtu": 1500.
 * User networks (`berth network create`) are files <root>/networks/<name>.json, created
 * and removed under the lock <root>/networks/.lock. Their containers find each other by
 * name through /etc/hosts (hosts.h); containers on the default network do not (Docker's
 * rule: only user networks have name resolution).
 *
 * "host" and "none" are names Docker reserves for the network modes of `run --network`;
 * they are no networks here and cannot be created.
 */
#ifndef BERTH_NET_NETCONF_H
#define BERTH_NET_NETCONF_H

#include <jansson.h>
#include <net/if.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"

#define NET_DEFAULT_NAME "bridge"
#define NET_DEFAULT_DEVICE "berth0"
#define NET_DEFAULT_SUBNET "10.88.0.0/16"
#define NET_ID_LEN 64

struct net_conf {
	char *name;		  /* "bridge" or a user network's name */
	char id[NET_ID_LEN + 1];  /* random hex for user networks; a fixed id for "bridge" */
	char bridge[IF_NAMESIZE]; /* the Linux bridge device */
	struct net_subnet subnet;
	uint32_t gateway;	    /* the bridge's address, inside subnet */
	struct net_subnet ip_range; /* where container addresses come from (within subnet) */
	unsigned mtu;		    /* 1500 unless set */
	int internal;		    /* no masquerade, no traffic to or from outside the bridge */
	int is_default;		    /* the "bridge" network */
	json_t *labels;		    /* object of strings; owned; never NULL after a load */
	char created[48];	    /* RFC 3339; "" for the default network */
};

void net_conf_free(struct net_conf *nc);
#define _cleanup_net_conf_ __attribute__((cleanup(net_conf_free)))

/* 1 when name is acceptable for a network ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 64 bytes). */
int net_name_valid(const char *name);
/* 1 when name is a usable Linux interface name made of [a-zA-Z0-9_.-] (nft rules embed it,
 * so nothing else is allowed). */
int net_ifname_valid(const char *name);

/* The default network from config (NULL or no "bridge" object: the defaults). Every key is
 * type-checked; an unknown key is an error, as for the rest of the config file. */
int net_conf_default(json_t *config, struct net_conf *ret, struct berr **err);

/* Options of `berth network create`; NULL/0 fields take the defaults. */
struct net_create_opts {
	const char *name;
	const char *subnet;   /* NULL: the first free /24 of 10.89.0.0/16 that overlaps neither
			       * another network nor a route of the host */
	const char *gateway;  /* NULL: the subnet's first address */
	const char *ip_range; /* NULL: the whole subnet */
	const char *bridge;   /* NULL: "br-" and the id's first 12 digits, as Docker names it */
	unsigned mtu;
	int internal;
	json_t *labels; /* borrowed; object of strings or NULL */
};

/* Create a user network and store it. -EEXIST when the name (or bridge device) is taken,
 * -EINVAL for a bad option or a subnet overlapping another network's, -ENOSPC when no
 * subnet is free. ret is filled on success (caller frees). */
int net_conf_create(const char *root, json_t *config, const struct net_create_opts *opts,
		    struct net_conf *ret, struct berr **err);

/* Find a network by name, full id, or unique id prefix ("bridge" is the default network).
 * -ENOENT with Docker's "network X not found". */
int net_conf_load(const char *root, json_t *config, const char *name_or_id, struct net_conf *ret,
		  struct berr **err);

/* Every network, the default first, then user networks by name. *ret is an array of
 * *ret_n entries; free each with net_conf_free, then the array. A corrupt file is an
 * error naming it. */
int net_conf_list(const char *root, json_t *config, struct net_conf **ret, size_t *ret_n,
		  struct berr **err);

/* Delete a user network's file and its address state. -EBUSY while containers are
 * attached ("error while removing network: network X has active endpoints"), -EPERM for
 * the default network. Does not touch the bridge device or nft rules: the caller runs
 * net_network_down() (net.h) first. */
int net_conf_remove(const char *root, const char *name, struct berr **err);

/* The stored form, and back (every type checked; from_json fills ret, caller frees). */
json_t *net_conf_to_json(const struct net_conf *nc);
int net_conf_from_json(json_t *j, struct net_conf *ret, struct berr **err);

#endif
