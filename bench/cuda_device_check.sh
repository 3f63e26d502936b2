#!/usr/bin/env bash
# CUDA device check (docs/cuda.md): on a machine with a GPU, nvcc, python and pip, from a
# clone of this repository:   bash bench/cuda_device_check.sh [extra options of cuda_device_check.py]
#
# It installs (pip, into the active environment) what is missing: this package (pip install -e .,
# which brings xdsl, numpy, onnx, onnxruntime, qonnx) and, for the float baseline, torch (a CUDA
# build from PyPI; skip with FMLC_NO_TORCH=1). Then, for every model in ../shared/models
# (or FMLC_MODELS): compile for the CUDA target, build with nvcc, check the GPU bit-exact against
# the emulator on 100,000 inputs (raw codes and float API), and print throughput at batch sizes
# 1e3..1e7 next to PyTorch's float32 model. Without a GPU it checks the CPU host path instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
command -v nvcc >/dev/null || { echo "nvcc is not on the PATH (install the CUDA toolkit)"; exit 2; }
$PY -c "import fmlc" 2>/dev/null || $PY -m pip install -q -e .
if [ -z "${FMLC_NO_TORCH:-}" ] && command -v nvidia-smi >/dev/null; then
  $PY -c "import torch" 2>/dev/null || $PY -m pip install -q torch || echo "torch could not be installed: no float baseline"
fi
nvidia-smi -L 2>/dev/null || echo "no GPU visible: checking the CPU host path"
exec $PY bench/cuda_device_check.py --models "${FMLC_MODELS:-$(cd .. && pwd)/shared/models}" "$@"
