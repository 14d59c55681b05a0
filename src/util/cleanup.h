/* Scope-bound cleanup, in the manner of systemd's _cleanup_ and crun's cleanup_* macros.
 * TAKE_PTR / TAKE_FD move ownership out of a guarded variable. */
#ifndef BERTH_UTIL_CLEANUP_H
#define BERTH_UTIL_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tf = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_tf;                                                                               \
	})

/* Library-specific guards: include the library header before this one to get them. */
#ifdef JANSSON_H
static inline void berth_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define _cleanup_json_ _cleanup_(berth_json_decrefp)
#endif

#ifdef ARCHIVE_H_INCLUDED
static inline void archive_read_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
static inline void archive_write_freep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}
#define _cleanup_archive_read_ _cleanup_(archive_read_freep)
#define _cleanup_archive_write_ _cleanup_(archive_write_freep)
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define streq(a, b) (strcmp((a), (b)) == 0)

#endif
