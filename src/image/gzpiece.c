#include "gzpiece.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef BERTH_HAVE_ISAL
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#endif

#include "banned.h"

#ifdef BERTH_HAVE_ISAL
#define GZP_GAIN 64
#define GZP_PROBE (64u << 10)
#define GZP_PROBES 4
#define GZP_STORED_MAX 65535u
#endif

struct gzp {
	int done; /* the trailer is out */
#ifdef BERTH_HAVE_ISAL
	int started; /* the header is out */
	struct isal_zstream z;
	unsigned char *level_buf;
	uint32_t crc;
	uint32_t isize; /* the input's length, modulo 2^32 as gzip keeps it */
	int reset;	/* the compressor has history the output does not have */
	struct isal_zstream probe;
	unsigned char *probe_out;
#else
	z_stream z;
	int zinit;
#endif
};

void gzp_free(struct gzp *g)
{
	if (!g)
		return;
#ifdef BERTH_HAVE_ISAL
	free(g->level_buf);
	free(g->probe_out);
#else
	if (g->zinit)
		deflateEnd(&g->z);
#endif
	free(g);
}

struct gzp *gzp_new(void)
{
	struct gzp *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
#ifdef BERTH_HAVE_ISAL
	g->level_buf = malloc(ISAL_DEF_LVL1_DEFAULT);
	g->probe_out = malloc(GZP_PROBE);
	if (!g->level_buf || !g->probe_out) {
		gzp_free(g);
		return NULL;
	}
	/* Raw deflate: the gzip wrapper is ours. */
	isal_deflate_init(&g->z);
	g->z.level = 1;
	g->z.level_buf = g->level_buf;
	g->z.level_buf_size = ISAL_DEF_LVL1_DEFAULT;
	g->z.gzip_flag = IGZIP_DEFLATE;
	g->z.flush = SYNC_FLUSH;
#else
	/* windowBits 15 + 16: a gzip wrapper; zlib writes mtime 0 and no name. */
	if (deflateInit2(&g->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		gzp_free(g);
		return NULL;
	}
	g->zinit = 1;
#endif
	return g;
}

#ifdef BERTH_HAVE_ISAL
static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Stored blocks of data at out (on a byte boundary, not final); their length. */
static size_t put_stored(unsigned char *out, const unsigned char *data, size_t len)
{
	size_t o = 0;
	while (len) {
		size_t n = len < GZP_STORED_MAX ? len : GZP_STORED_MAX;
		out[o++] = 0; /* BFINAL 0, BTYPE 00, padding */
		out[o++] = (unsigned char)n;
		out[o++] = (unsigned char)(n >> 8);
		out[o++] = (unsigned char)~n;
		out[o++] = (unsigned char)(~n >> 8);
		memcpy(out + o, data, n);
		o += n;
		data += n;
		len -= n;
	}
	return o;
}

/* Whether any of GZP_PROBES samples spread over the piece (GZP_PROBE bytes in all) shrinks
 * by 1/GZP_GAIN at igzip's level 0: a piece can end one file and start another. */
static int probe(struct gzp *g, const unsigned char *in, size_t len)
{
	size_t n = GZP_PROBE / GZP_PROBES;
	if (len <= GZP_PROBE)
		n = len;
	for (size_t off = 0; off + n <= len; off += len / GZP_PROBES) {
		isal_deflate_stateless_init(&g->probe);
		g->probe.level = 0;
		g->probe.gzip_flag = IGZIP_DEFLATE;
		g->probe.next_in = (uint8_t *)in + off;
		g->probe.avail_in = (uint32_t)n;
		g->probe.end_of_stream = 1;
		g->probe.next_out = g->probe_out;
		g->probe.avail_out = (uint32_t)(n - n / GZP_GAIN);
		if (isal_deflate_stateless(&g->probe) == COMP_OK)
			return 1;
		if (n == len)
			break;
	}
	return 0;
}

/* The piece compressed at out, if that saves at least 1/GZP_GAIN of it: its length, else 0
 * (it is stored then). */
static size_t deflate_piece(struct gzp *g, const unsigned char *in, size_t len, unsigned char *out)
{
	if (!probe(g, in, len)) {
		g->reset = 1;
		return 0;
	}
	if (g->reset) {
		isal_deflate_reset(&g->z); /* keeps level, buffer, wrapper and flush */
		g->reset = 0;
	}
	size_t budget = len - len / GZP_GAIN;
	g->z.next_in = (uint8_t *)in;
	g->z.avail_in = (uint32_t)len;
	g->z.end_of_stream = 0;
	g->z.next_out = out;
	g->z.avail_out = (uint32_t)budget;
	/* Done when all of it is read and the sync flush written (igzip_lib.h says how to
	 * tell); else (the budget ran out, or an error) it is stored. */
	if (isal_deflate(&g->z) == COMP_OK && g->z.avail_in == 0 &&
	    g->z.internal_state.state == ZSTATE_NEW_HDR)
		return budget - g->z.avail_out;
	g->reset = 1;
	return 0;
}

long gzp_piece(struct gzp *g, const void *in, size_t len, int last, unsigned char *out)
{
	if (g->done || len > GZP_PIECE)
		return -EIO;
	size_t o = 0;
	if (!g->started) {
		static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
		memcpy(out, header, sizeof(header));
		o = sizeof(header);
		g->started = 1;
	}
	if (len) {
		g->crc = crc32_gzip_refl(g->crc, in, len);
		g->isize += (uint32_t)len;
		size_t got = deflate_piece(g, in, len, out + o);
		o += got ? got : put_stored(out + o, in, len);
	}
	if (last) {
		/* A final empty stored block, then CRC-32 and length. */
		static const unsigned char end[5] = {1, 0, 0, 0xff, 0xff};
		memcpy(out + o, end, sizeof(end));
		put_le32(out + o + 5, g->crc);
		put_le32(out + o + 9, g->isize);
		o += 13;
		g->done = 1;
	}
	return (long)o;
}
#else
long gzp_piece(struct gzp *g, const void *in, size_t len, int last, unsigned char *out)
{
	if (g->done || len > GZP_PIECE)
		return -EIO;
	g->z.next_in = (Bytef *)in;
	g->z.avail_in = (uInt)len;
	g->z.next_out = out;
	g->z.avail_out = GZP_OUT;
	int zr = deflate(&g->z, last ? Z_FINISH : Z_NO_FLUSH);
	/* GZP_OUT holds any piece and what zlib kept of the ones before. */
	if (zr == Z_STREAM_ERROR || g->z.avail_in || (last && zr != Z_STREAM_END))
		return -EIO;
	g->done = last;
	return (long)(GZP_OUT - g->z.avail_out);
}
#endif
