/* dist.c — MPI as data-parallel ranks (see dist.h); without MGV_MPI one rank. */
#include "core/dist.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/parallel.h"
#include "core/profile.h"

static double comm_bytes, comm_seconds;

void mgv_dist_stats(double *bytes, double *seconds)
{
    if (bytes) *bytes = comm_bytes;
    if (seconds) *seconds = comm_seconds;
}

void mgv_dist_split(int64_t n, int64_t *first, int64_t *count)
{
    int64_t r = mgv_dist_rank(), p = mgv_dist_size();
    *first = n * r / p;
    *count = n * (r + 1) / p - *first;
}

#ifdef MGV_MPI
#include <mpi.h>

static int started, rank_, size_ = 1, local_size_ = 1;

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

static void finish(void)
{
#if defined(__SANITIZE_ADDRESS__)
    /* LeakSanitizer checks now, while Open MPI's memory is still reachable:
     * MPI_Finalize leaves some of it unfreed, from components it has unloaded
     * (no names to suppress), and after this check the one at exit is off */
    __lsan_do_leak_check();
#endif
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

/* launched by mpirun/mpiexec (Open MPI, MPICH's hydra, PMIx launchers) */
static int under_launcher(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

static void start(void)
{
    if (started) return;
    started = 1;
    if (!under_launcher()) return;
    int provided, inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        /* only the thread that started MPI calls it (the engine's pool never does) */
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return;
        atexit(finish);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
        MPI_Comm_size(local, &local_size_);
        MPI_Comm_free(&local);
    }
    /* ranks sharing a machine share its cores, unless the user chose */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (local_size_ > 1 && cores > 0 && !getenv("MGV_NUM_THREADS") && !getenv("OPENBLAS_NUM_THREADS"))
        mgv_set_num_threads(cores / local_size_ > 1 ? (int)(cores / local_size_) : 1);
}

int mgv_dist_available(void) { return 1; }
int mgv_dist_rank(void) { start(); return rank_; }
int mgv_dist_size(void) { start(); return size_; }
int mgv_dist_local_size(void) { start(); return local_size_; }

static int check(int rc, const char *what)
{
    if (rc == MPI_SUCCESS) return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return mgv_fail("dist: %s failed: %s", what, msg);
}

/* MPI counts are int: long buffers go in pieces */
#define PIECE ((int64_t)1 << 28)

static int reduce_typed(void *buf, int64_t n, MPI_Datatype type, size_t esize, mgv_dist_op op)
{
    if (mgv_dist_size() == 1) return 0;
    double t0 = mgv_profile_clock();
    MPI_Op mop = op == MGV_DIST_MAX ? MPI_MAX : MPI_SUM;
    for (int64_t i = 0; i < n; i += PIECE) {
        int c = (int)(n - i < PIECE ? n - i : PIECE);
        if (check(MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)i * esize, c, type, mop,
                                MPI_COMM_WORLD), "allreduce") < 0)
            return -1;
    }
    comm_bytes += (double)n * (double)esize;
    comm_seconds += mgv_profile_clock() - t0;
    return 0;
}

int mgv_dist_allreduce(float *buf, int64_t n, mgv_dist_op op)
{
    return reduce_typed(buf, n, MPI_FLOAT, sizeof(float), op);
}

int mgv_dist_allreduce_f64(double *buf, int64_t n, mgv_dist_op op)
{
    return reduce_typed(buf, n, MPI_DOUBLE, sizeof(double), op);
}

int mgv_dist_broadcast(float *buf, int64_t n, int root)
{
    if (root < 0 || root >= mgv_dist_size())
        return mgv_fail("dist: broadcast root %d is not a rank (0..%d)", root, mgv_dist_size() - 1);
    if (mgv_dist_size() == 1) return 0;
    double t0 = mgv_profile_clock();
    for (int64_t i = 0; i < n; i += PIECE) {
        int c = (int)(n - i < PIECE ? n - i : PIECE);
        if (check(MPI_Bcast(buf + i, c, MPI_FLOAT, root, MPI_COMM_WORLD), "broadcast") < 0)
            return -1;
    }
    comm_bytes += (double)n * sizeof(float);
    comm_seconds += mgv_profile_clock() - t0;
    return 0;
}

int mgv_dist_barrier(void)
{
    if (mgv_dist_size() == 1) return 0;
    return check(MPI_Barrier(MPI_COMM_WORLD), "barrier");
}

int mgv_dist_any(int flag)
{
    int v = flag != 0;
    if (mgv_dist_size() == 1) return v;
    if (check(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "allreduce") < 0)
        return -1;
    return v;
}

int mgv_dist_allgatherv(const float *send, const int64_t *counts, float *recv)
{
    int p = mgv_dist_size();
    if (p == 1) {
        if (counts[0] > 0 && recv != send) memmove(recv, send, sizeof(float) * (size_t)counts[0]);
        return 0;
    }
    int *cnt = malloc(sizeof(int) * (size_t)p * 2), *off = cnt ? cnt + p : NULL;
    if (!cnt) return mgv_fail("dist: out of memory");
    int64_t total = 0;
    for (int r = 0; r < p; r++) {
        if (counts[r] > INT32_MAX || total > INT32_MAX) {
            free(cnt);
            return mgv_fail("dist: allgather of %lld floats is too large", (long long)total);
        }
        cnt[r] = (int)counts[r];
        off[r] = (int)total;
        total += counts[r];
    }
    double t0 = mgv_profile_clock();
    int rc = check(MPI_Allgatherv(send, cnt[mgv_dist_rank()], MPI_FLOAT, recv, cnt, off, MPI_FLOAT,
                                  MPI_COMM_WORLD), "allgather");
    comm_bytes += (double)total * sizeof(float);
    comm_seconds += mgv_profile_clock() - t0;
    free(cnt);
    return rc;
}

struct mgv_dist_sums {
    int n, max;
    int64_t bytes;
    double seconds;
    MPI_Request req[];
};

mgv_dist_sums *mgv_dist_sums_new(int max_sums)
{
    mgv_dist_sums *s = calloc(1, sizeof *s + sizeof(MPI_Request) * (size_t)(max_sums + 1));
    if (!s) mgv_fail("dist: out of memory");
    else s->max = max_sums;
    return s;
}

int mgv_dist_sum_start(mgv_dist_sums *s, float *buf, int64_t n)
{
    if (mgv_dist_size() == 1) return 0;
    if (s->n >= s->max || n > PIECE) return mgv_fail("dist: too many or too large sums in flight");
    double t0 = mgv_profile_clock();
    int rc = check(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                                  &s->req[s->n]), "allreduce");
    if (rc == 0) s->n++;
    s->bytes += n * (int64_t)sizeof(float);
    s->seconds += mgv_profile_clock() - t0;
    return rc;
}

int mgv_dist_sum_wait(mgv_dist_sums *s)
{
    double t0 = mgv_profile_clock();
    int rc = 0;
    /* one by one: MPICH declares MPI_Waitall's statuses as an array, which
     * GCC then checks against MPI_STATUSES_IGNORE, (MPI_Status *)1 */
    for (int i = 0; i < s->n; i++)
        if (check(MPI_Wait(&s->req[i], MPI_STATUS_IGNORE), "allreduce") < 0) rc = -1;
    comm_bytes += (double)s->bytes;
    comm_seconds += s->seconds + mgv_profile_clock() - t0;
    free(s);
    return rc;
}

#else   /* one rank */

int mgv_dist_available(void) { return 0; }
int mgv_dist_rank(void) { return 0; }
int mgv_dist_size(void) { return 1; }
int mgv_dist_local_size(void) { return 1; }
int mgv_dist_allreduce(float *buf, int64_t n, mgv_dist_op op) { return 0; }
int mgv_dist_allreduce_f64(double *buf, int64_t n, mgv_dist_op op) { return 0; }
int mgv_dist_barrier(void) { return 0; }
int mgv_dist_any(int flag) { return flag != 0; }

int mgv_dist_broadcast(float *buf, int64_t n, int root)
{
    return root == 0 ? 0 : mgv_fail("dist: broadcast root %d is not a rank (0..0)", root);
}

int mgv_dist_allgatherv(const float *send, const int64_t *counts, float *recv)
{
    if (counts[0] > 0 && recv != send) memmove(recv, send, sizeof(float) * (size_t)counts[0]);
    return 0;
}

struct mgv_dist_sums {
    int unused;
};

mgv_dist_sums *mgv_dist_sums_new(int max_sums)
{
    mgv_dist_sums *s = calloc(1, sizeof *s);
    if (!s) mgv_fail("dist: out of memory");
    return s;
}

int mgv_dist_sum_start(mgv_dist_sums *s, float *buf, int64_t n) { return 0; }

int mgv_dist_sum_wait(mgv_dist_sums *s)
{
    free(s);
    return 0;
}

#endif
