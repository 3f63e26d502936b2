"""CUDA device check: every reference model bit-exact on the GPU, and its throughput.

For each model in ../shared/models (or --models DIR): import it, compile it for the CUDA
target, build the GPU tool (nvcc), run the float API (device quantization) and the raw-code
API on --samples inputs and compare both with the emulator by exact equality, then time the
kernels at each --batches size next to a float baseline of the same network: PyTorch on the
GPU (a float32 torch model built from the IR's weights) when torch with CUDA is importable,
else nothing.  Without a GPU (or with --cpu) the same checks run on the CPU host path and no
throughput is measured.  Prints one line a check and a table; exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))


def log(msg: str) -> None:
    print(msg, flush=True)


def torch_baseline(module, batches: list[int], in_shape) -> dict[int, float]:
    """Samples/s of a float32 PyTorch model with the same layers and weights (GPU)."""
    try:
        import torch
    except ImportError:
        return {}
    if not torch.cuda.is_available():
        return {}
    from fmlc.dialects import dataflow, fxp
    from fmlc.fixed import to_float
    from fmlc.ir import main_function

    def const(v):
        op = v.owner
        return torch.tensor(to_float(op.codes(), op.format.frac), dtype=torch.float32, device="cuda")

    steps = []
    for node in main_function(module).body.block.ops:
        if not isinstance(node, dataflow.NodeOp):
            continue
        for op in node.compute_ops():
            if isinstance(op, fxp.DenseOp):
                w, b = const(op.weight), (const(op.bias) if op.bias is not None else None)
                steps.append(lambda x, w=w, b=b: x @ w + b if b is not None else x @ w)
            elif isinstance(op, fxp.ConvOp):
                w = const(op.weight)
                b = const(op.bias) if op.bias is not None else None
                k, s, d, p, g = op.window()
                n = len(k)
                wt = w.permute(*range(n + 1, n - 1, -1), *range(n)).contiguous() if n else w  # -> [F, C/g, *k]
                conv = torch.nn.functional.conv1d if n == 1 else torch.nn.functional.conv2d
                pad = tuple(p[:n])

                def run(x, wt=wt, b=b, s=s, d=d, g=g, pad=pad, conv=conv, n=n):
                    x = x.movedim(-1, 1)
                    y = conv(x, wt, b, stride=s, padding=pad, dilation=d, groups=g)
                    return y.movedim(1, -1)

                steps.append(run)
            elif isinstance(op, fxp.ReluOp):
                steps.append(torch.relu)
            elif isinstance(op, fxp.SoftmaxOp):
                steps.append(lambda x: torch.softmax(x, -1))
            elif isinstance(op, fxp.TableOp):
                steps.append(torch.sigmoid)
            elif isinstance(op, fxp.FlattenOp | fxp.ReshapeOp):
                shape = fxp.shape_of(op.result)
                steps.append(lambda x, shape=shape: x.reshape(x.shape[0], *shape))
            elif isinstance(op, fxp.MaxPoolOp):
                k, s, _ = op.window()
                pool = torch.nn.functional.max_pool1d if len(k) == 1 else torch.nn.functional.max_pool2d
                steps.append(lambda x, k=k, s=s, pool=pool: pool(x.movedim(-1, 1), k, s).movedim(1, -1))
            # casts, batchnorm (folded), multithreshold...: elementwise, cheap; left out of the baseline

    def forward(x):
        for f in steps:
            x = f(x)
        return x

    out = {}
    with torch.inference_mode():
        for n in batches:
            try:
                x = torch.randn((n, *in_shape), device="cuda")
                forward(x)
                torch.cuda.synchronize()
                reps, elapsed = 1, 0.0
                while True:
                    t0 = time.perf_counter()
                    for _ in range(reps):
                        forward(x)
                    torch.cuda.synchronize()
                    elapsed = time.perf_counter() - t0
                    if elapsed > 0.05 or reps >= 4096:
                        break
                    reps *= 4
                out[n] = n * reps / elapsed
                del x
            except RuntimeError:  # out of memory
                torch.cuda.empty_cache()
                break
    return out


def main(argv=None) -> int:
    from fmlc.driver import CompileOptions, compile_model, load_manifest, quantize_inputs
    from fmlc.emulator import Emulator
    from fmlc.frontend.onnx_import import import_model
    from fmlc.ir import parse_module
    from fmlc.targets.cuda import build_host, build_tool, gpu_name, run_program
    from models import ALL_MODELS, random_inputs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=str(ROOT.parent / "shared" / "models"))
    ap.add_argument("--out", default="/tmp/fmlc-cuda-check")
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--batches", default="1000,10000,100000,1000000,10000000")
    ap.add_argument("--only", help="comma-separated model names")
    ap.add_argument("--cpu", action="store_true", help="check on the CPU host path even if a GPU is present")
    ap.add_argument("--arch", default="90")
    args = ap.parse_args(argv)

    import os

    os.environ["FMLC_MODELS"] = args.models
    gpu = None if args.cpu else gpu_name()
    log(f"device: {gpu or 'none: CPU host path only, no throughput'}")
    names = args.only.split(",") if args.only else list(ALL_MODELS)
    batches = [int(b) for b in args.batches.split(",")]
    out_root = Path(args.out)
    failures, rows = 0, []
    for name in names:
        path = Path(args.models) / f"{name}.onnx"
        if not path.exists():
            log(f"{name}: SKIP ({path} is absent)")
            continue
        t0 = time.perf_counter()
        module = import_model(path, {})
        folder = compile_model(module, out_root / name, CompileOptions(target="cuda", name=name, cuda_arch=args.arch))
        manifest = load_manifest(folder)
        t1 = time.perf_counter()
        program = build_tool(folder, name, args.arch) if gpu else build_host(folder, name)
        t2 = time.perf_counter()
        x = random_inputs(name, args.samples, seed=11)
        n = len(x)
        emu = Emulator(parse_module((folder / "model.mlir").read_text()))
        want = emu.run(x, raw=True)[0].reshape(n, -1)
        codes = quantize_inputs(manifest, [x])[0].reshape(n, -1).astype(np.int64)
        raw = run_program(program, "raw", codes, np.int64, n, want.shape[1])
        via_float = run_program(program, "codes", x.reshape(n, -1).astype(np.float32), np.int64, n, want.shape[1])
        ok = np.array_equal(raw, want) and np.array_equal(via_float, want)
        failures += not ok
        where = "GPU" if gpu else "CPU host path"
        log(f"{name}: {'BIT-EXACT' if ok else 'MISMATCH'} on {n} inputs ({where}; raw and float API); "
            f"compile {t1 - t0:.1f} s, build {t2 - t1:.1f} s")
        if not ok:
            bad = np.nonzero((raw != want).any(axis=1) | (via_float != want).any(axis=1))[0]
            log(f"  first mismatching samples: {bad[:8].tolist()}")
        if gpu:
            res = subprocess.run([str(program), "bench", *map(str, batches)], capture_output=True, text=True)
            if res.returncode != 0:
                log(f"  benchmark failed: {res.stderr.strip()}")
                failures += 1
                continue
            ours = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
            base = torch_baseline(parse_module((folder / "model.mlir").read_text()), batches, tuple(manifest["inputs"][0]["shape"]))
            for b in batches:
                got = {r["path"]: r["samples_per_s"] for r in ours if r.get("batch") == b and "samples_per_s" in r}
                rows.append((name, b, got.get("raw"), got.get("float"), base.get(b)))
    if rows:
        log("")
        log(f"{'model':<22} {'batch':>10} {'raw codes/s':>14} {'float API/s':>14} {'torch f32/s':>14} {'float API / torch':>18}")
        for name, b, raw, flt, base in rows:
            def fmt(v):
                return f"{v:14.3e}" if v else f"{'-':>14}"

            ratio = f"{flt / base:18.2f}" if flt and base else f"{'-':>18}"
            log(f"{name:<22} {b:>10} {fmt(raw)} {fmt(flt)} {fmt(base)} {ratio}")
    log(f"{'FAILED' if failures else 'OK'}: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
