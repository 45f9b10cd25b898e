"""Counts the TAP results of every test program in meson's testlog.json files.

Prints "N passed, N failed, N skipped". A test program that crashed or timed out before it
printed all of its plan counts as one more failure, so a crash can never look like a pass.
"""
import json
import re
import sys

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
            if t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") and (
                incomplete or not any(s == "not ok" for s, _ in results)
            ):
                failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
