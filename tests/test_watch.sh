#!/bin/sh
# test_watch.sh FACET [FACETD] - `facet watch` end to end on the real clips, printing TAP:
# in-process recognition on hamilton_clip.mp4 (the performer named, no one else), two feeds in
# one process, clear errors for bad options and sources, and - when FACETD is given - the same
# clip recognised through a real facetd on a loopback port, which must name the same person.
set -u
facet=$1
facetd=${2:-}
data=${FACET_TEST_DATA:-$(dirname "$0")/../../shared/data}
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
export FACET_NUM_THREADS=1
# FACET_TEST_TIME_SCALE (tests/meson.build: 1 natively, more under qemu-user, where one
# faceprint takes about 10 s) multiplies the waits for the engine's work: facet watch's
# per-request --timeout for the server (10 s natively, its default) and facetd's start.
scale=${FACET_TEST_TIME_SCALE:-1}
case $scale in '' | *[!0-9]* | 0*) echo "test_watch.sh: FACET_TEST_TIME_SCALE must be an integer >= 1, not '$scale'" >&2; exit 2 ;; esac
rtimeout=$((10 * scale))
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; sed 's/^/#   /' "$tmp/out" | head -30; }
check() { name=$1; shift; if "$@" >"$tmp/out" 2>&1; then ok "$name"; else bad "$name"; fi; }
echo "1..11"

# events.py FILE: checks a JSON-lines event file: every line an event with the common fields,
# recognised names only lin_manuel_miranda and at least one of them; prints a summary.
cat >"$tmp/events.py" <<'PY'
import json, sys
names, kinds, feeds = [], {}, set()
for line in open(sys.argv[1]):
    e = json.loads(line)
    for k in ("event", "feed", "track", "box", "wall_t", "media_t"):
        assert k in e, (k, line)
    assert len(e["box"]) == 4
    kinds[e["event"]] = kinds.get(e["event"], 0) + 1
    feeds.add(e["feed"])
    if e["event"] in ("recognized", "identity_changed"):
        names.append(e["identity"])
print(kinds, sorted(set(names)), sorted(feeds))
if sys.argv[2:] == ["named"]:
    assert names and set(names) == {"lin_manuel_miranda"}, names
    assert kinds.get("track_started") == kinds.get("track_ended")
PY

db="sqlite:$tmp/known.db"
check "enrol the two reference photos" sh -c "
    '$facet' enroll --db '$db' --collection known --identity lin_manuel_miranda '$data/video/known/lin_manuel_miranda.png' &&
    '$facet' enroll --db '$db' --collection known --identity alex_lacamoire '$data/video/known/alex_lacamoire.png'"

check "watch hamilton in-process: the performer is named, no one else" sh -c "
    '$facet' watch '$data/video/hamilton_clip.mp4' --db '$db' --collection known --json --send-quality 0.1 \
        >'$tmp/local.json' 2>'$tmp/local.err' && /usr/bin/python3 '$tmp/events.py' '$tmp/local.json' named &&
    grep -q 'FPS .*DPS .*frames 275 in, 275 detected, 0 dropped' '$tmp/local.err' && grep -q 'cuts 3' '$tmp/local.err'"

check "two feeds in one process, each with its own tracks and figures" sh -c "
    '$facet' watch stage='$data/video/hamilton_clip.mp4' probe='$data/gallery/probe' --no-recognition --json \
        >'$tmp/two.json' 2>'$tmp/two.err' && /usr/bin/python3 '$tmp/events.py' '$tmp/two.json' | grep -q \"\\['stage'\\]\" &&
    grep -q '^figures stage: ' '$tmp/two.err' && grep -q '^figures probe: .*frames 5 in, 5 detected.* cuts 4' '$tmp/two.err'"

check "bad options and sources are clear errors" sh -c "
    ! '$facet' watch x.mp4 --db '$db' --collection known --send-quality 0.3x 2>'$tmp/e1' && grep -q 'send-quality' '$tmp/e1' &&
    ! '$facet' watch x.mp4 --db '$db' --collection known --reconfirm-every -1 2>'$tmp/e2' && grep -q 'reconfirm-every' '$tmp/e2' &&
    ! '$facet' watch '$tmp/missing.mp4' --db '$db' --collection known 2>'$tmp/e3' && grep -q 'missing.mp4' '$tmp/e3' &&
    ! '$facet' watch '$data/video/hamilton_clip.mp4' --db '$db' --collection nobody 2>'$tmp/e4' && grep -q 'nobody' '$tmp/e4' &&
    ! FACET_MODEL_PATH='$tmp/no-models' '$facet' watch '$data/gallery/probe' --no-recognition 2>'$tmp/e5' &&
    grep -q 'no-models/fr_detect.onnx' '$tmp/e5' && ! grep -q '^figures' '$tmp/e5'"

# a webhook receiver on a loopback port: every POST body, one per line, into a file
cat >"$tmp/hook.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[1], "ab") as f:
            f.write(body + b"\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
/usr/bin/python3 "$tmp/hook.py" "$tmp/hook.jsonl" >"$tmp/hook.port" &
hook_pid=$!
for i in $(seq 1 100); do [ -s "$tmp/hook.port" ] && break; sleep 0.1; done
check "events POSTed to a webhook are the JSON lines printed, then the figures" sh -c "
    '$facet' watch '$data/video/hamilton_clip.mp4' --db '$db' --collection known --json --chips \
        --webhook http://127.0.0.1:\$(cat '$tmp/hook.port')/events >'$tmp/hooked.json' 2>'$tmp/hooked.err' &&
    grep -v '^{\"event\":\"metrics\"' '$tmp/hook.jsonl' >'$tmp/hook.events' &&
    cmp '$tmp/hooked.json' '$tmp/hook.events' && grep -q '\"chip_jpeg\":\"/9j/' '$tmp/hook.events' &&
    /usr/bin/python3 '$tmp/events.py' '$tmp/hook.events' &&
    tail -1 '$tmp/hook.jsonl' | grep -q '^{\"event\":\"metrics\",\"feed\":\"hamilton_clip\",.*\"dps\":'"
kill $hook_pid 2>/dev/null

if [ -z "$facetd" ] || [ ! -x "$facetd" ]; then
    echo "ok 6 - watch through facetd # SKIP no facetd binary"
    echo "ok 7 - figures report the server's time # SKIP no facetd binary"
    echo "ok 8 - events and figures posted to facetd # SKIP no facetd binary"
    echo "ok 9 - facetd's test-only recognize delay # SKIP no facetd binary"
    n=9
else
    # start_facetd LOG [FLAG...]: facetd on a free loopback port of the test's store; sets pid, port
    start_facetd() {
        log=$1
        shift
        FACET_ADMIN_KEY=watch-test-admin-key-0123 "$facetd" --listen 127.0.0.1:0 --db "$db" --log-file "$log" "$@" \
            >/dev/null 2>"$log.err" &
        pid=$!
        port=""
        for i in $(seq 1 $((600 * scale))); do
            port=$(sed -n 's/.*listening on .*(port \([0-9]*\).*/\1/p' "$log" 2>/dev/null | head -1)
            [ -n "$port" ] && break
            sleep 0.1
        done
    }
    start_facetd "$tmp/facetd.log"
    check "watch hamilton through facetd on loopback: the same person named" sh -c "
        [ -n '$port' ] &&
        '$facet' watch '$data/video/hamilton_clip.mp4' --server http://127.0.0.1:$port --key watch-test-admin-key-0123 \
            --collection known --json --send-quality 0.1 --timeout $rtimeout >'$tmp/remote.json' 2>'$tmp/remote.err' &&
        /usr/bin/python3 '$tmp/events.py' '$tmp/remote.json' named"
    check "figures report the round trip and the server's own time; a wrong key is counted as errors" sh -c "
        grep -E 'recognitions [1-9][0-9]* .* 0 errors.*latency ms mean [0-9.]+ .*recogniser [0-9.]+' '$tmp/remote.err' &&
        '$facet' watch '$data/video/hamilton_clip.mp4' --server http://127.0.0.1:$port --key wrong-key \
            --collection known --json --timeout $rtimeout >'$tmp/wrong.json' 2>'$tmp/wrong.err' &&
        grep -q 'recognitions 0 .*, [1-9][0-9]* errors' '$tmp/wrong.err' && ! grep -q recognized '$tmp/wrong.json'"
    check "events and figures posted to facetd's /v1/events are taken, and the feed is listed" sh -c "
        '$facet' watch stage='$data/video/hamilton_clip.mp4' --server http://127.0.0.1:$port --key watch-test-admin-key-0123 \
            --collection known --json --chips --timeout $rtimeout --webhook http://127.0.0.1:$port/v1/events \
            --webhook-key watch-test-admin-key-0123 >'$tmp/posted.json' 2>'$tmp/posted.err' &&
        ! grep -q 'webhook' '$tmp/posted.err' &&
        curl -sf -H 'Authorization: Bearer watch-test-admin-key-0123' http://127.0.0.1:$port/v1/feeds >'$tmp/feeds.json' &&
        grep -q '\"feed\": *\"stage\"' '$tmp/feeds.json' && grep -q '\"dps\"' '$tmp/feeds.json'"
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=""
    # the test-only slowdown bench/watch uses: refused out of range, printed in the settings, and
    # a recognize answer really held that long (server_ms counts it)
    ffmpeg -v error -y -i "$data/video/known/lin_manuel_miranda.png" -vf scale=112:112 "$tmp/chip.png"
    start_facetd "$tmp/slow.log" --test-recognize-delay-ms 300
    check "facetd's test-only recognize delay: range checked, printed, warned, applied" sh -c "
        ! '$facetd' --test-recognize-delay-ms -1 --check-config 2>'$tmp/d1' && grep -q 'test-recognize-delay-ms must be an integer from 0 to 60000' '$tmp/d1' &&
        ! '$facetd' --test-recognize-delay-ms 600000 --check-config 2>'$tmp/d2' && grep -q 'test-recognize-delay-ms' '$tmp/d2' &&
        ! FACET_TEST_RECOGNIZE_DELAY_MS=5x '$facetd' --check-config 2>'$tmp/d3' && grep -q FACET_TEST_RECOGNIZE_DELAY_MS '$tmp/d3' &&
        '$facetd' --check-config | grep -qx 'test-recognize-delay-ms = 0 (default)' &&
        grep -q 'setting test-recognize-delay-ms = 300 (flag)' '$tmp/slow.log' && grep -q 'delayed by 300 ms' '$tmp/slow.log' &&
        curl -sf -H 'Authorization: Bearer watch-test-admin-key-0123' -H 'Content-Type: image/png' --data-binary @'$tmp/chip.png' \
            'http://127.0.0.1:$port/v1/collections/known/recognize?aligned=true' >'$tmp/slow.json' &&
        /usr/bin/python3 -c 'import json,sys; j = json.load(open(sys.argv[1])); assert j[\"server_ms\"] >= 300, j' '$tmp/slow.json'"
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=""
fi
# --draw: annotated video decoded back by ffprobe (codec, size, one frame per detected frame),
# one file per feed when there are several (a folder of images of mixed sizes scaled to its
# first), the PNG folder form, and a file that cannot be made is an error before any work
check "--draw OUT.mp4: H.264 (or MPEG-4 part 2) video of every detected frame, mixed sizes scaled to the first's" sh -c "
    '$facet' watch '$data/gallery/probe' --no-recognition --draw '$tmp/drawn.mp4' >/dev/null 2>'$tmp/draw.err' &&
    grep -q 'drawn.mp4: 5 frames (h264)' '$tmp/draw.err' &&
    [ \"\$(ffprobe -v error -count_frames -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 \
        '$tmp/drawn.mp4')\" = 'h264,1548,1024,5' ] &&
    '$facet' watch '$data/gallery/probe' --no-recognition --draw '$tmp/m4.mp4' --draw-codec mpeg4 >/dev/null 2>&1 &&
    [ \"\$(ffprobe -v error -count_frames -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 \
        '$tmp/m4.mp4')\" = 'mpeg4,1548,1024,5' ] &&
    '$facet' watch '$data/gallery/probe' --no-recognition --draw '$tmp/pngs' >/dev/null 2>&1 &&
    [ \$(ls '$tmp/pngs' | grep -c '^probe_00000[0-4].png\$') = 5 ]"
check "--draw with two feeds: OUT_FEED.mp4 each; an unwritable OUT fails before any work" sh -c "
    '$facet' watch stage='$data/video/hamilton_clip.mp4' probe='$data/gallery/probe' --no-recognition \
        --draw '$tmp/two.mp4' >/dev/null 2>'$tmp/draw2.err' &&
    [ \"\$(ffprobe -v error -count_frames -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 \
        '$tmp/two_stage.mp4')\" = 'h264,640,360,275' ] &&
    ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 '$tmp/two_probe.mp4' | grep -qx 5 &&
    ! '$facet' watch '$data/gallery/probe' --no-recognition --draw '$tmp/no/such/dir/x.mp4' >/dev/null 2>'$tmp/draw3.err' &&
    grep -q 'no/such/dir/x.mp4: No such file' '$tmp/draw3.err' && ! grep -q '^figures' '$tmp/draw3.err'"
[ $fails = 0 ]
