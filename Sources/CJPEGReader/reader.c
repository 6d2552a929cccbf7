// The header reader and the RGBA8 decoder. Each sets up its libjpeg object
// and the setjmp that every libjpeg error returns to; the object is destroyed
// on both paths, so a failed decode leaks nothing.
#include "context.h"
#include <jerror.h>
#include <string.h>

static cjpeg_color color_of(J_COLOR_SPACE space) {
    switch (space) {
    case JCS_GRAYSCALE: return cjpeg_color_gray;
    case JCS_RGB: return cjpeg_color_rgb;
    case JCS_YCbCr: return cjpeg_color_ycbcr;
    case JCS_CMYK: return cjpeg_color_cmyk;
    case JCS_YCCK: return cjpeg_color_ycck;
    default: return cjpeg_color_unknown;
    }
}

/// Starts `cinfo` over the bytes, with the limits, and reads its header.
/// Must be called after the setjmp: every failure longjmps.
static void open_and_read_header(j_decompress_ptr cinfo, cjpeg_context *context,
                                 const uint8_t *bytes, size_t size, const cjpeg_limits *limits) {
    jpeg_create_decompress(cinfo);
    cinfo->mem->max_memory_to_use = cjpeg_memory_limit(limits->max_memory);
    cinfo->progress = &context->progress;
    if (size == 0) cjpeg_fail(context, cjpeg_truncated, "no data");
    jpeg_mem_src(cinfo, bytes, (unsigned long)size);
    // No jpeg_save_markers: APPn and COM segments are skipped, never kept.
    jpeg_read_header(cinfo, TRUE);
}

static void fill_header(const struct jpeg_decompress_struct *cinfo, cjpeg_header *header) {
    header->width = cinfo->image_width;
    header->height = cinfo->image_height;
    header->components = cinfo->num_components;
    header->color = color_of(cinfo->jpeg_color_space);
    header->progressive = cinfo->progressive_mode ? 1 : 0;
    header->precision = cinfo->data_precision;
    header->adobe = cinfo->saw_Adobe_marker ? 1 : 0;
}

cjpeg_status cjpeg_read_header(const uint8_t *bytes, size_t size, const cjpeg_limits *limits,
                               cjpeg_header *header, char *message, size_t message_size) {
    struct jpeg_decompress_struct cinfo;
    cjpeg_context context;
    memset(&cinfo, 0, sizeof cinfo);
    memset(header, 0, sizeof *header);
    cjpeg_context_init(&context, (j_common_ptr)&cinfo, limits, NULL, message, message_size);
    if (setjmp(context.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return context.status;
    }
    open_and_read_header(&cinfo, &context, bytes, size, limits);
    fill_header(&cinfo, header);
    jpeg_destroy_decompress(&cinfo);
    return cjpeg_ok;
}

/// CMYK as libjpeg returns it, to RGBA in place: no colour management, just
/// each colour scaled by what the black leaves. Adobe's files (the usual
/// CMYK JPEGs) hold 255 - ink; others are taken to hold the ink itself.
static void cmyk_to_rgba(uint8_t *row, uint32_t width, int inverted) {
    for (uint32_t x = 0; x < width; x += 1) {
        uint8_t *pixel = row + (size_t)x * 4;
        unsigned c = pixel[0], m = pixel[1], y = pixel[2], k = pixel[3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        pixel[0] = (uint8_t)((c * k + 127) / 255);
        pixel[1] = (uint8_t)((m * k + 127) / 255);
        pixel[2] = (uint8_t)((y * k + 127) / 255);
        pixel[3] = 255;
    }
}

cjpeg_status cjpeg_decode_rgba(const uint8_t *bytes, size_t size, int scale_denominator,
                               uint8_t *output, uint32_t width, uint32_t height,
                               const cjpeg_limits *limits, cjpeg_report *report,
                               char *message, size_t message_size) {
    struct jpeg_decompress_struct cinfo;
    cjpeg_context context;
    memset(&cinfo, 0, sizeof cinfo);
    cjpeg_context_init(&context, (j_common_ptr)&cinfo, limits, report, message, message_size);
    if (setjmp(context.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return context.status;
    }
    if (output == NULL || (scale_denominator != 1 && scale_denominator != 2 && scale_denominator != 4 && scale_denominator != 8)) {
        cjpeg_fail(&context, cjpeg_invalid_argument, "no output buffer, or a scale other than 1/1, 1/2, 1/4, 1/8");
    }
    open_and_read_header(&cinfo, &context, bytes, size, limits);

    int cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_RGB:
    case JCS_YCbCr:
        cinfo.out_color_space = JCS_EXT_RGBA;   // libjpeg-turbo fills alpha with 255
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo.out_color_space = JCS_CMYK;       // the only RGB-free output libjpeg has for these
        cmyk = 1;
        break;
    default:
        cjpeg_fail(&context, cjpeg_unsupported, "%d colour components in an unknown colour space", cinfo.num_components);
    }
    cinfo.scale_num = 1;
    cinfo.scale_denom = (unsigned int)scale_denominator;
    jpeg_calc_output_dimensions(&cinfo);
    if (cinfo.output_width != width || cinfo.output_height != height || cinfo.output_components != 4) {
        cjpeg_fail(&context, cjpeg_invalid_argument, "the image decodes to %ux%u with %d components at 1/%d, not the expected %ux%u",
                   cinfo.output_width, cinfo.output_height, cinfo.output_components, scale_denominator, width, height);
    }

    jpeg_start_decompress(&cinfo);   // a progressive file is read whole here, into its coefficient buffer
    size_t stride = (size_t)width * 4;
    enum { batch = 16 };
    JSAMPROW rows[batch];
    while (cinfo.output_scanline < cinfo.output_height) {
        JDIMENSION first = cinfo.output_scanline;
        JDIMENSION count = cinfo.output_height - first < batch ? cinfo.output_height - first : batch;
        for (JDIMENSION row = 0; row < count; row += 1) rows[row] = output + (size_t)(first + row) * stride;
        JDIMENSION read = jpeg_read_scanlines(&cinfo, rows, count);
        if (read == 0) cjpeg_fail(&context, cjpeg_corrupt, "libjpeg returned no rows");
        if (cmyk) {
            for (JDIMENSION row = 0; row < read; row += 1) cmyk_to_rgba(rows[row], width, cinfo.saw_Adobe_marker);
        }
    }
    jpeg_finish_decompress(&cinfo);   // reads on to EOI: a file cut after its last row still fails
    if (report != NULL) report->scans = cinfo.input_scan_number;
    jpeg_destroy_decompress(&cinfo);
    return cjpeg_ok;
}
