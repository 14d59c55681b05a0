#include "chunkq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "banned.h"

struct chunk {
	void *buf;
	size_t len;
};

struct chunkq {
	pthread_mutex_t lock;
	pthread_cond_t filled; /* a buffer was queued, or the queue closed */
	pthread_cond_t freed;  /* a buffer came back, or the consumer stopped */
	size_t nbufs, bufsize;
	void **all; /* every buffer allocated (nall of them), freed at the end */
	size_t nall;
	void **spare; /* empty buffers (nspare) */
	size_t nspare;
	struct chunk *ring; /* queued buffers: count of them from head */
	size_t head, count;
	void *held; /* the consumer's current buffer */
	int closed, result, stopped;
};

struct chunkq *chunkq_new(size_t nbufs, size_t bufsize)
{
	if (!nbufs || !bufsize)
		return NULL;
	struct chunkq *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->nbufs = nbufs;
	q->bufsize = bufsize;
	q->all = calloc(nbufs, sizeof(*q->all));
	q->spare = calloc(nbufs, sizeof(*q->spare));
	q->ring = calloc(nbufs, sizeof(*q->ring));
	if (!q->all || !q->spare || !q->ring) {
		free(q->all);
		free(q->spare);
		free(q->ring);
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->filled, NULL);
	pthread_cond_init(&q->freed, NULL);
	return q;
}

void chunkq_free(struct chunkq *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->nall; i++)
		free(q->all[i]);
	free(q->all);
	free(q->spare);
	free(q->ring);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->filled);
	pthread_cond_destroy(&q->freed);
	free(q);
}

size_t chunkq_bufsize(const struct chunkq *q)
{
	return q->bufsize;
}

int chunkq_take(struct chunkq *q, void **ret_buf)
{
	int r = 0;
	*ret_buf = NULL;
	pthread_mutex_lock(&q->lock);
	while (!q->stopped && !q->nspare && q->nall == q->nbufs)
		pthread_cond_wait(&q->freed, &q->lock);
	if (q->stopped) {
		r = -EPIPE;
	} else if (q->nspare) {
		*ret_buf = q->spare[--q->nspare];
	} else {
		/* Allocated under the lock: it happens nbufs times per queue at most. */
		void *b = NULL;
		if (posix_memalign(&b, CHUNKQ_ALIGN, q->bufsize))
			r = -ENOMEM;
		else
			*ret_buf = q->all[q->nall++] = b;
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

int chunkq_put(struct chunkq *q, void *buf, size_t len)
{
	int r = 0;
	pthread_mutex_lock(&q->lock);
	if (q->stopped || !len) {
		q->spare[q->nspare++] = buf;
		r = q->stopped ? -EPIPE : 0;
	} else {
		q->ring[(q->head + q->count++) % q->nbufs] = (struct chunk){buf, len};
		pthread_cond_signal(&q->filled);
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

void chunkq_close(struct chunkq *q, int result)
{
	pthread_mutex_lock(&q->lock);
	q->closed = 1;
	q->result = result < 0 ? result : 0;
	pthread_cond_signal(&q->filled);
	pthread_mutex_unlock(&q->lock);
}

ssize_t chunkq_next(struct chunkq *q, const void **ret_data)
{
	ssize_t n;
	*ret_data = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->held) {
		q->spare[q->nspare++] = q->held;
		q->held = NULL;
		pthread_cond_signal(&q->freed);
	}
	while (!q->count && !q->closed)
		pthread_cond_wait(&q->filled, &q->lock);
	if (q->count) {
		struct chunk c = q->ring[q->head];
		q->head = (q->head + 1) % q->nbufs;
		q->count--;
		q->held = c.buf;
		*ret_data = c.buf;
		n = (ssize_t)c.len;
	} else {
		n = q->result;
	}
	pthread_mutex_unlock(&q->lock);
	return n;
}

void chunkq_stop(struct chunkq *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopped = 1;
	if (q->held) {
		q->spare[q->nspare++] = q->held;
		q->held = NULL;
	}
	while (q->count) {
		q->spare[q->nspare++] = q->ring[q->head].buf;
		q->head = (q->head + 1) % q->nbufs;
		q->count--;
	}
	pthread_cond_broadcast(&q->freed);
	pthread_mutex_unlock(&q->lock);
}
