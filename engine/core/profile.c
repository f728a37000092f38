/* profile.c — time by op and by scope (see profile.h). One thread: the ops
 * of a computation run on the caller's thread (workers run kernels only). */
#include "core/profile.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int mgv_profile_on = 0;

static mgv_profile_entry *ent;
static int n_ent, cap_ent;
static double last;                /* the previous mark */
static const char *scope;          /* interned, or NULL */
static char **names;               /* interned scope names, kept for the process */
static int n_names, cap_names;

double mgv_profile_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *intern(const char *s)
{
    if (!s) return NULL;
    for (int i = 0; i < n_names; i++)
        if (strcmp(names[i], s) == 0) return names[i];
    if (n_names == cap_names) {
        int cap = cap_names ? 2 * cap_names : 32;
        char **p = realloc(names, sizeof *p * (size_t)cap);
        if (!p) return NULL;
        names = p;
        cap_names = cap;
    }
    size_t len = strlen(s) + 1;
    char *c = malloc(len);
    if (!c) return NULL;
    memcpy(c, s, len);
    return names[n_names++] = c;
}

void mgv_profile_start(void)
{
    n_ent = 0;
    mgv_profile_on = 1;
    last = mgv_profile_clock();
}

double mgv_profile_stop(void)
{
    mgv_profile_on = 0;
    return mgv_profile_clock() - last;
}

const mgv_profile_entry *mgv_profile_entries(int *n)
{
    *n = n_ent;
    return ent;
}

static void charge(const char *op, const char *sc, int phase, double s)
{
    if (!sc) sc = "";
    for (int i = n_ent; i-- > 0;) {   /* recent entries first: ops repeat */
        mgv_profile_entry *e = &ent[i];
        if (e->phase == phase && e->scope == sc && (e->op == op || strcmp(e->op, op) == 0)) {
            e->calls++;
            e->seconds += s;
            return;
        }
    }
    if (n_ent == cap_ent) {
        int cap = cap_ent ? 2 * cap_ent : 256;
        mgv_profile_entry *p = realloc(ent, sizeof *p * (size_t)cap);
        if (!p) return;   /* out of memory: the time goes uncounted */
        ent = p;
        cap_ent = cap;
    }
    ent[n_ent++] = (mgv_profile_entry){op, sc, phase, 1, s};
}

void mgv_profile_mark(const char *op, int phase)
{
    if (!mgv_profile_on) return;
    double now = mgv_profile_clock();
    charge(op, scope, phase, now - last);
    last = now;
}

void mgv_profile_add(const char *op, const char *sc, int phase, double seconds)
{
    if (!mgv_profile_on) return;
    charge(op, sc, phase, seconds);
    last = mgv_profile_clock();
}

const char *mgv_profile_scope(const char *name)
{
    const char *prev = scope;
    if (mgv_profile_on || !name) scope = intern(name);
    return prev;
}

const char *mgv_profile_current_scope(void) { return scope; }
