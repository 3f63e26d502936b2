"""The front door: ONNX and QONNX models into fxp IR."""
