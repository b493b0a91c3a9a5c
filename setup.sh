#!/usr/bin/env bash
# Set up torchshrink on a fresh machine: Debian's Fashion-MNIST (when apt is available and we are root),
# a virtual environment in .venv, PyTorch + torchvision, and the package with its test and quant extras
# (torchao for the PT2E int8 flow, onnx/onnxruntime for the ONNX export check).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null \
    || echo "setup: could not install dataset-fashion-mnist; pass --data-root to a folder with the IDX files"
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
PIP=".venv/bin/pip install -q --disable-pip-version-check"
.venv/bin/python -c "import torch, torchvision" 2>/dev/null || $PIP "torch==2.14.1" "torchvision==0.29.1" \
  || $PIP torch torchvision
$PIP -e ".[test,quant]"
