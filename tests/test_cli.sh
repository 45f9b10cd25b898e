#!/bin/sh
# test_cli.sh FACET - the `facet` command line end to end on real photos, printing TAP:
# JSON output shapes, errors for bad input that do not stop a run, enrol/identify through a
# real SQLite file, compare, eval on a slice of LFW, nn run, and a missing model folder.
set -u
facet=$1
data=${FACET_TEST_DATA:-$(dirname "$0")/../../shared/data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; sed 's/^/#   /' "$tmp/out" | head -20; }
check() { name=$1; shift; if "$@" >"$tmp/out" 2>&1; then ok "$name"; else bad "$name"; fi; }
echo "1..11"

check "version" sh -c "'$facet' --version | grep -q '^facet 0\.'"

printf 'not a jpeg' >"$tmp/corrupt.jpg"
"$facet" detect --json "$data/images/obama.jpg" "$tmp/corrupt.jpg" "$data/gallery/probe/kit_with_rose.jpg" \
    >"$tmp/detect.json" 2>"$tmp/detect.err"
rc=$?
check "detect --json: one line per image, an error line for the corrupt file, exit 1" sh -c "
    [ $rc = 1 ] && [ \$(wc -l <'$tmp/detect.json') = 3 ] &&
    sed -n 2p '$tmp/detect.json' | grep -q '\"error\": ' &&
    sed -n 1p '$tmp/detect.json' | grep -q '\"width\": 910, \"height\": 1137, \"faces\": \\[{\"box\": \\[' &&
    [ \$(sed -n 3p '$tmp/detect.json' | grep -o '\"box\"' | wc -l) = 2 ]"

db="sqlite:$tmp/t.db"
check "enroll a folder per person" sh -c "'$facet' enroll --collection people --db '$db' --keep-chips '$data/gallery/enroll' | grep -q 'enrolled 9 of 9'"
"$facet" identify --json --collection people --db "$db" "$data/gallery/probe/obama1.jpg" \
    "$data/gallery/probe/kit_with_rose.jpg" >"$tmp/id.json" 2>&1
check "identify --json names the people" sh -c "
    sed -n 1p '$tmp/id.json' | grep -q '\"candidates\": \\[{\"identity\": \"obama\", \"uuid\": \"' &&
    sed -n 2p '$tmp/id.json' | grep -q 'kit_harington' && sed -n 2p '$tmp/id.json' | grep -q 'rose_leslie'"
check "collection migrate rebuilds from stored chips" sh -c "
    '$facet' collection migrate people --to people2 --db '$db' | grep -q 'migrated 9 faceprints' &&
    '$facet' collection stats people2 --db '$db' | grep -q '9 faceprints of 5 identities'"
check "compare: same and different people" sh -c "
    '$facet' compare '$data/gallery/enroll/obama/obama.jpg' '$data/gallery/enroll/obama/obama2.jpg' | grep -q 'same person' &&
    '$facet' compare '$data/gallery/enroll/obama/obama.jpg' '$data/gallery/enroll/biden/biden.jpg' | grep -q 'different people'"
{ echo 20; head -21 "$data/lfw-dev/pairsDevTrain.txt" | tail -20; sed -n '1102,1121p' "$data/lfw-dev/pairsDevTrain.txt"; } >"$tmp/pairs.txt"
check "eval lfw on 40 pairs" sh -c "'$facet' eval lfw '$data/lfw-dev/images' '$tmp/pairs.txt' --roc '$tmp/roc.csv' | grep -q 'accuracy at the best threshold' && head -1 '$tmp/roc.csv' | grep -q 'threshold,far,tar'"
check "nn run writes outputs.json and one file per output" sh -c "
    '$facet' nn run '${FACET_MODEL_PATH:-models}/fr_eye.onnx' --seed 1 --out '$tmp/nn' >/dev/null &&
    grep -q '\"shape\": \\[1, 2\\]' '$tmp/nn/outputs.json' && [ \$(wc -c <'$tmp/nn/output.f32') = 8 ]"
# the whole message, once: a substring check let a garbled, doubled message pass before
printf '%s\n' "facet: $data/images/obama.jpg: model fr_detect: cannot open '/nonexistent/models/fr_detect.onnx': No such file or directory (run \`make models\` or set FACET_MODEL_PATH)" >"$tmp/want"
check "a missing model folder is one exact error" sh -c "
    ! FACET_MODEL_PATH=/nonexistent/models '$facet' detect '$data/images/obama.jpg' >/dev/null 2>'$tmp/err' &&
    cmp '$tmp/want' '$tmp/err' || { cat '$tmp/err'; exit 1; }"
# 200 flipped bits in a real photo's entropy-coded data (the same damage as test_image.c):
# an exact error by default; with --allow-corrupt the faces are found and a warning is printed.
/usr/bin/python3 - "$data/images/obama.jpg" "$tmp/damaged.jpg" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
i = d.find(b"\xff\xda")
start, seed = i + 2 + (d[i + 2] << 8 | d[i + 3]), 8
for _ in range(200):
    seed = (seed * 1664525 + 1013904223) & 0xffffffff
    at = start + (seed >> 8) % (len(d) - 2 - start)
    seed = (seed * 1664525 + 1013904223) & 0xffffffff
    d[at] ^= 1 << (seed >> 29)
open(sys.argv[2], "wb").write(d)
PY
printf '%s\n' "facet: '$tmp/damaged.jpg': corrupt JPEG data: premature end of data segment (decode option allow_corrupt accepts it)" >"$tmp/want"
check "a damaged JPEG is one exact error; --allow-corrupt decodes it with a warning" sh -c "
    ! '$facet' detect '$tmp/damaged.jpg' >/dev/null 2>'$tmp/err' && cmp '$tmp/want' '$tmp/err' &&
    '$facet' detect --allow-corrupt '$tmp/damaged.jpg' >'$tmp/out2' 2>'$tmp/err2' &&
    grep -q \"^facet: warning: '$tmp/damaged.jpg': decoded despite corrupt JPEG data (\" '$tmp/err2' &&
    grep -q ', 1 face$' '$tmp/out2' || { cat '$tmp/err' '$tmp/err2'; exit 1; }"
check "a store URL's password is never printed" sh -c "
    ! '$facet' collection list --db 'postgres://alice:s3cret@127.0.0.1:1/faces' >'$tmp/out3' 2>&1 &&
    grep -q 'postgres://alice:\*\*\*\*@127.0.0.1:1/faces' '$tmp/out3' && ! grep -q s3cret '$tmp/out3' ||
    { cat '$tmp/out3'; exit 1; }"
[ $fails = 0 ]
