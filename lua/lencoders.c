/*
 * lencoders.c — the paper's encoders for Lua: the WordPiece tokenizer
 * ("mgv.WordPiece"), BERT ("mgv.Bert") and ViT ("mgv.ViT"), loaded from
 * Hugging Face directories.
 *
 *   local bert = mgv.bert.load(dir)                 -- config.json, model.safetensors, vocab.txt
 *   local H, mask, markers = bert:encode{{words = {...}, spans = {{1, 2}, {5, 5}}}}
 *   local vit = mgv.vit.load(dir)
 *   local feats = vit:features(images, {cache = "vit.safetensors", pool = 0})
 *   vit:attach(task.train, image_dir, {cache = ...})   -- image features for a model
 *
 * Lua conventions: spans are 1-based inclusive {first, last} (words, or
 * bytes of a text as string.sub counts them); marker positions are 1-based.
 * Token ids are the vocabulary's own numbers (line numbers from 0, as in
 * Hugging Face), so they can be compared with other tools.
 *
 * Every Lua argument is read and checked before the engine allocates
 * anything, so a Lua error never leaks engine memory.
 */
#define LMGV_INTERNAL
#include "lmgv.h"

#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "formats/image.h"
#include "formats/wordpiece.h"
#include "nn/bert.h"
#include "nn/vit.h"

#define LMGV_WORDPIECE "mgv.WordPiece"
#define LMGV_BERT "mgv.Bert"
#define LMGV_VIT "mgv.ViT"

typedef struct {
    mgv_wordpiece *wp;
} lwordpiece;

/* What the Bert and ViT userdata share (their first member): the
 * parameters, and whether the model is live (not freed yet). */
typedef struct {
    mgv_paramset ps;
    int live;
} lencoder;

typedef struct {
    lencoder e;
    mgv_bert b;
} lbert;

typedef struct {
    lencoder e;
    mgv_vit v;
} lvit;

/* Pushes "<what> (freed)": the __tostring of a freed object. */
static int push_freed(lua_State *L, const char *what)
{
    lua_pushfstring(L, "%s (freed)", what);
    return 1;
}

/* ---- WordPiece --------------------------------------------------------------- */

static mgv_wordpiece *check_wp(lua_State *L, int arg)
{
    lwordpiece *u = luaL_checkudata(L, arg, LMGV_WORDPIECE);
    if (!u->wp) luaL_argerror(L, arg, "the tokenizer was freed");
    return u->wp;
}

static int wp_gc(lua_State *L)
{
    lwordpiece *u = luaL_checkudata(L, 1, LMGV_WORDPIECE);
    mgv_wordpiece_free(u->wp);
    u->wp = NULL;
    return 0;
}

/* Pushes an empty tokenizer userdata: the caller stores the tokenizer in
 * ->wp, so that a Lua error cannot leak it. */
static lwordpiece *new_wp(lua_State *L)
{
    lwordpiece *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->wp = NULL;
    luaL_setmetatable(L, LMGV_WORDPIECE);
    return u;
}

/* mgv.wordpiece.load(vocab.txt | dir [, {lowercase, strip_accents, nfc, chinese_chars}]) */
static int l_wordpiece_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    static const char *const known[] = {"lowercase", "strip_accents", "nfc", "chinese_chars",
                                        "max_chars", NULL};
    lmgv_check_options(L, 2, known, "wordpiece.load");
    size_t n = strlen(path);
    int is_file = n > 4 && strcmp(path + n - 4, ".txt") == 0;
    mgv_wordpiece_config cfg = mgv_wordpiece_default_config(0);
    int has_lower = lmgv_has_option(L, 2, "lowercase");
    cfg.lowercase = lmgv_opt_bool(L, 2, "lowercase", 0);
    if (lmgv_has_option(L, 2, "strip_accents"))
        cfg.strip_accents = lmgv_opt_bool(L, 2, "strip_accents", 0);
    cfg.nfc = lmgv_opt_bool(L, 2, "nfc", 1);
    cfg.chinese_chars = lmgv_opt_bool(L, 2, "chinese_chars", 1);
    cfg.max_input_chars_per_word = lmgv_opt_int(L, 2, "max_chars", 100, "wordpiece.load");
    lwordpiece *u = new_wp(L);
    if (is_file) {
        u->wp = mgv_wordpiece_load(path, &cfg);
    } else {
        u->wp = mgv_wordpiece_load_dir(path);
        if (u->wp) {   /* options override what the directory says */
            mgv_wordpiece_config *c = (mgv_wordpiece_config *)mgv_wordpiece_config_of(u->wp);
            if (has_lower) c->lowercase = cfg.lowercase;
            if (lmgv_has_option(L, 2, "strip_accents")) c->strip_accents = cfg.strip_accents;
            c->nfc = cfg.nfc;
            if (lmgv_has_option(L, 2, "chinese_chars")) c->chinese_chars = cfg.chinese_chars;
            c->max_input_chars_per_word = cfg.max_input_chars_per_word;
        }
    }
    if (!u->wp) return lmgv_error(L);
    return 1;
}

/* The WordPiece ids of the string at 2 (raises the engine message). */
static void encode_arg(lua_State *L, mgv_wordpiece *wp, mgv_ids *ids)
{
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    if (mgv_wordpiece_encode(wp, s, len, ids) < 0) {
        mgv_ids_free(ids);
        lmgv_error(L);
    }
}

/* tok:encode(text) -> {ids} */
static int wp_encode(lua_State *L)
{
    mgv_ids ids = {0};
    encode_arg(L, check_wp(L, 1), &ids);
    lmgv_push_ints(L, ids.v, ids.n, 0);
    mgv_ids_free(&ids);
    return 1;
}

/* tok:tokenize(text) -> {tokens} */
static int wp_tokenize(lua_State *L)
{
    mgv_wordpiece *wp = check_wp(L, 1);
    mgv_ids ids = {0};
    encode_arg(L, wp, &ids);
    int n = ids.n;
    int32_t *copy = lua_newuserdatauv(L, sizeof(int32_t) * (size_t)(n ? n : 1), 0);
    if (n) memcpy(copy, ids.v, sizeof(int32_t) * (size_t)n);
    mgv_ids_free(&ids);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, mgv_wordpiece_token(wp, copy[i]));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

typedef struct {
    lua_State *L;
    int table, n;
} basic_ctx;

static void basic_emit(const char *s, size_t n, void *ud)
{
    basic_ctx *c = ud;
    lua_pushlstring(c->L, s, n);
    lua_rawseti(c->L, c->table, ++c->n);
}

/* tok:basic(text) -> {basic tokens} (before WordPiece) */
static int wp_basic(lua_State *L)
{
    mgv_wordpiece *wp = check_wp(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    lua_newtable(L);
    luaL_checkstack(L, 4, "basic");
    basic_ctx c = {L, lua_gettop(L), 0};
    if (mgv_wordpiece_basic(wp, s, len, basic_emit, &c) < 0) return lmgv_error(L);
    return 1;
}

static int wp_id(lua_State *L)
{
    int32_t id = mgv_wordpiece_id(check_wp(L, 1), luaL_checkstring(L, 2));
    if (id < 0) lua_pushnil(L);
    else lua_pushinteger(L, id);
    return 1;
}

static int wp_token(lua_State *L)
{
    const char *t = mgv_wordpiece_token(check_wp(L, 1), (int32_t)luaL_checkinteger(L, 2));
    if (t) lua_pushstring(L, t);
    else lua_pushnil(L);
    return 1;
}

static int wp_len(lua_State *L)
{
    lua_pushinteger(L, mgv_wordpiece_vocab_size(check_wp(L, 1)));
    return 1;
}

static int wp_tostring(lua_State *L)
{
    lwordpiece *u = luaL_checkudata(L, 1, LMGV_WORDPIECE);
    if (!u->wp) return push_freed(L, "WordPiece");
    const mgv_wordpiece_config *c = mgv_wordpiece_config_of(u->wp);
    lua_pushfstring(L, "WordPiece: %d entries, %s%s", mgv_wordpiece_vocab_size(u->wp),
                    c->lowercase ? "uncased" : "cased", c->nfc ? "" : ", no NFC");
    return 1;
}

/* ---- sequences with entity markers ------------------------------------------------- */

/* One input read from Lua: a text or a word list, with up to two spans
 * (0-based, half-open: words, or bytes of the text). */
typedef struct {
    const char *text;
    size_t len;
    const char **words;
    int n_words;
    int n_spans;
    int64_t b[2], e[2];
} seq_input;

/* Reads the spans field of the table at idx into in (checked against limit). */
static void read_spans(lua_State *L, int idx, seq_input *in, int64_t limit, const char *what)
{
    lua_getfield(L, idx, "spans");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1)) luaL_error(L, "encode: spans must be a table of {first, last} pairs");
    int n = (int)luaL_len(L, -1);
    if (n > 2) luaL_error(L, "encode: at most 2 spans (got %d)", n);
    for (int s = 0; s < n; s++) {
        lua_rawgeti(L, -1, s + 1);
        if (!lua_istable(L, -1)) luaL_error(L, "encode: span %d must be {first, last}", s + 1);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        int ok1, ok2;
        lua_Integer f = lua_tointegerx(L, -2, &ok1), l = lua_tointegerx(L, -1, &ok2);
        if (!ok1 || !ok2 || f < 1 || l < f || l > limit)
            luaL_error(L, "encode: span %d must be {first, last} with 1 <= first <= last <= %d %s",
                       s + 1, (int)limit, what);
        in->b[s] = f - 1;
        in->e[s] = l;
        lua_pop(L, 3);
    }
    in->n_spans = n;
    lua_pop(L, 1);
}

/* One input (a string, or a table with words or text) rather than a list. */
static int is_single(lua_State *L, int arg)
{
    if (lua_type(L, arg) == LUA_TSTRING) return 1;
    if (!lua_istable(L, arg)) return 0;
    int t1 = lua_getfield(L, arg, "words"), t2 = lua_getfield(L, arg, "text");
    lua_pop(L, 2);
    return t1 != LUA_TNIL || t2 != LUA_TNIL;
}

/* The inputs at arg: a string, or a list of strings / {text=, spans=} /
 * {words=, spans=}. Returns the count; *out lives in a userdata pushed on
 * the stack (and the word pointers in another one). */
static int read_inputs(lua_State *L, int arg, seq_input **out)
{
    int single = is_single(L, arg);
    if (!single) luaL_checktype(L, arg, LUA_TTABLE);
    int n = single ? 1 : (int)luaL_len(L, arg);
    if (n < 1) luaL_error(L, "encode: no inputs");
    seq_input *in = lua_newuserdatauv(L, sizeof(seq_input) * (size_t)n, 0);
    memset(in, 0, sizeof(seq_input) * (size_t)n);
    /* count the words first */
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (single) lua_pushvalue(L, arg);
        else lua_rawgeti(L, arg, i + 1);
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "words");
            if (lua_istable(L, -1)) total += luaL_len(L, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    const char **wordbuf = lua_newuserdatauv(L, sizeof(char *) * (size_t)(total + 1), 0);
    int64_t used = 0;
    for (int i = 0; i < n; i++) {
        if (single) lua_pushvalue(L, arg);
        else lua_rawgeti(L, arg, i + 1);
        int item = lua_gettop(L);
        if (lua_type(L, item) == LUA_TSTRING) {
            in[i].text = lua_tolstring(L, item, &in[i].len);
        } else if (lua_istable(L, item)) {
            lua_getfield(L, item, "words");
            lua_getfield(L, item, "text");
            if (lua_istable(L, -2)) {
                int nw = (int)luaL_len(L, -2);
                in[i].words = wordbuf + used;
                in[i].n_words = nw;
                for (int w = 0; w < nw; w++) {
                    lua_rawgeti(L, -2, w + 1);
                    const char *s = lua_tostring(L, -1);
                    if (!s) luaL_error(L, "encode: input %d: word %d is not a string", i + 1, w + 1);
                    wordbuf[used++] = s;   /* kept alive by the input table */
                    lua_pop(L, 1);
                }
                lua_pop(L, 2);
                read_spans(L, item, &in[i], nw, "words");
            } else if (lua_type(L, -1) == LUA_TSTRING) {
                in[i].text = lua_tolstring(L, -1, &in[i].len);   /* alive in the input table */
                lua_pop(L, 2);
                read_spans(L, item, &in[i], (int64_t)in[i].len, "bytes");
            } else {
                luaL_error(L, "encode: input %d needs words = {...} or text = '...'", i + 1);
            }
        } else {
            luaL_error(L, "encode: input %d must be a string or a table", i + 1);
        }
        lua_pop(L, 1);
    }
    *out = in;
    return n;
}

/* Pushes {{m1, m2} per input}: the 1-based marker positions of the n inputs. */
static void push_markers(lua_State *L, const seq_input *in, int n, const int64_t *markers)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, in[i].n_spans, 0);
        for (int s = 0; s < in[i].n_spans; s++) {
            lua_pushinteger(L, markers[2 * i + s] + 1);
            lua_rawseti(L, -2, s + 1);
        }
        lua_rawseti(L, -2, i + 1);
    }
}

/* The sequences (and markers [n x 2]) of the n inputs into seqs (zeroed by
 * the caller). Returns 0, or -1 with the engine message ("<op>: input i")
 * and all of seqs freed. */
static int sequence_inputs(const mgv_wordpiece *wp, const seq_input *in, int n, int max_len,
                           mgv_ids *seqs, int64_t *markers, const char *op)
{
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (in[i].words)
            rc = mgv_wordpiece_sequence_words(wp, in[i].n_words, in[i].words, in[i].n_spans,
                                              (const int[]){(int)in[i].b[0], (int)in[i].b[1]},
                                              (const int[]){(int)in[i].e[0], (int)in[i].e[1]},
                                              max_len, &seqs[i], markers + 2 * i);
        else
            rc = mgv_wordpiece_sequence_text(wp, in[i].text, in[i].len, in[i].n_spans, in[i].b,
                                             in[i].e, max_len, &seqs[i], markers + 2 * i);
        if (rc < 0) mgv_error_context("%s: input %d", op, i + 1);
    }
    if (rc < 0)
        for (int i = 0; i < n; i++) mgv_ids_free(&seqs[i]);
    return rc;
}

/* Sequences of the n inputs, padded into ids [n x L] (malloc'd) and a mask;
 * markers [n x 2]. Returns 0 or -1 (engine message). */
static int build_batch(const mgv_wordpiece *wp, const seq_input *in, int n, int max_len,
                       int32_t **ids_out, int64_t *L_out, mgv_tensor **mask_out, int64_t *markers)
{
    mgv_ids *seqs = calloc((size_t)n, sizeof *seqs);
    if (!seqs) return mgv_fail("encode: out of memory");
    int rc = sequence_inputs(wp, in, n, max_len, seqs, markers, "encode");
    int64_t L = 1;
    for (int i = 0; i < n && rc == 0; i++)
        if (seqs[i].n > L) L = seqs[i].n;
    int32_t *ids = NULL;
    mgv_tensor *mask = NULL;
    if (rc == 0) {
        int64_t ms[2] = {n, L};
        ids = malloc(sizeof(int32_t) * (size_t)(n * L));
        mask = mgv_zeros(2, ms);
        if (!ids || !mask) rc = mgv_fail("encode: out of memory");
    }
    int32_t pad = mgv_wordpiece_specials_of(wp)->pad;
    for (int i = 0; i < n && rc == 0; i++)
        for (int64_t t = 0; t < L; t++) {
            int real = t < seqs[i].n;
            ids[i * L + t] = real ? seqs[i].v[t] : (pad >= 0 ? pad : 0);
            mgv_data(mask)[i * L + t] = real ? 1.0f : 0.0f;
        }
    for (int i = 0; i < n; i++) mgv_ids_free(&seqs[i]);
    free(seqs);
    if (rc < 0) {
        free(ids);
        mgv_release(mask);
        return -1;
    }
    *ids_out = ids;
    *L_out = L;
    *mask_out = mask;
    return 0;
}

/* tok:sequence(inputs [, {max_len = 128}]) -> {ids per input}, {markers per input};
 * for one input (not a list): its ids and its markers */
static int wp_sequence(lua_State *L)
{
    mgv_wordpiece *wp = check_wp(L, 1);
    static const char *const known[] = {"max_len", NULL};
    lmgv_check_options(L, 3, known, "sequence");
    int max_len = lmgv_opt_int(L, 3, "max_len", 128, "sequence");
    seq_input *in;
    int n = read_inputs(L, 2, &in);
    int64_t *markers = lua_newuserdatauv(L, sizeof(int64_t) * 2 * (size_t)n, 0);
    mgv_ids *seqs = lua_newuserdatauv(L, sizeof(mgv_ids) * (size_t)n, 0);
    memset(seqs, 0, sizeof(mgv_ids) * (size_t)n);
    if (sequence_inputs(wp, in, n, max_len, seqs, markers, "sequence") < 0) return lmgv_error(L);
    /* tables: no engine memory is held past this point except seqs (freed below
     * before anything can raise: lua_createtable only fails on memory) */
    int single = is_single(L, 2);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lmgv_push_ints(L, seqs[i].v, seqs[i].n, 0);
        lua_rawseti(L, -2, i + 1);
        mgv_ids_free(&seqs[i]);
    }
    push_markers(L, in, n, markers);
    if (single) {
        lua_rawgeti(L, -2, 1);
        lua_rawgeti(L, -2, 1);
        return 2;
    }
    return 2;
}

/* ---- what BERT and ViT share ----------------------------------------------------- */

/* The live Bert or ViT (class tname) at arg. */
static void *check_encoder(lua_State *L, int arg, const char *tname)
{
    lencoder *e = luaL_checkudata(L, arg, tname);
    if (!e->live) luaL_argerror(L, arg, "the model was freed");
    return e;
}

/* Pushes a new zeroed Bert or ViT userdata (size bytes, nuv user values) with
 * an empty parameter set, live: the engine fills it, or encoder_failed. */
static void *new_encoder(lua_State *L, size_t size, int nuv, const char *tname)
{
    lencoder *e = lua_newuserdatauv(L, size, nuv);
    memset(e, 0, size);
    luaL_setmetatable(L, tname);
    mgv_params_init(&e->ps);
    e->live = 1;
    return e;
}

/* After a failed load or init: frees the parameters, raises the engine message. */
static int encoder_failed(lua_State *L, lencoder *e)
{
    mgv_params_free(&e->ps);
    e->live = 0;
    return lmgv_error(L);
}

/* The __gc part after the model itself is freed. */
static int encoder_gc(lencoder *e)
{
    if (e->live) mgv_params_free(&e->ps);
    e->live = 0;
    return 0;
}

/* The {name = tensor} table of the parameters. */
static int push_params(lua_State *L, const lencoder *e)
{
    lua_createtable(L, 0, e->ps.n);
    lmgv_set_params(L, &e->ps);
    return 1;
}

/* The sizes both `new`s take; intermediate is 4 hidden by default (a hidden
 * size whose 4 H overflows is refused by init). */
static void read_sizes(lua_State *L, const char *op, int *hidden, int *layers, int *heads,
                       int *intermediate)
{
    *hidden = lmgv_opt_int(L, 1, "hidden", *hidden, op);
    *layers = lmgv_opt_int(L, 1, "layers", *layers, op);
    *heads = lmgv_opt_int(L, 1, "heads", *heads, op);
    *intermediate = lmgv_opt_int(L, 1, "intermediate",
                                 *hidden > 0 && *hidden <= (1 << 28) ? 4 * *hidden : 0, op);
}

/* The random generator of a `new`, seeded by option seed (default 0). */
static mgv_rng seeded_rng(lua_State *L, const char *op)
{
    mgv_rng rng;
    mgv_rng_seed(&rng, (uint64_t)lmgv_opt_int(L, 1, "seed", 0, op));
    return rng;
}

/* A scratch int32 copy of the values of t (in a userdata pushed on the stack). */
static int32_t *int_values(lua_State *L, const mgv_tensor *t)
{
    int64_t n = mgv_numel(t);
    int32_t *v = lua_newuserdatauv(L, sizeof(int32_t) * (size_t)(n + 1), 0);
    for (int64_t i = 0; i < n; i++) v[i] = (int32_t)mgv_get_flat(t, i);
    return v;
}

/* ---- BERT ------------------------------------------------------------------------- */

static lbert *check_bert(lua_State *L, int arg)
{
    return check_encoder(L, arg, LMGV_BERT);
}

static int bert_gc(lua_State *L)
{
    lbert *u = luaL_checkudata(L, 1, LMGV_BERT);
    if (u->e.live) mgv_bert_free(&u->b);
    return encoder_gc(&u->e);
}

/* The tokenizer kept in the Bert's user value (or nil). */
static mgv_wordpiece *bert_wp(lua_State *L, int arg)
{
    lua_getiuservalue(L, arg, 1);
    lwordpiece *w = luaL_testudata(L, -1, LMGV_WORDPIECE);
    lua_pop(L, 1);
    return w ? w->wp : NULL;
}

/* Loads the Bert's tokenizer (vocab.txt of dir, or the vocabulary file vocab)
 * into the user value of the Bert at ud. */
static void set_tokenizer(lua_State *L, int ud, const char *dir, const char *vocab)
{
    const lbert *u = lua_touserdata(L, ud);
    lwordpiece *w = new_wp(L);
    w->wp = dir ? mgv_wordpiece_load_dir(dir) : mgv_wordpiece_load(vocab, NULL);
    if (!w->wp) lmgv_error(L);
    if (dir && mgv_wordpiece_vocab_size(w->wp) > u->b.cfg.vocab_size)
        luaL_error(L, "bert.load: %s: vocab.txt has %d entries but the model %d", dir,
                   mgv_wordpiece_vocab_size(w->wp), u->b.cfg.vocab_size);
    lua_setiuservalue(L, ud, 1);
}

/* mgv.bert.load(dir [, {prefix = "", tokenizer = true}]) */
static int l_bert_load(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    static const char *const known[] = {"prefix", "tokenizer", NULL};
    lmgv_check_options(L, 2, known, "bert.load");
    const char *prefix = lmgv_opt_string(L, 2, "prefix", "", "bert.load");
    int want_tok = lmgv_opt_bool(L, 2, "tokenizer", 1);
    lbert *u = new_encoder(L, sizeof *u, 1, LMGV_BERT);
    int ud = lua_gettop(L);
    if (mgv_bert_load_dir(&u->b, &u->e.ps, prefix, dir, NULL) < 0) return encoder_failed(L, &u->e);
    if (want_tok) set_tokenizer(L, ud, dir, NULL);
    lmgv_account(L);
    return 1;
}

/* mgv.bert.new{vocab_size = 28996, hidden = 768, layers = 12, heads = 12, intermediate = 3072,
 * max_position = 512, type_vocab_size = 2, pooler = true, seed = 0}: random weights (BERT's
 * initialisation), no tokenizer unless vocab = path is given */
static int l_bert_new(lua_State *L)
{
    const char *op = "bert.new";
    static const char *const known[] = {"vocab_size", "hidden", "layers", "heads", "intermediate",
                                        "max_position", "type_vocab_size", "pooler", "seed",
                                        "vocab", NULL};
    lmgv_check_options(L, 1, known, op);
    mgv_bert_config c = mgv_bert_base_config();
    c.vocab_size = lmgv_opt_int(L, 1, "vocab_size", c.vocab_size, op);
    read_sizes(L, op, &c.hidden, &c.layers, &c.heads, &c.intermediate);
    c.max_position = lmgv_opt_int(L, 1, "max_position", c.max_position, op);
    c.type_vocab_size = lmgv_opt_int(L, 1, "type_vocab_size", c.type_vocab_size, op);
    c.pooler = lmgv_opt_bool(L, 1, "pooler", 1);
    mgv_rng rng = seeded_rng(L, op);
    const char *vocab = lmgv_opt_string(L, 1, "vocab", NULL, op);
    lbert *u = new_encoder(L, sizeof *u, 1, LMGV_BERT);
    int ud = lua_gettop(L);
    if (mgv_bert_init(&u->b, &u->e.ps, "", &c, &rng) < 0) return encoder_failed(L, &u->e);
    if (vocab) set_tokenizer(L, ud, NULL, vocab);
    lmgv_account(L);
    return 1;
}

/* bert:encode(inputs [, {max_len = 128, training = false}]) -> H, mask, markers */
static int bert_encode(lua_State *L)
{
    lbert *u = check_bert(L, 1);
    mgv_wordpiece *wp = bert_wp(L, 1);
    if (!wp) return luaL_error(L, "encode: the model has no tokenizer (vocab.txt)");
    static const char *const known[] = {"max_len", "training", NULL};
    lmgv_check_options(L, 3, known, "encode");
    int def = u->b.cfg.max_position < 128 ? u->b.cfg.max_position : 128;
    int max_len = lmgv_opt_int(L, 3, "max_len", def, "encode");
    int training = lmgv_opt_bool(L, 3, "training", 0);
    if (max_len > u->b.cfg.max_position)
        return luaL_error(L, "encode: max_len %d exceeds the model's %d positions", max_len,
                          u->b.cfg.max_position);
    seq_input *in;
    int n = read_inputs(L, 2, &in);
    int64_t *markers = lua_newuserdatauv(L, sizeof(int64_t) * 2 * (size_t)n, 0);
    lmgv_tensor *ms = lmgv_slot(L);   /* the mask */
    lmgv_tensor *hs = lmgv_slot(L);   /* H */
    int32_t *ids = NULL;
    int64_t len = 0;
    if (build_batch(wp, in, n, max_len, &ids, &len, &ms->t, markers) < 0) return lmgv_error(L);
    hs->t = mgv_bert_forward(&u->b, n, len, ids, NULL, ms->t, training, NULL);
    free(ids);
    lmgv_done(L, hs);
    lua_rotate(L, -2, 1);   /* H, mask */
    push_markers(L, in, n, markers);
    return 3;
}

/* bert:forward(ids [, {mask = , types = , training = false}]) -> H
 * ids: a tensor [B, L] of vocabulary ids or a table of tables. */
static int bert_forward(lua_State *L)
{
    lbert *u = check_bert(L, 1);
    static const char *const known[] = {"mask", "types", "training", NULL};
    lmgv_check_options(L, 3, known, "forward");
    int training = lmgv_opt_bool(L, 3, "training", 0);
    mgv_tensor *mask = NULL, *types = NULL;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "mask");
        mask = lmgv_opt(L, -1);
        lua_getfield(L, 3, "types");
        types = lmgv_opt(L, -1);
    }
    int64_t B, Ln;
    int32_t *ids, *tt = NULL;
    mgv_tensor *t = lmgv_test(L, 2);
    if (t) {
        if (t->ndim != 2) return luaL_argerror(L, 2, "ids must be a 2-d tensor [B x L]");
        B = t->shape[0];
        Ln = t->shape[1];
        ids = int_values(L, t);
    } else {
        luaL_checktype(L, 2, LUA_TTABLE);
        B = luaL_len(L, 2);
        if (B < 1) return luaL_argerror(L, 2, "no sequences");
        lua_rawgeti(L, 2, 1);
        if (!lua_istable(L, -1)) return luaL_argerror(L, 2, "a table of id lists expected");
        Ln = luaL_len(L, -1);
        lua_pop(L, 1);
        ids = lua_newuserdatauv(L, sizeof(int32_t) * (size_t)(B * Ln + 1), 0);
        for (int64_t b = 0; b < B; b++) {
            lua_rawgeti(L, 2, b + 1);
            if (!lua_istable(L, -1) || luaL_len(L, -1) != Ln)
                return luaL_error(L, "forward: sequence %d must be a list of %d ids", (int)b + 1,
                                  (int)Ln);
            for (int64_t k = 0; k < Ln; k++) {
                lua_rawgeti(L, -1, k + 1);
                ids[b * Ln + k] = (int32_t)luaL_checkinteger(L, -1);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    }
    if (types) {
        if (mgv_numel(types) != B * Ln) return luaL_error(L, "forward: types must have B x L entries");
        tt = int_values(L, types);
    }
    lmgv_tensor *s = lmgv_slot(L);
    s->t = mgv_bert_forward(&u->b, B, Ln, ids, tt, mask, training, NULL);
    lmgv_done(L, s);
    return 1;
}

static int bert_pool(lua_State *L)
{
    lbert *u = check_bert(L, 1);
    mgv_tensor *H = lmgv_check(L, 2);
    lmgv_tensor *s = lmgv_slot(L);
    s->t = mgv_bert_pool(&u->b, H);
    lmgv_done(L, s);
    return 1;
}

static int bert_parameters(lua_State *L)
{
    return push_params(L, &check_bert(L, 1)->e);
}

static int bert_tokenizer(lua_State *L)
{
    check_bert(L, 1);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

static int bert_config(lua_State *L)
{
    const mgv_bert_config *c = &check_bert(L, 1)->b.cfg;
    lua_createtable(L, 0, 12);
    const lmgv_field f[] = {
        {"vocab_size", c->vocab_size}, {"hidden", c->hidden}, {"layers", c->layers},
        {"heads", c->heads}, {"intermediate", c->intermediate},
        {"max_position", c->max_position}, {"type_vocab_size", c->type_vocab_size},
        {"layer_norm_eps", c->layer_norm_eps}, {"hidden_dropout", c->hidden_dropout},
        {"attention_dropout", c->attention_dropout}};
    lmgv_set_fields(L, f, sizeof f / sizeof *f);
    lua_pushboolean(L, c->pooler);
    lua_setfield(L, -2, "pooler");
    return 1;
}

static int bert_tostring(lua_State *L)
{
    lbert *u = luaL_checkudata(L, 1, LMGV_BERT);
    if (!u->e.live) return push_freed(L, "Bert");
    const mgv_bert_config *c = &u->b.cfg;
    lua_pushfstring(L, "Bert: %d layers, hidden %d, %d heads, vocab %d, %I parameters", c->layers,
                    c->hidden, c->heads, c->vocab_size, (lua_Integer)mgv_params_count(&u->e.ps));
    return 1;
}

/* ---- ViT --------------------------------------------------------------------------- */

static lvit *check_vit(lua_State *L, int arg)
{
    return check_encoder(L, arg, LMGV_VIT);
}

static int vit_gc(lua_State *L)
{
    lvit *u = luaL_checkudata(L, 1, LMGV_VIT);
    if (u->e.live) mgv_vit_free(&u->v);
    return encoder_gc(&u->e);
}

static int l_vit_load(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    static const char *const known[] = {"prefix", NULL};
    lmgv_check_options(L, 2, known, "vit.load");
    const char *prefix = lmgv_opt_string(L, 2, "prefix", "", "vit.load");
    lvit *u = new_encoder(L, sizeof *u, 0, LMGV_VIT);
    if (mgv_vit_load_dir(&u->v, &u->e.ps, prefix, dir, NULL) < 0) return encoder_failed(L, &u->e);
    lmgv_account(L);
    return 1;
}

/* mgv.vit.new{hidden = 768, layers = 12, heads = 12, intermediate = 3072, image_size = 384,
 * patch = 16, channels = 3, seed = 0}: random weights */
static int l_vit_new(lua_State *L)
{
    const char *op = "vit.new";
    static const char *const known[] = {"hidden", "layers", "heads", "intermediate",
                                        "image_size", "patch", "channels", "seed", NULL};
    lmgv_check_options(L, 1, known, op);
    mgv_vit_config c = mgv_vit_base_config();
    read_sizes(L, op, &c.hidden, &c.layers, &c.heads, &c.intermediate);
    c.image_size = lmgv_opt_int(L, 1, "image_size", c.image_size, op);
    c.patch = lmgv_opt_int(L, 1, "patch", c.patch, op);
    c.channels = lmgv_opt_int(L, 1, "channels", c.channels, op);
    mgv_rng rng = seeded_rng(L, op);
    lvit *u = new_encoder(L, sizeof *u, 0, LMGV_VIT);
    if (mgv_vit_init(&u->v, &u->e.ps, "", &c, &rng) < 0) return encoder_failed(L, &u->e);
    lmgv_account(L);
    return 1;
}

static int vit_forward(lua_State *L)
{
    lvit *u = check_vit(L, 1);
    mgv_tensor *x = lmgv_check(L, 2);
    lmgv_tensor *s = lmgv_slot(L);
    s->t = mgv_vit_forward(&u->v, x);
    lmgv_done(L, s);
    return 1;
}

static int call_progress(int64_t done, int64_t total, void *ud)
{
    lmgv_progress_call(ud, done, total);
    return 0;
}

static const char *const feature_opts[] = {"cache", "batch", "pool", "policy", "progress", NULL};

/* options shared by features and attach */
static void read_feature_opts(lua_State *L, int t, const char *op, const char **cache, int *batch,
                              int *pool, int *fail, lmgv_progress *pr)
{
    static const char *const policies[] = {"blank", "fail", NULL};
    lmgv_check_options(L, t, feature_opts, op);
    *cache = lmgv_opt_string(L, t, "cache", NULL, op);
    *batch = lmgv_opt_int(L, t, "batch", 16, op);
    *pool = lmgv_opt_int(L, t, "pool", 0, op);
    *fail = lmgv_opt_choice(L, t, "policy", "blank", policies, op) == 1;
    pr->L = L;
    pr->fn = 0;
    if (lua_istable(L, t)) {
        lua_getfield(L, t, "progress");
        if (lua_isfunction(L, -1)) pr->fn = lua_gettop(L);
        else lua_pop(L, 1);
    }
}

/* vit:features(images | {paths} [, opts]) -> tensor [N, P, H] (, present) */
static int vit_features(lua_State *L)
{
    lvit *u = check_vit(L, 1);
    const char *cache;
    int batch, pool, fail;
    lmgv_progress pr;
    read_feature_opts(L, 3, "features", &cache, &batch, &pool, &fail, &pr);
    mgv_tensor *images = lmgv_test(L, 2);
    if (images) {
        lmgv_tensor *s = lmgv_slot(L);
        s->t = mgv_vit_features(&u->v, images, batch, pool, cache, call_progress, &pr);
        lmgv_done(L, s);
        return 1;
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = (int)luaL_len(L, 2);
    if (n < 1) return luaL_argerror(L, 2, "no pictures");
    const char **paths = lua_newuserdatauv(L, sizeof(char *) * (size_t)n, 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 2, i + 1);
        paths[i] = lua_tostring(L, -1);
        if (!paths[i]) return luaL_error(L, "features: picture %d is not a path", i + 1);
        lua_pop(L, 1);   /* the string stays alive in the table */
    }
    uint8_t *present = lua_newuserdatauv(L, (size_t)n, 0);
    lmgv_tensor *s = lmgv_slot(L);
    s->t = mgv_vit_features_files(&u->v, n, paths, fail, batch, pool, cache, present,
                                  call_progress, &pr);
    lmgv_done(L, s);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushboolean(L, present[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 2;
}

/* vit:attach(ds, dir [, opts]) -> pictures missing */
static int vit_attach(lua_State *L)
{
    lvit *u = check_vit(L, 1);
    mgv_dataset *ds = lmgv_check_dataset(L, 2);
    const char *dir = luaL_checkstring(L, 3);
    const char *cache;
    int batch, pool, fail;
    lmgv_progress pr;
    read_feature_opts(L, 4, "attach", &cache, &batch, &pool, &fail, &pr);
    int64_t missing = 0;
    if (mgv_vit_attach_dataset(&u->v, ds, dir, batch, pool, cache, &missing, call_progress,
                               &pr) < 0)
        return lmgv_error(L);
    lmgv_account(L);
    lua_pushinteger(L, (lua_Integer)missing);
    return 1;
}

static int vit_parameters(lua_State *L)
{
    return push_params(L, &check_vit(L, 1)->e);
}

static int vit_config(lua_State *L)
{
    lvit *u = check_vit(L, 1);
    const mgv_vit_config *c = &u->v.cfg;
    lua_createtable(L, 0, 10);
    const lmgv_field f[] = {
        {"hidden", c->hidden}, {"layers", c->layers}, {"heads", c->heads},
        {"intermediate", c->intermediate}, {"image_size", c->image_size}, {"patch", c->patch},
        {"channels", c->channels}, {"tokens", (double)u->v.n_tokens},
        {"layer_norm_eps", c->layer_norm_eps}};
    lmgv_set_fields(L, f, sizeof f / sizeof *f);
    return 1;
}

static int vit_tostring(lua_State *L)
{
    lvit *u = luaL_checkudata(L, 1, LMGV_VIT);
    if (!u->e.live) return push_freed(L, "ViT");
    const mgv_vit_config *c = &u->v.cfg;
    lua_pushfstring(L, "ViT: %d layers, hidden %d, %d heads, %dx%d px, patch %d (%d tokens), %I "
                    "parameters", c->layers, c->hidden, c->heads, c->image_size, c->image_size,
                    c->patch, (int)u->v.n_tokens, (lua_Integer)mgv_params_count(&u->e.ps));
    return 1;
}

/* ---- registration ------------------------------------------------------------------------- */

static const luaL_Reg wp_methods[] = {
    {"encode", wp_encode}, {"tokenize", wp_tokenize}, {"basic", wp_basic},
    {"id", wp_id},         {"token", wp_token},       {"sequence", wp_sequence},
    {"free", wp_gc},       {NULL, NULL}};

static const luaL_Reg bert_methods[] = {
    {"encode", bert_encode},         {"forward", bert_forward}, {"pool", bert_pool},
    {"parameters", bert_parameters}, {"tokenizer", bert_tokenizer},
    {"config", bert_config},         {"free", bert_gc},         {NULL, NULL}};

static const luaL_Reg vit_methods[] = {
    {"forward", vit_forward},       {"features", vit_features}, {"attach", vit_attach},
    {"parameters", vit_parameters}, {"config", vit_config},     {"free", vit_gc},
    {NULL, NULL}};

static const luaL_Reg wordpiece_funcs[] = {{"load", l_wordpiece_load}, {NULL, NULL}};
static const luaL_Reg bert_funcs[] = {{"load", l_bert_load}, {"new", l_bert_new}, {NULL, NULL}};
static const luaL_Reg vit_funcs[] = {{"load", l_vit_load}, {"new", l_vit_new}, {NULL, NULL}};

void lmgv_open_encoders(lua_State *L, int module);
void lmgv_open_encoders(lua_State *L, int module)
{
    lmgv_new_class(L, LMGV_WORDPIECE, wp_methods, wp_gc, wp_tostring, NULL);
    lmgv_set_metamethod(L, LMGV_WORDPIECE, "__len", wp_len);
    lmgv_new_class(L, LMGV_BERT, bert_methods, bert_gc, bert_tostring, NULL);
    lmgv_new_class(L, LMGV_VIT, vit_methods, vit_gc, vit_tostring, NULL);
    lmgv_new_lib(L, module, "wordpiece", wordpiece_funcs);
    lmgv_new_lib(L, module, "bert", bert_funcs);
    lmgv_new_lib(L, module, "vit", vit_funcs);
}
