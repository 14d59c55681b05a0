/* A stream of bytes appended to a file with O_DIRECT, for big uploads that nobody reads
 * back soon. Buffered writes cost the writer a copy into the page cache, a page
 * allocation and LRU insertion per 4 KiB, dirty tracking and, later, the flusher's
 * write-back; and they push out of memory what is read. Here the bytes are gathered in
 * page-aligned buffers of DIO_BUFSIZE (a chunkq), and a writer thread of the stream writes
 * each full one while the caller fills the next: at most DIO_NBUFS buffers per stream.
 * A thread, not io_submit(2): ext4 does an O_DIRECT write that extends the file
 * synchronously even there.
 *
 * The stream starts at an offset aligned to DIO_ALIGN. The last, partial buffer goes
 * through the ordinary descriptor (its length need not be aligned). A file system that
 * refuses O_DIRECT writes (EINVAL) gets the bytes through the ordinary descriptor instead.
 *
 * Nothing is durable before the caller's fsync; the bytes of a stream are all in the file
 * only after dio_end(). The caller does not use fd between dio_start() and dio_end(). */
#ifndef BERTH_UTIL_DIO_H
#define BERTH_UTIL_DIO_H

#include <stddef.h>
#include <stdint.h>

#define DIO_ALIGN 4096u
#define DIO_BUFSIZE (1u << 20)
#define DIO_NBUFS 2

struct dio;

/* A stream that appends at off (a multiple of DIO_ALIGN) to the file open as fd (any
 * descriptor that can write it; it stays the caller's), writing through dfd, the same
 * file opened O_WRONLY | O_DIRECT, which the stream takes over (closed by dio_end(), and
 * on failure here). 0 with *ret set, or -errno (-EINVAL for an unaligned off, -ENOMEM,
 * -EAGAIN: no thread); the caller then writes as usual. */
int dio_start(struct dio **ret, int fd, int dfd, uint64_t off);

/* Appends len bytes (a copy is taken; waits while every buffer is being written). 0, or
 * -errno once a write failed (-EPIPE: the writer's own error comes from dio_end()): the
 * stream takes no more bytes, and dio_end() tells where the good part of the file ends. */
int dio_write(struct dio *d, const void *data, size_t len);

/* Waits for the writes in flight, writes the rest, frees the stream. 0 with *ret_end the
 * offset where the stream's bytes end in the file; or -errno of the first failure, with
 * *ret_end where the bytes known to be written end (the start of the first write that
 * failed: the caller truncates there). */
int dio_end(struct dio *d, uint64_t *ret_end);

#endif
