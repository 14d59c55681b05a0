/* Device access rules of a container's cgroup: see devices.h. */
#include "devices.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "banned.h"

/* Docker's default device rules (moby's DefaultLinuxSpec plus runc's always-allowed list). */
const char *const rt_default_device_rules[] = {
	"c *:* m",   "b *:* m",   "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",   "c 1:8 rwm",
	"c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
};
const size_t rt_n_default_device_rules =
	sizeof(rt_default_device_rules) / sizeof(rt_default_device_rules[0]);

static int parse_number(const char **p, long *ret)
{
	if (**p == '*') {
		(*p)++;
		*ret = -1;
		return 0;
	}
	long v = 0;
	const char *s = *p;
	while (**p >= '0' && **p <= '9') {
		v = v * 10 + (**p - '0');
		if (v > 0xfffff) /* the kernel's majors and minors fit 20 bits */
			return -1;
		(*p)++;
	}
	if (*p == s)
		return -1;
	*ret = v;
	return 0;
}

int rt_dev_rule_parse(const char *s, struct rt_dev_rule *ret, struct berr **err)
{
	struct rt_dev_rule r = {.major = -1, .minor = -1, .access = RT_DEV_ALL_ACCESS};
	const char *p = s;
	if (streq(s, "a") || streq(s, "a *:* rwm")) {
		r.type = 'a';
		*ret = r;
		return 0;
	}
	if ((*p != 'c' && *p != 'b') || p[1] != ' ')
		goto bad;
	r.type = *p;
	p += 2;
	if (parse_number(&p, &r.major) < 0 || *p++ != ':' || parse_number(&p, &r.minor) < 0)
		goto bad;
	if (*p == '\0') {
		*ret = r;
		return 0;
	}
	if (*p++ != ' ' || !*p)
		goto bad;
	r.access = 0;
	for (; *p; p++) {
		unsigned bit = *p == 'r' ? RT_DEV_READ : *p == 'w' ? RT_DEV_WRITE : *p == 'm' ? RT_DEV_MKNOD : 0;
		if (!bit || (r.access & bit))
			goto bad;
		r.access |= bit;
	}
	*ret = r;
	return 0;
bad:
	return berr_set(err, EINVAL, "invalid device rule '%s'", s);
}

/* ---- the BPF program ---- */

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

struct prog {
	struct bpf_insn *v;
	size_t n, cap;
};

static int emit(struct prog *p, struct bpf_insn insn)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct bpf_insn *v = reallocarray(p->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = insn;
	return 0;
}

/* The context is struct bpf_cgroup_dev_ctx: access_type (access << 16 | type), major, minor.
 * Registers: r2 type, r3 access, r4 major, r5 minor; r1 is scratch once they are loaded.
 * Each rule is a block of "jump to the next block unless this matches" tests ending in
 * "return 1"; after the last block, "return 0". */
int rt_devices_bpf_build(const struct rt_dev_rule *rules, size_t n, struct bpf_insn **ret,
			 size_t *ret_len, struct berr **err)
{
	struct prog p = {0};
	int r = 0;
	r |= emit(&p, INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0));
	r |= emit(&p, INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0));
	r |= emit(&p, INSN(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff));
	r |= emit(&p, INSN(BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16));
	r |= emit(&p, INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, 4, 0));
	r |= emit(&p, INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, 8, 0));
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct rt_dev_rule *d = &rules[i];
		size_t jumps[5], nj = 0;
		if (d->type == 'c' || d->type == 'b') {
			jumps[nj++] = p.n;
			r |= emit(&p, INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 0,
					   d->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK));
		}
		if ((d->access & RT_DEV_ALL_ACCESS) != RT_DEV_ALL_ACCESS) {
			/* Every bit asked for must be one the rule grants. */
			r |= emit(&p, INSN(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0));
			r |= emit(&p, INSN(BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0,
					   (int)(~d->access & RT_DEV_ALL_ACCESS)));
			jumps[nj++] = p.n;
			r |= emit(&p, INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 0, 0));
		}
		if (d->type != 'a' && d->major >= 0) {
			jumps[nj++] = p.n;
			r |= emit(&p, INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, (int)d->major));
		}
		if (d->type != 'a' && d->minor >= 0) {
			jumps[nj++] = p.n;
			r |= emit(&p, INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, (int)d->minor));
		}
		r |= emit(&p, INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1));
		r |= emit(&p, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
		for (size_t k = 0; r == 0 && k < nj; k++)
			p.v[jumps[k]].off = (short)(p.n - jumps[k] - 1);
	}
	r |= emit(&p, INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
	r |= emit(&p, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
	if (r < 0 || p.n > 4096) {
		free(p.v);
		return berr_set(err, ENOMEM, "device rules: program too large");
	}
	*ret = p.v;
	*ret_len = p.n;
	return 0;
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int rt_devices_bpf_apply_default(const char *dir, struct berr **err)
{
	struct rt_dev_rule rules[sizeof(rt_default_device_rules) / sizeof(rt_default_device_rules[0])];
	for (size_t i = 0; i < rt_n_default_device_rules; i++) {
		int r = rt_dev_rule_parse(rt_default_device_rules[i], &rules[i], err);
		if (r < 0)
			return r;
	}
	_cleanup_free_ struct bpf_insn *insns = NULL;
	size_t len;
	int r = rt_devices_bpf_build(rules, rt_n_default_device_rules, &insns, &len, err);
	if (r < 0)
		return r;
	union bpf_attr load = {0};
	load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	load.insns = (uint64_t)(uintptr_t)insns;
	load.insn_cnt = (uint32_t)len;
	load.license = (uint64_t)(uintptr_t) "Apache-2.0";
	_cleanup_close_ int prog = (int)sys_bpf(BPF_PROG_LOAD, &load);
	if (prog < 0 && errno == EINVAL) {
		/* Once more with the verifier's log, for the message. */
		char log[8192] = "";
		load.log_buf = (uint64_t)(uintptr_t)log;
		load.log_size = sizeof(log);
		load.log_level = 1;
		prog = (int)sys_bpf(BPF_PROG_LOAD, &load);
		if (prog < 0) {
			/* The reason is the line before "processed N insns ...". */
			int e = errno;
			char *why = log, *line, *save = NULL;
			for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
				if (strncmp(line, "processed ", 10) != 0)
					why = line;
			return berr_set(err, e, "load the device filter (BPF): %s%s%s", strerror(e),
					*why ? ": " : "", why);
		}
	}
	if (prog < 0)
		return berr_errno(err, errno, "load the device filter (BPF)");
	_cleanup_close_ int cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return berr_errno(err, errno, "open %s", dir);
	union bpf_attr attach = {0};
	attach.target_fd = (uint32_t)cg;
	attach.attach_bpf_fd = (uint32_t)prog;
	attach.attach_type = BPF_CGROUP_DEVICE;
	attach.attach_flags = BPF_F_ALLOW_MULTI;
	if (sys_bpf(BPF_PROG_ATTACH, &attach) < 0)
		return berr_errno(err, errno, "attach the device filter to %s", dir);
	return 0;
}
