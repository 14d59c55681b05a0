#include "auth_client.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"

#include "banned.h"

/* ---- WWW-Authenticate (RFC 7235 4.1, RFC 9110 11.6.1) ---- */

static int is_tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_t68char(unsigned char c)
{
	return isalnum(c) || (c && strchr("-._~+/", c));
}

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static const char *skip_ows(const char *p)
{
	while (is_ows(*p))
		p++;
	return p;
}

static size_t token_len(const char *p)
{
	size_t n = 0;
	while (is_tchar((unsigned char)p[n]))
		n++;
	return n;
}

void reg_challenges_free(struct reg_challenge *c, size_t n)
{
	if (!c)
		return;
	for (size_t i = 0; i < n; i++) {
		free(c[i].scheme);
		free(c[i].token68);
		strv_free(&c[i].params);
	}
	free(c);
}

static char *lower_dup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (d)
		for (char *q = d; *q; q++)
			*q = (char)tolower((unsigned char)*q);
	return d;
}

/* A token68 at p: 1*t68char *"=", then OWS and the end or a comma. Returns its length, or
 * 0 when p does not hold one. */
static size_t token68_len(const char *p)
{
	size_t n = 0;
	while (is_t68char((unsigned char)p[n]))
		n++;
	if (!n)
		return 0;
	while (p[n] == '=')
		n++;
	const char *q = skip_ows(p + n);
	return (*q == '\0' || *q == ',') ? n : 0;
}

/* Parse a quoted-string at p (which is at the opening quote) into out; *end is set past the
 * closing quote. */
static int parse_quoted(const char *p, struct buf *out, const char **end, struct berr **err)
{
	p++;
	for (;;) {
		unsigned char c = (unsigned char)*p;
		if (c == '\0')
			return berr_set(err, EINVAL,
					"www-authenticate: unterminated quoted string");
		if (c == '"')
			break;
		if (c == '\\') {
			c = (unsigned char)*++p;
			if (c == '\0')
				return berr_set(err, EINVAL,
						"www-authenticate: unterminated quoted string");
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return berr_set(err, EINVAL,
					"www-authenticate: control character in quoted string");
		if (buf_putc(out, (char)c) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		p++;
	}
	*end = p + 1;
	if (!out->data && buf_puts(out, "") < 0)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

const char *reg_challenge_param(const struct reg_challenge *c, const char *name)
{
	for (size_t i = 0; i + 1 < c->params.n; i += 2)
		if (streq(c->params.v[i], name))
			return c->params.v[i + 1];
	return NULL;
}

const struct reg_challenge *reg_challenge_find(const struct reg_challenge *c, size_t n,
					       const char *scheme)
{
	for (size_t i = 0; i < n; i++)
		if (streq(c[i].scheme, scheme))
			return &c[i];
	return NULL;
}

/* Parse the auth-params (or token68) of ch, starting after its scheme. Stops at the start of
 * the next challenge (a token not followed by "="), which *end then points at. */
static int parse_params(const char *p, struct reg_challenge *ch, size_t *items, const char **end,
			struct berr **err)
{
	/* A token68 follows its scheme after white space only: "Negotiate, NTLM" is two schemes. */
	int first = *skip_ows(p) != ',';
	for (;;) {
		p = skip_ows(p);
		while (*p == ',')
			p = skip_ows(p + 1);
		if (!*p)
			break;
		if (first) {
			size_t t68 = token68_len(p);
			if (t68) {
				ch->token68 = strndup(p, t68);
				if (!ch->token68)
					return berr_set(err, ENOMEM, "out of memory");
				p += t68;
				/* After a token68 only another challenge may follow. */
				p = skip_ows(p);
				while (*p == ',')
					p = skip_ows(p + 1);
				break;
			}
		}
		first = 0;
		size_t nl = token_len(p);
		if (!nl) {
			if (*p == '=')
				return berr_set(err, EINVAL,
						"www-authenticate: parameter without a name");
			return berr_set(err, EINVAL,
					"www-authenticate: unexpected character 0x%02x",
					(unsigned char)*p);
		}
		const char *q = skip_ows(p + nl);
		if (*q != '=')
			break; /* a new challenge's scheme */
		q = skip_ows(q + 1);
		_cleanup_buf_ struct buf val = BUF_INIT;
		int r;
		if (*q == '"') {
			if ((r = parse_quoted(q, &val, &q, err)) < 0)
				return r;
		} else {
			size_t vl = token_len(q);
			if (!vl)
				return berr_set(err, EINVAL,
						"www-authenticate: parameter '%.*s' has no value",
						(int)(nl > 64 ? 64 : nl), p);
			if (buf_append(&val, q, vl) < 0)
				return berr_set(err, ENOMEM, "out of memory");
			q += vl;
		}
		if (++*items > REG_WWWAUTH_MAX_ITEMS)
			return berr_set(err, EINVAL, "www-authenticate: too many parameters");
		_cleanup_free_ char *name = lower_dup(p, nl);
		if (!name)
			return berr_set(err, ENOMEM, "out of memory");
		if (!reg_challenge_param(ch, name)) {
			if (strv_push_take(&ch->params, TAKE_PTR(name)) < 0 ||
			    strv_push_take(&ch->params, buf_steal(&val)) < 0)
				return berr_set(err, ENOMEM, "out of memory");
		}
		p = skip_ows(q);
		if (*p && *p != ',')
			return berr_set(err, EINVAL,
					"www-authenticate: expected ',' after parameter");
	}
	*end = p;
	return 0;
}

int reg_wwwauth_parse(const char *value, struct reg_challenge **ret, size_t *ret_n,
		      struct berr **err)
{
	struct reg_challenge *out = NULL;
	size_t n = 0, items = 0;
	int r;
	*ret = NULL;
	*ret_n = 0;
	if (strlen(value) > REG_WWWAUTH_MAX)
		return berr_set(err, EINVAL, "www-authenticate: longer than %d bytes",
				REG_WWWAUTH_MAX);
	for (const char *c = value; *c; c++)
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
			return berr_set(err, EINVAL, "www-authenticate: control character");
	const char *p = value;
	for (;;) {
		p = skip_ows(p);
		while (*p == ',')
			p = skip_ows(p + 1);
		if (!*p)
			break;
		size_t sl = token_len(p);
		if (!sl) {
			r = berr_set(err, EINVAL, "www-authenticate: expected an auth scheme");
			goto fail;
		}
		if (++items > REG_WWWAUTH_MAX_ITEMS) {
			r = berr_set(err, EINVAL, "www-authenticate: too many challenges");
			goto fail;
		}
		struct reg_challenge *grown = realloc(out, (n + 1) * sizeof(*out));
		if (!grown) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto fail;
		}
		out = grown;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].scheme = lower_dup(p, sl);
		n++;
		if (!out[n - 1].scheme) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto fail;
		}
		p += sl;
		if (*p && *p != ',' && !is_ows(*p)) {
			r = berr_set(err, EINVAL,
				     "www-authenticate: unexpected character 0x%02x after scheme",
				     (unsigned char)*p);
			goto fail;
		}
		if ((r = parse_params(p, &out[n - 1], &items, &p, err)) < 0)
			goto fail;
	}
	if (!n)
		return berr_set(err, EINVAL, "www-authenticate: no challenge");
	*ret = out;
	*ret_n = n;
	return 0;
fail:
	reg_challenges_free(out, n);
	return r;
}

/* ---- token responses ---- */

void reg_token_clear(struct reg_token *t)
{
	if (!t)
		return;
	free(t->token);
	free(t->refresh_token);
	memset(t, 0, sizeof(*t));
}

static int header_safe(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

int reg_token_parse(const char *body, size_t len, struct reg_token *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	if (len > (1u << 20))
		return berr_set(err, EINVAL, "token response larger than 1 MiB");
	json_error_t je;
	_cleanup_json_ json_t *j = json_loadb(body, len, 0, &je);
	if (!j)
		return berr_set(err, EINVAL, "token response: invalid JSON: %s", je.text);
	if (!json_is_object(j))
		return berr_set(err, EINVAL, "token response: not a JSON object");
	json_t *tok = json_object_get(j, "token");
	if (!tok || (json_is_string(tok) && !*json_string_value(tok)))
		tok = json_object_get(j, "access_token");
	if (!json_is_string(tok) || !header_safe(json_string_value(tok)))
		return berr_set(err, EINVAL, "token response: no usable token");
	json_t *refresh = json_object_get(j, "refresh_token");
	if (refresh && !json_is_null(refresh) &&
	    (!json_is_string(refresh) || !header_safe(json_string_value(refresh))))
		return berr_set(err, EINVAL,
				"token response: refresh_token is not a usable string");
	json_t *exp = json_object_get(j, "expires_in");
	int64_t secs = 60;
	if (exp && !json_is_null(exp)) {
		if (!json_is_number(exp))
			return berr_set(err, EINVAL, "token response: expires_in is not a number");
		double d = json_number_value(exp);
		/* The spec's minimum is 60 s; a year caps nonsense values. */
		secs = d > 60 ? (d < 31536000 ? (int64_t)d : 31536000) : 60;
	}
	ret->token = strdup(json_string_value(tok));
	if (refresh && json_is_string(refresh))
		ret->refresh_token = strdup(json_string_value(refresh));
	ret->expires_in = secs;
	if (!ret->token || (json_is_string(refresh) && !ret->refresh_token)) {
		reg_token_clear(ret);
		return berr_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

char *reg_scope_repo(const char *repo, const char *actions)
{
	char *s;
	if (asprintf(&s, "repository:%s:%s", repo, actions) < 0)
		return NULL;
	return s;
}

/* ---- the token cache ---- */

struct cached_token {
	char *key; /* realm NUL-separated from service and the sorted scopes, as one string */
	char *token;
	int64_t expires; /* monotonic seconds */
};

struct reg_token_cache {
	pthread_mutex_t lock;
	struct cached_token *v;
	size_t n;
};

struct reg_token_cache *reg_token_cache_new(void)
{
	struct reg_token_cache *tc = calloc(1, sizeof(*tc));
	if (tc)
		pthread_mutex_init(&tc->lock, NULL);
	return tc;
}

void reg_token_cache_free(struct reg_token_cache *tc)
{
	if (!tc)
		return;
	for (size_t i = 0; i < tc->n; i++) {
		free(tc->v[i].key);
		free(tc->v[i].token);
	}
	free(tc->v);
	pthread_mutex_destroy(&tc->lock);
	free(tc);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "realm\nservice\nscope1 scope2" with the scopes sorted and deduplicated, so that the
 * same set in another order finds the same token. */
static char *cache_key(const char *realm, const char *service, const char *scopes)
{
	_cleanup_free_ char *copy = strdup(scopes ? scopes : "");
	_cleanup_free_ char **words = NULL;
	size_t n = 0, cap = 0;
	if (!copy)
		return NULL;
	for (char *save = NULL, *w = strtok_r(copy, " ", &save); w;
	     w = strtok_r(NULL, " ", &save)) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			char **g = realloc(words, cap * sizeof(*g));
			if (!g)
				return NULL;
			words = g;
		}
		words[n++] = w;
	}
	if (n)
		qsort(words, n, sizeof(*words), cmp_str);
	struct buf b = BUF_INIT;
	int r = buf_printf(&b, "%s\n%s\n", realm ? realm : "", service ? service : "");
	for (size_t i = 0; i < n && r >= 0; i++)
		if (i == 0 || !streq(words[i], words[i - 1]))
			r = buf_printf(&b, "%s%s", i ? " " : "", words[i]);
	if (r < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

char *reg_token_cache_get(struct reg_token_cache *tc, const char *realm, const char *service,
			  const char *scopes, int64_t now)
{
	_cleanup_free_ char *key = cache_key(realm, service, scopes);
	char *out = NULL;
	if (!key)
		return NULL;
	pthread_mutex_lock(&tc->lock);
	for (size_t i = 0; i < tc->n; i++)
		if (streq(tc->v[i].key, key) && tc->v[i].expires - 10 > now) {
			out = strdup(tc->v[i].token);
			break;
		}
	pthread_mutex_unlock(&tc->lock);
	return out;
}

int reg_token_cache_put(struct reg_token_cache *tc, const char *realm, const char *service,
			const char *scopes, const char *token, int64_t expires_in, int64_t now)
{
	_cleanup_free_ char *key = cache_key(realm, service, scopes);
	_cleanup_free_ char *tok = strdup(token);
	if (!key || !tok)
		return -ENOMEM;
	pthread_mutex_lock(&tc->lock);
	int r = 0;
	size_t i;
	for (i = 0; i < tc->n; i++)
		if (streq(tc->v[i].key, key))
			break;
	if (i == tc->n) {
		struct cached_token *g = realloc(tc->v, (tc->n + 1) * sizeof(*g));
		if (!g) {
			r = -ENOMEM;
			goto out;
		}
		tc->v = g;
		tc->v[i].key = TAKE_PTR(key);
		tc->v[i].token = NULL;
		tc->n++;
	}
	free(tc->v[i].token);
	tc->v[i].token = TAKE_PTR(tok);
	tc->v[i].expires = now + expires_in;
out:
	pthread_mutex_unlock(&tc->lock);
	return r;
}

void reg_token_cache_drop(struct reg_token_cache *tc, const char *realm, const char *service,
			  const char *scopes)
{
	_cleanup_free_ char *key = cache_key(realm, service, scopes);
	if (!key)
		return;
	pthread_mutex_lock(&tc->lock);
	for (size_t i = 0; i < tc->n; i++)
		if (streq(tc->v[i].key, key))
			tc->v[i].expires = 0;
	pthread_mutex_unlock(&tc->lock);
}
