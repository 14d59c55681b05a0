#include <jansson.h>

#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "buf.h"
#include "caps.h"
#include "cleanup.h"
#include "container.h"
#include "fs.h"
#include "log.h"
#include "banned.h"

#define PROFILE_MAX_BYTES (4u << 20)
#define SYSCALL_MAX_ARGS 6

/* ---- parsed-profile memory: every block hangs off the profile and goes with it ---- */

struct arena {
	json_t *doc; /* the strings of the profile point into it */
	void **blocks;
	size_t n, cap;
};

static void *arena_alloc(struct arena *a, size_t nmemb, size_t size)
{
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 16;
		void **nb = realloc(a->blocks, ncap * sizeof(*nb));
		if (!nb)
			return NULL;
		a->blocks = nb;
		a->cap = ncap;
	}
	void *p = calloc(nmemb ? nmemb : 1, size);
	if (p)
		a->blocks[a->n++] = p;
	return p;
}

void rt_seccomp_profile_free(struct rt_seccomp_profile *p)
{
	/* The built-in profile has no priv and is static: nothing to free. */
	if (!p || !p->priv)
		return;
	struct arena *a = p->priv;
	for (size_t i = 0; i < a->n; i++)
		free(a->blocks[i]);
	free(a->blocks);
	if (a->doc)
		json_decref(a->doc);
	free(a);
	free(p);
}

/* ---- parsing Docker's JSON format ---- */

struct parse {
	const char *origin;
	struct arena *arena;
	struct berr **err;
};

static int parse_fail(struct parse *ps, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int parse_fail(struct parse *ps, int code, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return berr_set(ps->err, code, "seccomp profile '%s': %s: %s", ps->origin, field, msg);
}

static const char *json_type_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

/* Optional string member; NULL and 0 when absent or null. */
static int get_string(struct parse *ps, json_t *obj, const char *key, const char *field,
		      const char **ret)
{
	json_t *v = json_object_get(obj, key);
	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return parse_fail(ps, EINVAL, field, "expected a string, got %s",
				  json_type_name(v));
	*ret = json_string_value(v);
	return 0;
}

/* Optional integer member within [min, max]; *ret_set tells whether it was there. */
static int get_int(struct parse *ps, json_t *obj, const char *key, const char *field,
		   json_int_t min, json_int_t max, json_int_t *ret, int *ret_set)
{
	json_t *v = json_object_get(obj, key);
	*ret_set = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return parse_fail(ps, EINVAL, field, "expected an integer, got %s",
				  json_type_name(v));
	json_int_t i = json_integer_value(v);
	if (i < min || i > max)
		return parse_fail(ps, EINVAL, field, "%lld is out of range [%lld, %lld]",
				  (long long)i, (long long)min, (long long)max);
	*ret = i;
	*ret_set = 1;
	return 0;
}

/* Optional array of strings -> NULL-terminated vector into the document, or NULL. */
static int get_strv(struct parse *ps, json_t *obj, const char *key, const char *field,
		    const char *const **ret)
{
	json_t *v = json_object_get(obj, key);
	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return parse_fail(ps, EINVAL, field, "expected an array of strings, got %s",
				  json_type_name(v));
	size_t n = json_array_size(v);
	const char **out = arena_alloc(ps->arena, n + 1, sizeof(*out));
	if (!out)
		return berr_set(ps->err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(v, i);
		if (!json_is_string(s))
			return parse_fail(ps, EINVAL, field,
					  "element %zu: expected a string, got %s", i,
					  json_type_name(s));
		out[i] = json_string_value(s);
	}
	*ret = out;
	return 0;
}

static int parse_action(struct parse *ps, const char *field, const char *name, int has_errno,
			json_int_t errno_ret, uint32_t *ret)
{
	uint16_t e = has_errno ? (uint16_t)errno_ret : EPERM;
	if (streq(name, "SCMP_ACT_ALLOW"))
		*ret = SCMP_ACT_ALLOW;
	else if (streq(name, "SCMP_ACT_ERRNO"))
		*ret = SCMP_ACT_ERRNO(e);
	else if (streq(name, "SCMP_ACT_KILL") || streq(name, "SCMP_ACT_KILL_THREAD"))
		*ret = SCMP_ACT_KILL_THREAD;
	else if (streq(name, "SCMP_ACT_KILL_PROCESS"))
		*ret = SCMP_ACT_KILL_PROCESS;
	else if (streq(name, "SCMP_ACT_TRAP"))
		*ret = SCMP_ACT_TRAP;
	else if (streq(name, "SCMP_ACT_TRACE"))
		*ret = SCMP_ACT_TRACE(e);
	else if (streq(name, "SCMP_ACT_LOG"))
		*ret = SCMP_ACT_LOG;
	else if (streq(name, "SCMP_ACT_NOTIFY"))
		return parse_fail(ps, EOPNOTSUPP, field,
				  "SCMP_ACT_NOTIFY needs a seccomp agent, which berth lacks");
	else
		return parse_fail(ps, EINVAL, field, "unknown action '%s'", name);
	return 0;
}

static int parse_op(struct parse *ps, const char *field, const char *name,
		    enum scmp_compare *ret)
{
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = {
		{"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT},
		{"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
		{"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
		{"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
	};
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		if (streq(name, ops[i].name)) {
			*ret = ops[i].op;
			return 0;
		}
	return parse_fail(ps, EINVAL, field, "unknown operator '%s'", name);
}

/* "major.minor": Docker's minKernel. */
static int parse_kernel_version(const char *s, unsigned *ret_major, unsigned *ret_minor)
{
	unsigned long v[2];
	const char *p = s;
	for (int i = 0; i < 2; i++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		char *end;
		errno = 0;
		v[i] = strtoul(p, &end, 10);
		if (errno || v[i] > 100000)
			return -EINVAL;
		p = end;
		if (i == 0) {
			if (*p != '.')
				return -EINVAL;
			p++;
		}
	}
	/* The running kernel's release goes on ("6.1.0-18-amd64"); a profile's stops. */
	if (ret_major) {
		*ret_major = (unsigned)v[0];
		*ret_minor = (unsigned)v[1];
	}
	return *p == '\0' ? 0 : 1;
}

static int parse_filter(struct parse *ps, json_t *obj, const char *key, const char *field,
			struct rt_seccomp_filter *ret)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	char f[256];
	if (!json_is_object(v))
		return parse_fail(ps, EINVAL, field, "expected an object, got %s",
				  json_type_name(v));
	snprintf(f, sizeof(f), "%s.arches", field);
	int r = get_strv(ps, v, "arches", f, &ret->arches);
	if (r < 0)
		return r;
	snprintf(f, sizeof(f), "%s.caps", field);
	r = get_strv(ps, v, "caps", f, &ret->caps);
	if (r < 0)
		return r;
	snprintf(f, sizeof(f), "%s.minKernel", field);
	r = get_string(ps, v, "minKernel", f, &ret->min_kernel);
	if (r < 0)
		return r;
	if (ret->min_kernel && ret->min_kernel[0] == '\0')
		ret->min_kernel = NULL;
	if (ret->min_kernel && parse_kernel_version(ret->min_kernel, NULL, NULL) != 0)
		return parse_fail(ps, EINVAL, f, "invalid kernel version '%s' (want major.minor)",
				  ret->min_kernel);
	return 0;
}

static int parse_args(struct parse *ps, json_t *call, const char *field,
		      struct rt_seccomp_rule *rule)
{
	char f[256];
	snprintf(f, sizeof(f), "%s.args", field);
	json_t *args = json_object_get(call, "args");
	if (!args || json_is_null(args))
		return 0;
	if (!json_is_array(args))
		return parse_fail(ps, EINVAL, f, "expected an array, got %s", json_type_name(args));
	size_t n = json_array_size(args);
	struct rt_seccomp_arg *out = arena_alloc(ps->arena, n, sizeof(*out));
	if (!out)
		return berr_set(ps->err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *a = json_array_get(args, i);
		char af[300];
		snprintf(af, sizeof(af), "%s[%zu]", f, i);
		if (!json_is_object(a))
			return parse_fail(ps, EINVAL, af, "expected an object, got %s",
					  json_type_name(a));
		json_int_t v;
		int set, r;
		char ff[340];
		snprintf(ff, sizeof(ff), "%s.index", af);
		r = get_int(ps, a, "index", ff, 0, SYSCALL_MAX_ARGS - 1, &v, &set);
		if (r < 0)
			return r;
		out[i].index = set ? (unsigned)v : 0;
		/* Go decodes these as uint64; jansson stops at INT64_MAX. */
		snprintf(ff, sizeof(ff), "%s.value", af);
		r = get_int(ps, a, "value", ff, 0, INT64_MAX, &v, &set);
		if (r < 0)
			return r;
		out[i].value = set ? (uint64_t)v : 0;
		snprintf(ff, sizeof(ff), "%s.valueTwo", af);
		r = get_int(ps, a, "valueTwo", ff, 0, INT64_MAX, &v, &set);
		if (r < 0)
			return r;
		out[i].value_two = set ? (uint64_t)v : 0;
		const char *op;
		snprintf(ff, sizeof(ff), "%s.op", af);
		r = get_string(ps, a, "op", ff, &op);
		if (r < 0)
			return r;
		if (!op)
			return parse_fail(ps, EINVAL, ff, "missing");
		r = parse_op(ps, ff, op, &out[i].op);
		if (r < 0)
			return r;
	}
	rule->args = out;
	rule->n_args = n;
	return 0;
}

static int parse_syscall(struct parse *ps, json_t *call, size_t idx, int has_default_errno,
			 json_int_t default_errno, struct rt_seccomp_rule *rule)
{
	char field[64], f[128];
	snprintf(field, sizeof(field), "syscalls[%zu]", idx);
	if (!json_is_object(call))
		return parse_fail(ps, EINVAL, field, "expected an object, got %s",
				  json_type_name(call));

	const char *name;
	snprintf(f, sizeof(f), "%s.name", field);
	int r = get_string(ps, call, "name", f, &name);
	if (r < 0)
		return r;
	snprintf(f, sizeof(f), "%s.names", field);
	r = get_strv(ps, call, "names", f, &rule->names);
	if (r < 0)
		return r;
	if (name && name[0]) {
		if (rule->names && rule->names[0])
			return parse_fail(ps, EINVAL, field,
					  "both 'name' and 'names' are given, use one");
		const char **one = arena_alloc(ps->arena, 2, sizeof(*one));
		if (!one)
			return berr_set(ps->err, ENOMEM, "out of memory");
		one[0] = name;
		rule->names = one;
	}
	if (!rule->names) {
		static const char *const none[] = {NULL};
		rule->names = none;
	}

	json_int_t eno = 0;
	int has_eno;
	snprintf(f, sizeof(f), "%s.errnoRet", field);
	r = get_int(ps, call, "errnoRet", f, 0, 0xffff, &eno, &has_eno);
	if (r < 0)
		return r;
	if (!has_eno && has_default_errno) {
		eno = default_errno;
		has_eno = 1;
	}
	const char *action;
	snprintf(f, sizeof(f), "%s.action", field);
	r = get_string(ps, call, "action", f, &action);
	if (r < 0)
		return r;
	if (!action)
		return parse_fail(ps, EINVAL, f, "missing");
	r = parse_action(ps, f, action, has_eno, eno, &rule->action);
	if (r < 0)
		return r;

	r = parse_args(ps, call, field, rule);
	if (r < 0)
		return r;
	snprintf(f, sizeof(f), "%s.includes", field);
	r = parse_filter(ps, call, "includes", f, &rule->includes);
	if (r < 0)
		return r;
	snprintf(f, sizeof(f), "%s.excludes", field);
	return parse_filter(ps, call, "excludes", f, &rule->excludes);
}

static int parse_arch_map(struct parse *ps, json_t *doc, struct rt_seccomp_profile *p)
{
	json_t *am = json_object_get(doc, "archMap");
	if (!am || json_is_null(am))
		return 0;
	if (!json_is_array(am))
		return parse_fail(ps, EINVAL, "archMap", "expected an array, got %s",
				  json_type_name(am));
	size_t n = json_array_size(am);
	struct rt_seccomp_arch_map *out = arena_alloc(ps->arena, n, sizeof(*out));
	if (!out)
		return berr_set(ps->err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(am, i);
		char f[64], ff[96];
		snprintf(f, sizeof(f), "archMap[%zu]", i);
		if (!json_is_object(e))
			return parse_fail(ps, EINVAL, f, "expected an object, got %s",
					  json_type_name(e));
		snprintf(ff, sizeof(ff), "%s.architecture", f);
		int r = get_string(ps, e, "architecture", ff, &out[i].arch);
		if (r < 0)
			return r;
		if (!out[i].arch)
			return parse_fail(ps, EINVAL, ff, "missing");
		snprintf(ff, sizeof(ff), "%s.subArchitectures", f);
		r = get_strv(ps, e, "subArchitectures", ff, &out[i].sub);
		if (r < 0)
			return r;
	}
	p->arch_map = out;
	p->n_arch_map = n;
	return 0;
}

static int parse_flags(struct parse *ps, json_t *doc, struct rt_seccomp_profile *p)
{
	const char *const *flags;
	int r = get_strv(ps, doc, "flags", "flags", &flags);
	if (r < 0)
		return r;
	for (size_t i = 0; flags && flags[i]; i++) {
		if (streq(flags[i], "SECCOMP_FILTER_FLAG_LOG"))
			p->log = 1;
		else if (streq(flags[i], "SECCOMP_FILTER_FLAG_SPEC_ALLOW"))
			p->spec_allow = 1;
		else if (streq(flags[i], "SECCOMP_FILTER_FLAG_TSYNC"))
			; /* berth's init is single-threaded when it loads the filter */
		else
			return parse_fail(ps, EINVAL, "flags", "unknown flag '%s'", flags[i]);
	}
	return 0;
}

static int parse_doc(struct parse *ps, json_t *doc, struct rt_seccomp_profile *p)
{
	if (!json_is_object(doc))
		return berr_set(ps->err, EINVAL, "seccomp profile '%s': expected a JSON object",
				ps->origin);
	const char *def;
	int r = get_string(ps, doc, "defaultAction", "defaultAction", &def);
	if (r < 0)
		return r;
	json_int_t def_errno = 0;
	int has_def_errno;
	r = get_int(ps, doc, "defaultErrnoRet", "defaultErrnoRet", 0, 0xffff, &def_errno,
		    &has_def_errno);
	if (r < 0)
		return r;
	r = get_strv(ps, doc, "architectures", "architectures", &p->architectures);
	if (r < 0)
		return r;
	for (size_t i = 0; p->architectures && p->architectures[i]; i++)
		if (strncmp(p->architectures[i], "SCMP_ARCH_", 10) != 0)
			return parse_fail(ps, EINVAL, "architectures", "unknown architecture '%s'",
					  p->architectures[i]);
	r = parse_arch_map(ps, doc, p);
	if (r < 0)
		return r;
	if (p->architectures && p->architectures[0] && p->n_arch_map)
		return parse_fail(ps, EINVAL, "archMap",
				  "both 'architectures' and 'archMap' are given, use one");
	r = parse_flags(ps, doc, p);
	if (r < 0)
		return r;
	const char *listener;
	r = get_string(ps, doc, "listenerPath", "listenerPath", &listener);
	if (r < 0)
		return r;
	if (listener && listener[0])
		return parse_fail(ps, EOPNOTSUPP, "listenerPath",
				  "seccomp agents are not supported by berth");

	json_t *calls = json_object_get(doc, "syscalls");
	if (calls && !json_is_null(calls) && !json_is_array(calls))
		return parse_fail(ps, EINVAL, "syscalls", "expected an array, got %s",
				  json_type_name(calls));
	size_t n = calls ? json_array_size(calls) : 0;
	if ((!def || !def[0]) && n == 0) {
		/* Docker's reading of an empty profile: seccomp off. */
		p->disabled = 1;
		return 0;
	}
	if (!def || !def[0])
		return parse_fail(ps, EINVAL, "defaultAction", "missing");
	r = parse_action(ps, "defaultAction", def, has_def_errno, def_errno, &p->default_action);
	if (r < 0)
		return r;

	struct rt_seccomp_rule *rules = arena_alloc(ps->arena, n, sizeof(*rules));
	if (!rules)
		return berr_set(ps->err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		r = parse_syscall(ps, json_array_get(calls, i), i, has_def_errno, def_errno,
				  &rules[i]);
		if (r < 0)
			return r;
	}
	p->rules = rules;
	p->n_rules = n;
	return 0;
}

int rt_seccomp_profile_parse(const char *data, size_t len, const char *origin,
			     struct rt_seccomp_profile **ret, struct berr **err)
{
	if (!origin)
		origin = "(inline)";
	json_error_t je;
	json_t *doc = json_loadb(data, len, 0, &je);
	if (!doc)
		return berr_set(err, EINVAL, "seccomp profile '%s': line %d column %d: %s", origin,
				je.line, je.column, je.text);
	struct rt_seccomp_profile *p = calloc(1, sizeof(*p));
	struct arena *a = calloc(1, sizeof(*a));
	if (!p || !a) {
		free(p);
		free(a);
		json_decref(doc);
		return berr_set(err, ENOMEM, "out of memory");
	}
	a->doc = doc;
	p->priv = a;
	struct parse ps = {.origin = origin, .arena = a, .err = err};
	int r = parse_doc(&ps, doc, p);
	if (r < 0) {
		rt_seccomp_profile_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int rt_seccomp_profile_read(const char *path, struct rt_seccomp_profile **ret,
			    struct berr **err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = fs_read_all_at(AT_FDCWD, path, PROFILE_MAX_BYTES, &data, &len);
	if (r == -EFBIG)
		return berr_set(err, EFBIG, "seccomp profile '%s': larger than %u bytes", path,
				PROFILE_MAX_BYTES);
	if (r < 0)
		return berr_errno(err, r, "seccomp profile '%s'", path);
	return rt_seccomp_profile_parse(data, len, path, ret, err);
}

/* ---- compiling for this system ---- */

/* Docker's (libseccomp-golang's) name of the native arch, used by includes/excludes. */
static const char *native_arch_name(uint32_t token)
{
	static const struct {
		uint32_t token;
		const char *name;
	} map[] = {
		{SCMP_ARCH_X86, "x86"},
		{SCMP_ARCH_X86_64, "amd64"},
		{SCMP_ARCH_X32, "x32"},
		{SCMP_ARCH_ARM, "arm"},
		{SCMP_ARCH_AARCH64, "arm64"},
		{SCMP_ARCH_MIPS, "mips"},
		{SCMP_ARCH_MIPS64, "mips64"},
		{SCMP_ARCH_MIPS64N32, "mips64n32"},
		{SCMP_ARCH_MIPSEL, "mipsel"},
		{SCMP_ARCH_MIPSEL64, "mipsel64"},
		{SCMP_ARCH_MIPSEL64N32, "mipsel64n32"},
		{SCMP_ARCH_PPC, "ppc"},
		{SCMP_ARCH_PPC64, "ppc64"},
		{SCMP_ARCH_PPC64LE, "ppc64le"},
		{SCMP_ARCH_S390, "s390"},
		{SCMP_ARCH_S390X, "s390x"},
		{SCMP_ARCH_PARISC, "parisc"},
		{SCMP_ARCH_PARISC64, "parisc64"},
		{SCMP_ARCH_RISCV64, "riscv64"},
#ifdef SCMP_ARCH_LOONGARCH64
		{SCMP_ARCH_LOONGARCH64, "loong64"},
#endif
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (map[i].token == token)
			return map[i].name;
	return "unknown";
}

/* "SCMP_ARCH_X86_64" -> libseccomp token, 0 when this libseccomp does not know it. */
static uint32_t arch_token(const char *name)
{
	if (!name || strncmp(name, "SCMP_ARCH_", 10) != 0)
		return 0;
	char low[32];
	size_t n = strlen(name + 10);
	if (n == 0 || n >= sizeof(low))
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = name[10 + i];
		low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	return seccomp_arch_resolve_name(low);
}

struct host {
	uint32_t native;
	const char *arch;
	unsigned kmajor, kminor;
	uint64_t caps;
};

static int strv_has(const char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (streq(v[i], s))
			return 1;
	return 0;
}

/* Docker compares capability names with its bounding list: exact "CAP_X" spelling only. */
static int cap_held(const struct host *h, const char *name)
{
	for (int c = 0; c < 64; c++) {
		const char *n = rt_caps_name(c);
		if (!n)
			break;
		if (streq(n, name))
			return (h->caps >> c) & 1;
	}
	return 0;
}

static int kernel_at_least(const struct host *h, const char *v)
{
	unsigned maj, min;
	if (parse_kernel_version(v, &maj, &min) != 0)
		return 0;
	return h->kmajor > maj || (h->kmajor == maj && h->kminor >= min);
}

/* Docker's order: excludes first (any match drops the rule), then includes (all must hold). */
static int rule_applies(const struct host *h, const struct rt_seccomp_rule *rule)
{
	const struct rt_seccomp_filter *ex = &rule->excludes, *in = &rule->includes;
	if (ex->arches && ex->arches[0] && strv_has(ex->arches, h->arch))
		return 0;
	for (size_t i = 0; ex->caps && ex->caps[i]; i++)
		if (cap_held(h, ex->caps[i]))
			return 0;
	if (ex->min_kernel && kernel_at_least(h, ex->min_kernel))
		return 0;
	if (in->arches && in->arches[0] && !strv_has(in->arches, h->arch))
		return 0;
	for (size_t i = 0; in->caps && in->caps[i]; i++)
		if (!cap_held(h, in->caps[i]))
			return 0;
	if (in->min_kernel && !kernel_at_least(h, in->min_kernel))
		return 0;
	return 1;
}

static int add_arch(scmp_filter_ctx ctx, const struct host *h, const char *name,
		    struct berr **err)
{
	uint32_t tok = arch_token(name);
	if (tok == 0) {
		/* A newer arch than this libseccomp knows (SCMP_ARCH_LOONGARCH64 with 2.5.4):
		 * it cannot be the one we run on, so it is not needed. */
		log_debug("seccomp: architecture %s unknown to libseccomp, skipped", name);
		return 0;
	}
	if (tok == h->native)
		return 0;
	int r = seccomp_arch_add(ctx, tok);
	if (r < 0 && r != -EEXIST)
		return berr_errno(err, r, "seccomp: add architecture %s", name);
	return 0;
}

static int add_arches(scmp_filter_ctx ctx, const struct host *h,
		      const struct rt_seccomp_profile *p, struct berr **err)
{
	for (size_t i = 0; p->architectures && p->architectures[i]; i++) {
		int r = add_arch(ctx, h, p->architectures[i], err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < p->n_arch_map; i++) {
		if (arch_token(p->arch_map[i].arch) != h->native)
			continue;
		for (size_t k = 0; p->arch_map[i].sub && p->arch_map[i].sub[k]; k++) {
			int r = add_arch(ctx, h, p->arch_map[i].sub[k], err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int add_rule(scmp_filter_ctx ctx, const struct rt_seccomp_rule *rule, const char *name,
		    struct berr **err)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR) {
		log_debug("seccomp: syscall %s unknown here, skipped", name);
		return 0;
	}
	struct scmp_arg_cmp cmp[SYSCALL_MAX_ARGS];
	unsigned count[SYSCALL_MAX_ARGS] = {0};
	size_t n = rule->n_args;
	int repeated = 0;
	for (size_t i = 0; i < n; i++) {
		const struct rt_seccomp_arg *a = &rule->args[i];
		if (a->index >= SYSCALL_MAX_ARGS)
			return berr_set(err, EINVAL, "seccomp: syscall %s: argument index %u",
					name, a->index);
		if (++count[a->index] > 1)
			repeated = 1;
	}

	int r;
	if (n == 0) {
		r = seccomp_rule_add_array(ctx, rule->action, nr, 0, NULL);
	} else if (!repeated) {
		for (size_t i = 0; i < n; i++)
			cmp[i] = (struct scmp_arg_cmp){rule->args[i].index, rule->args[i].op,
						       rule->args[i].value,
						       rule->args[i].value_two};
		r = seccomp_rule_add_array(ctx, rule->action, nr, (unsigned)n, cmp);
	} else {
		/* Two comparisons of one argument cannot be ANDed in one libseccomp rule;
		 * runc (and so Docker) adds them as separate rules, i.e. ORs them. */
		r = 0;
		for (size_t i = 0; i < n && r == 0; i++) {
			cmp[0] = (struct scmp_arg_cmp){rule->args[i].index, rule->args[i].op,
						       rule->args[i].value,
						       rule->args[i].value_two};
			r = seccomp_rule_add_array(ctx, rule->action, nr, 1, cmp);
		}
	}
	if (r < 0)
		return berr_errno(err, r, "seccomp: add rule for syscall %s", name);
	return 0;
}

static int host_probe(struct host *h, uint64_t caps)
{
	h->native = seccomp_arch_native();
	h->arch = native_arch_name(h->native);
	h->caps = caps;
	struct utsname u;
	if (uname(&u) < 0 || parse_kernel_version(u.release, &h->kmajor, &h->kminor) < 0) {
		h->kmajor = 0;
		h->kminor = 0;
	}
	return 0;
}

int rt_seccomp_profile_compile(const struct rt_seccomp_profile *p, uint64_t caps,
			       scmp_filter_ctx *ret, struct berr **err)
{
	*ret = NULL;
	if (p->disabled)
		return 0;
	struct host h;
	host_probe(&h, caps);

	scmp_filter_ctx ctx = seccomp_init(p->default_action);
	if (!ctx)
		return berr_set(err, EINVAL, "seccomp: cannot create a filter with default "
					     "action 0x%08x",
				p->default_action);
	/* no_new_privs belongs to the caller: see seccomp.h. */
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r < 0) {
		berr_errno(err, r, "seccomp: clear the no_new_privs attribute");
		goto fail;
	}
	/* Without it libseccomp reports every kernel refusal as ECANCELED; the caller wants
	 * to tell EACCES (no CAP_SYS_ADMIN and no no_new_privs) from the rest. */
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1)) < 0)
		log_debug("seccomp: raw error codes unavailable: %s", strerror(-r));
	if (p->log && (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1)) < 0) {
		berr_errno(err, r, "seccomp: flag SECCOMP_FILTER_FLAG_LOG");
		goto fail;
	}
	if (p->spec_allow && (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1)) < 0) {
		berr_errno(err, r, "seccomp: flag SECCOMP_FILTER_FLAG_SPEC_ALLOW");
		goto fail;
	}
	r = add_arches(ctx, &h, p, err);
	if (r < 0)
		goto fail;

	for (size_t i = 0; i < p->n_rules; i++) {
		const struct rt_seccomp_rule *rule = &p->rules[i];
		if (!rule_applies(&h, rule))
			continue;
		/* libseccomp refuses a rule that repeats the default action. */
		if (rule->action == p->default_action)
			continue;
		for (size_t k = 0; rule->names && rule->names[k]; k++) {
			r = add_rule(ctx, rule, rule->names[k], err);
			if (r < 0)
				goto fail;
		}
	}
	*ret = ctx;
	return 0;
fail:
	seccomp_release(ctx);
	return r;
}

int rt_seccomp_profile_load(const struct rt_seccomp_profile *p, uint64_t caps,
			    struct berr **err)
{
	scmp_filter_ctx ctx;
	int r = rt_seccomp_profile_compile(p, caps, &ctx, err);
	if (r < 0 || !ctx)
		return r;
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return berr_errno(err, r, "seccomp: load the filter");
	return 0;
}

int rt_seccomp_load_default(uint64_t caps, struct berr **err)
{
	return rt_seccomp_profile_load(rt_seccomp_profile_default(), caps, err);
}

int rt_seccomp_load_file(const char *path, uint64_t caps, struct berr **err)
{
	struct rt_seccomp_profile *p = NULL;
	int r = rt_seccomp_profile_read(path, &p, err);
	if (r < 0)
		return r;
	r = rt_seccomp_profile_load(p, caps, err);
	rt_seccomp_profile_free(p);
	return r;
}

/* ---- compiled BPF and its cache ---- */

/* Bump when the compiling above changes what it makes of the same profile. */
#define BPF_CACHE_LOGIC 1
#define BPF_CACHE_MAGIC "BSECBPF1"
#define BPF_MAX_INSNS 65535 /* the kernel's BPF_MAXINSNS is 4096; a sanity bound */

static char *cache_dir;

void rt_seccomp_set_cache_dir(const char *dir)
{
	free(cache_dir);
	cache_dir = dir ? strdup(dir) : NULL;
}

void rt_seccomp_bpf_free(struct rt_seccomp_bpf *b)
{
	free(b->insns);
	*b = (struct rt_seccomp_bpf){0};
}

int rt_seccomp_bpf_load(const struct rt_seccomp_bpf *b)
{
	if (!b->insns || b->len == 0)
		return 0;
	struct sock_fprog prog = {.len = (unsigned short)b->len, .filter = b->insns};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, b->flags, &prog) == 0)
		return 0;
	if (errno == ENOSYS && b->flags == 0 &&
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0)
		return 0;
	return -errno;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
#define FNV_BASIS 0xcbf29ce484222325ULL

static int key_str(struct buf *b, const char *s)
{
	return s ? buf_printf(b, "%zu:%s;", strlen(s), s) : buf_puts(b, "-;");
}

static int key_strv(struct buf *b, const char *const *v)
{
	if (!v)
		return buf_puts(b, "-;");
	int r = 0;
	size_t n = 0;
	while (v[n])
		n++;
	r |= buf_printf(b, "[%zu", n);
	for (size_t i = 0; i < n; i++)
		r |= key_str(b, v[i]);
	return r | buf_puts(b, "]");
}

static int key_filter(struct buf *b, const struct rt_seccomp_filter *f)
{
	return key_strv(b, f->arches) | key_strv(b, f->caps) | key_str(b, f->min_kernel);
}

/* Everything the compiled program depends on, unambiguously (length-prefixed strings). */
static int profile_key(const struct rt_seccomp_profile *p, const struct host *h, struct buf *b)
{
	const struct scmp_version *v = seccomp_version();
	int r = buf_printf(
	    b, "logic %d libseccomp %u.%u.%u api %u arch %u kernel %u.%u caps %llx\n",
	    BPF_CACHE_LOGIC, v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0,
	    seccomp_api_get(), h->native, h->kmajor, h->kminor, (unsigned long long)h->caps);
	r |= buf_printf(b, "profile %d %x %d %d\n", p->disabled, p->default_action, p->log,
			p->spec_allow);
	r |= key_strv(b, p->architectures);
	for (size_t i = 0; i < p->n_arch_map; i++)
		r |= key_str(b, p->arch_map[i].arch) | key_strv(b, p->arch_map[i].sub);
	r |= buf_printf(b, "\nrules %zu\n", p->n_rules);
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct rt_seccomp_rule *rule = &p->rules[i];
		r |= key_strv(b, rule->names);
		r |= buf_printf(b, "%x %zu", rule->action, rule->n_args);
		for (size_t k = 0; k < rule->n_args; k++) {
			const struct rt_seccomp_arg *a = &rule->args[k];
			r |= buf_printf(b, " %u %d %llx %llx", a->index, (int)a->op,
					(unsigned long long)a->value,
					(unsigned long long)a->value_two);
		}
		r |= key_filter(b, &rule->includes) | key_filter(b, &rule->excludes);
		r |= buf_putc(b, '\n');
	}
	return r ? -ENOMEM : 0;
}

/* The cache file: magic, then (host order) u32 key length, u32 instruction count, u32
 * flags, u32 zero, u64 FNV-1a of key and program, then the key and the program. */
struct bpf_head {
	char magic[8];
	uint32_t keylen, len, flags, zero;
	uint64_t sum;
};

static int cache_read(int dirfd, const char *name, const struct buf *key,
		      struct rt_seccomp_bpf *ret)
{
	_cleanup_free_ char *data = NULL;
	size_t n = 0;
	if (fs_read_all_at(dirfd, name, 1u << 20, &data, &n) < 0)
		return -ENOENT;
	struct bpf_head hd;
	if (n < sizeof(hd))
		return -EINVAL;
	memcpy(&hd, data, sizeof(hd));
	if (memcmp(hd.magic, BPF_CACHE_MAGIC, 8) != 0 || hd.keylen != key->len || hd.len == 0 ||
	    hd.len > BPF_MAX_INSNS ||
	    n != sizeof(hd) + hd.keylen + (size_t)hd.len * sizeof(struct sock_filter) ||
	    memcmp(data + sizeof(hd), key->data, key->len) != 0 ||
	    fnv1a(FNV_BASIS, data + sizeof(hd), n - sizeof(hd)) != hd.sum)
		return -EINVAL;
	size_t bytes = (size_t)hd.len * sizeof(struct sock_filter);
	void *insns = malloc(bytes);
	if (!insns)
		return -ENOMEM;
	memcpy(insns, data + sizeof(hd) + hd.keylen, bytes);
	*ret = (struct rt_seccomp_bpf){.insns = insns, .len = hd.len, .flags = hd.flags};
	return 0;
}

static void cache_write(int dirfd, const char *name, const struct buf *key,
			const struct rt_seccomp_bpf *b)
{
	size_t bytes = b->len * sizeof(struct sock_filter);
	struct bpf_head hd = {
	    .keylen = (uint32_t)key->len, .len = (uint32_t)b->len, .flags = b->flags};
	memcpy(hd.magic, BPF_CACHE_MAGIC, 8);
	_cleanup_buf_ struct buf out = BUF_INIT;
	if (buf_append(&out, &hd, sizeof(hd)) < 0 || buf_append(&out, key->data, key->len) < 0 ||
	    buf_append(&out, b->insns, bytes) < 0)
		return;
	hd.sum = fnv1a(FNV_BASIS, out.data + sizeof(hd), out.len - sizeof(hd));
	memcpy(out.data, &hd, sizeof(hd));
	int r = fs_write_atomic_at(dirfd, name, out.data, out.len, 0600);
	if (r < 0)
		log_debug("seccomp: cache %s: %s", name, strerror(-r));
}

/* Compile and export: libseccomp 2.5 exports to an fd only. */
static int export_bpf(const struct rt_seccomp_profile *p, uint64_t caps, struct rt_seccomp_bpf *ret,
		      struct berr **err)
{
	scmp_filter_ctx ctx = NULL;
	int r = rt_seccomp_profile_compile(p, caps, &ctx, err);
	if (r < 0 || !ctx)
		return r;
	_cleanup_close_ int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	if (fd < 0) {
		r = berr_errno(err, errno, "seccomp: memfd_create");
		goto out;
	}
	if ((r = seccomp_export_bpf(ctx, fd)) < 0) {
		berr_errno(err, r, "seccomp: generate the filter");
		goto out;
	}
	_cleanup_free_ char *data = NULL;
	size_t n = 0;
	if (lseek(fd, 0, SEEK_SET) < 0 || (r = fs_read_fd(fd, 1u << 20, &data, &n)) < 0) {
		berr_errno(err, r < 0 ? r : -errno, "seccomp: read the filter");
		r = r < 0 ? r : -errno;
		goto out;
	}
	if (n == 0 || n % sizeof(struct sock_filter) ||
	    n / sizeof(struct sock_filter) > BPF_MAX_INSNS) {
		r = berr_set(err, EINVAL, "seccomp: a filter of %zu bytes", n);
		goto out;
	}
	uint32_t flags = 0, v = 0;
	if (seccomp_attr_get(ctx, SCMP_FLTATR_CTL_LOG, &v) == 0 && v)
		flags |= SECCOMP_FILTER_FLAG_LOG;
	v = 0;
	if (seccomp_attr_get(ctx, SCMP_FLTATR_CTL_SSB, &v) == 0 && v)
		flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
	*ret = (struct rt_seccomp_bpf){
	    .insns = data, .len = n / sizeof(struct sock_filter), .flags = flags};
	data = NULL;
	r = 0;
out:
	seccomp_release(ctx);
	return r;
}

int rt_seccomp_profile_bpf(const struct rt_seccomp_profile *p, uint64_t caps,
			   struct rt_seccomp_bpf *ret, struct berr **err)
{
	*ret = (struct rt_seccomp_bpf){0};
	if (p->disabled)
		return 0;
	_cleanup_close_ int dirfd = -1;
	_cleanup_buf_ struct buf key = BUF_INIT;
	char name[32];
	if (cache_dir) {
		struct host h;
		host_probe(&h, caps);
		if (profile_key(p, &h, &key) == 0) {
			snprintf(name, sizeof(name), "%016llx.bpf",
				 (unsigned long long)fnv1a(FNV_BASIS, key.data, key.len));
			dirfd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dirfd < 0 && errno == ENOENT &&
			    fs_mkdir_p_at(AT_FDCWD, cache_dir, 0700) == 0)
				dirfd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		}
		if (dirfd >= 0 && cache_read(dirfd, name, &key, ret) == 0)
			return 0;
	}
	int r = export_bpf(p, caps, ret, err);
	if (r == 0 && dirfd >= 0 && ret->len)
		cache_write(dirfd, name, &key, ret);
	return r;
}

int rt_seccomp_mode_bpf(int mode, const char *path, uint64_t caps, struct rt_seccomp_bpf *ret,
			struct berr **err)
{
	*ret = (struct rt_seccomp_bpf){0};
	if (mode == RT_SECCOMP_UNCONFINED)
		return 0;
	if (mode == RT_SECCOMP_DEFAULT)
		return rt_seccomp_profile_bpf(rt_seccomp_profile_default(), caps, ret, err);
	struct rt_seccomp_profile *p = NULL;
	int r = rt_seccomp_profile_read(path ? path : "", &p, err);
	if (r < 0)
		return r;
	r = rt_seccomp_profile_bpf(p, caps, ret, err);
	rt_seccomp_profile_free(p);
	return r;
}
