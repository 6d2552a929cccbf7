#ifndef PHOTOCLOUD_CZLIB_SHIM_H
#define PHOTOCLOUD_CZLIB_SHIM_H
// zlib, with its init macros (which Swift cannot import) as inline functions.
#include <zlib.h>

/// deflateInit2 for a raw deflate stream (no zlib header), as PNG's parallel encoder needs.
/// `window_bits` (9-15) and `mem_level` (1-9) as deflateInit2 takes them.
static inline int czlib_deflate_init_raw(z_streamp stream, int level, int strategy, int window_bits, int mem_level) {
    return deflateInit2(stream, level, Z_DEFLATED, -window_bits, mem_level, strategy);
}

static const int czlib_ok = Z_OK;
static const int czlib_stream_end = Z_STREAM_END;
static const int czlib_buf_error = Z_BUF_ERROR;
static const int czlib_no_flush = Z_NO_FLUSH;
static const int czlib_sync_flush = Z_SYNC_FLUSH;
static const int czlib_finish = Z_FINISH;
static const int czlib_default_strategy = Z_DEFAULT_STRATEGY;
static const int czlib_filtered = Z_FILTERED;
static const int czlib_rle = Z_RLE;
static const int czlib_huffman_only = Z_HUFFMAN_ONLY;

#endif
