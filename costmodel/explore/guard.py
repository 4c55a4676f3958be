"""Overflow guard: which rows the int64 evaluation computes exactly.

The rule, per row: run the design's printed cost and constraint code (the very text the int64
evaluator runs) once more on float64 arrays that record the largest magnitude of every value
any operation produces (arguments included). Below 2**53, float64 holds every integer, so on
the integer parts that float64 run is exact and its peak is the true peak of the int64 run;
the parts with real fields are float64 in both runs, operation for operation. A row whose peak
stays below 2**53 therefore never left the range where int64 is exact (|x| < 2**63). Any other
row (a larger peak, inf, NaN) is sent to the exact path, Python ints through the real spec.

The recorder is per call (it travels with the arrays), so concurrent sweeps share nothing
mutable; the compiled code is cached per class and structure and is itself stateless.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from ..core import compile as _compile
from ..core.spec import Spec
from ..core.symbols import sym

SAFE = 2.0**53
"""A row whose float64 peak reaches this goes to the exact path (see the module docstring)."""


class _Peak:
    """Per-call holder: the running per-row maximum of |every value produced|."""

    def __init__(self, n: int) -> None:
        self.value = np.zeros(n)

    def wrap(self, result):
        """Record ``result`` and return it as a traced array (bools are recorded as nothing)."""
        if isinstance(result, tuple):
            return tuple(self.wrap(r) for r in result)
        arr = np.asarray(result)
        if arr.dtype.kind in "iuf":
            with np.errstate(invalid="ignore"):
                mag = np.abs(arr.astype(float, copy=False))
            # NaN must stick: np.fmax would drop it, np.maximum propagates it
            np.maximum(self.value, np.broadcast_to(mag, self.value.shape) if mag.ndim else mag,
                       out=self.value)
        out = arr.view(_Traced)
        out.peak = self
        return out


class _Traced(np.ndarray):
    """A float64 array whose every ufunc result is recorded in its ``peak`` holder."""

    peak: _Peak | None = None

    def __array_finalize__(self, obj) -> None:
        self.peak = getattr(obj, "peak", None)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = [x.view(np.ndarray) if isinstance(x, _Traced) else x for x in inputs]
        return self.peak.wrap(getattr(ufunc, method)(*plain, **kwargs))


def _plain(x):
    if isinstance(x, _Traced):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


def _holder(args) -> _Peak | None:
    for x in args:
        if isinstance(x, _Traced):
            return x.peak
        if isinstance(x, (list, tuple)):
            found = _holder(x)
            if found is not None:
                return found
    return None


class _TracedNumpy:
    """``numpy`` for the printed code: ufuncs record through the arrays themselves; other
    functions (select, broadcast_to, amax...) get plain arrays and their result is traced."""

    def __getattr__(self, name: str):
        fn = getattr(np, name)
        if isinstance(fn, np.ufunc) or not callable(fn):
            return fn
        return functools.partial(_call, fn)


def _call(fn: Callable, *args, **kwargs):
    peak = _holder(args)
    result = fn(*_plain(args), **kwargs)
    return peak.wrap(result) if peak is not None else result


def _floordiv(a, q):
    return np.floor_divide(a, q)  # a ufunc: recorded; stays float (no int64 cast here)


@functools.lru_cache(maxsize=None)
def _traced_code(cls: type[Spec], structure: tuple) -> Callable:
    """The cost and constraint formulas of one structure, printed exactly as compile_vector
    prints them, bound to the recording numpy."""
    exprs = list(cls.formulas(structure).quantities().values())
    exprs += [rule.holds for rule in cls.constraints(cls.namespace(structure))]
    symbols = [sym(nm) for nm in cls.argument_names()] + [sp.Symbol("_shape")]
    return sp.lambdify(symbols, tuple(exprs), modules=[{"_floordiv": _floordiv, "numpy": _TracedNumpy()}],
                       printer=_compile.IntNumPyPrinter, cse=_compile.integer_safe_cse, docstring_limit=0)


def exact_in_int64(cls: type[Spec], structure: tuple, argv: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Per row: True when the int64 evaluation of costs and constraints is exact."""
    peak = _Peak(n)
    args = []
    for a in argv:
        traced = peak.wrap(np.broadcast_to(np.asarray(a, dtype=float), (n,)))
        args.append(traced)
    with np.errstate(all="ignore"):
        _traced_code(cls, structure)(*args, (n,))
    return peak.value < SAFE  # NaN compares False: not exact
