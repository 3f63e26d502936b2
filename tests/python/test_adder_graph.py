"""The subexpression search of rtl-adder-graph: the shared graph computes the matrix exactly,
and the compiled search (adder_graph_search.c) builds the same graph as the Python one."""

from __future__ import annotations

import numpy as np
import pytest

from fmlc.passes.adder_graph import Cmvm, native_search


def _random_matrix(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]]]:
    k, m = int(rng.integers(2, 40)), int(rng.integers(1, 40))
    bits = int(rng.integers(2, 9))
    w = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (k, m))
    w[rng.random((k, m)) < 0.2] = 0
    ranges = [(-128, 127) if rng.random() < 0.5 else (0, 255)] * k
    ranges[0] = (0, 0)  # an input that is always zero
    ranges[-1] = (3, 3)  # and one that is constant
    return w, ranges


def _expand(cmvm: Cmvm, m: int) -> dict[int, int]:
    """Output m as a linear form of the inputs (coefficients of the weight codes)."""
    total: dict[int, int] = {}
    for (n, s), g in cmvm.outputs[m].items():
        for k, c in cmvm.nodes[n].form.items():
            total[k] = total.get(k, 0) + g * (c << s)
    return {k: c for k, c in total.items() if c}


def _search(w, ranges, native: bool, max_pairs: int) -> Cmvm:
    cmvm = Cmvm(w, ranges)
    cmvm.share(max_pairs, native)
    return cmvm


@pytest.mark.parametrize("seed", range(40))
def test_shared_graph_is_the_matrix(seed):
    w, ranges = _random_matrix(np.random.default_rng(seed))
    cmvm = _search(w, ranges, native=False, max_pairs=400_000 if seed % 3 else 200)
    assert cmvm.adders() <= sum(len(c) - 1 for c in Cmvm(w, ranges).outputs if c)
    for m in range(w.shape[1]):
        want = {k: int(w[k, m]) for k in range(w.shape[0]) if w[k, m] and ranges[k] != (0, 0)}
        assert _expand(cmvm, m) == want


@pytest.mark.skipif(native_search() is None, reason="no C compiler here: the compiled search is not built")
@pytest.mark.parametrize("seed", range(40))
def test_compiled_search_builds_the_same_graph(seed):
    w, ranges = _random_matrix(np.random.default_rng(100 + seed))
    max_pairs = 400_000 if seed % 3 else 200  # also in blocks of inputs
    py, c = _search(w, ranges, False, max_pairs), _search(w, ranges, True, max_pairs)

    def shape(cmvm):
        return [(n.a, n.b, n.d, n.sign, n.lo, n.hi, n.depth, n.form) for n in cmvm.nodes], cmvm.outputs

    assert shape(py) == shape(c)


def _repeated_patterns(cmvm: Cmvm) -> list[tuple]:
    """Patterns a + sign * (b << d) that still occur at two places without sharing a term (what
    the greedy search promises to leave none of), computed here from the final columns alone."""
    places: dict[tuple, list[tuple]] = {}
    for m, col in enumerate(cmvm.outputs):
        terms = sorted(col, key=lambda t: (t[1], t[0]))  # by shift, then node: the search's order
        for i, (na, sa) in enumerate(terms):
            for nb, sb in terms[i + 1 :]:
                key = (na, nb, sb - sa, col[(na, sa)] * col[(nb, sb)])
                places.setdefault(key, []).append({(m, na, sa), (m, nb, sb)})
    repeated = []
    for key, where in places.items():
        used: set = set()
        count = 0
        for terms in where:
            if not terms & used:
                used |= terms
                count += 1
        if count >= 2:
            repeated.append(key)
    return repeated


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize("seed", range(20))
def test_no_pattern_left_twice(seed, native):
    """Patterns that pair a new node with a term of a larger shift and a smaller node number are
    found too (their shift difference was once computed with a borrow, and such patterns were
    never extracted: 2.7 % more adders on a random 64 x 64 layer)."""
    if native and native_search() is None:
        pytest.skip("no C compiler here: the compiled search is not built")
    w, ranges = _random_matrix(np.random.default_rng(300 + seed))
    cmvm = _search(w, ranges, native, 400_000)
    assert _repeated_patterns(cmvm) == []


def test_no_pattern_left_twice_small_case():
    """3 x 2 weights in CSD-like digits: after x0 - x2 is shared, n - (x1 << 3) occurs in both outputs."""
    cmvm = _search(np.array([[3, 5], [7, -6], [1, 11]]), [(-512, 511)] * 3, False, 400_000)
    assert _repeated_patterns(cmvm) == []


@pytest.mark.parametrize("native", [False, True])
def test_patterns_saving_more_adder_bits_go_first(native):
    """x0 + x1 (8 common bits) in two outputs saves more LUTs than x2 + (x3 << 7) (1 common
    bit) in three: it becomes the first node although the other pattern is more frequent."""
    if native and native_search() is None:
        pytest.skip("no C compiler here: the compiled search is not built")
    w = np.array([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 1, 1], [0, 0, 128, 128, 128]])
    cmvm = _search(w, [(-128, 127)] * 4, native, 400_000)
    first = cmvm.nodes[4]
    assert (first.a, first.b, first.d, first.sign) == (0, 1, 0, 1)
    second = cmvm.nodes[5]
    assert (second.a, second.b, second.d, second.sign) == (2, 3, 7, 1)
