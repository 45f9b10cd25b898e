/*
 * base.h - private helpers every part of libfacet uses: error messages kept on handles,
 * logging through the user's callback, aligned memory, a monotonic clock, CPU features and
 * environment settings. Nothing here is public API.
 */
#ifndef FACET_SRC_BASE_H
#define FACET_SRC_BASE_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "facet/base.h"

#define FACET_ERRMSG_MAX 512

/* The last error of one handle, or of a failed constructor (thread-local, see below). */
typedef struct facet_err {
    char msg[FACET_ERRMSG_MAX];
} facet_err;

/* Formats a message into `e` (if not NULL) and into this thread's last-error slot; returns
 * `status` so that callers can write `return facet_seterr(e, FACET_E_FORMAT, "...")`. */
int facet_seterr(facet_err *e, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int facet_vseterr(facet_err *e, int status, const char *fmt, va_list ap);
/* facet_redact() in place, for messages that may hold a URL or a password. */
void facet_redact_inplace(char *msg, size_t size);
/* Replaces in `msg` every copy of a password found in `source` (a store URL or libpq string):
 * for messages of other libraries, such as libpq's, that quote a password without its URL. */
void facet_redact_secrets_of(const char *source, char *msg, size_t size);
/* This thread's last error message ("" if none). */
const char *facet_thread_errmsg(void);
/* A copy of a handle's message taken under the lock `mu` that guards its writers, in a
 * thread-local buffer valid until this thread's next call: the *_errmsg functions of handles
 * shared between threads return this, never the handle's buffer itself. */
const char *facet_err_read(pthread_mutex_t *mu, const facet_err *e);

void facet_log(facet_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The library's allocator: src/ calls these, never malloc/calloc/realloc/strdup directly, so
 * that tests can inject failures. Memory comes from the C heap (free() or facet_free()). */
void *facet_malloc(size_t size);
void *facet_calloc(size_t n, size_t size);
void *facet_realloc(void *p, size_t size);
char *facet_strdup(const char *s);
/* Aligned allocation (64 bytes) that never aborts; size 0 returns a valid unique pointer.
 * _zeroed: n * size bytes, overflow-checked, cleared. */
void *facet_alloc(size_t size);
void *facet_alloc_zeroed(size_t n, size_t size);
void facet_free_aligned(void *p);

/* Test hook (tests/test_oom.c): from now on, the nth allocation through the functions above
 * fails (returns NULL), once; 0 disarms. facet_test_alloc_failed() says whether it was
 * reached, facet_test_alloc_count() how many allocations were made since arming. */
void facet_test_fail_alloc(long nth);
int facet_test_alloc_failed(void);
long facet_test_alloc_count(void);
/* n * size with overflow check: returns 0 and sets *out on success, -1 on overflow. */
int facet_mul_overflow(size_t n, size_t size, size_t *out);

/* Monotonic time in nanoseconds / milliseconds. */
uint64_t facet_now_ns(void);
double facet_now_ms(void);

enum {
    FACET_CPU_SSE41 = 1 << 0,
    FACET_CPU_AVX = 1 << 1,
    FACET_CPU_AVX2 = 1 << 2,
    FACET_CPU_FMA = 1 << 3,
    FACET_CPU_F16C = 1 << 4,
    FACET_CPU_AVX512F = 1 << 5,
    FACET_CPU_AVX512BW = 1 << 6,
    FACET_CPU_AVX512VNNI = 1 << 7,
    FACET_CPU_AVX512BF16 = 1 << 8,
    FACET_CPU_AVX512VL = 1 << 9,
    /* arm64, from the kernel's AT_HWCAP/AT_HWCAP2 (named as in /proc/cpuinfo); bits 16 up, so
     * that x86 flags added later do not collide with them */
    FACET_CPU_ASIMD = 1 << 16,   /* Advanced SIMD (NEON) */
    FACET_CPU_ASIMDHP = 1 << 17, /* fp16 arithmetic, scalar (fphp) and vector (asimdhp) */
    FACET_CPU_ASIMDDP = 1 << 18, /* SDOT/UDOT int8 dot products */
    FACET_CPU_I8MM = 1 << 19,    /* SMMLA/USMMLA int8 matrix multiply */
    FACET_CPU_BF16 = 1 << 20,    /* BFDOT/BFMMLA */
    FACET_CPU_SVE = 1 << 21,
    FACET_CPU_SVE2 = 1 << 22,
};
/* Detected CPU flags, masked by FACET_CPU_MASK (hex) from the environment so that tests can
 * force the reference paths. */
unsigned facet_cpu_flags(void);
/* The FACET_CPU_* arm64 flags that Linux's AT_HWCAP and AT_HWCAP2 words announce (the bits of
 * arm64's uapi asm/hwcap.h). Pure, built on every architecture, so that the mapping is tested
 * natively too. */
unsigned facet_cpu_flags_from_hwcap(unsigned long hwcap, unsigned long hwcap2);

/* Integer setting from the environment, or `def` when unset or unparsable (decimal or 0x hex). */
long facet_env_long(const char *name, long def);
/* Every numeric FACET_* variable the library reads (FACET_NUM_THREADS, FACET_CPU_MASK,
 * FACET_NN_ROWS, FACET_NN_PW_MAPS), checked strictly: a malformed or out-of-range value is FACET_E_INVALID_ARG
 * naming the variable, so that a typo is an error rather than the default. Called where
 * sessions and galleries are made; facet_env_long is only read after that. */
facet_status facet_env_check(facet_err *err);
/* Threads to use: `requested` if > 0, else FACET_NUM_THREADS, else all cores; never more than
 * the cores this process may run on. */
int facet_threads_resolve(int requested);

/* SHA-256 of a buffer, raw or as 64 lowercase hex digits plus NUL. */
void facet_sha256(const void *data, size_t n, uint8_t out[32]);
void facet_sha256_hex(const void *data, size_t n, char out[65]);

/* Reads a whole file (at most max_bytes). The caller frees *data with free(). */
int facet_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                    facet_err *e);

#endif
