#include "rlimit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cleanup.h"
#include "log.h"
#include "banned.h"

#define SOFT_ABOVE_HARD "ulimit soft limit must be less than or equal to hard limit: "

/* Docker's table (go-units ulimit.go): "as" is left out on purpose there, and here. */
static const struct {
	const char *name;
	int resource;
} names[] = {
	{"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
	{"data", RLIMIT_DATA},         {"fsize", RLIMIT_FSIZE},
	{"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
	{"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
	{"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
	{"rss", RLIMIT_RSS},           {"rtprio", RLIMIT_RTPRIO},
	{"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
	{"stack", RLIMIT_STACK},
};

const char *rt_rlimit_name(int resource)
{
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].resource == resource)
			return names[i].name;
	return NULL;
}

/* A decimal int64 spanning exactly [s, s+len). */
static int parse_value(const char *s, size_t len, int64_t *ret)
{
	char tmp[32];
	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	char *end;
	errno = 0;
	long long v = strtoll(tmp, &end, 10);
	/* strtoll skips leading blanks and accepts '+'; Go's ParseInt does neither. */
	if (errno || *end || !(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')))
		return -EINVAL;
	*ret = v;
	return 0;
}

static uint64_t to_rlim(int64_t v)
{
	return v < 0 ? (uint64_t)RLIM_INFINITY : (uint64_t)v;
}

int rt_rlimit_parse(const char *spec, struct rt_rlimit *ret, struct berr **err)
{
	if (!spec)
		return berr_set(err, EINVAL, "invalid ulimit argument: (null)");
	const char *eq = strchr(spec, '=');
	if (!eq)
		return berr_set(err, EINVAL, "invalid ulimit argument: %s", spec);
	size_t nlen = (size_t)(eq - spec);
	int resource = -1;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strlen(names[i].name) == nlen && memcmp(names[i].name, spec, nlen) == 0)
			resource = names[i].resource;
	if (resource < 0)
		return berr_set(err, EINVAL, "invalid ulimit type: %.*s", (int)nlen, spec);

	const char *vals = eq + 1;
	const char *colon = strchr(vals, ':');
	int64_t soft, hard;
	if (colon && strchr(colon + 1, ':'))
		return berr_set(err, EINVAL,
				"too many limit value arguments - %s, can only have up to two, "
				"`soft[:hard]`",
				vals);
	size_t slen = colon ? (size_t)(colon - vals) : strlen(vals);
	if (parse_value(vals, slen, &soft) < 0)
		return berr_set(err, EINVAL, "invalid ulimit value in '%s'", spec);
	hard = soft;
	if (colon && parse_value(colon + 1, strlen(colon + 1), &hard) < 0)
		return berr_set(err, EINVAL, "invalid ulimit value in '%s'", spec);
	if (soft < -1 || hard < -1)
		return berr_set(err, EINVAL,
				"invalid ulimit value in '%s': only -1 may be negative", spec);
	if (hard != -1) {
		if (soft == -1)
			return berr_set(err, EINVAL,
					SOFT_ABOVE_HARD "soft: -1 (unlimited), hard: %" PRId64,
					hard);
		if (soft > hard)
			return berr_set(err, EINVAL, SOFT_ABOVE_HARD "%" PRId64 " > %" PRId64,
					soft, hard);
	}
	ret->resource = resource;
	ret->soft = to_rlim(soft);
	ret->hard = to_rlim(hard);
	return 0;
}

int rt_rlimit_apply(const struct rt_rlimit *lims, size_t n, struct berr **err)
{
	for (size_t i = 0; i < n; i++) {
		const char *name = rt_rlimit_name(lims[i].resource);
		if (!name)
			return berr_set(err, EINVAL, "unknown resource limit %d", lims[i].resource);
		struct rlimit want = {.rlim_cur = lims[i].soft, .rlim_max = lims[i].hard};
		if (want.rlim_cur > want.rlim_max)
			want.rlim_cur = want.rlim_max;
		if (setrlimit(lims[i].resource, &want) == 0)
			continue;
		if (errno != EPERM)
			return berr_errno(err, errno, "set ulimit %s", name);

		/* Raising a hard limit needs CAP_SYS_RESOURCE (and nofile can never pass
		 * fs.nr_open): keep the current hard limit rather than refusing to start. */
		struct rlimit cur;
		if (getrlimit(lims[i].resource, &cur) < 0)
			return berr_errno(err, errno, "get ulimit %s", name);
		struct rlimit got = want;
		if (got.rlim_max > cur.rlim_max)
			got.rlim_max = cur.rlim_max;
		if (got.rlim_cur > got.rlim_max)
			got.rlim_cur = got.rlim_max;
		if (setrlimit(lims[i].resource, &got) < 0)
			return berr_errno(err, errno, "set ulimit %s", name);
		log_debug("ulimit %s=%llu:%llu clamped to %llu:%llu (current hard limit)", name,
			  (unsigned long long)want.rlim_cur, (unsigned long long)want.rlim_max,
			  (unsigned long long)got.rlim_cur, (unsigned long long)got.rlim_max);
	}
	return 0;
}
