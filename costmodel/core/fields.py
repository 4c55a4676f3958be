"""Field declarations of a design spec: each field's kind, allowed range and role.

A spec field is declared with ``size()``, ``flag()``, ``fraction()`` or ``choice()``; its
``Range`` is the one place that checks and normalises a value (the constructor and the
vectorized sweep both call it), and ``describe()`` is what error messages print.

The rule for values (issue 14):
* integer fields take Python ints and numpy integers only (numpy integers become ints);
  floats are rejected, integral or not (``h=3.0`` is a ValueError), and so are bools;
* flags take bools (numpy bools become bools) and the ints 0 and 1;
* real fields take ints, floats, numpy numbers and Fractions (not bools), finite only;
* every size field has an upper bound, 2**31 unless the declaration says otherwise.
"""

from __future__ import annotations

import dataclasses
import fractions
import math
import numbers
from dataclasses import dataclass
from typing import Any

import sympy as sp

MAX_SIZE = 2**31
"""Default upper bound of an integer field (channels, sizes, kernels...)."""

ROLES = ("channels", "spatial", "kernel", "stride", "groups", "count", "ratio", "option", "tail", "layout",
         "bytes")
"""What a field means to the generic layers (latency sampling, report sliders), instead of its name:
channels (c_in, c_out, widths), spatial (h, w), kernel (k, d), stride, groups (divisors such as
groups or B), count (stages, heads, multipliers), ratio (real fractions), option (0/1 flags and
structural choices), tail (the bias / BN / activation switches after a conv), layout (tuple
choices), bytes (dtype width)."""

_DEFAULT_ROLE = {"int": "count", "flag": "option", "real": "ratio", "choice": "option"}


@dataclass(frozen=True)
class Range:
    """Allowed values of one field; ``normalize`` checks and converts, ``describe()`` is what
    error messages print."""

    kind: str  # "int", "flag", "real", "choice"
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    options: tuple = ()
    role: str = ""

    def __post_init__(self) -> None:
        if not self.role:
            object.__setattr__(self, "role", _DEFAULT_ROLE[self.kind])
        if self.role not in ROLES:
            raise ValueError(f"Range.role = {self.role!r} is invalid: allowed is one of {', '.join(ROLES)}")

    def describe(self) -> str:
        if self.kind == "flag":
            return "True or False"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(o) for o in self.options)
        noun = "an integer" if self.kind == "int" else "a number"
        if self.hi is None:
            return f"{noun} {'>' if self.lo_open else '>='} {_g(self.lo)}"
        if self.lo is not None and not self.lo_open and not self.hi_open:
            return f"{noun} >= {_g(self.lo)} and <= {_g(self.hi)}"
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"{noun} in {left}{_g(self.lo)}, {_g(self.hi)}{right}"

    def normalize(self, value: Any) -> Any:
        """``value`` in its canonical type (numpy scalars become Python ones), or a ValueError
        whose text is the allowed range (the caller prefixes the spec and field)."""
        out = _CONVERT[self.kind](self, value)
        if out is _REJECT or not self._in_bounds(out):
            raise ValueError(f"allowed is {self.describe()}")
        return out

    def accepts(self, value: Any) -> bool:
        try:
            self.normalize(value)
        except ValueError:
            return False
        return True

    def _in_bounds(self, value: Any) -> bool:
        if self.kind in ("flag", "choice"):
            return True
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return False
        if self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)):
            return False
        return True

    @property
    def symbolic(self) -> bool:
        return self.kind != "choice"


_REJECT = object()


def _as_int(rng: Range, value: Any) -> Any:
    if isinstance(value, (bool, float)) or not isinstance(value, numbers.Integral):
        return _REJECT  # numpy bools are not Integral; numpy integers are
    return int(value)


def _is_numpy_bool(value: Any) -> bool:
    """numpy.bool_ without importing numpy (numpy 2 names the type "bool", numpy 1 "bool_")."""
    return type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")


def _as_flag(rng: Range, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if _is_numpy_bool(value):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    return _REJECT


def _as_real(rng: Range, value: Any) -> Any:
    if isinstance(value, bool) or _is_numpy_bool(value):
        return _REJECT
    if isinstance(value, (fractions.Fraction, numbers.Integral)):
        return value if isinstance(value, fractions.Fraction) else int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else _REJECT
    return _REJECT


def _as_choice(rng: Range, value: Any) -> Any:
    try:
        return rng.options[rng.options.index(value)]
    except (ValueError, TypeError):
        return _REJECT


_CONVERT = {"int": _as_int, "flag": _as_flag, "real": _as_real, "choice": _as_choice}


def _g(bound: float) -> str:
    return f"{bound:,}" if isinstance(bound, int) and abs(bound) >= 10**6 else f"{bound:g}"


def _declare(default: Any, rng: Range, doc: str) -> Any:
    meta = {"range": rng, "doc": doc}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def size(default: Any = dataclasses.MISSING, doc: str = "", minimum: int = 1, maximum: int = MAX_SIZE,
         role: str = "count") -> Any:
    """An integer field in [minimum, maximum] (channels, kernel, stride, spatial size...)."""
    return _declare(default, Range("int", minimum, maximum, role=role), doc)


def flag(default: bool, doc: str = "", role: str = "option") -> Any:
    """A boolean option; in formulas it is a 0/1 symbol."""
    return _declare(default, Range("flag", role=role), doc)


def fraction(default: Any = dataclasses.MISSING, doc: str = "", lo: float = 0.0, hi: float = 1.0,
             lo_open: bool = False, hi_open: bool = False) -> Any:
    """A real field in an interval."""
    return _declare(default, Range("real", lo, hi, lo_open, hi_open), doc)


def choice(default: Any, options: Any, doc: str = "", role: str = "option") -> Any:
    """A structural field: one of ``options``. Formulas are built per choice."""
    return _declare(default, Range("choice", options=tuple(options), role=role), doc)


@dataclass(frozen=True)
class Constraint:
    """A cross-field rule: ``holds`` is a sympy boolean of the fields' symbols."""

    field: str
    holds: sp.Basic
    allowed: str


def check_count(name: str, value: Any, minimum: int) -> int:
    """``value`` as a Python int >= ``minimum`` (numpy integers accepted, bools and floats not),
    or a ValueError naming ``name``, the value and the range: the one check of counts, seeds and
    budgets that are arguments rather than spec fields."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} = {value!r} is invalid: allowed is an integer >= {minimum}")
    return int(value)
