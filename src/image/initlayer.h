/* A container's init layer: the mount points the runtime needs and the image lacks, made
 * once at create time in a directory that becomes the container's top lower dir, so that
 * the runtime finds them and never writes them into the upper dir (Docker's "-init" layer).
 * commit, diff and the upper dir's size then show only what the container itself changed.
 * See docs/internals/COMMIT.md. */
#ifndef BERTH_IMAGE_INITLAYER_H
#define BERTH_IMAGE_INITLAYER_H

#include <stddef.h>

#include "err.h"

struct initlayer_path {
	const char *path; /* absolute, in the container */
	int is_file;	  /* the mount point is a file (a bind of a file), else a directory */
};

/* Make directory name in dirfd (it must not exist) and in it each path that the image
 * (lowerfds, TOP FIRST, nlower > 0) does not have: missing parents as directories, each
 * with the image's mode, owner and times where the image has that directory (the top lower
 * dir decides them in the overlay), and the path itself as an empty file (0644) or
 * directory (0755), owned by root. A path the image already has, or that goes through
 * something in the image that is not a directory (a symlink: the runtime resolves it in the
 * container), is left to the runtime. *ret_made: the number of paths made; with 0 the
 * directory is removed again and the container needs no init layer. */
int initlayer_make(int dirfd, const char *name, const int *lowerfds, size_t nlower,
		   const struct initlayer_path *paths, size_t n, size_t *ret_made,
		   struct berr **err);

#endif
