/* A growable byte buffer, always NUL-terminated (like git's strbuf).
 * The struct owns data; buf_free() releases it, buf_steal() hands it to the caller. */
#ifndef BERTH_UTIL_BUF_H
#define BERTH_UTIL_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct buf {
	char *data; /* NULL until the first append; NUL-terminated after it */
	size_t len;
	size_t cap;
};

#define BUF_INIT {NULL, 0, 0}

/* All return 0 or -ENOMEM. */
int buf_grow(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buf_reset(struct buf *b);
/* Returns the data (never NULL: "" for an empty buffer, or NULL on ENOMEM) and empties b. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);
#define _cleanup_buf_ __attribute__((cleanup(buf_free)))

#endif
