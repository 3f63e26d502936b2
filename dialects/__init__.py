"""fmlc's dialects: ``fxp`` (fixed-point semantics), ``dataflow`` (architecture), and the target dialects."""

from fmlc.dialects.cuda import CUDA
from fmlc.dialects.dataflow import DATAFLOW
from fmlc.dialects.fxp import FXP
from fmlc.dialects.hls import HLS
from fmlc.dialects.rtl import RTL

ALL_DIALECTS = [FXP, DATAFLOW, CUDA, RTL, HLS]
