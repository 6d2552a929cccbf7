#ifndef PHOTOCLOUD_CJPEG_CONTEXT_H
#define PHOTOCLOUD_CJPEG_CONTEXT_H
// What the reader and the writer share: libjpeg's error manager replaced by
// one that records and longjmps, and a progress monitor that counts scans.
#include "CJPEGReader.h"
#include <setjmp.h>
#include <stdio.h>
#include <jpeglib.h>

typedef struct {
    /// First, so libjpeg's `err` pointer is also a pointer to the context.
    struct jpeg_error_mgr error;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    cjpeg_status status;
    /// NULL while encoding: no warnings or scans are counted then.
    const cjpeg_limits *limits;
    cjpeg_report *report;
    long warnings;
    /// The scan whose blocks were last added to `block_scans`.
    int counted_scan;
    uint64_t block_scans;
    char *message;
    size_t message_size;
} cjpeg_context;

/// Points `common->err` at the context's error manager and clears the
/// message; `common` must not be created yet (jpeg_create_* comes after).
void cjpeg_context_init(cjpeg_context *context, j_common_ptr common, const cjpeg_limits *limits,
                        cjpeg_report *report, char *message, size_t message_size);

/// Records `status` and a message, then longjmps to the context's setjmp.
void cjpeg_fail(cjpeg_context *context, cjpeg_status status, const char *format, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

/// libjpeg's memory manager takes a long; the limit is a uint64_t.
long cjpeg_memory_limit(uint64_t limit);

#endif
