/*
 * fuzz_glove.c — the GloVe JSON streaming converter and the cache reader
 * (engine/formats/glove.c). Both take paths, so the input is written to a file in a
 * private folder under /dev/shm (or $TMPDIR, /tmp) first.
 *
 * An input that starts with the cache magic "MGVGLOVE" is opened as a cache
 * (mgv_glove_open); anything else is converted as JSON (mgv_glove_convert)
 * and the cache made from it opened.
 *
 * Properties checked: a converted cache always opens; every row's word
 * looks up to that row or an earlier one with the same word; gather returns
 * the rows' values (zeros for -1); a cache from JSON has finite values.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "formats/glove.h"

static char dir[256], json_path[300], cache_path[300];

static void cleanup(void)
{
    unlink(json_path);
    unlink(cache_path);
    rmdir(dir);
}

static int setup(void)
{
    if (dir[0]) return 0;
    const char *base = getenv("TMPDIR");
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        base = "/dev/shm";
    if (!base) base = "/tmp";
    snprintf(dir, sizeof dir, "%s/mgv-fuzz-glove-XXXXXX", base);
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        return -1;
    }
    snprintf(json_path, sizeof json_path, "%s/in.json", dir);
    snprintf(cache_path, sizeof cache_path, "%s/out.cache", dir);
    atexit(cleanup);
    return 0;
}

static int write_file(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t k = write(fd, data + done, size - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        done += (size_t)k;
    }
    close(fd);
    return done == size ? 0 : -1;
}

static void check_cache(mgv_glove *g, int from_json)
{
    int64_t rows = mgv_glove_rows(g);
    int dim = mgv_glove_dim(g);
    FUZZ_CHECK(rows >= 1 && dim >= 1);
    FUZZ_CHECK(!mgv_glove_row(g, rows) && !mgv_glove_word(g, -1));
    int64_t pick[3] = {0, -1, rows - 1};
    mgv_tensor *t = mgv_glove_gather(g, 3, pick);
    FUZZ_CHECK(t && t->shape[0] == 3 && t->shape[1] == dim);
    const float *d = mgv_data(t);
    FUZZ_CHECK(!memcmp(d, mgv_glove_row(g, 0), sizeof(float) * (size_t)dim));
    FUZZ_CHECK(!memcmp(d + 2 * dim, mgv_glove_row(g, rows - 1), sizeof(float) * (size_t)dim));
    for (int i = 0; i < dim; i++) FUZZ_CHECK(d[dim + i] == 0.0f);
    mgv_release(t);
    for (int64_t r = 0; r < rows; r++) {
        const char *w = mgv_glove_word(g, r);
        const float *v = mgv_glove_row(g, r);
        FUZZ_CHECK(w && v);
        int64_t found = mgv_glove_lookup(g, w, strlen(w));
        FUZZ_CHECK(found >= 0 && found <= r && !strcmp(mgv_glove_word(g, found), w));
        if (from_json)
            for (int i = 0; i < dim; i++) FUZZ_CHECK(v[i] - v[i] == 0.0f);
        (void)mgv_glove_find(g, w);
    }
}

FUZZ_TARGET(glove)
{
    if (setup() != 0) return 0;
    int cache = size >= 8 && !memcmp(data, "MGVGLOVE", 8);
    if (write_file(cache ? cache_path : json_path, data, size) != 0) return 0;
    if (!cache && mgv_glove_convert(json_path, cache_path, NULL, NULL) != 0) return 0;
    mgv_glove *g = mgv_glove_open(cache_path);
    FUZZ_CHECK(cache || g);
    if (g) check_cache(g, !cache);
    mgv_glove_close(g);
    return 0;
}
