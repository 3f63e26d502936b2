"""Differential test of fmlc's cast (fixed -> fixed and float -> fixed) against real ap_fixed.

Every rounding mode x overflow mode x signedness, widths 1..64 with some up to 128, integer
bits negative and beyond the width, random codes plus exact ties and overflow boundaries.
Each case runs through every storage kind the emulator can use for it (float64, int64, Python
int) and through the scalar rational definition (``fixed.from_fraction``); each must give
ap_fixed's bits exactly.
"""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest

from apfixed import PRELUDE, build_and_run, c_type, chunks, from_raw, print_bits_stmt, set_bits_stmt
from fmlc import fixed
from fmlc.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat

PAIRS_PER_MODE = 10  # per (rounding, overflow, dst signedness): 560 fixed->fixed pairs
VALUES_PER_PAIR = 200  # 112,000 fixed->fixed cases
FLOAT_PAIRS_PER_MODE = 3
FLOAT_VALUES_PER_PAIR = 100  # 16,800 float->fixed cases
UNITS = 4


def random_width(rng: random.Random) -> int:
    return rng.randint(65, 128) if rng.random() < 0.06 else rng.randint(1, 64)


def random_format(rng: random.Random, signed: bool, rounding="TRN", overflow="WRAP", near: FixedFormat | None = None) -> FixedFormat:
    width = random_width(rng)
    if near is not None and rng.random() < 0.7:
        # keep the two formats close so rounding and overflow both happen often
        int_bits = near.int_bits + rng.randint(-6, 6)
    else:
        int_bits = rng.randint(-8, width + 8)
    return FixedFormat(width, int_bits, signed, rounding, overflow)


def source_codes(rng: random.Random, src: FixedFormat, dst: FixedFormat, n: int) -> list[int]:
    lo, hi = src.min_code, src.max_code
    shift = src.frac - dst.frac
    picks = {lo, hi, 0, min(hi, 1), max(lo, -1)}
    special = []
    if shift > 0:
        half = 1 << (shift - 1)
        for _ in range(n // 4):
            k = rng.randint(lo >> shift, hi >> shift)
            special += [(k << shift) + half + d for d in (-1, 0, 1)]
    bound = shift if shift > 0 else 0
    for edge in (dst.max_code, dst.min_code, -dst.max_code):
        base = edge << bound if shift >= 0 else edge >> -shift
        special += [base + d for d in (-2, -1, 0, 1, 2)]
        if shift > 0:
            special += [base + (1 << (shift - 1)) + d for d in (-1, 0, 1)]
    picks.update(c for c in special if lo <= c <= hi)
    values = sorted(picks)
    while len(values) < n:
        values.append(rng.randint(lo, hi))
    rng.shuffle(values)
    return values[:n]


def float_values(rng: random.Random, dst: FixedFormat, n: int) -> list[float]:
    lsb = 2.0 ** -dst.frac
    vals = [0.0, -0.0]
    for edge in (dst.max_code, dst.min_code, -dst.max_code):
        for d in (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0):
            vals.append((edge + d) * lsb)
    while len(vals) < n:
        r = rng.random()
        code = rng.randint(dst.min_code, dst.max_code) if dst.width < 64 else rng.randint(-(2**62), 2**62)
        if r < 0.3:
            v = (code + 0.5) * lsb  # exact ties
        elif r < 0.5:
            v = rng.uniform(-4, 4) * max(abs(dst.max_code), 1) * lsb  # overflow half the time
        elif r < 0.6:
            v = rng.uniform(-1, 1) * 2.0 ** rng.randint(-60, 80)
        else:
            v = (code + rng.random()) * lsb
        if np.isfinite(v) and (v == 0 or abs(v) > 2.0**-1000):  # ap_fixed mishandles subnormals
            vals.append(v)
    return vals[:n]


def make_cases(seed: int = 2026):
    rng = random.Random(seed)
    pairs = []
    for rounding in ROUNDING_MODES:
        for overflow in OVERFLOW_MODES:
            for dst_signed in (True, False):
                for _ in range(PAIRS_PER_MODE):
                    src = random_format(rng, rng.random() < 0.6)
                    dst = random_format(rng, dst_signed, rounding, overflow, near=src)
                    pairs.append((src, dst, source_codes(rng, src, dst, VALUES_PER_PAIR)))
    float_pairs = []
    for rounding in ROUNDING_MODES:
        for overflow in OVERFLOW_MODES:
            for dst_signed in (True, False):
                for _ in range(FLOAT_PAIRS_PER_MODE):
                    dst = random_format(rng, dst_signed, rounding, overflow)
                    float_pairs.append((dst, float_values(rng, dst, FLOAT_VALUES_PER_PAIR)))
    return pairs, float_pairs


def cast_unit(k: int, src: FixedFormat, dst: FixedFormat, codes: list[int]) -> str:
    nc = (src.width + 63) // 64
    words = ", ".join(f"{w}ULL" for c in codes for w in chunks(c, src.width))
    return (
        f"static const unsigned long long in{k}[] = {{{words}}};\n"
        f"void cast{k}() {{ for (int j = 0; j < {len(codes)}; ++j) {{ {c_type(src)} a; "
        f"{set_bits_stmt('a', src.width, f'&in{k}[j * {nc}]')} {c_type(dst)} b = a; "
        f"{print_bits_stmt('b', dst.width)} }} }}\n"
    )


def float_unit(k: int, dst: FixedFormat, values: list[float]) -> str:
    lits = ", ".join(v.hex() if v != 0 else ("-0.0" if np.signbit(v) else "0.0") for v in values)
    return (
        f"static const double fin{k}[] = {{{lits}}};\n"
        f"void fcast{k}() {{ for (int j = 0; j < {len(values)}; ++j) {{ {c_type(dst)} b = fin{k}[j]; "
        f"{print_bits_stmt('b', dst.width)} }} }}\n"
    )


@pytest.fixture(scope="module")
def reference():
    pairs, float_pairs = make_cases()
    bodies = [cast_unit(k, *p) for k, p in enumerate(pairs)] + [float_unit(k, *p) for k, p in enumerate(float_pairs)]
    units = [PRELUDE + "".join(bodies[u::UNITS]) for u in range(UNITS)]
    decls = "".join(f"void cast{k}();" for k in range(len(pairs))) + "".join(f"void fcast{k}();" for k in range(len(float_pairs)))
    calls = "".join(f"cast{k}();" for k in range(len(pairs))) + "".join(f"fcast{k}();" for k in range(len(float_pairs)))
    units.append(PRELUDE + decls + "\nint main() {" + calls + "return 0; }\n")
    lines = build_and_run(units, "cast")
    return pairs, float_pairs, lines


def kinds_for(codes: np.ndarray, width: int) -> list[str]:
    out = ["object"]
    if width <= fixed.INT_BITS:
        out.append("int")
    if width <= fixed.FLOAT_BITS:
        out.append("float")
    if width <= fixed.FLOAT32_BITS:
        out.append("float32")
    return out


def test_cast_matches_ap_fixed(reference):
    pairs, _, lines = reference
    pos = 0
    checked = 0
    mismatches = []
    for src, dst, codes in pairs:
        expect = [from_raw(int(h, 16), dst) for h in lines[pos : pos + len(codes)]]
        pos += len(codes)
        base = np.array(codes, dtype=object)
        for kind in kinds_for(base, src.width) + ["fraction"]:
            if kind == "fraction":  # the scalar definition used for constants and references
                got = [fixed.from_fraction(Fraction(c) * src.lsb, dst) for c in codes]
            else:
                got = [int(v) for v in fixed.cast(fixed.to_kind(base, kind), src.frac, dst, bits=src.width)]
            for c, g, e in zip(codes, got, expect):
                checked += 1
                if g != e and len(mismatches) < 20:
                    mismatches.append(f"{src} -> {dst} [{kind}] code {c}: fmlc {g}, ap_fixed {e}")
                elif g != e:
                    mismatches.append("...")
    assert checked >= 100_000 * 1  # at least 100k comparisons
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches[:20])


def test_from_float_matches_ap_fixed(reference):
    pairs, float_pairs, lines = reference
    pos = sum(len(p[2]) for p in pairs)
    mismatches = []
    for dst, values in float_pairs:
        expect = [from_raw(int(h, 16), dst) for h in lines[pos : pos + len(values)]]
        pos += len(values)
        got = [int(v) for v in fixed.from_float(np.array(values), dst)]
        for v, g, e in zip(values, got, expect):
            if g != e:
                mismatches.append(f"{v!r} -> {dst}: fmlc {g}, ap_fixed {e}")
    assert pos == len(lines)
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches[:20])


def test_case_count_and_coverage():
    pairs, float_pairs = make_cases()
    assert sum(len(p[2]) for p in pairs) >= 100_000
    modes = {(d.rounding, d.overflow, d.signed) for _, d, _ in pairs}
    assert len(modes) == len(ROUNDING_MODES) * len(OVERFLOW_MODES) * 2
    assert any(d.width > 64 for _, d, _ in pairs) and any(s.width > 64 for s, _, _ in pairs)
    assert any(d.int_bits < 0 for _, d, _ in pairs) and any(d.int_bits > d.width for _, d, _ in pairs)
