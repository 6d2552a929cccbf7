#ifndef PHOTOCLOUD_CPNGREADER_H
#define PHOTOCLOUD_CPNGREADER_H
// libpng fed from checked byte ranges, with every longjmp kept inside C.
//
// PNGCodec walks a PNG's chunks in Swift first and hands libpng only the
// ranges it kept (signature and IHDR, the few ancillary chunks that decoding
// uses, the IDAT run, IEND), from memory or from a file descriptor, never a
// copy of the file. This header includes no libpng or system header (png.h is
// also imported through CPNG): the FILE is returned as an opaque pointer.
#include <stddef.h>
#include <stdint.h>

/// One run of bytes to hand libpng: `length` bytes from `offset`.
typedef struct {
    uint64_t offset;
    uint64_t length;
} cpng_range;

/// The bytes libpng reads: the ranges, in order, out of `bytes` (memory) or
/// `fd` (a file, with pread) when `bytes` is NULL. `failed` is set when the
/// file could not be read or libpng asked for more than the ranges hold.
typedef struct {
    const uint8_t *bytes;
    int fd;
    const cpng_range *ranges;
    size_t range_count;
    size_t index;
    uint64_t done_in_range;
    int failed;
} cpng_source;

/// A read-only stdio stream over `source` (fopencookie), for libpng's
/// simplified `png_image_begin_read_from_stdio`. NULL on failure; fclose it.
void *cpng_source_open(cpng_source *source);

/// Copies up to `count` of the source's next bytes to `out`; returns how many.
size_t cpng_source_read(cpng_source *source, uint8_t *out, size_t count);

/// libpng's own allocations during one read, counted by a wrapping allocator.
typedef struct {
    size_t current;
    size_t peak;
} cpng_allocations;

/// Decodes the PNG in `source` to 8-bit sRGB RGBA rows (`width` x 4 bytes,
/// no padding) straight into `output` with libpng's full API and the
/// transforms libpng's simplified reader sets up for PNG_FORMAT_RGBA: expand,
/// gray to RGB, 16-bit scaled to 8, opaque alpha added, file gamma (16-bit
/// without gAMA or sRGB taken as linear) to sRGB. Adam7 passes are read into
/// `scratch` (`width` x 4 bytes) and scattered into `output` here, not by
/// libpng's row combining, which the simplified reader gets wrong for
/// interlaced 16-bit images (pnggroup/libpng#853). No buffer of the whole
/// image but `output`. Limits libpng to `max_dimension` per side and
/// `max_chunk_bytes` per ancillary chunk. Returns 1 on success; on failure 0
/// with libpng's message (NUL-terminated) in `message`.
int cpng_read_rgba8(cpng_source *source, uint8_t *output, uint8_t *scratch, uint32_t width, uint32_t height,
                    uint32_t max_dimension, size_t max_chunk_bytes,
                    cpng_allocations *allocations, char *message, size_t message_size);

#endif
