#!/bin/sh
# run.sh [BUILD_DIR] [DATA_DIR] [RUNS] - bench/pipeline on a photo and on real 1920x1080 frames:
# extracts every 5th frame of DATA_DIR/video/crowd.mp4 (21 frames) to PNG with the ffmpeg
# command line into a temporary folder, then runs bench_pipeline on them.
#   make bench-pipeline
set -eu
build=${1:-build}
data=${2:-../shared/data}
runs=${3:-60}
tmp=$(mktemp -d /tmp/facet-frames-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ffmpeg -v error -nostdin -i "$data/video/crowd.mp4" -vf "select=not(mod(n\,5))" -vsync vfr \
    -frames:v 21 "$tmp/f%03d.png"
"$build/bench/pipeline/bench_pipeline" "$data" "$runs" "$tmp"
