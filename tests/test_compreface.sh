#!/bin/sh
# test_compreface.sh FACETD curl|sdk - facetd's CompreFace-compatible API (/api/v1/) end to end:
# starts the real facetd on a loopback port with a real SQLite file, makes the keys through
# POST /v1/keys, then either
#   curl: the CompreFace flows with plain curl, every documented error included, the example
#         images downloaded byte for byte (also after a restart), subject names ignoring case,
#         subjects without examples kept across a restart, the recognition key as a Bearer
#         key on facetd's own routes;
#   sdk:  tests/compreface/sdk_test.mjs, CompreFace's own JavaScript SDK (pinned in
#         tests/compreface/package-lock.json, installed once into .cache/compreface-js).
# Prints TAP. Photos from ../shared/data/gallery (5 people, 9 enrolment and 5 probe photos).
set -u
facetd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
mode=${2:-curl}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
data=${FACET_TEST_DATA:-../shared/data}
g=$data/gallery
admin=test-admin-key-compreface-0123
tmp=$(mktemp -d /tmp/facet-compreface-XXXXXX)
pid=""
n=0
failed=0

cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

ok() { # ok STATUS DESCRIPTION [DETAIL-FILE]
    n=$((n + 1))
    if [ "$1" = 0 ]; then
        echo "ok $n - $2"
    else
        failed=$((failed + 1))
        echo "not ok $n - $2"
        [ -n "${3:-}" ] && [ -f "$3" ] && head -c 600 "$3" | sed 's/^/#   /' && echo
    fi
}

start() {
    : >"$tmp/log"
    FACET_ADMIN_KEY=$admin "$facetd" --listen 127.0.0.1:0 --db "sqlite:$tmp/cf.db" \
        --log-file "$tmp/log" >/dev/null 2>"$tmp/stderr" &
    pid=$!
    port=""
    i=0
    while [ -z "$port" ] && [ $i -lt 600 ]; do
        port=$(sed -n 's/.*listening on .*(port \([0-9]*\).*/\1/p' "$tmp/log" 2>/dev/null | head -1)
        kill -0 "$pid" 2>/dev/null || break
        i=$((i + 1))
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "Bail out! facetd did not start: $(cat "$tmp/stderr" "$tmp/log" | tail -5)"
        exit 1
    fi
    base=http://127.0.0.1:$port
}

# stops facetd with SIGTERM: it must exit 0 (under the sanitizers a leak or an error at exit
# makes that fail)
stop() {
    kill "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    pid=""
    [ $rc = 0 ]
    ok $? "facetd stopped cleanly on SIGTERM (exit $rc)" "$tmp/stderr"
}

# req METHOD PATH [curl args]: the status into $st, the body into $tmp/body
req() {
    m=$1
    p=$2
    shift 2
    st=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$m" "$base$p" "$@")
}

# jq-like checks with Debian's python: `js EXPR` is true when EXPR holds for the body `b`
js() {
    /usr/bin/python3 -c "import json,sys
b=json.load(open('$tmp/body'))
sys.exit(0 if ($1) else 1)" 2>/dev/null
}

# expect_error WHAT STATUS CODE: CompreFace's error body {"message": ..., "code": CODE}
expect_error() {
    [ "$st" = "$2" ] && js "isinstance(b, dict) and b.get('code') == $3 and isinstance(b.get('message'), str) and len(b) == 2"
    ok $? "$1: $2 code $3" "$tmp/body"
}

start
# keys: recognition bound to a collection, detection/verification without one
mkkey() {
    curl -s -X POST "$base/v1/keys" -H "Authorization: Bearer $admin" \
        -H 'Content-Type: application/json' -d "$1" |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}
rkey=$(mkkey '{"role": "recognize", "collection": "cf_people"}')
dkey=$(mkkey '{"role": "recognize"}')
if [ -z "$rkey" ] || [ -z "$dkey" ]; then
    echo "Bail out! POST /v1/keys did not answer a key"
    exit 1
fi

if [ "$mode" = sdk ]; then
    cache=$root/.cache/compreface-js
    mkdir -p "$cache"
    # installed once per lock file: the stamp is written only after a complete install
    if ! cmp -s tests/compreface/package-lock.json "$cache/installed.lock"; then
        rm -f "$cache/installed.lock"
        cp tests/compreface/package.json tests/compreface/package-lock.json "$cache/"
        if ! (cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --silent) >"$tmp/npm" 2>&1; then
            echo "Bail out! npm ci of the pinned CompreFace SDK failed: $(tail -3 "$tmp/npm")"
            exit 1
        fi
        cp tests/compreface/package-lock.json "$cache/installed.lock"
    fi
    cp tests/compreface/sdk_test.mjs "$cache/"
    CF_SERVER=http://127.0.0.1 CF_PORT=$port CF_REC_KEY=$rkey CF_DET_KEY=$dkey CF_DATA=$data \
        node "$cache/sdk_test.mjs" >"$tmp/tap"
    node_rc=$?
    # the driver's checks, then facetd's clean exit, under one plan
    grep -v '^1\.\.' "$tmp/tap"
    n=$(grep -c '^\(not \)\?ok ' "$tmp/tap")
    failed=$(grep -c '^not ok ' "$tmp/tap")
    [ $node_rc = 0 ] || [ $failed -gt 0 ] || { ok 1 "the SDK driver exited with $node_rc"; }
    stop
    echo "1..$n"
    [ $failed = 0 ]
    exit $?
fi

R="-H x-api-key:$rkey"
D="-H x-api-key:$dkey"
# a PNG without a face: plain grey, 200x200
/usr/bin/python3 -c "import struct,zlib
def c(t,d): return struct.pack('>I',len(d))+t+d+struct.pack('>I',zlib.crc32(t+d))
raw=b''.join(b'\0'+b'\x80'*600 for _ in range(200))
open('$tmp/blank.png','wb').write(b'\x89PNG\r\n\x1a\n'+c(b'IHDR',struct.pack('>IIBBBBB',200,200,8,2,0,0,0))+c(b'IDAT',zlib.compress(raw))+c(b'IEND',b''))"
head -c 3000 "$g/enroll/obama/obama.jpg" >"$tmp/truncated.jpg"
printf 'not an image at all' >"$tmp/text.jpg"
b64() { /usr/bin/python3 -c "import base64,sys; print(base64.b64encode(open(sys.argv[1],'rb').read()).decode())" "$1"; }

# ---- keys ----
req GET /api/v1/recognition/subjects
expect_error "no x-api-key" 400 20
req GET /api/v1/recognition/subjects -H "x-api-key: fk_nosuchkeynosuchkeynosuchkeynosuchkeynosuchk"
expect_error "unknown key" 404 10
js "'fk_nosuchkeynosuchkeynosuchkeynosuchkeynosuchk' not in b['message']"
ok $? "an unknown key is not echoed whole" "$tmp/body"
req GET /api/v1/recognition/subjects $D
expect_error "a key without a collection on the recognition service" 404 10

# ---- subjects ----
req POST /api/v1/recognition/subjects $R -H 'Content-Type: application/json' -d '{"subject": "rose_leslie"}'
[ "$st" = 201 ] && js "b == {'subject': 'rose_leslie'}"
ok $? "add a subject: 201" "$tmp/body"
req POST /api/v1/recognition/subjects $R -H 'Content-Type: application/json' -d '{"subject": "rose_leslie"}'
expect_error "add it again" 400 43
req POST /api/v1/recognition/subjects $R -H 'Content-Type: application/json' -d '{"subject": "  "}'
expect_error "a blank subject" 400 26
req POST /api/v1/recognition/subjects $R -H 'Content-Type: application/json' -d '{"subject": '
expect_error "malformed JSON" 400 0
req GET /api/v1/recognition/subjects/ $R
[ "$st" = 200 ] && js "b == {'subjects': ['rose_leslie']}"
ok $? "list subjects (with the documented trailing slash)" "$tmp/body"

# ---- examples ----
ids=""
for dir in "$g"/enroll/*/; do
    who=$(basename "$dir")
    for f in "$dir"*; do
        req POST "/api/v1/recognition/faces?subject=$who&det_prob_threshold=0.8" $R -F "file=@$f"
        if [ "$st" = 201 ] && js "b['subject'] == '$who' and len(b['image_id']) == 36"; then
            id=$(/usr/bin/python3 -c "import json; print(json.load(open('$tmp/body'))['image_id'])")
            ids="$ids $who:$id:$f"
        else
            ok 1 "add $f" "$tmp/body"
        fi
    done
done
[ "$(echo $ids | wc -w)" = 9 ]
ok $? "9 examples added with multipart file"
echo "{\"file\": \"$(b64 "$g/probe/obama1.jpg")\"}" >"$tmp/obama1.json"
req POST "/api/v1/recognition/faces?subject=obama" $R -H 'Content-Type: application/json' -d "@$tmp/obama1.json"
[ "$st" = 201 ] && js "b['subject'] == 'obama'"
ok $? "add an example as base64 JSON" "$tmp/body"
b64id=$(/usr/bin/python3 -c "import json; print(json.load(open('$tmp/body')).get('image_id',''))")
req POST "/api/v1/recognition/faces" $R -F "file=@$g/enroll/obama/obama.jpg"
expect_error "no subject parameter" 400 33
req POST "/api/v1/recognition/faces?subject=x" $R -F "other=@$g/enroll/obama/obama.jpg"
expect_error "no file part" 400 34
req POST "/api/v1/recognition/faces?subject=x" $R -H 'Content-Type: application/json' -d '{"files": "abc"}'
expect_error "no file field" 400 5
req POST "/api/v1/recognition/faces?subject=x" $R -H 'Content-Type: application/json' -d '{"file": "not base64!"}'
expect_error "bad base64" 400 21
req POST "/api/v1/recognition/faces?subject=x" $R -F "file=@$tmp/blank.png"
expect_error "a photo without a face" 400 28
js "b['message'] == 'No face is found in the given image'"
ok $? "no face: CompreFace's message" "$tmp/body"
req POST "/api/v1/recognition/faces?subject=x" $R -F "file=@$tmp/truncated.jpg"
expect_error "a truncated JPEG" 400 28
req POST "/api/v1/recognition/faces?subject=x" $R -F "file=@$tmp/text.jpg"
expect_error "not an image" 400 28
req POST "/api/v1/recognition/faces?subject=x" $R -F "file=@$g/probe/obama_and_biden.jpg"
expect_error "an example with two faces" 400 31
req POST "/api/v1/recognition/faces?subject=x&det_prob_threshold=0.8x" $R -F "file=@$g/enroll/obama/obama.jpg"
expect_error "det_prob_threshold with a typo" 400 26
req POST "/api/v1/recognition/faces?subject=x&det_prob_threshold=1.5" $R -F "file=@$g/enroll/obama/obama.jpg"
expect_error "det_prob_threshold above 1" 400 26
req POST /api/v1/recognition/faces?subject=x $R -H 'Content-Type: text/plain' -d 'hello'
expect_error "another content type" 415 0
req GET /api/v1/recognition/subjects $R
js "b['subjects'] == ['alex_lacamoire', 'biden', 'kit_harington', 'obama', 'rose_leslie']"
ok $? "the failed additions left nothing; rose_leslie now has examples" "$tmp/body"

# ---- list, download ----
req GET "/api/v1/recognition/faces" $R
[ "$st" = 200 ] && js "b['total_elements'] == 10 and b['page_number'] == 0 and b['page_size'] == 20 and b['total_pages'] == 1 and len(b['faces']) == 10"
ok $? "list examples" "$tmp/body"
req GET "/api/v1/recognition/faces?subject=obama&page=1&size=2" $R
[ "$st" = 200 ] && js "b['total_elements'] == 3 and b['total_pages'] == 2 and b['page_number'] == 1 and len(b['faces']) == 1 and b['faces'][0]['subject'] == 'obama'"
ok $? "list one subject's examples, second page of 2" "$tmp/body"
req GET "/api/v1/recognition/faces?page=-1" $R
expect_error "a negative page" 400 26
req GET "/api/v1/recognition/faces?size=0" $R
expect_error "page size 0" 400 26
first=$(echo $ids | tr ' ' '\n' | head -1)
fid=$(echo "$first" | cut -d: -f2)
ffile=$(echo "$first" | cut -d: -f3-)
curl -s -o "$tmp/img" $R "$base/api/v1/recognition/faces/$fid/img"
cmp -s "$tmp/img" "$ffile"
ok $? "download an example: the original bytes"
curl -s -o "$tmp/img" "$base/api/v1/static/$rkey/images/$fid"
cmp -s "$tmp/img" "$ffile"
ok $? "direct download with the key in the path: the original bytes"
req GET "/api/v1/recognition/faces/00000000-0000-4000-8000-000000000000/img" $R
[ "$st" = 200 ] && [ ! -s "$tmp/body" ]
ok $? "download an unknown example: empty bytes (as CompreFace)"
req GET "/api/v1/recognition/faces/not-a-uuid/img" $R
expect_error "download with a malformed id" 404 44
req GET "/api/v1/static/wrongkey/images/$fid"
expect_error "direct download with a wrong key" 404 10

# ---- recognize ----
for f in "$g"/probe/*; do
    req POST "/api/v1/recognition/recognize?limit=0&prediction_count=1" $R -F "file=@$f"
    case $(basename "$f") in
    alex_lacamoire1.jpg) want="['alex_lacamoire']" ;;
    johnsnow_test1.jpg) want="['kit_harington']" ;;
    kit_with_rose.jpg) want="['kit_harington', 'rose_leslie']" ;;
    obama1.jpg) want="['obama']" ;;
    obama_and_biden.jpg) want="['biden', 'obama']" ;;
    esac
    [ "$st" = 200 ] && js "sorted(x['subjects'][0]['subject'] for x in b['result'] if x['subjects'] and x['subjects'][0]['similarity'] >= 0.5) == $want"
    ok $? "recognize $(basename "$f"): $want" "$tmp/body"
done
req POST "/api/v1/recognition/recognize?face_plugins=landmarks,calculator,age,gender,pose&status=true&prediction_count=3&limit=1" $R -F "file=@$g/probe/obama_and_biden.jpg"
[ "$st" = 200 ] && js "len(b['result']) == 1 and len(b['result'][0]['subjects']) == 3 and len(b['result'][0]['embedding']) == 512 and len(b['result'][0]['landmarks']) == 5 and b['result'][0]['age']['low'] < b['result'][0]['age']['high'] and b['result'][0]['gender']['value'] in ('male', 'female') and set(b['result'][0]['pose']) == {'pitch', 'roll', 'yaw'} and 'detector' in b['result'][0]['execution_time'] and 'calculator' in b['plugins_versions']"
ok $? "recognize with every plugin, status, limit 1, prediction_count 3" "$tmp/body"
req POST "/api/v1/recognition/recognize" $R -H 'Content-Type: application/json' -d "@$tmp/obama1.json"
[ "$st" = 200 ] && js "b['result'][0]['subjects'][0]['subject'] == 'obama' and 'execution_time' not in b['result'][0] and 'plugins_versions' not in b"
ok $? "recognize base64 JSON; no status fields by default" "$tmp/body"
req POST "/api/v1/recognition/recognize?detect_faces=false" $R -F "file=@$g/probe/obama1.jpg"
[ "$st" = 200 ] && js "len(b['result']) == 1"
ok $? "recognize with detect_faces=false: the image is one face" "$tmp/body"
req POST "/api/v1/recognition/recognize?face_plugins=mask" $R -F "file=@$g/probe/obama1.jpg"
expect_error "the mask plugin" 400 36
req POST "/api/v1/recognition/recognize?face_plugins=landmarks2d106" $R -F "file=@$g/probe/obama1.jpg"
expect_error "the landmarks2d106 plugin" 400 36
req POST "/api/v1/recognition/recognize?face_plugins=undefined&det_prob_threshold=0.8" $R -F "file=@$g/probe/obama1.jpg"
[ "$st" = 200 ] && js "set(b['result'][0]) == {'box', 'subjects'} and b['result'][0]['subjects'][0]['subject'] == 'obama'"
ok $? "Double Take's request (face_plugins=undefined is ignored, as CompreFace does)" "$tmp/body"
req POST "/api/v1/recognition/recognize" $R -F "file=@$tmp/blank.png"
js "b == {'message': 'No face is found in the given image', 'code': 28}"
ok $? "Double Take's no-face branch (code 28) holds" "$tmp/body"
req POST "/api/v1/recognition/recognize?prediction_count=0" $R -F "file=@$g/probe/obama1.jpg"
expect_error "prediction_count 0" 400 26
req POST "/api/v1/recognition/recognize?limit=-1" $R -F "file=@$g/probe/obama1.jpg"
expect_error "a negative limit" 400 26
req POST "/api/v1/recognition/recognize?limit=1x" $R -F "file=@$g/probe/obama1.jpg"
expect_error "a limit with a typo" 400 26
req POST "/api/v1/recognition/recognize?status=yes" $R -F "file=@$g/probe/obama1.jpg"
expect_error "status neither true nor false" 400 26
req POST "/api/v1/recognition/recognize" $R -F "file=@$tmp/blank.png"
expect_error "recognize a photo without a face" 400 28
req POST "/api/v1/recognition/recognize" $R
expect_error "recognize without a file" 400 5

# ---- verify against an example ----
obama_id=$(echo $ids | tr ' ' '\n' | grep '^obama:' | head -1 | cut -d: -f2)
biden_id=$(echo $ids | tr ' ' '\n' | grep '^biden:' | head -1 | cut -d: -f2)
req POST "/api/v1/recognition/faces/$obama_id/verify" $R -F "file=@$g/probe/obama1.jpg"
[ "$st" = 200 ] && js "len(b['result']) == 1 and b['result'][0]['similarity'] >= 0.5 and b['result'][0]['subject'] == 'obama'"
ok $? "verify obama1.jpg against an obama example" "$tmp/body"
req POST "/api/v1/recognition/faces/$biden_id/verify" $R -F "file=@$g/probe/obama1.jpg"
[ "$st" = 200 ] && js "b['result'][0]['similarity'] < 0.5"
ok $? "verify obama1.jpg against a biden example" "$tmp/body"
req POST "/api/v1/recognition/faces/00000000-0000-4000-8000-000000000000/verify" $R -F "file=@$g/probe/obama1.jpg"
expect_error "verify against an unknown example" 404 44

# ---- detection ----
req POST "/api/v1/detection/detect?face_plugins=landmarks,age,gender,pose&status=true" $D -F "file=@$g/probe/obama_and_biden.jpg"
[ "$st" = 200 ] && js "len(b['result']) >= 2 and all(len(x['landmarks']) == 5 and 'subjects' not in x and 'embedding' not in x for x in b['result']) and b['result'][0]['box']['x_max'] - b['result'][0]['box']['x_min'] >= b['result'][1]['box']['x_max'] - b['result'][1]['box']['x_min'] and 'calculator' not in b['plugins_versions']"
ok $? "detect the faces (obama, biden, one behind) with plugins, biggest first" "$tmp/body"
req POST "/api/v1/detection/detect?limit=1" $D -F "file=@$g/probe/obama_and_biden.jpg"
[ "$st" = 200 ] && js "len(b['result']) == 1 and set(b['result'][0]) == {'box'}"
ok $? "detect with limit 1 and no plugins: boxes only" "$tmp/body"
req POST "/api/v1/detection/detect?det_prob_threshold=1" $D -F "file=@$g/probe/obama_and_biden.jpg"
expect_error "det_prob_threshold 1 leaves no face" 400 28
req POST "/api/v1/detection/detect" -H "x-api-key: nope" -F "file=@$g/probe/obama1.jpg"
expect_error "detect with an unknown key" 404 10

# ---- verification ----
req POST "/api/v1/verification/verify" $D -F "source_image=@$g/enroll/obama/obama.jpg" -F "target_image=@$g/probe/obama_and_biden.jpg"
[ "$st" = 200 ] && js "len(b['result']) == 1 and len(b['result'][0]['face_matches']) >= 2 and b['result'][0]['face_matches'][0]['similarity'] >= 0.5 > b['result'][0]['face_matches'][1]['similarity'] and 'box' in b['result'][0]['source_image_face']"
ok $? "verify obama against obama_and_biden: one match, best first" "$tmp/body"
echo "{\"source_image\": \"$(b64 "$g/enroll/biden/biden.jpg")\", \"target_image\": \"$(b64 "$g/probe/obama1.jpg")\"}" >"$tmp/v.json"
req POST "/api/v1/verification/verify" $D -H 'Content-Type: application/json' -d "@$tmp/v.json"
[ "$st" = 200 ] && js "b['result'][0]['face_matches'][0]['similarity'] < 0.5"
ok $? "verify base64 JSON: biden against obama" "$tmp/body"
req POST "/api/v1/verification/verify" $D -F "source_image=@$g/probe/obama_and_biden.jpg" -F "target_image=@$g/probe/obama1.jpg"
expect_error "a source with two faces" 400 31
req POST "/api/v1/verification/verify" $D -F "source_image=@$g/probe/obama1.jpg"
expect_error "no target_image" 400 34
req POST "/api/v1/verification/verify" $D -F "source_image=@$tmp/blank.png" -F "target_image=@$g/probe/obama1.jpg"
expect_error "a source without a face" 400 28

# ---- embeddings (CompreFace 1.2) ----
req POST "/api/v1/detection/detect?face_plugins=calculator" $D -F "file=@$g/probe/obama1.jpg"
cp "$tmp/body" "$tmp/emb_obama"
req POST "/api/v1/detection/detect?face_plugins=calculator" $D -F "file=@$g/enroll/biden/biden.jpg"
cp "$tmp/body" "$tmp/emb_biden"
/usr/bin/python3 -c "import json
o=json.load(open('$tmp/emb_obama'))['result'][0]['embedding']
b=json.load(open('$tmp/emb_biden'))['result'][0]['embedding']
json.dump({'embeddings': [o, b]}, open('$tmp/e_rec.json', 'w'))
json.dump({'source': o, 'targets': [b, o]}, open('$tmp/e_ver.json', 'w'))
json.dump({'embeddings': [o[:128]]}, open('$tmp/e_short.json', 'w'))"
req POST "/api/v1/recognition/embeddings/recognize?prediction_count=2" $R -H 'Content-Type: application/json' -d "@$tmp/e_rec.json"
[ "$st" = 200 ] && js "[x['similarities'][0]['subject'] for x in b['result']] == ['obama', 'biden'] and all(x['similarities'][0]['similarity'] >= 0.5 and len(x['similarities']) == 2 and len(x['embedding']) == 512 for x in b['result'])"
ok $? "recognize two embeddings" "$tmp/body"
req POST "/api/v1/recognition/embeddings/faces/$obama_id/verify" $R -H 'Content-Type: application/json' -d "@$tmp/e_rec.json"
[ "$st" = 200 ] && js "len(b['result']) == 2 and b['result'][0]['similarity'] >= 0.5 > b['result'][1]['similarity']"
ok $? "verify embeddings against an example, best first" "$tmp/body"
req POST "/api/v1/verification/embeddings/verify" $D -H 'Content-Type: application/json' -d "@$tmp/e_ver.json"
[ "$st" = 200 ] && js "b['result'][0]['similarity'] == 1.0 and b['result'][1]['similarity'] < 0.5"
ok $? "verify a source embedding against targets" "$tmp/body"
req POST "/api/v1/recognition/embeddings/recognize" $R -H 'Content-Type: application/json' -d "@$tmp/e_short.json"
expect_error "an embedding of another dimension" 400 36
req POST "/api/v1/recognition/embeddings/recognize" $R -H 'Content-Type: application/json' -d '{"embeddings": []}'
expect_error "no embeddings" 400 37

# ---- the recognition key on facetd's own routes ----
st=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $rkey" "$base/v1/collections/cf_people/identities")
[ "$st" = 200 ]
ok $? "the recognition key works as a Bearer key on facetd's routes" "$tmp/body"

# ---- restart: examples and their images survive ----
stop
start
curl -s -o "$tmp/img" $R "$base/api/v1/recognition/faces/$fid/img"
cmp -s "$tmp/img" "$ffile"
ok $? "after a restart the example image is the same bytes"
req GET /api/v1/recognition/faces $R
js "b['total_elements'] == 10"
ok $? "after a restart the 10 examples are listed" "$tmp/body"

# ---- deleting ----
req DELETE "/api/v1/recognition/faces/$fid" $R
[ "$st" = 200 ] && js "b['image_id'] == '$fid'"
ok $? "delete an example by id" "$tmp/body"
req DELETE "/api/v1/recognition/faces/$fid" $R
expect_error "delete it again" 404 44
req POST /api/v1/recognition/faces/delete $R -H 'Content-Type: application/json' -d '["x"]'
expect_error "delete several with a malformed id" 400 26
req POST /api/v1/recognition/faces/delete $R -H 'Content-Type: application/json' -d "[\"$b64id\", \"00000000-0000-4000-8000-000000000000\"]"
[ "$st" = 200 ] && js "b == [{'image_id': '$b64id', 'subject': 'obama'}]"
ok $? "delete several: the unknown id is ignored" "$tmp/body"
req PUT /api/v1/recognition/subjects/nobody $R -H 'Content-Type: application/json' -d '{"subject": "x"}'
expect_error "rename an unknown subject" 404 42
req PUT /api/v1/recognition/subjects/biden $R -H 'Content-Type: application/json' -d '{"subject": "biden"}'
js "b == {'updated': False}"
ok $? "rename to the same name: updated false" "$tmp/body"
req PUT /api/v1/recognition/subjects/biden $R -H 'Content-Type: application/json' -d '{"subject": "obama"}'
[ "$st" = 200 ] && js "b == {'updated': True}"
ok $? "rename biden into obama (merge)" "$tmp/body"
req GET "/api/v1/recognition/faces?subject=obama" $R
js "b['total_elements'] == 4"
ok $? "obama has the merged examples, ids kept" "$tmp/body"
js "'$biden_id' in [f['image_id'] for f in b['faces']]"
ok $? "a merged example keeps its image_id" "$tmp/body"
req DELETE /api/v1/recognition/subjects/nobody $R
expect_error "delete an unknown subject" 404 42
req DELETE "/api/v1/recognition/faces?subject=obama" $R
[ "$st" = 200 ] && js "b == {'deleted': 4}"
ok $? "delete all examples of a subject" "$tmp/body"
req DELETE /api/v1/recognition/subjects/rose_leslie $R
[ "$st" = 200 ] && js "b == {'subject': 'rose_leslie'}"
ok $? "delete a subject" "$tmp/body"
req DELETE /api/v1/recognition/subjects $R
[ "$st" = 200 ] && js "b == {'deleted': 1}"
ok $? "delete all subjects (kit_harington is left)" "$tmp/body"
req DELETE /api/v1/recognition/faces $R
[ "$st" = 200 ] && js "b == {'deleted': 0}"
ok $? "delete all examples of an empty collection" "$tmp/body"

# ---- subject names ignore case, as CompreFace's (findByApiKeyAndSubjectNameIgnoreCase) ----
subjects_are() { # subjects_are "['A', 'b']" DESCRIPTION
    req GET /api/v1/recognition/subjects $R
    [ "$st" = 200 ] && js "b == {'subjects': $1}"
    ok $? "$2" "$tmp/body"
}
req POST /api/v1/recognition/subjects $R -H 'Content-Type: application/json' -d '{"subject": "Pat"}'
[ "$st" = 201 ]
ok $? "add subject Pat" "$tmp/body"
req POST /api/v1/recognition/subjects $R -H 'Content-Type: application/json' -d '{"subject": "pAT"}'
expect_error "add pAT when Pat exists" 400 43
req POST "/api/v1/recognition/faces?subject=PAT" $R -F "file=@$g/enroll/obama/obama.jpg"
[ "$st" = 201 ] && js "b['subject'] == 'PAT'"
ok $? "an example for PAT: 201, the name as sent" "$tmp/body"
subjects_are "['Pat']" "... and it joined Pat"
req GET "/api/v1/recognition/faces?subject=pat" $R
[ "$st" = 200 ] && js "b['total_elements'] == 1 and b['faces'][0]['subject'] == 'Pat'"
ok $? "list the examples of pat: Pat's" "$tmp/body"
req POST /api/v1/recognition/subjects $R -H 'Content-Type: application/json' -d '{"subject": "kim"}'
req PUT /api/v1/recognition/subjects/KIM $R -H 'Content-Type: application/json' -d '{"subject": "Kim"}'
[ "$st" = 200 ] && js "b == {'updated': True}"
ok $? "rename KIM to Kim: the subject kim, its case changed" "$tmp/body"
subjects_are "['Kim', 'Pat']" "subjects Kim and Pat"
req PUT /api/v1/recognition/subjects/kim $R -H 'Content-Type: application/json' -d '{"subject": "PAT"}'
[ "$st" = 200 ] && js "b == {'updated': True}"
ok $? "rename kim to PAT: merged into Pat" "$tmp/body"
subjects_are "['Pat']" "only Pat is left, its spelling kept"

# ---- subjects without examples are in the store: a restart keeps them ----
req POST /api/v1/recognition/subjects $R -H 'Content-Type: application/json' -d '{"subject": "lee"}'
[ "$st" = 201 ]
ok $? "add subject lee, without examples" "$tmp/body"
stop
start
subjects_are "['Pat', 'lee']" "after a restart the subject without examples is there"
req DELETE /api/v1/recognition/subjects/LEE $R
[ "$st" = 200 ] && js "b == {'subject': 'lee'}"
ok $? "delete LEE: the subject lee" "$tmp/body"
req DELETE "/api/v1/recognition/faces?subject=pAt" $R
[ "$st" = 200 ] && js "b == {'deleted': 1}"
ok $? "delete the examples of pAt: Pat's one" "$tmp/body"
req POST /api/v1/recognition/subjects $R -H 'Content-Type: application/json' -d '{"subject": "zed"}'
req DELETE /api/v1/recognition/subjects $R
[ "$st" = 200 ] && js "b == {'deleted': 1}"
ok $? "delete all subjects counts one without examples" "$tmp/body"
subjects_are "[]" "no subjects left"
# the same subjects on facetd's own routes: identities, a declared one with 0 faceprints
req POST /api/v1/recognition/subjects $R -H 'Content-Type: application/json' -d '{"subject": "solo"}'
st=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $admin" "$base/v1/collections/cf_people/identities")
[ "$st" = 200 ] && js "b == {'identities': [{'identity': 'solo', 'faceprints': 0}]}"
ok $? "a subject without examples is an identity with 0 faceprints on /v1" "$tmp/body"
st=$(curl -s -o "$tmp/body" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $admin" "$base/v1/collections/cf_people/identities/solo")
[ "$st" = 200 ] && js "b == {'removed': 0}"
ok $? "... which DELETE /v1/.../identities/solo removes (200, 0 faceprints)" "$tmp/body"
st=$(curl -s -o "$tmp/body" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $admin" "$base/v1/collections/cf_people/identities/solo")
[ "$st" = 404 ]
ok $? "... and a second time: 404" "$tmp/body"
subjects_are "[]" "no subjects left after that"

stop

echo "1..$n"
[ $failed = 0 ]
