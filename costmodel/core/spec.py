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
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import sympy as sp

from . import compile as _compile
from .fields import Constraint, Range, size
from .ops import Op
from .results import Costs, Formulas, sum_ops
from .symbols import field_symbol, sym

# --- the base class ----------------------------------------------------------------------

MODULE_BUDGET = 2 << 30
"""Bytes ``Spec.module()`` lets ``build()`` allocate (``module_bytes()``, estimated before any
allocation); a spec over it is refused with a ValueError naming the field that drives the size."""

FORWARD_BUDGET = 8 << 30
"""Bytes an example forward may allocate, checked before the input tensor exists: ``validate``,
``latency`` and ``network --trace`` on a huge h x w or batch are refused with a ValueError naming
the field, instead of an allocation error from inside torch or the machine running out of memory.
The estimate is a lower bound (the fp32 input plus the largest op output, both alive at once), so
nothing that would fit is refused."""


def check_forward_bytes(owner: str, field: str, value: Any, elements_per_sample: int, batch: int,
                        element_bytes: int = 4, memory_budget: int = FORWARD_BUDGET) -> None:
    """ValueError naming ``owner.field`` when ``batch`` x ``elements_per_sample`` x ``element_bytes``
    exceeds ``memory_budget``."""
    total = batch * elements_per_sample * element_bytes
    if total > memory_budget:
        raise ValueError(f"{owner}.{field} = {short_repr(value)} is invalid: a forward at batch {batch} would "
                         f"allocate at least {total / 2**20:,.0f} MiB (input + largest output), more than the forward "
                         f"budget of {memory_budget / 2**20:,.0f} MiB; allowed is a smaller {field} or batch")



@dataclass(frozen=True, kw_only=True)
class Spec:
    """Base of every design spec. Subclasses are frozen keyword-only dataclasses."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    derived_symbols: ClassVar[tuple[str, ...]] = ()

    dtype_bytes: int = size(4, "bytes per element (4 = fp32)", maximum=16, role="bytes")

    # -- declared hooks of the generic layers (defaults suit a static layer; a design overrides) --
    dynamic: ClassVar[bool] = False
    """True when the work the module runs depends on its input (DGC): then ``costs()`` is the
    expected count and ``executed_costs()`` reads what a forward really ran."""

    foreign_module_names: ClassVar[tuple[str, ...]] = ()
    """Lower-case class-name fragments of other people's nn.Modules that implement this design
    (e.g. "ghostbottleneck"), so that analyze() can label their ops with it."""

    swap_keeps_bn_act: ClassVar[bool] = True
    """In a conv swap: True if the replaced conv's BN (+ activation) stays after this design;
    False if the design brings its own (Ghost, DGC)."""

    def executed_costs(self, module: Any, batch: int) -> Costs:
        """The costs ``module`` (built from this spec) ran in its last forward, per sample.
        Static designs run exactly ``costs()``."""
        return self.costs()

    def dense_macs(self) -> int | None:
        """MACs of the dense conv a dynamic design prunes (None for a static design)."""
        return None

    def module_bytes(self) -> dict[str, int]:
        """Bytes ``build()`` allocates, by the field that drives them (checked by ``module()``
        before building). Default: the fp32 weights, 4 x params, charged to the largest
        channels field. A design that builds tables (index buffers...) adds them."""
        return {self._largest_field("channels"): 4 * self.params()}

    def _largest_field(self, role: str) -> str:
        """The field of this role with the largest value (the first field if none has it)."""
        ranges = _field_ranges(type(self))
        named = [nm for nm, r in ranges.items() if r.role == role and r.kind == "int"]
        return max(named, key=lambda nm: getattr(self, nm)) if named else next(iter(ranges))

    def check_module_bytes(self, memory_budget: int = MODULE_BUDGET) -> None:
        """ValueError naming the field when ``module_bytes()`` exceeds ``memory_budget``."""
        need = self.module_bytes()
        total = sum(need.values())
        if total > memory_budget:
            field = max(need, key=lambda nm: need[nm])
            raise ValueError(f"{type(self).__name__}.{field} = {short_repr(getattr(self, field))} is invalid: its "
                             f"module would allocate about {total / 2**20:,.0f} MiB, more than the module "
                             f"budget of {memory_budget / 2**20:,.0f} MiB; allowed is a smaller {field}")

    def query_rows(self) -> list[dict[str, Any]]:
        """Extra quantity/value/unit rows ``costmodel query`` prints for this design."""
        return []

    @classmethod
    def swap_for_conv(cls, c_in: int, c_out: int, k: int, stride: int, h: int, w: int, act: bool,
                      **options: Any) -> "list[tuple[str, Spec]] | None":
        """This design as a drop-in for a k x k conv c_in -> c_out at h x w (a network swap):
        named specs (suffix, spec), or None where the design cannot replace that conv (the conv
        stays). ``act``: whether the replaced conv was followed by an activation. Default: not
        swappable (a swap declares ``swap_options()`` too)."""
        return None

    @classmethod
    def swap_options(cls) -> tuple[str, ...] | None:
        """Option names ``swap_for_conv`` takes (``--option NAME=VALUE`` in the CLI); None (the
        default) when the design is not a network swap, ``()`` for a swap that takes none."""
        return None

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
        """Each field checked and normalised by its Range (numpy scalars become Python ones)."""
        for nm, rng in _field_ranges(type(self)).items():
            value = getattr(self, nm)
            try:
                normal = rng.normalize(value)
            except ValueError as exc:
                raise ValueError(f"{type(self).__name__}.{nm} = {short_repr(value)} is invalid: {exc}") from None
            if normal is not value:
                object.__setattr__(self, nm, normal)

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
        return self.fields_text(repr)  # error messages quote strings and show tuples as Python does

    def fields_text(self, value_text: Callable[[Any], str] | None = None) -> str:
        """``c_in=64, c_out=128, k=3, ...``: every field but dtype_bytes (the ONE spec formatter);
        ``value_text`` prints a value (default: str, tuples as 2x4)."""
        show = value_text or _text
        return ", ".join(f"{nm}={show(getattr(self, nm))}" for nm in _field_ranges(type(self))
                         if nm != "dtype_bytes")

    def label(self) -> str:
        """``conv(c_in=64, c_out=128, ...)``: the design name and its fields."""
        return f"{self.name}({self.fields_text()})"

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
        p = {nm: _symbol(cls, nm) for nm in cls.argument_names()}
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

    def op_rows(self) -> list[dict[str, Any]]:
        """Per-op exact costs as plain dicts (op, kind, macs, elem, params, reads, writes, geometry),
        every op kept: what ``op_table`` shows, without pandas (analyze() sums these per call)."""
        fn = _op_evaluator(type(self), self.structure())
        values = self.values()
        return fn(*(values[nm] for nm in self.argument_names()))

    def op_table(self):
        """Per-op exact costs as a pandas DataFrame (zero-cost ops dropped)."""
        import pandas as pd

        frame = pd.DataFrame(self.op_rows())
        keep = frame[["macs", "elem", "params", "reads", "writes"]].abs().sum(axis=1) > 0
        frame = frame[keep].reset_index(drop=True)
        frame["mem_bytes"] = self.dtype_bytes * (frame["reads"] + frame["writes"] + frame["params"])
        return frame

    def module(self, memory_budget: int = MODULE_BUDGET):
        """The real torch module, in eval mode, tagged with this spec. Refused (ValueError
        naming the field) before anything is built when ``module_bytes()`` exceeds the budget."""
        self.check_module_bytes(memory_budget)
        mod = self.build()
        mod.eval()
        mod.costmodel_spec = self
        return mod

    def input_elements(self) -> int:
        """Elements of one sample's input."""
        return functools.reduce(operator.mul, self.input_shape()[1:], 1)

    def largest_output_elements(self) -> int:
        """Elements of the largest op output of one sample (the exact op writes of ``op_rows``)."""
        return max((r["writes"] for r in self.op_rows()), default=0)

    def example_input(self, batch: int = 1, seed: int = 0):
        """A seeded fp32 input of ``batch`` samples; refused (ValueError naming the largest spatial
        field) before allocation when the forward would exceed ``FORWARD_BUDGET``."""
        import torch

        field = self._largest_field("spatial")
        check_forward_bytes(type(self).__name__, field, getattr(self, field),
                            self.input_elements() + self.largest_output_elements(), batch)
        gen = torch.Generator().manual_seed(seed)
        shape = (batch,) + tuple(self.input_shape()[1:])
        return torch.randn(shape, generator=gen)

    def replace(self, **changes: Any) -> "Spec":
        return dataclasses.replace(self, **changes)


def _symbol(cls: type[Spec], name: str) -> sp.Symbol:
    """The symbol of field ``name`` (made from its range if no design used the name before);
    a derived symbol, which has no range, is a nonnegative integer."""
    rng = _field_ranges(cls).get(name)
    if rng is None:
        return field_symbol(name, "int", 0)
    return field_symbol(name, rng.kind, rng.lo, rng.lo_open)


def short_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters (a 400-digit integer prints as 1000...0 (401 digits))."""
    text = repr(value)
    if len(text) <= limit:
        return text
    if isinstance(value, int):
        return f"{text[:12]}...{text[-4:]} ({len(text.lstrip('-'))} digits)"
    return text[:limit - 3] + "..."


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return str(value)


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


def costs_from(names: tuple[str, ...], result: Sequence) -> Costs:
    """``Costs`` from compiled quantities ``result`` named ``names`` (``Formulas.quantities()``
    order: params, macs_<key>, elem_<kind>, mem_bytes, extras): the one place that splits them."""
    return _costs_from(_cost_layout(names), result)


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
    exprs += [sp.sympify(op.launches) for op in ops]
    fn = _compile.compile_scalar(exprs, cls.argument_names())
    width = len(_OP_FIELDS)

    def rows(*args):
        flat = fn(*args)
        geo = flat[len(ops) * width:]
        launch = geo[len(ops) * len(_GEOMETRY):]
        out = []
        for i, op in enumerate(ops):
            row = {"op": op.name, "kind": op.kind}
            row.update({f: int(flat[i * width + j]) for j, f in enumerate(_OP_FIELDS)})
            row.update({g: int(geo[i * len(_GEOMETRY) + j]) for j, g in enumerate(_GEOMETRY)})
            row["launches"] = max(1, int(launch[i]))  # a row scaled to 0 is dropped anyway
            row["kernel"] = op.kernel
            out.append(row)
        return out

    return rows
