"""fmlc's dialects: ``fxp`` (fixed-point semantics), ``dataflow`` (architecture), and the target dialects."""

from fmlc.dialects.dataflow import DATAFLOW
from fmlc.dialects.fxp import FXP

ALL_DIALECTS = [FXP, DATAFLOW]
