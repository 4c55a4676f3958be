"""The public sweep: exact costs over a grid or a random sample of one design's space.

``sweep("group_conv", c_out=range(16, 1025, 16), groups=[1, 2, 4, 8])`` evaluates every
configuration of a grid (or a random sample of it) from the design's compiled formulas, chunk by
chunk (evaluate.py). Memory is bounded before anything is allocated: the grid size is a product
of axis lengths, checked against ``max_points``; the frame a call would return is estimated
(rows x columns x ``ROW_BYTES_PER_COLUMN``) and checked against ``memory_budget``. Larger
samples stream: ``iter_sweep`` yields one DataFrame per chunk and ``write_sweep`` writes them to
CSV or Parquet as they come.

Units: params (parameters), MACs, FLOPs (= 2 x MACs), elementwise ops, bytes; ``frame.attrs
["units"]`` names the unit of every cost column. Each call owns all its state (axes, reason
table, overflow recorder), so concurrent sweeps from several threads give the serial results.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..core import spec as _spec
from ..core.fields import check_count
from ..core.spec import Range, Spec
from .evaluate import Chunk, Plan, evaluate_chunk
from .frame import build_frame
from .grid import Axis, Reasons, Shuffle, grid_positions, split_rows

MAX_POINTS = 20_000_000
"""A full grid larger than this raises (use ``sample=``)."""

CHUNK = 1 << 18
"""Rows evaluated per step (bounds memory; the progress callback fires once per chunk)."""

MEMORY_BUDGET = 4 << 30
"""Default bytes a returned frame may take (estimated before allocation); streams are bounded by
one chunk instead."""

ROW_BYTES_PER_COLUMN = 16
"""Estimate of one cell: 8 bytes of int64 / pointer plus headroom for Python ints and copies."""


@dataclasses.dataclass
class _Setup:
    plan: Plan
    sizes: list[int]
    n_rows: int
    sample: int | None
    seed: int
    note: str = ""
    """Set when ``sample`` asked for more points than the grid has (each point is drawn once)."""


def _resolve(design: str | type[Spec] | Spec) -> tuple[type[Spec], dict[str, Any]]:
    """The Spec class and the default value of each field (an instance's values, if given)."""
    if isinstance(design, Spec):
        cls = type(design)
        return cls, {nm: getattr(design, nm) for nm in cls.field_ranges()}
    if isinstance(design, str):
        from ..core.registry import get_design

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


def _setup(design, sample, seed, max_points, grids) -> _Setup:
    seed = check_count("seed", seed, 0)
    max_points = check_count("max_points", max_points, 1)
    cls, defaults = _resolve(design)
    ranges: dict[str, Range] = cls.field_ranges()
    unknown = sorted(set(grids) - set(ranges))
    if unknown:
        raise ValueError(f"{unknown[0]} is not a field of {cls.__name__}: allowed are {', '.join(ranges)}")
    missing = [nm for nm in ranges if nm not in grids and nm not in defaults]
    if missing:
        raise ValueError(f"{missing[0]} has no default in {cls.__name__}: give it a value or a grid")
    note = ""
    reasons = Reasons()
    axes = [Axis(nm, rng, grids[nm] if nm in grids else defaults[nm], reasons) for nm, rng in ranges.items()]
    sizes = [a.size for a in axes]
    total = math.prod(sizes)  # Python ints: exact, nothing allocated
    if sample is not None:
        # 0 rows is never what a user means (an empty file that looks like a result): refused
        sample = check_count("sample", sample, 1)
        n_rows = min(sample, total)
        if n_rows < sample:
            note = (f"sample = {int(sample):,} is more than the {total:,} points of the grid: "
                    f"each point drawn once ({total:,} rows)")
    elif total > max_points:
        raise ValueError(f"the grid has {total:,} points, more than max_points = {max_points:,}: "
                         f"allowed is a smaller grid, or sample=N random points")
    else:
        n_rows = total
    return _Setup(Plan(cls, axes, reasons), sizes, n_rows, sample, seed, note)


def _chunks(s: _Setup, progress: Callable[[int], Any] | None) -> Iterator[Chunk]:
    shuffle = Shuffle(math.prod(s.sizes), s.seed) if s.sample is not None else None
    for start in range(0, s.n_rows, CHUNK):
        stop = min(s.n_rows, start + CHUNK)
        if shuffle is not None:
            positions = split_rows(shuffle(start, stop), s.sizes)
        else:
            positions = grid_positions(s.sizes, start, stop)
        chunk = evaluate_chunk(s.plan, positions)
        if progress is not None:
            progress(stop - start)
        yield chunk


def _row_bytes(cls: type[Spec]) -> int:
    structure = tuple(f.default for f in dataclasses.fields(cls) if f.name in cls.structural_fields())
    names = _spec.vector_evaluator(cls, structure)[0]
    return ROW_BYTES_PER_COLUMN * (len(cls.field_ranges()) + len(names) + 4)  # + valid, reason, macs, flops


def sweep(design: str | type[Spec] | Spec, sample: int | None = None, seed: int = 0, *,
          valid_only: bool = False, progress: Callable[[int], Any] | None = None,
          max_points: int = MAX_POINTS, memory_budget: int = MEMORY_BUDGET, **grids: Any):
    """Exact costs of every configuration of a grid, as a DataFrame (one row per point).

    ``grids`` maps field names to values: a scalar, a list, a ``range`` or an array (kept as
    given: a range is never expanded). Fields not given keep their defaults (or the values of
    ``design`` when it is a spec instance). With ``sample=N``, N points are drawn uniformly from
    the grid instead of enumerating it: distinct points (the first N rows of a seeded random
    permutation of the grid, reproducible with ``seed``; no grid is built). N larger than the
    grid draws every point once, and ``frame.attrs["note"]`` says so; N < 1 raises ValueError. The first field varies
    slowest in a full grid.

    Every row says what the constructor says for that configuration: ``valid`` (bool) and
    ``reason`` (categorical; "" when valid, else "field: allowed ..." as the constructor words
    it), then ``params``, ``macs`` (conv + linear), ``flops`` (= 2 x macs), ``mem_bytes`` and
    every per-kind quantity (``macs_conv``, ``elem_relu``, ...). Cost columns are int64, nullable
    ``Int64`` when some points are invalid (<NA> there), or ``object`` holding exact Python ints
    when a value exceeds int64. ``frame.attrs``: ``design``, ``units``, ``invalid`` (reason ->
    count), ``exact_rows`` (rows computed on the exact Python-int path). ``valid_only=True``
    drops invalid rows (an all-invalid sweep returns an empty frame with the typed columns).
    ``progress(k)`` is called after each chunk of k rows.

    Raises ValueError before allocating when the full grid has more than ``max_points`` points,
    or when the frame would take more than ``memory_budget`` bytes (estimated): stream with
    ``iter_sweep`` / ``write_sweep`` instead. (A design field named like one of the keyword
    arguments could not be swept; none exists.)
    """
    memory_budget = check_count("memory_budget", memory_budget, 1)
    s = _setup(design, sample, seed, max_points, grids)
    need = s.n_rows * _row_bytes(s.plan.cls)
    if need > memory_budget:
        raise ValueError(f"sample = {s.n_rows:,} rows would take about {need / 2**20:,.0f} MiB, more than "
                         f"memory_budget = {memory_budget / 2**20:,.0f} MiB: allowed is fewer rows, or "
                         f"write_sweep(...) / --out FILE to stream them")
    chunks = list(_chunks(s, progress))
    if not chunks:  # still compile once, so that the empty frame has every cost column
        _note_default_names(s.plan)
    frame = build_frame(s.plan, chunks, valid_only)
    frame.attrs["note"] = s.note
    return frame


def _note_default_names(plan: Plan) -> None:
    cls = plan.cls
    structure = tuple(f.default for f in dataclasses.fields(cls) if f.name in cls.structural_fields())
    plan.note_names(_spec.vector_evaluator(cls, structure)[0])


def iter_sweep(design: str | type[Spec] | Spec, sample: int | None = None, seed: int = 0, *,
               valid_only: bool = False, progress: Callable[[int], Any] | None = None,
               max_points: int = MAX_POINTS, **grids: Any) -> Iterator[Any]:
    """``sweep`` one chunk at a time: yields a DataFrame of at most ``CHUNK`` rows per step (the
    same rows, in the same order, as ``sweep`` with the same arguments). Memory stays one chunk
    however large ``sample`` is. Each frame's ``attrs`` hold that chunk's counts."""
    s = _setup(design, sample, seed, max_points, grids)
    for chunk in _chunks(s, progress):
        frame = build_frame(s.plan, [chunk], valid_only)
        frame.attrs["note"] = s.note
        yield frame


def check_writable(path: str | os.PathLike) -> None:
    """ValueError unless ``path`` names a file that can be created (checked before long work):
    not a directory, its folder exists, and the name is free or a file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"out = {path!r} is invalid: it is a directory; allowed is a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"out = {path!r} is invalid: folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ValueError(f"out = {path!r} is invalid: it cannot be written (permission denied)")


def write_sweep(path: str | os.PathLike, design: str | type[Spec] | Spec, sample: int | None = None,
                seed: int = 0, *, valid_only: bool = False, progress: Callable[[int], Any] | None = None,
                max_points: int = MAX_POINTS, on_chunk: Callable[[Any], Any] | None = None,
                **grids: Any) -> dict[str, Any]:
    """Stream a sweep to ``path``: Parquet when it ends in ``.parquet`` (pyarrow), else CSV.
    Memory stays one chunk. ``on_chunk(frame)`` sees each chunk (e.g. for a running Pareto
    front). Returns the summary: ``rows``, ``valid``, ``invalid`` (reason -> count),
    ``exact_rows``, ``note`` (as ``sweep``'s).

    Parquet stores every cost column as decimal256(76, 0) (exact integers of any size a sweep
    can produce; <NA> on invalid rows), integer and flag fields as int64 / bool where the field's
    range fits (an invalid given value is stored as null; the reason names it), and the other
    fields and the reason as text."""
    check_writable(path)
    parquet = os.fspath(path).endswith(".parquet")
    summary: dict[str, Any] = {"rows": 0, "valid": 0, "invalid": {}, "exact_rows": 0}
    writer = None
    s = _setup(design, sample, seed, max_points, grids)
    summary["note"] = s.note
    try:
        for i, chunk in enumerate(_chunks(s, progress)):
            frame = build_frame(s.plan, [chunk], valid_only)
            _count(summary, frame)
            if on_chunk is not None:
                on_chunk(frame)
            if parquet:
                writer = _write_parquet(writer, path, s.plan, frame)
            else:
                frame.to_csv(path, mode="w" if i == 0 else "a", header=i == 0, index=False)
        if summary["rows"] == 0:  # an empty sweep still writes the header / schema
            _note_default_names(s.plan)
            frame = build_frame(s.plan, [], valid_only)
            if parquet:
                writer = _write_parquet(writer, path, s.plan, frame)
            else:
                frame.to_csv(path, index=False)
    finally:
        if writer is not None:
            writer.close()
    return summary


def _count(summary: dict[str, Any], frame) -> None:
    summary["rows"] += len(frame)
    summary["valid"] += int(frame["valid"].sum())
    summary["exact_rows"] += frame.attrs["exact_rows"]
    for text, c in frame.attrs["invalid"].items():
        summary["invalid"][text] = summary["invalid"].get(text, 0) + c


def _write_parquet(writer, path, plan: Plan, frame):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if writer is None:
        writer = pq.ParquetWriter(os.fspath(path), _schema(plan, frame))
    arrays = [_arrow_column(frame[f.name], f.type, pa) for f in writer.schema]
    writer.write_table(pa.Table.from_arrays(arrays, schema=writer.schema))
    return writer


def _schema(plan: Plan, frame):
    """Fixed before the first chunk, from the fields' ranges and the cost names, so that every
    chunk fits it (a later chunk may hold values far larger than the first)."""
    import pyarrow as pa

    fields = []
    for axis in plan.axes:
        rng = axis.rng
        if rng.kind == "flag":
            kind = pa.bool_()
        elif rng.kind == "int" and rng.hi is not None and rng.lo is not None and -2**63 <= rng.lo and rng.hi < 2**63:
            kind = pa.int64()
        elif rng.kind == "real":
            kind = pa.float64()
        else:
            kind = pa.string()
        fields.append(pa.field(axis.name, kind))
    fields += [pa.field("valid", pa.bool_()), pa.field("reason", pa.string())]
    for nm in frame.columns[len(plan.axes) + 2:]:
        kind = pa.float64() if frame[nm].dtype.kind == "f" else pa.decimal256(76, 0)
        fields.append(pa.field(nm, kind))
    return pa.schema(fields)


def _arrow_column(series, kind, pa):
    """One frame column as the schema's type. Costs always fit (decimal256); a field value the
    type cannot hold (an invalid given value) becomes null."""
    import decimal

    if series.dtype != object and series.dtype.kind in "iubf" or str(series.dtype) == "Int64":
        arr = pa.array(series)  # int64 / bool / float64 / nullable Int64: no Python loop
        return arr if arr.type == kind else arr.cast(kind)
    values = series.tolist()
    if pa.types.is_decimal(kind):
        return pa.array([None if v is None else decimal.Decimal(int(v)) for v in values], type=kind)
    if pa.types.is_string(kind):
        return pa.array([None if v is None else _text(v) for v in values], type=kind)
    if pa.types.is_boolean(kind):
        return pa.array([v if isinstance(v, bool) else None for v in values], type=kind)
    if pa.types.is_int64(kind):
        return pa.array([v if type(v) is int and -2**63 <= v < 2**63 else None for v in values], type=kind)
    return pa.array([v if type(v) is float else None for v in values], type=kind)


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return str(value)
