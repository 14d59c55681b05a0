/* Layer diffs: what a container changed, read from its overlay upper directory.
 *
 * An overlayfs upper directory holds exactly the container's changes: new and modified files
 * (copied up whole), whiteouts (character devices 0/0) for deleted names, and directories
 * marked opaque (xattr trusted.overlay.opaque="y") that hide everything below them. This
 * module turns such a directory into
 *  - a layer tar (layerdiff_write): the OCI image spec's changeset form, as `docker commit`
 *    writes it, deterministic for a given tree;
 *  - `docker diff`'s list of A/C/D lines (layerdiff_changes);
 * and offers the tar writer underneath (struct layerdiff_tar) to export and cp.
 *
 * Overlay features that berth does not use are refused rather than half-understood: with
 * redirect_dir=on a renamed directory is an xattr trusted.overlay.redirect naming its lower
 * origin, and with metacopy=on a chown'd file is an empty upper file pointing at the lower
 * data (trusted.overlay.metacopy). Neither can be written as a changeset without reading the
 * lower layers, so berth mounts with redirect_dir=off,metacopy=off, and an upper directory
 * carrying either xattr fails with -EOPNOTSUPP. See docs/internals/COMMIT.md.
 *
 * The tree is read with *at() calls under the directory fd: nothing follows a symlink, and a
 * file that changes while it is read is written as its header said (cut or zero-padded).
 * All functions return 0 or -errno with *err set, and never print.
 */
#ifndef BERTH_IMAGE_LAYERDIFF_H
#define BERTH_IMAGE_LAYERDIFF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "err.h"

struct archive;

struct layerdiff_stats {
	uint64_t entries;   /* tar entries written (whiteouts and opaque markers included) */
	uint64_t bytes;	    /* bytes of regular file content written */
	uint64_t whiteouts; /* .wh.<name> entries */
	uint64_t opaques;   /* .wh..wh..opq entries */
	uint64_t hardlinks; /* entries written as hard links to an earlier entry */
};

/* ---- the tar writer ---- */

/* Entries of an overlay upper dir: whiteouts and opaque dirs converted, redirect and
 * metacopy refused (see above). Without it, every node is written as it is. */
#define LAYERDIFF_OVERLAY 1
/* Write every entry with the owner given to layerdiff_tar_set_owner() (docker cp without
 * -a). */
#define LAYERDIFF_CHOWN 2

/* Writes directory trees as tar entries into an archive the caller opened (any tar format;
 * pax keeps xattrs and long names). Entries are named as the caller says; a directory's
 * children follow it sorted by name (strcmp), so that one tree always gives the same bytes.
 * A file seen again through another hard link (same device and inode) is written as a hard
 * link to the first name. Times are whole seconds (as Docker writes them); no atime, ctime
 * or user/group names go in. Sockets are skipped (tar has no type for them). Extended
 * attributes are copied except trusted.overlay.* and user.overlay.* (the unpacker drops them
 * too: they would forge whiteouts). */
struct layerdiff_tar;
/* out is borrowed and must stay open while t is used. 0 or -ENOMEM. */
int layerdiff_tar_new(struct archive *out, int flags, struct layerdiff_tar **ret);
void layerdiff_tar_set_owner(struct layerdiff_tar *t, uid_t uid, gid_t gid);
/* Write the node dirfd/name (not followed when a symlink; name "." for dirfd itself) as
 * tarname, and with recursive, everything below it as tarname/... When tarname is "" the
 * node itself is not written, only its children (named without a prefix); that needs a
 * directory. Directories deeper than LAYERDIFF_MAX_DEPTH give -ELOOP. */
#define LAYERDIFF_MAX_DEPTH 512
int layerdiff_tar_add(struct layerdiff_tar *t, int dirfd, const char *name, const char *tarname,
		      int recursive, struct berr **err);
/* Called with the tar name of every node below the first before it is read; a result >= 0
 * is a directory fd (still owned by the callback's owner) and *ret_name a name in it (both
 * valid until the walk ends) to read in the node's place: cp uses it to show a container's
 * bind mounts. */
typedef int (*layerdiff_redirect_fn)(void *opaque, const char *tarname, const char **ret_name);
void layerdiff_tar_set_redirect(struct layerdiff_tar *t, layerdiff_redirect_fn fn, void *opaque);
void layerdiff_tar_stats(const struct layerdiff_tar *t, struct layerdiff_stats *ret);
void layerdiff_tar_free(struct layerdiff_tar *t);

/* ---- layers ---- */

/* Write the changeset of the overlay upper dir upperfd into out, a tar writer the caller
 * opened (pax_restricted recommended; with bytes_in_last_block 1 an empty diff is 1024 zero
 * bytes, Docker's empty layer): every node below the root, sorted, with
 *  - a character device 0/0 (a whiteout)    -> "dir/.wh.<name>", regular, mode 0600, empty;
 *  - a directory with trusted.overlay.opaque="y" -> the directory, then "dir/.wh..wh..opq";
 *  - hard links within the upper dir        -> tar hard links;
 * the root directory itself is not written (a layer does not change "/"). The caller closes
 * out (archive_write_close) to write the end marker. ret may be NULL. Errors: -EOPNOTSUPP for
 * redirect/metacopy xattrs, -ELOOP past LAYERDIFF_MAX_DEPTH, read errors, or the archive's
 * write error (-EPIPE when the reader went away). */
int layerdiff_write(int upperfd, struct archive *out, struct layerdiff_stats *ret,
		    struct berr **err);

/* ---- docker diff ---- */

enum layerdiff_kind {
	LAYERDIFF_CHANGED = 'C',
	LAYERDIFF_ADDED = 'A',
	LAYERDIFF_DELETED = 'D',
};

struct layerdiff_change {
	enum layerdiff_kind kind;
	char *path; /* absolute: "/etc/passwd" */
};

/* What `docker diff` reports for a container whose upper dir is upperfd and whose image
 * layers are lowerfds (overlay lowerdirs, TOP FIRST; n may be 0 for FROM scratch), compared
 * the way Docker's naive differ compares the container's and the image's trees:
 *  - A: the path is not in the image (every node below an added directory is A too);
 *  - D: the path was deleted (a whiteout; for an opaque directory, each image entry in it
 *    that the container did not recreate); nodes below a deleted directory are not listed;
 *  - C: the node differs from the image's (type, mode, owner, device number,
 *    security.capability; for non-directories also size or mtime seconds), or it is a
 *    directory with a change below it (Docker's rule, so every change shows its parents).
 * A node only copied up (e.g. opened for writing, left unchanged) is not reported. The result
 * is sorted like a tree walk (a directory, then its entries by name) and is the caller's
 * (layerdiff_changes_free). Lower layers are read with whiteouts and opaque dirs honoured and
 * without following any symlink. */
int layerdiff_changes(int upperfd, const int *lowerfds, size_t nlower,
		      struct layerdiff_change **ret, size_t *ret_n, struct berr **err);
void layerdiff_changes_free(struct layerdiff_change *c, size_t n);

/* The image's node at path ("/a/b" or "a/b"; "" or "/" is the top layer's root) in the
 * layers lowerfds (TOP FIRST, n > 0), as the overlay shows it, without following a symlink:
 * 1 and *ret its lstat, 0 when the image does not have it (missing, whited out, below a
 * non-directory or hidden by an opaque directory). */
int layerdiff_image_stat(const int *lowerfds, size_t n, const char *path, struct stat *ret);

#endif
