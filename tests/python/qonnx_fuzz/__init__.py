"""A differential fuzzer for the QONNX front end (issue 9, item 6).

``generate.make_case(seed)`` builds a random QONNX graph shaped like the Brevitas and QKeras
(via qonnx) exports fmlc meets, with inputs that exercise its input quantizer (ties, saturation,
exact bipolar values), and a one-line description.  ``harness.check_case(case)`` runs it through
fmlc (import, resolve, emulator) and QONNX's ``execute_onnx`` and classifies the result:
``exact``, ``bounded-ok``, ``violation``, ``refused`` or ``crash``.  ``targets`` runs a case's
fmlc module through the compiled targets against the emulator.

Used by tests/python/test_qonnx_fuzz.py (a few hundred seeds; thousands with
``FMLC_SLOW_TESTS=1``) and bench/fuzz_qonnx.py (tables over thousands of seeds).
"""

from qonnx_fuzz.generate import FuzzCase, make_case
from qonnx_fuzz.harness import CaseResult, check_case, reference_outputs

__all__ = ["CaseResult", "FuzzCase", "check_case", "make_case", "reference_outputs"]
