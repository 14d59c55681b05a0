#include "route.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "banned.h"

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component of a name, s[0..len): [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static int component_valid(const char *s, size_t len)
{
	size_t i = 0;
	if (len == 0 || !is_lower_alnum(s[0]))
		return 0;
	while (i < len) {
		while (i < len && is_lower_alnum(s[i]))
			i++;
		if (i == len)
			return 1;
		/* A separator: ".", "_", "__" or a run of "-", then alphanumerics again. */
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < len && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < len && s[i] == '-')
				i++;
		} else {
			return 0;
		}
		if (i == len || !is_lower_alnum(s[i]))
			return 0;
	}
	return 1;
}

static int name_valid_n(const char *s, size_t len)
{
	if (len == 0 || len > REGSRV_NAME_MAX)
		return 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			if (!component_valid(s + start, i - start))
				return 0;
			start = i + 1;
		}
	}
	return 1;
}

int regsrv_name_valid(const char *s)
{
	return s && name_valid_n(s, strnlen(s, REGSRV_NAME_MAX + 1));
}

static int tag_valid_n(const char *s, size_t len)
{
	if (len == 0 || len > REGSRV_TAG_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '_' || (i > 0 && (c == '.' || c == '-'));
		if (!ok)
			return 0;
	}
	return 1;
}

int regsrv_tag_valid(const char *s)
{
	return s && tag_valid_n(s, strnlen(s, REGSRV_TAG_MAX + 1));
}

static int uuid_valid_n(const char *s, size_t len)
{
	if (len != REGSRV_UUID_LEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

int regsrv_uuid_valid(const char *s)
{
	return s && uuid_valid_n(s, strnlen(s, REGSRV_UUID_LEN + 1));
}

static int seg_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* Copy the name s[0..len) into ret when it is valid; flag it otherwise. */
static void take_name(struct regsrv_route *ret, const char *s, size_t len)
{
	if (!name_valid_n(s, len)) {
		ret->error = REGSRV_ROUTE_NAME_INVALID;
		return;
	}
	memcpy(ret->name, s, len);
	ret->name[len] = '\0';
}

static void take_digest(struct regsrv_route *ret, const char *s, size_t len)
{
	ret->ref_is_digest = 1;
	if (len >= sizeof(ret->ref)) {
		if (!ret->error)
			ret->error = REGSRV_ROUTE_DIGEST_INVALID;
		return;
	}
	memcpy(ret->ref, s, len);
	ret->ref[len] = '\0';
	if (digest_parse(ret->ref, &ret->digest, NULL) < 0 && !ret->error)
		ret->error = REGSRV_ROUTE_DIGEST_INVALID;
}

static void take_reference(struct regsrv_route *ret, const char *s, size_t len)
{
	if (memchr(s, ':', len)) {
		take_digest(ret, s, len);
		return;
	}
	if (!tag_valid_n(s, len)) {
		if (!ret->error)
			ret->error = REGSRV_ROUTE_TAG_INVALID;
		return;
	}
	memcpy(ret->ref, s, len);
	ret->ref[len] = '\0';
}

enum regsrv_route_kind regsrv_route_parse(const char *path, struct regsrv_route *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0)
		return ret->kind = REGSRV_ROUTE_BASE;
	if (strcmp(path, "/token") == 0)
		return ret->kind = REGSRV_ROUTE_TOKEN;
	if (strncmp(path, "/v2/", 4) != 0)
		return ret->kind = REGSRV_ROUTE_NONE;
	const char *rest = path + 4;
	if (strcmp(rest, "_catalog") == 0)
		return ret->kind = REGSRV_ROUTE_CATALOG;

	/* The endpoint is in the last two or three components; the name is all before them.
	 * Names may hold "blobs" or "manifests" components themselves, so the suffix decides
	 * ("a/blobs/b/manifests/x" is the manifest x of repository "a/blobs/b"). */
	size_t len = strlen(rest);
	const char *end = rest + len;
	const char *s1 = memrchr(rest, '/', len); /* before the last component */
	if (!s1)
		return ret->kind = REGSRV_ROUTE_NONE;
	const char *s2 = memrchr(rest, '/', (size_t)(s1 - rest));
	if (!s2)
		return ret->kind = REGSRV_ROUTE_NONE;
	const char *s3 = memrchr(rest, '/', (size_t)(s2 - rest));
	const char *last = s1 + 1;
	size_t last_len = (size_t)(end - last);
	const char *mid = s2 + 1;
	size_t mid_len = (size_t)(s1 - mid);

	if (s3 && seg_is(s3 + 1, (size_t)(s2 - s3 - 1), "blobs") &&
	    seg_is(mid, mid_len, "uploads")) {
		take_name(ret, rest, (size_t)(s3 - rest));
		if (last_len == 0)
			return ret->kind = REGSRV_ROUTE_UPLOAD_START;
		ret->kind = REGSRV_ROUTE_UPLOAD;
		if (!uuid_valid_n(last, last_len)) {
			if (!ret->error)
				ret->error = REGSRV_ROUTE_UUID_INVALID;
			return ret->kind;
		}
		memcpy(ret->ref, last, last_len);
		ret->ref[last_len] = '\0';
		return ret->kind;
	}
	size_t name_len = (size_t)(s2 - rest);
	if (seg_is(mid, mid_len, "blobs") && seg_is(last, last_len, "uploads")) {
		take_name(ret, rest, name_len);
		return ret->kind = REGSRV_ROUTE_UPLOAD_START;
	}
	if (seg_is(mid, mid_len, "blobs")) {
		take_name(ret, rest, name_len);
		take_digest(ret, last, last_len);
		return ret->kind = REGSRV_ROUTE_BLOB;
	}
	if (seg_is(mid, mid_len, "manifests")) {
		take_name(ret, rest, name_len);
		take_reference(ret, last, last_len);
		return ret->kind = REGSRV_ROUTE_MANIFEST;
	}
	if (seg_is(mid, mid_len, "referrers")) {
		take_name(ret, rest, name_len);
		take_digest(ret, last, last_len);
		return ret->kind = REGSRV_ROUTE_REFERRERS;
	}
	if (seg_is(mid, mid_len, "tags") && seg_is(last, last_len, "list")) {
		take_name(ret, rest, name_len);
		return ret->kind = REGSRV_ROUTE_TAGS;
	}
	return ret->kind = REGSRV_ROUTE_NONE;
}

/* A decimal number without sign, at most 19 digits so that it fits. Advances *p. */
static int parse_u64(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	int n = 0;
	while (*s >= '0' && *s <= '9') {
		if (++n > 19)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		s++;
	}
	if (n == 0)
		return -EINVAL;
	*p = s;
	*ret = v;
	return 0;
}

int regsrv_range_parse(const char *h, uint64_t size, uint64_t *ret_start, uint64_t *ret_len)
{
	if (!h || strncmp(h, "bytes=", 6) != 0)
		return 0;
	const char *p = h + 6;
	while (*p == ' ')
		p++;
	if (strchr(p, ','))
		return 0; /* several ranges: RFC 9110 lets us serve the whole */
	uint64_t a, b;
	if (*p == '-') {
		p++;
		if (parse_u64(&p, &b) < 0 || *p)
			return 0;
		if (b == 0 || size == 0)
			return -ERANGE;
		if (b > size)
			b = size;
		*ret_start = size - b;
		*ret_len = b;
		return 1;
	}
	if (parse_u64(&p, &a) < 0 || *p != '-')
		return 0;
	p++;
	if (*p == '\0') {
		b = UINT64_MAX;
	} else if (parse_u64(&p, &b) < 0 || *p) {
		return 0;
	}
	if (a >= size || b < a)
		return -ERANGE;
	if (b >= size)
		b = size - 1;
	*ret_start = a;
	*ret_len = b - a + 1;
	return 1;
}

int regsrv_content_range_parse(const char *h, uint64_t *ret_start, uint64_t *ret_end)
{
	if (!h)
		return -EINVAL;
	const char *p = h;
	int rfc = 0;
	if (strncmp(p, "bytes ", 6) == 0) {
		p += 6;
		rfc = 1;
	}
	uint64_t a, b;
	if (parse_u64(&p, &a) < 0 || *p != '-')
		return -EINVAL;
	p++;
	if (parse_u64(&p, &b) < 0)
		return -EINVAL;
	if (rfc && *p == '/') {
		p++;
		uint64_t total;
		if (*p == '*')
			p++;
		else if (parse_u64(&p, &total) < 0 || total <= b)
			return -EINVAL;
	}
	if (*p || b < a)
		return -EINVAL;
	*ret_start = a;
	*ret_end = b;
	return 0;
}
