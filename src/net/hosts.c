#include "hosts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs.h"
#include "banned.h"

#define HOSTS_MAX (4u << 20)

/* What Docker writes above everything else (libnetwork's etchosts defaults). */
static const char default_hosts[] = "127.0.0.1\tlocalhost\n"
				    "::1\tlocalhost ip6-localhost ip6-loopback\n"
				    "fe00::0\tip6-localnet\n"
				    "ff00::0\tip6-mcastprefix\n"
				    "ff02::1\tip6-allnodes\n"
				    "ff02::2\tip6-allrouters\n";

/* A name in a hosts line: anything but blanks, '#' (a comment) and ':' (what --add-host
 * splits on). */
static int host_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > 255)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || c == '#' || c == ':')
			return 0;
	}
	return 1;
}

int net_hosts_extra_line(const char *spec, const char *host_gateway, struct buf *out,
			 struct berr **err)
{
	/* "name=ip" first (it allows a bare IPv6 address), then the older "name:ip", split at
	 * the first ':' so that "name:::1" still works. */
	const char *sep = strchr(spec, '=');
	if (!sep)
		sep = strchr(spec, ':');
	if (!sep || sep == spec || !host_name_valid(spec, (size_t)(sep - spec)))
		return berr_set(err, EINVAL, "bad format for add-host: \"%s\"", spec);
	const char *v = sep + 1;
	size_t vlen = strlen(v);
	char addr[INET6_ADDRSTRLEN + 1];
	if (strcmp(v, "host-gateway") == 0) {
		if (!host_gateway)
			return berr_set(err, EINVAL,
					"unable to derive the IP value for host-gateway");
		v = host_gateway;
		vlen = strlen(v);
	} else {
		if (vlen > 2 && v[0] == '[' && v[vlen - 1] == ']') {
			v++;
			vlen -= 2;
		}
		unsigned char bin[sizeof(struct in6_addr)];
		if (vlen >= sizeof(addr))
			return berr_set(err, EINVAL, "invalid IP address in add-host: \"%.*s\"", 64,
					v);
		memcpy(addr, v, vlen);
		addr[vlen] = '\0';
		if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
			return berr_set(err, EINVAL, "invalid IP address in add-host: \"%s\"",
					addr);
		v = addr;
	}
	return buf_printf(out, "%.*s\t%.*s\n", (int)vlen, v, (int)(sep - spec), spec);
}

int net_hosts_render(const struct net_hosts_opts *o, struct buf *out, struct berr **err)
{
	if (!o->hostname || !host_name_valid(o->hostname, strlen(o->hostname)))
		return berr_set(err, EINVAL, "invalid hostname '%s'",
				o->hostname ? o->hostname : "");
	if (o->domainname && !host_name_valid(o->domainname, strlen(o->domainname)))
		return berr_set(err, EINVAL, "invalid domain name '%s'", o->domainname);
	int r = buf_puts(out, default_hosts);
	for (size_t i = 0; o->extra && i < o->extra->n && r >= 0; i++)
		r = net_hosts_extra_line(o->extra->v[i], o->host_gateway, out, err);
	if (r >= 0 && o->ip) {
		if (o->domainname && *o->domainname)
			r = buf_printf(out, "%s\t%s.%s %s\n", o->ip, o->hostname, o->domainname,
				       o->hostname);
		else
			r = buf_printf(out, "%s\t%s\n", o->ip, o->hostname);
	}
	return r;
}

static int write_in_place(int fd, const char *text, size_t len, size_t old_len)
{
	/* One write of the whole new text; when shorter than the old, newlines fill the rest
	 * so that a reader between this write and the truncate sees only blank lines there. */
	size_t total = len > old_len ? len : old_len;
	_cleanup_free_ char *pad = malloc(total ? total : 1);
	if (!pad)
		return -ENOMEM;
	memcpy(pad, text, len);
	memset(pad + len, '\n', total - len);
	size_t done = 0;
	while (done < total) {
		ssize_t n = pwrite(fd, pad + done, total - done, (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	if (len < old_len && ftruncate(fd, (off_t)len) < 0)
		return -errno;
	return 0;
}

int net_hosts_set_section(const char *path, const char *network, const char *lines,
			  struct berr **err)
{
	if (!host_name_valid(network, strlen(network)))
		return berr_set(err, EINVAL, "invalid network name '%s'", network);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return berr_errno(err, errno, "open '%s'", path);
	/* Two networks of one container update its file under different network locks. */
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return berr_errno(err, errno, "lock '%s'", path);
	_cleanup_free_ char *old = NULL;
	size_t old_len;
	int r = fs_read_fd(fd, HOSTS_MAX, &old, &old_len);
	if (r < 0)
		return berr_errno(err, r, "read '%s'", path);

	char begin[320], end[320];
	snprintf(begin, sizeof(begin),
		 "# berth network %s: other containers (kept current by berth)\n", network);
	snprintf(end, sizeof(end), "# end of berth network %s\n", network);
	struct buf nb = BUF_INIT;
	int in_section = 0;
	const char *p = old, *stop = old + old_len;
	r = 0;
	while (p < stop && r >= 0) {
		const char *nl = memchr(p, '\n', (size_t)(stop - p));
		size_t ll = nl ? (size_t)(nl - p) + 1 : (size_t)(stop - p);
		if (!in_section && ll == strlen(begin) && memcmp(p, begin, ll) == 0) {
			in_section = 1;
		} else if (in_section) {
			if (ll == strlen(end) && memcmp(p, end, ll) == 0)
				in_section = 0;
		} else {
			r = buf_append(&nb, p, ll);
			if (r >= 0 && !nl)
				r = buf_putc(&nb, '\n');
		}
		p += ll;
	}
	/* Trailing blank lines are what an earlier shorter rewrite may have left behind. */
	while (nb.len > 1 && nb.data[nb.len - 1] == '\n' && nb.data[nb.len - 2] == '\n')
		nb.data[--nb.len] = '\0';
	if (r >= 0 && lines && *lines) {
		r = buf_puts(&nb, begin);
		if (r >= 0)
			r = buf_puts(&nb, lines);
		if (r >= 0 && lines[strlen(lines) - 1] != '\n')
			r = buf_putc(&nb, '\n');
		if (r >= 0)
			r = buf_puts(&nb, end);
	}
	if (r >= 0 && !(nb.len == old_len && (nb.len == 0 || memcmp(nb.data, old, old_len) == 0))) {
		r = write_in_place(fd, nb.data ? nb.data : "", nb.len, old_len);
		if (r < 0)
			r = berr_errno(err, r, "write '%s'", path);
	}
	buf_free(&nb);
	return r < 0 ? r : 0;
}
