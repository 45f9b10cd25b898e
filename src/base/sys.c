/*
 * sys.c - clock, core count, CPU feature detection and environment settings. CPU flags are
 * detected once; FACET_CPU_MASK lets tests and benchmarks switch fast paths off. x86 asks
 * cpuid (and the OS, through xgetbv, whether it saves the wider registers); arm64 code cannot
 * read the ID registers portably, so it asks the kernel, which announces what it supports in
 * the auxiliary vector (AT_HWCAP, AT_HWCAP2; under qemu-user, qemu announces the emulated CPU's).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
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
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

/* Linux arm64's AT_HWCAP and AT_HWCAP2 bits (uapi asm/hwcap.h, a stable ABI), spelled out so
 * that the mapping builds and is tested on every architecture; checked against the kernel's
 * header where it exists. */
enum {
    HWCAP_BIT_ASIMD = 1, HWCAP_BIT_FPHP = 9, HWCAP_BIT_ASIMDHP = 10, HWCAP_BIT_ASIMDDP = 20,
    HWCAP_BIT_SVE = 22, HWCAP2_BIT_SVE2 = 1, HWCAP2_BIT_I8MM = 13, HWCAP2_BIT_BF16 = 14,
};
#ifdef HWCAP_ASIMD
_Static_assert(HWCAP_ASIMD == 1ul << HWCAP_BIT_ASIMD && HWCAP_FPHP == 1ul << HWCAP_BIT_FPHP &&
                   HWCAP_ASIMDHP == 1ul << HWCAP_BIT_ASIMDHP && HWCAP_ASIMDDP == 1ul << HWCAP_BIT_ASIMDDP &&
                   HWCAP_SVE == 1ul << HWCAP_BIT_SVE,
               "arm64 AT_HWCAP bits differ from asm/hwcap.h");
#endif
#ifdef HWCAP2_BF16
_Static_assert(HWCAP2_SVE2 == 1ul << HWCAP2_BIT_SVE2 && HWCAP2_I8MM == 1ul << HWCAP2_BIT_I8MM &&
                   HWCAP2_BF16 == 1ul << HWCAP2_BIT_BF16,
               "arm64 AT_HWCAP2 bits differ from asm/hwcap.h");
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

/* The value of a numeric variable: 1 and *v when it is a whole number (decimal, or 0x hex) in
 * lo..hi, 0 when unset or empty, -1 when it is anything else. */
static int env_number(const char *name, long lo, long hi, long *v)
{
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    if (*s == ' ' || *s == '\t' || *s == '+') return -1;
    char *end;
    errno = 0;
    long x = strtol(s, &end, 0);
    if (*end || errno || x < lo || x > hi) return -1;
    *v = x;
    return 1;
}

long facet_env_long(const char *name, long def)
{
    long v;
    return env_number(name, LONG_MIN, LONG_MAX, &v) == 1 ? v : def;
}

facet_status facet_env_check(facet_err *err)
{
    static const struct { const char *name; long lo, hi; const char *what; } vars[] = {
        {"FACET_NUM_THREADS", 0, 1024, "a thread count, 0 for all cores"},
        {"FACET_CPU_MASK", -1, 0x7fffffffL, "a mask of CPU feature flags such as 0x1f"},
        {"FACET_NN_ROWS", 0, 2, "0, 1 or 2"},
        {"FACET_NN_PW_MAPS", 0, 1, "0 or 1"},
        {"FACET_NN_WINO", 0, 1, "0 or 1"},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        long v;
        if (env_number(vars[i].name, vars[i].lo, vars[i].hi, &v) < 0)
            return (facet_status)facet_seterr(err, FACET_E_INVALID_ARG, "%s='%.32s': expected %s", vars[i].name,
                                              getenv(vars[i].name), vars[i].what);
    }
    return FACET_OK;
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

unsigned facet_cpu_flags_from_hwcap(unsigned long hwcap, unsigned long hwcap2)
{
#define HAS(word, bit) (((word) >> (bit)) & 1ul)
    /* Every other feature here extends Advanced SIMD; a kernel that hides it (or a CPU without
     * it, which Linux does not run on) leaves none of them usable. */
    if (!HAS(hwcap, HWCAP_BIT_ASIMD)) return 0;
    unsigned f = FACET_CPU_ASIMD;
    /* fp16 kernels need the scalar half-precision instructions as well as the vector ones */
    if (HAS(hwcap, HWCAP_BIT_FPHP) && HAS(hwcap, HWCAP_BIT_ASIMDHP)) f |= FACET_CPU_ASIMDHP;
    if (HAS(hwcap, HWCAP_BIT_ASIMDDP)) f |= FACET_CPU_ASIMDDP;
    if (HAS(hwcap2, HWCAP2_BIT_I8MM)) f |= FACET_CPU_I8MM;
    if (HAS(hwcap2, HWCAP2_BIT_BF16)) f |= FACET_CPU_BF16;
    if (HAS(hwcap, HWCAP_BIT_SVE)) {
        f |= FACET_CPU_SVE;
        if (HAS(hwcap2, HWCAP2_BIT_SVE2)) f |= FACET_CPU_SVE2;
    }
    return f;
#undef HAS
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
#elif defined(__aarch64__) && defined(__linux__)
    f = facet_cpu_flags_from_hwcap(getauxval(AT_HWCAP), getauxval(AT_HWCAP2));
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
        {FACET_CPU_ASIMD, "asimd"}, {FACET_CPU_ASIMDHP, "asimdhp"}, {FACET_CPU_ASIMDDP, "asimddp"},
        {FACET_CPU_I8MM, "i8mm"}, {FACET_CPU_BF16, "bf16"}, {FACET_CPU_SVE, "sve"}, {FACET_CPU_SVE2, "sve2"},
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
