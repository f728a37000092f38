/*
 * fuzz_png.c — the PNG loader of engine/formats/image.c (libpng behind it).
 *
 * The harness forces the PNG signature and recomputes every chunk CRC, so
 * that mutations reach the chunk parsers instead of failing the checksum.
 */
#include "fuzz_image.h"

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    }
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return crc;
}

FUZZ_TARGET(png)
{
    if (size < 8) return 0;
    uint8_t *b = malloc(size);
    if (!b) return 0;
    memcpy(b, data, size);
    memcpy(b, png_sig, 8);
    for (size_t p = 8; p + 12 <= size;) {
        size_t len = fuzz_be32(b + p);
        if (len > size - p - 12) break;
        uint32_t crc = crc_update(0xFFFFFFFFu, b + p + 4, len + 4) ^ 0xFFFFFFFFu;
        uint8_t *c = b + p + 8 + len;
        c[0] = (uint8_t)(crc >> 24), c[1] = (uint8_t)(crc >> 16);
        c[2] = (uint8_t)(crc >> 8), c[3] = (uint8_t)crc;
        p += 12 + len;
    }
    fuzz_decode_image(b, size);
    free(b);
    return 0;
}
