"""Counts the TAP results of every test program in meson's testlog.json files.

Prints "N passed, N failed, N skipped". A test program that crashed or timed out before it
printed all of its plan counts as one more failure, so a crash can never look like a pass.
Before that line, for each test program that did not pass: its failed checks (the "not ok"
lines and the diagnostics before them) and the end of its stderr, so that a CI log that
keeps only its last lines still says what failed.
"""
import json
import re
import sys


def report(t, out):
    """The failed checks of one test program and the tail of its stderr."""
    print(f"==== {t.get('name')}: {t.get('result')} (exit status {t.get('returncode')})")
    diag = []
    for line in out.splitlines():
        if line.startswith("#"):
            diag.append(line)
            continue
        if line.startswith("not ok") or line.startswith("Bail out"):
            for d in diag[-20:]:
                print(d)
            print(line)
        diag = []
    err = (t.get("stderr", "") or "").splitlines()
    if err:
        print(f"---- last {min(len(err), 30)} lines of stderr")
        for line in err[-30:]:
            print(line)
    if not re.search(r"^(not ok|Bail out)", out, re.M):
        print("---- last 15 lines of stdout")
        for line in out.splitlines()[-15:]:
            print(line)


passed = failed = skipped = 0
for log in sys.argv[1:]:
    with open(log) as f:
        for line in f:
            t = json.loads(line)
            out = t.get("stdout", "") or ""
            results = re.findall(r"^(ok|not ok) \d+([^\n]*)", out, re.M)
            plan = re.search(r"^1\.\.(\d+)", out, re.M)
            for status, rest in results:
                if status == "not ok":
                    failed += 1
                elif "# SKIP" in rest:
                    skipped += 1
                else:
                    passed += 1
            incomplete = not plan or len(results) < int(plan.group(1))
            bad = t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL")
            if bad and (incomplete or not any(s == "not ok" for s, _ in results)):
                failed += 1
            if bad:
                report(t, out)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
