/*
 * error.h — the engine's error convention.
 *
 * Engine functions report failure by returning -1 or NULL after recording a
 * message with mgv_fail(): what failed and where ("matmul: shapes [16x768]
 * and [512x8] do not fit"). The message is thread-local, so the kernel's
 * threads do not trample each other. Nothing a user can cause aborts.
 */
#ifndef MGV_ERROR_H
#define MGV_ERROR_H

#include <signal.h>

#if defined(__GNUC__)
#define MGV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MGV_PRINTF(a, b)
#endif

/* Records a formatted message; returns -1 so callers can `return mgv_fail(..)`. */
int mgv_fail(const char *fmt, ...) MGV_PRINTF(1, 2);
/* Same, returning NULL for constructors. */
void *mgv_fail_null(const char *fmt, ...) MGV_PRINTF(1, 2);
/* Prefixes the current message with "what: " (adds context on the way up). */
void mgv_error_context(const char *fmt, ...) MGV_PRINTF(1, 2);
/* The last message recorded on this thread ("" when none). */
const char *mgv_last_error(void);
void mgv_clear_error(void);

/*
 * Interrupts. A SIGINT handler (REPL) or a control message (kernel) sets the
 * flag; long engine loops poll mgv_interrupted() and fail with "interrupted".
 */
extern volatile sig_atomic_t mgv_interrupt_flag;
static inline int mgv_interrupted(void) { return mgv_interrupt_flag != 0; }
static inline void mgv_request_interrupt(void) { mgv_interrupt_flag = 1; }
static inline void mgv_clear_interrupt(void) { mgv_interrupt_flag = 0; }

#endif
