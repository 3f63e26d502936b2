#!/usr/bin/env bash
# The main job, from a fresh machine: install what is needed, compile the bundled example model
# (examples/jet_mlp_qonnx.onnx, a QONNX MLP in the style of the hls4ml jet tagger) for every
# target, run each target's simulation on 1000 inputs, and check every output code against the
# emulator.  Results land in out/demo (override with the first argument).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${FMLC_SKIP_SETUP:-0}" = 1 ] || scripts/setup.sh

out=${1:-out/demo}
model=examples/jet_mlp_qonnx.onnx
rm -rf "$out"
mkdir -p "$out"

python3 -c "import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(0).uniform(-4, 4, (1000, 16)).astype(np.float32))" "$out/x.npy"

echo "== fxp IR: $out/model.mlir"
fmlc import "$model" -o "$out/model.mlir"
echo "== emulator (the golden model)"
fmlc run "$model" --input "$out/x.npy" --output "$out/y_emulator.npy" --raw

same() {  # same codes in two .npy files?
  python3 -c "import numpy as np, sys; a, b = np.load(sys.argv[1]), np.load(sys.argv[2]); ok = a.shape == b.shape and np.array_equal(a, b); print(f'   {sys.argv[2]}: ' + ('bit-exact with the emulator' if ok else 'DIFFERS from the emulator')); sys.exit(0 if ok else 1)" "$1" "$2"
}

for spec in hls:csim verilog:verilator,icarus cuda:cuda; do
  target=${spec%%:*}
  echo "== $target"
  fmlc compile "$model" --target "$target" -o "$out/$target"
  IFS=, read -ra backends <<<"${spec#*:}"
  for backend in "${backends[@]}"; do
    fmlc run "$out/$target" --input "$out/x.npy" --output "$out/y_$backend.npy" --backend "$backend" --raw
    same "$out/y_emulator.npy" "$out/y_$backend.npy"
  done
done

echo "== reports"
fmlc report "$out/hls"
fmlc report "$out/verilog"
fmlc report "$out/cuda"
echo "demo done: every target computed the emulator's bits on 1000 inputs ($out)"
