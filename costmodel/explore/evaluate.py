"""One chunk of sweep rows: validity, reason and exact costs, vectorized where provably exact.

Per row, in the constructor's order:
  1. each field through its ``Range.normalize`` (grid.py): the first field that refuses its
     value gives the reason, as the constructor's first failing range check does;
  2. rows whose values fit int64 / float64 and whose formulas the overflow guard (guard.py)
     proves exact in int64: the design's ``constraints()`` and cost formulas evaluated on whole
     columns (the first failing rule, in declaration order, gives the reason);
  3. every other row (a value or an intermediate int64 cannot hold): the real constructor and
     ``spec.costs()`` on the user's own values, Python ints throughout;
  4. a design that checks more in its own ``__post_init__`` than its ranges and constraints
     declare: every row that passed 1 and 2 is also built, so its own check decides.
Invalid rows are never evaluated (no default is substituted for anything).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..core import compile as _compile
from ..core import spec as _spec
from ..core.spec import Spec
from .grid import Axis, AxisView, Reasons
from .guard import exact_in_int64

COST_KINDS = ("macs_", "elem_")


@dataclasses.dataclass
class Column:
    """One cost column of a chunk: int64 / float64 values, plus exact Python values by row."""

    values: np.ndarray
    exact: dict[int, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Chunk:
    """The evaluated rows of one chunk."""

    views: dict[str, AxisView]
    reason: np.ndarray  # int32 codes into Plan.reasons, 0 = valid
    columns: dict[str, Column]
    exact_rows: int = 0


class Plan:
    """What is fixed for one sweep call: class, axes, reason table, cost names seen so far.
    One per call: nothing here is shared between threads."""

    def __init__(self, cls: type[Spec], axes: list[Axis], reasons: Reasons):
        self.cls = cls
        self.axes = axes
        self.reasons = reasons
        by_name = {a.name: a for a in axes}
        self.structural = [by_name[nm] for nm in cls.structural_fields()]
        self.symbolic = [by_name[nm] for nm in cls.symbolic_fields()]
        self.cost_names: list[str] = []  # union over structures, first-seen order
        # A design whose own __post_init__ checks more than its declared ranges and rules.
        self.own_check = cls.__post_init__ is not Spec.__post_init__

    def note_names(self, names) -> None:
        for nm in names:
            if nm not in self.cost_names:
                self.cost_names.append(nm)

    def fields_at(self, views: dict[str, AxisView], r: int, attr: str = "raw") -> dict[str, Any]:
        return {a.name: getattr(views[a.name], attr)[r] for a in self.axes}


def evaluate_chunk(plan: Plan, positions: list[np.ndarray]) -> Chunk:
    """Validity codes and cost columns of the rows at ``positions`` (one array per axis)."""
    views = {a.name: a.view(p) for a, p in zip(plan.axes, positions)}
    n = len(positions[0]) if positions else 0
    reason = np.zeros(n, dtype=np.int32)
    exact = np.zeros(n, bool)
    for axis in plan.axes:  # field order: the constructor checks the ranges first, in this order
        v = views[axis.name]
        reason = np.where(reason == 0, v.reason, reason)
        exact |= v.exact
    chunk = Chunk(views, reason, {})
    for structure, rows in _structure_groups(plan, views, np.flatnonzero(reason == 0)):
        _evaluate_group(plan, chunk, structure, rows, exact)
    return chunk


def _structure_groups(plan: Plan, views: dict[str, AxisView], rows: np.ndarray) -> Iterator[tuple[tuple, np.ndarray]]:
    """(structural values, rows) for each structural choice present among ``rows``."""
    if not plan.structural:
        yield (), rows
        return
    codes = np.stack([views[a.name].numeric[rows] for a in plan.structural])
    keys, inverse = np.unique(codes, axis=1, return_inverse=True)
    inverse = inverse.ravel()
    for g in range(keys.shape[1]):
        structure = tuple(a.structure_value(int(keys[i, g])) for i, a in enumerate(plan.structural))
        yield structure, rows[inverse == g] if keys.shape[1] > 1 else rows


def _evaluate_group(plan: Plan, chunk: Chunk, structure: tuple, rows: np.ndarray, exact: np.ndarray) -> None:
    cls = plan.cls
    names, evaluate = _spec.vector_evaluator(cls, structure)
    plan.note_names(names)
    slow = list(rows[exact[rows]].tolist())
    fast = rows[~exact[rows]]
    if len(fast):
        argv = [chunk.views[a.name].numeric[fast] for a in plan.symbolic]
        if cls.derived_symbols:
            derived, unsure, failed = _derived(plan, chunk, structure, fast)
            argv += derived
            if unsure.any() or failed.any():
                slow += fast[unsure & ~failed].tolist()
                keep = ~(unsure | failed)
                fast, argv = fast[keep], [a[keep] for a in argv]
        safe = exact_in_int64(cls, structure, argv, len(fast))
        if not safe.all():
            slow += fast[~safe].tolist()
            fast, argv = fast[safe], [a[safe] for a in argv]
        fast, argv = _apply_rules(plan, chunk, structure, fast, argv)
        if plan.own_check:
            fast, argv = _own_check(plan, chunk, fast, argv)
        if len(fast):
            with np.errstate(all="ignore"):
                results = evaluate(*argv)
            _store(chunk, names, fast, results, len(chunk.reason))
    if slow:
        _exact_rows(plan, chunk, sorted(slow))


def _apply_rules(plan: Plan, chunk: Chunk, structure: tuple, rows: np.ndarray, argv: list[np.ndarray]):
    """The design's cross-field rules on whole columns; rows that break one get its reason and
    leave the group."""
    rules, check = _constraint_vector(plan.cls, structure)
    if not rules or not len(rows):
        return rows, argv
    with np.errstate(all="ignore"):
        holds = check(*argv)
    broken = np.zeros(len(rows), bool)
    for rule, ok in zip(rules, holds):
        bad = ~np.broadcast_to(np.asarray(ok, dtype=bool), (len(rows),)) & ~broken
        if bad.any():
            chunk.reason[rows[bad]] = plan.reasons.code(_rule_reason(rule))
            broken |= bad
    if not broken.any():
        return rows, argv
    return rows[~broken], [a[~broken] for a in argv]


def _own_check(plan: Plan, chunk: Chunk, rows: np.ndarray, argv: list[np.ndarray]):
    """Build each row: the design's own __post_init__ has the last word."""
    refused = np.zeros(len(rows), bool)
    for i, r in enumerate(rows.tolist()):
        try:
            plan.cls(**plan.fields_at(chunk.views, r))
        except ValueError as exc:
            chunk.reason[r] = plan.reasons.code(_message_reason(plan.cls, str(exc)))
            refused[i] = True
    if not refused.any():
        return rows, argv
    return rows[~refused], [a[~refused] for a in argv]


def _store(chunk: Chunk, names: tuple[str, ...], rows: np.ndarray, results, n: int) -> None:
    for nm, value in zip(names, results):
        value = np.broadcast_to(np.asarray(value), (len(rows),))
        real_extra = value.dtype.kind == "f" and not nm.startswith(COST_KINDS) and nm not in ("params", "mem_bytes")
        if value.dtype.kind == "f" and not real_extra:
            value = np.trunc(value).astype(np.int64)  # Costs applies int(): toward zero
        col = chunk.columns.get(nm)
        if col is None:
            col = chunk.columns[nm] = Column(np.full(n, np.nan) if real_extra else np.zeros(n, np.int64))
        col.values[rows] = value


@functools.lru_cache(maxsize=None)
def _constraint_vector(cls: type[Spec], structure: tuple) -> tuple[tuple, Callable | None]:
    """The design's cross-field rules, compiled for numpy arrays."""
    rules = tuple(cls.constraints(cls.namespace(structure)))
    if not rules:
        return rules, None
    return rules, _compile.compile_vector([r.holds for r in rules], cls.argument_names())


@functools.lru_cache(maxsize=None)
def _constraint_scalar(cls: type[Spec], structure: tuple) -> tuple[tuple, Callable]:
    """The same rules on Python numbers: what the constructor evaluates."""
    rules = tuple(cls.constraints(cls.namespace(structure)))
    return rules, _compile.compile_scalar([r.holds for r in rules], cls.argument_names())


def _rule_reason(rule) -> str:
    return f"{rule.field}: {rule.allowed}"


# --- the exact path ---------------------------------------------------------------------------

def _exact_rows(plan: Plan, chunk: Chunk, rows: list[int]) -> None:
    """The real constructor and spec.costs() on the user's values: Python ints, exact."""
    chunk.exact_rows += len(rows)
    n = len(chunk.reason)
    for r in rows:
        fields = plan.fields_at(chunk.views, r)
        try:
            costs = plan.cls(**fields).costs()
        except ValueError as exc:
            chunk.reason[r] = plan.reasons.code(_exact_reason(plan, plan.fields_at(chunk.views, r, "normal"), exc))
            continue
        for nm, v in costs_dict(costs).items():
            col = chunk.columns.get(nm)
            if col is None:
                col = chunk.columns[nm] = Column(np.full(n, np.nan) if isinstance(v, float) else np.zeros(n, np.int64))
                plan.note_names([nm])
            col.exact[r] = v


def _exact_reason(plan: Plan, fields: dict[str, Any], exc: ValueError) -> str:
    """The reason for a row the constructor refused after its ranges passed: the first broken
    rule (evaluated exactly, on Python numbers), else the design's own message."""
    cls = plan.cls
    structure = tuple(fields[nm] for nm in cls.structural_fields())
    probe = object.__new__(cls)
    for nm, v in fields.items():
        object.__setattr__(probe, nm, v)
    try:
        values = probe.values()
        rules, check = _constraint_scalar(cls, structure)
        for rule, ok in zip(rules, check(*(values[nm] for nm in cls.argument_names())) if rules else ()):
            if not bool(ok):
                return _rule_reason(rule)
    except Exception as err:  # noqa: BLE001 - a design's derived() refusing the point
        return f"{type(err).__name__}: {err}"
    return _message_reason(cls, str(exc))


def _message_reason(cls: type[Spec], message: str) -> str:
    """"Cls.field = value is invalid: text" -> "field: text" (a design's own check)."""
    head, sep, text = message.partition(" is invalid: ")
    prefix = cls.__name__ + "."
    if sep and head.startswith(prefix) and " = " in head:
        return f"{head[len(prefix):].split(' = ', 1)[0]}: {text}"
    return message


def costs_dict(costs) -> dict[str, Any]:
    """A Costs as the sweep's column names: params, macs_<key>, elem_<kind>, mem_bytes, extras."""
    out: dict[str, Any] = {"params": costs.params}
    out.update({f"macs_{k}": v for k, v in costs.macs_by_key.items()})
    out.update({f"elem_{k}": v for k, v in costs.elementwise.items()})
    out["mem_bytes"] = costs.mem_bytes
    out.update(costs.extra)
    return out


# --- derived symbols ----------------------------------------------------------------------------

def _derived(plan: Plan, chunk: Chunk, structure: tuple, rows: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The design's derived values at ``rows``, a mask of rows only the exact path can take, and
    a mask of rows whose derived() raised (they get that as their reason: the constructor
    raises it too).

    ``derived()`` runs once on whole int64 columns when it is plain arithmetic: accepted only if
    it gives integer arrays, a float64 run agrees on every row below 2**53 (no wrap-around) and
    the scalar call agrees on a few rows; else it runs once per row."""
    cls = plan.cls
    m = len(rows)
    vector = _vector_derived(plan, chunk, structure, rows)
    if vector is not None:
        return vector
    out = [np.zeros(m, np.int64) for _ in cls.derived_symbols]
    unsure = np.zeros(m, bool)
    failed = np.zeros(m, bool)
    for i, r in enumerate(rows.tolist()):
        try:
            scalar = _scalar_derived(plan, chunk, r)
        except Exception as err:  # noqa: BLE001 - the constructor would raise this
            chunk.reason[r] = plan.reasons.code(f"{type(err).__name__}: {err}")
            failed[i] = True
            continue
        for col, nm in zip(out, cls.derived_symbols):
            if abs(scalar[nm]) < 2**53:
                col[i] = scalar[nm]
            else:
                unsure[i] = True
    return out, unsure, failed


def _vector_derived(plan: Plan, chunk: Chunk, structure: tuple, rows: np.ndarray):
    cls = plan.cls
    m = len(rows)
    try:
        with np.errstate(all="ignore"):
            ints = _probe_derived(plan, chunk, structure, rows, None)
            floats = _probe_derived(plan, chunk, structure, rows, float)
        out = []
        unsure = np.zeros(m, bool)
        for nm in cls.derived_symbols:
            arr = np.broadcast_to(np.asarray(ints[nm]), (m,))
            shadow = np.broadcast_to(np.asarray(floats[nm], dtype=float), (m,))
            if arr.dtype.kind not in "iu":
                return None
            unsure |= ~(np.abs(shadow) < 2**53) | (arr != shadow)
            out.append(arr.astype(np.int64))
        for i in range(0, m, max(1, m // 8))[:8]:
            scalar = _scalar_derived(plan, chunk, int(rows[i]))
            if any(int(col[i]) != scalar[nm] for col, nm in zip(out, cls.derived_symbols)):
                return None
    except Exception:  # noqa: BLE001 - not plain arithmetic: one call per row
        return None
    return out, unsure, np.zeros(m, bool)


def _probe_derived(plan: Plan, chunk: Chunk, structure: tuple, rows: np.ndarray, dtype) -> dict:
    """derived() of a stand-in whose symbolic fields are whole columns (as they are, or all
    float64 for the shadow run)."""
    probe = object.__new__(plan.cls)
    for axis in plan.axes:
        if axis.rng.kind == "choice":
            object.__setattr__(probe, axis.name, structure[plan.structural.index(axis)])
        else:
            column = chunk.views[axis.name].numeric[rows]
            object.__setattr__(probe, axis.name, column if dtype is None else column.astype(dtype))
    return probe.derived()


def _scalar_derived(plan: Plan, chunk: Chunk, r: int) -> dict[str, int]:
    probe = object.__new__(plan.cls)
    for nm, v in plan.fields_at(chunk.views, r, "normal").items():
        object.__setattr__(probe, nm, v)
    return {nm: int(v) for nm, v in probe.derived().items()}
