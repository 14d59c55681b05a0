/* Seccomp filters for container processes: Docker's default profile (a C table in
 * seccomp_default.c with the same rules as moby's profiles/seccomp/default.json) and
 * profiles in Docker's JSON format (`--security-opt seccomp=profile.json`), compiled with
 * libseccomp.
 *
 * A profile is filtered for the running system when it is compiled, as Docker does:
 * a rule whose "includes" names capabilities applies only when all of them are in `caps`
 * (the container's bounding set), "excludes" drops the rule when any listed capability,
 * arch or minimum kernel matches, and syscall names that neither this kernel's arch nor
 * libseccomp know are skipped.
 *
 * no_new_privs is the CALLER's business: the filter is built with libseccomp's NNP
 * attribute off, so loading needs either CAP_SYS_ADMIN (load before rt_caps_apply()) or a
 * prior prctl(PR_SET_NO_NEW_PRIVS, 1) (then load as late as possible, just before execve,
 * so that the runtime's own last steps are not filtered). "unconfined" means: do not call
 * this module at all.
 */
#ifndef BERTH_RUNTIME_SECCOMP_H
#define BERTH_RUNTIME_SECCOMP_H

/* This header's own name hides libseccomp's <seccomp.h> from every file built with
 * src/runtime on the include path; meson passes the real one's path (top meson.build). */
#ifdef BERTH_LIBSECCOMP_H
#include BERTH_LIBSECCOMP_H
#else
#error "BERTH_LIBSECCOMP_H must name libseccomp's seccomp.h"
#endif
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* One argument comparison: syscall argument `index` (0..5) compared by `op`. For
 * SCMP_CMP_MASKED_EQ, value is the mask and value_two the expected result (Docker's
 * "value"/"valueTwo"). */
struct rt_seccomp_arg {
	unsigned int index;
	enum scmp_compare op;
	uint64_t value;
	uint64_t value_two;
};

/* Docker's "includes"/"excludes" filter. Each list is NULL-terminated, or NULL when absent.
 * arches use Docker's names of the native arch ("amd64", "x86", "arm64", "s390x", ...);
 * caps use "CAP_..." names; min_kernel is "major.minor". */
struct rt_seccomp_filter {
	const char *const *arches;
	const char *const *caps;
	const char *min_kernel;
};

struct rt_seccomp_rule {
	const char *const *names; /* NULL-terminated syscall names */
	uint32_t action;          /* a libseccomp action: SCMP_ACT_ALLOW, SCMP_ACT_ERRNO(38)... */
	const struct rt_seccomp_arg *args;
	size_t n_args; /* all must match; see rt_seccomp_profile_compile() for repeats */
	struct rt_seccomp_filter includes;
	struct rt_seccomp_filter excludes;
};

/* Docker's "archMap" entry: when `arch` is the native arch, `sub` are added too. */
struct rt_seccomp_arch_map {
	const char *arch;       /* "SCMP_ARCH_X86_64" */
	const char *const *sub; /* NULL-terminated, or NULL */
};

struct rt_seccomp_profile {
	int disabled;            /* no defaultAction and no syscalls: Docker loads nothing */
	uint32_t default_action; /* libseccomp action */
	const char *const *architectures; /* "SCMP_ARCH_..." list, or NULL */
	const struct rt_seccomp_arch_map *arch_map;
	size_t n_arch_map;
	const struct rt_seccomp_rule *rules;
	size_t n_rules;
	int log;        /* flags: SECCOMP_FILTER_FLAG_LOG */
	int spec_allow; /* flags: SECCOMP_FILTER_FLAG_SPEC_ALLOW */
	void *priv;     /* parsed profiles: the memory behind the pointers above */
};

/* The built-in default profile (static; never free it). */
const struct rt_seccomp_profile *rt_seccomp_profile_default(void);

/* Parse a profile in Docker's JSON format. origin names the data in error messages
 * ("seccomp profile 'x.json': syscalls[3].action: unknown action 'SCMP_ACT_FOO'").
 * Every field's type is checked; unknown keys are ignored (as Go's decoder does). Numbers
 * must fit in int64 (jansson's limit). SCMP_ACT_NOTIFY and listenerPath are refused
 * (-EOPNOTSUPP): berth has no seccomp agent. On success *ret is owned by the caller
 * (rt_seccomp_profile_free); on failure -EINVAL (or -ENOMEM) with *err set. */
int rt_seccomp_profile_parse(const char *data, size_t len, const char *origin,
			     struct rt_seccomp_profile **ret, struct berr **err);

/* Read and parse a file (at most 4 MiB). Same ownership and errors, plus the file's -errno. */
int rt_seccomp_profile_read(const char *path, struct rt_seccomp_profile **ret,
			    struct berr **err);

void rt_seccomp_profile_free(struct rt_seccomp_profile *p);

/* Build the libseccomp filter of p for the container's bounding set `caps`, without loading
 * it. Rules whose action equals the default action are skipped (libseccomp refuses them). A
 * rule with two comparisons on the same argument becomes one rule per comparison (OR), as
 * runc does, because libseccomp cannot AND two comparisons of one argument.
 * On success *ret is a filter owned by the caller (seccomp_release), or NULL when the
 * profile is disabled. Returns 0 or -errno with *err naming the syscall. */
int rt_seccomp_profile_compile(const struct rt_seccomp_profile *p, uint64_t caps,
			       scmp_filter_ctx *ret, struct berr **err);

/* Compile and load into the calling thread (see the no_new_privs note at the top). */
int rt_seccomp_profile_load(const struct rt_seccomp_profile *p, uint64_t caps,
			    struct berr **err);

/* Load Docker's default profile for a container whose bounding set is caps. */
int rt_seccomp_load_default(uint64_t caps, struct berr **err);

/* Read, parse and load a JSON profile file. Parse it in the parent with
 * rt_seccomp_profile_read() instead when errors must reach the user before the fork. */
int rt_seccomp_load_file(const char *path, uint64_t caps, struct berr **err);

/* ---- compiled BPF, cached ----
 *
 * libseccomp builds the BPF program from its rule database when the filter is loaded or
 * exported; for Docker's default profile that (and adding the rules) costs several ms of
 * CPU, more than the rest of a container's start. The program depends only on the
 * profile, the bounding set, the native arch, the kernel version and libseccomp's version,
 * so it is cached: one file per key in the cache directory (the runroot's seccomp/, a
 * tmpfs, so at most one boot old). The file holds the whole key, compared byte for byte
 * before use, and a checksum; anything else (missing, torn, another key) is compiled
 * again and rewritten. Loading is then one seccomp(2) call, safe in a raw clone's child.
 */
struct rt_seccomp_bpf {
	void *insns;  /* struct sock_filter[len], malloc'ed; NULL when nothing is loaded */
	size_t len;
	unsigned flags; /* SECCOMP_FILTER_FLAG_LOG, _SPEC_ALLOW */
};

/* Where rt_seccomp_profile_bpf() keeps its files (created 0700 when missing); NULL (the
 * default) caches nothing. The string is copied. */
void rt_seccomp_set_cache_dir(const char *dir);

/* The BPF program of p for the bounding set caps: from the cache, or compiled (and then
 * cached). A disabled profile gives len 0. Returns 0 or -errno with *err. */
int rt_seccomp_profile_bpf(const struct rt_seccomp_profile *p, uint64_t caps,
			   struct rt_seccomp_bpf *ret, struct berr **err);

/* The program for a container spec's seccomp mode (RT_SECCOMP_*): nothing for unconfined,
 * the default profile, or the JSON profile at path. */
int rt_seccomp_mode_bpf(int mode, const char *path, uint64_t caps, struct rt_seccomp_bpf *ret,
			struct berr **err);

/* Load into the calling thread with seccomp(SECCOMP_SET_MODE_FILTER) (see the
 * no_new_privs note at the top). A raw system call: 0 or -errno; len 0 loads nothing. */
int rt_seccomp_bpf_load(const struct rt_seccomp_bpf *b);

void rt_seccomp_bpf_free(struct rt_seccomp_bpf *b);

#endif
