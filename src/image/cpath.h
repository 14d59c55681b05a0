/* `docker cp` paths: copying between a container's file system and the host, with Docker's
 * rules for sources and destinations, and resolution that never leaves the container.
 *
 * The container side is a root directory fd (the merged overlay mount, or a plain rootfs
 * directory) plus the container's bind mounts, given as (container path -> host directory)
 * pairs because the host's view of the root does not have them. Every container path is
 * resolved component by component under that fd:
 *  - each step opens one name with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) and
 *    O_NOFOLLOW relative to the directory fd of the previous step (fs_open_in_root);
 *  - symlinks are read and followed by this code, an absolute target restarting at the
 *    container's root, ".." popping a directory this code itself opened (never the kernel's
 *    ".."), so ".." at the root stays at the root;
 *  - when the path so far equals a mount's container path, the walk continues in the
 *    mount's host directory, with the same rules (a symlink in it to "/x" means the
 *    container's /x, and ".." out of the mount's root goes back to the container directory
 *    holding the mount point); a mounted file (/etc/hosts) is the node itself. Neither can
 *    be replaced by a copy (-EBUSY); copies out of the container show their contents;
 *  - at most 40 symlinks per path (-ELOOP), as the kernel allows.
 * A symlink swapped while a copy runs can therefore only lead somewhere else inside the
 * container (CVE-2018-15664 was a daemon following such a symlink on the host). Nothing is
 * ever executed or loaded from the container, and owners stay numeric: no passwd or NSS
 * lookup happens (CVE-2019-14271 was docker-tar loading the container's libnss).
 *
 * The tar streams are the ones `docker cp` reads and writes: entries named by the source's
 * base name, pax format, hard links within the stream. The host side is trusted: host paths
 * are resolved by the kernel. Files copied out are extracted under the host destination
 * directory with the same in-root resolution (an entry can not leave it).
 *
 * Docker's rules (docs of `docker cp`), which hold both ways:
 *  - SRC a file: DEST missing -> created as that file; DEST missing with a trailing "/" ->
 *    "no such directory"; DEST an existing file -> overwritten; DEST a directory -> the file
 *    is copied into it under SRC's base name;
 *  - SRC a directory: DEST missing -> created with SRC's contents; DEST an existing file ->
 *    "cannot copy directory"; DEST a directory -> SRC copied into it, or with SRC ending in
 *    "/." its contents;
 *  - SRC with a trailing "/" that is not a directory -> "not a directory"; DEST's parent
 *    must exist; a symlink as DEST is followed, as SRC only with -L (or a trailing "/").
 * Copy in (to the container) makes the files owned by the container's root (0:0), copy out
 * by the calling user; with -a both keep the source's owners. Extraction never replaces a
 * directory by a non-directory or the reverse ("cannot overwrite directory \"/x\" with
 * non-directory \"/y\""). A read-only root file system or mount refuses copy in ("container
 * rootfs is marked read-only", "mounted volume is marked read-only").
 *
 * All functions return 0 or -errno with *err set; messages use Docker's wording and
 * container paths, never the host paths of the container's files.
 */
#ifndef BERTH_IMAGE_CPATH_H
#define BERTH_IMAGE_CPATH_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "err.h"

/* Longest path accepted (bytes, without the NUL); longer: -ENAMETOOLONG. */
#define CPATH_MAX 4095
/* Symlinks followed in one resolution before -ELOOP. */
#define CPATH_MAX_LINKS 40

struct cpath_mount {
	const char *dest;   /* absolute path in the container ("/data"); cleaned here */
	const char *source; /* host directory or file (resolved by the kernel) */
	int readonly;
};

struct cpath_root {
	int rootfd; /* the container's "/" (borrowed) */
	const struct cpath_mount *mounts;
	size_t nmounts;
	int readonly;	  /* the root file system is read only (--read-only) */
	const char *name; /* the container's name, for messages */
};

/* ---- pure path functions (no I/O) ---- */

/* Clean a container path: made absolute, "//", "." and ".." resolved lexically (".." of "/"
 * is "/"), and then Docker's trailing forms kept: a path ending in "/" keeps one "/", one
 * ending in "/." (or being ".") keeps "/.". "" is "/". *ret is the caller's. -ENAMETOOLONG
 * past CPATH_MAX. */
int cpath_clean(const char *path, char **ret);

/* Split a cleaned path like Docker's SplitPathDirEntry: "/a/b/" -> ("/a", "b"),
 * "/a/b/." -> ("/a/b", "."), "/a" -> ("/", "a"), "/" and "/." -> ("/", "."). Both results
 * are the caller's. */
int cpath_split(const char *clean, char **ret_dir, char **ret_base);

/* 1 when a cleaned path asks for a directory (ends in "/" or "/."), else 0. */
int cpath_asserts_dir(const char *clean);

/* ---- resolution ---- */

#define CPATH_FOLLOW 1 /* follow a symlink in the last component too */

struct cpath_loc {
	int parentfd;	/* O_PATH fd of the directory holding the node, or -1 for "/" or a
			 * mount's root or mounted file (which can not be replaced) */
	char *base;	/* the node's name in parentfd ("." when parentfd is -1) */
	int fd;		/* O_PATH fd of the node, -1 when it does not exist */
	struct stat st; /* the node's, when fd >= 0 */
	char *path;	/* the resolved absolute container path */
	int readonly;	/* on a read-only root file system or mount */
	int mount;	/* index of the mount the node lies in, -1 for the root file system */
};

/* Resolve path (any form; cleaned first) as described above. A missing last component is
 * not an error: fd is then -1 and parentfd the directory it would be created in. Errors:
 * -ENOENT / -ENOTDIR for a missing or non-directory component before the last, -ELOOP,
 * -ENAMETOOLONG. The fds and strings are the caller's: cpath_loc_clear(). */
int cpath_resolve(const struct cpath_root *root, const char *path, int flags, struct cpath_loc *ret,
		  struct berr **err);
void cpath_loc_clear(struct cpath_loc *l);

/* ---- copies ---- */

struct cpath_copy_opts {
	int follow;  /* -L: follow a symlink given as SRC */
	int archive; /* -a: keep the source's owners */
};

/* Copy host_src into the container at dst (docker cp HOST CONTAINER:DST). host_src "-"
 * reads a tar (plain, gzip, bzip2, xz or zstd) from in_fd and extracts it into dst, which
 * must be a directory. */
int cpath_copy_in(const struct cpath_root *root, const char *host_src, int in_fd, const char *dst,
		  const struct cpath_copy_opts *o, struct berr **err);

/* Copy src of the container to host_dst (docker cp CONTAINER:SRC HOST). host_dst "-"
 * writes the tar stream to out_fd instead (on error what was written is garbage). */
int cpath_copy_out(const struct cpath_root *root, const char *src, const char *host_dst, int out_fd,
		   const struct cpath_copy_opts *o, struct berr **err);

#endif
