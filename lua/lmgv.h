/*
 * lmgv.h — the Lua 5.4 binding of the mgv engine.
 *
 * Public part: luaopen_mgv (the module entry point, `require "mgv"`) and
 * mgv_lua_open (what a host such as bin/mgv or the Jupyter kernel calls to
 * preload the module as the global `mgv`).
 *
 * Internal part (LMGV_INTERNAL): helpers shared by the lua/ C files — the tensor
 * userdata, argument conversion from Lua conventions (1-based, inclusive,
 * negative from the end) to the engine's (0-based, half-open), and raising
 * engine failures as Lua errors.
 */
#ifndef LMGV_H
#define LMGV_H

#include <lauxlib.h>
#include <lua.h>

#include "core/version.h"

#define LMGV_VERSION MGV_VERSION

/* The module table on the stack; registers "mgv.Tensor" and friends. */
int luaopen_mgv(lua_State *L);
/* require "mgv" through package.loaded and set the global `mgv`; pops it. */
void mgv_lua_open(lua_State *L);

#ifdef LMGV_INTERNAL

#include <stdint.h>

#include "data/dataset.h"
#include "mgv.h"
#include "core/optim.h"
#include "core/params.h"
#include "formats/safetensors.h"

#define LMGV_TENSOR "mgv.Tensor"
#define LMGV_OPTIM "mgv.Optim"

/* The userdata: one engine reference (NULL once freed by __gc/__close). */
typedef struct lmgv_tensor {
    mgv_tensor *t;
} lmgv_tensor;

/* ---- tensors (ltensor.c) ---------------------------------------------- */
/* The tensor at arg; argument error for anything else or a freed tensor. */
mgv_tensor *lmgv_check(lua_State *L, int arg);
/* The tensor at arg, or NULL when it is nil/none. */
mgv_tensor *lmgv_opt(lua_State *L, int arg);
/* The tensor at idx, or NULL when the value is not a (live) tensor. */
mgv_tensor *lmgv_test(lua_State *L, int idx);
/*
 * Pushes an empty userdata slot; the caller stores the result of an engine
 * call in slot->t and then calls lmgv_done(). Making the slot first means a
 * Lua memory error can never leak the engine tensor.
 */
lmgv_tensor *lmgv_slot(lua_State *L);
/* Raises the engine's message when slot->t is NULL; else reports the bytes
 * the engine allocated to Lua's collector. Leaves the tensor on the stack. */
void lmgv_done(lua_State *L, lmgv_tensor *slot);
/* Pushes t (takes the reference); raises the engine message if t is NULL. */
void lmgv_push(lua_State *L, mgv_tensor *t);
/* Raises the engine's last message as a Lua error (never returns). */
int lmgv_error(lua_State *L);
/* Tells Lua's collector about memory the engine allocated since last time. */
void lmgv_account(lua_State *L);
/* A 0-d tensor holding a Lua number (for number-tensor arithmetic); the
 * caller releases it. Raises on failure. */
mgv_tensor *lmgv_scalar(lua_State *L, lua_Number v);
/* Raises an error when t may not be changed in place (requires grad while
 * grad mode is on: the change would be invisible to autograd). */
void lmgv_check_writable(lua_State *L, mgv_tensor *t, const char *op);

/* ---- argument conversion (ltensor.c) ----------------------------------- */
/* A 1-based (or negative) axis of a tensor with ndim axes -> 0-based. */
int lmgv_axis(lua_State *L, int arg, int ndim);
/* The same, optional with a default (Lua convention, e.g. -1). */
int lmgv_optaxis(lua_State *L, int arg, int ndim, int def);
/* A 1-based (or negative) index into an axis of size n -> 0-based. */
int64_t lmgv_index(lua_State *L, int arg, lua_Integer i, int64_t n, const char *what);
/*
 * A shape from a table at arg or from integer varargs arg..top. mode 0:
 * sizes >= 0 only; 1: also one -1 (a size to infer, reshape); 2: also -1
 * anywhere (a size to keep, expand). Returns ndim.
 */
int lmgv_shape(lua_State *L, int arg, int64_t *shape, int mode);
/*
 * 1-based indices in [1, limit] (limit <= 0: no upper bound) from a tensor,
 * a flat table or a nested table at arg, converted to 0-based int64 in a
 * scratch userdata pushed on the stack. *n gets the count; shape/ndim (when
 * not NULL) the shape of the index collection.
 */
int64_t *lmgv_indices(lua_State *L, int arg, int64_t limit, const char *what, int64_t *n,
                      int *ndim, int64_t *shape);

/* ---- option tables (lopts.c) -------------------------------------------- */
/* The options argument at t may be nil/none (all defaults) or a table. */
/* Raises "<op>: unknown option 'k' (known: a, b, c)" for any key of the table
 * at t that is not in known (a NULL-terminated list). */
void lmgv_check_options(lua_State *L, int t, const char *const *known, const char *op);
/* 1 when option k is given (not nil). */
int lmgv_has_option(lua_State *L, int t, const char *k);
/* Option k, or def when it is absent; a value of another type raises
 * "<op>: option 'k' must be a ..., got <type>" (numeric strings count as
 * numbers). A string stays valid while the options table lives. */
int lmgv_opt_int(lua_State *L, int t, const char *k, int def, const char *op);
double lmgv_opt_number(lua_State *L, int t, const char *k, double def, const char *op);
const char *lmgv_opt_string(lua_State *L, int t, const char *k, const char *def, const char *op);
/* Option k as a boolean (Lua truth: anything but false and nil), or def. */
int lmgv_opt_bool(lua_State *L, int t, const char *k, int def);

/* ---- helpers shared by the bindings (lmgv.c) ---------------------------- */
/* Option k as one of choices (a NULL-terminated list), or def when absent;
 * returns its index. Anything else raises
 * "<op>: k must be 'a', 'b' or 'c' (got 'x')". */
int lmgv_opt_choice(lua_State *L, int t, const char *k, const char *def,
                    const char *const *choices, const char *op);
/* A Lua progress callback: fn is its stack index (0: none). */
typedef struct lmgv_progress {
    lua_State *L;
    int fn;
} lmgv_progress;
/* Calls p->fn(done, total) when there is one; an error it raises is dropped. */
void lmgv_progress_call(const lmgv_progress *p, int64_t done, int64_t total);
/* Sets t[name] = tensor for every parameter of ps in the table on top. */
void lmgv_set_params(lua_State *L, const mgv_paramset *ps);
/* t[k] = v in the table on top. */
void lmgv_set_number(lua_State *L, const char *k, double v);
/* A field of a config table: key and value. */
typedef struct lmgv_field {
    const char *k;
    double v;
} lmgv_field;
/* Sets the n fields in the table on top: a whole number >= 1 as an integer,
 * anything else as a float. */
void lmgv_set_fields(lua_State *L, const lmgv_field *f, size_t n);
/* Pushes the list {v[0] + add, ..., v[n-1] + add}. */
void lmgv_push_ints(lua_State *L, const int *v, int n, int add);
/*
 * Registers the metatable `name`: the methods as __index (with an index
 * function: kept as __methods, and index becomes __index), gc as __gc and
 * __close, and tostring (when not NULL) as __tostring.
 */
void lmgv_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                    lua_CFunction tostring, lua_CFunction index);
/* Sets metamethod event (e.g. "__len") of the registered metatable name. */
void lmgv_set_metamethod(lua_State *L, const char *name, const char *event, lua_CFunction f);
/* module[name] = a new table of the functions funcs. */
void lmgv_new_lib(lua_State *L, int module, const char *name, const luaL_Reg *funcs);

/* ---- registration ------------------------------------------------------ */
void lmgv_open_tensor(lua_State *L, int module);   /* ltensor.c */
void lmgv_open_ops(lua_State *L, int module);      /* lops.c */
void lmgv_open_optim(lua_State *L, int module);    /* loptim.c */
/* The optimiser of the mgv.Optim userdata at arg (loptim.c); argument error
 * for anything else or a freed one. */
mgv_optim *lmgv_check_optim(lua_State *L, int arg);
void lmgv_open_blocks(lua_State *L, int module);   /* lblocks.c: mgv.vmoe_experts, mgv.vat */
void lmgv_open_model(lua_State *L, int module);    /* lmodel.c: data, model, metrics */
void lmgv_open_data(lua_State *L, int module);     /* ldata.c: data sets, tasks, GloVe, metrics */
/* The data set of the mgv.Dataset userdata at arg (ldata.c); argument error
 * for anything else or a freed data set. */
mgv_dataset *lmgv_check_dataset(lua_State *L, int arg);
void lmgv_open_json(lua_State *L, int module);     /* ljson.c: mgv.json */
void lmgv_open_plot(lua_State *L, int module);     /* lplot.c: mgv.plot */
void lmgv_open_host(lua_State *L, int module);     /* lhost.c: mgv._listdir, mgv._source */
void lmgv_open_dist(lua_State *L, int module);     /* ldist.c: mgv.dist */

/* ---- embedded pure-Lua sources (generated from the lua/ Lua files) -------------- */
typedef struct lmgv_source {
    const char *name;               /* file name without ".lua" */
    const unsigned char *text;
    unsigned long len;
} lmgv_source;
extern const lmgv_source lmgv_sources[];   /* ends with a {NULL, NULL, 0} entry */

#endif /* LMGV_INTERNAL */
#endif
