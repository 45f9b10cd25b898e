#!/bin/sh
# `meson install` into a staging folder (DESTDIR), then every installed piece used from there
# the way a user would: the headers each compile alone, examples/c builds with the installed
# facet.pc and runs against the installed libfacet.so, the installed `facet` runs, the man pages
# render and list every command and flag the programs have, and facetd's unit verifies with a
# sandbox that systemd rates at most 2.5 ("OK"); the engine is run under the kernel's
# MemoryDenyWriteExecute (PR_SET_MDWE) because the unit asks for it. Prints TAP.
# Usage: test_install.sh BUILD_DIR
# A cross build (tests/meson.build) sets FACET_CROSS_CC (the cross compiler with its
# --sysroot), FACET_CROSS_RUN (qemu-user with -L SYSROOT) and FACET_CROSS_SYSROOT: the examples
# are compiled with that compiler, every installed program runs under that command, and "ldd"
# is the target's own dynamic loader listing what it loads (ldd runs the loader with --list).
set -u
build=$1
CC=${FACET_CROSS_CC:-cc}
RUN=${FACET_CROSS_RUN:-}
sysroot=${FACET_CROSS_SYSROOT:-}
src=$(cd "$(dirname "$0")/.." && pwd)
data="$src/../shared/data"
tmp=$(mktemp -d /tmp/facet-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/dest"

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; sed 's/^/#   /' "$tmp/out" | tail -30; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { name=$1; shift; if "$@" >"$tmp/out" 2>&1; then ok "$name"; else not_ok "$name"; fi; }

echo "1..9"
check "meson install --destdir" meson install -C "$build" --destdir "$dest" --no-rebuild --quiet

one() { find "$dest" -path "*$1" | head -1; }
facet=$(one /bin/facet)
prefix=${facet%/bin/facet}
lib=$(one /libfacet.so.0); libdir=${lib%/libfacet.so.0}
facetd=$(one /bin/facetd)
have_facetd=0; [ -n "$facetd" ] || [ -f "$build/tools/facetd" ] && have_facetd=1

export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
# run PROGRAM ARG...: natively the program, in a cross build through qemu-user
run() { $RUN "$@"; }
# libs PROGRAM: the libraries PROGRAM loads and where from, as ldd prints them
libs() {
    if [ -z "$RUN" ]; then ldd "$1"; return; fi
    ldso=$(readelf -l "$1" | sed -n 's/.*program interpreter: \(.*\)]$/\1/p')
    [ -n "$ldso" ] || { echo "$1 names no program interpreter"; return 1; }
    $RUN "$sysroot$ldso" --list "$1"
}

files_present() {
    [ -n "$facet" ] && [ -n "$lib" ] || { echo "no bin/facet or libfacet.so.0 under $dest"; return 1; }
    want="$libdir/libfacet.so $libdir/libfacet.a $libdir/pkgconfig/facet.pc $prefix/share/man/man1/facet.1"
    for h in facet base image nn face gallery; do want="$want $prefix/include/facet/$h.h"; done
    if [ $have_facetd = 1 ]; then
        want="$want $prefix/bin/facetd $prefix/share/man/man8/facetd.8 $prefix/lib/systemd/system/facetd.service"
        want="$want $dest$(meson introspect "$build" --buildoptions | /usr/bin/python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(o["sysconfdir"] if o["sysconfdir"].startswith("/") else o["prefix"] + "/" + o["sysconfdir"])')/facet/facetd.conf"
    fi
    [ -d "$src/web" ] && for f in $(cd "$src" && find web -type f); do want="$want $prefix/share/facet/$f"; done
    missing=0
    for f in $want; do [ -e "$f" ] || { echo "missing: ${f#$dest}"; missing=1; }; done
    return $missing
}
check "library (shared + static), headers, facet.pc, facet, man pages, facetd + unit + web when built" files_present

headers_alone() {
    for h in "$prefix"/include/facet/*.h; do
        echo "#include <facet/$(basename "$h")>" | $CC -std=c11 -Wall -Wextra -Werror -pedantic -x c -c \
            -I"$prefix/include" -o /dev/null - || { echo "$h does not compile alone"; return 1; }
    done
}
check "each installed header compiles alone (-std=c11 -pedantic -Werror)" headers_alone

example() {
    flags=$(pkg-config --cflags --libs facet) || return 1
    echo "pkg-config: $flags"
    $CC -Wall -Wextra -Werror -o "$tmp/faces" "$src/examples/c/faces.c" $flags || return 1
    LD_LIBRARY_PATH="$libdir" libs "$tmp/faces" | grep -q "libfacet.so.0 => $libdir/" || return 1
    LD_LIBRARY_PATH="$libdir" run "$tmp/faces" "$data/gallery/enroll/obama/obama.jpg" \
        "$data/gallery/enroll/obama/obama2.jpg" >"$tmp/same" &&
        LD_LIBRARY_PATH="$libdir" run "$tmp/faces" "$data/gallery/enroll/obama/obama.jpg" \
            "$data/gallery/enroll/biden/biden.jpg" >"$tmp/diff" || return 1
    cat "$tmp/same" "$tmp/diff"
    grep -q "same person" "$tmp/same" && grep -q "different people" "$tmp/diff"
}
check "examples/c built with the installed facet.pc, run against the installed libfacet" example

readme_c() {
    sed -n '/^```c$/,/^```$/p' "$src/README.md" | sed '1d;$d' >"$tmp/readme.c"
    [ -s "$tmp/readme.c" ] || { echo "README has no C example"; return 1; }
    $CC -Wall -Wextra -Werror -o "$tmp/readme" "$tmp/readme.c" $(pkg-config --cflags --libs facet) &&
        LD_LIBRARY_PATH="$libdir" run "$tmp/readme" "$data/gallery/probe/kit_with_rose.jpg" | tee "$tmp/readme.out" &&
        grep -qx "2 face(s)" "$tmp/readme.out" &&
        ! LD_LIBRARY_PATH="$libdir" run "$tmp/readme" /nonexistent.jpg
}
check "the README's C example builds and runs" readme_c

installed_facet() {
    LD_LIBRARY_PATH="$libdir" libs "$facet" | grep -q "libfacet.so.0 => $libdir/" || { echo "not linked to $libdir"; return 1; }
    LD_LIBRARY_PATH="$libdir" run "$facet" models | tee "$tmp/models" && [ "$(grep -c 'loaded+planned' "$tmp/models")" = 9 ]
}
check "installed facet (shared libfacet) loads and plans the nine models" installed_facet

man_pages() {
    for m in "$prefix"/share/man/man*/*; do
        w=$(LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$m" 2>&1 >/dev/null)
        [ -z "$w" ] || { echo "$m: $w"; return 1; }
    done
    # every command `facet --help` lists has its entry
    for c in $(LD_LIBRARY_PATH="$libdir" run "$facet" --help | sed -n 's/^  \([a-z]\+\)  .*/\1/p'); do
        grep -q "^\.B[IR]\? \"\?$c\b" "$prefix/share/man/man1/facet.1" || { echo "facet.1 lacks the command $c"; return 1; }
    done
    if [ $have_facetd = 1 ]; then
        for f in $(LD_LIBRARY_PATH="$libdir" run "$prefix/bin/facetd" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
            grep -qF -- "$(echo "$f" | sed 's/-/\\-/g')" "$prefix/share/man/man8/facetd.8" ||
                { echo "facetd.8 lacks $f"; return 1; }
        done
    fi
}
check "man pages render without warnings and name every command and flag" man_pages

if [ $have_facetd = 1 ]; then
    unit() {
        u="$prefix/lib/systemd/system/facetd.service" real=${prefix#"$dest"}
        grep -q "^ExecStart=$real/bin/facetd " "$u" || { echo "ExecStart is not $real/bin/facetd"; return 1; }
        sed "s|^ExecStart=$real/bin/facetd|ExecStart=$prefix/bin/facetd|" "$u" >"$tmp/facetd.service"
        systemd-analyze verify --man=no "$tmp/facetd.service" || return 1
        systemd-analyze security --offline=yes "$tmp/facetd.service" >"$tmp/sec" 2>&1
        score=$(sed -n 's/.*Overall exposure level for facetd.service: \([0-9.]*\).*/\1/p' "$tmp/sec")
        echo "exposure level $score"
        [ -n "$score" ] && awk "BEGIN { exit !($score <= 2.5) }"
    }
    check "facetd.service verifies; sandbox exposure <= 2.5 (systemd-analyze security --offline)" unit
    grep "^exposure level" "$tmp/out" | sed 's/^/# facetd.service /'
else
    skip "facetd.service" "facetd is not built"
fi

mdwe() {
    LD_LIBRARY_PATH="$libdir" /usr/bin/python3 -c '
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    print("no PR_SET_MDWE"); sys.exit(77)
os.execv(sys.argv[1], sys.argv[1:])' "$facet" analyze "$data/images/obama.jpg"
}
if [ -n "$RUN" ]; then
    # qemu-user translates the program into host code in memory that is writable and
    # executable at once, which MDWE exists to refuse: it would test qemu, not facet
    rc=78
else
    mdwe >"$tmp/out" 2>&1; rc=$?
fi
if [ $rc = 78 ]; then skip "engine under MemoryDenyWriteExecute" "run under qemu-user, whose translated code needs W+X memory";
elif [ $rc = 77 ]; then skip "engine under MemoryDenyWriteExecute" "kernel without PR_SET_MDWE (Linux < 6.3)";
elif [ $rc = 0 ] && grep -q "face 1" "$tmp/out"; then ok "engine (all nine models) runs under MemoryDenyWriteExecute (PR_SET_MDWE)";
else not_ok "engine (all nine models) runs under MemoryDenyWriteExecute (PR_SET_MDWE)"; fi

[ $failed = 0 ]
