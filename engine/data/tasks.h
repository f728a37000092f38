/*
 * tasks.h — from raw data to the zero-shot splits the model trains on.
 *
 * MRE (MNRE) and MET (WikiDiverse format) are loaded, split by relation or
 * type as DESIGN.md prescribes, tokenised and looked up in GloVe. The word
 * table is compacted to the rows the task uses, so a model carries a few
 * thousand vectors rather than 341k.
 *
 * Label names become short phrases for the text encoder: MNRE's
 * "/per/loc/place_of_birth" reads "person location place of birth" (the
 * abbreviations per/org/loc/misc are spelled out), or a description file
 * (one "name<TAB>phrase" per line) says what each name means.
 */
#ifndef MGV_TASKS_H
#define MGV_TASKS_H

#include <stdint.h>

#include "core/tensor.h"
#include "data/dataset.h"
#include "formats/glove.h"

typedef struct mgv_task {
    mgv_dataset split[3];    /* train, val, test; labels index each split's classes */
    mgv_tensor *words;       /* compact word table [V, dim] the token ids index */
    char **vocab;            /* V words */
    int64_t n_tokens, n_unknown;   /* coverage of the instances' tokens */
} mgv_task;

/* dir holds train.txt, val.txt, test.txt. descriptions may be NULL. */
int mgv_task_mre(mgv_task *t, const char *dir, const mgv_glove *g, int64_t seed,
                 const char *descriptions);
/* A WikiDiverse-format JSON file (all entries pooled), task 1..3. */
int mgv_task_met(mgv_task *t, const char *json_path, const mgv_glove *g, int task,
                 const char *descriptions);
void mgv_task_free(mgv_task *t);

/* Lower-cased word pieces of text: runs of letters/digits (and UTF-8 bytes),
 * each other printable character alone. Calls emit(piece, len, byte_offset). */
void mgv_task_tokenize(const char *text, size_t len,
                       void (*emit)(const char *s, size_t n, size_t off, void *ud), void *ud);

/* The no-training baseline: predict the class whose label phrase (mean word
 * vector) is most cosine-similar to the mean word vector of the entity
 * mentions (the whole sentence when no mention word is known). pred gets
 * ds->n class indices. */
int mgv_task_glove_baseline(const mgv_dataset *ds, const mgv_tensor *words, int *pred);

#endif
