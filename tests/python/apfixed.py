"""Build and run small C++ programs against the real ``ap_fixed`` headers (from the hls4ml wheel).

Tests generate C++ that exercises a list of typed cases, compile it once (cached by content
hash), and compare the raw result bits with fmlc's emulator.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fmlc.fixed import FixedFormat
from fmlc.toolchain import ap_types_include, cxx

CACHE = Path(os.environ.get("FMLC_TEST_CACHE", Path(tempfile.gettempdir()) / "fmlc-test-cache"))


def c_type(fmt: FixedFormat) -> str:
    kind = "ap_fixed" if fmt.signed else "ap_ufixed"
    return f"{kind}<{fmt.width},{fmt.int_bits},AP_{fmt.rounding},AP_{fmt.overflow}>"


def chunks(code: int, width: int) -> list[int]:
    """Raw two's-complement bits of ``code`` in 64-bit chunks, least significant first."""
    raw = code & ((1 << width) - 1)
    return [(raw >> (64 * k)) & (2**64 - 1) for k in range((width + 63) // 64)]


def from_raw(raw: int, fmt: FixedFormat) -> int:
    if fmt.signed and raw >> (fmt.width - 1):
        return raw - (1 << fmt.width)
    return raw


def set_bits_stmt(var: str, width: int, words: str) -> str:
    """C++ statements setting ``var``'s raw bits from an array expression of 64-bit words."""
    n = (width + 63) // 64
    lines = [f"ap_uint<{width}> bits_ = (ap_uint<{width}>)({words})[{n - 1}];"]
    for k in range(n - 2, -1, -1):
        lines.append(f"bits_ <<= 64; bits_ |= (ap_uint<{width}>)({words})[{k}];")
    lines.append(f"{var}.range({width - 1}, 0) = bits_;")
    return " ".join(lines)


def print_bits_stmt(var: str, width: int) -> str:
    """C++ statements printing ``var``'s raw bits as one hex number (most significant first)."""
    n = (width + 63) // 64
    parts = [f"ap_uint<{width}> out_ = {var}.range({width - 1}, 0);"]
    for k in range(n - 1, -1, -1):
        parts.append(f'std::printf("%016llx", (unsigned long long)(out_ >> {64 * k}).to_uint64());')
    parts.append('std::printf("\\n");')
    return " ".join(parts)


PRELUDE = "#include <ap_fixed.h>\n#include <cstdio>\n#include <cstdint>\n"


def build_and_run(units: list[str], name: str) -> list[str]:
    """Compile C++ translation units (the last one holds ``main``) and return stdout's lines.

    Units compile in parallel; the binary is cached by content so reruns are fast.
    """
    key = hashlib.sha256("\0".join(units).encode()).hexdigest()[:16]
    folder = CACHE / f"{name}-{key}"
    exe = folder / "run"
    if not exe.exists():
        folder.mkdir(parents=True, exist_ok=True)
        include = ap_types_include()
        sources = []
        for k, text in enumerate(units):
            src = folder / f"unit{k}.cpp"
            src.write_text(text)
            sources.append(src)

        def compile_one(src: Path) -> Path:
            obj = src.with_suffix(".o")
            # NDEBUG: ap_fixed asserts on a bit read it then discards (casts shifting
            # further than the source is wide); the value is never used.
            subprocess.run(
                [cxx(), "-std=c++17", "-O1", "-DNDEBUG", "-w", f"-I{include}", "-c", str(src), "-o", str(obj)],
                check=True,
            )
            return obj

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            objects = list(pool.map(compile_one, sources))
        tmp = folder / "run.tmp"
        subprocess.run([cxx(), *map(str, objects), "-o", str(tmp)], check=True)
        tmp.rename(exe)
    result = subprocess.run([str(exe)], check=True, capture_output=True, text=True)
    return result.stdout.split()
