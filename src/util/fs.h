/* File-system helpers relative to directory fds. All return 0 (or a count) on success and
 * -errno on failure; none prints. */
#ifndef BERTH_UTIL_FS_H
#define BERTH_UTIL_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* All of data to fd (write(2) again after a short write or EINTR; a non-blocking fd that
 * is full is waited for with poll(2)): 0 or -errno. */
int fs_write_all(int fd, const void *data, size_t len);
/* All of data to a socket, with send(2) and MSG_NOSIGNAL: a closed peer is -EPIPE, never
 * SIGPIPE. 0 or -errno. */
int fs_send_all(int fd, const void *data, size_t len);
/* The same at offset off (pwrite(2)). */
int fs_pwrite_all(int fd, const void *data, size_t len, off_t off);

/* name in the running executable's directory (/proc/self/exe), into buf: where a build tree
 * keeps berth's helper programs and libraries beside it. 0, readlink's -errno, or
 * -ENAMETOOLONG. Whether the file is there is the caller's question. */
int fs_beside_self(const char *name, char *buf, size_t len);

/* Write data to dirfd/name atomically: a temp file in the same directory, fsync, rename,
 * fsync of the directory. A reader sees the old content or the new, never a mix. */
int fs_write_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode);
/* fsync every fd, several at a time from helper threads: the disk's cache flushes of
 * concurrent fsyncs coalesce, so n files cost about one flush instead of n. 0, or the
 * first failure's -errno (all are still attempted). */
int fs_fsync_all(const int *fds, size_t n);

/* The same without the two fsyncs: still atomic for readers and across a kill -9 (a reader
 * sees the old content or the new), but a power loss may bring back the old content.
 * Only for records that a reboot makes moot anyway (a running container's pid). */
int fs_write_atomic_nosync_at(int dirfd, const char *name, const void *data, size_t len,
			      mode_t mode);

/* Replace dirfd/name atomically without allocating or freeing an inode: the data goes into
 * the spare file (made on first use), which renameat2(RENAME_EXCHANGE) swaps with name, so
 * the old content becomes the next spare. A reader sees the old content or the new; a
 * crash leaves name whole (only the spare may be torn). On this kind of ext4 without a
 * journal a file created right after others were deleted costs up to milliseconds (the
 * allocator skips recently freed inodes one by one); a record rewritten on every state
 * change then costs that each time. The spare is overwritten in place and cut to length,
 * not truncated first: that would free its blocks and allocate new ones, and ext4 starts
 * writing out a file truncated to zero as soon as it is closed (auto_da_alloc), which made
 * an unsynced write 10 times slower. Writers must exclude each other (one spare for all):
 * callers hold a lock. sync: fsync the file before and the directory after the swap. */
int fs_write_swap_at(int dirfd, const char *name, const char *spare, const void *data, size_t len,
		     mode_t mode, int sync);
/* The same in two steps, for a caller that fsyncs the spare side by side with other files
 * (fs_fsync_all) before the swap: fs_swap_fill() writes the spare and returns its fd,
 * unsynced; fs_swap_commit() swaps it into place and, with sync, fsyncs the directory. */
int fs_swap_fill(int dirfd, const char *spare, const void *data, size_t len, mode_t mode,
		 int *ret_fd);
int fs_swap_commit(int dirfd, const char *name, const char *spare, int sync);

/* Start the disk writes of what a long sequential write left dirty, every
 * FS_WRITEBACK_EVERY bytes (*flushed: the offset already handed over, size: written so far):
 * sync_file_range(SYNC_FILE_RANGE_WRITE), which only queues the pages. The final fsync then
 * finds little left to write, and the disk works while the data still arrives instead of
 * after it (a 200 MB pull writes 400 MB: its blob and its unpacked layer). */
#define FS_WRITEBACK_EVERY (8u << 20)
void fs_writeback_start(int fd, uint64_t *flushed, uint64_t size);
/* The same, done by a background thread (started on first use, one per process) so that the
 * caller never waits: sync_file_range() blocks while the device is busy (the block layer's
 * writeback throttling holds back background writes when reads wait: 75 ms here), and the
 * threads of a pull would wait there instead of working. The thread works on a duplicate of
 * fd, closed once done; when it cannot take more (16 ranges waiting) the caller does it. */
void fs_writeback_queue(int fd, uint64_t *flushed, uint64_t size);

/* Several files of one directory written atomically with one flush for all of them: each
 * is written to a temp file whose writeback starts at once (sync_file_range), then
 * fs_batch_commit() fsyncs them (the first fsync's journal commit carries the data of all:
 * about one flush instead of one per file), renames them in the order they were added (put
 * the file that makes the others count last: config.json), and fsyncs the directory
 * once. Each file is atomic as with fs_write_atomic_at(); the renames reach the disk in
 * order. fs_batch_abort() (also after a failed commit) removes the temp files left. */
#define FS_BATCH_MAX 8
struct fs_batch {
	int dirfd;
	size_t n;
	struct {
		int fd;
		char name[64];
		char tmp[96];
	} f[FS_BATCH_MAX];
};
void fs_batch_init(struct fs_batch *b, int dirfd);
/* -E2BIG past FS_BATCH_MAX files, -ENAMETOOLONG for a name of 64 bytes or more. */
int fs_batch_add(struct fs_batch *b, const char *name, const void *data, size_t len,
		 mode_t mode);
int fs_batch_commit(struct fs_batch *b);
void fs_batch_abort(struct fs_batch *b);

/* Read a whole file (at most max bytes; -EFBIG past it) into a fresh NUL-terminated
 * buffer owned by the caller. */
int fs_read_all_at(int dirfd, const char *name, size_t max, char **ret_data, size_t *ret_len);
/* Read all of an open fd. Same ownership and limit as above. */
int fs_read_fd(int fd, size_t max, char **ret_data, size_t *ret_len);

/* mkdir -p of path relative to dirfd (AT_FDCWD for cwd). */
int fs_mkdir_p_at(int dirfd, const char *path, mode_t mode);

/* rm -rf of dirfd/name; never follows symlinks and never crosses mount points.
 * A missing name is success. */
int fs_rm_rf_at(int dirfd, const char *name);

/* fsync a directory by path relative to dirfd. */
int fs_fsync_dir_at(int dirfd, const char *path);

/* Open path inside the tree rooted at rootfd as the kernel resolves it with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): "..", absolute symlinks and
 * absolute paths all stay inside rootfd. */
int fs_open_in_root(int rootfd, const char *path, int flags, mode_t mode);

/* Copy everything from fd in to fd out (sendfile/copy_file_range where possible).
 * Returns bytes copied or -errno. */
int64_t fs_copy_fd(int in, int out);

/* Disk usage in bytes of a tree (apparent sizes of regular files, symlinks), hard links
 * counted once. */
int fs_tree_size_at(int dirfd, const char *name, uint64_t *ret);

#endif
