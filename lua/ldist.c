/*
 * ldist.c — mgv.dist: the ranks of a data-parallel run (engine/core/dist.h).
 * Without MPI, or outside mpirun, one rank and every call the identity.
 */
#include <signal.h>
#include <string.h>

#define LMGV_INTERNAL
#include "lmgv.h"

/* the float data of t, changed in place: contiguous and writable */
static float *inplace_data(lua_State *L, int arg, const char *op, int64_t *n)
{
    mgv_tensor *t = lmgv_check(L, arg);
    lmgv_check_writable(L, t, op);
    if (!mgv_is_contiguous(t)) luaL_error(L, "%s: the tensor must be contiguous (t:contiguous())", op);
    *n = mgv_numel(t);
    return mgv_data(t);
}

static int l_rank(lua_State *L) { lua_pushinteger(L, mgv_dist_rank()); return 1; }
static int l_size(lua_State *L) { lua_pushinteger(L, mgv_dist_size()); return 1; }

/* mgv.dist.allreduce(t [, "sum"|"mean"|"max"]) -> t, reduced in place */
static int l_allreduce(lua_State *L)
{
    static const char *const ops[] = {"sum", "mean", "max", NULL};
    int64_t n;
    float *d = inplace_data(L, 1, "mgv.dist.allreduce", &n);
    int op = luaL_checkoption(L, 2, "sum", ops);
    if (mgv_dist_allreduce(d, n, op == 2 ? MGV_DIST_MAX : MGV_DIST_SUM) < 0) return lmgv_error(L);
    if (op == 1)
        for (int64_t i = 0; i < n; i++) d[i] /= (float)mgv_dist_size();
    lua_settop(L, 1);
    return 1;
}

/* mgv.dist.broadcast(t, root) -> t, root's values on every rank */
static int l_broadcast(lua_State *L)
{
    int64_t n;
    float *d = inplace_data(L, 1, "mgv.dist.broadcast", &n);
    if (mgv_dist_broadcast(d, n, (int)luaL_optinteger(L, 2, 0)) < 0) return lmgv_error(L);
    lua_settop(L, 1);
    return 1;
}

static int l_barrier(lua_State *L)
{
    if (mgv_dist_barrier() < 0) return lmgv_error(L);
    return 0;
}

/*
 * Stopping together. A rank that stopped alone at Ctrl-C would leave the
 * others waiting in a collective, and mpirun, when it is interrupted, sends
 * its ranks SIGTERM (then SIGKILL a second later): while deferred, SIGINT and
 * SIGTERM only note a request, which the ranks agree on at a point every rank
 * reaches (mgv.dist.stop_requested). A second signal of the same kind acts as
 * it would have (SA_RESETHAND): a rank stuck in a step can still be killed.
 */
static volatile sig_atomic_t stop_noted;
static int deferring;
static struct sigaction old_int, old_term;

static void note_stop(int sig)
{
    (void)sig;
    stop_noted = 1;
}

/* mgv.dist.defer_stop(on): start or end deferring SIGINT and SIGTERM */
static int l_defer_stop(lua_State *L)
{
    int on = lua_toboolean(L, 1);
    if (on && !deferring) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sigemptyset(&sa.sa_mask);
        sa.sa_handler = note_stop;
        sa.sa_flags = SA_RESETHAND | SA_RESTART;
        stop_noted = 0;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        deferring = 1;
    } else if (!on && deferring) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        deferring = 0;
    }
    return 0;
}

/* mgv.dist.stop_requested() -> true on every rank when any rank noted a
 * stop since defer_stop(true); a collective: every rank calls it as often */
static int l_stop_requested(lua_State *L)
{
    int any = mgv_dist_any(stop_noted);
    if (any < 0) return lmgv_error(L);
    lua_pushboolean(L, any);
    return 1;
}

/* mgv.dist.split(n) -> first, count: this rank's share of 1..n */
static int l_split(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0, 1, "a count >= 0");
    int64_t first, count;
    mgv_dist_split(n, &first, &count);
    lua_pushinteger(L, first + 1);
    lua_pushinteger(L, count);
    return 2;
}

/* mgv.dist.stats() -> {bytes, seconds}: collectives so far */
static int l_stats(lua_State *L)
{
    double bytes, seconds;
    mgv_dist_stats(&bytes, &seconds);
    lua_createtable(L, 0, 2);
    lmgv_set_number(L, "bytes", bytes);
    lmgv_set_number(L, "seconds", seconds);
    return 1;
}

void lmgv_open_dist(lua_State *L, int module)
{
    static const luaL_Reg f[] = {{"rank", l_rank}, {"size", l_size}, {"allreduce", l_allreduce},
                                 {"broadcast", l_broadcast}, {"barrier", l_barrier},
                                 {"split", l_split}, {"stats", l_stats},
                                 {"defer_stop", l_defer_stop}, {"stop_requested", l_stop_requested},
                                 {NULL, NULL}};
    lmgv_new_lib(L, module, "dist", f);
    lua_getfield(L, module, "dist");
    lua_pushboolean(L, mgv_dist_available());
    lua_setfield(L, -2, "mpi");
    lua_pop(L, 1);
    mgv_dist_size();   /* under mpirun: MPI starts now, with the threads per rank */
}
