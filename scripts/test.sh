#!/bin/sh
# Runs the whole suite (every TAP test program under meson) and prints the count of individual
# checks as the last line: "N passed, N failed" (skips are reported separately).
set -u
build=${1:-build}
meson test -C "$build" --print-errorlogs --num-processes 2 >"$build/meson-test.out" 2>&1
rc=$?
grep -E "^ *[0-9]+/[0-9]+ " "$build/meson-test.out"
[ $rc -eq 0 ] || sed -n '/^=* [0-9]*\/[0-9]* =*$/,$p' "$build/meson-test.out" | head -200
/usr/bin/python3 "$(dirname "$0")/tap-count.py" "$build/meson-logs/testlog.json"
exit $rc
