#!/bin/sh
# test_cli.sh FACET - the `facet` command line end to end on real photos, printing TAP:
# JSON output shapes, errors for bad input that do not stop a run, enrol/identify through a
# real SQLite file, compare, eval on a slice of LFW, nn run, and a missing model folder; then
# what must be refused, each with its exact exit status and message: malformed numbers and
# unknown options (2), failed writes (1), hostile faceprints, migrate onto itself, malformed
# pairs files, read-only commands on a missing database, identities with control characters.
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
# a probe of another preprocessing (here: mirror averaging) is refused by a collection, which
# migrate re-enrols from its stored chips
"$facet" identify --mirror --collection people --db "$db" "$data/gallery/probe/obama1.jpg" >"$tmp/mix.txt" 2>&1
check "a collection refuses probes of another preprocessing; migrate re-enrols it" sh -c "
    grep -q 'error: .*fr_feature@87aacdfe/p[0-9]*m.*facet collection migrate' '$tmp/mix.txt' &&
    '$facet' collection migrate people --to people_m --mirror --db '$db' | grep -q 'migrated 9 faceprints' &&
    '$facet' collection list --db '$db' | grep people_m | grep -q '/p[0-9]*m/512' &&
    '$facet' identify --mirror --collection people_m --db '$db' '$data/gallery/probe/obama1.jpg' | grep -q ': obama (similarity'"
check "compare: same and different people" sh -c "
    '$facet' compare '$data/gallery/enroll/obama/obama.jpg' '$data/gallery/enroll/obama/obama2.jpg' | grep -q 'same person' &&
    '$facet' compare '$data/gallery/enroll/obama/obama.jpg' '$data/gallery/enroll/biden/biden.jpg' | grep -q 'different people'"
{ echo 20; head -21 "$data/lfw-dev/pairsDevTrain.txt" | tail -20; sed -n '1102,1121p' "$data/lfw-dev/pairsDevTrain.txt"; } >"$tmp/pairs.txt"
check "eval lfw on 40 pairs, counts labelled from the pairs" sh -c "'$facet' eval lfw '$data/lfw-dev/images' '$tmp/pairs.txt' --roc '$tmp/roc.csv' >'$tmp/lfw.out' &&
    grep -q 'accuracy at the best threshold' '$tmp/lfw.out' && head -1 '$tmp/roc.csv' | grep -q 'threshold,far,tar' &&
    grep -q '^LFW: 40 pairs (20 same, 20 different)' '$tmp/lfw.out'"
check "eval ident: intervals over people and a paired comparison" sh -c "
    '$facet' eval ident '$data/johns' --negatives 1000 --bootstrap 100 --compare mirror >'$tmp/ident.txt' &&
    grep -q '^eval ident: 55 photos of 5 people' '$tmp/ident.txt' &&
    grep -q '275 same-person pairs.*1000 different-person pairs' '$tmp/ident.txt' &&
    grep -q '5 people enrolled (one photo each), 50 probes' '$tmp/ident.txt' &&
    grep -q '  TAR at FAR 1e-04: [0-9.]*% \[[0-9.]*, [0-9.]*\] (threshold' '$tmp/ident.txt' &&
    grep -q 'paired difference mirror minus sdk' '$tmp/ident.txt' && grep -q 'McNemar: ' '$tmp/ident.txt'"
check "eval ident: a bad count or configuration is an error" sh -c "
    '$facet' eval ident '$data/johns' --negatives 12x; [ \$? = 2 ] &&
    '$facet' eval ident '$data/johns' --compare swap-gb; [ \$? = 2 ]"
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
# ---- refusals: exact exit status and message ----
# refused NAME RC MESSAGE CMD...: CMD exits RC and its stderr's first line is MESSAGE
refused() {
    name=$1 want_rc=$2 want_msg=$3; shift 3
    "$@" >"$tmp/out.stdout" 2>"$tmp/out"; got=$?
    if [ "$got" = "$want_rc" ] && [ "$(head -1 "$tmp/out")" = "$want_msg" ]; then ok "$name"
    else echo "exit $got, wanted $want_rc; wanted message: $want_msg" >>"$tmp/out"; bad "$name"; fi
}
img="$data/images/obama.jpg"
refused "--threshold abc is a usage error" 2 "facet: --threshold: 'abc' is not a number in 0..1" \
    "$facet" detect --threshold abc "$img"
refused "--threshold nan is a usage error" 2 "facet: --threshold: 'nan' is not a number in 0..1" \
    "$facet" detect --threshold=nan "$img"
refused "--top 5x is a usage error" 2 "facet: --top: '5x' is not an integer in 1..100" \
    "$facet" identify --collection people --db "$db" --top 5x "$img"
refused "--min-face '' is a usage error" 2 "facet: --min-face: '' is not an integer in 8..100000" \
    "$facet" analyze --min-face "" "$img"
refused "--backend foo is a usage error" 2 "facet: --backend: 'foo' is not one of ref, xnnpack, auto" \
    "$facet" faceprint --json --backend foo "$img"
refused "--iters 1e3 is a usage error" 2 "facet: --iters: '1e3' is not an integer in 1..1000000" \
    "$facet" nn bench "${FACET_MODEL_PATH:-models}/fr_eye.onnx" --iters 1e3
refused "an unknown option is a usage error" 2 "facet compare: unknown option '--thresold'" \
    "$facet" compare --thresold 0.5 "$img" "$img"
refused "an option without its value is a usage error" 2 "facet detect: option '--draw' needs a value" \
    "$facet" detect "$img" --draw
if [ -w /dev/full ]; then
    refused "faceprint --out /dev/full fails" 1 "facet: cannot write /dev/full: No space left on device" \
        "$facet" faceprint "$img" --out /dev/full
    refused "a full standard output fails" 1 "facet: cannot write standard output: No space left on device" \
        sh -c "'$facet' detect --json '$img' >/dev/full"
fi
refused "detect --draw into a missing folder fails" 1 \
    "facet: cannot write /nonexistent/x.png: cannot create '/nonexistent/x.png': No such file or directory" \
    "$facet" detect --draw /nonexistent/x.png "$img"
refused "migrate onto itself is refused (it doubled the collection)" 2 \
    "facet collection migrate: --to must name a new collection, not people itself" \
    "$facet" collection migrate people --to people --db "$db"
refused "migrate into an existing collection is refused" 1 \
    "facet: collection people2 exists; migrate writes a new collection (drop it first)" \
    "$facet" collection migrate people --to people2 --db "$db"
check "people still holds 9 faceprints" sh -c "'$facet' collection stats people --db '$db' | grep -q '^people: 9 faceprints of 5 identities'"
for verb in "identify --collection people $img" "collection list" "collection stats people" "collection drop people"; do
    # shellcheck disable=SC2086
    refused "${verb%% /*} on a missing database creates nothing" 1 \
        "facet: sqlite:$tmp/typo.db: sqlite: '$tmp/typo.db' does not exist" \
        "$facet" $verb --db "sqlite:$tmp/typo.db"
    [ -e "$tmp/typo.db" ] && bad "$verb created $tmp/typo.db"
done
esc=$(printf '\033')
refused "an identity with an escape sequence is refused" 1 \
    "facet: $img: identity 0 has the control character U+001B at byte 0" \
    "$facet" enroll --collection people --db "$db" --identity "${esc}[2Jx" "$img"
refused "an identity with a right-to-left override is refused" 1 \
    "facet: $img: identity 0 has the control character U+202E at byte 2" \
    "$facet" enroll --collection people --db "$db" --identity "$(printf 'ab\342\200\256cd')" "$img"
cp "$img" "$tmp/${esc}[31mred.jpg"
"$facet" detect "$tmp/${esc}[31mred.jpg" >"$tmp/esc.out" 2>&1
check "paths are printed escaped (no terminal injection)" sh -c "
    grep -qF '\\x1b[31mred.jpg: 910x1137, 1 face' '$tmp/esc.out' && ! grep -q '$esc' '$tmp/esc.out'"

# faceprints: the CLI's own JSON line, the library's JSON and the binary form all compare
"$facet" faceprint --json "$data/gallery/enroll/obama/obama.jpg" >"$tmp/a.json"
"$facet" faceprint "$data/gallery/enroll/obama/obama2.jpg" --out "$tmp/b.fp" >/dev/null
"$facet" compare "$data/gallery/enroll/obama/obama.jpg" "$tmp/b.fp" >"$tmp/want"
check "compare takes faceprint --json output (the same numbers as from the image)" sh -c "
    '$facet' compare '$tmp/a.json' '$tmp/b.fp' >'$tmp/got' && cmp '$tmp/got' '$tmp/want' &&
    grep -q 'same person' '$tmp/want'"
printf '{"model": "fr_feature@87aacdfe", "dim": 1e999, "dtype": "f32", "data": ""}' >"$tmp/big.json"
refused "a faceprint JSON with dim 1e999 is refused" 1 "facet: $tmp/big.json: line 1 column 45: real number overflow near '1e999'" \
    "$facet" compare "$tmp/big.json" "$tmp/b.fp"
printf '{"model": "fr_feature@87aacdfe", "dim": "4x", "dtype": "f32", "data": ""}' >"$tmp/4x.json"
refused "a faceprint JSON with dim \"4x\" is refused" 1 "facet: $tmp/4x.json: faceprint JSON: \"dim\" must be an integer, not a string" \
    "$facet" compare "$tmp/4x.json" "$tmp/b.fp"
{ head -c $(($(wc -c <"$tmp/b.fp") - 2048)) "$tmp/b.fp"; head -c 2048 /dev/zero; } >"$tmp/zero.fp" # the header, whatever the model id's length
refused "a zero faceprint is an error, not similarity 0" 1 \
    "facet: $tmp/zero.fp: faceprint: L2 norm 0 is not 1 (+-0.01): not a faceprint" \
    "$facet" compare "$tmp/zero.fp" "$tmp/b.fp"

# eval lfw: malformed lines refused with their number
sed '3s/.*/Aaron_Peirsol 1 two/' "$tmp/pairs.txt" >"$tmp/pairs-bad.txt"
refused "eval lfw refuses a malformed pair line with its number" 1 \
    "facet: $tmp/pairs-bad.txt:3: expected 'NAME N M' (same person) or 'NAME1 N NAME2 M' (different people), N and M image numbers from 1" \
    "$facet" eval lfw "$data/lfw-dev/images" "$tmp/pairs-bad.txt"
sed '$d' "$tmp/pairs.txt" >"$tmp/pairs-short.txt"
refused "eval lfw refuses a file shorter than its header" 1 \
    "facet: $tmp/pairs-short.txt: the header promises 40 pairs, the file holds 39" \
    "$facet" eval lfw "$data/lfw-dev/images" "$tmp/pairs-short.txt"
# eval detect: a damaged WIDER FACE file is an error with its line, not a shorter evaluation
gt="$data/wider-dev/wider_face_val_bbx_gt.txt"
sed '3s/^345 211 4 4/345 211 4x 4/' "$gt" >"$tmp/gt-bad.txt"
refused "eval detect refuses a malformed box line with its number" 1 \
    "facet: $tmp/gt-bad.txt:3: expected a box line of 10 integers: x y w h blur expression illumination invalid(0|1) occlusion pose" \
    "$facet" eval detect "$data/wider-dev/images" "$tmp/gt-bad.txt"
head -n 10 "$gt" >"$tmp/gt-short.txt"
refused "eval detect refuses a file that ends inside an image's boxes" 1 \
    "facet: $tmp/gt-short.txt:11: the file ends inside an image's boxes" \
    "$facet" eval detect "$data/wider-dev/images" "$tmp/gt-short.txt"
echo "1..$n"
[ $fails = 0 ]
