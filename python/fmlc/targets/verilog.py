"""The Verilog target: fully unrolled, pipelined RTL through CIRCT, simulated with Verilator or
Icarus, synthesized with Yosys.

``emit`` runs ``rtl-adder-graph`` (constant weights; skipped with programmable weights) and
``dataflow-to-hw``, exports Verilog with CIRCT (``lowering/hw_to_verilog.py``) and writes

    NAME.sv         the design: one module per layer, table modules, the top NAME
    NAME_tb.sv      a testbench reading input codes and writing output codes (hex)
    NAME.ys         a Yosys script: synth_xilinx with and without DSPs, generic synth
    NAME.hw.mlir    the hw/comb/seq IR CIRCT exported (for inspection)
    verilog.json    ports, latency, the configuration address map
    README.md       ports, the configuration port protocol, how to simulate and synthesize

``run`` builds the testbench once per design and backend in the build cache (``fmlc.cache``,
keyed by the sources and the simulator's version: the folder itself is never written) and
streams all samples through it at one sample per clock.  ``report`` summarizes the design
from ``verilog.json``; ``report(out, synth=True)`` also runs the Yosys script's three flows.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from fmlc.fixed import FixedFormat

META = "verilog.json"
CYCLE_NS = 10


def default_adders_per_stage(clock_period: float) -> int:
    """Adder levels per stage for a clock period in ns: about one carry chain and its routing per 1.25 ns."""
    return max(1, int(clock_period / 1.25))


@contextlib.contextmanager
def _gc_paused():
    """The cyclic garbage collector off while the design is built: the lowering allocates
    hundreds of thousands of objects that all stay alive until the end, and the collector's
    repeated scans of them cost about a sixth of the compile (nothing cyclic is freed early)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class VerilogTarget:
    name = "verilog"
    backends = ("verilator", "icarus")

    # -- emit ------------------------------------------------------------------------------

    def emit(self, module: ModuleOp, out: Path, options) -> None:
        from fmlc.driver import CompileError
        from fmlc.lowering.dataflow_to_hw import build_hw
        from fmlc.lowering.fxp_to_hw import LoweringError
        from fmlc.lowering.hw_builder import BuilderError
        from fmlc.lowering.hw_to_verilog import ExportError, export_design
        from fmlc.passes.adder_graph import AdderGraph
        from xdsl.utils.exceptions import PassFailedException

        budget = options.adders_per_stage
        if budget is None:
            budget = default_adders_per_stage(options.clock_period)
        if budget < 0:
            raise CompileError(f"adders_per_stage must be >= 0 (0: combinational), got {budget}")
        module = module.clone()  # the driver keeps the dataflow IR for model.mlir
        name = options.name
        try:
            with _gc_paused():
                if not options.programmable_weights:
                    AdderGraph().apply(None, module)
                design, circt_design = build_hw(module, name, budget, options.programmable_weights)
                hw_text = circt_design.print()
                verilog = export_design(circt_design)
        except (LoweringError, PassFailedException, ExportError, BuilderError) as err:
            raise CompileError(f"verilog: {err}") from None
        meta = design.to_json()
        meta["programmable_weights"] = bool(options.programmable_weights)
        meta["clock_period"] = options.clock_period
        (out / f"{name}.sv").write_text(verilog_header(meta) + verilog)
        (out / f"{name}.hw.mlir").write_text(hw_text)
        (out / f"{name}_tb.sv").write_text(testbench(meta))
        (out / f"{name}.ys").write_text(yosys_script(name))
        (out / "README.md").write_text(readme(meta))
        (out / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")

    # -- run -------------------------------------------------------------------------------

    def run(self, out: Path, codes: list[np.ndarray], backend: str, weights: dict | None = None) -> list[np.ndarray]:
        """Simulate on int64 input codes (N, *shape); ``weights`` maps (layer, "weight"|"bias")
        to new codes written through the configuration port first (programmable designs)."""
        from fmlc.driver import CompileError

        out = Path(out).resolve()
        meta = read_meta(out)
        if backend not in self.backends:
            raise CompileError(f"verilog: unknown backend '{backend}': choose one of {', '.join(self.backends)}")
        if len(codes) != len(meta["inputs"]):
            raise CompileError(f"verilog: the design takes {len(meta['inputs'])} input(s), got {len(codes)}")
        n = int(np.asarray(codes[0]).shape[0]) if codes else 0
        # a simulation starts from reset, with the compiled codes in the registers: only the
        # words that differ from them need a write (a clock each)
        writes = config_writes(meta, weights, compiled_weights(out)) if weights else []
        exe = self._build(out, meta, backend)
        with tempfile.TemporaryDirectory(prefix="fmlc-sim-") as tmp:
            tmp = Path(tmp)
            (tmp / "in.hex").write_text(_input_lines(meta, codes, n))
            args = [f"+in={tmp / 'in.hex'}", f"+out={tmp / 'out.hex'}"]
            if writes:
                aw, dw = meta["config"]["addr_width"], meta["config"]["data_width"]
                lines = [str(len(writes))] + [f"{a:0{(aw + 3) // 4}x} {d:0{(dw + 3) // 4}x}" for a, d in writes]
                (tmp / "cfg.hex").write_text("\n".join(lines) + "\n")
                args.append(f"+cfg={tmp / 'cfg.hex'}")
            cmd = ([str(exe)] if backend == "verilator" else ["vvp", "-n", str(exe)]) + args
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
            text = (tmp / "out.hex").read_text() if (tmp / "out.hex").exists() else ""
            if proc.returncode != 0 or "FMLC_ERROR" in proc.stdout:
                raise CompileError(f"verilog: {backend} simulation failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        return _parse_outputs(meta, text, n)

    def _build(self, out: Path, meta: dict, backend: str) -> Path:
        """The simulator executable for this design, from the build cache (built if missing)."""
        from fmlc.cache import cached_build, digest, file_parts, tool_version
        from fmlc.toolchain import require

        top = meta["top"]
        sources = [out / f"{top}_tb.sv", out / f"{top}.sv"]
        for src in sources:
            if not src.is_file():
                from fmlc.driver import CompileError

                raise CompileError(f"verilog: {src} is missing; recompile the folder")
        if backend == "verilator":
            require("verilator", "install Verilator 5 (`apt-get install -y verilator`)")
            product = "Vtb"
            key = digest(["verilator", tool_version("verilator"), tool_version("make"), *VERILATOR_MAKE, top, *file_parts(sources)])

            def build(work: Path) -> None:
                copies = _copy_sources(sources, work)
                _verilate(work, top, copies)
        else:
            require("iverilog", "install Icarus Verilog (`apt-get install -y iverilog`)")
            product = "tb.vvp"
            key = digest(["icarus", tool_version("iverilog"), top, *file_parts(sources)])

            def build(work: Path) -> None:
                copies = _copy_sources(sources, work)
                _check(subprocess.run(["iverilog", "-g2012", "-o", str(work / product), "-s", f"{top}_tb", *map(str, copies)], capture_output=True, text=True), "iverilog")

        return cached_build(backend, key, build, product) / product

    # -- report ----------------------------------------------------------------------------

    def report(self, out: Path, synth: bool = False) -> str:
        """The design from ``verilog.json``: latency, ports, pipeline registers per module;
        with ``synth``, Yosys synthesis (three flows; minutes on large designs)."""
        from fmlc.toolchain import require

        out = Path(out)
        meta = read_meta(out)
        top = meta["top"]
        lines = [f"fmlc verilog design '{top}'", ""]
        lines.append(f"latency: {meta['latency']} cycles (adders per stage: {meta['adders_per_stage'] or 'combinational'}), one sample per clock")
        lines.append(f"pipeline register bits: {meta['pipeline_register_bits']}")
        for p in meta["inputs"]:
            lines.append(f"input  {p['port']:<10} {p['shape']} {p['format']} ({p['width']} bits)")
        for p in meta["outputs"]:
            lines.append(f"output {p['port']:<10} {p['shape']} {p['format']} ({p['width']} bits)")
        lines.append("")
        lines += _module_table(meta)
        if not synth:
            lines.append("resources: `fmlc report DIR --synth` synthesizes with Yosys (LUT, FF, CARRY, DSP, depth; three flows)")
            return "\n".join(lines) + "\n"
        require("yosys", "install Yosys (`apt-get install -y yosys`)")
        stats = synthesize(out / f"{top}.sv", top)
        lines.append(f"{'flow':<28}{'LUT':>9}{'FF':>9}{'CARRY':>8}{'DSP':>6}{'cells':>9}{'depth':>7}{'est. ns':>9}")
        for flow, s in stats.items():
            ns = f"{s['depth_ns']:.2f}" if s.get("depth_ns") is not None else "-"
            lines.append(f"{flow:<28}{s['lut']:>9}{s['ff']:>9}{s['carry']:>8}{s['dsp']:>6}{s['cells']:>9}{s['depth']:>7}{ns:>9}")
        lines.append(
            "(depth: the longest register-to-register path. Xilinx flows: its LUT levels, and its delay estimated in "
            "fmlc.targets.rtl_depth's model of a 7-series slice; generic flow: Yosys ltp -noff, in cells)"
        )
        return "\n".join(lines) + "\n"


def _module_table(meta: dict) -> list[str]:
    """One row per layer module: the layers it holds, its pipeline register bits and stages."""
    modules = meta.get("layers") or []
    if not modules:
        return []
    rows = [("module", "layers", "register bits", "stages (first, count)")]
    for m in modules:
        stages = ", ".join(f"{a}+{b}" for a, b in (m.get("stages") or []))
        rows.append((str(m.get("module", "?")), ", ".join(m.get("layers") or []), str(m.get("register_bits", "?")), stages or "-"))
    widths = [max(len(r[k]) for r in rows) for k in range(3)]
    return ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3] for r in rows] + [""]


def read_meta(out: Path) -> dict:
    """A compiled folder's ``verilog.json``, or a CompileError saying it is missing or broken."""
    from fmlc.driver import CompileError

    path = Path(out) / META
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise CompileError(f"{out}: {META} is missing; recompile the folder") from None
    except OSError as err:
        from fmlc.errors import os_message

        raise CompileError(os_message(err, path)) from None
    except (UnicodeDecodeError, ValueError) as err:
        raise CompileError(f"{path}: not valid JSON ({err}); recompile the folder") from None
    needed = ("top", "inputs", "outputs", "latency", "adders_per_stage", "pipeline_register_bits")
    if not isinstance(meta, dict) or any(k not in meta for k in needed):
        raise CompileError(f"{path}: incomplete (needs {', '.join(needed)}); recompile the folder")
    return meta


def _copy_sources(sources: list[Path], work: Path) -> list[Path]:
    copies = []
    for src in sources:
        copies.append(work / src.name)
        shutil.copyfile(src, copies[-1])
    return copies


LINT_WAIVERS = ("DECLFILENAME", "UNUSEDSIGNAL")
"""Verilator -Wall warnings the generated file waives: every module sits in one file named after
the top; and fixed-point logic leaves bits unused (bits rounding drops, inputs that meet only
zero weights, the clock and reset of a combinational design)."""


def verilog_header(meta: dict) -> str:
    lines = [
        f"// {meta['top']}: generated by fmlc (fully unrolled, one sample per clock, latency {meta['latency']}).",
        "// Bit-exact with fmlc's emulator; see README.md for ports and usage.",
    ]
    lines += [f"/* verilator lint_off {w} */" for w in LINT_WAIVERS]
    return "\n".join(lines) + "\n"


# ============================================================================================
# Simulation files
# ============================================================================================


VERILATOR_RUNTIME = ("verilated", "verilated_timing", "verilated_threads")
VERILATOR_MAKE = ["OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0"]


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        from fmlc.driver import CompileError

        raise CompileError(f"verilog: {what} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")


def _verilate(build: Path, top: str, sources: list[Path]) -> None:
    """Verilate and compile the testbench; Verilator's own runtime objects (the same for every
    design, most of the build time) are compiled once and kept in a per-user cache."""
    _check(
        subprocess.run(
            ["verilator", "--cc", "--exe", "--main", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style",
             "--top-module", f"{top}_tb", "-Mdir", str(build), "-o", "Vtb", *map(str, sources)],
            capture_output=True, text=True,
        ),
        "verilator",
    )  # fmt: skip
    from fmlc.cache import cache_root, digest, tool_version

    cache = cache_root() / f"verilator-runtime-{digest([tool_version('verilator'), *VERILATOR_MAKE])[:16]}"
    cached = [cache / f"{n}{ext}" for n in VERILATOR_RUNTIME for ext in (".o", ".d")]
    if all(p.exists() for p in cached):
        for p in cached:
            shutil.copy(p, build / p.name)  # fresh timestamps: make sees them up to date
    jobs = str(max(1, min(8, os.cpu_count() or 1)))
    _check(subprocess.run(["make", "-C", str(build), "-f", f"V{top}_tb.mk", "-j", jobs, *VERILATOR_MAKE], capture_output=True, text=True), "make (Verilator)")
    if not all(p.exists() for p in cached):
        try:
            tmp = Path(tempfile.mkdtemp(prefix=".fmlc-verilator-", dir=_mkdirs(cache.parent)))
            for p in cached:
                shutil.copy(build / p.name, tmp / p.name)
            tmp.rename(cache)
        except OSError:
            pass  # another build filled the cache first, or it is not writable: no matter


def _mkdirs(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pack(values: np.ndarray, fmt: FixedFormat) -> list[int]:
    """Per sample, the port's codes packed row-major (element i at bits i*W)."""
    w = fmt.width
    mask = (1 << w) - 1
    flat = values.reshape(values.shape[0], -1)
    out = []
    for row in flat:
        word = 0
        for k, c in enumerate(row.tolist()):
            word |= (int(c) & mask) << (k * w)
        out.append(word)
    return out


def _input_lines(meta: dict, codes: list[np.ndarray], n: int) -> str:
    ports = meta["inputs"]
    words = []
    for p, c in zip(ports, codes):
        c = np.asarray(c)
        if c.shape != (n, *p["shape"]):
            from fmlc.driver import CompileError

            raise CompileError(f"verilog: input {p['port']} must be shaped (N, {', '.join(map(str, p['shape']))}), got {c.shape}")
        fmt = FixedFormat.parse(p["format"])
        if c.size and (c.min() < fmt.min_code or c.max() > fmt.max_code):
            from fmlc.driver import CompileError

            raise CompileError(f"verilog: input {p['port']} holds codes outside {fmt}")
        words.append(_pack(c, fmt))
    digits = [(p["width"] + 3) // 4 for p in ports]
    lines = [str(n)]
    for k in range(n):
        lines.append(" ".join(f"{w[k]:0{d}x}" for w, d in zip(words, digits)))
    return "\n".join(lines) + "\n"


def _parse_outputs(meta: dict, text: str, n: int) -> list[np.ndarray]:
    from fmlc.driver import CompileError

    rows = [line.split() for line in text.splitlines() if line.strip()]
    if len(rows) != n:
        raise CompileError(f"verilog: the simulation returned {len(rows)} samples, expected {n}")
    outs = []
    for k, p in enumerate(meta["outputs"]):
        fmt = FixedFormat.parse(p["format"])
        w, count = fmt.width, int(np.prod(p["shape"])) if p["shape"] else 1
        mask = (1 << w) - 1
        arr = np.empty((n, count), dtype=np.int64 if w <= 63 else object)
        for i, row in enumerate(rows):
            if "x" in row[k].lower() or "z" in row[k].lower():
                raise CompileError(f"verilog: output {p['port']} of sample {i} holds unknown bits ({row[k]})")
            word = int(row[k], 16)
            for j in range(count):
                c = (word >> (j * w)) & mask
                if fmt.signed and c >> (w - 1):
                    c -= 1 << w
                arr[i, j] = c
        outs.append(arr.reshape((n, *p["shape"])))
    return outs


def compiled_weights(out: Path) -> dict[tuple[str, str], np.ndarray]:
    """The codes a compiled folder's weight registers reset to (from its ``model.mlir``)."""
    from fmlc.ir import parse_module

    path = Path(out) / "model.mlir"
    return weights_of(parse_module(path.read_text())) if path.exists() else {}


def config_writes(meta: dict, weights: dict, compiled: dict | None = None) -> list[tuple[int, int]]:
    """(address, data) writes loading ``weights[(layer, role)]`` through the configuration port;
    words equal to ``compiled`` (the codes the registers reset to), where given, are skipped."""
    from fmlc.driver import CompileError

    cfg = meta.get("config")
    if not cfg:
        raise CompileError("verilog: this design has fixed weights: compile with programmable_weights to load new ones")
    entries = {(e["layer"], e["role"]): e for e in cfg["entries"]}
    writes = []
    for key, codes in weights.items():
        if key not in entries:
            raise CompileError(f"verilog: no programmable {key[1]} for layer '{key[0]}'; the design has {sorted(entries)}")
        e = entries[key]
        codes = np.asarray(codes).reshape(-1)
        fmt = FixedFormat.parse(e["format"])
        if codes.size != e["count"]:
            raise CompileError(f"verilog: {key[0]} {key[1]} needs {e['count']} codes (shape {e['shape']}), got {codes.size}")
        if codes.min() < fmt.min_code or codes.max() > fmt.max_code:
            raise CompileError(f"verilog: {key[0]} {key[1]} codes must lie in {fmt}")
        mask = (1 << fmt.width) - 1
        old = np.asarray((compiled or {}).get(key, np.zeros(0))).reshape(-1)
        keep = codes != old if old.shape == codes.shape else np.ones(codes.shape, dtype=bool)
        writes += [(e["base"] + int(k), int(codes[k]) & mask) for k in np.flatnonzero(keep)]
    return writes


def weights_of(module: ModuleOp) -> dict[tuple[str, str], np.ndarray]:
    """The dense/conv weights and biases of a dataflow module, keyed like the address map."""
    from fmlc.dialects import dataflow, fxp

    found = {}
    for node in module.walk():
        if not isinstance(node, dataflow.NodeOp):
            continue
        for op in node.block.ops:
            if isinstance(op, fxp.DenseOp | fxp.ConvOp):
                for role, v in (("weight", op.weight), ("bias", op.bias)):
                    if v is not None and isinstance(v.owner, fxp.ConstantOp):
                        found[(node.layer.data, role)] = v.owner.codes()
    return found


def testbench(meta: dict) -> str:
    top = meta["top"]
    ins, outs = meta["inputs"], meta["outputs"]
    cfg = meta.get("config")
    lines = [
        f"// Testbench for {top}, generated by fmlc: streams input codes, one sample per clock,",
        "// and writes the output codes of every valid cycle.",
        "//   +in=FILE   first line N, then N lines of input codes (hex, one word per input port)",
        "//   +out=FILE  N lines of output codes (hex, one word per output port)",
    ]
    if cfg:
        lines.append("//   +cfg=FILE  (optional) first line M, then M lines 'address data' (hex) written through the configuration port after reset")
    lines += [
        "`timescale 1ns/1ps",
        f"module {top}_tb;",
        "  reg clk = 1'b0;",
        "  reg rst = 1'b1;",
        "  reg in_valid = 1'b0;",
        "  wire out_valid;",
    ]
    for p in ins:
        lines.append(f"  reg  [{p['width'] - 1}:0] {p['port']} = '0, {p['port']}_next;")
    for p in outs:
        lines.append(f"  wire [{p['width'] - 1}:0] {p['port']};")
    conns = [".clk(clk)", ".rst(rst)", ".in_valid(in_valid)"]
    if cfg:
        aw, dw = cfg["addr_width"], cfg["data_width"]
        lines += [
            f"  reg  [{aw - 1}:0] cfg_addr = '0, cfg_addr_next;",
            f"  reg  [{dw - 1}:0] cfg_data = '0, cfg_data_next;",
            "  reg  cfg_we = 1'b0;",
            "  integer fcfg, m, j;",
        ]
        conns += [".cfg_addr(cfg_addr)", ".cfg_data(cfg_data)", ".cfg_we(cfg_we)"]
    conns += [f".{p['port']}({p['port']})" for p in ins] + [".out_valid(out_valid)"] + [f".{p['port']}({p['port']})" for p in outs]
    in_fmt = " ".join("%h" for _ in ins)
    out_fmt = " ".join("%h" for _ in outs)
    lines += [
        "  integer fin, fout, n, k, got, r, cycles;",
        "  string in_path, out_path, cfg_path;",
        f"  {top} dut({', '.join(conns)});",
        f"  always #{CYCLE_NS // 2} clk = ~clk;",
        "  initial begin",
        '    if (!$value$plusargs("in=%s", in_path)) in_path = "in.hex";',
        '    if (!$value$plusargs("out=%s", out_path)) out_path = "out.hex";',
        '    fin = $fopen(in_path, "r");',
        '    fout = $fopen(out_path, "w");',
        '    if (fin == 0 || fout == 0) begin $display("FMLC_ERROR: cannot open %s or %s", in_path, out_path); $finish; end',
        '    r = $fscanf(fin, "%d\\n", n);',
        "    repeat (2) @(negedge clk);",
        "    rst = 1'b0;",
    ]
    if cfg:
        lines += [
            '    if ($value$plusargs("cfg=%s", cfg_path)) begin',
            '      fcfg = $fopen(cfg_path, "r");',
            '      if (fcfg == 0) begin $display("FMLC_ERROR: cannot open %s", cfg_path); $finish; end',
            '      r = $fscanf(fcfg, "%d\\n", m);',
            "      for (j = 0; j < m; j = j + 1) begin",
            '        r = $fscanf(fcfg, "%h %h\\n", cfg_addr_next, cfg_data_next);',
            "        cfg_addr = cfg_addr_next;",
            "        cfg_data = cfg_data_next;",
            "        cfg_we = 1'b1;",
            "        @(negedge clk);",
            "      end",
            "      cfg_we = 1'b0;",
            "      $fclose(fcfg);",
            "    end",
        ]
    read_args = ", ".join(f"{p['port']}_next" for p in ins)
    lines += [
        "    k = 0; got = 0; cycles = 0;",
        "    // all activity at falling edges: outputs settled, inputs applied for the next rising edge",
        "    while (got < n) begin",
        "      @(negedge clk);",
        "      cycles = cycles + 1;",
        f"      if (cycles > n + {meta['latency']} + 16) begin $display(\"FMLC_ERROR: out_valid missing after %0d cycles\", cycles); $finish; end",
        f'      if (out_valid) begin $fwrite(fout, "{out_fmt}\\n", {", ".join(p["port"] for p in outs)}); got = got + 1; end',
        "      if (k < n) begin",
        f'        r = $fscanf(fin, "{in_fmt}\\n", {read_args});',
    ]
    lines += [f"        {p['port']} = {p['port']}_next;" for p in ins]
    lines += [
        "        in_valid = 1'b1;",
        "        k = k + 1;",
        "      end else in_valid = 1'b0;",
        "    end",
        "    $fclose(fout);",
        "    $finish;",
        "  end",
        "endmodule",
        "",
    ]
    return "\n".join(lines)


# ============================================================================================
# Synthesis
# ============================================================================================


def yosys_script(top: str) -> str:
    return f"""# Yosys script for {top}, generated by fmlc: `yosys -s {top}.ys`
read_verilog -sv {top}.sv
hierarchy -top {top}
design -save rtl
tee -q -o synth_xilinx.log log -stdout
synth_xilinx -flatten -top {top}
tee -o stat_xilinx.txt stat
write_json netlist_xilinx.json
design -load rtl
synth_xilinx -flatten -nodsp -top {top}
tee -o stat_xilinx_nodsp.txt stat
write_json netlist_xilinx_nodsp.json
design -load rtl
synth -flatten -top {top}
tee -o stat_generic.txt stat
tee -o ltp_generic.txt ltp -noff
"""


FLOWS = {
    "synth_xilinx -flatten": ("stat_xilinx.txt", "netlist_xilinx.json"),
    "synth_xilinx -flatten -nodsp": ("stat_xilinx_nodsp.txt", "netlist_xilinx_nodsp.json"),
    "synth -flatten (generic)": ("stat_generic.txt", "ltp_generic.txt"),
}
"""Per flow: the ``stat`` file and where its depth comes from.  After ``synth_xilinx`` that is
the mapped netlist (``write_json``), read by ``rtl_depth`` (Yosys's ``ltp -noff`` does not cut
paths at Xilinx flip-flops, so it would give a pipelined design's whole chain); after generic
``synth``, ``ltp -noff``, which knows Yosys's own flip-flop cells."""


def synthesize(source: Path, top: str, flows: tuple[str, ...] | None = None, script: str | None = None) -> dict[str, dict]:
    """Run Yosys on ``source`` and return per flow: LUTs, FFs, CARRY, DSPs, cells, depth."""
    from fmlc.driver import CompileError

    with tempfile.TemporaryDirectory(prefix="fmlc-yosys-") as tmp:
        tmp = Path(tmp)
        shutil.copy(source, tmp / f"{top}.sv")
        text = script or yosys_script(top)
        (tmp / "run.ys").write_text(text)
        proc = subprocess.run(["yosys", "-q", "-s", "run.ys"], capture_output=True, text=True, cwd=tmp)
        if proc.returncode != 0:
            raise CompileError(f"verilog: yosys failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        stats = {}
        for flow, (stat_file, depth_file) in FLOWS.items():
            if flows is not None and flow not in flows:
                continue
            if not (tmp / stat_file).exists():
                continue
            depth_path = tmp / depth_file
            if depth_file.endswith(".json"):
                stats[flow] = parse_stat((tmp / stat_file).read_text())
                if depth_path.exists():
                    stats[flow].update(_stage_depth(depth_path, top))
            else:
                stats[flow] = parse_stat((tmp / stat_file).read_text(), depth_path.read_text() if depth_path.exists() else "")
        return stats


def _stage_depth(netlist: Path, top: str) -> dict:
    """The worst register-to-register path of a mapped netlist: LUT levels (``depth``), its
    estimated delay and its CARRY4 cells (``fmlc.targets.rtl_depth``'s delay model)."""
    from fmlc.targets.rtl_depth import depth_of_netlist

    d = depth_of_netlist(json.loads(netlist.read_text()), top)
    return {"depth": d.luts, "depth_ns": round(d.delay_ns, 3), "depth_carry4": d.carries}


def parse_stat(stat: str, ltp: str = "") -> dict:
    """Cell counts of a Yosys ``stat`` (the top's flattened totals) and the ``ltp`` length."""
    cells: dict[str, int] = {}
    total = 0
    for line in stat.splitlines():
        m = re.match(r"\s+Number of cells:\s+(\d+)", line)
        if m:
            total = int(m.group(1))
            cells = {}
            continue
        m = re.match(r"\s+(\$?[A-Za-z_][\w$]*)\s+(\d+)\s*$", line)
        if m:
            cells[m.group(1)] = int(m.group(2))
    lut = sum(v for k, v in cells.items() if re.fullmatch(r"LUT\d", k))
    ff = sum(v for k, v in cells.items() if re.fullmatch(r"FD[A-Z]*", k) or k.startswith("$_DFF") or k.startswith("$_SDFF") or k.startswith("$_DFFE"))
    carry = sum(v for k, v in cells.items() if k.startswith("CARRY"))
    dsp = sum(v for k, v in cells.items() if k.startswith("DSP"))
    depth = 0
    m = re.search(r"length=(\d+)", ltp)
    if m:
        depth = int(m.group(1))
    return {"lut": lut, "ff": ff, "carry": carry, "dsp": dsp, "cells": total, "depth": depth, "by_type": cells}


# ============================================================================================
# README
# ============================================================================================


def readme(meta: dict) -> str:
    top = meta["top"]
    lat = meta["latency"]
    budget = meta["adders_per_stage"]
    rows = []
    rows.append("| `clk` | in | 1 | clock (rising edge) |")
    rows.append("| `rst` | in | 1 | synchronous reset, active high: clears `out_valid`'s pipeline" + (" and reloads the compiled weights" if meta.get("config") else "") + " |")
    rows.append("| `in_valid` | in | 1 | the inputs hold a sample this cycle |")
    for p in meta["inputs"]:
        rows.append(f"| `{p['port']}` | in | {p['width']} | {p['shape']} codes of `{p['format']}`, element i in bits [i*{FixedFormat.parse(p['format']).width}, (i+1)*{FixedFormat.parse(p['format']).width}) |")
    cfg = meta.get("config")
    if cfg:
        rows.append(f"| `cfg_addr` | in | {cfg['addr_width']} | configuration address |")
        rows.append(f"| `cfg_data` | in | {cfg['data_width']} | configuration data (a code in its low bits) |")
        rows.append("| `cfg_we` | in | 1 | write `cfg_data` to `cfg_addr` at this rising edge |")
    rows.append(f"| `out_valid` | out | 1 | `in_valid` delayed by the latency ({lat} cycles) |")
    for p in meta["outputs"]:
        rows.append(f"| `{p['port']}` | out | {p['width']} | {p['shape']} codes of `{p['format']}`, packed like the inputs |")
    text = f"""# {top}: Verilog generated by fmlc

Fully unrolled and pipelined: one sample per clock, latency **{lat}** cycle(s)
({"combinational" if not budget else f"at most {budget} adder levels between registers"}).
Bit-exact with fmlc's emulator (`docs/semantics.md`); inputs are the codes of the quantized
inputs (the host quantizes), outputs are codes (value = code * 2^-F, F = W - I of the format).

## Ports of `{top}`

| port | dir | bits | meaning |
|---|---|---|---|
""" + "\n".join(rows) + "\n"
    if cfg:
        text += f"""
## Configuration port (programmable weights)

Every weight and bias of the dense/convolution layers is held in registers, reset to the
compiled value by `rst`. To load a new model of the same formats, hold `cfg_we` high with an
address and data for one clock per word: at the rising edge the word at `cfg_addr` takes the
low bits of `cfg_data` (two's complement codes of the entry's format; an unsigned format
reads them unsigned). Write while no sample is in flight: outputs are those of the new
weights for samples entering after the last write. Each tensor starts at a multiple of its
register bank's size (a power of two), so there may be gaps between tensors; addresses not
listed are ignored.

| layer | tensor | first address | words | shape | format |
|---|---|---|---|---|---|
""" + "\n".join(f"| {e['layer']} | {e['role']} | {e['base']} (0x{e['base']:x}) | {e['count']} | {e['shape']} | `{e['format']}` |" for e in cfg["entries"]) + """

Within a tensor, words follow the row-major order of its shape (dense weights are
[inputs, outputs]; convolution weights [*kernel, channels/groups, filters]).
"""
    text += f"""
## Simulate

The testbench `{top}_tb.sv` reads `+in=FILE` (first line N, then N lines with one hex word
per input port), streams one sample per clock and writes `+out=FILE` (N lines, one hex word
per output port){"; `+cfg=FILE` (first line M, then M lines `address data` in hex) is written through the configuration port after reset" if cfg else ""}.

    verilator --binary --timing --top-module {top}_tb {top}_tb.sv {top}.sv -o Vtb && obj_dir/Vtb +in=in.hex +out=out.hex
    iverilog -g2012 -s {top}_tb -o tb.vvp {top}_tb.sv {top}.sv && vvp -n tb.vvp +in=in.hex +out=out.hex

or from Python / the command line: `fmlc run DIR --input X.npy --output Y.npy --backend verilator|icarus`.

## Synthesize

    yosys -s {top}.ys      # synth_xilinx with and without DSPs, and generic synth; stats in stat_*.txt

or `fmlc report DIR`.
"""
    return text
