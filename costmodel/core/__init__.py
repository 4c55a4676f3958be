"""The core every design is written against: symbols and cost primitives, ops, field
declarations, results (Formulas, Costs), the Spec base class, the formula compiler and the
design registry. It imports sympy only (torch is imported by ``blocks`` and ``build()``)."""

from .fields import Constraint, Range, choice, flag, fraction, size
from .ops import Op
from .registry import designs, get_design, register_design
from .results import Costs, Formulas, MacTotals, sum_ops
from .spec import Spec

__all__ = ["Constraint", "Costs", "Formulas", "MacTotals", "Op", "Range", "Spec", "choice", "designs", "flag",
           "fraction", "get_design", "register_design", "size", "sum_ops"]
