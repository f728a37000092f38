/*
 * test_tasks.c — MNRE and MET to zero-shot splits over a word table:
 * tokens to rows, spans, label phrases, the split by relation, the
 * no-training GloVe baseline. Uses small files written here (a tiny
 * GloVe-format JSON whose vectors are chosen by hand).
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fixtures.h"
#include "formats/glove.h"
#include "mgv.h"
#include "data/tasks.h"

static char dir[] = "/tmp/mgv-test-tasks-XXXXXX";
static mgv_glove *glove;

/* 4-d vectors: axis 0 "people", 1 "places", 2 "marriage", 3 "membership" */
static const char *glove_json =
    "{\"dimensions\":4,\"vectors\":{"
    "\"person\":[1,0,0,0,1,0],\"location\":[0,1,0,0,1,1],\"organization\":[0,0,0,1,1,2],"
    "\"couple\":[0,0,1,0,1,3],\"married\":[0.1,0,0.9,0,1,4],\"wife\":[0.2,0,0.8,0,1,5],"
    "\"member\":[0,0,0,1,1,6],\"joined\":[0,0.1,0,0.9,1,7],\"club\":[0,0,0.1,0.9,1,8],"
    "\"near\":[0,0.9,0,0.1,1,9],\"city\":[0,1,0,0,1,10],\"in\":[0,0.5,0,0,1,11],"
    "\"ada\":[0.9,0,0.1,0,1,12],\"bob\":[0.9,0,0.1,0,1,13],\"paris\":[0,1,0,0,1,14],"
    "\"born\":[0.5,0.5,0,0,1,15],\"birth\":[0.5,0.5,0,0,1,16],\"place\":[0,1,0,0,1,17],"
    "\"of\":[0,0,0,0,1,18],\"neighbor\":[0.5,0.5,0,0,1,19],\"peer\":[0.7,0,0,0.3,1,20]}}";

/* six relations; each line a dict literal */
static void write_mnre(void)
{
    write_file_in(dir, "train.txt",
                  MNRE_LINE("['Ada', 'married', 'Bob']", 0, 1, 2, 3, "/per/per/couple")
                  MNRE_LINE("['Ada', 'joined', 'club']", 0, 1, 2, 3, "/per/org/member_of")
                  MNRE_LINE("['Ada', 'near', 'Paris']", 0, 1, 2, 3, "/per/loc/neighbor")
                  MNRE_LINE("['Ada', 'zzqx', 'Bob']", 0, 1, 2, 3, "None"));
    write_file_in(dir, "val.txt",
                  MNRE_LINE("['Bob', 'born', 'in', 'Paris']", 0, 1, 3, 4, "/per/loc/place_of_birth")
                  MNRE_LINE("['Bob', 'wife', 'Ada']", 0, 1, 2, 3, "/per/per/couple")
                  MNRE_LINE("['Bob', 'peer', 'Ada']", 0, 1, 2, 3, "/per/per/peer"));
    write_file_in(dir, "test.txt",
                  MNRE_LINE("['club', 'in', 'Paris']", 0, 1, 2, 3, "/org/loc/locate_at")
                  MNRE_LINE("['Ada', 'member', 'club']", 0, 1, 2, 3, "/per/org/member_of"));
}

static void test_mre_split_and_tokens(void)
{
    mgv_task t;
    CHECK(mgv_task_mre(&t, dir, glove, 0, NULL) == 0);
    if (!t.words) return;
    /* 6 relations (None dropped): a = 2, train 3 / val 2 / test 1 */
    CHECK(t.split[0].n_classes == 3 && t.split[1].n_classes == 2 && t.split[2].n_classes == 1);
    int total = t.split[0].n + t.split[1].n + t.split[2].n;
    CHECK(total == 8);   /* 9 lines, one None */
    CHECK(t.words->ndim == 2 && t.words->shape[1] == 4);
    /* 'zzqx' never appears (None dropped) and every kept token is known */
    CHECK(t.n_unknown == 0);
    CHECK(t.n_tokens == 3 * 7 + 4);
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < t.split[s].n; i++) {
            const mgv_instance *in = &t.split[s].inst[i];
            CHECK(in->n_spans == 2 && in->span_begin[0] == 0 && in->span_end[0] == 1);
            CHECK(in->label >= 0 && in->label < t.split[s].n_classes);
            CHECK(in->image == -1);
            for (int k = 0; k < in->n_tokens; k++) CHECK(in->tokens[k] >= 0 && in->tokens[k] < t.words->shape[0]);
        }
    /* label phrases: "/per/loc/place_of_birth" reads "person location place of birth" */
    int found = 0;
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < t.split[s].n_classes; c++)
            if (strcmp(t.split[s].class_names[c], "/per/loc/place_of_birth") == 0) {
                found = 1;
                CHECK(t.split[s].class_name_len[c] == 5);
                CHECK(strcmp(t.vocab[t.split[s].class_name_tokens[c][0]], "person") == 0);
                CHECK(strcmp(t.vocab[t.split[s].class_name_tokens[c][4]], "birth") == 0);
            }
    CHECK(found);
    mgv_task_free(&t);
}

static void test_descriptions_file(void)
{
    write_file_in(dir, "desc.tsv", "/per/per/couple\tmarried wife\n/per/per/peer\tpeer\n");
    char path[256];
    snprintf(path, sizeof path, "%s/desc.tsv", dir);
    mgv_task t;
    CHECK(mgv_task_mre(&t, dir, glove, 0, path) == 0);
    int found = 0;
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < t.split[s].n_classes; c++)
            if (strcmp(t.split[s].class_names[c], "/per/per/couple") == 0) {
                found = 1;
                CHECK(t.split[s].class_name_len[c] == 2);
                CHECK(strcmp(t.vocab[t.split[s].class_name_tokens[c][0]], "married") == 0);
            }
    CHECK(found);
    mgv_task_free(&t);
}

static void test_baseline_by_hand(void)
{
    /* two classes, instances whose mentions are closest to their own label */
    int64_t ws[2] = {4, 2};
    float w[8] = {1, 0, 0, 1, 0.9f, 0.1f, 0.2f, 0.8f};
    mgv_tensor *words = mgv_from_data(2, ws, w);
    mgv_dataset ds = {0};
    char *names[2] = {"a", "b"};
    int32_t n0[1] = {0}, n1[1] = {1}, *nt[2] = {n0, n1};
    int nl[2] = {1, 1};
    int32_t toks[2][2] = {{2, 3}, {3, 2}};
    mgv_instance inst[2] = {0};
    for (int i = 0; i < 2; i++) {
        inst[i].n_tokens = 2;
        inst[i].tokens = toks[i];
        inst[i].n_spans = 1;
        inst[i].span_begin[0] = 0;
        inst[i].span_end[0] = 1;   /* only the first token is the mention */
    }
    ds.n = 2;
    ds.inst = inst;
    ds.n_classes = 2;
    ds.class_names = names;
    ds.class_name_tokens = nt;
    ds.class_name_len = nl;
    int pred[2] = {-1, -1};
    CHECK(mgv_task_glove_baseline(&ds, words, pred) == 0);
    CHECK(pred[0] == 0 && pred[1] == 1);
    mgv_release(words);
}

static void test_errors(void)
{
    mgv_task t;
    CHECK(mgv_task_mre(&t, "/nonexistent-mgv-dir", glove, 0, NULL) < 0);
    CHECK_ERROR_HAS("nonexistent-mgv-dir");
    /* a label whose words are all unknown needs a description */
    write_file_in(dir, "test.txt",
                     MNRE_LINE("['club', 'in', 'Paris']", 0, 1, 2, 3, "/qqq/zzz/xyzzy"));
    CHECK(mgv_task_mre(&t, dir, glove, 0, NULL) < 0);
    CHECK_ERROR_HAS("give it a description");
    write_mnre();
}

typedef struct {
    char w[8][32];
    size_t off[8];
    int n;
} pieces;

static void collect(const char *p, size_t len, size_t off, void *ud)
{
    pieces *ps = ud;
    if (ps->n < 8) {
        snprintf(ps->w[ps->n], sizeof ps->w[0], "%.*s", (int)len, p);
        ps->off[ps->n++] = off;
    }
}

static void test_tokenize(void)
{
    const char *s = "Hi, caf\xc3\xa9 #tag";
    pieces ps = {0};
    mgv_task_tokenize(s, strlen(s), collect, &ps);
    CHECK(ps.n == 5);
    CHECK(strcmp(ps.w[0], "Hi") == 0 && ps.off[0] == 0);
    CHECK(strcmp(ps.w[1], ",") == 0 && ps.off[1] == 2);
    CHECK(strcmp(ps.w[2], "caf\xc3\xa9") == 0 && ps.off[2] == 4);
    CHECK(strcmp(ps.w[3], "#") == 0);
    CHECK(strcmp(ps.w[4], "tag") == 0 && ps.off[4] == 11);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    write_file_in(dir, "glove.json", glove_json);
    char json[256], cache[256];
    snprintf(json, sizeof json, "%s/glove.json", dir);
    snprintf(cache, sizeof cache, "%s/glove.bin", dir);
    glove = mgv_glove_open_or_convert(json, cache, NULL, NULL);
    if (!glove) {
        printf("FAIL glove_fixture: %s\n", mgv_last_error());
        return 1;
    }
    write_mnre();
    RUN(test_mre_split_and_tokens);
    RUN(test_descriptions_file);
    RUN(test_baseline_by_hand);
    RUN(test_errors);
    RUN(test_tokenize);
    mgv_glove_close(glove);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return CHECK_DONE();
}
