/* 64-bit hash mixing for structural hashes (canonical order, skeletons):
 * fast, not cryptographic.  Header-only so that the per-node loops that
 * call them stay inlined. */
#ifndef PX_UTIL_HASH_H
#define PX_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The 64-bit finalizer of MurmurHash3: every input bit reaches every output
 * bit, so sums of mixed values (order-free combinations) stay distinct. */
static inline uint64_t px_fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* h combined with x (order matters). */
static inline uint64_t px_mix64(uint64_t h, uint64_t x)
{
    return px_fmix64(h ^ (x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

/* h combined with n bytes, 32 at a time in four independent lanes so that
 * hashing a large model's weights runs near memory speed. */
static inline uint64_t px_mix_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t lane[4] = {h ^ 0x243f6a8885a308d3ULL, h ^ 0x13198a2e03707344ULL, h ^ 0xa4093822299f31d0ULL,
                        h ^ 0x082efa98ec4e6c89ULL};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int l = 0; l < 4; l++) {
            uint64_t w;
            memcpy(&w, b + i + 8 * l, 8);
            lane[l] = (lane[l] ^ w) * 0x9fb21c651e98df25ULL;
            lane[l] ^= lane[l] >> 29;
        }
    uint64_t r = px_mix64(px_mix64(px_mix64(px_mix64(n, lane[0]), lane[1]), lane[2]), lane[3]);
    for (; i < n; i++) r = px_mix64(r, b[i]);
    return r;
}

/* h combined with a C string (NULL differs from ""). */
static inline uint64_t px_mix_str(uint64_t h, const char *s)
{
    return s ? px_mix_bytes(h, s, strlen(s)) : px_mix64(h, 1);
}

#endif
