"""report.py RESULTS.jsonl... - the table of bench/search/run.sh, as Markdown on stdout."""
import json
import sys

rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.startswith("{")]
out = []
TRUEFACE = "Trueface published: 26.9 ms single probe, 10.9 ms/probe batched, 1M, 8-core laptop"


def fmt(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


for info in [r for r in rows if r["kind"] == "info"]:
    n = info["n"]
    out.append(f"\n### N = {n:,} faceprints, 512-d, top-10 ({info['cores']} cores: {info['cpu']})\n")
    out.append("| dtype | thr | read floor ms | facet single ms | ×floor | FAISS single ms | facet/FAISS-fp32 | "
               "facet 64 probes/s | FAISS 64 probes/s | ×FAISS | facet 1024 probes/s | FAISS 1024 probes/s | ×FAISS |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    fac = [r for r in rows if r["kind"] == "facet" and r.get("_n") == n]
    fai = [r for r in rows if r["kind"] == "faiss" and r.get("_n") == n]
    for r in fac:
        f = next((x for x in fai if x["dtype"] == r["dtype"] and x["threads"] == r["threads"]), None)
        f32 = next((x for x in fai if x["dtype"] == "fp32" and x["threads"] == r["threads"]), None)
        p64 = 64e3 / r["batch64_ms"]
        p1k = 1024e3 / r["batch1024_ms"]
        fp64 = 64e3 / f["batch64_ms"] if f else None
        fp1k = 1024e3 / f["batch1024_ms"] if f and f["batch1024_ms"] else None
        out.append(
            f"| {r['dtype']} | {r['threads']} | {fmt(r['read_ms'])} | {fmt(r['single_ms'])} | "
            f"{fmt(r['single_ms'] / r['read_ms'], 2)} | {fmt(f['single_ms'] if f else None)} | "
            f"{fmt(r['single_ms'] / f32['single_ms'], 3) if f32 else '-'} | {fmt(p64, 0)} | {fmt(fp64, 0)} | "
            f"{fmt(p64 / fp64, 2) if fp64 else '-'} | {fmt(p1k, 0)} | {fmt(fp1k, 0)} | "
            f"{fmt(p1k / fp1k, 2) if fp1k else '-'} |")
    if n >= 1000000:
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
