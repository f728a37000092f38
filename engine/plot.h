/*
 * plot.h — pictures of routing, graphs and training, rasterised into RGB
 * buffers (no Lua, no drawing library): a heatmap with a colour scale,
 * grouped bars, line charts, a scatter plot and a node-link drawing of a
 * graph coloured by class. Text comes from a small built-in bitmap font
 * (5x7 glyphs with two descender rows, printable ASCII; other characters
 * draw as '?', combining tildes as a tilde over the previous letter so that
 * "p̃" reads right).
 *
 * A canvas is interleaved 8-bit RGB, rows top to bottom, origin top left;
 * colours are 0xRRGGBB. Every chart function returns a new canvas (free it
 * with mgv_canvas_free) or NULL after mgv_fail with a message that names the
 * chart and the problem ("plot.heatmap: 3 row labels for 4 rows").
 *
 * Data arrays are contiguous row-major float32. NaN marks a missing value:
 * a grey cell in a heatmap, a gap in a line, a skipped bar or point.
 */
#ifndef MGV_PLOT_H
#define MGV_PLOT_H

#include <stddef.h>
#include <stdint.h>

#define MGV_PLOT_MAX_SIDE 8192   /* pixels per side of any picture */
#define MGV_PLOT_MAX_ITEMS 4096  /* rows, columns, groups, nodes, series */

typedef struct mgv_canvas {
    int w, h;
    uint8_t *rgb;   /* w * h * 3 bytes */
} mgv_canvas;

/* ---- canvas and primitives -------------------------------------------- */
/* A w x h canvas filled with bg; NULL with a message when the size is not in
 * 1..MGV_PLOT_MAX_SIDE or memory runs out. */
mgv_canvas *mgv_canvas_new(int w, int h, uint32_t bg);
void mgv_canvas_free(mgv_canvas *c);   /* NULL is fine */
/* The colour at (x, y), or 0 outside the canvas. */
uint32_t mgv_canvas_get(const mgv_canvas *c, int x, int y);
/* Everything below clips to the canvas. */
void mgv_canvas_fill_rect(mgv_canvas *c, int x, int y, int w, int h, uint32_t color);
void mgv_canvas_frame_rect(mgv_canvas *c, int x, int y, int w, int h, uint32_t color);
/* An antialiased segment of the given width, blended with opacity alpha (0..1). */
void mgv_canvas_line(mgv_canvas *c, double x0, double y0, double x1, double y1, double width,
                     uint32_t color, double alpha);
/* An antialiased filled disc. */
void mgv_canvas_disc(mgv_canvas *c, double cx, double cy, double r, uint32_t color, double alpha);

/* Text in the bitmap font, each font pixel drawn as scale x scale pixels.
 * (x, y) is the top left of the first glyph cell; glyphs are 5 x 9 font
 * pixels (capitals 7 tall, then 2 rows for descenders) on a 6-pixel advance.
 * Returns the width drawn. */
int mgv_canvas_text(mgv_canvas *c, int x, int y, const char *utf8, int scale, uint32_t color);
/* The same rotated 90 degrees counter-clockwise (reads bottom to top);
 * (x, y) is the bottom left of the first glyph cell as seen on the page. */
int mgv_canvas_text_up(mgv_canvas *c, int x, int y, const char *utf8, int scale, uint32_t color);
/* Width in pixels of a text at a scale (characters x 6 x scale, minus the
 * trailing blank column). */
int mgv_text_width(const char *utf8, int scale);
#define MGV_FONT_ADVANCE 6   /* font pixels per character */
#define MGV_FONT_HEIGHT 9    /* font pixels per glyph cell, descenders included */
#define MGV_FONT_CAP 7       /* height of capitals and digits */

/* A sequential colour scale (dark purple -> blue -> green -> yellow) for
 * t in [0, 1] (clamped; NaN gives grey). */
uint32_t mgv_colormap(double t);
/* Categorical colours: 10 distinct ones, then generated hues. */
uint32_t mgv_palette(int i);

/* PNG bytes of the canvas (malloc'd; free() them) / a PNG file written atomically. */
int mgv_canvas_png(const mgv_canvas *c, unsigned char **out, size_t *len);
int mgv_canvas_save(const mgv_canvas *c, const char *path);

/* ---- charts ------------------------------------------------------------ */
/* Options shared by the charts; a zeroed struct means all defaults. Label
 * arrays may be NULL; when given, their count must match the data. */
typedef struct mgv_plot_opts {
    const char *title, *xlabel, *ylabel;
    const char *const *row_labels;   /* heatmap rows, bar groups, graph node names */
    int n_row_labels;
    const char *const *col_labels;   /* heatmap columns */
    int n_col_labels;
    const char *const *series;       /* legend names of bar/line series */
    int n_series;
    const char *const *class_names;  /* legend names of classes (graph, scatter) */
    int n_class_names;
    int has_range;                   /* heatmap colour range / y range of bars and lines */
    double vmin, vmax;
    int font;                        /* text scale, 1..4 (0: 2) */
    int cell;                        /* heatmap cell side in pixels (0: automatic) */
    int width, height;               /* plot area of lines/scatter (0: automatic) */
    double threshold;                /* graph: hide edges below this fraction of the largest (0: 0.05) */
    int diagonal;                    /* scatter: draw y = x */
} mgv_plot_opts;

/* rows x cols values, each a coloured cell; rows top to bottom. A colour bar
 * with ticks on the right; row and column labels (default 1..n). */
mgv_canvas *mgv_plot_heatmap(const float *v, int rows, int cols, const mgv_plot_opts *o);
/* groups x series values: one bar per series in each group, from zero. */
mgv_canvas *mgv_plot_bars(const float *v, int groups, int series, const mgv_plot_opts *o);
/* series x points values: one line per series over x (points values; NULL
 * means 1..points). */
mgv_canvas *mgv_plot_lines(const float *x, const float *y, int series, int points,
                           const mgv_plot_opts *o);
/* n points (x[i], y[i]), coloured by classes[i] (0-based; NULL: one colour). */
mgv_canvas *mgv_plot_scatter(const float *x, const float *y, int n, const int *classes,
                             const mgv_plot_opts *o);
/* An n x n weighted adjacency matrix as a node-link drawing: nodes on a
 * circle grouped by class (classes[i] 0-based, NULL: one class), edge width
 * and opacity by weight max(a_ij, a_ji) relative to the largest; edges inside
 * a class in its colour, across classes grey. */
mgv_canvas *mgv_plot_graph(const float *adj, int n, const int *classes, const mgv_plot_opts *o);
/* A picture from planar float channels (1 or 3 of h x w), lo -> 0, hi -> 255. */
mgv_canvas *mgv_plot_image(const float *v, int channels, int h, int w, double lo, double hi);

#endif
