"""Design-space sweeps at analytic speed, and Pareto fronts.

``sweep("group_conv", c_out=range(16, 1025, 16), groups=[1, 2, 4, 8])`` evaluates every
configuration of a grid (or a random sample of it) from the design's compiled formulas:
the sympy expressions are lambdified to numpy once per structural choice
(``spec.vector_evaluator``) and evaluated on int64 columns, a million points in well under a
second. Nothing is traced and no spec object is built per point.

Three rules keep the numbers identical to ``spec.costs()``:
  * validity is computed per point, vectorized, from each field's ``Range`` (exactly
    ``Range.accepts``) and then from the design's ``constraints()`` in declaration order; an
    invalid point gets ``valid = False`` and the same reason the spec constructor would raise.
    Invalid points never stop a sweep.
  * int64 can wrap. Each integer result is shadowed by a float64 evaluation of the same formula
    that also records the largest numerator fed to a floor division (the only places where a
    wrapped intermediate would corrupt a result that fits). A row whose shadow reaches 2**62, or
    disagrees with the int64 value, is recomputed on the exact scalar path (Python ints, the real
    spec), and its column becomes ``object`` if a value no longer fits in int64.
  * totals are formed like ``Costs``: ``macs`` = conv + linear MACs, ``flops`` = 2 x ``macs``.

Units: params (parameters), MACs, FLOPs (= 2 x MACs), elementwise ops, bytes; ``frame.attrs
["units"]`` names the unit of every cost column.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import math
import operator
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from typing import Any

import sympy as sp

from .core import compile as _compile
from .core import spec as _spec
from .core import Range, Spec

class _LazyModule:
    """numpy, imported on first use: `costmodel query` loads this module (for its CLI hook) and
    must stay fast."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import importlib

        module = importlib.import_module(self._name)
        globals()["np"] = module  # later lookups go straight to numpy
        return getattr(module, attr)


np: Any = _LazyModule("numpy")

MAX_POINTS = 20_000_000
"""A full grid larger than this raises (use ``sample=``): one row costs ~100 bytes."""

CHUNK = 1 << 18
"""Rows evaluated per step (bounds memory; the progress callback fires once per chunk)."""

SAFE = 2.0**62
"""A float64 shadow at or above this magnitude sends the row to the exact Python-int path."""

_COST_UNITS = {"params": "parameters", "macs": "MACs", "flops": "FLOPs (= 2 x MACs)",
               "mem_bytes": "bytes"}


# --- grids ---------------------------------------------------------------------------------

@dataclasses.dataclass
class _Axis:
    """One field's grid: its values, which are valid, and the numbers formulas see."""

    name: str
    rng: Range
    values: list  # Python values, as given
    ok: np.ndarray  # Range.accepts(value)
    exact: np.ndarray  # valid but too large for int64: the row takes the exact path
    numeric: np.ndarray  # what the formulas see (invalid or huge values replaced by the default)
    column: np.ndarray  # the frame column (int64 / float64 / bool / object)
    struct: list | None = None  # structural fields: the value each position stands for


def _as_list(raw: Any, rng: Range) -> list:
    """A grid given as a scalar, a sequence, a range or an array -> a list of Python values."""
    if isinstance(raw, np.ndarray):
        return raw.ravel().tolist()
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
        return [raw]
    if rng.kind == "choice" and isinstance(raw, tuple) and raw in rng.options:
        return [raw]  # a tuple-valued option, not a list of options
    return [v.item() if isinstance(v, np.generic) else v for v in raw]


def accepts_array(rng: Range, values: np.ndarray) -> np.ndarray:
    """``Range.accepts`` on a numeric numpy array, elementwise (same answers, vectorized)."""
    values = np.asarray(values)
    kind = values.dtype.kind
    if rng.kind == "choice" or kind not in "biuf":
        return np.array([rng.accepts(v) for v in values.tolist()], dtype=bool)
    if rng.kind == "flag":  # bools, or the ints 0 and 1; never floats
        if kind == "b":
            return np.ones(values.shape, bool)
        return (values == 0) | (values == 1) if kind in "iu" else np.zeros(values.shape, bool)
    if kind == "b":  # a bool is not a number for int/real fields
        return np.zeros(values.shape, bool)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(values) if kind == "f" else np.ones(values.shape, bool)
        if rng.kind == "int" and kind == "f":  # floats are never integers (the spec's rule)
            return np.zeros(values.shape, bool)
        if rng.lo is not None:
            ok &= (values > rng.lo) if rng.lo_open else (values >= rng.lo)
        if rng.hi is not None:
            ok &= (values < rng.hi) if rng.hi_open else (values <= rng.hi)
    return ok


def _make_axis(name: str, rng: Range, raw: Any, default: Any) -> _Axis:
    values = _as_list(raw, rng)
    if not values:
        raise ValueError(f"{name} = {raw!r} is invalid: a sweep axis needs at least one value")
    if len(values) > 4096 and all(type(v) in (int, float) for v in values[:64]):
        ok = accepts_array(rng, np.asarray(values))
    else:
        ok = np.array([rng.accepts(v) for v in values], dtype=bool)
    n = len(values)
    exact = np.zeros(n, bool)
    if rng.kind == "choice":  # structural: formulas are built per value (invalid -> the default)
        struct = [v if o else default for v, o in zip(values, ok)]
        distinct: list = []
        for v in struct:
            if v not in distinct:
                distinct.append(v)
        numeric = np.array([distinct.index(v) for v in struct], dtype=np.int64)
        return _Axis(name, rng, values, ok, exact, numeric, _object_array(values), struct)
    if rng.kind == "real":
        numeric = np.array([float(v) if o else float(default) for v, o in zip(values, ok)])
        column = np.array(values, dtype=float) if ok.all() else _object_array(values)
        return _Axis(name, rng, values, ok, exact, numeric, column)
    # int and flag fields: exact integers
    exact = np.array([bool(o) and abs(int(v)) >= SAFE for v, o in zip(values, ok)], dtype=bool)
    numeric = np.array([int(v) if o and not e else int(default) for v, o, e in zip(values, ok, exact)],
                       dtype=np.int64)
    if rng.kind == "flag" and ok.all():
        column = np.array([bool(v) for v in values], dtype=bool)
    elif rng.kind == "int" and ok.all() and not exact.any():
        column = numeric.copy()
    else:
        column = _object_array(values)
    return _Axis(name, rng, values, ok, exact, numeric, column)


def _object_array(values: Sequence) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _resolve(design: str | type[Spec] | Spec) -> tuple[type[Spec], dict[str, Any]]:
    """The Spec class and the default value of each field (an instance's values, if given)."""
    if isinstance(design, Spec):
        cls = type(design)
        return cls, {nm: getattr(design, nm) for nm in cls.field_ranges()}
    if isinstance(design, str):
        from .core.registry import get_design

        cls = get_design(design)
    elif isinstance(design, type) and issubclass(design, Spec):
        cls = design
    else:
        raise ValueError(f"design = {design!r} is invalid: allowed is a design name, a Spec class or a spec")
    defaults = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            defaults[f.name] = f.default_factory()  # type: ignore[misc]
    return cls, defaults


# --- compiled pieces (cached per class and structural choice) --------------------------------

@functools.lru_cache(maxsize=None)
def _constraint_vector(cls: type[Spec], structure: tuple) -> tuple[tuple, Callable | None]:
    """The design's cross-field rules, compiled for numpy arrays."""
    rules = tuple(cls.constraints(cls.namespace(structure)))
    if not rules:
        return rules, None
    return rules, _compile.compile_vector([r.holds for r in rules], cls.argument_names())


_CSE = getattr(_compile, "integer_safe_cse", True)  # the same common-subexpression pass as compile_vector


class _Recorder:
    """floor division on floats that remembers the largest |numerator| seen, per row."""

    def __init__(self) -> None:
        self.peak: np.ndarray | float = 0.0

    def floordiv(self, a, q):
        self.peak = np.maximum(self.peak, np.abs(a))
        return np.floor_divide(a, q)


@functools.lru_cache(maxsize=None)
def _shadow_evaluator(cls: type[Spec], structure: tuple) -> tuple[Callable, _Recorder]:
    """The cost formulas evaluated in float64, recording the peak numerator of each division."""
    exprs = list(_spec._formulas(cls, structure).quantities().values())
    symbols = _compile._arguments(exprs, cls.argument_names()) + [sp.Symbol("_shape")]
    recorder = _Recorder()
    inner = sp.lambdify(symbols, tuple(exprs), modules=[{"_floordiv": recorder.floordiv}, "numpy"],
                        printer=_compile.IntNumPyPrinter, cse=_CSE, docstring_limit=0)
    return inner, recorder


def _shadow(cls: type[Spec], structure: tuple, args: list[np.ndarray], n: int) -> tuple[tuple, np.ndarray]:
    inner, recorder = _shadow_evaluator(cls, structure)
    recorder.peak = np.zeros(n)
    with np.errstate(all="ignore"):
        values = inner(*(np.asarray(a, dtype=float) for a in args), (n,))
    peak = np.broadcast_to(recorder.peak, (n,))
    return tuple(np.broadcast_to(v, (n,)) for v in values), peak


# --- interval bound: skip the shadow when no intermediate can reach 2**62 ----------------------

class _Unbounded(Exception):
    """The interval evaluation met something it cannot bound."""


class _Iv:
    """A closed interval [lo, hi]; every operation records the largest magnitude it produces."""

    __slots__ = ("lo", "hi")
    peak = 0.0  # class-level recorder, reset per evaluation

    def __init__(self, lo: float, hi: float):
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise _Unbounded
        self.lo, self.hi = lo, hi
        _Iv.peak = max(_Iv.peak, abs(lo), abs(hi))

    @staticmethod
    def of(x) -> "_Iv":
        if isinstance(x, _Iv):
            return x
        if isinstance(x, (bool, int, float, np.integer, np.floating)):
            return _Iv(float(x), float(x))
        raise _Unbounded

    def __add__(self, o):
        o = _Iv.of(o)
        return _Iv(self.lo + o.lo, self.hi + o.hi)

    __radd__ = __add__

    def __neg__(self):
        return _Iv(-self.hi, -self.lo)

    def __sub__(self, o):
        return self + (-_Iv.of(o))

    def __rsub__(self, o):
        return _Iv.of(o) + (-self)

    def __mul__(self, o):
        o = _Iv.of(o)
        c = (self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi)
        return _Iv(min(c), max(c))

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = _Iv.of(o)
        if o.lo <= 0 <= o.hi:
            raise _Unbounded
        c = (self.lo / o.lo, self.lo / o.hi, self.hi / o.lo, self.hi / o.hi)
        return _Iv(min(c), max(c))

    def __rtruediv__(self, o):
        return _Iv.of(o) / self

    def __pow__(self, e):
        if isinstance(e, _Iv):
            raise _Unbounded
        if (not float(e).is_integer() or e < 0) and self.lo <= 0:  # roots or reciprocals near 0
            raise _Unbounded
        c = [self.lo ** e, self.hi ** e]
        if self.lo < 0 < self.hi and e > 0:
            c.append(0.0)
        return _Iv(min(c), max(c))

    def floor(self):
        return _Iv(math.floor(self.lo), math.floor(self.hi))

    def _cmp(self, o):
        _Iv.of(o)
        return _BOOL

    __lt__ = __le__ = __gt__ = __ge__ = _cmp


_BOOL = object()  # a condition: its value does not matter for magnitudes


class _IntervalNumpy:
    """The few numpy functions the integer printer emits, on intervals."""

    @staticmethod
    def broadcast_to(x, shape):
        return x if x is _BOOL or isinstance(x, bool) else _Iv.of(x)

    @staticmethod
    def select(conds, values):
        vals = [_Iv.of(v) for v in values]
        return _Iv(min(v.lo for v in vals), max(v.hi for v in vals))

    @staticmethod
    def mod(a, q):
        _Iv.of(a)
        q = _Iv.of(q)
        if q.lo <= 0:
            raise _Unbounded
        return _Iv(0.0, q.hi)

    @staticmethod
    def floor(x):
        return _Iv.of(x).floor()

    @staticmethod
    def ceil(x):
        return -((-_Iv.of(x)).floor())

    def __getattr__(self, name):
        if name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
                    "logical_and", "logical_or", "logical_not", "logical_xor"):
            return _condition
        raise _Unbounded  # anything else: not proven bounded, the shadow decides


def _condition(*args):
    """A comparison or logical op: its operands are intermediates (bounded), its value a bool."""
    for a in args:
        if a is not _BOOL and not isinstance(a, bool):
            _Iv.of(a)
    return _BOOL


def _interval_floordiv(a, q):
    a, q = _Iv.of(a), _Iv.of(q)
    return (a / q).floor()


@functools.lru_cache(maxsize=None)
def _interval_evaluator(cls: type[Spec], structure: tuple) -> Callable:
    """Costs and constraints evaluated on intervals, printed exactly as for numpy."""
    exprs = list(_spec._formulas(cls, structure).quantities().values())
    exprs += [r.holds for r in cls.constraints(cls.namespace(structure))]
    symbols = _compile._arguments(exprs, cls.argument_names()) + [sp.Symbol("_shape")]
    return sp.lambdify(symbols, tuple(exprs),
                       modules=[{"_floordiv": _interval_floordiv, "numpy": _IntervalNumpy()}],
                       printer=_compile.IntNumPyPrinter, cse=_CSE, docstring_limit=0)


def bounded(cls: type[Spec], structure: tuple, lows: Sequence[float], highs: Sequence[float]) -> bool:
    """True when no intermediate of the cost and constraint formulas can reach 2**62 in magnitude
    for arguments in [lows, highs] (interval arithmetic on the printed code); False if unsure."""
    _Iv.peak = 0.0
    try:
        _interval_evaluator(cls, structure)(*(_Iv(float(lo), float(hi)) for lo, hi in zip(lows, highs)), (1,))
    except Exception:  # noqa: BLE001 - anything unbounded or unexpected: not proven safe
        return False
    return _Iv.peak < SAFE


# --- one chunk of rows ------------------------------------------------------------------------

class _Reasons:
    """Reason strings <-> small integer codes (0 = valid)."""

    def __init__(self) -> None:
        self.texts: list[str] = [""]
        self.codes: dict[str, int] = {"": 0}

    def code(self, text: str) -> int:
        if text not in self.codes:
            self.codes[text] = len(self.texts)
            self.texts.append(text)
        return self.codes[text]


def _range_reason(axis: _Axis) -> str:
    return f"{axis.name}: allowed is {axis.rng.describe()}"


def _rule_reason(rule) -> str:
    return f"{rule.field}: {rule.allowed}"


@dataclasses.dataclass
class _Column:
    """One cost column of a chunk: int64/float values, plus exact overrides per row."""

    values: np.ndarray
    exact: dict[int, Any] = dataclasses.field(default_factory=dict)


class _Plan:
    """Everything fixed for a sweep: class, axes, reason table, result columns."""

    def __init__(self, cls: type[Spec], axes: list[_Axis]):
        self.cls = cls
        self.axes = axes
        self.by_name = {a.name: a for a in axes}
        self.structural = [self.by_name[nm] for nm in cls.structural_fields()]
        self.symbolic = [self.by_name[nm] for nm in cls.symbolic_fields()]
        self.reasons = _Reasons()
        self.cost_names: list[str] = []  # union over structures, first-seen order
        self.exact_rows = 0

    def structure(self, codes: Sequence[int]) -> tuple:
        return tuple(a.struct[int(c)] for a, c in zip(self.structural, codes))

    def note_names(self, names: Iterable[str]) -> None:
        for nm in names:
            if nm not in self.cost_names:
                self.cost_names.append(nm)


def _evaluate_chunk(plan: _Plan, idx: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, dict[str, _Column]]:
    """Validity codes and cost columns of ``n`` rows given each axis's value index per row."""
    reason = np.zeros(n, dtype=np.int32)
    exact = np.zeros(n, bool)
    for axis in plan.axes:  # ranges first, in field order: what the constructor checks first
        if not axis.ok.all():
            bad = ~axis.ok[idx[axis.name]] & (reason == 0)
            reason[bad] = plan.reasons.code(_range_reason(axis))
        if axis.exact.any():
            exact |= axis.exact[idx[axis.name]]
    columns: dict[str, _Column] = {}
    for codes, rows in _structure_groups(plan, idx, n):
        structure = plan.structure(codes)
        _evaluate_group(plan, structure, idx, rows, n, reason, exact, columns)
    return reason, columns


def _structure_groups(plan: _Plan, idx: dict[str, np.ndarray], n: int):
    """(structural value codes, row selector) for each structural choice present in the chunk."""
    if not plan.structural:
        yield (), slice(None)
        return
    stacked = np.stack([plan.structural[i].numeric[idx[a.name]] for i, a in enumerate(plan.structural)])
    keys, inverse = np.unique(stacked, axis=1, return_inverse=True)
    inverse = inverse.ravel()
    if keys.shape[1] == 1:
        yield tuple(_code_of(a, keys[i, 0]) for i, a in enumerate(plan.structural)), slice(None)
        return
    for g in range(keys.shape[1]):
        yield tuple(_code_of(a, keys[i, g]) for i, a in enumerate(plan.structural)), np.flatnonzero(inverse == g)


def _code_of(axis: _Axis, option_index: int) -> int:
    """An axis position whose numeric value is ``option_index`` (structure() reads it back)."""
    return int(np.flatnonzero(axis.numeric == option_index)[0])


def _evaluate_group(plan: _Plan, structure: tuple, idx: dict[str, np.ndarray], rows, n: int,
                    reason: np.ndarray, exact: np.ndarray, columns: dict[str, _Column]) -> None:
    cls = plan.cls
    sub = (lambda a: a) if isinstance(rows, slice) else (lambda a: a[rows])
    m = n if isinstance(rows, slice) else len(rows)
    args = {a.name: a.numeric[sub(idx[a.name])] for a in plan.symbolic}
    g_reason = sub(reason).copy()
    g_exact = sub(exact).copy()
    if cls.derived_symbols:
        args.update(_derived(plan, structure, idx, rows, m, g_reason))
    argv = [args[nm] for nm in cls.argument_names()]
    rules, check = _constraint_vector(cls, structure)
    if rules:
        with np.errstate(all="ignore"):
            holds = check(*argv)
        for rule, ok in zip(rules, holds):
            bad = ~np.asarray(ok, dtype=bool) & (g_reason == 0)
            if bad.any():
                g_reason[bad] = plan.reasons.code(_rule_reason(rule))
    # A design may check more in its own __post_init__ than its ranges and constraints say:
    # build a few of the points thought valid; if one is refused, build every one of them.
    suspect = _representatives_refused(plan, idx, rows, g_reason)
    if suspect:
        g_exact |= g_reason == 0
    names, evaluate = _spec.vector_evaluator(cls, structure)
    plan.note_names(names)
    with np.errstate(all="ignore"):
        results = evaluate(*argv)
    # Overflow guard: an interval bound over the whole grid, else a float64 shadow per row.
    lows = [float(np.min(a)) if len(a) else 1.0 for a in argv]
    highs = [float(np.max(a)) if len(a) else 1.0 for a in argv]
    if bounded(cls, structure, lows, highs):
        shadows, peak = [None] * len(names), np.zeros(m)
    else:
        shadows, peak = _shadow(cls, structure, argv, m)
    risky = g_exact | (peak >= SAFE)
    ints: dict[str, np.ndarray] = {}
    for nm, value, shadow in zip(names, results, shadows):
        value = np.asarray(value)
        if value.dtype.kind == "f" and not nm.startswith(("macs_", "elem_")) and nm not in ("params", "mem_bytes"):
            ints[nm] = value  # a real-valued extra: kept as float, like Costs.extra
            continue
        if value.dtype.kind == "f":  # Costs applies int(): truncation toward zero
            value = np.trunc(value)
            risky |= ~np.isfinite(value)
        value = value.astype(np.int64, copy=False) if value.dtype.kind != "i" else value
        if shadow is not None:
            with np.errstate(all="ignore"):
                risky |= (np.abs(shadow) >= SAFE) | (np.abs(value - shadow) > 1 + 1e-9 * np.abs(shadow))
        ints[nm] = value
    # Rows already invalid need no exact recomputation; the rest of the risky rows do.
    risky &= g_reason == 0
    where = np.arange(n)[rows]
    for nm, value in ints.items():
        col = columns.get(nm)
        if col is None:
            fill = np.full(n, np.nan) if value.dtype.kind == "f" else np.zeros(n, np.int64)
            col = columns[nm] = _Column(fill)
        col.values[rows] = value
    if risky.any():
        _exact_rows(plan, idx, where[risky], g_reason, np.flatnonzero(risky), columns)
    reason[rows] = g_reason


def _representatives_refused(plan: _Plan, idx: dict[str, np.ndarray], rows, g_reason: np.ndarray) -> bool:
    ok = np.flatnonzero(g_reason == 0)
    where = np.arange(len(g_reason)) if isinstance(rows, slice) else rows
    for r in ok[:: max(1, len(ok) // 8)][:8].tolist():
        at = int(where[r])
        try:
            plan.cls(**{a.name: a.values[int(idx[a.name][at])] for a in plan.axes})
        except ValueError:
            return True
    return False


def _exact_rows(plan: _Plan, idx: dict[str, np.ndarray], chunk_rows: np.ndarray, g_reason: np.ndarray,
                group_rows: np.ndarray, columns: dict[str, _Column]) -> None:
    """Recompute rows on the exact scalar path: the real spec, Python ints."""
    plan.exact_rows += len(chunk_rows)
    for r, gr in zip(chunk_rows.tolist(), group_rows.tolist()):
        fields = {a.name: a.values[int(idx[a.name][r])] for a in plan.axes}
        try:
            costs = plan.cls(**fields).costs()
        except ValueError as exc:
            g_reason[gr] = plan.reasons.code(_exact_reason(plan, fields, exc))
            continue
        for nm, v in _costs_dict(costs).items():
            col = columns.get(nm)
            if col is None:
                col = columns[nm] = _Column(np.zeros(len(idx[plan.axes[0].name]), np.int64))
                plan.note_names([nm])
            col.exact[r] = v


def _exact_reason(plan: _Plan, fields: dict[str, Any], exc: ValueError) -> str:
    """The sweep's reason text for a point the constructor rejected (same rule, same order)."""
    cls = plan.cls
    for axis in plan.axes:
        if not axis.rng.accepts(fields[axis.name]):
            return _range_reason(axis)
    structure = tuple(fields[nm] for nm in cls.structural_fields())
    rules = cls.constraints(cls.namespace(structure))
    probe = object.__new__(cls)
    for nm, v in fields.items():
        object.__setattr__(probe, nm, v)
    try:
        values = probe.values()
        _, check = _spec._constraint_evaluator(cls, structure)
        for rule, ok in zip(rules, check(*(values[nm] for nm in cls.argument_names()))):
            if not bool(ok):
                return _rule_reason(rule)
    except Exception as err:  # noqa: BLE001 - a design's derived() refusing the point
        return f"{type(err).__name__}: {err}"
    return _message_reason(cls, str(exc))


def _message_reason(cls: type[Spec], message: str) -> str:
    """"Cls.field = value is invalid: text" -> "field: text" (a design's own __post_init__ check)."""
    head, sep, text = message.partition(" is invalid: ")
    prefix = cls.__name__ + "."
    if sep and head.startswith(prefix) and " = " in head:
        return f"{head[len(prefix):].split(' = ', 1)[0]}: {text}"
    return message


def _costs_dict(costs) -> dict[str, Any]:
    out: dict[str, Any] = {"params": costs.params}
    out.update({f"macs_{k}": v for k, v in costs.macs_by_key.items()})
    out.update({f"elem_{k}": v for k, v in costs.elementwise.items()})
    out["mem_bytes"] = costs.mem_bytes
    out.update(costs.extra)
    return out


def _derived(plan: _Plan, structure: tuple, idx: dict[str, np.ndarray], rows, m: int,
             g_reason: np.ndarray) -> dict[str, np.ndarray]:
    """The design's derived values per row: its ``derived()`` run once on whole columns when it
    is written with plain arithmetic (checked against the scalar call on a few rows), else once
    per row."""
    cls = plan.cls
    sub = (lambda a: a) if isinstance(rows, slice) else (lambda a: a[rows])
    probe = object.__new__(cls)
    for axis in plan.axes:
        if axis.rng.kind == "choice":
            object.__setattr__(probe, axis.name, structure[plan.structural.index(axis)])
        else:
            object.__setattr__(probe, axis.name, axis.numeric[sub(idx[axis.name])])
    ok_rows = np.flatnonzero(g_reason == 0)
    out: dict[str, np.ndarray] | None = None
    try:
        with np.errstate(all="ignore"):
            got = probe.derived()
        out = {}
        for nm in cls.derived_symbols:
            arr = np.broadcast_to(np.asarray(got[nm]), (m,))
            if arr.dtype.kind not in "iu":
                raise TypeError(f"derived {nm} is not an integer array")
            out[nm] = arr.astype(np.int64)
        for r in ok_rows[:: max(1, len(ok_rows) // 8)][:8]:
            scalar = _scalar_derived(plan, idx, rows, int(r))
            if any(int(out[nm][r]) != scalar[nm] for nm in cls.derived_symbols):
                raise ArithmeticError("vectorized derived() disagrees with the scalar call")
    except Exception:  # noqa: BLE001 - not vectorizable: fall back to one call per row
        out = None
    if out is not None:
        return out
    out = {nm: np.ones(m, np.int64) for nm in cls.derived_symbols}
    for r in ok_rows.tolist():
        try:
            scalar = _scalar_derived(plan, idx, rows, r)
        except Exception as err:  # noqa: BLE001 - the constructor would raise this
            g_reason[r] = plan.reasons.code(f"{type(err).__name__}: {err}")
            continue
        for nm in cls.derived_symbols:
            out[nm][r] = scalar[nm]
    return out


def _scalar_derived(plan: _Plan, idx: dict[str, np.ndarray], rows, r: int) -> dict[str, int]:
    at = r if isinstance(rows, slice) else int(rows[r])
    probe = object.__new__(plan.cls)
    for axis in plan.axes:
        object.__setattr__(probe, axis.name, axis.values[int(idx[axis.name][at])])
    return {nm: int(v) for nm, v in probe.derived().items()}


# --- the public sweep ------------------------------------------------------------------------

def sweep(design: str | type[Spec] | Spec, sample: int | None = None, seed: int = 0, *,
          valid_only: bool = False, progress: Callable[[int], Any] | None = None,
          max_points: int = MAX_POINTS, **grids: Any):
    """Exact costs of every configuration of a grid, as a DataFrame (one row per point).

    ``grids`` maps field names to values: a scalar, a list, a ``range`` or an array. Fields not
    given keep their defaults (or the values of ``design`` when it is a spec instance). With
    ``sample=N``, N points are drawn uniformly from the grid (with replacement; reproducible with
    ``seed``) instead of enumerating it; the first field varies slowest in a full grid.

    Columns: the fields, ``valid`` (bool), ``reason`` (categorical; "" when valid, else
    "field: allowed ..." exactly as the constructor words it), then ``params``, ``macs``
    (conv + linear), ``flops`` (= 2 x macs), ``mem_bytes`` and every per-kind quantity
    (``macs_conv``, ``elem_relu``, ...). Cost columns are int64, nullable ``Int64`` when some
    points are invalid (<NA> there), or ``object`` holding Python ints when a value exceeds
    int64. ``frame.attrs``: ``design``, ``units``, ``invalid`` (reason -> count), ``exact_rows``
    (rows recomputed on the exact path). ``valid_only=True`` drops invalid rows; a sweep with
    no valid point then returns an empty frame with the same typed columns, and the reasons in
    ``attrs["invalid"]``. ``progress(k)`` is called after each chunk of k rows. (A design field
    named ``sample``, ``seed``, ``valid_only``, ``progress`` or ``max_points`` could not be
    swept; none exists.)
    """
    import pandas as pd

    cls, defaults = _resolve(design)
    ranges = cls.field_ranges()
    unknown = sorted(set(grids) - set(ranges))
    if unknown:
        raise ValueError(f"{unknown[0]} is not a field of {cls.__name__}: allowed are {', '.join(ranges)}")
    missing = [nm for nm in ranges if nm not in grids and nm not in defaults]
    if missing:
        raise ValueError(f"{missing[0]} has no default in {cls.__name__}: give it a value or a grid")
    axes = [_make_axis(nm, rng, grids.get(nm, defaults.get(nm)), defaults.get(nm, _fallback(rng)))
            for nm, rng in ranges.items()]
    sizes = [len(a.values) for a in axes]
    total = math.prod(sizes)
    if sample is not None:
        if int(sample) < 0:
            raise ValueError(f"sample = {sample!r} is invalid: allowed is an integer >= 0")
        n_rows = int(sample)
    elif total > max_points:
        raise ValueError(f"the grid has {total:,} points, more than max_points = {max_points:,}: "
                         f"allowed is a smaller grid, or sample=N random points")
    else:
        n_rows = total
    plan = _Plan(cls, axes)
    rng = np.random.default_rng(seed)
    strides = [math.prod(sizes[i + 1:]) for i in range(len(sizes))]
    reasons, chunks, picks = [], [], []
    for start in range(0, n_rows, CHUNK):
        stop = min(n_rows, start + CHUNK)
        n = stop - start
        if sample is not None:
            idx = {a.name: rng.integers(0, s, n) for a, s in zip(axes, sizes)}
        else:
            r = np.arange(start, stop, dtype=np.int64)
            idx = {a.name: (r // st) % s if s > 1 else np.zeros(n, np.int64)
                   for a, st, s in zip(axes, strides, sizes)}
        reason, columns = _evaluate_chunk(plan, idx, n)
        reasons.append(reason)
        chunks.append(columns)
        picks.append(idx)
        if progress is not None:
            progress(n)
    if n_rows == 0:  # still compile once, so that the empty frame has every cost column
        plan.note_names(_spec.vector_evaluator(cls, plan.structure([0] * len(plan.structural)))[0])
    return _frame(plan, reasons, chunks, picks, valid_only, pd)


def _fallback(rng: Range) -> Any:
    if rng.kind == "choice":
        return rng.options[0]
    if rng.kind == "flag":
        return False
    return rng.lo if rng.lo is not None else 1


def _frame(plan: _Plan, reasons: list[np.ndarray], chunks: list[dict[str, _Column]],
           picks: list[dict[str, np.ndarray]], valid_only: bool, pd):
    """Assemble the chunks into one typed DataFrame."""
    reason = np.concatenate(reasons) if reasons else np.zeros(0, np.int32)
    valid = reason == 0
    keep = valid if valid_only else np.ones(len(reason), bool)
    data: dict[str, Any] = {}
    for axis in plan.axes:
        pos = np.concatenate([p[axis.name] for p in picks]) if picks else np.zeros(0, np.int64)
        data[axis.name] = axis.column[pos[keep]]
    data["valid"] = valid[keep]
    data["reason"] = pd.Categorical.from_codes(reason[keep], categories=plan.reasons.texts)
    lengths = [len(r) for r in reasons]
    costs = {nm: _join([c.get(nm) for c in chunks], lengths, len(reason)) for nm in plan.cost_names}
    macs_parts = [costs[nm] for nm in plan.cost_names if nm.startswith("macs_")]
    totals = {"params": costs.get("params"), "macs": _sum(macs_parts, len(reason)),
              "mem_bytes": costs.get("mem_bytes")}
    totals["flops"] = _sum([totals["macs"], totals["macs"]], len(reason))
    order = ["params", "macs", "flops", "mem_bytes"] + [nm for nm in plan.cost_names
                                                         if nm not in ("params", "mem_bytes")]
    units: dict[str, str] = {}
    for nm in order:
        values = totals[nm] if nm in totals else costs[nm]
        data[nm] = _typed(values[keep], valid[keep], pd)
        units[nm] = _COST_UNITS.get(nm) or ("MACs" if nm.startswith("macs_") else
                                            "elementwise ops" if nm.startswith("elem_") else "see design")
    frame = pd.DataFrame(data, copy=False)  # the arrays are fresh: no 2-D consolidation copy
    frame.attrs["design"] = plan.cls.name or plan.cls.__name__
    frame.attrs["units"] = units
    counts = np.bincount(reason, minlength=len(plan.reasons.texts))
    frame.attrs["invalid"] = {t: int(c) for t, c in zip(plan.reasons.texts, counts) if t and c}
    frame.attrs["exact_rows"] = plan.exact_rows
    return frame


def _join(parts: list[_Column | None], lengths: list[int], n: int) -> np.ndarray:
    """One cost column over all chunks: int64 (float64 for a real extra), or object when an
    exactly recomputed value does not fit in int64. A chunk without the column holds 0 there."""
    is_float = any(p is not None and p.values.dtype.kind == "f" for p in parts)
    out = np.full(n, np.nan) if is_float else np.zeros(n, np.int64)
    overrides: dict[int, Any] = {}
    pos = 0
    for p, length in zip(parts, lengths):
        if p is not None:
            out[pos:pos + length] = p.values
            overrides.update({pos + r: v for r, v in p.exact.items()})
        pos += length
    if overrides and not is_float and not all(-(2**63) <= int(v) < 2**63 for v in overrides.values()):
        out = out.astype(object)  # int64 -> Python ints, then the big exact values
    for r, v in overrides.items():
        out[r] = v
    return out


def _sum(parts: list[np.ndarray], n: int) -> np.ndarray:
    """Exact elementwise sum: int64 unless a float64 shadow says it could wrap."""
    if not parts:
        return np.zeros(n, np.int64)
    if any(p.dtype == object for p in parts):
        return _py_sum(parts)
    shadow = sum(p.astype(float) for p in parts)
    if np.any(np.abs(shadow) >= SAFE):
        return _py_sum(parts)
    return functools.reduce(operator.add, parts)


def _py_sum(parts: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(parts[0]), dtype=object)
    out[:] = [sum(int(v) for v in row) for row in zip(*parts)]
    return out


def _typed(values: np.ndarray, valid: np.ndarray, pd):
    """int64 when every row is valid, nullable Int64 with <NA> on invalid rows, object if huge."""
    if values.dtype == object:
        out = values.copy()
        out[~valid] = None
        return out
    if values.dtype.kind == "f":
        out = values.copy()
        out[~valid] = np.nan
        return out
    if valid.all():
        return values
    return pd.arrays.IntegerArray(values.astype(np.int64), ~valid)


# --- many specs at once (a network's layers) -------------------------------------------------

def stack_costs(specs: Sequence[Spec]) -> dict[str, int]:
    """Exact totals over a list of specs (e.g. a network's layers).

    Specs of one class and structure that occur ``STACK_VECTOR_MIN`` times or more are evaluated
    in one numpy call (rows whose float64 shadow could have wrapped in int64 are recomputed with
    ``spec.costs()``); the rest use ``spec.costs()``. Returns params, macs (conv + linear),
    flops (= 2 x macs), mem_bytes and every per-kind quantity (``macs_conv``, ``elem_relu``...),
    summed; design-specific extras (e.g. Ghost's intrinsic channels) are not summed.
    """
    totals: dict[str, int] = {"params": 0, "macs_conv": 0, "macs_linear": 0, "mem_bytes": 0}
    groups: dict[tuple, list[Spec]] = {}
    if len(specs) >= STACK_VECTOR_MIN:  # only then can a group be large enough for numpy
        for s in specs:
            groups.setdefault((type(s), s.structure()), []).append(s)
    else:
        groups[()] = list(specs)
    for key, members in groups.items():
        cls, structure = key if key else (None, None)
        part = _group_totals(cls, structure, members) if len(members) >= STACK_VECTOR_MIN \
            else _py_totals(members)
        for nm, v in part.items():
            if nm in ("params", "mem_bytes") or nm.startswith(("macs_", "elem_")):  # extras don't add up
                totals[nm] = totals.get(nm, 0) + v
    totals["macs"] = sum(v for nm, v in totals.items() if nm.startswith("macs_"))
    totals["flops"] = 2 * totals["macs"]
    return totals


STACK_VECTOR_MIN = 256
"""Groups smaller than this take spec.costs() per spec: a numpy call costs more than a few
scalar calls (Python ints are exact anyway)."""


def _group_totals(cls: type[Spec], structure: tuple, members: list[Spec]) -> dict[str, int]:
    fields = cls.symbolic_fields()
    get = operator.attrgetter(*fields)
    rows = [get(s) for s in members] if len(fields) > 1 else [(get(s),) for s in members]
    columns = [np.asarray(col) for col in zip(*rows)]
    columns = [c.astype(np.int64) if c.dtype.kind == "b" else c for c in columns]
    if cls.derived_symbols:
        derived = [s.derived() for s in members]
        columns += [np.asarray([d[nm] for d in derived]) for nm in cls.derived_symbols]
    if any(c.dtype.kind not in "iuf" for c in columns):  # huge Python ints: exact path only
        return _py_totals(members)
    names, evaluate = _spec.vector_evaluator(cls, structure)
    with np.errstate(all="ignore"):
        results = evaluate(*columns)
    shadows, peak = _shadow(cls, structure, columns, len(members))
    risky = peak >= SAFE
    for value, shadow in zip(results, shadows):
        risky |= np.abs(shadow) >= SAFE
    if risky.any():
        return _py_totals(members)
    out = {}
    for nm, value in zip(names, results):
        value = np.asarray(value)
        out[nm] = int(np.trunc(value).astype(np.int64).sum()) if value.dtype.kind == "f" else sum(value.tolist())
    return out


def _py_totals(members: list[Spec]) -> dict[str, Any]:
    """Sums of spec.costs() (exact Python numbers)."""
    params = mem = 0
    macs: dict[str, Any] = {}
    elem: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for s in members:
        c = s.costs()
        params += c.params
        mem += c.mem_bytes
        for into, part in ((macs, c.macs_by_key), (elem, c.elementwise), (extra, c.extra)):
            for k, v in part.items():
                into[k] = into.get(k, 0) + v
    out: dict[str, Any] = {"params": params, "mem_bytes": mem}
    out.update({f"macs_{k}": v for k, v in macs.items()})
    out.update({f"elem_{k}": v for k, v in elem.items()})
    out.update(extra)
    return out


# --- Pareto fronts ---------------------------------------------------------------------------

def pareto_front(frame, objectives: Sequence[str] | str, maximize: bool | Sequence[bool] | None = None):
    """The rows of ``frame`` that no other row dominates on ``objectives`` (minimized by default).

    A row dominates another if it is no worse on every objective and better on one; rows with
    identical objectives do not dominate each other, so both stay. Invalid rows (``valid`` False)
    and rows with missing objectives are ignored. Two objectives: sort + running minimum,
    O(n log n). Three: sweep on the first objective with a staircase of the other two, O(n log n)
    searches. More: compare each row with the front so far. Values are compared exactly (big
    Python ints included): each column is replaced by its rank first. The front is returned
    sorted by the first objective, with the frame's index.
    """
    import pandas as pd

    objectives = [objectives] if isinstance(objectives, str) else list(objectives)
    if not objectives:
        raise ValueError("objectives = [] is invalid: allowed is one or more column names")
    missing = [o for o in objectives if o not in frame.columns]
    if missing:
        raise ValueError(f"objective {missing[0]!r} is not a column: allowed are {', '.join(map(str, frame.columns))}")
    if maximize is None or isinstance(maximize, bool):
        flip = [bool(maximize)] * len(objectives)
    else:
        flip = [bool(x) for x in maximize]
        if len(flip) != len(objectives):
            raise ValueError(f"maximize = {maximize!r} is invalid: allowed is one bool per objective")
    usable = pd.Series(True, index=frame.index)
    if "valid" in frame.columns:
        usable &= frame["valid"].astype(bool)
    for o in objectives:
        usable &= frame[o].notna()
    sub = frame[usable.to_numpy()]
    ranks = np.stack([_rank(sub[o], f) for o, f in zip(objectives, flip)], axis=1) if len(sub) else \
        np.zeros((0, len(objectives)), np.int64)
    keep = front_mask(ranks)
    front = sub[keep]
    first = ranks[keep, 0]
    return front.iloc[np.argsort(first, kind="stable")]


def _rank(column, maximize: bool) -> np.ndarray:
    """Dense ranks (0 = smallest), exact for object columns of Python ints; negated to maximize."""
    values = column.to_numpy()
    if values.dtype == object:
        uniq = sorted(set(values.tolist()))
        lookup = {v: i for i, v in enumerate(uniq)}
        rank = np.array([lookup[v] for v in values.tolist()], dtype=np.int64)
    else:
        values = np.asarray(values, dtype=float) if values.dtype.kind not in "iub" else values
        rank = np.unique(values, return_inverse=True)[1].ravel().astype(np.int64)
    return -rank if maximize else rank


def front_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of an (n, k) array (all objectives minimized)."""
    points = np.asarray(points)
    n, k = points.shape
    if n == 0:
        return np.zeros(0, bool)
    if k == 1:
        return points[:, 0] == points[:, 0].min()
    if k == 2:
        return _front2(points[:, 0], points[:, 1])
    if k == 3:
        return _front3(points)
    return _front_generic(points)


def _front2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sort by (a, b); a row is on the front if it has the least b of its a-group and that b is
    below every b of a strictly smaller a (a running minimum)."""
    order = np.lexsort((b, a))
    a_s, b_s = a[order], b[order]
    n = len(a_s)
    start = np.ones(n, bool)
    start[1:] = a_s[1:] != a_s[:-1]
    group_start = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    running = np.minimum.accumulate(b_s)
    prev = np.empty(n, dtype=float)
    has_prev = group_start > 0
    prev[~has_prev] = np.inf
    prev[has_prev] = running[group_start[has_prev] - 1]
    group_min = b_s[group_start]
    on = (b_s == group_min) & (group_min < prev)
    mask = np.zeros(n, bool)
    mask[order] = on
    return mask


def _front3(points: np.ndarray) -> np.ndarray:
    """Process groups of equal first objective in increasing order. A row is dominated by an
    earlier group iff the staircase (the 2-D front of (b, c) over earlier groups) holds a pair
    <= its (b, c); within its group, by the group's own 2-D front."""
    a, b, c = (points[:, i] for i in range(3))
    order = np.lexsort((c, b, a))
    mask = np.zeros(len(a), bool)
    stair_b: list = []  # increasing b
    stair_c: list = []  # strictly decreasing c
    a_s = a[order]
    bounds = np.flatnonzero(np.r_[True, a_s[1:] != a_s[:-1], True])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        rows = order[lo:hi]
        inner = _front2(b[rows], c[rows])
        for r, own in zip(rows.tolist(), inner.tolist()):
            if not own:
                continue
            bi, ci = b[r], c[r]
            j = bisect.bisect_right(stair_b, bi) - 1
            mask[r] = not (j >= 0 and stair_c[j] <= ci)
        for r in rows[inner].tolist():
            _stair_insert(stair_b, stair_c, b[r], c[r])
    return mask


def _stair_insert(stair_b: list, stair_c: list, bi, ci) -> None:
    j = bisect.bisect_right(stair_b, bi) - 1
    if j >= 0 and stair_c[j] <= ci:
        return  # weakly dominated: the staircase already covers it
    i = bisect.bisect_left(stair_b, bi)
    end = i
    while end < len(stair_b) and stair_c[end] >= ci:
        end += 1
    stair_b[i:end] = [bi]
    stair_c[i:end] = [ci]


def _front_generic(points: np.ndarray) -> np.ndarray:
    """Lexicographic order puts every dominator first; checking the front so far suffices
    because dominance is transitive."""
    order = np.lexsort(points.T[::-1])
    kept: list[int] = []
    for r in order.tolist():
        p = points[r]
        if kept:
            f = points[kept]
            if np.any(np.all(f <= p, axis=1) & np.any(f < p, axis=1)):
                continue
        kept.append(r)
    mask = np.zeros(len(points), bool)
    mask[kept] = True
    return mask


# --- command line ---------------------------------------------------------------------------

def parse_grid(text: str, rng: Range, flag_name: str = "value") -> list:
    """Grid text -> values: ``a:b:step`` (inclusive of b, step 1 if left out), comma lists and
    single values; flags take true/false/1/0/both; choices their option names."""
    values: list = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            raise ValueError(f"{flag_name} {text!r} is invalid: empty item in the list")
        values += _parse_token(token, rng, flag_name, text)
    return values


def _parse_token(token: str, rng: Range, flag_name: str, text: str) -> list:
    if rng.kind == "flag":
        lowered = token.lower()
        table = {"true": [True], "1": [True], "yes": [True], "false": [False], "0": [False],
                 "no": [False], "both": [False, True]}
        if lowered not in table:
            raise ValueError(f"{flag_name} {text!r} is invalid: allowed is true, false or both")
        return table[lowered]
    if rng.kind == "choice":
        for option in rng.options:
            if token in (str(option), repr(option)):
                return [option]
        raise ValueError(f"{flag_name} {text!r} is invalid: allowed is {rng.describe()}")
    parse = int if rng.kind == "int" else Fraction
    try:
        if ":" not in token:
            return [parse(token) if rng.kind == "int" else float(parse(token))]
        parts = token.split(":")
        if len(parts) not in (2, 3):
            raise ValueError
        lo, hi = parse(parts[0]), parse(parts[1])
        step = parse(parts[2]) if len(parts) == 3 else 1
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{flag_name} {text!r} is invalid: allowed is a:b:step, a comma list or one "
                         f"{'integer' if rng.kind == 'int' else 'number'}") from None
    if step <= 0 or hi < lo:
        raise ValueError(f"{flag_name} {token!r} is invalid: a:b:step needs a <= b and step > 0")
    count = int((hi - lo) // step) + 1
    if rng.kind == "int":
        return list(range(lo, lo + count * step, step))
    return [float(lo + i * step) for i in range(count)]


__all__ = ["sweep", "pareto_front", "front_mask", "stack_costs", "parse_grid", "accepts_array"]
