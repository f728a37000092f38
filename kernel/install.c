/*
 * install.c — `mgv-kernel install`: writes the kernelspec directory
 * <data dir>/kernels/mgv with kernel.json and two logos drawn here with the
 * engine's plot canvas (so nothing binary is kept in the sources).
 *
 *   --user          $JUPYTER_DATA_DIR, else $XDG_DATA_HOME/jupyter, else
 *                   ~/.local/share/jupyter (what `jupyter --data-dir` says)
 *   --prefix DIR    DIR/share/jupyter
 *   (neither)       /usr/local/share/jupyter (system-wide)
 *   --name NAME     the kernelspec's name (default mgv)
 *   --display-name  the name front ends show (default "mgv (Lua)")
 *   --interrupt-mode message|signal   how front ends interrupt (default
 *                   message: an interrupt_request on the control socket;
 *                   the kernel also handles SIGINT either way)
 *   --executable PATH  the absolute path kernel.json's argv names (default:
 *                   this very executable); `make install` passes the
 *                   installed path, which differs from the file's path
 *                   while DESTDIR stages it
 */
#include "kernel.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "formats/plot.h"

/* mkdir -p */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return mgv_fail("install: path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return mgv_fail("install: cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return mgv_fail("install: cannot create %s: %s", buf, strerror(errno));
    return 0;
}

/* The logo: "mgv" over four expert bars of the plot palette, on dark blue. */
static int write_logo(const char *dir, int size)
{
    mgv_canvas *c = mgv_canvas_new(size, size, 0x1B2A47);
    if (!c) return -1;
    int s = size >= 64 ? 3 : 1;
    const char *text = "mgv";
    int tw = mgv_text_width(text, s);
    /* lowercase letters span font rows 2..8 */
    int ty = size * 2 / 5 - (7 * s) / 2 - 2 * s;
    mgv_canvas_text(c, (size - tw) / 2, ty, text, s, 0xFFFFFF);
    int bars = 4, bw = size / 8, gap = size / 16, total = bars * bw + (bars - 1) * gap;
    int base = size - size / 8;
    static const int heights[4] = {3, 5, 2, 4};
    for (int i = 0; i < bars; i++) {
        int h = heights[i] * size / 20;
        mgv_canvas_fill_rect(c, (size - total) / 2 + i * (bw + gap), base - h, bw, h, mgv_palette(i));
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/logo-%dx%d.png", dir, size, size);
    int rc = mgv_canvas_save(c, path);
    mgv_canvas_free(c);
    return rc;
}

static int write_spec(const char *dir, const char *exe, const char *display, const char *mode)
{
    json_t *j = json_pack("{s:[s, s, s], s:s, s:s, s:s, s:{s:b}}", "argv", exe, "-f",
                          "{connection_file}", "display_name", display, "language", "lua",
                          "interrupt_mode", mode, "metadata", "debugger", 0);
    if (!j) return mgv_fail("install: cannot build kernel.json");
    char path[PATH_MAX], tmp[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/kernel.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = json_dump_file(j, tmp, JSON_INDENT(2));
    json_decref(j);
    if (rc != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return mgv_fail("install: cannot write %s", path);
    }
    return 0;
}

int kinstall_main(int argc, char **argv)
{
    const char *prefix = NULL, *name = KERNEL_NAME, *display = KERNEL_DISPLAY_NAME;
    const char *mode = "message", *exe_opt = NULL;
    int user = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--user") == 0) user = 1;
        else if (strcmp(a, "--prefix") == 0 && i + 1 < argc) prefix = argv[++i];
        else if (strcmp(a, "--name") == 0 && i + 1 < argc) name = argv[++i];
        else if (strcmp(a, "--display-name") == 0 && i + 1 < argc) display = argv[++i];
        else if (strcmp(a, "--interrupt-mode") == 0 && i + 1 < argc) mode = argv[++i];
        else if (strcmp(a, "--executable") == 0 && i + 1 < argc) exe_opt = argv[++i];
        else {
            fprintf(stderr, "mgv-kernel install: unknown or incomplete option '%s'\n"
                            "usage: mgv-kernel install [--user | --prefix DIR] [--name NAME] "
                            "[--display-name TEXT] [--interrupt-mode message|signal] "
                            "[--executable PATH]\n", a);
            return 2;
        }
    }
    if (strcmp(mode, "message") != 0 && strcmp(mode, "signal") != 0) {
        fprintf(stderr, "mgv-kernel install: --interrupt-mode must be message or signal\n");
        return 2;
    }
    if (!*name || strchr(name, '/')) {
        fprintf(stderr, "mgv-kernel install: bad kernel name '%s'\n", name);
        return 2;
    }
    if (exe_opt && exe_opt[0] != '/') {
        fprintf(stderr, "mgv-kernel install: --executable needs an absolute path, not '%s'\n", exe_opt);
        return 2;
    }
    if (user && prefix) {
        fprintf(stderr, "mgv-kernel install: --user and --prefix exclude each other\n");
        return 2;
    }
    char data[PATH_MAX];
    if (prefix) {
        snprintf(data, sizeof data, "%s/share/jupyter", prefix);
    } else if (user) {
        const char *jd = getenv("JUPYTER_DATA_DIR"), *xdg = getenv("XDG_DATA_HOME");
        const char *home = getenv("HOME");
        if (jd && *jd) snprintf(data, sizeof data, "%s", jd);
        else if (xdg && *xdg) snprintf(data, sizeof data, "%s/jupyter", xdg);
        else if (home && *home) snprintf(data, sizeof data, "%s/.local/share/jupyter", home);
        else {
            fprintf(stderr, "mgv-kernel install: --user needs HOME\n");
            return 1;
        }
    } else {
        snprintf(data, sizeof data, "/usr/local/share/jupyter");
    }
    char dir[PATH_MAX], exe[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/kernels/%s", data, name) >= (int)sizeof dir) {
        fprintf(stderr, "mgv-kernel install: path too long\n");
        return 1;
    }
    if (exe_opt) {
        if (snprintf(exe, sizeof exe, "%s", exe_opt) >= (int)sizeof exe) {
            fprintf(stderr, "mgv-kernel install: path too long\n");
            return 1;
        }
    } else {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) {
            fprintf(stderr, "mgv-kernel install: cannot find this executable's path\n");
            return 1;
        }
        exe[n] = '\0';
    }
    if (make_dirs(dir) != 0 || write_spec(dir, exe, display, mode) != 0 ||
        write_logo(dir, 32) != 0 || write_logo(dir, 64) != 0) {
        fprintf(stderr, "mgv-kernel %s\n", mgv_last_error());
        return 1;
    }
    printf("installed the kernelspec %s in %s\n", name, dir);
    return 0;
}
