/*
 * log.c - the library never writes to stdout/stderr; log lines go to the user's callback.
 * The callback pointer is read and written atomically so that installing it races with nothing.
 * Lines pass through facet_redact first: a store URL's password never reaches a log.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "base.h"

static _Atomic(facet_log_fn) log_fn;
static _Atomic(void *) log_user;
static atomic_int log_max = FACET_LOG_WARN;

void facet_set_log(facet_log_fn fn, void *user, facet_log_level max_level)
{
    atomic_store(&log_user, user);
    atomic_store(&log_max, (int)max_level);
    atomic_store(&log_fn, fn);
}

void facet_log(facet_log_level level, const char *fmt, ...)
{
    facet_log_fn fn = atomic_load(&log_fn);
    if (!fn || (int)level > atomic_load(&log_max)) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    facet_redact_inplace(buf, sizeof buf);
    fn(atomic_load(&log_user), level, buf);
}
