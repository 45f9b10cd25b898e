/*
 * peak.c - measures one core's fp32 FMA peak (GFLOP/s) with ten independent chains of
 * 512-bit (or 256-bit without AVX-512, or with the argument "avx2") fused multiply-adds, so that bench/nn can report each
 * model's share of what this core can do rather than a number from a datasheet.
 * Timed in thread CPU time, as tests/test_kernels.c --bench is, so that a preempted run on a busy
 * machine does not lower the peak.
 * The chains start from different values: from the same one, GCC proved them equal, kept one
 * chain and this printed ten times its latency-bound rate (290 instead of 117 GFLOP/s here).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <immintrin.h>

#define CHAINS(T, FMA, SET1, ADD)                                                                      \
    T a0 = SET1(0.10f), a1 = SET1(0.11f), a2 = SET1(0.12f), a3 = SET1(0.13f), a4 = SET1(0.14f);       \
    T a5 = SET1(0.15f), a6 = SET1(0.16f), a7 = SET1(0.17f), a8 = SET1(0.18f), a9 = SET1(0.19f);       \
    const T b = SET1(0.9999f), c = SET1(0.0001f);                                                      \
    for (long k = 0; k < n; k++) {                                                                     \
        a0 = FMA(a0, b, c), a1 = FMA(a1, b, c), a2 = FMA(a2, b, c), a3 = FMA(a3, b, c);                \
        a4 = FMA(a4, b, c), a5 = FMA(a5, b, c), a6 = FMA(a6, b, c), a7 = FMA(a7, b, c);                \
        a8 = FMA(a8, b, c), a9 = FMA(a9, b, c);                                                        \
    }                                                                                                  \
    T s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(ADD(a6, a7), ADD(a8, a9))));         \
    float out[16];

__attribute__((target("avx512f"), noinline)) static float run512(long n)
{
    CHAINS(__m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_add_ps)
    _mm512_storeu_ps(out, s);
    return out[0];
}

__attribute__((target("avx2,fma"), noinline)) static float run256(long n)
{
    CHAINS(__m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_add_ps)
    _mm256_storeu_ps(out, s);
    return out[0];
}

int main(int argc, char **argv)
{
    /* "avx2": the 256-bit peak even on an AVX-512 core (for the avx2 kernel table's share) */
    int wide = __builtin_cpu_supports("avx512f") && !(argc > 1 && !strcmp(argv[1], "avx2"));
    long n = 30000000;
    double best = 0;
    for (int r = 0; r < 3; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        volatile float v = wide ? run512(n) : run256(n);
        (void)v;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        double g = (double)n * 10 * (wide ? 32 : 16) / secs / 1e9;
        best = g > best ? g : best;
    }
    printf("%.1f\n", best);
    return 0;
}
