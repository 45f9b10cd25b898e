#!/bin/sh
# bench/nn/kernels.sh: every kernel table this CPU runs (src/nn/kernels.h: c, avx2, avx512) on
# the models' own convolution shapes, one thread, GFLOP/s and share of this core's measured FMA
# peak for the table's vector width (tests/test_kernels.c --bench, the harness that also checks
# them against the C table). Lower tables are run too: on an AVX-512 machine this is how the
# AVX2 kernels are measured.
# Reproduce: bench/nn/kernels.sh [BUILD_DIR]     (make bench-kernels)
set -eu
build=${1:-build}
p512=$("$build/bench/nn/bench_peak")
p256=$("$build/bench/nn/bench_peak" avx2)
echo "# measured peak of one core: ${p256} GFLOP/s with 256-bit FMAs, ${p512} with the widest ($(grep -o -w -m1 'avx512f' /proc/cpuinfo || echo 'no avx512f')); load $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$build/tests/test_kernels" --bench "$p256" "$p512"
