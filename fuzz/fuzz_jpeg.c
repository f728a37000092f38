/*
 * fuzz_jpeg.c — the JPEG loader of engine/formats/image.c (libjpeg behind it).
 * The harness forces the JPEG start (FF D8 FF).
 */
#include "fuzz_image.h"

FUZZ_TARGET(jpeg)
{
    if (size < 3) return 0;
    uint8_t *b = malloc(size);
    if (!b) return 0;
    memcpy(b, data, size);
    b[0] = 0xFF, b[1] = 0xD8, b[2] = 0xFF;
    fuzz_decode_image(b, size);
    free(b);
    return 0;
}
