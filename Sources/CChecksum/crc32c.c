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
// Three independent chains over consecutive blocks: the crc32 instruction has a
// latency of 3 cycles and a throughput of 1, so one chain uses a third of it
// (the transfer's 60 KB chunks spent 5% of a loopback transfer here). The
// chains are joined by linearity: crc(A || B) = shift(crc(A), |B|) ^ crc0(B),
// where shifting by a block's zeros is a 32x32 bit matrix, applied by tables.
#define CRC32C_BLOCK 4096
static uint32_t shift_table[4][256];
static int shift_ready;

__attribute__((target("sse4.2")))
static uint32_t crc32c_zeros(uint32_t crc, size_t length) {
    uint64_t crc64 = crc;
    for (size_t i = 0; i < length / 8; i++) crc64 = __builtin_ia32_crc32di(crc64, 0);
    return (uint32_t)crc64;
}

// The table for one block of zeros, from the 32 shifted unit vectors (building
// it twice from two threads is harmless: same values).
static void build_shift_table(void) {
    uint32_t basis[32];
    for (int bit = 0; bit < 32; bit++) basis[bit] = crc32c_zeros(1u << bit, CRC32C_BLOCK);
    for (int k = 0; k < 4; k++) {
        for (uint32_t n = 0; n < 256; n++) {
            uint32_t value = 0;
            for (int bit = 0; bit < 8; bit++) if (n & (1u << bit)) value ^= basis[8 * k + bit];
            shift_table[k][n] = value;
        }
    }
    __atomic_store_n(&shift_ready, 1, __ATOMIC_RELEASE);
}

static inline uint32_t shift_block(uint32_t crc) {
    return shift_table[0][crc & 0xFF] ^ shift_table[1][(crc >> 8) & 0xFF] ^
           shift_table[2][(crc >> 16) & 0xFF] ^ shift_table[3][crc >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *p, size_t length) {
    if (length >= 3 * CRC32C_BLOCK) {
        if (!__atomic_load_n(&shift_ready, __ATOMIC_ACQUIRE)) build_shift_table();
        while (length >= 3 * CRC32C_BLOCK) {
            uint64_t a = crc, b = 0, c = 0;
            const unsigned char *pa = p, *pb = p + CRC32C_BLOCK, *pc = p + 2 * CRC32C_BLOCK;
            for (size_t i = 0; i < CRC32C_BLOCK; i += 8) {
                uint64_t wa, wb, wc;
                memcpy(&wa, pa + i, 8);
                memcpy(&wb, pb + i, 8);
                memcpy(&wc, pc + i, 8);
                a = __builtin_ia32_crc32di(a, wa);
                b = __builtin_ia32_crc32di(b, wb);
                c = __builtin_ia32_crc32di(c, wc);
            }
            crc = shift_block(shift_block((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)c;
            p += 3 * CRC32C_BLOCK;
            length -= 3 * CRC32C_BLOCK;
        }
    }
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
