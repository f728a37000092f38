/* tasks.c — zero-shot task construction over GloVe (see tasks.h). */
#include "data/tasks.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/met.h"
#include "data/mnre.h"
#include "data/textnorm.h"
#include "data/zsplit.h"

/* ---- compact vocabulary -------------------------------------------------- */

typedef struct {
    const mgv_glove *g;
    int32_t *compact_of;     /* glove row -> compact id, or -1 */
    int64_t *rows;           /* compact id -> glove row */
    int64_t n, cap;
} vocab;

static int vocab_init(vocab *v, const mgv_glove *g)
{
    memset(v, 0, sizeof *v);
    v->g = g;
    int64_t R = mgv_glove_rows(g);
    v->compact_of = malloc(sizeof(int32_t) * (size_t)(R ? R : 1));
    if (!v->compact_of) return mgv_fail("task: out of memory");
    for (int64_t i = 0; i < R; i++) v->compact_of[i] = -1;
    return 0;
}

static void vocab_free(vocab *v)
{
    free(v->compact_of);
    free(v->rows);
}

static int32_t vocab_id(vocab *v, int64_t row)
{
    if (row < 0) return -1;
    if (v->compact_of[row] >= 0) return v->compact_of[row];
    if (v->n == v->cap) {
        int64_t cap = v->cap ? v->cap * 2 : 4096;
        int64_t *r = realloc(v->rows, sizeof(int64_t) * (size_t)cap);
        if (!r) return -2;
        v->rows = r;
        v->cap = cap;
    }
    v->rows[v->n] = row;
    v->compact_of[row] = (int32_t)v->n;
    return (int32_t)v->n++;
}

/* GloVe row of a token (lower-cased, hashtags and handles unwrapped, ...:
 * the rules of textnorm.h), or -1. */
static int64_t token_row(const mgv_glove *g, const char *tok, size_t n)
{
    char buf[256];
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, tok, n);
    buf[n] = 0;
    return mgv_textnorm_row(g, buf);
}

/* ---- tokenisation ---------------------------------------------------------- */

void mgv_task_tokenize(const char *text, size_t len,
                       void (*emit)(const char *s, size_t n, size_t off, void *ud), void *ud)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)text[i];
        if (isspace(c) || c < 32) {
            i++;
            continue;
        }
        if (isalnum(c) || c >= 128) {
            size_t j = i;
            while (j < len && (isalnum((unsigned char)text[j]) || (unsigned char)text[j] >= 128))
                j++;
            emit(text + i, j - i, i, ud);
            i = j;
        } else {
            emit(text + i, 1, i, ud);
            i++;
        }
    }
}

typedef struct {
    char (*words)[64];
    size_t *off;
    int n, cap;
} piece_list;

static void collect_piece(const char *s, size_t n, size_t off, void *ud)
{
    piece_list *p = ud;
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 32;
        void *w = realloc(p->words, sizeof *p->words * (size_t)cap);
        void *o = realloc(p->off, sizeof *p->off * (size_t)cap);
        if (w) p->words = w;
        if (o) p->off = o;
        if (!w || !o) return;
        p->cap = cap;
    }
    if (n > 63) n = 63;
    for (size_t i = 0; i < n; i++) p->words[p->n][i] = (char)tolower((unsigned char)s[i]);
    p->words[p->n][n] = 0;
    p->off[p->n] = off;
    p->n++;
}

/* ---- label phrases ------------------------------------------------------------ */

static char *description_lookup(const char *path, const char *name)
{
    if (!path) return NULL;
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char line[1024];
    char *found = NULL;
    size_t nl = strlen(name);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, nl) == 0 && line[nl] == '\t') {
            char *d = line + nl + 1;
            d[strcspn(d, "\r\n")] = 0;
            found = strdup(d);
            break;
        }
    }
    fclose(f);
    return found;
}

/* "/per/loc/place_of_birth" -> "person location place of birth" */
static char *default_phrase(const char *name)
{
    static const char *abbrev[][2] = {{"per", "person"}, {"org", "organization"},
                                      {"loc", "location"}, {"misc", "miscellaneous"},
                                      {"alumi", "alumni"}};
    size_t cap = strlen(name) * 4 + 16;
    char *out = malloc(cap);
    if (!out) return NULL;
    out[0] = 0;
    const char *s = name;
    while (*s) {
        while (*s && !isalnum((unsigned char)*s)) s++;
        const char *e = s;
        while (*e && isalnum((unsigned char)*e)) e++;
        if (e == s) break;
        char w[64];
        size_t n = (size_t)(e - s) < sizeof w - 1 ? (size_t)(e - s) : sizeof w - 1;
        for (size_t i = 0; i < n; i++) w[i] = (char)tolower((unsigned char)s[i]);
        w[n] = 0;
        const char *word = w;
        for (size_t k = 0; k < sizeof abbrev / sizeof *abbrev; k++)
            if (strcmp(w, abbrev[k][0]) == 0) word = abbrev[k][1];
        if (out[0]) strcat(out, " ");
        strcat(out, word);
        s = e;
    }
    return out;
}

static int class_tokens(vocab *v, const char *phrase, int32_t **ids, int *n)
{
    piece_list p = {0};
    mgv_task_tokenize(phrase, strlen(phrase), collect_piece, &p);
    *ids = malloc(sizeof(int32_t) * (size_t)(p.n + 1));
    *n = 0;
    if (!*ids) {
        free(p.words);
        free(p.off);
        return mgv_fail("task: out of memory");
    }
    for (int i = 0; i < p.n; i++) {
        int32_t id = vocab_id(v, token_row(v->g, p.words[i], strlen(p.words[i])));
        if (id == -2) {
            free(p.words);
            free(p.off);
            return mgv_fail("task: out of memory");
        }
        if (id >= 0) (*ids)[(*n)++] = id;   /* unknown words say nothing about a label */
    }
    free(p.words);
    free(p.off);
    return 0;
}

static int make_classes(mgv_dataset *ds, vocab *v, int n, const char *const *names,
                        const char *descriptions)
{
    ds->n_classes = n;
    ds->class_names = calloc((size_t)n + 1, sizeof(char *));
    ds->class_name_tokens = calloc((size_t)n + 1, sizeof(int32_t *));
    ds->class_name_len = calloc((size_t)n + 1, sizeof(int));
    ds->class_phrases = calloc((size_t)n + 1, sizeof(char *));
    if (!ds->class_names || !ds->class_name_tokens || !ds->class_name_len || !ds->class_phrases)
        return mgv_fail("task: out of memory");
    for (int c = 0; c < n; c++) {
        ds->class_names[c] = strdup(names[c]);
        char *phrase = description_lookup(descriptions, names[c]);
        if (!phrase) phrase = default_phrase(names[c]);
        if (!ds->class_names[c] || !phrase) {
            free(phrase);
            return mgv_fail("task: out of memory");
        }
        ds->class_phrases[c] = phrase;   /* the raw phrase, for BERT (owned by ds) */
        int rc = class_tokens(v, phrase, &ds->class_name_tokens[c], &ds->class_name_len[c]);
        if (rc == 0 && ds->class_name_len[c] == 0)
            rc = mgv_fail("task: no word of the label '%s' (read as '%s') is in GloVe; give it a "
                          "description", names[c], phrase);
        if (rc < 0) return -1;
    }
    return 0;
}

static int finish_words(mgv_task *t, vocab *v)
{
    t->words = mgv_glove_gather(v->g, v->n, v->rows);
    if (!t->words) return -1;
    t->vocab = calloc((size_t)v->n + 1, sizeof(char *));
    if (!t->vocab) return mgv_fail("task: out of memory");
    for (int64_t i = 0; i < v->n; i++) {
        t->vocab[i] = strdup(mgv_glove_word(v->g, v->rows[i]));
        if (!t->vocab[i]) return mgv_fail("task: out of memory");
    }
    for (int s = 0; s < 3; s++) t->split[s].n_word_rows = (int)v->n;
    return 0;
}

/* Classes of split s (its labels' names from all_names, in split order) and
 * room for its instances; local[label] gets the class index in the split. */
static int start_split(mgv_dataset *ds, vocab *v, const mgv_zsplit *zs, int s,
                       const char *const *all_names, const char *descriptions, int local[256])
{
    const char *names[64];
    for (int r = 0; r < 256; r++) local[r] = -1;
    for (int c = 0; c < zs->nlabels[s] && c < 64; c++) {
        names[c] = all_names[zs->labels[s][c]];
        local[zs->labels[s][c]] = c;
    }
    if (make_classes(ds, v, zs->nlabels[s], names, descriptions) < 0) return -1;
    ds->inst = calloc((size_t)zs->ninst[s] + 1, sizeof(mgv_instance));
    if (!ds->inst) return mgv_fail("task: out of memory");
    return 0;
}

/* The next instance of ds, with room for n tokens; NULL with a message. */
static mgv_instance *add_instance(mgv_dataset *ds, int n)
{
    mgv_instance *in = &ds->inst[ds->n++];
    in->n_tokens = n;
    in->tokens = malloc(sizeof(int32_t) * (size_t)(n + 1));
    if (!in->tokens) return mgv_fail_null("task: out of memory");
    return in;
}

/* The compact id of a word (-1 unknown), counted in the task's coverage;
 * -2 with a message when out of memory. */
static int32_t task_token(mgv_task *t, vocab *v, const char *word)
{
    int32_t id = vocab_id(v, token_row(v->g, word, strlen(word)));
    if (id == -2) mgv_fail("task: out of memory");
    t->n_tokens++;
    t->n_unknown += id < 0;
    return id;
}

void mgv_task_free(mgv_task *t)
{
    for (int s = 0; s < 3; s++) mgv_dataset_free(&t->split[s]);
    if (t->vocab && t->words)
        for (int64_t i = 0; i < t->words->shape[0]; i++) free(t->vocab[i]);
    free(t->vocab);
    mgv_release(t->words);
    memset(t, 0, sizeof *t);
}

/* ---- MRE ------------------------------------------------------------------ */

int mgv_task_mre(mgv_task *t, const char *dir, const mgv_glove *g, int64_t seed,
                 const char *descriptions)
{
    memset(t, 0, sizeof *t);
    char paths[3][1024];
    const char *pp[3];
    const char *files[3] = {"train.txt", "val.txt", "test.txt"};
    for (int i = 0; i < 3; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", dir, files[i]);
        pp[i] = paths[i];
    }
    mgv_mnre *raw = mgv_mnre_load_parts(pp, 3);
    if (!raw) return -1;
    mgv_zsplit zs;
    if (mgv_zsplit_mre_dataset(&zs, raw, seed) < 0) {
        mgv_mnre_free(raw);
        return -1;
    }
    vocab v;
    int rc = vocab_init(&v, g);
    for (int s = 0; s < 3 && rc == 0; s++) {
        mgv_dataset *ds = &t->split[s];
        int local[256];
        rc = start_split(ds, &v, &zs, s, raw->rel_names, descriptions, local);
        for (int64_t k = 0; k < zs.ninst[s] && rc == 0; k++) {
            const mgv_mnre_inst *src = &raw->inst[zs.inst[s][k]];
            mgv_instance *in = add_instance(ds, src->ntok);
            if (!in) {
                rc = -1;
                break;
            }
            if (!(in->words = calloc((size_t)src->ntok + 1, sizeof(char *))))
                rc = mgv_fail("task: out of memory");
            for (int i = 0; i < src->ntok && rc == 0; i++) {
                if ((in->tokens[i] = task_token(t, &v, src->tok[i])) == -2) rc = -1;
                else if (!(in->words[i] = strdup(src->tok[i]))) rc = mgv_fail("task: out of memory");
            }
            in->n_spans = 2;
            in->span_begin[0] = src->h_begin;
            in->span_end[0] = src->h_end;
            in->span_begin[1] = src->t_begin;
            in->span_end[1] = src->t_end;
            in->label = local[src->rel];
            in->image = -1;   /* until mgv_dataset_load_images finds the picture */
            if (src->img_id && src->img_id[0] && !(in->image_name = strdup(src->img_id)))
                rc = mgv_fail("task: out of memory");
        }
    }
    if (rc == 0) rc = finish_words(t, &v);
    vocab_free(&v);
    mgv_zsplit_free(&zs);
    mgv_mnre_free(raw);
    if (rc < 0) mgv_task_free(t);
    return rc;
}

/* ---- MET ------------------------------------------------------------------ */

int mgv_task_met(mgv_task *t, const char *json_path, const mgv_glove *g, int task,
                 const char *descriptions)
{
    memset(t, 0, sizeof *t);
    mgv_met *raw = mgv_met_load(json_path);
    if (!raw) return -1;
    mgv_zsplit zs;
    if (mgv_zsplit_met_dataset(&zs, raw, task) < 0) {
        mgv_met_free(raw);
        return -1;
    }
    vocab v;
    int rc = vocab_init(&v, g);
    piece_list p = {0};
    for (int s = 0; s < 3 && rc == 0; s++) {
        mgv_dataset *ds = &t->split[s];
        int local[256];
        rc = start_split(ds, &v, &zs, s, raw->type_names, descriptions, local);
        for (int64_t k = 0; k < zs.ninst[s] && rc == 0; k++) {
            const mgv_met_inst *src = &raw->inst[zs.inst[s][k]];
            p.n = 0;
            mgv_task_tokenize(src->sentence, strlen(src->sentence), collect_piece, &p);
            mgv_instance *in = add_instance(ds, p.n);
            if (!in) {
                rc = -1;
                break;
            }
            int b = -1, e = -1;
            for (int i = 0; i < p.n; i++) {
                if ((in->tokens[i] = task_token(t, &v, p.words[i])) == -2) rc = -1;
                size_t off = p.off[i];
                if ((int64_t)off >= src->byte_begin && (int64_t)off < src->byte_end) {
                    if (b < 0) b = i;
                    e = i + 1;
                }
            }
            if (b < 0) {
                rc = mgv_fail("%s: entry %lld: mention '%s' covers no token", json_path,
                              (long long)src->entry, src->mention);
                break;
            }
            in->n_spans = 1;
            in->span_begin[0] = b;
            in->span_end[0] = e;
            in->text_begin[0] = src->byte_begin;
            in->text_end[0] = src->byte_end;
            if (!(in->text = strdup(src->sentence))) rc = mgv_fail("task: out of memory");
            in->label = local[src->type];
            in->image = -1;
            if (src->image && src->image[0] && !(in->image_name = strdup(src->image)))
                rc = mgv_fail("task: out of memory");
        }
    }
    free(p.words);
    free(p.off);
    if (rc == 0) rc = finish_words(t, &v);
    vocab_free(&v);
    mgv_zsplit_free(&zs);
    mgv_met_free(raw);
    if (rc < 0) mgv_task_free(t);
    return rc;
}

/* ---- the no-training baseline ---------------------------------------------- */

static double cosine(const float *a, const float *b, int64_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int64_t k = 0; k < n; k++) {
        ab += (double)a[k] * b[k];
        aa += (double)a[k] * a[k];
        bb += (double)b[k] * b[k];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : -2;
}

int mgv_task_glove_baseline(const mgv_dataset *ds, const mgv_tensor *words, int *pred)
{
    int64_t dim = words->shape[1];
    int C = ds->n_classes;
    float *cls = calloc((size_t)C * (size_t)dim, sizeof(float));
    float *x = malloc(sizeof(float) * (size_t)dim);
    int32_t *ids = NULL;
    int cap = 0;
    if (!cls || !x) goto oom;
    for (int c = 0; c < C; c++)
        mgv_word_mean(words, ds->class_name_tokens[c], ds->class_name_len[c],
                      cls + (size_t)c * (size_t)dim);
    for (int i = 0; i < ds->n; i++) {
        const mgv_instance *in = &ds->inst[i];
        if (in->n_tokens + 1 > cap) {
            cap = in->n_tokens + 1;
            int32_t *g = realloc(ids, sizeof(int32_t) * (size_t)cap);
            if (!g) goto oom;
            ids = g;
        }
        int n = 0;
        for (int s = 0; s < in->n_spans; s++)
            for (int t = in->span_begin[s]; t < in->span_end[s] && t < in->n_tokens; t++)
                ids[n++] = in->tokens[t];
        memset(x, 0, sizeof(float) * (size_t)dim);
        /* no mention word is known: fall back on the sentence */
        if (mgv_word_mean(words, ids, n, x) == 0) mgv_word_mean(words, in->tokens, in->n_tokens, x);
        int best = 0;
        double bs = -3;
        for (int c = 0; c < C; c++) {
            double s = cosine(x, cls + (size_t)c * (size_t)dim, dim);
            if (s > bs) {
                bs = s;
                best = c;
            }
        }
        pred[i] = best;
    }
    free(cls);
    free(x);
    free(ids);
    return 0;
oom:
    free(cls);
    free(x);
    free(ids);
    return mgv_fail("baseline: out of memory");
}
