/*
 * profile.h — where the time of a computation goes, by op and by scope
 * (mgv.profile). Off by default; when off an op pays one test of a global.
 *
 * Every op marks its end (MGV_PROFILE_OP); the time since the previous mark
 * is charged to that op, in the scope that was current (a layer, the head),
 * so ops run inside another op's mark (the fused layers) keep their own
 * share and the outer one gets the rest. Backward runs node by node: each
 * node's backward function is timed whole and charged to "<op> backward" in
 * the scope it was recorded in; an optimiser step is charged to its kind.
 * What passes between the last mark and the stop (glue, the caller's code)
 * is the gap that mgv_profile_stop reports as not in any op.
 */
#ifndef MGV_PROFILE_H
#define MGV_PROFILE_H

#include <stdint.h>

/* nonzero while a profile runs (read by MGV_PROFILE_OP) */
extern int mgv_profile_on;

enum { MGV_PROF_FORWARD, MGV_PROF_BACKWARD, MGV_PROF_UPDATE };

typedef struct mgv_profile_entry {
    const char *op;      /* the op's name */
    const char *scope;   /* the scope it ran in ("" outside any) */
    int phase;           /* MGV_PROF_* */
    int64_t calls;
    double seconds;
} mgv_profile_entry;

/* Clears the counters and starts timing. */
void mgv_profile_start(void);
/* Stops timing; returns the seconds since the last mark (not in any op). */
double mgv_profile_stop(void);
/* The entries so far (valid until the next start), *n of them. */
const mgv_profile_entry *mgv_profile_entries(int *n);

/* Charges the time since the previous mark to op in the current scope. */
void mgv_profile_mark(const char *op, int phase);
/* Charges seconds measured by the caller (a whole backward node) and
 * restarts the gap from now. */
void mgv_profile_add(const char *op, const char *scope, int phase, double seconds);
/* Sets the current scope (NULL: none) and returns the previous one; the
 * returned pointer stays valid for the process (names are interned). */
const char *mgv_profile_scope(const char *name);
/* The current scope, interned, or NULL. */
const char *mgv_profile_current_scope(void);
/* Monotonic seconds. */
double mgv_profile_clock(void);

#define MGV_PROFILE_OP(op)                                         \
    do {                                                           \
        if (mgv_profile_on) mgv_profile_mark((op), MGV_PROF_FORWARD); \
    } while (0)

/* The end of an op that recorded no node (grad off or no input needs it);
 * a recorded op is marked by mgv_record. Needs core/autograd.h. */
#define MGV_PROFILE_UNTAPED(op, n, inputs)                                 \
    do {                                                                   \
        if (mgv_profile_on && !mgv_needs_grad((n), (inputs)))              \
            mgv_profile_mark((op), MGV_PROF_FORWARD);                      \
    } while (0)

#endif
