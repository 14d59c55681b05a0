#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gzpiece.h"

/* The gzip of buf (len bytes) given in pieces of the sizes in order (the last one ends it),
 * into a malloc'd *ret of *ret_len bytes. */
static void gzip_pieces(const unsigned char *buf, size_t len, const size_t *sizes,
			unsigned char **ret, size_t *ret_len)
{
	struct gzp *g = gzp_new();
	assert_non_null(g);
	unsigned char *out = malloc(GZP_OUT);
	unsigned char *all = malloc(len + len / 100 + 4096);
	assert_non_null(out);
	assert_non_null(all);
	size_t done = 0, o = 0;
	for (size_t k = 0;; k++) {
		size_t n = sizes[k] < len - done ? sizes[k] : len - done;
		int last = done + n == len && !sizes[k + 1];
		long got = gzp_piece(g, buf + done, n, last, out);
		assert_true(got >= 0);
		memcpy(all + o, out, (size_t)got);
		o += (size_t)got;
		done += n;
		if (last)
			break;
	}
	/* Nothing after the end, and no piece over GZP_PIECE. */
	assert_int_equal(gzp_piece(g, buf, 1, 1, out), -EIO);
	gzp_free(g);
	g = gzp_new();
	assert_int_equal(gzp_piece(g, buf, GZP_PIECE + 1, 0, out), -EIO);
	gzp_free(g);
	free(out);
	*ret = all;
	*ret_len = o;
}

/* gunzip with zlib (what docker and most tools use): the bytes, their length. */
static unsigned char *gunzip(const unsigned char *gz, size_t len, size_t cap, size_t *ret_len)
{
	unsigned char *out = malloc(cap + 1);
	assert_non_null(out);
	z_stream z = {0};
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)gz;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap + 1;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(z.avail_in, 0); /* no trailing garbage */
	*ret_len = cap + 1 - z.avail_out;
	inflateEnd(&z);
	return out;
}

static void test_gzpiece_random_is_stored(void **state)
{
	(void)state;
	size_t len = 3 * (size_t)GZP_PIECE + 17;
	unsigned char *buf = malloc(len);
	assert_non_null(buf);
	srand(11);
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)rand();
	static const size_t sizes[] = {GZP_PIECE, GZP_PIECE, GZP_PIECE, GZP_PIECE, 0};
	unsigned char *gz;
	size_t gzlen;
	gzip_pieces(buf, len, sizes, &gz, &gzlen);
	/* A header with no name and mtime 0, then stored blocks (BTYPE 00): the input and
	 * 5 bytes per block (of up to 64 KiB; zlib's are 16 KiB). */
	static const unsigned char header[8] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0};
	assert_memory_equal(gz, header, sizeof(header));
	assert_int_equal(gz[10] & 7, 0);
	assert_true(gzlen < len + 5 * (len / 16384 + 4) + 32);
	size_t n;
	unsigned char *back = gunzip(gz, gzlen, len, &n);
	assert_int_equal(n, len);
	assert_memory_equal(back, buf, len);
	free(back);
	free(gz);
	free(buf);
}

static void test_gzpiece_text_compresses(void **state)
{
	(void)state;
	/* Text-like input in uneven pieces, a random stretch in the middle: it is stored while
	 * the rest around it is compressed. */
	size_t len = 2 * (size_t)GZP_PIECE + 12345;
	unsigned char *buf = malloc(len);
	assert_non_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)("the quick brown fox jumps over the lazy dog\n"[i % 44]);
	srand(3);
	for (size_t i = GZP_PIECE; i < GZP_PIECE + 300000; i++)
		buf[i] = (unsigned char)rand();
	static const size_t sizes[] = {GZP_PIECE - 1, 1, GZP_PIECE, 500, GZP_PIECE, 0};
	unsigned char *gz, *gz2;
	size_t gzlen, gzlen2;
	gzip_pieces(buf, len, sizes, &gz, &gzlen);
	assert_true(gzlen < len / 4 + 300000);
	size_t n;
	unsigned char *back = gunzip(gz, gzlen, len, &n);
	assert_int_equal(n, len);
	assert_memory_equal(back, buf, len);
	/* One input, one output: a blob's digest does not depend on when it was made. */
	gzip_pieces(buf, len, sizes, &gz2, &gzlen2);
	assert_int_equal(gzlen, gzlen2);
	assert_memory_equal(gz, gz2, gzlen);
	free(back);
	free(gz);
	free(gz2);
	free(buf);
}

static void test_gzpiece_empty(void **state)
{
	(void)state;
	static const size_t sizes[] = {0, 0};
	unsigned char *gz;
	size_t gzlen;
	gzip_pieces((const unsigned char *)"", 0, sizes, &gz, &gzlen);
	size_t n;
	free(gunzip(gz, gzlen, 0, &n));
	assert_int_equal(n, 0);
	free(gz);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gzpiece_random_is_stored),
	    cmocka_unit_test(test_gzpiece_text_compresses),
	    cmocka_unit_test(test_gzpiece_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
