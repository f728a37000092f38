/*
 * wordpiece.h — BERT's WordPiece tokenizer, as Hugging Face's BertTokenizer
 * (the Python one) does it, and the BERT input sequences of MG-VMoE with
 * entity markers.
 *
 * Text → ids:
 *   1. special tokens written in the text — [CLS] [SEP] [UNK] [PAD] [MASK]
 *      and [unusedN] — are cut out whole and kept as their ids (HF's added-
 *      token split; the reference code registers its markers [unused1..4]);
 *   2. the rest is cleaned (NUL, U+FFFD and category C* characters dropped,
 *      whitespace → ' '), CJK ideographs get spaces around them, the text is
 *      NFC-normalised (HF >= 4.2x; cfg.nfc = 0 for the fast tokenizer and
 *      older versions), split on whitespace; each word is lower-cased
 *      (character by character, as HF does: no final sigma) and stripped of accents
 *      (NFD, drop Mn) when the tokenizer is uncased, then split around
 *      punctuation (ASCII 33-47 58-64 91-96 123-126 and Unicode P*);
 *   3. each piece goes through greedy longest-match-first WordPiece with
 *      "##" continuations; a piece longer than max_input_chars_per_word code
 *      points (100), or one that cannot be covered, becomes [UNK].
 * Invalid UTF-8 bytes read as U+FFFD (and so vanish, as step 2 drops it).
 * The Unicode tables (engine/formats/wordpiece_tables.h) are generated from Python's
 * unicodedata by scripts/gen_unicode_tables.py.
 *
 * Entity markers: the opening/closing markers are the vocabulary's [unused1]
 * [unused2] (one span: [E] mention [/E]) and [unused3] [unused4] (the second
 * span: MRE's [E1] head [/E1] ... [E2] tail [/E2]).
 */
#ifndef MGV_WORDPIECE_H
#define MGV_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

typedef struct mgv_wordpiece mgv_wordpiece;

typedef struct mgv_wordpiece_config {
    int lowercase;                  /* do_lower_case (uncased models) */
    int strip_accents;              /* -1: as lowercase (HF's None); 0 never; 1 always */
    int nfc;                        /* NFC-normalise before splitting (1) */
    int chinese_chars;              /* spaces around CJK ideographs (1) */
    int max_input_chars_per_word;   /* 100 */
} mgv_wordpiece_config;

/* A growable id list; zero-initialise it, free with mgv_ids_free. */
typedef struct mgv_ids {
    int32_t *v;
    int n, cap;
} mgv_ids;

void mgv_ids_free(mgv_ids *ids);
int mgv_ids_push(mgv_ids *ids, int32_t id);

mgv_wordpiece_config mgv_wordpiece_default_config(int lowercase);

/* From a vocab.txt (one token per line, id = line number; a repeated token
 * keeps its last line, as HF's dict does). */
mgv_wordpiece *mgv_wordpiece_load(const char *vocab_path, const mgv_wordpiece_config *cfg);
/* The same from n tokens in memory. */
mgv_wordpiece *mgv_wordpiece_from_tokens(int n, const char *const *tokens,
                                         const mgv_wordpiece_config *cfg);
/* dir/vocab.txt with the settings of dir/tokenizer_config.json
 * (do_lower_case, strip_accents, tokenize_chinese_chars) when present; else
 * uncased when the directory name says "uncased" or no vocabulary entry
 * outside [...] has an upper-case ASCII letter. */
mgv_wordpiece *mgv_wordpiece_load_dir(const char *dir);
void mgv_wordpiece_free(mgv_wordpiece *wp);

const mgv_wordpiece_config *mgv_wordpiece_config_of(const mgv_wordpiece *wp);
int mgv_wordpiece_vocab_size(const mgv_wordpiece *wp);
/* The id of a vocabulary entry, or -1. */
int32_t mgv_wordpiece_id(const mgv_wordpiece *wp, const char *token);
/* The entry of an id, or NULL when out of range. */
const char *mgv_wordpiece_token(const mgv_wordpiece *wp, int32_t id);

/* Settings changed after loading (a model's options). Lower-casing with
 * accents stripped as an uncased tokenizer does, into whatever vocabulary
 * (keras-bert's cased=False over a cased one); 0 restores nothing else. */
void mgv_wordpiece_set_lowercase(mgv_wordpiece *wp, int lowercase);
/* The entity markers' order: marker slot k (open span 0, close span 0, open
 * span 1, close span 1) becomes [unused order[k]], order[k] in 1..4. */
int mgv_wordpiece_set_markers(mgv_wordpiece *wp, const int order[4]);

/* Ids of the special tokens (-1 when the vocabulary lacks one). */
typedef struct mgv_wordpiece_specials {
    int32_t cls, sep, pad, unk, mask;
    int32_t marker[4];   /* [unused1] .. [unused4] */
} mgv_wordpiece_specials;
const mgv_wordpiece_specials *mgv_wordpiece_specials_of(const mgv_wordpiece *wp);

/* Steps 1-2 only (for tests and inspection): emit(piece, len, ud) for every
 * basic token, as UTF-8; special tokens come through whole. */
int mgv_wordpiece_basic(const mgv_wordpiece *wp, const char *text, size_t len,
                        void (*emit)(const char *s, size_t n, void *ud), void *ud);
/* Text → ids, appended to out (no [CLS]/[SEP]). 0 or -1. */
int mgv_wordpiece_encode(const mgv_wordpiece *wp, const char *text, size_t len, mgv_ids *out);

/*
 * The BERT input of an instance: [CLS] tokens [SEP] with markers around
 * n_spans (0..2) spans, cut to at most max_len ids (>= 8) around the
 * markers. The text is either
 *   words: n_words pre-split words (MNRE's "token" list; each word is
 *          tokenised on its own, as HF's is_split_into_words), spans in words,
 *          half-open [begin, end); or
 *   text:  a sentence, spans in bytes, half-open (MET's character offsets
 *          converted to bytes); the text is cut at the span boundaries.
 * out is cleared first. marker[s] gets the position of span s's opening
 * marker, or 0 (the [CLS]) when truncation had to cut it off.
 * Fails when the vocabulary lacks [CLS], [SEP] or a needed marker, or a
 * span is out of range.
 */
int mgv_wordpiece_sequence_words(const mgv_wordpiece *wp, int n_words, const char *const *words,
                                 int n_spans, const int *span_begin, const int *span_end,
                                 int max_len, mgv_ids *out, int64_t *marker);
int mgv_wordpiece_sequence_text(const mgv_wordpiece *wp, const char *text, size_t len,
                                int n_spans, const int64_t *span_begin, const int64_t *span_end,
                                int max_len, mgv_ids *out, int64_t *marker);

#endif
