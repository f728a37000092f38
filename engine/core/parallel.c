/*
 * parallel.c — the engine's thread pool and the split SGEMM (see parallel.h).
 *
 * The pool is deliberately small: a job is one function over [0, n) cut into
 * at most one contiguous part per thread; the calling thread runs part 0 and
 * worker i runs part i. Workers spin briefly after a job (back-to-back
 * kernels are the common case) and then sleep on a condition variable.
 */
#include "core/parallel.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_ROUNDS 4000   /* ~50 us of pause before a thread sleeps */

static pthread_mutex_t job_mu = PTHREAD_MUTEX_INITIALIZER;    /* one job (or resize) at a time */
static pthread_mutex_t sleep_mu = PTHREAD_MUTEX_INITIALIZER;  /* guards the two conditions */
static pthread_cond_t wake_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;

static int n_threads = 0;            /* 0: not initialised yet */
static int n_workers = 0;            /* running worker threads (n_threads - 1) */
static pthread_t workers[MGV_MAX_THREADS];
static _Atomic uint64_t job_gen = 0; /* bumped for every job */
static _Atomic int job_left = 0;     /* workers that have not finished the job */
static _Atomic int stop_workers = 0;
static uint64_t start_gen = 0;       /* job_gen when the workers were started */
static struct {
    mgv_range_fn fn;
    void *ctx;
    int64_t n;
    int parts;
} job;
static _Thread_local int in_pool = 0;   /* inside a part: nested calls run inline */

static void run_part(int p)
{
    int64_t b = job.n * p / job.parts, e = job.n * (p + 1) / job.parts;
    job.fn(job.ctx, b, e, p);
}

static void *worker_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t seen = start_gen;
    in_pool = 1;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&job_gen, memory_order_acquire)) == seen &&
               !atomic_load(&stop_workers)) {
            if (++spins < SPIN_ROUNDS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&sleep_mu);
            while (atomic_load(&job_gen) == seen && !atomic_load(&stop_workers))
                pthread_cond_wait(&wake_cv, &sleep_mu);
            pthread_mutex_unlock(&sleep_mu);
        }
        if (atomic_load(&stop_workers)) break;
        seen = g;
        if (id < job.parts) run_part(id);
        if (atomic_fetch_sub_explicit(&job_left, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&sleep_mu);
            pthread_cond_broadcast(&done_cv);
            pthread_mutex_unlock(&sleep_mu);
        }
    }
    return NULL;
}

/* with job_mu held */
static void stop_pool(void)
{
    if (!n_workers) return;
    pthread_mutex_lock(&sleep_mu);
    atomic_store(&stop_workers, 1);
    pthread_cond_broadcast(&wake_cv);
    pthread_mutex_unlock(&sleep_mu);
    for (int i = 0; i < n_workers; i++) pthread_join(workers[i], NULL);
    atomic_store(&stop_workers, 0);
    n_workers = 0;
}

/* with job_mu held; a thread that cannot be started just means fewer threads */
static void start_pool(int n)
{
    start_gen = atomic_load(&job_gen);
    int started = 0;
    for (int i = 1; i < n; i++) {
        if (pthread_create(&workers[started], NULL, worker_main, (void *)(intptr_t)i) != 0)
            break;
        started++;
    }
    n_workers = started;
    n_threads = started + 1;
}

/* a forked child has none of the parent's threads: start again lazily */
static void after_fork_child(void)
{
    pthread_mutex_init(&job_mu, NULL);
    pthread_mutex_init(&sleep_mu, NULL);
    pthread_cond_init(&wake_cv, NULL);
    pthread_cond_init(&done_cv, NULL);
    n_threads = 0;
    n_workers = 0;
    atomic_store(&stop_workers, 0);
}

static int env_threads(const char *name)
{
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    long v = strtol(s, &end, 10);
    return (*end == 0 && v > 0) ? (int)(v > MGV_MAX_THREADS ? MGV_MAX_THREADS : v) : 0;
}

static void init_locked(void)
{
    if (n_threads) return;
    static int atfork_done = 0;
    if (!atfork_done) {
        pthread_atfork(NULL, NULL, after_fork_child);
        atfork_done = 1;
    }
    int n = env_threads("MGV_NUM_THREADS");
    if (!n) n = env_threads("OPENBLAS_NUM_THREADS");
    if (!n) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c < 1 ? 1 : (c > MGV_MAX_THREADS ? MGV_MAX_THREADS : (int)c);
    }
    openblas_set_num_threads(1);   /* the pool splits products itself */
    start_pool(n);
}

int mgv_get_num_threads(void)
{
    if (!n_threads) {
        pthread_mutex_lock(&job_mu);
        init_locked();
        pthread_mutex_unlock(&job_mu);
    }
    return n_threads;
}

int mgv_set_num_threads(int n)
{
    if (n < 1) n = 1;
    if (n > MGV_MAX_THREADS) n = MGV_MAX_THREADS;
    pthread_mutex_lock(&job_mu);
    init_locked();
    int prev = n_threads;
    if (n != n_threads) {
        stop_pool();
        start_pool(n);
    }
    pthread_mutex_unlock(&job_mu);
    return prev;
}

int mgv_parallel_parts(int64_t n, int64_t min_part)
{
    int nt = mgv_get_num_threads();
    if (in_pool || nt < 2) return 1;
    if (min_part < 1) min_part = 1;
    int64_t p = n / min_part;
    return p < 1 ? 1 : (p < nt ? (int)p : nt);
}

void mgv_parallel_for(int64_t n, int64_t min_part, mgv_range_fn fn, void *ctx)
{
    if (n <= 0) return;
    int parts = mgv_parallel_parts(n, min_part);
    if (parts < 2 || pthread_mutex_trylock(&job_mu) != 0) {
        fn(ctx, 0, n, 0);
        return;
    }
    if (parts > n_threads) parts = n_threads;   /* fewer workers started than asked */
    if (parts < 2) {
        pthread_mutex_unlock(&job_mu);
        fn(ctx, 0, n, 0);
        return;
    }
    job.fn = fn;
    job.ctx = ctx;
    job.n = n;
    job.parts = parts;
    atomic_store(&job_left, n_workers);
    pthread_mutex_lock(&sleep_mu);
    atomic_fetch_add_explicit(&job_gen, 1, memory_order_release);
    pthread_cond_broadcast(&wake_cv);
    pthread_mutex_unlock(&sleep_mu);
    in_pool = 1;
    run_part(0);
    in_pool = 0;
    for (int spins = 0; atomic_load_explicit(&job_left, memory_order_acquire) > 0; spins++) {
        if (spins < SPIN_ROUNDS) {
            cpu_relax();
            continue;
        }
        pthread_mutex_lock(&sleep_mu);
        while (atomic_load(&job_left) > 0) pthread_cond_wait(&done_cv, &sleep_mu);
        pthread_mutex_unlock(&sleep_mu);
    }
    pthread_mutex_unlock(&job_mu);
}

typedef struct {
    float *Y;
    int64_t ldy, n;
    const float *v;
} fill_job;

static void fill_part(void *ctx, int64_t b, int64_t e, int part)
{
    const fill_job *j = ctx;
    (void)part;
    for (int64_t r = b; r < e; r++) memcpy(j->Y + r * j->ldy, j->v, sizeof(float) * (size_t)j->n);
}

void mgv_fill_rows(float *Y, int64_t ldy, int64_t rows, const float *v, int64_t n)
{
    fill_job j = {Y, ldy, n, v};
    mgv_parallel_for(rows, 65536 / (n ? n : 1) + 1, fill_part, &j);
}

/* ---- SGEMM ------------------------------------------------------------------ */

typedef struct {
    int ta, tb, by_rows;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
} gemm_job;

static void sgemm1(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

/* rows [b, e) of C (op(A) rows), or columns [b, e) of C (op(B) columns) */
static void gemm_part(void *ctx, int64_t b, int64_t e, int part)
{
    const gemm_job *j = ctx;
    (void)part;
    if (b >= e) return;
    if (j->by_rows)
        sgemm1(j->ta, j->tb, e - b, j->N, j->K, j->alpha, j->ta ? j->A + b : j->A + b * j->lda,
               j->lda, j->B, j->ldb, j->beta, j->C + b * j->ldc, j->ldc);
    else
        sgemm1(j->ta, j->tb, j->M, e - b, j->K, j->alpha, j->A, j->lda,
               j->tb ? j->B + b * j->ldb : j->B + b, j->ldb, j->beta, j->C + b, j->ldc);
}

void mgv_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
               int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {   /* an empty sum: C = beta C */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];
        return;
    }
    /* below a few MFLOP handing work to another thread costs more than it saves */
    double work = (double)M * (double)N * (double)K;
    if (work < 4e6 || mgv_get_num_threads() < 2) {
        sgemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    gemm_job j = {ta, tb, M >= N, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C};
    int64_t other = j.by_rows ? N : M;
    int64_t min_part = (int64_t)(1e6 / ((double)other * (double)K)) + 1;
    if (min_part < 16) min_part = 16;
    mgv_parallel_for(j.by_rows ? M : N, min_part, gemm_part, &j);
}
