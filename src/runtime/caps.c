#include "caps.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs.h"
#include "banned.h"

/* Indexed by capability number; the names are the kernel's (include/uapi/linux/capability.h). */
static const char *const cap_names[] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

#define BIT(c) (UINT64_C(1) << (c))

uint64_t rt_caps_default(void)
{
	return BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FSETID) | BIT(CAP_FOWNER) |
	       BIT(CAP_MKNOD) | BIT(CAP_NET_RAW) | BIT(CAP_SETGID) | BIT(CAP_SETUID) |
	       BIT(CAP_SETFCAP) | BIT(CAP_SETPCAP) | BIT(CAP_NET_BIND_SERVICE) |
	       BIT(CAP_SYS_CHROOT) | BIT(CAP_KILL) | BIT(CAP_AUDIT_WRITE);
}

int rt_caps_parse(const char *name, int *ret_cap)
{
	if (!name)
		return -EINVAL;
	if (strcasecmp(name, "ALL") == 0) {
		*ret_cap = RT_CAP_ALL;
		return 0;
	}
	const char *bare = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
	for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
		if (strcasecmp(bare, cap_names[i] + 4) == 0) {
			*ret_cap = (int)i;
			return 0;
		}
	return -EINVAL;
}

const char *rt_caps_name(int cap)
{
	if (cap < 0 || (size_t)cap >= ARRAY_SIZE(cap_names))
		return NULL;
	return cap_names[cap];
}

/* The kernel's highest capability number: /proc/sys/kernel/cap_last_cap, or, where /proc is
 * not mounted (a container's init between pivot_root and mounting its /proc), the last
 * number PR_CAPBSET_READ accepts. */
static int read_last_cap(int *ret, struct berr **err)
{
	_cleanup_free_ char *s = NULL;
	int r = fs_read_all_at(AT_FDCWD, "/proc/sys/kernel/cap_last_cap", 64, &s, NULL);
	if (r >= 0) {
		char *end;
		errno = 0;
		long v = strtol(s, &end, 10);
		if (errno || end == s || v < 0 || v > 63)
			return berr_set(err, EINVAL,
					"/proc/sys/kernel/cap_last_cap: unexpected value '%s'", s);
		*ret = (int)v;
		return 0;
	}
	int c = 0;
	while (c < 63 && prctl(PR_CAPBSET_READ, c + 1, 0, 0, 0) >= 0)
		c++;
	if (prctl(PR_CAPBSET_READ, 0, 0, 0, 0) < 0)
		return berr_errno(err, r, "read /proc/sys/kernel/cap_last_cap");
	*ret = c;
	return 0;
}

int rt_caps_available(uint64_t *ret, struct berr **err)
{
	int last;
	int r = read_last_cap(&last, err);
	if (r < 0)
		return r;
	uint64_t caps = 0;
	for (int c = 0; c <= last; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			caps |= BIT(c);
	*ret = caps;
	return 0;
}

/* Parse every name of v; *ret_all tells whether "ALL" was among them. */
static int parse_list(char **v, uint64_t *ret_mask, int *ret_all, struct berr **err)
{
	uint64_t mask = 0;
	int all = 0;
	for (size_t i = 0; v && v[i]; i++) {
		int cap;
		if (rt_caps_parse(v[i], &cap) < 0)
			return berr_set(err, EINVAL, "unknown capability: \"%s\"", v[i]);
		if (cap == RT_CAP_ALL)
			all = 1;
		else
			mask |= BIT(cap);
	}
	*ret_mask = mask;
	*ret_all = all;
	return 0;
}

int rt_caps_compute(uint64_t base, char **add, char **drop, int privileged, uint64_t *ret,
		    struct berr **err)
{
	uint64_t avail;
	int r = rt_caps_available(&avail, err);
	if (r < 0)
		return r;
	if (privileged) {
		*ret = avail;
		return 0;
	}
	uint64_t add_mask, drop_mask;
	int add_all, drop_all;
	r = parse_list(drop, &drop_mask, &drop_all, err);
	if (r < 0)
		return r;
	r = parse_list(add, &add_mask, &add_all, err);
	if (r < 0)
		return r;
	uint64_t missing = add_mask & ~avail;
	if (missing) {
		int c = __builtin_ctzll(missing);
		const char *n = rt_caps_name(c);
		return berr_set(err, EPERM,
				"capability not supported by your kernel or not available in the "
				"current environment: \"%s\"",
				n ? n : "?");
	}
	if (add_all)
		*ret = avail & ~drop_mask;
	else if (drop_all)
		*ret = add_mask;
	else
		*ret = (base & ~drop_mask) | add_mask;
	return 0;
}

static int capset_masks(uint64_t permitted, uint64_t effective, uint64_t inheritable)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2] = {
		{
			.effective = (uint32_t)effective,
			.permitted = (uint32_t)permitted,
			.inheritable = (uint32_t)inheritable,
		},
		{
			.effective = (uint32_t)(effective >> 32),
			.permitted = (uint32_t)(permitted >> 32),
			.inheritable = (uint32_t)(inheritable >> 32),
		},
	};
	/* glibc has no capset() wrapper and libcap would be one more dependency for two calls. */
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

int rt_caps_apply(uint64_t caps, int keep_for_uid_change, struct berr **err)
{
	int last;
	int r = read_last_cap(&last, err);
	if (r < 0)
		return r;

	/* The bounding set first, while CAP_SETPCAP is still effective. Reading before dropping
	 * makes the second call (after setuid, without CAP_SETPCAP) a no-op here. */
	for (int c = 0; c <= last; c++) {
		if (caps & BIT(c))
			continue;
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return berr_errno(err, errno, "drop %s from the bounding set",
					  rt_caps_name(c) ? rt_caps_name(c) : "capability");
	}

	/* Ambient capabilities would survive execve for a non-root user; Docker grants none.
	 * EINVAL means a kernel older than 4.3 without ambient sets: nothing to clear. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return berr_errno(err, errno, "clear ambient capabilities");

	if (keep_for_uid_change) {
		/* KEEPCAPS keeps the permitted set across setuid() to a non-zero uid; the
		 * effective set is still cleared by the kernel, and the second call restores it. */
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			return berr_errno(err, errno, "set keep-capabilities");
		uint64_t keep = caps | BIT(CAP_SETUID) | BIT(CAP_SETGID);
		r = capset_masks(keep, keep, 0);
		if (r < 0)
			return berr_errno(err, r, "set capabilities 0x%016llx",
					  (unsigned long long)keep);
		return 0;
	}

	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return berr_errno(err, errno, "clear keep-capabilities");
	uint64_t eff = geteuid() == 0 ? caps : 0;
	r = capset_masks(eff, eff, 0);
	if (r < 0)
		return berr_errno(err, r, "set capabilities 0x%016llx", (unsigned long long)eff);
	return 0;
}
