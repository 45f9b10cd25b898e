/*
 * mem.c - allocation helpers. Tensors and faceprint matrices want 64-byte alignment for
 * AVX-512 loads; every allocation failure is reported to the caller, never aborted on.
 *
 * Everything src/ allocates goes through these functions, so that a test can make the n-th
 * allocation fail (facet_test_fail_alloc, used by tests/test_oom.c) and check that every caller
 * cleans up and reports FACET_E_NO_MEMORY. Unarmed, the hook costs one relaxed atomic load per
 * allocation. All of them come from the C heap, so free() and facet_free() release them alike.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base.h"

static atomic_long fail_at;   /* 0: off; else the allocation number (from arming) that fails */
static atomic_long seq;       /* allocations since arming */
static atomic_int failed;     /* the armed allocation was reached */

void facet_test_fail_alloc(long nth)
{
    atomic_store(&fail_at, 0);
    atomic_store(&seq, 0);
    atomic_store(&failed, 0);
    atomic_store(&fail_at, nth > 0 ? nth : 0);
}

int facet_test_alloc_failed(void)
{
    return atomic_load(&failed);
}

long facet_test_alloc_count(void)
{
    return atomic_load(&seq);
}

/* Nonzero when this allocation is the one a test asked to fail. */
static int injected(void)
{
    long at = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (!at) return 0;
    if (atomic_fetch_add(&seq, 1) + 1 != at) return 0;
    atomic_store(&failed, 1);
    return 1;
}

void *facet_malloc(size_t size)
{
    return injected() ? NULL : malloc(size);
}

void *facet_calloc(size_t n, size_t size)
{
    size_t total; /* checked here too: a sanitizer's calloc aborts on overflow instead */
    if (facet_mul_overflow(n, size, &total)) return NULL;
    return injected() ? NULL : calloc(n, size);
}

void *facet_realloc(void *p, size_t size)
{
    return injected() ? NULL : realloc(p, size);
}

void *facet_alloc(size_t size)
{
    void *p = NULL;
    if (injected()) return NULL;
    if (size == 0) size = 1;
    size = (size + 63) & ~(size_t)63;
    if (size == 0) return NULL; /* wrapped */
    if (posix_memalign(&p, 64, size) != 0) return NULL;
    return p;
}

void *facet_alloc_zeroed(size_t n, size_t size)
{
    size_t total;
    if (facet_mul_overflow(n, size, &total)) return NULL;
    void *p = facet_alloc(total);
    if (p) memset(p, 0, total ? total : 1);
    return p;
}

void facet_free_aligned(void *p)
{
    free(p);
}

void facet_free(void *p)
{
    free(p);
}

char *facet_strdup(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = facet_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int facet_mul_overflow(size_t n, size_t size, size_t *out)
{
    if (size && n > (size_t)-1 / size) return -1;
    *out = n * size;
    return 0;
}

int facet_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                    facet_err *e)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return facet_seterr(e, FACET_E_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return facet_seterr(e, FACET_E_IO, "'%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return facet_seterr(e, FACET_E_LIMIT, "'%s' is %lld bytes, more than the limit of %zu",
                            path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = facet_malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return facet_seterr(e, FACET_E_NO_MEMORY, "no memory for %zu bytes of '%s'", n, path);
    }
    if (n && fread(buf, 1, n, f) != n) {
        fclose(f);
        free(buf);
        return facet_seterr(e, FACET_E_IO, "cannot read '%s'", path);
    }
    fclose(f);
    *data = buf;
    *size = n;
    return FACET_OK;
}
