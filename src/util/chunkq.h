/* A bounded queue of byte buffers from one producer thread to one consumer thread of the
 * same process. The bytes are handed over by pointer: the producer fills a buffer it took
 * from the queue, queues it, and the consumer reads it where it is and gives it back with
 * its next call. A socketpair or a pipe between the two threads would copy every byte into
 * the kernel and out again, and wake the other side every few hundred KiB.
 *
 * At most nbufs buffers of bufsize bytes exist (allocated on first need, kept for reuse):
 * a producer that runs ahead waits for the consumer to give one back, so memory stays
 * bounded whatever the speeds. Buffers start at a multiple of CHUNKQ_ALIGN, as O_DIRECT
 * writes want them.
 *
 * Ending: the producer closes the queue with 0 (the stream is complete) or a negative
 * errno, which the consumer gets once it has read what was queued before. The consumer
 * stops the queue when it is done, early or not: from then on the producer's calls fail
 * with -EPIPE (it should give up), and they never wait again. Both sides must have called
 * their end (close, stop) before chunkq_free(). */
#ifndef BERTH_UTIL_CHUNKQ_H
#define BERTH_UTIL_CHUNKQ_H

#include <stddef.h>
#include <sys/types.h>

#define CHUNKQ_ALIGN 4096u

struct chunkq;

/* A queue of at most nbufs (>= 1) buffers of bufsize (>= 1) bytes; owned by the caller.
 * NULL on ENOMEM. */
struct chunkq *chunkq_new(size_t nbufs, size_t bufsize);
/* Frees the queue and its buffers (NULL is fine). */
void chunkq_free(struct chunkq *q);
size_t chunkq_bufsize(const struct chunkq *q);

/* Producer: an empty buffer of chunkq_bufsize() bytes, waiting while every buffer is
 * queued or with the consumer. 0, -ENOMEM, or -EPIPE once the consumer has stopped. */
int chunkq_take(struct chunkq *q, void **ret_buf);
/* Producer: queue the first len bytes of a buffer from chunkq_take() (len 0 gives it
 * back unread). The queue owns the buffer again in every case. 0, or -EPIPE once the
 * consumer has stopped. */
int chunkq_put(struct chunkq *q, void *buf, size_t len);
/* Producer: the end of the stream, 0 when it is complete, else the -errno the consumer
 * gets after the buffers queued so far. Called once; no take or put after it. */
void chunkq_close(struct chunkq *q, int result);

/* Consumer: the next buffer's length with *ret_data pointing at its bytes (valid until the
 * next call or chunkq_stop(); the previous buffer goes back to the producer), 0 at a
 * complete end, or the producer's -errno. Waits while nothing is queued. */
ssize_t chunkq_next(struct chunkq *q, const void **ret_data);
/* Consumer: done reading (at the end or not); the producer's calls fail with -EPIPE from
 * now on. Called once. */
void chunkq_stop(struct chunkq *q);

#endif
