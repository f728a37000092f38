/*
 * plot.h — pictures of routing, graphs and training, drawn into an RGB
 * canvas (canvas.h): a heatmap with a colour scale, grouped bars, line
 * charts, a scatter plot and a node-link drawing of a graph coloured by
 * class.
 *
 * Every chart function returns a new canvas (free it
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

#include "formats/canvas.h"

#define MGV_PLOT_MAX_ITEMS 4096  /* rows, columns, groups, nodes, series */

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
    int top_k;                       /* graph: only each node's top_k strongest edges (0: all) */
    int center;                      /* graph: node drawn in the centre, 1-based (0: none) */
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
 * circle grouped by class (classes[i] 0-based, NULL: one class), or around
 * o->center; nodes named by o->row_labels (default 1..n, up to 64 nodes).
 * Edge weight max(a_ij, a_ji): edges below o->threshold of the largest are
 * hidden, and with o->top_k only each node's top_k strongest are kept; width
 * and opacity grow over the range of the drawn weights. Edges inside a class
 * take its colour, across classes grey. */
mgv_canvas *mgv_plot_graph(const float *adj, int n, const int *classes, const mgv_plot_opts *o);
/* The n pictures side by side (vertical: stacked), top / left aligned, on
 * white; the parts are not freed. */
mgv_canvas *mgv_plot_join(mgv_canvas *const *parts, int n, int vertical);
/* A picture from planar float channels (1 or 3 of h x w), lo -> 0, hi -> 255. */
mgv_canvas *mgv_plot_image(const float *v, int channels, int h, int w, double lo, double hi);

#endif
