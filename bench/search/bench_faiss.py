"""bench_faiss.py N DIR - FAISS on the same bytes as bench_search (DIR/matrix.f32, probes.f32).

IndexFlatIP (fp32, BLAS for batches) and IndexScalarQuantizer(QT_fp16, METRIC_INNER_PRODUCT),
top-10, 1 and 2 threads: single-probe latency and 64 / 1024-probe batch times, each the median
of its timed calls after a warm-up search (as bench_search). Prints
JSON lines. Run with Debian's /usr/bin/python3 (python3-faiss, python3-numpy, OpenBLAS).
"""
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


def timed(call):
    t0 = time.perf_counter()
    call()
    return (time.perf_counter() - t0) * 1e3

# The fp16 scalar quantizer scans per query without BLAS: 1024 probes would take minutes at 1M,
# so its 1024-probe batch is only run up to 100k rows.
max_sq_1024 = int(sys.argv[3]) if len(sys.argv) > 3 else 200000

for kind in ("fp32", "fp16"):
    if kind == "fp32":
        index = faiss.IndexFlatIP(d)
    else:
        index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16,
                                           faiss.METRIC_INNER_PRODUCT)
        index.train(base[:1000])
    index.add(base)
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        index.search(probes[:1], K)  # warm
        reps = 9 if n >= 500000 else 31
        t = []
        for r in range(reps):
            t0 = time.perf_counter()
            index.search(probes[r:r + 1], K)
            t.append((time.perf_counter() - t0) * 1e3)
        # the same statistic as bench_search: the median of the timed calls after the warm-up
        slow = kind == "fp16" and n >= 500000
        breps = 1 if slow else (3 if n >= 500000 else 5)
        b64 = median([timed(lambda: index.search(probes[:64], K)) for _ in range(breps)])
        b1024 = None
        if kind == "fp32" or n <= max_sq_1024:
            b1024 = median([timed(lambda: index.search(probes, K)) for _ in range(breps)])
        print(json.dumps({"kind": "faiss", "dtype": kind, "threads": threads,
                          "single_ms": median(t), "batch64_ms": b64,
                          "batch1024_ms": b1024, "faiss": faiss.__version__}), flush=True)
    del index
