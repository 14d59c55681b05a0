/* berth-monitor: the per-container monitor program, started by rt_monitor_start().
 * Everything about the container is in monitor.c; this file gives it a main() of its own,
 * so that the program can be linked statically and small (see monitor.h), and plugs in the
 * networking duties the runtime library does not know (docs/internals/NET.md):
 *   - it holds the host port reservations of the container's published ports, so that
 *     they stay taken for exactly as long as the container lives;
 *   - it serves the published IPv6 ports ([::1]:P, the [::] half of -p P:80) with the
 *     userland proxy of src/net/proxy.h, which the kernel's DNAT cannot do.
 * Only proxy.c and ports.c of src/net are linked in (meson.build): no libnftables or
 * libmnl, which have no static builds here and which the monitor does not need, since the
 * command that starts the container sets up and tears down the rest (src/cmd/ctrnet.c).
 *
 * The options (rt_monitor_opts.ext) are {"proxy": [{"fd": N, "proto": "tcp", "ip":
 * "10.88.0.2", "port": 80}, ...]}: ext fd number N (an index into the fds passed) is a
 * bound IPv6 socket (listening for TCP) to forward to ip:port. Every other fd is a
 * reservation that is only kept open. */
#include <jansson.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "monitor.h"
#include "ports.h"
#include "proxy.h"

#include "banned.h"

static struct net_proxy *proxy;
static int *held; /* the fds not handed to the proxy; -1 once handed over or closed */
static size_t nheld;

static int net_setup(json_t *opts, int *fds, size_t nfds, struct berr **err)
{
	held = fds;
	nheld = nfds;
	json_t *list = json_object_get(opts, "proxy");
	if (!list)
		return 0;
	if (!json_is_array(list))
		return berr_set(err, EINVAL, "monitor options: proxy is no array");
	if (!json_array_size(list))
		return 0;
	int r = net_proxy_new(&proxy, err);
	if (r < 0)
		return r;
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
	{
		json_int_t fd = -1, port = 0;
		const char *proto = NULL, *ip = NULL;
		enum net_proto p;
		struct sockaddr_in sin = {.sin_family = AF_INET};
		if (json_unpack(e, "{s:I,s:s,s:s,s:I}", "fd", &fd, "proto", &proto, "ip", &ip,
				"port", &port) < 0 ||
		    fd < 0 || (size_t)fd >= nfds || fds[fd] < 0 || net_proto_parse(proto, &p) < 0 ||
		    inet_pton(AF_INET, ip, &sin.sin_addr) != 1 || port < 1 || port > 65535)
			return berr_set(err, EINVAL, "monitor options: bad proxy entry %zu", i);
		sin.sin_port = htons((uint16_t)port);
		int lfd = fds[fd];
		fds[fd] = -1; /* the proxy owns it now, also when adding fails */
		r = net_proxy_add(proxy, lfd, p, (struct sockaddr *)&sin, sizeof(sin), err);
		if (r < 0)
			return berr_wrap(err, "published port %lld", (long long)port);
	}
	return 0;
}

static int net_poll_fd(void)
{
	return proxy ? net_proxy_fd(proxy) : -1;
}

static int net_timeout_ms(void)
{
	return proxy ? net_proxy_timeout_ms(proxy) : -1;
}

static void net_dispatch(void)
{
	if (proxy)
		net_proxy_dispatch(proxy, 0);
}

static void net_finish(void)
{
	net_proxy_free(proxy);
	proxy = NULL;
	for (size_t i = 0; i < nheld; i++)
		if (held[i] >= 0) {
			close(held[i]);
			held[i] = -1;
		}
}

static const struct rt_monitor_ext net_ext = {
    .setup = net_setup,
    .poll_fd = net_poll_fd,
    .timeout_ms = net_timeout_ms,
    .dispatch = net_dispatch,
    .finish = net_finish,
};

int main(int argc, char **argv)
{
	return rt_monitor_main_ext(argc, argv, &net_ext);
}
