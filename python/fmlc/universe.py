"""fmlc's xDSL universe: makes fmlc's dialects and passes known to xdsl-opt and fmlc-opt."""
from xdsl.universe import Universe

FMLC_UNIVERSE = Universe(all_dialects={}, all_passes={})
