/*
 * replay.c — the fuzz targets as an ordinary test (built by `make` into
 * $(BUILD)/tests/test_fuzz_replay, run by `make test`): every seed in
 * fuzz/corpus/<target>/ and every past finding in fuzz/regressions/<target>/
 * goes through its harness, built without libFuzzer (-DFUZZ_REPLAY) but
 * with the same property checks. A harness that crashes or fails a check
 * ends the program; the "replay" lines before it name the input.
 *
 * Usage: test_fuzz_replay [target [file...]]   (root: $MGV_ROOT or .)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int fuzz_wire(const uint8_t *data, size_t size);
int fuzz_json(const uint8_t *data, size_t size);
int fuzz_mnre(const uint8_t *data, size_t size);
int fuzz_met(const uint8_t *data, size_t size);
int fuzz_safetensors(const uint8_t *data, size_t size);
int fuzz_png(const uint8_t *data, size_t size);
int fuzz_jpeg(const uint8_t *data, size_t size);
int fuzz_glove(const uint8_t *data, size_t size);

/* Under ASan (make test SANITIZE=1) one allocation over 512 MB is an error:
 * every input here is tiny, and a PNG regression made libpng ask for 2 GB. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "max_allocation_size_mb=512"; }

static const struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} targets[] = {
    {"wire", fuzz_wire}, {"json", fuzz_json}, {"mnre", fuzz_mnre}, {"met", fuzz_met},
    {"safetensors", fuzz_safetensors}, {"png", fuzz_png}, {"jpeg", fuzz_jpeg},
    {"glove", fuzz_glove},
};

/* Runs one file through fn; -1 when it cannot be read. */
static int run_file(int (*fn)(const uint8_t *, size_t), const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            uint8_t *g = realloc(buf, cap *= 2);
            if (!g) free(buf);
            buf = g;
        }
    }
    fclose(f);
    if (!buf) return -1;
    /* an exact-size copy, as libFuzzer gives: ASan sees any over-read */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, n);
    free(buf);
    printf("replay %s\n", path);
    fflush(stdout);
    fn(exact, n);
    free(exact);
    return 0;
}

static int skip_dots(const struct dirent *e) { return e->d_name[0] != '.'; }

/* Runs every file of root/sub/name; the count, or -1 when one is unreadable. */
static int run_dir(int (*fn)(const uint8_t *, size_t), const char *root, const char *sub,
                   const char *name)
{
    char dir[4096], path[8192];
    snprintf(dir, sizeof dir, "%s/fuzz/%s/%s", root, sub, name);
    struct dirent **list;
    int n = scandir(dir, &list, skip_dots, alphasort);
    if (n < 0) return 0;   /* no such folder: nothing to replay */
    int count = 0;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
        if (count >= 0) count = run_file(fn, path) == 0 ? count + 1 : -1;
        free(list[i]);
    }
    free(list);
    return count;
}

int main(int argc, char **argv)
{
    const char *root = getenv("MGV_ROOT");
    if (!root || !*root) root = ".";
    int failed = 0;
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
        if (argc > 1 && strcmp(argv[1], targets[t].name)) continue;
        if (argc > 2) {   /* explicit files */
            for (int i = 2; i < argc; i++)
                if (run_file(targets[t].fn, argv[i]) != 0) {
                    printf("FAIL fuzz_%s: cannot read %s\n", targets[t].name, argv[i]);
                    failed = 1;
                }
            continue;
        }
        int seeds = run_dir(targets[t].fn, root, "corpus", targets[t].name);
        int regs = run_dir(targets[t].fn, root, "regressions", targets[t].name);
        if (seeds <= 0 || regs < 0) {
            printf("FAIL fuzz_%s: %s\n", targets[t].name,
                   seeds == 0 ? "no seed corpus in fuzz/corpus" : "an input cannot be read");
            failed = 1;
        } else {
            printf("PASS fuzz_%s (%d seeds, %d regression inputs)\n", targets[t].name, seeds,
                   regs);
        }
    }
    return failed;
}
