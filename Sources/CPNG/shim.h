#ifndef PHOTOCLOUD_CPNG_SHIM_H
#define PHOTOCLOUD_CPNG_SHIM_H
// libpng's simplified API, with the macros Swift cannot import re-exported as
// constants and static inline functions.
#include <png.h>
#include <stdint.h>

static const uint32_t cpng_format_rgba = PNG_FORMAT_RGBA;
static const uint32_t cpng_format_linear_rgba = PNG_FORMAT_LINEAR_RGB_ALPHA;
static const uint32_t cpng_image_version = PNG_IMAGE_VERSION;
static const uint32_t cpng_flag_fast = PNG_IMAGE_FLAG_FAST;
static const uint32_t cpng_image_warning = PNG_IMAGE_WARNING;
static const uint32_t cpng_image_error = PNG_IMAGE_ERROR;

/// Bytes in one row of `image` in its current format (PNG_IMAGE_ROW_STRIDE).
static inline uint32_t cpng_row_stride(const png_image *image) {
    return PNG_IMAGE_ROW_STRIDE(*image);
}

/// Bytes in the whole buffer of `image` (PNG_IMAGE_BUFFER_SIZE with the minimal stride).
/// 32-bit arithmetic: callers check width x height against their pixel limit first.
static inline size_t cpng_image_size(const png_image *image) {
    return (size_t)PNG_IMAGE_SIZE(*image);
}

/// The most bytes a PNG of `image` can take (PNG_IMAGE_PNG_SIZE_MAX), in 64-bit.
static inline size_t cpng_png_size_max(const png_image *image) {
    size_t raw = (size_t)PNG_IMAGE_ROW_STRIDE(*image) * (size_t)PNG_IMAGE_PIXEL_COMPONENT_SIZE(image->format) * image->height + image->height;
    /* zlib stored blocks: 5 bytes per 16383, plus 6; IDAT chunks of at most 2^31; PNG framing */
    return raw + 5 * (raw / 16383 + 1) + 6 + 12 * (raw / 0x7fffffff + 1) + 8 + 25 + 16 + 44 + 12 + 1024;
}

/// The failure message libpng left in `image->message` (a C array, a tuple in Swift).
static inline const char *cpng_message(const png_image *image) {
    return image->message;
}

#endif
