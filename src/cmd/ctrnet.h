/* Container networking for the container commands: the glue between run/start/stop/rm/ps/
 * inspect and the network library (src/net, docs/internals/NET.md).
 *
 * A container on a bridge network ("bridge", the default, or a user network) goes through:
 *
 *   create   ctrnet_parse() checks -p/-P/--expose/--network/--ip/--dns...; ctr_create()
 *            records them with ctrnet_record() (HostConfig, NetworkingConfig).
 *   start    ctrnet_start_prepare(): host ports reserved first (a taken port fails here,
 *            nothing left behind), a network namespace made for the container, an address
 *            and a veth pair per network (net_attach), /etc/hosts and /etc/resolv.conf
 *            written, DNAT rules for the IPv4 ports (net_publish). The monitor gets the
 *            namespace (the container joins it), the reservations and the IPv6 listeners
 *            (its proxy serves them, berth-monitor.c), and an exit command:
 *   exit     `berth network cleanup --from-monitor ID`, run by the monitor after the last
 *            run: rules, conntrack entries, veths and addresses go (ctrnet_cleanup()).
 *            The monitor's exit closes the reservations; the namespace dies with the last
 *            process in it.
 *   repair   a monitor killed with SIGKILL runs no exit command: ctrnet_repair() (called by
 *            run, ps and `network prune`) cleans up after every container that has network
 *            state but does not run, and frees addresses whose container is gone.
 *
 * The state of a running container's networking is <root>/containers/<id>/net.json (the
 * networks it is attached to and the nft prefix: what cleanup needs), guarded by flock on
 * net.lock beside it; Docker's view of it (NetworkSettings) is kept in config.json while it
 * runs. Functions return 0 or -errno with *err set; nothing here prints, except where said.
 */
#ifndef BERTH_CMD_CTRNET_H
#define BERTH_CMD_CTRNET_H

#include <jansson.h>

#include "err.h"
#include "monitor.h"
#include "ports.h"
#include "strv.h"

struct berth_ctx;
struct ctr;

/* What run/create were told about networking (borrowed). */
struct ctrnet_opts {
	const char *network;	      /* --network; NULL: the config's "default-network" or
				       * "bridge" */
	const struct strv *publish;   /* -p */
	int publish_all;	      /* -P */
	const struct strv *expose;    /* --expose */
	const char *ip;		      /* --ip */
	const struct strv *aliases;   /* --network-alias */
	const struct strv *add_hosts; /* --add-host */
	const struct strv *dns, *dns_search, *dns_options;
};

/* Check the flags before anything is created and turn them into the record ctr_create()
 * stores (*ret, owned by the caller; give it to ctrnet_record). Named networks must exist
 * ("network x not found"); Docker's messages for bad ports ("invalid containerPort: 80a").
 * Published ports with --network host or none are dropped with Docker's warning on
 * stderr. */
int ctrnet_parse(struct berth_ctx *ctx, const struct ctrnet_opts *o, json_t **ret,
		 struct berr **err);

/* Write rec into a container's config being created: HostConfig.NetworkMode, PortBindings,
 * PublishAllPorts, Dns, DnsOptions, DnsSearch, ExtraHosts; Config.ExposedPorts merged with
 * the image's; NetworkingConfig.EndpointsConfig (one entry per network: IPAMConfig,
 * Aliases). 0 or -ENOMEM. */
int ctrnet_record(json_t *rec, json_t *config);

/* One start of a container (ctr_start): prepare before rt_monitor_start, finish after it
 * whatever happened. */
struct ctrnet_start {
	int active;   /* networking was set up (finish undoes it on failure) */
	int lockfd;   /* net.lock, held from prepare to finish */
	int netns_fd; /* the container's network namespace */
	int *fds;     /* the reservations, passed to the monitor */
	size_t nfds;
	json_t *ext;		   /* the monitor's proxy options */
	struct strv exit_cmd;	   /* `berth ... network cleanup ID` */
	struct net_port_rsvs rsvs; /* the host ports reserved */
};
#define CTRNET_START_INIT                                                                          \
	{                                                                                          \
		0, -1, -1, NULL, 0, NULL, STRV_INIT, NET_PORT_RSVS_INIT                            \
	}

/* Set up the networking of container c (see above) and point mo at what the monitor takes
 * over. With --network none or host there is nothing to do. A port in use fails with
 * Docker's "Bind for 0.0.0.0:8080 failed: port is already allocated". */
int ctrnet_start_prepare(struct berth_ctx *ctx, const struct ctr *c, struct rt_monitor_opts *mo,
			 struct ctrnet_start *st, struct berr **err);
/* Close our copies; when failed, undo what prepare did. */
void ctrnet_start_finish(struct ctrnet_start *st, const char *root, const char *id, int failed);

/* Undo the networking of container id, unless it runs (then 0 and nothing is done):
 * DNAT rules, conntrack entries of its addresses, veths, addresses (peers' /etc/hosts
 * updated), NetworkSettings. Idempotent; a container without network state is 0. */
int ctrnet_cleanup(const char *root, const char *id, struct berr **err);
/* The same for the monitor's exit command: the veths are gone from the host on return,
 * but the kernel may still be finishing their deletion in child processes, which the
 * monitor (a subreaper) reaps after telling its clients that the container is gone. */
int ctrnet_cleanup_exit(const char *root, const char *id, struct berr **err);

/* Repair after killed monitors: clean up every container with network state that does not
 * run. full also frees addresses (with their rules and conntrack entries) of containers
 * that are gone altogether (net_ipam_reconcile's job, done per address). *ret_repaired
 * (may be NULL) gets how many containers were cleaned up. */
int ctrnet_repair(struct berth_ctx *ctx, int full, size_t *ret_repaired, struct berr **err);

/* Connect a container to a network: a running one at once (its next free ethN, no default
 * route), a stopped one at its next start. ip and aliases may be NULL. */
int ctrnet_connect(struct berth_ctx *ctx, const struct ctr *c, const char *network, const char *ip,
		   const struct strv *aliases, struct berr **err);
/* Disconnect: -ENOENT "container x is not connected to network y" unless force. */
int ctrnet_disconnect(struct berth_ctx *ctx, const struct ctr *c, const char *network, int force,
		      struct berr **err);

/* Docker's NetworkSettings of c for inspect (a new reference; NULL on ENOMEM). */
json_t *ctrnet_settings(const struct ctr *c);
/* docker ps's PORTS ("0.0.0.0:9999->80/tcp, [::]:9999->80/tcp"); "" unless it runs. Owned
 * by the caller; NULL on ENOMEM. */
char *ctrnet_ps_ports(const struct ctr *c);
/* The published ports of a running container as `docker port` prints them, only those of
 * container port spec ("80", "80/udp") when spec is not NULL. -ENOENT when none matches
 * ("No public port '80/tcp' published for x"); *ret is owned by the caller. */
int ctrnet_port_lines(const struct ctr *c, const char *spec, char **ret, struct berr **err);

/* The network modes that are no networks: "none", "host", "container:..." */
int ctrnet_mode_is_bridge(const char *mode);

#endif
