/* Published ports: Docker's -p/--publish, --expose and -P, their display forms, and the
 * host-side reservation that makes "port is already allocated" an early, clear error.
 *
 * Parsing follows github.com/docker/go-connections/nat (ParsePortSpec), with these
 * deliberate differences: a container port of 0 is refused (nothing can be forwarded to
 * it), and a range with more than one '-' ("1-2-3") is refused where Go silently ignores
 * the tail. The long form of docker run (-p target=80,published=8080,protocol=udp) is
 * accepted too.
 *
 * Addresses: no host IP means every address, IPv4 and IPv6 (family AF_UNSPEC), as Docker
 * does; an explicit 0.0.0.0 means IPv4 only and :: IPv6 only.
 */
#ifndef BERTH_NET_PORTS_H
#define BERTH_NET_PORTS_H

#include <jansson.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

enum net_proto {
	NET_PROTO_TCP = 0,
	NET_PROTO_UDP,
	NET_PROTO_SCTP,
};

/* "tcp", "udp", "sctp". */
const char *net_proto_name(enum net_proto p);
/* Case-insensitive, as Docker lower-cases it. 0 or -EINVAL. */
int net_proto_parse(const char *s, enum net_proto *ret);

/* One container port, published on the host or only exposed. */
struct net_port {
	enum net_proto proto;
	uint16_t container_port;
	int published;			/* 0: only exposed (EXPOSE, --expose); host fields unused */
	int family;			/* AF_UNSPEC (all addresses), AF_INET or AF_INET6 */
	char host_ip[INET6_ADDRSTRLEN]; /* canonical text; "" for AF_UNSPEC, "0.0.0.0" / "::" */
	uint16_t host_port;		/* 0: any free port */
	uint16_t host_port_last;	/* == host_port, or the end of a range to pick one from
					 * ("8000-8010:80"); 0 when host_port is 0 */
};

struct net_ports {
	struct net_port *v;
	size_t n;
};
#define NET_PORTS_INIT                                                                             \
	{                                                                                          \
		NULL, 0                                                                            \
	}

void net_ports_free(struct net_ports *ps);
#define _cleanup_net_ports_ __attribute__((cleanup(net_ports_free)))
/* Append a copy of p. 0 or -ENOMEM. */
int net_ports_add(struct net_ports *ps, const struct net_port *p);

/* Parse one -p value and append its mappings (a range gives one entry per port).
 * On failure nothing is appended, and err reads as Docker's does, e.g.
 * "invalid containerPort: 80a", "invalid proto: icmp", "invalid IP address: localhost". */
int net_port_parse(const char *spec, struct net_ports *out, struct berr **err);

/* Parse one --expose value or image ExposedPorts key ("80", "80/udp", "8000-8003/tcp")
 * and append exposed-only entries. */
int net_port_parse_expose(const char *spec, struct net_ports *out, struct berr **err);

/* -P: publish every exposed-only entry on a random host port of every address, unless
 * the same container port and protocol is already published. */
void net_ports_publish_all(struct net_ports *ps);

/* "0.0.0.0:9999->80/tcp", "[::1]:9999->80/tcp", "80/tcp" (exposed only). The port must
 * be resolved (family AF_INET/AF_INET6, host_port set) to print an address; an AF_UNSPEC
 * entry prints as its IPv4 half. Appends to out; 0 or -ENOMEM. */
int net_port_format(const struct net_port *p, struct buf *out);

/* docker ps's PORTS column: ports sorted (container port, address, host port, protocol),
 * runs of equal host and container ports joined ("0.0.0.0:80-81->80-81/tcp",
 * "8000-8003/tcp"), the other mappings listed after them, ", " between. */
int net_ports_format_ps(const struct net_ports *ps, struct buf *out);

/* docker port's lines: "80/tcp -> 0.0.0.0:9999\n" for every published entry. */
int net_ports_format_port_cmd(const struct net_ports *ps, struct buf *out);

/* Docker's inspect shapes. bindings: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort":
 * "9999"}], "81/tcp": null} (NetworkSettings.Ports; exposed-only ports map to null).
 * New reference owned by the caller, NULL on ENOMEM. */
json_t *net_ports_to_json(const struct net_ports *ps);
/* Read that shape back (from a state file: every type is checked). Appends to out. */
int net_ports_from_json(json_t *j, struct net_ports *out, struct berr **err);

/*
 * Reservation. Before anything is set up for a container, berth binds every host
 * address:port it will publish, so that a port in use fails at once with Docker's message
 * ("Bind for 0.0.0.0:8080 failed: port is already allocated") and so that later
 * containers and programs see the port as taken for as long as the container lives:
 *   - IPv4 entries get a bound socket that is never used for traffic (the kernel's DNAT
 *     takes the packets before socket lookup); holding it is the reservation.
 *   - IPv6 entries get the socket the userland proxy will serve (TCP: listening), because
 *     IPv6 cannot be DNATed from ::1 to a container's IPv4 address (see proxy.h).
 * AF_UNSPEC entries become one IPv4 and, when the host has IPv6, one IPv6 reservation on
 * the same port. Ports 0 and ranges are resolved here.
 */
struct net_port_rsv {
	struct net_port port; /* resolved: family AF_INET or AF_INET6, host_port set */
	int fd;		      /* the bound socket (close-on-exec), owned by the reservation */
};

struct net_port_rsvs {
	struct net_port_rsv *v;
	size_t n;
};
#define NET_PORT_RSVS_INIT                                                                         \
	{                                                                                          \
		NULL, 0                                                                            \
	}

/* Reserve every published entry of ps. All or nothing: on failure every socket opened so
 * far is closed and out is left empty. -EADDRINUSE when a port is taken; -EADDRNOTAVAIL
 * when a host IP is not on this host. SCTP ports are reserved only when the kernel has
 * SCTP (the nft rule still forwards them). */
int net_ports_reserve(const struct net_ports *ps, struct net_port_rsvs *out, struct berr **err);
/* Close every socket and free the array (idempotent). */
void net_port_rsvs_free(struct net_port_rsvs *r);
#define _cleanup_net_port_rsvs_ __attribute__((cleanup(net_port_rsvs_free)))
/* The resolved list of what r holds (for inspect, ps, the container's state). */
int net_port_rsvs_ports(const struct net_port_rsvs *r, struct net_ports *out);

#endif
