/* logs (container logs): a container's output from its json-file log, Docker's flags:
 * --follow, --tail, --timestamps, --since, --until, --details. */
#include <jansson.h>

#include "cmd.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "ctr.h"
#include "format.h"

#include "banned.h"

static const struct cmd_help logs_help = {
	.usage = "berth logs [OPTIONS] CONTAINER",
	.summary = "Fetch the logs of a container",
	.aliases = "berth container logs, berth logs",
};

/* "2024-05-01T10:20:30.123456789Z" (or with an offset, fewer digits) to ns. */
static int parse_time_ns(const char *s, int64_t *ret)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	int64_t frac = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; isdigit((unsigned char)*p); p++, digits++)
			if (digits < 9)
				frac = frac * 10 + (*p - '0');
		for (; digits < 9; digits++)
			frac *= 10;
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -EINVAL;
		off = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	time_t t = timegm(&tm);
	*ret = ((int64_t)t - off) * 1000000000 + frac;
	return 0;
}

/* Go's time.ParseDuration for what --since takes ("10m", "1h30m", "1.5s"). */
static int parse_duration_ns(const char *s, int64_t *ret)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = {{"ns", 1},	  {"us", 1e3},	  {"µs", 1e3}, {"ms", 1e6},
		     {"s", 1e9},  {"m", 60e9},	  {"h", 3600e9}};
	double total = 0;
	const char *p = s;
	if (!*p)
		return -EINVAL;
	while (*p) {
		char *end;
		double v = strtod(p, &end);
		if (end == p || v < 0)
			return -EINVAL;
		p = end;
		size_t best = 0;
		int found = -1;
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			size_t l = strlen(units[i].unit);
			if (strncmp(p, units[i].unit, l) == 0 && l > best) {
				best = l;
				found = (int)i;
			}
		}
		if (found < 0)
			return -EINVAL;
		total += v * units[found].ns;
		p += best;
	}
	*ret = (int64_t)total;
	return 0;
}

/* Docker's --since/--until: RFC 3339 (date, time, zone optional parts as Docker's
 * GetTimestamp accepts the common ones), a Unix timestamp with fraction, or a duration
 * before now. */
static int parse_when(const char *s, int64_t now, int64_t *ret)
{
	int64_t d;
	if (parse_duration_ns(s, &d) == 0) {
		*ret = now - d;
		return 0;
	}
	if (parse_time_ns(s, ret) == 0)
		return 0;
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%d", &tm);
	if (p && (!*p || (*p == 'T' && strptime(p + 1, "%H:%M:%S", &tm) &&
			  strlen(p) == 9))) {
		/* No zone: Docker reads it in local time. */
		tm.tm_isdst = -1;
		*ret = (int64_t)mktime(&tm) * 1000000000;
		return 0;
	}
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*s && !*end && !errno) {
		*ret = (int64_t)(v * 1e9);
		return 0;
	}
	return -EINVAL;
}

struct logopts {
	int timestamps, details;
	int64_t since, until;
	int have_until;
};

/* One json-file record to stdout/stderr. Returns 1 when past --until (stop). */
static int emit(const struct logopts *lo, const char *line, size_t len)
{
	json_error_t je;
	_cleanup_json_ json_t *rec = json_loadb(line, len, 0, &je);
	if (!json_is_object(rec))
		return 0; /* a damaged or half-written line: skip it, as docker does */
	json_t *log = json_object_get(rec, "log"), *stream = json_object_get(rec, "stream"),
	       *tm = json_object_get(rec, "time");
	if (!json_is_string(log))
		return 0;
	int64_t t = 0;
	if (json_is_string(tm) && parse_time_ns(json_string_value(tm), &t) < 0)
		t = 0;
	if (lo->since && t < lo->since)
		return 0;
	if (lo->have_until && t > lo->until)
		return 1;
	FILE *out = json_is_string(stream) && streq(json_string_value(stream), "stderr") ? stderr
											  : stdout;
	if (lo->timestamps && json_is_string(tm))
		fprintf(out, "%s ", json_string_value(tm));
	fwrite(json_string_value(log), 1, json_string_length(log), out);
	return 0;
}

int cmd_logs(struct berth_ctx *ctx, int argc, char **argv)
{
	int follow = 0, timestamps = 0, details = 0;
	const char *tail = "all", *since = NULL, *until = NULL;
	const struct opt opts[] = {
		{OPT_BOOL, 0, "details", &details, NULL, "Show extra details provided to logs"},
		{OPT_BOOL, 'f', "follow", &follow, NULL, "Follow log output"},
		{OPT_STRING, 0, "since", &since, "string",
		 "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. "
		 "\"42m\" for 42 minutes)"},
		{OPT_STRING, 'n', "tail", &tail, "string",
		 "Number of lines to show from the end of the logs (default \"all\")"},
		{OPT_BOOL, 't', "timestamps", &timestamps, NULL, "Show timestamps"},
		{OPT_STRING, 0, "until", &until, "string",
		 "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. "
		 "\"42m\" for 42 minutes)"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &logs_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &logs_help, argc - first, 1, 1) < 0)
		return 1;
	struct logopts lo = {.timestamps = timestamps, .details = details};
	int64_t now = rt_time_now_ns();
	if (since && *since && parse_when(since, now, &lo.since) < 0) {
		fprintf(stderr, "Error: invalid value for \"since\": failed to parse value as time or "
				"duration: \"%s\"\n", since);
		return 1;
	}
	if (until && *until) {
		if (parse_when(until, now, &lo.until) < 0) {
			fprintf(stderr, "Error: invalid value for \"until\": failed to parse value as "
					"time or duration: \"%s\"\n", until);
			return 1;
		}
		lo.have_until = 1;
	}
	long ntail = -1;
	if (tail && *tail && !streq(tail, "all")) {
		char *end;
		ntail = strtol(tail, &end, 10);
		/* Docker treats anything that is not a number as "all". */
		if (*end || ntail < 0)
			ntail = -1;
	}

	_cleanup_berr_ struct berr *err = NULL;
	struct ctr c;
	if (ctr_lookup(ctx->root, argv[first], &c, &err) < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}
	char id[RT_ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", c.id);
	ctr_free(&c);
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/containers/%s/%s-json.log", ctx->root, id, id) < 0) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT) {
		cmd_errorf(ctx, "open '%s': %s", path, strerror(errno));
		return EXIT_ENGINE;
	}

	/* With --tail, start at the beginning of the last N lines. */
	_cleanup_buf_ struct buf pending = BUF_INIT;
	if (fd >= 0 && ntail >= 0) {
		off_t end = lseek(fd, 0, SEEK_END), pos = end;
		long lines = 0;
		char blk[8192];
		off_t start = 0;
		int found = 0;
		while (ntail > 0 && pos > 0 && !found) {
			size_t want = pos > (off_t)sizeof(blk) ? sizeof(blk) : (size_t)pos;
			pos -= (off_t)want;
			if (pread(fd, blk, want, pos) != (ssize_t)want)
				break;
			for (size_t i = want; i-- > 0;) {
				if (blk[i] != '\n' || pos + (off_t)i == end - 1)
					continue;
				if (++lines == ntail) {
					start = pos + (off_t)i + 1;
					found = 1;
					break;
				}
			}
		}
		if (ntail == 0)
			start = end;
		lseek(fd, start, SEEK_SET);
	}

	char buf[65536];
	int stop = 0, idle = 0;
	for (;;) {
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cmd_errorf(ctx, "read '%s': %s", path, strerror(errno));
			return EXIT_ENGINE;
		}
		if (n > 0) {
			idle = 0;
			if (buf_append(&pending, buf, (size_t)n) < 0) {
				cmd_errorf(ctx, "out of memory");
				return EXIT_ENGINE;
			}
			size_t off = 0;
			char *nl;
			while (!stop && (nl = memchr(pending.data + off, '\n', pending.len - off))) {
				stop = emit(&lo, pending.data + off, (size_t)(nl - pending.data) - off);
				off = (size_t)(nl - pending.data) + 1;
			}
			memmove(pending.data, pending.data + off, pending.len - off);
			pending.len -= off;
			pending.data[pending.len] = '\0';
			fflush(stdout);
			fflush(stderr);
			if (stop)
				break;
			continue;
		}
		if (!follow)
			break;
		/* At the end: go on while the container runs (or restarts); its monitor
		 * appends. Checking the state is a file read, so only every few polls. */
		if (idle++ % 4 == 0) {
			struct ctr cur;
			struct berr *e = NULL;
			int up = 0;
			if (ctr_load(ctx->root, id, &cur, &e) == 0) {
				up = cur.state.status == RT_STATUS_RUNNING ||
				     cur.state.status == RT_STATUS_PAUSED ||
				     cur.state.status == RT_STATUS_RESTARTING;
				ctr_free(&cur);
			}
			berr_free(e);
			if (!up) {
				/* One more read catches what was written before the exit. */
				if (idle > 1)
					break;
				continue;
			}
			if (fd < 0)
				fd = open(path, O_RDONLY | O_CLOEXEC);
		}
		poll(NULL, 0, 50);
	}
	if (pending.len && !stop)
		emit(&lo, pending.data, pending.len);
	fflush(stdout);
	return 0;
}
