#ifndef CCHECKSUM_H
#define CCHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli) of `length` bytes, continuing from `crc` (0 to start).
/// Uses the SSE4.2 or ARMv8 CRC instructions when the CPU has them, a table
/// otherwise; all paths give the same result.
uint32_t cchecksum_crc32c(uint32_t crc, const void *data, size_t length);

/// The table-driven path alone (tests compare it with the hardware path).
uint32_t cchecksum_crc32c_portable(uint32_t crc, const void *data, size_t length);

#endif
