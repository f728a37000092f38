/* fileio.c — whole-file reads and atomic writes (see fileio.h). */
#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

char *mgv_read_file(const char *path, size_t *len, int64_t max, const char *who)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return mgv_fail_null("%s: %s: cannot open: %s", who, path, strerror(errno));
    struct stat st;
    int have_st = fstat(fileno(f), &st) == 0;
    if (have_st && S_ISDIR(st.st_mode)) {
        fclose(f);
        return mgv_fail_null("%s: %s: is a directory", who, path);
    }
    /* one byte more than the file, so that a full buffer means "maybe more" */
    size_t cap = (have_st && S_ISREG(st.st_mode) && st.st_size > 0) ? (size_t)st.st_size + 1
                                                                     : 65536;
    if (max > 0 && (long long)cap > max + 1) cap = (size_t)max + 1;
    char *b = malloc(cap);
    size_t n = 0;
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;                 /* end of file or error */
        if (max > 0 && (long long)n > max) {
            free(b);
            fclose(f);
            return mgv_fail_null("%s: %s: larger than %lld MiB; refusing to read it", who, path,
                                 (long long)max >> 20);
        }
        size_t ncap = cap * 2;
        if (max > 0 && (long long)ncap > max + 1) ncap = (size_t)max + 1;
        char *nb = realloc(b, ncap);
        if (!nb) free(b);
        b = nb;
        cap = ncap;
    }
    if (!b) {
        fclose(f);
        return mgv_fail_null("%s: %s: out of memory reading the file", who, path);
    }
    if (ferror(f)) {
        int e = errno;
        free(b);
        fclose(f);
        return mgv_fail_null("%s: %s: read error: %s", who, path, strerror(e));
    }
    fclose(f);
    b[n] = '\0';                            /* n < cap */
    *len = n;
    return b;
}

int mgv_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) {
            errno = EIO;                    /* no progress */
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The process umask, read without changing it (Linux); 022 when unknown. */
static mode_t current_umask(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    unsigned int m = 022;
    if (fp) {
        char line[256];
        while (fgets(line, sizeof line, fp))
            if (sscanf(line, "Umask: %o", &m) == 1) break;
        fclose(fp);
    }
    return (mode_t)(m & 0777);
}

int mgv_atomic_open(mgv_atomic_file *af, const char *path, const char *who)
{
    memset(af, 0, sizeof *af);
    af->fd = -1;
    af->path = path;
    af->who = who;
    size_t plen = strlen(path);
    af->tmp = malloc(plen + 16);
    if (!af->tmp) return mgv_fail("%s: %s: out of memory", who, path);
    memcpy(af->tmp, path, plen);
    memcpy(af->tmp + plen, ".tmp.XXXXXX", 12);
    af->fd = mkostemp(af->tmp, O_CLOEXEC);
    if (af->fd < 0) {
        int e = errno;
        free(af->tmp);
        af->tmp = NULL;
        return mgv_fail("%s: %s: cannot create a temporary file next to it: %s", who, path,
                        strerror(e));
    }
    /* mkstemp makes the file 0600; give it the usual mode (if this fails
     * the file just stays private) */
    if (fchmod(af->fd, 0666 & ~current_umask()) < 0) errno = 0;
    return 0;
}

FILE *mgv_atomic_stdio(mgv_atomic_file *af)
{
    af->fp = fdopen(af->fd, "wb");
    if (!af->fp)
        return mgv_fail_null("%s: %s: cannot open a stream on the temporary file: %s", af->who,
                             af->path, strerror(errno));
    return af->fp;
}

/* fsync of the directory holding path, so the rename itself is durable. A
 * directory that cannot be opened or synced (EINVAL, EROFS) is no error. */
static int sync_parent_dir(const char *path, const char *who)
{
    const char *slash = strrchr(path, '/');
    char *dir = !slash ? strdup(".") : slash == path ? strdup("/")
                                                     : strndup(path, (size_t)(slash - path));
    if (!dir) return mgv_fail("%s: %s: out of memory", who, path);
    int rc = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS)
            rc = mgv_fail("%s: %s: written, but syncing directory %s failed: %s", who, path, dir,
                          strerror(errno));
        close(fd);
    }
    free(dir);
    return rc;
}

int mgv_atomic_commit(mgv_atomic_file *af, int ok)
{
    const char *who = af->who, *path = af->path;
    int rc = ok ? 0 : -1;
    if (rc == 0 && af->fp && fflush(af->fp) != 0)
        rc = mgv_fail("%s: %s: write failed: %s", who, path, strerror(errno));
    if (rc == 0 && fsync(af->fd) < 0)
        rc = mgv_fail("%s: %s: fsync failed: %s", who, path, strerror(errno));
    int closed = af->fp ? fclose(af->fp) : close(af->fd);
    if (closed != 0 && rc == 0)
        rc = mgv_fail("%s: %s: close failed: %s", who, path, strerror(errno));
    if (rc == 0 && rename(af->tmp, path) < 0)
        rc = mgv_fail("%s: %s: cannot rename the temporary file over it: %s", who, path,
                      strerror(errno));
    if (rc < 0) unlink(af->tmp);
    free(af->tmp);
    af->tmp = NULL;
    af->fp = NULL;
    af->fd = -1;
    if (rc < 0) return -1;
    return sync_parent_dir(path, who);
}

int mgv_write_file_atomic(const char *path, const void *buf, size_t len, const char *who)
{
    mgv_atomic_file af;
    if (mgv_atomic_open(&af, path, who) < 0) return -1;
    int ok = mgv_write_all(af.fd, buf, len) == 0;
    if (!ok) mgv_fail("%s: %s: write failed: %s", who, path, strerror(errno));
    return mgv_atomic_commit(&af, ok);
}
