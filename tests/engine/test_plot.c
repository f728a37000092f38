/*
 * test_plot.c — engine/formats/plot.c: canvas primitives (clipping, antialiased
 * coverage), the bitmap font (widths, glyph pixels, rotation, fallback and
 * combining tilde), colours, each chart (sizes, colours at known pixels,
 * NaN handling) and the error messages for bad input; PNG bytes round trip
 * through the decoder.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "formats/image.h"
#include "formats/plot.h"

/* Pixels of exactly this colour. */
static int count_color(const mgv_canvas *c, uint32_t col)
{
    int n = 0;
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) n += mgv_canvas_get(c, x, y) == col;
    return n;
}

static void test_canvas_basics(void)
{
    mgv_canvas *c = mgv_canvas_new(7, 5, 0x102030);
    CHECK(c && c->w == 7 && c->h == 5);
    CHECK(mgv_canvas_get(c, 0, 0) == 0x102030 && mgv_canvas_get(c, 6, 4) == 0x102030);
    CHECK(mgv_canvas_get(c, 7, 0) == 0 && mgv_canvas_get(c, -1, 2) == 0);
    mgv_canvas_fill_rect(c, 5, 3, 10, 10, 0xFF0000);   /* clipped at the corner */
    CHECK(mgv_canvas_get(c, 6, 4) == 0xFF0000 && mgv_canvas_get(c, 5, 3) == 0xFF0000);
    CHECK(mgv_canvas_get(c, 4, 3) == 0x102030 && count_color(c, 0xFF0000) == 4);
    mgv_canvas_fill_rect(c, -3, -3, 2, 2, 0x00FF00);   /* wholly outside: nothing */
    CHECK(count_color(c, 0x00FF00) == 0);
    mgv_canvas_frame_rect(c, 0, 0, 3, 3, 0x0000FF);
    CHECK(count_color(c, 0x0000FF) == 8 && mgv_canvas_get(c, 1, 1) == 0x102030);
    mgv_canvas_free(c);
    mgv_canvas_free(NULL);

    CHECK(mgv_canvas_new(0, 5, 0) == NULL);
    CHECK_ERROR_HAS("0x5");
    CHECK(mgv_canvas_new(10, MGV_PLOT_MAX_SIDE + 1, 0) == NULL);
    CHECK_ERROR_HAS("1..8192");
}

static void test_line_and_disc_coverage(void)
{
    mgv_canvas *c = mgv_canvas_new(20, 20, 0xFFFFFF);
    /* a 1-pixel horizontal line through pixel centres: full coverage on the
     * row, half coverage one pixel away (distance 1 -> 0.5 + 0.5 - 1 = 0) */
    mgv_canvas_line(c, 2.5, 10.5, 17.5, 10.5, 1.0, 0x000000, 1.0);
    CHECK(mgv_canvas_get(c, 10, 10) == 0x000000);
    CHECK(mgv_canvas_get(c, 10, 11) == 0xFFFFFF && mgv_canvas_get(c, 10, 9) == 0xFFFFFF);
    /* width 2 between rows: each row at distance 0.5 gets coverage 1 */
    mgv_canvas_line(c, 2.0, 4.0, 17.0, 4.0, 2.0, 0x000000, 1.0);
    CHECK(mgv_canvas_get(c, 8, 3) == 0x000000 && mgv_canvas_get(c, 8, 4) == 0x000000);
    /* opacity 0.5 of black on white: 255 - 127.5, rounded */
    mgv_canvas_line(c, 2.5, 16.5, 17.5, 16.5, 1.0, 0x000000, 0.5);
    CHECK(mgv_canvas_get(c, 9, 16) == 0x808080);
    mgv_canvas_line(c, NAN, 0, 5, 5, 1, 0, 1);   /* ignored, no crash */
    mgv_canvas_free(c);

    c = mgv_canvas_new(21, 21, 0xFFFFFF);
    mgv_canvas_disc(c, 10.5, 10.5, 5.0, 0xFF0000, 1.0);
    CHECK(mgv_canvas_get(c, 10, 10) == 0xFF0000 && mgv_canvas_get(c, 14, 10) == 0xFF0000);
    CHECK(mgv_canvas_get(c, 17, 10) == 0xFFFFFF && mgv_canvas_get(c, 0, 0) == 0xFFFFFF);
    /* pixel centre at distance 5.0 from the centre: coverage 0.5 */
    uint32_t edge = mgv_canvas_get(c, 15, 10);
    CHECK(edge == 0xFF8080);
    mgv_canvas_free(c);
}

static void test_font(void)
{
    CHECK(mgv_text_width("", 1) == 0 && mgv_text_width(NULL, 2) == 0);
    CHECK(mgv_text_width("a", 1) == 5 && mgv_text_width("ab", 1) == 11);
    CHECK(mgv_text_width("ab", 3) == 33);
    CHECK(mgv_text_width("p\xcc\x83", 1) == 5);      /* p + combining tilde: one cell */
    CHECK(mgv_text_width("\xc3\xa9t\xc3\xa9", 2) == 34);   /* é t é: three cells */

    /* 'I' is ".###." in its top row and "..#.." below */
    mgv_canvas *c = mgv_canvas_new(12, 12, 0xFFFFFF);
    CHECK(mgv_canvas_text(c, 0, 0, "I", 1, 0x000000) == 5);
    CHECK(mgv_canvas_get(c, 0, 0) == 0xFFFFFF && mgv_canvas_get(c, 1, 0) == 0x000000);
    CHECK(mgv_canvas_get(c, 3, 0) == 0x000000 && mgv_canvas_get(c, 4, 0) == 0xFFFFFF);
    CHECK(mgv_canvas_get(c, 2, 3) == 0x000000 && mgv_canvas_get(c, 1, 3) == 0xFFFFFF);
    CHECK(count_color(c, 0x000000) == 11);   /* 3 + 5 + 3 */
    mgv_canvas_free(c);

    /* scale 2: each font pixel is a 2x2 block */
    c = mgv_canvas_new(12, 20, 0xFFFFFF);
    mgv_canvas_text(c, 0, 0, "I", 2, 0x000000);
    CHECK(count_color(c, 0x000000) == 44);
    CHECK(mgv_canvas_get(c, 2, 0) == 0x000000 && mgv_canvas_get(c, 3, 1) == 0x000000);
    CHECK(mgv_canvas_get(c, 1, 0) == 0xFFFFFF);
    mgv_canvas_free(c);

    /* rotated: the top row of 'I' becomes the left column, read upwards */
    c = mgv_canvas_new(12, 12, 0xFFFFFF);
    mgv_canvas_text_up(c, 0, 10, "I", 1, 0x000000);
    CHECK(mgv_canvas_get(c, 0, 8) == 0x000000 && mgv_canvas_get(c, 0, 7) == 0x000000);
    CHECK(mgv_canvas_get(c, 0, 9) == 0xFFFFFF && mgv_canvas_get(c, 0, 5) == 0xFFFFFF);
    CHECK(count_color(c, 0x000000) == 11);
    mgv_canvas_free(c);

    /* characters outside ASCII draw as '?' */
    mgv_canvas *a = mgv_canvas_new(8, 12, 0xFFFFFF), *b = mgv_canvas_new(8, 12, 0xFFFFFF);
    mgv_canvas_text(a, 0, 0, "\xe2\x82\xac", 1, 0);   /* the euro sign */
    mgv_canvas_text(b, 0, 0, "?", 1, 0);
    CHECK(memcmp(a->rgb, b->rgb, (size_t)a->w * a->h * 3) == 0);
    mgv_canvas_free(a);
    mgv_canvas_free(b);

    /* a combining tilde adds ink over the letter, not a cell */
    a = mgv_canvas_new(8, 14, 0xFFFFFF);
    b = mgv_canvas_new(8, 14, 0xFFFFFF);
    mgv_canvas_text(a, 0, 3, "p", 1, 0);
    mgv_canvas_text(b, 0, 3, "p\xcc\x83", 1, 0);
    CHECK(count_color(b, 0) == count_color(a, 0) + 6);
    mgv_canvas_free(a);
    mgv_canvas_free(b);
}

static void test_colors(void)
{
    CHECK(mgv_colormap(0) == 0x440154);
    CHECK(mgv_colormap(1) == 0xFDE725);
    CHECK(mgv_colormap(0.5) == 0x21908D);
    CHECK(mgv_colormap(-3) == 0x440154 && mgv_colormap(7) == 0xFDE725);
    CHECK(mgv_colormap(NAN) == 0xA0A0A0);
    /* halfway between the first two anchors (68,1,84) and (71,44,122) */
    CHECK(mgv_colormap(1.0 / 16) == ((70u << 16) | (23u << 8) | 103u));
    CHECK(mgv_palette(0) == 0x1F77B4 && mgv_palette(1) == 0xFF7F0E);
    int distinct = 1;
    for (int i = 0; i < 40; i++)
        for (int j = 0; j < i; j++) distinct &= mgv_palette(i) != mgv_palette(j);
    CHECK(distinct);
}

static void test_heatmap(void)
{
    float v[6] = {0, 1, 2, 3, 4, 5};
    mgv_plot_opts o = {0};
    o.font = 1;
    o.cell = 10;
    mgv_canvas *c = mgv_plot_heatmap(v, 2, 3, &o);
    CHECK(c != NULL);
    if (c) {
        /* font 1: pad 6, row labels "1"/"2" 5 wide + 5: the cells start at (16, 6) */
        CHECK(mgv_canvas_get(c, 20, 10) == mgv_colormap(0));
        CHECK(mgv_canvas_get(c, 16, 6) == mgv_colormap(0) && mgv_canvas_get(c, 15, 6) != mgv_colormap(0));
        CHECK(mgv_canvas_get(c, 16 + 25, 6 + 15) == mgv_colormap(1));
        CHECK(mgv_canvas_get(c, 16 + 15, 6 + 5) == mgv_colormap(0.2));
        CHECK(count_color(c, mgv_colormap(1)) >= 100);
        CHECK(c->w > 16 + 30 && c->h > 6 + 20);
        mgv_canvas_free(c);
    }
    /* a fixed range; NaN is a grey cell */
    float w[4] = {NAN, 10, -10, 0.5f};
    o.has_range = 1, o.vmin = 0, o.vmax = 1;
    c = mgv_plot_heatmap(w, 2, 2, &o);
    CHECK(c != NULL);
    if (c) {
        CHECK(mgv_canvas_get(c, 20, 10) == 0xA0A0A0);
        CHECK(mgv_canvas_get(c, 30, 10) == mgv_colormap(1));    /* 10 clamps to the top */
        CHECK(mgv_canvas_get(c, 20, 20) == mgv_colormap(0));    /* -10 to the bottom */
        CHECK(mgv_canvas_get(c, 30, 20) == mgv_colormap(0.5));
        mgv_canvas_free(c);
    }
    /* labels and a title make the picture larger, never smaller */
    const char *rows[2] = {"alpha", "beta"}, *cols[3] = {"x", "y", "z"};
    mgv_plot_opts l = {0};
    l.cell = 10, l.font = 1, l.title = "t", l.row_labels = rows, l.n_row_labels = 2;
    l.col_labels = cols, l.n_col_labels = 3;
    c = mgv_plot_heatmap(v, 2, 3, &l);
    CHECK(c && c->w > 60);
    mgv_canvas_free(c);

    /* errors */
    CHECK(mgv_plot_heatmap(v, 0, 3, NULL) == NULL);
    CHECK_ERROR_HAS("plot.heatmap: 0x3 values");
    l.n_row_labels = 3;
    CHECK(mgv_plot_heatmap(v, 2, 3, &l) == NULL);
    CHECK_ERROR_HAS("plot.heatmap: 3 row labels for 2 rows");
    mgv_plot_opts r = {0};
    r.has_range = 1, r.vmin = 1, r.vmax = 1;
    CHECK(mgv_plot_heatmap(v, 2, 3, &r) == NULL);
    CHECK_ERROR_HAS("min < max");
    mgv_plot_opts f = {0};
    f.font = 9;
    CHECK(mgv_plot_heatmap(v, 2, 3, &f) == NULL);
    CHECK_ERROR_HAS("font scale 9");
    float *big = calloc(4096 * 4, sizeof *big);
    mgv_plot_opts g = {0};
    g.cell = 256;
    CHECK(big && mgv_plot_heatmap(big, 4096, 4, &g) == NULL);
    CHECK_ERROR_HAS("at most 8192 per side");
    free(big);
    CHECK(mgv_plot_heatmap(NULL, 2, 2, NULL) == NULL);
    CHECK_ERROR_HAS("no data");
}

static void test_bars_lines_scatter(void)
{
    float v[4] = {1, -1, 2, NAN};
    mgv_canvas *c = mgv_plot_bars(v, 4, 1, NULL);
    CHECK(c != NULL);
    if (c) {
        CHECK(count_color(c, mgv_palette(0)) > 50);
        CHECK(count_color(c, mgv_palette(1)) == 0);
        mgv_canvas_free(c);
    }
    const char *series[2] = {"p", "p\xcc\x83"};
    mgv_plot_opts o = {0};
    o.series = series, o.n_series = 2;
    c = mgv_plot_bars(v, 2, 2, &o);
    CHECK(c && count_color(c, mgv_palette(1)) > 50);
    mgv_canvas_free(c);
    o.n_series = 1;
    CHECK(mgv_plot_bars(v, 2, 2, &o) == NULL);
    CHECK_ERROR_HAS("plot.bars: 1 series names for 2 series");
    CHECK(mgv_plot_bars(v, 0, 1, NULL) == NULL);
    CHECK_ERROR_HAS("plot.bars");

    float y[6] = {1, 2, 3, 3, NAN, 1};
    c = mgv_plot_lines(NULL, y, 2, 3, NULL);
    CHECK(c && count_color(c, mgv_palette(0)) > 20 && count_color(c, mgv_palette(1)) > 5);
    mgv_canvas_free(c);
    float nan3[3] = {NAN, NAN, NAN};
    c = mgv_plot_lines(NULL, nan3, 1, 3, NULL);   /* nothing to draw: axes only */
    CHECK(c && count_color(c, mgv_palette(0)) == 0);
    mgv_canvas_free(c);
    CHECK(mgv_plot_lines(NULL, y, 0, 3, NULL) == NULL);
    CHECK_ERROR_HAS("plot.lines: 0 series");
    mgv_plot_opts sz = {0};
    sz.width = -2;
    CHECK(mgv_plot_lines(NULL, y, 1, 3, &sz) == NULL);
    CHECK_ERROR_HAS("plot size");

    float px[3] = {0, 0.5f, 1}, py[3] = {0, 0.5f, 1};
    int cls[3] = {0, 1, 1};
    mgv_plot_opts d = {0};
    d.diagonal = 1;
    c = mgv_plot_scatter(px, py, 3, cls, &d);
    CHECK(c && count_color(c, 0x999999) > 100);   /* the y = x line */
    mgv_canvas_free(c);
    const char *one[1] = {"a"};
    d.class_names = one, d.n_class_names = 1;
    CHECK(mgv_plot_scatter(px, py, 3, cls, &d) == NULL);
    CHECK_ERROR_HAS("plot.scatter: 1 class names for 2 classes");
    CHECK(mgv_plot_scatter(px, py, 0, NULL, NULL) == NULL);
    CHECK_ERROR_HAS("0 points");
}

static void test_graph(void)
{
    /* 4 nodes, classes 0 0 1 1; one strong edge inside each class */
    float a[16] = {0};
    a[0 * 4 + 1] = 1.0f;
    a[3 * 4 + 2] = 0.8f;
    a[0 * 4 + 3] = 0.01f;   /* below the default threshold: not drawn */
    int cls[4] = {0, 0, 1, 1};
    mgv_canvas *c = mgv_plot_graph(a, 4, cls, NULL);
    CHECK(c != NULL);
    if (c) {
        CHECK(count_color(c, mgv_palette(0)) > 50 && count_color(c, mgv_palette(1)) > 50);
        CHECK(count_color(c, 0x8A8A8A) == 0);   /* no edge across classes */
        mgv_canvas_free(c);
    }
    mgv_plot_opts o = {0};
    o.threshold = 0.001;
    c = mgv_plot_graph(a, 4, cls, &o);
    CHECK(c != NULL);
    mgv_canvas_free(c);
    int bad[4] = {0, -1, 1, 1};
    CHECK(mgv_plot_graph(a, 4, bad, NULL) == NULL);
    CHECK_ERROR_HAS("class 0 of item 2");
    o.threshold = 2;
    CHECK(mgv_plot_graph(a, 4, cls, &o) == NULL);
    CHECK_ERROR_HAS("threshold 2");
    CHECK(mgv_plot_graph(a, 0, NULL, NULL) == NULL);
    CHECK_ERROR_HAS("0 nodes");
    const char *names[3] = {"a", "b", "c"};
    mgv_plot_opts n = {0};
    n.row_labels = names, n.n_row_labels = 3;
    CHECK(mgv_plot_graph(a, 4, cls, &n) == NULL);
    CHECK_ERROR_HAS("3 node names for 4 nodes");
}

static void test_image_and_png(void)
{
    float g[4] = {0, 255, 128, 64};
    mgv_canvas *c = mgv_plot_image(g, 1, 2, 2, 0, 255);
    CHECK(c && c->w == 2 && c->h == 2);
    if (c) {
        CHECK(mgv_canvas_get(c, 0, 0) == 0x000000 && mgv_canvas_get(c, 1, 0) == 0xFFFFFF);
        CHECK(mgv_canvas_get(c, 0, 1) == 0x808080 && mgv_canvas_get(c, 1, 1) == 0x404040);
    }
    float rgb[3 * 2] = {1, 0, 0, 1, -1, -1};   /* planar: R G B planes of 1x2 */
    mgv_canvas *d = mgv_plot_image(rgb, 3, 1, 2, -1, 1);
    CHECK(d && mgv_canvas_get(d, 0, 0) == ((255u << 16) | (128u << 8) | 0u));
    mgv_canvas_free(d);
    CHECK(mgv_plot_image(g, 2, 2, 2, 0, 1) == NULL);
    CHECK_ERROR_HAS("2 channels");
    CHECK(mgv_plot_image(g, 1, 2, 2, 1, 1) == NULL);
    CHECK_ERROR_HAS("lo < hi");

    /* PNG bytes decode back to the same pixels */
    float v[6] = {0, 1, 2, 3, 4, 5};
    mgv_canvas *h = mgv_plot_heatmap(v, 2, 3, NULL);
    unsigned char *png = NULL;
    size_t len = 0;
    CHECK(h && mgv_canvas_png(h, &png, &len) == 0 && len > 24);
    if (h && png) {
        CHECK(memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0);
        int w = 0, ht = 0;
        uint8_t *back = NULL;
        CHECK(mgv_image_decode_rgb8(png, len, "plot", &w, &ht, &back) == 0);
        CHECK(w == h->w && ht == h->h);
        CHECK(back && memcmp(back, h->rgb, (size_t)w * ht * 3) == 0);
        free(back);
    }
    free(png);
    char path[64];
    snprintf(path, sizeof path, "/tmp/mgv_test_plot_%d.png", (int)getpid());
    CHECK(c && mgv_canvas_save(c, path) == 0);
    mgv_tensor *t = mgv_image_read(path);
    CHECK(t && t->ndim == 3 && t->shape[0] == 3 && t->shape[1] == 2 && t->shape[2] == 2);
    CHECK(t && mgv_get_flat(t, 1) == 255.0f);   /* R of pixel (1, 0) */
    mgv_release(t);
    unlink(path);
    CHECK(mgv_canvas_save(c, "/nonexistent-dir/x.png") < 0);
    CHECK_ERROR_HAS("/nonexistent-dir/x.png");
    mgv_canvas_free(c);
    mgv_canvas_free(h);
}

int main(void)
{
    RUN(test_canvas_basics);
    RUN(test_line_and_disc_coverage);
    RUN(test_font);
    RUN(test_colors);
    RUN(test_heatmap);
    RUN(test_bars_lines_scatter);
    RUN(test_graph);
    RUN(test_image_and_png);
    return CHECK_DONE();
}
