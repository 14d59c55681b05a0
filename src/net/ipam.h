/* Address allocation and the endpoint registry of each network.
 *
 * State: <root>/networks/endpoints/<network>.json, guarded by flock() on
 * <root>/networks/endpoints/<network>.lock (a separate file, because the state file is
 * replaced by rename and a lock on a replaced inode guards nothing). Every operation takes
 * the lock, reads, changes, and writes atomically (fs_write_atomic_at), so concurrent berth
 * processes never hand out one address twice.
 *
 * Allocation is round-robin from the last address handed out, not lowest-free: a released
 * address is reused only after the rest of the range, so that a peer's stale ARP entry or
 * conntrack state for it has long expired (the way CNI's host-local allocator works).
 * The network address, the broadcast address and the gateway are never handed out.
 *
 * The registry also records each endpoint's container name, aliases and /etc/hosts path:
 * on user networks, every change rewrites the peers section of the members' hosts files
 * (hosts.h) while the lock is held, so that the last writer always has the newest list.
 */
#ifndef BERTH_NET_IPAM_H
#define BERTH_NET_IPAM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "netconf.h"
#include "strv.h"

struct net_ipam_req {
	const char *id;		    /* the container id that owns the address (required) */
	const char *name;	    /* container name, for peers' /etc/hosts; NULL: none */
	const struct strv *aliases; /* more names (--network-alias); NULL: none */
	const char *hosts_path;	    /* the container's hosts file to keep current; NULL: none */
	uint32_t want;		    /* 0: any address; else exactly this one (--ip) */
};

struct net_ipam_entry {
	char *id;
	uint32_t ip;
	char *name; /* NULL when none */
	struct strv aliases;
	char *hosts_path; /* NULL when none */
};

/* Give req->id an address on nc. Idempotent: an id that already has one gets it again
 * (with its name/aliases/hosts path updated). -EADDRINUSE when want is taken, -EINVAL when
 * want is outside the range or reserved, -ENOSPC when the range is full. */
int net_ipam_alloc(const char *root, const struct net_conf *nc, const struct net_ipam_req *req,
		   uint32_t *ret_ip, struct berr **err);

/* Free id's address. Returns 1 when one was freed, 0 when id had none (idempotent). */
int net_ipam_release(const char *root, const struct net_conf *nc, const char *id,
		     struct berr **err);

/* Free the addresses of every id not in live (containers that died without a release).
 * *ret_freed (may be NULL) gets how many. */
int net_ipam_reconcile(const char *root, const struct net_conf *nc, const struct strv *live,
		       size_t *ret_freed, struct berr **err);

/* The current endpoints, sorted by address. Caller frees with net_ipam_entries_free. */
int net_ipam_list(const char *root, const struct net_conf *nc, struct net_ipam_entry **ret,
		  size_t *ret_n, struct berr **err);
void net_ipam_entries_free(struct net_ipam_entry *v, size_t n);

/* Remove the state and lock files of network name (network rm). -EBUSY while it has
 * endpoints; 0 when there was no state. */
int net_ipam_remove(const char *root, const char *name, struct berr **err);

#endif
