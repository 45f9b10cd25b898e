#!/bin/sh
# bench/server/run.sh [BUILD] [SIZES] - facetd under load on loopback, against the SDK's own
# time for the same work measured in the same run (figures in docs/performance.md, "Server").
#
#   BUILD  build folder with tools/facetd, bench/server/{prep,loadgen} (default build)
#   SIZES  collection sizes, default "10000 1000000"
#   SOAK=600 bench/server/run.sh build 10000   adds the soak: SOAK seconds of mixed traffic
#                                             (8 recognize : 1 identify : 1 collection
#                                             stats) at 40% of the recognize saturation
#                                             rate, a line per minute with p99 and RSS;
#                                             SOAK_RATE=R skips the measurements and soaks
#                                             at R requests/s
#
# For each size: prep fills a SQLite collection (the real faceprint of a photo + random ones)
# and writes the aligned 112x112 chip; ffmpeg scales a two-person photo to a 640x480 JPEG.
# Then, per request kind (recognize with the chip, identify with the JPEG):
#   1. overhead, paired: ROUNDS (default 5) rounds of [the SDK in process, single-threaded,
#      decode + faceprint(s) + search (prep sdk), for PAIR seconds (default 4); then facetd,
#      closed loop with 1 connection, for PAIR seconds]. Each round gives the HTTP + JSON +
#      queueing overhead over the SDK; the figure is the median of the rounds. Pairing in
#      short alternating slices matters on a shared machine whose speed drifts by 20-30%
#      within minutes: two long runs one after the other measure the drift, not facetd;
#   2. facetd, closed loop with 8 connections: throughput at saturation;
#   3. facetd, open loop at 50% of (2): p50 / p99 with queueing counted (loadgen --rate).
# facetd runs with its defaults (one worker per core, one inference thread per request).
set -eu
build=${1:-build}
sizes=${2:-"10000 1000000"}
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/facetd.sh"
data=${FACET_TEST_DATA:-$root/../shared/data}
export FACET_MODEL_PATH=${FACET_MODEL_PATH:-$root/models}
dur=${DUR:-20}
rounds=${ROUNDS:-5}
pair=${PAIR:-4}
tmp=$(mktemp -d /tmp/facet-bench-server-XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
key=bench-admin-key-0123456789
lg="$build/bench/server/loadgen"
prep="$build/bench/server/prep"
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
     "flags: $(grep -o -w -m1 -E 'avx512f|avx512_bf16|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')load: $(cut -d' ' -f1-3 /proc/loadavg)"
ffmpeg -loglevel error -y -i "$data/images/two_people.jpg" -vf scale=640:480 -q:v 3 "$tmp/probe.jpg"

field() { # $1: JSON line, $2: field
    echo "$1" | sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p"
}

for n in $sizes; do
    db="$tmp/s$n.db"
    "$prep" fill "sqlite:$db" people "$n" "$data/images/obama.jpg" "$tmp" >&2
    start_facetd "$build" "$tmp/facetd.log" "$key" "sqlite:$db" --max-in-flight 1000
    echo "# facetd: $(grep -m1 'faceprints loaded' "$tmp/facetd.log" | sed 's/^.*collection/collection/')"
    soak_rate=${SOAK_RATE:-}
    for kind in recognize identify; do
        [ -n "${SOAK_RATE:-}" ] && break
        if [ $kind = recognize ]; then req="POST,/v1/collections/people/recognize,image/png,$tmp/chip.png"
        else req="POST,/v1/collections/people/identify,image/jpeg,$tmp/probe.jpg"; fi
        common="--target 127.0.0.1:$port --header 'Authorization: Bearer $key' --req $req --pid $pid"
        ovh=""
        for r in $(seq 1 "$rounds"); do
            sdk=$(FACET_NUM_THREADS=1 "$prep" sdk "sqlite:$db" people "$tmp/chip.png" "$tmp/probe.jpg" "$pair" $kind)
            one=$(eval "$lg" $common --connections 1 --duration "$pair" --warmup 1 --label "$kind-$n-1conn-r$r")
            s50=$(field "$sdk" p50_ms)
            h50=$(field "$one" p50_ms)
            o=$(echo "$h50 $s50" | awk '{printf "%.1f", ($1 - $2) / $2 * 100}')
            echo "{\"n\":$n,\"kind\":\"$kind\",\"round\":$r,\"sdk_p50_ms\":$s50,\"http_1conn_p50_ms\":$h50,\"overhead_pct\":$o}"
            ovh="$ovh $o"
        done
        o_med=$(echo $ovh | tr ' ' '\n' | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')
        sat=$(eval "$lg" $common --connections 8 --duration "$dur" --warmup 2 --label "$kind-$n-saturation")
        x=$(field "$sat" throughput)
        half=$(echo "$x" | awk '{printf "%.1f", $1 / 2}')
        load=$(eval "$lg" $common --connections 32 --rate "$half" --duration "$((dur * 2))" --warmup 2 \
               --label "$kind-$n-50pct")
        echo "$sat"
        echo "$load"
        l50=$(field "$load" p50_ms)
        l99=$(field "$load" p99_ms)
        echo "{\"n\":$n,\"kind\":\"$kind\",\"overhead_median_pct\":$o_med,\"overhead_rounds_pct\":[$(echo $ovh | tr ' ' ',')]," \
             "\"saturation_rps\":$x,\"at_50pct_p50_ms\":$l50,\"at_50pct_p99_ms\":$l99}"
        [ $kind = recognize ] && soak_rate=$(echo "$x" | awk '{printf "%.1f", $1 * 0.4}')
    done
    if [ -n "${SOAK:-}" ]; then
        eval "$lg" --target "127.0.0.1:$port" --header "'Authorization: Bearer $key'" \
            --req "POST,/v1/collections/people/recognize,image/png,$tmp/chip.png,8" \
            --req "POST,/v1/collections/people/identify,image/jpeg,$tmp/probe.jpg,1" \
            --req "GET,/v1/collections/people,-,-,1" \
            --pid "$pid" --connections 32 --rate "$soak_rate" --duration "$SOAK" --warmup 30 --interval 60 \
            --label "soak-$n"
    fi
    stop_facetd
done
