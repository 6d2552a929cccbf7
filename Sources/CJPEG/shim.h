#ifndef PHOTOCLOUD_CJPEG_SHIM_H
#define PHOTOCLOUD_CJPEG_SHIM_H
// libjpeg-turbo's libjpeg API. jpeglib.h uses FILE and size_t without
// including their headers, so those come first. PNGCodec reaches libjpeg only
// through CJPEGReader, which keeps libjpeg's longjmps in C; this module is
// what puts the library's headers and link flag in the build.
#include <stddef.h>
#include <stdio.h>
#include <jpeglib.h>
#include <jerror.h>

#endif
