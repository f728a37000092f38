/*
 * mnre.h — MNRE relation-extraction data (one Python dict literal per line).
 *
 *   {'token': ['Ada', 'Lovelace', 'met', 'Charles', 'Babbage'], 'h': {'name':
 *    'Ada Lovelace', 'pos': [0, 2]}, 't': {...}, 'img_id': 'example_1.jpg',
 *    'relation': '/per/per/peer'}
 *
 * A dataset owns all its memory (instances, tokens, strings); one call frees
 * it. Several files can be pooled into one dataset (train, val, test): each
 * instance remembers its part and line, and relation ids number the relation
 * names in order of first appearance over the pool. Spans are half-open token
 * ranges [begin, end). A line must have a non-empty list of non-empty str
 * tokens, h and t with a str name and pos [begin, end] inside the tokens
 * with begin < end, a str img_id and a str relation; other keys are ignored
 * and blank lines skipped. Errors read "mnre: file:line: message" (with
 * ":col" for syntax errors).
 */
#ifndef MGV_MNRE_H
#define MGV_MNRE_H

#include <stddef.h>
#include <stdint.h>

typedef struct mgv_mnre_inst {
    int ntok;
    const char **tok;               /* ntok UTF-8 tokens */
    int h_begin, h_end;             /* head span [begin, end) in tokens */
    int t_begin, t_end;             /* tail span */
    const char *h_name, *t_name;
    const char *img_id;
    int rel;                        /* index into rel_names */
    int part;                       /* which file of the pool (0 for one file) */
    int line;                       /* 1-based line in that file */
} mgv_mnre_inst;

typedef struct mgv_mnre_store mgv_mnre_store;

typedef struct mgv_mnre {
    int64_t n;
    mgv_mnre_inst *inst;
    int nrel;
    const char **rel_names;         /* in order of first appearance */
    int nparts;
    const char **part_names;        /* the paths (or names) of the parts */
    mgv_mnre_store *store;          /* private: string pool and arrays */
} mgv_mnre;

/* Loads one file. */
mgv_mnre *mgv_mnre_load(const char *path);
/* Loads and pools several files, in order (e.g. train, val, test). */
mgv_mnre *mgv_mnre_load_parts(const char *const *paths, int nparts);
/* Parses text already in memory; name is used in messages. */
mgv_mnre *mgv_mnre_parse(const char *text, size_t len, const char *name);
void mgv_mnre_free(mgv_mnre *ds);   /* NULL is fine */

/* Relation id of a name, or -1. */
int mgv_mnre_rel_id(const mgv_mnre *ds, const char *name);

#endif
