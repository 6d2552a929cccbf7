#ifndef PHOTOCLOUD_CJPEGREADER_H
#define PHOTOCLOUD_CJPEGREADER_H
// libjpeg-turbo over bytes in memory, with every longjmp kept inside C.
//
// libjpeg reports errors through error_exit, which must not return: here it
// records the message and longjmps back to the setjmp in the same C function,
// which destroys the libjpeg object and returns a status, so no longjmp ever
// crosses a Swift frame and nothing calls exit(). Warnings (corrupt data that
// libjpeg decodes past) are counted, never printed. This header includes no
// libjpeg header (jpeglib.h is also reachable through CJPEG).
#include <stddef.h>
#include <stdint.h>

/// How a call ended.
typedef enum {
    cjpeg_ok = 0,
    /// libjpeg refused the data, or it had more corrupt-data warnings than allowed.
    cjpeg_corrupt = 1,
    /// The data ended before the image did (libjpeg's "premature end of JPEG file").
    cjpeg_truncated = 2,
    /// More memory or scans than the limits allow.
    cjpeg_too_large = 3,
    /// A valid JPEG this reader does not turn into RGBA (precision, colour space).
    cjpeg_unsupported = 4,
    /// A caller's buffer or argument does not match (a programming error).
    cjpeg_invalid_argument = 5,
} cjpeg_status;

/// The colour space libjpeg found in the file.
typedef enum {
    cjpeg_color_unknown = 0,
    cjpeg_color_gray = 1,
    cjpeg_color_rgb = 2,
    cjpeg_color_ycbcr = 3,
    cjpeg_color_cmyk = 4,
    cjpeg_color_ycck = 5,
} cjpeg_color;

/// What a JPEG's markers up to its first scan say.
typedef struct {
    uint32_t width;
    uint32_t height;
    int components;
    cjpeg_color color;
    int progressive;
    /// Bits per sample (8 for nearly every JPEG; libjpeg-turbo here decodes only 8).
    int precision;
    /// An Adobe APP14 marker was present: Adobe's CMYK is stored inverted.
    int adobe;
} cjpeg_header;

/// Bounds on one decode, checked by libjpeg or by this reader.
typedef struct {
    /// libjpeg's max_memory_to_use: libjpeg-turbo refuses whole-image
    /// coefficient buffers (progressive and multi-scan files) beyond it.
    uint64_t max_memory;
    /// Scans (SOS markers) at most.
    int max_scans;
    /// Decoding work at most: the blocks each scan covers, added up over the
    /// scans, may come to this many times the image's blocks (a baseline
    /// file is 1, libjpeg's own progression about 5); images of under 65536
    /// blocks count as that many. A legal progressive file of hundreds of
    /// scans would otherwise cost seconds from a few hundred KB.
    int max_passes;
    /// Corrupt-data warnings at most; one more fails the decode.
    int max_warnings;
} cjpeg_limits;

/// How a decode went besides its pixels.
typedef struct {
    long warnings;
    int scans;
    /// The first warning libjpeg gave, NUL-terminated ("" without one).
    char first_warning[200];
} cjpeg_report;

/// Reads the markers up to the first scan of the JPEG in `bytes`; allocates
/// nothing for pixels. Returns cjpeg_ok, or a status with the message in `message`.
cjpeg_status cjpeg_read_header(const uint8_t *bytes, size_t size, const cjpeg_limits *limits,
                               cjpeg_header *header, char *message, size_t message_size);

/// Decodes the JPEG in `bytes` to 8-bit RGBA rows (`width` x 4 bytes, no
/// padding, alpha 255) straight into `output`, at 1/`scale_denominator` of its
/// size (1, 2, 4 or 8: libjpeg's DCT scaling, which never computes the full
/// image). `width` and `height` are the caller's expectation of the scaled
/// size (each side divided, rounded up); a file that disagrees fails. Gray,
/// RGB and YCbCr come out of libjpeg as RGBA; CMYK and YCCK come out as CMYK
/// and are converted here (naively, no colour management; Adobe files taken
/// as inverted). A truncated file fails with cjpeg_truncated.
cjpeg_status cjpeg_decode_rgba(const uint8_t *bytes, size_t size, int scale_denominator,
                               uint8_t *output, uint32_t width, uint32_t height,
                               const cjpeg_limits *limits, cjpeg_report *report,
                               char *message, size_t message_size);

/// What the encoder's input pixels are.
typedef enum {
    /// 1 byte a pixel.
    cjpeg_input_gray = 1,
    /// 4 bytes a pixel; the alpha byte is ignored.
    cjpeg_input_rgba = 2,
    /// 4 bytes a pixel, ink amounts as Adobe stores them (255 = no ink).
    cjpeg_input_cmyk = 3,
} cjpeg_input;

/// How the encoder stores an image.
typedef struct {
    cjpeg_input input;
    /// The file's colour space: gray for gray input; ycbcr or rgb for RGBA;
    /// cmyk or ycck for CMYK.
    cjpeg_color stored;
    /// 1 to 100.
    int quality;
    int progressive;
    /// With `progressive`: each AC coefficient of each component in its own
    /// scan, in three passes of successive approximation (568 scans for
    /// three components). Legal, and the costliest progression to decode:
    /// for hostile-input tests and benchmarks.
    int every_coefficient;
    /// Chroma at half resolution both ways (4:2:0) instead of full (4:4:4).
    int subsample;
} cjpeg_encoding;

/// Encodes `width` x `height` pixels (rows without padding) into a buffer
/// malloc'ed by libjpeg, returned in `*out` and `*out_size`: release it with
/// cjpeg_free. On failure `*out` is NULL and the message is in `message`.
cjpeg_status cjpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, const cjpeg_encoding *encoding,
                          uint8_t **out, size_t *out_size, char *message, size_t message_size);

/// Frees a buffer cjpeg_encode returned.
void cjpeg_free(uint8_t *buffer);

#endif
