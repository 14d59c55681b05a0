#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum log_level log_min_level = LOG_WARN;

static const char *const names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *name, enum log_level *ret)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	if (strcmp(name, "warning") == 0) {
		*ret = LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	if (lvl < log_min_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "berth: %s: ", names[lvl]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
