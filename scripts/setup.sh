#!/usr/bin/env bash
# Installs what fmlc, its targets and its tests use, on a fresh Debian/Ubuntu machine with
# Python 3.11: the simulators and synthesizer (Verilator, Icarus, Yosys), a C++ toolchain, and
# fmlc itself with its Python dependencies (xDSL 0.74, onnx, qonnx, onnxruntime, hls4ml for the
# ap_fixed headers, pycde for CIRCT, lit and filecheck).  nvcc is not installed here: the CUDA
# target's compile checks run where it is on the PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
for tool in verilator iverilog yosys g++ make cmake; do
  command -v "$tool" >/dev/null 2>&1 || packages+=("$tool")
done
if ((${#packages[@]})); then
  # g++ and make come from their own packages; the others are named like their tools
  apt_names=()
  for p in "${packages[@]}"; do
    case "$p" in g++) apt_names+=(g++) ;; *) apt_names+=("$p") ;; esac
  done
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${apt_names[*]} with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_names[@]}" >/dev/null
fi

echo "setup: installing fmlc and its Python dependencies with pip" >&2
python3 -m pip install -q -e ".[test]"
