#!/bin/sh
# `make deb`: Debian packages from the working tree as it is (committed or not), built with
# dpkg-buildpackage in a copy under OUT (default build-deb/), so the build never writes into the
# sources or above them. The models (fetched by `make models`) go into the facet-models package.
# Prints the .deb files; the build log is OUT/build.log.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/build-deb}" && cd "${1:-$root/build-deb}" && pwd)
models=${FACET_MODEL_PATH:-$root/models}
ver=$(cd "$root" && dpkg-parsechangelog -SVersion)
src="$out/facet-$ver"
rm -rf "$src" "$out"/*.deb "$out"/*.buildinfo "$out"/*.changes
mkdir -p "$src"
# Tracked and untracked-but-not-ignored files: what a commit of this tree would hold.
(cd "$root" && git ls-files -z --cached --others --exclude-standard | grep -zv '^models$') |
    (cd "$root" && xargs -0 cp -P --parents -t "$src")
mkdir -p "$src/models"
cp "$models"/*.onnx "$src/models/"
log="$out/build.log"
if ! (cd "$src" && DEB_BUILD_OPTIONS="nocheck noddebs parallel=$(nproc)" \
        dpkg-buildpackage -b -us -uc) >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "deb: dpkg-buildpackage failed; log in $log" >&2
    exit 1
fi
rm -rf "$src"
ls "$out"/*.deb
