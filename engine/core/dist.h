/*
 * dist.h — data-parallel ranks over MPI, a thin layer: who am I, how many
 * are we, and collectives on float buffers. Built without MPI (make MPI=0)
 * every call is the one-rank identity, so callers never need an #ifdef.
 *
 * MPI starts lazily on the first call, and only when the process was started
 * by an MPI launcher (mpirun/mpiexec set OMPI_COMM_WORLD_SIZE, PMI_SIZE or
 * PMIX_RANK); otherwise the process is one rank and no MPI code runs.
 * MPI_Finalize runs at exit. Collectives must be called by every rank in the
 * same order, from the thread that called the first one.
 */
#ifndef MGV_DIST_H
#define MGV_DIST_H

#include <stdint.h>

typedef enum { MGV_DIST_SUM = 0, MGV_DIST_MAX = 1 } mgv_dist_op;

/* 1 when built with MPI (whether or not this process runs under a launcher). */
int mgv_dist_available(void);
int mgv_dist_rank(void);
int mgv_dist_size(void);
/* Ranks on this machine, and this rank's index among them (threads per rank). */
int mgv_dist_local_size(void);

/* In place on every rank. -1 with a message on failure. */
int mgv_dist_allreduce(float *buf, int64_t n, mgv_dist_op op);
int mgv_dist_allreduce_f64(double *buf, int64_t n, mgv_dist_op op);
int mgv_dist_broadcast(float *buf, int64_t n, int root);
int mgv_dist_barrier(void);
/* 1 on every rank when flag is non-zero on any rank, else 0 (one int sent:
 * cheap enough to agree on a stop request once per step); -1 on failure. */
int mgv_dist_any(int flag);
/* Rank r contributes counts[r] floats (send); recv gets them in rank order. */
int mgv_dist_allgatherv(const float *send, const int64_t *counts, float *recv);

/* Sums in flight: mgv_dist_sum_start begins summing buf[0..n) over the
 * ranks in place and returns at once (every rank must start the same sums in
 * the same order); mgv_dist_sum_wait returns when all started ones are done,
 * then frees s. buf must stay untouched until then. */
typedef struct mgv_dist_sums mgv_dist_sums;
mgv_dist_sums *mgv_dist_sums_new(int max_sums);
int mgv_dist_sum_start(mgv_dist_sums *s, float *buf, int64_t n);
int mgv_dist_sum_wait(mgv_dist_sums *s);

/* Rows [*first, *first + *count) of n rows that this rank owns: contiguous,
 * in rank order, sizes differing by at most one. */
void mgv_dist_split(int64_t n, int64_t *first, int64_t *count);

/* Bytes and seconds spent in collectives since the start (measurements). */
void mgv_dist_stats(double *bytes, double *seconds);

#endif
