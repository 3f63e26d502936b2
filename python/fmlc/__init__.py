"""fmlc: an MLIR-based compiler for fixed-point machine-learning inference.

ONNX/QONNX models become ``fxp`` IR (fixed-point semantics, one definition of every bit),
go through a pass pipeline, and leave as HLS C++, Verilog or CUDA that compute the same bits
as the reference emulator.
"""

__version__ = "0.1.0"
