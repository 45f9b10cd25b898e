#!/usr/bin/python3
"""compreface.py FACETD [PHOTO] [ROUNDS] - the cost of facetd's CompreFace-compatible layer.

Starts facetd on loopback (SQLite in a temporary folder), enrols ../shared/data/gallery/enroll
through the CompreFace API, then sends the same photo (multipart, the same bytes) alternately
to CompreFace's POST /api/v1/recognition/recognize and to facetd's own
POST /v1/collections/{name}/identify, which do the same work (decode, detect every face,
faceprint each, top-1 search). One request at a time on one keep-alive connection each,
interleaved so that drift (other load on the machine, frequency) hits both alike; the first
rounds warm up and are dropped. Prints the median and p90 latency of each, the overhead of the
compatible layer on the median, and one JSON line. The goal (issue 14): under 5%.
"""
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

FACETD = os.path.abspath(sys.argv[1])
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("FACET_TEST_DATA") or os.path.join(ROOT, "..", "shared", "data")
PHOTO = sys.argv[2] if len(sys.argv) > 2 else os.path.join(DATA, "gallery", "probe", "obama1.jpg")
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 200
WARMUP = 20
ADMIN = "bench-admin-key-compreface-0123"


def multipart(name, data):
    b = "----facetbench0123456789"
    body = ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"photo.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n" % (b, name)).encode() + data + ("\r\n--%s--\r\n" % b).encode()
    return body, "multipart/form-data; boundary=" + b


def main():
    tmp = tempfile.mkdtemp(prefix="facet-bench-cf-")
    log = os.path.join(tmp, "log")
    env = dict(os.environ, FACET_ADMIN_KEY=ADMIN)
    env.setdefault("FACET_MODEL_PATH", os.path.join(ROOT, "models"))
    proc = subprocess.Popen([FACETD, "--listen", "127.0.0.1:0", "--db", "sqlite:" + os.path.join(tmp, "b.db"),
                             "--log-file", log], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = None
        for _ in range(600):
            if os.path.exists(log):
                m = re.search(r"listening on .*\(port (\d+)", open(log).read())
                if m:
                    port = int(m.group(1))
                    break
            if proc.poll() is not None:
                sys.exit("facetd exited: see " + log)
            time.sleep(0.1)
        if not port:
            sys.exit("facetd did not start")

        def call(conn, method, path, body=None, headers=None):
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            if r.status >= 300:
                sys.exit("%s %s: %d %s" % (method, path, r.status, data[:300]))
            return data

        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        key = json.loads(call(c, "POST", "/v1/keys", json.dumps({"role": "recognize", "collection": "bench"}),
                              {"Authorization": "Bearer " + ADMIN, "Content-Type": "application/json"}))["key"]
        enroll = os.path.join(DATA, "gallery", "enroll")
        for who in sorted(os.listdir(enroll)):
            for f in sorted(os.listdir(os.path.join(enroll, who))):
                body, ct = multipart("file", open(os.path.join(enroll, who, f), "rb").read())
                call(c, "POST", "/api/v1/recognition/faces?subject=" + who, body,
                     {"x-api-key": key, "Content-Type": ct})
        photo = open(PHOTO, "rb").read()
        cf_body, cf_ct = multipart("file", photo)
        own_body, own_ct = multipart("image", photo)
        kinds = {
            "compreface": (http.client.HTTPConnection("127.0.0.1", port, timeout=60), "/api/v1/recognition/recognize",
                           cf_body, {"x-api-key": key, "Content-Type": cf_ct}),
            "facetd": (http.client.HTTPConnection("127.0.0.1", port, timeout=60), "/v1/collections/bench/identify",
                       own_body, {"Authorization": "Bearer " + key, "Content-Type": own_ct}),
        }
        times = {k: [] for k in kinds}
        pairs = {k: [] for k in kinds}  # in round order, for the paired difference
        for i in range(WARMUP + ROUNDS):
            order = list(kinds) if i % 2 == 0 else list(reversed(list(kinds)))
            for k in order:
                conn, path, body, h = kinds[k]
                t = time.perf_counter()
                call(conn, "POST", path, body, h)
                if i >= WARMUP:
                    times[k].append((time.perf_counter() - t) * 1000)
                    pairs[k].append(times[k][-1])
        res = {}
        for k, v in times.items():
            v.sort()
            res[k] = {"median_ms": round(statistics.median(v), 3), "p90_ms": round(v[int(len(v) * 0.9)], 3)}
        over = res["compreface"]["median_ms"] / res["facetd"]["median_ms"] - 1
        # paired: each round sent both, so the per-round difference cancels the machine's drift;
        # a bootstrap of the mean difference gives its 95% interval
        diff = [a - b for a, b in zip(pairs["compreface"], pairs["facetd"])]
        rng = random.Random(14)
        boots = sorted(statistics.fmean(rng.choices(diff, k=len(diff))) for _ in range(2000))
        mean_own = statistics.fmean(pairs["facetd"])
        lo, hi = boots[50] / mean_own, boots[1949] / mean_own
        print("photo %s, %d rounds after %d warm-up, one request at a time on loopback" % (PHOTO, ROUNDS, WARMUP))
        for k in kinds:
            print("  %-10s %-36s median %8.3f ms  p90 %8.3f ms" % (k, kinds[k][1], res[k]["median_ms"], res[k]["p90_ms"]))
        print("  overhead of the CompreFace layer on the median: %+.2f%% (goal: under 5%%)" % (over * 100))
        print("  paired mean difference: %+.2f%% of facetd's mean, 95%% bootstrap interval [%+.2f%%, %+.2f%%]"
              % (statistics.fmean(diff) / mean_own * 100, lo * 100, hi * 100))
        print("  reproduce: python3 bench/server/compreface.py build/tools/facetd [PHOTO] [ROUNDS]")
        print(json.dumps({"bench": "compreface", "photo": os.path.basename(PHOTO), "rounds": ROUNDS, **res,
                          "overhead": round(over, 4), "paired_overhead_ci95": [round(lo, 4), round(hi, 4)]}))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


main()
