"""Counts the TAP results of every test program in meson's testlog.json.

Prints "N passed, N failed, N skipped". A test program that crashed or timed out before it
printed its plan counts as one failure, so a crash can never look like a pass.
"""
import json
import re
import sys

passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        out = t.get("stdout", "") or ""
        oks = re.findall(r"^(ok|not ok) \d+[^\n]*", out, re.M)
        plan = re.search(r"^1\.\.(\d+)", out, re.M)
        for m in re.finditer(r"^(ok|not ok) \d+([^\n]*)", out, re.M):
            if m.group(1) == "not ok":
                failed += 1
            elif "# SKIP" in m.group(2):
                skipped += 1
            else:
                passed += 1
        if t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") and (
            not plan or len(oks) < int(plan.group(1)) or "not ok" not in out
        ):
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
