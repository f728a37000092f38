/*
 * fileio.h — whole-file reads and atomic file writes shared by the loaders
 * and writers (MNRE, images, safetensors checkpoints, the GloVe cache).
 *
 * Messages follow error.h and start with "<who>: <path>: ", where who names
 * the caller ("mnre", "image", "safetensors", ...).
 *
 * An atomic write goes to a temp file next to the target (path + ".tmp.XXXXXX",
 * mode 0666 & ~umask), then fsync, rename over the target and fsync of the
 * directory: readers see the old file or the whole new one, never half.
 *
 *   mgv_atomic_file af;
 *   if (mgv_atomic_open(&af, path, "who") < 0) return -1;
 *   int ok = mgv_write_all(af.fd, buf, len) == 0;   (or write through mgv_atomic_stdio)
 *   if (!ok) mgv_fail("who: %s: write failed: %s", path, strerror(errno));
 *   return mgv_atomic_commit(&af, ok);
 */
#ifndef MGV_FILEIO_H
#define MGV_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Reads the file at path into a malloc'd buffer (with a NUL after the last
 * byte, not counted in *len). max > 0 refuses files larger than max bytes.
 * NULL with a message on failure. */
char *mgv_read_file(const char *path, size_t *len, int64_t max, const char *who);

/* Writes all len bytes to fd (retrying short writes and EINTR); 0, or -1
 * with errno set (no message). */
int mgv_write_all(int fd, const void *buf, size_t len);

typedef struct mgv_atomic_file {
    int fd;                 /* the temp file: write the contents here ... */
    FILE *fp;               /* ... or through this, after mgv_atomic_stdio */
    char *tmp;              /* its name */
    const char *path, *who; /* borrowed: must outlive the commit */
} mgv_atomic_file;

/* Creates the temp file next to path; -1 with a message when it cannot. */
int mgv_atomic_open(mgv_atomic_file *af, const char *path, const char *who);
/* A stdio stream over af->fd (for buffered writes); NULL with a message.
 * The commit flushes and closes it. */
FILE *mgv_atomic_stdio(mgv_atomic_file *af);
/*
 * ok: fsync, close, rename over the target, fsync the directory (file systems
 * that cannot sync directories are fine); 0, or -1 with a message. Not ok
 * (the caller has set the message): close and remove the temp file; -1.
 * Either way af is finished.
 */
int mgv_atomic_commit(mgv_atomic_file *af, int ok);

/* The whole of buf as the new contents of path, atomically. */
int mgv_write_file_atomic(const char *path, const void *buf, size_t len, const char *who);

#endif
