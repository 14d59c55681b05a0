#include "dio.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunkq.h"
#include "fs.h"

#include "banned.h"

struct dio {
	int fd, dfd;
	struct chunkq *q;
	pthread_t writer;
	void *cur;   /* the buffer being filled, from chunkq_take() */
	size_t fill; /* bytes in it */
	int err;     /* the caller's side: the first failure, as -errno */
	/* The writer thread's, read after it is joined: */
	uint64_t off; /* where its next buffer goes */
	int werr;     /* its first failure */
};

/* The writer thread: each full buffer with O_DIRECT (a file system that refuses it gets
 * this and every later buffer through fd), the last, shorter one through fd. */
static void *writer_main(void *arg)
{
	struct dio *d = arg;
	int buffered = 0;
	const void *p;
	ssize_t n;
	while ((n = chunkq_next(d->q, &p)) > 0) {
		size_t len = (size_t)n;
		int r = -EINVAL;
		if (!buffered && len == DIO_BUFSIZE) {
			r = fs_pwrite_all(d->dfd, p, len, (off_t)d->off);
			buffered = r == -EINVAL;
		}
		if (r == -EINVAL)
			r = fs_pwrite_all(d->fd, p, len, (off_t)d->off);
		if (r < 0) {
			d->werr = r;
			break;
		}
		d->off += len;
	}
	chunkq_stop(d->q);
	return NULL;
}

int dio_start(struct dio **ret, int fd, int dfd, uint64_t off)
{
	if (off % DIO_ALIGN) {
		close(dfd);
		return -EINVAL;
	}
	struct dio *d = calloc(1, sizeof(*d));
	if (!d || !(d->q = chunkq_new(DIO_NBUFS, DIO_BUFSIZE))) {
		free(d);
		close(dfd);
		return -ENOMEM;
	}
	d->fd = fd;
	d->dfd = dfd;
	d->off = off;
	int r = -pthread_create(&d->writer, NULL, writer_main, d);
	if (r < 0) {
		chunkq_free(d->q);
		free(d);
		close(dfd);
		return r;
	}
	*ret = d;
	return 0;
}

int dio_write(struct dio *d, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len && !d->err) {
		if (!d->cur) {
			int r = chunkq_take(d->q, &d->cur);
			if (r < 0) {
				d->err = r;
				break;
			}
		}
		size_t n = DIO_BUFSIZE - d->fill;
		if (n > len)
			n = len;
		memcpy((unsigned char *)d->cur + d->fill, p, n);
		d->fill += n;
		p += n;
		len -= n;
		if (d->fill == DIO_BUFSIZE) {
			int r = chunkq_put(d->q, d->cur, d->fill);
			d->cur = NULL;
			d->fill = 0;
			if (r < 0)
				d->err = r;
		}
	}
	return d->err;
}

int dio_end(struct dio *d, uint64_t *ret_end)
{
	if (d->cur)
		(void)chunkq_put(d->q, d->cur, d->fill); /* a length of 0 gives it back */
	chunkq_close(d->q, 0);
	pthread_join(d->writer, NULL);
	/* The writer's failure is the one that counts: the caller's is only its echo. */
	int r = d->werr ? d->werr : d->err;
	*ret_end = d->off;
	chunkq_free(d->q);
	close(d->dfd);
	free(d);
	return r;
}
