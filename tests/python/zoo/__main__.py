"""``python -m zoo DEST [NAME...]``: write the zoo's models (all, or the named ones) into DEST."""

from __future__ import annotations

import argparse
import sys

from . import BUILDERS, EXTRAS, REPLICAS, build_all


def main(argv: list[str] | None = None, prog: str = "python -m zoo") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Write fmlc's test-model zoo (ONNX files built with onnx.helper).")
    parser.add_argument("dest", help="folder to write <name>.onnx into (created if needed)")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"models to write (default: all). Replicas: {', '.join(REPLICAS)}. Extras: {', '.join(EXTRAS)}")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BUILDERS]
    if unknown:
        parser.error(f"unknown model(s): {', '.join(unknown)}")
    for path in build_all(args.dest, args.names or None):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
