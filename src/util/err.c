#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *xvasprintf(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

int berr_vset(struct berr **err, int code, const char *fmt, va_list ap)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		code = EIO;
	if (!err || *err)
		return -code;
	struct berr *e = calloc(1, sizeof(*e));
	if (!e)
		return -code;
	e->code = code;
	e->msg = xvasprintf(fmt, ap);
	if (!e->msg)
		e->msg = strdup("out of memory");
	*err = e;
	return -code;
}

int berr_set(struct berr **err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = berr_vset(err, code, fmt, ap);
	va_end(ap);
	return r;
}

int berr_errno(struct berr **err, int code, const char *fmt, ...)
{
	if (code < 0)
		code = -code;
	if (!err || *err)
		return -(code ? code : EIO);
	va_list ap;
	va_start(ap, fmt);
	char *head = xvasprintf(fmt, ap);
	va_end(ap);
	int r = berr_set(err, code, "%s: %s", head ? head : "?", strerror(code));
	free(head);
	return r;
}

int berr_wrap(struct berr **err, const char *fmt, ...)
{
	if (!err || !*err)
		return -EIO;
	va_list ap;
	va_start(ap, fmt);
	char *head = xvasprintf(fmt, ap);
	va_end(ap);
	char *joined = NULL;
	if (head && asprintf(&joined, "%s: %s", head, (*err)->msg) >= 0) {
		free((*err)->msg);
		(*err)->msg = joined;
	}
	free(head);
	return -(*err)->code;
}

void berr_free(struct berr *err)
{
	if (!err)
		return;
	free(err->msg);
	free(err);
}
