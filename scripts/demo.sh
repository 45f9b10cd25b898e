#!/bin/sh
# The main job (README's first command): show the models, detect faces in a photo, then enrol
# a gallery of people into the embedded default store (SQLite) and identify who is in each
# probe photo; then start facetd on that store and make three HTTP calls (enrol, identify,
# metrics). Any folders can be given: scripts/demo.sh BUILD [ENROLL_DIR] [PROBE_DIR].
set -eu
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
data=${FACET_DATA:-$(cd "$root/../shared/data" 2>/dev/null && pwd || echo "$root/../shared/data")}
enroll=${2:-$data/gallery/enroll}
probe=${3:-$data/gallery/probe}
db=${FACET_DB:-sqlite:$root/facet.db}
facet="$build/tools/facet"

echo "== facet $("$facet" --version | cut -d' ' -f2-)"
"$facet" models
echo
echo "== detecting faces in $data/images/obama_and_biden.jpg"
"$facet" detect "$data/images/obama_and_biden.jpg" --draw "$root/build/demo-detect.png"
echo "   (boxes and landmarks drawn to build/demo-detect.png)"
echo
echo "== enrolling $enroll into $db, collection 'people' (one folder per person)"
"$facet" collection drop people --db "$db" >/dev/null 2>&1 || true
"$facet" enroll --collection people --db "$db" --keep-chips "$enroll"
echo
echo "== who is in each photo of $probe"
"$facet" identify --collection people --db "$db" "$probe"/*

echo
echo "== facetd: the same collection over HTTP (started in the background, stopped at the end)"
facetd="$build/tools/facetd"
FACET_ADMIN_KEY=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
export FACET_ADMIN_KEY
log=$(mktemp)
"$facetd" --listen 127.0.0.1:0 --db "$db" --log-file "$log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; rm -f "$log"' EXIT
port=""
for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on .*(port \([0-9]*\),.*/\1/p' "$log")
    [ -n "$port" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
[ -n "$port" ] || { cat "$log"; echo "facetd did not start"; exit 1; }
url="http://127.0.0.1:$port"
auth="Authorization: Bearer $FACET_ADMIN_KEY"
echo "   facetd --listen 127.0.0.1:0 --db $db  (port $port, admin key in \$FACET_ADMIN_KEY)"
echo
echo "\$ curl -H \"Authorization: Bearer \$FACET_ADMIN_KEY\" --data-binary @biden.jpg -H 'Content-Type: image/jpeg' '$url/v1/collections/people/faces?identity=biden'"
curl -sS -H "$auth" -H 'Content-Type: image/jpeg' --data-binary @"$data/images/biden.jpg" \
    "$url/v1/collections/people/faces?identity=biden"
echo
echo "\$ curl -H \"Authorization: Bearer \$FACET_ADMIN_KEY\" --data-binary @obama_and_biden.jpg -H 'Content-Type: image/jpeg' '$url/v1/collections/people/identify'"
curl -sS -H "$auth" -H 'Content-Type: image/jpeg' --data-binary @"$data/images/obama_and_biden.jpg" \
    "$url/v1/collections/people/identify"
echo
echo "\$ curl -H \"Authorization: Bearer \$FACET_ADMIN_KEY\" '$url/metrics' | grep -E 'requests_total|faceprints'"
curl -sS -H "$auth" "$url/metrics" | grep -E '^facetd_(requests_total|faceprints)'
kill -TERM $pid
if wait $pid; then echo "   facetd stopped (SIGTERM, exit 0)"; else echo "facetd exited with $?"; exit 1; fi
trap 'rm -f "$log"' EXIT
