#!/bin/sh
# Runs the whole suite twice: the release build, then a build with AddressSanitizer and
# UndefinedBehaviorSanitizer (any memory error, leak or undefined behaviour fails the test
# that hit it); then the concurrency tests (TSAN_TESTS) a third time in a ThreadSanitizer
# build of just those targets (TSAN_TARGETS). Prints the count of individual checks of all
# as the last line: "N passed, N failed, N skipped". FACET_SANITIZE=0 skips the sanitizer
# passes, FACET_TSAN=0 only the ThreadSanitizer one. Last, the arm64 pass: cross-built and run
# under qemu-user (scripts/cross-test.sh aarch64, its tests counted here too); FACET_CROSS=0
# skips it, FACET_CROSS=all runs the whole suite there instead of CI's share.
set -u
build=${1:-build}
san="$build-sanitize"
rc=0
run_suite() {
    meson test -C "$1" --print-errorlogs --num-processes 2 >"$1/meson-test.out" 2>&1 || rc=1
    grep -E "^ *[0-9]+/[0-9]+ " "$1/meson-test.out" | sed "s|^|[$2] |"
}
run_suite "$build" release
logs="$build/meson-logs/testlog.json"
if [ "${FACET_SANITIZE:-1}" != 0 ]; then
    if [ ! -f "$san/build.ninja" ]; then
        meson setup "$san" -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
    fi
    if ninja -C "$san" >"$san/ninja.out" 2>&1; then
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            run_suite "$san" sanitizers
        logs="$logs $san/meson-logs/testlog.json"
    else
        cat "$san/ninja.out"
        echo "sanitizer build failed"
        rc=1
    fi
fi
# ThreadSanitizer: galleries shared by threads and processes (followers, searches during
# writes), and facetd itself built with it: two nodes with followers, a PostgreSQL outage,
# concurrent enrolments (tests/test_facetd_cluster.py), and the whole single-node facetd suite
# with its parallel recognize + enrol calls and the worker pool's stop (tests/test_facetd.py);
# a race report stops the server, which fails the test. Debian's uninstrumented libpthreadpool is suppressed (tests/tsan.supp).
tsan="$build-tsan"
TSAN_TARGETS="tests/test_cluster tests/test_cluster_pg tools/facetd"
TSAN_TESTS="cluster cluster-postgres facetd facetd-cluster"
if [ "${FACET_SANITIZE:-1}" != 0 ] && [ "${FACET_TSAN:-1}" != 0 ]; then
    if [ ! -f "$tsan/build.ninja" ]; then
        meson setup "$tsan" -Dbuildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false >/dev/null
    fi
    if ninja -C "$tsan" $TSAN_TARGETS >"$tsan/ninja.out" 2>&1; then
        meson test -C "$tsan" --no-rebuild --print-errorlogs --num-processes 2 $TSAN_TESTS \
            >"$tsan/meson-test.out" 2>&1 || rc=1
        grep -E "^ *[0-9]+/[0-9]+ " "$tsan/meson-test.out" | sed "s|^|[tsan] |"
        logs="$logs $tsan/meson-logs/testlog.json"
    else
        cat "$tsan/ninja.out"
        echo "thread sanitizer build failed"
        rc=1
    fi
fi
if [ "${FACET_CROSS:-1}" != 0 ]; then
    cross_all=""
    [ "${FACET_CROSS:-1}" = all ] && cross_all=--all
    "$(dirname "$0")/cross-test.sh" aarch64 $cross_all || rc=1
    cross_log="$(dirname "$0")/../build-aarch64/meson-logs/testlog.json"
    [ -f "$cross_log" ] && logs="$logs $cross_log"
fi
/usr/bin/python3 "$(dirname "$0")/tap-count.py" $logs
exit $rc
