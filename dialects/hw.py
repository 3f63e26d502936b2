"""CIRCT's ``hw`` dialect as fmlc reads and writes it: xDSL's, with ``hw.instance`` shaped as
CIRCT (pycde 0.12.1) defines it.

xDSL 0.74 keeps an instance's ``instanceName``, ``moduleName``, ``argNames`` and
``resultNames`` as attributes and has no ``parameters``; CIRCT keeps all five as properties.
With this definition the generic form CIRCT prints parses here, and what fmlc prints parses
in CIRCT, unchanged.  The custom form is CIRCT's (and xDSL's): ``hw.instance "name"
@module(port: %v: type, ...) -> (port: type, ...)``.
"""

from __future__ import annotations

from xdsl.dialects import hw as xdsl_hw
from xdsl.dialects.builtin import ArrayAttr, FlatSymbolRefAttrConstr, StringAttr
from xdsl.ir import Dialect
from xdsl.irdl import IRDLOperation, irdl_op_definition, opt_prop_def, prop_def, var_operand_def, var_result_def
from xdsl.parser import Parser
from xdsl.traits import SymbolTable
from xdsl.utils.exceptions import VerifyException

INSTANCE_PROPERTIES = ("instanceName", "moduleName", "argNames", "resultNames", "inner_sym")


@irdl_op_definition
class InstanceOp(IRDLOperation):
    """An instance of a module: its inputs are the operands, its outputs the results."""

    name = "hw.instance"

    instance_name = prop_def(StringAttr, prop_name="instanceName")
    module_name = prop_def(FlatSymbolRefAttrConstr, prop_name="moduleName")
    inputs = var_operand_def()
    outputs = var_result_def()
    arg_names = prop_def(ArrayAttr[StringAttr], prop_name="argNames")
    result_names = prop_def(ArrayAttr[StringAttr], prop_name="resultNames")
    parameters = prop_def(ArrayAttr)
    inner_sym = opt_prop_def(xdsl_hw.InnerSymAttr)

    print = xdsl_hw.InstanceOp.print  # CIRCT's custom syntax (xDSL's printer)

    def verify_(self) -> None:
        if len(self.arg_names.data) != len(self.inputs) or len(self.result_names.data) != len(self.outputs):
            raise VerifyException("'hw.instance' needs one name per operand and one per result")
        module = SymbolTable.lookup_symbol(self, self.module_name)
        if module is None:
            raise VerifyException(f"'hw.instance' of an unknown module {self.module_name}")
        like = module.get_trait(xdsl_hw.HWModuleLike)
        if like is None:
            raise VerifyException(f"'hw.instance' of {self.module_name}, a '{module.name}', not a module")
        ports = like.get_hw_module_type(module).ports.data
        ins = [(p.port_name.data, p.type) for p in ports if p.dir.data.is_input_like()]
        outs = [(p.port_name.data, p.type) for p in ports if p.dir.data.is_output_like()]
        if [(n.data, v.type) for n, v in zip(self.arg_names, self.inputs)] != ins:
            raise VerifyException(f"'hw.instance' inputs do not match the ports of {self.module_name}")
        if [(n.data, v.type) for n, v in zip(self.result_names, self.outputs)] != outs:
            raise VerifyException(f"'hw.instance' results do not match the ports of {self.module_name}")

    @classmethod
    def parse(cls, parser: Parser) -> InstanceOp:
        op = xdsl_hw.InstanceOp.parse.__func__(cls, parser)  # xDSL's parser gives attributes: make them properties
        for key in INSTANCE_PROPERTIES:
            if key in op.attributes:
                op.properties[key] = op.attributes.pop(key)
        op.properties["parameters"] = ArrayAttr([])
        return op


HW = Dialect(
    "hw",
    [op if op is not xdsl_hw.InstanceOp else InstanceOp for op in xdsl_hw.HW.operations],
    list(xdsl_hw.HW.attributes),
)
