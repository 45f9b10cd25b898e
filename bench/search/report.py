"""report.py RESULTS.jsonl... - the table of bench/search/run.sh, as Markdown on stdout."""
import json
import sys

rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.startswith("{")]
out = []
TRUEFACE = "Trueface published: 26.9 ms single probe, 10.9 ms/probe batched, 1M, 8-core laptop"


def fmt(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


def peer(fai, dtype, threads, name):
    return next((x for x in fai if x["dtype"] == dtype and x["threads"] == threads and
                 x.get("peer", "native") == name), None)


def rate(nprobes, ms):
    return None if ms is None else nprobes * 1e3 / ms


def ratio(a, b):
    return fmt(a / b, 2) if a is not None and b else "-"


def cpu_ratio(r, f):
    """64-probe throughput per CPU second, facet / peer (process CPU time: all threads)."""
    a, b = r.get("batch64_cpu_ms"), f.get("batch64_cpu_ms") if f else None
    return ratio(b, a) if a and b else "-"


for info in [r for r in rows if r["kind"] == "info"]:
    n = info["n"]
    fac = [r for r in rows if r["kind"] == "facet" and r.get("_n") == n]
    fai = [r for r in rows if r["kind"] == "faiss" and r.get("_n") == n]
    mask = info.get("cpu_mask") or "none"
    kern = ", ".join(sorted({f"{r['dtype']} {r.get('kernel', '?')} + screen {r.get('screen', '?')}"
                             for r in fac}))
    cores = sorted({f"{r.get('peer', 'native')}: {r.get('blas_core', '?')}" for r in fai})
    out.append(f"\n### N = {n:,} faceprints, 512-d, top-10 ({info['cores']} cores: {info['cpu']})\n")
    out.append(f"facet ISA (CPU flags after FACET_CPU_MASK={mask}): {info['cpu']}; kernels: {kern}. "
               f"OpenBLAS core per FAISS run: {'; '.join(cores)}.\n")
    out.append("| dtype | thr | read floor ms | facet single ms | ×floor | ×floor CPU time | FAISS single ms | facet/FAISS-fp32 | "
               "facet 64 probes/s | FAISS same dtype 64/s | ×FAISS | FAISS fp32 64/s | ×FAISS fp32 | "
               "FAISS fp32 Haswell 64/s | ×Haswell | CPU-time ×FAISS fp32 | CPU-time ×Haswell | "
               "facet 1024 probes/s | FAISS 1024 probes/s | ×FAISS |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in fac:
        f = peer(fai, r["dtype"], r["threads"], "native")
        f32 = peer(fai, "fp32", r["threads"], "native")
        fh = peer(fai, "fp32", r["threads"], "haswell")
        p64, p1k = rate(64, r["batch64_ms"]), rate(1024, r.get("batch1024_ms"))
        fp64 = rate(64, f["batch64_ms"]) if f else None
        f32_64 = rate(64, f32["batch64_ms"]) if f32 else None
        fh64 = rate(64, fh["batch64_ms"]) if fh else None
        fp1k = rate(1024, f.get("batch1024_ms")) if f else None
        out.append(
            f"| {r['dtype']} | {r['threads']} | {fmt(r['read_ms'])} | {fmt(r['single_ms'])} | "
            f"{fmt(r['single_ms'] / r['read_ms'], 2)} | {ratio(r.get('single_cpu_ms'), r.get('read_cpu_ms'))} | "
            f"{fmt(f['single_ms'] if f else None)} | "
            f"{fmt(r['single_ms'] / f32['single_ms'], 3) if f32 else '-'} | {fmt(p64, 0)} | {fmt(fp64, 0)} | "
            f"{ratio(p64, fp64)} | {fmt(f32_64, 0)} | {ratio(p64, f32_64)} | {fmt(fh64, 0)} | "
            f"{ratio(p64, fh64)} | {cpu_ratio(r, f32)} | {cpu_ratio(r, fh)} | "
            f"{fmt(p1k, 0)} | {fmt(fp1k, 0)} | {ratio(p1k, fp1k)} |")
    if n >= 1000000 and all(r.get("batch1024_ms") for r in fac):
        best = min(r["single_ms"] for r in fac)
        bb = min(r["batch1024_ms"] / 1024 for r in fac)
        out.append(f"\n{TRUEFACE}; facet best here: {best:.1f} ms single, {bb:.2f} ms/probe "
                   f"batched (Trueface/facet time ratios {26.9 / best:.2f} and {10.9 / bb:.2f}, "
                   f"here on 2 cores).")

for r in [r for r in rows if r["kind"] == "identify"]:
    out.append(f"\nPublic path, {r['n']:,} faceprints in a memory: gallery ({r['dtype']}), "
               f"facet_gallery_identify, 1 thread: **{r['identify_ms']:.2f} ms** "
               f"(median of {r['reps']} probes after a warm-up; {r['found']} found the noisy copy's row).")

for s in [r for r in rows if r["kind"] == "sqlite"]:
    out.append(f"\nSQLite, {s['n']:,} faceprints: enrol (public API, 10k per transaction) "
               f"{s['enrol_ms'] / 1e3:.1f} s; **load {s['load_ms'] / 1e3:.2f} s** "
               f"({s['loaded']:,} loaded, {s['skipped']} skipped, fp16 in memory); "
               f"facet_gallery_identify after loading: {s['identify_ms']:.1f} ms (median of 9 after a warm-up).")
print("\n".join(out))
