#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "banned.h"

#define UDP_BUF 65536
#define BATCH 64

enum tag_kind { T_LISTEN, T_CONN, T_SESSION, T_STOP };

struct tag {
	enum tag_kind kind;
	int side; /* T_CONN: 0 client, 1 container */
	void *owner;
};

struct listener {
	struct tag tag;
	int fd;
	enum net_proto proto;
	struct sockaddr_storage target;
	socklen_t target_len;
	struct session *mru, *lru; /* UDP sessions, most recently used first */
	size_t nsessions;
	struct listener *next;
};

struct conn {
	struct net_proxy *p;
	int fd[2];	  /* 0: the client, 1: the container */
	int pipefd[2][2]; /* pipefd[d] carries what fd[d] sent towards fd[!d] */
	size_t inpipe[2], cap[2];
	int pipe_full[2]; /* splice into the pipe would block although bytes < cap */
	int eof[2];	  /* fd[d] has nothing more to send */
	int shut[2];	  /* fd[!d] was told so (SHUT_WR) */
	int connecting;
	int dead;
	uint32_t ev[2];
	int registered[2];
	struct tag tag[2];
	struct conn *prev, *next;
};

struct session {
	struct listener *l;
	struct sockaddr_storage client;
	socklen_t client_len;
	/* The address the client sent to (IP_PKTINFO / IPV6_PKTINFO): replies must come from
	 * it, not from whatever address routing picks for a socket bound to "any". */
	int have_local;
	struct in_pktinfo local4;
	struct in6_pktinfo local6;
	int fd; /* connected to the target */
	int64_t last_ms;
	int dead;
	struct tag tag;
	struct session *newer, *older;
	struct session *grave_next;
};

struct net_proxy {
	int epfd;
	struct listener *listeners;
	struct conn *conns;
	struct conn *conn_graves;
	struct session *session_graves;
	unsigned long tcp_accepted, tcp_active, udp_sessions;
	char *udpbuf;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int net_proxy_new(struct net_proxy **ret, struct berr **err)
{
	struct net_proxy *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->udpbuf = malloc(UDP_BUF);
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!p->udpbuf || p->epfd < 0) {
		int e = p->udpbuf ? errno : ENOMEM;
		free(p->udpbuf);
		if (p->epfd >= 0)
			close(p->epfd);
		free(p);
		return berr_errno(err, e, "proxy");
	}
	*ret = p;
	return 0;
}

static void conn_close_fds(struct conn *c)
{
	for (int d = 0; d < 2; d++) {
		if (c->fd[d] >= 0)
			close(c->fd[d]);
		for (int k = 0; k < 2; k++)
			if (c->pipefd[d][k] >= 0)
				close(c->pipefd[d][k]);
		c->fd[d] = -1;
		c->pipefd[d][0] = c->pipefd[d][1] = -1;
	}
}

/* Close now, free later: events of this batch may still point at c. */
static void conn_kill(struct conn *c, int reset)
{
	if (c->dead)
		return;
	c->dead = 1;
	if (reset && c->fd[0] >= 0) {
		/* The container refused or broke the connection: let the client see a reset
		 * rather than a clean end of data. */
		struct linger lg = {1, 0};
		setsockopt(c->fd[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	conn_close_fds(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		c->p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->p->conn_graves;
	c->p->conn_graves = c;
	c->p->tcp_active--;
}

static void session_unlink(struct session *s)
{
	struct listener *l = s->l;
	if (s->newer)
		s->newer->older = s->older;
	else
		l->mru = s->older;
	if (s->older)
		s->older->newer = s->newer;
	else
		l->lru = s->newer;
	s->newer = s->older = NULL;
}

static void session_push_front(struct session *s)
{
	struct listener *l = s->l;
	s->older = l->mru;
	s->newer = NULL;
	if (l->mru)
		l->mru->newer = s;
	l->mru = s;
	if (!l->lru)
		l->lru = s;
}

static void session_kill(struct net_proxy *p, struct session *s)
{
	if (s->dead)
		return;
	s->dead = 1;
	session_unlink(s);
	s->l->nsessions--;
	p->udp_sessions--;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->grave_next = p->session_graves;
	p->session_graves = s;
}

static void bury(struct net_proxy *p)
{
	while (p->conn_graves) {
		struct conn *c = p->conn_graves;
		p->conn_graves = c->next;
		free(c);
	}
	while (p->session_graves) {
		struct session *s = p->session_graves;
		p->session_graves = s->grave_next;
		free(s);
	}
}

void net_proxy_free(struct net_proxy *p)
{
	if (!p)
		return;
	while (p->conns)
		conn_kill(p->conns, 0);
	for (struct listener *l = p->listeners, *next; l; l = next) {
		next = l->next;
		while (l->mru)
			session_kill(p, l->mru);
		close(l->fd);
		free(l);
	}
	bury(p);
	close(p->epfd);
	free(p->udpbuf);
	free(p);
}

int net_proxy_add(struct net_proxy *p, int listen_fd, enum net_proto proto,
		  const struct sockaddr *target, socklen_t target_len, struct berr **err)
{
	if ((proto != NET_PROTO_TCP && proto != NET_PROTO_UDP) || target_len == 0 ||
	    target_len > sizeof(struct sockaddr_storage)) {
		close(listen_fd);
		return berr_set(err, EINVAL, "proxy: only tcp and udp ports can be proxied");
	}
	struct listener *l = calloc(1, sizeof(*l));
	if (!l) {
		close(listen_fd);
		return -ENOMEM;
	}
	l->fd = listen_fd;
	l->proto = proto;
	memcpy(&l->target, target, target_len);
	l->target_len = target_len;
	l->tag = (struct tag){T_LISTEN, 0, l};
	int fl = fcntl(listen_fd, F_GETFL);
	if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;
		close(listen_fd);
		free(l);
		return berr_errno(err, e, "proxy: listener");
	}
	if (proto == NET_PROTO_UDP) {
		struct sockaddr_storage self;
		socklen_t sl = sizeof(self);
		int one = 1;
		if (getsockname(listen_fd, (struct sockaddr *)&self, &sl) == 0)
			setsockopt(listen_fd,
				   self.ss_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
				   self.ss_family == AF_INET6 ? IPV6_RECVPKTINFO : IP_PKTINFO, &one,
				   sizeof(one));
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->tag};
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) {
		int e = errno;
		close(listen_fd);
		free(l);
		return berr_errno(err, e, "proxy: watch listener");
	}
	l->next = p->listeners;
	p->listeners = l;
	return 0;
}

int net_proxy_add_reserved(struct net_proxy *p, struct net_port_rsvs *r, uint32_t container_ip,
			   struct berr **err)
{
	for (size_t i = 0; i < r->n; i++) {
		struct net_port_rsv *rv = &r->v[i];
		if (rv->port.family != AF_INET6 || rv->fd < 0)
			continue;
		struct sockaddr_in sin = {.sin_family = AF_INET,
					  .sin_port = htons(rv->port.container_port),
					  .sin_addr.s_addr = htonl(container_ip)};
		int fd = rv->fd;
		rv->fd = -1;
		int e =
		    net_proxy_add(p, fd, rv->port.proto, (struct sockaddr *)&sin, sizeof(sin), err);
		if (e < 0)
			return e;
	}
	return 0;
}

int net_proxy_fd(const struct net_proxy *p)
{
	return p->epfd;
}

void net_proxy_get_stats(const struct net_proxy *p, struct net_proxy_stats *ret)
{
	ret->tcp_accepted = p->tcp_accepted;
	ret->tcp_active = p->tcp_active;
	ret->udp_sessions = p->udp_sessions;
}

/*
 * TCP.
 */

static void conn_update(struct conn *c, uint32_t happened[2])
{
	for (int d = 0; d < 2; d++) {
		if (c->fd[d] < 0)
			continue;
		uint32_t want = 0;
		if (!c->connecting && !c->eof[d] && !c->pipe_full[d] && c->inpipe[d] < c->cap[d])
			want |= EPOLLIN;
		if ((d == 1 && c->connecting) || c->inpipe[!d] > 0)
			want |= EPOLLOUT;
		if (c->registered[d] && want == c->ev[d])
			continue;
		if (want == 0 && (happened[d] & (EPOLLHUP | EPOLLERR))) {
			/* Nothing more to do with this side, and a hung-up socket would be
			 * reported again and again: stop watching it. */
			if (c->registered[d])
				epoll_ctl(c->p->epfd, EPOLL_CTL_DEL, c->fd[d], NULL);
			c->registered[d] = 0;
			c->ev[d] = 0;
			continue;
		}
		struct epoll_event ev = {.events = want, .data.ptr = &c->tag[d]};
		int op = c->registered[d] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
		if (epoll_ctl(c->p->epfd, op, c->fd[d], &ev) < 0) {
			conn_kill(c, 1);
			return;
		}
		c->registered[d] = 1;
		c->ev[d] = want;
	}
}

/* Move what can move in direction d (fd[d] -> fd[!d]). -1 when the connection failed. */
static int pump(struct conn *c, int d)
{
	int progress;
	do {
		progress = 0;
		if (!c->eof[d] && !c->pipe_full[d] && c->inpipe[d] < c->cap[d]) {
			ssize_t n =
			    splice(c->fd[d], NULL, c->pipefd[d][1], NULL, c->cap[d] - c->inpipe[d],
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				c->inpipe[d] += (size_t)n;
				progress = 1;
			} else if (n == 0) {
				c->eof[d] = 1;
				progress = 1;
			} else if (errno == EAGAIN) {
				/* An empty pipe cannot be full, so then the socket is empty; with
				 * bytes in it, the pipe may have run out of slots before bytes. */
				if (c->inpipe[d] > 0)
					c->pipe_full[d] = 1;
			} else if (errno != EINTR) {
				return -1;
			}
		}
		if (c->inpipe[d] > 0) {
			ssize_t n = splice(c->pipefd[d][0], NULL, c->fd[!d], NULL, c->inpipe[d],
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				c->inpipe[d] -= (size_t)n;
				c->pipe_full[d] = 0;
				progress = 1;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return -1;
			}
		}
	} while (progress && !(c->eof[d] && c->inpipe[d] == 0));
	if (c->eof[d] && c->inpipe[d] == 0 && !c->shut[d]) {
		shutdown(c->fd[!d], SHUT_WR);
		c->shut[d] = 1;
	}
	return 0;
}

static void conn_event(struct conn *c, int side, uint32_t events)
{
	uint32_t happened[2] = {0, 0};
	happened[side] = events;
	if (c->connecting) {
		if (side != 1)
			goto update;
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0) {
			conn_kill(c, 1);
			return;
		}
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			goto update;
		c->connecting = 0;
		happened[1] = 0;
	}
	if (pump(c, 0) < 0 || pump(c, 1) < 0) {
		conn_kill(c, 1);
		return;
	}
	if (c->shut[0] && c->shut[1]) {
		conn_kill(c, 0);
		return;
	}
update:
	conn_update(c, happened);
}

static void tcp_accept(struct net_proxy *p, struct listener *l)
{
	for (int i = 0; i < BATCH; i++) {
		int cfd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return; /* EAGAIN, or a client gone before we got to it */
		if (p->tcp_active >= NET_PROXY_TCP_MAX) {
			close(cfd);
			continue;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(cfd);
			return;
		}
		c->p = p;
		c->fd[0] = cfd;
		c->fd[1] = -1;
		c->pipefd[0][0] = c->pipefd[0][1] = c->pipefd[1][0] = c->pipefd[1][1] = -1;
		c->tag[0] = (struct tag){T_CONN, 0, c};
		c->tag[1] = (struct tag){T_CONN, 1, c};
		c->next = p->conns;
		if (p->conns)
			p->conns->prev = c;
		p->conns = c;
		p->tcp_active++;
		p->tcp_accepted++;
		int ok = pipe2(c->pipefd[0], O_NONBLOCK | O_CLOEXEC) == 0 &&
			 pipe2(c->pipefd[1], O_NONBLOCK | O_CLOEXEC) == 0;
		for (int d = 0; ok && d < 2; d++) {
			int cap = fcntl(c->pipefd[d][1], F_GETPIPE_SZ);
			c->cap[d] = cap > 0 ? (size_t)cap : 65536;
		}
		if (ok) {
			c->fd[1] = socket(l->target.ss_family,
					  SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			ok = c->fd[1] >= 0;
		}
		if (ok && connect(c->fd[1], (struct sockaddr *)&l->target, l->target_len) < 0) {
			if (errno == EINPROGRESS)
				c->connecting = 1;
			else
				ok = 0;
		}
		if (!ok) {
			conn_kill(c, 1);
			continue;
		}
		uint32_t none[2] = {0, 0};
		conn_update(c, none);
	}
}

/*
 * UDP.
 */

static void udp_expire(struct net_proxy *p, int64_t now)
{
	for (struct listener *l = p->listeners; l; l = l->next)
		while (l->lru && now - l->lru->last_ms >= NET_PROXY_UDP_IDLE_MS)
			session_kill(p, l->lru);
}

static struct session *session_find(struct listener *l, const struct sockaddr_storage *a,
				    socklen_t alen)
{
	for (struct session *s = l->mru; s; s = s->older)
		if (s->client_len == alen && memcmp(&s->client, a, alen) == 0)
			return s;
	return NULL;
}

static struct session *session_new(struct net_proxy *p, struct listener *l,
				   const struct sockaddr_storage *a, socklen_t alen)
{
	if (l->nsessions >= NET_PROXY_UDP_MAX && l->lru)
		session_kill(p, l->lru);
	struct session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->l = l;
	memcpy(&s->client, a, alen);
	s->client_len = alen;
	s->tag = (struct tag){T_SESSION, 0, s};
	s->fd = socket(l->target.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->tag};
	if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&l->target, l->target_len) < 0 ||
	    epoll_ctl(p->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		return NULL;
	}
	session_push_front(s);
	l->nsessions++;
	p->udp_sessions++;
	return s;
}

union cmsg_space {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
};

static void udp_from_client(struct net_proxy *p, struct listener *l, int64_t now)
{
	for (int i = 0; i < BATCH; i++) {
		struct sockaddr_storage a;
		union cmsg_space cbuf;
		struct iovec iov = {p->udpbuf, UDP_BUF};
		struct msghdr mh = {.msg_name = &a,
				    .msg_namelen = sizeof(a),
				    .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf.buf,
				    .msg_controllen = sizeof(cbuf.buf)};
		ssize_t n = recvmsg(l->fd, &mh, MSG_DONTWAIT);
		if (n < 0)
			return;
		socklen_t alen = mh.msg_namelen;
		struct session *s = session_find(l, &a, alen);
		if (!s)
			s = session_new(p, l, &a, alen);
		if (!s)
			continue; /* dropped, as a full queue would drop it */
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
				memcpy(&s->local6, CMSG_DATA(c), sizeof(s->local6));
				s->local6.ipi6_ifindex = 0;
				s->have_local = AF_INET6;
			} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
				memcpy(&s->local4, CMSG_DATA(c), sizeof(s->local4));
				s->local4.ipi_ifindex = 0;
				s->local4.ipi_spec_dst = s->local4.ipi_addr;
				s->have_local = AF_INET;
			}
		}
		session_unlink(s);
		session_push_front(s);
		s->last_ms = now;
		/* A send that would block loses the datagram, which UDP allows. */
		send(s->fd, p->udpbuf, (size_t)n, MSG_DONTWAIT);
	}
}

static void udp_from_container(struct net_proxy *p, struct session *s, int64_t now)
{
	for (int i = 0; i < BATCH && !s->dead; i++) {
		ssize_t n = recv(s->fd, p->udpbuf, UDP_BUF, MSG_DONTWAIT);
		if (n < 0)
			return; /* EAGAIN, or ECONNREFUSED from an ICMP error: nothing to relay */
		s->last_ms = now;
		session_unlink(s);
		session_push_front(s);
		union cmsg_space cbuf;
		memset(&cbuf, 0, sizeof(cbuf));
		struct iovec iov = {p->udpbuf, (size_t)n};
		struct msghdr mh = {.msg_name = &s->client,
				    .msg_namelen = s->client_len,
				    .msg_iov = &iov,
				    .msg_iovlen = 1};
		if (s->have_local) {
			int v6 = s->have_local == AF_INET6;
			size_t dl = v6 ? sizeof(s->local6) : sizeof(s->local4);
			mh.msg_control = cbuf.buf;
			mh.msg_controllen = CMSG_SPACE(dl);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
			c->cmsg_type = v6 ? IPV6_PKTINFO : IP_PKTINFO;
			c->cmsg_len = CMSG_LEN(dl);
			memcpy(CMSG_DATA(c), v6 ? (void *)&s->local6 : (void *)&s->local4, dl);
		}
		sendmsg(s->l->fd, &mh, MSG_DONTWAIT);
	}
}

/*
 * The loop.
 */

int net_proxy_timeout_ms(const struct net_proxy *p)
{
	int64_t best = -1, now = now_ms();
	for (const struct listener *l = p->listeners; l; l = l->next) {
		if (!l->lru)
			continue;
		int64_t left = l->lru->last_ms + NET_PROXY_UDP_IDLE_MS - now;
		if (left < 0)
			left = 0;
		if (best < 0 || left < best)
			best = left;
	}
	return best > INT32_MAX ? INT32_MAX : (int)best;
}

static int dispatch(struct net_proxy *p, int timeout_ms, int *stopped)
{
	struct epoll_event evs[BATCH];
	int n = epoll_wait(p->epfd, evs, BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	int64_t now = now_ms();
	for (int i = 0; i < n; i++) {
		struct tag *t = evs[i].data.ptr;
		switch (t->kind) {
		case T_STOP:
			*stopped = 1;
			break;
		case T_LISTEN: {
			struct listener *l = t->owner;
			if (l->proto == NET_PROTO_TCP)
				tcp_accept(p, l);
			else
				udp_from_client(p, l, now);
			break;
		}
		case T_CONN: {
			struct conn *c = t->owner;
			if (!c->dead)
				conn_event(c, t->side, evs[i].events);
			break;
		}
		case T_SESSION: {
			struct session *s = t->owner;
			if (!s->dead)
				udp_from_container(p, s, now);
			break;
		}
		}
	}
	udp_expire(p, now);
	bury(p);
	return 0;
}

int net_proxy_dispatch(struct net_proxy *p, int timeout_ms)
{
	int stopped = 0;
	return dispatch(p, timeout_ms, &stopped);
}

int net_proxy_run(struct net_proxy *p, int stop_fd)
{
	struct tag stop = {T_STOP, 0, NULL};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &stop};
	if (stop_fd >= 0 && epoll_ctl(p->epfd, EPOLL_CTL_ADD, stop_fd, &ev) < 0)
		return -errno;
	int stopped = 0, r = 0;
	while (!stopped && r >= 0)
		r = dispatch(p, net_proxy_timeout_ms(p), &stopped);
	if (stop_fd >= 0)
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, stop_fd, NULL);
	return r;
}
