/*
 * test_mnre.c — the Python literal parser and the MNRE loader.
 *
 * Fixture: tests/fixtures/relations_handwritten.txt (hand-written, 5 instances, a blank
 * line, a CRLF line, \x and \u escapes). The real MNRE text is read from
 * $MGV_MNRE_DIR, else ../shared/data/mnre next to the repository, else
 * $MGV_DATA/mnre or data/mnre (scripts/get-data.sh); when it is absent that
 * test is not run (a NOTE line says so, no PASS).
 */
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "data/mnre.h"
#include "formats/pyliteral.h"
#include "testutil.h"

static const mgv_py *parse(mgv_pydoc *d, const char *s)
{
    return mgv_py_parse(d, s, strlen(s), "t.py", 1);
}

static void test_pyliteral_values(void)
{
    mgv_pydoc *d = mgv_pydoc_new();
    const mgv_py *v = parse(d, "{'a': [1, -2, 3.5, -.25e2, 0x1F, 1_000], \"b\": (None, True, False),"
                               " 'c': ('x',), 'd': (), 'e': {}, 'f': [], 'g': ( 7 )}");
    CHECK(v && v->type == MGV_PY_DICT && v->v.dict.n == 7);
    const mgv_py *a = mgv_py_get(v, "a");
    CHECK(a && a->type == MGV_PY_LIST && a->v.seq.n == 6);
    if (a && a->v.seq.n == 6) {
        CHECK(a->v.seq.items[0]->type == MGV_PY_INT && a->v.seq.items[0]->v.integer == 1);
        CHECK(a->v.seq.items[1]->v.integer == -2);
        CHECK(a->v.seq.items[2]->type == MGV_PY_FLOAT && a->v.seq.items[2]->v.number == 3.5);
        CHECK(a->v.seq.items[3]->v.number == -25.0);
        CHECK(a->v.seq.items[4]->v.integer == 31);
        CHECK(a->v.seq.items[5]->v.integer == 1000);
    }
    const mgv_py *b = mgv_py_get(v, "b");
    CHECK(b && b->type == MGV_PY_TUPLE && b->v.seq.n == 3);
    if (b && b->v.seq.n == 3) {
        CHECK(b->v.seq.items[0]->type == MGV_PY_NONE);
        CHECK(b->v.seq.items[1]->type == MGV_PY_BOOL && b->v.seq.items[1]->v.boolean == 1);
        CHECK(b->v.seq.items[2]->type == MGV_PY_BOOL && b->v.seq.items[2]->v.boolean == 0);
    }
    const mgv_py *c = mgv_py_get(v, "c");
    CHECK(c && c->type == MGV_PY_TUPLE && c->v.seq.n == 1);
    CHECK(mgv_py_get(v, "d")->type == MGV_PY_TUPLE && mgv_py_get(v, "d")->v.seq.n == 0);
    CHECK(mgv_py_get(v, "e")->type == MGV_PY_DICT && mgv_py_get(v, "e")->v.dict.n == 0);
    CHECK(mgv_py_get(v, "f")->type == MGV_PY_LIST && mgv_py_get(v, "f")->v.seq.n == 0);
    CHECK(mgv_py_get(v, "g")->type == MGV_PY_INT && mgv_py_get(v, "g")->v.integer == 7);
    CHECK(mgv_py_get(v, "zz") == NULL);
    /* line and column of a value */
    CHECK(b && b->line == 1 && b->col == 47);

    /* string escapes, prefixes, concatenation; expected bytes are UTF-8 */
    v = parse(d, "'\\x41\\xe9\\u20ac\\U0001F600\\101\\0\\n\\t\\\\\\'\"\\d' r'\\n\\'' u\"x\" '''t\nq'''");
    static const char want[] = "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" "A\0\n\t\\'\"\\d" "\\n\\'" "x" "t\nq";
    CHECK(v && v->type == MGV_PY_STR && v->v.str.len == sizeof want - 1);
    CHECK(v && !memcmp(v->v.str.s, want, sizeof want - 1) && v->v.str.s[v->v.str.len] == '\0');
    /* a \uD83D\uDE00 pair combines; raw UTF-8 passes through */
    v = parse(d, "'\\ud83d\\ude00 caf\xc3\xa9'");
    CHECK(v && v->v.str.len == 10 && !memcmp(v->v.str.s, "\xf0\x9f\x98\x80 caf\xc3\xa9", 10));
    /* integer limits, a bare top-level tuple, comments, duplicate keys (last wins) */
    v = parse(d, "-9223372036854775808");
    CHECK(v && v->v.integer == INT64_MIN);
    v = parse(d, " 1, 'b' , # comment\n");
    CHECK(v && v->type == MGV_PY_TUPLE && v->v.seq.n == 2);
    v = parse(d, "{'k': 1, 'k': 2}");
    CHECK(v && mgv_py_get(v, "k")->v.integer == 2);
    /* the doc is reusable: many parses, one free */
    for (int i = 0; i < 1000; i++) v = parse(d, "[[1, 2], {'a': 'bcdefghijklmnopqrstuvwxyz'}]");
    CHECK(v && v->v.seq.n == 2);
    mgv_pydoc_free(d);
}

static void test_pyliteral_errors(void)
{
    static const struct { const char *src, *msg; } cases[] = {
        {"'abc", "t.py:1:1: unterminated string"},
        {"['a', 'b'\n 'c', [1 2]]", "t.py:2:10: expected ',' or ']', found '2'"},
        {"{1, 2}", "t.py:1:1: set literals are not supported"},
        {"{'a' 1}", "t.py:1:6: expected ':' after a dict key, found '1'"},
        {"[1] x", "t.py:1:5: unexpected 'x' after the value"},
        {"9223372036854775808", "t.py:1:1: integer does not fit in 64 bits"},
        {"012", "leading zeros"},
        {"1__0", "misplaced '_'"},
        {"3j", "complex numbers are not supported"},
        {"b'x'", "only str literals"},
        {"'\\x4'", "t.py:1:2: truncated \\xXX escape"},
        {"'\\ud800'", "lone surrogate"},
        {"'\\N{DASH}'", "\\N{...} escapes are not supported"},
        {"foo", "unexpected name 'foo'"},
        {"", "t.py:1:1: unexpected end of input"},
        {"[1,\n\n  ", "t.py:3:3: unexpected end of input"},
        {"{[1]: 2}", "unhashable dict key (list)"},
        {"- x", "expected a number after '-'"},
        {"'a\nb'", "end of line inside quotes"},
        {"'\xff'", "invalid UTF-8 byte 0xff"},
    };
    mgv_pydoc *d = mgv_pydoc_new();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mgv_clear_error();
        CHECK(parse(d, cases[i].src) == NULL);
        CHECK_ERROR_HAS(cases[i].msg);
    }
    /* first_line offsets the line numbers */
    CHECK(mgv_py_parse(d, "[1,, 2]", 7, "data.txt", 41) == NULL);
    CHECK_ERROR_HAS("data.txt:41:4: unexpected ','");
    /* deep nesting is an error, not a stack overflow */
    static char deep[100001];
    memset(deep, '[', sizeof deep - 1);
    CHECK(mgv_py_parse(d, deep, sizeof deep - 1, NULL, 1) == NULL);
    CHECK_ERROR_HAS("<string>:1:201: nesting deeper than 200");
    mgv_pydoc_free(d);
}

static void test_mnre_fixture(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/relations_handwritten.txt", test_root());
    mgv_mnre *ds = mgv_mnre_load(path);
    CHECK(ds != NULL);
    if (!ds) return;
    CHECK(ds->n == 5 && ds->nrel == 4 && ds->nparts == 1);
    CHECK(!strcmp(ds->rel_names[0], "/per/per/peer"));
    CHECK(!strcmp(ds->rel_names[1], "/org/loc/locate_at"));
    CHECK(!strcmp(ds->rel_names[2], "None"));
    CHECK(!strcmp(ds->rel_names[3], "/misc/misc/part_of"));
    CHECK(mgv_mnre_rel_id(ds, "None") == 2 && mgv_mnre_rel_id(ds, "nope") == -1);
    mgv_mnre_inst *in = ds->inst;
    CHECK(in[0].ntok == 10 && !strcmp(in[0].tok[1], "@mgvtest") && !strcmp(in[0].tok[9], "London"));
    CHECK(in[0].h_begin == 3 && in[0].h_end == 5 && in[0].t_begin == 6 && in[0].t_end == 8);
    CHECK(!strcmp(in[0].h_name, "Ada Lovelace") && !strcmp(in[0].img_id, "fixture_1.jpg"));
    CHECK(in[0].rel == 0 && in[0].line == 1 && in[0].part == 0);
    CHECK(!strcmp(in[1].tok[0], "Caf\xc3\xa9") && !strcmp(in[1].tok[5], "\xe2\x80\xa6"));
    CHECK(in[1].rel == 1 && in[1].line == 2);
    CHECK(in[2].line == 4 && !strcmp(in[2].tok[1], "'s") && in[2].rel == 2);
    CHECK(in[3].h_begin == 0 && in[3].h_end == 2 && in[3].rel == 0);   /* pos as a tuple */
    CHECK(in[4].line == 6 && !strcmp(in[4].tok[2], "\\") && !strcmp(in[4].t_name, "\\"));
    CHECK(!strcmp(in[4].img_id, "fixture_5.jpg"));   /* the CRLF line */
    mgv_mnre_free(ds);

    /* pooled: the same file twice; relation ids are shared */
    const char *paths[2] = {path, path};
    ds = mgv_mnre_load_parts(paths, 2);
    CHECK(ds && ds->n == 10 && ds->nrel == 4 && ds->nparts == 2);
    if (ds) {
        CHECK(ds->inst[7].part == 1 && ds->inst[7].line == 4 && ds->inst[7].rel == 2);
        CHECK(ds->inst[9].tok == ds->inst[8].tok + ds->inst[8].ntok);
    }
    mgv_mnre_free(ds);
    mgv_mnre_free(NULL);
}

static void test_mnre_errors(void)
{
    static const struct { const char *text, *msg; } cases[] = {
        {"{'token': ['a', 'b'], 'h': {'name': 'a', 'pos': [0, 1]}, 't': {'name': 'b', "
         "'pos': [1, 2]}, 'relation': 'r'}", "mnre: x.txt:1: missing key 'img_id'"},
        {"\n\n[1, 2]", "mnre: x.txt:3: expected a dict, found list"},
        {"{'token': [], 'h': {}, 't': {}, 'img_id': 'i', 'relation': 'r'}",
         "mnre: x.txt:1: 'token' is empty"},
        {"{'token': ['a', 3], 'h': {}, 't': {}, 'img_id': 'i', 'relation': 'r'}",
         "mnre: x.txt:1: token 1 is a int, not a str"},
        {"{'token': ['a', ''], 'h': {}, 't': {}, 'img_id': 'i', 'relation': 'r'}",
         "mnre: x.txt:1: token 1 is empty"},
        {"{'token': ['a', 'b'], 'h': {'name': 'a', 'pos': [0, 3]}, 't': {'name': 'b', "
         "'pos': [1, 2]}, 'img_id': 'i', 'relation': 'r'}",
         "mnre: x.txt:1: 'h' span [0, 3) is outside the 2 tokens"},
        {"{'token': ['a', 'b'], 'h': {'name': 'a', 'pos': [0, 1]}, 't': {'name': 'b', "
         "'pos': [1, 1]}, 'img_id': 'i', 'relation': 'r'}", "mnre: x.txt:1: 't' span [1, 1) is empty"},
        {"{'token': ['a', 'b'], 'h': {'name': 'a', 'pos': [1, 0]}, 't': {'name': 'b', "
         "'pos': [1, 2]}, 'img_id': 'i', 'relation': 'r'}", "'h' span [1, 0) is outside"},
        {"{'token': ['a', 'b'], 'h': {'name': 'a', 'pos': [-1, 1]}, 't': {'name': 'b', "
         "'pos': [1, 2]}, 'img_id': 'i', 'relation': 'r'}", "'h' span [-1, 1) is outside"},
        {"{'token': ['a', 'b'], 'h': {'name': 'a', 'pos': [0]}, 't': {'name': 'b', "
         "'pos': [1, 2]}, 'img_id': 'i', 'relation': 'r'}", "'h.pos' must be [begin, end]"},
        {"{'token': ['a', 'b'], 'h': {'pos': [0, 1]}, 't': {'name': 'b', "
         "'pos': [1, 2]}, 'img_id': 'i', 'relation': 'r'}", "mnre: x.txt:1: missing key 'h.name'"},
        {"{'token': ['a', 'b'], 'h': {'name': 'a', 'pos': [0, 1]}, 't': {'name': 'b', "
         "'pos': [1, 2]}, 'img_id': 'i', 'relation': None}",
         "mnre: x.txt:1: 'relation' must be a str, found None"},
        {"{'token': ['a', 'b'],\n", "mnre: x.txt:1:22: unexpected end of input"},
        {"{'token': ['a' 'b' 7]}", "mnre: x.txt:1:20: expected ',' or ']', found '7'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mgv_clear_error();
        mgv_mnre *ds = mgv_mnre_parse(cases[i].text, strlen(cases[i].text), "x.txt");
        CHECK(ds == NULL);
        CHECK_ERROR_HAS(cases[i].msg);
        mgv_mnre_free(ds);
    }
    mgv_clear_error();
    CHECK(mgv_mnre_load("/nonexistent/mnre.txt") == NULL);
    CHECK_ERROR_HAS("mnre: /nonexistent/mnre.txt: cannot open: ");
    CHECK(mgv_mnre_load(test_root()) == NULL);   /* a folder */
    CHECK_ERROR_HAS(": is a directory");
    /* empty text: an empty dataset */
    mgv_mnre *ds = mgv_mnre_parse("\n  \n", 4, "e.txt");
    CHECK(ds && ds->n == 0 && ds->nrel == 0);
    mgv_mnre_free(ds);
}

static void test_mnre_real(void)
{
    char dir[1024];
    test_mnre_dir(dir, sizeof dir);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mgv_mnre *ds = test_mnre_load(dir);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(ds != NULL);
    if (!ds) return;
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("  loaded %lld MNRE instances in %.1f ms\n", (long long)ds->n, ms);
    CHECK(ds->n == 12247 + 1624 + 1614 && ds->nrel == 23);
    int64_t count[3] = {0, 0, 0};
    for (int64_t i = 0; i < ds->n; i++) count[ds->inst[i].part]++;
    CHECK(count[0] == 12247 && count[1] == 1624 && count[2] == 1614);
    CHECK(mgv_mnre_rel_id(ds, "None") >= 0 && mgv_mnre_rel_id(ds, "/per/per/couple") >= 0);
    int64_t none = 0;
    for (int64_t i = 0; i < ds->n; i++) none += ds->inst[i].rel == mgv_mnre_rel_id(ds, "None");
    CHECK(none == 9718);
    CHECK(ms < 5000);
    mgv_mnre_free(ds);
}

int main(void)
{
    RUN(test_pyliteral_values);
    RUN(test_pyliteral_errors);
    RUN(test_mnre_fixture);
    RUN(test_mnre_errors);
    char dir[1024];
    if (test_mnre_dir(dir, sizeof dir)) RUN(test_mnre_real);
    else printf("NOTE test_mnre_real not run: no MNRE text at %s\n", dir);
    return CHECK_DONE();
}
