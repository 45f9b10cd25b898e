#!/bin/sh
# The main job (README's first command): show the models, detect faces in a photo, then enrol
# a gallery of people into the embedded default store (SQLite) and identify who is in each
# probe photo. Any folders can be given: scripts/demo.sh BUILD [ENROLL_DIR] [PROBE_DIR].
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
