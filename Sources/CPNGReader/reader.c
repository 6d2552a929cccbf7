// The byte source (memory or pread, over the ranges PNGCodec kept) and the
// full-API RGBA8 reader. libpng reports errors by longjmp: setjmp is called
// here, in C, so no longjmp ever crosses a Swift frame.
#define _GNU_SOURCE
#include "CPNGReader.h"
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

size_t cpng_source_read(cpng_source *source, uint8_t *out, size_t count) {
    size_t done = 0;
    while (done < count && source->index < source->range_count && !source->failed) {
        const cpng_range *range = &source->ranges[source->index];
        uint64_t left = range->length - source->done_in_range;
        if (left == 0) {
            source->index += 1;
            source->done_in_range = 0;
            continue;
        }
        size_t step = count - done < left ? count - done : (size_t)left;
        uint64_t at = range->offset + source->done_in_range;
        if (source->bytes != NULL) {
            memcpy(out + done, source->bytes + at, step);
        } else {
            ssize_t got = pread(source->fd, out + done, step, (off_t)at);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {   // an error, or the file shrank since it was walked
                source->failed = 1;
                break;
            }
            step = (size_t)got;
        }
        done += step;
        source->done_in_range += step;
    }
    return done;
}

static ssize_t cookie_read(void *cookie, char *buffer, size_t size) {
    cpng_source *source = cookie;
    size_t got = cpng_source_read(source, (uint8_t *)buffer, size);
    if (got == 0 && source->failed) return -1;
    return (ssize_t)got;
}

void *cpng_source_open(cpng_source *source) {
    cookie_io_functions_t functions = { .read = cookie_read, .write = NULL, .seek = NULL, .close = NULL };
    return fopencookie(source, "r", functions);
}

typedef struct {
    cpng_allocations *allocations;
    char *message;
    size_t message_size;
} reader_context;

// Each block carries its size in front, so frees can be counted.
typedef union { size_t size; max_align_t align; } block_header;

static png_voidp counted_malloc(png_structp png, png_alloc_size_t size) {
    reader_context *context = png_get_mem_ptr(png);
    if (size > SIZE_MAX - sizeof(block_header)) return NULL;
    block_header *block = malloc(sizeof(block_header) + size);
    if (block == NULL) return NULL;
    block->size = size;
    context->allocations->current += size;
    if (context->allocations->current > context->allocations->peak) {
        context->allocations->peak = context->allocations->current;
    }
    return block + 1;
}

static void counted_free(png_structp png, png_voidp pointer) {
    if (pointer == NULL) return;
    reader_context *context = png_get_mem_ptr(png);
    block_header *block = (block_header *)pointer - 1;
    context->allocations->current -= block->size;
    free(block);
}

static void on_error(png_structp png, png_const_charp text) {
    reader_context *context = png_get_error_ptr(png);
    if (context->message_size > 0) {
        snprintf(context->message, context->message_size, "%s", text != NULL ? text : "unknown error");
    }
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void read_bytes(png_structp png, png_bytep out, size_t length) {
    cpng_source *source = png_get_io_ptr(png);
    if (cpng_source_read(source, out, length) != length) {
        png_error(png, source->failed ? "cannot read the file" : "unexpected end of the image data");
    }
}

int cpng_read_rgba8(cpng_source *source, uint8_t *output, uint8_t *scratch, uint32_t width, uint32_t height,
                    uint32_t max_dimension, size_t max_chunk_bytes,
                    cpng_allocations *allocations, char *message, size_t message_size) {
    reader_context context = { allocations, message, message_size };
    if (message_size > 0) message[0] = 0;
    png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &context, on_error, on_warning,
                                               &context, counted_malloc, counted_free);
    if (png == NULL) {
        snprintf(message, message_size, "out of memory");
        return 0;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(message, message_size, "out of memory");
        return 0;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return 0;
    }
    png_set_read_fn(png, source, read_bytes);
    png_set_benign_errors(png, 1);   // as the simplified reader
    png_set_user_limits(png, max_dimension, max_dimension);
    png_set_chunk_malloc_max(png, max_chunk_bytes);
    png_set_chunk_cache_max(png, 32);
    // As the simplified reader: every ancillary chunk ignored but those that change the pixels.
    static const png_byte used[] = "bKGD\0cHRM\0gAMA\0iCCP\0sBIT\0sRGB\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_AS_DEFAULT, used, 6);
    png_read_info(png, info);

    png_uint_32 file_width = 0, file_height = 0;
    int depth = 0, color = 0, interlace = 0;
    png_get_IHDR(png, info, &file_width, &file_height, &depth, &color, &interlace, NULL, NULL);
    if (file_width != width || file_height != height) png_error(png, "the header changed between reads");
    int has_alpha = (color & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS) != 0;

    // The transforms png_image_finish_read sets up for PNG_FORMAT_RGBA.
    png_set_expand(png);
    if ((color & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
    png_set_alpha_mode_fixed(png, PNG_ALPHA_PNG, depth == 16 ? PNG_GAMMA_LINEAR : PNG_DEFAULT_sRGB);
    if (depth == 16) png_set_scale_16(png);
    if (!has_alpha) png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);
    png_set_alpha_mode_fixed(png, PNG_ALPHA_PNG, PNG_DEFAULT_sRGB);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * 4 || png_get_bit_depth(png, info) != 8
        || png_get_color_type(png, info) != PNG_COLOR_TYPE_RGB_ALPHA) {
        png_error(png, "unexpected row format after the transforms");
    }
    size_t stride = (size_t)width * 4;
    if (interlace == PNG_INTERLACE_NONE) {
        for (uint32_t y = 0; y < height; y += 1) png_read_row(png, output + (size_t)y * stride, NULL);
    } else {
        // Without png_set_interlace_handling libpng returns each pass's own
        // rows (transformed, the pass's width); place their pixels here.
        for (int pass = 0; pass < 7; pass += 1) {
            uint32_t columns = PNG_PASS_COLS(width, pass), rows = PNG_PASS_ROWS(height, pass);
            if (columns == 0 || rows == 0) continue;   // libpng skips empty passes too
            for (uint32_t row = 0; row < rows; row += 1) {
                png_read_row(png, scratch, NULL);
                uint8_t *line = output + (size_t)((row << PNG_PASS_ROW_SHIFT(pass)) + PNG_PASS_START_ROW(pass)) * stride;
                for (uint32_t column = 0; column < columns; column += 1) {
                    size_t x = ((size_t)column << PNG_PASS_COL_SHIFT(pass)) + PNG_PASS_START_COL(pass);
                    memcpy(line + x * 4, scratch + (size_t)column * 4, 4);
                }
            }
        }
    }
    png_destroy_read_struct(&png, &info, NULL);
    return 1;
}
