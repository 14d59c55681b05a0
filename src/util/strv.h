/* NULL-terminated vectors of owned strings. */
#ifndef BERTH_UTIL_STRV_H
#define BERTH_UTIL_STRV_H

#include <stddef.h>

struct strv {
	char **v; /* NULL-terminated once anything is pushed; may be NULL when empty */
	size_t n;
};

#define STRV_INIT {NULL, 0}

int strv_push(struct strv *s, const char *str);  /* copies str; 0 or -ENOMEM */
int strv_push_take(struct strv *s, char *str);   /* takes ownership; frees it on failure */
int strv_contains(const struct strv *s, const char *str);
void strv_remove_at(struct strv *s, size_t i);
void strv_sort(struct strv *s);
void strv_free(struct strv *s);
#define _cleanup_strv_ __attribute__((cleanup(strv_free)))

#endif
