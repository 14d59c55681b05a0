#include "opt.h"
#include "cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

static const struct opt *find_long(const struct opt *opts, const char *name, size_t len)
{
	for (const struct opt *o = opts; o->type != OPT_END; o++)
		if (o->long_name && strlen(o->long_name) == len && strncmp(o->long_name, name, len) == 0)
			return o;
	return NULL;
}

static const struct opt *find_short(const struct opt *opts, char c)
{
	for (const struct opt *o = opts; o->type != OPT_END; o++)
		if (o->short_name == c)
			return o;
	return NULL;
}

static int parse_bool(const char *s, int *ret)
{
	if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "t") || !strcmp(s, "TRUE") ||
	    !strcmp(s, "True")) {
		*ret = 1;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "f") || !strcmp(s, "FALSE") ||
	    !strcmp(s, "False")) {
		*ret = 0;
		return 0;
	}
	return -EINVAL;
}

static int set_value(const struct opt *o, const char *val, const char *shown, struct berr **err)
{
	switch (o->type) {
	case OPT_BOOL:
		if (!val) {
			*(int *)o->value = 1;
			return 0;
		}
		if (parse_bool(val, (int *)o->value) < 0)
			return berr_set(err, EINVAL,
					"invalid argument \"%s\" for \"%s\" flag: strconv.ParseBool: "
					"parsing \"%s\": invalid syntax",
					val, shown, val);
		return 0;
	case OPT_STRING:
		*(const char **)o->value = val;
		return 0;
	case OPT_LIST:
		if (strv_push((struct strv *)o->value, val) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		return 0;
	case OPT_INT: {
		char *end = NULL;
		errno = 0;
		long v = strtol(val, &end, 10);
		if (errno || !*val || *end)
			return berr_set(err, EINVAL,
					"invalid argument \"%s\" for \"%s\" flag: strconv.ParseInt: "
					"parsing \"%s\": invalid syntax",
					val, shown, val);
		*(long *)o->value = v;
		return 0;
	}
	case OPT_END:
		break;
	}
	return -EINVAL;
}

int opt_parse(const struct opt *opts, int flags, int argc, char **argv, int *ret_first,
	      struct berr **err)
{
	_cleanup_free_ char **operands = calloc((size_t)argc + 1, sizeof(char *));
	if (!operands)
		return berr_set(err, ENOMEM, "out of memory");
	int nops = 0, nopt = 1;
	int i = 1;

	for (; i < argc; i++) {
		char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			argv[nopt++] = a;
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (flags & OPT_PARSE_STOP_AT_OPERAND)
				break;
			operands[nops++] = a;
			continue;
		}
		argv[nopt++] = a;
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			if (len == 4 && strncmp(name, "help", 4) == 0)
				return 1;
			const struct opt *o = find_long(opts, name, len);
			if (!o)
				return berr_set(err, EINVAL, "unknown flag: --%.*s", (int)len, name);
			char shown[128];
			snprintf(shown, sizeof(shown), "--%s", o->long_name);
			const char *val = eq ? eq + 1 : NULL;
			if (!val && o->type != OPT_BOOL) {
				if (i + 1 >= argc)
					return berr_set(err, EINVAL, "flag needs an argument: --%s",
							o->long_name);
				val = argv[++i];
				argv[nopt++] = (char *)val;
			}
			int r = set_value(o, val, shown, err);
			if (r < 0)
				return r;
			continue;
		}
		for (char *s = a + 1; *s; s++) {
			if (*s == 'h' && !find_short(opts, 'h'))
				return 1;
			const struct opt *o = find_short(opts, *s);
			if (!o)
				return berr_set(err, EINVAL, "unknown shorthand flag: '%c' in %s", *s, a);
			char shown[128];
			snprintf(shown, sizeof(shown), "-%c, --%s", o->short_name,
				 o->long_name ? o->long_name : "");
			if (o->type == OPT_BOOL) {
				if (s[1] == '=') {
					int r = set_value(o, s + 2, shown, err);
					if (r < 0)
						return r;
					break;
				}
				set_value(o, NULL, shown, err);
				continue;
			}
			const char *val = s[1] ? s + 1 + (s[1] == '=') : NULL;
			if (!val) {
				if (i + 1 >= argc)
					return berr_set(err, EINVAL,
							"flag needs an argument: '%c' in -%c", *s, *s);
				val = argv[++i];
				argv[nopt++] = (char *)val;
			}
			int r = set_value(o, val, shown, err);
			if (r < 0)
				return r;
			break;
		}
	}
	/* Whatever follows "--" or the first operand (in stop mode) is operands, verbatim. */
	for (; i < argc; i++)
		operands[nops++] = argv[i];
	for (int k = 0; k < nops; k++)
		argv[nopt + k] = operands[k];
	*ret_first = nopt;
	return 0;
}

void opt_print_help(const struct cmd_help *help, const struct opt *opts)
{
	printf("\nUsage:  %s\n\n%s\n", help->usage, help->summary);
	if (help->aliases)
		printf("\nAliases:\n  %s\n", help->aliases);

	size_t width = 0;
	int any = 0;
	for (const struct opt *o = opts; o && o->type != OPT_END; o++) {
		if (o->flags & OPT_HIDDEN)
			continue;
		size_t w = 6 + (o->long_name ? strlen(o->long_name) + 2 : 0);
		if (o->type != OPT_BOOL && o->arg_name)
			w += 1 + strlen(o->arg_name);
		if (w > width)
			width = w;
		any = 1;
	}
	if (!any)
		return;
	printf("\nOptions:\n");
	for (const struct opt *o = opts; o->type != OPT_END; o++) {
		if (o->flags & OPT_HIDDEN)
			continue;
		char left[256];
		int n;
		if (o->short_name)
			n = snprintf(left, sizeof(left), "  -%c, --%s", o->short_name,
				     o->long_name ? o->long_name : "");
		else
			n = snprintf(left, sizeof(left), "      --%s", o->long_name);
		if (o->type != OPT_BOOL && o->arg_name && n > 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, " %s", o->arg_name);
		printf("%-*s   %s\n", (int)width, left, o->help ? o->help : "");
	}
}
