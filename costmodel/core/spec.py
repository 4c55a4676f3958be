"""The Spec base class: validated hyperparameters + symbolic ops + a real torch module.

A design subclasses ``Spec`` as a frozen, keyword-only dataclass. It declares:
  * its fields with ``size()``, ``flag()``, ``fraction()``, ``choice()`` (ranges are checked
    in ``__post_init__`` and, vectorized, in sweeps),
  * ``constraints(p)``: cross-field rules as sympy booleans (e.g. groups | c_in),
  * ``ops(p)``: its ops as sympy expressions of the symbols in ``p``,
  * ``build()``: the real ``torch.nn.Module`` (torch is imported only there).
Everything else (exact numbers, formulas, validation against tracers, sweeps) is generic.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import sympy as sp

from . import compile as _compile
from .ops import FVCORE_ELEMENTWISE, MAC_KINDS, Op
from .symbols import sym

# --- field declarations ----------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """Allowed values of one field; ``describe()`` is what error messages print."""

    kind: str  # "int", "flag", "real", "choice"
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    options: tuple = ()

    def describe(self) -> str:
        if self.kind == "flag":
            return "True or False"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(o) for o in self.options)
        noun = "an integer" if self.kind == "int" else "a number"
        if self.hi is None:
            return f"{noun} {'>' if self.lo_open else '>='} {self.lo:g}"
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"{noun} in {left}{self.lo:g}, {self.hi:g}{right}"

    def accepts(self, value: Any) -> bool:
        if self.kind == "flag":
            return isinstance(value, (bool, int)) and value in (0, 1)
        if self.kind == "choice":
            return value in self.options
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not float(value).is_integer():
            return False
        if not math.isfinite(value):
            return False
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return False
        if self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)):
            return False
        return True

    @property
    def symbolic(self) -> bool:
        return self.kind != "choice"


def _declare(default: Any, rng: Range, doc: str) -> Any:
    meta = {"range": rng, "doc": doc}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def size(default: Any = dataclasses.MISSING, doc: str = "", minimum: int = 1) -> Any:
    """An integer field >= ``minimum`` (channels, kernel, stride, spatial size...)."""
    return _declare(default, Range("int", minimum), doc)


def flag(default: bool, doc: str = "") -> Any:
    """A boolean option; in formulas it is a 0/1 symbol."""
    return _declare(default, Range("flag"), doc)


def fraction(default: Any = dataclasses.MISSING, doc: str = "", lo: float = 0.0, hi: float = 1.0,
             lo_open: bool = False, hi_open: bool = False) -> Any:
    """A real field in an interval."""
    return _declare(default, Range("real", lo, hi, lo_open, hi_open), doc)


def choice(default: Any, options: Sequence[Any], doc: str = "") -> Any:
    """A structural field: one of ``options``. Formulas are built per choice."""
    return _declare(default, Range("choice", options=tuple(options)), doc)


@dataclass(frozen=True)
class Constraint:
    """A cross-field rule: ``holds`` is a sympy boolean of the fields' symbols."""

    field: str
    holds: sp.Basic
    allowed: str


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Formulas:
    """The symbolic costs of a design (per sample). Units: params, MACs, ops, bytes."""

    design: str
    params: sp.Expr
    macs: dict[str, sp.Expr]  # fvcore key ("conv", "linear") -> MACs
    elementwise: dict[str, sp.Expr]  # op kind -> elementwise ops
    mem_bytes: sp.Expr
    ops: tuple[Op, ...]
    extra: dict[str, sp.Expr] = dataclasses.field(default_factory=dict)

    @property
    def macs_total(self) -> sp.Expr:
        """conv + linear MACs: the headline number."""
        return sp.Add(*self.macs.values())

    @property
    def flops(self) -> sp.Expr:
        """FLOPs = 2 x MACs (conv + linear)."""
        return 2 * self.macs_total

    def quantities(self) -> dict[str, sp.Expr]:
        """Every named total: params, macs_<key>, elem_<kind>, mem_bytes, and extras."""
        out: dict[str, sp.Expr] = {"params": self.params}
        out.update({f"macs_{key}": v for key, v in self.macs.items()})
        out.update({f"elem_{kind}": v for kind, v in self.elementwise.items()})
        out["mem_bytes"] = self.mem_bytes
        out.update(self.extra)
        return out

    def __getitem__(self, name: str) -> sp.Expr:
        return self.quantities()[name]

    def output_sizes(self) -> dict[sp.Symbol, sp.Expr]:
        """Short names h_o1, w_o1, ... for the output-size floor expressions of the design's ops,
        so that a formula prints as c_out*c_in*k**2*h_o1*w_o1 with each size defined once."""
        names: dict[sp.Expr, sp.Symbol] = {}
        for op in self.ops:
            for axis in ("h_out", "w_out"):
                expr = sp.sympify(op.geometry.get(axis, 0))
                if expr.has(sp.floor) and expr not in names:
                    index = sum(1 for v in names.values() if v.name[0] == axis[0]) + 1
                    names[expr] = sp.Symbol(f"{axis[0]}_o{index}", integer=True, positive=True)
        return {v: k for k, v in names.items()}

    def readable(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with output sizes replaced by their short names (see ``output_sizes``)."""
        return sp.sympify(expr).xreplace({full: short for short, full in self.output_sizes().items()})


def sum_ops(design: str, ops: Sequence[Op], bytes_per_element: sp.Expr,
            extra: dict[str, sp.Expr] | None = None) -> Formulas:
    """Totals of a list of ops: memory traffic = width x (reads + writes + weights)."""
    macs: dict[str, sp.Expr] = {"conv": sp.Integer(0), "linear": sp.Integer(0)}
    elementwise: dict[str, sp.Expr] = {}
    for op in ops:
        if op.kind in MAC_KINDS:
            macs[MAC_KINDS[op.kind]] += op.macs
        else:
            elementwise[op.kind] = elementwise.get(op.kind, sp.Integer(0)) + op.elem
    params = sp.Add(*(op.params for op in ops))
    traffic = sp.Add(*(op.reads + op.writes + op.params for op in ops))
    return Formulas(design, params, macs, elementwise, bytes_per_element * traffic, tuple(ops),
                    extra or {})


class MacTotals:
    """``macs`` (conv + linear, the papers' headline "FLOPs") and ``flops`` = 2 x MACs, from a
    ``macs_by_key`` dict; shared by a layer's and a network's costs."""

    macs_by_key: dict[str, int]

    @property
    def macs(self) -> int:
        return sum(self.macs_by_key.values())

    @property
    def flops(self) -> int:
        return 2 * self.macs


@dataclass(frozen=True)
class Costs(MacTotals):
    """Exact per-sample costs of one spec. ``flops`` = 2 x ``macs``."""

    params: int
    macs_by_key: dict[str, int]
    elementwise: dict[str, int]
    mem_bytes: int
    extra: dict[str, Any]

    def fvcore_elementwise(self) -> dict[str, int]:
        """The elementwise kinds fvcore counts, with our numbers."""
        return {kd: v for kd, v in self.elementwise.items() if kd in FVCORE_ELEMENTWISE and v}


# --- the base class ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Spec:
    """Base of every design spec. Subclasses are frozen keyword-only dataclasses."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    derived_symbols: ClassVar[tuple[str, ...]] = ()

    dtype_bytes: int = size(4, "bytes per element (4 = fp32)")

    # -- what a design provides --
    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        """The design's ops as sympy expressions of ``p``'s symbols."""
        raise NotImplementedError

    @classmethod
    def constraints(cls, p: SimpleNamespace) -> list[Constraint]:
        """Cross-field rules (beyond each field's range)."""
        return []

    @classmethod
    def extra_formulas(cls, p: SimpleNamespace) -> dict[str, sp.Expr]:
        """Named design-specific quantities (e.g. Ghost's intrinsic channels m)."""
        return {}

    def derived(self) -> dict[str, int]:
        """Values of ``derived_symbols`` computed from structural fields."""
        return {}

    def build(self):
        """The real torch.nn.Module (torch imported inside)."""
        raise NotImplementedError

    def input_shape(self) -> tuple[int, ...]:
        """NCHW input for one sample."""
        return (1, self.c_in, self.h, self.w)  # type: ignore[attr-defined]

    # -- generic machinery --
    def __post_init__(self) -> None:
        self._check_ranges()
        self._check_constraints()

    @classmethod
    def field_ranges(cls) -> dict[str, Range]:
        """Each field's allowed range; the design's own fields first, inherited ones after."""
        return dict(_field_ranges(cls))  # a copy: the cached map is shared

    @classmethod
    def symbolic_fields(cls) -> tuple[str, ...]:
        return _fields_of_kind(cls, True)

    @classmethod
    def structural_fields(cls) -> tuple[str, ...]:
        return _fields_of_kind(cls, False)

    @classmethod
    def argument_names(cls) -> tuple[str, ...]:
        return cls.symbolic_fields() + tuple(cls.derived_symbols)

    def _check_ranges(self) -> None:
        for nm, rng in _field_ranges(type(self)).items():
            value = getattr(self, nm)
            if not rng.accepts(value):
                raise ValueError(f"{type(self).__name__}.{nm} = {value!r} is invalid: "
                                 f"allowed is {rng.describe()}")

    def _check_constraints(self) -> None:
        rules, fn = _constraint_evaluator(type(self), self.structure())
        if not rules:
            return
        values = self.values()
        for rule, ok in zip(rules, fn(*(values[nm] for nm in self.argument_names()))):
            if not bool(ok):
                raise ValueError(f"{type(self).__name__}.{rule.field} = {getattr(self, rule.field, None)!r} "
                                 f"is invalid: {rule.allowed} ({self._short()})")

    def _short(self) -> str:
        return ", ".join(f"{nm}={getattr(self, nm)!r}" for nm in self.field_ranges() if nm != "dtype_bytes")

    def structure(self) -> tuple:
        return tuple(getattr(self, nm) for nm in self.structural_fields())

    def values(self) -> dict[str, Any]:
        """Numeric values of every formula argument (bools become 0/1)."""
        out = {nm: _number(getattr(self, nm)) for nm in self.symbolic_fields()}
        out.update(self.derived())
        return out

    @classmethod
    def namespace(cls, structure: tuple = ()) -> SimpleNamespace:
        """Symbols for the symbolic fields, concrete values for the structural ones."""
        p = {nm: sym(nm) for nm in cls.argument_names()}
        p.update(dict(zip(cls.structural_fields(), structure)))
        return SimpleNamespace(**p)

    @classmethod
    def formulas(cls, structure: tuple | None = None) -> Formulas:
        """Symbolic costs (cached per structural choice; default: the fields' defaults)."""
        if structure is None:
            structure = tuple(dataclasses.fields(cls)[_field_index(cls, nm)].default
                              for nm in cls.structural_fields())
        return _formulas(cls, tuple(structure))

    def costs(self) -> Costs:
        """Exact costs of this spec."""
        cls = type(self)
        getters = _getters(cls)
        if getters is None:  # a design that overrides values()/structure(): the general path
            names, fn = _scalar_evaluator(cls, self.structure())
            values = self.values()
            return _costs_from(_cost_layout(names), fn(*(values[nm] for nm in self.argument_names())))
        symbolic, structural = getters
        names, fn = _scalar_evaluator(cls, structural(self))
        args = symbolic(self)  # bools stay bools: Python treats them as the ints 0/1
        if cls.derived_symbols:
            derived = self.derived()
            args = args + tuple(derived[nm] for nm in cls.derived_symbols)
        return _costs_from(_cost_layout(names), fn(*args))

    def params(self) -> int:
        """Exact learnable parameters (= sum(p.numel()) of the module)."""
        return self.costs().params

    def macs(self) -> int:
        """Exact conv + linear MACs per sample."""
        return self.costs().macs

    def flops(self) -> int:
        """FLOPs = 2 x MACs."""
        return self.costs().flops

    def mem_bytes(self) -> int:
        """Memory traffic in bytes: every op's input + output + weights, once."""
        return self.costs().mem_bytes

    def op_table(self):
        """Per-op exact costs as a pandas DataFrame (zero-cost ops dropped)."""
        import pandas as pd

        fn = _op_evaluator(type(self), self.structure())
        values = self.values()
        rows = fn(*(values[nm] for nm in self.argument_names()))
        frame = pd.DataFrame(rows)
        keep = frame[["macs", "elem", "params", "reads", "writes"]].abs().sum(axis=1) > 0
        frame = frame[keep].reset_index(drop=True)
        frame["mem_bytes"] = self.dtype_bytes * (frame["reads"] + frame["writes"] + frame["params"])
        return frame

    def module(self):
        """The real torch module, in eval mode, tagged with this spec."""
        mod = self.build()
        mod.eval()
        mod.costmodel_spec = self
        return mod

    def example_input(self, batch: int = 1, seed: int = 0):
        import torch

        gen = torch.Generator().manual_seed(seed)
        shape = (batch,) + tuple(self.input_shape()[1:])
        return torch.randn(shape, generator=gen)

    def replace(self, **changes: Any) -> "Spec":
        return dataclasses.replace(self, **changes)


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value


# The hot path of a query (issue 10: < 50 us): field getters and the split of the compiled
# results into params / MACs by key / elementwise by kind / bytes / extras, computed once.
@functools.lru_cache(maxsize=None)
def _getters(cls: type[Spec]) -> tuple[Callable, Callable] | None:
    if cls.values is not Spec.values or cls.structure is not Spec.structure:
        return None
    return _tuple_getter(_fields_of_kind(cls, True)), _tuple_getter(_fields_of_kind(cls, False))


def _tuple_getter(names: tuple[str, ...]) -> Callable[[Any], tuple]:
    if not names:
        return lambda obj: ()
    get = operator.attrgetter(*names)
    return (lambda obj: (get(obj),)) if len(names) == 1 else get


@functools.lru_cache(maxsize=None)
def _cost_layout(names: tuple[str, ...]) -> tuple:
    index = {nm: i for i, nm in enumerate(names)}
    macs = tuple((nm[5:], i) for nm, i in index.items() if nm.startswith("macs_"))
    elem = tuple((nm[5:], i) for nm, i in index.items() if nm.startswith("elem_"))
    extra = tuple((nm, i) for nm, i in index.items()
                  if not nm.startswith(("macs_", "elem_")) and nm not in ("params", "mem_bytes"))
    return index["params"], macs, elem, index["mem_bytes"], extra


def _costs_from(layout: tuple, result: Sequence) -> Costs:
    params, macs, elem, mem, extra = layout
    return Costs(int(result[params]), {k: int(result[i]) for k, i in macs},
                 {k: int(result[i]) for k, i in elem}, int(result[mem]),
                 {k: result[i] for k, i in extra})


# Per-class field tables, computed once: a query must not re-walk the MRO (issue 10: < 50 us).
@functools.lru_cache(maxsize=None)
def _field_ranges(cls: type[Spec]) -> dict[str, Range]:
    order: list[str] = []
    for klass in cls.__mro__:
        order += [nm for nm in vars(klass).get("__annotations__", {}) if nm not in order]
    ranges = {f.name: f.metadata["range"] for f in dataclasses.fields(cls) if "range" in f.metadata}
    return {nm: ranges[nm] for nm in order if nm in ranges}


@functools.lru_cache(maxsize=None)
def _fields_of_kind(cls: type[Spec], symbolic: bool) -> tuple[str, ...]:
    return tuple(nm for nm, r in _field_ranges(cls).items() if r.symbolic == symbolic)


def _field_index(cls: type, name: str) -> int:
    return [f.name for f in dataclasses.fields(cls)].index(name)


@functools.lru_cache(maxsize=None)
def _formulas(cls: type[Spec], structure: tuple) -> Formulas:
    p = cls.namespace(structure)
    return sum_ops(cls.name, cls.ops(p), sym("dtype_bytes"), cls.extra_formulas(p))


@functools.lru_cache(maxsize=None)
def _scalar_evaluator(cls: type[Spec], structure: tuple) -> tuple[tuple[str, ...], Callable]:
    q = _formulas(cls, structure).quantities()
    return tuple(q), _compile.compile_scalar(list(q.values()), cls.argument_names())


@functools.lru_cache(maxsize=None)
def vector_evaluator(cls: type[Spec], structure: tuple) -> tuple[tuple[str, ...], Callable]:
    """(names, f) with f(*arrays in argument order) -> arrays; lambdified once and cached."""
    q = _formulas(cls, structure).quantities()
    return tuple(q), _compile.compile_vector(list(q.values()), cls.argument_names())


@functools.lru_cache(maxsize=None)
def _constraint_evaluator(cls: type[Spec], structure: tuple) -> tuple[tuple[Constraint, ...], Callable]:
    rules = tuple(cls.constraints(cls.namespace(structure)))
    return rules, _compile.compile_scalar([r.holds for r in rules], cls.argument_names())


_OP_FIELDS = ("macs", "elem", "params", "reads", "writes")
_GEOMETRY = ("c_in", "c_out", "k", "k_w", "groups", "stride", "h_out", "w_out")


@functools.lru_cache(maxsize=None)
def _op_evaluator(cls: type[Spec], structure: tuple) -> Callable:
    ops = _formulas(cls, structure).ops
    exprs = [sp.sympify(getattr(op, f)) for op in ops for f in _OP_FIELDS]
    exprs += [sp.sympify(op.geometry.get(g, 0)) for op in ops for g in _GEOMETRY]
    fn = _compile.compile_scalar(exprs, cls.argument_names())
    width = len(_OP_FIELDS)

    def rows(*args):
        flat = fn(*args)
        geo = flat[len(ops) * width:]
        out = []
        for i, op in enumerate(ops):
            row = {"op": op.name, "kind": op.kind}
            row.update({f: int(flat[i * width + j]) for j, f in enumerate(_OP_FIELDS)})
            row.update({g: int(geo[i * len(_GEOMETRY) + j]) for j, g in enumerate(_GEOMETRY)})
            out.append(row)
        return out

    return rows
