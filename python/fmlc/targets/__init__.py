"""Compilation targets: the glue between the driver and each door out of fmlc.

A target is a class with:

- ``name``: "hls", "verilog" or "cuda";
- ``backends``: the names ``fmlc run DIR --backend`` accepts for it, the default first;
- ``emit(module, out, options)``: write every file of the target into the empty folder
  ``out``.  ``module`` is fxp IR after canonicalization, precision inference and
  ``fxp-to-dataflow`` (one ``dataflow.node`` a layer; ``fxp.quantize`` ops at the boundary
  stay outside nodes).  Lowering and emission live in ``fmlc.lowering`` (one conversion a
  file); the target only orchestrates.
- ``run(out, codes, backend) -> list[np.ndarray]``: run the compiled folder on int64 input
  codes shaped (N, *input_shape) (already quantized) and return int64 output codes.
- ``report(out) -> str``: the human-readable report ``fmlc report DIR`` prints.

Targets are imported on first use (see ``fmlc.driver.TARGETS``).
"""
