/* Image configs: Dockerfile change instructions, fresh configs, untrusted configs.
 *
 * The instruction semantics follow Docker's builder (moby builder/dockerfile and the
 * buildkit Dockerfile frontend it uses): which instructions expand $VARs, the two ENV/LABEL
 * syntaxes, exec form vs shell form, port specs as go-connections/nat parses them. The
 * behaviour was checked against dockerd 20.10 with `docker import -c`.
 */
#include "imgconfig.h"
#include "buf.h"
#include "digest.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "banned.h"

#define ESCAPE '\\'

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static const char *skip_space(const char *s)
{
	while (*s && is_space(*s))
		s++;
	return s;
}

/* A copy of s with white space trimmed at both ends. NULL on ENOMEM. */
static char *trim_dup(const char *s)
{
	s = skip_space(s);
	size_t n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		n--;
	return strndup(s, n);
}

static void upper_copy(char *dst, size_t cap, const char *src)
{
	size_t i;
	for (i = 0; i + 1 < cap && src[i]; i++)
		dst[i] = (char)toupper((unsigned char)src[i]);
	dst[i] = '\0';
}

/* ---- words ---- */

int imgconfig_split_words(const char *rest, struct strv *ret)
{
	/* Docker's parseWords: quotes and escapes stay in the words (the expansion step
	 * removes them); a quoted empty string is a word of its own. */
	enum { IN_SPACES, IN_WORD, IN_QUOTE } phase = IN_SPACES;
	_cleanup_buf_ struct buf word = BUF_INIT;
	int blank_ok = 0, r;
	char quote = 0;
	size_t len = strlen(rest);

	for (size_t pos = 0; pos <= len; pos++) {
		char ch = pos < len ? rest[pos] : '\0';
		if (phase == IN_SPACES) {
			if (pos == len)
				break;
			if (is_space(ch))
				continue;
			phase = IN_WORD;
		}
		if (pos == len) {
			if (blank_ok || word.len > 0) {
				if ((r = strv_push(ret, word.data ? word.data : "")) < 0)
					return r;
			}
			break;
		}
		if (phase == IN_WORD) {
			if (is_space(ch)) {
				phase = IN_SPACES;
				if (blank_ok || word.len > 0) {
					if ((r = strv_push(ret, word.data ? word.data : "")) < 0)
						return r;
				}
				buf_reset(&word);
				blank_ok = 0;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = 1;
				phase = IN_QUOTE;
			}
			if (ch == ESCAPE) {
				if (pos + 1 == len)
					continue; /* an escape at the very end is dropped */
				if ((r = buf_putc(&word, ch)) < 0)
					return r;
				ch = rest[++pos];
			}
			if ((r = buf_putc(&word, ch)) < 0)
				return r;
			continue;
		}
		/* IN_QUOTE */
		if (ch == quote)
			phase = IN_WORD;
		if (ch == ESCAPE && quote != '\'') {
			if (pos + 1 == len) {
				phase = IN_WORD;
				continue;
			}
			if ((r = buf_putc(&word, ch)) < 0)
				return r;
			ch = rest[++pos];
		}
		if ((r = buf_putc(&word, ch)) < 0)
			return r;
	}
	return 0;
}

/* ---- $VAR expansion ---- */

struct lexer {
	const char *s;
	size_t pos;
	char *const *env;  /* config Env: wins */
	size_t nenv;
	char *const *args; /* build args, NULL-terminated or NULL */
};

static int lex_peek(const struct lexer *l)
{
	return (unsigned char)l->s[l->pos];
}

static int lex_next(struct lexer *l)
{
	int c = (unsigned char)l->s[l->pos];
	if (c)
		l->pos++;
	return c;
}

static const char *env_find(char *const *v, size_t n, const char *name)
{
	size_t nl = strlen(name);
	const char *found = NULL;
	for (size_t i = 0; i < n && v[i]; i++)
		if (strncmp(v[i], name, nl) == 0 && v[i][nl] == '=')
			found = v[i] + nl + 1; /* later entries win */
	return found;
}

static const char *lex_getenv(const struct lexer *l, const char *name)
{
	const char *v = env_find(l->env, l->nenv, name);
	if (!v && l->args)
		v = env_find(l->args, SIZE_MAX, name);
	return v;
}

static int is_special_param(int c)
{
	return c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' || c == '!' ||
	       c == '0';
}

static int lex_name(struct lexer *l, struct buf *name)
{
	int r;
	while (lex_peek(l)) {
		int c = lex_peek(l);
		if (name->len == 0 && isdigit(c)) {
			while (isdigit(lex_peek(l)))
				if ((r = buf_putc(name, (char)lex_next(l))) < 0)
					return r;
			return 0;
		}
		if (name->len == 0 && is_special_param(c))
			return buf_putc(name, (char)lex_next(l));
		if (!isalnum(c) && c != '_')
			break;
		if ((r = buf_putc(name, (char)lex_next(l))) < 0)
			return r;
	}
	return 0;
}

static int lex_until(struct lexer *l, int stop, struct buf *out, struct berr **err);

static int lex_dollar(struct lexer *l, struct buf *out, struct berr **err)
{
	_cleanup_buf_ struct buf name = BUF_INIT;
	int r;
	lex_next(l); /* '$' */
	if (lex_peek(l) != '{') {
		if ((r = lex_name(l, &name)) < 0)
			return r;
		if (name.len == 0)
			return buf_putc(out, '$');
		const char *v = lex_getenv(l, name.data);
		return v ? buf_puts(out, v) : 0;
	}
	lex_next(l); /* '{' */
	int c = lex_peek(l);
	if (c == 0)
		return berr_set(err, EINVAL, "syntax error: missing '}'");
	if (c == '{' || c == '}' || c == ':')
		return berr_set(err, EINVAL, "syntax error: bad substitution");
	if ((r = lex_name(l, &name)) < 0)
		return r;
	const char *value = name.len ? lex_getenv(l, name.data) : NULL;
	c = lex_next(l);
	if (c == '}')
		return value ? buf_puts(out, value) : 0;
	int colon = 0;
	if (c == ':') {
		colon = 1;
		c = lex_next(l);
	}
	if (c != '-' && c != '+' && c != '?') {
		if (!colon)
			return berr_set(err, EINVAL, "missing ':' in substitution");
		return berr_set(err, EINVAL, "unsupported modifier (%c) in substitution",
				c ? c : '?');
	}
	_cleanup_buf_ struct buf word = BUF_INIT;
	r = lex_until(l, '}', &word, err);
	if (r < 0)
		return r;
	if (r == 0)
		return berr_set(err, EINVAL, "syntax error: missing '}'");
	/* With a colon, an empty value counts as unset (POSIX shell rules). */
	int set = value && (!colon || value[0]);
	const char *w = word.data ? word.data : "";
	switch (c) {
	case '-':
		return buf_puts(out, set ? value : w);
	case '+':
		return set ? buf_puts(out, w) : 0;
	default: /* '?' */
		if (!set)
			return berr_set(err, EINVAL, "%s: %s", name.data ? name.data : "",
					word.len ? w : "is not allowed to be unset");
		return buf_puts(out, value);
	}
}

/* Process characters until stop (consumed; returns 1) or the end (returns 0). */
static int lex_until(struct lexer *l, int stop, struct buf *out, struct berr **err)
{
	int r = 0, c;
	while ((c = lex_peek(l)) != 0) {
		if (stop && c == stop) {
			lex_next(l);
			return 1;
		}
		if (c == '\'') {
			lex_next(l);
			for (;;) {
				c = lex_next(l);
				if (c == 0)
					return berr_set(err, EINVAL,
							"unexpected end of statement while looking for matching single-quote");
				if (c == '\'')
					break;
				if ((r = buf_putc(out, (char)c)) < 0)
					return r;
			}
			continue;
		}
		if (c == '"') {
			lex_next(l);
			for (;;) {
				c = lex_peek(l);
				if (c == 0)
					return berr_set(err, EINVAL,
							"unexpected end of statement while looking for matching double-quote");
				if (c == '"') {
					lex_next(l);
					break;
				}
				if (c == '$') {
					if ((r = lex_dollar(l, out, err)) < 0)
						return r;
					continue;
				}
				lex_next(l);
				if (c == ESCAPE) {
					int n = lex_peek(l);
					if (n == 0)
						continue;
					/* Inside double quotes only these can be escaped; any other
					 * backslash stays as written. */
					if (n == '"' || n == '$' || n == ESCAPE)
						c = lex_next(l);
				}
				if ((r = buf_putc(out, (char)c)) < 0)
					return r;
			}
			continue;
		}
		if (c == '$') {
			if ((r = lex_dollar(l, out, err)) < 0)
				return r;
			continue;
		}
		lex_next(l);
		if (c == ESCAPE) {
			if (lex_peek(l) == 0)
				break; /* a trailing escape is dropped */
			c = lex_next(l);
		}
		if ((r = buf_putc(out, (char)c)) < 0)
			return r;
	}
	return 0;
}

static int expand_word(const struct lexer *proto, const char *word, char **ret, struct berr **err)
{
	struct lexer l = *proto;
	_cleanup_buf_ struct buf out = BUF_INIT;
	l.s = word;
	l.pos = 0;
	int r = lex_until(&l, 0, &out, err);
	if (r < 0)
		return berr_wrap(err, "failed to process \"%s\"", word);
	char *s = buf_steal(&out);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int imgconfig_expand_word(const char *word, char *const *env, size_t nenv, char **ret,
			  struct berr **err)
{
	struct lexer l = {.env = env, .nenv = env ? nenv : 0};
	return expand_word(&l, word, ret, err);
}

/* ---- config helpers ---- */

/* Env of the config as a plain vector of borrowed strings (non-strings skipped). */
static char **config_env(json_t *config, size_t *ret_n)
{
	json_t *env = json_object_get(config, "Env");
	size_t n = json_is_array(env) ? json_array_size(env) : 0, k = 0;
	char **v = calloc(n + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(env, i));
		if (s)
			v[k++] = (char *)s;
	}
	*ret_n = k;
	return v;
}

struct expander {
	struct lexer lex;
	char **env; /* owned array of borrowed strings */
};

static int expander_init(struct expander *x, const struct imgconfig_changer *c)
{
	size_t n = 0;
	x->env = config_env(c->config, &n);
	if (!x->env)
		return -ENOMEM;
	x->lex = (struct lexer){.env = x->env, .nenv = n, .args = c->build_args};
	return 0;
}

static void expander_done(struct expander *x)
{
	free(x->env);
	x->env = NULL;
}

/* Set config[key] to a new empty object when it is not an object yet; return it. */
static json_t *config_object(json_t *config, const char *key)
{
	json_t *o = json_object_get(config, key);
	if (json_is_object(o))
		return o;
	o = json_object();
	if (!o || json_object_set_new(config, key, o) < 0)
		return NULL;
	return o;
}

static int env_set(json_t *config, const char *key, const char *value)
{
	_cleanup_free_ char *kv = NULL;
	if (asprintf(&kv, "%s=%s", key, value) < 0)
		return -ENOMEM;
	json_t *env = json_object_get(config, "Env");
	if (!json_is_array(env)) {
		env = json_array();
		if (!env || json_object_set_new(config, "Env", env) < 0)
			return -ENOMEM;
	}
	size_t kl = strlen(key);
	for (size_t i = 0; i < json_array_size(env); i++) {
		const char *s = json_string_value(json_array_get(env, i));
		if (s && strncmp(s, key, kl) == 0 && s[kl] == '=')
			return json_array_set_new(env, i, json_string(kv)) < 0 ? -ENOMEM : 0;
	}
	return json_array_append_new(env, json_string(kv)) < 0 ? -ENOMEM : 0;
}

/* Exec form: rest is a JSON array of strings. Returns 1 with *ret set, 0 when rest is not
 * JSON (shell form), or -EINVAL for an array with non-strings (Docker refuses those rather
 * than running them through a shell). Like Go's json.Decoder, text after the array is
 * ignored. */
static int parse_exec_form(const char *rest, json_t **ret, struct berr **err)
{
	rest = skip_space(rest);
	if (*rest != '[')
		return 0;
	json_t *a = json_loads(rest, JSON_DISABLE_EOF_CHECK, NULL);
	if (!a)
		return 0;
	if (!json_is_array(a)) {
		json_decref(a);
		return 0;
	}
	for (size_t i = 0; i < json_array_size(a); i++)
		if (!json_is_string(json_array_get(a, i))) {
			json_decref(a);
			return berr_set(err, EINVAL,
					"when using JSON array syntax, arrays must be comprised of strings only");
		}
	*ret = a;
	return 1;
}

/* The command of CMD/ENTRYPOINT/HEALTHCHECK CMD: exec form as is, shell form after the
 * config's Shell (default /bin/sh -c). *ret is NULL for ENTRYPOINT with no text. */
static int command_line(json_t *config, const char *rest, int empty_as_null, json_t **ret,
			struct berr **err)
{
	json_t *a = NULL;
	int r = parse_exec_form(rest, &a, err);
	if (r < 0)
		return r;
	if (r == 1) {
		*ret = a;
		return 0;
	}
	if (!*rest && empty_as_null) {
		*ret = NULL;
		return 0;
	}
	json_t *shell = json_object_get(config, "Shell");
	if (json_is_array(shell) && json_array_size(shell) > 0)
		a = json_deep_copy(shell);
	else {
		a = json_array();
		if (a) {
			json_array_append_new(a, json_string("/bin/sh"));
			json_array_append_new(a, json_string("-c"));
		}
	}
	if (!a)
		return -ENOMEM;
	if (*rest && json_array_append_new(a, json_string(rest)) < 0) {
		json_decref(a);
		return -ENOMEM;
	}
	*ret = a;
	return 0;
}

/* ---- ports (go-connections/nat) ---- */

static int parse_u16(const char *s, size_t n, unsigned *ret)
{
	if (n == 0 || n > 5)
		return -EINVAL;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_port_range(const char *s, unsigned *start, unsigned *end)
{
	const char *dash = strchr(s, '-');
	if (!dash) {
		if (parse_u16(s, strlen(s), start) < 0)
			return -EINVAL;
		*end = *start;
		return 0;
	}
	const char *d2 = strchr(dash + 1, '-');
	size_t n2 = d2 ? (size_t)(d2 - dash - 1) : strlen(dash + 1);
	if (parse_u16(s, (size_t)(dash - s), start) < 0 || parse_u16(dash + 1, n2, end) < 0 ||
	    *end < *start)
		return -EINVAL;
	return 0;
}

static int add_port_spec(json_t *ports, const char *raw, struct berr **err)
{
	_cleanup_free_ char *copy = strdup(raw);
	if (!copy)
		return -ENOMEM;
	/* ip:host:container — only the container part is exposed, the others are checked. */
	char *container = strrchr(copy, ':');
	char *host = NULL, *ip = NULL;
	if (container) {
		*container++ = '\0';
		host = strrchr(copy, ':');
		if (host) {
			*host++ = '\0';
			ip = copy;
		} else
			host = copy;
	} else
		container = copy;

	char tcp[] = "tcp";
	char *proto = tcp;
	char *slash = strchr(container, '/');
	if (slash) {
		*slash = '\0';
		char *p = slash + 1;
		char *s2 = strchr(p, '/');
		if (s2)
			*s2 = '\0';
		if (*p)
			proto = p;
	}
	if (!*container)
		return berr_set(err, EINVAL, "No port specified: %s<empty>", raw);
	unsigned start, end;
	if (parse_port_range(container, &start, &end) < 0)
		return berr_set(err, EINVAL, "Invalid containerPort: %s", container);
	if (ip && *ip) {
		char addr[64];
		size_t il = strlen(ip);
		const char *a = ip;
		if (il >= 2 && ip[0] == '[' && ip[il - 1] == ']') {
			a = ip + 1;
			il -= 2;
		}
		unsigned char tmp[16];
		if (il >= sizeof(addr))
			return berr_set(err, EINVAL, "Invalid ip address: %s", ip);
		memcpy(addr, a, il);
		addr[il] = '\0';
		if (inet_pton(AF_INET, addr, tmp) != 1 && inet_pton(AF_INET6, addr, tmp) != 1)
			return berr_set(err, EINVAL, "Invalid ip address: %s", ip);
	}
	unsigned hs, he;
	if (host && *host && parse_port_range(host, &hs, &he) < 0)
		return berr_set(err, EINVAL, "Invalid hostPort: %s", host);
	for (char *p = proto; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!streq(proto, "tcp") && !streq(proto, "udp") && !streq(proto, "sctp"))
		return berr_set(err, EINVAL, "Invalid proto: %s", proto);
	for (unsigned p = start; p <= end; p++) {
		char key[32];
		snprintf(key, sizeof(key), "%u/%s", p, proto);
		if (json_object_set_new(ports, key, json_object()) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* ---- durations (Go's time.ParseDuration) ---- */

static int parse_duration(const char *s, int64_t *ret)
{
	const char *p = s;
	int neg = 0;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (streq(p, "0")) {
		*ret = 0;
		return 0;
	}
	if (!*p)
		return -EINVAL;
	long double total = 0;
	while (*p) {
		if (!isdigit((unsigned char)*p) && *p != '.')
			return -EINVAL;
		long double v = 0, scale = 1;
		int digits = 0, seen_dot = 0;
		while (isdigit((unsigned char)*p) || (*p == '.' && !seen_dot)) {
			if (*p == '.')
				seen_dot = 1;
			else {
				digits++;
				if (seen_dot) {
					scale /= 10;
					v += (*p - '0') * scale;
				} else
					v = v * 10 + (*p - '0');
			}
			p++;
		}
		if (!digits)
			return -EINVAL;
		long double unit;
		if (strncmp(p, "ns", 2) == 0)
			unit = 1, p += 2;
		else if (strncmp(p, "us", 2) == 0)
			unit = 1e3, p += 2;
		else if (strncmp(p, "\xc2\xb5s", 3) == 0 || strncmp(p, "\xce\xbcs", 3) == 0)
			unit = 1e3, p += 3;
		else if (strncmp(p, "ms", 2) == 0)
			unit = 1e6, p += 2;
		else if (*p == 's')
			unit = 1e9, p++;
		else if (*p == 'm')
			unit = 60e9, p++;
		else if (*p == 'h')
			unit = 3600e9, p++;
		else
			return -EINVAL;
		total += v * unit;
		if (total > (long double)INT64_MAX)
			return -EINVAL;
	}
	*ret = (int64_t)(neg ? -total : total);
	return 0;
}

/* ---- signals ---- */

static int valid_signal(const char *raw)
{
	static const char *const names[] = {
		"ABRT", "ALRM", "BUS",  "CHLD", "CLD",  "CONT",   "FPE",  "HUP",   "ILL",
		"INT",  "IO",   "IOT",  "KILL", "PIPE", "POLL",   "PROF", "PWR",   "QUIT",
		"SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP",  "TSTP", "TTIN",  "TTOU",
		"URG",  "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
	};
	char up[32];
	if (!*raw)
		return 0;
	if (isdigit((unsigned char)raw[0])) {
		char *end;
		long v = strtol(raw, &end, 10);
		return *end == '\0' && v >= 1 && v <= 64;
	}
	upper_copy(up, sizeof(up), raw);
	const char *n = strncmp(up, "SIG", 3) == 0 ? up + 3 : up;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (streq(n, names[i]))
			return 1;
	/* RTMIN+n, RTMAX-n */
	if ((strncmp(n, "RTMIN+", 6) == 0 || strncmp(n, "RTMAX-", 6) == 0) && isdigit((unsigned char)n[6])) {
		char *end;
		long v = strtol(n + 6, &end, 10);
		return *end == '\0' && v >= 1 && v <= 15;
	}
	return 0;
}

/* ---- instructions ---- */

/* ENV and LABEL: "K=V ..." or the old "K V..." form. Keys and values are expanded against
 * the config as it was before this instruction. */
static int name_values(struct imgconfig_changer *c, const char *kw, const char *rest,
		       struct strv *keys, struct strv *values, struct berr **err)
{
	_cleanup_strv_ struct strv words = STRV_INIT;
	struct expander x;
	int r = imgconfig_split_words(rest, &words);
	if (r < 0)
		return r;
	if (words.n == 0)
		return berr_set(err, EINVAL, "%s requires at least one argument", kw);
	if ((r = expander_init(&x, c)) < 0)
		return r;
	if (!strchr(words.v[0], '=')) {
		/* Old form: the key, then everything after the first run of white space. */
		const char *p = rest;
		while (*p && !is_space(*p))
			p++;
		_cleanup_free_ char *key = strndup(rest, (size_t)(p - rest));
		p = skip_space(p);
		if (!key) {
			r = -ENOMEM;
			goto out;
		}
		if (!*p) {
			r = berr_set(err, EINVAL, "%s must have two arguments", kw);
			goto out;
		}
		char *k = NULL, *v = NULL;
		if ((r = expand_word(&x.lex, key, &k, err)) < 0)
			goto out;
		if ((r = strv_push_take(keys, k)) < 0)
			goto out;
		if ((r = expand_word(&x.lex, p, &v, err)) < 0)
			goto out;
		r = strv_push_take(values, v);
		goto out;
	}
	for (size_t i = 0; i < words.n; i++) {
		char *eq = strchr(words.v[i], '=');
		if (!eq) {
			r = berr_set(err, EINVAL,
				     "Syntax error - can't find = in \"%s\". Must be of the form: name=value",
				     words.v[i]);
			goto out;
		}
		*eq = '\0';
		char *k = NULL, *v = NULL;
		if ((r = expand_word(&x.lex, words.v[i], &k, err)) < 0)
			goto out;
		if ((r = strv_push_take(keys, k)) < 0)
			goto out;
		if ((r = expand_word(&x.lex, eq + 1, &v, err)) < 0)
			goto out;
		if ((r = strv_push_take(values, v)) < 0)
			goto out;
	}
	r = 0;
out:
	expander_done(&x);
	return r;
}

static int do_env_label(struct imgconfig_changer *c, const char *kw, const char *rest,
			struct berr **err)
{
	_cleanup_strv_ struct strv keys = STRV_INIT, values = STRV_INIT;
	int label = streq(kw, "LABEL");
	int r = name_values(c, kw, rest, &keys, &values, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < keys.n; i++)
		if (!keys.v[i][0])
			return berr_set(err, EINVAL, "%s names can not be blank", kw);
	json_t *labels = NULL;
	if (label && !(labels = config_object(c->config, "Labels")))
		return -ENOMEM;
	for (size_t i = 0; i < keys.n; i++) {
		if (label)
			r = json_object_set_new(labels, keys.v[i], json_string(values.v[i])) < 0 ? -ENOMEM : 0;
		else
			r = env_set(c->config, keys.v[i], values.v[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int do_expose(struct imgconfig_changer *c, const char *rest, struct berr **err)
{
	_cleanup_free_ char *copy = strdup(rest);
	struct expander x;
	int r, count = 0;
	if (!copy)
		return -ENOMEM;
	/* Check every spec before changing anything. */
	_cleanup_json_ json_t *ports = json_object();
	if (!ports)
		return -ENOMEM;
	if ((r = expander_init(&x, c)) < 0)
		return r;
	char *save = NULL;
	for (char *w = strtok_r(copy, " \t\r\n\v\f", &save); w; w = strtok_r(NULL, " \t\r\n\v\f", &save)) {
		_cleanup_free_ char *spec = NULL;
		if ((r = expand_word(&x.lex, w, &spec, err)) < 0)
			break;
		if ((r = add_port_spec(ports, spec, err)) < 0)
			break;
		count++;
	}
	expander_done(&x);
	if (r < 0)
		return r;
	if (count == 0)
		return berr_set(err, EINVAL, "EXPOSE requires at least one argument");
	json_t *dst = config_object(c->config, "ExposedPorts");
	if (!dst || json_object_update(dst, ports) < 0)
		return -ENOMEM;
	return 0;
}

static int do_volume(struct imgconfig_changer *c, const char *rest, struct berr **err)
{
	_cleanup_json_ json_t *list = NULL;
	_cleanup_strv_ struct strv vols = STRV_INIT;
	struct expander x;
	int r = parse_exec_form(rest, &list, err);
	if (r < 0)
		return r;
	if ((r = expander_init(&x, c)) < 0)
		return r;
	if (list) {
		for (size_t i = 0; i < json_array_size(list) && r >= 0; i++) {
			char *v = NULL;
			r = expand_word(&x.lex, json_string_value(json_array_get(list, i)), &v, err);
			if (r >= 0)
				r = strv_push_take(&vols, v);
		}
	} else {
		_cleanup_free_ char *copy = strdup(rest);
		char *save = NULL;
		if (!copy)
			r = -ENOMEM;
		for (char *w = copy ? strtok_r(copy, " \t\r\n\v\f", &save) : NULL; w && r >= 0;
		     w = strtok_r(NULL, " \t\r\n\v\f", &save)) {
			char *v = NULL;
			r = expand_word(&x.lex, w, &v, err);
			if (r >= 0)
				r = strv_push_take(&vols, v);
		}
	}
	expander_done(&x);
	if (r < 0)
		return r;
	if (vols.n == 0)
		return berr_set(err, EINVAL, "VOLUME requires at least one argument");
	for (size_t i = 0; i < vols.n; i++) {
		const char *p = skip_space(vols.v[i]);
		if (!*p)
			return berr_set(err, EINVAL, "VOLUME specified can not be an empty string");
	}
	json_t *dst = config_object(c->config, "Volumes");
	if (!dst)
		return -ENOMEM;
	for (size_t i = 0; i < vols.n; i++)
		if (json_object_set_new(dst, vols.v[i], json_object()) < 0)
			return -ENOMEM;
	return 0;
}

/* Go's path.Clean for an absolute path. */
static char *path_clean_abs(const char *path)
{
	size_t n = strlen(path);
	char *out = malloc(n + 2);
	if (!out)
		return NULL;
	size_t o = 0;
	out[o++] = '/';
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t len = (size_t)(p - s);
		if (len == 0 || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--; /* the slash before the removed component */
			continue;
		}
		if (o > 1)
			out[o++] = '/';
		memcpy(out + o, s, len);
		o += len;
	}
	out[o] = '\0';
	return out;
}

static int do_single(struct imgconfig_changer *c, const char *kw, const char *rest,
		     struct berr **err)
{
	struct expander x;
	_cleanup_free_ char *v = NULL;
	int r;
	if (!*rest)
		return berr_set(err, EINVAL, "%s requires exactly one argument", kw);
	if ((r = expander_init(&x, c)) < 0)
		return r;
	r = expand_word(&x.lex, rest, &v, err);
	expander_done(&x);
	if (r < 0)
		return r;
	const char *key;
	if (streq(kw, "USER"))
		key = "User";
	else if (streq(kw, "STOPSIGNAL")) {
		if (!valid_signal(v))
			return berr_set(err, EINVAL, "Invalid signal: %s", v);
		key = "StopSignal";
	} else {
		key = "WorkingDir";
		if (v[0] != '/') {
			/* Relative: joined to the current directory and cleaned, as Go's
			 * filepath.Join does; an absolute one is kept as written. */
			const char *cur = json_string_value(json_object_get(c->config, "WorkingDir"));
			_cleanup_free_ char *joined = NULL;
			if (asprintf(&joined, "/%s/%s", cur ? cur : "", v) < 0)
				return -ENOMEM;
			free(v);
			v = path_clean_abs(joined);
			if (!v)
				return -ENOMEM;
		}
	}
	return json_object_set_new(c->config, key, json_string(v)) < 0 ? -ENOMEM : 0;
}

static int do_cmd(struct imgconfig_changer *c, const char *kw, const char *rest,
		  struct berr **err)
{
	int entry = streq(kw, "ENTRYPOINT");
	json_t *cmd = NULL;
	int r = command_line(c->config, rest, entry, &cmd, err);
	if (r < 0)
		return r;
	if (json_object_set_new(c->config, entry ? "Entrypoint" : "Cmd", cmd ? cmd : json_null()) < 0)
		return -ENOMEM;
	if (!entry)
		c->cmd_set = 1;
	else if (!c->cmd_set)
		/* A new entrypoint makes an inherited CMD meaningless, as in a Dockerfile. */
		json_object_set_new(c->config, "Cmd", json_null());
	return 0;
}

static int do_shell(struct imgconfig_changer *c, const char *rest, struct berr **err)
{
	json_t *a = NULL;
	int r = parse_exec_form(rest, &a, err);
	if (r < 0)
		return r;
	if (r == 0)
		return berr_set(err, EINVAL, "SHELL requires the arguments to be in JSON form");
	if (json_array_size(a) == 0) {
		json_decref(a);
		return berr_set(err, EINVAL, "SHELL requires at least one argument");
	}
	return json_object_set_new(c->config, "Shell", a) < 0 ? -ENOMEM : 0;
}

static int do_onbuild(struct imgconfig_changer *c, const char *rest, struct berr **err)
{
	if (!*rest)
		return berr_set(err, EINVAL, "ONBUILD requires at least one argument");
	char trigger[32];
	size_t n = 0;
	while (rest[n] && !is_space(rest[n]) && n + 1 < sizeof(trigger)) {
		trigger[n] = (char)toupper((unsigned char)rest[n]);
		n++;
	}
	trigger[n] = '\0';
	if (streq(trigger, "ONBUILD"))
		return berr_set(err, EINVAL, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
	if (streq(trigger, "FROM") || streq(trigger, "MAINTAINER"))
		return berr_set(err, EINVAL, "%s isn't allowed as an ONBUILD trigger", trigger);
	json_t *list = json_object_get(c->config, "OnBuild");
	if (!json_is_array(list)) {
		list = json_array();
		if (!list || json_object_set_new(c->config, "OnBuild", list) < 0)
			return -ENOMEM;
	}
	return json_array_append_new(list, json_string(rest)) < 0 ? -ENOMEM : 0;
}

static int do_healthcheck(struct imgconfig_changer *c, const char *rest, struct berr **err)
{
	static const struct {
		const char *flag, *key, *what;
	} durations[] = {
		{"interval", "Interval", "Interval"},
		{"timeout", "Timeout", "Timeout"},
		{"start-period", "StartPeriod", "StartPeriod"},
		{"start-interval", "StartInterval", "StartInterval"},
	};
	_cleanup_json_ json_t *hc = json_object();
	int r;
	if (!hc)
		return -ENOMEM;
	const char *p = skip_space(rest);
	while (p[0] == '-' && p[1] == '-') {
		const char *end = p;
		while (*end && !is_space(*end))
			end++;
		_cleanup_free_ char *flag = strndup(p + 2, (size_t)(end - p - 2));
		if (!flag)
			return -ENOMEM;
		p = skip_space(end);
		char *eq = strchr(flag, '=');
		if (eq)
			*eq++ = '\0';
		size_t i;
		for (i = 0; i < ARRAY_SIZE(durations); i++)
			if (streq(flag, durations[i].flag))
				break;
		if (i == ARRAY_SIZE(durations) && !streq(flag, "retries"))
			return berr_set(err, EINVAL, "Unknown flag: %s", flag);
		if (!eq)
			return berr_set(err, EINVAL, "Missing a value on flag: %s", flag);
		if (i < ARRAY_SIZE(durations)) {
			int64_t d;
			if (parse_duration(eq, &d) < 0)
				return berr_set(err, EINVAL, "time: invalid duration \"%s\"", eq);
			if (d != 0 && d < 1000000)
				return berr_set(err, EINVAL, "%s \"%s\" cannot be less than 1ms",
						durations[i].what, flag);
			if (d && json_object_set_new(hc, durations[i].key, json_integer(d)) < 0)
				return -ENOMEM;
		} else {
			char *e;
			errno = 0;
			long long v = strtoll(eq, &e, 10);
			if (!*eq || *e || errno || v > INT32_MAX || v < INT32_MIN)
				return berr_set(err, EINVAL, "strconv.ParseInt: parsing \"%s\": invalid syntax", eq);
			if (v < 1)
				return berr_set(err, EINVAL, "--retries must be at least 1 (not %lld)", v);
			if (json_object_set_new(hc, "Retries", json_integer(v)) < 0)
				return -ENOMEM;
		}
	}
	const char *type_end = p;
	while (*type_end && !is_space(*type_end))
		type_end++;
	char type[32];
	size_t tl = (size_t)(type_end - p);
	if (tl >= sizeof(type))
		tl = sizeof(type) - 1;
	memcpy(type, p, tl);
	type[tl] = '\0';
	upper_copy(type, sizeof(type), type);
	const char *args = skip_space(type_end);
	json_t *test = NULL;
	if (streq(type, "NONE")) {
		if (*args)
			return berr_set(err, EINVAL, "HEALTHCHECK NONE takes no arguments");
		test = json_array();
		if (!test || json_array_append_new(test, json_string("NONE")) < 0) {
			json_decref(test);
			return -ENOMEM;
		}
	} else if (streq(type, "CMD")) {
		json_t *exec = NULL;
		if ((r = parse_exec_form(args, &exec, err)) < 0)
			return r;
		if (r == 1) {
			test = json_array();
			if (!test || json_array_append_new(test, json_string("CMD")) < 0 ||
			    json_array_extend(test, exec) < 0) {
				json_decref(test);
				json_decref(exec);
				return -ENOMEM;
			}
			json_decref(exec);
		} else {
			if (!*args)
				return berr_set(err, EINVAL, "Missing command after HEALTHCHECK CMD");
			_cleanup_free_ char *trimmed = trim_dup(args);
			test = json_array();
			if (!trimmed || !test || json_array_append_new(test, json_string("CMD-SHELL")) < 0 ||
			    json_array_append_new(test, json_string(trimmed)) < 0) {
				json_decref(test);
				return -ENOMEM;
			}
		}
	} else
		return berr_set(err, EINVAL, "Unknown type \"%s\" in HEALTHCHECK (try CMD)", type);
	if (json_object_set_new(hc, "Test", test) < 0)
		return -ENOMEM;
	/* Keep Test first, as Docker writes it. */
	_cleanup_json_ json_t *ordered = json_object();
	if (!ordered || json_object_set(ordered, "Test", test) < 0)
		return -ENOMEM;
	const char *k;
	json_t *v;
	json_object_foreach(hc, k, v)
		if (!streq(k, "Test") && json_object_set(ordered, k, v) < 0)
			return -ENOMEM;
	return json_object_set(c->config, "Healthcheck", ordered) < 0 ? -ENOMEM : 0;
}

enum kw_kind { KW_CHANGE, KW_CONFIG, KW_BUILD };

static const struct {
	const char *name;
	enum kw_kind kind;
} keywords[] = {
	{"ADD", KW_BUILD},         {"ARG", KW_BUILD},        {"CMD", KW_CHANGE},
	{"COPY", KW_BUILD},        {"ENTRYPOINT", KW_CHANGE}, {"ENV", KW_CHANGE},
	{"EXPOSE", KW_CHANGE},     {"FROM", KW_BUILD},       {"HEALTHCHECK", KW_CHANGE},
	{"LABEL", KW_CHANGE},      {"MAINTAINER", KW_BUILD}, {"ONBUILD", KW_CHANGE},
	{"RUN", KW_BUILD},         {"SHELL", KW_CONFIG},     {"STOPSIGNAL", KW_CHANGE},
	{"USER", KW_CHANGE},       {"VOLUME", KW_CHANGE},    {"WORKDIR", KW_CHANGE},
};

/* JSON strings are UTF-8: text that is not can not go into a config. */
static int utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2
		      : (*p & 0xf8) == 0xf0 ? 3 : -1;
		if (n < 0 || (n == 1 && *p < 0xc2) || (n == 3 && *p > 0xf4))
			return 0;
		unsigned cp = n == 0 ? *p : *p & (0x3f >> n);
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		p += n + 1;
	}
	return 1;
}

static int apply_instruction(struct imgconfig_changer *c, const char *keyword, const char *rest,
			     struct berr **err);

int imgconfig_apply_instruction(struct imgconfig_changer *c, const char *keyword,
				const char *rest, struct berr **err)
{
	if (!utf8_valid(keyword) || !utf8_valid(rest))
		return berr_set(err, EINVAL, "instruction is not valid UTF-8");
	int r = apply_instruction(c, keyword, rest, err);
	if (r < 0 && err && !*err)
		berr_set(err, r, "%s", strerror(-r));
	return r;
}

static int apply_instruction(struct imgconfig_changer *c, const char *keyword, const char *rest,
			     struct berr **err)
{
	char kw[16];
	size_t i;
	if (strlen(keyword) >= sizeof(kw))
		return berr_set(err, EINVAL, "unknown instruction: %.40s", keyword);
	upper_copy(kw, sizeof(kw), keyword);
	for (i = 0; i < ARRAY_SIZE(keywords); i++)
		if (streq(kw, keywords[i].name))
			break;
	if (i == ARRAY_SIZE(keywords))
		return berr_set(err, EINVAL, "unknown instruction: %s", kw);
	if (keywords[i].kind != KW_CHANGE && (c->flags & IMGCONFIG_CHANGE)) {
		char lower[16];
		for (size_t k = 0; k < sizeof(lower); k++)
			lower[k] = (char)tolower((unsigned char)kw[k]);
		return berr_set(err, EINVAL, "%s is not a valid change command", lower);
	}
	if (keywords[i].kind == KW_BUILD)
		return berr_set(err, EOPNOTSUPP, "%s does not change the image config", kw);
	if (!json_is_object(c->config))
		return berr_set(err, EINVAL, "the image config is not an object");

	_cleanup_free_ char *r = trim_dup(rest);
	if (!r)
		return -ENOMEM;
	if (streq(kw, "ENV") || streq(kw, "LABEL"))
		return do_env_label(c, kw, r, err);
	if (streq(kw, "EXPOSE"))
		return do_expose(c, r, err);
	if (streq(kw, "VOLUME"))
		return do_volume(c, r, err);
	if (streq(kw, "USER") || streq(kw, "WORKDIR") || streq(kw, "STOPSIGNAL"))
		return do_single(c, kw, r, err);
	if (streq(kw, "CMD") || streq(kw, "ENTRYPOINT"))
		return do_cmd(c, kw, r, err);
	if (streq(kw, "SHELL"))
		return do_shell(c, r, err);
	if (streq(kw, "ONBUILD"))
		return do_onbuild(c, r, err);
	return do_healthcheck(c, r, err);
}

/* A line that ends with the escape character (then maybe blanks) continues on the next. */
static int continues(const char *line, size_t *ret_len)
{
	size_t n = strlen(line);
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
		n--;
	if (n > 0 && line[n - 1] == ESCAPE) {
		*ret_len = n - 1;
		return 1;
	}
	*ret_len = strlen(line);
	return 0;
}

static int run_instruction(struct imgconfig_changer *c, const char *text, unsigned line,
			   struct berr **err)
{
	const char *p = skip_space(text);
	const char *end = p;
	while (*end && !is_space(*end))
		end++;
	_cleanup_free_ char *kw = strndup(p, (size_t)(end - p));
	if (!kw)
		return -ENOMEM;
	int r = imgconfig_apply_instruction(c, kw, end, err);
	if (r < 0 && err && *err && strncmp((*err)->msg, "unknown instruction", 19) == 0)
		berr_wrap(err, "dockerfile parse error on line %u", line);
	return r;
}

int imgconfig_apply_changes(json_t *config, char *const *changes, size_t n, int flags,
			    struct berr **err)
{
	struct imgconfig_changer c = {.config = config, .flags = flags};
	_cleanup_buf_ struct buf all = BUF_INIT;
	_cleanup_buf_ struct buf cur = BUF_INIT;
	unsigned lineno = 0, start = 0;
	int count = 0, in_cont = 0, r;

	for (size_t i = 0; i < n; i++)
		if ((i && buf_putc(&all, '\n') < 0) || buf_puts(&all, changes[i]) < 0)
			return -ENOMEM;
	char *text = all.data ? all.data : "";
	char *save = NULL;
	/* Split by hand: strtok would merge empty lines and shift the line numbers. */
	for (char *line = text; line; line = save) {
		char *nl = strchr(line, '\n');
		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		const char *t = skip_space(line);
		if (*t == '#' || (!*t && !in_cont) || (!*t && in_cont))
			continue; /* comments and blank lines, also inside a continuation */
		size_t len;
		int more = continues(line, &len);
		if (!in_cont) {
			buf_reset(&cur);
			start = lineno;
		}
		if (buf_append(&cur, line, len) < 0)
			return -ENOMEM;
		in_cont = more;
		if (more)
			continue;
		if ((r = run_instruction(&c, cur.data, start, err)) < 0)
			return r;
		count++;
	}
	if (in_cont && cur.len) {
		if ((r = run_instruction(&c, cur.data, start, err)) < 0)
			return r;
		count++;
	}
	if (count == 0)
		return berr_set(err, EINVAL, "file with no instructions");
	return 0;
}

/* ---- building ---- */

char *imgconfig_now(void)
{
	struct timespec ts;
	struct tm tm;
	char date[32], frac[16];
	char *out = NULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	frac[0] = '\0';
	if (ts.tv_nsec) {
		snprintf(frac, sizeof(frac), ".%09ld", ts.tv_nsec);
		size_t n = strlen(frac);
		while (n > 1 && frac[n - 1] == '0')
			frac[--n] = '\0';
	}
	if (asprintf(&out, "%s%sZ", date, frac) < 0)
		return NULL;
	return out;
}

json_t *imgconfig_new(const char *os, const char *arch, const char *variant, const char *created,
		      const char *comment)
{
	json_t *img = json_object();
	json_t *rootfs = json_object();
	if (!img || !rootfs)
		goto fail;
	int bad = 0;
	bad |= json_object_set_new(img, "architecture", json_string(arch));
	if (variant)
		bad |= json_object_set_new(img, "variant", json_string(variant));
	if (comment)
		bad |= json_object_set_new(img, "comment", json_string(comment));
	bad |= json_object_set_new(img, "config", json_object());
	bad |= json_object_set_new(img, "created", json_string(created));
	bad |= json_object_set_new(img, "history", json_array());
	bad |= json_object_set_new(img, "os", json_string(os));
	bad |= json_object_set_new(rootfs, "type", json_string("layers"));
	bad |= json_object_set_new(rootfs, "diff_ids", json_array());
	bad |= json_object_set(img, "rootfs", rootfs);
	json_decref(rootfs);
	if (bad) {
		json_decref(img);
		return NULL;
	}
	return img;
fail:
	json_decref(img);
	json_decref(rootfs);
	return NULL;
}

int imgconfig_add_diff_id(json_t *img, const char *diff_id)
{
	json_t *ids = json_object_get(json_object_get(img, "rootfs"), "diff_ids");
	if (!json_is_array(ids))
		return -EINVAL;
	return json_array_append_new(ids, json_string(diff_id)) < 0 ? -ENOMEM : 0;
}

int imgconfig_add_history(json_t *img, const char *created, const char *created_by,
			  const char *comment, int empty_layer)
{
	json_t *hist = json_object_get(img, "history");
	if (!json_is_array(hist)) {
		hist = json_array();
		if (!hist || json_object_set_new(img, "history", hist) < 0)
			return -ENOMEM;
	}
	json_t *h = json_object();
	if (!h)
		return -ENOMEM;
	int bad = 0;
	if (created)
		bad |= json_object_set_new(h, "created", json_string(created));
	if (created_by)
		bad |= json_object_set_new(h, "created_by", json_string(created_by));
	if (comment)
		bad |= json_object_set_new(h, "comment", json_string(comment));
	if (empty_layer)
		bad |= json_object_set_new(h, "empty_layer", json_true());
	if (bad || json_array_append_new(hist, h) < 0)
		return -ENOMEM;
	return 0;
}

/* ---- platforms ---- */

const char *imgconfig_host_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__arm__)
	return "arm";
#elif defined(__i386__)
	return "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64le";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#else
	return "unknown";
#endif
}

static int platform_word(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
			return 0;
	return 1;
}

int imgconfig_platform_parse(const char *s, char **ret_os, char **ret_arch, char **ret_variant,
			     struct berr **err)
{
	char parts[3][32];
	size_t np = 0;
	const char *p = s;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (np == 3 || !platform_word(p, n) || n >= sizeof(parts[0]))
			return berr_set(err, EINVAL, "\"%s\": invalid platform: expected os[/arch[/variant]]", s);
		for (size_t i = 0; i < n; i++)
			parts[np][i] = (char)tolower((unsigned char)p[i]);
		parts[np++][n] = '\0';
		if (!slash)
			break;
		p = slash + 1;
	}
	if (!streq(parts[0], "linux"))
		return berr_set(err, EINVAL, "\"%s\": operating system is not supported", s);
	const char *arch = np > 1 ? parts[1] : imgconfig_host_arch();
	const char *variant = np > 2 ? parts[2] : NULL;
	if (streq(arch, "x86_64") || streq(arch, "x86-64"))
		arch = "amd64";
	else if (streq(arch, "i386"))
		arch = "386";
	else if (streq(arch, "aarch64") || streq(arch, "arm64")) {
		arch = "arm64";
		if (variant && (streq(variant, "8") || streq(variant, "v8")))
			variant = NULL;
	} else if (streq(arch, "armhf")) {
		arch = "arm";
		variant = "v7";
	} else if (streq(arch, "armel")) {
		arch = "arm";
		variant = "v6";
	} else if (streq(arch, "arm")) {
		if (!variant || streq(variant, "7"))
			variant = "v7";
		else if (streq(variant, "5") || streq(variant, "6") || streq(variant, "8")) {
			static const char *const vs[] = {"v5", "v6", "v7", "v8"};
			variant = vs[variant[0] - '5'];
		}
	}
	_cleanup_free_ char *o = strdup(parts[0]);
	_cleanup_free_ char *a = strdup(arch);
	_cleanup_free_ char *v = variant ? strdup(variant) : NULL;
	if (!o || !a || (variant && !v))
		return -ENOMEM;
	*ret_os = TAKE_PTR(o);
	*ret_arch = TAKE_PTR(a);
	*ret_variant = TAKE_PTR(v);
	return 0;
}

/* ---- reading ---- */

void imgconfig_info_free(struct imgconfig_info *info)
{
	if (!info)
		return;
	free(info->os);
	free(info->architecture);
	free(info->variant);
	free(info->created);
	strv_free(&info->diff_ids);
	memset(info, 0, sizeof(*info));
}

static int opt_string(json_t *obj, const char *key, char **ret, struct berr **err)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return berr_set(err, EINVAL, "image config: \"%s\" is not a string", key);
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

int imgconfig_parse(const char *data, size_t len, json_t **ret_json, struct imgconfig_info *ret,
		    struct berr **err)
{
	struct imgconfig_info info = {0};
	json_error_t jerr;
	int r;
	if (len > IMGCONFIG_JSON_MAX)
		return berr_set(err, EFBIG, "image config: larger than %zu bytes", IMGCONFIG_JSON_MAX);
	_cleanup_json_ json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return berr_set(err, EINVAL, "image config: invalid JSON: %s (line %d)", jerr.text,
				jerr.line);
	if (!json_is_object(j))
		return berr_set(err, EINVAL, "image config: not a JSON object");
	json_t *rootfs = json_object_get(j, "rootfs");
	if (!json_is_object(rootfs))
		return berr_set(err, EINVAL, "image config: \"rootfs\" is missing or not an object");
	json_t *type = json_object_get(rootfs, "type");
	if (!json_is_string(type) || !streq(json_string_value(type), "layers"))
		return berr_set(err, EINVAL, "image config: rootfs.type is not \"layers\"");
	json_t *ids = json_object_get(rootfs, "diff_ids");
	if (ids && !json_is_null(ids) && !json_is_array(ids))
		return berr_set(err, EINVAL, "image config: rootfs.diff_ids is not an array");
	json_t *cfg = json_object_get(j, "config");
	if (cfg && !json_is_null(cfg) && !json_is_object(cfg))
		return berr_set(err, EINVAL, "image config: \"config\" is not an object");
	json_t *hist = json_object_get(j, "history");
	if (hist && !json_is_null(hist)) {
		if (!json_is_array(hist))
			return berr_set(err, EINVAL, "image config: \"history\" is not an array");
		for (size_t i = 0; i < json_array_size(hist); i++)
			if (!json_is_object(json_array_get(hist, i)))
				return berr_set(err, EINVAL, "image config: history[%zu] is not an object", i);
	}
	if ((r = opt_string(j, "os", &info.os, err)) < 0 ||
	    (r = opt_string(j, "architecture", &info.architecture, err)) < 0 ||
	    (r = opt_string(j, "variant", &info.variant, err)) < 0 ||
	    (r = opt_string(j, "created", &info.created, err)) < 0)
		goto fail;
	for (size_t i = 0; i < json_array_size(ids); i++) {
		const char *d = json_string_value(json_array_get(ids, i));
		if (!d || !digest_valid(d)) {
			r = berr_set(err, EINVAL, "image config: rootfs.diff_ids[%zu] is not a valid digest", i);
			goto fail;
		}
		if ((r = strv_push(&info.diff_ids, d)) < 0)
			goto fail;
	}
	if (ret_json)
		*ret_json = TAKE_PTR(j);
	if (ret)
		*ret = info;
	else
		imgconfig_info_free(&info);
	return 0;
fail:
	imgconfig_info_free(&info);
	return r;
}
