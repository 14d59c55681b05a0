/* Which cgroup hierarchy the host has. Hybrid is v1 controllers under /sys/fs/cgroup/<ctl>
 * with a cgroup2 mount at /sys/fs/cgroup/unified (this project's CI machine has it). */
#ifndef BERTH_RUNTIME_CGROUP_LAYOUT_H
#define BERTH_RUNTIME_CGROUP_LAYOUT_H

enum rt_cgroup_layout {
	RT_CGROUP_UNKNOWN = 0,
	RT_CGROUP_V1,
	RT_CGROUP_HYBRID,
	RT_CGROUP_V2,
};

/* Detect the layout under root (normally "/sys/fs/cgroup") by statfs(2) magic numbers. */
enum rt_cgroup_layout rt_cgroup_layout_detect(const char *root);
const char *rt_cgroup_layout_name(enum rt_cgroup_layout l);

#endif
