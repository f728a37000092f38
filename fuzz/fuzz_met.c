/*
 * fuzz_met.c — the WikiDiverse JSON reader (engine/data/met.c): mgv_met_parse on
 * the input, and mgv_met_image_name on it as a URL.
 *
 * Properties checked: every mention span lies inside its sentence, its byte
 * span holds exactly end - begin characters and starts on a character
 * boundary; type ids match their names; image names are 32 hex digits plus
 * the extension, and a too-small buffer is an error, never an overflow.
 */
#include <string.h>

#include "fuzz.h"
#include "data/met.h"

static int64_t chars(const char *s, int64_t n)
{
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static void image_name(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (!url) return;
    memcpy(url, data, size);
    url[size] = '\0';
    char out[48];
    if (mgv_met_image_name(url, out, sizeof out) == 0) {
        size_t n = strlen(out);
        FUZZ_CHECK(n >= 32 && n < sizeof out);
        for (int i = 0; i < 32; i++) FUZZ_CHECK(strchr("0123456789abcdef", out[i]) && out[i]);
        FUZZ_CHECK(n == 32 || out[32] == '.');
        char tight[64];
        FUZZ_CHECK(mgv_met_image_name(url, tight, n + 1) == 0 && !strcmp(tight, out));
        FUZZ_CHECK(mgv_met_image_name(url, tight, n) != 0);
    }
    free(url);
}

FUZZ_TARGET(met)
{
    mgv_met *ds = mgv_met_parse((const char *)data, size, "fuzz.json");
    if (ds) {
        FUZZ_CHECK(ds->n >= 0 && ds->nentries >= 0 && ds->ntypes >= 0);
        for (int64_t i = 0; i < ds->n; i++) {
            const mgv_met_inst *x = &ds->inst[i];
            FUZZ_CHECK(x->sentence && x->mention && x->image && x->image_url && x->topic &&
                       x->wiki_url);
            int64_t len = (int64_t)strlen(x->sentence);
            FUZZ_CHECK(0 <= x->begin && x->begin <= x->end);
            FUZZ_CHECK(0 <= x->byte_begin && x->byte_begin <= x->byte_end && x->byte_end <= len);
            FUZZ_CHECK(chars(x->sentence + x->byte_begin, x->byte_end - x->byte_begin) ==
                       x->end - x->begin);
            FUZZ_CHECK(chars(x->sentence, x->byte_begin) == x->begin);
            FUZZ_CHECK(x->byte_begin == len ||
                       ((unsigned char)x->sentence[x->byte_begin] & 0xC0) != 0x80);
            FUZZ_CHECK(0 <= x->type && x->type < ds->ntypes);
            FUZZ_CHECK(0 <= x->entry && x->entry < ds->nentries);
        }
        for (int t = 0; t < ds->ntypes; t++) FUZZ_CHECK(mgv_met_type_id(ds, ds->type_names[t]) == t);
        mgv_met_free(ds);
    }
    image_name(data, size);
    return 0;
}
