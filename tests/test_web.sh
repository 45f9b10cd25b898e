#!/bin/sh
# The dashboard in a real browser: Debian's chromium driven by playwright-core (from the npm
# registry, pinned, installed once into the build folder) against a real facetd on loopback.
# Prints TAP (tests/web/dashboard.mjs); screenshots of every page go to $FACET_WEB_SHOTS
# (default BUILD/web-screenshots) as test artefacts.
# usage: test_web.sh FACETD FACET BUILD_DIR
set -eu
facetd=$1 facet=$2 build=$3
dir="$build/web-test"
PW=playwright-core@1.64.1
if [ ! -f "$dir/node_modules/playwright-core/package.json" ] ||
   ! grep -q '"version": "1.64.1"' "$dir/node_modules/playwright-core/package.json"; then
    mkdir -p "$dir"
    log="$dir/npm.log"
    (cd "$dir" && [ -f package.json ] || echo '{"name":"facet-web-test","private":true}' >"$dir/package.json"
     cd "$dir" && npm install --ignore-scripts --no-audit --no-fund --silent "$PW") >"$log" 2>&1 || {
        echo "1..1"; echo "not ok 1 - npm install $PW failed:"; sed 's/^/# /' "$log"; exit 1; }
fi
if [ ! -x /usr/bin/chromium ]; then
    echo "1..1"; echo "not ok 1 - /usr/bin/chromium is missing (scripts/setup.sh installs Debian's chromium)"; exit 1
fi
export FACET_WEB_SHOTS="${FACET_WEB_SHOTS:-$build/web-screenshots}"
mkdir -p "$FACET_WEB_SHOTS"
exec node "$(dirname "$0")/web/dashboard.mjs" "$facetd" "$facet" "$dir"
