#!/usr/bin/python3
"""test_facetd_cluster.py FACETD - several facetd nodes and durability, end to end, with the real
server binary and (through tests/with-postgres.sh) a real PostgreSQL on loopback:

- two nodes on one PostgreSQL with --follow: an enrolment on node A is found by identify on
  node B (the measured propagation time is printed), a removal on B disappears from A;
  CompreFace subjects (one without examples, a rename with merge, a deletion) made on one node
  show on the other;
- PostgreSQL stopped under both nodes: enrolments answer 503 with Retry-After, identify goes
  on from memory; PostgreSQL started again: the nodes serve writes again without a restart,
  and what A enrols then shows on B;
- the nginx configuration of docs/deploy.md, taken from the page itself (TLS and the third
  node left out, the ports swapped for the test's), in front of two nodes: requests reach
  both nodes, and with one node stopped every request still gets its answer (skipped without
  nginx);
- kill -9 of facetd during a burst of enrolments (SQLite, and PostgreSQL when available):
  after a restart every enrolment that got its 201 is there, the collection loads with no
  corrupt row, and it holds no more rows than were sent.

It reuses test_facetd.py's Server class and TAP checks. Without FACET_TEST_PG the PostgreSQL
parts print TAP skips."""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_facetd as T  # noqa: E402  (reads FACETD from sys.argv[1])

PG = os.environ.get("FACET_TEST_PG", "")
OBAMA = T.OBAMA
PROBE = T.PROBE
skips = []


def skip(name, why):
    T.n_checks += 1
    print("ok %d - %s # SKIP %s" % (T.n_checks, name, why))
    sys.stdout.flush()


def found(node, coll, identity, fp=None):
    """1 if identify on `node` names `identity` first for the probe photo (or for faceprint
    `fp`: no detection, so polling measures propagation rather than inference), 0 if not, None
    on an HTTP error."""
    if fp:
        st, _, j, _ = node.req("POST", "/v1/collections/%s/identify" % coll, {"faceprint": fp, "threshold": 0.5})
    else:
        st, _, j, _ = node.req("POST", "/v1/collections/%s/identify?largest=true" % coll, PROBE, "image/jpeg")
    if st != 200:
        return None
    cands = j["faces"][0]["candidates"] if j.get("faces") else []
    return 1 if cands and cands[0]["identity"] == identity else 0


def wait_until(fn, want, limit_s):
    """Seconds until fn() == want (polled every 2 ms), or None after limit_s."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if fn() == want:
            return time.monotonic() - t0
        time.sleep(0.002)
    return None


def follower_metrics(node):
    """facetd_follower_* of a node's /metrics, by suffix ("running", "seq", ...)."""
    st, _, _, data = node.req("GET", "/metrics")
    return {m.group(1).decode(): int(m.group(2)) for m in
            re.finditer(rb"^facetd_follower_(\w+) (\d+)$", data, re.M)} if st == 200 else {}


def deploy_nginx_conf(ports, listen):
    """The nginx block of docs/deploy.md, for a test: the node lines point at `ports` (the
    page's third node dropped), it listens on loopback without TLS, and the rest (upstream
    policy, keepalive, timeouts, retries, the /metrics rule) is the page's own text."""
    doc = open(os.path.join(T.ROOT, "docs", "deploy.md")).read()
    m = re.search(r"```nginx\n(.*?)```", doc, re.S)
    if not m:
        return None
    conf = m.group(1)
    nodes = re.findall(r"^ *server 127\.0\.0\.1:\d+.*$", conf, re.M)
    if len(nodes) < len(ports):
        return None
    for i, line in enumerate(nodes):
        if i < len(ports):
            conf = conf.replace(line, re.sub(r":\d+", ":%d" % ports[i], line, count=1), 1)
        else:
            conf = conf.replace(line + "\n", "", 1)
    conf = re.sub(r"listen 443 ssl;", "listen 127.0.0.1:%d;" % listen, conf)
    conf = re.sub(r"^ *ssl_certificate.*\n", "", conf, flags=re.M)
    return conf


def behind_nginx():
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    names = ("nginx: both nodes answer", "nginx: one node stopped, every request answered")
    if not PG or not nginx:
        for n in names:
            skip(n, "needs FACET_TEST_PG and nginx (apt-get install nginx-light)")
        return
    a = T.Server("--follow", db=PG)
    b = T.Server("--follow", db=PG)
    d = os.path.join(T.TMP, "nginx")
    os.makedirs(d, exist_ok=True)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    listen = s.getsockname()[1]
    s.close()
    body = deploy_nginx_conf([a.port, b.port], listen)
    T.check("nginx: docs/deploy.md has an nginx block with the node lines", body is not None)
    if body is None:
        a.stop()
        b.stop()
        return
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        # as root, nginx's workers would run as nobody, who cannot enter the test's 0700
        # temporary directory (bodies larger than 16 KiB are buffered there)
        f.write(("user root;\n" if os.geteuid() == 0 else "") +
                "daemon off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log;\n"
                "events { worker_connections 256; }\nhttp {\naccess_log off;\n"
                "client_body_temp_path %s/body;\nproxy_temp_path %s/proxy;\n"
                "fastcgi_temp_path %s/fcgi;\nuwsgi_temp_path %s/uwsgi;\nscgi_temp_path %s/scgi;\n%s}\n"
                % ((d,) * 7 + (body,)))
    proc = subprocess.Popen([nginx, "-p", d, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def via(method, path, body=None, ctype=None):
            t0 = time.monotonic()
            while True:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", listen, timeout=30)
                    h = {"Authorization": "Bearer " + T.ADMIN}
                    if isinstance(body, dict):
                        body, ctype = json.dumps(body).encode(), "application/json"
                    if ctype:
                        h["Content-Type"] = ctype
                    c.request(method, path, body=body, headers=h)
                    r = c.getresponse()
                    data = r.read()
                    c.close()
                    return r.status, data
                except OSError:  # nginx still starting
                    if time.monotonic() - t0 > 10 or proc.poll() is not None:
                        raise
                    time.sleep(0.05)

        def served(node):
            st, _, _, data = node.req("GET", "/metrics")
            return sum(int(v) for v in re.findall(
                rb'^facetd_requests_total\{method="POST",route="/v1/collections/\{name\}/identify",code="200"\} (\d+)$',
                data, re.M))

        via("DELETE", "/v1/collections/lb")
        st, data = via("POST", "/v1/collections", {"name": "lb"})
        st2, data2 = via("POST", "/v1/collections/lb/faces?identity=obama", OBAMA, "image/jpeg")
        a0, b0 = served(a), served(b)
        ok = 0
        for _ in range(12):
            st, data = via("POST", "/v1/collections/lb/identify?largest=true", PROBE, "image/jpeg")
            ok += st == 200 and b'"obama"' in data
        T.check("nginx: both nodes answer", st2 == 201 and ok == 12 and served(a) > a0 and served(b) > b0,
                (st2, data2[:200], ok, served(a) - a0, served(b) - b0))
        a.stop()
        ok = 0
        for _ in range(8):
            st, data = via("POST", "/v1/collections/lb/identify?largest=true", PROBE, "image/jpeg")
            ok += st == 200 and b'"obama"' in data
        T.check("nginx: one node stopped, every request answered", ok == 8, (ok, st, data[:200]))
        via("DELETE", "/v1/collections/lb")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        err = proc.stderr.read().decode(errors="replace")
        if os.path.exists(os.path.join(d, "error.log")):
            err += open(os.path.join(d, "error.log")).read()
        if T.n_failed:
            print("# nginx: " + err[-800:].replace("\n", "\n# "))
        a.stop()
        b.stop()


def two_nodes():
    if not PG:
        for n in ("propagation A -> B", "removal B -> A", "outage: 503 + Retry-After", "outage: identify goes on",
                  "outage: writes again after restart", "outage: B follows again"):
            skip(n, "FACET_TEST_PG not set (run through tests/with-postgres.sh)")
        return
    a = T.Server("--follow", db=PG)
    b = T.Server("--follow", db=PG)
    try:
        a.req("DELETE", "/v1/collections/nodes")
        st, _, j, _ = a.req("POST", "/v1/collections", {"name": "nodes"})
        T.check("node A creates the collection", st == 201, j)
        st, _, j, _ = a.req("POST", "/v1/faceprints", PROBE, "image/jpeg")
        fp = j["faces"][0]["faceprint"]
        # B has never seen it: it loads it on first use
        T.check("node B identifies in it (empty)", found(b, "nodes", "obama", fp) == 0)
        st, _, j, _ = a.req("POST", "/v1/collections/nodes/faces?identity=obama", OBAMA, "image/jpeg")
        acked = time.monotonic()
        uuid = (j or {}).get("uuid")
        T.check("node A enrols obama", st == 201 and uuid, j)
        dt = wait_until(lambda: found(b, "nodes", "obama", fp), 1, 3.0)
        since_ack = time.monotonic() - acked
        print("# propagation: enrolment acknowledged by node A (201) found by identify on node B after %.1f ms" %
              (since_ack * 1e3 if dt is not None else -1))
        T.check("propagation A -> B within 1 s", dt is not None and since_ack < 1.0, dt)
        fm = follower_metrics(b)
        T.check("B's /metrics: follower running, store reached, log applied",
                fm.get("running") == 1 and fm.get("store_ok") == 1 and fm.get("seq", 0) > 0
                and fm.get("applied_total", 0) > 0, fm)
        T.check("... and identify of a photo on B names obama", found(b, "nodes", "obama") == 1)
        st, _, j, _ = b.req("DELETE", "/v1/collections/nodes/faces/%s" % uuid)
        T.check("node B removes it", st == 200, j)
        dt = wait_until(lambda: found(a, "nodes", "obama", fp), 0, 3.0)
        print("# removal on node B gone from node A's answers after %.1f ms" % (dt * 1e3 if dt is not None else -1))
        T.check("removal B -> A within 1 s", dt is not None and dt < 1.0, dt)

        # --- PostgreSQL goes away under both nodes ---
        # (faceprint bodies from here on: the timings measure reconnection, not inference)
        st, _, j, _ = a.req("POST", "/v1/faceprints", T.BIDEN, "image/jpeg")
        fp_biden = j["faces"][0]["faceprint"]
        st, _, j, _ = a.req("POST", "/v1/collections/nodes/faces?identity=obama", OBAMA, "image/jpeg")
        T.check("enrol again before the outage", st == 201, j)
        wait_until(lambda: found(b, "nodes", "obama", fp), 1, 3.0)
        T.check("stop PostgreSQL", subprocess.call(os.environ["FACET_TEST_PG_STOP"], shell=True) == 0)
        st, r, j, _ = a.req("POST", "/v1/collections/nodes/faces?identity=biden", {"faceprint": fp_biden})
        T.check("outage: 503 + Retry-After", st == 503 and r.getheader("Retry-After") and
                T.err_code(j) == "store_unavailable", (st, j))
        T.check("outage: identify goes on", found(b, "nodes", "obama") == 1)
        st, _, j, _ = b.req("GET", "/readyz", key=None)
        T.check("outage: readyz says the store is unreachable", st == 503, j)
        dt = wait_until(lambda: follower_metrics(b).get("store_ok"), 0, 3.0)
        T.check("outage: B's /metrics says its follower cannot reach the store", dt is not None,
                follower_metrics(b))
        T.check("start PostgreSQL", subprocess.call(os.environ["FACET_TEST_PG_START"], shell=True) == 0)
        back = time.monotonic()
        st = 0
        while time.monotonic() - back < 10:
            st, _, j, _ = a.req("POST", "/v1/collections/nodes/faces?identity=biden", {"faceprint": fp_biden})
            if st != 503:
                break
            time.sleep(0.05)
        print("# node A enrolled again %.0f ms after PostgreSQL was back (no restart)" %
              ((time.monotonic() - back) * 1e3))
        T.check("outage: writes again after restart", st == 201, j)
        dt = wait_until(lambda: found(b, "nodes", "biden", fp_biden), 1, 3.0)
        print("# node B, whose listener was cut, found it %.0f ms later" % (dt * 1e3 if dt is not None else -1))
        T.check("outage: B follows again", dt is not None and dt < 1.5, dt)
        st, _, j, _ = b.req("GET", "/readyz", key=None)
        T.check("readyz ready again", st == 200, j)
        a.req("DELETE", "/v1/collections/nodes")
    finally:
        a.stop()
        b.stop()


def compreface_two_nodes():
    """CompreFace's subjects across two nodes: one made without examples on A shows on B, a
    rename with merge on B reaches A's searches, a deletion on B leaves A."""
    names = ("CompreFace: a recognize key makes its collection", "CompreFace: subject A -> B",
             "CompreFace: rename with merge B -> A", "CompreFace: merged example found on A",
             "CompreFace: subject deletion B -> A")
    if not PG:
        for n in names:
            skip(n, "FACET_TEST_PG not set (run through tests/with-postgres.sh)")
        return
    a = T.Server("--follow", db=PG)
    b = T.Server("--follow", db=PG)
    try:
        a.req("DELETE", "/v1/collections/cf_nodes")
        st, _, j, _ = a.req("POST", "/v1/keys", {"role": "recognize", "collection": "cf_nodes"})
        key = (j or {}).get("key")
        T.check(names[0], st == 201 and j["collection_created"] is True, j)
        hdr = {"x-api-key": key or ""}

        def cf(node, method, path, body=None):
            data = json.dumps(body).encode() if body is not None else None
            return node.req(method, "/api/v1/recognition/" + path, data,
                            "application/json" if data is not None else None, key=None, headers=hdr)

        def subjects(node):
            st, _, j, _ = cf(node, "GET", "subjects")
            return j.get("subjects") if st == 200 else None

        T.check("CompreFace: B lists no subjects", subjects(b) == [])
        st, _, j, _ = cf(a, "POST", "subjects", {"subject": "sam"})
        T.check("CompreFace: A adds sam without examples", st == 201, j)
        dt = wait_until(lambda: subjects(b), ["sam"], 3.0)
        T.check(names[1], dt is not None and dt < 1.0, dt)
        st, _, j, _ = cf(a, "POST", "faces?subject=obama", {"file": base64.b64encode(OBAMA).decode()})
        T.check("CompreFace: A adds an example of obama", st == 201, j)
        wait_until(lambda: subjects(b), ["obama", "sam"], 3.0)
        st, _, j, _ = cf(b, "PUT", "subjects/OBAMA", {"subject": "Sam"})
        T.check("CompreFace: B renames OBAMA to Sam (a merge into sam)", st == 200 and j == {"updated": True}, j)
        dt = wait_until(lambda: subjects(a), ["sam"], 3.0)
        T.check(names[2], dt is not None and dt < 1.0, (dt, subjects(a)))
        st, _, j, _ = a.req("POST", "/v1/faceprints", PROBE, "image/jpeg")
        fp = j["faces"][0]["faceprint"]
        T.check(names[3], found(a, "cf_nodes", "sam", fp) == 1)
        st, _, j, _ = cf(b, "DELETE", "subjects/SAM")
        T.check("CompreFace: B deletes SAM", st == 200 and j == {"subject": "sam"}, j)
        dt = wait_until(lambda: subjects(a), [], 3.0)
        T.check(names[4], dt is not None and dt < 1.0 and found(a, "cf_nodes", "sam", fp) == 0, dt)
        a.req("DELETE", "/v1/collections/cf_nodes")
    finally:
        a.stop()
        b.stop()


def kill_during_burst(db, label):
    """4 clients enrol faceprints as fast as they can; facetd gets SIGKILL mid-burst."""
    s = T.Server(db=db)
    st, _, j, _ = s.req("POST", "/v1/faceprints", OBAMA, "image/jpeg")
    fp = j["faces"][0]["faceprint"]
    s.req("DELETE", "/v1/collections/burst")
    st, _, j, _ = s.req("POST", "/v1/collections", {"name": "burst"})
    T.check("%s: collection for the burst" % label, st == 201, j)
    body = json.dumps({"faceprint": fp}).encode()
    acked, sent, errors = [], [0], []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        while not stop.is_set():
            with lock:
                sent[0] += 1
            try:
                st, _, j, _ = s.req("POST", "/v1/collections/burst/faces?identity=p%d" % n, body,
                                    "application/json")
            except Exception:  # the server died under us: this one was not acknowledged
                return
            if st == 201:
                with lock:
                    acked.append(j["uuid"])
            else:
                errors.append(st)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    T.check("%s: enrolments acknowledged before SIGKILL" % label, len(acked) > 20 and not errors,
            (len(acked), errors))
    r = T.Server(db=db)
    try:
        st, _, j, _ = r.req("GET", "/v1/collections/burst")
        count = (j or {}).get("faceprints", -1)
        log = open(r.log).read()
        T.check("%s: restarted: no corrupt row skipped" % label, "corrupt" not in log, log[-2000:])
        T.check("%s: holds at least the acknowledged and at most the sent" % label,
                len(acked) <= count <= sent[0], (len(acked), count, sent[0]))
        missing = 0
        for u in acked:
            st, _, _, _ = r.req("DELETE", "/v1/collections/burst/faces/" + u)
            missing += st != 200
        print("# %s: %d enrolments acknowledged in 1.5 s before kill -9, %d rows after restart, "
              "%d acknowledged ones missing" % (label, len(acked), count, missing))
        T.check("%s: every acknowledged enrolment is there" % label, missing == 0, missing)
        r.req("DELETE", "/v1/collections/burst")
    finally:
        r.stop()


def main():
    try:
        two_nodes()
        compreface_two_nodes()
        behind_nginx()
        kill_during_burst("sqlite:" + os.path.join(T.TMP, "burst.db"), "sqlite")
        if PG:
            kill_during_burst(PG, "postgres")
        else:
            skip("postgres: kill -9 during a burst", "FACET_TEST_PG not set (run through tests/with-postgres.sh)")
    finally:
        shutil.rmtree(T.TMP, ignore_errors=True)
    print("1..%d" % T.n_checks)
    return 1 if T.n_failed else 0


if __name__ == "__main__":
    sys.exit(main())
