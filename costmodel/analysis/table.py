"""The result of ``analyze()``: per-layer rows (designs collapsed), totals, unknowns, fvcore column.

Rows come from the records in execution order; a module tagged ``.costmodel_spec`` (built by
``Spec.module()``) becomes one row with the design's formulas (``spec.costs()``, or the executed
costs of a dynamic design) and its leaf records are checked against it (column ``leaf_check``).
Bytes of a record: (inputs + output + weights) x element width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..peers.fvcore import COUNTED as FVCORE_COUNTED
from .recording import Record, SpecCall


@dataclass
class Analysis:
    """The per-layer table, totals and unknowns of one model at one input shape."""

    table: Any  # pandas.DataFrame: one row per layer (recognised designs collapsed)
    records: list[Record]  # every leaf-level record (what reconcile() uses)
    totals: dict[str, Any]
    unknown: Any  # pandas.DataFrame of modules/functions with no rule, with their shapes
    by_module: Any  # pandas.DataFrame: ours (fvcore's convention) vs fvcore.by_module(), per path
    input_shape: tuple[int, ...]
    fvcore_total: int | None = None
    fvcore_by_operator: dict[str, int] | None = None  # fvcore's by_operator() (MACs / ops)
    watched: list[dict[str, Any]] = field(default_factory=list)  # calls through watched attributes
    classes: dict[str, str] = field(default_factory=dict)  # module path -> class name

    def hierarchy(self, depth: int = 2):
        """torchinfo's view: one row per module up to ``depth`` levels below the root (the root is
        level 0), each with the subtotal of every row inside it; batch as analysed."""
        return hierarchy(self, depth)

    @property
    def params(self) -> int:
        return self.totals["params"]

    @property
    def macs(self) -> int:
        """conv + linear (+ matmul) MACs, for the whole input batch."""
        return self.totals["MACs"]

    def __repr__(self) -> str:
        return (f"Analysis(input={self.input_shape}, params={self.params:,}, MACs={self.macs:,}, "
                f"rows={len(self.table)}, unknown={len(self.unknown)})")


def record_bytes(r: Record, width: int) -> int:
    """(elements read + written + weights) x element width."""
    return width * (r.reads + r.writes + r.params)


def _spec_costs(call: SpecCall, batch: int):
    """(costs, spec, how) for a tagged module call, or None when its spec does not fit the shape."""
    spec = call.module.costmodel_spec
    want = tuple(spec.input_shape()[1:])
    got = tuple(call.in_shape[1:])
    spatial = [nm for nm, rng in spec.field_ranges().items() if rng.role == "spatial"]  # (h, w)
    if want != got and not (not spatial and math.prod(want) == math.prod(got)):
        # (a spec without spatial fields, e.g. a classifier, accepts any layout of its features)
        if len(got) == 3 and len(spatial) == 2 and want[:1] == got[:1]:
            try:
                spec = spec.replace(**dict(zip(spatial, got[1:])))
            except ValueError:
                return None
        else:
            return None
    if spec.dynamic:  # the declared hook: what the last forward ran (DGC)
        return spec.executed_costs(call.module, batch), spec, "executed"
    return spec.costs(), spec, "formula"


def _spec_row(call: SpecCall, inside: list[Record], batch: int, width: int) -> dict | None:
    found = _spec_costs(call, batch)
    if found is None:
        return None
    costs, spec, how = found
    scale = batch  # design costs are per sample (executed ones too)
    macs = {k: v * scale for k, v in costs.macs_by_key.items()}
    elem = {k: v * scale for k, v in costs.elementwise.items()}
    leaf_macs: dict[str, int] = {}
    leaf_elem: dict[str, int] = {}
    for r in inside:
        if r.mac_key:
            leaf_macs[r.mac_key] = leaf_macs.get(r.mac_key, 0) + (r.macs or 0)
        elif r.elem:
            leaf_elem[r.kind] = leaf_elem.get(r.kind, 0) + r.elem
    same_macs = all(leaf_macs.get(k, 0) == v for k, v in macs.items()) and \
        all(macs.get(k, 0) == v for k, v in leaf_macs.items())
    # every elementwise kind, not only fvcore's: the designs use the same conventions as here
    same_elem = all(elem.get(k, 0) == leaf_elem.get(k, 0) for k in set(elem) | set(leaf_elem))
    params = sum(r.params for r in inside)
    check = (params == costs.params and same_macs and same_elem and all(r.known for r in inside))
    if how == "formula":  # the activations scale with the batch, the weights are read once
        ops = spec.op_rows()
        traffic = scale * sum(op["reads"] + op["writes"] for op in ops) + sum(op["params"] for op in ops)
        mem = width * traffic
    else:  # a dynamic design without a static op table: what its leaves moved
        mem = sum(record_bytes(r, width) for r in inside)
    fv = sum(macs.values()) + sum(v for k, v in elem.items() if k in FVCORE_COUNTED)
    return {"path": call.path, "layer": spec.title or spec.name, "kind": spec.name,
            "module": type(call.module).__name__, "input": fmt(call.in_shape),
            "output": fmt(call.out_shape), "params": params, "MACs": sum(macs.values()),
            "conv MACs": macs.get("conv", 0), "linear MACs": macs.get("linear", 0),
            "elementwise ops": sum(elem.values()), "mem bytes": mem, "_fv": fv,
            "source": f"design {spec.name} ({how})", "leaf_check": check, "_elem": elem}


def _record_row(r: Record, width: int) -> dict:
    unknown = not r.known
    return {"path": r.path, "layer": r.layer, "kind": r.kind, "module": r.module,
            "input": " ".join(fmt(s) for s in r.in_shapes), "output": fmt(r.out_shape),
            "params": r.params, "MACs": None if unknown else (r.macs or 0),
            "conv MACs": (r.macs or 0) if r.mac_key == "conv" else 0,
            "linear MACs": (r.macs or 0) if r.mac_key == "linear" else 0,
            "elementwise ops": None if unknown else (0 if r.mac_key else (r.elem or 0)),
            "mem bytes": None if unknown else record_bytes(r, width), "_fv": r.fvcore_view(), "source": r.source,
            "leaf_check": None, "_elem": {} if (unknown or r.mac_key or not r.elem) else {r.kind: r.elem}}


ROW_COLUMNS = ("path", "layer", "kind", "module", "input", "output", "params", "MACs", "conv MACs", "linear MACs",
               "elementwise ops", "mem bytes", "_fv", "source", "leaf_check", "_elem")
"""The columns of a table row (``_fv`` and ``_elem`` are dropped from the DataFrame)."""


def fmt(shape: tuple[int, ...]) -> str:
    """A shape as text: 1x3x224x224."""
    return "x".join(map(str, shape))


def rows(records: list[Record], calls: list[SpecCall], batch: int, width: int, collapse: bool
         ) -> tuple[list[dict], list[bool]]:
    """Table rows in execution order: a collapsed row per outermost usable design call."""
    covered: dict[int, dict] = {}  # first record index -> spec row
    skip: set[int] = set()
    checks: list[bool] = []
    if collapse:
        for call in sorted(calls, key=lambda c: (c.first, -(c.last - c.first))):
            if call.first in skip or any(i in skip for i in range(call.first, call.last)):
                continue
            row = _spec_row(call, records[call.first:call.last], batch, width)
            if row is None:
                continue
            covered[call.first] = row
            skip.update(range(call.first, call.last))
            checks.append(bool(row["leaf_check"]))
    out: list[dict] = []
    emitted: set[int] = set()
    for i, r in enumerate(records):
        if i in covered:
            out.append(covered[i])
            emitted.add(i)
        if i in skip:
            continue
        if r.kind == "free":
            continue
        out.append(_record_row(r, width))
    for first, row in covered.items():  # an empty design call (no records) still gets its row
        if first not in emitted:
            out.append(row)
    return out, checks


def assemble(records, rows_, checks, shape, width, fv_modules, fv_total) -> Analysis:
    """The Analysis: the DataFrame, totals (conv / linear MACs, elementwise by kind), unknowns."""
    import pandas as pd

    frame = pd.DataFrame(rows_, columns=ROW_COLUMNS)  # the columns even when every op was free
    ours_fv: dict[str, int] = {}
    for row in rows_:
        if row["source"] != "function":
            ours_fv[row["path"]] = ours_fv.get(row["path"], 0) + row["_fv"]
    by_module = None
    if fv_modules is not None:
        frame["fvcore"] = [fv_modules.get(p) if s != "function" else None
                           for p, s in zip(frame["path"], frame["source"])]
        # no verdict where we cannot have one: a function row, or a module with an unknown op inside
        unknown_paths = {r.path for r in records if not r.known}
        frame["fvcore_match"] = [None if s == "function" or p in unknown_paths else ours_fv.get(p) == f
                                 for p, f, s in zip(frame["path"], frame["fvcore"], frame["source"])]
        by_module = pd.DataFrame([{"path": p, "ours (fvcore convention)": v, "fvcore": fv_modules.get(p, 0),
                                   "match": v == fv_modules.get(p, 0)} for p, v in ours_fv.items()])
    elem: dict[str, int] = {}
    macs = {"conv": 0, "linear": 0}
    for row in rows_:
        macs["conv"] += row["conv MACs"]
        macs["linear"] += row["linear MACs"]
        for k, v in row["_elem"].items():
            elem[k] = elem.get(k, 0) + v
    unknown_rows = [r for r in records if not r.known]
    unknown = pd.DataFrame([{"path": r.path, "module": r.module, "source": r.source,
                             "input": " ".join(fmt(s) for s in r.in_shapes), "output": fmt(r.out_shape),
                             "params": r.params} for r in unknown_rows],
                           columns=["path", "module", "source", "input", "output", "params"])
    fv_ours = sum(row["_fv"] for row in rows_)
    totals = {"params": int(sum(r.params for r in records)), "MACs": macs["conv"] + macs["linear"],
              "conv MACs": macs["conv"], "linear MACs": macs["linear"],
              "FLOPs": 2 * (macs["conv"] + macs["linear"]), "elementwise": elem,
              "elementwise ops": sum(elem.values()),
              "mem bytes": int(sum(row["mem bytes"] or 0 for row in rows_)),
              "activation memory (MB)": width * sum(r.writes for r in records if r.known and r.kind != "free") / 1e6,
              "fvcore convention (MACs + BN + pools)": fv_ours, "fvcore total": fv_total,
              "unknown": len(unknown_rows), "unknown params": int(sum(r.params for r in unknown_rows)),
              "designs recognised": len(checks),
              "designs matching their leaves": sum(checks)}
    frame = frame.drop(columns=["_fv", "_elem"])
    for col in ("MACs", "elementwise ops", "mem bytes"):
        frame[col] = frame[col].astype("Int64")
    return Analysis(frame, records, totals, unknown, by_module, shape, fv_total)


def _prefixes(path: str, depth: int) -> list[str]:
    """The module paths that contain ``path`` (root "" first), down to ``depth`` levels."""
    parts = path.split(".") if path else []
    return [".".join(parts[:i]) for i in range(min(depth, len(parts)) + 1)]


def hierarchy(result: Analysis, depth: int):
    """Per-module subtotals (params, MACs, elementwise ops, mem bytes, unknown rows) in execution
    order, ``level`` = depth below the root; exact ints (pandas nullable Int64)."""
    import pandas as pd

    if depth < 0:
        raise ValueError(f"depth = {depth} is invalid: allowed is an integer >= 0")
    totals: dict[str, dict[str, int]] = {}
    for row in result.table.to_dict("records"):
        for prefix in _prefixes(row["path"], depth):
            acc = totals.setdefault(prefix, {"params": 0, "MACs": 0, "elementwise ops": 0, "mem bytes": 0,
                                             "unknown": 0})
            unknown = pd.isna(row["MACs"])
            acc["unknown"] += int(unknown)
            acc["params"] += int(row["params"])
            for col in ("MACs", "elementwise ops", "mem bytes"):
                acc[col] += 0 if pd.isna(row[col]) else int(row[col])
    out = []
    for path, acc in totals.items():
        level = len(path.split(".")) if path else 0
        name = path.rsplit(".", 1)[-1] if path else "(model)"
        out.append({"level": level, "module": "  " * level + name, "path": path,
                    "class": result.classes.get(path, ""), **acc})
    frame = pd.DataFrame(out, columns=["level", "module", "path", "class", "params", "MACs", "elementwise ops",
                                       "mem bytes", "unknown"])
    return frame
