#!/bin/sh
# Installs what facet needs to build and test on Debian 12, idempotently and quietly.
# Only packages that are missing are installed, so a second run costs a few dpkg queries.
set -eu
PKGS="meson ninja-build pkg-config gcc clang libxnnpack-dev libpthreadpool-dev libcpuinfo-dev libonnx-dev
protobuf-c-compiler libprotobuf-c-dev libjpeg62-turbo-dev libspng-dev zlib1g-dev
libsqlite3-dev libpq-dev postgresql libmicrohttpd-dev libjansson-dev libgnutls28-dev
curl openssl libcurl4-openssl-dev libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libavdevice-dev
python3-numpy python3-faiss libopenblas0-pthread nodejs chromium ffmpeg
python3-venv python3-pip python3-pytest man-db systemd debhelper dpkg-dev nginx-light
gcc-aarch64-linux-gnu qemu-user"
# The last line: the arm64 cross build and its tests under user-mode emulation
# (scripts/cross-test.sh, which fetches the arm64 libraries into its own sysroot).
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "setup: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends $missing; } \
        >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; exit 1; }
    rm -f "$log"
fi
