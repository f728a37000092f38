/*
 * safetensors.h — checkpoints in the Hugging Face safetensors format:
 * 8-byte little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}, ...,
 *  "__metadata__": {"key": "value"}}, then the raw little-endian data.
 *
 * Saving is atomic: a temp file in the same directory, fsync, rename, fsync
 * of the directory. Loading checks the header, the offsets against the file
 * size, dtypes and shapes, and converts F16/BF16/F64 to float32.
 */
#ifndef MGV_SAFETENSORS_H
#define MGV_SAFETENSORS_H

#include "core/tensor.h"

typedef struct mgv_st_entry {
    char *name;
    mgv_tensor *tensor;         /* owned reference */
} mgv_st_entry;

typedef struct mgv_st_file {
    int n;
    mgv_st_entry *entries;      /* in file header order */
    int n_meta;
    char **meta_keys, **meta_values;
} mgv_st_file;

/* Writes n named tensors (F32) and optional string metadata (n_meta pairs). */
int mgv_safetensors_save(const char *path, int n, const char *const *names,
                         mgv_tensor *const *tensors, int n_meta,
                         const char *const *meta_keys, const char *const *meta_values);
/* Reads a whole file; NULL with a message naming the file and the problem. */
mgv_st_file *mgv_safetensors_load(const char *path);
/* Parses an in-memory image (the fuzz target and load() share this). */
mgv_st_file *mgv_safetensors_parse(const unsigned char *buf, size_t len, const char *what);
/* The tensor called name, or NULL (no message). Borrowed: the file owns it. */
mgv_tensor *mgv_st_get(const mgv_st_file *f, const char *name);
const char *mgv_st_meta(const mgv_st_file *f, const char *key);
void mgv_st_free(mgv_st_file *f);

#endif
