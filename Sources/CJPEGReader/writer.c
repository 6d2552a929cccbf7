// The encoder: RGBA, gray or CMYK rows to a JPEG in memory, for tests,
// fixtures and benchmarks (photocloud itself sends PNGs).
#include "context.h"
#include <stdlib.h>
#include <string.h>

/// The output buffer, kept where a longjmp cannot lose it.
typedef struct {
    cjpeg_context context;
    unsigned char *buffer;
    unsigned long size;
} writer_state;

void cjpeg_free(uint8_t *buffer) {
    free(buffer);
}

static int valid_pair(cjpeg_input input, cjpeg_color stored) {
    switch (input) {
    case cjpeg_input_gray: return stored == cjpeg_color_gray;
    case cjpeg_input_rgba: return stored == cjpeg_color_ycbcr || stored == cjpeg_color_rgb;
    case cjpeg_input_cmyk: return stored == cjpeg_color_cmyk || stored == cjpeg_color_ycck;
    default: return 0;
    }
}

static J_COLOR_SPACE space_of(cjpeg_color color) {
    switch (color) {
    case cjpeg_color_gray: return JCS_GRAYSCALE;
    case cjpeg_color_rgb: return JCS_RGB;
    case cjpeg_color_ycbcr: return JCS_YCbCr;
    case cjpeg_color_cmyk: return JCS_CMYK;
    case cjpeg_color_ycck: return JCS_YCCK;
    default: return JCS_UNKNOWN;
    }
}

/// The scan script of `every_coefficient`: one DC scan of all components,
/// then for each component and each AC coefficient a first scan of its two
/// high bits' worth (Al 2) and two refinements. Allocated from the image's
/// pool, freed with the compressor however it ends.
static void every_coefficient_script(j_compress_ptr cinfo) {
    int components = cinfo->num_components;
    int count = 1 + components * 63 * 3;
    jpeg_scan_info *scans = (*cinfo->mem->alloc_small)((j_common_ptr)cinfo, JPOOL_IMAGE, sizeof(jpeg_scan_info) * (size_t)count);
    memset(scans, 0, sizeof(jpeg_scan_info) * (size_t)count);
    scans[0].comps_in_scan = components;
    for (int c = 0; c < components; c += 1) scans[0].component_index[c] = c;
    int at = 1;
    for (int c = 0; c < components; c += 1) {
        for (int k = 1; k <= 63; k += 1) {
            static const int passes[3][2] = { { 0, 2 }, { 2, 1 }, { 1, 0 } };   // (Ah, Al)
            for (int pass = 0; pass < 3; pass += 1) {
                jpeg_scan_info *scan = &scans[at++];
                scan->comps_in_scan = 1;
                scan->component_index[0] = c;
                scan->Ss = scan->Se = k;
                scan->Ah = passes[pass][0];
                scan->Al = passes[pass][1];
            }
        }
    }
    cinfo->scan_info = scans;
    cinfo->num_scans = count;
}

cjpeg_status cjpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, const cjpeg_encoding *encoding,
                          uint8_t **out, size_t *out_size, char *message, size_t message_size) {
    struct jpeg_compress_struct cinfo;
    writer_state state;
    memset(&cinfo, 0, sizeof cinfo);
    *out = NULL;
    *out_size = 0;
    cjpeg_context_init(&state.context, (j_common_ptr)&cinfo, NULL, NULL, message, message_size);
    state.buffer = NULL;
    state.size = 0;
    if (setjmp(state.context.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(state.buffer);
        return state.context.status;
    }
    if (pixels == NULL || width == 0 || height == 0 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION
        || encoding->quality < 1 || encoding->quality > 100 || !valid_pair(encoding->input, encoding->stored)) {
        cjpeg_fail(&state.context, cjpeg_invalid_argument, "cannot encode %ux%u pixels as asked (sides 1 to %ld, quality 1 to 100)",
                   width, height, (long)JPEG_MAX_DIMENSION);
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &state.buffer, &state.size);
    cinfo.image_width = width;
    cinfo.image_height = height;
    int bytes_per_pixel = encoding->input == cjpeg_input_gray ? 1 : 4;
    cinfo.input_components = bytes_per_pixel;
    cinfo.in_color_space = encoding->input == cjpeg_input_gray ? JCS_GRAYSCALE
                         : encoding->input == cjpeg_input_rgba ? JCS_EXT_RGBX : JCS_CMYK;
    jpeg_set_defaults(&cinfo);
    jpeg_set_colorspace(&cinfo, space_of(encoding->stored));   // CMYK and YCCK get an Adobe marker
    jpeg_set_quality(&cinfo, encoding->quality, TRUE);
    if (encoding->stored == cjpeg_color_ycbcr || encoding->stored == cjpeg_color_ycck) {
        int factor = encoding->subsample ? 2 : 1;
        cinfo.comp_info[0].h_samp_factor = cinfo.comp_info[0].v_samp_factor = factor;
        if (encoding->stored == cjpeg_color_ycck) {
            cinfo.comp_info[3].h_samp_factor = cinfo.comp_info[3].v_samp_factor = factor;
        }
    }
    if (encoding->progressive && encoding->every_coefficient) {
        every_coefficient_script(&cinfo);
    } else if (encoding->progressive) {
        jpeg_simple_progression(&cinfo);
    }
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * (size_t)bytes_per_pixel;
    enum { batch = 16 };
    JSAMPROW rows[batch];
    while (cinfo.next_scanline < cinfo.image_height) {
        JDIMENSION first = cinfo.next_scanline;
        JDIMENSION count = cinfo.image_height - first < batch ? cinfo.image_height - first : batch;
        for (JDIMENSION row = 0; row < count; row += 1) rows[row] = (JSAMPROW)(pixels + (size_t)(first + row) * stride);
        jpeg_write_scanlines(&cinfo, rows, count);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = state.buffer;
    *out_size = state.size;
    return cjpeg_ok;
}
