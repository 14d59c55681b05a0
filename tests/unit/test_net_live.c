/* The network library against the real kernel: bridges, veths, network namespaces,
 * nftables, the proxy. Needs root; skipped otherwise.
 *
 * Every test makes its own bridge ("btl" + pid + test number, in hex), its own nft tables
 * (the same name as prefix), a /24 from 10.200.0.0/13 that no host route covers, a temp berth root,
 * and its network namespaces (children that unshare and wait; they die with the test through
 * PR_SET_PDEATHSIG). The teardown removes all of it whether the test passed or not, and a
 * later run removes what a killed run could not (reap_dead_tags).
 * Traffic goes only to addresses the test created and to 127.0.0.1 / ::1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "ipam.h"
#include "link.h"
#include "net.h"
#include "nft.h"
#include "proxy.h"

#define MAX_NS 4
/* Fixed container ids (a test's own root keeps them apart from anything else). */
#define CID_A "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define CID_B "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"

struct live {
	char tag[16]; /* bridge name and nft prefix */
	char subnet[NET_CIDR4_STRLEN];
	char root[256];
	json_t *cfg;
	struct net_conf nc;
	struct net_env env;
	pid_t holder[MAX_NS];
	int nsfd[MAX_NS];
	int nns;
	pid_t helpers[8];
	int nhelpers;
};

/*
 * Helpers.
 */

static int host_routes_overlap(const struct net_subnet *s)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[512];
	int clash = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned dst, mask;
		if (sscanf(line, "%*s %x %*x %*x %*s %*s %*s %x", &dst, &mask) != 2 || mask == 0)
			continue;
		struct net_subnet r = {ntohl(dst), (uint8_t)__builtin_popcount(mask)};
		r.addr &= net_prefix_mask(r.prefix);
		clash |= net_subnet_overlaps(&r, s);
	}
	if (f)
		fclose(f);
	return clash;
}

/* Run argv, return its stdout (caller frees); NULL when it could not run. */
static char *capture(char *const argv[])
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return NULL;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	ssize_t n;
	while (out && (n = read(p[0], out + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 1024) {
			cap *= 2;
			out = realloc(out, cap);
		}
	}
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	if (out)
		out[len] = '\0';
	return out;
}

/* Wait for a child at most secs seconds; a child that hangs is killed and counts as failed
 * (a hang must fail the test, not leave the test to be killed before its teardown). */
static int wait_child(pid_t pid, int secs)
{
	for (int i = 0; i < secs * 50; i++) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0)
			return -1;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -2;
}

static int ns_new(struct live *l)
{
	assert_true(l->nns < MAX_NS);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		/* Hold nothing else: an inherited pipe end would keep a peer from seeing EOF. */
		close_range(3, ~0u, 0);
		for (;;)
			pause();
	}
	close(p[1]);
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	int fd = net_netns_open_pid(pid);
	assert_true(fd >= 0);
	l->holder[l->nns] = pid;
	l->nsfd[l->nns] = fd;
	return l->nns++;
}

/* Run fn in namespace nsfd in a child; returns its exit status (0 = success). */
static int in_ns(int nsfd, int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (setns(nsfd, CLONE_NEWNET) < 0)
			_exit(99);
		_exit(fn(arg));
	}
	return wait_child(pid, 20);
}

static uint16_t icmp_sum(const void *data, size_t len)
{
	const uint8_t *b = data;
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)(b[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* One ICMP echo to *(uint32_t *)arg (host order), three tries of a second each. */
static int do_ping(void *arg)
{
	uint32_t dst = *(uint32_t *)arg;
	int s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (s < 0)
		return 2;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(dst)};
	uint16_t id = (uint16_t)getpid();
	for (int seq = 1; seq <= 3; seq++) {
		uint8_t pkt[64] = {0};
		struct icmphdr *h = (struct icmphdr *)pkt;
		h->type = ICMP_ECHO;
		h->un.echo.id = htons(id);
		h->un.echo.sequence = htons((uint16_t)seq);
		memcpy(pkt + sizeof(*h), "berth-net-live", 14);
		h->checksum = icmp_sum(pkt, sizeof(pkt));
		if (sendto(s, pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			return 3;
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			struct pollfd pfd = {s, POLLIN, 0};
			if (poll(&pfd, 1, 1000) <= 0)
				break;
			uint8_t buf[1500];
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			if (n < (ssize_t)sizeof(struct iphdr))
				continue;
			size_t ihl = (size_t)(((struct iphdr *)buf)->ihl * 4);
			if ((size_t)n < ihl + sizeof(struct icmphdr))
				continue;
			struct icmphdr *r = (struct icmphdr *)(buf + ihl);
			if (r->type == ICMP_ECHOREPLY && ntohs(r->un.echo.id) == id &&
			    from.sin_addr.s_addr == to.sin_addr.s_addr)
				return 0;
			struct timespec t1;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (t1.tv_sec - t0.tv_sec >= 2)
				break;
		}
	}
	return 1;
}

static int check_no_eth0(void *arg)
{
	return if_nametoindex("eth0") == 0 ? 0 : 1;
}

/* Inside a container: eth0 has the address, lo is up, the default route is there. */
static int check_eth0(void *arg)
{
	const struct net_endpoint *ep = arg;
	char want[48];
	snprintf(want, sizeof(want), "inet %s/%u ", ep->ip_str, ep->prefix);
	char *argv[] = {"ip", "-o", "addr", "show", "dev", "eth0", NULL};
	char *out = capture(argv);
	int ok = out && strstr(out, want);
	free(out);
	char *argv2[] = {"ip", "-o", "link", "show", "dev", "lo", NULL};
	out = capture(argv2);
	ok = ok && out && strstr(out, ",UP");
	free(out);
	snprintf(want, sizeof(want), "default via %s dev eth0", ep->gateway_str);
	char *argv3[] = {"ip", "-o", "route", "show", "default", NULL};
	out = capture(argv3);
	ok = ok && out && strstr(out, want);
	free(out);
	char *argv4[] = {"ip", "-o", "link", "show", "dev", "eth0", NULL};
	out = capture(argv4);
	ok = ok && out && strstr(out, ep->mac_str);
	free(out);
	return ok ? 0 : 1;
}

/* The echo service inside a container: TCP and UDP, answering "pong:<what> from <peer>". */
struct service {
	uint16_t tcp_port, udp_port;
	int ready_fd;
};

static void peer_str(const struct sockaddr_storage *ss, char *out, size_t len)
{
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out,
			  (socklen_t)len);
	else
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out,
			  (socklen_t)len);
}

static int serve(void *arg)
{
	struct service *sv = arg;
	int one = 1;
	int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(sv->tcp_port)};
	if (bind(t, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(t, 16) < 0)
		return 1;
	a.sin_port = htons(sv->udp_port);
	if (bind(u, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 1;
	if (write(sv->ready_fd, "r", 1) != 1)
		return 1;
	for (;;) {
		struct pollfd p[2] = {{t, POLLIN, 0}, {u, POLLIN, 0}};
		if (poll(p, 2, -1) < 0)
			continue;
		char buf[512], out[700], peer[INET6_ADDRSTRLEN];
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (p[0].revents) {
			int c = accept(t, (struct sockaddr *)&ss, &sl);
			if (c < 0)
				continue;
			struct timeval tv = {3, 0};
			setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			ssize_t n = read(c, buf, sizeof(buf) - 1);
			if (n > 0) {
				buf[n] = '\0';
				buf[strcspn(buf, "\n")] = '\0';
				peer_str(&ss, peer, sizeof(peer));
				int m = snprintf(out, sizeof(out), "pong:%s from %s\n", buf, peer);
				if (write(c, out, (size_t)m) < 0) {
				}
			}
			close(c);
		}
		if (p[1].revents) {
			sl = sizeof(ss);
			ssize_t n =
			    recvfrom(u, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&ss, &sl);
			if (n > 0) {
				buf[n] = '\0';
				peer_str(&ss, peer, sizeof(peer));
				int m = snprintf(out, sizeof(out), "pong:%s from %s", buf, peer);
				sendto(u, out, (size_t)m, 0, (struct sockaddr *)&ss, sl);
			}
		}
	}
}

static void start_service(struct live *l, int ns, uint16_t tcp_port, uint16_t udp_port)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		if (setns(l->nsfd[ns], CLONE_NEWNET) < 0)
			_exit(99);
		struct service sv = {tcp_port, udp_port, p[1]};
		_exit(serve(&sv));
	}
	close(p[1]);
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	l->helpers[l->nhelpers++] = pid;
}

static int sockaddr_of(int family, const char *ip, uint16_t port, struct sockaddr_storage *ss,
		       socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		*len = sizeof(*s);
		return inet_pton(AF_INET, ip, &s->sin_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	*len = sizeof(*s);
	return inet_pton(AF_INET6, ip, &s->sin6_addr) == 1 ? 0 : -1;
}

/* Ask the echo service over TCP; returns the answer (caller frees) or NULL. */
static char *tcp_ask(int family, const char *ip, uint16_t port, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (sockaddr_of(family, ip, port, &ss, &len) < 0)
		return NULL;
	int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {5, 0};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	char buf[512];
	size_t got = 0;
	if (connect(s, (struct sockaddr *)&ss, len) == 0 && write(s, what, strlen(what)) > 0 &&
	    write(s, "\n", 1) == 1) {
		ssize_t n;
		while ((n = read(s, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
	}
	close(s);
	if (got == 0)
		return NULL;
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return strdup(buf);
}

static char *udp_ask(int family, const char *ip, uint16_t port, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (sockaddr_of(family, ip, port, &ss, &len) < 0)
		return NULL;
	int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char buf[512];
	ssize_t n = -1;
	for (int i = 0; i < 3 && n <= 0; i++) {
		sendto(s, what, strlen(what), 0, (struct sockaddr *)&ss, len);
		struct pollfd p = {s, POLLIN, 0};
		if (poll(&p, 1, 1000) == 1)
			n = recv(s, buf, sizeof(buf) - 1, 0);
	}
	close(s);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

struct ask {
	const char *ip;
	uint16_t port;
	const char *what, *from;
};

/* Inside a namespace: ask the echo service and check who it saw. */
static int ask_in_ns(void *arg)
{
	const struct ask *a = arg;
	char *got = tcp_ask(AF_INET, a->ip, a->port, a->what);
	char want[256];
	snprintf(want, sizeof(want), "pong:%s from %s", a->what, a->from);
	int ok = got && strcmp(got, want) == 0;
	if (!ok)
		fprintf(stderr, "in namespace: got '%s', want '%s'\n", got ? got : "(nothing)",
			want);
	free(got);
	return ok ? 0 : 1;
}

/*
 * Fixture.
 */

static const char *tmpdir(void)
{
	const char *tmp = getenv("TMPDIR");
	return tmp && *tmp ? tmp : "/tmp";
}

/* Everything a test made under tag: bridge (veths die with their namespaces), tables, lock
 * file, temp root. */
static void remove_tag(const char *tag)
{
	struct net_nl *nl = NULL;
	char kind[16];
	if (net_nl_open(-1, &nl, NULL) == 0) {
		if (net_link_get(nl, tag, NULL, kind) == 0 && strcmp(kind, "bridge") == 0)
			net_link_del(nl, tag, NULL);
		net_nl_close(nl);
	}
	net_nft_destroy(tag, NULL);
	char root[512];
	snprintf(root, sizeof(root), "%s/berth-netlive-%s", tmpdir(), tag);
	fs_rm_rf_at(AT_FDCWD, root);
}

/* Tags are "btl" + the test process's pid in hex + one digit per test. A run killed before
 * its teardown (a timeout) leaves its tag behind; the next run removes tags whose process is
 * gone. No other tag is touched ("btl" cannot start a random hex tag). */
static void reap_dead_tags(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	struct strv tags = STRV_INIT;
	DIR *d = opendir("/run");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (strncmp(de->d_name, "berth-btl", 9) == 0 && n > 15 &&
		    strcmp(de->d_name + n - 9, ".nft.lock") == 0) {
			char tag[32];
			snprintf(tag, sizeof(tag), "%.*s", (int)(n - 15), de->d_name + 6);
			strv_push(&tags, tag);
		}
	}
	if (d)
		closedir(d);
	struct if_nameindex *ifs = if_nameindex();
	for (struct if_nameindex *i = ifs; i && i->if_index; i++)
		if (strncmp(i->if_name, "btl", 3) == 0)
			strv_push(&tags, i->if_name);
	if (ifs)
		if_freenameindex(ifs);
	for (size_t i = 0; i < tags.n; i++) {
		const char *t = tags.v[i];
		size_t n = strlen(t);
		char hex[16];
		if (n < 5 || n - 4 >= sizeof(hex))
			continue;
		snprintf(hex, sizeof(hex), "%.*s", (int)(n - 4), t + 3);
		char *end;
		long pid = strtol(hex, &end, 16);
		if (*end || pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH))
			remove_tag(t);
	}
	strv_free(&tags);
}

static int setup(void **state)
{
	if (geteuid() != 0)
		return 0;
	reap_dead_tags();
	static unsigned counter;
	struct live *l = calloc(1, sizeof(*l));
	snprintf(l->tag, sizeof(l->tag), "btl%x%x", (unsigned)getpid(), counter++ & 0xf);
	/* A /24 of 10.200.0.0/13 that the host does not route yet. */
	struct net_subnet s = {0, 24};
	for (int i = 0; i < 64; i++) {
		uint32_t r;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			return -1;
		s.addr = (10u << 24) | ((200u + (r >> 8) % 8) << 16) | ((r & 0xff) << 8);
		if (!host_routes_overlap(&s))
			break;
	}
	net_subnet_format(&s, l->subnet);
	snprintf(l->root, sizeof(l->root), "%s/berth-netlive-%s", tmpdir(), l->tag);
	fs_rm_rf_at(AT_FDCWD, l->root);
	if (mkdir(l->root, 0700) < 0)
		return -1;
	l->cfg = json_pack("{s:{s:s,s:s}}", "bridge", "device", l->tag, "subnet", l->subnet);
	if (!l->cfg || net_conf_default(l->cfg, &l->nc, NULL) < 0)
		return -1;
	l->env.root = l->root;
	l->env.config = l->cfg;
	l->env.nft_prefix = l->tag;
	*state = l;
	return 0;
}

static int teardown(void **state)
{
	struct live *l = *state;
	if (!l)
		return 0;
	for (int i = 0; i < l->nhelpers; i++) {
		kill(l->helpers[i], SIGKILL);
		waitpid(l->helpers[i], NULL, 0);
	}
	for (int i = 0; i < l->nns; i++) {
		close(l->nsfd[i]);
		kill(l->holder[i], SIGKILL);
		waitpid(l->holder[i], NULL, 0);
	}
	/* Whatever the test left: bridge, rules, tables, state. */
	net_network_down(&l->env, &l->nc, NULL);
	net_nft_destroy(l->tag, NULL);
	fs_rm_rf_at(AT_FDCWD, l->root);
	net_conf_free(&l->nc);
	json_decref(l->cfg);
	free(l);
	return 0;
}

#define NEED_ROOT()                                                                                \
	do {                                                                                       \
		if (geteuid() != 0)                                                                \
			skip();                                                                    \
	} while (0)

static void attach(struct live *l, int ns, const char *cid, struct net_endpoint *ep)
{
	struct net_attach_req req = {.container_id = cid, .netns_fd = l->nsfd[ns]};
	struct berr *err = NULL;
	if (net_attach(&l->env, &l->nc, &req, ep, &err) < 0)
		fail_msg("attach %s: %s", cid, err->msg);
}

/*
 * Tests.
 */

static void test_two_namespaces_ping(void **state)
{
	NEED_ROOT();
	struct live *l = *state;
	int a = ns_new(l), b = ns_new(l);
	struct net_endpoint ea, eb;
	attach(l, a, CID_A, &ea);
	attach(l, b, CID_B, &eb);
	assert_int_not_equal(ea.ip, eb.ip);
	assert_true(net_subnet_contains(&l->nc.subnet, ea.ip));
	assert_true(net_subnet_contains(&l->nc.subnet, eb.ip));
	assert_int_equal(ea.gateway, l->nc.gateway);
	assert_int_equal(in_ns(l->nsfd[a], check_eth0, &ea), 0);
	assert_int_equal(in_ns(l->nsfd[b], check_eth0, &eb), 0);

	/* Both ways, and each to the gateway (the bridge). */
	assert_int_equal(in_ns(l->nsfd[a], do_ping, &eb.ip), 0);
	assert_int_equal(in_ns(l->nsfd[b], do_ping, &ea.ip), 0);
	assert_int_equal(in_ns(l->nsfd[a], do_ping, &l->nc.gateway), 0);

	/* The host end is on our bridge and up. */
	char *argv[] = {"ip", "-o", "link", "show", "dev", ea.host_ifname, NULL};
	char *out = capture(argv);
	assert_non_null(out);
	char want[64];
	snprintf(want, sizeof(want), "master %s", l->tag);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "UP"));
	free(out);
	/* In hairpin mode (a container reaching itself through a published port). */
	char *argv2[] = {"bridge", "-d", "link", "show", "dev", ea.host_ifname, NULL};
	out = capture(argv2);
	assert_non_null(out);
	if (!strstr(out, "hairpin on"))
		fail_msg("no hairpin:\n%s", out);
	free(out);

	/* Attaching the same container again rebuilds its link: same address, works. */
	struct net_endpoint again;
	struct net_attach_req req = {.container_id = CID_A, .netns_fd = l->nsfd[a]};
	assert_int_equal(net_attach(&l->env, &l->nc, &req, &again, NULL), 0);
	assert_int_equal(again.ip, ea.ip);
	assert_int_equal(in_ns(l->nsfd[b], do_ping, &ea.ip), 0);

	/* Another container's link into a namespace that has an eth0 is refused, and leaves
	 * nothing behind: no address taken, no host link. */
	struct net_attach_req other = {.container_id = "c3c3c3c3", .netns_fd = l->nsfd[a]};
	struct berr *err = NULL;
	assert_int_equal(net_attach(&l->env, &l->nc, &other, &again, &err), -EEXIST);
	assert_non_null(strstr(err->msg, "the container already has a 'eth0'"));
	berr_free(err);
	char vname[IF_NAMESIZE];
	net_veth_name("c3c3c3c3", &l->nc, vname);
	assert_int_equal(if_nametoindex(vname), 0);
	struct net_ipam_entry *v;
	size_t n;
	assert_int_equal(net_ipam_list(l->root, &l->nc, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	net_ipam_entries_free(v, n);

	/* Detached, A cannot reach B; B still reaches the gateway. */
	assert_int_equal(net_detach(&l->env, &l->nc, CID_A, NULL), 0);
	assert_int_equal(in_ns(l->nsfd[b], do_ping, &l->nc.gateway), 0);
	assert_int_not_equal(in_ns(l->nsfd[a], do_ping, &eb.ip), 0);
	assert_int_equal(net_detach(&l->env, &l->nc, CID_B, NULL), 0);
}

struct published {
	struct net_port_rsvs rsv;
	pid_t proxy_pid;
	int proxy_stop;
	uint16_t tcp_port, udp_port;
};

static void publish(struct live *l, const char *cid, const struct net_endpoint *ep,
		    const char *tcp_spec, const char *udp_spec, struct published *pub)
{
	struct net_ports ps = NET_PORTS_INIT;
	struct berr *err = NULL;
	assert_int_equal(net_port_parse(tcp_spec, &ps, NULL), 0);
	assert_int_equal(net_port_parse(udp_spec, &ps, NULL), 0);
	memset(pub, 0, sizeof(*pub));
	if (net_ports_reserve(&ps, &pub->rsv, &err) < 0)
		fail_msg("reserve: %s", err->msg);
	net_ports_free(&ps);
	for (size_t i = 0; i < pub->rsv.n; i++) {
		if (pub->rsv.v[i].port.proto == NET_PROTO_TCP)
			pub->tcp_port = pub->rsv.v[i].port.host_port;
		else
			pub->udp_port = pub->rsv.v[i].port.host_port;
	}
	if (net_publish(&l->env, cid, ep, &pub->rsv, &err) < 0)
		fail_msg("publish: %s", err->msg);

	/* The proxy for the IPv6 half, in its own process as a monitor would run it. */
	struct net_proxy *p;
	assert_int_equal(net_proxy_new(&p, NULL), 0);
	assert_int_equal(net_proxy_add_reserved(p, &pub->rsv, ep->ip, NULL), 0);
	int stop[2];
	assert_int_equal(pipe2(stop, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(stop[1]);
		_exit(net_proxy_run(p, stop[0]) == 0 ? 0 : 1);
	}
	close(stop[0]);
	net_proxy_free(p);
	pub->proxy_pid = pid;
	pub->proxy_stop = stop[1];
}

static void unpublish(struct live *l, const char *cid, struct published *pub)
{
	assert_int_equal(net_unpublish(&l->env, cid, NULL), 0);
	/* A byte, not EOF: other children may hold a copy of the pipe's write end. */
	assert_int_equal(write(pub->proxy_stop, "s", 1), 1);
	close(pub->proxy_stop);
	assert_int_equal(wait_child(pub->proxy_pid, 10), 0);
	net_port_rsvs_free(&pub->rsv);
}

static void expect_answer(char *got, const char *what, const char *from)
{
	char want[256];
	snprintf(want, sizeof(want), "pong:%s from %s", what, from);
	if (!got || strcmp(got, want) != 0)
		fail_msg("got '%s', want '%s'", got ? got : "(nothing)", want);
	free(got);
}

static void test_published_port(void **state)
{
	NEED_ROOT();
	struct live *l = *state;
	int a = ns_new(l);
	struct net_endpoint ep;
	attach(l, a, CID_A, &ep);
	start_service(l, a, 80, 53);
	struct published pub;
	publish(l, CID_A, &ep, "0:80", "0:53/udp", &pub);
	assert_true(pub.tcp_port > 0 && pub.udp_port > 0);
	/* 0.0.0.0 and [::] for each of tcp and udp. */
	assert_int_equal(pub.rsv.n, 4);

	/* 127.0.0.1 goes through the kernel (DNAT in output, route_localnet, masquerade: the
	 * container sees the gateway); ::1 through the proxy (which connects from the
	 * gateway too, being on the host). */
	expect_answer(tcp_ask(AF_INET, "127.0.0.1", pub.tcp_port, "v4"), "v4", ep.gateway_str);
	expect_answer(tcp_ask(AF_INET6, "::1", pub.tcp_port, "v6"), "v6", ep.gateway_str);
	expect_answer(udp_ask(AF_INET, "127.0.0.1", pub.udp_port, "u4"), "u4", ep.gateway_str);
	expect_answer(udp_ask(AF_INET6, "::1", pub.udp_port, "u6"), "u6", ep.gateway_str);
	/* The gateway address of the host reaches it too (prerouting is not involved, output
	 * is: any local address). */
	expect_answer(tcp_ask(AF_INET, ep.gateway_str, pub.tcp_port, "gw"), "gw", ep.gateway_str);
	/* Hairpin: the container itself, through the host's address and the published port;
	 * and another container on the network the same way. Both arrive masqueraded. */
	struct ask self = {ep.gateway_str, pub.tcp_port, "hairpin", ep.gateway_str};
	assert_int_equal(in_ns(l->nsfd[a], ask_in_ns, &self), 0);
	int b = ns_new(l);
	struct net_endpoint eb;
	attach(l, b, CID_B, &eb);
	struct ask other = {ep.gateway_str, pub.tcp_port, "neighbour", ep.gateway_str};
	assert_int_equal(in_ns(l->nsfd[b], ask_in_ns, &other), 0);
	assert_int_equal(net_detach(&l->env, &l->nc, CID_B, NULL), 0);
	/* Many connections in a row through the proxy: nothing leaks or sticks. */
	for (int i = 0; i < 20; i++) {
		char what[16];
		snprintf(what, sizeof(what), "n%d", i);
		expect_answer(tcp_ask(AF_INET6, "::1", pub.tcp_port, what), what, ep.gateway_str);
	}

	/* The DNAT rules are in our table, tagged with the container. */
	char nat[64];
	snprintf(nat, sizeof(nat), "%s_nat", l->tag);
	char *argv[] = {"nft", "list", "table", "ip", nat, NULL};
	char *out = capture(argv);
	assert_non_null(out);
	char want[128];
	snprintf(want, sizeof(want), "dnat to %s:80 comment \"berth:%s:tcp:*:%u\"", ep.ip_str,
		 CID_A, pub.tcp_port);
	if (!strstr(out, want))
		fail_msg("no '%s' in:\n%s", want, out);
	free(out);
	assert_int_equal(net_nft_count(l->tag, CID_A, NULL, NULL), 2);

	/* The port is in use now: another reservation of it fails before anything is set up,
	 * on any address. */
	char spec[64];
	const char *addrs[] = {"", "127.0.0.1:", "[::1]:", "0.0.0.0:"};
	for (size_t i = 0; i < 4; i++) {
		struct net_ports ps = NET_PORTS_INIT;
		struct net_port_rsvs r = NET_PORT_RSVS_INIT;
		struct berr *err = NULL;
		snprintf(spec, sizeof(spec), "%s%u:8%zu", addrs[i], pub.tcp_port, i);
		assert_int_equal(net_port_parse(spec, &ps, NULL), 0);
		assert_int_equal(net_ports_reserve(&ps, &r, &err), -EADDRINUSE);
		assert_non_null(strstr(err->msg, "port is already allocated"));
		berr_free(err);
		assert_int_equal(r.n, 0);
		net_ports_free(&ps);
	}

	unpublish(l, CID_A, &pub);
	assert_int_equal(net_nft_count(l->tag, CID_A, NULL, NULL), 0);
	/* Nothing answers any more. */
	char *gone = tcp_ask(AF_INET, "127.0.0.1", pub.tcp_port, "late");
	assert_null(gone);
	assert_int_equal(net_detach(&l->env, &l->nc, CID_A, NULL), 0);
}

static void test_stale_rule_replaced(void **state)
{
	NEED_ROOT();
	struct live *l = *state;
	int a = ns_new(l);
	struct net_endpoint ep;
	attach(l, a, CID_A, &ep);
	start_service(l, a, 8080, 5353);

	/* A container that died without cleaning up left a rule for a port nobody holds. */
	struct net_ports ps = NET_PORTS_INIT;
	struct net_port_rsvs probe = NET_PORT_RSVS_INIT;
	assert_int_equal(net_port_parse("127.0.0.1::80", &ps, NULL), 0);
	assert_int_equal(net_ports_reserve(&ps, &probe, NULL), 0);
	uint16_t port = probe.v[0].port.host_port;
	struct net_ports dead_ports = NET_PORTS_INIT;
	assert_int_equal(net_port_rsvs_ports(&probe, &dead_ports), 0);
	net_port_rsvs_free(&probe);
	uint32_t nowhere = l->nc.subnet.addr + 200;
	assert_int_equal(net_nft_ports_add(l->tag, "deadc0de", nowhere, &dead_ports, NULL), 0);
	assert_int_equal(net_nft_count(l->tag, "deadc0de", NULL, NULL), 1);

	/* A host address that is not one is refused before anything changes. */
	struct net_port badp = {.proto = NET_PROTO_TCP, .container_port = 80, .published = 1,
				.family = AF_INET, .host_ip = "127.0.0.300", .host_port = 9,
				.host_port_last = 9};
	struct net_ports bad = {&badp, 1};
	struct berr *err = NULL;
	assert_int_equal(net_nft_ports_add(l->tag, "deadc0de", nowhere, &bad, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "bad host address '127.0.0.300'"));
	berr_free(err);
	assert_int_equal(net_nft_count(l->tag, "deadc0de", NULL, NULL), 1);
	net_ports_free(&dead_ports);
	net_ports_free(&ps);

	/* A new container publishes that port: the stale rule goes, traffic reaches it. */
	char spec[32];
	snprintf(spec, sizeof(spec), "%u:8080", port);
	struct published pub;
	publish(l, CID_A, &ep, spec, "0:5353/udp", &pub);
	assert_int_equal(net_nft_count(l->tag, "deadc0de", NULL, NULL), 0);
	expect_answer(tcp_ask(AF_INET, "127.0.0.1", port, "fresh"), "fresh", ep.gateway_str);
	unpublish(l, CID_A, &pub);
	assert_int_equal(net_detach(&l->env, &l->nc, CID_A, NULL), 0);
}

static int addr_of_subnet_on_host(const char *subnet_prefix)
{
	char *argv[] = {"ip", "-o", "-4", "addr", "show", NULL};
	char *out = capture(argv);
	assert_non_null(out);
	int found = strstr(out, subnet_prefix) != NULL;
	free(out);
	return found;
}

static void test_teardown_leaves_nothing(void **state)
{
	NEED_ROOT();
	struct live *l = *state;
	int a = ns_new(l);
	struct net_endpoint ep;
	attach(l, a, CID_A, &ep);
	struct published pub;
	start_service(l, a, 80, 53);
	publish(l, CID_A, &ep, "0:80", "0:53/udp", &pub);
	expect_answer(tcp_ask(AF_INET, "127.0.0.1", pub.tcp_port, "x"), "x", ep.gateway_str);

	/* "10.200.7." for "10.200.7.0/24": how the subnet's addresses start. */
	char sprefix[NET_CIDR4_STRLEN];
	snprintf(sprefix, sizeof(sprefix), "%s", l->subnet);
	strrchr(sprefix, '.')[1] = '\0';
	assert_true(if_nametoindex(ep.host_ifname) > 0);
	assert_true(addr_of_subnet_on_host(sprefix));

	/* Container stops. */
	unpublish(l, CID_A, &pub);
	assert_int_equal(net_detach(&l->env, &l->nc, CID_A, NULL), 0);
	assert_int_equal(if_nametoindex(ep.host_ifname), 0);
	assert_int_equal(in_ns(l->nsfd[a], check_no_eth0, NULL), 0);
	assert_int_equal(net_nft_count(l->tag, CID_A, NULL, NULL), 0);
	struct net_ipam_entry *v;
	size_t n;
	assert_int_equal(net_ipam_list(l->root, &l->nc, &v, &n, NULL), 0);
	assert_int_equal(n, 0);
	net_ipam_entries_free(v, n);

	/* Every undo step again: nothing to do, still success. */
	assert_int_equal(net_unpublish(&l->env, CID_A, NULL), 0);
	assert_int_equal(net_detach(&l->env, &l->nc, CID_A, NULL), 0);

	/* The network goes: bridge, its address, its rules. */
	assert_true(net_nft_count(l->tag, NULL, l->tag, NULL) > 0);
	assert_int_equal(net_network_down(&l->env, &l->nc, NULL), 0);
	assert_int_equal(if_nametoindex(l->tag), 0);
	assert_false(addr_of_subnet_on_host(sprefix));
	assert_int_equal(net_nft_count(l->tag, NULL, l->tag, NULL), 0);
	assert_int_equal(net_network_down(&l->env, &l->nc, NULL), 0);

	/* And berth's tables (the test's own) go. */
	assert_int_equal(net_nft_destroy(l->tag, NULL), 0);
	char *argv[] = {"nft", "list", "tables", NULL};
	char *out = capture(argv);
	assert_non_null(out);
	if (strstr(out, l->tag))
		fail_msg("table %s still there:\n%s", l->tag, out);
	free(out);
	assert_int_equal(net_nft_destroy(l->tag, NULL), 0);
}

static void test_network_up_idempotent(void **state)
{
	NEED_ROOT();
	struct live *l = *state;
	for (int i = 0; i < 3; i++) {
		struct berr *err = NULL;
		if (net_network_up(&l->env, &l->nc, &err) < 0)
			fail_msg("%s", err->msg);
	}
	/* Exactly one set of network rules, one address. */
	int rules = net_nft_count(l->tag, NULL, l->tag, NULL);
	assert_int_equal(rules, 5);
	char *argv[] = {"ip", "-o", "-4", "addr", "show", "dev", l->tag, NULL};
	char *out = capture(argv);
	assert_non_null(out);
	int lines = 0;
	for (char *p = out; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 1);
	free(out);
	/* route_localnet is on for the bridge (127.0.0.1 published ports need it). */
	char path[128], val[8] = "";
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", l->tag);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(val, sizeof(val), f));
	fclose(f);
	assert_string_equal(val, "1\n");

	/* A name clash with something that is not a bridge is refused. */
	struct net_conf clash;
	json_t *cfg = json_pack("{s:{s:s,s:s}}", "bridge", "device", "lo", "subnet", l->subnet);
	assert_int_equal(net_conf_default(cfg, &clash, NULL), 0);
	struct berr *err = NULL;
	assert_int_equal(net_network_up(&l->env, &clash, &err), -EEXIST);
	assert_string_equal(err->msg, "network 'bridge' up: link 'lo' exists and is not a bridge");
	berr_free(err);
	net_conf_free(&clash);
	json_decref(cfg);
}

/* The network's rules follow its definition: a changed one replaces them (another hash in
 * their comments), an unchanged one leaves them alone (same handles: nothing committed). */
static void test_network_rules_follow_config(void **state)
{
	NEED_ROOT();
	struct live *l = *state;
	struct berr *err = NULL;
	char *argv[] = {"nft", "-a", "list", "table", "inet", l->tag, NULL};
	if (net_network_up(&l->env, &l->nc, &err) < 0)
		fail_msg("%s", err->msg);
	char *before = capture(argv);
	assert_non_null(before);
	assert_non_null(strstr(before, "@bridges drop"));
	if (net_network_up(&l->env, &l->nc, &err) < 0)
		fail_msg("%s", err->msg);
	char *again = capture(argv);
	assert_non_null(again);
	assert_string_equal(before, again);
	free(again);

	l->nc.internal = 1;
	if (net_network_up(&l->env, &l->nc, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(net_nft_count(l->tag, NULL, l->tag, NULL), 5);
	char *internal = capture(argv);
	assert_non_null(internal);
	assert_null(strstr(internal, "@bridges drop"));
	char want[96];
	snprintf(want, sizeof(want), "oifname \"%s\" iifname != \"%s\" drop", l->tag, l->tag);
	if (!strstr(internal, want))
		fail_msg("no '%s' in:\n%s", want, internal);
	free(internal);

	l->nc.internal = 0;
	if (net_network_up(&l->env, &l->nc, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(net_nft_count(l->tag, NULL, l->tag, NULL), 5);
	char *back = capture(argv);
	assert_non_null(back);
	assert_non_null(strstr(back, "@bridges drop"));
	assert_string_not_equal(before, back); /* new handles */
	free(back);
	free(before);
}

/* net_detach_nowait: the veth, its peer and the address are gone on return; the child that
 * finishes the deletion in the kernel exits 0. */
static void test_detach_nowait(void **state)
{
	NEED_ROOT();
	struct live *l = *state;
	int a = ns_new(l);
	struct net_endpoint ep;
	attach(l, a, CID_A, &ep);
	assert_true(if_nametoindex(ep.host_ifname) > 0);
	pid_t child = 0;
	struct berr *err = NULL;
	if (net_detach_nowait(&l->env, &l->nc, CID_A, &child, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(if_nametoindex(ep.host_ifname), 0);
	assert_int_equal(in_ns(l->nsfd[a], check_no_eth0, NULL), 0);
	struct net_ipam_entry *v;
	size_t n;
	assert_int_equal(net_ipam_list(l->root, &l->nc, &v, &n, NULL), 0);
	assert_int_equal(n, 0);
	net_ipam_entries_free(v, n);
	if (child > 0) {
		int st = -1;
		assert_int_equal(waitpid(child, &st, 0), child);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	/* Nothing left: success, no child. */
	assert_int_equal(net_detach_nowait(&l->env, &l->nc, CID_A, &child, NULL), 0);
	assert_int_equal(child, -1);
}

/*
 * The proxy alone (no namespaces needed): bulk data both ways through splice, half close
 * passed on, a refused backend seen by the client.
 */

static uint32_t fnv(uint32_t h, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static void pattern(uint8_t *b, size_t n, size_t off)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)((off + i) * 31 + ((off + i) >> 12));
}

#define UP_BYTES (16u << 20)
#define DOWN_BYTES (8u << 20)

/* Backend: read until EOF, answer "<len> <fnv>\n", then DOWN_BYTES of pattern. */
static void backend(int lfd)
{
	/* Children are reaped by the kernel: none is left behind as a zombie. */
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		if (fork() == 0) {
			static uint8_t buf[1 << 16];
			uint32_t h = 2166136261u;
			size_t len = 0;
			ssize_t n;
			while ((n = read(c, buf, sizeof(buf))) > 0) {
				h = fnv(h, buf, (size_t)n);
				len += (size_t)n;
			}
			char head[64];
			int m = snprintf(head, sizeof(head), "%zu %08x\n", len, h);
			if (write(c, head, (size_t)m) != m)
				_exit(1);
			for (size_t off = 0; off < DOWN_BYTES; off += sizeof(buf)) {
				pattern(buf, sizeof(buf), off);
				size_t done = 0;
				while (done < sizeof(buf)) {
					n = write(c, buf + done, sizeof(buf) - done);
					if (n <= 0)
						_exit(1);
					done += (size_t)n;
				}
			}
			_exit(0);
		}
		close(c);
	}
}

static int proxy_client(uint16_t port)
{
	int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	inet_pton(AF_INET6, "::1", &a.sin6_addr);
	struct timeval tv = {10, 0};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 1;
	static uint8_t buf[1 << 16];
	uint32_t h = 2166136261u;
	for (size_t off = 0; off < UP_BYTES; off += sizeof(buf)) {
		pattern(buf, sizeof(buf), off);
		h = fnv(h, buf, sizeof(buf));
		size_t done = 0;
		while (done < sizeof(buf)) {
			ssize_t n = write(s, buf + done, sizeof(buf) - done);
			if (n <= 0)
				return 2;
			done += (size_t)n;
		}
	}
	/* Half close: the backend answers only after it sees the end. */
	shutdown(s, SHUT_WR);
	char want[64], head[64];
	snprintf(want, sizeof(want), "%u %08x\n", UP_BYTES, h);
	size_t hl = 0;
	while (hl < strlen(want)) {
		ssize_t n = read(s, head + hl, strlen(want) - hl);
		if (n <= 0)
			return 3;
		hl += (size_t)n;
	}
	head[hl] = '\0';
	if (strcmp(head, want) != 0)
		return 4;
	size_t got = 0;
	ssize_t n;
	static uint8_t exp[1 << 16];
	while ((n = read(s, buf, sizeof(buf))) > 0) {
		pattern(exp, (size_t)n, got);
		if (memcmp(buf, exp, (size_t)n) != 0)
			return 5;
		got += (size_t)n;
	}
	close(s);
	return n == 0 && got == DOWN_BYTES ? 0 : 6;
}

static void test_proxy_bulk_half_close(void **state)
{
	struct sockaddr_in6 la = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "::1", &la.sin6_addr);
	int lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&la, sizeof(la)) < 0)
		skip(); /* no IPv6 loopback here */
	assert_int_equal(listen(lfd, 64), 0);
	socklen_t sl = sizeof(la);
	getsockname(lfd, (struct sockaddr *)&la, &sl);
	uint16_t pport = ntohs(la.sin6_port);

	int bfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in ba = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &ba.sin_addr);
	assert_int_equal(bind(bfd, (struct sockaddr *)&ba, sizeof(ba)), 0);
	assert_int_equal(listen(bfd, 64), 0);
	sl = sizeof(ba);
	getsockname(bfd, (struct sockaddr *)&ba, &sl);
	pid_t bpid = fork();
	assert_true(bpid >= 0);
	if (bpid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(lfd);
		backend(bfd);
	}
	close(bfd);

	struct net_proxy *p;
	assert_int_equal(net_proxy_new(&p, NULL), 0);
	assert_int_equal(
	    net_proxy_add(p, lfd, NET_PROTO_TCP, (struct sockaddr *)&ba, sizeof(ba), NULL), 0);
	/* A second port whose backend refuses: 127.0.0.1 port 1 is closed. */
	int rfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 ra = la;
	ra.sin6_port = 0;
	assert_int_equal(bind(rfd, (struct sockaddr *)&ra, sizeof(ra)), 0);
	assert_int_equal(listen(rfd, 8), 0);
	sl = sizeof(ra);
	getsockname(rfd, (struct sockaddr *)&ra, &sl);
	struct sockaddr_in refused = {.sin_family = AF_INET, .sin_port = htons(1)};
	inet_pton(AF_INET, "127.0.0.1", &refused.sin_addr);
	assert_int_equal(net_proxy_add(p, rfd, NET_PROTO_TCP, (struct sockaddr *)&refused,
				       sizeof(refused), NULL),
			 0);
	int stop[2];
	assert_int_equal(pipe2(stop, O_CLOEXEC), 0);
	pid_t ppid = fork();
	assert_true(ppid >= 0);
	if (ppid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(stop[1]);
		_exit(net_proxy_run(p, stop[0]) == 0 ? 0 : 1);
	}
	close(stop[0]);
	net_proxy_free(p);

	/* One after another, then four at once. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(proxy_client(pport), 0);
	pid_t kids[4];
	for (int i = 0; i < 4; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(proxy_client(pport));
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(wait_child(kids[i], 60), 0);

	/* Refused: the client's connection ends at once, with nothing. */
	int c = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {5, 0};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(c, (struct sockaddr *)&ra, sizeof(ra)), 0);
	char b;
	ssize_t n = read(c, &b, 1);
	assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
	close(c);

	assert_int_equal(write(stop[1], "s", 1), 1);
	close(stop[1]);
	assert_int_equal(wait_child(ppid, 10), 0);
	kill(bpid, SIGKILL);
	waitpid(bpid, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_network_up_idempotent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_network_rules_follow_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_detach_nowait, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_namespaces_ping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_published_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_rule_replaced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_teardown_leaves_nothing, setup, teardown),
	    cmocka_unit_test(test_proxy_bulk_half_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
