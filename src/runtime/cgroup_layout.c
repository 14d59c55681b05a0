#include "cgroup_layout.h"

#include <linux/magic.h>
#include <stdio.h>
#include <sys/vfs.h>

#include "banned.h"

enum rt_cgroup_layout rt_cgroup_layout_detect(const char *root)
{
	struct statfs st;
	if (statfs(root, &st) < 0)
		return RT_CGROUP_UNKNOWN;
	if (st.f_type == CGROUP2_SUPER_MAGIC)
		return RT_CGROUP_V2;
	if (st.f_type != TMPFS_MAGIC)
		return RT_CGROUP_UNKNOWN;
	char p[4096];
	snprintf(p, sizeof(p), "%s/unified", root);
	if (statfs(p, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
		return RT_CGROUP_HYBRID;
	return RT_CGROUP_V1;
}

const char *rt_cgroup_layout_name(enum rt_cgroup_layout l)
{
	switch (l) {
	case RT_CGROUP_V1:
		return "v1";
	case RT_CGROUP_HYBRID:
		return "hybrid (v1 controllers, cgroup2 at unified/)";
	case RT_CGROUP_V2:
		return "v2";
	case RT_CGROUP_UNKNOWN:
		break;
	}
	return "unknown";
}
