/*
 * met.h — multimodal entity typing data in the WikiDiverse format.
 *
 * The file is a JSON array of entries
 *   [sentence, image_url, topic, [[mention, type, start, end, wiki_url], ...]]
 * where start/end are character (code point) offsets into the sentence,
 * half-open. Every mention becomes one instance. The image of an entry is
 * the file md5(basename(image_url)) + the basename's extension, as the
 * dataset's image folder names them (e.g. ".../0/06/Lions-2007.jpg" ->
 * md5("Lions-2007.jpg") in hex + ".jpg").
 *
 * A dataset owns all its memory; one call frees it. Type ids number the type
 * names in order of first appearance. Errors read
 * "met: file: entry 12: mention 0: message".
 */
#ifndef MGV_MET_H
#define MGV_MET_H

#include <stddef.h>
#include <stdint.h>

typedef struct mgv_met_inst {
    const char *sentence;           /* shared by the mentions of one entry */
    int64_t begin, end;             /* mention span in characters, [begin, end) */
    int64_t byte_begin, byte_end;   /* the same span in bytes of sentence */
    const char *mention;            /* the mention text as the file gives it */
    int type;                       /* index into type_names */
    const char *image;              /* image file name (md5 + extension) */
    const char *image_url;
    const char *topic;
    const char *wiki_url;           /* "" when the file has none (null) */
    int64_t entry;                  /* index of the entry in the JSON array */
} mgv_met_inst;

typedef struct mgv_met_store mgv_met_store;

typedef struct mgv_met {
    int64_t n;
    mgv_met_inst *inst;
    int ntypes;
    const char **type_names;        /* in order of first appearance */
    int64_t nentries;
    mgv_met_store *store;           /* private */
} mgv_met;

mgv_met *mgv_met_load(const char *path);
/* Parses JSON text in memory; name is used in messages. */
mgv_met *mgv_met_parse(const char *json, size_t len, const char *name);
void mgv_met_free(mgv_met *ds);     /* NULL is fine */
/* Type id of a name, or -1. */
int mgv_met_type_id(const mgv_met *ds, const char *name);
/* The image file name for an image URL: 32 hex digits + extension (".jpg",
 * or nothing when the basename has none) into out (>= 48 bytes is enough
 * for extensions up to 15 bytes). Returns 0, or -1 with a message. */
int mgv_met_image_name(const char *url, char *out, size_t outcap);

#endif
