/*
 * fuzz_image.h — the part fuzz_png.c and fuzz_jpeg.c share: decode a buffer
 * both ways (mgv_image_decode and mgv_image_decode_rgb8) and compare.
 *
 * Pictures whose header announces more than FUZZ_MAX_PIXELS are skipped
 * before decoding: image.c accepts up to 100 Mpx by design, and decoding
 * that under ASan would only make the fuzzer slow, not find bugs.
 *
 * Properties checked: both decoders succeed or fail together; the tensor is
 * [3, H, W] with every value in 0..255; the 8-bit picture has the same size
 * and each byte is the tensor value rounded.
 */
#ifndef MGV_FUZZ_IMAGE_H
#define MGV_FUZZ_IMAGE_H

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "fuzz.h"
#include "formats/image.h"

#define FUZZ_MAX_PIXELS (512L * 512L)

static unsigned long fuzz_be16(const uint8_t *p) { return (unsigned long)p[0] << 8 | p[1]; }

static unsigned long fuzz_be32(const uint8_t *p)
{
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
}

/* 1 when the header announces a picture small enough to decode here. */
static int fuzz_small_enough(const uint8_t *b, size_t n)
{
    const char *fmt = mgv_image_format(b, n);
    if (!fmt) return 1;
    if (fmt[0] == 'p') {   /* IHDR is the first chunk */
        if (n < 24 || memcmp(b + 12, "IHDR", 4)) return 1;
        unsigned long w = fuzz_be32(b + 16), h = fuzz_be32(b + 20);
        return w <= FUZZ_MAX_PIXELS && h <= FUZZ_MAX_PIXELS && w * h <= FUZZ_MAX_PIXELS;
    }
    /* JPEG: find the frame header (SOFn) as libjpeg does: markers are 0xFF
     * (any number) then a byte other than 0; bytes between segments are
     * skipped as garbage. */
    size_t p = 2;
    for (;;) {
        while (p < n && b[p] != 0xFF) p++;
        while (p < n && b[p] == 0xFF) p++;
        if (p >= n) return 1;
        unsigned m = b[p++];
        if (m == 0 || m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;
        if (m == 0xDA || m == 0xD9) return 1;   /* scan or end before a frame */
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            if (p + 7 > n) return 1;
            unsigned long h = fuzz_be16(b + p + 3), w = fuzz_be16(b + p + 5);
            return w * h <= FUZZ_MAX_PIXELS;
        }
        if (p + 2 > n) return 1;
        p += fuzz_be16(b + p);
    }
}

static void fuzz_decode_image(const uint8_t *buf, size_t len)
{
    if (!fuzz_small_enough(buf, len)) return;
    mgv_tensor *t = mgv_image_decode(buf, len, "fuzz");
    int w = -1, h = -1;
    uint8_t *rgb = NULL;
    int rc = mgv_image_decode_rgb8(buf, len, "fuzz", &w, &h, &rgb);
    FUZZ_CHECK((t != NULL) == (rc == 0));
    if (!t) {
        FUZZ_CHECK(mgv_last_error()[0] != '\0' && !rgb);
        return;
    }
    FUZZ_CHECK(t->ndim == 3 && t->shape[0] == 3 && t->shape[1] == h && t->shape[2] == w);
    FUZZ_CHECK(w > 0 && h > 0 && rgb);
    const float *d = mgv_data(t);
    size_t plane = (size_t)w * (size_t)h;
    for (size_t c = 0; c < 3; c++) {
        for (size_t i = 0; i < plane; i++) {
            float v = d[c * plane + i];
            FUZZ_CHECK(v >= 0.0f && v <= 255.0f);
            FUZZ_CHECK(fabsf((float)rgb[3 * i + c] - v) <= 0.5f + 1e-3f);
        }
    }
    free(rgb);
    mgv_release(t);
}

#endif
