#!/usr/bin/env python3
"""CTest driver: compile a model for one target, run one of its backends, compare with the
emulator bit for bit.  Exit status 0 when every output code matches.

    check_target.py MODEL.onnx --target hls --backend csim --out BUILD_DIR [--samples 500]
"""

import argparse
import sys

import numpy as np

from fmlc.driver import CompileOptions, compile_model, run_compiled
from fmlc.emulator import Emulator
from fmlc.driver import resolve
from fmlc.frontend.onnx_import import import_model


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--target", required=True)
    p.add_argument("--backend", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--samples", type=int, default=500)
    args = p.parse_args()
    module = resolve(import_model(args.model))
    emu = Emulator(module)
    x = np.random.default_rng(0).uniform(-4, 4, (args.samples,) + emu.input_shapes[0]).astype(np.float32)
    expect = emu.run(x, raw=True)[0]
    out = compile_model(module, args.out, CompileOptions(target=args.target, name="model"))
    got = np.asarray(run_compiled(out, [x], args.backend, raw=True)[0]).reshape(expect.shape)
    bad = int(np.sum(np.any(got != expect, axis=tuple(range(1, got.ndim)))))
    print(f"{args.target}/{args.backend}: {args.samples - bad}/{args.samples} samples bit-exact")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
