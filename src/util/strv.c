#include "strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int strv_push_take(struct strv *s, char *str)
{
	if (!str)
		return -ENOMEM;
	char **n = realloc(s->v, (s->n + 2) * sizeof(char *));
	if (!n) {
		free(str);
		return -ENOMEM;
	}
	s->v = n;
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
	return 0;
}

int strv_push(struct strv *s, const char *str)
{
	return strv_push_take(s, strdup(str));
}

int strv_contains(const struct strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], str) == 0)
			return 1;
	return 0;
}

void strv_remove_at(struct strv *s, size_t i)
{
	if (i >= s->n)
		return;
	free(s->v[i]);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i) * sizeof(char *));
	s->n--;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strv_sort(struct strv *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(char *), cmp);
}

void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}
