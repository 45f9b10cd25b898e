#!/bin/sh
# The main job (README's first command): show the loaded models, then run the pipeline on
# real photos. Later stages extend this script; it runs on the embedded default store.
set -eu
build=${1:-build}
facet="$build/tools/facet"
data=${FACET_DATA:-$(dirname "$0")/../../shared/data}
"$facet" models
