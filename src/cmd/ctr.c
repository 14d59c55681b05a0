/* The container glue of the commands: records, lookup, the list, names, create (image +
 * flags -> config + spec), start, signal, stop, remove. See ctr.h. */
#include <jansson.h>

#include "ctr.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "caps.h"
#include "cgroup.h"
#include "cleanup.h"
#include "cmd.h"
#include "ctrnet.h"
#include "format.h"
#include "fs.h"
#include "imagecmd.h"
#include "initlayer.h"
#include "linux.h"
#include "log.h"
#include "rlimit.h"
#include "seccomp.h"
#include "store.h"
#include "user.h"

#include "banned.h"

#ifndef BERTH_INIT_INSTALLED
#define BERTH_INIT_INSTALLED "/usr/local/libexec/berth/berth-init"
#endif

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* Where --init puts berth-init in the container (Docker: /sbin/docker-init). */
#define INIT_PATH "/sbin/berth-init"
#define PASSWD_MAX (4u << 20)

/* ---- records ---- */

static const char *str_of(json_t *o, const char *key, const char *def)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : def;
}

void ctr_free(struct ctr *c)
{
	if (c->config)
		json_decref(c->config);
	memset(c, 0, sizeof(*c));
}

/* ctr_load(), the state only when the config's name is want (NULL: any): 1 when it is
 * not, with *ret cleared. */
static int load_named(const char *root, const char *id, const char *want, struct ctr *ret,
		      struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	_cleanup_close_ int dirfd = -1;
	int r = rt_container_dir_open(root, id, &dirfd, err);
	if (r < 0)
		return r;
	json_t *cfg = NULL;
	r = rt_config_read(dirfd, &cfg, err);
	if (r < 0)
		return r == -ENOENT ? berr_set(err, ENOENT, "No such container: %s", id) : r;
	ret->config = cfg;
	snprintf(ret->id, sizeof(ret->id), "%s", id);
	const char *name = str_of(cfg, "Name", "");
	ret->name = name[0] == '/' ? name + 1 : name;
	if (want && !streq(ret->name, want)) {
		ctr_free(ret);
		return 1;
	}
	r = rt_state_read(dirfd, &ret->state, err);
	if (r < 0) {
		ctr_free(ret);
		return r;
	}
	json_t *c = json_object_get(cfg, "CreatedNs");
	ret->created_ns = json_is_integer(c) ? json_integer_value(c) : 0;
	return 0;
}

int ctr_load(const char *root, const char *id, struct ctr *ret, struct berr **err)
{
	return load_named(root, id, NULL, ret, err);
}

static int cmp_created(const void *a, const void *b)
{
	const struct ctr *x = a, *y = b;
	if (x->created_ns != y->created_ns)
		return x->created_ns < y->created_ns ? 1 : -1;
	return strcmp(x->id, y->id);
}

int ctr_list(const char *root, struct ctr **ret, size_t *ret_n, struct berr **err)
{
	_cleanup_strv_ struct strv ids = STRV_INIT;
	*ret = NULL;
	*ret_n = 0;
	int r = rt_container_list(root, &ids, err);
	if (r < 0)
		return r;
	struct ctr *v = calloc(ids.n ? ids.n : 1, sizeof(*v));
	if (!v)
		return berr_set(err, ENOMEM, "out of memory");
	size_t n = 0;
	for (size_t i = 0; i < ids.n; i++) {
		struct berr *e = NULL;
		r = ctr_load(root, ids.v[i], &v[n], &e);
		if (r == 0) {
			n++;
			continue;
		}
		/* Removed meanwhile, or half-written by a create that is still going on. */
		berr_free(e);
	}
	qsort(v, n, sizeof(*v), cmp_created);
	*ret = v;
	*ret_n = n;
	return 0;
}

void ctr_list_free(struct ctr *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ctr_free(&v[i]);
	free(v);
}

static int is_hex(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

int ctr_lookup(const char *root, const char *input, struct ctr *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	if (!*input)
		return berr_set(err, ENOENT, "No such container: %s", input);
	if (rt_id_valid(input)) {
		int r = ctr_load(root, input, ret, err);
		if (r == -ENOENT) {
			berr_freep(err);
			return berr_set(err, ENOENT, "No such container: %s", input);
		}
		return r;
	}
	/* Every container's config is read for its name; only the one that has it gets its
	 * state read (and its processes checked). Containers that fail to load were removed
	 * meanwhile or are half-written by a create still going on, as for ctr_list(). */
	_cleanup_strv_ struct strv ids = STRV_INIT;
	int r = rt_container_list(root, &ids, err);
	if (r < 0)
		return r;
	const char *name = input[0] == '/' ? input + 1 : input;
	for (size_t i = 0; i < ids.n; i++) {
		r = load_named(root, ids.v[i], name, ret, NULL);
		if (r == 0)
			return 0;
	}
	int found = 0;
	for (size_t i = 0; is_hex(input) && i < ids.n; i++) {
		struct ctr c;
		if (strncmp(ids.v[i], input, strlen(input)) != 0 ||
		    load_named(root, ids.v[i], NULL, &c, NULL) != 0)
			continue;
		if (found) {
			ctr_free(&c);
			ctr_free(ret);
			return berr_set(err, EINVAL, "Multiple IDs found with provided prefix: %s",
					input);
		}
		*ret = c;
		found = 1;
	}
	if (!found)
		return berr_set(err, ENOENT, "No such container: %s", input);
	return 0;
}

/* ---- names ---- */

int ctr_name_valid(const char *name)
{
	if (name[0] == '/')
		name++;
	if (!isalnum((unsigned char)name[0]) || !name[1])
		return 0;
	for (const char *p = name + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return 0;
	return strlen(name) <= 255;
}

/* berth's own lists for random names, in Docker's adjective_surname pattern: moods and
 * qualities, and scientists, engineers and explorers. */
static const char *const adjectives[] = {
	"agile",    "amber",    "ardent",   "bold",	    "brave",	"breezy",   "bright",
	"calm",	    "candid",   "cheerful", "clever",   "cosmic",	"crisp",    "curious",
	"daring",   "dazzling", "deft",	    "eager",    "earnest",	"elated",   "epic",
	"fearless", "fervent",  "festive",  "fluent",   "frosty",	"gallant",  "gentle",
	"gleaming", "golden",   "graceful", "hardy",    "hopeful",	"humble",   "jolly",
	"keen",	    "kind",	    "lively",   "loyal",    "lucid",	"lunar",    "merry",
	"mellow",   "mighty",   "modest",   "nimble",   "noble",	"patient",  "placid",
	"plucky",   "polite",   "proud",    "quick",    "quiet",	"radiant",  "rapid",
	"serene",   "sharp",    "shiny",    "silent",   "sincere",	"sleek",    "smooth",
	"snowy",    "solar",    "spry",	    "steady",   "stellar",	"sturdy",   "sunny",
	"swift",    "tender",   "thrifty",  "tidy",	    "trusty",	"upbeat",   "valiant",
	"vivid",    "warm",	    "wise",	    "witty",    "zealous",
};
static const char *const surnames[] = {
	"agnesi",     "alhazen",    "amundsen",	  "archimedes", "babbage",    "banach",
	"bardeen",    "bell",	    "bohr",	  "boole",	"brahe",      "carson",
	"cauchy",     "cavendish",  "chandra",	  "curie",	"darwin",     "dijkstra",
	"dirac",      "edison",	    "einstein",	  "euclid",	"euler",      "faraday",
	"fermat",     "fermi",	    "feynman",	  "fourier",	"franklin",   "galileo",
	"galois",     "gauss",	    "germain",	  "goodall",	"hamilton",   "hawking",
	"heisenberg", "hertz",	    "hilbert",	  "hopper",	"hubble",     "huygens",
	"hypatia",    "jacobi",	    "joule",	  "kepler",	"knuth",      "lamarr",
	"laplace",    "leibniz",    "lovelace",	  "maxwell",	"meitner",    "mendel",
	"newton",     "noether",    "ohm",	  "pascal",	"pasteur",    "pauli",
	"planck",     "poincare",   "ramanujan",  "riemann",	"ritchie",    "sagan",
	"shannon",    "tesla",	    "thompson",	  "torvalds",	"turing",     "volta",
	"wallace",    "watt",	    "wiles",	  "wright",	"yalow",      "zuse",
};

void ctr_name_random(char *buf, size_t len)
{
	uint32_t r[2] = {0, 0};
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		r[0] = (uint32_t)rand();
		r[1] = (uint32_t)rand();
	}
	snprintf(buf, len, "%s_%s", adjectives[r[0] % ARRAY_SIZE(adjectives)],
		 surnames[r[1] % ARRAY_SIZE(surnames)]);
}

int ctr_names_lock(const char *root, struct berr **err)
{
	_cleanup_free_ char *dir = NULL, *path = NULL;
	if (asprintf(&dir, "%s/locks", root) < 0 || asprintf(&path, "%s/containers", dir) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	int r = fs_mkdir_p_at(AT_FDCWD, dir, 0700);
	if (r < 0)
		return berr_errno(err, r, "create '%s'", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return berr_errno(err, errno, "open '%s'", path);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			return berr_errno(err, e, "lock '%s'", path);
		}
	return fd;
}

int ctr_name_owner(const char *root, const char *name, char ret_id[RT_ID_LEN + 1],
		   struct berr **err)
{
	_cleanup_strv_ struct strv ids = STRV_INIT;
	ret_id[0] = '\0';
	if (name[0] == '/')
		name++;
	int r = rt_container_list(root, &ids, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ids.n; i++) {
		_cleanup_close_ int dirfd = -1;
		_cleanup_json_ json_t *cfg = NULL;
		struct berr *e = NULL;
		if (rt_container_dir_open(root, ids.v[i], &dirfd, &e) < 0 ||
		    rt_config_read(dirfd, &cfg, &e) < 0) {
			berr_free(e);
			continue;
		}
		const char *n = str_of(cfg, "Name", "");
		if (n[0] == '/')
			n++;
		if (streq(n, name)) {
			snprintf(ret_id, RT_ID_LEN + 1, "%s", ids.v[i]);
			return 0;
		}
	}
	return 0;
}

int ctr_image_users(const char *root, const char *image_id, char ret_running[13],
		    char ret_stopped[13], struct berr **err)
{
	ret_running[0] = ret_stopped[0] = '\0';
	struct ctr *v;
	size_t n;
	int r = ctr_list(root, &v, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (!streq(str_of(v[i].config, "Image", ""), image_id))
			continue;
		int up = v[i].state.status == RT_STATUS_RUNNING ||
			 v[i].state.status == RT_STATUS_PAUSED ||
			 v[i].state.status == RT_STATUS_RESTARTING;
		char *dst = up ? ret_running : ret_stopped;
		if (!dst[0])
			snprintf(dst, 13, "%.12s", v[i].id);
	}
	ctr_list_free(v, n);
	return 0;
}

/* ---- signals ---- */

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{"ABRT", SIGABRT}, {"ALRM", SIGALRM},	{"BUS", SIGBUS},   {"CHLD", SIGCHLD},
	{"CONT", SIGCONT}, {"FPE", SIGFPE},	{"HUP", SIGHUP},   {"ILL", SIGILL},
	{"INT", SIGINT},   {"IO", SIGIO},	{"IOT", SIGIOT},   {"KILL", SIGKILL},
	{"PIPE", SIGPIPE}, {"POLL", SIGPOLL},	{"PROF", SIGPROF}, {"PWR", SIGPWR},
	{"QUIT", SIGQUIT}, {"SEGV", SIGSEGV},	{"STKFLT", SIGSTKFLT},
	{"STOP", SIGSTOP}, {"SYS", SIGSYS},	{"TERM", SIGTERM}, {"TRAP", SIGTRAP},
	{"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},	{"TTOU", SIGTTOU}, {"URG", SIGURG},
	{"USR1", SIGUSR1}, {"USR2", SIGUSR2},	{"VTALRM", SIGVTALRM},
	{"WINCH", SIGWINCH}, {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
};

int ctr_signal_parse(const char *s, int *ret)
{
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (*s && !*end && !errno) {
		if (n <= 0 || n >= NSIG)
			return -EINVAL;
		*ret = (int)n;
		return 0;
	}
	const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
	for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
		if (strcasecmp(name, signals[i].name) == 0) {
			*ret = signals[i].sig;
			return 0;
		}
	/* RTMIN+n / RTMAX-n, as Docker's signal table has them. */
	if (strncasecmp(name, "RTMIN", 5) == 0 || strncasecmp(name, "RTMAX", 5) == 0) {
		int base = toupper((unsigned char)name[4]) == 'N' ? SIGRTMIN : SIGRTMAX;
		const char *p = name + 5;
		long off = 0;
		if (*p == '+' || *p == '-') {
			off = strtol(p + 1, &end, 10);
			if (*end || off < 0)
				return -EINVAL;
			off = *p == '+' ? off : -off;
		} else if (*p) {
			return -EINVAL;
		}
		if (base + off < SIGRTMIN || base + off > SIGRTMAX)
			return -EINVAL;
		*ret = (int)(base + off);
		return 0;
	}
	return -EINVAL;
}

/* ---- create: helpers ---- */

/* Docker's ReplaceOrAppendEnvValues: "K=V" replaces K in place or is appended; a bare "K"
 * removes K. */
static int env_set(struct strv *env, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
	for (size_t i = 0; i < env->n; i++) {
		const char *e = env->v[i];
		if (strncmp(e, kv, klen) != 0 || (e[klen] != '=' && e[klen] != '\0'))
			continue;
		if (!eq) {
			strv_remove_at(env, i);
			return 0;
		}
		char *copy = strdup(kv);
		if (!copy)
			return -ENOMEM;
		free(env->v[i]);
		env->v[i] = copy;
		return 0;
	}
	return eq ? strv_push(env, kv) : 0;
}

static int env_has(const struct strv *env, const char *key)
{
	size_t klen = strlen(key);
	for (size_t i = 0; i < env->n; i++)
		if (strncmp(env->v[i], key, klen) == 0 && env->v[i][klen] == '=')
			return 1;
	return 0;
}

/* -e K: the value from our own environment when set there, else K alone (which removes
 * it, as Docker's daemon does with it). */
static int env_from_flag(struct strv *env, const char *arg, struct berr **err)
{
	if (!*arg || arg[0] == '=')
		return berr_set(err, EINVAL, "invalid environment variable: %s", arg);
	if (strchr(arg, '='))
		return env_set(env, arg) < 0 ? berr_set(err, ENOMEM, "out of memory") : 0;
	const char *v = getenv(arg);
	_cleanup_free_ char *kv = NULL;
	if (v && asprintf(&kv, "%s=%s", arg, v) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	return env_set(env, kv ? kv : arg) < 0 ? berr_set(err, ENOMEM, "out of memory") : 0;
}

/* Docker's env file: KEY=VALUE lines (the value is taken verbatim), KEY alone from our
 * environment, blank lines and '#' comments skipped, leading white space trimmed. */
static int env_file(struct strv *env, const char *path, struct berr **err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = fs_read_all_at(AT_FDCWD, path, 16u << 20, &data, &len);
	if (r < 0)
		return berr_errno(err, r, "open %s", path);
	if (memchr(data, '\0', len))
		return berr_set(err, EINVAL, "env file %s contains a NUL byte", path);
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		while (*line == ' ' || *line == '\t')
			line++;
		size_t l = strlen(line);
		if (l && line[l - 1] == '\r')
			line[--l] = '\0';
		if (!*line || line[0] == '#')
			continue;
		char *eq = strchr(line, '=');
		size_t klen = eq ? (size_t)(eq - line) : l;
		for (size_t i = 0; i < klen; i++)
			if (isspace((unsigned char)line[i]))
				return berr_set(err, EINVAL, "variable '%.*s' contains whitespaces",
						(int)klen, line);
		if ((r = env_from_flag(env, line, err)) < 0)
			return r;
	}
	return 0;
}

static json_t *strv_to_json(const struct strv *v)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < v->n; i++)
		if (json_array_append_new(a, json_string(v->v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *strv_or_null(const struct strv *v)
{
	return v && v->n ? strv_to_json(v) : json_null();
}

/* A string list of the image config (Entrypoint, Cmd): strings only, else none. */
static int json_strings(json_t *v, struct strv *ret)
{
	if (json_is_string(v))
		return strv_push(ret, json_string_value(v));
	if (!json_is_array(v))
		return 0;
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			continue;
		if (strv_push(ret, json_string_value(e)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int set(json_t *o, const char *key, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_set_new(o, key, v) < 0 ? -ENOMEM : 0;
}

static int path_depth(const char *p)
{
	int d = 0;
	for (; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			d++;
	return d;
}

static int cmp_mount_depth(const void *a, const void *b)
{
	const struct rt_mount *x = a, *y = b;
	return path_depth(x->destination) - path_depth(y->destination);
}

/* A clean absolute path for a mount destination (Docker refuses relative ones and "/"). */
static int check_destination(const char *dst, const char *spec, struct berr **err)
{
	if (!dst || dst[0] != '/')
		return berr_set(err, EINVAL, "invalid mount config: mount path must be absolute: %s",
				spec);
	if (strspn(dst, "/") == strlen(dst))
		return berr_set(err, EINVAL, "invalid specification: destination can't be '/'");
	return 0;
}

struct mounts {
	struct rt_spec *spec;
	json_t *list;   /* inspect's Mounts */
	json_t *binds;  /* HostConfig.Binds */
	json_t *hmounts; /* HostConfig.Mounts */
	json_t *tmpfs;  /* HostConfig.Tmpfs */
};

static const char *propagation_name(unsigned long p)
{
	switch (p) {
	case MS_PRIVATE:
		return "private";
	case MS_PRIVATE | MS_REC:
		return "rprivate";
	case MS_SLAVE:
		return "slave";
	case MS_SLAVE | MS_REC:
		return "rslave";
	case MS_SHARED:
		return "shared";
	case MS_SHARED | MS_REC:
		return "rshared";
	}
	return "";
}

static int mount_record(struct mounts *ms, const struct rt_mount *m, const char *mode)
{
	json_t *o = json_object();
	if (!o)
		return -ENOMEM;
	int r = 0;
	r |= set(o, "Type", json_string(m->type == RT_MOUNT_BIND ? "bind" : "tmpfs"));
	r |= set(o, "Source", json_string(m->source ? m->source : ""));
	r |= set(o, "Destination", json_string(m->destination));
	r |= set(o, "Mode", json_string(mode ? mode : ""));
	r |= set(o, "RW", json_boolean(!(m->flags & MS_RDONLY)));
	r |= set(o, "Propagation", json_string(propagation_name(m->propagation)));
	if (r || json_array_append_new(ms->list, o) < 0) {
		if (r)
			json_decref(o);
		return -ENOMEM;
	}
	return 0;
}

/* -v SRC:DST[:OPTS] */
static int add_volume(struct mounts *ms, const char *spec, struct berr **err)
{
	_cleanup_free_ char *copy = strdup(spec);
	if (!copy)
		return berr_set(err, ENOMEM, "out of memory");
	char *parts[4] = {0};
	size_t n = 0;
	for (char *p = copy; p && n < 4; n++) {
		parts[n] = p;
		p = strchr(p, ':');
		if (p)
			*p++ = '\0';
	}
	if (n > 3 || !*parts[0] || (n > 1 && !*parts[1]) || (n > 2 && !*parts[2]))
		return berr_set(err, EINVAL, "invalid volume specification: '%s'", spec);
	if (n == 1)
		return berr_set(err, EOPNOTSUPP,
				"anonymous volumes are not supported yet: '%s' (use -v HOST:%s)",
				spec, spec);
	if (parts[0][0] != '/')
		return berr_set(err, EOPNOTSUPP,
				"named volumes are not supported yet: '%s' (use an absolute host "
				"path)",
				parts[0]);
	int r = check_destination(parts[1], spec, err);
	if (r < 0)
		return r;
	struct rt_mount m = {.type = RT_MOUNT_BIND,
			     .source = parts[0],
			     .destination = parts[1],
			     .flags = MS_REC,
			     .propagation = MS_PRIVATE | MS_REC};
	if (n == 3) {
		_cleanup_free_ char *opts = strdup(parts[2]);
		if (!opts)
			return berr_set(err, ENOMEM, "out of memory");
		char *s = NULL;
		for (char *o = strtok_r(opts, ",", &s); o; o = strtok_r(NULL, ",", &s)) {
			if (streq(o, "nocopy") || streq(o, "consistent") || streq(o, "cached") ||
			    streq(o, "delegated"))
				continue;
			if (!streq(o, "ro") && !streq(o, "rw") && !streq(o, "z") && !streq(o, "Z") &&
			    !strstr(o, "private") && !strstr(o, "slave") && !strstr(o, "shared"))
				return berr_set(err, EINVAL, "invalid mode: %s", o);
			struct berr *e = NULL;
			if (rt_mount_add_option(&m, o, &e) < 0) {
				berr_free(e);
				return berr_set(err, EINVAL, "invalid mode: %s", o);
			}
		}
	}
	/* Docker's -v makes a missing host directory (--mount does not). */
	struct stat st;
	if (stat(m.source, &st) < 0) {
		if (errno != ENOENT || (r = fs_mkdir_p_at(AT_FDCWD, m.source, 0755)) < 0)
			return berr_errno(err, errno == ENOENT ? -r : errno,
					  "error while creating mount source path '%s'", m.source);
	}
	if (rt_spec_add_mount(ms->spec, &m) < 0 ||
	    mount_record(ms, &m, n == 3 ? parts[2] : "") < 0 ||
	    json_array_append_new(ms->binds, json_string(spec)) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

static int parse_bool_word(const char *v, int *ret)
{
	if (!v || streq(v, "true") || streq(v, "1")) {
		*ret = 1;
		return 0;
	}
	if (streq(v, "false") || streq(v, "0")) {
		*ret = 0;
		return 0;
	}
	return -EINVAL;
}

/* --mount type=bind|tmpfs,source=..,target=..,readonly,bind-propagation=..,tmpfs-size=..,
 * tmpfs-mode=.. */
static int add_mount_flag(struct mounts *ms, const char *spec, struct berr **err)
{
	_cleanup_free_ char *copy = strdup(spec);
	if (!copy)
		return berr_set(err, ENOMEM, "out of memory");
	const char *type = "volume", *src = NULL, *dst = NULL, *prop = NULL;
	const char *size = NULL, *mode = NULL;
	int ro = 0, r;
	char *s = NULL;
	for (char *kv = strtok_r(copy, ",", &s); kv; kv = strtok_r(NULL, ",", &s)) {
		char *eq = strchr(kv, '=');
		if (eq)
			*eq++ = '\0';
		for (char *p = kv; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (streq(kv, "type") && eq)
			type = eq;
		else if ((streq(kv, "source") || streq(kv, "src")) && eq)
			src = eq;
		else if ((streq(kv, "target") || streq(kv, "destination") || streq(kv, "dst")) &&
			 eq)
			dst = eq;
		else if (streq(kv, "readonly") || streq(kv, "ro")) {
			if (parse_bool_word(eq, &ro) < 0)
				return berr_set(err, EINVAL, "invalid value for %s: %s", kv, eq);
		} else if (streq(kv, "bind-propagation") && eq)
			prop = eq;
		else if (streq(kv, "tmpfs-size") && eq)
			size = eq;
		else if (streq(kv, "tmpfs-mode") && eq)
			mode = eq;
		else if (streq(kv, "consistency") || streq(kv, "bind-nonrecursive"))
			continue;
		else
			return berr_set(err, EINVAL, "unexpected key '%s' in '%s'", kv, spec);
	}
	if (!streq(type, "bind") && !streq(type, "tmpfs")) {
		if (streq(type, "volume"))
			return berr_set(err, EOPNOTSUPP, "volumes are not supported yet: '%s'", spec);
		return berr_set(err, EINVAL, "invalid mount type: %s", type);
	}
	if (!dst)
		return berr_set(err, EINVAL, "invalid mount config for type \"%s\": field Target must "
				"not be empty", type);
	if ((r = check_destination(dst, spec, err)) < 0)
		return r;
	struct rt_mount m = {.destination = (char *)dst};
	json_t *hm = json_object();
	if (!hm)
		return berr_set(err, ENOMEM, "out of memory");
	if (streq(type, "bind")) {
		struct stat st;
		if (!src) {
			json_decref(hm);
			return berr_set(err, EINVAL, "invalid mount config for type \"bind\": field "
					"Source must not be empty");
		}
		if (src[0] != '/' || stat(src, &st) < 0) {
			json_decref(hm);
			return berr_set(err, EINVAL, "invalid mount config for type \"bind\": bind "
					"source path does not exist: %s", src);
		}
		m.type = RT_MOUNT_BIND;
		m.source = (char *)src;
		m.flags = MS_REC | (ro ? MS_RDONLY : 0);
		m.propagation = MS_PRIVATE | MS_REC;
		if (prop) {
			struct berr *e = NULL;
			if ((!strstr(prop, "private") && !strstr(prop, "slave") &&
			     !strstr(prop, "shared")) ||
			    rt_mount_add_option(&m, prop, &e) < 0) {
				berr_free(e);
				json_decref(hm);
				return berr_set(err, EINVAL, "invalid propagation mode: %s", prop);
			}
		}
	} else {
		if (src) {
			json_decref(hm);
			return berr_set(err, EINVAL, "invalid mount config for type \"tmpfs\": field "
					"Source must be empty");
		}
		m.type = RT_MOUNT_TMPFS;
		m.flags = MS_NOSUID | MS_NODEV | (ro ? MS_RDONLY : 0);
		_cleanup_free_ char *data = NULL;
		if (size) {
			int64_t bytes;
			struct berr *e = NULL;
			if (rt_parse_bytes(size, &bytes, &e) < 0 || bytes < 0) {
				berr_free(e);
				json_decref(hm);
				return berr_set(err, EINVAL, "invalid tmpfs-size: %s", size);
			}
			if (asprintf(&data, "size=%lld", (long long)bytes) < 0)
				data = NULL;
		}
		if (mode) {
			char *end;
			unsigned long mv = strtoul(mode, &end, 8);
			_cleanup_free_ char *more = NULL;
			if (*end || !*mode || mv > 07777) {
				json_decref(hm);
				return berr_set(err, EINVAL, "invalid tmpfs-mode: %s", mode);
			}
			if (asprintf(&more, "%s%smode=%lo", data ? data : "", data ? "," : "", mv) <
			    0) {
				json_decref(hm);
				return berr_set(err, ENOMEM, "out of memory");
			}
			free(data);
			data = TAKE_PTR(more);
		}
		m.data = data;
		if (rt_spec_add_mount(ms->spec, &m) < 0) {
			json_decref(hm);
			return berr_set(err, ENOMEM, "out of memory");
		}
		m.data = NULL;
	}
	if (m.type == RT_MOUNT_BIND && rt_spec_add_mount(ms->spec, &m) < 0) {
		json_decref(hm);
		return berr_set(err, ENOMEM, "out of memory");
	}
	r = set(hm, "Type", json_string(type));
	if (src)
		r |= set(hm, "Source", json_string(src));
	r |= set(hm, "Target", json_string(dst));
	if (ro)
		r |= set(hm, "ReadOnly", json_true());
	if (r || json_array_append_new(ms->hmounts, hm) < 0 ||
	    mount_record(ms, &m, streq(type, "bind") ? "" : "") < 0)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

/* --tmpfs /dst[:opts] (Docker's defaults: noexec, nosuid, nodev). */
static int add_tmpfs(struct mounts *ms, const char *spec, struct berr **err)
{
	const char *colon = strchr(spec, ':');
	_cleanup_free_ char *dst = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
	if (!dst)
		return berr_set(err, ENOMEM, "out of memory");
	int r = check_destination(dst, spec, err);
	if (r < 0)
		return r;
	struct rt_mount m = {.type = RT_MOUNT_TMPFS,
			     .destination = dst,
			     .flags = MS_NOSUID | MS_NODEV | MS_NOEXEC};
	if (colon && colon[1]) {
		_cleanup_free_ char *opts = strdup(colon + 1);
		if (!opts)
			return berr_set(err, ENOMEM, "out of memory");
		char *s = NULL;
		for (char *o = strtok_r(opts, ",", &s); o; o = strtok_r(NULL, ",", &s)) {
			struct berr *e = NULL;
			if (rt_mount_add_option(&m, o, &e) < 0) {
				free(m.data);
				r = berr_set(err, EINVAL, "invalid tmpfs option for '%s': %s", dst,
					     e ? e->msg : o);
				berr_free(e);
				return r;
			}
		}
	}
	r = rt_spec_add_mount(ms->spec, &m);
	free(m.data);
	m.data = NULL;
	if (r < 0 || set(ms->tmpfs, dst, json_string(colon ? colon + 1 : "")) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

/* berth-init: beside the running berth (a build tree), $BERTH_INIT, or the install path. */
static int find_init(char **ret, struct berr **err)
{
	const char *env = getenv("BERTH_INIT");
	char self[PATH_MAX];
	if (env && *env) {
		*ret = strdup(env);
	} else {
		*ret = NULL;
		if (fs_beside_self("berth-init", self, sizeof(self)) == 0 && access(self, X_OK) == 0)
			*ret = strdup(self);
		if (!*ret && access(BERTH_INIT_INSTALLED, X_OK) == 0)
			*ret = strdup(BERTH_INIT_INSTALLED);
		if (!*ret)
			return berr_set(err, ENOENT,
					"berth-init not found (looked beside the berth binary and at "
					"%s; set BERTH_INIT)",
					BERTH_INIT_INSTALLED);
	}
	return *ret ? 0 : berr_set(err, ENOMEM, "out of memory");
}

static int security_opt(struct rt_spec *spec, int dirfd, const char *dir, const char *opt,
			struct berr **err)
{
	const char *sep = strpbrk(opt, "=:");
	size_t klen = sep ? (size_t)(sep - opt) : strlen(opt);
	const char *val = sep ? sep + 1 : NULL;
	if (klen == 17 && strncmp(opt, "no-new-privileges", 17) == 0) {
		int on;
		if (parse_bool_word(val, &on) < 0)
			return berr_set(err, EINVAL, "invalid --security-opt 2: \"%s\"", opt);
		spec->no_new_privs = on;
		return 0;
	}
	if (klen == 7 && strncmp(opt, "seccomp", 7) == 0 && val) {
		if (streq(val, "unconfined")) {
			spec->seccomp = RT_SECCOMP_UNCONFINED;
			return 0;
		}
		/* Docker reads the profile when the container is created; keep a copy, so a
		 * later start does not depend on the file. */
		_cleanup_free_ char *data = NULL;
		size_t len;
		int r = fs_read_all_at(AT_FDCWD, val, 4u << 20, &data, &len);
		if (r < 0)
			return berr_errno(err, r, "opening seccomp profile (%s) failed", val);
		struct rt_seccomp_profile *p = NULL;
		r = rt_seccomp_profile_parse(data, len, val, &p, err);
		if (r < 0)
			return r;
		rt_seccomp_profile_free(p);
		if ((r = fs_write_atomic_at(dirfd, "seccomp.json", data, len, 0600)) < 0)
			return berr_errno(err, r, "write seccomp.json");
		free(spec->seccomp_profile);
		if (asprintf(&spec->seccomp_profile, "%s/seccomp.json", dir) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		spec->seccomp = RT_SECCOMP_FILE;
		return 0;
	}
	/* No AppArmor or SELinux here: accepted, as on a Docker host without them. */
	if ((klen == 8 && strncmp(opt, "apparmor", 8) == 0) ||
	    (klen == 5 && strncmp(opt, "label", 5) == 0))
		return 0;
	return berr_set(err, EINVAL, "invalid --security-opt 2: \"%s\"", opt);
}

struct img {
	char *id;
	struct store_image *rec;
	json_t *cfg; /* the image config document */
	json_t *c;   /* its "config" object (borrowed), or NULL */
};

/* Image -> id, record and config. The store's meta lock is held by the caller. */
static int image_open(struct store *s, const char *input, struct img *ret, struct berr **err)
{
	int r = store_image_resolve(s, input, &ret->id, err);
	if (r < 0)
		return r;
	if ((r = store_image_get(s, ret->id, &ret->rec, err)) < 0)
		return r;
	if ((r = imgcmd_read_config(s, ret->id, &ret->cfg, err)) < 0)
		return r;
	ret->c = json_object_get(ret->cfg, "config");
	if (!json_is_object(ret->c))
		ret->c = NULL;
	return 0;
}

static void image_close(struct img *i)
{
	free(i->id);
	if (i->rec)
		store_image_free(i->rec);
	if (i->cfg)
		json_decref(i->cfg);
}

static json_t *labels_json(json_t *image_labels, const struct strv *flags)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	const char *k;
	json_t *v;
	if (json_is_object(image_labels))
		json_object_foreach(image_labels, k, v)
			if (json_is_string(v))
				json_object_set(o, k, v);
	for (size_t i = 0; flags && i < flags->n; i++) {
		const char *eq = strchr(flags->v[i], '=');
		_cleanup_free_ char *key =
		    eq ? strndup(flags->v[i], (size_t)(eq - flags->v[i])) : strdup(flags->v[i]);
		if (!key || json_object_set_new(o, key, json_string(eq ? eq + 1 : "")) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static int read_image_file(const struct rt_spec *spec, const char *path, char **ret)
{
	size_t len;
	int r = rt_layers_read_file(spec->lowerdirs.v, spec->lowerdirs.n, path, PASSWD_MAX, ret,
				    &len);
	if (r == -ENOENT || r == -ENOTDIR) {
		*ret = NULL;
		return 0;
	}
	return r;
}

/* Group names of --group-add resolved in the image's /etc/group. */
static int group_add(struct rt_spec *spec, const char *group_file, const char *name,
		     struct berr **err)
{
	struct rt_user u;
	_cleanup_free_ char *s = NULL;
	if (asprintf(&s, "0:%s", name) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	int r = rt_user_resolve(s, NULL, group_file, &u, err);
	if (r < 0)
		return r;
	gid_t *g = realloc(spec->groups, (spec->ngroups + 1) * sizeof(*g));
	if (!g) {
		rt_user_free(&u);
		return berr_set(err, ENOMEM, "out of memory");
	}
	spec->groups = g;
	spec->groups[spec->ngroups++] = u.gid;
	rt_user_free(&u);
	return 0;
}

static int host_hostname(char *buf, size_t len)
{
	if (gethostname(buf, len) < 0)
		return -errno;
	buf[len - 1] = '\0';
	return 0;
}

struct build {
	const struct ctr_create_opts *o;
	struct img img;
	const char *root;
	char id[RT_ID_LEN + 1];
	char *dir; /* <root>/containers/<id> */
	int dirfd;
	struct fs_batch batch; /* the new container's files, written together at the end */
	char name[256];
	struct rt_spec spec;
	json_t *config;
};

/* The mount points the runtime makes for itself, in an init layer below the upper dir where
 * the image lacks them (initlayer.h), so that they never show in diff or commit. Docker's
 * init layer has the same ones (and /.dockerenv, /dev/console, /dev/pts, /dev/shm and
 * /etc/mtab, which berth does not make); the mount points of volumes, bind mounts, tmpfs
 * mounts and --init's binary are not in it: Docker makes them in the container's layer,
 * where docker diff lists them and docker commit keeps them (checked with dockerd 20.10),
 * and so does berth. */
static int make_init_layer(struct build *b, struct berr **err)
{
	static const struct initlayer_path paths[] = {
	    {"/proc", 0},	 {"/sys", 0},	    {"/dev", 0},
	    {"/etc/hostname", 1}, {"/etc/hosts", 1}, {"/etc/resolv.conf", 1},
	};
	struct rt_spec *spec = &b->spec;
	size_t made = 0, nfd = 0;
	_cleanup_free_ int *fds = calloc(spec->lowerdirs.n, sizeof(int));
	if (!fds)
		return berr_set(err, ENOMEM, "out of memory");
	int r = 0;
	for (; nfd < spec->lowerdirs.n; nfd++) {
		fds[nfd] = open(spec->lowerdirs.v[nfd], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fds[nfd] < 0) {
			r = berr_errno(err, errno, "open '%s'", spec->lowerdirs.v[nfd]);
			break;
		}
	}
	if (r == 0)
		r = initlayer_make(b->dirfd, "init", fds, nfd, paths, ARRAY_SIZE(paths), &made,
				   err);
	for (size_t i = 0; i < nfd; i++)
		close(fds[i]);
	if (r < 0 || !made)
		return r;
	/* On top of the image's layers: lowerdirs is top first. */
	struct strv lower = STRV_INIT;
	char *d = NULL;
	if (asprintf(&d, "%s/init", b->dir) < 0 || strv_push_take(&lower, d) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < spec->lowerdirs.n; i++)
		if (strv_push(&lower, spec->lowerdirs.v[i]) < 0) {
			strv_free(&lower);
			return berr_set(err, ENOMEM, "out of memory");
		}
	strv_free(&spec->lowerdirs);
	spec->lowerdirs = lower;
	return 0;
}

/* Everything but the name: the spec and Docker's Config/HostConfig from image + flags. */
static int build_container(struct build *b, struct store *s, struct berr **err)
{
	const struct ctr_create_opts *o = b->o;
	struct rt_spec *spec = &b->spec;
	json_t *ic = b->img.c; /* may be NULL */
	int r;

	if ((r = rt_spec_init(spec)) < 0)
		return berr_set(err, ENOMEM, "out of memory");

	/* Root filesystem: the image's layers (top first) under the container's upper. */
	for (size_t i = b->img.rec->nlayers; i-- > 0;) {
		_cleanup_free_ char *d = store_layer_dir(s, b->img.rec->layers[i].chain_id);
		if (!d || strv_push(&spec->lowerdirs, d) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	}
	static const char *const subdirs[] = {"upper", "work", "merged", "empty"};
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		/* An image without layers still needs one lower dir: an empty one. */
		if (i == 3 && spec->lowerdirs.n)
			break;
		if (mkdirat(b->dirfd, subdirs[i], i == 0 ? 0755 : 0700) < 0)
			return berr_errno(err, errno, "create '%s/%s'", b->dir, subdirs[i]);
	}
	if (asprintf(&spec->rootfs, "%s/merged", b->dir) < 0 ||
	    asprintf(&spec->upperdir, "%s/upper", b->dir) < 0 ||
	    asprintf(&spec->workdir, "%s/work", b->dir) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	if (!spec->lowerdirs.n) {
		_cleanup_free_ char *e = NULL;
		if (asprintf(&e, "%s/empty", b->dir) < 0 || strv_push(&spec->lowerdirs, e) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	}

	/* The command: Docker's entrypoint + cmd rules. */
	_cleanup_strv_ struct strv entry = STRV_INIT, cmd = STRV_INIT;
	if (o->entrypoint_set) {
		if (o->entrypoint && *o->entrypoint && strv_push(&entry, o->entrypoint) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	} else if (ic && json_strings(json_object_get(ic, "Entrypoint"), &entry) < 0) {
		return berr_set(err, ENOMEM, "out of memory");
	}
	if (o->nargs > 0) {
		for (int i = 0; i < o->nargs; i++)
			if (strv_push(&cmd, o->args[i]) < 0)
				return berr_set(err, ENOMEM, "out of memory");
	} else if (!o->entrypoint_set && ic &&
		   json_strings(json_object_get(ic, "Cmd"), &cmd) < 0) {
		return berr_set(err, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < entry.n; i++)
		if (strv_push(&spec->args, entry.v[i]) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < cmd.n; i++)
		if (strv_push(&spec->args, cmd.v[i]) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	if (spec->args.n == 0)
		return berr_set(err, EINVAL, "no command specified");

	/* Environment: the image's, then -e and --env-file in order. */
	_cleanup_strv_ struct strv env = STRV_INIT;
	if (ic) {
		_cleanup_strv_ struct strv ienv = STRV_INIT;
		if (json_strings(json_object_get(ic, "Env"), &ienv) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		for (size_t i = 0; i < ienv.n; i++)
			if (strchr(ienv.v[i], '=') && env_set(&env, ienv.v[i]) < 0)
				return berr_set(err, ENOMEM, "out of memory");
	}
	for (size_t i = 0; o->env_files && i < o->env_files->n; i++)
		if ((r = env_file(&env, o->env_files->v[i], err)) < 0)
			return r;
	for (size_t i = 0; o->env && i < o->env->n; i++)
		if ((r = env_from_flag(&env, o->env->v[i], err)) < 0)
			return r;

	/* Hostname and network. */
	const char *network = o->network && *o->network ? o->network : "none";
	char hostname[256];
	if (streq(network, "host")) {
		spec->namespaces &= ~(unsigned long)CLONE_NEWNET;
		if (host_hostname(hostname, sizeof(hostname)) < 0)
			snprintf(hostname, sizeof(hostname), "localhost");
	}
	if (o->hostname && *o->hostname)
		snprintf(hostname, sizeof(hostname), "%s", o->hostname);
	else if (!streq(network, "host"))
		snprintf(hostname, sizeof(hostname), "%.12s", b->id);
	if (strlen(hostname) > 64 || strpbrk(hostname, "\n/ "))
		return berr_set(err, EINVAL, "invalid hostname format: %s", hostname);
	if (!(spec->hostname = strdup(hostname)))
		return berr_set(err, ENOMEM, "out of memory");
	if ((r = rt_etc_files_add(&b->batch, b->dir, hostname, spec, err)) < 0)
		return r;

	/* The process environment as Docker's daemon makes it: PATH when the image has
	 * none, HOSTNAME, TERM with a tty, then the container's own. */
	if (!env_has(&env, "PATH") && strv_push(&spec->env, DEFAULT_PATH) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_free_ char *hn = NULL;
	if (asprintf(&hn, "HOSTNAME=%s", hostname) < 0 || strv_push(&spec->env, hn) < 0 ||
	    (o->tty && strv_push(&spec->env, "TERM=xterm") < 0))
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < env.n; i++)
		if (env_set(&spec->env, env.v[i]) < 0)
			return berr_set(err, ENOMEM, "out of memory");

	/* User, from the image's own passwd and group files. */
	const char *user = o->user ? o->user : ic ? str_of(ic, "User", "") : "";
	_cleanup_free_ char *passwd = NULL, *group = NULL;
	if ((r = read_image_file(spec, "/etc/passwd", &passwd)) < 0 ||
	    (r = read_image_file(spec, "/etc/group", &group)) < 0)
		return berr_errno(err, r, "read the image's user database");
	struct rt_user u;
	if ((r = rt_user_resolve(user, passwd, group, &u, err)) < 0)
		return r;
	spec->uid = u.uid;
	spec->gid = u.gid;
	spec->groups = TAKE_PTR(u.groups);
	spec->ngroups = u.ngroups;
	for (size_t i = 0; o->group_add && i < o->group_add->n; i++)
		if ((r = group_add(spec, group, o->group_add->v[i], err)) < 0) {
			rt_user_free(&u);
			return r;
		}
	_cleanup_free_ char *home = NULL;
	if (!env_has(&spec->env, "HOME") &&
	    (asprintf(&home, "HOME=%s", u.home) < 0 || strv_push(&spec->env, home) < 0)) {
		rt_user_free(&u);
		return berr_set(err, ENOMEM, "out of memory");
	}
	rt_user_free(&u);

	/* Working directory. */
	const char *wd = o->workdir ? o->workdir : ic ? str_of(ic, "WorkingDir", "") : "";
	if (*wd && wd[0] != '/')
		return berr_set(err, EINVAL,
				"the working directory '%s' is invalid, it needs to be an absolute "
				"path",
				wd);
	if (*wd && !(spec->cwd = strdup(wd)))
		return berr_set(err, ENOMEM, "out of memory");

	/* Confinement. */
	if ((r = rt_caps_compute(rt_caps_default(), o->cap_add ? o->cap_add->v : NULL,
				 o->cap_drop ? o->cap_drop->v : NULL, o->privileged, &spec->caps,
				 err)) < 0)
		return r;
	if (o->privileged) {
		/* Docker's privileged: every capability, no seccomp filter, nothing masked, the
		 * host's devices, /sys writable, no device cgroup rules. */
		spec->seccomp = RT_SECCOMP_UNCONFINED;
		spec->host_devices = 1;
		spec->cgroup.devices_all = 1;
		strv_free(&spec->masked_paths);
		strv_free(&spec->readonly_paths);
	}
	for (size_t i = 0; o->security_opts && i < o->security_opts->n; i++)
		if ((r = security_opt(spec, b->dirfd, b->dir, o->security_opts->v[i], err)) < 0)
			return r;
	spec->readonly_rootfs = o->read_only;
	spec->tty = o->tty;

	/* Resources. */
	if (o->memory && *o->memory) {
		if ((r = rt_parse_bytes(o->memory, &spec->cgroup.memory, err)) < 0)
			return berr_wrap(err, "invalid argument \"%s\" for \"-m, --memory\" flag",
					 o->memory);
		if (spec->cgroup.memory > 0 && spec->cgroup.memory < 6 * 1024 * 1024)
			return berr_set(err, EINVAL, "Minimum memory limit allowed is 6MB");
	}
	if (o->memory_swap && *o->memory_swap) {
		if (streq(o->memory_swap, "-1"))
			spec->cgroup.memory_swap = -1;
		else if ((r = rt_parse_bytes(o->memory_swap, &spec->cgroup.memory_swap, err)) < 0)
			return berr_wrap(err, "invalid argument \"%s\" for \"--memory-swap\" flag",
					 o->memory_swap);
		if (!spec->cgroup.memory)
			return berr_set(err, EINVAL,
					"You should always set the Memory limit when using Memoryswap "
					"limit, see usage");
		if (spec->cgroup.memory_swap > 0 && spec->cgroup.memory_swap < spec->cgroup.memory)
			return berr_set(err, EINVAL,
					"Minimum memoryswap limit should be larger than memory limit, "
					"see usage");
	}
	uint64_t nano = 0;
	if (o->cpus && *o->cpus) {
		if ((r = rt_parse_cpus(o->cpus, &nano, err)) < 0)
			return r;
		rt_cgroup_limits_set_cpus(&spec->cgroup, nano);
	}
	if (o->cpu_shares < 0)
		return berr_set(err, EINVAL, "invalid CPU shares: %ld", o->cpu_shares);
	spec->cgroup.cpu_shares = (uint64_t)o->cpu_shares;
	if (o->cpuset_cpus && *o->cpuset_cpus &&
	    !(spec->cgroup.cpuset_cpus = strdup(o->cpuset_cpus)))
		return berr_set(err, ENOMEM, "out of memory");
	if (o->pids_limit_set)
		spec->cgroup.pids = o->pids_limit > 0 ? o->pids_limit : 0;
	if (o->cgroup_parent && *o->cgroup_parent) {
		/* Docker's --cgroup-parent, relative to each hierarchy's root. */
		const char *cp = o->cgroup_parent + strspn(o->cgroup_parent, "/");
		if (!*cp || strstr(cp, "..") || strchr(cp, '\n'))
			return berr_set(err, EINVAL, "invalid --cgroup-parent: %s", o->cgroup_parent);
		if (!(spec->cgroup_parent = strdup(cp)))
			return berr_set(err, ENOMEM, "out of memory");
		size_t l = strlen(spec->cgroup_parent);
		while (l > 1 && spec->cgroup_parent[l - 1] == '/')
			spec->cgroup_parent[--l] = '\0';
	}
	for (size_t i = 0; o->ulimits && i < o->ulimits->n; i++) {
		struct rt_rlimit rl;
		if ((r = rt_rlimit_parse(o->ulimits->v[i], &rl, err)) < 0)
			return r;
		size_t k;
		for (k = 0; k < spec->nrlimits; k++)
			if (spec->rlimits[k].resource == rl.resource)
				break;
		if (k == spec->nrlimits) {
			struct rt_rlimit *n =
			    realloc(spec->rlimits, (spec->nrlimits + 1) * sizeof(*n));
			if (!n)
				return berr_set(err, ENOMEM, "out of memory");
			spec->rlimits = n;
			spec->nrlimits++;
		}
		spec->rlimits[k] = rl;
	}

	/* Mounts, parents before children. */
	struct mounts ms = {.spec = spec,
			    .list = json_array(),
			    .binds = json_array(),
			    .hmounts = json_array(),
			    .tmpfs = json_object()};
	_cleanup_json_ json_t *mlist = ms.list, *binds = ms.binds, *hmounts = ms.hmounts,
			      *tmpfs = ms.tmpfs;
	if (!mlist || !binds || !hmounts || !tmpfs)
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; o->volumes && i < o->volumes->n; i++)
		if ((r = add_volume(&ms, o->volumes->v[i], err)) < 0)
			return r;
	for (size_t i = 0; o->mounts && i < o->mounts->n; i++)
		if ((r = add_mount_flag(&ms, o->mounts->v[i], err)) < 0)
			return r;
	for (size_t i = 0; o->tmpfs && i < o->tmpfs->n; i++)
		if ((r = add_tmpfs(&ms, o->tmpfs->v[i], err)) < 0)
			return r;
	for (size_t i = 0; i < spec->nmounts; i++)
		for (size_t k = i + 1; k < spec->nmounts; k++)
			if (streq(spec->mounts[i].destination, spec->mounts[k].destination))
				return berr_set(err, EINVAL, "Duplicate mount point: %s",
						spec->mounts[i].destination);
	if (spec->nmounts > 1)
		qsort(spec->mounts, spec->nmounts, sizeof(*spec->mounts), cmp_mount_depth);

	/* --init: berth-init as PID 1, bind-mounted read-only. */
	if (o->init) {
		_cleanup_free_ char *init = NULL;
		if ((r = find_init(&init, err)) < 0)
			return r;
		struct rt_mount m = {.type = RT_MOUNT_BIND,
				     .source = init,
				     .destination = INIT_PATH,
				     .flags = MS_RDONLY};
		struct strv args = STRV_INIT;
		if (rt_spec_add_mount(spec, &m) < 0 || strv_push(&args, INIT_PATH) < 0 ||
		    strv_push(&args, "--") < 0) {
			strv_free(&args);
			return berr_set(err, ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < spec->args.n; i++)
			if (strv_push(&args, spec->args.v[i]) < 0) {
				strv_free(&args);
				return berr_set(err, ENOMEM, "out of memory");
			}
		strv_free(&spec->args);
		spec->args = args;
	}

	if ((r = make_init_layer(b, err)) < 0)
		return r;

	/* Restart policy and stop signal, checked now so that run fails before it starts. */
	struct rt_restart_policy rp;
	if ((r = rt_restart_parse(o->restart ? o->restart : "no", &rp, err)) < 0)
		return r;
	if (o->autoremove && rp.mode != RT_RESTART_NO)
		return berr_set(err, EINVAL, "Conflicting options: --restart and --rm");
	if (rp.max_retries && rp.mode != RT_RESTART_ON_FAILURE)
		return berr_set(err, EINVAL, "maximum retry count cannot be used with restart "
				"policy '%s'", o->restart);
	const char *stop_signal = o->stop_signal && *o->stop_signal
					  ? o->stop_signal
					  : ic ? str_of(ic, "StopSignal", "") : "";
	int sig;
	if (*stop_signal && ctr_signal_parse(stop_signal, &sig) < 0)
		return berr_set(err, EINVAL, "Invalid signal: %s", stop_signal);

	/* Docker's records. */
	json_t *cfg = json_object();
	b->config = json_object();
	if (!cfg || !b->config) {
		json_decref(cfg);
		return berr_set(err, ENOMEM, "out of memory");
	}
	int e = set(b->config, "Config", cfg);
	e |= set(cfg, "Hostname", json_string(hostname));
	e |= set(cfg, "Domainname", json_string(""));
	e |= set(cfg, "User", json_string(user));
	int attached = !o->detach;
	e |= set(cfg, "AttachStdin", json_boolean(o->interactive && attached));
	e |= set(cfg, "AttachStdout", json_boolean(attached));
	e |= set(cfg, "AttachStderr", json_boolean(attached));
	json_t *ports = ic ? json_object_get(ic, "ExposedPorts") : NULL;
	if (json_is_object(ports) && json_object_size(ports))
		e |= set(cfg, "ExposedPorts", json_deep_copy(ports));
	e |= set(cfg, "Tty", json_boolean(o->tty));
	e |= set(cfg, "OpenStdin", json_boolean(o->interactive));
	e |= set(cfg, "StdinOnce", json_boolean(o->interactive && attached));
	e |= set(cfg, "Env", strv_to_json(&env));
	e |= set(cfg, "Cmd", cmd.n ? strv_to_json(&cmd) : json_null());
	e |= set(cfg, "Image", json_string(o->image));
	json_t *vols = ic ? json_object_get(ic, "Volumes") : NULL;
	e |= set(cfg, "Volumes", json_is_object(vols) ? json_deep_copy(vols) : json_null());
	e |= set(cfg, "WorkingDir", json_string(wd));
	e |= set(cfg, "Entrypoint", entry.n ? strv_to_json(&entry) : json_null());
	e |= set(cfg, "OnBuild", json_null());
	e |= set(cfg, "Labels", labels_json(ic ? json_object_get(ic, "Labels") : NULL, o->labels));
	if (*stop_signal)
		e |= set(cfg, "StopSignal", json_string(stop_signal));
	if (o->stop_timeout_set)
		e |= set(cfg, "StopTimeout", json_integer(o->stop_timeout));

	json_t *hc = json_object();
	e |= set(b->config, "HostConfig", hc);
	if (hc) {
		e |= set(hc, "Binds", json_array_size(binds) ? json_incref(binds) : json_null());
		e |= set(hc, "ContainerIDFile", json_string(""));
		e |= set(hc, "LogConfig", json_pack("{s:s,s:{}}", "Type", "json-file", "Config"));
		e |= set(hc, "NetworkMode", json_string(network));
		e |= set(hc, "PortBindings", json_object());
		e |= set(hc, "RestartPolicy",
			 json_pack("{s:s,s:i}", "Name",
				   rp.mode == RT_RESTART_ALWAYS		 ? "always"
				   : rp.mode == RT_RESTART_ON_FAILURE	 ? "on-failure"
				   : rp.mode == RT_RESTART_UNLESS_STOPPED ? "unless-stopped"
									  : "no",
				   "MaximumRetryCount", rp.max_retries));
		e |= set(hc, "AutoRemove", json_boolean(o->autoremove));
		e |= set(hc, "VolumeDriver", json_string(""));
		e |= set(hc, "VolumesFrom", json_null());
		e |= set(hc, "CapAdd", strv_or_null(o->cap_add));
		e |= set(hc, "CapDrop", strv_or_null(o->cap_drop));
		e |= set(hc, "CgroupnsMode", json_string("private"));
		e |= set(hc, "GroupAdd", strv_or_null(o->group_add));
		e |= set(hc, "IpcMode", json_string("private"));
		e |= set(hc, "PidMode", json_string(""));
		e |= set(hc, "Privileged", json_boolean(o->privileged));
		e |= set(hc, "PublishAllPorts", json_false());
		e |= set(hc, "ReadonlyRootfs", json_boolean(o->read_only));
		e |= set(hc, "SecurityOpt", strv_or_null(o->security_opts));
		if (json_object_size(tmpfs))
			e |= set(hc, "Tmpfs", json_incref(tmpfs));
		e |= set(hc, "UTSMode", json_string(""));
		e |= set(hc, "UsernsMode", json_string(""));
		e |= set(hc, "ShmSize", json_integer(64 << 20));
		e |= set(hc, "Runtime", json_string("berth"));
		e |= set(hc, "CpuShares", json_integer((json_int_t)spec->cgroup.cpu_shares));
		e |= set(hc, "Memory", json_integer(spec->cgroup.memory));
		e |= set(hc, "NanoCpus", json_integer((json_int_t)nano));
		e |= set(hc, "CgroupParent",
			 json_string(o->cgroup_parent ? o->cgroup_parent : ""));
		e |= set(hc, "CpusetCpus",
			 json_string(spec->cgroup.cpuset_cpus ? spec->cgroup.cpuset_cpus : ""));
		e |= set(hc, "MemorySwap", json_integer(spec->cgroup.memory_swap));
		e |= set(hc, "PidsLimit", o->pids_limit_set && o->pids_limit > 0
						  ? json_integer(o->pids_limit)
						  : json_null());
		json_t *ul = json_array();
		for (size_t i = 0; ul && i < spec->nrlimits; i++)
			json_array_append_new(
			    ul, json_pack("{s:s,s:I,s:I}", "Name",
					  rt_rlimit_name(spec->rlimits[i].resource), "Hard",
					  (json_int_t)spec->rlimits[i].hard, "Soft",
					  (json_int_t)spec->rlimits[i].soft));
		e |= set(hc, "Ulimits", spec->nrlimits ? ul : (json_decref(ul), json_null()));
		if (json_array_size(hmounts))
			e |= set(hc, "Mounts", json_incref(hmounts));
		e |= set(hc, "Init", o->init ? json_true() : json_null());
		e |= set(hc, "MaskedPaths", strv_to_json(&spec->masked_paths));
		e |= set(hc, "ReadonlyPaths", strv_to_json(&spec->readonly_paths));
	}
	if (!e && o->net && ctrnet_record(o->net, b->config) < 0)
		e = 1;
	e |= set(b->config, "Mounts", json_incref(mlist));
	if (e)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

int ctr_create(const char *root, const struct ctr_create_opts *o, char ret_id[RT_ID_LEN + 1],
	       struct berr **err)
{
	struct build b = {.o = o, .root = root, .dirfd = -1};
	_cleanup_store_ struct store *s = NULL;
	_cleanup_free_ char *created_at = NULL, *full_name = NULL;
	int r, lockfd = -1, created = 0;

	if (o->name && *o->name && !ctr_name_valid(o->name))
		return berr_set(err, EINVAL,
				"Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are "
				"allowed",
				o->name);
	if ((r = store_open(root, &s, err)) < 0)
		return r;
	/* Held until config.json names the image: rmi takes it exclusive to look for users. */
	if ((r = store_lock_meta(s, 0, err)) < 0)
		return r;
	if ((r = image_open(s, o->image, &b.img, err)) < 0)
		goto out;

	if ((lockfd = ctr_names_lock(root, err)) < 0) {
		r = lockfd;
		goto out;
	}
	if (o->name && *o->name) {
		char owner[RT_ID_LEN + 1];
		snprintf(b.name, sizeof(b.name), "%s", o->name[0] == '/' ? o->name + 1 : o->name);
		if ((r = ctr_name_owner(root, b.name, owner, err)) < 0)
			goto out;
		if (owner[0]) {
			r = berr_set(err, EEXIST,
				     "Conflict. The container name \"/%s\" is already in use by "
				     "container \"%s\". You have to remove (or rename) that container "
				     "to be able to reuse that name.",
				     b.name, owner);
			goto out;
		}
	} else {
		for (int tries = 0;; tries++) {
			char owner[RT_ID_LEN + 1];
			ctr_name_random(b.name, sizeof(b.name));
			/* Docker adds a digit after a collision; so do we, after a few. */
			if (tries >= 5) {
				size_t l = strlen(b.name);
				snprintf(b.name + l, sizeof(b.name) - l, "%d", tries);
			}
			if ((r = ctr_name_owner(root, b.name, owner, err)) < 0)
				goto out;
			if (!owner[0])
				break;
		}
	}
	for (;;) {
		if ((r = rt_id_new(b.id)) < 0) {
			r = berr_errno(err, r, "container id");
			goto out;
		}
		/* Docker never makes an id that reads as a number (it would be ambiguous
		 * as a short id in some tools); keep the same property. */
		if (strspn(b.id, "0123456789") >= 12)
			continue;
		r = rt_container_dir_create(root, b.id, &b.dirfd, err);
		if (r == -EEXIST) {
			berr_freep(err);
			continue;
		}
		if (r < 0)
			goto out;
		break;
	}
	created = 1;
	fs_batch_init(&b.batch, b.dirfd);
	if (asprintf(&b.dir, "%s/containers/%s", root, b.id) < 0) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if ((r = build_container(&b, s, err)) < 0)
		goto out;

	int64_t now = rt_time_now_ns();
	created_at = fmt_rfc3339_nano((time_t)(now / 1000000000), (long)(now % 1000000000));
	json_t *spec_json = rt_spec_to_json(&b.spec);
	int e = 0;
	if (asprintf(&full_name, "/%s", b.name) < 0)
		full_name = NULL;
	e |= set(b.config, "Id", json_string(b.id));
	e |= set(b.config, "Created", json_string(created_at ? created_at : ""));
	e |= set(b.config, "CreatedNs", json_integer(now));
	e |= set(b.config, "Name", json_string(full_name ? full_name : ""));
	e |= set(b.config, "Image", json_string(b.img.id));
	e |= set(b.config, "Path", json_string(b.spec.args.v[o->init ? 2 : 0]));
	json_t *args = json_array();
	for (size_t i = (o->init ? 3 : 1); args && i < b.spec.args.n; i++)
		json_array_append_new(args, json_string(b.spec.args.v[i]));
	e |= set(b.config, "Args", args);
	e |= set(b.config, "Spec", spec_json);
	if (e || !created_at || !full_name) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	struct rt_state st;
	rt_state_init(&st);
	/* config.json last: the renames reach the disk in order, and config.json makes the
	 * container exist for every listing. */
	if ((r = rt_state_add(&b.batch, &st, err)) < 0 ||
	    (r = rt_config_add(&b.batch, b.config, err)) < 0)
		goto out;
	if ((r = fs_batch_commit(&b.batch)) < 0) {
		berr_errno(err, r, "write the container's files");
		goto out;
	}
	snprintf(ret_id, RT_ID_LEN + 1, "%s", b.id);
	r = 0;
out:
	fs_batch_abort(&b.batch);
	if (r < 0 && created) {
		struct berr *e2 = NULL;
		if (rt_container_remove(root, b.id, &e2) < 0)
			berr_free(e2);
	}
	if (lockfd >= 0)
		close(lockfd);
	if (b.dirfd >= 0)
		close(b.dirfd);
	store_unlock_meta(s);
	image_close(&b.img);
	rt_spec_free(&b.spec);
	if (b.config)
		json_decref(b.config);
	free(b.dir);
	return r;
}

/* ---- lifecycle ---- */

int ctr_spec(const struct ctr *c, struct rt_spec *ret, struct berr **err)
{
	return rt_spec_from_json(json_object_get(c->config, "Spec"), ret, err);
}

int ctr_monitor_opts(const char *root, const char *runroot, const struct ctr *c,
		     struct rt_spec *spec, struct rt_monitor_opts *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	json_t *hc = json_object_get(c->config, "HostConfig");
	json_t *cfg = json_object_get(c->config, "Config");
	json_t *rp = json_object_get(hc, "RestartPolicy");
	const char *mode = str_of(rp, "Name", "no");
	json_t *max = json_object_get(rp, "MaximumRetryCount");
	_cleanup_free_ char *policy = NULL;
	if (json_is_integer(max) && json_integer_value(max) > 0 && streq(mode, "on-failure")) {
		if (asprintf(&policy, "on-failure:%lld", (long long)json_integer_value(max)) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	}
	int r = rt_restart_parse(policy ? policy : mode, &ret->restart, err);
	if (r < 0)
		return r;
	ret->root = root;
	ret->runroot = runroot;
	ret->id = c->id;
	ret->spec = spec;
	ret->interactive = json_is_true(json_object_get(cfg, "OpenStdin"));
	ret->autoremove = json_is_true(json_object_get(hc, "AutoRemove"));
	return 0;
}

int ctr_start(struct berth_ctx *ctx, const struct ctr *c, unsigned short rows,
	      unsigned short cols, int *ret_conn, struct rt_monitor_started *ret,
	      int *ret_exit_code, struct berr **err)
{
	const char *root = ctx->root, *runroot = ctx->runroot;
	struct ctrnet_start net = CTRNET_START_INIT;
	struct rt_spec spec;
	struct rt_monitor_opts mo;
	*ret_exit_code = RT_EXIT_SETUP;
	int r = ctr_spec(c, &spec, err);
	if (r < 0) {
		rt_spec_free(&spec);
		return r;
	}
	r = ctr_monitor_opts(root, runroot, c, &spec, &mo, err);
	mo.rows = rows;
	mo.cols = cols;
	if (r == 0)
		r = ctrnet_start_prepare(ctx, c, &mo, &net, err);
	if (r == 0)
		r = rt_monitor_start(&mo, ret_conn, ret, ret_exit_code, err);
	ctrnet_start_finish(&net, root, c->id, r < 0);
	rt_spec_free(&spec);
	return r;
}

/* A pidfd that names pid only if it still is the process that started at start. */
static int pidfd_checked(pid_t pid, unsigned long long start)
{
	if (pid <= 0)
		return -ESRCH;
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -errno;
	unsigned long long st;
	int zombie = 0;
	if (rt_proc_start_time(pid, &st, &zombie) < 0 || st != start) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}

static int record_stop(const char *root, const char *id, struct berr **err)
{
	_cleanup_close_ int dirfd = -1;
	int r = rt_container_dir_open(root, id, &dirfd, err);
	if (r < 0)
		return r;
	if ((r = rt_state_lock(dirfd, 1, err)) < 0)
		return r;
	struct rt_state st;
	r = rt_state_load(dirfd, &st, err);
	if (r == 0 && !st.stop_requested) {
		st.stop_requested = 1;
		r = rt_state_write(dirfd, &st, err);
	}
	rt_state_unlock(dirfd);
	return r;
}

int ctr_signal(const char *root, const struct ctr *c, int sig, int stop, struct berr **err)
{
	const struct rt_state *st = &c->state;
	if (st->status != RT_STATUS_RUNNING && st->status != RT_STATUS_PAUSED)
		return berr_set(err, ESRCH, "container %s is not running", c->id);
	int r;
	if (stop && (r = record_stop(root, c->id, err)) < 0)
		return r;
	_cleanup_close_ int fd = pidfd_checked(st->pid, st->pid_start);
	if (fd < 0)
		return berr_set(err, ESRCH, "container %s is not running", c->id);
	if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0)
		return berr_errno(err, errno, "signal container %s", c->id);
	/* A frozen process gets its signal only once thawed: Docker's stop and kill of a
	 * paused container let it go on to handle the signal (or die). */
	if (st->status == RT_STATUS_PAUSED && (sig == SIGKILL || stop)) {
		struct rt_cgroup *cg = NULL;
		struct rt_spec spec;
		struct berr *e = NULL;
		if (ctr_spec(c, &spec, &e) == 0 &&
		    rt_cgroup_open(spec.cgroup_parent ? spec.cgroup_parent : "berth", c->id, &cg,
				   &e) == 0) {
			rt_cgroup_freeze(cg, 0, &e);
			rt_cgroup_free(cg);
		}
		rt_spec_free(&spec);
		berr_free(e);
	}
	return 0;
}

static int poll_fd(int fd, long timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	for (;;) {
		int n = poll(&p, 1, timeout_ms < 0 ? -1 : (int)timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		return n;
	}
}

int ctr_wait_stopped(const char *root, const char *id, long timeout_ms, struct berr **err)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct ctr c;
		struct berr *e = NULL;
		int r = ctr_load(root, id, &c, &e);
		if (r == -ENOENT) {
			berr_free(e);
			return 0; /* removed (--rm): it is certainly stopped */
		}
		if (r < 0) {
			if (err && !*err)
				*err = e;
			else
				berr_free(e);
			return r;
		}
		pid_t mpid = c.state.monitor_pid;
		unsigned long long mstart = c.state.monitor_start;
		int up = c.state.status == RT_STATUS_RUNNING || c.state.status == RT_STATUS_PAUSED ||
			 c.state.status == RT_STATUS_RESTARTING;
		ctr_free(&c);
		if (!up && mpid <= 0)
			return 0;
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (timeout_ms >= 0 && spent >= timeout_ms)
			return berr_set(err, ETIMEDOUT, "timed out waiting for container %s", id);
		long left = timeout_ms < 0 ? 1000 : timeout_ms - spent;
		_cleanup_close_ int fd = pidfd_checked(mpid, mstart);
		if (fd >= 0) {
			/* The monitor records the exit and cleans up before it exits. */
			poll_fd(fd, left);
		} else if (!up) {
			return 0;
		} else {
			/* Running without a monitor (it was killed): watch the state. */
			poll(NULL, 0, left < 50 ? (int)left : 50);
		}
	}
}

int ctr_stop(const char *root, const struct ctr *c, long timeout, struct berr **err)
{
	const struct rt_state *st = &c->state;
	int r;
	if (st->status == RT_STATUS_RESTARTING) {
		if ((r = record_stop(root, c->id, err)) < 0)
			return r;
		return ctr_wait_stopped(root, c->id, -1, err);
	}
	if (st->status != RT_STATUS_RUNNING && st->status != RT_STATUS_PAUSED)
		return 0;
	json_t *cfg = json_object_get(c->config, "Config");
	if (timeout < 0) {
		json_t *t = json_object_get(cfg, "StopTimeout");
		timeout = json_is_integer(t) ? (long)json_integer_value(t) : CTR_STOP_TIMEOUT;
	}
	int sig = SIGTERM;
	const char *ss = str_of(cfg, "StopSignal", "");
	if (*ss && ctr_signal_parse(ss, &sig) < 0)
		sig = SIGTERM;
	r = ctr_signal(root, c, sig, 1, err);
	if (r == -ESRCH) {
		berr_freep(err);
		return ctr_wait_stopped(root, c->id, -1, err);
	}
	if (r < 0)
		return r;
	_cleanup_close_ int fd = pidfd_checked(st->pid, st->pid_start);
	if (fd >= 0 && timeout != 0 && poll_fd(fd, timeout < 0 ? -1 : timeout * 1000) > 0)
		return ctr_wait_stopped(root, c->id, -1, err);
	/* Time is up: every process of the container, not only its init. */
	struct rt_spec spec;
	struct rt_cgroup *cg = NULL;
	struct berr *e = NULL;
	if (ctr_spec(c, &spec, &e) == 0 &&
	    rt_cgroup_open(spec.cgroup_parent ? spec.cgroup_parent : "berth", c->id, &cg, &e) ==
		0) {
		rt_cgroup_kill_all(cg, SIGKILL, &e);
		rt_cgroup_free(cg);
	}
	rt_spec_free(&spec);
	berr_free(e);
	if (fd >= 0)
		syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
	return ctr_wait_stopped(root, c->id, -1, err);
}

int ctr_remove(const char *root, const char *runroot, const struct ctr *c, struct berr **err)
{
	struct berr *e = NULL;
	/* An exited container whose monitor is still cleaning up: the monitor writes its
	 * last state into the directory, which would race the deletion. */
	if (c->state.monitor_pid > 0 && ctr_wait_stopped(root, c->id, 30000, &e) < 0) {
		log_warn("%s", e->msg);
		berr_freep(&e);
	}
	/* What a killed monitor left behind: its cgroup and its socket directory. */
	struct rt_spec spec;
	struct rt_cgroup *cg = NULL;
	if (ctr_spec(c, &spec, &e) == 0 &&
	    rt_cgroup_open(spec.cgroup_parent ? spec.cgroup_parent : "berth", c->id, &cg, &e) ==
		0) {
		rt_cgroup_destroy(cg, &e);
		rt_cgroup_free(cg);
	}
	rt_spec_free(&spec);
	berr_free(e);
	e = NULL;
	/* A container whose monitor was killed still has its addresses and rules. */
	if (ctrnet_cleanup(root, c->id, &e) < 0)
		log_warn("%s", e->msg);
	berr_free(e);
	_cleanup_free_ char *sock = NULL;
	if (asprintf(&sock, "%s/containers/%s", runroot, c->id) >= 0)
		fs_rm_rf_at(AT_FDCWD, sock);
	int lock = ctr_names_lock(root, err);
	if (lock < 0)
		return lock;
	int r = rt_container_remove(root, c->id, err);
	close(lock);
	if (r == -ENOENT) {
		berr_freep(err);
		return 0;
	}
	return r;
}

/* ---- presentation ---- */

char *ctr_human_duration(int64_t ns)
{
	time_t secs = (time_t)(ns / 1000000000);
	_cleanup_free_ char *ago = fmt_time_ago(0, secs < 0 ? 0 : secs);
	if (!ago)
		return NULL;
	size_t l = strlen(ago);
	if (l > 4 && streq(ago + l - 4, " ago"))
		ago[l - 4] = '\0';
	return strdup(ago);
}

char *ctr_status_text(const struct ctr *c, int64_t now)
{
	const struct rt_state *st = &c->state;
	char *s = NULL;
	_cleanup_free_ char *d = NULL;
	switch (st->status) {
	case RT_STATUS_CREATED:
		return strdup("Created");
	case RT_STATUS_RUNNING:
	case RT_STATUS_PAUSED:
		d = ctr_human_duration(now - st->started_ns);
		if (d && asprintf(&s, "Up %s%s", d,
				  st->status == RT_STATUS_PAUSED ? " (Paused)" : "") < 0)
			s = NULL;
		return s;
	case RT_STATUS_RESTARTING:
	case RT_STATUS_EXITED:
		d = ctr_human_duration(now - st->finished_ns);
		if (d && asprintf(&s, "%s (%d) %s ago",
				  st->status == RT_STATUS_EXITED ? "Exited" : "Restarting",
				  st->exit_code, d) < 0)
			s = NULL;
		return s;
	}
	return strdup("Unknown");
}

const char *ctr_image_name(const struct ctr *c)
{
	json_t *cfg = json_object_get(c->config, "Config");
	return str_of(cfg, "Image", str_of(c->config, "Image", ""));
}

static json_t *time_json(int64_t ns)
{
	if (ns <= 0)
		return json_string("0001-01-01T00:00:00Z");
	_cleanup_free_ char *t = fmt_rfc3339_nano((time_t)(ns / 1000000000), (long)(ns % 1000000000));
	return t ? json_string(t) : NULL;
}

static json_t *copy_or_null(json_t *v)
{
	return v ? json_deep_copy(v) : json_null();
}

/* config.json is written with sorted keys; inspect shows Docker's field order. */
static const char *const config_order[] = {
	"Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
	"ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck",
	"ArgsEscaped", "Image", "Volumes", "WorkingDir", "Entrypoint", "NetworkDisabled",
	"MacAddress", "OnBuild", "Labels", "StopSignal", "StopTimeout", "Shell", NULL};
static const char *const hostconfig_order[] = {
	"Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy",
	"AutoRemove", "VolumeDriver", "VolumesFrom", "CapAdd", "CapDrop", "CgroupnsMode",
	"GroupAdd", "IpcMode", "PidMode", "Privileged", "PublishAllPorts", "ReadonlyRootfs",
	"SecurityOpt", "Tmpfs", "UTSMode", "UsernsMode", "ShmSize", "Runtime", "CpuShares",
	"Memory", "NanoCpus", "CgroupParent", "CpusetCpus", "MemorySwap", "PidsLimit", "Ulimits",
	"Mounts", "MaskedPaths", "ReadonlyPaths", "Init", NULL};
static const char *const mount_order[] = {"Type",	 "Source", "Destination", "Mode",
					  "RW",		 "Propagation", "Target", "ReadOnly",
					  NULL};
static const char *const ulimit_order[] = {"Name", "Hard", "Soft", NULL};
static const char *const restart_order[] = {"Name", "MaximumRetryCount", NULL};
static const char *const log_order[] = {"Type", "Config", NULL};

/* A copy of the object src with the keys of order first, in that order. */
static json_t *ordered(json_t *src, const char *const *order)
{
	if (!json_is_object(src))
		return copy_or_null(src);
	json_t *o = json_object();
	if (!o)
		return NULL;
	for (size_t i = 0; order[i]; i++) {
		json_t *v = json_object_get(src, order[i]);
		if (v && json_object_set_new(o, order[i], json_deep_copy(v)) < 0)
			goto oom;
	}
	const char *k;
	json_t *v;
	json_object_foreach(src, k, v)
		if (!json_object_get(o, k) && json_object_set_new(o, k, json_deep_copy(v)) < 0)
			goto oom;
	return o;
oom:
	json_decref(o);
	return NULL;
}

/* Each element of an array of objects in order. */
static json_t *ordered_list(json_t *src, const char *const *order)
{
	if (!json_is_array(src))
		return copy_or_null(src);
	json_t *a = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(src, i, v)
		if (!a || json_array_append_new(a, ordered(v, order)) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *hostconfig_json(json_t *hc)
{
	json_t *o = ordered(hc, hostconfig_order);
	if (!json_is_object(o))
		return o;
	json_t *v;
	if ((v = json_object_get(hc, "RestartPolicy")))
		json_object_set_new(o, "RestartPolicy", ordered(v, restart_order));
	if ((v = json_object_get(hc, "LogConfig")))
		json_object_set_new(o, "LogConfig", ordered(v, log_order));
	if ((v = json_object_get(hc, "Ulimits")))
		json_object_set_new(o, "Ulimits", ordered_list(v, ulimit_order));
	if ((v = json_object_get(hc, "Mounts")))
		json_object_set_new(o, "Mounts", ordered_list(v, mount_order));
	return o;
}

int ctr_inspect(const char *root, const struct ctr *c, int size, json_t **ret, struct berr **err)
{
	const struct rt_state *st = &c->state;
	json_t *o = json_object();
	if (!o)
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_free_ char *dir = NULL, *log = NULL, *resolv = NULL, *hostname = NULL,
			    *hosts = NULL;
	if (asprintf(&dir, "%s/containers/%s", root, c->id) < 0 ||
	    asprintf(&log, "%s/%s-json.log", dir, c->id) < 0 ||
	    asprintf(&resolv, "%s/resolv.conf", dir) < 0 ||
	    asprintf(&hostname, "%s/hostname", dir) < 0 || asprintf(&hosts, "%s/hosts", dir) < 0) {
		json_decref(o);
		return berr_set(err, ENOMEM, "out of memory");
	}
	int e = 0;
	e |= set(o, "Id", json_string(c->id));
	e |= set(o, "Created", copy_or_null(json_object_get(c->config, "Created")));
	e |= set(o, "Path", copy_or_null(json_object_get(c->config, "Path")));
	e |= set(o, "Args", copy_or_null(json_object_get(c->config, "Args")));
	int up = st->status == RT_STATUS_RUNNING || st->status == RT_STATUS_PAUSED;
	json_t *state = json_object();
	e |= set(o, "State", state);
	if (state) {
		e |= set(state, "Status", json_string(rt_status_name(st->status)));
		e |= set(state, "Running", json_boolean(up));
		e |= set(state, "Paused", json_boolean(st->status == RT_STATUS_PAUSED));
		e |= set(state, "Restarting", json_boolean(st->status == RT_STATUS_RESTARTING));
		e |= set(state, "OOMKilled", json_boolean(st->oom_killed));
		e |= set(state, "Dead", json_false());
		e |= set(state, "Pid", json_integer(up ? st->pid : 0));
		e |= set(state, "ExitCode", json_integer(st->exit_code));
		e |= set(state, "Error", json_string(st->error));
		e |= set(state, "StartedAt", time_json(st->started_ns));
		e |= set(state, "FinishedAt", time_json(st->finished_ns));
	}
	e |= set(o, "Image", copy_or_null(json_object_get(c->config, "Image")));
	e |= set(o, "ResolvConfPath", json_string(resolv));
	e |= set(o, "HostnamePath", json_string(hostname));
	e |= set(o, "HostsPath", json_string(hosts));
	e |= set(o, "LogPath", json_string(log));
	e |= set(o, "Name", copy_or_null(json_object_get(c->config, "Name")));
	e |= set(o, "RestartCount", json_integer(st->restart_count));
	e |= set(o, "Driver", json_string("overlay"));
	e |= set(o, "Platform", json_string("linux"));
	e |= set(o, "MountLabel", json_string(""));
	e |= set(o, "ProcessLabel", json_string(""));
	e |= set(o, "AppArmorProfile", json_string(""));
	e |= set(o, "ExecIDs", json_null());
	e |= set(o, "HostConfig", hostconfig_json(json_object_get(c->config, "HostConfig")));
	json_t *spec = json_object_get(c->config, "Spec");
	json_t *gd = json_object(), *gdd = json_object();
	e |= set(o, "GraphDriver", gd);
	if (gd && gdd) {
		json_t *lower = json_object_get(spec, "lowerdirs");
		_cleanup_buf_ struct buf lb = BUF_INIT;
		size_t i;
		json_t *l;
		json_array_foreach(lower, i, l)
			if (json_is_string(l))
				buf_printf(&lb, "%s%s", lb.len ? ":" : "", json_string_value(l));
		e |= set(gdd, "LowerDir", json_string(lb.data ? lb.data : ""));
		e |= set(gdd, "MergedDir", json_string(str_of(spec, "rootfs", "")));
		e |= set(gdd, "UpperDir", json_string(str_of(spec, "upperdir", "")));
		e |= set(gdd, "WorkDir", json_string(str_of(spec, "workdir", "")));
		e |= set(gd, "Data", gdd);
		e |= set(gd, "Name", json_string("overlay"));
	} else {
		json_decref(gdd);
	}
	if (size) {
		uint64_t rw = 0;
		_cleanup_free_ char *upper = NULL;
		if (asprintf(&upper, "%s/upper", dir) >= 0)
			fs_tree_size_at(AT_FDCWD, upper, &rw);
		e |= set(o, "SizeRw", json_integer((json_int_t)rw));
		e |= set(o, "SizeRootFs", json_integer((json_int_t)rw));
	}
	e |= set(o, "Mounts", ordered_list(json_object_get(c->config, "Mounts"), mount_order));
	e |= set(o, "Config", ordered(json_object_get(c->config, "Config"), config_order));

	e |= set(o, "NetworkSettings", ctrnet_settings(c));
	if (e) {
		json_decref(o);
		return berr_set(err, ENOMEM, "out of memory");
	}
	*ret = o;
	return 0;
}
