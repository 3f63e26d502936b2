#!/usr/bin/env python3
"""Write the test-model zoo (tests/python/zoo) into a folder: ``scripts/build_zoo.py DEST [NAME...]``.

The replicas carry the names of the reference models, so ``FMLC_MODELS=DEST`` points the tests
and bench/ scripts at them where ../shared/models is absent.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

from zoo.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="scripts/build_zoo.py"))
