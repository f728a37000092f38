/*
 * lplot.c — mgv.plot: pictures as Lua objects ("mgv.Plot").
 *
 *   local p = mgv.plot.heatmap(t, {rows = words, cols = experts, title = "gates"})
 *   p:save("gates.png")      -- a PNG file, written atomically; returns p
 *   p:png()                  -- the PNG bytes as a string (what notebooks show)
 *   p:size()                 -- width, height
 *   p:pixel(x, y)            -- r, g, b at a 1-based pixel (for tests)
 *
 * Charts: heatmap(t2d), bars(values), lines(series), scatter(x, y),
 * graph(G, labels), image(t). Data may be tensors or Lua tables of numbers;
 * the drawing is engine/formats/plot.c. Pure-Lua helpers (gates(), help texts) are
 * in plot.lua.
 */
#define LMGV_INTERNAL
#include "lmgv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/plot.h"

#define LMGV_PLOT "mgv.Plot"

typedef struct lplot {
    mgv_canvas *c;
    char kind[16];
} lplot;

static lplot *check_plot(lua_State *L, int arg)
{
    lplot *p = luaL_checkudata(L, arg, LMGV_PLOT);
    if (!p->c) luaL_argerror(L, arg, "the picture was freed");
    return p;
}

/* Wraps a new canvas (NULL: raises the engine's message) as a Plot. */
static int push_plot(lua_State *L, mgv_canvas *c, const char *kind)
{
    if (!c) return lmgv_error(L);
    lplot *p = lua_newuserdatauv(L, sizeof *p, 0);
    p->c = NULL;
    luaL_setmetatable(L, LMGV_PLOT);
    p->c = c;
    snprintf(p->kind, sizeof p->kind, "%s", kind);
    /* tell the collector about the pixels it does not see */
    lua_gc(L, LUA_GCSTEP, (int)(((size_t)c->w * (size_t)c->h * 3) >> 10));
    return 1;
}

/* ---- data from Lua ------------------------------------------------------ */

/* A scratch float array of n values, owned by a userdata pushed on the stack. */
static float *scratch_floats(lua_State *L, size_t n)
{
    return lua_newuserdatauv(L, (n ? n : 1) * sizeof(float), 0);
}

static float number_at(lua_State *L, int idx, const char *what)
{
    int isnum;
    lua_Number v = lua_tonumberx(L, idx, &isnum);
    if (!isnum) luaL_error(L, "%s: expected numbers, got a %s", what, luaL_typename(L, idx));
    return (float)v;
}

/*
 * Values at arg as a contiguous float array (scratch pushed on the stack):
 * a tensor of 1 or 2 axes, a flat table of numbers, or a table of equal-length
 * tables. *rows x *cols (a 1-d input is 1 x n); *ndim is 1 or 2.
 */
static float *matrix_arg(lua_State *L, int arg, const char *what, int *rows, int *cols, int *ndim)
{
    mgv_tensor *t = lmgv_test(L, arg);
    if (t) {
        if (t->ndim < 1 || t->ndim > 2) {
            char sh[64];
            mgv_shape_str(t, sh, sizeof sh);
            luaL_error(L, "%s: expected a 1-d or 2-d tensor, got %s", what, sh);
        }
        if (t->shape[0] > MGV_PLOT_MAX_ITEMS * 256 || (t->ndim == 2 && t->shape[1] > MGV_PLOT_MAX_ITEMS * 256))
            luaL_error(L, "%s: the tensor is too large to draw", what);
        *ndim = t->ndim;
        *rows = t->ndim == 2 ? (int)t->shape[0] : 1;
        *cols = (int)t->shape[t->ndim - 1];
        float *v = scratch_floats(L, (size_t)mgv_numel(t));
        mgv_copy_to_buffer(t, v);
        return v;
    }
    luaL_argexpected(L, lua_istable(L, arg), arg, "tensor or table of numbers");
    lua_Integer n = luaL_len(L, arg);
    if (n < 1) luaL_error(L, "%s: no values", what);
    if (n > MGV_PLOT_MAX_ITEMS * 256) luaL_error(L, "%s: too many values", what);
    lua_rawgeti(L, arg, 1);
    int nested = lua_istable(L, -1) || lmgv_test(L, -1);
    lua_pop(L, 1);
    if (!nested) {
        float *v = scratch_floats(L, (size_t)n);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, arg, i);
            v[i - 1] = number_at(L, -1, what);
            lua_pop(L, 1);
        }
        *ndim = 1, *rows = 1, *cols = (int)n;
        return v;
    }
    lua_rawgeti(L, arg, 1);
    lua_Integer m = lmgv_test(L, -1) ? mgv_numel(lmgv_test(L, -1)) : luaL_len(L, -1);
    lua_pop(L, 1);
    if (m < 1 || m * n > MGV_PLOT_MAX_ITEMS * 256) luaL_error(L, "%s: rows must hold 1 or more values", what);
    float *v = scratch_floats(L, (size_t)(n * m));
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, arg, i);
        mgv_tensor *r = lmgv_test(L, -1);
        if (r) {
            if (mgv_numel(r) != m) luaL_error(L, "%s: row %d has %d values, row 1 has %d", what, (int)i, (int)mgv_numel(r), (int)m);
            mgv_copy_to_buffer(r, v + (i - 1) * m);
        } else {
            if (!lua_istable(L, -1)) luaL_error(L, "%s: row %d is a %s, not a table", what, (int)i, luaL_typename(L, -1));
            if (luaL_len(L, -1) != m) luaL_error(L, "%s: row %d has %d values, row 1 has %d", what, (int)i, (int)luaL_len(L, -1), (int)m);
            for (lua_Integer j = 1; j <= m; j++) {
                lua_rawgeti(L, -1, j);
                v[(i - 1) * m + j - 1] = number_at(L, -1, what);
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    *ndim = 2, *rows = (int)n, *cols = (int)m;
    return v;
}

/* A 1-d sequence of n numbers (tensor or table); *n set. */
static float *vector_arg(lua_State *L, int arg, const char *what, int *n)
{
    int rows, cols, ndim;
    float *v = matrix_arg(L, arg, what, &rows, &cols, &ndim);
    if (ndim != 1 && rows != 1 && cols != 1) luaL_error(L, "%s: expected a 1-d sequence, got %dx%d", what, rows, cols);
    *n = rows * cols;
    return v;
}

/*
 * Option k of the options table at opts as an array of strings (a table of
 * strings or numbers). The strings are kept alive in an anchor table pushed
 * on the stack; the pointer array is a scratch userdata, also pushed.
 * Returns NULL (pushing nothing) when the option is absent.
 */
static const char **labels_opt(lua_State *L, int opts, const char *k, const char *what, int *n)
{
    *n = 0;
    if (lua_isnoneornil(L, opts)) return NULL;
    lua_getfield(L, opts, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (!lua_istable(L, -1)) luaL_error(L, "%s: option '%s' must be a table of strings, got %s", what, k, luaL_typename(L, -1));
    int t = lua_gettop(L);
    lua_Integer len = luaL_len(L, t);
    if (len > MGV_PLOT_MAX_ITEMS) luaL_error(L, "%s: option '%s' has too many entries", what, k);
    const char **out = lua_newuserdatauv(L, (size_t)(len ? len : 1) * sizeof *out, 1);
    lua_createtable(L, (int)len, 0);   /* anchor, as the user value of the scratch */
    for (lua_Integer i = 1; i <= len; i++) {
        lua_rawgeti(L, t, i);
        if (!lua_isstring(L, -1)) luaL_error(L, "%s: option '%s'[%d] is a %s, not a string", what, k, (int)i, luaL_typename(L, -1));
        out[i - 1] = lua_tostring(L, -1);   /* converts a number in place: it is a copy */
        lua_rawseti(L, -2, i);
    }
    lua_setiuservalue(L, -2, 1);
    lua_remove(L, t);   /* leave the scratch (which keeps the strings) */
    *n = (int)len;
    return out;
}

static const char *string_opt(lua_State *L, int opts, const char *k, const char *what)
{
    return lua_isnoneornil(L, opts) ? NULL : lmgv_opt_string(L, opts, k, NULL, what);
}

/* Common options into o. */
static void common_opts(lua_State *L, int opts, const char *what, mgv_plot_opts *o)
{
    o->title = string_opt(L, opts, "title", what);
    o->xlabel = string_opt(L, opts, "xlabel", what);
    o->ylabel = string_opt(L, opts, "ylabel", what);
    if (lua_isnoneornil(L, opts)) return;
    o->font = lmgv_opt_int(L, opts, "font", 0, what);
    if (lmgv_has_option(L, opts, "min") || lmgv_has_option(L, opts, "max")) {
        if (!lmgv_has_option(L, opts, "min") || !lmgv_has_option(L, opts, "max"))
            luaL_error(L, "%s: give both 'min' and 'max'", what);
        o->has_range = 1;
        o->vmin = lmgv_opt_number(L, opts, "min", 0, what);
        o->vmax = lmgv_opt_number(L, opts, "max", 1, what);
    }
}

/*
 * Class labels of n items at arg: a tensor or table of integers >= 1, or a
 * table of strings (classes in order of first appearance, or by their place
 * in the class names given as option 'classes'). A scratch int array is
 * pushed; *names (may be NULL) gets the class names found from strings,
 * kept alive in another pushed scratch.
 */
static int *class_labels(lua_State *L, int arg, int n, int opts, const char *what, const char ***names,
                         int *n_names)
{
    *names = NULL;
    *n_names = 0;
    int *cls = lua_newuserdatauv(L, (size_t)n * sizeof *cls, 0);
    int given = 0;
    const char **cnames = labels_opt(L, opts, "classes", what, &given);
    mgv_tensor *t = lmgv_test(L, arg);
    if (t) {
        if (mgv_numel(t) != n) luaL_error(L, "%s: %d labels for %d items", what, (int)mgv_numel(t), n);
        for (int i = 0; i < n; i++) {
            float v = mgv_get_flat(t, i);
            if (!(v >= 1) || v != floorf(v) || v > MGV_PLOT_MAX_ITEMS)
                luaL_error(L, "%s: label %d is %g (labels are integers from 1)", what, i + 1, v);
            cls[i] = (int)v - 1;
        }
        *names = cnames;
        *n_names = given;
        return cls;
    }
    luaL_argexpected(L, lua_istable(L, arg), arg, "table or tensor of labels");
    if (luaL_len(L, arg) != n) luaL_error(L, "%s: %d labels for %d items", what, (int)luaL_len(L, arg), n);
    /* names seen, string -> index */
    lua_newtable(L);
    int map = lua_gettop(L);
    int found = 0;
    for (int i = 0; i < given; i++) {
        lua_pushinteger(L, i);
        lua_setfield(L, map, cnames[i]);
    }
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, arg, i + 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_pushvalue(L, -1);
            lua_rawget(L, map);
            if (lua_isnil(L, -1)) {
                if (given) luaL_error(L, "%s: label '%s' is not among the class names", what, lua_tostring(L, -2));
                lua_pushinteger(L, found);
                lua_pushvalue(L, -3);
                lua_pushinteger(L, found++);
                lua_rawset(L, map);
                lua_remove(L, -2);
            }
            cls[i] = (int)lua_tointeger(L, -1);
            lua_pop(L, 2);
        } else {
            int isint;
            lua_Integer v = lua_tointegerx(L, -1, &isint);
            if (!isint || v < 1 || v > MGV_PLOT_MAX_ITEMS)
                luaL_error(L, "%s: label %d is not a class name or an integer in 1..%d", what, i + 1, MGV_PLOT_MAX_ITEMS);
            cls[i] = (int)v - 1;
            lua_pop(L, 1);
        }
    }
    if (given) {
        *names = cnames;
        *n_names = given;
        lua_settop(L, map - 1);   /* keep scratch and class-name scratch */
    } else if (found) {
        const char **out = lua_newuserdatauv(L, (size_t)found * sizeof *out, 1);
        lua_pushvalue(L, map);
        lua_setiuservalue(L, -2, 1);   /* the map keeps the strings alive */
        lua_pushnil(L);
        while (lua_next(L, map)) {
            out[lua_tointeger(L, -1)] = lua_tostring(L, -2);
            lua_pop(L, 1);
        }
        lua_remove(L, map);
        *names = out;
        *n_names = found;
    } else {
        lua_settop(L, map - 1);
    }
    return cls;
}

/* ---- charts --------------------------------------------------------------- */

static const char *const heatmap_keys[] = {"title", "xlabel", "ylabel", "rows", "cols", "min",
                                           "max", "font", "cell", NULL};

static int l_heatmap(lua_State *L)
{
    const char *what = "plot.heatmap";
    lua_settop(L, 2);
    lmgv_check_options(L, 2, heatmap_keys, what);
    mgv_plot_opts o = {0};
    int rows, cols, ndim;
    float *v = matrix_arg(L, 1, what, &rows, &cols, &ndim);
    common_opts(L, 2, what, &o);
    o.row_labels = labels_opt(L, 2, "rows", what, &o.n_row_labels);
    o.col_labels = labels_opt(L, 2, "cols", what, &o.n_col_labels);
    if (!lua_isnil(L, 2)) o.cell = lmgv_opt_int(L, 2, "cell", 0, what);
    return push_plot(L, mgv_plot_heatmap(v, rows, cols, &o), "heatmap");
}

static const char *const bars_keys[] = {"title", "xlabel", "ylabel", "labels", "series", "min",
                                        "max", "font", NULL};

static int l_bars(lua_State *L)
{
    const char *what = "plot.bars";
    lua_settop(L, 2);
    lmgv_check_options(L, 2, bars_keys, what);
    mgv_plot_opts o = {0};
    int rows, cols, ndim;
    float *v = matrix_arg(L, 1, what, &rows, &cols, &ndim);
    if (ndim == 1) rows = cols, cols = 1;   /* one bar per value */
    common_opts(L, 2, what, &o);
    o.row_labels = labels_opt(L, 2, "labels", what, &o.n_row_labels);
    o.series = labels_opt(L, 2, "series", what, &o.n_series);
    return push_plot(L, mgv_plot_bars(v, rows, cols, &o), "bars");
}

static const char *const lines_keys[] = {"title", "xlabel", "ylabel", "x", "series", "min", "max",
                                         "font", "width", "height", NULL};

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* lines(ys [, opts]): a sequence (one series), a 2-d tensor or a table of
 * sequences (series of any lengths, shorter ones end early), or a table of
 * named sequences {loss = {...}, f1 = {...}} (legend in name order). */
static int l_lines(lua_State *L)
{
    const char *what = "plot.lines";
    lua_settop(L, 2);
    lmgv_check_options(L, 2, lines_keys, what);
    mgv_plot_opts o = {0};
    common_opts(L, 2, what, &o);
    o.series = labels_opt(L, 2, "series", what, &o.n_series);
    int series = 0, points = 0;
    float *y = NULL;
    const char **names = NULL;
    int named = lua_istable(L, 1) && !lmgv_test(L, 1) && luaL_len(L, 1) == 0;
    if (named) {
        /* collect and sort the names; each value is a sequence */
        int n = 0;
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "%s: series names must be strings", what);
            n++;
            lua_pop(L, 1);
        }
        if (n == 0) luaL_error(L, "%s: no series", what);
        if (n > 64) luaL_error(L, "%s: %d series (at most 64)", what, n);
        names = lua_newuserdatauv(L, (size_t)n * sizeof *names, 1);
        lua_pushvalue(L, 1);
        lua_setiuservalue(L, -2, 1);   /* keeps the table, and so its key strings */
        int k = 0;
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            names[k++] = lua_tostring(L, -2);   /* keys stay alive in the table */
            lua_pop(L, 1);
        }
        qsort(names, (size_t)n, sizeof *names, by_name);
        lua_createtable(L, n, 0);   /* the same as a list, then handled below */
        for (int i = 0; i < n; i++) {
            lua_getfield(L, 1, names[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_replace(L, 1);
        if (!o.series) o.series = names, o.n_series = n;
    }
    mgv_tensor *t = lmgv_test(L, 1);
    int first_nested = 0;
    if (!t && lua_istable(L, 1)) {
        lua_rawgeti(L, 1, 1);
        first_nested = lua_istable(L, -1) || lmgv_test(L, -1);
        lua_pop(L, 1);
    }
    if (t || !first_nested) {
        int rows, cols, ndim;
        y = matrix_arg(L, 1, what, &rows, &cols, &ndim);
        series = rows, points = cols;
    } else {
        /* a list of sequences of possibly different lengths: pad with NaN */
        lua_Integer n = luaL_len(L, 1);
        if (n > 64) luaL_error(L, "%s: %d series (at most 64)", what, (int)n);
        int base = lua_gettop(L);
        for (lua_Integer i = 1; i <= n; i++) {
            int len;
            lua_rawgeti(L, 1, i);
            vector_arg(L, lua_gettop(L), what, &len);
            if (len > points) points = len;
            lua_pushinteger(L, len);
        }
        series = (int)n;
        y = scratch_floats(L, (size_t)series * (size_t)points);
        for (int i = 0; i < series; i++) {
            const float *src = lua_touserdata(L, base + 3 * i + 2);
            int len = (int)lua_tointeger(L, base + 3 * i + 3);
            for (int j = 0; j < points; j++) y[(size_t)i * points + j] = j < len ? src[j] : NAN;
        }
    }
    float *x = NULL;
    if (!lua_isnil(L, 2)) {
        lua_getfield(L, 2, "x");
        if (!lua_isnil(L, -1)) {
            int nx;
            x = vector_arg(L, lua_gettop(L), what, &nx);
            if (nx != points) luaL_error(L, "%s: %d x values for %d points", what, nx, points);
        }
        o.width = lmgv_opt_int(L, 2, "width", 0, what);
        o.height = lmgv_opt_int(L, 2, "height", 0, what);
    }
    return push_plot(L, mgv_plot_lines(x, y, series, points, &o), "lines");
}

static const char *const scatter_keys[] = {"title", "xlabel", "ylabel", "labels", "classes",
                                           "diagonal", "font", "width", "height", NULL};

static int l_scatter(lua_State *L)
{
    const char *what = "plot.scatter";
    lua_settop(L, 3);
    lmgv_check_options(L, 3, scatter_keys, what);
    mgv_plot_opts o = {0};
    int nx, ny;
    float *x = vector_arg(L, 1, what, &nx);
    float *y = vector_arg(L, 2, what, &ny);
    if (nx != ny) luaL_error(L, "%s: %d x values and %d y values", what, nx, ny);
    common_opts(L, 3, what, &o);
    int *cls = NULL;
    if (!lua_isnil(L, 3)) {
        o.diagonal = lmgv_opt_bool(L, 3, "diagonal", 0);
        o.width = lmgv_opt_int(L, 3, "width", 0, what);
        o.height = lmgv_opt_int(L, 3, "height", 0, what);
        lua_getfield(L, 3, "labels");
        if (!lua_isnil(L, -1)) {
            const char **names;
            int nn;
            cls = class_labels(L, lua_gettop(L), nx, 3, what, &names, &nn);
            o.class_names = names, o.n_class_names = nn;
        }
    }
    return push_plot(L, mgv_plot_scatter(x, y, nx, cls, &o), "scatter");
}

static const char *const graph_keys[] = {"title", "names", "classes", "threshold", "top", "center",
                                         "font", NULL};

/* graph(G [, labels [, opts]]): each node's top (3) strongest edges; top = 0
 * draws every edge above the threshold */
static int l_graph(lua_State *L)
{
    const char *what = "plot.graph";
    lua_settop(L, 3);
    if (lua_istable(L, 2) && !lmgv_test(L, 2) && lua_isnil(L, 3) && luaL_len(L, 2) == 0) {
        lua_pushnil(L);   /* graph(G, opts): no labels */
        lua_insert(L, 2);
        lua_settop(L, 3);
    }
    lmgv_check_options(L, 3, graph_keys, what);
    int rows, cols, ndim;
    float *adj = matrix_arg(L, 1, what, &rows, &cols, &ndim);
    if (ndim != 2 || rows != cols) luaL_error(L, "%s: expected a square [n x n] matrix, got %dx%d", what, rows, cols);
    mgv_plot_opts o = {0};
    common_opts(L, 3, what, &o);
    o.row_labels = labels_opt(L, 3, "names", what, &o.n_row_labels);
    o.top_k = 3;
    if (!lua_isnil(L, 3)) {
        o.threshold = lmgv_opt_number(L, 3, "threshold", 0, what);
        o.top_k = lmgv_opt_int(L, 3, "top", 3, what);
        o.center = lmgv_opt_int(L, 3, "center", 0, what);
    }
    int *cls = NULL;
    if (!lua_isnil(L, 2)) {
        const char **names;
        int nn;
        cls = class_labels(L, 2, rows, 3, what, &names, &nn);
        o.class_names = names, o.n_class_names = nn;
    }
    return push_plot(L, mgv_plot_graph(adj, rows, cls, &o), "graph");
}

static const char *const image_keys[] = {"lo", "hi", NULL};

/* image(t [, {lo=, hi=}]): [3, H, W], [1, H, W] or [H, W] values; by default
 * 0..255, or -1..1 / 0..1 when the values lie there. */
static int l_image(lua_State *L)
{
    const char *what = "plot.image";
    lua_settop(L, 2);
    lmgv_check_options(L, 2, image_keys, what);
    mgv_tensor *t = lmgv_check(L, 1);
    int ch = 1, h, w;
    if (t->ndim == 3 && (t->shape[0] == 3 || t->shape[0] == 1)) ch = (int)t->shape[0], h = (int)t->shape[1], w = (int)t->shape[2];
    else if (t->ndim == 2) h = (int)t->shape[0], w = (int)t->shape[1];
    else {
        char sh[64];
        mgv_shape_str(t, sh, sizeof sh);
        return luaL_error(L, "%s: expected a [3, H, W], [1, H, W] or [H, W] tensor, got %s", what, sh);
    }
    if (t->ndim >= 2 && (t->shape[t->ndim - 1] > MGV_PLOT_MAX_SIDE || t->shape[t->ndim - 2] > MGV_PLOT_MAX_SIDE))
        return luaL_error(L, "%s: the image is larger than %d pixels per side", what, MGV_PLOT_MAX_SIDE);
    float *v = scratch_floats(L, (size_t)mgv_numel(t));
    mgv_copy_to_buffer(t, v);
    double lo = 0, hi = 255, mn = 0, mx = 0;
    int any = 0;
    for (int64_t i = 0; i < mgv_numel(t); i++)
        if (isfinite(v[i])) {
            if (!any || v[i] < mn) mn = v[i];
            if (!any || v[i] > mx) mx = v[i];
            any = 1;
        }
    if (any && mn >= -1 && mx <= 1) lo = mn < 0 ? -1 : 0, hi = 1;
    if (!lua_isnil(L, 2)) {
        lo = lmgv_opt_number(L, 2, "lo", lo, what);
        hi = lmgv_opt_number(L, 2, "hi", hi, what);
    }
    return push_plot(L, mgv_plot_image(v, ch, h, w, lo, hi), "image");
}

static const char *const join_keys[] = {"vertical", NULL};

/* join({p, q, ...} [, {vertical = false}]): the pictures side by side, or stacked */
static int l_join(lua_State *L)
{
    const char *what = "plot.join";
    lua_settop(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    lmgv_check_options(L, 2, join_keys, what);
    int vertical = lua_isnil(L, 2) ? 0 : lmgv_opt_bool(L, 2, "vertical", 0);
    lua_Integer n = luaL_len(L, 1);
    if (n < 1 || n > 64) return luaL_error(L, "%s: %d pictures (1..64)", what, (int)n);
    mgv_canvas *parts[64];
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        lplot *p = luaL_testudata(L, -1, LMGV_PLOT);
        if (!p || !p->c) return luaL_error(L, "%s: item %d is not a picture", what, (int)i);
        parts[i - 1] = p->c;
        lua_pop(L, 1);   /* the table keeps it alive */
    }
    return push_plot(L, mgv_plot_join(parts, (int)n, vertical), vertical ? "column" : "row");
}

/* ---- the Plot object ------------------------------------------------------------ */

static int plot_save(lua_State *L)
{
    lplot *p = check_plot(L, 1);
    const char *path = luaL_checkstring(L, 2);
    if (mgv_canvas_save(p->c, path) < 0) return lmgv_error(L);
    lua_settop(L, 1);
    return 1;
}

static int plot_png(lua_State *L)
{
    lplot *p = check_plot(L, 1);
    unsigned char *buf = NULL;
    size_t len = 0;
    if (mgv_canvas_png(p->c, &buf, &len) < 0) return lmgv_error(L);
    lua_pushlstring(L, (const char *)buf, len);
    free(buf);
    return 1;
}

static int plot_size(lua_State *L)
{
    lplot *p = check_plot(L, 1);
    lua_pushinteger(L, p->c->w);
    lua_pushinteger(L, p->c->h);
    return 2;
}

static int plot_pixel(lua_State *L)
{
    lplot *p = check_plot(L, 1);
    lua_Integer x = luaL_checkinteger(L, 2), y = luaL_checkinteger(L, 3);
    if (x < 1 || y < 1 || x > p->c->w || y > p->c->h)
        return luaL_error(L, "plot:pixel: (%d, %d) is outside the %dx%d picture", (int)x, (int)y,
                          p->c->w, p->c->h);
    uint32_t c = mgv_canvas_get(p->c, (int)x - 1, (int)y - 1);
    lua_pushinteger(L, (c >> 16) & 255);
    lua_pushinteger(L, (c >> 8) & 255);
    lua_pushinteger(L, c & 255);
    return 3;
}

static int plot_gc(lua_State *L)
{
    lplot *p = luaL_checkudata(L, 1, LMGV_PLOT);
    mgv_canvas_free(p->c);
    p->c = NULL;
    return 0;
}

static int plot_tostring(lua_State *L)
{
    lplot *p = luaL_checkudata(L, 1, LMGV_PLOT);
    if (!p->c) lua_pushliteral(L, "mgv.Plot (freed)");
    else lua_pushfstring(L, "mgv.Plot %s %dx%d (display() it in a notebook, :save(path) writes a PNG)",
                         p->kind, p->c->w, p->c->h);
    return 1;
}

void lmgv_open_plot(lua_State *L, int module)
{
    static const luaL_Reg methods[] = {{"save", plot_save}, {"png", plot_png},   {"size", plot_size},
                                       {"pixel", plot_pixel}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", plot_gc}, {"__close", plot_gc},
                                    {"__tostring", plot_tostring}, {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"heatmap", l_heatmap}, {"bars", l_bars},   {"lines", l_lines},
                                     {"scatter", l_scatter}, {"graph", l_graph}, {"image", l_image},
                                     {"join", l_join},       {NULL, NULL}};
    luaL_newmetatable(L, LMGV_PLOT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    lua_setfield(L, module, "plot");
}
