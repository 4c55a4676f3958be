"""Turn sympy cost expressions into fast, exact functions (lambdify with an integer printer).

A cost is an integer. sympy prints ``c_out*c_in/groups`` as a true division and ``floor(x/q)`` as
``math.floor(x/q)``; both go through floats and stop being exact past 2**53. The printers here
emit floor division instead, so the same compiled function is exact on Python ints (one query)
and on numpy int64 arrays (a vectorized sweep).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter


def _py_floordiv(a, q):
    result = a // q
    return int(result) if isinstance(result, float) else result


def _np_floordiv(a, q):
    import numpy as np  # numpy loads with the first vectorized call, not with `costmodel query`

    result = np.floor_divide(a, q)
    if np.issubdtype(np.asarray(result).dtype, np.floating):
        return np.asarray(result).astype(np.int64)
    return result


class _IntegerMixin:
    """Print every division of integer-valued terms as exact floor division."""

    def _split(self, expr: sp.Expr) -> tuple[str, str] | None:
        num, den = expr.as_numer_denom()
        if den == 1:
            return None
        return self._print(num), self._print(den)

    def _print_floor(self, expr):
        parts = self._split(expr.args[0])
        if parts is None:
            return f"_floordiv({self._print(expr.args[0])}, 1)"
        return f"_floordiv({parts[0]}, {parts[1]})"

    def _print_ceiling(self, expr):
        num, den = expr.args[0].as_numer_denom()
        return f"(-_floordiv(-({self._print(num)}), {self._print(den)}))"

    def _print_Mul(self, expr):
        num, den = expr.as_numer_denom()
        if den == 1:
            return super()._print_Mul(expr)
        return f"_floordiv({self._print(num)}, {self._print(den)})"

    def _print_Add(self, expr):
        # sympy distributes rationals over sums ((k-1)/2 -> k/2 - 1/2): recombine the terms
        # over one denominator, so that no term is divided on its own.
        num, den = expr.as_numer_denom()
        if den == 1:
            return super()._print_Add(expr)
        return f"_floordiv({self._print(sp.expand(num))}, {self._print(den)})"

    def _print_Rational(self, expr):
        if expr.q == 1:
            return str(expr.p)
        return super()._print_Rational(expr)


class IntPythonPrinter(_IntegerMixin, PythonCodePrinter):
    """Exact integer code for scalar (Python int) evaluation."""


class IntNumPyPrinter(_IntegerMixin, NumPyPrinter):
    """Exact integer code for numpy arrays (int64)."""

    def _print_Piecewise(self, expr):
        # numpy.select needs arrays of one shape; broadcast so scalar branches work too.
        conds = ", ".join(f"numpy.broadcast_to({self._print(c)}, _shape)" for _, c in expr.args)
        vals = ", ".join(f"numpy.broadcast_to({self._print(v)}, _shape)" for v, _ in expr.args)
        return f"numpy.select([{conds}], [{vals}])"


def integer_safe_cse(exprs: Sequence[sp.Expr]) -> tuple[list[tuple[sp.Symbol, sp.Expr]], list[sp.Expr]]:
    """sympy's cse, keeping only subexpressions without a denominator.

    The printers floor a quotient, so a hoisted non-integer piece such as ``k/2`` (from
    ``floor(k/2) + floor(w/2 - k/2)``, what sympy makes of a conv output size at stride 2) would
    be floored on its own and the total would be wrong (w=2, k=1 gave 2 instead of 1). Such
    pieces are put back inline, where the floor printer sees the whole quotient.
    """
    replacements, reduced = sp.cse(exprs, list=False)  # keep the tuple: f returns a tuple
    kept: list[tuple[sp.Symbol, sp.Expr]] = []
    inline: dict[sp.Symbol, sp.Expr] = {}
    for symbol, expr in replacements:
        expr = expr.xreplace(inline)
        if expr.as_numer_denom()[1] == 1:
            kept.append((symbol, expr))
        else:
            inline[symbol] = expr
    if isinstance(reduced, (list, tuple)):
        return kept, type(reduced)(sp.sympify(e).xreplace(inline) for e in reduced)
    return kept, sp.sympify(reduced).xreplace(inline)


def compile_scalar(exprs: Sequence[sp.Expr], names: Sequence[str]) -> Callable[..., tuple]:
    """A function f(*values) -> tuple of exact Python numbers, one per expression."""
    symbols = _arguments(exprs, names)
    return sp.lambdify(symbols, tuple(exprs), modules=[{"_floordiv": _py_floordiv}, "math"],
                       printer=IntPythonPrinter, cse=integer_safe_cse, docstring_limit=0)


def compile_vector(exprs: Sequence[sp.Expr], names: Sequence[str]) -> Callable[..., tuple]:
    """A function f(*arrays) -> tuple of numpy arrays (broadcast), exact in int64."""
    symbols = _arguments(exprs, names) + [sp.Symbol("_shape")]
    inner = sp.lambdify(symbols, tuple(exprs),
                        modules=[{"_floordiv": _np_floordiv}, "numpy"],
                        printer=IntNumPyPrinter, cse=integer_safe_cse, docstring_limit=0)

    import numpy as np

    def evaluate(*arrays):
        shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
        return tuple(np.broadcast_to(v, shape) for v in inner(*arrays, shape))

    return evaluate


def _arguments(exprs: Sequence[sp.Expr], names: Sequence[str]) -> list[sp.Symbol]:
    """The argument symbols, in ``names`` order; every free symbol must be one of them."""
    from .symbols import sym

    used = {str(x) for e in exprs for x in sp.sympify(e).free_symbols}
    missing = used - set(names)
    if missing:
        raise ValueError(f"expressions use symbols {sorted(missing)} that are not arguments {list(names)}")
    return [sym(nm) for nm in names]


__all__ = ["compile_scalar", "compile_vector", "IntPythonPrinter", "IntNumPyPrinter"]
