#!/bin/sh
# bench/watch/run.sh [BUILD] - figures of `facet watch` on this machine, from the command itself:
#   1. crowd.mp4 (1920x1080, 105 frames) as fast as possible: DPS with faces >= 40 px;
#   2. hamilton_clip.mp4 with in-process recognition: FPS, DPS and recognition latency;
#   3. sizing: N feeds of a 1280x720 25 fps clip (crowd.mp4 scaled and looped to 12.6 s, made
#      here with ffmpeg) watched in real time, N = 1, 2, 3, 4: frames dropped per feed. A
#      machine "keeps" N feeds when no feed drops more than 2% of its frames (DPS = FPS).
# Run on an otherwise idle machine: the figures are CPU-bound. Prints the CPU first.
set -eu
build=${1:-build}
facet=$build/tools/facet
data=${FACET_TEST_DATA:-../shared/data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $($facet --version)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== crowd.mp4 1080p, tracking only, as fast as possible"
echo "\$ $facet watch $data/video/crowd.mp4 --no-recognition"
"$facet" watch "$data/video/crowd.mp4" --no-recognition 2>&1 >/dev/null | grep '^figures'

echo "== hamilton_clip.mp4 360p, in-process recognition"
db="sqlite:$tmp/known.db"
"$facet" enroll --db "$db" --collection known --identity lin_manuel_miranda "$data/video/known/lin_manuel_miranda.png" >/dev/null 2>&1
"$facet" enroll --db "$db" --collection known --identity alex_lacamoire "$data/video/known/alex_lacamoire.png" >/dev/null 2>&1
echo "\$ $facet watch $data/video/hamilton_clip.mp4 --db $db --collection known --json"
"$facet" watch "$data/video/hamilton_clip.mp4" --db "$db" --collection known --json 2>"$tmp/h.err" | grep -c recognized | sed 's/^/recognized events: /'
grep '^figures' "$tmp/h.err"

echo "== sizing: N feeds of 1280x720 at 25 fps in real time (faces >= 40 px)"
ffmpeg -v error -y -stream_loop 2 -i "$data/video/crowd.mp4" -an -vf scale=1280:720 -c:v libx264 -preset veryfast \
    -crf 20 "$tmp/c720.mp4"
for n in 1 2 3 4; do
    feeds=""
    for k in $(seq 1 $n); do feeds="$feeds f$k=$tmp/c720.mp4"; done
    # shellcheck disable=SC2086
    "$facet" watch $feeds --realtime --no-recognition 2>&1 >/dev/null | grep '^figures' >"$tmp/s.txt"
    worst=$(sed -n 's/.*frames \([0-9]*\) in, \([0-9]*\) detected, \([0-9]*\) dropped.*/\3 \1/p' "$tmp/s.txt" |
        awk '{p = 100 * $1 / $2; if (p > w) w = p} END {printf "%.1f", w}')
    dps=$(sed -n 's/.*DPS \([0-9.]*\),.*/\1/p' "$tmp/s.txt" | tr '\n' ' ')
    echo "feeds $n: DPS per feed $dps; worst feed dropped $worst% of its frames"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
