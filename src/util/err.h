/* Errors: a negative errno for the caller to test, plus a message chain for the user.
 *
 * Library code returns -errno (or 0 / a positive count) and, when it fails, fills *err
 * with a message. Callers add context with berr_wrap(), so the final text reads
 * outer-to-inner: "load 'x.tar': read manifest.json: unexpected end of file".
 * Only src/cmd/ prints an error, once, and frees it.
 */
#ifndef BERTH_UTIL_ERR_H
#define BERTH_UTIL_ERR_H

#include <stdarg.h>
#include <stddef.h>

struct berr {
	int code;  /* positive errno value (EINVAL, ENOENT, ...) */
	char *msg; /* owned, never NULL once set */
};

/* Set *err (when err != NULL and *err is NULL) to a new error; returns -code.
 * code may be given positive or negative. When *err is already set, it is kept. */
int berr_set(struct berr **err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int berr_vset(struct berr **err, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Like berr_set(), appending ": strerror(code)". */
int berr_errno(struct berr **err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the message of *err with "context: ". Returns -(*err)->code, or -EIO if unset. */
int berr_wrap(struct berr **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void berr_free(struct berr *err);
static inline void berr_freep(struct berr **e)
{
	berr_free(*e);
	*e = NULL;
}
#define _cleanup_berr_ __attribute__((cleanup(berr_freep)))

#endif
