#include "link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "cleanup.h"
#include "banned.h"

/* Large enough for a dump of a host's links or addresses in a few reads; the kernel splits
 * a dump into messages that each fit the reader's buffer. */
#define NL_BUF 32768

struct net_nl {
	struct mnl_socket *sk;
	unsigned portid;
	unsigned seq;
};

void net_nl_close(struct net_nl *nl)
{
	if (!nl)
		return;
	if (nl->sk)
		mnl_socket_close(nl->sk);
	free(nl);
}

int net_netns_open_pid(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int net_nl_open(int netns_fd, struct net_nl **ret, struct berr **err)
{
	struct net_nl *nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	_cleanup_close_ int self = -1;
	if (netns_fd >= 0) {
		self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self < 0) {
			free(nl);
			return berr_errno(err, errno, "open own network namespace");
		}
		if (setns(netns_fd, CLONE_NEWNET) < 0) {
			free(nl);
			return berr_errno(err, errno, "enter network namespace");
		}
	}
	nl->sk = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	int e = nl->sk ? 0 : errno;
	if (netns_fd >= 0 && setns(self, CLONE_NEWNET) < 0)
		/* This thread is stuck in the container's namespace: anything it did next
		 * (bind a port, add a route) would land there. Nothing can be trusted. */
		abort();
	if (!nl->sk) {
		free(nl);
		return berr_errno(err, e, "netlink socket");
	}
	if (mnl_socket_bind(nl->sk, 0, MNL_SOCKET_AUTOPID) < 0) {
		e = errno;
		net_nl_close(nl);
		return berr_errno(err, e, "netlink bind");
	}
	nl->portid = mnl_socket_get_portid(nl->sk);
	nl->seq = (unsigned)time(NULL);
	*ret = nl;
	return 0;
}

static struct nlmsghdr *msg_start(char *buf, struct net_nl *nl, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++nl->seq;
	return nlh;
}

/* Send nlh and read replies until the ack, the end of a dump, or an error; cb (may be
 * NULL) sees every data message. Returns 0 or -errno (the kernel's error). */
static int talk(struct net_nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	_cleanup_free_ char *buf = malloc(NL_BUF);
	if (!buf)
		return -ENOMEM;
	unsigned seq = nlh->nlmsg_seq;
	if (mnl_socket_sendto(nl->sk, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sk, buf, NL_BUF);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		int r = mnl_cb_run(buf, (size_t)n, seq, nl->portid, cb, data);
		if (r == MNL_CB_ERROR)
			return errno ? -errno : -EIO;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

struct link_info {
	int index;
	char kind[16];
};

static int link_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);
	if (mnl_attr_type_valid(a, IFLA_MAX) < 0)
		return MNL_CB_OK;
	tb[type] = a;
	return MNL_CB_OK;
}

static int kind_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	if (mnl_attr_type_valid(a, IFLA_INFO_MAX) < 0)
		return MNL_CB_OK;
	tb[mnl_attr_get_type(a)] = a;
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_info *li = data;
	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1] = {0};
	if (mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, tb) < 0)
		return MNL_CB_ERROR;
	li->index = ifm->ifi_index;
	li->kind[0] = '\0';
	if (tb[IFLA_LINKINFO]) {
		const struct nlattr *ki[IFLA_INFO_MAX + 1] = {0};
		if (mnl_attr_parse_nested(tb[IFLA_LINKINFO], kind_attr_cb, ki) >= 0 &&
		    ki[IFLA_INFO_KIND] &&
		    mnl_attr_validate(ki[IFLA_INFO_KIND], MNL_TYPE_STRING) >= 0)
			snprintf(li->kind, sizeof(li->kind), "%s",
				 mnl_attr_get_str(ki[IFLA_INFO_KIND]));
	}
	return MNL_CB_OK;
}

int net_link_get(struct net_nl *nl, const char *name, int *ret_index, char *ret_kind)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	if (strlen(name) >= IFNAMSIZ)
		return -ENODEV;
	struct nlmsghdr *nlh = msg_start(buf, nl, RTM_GETLINK, NLM_F_ACK);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	struct link_info li = {0};
	int r = talk(nl, nlh, link_cb, &li);
	if (r < 0)
		return r;
	if (li.index <= 0)
		return -ENODEV;
	if (ret_index)
		*ret_index = li.index;
	if (ret_kind)
		memcpy(ret_kind, li.kind, sizeof(li.kind));
	return 0;
}

static int random_mac(uint8_t mac[6])
{
	if (getrandom(mac, 6, 0) != 6)
		return -EIO;
	mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
	return 0;
}

int net_link_bridge_add(struct net_nl *nl, const char *name, unsigned mtu, int *ret_index,
			struct berr **err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	char kind[16];
	int r = net_link_get(nl, name, ret_index, kind);
	if (r == 0) {
		if (!streq(kind, "bridge"))
			return berr_set(err, EEXIST, "link '%s' exists and is not a bridge", name);
		return 0;
	}
	uint8_t mac[6];
	if (random_mac(mac) < 0)
		return berr_set(err, EIO, "bridge '%s': no random MAC", name);
	struct nlmsghdr *nlh =
	    msg_start(buf, nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	mnl_attr_put(nlh, IFLA_ADDRESS, sizeof(mac), mac);
	struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
	mnl_attr_nest_end(nlh, li);
	r = talk(nl, nlh, NULL, NULL);
	if (r == -EEXIST) {
		/* Another berth made it between our look and our create: fine if a bridge. */
		r = net_link_get(nl, name, ret_index, kind);
		if (r == 0 && !streq(kind, "bridge"))
			return berr_set(err, EEXIST, "link '%s' exists and is not a bridge", name);
	}
	if (r < 0)
		return berr_errno(err, r, "create bridge '%s'", name);
	r = net_link_get(nl, name, ret_index, NULL);
	if (r < 0)
		return berr_errno(err, r, "bridge '%s'", name);
	return 0;
}

static int veth_request(struct net_nl *nl, const char *host_name, const char *peer_name,
			int peer_netns_fd, unsigned mtu, const uint8_t *peer_mac)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
	    msg_start(buf, nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, host_name);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	struct nlattr *peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	struct ifinfomsg *pifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifm));
	pifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name);
	if (peer_netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	if (peer_mac)
		mnl_attr_put(nlh, IFLA_ADDRESS, 6, peer_mac);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, li);
	return talk(nl, nlh, NULL, NULL);
}

int net_link_veth_add(struct net_nl *nl, const char *host_name, const char *peer_name,
		      int peer_netns_fd, unsigned mtu, const uint8_t *peer_mac, int *ret_index,
		      struct berr **err)
{
	int r = veth_request(nl, host_name, peer_name, peer_netns_fd, mtu, peer_mac);
	if (r == -EEXIST && net_link_get(nl, host_name, NULL, NULL) == 0) {
		/* Our own leftover (names are derived from the container id): replace it. */
		r = net_link_del(nl, host_name, NULL);
		if (r == 0)
			r = veth_request(nl, host_name, peer_name, peer_netns_fd, mtu, peer_mac);
	}
	if (r == -EEXIST)
		return berr_set(err, EEXIST, "create veth '%s': the container already has a '%s'",
				host_name, peer_name);
	if (r < 0)
		return berr_errno(err, r, "create veth '%s'", host_name);
	r = net_link_get(nl, host_name, ret_index, NULL);
	if (r < 0)
		return berr_errno(err, r, "veth '%s'", host_name);
	return 0;
}

int net_link_up(struct net_nl *nl, int index, int master_index, struct berr **err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, nl, RTM_NEWLINK, NLM_F_ACK);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = index;
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	if (master_index > 0)
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master_index);
	int r = talk(nl, nlh, NULL, NULL);
	if (r < 0)
		return berr_errno(err, r, "set link %d up", index);
	return 0;
}

int net_link_set_hairpin(struct net_nl *nl, int index, struct berr **err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, nl, RTM_SETLINK, NLM_F_ACK);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	/* Bridge port settings go to the bridge's handler (family AF_BRIDGE), nested in
	 * IFLA_PROTINFO as `bridge link set hairpin on` sends them. */
	ifm->ifi_family = AF_BRIDGE;
	ifm->ifi_index = index;
	struct nlattr *pi = mnl_attr_nest_start(nlh, IFLA_PROTINFO);
	mnl_attr_put_u8(nlh, IFLA_BRPORT_MODE, 1);
	mnl_attr_nest_end(nlh, pi);
	int r = talk(nl, nlh, NULL, NULL);
	if (r < 0)
		return berr_errno(err, r, "hairpin mode on link %d", index);
	return 0;
}

int net_link_del(struct net_nl *nl, const char *name, struct berr **err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	if (strlen(name) >= IFNAMSIZ)
		return 0;
	struct nlmsghdr *nlh = msg_start(buf, nl, RTM_DELLINK, NLM_F_ACK);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	int r = talk(nl, nlh, NULL, NULL);
	if (r == -ENODEV)
		return 0;
	if (r < 0)
		return berr_errno(err, r, "delete link '%s'", name);
	return 0;
}

/* Whether buf (n bytes from a link notification socket) says link index was deleted. */
static int saw_dellink(const char *buf, size_t n, int index)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	int len = (int)n;
	for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_type != RTM_DELLINK ||
		    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
			continue;
		const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
		/* The link's own notice (a bridge port's, AF_BRIDGE, comes earlier). */
		if (ifm->ifi_family == AF_UNSPEC && ifm->ifi_index == index)
			return 1;
	}
	return 0;
}

int net_link_del_detached(struct net_nl *nl, const char *name, pid_t *ret_pid, struct berr **err)
{
	*ret_pid = -1;
	int index;
	int r = net_link_get(nl, name, &index, NULL);
	if (r == -ENODEV)
		return 0;
	if (r < 0)
		return berr_errno(err, r, "delete link '%s'", name);
	/* Subscribed before the request: its notification cannot be missed. */
	_cleanup_close_ int mon = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
	if (mon < 0 || bind(mon, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return net_link_del(nl, name, err);
	char req[NLMSG_SPACE(sizeof(struct ifinfomsg))];
	memset(req, 0, sizeof(req));
	struct nlmsghdr *nlh = (struct nlmsghdr *)req;
	nlh->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	nlh->nlmsg_type = RTM_DELLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	struct ifinfomsg *ifm = NLMSG_DATA(nlh);
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = index;

	pid_t pid = fork();
	if (pid < 0)
		return net_link_del(nl, name, err);
	if (pid == 0) {
		/* Async-signal-safe calls only. No inherited descriptor stays open: a copy of a
		 * flock()ed one would hold its lock until the kernel is done. */
		close_range(0, ~0U, 0);
		int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
		struct sockaddr_nl k = {.nl_family = AF_NETLINK};
		char ack[512];
		if (fd < 0 ||
		    sendto(fd, req, nlh->nlmsg_len, 0, (struct sockaddr *)&k, sizeof(k)) < 0 ||
		    recv(fd, ack, sizeof(ack), 0) < 0)
			_exit(1);
		_exit(0);
	}

	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int gone = 0, exited = pidfd < 0; /* no pidfd: wait for the child below */
	_cleanup_free_ char *buf = malloc(NL_BUF);
	struct pollfd p[2] = {{.fd = buf ? mon : -1, .events = POLLIN},
			      {.fd = pidfd, .events = POLLIN}};
	while (!gone && !exited && (p[0].fd >= 0 || p[1].fd >= 0)) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			ssize_t n = recv(mon, buf, NL_BUF, MSG_DONTWAIT);
			if (n > 0)
				gone = saw_dellink(buf, (size_t)n, index);
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				p[0].fd = -1; /* ENOBUFS: notices were lost; wait for the child */
		}
		if (p[1].revents)
			exited = 1;
	}
	if (pidfd >= 0)
		close(pidfd);
	if (!gone) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		r = net_link_get(nl, name, NULL, NULL);
		if (r == 0)
			return berr_set(err, EIO, "delete link '%s': it is still there", name);
		if (r != -ENODEV)
			return berr_errno(err, r, "delete link '%s'", name);
		return 0;
	}
	*ret_pid = pid;
	return 0;
}

int net_addr_add(struct net_nl *nl, int index, uint32_t ip, unsigned prefix, struct berr **err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
	    msg_start(buf, nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (uint8_t)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)index;
	uint32_t a = htonl(ip);
	struct net_subnet sn = {ip & net_prefix_mask(prefix), (uint8_t)prefix};
	uint32_t brd = htonl(net_subnet_last(&sn));
	mnl_attr_put(nlh, IFA_LOCAL, 4, &a);
	mnl_attr_put(nlh, IFA_ADDRESS, 4, &a);
	if (prefix < 31)
		mnl_attr_put(nlh, IFA_BROADCAST, 4, &brd);
	int r = talk(nl, nlh, NULL, NULL);
	if (r == -EEXIST)
		return 0;
	if (r < 0) {
		char s[NET_IP4_STRLEN];
		return berr_errno(err, r, "add address %s/%u", net_ip4_format(ip, s), prefix);
	}
	return 0;
}

struct addr_find {
	int index;
	uint32_t ip; /* network order */
	int found;
};

static int addr_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	if (mnl_attr_type_valid(a, IFA_MAX) < 0)
		return MNL_CB_OK;
	tb[mnl_attr_get_type(a)] = a;
	return MNL_CB_OK;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_find *f = data;
	if (nlh->nlmsg_type != RTM_NEWADDR)
		return MNL_CB_OK;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	if (ifa->ifa_family != AF_INET || (int)ifa->ifa_index != f->index)
		return MNL_CB_OK;
	const struct nlattr *tb[IFA_MAX + 1] = {0};
	if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb) < 0)
		return MNL_CB_ERROR;
	const struct nlattr *a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (a && mnl_attr_get_payload_len(a) == 4 &&
	    memcmp(mnl_attr_get_payload(a), &f->ip, 4) == 0)
		f->found = 1;
	return MNL_CB_OK;
}

int net_addr_has(struct net_nl *nl, int index, uint32_t ip, struct berr **err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, nl, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	struct addr_find f = {index, htonl(ip), 0};
	int r = talk(nl, nlh, addr_cb, &f);
	if (r < 0)
		return berr_errno(err, r, "list addresses");
	return f.found;
}

int net_route_add_default(struct net_nl *nl, int index, uint32_t gw, struct berr **err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
	    msg_start(buf, nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = 0;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	uint32_t g = htonl(gw);
	mnl_attr_put(nlh, RTA_GATEWAY, 4, &g);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)index);
	int r = talk(nl, nlh, NULL, NULL);
	if (r == -EEXIST)
		return 0;
	if (r < 0) {
		char s[NET_IP4_STRLEN];
		return berr_errno(err, r, "add default route via %s", net_ip4_format(gw, s));
	}
	return 0;
}

int net_sysctl_set(const char *key, const char *value, struct berr **err)
{
	char path[256], cur[64];
	if (strstr(key, "..") ||
	    snprintf(path, sizeof(path), "/proc/sys/%s", key) >= (int)sizeof(path))
		return berr_set(err, EINVAL, "bad sysctl '%s'", key);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return berr_errno(err, errno, "sysctl %s", key);
	ssize_t n = read(fd, cur, sizeof(cur) - 1);
	if (n > 0) {
		cur[n] = '\0';
		if (cur[n - 1] == '\n')
			cur[n - 1] = '\0';
		if (streq(cur, value))
			return 0;
	}
	size_t len = strlen(value);
	if (pwrite(fd, value, len, 0) != (ssize_t)len)
		return berr_errno(err, errno, "sysctl %s=%s", key, value);
	return 0;
}
