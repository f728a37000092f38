/*
 * test_image.c — PNG/JPEG decoding, bilinear resize, [-1, 1] scaling, the
 * missing-image policies and PNG writing (engine/formats/image.h).
 *
 * Fixtures in tests/fixtures/images/ come from scripts/make_image_fixtures.py;
 * the pixel formulas below are the ones that script uses. The JPEG fixtures
 * are compared with djpeg's decoding recorded when they were made (*.ppm,
 * *.pgm). Resize expectations are hand-computed (half-pixel centres) and
 * agree with torch.nn.functional.interpolate(mode="bilinear",
 * align_corners=False), checked once when this test was written.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

#include "check.h"
#include "formats/image.h"
#include "mgv.h"

/* ---- helpers ---------------------------------------------------------- */

static char fixture_buf[1024];

static const char *fixture(const char *name)
{
    const char *root = getenv("MGV_ROOT");
    snprintf(fixture_buf, sizeof fixture_buf, "%s/tests/fixtures/images/%s",
             root && *root ? root : ".", name);
    return fixture_buf;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f) {
        printf("  cannot open %s\n", path);
        return NULL;
    }
    unsigned char *b = calloc((1 << 20) + 1, 1);   /* NUL-terminated for sscanf */
    *len = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(b, 1, len, f);
    fclose(f);
}

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

/* the fixture formulas (see scripts/make_image_fixtures.py) */
static void rgb_px(int x, int y, int out[3])
{
    out[0] = (20 * x + 80 * y + 5) % 256;
    out[1] = ((255 - 15 * x - 50 * y) % 256 + 256) % 256;
    out[2] = (37 * x * y + 11) % 256;
}

static int gray_px(int x, int y) { return (20 * x + 70 * y + 3) % 256; }

static const int PALETTE[6][3] = {{0, 0, 0},     {255, 255, 255}, {200, 30, 40},
                                  {10, 180, 60}, {20, 40, 230},   {128, 128, 0}};

static float px(const mgv_tensor *t, int c, int y, int x)
{
    return mgv_data(t)[(c * t->shape[1] + y) * t->shape[2] + x];
}

static int shape_is(const mgv_tensor *t, int64_t c, int64_t h, int64_t w)
{
    return t && t->ndim == 3 && t->shape[0] == c && t->shape[1] == h && t->shape[2] == w;
}

/* max |t - formula| over the whole picture; fn gives the 3 expected values */
typedef void (*pixel_fn)(int x, int y, float out[3]);

static double max_diff(const mgv_tensor *t, pixel_fn fn)
{
    double worst = 0;
    for (int y = 0; y < t->shape[1]; y++)
        for (int x = 0; x < t->shape[2]; x++) {
            float e[3];
            fn(x, y, e);
            for (int c = 0; c < 3; c++) {
                double d = fabs(px(t, c, y, x) - e[c]);
                if (d > worst) worst = d;
            }
        }
    return worst;
}

static void f_rgb(int x, int y, float o[3])
{
    int v[3];
    rgb_px(x, y, v);
    for (int c = 0; c < 3; c++) o[c] = (float)v[c];
}

static void f_gray(int x, int y, float o[3]) { o[0] = o[1] = o[2] = (float)gray_px(x, y); }

static void f_gray1(int x, int y, float o[3]) { o[0] = o[1] = o[2] = (x + y) % 2 ? 255.f : 0.f; }

static void f_palette(int x, int y, float o[3])
{
    for (int c = 0; c < 3; c++) o[c] = (float)PALETTE[(x + 2 * y) % 6][c];
}

static void f_rgb16(int x, int y, float o[3])
{
    int v[3];
    rgb_px(x, y, v);
    for (int c = 0; c < 3; c++) o[c] = (float)((256 * v[c] + 17 * x + 3 * y) / 257.0);
}

static void check_png(const char *name, int w, int h, pixel_fn fn, double tol)
{
    mgv_tensor *t = mgv_image_read(fixture(name));
    CHECK(shape_is(t, 3, h, w));
    if (!shape_is(t, 3, h, w)) {
        printf("  %s did not decode: %s\n", name, mgv_last_error());
        mgv_release(t);
        return;
    }
    double d = max_diff(t, fn);
    if (d > tol) printf("  %s: max difference %g\n", name, d);
    CHECK(d <= tol);
    mgv_release(t);
}

/* ---- PNG decoding ----------------------------------------------------- */

static void test_png_color_types(void)
{
    check_png("rgb_4x3.png", 4, 3, f_rgb, 0);
    check_png("rgba_4x3.png", 4, 3, f_rgb, 0);         /* alpha dropped */
    check_png("gray_4x3.png", 4, 3, f_gray, 0);
    check_png("graya_4x3.png", 4, 3, f_gray, 0);
    check_png("gray1_4x3.png", 4, 3, f_gray1, 0);
    check_png("palette_4x3.png", 4, 3, f_palette, 0);  /* 4-bit indices + tRNS */
    check_png("interlaced_9x7.png", 9, 7, f_rgb, 0);   /* Adam7 */
}

static void test_png_16bit(void)
{
    check_png("rgb16_4x3.png", 4, 3, f_rgb16, 1e-4);
    check_png("rgba16_4x3.png", 4, 3, f_rgb16, 1e-4);
    /* a sample value: pixel (1, 0) red = 256*25 + 17 = 6417 → 24.9689... */
    mgv_tensor *t = mgv_image_read(fixture("rgb16_4x3.png"));
    CHECK(t != NULL);
    if (t) CHECK_NEAR(px(t, 0, 0, 1), 6417.0 / 257.0, 1e-4);
    mgv_release(t);
}

static void test_rgb8_decode(void)
{
    size_t len;
    unsigned char *b = slurp(fixture("rgb16_4x3.png"), &len);
    int w = 0, h = 0;
    uint8_t *rgb = NULL;
    CHECK(mgv_image_decode_rgb8(b, len, "rgb16", &w, &h, &rgb) == 0);
    CHECK(w == 4 && h == 3);
    int bad = 0;
    for (int y = 0; y < h && rgb; y++)
        for (int x = 0; x < w; x++) {
            int v[3];
            rgb_px(x, y, v);
            for (int c = 0; c < 3; c++) {
                int v16 = 256 * v[c] + 17 * x + 3 * y;
                int want = (v16 * 255 + 32767) / 65535;     /* rounded to 8 bits */
                if (rgb[(y * w + x) * 3 + c] != want) bad++;
            }
        }
    CHECK(bad == 0);
    free(rgb);
    free(b);
    CHECK(mgv_image_decode_rgb8(NULL, 0, "nothing", &w, &h, &rgb) == -1);
    CHECK_ERROR_HAS("empty");
    CHECK(rgb == NULL);
}

/* ---- JPEG decoding ---------------------------------------------------- */

/* Reads a binary PPM (P6) or PGM (P5) as written by djpeg into [3, H, W]. */
static mgv_tensor *read_pnm(const char *path)
{
    size_t len;
    unsigned char *b = slurp(path, &len);
    if (!b) return NULL;
    int w, h, maxv, off = 0;
    char magic[3] = {0};
    if (sscanf((char *)b, "%2s %d %d %d%n", magic, &w, &h, &maxv, &off) != 4 || maxv != 255) {
        free(b);
        return NULL;
    }
    int ch = strcmp(magic, "P6") == 0 ? 3 : 1;
    const unsigned char *p = b + off + 1;
    int64_t shape[3] = {3, h, w};
    mgv_tensor *t = mgv_empty(3, shape);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                mgv_data(t)[(c * h + y) * w + x] = p[(y * w + x) * ch + (ch == 3 ? c : 0)];
    free(b);
    return t;
}

static void jpeg_src_px(int x, int y, float o[3])
{
    o[0] = (float)((x * 15) % 256);
    o[1] = (float)((y * 23) % 256);
    o[2] = (float)(128 + ((x / 4 + y / 4) % 2) * 60);
}

static void check_jpeg(const char *name, const char *ref, int color)
{
    mgv_tensor *t = mgv_image_read(fixture(name));
    mgv_tensor *r = read_pnm(fixture(ref));
    CHECK(shape_is(t, 3, 11, 17));
    CHECK(shape_is(r, 3, 11, 17));
    if (shape_is(t, 3, 11, 17) && shape_is(r, 3, 11, 17)) {
        double worst = 0, src_err = 0;
        for (int64_t i = 0; i < mgv_numel(t); i++) {
            double d = fabs(mgv_data(t)[i] - mgv_data(r)[i]);
            if (d > worst) worst = d;
        }
        /* recorded djpeg output: same library, so equal up to IDCT variants */
        if (worst > 2) printf("  %s: max difference to djpeg %g\n", name, worst);
        CHECK(worst <= 2);
        /* sanity against the source picture (lossy, so only on average) */
        if (color) {
            for (int y = 0; y < 11; y++)
                for (int x = 0; x < 17; x++) {
                    float e[3];
                    jpeg_src_px(x, y, e);
                    for (int c = 0; c < 3; c++) src_err += fabs(px(t, c, y, x) - e[c]);
                }
            src_err /= 3 * 11 * 17;
            if (src_err > 8) printf("  %s: mean error to source %g\n", name, src_err);
            CHECK(src_err < 8);
        } else {
            for (int y = 0; y < 11; y++)     /* gray: the three channels are equal */
                for (int x = 0; x < 17; x++)
                    CHECK(px(t, 0, y, x) == px(t, 1, y, x) && px(t, 1, y, x) == px(t, 2, y, x));
        }
    } else {
        printf("  %s: %s\n", name, mgv_last_error());
    }
    mgv_release(t);
    mgv_release(r);
}

static void test_jpeg_decode(void)
{
    check_jpeg("small.jpg", "small_jpg_djpeg.ppm", 1);
    check_jpeg("progressive.jpg", "progressive_jpg_djpeg.ppm", 1);
    check_jpeg("gray.jpg", "gray_jpg_djpeg.pgm", 0);
}

/* Encodes a uniform 16x16 CMYK picture (stored sample values s) with libjpeg;
 * colorspace JCS_CMYK or JCS_YCCK; adobe chooses the Adobe marker. */
static unsigned char *encode_cmyk(const int s[4], J_COLOR_SPACE cs, int adobe, unsigned long *len)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    *len = 0;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &out, len);
    ci.image_width = 16;
    ci.image_height = 16;
    ci.input_components = 4;
    ci.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&ci);
    jpeg_set_colorspace(&ci, cs);
    ci.write_Adobe_marker = adobe ? TRUE : FALSE;
    jpeg_set_quality(&ci, 100, TRUE);
    jpeg_start_compress(&ci, TRUE);
    unsigned char row[16 * 4];
    for (int x = 0; x < 16; x++)
        for (int c = 0; c < 4; c++) row[4 * x + c] = (unsigned char)s[c];
    while (ci.next_scanline < 16) {
        JSAMPROW r = row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    return out;
}

static void test_jpeg_cmyk(void)
{
    const int s[4] = {0, 128, 255, 64};
    /* Adobe files store inverted ink, so R = s_c * s_k / 255 (PIL's rule) */
    const double adobe_rgb[3] = {0, 128 * 64 / 255.0, 255 * 64 / 255.0};
    /* plain CMYK: R = (255 - C)(255 - K) / 255 */
    const double plain_rgb[3] = {255 * 191 / 255.0, 127 * 191 / 255.0, 0};
    struct {
        J_COLOR_SPACE cs;
        int adobe;
        const double *want;
    } cases[3] = {{JCS_CMYK, 1, adobe_rgb}, {JCS_CMYK, 0, plain_rgb}, {JCS_YCCK, 1, adobe_rgb}};
    for (int k = 0; k < 3; k++) {
        unsigned long len;
        unsigned char *jpg = encode_cmyk(s, cases[k].cs, cases[k].adobe, &len);
        mgv_tensor *t = mgv_image_decode(jpg, len, "cmyk");
        CHECK(shape_is(t, 3, 16, 16));
        if (t)
            for (int c = 0; c < 3; c++) {
                CHECK_NEAR(px(t, c, 0, 0), cases[k].want[c], 2.0);
                CHECK_NEAR(px(t, c, 15, 15), cases[k].want[c], 2.0);
            }
        mgv_release(t);
        free(jpg);
    }
}

static void test_format_from_magic(void)
{
    size_t len;
    unsigned char *png = slurp(fixture("rgb_4x3.png"), &len);
    CHECK(png && strcmp(mgv_image_format(png, len), "png") == 0);
    /* a PNG named .jpg decodes as PNG */
    spit(tmp_path("really_a_png.jpg"), png, len);
    mgv_tensor *t = mgv_image_read(tmp_path("really_a_png.jpg"));
    CHECK(shape_is(t, 3, 3, 4));
    if (t) CHECK(max_diff(t, f_rgb) == 0);
    mgv_release(t);
    free(png);
    unsigned char *jpg = slurp(fixture("small.jpg"), &len);
    CHECK(jpg && strcmp(mgv_image_format(jpg, len), "jpeg") == 0);
    spit(tmp_path("really_a_jpeg.png"), jpg, len);
    t = mgv_image_read(tmp_path("really_a_jpeg.png"));
    CHECK(shape_is(t, 3, 11, 17));
    mgv_release(t);
    free(jpg);
    CHECK(mgv_image_format((const unsigned char *)"GIF89a", 6) == NULL);
}

/* ---- errors ----------------------------------------------------------- */

static uint32_t crc32_png(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void test_errors_files(void)
{
    CHECK(mgv_image_read(tmp_path("no_such_file.png")) == NULL);
    CHECK_ERROR_HAS("no_such_file.png");
    CHECK_ERROR_HAS("No such file");
    CHECK(mgv_image_read("") == NULL);
    CHECK_ERROR_HAS("no file name");
    CHECK(mgv_image_read(tmpdir) == NULL);
    CHECK_ERROR_HAS("directory");
    spit(tmp_path("empty.jpg"), (const unsigned char *)"", 0);
    CHECK(mgv_image_read(tmp_path("empty.jpg")) == NULL);
    CHECK_ERROR_HAS("empty.jpg: empty file");
    const char junk[] = "\x13\x37garbage bytes that are no picture";
    spit(tmp_path("junk.png"), (const unsigned char *)junk, sizeof junk - 1);
    CHECK(mgv_image_read(tmp_path("junk.png")) == NULL);
    CHECK_ERROR_HAS("not a PNG or JPEG");
    CHECK_ERROR_HAS("13 37 67 61");
    const char html[] = "\n<!DOCTYPE html><html>404 Not Found</html>";
    CHECK(mgv_image_decode((const unsigned char *)html, sizeof html - 1, "page.jpg") == NULL);
    CHECK_ERROR_HAS("looks like HTML");
    CHECK(mgv_image_decode((const unsigned char *)"GIF89a\1\0\1\0", 10, "anim.gif") == NULL);
    CHECK_ERROR_HAS("looks like GIF");
    CHECK(mgv_image_decode(NULL, 0, NULL) == NULL);
    CHECK_ERROR_HAS("<memory>: empty");
}

static void test_errors_truncated(void)
{
    size_t len;
    unsigned char *png = slurp(fixture("rgb_4x3.png"), &len);
    if (!png) {
        CHECK(0);
        return;
    }
    /* every cut before the end of IDAT fails; IEND (the last 12 bytes) is
     * not needed once the pixels are complete */
    int bad = 0;
    for (size_t cut = 1; cut < len - 12; cut++) {
        mgv_clear_error();
        mgv_tensor *t = mgv_image_decode(png, cut, "cut.png");
        if (t || !*mgv_last_error()) {
            printf("  PNG cut at %zu of %zu decoded\n", cut, len);
            bad++;
        }
        mgv_release(t);
    }
    CHECK(bad == 0);
    CHECK(mgv_image_decode(png, 20, "cut.png") == NULL);
    CHECK_ERROR_HAS("cut.png: PNG:");
    CHECK(mgv_image_decode(png, len - 30, "cut.png") == NULL);
    CHECK_ERROR_HAS("truncated");
    mgv_tensor *t = mgv_image_decode(png, len - 12, "no_iend.png");
    CHECK(shape_is(t, 3, 3, 4));
    mgv_release(t);
    /* a damaged IDAT checksum: CRC error */
    png[len - 12 - 1] ^= 0x55;
    CHECK(mgv_image_decode(png, len, "crc.png") == NULL);
    CHECK_ERROR_HAS("crc.png: PNG: IDAT: CRC error");
    png[len - 12 - 1] ^= 0x55;
    /* a damaged byte of the compressed data (here zlib's own checksum) */
    png[len - 12 - 6] ^= 0x55;
    CHECK(mgv_image_decode(png, len, "data.png") == NULL);
    CHECK_ERROR_HAS("data.png: PNG: IDAT:");
    free(png);

    unsigned char *jpg = slurp(fixture("small.jpg"), &len);
    if (!jpg) {
        CHECK(0);
        return;
    }
    size_t cuts[5] = {3, 10, 200, len / 2, len - 40};
    for (int i = 0; i < 5; i++) {
        CHECK(mgv_image_decode(jpg, cuts[i], "cut.jpg") == NULL);
        CHECK_ERROR_HAS("cut.jpg: JPEG:");
        CHECK_ERROR_HAS("truncated");
    }
    spit(tmp_path("half.jpg"), jpg, len / 2);
    CHECK(mgv_image_read(tmp_path("half.jpg")) == NULL);
    CHECK_ERROR_HAS("half.jpg: JPEG: file is truncated");
    /* garbage right after the SOI marker */
    unsigned char bad_jpg[64];
    memcpy(bad_jpg, jpg, 4);
    for (int i = 4; i < 64; i++) bad_jpg[i] = (unsigned char)(i * 37);
    CHECK(mgv_image_decode(bad_jpg, sizeof bad_jpg, "bad.jpg") == NULL);
    CHECK_ERROR_HAS("bad.jpg: JPEG:");
    free(jpg);
}

static void test_errors_zero_and_bombs(void)
{
    size_t len;
    unsigned char *png = slurp(fixture("rgb_4x3.png"), &len);
    if (!png) {
        CHECK(0);
        return;
    }
    /* width 0 in IHDR, with a valid CRC so the size itself is what fails */
    put_be32(png + 16, 0);
    put_be32(png + 29, crc32_png(png + 12, 17));
    CHECK(mgv_image_decode(png, len, "zero.png") == NULL);
    CHECK_ERROR_HAS("zero.png: PNG:");
    CHECK_ERROR_HAS("zero");
    free(png);

    unsigned char *jpg = slurp(fixture("small.jpg"), &len);
    if (!jpg) {
        CHECK(0);
        return;
    }
    for (size_t i = 2; i + 9 < len;) {    /* SOF0: set the width to 0 */
        if (jpg[i + 1] == 0xC0) {
            jpg[i + 7] = jpg[i + 8] = 0;
            break;
        }
        i += 2 + (size_t)((jpg[i + 2] << 8) | jpg[i + 3]);
    }
    CHECK(mgv_image_decode(jpg, len, "zero.jpg") == NULL);
    CHECK_ERROR_HAS("zero.jpg: JPEG");
    free(jpg);

    CHECK(mgv_image_read(fixture("bomb_side.png")) == NULL);
    CHECK_ERROR_HAS("20000x1 pixels; refusing more than 16384 per side");
    CHECK(mgv_image_read(fixture("bomb_area.png")) == NULL);
    CHECK_ERROR_HAS("108.0 Mpx; refusing more than 100 Mpx");
    CHECK(mgv_image_read(fixture("bomb.jpg")) == NULL);
    CHECK_ERROR_HAS("JPEG is 20000x20000 pixels");
}

/* Random byte flips and cuts of each fixture: never a crash or a leak (run
 * under the sanitizers), and every failure leaves a message. */
static void test_mutations(void)
{
    const char *names[6] = {"small.jpg", "progressive.jpg", "gray.jpg", "rgb_4x3.png",
                            "palette_4x3.png", "interlaced_9x7.png"};
    uint64_t s = 88172645463325252ull;      /* xorshift64 */
    for (int f = 0; f < 6; f++) {
        size_t n;
        unsigned char *b = slurp(fixture(names[f]), &n), *m = malloc(n);
        if (!b || !m || n == 0) {
            CHECK(0);
            free(b);
            free(m);
            continue;
        }
        int silent = 0;
        for (int it = 0; it < 500; it++) {
            memcpy(m, b, n);
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            int flips = 1 + (int)(s % 4);
            for (int j = 0; j < flips; j++) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                m[(s >> 8) % n] ^= (unsigned char)(1u << (s % 8));
            }
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            size_t len = s % 4 == 0 ? (size_t)((s >> 8) % n) : n;
            mgv_clear_error();
            mgv_tensor *t = mgv_image_decode(m, len, "mutant");
            if (!t && !strstr(mgv_last_error(), "image: mutant: ")) silent++;
            mgv_release(t);
        }
        if (silent) printf("  %s: %d failures without a message\n", names[f], silent);
        CHECK(silent == 0);
        free(b);
        free(m);
    }
}

/* ---- resize and scaling ----------------------------------------------- */

static mgv_tensor *img_from(int c, int h, int w, const float *v)
{
    int64_t shape[3] = {c, h, w};
    return mgv_from_data(3, shape, v);
}

static void check_values(const mgv_tensor *t, const float *want, int n, double tol)
{
    CHECK(t != NULL && mgv_numel(t) == n);
    if (!t || mgv_numel(t) != n) return;
    for (int i = 0; i < n; i++) CHECK_NEAR(mgv_data(t)[i], want[i], tol);
}

static void test_resize_values(void)
{
    /* 2x2 → 4x4: source coords (o + .5)/2 - .5 = -.25→0, .25, .75, 1.25→last;
     * weights per axis: 1 | .75 .25 | .25 .75 | 1 */
    const float a[4] = {0, 10, 20, 30};
    const float a_up[16] = {0, 2.5f, 7.5f, 10, 5, 7.5f, 12.5f, 15,
                            15, 17.5f, 22.5f, 25, 20, 22.5f, 27.5f, 30};
    mgv_tensor *t = img_from(1, 2, 2, a), *r = mgv_image_resize(t, 4, 4);
    check_values(r, a_up, 16, 1e-5);
    mgv_release(r);
    mgv_release(t);

    /* 1x4 → 1x2: coords .5 and 2.5, plain averages of pairs (no antialias) */
    const float b[4] = {0, 10, 20, 40}, b_down[2] = {5, 30};
    t = img_from(1, 1, 4, b);
    r = mgv_image_resize(t, 1, 2);
    check_values(r, b_down, 2, 1e-6);
    mgv_release(r);
    mgv_release(t);

    /* 3x3 of v = 10y + x → 2x2: coords .25 and 1.75; bilinear reproduces a
     * linear function: 10 sy + sx */
    float c[9];
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++) c[3 * y + x] = (float)(10 * y + x);
    const float c_down[4] = {2.75f, 4.25f, 17.75f, 19.25f};
    t = img_from(1, 3, 3, c);
    r = mgv_image_resize(t, 2, 2);
    check_values(r, c_down, 4, 1e-5);
    mgv_release(r);
    mgv_release(t);

    /* 2x3 → 3x5: x coords -.2→0, .4, 1, 1.6, 2.2→last; y coords -1/6→0, .5, 7/6→last.
     * row [1 5 2] → [1, .6*1+.4*5, 5, .4*5+.6*2, 2]; middle row = mean of rows */
    const float d[6] = {1, 5, 2, 7, 3, 9};
    const float d_up[15] = {1, 2.6f, 5, 3.2f, 2, 4, 4, 4, 4.9f, 5.5f, 7, 5.4f, 3, 6.6f, 9};
    t = img_from(1, 2, 3, d);
    r = mgv_image_resize(t, 3, 5);
    check_values(r, d_up, 15, 1e-5);
    mgv_release(r);
    /* same size: identity */
    r = mgv_image_resize(t, 2, 3);
    check_values(r, d, 6, 0);
    mgv_release(r);
    mgv_release(t);
}

static void test_resize_channels_and_strides(void)
{
    /* [2, 2, 3] stored interleaved (H, W, C) and viewed as [C, H, W] */
    const float hwc[12] = {1, 10, 5, 20, 2, 30, 7, 40, 3, 50, 9, 60};
    int64_t s1[3] = {2, 3, 2};
    mgv_tensor *store = mgv_from_data(3, s1, hwc);   /* [H=2, W=3, C=2] */
    int64_t shape[3] = {2, 2, 3}, stride[3] = {1, 6, 2};
    mgv_tensor *v = mgv_view_of(store, 3, shape, stride, 0);
    mgv_tensor *c = mgv_clone_data(v);
    CHECK(!mgv_is_contiguous(v) && mgv_is_contiguous(c));
    mgv_tensor *rv = mgv_image_resize(v, 3, 5), *rc = mgv_image_resize(c, 3, 5);
    CHECK(shape_is(rv, 2, 3, 5) && shape_is(rc, 2, 3, 5));
    if (rv && rc)
        for (int64_t i = 0; i < 30; i++) CHECK(mgv_data(rv)[i] == mgv_data(rc)[i]);
    /* channel 0 is [[1 5 2] [7 3 9]]: same numbers as the hand case above */
    if (rc) {
        CHECK_NEAR(px(rc, 0, 0, 1), 2.6, 1e-5);
        CHECK_NEAR(px(rc, 0, 1, 3), 4.9, 1e-5);
    }
    mgv_release(rv);
    mgv_release(rc);
    mgv_release(c);
    mgv_release(v);
    mgv_release(store);

    int64_t bad[2] = {3, 4};
    mgv_tensor *flat = mgv_zeros(2, bad);
    CHECK(mgv_image_resize(flat, 2, 2) == NULL);
    CHECK_ERROR_HAS("image_resize: expected a [C, H, W] image, got [3x4]");
    mgv_release(flat);
    const float one[3] = {1, 2, 3};
    mgv_tensor *t = img_from(3, 1, 1, one);
    CHECK(mgv_image_resize(t, 0, 2) == NULL);
    CHECK_ERROR_HAS("output size 0x2");
    /* 1x1 → 2x2 replicates */
    mgv_tensor *r = mgv_image_resize(t, 2, 2);
    CHECK(shape_is(r, 3, 2, 2));
    if (r) CHECK(px(r, 2, 1, 1) == 3.0f && px(r, 0, 0, 1) == 1.0f);
    mgv_release(r);
    mgv_release(t);
}

static void test_scale_and_preprocess(void)
{
    const float v[6] = {0, 127.5f, 255, 51, 204, 25.5f};
    mgv_tensor *t = img_from(3, 1, 2, v);
    mgv_tensor *p = mgv_image_preprocess(t, 1);      /* 1x2 → 1x1: mean of the pair */
    const float want1[3] = {(63.75f / 127.5f) - 1, (153 / 127.5f) - 1, (114.75f / 127.5f) - 1};
    check_values(p, want1, 3, 1e-6);
    mgv_release(p);
    CHECK(mgv_image_scale_(t) == 0);
    const float want[6] = {-1, 0, 1, -0.6f, 0.6f, -0.8f};
    check_values(t, want, 6, 1e-6);
    mgv_release(t);

    /* the RGB fixture to 2x2: every value is a resize of the formula, scaled */
    mgv_tensor *img = mgv_image_read(fixture("rgb_4x3.png"));
    p = mgv_image_preprocess(img, 2);
    CHECK(shape_is(p, 3, 2, 2));
    mgv_tensor *r = mgv_image_resize(img, 2, 2);
    if (p && r) {
        float lo = 1, hi = -1;
        for (int64_t i = 0; i < 12; i++) {
            CHECK_NEAR(mgv_data(p)[i], mgv_data(r)[i] / 127.5 - 1, 1e-6);
            if (mgv_data(p)[i] < lo) lo = mgv_data(p)[i];
            if (mgv_data(p)[i] > hi) hi = mgv_data(p)[i];
        }
        CHECK(lo >= -1 && hi <= 1);
        /* red at (0,0): x coords 0.5 (cols 0,1 half each), y coord 0.25 (rows .75/.25):
         * red = 20x + 80y + 5 → 20*.5 + 80*.25 + 5 = 35 */
        CHECK_NEAR(px(r, 0, 0, 0), 35.0, 1e-4);
        CHECK_NEAR(px(p, 0, 0, 0), 35.0 / 127.5 - 1, 1e-6);
    }
    mgv_release(r);
    mgv_release(p);
    int64_t four[3] = {4, 2, 2};
    mgv_tensor *rgba = mgv_zeros(3, four);
    CHECK(mgv_image_preprocess(rgba, 8) == NULL);
    CHECK_ERROR_HAS("expected a [3, H, W] image, got [4x2x2]");
    CHECK(mgv_image_preprocess(img, 0) == NULL);
    CHECK_ERROR_HAS("size 0");
    mgv_release(rgba);
    mgv_release(img);
}

/* ---- load policies ---------------------------------------------------- */

static void test_load_policies(void)
{
    mgv_tensor *t = NULL;
    CHECK(mgv_image_load(fixture("small.jpg"), 8, MGV_IMAGE_FAIL, &t) == MGV_IMAGE_OK);
    CHECK(shape_is(t, 3, 8, 8));
    float *buf = malloc(sizeof(float) * 3 * 8 * 8);
    CHECK(mgv_image_load_into(fixture("small.jpg"), 8, MGV_IMAGE_FAIL, buf) == MGV_IMAGE_OK);
    if (t)
        for (int i = 0; i < 3 * 8 * 8; i++) CHECK(buf[i] == mgv_data(t)[i]);
    mgv_release(t);

    const char *missing = tmp_path("gone.jpg");
    CHECK(mgv_image_load(missing, 8, MGV_IMAGE_FAIL, &t) == -1);
    CHECK(t == NULL);
    CHECK_ERROR_HAS("gone.jpg: cannot open");
    mgv_clear_error();
    CHECK(mgv_image_load(missing, 8, MGV_IMAGE_SKIP, &t) == MGV_IMAGE_SKIPPED);
    CHECK(t == NULL);
    CHECK_ERROR_HAS("gone.jpg: cannot open");          /* the reason is kept */
    CHECK(mgv_image_load(fixture("bomb.jpg"), 8, MGV_IMAGE_BLANK, &t) == MGV_IMAGE_ABSENT);
    CHECK(t == NULL);
    CHECK_ERROR_HAS("decompression bomb");
    CHECK(mgv_image_load(NULL, 8, MGV_IMAGE_BLANK, &t) == MGV_IMAGE_ABSENT);
    CHECK(mgv_image_load("", 8, MGV_IMAGE_SKIP, &t) == MGV_IMAGE_SKIPPED);
    for (int i = 0; i < 3 * 8 * 8; i++) buf[i] = 7;
    CHECK(mgv_image_load_into(missing, 8, MGV_IMAGE_BLANK, buf) == MGV_IMAGE_ABSENT);
    int zero = 1;
    for (int i = 0; i < 3 * 8 * 8; i++) zero &= buf[i] == 0;
    CHECK(zero);
    /* argument errors are errors whatever the policy */
    CHECK(mgv_image_load(fixture("small.jpg"), 0, MGV_IMAGE_SKIP, &t) == -1);
    CHECK_ERROR_HAS("size 0");
    CHECK(mgv_image_load(fixture("small.jpg"), 8, (mgv_image_policy)7, &t) == -1);
    CHECK_ERROR_HAS("unknown policy 7");
    CHECK(mgv_image_load_into(fixture("small.jpg"), 8, MGV_IMAGE_SKIP, NULL) == -1);
    free(buf);
}

/* ---- PNG writing ------------------------------------------------------ */

static int tmp_files_left(void)
{
    int n = 0;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static void test_png_write_roundtrip(void)
{
    enum { W = 7, H = 5 };
    uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)(i * 53 + 11);
    const char *path = tmp_path("out.png");
    CHECK(mgv_png_write_rgb(path, W, H, rgb) == 0);
    CHECK(mgv_png_write_rgb(path, W, H, rgb) == 0);     /* overwrite in place */
    CHECK(tmp_files_left() == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0444) != 0);
    mgv_tensor *t = mgv_image_read(path);
    CHECK(shape_is(t, 3, H, W));
    int bad = 0;
    for (int y = 0; t && y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) bad += px(t, c, y, x) != rgb[(y * W + x) * 3 + c];
    CHECK(bad == 0);

    /* in-memory encoding → rgb8 decoding gives the same bytes */
    unsigned char *enc = NULL;
    size_t len = 0;
    CHECK(mgv_png_encode_rgb(W, H, rgb, &enc, &len) == 0);
    CHECK(enc && strcmp(mgv_image_format(enc, len), "png") == 0);
    int w, h;
    uint8_t *back = NULL;
    CHECK(mgv_image_decode_rgb8(enc, len, "mem", &w, &h, &back) == 0);
    CHECK(w == W && h == H && back && memcmp(back, rgb, sizeof rgb) == 0);
    free(back);
    free(enc);

    /* float writer: a preprocessed picture in [-1, 1] comes back within half a level */
    mgv_tensor *p = mgv_image_preprocess(t, 4);
    CHECK(mgv_image_write_png(tmp_path("pre.png"), p, -1, 1) == 0);
    mgv_tensor *q = mgv_image_read(tmp_path("pre.png"));
    CHECK(shape_is(q, 3, 4, 4));
    if (p && q)
        for (int64_t i = 0; i < mgv_numel(q); i++)
            CHECK_NEAR(mgv_data(q)[i], (mgv_data(p)[i] + 1) * 127.5, 0.5 + 1e-3);
    mgv_release(q);
    mgv_release(p);
    /* gray [H, W], values clamped to the range */
    const float g[6] = {-10, 0, 100.4f, 100.6f, 255, 300};
    int64_t gs[2] = {2, 3};
    mgv_tensor *gray = mgv_from_data(2, gs, g);
    CHECK(mgv_image_write_png(tmp_path("gray.png"), gray, 0, 255) == 0);
    q = mgv_image_read(tmp_path("gray.png"));
    const float gw[6] = {0, 0, 100, 101, 255, 255};
    CHECK(shape_is(q, 3, 2, 3));
    if (q)
        for (int i = 0; i < 6; i++) CHECK(px(q, 0, i / 3, i % 3) == gw[i] && px(q, 2, i / 3, i % 3) == gw[i]);
    mgv_release(q);

    /* errors */
    CHECK(mgv_png_write_rgb(tmp_path("no/such/dir/x.png"), W, H, rgb) == -1);
    CHECK_ERROR_HAS("cannot create a temporary file");
    CHECK(mgv_png_write_rgb(path, 0, H, rgb) == -1);
    CHECK_ERROR_HAS("size 0x5");
    CHECK(mgv_image_write_png(path, gray, 1, 1) == -1);
    CHECK_ERROR_HAS("range");
    int64_t s4[3] = {4, 2, 2};
    mgv_tensor *four = mgv_zeros(3, s4);
    CHECK(mgv_image_write_png(path, four, 0, 1) == -1);
    CHECK_ERROR_HAS("got [4x2x2]");
    mgv_release(four);
    mgv_release(gray);
    mgv_release(t);
    CHECK(tmp_files_left() == 0);
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') unlink(tmp_path(e->d_name));
    if (d) closedir(d);
    rmdir(tmpdir);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mgv_test_image_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL setup: cannot create a temporary directory\n");
        return 1;
    }
    RUN(test_png_color_types);
    RUN(test_png_16bit);
    RUN(test_rgb8_decode);
    RUN(test_jpeg_decode);
    RUN(test_jpeg_cmyk);
    RUN(test_format_from_magic);
    RUN(test_errors_files);
    RUN(test_errors_truncated);
    RUN(test_errors_zero_and_bombs);
    RUN(test_mutations);
    RUN(test_resize_values);
    RUN(test_resize_channels_and_strides);
    RUN(test_scale_and_preprocess);
    RUN(test_load_policies);
    RUN(test_png_write_roundtrip);
    remove_tmpdir();
    return CHECK_DONE();
}
