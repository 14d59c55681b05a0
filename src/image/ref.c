/* Image references: distribution/reference's grammar and Docker's normalisation
 * (ParseNormalizedNamed, splitDockerDomain, FamiliarName), written as a small hand parser
 * rather than a regex engine. Because path components, tags and digests cannot contain
 * ':', '@' or '/', the only choice the reference regexp ever makes is whether the text
 * before the first '/' is a domain; trying "with domain" first and "without" second gives
 * the same answer as Go's leftmost-first matching. */
#include "ref.h"
#include "cleanup.h"
#include "digest.h"

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "banned.h"

#define REF_DEFAULT_DOMAIN "docker.io"
#define REF_LEGACY_DOMAIN "index.docker.io"
#define REF_OFFICIAL_PREFIX "library/"
#define REF_DEFAULT_TAG "latest"
/* distribution/reference v0.6 counts only the path (not the domain) against this limit. */
#define REF_PATH_MAX 255
#define REF_TAG_MAX 128

#define MSG_INVALID "invalid reference format"
#define MSG_LOWERCASE "invalid reference format: repository name must be lowercase"

struct span {
	const char *p;
	size_t n;
};

struct parsed {
	bool has_domain;
	struct span domain, path, tag, digest; /* n == 0 and p == NULL when absent */
};

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

static bool is_xdigit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* alphanumeric (separator alphanumeric)*, separator = "." | "_" | "__" | "-"+ */
static bool valid_path_component(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == run)
			return false; /* empty alphanumeric run: leading, trailing or doubled separator */
		if (i == n)
			return true;
		size_t sep = i;
		while (i < n && !is_lower_alnum(s[i]))
			i++;
		size_t len = i - sep;
		bool dashes = true;
		for (size_t k = sep; k < i; k++)
			if (s[k] != '-')
				dashes = false;
		bool ok = dashes || (len == 1 && (s[sep] == '.' || s[sep] == '_')) ||
			  (len == 2 && s[sep] == '_' && s[sep + 1] == '_');
		if (!ok || i == n)
			return false;
	}
	return false; /* n == 0 */
}

static bool valid_remote_name(const char *s, size_t n)
{
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '/') {
			if (!valid_path_component(s + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool valid_domain_component(const char *s, size_t n)
{
	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* host [":" port], host = domain-name | "[" [a-fA-F0-9:]+ "]" */
static bool valid_domain(const char *s, size_t n)
{
	size_t host_end;
	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close || close == s + 1)
			return false;
		for (const char *c = s + 1; c < close; c++)
			if (!is_xdigit(*c) && *c != ':')
				return false;
		host_end = (size_t)(close - s) + 1;
	} else {
		const char *colon = memchr(s, ':', n);
		host_end = colon ? (size_t)(colon - s) : n;
		size_t start = 0;
		for (size_t i = 0; i <= host_end; i++) {
			if (i == host_end || s[i] == '.') {
				if (!valid_domain_component(s + start, i - start))
					return false;
				start = i + 1;
			}
		}
	}
	if (host_end == n)
		return true;
	if (s[host_end] != ':' || host_end + 1 == n)
		return false;
	for (size_t i = host_end + 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* [\w][\w.-]{0,127} */
static bool valid_tag(const char *s, size_t n)
{
	if (n == 0 || n > REF_TAG_MAX || !is_word(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* [A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}: the loose shape
 * the reference regexp accepts; the algorithm and length are checked afterwards. */
static bool valid_digest_shape(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	if (!colon)
		return false;
	size_t alen = (size_t)(colon - s);
	bool want_alpha = true;
	for (size_t i = 0; i < alen; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		if (want_alpha) {
			if (!alpha)
				return false;
			want_alpha = false;
		} else if (c == '-' || c == '_' || c == '+' || c == '.') {
			want_alpha = true;
		} else if (!alpha && !(c >= '0' && c <= '9')) {
			return false;
		}
	}
	if (want_alpha) /* empty algorithm or trailing separator */
		return false;
	size_t hlen = n - alen - 1;
	if (hlen < 32)
		return false;
	for (size_t i = alen + 1; i < n; i++)
		if (!is_xdigit(s[i]))
			return false;
	return true;
}

/* remote-name [":" tag] ["@" digest], the part after an optional domain. */
static bool parse_rest(const char *s, size_t n, struct parsed *ret)
{
	size_t name_end = 0;
	while (name_end < n && s[name_end] != ':' && s[name_end] != '@')
		name_end++;
	if (!valid_remote_name(s, name_end))
		return false;
	ret->path = (struct span){s, name_end};
	size_t i = name_end;
	if (i < n && s[i] == ':') {
		size_t tag_start = ++i;
		while (i < n && s[i] != '@')
			i++;
		if (!valid_tag(s + tag_start, i - tag_start))
			return false;
		ret->tag = (struct span){s + tag_start, i - tag_start};
	}
	if (i < n) { /* s[i] == '@' */
		if (!valid_digest_shape(s + i + 1, n - i - 1))
			return false;
		ret->digest = (struct span){s + i + 1, n - i - 1};
	}
	return true;
}

/* The anchored reference grammar over s[0..n). */
static bool parse_grammar(const char *s, size_t n, struct parsed *ret)
{
	*ret = (struct parsed){0};
	const char *slash = memchr(s, '/', n);
	if (slash && valid_domain(s, (size_t)(slash - s))) {
		size_t dlen = (size_t)(slash - s);
		if (parse_rest(slash + 1, n - dlen - 1, ret)) {
			ret->has_domain = true;
			ret->domain = (struct span){s, dlen};
			return true;
		}
	}
	*ret = (struct parsed){0};
	return parse_rest(s, n, ret);
}

/* Case questions follow Go's strings.ToLower, which maps runes with Unicode's simple
 * lowercase mapping and turns invalid UTF-8 into U+FFFD (so it "changes" the string). */
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;
static locale_t utf8_locale;

static void utf8_locale_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* Decode one UTF-8 sequence at s (n > 0 bytes). Returns its length, or 0 when invalid
 * (overlong, surrogate, beyond U+10FFFF or truncated), like Go's utf8.DecodeRune. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *ret)
{
	if (s[0] < 0x80) {
		*ret = s[0];
		return 1;
	}
	size_t len;
	uint32_t cp, min;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret = cp;
	return len;
}

/* strings.ToLower(s) != s */
static bool lower_differs(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		if (u[i] < 0x80) {
			if (u[i] >= 'A' && u[i] <= 'Z')
				return true;
			i++;
			continue;
		}
		uint32_t cp;
		size_t len = utf8_decode(u + i, n - i, &cp);
		if (len == 0)
			return true;
		pthread_once(&utf8_once, utf8_locale_init);
		/* Without a C.UTF-8 locale only ASCII case is known; the input fails the
		 * ASCII-only grammar anyway, just with the plainer message. */
		if (utf8_locale != (locale_t)0 && (uint32_t)towlower_l((wint_t)cp, utf8_locale) != cp)
			return true;
		i += len;
	}
	return false;
}

/* strings.ToLower(s) restricted to what can matter for an ASCII grammar: A-Z, and the two
 * runes whose simple lowercase is ASCII (U+0130 -> 'i', U+212A KELVIN SIGN -> 'k').
 * Other bytes are kept: the lowered string fails the grammar either way. NULL on ENOMEM. */
static char *lower_for_grammar(const char *s, size_t n, size_t *ret_len)
{
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z') {
			out[o++] = (char)(c - 'A' + 'a');
			i++;
		} else if (n - i >= 2 && memcmp(s + i, "\xc4\xb0", 2) == 0) {
			out[o++] = 'i';
			i += 2;
		} else if (n - i >= 3 && memcmp(s + i, "\xe2\x84\xaa", 3) == 0) {
			out[o++] = 'k';
			i += 3;
		} else {
			out[o++] = (char)c;
			i++;
		}
	}
	out[o] = '\0';
	*ret_len = o;
	return out;
}

static bool is_identifier(const char *s)
{
	size_t n = strlen(s);
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* go-digest's checks and messages, with the algorithms digest.h supports. */
static int check_digest(const struct span *d, char **ret, struct berr **err)
{
	_cleanup_free_ char *s = strndup(d->p, d->n);
	if (!s)
		return berr_set(err, ENOMEM, "out of memory");
	struct digest parsed;
	if (digest_parse(s, &parsed, NULL) == 0) {
		*ret = TAKE_PTR(s);
		return 0;
	}
	const char *colon = strchr(s, ':');
	size_t alen = (size_t)(colon - s), hlen = strlen(colon + 1);
	bool sha256 = alen == 6 && strncmp(s, "sha256", 6) == 0;
	bool sha512 = alen == 6 && strncmp(s, "sha512", 6) == 0;
	if (!sha256 && !sha512)
		return berr_set(err, EINVAL, "unsupported digest algorithm");
	if (hlen != (sha256 ? 64u : 128u))
		return berr_set(err, EINVAL, "invalid checksum digest length");
	return berr_set(err, EINVAL, "invalid checksum digest format");
}

int ref_parse(const char *s, int flags, struct ref *ret, struct berr **err)
{
	*ret = (struct ref){0};
	if (!s)
		return berr_set(err, EINVAL, MSG_INVALID);
	if (is_identifier(s))
		return berr_set(err, EINVAL,
				"invalid repository name (%s), cannot specify 64-byte hexadecimal strings",
				s);

	/* splitDockerDomain: the first component is a domain when it is "localhost", has a
	 * '.' or ':', or is not lowercase (lowercase is required of path components). */
	const char *domain = REF_DEFAULT_DOMAIN;
	size_t dlen = strlen(REF_DEFAULT_DOMAIN);
	const char *remote = s;
	const char *slash = strchr(s, '/');
	if (slash) {
		size_t flen = (size_t)(slash - s);
		if ((flen == 9 && strncmp(s, "localhost", 9) == 0) ||
		    memchr(s, '.', flen) || memchr(s, ':', flen) || lower_differs(s, flen)) {
			domain = s;
			dlen = flen;
			remote = slash + 1;
		}
		if (flen == strlen(REF_LEGACY_DOMAIN) && strncmp(s, REF_LEGACY_DOMAIN, flen) == 0) {
			domain = REF_DEFAULT_DOMAIN;
			dlen = strlen(REF_DEFAULT_DOMAIN);
		}
	}
	bool official = dlen == strlen(REF_DEFAULT_DOMAIN) &&
			strncmp(domain, REF_DEFAULT_DOMAIN, dlen) == 0 && !strchr(remote, '/');

	/* ParseNormalizedNamed checks case on the remainder up to the first ':' before the
	 * grammar, so "Nginx" is reported as a case problem, not a format problem. */
	const char *colon = strchr(remote, ':');
	if (lower_differs(remote, colon ? (size_t)(colon - remote) : strlen(remote)))
		return berr_set(err, EINVAL, MSG_LOWERCASE);

	_cleanup_free_ char *full = NULL;
	if (asprintf(&full, "%.*s/%s%s", (int)dlen, domain, official ? REF_OFFICIAL_PREFIX : "",
		     remote) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	size_t flen = strlen(full);

	struct parsed p;
	if (!parse_grammar(full, flen, &p)) {
		size_t llen;
		_cleanup_free_ char *lower = lower_for_grammar(full, flen, &llen);
		if (!lower)
			return berr_set(err, ENOMEM, "out of memory");
		struct parsed lp;
		if ((llen != flen || memcmp(lower, full, flen) != 0) &&
		    parse_grammar(lower, llen, &lp))
			return berr_set(err, EINVAL, "repository name must be lowercase");
		return berr_set(err, EINVAL, MSG_INVALID);
	}
	if (p.path.n > REF_PATH_MAX)
		return berr_set(err, EINVAL, "repository name must not be more than %d characters",
				REF_PATH_MAX);

	struct ref r = {0};
	int rc;
	if (p.digest.p && (rc = check_digest(&p.digest, &r.digest, err)) < 0)
		return rc;
	/* A domain that is not valid as one (e.g. "my_host.com") is read, as in Go, as the
	 * first path component of a reference without a domain. */
	r.domain = p.has_domain ? strndup(p.domain.p, p.domain.n) : strdup("");
	r.path = strndup(p.path.p, p.path.n);
	bool want_tag = p.tag.p || (!p.digest.p && !(flags & REF_NO_DEFAULT_TAG));
	if (p.tag.p)
		r.tag = strndup(p.tag.p, p.tag.n);
	else if (want_tag)
		r.tag = strdup(REF_DEFAULT_TAG);
	if (!r.domain || !r.path || (want_tag && !r.tag)) {
		ref_free(&r);
		return berr_set(err, ENOMEM, "out of memory");
	}
	*ret = r;
	return 0;
}

void ref_free(struct ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	*r = (struct ref){0};
}

char *ref_name(const struct ref *r)
{
	char *s = NULL;
	if (!r->domain || !*r->domain)
		return strdup(r->path);
	if (asprintf(&s, "%s/%s", r->domain, r->path) < 0)
		return NULL;
	return s;
}

static char *with_tag_digest(char *name, const struct ref *r)
{
	if (!name)
		return NULL;
	char *s = NULL;
	int n = asprintf(&s, "%s%s%s%s%s", name, r->tag ? ":" : "", r->tag ? r->tag : "",
			 r->digest ? "@" : "", r->digest ? r->digest : "");
	free(name);
	return n < 0 ? NULL : s;
}

char *ref_string(const struct ref *r)
{
	return with_tag_digest(ref_name(r), r);
}

char *ref_familiar_name(const struct ref *r)
{
	if (r->domain && streq(r->domain, REF_DEFAULT_DOMAIN)) {
		const char *p = r->path;
		size_t plen = strlen(REF_OFFICIAL_PREFIX);
		/* Only a single component after "library/" is an official image: the prefix's
		 * slash is then the last one. */
		if (strncmp(p, REF_OFFICIAL_PREFIX, plen) == 0 && strrchr(p, '/') == p + plen - 1)
			p += plen;
		return strdup(p);
	}
	return ref_name(r);
}

char *ref_familiar_string(const struct ref *r)
{
	return with_tag_digest(ref_familiar_name(r), r);
}

char *ref_familiarize(const char *full)
{
	_cleanup_ref_ struct ref r = {0};
	if (!full)
		return NULL;
	if (ref_parse(full, REF_NO_DEFAULT_TAG, &r, NULL) < 0)
		return strdup(full);
	return ref_familiar_string(&r);
}
