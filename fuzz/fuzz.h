/*
 * fuzz.h — what every fuzz target under fuzz/ shares.
 *
 * Each fuzz_<name>.c defines its entry with FUZZ_TARGET(name). Built for
 * libFuzzer (clang -fsanitize=fuzzer, `make fuzz`) that entry is
 * LLVMFuzzerTestOneInput; built with -DFUZZ_REPLAY it is fuzz_<name>() and
 * fuzz/replay.c runs every committed seed and regression input through all
 * targets in one ordinary test binary (`make test`).
 *
 * FUZZ_CHECK states a property of the parser's result; a violation aborts,
 * which libFuzzer reports as a crash and the replay test as a failure.
 */
#ifndef MGV_FUZZ_H
#define MGV_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef FUZZ_REPLAY
#define FUZZ_TARGET(name) int fuzz_##name(const uint8_t *data, size_t size)
#else
#define FUZZ_TARGET(name) int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#endif

#define FUZZ_CHECK(cond)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#endif
