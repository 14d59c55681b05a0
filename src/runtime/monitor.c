#include <jansson.h>

#include "monitor.h"
#include "cgroup.h"
#include "cleanup.h"
#include "fs.h"
#include "linux.h"
#include "pty.h"
#include "seccomp.h"
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

#ifndef BERTH_MONITOR_INSTALLED
#define BERTH_MONITOR_INSTALLED "/usr/local/libexec/berth/berth-monitor"
#endif

#define MAX_CLIENTS 16
/* Docker's json-file driver cuts lines at 16 KiB (the rest follows as another record). */
#define LOG_LINE_MAX (16u << 10)
#define DRAIN_MS 2000
#define RESTART_DELAY_MIN_MS 100
#define RESTART_DELAY_MAX_MS 60000
#define RESTART_RESET_NS (10LL * 1000000000)

int rt_restart_parse(const char *s, struct rt_restart_policy *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	if (streq(s, "no") || !*s)
		return 0;
	if (streq(s, "always")) {
		ret->mode = RT_RESTART_ALWAYS;
		return 0;
	}
	if (streq(s, "unless-stopped")) {
		ret->mode = RT_RESTART_UNLESS_STOPPED;
		return 0;
	}
	if (strncmp(s, "on-failure", 10) == 0 && (s[10] == '\0' || s[10] == ':')) {
		ret->mode = RT_RESTART_ON_FAILURE;
		if (s[10] == ':') {
			char *end;
			errno = 0;
			long n = strtol(s + 11, &end, 10);
			if (errno || end == s + 11 || *end || n < 0 || n > INT_MAX)
				return berr_set(err, EINVAL, "invalid restart policy '%s'", s);
			ret->max_retries = (int)n;
		}
		return 0;
	}
	return berr_set(err, EINVAL, "invalid restart policy '%s'", s);
}

/* ---- the socket path ---- */

/* <runroot>/containers/<id>: sun_path holds 108 bytes, less than runroot plus a 64-digit id
 * may need, so sockets are bound and connected through /proc/self/fd/<dirfd>/attach. */
static int sock_dir_open(const char *runroot, const char *id, int create, struct berr **err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/containers/%s", runroot, id) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	if (create) {
		int r = fs_mkdir_p_at(AT_FDCWD, path, 0700);
		if (r < 0)
			return berr_errno(err, r, "create '%s'", path);
	}
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berr_errno(err, errno, "open '%s'", path);
	return fd;
}

static void sock_addr(int dirfd, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/attach", dirfd);
}

int rt_attach_connect(const char *runroot, const char *id, int *ret_conn, struct berr **err)
{
	_cleanup_close_ int dirfd = sock_dir_open(runroot, id, 0, err);
	if (dirfd < 0)
		return dirfd;
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_errno(err, errno, "socket");
	struct sockaddr_un sa;
	sock_addr(dirfd, &sa);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno == ECONNREFUSED ? ENOENT : errno;
		return berr_errno(err, e, "attach to container %s", id);
	}
	*ret_conn = TAKE_FD(fd);
	return 0;
}

/* ---- the monitor process ---- */

struct client {
	int fd;
	size_t pending_len; /* a message that did not fit into the socket yet */
	unsigned char *pending;
};

struct stream {
	int fd;		  /* -1 once at end of file */
	char type;	  /* RT_MSG_STDOUT or RT_MSG_STDERR */
	const char *name; /* "stdout", "stderr" */
	size_t line_len;
	char line[LOG_LINE_MAX];
};

struct mon {
	const struct rt_monitor_opts *o;
	const struct rt_monitor_ext *ext; /* NULL: none */
	int host_netns;			  /* with join_netns: our own namespace, to come back */
	struct rt_spec spec;		  /* shallow copy of *o->spec with the console size */
	int dirfd, logfd, sockdir, listenfd;
	struct rt_cgroup *cg;
	struct client clients[MAX_CLIENTS];
	size_t nclients;
	struct stream out, err;
	struct rt_process proc;
	int stdin_fd;	 /* the pipe's write end, or the pty master; -1 when closed */
	int stdin_close; /* close stdin once stdin_buf is written */
	size_t stdin_len;
	unsigned char stdin_buf[RT_MSG_MAX];
	unsigned long long oom_before;
	int hidden; /* --rm: the directory is renamed to .rm-<id>, purge() deletes it */
	char logbuf[4096];
	size_t loglen;
};

/* All static: the monitor touches only what it uses (RSS), and never frees. */
static struct mon M;

static void log_flush(struct mon *m)
{
	size_t off = 0;
	while (off < m->loglen) {
		ssize_t n = write(m->logfd, m->logbuf + off, m->loglen - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* a full disk loses log lines, never the container */
		off += (size_t)n;
	}
	m->loglen = 0;
}

static void log_put(struct mon *m, const char *s, size_t len)
{
	if (m->logfd < 0)
		return;
	while (len) {
		if (m->loglen == sizeof(m->logbuf))
			log_flush(m);
		size_t k = sizeof(m->logbuf) - m->loglen;
		if (k > len)
			k = len;
		memcpy(m->logbuf + m->loglen, s, k);
		m->loglen += k;
		s += k;
		len -= k;
	}
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned int cp;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* JSON string content as Docker's json-file writes it: \" \\ \n \r \t, other controls as
 * \u00XX, < > & as \u003c \u003e \u0026 (Go's HTML-safe encoding), U+2028/2029 escaped,
 * invalid UTF-8 as U+FFFD. */
static void log_escaped(struct mon *m, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		char e[8];
		if (c == '"' || c == '\\') {
			e[0] = '\\';
			e[1] = (char)c;
			log_put(m, e, 2);
		} else if (c == '\n') {
			log_put(m, "\\n", 2);
		} else if (c == '\r') {
			log_put(m, "\\r", 2);
		} else if (c == '\t') {
			log_put(m, "\\t", 2);
		} else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
			memcpy(e, "\\u00", 4);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			log_put(m, e, 6);
		} else if (c < 0x80) {
			log_put(m, (const char *)&c, 1);
		} else {
			size_t l = utf8_len(s + i, n - i);
			if (l == 0) {
				log_put(m, "\\ufffd", 6);
				i++;
				continue;
			}
			if (l == 3 && c == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] & 0xfe) == 0xa8)
				log_put(m, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			else
				log_put(m, (const char *)s + i, l);
			i += l;
			continue;
		}
		i++;
	}
}

static void log_record(struct mon *m, const struct stream *st, const char *data, size_t n)
{
	char t[RT_TIME_STR_MAX];
	rt_time_format(rt_time_now_ns(), t);
	log_put(m, "{\"log\":\"", 8);
	log_escaped(m, (const unsigned char *)data, n);
	log_put(m, "\",\"stream\":\"", 12);
	log_put(m, st->name, strlen(st->name));
	log_put(m, "\",\"time\":\"", 10);
	log_put(m, t, strlen(t));
	log_put(m, "\"}\n", 3);
}

/* Feed output to the log: one record per line (with its "\n"), a partial record when a
 * line reaches LOG_LINE_MAX, and what is left at the end by log_stream_flush(). */
static void log_stream(struct mon *m, struct stream *st, const char *data, size_t n)
{
	while (n) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) + 1 : n;
		if (take > LOG_LINE_MAX - st->line_len)
			take = LOG_LINE_MAX - st->line_len;
		memcpy(st->line + st->line_len, data, take);
		st->line_len += take;
		data += take;
		n -= take;
		if (st->line[st->line_len - 1] == '\n' || st->line_len == LOG_LINE_MAX) {
			log_record(m, st, st->line, st->line_len);
			st->line_len = 0;
		}
	}
	log_flush(m);
}

static void log_stream_flush(struct mon *m, struct stream *st)
{
	if (st->line_len) {
		log_record(m, st, st->line, st->line_len);
		st->line_len = 0;
		log_flush(m);
	}
}

static void client_drop(struct mon *m, size_t i)
{
	close(m->clients[i].fd);
	free(m->clients[i].pending);
	m->clients[i] = m->clients[--m->nclients];
}

static int client_add(struct mon *m, int fd)
{
	if (m->nclients == MAX_CLIENTS) {
		close(fd);
		return -EMFILE;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	m->clients[m->nclients++] = (struct client){.fd = fd};
	return 0;
}

static int clients_pending(const struct mon *m)
{
	for (size_t i = 0; i < m->nclients; i++)
		if (m->clients[i].pending_len)
			return 1;
	return 0;
}

/* Send one message to every client; one that cannot take it now keeps it pending (and the
 * loop stops reading the container's output until it drained: back-pressure, not loss). */
static void broadcast(struct mon *m, const unsigned char *msg, size_t len)
{
	for (size_t i = 0; i < m->nclients;) {
		struct client *c = &m->clients[i];
		ssize_t n = send(c->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			if (!c->pending)
				c->pending = malloc(RT_MSG_MAX + 1);
			if (!c->pending) {
				client_drop(m, i);
				continue;
			}
			memcpy(c->pending, msg, len);
			c->pending_len = len;
		} else if (n < 0) {
			client_drop(m, i);
			continue;
		}
		i++;
	}
}

static void client_flush(struct mon *m, size_t i)
{
	struct client *c = &m->clients[i];
	ssize_t n = send(c->fd, c->pending, c->pending_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n >= 0)
		c->pending_len = 0;
	else if (errno != EAGAIN && errno != ENOBUFS)
		client_drop(m, i);
}

static void stdin_close(struct mon *m)
{
	/* The pty master doubles as the output: never close it for stdin's sake. */
	if (m->stdin_fd >= 0 && !m->spec.tty)
		close(m->stdin_fd);
	m->stdin_fd = -1;
	m->stdin_len = 0;
	m->stdin_close = 0;
}

static void stdin_write(struct mon *m)
{
	if (m->stdin_fd < 0) {
		m->stdin_len = 0;
		return;
	}
	while (m->stdin_len) {
		ssize_t n = write(m->stdin_fd, m->stdin_buf, m->stdin_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) { /* the container closed its stdin */
			stdin_close(m);
			return;
		}
		memmove(m->stdin_buf, m->stdin_buf + n, m->stdin_len - (size_t)n);
		m->stdin_len -= (size_t)n;
	}
	if (m->stdin_close)
		stdin_close(m);
}

static void client_read(struct mon *m, size_t i)
{
	unsigned char buf[RT_MSG_MAX + 1];
	ssize_t n = recv(m->clients[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_drop(m, i);
		return;
	}
	switch (buf[0]) {
	case RT_MSG_STDIN:
		if (!m->o->interactive || m->stdin_fd < 0 || n == 1)
			break;
		memcpy(m->stdin_buf, buf + 1, (size_t)n - 1);
		m->stdin_len = (size_t)n - 1;
		stdin_write(m);
		break;
	case RT_MSG_STDIN_EOF:
		if (m->o->interactive && !m->spec.tty && m->stdin_fd >= 0) {
			m->stdin_close = 1;
			stdin_write(m);
		}
		break;
	case RT_MSG_RESIZE:
		if (m->spec.tty && n == 5 && m->proc.pty_master >= 0) {
			uint16_t rows, cols;
			memcpy(&rows, buf + 1, 2);
			memcpy(&cols, buf + 3, 2);
			rt_pty_set_size(m->proc.pty_master, rows, cols);
		}
		break;
	default:
		break; /* unknown messages are ignored: newer clients may send more */
	}
}

/* Read what the container wrote: to the log and to every client. Returns 0, or -1 at end
 * of the stream (EOF on a pipe, EIO on the pty master once the last slave closed). */
static int stream_read(struct mon *m, struct stream *st)
{
	unsigned char buf[RT_MSG_MAX + 1];
	ssize_t n = read(st->fd, buf + 1, RT_MSG_MAX);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		log_stream_flush(m, st);
		return -1;
	}
	log_stream(m, st, (const char *)buf + 1, (size_t)n);
	buf[0] = (unsigned char)st->type;
	broadcast(m, buf, (size_t)n + 1);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void accept_clients(struct mon *m)
{
	for (;;) {
		int fd = accept4(m->listenfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		client_add(m, fd);
	}
}

/* The poll loop of one run: until the container exited and its output is drained (or
 * DRAIN_MS passed after the exit: a process outside the container's pid namespace may
 * hold the pipes open forever). */
static void run_loop(struct mon *m)
{
	int exited = 0;
	int64_t deadline = 0;
	for (;;) {
		struct pollfd p[5 + MAX_CLIENTS];
		int np = 0, i_pid = -1, i_out = -1, i_err = -1, i_in = -1, i_listen = -1;
		int i_ext = -1;
		int pending = clients_pending(m);
		if (!exited) {
			i_pid = np;
			p[np++] = (struct pollfd){.fd = m->proc.pidfd, .events = POLLIN};
		}
		/* While a client is full the outputs are not polled at all: a hung-up pipe
		 * reports POLLHUP even for no events and would spin the loop. */
		int in_on_out = m->stdin_len && m->stdin_fd >= 0 && m->stdin_fd == m->out.fd;
		if (m->out.fd >= 0 && (!pending || in_on_out)) {
			i_out = np;
			short ev = pending ? 0 : POLLIN;
			if (in_on_out)
				ev |= POLLOUT;
			p[np++] = (struct pollfd){.fd = m->out.fd, .events = ev};
		}
		if (m->err.fd >= 0 && !pending) {
			i_err = np;
			p[np++] = (struct pollfd){.fd = m->err.fd, .events = POLLIN};
		}
		if (m->stdin_len && m->stdin_fd >= 0 && m->stdin_fd != m->out.fd) {
			i_in = np;
			p[np++] = (struct pollfd){.fd = m->stdin_fd, .events = POLLOUT};
		}
		if (m->listenfd >= 0) {
			i_listen = np;
			p[np++] = (struct pollfd){.fd = m->listenfd, .events = POLLIN};
		}
		int ext_fd = m->ext && m->ext->poll_fd ? m->ext->poll_fd() : -1;
		if (ext_fd >= 0) {
			i_ext = np;
			p[np++] = (struct pollfd){.fd = ext_fd, .events = POLLIN};
		}
		int i_clients = np;
		size_t nc = m->nclients;
		for (size_t i = 0; i < nc; i++) {
			short ev = m->stdin_len ? 0 : POLLIN;
			if (m->clients[i].pending_len)
				ev |= POLLOUT;
			p[np++] = (struct pollfd){.fd = m->clients[i].fd, .events = ev};
		}

		int timeout = -1;
		if (exited) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				break;
			timeout = (int)left;
		}
		int ext_timeout = m->ext && m->ext->timeout_ms ? m->ext->timeout_ms() : -1;
		if (ext_timeout >= 0 && (timeout < 0 || ext_timeout < timeout))
			timeout = ext_timeout;
		int r = poll(p, (nfds_t)np, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (m->ext && m->ext->dispatch && (r == 0 || (i_ext >= 0 && p[i_ext].revents)))
			m->ext->dispatch();
		if (r <= 0)
			continue;

		if (i_pid >= 0 && p[i_pid].revents) {
			exited = 1;
			deadline = now_ms() + DRAIN_MS;
		}
		if (i_out >= 0 && (p[i_out].revents & POLLOUT))
			stdin_write(m);
		if (i_out >= 0 && (p[i_out].revents & (POLLIN | POLLHUP | POLLERR)) && !pending)
			if (stream_read(m, &m->out) < 0) {
				/* The pty master also carries stdin: end_run() closes it. */
				if (m->out.fd != m->proc.pty_master)
					close(m->out.fd);
				m->out.fd = -1;
			}
		if (i_err >= 0 && (p[i_err].revents & (POLLIN | POLLHUP | POLLERR)) && !pending)
			if (stream_read(m, &m->err) < 0) {
				close(m->err.fd);
				m->err.fd = -1;
			}
		if (i_in >= 0 && p[i_in].revents)
			stdin_write(m);
		if (i_listen >= 0 && (p[i_listen].revents & POLLIN))
			accept_clients(m);
		/* Clients move in the array when one is dropped: walk it backwards, and only
		 * over the ones polled. */
		for (size_t i = nc; i-- > 0;) {
			short rev = p[i_clients + (int)i].revents;
			if (i >= m->nclients || !rev)
				continue;
			if ((rev & POLLOUT) && m->clients[i].pending_len)
				client_flush(m, i);
			if (i < m->nclients && (rev & (POLLIN | POLLHUP | POLLERR)) &&
			    !m->stdin_len)
				client_read(m, i);
		}
		if (exited && m->out.fd < 0 && m->err.fd < 0 && !clients_pending(m))
			break;
	}
	log_stream_flush(m, &m->out);
	log_stream_flush(m, &m->err);
}

static unsigned long long oom_kills(struct mon *m)
{
	if (!m->cg)
		return 0;
	const char *dir = rt_cgroup_path(m->cg, "memory");
	if (!dir)
		return 0;
	/* v1: memory.oom_control has "oom_kill N" (Linux 4.13); v2: memory.events. */
	const char *files[] = {"memory.oom_control", "memory.events"};
	for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", dir, files[f]);
		_cleanup_fclose_ FILE *fp = fopen(path, "re");
		char line[128];
		unsigned long long n;
		while (fp && fgets(line, sizeof(line), fp))
			if (sscanf(line, "oom_kill %llu", &n) == 1)
				return n;
	}
	return 0;
}

static void state_update_running(struct mon *m, int restarting_count)
{
	struct rt_state st;
	struct berr *e = NULL;
	if (rt_state_lock(m->dirfd, 1, &e) < 0) {
		berr_free(e);
		return;
	}
	if (rt_state_load(m->dirfd, &st, NULL) < 0)
		rt_state_init(&st);
	st.status = RT_STATUS_RUNNING;
	st.pid = m->proc.pid;
	rt_proc_start_time(m->proc.pid, &st.pid_start, NULL);
	st.monitor_pid = getpid();
	rt_proc_start_time(st.monitor_pid, &st.monitor_start, NULL);
	st.started_ns = rt_time_now_ns();
	st.restart_count = restarting_count;
	st.stop_requested = 0;
	st.oom_killed = 0;
	st.error[0] = '\0';
	rt_boot_id(st.boot_id, sizeof(st.boot_id));
	/* No fsync: after a reboot the boot id tells that this record is over. */
	rt_state_write_nosync(m->dirfd, &st, &e);
	rt_state_unlock(m->dirfd);
	berr_free(e);
}

/* Record a start failure (status stays "created", as Docker shows it). */
static void state_record_failure(struct mon *m, int code, const char *msg)
{
	struct rt_state st;
	if (rt_state_lock(m->dirfd, 1, NULL) < 0)
		return;
	if (rt_state_load(m->dirfd, &st, NULL) < 0)
		rt_state_init(&st);
	if (st.status != RT_STATUS_CREATED)
		st.status = RT_STATUS_EXITED;
	st.pid = 0;
	st.pid_start = 0;
	st.monitor_pid = 0;
	st.monitor_start = 0;
	st.exit_code = code;
	st.finished_ns = rt_time_now_ns();
	snprintf(st.error, sizeof(st.error), "%s", msg);
	rt_state_write(m->dirfd, &st, NULL);
	rt_state_unlock(m->dirfd);
}

static int should_restart(const struct rt_monitor_opts *o, const struct rt_state *st, int code)
{
	if (st->stop_requested)
		return 0;
	switch (o->restart.mode) {
	case RT_RESTART_ALWAYS:
	case RT_RESTART_UNLESS_STOPPED:
		return 1;
	case RT_RESTART_ON_FAILURE:
		return code != 0 &&
		       (o->restart.max_retries == 0 || st->restart_count < o->restart.max_retries);
	case RT_RESTART_NO:
		break;
	}
	return 0;
}

/* Collect the exit status and record it, as "restarting" when the policy restarts it. The
 * status is read with WNOWAIT and the zombie reaped only after state.json is written, all
 * under the lock: a reader never sees a vanished pid with "running" recorded while the
 * monitor lives (see rt_state_reconcile). Returns 1 to restart, else 0. */
static int record_exit(struct mon *m, int *ret_code)
{
	siginfo_t si = {0};
	struct rt_state st;
	int code = RT_EXIT_UNKNOWN;
	int locked = rt_state_lock(m->dirfd, 1, NULL) == 0;
	while (waitid(P_PID, (id_t)m->proc.pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
		;
	if (si.si_code == CLD_EXITED)
		code = si.si_status;
	else if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)
		code = 128 + si.si_status;
	if (rt_state_load(m->dirfd, &st, NULL) < 0)
		rt_state_init(&st);
	int again = should_restart(m->o, &st, code);
	st.status = again ? RT_STATUS_RESTARTING : RT_STATUS_EXITED;
	st.exit_code = code;
	st.finished_ns = rt_time_now_ns();
	st.pid = 0;
	st.pid_start = 0;
	/* The monitor stays recorded until its cleanup is done (state_monitor_gone): a
	 * command that waits for the container to stop waits for that too, so that the
	 * network, its ports and the cgroup are free when stop, wait or rm return. */
	st.oom_killed = oom_kills(m) > m->oom_before;
	/* Durable, unless the container is about to be removed (--rm). */
	if (m->o->autoremove && !again)
		rt_state_write_nosync(m->dirfd, &st, NULL);
	else
		rt_state_write(m->dirfd, &st, NULL);
	while (waitpid(m->proc.pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (locked)
		rt_state_unlock(m->dirfd);
	*ret_code = code;
	return again;
}

static int make_pipe(int fds[2], int nonblock_end)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fcntl(fds[nonblock_end], F_SETFL, O_NONBLOCK);
	return 0;
}

/* Start one run of the container. On failure *code and *err say why. */
static int start_container(struct mon *m, int *code, struct berr **err)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
	int r;
	*code = RT_EXIT_SETUP;
	if (!m->spec.tty) {
		if ((m->o->interactive && (r = make_pipe(in, 1)) < 0) ||
		    (r = make_pipe(out, 0)) < 0 || (r = make_pipe(errp, 0)) < 0) {
			r = berr_errno(err, r, "pipe");
			goto fail;
		}
	}
	struct rt_stdio io = {.in = in[0], .out = out[1], .err = errp[1]};
	/* The child inherits our network namespace when the spec asks for none of its own:
	 * step into the prepared one for the clone only. Sockets stay in the namespace they
	 * were made in, so the proxy and the clients are unaffected. */
	if (m->o->join_netns && setns(m->o->netns_fd, CLONE_NEWNET) < 0) {
		r = berr_errno(err, errno, "join the container's network namespace");
		goto fail;
	}
	r = rt_linux_start(&m->spec, &io, m->cg, &m->proc, code, err);
	if (m->o->join_netns && setns(m->host_netns, CLONE_NEWNET) < 0)
		abort(); /* the proxy's new sockets would be made in the container's network */
	if (r < 0)
		goto fail;
	if (in[0] >= 0)
		close(in[0]);
	if (out[1] >= 0)
		close(out[1]);
	if (errp[1] >= 0)
		close(errp[1]);
	if (m->spec.tty) {
		fcntl(m->proc.pty_master, F_SETFL, O_NONBLOCK);
		m->out.fd = m->proc.pty_master;
		m->err.fd = -1;
		m->stdin_fd = m->o->interactive ? m->proc.pty_master : -1;
	} else {
		m->out.fd = out[0];
		m->err.fd = errp[0];
		m->stdin_fd = in[1];
	}
	m->stdin_len = 0;
	m->stdin_close = 0;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	return r;
}

static void end_run(struct mon *m)
{
	if (m->out.fd >= 0 && m->out.fd != m->proc.pty_master)
		close(m->out.fd);
	if (m->err.fd >= 0)
		close(m->err.fd);
	if (m->stdin_fd >= 0 && m->stdin_fd != m->proc.pty_master)
		close(m->stdin_fd);
	if (m->proc.pty_master >= 0)
		close(m->proc.pty_master);
	close(m->proc.pidfd);
	m->out.fd = m->err.fd = m->stdin_fd = -1;
	m->proc.pty_master = -1;
	m->proc.pidfd = -1;
}

/* Send the final message to every client, waiting a little for slow ones. */
static void clients_finish(struct mon *m, int code)
{
	unsigned char msg[5] = {RT_MSG_EXIT};
	int32_t c = code;
	memcpy(msg + 1, &c, 4);
	for (size_t i = 0; i < m->nclients; i++) {
		struct client *cl = &m->clients[i];
		int fl = fcntl(cl->fd, F_GETFL);
		fcntl(cl->fd, F_SETFL, fl & ~O_NONBLOCK);
		struct timeval tv = {.tv_sec = 2};
		setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (cl->pending_len &&
		    send(cl->fd, cl->pending, cl->pending_len, MSG_NOSIGNAL) < 0) {
			continue;
		}
		cl->pending_len = 0;
		ssize_t n = send(cl->fd, msg, sizeof(msg), MSG_NOSIGNAL);
		(void)n;
	}
	/* A unix socket closed with unread data in its receive queue makes the peer's next
	 * recv fail with ECONNRESET, ahead of the messages still queued for it: the client
	 * would lose the exit code. So: refuse further input (the peer's sends now fail with
	 * EPIPE), discard what it sent meanwhile, and only then close. */
	for (size_t i = 0; i < m->nclients; i++) {
		int fd = m->clients[i].fd;
		unsigned char junk[1 + RT_MSG_MAX];
		shutdown(fd, SHUT_RD);
		while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
			;
	}
	while (m->nclients)
		client_drop(m, m->nclients - 1);
}

/* Run the exit command and wait for it, at most RT_MONITOR_EXIT_COMMAND_MS. It may leave a
 * child behind that finishes in the kernel what is already invisible (the network cleanup
 * returns once a veth is gone from the host, while the kernel still waits for RCU grace
 * periods to free it): as a subreaper the monitor inherits such children and reaps them
 * last, after its clients were told (reap_children), so that no zombie is left to an init
 * that may not reap. */
static void run_exit_command(const struct strv *cmd)
{
	if (!cmd || !cmd->n)
		return;
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	pid_t pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		/* What the monitor ignores would stay ignored across execve. */
		signal(SIGPIPE, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		execv(cmd->v[0], cmd->v);
		_exit(127);
	}
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0) {
		struct pollfd p = {.fd = pidfd, .events = POLLIN};
		int64_t deadline = now_ms() + RT_MONITOR_EXIT_COMMAND_MS;
		for (;;) {
			int64_t left = deadline - now_ms();
			int n = left > 0 ? poll(&p, 1, (int)left) : 0;
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				kill(pid, SIGKILL);
			break;
		}
		close(pidfd);
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Before the monitor exits: the children the exit command left (see run_exit_command). */
static void reap_children(void)
{
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

/* After the last cleanup: the monitor is about to exit. A removed container has no state
 * left to write. */
static void state_monitor_gone(struct mon *m)
{
	struct rt_state st;
	if (m->hidden || rt_state_lock(m->dirfd, 1, NULL) < 0)
		return;
	if (rt_state_load(m->dirfd, &st, NULL) == 0 && st.monitor_pid) {
		st.monitor_pid = 0;
		st.monitor_start = 0;
		/* A recorded monitor pid means nothing after a reboot (the boot id). */
		rt_state_write_nosync(m->dirfd, &st, NULL);
	}
	rt_state_unlock(m->dirfd);
}

/* final: the container will not run again (the exit command runs); 0 after a failed first
 * start, whose cleanup the caller does. */
static void cleanup(struct mon *m, int final)
{
	if (final)
		run_exit_command(m->o->exit_command);
	if (m->ext && m->ext->finish)
		m->ext->finish();
	if (m->cg) {
		rt_cgroup_destroy(m->cg, NULL);
		rt_cgroup_free(m->cg);
		m->cg = NULL;
	}
	if (m->listenfd >= 0) {
		close(m->listenfd);
		m->listenfd = -1;
	}
	if (m->sockdir >= 0) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d/attach", m->sockdir);
		unlink(p);
		close(m->sockdir);
		m->sockdir = -1;
		_cleanup_free_ char *dir = NULL;
		if (asprintf(&dir, "%s/containers/%s", m->o->runroot, m->o->id) >= 0)
			rmdir(dir);
	}
	if (m->logfd >= 0) {
		close(m->logfd);
		m->logfd = -1;
	}
	/* --rm: hidden here (gone from every listing, the name free), deleted by purge()
	 * after the clients have the exit code: they need not wait for the unlinks. */
	if (m->o->autoremove && rt_container_hide(m->o->root, m->o->id, NULL) == 0)
		m->hidden = 1;
}

static void purge(struct mon *m)
{
	if (m->hidden)
		rt_container_purge(m->o->root, m->o->id, NULL);
	m->hidden = 0;
}

static void send_failed(int conn, int code, const char *msg)
{
	unsigned char buf[1 + 4 + 2048];
	int32_t c = code;
	size_t len = strlen(msg);
	if (len > sizeof(buf) - 5)
		len = sizeof(buf) - 5;
	buf[0] = RT_MSG_FAILED;
	memcpy(buf + 1, &c, 4);
	memcpy(buf + 5, msg, len);
	ssize_t n = send(conn, buf, 5 + len, MSG_NOSIGNAL);
	(void)n;
}

/* Wait up to ms, serving the extension meanwhile (the restart back-off). */
static void ext_wait(struct mon *m, int ms)
{
	int64_t deadline = now_ms() + ms;
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return;
		int fd = m->ext && m->ext->poll_fd ? m->ext->poll_fd() : -1;
		int t = m->ext && m->ext->timeout_ms ? m->ext->timeout_ms() : -1;
		if (t < 0 || t > left)
			t = (int)left;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = poll(&p, fd >= 0 ? 1 : 0, t);
		if (n < 0 && errno != EINTR)
			return;
		if (n >= 0 && m->ext && m->ext->dispatch && fd >= 0)
			m->ext->dispatch();
	}
}

/* The fds a caller passes beyond the connection and the options (see rt_monitor_start). */
#define MON_FD_EXTRA 5

static int monitor_setup(struct mon *m, struct berr **err)
{
	const struct rt_monitor_opts *o = m->o;
	int r = rt_container_dir_open(o->root, o->id, &m->dirfd, err);
	if (r < 0)
		return r;
	if (o->join_netns) {
		m->host_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (m->host_netns < 0)
			return berr_errno(err, errno, "open our network namespace");
		/* The container shares the prepared namespace: no new one at clone. */
		m->spec.namespaces &= ~(unsigned long)CLONE_NEWNET;
	}
	if (m->ext && m->ext->setup) {
		r = m->ext->setup(o->ext, (int *)o->ext_fds, o->n_ext_fds, err);
		if (r < 0)
			return r;
	}
	char name[RT_ID_LEN + 16];
	snprintf(name, sizeof(name), "%s-json.log", o->id);
	m->logfd = openat(m->dirfd, name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (m->logfd < 0)
		return berr_errno(err, errno, "open the log file");
	r = rt_cgroup_create(m->spec.cgroup_parent ? m->spec.cgroup_parent : "berth", o->id,
			     &m->spec.cgroup, &m->cg, err);
	if (r < 0)
		return berr_wrap(err, "cgroup");
	m->oom_before = oom_kills(m);
	m->sockdir = sock_dir_open(o->runroot, o->id, 1, err);
	if (m->sockdir < 0)
		return m->sockdir;
	/* Compiled seccomp filters are kept beside the containers (seccomp.h). */
	_cleanup_free_ char *bpf_cache = NULL;
	if (asprintf(&bpf_cache, "%s/seccomp", o->runroot) >= 0)
		rt_seccomp_set_cache_dir(bpf_cache);
	struct sockaddr_un sa;
	sock_addr(m->sockdir, &sa);
	unlink(sa.sun_path);
	m->listenfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->listenfd < 0 || bind(m->listenfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(m->listenfd, 16) < 0)
		return berr_errno(err, errno, "attach socket");
	return 0;
}

static _Noreturn void monitor_main(const struct rt_monitor_opts *o,
				   const struct rt_monitor_ext *ext, int conn)
{
	struct mon *m = &M;
	struct berr *err = NULL;
	int code = RT_EXIT_SETUP;

	/* Stay out of the way of the terminal and of whoever started us. SIGCHLD keeps its
	 * default: SIG_IGN would reap the container before we read its status. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGTSTP, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		if (devnull > 2)
			close(devnull);
	}
	/* Nothing of the caller's stays open here but the connection, the network namespace
	 * and the extension's fds (MON_FD_EXTRA on, close-on-exec from here). */
	unsigned keep = MON_FD_EXTRA + (o->join_netns ? 1u : 0u) + (unsigned)o->n_ext_fds;
	if (conn > 3)
		close_range(3, (unsigned)conn - 1, 0);
	if ((unsigned)conn + 1 < MON_FD_EXTRA)
		close_range((unsigned)conn + 1, MON_FD_EXTRA - 1, 0);
	if (keep > MON_FD_EXTRA)
		close_range(MON_FD_EXTRA, keep - 1, CLOSE_RANGE_CLOEXEC);
	close_range(keep > (unsigned)conn + 1 ? keep : (unsigned)conn + 1, ~0U, 0);
	if (chdir("/") < 0)
		_exit(RT_EXIT_SETUP);

	m->o = o;
	m->ext = ext;
	m->spec = *o->spec;
	m->spec.console_rows = o->rows;
	m->spec.console_cols = o->cols;
	m->host_netns = -1;
	m->dirfd = m->logfd = m->sockdir = m->listenfd = m->stdin_fd = -1;
	m->out = (struct stream){.fd = -1, .type = RT_MSG_STDOUT, .name = "stdout"};
	m->err = (struct stream){.fd = -1, .type = RT_MSG_STDERR, .name = "stderr"};
	m->proc = (struct rt_process){.pid = -1, .pidfd = -1, .pty_master = -1};

	if (monitor_setup(m, &err) < 0 || start_container(m, &code, &err) < 0) {
		const char *msg = err ? err->msg : "monitor setup failed";
		if (m->dirfd >= 0)
			state_record_failure(m, code, msg);
		/* Clean up before answering: the caller may check right away. */
		cleanup(m, 0);
		purge(m);
		send_failed(conn, code, msg);
		_exit(code);
	}
	state_update_running(m, 0);
	/* Compiling the seccomp filter and parsing the spec left free heap behind. */
	malloc_trim(0);
	unsigned char started[9] = {RT_MSG_STARTED};
	int32_t pids[2] = {m->proc.pid, getpid()};
	memcpy(started + 1, pids, 8);
	if (send(conn, started, sizeof(started), MSG_NOSIGNAL) < 0)
		close(conn);
	else
		client_add(m, conn);

	int delay = RESTART_DELAY_MIN_MS, restarts = 0;
	for (;;) {
		int64_t started_ns = rt_time_now_ns();
		run_loop(m);
		struct rt_state st;
		int again = record_exit(m, &code);
		end_run(m);
		if (!again) {
			cleanup(m, 1);
			state_monitor_gone(m);
		}
		clients_finish(m, code);
		if (!again) {
			purge(m);
			reap_children();
			_exit(0);
		}

		/* Docker's back-off: 100 ms doubling up to a minute, reset after a run of 10 s. */
		if (rt_time_now_ns() - started_ns >= RESTART_RESET_NS)
			delay = RESTART_DELAY_MIN_MS;
		rt_state_init(&st);
		for (int waited = 0; waited < delay; waited += 100) {
			ext_wait(m, 100);
			if (rt_state_load(m->dirfd, &st, NULL) == 0 && st.stop_requested)
				break;
		}
		if (st.stop_requested) {
			if (rt_state_lock(m->dirfd, 1, NULL) == 0) {
				if (rt_state_load(m->dirfd, &st, NULL) == 0) {
					st.status = RT_STATUS_EXITED;
					rt_state_write(m->dirfd, &st, NULL);
				}
				rt_state_unlock(m->dirfd);
			}
			cleanup(m, 1);
			state_monitor_gone(m);
			purge(m);
			reap_children();
			_exit(0);
		}
		delay = delay * 2 > RESTART_DELAY_MAX_MS ? RESTART_DELAY_MAX_MS : delay * 2;
		berr_free(err);
		err = NULL;
		if (start_container(m, &code, &err) < 0) {
			state_record_failure(m, code, err ? err->msg : "start failed");
			cleanup(m, 1);
			purge(m);
			reap_children();
			_exit(code);
		}
		state_update_running(m, ++restarts);
	}
}

/* ---- starting the monitor program ---- */

/* The monitor is a program of its own (berth-monitor, linked statically) rather than a
 * fork of the caller: a forked copy keeps the caller's heap and libraries resident (17 MB
 * measured when forked from a test that had read a large log; 11 MB for a re-exec of the
 * dynamically linked berth), while the small static program stays near 1 MB. The options
 * and the spec travel as JSON in a memfd on fd MON_FD_OPTS, the caller's connection on
 * fd MON_FD_CONN. */
#define MON_FD_CONN 3
#define MON_FD_OPTS 4

static json_t *opts_to_json(const struct rt_monitor_opts *o)
{
	json_t *spec = rt_spec_to_json(o->spec);
	if (!spec)
		return NULL;
	json_t *exit_cmd = json_null();
	if (o->exit_command && o->exit_command->n) {
		exit_cmd = json_array();
		for (size_t i = 0; exit_cmd && i < o->exit_command->n; i++)
			if (json_array_append_new(exit_cmd, json_string(o->exit_command->v[i])) <
			    0) {
				json_decref(exit_cmd);
				exit_cmd = NULL;
			}
	}
	if (!exit_cmd) {
		json_decref(spec);
		return NULL;
	}
	return json_pack("{s:s,s:s,s:s,s:b,s:b,s:i,s:i,s:i,s:i,s:o,s:b,s:i,s:O?,s:o}", "root",
			 o->root, "runroot", o->runroot, "id", o->id, "interactive", o->interactive,
			 "autoremove", o->autoremove, "restart", (int)o->restart.mode,
			 "max_retries", o->restart.max_retries, "rows", (int)o->rows, "cols",
			 (int)o->cols, "spec", spec, "netns", o->join_netns, "nfds",
			 (int)o->n_ext_fds, "ext", o->ext, "exit_command", exit_cmd);
}

/* The monitor's own copies (they live as long as the monitor). */
static int mon_ext_fds[RT_MONITOR_EXT_FDS_MAX];
static struct strv mon_exit_command;

/* The strings of *o point into j, which must outlive o. */
static int opts_from_json(json_t *j, struct rt_monitor_opts *o, struct rt_spec *spec,
			  struct berr **err)
{
	int interactive = 0, autoremove = 0, mode = 0, max = 0, rows = 0, cols = 0;
	int netns = 0, nfds = 0;
	json_t *sj = NULL, *ext = NULL, *exit_cmd = NULL;
	json_error_t je;
	memset(o, 0, sizeof(*o));
	memset(spec, 0, sizeof(*spec));
	if (json_unpack_ex(j, &je, JSON_STRICT,
			   "{s:s,s:s,s:s,s:b,s:b,s:i,s:i,s:i,s:i,s:o,s?b,s?i,s?o,s?o}", "root",
			   &o->root, "runroot", &o->runroot, "id", &o->id, "interactive",
			   &interactive, "autoremove", &autoremove, "restart", &mode, "max_retries",
			   &max, "rows", &rows, "cols", &cols, "spec", &sj, "netns", &netns, "nfds",
			   &nfds, "ext", &ext, "exit_command", &exit_cmd) < 0)
		return berr_set(err, EINVAL, "monitor options: %s", je.text);
	if (mode < RT_RESTART_NO || mode > RT_RESTART_UNLESS_STOPPED || max < 0 || rows < 0 ||
	    rows > 0xffff || cols < 0 || cols > 0xffff || !rt_id_valid(o->id) || nfds < 0 ||
	    nfds > RT_MONITOR_EXT_FDS_MAX ||
	    (exit_cmd && !json_is_array(exit_cmd) && !json_is_null(exit_cmd)))
		return berr_set(err, EINVAL, "monitor options: a value is out of range");
	size_t i;
	json_t *a;
	json_array_foreach(exit_cmd, i, a)
	{
		if (!json_is_string(a) || strv_push(&mon_exit_command, json_string_value(a)) < 0)
			return berr_set(err, EINVAL, "monitor options: bad exit command");
	}
	if (mon_exit_command.n && mon_exit_command.v[0][0] != '/')
		return berr_set(err, EINVAL,
				"monitor options: the exit command is no absolute path");
	o->exit_command = mon_exit_command.n ? &mon_exit_command : NULL;
	o->join_netns = netns;
	o->netns_fd = netns ? MON_FD_EXTRA : -1;
	for (int k = 0; k < nfds; k++)
		mon_ext_fds[k] = MON_FD_EXTRA + (netns ? 1 : 0) + k;
	o->ext_fds = mon_ext_fds;
	o->n_ext_fds = (size_t)nfds;
	o->ext = json_is_null(ext) ? NULL : ext;
	o->interactive = interactive;
	o->autoremove = autoremove;
	o->restart.mode = (enum rt_restart_mode)mode;
	o->restart.max_retries = max;
	o->rows = (unsigned short)rows;
	o->cols = (unsigned short)cols;
	o->spec = spec;
	return rt_spec_from_json(sj, spec, err);
}

int rt_monitor_main(int argc, char **argv)
{
	return rt_monitor_main_ext(argc, argv, NULL);
}

int rt_monitor_main_ext(int argc, char **argv, const struct rt_monitor_ext *ext)
{
	static struct rt_monitor_opts o;
	static struct rt_spec spec;
	struct berr *err = NULL;
	char *data = NULL;
	size_t len = 0;
	(void)argc;
	(void)argv;
	int r = fs_read_fd(MON_FD_OPTS, 64u << 20, &data, &len);
	close(MON_FD_OPTS);
	json_error_t je;
	json_t *j = r == 0 ? json_loadb(data, len, 0, &je) : NULL;
	free(data);
	if (!j) {
		send_failed(MON_FD_CONN, RT_EXIT_SETUP, "monitor options: not readable");
		return RT_EXIT_SETUP;
	}
	if (opts_from_json(j, &o, &spec, &err) < 0) {
		send_failed(MON_FD_CONN, RT_EXIT_SETUP, err->msg);
		return RT_EXIT_SETUP;
	}
	monitor_main(&o, ext, MON_FD_CONN);
}

static int find_monitor(const struct rt_monitor_opts *o, char *buf, size_t len)
{
	const char *env = getenv("BERTH_MONITOR");
	if (o->monitor_path || (env && *env)) {
		snprintf(buf, len, "%s", o->monitor_path ? o->monitor_path : env);
		return 0;
	}
	/* Beside the running binary first (a build tree, a relocated install). */
	if (fs_beside_self("berth-monitor", buf, len) == 0 && access(buf, X_OK) == 0)
		return 0;
	snprintf(buf, len, "%s", BERTH_MONITOR_INSTALLED);
	return access(buf, X_OK) == 0 ? 0 : -ENOENT;
}

/* Move fd to exactly target (clearing O_CLOEXEC), whatever other fds sit in 0..target. */
static int move_fd(int fd, int target)
{
	if (fd == target)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, target) < 0 ? -1 : 0;
}

int rt_monitor_start(const struct rt_monitor_opts *o, int *ret_conn, struct rt_monitor_started *ret,
		     int *ret_exit_code, struct berr **err)
{
	int sv[2];
	char path[PATH_MAX];
	*ret_exit_code = RT_EXIT_SETUP;
	if (!rt_id_valid(o->id))
		return berr_set(err, EINVAL, "invalid container id '%s'", o->id);
	if (o->n_ext_fds > RT_MONITOR_EXT_FDS_MAX)
		return berr_set(err, E2BIG, "too many fds for the monitor (%zu)", o->n_ext_fds);
	if (find_monitor(o, path, sizeof(path)) < 0)
		return berr_set(err, ENOENT,
				"berth-monitor not found (looked beside the berth "
				"binary and at %s; set BERTH_MONITOR)",
				BERTH_MONITOR_INSTALLED);
	_cleanup_json_ json_t *j = opts_to_json(o);
	_cleanup_free_ char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (!text)
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_close_ int memfd = memfd_create("berth-monitor-opts", MFD_CLOEXEC);
	if (memfd < 0)
		return berr_errno(err, errno, "memfd_create");
	size_t len = strlen(text);
	if (write(memfd, text, len) != (ssize_t)len || lseek(memfd, 0, SEEK_SET) != 0)
		return berr_errno(err, errno, "write the monitor options");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return berr_errno(err, errno, "socketpair");
	pid_t a = fork();
	if (a < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return berr_errno(err, e, "fork");
	}
	if (a == 0) {
		/* The intermediate child: a new session, then the monitor forks off and is
		 * reparented to init (or the nearest subreaper) when we exit. */
		if (setsid() < 0)
			_exit(1);
		pid_t mpid = fork();
		if (mpid != 0)
			_exit(mpid < 0 ? 1 : 0);
		/* Park every fd above the targets first: any may sit on a target number. */
		int nextra = (o->join_netns ? 1 : 0) + (int)o->n_ext_fds;
		int high = MON_FD_EXTRA + nextra + 8;
		int c = fcntl(sv[1], F_DUPFD_CLOEXEC, high),
		    f = fcntl(memfd, F_DUPFD_CLOEXEC, high);
		if (c < 0 || f < 0)
			_exit(RT_EXIT_SETUP);
		int parked[RT_MONITOR_EXT_FDS_MAX + 1];
		int k = 0;
		if (o->join_netns && (parked[k++] = fcntl(o->netns_fd, F_DUPFD_CLOEXEC, high)) < 0)
			_exit(RT_EXIT_SETUP);
		for (size_t i = 0; i < o->n_ext_fds; i++)
			if ((parked[k++] = fcntl(o->ext_fds[i], F_DUPFD_CLOEXEC, high)) < 0)
				_exit(RT_EXIT_SETUP);
		if (move_fd(c, MON_FD_CONN) < 0 || move_fd(f, MON_FD_OPTS) < 0)
			_exit(RT_EXIT_SETUP);
		for (int i = 0; i < nextra; i++)
			if (move_fd(parked[i], MON_FD_EXTRA + i) < 0)
				_exit(RT_EXIT_SETUP);
		/* The id is only for `ps`: the options come from fd 4. */
		char *argv[] = {"berth-monitor", (char *)o->id, NULL};
		execv(path, argv);
		char msg[PATH_MAX + 64];
		snprintf(msg, sizeof(msg), "exec '%s': %s", path, strerror(errno));
		send_failed(MON_FD_CONN, RT_EXIT_SETUP, msg);
		_exit(RT_EXIT_SETUP);
	}
	close(sv[1]);
	_cleanup_close_ int conn = sv[0];
	/* The answer first, then the intermediate child (long gone by then, or it failed and
	 * its exit closed the socket): one wake-up instead of two on the way to the answer,
	 * which counts on a loaded machine. */
	unsigned char buf[1 + 4 + 2048 + 1];
	ssize_t n;
	do
		n = recv(conn, buf, sizeof(buf) - 1, 0);
	while (n < 0 && errno == EINTR);
	int status = 0;
	while (waitpid(a, &status, 0) < 0 && errno == EINTR)
		;
	if (n <= 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		return berr_set(err, ECHILD, "could not start the container monitor");
	if (n >= 9 && buf[0] == RT_MSG_STARTED) {
		int32_t pids[2];
		memcpy(pids, buf + 1, 8);
		ret->pid = pids[0];
		ret->monitor_pid = pids[1];
		*ret_exit_code = 0;
		if (ret_conn)
			*ret_conn = TAKE_FD(conn);
		return 0;
	}
	if (n >= 5 && buf[0] == RT_MSG_FAILED) {
		int32_t c;
		memcpy(&c, buf + 1, 4);
		buf[n] = '\0';
		*ret_exit_code = c >= 125 && c <= 127 ? c : RT_EXIT_SETUP;
		int e = *ret_exit_code == RT_EXIT_NOT_FOUND	? ENOENT
			: *ret_exit_code == RT_EXIT_CANNOT_EXEC ? EACCES
								: EIO;
		return berr_set(err, e, "%s", (char *)buf + 5);
	}
	return berr_set(err, EPIPE, "the container monitor exited before starting the container");
}

/* ---- the attach client ---- */

struct relay {
	int conn;
	const struct rt_attach_io *io;
	struct rt_detach detach;
	unsigned char out[1 + RT_MSG_MAX]; /* a message waiting for room in the socket */
	size_t out_len;
	int in_open;
};

static int relay_send(struct relay *rl, const unsigned char *msg, size_t len)
{
	ssize_t n = send(rl->conn, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n >= 0)
		return 0;
	if (errno == EPIPE || errno == ECONNRESET) {
		/* The monitor takes no more input (the container ended, clients_finish):
		 * stop reading ours and keep reading the rest, the exit code last. */
		rl->in_open = 0;
		return 0;
	}
	if (errno != EAGAIN && errno != ENOBUFS)
		return -errno;
	memcpy(rl->out, msg, len);
	rl->out_len = len;
	return 0;
}

static void send_resize(struct relay *rl)
{
	unsigned short rows, cols;
	if (rt_pty_get_size(rl->io->in, &rows, &cols) < 0 &&
	    rt_pty_get_size(rl->io->out, &rows, &cols) < 0)
		return;
	unsigned char msg[5] = {RT_MSG_RESIZE};
	uint16_t r16 = rows, c16 = cols;
	memcpy(msg + 1, &r16, 2);
	memcpy(msg + 3, &c16, 2);
	/* Best effort: a lost resize is repaired by the next one. */
	ssize_t n = send(rl->conn, msg, sizeof(msg), MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)n;
}

/* Returns 1 on detach, 0 to go on, -errno on error. */
static int relay_input(struct relay *rl)
{
	unsigned char in[4096], msg[1 + 4096 + RT_DETACH_KEYS_MAX];
	ssize_t n = read(rl->io->in, in, sizeof(in));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		unsigned char eof = RT_MSG_STDIN_EOF;
		rl->in_open = 0;
		return relay_send(rl, &eof, 1);
	}
	size_t len = (size_t)n;
	int detached = 0;
	msg[0] = RT_MSG_STDIN;
	if (rl->io->tty)
		detached = rt_detach_feed(&rl->detach, in, len, msg + 1, &len);
	else
		memcpy(msg + 1, in, len);
	if (len) {
		int r = relay_send(rl, msg, len + 1);
		if (r < 0)
			return r;
	}
	return detached;
}

int rt_attach_relay(int conn, const struct rt_attach_io *io, int *ret_exit_code, struct berr **err)
{
	struct relay rl = {.conn = conn, .io = io, .in_open = io->in >= 0};
	struct termios saved;
	int raw = 0, r = 0, sfd = -1;
	sigset_t winch, oldmask;

	if (rt_detach_keys_parse(io->detach_keys ? io->detach_keys : RT_DETACH_KEYS_DEFAULT,
				 &rl.detach, err) < 0)
		return -EINVAL;
	if (io->tty) {
		if (io->in >= 0 && isatty(io->in) && rt_term_raw(io->in, &saved) == 0)
			raw = 1;
		sigemptyset(&winch);
		sigaddset(&winch, SIGWINCH);
		sigprocmask(SIG_BLOCK, &winch, &oldmask);
		sfd = signalfd(-1, &winch, SFD_CLOEXEC | SFD_NONBLOCK);
		send_resize(&rl);
	}
	for (;;) {
		struct pollfd p[3];
		int np = 0, i_in = -1, i_sig = -1;
		p[np++] =
		    (struct pollfd){.fd = conn, .events = POLLIN | (rl.out_len ? POLLOUT : 0)};
		if (rl.in_open && !rl.out_len) {
			i_in = np;
			p[np++] = (struct pollfd){.fd = io->in, .events = POLLIN};
		}
		if (sfd >= 0) {
			i_sig = np;
			p[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		}
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = berr_errno(err, errno, "poll");
			break;
		}
		if ((p[0].revents & POLLOUT) && rl.out_len) {
			ssize_t n = send(conn, rl.out, rl.out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n >= 0 || errno == EPIPE || errno == ECONNRESET)
				rl.out_len = 0;
			if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
				rl.in_open = 0;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			unsigned char buf[1 + RT_MSG_MAX];
			ssize_t n = recv(conn, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			/* A monitor that closed with a message of ours unread (an older one, or
			 * one killed) makes the kernel report ECONNRESET once, ahead of what is
			 * still queued for us: read on. */
			if (n < 0 && errno == ECONNRESET)
				continue;
			if (n <= 0) {
				r = berr_set(err, EPIPE, "the container's monitor went away");
				break;
			}
			if (buf[0] == RT_MSG_EXIT && n == 5) {
				int32_t c;
				memcpy(&c, buf + 1, 4);
				*ret_exit_code = c;
				r = RT_ATTACH_EXITED;
				break;
			}
			if (buf[0] == RT_MSG_STDOUT || buf[0] == RT_MSG_STDERR) {
				int fd = buf[0] == RT_MSG_STDOUT ? io->out : io->err;
				if (fd >= 0 && fs_write_all(fd, buf + 1, (size_t)n - 1) < 0 &&
				    errno != EPIPE) {
					r = berr_errno(err, errno, "write output");
					break;
				}
			}
		}
		if (i_in >= 0 && (p[i_in].revents & (POLLIN | POLLHUP | POLLERR))) {
			int d = relay_input(&rl);
			if (d < 0) {
				r = berr_errno(err, d, "send input");
				break;
			}
			if (d == 1) {
				r = RT_ATTACH_DETACHED;
				break;
			}
		}
		if (i_sig >= 0 && (p[i_sig].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
			send_resize(&rl);
		}
	}
	if (raw)
		rt_term_restore(io->in, &saved);
	if (sfd >= 0) {
		close(sfd);
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
	}
	return r;
}
