"""Exact cost totals over many specs at once (a network's layers).

Specs of one class and structure that occur often enough are evaluated in one numpy call; rows
the overflow guard (guard.py) cannot prove exact in int64 take ``spec.costs()``, as do small
groups (Python ints are exact anyway).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core import spec as _spec
from ..core.spec import Spec
from .evaluate import costs_dict
from .guard import exact_in_int64


def stack_costs(specs: Sequence[Spec]) -> dict[str, int]:
    """Exact totals over a list of specs (e.g. a network's layers).

    Specs of one class and structure that occur ``STACK_VECTOR_MIN`` times or more are evaluated
    in one numpy call (rows the overflow guard cannot prove exact in int64 are recomputed with
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
    safe = exact_in_int64(cls, structure, columns, len(members))
    if not safe.all():  # rows the int64 run could get wrong: spec.costs() for those
        exact = _py_totals([s for s, ok in zip(members, safe.tolist()) if not ok])
        fast = _group_totals(cls, structure, [s for s, ok in zip(members, safe.tolist()) if ok]) \
            if safe.any() else {}
        return {nm: fast.get(nm, 0) + exact.get(nm, 0) for nm in {**fast, **exact}}
    names, evaluate = _spec.vector_evaluator(cls, structure)
    with np.errstate(all="ignore"):
        results = evaluate(*columns)
    out = {}
    for nm, value in zip(names, results):
        value = np.asarray(value)
        out[nm] = int(np.trunc(value).astype(np.int64).sum()) if value.dtype.kind == "f" else sum(value.tolist())
    return out


def _py_totals(members: list[Spec]) -> dict[str, Any]:
    """Sums of spec.costs() (exact Python numbers), by the sweep's column names."""
    out: dict[str, Any] = {"params": 0, "mem_bytes": 0}
    for s in members:
        for nm, v in costs_dict(s.costs()).items():
            out[nm] = out.get(nm, 0) + v
    return out
