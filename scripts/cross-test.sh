#!/bin/sh
# cross-test.sh aarch64 - builds facet for arm64 with Debian's cross compiler and runs the test
# suite under qemu-user: the same meson tests, the test programs run through the cross file's
# exe_wrapper and the test scripts handed wrappers of the programs they start (tests/meson.build).
#
# The arm64 libraries are Debian 12's own packages, unpacked into build-aarch64/sysroot rather
# than installed with `dpkg --add-architecture arm64`: libxnnpack0, libpthreadpool0 and
# libpq-dev are not Multi-Arch: same, so installing the arm64 ones would remove the amd64 ones
# the native build needs, and every Multi-Arch: same library would have to move to the arm64
# package's exact version (on a machine whose amd64 packages lag the archive, dozens of
# upgrades). apt resolves and downloads them with a private state in build-aarch64/apt (an
# empty dpkg status, arm64 as the only architecture), so the machine's own apt and dpkg state
# are left alone. Unpacking runs no maintainer scripts; the two symlinks they would make and
# the sysroot needs (BLAS/LAPACK alternatives) are made here.
#
# Prints meson's test lines; meson's testlog.json in the build folder is what scripts/test.sh
# counts. Exit status 0 when every test passed or skipped.
set -eu
arch=${1:-}
case "$arch" in
aarch64) debarch=arm64 triple=aarch64-linux-gnu ;;
*) echo "usage: cross-test.sh aarch64 [--all | TEST...]" >&2; exit 2 ;;
esac
shift
src=$(cd "$(dirname "$0")/.." && pwd)
build="$src/build-$arch"
sysroot="$build/sysroot"

"$src/scripts/setup.sh"

# The arm64 twins of setup.sh's libraries (their dependencies come with them), libc6-dev for
# the C runtime the cross compiler links against, and the python3 that runs the Python
# package's tests under qemu (tests/run-python-tests.py; 34 packages more).
PKGS="libc6-dev libxnnpack-dev libpthreadpool-dev libprotobuf-c-dev libjpeg62-turbo-dev
libspng-dev zlib1g-dev libsqlite3-dev libpq-dev libmicrohttpd-dev libjansson-dev
libcurl4-openssl-dev libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libavdevice-dev
python3 python3-venv python3-pip python3-pytest python3-numpy"
stamp="$sysroot/.facet-packages"
# What `make test` runs under emulation (CI's share; --all runs every test). qemu-user runs the
# engine's floating-point work one lane at a time through soft-float helpers, ~200x slower than
# native, so the share is what fits CI's 30 minutes (docs/arm64.md has the measured times;
# python, 22 minutes there, is left to --all).
CI_TESTS="base faceprint image gallery store cluster durability oom gallery-ref store-postgres
cluster-postgres install kernels nn-c-kernels nn"
# meson's per-test limits are set for native runs
TIMEOUT_MULTIPLIER=10
if [ "$(cat "$stamp" 2>/dev/null)" != "$PKGS" ]; then
    echo "cross-test: fetching Debian's $debarch packages into $sysroot"
    apt="$build/apt"
    rm -rf "$apt" "$sysroot"
    mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$sysroot"
    : >"$apt/status"
    opts="-qq -o Dir::State::Lists=$apt/lists -o Dir::State::status=$apt/status -o Dir::Cache=$apt
        -o Dir::Cache::archives=$apt/archives -o APT::Architecture=$debarch
        -o APT::Architectures::=$debarch -o APT::Install-Recommends=false -o Debug::NoLocking=1"
    log="$build/apt.log"
    # shellcheck disable=SC2086 # $opts and $PKGS are word lists
    { apt-get $opts update && apt-get $opts -y --download-only install $PKGS; } >"$log" 2>&1 ||
        { cat "$log" >&2; echo "cross-test: apt-get failed" >&2; exit 1; }
    for deb in "$apt"/archives/*.deb; do
        dpkg-deb -x "$deb" "$sysroot"
    done
    # Absolute links (libm.so -> /lib/...) would point into the build machine: made relative.
    find "$sysroot" -type l -lname '/*' | while read -r link; do
        ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$sysroot$(readlink "$link")")" "$link"
    done
    lib="$sysroot/usr/lib/$triple"
    ln -sfn blas/libblas.so.3 "$lib/libblas.so.3"
    ln -sfn lapack/liblapack.so.3 "$lib/liblapack.so.3"
    echo "cross-test: $(find "$apt/archives" -name '*.deb' | wc -l) packages, $(du -sh "$sysroot" | cut -f1) unpacked"
    rm -rf "$apt/archives"
    echo "$PKGS" >"$stamp"
fi

if [ ! -f "$build/build.ninja" ]; then
    printf "[constants]\nsysroot = '%s'\n" "$sysroot" >"$build/sysroot.ini"
    meson setup "$build" --cross-file "$build/sysroot.ini" --cross-file "$src/cross/$triple.ini" ${MESON_FLAGS:-} >"$build/setup.log" 2>&1 ||
        { cat "$build/setup.log" >&2; exit 1; }
fi
rm -f "$build/meson-logs/testlog.json"  # scripts/test.sh counts it: never a stale one
ninja -C "$build" >"$build/ninja.out" 2>&1 || { cat "$build/ninja.out"; echo "cross-test: $arch build failed"; exit 1; }

if [ "${1:-}" = --all ]; then
    tests="" TIMEOUT_MULTIPLIER=30
elif [ $# -gt 0 ]; then
    tests="$*"
else
    tests=$(echo $CI_TESTS)  # one line
fi
rc=0
# shellcheck disable=SC2086 # word lists
meson test -C "$build" --no-rebuild --print-errorlogs --num-processes 2 \
    --timeout-multiplier "$TIMEOUT_MULTIPLIER" $tests \
    >"$build/meson-test.out" 2>&1 || rc=1
grep -E "^ *[0-9]+/[0-9]+ " "$build/meson-test.out" | sed "s|^|[$arch] |"
if [ -n "$tests" ]; then
    left=""
    for t in $(meson test -C "$build" --no-rebuild --list 2>/dev/null); do
        case " $tests " in *" $t "*) ;; *) left="$left $t" ;; esac
    done
    [ -z "$left" ] || echo "[$arch] not run in this pass (scripts/cross-test.sh $arch --all runs them):$left"
fi
exit $rc
