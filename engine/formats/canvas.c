/*
 * canvas.c — the RGB canvas of canvas.h: antialiased primitives, the bitmap
 * font, colour scales and PNG output.
 *
 * Lines and discs are antialiased by coverage: a pixel's opacity is how far
 * its centre lies inside the shape, within half a pixel. Text uses the
 * bitmap font below.
 */
#include "formats/canvas.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/image.h"

/* ---- the font ------------------------------------------------------------
 * Printable ASCII (32..126), each glyph 5 columns x 9 rows: rows 0..6 hold
 * capitals and digits (row 6 sits on the baseline), rows 7..8 descenders.
 * Missing trailing rows are blank. */
static const char *const glyphs[95][9] = {
    /* ' ' */ {0},
    /* '!' */ {"..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#.."},
    /* '"' */ {".#.#.", ".#.#.", ".#.#."},
    /* '#' */ {".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#."},
    /* '$' */ {"..#..", ".####", "#.#..", ".###.", "..#.#", "####.", "..#.."},
    /* '%' */ {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"},
    /* '&' */ {".##..", "#..#.", "#.#..", ".#...", "#.#.#", "#..#.", ".##.#"},
    /* ''' */ {"..#..", "..#..", ".#..."},
    /* '(' */ {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."},
    /* ')' */ {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."},
    /* '*' */ {".....", "..#..", "#.#.#", ".###.", "#.#.#", "..#..", "....."},
    /* '+' */ {".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."},
    /* ',' */ {".....", ".....", ".....", ".....", ".....", ".##..", ".##..", "..#..", ".#..."},
    /* '-' */ {".....", ".....", ".....", ".###.", ".....", ".....", "....."},
    /* '.' */ {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."},
    /* '/' */ {"....#", "....#", "...#.", "..#..", ".#...", "#....", "#...."},
    /* '0' */ {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."},
    /* '1' */ {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."},
    /* '2' */ {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"},
    /* '3' */ {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."},
    /* '4' */ {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."},
    /* '5' */ {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."},
    /* '6' */ {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."},
    /* '7' */ {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."},
    /* '8' */ {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."},
    /* '9' */ {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."},
    /* ':' */ {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."},
    /* ';' */ {".....", ".##..", ".##..", ".....", ".##..", ".##..", "..#..", ".#..."},
    /* '<' */ {"...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#."},
    /* '=' */ {".....", ".....", "#####", ".....", "#####", ".....", "....."},
    /* '>' */ {".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."},
    /* '?' */ {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."},
    /* '@' */ {".###.", "#...#", "....#", ".##.#", "#.#.#", "#.#.#", ".###."},
    /* 'A' */ {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
    /* 'B' */ {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."},
    /* 'C' */ {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."},
    /* 'D' */ {"###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."},
    /* 'E' */ {"#####", "#....", "#....", "####.", "#....", "#....", "#####"},
    /* 'F' */ {"#####", "#....", "#....", "####.", "#....", "#....", "#...."},
    /* 'G' */ {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"},
    /* 'H' */ {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
    /* 'I' */ {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},
    /* 'J' */ {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."},
    /* 'K' */ {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"},
    /* 'L' */ {"#....", "#....", "#....", "#....", "#....", "#....", "#####"},
    /* 'M' */ {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"},
    /* 'N' */ {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"},
    /* 'O' */ {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
    /* 'P' */ {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."},
    /* 'Q' */ {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"},
    /* 'R' */ {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"},
    /* 'S' */ {".####", "#....", "#....", ".###.", "....#", "....#", "####."},
    /* 'T' */ {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},
    /* 'U' */ {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
    /* 'V' */ {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."},
    /* 'W' */ {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."},
    /* 'X' */ {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"},
    /* 'Y' */ {"#...#", "#...#", "#...#", ".#.#.", "..#..", "..#..", "..#.."},
    /* 'Z' */ {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"},
    /* '[' */ {".###.", ".#...", ".#...", ".#...", ".#...", ".#...", ".###."},
    /* '\' */ {"#....", "#....", ".#...", "..#..", "...#.", "....#", "....#"},
    /* ']' */ {".###.", "...#.", "...#.", "...#.", "...#.", "...#.", ".###."},
    /* '^' */ {"..#..", ".#.#.", "#...#"},
    /* '_' */ {".....", ".....", ".....", ".....", ".....", ".....", ".....", "#####"},
    /* '`' */ {".#...", "..#..", "...#."},
    /* 'a' */ {".....", ".....", ".###.", "....#", ".####", "#...#", ".####"},
    /* 'b' */ {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####."},
    /* 'c' */ {".....", ".....", ".###.", "#....", "#....", "#...#", ".###."},
    /* 'd' */ {"....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####"},
    /* 'e' */ {".....", ".....", ".###.", "#...#", "#####", "#....", ".###."},
    /* 'f' */ {"..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."},
    /* 'g' */ {".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", ".###."},
    /* 'h' */ {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"},
    /* 'i' */ {"..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."},
    /* 'j' */ {"...#.", ".....", "..##.", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."},
    /* 'k' */ {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."},
    /* 'l' */ {".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},
    /* 'm' */ {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#"},
    /* 'n' */ {".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"},
    /* 'o' */ {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."},
    /* 'p' */ {".....", ".....", "####.", "#...#", "#...#", "#...#", "####.", "#....", "#...."},
    /* 'q' */ {".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", "....#"},
    /* 'r' */ {".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."},
    /* 's' */ {".....", ".....", ".####", "#....", ".###.", "....#", "####."},
    /* 't' */ {".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."},
    /* 'u' */ {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"},
    /* 'v' */ {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."},
    /* 'w' */ {".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."},
    /* 'x' */ {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"},
    /* 'y' */ {".....", ".....", "#...#", "#...#", "#...#", "#...#", ".####", "....#", ".###."},
    /* 'z' */ {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"},
    /* '{' */ {"...##", "..#..", "..#..", ".#...", "..#..", "..#..", "...##"},
    /* '|' */ {"..#..", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},
    /* '}' */ {"##...", "..#..", "..#..", "...#.", "..#..", "..#..", "##..."},
    /* '~' */ {".....", ".....", ".#...", "#.#.#", "...#.", ".....", "....."},
};
/* A combining tilde (U+0303), drawn one row above the cell over the previous
 * glyph (in the line spacing), clear of x-height letters. */
static const char *const tilde_rows[9] = {".##.#", "#.##."};

/* The next code point of a UTF-8 string (advancing *p); 0xFFFD for a byte
 * that does not start a valid sequence. */
static uint32_t next_cp(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c = s[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0) {
        *p = s + 1;
        return 0xFFFD;
    }
    if (n == 1) {
        *p = s + 1;
        return c;
    }
    uint32_t cp = c & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *p = s + i;
            return 0xFFFD;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *p = s + n;
    return cp;
}

static int is_combining(uint32_t cp)
{
    return cp >= 0x300 && cp <= 0x36F;
}

/* Number of glyph cells a string takes (combining marks take none). */
static int text_cells(const char *utf8)
{
    int n = 0;
    const unsigned char *p = (const unsigned char *)(utf8 ? utf8 : "");
    while (*p)
        if (!is_combining(next_cp(&p))) n++;
    return n;
}

int mgv_text_width(const char *utf8, int scale)
{
    int n = text_cells(utf8);
    return n > 0 ? (n * MGV_FONT_ADVANCE - 1) * scale : 0;
}

/* ---- canvas ------------------------------------------------------------- */

mgv_canvas *mgv_canvas_new(int w, int h, uint32_t bg)
{
    if (w < 1 || h < 1 || w > MGV_PLOT_MAX_SIDE || h > MGV_PLOT_MAX_SIDE)
        return mgv_fail_null("plot: a picture of %dx%d pixels (each side must be in 1..%d)", w, h,
                             MGV_PLOT_MAX_SIDE);
    mgv_canvas *c = malloc(sizeof *c);
    uint8_t *px = malloc((size_t)w * (size_t)h * 3);
    if (!c || !px) {
        free(c);
        free(px);
        return mgv_fail_null("plot: out of memory for a %dx%d picture", w, h);
    }
    c->w = w;
    c->h = h;
    c->rgb = px;
    uint8_t r = (uint8_t)(bg >> 16), g = (uint8_t)(bg >> 8), b = (uint8_t)bg;
    size_t n = (size_t)w * (size_t)h;
    for (size_t i = 0; i < n; i++) {
        px[3 * i] = r;
        px[3 * i + 1] = g;
        px[3 * i + 2] = b;
    }
    return c;
}

void mgv_canvas_free(mgv_canvas *c)
{
    if (!c) return;
    free(c->rgb);
    free(c);
}

uint32_t mgv_canvas_get(const mgv_canvas *c, int x, int y)
{
    if (!c || x < 0 || y < 0 || x >= c->w || y >= c->h) return 0;
    const uint8_t *p = c->rgb + 3 * ((size_t)y * (size_t)c->w + (size_t)x);
    return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}

static inline void put(mgv_canvas *c, int x, int y, uint32_t color)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    uint8_t *p = c->rgb + 3 * ((size_t)y * (size_t)c->w + (size_t)x);
    p[0] = (uint8_t)(color >> 16);
    p[1] = (uint8_t)(color >> 8);
    p[2] = (uint8_t)color;
}

/* Mixes color into the pixel with opacity a in [0, 1]. */
static inline void blend(mgv_canvas *c, int x, int y, uint32_t color, double a)
{
    if (a <= 0 || x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    if (a > 1) a = 1;
    uint8_t *p = c->rgb + 3 * ((size_t)y * (size_t)c->w + (size_t)x);
    double src[3] = {(double)((color >> 16) & 255), (double)((color >> 8) & 255),
                     (double)(color & 255)};
    for (int k = 0; k < 3; k++) p[k] = (uint8_t)(p[k] + (src[k] - p[k]) * a + 0.5);
}

void mgv_canvas_fill_rect(mgv_canvas *c, int x, int y, int w, int h, uint32_t color)
{
    if (!c || w <= 0 || h <= 0) return;
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->w ? c->w : x + w, y1 = y + h > c->h ? c->h : y + h;
    for (int j = y0; j < y1; j++)
        for (int i = x0; i < x1; i++) put(c, i, j, color);
}

void mgv_canvas_frame_rect(mgv_canvas *c, int x, int y, int w, int h, uint32_t color)
{
    if (!c || w <= 0 || h <= 0) return;
    mgv_canvas_fill_rect(c, x, y, w, 1, color);
    mgv_canvas_fill_rect(c, x, y + h - 1, w, 1, color);
    mgv_canvas_fill_rect(c, x, y, 1, h, color);
    mgv_canvas_fill_rect(c, x + w - 1, y, 1, h, color);
}

void mgv_canvas_line(mgv_canvas *c, double x0, double y0, double x1, double y1, double width,
                     uint32_t color, double alpha)
{
    if (!c || !(width > 0) || !isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1))
        return;
    double hw = width / 2, dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    int bx0 = (int)floor(fmin(x0, x1) - hw - 1), bx1 = (int)ceil(fmax(x0, x1) + hw + 1);
    int by0 = (int)floor(fmin(y0, y1) - hw - 1), by1 = (int)ceil(fmax(y0, y1) + hw + 1);
    if (bx0 < 0) bx0 = 0;
    if (by0 < 0) by0 = 0;
    if (bx1 > c->w - 1) bx1 = c->w - 1;
    if (by1 > c->h - 1) by1 = c->h - 1;
    double inv = len2 > 0 ? 1.0 / len2 : 0;
    for (int y = by0; y <= by1; y++) {
        double py = y + 0.5;
        for (int x = bx0; x <= bx1; x++) {
            double px = x + 0.5;
            /* distance from the pixel centre to the segment */
            double t = ((px - x0) * dx + (py - y0) * dy) * inv;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            double ex = x0 + t * dx - px, ey = y0 + t * dy - py;
            double cov = hw + 0.5 - sqrt(ex * ex + ey * ey);
            if (cov > 0) blend(c, x, y, color, alpha * (cov > 1 ? 1 : cov));
        }
    }
}

void mgv_canvas_disc(mgv_canvas *c, double cx, double cy, double r, uint32_t color, double alpha)
{
    if (!c || !(r > 0) || !isfinite(cx) || !isfinite(cy)) return;
    int x0 = (int)floor(cx - r - 1), x1 = (int)ceil(cx + r + 1);
    int y0 = (int)floor(cy - r - 1), y1 = (int)ceil(cy + r + 1);
    for (int y = y0 < 0 ? 0 : y0; y <= y1 && y < c->h; y++)
        for (int x = x0 < 0 ? 0 : x0; x <= x1 && x < c->w; x++) {
            double ex = x + 0.5 - cx, ey = y + 0.5 - cy;
            double cov = r + 0.5 - sqrt(ex * ex + ey * ey);
            if (cov > 0) blend(c, x, y, color, alpha * (cov > 1 ? 1 : cov));
        }
}

/* Draws one glyph (9 rows) at text cell index `cell`, shifted down by
 * `shift` font rows (negative: up); up: rotated. */
static void draw_glyph(mgv_canvas *c, int x, int y, int cell, const char *const rows[9], int s,
                       uint32_t color, int up, int shift)
{
    for (int rr = 0; rr < MGV_FONT_HEIGHT; rr++) {
        if (!rows[rr]) continue;
        int r = rr + shift;
        for (int k = 0; k < 5; k++) {
            if (rows[rr][k] != '#') continue;
            int u = cell * MGV_FONT_ADVANCE + k;   /* along the text */
            if (up)
                mgv_canvas_fill_rect(c, x + r * s, y - (u + 1) * s, s, s, color);
            else
                mgv_canvas_fill_rect(c, x + u * s, y + r * s, s, s, color);
        }
    }
}

static int draw_text(mgv_canvas *c, int x, int y, const char *utf8, int scale, uint32_t color,
                     int up)
{
    if (!c || !utf8) return 0;
    if (scale < 1) scale = 1;
    int cell = 0;
    const unsigned char *p = (const unsigned char *)utf8;
    while (*p) {
        uint32_t cp = next_cp(&p);
        if (is_combining(cp)) {
            if (cp == 0x303 && cell > 0) draw_glyph(c, x, y, cell - 1, tilde_rows, scale, color, up, -1);
            continue;
        }
        int g = (cp >= 32 && cp <= 126) ? (int)cp - 32 : '?' - 32;
        draw_glyph(c, x, y, cell, glyphs[g], scale, color, up, 0);
        cell++;
    }
    return cell > 0 ? (cell * MGV_FONT_ADVANCE - 1) * scale : 0;
}

void mgv_text_clip(const char *in, int max_cells, char *out, size_t n)
{
    const char *str = in ? in : "";
    int total = text_cells(str);
    int keep = total > max_cells ? max_cells - 3 : total;
    const unsigned char *p = (const unsigned char *)str;
    size_t used = 0;
    int cells = 0;
    while (*p) {
        const unsigned char *q = p;
        uint32_t cp = next_cp(&p);
        if (!is_combining(cp)) {
            if (cells == keep) break;
            cells++;
        }
        size_t k = (size_t)(p - q);
        if (used + k + 4 > n) break;
        memcpy(out + used, q, k);
        used += k;
    }
    if (total > keep) {
        memcpy(out + used, "...", 3);
        used += 3;
    }
    out[used] = '\0';
}

int mgv_canvas_text(mgv_canvas *c, int x, int y, const char *utf8, int scale, uint32_t color)
{
    return draw_text(c, x, y, utf8, scale, color, 0);
}

int mgv_canvas_text_up(mgv_canvas *c, int x, int y, const char *utf8, int scale, uint32_t color)
{
    return draw_text(c, x, y, utf8, scale, color, 1);
}

/* ---- colours ------------------------------------------------------------ */

uint32_t mgv_colormap(double t)
{
    /* anchors of a perceptually ordered dark-to-light scale */
    static const uint8_t stops[9][3] = {
        {68, 1, 84},   {71, 44, 122},  {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
        {39, 173, 129}, {92, 200, 99}, {170, 220, 50}, {253, 231, 37},
    };
    if (isnan(t)) return 0xA0A0A0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double f = t * 8;
    int i = (int)f;
    if (i >= 8) i = 7;
    double u = f - i;
    uint32_t out = 0;
    for (int k = 0; k < 3; k++) {
        double v = stops[i][k] + (stops[i + 1][k] - stops[i][k]) * u;
        out = (out << 8) | (uint32_t)(v + 0.5);
    }
    return out;
}

/* HSV (h in [0, 1)) to 0xRRGGBB. */
static uint32_t hsv(double h, double s, double v)
{
    double r = 0, g = 0, b = 0, f = h * 6 - floor(h * 6);
    double p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
    switch ((int)floor(h * 6) % 6) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
    }
    return ((uint32_t)(r * 255 + 0.5) << 16) | ((uint32_t)(g * 255 + 0.5) << 8) |
           (uint32_t)(b * 255 + 0.5);
}

uint32_t mgv_palette(int i)
{
    static const uint32_t base[10] = {0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD,
                                      0x8C564B, 0xE377C2, 0x7F7F7F, 0xBCBD22, 0x17BECF};
    if (i < 0) i = -i;
    if (i < 10) return base[i];
    /* golden-ratio steps around the hue circle, alternating brightness */
    double h = fmod(0.11 + (i - 10) * 0.6180339887, 1.0);
    return hsv(h, 0.65, (i % 2) ? 0.75 : 0.9);
}

int mgv_canvas_png(const mgv_canvas *c, unsigned char **out, size_t *len)
{
    if (!c) return mgv_fail("plot: no picture");
    return mgv_png_encode_rgb(c->w, c->h, c->rgb, out, len);
}

int mgv_canvas_save(const mgv_canvas *c, const char *path)
{
    if (!c) return mgv_fail("plot: no picture");
    return mgv_png_write_rgb(path, c->w, c->h, c->rgb);
}
