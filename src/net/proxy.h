/* A small userland port forwarder for what the kernel's NAT cannot do.
 *
 * Published ports on IPv6 addresses ([::1]:8080, and the [::] half of "-p 8080:80") reach
 * a container that only has an IPv4 address: nft cannot DNAT an IPv6 packet to an IPv4
 * destination, and even IPv4-to-IPv4 DNAT of ::1 is impossible (loopback-only). So these
 * ports are served by this proxy, running in the host's namespace:
 *   - TCP: accept, connect to the container, then move bytes in both directions with
 *     splice(2) through a pipe per direction (the data never enters user space); half
 *     closes are passed on with shutdown(SHUT_WR).
 *   - UDP: a session per client address (a connected socket to the container), forgotten
 *     after NET_PROXY_UDP_IDLE_MS without traffic; at most NET_PROXY_UDP_MAX sessions per
 *     listener, the least recently used one is dropped to make room.
 *
 * One proxy serves any number of ports from one epoll instance and no threads, so it can
 * live inside the container's monitor: add net_proxy_fd() to the monitor's own poll set
 * and call net_proxy_dispatch() when it is readable, and at least every
 * net_proxy_timeout_ms(). Or run it alone in a process with net_proxy_run().
 */
#ifndef BERTH_NET_PROXY_H
#define BERTH_NET_PROXY_H

#include <sys/socket.h>

#include "err.h"
#include "ports.h"

#define NET_PROXY_UDP_IDLE_MS 30000
#define NET_PROXY_UDP_MAX 1024
#define NET_PROXY_TCP_MAX 4096

struct net_proxy;

int net_proxy_new(struct net_proxy **ret, struct berr **err);
/* Close every socket and free everything. NULL is fine. */
void net_proxy_free(struct net_proxy *p);

/* Serve listen_fd (a bound socket: listening for TCP; the proxy takes it over and closes
 * it) by forwarding to target. proto is NET_PROTO_TCP or NET_PROTO_UDP. On failure the fd is
 * closed too. */
int net_proxy_add(struct net_proxy *p, int listen_fd, enum net_proto proto,
		  const struct sockaddr *target, socklen_t target_len, struct berr **err);

/* Hand every IPv6 reservation of r to the proxy, forwarding to container_ip (host order) on
 * the entry's container port. The fds move to the proxy (set to -1 in r). */
int net_proxy_add_reserved(struct net_proxy *p, struct net_port_rsvs *r, uint32_t container_ip,
			   struct berr **err);

/* The epoll fd to watch for readability. Owned by the proxy. */
int net_proxy_fd(const struct net_proxy *p);
/* Handle what is ready, waiting at most timeout_ms (0: do not wait). Returns 0 or -errno of
 * epoll; a failing connection is closed and never stops the proxy. */
int net_proxy_dispatch(struct net_proxy *p, int timeout_ms);
/* How long the caller may wait before the next dispatch (UDP session expiry); -1: forever. */
int net_proxy_timeout_ms(const struct net_proxy *p);

/* Serve until stop_fd (e.g. an eventfd or a pipe's read end) becomes readable or hangs
 * up. Returns 0, or -errno on a failure of epoll itself. */
int net_proxy_run(struct net_proxy *p, int stop_fd);

/* Counters, for tests and diagnostics. */
struct net_proxy_stats {
	unsigned long tcp_accepted, tcp_active, udp_sessions;
};
void net_proxy_get_stats(const struct net_proxy *p, struct net_proxy_stats *ret);

#endif
