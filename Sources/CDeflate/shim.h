#ifndef PHOTOCLOUD_CDEFLATE_SHIM_H
#define PHOTOCLOUD_CDEFLATE_SHIM_H
// libdeflate: whole-buffer DEFLATE, about twice as fast as zlib at its
// fastest level, for the PNG encoder's single-part images.
#include <libdeflate.h>
#endif
