"""Constant-weight dense and conv layers become adder graphs (``rtl.adder_graph``).

A layer ``y[m] = sum_k x[k] * w[k, m] + b[m]`` with constant ``w`` and ``b`` needs no
multiplier: each weight is written in signed digits (powers of two with signs +-1: its binary
digits, or its canonical signed digits (CSD, no two adjacent) where those are fewer), so every
output is a sum of shifted inputs.  Subexpressions shared by
several outputs are computed once (distributed arithmetic): the pass repeatedly takes the
two-term pattern ``x_i +- (x_j << d)`` whose sharing saves the most adder bits (occurrences
less one, times the bits where its operands overlap, plus one), makes it a new node and
substitutes it everywhere, until no pattern occurs twice; each output then sums what is left
with a tree no deeper than the shallowest possible whose adders overlap their operands in as
few bits as it finds (a LUT per such bit), the bias last (constants cost no adder level).

Widths are exact: every node is a linear form of the inputs over the actual weights, so the
range it takes over the inputs' ranges is known exactly, and its type is the narrowest
fixed-point format holding that range.

The rewrite keeps every bit: it applies where the accumulator holds each product exactly
(``acc`` has at least the products' fractional bits, which precision inference guarantees),
so the exact sum, cast to ``acc`` (wrapping only if ``acc`` is narrower than the sum), then to
the result type, is what ``fxp.dense`` computes.  Elsewhere (products rounded to a narrower
accumulator, or weights that are not constants) the op is left for the hardware lowering's
general path.  A convolution becomes ``rtl.patches`` (its windows as rows) followed by one
adder graph; grouped convolutions use a block-diagonal matrix.
"""

from __future__ import annotations

import bisect
import ctypes
import hashlib
import heapq
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from fmlc import fixed
from fmlc.dialects import fxp, rtl
from fmlc.dialects.fxp import FixedType, shape_of
from fmlc.fixed import FixedFormat, narrowest_format

# ============================================================================================
# Canonical signed digits
# ============================================================================================


def csd(n: int) -> list[tuple[int, int]]:
    """Canonical signed digits of ``n``: ``(position, +1 or -1)`` pairs, lowest first."""
    digits = []
    pos = 0
    while n:
        if n & 1:
            d = 2 - (n & 3)  # +1 when n = 1 (mod 4), -1 when n = 3 (mod 4): no adjacent digits
            digits.append((pos, d))
            n -= d
        n >>= 1
        pos += 1
    return digits


def digits(n: int) -> list[tuple[int, int]]:
    """The signed digits a weight is built from: its binary digits (all of its sign) when they
    are no more than its canonical signed digits, else the CSD digits.  Same-sign digits keep
    the unsigned adders of the lowering free of inversions, and share as well: on the jet
    tagger 2 % fewer adder bits than CSD alone."""
    c = csd(n)
    sign = 1 if n > 0 else -1
    b = [(p, sign) for p in range(abs(n).bit_length()) if abs(n) >> p & 1]
    return b if len(b) <= len(c) else c


# ============================================================================================
# Subexpression elimination over a constant matrix (no IR here)
# ============================================================================================

NATIVE_SOURCE = Path(__file__).with_name("adder_graph_search.c")


@lru_cache(maxsize=1)
def native_search():
    """The compiled search (``adder_graph_search.c``), built with the system C compiler on
    first use into the user's cache (``~/.cache/fmlc``, one library per source version) and
    loaded with ctypes; None where there is no compiler, or with ``FMLC_NATIVE=0``.  The
    Python search gives the same graphs, in a few times the time."""
    if os.environ.get("FMLC_NATIVE") == "0" or not NATIVE_SOURCE.exists():
        return None
    source = NATIVE_SOURCE.read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fmlc"
    lib = cache / f"adder_graph_search-{hashlib.sha256(source).hexdigest()[:16]}.so"
    try:
        if not lib.exists():
            cache.mkdir(parents=True, exist_ok=True)
            compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
            if compiler is None:
                return None
            with tempfile.TemporaryDirectory(dir=cache) as tmp:
                built = Path(tmp) / lib.name
                proc = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(built), str(NATIVE_SOURCE)], capture_output=True)
                if proc.returncode != 0:
                    return None
                os.replace(built, lib)  # atomic: a concurrent build loads a whole library
        dll = ctypes.CDLL(str(lib))
    except OSError:
        return None
    i64 = np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS")
    i8 = np.ctypeslib.ndpointer(np.int8, flags="C_CONTIGUOUS")
    fn = dll.fmlc_cse_search
    fn.restype = ctypes.c_int64
    n = ctypes.c_int64
    fn.argtypes = [n, i64, i64, i8, n, n, i64, i64, i8, i64, i64, i64, i8]
    return fn


Term = tuple[int, int]  # (node, shift): the node's value times 2**shift

# Inside the search a term is packed as ``shift << _NODE_BITS | node`` (so terms order by
# shift, then node), a pattern ``a + sign * (b << d)`` (a's term ordering first) as
# ``_pack(a, b, d, sign)``, and a place (output m, shift s) as ``m << _SHIFT_BITS | s``.
_NODE_BITS = 24
_SHIFT_BITS = 12
_SHIFT_MASK = (1 << _SHIFT_BITS) - 1
_D_BITS = 10


def _pack(a: int, b: int, d: int, sign: int) -> int:
    return ((a << _NODE_BITS | b) << _D_BITS | d) << 1 | (sign > 0)


def _unpack(key: int) -> tuple[int, int, int, int]:
    sign = 1 if key & 1 else -1
    key >>= 1
    d = key & ((1 << _D_BITS) - 1)
    key >>= _D_BITS
    return key >> _NODE_BITS, key & ((1 << _NODE_BITS) - 1), d, sign


def _initial_patterns(cols: list[dict[int, int]]) -> tuple[dict[int, int], dict[int, list[int]]]:
    """Every pattern of two terms of one output: those seen once, and the places of the others.

    Vectorized: each output's pairs of terms at once, grouped by pattern with one sort.
    """
    keys, places = [], []
    for m, col in enumerate(cols):
        if len(col) < 2:
            continue
        t = np.array(sorted(col), dtype=np.int64)
        g = np.array([col[int(v)] for v in t], dtype=np.int64)
        i, j = np.triu_indices(len(t), 1)
        node = t & ((1 << _NODE_BITS) - 1)
        shift = t >> _NODE_BITS
        key = ((node[i] << _NODE_BITS | node[j]) << _D_BITS | (shift[j] - shift[i])) << 1 | (g[i] * g[j] > 0)
        keys.append(key)
        places.append((m << _SHIFT_BITS) | shift[i])
    if not keys:
        return {}, {}
    key = np.concatenate(keys)
    place = np.concatenate(places)
    order = np.argsort(key, kind="stable")
    key, place = key[order], place[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    counts = np.diff(np.r_[starts, len(key)])
    once = starts[counts == 1]
    single = dict(zip(key[once].tolist(), place[once].tolist()))
    keys_list, places_list = key.tolist(), place.tolist()  # slicing lists beats many small numpy slices
    occ = {keys_list[s]: places_list[s : s + c] for s, c in zip(starts[counts > 1].tolist(), counts[counts > 1].tolist())}
    return single, occ


@dataclass
class Node:
    """A shared value: an input (``a = -1``) or ``a + sign * (b << d)``."""

    a: int
    b: int
    d: int
    sign: int
    form: dict[int, int]  # exact value as sum_k coef * x_k (x_k codes)
    depth: int
    lo: int
    hi: int


class Cmvm:
    """Constant matrix-vector multiplication ``y = W^T x`` as shared nodes plus a term list per output.

    ``ranges[k]`` is the code range of input k; ``W`` is K x M integer codes.  After
    ``share()``, ``outputs[m]`` maps each remaining term to its sign.
    """

    def __init__(self, weights: np.ndarray, ranges: list[tuple[int, int]]):
        self.nodes: list[Node] = [Node(-1, -1, 0, 1, {k: 1} if lo != hi or lo else {}, 0, lo, hi) for k, (lo, hi) in enumerate(ranges)]
        self.outputs: list[dict[Term, int]] = []
        cache: dict[int, list[tuple[int, int]]] = {}
        for m in range(weights.shape[1]):
            col: dict[Term, int] = {}
            for k in np.flatnonzero(weights[:, m]):
                w = int(weights[k, m])
                if ranges[k] == (0, 0):
                    continue  # an input that is always zero contributes nothing
                for pos, sign in cache.setdefault(w, digits(w)):
                    col[(int(k), pos)] = sign
            self.outputs.append(col)

    # -- sharing ---------------------------------------------------------------------------

    def share(self, max_pairs: int, native: bool = True) -> None:
        """Extract two-term patterns that occur in several places, the largest saving first
        (``_rank``; by the compiled search where it is available and ``native``, else in
        Python: the same graph)."""
        pairs = sum(len(c) * (len(c) - 1) // 2 for c in self.outputs)
        k = len([n for n in self.nodes if n.a < 0])
        blocks = max(1, math.ceil(math.sqrt(pairs / max_pairs))) if pairs > max_pairs else 1
        size = math.ceil(k / blocks)
        for start in range(0, k, size):
            inputs = range(start, min(k, start + size))
            self._share_block(set(inputs), native)

    def _share_block(self, inputs: set[int], native: bool = True) -> None:
        cols: list[dict[int, int]] = [{s << _NODE_BITS | n: g for (n, s), g in c.items() if n in inputs} for c in self.outputs]
        if not (native and self._search_native(cols)):
            self._search(cols)
        node_mask = (1 << _NODE_BITS) - 1
        for m, col in enumerate(cols):
            out = self.outputs[m]
            for t in [t for t in out if t[0] in inputs]:
                del out[t]
            out.update({(t & node_mask, t >> _NODE_BITS): g for t, g in col.items()})

    def _search_native(self, cols: list[dict[int, int]]) -> bool:
        """``_search`` by the compiled search (adder_graph_search.c): the same nodes, in the
        same order.  False when it is not available or the ranges outgrow 64 bits."""
        search = native_search()
        if search is None:
            return False
        inputs = [n for n in self.nodes if n.a < 0]
        lo = np.array([n.lo for n in inputs], dtype=object)
        hi = np.array([n.hi for n in inputs], dtype=object)
        if len(inputs) and max(np.abs(lo).max(), np.abs(hi).max()) >= 1 << 60:
            return False
        counts = [len(c) for c in cols]
        total = sum(counts)
        ptr = np.zeros(len(cols) + 1, dtype=np.int64)
        ptr[1:] = np.cumsum(counts)
        terms = np.fromiter((t for c in cols for t in c), dtype=np.int64, count=total)
        signs = np.fromiter((g for c in cols for g in c.values()), dtype=np.int8, count=total)
        forms = np.array([1 if n.form else 0 for n in inputs], dtype=np.int8)
        new = np.zeros(4 * (total // 2 + 1), dtype=np.int64)
        out_ptr = np.zeros(len(cols) + 1, dtype=np.int64)
        out_terms = np.zeros(max(total, 1), dtype=np.int64)
        out_signs = np.zeros(max(total, 1), dtype=np.int8)
        made = search(
            len(inputs), lo.astype(np.int64), hi.astype(np.int64), forms, len(self.nodes),
            len(cols), ptr, terms, signs, new, out_ptr, out_terms, out_signs,
        )  # fmt: skip
        if made < 0:
            return False
        for a, b, d, sign in new[: 4 * made].reshape(-1, 4).tolist():
            self._new_node(a, b, d, sign)
        out_terms, out_signs = out_terms.tolist(), out_signs.tolist()
        for m, col in enumerate(cols):
            col.clear()
            col.update(zip(out_terms[out_ptr[m] : out_ptr[m + 1]], out_signs[out_ptr[m] : out_ptr[m + 1]]))
        return True

    def _search(self, cols: list[dict[int, int]]) -> None:
        """The greedy search over packed columns (term -> sign), replacing shared patterns by
        new nodes in place."""
        # Terms, patterns and places are packed into ints (see _NODE_BITS) so that the
        # inner loops touch no tuples.  A pattern's places go stale lazily when one of their
        # terms is consumed (terms never come back), and are pruned when the pattern is popped.
        single, occ = _initial_patterns(cols)
        # heap entries: (-saving, -count, depth, bits, pattern): the pattern that saves the
        # most adder bits first, then the most frequent, the shallowest and the narrowest
        heap = [(*self._rank(key, len(p)), key) for key, p in occ.items()]
        heapq.heapify(heap)
        node_mask = (1 << _NODE_BITS) - 1

        def link(m: int, t: int, g: int) -> None:
            col = cols[m]
            tn = t & node_mask
            for u, h in col.items():
                un = u & node_mask
                # the shift difference from the shifts themselves: (u - t) >> _NODE_BITS
                # borrows when the later term has the smaller node number
                if t < u:
                    key, s = _pack(tn, un, (u >> _NODE_BITS) - (t >> _NODE_BITS), g * h), t >> _NODE_BITS
                else:
                    key, s = _pack(un, tn, (t >> _NODE_BITS) - (u >> _NODE_BITS), g * h), u >> _NODE_BITS
                place = m << _SHIFT_BITS | s
                places = occ.get(key)
                if places is not None:
                    places.append(place)
                    heapq.heappush(heap, (*self._rank(key, len(places)), key))
                elif key in single:
                    occ[key] = [single.pop(key), place]
                    heapq.heappush(heap, (*self._rank(key, 2), key))
                else:
                    single[key] = place
            col[t] = g

        while heap:
            _, neg, *_, key = heapq.heappop(heap)
            places = occ.get(key)
            if places is None or len(places) < -neg:
                continue  # pruned since this entry was pushed (a truer one was pushed then)
            a, b, d, sign = _unpack(key)
            live = []
            for place in places:
                col, s = cols[place >> _SHIFT_BITS], place & _SHIFT_MASK
                ga, gb = col.get(s << _NODE_BITS | a), col.get((s + d) << _NODE_BITS | b)
                if ga is not None and gb is not None and ga * gb == sign:
                    live.append(place)
            occ[key] = live
            if len(live) != -neg:
                if len(live) >= 2:
                    heapq.heappush(heap, (*self._rank(key, len(live)), key))
                continue
            chosen, used = [], set()
            for place in sorted(live):
                m, s = place >> _SHIFT_BITS, place & _SHIFT_MASK
                ta, tb = (m, s << _NODE_BITS | a), (m, (s + d) << _NODE_BITS | b)
                if ta in used or tb in used:
                    continue
                chosen.append((m, s))
                used.update((ta, tb))
            if len(chosen) < 2:
                continue  # overlapping occurrences only (x + 2x + 4x): nothing to share
            node = self._new_node(a, b, d, sign)
            for m, s in chosen:
                col = cols[m]
                g = col.pop(s << _NODE_BITS | a)
                del col[(s + d) << _NODE_BITS | b]
                link(m, s << _NODE_BITS | node, g)

    def _rank(self, packed: int, count: int) -> tuple[int, int, int, int]:
        """(-saving, -count, depth, bits) of a pattern seen ``count`` times, smallest first:
        sharing it saves count - 1 adders, each a LUT per bit where its operands overlap (plus
        a carry chain, counted as one bit), so the patterns that save the most LUTs go first,
        then the most frequent, the shallowest and the narrowest."""
        a, b, d, sign = _unpack(packed)
        na, nb = self.nodes[a], self.nodes[b]
        depth, bits, overlap = _node_cost(na.depth, na.lo, na.hi, nb.depth, nb.lo, nb.hi, d, sign)
        return -(count - 1) * (overlap + 1), -count, depth, bits

    def _new_node(self, a: int, b: int, d: int, sign: int) -> int:
        na, nb = self.nodes[a], self.nodes[b]
        form = dict(na.form)
        for k, c in nb.form.items():
            form[k] = form.get(k, 0) + sign * (c << d)
        lo, hi = self.form_range(form)
        self.nodes.append(Node(a, b, d, sign, form, max(na.depth, nb.depth) + 1, lo, hi))
        return len(self.nodes) - 1

    def form_range(self, form: dict[int, int]) -> tuple[int, int]:
        """Exact range of ``sum_k coef * x_k`` (key -1: a constant) over the inputs' ranges (they vary independently)."""
        lo = hi = 0
        for k, c in form.items():
            if k < 0:  # the constant term
                lo, hi = lo + c, hi + c
                continue
            a, b = c * self.nodes[k].lo, c * self.nodes[k].hi
            lo += min(a, b)
            hi += max(a, b)
        return lo, hi

    def adders(self) -> int:
        """Adders of the shared nodes plus the output trees (one fewer than terms)."""
        shared = sum(1 for n in self.nodes if n.a >= 0)
        return shared + sum(max(len(c) - 1, 0) for c in self.outputs)


@lru_cache(maxsize=1 << 16)
def _node_cost(adepth: int, alo: int, ahi: int, bdepth: int, blo: int, bhi: int, d: int, sign: int) -> tuple[int, int, int]:
    """(depth, bits, overlap) of the node a + sign * (b << d), overlap being the bit positions
    where a and b << d both have bits, each as wide as its range (the hardware holds values in
    offset binary).  Inputs repeat their ranges: cached."""
    lo, hi = _sum_range(alo, ahi, blo << d, bhi << d, sign)
    overlap = max(0, min((ahi - alo).bit_length(), (bhi - blo).bit_length() + d) - d)
    return max(adepth, bdepth) + 1, max(abs(lo), abs(hi)).bit_length(), overlap


def _sum_range(alo: int, ahi: int, blo: int, bhi: int, sign: int) -> tuple[int, int]:
    if sign > 0:
        return alo + blo, ahi + bhi
    return alo - bhi, ahi - blo


# ============================================================================================
# IR construction: the nodes and output trees as rtl ops
# ============================================================================================


_PAIR_WINDOW = 12
"""How many of an output's least significant items the tree's next adder is chosen among
(on the jet tagger a window of 12 gives 2.6 % fewer overlapping adder bits than taking the two
least significant, 20 no more)."""


def _pair(items: list, total: int, limit: int) -> tuple[int, int]:
    """The positions (i < j) of the two items to add next (``items`` sorted on their most
    significant bit, least significant first; an item is (msb, depth, seq, lsb, ...)).

    Of the pairs among the ``_PAIR_WINDOW`` least significant items whose sum keeps the tree
    within its bound (``total`` = sum 2**depth over the items must stay <= ``limit``, Kraft),
    the one whose operands share the fewest bit positions: an adder costs a LUT per bit where
    both operands have bits, the others pass through or ride the carry chain.  Ties go to the
    later pair (the larger j, then the larger i), so a narrow item joins the widest it may
    rather than another narrow one (two narrow items make a wider one, which costs again when
    it is added).  If no pair in the window fits, the first pair of the whole list that does
    (there is always one: the two shallowest)."""
    window = items[:_PAIR_WINDOW]
    msb = [it[0] for it in window]
    weight = [1 << it[1] for it in window]
    lsb = [it[3] for it in window]
    slack = limit - total  # adding a and b changes the total by 2 max(wa, wb) - wa - wb
    best, best_cost = None, None
    # j descending, then i descending: the first pair of least cost is the latest in the
    # (j, i) order; the sorted order makes msb[i] <= msb[j], so the overlap is msb[i] - lsb
    for j in range(len(window) - 1, 0, -1):
        wj, lj = weight[j], lsb[j]
        for i in range(j - 1, -1, -1):
            wi = weight[i]
            if wi != wj and abs(wi - wj) > slack:
                continue
            li = lsb[i]
            cost = msb[i] - (li if li > lj else lj)
            if cost <= 0:
                return i, j
            if best_cost is None or cost < best_cost:
                best, best_cost = (i, j), cost
    if best is not None:
        return best
    for j in range(_PAIR_WINDOW, len(items)):
        wj = 1 << items[j][1]
        for i in range(j):
            wi = 1 << items[i][1]
            if wi == wj or abs(wi - wj) <= slack:
                return i, j
    raise AssertionError("no pair fits the depth bound")


class _GraphBuilder:
    """Writes a shared Cmvm into a block of rtl ops, with exact types.

    Values are tracked as linear forms in units of ``2**-unit`` (``unit`` = the finest grid:
    the products' or the bias's), so each op's exact range is known.
    """

    def __init__(self, cmvm: Cmvm, block: Block, x_frac: int, w_frac: int, unit: int):
        self.cmvm = cmvm
        self.block = block
        self.x_frac = x_frac
        self.w_frac = w_frac
        self.unit = unit
        self.scale = unit - x_frac - w_frac  # a digit at position 0 weighs 2**scale units
        self.values: dict[int, SSAValue] = dict(enumerate(block.args))
        self.shifted: dict[tuple[int, int], SSAValue] = {}

    def _add(self, op: Operation) -> SSAValue:
        self.block.add_op(op)
        return op.results[0]

    def _typed(self, form: dict[int, int], frac: int) -> FixedFormat:
        lo, hi = self.cmvm.form_range(form)
        div = 1 << (self.unit - frac)
        assert lo % div == 0 and hi % div == 0
        return narrowest_format(lo // div, hi // div, frac)

    def node(self, n: int) -> SSAValue:
        """The SSA value of a node (built on first use, operands first)."""
        if n in self.values:
            return self.values[n]
        node = self.cmvm.nodes[n]
        a, b = self.node(node.a), self.node(node.b)
        if node.d:
            b = self._add(_shift(b, node.d))
        fmt = narrowest_format(node.lo, node.hi, self.x_frac)
        op = _op(rtl.AddOp if node.sign > 0 else rtl.SubOp, [a, b], fmt)
        self.values[n] = self._add(op)
        return self.values[n]

    def term(self, t: Term) -> SSAValue:
        """The value of node t[0] times 2**t[1] as a weight digit (so divided by 2**w_frac)."""
        if t not in self.shifted:
            v = self.node(t[0])
            by = t[1] - self.w_frac
            self.shifted[t] = self._add(_shift(v, by)) if by else v
        return self.shifted[t]

    def output(self, terms: dict[Term, int], bias: int) -> SSAValue:
        """Sum an output's terms and bias with a tree no deeper than the shallowest possible.

        Each step adds the pair ``_pair`` picks among the least significant items: the one
        whose operands overlap in the fewest bits (the finer operand's low bits pass
        through), under the depth bound: a pair is taken only if the items left can still
        meet in a tree of that depth (Kraft's inequality, sum 2**depth <= 2**bound).  The bias
        joins last and counts no level: the hardware folds every constant into the offsets
        its adders carry anyway, so adding it early would only spend a level of the bound
        (and so perhaps a pipeline stage) on wiring."""
        items = []  # (msb weight, depth, seq, lsb weight, value, sign, form), seq unique
        for seq, ((n, s), g) in enumerate(sorted(terms.items())):
            node = self.cmvm.nodes[n]
            form = {k: c << (s + self.scale) for k, c in node.form.items()}
            v = self.term((n, s))
            f = v.type.format
            items.append((f.int_bits, node.depth, seq, -f.frac, v, g, form))
        if items:
            total = sum(1 << it[1] for it in items)
            limit = 1 << math.ceil(math.log2(total))
            items.sort()  # on (msb, depth, seq): seq is unique, values are never compared
            seq = len(items)
            while len(items) > 1:
                i, j = _pair(items, total, limit)
                second, first = items.pop(j), items.pop(i)
                depth = max(first[1], second[1]) + 1
                total += (1 << depth) - (1 << first[1]) - (1 << second[1])
                bisect.insort(items, self._sum(first, second, depth, seq))
                seq += 1
        if bias:
            code, frac = _strip(abs(bias), self.unit)
            const = self._add(rtl.ConstantOp(code, narrowest_format(code, code, frac)))
            f = const.type.format
            item = (f.int_bits, 0, 0, -f.frac, const, 1 if bias > 0 else -1, {-1: abs(bias)})
            items = [self._sum(items[0], item, items[0][1], 0)] if items else [item]
        if not items:
            return self._add(rtl.ConstantOp(0, FixedFormat(1, 1 - self.unit, False)))
        _, _, _, _, v, g, form = items[0]
        if g < 0:
            fmt = self._typed({k: -c for k, c in form.items()}, v.type.format.frac)
            v = self._add(_op(rtl.NegOp, [v], fmt))
        return v

    def _sum(self, first: tuple, second: tuple, depth: int, seq: int) -> tuple:
        """The item ``first + second`` (signs kept: a positive operand goes first, so that
        two of opposite sign make a subtraction; two negative ones a negative sum)."""
        (_, _, _, _, v1, g1, f1), (_, _, _, _, v2, g2, f2) = first, second
        if g1 < 0 and g2 > 0:
            v1, g1, f1, v2, g2, f2 = v2, g2, f2, v1, g1, f1
        sub = g1 != g2
        form = dict(f1)
        for k, c in f2.items():
            form[k] = form.get(k, 0) + (-c if sub else c)
        frac = max(v1.type.format.frac, v2.type.format.frac)
        fmt = self._typed(form, frac)
        v = self._add(_op(rtl.SubOp if sub else rtl.AddOp, [v1, v2], fmt))
        return (fmt.int_bits, depth, seq, -fmt.frac, v, g1, form)


@lru_cache(maxsize=None)
def _fixed(fmt: FixedFormat) -> FixedType:
    return FixedType.get(fmt)


def _op(cls, operands: list[SSAValue], fmt: FixedFormat) -> Operation:
    """An rtl op built without xDSL's per-op argument processing (thousands per layer; the
    module is verified as a whole)."""
    return cls.create(operands=operands, result_types=[_fixed(fmt)])


def _shift(v: SSAValue, by: int) -> Operation:
    f = v.type.format
    return rtl.ShiftOp.create(operands=[v], result_types=[_fixed(FixedFormat(f.width, f.int_bits + by, f.signed))], properties={"by": rtl.integer_attr(by)})


def _strip(code: int, frac: int) -> tuple[int, int]:
    """A constant without its trailing zero bits: fewer fractional bits, same value."""
    while code and code % 2 == 0:
        code //= 2
        frac -= 1
    return code, frac


# ============================================================================================
# The pass
# ============================================================================================


def _constant(v: SSAValue | None) -> np.ndarray | None:
    return v.owner.codes() if v is not None and isinstance(v.owner, fxp.ConstantOp) else None


def layer_matrix(op: fxp.DenseOp | fxp.ConvOp) -> np.ndarray | None:
    """The layer's weights as a K x M matrix over its (patch) rows, or None if not constant."""
    w = _constant(op.weight)
    if w is None:
        return None
    if isinstance(op, fxp.DenseOp):
        return w
    kernel, _, _, _, groups = op.window()
    cg, f = w.shape[-2], w.shape[-1]
    fg = f // groups
    taps = int(np.prod(kernel))
    w = w.reshape(taps, cg, f)
    full = np.zeros((taps, cg * groups, f), dtype=np.int64)
    for g in range(groups):  # block diagonal: filter group g reads channel group g
        full[:, g * cg : (g + 1) * cg, g * fg : (g + 1) * fg] = w[:, :, g * fg : (g + 1) * fg]
    return full.reshape(taps * cg * groups, f)


@dataclass(frozen=True)
class AdderGraph(ModulePass):
    """Rewrite constant-weight ``fxp.dense``/``fxp.conv`` into ``rtl.adder_graph`` (CSD digits, shared subexpressions)."""

    name = "rtl-adder-graph"

    share: bool = True
    """Share two-term subexpressions across outputs (false: each output sums its own digits)."""

    max_pairs: int = 2_000_000
    """Work budget of the subexpression search: larger layers are searched in blocks of inputs."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for inner in list(op.walk()):
            if isinstance(inner, fxp.DenseOp | fxp.ConvOp) and self._applies(inner):
                self._rewrite(inner)

    @staticmethod
    def _applies(op: fxp.DenseOp | fxp.ConvOp) -> bool:
        if not (fxp.is_resolved(op.input) and fxp.is_resolved(op.result) and isinstance(op.acc, FixedType)):
            return False
        if _constant(op.weight) is None or (op.bias is not None and _constant(op.bias) is None):
            return False
        fx, fw = fxp.element_format(op.input), fxp.element_format(op.weight)
        return op.acc.format.frac >= fx.frac + fw.frac  # products are exact in acc

    def _rewrite(self, op: fxp.DenseOp | fxp.ConvOp) -> None:
        fx, fw = fxp.element_format(op.input), fxp.element_format(op.weight)
        acc = op.acc.format
        x = op.input
        new_ops: list[Operation] = []
        zero_taps = False
        if isinstance(op, fxp.ConvOp):
            kernel, strides, dilations, padding, _ = op.window()
            patches = rtl.PatchesOp(x, kernel, strides, dilations, padding)
            new_ops.append(patches)
            x = patches.result
            zero_taps = any(padding)
        weights = layer_matrix(op)
        bias = np.zeros(weights.shape[1], dtype=object)
        if op.bias is not None:  # acc(b): the bias rounds and wraps into the accumulator first
            fb = fxp.element_format(op.bias)
            bias = fixed.cast(fixed.to_kind(_constant(op.bias), "object"), fb.frac, acc)
        lo, hi = fx.min_code, fx.max_code
        if zero_taps:
            lo, hi = min(lo, 0), max(hi, 0)
        cmvm = Cmvm(weights, [(lo, hi)] * weights.shape[0])
        if self.share:
            cmvm.share(self.max_pairs)
        graph = self._build(cmvm, x, fx, fw, acc.frac, bias, op)
        new_ops.append(graph)
        y = graph.result
        out = fxp.element_format(op.result)
        ag = fxp.element_format(y)
        if not acc.contains(ag):  # the exact sum leaves the accumulator: it wraps there first
            cast = fxp.CastOp(y, acc)
            new_ops.append(cast)
            y = cast.result
        if y.type != op.result.type:
            cast = fxp.CastOp(y, out)
            new_ops.append(cast)
            y = cast.result
        if "name" in op.attributes:
            new_ops[-1].attributes["name"] = op.attributes["name"]
        constants = [v.owner for v in (op.weight, op.bias) if v is not None]
        Rewriter.replace_op(op, new_ops, [y])
        for const in constants:  # the weights now live in the graph
            if not const.result.uses:
                Rewriter.erase_op(const)

    def _build(self, cmvm: Cmvm, x: SSAValue, fx: FixedFormat, fw: FixedFormat, unit: int, bias, op) -> rtl.AdderGraphOp:
        elem = x.type.get_element_type()
        block = Block(arg_types=[elem] * shape_of(x)[-1])
        builder = _GraphBuilder(cmvm, block, fx.frac, fw.frac, unit)
        outs = [builder.output(terms, int(b)) for terms, b in zip(cmvm.outputs, bias)]
        block.add_op(rtl.YieldOp(*outs))
        lo = hi = None
        for v in outs:
            f = v.type.format
            s = unit - f.frac
            a, b = f.min_code << s, f.max_code << s
            lo, hi = (a, b) if lo is None else (min(lo, a), max(hi, b))
        fmt = narrowest_format(lo, hi, unit)
        adders = sum(1 for o in block.ops if isinstance(o, rtl.AddOp | rtl.SubOp | rtl.NegOp))
        attrs = {"adders": IntegerAttr(adders, 64)}
        if "name" in op.attributes:
            attrs["layer"] = op.attributes["name"]
        return rtl.AdderGraphOp(x, fmt, len(outs), Region(block), attributes=attrs)
