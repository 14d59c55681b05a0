/* `docker export`: a container's whole file system as one tar.
 *
 * Two sources give the same stream:
 *  - the container's merged overlay mount (or any root directory): export_rootfs();
 *  - its layer directories and upper dir, merged here the way overlayfs merges them, for a
 *    container whose overlay is not mounted: export_layers().
 * The stream is what Docker writes: pax tar, no entry for "/" itself, names relative
 * ("bin/", "etc/passwd"), each directory followed by its entries sorted by name, hard links
 * as tar links, numeric owners, whole-second times, extended attributes without overlay's
 * own (layerdiff.h's tar writer). Nothing is followed: symlinks are written as symlinks.
 * Both functions return 0 or -errno with *err set; on error what was written to out_fd is
 * garbage.
 */
#ifndef BERTH_IMAGE_EXPORT_H
#define BERTH_IMAGE_EXPORT_H

#include <stddef.h>
#include "err.h"

/* Write the tree under rootfd. Mount points below it are entered (a merged overlay seen
 * from the host has none; the container's own mounts live in its namespace). */
int export_rootfs(int rootfd, int out_fd, struct berr **err);

/* Write the union of the directories dirfds (TOP FIRST: the upper dir, then the image's
 * layers from the top): a name comes from the highest layer that has it; a whiteout
 * (character device 0/0) hides it and everything below; a non-directory hides directories
 * below it; a directory marked trusted.overlay.opaque="y" hides the same directory in the
 * layers below. Whiteouts and opaque markers never appear in the stream. */
int export_layers(const int *dirfds, size_t n, int out_fd, struct berr **err);

#endif
