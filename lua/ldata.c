/*
 * ldata.c — data for Lua: data sets ("mgv.Dataset"), the tasks that hold
 * them (mgv.data.synth / mre / met / features), GloVe tables ("mgv.Glove"),
 * class-balanced samplers ("mgv.Sampler"), metrics and the no-training
 * GloVe baseline. The model over them is lmodel.c.
 *
 *   local task  = mgv.data.synth{seed = 0}            -- or mgv.data.mre{...}
 *   local m     = mgv.metrics(task.val:labels(), pred, task.val:classes())
 *
 * Lua conventions throughout: instance, class and token indices are 1-based;
 * spans are inclusive {first, last}.
 */
#define LMGV_INTERNAL
#include "lmgv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "data/metrics.h"
#include "data/synth.h"
#include "data/tasks.h"
#include "data/zsplit.h"
#include "formats/glove.h"
#include "formats/image.h"

#define LMGV_DATASET "mgv.Dataset"
#define LMGV_GLOVE "mgv.Glove"
#define LMGV_SAMPLER "mgv.Sampler"

typedef struct {
    mgv_dataset ds;
    int live;
} lmgv_dataset;

typedef struct {
    mgv_glove *g;
} lmgv_glove;

typedef struct {
    mgv_sampler *s;
    mgv_rng rng;
} lmgv_sampler;

/* ---- datasets ----------------------------------------------------------------- */

/* The live data-set userdata at arg. */
static lmgv_dataset *lmgv_dataset_ud(lua_State *L, int arg)
{
    lmgv_dataset *u = luaL_checkudata(L, arg, LMGV_DATASET);
    if (!u->live) luaL_argerror(L, arg, "the data set was freed");
    return u;
}

mgv_dataset *lmgv_check_dataset(lua_State *L, int arg)
{
    return &lmgv_dataset_ud(L, arg)->ds;
}

/* Pushes a new Dataset that takes ownership of *ds (which is zeroed). */
static void push_dataset(lua_State *L, mgv_dataset *ds)
{
    lmgv_dataset *u = lua_newuserdatauv(L, sizeof *u, 1);   /* user value: ds.vocab */
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, LMGV_DATASET);
    u->ds = *ds;
    u->live = 1;
    memset(ds, 0, sizeof *ds);
}

static int ds_gc(lua_State *L)
{
    lmgv_dataset *u = luaL_checkudata(L, 1, LMGV_DATASET);
    if (u->live) mgv_dataset_free(&u->ds);
    u->live = 0;
    return 0;
}

static int ds_len(lua_State *L)
{
    lua_pushinteger(L, lmgv_dataset_ud(L, 1)->ds.n);
    return 1;
}

static int ds_classes(lua_State *L)
{
    lmgv_dataset *u = lmgv_dataset_ud(L, 1);
    lua_createtable(L, u->ds.n_classes, 0);
    for (int c = 0; c < u->ds.n_classes; c++) {
        lua_pushstring(L, u->ds.class_names[c]);
        lua_rawseti(L, -2, c + 1);
    }
    return 1;
}

static int ds_labels(lua_State *L)
{
    lmgv_dataset *u = lmgv_dataset_ud(L, 1);
    lua_createtable(L, u->ds.n, 0);
    for (int i = 0; i < u->ds.n; i++) {
        lua_pushinteger(L, u->ds.inst[i].label + 1);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int ds_instance(lua_State *L)
{
    lmgv_dataset *u = lmgv_dataset_ud(L, 1);
    int64_t i = lmgv_index(L, 2, luaL_checkinteger(L, 2), u->ds.n, "instance");
    const mgv_instance *in = &u->ds.inst[i];
    lua_createtable(L, 0, 5);
    lua_createtable(L, in->n_tokens, 0);
    for (int t = 0; t < in->n_tokens; t++) {
        if (in->tokens[t] >= 0) lua_pushinteger(L, in->tokens[t] + 1);
        else lua_pushinteger(L, 0);   /* 0: a word the table lacks */
        lua_rawseti(L, -2, t + 1);
    }
    lua_setfield(L, -2, "tokens");
    lua_createtable(L, in->n_spans, 0);
    for (int s = 0; s < in->n_spans; s++) {
        lua_createtable(L, 2, 0);
        lua_pushinteger(L, in->span_begin[s] + 1);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, in->span_end[s]);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, s + 1);
    }
    lua_setfield(L, -2, "spans");
    lua_pushinteger(L, in->label + 1);
    lua_setfield(L, -2, "label");
    lua_pushstring(L, u->ds.class_names[in->label]);
    lua_setfield(L, -2, "class");
    if (in->image >= 0) {
        lua_pushinteger(L, in->image + 1);
        lua_setfield(L, -2, "image");
    }
    return 1;
}

static int ds_image(lua_State *L)
{
    lmgv_dataset *u = lmgv_dataset_ud(L, 1);
    int64_t i = lmgv_index(L, 2, luaL_checkinteger(L, 2), u->ds.n, "instance");
    int im = u->ds.inst[i].image;
    if (im < 0 || !u->ds.images) {
        lua_pushnil(L);
        return 1;
    }
    mgv_tensor *img = u->ds.images;
    int64_t shape[3] = {img->shape[1], img->shape[2], img->shape[3]};
    int64_t stride[3] = {img->stride[1], img->stride[2], img->stride[3]};
    lmgv_push(L, mgv_view_of(img, 3, shape, stride, img->offset + (int64_t)im * img->stride[0]));
    return 1;
}

/* ds:subset{1, 3} — the instances of those classes, relabelled 1..k */
static int ds_subset(lua_State *L)
{
    lmgv_dataset *u = lmgv_dataset_ud(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = (int)lua_rawlen(L, 2);
    int *cls = lua_newuserdatauv(L, sizeof(int) * (size_t)(n ? n : 1), 0);
    for (int k = 0; k < n; k++) {
        lua_rawgeti(L, 2, k + 1);
        cls[k] = (int)lmgv_index(L, 2, luaL_checkinteger(L, -1), u->ds.n_classes, "class");
        lua_pop(L, 1);
    }
    mgv_dataset out;
    if (mgv_dataset_subset(&u->ds, n, cls, &out) < 0) return lmgv_error(L);
    push_dataset(L, &out);
    lua_getiuservalue(L, 1, 1);   /* the same words */
    lua_setiuservalue(L, -2, 1);
    return 1;
}

/* ds:load_features(path): precomputed token features for these instances */
static int ds_load_features(lua_State *L)
{
    lmgv_dataset *u = lmgv_dataset_ud(L, 1);
    if (mgv_dataset_load_features(&u->ds, luaL_checkstring(L, 2)) < 0) return lmgv_error(L);
    lmgv_account(L);
    return 0;
}

/* mgv.data.features(path): a data set made of precomputed features alone */
static int l_data_features(lua_State *L)
{
    mgv_dataset ds;
    if (mgv_dataset_from_features(&ds, luaL_checkstring(L, 1)) < 0) return lmgv_error(L);
    push_dataset(L, &ds);
    lmgv_account(L);
    return 1;
}

/* ds:load_images(dir [, {size = 16, policy = "blank"}]) -> pictures missing */
static int ds_load_images(lua_State *L)
{
    lmgv_dataset *u = lmgv_dataset_ud(L, 1);
    const char *dir = luaL_checkstring(L, 2);
    static const char *const known[] = {"size", "policy", NULL};
    lmgv_check_options(L, 3, known, "load_images");
    int size = lmgv_opt_int(L, 3, "size", 16, "load_images");
    static const char *const policies[] = {"fail", "skip", "blank", NULL};
    static const int policy_of[] = {MGV_IMAGE_FAIL, MGV_IMAGE_SKIP, MGV_IMAGE_BLANK};
    int pol = policy_of[lmgv_opt_choice(L, 3, "policy", "blank", policies, "load_images")];
    int64_t missing = 0;
    if (mgv_dataset_load_images(&u->ds, dir, size, pol, &missing, NULL, NULL) < 0)
        return lmgv_error(L);
    lmgv_account(L);
    lua_pushinteger(L, (lua_Integer)missing);
    return 1;
}

static int ds_tostring(lua_State *L)
{
    lmgv_dataset *u = luaL_checkudata(L, 1, LMGV_DATASET);
    if (!u->live) {
        lua_pushstring(L, "Dataset (freed)");
        return 1;
    }
    lua_pushfstring(L, "Dataset: %d instances, %d classes%s", u->ds.n, u->ds.n_classes,
                    u->ds.images ? ", with images" : "");
    return 1;
}

static int ds_index(lua_State *L)
{
    lmgv_dataset *u = lmgv_dataset_ud(L, 1);
    const char *k = lua_tostring(L, 2);
    if (k && strcmp(k, "n_classes") == 0) {
        lua_pushinteger(L, u->ds.n_classes);
        return 1;
    }
    if (k && strcmp(k, "n") == 0) {
        lua_pushinteger(L, u->ds.n);
        return 1;
    }
    if (k && strcmp(k, "vocab") == 0) {   /* the task's words, to name token ids */
        lua_getiuservalue(L, 1, 1);
        return 1;
    }
    luaL_getmetafield(L, 1, "__methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

/* ---- tasks ---------------------------------------------------------------------- */

/* {train=, val=, test=, words=, vocab=} from an mgv_task (ownership moves) */
static void push_task(lua_State *L, mgv_task *t, const char *name)
{
    lua_createtable(L, 0, 8);
    static const char *parts[3] = {"train", "val", "test"};
    for (int s = 0; s < 3; s++) {
        push_dataset(L, &t->split[s]);
        lua_setfield(L, -2, parts[s]);
    }
    lmgv_push(L, t->words);
    t->words = NULL;
    lua_setfield(L, -2, "words");
    if (t->vocab) {
        lua_getfield(L, -1, "words");
        int64_t V = lmgv_test(L, -1) ? lmgv_test(L, -1)->shape[0] : 0;
        lua_pop(L, 1);
        lua_createtable(L, (int)V, 0);
        for (int64_t i = 0; i < V; i++) {
            lua_pushstring(L, t->vocab[i]);
            lua_rawseti(L, -2, i + 1);
            free(t->vocab[i]);
        }
        free(t->vocab);
        t->vocab = NULL;
        for (int s = 0; s < 3; s++) {   /* each split names its token ids with it */
            lua_getfield(L, -2, parts[s]);
            lua_pushvalue(L, -2);
            lua_setiuservalue(L, -2, 1);
            lua_pop(L, 1);
        }
        lua_setfield(L, -2, "vocab");
    }
    lua_pushinteger(L, t->n_tokens);
    lua_setfield(L, -2, "n_tokens");
    lua_pushinteger(L, t->n_unknown);
    lua_setfield(L, -2, "n_unknown");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
}

static const char *const synth_opts[] = {"seed", "classes", "per_class", "ambiguous",
                                         "latent", "image_size", "sentence_len", NULL};

static int l_data_synth(lua_State *L)
{
    const char *op = "mgv.data.synth";
    lmgv_check_options(L, 1, synth_opts, op);
    mgv_synth_config c = mgv_synth_default_config();
    c.seed = (uint64_t)lmgv_opt_int(L, 1, "seed", 0, op);
    c.n_classes = lmgv_opt_int(L, 1, "classes", c.n_classes, op);
    c.per_class = lmgv_opt_int(L, 1, "per_class", c.per_class, op);
    c.ambiguous = (float)lmgv_opt_number(L, 1, "ambiguous", c.ambiguous, op);
    c.latent_dim = lmgv_opt_int(L, 1, "latent", c.latent_dim, op);
    c.image_size = lmgv_opt_int(L, 1, "image_size", c.image_size, op);
    c.sentence_len = lmgv_opt_int(L, 1, "sentence_len", c.sentence_len, op);
    mgv_synth s;
    if (mgv_synth_generate(&c, &s) < 0) return lmgv_error(L);
    mgv_task t;
    memset(&t, 0, sizeof t);
    int rc = 0;
    for (int p = 0; p < 3 && rc == 0; p++)
        rc = mgv_dataset_subset(&s.data, s.split_n[p], s.split[p], &t.split[p]);
    if (rc < 0) {
        mgv_task_free(&t);
        mgv_synth_free(&s);
        return lmgv_error(L);
    }
    t.words = mgv_retain(s.word_vectors);
    t.vocab = s.words;
    s.words = NULL;
    t.n_tokens = 0;
    push_task(L, &t, "synth");
    push_dataset(L, &s.data);
    lua_setfield(L, -2, "all");
    mgv_synth_free(&s);
    mgv_task_free(&t);
    return 1;
}

static lmgv_glove *lmgv_check_glove(lua_State *L, int arg)
{
    lmgv_glove *u = luaL_checkudata(L, arg, LMGV_GLOVE);
    if (!u->g) luaL_argerror(L, arg, "the GloVe table was closed");
    return u;
}

/* the GloVe table from a "glove" option: a Glove object or a cache path */
static const mgv_glove *glove_option(lua_State *L, int opts, const char *op)
{
    lua_getfield(L, opts, "glove");
    if (lua_isnil(L, -1)) luaL_error(L, "%s: option 'glove' is required (mgv.glove.open(...))", op);
    lmgv_glove *u = luaL_testudata(L, -1, LMGV_GLOVE);
    if (!u) luaL_error(L, "%s: option 'glove' must be a table from mgv.glove.open", op);
    if (!u->g) luaL_error(L, "%s: the GloVe table was closed", op);
    lua_pop(L, 1);   /* the options table keeps it alive */
    return u->g;
}

static const char *const mre_opts[] = {"dir", "glove", "seed", "descriptions", NULL};

static int l_data_mre(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *op = "mgv.data.mre";
    lmgv_check_options(L, 1, mre_opts, op);
    const char *dir = lmgv_opt_string(L, 1, "dir", NULL, op);
    if (!dir) return luaL_error(L, "mgv.data.mre: option 'dir' (train/val/test.txt) is required");
    const mgv_glove *g = glove_option(L, 1, op);
    mgv_task t;
    if (mgv_task_mre(&t, dir, g, lmgv_opt_int(L, 1, "seed", 0, op),
                     lmgv_opt_string(L, 1, "descriptions", NULL, op)) < 0)
        return lmgv_error(L);
    push_task(L, &t, "mre");
    mgv_task_free(&t);
    return 1;
}

static const char *const met_opts[] = {"file", "glove", "task", "descriptions", NULL};

static int l_data_met(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *op = "mgv.data.met";
    lmgv_check_options(L, 1, met_opts, op);
    const char *file = lmgv_opt_string(L, 1, "file", NULL, op);
    if (!file) return luaL_error(L, "mgv.data.met: option 'file' (WikiDiverse JSON) is required");
    const mgv_glove *g = glove_option(L, 1, op);
    mgv_task t;
    if (mgv_task_met(&t, file, g, lmgv_opt_int(L, 1, "task", 1, op),
                     lmgv_opt_string(L, 1, "descriptions", NULL, op)) < 0)
        return lmgv_error(L);
    push_task(L, &t, "met");
    mgv_task_free(&t);
    return 1;
}

/* ---- GloVe ----------------------------------------------------------------------- */

static int glove_progress(void *ud, uint64_t done, uint64_t total)
{
    if (mgv_interrupted()) return 1;   /* stop the conversion */
    lmgv_progress_call(ud, (int64_t)done, (int64_t)total);
    return 0;
}

/* mgv.glove.open(path [, cache [, progress]]): a .json converts to cache once */
static int l_glove_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *cache = luaL_optstring(L, 2, NULL);
    lmgv_progress p = {L, lua_isfunction(L, 3) ? 3 : 0};
    lmgv_glove *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->g = NULL;
    luaL_setmetatable(L, LMGV_GLOVE);
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".json") == 0) {
        if (!cache) return luaL_error(L, "mgv.glove.open: a JSON source needs a cache path");
        u->g = mgv_glove_open_or_convert(path, cache, glove_progress, &p);
    } else {
        u->g = mgv_glove_open(path);
    }
    if (!u->g) return lmgv_error(L);
    return 1;
}

static int glove_gc(lua_State *L)
{
    lmgv_glove *u = luaL_checkudata(L, 1, LMGV_GLOVE);
    mgv_glove_close(u->g);
    u->g = NULL;
    return 0;
}

static int glove_lookup(lua_State *L)
{
    lmgv_glove *u = lmgv_check_glove(L, 1);
    int64_t r = mgv_glove_find(u->g, luaL_checkstring(L, 2));
    if (r < 0) lua_pushnil(L);
    else lua_pushinteger(L, r + 1);
    return 1;
}

static int glove_vector(lua_State *L)
{
    lmgv_glove *u = lmgv_check_glove(L, 1);
    int64_t r = mgv_glove_find(u->g, luaL_checkstring(L, 2));
    if (r < 0) {
        lua_pushnil(L);
        return 1;
    }
    mgv_tensor *t = mgv_glove_gather(u->g, 1, &r);
    if (!t) return lmgv_error(L);
    int64_t shape[1] = {t->shape[1]};
    mgv_tensor *v = mgv_reshape(t, 1, shape);
    mgv_release(t);
    lmgv_push(L, v);
    return 1;
}

static int glove_tostring(lua_State *L)
{
    lmgv_glove *u = luaL_checkudata(L, 1, LMGV_GLOVE);
    if (!u->g) lua_pushstring(L, "GloVe (closed)");
    else lua_pushfstring(L, "GloVe: %d words x %d", (int)mgv_glove_rows(u->g), mgv_glove_dim(u->g));
    return 1;
}

/* ---- sampler --------------------------------------------------------------------- */

static int l_sampler(lua_State *L)
{
    lmgv_dataset *d = lmgv_dataset_ud(L, 1);
    lua_Integer seed = luaL_optinteger(L, 2, 0);
    int64_t *inst = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(d->ds.n + 1), 0);
    int *lab = lua_newuserdatauv(L, sizeof(int) * (size_t)(d->ds.n + 1), 0);
    for (int i = 0; i < d->ds.n; i++) {
        inst[i] = i;
        lab[i] = d->ds.inst[i].label;
    }
    lmgv_sampler *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->s = NULL;
    luaL_setmetatable(L, LMGV_SAMPLER);
    u->s = mgv_sampler_new(d->ds.n, inst, lab);
    if (!u->s) return lmgv_error(L);
    mgv_rng_seed(&u->rng, (uint64_t)seed);
    return 1;
}

static int sampler_next(lua_State *L)
{
    lmgv_sampler *u = luaL_checkudata(L, 1, LMGV_SAMPLER);
    if (!u->s) return luaL_argerror(L, 1, "the sampler was freed");
    lua_Integer n = luaL_optinteger(L, 2, 16);
    if (n < 1 || n > 1 << 20) return luaL_argerror(L, 2, "batch size out of range");
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_pushinteger(L, mgv_sampler_next(u->s, &u->rng) + 1);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static int sampler_gc(lua_State *L)
{
    lmgv_sampler *u = luaL_checkudata(L, 1, LMGV_SAMPLER);
    mgv_sampler_free(u->s);
    u->s = NULL;
    return 0;
}

/* ---- metrics and the baseline ---------------------------------------------------------- */

/* mgv.metrics(gold, pred [, names]) — 1-based class tables */
static int l_metrics(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    int64_t n = (int64_t)lua_rawlen(L, 1);
    if ((int64_t)lua_rawlen(L, 2) != n)
        return luaL_error(L, "metrics: %d gold labels but %d predictions", (int)n,
                          (int)lua_rawlen(L, 2));
    int64_t *g = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(n + 1), 0);
    int64_t *p = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(n + 1), 0);
    int C = 0;
    for (int64_t i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);
        lua_rawgeti(L, 2, i + 1);
        int ok1, ok2;
        g[i] = lua_tointegerx(L, -2, &ok1) - 1;
        p[i] = lua_tointegerx(L, -1, &ok2) - 1;
        if (!ok1 || !ok2 || g[i] < 0 || p[i] < 0)
            return luaL_error(L, "metrics: entry %d is not a class number >= 1", (int)i + 1);
        if (g[i] + 1 > C) C = (int)g[i] + 1;
        if (p[i] + 1 > C) C = (int)p[i] + 1;
        lua_pop(L, 2);
    }
    int nnames = lua_istable(L, 3) ? (int)lua_rawlen(L, 3) : 0;
    if (nnames > C) C = nnames;
    mgv_metrics m;
    if (mgv_metrics_compute(n, g, p, C ? C : 1, &m) < 0) return lmgv_error(L);
    lua_createtable(L, 0, 8);
    lmgv_set_number(L, "macro_p", m.macro_p);
    lmgv_set_number(L, "macro_r", m.macro_r);
    lmgv_set_number(L, "macro_f1", m.macro_f1);
    lmgv_set_number(L, "micro_f1", m.micro_f1);
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
    lua_createtable(L, C, 0);
    for (int c = 0; c < C; c++) {
        lua_createtable(L, 0, 5);
        lmgv_set_number(L, "precision", m.precision[c]);
        lmgv_set_number(L, "recall", m.recall[c]);
        lmgv_set_number(L, "f1", m.f1[c]);
        lua_pushinteger(L, m.support[c]);
        lua_setfield(L, -2, "support");
        if (c < nnames) {
            lua_rawgeti(L, 3, c + 1);
            lua_setfield(L, -2, "name");
        }
        lua_rawseti(L, -2, c + 1);
    }
    lua_setfield(L, -2, "per_class");
    /* every class gets a name string kept alive in a scratch table */
    lua_createtable(L, C, 0);
    int nt = lua_gettop(L);
    const char **names = lua_newuserdatauv(L, sizeof(char *) * (size_t)(C + 1), 0);
    for (int c = 0; c < C; c++) {
        if (c < nnames) lua_rawgeti(L, 3, c + 1);
        else lua_pushfstring(L, "class %d", c + 1);
        if (!lua_isstring(L, -1)) {
            lua_pop(L, 1);
            lua_pushfstring(L, "class %d", c + 1);
        }
        names[c] = lua_tostring(L, -1);
        lua_rawseti(L, nt, c + 1);
    }
    char *table = mgv_metrics_table(&m, names, 0);
    lua_pop(L, 2);
    if (table) {
        lua_pushstring(L, table);
        lua_setfield(L, -2, "table");
        free(table);
    }
    mgv_metrics_free(&m);
    return 1;
}

static int l_baseline_glove(lua_State *L)
{
    lmgv_dataset *d = lmgv_dataset_ud(L, 1);
    mgv_tensor *words = lmgv_check(L, 2);
    if (words->ndim != 2 || words->shape[0] < d->ds.n_word_rows)
        return luaL_argerror(L, 2, "not the word table of this data set");
    int *pred = lua_newuserdatauv(L, sizeof(int) * (size_t)(d->ds.n + 1), 0);
    mgv_tensor *wc = mgv_contiguous_data(words);
    int rc = wc ? mgv_task_glove_baseline(&d->ds, wc, pred) : -1;
    mgv_release(wc);
    if (rc < 0) return lmgv_error(L);
    lmgv_push_ints(L, pred, d->ds.n, 1);
    return 1;
}

/* ---- registration ----------------------------------------------------------------- */

static const luaL_Reg dataset_methods[] = {
    {"classes", ds_classes}, {"labels", ds_labels}, {"instance", ds_instance},
    {"image", ds_image},     {"subset", ds_subset}, {"free", ds_gc},
    {"load_images", ds_load_images}, {"load_features", ds_load_features},
    {NULL, NULL}};

static const luaL_Reg glove_methods[] = {
    {"lookup", glove_lookup}, {"vector", glove_vector}, {"close", glove_gc}, {NULL, NULL}};

static const luaL_Reg sampler_methods[] = {{"next", sampler_next}, {NULL, NULL}};

static const luaL_Reg data_funcs[] = {{"synth", l_data_synth},       {"mre", l_data_mre},
                                      {"met", l_data_met},           {"features", l_data_features},
                                      {NULL, NULL}};

static const luaL_Reg glove_funcs[] = {{"open", l_glove_open}, {NULL, NULL}};

void lmgv_open_data(lua_State *L, int module)
{
    lmgv_new_class(L, LMGV_DATASET, dataset_methods, ds_gc, ds_tostring, ds_index);
    lmgv_set_metamethod(L, LMGV_DATASET, "__len", ds_len);
    lmgv_new_class(L, LMGV_GLOVE, glove_methods, glove_gc, glove_tostring, NULL);
    lmgv_new_class(L, LMGV_SAMPLER, sampler_methods, sampler_gc, NULL, NULL);
    lmgv_new_lib(L, module, "data", data_funcs);
    lmgv_new_lib(L, module, "glove", glove_funcs);
    lua_pushcfunction(L, l_sampler);
    lua_setfield(L, module, "sampler");
    lua_pushcfunction(L, l_metrics);
    lua_setfield(L, module, "metrics");
    lua_pushcfunction(L, l_baseline_glove);
    lua_setfield(L, module, "glove_baseline");
}
