/* A container's file system as commit, cp, diff and export see it from the host.
 *
 * berth has no daemon holding containers' root file systems mounted: a running container's
 * overlay exists only in its own mount namespace, and a stopped container's is not mounted
 * at all. This module gives those commands what they need:
 *  - the layers: the overlay upper dir and the image's layer dirs (top first), read directly
 *    (diff, commit, export of a stopped container);
 *  - a root directory fd of the merged tree (cp, export of a running container): for a
 *    running (or paused) container, a detached clone of its root mount (only the overlay:
 *    none of the container's /proc, /sys, /dev or volume mounts below it), so that what cp
 *    writes is what the container sees at once; for a stopped one, a detached overlay mount
 *    of its layers made here. Either is unmounted when the last fd of it is closed;
 *  - the container's bind mounts, including the /etc/hosts, /etc/hostname and
 *    /etc/resolv.conf files, as cpath wants them.
 * Nothing here prints; functions return 0 or -errno with *err set.
 */
#ifndef BERTH_CMD_CTRFS_H
#define BERTH_CMD_CTRFS_H

#include <stddef.h>

#include "container.h"
#include "cpath.h"
#include "ctr.h"
#include "err.h"

struct ctrfs {
	struct rt_spec spec; /* the container's spec (ctr_spec) */
	int upperfd;	     /* the overlay upper dir, O_RDONLY|O_DIRECTORY */
	int *lowerfds; /* the lower dirs, top first: the init layer, if any, then the image's */
	size_t nlower;
	size_t ninit; /* 1 when lowerfds[0] is the container's init layer (initlayer.h), else 0 */
	int rootfd;   /* -1 until ctrfs_mount_root() */
	struct cpath_mount *mounts; /* bind mounts, with the spec's strings */
	size_t nmounts;
};
/* A closed ctrfs, safe to pass to ctrfs_close(). */
#define CTRFS_INIT                                                                                 \
	{                                                                                          \
		.upperfd = -1, .rootfd = -1                                                        \
	}

/* Read c's spec and open its upper and layer dirs. ctrfs_close() releases everything
 * (also after a failure). */
int ctrfs_open(const struct ctr *c, struct ctrfs *ret, struct berr **err);
void ctrfs_close(struct ctrfs *fs);

/* 1 when c has a process whose mount namespace holds its root (running or paused). */
int ctrfs_is_up(const struct ctr *c);

/* Open fs->rootfd as described at the top (c must be the container fs was opened for).
 * A container that stops meanwhile gets the stopped container's mount. Needs root. A
 * stopped container's overlay uses the same upper and work dirs as the container: a start
 * of the container while this mount lives gets the kernel's "upperdir is in-use" warning. */
int ctrfs_mount_root(struct ctrfs *fs, const struct ctr *c, struct berr **err);

/* A cpath root for fs (rootfd set), named name in messages (what the user typed). */
void ctrfs_cpath_root(const struct ctrfs *fs, const char *name, struct cpath_root *ret);

#endif
