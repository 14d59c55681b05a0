/* Output formatting in the shape of Docker's CLI: go-units sizes and durations, the
 * tabwriter table docker's formatter uses, and a subset of Go's text/template.
 *
 * The Go behaviours imitated here, and where they come from:
 *   sizes      go-units HumanSizeWithPrecision(size, 3): divide by 1000 while >= 1000,
 *              then "%.3g" (C's %g prints the same digits and "e+03" exponents as Go's)
 *   durations  go-units HumanDuration over a time.Duration (int64 nanoseconds, saturating)
 *   tables     docker/cli's copy of text/tabwriter, NewWriter(out, 10, 1, 3, ' ', 0):
 *              column widths are per block of consecutive lines that have the column
 *   templates  docker/cli's Format.templateString (strip "table", trim spaces, expand
 *              backslash-t / backslash-n) and text/template's printing rules */
#include "format.h"
#include "cleanup.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

#include "banned.h"

/* ---- UTF-8 helpers -------------------------------------------------------------------- */

static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;
static locale_t utf8_locale;

static void utf8_locale_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static locale_t get_utf8_locale(void)
{
	pthread_once(&utf8_once, utf8_locale_init);
	return utf8_locale;
}

/* One UTF-8 sequence at s (n > 0). Returns its length, or 0 when invalid, like Go's
 * utf8.DecodeRune (which then yields U+FFFD for one byte). */
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

static int utf8_put(struct buf *b, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
	}
	return buf_append(b, u, n);
}

/* Terminal columns of s[0..n), as go-runewidth counts them for docker's tabwriter: wide
 * East Asian runes 2, combining and control runes 0, invalid bytes 1 (U+FFFD). */
static size_t display_width(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t w = 0;
	locale_t loc = (locale_t)0, old = (locale_t)0;
	for (size_t i = 0; i < n;) {
		if (u[i] >= 0x20 && u[i] < 0x7f) {
			w++;
			i++;
			continue;
		}
		uint32_t cp;
		size_t len = utf8_decode(u + i, n - i, &cp);
		if (len == 0) {
			w++;
			i++;
			continue;
		}
		i += len;
		if (cp < 0x80)
			continue; /* control */
		if (!loc && (loc = get_utf8_locale()) != (locale_t)0)
			old = uselocale(loc);
		int cw = loc ? wcwidth((wchar_t)cp) : 1;
		w += cw > 0 ? (size_t)cw : 0;
	}
	if (loc)
		uselocale(old);
	return w;
}

/* ---- sizes and durations -------------------------------------------------------------- */

char *fmt_human_size(uint64_t bytes)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
	double size = (double)bytes;
	size_t i = 0;
	while (size >= 1000.0 && i < ARRAY_SIZE(units) - 1) {
		size /= 1000.0;
		i++;
	}
	char *s = NULL;
	if (asprintf(&s, "%.3g%s", size, units[i]) < 0)
		return NULL;
	return s;
}

#define NSEC_PER_SEC 1000000000LL

/* time.Duration's Seconds/Minutes/Hours: whole units plus the remainder as a fraction. */
static double dur_units(int64_t d, int64_t unit)
{
	return (double)(d / unit) + (double)(d % unit) / (double)unit;
}

static char *human_duration(int64_t d)
{
	char *s = NULL;
	int r;
	int64_t seconds = (int64_t)dur_units(d, NSEC_PER_SEC);
	int64_t minutes = (int64_t)dur_units(d, 60 * NSEC_PER_SEC);
	double hours_f = dur_units(d, 3600 * NSEC_PER_SEC);
	int64_t hours = (int64_t)(hours_f + 0.5);
	if (seconds < 1)
		r = asprintf(&s, "Less than a second");
	else if (seconds == 1)
		r = asprintf(&s, "1 second");
	else if (seconds < 60)
		r = asprintf(&s, "%lld seconds", (long long)seconds);
	else if (minutes == 1)
		r = asprintf(&s, "About a minute");
	else if (minutes < 60)
		r = asprintf(&s, "%lld minutes", (long long)minutes);
	else if (hours == 1)
		r = asprintf(&s, "About an hour");
	else if (hours < 48)
		r = asprintf(&s, "%lld hours", (long long)hours);
	else if (hours < 24 * 7 * 2)
		r = asprintf(&s, "%lld days", (long long)(hours / 24));
	else if (hours < 24 * 30 * 2)
		r = asprintf(&s, "%lld weeks", (long long)(hours / 24 / 7));
	else if (hours < 24 * 365 * 2)
		r = asprintf(&s, "%lld months", (long long)(hours / 24 / 30));
	else /* go-units uses the truncated hours here, so 17519.5h is "1 years" */
		r = asprintf(&s, "%lld years", (long long)((int64_t)hours_f / 24 / 365));
	return r < 0 ? NULL : s;
}

char *fmt_time_ago(time_t then, time_t now)
{
	/* time.Time.Sub saturates at the int64 nanosecond range (about 292 years). */
	int64_t diff, d;
	if (__builtin_sub_overflow((int64_t)now, (int64_t)then, &diff))
		d = (int64_t)now > (int64_t)then ? INT64_MAX : INT64_MIN;
	else if (diff > INT64_MAX / NSEC_PER_SEC)
		d = INT64_MAX;
	else if (diff < INT64_MIN / NSEC_PER_SEC)
		d = INT64_MIN;
	else
		d = diff * NSEC_PER_SEC;
	_cleanup_free_ char *h = human_duration(d);
	char *s = NULL;
	if (!h || asprintf(&s, "%s ago", h) < 0)
		return NULL;
	return s;
}

/* ---- RFC 3339 ------------------------------------------------------------------------- */

static bool digits(const char *s, int n, int *ret)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

static int days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month == 2 && leap ? 29 : days[month - 1];
}

int fmt_parse_rfc3339(const char *s, time_t *ret)
{
	int y, mo, d, h, mi, sec;
	/* "YYYY-MM-DDTHH:MM:SS" is 19 characters; strnlen keeps the checks inside s. */
	if (!s || strnlen(s, 19) < 19 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) || s[13] != ':' ||
	    !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 59)
		return -EINVAL;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	long offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (strnlen(p, 6) < 6 || !digits(p + 1, 2, &oh) || p[3] != ':' ||
		    !digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return -EINVAL;
		offset = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	struct tm tm = {
		.tm_year = y - 1900,
		.tm_mon = mo - 1,
		.tm_mday = d,
		.tm_hour = h,
		.tm_min = mi,
		.tm_sec = sec,
	};
	*ret = timegm(&tm) - offset;
	return 0;
}

char *fmt_rfc3339_nano(time_t sec, long nsec)
{
	/* Normalise nsec into [0, 1e9) so that the seconds carry the sign. */
	if (__builtin_add_overflow(sec, (time_t)(nsec / NSEC_PER_SEC), &sec))
		return NULL;
	nsec %= NSEC_PER_SEC;
	if (nsec < 0) {
		nsec += NSEC_PER_SEC;
		sec--;
	}
	struct tm tm;
	if (!gmtime_r(&sec, &tm))
		return NULL;
	char frac[11] = "";
	if (nsec) {
		snprintf(frac, sizeof(frac), ".%09ld", nsec);
		size_t n = strlen(frac);
		while (frac[n - 1] == '0')
			frac[--n] = '\0';
	}
	long long year = (long long)tm.tm_year + 1900;
	char *s = NULL;
	/* Go pads the year to four digits after the sign: "-0001", "0099", "10000". */
	if (asprintf(&s, "%s%04lld-%02d-%02dT%02d:%02d:%02d%sZ", year < 0 ? "-" : "",
		     year < 0 ? -year : year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, frac) < 0)
		return NULL;
	return s;
}

/* ---- tables --------------------------------------------------------------------------- */

struct fmt_line {
	char **cells;
	size_t *widths; /* display width of each cell */
	size_t ncells;
	bool section_end; /* a '\f' ended the line: tabwriter flushes, blocks do not continue */
};

struct fmt_table {
	struct fmt_line *lines;
	size_t n, cap;
};

#define TABLE_MINWIDTH 10
#define TABLE_PADDING 3

struct fmt_table *fmt_table_new(void)
{
	return calloc(1, sizeof(struct fmt_table));
}

static void line_free(struct fmt_line *l)
{
	for (size_t i = 0; i < l->ncells; i++)
		free(l->cells[i]);
	free(l->cells);
	free(l->widths);
}

/* One line, cells split at '\t' and '\v' (both end a cell in tabwriter). */
static int table_add_line(struct fmt_table *t, const char *s, size_t n, bool section_end)
{
	size_t ncells = 1;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\t' || s[i] == '\v')
			ncells++;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct fmt_line *nl = reallocarray(t->lines, cap, sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		t->lines = nl;
		t->cap = cap;
	}
	struct fmt_line l = {
		.cells = calloc(ncells, sizeof(char *)),
		.widths = calloc(ncells, sizeof(size_t)),
		.ncells = ncells,
		.section_end = section_end,
	};
	if (!l.cells || !l.widths) {
		line_free(&l);
		return -ENOMEM;
	}
	size_t start = 0, c = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '\t' && s[i] != '\v')
			continue;
		l.cells[c] = strndup(s + start, i - start);
		if (!l.cells[c]) {
			line_free(&l);
			return -ENOMEM;
		}
		l.widths[c] = display_width(s + start, i - start);
		c++;
		start = i + 1;
	}
	t->lines[t->n++] = l;
	return 0;
}

int fmt_table_add(struct fmt_table *t, const char *row)
{
	/* A row holding newlines (a template with "\n") is several tabwriter lines. */
	const char *p = row;
	for (;;) {
		size_t n = strcspn(p, "\n\f");
		int r = table_add_line(t, p, n, p[n] == '\f');
		if (r < 0)
			return r;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

void fmt_table_print(struct fmt_table *t, FILE *out)
{
	if (!t || t->n == 0)
		return;
	/* width[i][j]: the padded width of column j on line i. A column's block is a run of
	 * consecutive lines that have a cell in it before their last cell; this is what
	 * tabwriter's recursive format() computes, since a run for column j always lies
	 * inside a run for column j-1. */
	size_t maxcols = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->lines[i].ncells - 1 > maxcols)
			maxcols = t->lines[i].ncells - 1;
	_cleanup_free_ size_t *width = calloc(t->n * (maxcols ? maxcols : 1), sizeof(size_t));
	if (!width)
		return;
	for (size_t j = 0; j < maxcols; j++) {
		size_t i = 0;
		while (i < t->n) {
			if (t->lines[i].ncells - 1 <= j) {
				i++;
				continue;
			}
			size_t begin = i, w = TABLE_MINWIDTH;
			for (; i < t->n && t->lines[i].ncells - 1 > j; i++) {
				if (t->lines[i].widths[j] + TABLE_PADDING > w)
					w = t->lines[i].widths[j] + TABLE_PADDING;
				if (t->lines[i].section_end) {
					i++;
					break;
				}
			}
			for (size_t k = begin; k < i; k++)
				width[k * maxcols + j] = w;
		}
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct fmt_line *l = &t->lines[i];
		for (size_t j = 0; j < l->ncells; j++) {
			fputs(l->cells[j], out);
			if (j + 1 < l->ncells)
				for (size_t k = l->widths[j]; k < width[i * maxcols + j]; k++)
					fputc(' ', out);
		}
		fputc('\n', out);
	}
}

void fmt_table_free(struct fmt_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		line_free(&t->lines[i]);
	free(t->lines);
	free(t);
}

/* ---- Go-style value printing ---------------------------------------------------------- */

/* The shortest decimal digits that read back as v, and the decimal exponent, like
 * strconv.FormatFloat(v, _, -1, 64). digs gets at most 17 digits and a NUL. */
static void shortest_digits(double v, char digs[18], int *ret_exp)
{
	char tmp[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
		if (strtod(tmp, NULL) == v || prec == 17)
			break;
	}
	/* tmp: [-]d[.ddd]e[+-]xx */
	const char *p = tmp;
	if (*p == '-')
		p++;
	size_t n = 0;
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digs[n++] = *p;
	while (n > 1 && digs[n - 1] == '0')
		n--;
	digs[n] = '\0';
	*ret_exp = *p == 'e' ? atoi(p + 1) : 0;
}

/* strconv.FormatFloat(v, fmt, -1, 64) for fmt 'e' or 'f'; 'g' picks 'e' when the decimal
 * exponent is below -4 or at least eprec (strconv uses 6 for shortest 'g', which is what
 * fmt's %v prints: 1e+06, 1.23456789e+08). */
static int put_float(struct buf *b, double v, char fmt, int eprec)
{
	if (v == 0)
		return buf_puts(b, signbit(v) ? (fmt == 'e' ? "-0e+00" : "-0") :
						(fmt == 'e' ? "0e+00" : "0"));
	char digs[18];
	int exp;
	shortest_digits(v, digs, &exp);
	size_t nd = strlen(digs);
	int r = 0;
	if (v < 0)
		r |= buf_putc(b, '-');
	if (fmt == 'g')
		fmt = (exp < -4 || exp >= eprec) ? 'e' : 'f';
	if (fmt == 'e') {
		r |= buf_putc(b, digs[0]);
		if (nd > 1) {
			r |= buf_putc(b, '.');
			r |= buf_puts(b, digs + 1);
		}
		r |= buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
		return r;
	}
	/* 'f': digits with the point after exp+1 of them. */
	if (exp < 0) {
		r |= buf_puts(b, "0.");
		for (int i = -1; i > exp; i--)
			r |= buf_putc(b, '0');
		r |= buf_puts(b, digs);
		return r;
	}
	for (int i = 0; i <= exp; i++)
		r |= buf_putc(b, (size_t)i < nd ? digs[i] : '0');
	if ((size_t)exp + 1 < nd) {
		r |= buf_putc(b, '.');
		r |= buf_puts(b, digs + exp + 1);
	}
	return r;
}

/* encoding/json's string escaping with SetEscapeHTML(false), as docker's json function. */
static int json_put_string(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	int r = buf_putc(b, '"');
	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			r |= buf_putc(b, (char)c);
			i++;
			continue;
		}
		if (c < 0x80) {
			i++;
			switch (c) {
			case '"':
				r |= buf_puts(b, "\\\"");
				break;
			case '\\':
				r |= buf_puts(b, "\\\\");
				break;
			case '\b':
				r |= buf_puts(b, "\\b");
				break;
			case '\f':
				r |= buf_puts(b, "\\f");
				break;
			case '\n':
				r |= buf_puts(b, "\\n");
				break;
			case '\r':
				r |= buf_puts(b, "\\r");
				break;
			case '\t':
				r |= buf_puts(b, "\\t");
				break;
			default:
				r |= buf_puts(b, "\\u00");
				r |= buf_putc(b, hex[c >> 4]);
				r |= buf_putc(b, hex[c & 0xf]);
			}
			continue;
		}
		uint32_t cp;
		size_t len = utf8_decode(u + i, n - i, &cp);
		if (len == 0) {
			r |= buf_puts(b, "\\ufffd");
			i++;
		} else if (cp == 0x2028 || cp == 0x2029) {
			r |= buf_printf(b, "\\u%04x", (unsigned)cp);
			i += len;
		} else {
			r |= buf_append(b, s + i, len);
			i += len;
		}
	}
	r |= buf_putc(b, '"');
	return r;
}

static int json_put(struct buf *b, json_t *v, int depth)
{
	if (depth > 1000) /* jansson objects can be deep; keep the C stack bounded */
		return -ELOOP;
	switch (json_typeof(v)) {
	case JSON_NULL:
		return buf_puts(b, "null");
	case JSON_TRUE:
		return buf_puts(b, "true");
	case JSON_FALSE:
		return buf_puts(b, "false");
	case JSON_INTEGER:
		return buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL: {
		/* encoding/json: 'f' unless the magnitude is below 1e-6 or from 1e21 on, and
		 * "e-07" is written "e-7". */
		double d = json_real_value(v), a = fabs(d);
		char f = (a != 0 && (a < 1e-6 || a >= 1e21)) ? 'e' : 'f';
		size_t start = b->len;
		int r = put_float(b, d, f, 0);
		if (r == 0 && f == 'e' && b->len - start >= 4 && b->data[b->len - 4] == 'e' &&
		    b->data[b->len - 3] == '-' && b->data[b->len - 2] == '0') {
			b->data[b->len - 2] = b->data[b->len - 1];
			b->data[--b->len] = '\0';
		}
		return r;
	}
	case JSON_STRING:
		return json_put_string(b, json_string_value(v), json_string_length(v));
	case JSON_ARRAY: {
		int r;
		if ((r = buf_putc(b, '[')) < 0)
			return r;
		for (size_t i = 0; i < json_array_size(v); i++)
			if ((i && (r = buf_putc(b, ',')) < 0) ||
			    (r = json_put(b, json_array_get(v, i), depth + 1)) < 0)
				return r;
		return buf_putc(b, ']');
	}
	case JSON_OBJECT: {
		int r;
		const char *key;
		json_t *val;
		bool first = true;
		if ((r = buf_putc(b, '{')) < 0)
			return r;
		json_object_foreach(v, key, val) {
			if ((!first && (r = buf_putc(b, ',')) < 0) ||
			    (r = json_put_string(b, key, strlen(key))) < 0 ||
			    (r = buf_putc(b, ':')) < 0 || (r = json_put(b, val, depth + 1)) < 0)
				return r;
			first = false;
		}
		return buf_putc(b, '}');
	}
	}
	return -EINVAL;
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* fmt's %v of the value docker's inspect would hold: a slice as "[a b]", a map as
 * "map[k:v k2:v2]" with its keys sorted (Go >= 1.12), nil as "<nil>", strings unquoted at
 * every depth. An empty object inside a map or slice prints as "{}": docker's typed structs
 * hold sets as map[string]struct{} (ExposedPorts, Volumes), whose values Go prints so. */
static int go_put(struct buf *b, json_t *v, int depth)
{
	if (depth > 1000)
		return -ELOOP;
	switch (json_typeof(v)) {
	case JSON_STRING:
		return buf_append(b, json_string_value(v), json_string_length(v));
	case JSON_NULL:
		return buf_puts(b, "<nil>");
	case JSON_REAL:
		return put_float(b, json_real_value(v), 'g', 6);
	case JSON_ARRAY: {
		int r = buf_putc(b, '[');
		for (size_t i = 0; r == 0 && i < json_array_size(v); i++) {
			if (i)
				r = buf_putc(b, ' ');
			if (r == 0)
				r = go_put(b, json_array_get(v, i), depth + 1);
		}
		return r < 0 ? r : buf_putc(b, ']');
	}
	case JSON_OBJECT: {
		size_t n = json_object_size(v), k = 0;
		if (n == 0)
			return buf_puts(b, depth ? "{}" : "map[]");
		const char **keys = malloc(n * sizeof(*keys));
		if (!keys)
			return -ENOMEM;
		const char *key;
		json_t *val;
		json_object_foreach(v, key, val) keys[k++] = key;
		qsort(keys, n, sizeof(*keys), cmp_keys);
		int r = buf_puts(b, "map[");
		for (size_t i = 0; r == 0 && i < n; i++) {
			if (i)
				r = buf_putc(b, ' ');
			if (r == 0)
				r = buf_printf(b, "%s:", keys[i]);
			if (r == 0)
				r = go_put(b, json_object_get(v, keys[i]), depth + 1);
		}
		free(keys);
		return r < 0 ? r : buf_putc(b, ']');
	}
	default:
		return json_put(b, v, depth);
	}
}

/* How text/template prints a value (v NULL: a missing map key); {{json}} gives JSON. */
static int value_put(struct buf *b, json_t *v)
{
	if (!v)
		return buf_puts(b, "<no value>");
	return go_put(b, v, 0);
}

/* ---- templates ------------------------------------------------------------------------ */

enum tfunc { TF_NONE = 0, TF_JSON, TF_UPPER, TF_LOWER };

struct tcmd {
	enum tfunc func;
	bool has_field;
	char **path; /* field names; npath == 0 with has_field is "." */
	size_t npath;
};

struct tnode {
	char *text; /* literal text, or NULL for an action */
	size_t text_len;
	struct tcmd *cmds;
	size_t ncmds;
	char *source; /* the action as written, for error messages */
};

struct fmt_template {
	bool table;
	struct tnode *nodes;
	size_t n, cap;
};

static void tcmd_free(struct tcmd *c)
{
	for (size_t i = 0; i < c->npath; i++)
		free(c->path[i]);
	free(c->path);
}

static void tnode_free(struct tnode *n)
{
	free(n->text);
	for (size_t i = 0; i < n->ncmds; i++)
		tcmd_free(&n->cmds[i]);
	free(n->cmds);
	free(n->source);
}

void fmt_template_free(struct fmt_template *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		tnode_free(&t->nodes[i]);
	free(t->nodes);
	free(t);
}

static inline void fmt_template_freep(struct fmt_template **t)
{
	fmt_template_free(*t);
}

static int tmpl_push(struct fmt_template *t, struct tnode *node)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct tnode *nn = reallocarray(t->nodes, cap, sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		t->nodes = nn;
		t->cap = cap;
	}
	t->nodes[t->n++] = *node;
	*node = (struct tnode){0};
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static const char *const keywords[] = {"if", "else", "end", "range", "with", "define",
				       "template", "block", "break", "continue", "nil"};

/* A function name, or a berr for names text/template has but this subset does not. */
static int lookup_func(const char *name, size_t n, enum tfunc *ret, struct berr **err)
{
	static const struct {
		const char *name;
		enum tfunc f;
	} funcs[] = {{"json", TF_JSON}, {"upper", TF_UPPER}, {"lower", TF_LOWER}};
	for (size_t i = 0; i < ARRAY_SIZE(funcs); i++)
		if (strlen(funcs[i].name) == n && memcmp(funcs[i].name, name, n) == 0) {
			*ret = funcs[i].f;
			return 0;
		}
	for (size_t i = 0; i < ARRAY_SIZE(keywords); i++)
		if (strlen(keywords[i]) == n && memcmp(keywords[i], name, n) == 0)
			return berr_set(err, EINVAL, "template: unsupported action '%.*s'", (int)n,
					name);
	return berr_set(err, EINVAL, "template: unsupported function '%.*s'", (int)n, name);
}

static const char *func_name(enum tfunc f)
{
	return f == TF_JSON ? "json" : f == TF_UPPER ? "upper" : "lower";
}

/* ".", ".A", ".A.B" at *pp; fills c. */
static int parse_field(const char **pp, const char *end, struct tcmd *c, const char *src,
		       struct berr **err)
{
	const char *p = *pp;
	c->has_field = true;
	p++; /* the first '.' */
	if (p < end && !is_space(*p) && *p != '|' && !is_ident_start(*p))
		return berr_set(err, EINVAL, "template: bad field in action '%s'", src);
	while (p < end && is_ident_start(*p)) {
		const char *s = p;
		while (p < end && is_ident(*p))
			p++;
		char **np = reallocarray(c->path, c->npath + 1, sizeof(char *));
		if (!np)
			return -ENOMEM;
		c->path = np;
		if (!(c->path[c->npath] = strndup(s, (size_t)(p - s))))
			return -ENOMEM;
		c->npath++;
		if (p < end && *p == '.') {
			p++;
			if (p >= end || !is_ident_start(*p))
				return berr_set(err, EINVAL, "template: bad field in action '%s'",
						src);
		}
	}
	if (p < end && !is_space(*p) && *p != '|')
		return berr_set(err, EINVAL, "template: bad field in action '%s'", src);
	*pp = p;
	return 0;
}

/* pipeline := command ('|' command)*; the first command is a field or a function with one
 * field argument, later ones are bare functions that take the piped value. */
static int parse_action(const char *p, const char *end, struct tnode *node, struct berr **err)
{
	const char *src = node->source;
	for (;;) {
		while (p < end && is_space(*p))
			p++;
		if (p >= end || *p == '|') {
			if (node->ncmds == 0 && p >= end)
				return berr_set(err, EINVAL, "template: missing value for command");
			return berr_set(err, EINVAL, "template: missing command in action '%s'",
					src);
		}
		struct tcmd *nc = reallocarray(node->cmds, node->ncmds + 1, sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		node->cmds = nc;
		struct tcmd *c = &node->cmds[node->ncmds++];
		*c = (struct tcmd){0};
		int argc = 0;
		while (p < end && *p != '|') {
			if (is_space(*p)) {
				p++;
				continue;
			}
			int r;
			if (*p == '.') {
				if (c->has_field)
					return berr_set(err, EINVAL,
							"template: too many arguments in action '%s'",
							src);
				if (!c->func && argc > 0)
					return berr_set(err, EINVAL,
							"template: unsupported syntax in action '%s'",
							src);
				if ((r = parse_field(&p, end, c, src, err)) < 0)
					return r;
				argc++;
			} else if (is_ident_start(*p)) {
				const char *s = p;
				while (p < end && is_ident(*p))
					p++;
				if ((r = lookup_func(s, (size_t)(p - s), &c->func, err)) < 0)
					return r;
				if (argc > 0)
					return berr_set(err, EINVAL,
							"template: can't give argument to non-function in action '%s'",
							src);
				argc++;
			} else if (*p == '$') {
				return berr_set(err, EINVAL,
						"template: variables are not supported in action '%s'",
						src);
			} else {
				return berr_set(err, EINVAL,
						"template: unsupported syntax in action '%s'", src);
			}
		}
		bool first = node->ncmds == 1;
		if (c->func) {
			int want = first ? 1 : 0;
			int got = c->has_field ? 1 : 0;
			if (got != want)
				return berr_set(err, EINVAL,
						"template: wrong number of args for %s: want 1 got %d",
						func_name(c->func), got + (first ? 0 : 1));
		} else if (!first) {
			return berr_set(err, EINVAL,
					"template: can't give argument to non-function in action '%s'",
					src);
		}
		if (p >= end)
			return 0;
		p++; /* '|' */
	}
}

/* docker/cli's Format.templateString: "json" means "{{json .}}"; a "table" prefix is cut;
 * spaces (only spaces) are trimmed; the two-character escapes \t and \n become a tab and
 * a newline. Returns the text to parse, or NULL on ENOMEM. */
static char *preprocess(const char *text, bool *ret_table)
{
	*ret_table = strncmp(text, "table", 5) == 0;
	if (streq(text, "json"))
		return strdup("{{json .}}");
	if (*ret_table)
		text += 5;
	size_t n = strlen(text);
	while (*text == ' ')
		text++, n--;
	while (n > 0 && text[n - 1] == ' ')
		n--;
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '\\' && i + 1 < n && (text[i + 1] == 't' || text[i + 1] == 'n')) {
			out[o++] = text[i + 1] == 't' ? '\t' : '\n';
			i++;
		} else {
			out[o++] = text[i];
		}
	}
	out[o] = '\0';
	return out;
}

int fmt_template_parse(const char *text, struct fmt_template **ret, struct berr **err)
{
	*ret = NULL;
	if (!text)
		return berr_set(err, EINVAL, "template: no template");
	__attribute__((cleanup(fmt_template_freep))) struct fmt_template *t =
		calloc(1, sizeof(*t));
	if (!t)
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_free_ char *src = preprocess(text, &t->table);
	if (!src)
		return berr_set(err, ENOMEM, "out of memory");

	const char *p = src;
	bool trim_next = false; /* the previous action ended with " -}}" */
	for (;;) {
		const char *open = strstr(p, "{{");
		size_t tlen = open ? (size_t)(open - p) : strlen(p);
		const char *ts = p;
		if (trim_next)
			while (tlen > 0 && is_space(*ts))
				ts++, tlen--;
		bool trim_prev = open && open[2] == '-' && open[3] && is_space(open[3]);
		if (trim_prev)
			while (tlen > 0 && is_space(ts[tlen - 1]))
				tlen--;
		if (tlen > 0) {
			struct tnode node = {.text = strndup(ts, tlen), .text_len = tlen};
			if (!node.text || tmpl_push(t, &node) < 0) {
				tnode_free(&node);
				return berr_set(err, ENOMEM, "out of memory");
			}
		}
		if (!open)
			break;
		const char *body = open + 2 + (trim_prev ? 2 : 0);
		const char *close;
		if (strncmp(body, "/*", 2) == 0) {
			/* A template comment, with optional trim markers. */
			const char *cend = strstr(body + 2, "*/");
			if (!cend)
				return berr_set(err, EINVAL, "template: unclosed comment");
			close = cend + 2;
			trim_next = false;
			if (close[0] == ' ' && close[1] == '-' && strncmp(close + 2, "}}", 2) == 0) {
				trim_next = true;
				close += 2;
			}
			if (strncmp(close, "}}", 2) != 0)
				return berr_set(err, EINVAL, "template: comment ends before closing delimiter");
			p = close + 2;
			continue;
		}
		close = strstr(body, "}}");
		if (!close)
			return berr_set(err, EINVAL, "template: unclosed action");
		const char *bend = close;
		trim_next = bend - body >= 2 && bend[-1] == '-' && is_space(bend[-2]);
		if (trim_next)
			bend -= 2;
		struct tnode node = {.source = strndup(open, (size_t)(close + 2 - open))};
		if (!node.source) {
			tnode_free(&node);
			return berr_set(err, ENOMEM, "out of memory");
		}
		int r = parse_action(body, bend, &node, err);
		if (r == -ENOMEM)
			r = berr_set(err, ENOMEM, "out of memory");
		if (r == 0 && tmpl_push(t, &node) < 0)
			r = berr_set(err, ENOMEM, "out of memory");
		if (r < 0) {
			tnode_free(&node);
			return r;
		}
		p = close + 2;
	}
	*ret = TAKE_PTR(t);
	return 0;
}

int fmt_template_is_table(const struct fmt_template *t)
{
	return t && t->table;
}

static const char *json_type_name(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "int";
	case JSON_REAL:
		return "float64";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	case JSON_NULL:
		return "nil";
	}
	return "?";
}

/* Walk .A.B from obj. Returns a new reference in *ret (NULL: missing, "<no value>"). In
 * header mode a string met half way is the header of the whole path, and nothing
 * errors. */
static int eval_field(const struct tcmd *c, json_t *obj, bool header, const char *src,
		      json_t **ret, struct berr **err)
{
	json_t *cur = obj;
	*ret = NULL;
	if (header && c->npath == 0)
		cur = json_string(""); /* the header of "." is empty */
	else if (cur)
		json_incref(cur);
	for (size_t i = 0; i < c->npath && cur; i++) {
		if (json_is_object(cur)) {
			json_t *next = json_object_get(cur, c->path[i]);
			json_incref(next);
			json_decref(cur);
			cur = next;
			continue;
		}
		if (header) {
			if (!json_is_string(cur)) {
				json_decref(cur);
				cur = NULL;
			}
			break;
		}
		int r;
		if (json_is_null(cur))
			r = berr_set(err, EINVAL, "template: %s: nil pointer evaluating field %s",
				     src, c->path[i]);
		else
			r = berr_set(err, EINVAL, "template: %s: can't evaluate field %s in type %s",
				     src, c->path[i], json_type_name(cur));
		json_decref(cur);
		return r;
	}
	*ret = cur;
	return 0;
}

/* strings.ToUpper / ToLower: rune by rune with the simple case mappings. */
static json_t *change_case(json_t *v, bool upper)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	struct buf b = BUF_INIT;
	locale_t loc = get_utf8_locale();
	int r = buf_grow(&b, n);
	for (size_t i = 0; i < n && r == 0;) {
		uint32_t cp;
		size_t len = utf8_decode((const unsigned char *)s + i, n - i, &cp);
		if (len == 0) {
			r = utf8_put(&b, 0xfffd);
			i++;
			continue;
		}
		i += len;
		if (cp < 0x80)
			cp = upper ? (uint32_t)(cp >= 'a' && cp <= 'z' ? cp - 32 : cp) :
				     (uint32_t)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
		else if (loc)
			cp = upper ? (uint32_t)towupper_l((wint_t)cp, loc) :
				     (uint32_t)towlower_l((wint_t)cp, loc);
		r = utf8_put(&b, cp);
	}
	json_t *out = r == 0 ? json_stringn_nocheck(b.data ? b.data : "", b.len) : NULL;
	buf_free(&b);
	return out;
}

static int eval_node(const struct tnode *node, json_t *obj, bool header, struct buf *out,
		     struct berr **err)
{
	json_t *v = NULL;
	int r = 0;
	for (size_t i = 0; i < node->ncmds && r == 0; i++) {
		const struct tcmd *c = &node->cmds[i];
		if (c->has_field) {
			json_decref(v);
			if ((r = eval_field(c, obj, header, node->source, &v, err)) < 0)
				break;
		}
		if (!c->func || header)
			continue; /* the header functions of docker's formatter are identities */
		json_t *res = NULL;
		if (c->func == TF_JSON) {
			struct buf jb = BUF_INIT;
			r = v ? json_put(&jb, v, 0) : buf_puts(&jb, "null");
			if (r == -ELOOP)
				r = berr_set(err, ELOOP, "template: %s: value nested too deeply",
					     node->source);
			else if (r == 0 && !(res = json_stringn_nocheck(jb.data, jb.len)))
				r = -ENOMEM;
			buf_free(&jb);
		} else if (!v) {
			r = berr_set(err, EINVAL, "template: %s: invalid value; expected string",
				     node->source);
		} else if (!json_is_string(v)) {
			r = berr_set(err, EINVAL,
				     "template: %s: wrong type for value; expected string; got %s",
				     node->source, json_type_name(v));
		} else if (!(res = change_case(v, c->func == TF_UPPER))) {
			r = -ENOMEM;
		}
		json_decref(v);
		v = res;
	}
	if (r == 0 && (r = value_put(out, v)) == -ELOOP)
		r = berr_set(err, ELOOP, "template: %s: value nested too deeply", node->source);
	json_decref(v);
	if (r == -ENOMEM)
		r = berr_set(err, ENOMEM, "out of memory");
	return r;
}

static int render(const struct fmt_template *t, json_t *obj, bool header, struct buf *out,
		  struct berr **err)
{
	if (!t)
		return berr_set(err, EINVAL, "template: no template");
	/* Render aside and append only on success, so a failed row leaves out untouched. */
	struct buf b = BUF_INIT;
	int r = buf_puts(&b, "");
	for (size_t i = 0; i < t->n && r == 0; i++) {
		const struct tnode *node = &t->nodes[i];
		if (node->text)
			r = buf_append(&b, node->text, node->text_len);
		else
			r = eval_node(node, obj, header, &b, err);
	}
	if (r == 0)
		r = buf_append(out, b.data, b.len);
	buf_free(&b);
	if (r == -ENOMEM)
		r = berr_set(err, ENOMEM, "out of memory");
	return r;
}

int fmt_template_header(const struct fmt_template *t, json_t *headers, struct buf *out,
			struct berr **err)
{
	return render(t, headers, true, out, err);
}

int fmt_template_render(const struct fmt_template *t, json_t *obj, struct buf *out,
			struct berr **err)
{
	return render(t, obj, false, out, err);
}
