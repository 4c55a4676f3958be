"""Latency lookup tables (LUTs): every distinct block of a space measured on this device.

Format (CSV, JSON or Parquet, chosen by the file suffix): one row per distinct block with columns

    key            the block key: ``<choice label> | <C>x<H>x<W> -> <c_out> /<stride>``
                   ("stem", "head | ..." for the fixed pieces), as ``tables.block_key`` writes it
    seconds        measured median latency of that block's module, batch 1, fp32 (s per call)
    device, threads, torch   where and how it was measured (the latency harness' protocol)

    host           (Parquet from ``stream.measure_lut_to_parquet``) the machine that measured it

A network's LUT latency is the sum of its blocks' rows (``space.evaluate(lut=...)``). One table
per device kind: measuring is embarrassingly parallel over keys, so several devices of ONE kind
each measure a disjoint slice (``measure_lut(keys=...)``, or one Dask worker per device with
``stream.measure_lut_to_parquet(client=...)``) and the slices are concatenated, one row per key.
Devices of different kinds get separate tables (a LUT is only true for the kind it came from).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # NetworkSpace (space.py) appears in annotations only: no runtime import, no cycle
    from .space import NetworkSpace

COLUMNS = ("key", "seconds", "device", "threads", "torch")


@dataclass
class LUT:
    """Measured seconds per block key, plus where they were measured."""

    seconds_by_key: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)

    def seconds(self, key: str) -> float:
        try:
            return self.seconds_by_key[key]
        except KeyError:
            raise ValueError(f"block {key!r} is not in the LUT: measure it with `costmodel lut SPACE`") from None

    def frame(self):
        import pandas as pd

        rows = [{"key": k, "seconds": v, **{c: self.meta.get(c) for c in COLUMNS[2:]}}
                for k, v in self.seconds_by_key.items()]
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        if path.suffix == ".json":
            path.write_text(json.dumps({"meta": self.meta, "seconds": self.seconds_by_key}, indent=1) + "\n")
        elif path.suffix == ".csv":
            self.frame().to_csv(path, index=False)
        elif path.suffix == ".parquet":
            self.frame().to_parquet(path, index=False)
        else:
            raise ValueError(f"out = {str(path)!r} is invalid: allowed is a .csv, .json or .parquet file")
        return path


def load_lut(path: str | Path) -> LUT:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"lut = {str(path)!r} does not exist")
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        return LUT({k: float(v) for k, v in data["seconds"].items()}, data.get("meta", {}))
    if path.suffix in (".csv", ".parquet"):
        import pandas as pd

        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
        missing = [c for c in ("key", "seconds") if c not in frame.columns]
        if missing:
            raise ValueError(f"lut {path}: column {missing[0]!r} is missing: allowed columns are {', '.join(COLUMNS)}")
        meta = {c: frame[c].iloc[0] for c in COLUMNS[2:] if c in frame.columns and len(frame)}
        return LUT(dict(zip(frame["key"], frame["seconds"].astype(float))), meta)
    raise ValueError(f"lut = {str(path)!r} is invalid: allowed is a .csv, .json or .parquet file")


def as_lut(lut: Any) -> LUT:
    """A LUT from a LUT, a {key: seconds} dict, or a file path."""
    if isinstance(lut, LUT):
        return lut
    if isinstance(lut, dict):
        return LUT(dict(lut))
    return load_lut(lut)


def measure_lut(space: NetworkSpace, *, keys: Iterable[str] | None = None, min_run_time: float = 0.05,
                threads: int = 1, progress: Callable[[int], Any] | None = None, tables: Any = None) -> LUT:
    """Measure every distinct buildable block of ``space`` (or only ``keys``) with the latency
    harness (``costmodel.measure``: median of blocked autorange, after warm-up). ``tables``:
    the space's cost tables when the caller has them (chunks of keys share one)."""
    import costmodel
    from ..networks.graph import Cursor, Seq, build

    tables = tables if tables is not None else space.tables(profile=None)
    wanted = list(tables.makers) if keys is None else list(keys)
    out: dict[str, float] = {}
    device = None
    for key in wanted:
        if key not in tables.makers:
            raise ValueError(f"block {key!r} is not a buildable block of space {space.name!r}")
        make, shape = tables.makers[key]
        module = build(Seq("", list(make(Cursor(*shape)))))
        timing = costmodel.measure(module.eval(), _input(shape), threads=threads, min_run_time=min_run_time)
        out[key] = timing.median_s
        device = getattr(timing, "device", device)
        if progress is not None:
            progress(1)
    import torch

    return LUT(out, {"device": device or "cpu", "threads": threads, "torch": torch.__version__})


def _input(shape: tuple[int, ...]):
    import torch

    gen = torch.Generator().manual_seed(0)
    return torch.randn((1,) + tuple(shape), generator=gen)
