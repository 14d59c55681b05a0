#include "addr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "banned.h"

int net_ip4_parse(const char *s, uint32_t *ret)
{
	uint32_t a = 0;
	const char *p = s;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (*p != '.')
				return -EINVAL;
			p++;
		}
		if (*p < '0' || *p > '9')
			return -EINVAL;
		/* A leading zero means octal to inet_aton() and decimal to others; refuse it
		 * rather than guess which one the user meant. */
		if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
			return -EINVAL;
		unsigned v = 0;
		int digits = 0;
		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (unsigned)(*p - '0');
			p++;
			if (++digits > 3 || v > 255)
				return -EINVAL;
		}
		a = (a << 8) | v;
	}
	if (*p != '\0')
		return -EINVAL;
	*ret = a;
	return 0;
}

char *net_ip4_format(uint32_t a, char buf[NET_IP4_STRLEN])
{
	snprintf(buf, NET_IP4_STRLEN, "%u.%u.%u.%u", (a >> 24) & 0xff, (a >> 16) & 0xff,
		 (a >> 8) & 0xff, a & 0xff);
	return buf;
}

uint32_t net_prefix_mask(unsigned prefix)
{
	if (prefix == 0)
		return 0;
	if (prefix >= 32)
		return 0xffffffffu;
	return ~((1u << (32 - prefix)) - 1);
}

int net_subnet_parse(const char *s, int allow_host_bits, struct net_subnet *ret, uint32_t *ret_host,
		     struct berr **err)
{
	char ip[NET_IP4_STRLEN];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(ip))
		return berr_set(err, EINVAL, "invalid subnet '%s': want a.b.c.d/len", s);
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	uint32_t a;
	if (net_ip4_parse(ip, &a) < 0)
		return berr_set(err, EINVAL, "invalid subnet '%s': bad address", s);
	const char *p = slash + 1;
	unsigned len = 0;
	int digits = 0;
	while (*p >= '0' && *p <= '9' && digits < 3) {
		len = len * 10 + (unsigned)(*p - '0');
		p++;
		digits++;
	}
	if (digits == 0 || *p != '\0' || len > 32 || (digits > 1 && slash[1] == '0'))
		return berr_set(err, EINVAL, "invalid subnet '%s': bad prefix length", s);
	uint32_t net = a & net_prefix_mask(len);
	if (net != a && !allow_host_bits)
		return berr_set(err, EINVAL, "invalid subnet '%s': host bits are set", s);
	ret->addr = net;
	ret->prefix = (uint8_t)len;
	if (ret_host)
		*ret_host = a;
	return 0;
}

char *net_subnet_format(const struct net_subnet *n, char buf[NET_CIDR4_STRLEN])
{
	char ip[NET_IP4_STRLEN];
	snprintf(buf, NET_CIDR4_STRLEN, "%s/%u", net_ip4_format(n->addr, ip), n->prefix);
	return buf;
}

uint32_t net_subnet_last(const struct net_subnet *n)
{
	return n->addr | ~net_prefix_mask(n->prefix);
}

int net_subnet_contains(const struct net_subnet *n, uint32_t a)
{
	return (a & net_prefix_mask(n->prefix)) == n->addr;
}

int net_subnet_overlaps(const struct net_subnet *a, const struct net_subnet *b)
{
	/* Two prefixes overlap exactly when the shorter one contains the other's start. */
	const struct net_subnet *wide = a->prefix <= b->prefix ? a : b;
	const struct net_subnet *narrow = wide == a ? b : a;
	return net_subnet_contains(wide, narrow->addr);
}
