/*
 * status.c - status texts and the error-message plumbing. A failure writes its message both
 * into the handle that failed (when there is one) and into a thread-local slot, so that a
 * constructor that returns no handle can still explain itself via facet_last_error().
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base.h"

static _Thread_local char thread_msg[FACET_ERRMSG_MAX];
/* What facet_err_read() returns: a copy, so that the caller reads no buffer another thread may be
 * writing. */
static _Thread_local char handle_msg[FACET_ERRMSG_MAX];

const char *facet_version(void)
{
    return FACET_VERSION_STRING;
}

const char *facet_status_str(int status)
{
    switch (status) {
    case FACET_OK: return "ok";
    case FACET_E_INVALID_ARG: return "invalid argument";
    case FACET_E_NO_MEMORY: return "out of memory";
    case FACET_E_IO: return "input/output error";
    case FACET_E_FORMAT: return "corrupt or unexpected data format";
    case FACET_E_UNSUPPORTED: return "unsupported";
    case FACET_E_MODEL: return "model error";
    case FACET_E_NOT_FOUND: return "not found";
    case FACET_E_EXISTS: return "already exists";
    case FACET_E_LIMIT: return "limit exceeded";
    case FACET_E_STORE: return "store error";
    case FACET_E_INTERNAL: return "internal error";
    default: return "unknown status";
    }
}

/* Callers often pass facet_thread_errmsg() (an inner failure's message) as an argument, so the
 * message is formatted into a local buffer first: formatting straight into thread_msg would read
 * the buffer it is overwriting (undefined behaviour, and garbled text in practice). */
int facet_vseterr(facet_err *e, int status, const char *fmt, va_list ap)
{
    char msg[FACET_ERRMSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    memcpy(thread_msg, msg, sizeof thread_msg);
    if (e) memcpy(e->msg, msg, sizeof e->msg);
    return status;
}

int facet_seterr(facet_err *e, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    facet_vseterr(e, status, fmt, ap);
    va_end(ap);
    return status;
}

const char *facet_thread_errmsg(void)
{
    return thread_msg;
}

const char *facet_last_error(void)
{
    return thread_msg;
}

const char *facet_err_read(pthread_mutex_t *mu, const facet_err *e)
{
    pthread_mutex_lock(mu);
    memcpy(handle_msg, e->msg, sizeof handle_msg);
    pthread_mutex_unlock(mu);
    handle_msg[sizeof handle_msg - 1] = 0;
    return handle_msg;
}
