/*
 * sys.c - clock, core count, CPU feature detection and environment settings. CPU flags are
 * detected once; FACET_CPU_MASK lets tests and benchmarks switch fast paths off.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

uint64_t facet_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double facet_now_ms(void)
{
    return (double)facet_now_ns() / 1e6;
}

int facet_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

long facet_env_long(const char *name, long def)
{
    const char *s = getenv(name);
    if (!s || !*s) return def;
    char *end;
    long v = strtol(s, &end, 0);
    return *end ? def : v;
}

int facet_threads_resolve(int requested)
{
    /* never more threads than cores: the thread pools spin while waiting, and oversubscribed
     * spinning on a busy machine turned 0.04 s per face into seconds */
    int cores = facet_cpu_count();
    long t = requested > 0 ? requested : facet_env_long("FACET_NUM_THREADS", 0);
    if (t <= 0 || t > 1024) return cores;
    return t > cores ? cores : (int)t;
}

static unsigned detect_flags(void)
{
    unsigned f = 0;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (c & bit_SSE4_1) f |= FACET_CPU_SSE41;
    if (c & bit_FMA) f |= FACET_CPU_FMA;
    if (c & bit_F16C) f |= FACET_CPU_F16C;
    int osxsave = (c & bit_OSXSAVE) != 0, avx = (c & bit_AVX) != 0;
    unsigned long long xcr0 = 0;
    if (osxsave) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = ((unsigned long long)hi << 32) | lo;
    }
    int ymm = (xcr0 & 6) == 6, zmm = (xcr0 & 0xe6) == 0xe6;
    if (avx && ymm) f |= FACET_CPU_AVX;
    else f &= ~(unsigned)(FACET_CPU_FMA | FACET_CPU_F16C);
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        if ((b & bit_AVX2) && ymm) f |= FACET_CPU_AVX2;
        if ((b & bit_AVX512F) && zmm) f |= FACET_CPU_AVX512F;
        if ((b & bit_AVX512BW) && zmm) f |= FACET_CPU_AVX512BW;
        if ((b & bit_AVX512VL) && zmm) f |= FACET_CPU_AVX512VL;
        if ((c & bit_AVX512VNNI) && zmm) f |= FACET_CPU_AVX512VNNI;
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5)) && zmm)
        f |= FACET_CPU_AVX512BF16;
#endif
    return f;
}

unsigned facet_cpu_flags(void)
{
    static atomic_uint cached; /* bit 31 marks "detected" */
    unsigned v = atomic_load(&cached);
    if (!(v & 0x80000000u)) {
        v = detect_flags() | 0x80000000u;
        atomic_store(&cached, v);
    }
    unsigned mask = (unsigned)facet_env_long("FACET_CPU_MASK", -1);
    return v & mask & 0x7fffffffu;
}

const char *facet_cpu_features(void)
{
    static _Thread_local char buf[128];
    static const struct { unsigned bit; const char *name; } names[] = {
        {FACET_CPU_SSE41, "sse4.1"}, {FACET_CPU_AVX, "avx"}, {FACET_CPU_AVX2, "avx2"},
        {FACET_CPU_FMA, "fma"}, {FACET_CPU_F16C, "f16c"}, {FACET_CPU_AVX512F, "avx512f"},
        {FACET_CPU_AVX512BW, "avx512bw"}, {FACET_CPU_AVX512VNNI, "avx512vnni"},
        {FACET_CPU_AVX512BF16, "avx512bf16"}, {FACET_CPU_AVX512VL, "avx512vl"},
    };
    unsigned f = facet_cpu_flags();
    buf[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(f & names[i].bit)) continue;
        if (buf[0]) strcat(buf, " ");
        strcat(buf, names[i].name);
    }
    return buf;
}
