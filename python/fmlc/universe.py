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
