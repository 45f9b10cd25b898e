#!/bin/sh
# run.sh [BUILD_DIR] [N...] - the 1:N search benchmark: facet (bench_search) and FAISS on the
# same synthetic data, same run; writes docs/performance-search.md and prints it.
#   make bench-search   (or: bench/search/run.sh BUILD_DIR [N...])
# FAISS runs under Debian's /usr/bin/python3 (apt: python3-faiss python3-numpy
# libopenblas0-pthread), with the openblas-pthread BLAS: once as the CPU makes it (no
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE overrides), and once more for fp32 with
# OPENBLAS_CORETYPE=Haswell, OpenBLAS's AVX2 kernels, the peer an AVX2-only machine would run
# (the FAISS lines say which core OpenBLAS used). FACET_CPU_MASK=0x1f in the environment runs
# facet's AVX2 kernels on an AVX-512 machine (bench_search says which kernels ran).
#   QUICK=1 bench/search/run.sh ...: only the read floor, single probe and 64-probe batch on
#   both sides (bench_search --quick; FAISS fp32 only), printed, docs/performance-search.md
#   left alone.
set -eu
quick=${QUICK:-0}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
shift || true
sizes=${*:-100000 1000000}
tmp=$(mktemp -d /tmp/facet-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
res="$tmp/results.jsonl"
load0=$(uptime | sed 's/.*load average: //')
echo "load average: $load0"
: >"$res"
for n in $sizes; do
    extra="" sq1024=200000
    [ "$n" -ge 1000000 ] && extra=--sqlite
    kinds=fp32,fp16
    # quick: FAISS fp32 only (its fp16 scalar quantizer scans per probe: minutes at 1M)
    [ "$quick" = 1 ] && extra=--quick sq1024=-1 kinds=fp32
    "$build/bench/search/bench_search" "$n" "$tmp" $extra | sed "s/^{/{\"_n\":$n,/" | tee -a "$res"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$root/bench/search/bench_faiss.py" \
        "$n" "$tmp" $sq1024 $kinds | sed "s/^{/{\"_n\":$n,\"peer\":\"native\",/" | tee -a "$res"
    env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=Haswell /usr/bin/python3 \
        "$root/bench/search/bench_faiss.py" "$n" "$tmp" $sq1024 fp32 |
        sed "s/^{/{\"_n\":$n,\"peer\":\"haswell\",/" | tee -a "$res"
    rm -f "$tmp/matrix.f32" "$tmp/probes.f32"
done
if [ "$quick" = 1 ]; then
    /usr/bin/python3 "$root/bench/search/report.py" "$res"
    echo "load average at the end: $(uptime | sed 's/.*load average: //'); FACET_CPU_MASK=${FACET_CPU_MASK:-unset}"
    exit 0
fi
blas=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | sed -n 's/^Value: //p')
{
    echo "# 1:N search performance"
    echo
    echo "Measured by \`bench/search/run.sh $build $sizes\` on $(date -u +%Y-%m-%d), $(nproc) cores,"
    echo "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), FAISS $(/usr/bin/python3 -c 'import faiss; print(faiss.__version__)') with BLAS $blas."
    echo "Synthetic random unit vectors; probes are noisy copies of rows. \"read floor\" is a plain"
    echo "read of the same bytes (fp32: N x 2 KiB, fp16: N x 1 KiB) with the same threads."
    echo "FAISS fp32 = IndexFlatIP, FAISS fp16 = IndexScalarQuantizer(QT_fp16, inner product);"
    echo "each facet row is compared with FAISS of the same dtype (facet/FAISS-fp32 compares single"
    echo "probe time with FAISS fp32), and its 64-probe batch also with FAISS fp32 (BLAS, the faster"
    echo "FAISS batch) as the CPU makes it and with OPENBLAS_CORETYPE=Haswell (OpenBLAS's AVX2"
    echo "kernels). Single = median latency of one probe; batches are throughput. \"CPU-time\""
    echo "ratios compare the 64-probe batch's process CPU time (all threads, OpenBLAS's included),"
    echo "which a loaded machine inflates far less than the wall clock."
    echo "The machine is shared with other work, so numbers move by +-20% between runs; load"
    echo "average at the start and the end of this run: $load0 / $(uptime | sed 's/.*load average: //')."
    echo "FACET_CPU_MASK: ${FACET_CPU_MASK:-unset} (0x1f: facet's AVX2 kernels on an AVX-512 CPU)."
    /usr/bin/python3 "$root/bench/search/report.py" "$res"
    echo
    echo "Reproduce: \`make bench-search\` (bench/search/run.sh build 100000 1000000)"
} >"$root/docs/performance-search.md"
cat "$root/docs/performance-search.md"
