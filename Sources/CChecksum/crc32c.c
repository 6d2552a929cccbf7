#include "CChecksum.h"

#include <string.h>

// Reflected Castagnoli polynomial.
#define CRC32C_POLY 0x82F63B78u

static uint32_t table[8][256];
static int table_ready;

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (CRC32C_POLY & (0u - (crc & 1)));
        table[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = table[0][n];
        for (int k = 1; k < 8; k++) {
            crc = table[0][crc & 0xFF] ^ (crc >> 8);
            table[k][n] = crc;
        }
    }
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

// Slicing-by-8; building the table twice from two threads is harmless (same values).
static uint32_t crc32c_software(uint32_t crc, const unsigned char *p, size_t length) {
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) build_table();
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        word = __builtin_bswap64(word);
#endif
        word ^= crc;
        crc = table[7][word & 0xFF] ^ table[6][(word >> 8) & 0xFF] ^ table[5][(word >> 16) & 0xFF] ^
              table[4][(word >> 24) & 0xFF] ^ table[3][(word >> 32) & 0xFF] ^ table[2][(word >> 40) & 0xFF] ^
              table[1][(word >> 48) & 0xFF] ^ table[0][word >> 56];
        p += 8;
        length -= 8;
    }
    while (length--) crc = table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *p, size_t length) {
    uint64_t crc64 = crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc64 = __builtin_ia32_crc32di(crc64, word);
        p += 8;
        length -= 8;
    }
    uint32_t crc32 = (uint32_t)crc64;
    while (length--) crc32 = __builtin_ia32_crc32qi(crc32, *p++);
    return crc32;
}
static int hardware_available(void) { return __builtin_cpu_supports("sse4.2"); }
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *p, size_t length) {
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = __crc32cd(crc, word);
        p += 8;
        length -= 8;
    }
    while (length--) crc = __crc32cb(crc, *p++);
    return crc;
}
static int hardware_available(void) { return 1; }
#else
static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *p, size_t length) {
    return crc32c_software(crc, p, length);
}
static int hardware_available(void) { return 0; }
#endif

uint32_t cchecksum_crc32c(uint32_t crc, const void *data, size_t length) {
    static int mode;  // 0 unknown, 1 hardware, 2 software
    int current = __atomic_load_n(&mode, __ATOMIC_RELAXED);
    if (current == 0) {
        current = hardware_available() ? 1 : 2;
        __atomic_store_n(&mode, current, __ATOMIC_RELAXED);
    }
    const unsigned char *p = data;
    crc = ~crc;
    crc = current == 1 ? crc32c_hardware(crc, p, length) : crc32c_software(crc, p, length);
    return ~crc;
}

uint32_t cchecksum_crc32c_portable(uint32_t crc, const void *data, size_t length) {
    return ~crc32c_software(~crc, data, length);
}
