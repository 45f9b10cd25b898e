"""bench/nn: single-image latency of facet's engine against ONNX Runtime, in the same run.

For each model and thread count, runs `facet nn bench` and ort-peer's `--bench` alternately
(ROUNDS times each, ITERS inferences per round) and keeps the best median of each, so that
both see the same machine conditions. Prints a table with the ratio ours/ORT, GFLOP/s, and the
share of the core's peak, then the geometric mean of the ratios for the five target models.

Reproduce:  make bench-nn            (or: bench/nn/run.sh build)
The lower ISA on an AVX-512 machine: FACET_CPU_MASK=0x1f make bench-nn (facet's own kernels
then run their AVX2 table and the share is of the 256-bit peak; XNNPACK and ONNX Runtime detect
the CPU themselves and keep using AVX-512, so the ratio there is not an AVX2-only machine's).
"""
import json
import math
import os
import subprocess
import sys

build = sys.argv[1] if len(sys.argv) > 1 else "build"
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
models_dir = os.environ.get("FACET_MODEL_PATH", os.path.join(root, "models"))
peer = os.environ.get("ORT_PEER", os.path.join(root, "..", "shared", "tools", "ort-peer", "run"))
facet = os.path.join(build, "tools", "facet")
iters = int(os.environ.get("ITERS", "100"))
rounds = int(os.environ.get("ROUNDS", "3"))
targets = ["fr_detect", "fr_landmark", "fr_feature", "fr_liveness", "fr_pose"]
others = ["fr_eye", "fr_age", "fr_gender", "fr_expression"]
models = targets + (others if os.environ.get("ALL") else [])
threads_list = [int(t) for t in os.environ.get("THREADS", "1 2").split()]


def run_json(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# Which of facet's kernel tables runs (kernels.h: avx512, avx2, c, none), and the CPU flags
# facet sees (FACET_CPU_MASK applied).
kernels = run_json([facet, "nn", "bench", os.path.join(models_dir, "fr_pose.onnx"), "--iters", "1"])["kernels"]
features = subprocess.run([facet, "--version"], capture_output=True, text=True).stdout.strip().replace("\n", "; ")
# Peak of one core: measured by bench/nn/peak.c (ten chains of 512-bit FMAs, or 256-bit ones
# when facet may not use AVX-512: FACET_CPU_MASK), else unknown.
peak = 0.0
try:
    peak = float(subprocess.run([os.path.join(build, "bench", "nn", "bench_peak")] + ([] if "avx512f" in features else ["avx2"]),
                                capture_output=True, text=True, check=True).stdout.strip())
except (OSError, subprocess.CalledProcessError, ValueError):
    pass

rows = []
for t in threads_list:
    for m in models:
        path = os.path.join(models_dir, m + ".onnx")
        ours, ort, gflop = [], [], 0.0
        for _ in range(rounds):
            r = run_json([facet, "nn", "bench", path, "--threads", str(t), "--iters", str(iters)])
            ours.append(r["median_ms"])
            gflop = r["gflop"]
            o = run_json([peer, path, "--bench", "--threads", str(t), "--iters", str(iters)])
            ort.append(o["median_ms"])
        a, b = min(ours), min(ort)
        rows.append((m, t, a, b, a / b, gflop))
        print(f"  {m:14s} threads {t}: facet {a:8.3f} ms  onnxruntime {b:8.3f} ms  ratio {a / b:5.2f}",
              file=sys.stderr, flush=True)

print(f"\nfacet: {features}; own kernel table: {kernels}; load average {os.getloadavg()[0]:.2f}")
print(f"\n| model | threads | facet ms | ONNX Runtime ms | ratio | facet GFLOP/s | % of peak ({peak:.0f} GFLOP/s per core, measured) |")
print("|---|---|---|---|---|---|---|")
for m, t, a, b, r, g in rows:
    gfs = g / (a / 1000)
    share = 100 * gfs / (peak * t) if peak else float("nan")
    print(f"| {m} | {t} | {a:.3f} | {b:.3f} | {r:.2f} | {gfs:.1f} | {share:.0f}% |")
for t in threads_list:
    rs = [r for m, tt, a, b, r, g in rows if tt == t and m in targets]
    if rs:
        gm = math.exp(sum(math.log(x) for x in rs) / len(rs))
        worst = max(rs)
        goal = ("target at 1 thread <= 0.65, none of the nine above 1.0" if "avx512f" in features else
                "target on an AVX2-only machine at 1 thread <= 0.75, none above 1.0; here ONNX Runtime "
                "still uses AVX-512, so this ratio is against a stronger peer")
        print(f"\nthreads {t}: geometric mean ratio over {', '.join(targets)}: {gm:.2f}; worst {worst:.2f} ({goal})")
print(f"\nmedian of {iters} runs, best of {rounds} alternating rounds; reproduce with: "
      f"make bench-nn  (ITERS, ROUNDS, THREADS, ALL=1 to tune)")
