/*
 * fastmath.h - the tanh and exp every kernel table computes (ops/ref.c, ops/kernels_c.c, and
 * the same polynomials in the SIMD tables), so that all of them agree to a few ulp.
 */
#ifndef FACET_SRC_NN_OPS_FASTMATH_H
#define FACET_SRC_NN_OPS_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* tanh as a 13/6 rational function on [-7.99, 7.99] (the approximation Eigen uses, a few ulp
 * from tanhf), written branch-free so that the compiler vectorises it: libm's tanhf is a call
 * per element and made fr_age 2x slower than ONNX Runtime. */
#if defined(__GNUC__) && !defined(__clang__)
#define VECTORISABLE_SELECTS __attribute__((optimize("no-trapping-math")))
#else
#define VECTORISABLE_SELECTS
#endif

/* The coefficients, shared with the SIMD tables (x86/conv_avx2.c, x86/conv_avx512.c): tanh(x) =
 * x p(x^2) / q(x^2) with x clamped to +-FAST_TANH_CLAMP, p and q highest degree first. */
#define FAST_TANH_CLAMP 7.99881172180175781f
static const float fast_tanh_p[7] = {-2.76076847742355e-16f, 2.00018790482477e-13f, -8.60467152213735e-11f,
                                     5.12229709037114e-08f,  1.48572235717979e-05f, 6.37261928875436e-04f,
                                     4.89352455891786e-03f};
static const float fast_tanh_q[4] = {1.19825839466702e-06f, 1.18534705686654e-04f, 2.26843463243900e-03f,
                                     4.89352518554385e-03f};

/* (no-trapping-math lets GCC turn the selects into blends; the result is the same) */
VECTORISABLE_SELECTS static inline float fast_tanh(float x)
{
    const float c = FAST_TANH_CLAMP;
    float xc = x > c ? c : x < -c ? -c : x;
    float x2 = xc * xc;
    float p = fast_tanh_p[0];
    for (int i = 1; i < 7; i++) p = p * x2 + fast_tanh_p[i];
    p = p * xc;
    float q = fast_tanh_q[0];
    for (int i = 1; i < 4; i++) q = q * x2 + fast_tanh_q[i];
    float r = p / q;
    return fabsf(x) < 0.0004f ? x : r;
}

/* e^r's polynomial (highest degree first), shared with the SIMD tables */
static const float fast_exp_p[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                    4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

/* exp as 2^n * e^r with |r| <= ln2/2 and Cephes' degree-6 polynomial for e^r (within 2 ulp of
 * expf), branch-free so that it vectorises; 2^n is applied in two halves so that results down
 * to the subnormals and up to FLT_MAX come out right. */

VECTORISABLE_SELECTS static inline float fast_exp(float x)
{
    float xc = x > 88.72283f ? 88.72283f : x < -103.97f ? -103.97f : x;
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
    float p = fast_exp_p[0];
    for (int i = 1; i < 6; i++) p = p * r + fast_exp_p[i];
    float e = p * r * r + r + 1.0f;
    int32_t ni = (int32_t)n, n1 = ni >> 1, n2 = ni - n1;
    uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, 4);
    memcpy(&s2, &b2, 4);
    float y = e * s1 * s2;
    return x != x ? x : x > 88.72284f ? INFINITY : x < -103.97f ? 0.0f : y;
}

#endif
