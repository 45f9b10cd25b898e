#!/bin/sh
# `make test-deb`: installs the packages of `make deb` for real with dpkg, but into a throwaway
# root: a private mount namespace (unshare) where /usr, /etc and /var are overlays whose
# writes land in a temporary folder. The machine's own /usr and dpkg database never change,
# nothing needs removing afterwards, and a second run starts from the same clean state.
# Then, from the installed paths only: `facet models` (models found in /usr/share/facet),
# examples/c built with `pkg-config --cflags --libs facet` (shared, and static from the .pc's
# private libraries), the Python package pip-installed against the installed libfacet, facetd
# and its unit when packaged, and a purge that must leave nothing behind. Prints TAP and a
# final "N passed, N failed, N skipped" line. Needs root (CAP_SYS_ADMIN) for the namespace.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
debs=$(cd "${1:-$root/build-deb}" && pwd)

if [ "${FACET_DEB_INSIDE:-}" != 1 ]; then
    ls "$debs"/*.deb >/dev/null 2>&1 || { echo "test-deb: no .deb in $debs (make deb)" >&2; exit 1; }
    FACET_DEB_INSIDE=1 exec unshare --mount --propagation private "$0" "$debs"
fi

n=0 failed=0 skipped=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; sed 's/^/#   /' "$tmp/out" | tail -30; }
skip() { n=$((n + 1)); skipped=$((skipped + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { name=$1; shift; if "$@" >"$tmp/out" 2>&1; then ok "$name"; else not_ok "$name"; fi; }

tmp=$(mktemp -d /tmp/facet-deb.XXXXXX)
for d in usr etc var; do
    mkdir -p "$tmp/$d.up" "$tmp/$d.work"
    if ! mount -t overlay overlay -o "lowerdir=/$d,upperdir=$tmp/$d.up,workdir=$tmp/$d.work" "/$d"; then
        echo "1..0 # SKIP cannot overlay /$d in a mount namespace (needs root with CAP_SYS_ADMIN)"
        rm -rf "$tmp"
        exit 0
    fi
done
mkdir -p "$tmp/work"
cd "$tmp/work" || exit 1  # no ./models here: the installed folder must be found
unset FACET_MODEL_PATH FACET_LIB
data="$root/../shared/data"
pkgs=$(for f in "$debs"/*.deb; do dpkg-deb -f "$f" Package; done)

echo "1..12"
check "dpkg -i installs $(echo $pkgs)" dpkg -i "$debs"/*.deb

installed_facet() {
    ldd /usr/bin/facet | grep -Eq "libfacet.so.0 => (/usr)?/lib/[^ ]*/libfacet.so.0 " &&
        /usr/bin/facet models >models.out && cat models.out &&
        [ "$(grep -c 'loaded+planned' models.out)" = 9 ] && grep -q "models in /usr/share/facet/models" models.out
}
check "facet models: nine models from /usr/share/facet/models, libfacet.so.0 from /usr/lib" installed_facet

build_example() {
    cp -r "$root/examples/c" example && make -C example CFLAGS="-O2 -Wall -Wextra -Werror" &&
        cp example/faces . && ldd ./faces | grep -Eq "libfacet.so.0 => (/usr)?/lib/" &&
        ./faces "$data/gallery/enroll/obama/obama.jpg" "$data/gallery/enroll/obama/obama2.jpg" >same.out &&
        ./faces "$data/gallery/enroll/obama/obama.jpg" "$data/gallery/enroll/biden/biden.jpg" >diff.out &&
        cat same.out diff.out && grep -q "same person" same.out && grep -q "different people" diff.out
}
check "examples/c built by its Makefile (pkg-config --cflags --libs facet): same and different people" build_example

# libfacet.a with the shared libraries facet.pc names as private (Requires.private and
# Libs.private): `pkg-config --static` would also want libpq's own static dependencies, which
# Debian does not ship.
build_static() {
    private="$(pkg-config --libs $(pkg-config --print-requires-private facet)) $(sed -n \
        's/^Libs.private: //p' "$(pkg-config --variable=pcfiledir facet)/facet.pc")"
    echo "private: $private"
    cc -Wall -Wextra -Werror -o faces-static "$root/examples/c/faces.c" $(pkg-config --cflags facet) \
        -Wl,-Bstatic -lfacet -Wl,-Bdynamic $private &&
        ! ldd ./faces-static | grep -q libfacet &&
        ./faces-static "$data/images/obama.jpg" | grep -q "1 face"
}
check "examples/c/faces.c linked with libfacet.a and the private libraries in facet.pc" build_static

python_pkg() {
    /usr/bin/python3 -m venv --system-site-packages --without-pip venv &&
        venv/bin/python -m pip install --no-index -q "$root/bindings/python" &&
        venv/bin/python -c '
import facet
assert facet.library_path().startswith("/usr/lib/"), facet.library_path()
faces = facet.SDK(threads=1).detect("'"$data"'/gallery/probe/kit_with_rose.jpg")
assert len(faces) == 2, faces
print(facet.library_path(), faces)'
}
check "pip install bindings/python records the installed libfacet.so.0 and detects" python_pkg

if echo "$pkgs" | grep -qx facetd; then
    check "facetd --check-config reads /etc/facet/facetd.conf" /usr/bin/facetd --config /etc/facet/facetd.conf --check-config
    key_made() { [ "$(stat -c %a:%U /etc/facet/admin-key)" = 600:root ] && [ "$(wc -c </etc/facet/admin-key)" -ge 17 ]; }
    check "postinst wrote a random admin key, mode 600, root" key_made
    unit_ok() {
        systemd-analyze verify --man=no /lib/systemd/system/facetd.service &&
            systemd-analyze security --offline=yes /lib/systemd/system/facetd.service >sec.out 2>&1
        score=$(sed -n 's/.*Overall exposure level for facetd.service: \([0-9.]*\).*/\1/p' sec.out)
        echo "exposure $score"
        [ -n "$score" ] && awk "BEGIN { exit !($score <= 2.5) }"
    }
    check "facetd.service verifies, sandbox exposure <= 2.5 (systemd-analyze security)" unit_ok
    serve() {  # as the unit runs it, minus the sandbox: settings from /etc, models from /usr/share
        mkdir -p /var/lib/facet
        /usr/bin/facetd --config /etc/facet/facetd.conf --admin-key-file /etc/facet/admin-key \
            --listen 127.0.0.1:0 --preload >facetd.log 2>&1 &
        pid=$! port=""
        for _ in $(seq 600); do
            port=$(sed -n 's/.*listening on .* (port \([0-9]*\).*/\1/p' facetd.log)
            [ -n "$port" ] || ! kill -0 $pid 2>/dev/null && break
            sleep 0.1
        done
        curl -sf "http://127.0.0.1:$port/readyz" && echo &&
            curl -sf -H "Authorization: Bearer $(cat /etc/facet/admin-key)" "http://127.0.0.1:$port/v1/collections" &&
            if [ -f /usr/share/facet/web/index.html ]; then  # the dashboard, from the installed files
                curl -sf "http://127.0.0.1:$port/" | cmp - /usr/share/facet/web/index.html
            fi
        rc=$?
        kill $pid && wait $pid
        cat facetd.log
        return $rc
    }
    check "installed facetd serves /readyz, keyed routes and the dashboard (from /usr/share/facet)" serve
    check "man facetd" man -P cat facetd
else
    for t in "facetd --check-config" "admin key" "facetd.service" "facetd serves" "man facetd"; do skip "$t" "no facetd package"; done
fi
check "man facet" man -P cat facet

purge() {
    dpkg --purge $pkgs && [ ! -e /usr/bin/facet ] && [ ! -e /etc/facet ] && [ ! -e /usr/share/facet ] &&
        ! ls /usr/lib/*/libfacet* 2>/dev/null
}
check "dpkg --purge removes every file" purge

cd / && for d in usr etc var; do umount -l "/$d"; done
rm -rf "$tmp"
echo "$((n - failed - skipped)) passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
