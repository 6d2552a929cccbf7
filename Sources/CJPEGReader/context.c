// libjpeg's error handling, kept in C: error_exit and fatal warnings longjmp
// to the setjmp of the C function that called libjpeg, never through Swift.
#include "context.h"
#include <jerror.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

void cjpeg_fail(cjpeg_context *context, cjpeg_status status, const char *format, ...) {
    context->status = status;
    if (context->message_size > 0) {
        va_list arguments;
        va_start(arguments, format);
        vsnprintf(context->message, context->message_size, format, arguments);
        va_end(arguments);
    }
    longjmp(context->jump, 1);
}

/// libjpeg's text for the message it just raised.
static void libjpeg_text(j_common_ptr common, char text[JMSG_LENGTH_MAX]) {
    text[0] = 0;
    (*common->err->format_message)(common, text);
}

/// Replaces libjpeg's error_exit, which prints and calls exit().
static void on_error(j_common_ptr common) {
    cjpeg_context *context = (cjpeg_context *)common->err;
    char text[JMSG_LENGTH_MAX];
    libjpeg_text(common, text);
    switch (common->err->msg_code) {
    case JERR_NO_BACKING_STORE:   // a whole-image buffer over max_memory_to_use
    case JERR_OUT_OF_MEMORY:
        cjpeg_fail(context, cjpeg_too_large, "needs more memory than allowed (%s)", text);
    case JERR_IMAGE_TOO_BIG:
        cjpeg_fail(context, cjpeg_too_large, "%s", text);
    case JERR_BAD_PRECISION:
    case JERR_CONVERSION_NOTIMPL:
        cjpeg_fail(context, cjpeg_unsupported, "%s", text);
    case JERR_INPUT_EMPTY:
        cjpeg_fail(context, cjpeg_truncated, "%s", text);
    default:
        cjpeg_fail(context, cjpeg_corrupt, "%s", text);
    }
}

/// Replaces libjpeg's emit_message, which prints the first warning to stderr.
/// Trace messages (level 0 and up) are dropped. A warning that the data ended
/// early is fatal: a truncated photo is an error, not a grey lower part. That
/// is the end of the file (JWRN_JPEG_EOF), and also a marker where a Huffman
/// scan still needed data (JWRN_HIT_MARKER), as when a file was cut and an
/// EOI put back, or a header claims more pixels than its data holds.
/// Other warnings (bytes libjpeg skips to find a marker, bad codes it
/// resynchronises past) are counted; more than the limit fail the decode.
static void on_message(j_common_ptr common, int level) {
    cjpeg_context *context = (cjpeg_context *)common->err;
    if (level >= 0 || context->limits == NULL) return;
    char text[JMSG_LENGTH_MAX];
    libjpeg_text(common, text);
    if (common->err->msg_code == JWRN_JPEG_EOF || common->err->msg_code == JWRN_HIT_MARKER) {
        cjpeg_fail(context, cjpeg_truncated, "the image data ends before the image does (%s)", text);
    }
    context->warnings += 1;
    if (context->report != NULL) {
        context->report->warnings = context->warnings;
        if (context->warnings == 1) {
            snprintf(context->report->first_warning, sizeof context->report->first_warning, "%s", text);
        }
    }
    if (context->warnings > context->limits->max_warnings) {
        cjpeg_fail(context, cjpeg_corrupt, "more than %d corrupt-data warnings (the last: %s)",
                   context->limits->max_warnings, text);
    }
}

/// Nothing is ever printed.
static void on_output(j_common_ptr common) {
    (void)common;
}

/// The blocks of all the image's components.
static uint64_t image_blocks(j_decompress_ptr cinfo) {
    uint64_t blocks = 0;
    for (int c = 0; c < cinfo->num_components; c += 1) {
        blocks += (uint64_t)cinfo->comp_info[c].width_in_blocks * cinfo->comp_info[c].height_in_blocks;
    }
    return blocks;
}

/// Called before each step of input (an iMCU row, or a marker) and each
/// batch of output rows. Each scan is a pass over the coefficients of its
/// components: a legal progressive file of a few hundred KB can hold
/// hundreds of scans over a 50-megapixel image, seconds of work. The scans
/// and the blocks they cover are counted as each scan starts.
static void on_progress(j_common_ptr common) {
    cjpeg_context *context = (cjpeg_context *)common->err;
    if (!common->is_decompressor || context->limits == NULL) return;
    j_decompress_ptr cinfo = (j_decompress_ptr)common;
    int scans = cinfo->input_scan_number;
    if (context->report != NULL) context->report->scans = scans;
    if (scans > context->limits->max_scans) {
        cjpeg_fail(context, cjpeg_too_large, "more than %d scans", context->limits->max_scans);
    }
    if (scans > context->counted_scan) {
        uint64_t scan_blocks = (uint64_t)cinfo->MCUs_per_row * cinfo->MCU_rows_in_scan * (uint64_t)cinfo->blocks_in_MCU;
        context->block_scans += scan_blocks * (uint64_t)(scans - context->counted_scan);
        context->counted_scan = scans;
        uint64_t blocks = image_blocks(cinfo);
        uint64_t budget = (uint64_t)context->limits->max_passes * (blocks < 65536 ? 65536 : blocks);
        if (context->block_scans > budget) {
            cjpeg_fail(context, cjpeg_too_large, "its %d scans so far are %.1f passes over the image, more than the %d allowed",
                       scans, (double)context->block_scans / (double)blocks, context->limits->max_passes);
        }
    }
}

void cjpeg_context_init(cjpeg_context *context, j_common_ptr common, const cjpeg_limits *limits,
                        cjpeg_report *report, char *message, size_t message_size) {
    memset(context, 0, sizeof *context);
    common->err = jpeg_std_error(&context->error);
    context->error.error_exit = on_error;
    context->error.emit_message = on_message;
    context->error.output_message = on_output;
    context->progress.progress_monitor = on_progress;
    context->status = cjpeg_ok;
    context->limits = limits;
    context->report = report;
    context->message = message;
    context->message_size = message_size;
    if (message_size > 0) message[0] = 0;
    if (report != NULL) memset(report, 0, sizeof *report);
}

long cjpeg_memory_limit(uint64_t limit) {
    return limit > (uint64_t)LONG_MAX ? LONG_MAX : (long)limit;
}
