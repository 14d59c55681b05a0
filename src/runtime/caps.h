/* Linux capabilities of a container process, with Docker's rules.
 *
 * A capability set is a uint64_t mask, bit N = capability number N (CAP_CHOWN = bit 0).
 * The kernel's last capability (/proc/sys/kernel/cap_last_cap) is 40 on 6.x kernels, so a
 * 64-bit mask is enough until the kernel grows past 63.
 *
 * How the container's init uses this module (see docs/internals/CONFINE.md):
 *
 *   root user:      rt_caps_apply(caps, 0)
 *   non-root user:  rt_caps_apply(caps, 1); setgroups(); setgid(); setuid();
 *                   rt_caps_apply(caps, 0)
 *
 * then execve(). Without no-new-privileges the seccomp filter must be loaded BEFORE the
 * first rt_caps_apply() (it needs CAP_SYS_ADMIN); with no-new-privileges it is loaded last.
 */
#ifndef BERTH_RUNTIME_CAPS_H
#define BERTH_RUNTIME_CAPS_H

#include <stdint.h>

#include "err.h"

/* rt_caps_parse() result for the magic name "ALL". */
#define RT_CAP_ALL (-1)

/* Docker's default set: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP
 * SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE, i.e. 0x00000000a80425fb. */
uint64_t rt_caps_default(void);

/* Map a name to a capability number: "NET_ADMIN", "CAP_NET_ADMIN", "cap_net_admin" all give
 * CAP_NET_ADMIN (12); "ALL" (any case) gives RT_CAP_ALL. Only names this module knows
 * (CAP_CHOWN .. CAP_CHECKPOINT_RESTORE) are accepted, whatever the running kernel supports.
 * Returns 0, or -EINVAL for an unknown name (no *err: the caller words the message). */
int rt_caps_parse(const char *name, int *ret_cap);

/* "CAP_NET_ADMIN" for 12; NULL for a number this module has no name for. Static storage. */
const char *rt_caps_name(int cap);

/* Every capability the container may get here: 0..cap_last_cap, restricted to the caller's
 * own bounding set (Docker's "available in the current environment": a capability we do not
 * hold cannot be granted). Returns 0 or -errno (cannot read cap_last_cap). */
int rt_caps_available(uint64_t *ret, struct berr **err);

/* Docker's --cap-add / --cap-drop / --privileged rules (moby's TweakCapabilities):
 *   privileged           -> rt_caps_available(), add and drop ignored;
 *   ALL in add           -> available minus drop (drop wins);
 *   ALL in drop          -> exactly add;
 *   otherwise            -> (base minus drop) plus add (a name in both lists stays).
 * add and drop are NULL-terminated vectors (either may be NULL). A name that rt_caps_parse()
 * rejects fails with -EINVAL ("unknown capability: "X""); a capability added by name that is
 * not available here fails with -EPERM, like Docker's "not available in the current
 * environment". Dropping an unavailable capability is accepted. */
int rt_caps_compute(uint64_t base, char **add, char **drop, int privileged, uint64_t *ret,
		    struct berr **err);

/* Make caps the process's capabilities; call it in the container's init after the rootfs is
 * ready. It drops every capability not in caps from the bounding set (PR_CAPBSET_DROP, needs
 * CAP_SETPCAP, so the first call must run with the runtime's full set), clears the ambient
 * set (Docker sets none) and sets inheritable to empty (Docker since 20.10.14), then:
 *   keep_for_uid_change = 1: sets PR_SET_KEEPCAPS and permitted = effective = caps plus
 *     CAP_SETUID/CAP_SETGID/CAP_SETPCAP so that the caller can still switch user even when
 *     those were dropped; the caller then calls setgroups/setgid/setuid and this function
 *     again with 0.
 *   keep_for_uid_change = 0: clears PR_SET_KEEPCAPS; when the effective uid is 0, permitted =
 *     effective = caps; otherwise permitted and effective are emptied, which is what a
 *     Docker container shows for `-u 1000` (execve would clear them anyway).
 * Returns 0 or -errno (-EPERM when caps holds a capability the process lacks). */
int rt_caps_apply(uint64_t caps, int keep_for_uid_change, struct berr **err);

#endif
