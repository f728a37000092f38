/*
 * lmodel.c — the MG-VMoE model for Lua ("mgv.Model": mgv.model, train_step,
 * predict, forward, checkpoints, config) over the data sets of ldata.c, and
 * the small process helpers the training loop uses (isatty, clock, _pcall).
 *
 *   local model = mgv.model{words = task.words, task = "met"}
 *   local s     = model:train_step(task.train, {1, 2, 3, 4})
 *   local pred  = model:predict(task.val)
 *
 * Lua conventions throughout: instance, class and token indices are 1-based;
 * spans are inclusive {first, last}.
 */
#define LMGV_INTERNAL
#include "lmgv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mgvmoe/model.h"

#define LMGV_MODEL "mgv.Model"

typedef struct {
    mgv_model m;
    int live;
} lmgv_model;

/* ---- the model ---------------------------------------------------------------------- */

static lmgv_model *check_model(lua_State *L, int arg)
{
    lmgv_model *u = luaL_checkudata(L, arg, LMGV_MODEL);
    if (!u->live) luaL_argerror(L, arg, "the model was freed");
    return u;
}

/* mgv.model's options: "words", "preset" and the table's (engine/mgvmoe/model_options.h) */
#define OPTION_NAME(name, ...) #name,
static const char *const model_opts[] = {"words", "preset", MGV_MODEL_OPTIONS(OPTION_NAME) NULL};
#undef OPTION_NAME

/* Option k (of the options at 1), one of the names of ch, as its value; cur
 * when absent. */
static int opt_choice_value(lua_State *L, const char *k, const mgv_choice *ch, int cur,
                            const char *op)
{
    if (!lmgv_has_option(L, 1, k)) return cur;
    const char *names[8];
    int n = 0;
    for (; ch[n].name && n < 7; n++) names[n] = ch[n].name;
    names[n] = NULL;
    return ch[lmgv_opt_choice(L, 1, k, names[0], names, op)].value;
}

/* reading an option into field f of the config, by kind (ch: its choices) */
#define READ_INT(k, f, ch) f = lmgv_opt_int(L, 1, k, (int)(f), op)
#define READ_NUM(k, f, ch) f = lmgv_opt_number(L, 1, k, f, op)
#define READ_BOOL(k, f, ch) f = lmgv_opt_bool(L, 1, k, f)
#define READ_STR(k, f, ch) f = lmgv_opt_string(L, 1, k, f, op)
#define READ_CHOICE(k, f, ch) f = opt_choice_value(L, k, ch, (int)(f), op)
#define READ_OPTION(name, at, field, kind, def, ref, known, help) \
    READ_##kind(#name, MGV_OPTION_FIELD(c, at, field), mgv_model_choices_##name);

/* The configuration the options at 1 ask for: the defaults, or a preset's
 * values (option preset), then the options given. */
static mgv_model_config read_config(lua_State *L, const char *op)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lmgv_check_options(L, 1, model_opts, op);
    mgv_model_config c = mgv_model_default_config();
    const char *preset = lmgv_opt_string(L, 1, "preset", NULL, op);
    if (preset) {
        /* the preset resolves by task (proj) */
        READ_CHOICE("task", c.n_spans, mgv_model_choices_task);
        if (mgv_model_preset(preset, &c) < 0) lmgv_error(L);
    }
    MGV_MODEL_OPTIONS(READ_OPTION)
    if (c.n_spans == 2 && !preset && !lmgv_has_option(L, 1, "images"))
        c.use_images = 0;   /* MNRE images are not here offline */
    return c;
}

static void push_options(lua_State *L, const mgv_model_config *c);

/* mgv.model_config{...}: the options mgv.model would use, without a model */
static int l_model_config(lua_State *L)
{
    mgv_model_config c = read_config(L, "mgv.model_config");
    push_options(L, &c);
    return 1;
}

static int l_model(lua_State *L)
{
    const char *op = "mgv.model";
    mgv_model_config c = read_config(L, op);
    lua_getfield(L, 1, "words");
    mgv_tensor *words = lmgv_test(L, -1);
    if (!words && !c.text_features && !c.bert_dir)
        return luaL_error(L, "mgv.model: option 'words' (the frozen word table, task.words) is required");
    lua_pop(L, 1);
    lmgv_model *u = lua_newuserdatauv(L, sizeof *u, 1);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, LMGV_MODEL);
    if (mgv_model_init(&u->m, &c, words) < 0) return lmgv_error(L);
    u->live = 1;
    lmgv_account(L);
    return 1;
}

static int model_gc(lua_State *L)
{
    lmgv_model *u = luaL_checkudata(L, 1, LMGV_MODEL);
    if (u->live) mgv_model_free(&u->m);
    u->live = 0;
    return 0;
}

/* instance indices (1-based table) -> 0-based int array in a scratch userdata */
static int *index_list(lua_State *L, int arg, int n_limit, int *n)
{
    int64_t cnt;
    int64_t *ix = lmgv_indices(L, arg, n_limit, "instance", &cnt, NULL, NULL);
    int *out = lua_newuserdatauv(L, sizeof(int) * (size_t)(cnt ? cnt : 1), 0);
    for (int64_t i = 0; i < cnt; i++) out[i] = (int)ix[i];
    *n = (int)cnt;
    return out;
}

static int model_train_step(lua_State *L)
{
    lua_settop(L, 3);
    lmgv_model *u = check_model(L, 1);
    mgv_dataset *ds = lmgv_check_dataset(L, 2);
    int n;
    int *idx = index_list(L, 3, ds->n, &n);
    if (n < 1) return luaL_error(L, "train_step: empty batch");
    mgv_step_stats st;
    if (mgv_model_train_step(&u->m, ds, idx, n, &st) < 0) return lmgv_error(L);
    lmgv_account(L);
    lua_createtable(L, 0, 8);
    lmgv_set_number(L, "loss", st.loss);
    lmgv_set_number(L, "rank", st.l_rank);
    lmgv_set_number(L, "vmoe", st.l_vmoe);
    lmgv_set_number(L, "nce", st.l_nce);
    lmgv_set_number(L, "mg", st.l_mg);
    lmgv_set_number(L, "r_objective", st.r_objective);
    lmgv_set_number(L, "grad_norm", st.grad_norm);
    lmgv_set_number(L, "accuracy", st.accuracy);
    return 1;
}

/* The routing intervention the options at t ask for (disable_experts = {k,
 * ...}, gates = "uniform" | tensor), its buffers anchored on the stack; set on
 * the head by the caller around one call and cleared after. */
static mgv_head_routing read_routing(lua_State *L, lmgv_model *u, int t, const char *op)
{
    mgv_head_routing rt = {NULL, NULL};
    int K = u->m.head.cfg.experts;
    int has_off = lmgv_has_option(L, t, "disable_experts"), has_gates = lmgv_has_option(L, t, "gates");
    if (!has_off && !has_gates) return rt;
    if (!u->m.head.cfg.use_vmoe)
        luaL_error(L, "%s: the model has no VIB-MoE (vmoe = false), so no experts to route", op);
    if (has_off && has_gates) luaL_error(L, "%s: give disable_experts or gates, not both", op);
    if (has_off) {
        lua_getfield(L, t, "disable_experts");
        if (!lua_istable(L, -1))
            luaL_error(L, "%s: disable_experts must be a list of expert numbers (1..%d)", op, K);
        unsigned char *off = lua_newuserdatauv(L, (size_t)K, 0);
        memset(off, 0, (size_t)K);
        int n = (int)lua_rawlen(L, -2), left = K;
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, -2, i);
            int isnum;
            lua_Integer k = lua_tointegerx(L, -1, &isnum);
            if (!isnum || k < 1 || k > K)
                luaL_error(L, "%s: disable_experts[%d] is %s, not an expert number in 1..%d", op, i,
                           luaL_tolstring(L, -1, NULL), K);
            lua_pop(L, 1);
            left -= !off[k - 1];
            off[k - 1] = 1;
        }
        if (left < 1) luaL_error(L, "%s: disable_experts leaves no expert (the model has %d)", op, K);
        rt.off = off;
        return rt;
    }
    lua_getfield(L, t, "gates");
    if (lua_type(L, -1) == LUA_TSTRING) {
        if (strcmp(lua_tostring(L, -1), "uniform") != 0)
            luaL_error(L, "%s: gates must be 'uniform' or a tensor [..., %d]", op, K);
        lmgv_tensor *g = lmgv_slot(L);
        g->t = mgv_full(1, (int64_t[]){K}, 1.0f / (float)K);
        lmgv_done(L, g);
        rt.gates = g->t;
        return rt;
    }
    mgv_tensor *g = lmgv_test(L, -1);
    char sh[96];
    if (!g || g->ndim < 1 || g->shape[g->ndim - 1] != K)
        luaL_error(L, "%s: gates must be 'uniform' or a tensor [..., %d], got %s", op, K,
                   g ? mgv_shape_str(g, sh, sizeof sh) : luaL_typename(L, -1));
    for (int64_t i = 0; i < mgv_numel(g); i++)
        if (!(mgv_get_flat(g, i) >= 0))
            luaL_error(L, "%s: gates must be probabilities (>= 0); entry %I is %f", op,
                       (lua_Integer)i + 1, (lua_Number)mgv_get_flat(g, i));
    rt.gates = g;
    return rt;
}

/* model:predict(ds [, {batch=64, first=1, count=#ds, disable_experts=, gates=}]) -> 1-based classes */
static const char *const predict_opts[] = {"batch", "first", "count", "disable_experts", "gates", NULL};

static int model_predict(lua_State *L)
{
    lua_settop(L, 3);   /* scratch values pushed below must not look like options */
    lmgv_model *u = check_model(L, 1);
    mgv_dataset *ds = lmgv_check_dataset(L, 2);
    const char *op = "predict";
    lmgv_check_options(L, 3, predict_opts, op);
    int batch = lmgv_opt_int(L, 3, "batch", 64, op);
    int first = lmgv_opt_int(L, 3, "first", 1, op) - 1;
    int count = lmgv_opt_int(L, 3, "count", ds->n - first, op);
    if (batch < 1) return luaL_error(L, "predict: batch must be positive");
    if (first < 0 || count < 0 || first + count > ds->n)
        return luaL_error(L, "predict: instances %d..%d outside the %d of the data set", first + 1,
                          first + count, ds->n);
    int *pred = lua_newuserdatauv(L, sizeof(int) * (size_t)(count ? count : 1), 0);
    u->m.head.route = read_routing(L, u, 3, op);
    int rc = mgv_model_predict_range(&u->m, ds, first, count, batch, pred);
    u->m.head.route = (mgv_head_routing){NULL, NULL};
    if (rc < 0) return lmgv_error(L);
    lmgv_push_ints(L, pred, count, 1);
    return 1;
}

static void set_tensor(lua_State *L, const char *k, mgv_tensor *t)
{
    if (!t) return;
    lmgv_push(L, mgv_retain(t));
    lua_setfield(L, -2, k);
}

/* model:forward(ds, idx [, {training=false, loss=true, disable_experts=, gates=,
 * inputs=false, grads=false}]) -> inspection table */
static const char *const forward_opts[] = {"training", "loss", "disable_experts", "gates",
                                           "inputs", "grads", NULL};

/* t.grads = {name = gradient} of the head's parameters and r (copies); clears them */
static void push_head_grads(lua_State *L, mgv_model *m)
{
    lua_newtable(L);
    mgv_paramset *ps = &m->head.params;
    for (int i = 0; i <= ps->n; i++) {
        mgv_tensor *p = i < ps->n ? ps->tensors[i] : m->head.r;
        lmgv_push(L, p->grad ? mgv_clone_data(p->grad) : mgv_zeros_like(p));
        lua_setfield(L, -2, i < ps->n ? ps->names[i] : "vat.r");
    }
    lua_setfield(L, -2, "grads");
}

static int model_forward(lua_State *L)
{
    lua_settop(L, 4);   /* scratch values pushed below must not look like options */
    lmgv_model *u = check_model(L, 1);
    mgv_dataset *ds = lmgv_check_dataset(L, 2);
    int n;
    int *idx = index_list(L, 3, ds->n, &n);
    lmgv_check_options(L, 4, forward_opts, "forward");
    int training = lmgv_opt_bool(L, 4, "training", 0);
    int want_loss = lmgv_opt_bool(L, 4, "loss", 1);
    int inputs = lmgv_opt_bool(L, 4, "inputs", 0), grads = lmgv_opt_bool(L, 4, "grads", 0);
    if (n < 1) return luaL_error(L, "forward: empty batch");
    if (grads && !want_loss) return luaL_error(L, "forward: grads needs the loss (loss = true)");
    mgv_head_routing rt = read_routing(L, u, 4, "forward");
    /* the token ids the text encoder sees, for labelling pictures */
    int tokens = 0;
    if (!u->m.cfg.text_features) {
        mgv_batch b;
        if (mgv_model_collate(&u->m, ds, idx, n, &b) < 0) return lmgv_error(L);
        lua_createtable(L, (int)b.B, 0);
        tokens = lua_gettop(L);
        for (int64_t i = 0; i < b.B; i++) {
            lua_createtable(L, (int)b.L, 0);
            int len = 0;
            for (int64_t t = 0; t < b.L; t++)
                if (mgv_get_flat(b.text_mask, i * b.L + t) > 0) {
                    int32_t id = b.ids[i * b.L + t];
                    lua_pushinteger(L, id >= 0 ? id + 1 : id);
                    lua_rawseti(L, -2, ++len);
                }
            lua_rawseti(L, -2, (int)i + 1);
        }
        mgv_batch_free(&b);
    }
    int prev = mgv_set_grad_enabled(grads);
    mgv_head_out o;
    u->m.head.route = rt;
    u->m.head.token_outputs = 1;   /* o_text, o_image are shown */
    int rc = mgv_model_forward(&u->m, ds, idx, n, training, want_loss, &o);
    u->m.head.token_outputs = 0;
    u->m.head.route = (mgv_head_routing){NULL, NULL};
    if (rc == 0 && grads) {
        mgv_optim_zero_grad(u->m.opt);
        mgv_zero_grad(u->m.head.r);
        if ((rc = mgv_backward(o.loss, NULL)) < 0) mgv_head_out_clear(&o);
    }
    mgv_set_grad_enabled(prev);
    if (rc < 0) {
        mgv_optim_zero_grad(u->m.opt);
        return lmgv_error(L);
    }
    lua_createtable(L, 0, 22);
    if (grads) {
        push_head_grads(L, &u->m);
        mgv_optim_zero_grad(u->m.opt);
        mgv_zero_grad(u->m.head.r);
    }
    if (inputs) {
        lua_createtable(L, 0, 6);
        set_tensor(L, "text", o.in_text);
        set_tensor(L, "text_mask", o.in_text_mask);
        set_tensor(L, "image", o.in_image);
        set_tensor(L, "image_mask", o.in_image_mask);
        set_tensor(L, "entity", o.in_entity);
        set_tensor(L, "labels", o.in_labels);
        lua_setfield(L, -2, "inputs");
    }
    set_tensor(L, "scores", o.scores);
    set_tensor(L, "loss", o.loss);
    set_tensor(L, "rank", o.l_rank);
    set_tensor(L, "vmoe", o.l_vmoe);
    set_tensor(L, "nce", o.l_nce);
    set_tensor(L, "mg", o.l_mg);
    set_tensor(L, "gate_text", o.gate_text);
    set_tensor(L, "gate_image", o.gate_image);
    set_tensor(L, "usage_text", o.usage_text);
    set_tensor(L, "usage_image", o.usage_image);
    set_tensor(L, "o_text", o.o_text);
    set_tensor(L, "o_image", o.o_image);
    set_tensor(L, "attention", o.attention);
    set_tensor(L, "graph", o.graph);
    set_tensor(L, "p", o.p);
    set_tensor(L, "p_tilde", o.p_tilde);
    set_tensor(L, "g", o.g);
    mgv_head_out_clear(&o);
    if (tokens) {
        lua_pushvalue(L, tokens);
        lua_setfield(L, -2, "tokens");
    }
    lmgv_account(L);
    return 1;
}

/* model:save(path [, metadata [, with_optim]]): every metadata entry is kept */
static int model_save(lua_State *L)
{
    lua_settop(L, 4);
    lmgv_model *u = check_model(L, 1);
    const char *path = luaL_checkstring(L, 2);
    if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    int with_optim = lua_toboolean(L, 4);
    int n = 0, nm = 0;
    if (lua_istable(L, 3))
        for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1)) n++;
    const char **keys = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
    const char **values = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
    lua_createtable(L, n, 0);   /* keeps the strings made from numbers alive */
    int anchor = lua_gettop(L);
    if (n > 0)
        for (lua_pushnil(L); nm < n && lua_next(L, 3); lua_pop(L, 1)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                const char *what = luaL_typename(L, -2);
                return luaL_error(L, "save: metadata key %s is a %s, not a string",
                                  luaL_tolstring(L, -2, NULL), what);
            }
            if (!lua_isstring(L, -1))
                return luaL_error(L, "save: metadata '%s' is a %s, not a string",
                                  lua_tostring(L, -2), luaL_typename(L, -1));
            keys[nm] = lua_tostring(L, -2);
            lua_pushvalue(L, -1);
            values[nm] = lua_tostring(L, -1);
            lua_rawseti(L, anchor, ++nm);
        }
    if (mgv_model_save(&u->m, path, with_optim, nm, keys, values) < 0) return lmgv_error(L);
    return 0;
}

static int model_load(lua_State *L)
{
    lmgv_model *u = check_model(L, 1);
    if (mgv_model_load(&u->m, luaL_checkstring(L, 2)) < 0) return lmgv_error(L);
    return 0;
}

static int model_parameters(lua_State *L)
{
    lmgv_model *u = check_model(L, 1);
    lua_newtable(L);
    lmgv_set_params(L, &u->m.params);
    lmgv_set_params(L, &u->m.head.params);
    lmgv_push(L, mgv_retain(u->m.head.r));
    lua_setfield(L, -2, "vat.r");
    return 1;
}

static int model_set_lr(lua_State *L)
{
    lmgv_model *u = check_model(L, 1);
    double lr = luaL_checknumber(L, 2);
    if (!(lr >= 0)) return luaL_argerror(L, 2, "learning rate must be >= 0");
    u->m.opt->lr = lr;
    u->m.opt_r->lr = lr;
    return 0;
}

/* pushing the value of field f, by kind (ch: its choices; a NULL string is nil) */
#define PUSH_INT(f, ch) lua_pushinteger(L, (lua_Integer)(f))
#define PUSH_NUM(f, ch) lua_pushnumber(L, (lua_Number)(f))
#define PUSH_BOOL(f, ch) lua_pushboolean(L, (f))
#define PUSH_STR(f, ch) lua_pushstring(L, (f))
#define PUSH_CHOICE(f, ch) lua_pushstring(L, mgv_choice_name(ch, (int)(f)))
#define PUSH_OPTION(name, at, field, kind, def, ref, known, help)                  \
    PUSH_##kind(MGV_OPTION_FIELD(*c, at, field), mgv_model_choices_##name);     \
    lua_setfield(L, -2, #name);

/* The options of a configuration as a table: those of mgv.model and
 * text_encoder ('glove', 'bert' or 'features'). */
static void push_options(lua_State *L, const mgv_model_config *c)
{
    lua_createtable(L, 0, 48);
    MGV_MODEL_OPTIONS(PUSH_OPTION)
    lua_pushstring(L, c->bert_dir ? "bert" : c->text_features ? "features" : "glove");
    lua_setfield(L, -2, "text_encoder");
}

/* The model's options (lr the current one). */
static void push_config(lua_State *L, const mgv_model *m)
{
    push_options(L, &m->cfg);
    lua_pushnumber(L, m->opt->lr);
    lua_setfield(L, -2, "lr");
}

static int model_config(lua_State *L)
{
    push_config(L, &check_model(L, 1)->m);
    return 1;
}

/* "name value, ..." of every option in the config table on top, wrapped */
static void add_options(lua_State *L, luaL_Buffer *b, int cfg)
{
    int col = 17;
    luaL_addstring(b, "  options        ");
    for (const mgv_model_option *o = mgv_model_options; o->name; o++) {
        char v[256];
        lua_getfield(L, cfg, o->name);
        int t = lua_type(L, -1);
        if (t == LUA_TNUMBER && !lua_isinteger(L, -1))
            snprintf(v, sizeof v, "%g", (double)lua_tonumber(L, -1));
        else if (t == LUA_TBOOLEAN)
            snprintf(v, sizeof v, "%s", lua_toboolean(L, -1) ? "true" : "false");
        else if (t == LUA_TSTRING)
            snprintf(v, sizeof v, "'%s'", lua_tostring(L, -1));
        else if (t != LUA_TNIL)
            snprintf(v, sizeof v, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        if (t == LUA_TNIL) continue;
        int w = (int)(strlen(o->name) + strlen(v) + 3);
        if (col > 17 && col + w > 96) {
            luaL_addstring(b, ",\n                 ");
            col = 17;
        } else if (col > 17) {
            luaL_addstring(b, ", ");
        }
        luaL_addstring(b, o->name);
        luaL_addchar(b, ' ');
        luaL_addstring(b, v);
        col += w;
    }
    luaL_addchar(b, '\n');
}

static int model_tostring(lua_State *L)
{
    lmgv_model *u = luaL_checkudata(L, 1, LMGV_MODEL);
    if (!u->live) {
        lua_pushstring(L, "Model (freed)");
        return 1;
    }
    const mgv_model *m = &u->m;
    const mgv_model_config *c = &m->cfg;
    push_config(L, m);
    int cfg = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "MG-VMoE model (%s, %d steps trained)\n", c->n_spans == 2 ? "MRE" : "MET",
                    (int)m->steps);
    luaL_addvalue(&b);
    int64_t enc = 0, head = mgv_params_count(&m->head.params);
    for (int i = 0; i < m->params.n; i++) enc += mgv_numel(m->params.tensors[i]);
    if (c->text_features)
        lua_pushstring(L, "  text           precomputed token features\n");
    else if (c->bert_dir)
        lua_pushfstring(L, "  text encoder   BERT (fine-tuned), vocabulary %d\n",
                        mgv_wordpiece_vocab_size(m->wp));
    else
        lua_pushfstring(L, "  text encoder   a transformer over frozen words [%d x %d]\n",
                        (int)m->text.words->shape[0], (int)m->text.words->shape[1]);
    luaL_addvalue(&b);
    if (c->use_images && c->image_features) {
        lua_pushstring(L, "  vision         precomputed image token features\n");
        luaL_addvalue(&b);
    } else if (c->use_images) {
        lua_pushfstring(L, "  vision encoder patches -> %d tokens\n", (int)m->vision.n_tokens);
        luaL_addvalue(&b);
    }
    add_options(L, &b, cfg);
    lua_pushfstring(L, "  parameters: %d in the encoders, %d in the head, %d in r (total %d)",
                    (int)enc, (int)head, (int)mgv_numel(m->head.r), (int)mgv_model_param_count(m));
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    return 1;
}

/* mgv._model_options(): mgv.model's options in order, as {name, kind,
 * default, reference, known, help, choices} (help.lua lists them) */
static int l_model_options(lua_State *L)
{
    static const char *const kinds[] = {"integer", "number", "boolean", "string", "choice"};
    lua_newtable(L);
    for (int i = 0; mgv_model_options[i].name; i++) {
        const mgv_model_option *o = &mgv_model_options[i];
        lua_createtable(L, 0, 7);
        lua_pushstring(L, o->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, kinds[o->kind]);
        lua_setfield(L, -2, "kind");
        for (int r = 0; r < 2; r++) {
            double v = r ? o->ref : o->def;
            switch (o->kind) {
            case MGV_OPT_INT: lua_pushinteger(L, (lua_Integer)v); break;
            case MGV_OPT_NUM: lua_pushnumber(L, v); break;
            case MGV_OPT_BOOL: lua_pushboolean(L, v != 0); break;
            case MGV_OPT_STR: lua_pushnil(L); break;
            case MGV_OPT_CHOICE: lua_pushstring(L, mgv_choice_name(o->choices, (int)v)); break;
            }
            lua_setfield(L, -2, r ? "reference" : "default");
        }
        lua_pushboolean(L, o->known);
        lua_setfield(L, -2, "known");
        lua_pushstring(L, o->help);
        lua_setfield(L, -2, "help");
        lua_pushstring(L, mgv_model_option_why(o->name));
        lua_setfield(L, -2, "why");
        if (o->choices) {
            lua_newtable(L);
            for (int k = 0; o->choices[k].name; k++) {
                lua_pushstring(L, o->choices[k].name);
                lua_rawseti(L, -2, k + 1);
            }
            lua_setfield(L, -2, "choices");
        }
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int model_index(lua_State *L)
{
    lmgv_model *u = check_model(L, 1);
    const char *k = lua_tostring(L, 2);
    if (k && strcmp(k, "steps") == 0) {
        lua_pushinteger(L, (lua_Integer)u->m.steps);
        return 1;
    }
    if (k && strcmp(k, "lr") == 0) {
        lua_pushnumber(L, u->m.opt->lr);
        return 1;
    }
    luaL_getmetafield(L, 1, "__methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

/* mgv.isatty(fd): whether stdout (1) or stderr (2) is a terminal */
static int l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_optinteger(L, 1, 2)));
    return 1;
}

/* mgv.clock(): monotonic wall-clock seconds (os.clock is CPU time) */
static int l_clock(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)mgv_profile_clock());
    return 1;
}

/*
 * mgv._pcall(f, ...) -> true, results | false, message, interrupted. A pcall
 * that also says whether Ctrl-C (the host's hook or the engine's flag) caused
 * the error, and then clears both, in C, before any Lua instruction could
 * raise the pending hook again: mgv.train cleans up and returns.
 */
static int l_pcall(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    if (lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0) == LUA_OK) {
        lua_pushboolean(L, 1);
        lua_insert(L, 1);
        return lua_gettop(L);
    }
    int interrupted = mgv_interrupted();
    if (interrupted) {
        lua_sethook(L, NULL, 0, 0);
        mgv_clear_interrupt();
    }
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    lua_pushboolean(L, interrupted);
    return 3;
}

/* ---- registration ----------------------------------------------------------------- */

static const luaL_Reg model_methods[] = {
    {"train_step", model_train_step}, {"predict", model_predict},
    {"forward", model_forward},       {"save", model_save},
    {"load", model_load},             {"parameters", model_parameters},
    {"set_lr", model_set_lr},         {"config", model_config},
    {"free", model_gc},               {NULL, NULL}};

void lmgv_open_model(lua_State *L, int module)
{
    lmgv_open_data(L, module);
    lmgv_new_class(L, LMGV_MODEL, model_methods, model_gc, model_tostring, model_index);
    lua_pushcfunction(L, l_model);
    lua_setfield(L, module, "model");
    lua_pushcfunction(L, l_model_config);
    lua_setfield(L, module, "model_config");
    lua_pushcfunction(L, l_model_options);
    lua_setfield(L, module, "_model_options");
    lua_pushcfunction(L, l_isatty);
    lua_setfield(L, module, "isatty");
    lua_pushcfunction(L, l_clock);
    lua_setfield(L, module, "clock");
    lua_pushcfunction(L, l_pcall);
    lua_setfield(L, module, "_pcall");
}
