#include "hosts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "fs.h"
#include "banned.h"

#define RESOLV_MAX (1u << 20)
#define RESOLVED_UPSTREAM "/run/systemd/resolve/resolv.conf"

/* Classify a nameserver: -1 invalid, 0 usable IPv4, 1 IPv4 loopback, 2 usable IPv6,
 * 3 IPv6 loopback. An IPv6 zone ("fe80::1%eth0") is allowed and ignored for the check. */
static int ns_kind(const char *s, size_t len)
{
	char a[INET6_ADDRSTRLEN + 1];
	if (len >= sizeof(a))
		return -1;
	memcpy(a, s, len);
	a[len] = '\0';
	unsigned char bin[16];
	if (inet_pton(AF_INET, a, bin) == 1)
		return bin[0] == 127 ? 1 : 0;
	char *pct = strchr(a, '%');
	if (pct)
		*pct = '\0';
	if (inet_pton(AF_INET6, a, bin) == 1) {
		static const unsigned char lo[16] = {[15] = 1};
		return memcmp(bin, lo, 16) == 0 ? 3 : 2;
	}
	return -1;
}

static int word_valid(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '#' || *s == ';')
			return 0;
	return 1;
}

/* The first word after the keyword of a line, and the rest of the line. */
static const char *skip_blank(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

int net_resolv_render(const char *host_text, const struct net_resolv_opts *o, struct buf *out,
		      struct berr **err)
{
	struct buf ns = BUF_INIT, search = BUF_INIT, options = BUF_INIT;
	int r = 0, have_ns = 0;
	const char *p = host_text ? host_text : "";
	const char *stop = p + strlen(p);

	if (o->dns && o->dns->n) {
		for (size_t i = 0; i < o->dns->n && r >= 0; i++) {
			const char *s = o->dns->v[i];
			if (ns_kind(s, strlen(s)) < 0) {
				r = berr_set(err, EINVAL, "invalid IP address for --dns: %s", s);
				break;
			}
			/* The user asked for it: written as given, loopback or not. */
			r = buf_printf(&ns, "nameserver %s\n", s);
			have_ns = 1;
		}
	}
	while (p < stop && r >= 0) {
		const char *nl = memchr(p, '\n', (size_t)(stop - p));
		const char *le = nl ? nl : stop;
		const char *q = skip_blank(p, le);
		const char *kw = q;
		while (q < le && *q != ' ' && *q != '\t')
			q++;
		size_t kwl = (size_t)(q - kw);
		const char *arg = skip_blank(q, le);
		const char *ae = le;
		while (ae > arg && (ae[-1] == ' ' || ae[-1] == '\t' || ae[-1] == '\r'))
			ae--;
		if (kwl == 10 && memcmp(kw, "nameserver", 10) == 0 && !(o->dns && o->dns->n)) {
			const char *we = arg;
			while (we < ae && *we != ' ' && *we != '\t' && *we != '#' && *we != ';')
				we++;
			int k = ns_kind(arg, (size_t)(we - arg));
			if (k == 0 || (k == 2 && o->ipv6)) {
				r = buf_printf(&ns, "nameserver %.*s\n", (int)(we - arg), arg);
				have_ns = 1;
			}
		} else if (((kwl == 6 && memcmp(kw, "search", 6) == 0) ||
			    (kwl == 6 && memcmp(kw, "domain", 6) == 0)) &&
			   !(o->dns_search && o->dns_search->n) && ae > arg) {
			/* The last search or domain line wins, as in glibc. */
			buf_reset(&search);
			r = buf_printf(&search, "search %.*s\n", (int)(ae - arg), arg);
		} else if (kwl == 7 && memcmp(kw, "options", 7) == 0 &&
			   !(o->dns_options && o->dns_options->n) && ae > arg) {
			r = buf_printf(&options, "options %.*s\n", (int)(ae - arg), arg);
		}
		p = nl ? nl + 1 : stop;
	}
	if (r >= 0 && o->dns_search && o->dns_search->n) {
		int none = o->dns_search->n == 1 && streq(o->dns_search->v[0], ".");
		for (size_t i = 0; i < o->dns_search->n && r >= 0 && !none; i++) {
			if (!word_valid(o->dns_search->v[i])) {
				r = berr_set(err, EINVAL, "invalid --dns-search value '%s'",
					     o->dns_search->v[i]);
				break;
			}
			r = buf_printf(&search, "%s%s", i ? " " : "search ", o->dns_search->v[i]);
		}
		if (r >= 0 && !none)
			r = buf_putc(&search, '\n');
	}
	if (r >= 0 && o->dns_options && o->dns_options->n) {
		for (size_t i = 0; i < o->dns_options->n && r >= 0; i++) {
			if (!word_valid(o->dns_options->v[i])) {
				r = berr_set(err, EINVAL, "invalid --dns-option value '%s'",
					     o->dns_options->v[i]);
				break;
			}
			r = buf_printf(&options, "%s%s", i ? " " : "options ",
				       o->dns_options->v[i]);
		}
		if (r >= 0)
			r = buf_putc(&options, '\n');
	}
	if (r >= 0 && !have_ns)
		/* Docker's fallback when the host has nothing a container can reach. */
		r = buf_puts(&ns, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
	if (r >= 0)
		r = buf_append(out, ns.data, ns.len);
	if (r >= 0 && search.len)
		r = buf_append(out, search.data, search.len);
	if (r >= 0 && options.len)
		r = buf_append(out, options.data, options.len);
	buf_free(&ns);
	buf_free(&search);
	buf_free(&options);
	return r < 0 ? r : 0;
}

/* 1 when every nameserver line of text names 127.0.0.53 (and there is one). */
static int only_resolved_stub(const char *text)
{
	int stub = 0;
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		const char *q = p;
		while (q < p + ll && (*q == ' ' || *q == '\t'))
			q++;
		if ((size_t)(p + ll - q) > 10 && memcmp(q, "nameserver", 10) == 0) {
			q = skip_blank(q + 10, p + ll);
			size_t wl = 0;
			while (q + wl < p + ll && q[wl] != ' ' && q[wl] != '\t' && q[wl] != '\r')
				wl++;
			if (wl == 10 && memcmp(q, "127.0.0.53", 10) == 0)
				stub = 1;
			else
				return 0;
		}
		p = nl ? nl + 1 : NULL;
	}
	return stub;
}

int net_resolv_read_host(const char *etc_path, char **ret, struct berr **err)
{
	const char *path = etc_path ? etc_path : "/etc/resolv.conf";
	char *text = NULL;
	size_t len;
	int r = fs_read_all_at(AT_FDCWD, path, RESOLV_MAX, &text, &len);
	if (r == -ENOENT) {
		*ret = strdup("");
		return *ret ? 0 : -ENOMEM;
	}
	if (r < 0)
		return berr_errno(err, r, "read '%s'", path);
	if (!etc_path && only_resolved_stub(text)) {
		char *up = NULL;
		if (fs_read_all_at(AT_FDCWD, RESOLVED_UPSTREAM, RESOLV_MAX, &up, &len) == 0) {
			free(text);
			text = up;
		}
	}
	*ret = text;
	return 0;
}
