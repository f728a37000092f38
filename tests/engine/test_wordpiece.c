/*
 * test_wordpiece.c — BERT's WordPiece tokenizer (engine/formats/wordpiece.c).
 *
 * Golden: tests/golden/wordpiece_cases.json, written by
 * scripts/golden_bert_vit.py from a pure-Python copy of Hugging Face's slow
 * BertTokenizer over tests/golden/vocab_small.txt: 30 tricky strings (accents
 * composed and decomposed, control and format characters, CJK, Hangul,
 * special tokens in the text, 100/101-character words, Unicode punctuation
 * and spaces, ligatures, Greek sigma, dotted I, private use, unassigned code
 * points) under six settings (cased, uncased, cased without NFC, cased with
 * accent stripping, uncased keeping accents, and a cased tokenizer switched
 * to lower-casing: the paper's BERT input); both the basic tokens and the
 * ids must match exactly. Also hand-checked cases: invalid UTF-8, the
 * entity-marker sequences of MRE (words) and MET (text with byte spans),
 * truncation around the markers, vocabulary loading details and errors.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "formats/wordpiece.h"

#define VOCAB "tests/golden/vocab_small.txt"
#define CASES "tests/golden/wordpiece_cases.json"

typedef struct {
    char items[256][128];
    int n;
} strlist;

static void collect(const char *s, size_t n, void *ud)
{
    strlist *l = ud;
    if (l->n < 256 && n < 128) {
        memcpy(l->items[l->n], s, n);
        l->items[l->n][n] = 0;
    }
    l->n++;
}

/* ids of text as a string "a b c" of vocabulary entries */
static char *tokens_of(const mgv_wordpiece *wp, const char *text)
{
    static char buf[2048];
    mgv_ids ids = {0};
    buf[0] = 0;
    if (mgv_wordpiece_encode(wp, text, strlen(text), &ids) < 0) {
        snprintf(buf, sizeof buf, "<error: %s>", mgv_last_error());
    }
    for (int i = 0; i < ids.n; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof buf - len, "%s%s", i ? " " : "",
                 mgv_wordpiece_token(wp, ids.v[i]));
    }
    mgv_ids_free(&ids);
    return buf;
}

static void test_golden_cases(void)
{
    json_error_t err;
    json_t *root = json_load_file(CASES, JSON_ALLOW_NUL, &err);
    CHECK(root != NULL);
    if (!root) return;
    json_t *configs = json_object_get(root, "configs"), *cases = json_object_get(root, "cases");
    CHECK(json_is_object(configs) && json_is_array(cases) && json_array_size(cases) >= 180);
    CHECK(json_object_get(configs, "lowered_cased_vocab") != NULL);
    int n_ok = 0, n_bad = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *cname = json_string_value(json_object_get(c, "config"));
        json_t *cf = json_object_get(configs, cname);
        mgv_wordpiece_config cfg = mgv_wordpiece_default_config(
            json_is_true(json_object_get(cf, "lower")));
        json_t *sa = json_object_get(cf, "strip_accents");
        cfg.strip_accents = json_is_null(sa) ? -1 : json_is_true(sa);
        cfg.nfc = json_is_true(json_object_get(cf, "nfc"));
        /* the model's bert_lowercase: a cased tokenizer switched after loading */
        int switched = strcmp(cname, "lowered_cased_vocab") == 0;
        if (switched) cfg = mgv_wordpiece_default_config(0);
        mgv_wordpiece *wp = mgv_wordpiece_load(VOCAB, &cfg);
        CHECK(wp != NULL);
        if (!wp) break;
        if (switched) mgv_wordpiece_set_lowercase(wp, 1);
        const char *text = json_string_value(json_object_get(c, "text"));
        size_t tlen = json_string_length(json_object_get(c, "text"));   /* may hold NUL */
        /* basic tokens */
        static strlist got;
        got.n = 0;
        int ok = mgv_wordpiece_basic(wp, text, tlen, collect, &got) == 0;
        json_t *basic = json_object_get(c, "basic"), *ids = json_object_get(c, "ids");
        ok = ok && got.n == (int)json_array_size(basic);
        for (int k = 0; ok && k < got.n; k++)
            ok = strcmp(got.items[k], json_string_value(json_array_get(basic, (size_t)k))) == 0;
        /* ids */
        mgv_ids out = {0};
        ok = ok && mgv_wordpiece_encode(wp, text, tlen, &out) == 0 &&
             out.n == (int)json_array_size(ids);
        for (int k = 0; ok && k < out.n; k++)
            ok = out.v[k] == json_integer_value(json_array_get(ids, (size_t)k));
        if (!ok && n_bad < 5) {
            printf("  %s case %zu (\"%.40s\") differs: got", cname, i, text);
            for (int k = 0; k < out.n && k < 20; k++)
                printf(" %s", mgv_wordpiece_token(wp, out.v[k]));
            printf(" | basic");
            for (int k = 0; k < got.n && k < 20; k++) printf(" [%s]", got.items[k]);
            printf("\n");
        }
        n_ok += ok;
        n_bad += !ok;
        mgv_ids_free(&out);
        mgv_wordpiece_free(wp);
    }
    printf("  %d of %zu golden cases match\n", n_ok, json_array_size(cases));
    CHECK(n_bad == 0);
    json_decref(root);
}

static void test_hand_checked(void)
{
    mgv_wordpiece_config cfg = mgv_wordpiece_default_config(0);
    mgv_wordpiece *wp = mgv_wordpiece_load(VOCAB, &cfg);
    CHECK(wp != NULL);
    if (!wp) return;
    CHECK(mgv_wordpiece_vocab_size(wp) == 155);
    CHECK(mgv_wordpiece_id(wp, "[PAD]") == 0 && mgv_wordpiece_id(wp, "[UNK]") == 6);
    CHECK(mgv_wordpiece_id(wp, "nope") == -1 && mgv_wordpiece_token(wp, 155) == NULL);
    const mgv_wordpiece_specials *sp = mgv_wordpiece_specials_of(wp);
    CHECK(sp->cls == 7 && sp->sep == 8 && sp->mask == 9 && sp->pad == 0 && sp->unk == 6);
    CHECK(sp->marker[0] == 2 && sp->marker[3] == 5);   /* [unused1] .. [unused4] */
    CHECK(strcmp(tokens_of(wp, "hello World unaffable"), "hello World un ##aff ##able") == 0);
    /* invalid UTF-8 reads as U+FFFD, which cleaning drops */
    CHECK(strcmp(tokens_of(wp, "ab\xff" "c jk\xc3l"), "abc jkl") == 0);
    /* a truncated sequence at the end, and an overlong form */
    CHECK(strcmp(tokens_of(wp, "abc \xe4\xb8"), "abc") == 0);
    CHECK(strcmp(tokens_of(wp, "\xc0\xafx"), "x") == 0);
    /* a special token split out of a word; [unused1] but not [unused99] (not in the vocab) */
    CHECK(strcmp(tokens_of(wp, "x[SEP]x"), "x [SEP] x") == 0);
    CHECK(strcmp(tokens_of(wp, "[unused4]x"), "[unused4] x") == 0);
    /* 100 characters are one word, 101 are [UNK] */
    char longw[128];
    memset(longw, 'a', 101);
    longw[101] = 0;
    CHECK(strcmp(tokens_of(wp, longw), "[UNK]") == 0);
    longw[100] = 0;
    CHECK(strncmp(tokens_of(wp, longw), "a ##a ##a", 9) == 0);
    mgv_wordpiece_free(wp);

    /* a repeated vocabulary entry keeps its last id (HF's dict) */
    const char *toks[] = {"[UNK]", "x", "y", "x"};
    wp = mgv_wordpiece_from_tokens(4, toks, NULL);
    CHECK(wp && mgv_wordpiece_id(wp, "x") == 3 && mgv_wordpiece_vocab_size(wp) == 4);
    CHECK(wp && strcmp(tokens_of(wp, "x y z"), "x y [UNK]") == 0);
    mgv_wordpiece_free(wp);
}

static void test_sequences(void)
{
    mgv_wordpiece *wp = mgv_wordpiece_load(VOCAB, NULL);
    CHECK(wp != NULL);
    if (!wp) return;
    mgv_ids out = {0};
    int64_t marker[2] = {-1, -1};
    /* MRE: [CLS] [E1] Rafael Nadal [/E1] and [E2] York [/E2] [SEP] */
    const char *words[] = {"Rafael", "Nadal", "and", "York"};
    int b[2] = {0, 3}, e[2] = {2, 4};
    CHECK(mgv_wordpiece_sequence_words(wp, 4, words, 2, b, e, 32, &out, marker) == 0);
    const int32_t want[] = {7, 2, mgv_wordpiece_id(wp, "Rafael"), mgv_wordpiece_id(wp, "Nadal"), 3,
                            mgv_wordpiece_id(wp, "and"), 4, mgv_wordpiece_id(wp, "York"), 5, 8};
    CHECK(out.n == 10 && memcmp(out.v, want, sizeof want) == 0);
    CHECK(marker[0] == 1 && marker[1] == 6);
    /* the tail before the head; adjacent spans close before they open */
    int b2[2] = {2, 0}, e2[2] = {4, 2};
    CHECK(mgv_wordpiece_sequence_words(wp, 4, words, 2, b2, e2, 32, &out, marker) == 0);
    /* [CLS] [E2] Rafael Nadal [/E2] [E1] and York [/E1] [SEP] */
    CHECK(out.n == 10 && out.v[1] == 4 && out.v[4] == 5 && out.v[5] == 2 && out.v[8] == 3);
    CHECK(marker[0] == 5 && marker[1] == 1);
    /* the authors' MRE markers (MRE/data_loader.py:126-141): [unused1] head
     * [unused3] .. [unused2] tail [unused4], lower-cased input (bert_lowercase) */
    const int head13[4] = {1, 3, 2, 4}, bad_order[4] = {1, 3, 2, 5};
    CHECK(mgv_wordpiece_set_markers(wp, bad_order) < 0);
    CHECK_ERROR_HAS("[unused5] outside 1..4");
    CHECK(mgv_wordpiece_set_markers(wp, head13) == 0);
    mgv_wordpiece_set_lowercase(wp, 1);
    const char *upper[] = {"HELLO", "World", "and", "CAFÉ"};
    CHECK(mgv_wordpiece_sequence_words(wp, 4, upper, 2, b, e, 32, &out, marker) == 0);
    const int32_t want13[] = {7, 2, mgv_wordpiece_id(wp, "hello"), mgv_wordpiece_id(wp, "world"),
                              4, mgv_wordpiece_id(wp, "and"), 3, mgv_wordpiece_id(wp, "cafe"), 5, 8};
    CHECK(mgv_wordpiece_id(wp, "cafe") > 0 && mgv_wordpiece_id(wp, "world") > 0);
    CHECK(out.n == 10 && memcmp(out.v, want13, sizeof want13) == 0);
    CHECK(marker[0] == 1 && marker[1] == 6);
    mgv_wordpiece_free(wp);
    wp = mgv_wordpiece_load(VOCAB, NULL);

    /* MET: a sentence with a byte span: [CLS] hello [E] New York [/E] end [SEP] */
    const char *s = "hello New York end";
    int64_t tb[1] = {6}, te[1] = {14};
    CHECK(mgv_wordpiece_sequence_text(wp, s, strlen(s), 1, tb, te, 32, &out, marker) == 0);
    CHECK(out.n == 8 && out.v[0] == 7 && out.v[2] == 2 && out.v[5] == 3 && out.v[7] == 8);
    CHECK(marker[0] == 2);
    /* no span: just [CLS] text [SEP] */
    CHECK(mgv_wordpiece_sequence_text(wp, s, strlen(s), 0, NULL, NULL, 32, &out, marker) == 0);
    CHECK(out.n == 6 && out.v[0] == 7 && out.v[5] == 8);

    /* truncation keeps a window around the markers: 20 words, mention at 15..16 */
    const char *many[20];
    for (int i = 0; i < 20; i++) many[i] = "the";
    many[15] = "York";
    int mb[1] = {15}, me[1] = {16};
    CHECK(mgv_wordpiece_sequence_words(wp, 20, many, 1, mb, me, 8, &out, marker) == 0);
    CHECK(out.n == 8 && out.v[0] == 7 && out.v[7] == 8);
    CHECK(marker[0] >= 1 && marker[0] <= 6 && out.v[marker[0]] == 2);
    CHECK(marker[0] + 1 < 7 && out.v[marker[0] + 1] == mgv_wordpiece_id(wp, "York"));
    /* markers too far apart for the window: one is cut off -> position 0 */
    int fb[2] = {0, 19}, fe[2] = {1, 20};
    CHECK(mgv_wordpiece_sequence_words(wp, 20, many, 2, fb, fe, 8, &out, marker) == 0);
    CHECK(out.n == 8 && (marker[0] == 0 || marker[1] == 0));

    /* errors */
    int bad_b[1] = {3}, bad_e[1] = {3};
    CHECK(mgv_wordpiece_sequence_words(wp, 4, words, 1, bad_b, bad_e, 32, &out, marker) < 0);
    CHECK_ERROR_HAS("span 1 [3, 3) is empty or outside the 4 words");
    CHECK(mgv_wordpiece_sequence_words(wp, 4, words, 1, b, e, 4, &out, marker) < 0);
    CHECK_ERROR_HAS("max_len 4 is too small");
    int64_t ob[1] = {10}, oe[1] = {99};
    CHECK(mgv_wordpiece_sequence_text(wp, s, strlen(s), 1, ob, oe, 32, &out, marker) < 0);
    CHECK_ERROR_HAS("outside the 18 bytes");
    mgv_ids_free(&out);
    mgv_wordpiece_free(wp);

    const char *plain[] = {"[CLS]", "[SEP]", "x"};
    wp = mgv_wordpiece_from_tokens(3, plain, NULL);
    CHECK(mgv_wordpiece_sequence_words(wp, 4, words, 1, b, e, 32, &out, marker) < 0);
    CHECK_ERROR_HAS("no [unused1] for the entity markers");
    /* a word it cannot cover, and no [UNK] */
    CHECK(mgv_wordpiece_encode(wp, "zz", 2, &out) < 0);
    CHECK_ERROR_HAS("has no [UNK]");
    mgv_ids_free(&out);
    mgv_wordpiece_free(wp);
}

static void test_loading(void)
{
    /* tokenizer_config.json says cased */
    mgv_wordpiece *wp = mgv_wordpiece_load_dir("tests/golden/bert_tiny");
    CHECK(wp && mgv_wordpiece_config_of(wp)->lowercase == 0);
    CHECK(wp && strcmp(tokens_of(wp, "Hello"), "Hello") == 0);
    mgv_wordpiece_free(wp);
    /* no tokenizer_config.json: the vocabulary has upper-case entries -> cased */
    wp = mgv_wordpiece_load_dir("tests/golden/vit_tiny");   /* has no vocab.txt */
    CHECK(wp == NULL);
    CHECK_ERROR_HAS("tests/golden/vit_tiny/vocab.txt");
    wp = mgv_wordpiece_load("tests/golden/no_such_vocab.txt", NULL);
    CHECK(wp == NULL);
    CHECK_ERROR_HAS("no_such_vocab.txt");
    CHECK(mgv_wordpiece_from_tokens(0, NULL, NULL) == NULL);
    CHECK_ERROR_HAS("empty vocabulary");
    /* CRLF lines */
    char path[] = "/tmp/mgv_wp_vocabXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        FILE *f = fdopen(fd, "w");
        fputs("[UNK]\r\nhello\r\n##s\r\n", f);
        fclose(f);
        wp = mgv_wordpiece_load(path, NULL);
        CHECK(wp && mgv_wordpiece_id(wp, "hello") == 1 && mgv_wordpiece_vocab_size(wp) == 3);
        CHECK(wp && strcmp(tokens_of(wp, "hellos"), "hello ##s") == 0);
        mgv_wordpiece_free(wp);
        remove(path);
    }
}

int main(void)
{
    RUN(test_golden_cases);
    RUN(test_hand_checked);
    RUN(test_sequences);
    RUN(test_loading);
    return CHECK_DONE();
}
