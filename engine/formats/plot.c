/*
 * plot.c — the charts of plot.h, drawn into a canvas (canvas.h).
 *
 * Layout is computed first (label widths, margins, a colour bar or legend),
 * then the canvas of exactly that size is made and drawn.
 */
#include "formats/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ---- layout helpers ----------------------------------------------------- */

#define INK 0x222222u       /* text */
#define AXIS 0x444444u      /* frames and tick marks */
#define GRID 0xE4E4E4u      /* grid lines */
#define WHITE 0xFFFFFFu
#define MAX_LABEL 28        /* characters shown of a label */

static const mgv_plot_opts no_opts;

/* Formats a tick value with as many decimals as the step needs. */
static void fmt_num(char *buf, size_t n, double v, double step)
{
    if (fabs(v) < step * 1e-6) v = 0;
    double av = fabs(v);
    if (av != 0 && (av >= 1e6 || av < 1e-4)) {
        snprintf(buf, n, "%.3g", v);
        return;
    }
    int dec = 0;
    if (step > 0 && step < 1) dec = (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) dec = 6;
    snprintf(buf, n, "%.*f", dec, v);
}

/* A "nice" step (1, 2 or 5 times a power of ten) for about target ticks. */
static double nice_step(double lo, double hi, int target)
{
    double range = hi - lo;
    if (!(range > 0)) return 1;
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

/* Finite min/max over n values; 0 when there is none. */
static int finite_range(const float *v, size_t n, double *lo, double *hi)
{
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) continue;
        if (!any || v[i] < *lo) *lo = v[i];
        if (!any || v[i] > *hi) *hi = v[i];
        any = 1;
    }
    return any;
}

/* Widens [lo, hi] when it is empty so that scales have a span. */
static void widen(double *lo, double *hi)
{
    if (*hi > *lo) return;
    double d = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 0.5;
    *lo -= d;
    *hi += d;
}

static int font_scale(const mgv_plot_opts *o, const char *what)
{
    if (o->font == 0) return 2;
    if (o->font < 1 || o->font > 4) return mgv_fail("%s: font scale %d is not in 1..4", what, o->font);
    return o->font;
}

/* Checks the count of a label array against the data. */
static int check_labels(const char *what, const char *kind, const char *const *labels, int n_labels,
                        int n, const char *unit)
{
    if (!labels) return 0;
    if (n_labels != n)
        return mgv_fail("%s: %d %s for %d %s", what, n_labels, kind, n, unit);
    return 0;
}

static int check_range(const char *what, const mgv_plot_opts *o)
{
    if (o->has_range && !(isfinite(o->vmin) && isfinite(o->vmax) && o->vmin < o->vmax))
        return mgv_fail("%s: range [%g, %g] must be finite with min < max", what, o->vmin, o->vmax);
    return 0;
}

static int check_side(const char *what, int w, int h)
{
    if (w > MGV_PLOT_MAX_SIDE || h > MGV_PLOT_MAX_SIDE)
        return mgv_fail("%s: the picture would be %dx%d pixels (at most %d per side); "
                        "use fewer items, a smaller cell or font",
                        what, w, h, MGV_PLOT_MAX_SIDE);
    return 0;
}

/* The title, bold (drawn twice one pixel apart), centred over [x, x + w). */
static void draw_title(mgv_canvas *c, const char *title, int x, int w, int y, int s)
{
    if (!title || !*title) return;
    int tw = mgv_text_width(title, s);
    int tx = x + (w - tw) / 2;
    if (tx < 2) tx = 2;
    mgv_canvas_text(c, tx, y, title, s, INK);
    mgv_canvas_text(c, tx + 1, y, title, s, INK);
}

/* Largest label width among labels (NULL: none). */
static int max_label_width(const char *const *labels, int n, int s)
{
    int m = 0;
    char buf[256];
    for (int i = 0; labels && i < n; i++) {
        mgv_text_clip(labels[i], MAX_LABEL, buf, sizeof buf);
        int w = mgv_text_width(buf, s);
        if (w > m) m = w;
    }
    return m;
}

/* A legend: a coloured square and a name per entry, from (x, y) down. */
static void draw_legend(mgv_canvas *c, int x, int y, const char *const *names, int n, int s,
                        uint32_t (*color)(int))
{
    int lh = 10 * s;
    char buf[256];
    for (int i = 0; i < n; i++) {
        mgv_canvas_fill_rect(c, x, y + i * lh, 7 * s, 7 * s, color(i));
        mgv_text_clip(names[i], MAX_LABEL, buf, sizeof buf);
        mgv_canvas_text(c, x + 10 * s, y + i * lh, buf, s, INK);
    }
}

static int legend_width(const char *const *names, int n, int s)
{
    return n > 0 ? 10 * s + max_label_width(names, n, s) : 0;
}

/* An x-y frame: a plot area and the data ranges mapped onto it. */
typedef struct frame {
    int left, top, w, h;
    double xlo, xhi, ylo, yhi;
    double xstep, ystep;
} frame;

static double fx(const frame *f, double x)
{
    return f->left + (x - f->xlo) / (f->xhi - f->xlo) * (f->w - 1);
}

static double fy(const frame *f, double y)
{
    return f->top + (f->h - 1) - (y - f->ylo) / (f->yhi - f->ylo) * (f->h - 1);
}

/* Width of the widest tick label of a scale (y, or x with the x range). */
static int ytick_width(double lo, double hi, double step, int s)
{
    int m = 0;
    char buf[64];
    for (double t = ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
        fmt_num(buf, sizeof buf, t, step);
        int w = mgv_text_width(buf, s);
        if (w > m) m = w;
    }
    return m;
}

/* Every how many ticks a label fits: labels need their width (x) or the
 * capital height (y) plus a gap between them, ticks are `spacing` apart. */
static int label_every(double need, double spacing)
{
    if (!(spacing > 0)) return 1;
    int k = (int)ceil(need / spacing - 1e-9);
    return k < 1 ? 1 : k;
}

/* Grid, frame, ticks and tick labels of an x-y frame (xticks: numeric x
 * axis). Labels are thinned so that they never overlap, and a label that
 * reads the same as the last one drawn (values too close for the digits
 * shown) is left out. */
static void draw_axes(mgv_canvas *c, const frame *f, int s, int xticks)
{
    char buf[64], last[64];
    double y0 = ceil(f->ylo / f->ystep - 1e-9) * f->ystep;
    int ky = label_every((MGV_FONT_CAP + 3) * s, f->ystep / (f->yhi - f->ylo) * (f->h - 1));
    last[0] = 0;
    int i = 0;
    for (double t = y0; t <= f->yhi + f->ystep * 1e-9; t += f->ystep, i++) {
        int y = (int)lround(fy(f, t));
        mgv_canvas_fill_rect(c, f->left, y, f->w, 1, GRID);
        mgv_canvas_fill_rect(c, f->left - 3 * s, y, 3 * s, 1, AXIS);
        fmt_num(buf, sizeof buf, t, f->ystep);
        if (i % ky || strcmp(buf, last) == 0) continue;
        snprintf(last, sizeof last, "%s", buf);
        int w = mgv_text_width(buf, s);
        mgv_canvas_text(c, f->left - 5 * s - w, y - (MGV_FONT_CAP * s) / 2, buf, s, INK);
    }
    if (xticks) {
        double x0 = ceil(f->xlo / f->xstep - 1e-9) * f->xstep;
        int widest = ytick_width(f->xlo, f->xhi, f->xstep, s);   /* the same labels */
        int kx = label_every(widest + 4 * s, f->xstep / (f->xhi - f->xlo) * (f->w - 1));
        last[0] = 0;
        i = 0;
        for (double t = x0; t <= f->xhi + f->xstep * 1e-9; t += f->xstep, i++) {
            int x = (int)lround(fx(f, t));
            mgv_canvas_fill_rect(c, x, f->top, 1, f->h, GRID);
            mgv_canvas_fill_rect(c, x, f->top + f->h, 1, 3 * s, AXIS);
            fmt_num(buf, sizeof buf, t, f->xstep);
            if (i % kx || strcmp(buf, last) == 0) continue;
            snprintf(last, sizeof last, "%s", buf);
            int w = mgv_text_width(buf, s);
            mgv_canvas_text(c, x - w / 2, f->top + f->h + 5 * s, buf, s, INK);
        }
    }
    mgv_canvas_frame_rect(c, f->left - 1, f->top - 1, f->w + 2, f->h + 2, AXIS);
}

/* x label centred under [x, x + w) at y; y label rotated, centred on [y, y + h) at x. */
static void draw_axis_labels(mgv_canvas *c, const mgv_plot_opts *o, int s, int x, int w, int y,
                             int yl_x, int top, int h)
{
    if (o->xlabel && *o->xlabel) {
        int tw = mgv_text_width(o->xlabel, s);
        mgv_canvas_text(c, x + (w - tw) / 2, y, o->xlabel, s, INK);
    }
    if (o->ylabel && *o->ylabel) {
        int tw = mgv_text_width(o->ylabel, s);
        mgv_canvas_text_up(c, yl_x, top + (h + tw) / 2, o->ylabel, s, INK);
    }
}

/* ---- heatmap ------------------------------------------------------------ */

mgv_canvas *mgv_plot_heatmap(const float *v, int rows, int cols, const mgv_plot_opts *o)
{
    const char *what = "plot.heatmap";
    if (!o) o = &no_opts;
    if (!v) return mgv_fail_null("%s: no data", what);
    if (rows < 1 || cols < 1 || rows > MGV_PLOT_MAX_ITEMS || cols > MGV_PLOT_MAX_ITEMS)
        return mgv_fail_null("%s: %dx%d values (rows and columns must be in 1..%d)", what, rows,
                             cols, MGV_PLOT_MAX_ITEMS);
    int s = font_scale(o, what);
    if (s < 0) return NULL;
    if (check_labels(what, "row labels", o->row_labels, o->n_row_labels, rows, "rows") ||
        check_labels(what, "column labels", o->col_labels, o->n_col_labels, cols, "columns") ||
        check_range(what, o))
        return NULL;
    if (o->cell < 0 || o->cell > 256) return mgv_fail_null("%s: cell size %d is not in 1..256", what, o->cell);

    double lo = 0, hi = 1;
    if (o->has_range) {
        lo = o->vmin;
        hi = o->vmax;
    } else if (finite_range(v, (size_t)rows * (size_t)cols, &lo, &hi)) {
        widen(&lo, &hi);
    }
    const int lh = 10 * s, pad = 6 * s;
    int big = rows > cols ? rows : cols;
    int cw, ch;
    if (o->cell) {
        cw = ch = o->cell;
    } else {
        cw = ch = 480 / big < 2 ? 2 : 480 / big > 48 ? 48 : 480 / big;
        if (ch < lh && rows * lh <= 1600) ch = lh;
        if (o->col_labels && cw < lh && cols * lh <= 1600) cw = lh;
    }
    int pw = cols * cw, ph = rows * ch;

    /* row labels: given, or 1..rows; every krow-th when rows are short */
    char buf[256];
    int krow = (lh + ch - 1) / ch;
    int row_w = 0;
    for (int i = 0; i < rows; i++) {
        if (o->row_labels ? i % krow : ((i + 1) % krow && i)) continue;
        if (o->row_labels) mgv_text_clip(o->row_labels[i], MAX_LABEL, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%d", i + 1);
        int w = mgv_text_width(buf, s);
        if (w > row_w) row_w = w;
    }
    /* column labels: horizontal when they fit, else rotated */
    int col_w = 0;
    for (int j = 0; j < cols; j++) {
        if (o->col_labels) mgv_text_clip(o->col_labels[j], MAX_LABEL, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%d", j + 1);
        int w = mgv_text_width(buf, s);
        if (w > col_w) col_w = w;
    }
    int vertical = 0, kcol = 1;
    if (col_w + 2 * s > cw) {
        if (o->col_labels) {
            vertical = 1;
            kcol = (lh + cw - 1) / cw;
        } else {
            kcol = (col_w + 3 * s + cw - 1) / cw;
        }
    }
    int bottom = (vertical ? col_w + 4 * s : lh + 2 * s) + pad;
    int has_x = o->xlabel && *o->xlabel, has_y = o->ylabel && *o->ylabel;
    if (has_x) bottom += lh + 2 * s;
    int left = pad + (has_y ? lh + 2 * s : 0) + row_w + 5 * s;
    int top = pad + (o->title && *o->title ? lh + 4 * s : 0);

    /* colour bar */
    double step = nice_step(lo, hi, 5);
    int cb_gap = 6 * s, cb_w = 8 * s;
    int cb_h = ph > 7 * lh ? ph : 7 * lh;
    int tick_w = ytick_width(lo, hi, step, s);
    int right = cb_gap + cb_w + 5 * s + tick_w + pad;
    int W = left + pw + right, H = top + (ph > cb_h ? ph : cb_h) + bottom;
    int tw = o->title ? mgv_text_width(o->title, s) + 2 * pad : 0;
    if (W < tw) W = tw;
    if (check_side(what, W, H)) return NULL;
    mgv_canvas *c = mgv_canvas_new(W, H, WHITE);
    if (!c) return NULL;

    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double x = v[(size_t)i * (size_t)cols + (size_t)j];
            uint32_t col = isfinite(x) ? mgv_colormap((x - lo) / (hi - lo)) : 0xA0A0A0;
            mgv_canvas_fill_rect(c, left + j * cw, top + i * ch, cw, ch, col);
        }
    mgv_canvas_frame_rect(c, left - 1, top - 1, pw + 2, ph + 2, AXIS);

    for (int i = 0; i < rows; i++) {
        if (o->row_labels ? i % krow : ((i + 1) % krow && i)) continue;
        if (o->row_labels) mgv_text_clip(o->row_labels[i], MAX_LABEL, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%d", i + 1);
        int w = mgv_text_width(buf, s);
        mgv_canvas_text(c, left - 4 * s - w, top + i * ch + (ch - MGV_FONT_CAP * s) / 2, buf, s, INK);
    }
    for (int j = 0; j < cols; j++) {
        if (o->col_labels ? j % kcol : ((j + 1) % kcol && j)) continue;
        if (o->col_labels) mgv_text_clip(o->col_labels[j], MAX_LABEL, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%d", j + 1);
        int w = mgv_text_width(buf, s);
        int cx = left + j * cw + cw / 2;
        if (vertical)
            mgv_canvas_text_up(c, cx - (MGV_FONT_CAP * s) / 2, top + ph + 3 * s + w, buf, s, INK);
        else
            mgv_canvas_text(c, cx - w / 2, top + ph + 3 * s, buf, s, INK);
    }
    int below = top + ph + (vertical ? col_w + 4 * s : lh + 2 * s) + s;
    draw_axis_labels(c, o, s, left, pw, below, pad, top, ph);
    draw_title(c, o->title, 0, W, pad, s);

    /* the colour bar: hi at the top, lo at the bottom */
    int cbx = left + pw + cb_gap;
    for (int r = 0; r < cb_h; r++)
        mgv_canvas_fill_rect(c, cbx, top + r, cb_w, 1,
                             mgv_colormap(1.0 - (double)r / (cb_h > 1 ? cb_h - 1 : 1)));
    mgv_canvas_frame_rect(c, cbx - 1, top - 1, cb_w + 2, cb_h + 2, AXIS);
    for (double t = ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
        int y = top + (int)lround((1.0 - (t - lo) / (hi - lo)) * (cb_h - 1));
        mgv_canvas_fill_rect(c, cbx + cb_w, y, 2 * s, 1, AXIS);
        fmt_num(buf, sizeof buf, t, step);
        mgv_canvas_text(c, cbx + cb_w + 4 * s, y - (MGV_FONT_CAP * s) / 2, buf, s, INK);
    }
    return c;
}

/* ---- bars ---------------------------------------------------------------- */

mgv_canvas *mgv_plot_bars(const float *v, int groups, int series, const mgv_plot_opts *o)
{
    const char *what = "plot.bars";
    if (!o) o = &no_opts;
    if (!v) return mgv_fail_null("%s: no data", what);
    if (groups < 1 || series < 1 || groups > MGV_PLOT_MAX_ITEMS || series > 64 ||
        (long)groups * series > MGV_PLOT_MAX_ITEMS)
        return mgv_fail_null("%s: %d groups of %d bars (at most %d bars, 64 per group)", what,
                             groups, series, MGV_PLOT_MAX_ITEMS);
    int s = font_scale(o, what);
    if (s < 0) return NULL;
    if (check_labels(what, "labels", o->row_labels, o->n_row_labels, groups, "groups") ||
        check_labels(what, "series names", o->series, o->n_series, series, "series") ||
        check_range(what, o))
        return NULL;

    double lo = 0, hi = 0;
    if (o->has_range) {
        lo = o->vmin;
        hi = o->vmax;
    } else {
        double dlo = 0, dhi = 0;
        if (finite_range(v, (size_t)groups * (size_t)series, &dlo, &dhi)) {
            lo = dlo < 0 ? dlo : 0;
            hi = dhi > 0 ? dhi : 0;
        }
        if (!(hi > lo)) hi = lo + 1;
    }
    double step = nice_step(lo, hi, 5);
    if (!o->has_range) {
        lo = floor(lo / step + 1e-9) * step;
        hi = ceil(hi / step - 1e-9) * step;
    }
    const int lh = 10 * s, pad = 6 * s;
    int unit = 420 / (groups * series + groups);
    unit = unit < 3 ? 3 : unit > 48 ? 48 : unit;
    int gap = series > 1 ? unit : (unit * 3) / 5;
    if (gap < 2) gap = 2;
    int gw = series * unit + gap;
    int pw = groups * gw, ph = 110 * s + 40;

    char buf[256];
    int lab_w = 0;
    for (int g = 0; g < groups; g++) {
        if (o->row_labels) mgv_text_clip(o->row_labels[g], MAX_LABEL, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%d", g + 1);
        int w = mgv_text_width(buf, s);
        if (w > lab_w) lab_w = w;
    }
    int vertical = lab_w + 2 * s > gw, kg = 1;
    if (vertical) kg = (lh + gw - 1) / gw;
    if (vertical && !o->row_labels) {
        vertical = 0;
        kg = (lab_w + 3 * s + gw - 1) / gw;
    }
    int has_x = o->xlabel && *o->xlabel, has_y = o->ylabel && *o->ylabel;
    int left = pad + (has_y ? lh + 2 * s : 0) + ytick_width(lo, hi, step, s) + 6 * s;
    int top = pad + (o->title && *o->title ? lh + 4 * s : 0);
    int bottom = (vertical ? lab_w + 4 * s : lh + 2 * s) + pad + (has_x ? lh + 2 * s : 0);
    int legend = o->series ? 1 : 0;
    int right = pad + (legend ? 6 * s + legend_width(o->series, series, s) : 0);
    int W = left + pw + right, H = top + ph + bottom;
    if (legend && H < top + series * lh + bottom) H = top + series * lh + bottom;
    int tw = o->title ? mgv_text_width(o->title, s) + 2 * pad : 0;
    if (W < tw) W = tw;
    if (check_side(what, W, H)) return NULL;
    mgv_canvas *c = mgv_canvas_new(W, H, WHITE);
    if (!c) return NULL;

    frame f = {left, top, pw, ph, 0, 1, lo, hi, 1, step};
    draw_axes(c, &f, s, 0);
    double y0 = fy(&f, lo > 0 ? lo : hi < 0 ? hi : 0);
    for (int g = 0; g < groups; g++) {
        for (int k = 0; k < series; k++) {
            double x = v[(size_t)g * (size_t)series + (size_t)k];
            if (!isfinite(x)) continue;
            double xc = x < lo ? lo : x > hi ? hi : x;
            double y1 = fy(&f, xc);
            int bx = left + g * gw + gap / 2 + k * unit;
            int ya = (int)lround(y0 < y1 ? y0 : y1), yb = (int)lround(y0 < y1 ? y1 : y0);
            mgv_canvas_fill_rect(c, bx, ya, unit, yb - ya + 1,
                                 mgv_palette(series > 1 ? k : 0));
        }
        if (o->row_labels ? g % kg : ((g + 1) % kg && g)) continue;
        if (o->row_labels) mgv_text_clip(o->row_labels[g], MAX_LABEL, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%d", g + 1);
        int w = mgv_text_width(buf, s);
        int cx = left + g * gw + gw / 2;
        if (vertical)
            mgv_canvas_text_up(c, cx - (MGV_FONT_CAP * s) / 2, top + ph + 3 * s + w, buf, s, INK);
        else
            mgv_canvas_text(c, cx - w / 2, top + ph + 3 * s, buf, s, INK);
    }
    if (lo < 0 && hi > 0) mgv_canvas_fill_rect(c, left, (int)lround(y0), pw, 1, AXIS);
    int below = top + ph + (vertical ? lab_w + 4 * s : lh + 2 * s) + s;
    draw_axis_labels(c, o, s, left, pw, below, pad, top, ph);
    draw_title(c, o->title, 0, W, pad, s);
    if (legend) draw_legend(c, left + pw + 6 * s, top, o->series, series, s, mgv_palette);
    return c;
}

/* ---- lines and scatter ---------------------------------------------------- */

/* Sets a frame's scales: x over [xlo, xhi] as given (ticks inside), y widened
 * to whole ticks unless the options fix it. */
static void frame_scales(frame *f, double xlo, double xhi, double ylo, double yhi,
                         const mgv_plot_opts *o, int fixed_y)
{
    widen(&xlo, &xhi);
    f->xlo = xlo;
    f->xhi = xhi;
    f->xstep = nice_step(xlo, xhi, 6);
    if (o->has_range && fixed_y) {
        ylo = o->vmin;
        yhi = o->vmax;
        f->ystep = nice_step(ylo, yhi, 5);
    } else {
        widen(&ylo, &yhi);
        f->ystep = nice_step(ylo, yhi, 5);
        ylo = floor(ylo / f->ystep + 1e-9) * f->ystep;
        yhi = ceil(yhi / f->ystep - 1e-9) * f->ystep;
    }
    f->ylo = ylo;
    f->yhi = yhi;
}

/* Margins around an x-y plot area of pw x ph; makes the canvas. */
static mgv_canvas *xy_canvas(const char *what, frame *f, const mgv_plot_opts *o, int s, int pw,
                             int ph, const char *const *legend, int n_legend)
{
    const int lh = 10 * s, pad = 6 * s;
    int has_x = o->xlabel && *o->xlabel, has_y = o->ylabel && *o->ylabel;
    f->left = pad + (has_y ? lh + 2 * s : 0) + ytick_width(f->ylo, f->yhi, f->ystep, s) + 6 * s;
    f->top = pad + (o->title && *o->title ? lh + 4 * s : 0);
    f->w = pw;
    f->h = ph;
    int bottom = lh + 6 * s + pad + (has_x ? lh + 2 * s : 0);
    int right = pad + (n_legend ? 6 * s + legend_width(legend, n_legend, s) : 3 * s);
    int half = ytick_width(f->xlo, f->xhi, f->xstep, s) / 2 + 2 * s;   /* the last x label */
    if (right < half) right = half;
    int W = f->left + pw + right, H = f->top + ph + bottom;
    if (n_legend && H < f->top + n_legend * lh + bottom) H = f->top + n_legend * lh + bottom;
    int tw = o->title ? mgv_text_width(o->title, s) + 2 * pad : 0;
    if (W < tw) W = tw;
    if (check_side(what, W, H)) return NULL;
    mgv_canvas *c = mgv_canvas_new(W, H, WHITE);
    if (!c) return NULL;
    draw_axes(c, f, s, 1);
    draw_axis_labels(c, o, s, f->left, pw, f->top + ph + lh + 5 * s, pad, f->top, ph);
    draw_title(c, o->title, 0, W, pad, s);
    return c;
}

static int plot_size(const char *what, const mgv_plot_opts *o, int s, int *pw, int *ph, int dw,
                     int dh)
{
    if (o->width < 0 || o->height < 0 || o->width > 4096 || o->height > 4096)
        return mgv_fail("%s: plot size %dx%d is not in 1..4096", what, o->width, o->height);
    *pw = o->width ? o->width : dw * s / 2;
    *ph = o->height ? o->height : dh * s / 2;
    return 0;
}

mgv_canvas *mgv_plot_lines(const float *x, const float *y, int series, int points,
                           const mgv_plot_opts *o)
{
    const char *what = "plot.lines";
    if (!o) o = &no_opts;
    if (!y) return mgv_fail_null("%s: no data", what);
    if (series < 1 || points < 1 || series > 64 || points > 1000000)
        return mgv_fail_null("%s: %d series of %d points (1..64 series of 1..1000000 points)",
                             what, series, points);
    int s = font_scale(o, what), pw, ph;
    if (s < 0 || plot_size(what, o, s, &pw, &ph, 480, 280) ||
        check_labels(what, "series names", o->series, o->n_series, series, "series") ||
        check_range(what, o))
        return NULL;
    double xlo = 1, xhi = points, ylo = 0, yhi = 1;
    if (x && !finite_range(x, (size_t)points, &xlo, &xhi)) xlo = 0, xhi = 1;
    int any = 0;
    for (int k = 0; k < series; k++)
        for (int i = 0; i < points; i++) {
            double yv = y[(size_t)k * (size_t)points + (size_t)i];
            double xv = x ? x[i] : i + 1;
            if (!isfinite(yv) || !isfinite(xv)) continue;
            if (!any || yv < ylo) ylo = yv;
            if (!any || yv > yhi) yhi = yv;
            any = 1;
        }
    frame f;
    frame_scales(&f, xlo, xhi, ylo, yhi, o, 1);
    int whole = 1;   /* integer x values (epochs, steps): no ticks between them */
    for (int i = 0; x && i < points && whole; i++) whole = !isfinite(x[i]) || x[i] == floorf(x[i]);
    if (whole && f.xstep < 1) f.xstep = 1;
    mgv_canvas *c = xy_canvas(what, &f, o, s, pw, ph, o->series, o->series ? series : 0);
    if (!c) return NULL;
    double lw = s < 2 ? 1.5 : s;
    int markers = points <= 40;
    for (int k = 0; k < series; k++) {
        uint32_t col = mgv_palette(k);
        const float *row = y + (size_t)k * (size_t)points;
        double px = 0, py = 0;
        int have = 0;
        for (int i = 0; i < points; i++) {
            double xv = x ? x[i] : i + 1, yv = row[i];
            if (!isfinite(xv) || !isfinite(yv)) {
                have = 0;
                continue;
            }
            double cx = fx(&f, xv), cy = fy(&f, yv);
            if (have) mgv_canvas_line(c, px, py, cx, cy, lw, col, 1.0);
            if (markers) mgv_canvas_disc(c, cx, cy, 1.6 * s, col, 1.0);
            px = cx, py = cy, have = 1;
        }
    }
    if (o->series) draw_legend(c, f.left + f.w + 6 * s, f.top, o->series, series, s, mgv_palette);
    return c;
}

static int check_classes(const char *what, const int *classes, int n, const mgv_plot_opts *o,
                         int *n_classes)
{
    *n_classes = classes ? 0 : 1;
    for (int i = 0; classes && i < n; i++) {
        if (classes[i] < 0 || classes[i] >= MGV_PLOT_MAX_ITEMS)
            return mgv_fail("%s: class %d of item %d is not in 1..%d", what, classes[i] + 1, i + 1,
                            MGV_PLOT_MAX_ITEMS);
        if (classes[i] + 1 > *n_classes) *n_classes = classes[i] + 1;
    }
    if (o->class_names && o->n_class_names < *n_classes)
        return mgv_fail("%s: %d class names for %d classes", what, o->n_class_names, *n_classes);
    if (o->class_names) *n_classes = o->n_class_names;
    return 0;
}

mgv_canvas *mgv_plot_scatter(const float *x, const float *y, int n, const int *classes,
                             const mgv_plot_opts *o)
{
    const char *what = "plot.scatter";
    if (!o) o = &no_opts;
    if (!x || !y) return mgv_fail_null("%s: no data", what);
    if (n < 1 || n > 1000000) return mgv_fail_null("%s: %d points (1..1000000)", what, n);
    int s = font_scale(o, what), pw, ph, k;
    if (s < 0 || plot_size(what, o, s, &pw, &ph, 360, 360) ||
        check_classes(what, classes, n, o, &k) || check_range(what, o))
        return NULL;
    double xlo = 0, xhi = 1, ylo = 0, yhi = 1;
    int any = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        if (!any || x[i] < xlo) xlo = x[i];
        if (!any || x[i] > xhi) xhi = x[i];
        if (!any || y[i] < ylo) ylo = y[i];
        if (!any || y[i] > yhi) yhi = y[i];
        any = 1;
    }
    if (o->diagonal) {   /* the same scale on both axes so that y = x is the diagonal */
        xlo = ylo = fmin(xlo, ylo);
        xhi = yhi = fmax(xhi, yhi);
    }
    frame f;
    frame_scales(&f, xlo, xhi, ylo, yhi, o, 1);
    if (o->diagonal && !o->has_range) {
        f.xlo = f.ylo;
        f.xhi = f.yhi;
        f.xstep = f.ystep;
    }
    const char *const *legend = o->class_names;
    mgv_canvas *c = xy_canvas(what, &f, o, s, pw, ph, legend, legend ? k : 0);
    if (!c) return NULL;
    if (o->diagonal) {
        double a = fmax(f.xlo, f.ylo), b = fmin(f.xhi, f.yhi);
        if (b > a) mgv_canvas_line(c, fx(&f, a), fy(&f, a), fx(&f, b), fy(&f, b), 1.0, 0x999999, 1.0);
    }
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        uint32_t col = mgv_palette(classes ? classes[i] : 0);
        mgv_canvas_disc(c, fx(&f, x[i]), fy(&f, y[i]), 2.2 * s, col, 0.8);
    }
    if (legend) draw_legend(c, f.left + f.w + 6 * s, f.top, legend, k, s, mgv_palette);
    return c;
}

/* ---- graph ---------------------------------------------------------------- */

typedef struct edge {
    int i, j;
    float w;
} edge;

static int edge_cmp(const void *a, const void *b)
{
    float x = ((const edge *)a)->w, y = ((const edge *)b)->w;
    return (x > y) - (x < y);
}

static const int *sort_classes;   /* for the node order (qsort has no context) */

static int node_cmp(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    int ci = sort_classes ? sort_classes[i] : 0, cj = sort_classes ? sort_classes[j] : 0;
    if (ci != cj) return ci < cj ? -1 : 1;
    return (i > j) - (i < j);
}

/* Marks in keep[i * n + j] (i < j) the edges among each node's k strongest. */
static int top_edges(const float *adj, int n, int k, unsigned char *keep)
{
    float *row = malloc(sizeof *row * (size_t)n);
    if (!row) return -1;
    for (int i = 0; i < n; i++) {
        int m = 0;
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            float a = adj[(size_t)i * (size_t)n + (size_t)j], b = adj[(size_t)j * (size_t)n + (size_t)i];
            row[m++] = fmaxf(isfinite(a) ? a : 0, isfinite(b) ? b : 0);
        }
        if (m == 0) continue;
        /* the k-th largest weight of the row: a partial selection sort (k is small) */
        int kk = k < m ? k : m;
        for (int p = 0; p < kk; p++)
            for (int q = p + 1; q < m; q++)
                if (row[q] > row[p]) {
                    float t = row[p];
                    row[p] = row[q], row[q] = t;
                }
        float kth = row[kk - 1];
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            float a = adj[(size_t)i * (size_t)n + (size_t)j], b = adj[(size_t)j * (size_t)n + (size_t)i];
            float w = fmaxf(isfinite(a) ? a : 0, isfinite(b) ? b : 0);
            if (w >= kth) keep[(size_t)(i < j ? i : j) * (size_t)n + (size_t)(i < j ? j : i)] = 1;
        }
    }
    free(row);
    return 0;
}

mgv_canvas *mgv_plot_graph(const float *adj, int n, const int *classes, const mgv_plot_opts *o)
{
    const char *what = "plot.graph";
    if (!o) o = &no_opts;
    if (!adj) return mgv_fail_null("%s: no data", what);
    if (n < 1 || n > 2048) return mgv_fail_null("%s: %d nodes (1..2048)", what, n);
    int s = font_scale(o, what), k;
    if (s < 0 || check_classes(what, classes, n, o, &k) ||
        check_labels(what, "node names", o->row_labels, o->n_row_labels, n, "nodes"))
        return NULL;
    if (o->threshold < 0 || o->threshold > 1 || isnan(o->threshold))
        return mgv_fail_null("%s: threshold %g is not in 0..1", what, o->threshold);
    if (o->top_k < 0) return mgv_fail_null("%s: top %d is negative", what, o->top_k);
    if (o->center < 0 || o->center > n)
        return mgv_fail_null("%s: centre node %d is not in 1..%d", what, o->center, n);
    double thr = o->threshold > 0 ? o->threshold : 0.05;
    int centre = o->center - 1;   /* -1: none */
    int ring = centre >= 0 ? n - 1 : n;   /* nodes on the circle */

    /* node names: given, or the node numbers */
    char (*numbers)[12] = NULL;
    const char **nums = NULL;
    const char *const *labels = o->row_labels;
    if (!labels && n <= 64) {
        numbers = malloc(sizeof *numbers * (size_t)n);
        nums = malloc(sizeof *nums * (size_t)n);
        if (!numbers || !nums) {
            free(numbers), free(nums);
            return mgv_fail_null("%s: out of memory", what);
        }
        for (int i = 0; i < n; i++) {
            snprintf(numbers[i], sizeof numbers[i], "%d", i + 1);
            nums[i] = numbers[i];
        }
        labels = nums;
    }

    const int lh = 10 * s, pad = 6 * s;
    const double pi = 3.14159265358979323846;
    double R = fmax(60.0 * s, ring * 5.0 * s / pi);
    if (R > 1400) R = 1400;
    double r = fmin(fmax(pi * R / (ring > 0 ? ring : 1) * 0.45, 2.0 * s), 6.0 * s);
    int names = labels && n <= 64;
    int lab_w = names ? max_label_width(labels, n, s) + 4 * s : 0;
    int top = pad + (o->title && *o->title ? lh + 4 * s : 0);
    int side = (int)ceil(R + r) + 2 * s;
    int cx = pad + lab_w + side, cy = top + (names ? lh : 0) + side;
    int legend = classes && k > 1 ? 1 : classes && o->class_names ? 1 : 0;
    char **gen = NULL;   /* "class k" names when none are given */
    const char *const *lnames = o->class_names;
    int W = cx + side + lab_w + pad, H = cy + side + (names ? lh : 0) + pad;
    if (legend) W += 6 * s + (lnames ? legend_width(lnames, k, s) : 10 * s + 11 * 6 * s);
    if (legend && H < top + k * lh + pad) H = top + k * lh + pad;
    int tw = o->title ? mgv_text_width(o->title, s) + 2 * pad : 0;
    if (W < tw) W = tw;
    if (check_side(what, W, H)) {
        free(numbers), free(nums);
        return NULL;
    }

    int *order = malloc(sizeof *order * (size_t)n);
    double *px = malloc(sizeof *px * (size_t)n * 2);
    size_t max_edges = (size_t)n * (size_t)(n - 1) / 2;
    edge *edges = malloc(sizeof *edges * (max_edges ? max_edges : 1));
    unsigned char *keep = o->top_k > 0 ? calloc((size_t)n * (size_t)n, 1) : NULL;
    int ok = order && px && edges && (o->top_k == 0 || keep);
    if (ok && keep && top_edges(adj, n, o->top_k, keep) < 0) ok = 0;
    mgv_canvas *c = ok ? mgv_canvas_new(W, H, WHITE) : NULL;
    if (!c) {
        free(order), free(px), free(edges), free(keep), free(numbers), free(nums);
        return ok ? NULL : mgv_fail_null("%s: out of memory", what);
    }
    /* nodes around the circle, grouped by class, starting at the top */
    int m_ring = 0;
    for (int i = 0; i < n; i++)
        if (i != centre) order[m_ring++] = i;
    sort_classes = classes;
    qsort(order, (size_t)m_ring, sizeof *order, node_cmp);
    sort_classes = NULL;
    for (int p = 0; p < m_ring; p++) {
        double th = -pi / 2 + 2 * pi * p / m_ring;
        px[2 * order[p]] = cx + R * cos(th);
        px[2 * order[p] + 1] = cy + R * sin(th);
    }
    if (centre >= 0) px[2 * centre] = cx, px[2 * centre + 1] = cy;
    /* edges: symmetric weight; kept when above the threshold (and among the
     * top k of an end); weakest drawn first */
    size_t m = 0;
    float wmax = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            float a = adj[(size_t)i * (size_t)n + (size_t)j], b = adj[(size_t)j * (size_t)n + (size_t)i];
            float w = fmaxf(isfinite(a) ? a : 0, isfinite(b) ? b : 0);
            if (w > wmax) wmax = w;
            if (w <= 0 || (keep && !keep[(size_t)i * (size_t)n + (size_t)j])) continue;
            edges[m++] = (edge){i, j, w};
        }
    qsort(edges, m, sizeof *edges, edge_cmp);
    size_t first = m > 20000 ? m - 20000 : 0;   /* at most the 20000 strongest */
    while (first < m && edges[first].w / wmax < thr) first++;
    /* width and opacity over the drawn range: weights like (cos + 1) / 2 all
     * lie near the largest, and would all look the same relative to it */
    double lo = first < m ? edges[first].w : 0, hi = m ? edges[m - 1].w : 1;
    for (size_t e = first; e < m; e++) {
        double t = hi - lo > 1e-6 * hi ? (edges[e].w - lo) / (hi - lo) : 1.0;
        double wn = 0.15 + 0.85 * t;
        int i = edges[e].i, j = edges[e].j;
        int same = classes && classes[i] == classes[j];
        uint32_t col = same ? mgv_palette(classes[i]) : classes ? 0x8A8A8A : 0x4A6A8A;
        mgv_canvas_line(c, px[2 * i], px[2 * i + 1], px[2 * j], px[2 * j + 1],
                        0.6 + 1.6 * s * wn, col, 0.2 + 0.7 * wn);
    }
    for (int i = 0; i < n; i++) {
        double ri = i == centre ? r * 1.5 : r;
        mgv_canvas_disc(c, px[2 * i], px[2 * i + 1], ri + 1, 0x333333, 1.0);
        mgv_canvas_disc(c, px[2 * i], px[2 * i + 1], ri, mgv_palette(classes ? classes[i] : 0), 1.0);
    }
    if (names) {
        char buf[256];
        for (int i = 0; i < n; i++) {
            mgv_text_clip(labels[i], MAX_LABEL, buf, sizeof buf);
            int w = mgv_text_width(buf, s);
            if (i == centre) {   /* below the centre node */
                mgv_canvas_text(c, cx - w / 2, (int)(cy + 1.5 * r + 3 * s), buf, s, INK);
                continue;
            }
            double dx = px[2 * i] - cx, dy = px[2 * i + 1] - cy, d = sqrt(dx * dx + dy * dy);
            if (d <= 0) d = 1;
            double ax = cx + dx / d * (R + r + 3 * s), ay = cy + dy / d * (R + r + 3 * s);
            int tx = dx >= -1e-9 ? (int)ax : (int)ax - w;
            if (fabs(dx) < R * 0.2) tx = (int)ax - w / 2;   /* near the top or bottom: centred */
            int ty = (int)ay - (MGV_FONT_CAP * s) / 2;
            if (dy < -R * 0.8) ty -= (MGV_FONT_CAP * s) / 2;
            if (dy > R * 0.8) ty += (MGV_FONT_CAP * s) / 2;
            mgv_canvas_text(c, tx, ty, buf, s, INK);
        }
    }
    if (legend) {
        int lx = cx + side + lab_w + 6 * s;
        if (lnames) {
            draw_legend(c, lx, top, lnames, k, s, mgv_palette);
        } else {
            gen = calloc((size_t)k, sizeof *gen);
            for (int i = 0; gen && i < k; i++) {
                gen[i] = malloc(24);
                if (gen[i]) snprintf(gen[i], 24, "class %d", i + 1);
            }
            int all = gen != NULL;
            for (int i = 0; all && i < k; i++) all = gen[i] != NULL;
            if (all) draw_legend(c, lx, top, (const char *const *)gen, k, s, mgv_palette);
            for (int i = 0; gen && i < k; i++) free(gen[i]);
            free(gen);
        }
    }
    draw_title(c, o->title, 0, W, pad, s);
    free(order), free(px), free(edges), free(keep), free(numbers), free(nums);
    return c;
}

/* ---- composition ------------------------------------------------------------ */

mgv_canvas *mgv_plot_join(mgv_canvas *const *parts, int n, int vertical)
{
    if (!parts || n < 1 || n > 64) return mgv_fail_null("plot.join: %d pictures (1..64)", n);
    long W = 0, H = 0;
    for (int i = 0; i < n; i++) {
        if (!parts[i]) return mgv_fail_null("plot.join: picture %d is missing", i + 1);
        if (vertical) W = parts[i]->w > W ? parts[i]->w : W, H += parts[i]->h;
        else H = parts[i]->h > H ? parts[i]->h : H, W += parts[i]->w;
    }
    if (W > MGV_PLOT_MAX_SIDE || H > MGV_PLOT_MAX_SIDE)
        return mgv_fail_null("plot.join: the picture would be %ldx%ld pixels (at most %d per side)",
                             W, H, MGV_PLOT_MAX_SIDE);
    mgv_canvas *c = mgv_canvas_new((int)W, (int)H, WHITE);
    if (!c) return NULL;
    int x = 0, y = 0;
    for (int i = 0; i < n; i++) {
        const mgv_canvas *p = parts[i];
        for (int r = 0; r < p->h; r++)
            memcpy(c->rgb + ((size_t)(y + r) * (size_t)W + (size_t)x) * 3,
                   p->rgb + (size_t)r * (size_t)p->w * 3, (size_t)p->w * 3);
        if (vertical) y += p->h;
        else x += p->w;
    }
    return c;
}

/* ---- image ---------------------------------------------------------------- */

mgv_canvas *mgv_plot_image(const float *v, int channels, int h, int w, double lo, double hi)
{
    const char *what = "plot.image";
    if (!v) return mgv_fail_null("%s: no data", what);
    if (channels != 1 && channels != 3)
        return mgv_fail_null("%s: %d channels (expected 1 or 3)", what, channels);
    if (!(isfinite(lo) && isfinite(hi) && lo < hi))
        return mgv_fail_null("%s: range [%g, %g] must be finite with lo < hi", what, lo, hi);
    mgv_canvas *c = mgv_canvas_new(w, h, 0);
    if (!c) return NULL;
    size_t plane = (size_t)w * (size_t)h;
    double scale = 255.0 / (hi - lo);
    for (size_t i = 0; i < plane; i++)
        for (int k = 0; k < 3; k++) {
            double x = v[(channels == 3 ? (size_t)k * plane : 0) + i];
            double b = isfinite(x) ? (x - lo) * scale : 0;
            c->rgb[3 * i + (size_t)k] = (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b + 0.5);
        }
    return c;
}
