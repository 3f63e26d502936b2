# lit configuration for fmlc's FileCheck tests: `lit tests/lit` (or `cmake --build build -t check-fmlc`).
import os

import lit.formats

config.name = "fmlc"
config.test_format = lit.formats.ShTest()
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(os.environ.get("FMLC_LIT_OUT", os.path.join(config.test_source_root, "Output")))
config.excludes = ["Inputs", "Output", "lit.cfg.py"]
# fmlc-opt, fmlc and filecheck come from the active Python environment
config.environment["PATH"] = os.environ["PATH"]
for var in ("HOME", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR"):
    if var in os.environ:
        config.environment[var] = os.environ[var]
