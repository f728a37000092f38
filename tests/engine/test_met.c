/*
 * test_met.c — the WikiDiverse-format MET reader.
 *
 * Fixture: tests/fixtures/met_small.json (hand-written: 3 entries, one with
 * no mentions, non-ASCII text before mentions, a null wiki_url). Expected
 * image names and byte offsets from Python:
 *   hashlib.md5(url.split('/')[-1].encode()).hexdigest()
 *   len(sentence[:start].encode())
 */
#include <stdlib.h>

#include "check.h"
#include "data/met.h"
#include "testutil.h"
#include "data/zsplit.h"

static void test_met_fixture(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/met_small.json", test_root());
    mgv_met *ds = mgv_met_load(path);
    CHECK(ds != NULL);
    if (!ds) return;
    CHECK(ds->n == 5 && ds->nentries == 3 && ds->ntypes == 4);
    CHECK(!strcmp(ds->type_names[0], "Organization") && !strcmp(ds->type_names[1], "Location") &&
          !strcmp(ds->type_names[2], "location") && !strcmp(ds->type_names[3], "Currency"));
    CHECK(mgv_met_type_id(ds, "Currency") == 3 && mgv_met_type_id(ds, "People") == -1);
    const mgv_met_inst *in = ds->inst;
    CHECK(!strcmp(in[0].mention, "Lions") && in[0].begin == 4 && in[0].end == 9);
    CHECK(in[0].byte_begin == 4 && in[0].byte_end == 9 && in[0].type == 0 && in[0].entry == 0);
    CHECK(!strcmp(in[0].image, "f3c52ebd77e618c8918bb18536816d1e.jpg"));
    CHECK(!strcmp(in[0].topic, "sports") && !strcmp(in[0].wiki_url,
                                                     "https://en.wikipedia.org/wiki/Detroit_Lions"));
    CHECK(in[1].sentence == in[0].sentence && in[1].begin == 18 && in[1].end == 25);
    /* "Détroit": 7 characters, 8 bytes; wiki_url null -> "" */
    CHECK(in[2].begin == 29 && in[2].end == 36 && in[2].byte_begin == 29 && in[2].byte_end == 37);
    CHECK(!memcmp(in[2].sentence + in[2].byte_begin, "D\xc3\xa9troit", 8));
    CHECK(!strcmp(in[2].wiki_url, "") && in[2].type == 1);
    /* entry 1 has no mentions; entry 2: ã (2 bytes) and an emoji (4 bytes) before "Real" */
    CHECK(in[3].entry == 2 && in[3].byte_begin == 0 && in[3].byte_end == 10 && in[3].type == 2);
    CHECK(in[4].begin == 27 && in[4].end == 31 && in[4].byte_begin == 31 && in[4].byte_end == 35);
    CHECK(!memcmp(in[4].sentence + in[4].byte_begin, "Real", 4));
    CHECK(!strcmp(in[4].image, "fe7375e7d972d4e57bb62b7cc6ddb7bf.JPEG"));
    CHECK(!strcmp(in[4].image_url,
                  "https://upload.wikimedia.org/wikipedia/commons/2/2c/Sao%20Paulo.JPEG"));

    /* MET rotation over the dataset: "location" matches group B's Location too,
     * group A has Currency only; task 2 = train B, val C, test A */
    mgv_zsplit s;
    CHECK(mgv_zsplit_met_dataset(&s, ds, 2) == 0);
    CHECK(s.nlabels[0] == 2 && s.labels[0][0] == 1 && s.labels[0][1] == 2);
    CHECK(s.ninst[0] == 2 && s.ninst[1] == 2 && s.ninst[2] == 1 && s.inst[2][0] == 4);
    mgv_zsplit_free(&s);
    mgv_met_free(ds);
    mgv_met_free(NULL);
}

static void test_image_name(void)
{
    char out[64];
    /* md5("Lions_vs_Packers.jpg") */
    CHECK(mgv_met_image_name("https://x.org/a/b/Lions_vs_Packers.jpg", out, sizeof out) == 0);
    CHECK(!strcmp(out, "f3c52ebd77e618c8918bb18536816d1e.jpg"));
    /* no folder and no extension: just md5("abc") */
    CHECK(mgv_met_image_name("abc", out, sizeof out) == 0);
    CHECK(!strcmp(out, "900150983cd24fb0d6963f7d28e17f72"));
    CHECK(mgv_met_image_name("https://x.org/dir/", out, sizeof out) == -1);
    CHECK_ERROR_HAS("ends with '/'");
    CHECK(mgv_met_image_name("", out, sizeof out) == -1);
    CHECK(mgv_met_image_name("a/b.jpeg", out, 36) == -1);
    CHECK_ERROR_HAS("does not fit in 36 bytes");
}

static void test_met_errors(void)
{
    static const struct { const char *json, *msg; } cases[] = {
        {"{}", "met: m.json: expected a JSON array of entries, found an object"},
        {"[[\"s\", \"u.jpg\", \"t\"]]", "met: m.json: entry 0: expected [sentence, image_url, "
                                       "topic, mentions], found an array that is too short"},
        {"[[\"s\", \"u.jpg\", \"t\", []], 5]", "met: m.json: entry 1: expected [sentence"},
        {"[[\"s\", 3, \"t\", []]]", "entry 0: sentence, image_url and topic must be strings"},
        {"[[\"s\", \"u.jpg\", \"t\", {}]]", "entry 0: mentions must be an array, found an object"},
        {"[[\"abc\", \"u.jpg\", \"t\", [[\"c\", \"T\", 2, 4, null]]]]",
         "met: m.json: entry 0: mention 0: span [2, 4) is not inside the sentence (3 characters)"},
        {"[[\"abc\", \"u.jpg\", \"t\", [[\"a\", \"T\", 1, 1]]]]", "span [1, 1) is not inside"},
        {"[[\"abc\", \"u.jpg\", \"t\", [[\"a\", \"T\", -1, 1]]]]", "span [-1, 1) is not inside"},
        {"[[\"abc\", \"u.jpg\", \"t\", [[\"a\", \"T\", 0.5, 1]]]]",
         "mention 0: start and end must be integers, found a real number and an integer"},
        {"[[\"abc\", \"u.jpg\", \"t\", [[\"a\", 7, 0, 1]]]]", "mention and type must be strings"},
        {"[[\"abc\", \"u.jpg\", \"t\", [[\"a\", \"T\", 0, 1], \"x\"]]]",
         "entry 0: mention 1: expected [mention, type, start, end, wiki_url], found a string"},
        {"[[\"abc\", \"u.jpg\", \"t\", [[\"a\", \"T\", 0, 1, 5]]]]", "wiki_url must be a string or null"},
        {"[[\"abc\", \"u.jpg\", \"t\", [[\"a\", \"\", 0, 1]]]]", "empty type"},
        {"[[\"abc\", \"http://x/\", \"t\", [[\"a\", \"T\", 0, 1]]]]", "met: m.json: entry 0: met: image URL"},
        {"[[\"abc\", \"u.jpg\",\n \"t\" [", "met: m.json:2:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mgv_clear_error();
        mgv_met *ds = mgv_met_parse(cases[i].json, strlen(cases[i].json), "m.json");
        CHECK(ds == NULL);
        CHECK_ERROR_HAS(cases[i].msg);
        mgv_met_free(ds);
    }
    CHECK(mgv_met_load("/nonexistent/met.json") == NULL);
    CHECK_ERROR_HAS("met: /nonexistent/met.json: unable to open");
    mgv_met *ds = mgv_met_parse("[]", 2, NULL);
    CHECK(ds && ds->n == 0 && ds->nentries == 0);
    mgv_met_free(ds);
}

int main(void)
{
    RUN(test_met_fixture);
    RUN(test_image_name);
    RUN(test_met_errors);
    return CHECK_DONE();
}
