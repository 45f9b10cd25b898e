#!/bin/sh
# bench/nn: facet's engine against ONNX Runtime (../shared/tools/ort-peer), same run.
exec /usr/bin/python3 "$(dirname "$0")/bench.py" "${1:-build}"
