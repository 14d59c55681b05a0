/* Layer tar -> directory; see unpack.h for what is converted and refused, and
 * docs/internals/STORE.md for why it is built this way. */
#include "unpack.h"

#include <archive.h>
#include <archive_entry.h>

#include "cleanup.h"
#include "fs.h"
#include "strv.h"

#ifdef BERTH_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "banned.h"

#define UNPACK_BUF (128 * 1024)

/* What archive_write_disk restores. Not FFLAGS: an immutable or append-only flag from a
 * layer would make the layer impossible to remove. Not ACL: Docker does not restore them
 * either. Not UNLINK: with it libarchive silently replaces a symlink in the middle of a
 * path by a directory instead of refusing the entry. Not SPARSE: it makes libarchive
 * write every file in st_blksize pieces (one write(2) per 4 KiB: 50 000 calls for a
 * 200 MB file) to look for runs of zeros; the holes of sparse tar entries (their map)
 * stay holes without it, since their data blocks come with offsets. */
#define UNPACK_DISK_FLAGS                                                                          \
	(ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |                     \
	 ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_SYMLINKS |                                 \
	 ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS)

struct unpack_run {
	int fd;
	int dirfd;
	const struct unpack_opts *opts;
	struct unpack_stats stats;
	struct archive *outer; /* fd -> decompressed bytes (format "raw") */
	struct archive *inner; /* decompressed bytes -> tar entries */
	int outer_eof;
	/* The first failure of a tap or of the fd, which libarchive only sees as -1. */
	struct berr *cb_err;
	struct berr *err; /* the result, from the worker thread */
	int ret;
	/* The first read, done before libarchive is set up (to pick the decompressor), that
	 * raw_read hands out again. */
	int peek_pending;
	size_t peek_len;
#ifdef BERTH_HAVE_ISAL
	/* gzip goes through ISA-L's inflate (several times zlib's speed) instead of
	 * libarchive's filter; outer stays NULL then. */
	int igzip;
	int raw_eof;
	struct inflate_state inf;
#endif
	const unsigned char *raw; /* the last piece of input: in raw_buf, or the source's */
	unsigned char raw_buf[UNPACK_BUF];
	unsigned char tar_buf[UNPACK_BUF];
};

const char *unpack_media_type(enum unpack_compression c)
{
	switch (c) {
	case UNPACK_GZIP:
		return "application/vnd.oci.image.layer.v1.tar+gzip";
	case UNPACK_ZSTD:
		return "application/vnd.oci.image.layer.v1.tar+zstd";
	/* Neither the OCI spec nor Docker names these two; the suffix says what it is. */
	case UNPACK_BZIP2:
		return "application/vnd.oci.image.layer.v1.tar+bzip2";
	case UNPACK_XZ:
		return "application/vnd.oci.image.layer.v1.tar+xz";
	case UNPACK_NONE:
	default:
		return "application/vnd.oci.image.layer.v1.tar";
	}
}

/* ---- reading: fd -> outer -> inner ---- */

/* The next piece of the input (read from the fd into raw_buf, or where the source has it)
 * at u->raw, through the raw tap: its length, 0 at the end, or -errno with u->cb_err set. */
static ssize_t read_raw(struct unpack_run *u)
{
	ssize_t n;
	if (u->opts->source) {
		const void *p = NULL;
		n = u->opts->source(u->opts->source_opaque, &p, &u->cb_err);
		if (n < 0)
			return u->cb_err ? n : berr_set(&u->cb_err, (int)-n, "read layer");
		u->raw = n ? p : u->raw_buf;
	} else {
		do
			n = read(u->fd, u->raw_buf, sizeof(u->raw_buf));
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return berr_errno(&u->cb_err, errno, "read layer");
		u->raw = u->raw_buf;
	}
	if (n > 0 && u->opts->raw_tap) {
		int r = u->opts->raw_tap(u->opts->opaque, u->raw, (size_t)n, &u->cb_err);
		if (r < 0)
			return u->cb_err ? r : berr_set(&u->cb_err, EIO, "tap failed");
	}
	u->stats.raw_bytes += (uint64_t)n;
	return n;
}

static la_ssize_t raw_read(struct archive *a, void *opaque, const void **buf)
{
	struct unpack_run *u = opaque;
	ssize_t n;
	if (u->peek_pending) {
		u->peek_pending = 0;
		n = (ssize_t)u->peek_len;
	} else if ((n = read_raw(u)) < 0) {
		archive_set_error(a, (int)-n, "%s", u->cb_err ? u->cb_err->msg : "read layer");
		return -1;
	}
	*buf = u->raw;
	return n;
}

#ifdef BERTH_HAVE_ISAL
/* Refill the inflate input when it is used up; 0 or -errno. */
static int igzip_fill(struct unpack_run *u)
{
	if (u->inf.avail_in || u->raw_eof)
		return 0;
	ssize_t n = read_raw(u);
	if (n < 0)
		return (int)n;
	u->raw_eof = n == 0;
	/* inflate reads next_in and never writes it. */
	u->inf.next_in = (uint8_t *)u->raw;
	u->inf.avail_in = (uint32_t)n;
	return 0;
}

/* The next decompressed piece into tar_buf: its length, 0 at the end, or -errno with
 * u->cb_err set. Members follow one another (concatenated gzip, as gzip(1) and Go read
 * it); what follows the last one unless it starts like a member is left to drain(), as
 * libarchive's filter does. The CRC and length of each member are checked. */
static ssize_t igzip_read(struct unpack_run *u)
{
	for (;;) {
		int r;
		if (u->inf.block_state == ISAL_BLOCK_FINISH) {
			if ((r = igzip_fill(u)) < 0)
				return r;
			if (!u->inf.avail_in || u->inf.next_in[0] != 0x1f)
				return 0;
			uint8_t *next = u->inf.next_in;
			uint32_t avail = u->inf.avail_in;
			isal_inflate_reset(&u->inf);
			u->inf.crc_flag = ISAL_GZIP;
			u->inf.next_in = next;
			u->inf.avail_in = avail;
		}
		if ((r = igzip_fill(u)) < 0)
			return r;
		u->inf.next_out = u->tar_buf;
		u->inf.avail_out = sizeof(u->tar_buf);
		r = isal_inflate(&u->inf);
		if (r < 0)
			return berr_set(&u->cb_err, EINVAL, "decompress layer: %s",
					r == ISAL_INCORRECT_CHECKSUM ? "gzip checksum mismatch"
								     : "invalid gzip data");
		size_t got = sizeof(u->tar_buf) - u->inf.avail_out;
		if (got)
			return (ssize_t)got;
		if (u->inf.block_state != ISAL_BLOCK_FINISH && u->raw_eof && !u->inf.avail_in)
			return berr_set(&u->cb_err, EINVAL,
					"decompress layer: truncated gzip input");
	}
}
#endif

/* The next piece of the decompressed stream into tar_buf: its length, 0 at the end, or
 * -errno with u->cb_err set. */
static ssize_t pull_tar(struct unpack_run *u)
{
	if (u->outer_eof)
		return 0;
	la_ssize_t n;
#ifdef BERTH_HAVE_ISAL
	if (u->igzip) {
		if ((n = igzip_read(u)) < 0)
			return n;
	} else
#endif
	    if ((n = archive_read_data(u->outer, u->tar_buf, sizeof(u->tar_buf))) < 0) {
		if (!u->cb_err)
			berr_set(&u->cb_err, EINVAL, "decompress layer: %s",
				 archive_error_string(u->outer) ? archive_error_string(u->outer)
								: "unknown error");
		return -u->cb_err->code;
	}
	if (n == 0) {
		u->outer_eof = 1;
		return 0;
	}
	if (u->opts->tar_tap) {
		int r = u->opts->tar_tap(u->opts->opaque, u->tar_buf, (size_t)n, &u->cb_err);
		if (r < 0)
			return r;
	}
	u->stats.tar_bytes += (uint64_t)n;
	return n;
}

static la_ssize_t tar_read(struct archive *a, void *opaque, const void **buf)
{
	struct unpack_run *u = opaque;
	ssize_t n = pull_tar(u);
	if (n < 0) {
		archive_set_error(a, (int)-n, "%s", u->cb_err ? u->cb_err->msg : "read failed");
		return -1;
	}
	*buf = u->tar_buf;
	return n;
}

static int open_outer(struct unpack_run *u, struct berr **err)
{
#ifdef BERTH_HAVE_ISAL
	ssize_t n = read_raw(u);
	if (n < 0) {
		*err = TAKE_PTR(u->cb_err);
		return (int)n;
	}
	if (n == 0) { /* no bytes at all: an empty layer */
		u->outer_eof = 1;
		u->raw_eof = 1;
		return 0;
	}
	if (n >= 2 && u->raw[0] == 0x1f && u->raw[1] == 0x8b) {
		u->igzip = 1;
		u->stats.compression = UNPACK_GZIP;
		isal_inflate_init(&u->inf);
		u->inf.crc_flag = ISAL_GZIP;
		u->inf.next_in = (uint8_t *)u->raw;
		u->inf.avail_in = (uint32_t)n;
		return 0;
	}
	u->peek_pending = 1;
	u->peek_len = (size_t)n;
#endif
	u->outer = archive_read_new();
	if (!u->outer)
		return berr_set(err, ENOMEM, "out of memory");
	/* The compressions Docker accepts for layers, and no more: archive_read_support_
	 * filter_all() would add uu, rpm and filters that libarchive runs as external
	 * programs (lrzip, lzop, grzip), which hostile input has no business starting. A
	 * filter whose library is missing falls back to an external program too (WARN): the
	 * five below are all linked into Debian's libarchive. */
	archive_read_support_filter_gzip(u->outer);
	archive_read_support_filter_bzip2(u->outer);
	archive_read_support_filter_xz(u->outer);
	archive_read_support_filter_zstd(u->outer);
	archive_read_support_format_raw(u->outer);
	archive_read_support_format_empty(u->outer);
	if (archive_read_open(u->outer, u, NULL, raw_read, NULL) != ARCHIVE_OK)
		goto fail;
	struct archive_entry *e;
	int r = archive_read_next_header(u->outer, &e);
	if (r == ARCHIVE_EOF) {
		u->outer_eof = 1; /* no bytes at all: an empty layer */
	} else if (r != ARCHIVE_OK) {
		goto fail;
	}
	switch (archive_filter_code(u->outer, 0)) {
	case ARCHIVE_FILTER_GZIP:
		u->stats.compression = UNPACK_GZIP;
		break;
	case ARCHIVE_FILTER_BZIP2:
		u->stats.compression = UNPACK_BZIP2;
		break;
	case ARCHIVE_FILTER_XZ:
		u->stats.compression = UNPACK_XZ;
		break;
	case ARCHIVE_FILTER_ZSTD:
		u->stats.compression = UNPACK_ZSTD;
		break;
	default:
		u->stats.compression = UNPACK_NONE;
	}
	return 0;
fail:
	if (u->cb_err) {
		*err = u->cb_err;
		u->cb_err = NULL;
		return -(*err)->code;
	}
	return berr_set(err, EINVAL, "read layer: %s",
			archive_error_string(u->outer) ? archive_error_string(u->outer)
						       : "unknown error");
}

/* Read what is left of both streams, so that the taps see every byte (tar padding after
 * the end marker, data after the compressed stream). */
static int drain(struct unpack_run *u, struct berr **err)
{
	ssize_t n;
	while ((n = pull_tar(u)) > 0)
		;
	if (n == 0) {
		u->peek_pending = 0; /* read and tapped already */
		while ((n = read_raw(u)) > 0)
			;
	}
	if (n < 0) {
		*err = u->cb_err;
		u->cb_err = NULL;
		return *err ? -(*err)->code : -EIO;
	}
	return 0;
}

/* ---- checking entries ---- */

/* Clean an archive path: drop empty and "." components; refuse absolute paths and "..".
 * The result ("" for the root) is the caller's. */
static int clean_path(const char *name, char **ret)
{
	if (name[0] == '/')
		return -EPERM;
	size_t len = strlen(name);
	char *out = malloc(len + 1);
	if (!out)
		return -ENOMEM;
	size_t o = 0;
	const char *p = name;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			free(out);
			return -EPERM;
		}
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = *end ? end + 1 : end;
	}
	out[o] = '\0';
	*ret = out;
	return 0;
}

static int openat2_beneath(int dirfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_XDEV,
	};
	int fd;
	do
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return fd < 0 ? -errno : fd;
}

/* The directory that would hold path (clean, relative) must be reached without a symlink.
 * A missing directory is fine: it will be made (as a real directory). */
static int check_parent(int dirfd, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return 0;
	_cleanup_free_ char *parent = strndup(path, (size_t)(slash - path));
	if (!parent)
		return -ENOMEM;
	int fd = openat2_beneath(dirfd, parent, O_PATH);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (fd == -ELOOP || fd == -EXDEV)
		return -EPERM;
	return 0; /* ENOENT, ENOTDIR: libarchive makes or refuses the directory */
}

static int is_overlay_xattr(const char *name)
{
	return strncmp(name, "trusted.overlay.", 16) == 0 || strncmp(name, "user.overlay.", 13) == 0;
}

struct xattr_copy {
	char *name;
	void *value;
	size_t size;
};

/* Drop the overlayfs xattrs an archive carries. */
static int strip_overlay_xattrs(struct archive_entry *e)
{
	int n = archive_entry_xattr_reset(e);
	if (n <= 0)
		return 0;
	struct xattr_copy *keep = calloc((size_t)n, sizeof(*keep));
	if (!keep)
		return -ENOMEM;
	int k = 0, dropped = 0, ret = 0;
	const char *name;
	const void *value;
	size_t size;
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK && k < n) {
		if (!name || is_overlay_xattr(name)) {
			dropped = 1;
			continue;
		}
		keep[k].name = strdup(name);
		keep[k].value = malloc(size ? size : 1);
		keep[k].size = size;
		if (!keep[k].name || !keep[k].value) {
			free(keep[k].name);
			free(keep[k].value);
			ret = -ENOMEM;
			break;
		}
		memcpy(keep[k].value, value, size);
		k++;
	}
	if (ret == 0 && dropped) {
		archive_entry_xattr_clear(e);
		for (int i = 0; i < k; i++)
			archive_entry_xattr_add_entry(e, keep[i].name, keep[i].value, keep[i].size);
	}
	for (int i = 0; i < k; i++) {
		free(keep[i].name);
		free(keep[i].value);
	}
	free(keep);
	return ret;
}

/* Make (when missing) the directory path below dirfd, one component at a time and never
 * through a symlink; returns an O_RDONLY fd of it. */
static int mkdir_beneath(int dirfd, const char *path)
{
	int cur = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return -errno;
	_cleanup_free_ char *copy = strdup(path);
	if (!copy) {
		close(cur);
		return -ENOMEM;
	}
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
			int e = -errno;
			close(cur);
			return e;
		}
		int next = openat2_beneath(cur, c, O_RDONLY | O_DIRECTORY);
		close(cur);
		if (next < 0)
			return next == -ELOOP ? -EPERM : next;
		cur = next;
	}
	return cur;
}

static int set_opaque(int dirfd, const char *dir, struct berr **err)
{
	int fd = mkdir_beneath(dirfd, dir);
	if (fd == -EPERM)
		return berr_set(err, EPERM, "entry '%s/.wh..wh..opq': path goes through a symlink",
				dir);
	if (fd < 0)
		return berr_errno(err, fd, "entry '%s/.wh..wh..opq': open directory", dir);
	int r = fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0);
	int e = errno;
	close(fd);
	if (r < 0)
		return berr_errno(err, e, "entry '%s/.wh..wh..opq': mark directory opaque", dir);
	return 0;
}

/* ---- writing ---- */

static int disk_error(struct archive *disk, const char *what, const char *path,
		      struct berr **err)
{
	int e = archive_errno(disk);
	/* libarchive reports its security refusals with ARCHIVE_ERRNO_MISC (-1) or ELOOP. */
	if (e <= 0 || e == ELOOP)
		e = EPERM;
	return berr_set(err, e, "entry '%s': %s: %s", path, what,
			archive_error_string(disk) ? archive_error_string(disk) : "failed");
}

/* One entry, path already cleaned into clean. Sets *skip for entries that carry no file. */
static int prepare_entry(struct unpack_run *u, struct archive_entry *e, const char *clean,
			 struct strv *opaque, int *skip, struct berr **err)
{
	const char *slash = strrchr(clean, '/');
	const char *base = slash ? slash + 1 : clean;
	size_t dirlen = slash ? (size_t)(slash - clean) : 0;
	int r;
	*skip = 0;

	if (strncmp(base, ".wh.", 4) == 0) {
		if (streq(base, ".wh..wh..opq")) {
			_cleanup_free_ char *dir = strndup(clean, dirlen);
			if (!dir || strv_push(opaque, dir) < 0)
				return berr_set(err, ENOMEM, "out of memory");
			*skip = 1;
			return 0;
		}
		if (strncmp(base, ".wh..wh.", 8) == 0) {
			*skip = 1; /* other AUFS metadata: meaningless here */
			return 0;
		}
		const char *name = base + 4;
		if (!*name || streq(name, ".") || streq(name, ".."))
			return berr_set(err, EPERM, "entry '%s': invalid whiteout", clean);
		_cleanup_free_ char *target = NULL;
		if (asprintf(&target, "%.*s%s%s", (int)dirlen, clean, slash ? "/" : "", name) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		archive_entry_set_pathname(e, target);
		archive_entry_set_hardlink(e, NULL);
		archive_entry_set_symlink(e, NULL);
		archive_entry_set_filetype(e, AE_IFCHR);
		archive_entry_set_perm(e, 0);
		archive_entry_set_rdev(e, 0);
		archive_entry_set_size(e, 0);
		archive_entry_xattr_clear(e);
		r = check_parent(u->dirfd, target);
		if (r < 0)
			return berr_set(err, -r, "entry '%s': path goes through a symlink", clean);
		return 0;
	}

	archive_entry_set_pathname(e, clean[0] ? clean : ".");
	r = check_parent(u->dirfd, clean);
	if (r < 0)
		return berr_set(err, -r, "entry '%s': path goes through a symlink", clean);

	const char *link = archive_entry_hardlink(e);
	if (link) {
		_cleanup_free_ char *clink = NULL;
		r = clean_path(link, &clink);
		if (r == -EPERM)
			return berr_set(err, EPERM, "entry '%s': hard link to '%.200s' leaves the layer",
					clean, link);
		if (r < 0)
			return berr_set(err, -r, "out of memory");
		if (!clink[0])
			return berr_set(err, EPERM, "entry '%s': hard link to the layer's root", clean);
		r = check_parent(u->dirfd, clink);
		if (r < 0)
			return berr_set(err, EPERM, "entry '%s': hard link to '%.200s' goes through a symlink",
					clean, link);
		archive_entry_set_hardlink(e, clink);
	}
	r = strip_overlay_xattrs(e);
	if (r < 0)
		return berr_set(err, -r, "out of memory");
	return 0;
}

static int read_fail_entry(struct unpack_run *u, const char *path, struct berr **err);

/* A big file's disk writes start while it is still being written (fs_writeback_queue):
 * libarchive keeps its fd to itself, so a second one, opened once the file is that big.
 * The unpacking thread's working directory is the layer's (its own: CLONE_FS). */
struct writeback {
	int fd;
	uint64_t size; /* the entry's */
	uint64_t written, flushed;
	int holes; /* a sparse entry, or a block came at another offset than expected */
};

static void writeback_add(struct writeback *wb, const char *path, int64_t off, size_t n)
{
	if (off < 0 || (uint64_t)off != wb->written)
		wb->holes = 1;
	wb->written = (uint64_t)off + n;
	if (wb->written - wb->flushed < FS_WRITEBACK_EVERY)
		return;
	if (wb->fd == -1) {
		/* Writable for fallocate; a file whose mode does not let us is still flushed. */
		wb->fd = openat(AT_FDCWD, path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (wb->fd < 0 && errno == EACCES)
			wb->fd =
			    openat(AT_FDCWD, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat st;
		if (wb->fd >= 0 && (fstat(wb->fd, &st) < 0 || !S_ISREG(st.st_mode))) {
			close(wb->fd);
			wb->fd = -1;
		}
		if (wb->fd < 0) {
			wb->fd = -2; /* not again for this file */
			return;
		}
		/* The rest of a file without holes gets its disk space at once (the file's
		 * length stays): the page cache then maps blocks that exist instead of
		 * reserving each 4 KiB as it comes, a third of the cost of the writes. Not for
		 * a sparse entry (libarchive gives its map), whose holes would take space. */
		if (!wb->holes && wb->size > wb->written)
			(void)fallocate(wb->fd, FALLOC_FL_KEEP_SIZE, (off_t)wb->written,
					(off_t)(wb->size - wb->written));
	}
	if (wb->fd >= 0)
		fs_writeback_queue(wb->fd, &wb->flushed, wb->written);
}

static int copy_data(struct unpack_run *u, struct archive *disk, const char *path,
		     int64_t entry_size, int sparse, struct berr **err)
{
	struct writeback wb = {.fd = -1, .size = entry_size > 0 ? (uint64_t)entry_size : 0};
	if (sparse)
		wb.holes = 1;
	int ret = 0;
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t off;
		int r = archive_read_data_block(u->inner, &buf, &size, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			ret = read_fail_entry(u, path, err);
			break;
		}
		if (size > 0 && archive_write_data_block(disk, buf, size, off) < ARCHIVE_OK) {
			ret = disk_error(disk, "write", path, err);
			break;
		}
		writeback_add(&wb, path, off, size);
	}
	if (wb.fd >= 0)
		close(wb.fd);
	return ret;
}

static int read_fail_entry(struct unpack_run *u, const char *path, struct berr **err)
{
	if (u->cb_err) {
		*err = u->cb_err;
		u->cb_err = NULL;
		return berr_wrap(err, "entry '%s'", path);
	}
	return berr_set(err, EINVAL, "entry '%s': %s", path,
			archive_error_string(u->inner) ? archive_error_string(u->inner) : "read failed");
}

static int read_fail(struct unpack_run *u, struct berr **err)
{
	if (u->cb_err) {
		*err = u->cb_err;
		u->cb_err = NULL;
		return -(*err)->code;
	}
	return berr_set(err, EINVAL, "read tar: %s",
			archive_error_string(u->inner) ? archive_error_string(u->inner)
						       : "not a tar archive");
}

static int extract(struct unpack_run *u, struct berr **err)
{
	_cleanup_archive_write_ struct archive *disk = archive_write_disk_new();
	_cleanup_strv_ struct strv opaque = STRV_INIT;
	if (!disk)
		return berr_set(err, ENOMEM, "out of memory");
	/* No archive_write_disk_set_standard_lookup(): owners are the numeric ids of the
	 * tar headers, as in Docker, never names looked up in the host's passwd. */
	archive_write_disk_set_options(disk, UNPACK_DISK_FLAGS);
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(u->inner, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN || r == ARCHIVE_RETRY)
			return read_fail(u, err);
		u->stats.entries++;
		const char *name = archive_entry_pathname(e);
		if (!name || !*name)
			return berr_set(err, EINVAL, "read tar: entry %llu has no name",
					(unsigned long long)u->stats.entries);
		_cleanup_free_ char *clean = NULL;
		r = clean_path(name, &clean);
		if (r == -EPERM)
			return berr_set(err, EPERM, "entry '%.300s': %s", name,
					name[0] == '/' ? "absolute path" : "path contains '..'");
		if (r < 0)
			return berr_set(err, -r, "out of memory");
		int skip;
		r = prepare_entry(u, e, clean, &opaque, &skip, err);
		if (r < 0)
			return r;
		if (skip)
			continue;
		const char *path = archive_entry_pathname(e);
		r = archive_write_header(disk, e);
		if (r < ARCHIVE_WARN)
			return disk_error(disk, "create", path, err);
		if (archive_entry_size(e) > 0) {
			r = copy_data(u, disk, path, archive_entry_size(e),
				      archive_entry_sparse_count(e) > 0, err);
			if (r < 0)
				return r;
		}
		r = archive_write_finish_entry(disk);
		if (r < ARCHIVE_WARN)
			return disk_error(disk, "finish", path, err);
	}
	for (size_t i = 0; i < opaque.n; i++) {
		int r = set_opaque(u->dirfd, opaque.v[i], err);
		if (r < 0)
			return r;
	}
	/* Directory modes and times are set here, after their contents. */
	if (archive_write_close(disk) < ARCHIVE_WARN)
		return disk_error(disk, "close", ".", err);
	return 0;
}

static int run(struct unpack_run *u, struct berr **err)
{
	int r = open_outer(u, err);
	if (r < 0)
		return r;
	if (!u->opts->no_extract) {
		u->inner = archive_read_new();
		if (!u->inner)
			return berr_set(err, ENOMEM, "out of memory");
		archive_read_support_format_tar(u->inner);
		archive_read_support_format_empty(u->inner);
		if (archive_read_open(u->inner, u, NULL, tar_read, NULL) != ARCHIVE_OK)
			return read_fail(u, err);
		r = extract(u, err);
		if (r < 0)
			return r;
	}
	return drain(u, err);
}

static void *worker(void *arg)
{
	struct unpack_run *u = arg;
	/* A private cwd and umask for this thread only (unshare(2): CLONE_FS). */
	if (unshare(CLONE_FS) < 0) {
		u->ret = berr_errno(&u->err, errno, "unpack: unshare(CLONE_FS)");
		return NULL;
	}
	if (fchdir(u->dirfd) < 0) {
		u->ret = berr_errno(&u->err, errno, "unpack: enter layer directory");
		return NULL;
	}
	umask(0);
	u->ret = run(u, &u->err);
	return NULL;
}

int unpack_layer(int fd, int dirfd, const struct unpack_opts *opts, struct unpack_stats *ret,
		 struct berr **err)
{
	static const struct unpack_opts none = {0};
	struct unpack_run *u = calloc(1, sizeof(*u));
	if (!u)
		return berr_set(err, ENOMEM, "out of memory");
	u->fd = fd;
	u->dirfd = dirfd;
	u->opts = opts ? opts : &none;
	int r;
	if (u->opts->no_extract) {
		u->ret = run(u, &u->err);
	} else {
		pthread_t t;
		r = pthread_create(&t, NULL, worker, u);
		if (r != 0) {
			u->ret = berr_errno(&u->err, r, "unpack: start thread");
		} else {
			pthread_join(t, NULL);
		}
	}
	if (u->inner)
		archive_read_free(u->inner);
	if (u->outer)
		archive_read_free(u->outer);
	r = u->ret;
	if (r < 0) {
		if (err && !*err)
			*err = TAKE_PTR(u->err);
		if (!u->err && (!err || !*err))
			r = berr_set(err, EIO, "unpack failed");
	} else if (ret) {
		*ret = u->stats;
	}
	berr_free(u->err);
	berr_free(u->cb_err);
	free(u);
	return r;
}
