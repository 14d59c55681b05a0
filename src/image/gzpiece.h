/* gzip made one piece of input at a time, for a layer's tar (commit, push).
 *
 * With ISA-L's igzip (level 1: several times zlib's speed), each piece is compressed on
 * its own and ended by a sync flush on a byte boundary, and kept only when that saves at
 * least 1/GZP_GAIN of it; else it goes out as stored blocks and the compressor starts again
 * without history (the references into the pieces before it stay valid whatever their
 * encoding: they point into the uncompressed bytes). igzip alone writes Huffman-coded blocks
 * even for bytes it cannot shrink (random data, files compressed already): a little longer
 * than the input, and decompressed several times slower than stored blocks (a 200 MB
 * random layer: ISA-L's inflate 68 ms instead of 12 ms; docker pull 0.18 s more). zlib and
 * Go's compress/flate pick stored blocks themselves. Whether to try at all is decided from
 * samples of the piece (GZP_PROBE bytes in all) compressed at igzip's fastest level (level
 * 0): random data then costs a sixteenth of its compression. Without ISA-L, zlib level 1
 * does it all.
 *
 * The gzip header has no name and mtime 0, so one tar always gives one blob. */
#ifndef BERTH_IMAGE_GZPIECE_H
#define BERTH_IMAGE_GZPIECE_H

#include <stddef.h>

/* The largest piece, and the room its output needs (with the header, stored-block headers,
 * the final empty block and the trailer). */
#define GZP_PIECE (1u << 20)
#define GZP_OUT (10 + GZP_PIECE + 5 * (GZP_PIECE / 65535 + 1) + 5 + 8 + 64)

struct gzp;

/* NULL on ENOMEM. */
struct gzp *gzp_new(void);
void gzp_free(struct gzp *g);

/* Compress the next len (<= GZP_PIECE) bytes of input into out (GZP_OUT bytes); last: the
 * end of the input (len may be 0), the trailer follows. The header comes with the first
 * call. The output's length, or -EIO (the compressor failed). */
long gzp_piece(struct gzp *g, const void *in, size_t len, int last, unsigned char *out);

#endif
