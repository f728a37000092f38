/*
 * met.c — WikiDiverse-format MET reader (see met.h).
 *
 * jansson parses the file; we walk the tree once, check every entry's shape
 * and offsets, and copy the strings we keep into a pool so that the JSON
 * tree can be dropped right away. Character offsets are turned into byte
 * offsets by walking the sentence's UTF-8 (jansson has validated it).
 */
#include "data/met.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strpool.h"

struct mgv_met_store {
    mgv_strpool pool;
    int64_t capinst;
    int captypes;
};

static char *pool_copy(mgv_met_store *st, const char *s, size_t n)
{
    return mgv_strpool_copy(&st->pool, s, n, "met");
}

void mgv_met_free(mgv_met *ds)
{
    if (!ds) return;
    if (ds->store) {
        mgv_strpool_free(&ds->store->pool);
        free(ds->store);
    }
    free(ds->inst);
    free(ds->type_names);
    free(ds);
}

int mgv_met_type_id(const mgv_met *ds, const char *name)
{
    if (!ds || !name) return -1;
    for (int i = 0; i < ds->ntypes; i++)
        if (!strcmp(ds->type_names[i], name)) return i;
    return -1;
}

static int intern_type(mgv_met *ds, const char *name)
{
    int id = mgv_met_type_id(ds, name);
    if (id >= 0) return id;
    mgv_met_store *st = ds->store;
    if (ds->ntypes == st->captypes) {
        int cap = st->captypes ? 2 * st->captypes : 16;
        const char **t = realloc(ds->type_names, (size_t)cap * sizeof *t);
        if (!t) return mgv_fail("met: out of memory");
        ds->type_names = t;
        st->captypes = cap;
    }
    const char *s = pool_copy(st, name, strlen(name));
    if (!s) return -1;
    ds->type_names[ds->ntypes] = s;
    return ds->ntypes++;
}

int mgv_met_image_name(const char *url, char *out, size_t outcap)
{
    if (!url || !*url) return mgv_fail("met: empty image URL");
    const char *base = strrchr(url, '/');
    base = base ? base + 1 : url;
    if (!*base) return mgv_fail("met: image URL '%.200s' ends with '/'", url);
    const char *dot = strrchr(base, '.');
    size_t extlen = dot && dot != base ? strlen(dot) : 0;
    if (outcap < 33 + extlen)
        return mgv_fail("met: image name for '%.200s' does not fit in %zu bytes", url, outcap);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(base, strlen(base), md, &mdlen, EVP_md5(), NULL) || mdlen != 16)
        return mgv_fail("met: MD5 is not available from OpenSSL");
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    memcpy(out + 32, extlen ? dot : "", extlen);
    out[32 + extlen] = '\0';
    return 0;
}

/* Byte offset of character index ci in UTF-8 s (length n), or -1 if the
 * string has fewer characters. Continuation bytes (10xxxxxx) are skipped. */
static int64_t char_to_byte(const char *s, size_t n, int64_t ci)
{
    int64_t c = 0;
    for (size_t b = 0; b < n; b++) {
        if (((unsigned char)s[b] & 0xc0) == 0x80) continue;
        if (c == ci) return (int64_t)b;
        c++;
    }
    return c == ci ? (int64_t)n : -1;
}

static int64_t utf8_chars(const char *s, size_t n)
{
    int64_t c = 0;
    for (size_t b = 0; b < n; b++) c += ((unsigned char)s[b] & 0xc0) != 0x80;
    return c;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static int add_inst(mgv_met *ds, const mgv_met_inst *in)
{
    mgv_met_store *st = ds->store;
    if (ds->n == st->capinst) {
        int64_t cap = st->capinst ? 2 * st->capinst : 256;
        mgv_met_inst *a = realloc(ds->inst, (size_t)cap * sizeof *a);
        if (!a) return mgv_fail("met: out of memory");
        ds->inst = a;
        st->capinst = cap;
    }
    ds->inst[ds->n++] = *in;
    return 0;
}

/* One mention [mention, type, start, end, wiki_url?] of entry e. */
static int read_mention(mgv_met *ds, const json_t *m, mgv_met_inst *in, const char *file,
                        size_t e, size_t k)
{
    const char *sent = in->sentence;
    size_t slen = strlen(sent);
    if (!json_is_array(m) || json_array_size(m) < 4)
        return mgv_fail("met: %s: entry %zu: mention %zu: expected [mention, type, start, "
                        "end, wiki_url], found %s%s", file, e, k, json_kind(m),
                        json_is_array(m) ? " that is too short" : "");
    const json_t *mt = json_array_get(m, 0), *ty = json_array_get(m, 1),
                 *js = json_array_get(m, 2), *je = json_array_get(m, 3),
                 *wu = json_array_get(m, 4);
    if (!json_is_string(mt) || !json_is_string(ty))
        return mgv_fail("met: %s: entry %zu: mention %zu: mention and type must be strings",
                        file, e, k);
    if (!json_is_integer(js) || !json_is_integer(je))
        return mgv_fail("met: %s: entry %zu: mention %zu: start and end must be integers, "
                        "found %s and %s", file, e, k, json_kind(js), json_kind(je));
    if (wu && !json_is_string(wu) && !json_is_null(wu))
        return mgv_fail("met: %s: entry %zu: mention %zu: wiki_url must be a string or null",
                        file, e, k);
    int64_t b = json_integer_value(js), en = json_integer_value(je);
    int64_t nch = utf8_chars(sent, slen);
    if (b < 0 || en > nch || b >= en)
        return mgv_fail("met: %s: entry %zu: mention %zu: span [%lld, %lld) is not inside the "
                        "sentence (%lld characters)", file, e, k, (long long)b, (long long)en,
                        (long long)nch);
    if (!*json_string_value(ty))
        return mgv_fail("met: %s: entry %zu: mention %zu: empty type", file, e, k);
    in->begin = b;
    in->end = en;
    in->byte_begin = char_to_byte(sent, slen, b);
    in->byte_end = char_to_byte(sent, slen, en);
    in->mention = pool_copy(ds->store, json_string_value(mt), json_string_length(mt));
    const char *w = json_is_string(wu) ? json_string_value(wu) : "";
    in->wiki_url = pool_copy(ds->store, w, strlen(w));
    in->type = intern_type(ds, json_string_value(ty));
    if (!in->mention || !in->wiki_url || in->type < 0) return -1;
    return add_inst(ds, in);
}

static int read_entries(mgv_met *ds, const json_t *root, const char *file)
{
    if (!json_is_array(root))
        return mgv_fail("met: %s: expected a JSON array of entries, found %s", file,
                        json_kind(root));
    size_t ne = json_array_size(root);
    ds->nentries = (int64_t)ne;
    for (size_t e = 0; e < ne; e++) {
        const json_t *ent = json_array_get(root, e);
        if (!json_is_array(ent) || json_array_size(ent) < 4)
            return mgv_fail("met: %s: entry %zu: expected [sentence, image_url, topic, "
                            "mentions], found %s%s", file, e, json_kind(ent),
                            json_is_array(ent) ? " that is too short" : "");
        const json_t *js = json_array_get(ent, 0), *ju = json_array_get(ent, 1),
                     *jt = json_array_get(ent, 2), *jm = json_array_get(ent, 3);
        if (!json_is_string(js) || !json_is_string(ju) || !json_is_string(jt))
            return mgv_fail("met: %s: entry %zu: sentence, image_url and topic must be "
                            "strings", file, e);
        if (!json_is_array(jm))
            return mgv_fail("met: %s: entry %zu: mentions must be an array, found %s", file, e,
                            json_kind(jm));
        if (strlen(json_string_value(js)) != json_string_length(js))
            return mgv_fail("met: %s: entry %zu: sentence contains a NUL character", file, e);
        if (json_array_size(jm) == 0) continue;
        mgv_met_inst in;
        memset(&in, 0, sizeof in);
        in.entry = (int64_t)e;
        char img[96];
        if (mgv_met_image_name(json_string_value(ju), img, sizeof img)) {
            mgv_error_context("met: %s: entry %zu", file, e);
            return -1;
        }
        mgv_met_store *st = ds->store;
        in.sentence = pool_copy(st, json_string_value(js), json_string_length(js));
        in.image_url = pool_copy(st, json_string_value(ju), strlen(json_string_value(ju)));
        in.topic = pool_copy(st, json_string_value(jt), strlen(json_string_value(jt)));
        in.image = pool_copy(st, img, strlen(img));
        if (!in.sentence || !in.image_url || !in.topic || !in.image) return -1;
        for (size_t k = 0; k < json_array_size(jm); k++)
            if (read_mention(ds, json_array_get(jm, k), &in, file, e, k)) return -1;
    }
    return 0;
}

static mgv_met *from_json(json_t *root, const char *name)
{
    mgv_met *ds = calloc(1, sizeof *ds);
    if (ds) ds->store = calloc(1, sizeof *ds->store);
    if (!ds || !ds->store) {
        free(ds);
        json_decref(root);
        return mgv_fail_null("met: out of memory");
    }
    int rc = read_entries(ds, root, name);
    json_decref(root);
    if (rc) {
        mgv_met_free(ds);
        return NULL;
    }
    return ds;
}

mgv_met *mgv_met_load(const char *path)
{
    if (!path) return mgv_fail_null("met: NULL path");
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) {
        if (err.line < 0 || err.position == 0)
            return mgv_fail_null("met: %s: %s", path, err.text);
        return mgv_fail_null("met: %s:%d:%d: %s", path, err.line, err.column, err.text);
    }
    return from_json(root, path);
}

mgv_met *mgv_met_parse(const char *text, size_t len, const char *name)
{
    if (!name) name = "<string>";
    json_error_t err;
    json_t *root = json_loadb(text ? text : "", text ? len : 0, 0, &err);
    if (!root) return mgv_fail_null("met: %s:%d:%d: %s", name, err.line, err.column, err.text);
    return from_json(root, name);
}
