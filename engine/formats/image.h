/*
 * image.h — JPEG/PNG decoding, the ViT preprocessing, and a PNG writer.
 *
 * Decoding: the format comes from the magic bytes (PNG 89 50 4E 47..., JPEG
 * FF D8 FF), never from the file name. Every picture becomes a float32 tensor
 * [3, H, W] (planar RGB) of values in 0..255:
 *   - grayscale is copied to the three channels; palette is expanded;
 *   - alpha (RGBA, gray+alpha, palette tRNS) is dropped, not composited —
 *     what PIL's Image.convert("RGB") does;
 *   - 16-bit PNG samples become v / 257 (exact, no rounding to 8 bits);
 *   - CMYK/YCCK JPEGs are converted as PIL does: R = (255-C)(255-K)/255, ...
 *     with the Adobe inverted-CMYK convention when the Adobe marker says so;
 *   - no gamma/ICC correction and no EXIF rotation (PIL's Image.open does
 *     neither by default).
 * libpng/libjpeg errors become mgv_fail messages ("image: a.jpg: JPEG:
 * Premature end of JPEG file"); a truncated JPEG is an error (libjpeg alone
 * would only warn and pad with gray). Pictures wider or taller than
 * MGV_IMAGE_MAX_SIDE or larger than MGV_IMAGE_MAX_PIXELS are refused from the
 * header, before any pixel memory is allocated (decompression bombs).
 *
 * Preprocessing (what the ViT reference does): bilinear resize to S x S,
 * then x / 127.5 - 1, giving values in [-1, 1]. The resize uses half-pixel
 * centres (align_corners = false) and no antialiasing: it equals PyTorch's
 * F.interpolate(mode="bilinear", align_corners=False) and TF2's
 * tf.image.resize(method="bilinear", antialias=False). PIL's BILINEAR differs
 * when shrinking (it widens its filter to antialias).
 *
 * Writing: PNG (8-bit RGB), atomically (temp file, fsync, rename).
 */
#ifndef MGV_IMAGE_H
#define MGV_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

#define MGV_IMAGE_MAX_SIDE 16384            /* pixels per side */
#define MGV_IMAGE_MAX_PIXELS 100000000LL    /* width x height */
#define MGV_IMAGE_MAX_FILE (1LL << 30)      /* bytes read from one file */

/* What mgv_image_load does with a missing, unreadable or corrupt picture. */
typedef enum mgv_image_policy {
    MGV_IMAGE_FAIL = 0,     /* return -1 with the message */
    MGV_IMAGE_SKIP = 1,     /* return MGV_IMAGE_SKIPPED: the caller drops the sample */
    MGV_IMAGE_BLANK = 2     /* return MGV_IMAGE_ABSENT: "no image", the model masks it */
} mgv_image_policy;

/* Return codes of mgv_image_load / mgv_image_load_into (or -1 on error). */
#define MGV_IMAGE_OK 0
#define MGV_IMAGE_SKIPPED 1
#define MGV_IMAGE_ABSENT 2

/* ---- decoding -------------------------------------------------------- */
/* Decodes a PNG or JPEG held in memory into a new [3, H, W] tensor of values
 * in 0..255. what names the source in messages (a path; NULL → "<memory>"). */
mgv_tensor *mgv_image_decode(const unsigned char *buf, size_t len, const char *what);
/* Reads and decodes a file. */
mgv_tensor *mgv_image_read(const char *path);
/* Decodes into a malloc'd interleaved 8-bit RGB buffer (w*h*3 bytes; free()
 * it); 16-bit samples are rounded to 8 bits. For display and plots. */
int mgv_image_decode_rgb8(const unsigned char *buf, size_t len, const char *what,
                          int *width, int *height, uint8_t **rgb);
/* "png", "jpeg", or NULL when the magic bytes are neither. */
const char *mgv_image_format(const unsigned char *buf, size_t len);

/* ---- preprocessing --------------------------------------------------- */
/* Bilinear resize of a [C, H, W] tensor (any strides) to [C, out_h, out_w]
 * (half-pixel centres, no antialiasing; see above). No autograd. */
mgv_tensor *mgv_image_resize(const mgv_tensor *img, int out_h, int out_w);
/* In place: x → x / 127.5 - 1 (0..255 → -1..1). */
int mgv_image_scale_(mgv_tensor *img);
/* Resize to [3, size, size] and scale to [-1, 1]: the ViT input. */
mgv_tensor *mgv_image_preprocess(const mgv_tensor *img, int size);

/*
 * Loads path, preprocesses it to [3, size, size] in [-1, 1] and applies the
 * policy to failures. Returns MGV_IMAGE_OK with *out a new tensor, or — for
 * a missing/corrupt/oversized picture (or path NULL/"") — per policy:
 * MGV_IMAGE_FAIL → -1; MGV_IMAGE_SKIP → MGV_IMAGE_SKIPPED; MGV_IMAGE_BLANK →
 * MGV_IMAGE_ABSENT. In those cases *out is NULL and mgv_last_error() still
 * holds the reason, for a warning or a count. Bad arguments (size < 1,
 * out NULL) are always -1.
 */
int mgv_image_load(const char *path, int size, mgv_image_policy policy, mgv_tensor **out);
/* The same, writing the 3*size*size floats (planar) straight into dst — one
 * row of a [N, 3, S, S] batch. On SKIPPED/ABSENT dst is filled with zeros. */
int mgv_image_load_into(const char *path, int size, mgv_image_policy policy, float *dst);

/* ---- writing --------------------------------------------------------- */
/* Encodes interleaved 8-bit RGB (w*h*3 bytes, rows top to bottom) as PNG into
 * a malloc'd buffer (free() it): for notebooks, which want the bytes. */
int mgv_png_encode_rgb(int w, int h, const uint8_t *rgb, unsigned char **out, size_t *out_len);
/* Writes interleaved 8-bit RGB to path as PNG, atomically. */
int mgv_png_write_rgb(const char *path, int w, int h, const uint8_t *rgb);
/* Writes a float image [3, H, W], [1, H, W] or [H, W] (gray) as PNG, mapping
 * lo → 0 and hi → 255 (clamped, rounded): (0, 255) for decoded pictures,
 * (-1, 1) for preprocessed ones. */
int mgv_image_write_png(const char *path, const mgv_tensor *img, float lo, float hi);

#endif
