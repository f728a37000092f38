/* error.c — thread-local error messages (see error.h). */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MGV_ERROR_MAX 1024

static _Thread_local char error_message[MGV_ERROR_MAX];
volatile sig_atomic_t mgv_interrupt_flag = 0;

static void set_message(const char *fmt, va_list ap)
{
    vsnprintf(error_message, sizeof error_message, fmt, ap);
}

int mgv_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_message(fmt, ap);
    va_end(ap);
    return -1;
}

void *mgv_fail_null(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_message(fmt, ap);
    va_end(ap);
    return NULL;
}

void mgv_error_context(const char *fmt, ...)
{
    char prefix[256], old[MGV_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_message, sizeof old);
    snprintf(error_message, sizeof error_message, "%s: %s", prefix, old);
}

const char *mgv_last_error(void) { return error_message; }

void mgv_clear_error(void) { error_message[0] = '\0'; }
