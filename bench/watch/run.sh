#!/bin/sh
# bench/watch/run.sh [BUILD] [PARTS] - figures of `facet watch` on this machine, from the real
# programs (docs/watch.md, "Measured"). PARTS (default all): any of
#   crowd     crowd.mp4 (1920x1080, 105 frames) as fast as possible: DPS with faces >= 40 px;
#   hamilton  hamilton_clip.mp4 with in-process recognition: FPS, DPS and recognition latency;
#   sizing    N feeds of a 1280x720 25 fps clip (crowd.mp4 scaled and looped to 12.6 s, made
#             here with ffmpeg into a temporary folder) in one `facet watch --realtime`,
#             N = 1 .. SIZING_MAX (6): DPS and frames dropped per feed. A machine "keeps" N
#             feeds when no feed drops more than 2% of its frames (DPS = FPS);
#   slowdown  20 simulated tracks (bench/watch/slowdown: the real scheduler and the real HTTP
#             client of src/track, one thread per track) against a real facetd on loopback whose
#             recognize is slowed by its test-only --test-recognize-delay-ms D, for
#             D = 0 20 50 100 200 500 (SLOW_DELAYS), SLOW_SECONDS (6) each: answers per second
#             and latency as the slowdown grows. 7 tracks show enrolled people (they lock on and
#             are reconfirmed every second), the others strangers (retried as fast as answers
#             return: SAFR's retry_failed_every 0), so the server is saturated and the table
#             shows the rate falling with the server while every track keeps being answered.
# Run on an otherwise idle machine (under `flock /work/bench.lock` on a shared one): the
# figures are CPU-bound. Prints the CPU, its AVX-512 flags and the load average first and last.
set -eu
build=${1:-build}
parts=${2:-"crowd hamilton sizing slowdown"}
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/facetd.sh"
facet=$build/tools/facet
data=${FACET_TEST_DATA:-$root/../shared/data}
export FACET_MODEL_PATH=${FACET_MODEL_PATH:-$root/models}
tmp=$(mktemp -d /tmp/facet-bench-watch-XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
has() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
     "$(grep -o 'avx512[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ')$($facet --version)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

if has crowd; then
    echo "== crowd.mp4 1080p, tracking only, as fast as possible"
    echo "\$ $facet watch $data/video/crowd.mp4 --no-recognition"
    /usr/bin/time -f 'cpu %U user %S sys' "$facet" watch "$data/video/crowd.mp4" --no-recognition 2>&1 >/dev/null |
        grep -E '^(figures|cpu)'
fi

if has hamilton; then
    echo "== hamilton_clip.mp4 360p, in-process recognition"
    db="sqlite:$tmp/known.db"
    "$facet" enroll --db "$db" --collection known --identity lin_manuel_miranda "$data/video/known/lin_manuel_miranda.png" >/dev/null 2>&1
    "$facet" enroll --db "$db" --collection known --identity alex_lacamoire "$data/video/known/alex_lacamoire.png" >/dev/null 2>&1
    echo "\$ $facet watch $data/video/hamilton_clip.mp4 --db $db --collection known --json"
    "$facet" watch "$data/video/hamilton_clip.mp4" --db "$db" --collection known --json 2>"$tmp/h.err" | grep -c recognized | sed 's/^/recognized events: /'
    grep '^figures' "$tmp/h.err"
fi

if has sizing; then
    echo "== sizing: N feeds of 1280x720 at 25 fps in real time in one process (faces >= 40 px)"
    ffmpeg -v error -y -stream_loop 2 -i "$data/video/crowd.mp4" -an -vf scale=1280:720,fps=25 -c:v libx264 \
        -preset veryfast -crf 20 "$tmp/c720.mp4"
    for n in $(seq 1 "${SIZING_MAX:-6}"); do
        feeds=""
        for k in $(seq 1 "$n"); do feeds="$feeds f$k=$tmp/c720.mp4"; done
        load=$(cut -d' ' -f1 /proc/loadavg)
        # shellcheck disable=SC2086
        /usr/bin/time -f 'cpu %U %S' "$facet" watch $feeds --realtime --no-recognition 2>&1 >/dev/null |
            grep -E '^(figures|cpu)' >"$tmp/s.txt"
        det=$(sed -n 's/.*frames [0-9]* in, \([0-9]*\) detected.*/\1/p' "$tmp/s.txt" | awk '{s += $1} END {print s}')
        cpu=$(awk '/^cpu/ {printf "%.1f", ($2 + $3) * 1000 / '"$det"'}' "$tmp/s.txt")
        worst=$(sed -n 's/.*frames \([0-9]*\) in, \([0-9]*\) detected, \([0-9]*\) dropped.*/\3 \1/p' "$tmp/s.txt" |
            awk '{p = 100 * $1 / $2; if (p > w) w = p} END {printf "%.1f", w}')
        dps=$(sed -n 's/.*DPS \([0-9.]*\),.*/\1/p' "$tmp/s.txt" | tr '\n' ' ')
        kept=no
        awk -v w="$worst" 'BEGIN {exit !(w <= 2)}' && kept=yes
        echo "feeds $n: DPS per feed $dps; worst feed dropped $worst% of its frames; kept: $kept;" \
             "CPU $cpu ms per detected frame (decoding included); load before $load, after $(cut -d' ' -f1 /proc/loadavg)"
    done
fi

if has slowdown; then
    echo "== slowdown: 20 simulated tracks, facetd on loopback with --test-recognize-delay-ms D --workers 2"
    key=bench-watch-admin-key-0123456789
    db="sqlite:$tmp/people.db"
    "$facet" enroll --db "$db" --collection people "$data/gallery/enroll" >/dev/null 2>&1
    # 7 faces of enrolled people, then strangers (bald_guys.jpg, india_group.jpg)
    imgs="$data/gallery/probe/alex_lacamoire1.jpg $data/gallery/probe/johnsnow_test1.jpg
          $data/gallery/probe/kit_with_rose.jpg $data/gallery/probe/obama1.jpg $data/gallery/probe/obama_and_biden.jpg
          $data/images/bald_guys.jpg $data/images/india_group.jpg"
    printf '%8s %8s %8s %8s %8s %10s %8s %12s %9s %8s\n' delay_ms answers/s rtt_mean rtt_p50 rtt_p99 server_ms \
        errors per_track max_gap_s locked
    for d in ${SLOW_DELAYS:-0 20 50 100 200 500}; do
        start_facetd "$build" "$tmp/facetd.log" "$key" "$db" --workers 2 --test-recognize-delay-ms "$d"
        # shellcheck disable=SC2086
        "$build/bench/watch/slowdown" "http://127.0.0.1:$port" "$key" people 20 "${SLOW_SECONDS:-6}" $imgs >"$tmp/r.json"
        stop_facetd
        /usr/bin/python3 - "$d" "$tmp/r.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
print("%8s %8.2f %8.1f %8.1f %8.1f %10.1f %8d %12s %9.2f %8s" % (
    sys.argv[1], r["rps"], r["rtt_ms_mean"], r["rtt_ms_p50"], r["rtt_ms_p99"], r["server_ms_mean"], r["errors"],
    "%d..%d" % (r["track_answers_min"], r["track_answers_max"]), r["max_gap_s"],
    "%d/%d" % (r["locked"], r["tracks"])))
PY
    done
    echo "(per_track: fewest..most answers of one track; max_gap_s: longest wait between a track's answers;"
    echo " locked: tracks locked on an identity at the end, of the tracks)"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
