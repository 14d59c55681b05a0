/* Docker's default seccomp profile as a C table.
 *
 * Same rules as moby/profiles seccomp v0.2.3 (profiles/seccomp/default.json, vendored by
 * moby in 2026): default action ERRNO(EPERM); an allow list; syscalls allowed only with a
 * capability (CAP_SYS_ADMIN, CAP_SYS_PTRACE, ...); argument rules for socket (no AF_ALG,
 * AF_VSOCK), personality (only the harmless personas) and clone (no namespace flags without
 * CAP_SYS_ADMIN); clone3 gets ENOSYS without CAP_SYS_ADMIN so that glibc falls back to
 * clone, whose flags can be inspected. When Docker updates its profile, update this table
 * and the test in tests/unit/test_seccomp.c. */
#include "seccomp.h"

#include <errno.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/socket.h>

#include "cleanup.h"
#include "banned.h"

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct rt_seccomp_arch_map arch_map[] = {
	{"SCMP_ARCH_X86_64", NAMES("SCMP_ARCH_X86", "SCMP_ARCH_X32")},
	{"SCMP_ARCH_AARCH64", NAMES("SCMP_ARCH_ARM")},
	{"SCMP_ARCH_MIPS64", NAMES("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32")},
	{"SCMP_ARCH_MIPS64N32", NAMES("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64")},
	{"SCMP_ARCH_MIPSEL64", NAMES("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32")},
	{"SCMP_ARCH_MIPSEL64N32", NAMES("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64")},
	{"SCMP_ARCH_S390X", NAMES("SCMP_ARCH_S390")},
	{"SCMP_ARCH_RISCV64", NULL},
	{"SCMP_ARCH_LOONGARCH64", NULL},
};

/* socket(2): every family but AF_ALG (kernel crypto API) and AF_VSOCK (host sockets). */
static const struct rt_seccomp_arg socket_below_alg[] = {{0, SCMP_CMP_LT, AF_ALG, 0}};
static const struct rt_seccomp_arg socket_nfc[] = {{0, SCMP_CMP_EQ, AF_NFC, 0}};
static const struct rt_seccomp_arg socket_above_vsock[] = {{0, SCMP_CMP_GT, AF_VSOCK, 0}};

/* personality(2): the default persona, 32-bit, the 2.6-uname compatibility flag, and the
 * query 0xffffffff; not READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE and the like. */
static const struct rt_seccomp_arg persona_linux[] = {{0, SCMP_CMP_EQ, PER_LINUX, 0}};
static const struct rt_seccomp_arg persona_linux32[] = {{0, SCMP_CMP_EQ, PER_LINUX32, 0}};
static const struct rt_seccomp_arg persona_uname26[] = {{0, SCMP_CMP_EQ, UNAME26, 0}};
static const struct rt_seccomp_arg persona_linux32_uname26[] = {
	{0, SCMP_CMP_EQ, UNAME26 | PER_LINUX32, 0}};
static const struct rt_seccomp_arg persona_query[] = {{0, SCMP_CMP_EQ, 0xffffffffu, 0}};

/* clone(2) without CAP_SYS_ADMIN: no flag that creates a namespace. s390 swaps the first two
 * arguments of clone. */
#define CLONE_NS_FLAGS                                                                             \
	((uint64_t)(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |     \
		    CLONE_NEWNET | CLONE_NEWCGROUP))
static const struct rt_seccomp_arg clone_no_ns[] = {{0, SCMP_CMP_MASKED_EQ, CLONE_NS_FLAGS, 0}};
static const struct rt_seccomp_arg clone_no_ns_s390[] = {
	{1, SCMP_CMP_MASKED_EQ, CLONE_NS_FLAGS, 0}};

static const struct rt_seccomp_rule rules[] = {
	{
		.names = NAMES("accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk",
				"cachestat", "capget", "capset", "chdir", "chmod", "chown",
				"chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
				"clock_getres_time64", "clock_gettime", "clock_gettime64",
				"clock_nanosleep", "clock_nanosleep_time64", "close",
				"close_range", "connect", "copy_file_range", "creat", "dup",
				"dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
				"epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
				"epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
				"exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
				"fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod",
				"fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
				"fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr",
				"flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64",
				"fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
				"ftruncate64", "futex", "futex_requeue", "futex_time64",
				"futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu",
				"getcwd", "getdents", "getdents64", "getegid", "getegid32",
				"geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
				"getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp",
				"getpid", "getppid", "getpriority", "getrandom", "getresgid",
				"getresgid32", "getresuid", "getresuid32", "getrlimit",
				"get_robust_list", "getrusage", "getsid", "getsockname",
				"getsockopt", "get_thread_area", "gettid", "gettimeofday",
				"getuid", "getuid32", "getxattr", "getxattrat",
				"inotify_add_watch", "inotify_init", "inotify_init1",
				"inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
				"io_getevents", "io_pgetevents", "io_pgetevents_time64",
				"ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc",
				"kill", "landlock_add_rule", "landlock_create_ruleset",
				"landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
				"link", "linkat", "listen", "listmount", "listxattr",
				"listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek",
				"lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack",
				"membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
				"mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall",
				"mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify",
				"mq_open", "mq_timedreceive", "mq_timedreceive_time64",
				"mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap",
				"mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync",
				"munlock", "munlockall", "munmap", "name_to_handle_at",
				"nanosleep", "newfstatat", "_newselect", "open", "openat",
				"openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
				"pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
				"ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
				"prlimit64", "process_mrelease", "pselect6", "pselect6_time64",
				"pwrite64", "pwritev", "pwritev2", "read", "readahead",
				"readlink", "readlinkat", "readv", "recv", "recvfrom",
				"recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
				"removexattr", "removexattrat", "rename", "renameat",
				"renameat2", "restart_syscall", "riscv_hwprobe", "rmdir", "rseq",
				"rt_sigaction", "rt_sigpending", "rt_sigprocmask",
				"rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
				"rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
				"sched_getaffinity", "sched_getattr", "sched_getparam",
				"sched_get_priority_max", "sched_get_priority_min",
				"sched_getscheduler", "sched_rr_get_interval",
				"sched_rr_get_interval_time64", "sched_setaffinity",
				"sched_setattr", "sched_setparam", "sched_setscheduler",
				"sched_yield", "seccomp", "select", "semctl", "semget", "semop",
				"semtimedop", "semtimedop_time64", "send", "sendfile",
				"sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid",
				"setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
				"setgroups", "setgroups32", "setitimer", "setpgid",
				"setpriority", "setregid", "setregid32", "setresgid",
				"setresgid32", "setresuid", "setresuid32", "setreuid",
				"setreuid32", "setrlimit", "set_robust_list", "setsid",
				"setsockopt", "set_thread_area", "set_tid_address", "setuid",
				"setuid32", "setxattr", "setxattrat", "shmat", "shmctl", "shmdt",
				"shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
				"sigprocmask", "sigreturn", "socketcall", "socketpair", "splice",
				"stat", "stat64", "statfs", "statfs64", "statmount", "statx",
				"symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
				"sysinfo", "tee", "tgkill", "time", "timer_create",
				"timer_delete", "timer_getoverrun", "timer_gettime",
				"timer_gettime64", "timer_settime", "timer_settime64",
				"timerfd_create", "timerfd_gettime", "timerfd_gettime64",
				"timerfd_settime", "timerfd_settime64", "times", "tkill",
				"truncate", "truncate64", "ugetrlimit", "umask", "uname",
				"unlink", "unlinkat", "uretprobe", "utime", "utimensat",
				"utimensat_time64", "utimes", "vfork", "vmsplice", "wait4",
				"waitid", "waitpid", "write", "writev"),
		.action = SCMP_ACT_ALLOW,
	},
	{
		.names = NAMES("process_vm_readv", "process_vm_writev", "ptrace"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.min_kernel = "4.8"},
	},
	{
		.names = NAMES("socket"),
		.action = SCMP_ACT_ALLOW,
		.args = socket_below_alg, .n_args = 1,
	},
	{
		.names = NAMES("socket"),
		.action = SCMP_ACT_ALLOW,
		.args = socket_nfc, .n_args = 1,
	},
	{
		.names = NAMES("socket"),
		.action = SCMP_ACT_ALLOW,
		.args = socket_above_vsock, .n_args = 1,
	},
	{
		.names = NAMES("personality"),
		.action = SCMP_ACT_ALLOW,
		.args = persona_linux, .n_args = 1,
	},
	{
		.names = NAMES("personality"),
		.action = SCMP_ACT_ALLOW,
		.args = persona_linux32, .n_args = 1,
	},
	{
		.names = NAMES("personality"),
		.action = SCMP_ACT_ALLOW,
		.args = persona_uname26, .n_args = 1,
	},
	{
		.names = NAMES("personality"),
		.action = SCMP_ACT_ALLOW,
		.args = persona_linux32_uname26, .n_args = 1,
	},
	{
		.names = NAMES("personality"),
		.action = SCMP_ACT_ALLOW,
		.args = persona_query, .n_args = 1,
	},
	{
		.names = NAMES("sync_file_range2", "swapcontext"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.arches = NAMES("ppc64le")},
	},
	{
		.names = NAMES("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2",
				"breakpoint", "cacheflush", "set_tls"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.arches = NAMES("arm", "arm64")},
	},
	{
		.names = NAMES("arch_prctl"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.arches = NAMES("amd64", "x32")},
	},
	{
		.names = NAMES("modify_ldt"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.arches = NAMES("amd64", "x32", "x86")},
	},
	{
		.names = NAMES("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.arches = NAMES("s390", "s390x")},
	},
	{
		.names = NAMES("riscv_flush_icache"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.arches = NAMES("riscv64")},
	},
	{
		.names = NAMES("open_by_handle_at"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_DAC_READ_SEARCH")},
	},
	{
		.names = NAMES("bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount",
				"fsopen", "fspick", "lookup_dcookie", "lsm_get_self_attr",
				"lsm_list_modules", "lsm_set_self_attr", "mount",
				"mount_setattr", "move_mount", "open_tree", "perf_event_open",
				"quotactl", "quotactl_fd", "setdomainname", "sethostname",
				"setns", "syslog", "umount", "umount2", "unshare"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_SYS_ADMIN")},
	},
	{
		.names = NAMES("clone"),
		.action = SCMP_ACT_ALLOW,
		.args = clone_no_ns, .n_args = 1,
		.excludes = {.arches = NAMES("s390", "s390x"), .caps = NAMES("CAP_SYS_ADMIN")},
	},
	{
		.names = NAMES("clone"),
		.action = SCMP_ACT_ALLOW,
		.args = clone_no_ns_s390, .n_args = 1,
		.includes = {.arches = NAMES("s390", "s390x")},
		.excludes = {.caps = NAMES("CAP_SYS_ADMIN")},
	},
	{
		.names = NAMES("clone3"),
		.action = SCMP_ACT_ERRNO(ENOSYS),
		.excludes = {.caps = NAMES("CAP_SYS_ADMIN")},
	},
	{
		.names = NAMES("reboot"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_SYS_BOOT")},
	},
	{
		.names = NAMES("chroot"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_SYS_CHROOT")},
	},
	{
		.names = NAMES("delete_module", "init_module", "finit_module"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_SYS_MODULE")},
	},
	{
		.names = NAMES("acct"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_SYS_PACCT")},
	},
	{
		.names = NAMES("kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
				"process_vm_writev", "ptrace"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_SYS_PTRACE")},
	},
	{
		.names = NAMES("iopl", "ioperm"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_SYS_RAWIO")},
	},
	{
		.names = NAMES("settimeofday", "stime", "clock_settime", "clock_settime64"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_SYS_TIME")},
	},
	{
		.names = NAMES("vhangup"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_SYS_TTY_CONFIG")},
	},
	{
		.names = NAMES("get_mempolicy", "mbind", "set_mempolicy",
				"set_mempolicy_home_node"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_SYS_NICE")},
	},
	{
		.names = NAMES("syslog"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_SYSLOG")},
	},
	{
		.names = NAMES("bpf"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_BPF")},
	},
	{
		.names = NAMES("perf_event_open"),
		.action = SCMP_ACT_ALLOW,
		.includes = {.caps = NAMES("CAP_PERFMON")},
	},
};

static const struct rt_seccomp_profile default_profile = {
	.default_action = SCMP_ACT_ERRNO(EPERM),
	.arch_map = arch_map,
	.n_arch_map = ARRAY_SIZE(arch_map),
	.rules = rules,
	.n_rules = ARRAY_SIZE(rules),
};

const struct rt_seccomp_profile *rt_seccomp_profile_default(void)
{
	return &default_profile;
}
