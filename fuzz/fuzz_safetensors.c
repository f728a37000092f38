/*
 * fuzz_safetensors.c — the safetensors reader (engine/formats/safetensors.c), on the
 * in-memory image that mgv_safetensors_load also parses.
 *
 * Properties checked: every tensor is contiguous with numel = product of
 * its shape and all of its values readable (ASan checks the storage);
 * mgv_st_get finds each entry by name and mgv_st_meta each metadata key.
 */
#include <string.h>

#include "fuzz.h"
#include "formats/safetensors.h"

FUZZ_TARGET(safetensors)
{
    mgv_st_file *f = mgv_safetensors_parse(data, size, "fuzz.safetensors");
    if (!f) return 0;
    FUZZ_CHECK(f->n >= 0 && f->n_meta >= 0);
    volatile float sink = 0;
    for (int i = 0; i < f->n; i++) {
        const mgv_st_entry *e = &f->entries[i];
        FUZZ_CHECK(e->name && e->tensor && mgv_is_contiguous(e->tensor));
        int64_t n = mgv_numel(e->tensor);
        FUZZ_CHECK(n == mgv_shape_numel(e->tensor->ndim, e->tensor->shape) && n >= 0);
        const float *d = mgv_data(e->tensor);
        for (int64_t k = 0; k < n; k++) sink += d[k];
        FUZZ_CHECK(mgv_st_get(f, e->name) == e->tensor);
    }
    for (int i = 0; i < f->n_meta; i++) {
        FUZZ_CHECK(f->meta_keys[i] && f->meta_values[i]);
        FUZZ_CHECK(mgv_st_meta(f, f->meta_keys[i]) != NULL);
    }
    (void)sink;
    mgv_st_free(f);
    return 0;
}
