#!/bin/sh
# Fetches the nine ONNX models from the npm registry (faceplugin-face-recognition-js@0.0.1, MIT),
# checks the tarball and every model against pinned sha256 sums, and installs them into
# ${FACET_MODEL_PATH:-models}. Idempotent: models that are present and verified are kept.
set -eu
dest=${1:-${FACET_MODEL_PATH:-models}}
PKG=faceplugin-face-recognition-js@0.0.1
TGZ_SHA=7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba
SUMS="6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854  fr_detect.onnx
f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258  fr_landmark.onnx
87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581  fr_feature.onnx
afa783b7e902fdfcf323a7240cac2a1c580c25314ea4161129dc1b0d100dc32d  fr_liveness.onnx
72d032ec941b7153bf8d3f2c03a4c165453cc7e63d479041ec7c6ef087e5839d  fr_pose.onnx
1afcea006abc1ccac3c517022abde0aa092bed74ff3c9fe6878483ef9e6e38de  fr_eye.onnx
74c9b01700cb9ef96f7190a2230218414ff99d231415c4b091a755780cad5e8a  fr_age.onnx
a003e8392a617ca834c7ca2c01e0895f5c354217fb56cd0373935e6e9b9c396e  fr_gender.onnx
88959314d9dc14d6c968cca31dc068e4350bf1944154e3bdd2eece5d0f318d05  fr_expression.onnx"

mkdir -p "$dest"
if (cd "$dest" && echo "$SUMS" | sha256sum --check --status 2>/dev/null); then
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "models: fetching $PKG"
(cd "$tmp" && npm pack "$PKG" --silent --ignore-scripts >/dev/null 2>&1) || {
    echo "models: npm pack $PKG failed (is the npm registry reachable?)" >&2; exit 1; }
tgz=$(ls "$tmp"/*.tgz)
echo "$TGZ_SHA  $tgz" | sha256sum --check --status || {
    echo "models: checksum mismatch for $tgz" >&2; exit 1; }
tar -xzf "$tgz" -C "$tmp" package/model
(cd "$tmp/package/model" && echo "$SUMS" | sha256sum --check --quiet) || {
    echo "models: a model file does not match its checksum" >&2; exit 1; }
cp "$tmp"/package/model/*.onnx "$dest"/
echo "models: installed 9 models into $dest"
