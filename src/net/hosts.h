/* A container's /etc/hosts and /etc/resolv.conf.
 *
 * Each container has its own hosts file (written by the caller, e.g. into
 * <root>/containers/<id>/hosts, and bind-mounted onto /etc/hosts). On user networks it ends
 * with one section per network listing the peers, which ipam.c rewrites whenever a container
 * joins or leaves that network. A bind mount pins the inode, so the file is rewritten in
 * place, never replaced by rename (a rename would leave the container reading the old
 * inode forever): see net_hosts_set_section for how a reader never sees a torn file.
 *
 * Why a file per container and not one shared file per network: a container on two
 * networks needs both lists in one /etc/hosts, and its own entries (--add-host, its
 * hostname) are its alone. One file per container, sectioned per network, is correct in
 * both cases.
 */
#ifndef BERTH_NET_HOSTS_H
#define BERTH_NET_HOSTS_H

#include "buf.h"
#include "err.h"
#include "strv.h"

struct net_hosts_opts {
	const char *hostname;	  /* required */
	const char *domainname;	  /* NULL: none; else "ip\thost.domain host" */
	const char *ip;		  /* the container's address; NULL: no own entry (--network none) */
	const struct strv *extra; /* --add-host values: "name:ip", "name=ip", ip "host-gateway" */
	const char *host_gateway; /* what "host-gateway" stands for; NULL: it is an error */
};

/* Docker's hosts file: the localhost and IPv6 lines, then the --add-host lines in order,
 * then "ip\thostname". Appends to out. -EINVAL (err names the value) for a bad --add-host. */
int net_hosts_render(const struct net_hosts_opts *o, struct buf *out, struct berr **err);

/* One --add-host value as a hosts line "ip\tname\n" (appended to out). */
int net_hosts_extra_line(const char *spec, const char *host_gateway, struct buf *out,
			 struct berr **err);

/* Replace (or add, or with lines "" or NULL remove) the section of network in the hosts file
 * at path; lines are complete "ip\tnames\n" lines. Text outside berth's markers is kept.
 * The file is rewritten in place: one pwrite() of the new text, padded with newlines to the
 * old length when shorter, then ftruncate(). A concurrent reader sees the old text, the new
 * text, or the new text followed by empty lines, which resolvers ignore.
 * -ENOENT when the file is gone (its container was removed). */
int net_hosts_set_section(const char *path, const char *network, const char *lines,
			  struct berr **err);

/* /etc/resolv.conf for a container, from the host's text:
 *   - nameservers: dns when given (--dns), else the host's without loopback ones
 *     (127.0.0.0/8 and ::1 do not reach the host from a container's namespace) and, unless
 *     ipv6, without IPv6 ones; when none remain, Docker's fallback 8.8.8.8 and 8.8.4.4
 *     (written to the file only; nothing here sends traffic);
 *   - search: dns_search when given ("." alone means none), else the host's;
 *   - options: dns_options when given, else the host's.
 * Comments and other lines of the host's file are dropped. Appends to out. */
struct net_resolv_opts {
	const struct strv *dns;
	const struct strv *dns_search;
	const struct strv *dns_options;
	int ipv6;
};
int net_resolv_render(const char *host_text, const struct net_resolv_opts *o, struct buf *out,
		      struct berr **err);

/* The host's resolver configuration: /etc/resolv.conf, or when that names only
 * systemd-resolved's stub (127.0.0.53), /run/systemd/resolve/resolv.conf with the real
 * upstream servers (what Docker reads in that case). etc_path NULL = "/etc/resolv.conf".
 * A missing file gives "". Caller frees *ret. */
int net_resolv_read_host(const char *etc_path, char **ret, struct berr **err);

#endif
