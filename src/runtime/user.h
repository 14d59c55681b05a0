/* Who a container process runs as: Docker's `-u user[:group]` resolved against the image's
 * own /etc/passwd and /etc/group (never the host's), and reading those files from an image
 * whose root is a stack of overlay layers that is not mounted anywhere yet.
 *
 * The rules are runc's (libcontainer/user, which Docker uses):
 *  - "" means root; a name must be in passwd; a number need not be (then its gid is 0 and
 *    its home "/");
 *  - a group given by name must be in group, a number need not be;
 *  - without a group, the primary gid is passwd's and the supplementary groups are every
 *    group that lists the user's name; with a group, there are no supplementary groups;
 *  - ids are 0 .. 2^31-1.
 * Nothing here prints; errors read like Docker's ("unable to find user x: no matching
 * entries in passwd file").
 */
#ifndef BERTH_RUNTIME_USER_H
#define BERTH_RUNTIME_USER_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

struct rt_user {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary gids, owned; NULL when none */
	size_t ngroups;
	char *home;    /* passwd's home directory, owned; "/" when unknown */
};

/* Resolve spec ("name", "uid", "name:group", "uid:gid", "" for root). passwd and group are
 * the files' contents, NULL when the image has none. On success *ret is filled (free it
 * with rt_user_free); on failure -EINVAL (-ENOMEM) with *err set and *ret zeroed. */
int rt_user_resolve(const char *spec, const char *passwd, const char *group, struct rt_user *ret,
		    struct berr **err);
void rt_user_free(struct rt_user *u);

/* Read the file at path (absolute, inside the image) as the overlay of lowerdirs (TOP
 * FIRST, the order of struct rt_spec) would show it once mounted: whiteouts (0/0 character
 * devices) hide what is below, opaque directories (xattr trusted.overlay.opaque=y) end the
 * search, and symlinks are followed inside the image (absolute ones from its root, at most
 * 40 of them). The data (at most max bytes, -EFBIG past that) is NUL-terminated and owned
 * by the caller. -ENOENT when the image has no such file, -ENOTDIR, -ELOOP, or the
 * errno of a failed open or read. */
int rt_layers_read_file(char *const *lowerdirs, size_t n, const char *path, size_t max,
			char **ret_data, size_t *ret_len);

#endif
