/*
 * sgemm_rate.c — the SGEMM roofline for the benchmark (issue 6): times bare
 * cblas_sgemm on the dominant shapes of the MG-VMoE training step.
 *
 *   cc -O2 scripts/sgemm_rate.c $(pkg-config --cflags --libs openblas) -lpthread -o sgemm_rate
 *   ./sgemm_rate [--threads N] [--split] [--reps R] B L P d K
 *
 * For the T = B*(L+P) text and image tokens of a batch, stacked as the
 * engine does, it times the forward product Y[T x 2Kd] = X[T x d] W^T and the
 * weight gradient dW[2Kd x d] = dY^T X, best of R runs each, and prints
 * sgemm_gflops=X over both. By default OpenBLAS runs its own N threads;
 * with --split OpenBLAS is single-threaded and N pthreads each multiply a
 * block of the rows or columns of the output (what the engine's mgv_sgemm
 * does).
 */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc;
    const float *A, *B;
    float *C;
} job;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *run(void *p)
{
    job *j = p;
    cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans,
                j->tb ? CblasTrans : CblasNoTrans, j->M, j->N, j->K, 1.0f, j->A, j->lda, j->B,
                j->ldb, 0.0f, j->C, j->ldc);
    return NULL;
}

/* C[M x N] = op(A) op(B), row-major; with split, the larger of M and N is cut
 * into nt blocks, one per thread (as mgv_sgemm does) */
static double timed(int split, int nt, job j)
{
    double t0 = now();
    if (!split || nt < 2) {
        run(&j);
        return now() - t0;
    }
    pthread_t th[64];
    job parts[64];
    int by_rows = j.M >= j.N, n = by_rows ? j.M : j.N, first = 0;
    for (int i = 0; i < nt; i++) {
        int len = n / nt + (i < n % nt);
        parts[i] = j;
        if (by_rows) {
            parts[i].M = len;
            parts[i].A = j.ta ? j.A + first : j.A + (size_t)first * j.lda;
            parts[i].C = j.C + (size_t)first * j.ldc;
        } else {
            parts[i].N = len;
            parts[i].B = j.tb ? j.B + (size_t)first * j.ldb : j.B + first;
            parts[i].C = j.C + first;
        }
        first += len;
        if (i) pthread_create(&th[i], NULL, run, &parts[i]);
    }
    run(&parts[0]);
    for (int i = 1; i < nt; i++) pthread_join(th[i], NULL);
    return now() - t0;
}

int main(int argc, char **argv)
{
    int nt = 2, split = 0, reps = 5, a = 1;
    for (; a < argc && argv[a][0] == '-' && argv[a][1] == '-'; a++) {
        if (!strcmp(argv[a], "--threads") && a + 1 < argc) nt = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--split")) split = 1;
        else if (!strcmp(argv[a], "--reps") && a + 1 < argc) reps = atoi(argv[++a]);
        else break;
    }
    if (argc - a != 5 || nt < 1 || nt > 64) {
        fprintf(stderr, "usage: sgemm_rate [--threads N] [--split] [--reps R] B L P d K\n");
        return 2;
    }
    int B = atoi(argv[a]), L = atoi(argv[a + 1]), P = atoi(argv[a + 2]);
    int d = atoi(argv[a + 3]), K = atoi(argv[a + 4]);
    openblas_set_num_threads(split ? 1 : nt);
    int O = 2 * K * d;
    double flops = 0, secs = 0;
    int Ts[1] = {B * (L + P)};
    for (int m = 0; m < 1; m++) {
        int T = Ts[m];
        float *X = malloc(sizeof(float) * (size_t)T * d);
        float *W = malloc(sizeof(float) * (size_t)O * d);
        float *Y = malloc(sizeof(float) * (size_t)T * O);
        float *G = malloc(sizeof(float) * (size_t)O * d);
        if (!X || !W || !Y || !G) return 1;
        for (size_t i = 0; i < (size_t)T * d; i++) X[i] = (float)((i * 7919) % 1000) * 1e-3f;
        for (size_t i = 0; i < (size_t)O * d; i++) W[i] = (float)((i * 104729) % 1000) * 1e-3f;
        memset(Y, 0, sizeof(float) * (size_t)T * O);
        memset(G, 0, sizeof(float) * (size_t)O * d);
        /* forward: Y = X W^T */
        job f = {0, 1, T, O, d, d, d, O, X, W, Y};
        /* weight gradient: dW = Y^T X */
        job g = {1, 0, O, d, T, O, d, d, Y, X, G};
        double bf = 1e30, bg = 1e30;
        for (int r = 0; r < reps; r++) {
            double t = timed(split, nt, f);
            if (t < bf) bf = t;
            t = timed(split, nt, g);
            if (t < bg) bg = t;
        }
        double fl = 2.0 * T * (double)O * d;
        printf("T=%d forward %.1f GFLOP/s, weight gradient %.1f GFLOP/s\n", T, fl / bf / 1e9,
               fl / bg / 1e9);
        flops += 2 * fl;
        secs += bf + bg;
        free(X);
        free(W);
        free(Y);
        free(G);
    }
    printf("sgemm_gflops=%.2f\n", flops / secs / 1e9);
    return 0;
}
