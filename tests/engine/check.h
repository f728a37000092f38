/*
 * check.h — the engine tests' tiny harness. Each CHECK prints nothing when it
 * holds; a test function prints "PASS name" or "FAIL name: why". tests/run.sh
 * counts those lines.
 */
#ifndef MGV_CHECK_H
#define MGV_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

static int check_failed_in_test;
static int check_total_failed;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            printf("  %s:%d: CHECK(%s) failed [last error: %s]\n", __FILE__, __LINE__, \
                   #cond, mgv_last_error());                                           \
            check_failed_in_test = 1;                                                  \
        }                                                                              \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                            \
    do {                                                                                 \
        double check_a_ = (a), check_b_ = (b);                                           \
        if (!(fabs(check_a_ - check_b_) <= (tol))) {                                     \
            printf("  %s:%d: %s = %.9g, expected %.9g (tol %g)\n", __FILE__, __LINE__, #a, \
                   check_a_, check_b_, (double)(tol));                                   \
            check_failed_in_test = 1;                                                    \
        }                                                                                \
    } while (0)

/* The error message after a failing call must contain this text. */
#define CHECK_ERROR_HAS(text)                                                            \
    do {                                                                                 \
        if (!strstr(mgv_last_error(), (text))) {                                         \
            printf("  %s:%d: error \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,           \
                   mgv_last_error(), (text));                                            \
            check_failed_in_test = 1;                                                    \
        }                                                                                \
    } while (0)

#define RUN(test_fn)                                                  \
    do {                                                              \
        check_failed_in_test = 0;                                     \
        mgv_clear_error();                                            \
        test_fn();                                                    \
        printf("%s %s\n", check_failed_in_test ? "FAIL" : "PASS", #test_fn); \
        check_total_failed += check_failed_in_test;                   \
    } while (0)

#define CHECK_DONE() (check_total_failed ? 1 : 0)

#endif
