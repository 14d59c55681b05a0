/* Unpacking a layer: a (possibly compressed) tar stream into a directory, in one pass, in
 * the form overlayfs wants for a lower layer.
 *
 * The input (an fd, or a source that hands over pieces in memory) is read once. Two taps see
 * the bytes on the way: raw_tap gets the input as read (for the compressed blob and its
 * digest), tar_tap gets the decompressed tar
 * (for the diff id and an uncompressed blob), including any padding after the tar's end
 * marker, so that both cover every byte.
 *
 * Compression, detected from the bytes: none, gzip, bzip2, xz, zstd (what Docker accepts
 * for layers); gzip through ISA-L's inflate when built with it (concatenated members are
 * one stream, every member's CRC and length are checked). Tar formats: ustar, pax, GNU
 * (long names, sparse files).
 *
 * Conversion on the way in (OCI image spec, "Whiteouts"):
 *   dir/.wh.<name>      -> dir/<name> as a character device 0/0, owner from the entry
 *   dir/.wh..wh..opq    -> xattr trusted.overlay.opaque="y" on dir
 *   dir/.wh..wh.<other> -> ignored
 * Extended attributes trusted.overlay.* and user.overlay.* that an archive carries are
 * dropped: they would let a layer forge whiteouts or redirects.
 *
 * Safety: entries with absolute names or ".." components, hard links whose target is
 * absolute, has "..", or lies behind a symlink, and entries whose parent path goes
 * through a symlink are refused with -EPERM and an error naming the entry. The checks are
 * done here first and again by libarchive's archive_write_disk (SECURE_SYMLINKS,
 * SECURE_NODOTDOT, SECURE_NOABSOLUTEPATHS). File flags (chattr) and ACLs are not restored.
 *
 * Threads: archive_write_disk works relative to the current directory, so extraction runs
 * in a helper thread that unshare(CLONE_FS)es and fchdir()s into dirfd; the caller's
 * working directory and umask are never touched, and unpack_layer() may run in several
 * threads at once.
 *
 * Privileges: owners, device nodes and trusted.* xattrs need root (CAP_CHOWN, CAP_MKNOD,
 * CAP_SYS_ADMIN); without them those entries fail.
 */
#ifndef BERTH_IMAGE_UNPACK_H
#define BERTH_IMAGE_UNPACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "err.h"

/* A tap gets each chunk of bytes in order; a negative return (with *err set) stops the
 * unpack with that error. */
typedef int (*unpack_tap_fn)(void *opaque, const void *data, size_t len, struct berr **err);

/* A source gives the next piece of the input: its length with *ret_data pointing at it
 * (valid until the next call), 0 at the end, or -errno with *err set. */
typedef ssize_t (*unpack_source_fn)(void *opaque, const void **ret_data, struct berr **err);

struct unpack_opts {
	unpack_tap_fn raw_tap; /* may be NULL */
	unpack_tap_fn tar_tap; /* may be NULL */
	void *opaque;          /* passed to both taps */
	/* Only read the input through the taps, checking the compression but extracting
	 * nothing (for a layer that is unpacked already); dirfd is not used. */
	int no_extract;
	/* Read the input from here instead of the fd (which is then not used): the pieces are
	 * decompressed where they are, without a copy. */
	unpack_source_fn source;
	void *source_opaque;
};

enum unpack_compression {
	UNPACK_NONE = 0,
	UNPACK_GZIP,
	UNPACK_BZIP2,
	UNPACK_XZ,
	UNPACK_ZSTD,
};

struct unpack_stats {
	enum unpack_compression compression; /* of the input */
	uint64_t raw_bytes;                  /* read from the fd or the source */
	uint64_t tar_bytes;                  /* after decompression */
	uint64_t entries;                    /* tar entries seen */
};

/* Read all of fd (or of opts->source) and unpack it into the directory dirfd (normally
 * empty). On failure the directory may hold part of the archive: the caller removes it.
 * Returns 0 or -errno: -EPERM for an entry that would escape dirfd, -EINVAL for data that
 * is not a (supported) tar, -EIO or the system's errno for read and write failures, or a
 * tap's or the source's error. ret may be NULL. */
int unpack_layer(int fd, int dirfd, const struct unpack_opts *opts, struct unpack_stats *ret,
		 struct berr **err);

/* Media type of an OCI layer with that compression (static string). */
const char *unpack_media_type(enum unpack_compression c);

#endif
