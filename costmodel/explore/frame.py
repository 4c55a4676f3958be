"""Sweep chunks -> one typed DataFrame.

Columns: the fields (each row's normalised value; the given value where it is invalid),
``valid``, ``reason`` (categorical, "" when valid), then ``params``, ``macs`` (conv + linear),
``flops`` (= 2 x macs), ``mem_bytes`` and every per-kind quantity. A cost column is int64 when
every row is valid, nullable Int64 (<NA> on invalid rows) otherwise, and ``object`` (exact Python
ints) as soon as one value does not fit in int64: never a float standing in for an integer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .evaluate import COST_KINDS, Chunk, Column, Plan

COST_UNITS = {"params": "parameters", "macs": "MACs", "flops": "FLOPs (= 2 x MACs)", "mem_bytes": "bytes"}
SUM_SAFE = 2.0**62
"""An int64 sum of parts whose |parts| add up (in float64) to this or more is done in Python ints."""


def unit_of(name: str) -> str:
    return COST_UNITS.get(name) or ("MACs" if name.startswith("macs_") else
                                    "elementwise ops" if name.startswith("elem_") else "see design")


def build_frame(plan: Plan, chunks: list[Chunk], valid_only: bool, cost_names: list[str] | None = None):
    """One DataFrame from evaluated chunks (in order)."""
    import pandas as pd

    names = plan.cost_names if cost_names is None else cost_names
    reason = np.concatenate([c.reason for c in chunks]) if chunks else np.zeros(0, np.int32)
    valid = reason == 0
    keep = valid if valid_only else np.ones(len(reason), bool)
    data: dict[str, Any] = {}
    for axis in plan.axes:
        parts = [c.views[axis.name].column for c in chunks]
        column = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        data[axis.name] = column[keep]
    data["valid"] = valid[keep]
    data["reason"] = pd.Categorical.from_codes(reason[keep], categories=plan.reasons.texts)
    lengths = [len(c.reason) for c in chunks]
    costs = {nm: _join([c.columns.get(nm) for c in chunks], lengths, len(reason)) for nm in names}
    macs = _sum([costs[nm] for nm in names if nm.startswith("macs_")], len(reason))
    totals = {"params": costs.get("params"), "macs": macs, "flops": _sum([macs, macs], len(reason)),
              "mem_bytes": costs.get("mem_bytes")}
    order = ["params", "macs", "flops", "mem_bytes"] + [nm for nm in names if nm not in ("params", "mem_bytes")]
    for nm in order:
        values = totals[nm] if nm in totals else costs[nm]
        if values is None:
            values = np.zeros(len(reason), np.int64)
        data[nm] = _typed(values[keep], valid[keep], pd)
    frame = pd.DataFrame(data, copy=False)  # fresh arrays: no 2-D consolidation copy
    frame.attrs["design"] = plan.cls.name or plan.cls.__name__
    frame.attrs["units"] = {nm: unit_of(nm) for nm in order}
    counts = np.bincount(reason, minlength=len(plan.reasons.texts))
    frame.attrs["invalid"] = {t: int(c) for t, c in zip(plan.reasons.texts, counts) if t and c}
    frame.attrs["exact_rows"] = sum(c.exact_rows for c in chunks)
    return frame


def _join(parts: list[Column | None], lengths: list[int], n: int) -> np.ndarray:
    """One cost column over all chunks: int64 (float64 for a real extra), or object when an
    exactly computed value does not fit in int64. A chunk without the column holds 0 there."""
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
    """Exact elementwise sum: int64 unless the parts could add up past int64."""
    if not parts:
        return np.zeros(n, np.int64)
    if any(p.dtype == object for p in parts):
        return _py_sum(parts)
    bound = sum(np.abs(p.astype(float)) for p in parts)
    if np.any(bound >= SUM_SAFE):
        return _py_sum(parts)
    total = parts[0].copy()
    for p in parts[1:]:
        total += p
    return total


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


__all__ = ["build_frame", "COST_KINDS", "unit_of"]
