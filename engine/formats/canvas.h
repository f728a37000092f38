/*
 * canvas.h — an RGB picture and what the charts draw it with (no drawing
 * library): antialiased lines and discs, rectangles, text in a small built-in
 * bitmap font (5x7 glyphs with two descender rows, printable ASCII; other
 * characters draw as '?', combining tildes as a tilde over the previous
 * letter so that "p̃" reads right), colour scales, PNG output.
 *
 * A canvas is interleaved 8-bit RGB, rows top to bottom, origin top left;
 * colours are 0xRRGGBB.
 */
#ifndef MGV_CANVAS_H
#define MGV_CANVAS_H

#include <stddef.h>
#include <stdint.h>

#define MGV_PLOT_MAX_SIDE 8192   /* pixels per side of any picture */

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
/* in cut to at most max_cells characters (max_cells >= 4), with "..." at the
 * end when cut, into out[n] (n >= 4). */
void mgv_text_clip(const char *in, int max_cells, char *out, size_t n);
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

#endif
