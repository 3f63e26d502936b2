"""fmlc's xDSL universe: the entry point that makes fmlc's dialects and passes known to
``xdsl-opt`` (and to ``fmlc-opt``, which is ``xdsl-opt`` with fmlc's name on it)."""

from xdsl.universe import Universe


def _dialect(name: str):
    def load():
        from fmlc.dialects import ALL_DIALECTS

        return next(d for d in ALL_DIALECTS if d.name == name)

    return load


def _all_passes():
    from fmlc.lowering import ALL_CONVERSIONS
    from fmlc.passes import ALL_PASSES

    return {**ALL_PASSES, **ALL_CONVERSIONS}


FMLC_UNIVERSE = Universe(
    all_dialects={name: _dialect(name) for name in ("fxp", "dataflow", "cuda", "rtl", "vhls")},
    all_passes=_all_passes(),
)


def _circt_shaped(name: str):
    def load():
        from fmlc.dialects.hw import HW
        from fmlc.dialects.seq import SEQ

        return {"hw": HW, "seq": SEQ}[name]

    return load


CIRCT_SHAPED = {name: _circt_shaped(name) for name in ("hw", "seq")}
"""Replacements for xDSL's ``hw`` and ``seq`` in the contexts fmlc reads with (``fmlc-opt``,
``fmlc.upstream``): the same dialects with ``hw.instance`` and ``seq.compreg`` shaped as CIRCT
defines them (``dialects/hw.py``, ``dialects/seq.py``), so that CIRCT's generic form parses.
Not in ``FMLC_UNIVERSE``: the multiverse refuses two dialects of one name."""


def dialect_factories() -> dict:
    """Every dialect ``fmlc-opt`` reads: the multiverse's, with ``CIRCT_SHAPED`` in place of xDSL's."""
    return {name: CIRCT_SHAPED.get(name, factory) for name, factory in Universe.get_multiverse().all_dialects.items()}
