/*
 * image.c — JPEG/PNG decoding, ViT preprocessing and PNG writing (image.h).
 *
 * Both decoders first produce a "raw" picture: interleaved rows exactly as
 * the library hands them out (1-4 channels, 8- or 16-bit big-endian, or CMYK),
 * and one converter turns that into planar float RGB or 8-bit RGB. libpng and
 * libjpeg report errors by calling a function that must not return; ours
 * record the message and longjmp back to the setjmp in the *_inner function.
 * Everything those functions allocate hangs off a context struct owned by
 * the caller's frame, so nothing is lost across the jump and the caller
 * frees it on both paths.
 */
#include "formats/image.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "core/error.h"
#include "core/fileio.h"

#define MGV_JPEG_MAX_SCANS 1000     /* progressive scans (CPU bomb guard) */

/* A decoded picture before conversion. */
typedef struct raw_image {
    int w, h;
    int channels;           /* 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA or CMYK */
    int depth;              /* 8 or 16 (16-bit samples big-endian) */
    int cmyk;               /* 0; 1 plain CMYK; 2 Adobe (inverted) CMYK */
    size_t stride;          /* bytes per row */
    unsigned char *pix;     /* h * stride bytes */
} raw_image;

static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

const char *mgv_image_format(const unsigned char *buf, size_t len)
{
    if (!buf) return NULL;
    if (len >= 8 && memcmp(buf, png_magic, 8) == 0) return "png";
    if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF) return "jpeg";
    return NULL;
}

/* Names a few formats people meet instead of PNG/JPEG (a web page saved
 * under a .jpg name is a classic of scraped data sets). */
static const char *guess_other_format(const unsigned char *b, size_t len)
{
    if (len >= 4 && memcmp(b, "GIF8", 4) == 0) return "GIF";
    if (len >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) return "WebP";
    if (len >= 2 && b[0] == 'B' && b[1] == 'M') return "BMP";
    if (len >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0)) return "TIFF";
    if (len >= 12 && memcmp(b + 4, "ftyp", 4) == 0) return "HEIF/AVIF or MP4";
    size_t i = 0;
    while (i < len && i < 64 && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n')) i++;
    if (i < len && b[i] == '<') return "HTML/XML text";
    return NULL;
}

/* Refuses empty and oversized pictures from their header, before any pixel
 * memory exists. */
static int check_dims(const char *what, const char *fmt, unsigned long w, unsigned long h)
{
    if (w == 0 || h == 0)
        return mgv_fail("image: %s: %s has zero size (%lux%lu)", what, fmt, w, h);
    if (w > MGV_IMAGE_MAX_SIDE || h > MGV_IMAGE_MAX_SIDE)
        return mgv_fail("image: %s: %s is %lux%lu pixels; refusing more than %d per side "
                        "(decompression bomb?)", what, fmt, w, h, MGV_IMAGE_MAX_SIDE);
    if ((long long)w * (long long)h > MGV_IMAGE_MAX_PIXELS)
        return mgv_fail("image: %s: %s is %lux%lu = %.1f Mpx; refusing more than %lld Mpx "
                        "(decompression bomb?)", what, fmt, w, h, (double)w * (double)h / 1e6,
                        MGV_IMAGE_MAX_PIXELS / 1000000);
    return 0;
}

/* ---- PNG decoding ---------------------------------------------------- */

typedef struct png_rctx {
    char msg[256];          /* first member: the shared error callback writes here */
    const char *what;
    const unsigned char *buf;
    size_t len, pos;
    raw_image *img;
    png_bytep *rows;
} png_rctx;

static void png_error_cb(png_structp png, png_const_charp msg)
{
    char *dst = (char *)png_get_error_ptr(png);
    snprintf(dst, 256, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warning_cb(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;              /* warnings are not worth a word on stderr */
}

static void png_read_cb(png_structp png, png_bytep out, size_t n)
{
    png_rctx *c = (png_rctx *)png_get_io_ptr(png);
    if (n > c->len - c->pos) png_error(png, "file is truncated");
    memcpy(out, c->buf + c->pos, n);
    c->pos += n;
}

static int png_decode_inner(png_rctx *c, png_structp png, png_infop info)
{
    if (setjmp(png_jmpbuf(png))) return -1;
    png_set_read_fn(png, c, png_read_cb);
    /* Chunks we never use are skipped unread. libpng would otherwise buffer
     * each whole at its declared length (no limit in this build: a 200-byte
     * file claiming a 2 GB tEXt made a 2 GB malloc) and inflate the
     * compressed ones (zip bombs). */
    static const png_byte unused_chunks[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0pCAL\0sCAL\0eXIf\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, unused_chunks,
                                (int)(sizeof unused_chunks / 5));
    png_read_info(png, info);

    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    if (check_dims(c->what, "PNG", w, h) < 0) return -2;

    /* Palette → RGB (tRNS becomes a 4th channel), 1/2/4-bit gray → 8-bit.
     * Gray stays one channel and alpha stays in: the converter handles both. */
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int ch = png_get_channels(png, info);
    int d = png_get_bit_depth(png, info);
    size_t stride = png_get_rowbytes(png, info);
    if ((d != 8 && d != 16) || ch < 1 || ch > 4 || stride != (size_t)w * ch * (d / 8))
        png_error(png, "unexpected pixel layout after expansion");
    c->img->w = (int)w;
    c->img->h = (int)h;
    c->img->channels = ch;
    c->img->depth = d;
    c->img->stride = stride;
    c->img->pix = malloc(stride * h);
    c->rows = malloc(sizeof *c->rows * h);
    if (!c->img->pix || !c->rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) c->rows[y] = c->img->pix + (size_t)y * stride;
    png_read_image(png, c->rows);
    /* png_read_end is skipped on purpose: the pixels are complete, and a
     * missing IEND or a damaged trailing chunk should not lose them. */
    return 0;
}

static int png_decode(const unsigned char *buf, size_t len, const char *what, raw_image *img)
{
    png_rctx c;
    memset(&c, 0, sizeof c);
    c.what = what;
    c.buf = buf;
    c.len = len;
    c.img = img;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c.msg, png_error_cb,
                                             png_warning_cb);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        return mgv_fail("image: %s: PNG: cannot create the decoder (out of memory)", what);
    }
    int rc = png_decode_inner(&c, png, info);
    png_destroy_read_struct(&png, &info, NULL);
    free(c.rows);
    if (rc < 0) {
        free(img->pix);
        img->pix = NULL;
        if (rc == -1) return mgv_fail("image: %s: PNG: %s", what, c.msg);
        return -1;          /* check_dims set the message */
    }
    return 0;
}

/* ---- JPEG decoding --------------------------------------------------- */

typedef struct jpeg_ctx {
    struct jpeg_error_mgr err;      /* first member: libjpeg casts cinfo->err to us */
    struct jpeg_source_mgr src;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX + 64];
    const char *what;
    const unsigned char *buf;
    size_t len;
    raw_image *img;
} jpeg_ctx;

static void jpeg_error_exit_cb(j_common_ptr cinfo)
{
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
    cinfo->err->format_message(cinfo, c->msg);
    longjmp(c->jump, 1);
}

static void jpeg_emit_message_cb(j_common_ptr cinfo, int level)
{
    if (level < 0) cinfo->err->num_warnings++;  /* corrupt-data warnings: tolerated */
}

static void jpeg_output_message_cb(j_common_ptr cinfo)
{
    (void)cinfo;
}

/* Stops progressive files with absurd scan counts (each scan re-walks the
 * whole coefficient buffer: a CPU bomb in a few kilobytes). */
static void jpeg_progress_cb(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->progressive_mode && d->input_scan_number > MGV_JPEG_MAX_SCANS) {
        jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
        snprintf(c->msg, sizeof c->msg, "more than %d progressive scans", MGV_JPEG_MAX_SCANS);
        longjmp(c->jump, 1);
    }
}

/* A memory source whose end of data is an error: libjpeg's own sources only
 * warn, invent an EOI and pad the picture with gray. */
static void jpeg_src_init(j_decompress_ptr cinfo) { (void)cinfo; }

static boolean jpeg_src_fill(j_decompress_ptr cinfo)
{
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
    snprintf(c->msg, sizeof c->msg, "file is truncated (premature end of JPEG data)");
    longjmp(c->jump, 1);
    return FALSE;
}

static void jpeg_src_skip(j_decompress_ptr cinfo, long n)
{
    struct jpeg_source_mgr *s = cinfo->src;
    if (n <= 0) return;
    if ((size_t)n > s->bytes_in_buffer) jpeg_src_fill(cinfo);
    s->next_input_byte += n;
    s->bytes_in_buffer -= (size_t)n;
}

static void jpeg_src_term(j_decompress_ptr cinfo) { (void)cinfo; }

static int jpeg_decode_inner(jpeg_ctx *c, struct jpeg_decompress_struct *cinfo)
{
    if (setjmp(c->jump)) return -1;
    jpeg_create_decompress(cinfo);
    c->src.init_source = jpeg_src_init;
    c->src.fill_input_buffer = jpeg_src_fill;
    c->src.skip_input_data = jpeg_src_skip;
    c->src.resync_to_restart = jpeg_resync_to_restart;
    c->src.term_source = jpeg_src_term;
    c->src.next_input_byte = c->buf;
    c->src.bytes_in_buffer = c->len;
    cinfo->src = &c->src;
    c->progress.progress_monitor = jpeg_progress_cb;
    cinfo->progress = &c->progress;

    jpeg_read_header(cinfo, TRUE);
    if (check_dims(c->what, "JPEG", cinfo->image_width, cinfo->image_height) < 0) return -2;
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo->out_color_space = JCS_GRAYSCALE;     /* replicated by the converter */
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo->out_color_space = JCS_CMYK;          /* libjpeg turns YCCK into CMYK */
        c->img->cmyk = cinfo->saw_Adobe_marker ? 2 : 1;
        break;
    default:
        cinfo->out_color_space = JCS_RGB;
        break;
    }
    jpeg_start_decompress(cinfo);

    int comps = cinfo->output_components;
    if ((comps != 1 && comps != 3 && comps != 4) || (comps == 4) != (c->img->cmyk != 0) ||
        cinfo->output_width != cinfo->image_width || cinfo->output_height != cinfo->image_height) {
        snprintf(c->msg, sizeof c->msg, "unexpected output layout (%d components)", comps);
        return -1;
    }
    c->img->w = (int)cinfo->output_width;
    c->img->h = (int)cinfo->output_height;
    c->img->channels = comps;
    c->img->depth = 8;
    c->img->stride = (size_t)c->img->w * (size_t)comps;
    c->img->pix = malloc(c->img->stride * (size_t)c->img->h);
    if (!c->img->pix) {
        snprintf(c->msg, sizeof c->msg, "out of memory for %dx%d pixels", c->img->w, c->img->h);
        return -1;
    }
    while (cinfo->output_scanline < cinfo->output_height) {
        JSAMPROW row = c->img->pix + (size_t)cinfo->output_scanline * c->img->stride;
        jpeg_read_scanlines(cinfo, &row, 1);
    }
    /* No jpeg_finish_decompress: the pixels are complete; a missing EOI after
     * them should not lose the picture. jpeg_destroy_decompress cleans up. */
    return 0;
}

static int jpeg_decode(const unsigned char *buf, size_t len, const char *what, raw_image *img)
{
    jpeg_ctx c;
    struct jpeg_decompress_struct cinfo;
    memset(&c, 0, sizeof c);
    memset(&cinfo, 0, sizeof cinfo);
    c.what = what;
    c.buf = buf;
    c.len = len;
    c.img = img;
    cinfo.err = jpeg_std_error(&c.err);
    c.err.error_exit = jpeg_error_exit_cb;
    c.err.emit_message = jpeg_emit_message_cb;
    c.err.output_message = jpeg_output_message_cb;
    int rc = jpeg_decode_inner(&c, &cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (rc < 0) {
        free(img->pix);
        img->pix = NULL;
        if (rc == -1) return mgv_fail("image: %s: JPEG: %s", what, c.msg);
        return -1;
    }
    return 0;
}

/* ---- raw → RGB ------------------------------------------------------- */

/* Row y of a raw picture as float RGB in 0..255, into three arrays. */
static void raw_row_rgb(const raw_image *r, int y, float *R, float *G, float *B)
{
    const unsigned char *p = r->pix + (size_t)y * r->stride;
    int ch = r->channels, w = r->w;
    if (r->cmyk) {
        /* PIL: R = (255 - C)(255 - K) / 255; Adobe files store 255 - ink.
         * In double: with a float 1/255, 255 * 255 came out as 255.000015. */
        const double inv255 = 1.0 / 255.0;
        int adobe = r->cmyk == 2;
        for (int x = 0; x < w; x++, p += 4) {
            int nc = adobe ? p[0] : 255 - p[0], nm = adobe ? p[1] : 255 - p[1];
            int ny = adobe ? p[2] : 255 - p[2], nk = adobe ? p[3] : 255 - p[3];
            R[x] = (float)(nc * nk * inv255);
            G[x] = (float)(nm * nk * inv255);
            B[x] = (float)(ny * nk * inv255);
        }
    } else if (r->depth == 16) {
        const float inv257 = 1.0f / 257.0f;     /* 65535 / 257 = 255 */
        for (int x = 0; x < w; x++, p += 2 * ch) {
            float v0 = (float)((p[0] << 8) | p[1]) * inv257;
            if (ch <= 2) {
                R[x] = G[x] = B[x] = v0;
            } else {
                R[x] = v0;
                G[x] = (float)((p[2] << 8) | p[3]) * inv257;
                B[x] = (float)((p[4] << 8) | p[5]) * inv257;
            }
        }
    } else if (ch <= 2) {
        for (int x = 0; x < w; x++, p += ch) R[x] = G[x] = B[x] = p[0];
    } else {
        for (int x = 0; x < w; x++, p += ch) {
            R[x] = p[0];
            G[x] = p[1];
            B[x] = p[2];
        }
    }
}

static mgv_tensor *raw_to_tensor(const raw_image *r, const char *what)
{
    int64_t shape[3] = {3, r->h, r->w};
    mgv_tensor *t = mgv_empty(3, shape);
    if (!t) {
        mgv_error_context("image: %s", what);
        return NULL;
    }
    size_t plane = (size_t)r->w * (size_t)r->h;
    float *R = mgv_data(t), *G = R + plane, *B = G + plane;
    for (int y = 0; y < r->h; y++) {
        size_t o = (size_t)y * (size_t)r->w;
        raw_row_rgb(r, y, R + o, G + o, B + o);
    }
    return t;
}

static int decode_raw(const unsigned char *buf, size_t len, const char *what, raw_image *img)
{
    memset(img, 0, sizeof *img);
    if (!what) what = "<memory>";
    if (!buf && len > 0) return mgv_fail("image: %s: buffer is NULL", what);
    if (len == 0) return mgv_fail("image: %s: empty file (0 bytes)", what);
    const char *fmt = mgv_image_format(buf, len);
    if (fmt && fmt[0] == 'p') return png_decode(buf, len, what, img);
    if (fmt) return jpeg_decode(buf, len, what, img);
    const char *other = guess_other_format(buf, len);
    if (other)
        return mgv_fail("image: %s: not a PNG or JPEG (looks like %s, which is not supported)",
                        what, other);
    char hex[3 * 8 + 1] = "";
    for (size_t i = 0; i < len && i < 8; i++) snprintf(hex + 3 * i, 4, "%02x ", buf[i]);
    if (hex[0]) hex[strlen(hex) - 1] = '\0';
    return mgv_fail("image: %s: not a PNG or JPEG (%zu bytes starting %s)", what, len, hex);
}

mgv_tensor *mgv_image_decode(const unsigned char *buf, size_t len, const char *what)
{
    raw_image img;
    if (!what) what = "<memory>";
    if (decode_raw(buf, len, what, &img) < 0) return NULL;
    mgv_tensor *t = raw_to_tensor(&img, what);
    free(img.pix);
    return t;
}

int mgv_image_decode_rgb8(const unsigned char *buf, size_t len, const char *what, int *width,
                          int *height, uint8_t **rgb)
{
    raw_image img;
    if (!what) what = "<memory>";
    if (!width || !height || !rgb)
        return mgv_fail("image: %s: decode_rgb8: output pointer is NULL", what);
    *rgb = NULL;
    if (decode_raw(buf, len, what, &img) < 0) return -1;
    uint8_t *out = malloc((size_t)img.w * (size_t)img.h * 3);
    float *row = malloc(sizeof(float) * 3 * (size_t)img.w);
    if (!out || !row) {
        free(out);
        free(row);
        free(img.pix);
        return mgv_fail("image: %s: out of memory for %dx%d pixels", what, img.w, img.h);
    }
    for (int y = 0; y < img.h; y++) {
        float *R = row, *G = row + img.w, *B = row + 2 * img.w;
        raw_row_rgb(&img, y, R, G, B);
        uint8_t *o = out + (size_t)y * (size_t)img.w * 3;
        for (int x = 0; x < img.w; x++) {     /* values are in 0..255 already */
            o[3 * x] = (uint8_t)(R[x] + 0.5f);
            o[3 * x + 1] = (uint8_t)(G[x] + 0.5f);
            o[3 * x + 2] = (uint8_t)(B[x] + 0.5f);
        }
    }
    free(row);
    *width = img.w;
    *height = img.h;
    *rgb = out;
    free(img.pix);
    return 0;
}

mgv_tensor *mgv_image_read(const char *path)
{
    if (!path || !*path) return mgv_fail_null("image: no file name given");
    size_t len;
    unsigned char *buf = (unsigned char *)mgv_read_file(path, &len, MGV_IMAGE_MAX_FILE, "image");
    if (!buf) return NULL;
    mgv_tensor *t = mgv_image_decode(buf, len, path);
    free(buf);
    return t;
}

/* ---- preprocessing --------------------------------------------------- */

/* Source index pairs and weights for one axis: half-pixel centres, source
 * coordinate clamped at 0 below and the last pixel above (PyTorch's rule). */
static void bilinear_axis(int in, int out, int *i0, int *i1, float *lambda)
{
    double scale = (double)in / (double)out;
    for (int o = 0; o < out; o++) {
        double s = ((double)o + 0.5) * scale - 0.5;
        if (s < 0) s = 0;
        int k = (int)s;
        if (k > in - 1) k = in - 1;
        i0[o] = k;
        i1[o] = k < in - 1 ? k + 1 : k;
        lambda[o] = (float)(s - k);
    }
}

mgv_tensor *mgv_image_resize(const mgv_tensor *img, int out_h, int out_w)
{
    char sbuf[64];
    if (!img) return mgv_fail_null("image_resize: image is NULL");
    if (img->ndim != 3)
        return mgv_fail_null("image_resize: expected a [C, H, W] image, got %s",
                             mgv_shape_str(img, sbuf, sizeof sbuf));
    if (out_h < 1 || out_w < 1 || out_h > MGV_IMAGE_MAX_SIDE || out_w > MGV_IMAGE_MAX_SIDE)
        return mgv_fail_null("image_resize: output size %dx%d is not in 1..%d", out_h, out_w,
                             MGV_IMAGE_MAX_SIDE);
    int64_t C = img->shape[0], H = img->shape[1], W = img->shape[2];
    if (C < 1 || H < 1 || W < 1 || H > MGV_IMAGE_MAX_SIDE || W > MGV_IMAGE_MAX_SIDE)
        return mgv_fail_null("image_resize: cannot resize a %s image",
                             mgv_shape_str(img, sbuf, sizeof sbuf));
    int64_t shape[3] = {C, out_h, out_w};
    mgv_tensor *out = mgv_empty(3, shape);
    if (!out) return NULL;
    int *yi = malloc(sizeof(int) * 2 * ((size_t)out_h + (size_t)out_w));
    float *yl = malloc(sizeof(float) * ((size_t)out_h + (size_t)out_w));
    if (!yi || !yl) {
        free(yi);
        free(yl);
        mgv_release(out);
        return mgv_fail_null("image_resize: out of memory");
    }
    int *y0 = yi, *y1 = yi + out_h, *x0 = yi + 2 * out_h, *x1 = x0 + out_w;
    float *ly = yl, *lx = yl + out_h;
    bilinear_axis((int)H, out_h, y0, y1, ly);
    bilinear_axis((int)W, out_w, x0, x1, lx);
    /* column offsets in elements, so strided inputs need no copy */
    int64_t sc = img->stride[0], sy = img->stride[1], sx = img->stride[2];
    const float *src = mgv_data(img);
    float *dst = mgv_data(out);
    for (int64_t c = 0; c < C; c++) {
        for (int oy = 0; oy < out_h; oy++) {
            const float *r0 = src + c * sc + y0[oy] * sy, *r1 = src + c * sc + y1[oy] * sy;
            float b = ly[oy], a = 1.0f - b;
            float *d = dst + (c * out_h + oy) * out_w;
            for (int ox = 0; ox < out_w; ox++) {
                float q = lx[ox], p = 1.0f - q;
                int64_t i = x0[ox] * sx, j = x1[ox] * sx;
                d[ox] = a * (p * r0[i] + q * r0[j]) + b * (p * r1[i] + q * r1[j]);
            }
        }
    }
    free(yi);
    free(yl);
    return out;
}

int mgv_image_scale_(mgv_tensor *img)
{
    if (!img) return mgv_fail("image_scale: image is NULL");
    const float k = (float)(1.0 / 127.5);
    int64_t n = mgv_numel(img);
    if (mgv_is_contiguous(img)) {
        float *p = mgv_data(img);
        for (int64_t i = 0; i < n; i++) p[i] = p[i] * k - 1.0f;
    } else {
        for (int64_t i = 0; i < n; i++) mgv_set_flat(img, i, mgv_get_flat(img, i) * k - 1.0f);
    }
    return 0;
}

mgv_tensor *mgv_image_preprocess(const mgv_tensor *img, int size)
{
    char sbuf[64];
    if (!img) return mgv_fail_null("image_preprocess: image is NULL");
    if (img->ndim != 3 || img->shape[0] != 3)
        return mgv_fail_null("image_preprocess: expected a [3, H, W] image, got %s",
                             mgv_shape_str(img, sbuf, sizeof sbuf));
    if (size < 1 || size > MGV_IMAGE_MAX_SIDE)
        return mgv_fail_null("image_preprocess: size %d is not in 1..%d", size,
                             MGV_IMAGE_MAX_SIDE);
    mgv_tensor *out = mgv_image_resize(img, size, size);
    if (out) mgv_image_scale_(out);
    return out;
}

int mgv_image_load(const char *path, int size, mgv_image_policy policy, mgv_tensor **out)
{
    if (!out) return mgv_fail("image_load: out is NULL");
    *out = NULL;
    if (size < 1 || size > MGV_IMAGE_MAX_SIDE)
        return mgv_fail("image_load: size %d is not in 1..%d", size, MGV_IMAGE_MAX_SIDE);
    if (policy != MGV_IMAGE_FAIL && policy != MGV_IMAGE_SKIP && policy != MGV_IMAGE_BLANK)
        return mgv_fail("image_load: unknown policy %d (FAIL=0, SKIP=1, BLANK=2)", (int)policy);
    mgv_tensor *img = mgv_image_read(path);
    if (img) {
        *out = mgv_image_preprocess(img, size);
        mgv_release(img);
        return *out ? MGV_IMAGE_OK : -1;    /* out of memory is never "skip" */
    }
    if (policy == MGV_IMAGE_SKIP) return MGV_IMAGE_SKIPPED;
    if (policy == MGV_IMAGE_BLANK) return MGV_IMAGE_ABSENT;
    return -1;
}

int mgv_image_load_into(const char *path, int size, mgv_image_policy policy, float *dst)
{
    if (!dst) return mgv_fail("image_load: destination is NULL");
    mgv_tensor *t = NULL;
    int rc = mgv_image_load(path, size, policy, &t);
    size_t n = (size_t)3 * (size_t)size * (size_t)size;
    if (rc == MGV_IMAGE_OK) {
        memcpy(dst, mgv_data(t), n * sizeof(float));   /* fresh, so contiguous */
        mgv_release(t);
    } else if (rc > 0) {
        memset(dst, 0, n * sizeof(float));
    }
    return rc;
}

/* ---- PNG writing ----------------------------------------------------- */

typedef struct png_wctx {
    char msg[256];          /* first member, as in png_rctx */
    unsigned char *data;
    size_t len, cap;
} png_wctx;

static void png_write_cb(png_structp png, png_bytep d, size_t n)
{
    png_wctx *c = (png_wctx *)png_get_io_ptr(png);
    if (n > c->cap - c->len) {
        size_t ncap = c->cap ? c->cap : 4096;
        while (ncap - c->len < n) ncap *= 2;
        unsigned char *nd = realloc(c->data, ncap);
        if (!nd) png_error(png, "out of memory");
        c->data = nd;
        c->cap = ncap;
    }
    memcpy(c->data + c->len, d, n);
    c->len += n;
}

static void png_flush_cb(png_structp png) { (void)png; }

static int png_encode_inner(png_wctx *c, png_structp png, png_infop info, int w, int h,
                            const uint8_t *rgb)
{
    if (setjmp(png_jmpbuf(png))) return -1;
    png_set_write_fn(png, c, png_write_cb, png_flush_cb);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, rgb + (size_t)y * (size_t)w * 3);
    png_write_end(png, NULL);
    return 0;
}

int mgv_png_encode_rgb(int w, int h, const uint8_t *rgb, unsigned char **out, size_t *out_len)
{
    if (!rgb || !out || !out_len) return mgv_fail("png_encode: NULL argument");
    *out = NULL;
    *out_len = 0;
    if (w < 1 || h < 1 || w > MGV_IMAGE_MAX_SIDE || h > MGV_IMAGE_MAX_SIDE ||
        (long long)w * h > MGV_IMAGE_MAX_PIXELS)
        return mgv_fail("png_encode: size %dx%d is not in 1..%d per side, at most %lld pixels",
                        w, h, MGV_IMAGE_MAX_SIDE, MGV_IMAGE_MAX_PIXELS);
    png_wctx c;
    memset(&c, 0, sizeof c);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, c.msg, png_error_cb,
                                              png_warning_cb);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        return mgv_fail("png_encode: cannot create the encoder (out of memory)");
    }
    int rc = png_encode_inner(&c, png, info, w, h, rgb);
    png_destroy_write_struct(&png, &info);
    if (rc < 0) {
        free(c.data);
        return mgv_fail("png_encode: %s", c.msg);
    }
    *out = c.data;
    *out_len = c.len;
    return 0;
}

int mgv_png_write_rgb(const char *path, int w, int h, const uint8_t *rgb)
{
    if (!path || !*path) return mgv_fail("png_write: path is empty");
    unsigned char *png;
    size_t len;
    if (mgv_png_encode_rgb(w, h, rgb, &png, &len) < 0) {
        mgv_error_context("png_write: %s", path);
        return -1;
    }
    int rc = mgv_write_file_atomic(path, png, len, "png_write");
    free(png);
    return rc;
}

int mgv_image_write_png(const char *path, const mgv_tensor *img, float lo, float hi)
{
    char sbuf[64];
    if (!path || !*path) return mgv_fail("png_write: path is empty");
    if (!img) return mgv_fail("png_write: %s: image is NULL", path);
    int gray;
    int64_t H, W;
    if (img->ndim == 2) {
        gray = 1;
        H = img->shape[0];
        W = img->shape[1];
    } else if (img->ndim == 3 && (img->shape[0] == 1 || img->shape[0] == 3)) {
        gray = img->shape[0] == 1;
        H = img->shape[1];
        W = img->shape[2];
    } else {
        return mgv_fail("png_write: %s: expected a [3, H, W], [1, H, W] or [H, W] image, got %s",
                        path, mgv_shape_str(img, sbuf, sizeof sbuf));
    }
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi))
        return mgv_fail("png_write: %s: value range [%g, %g] is empty or not finite", path,
                        (double)lo, (double)hi);
    if (H < 1 || W < 1 || H > MGV_IMAGE_MAX_SIDE || W > MGV_IMAGE_MAX_SIDE ||
        H * W > MGV_IMAGE_MAX_PIXELS)
        return mgv_fail("png_write: %s: cannot write a %s image", path,
                        mgv_shape_str(img, sbuf, sizeof sbuf));
    uint8_t *rgb = malloc((size_t)(H * W * 3));
    if (!rgb) return mgv_fail("png_write: %s: out of memory", path);
    const float k = 255.0f / (hi - lo);
    const int64_t *st = img->stride;
    const float *src = mgv_data(img);
    int ys = img->ndim == 2 ? 0 : 1;        /* axis index of H in the strides */
    for (int c = 0; c < 3; c++) {
        const float *plane = src + (gray || img->ndim == 2 ? 0 : c * st[0]);
        for (int64_t y = 0; y < H; y++) {
            for (int64_t x = 0; x < W; x++) {
                float v = (plane[y * st[ys] + x * st[ys + 1]] - lo) * k;
                uint8_t u = !(v > 0.0f) ? 0 : v >= 255.0f ? 255 : (uint8_t)(v + 0.5f);
                rgb[(y * W + x) * 3 + c] = u;       /* NaN → 0 */
            }
        }
    }
    int rc = mgv_png_write_rgb(path, (int)W, (int)H, rgb);
    free(rgb);
    return rc;
}
