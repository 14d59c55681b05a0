/* Device access rules of a container's cgroup.
 *
 * Docker's default list lets a container mknod any device but read and write only null, zero,
 * full, random, urandom, tty, console, ptmx, the pts devices and net/tun. cgroup v1 takes the
 * rules as text in devices.allow (cgroup.c); cgroup v2 has no such file: a
 * BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup answers each access instead, and
 * rt_devices_bpf_build() writes that program from the same rules.
 */
#pragma once

#include <linux/bpf.h>
#include <stddef.h>

#include "err.h"

enum {
	RT_DEV_MKNOD = 1, /* the kernel's BPF_DEVCG_ACC_* bits */
	RT_DEV_READ = 2,
	RT_DEV_WRITE = 4,
	RT_DEV_ALL_ACCESS = 7,
};

struct rt_dev_rule {
	char type;	    /* 'a' (every device), 'c' or 'b' */
	long major, minor;  /* -1: any ('*') */
	unsigned access;    /* RT_DEV_* bits */
};

/* Docker's default rules as devices.allow lines ("c 1:3 rwm"), in order. */
extern const char *const rt_default_device_rules[];
extern const size_t rt_n_default_device_rules;

/* Parse one rule in the devices.allow syntax: "a", "c 1:3 rwm", "b *:* m", "c 136:* rw".
 * -EINVAL with a message naming the rule. */
int rt_dev_rule_parse(const char *s, struct rt_dev_rule *ret, struct berr **err);

/* The program that allows exactly what one of rules[0..n) allows and denies the rest.
 * *ret is malloc'ed, *ret_len instructions long. */
int rt_devices_bpf_build(const struct rt_dev_rule *rules, size_t n, struct bpf_insn **ret,
			 size_t *ret_len, struct berr **err);

/* Build the program of Docker's default rules and attach it to the cgroup2 directory dir
 * (BPF_F_ALLOW_MULTI: it adds to what the parents attached). The cgroup keeps the program
 * until it is removed. */
int rt_devices_bpf_apply_default(const char *dir, struct berr **err);
