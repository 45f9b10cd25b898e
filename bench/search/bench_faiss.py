"""bench_faiss.py N DIR [MAX_SQ_1024] [KINDS] - FAISS on the same bytes as bench_search
(DIR/matrix.f32, probes.f32). KINDS: "fp32,fp16" (default) or one of them.

IndexFlatIP (fp32, BLAS for batches) and IndexScalarQuantizer(QT_fp16, METRIC_INNER_PRODUCT),
top-10, 1 and 2 threads (FAISS's OpenMP and OpenBLAS's own threads both set to that count):
single-probe latency and 64 / 1024-probe batch times, each the median
of its timed calls after a warm-up search (as bench_search). Prints
JSON lines. Run with Debian's /usr/bin/python3 (python3-faiss, python3-numpy, OpenBLAS).
Each line names the OpenBLAS kernel set that ran ("blas_core", from openblas_get_corename of
the library loaded in this process), so an OPENBLAS_CORETYPE=Haswell run shows that it took
effect (Debian's OpenBLAS is built with DYNAMIC_ARCH; an unknown name falls back silently).
"""
import ctypes
import json
import sys
import time

import faiss
import numpy as np

n, d = int(sys.argv[1]), 512
base = np.fromfile(sys.argv[2] + "/matrix.f32", dtype=np.float32).reshape(n, d)
probes = np.fromfile(sys.argv[2] + "/probes.f32", dtype=np.float32).reshape(-1, d)
K = 10


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def timed(call, cpu=None):
    """Wall ms of one call; its process CPU ms appended to `cpu` when given."""
    t0, c0 = time.perf_counter(), time.process_time()
    call()
    if cpu is not None:
        cpu.append((time.process_time() - c0) * 1e3)
    return (time.perf_counter() - t0) * 1e3

# The fp16 scalar quantizer scans per query without BLAS: 1024 probes would take minutes at 1M,
# so its 1024-probe batch is only run up to MAX_SQ_1024 rows (200k); -1 skips every 1024 batch.
max_sq_1024 = int(sys.argv[3]) if len(sys.argv) > 3 else 200000
kinds = sys.argv[4].split(",") if len(sys.argv) > 4 else ["fp32", "fp16"]


def blas_core():
    """The OpenBLAS kernel set in use, asked of the library this process loaded."""
    with open("/proc/self/maps") as f:
        libs = {ln.split()[-1] for ln in f if "libopenblas" in ln}
    if not libs:
        return "none"
    lib = ctypes.CDLL(sorted(libs)[0])
    lib.openblas_get_corename.restype = ctypes.c_char_p
    return lib.openblas_get_corename().decode()


def blas_set_threads(t):
    """OpenBLAS's own thread count: faiss.omp_set_num_threads limits FAISS's OpenMP loops, but
    the sgemm of a batch runs on OpenBLAS's pthreads, which otherwise take every core (a "1
    thread" FAISS batch then ran on both cores of a 2-core machine: twice its wall-clock CPU).
    Returns whether it could be set."""
    with open("/proc/self/maps") as f:
        libs = {ln.split()[-1] for ln in f if "libopenblas" in ln}
    if not libs:
        return False
    ctypes.CDLL(sorted(libs)[0]).openblas_set_num_threads(ctypes.c_int(t))
    return True


core = blas_core()
for kind in kinds:
    if kind == "fp32":
        index = faiss.IndexFlatIP(d)
    else:
        index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16,
                                           faiss.METRIC_INNER_PRODUCT)
        index.train(base[:1000])
    index.add(base)
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        blas_threads = threads if blas_set_threads(threads) else None
        index.search(probes[:1], K)  # warm
        reps = 9 if n >= 500000 else 31
        t, tc, bc = [], [], []
        for r in range(reps):
            t.append(timed(lambda: index.search(probes[r:r + 1], K), tc))
        # the same statistic as bench_search: the median of the timed calls after the warm-up
        slow = kind == "fp16" and n >= 500000
        breps = 1 if slow else (3 if n >= 500000 else 5)
        b64 = median([timed(lambda: index.search(probes[:64], K), bc) for _ in range(breps)])
        b1024 = None
        if (kind == "fp32" and max_sq_1024 >= 0) or n <= max_sq_1024:
            b1024 = median([timed(lambda: index.search(probes, K)) for _ in range(breps)])
        print(json.dumps({"kind": "faiss", "dtype": kind, "threads": threads,
                          "single_ms": median(t), "batch64_ms": b64,
                          "batch1024_ms": b1024, "faiss": faiss.__version__,
                          "blas_core": core, "blas_threads": blas_threads, "single_cpu_ms": median(tc),
                          "batch64_cpu_ms": median(bc)}), flush=True)
    del index
