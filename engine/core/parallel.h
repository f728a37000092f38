/*
 * parallel.h — the engine's threads: one small pool shared by the kernels
 * that split their work (the fused VIB-MoE, large elementwise loops) and by
 * every SGEMM.
 *
 * OpenBLAS is kept single-threaded and mgv_sgemm splits a product's output
 * over the pool instead, so that there is exactly one set of threads: a
 * threaded OpenBLAS spin-waits after each call and would compete with the
 * pool's elementwise work on the same cores.
 *
 * The thread count comes from $MGV_NUM_THREADS, else $OPENBLAS_NUM_THREADS,
 * else the number of online processors, and can be changed at any time with
 * mgv_set_num_threads. Kernels split work into ranges and keep per-range
 * partial sums in a fixed order, so their results do not depend on it; a
 * product split by mgv_sgemm may round differently in OpenBLAS (README,
 * Determinism).
 */
#ifndef MGV_PARALLEL_H
#define MGV_PARALLEL_H

#include <stdint.h>

#define MGV_MAX_THREADS 64

/* Threads used by the engine (>= 1). */
int mgv_get_num_threads(void);
/* Sets the thread count (clamped to 1..MGV_MAX_THREADS); returns the previous
 * one. Call it from the thread that runs the engine, not from inside a kernel. */
int mgv_set_num_threads(int n);

/* fn(ctx, begin, end, part) on parts of [0, n): at most one part per thread,
 * none shorter than min_part items (so small loops run inline, part 0). The
 * caller's thread does part 0. Nested calls, and calls while another thread
 * uses the pool, run inline. */
typedef void (*mgv_range_fn)(void *ctx, int64_t begin, int64_t end, int part);
void mgv_parallel_for(int64_t n, int64_t min_part, mgv_range_fn fn, void *ctx);
/* How many parts mgv_parallel_for(n, min_part, ...) will use (for per-part
 * scratch buffers). */
int mgv_parallel_parts(int64_t n, int64_t min_part);
/* Rows [0, rows) of Y (leading dimension ldy) set to v[0, n), split over
 * the pool: a bias under a GEMM that then adds with beta = 1. */
void mgv_fill_rows(float *Y, int64_t ldy, int64_t rows, const float *v, int64_t n);

/* Row-major C[M x N] = alpha op(A) op(B) + beta C with op(A) M x K (A^T when
 * ta) and op(B) K x N (B^T when tb): cblas_sgemm, with large products split
 * into row (or column) blocks of C over the pool. Sizes must fit in int. */
void mgv_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
               int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

#endif
