"""Design-space grids of the report: which values each field of a design takes, and the exact
costs of the grid's valid points (through ``costmodel.explore.sweep``). Shared by the Design
space section (scatters, Pareto fronts) and the Latency section (which configs to time)."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

SHAPE_VALUES = {"c_in": [16, 32, 64, 128, 256], "c_out": [16, 32, 64, 128, 256], "k": [1, 3, 5, 7],
                "stride": [1, 2]}
SMALL_SHAPE_VALUES = {"c_in": [32, 64], "c_out": [32, 64], "k": [3, 5], "stride": [1]}
FIXED = ("h", "w", "dtype_bytes")
"""Fields held at their defaults: the spatial size is the reference's, fp32."""

MAX_POINTS = {False: 600, True: 60}
"""Points per design (random sample of the grid when it is larger), full vs --small."""


def defaults(cls: type) -> dict[str, Any]:
    """Each field's default (dataclasses.MISSING where it has none)."""
    return {f.name: f.default for f in dataclasses.fields(cls)}


def grid(cls: type, small: bool = False) -> dict[str, list]:
    """Values per field: shapes from SHAPE_VALUES, own hyperparameters around their defaults."""
    default_of = defaults(cls)
    shapes = SMALL_SHAPE_VALUES if small else SHAPE_VALUES
    out: dict[str, list] = {}
    for nm, rng in cls.field_ranges().items():
        default = default_of[nm]
        if nm in FIXED or rng.kind == "flag" or default is dataclasses.MISSING:
            values = [default]
        elif nm in shapes:  # the default too: some designs only accept a few shapes (e.g. k | h)
            values = sorted({v for v in shapes[nm] if rng.accepts(v)} | {default})
        elif rng.kind == "choice":
            values = list(rng.options)
        elif rng.kind == "int":
            values = _ints_around(default, rng, small)
        else:
            values = _reals_around(default, rng, small)
        out[nm] = values
    return out


def _ints_around(default: int, rng: Any, small: bool) -> list[int]:
    candidates = [default // 2, default, default + 1, 2 * default, 4 * default]
    values = sorted({v for v in candidates if rng.accepts(v)})
    return values[:2] if small else values


def _reals_around(default: float, rng: Any, small: bool) -> list[float]:
    candidates = [default, 1 / 8, 1 / 4, 1 / 2, 3 / 4, 1.0]
    values = sorted({v for v in candidates if rng.accepts(v)})
    return values[:2] if small else values


def sweep_design(cls: type, small: bool = False):
    """The valid grid points of ``cls`` (at most MAX_POINTS) with params, macs, mem_bytes and a
    ``spec`` text column."""
    return evaluate(cls, grid(cls, small), MAX_POINTS[small])


def evaluate(cls: type, values: dict[str, list], limit: int):
    """The valid points of the grid ``values`` (a random ``limit`` of them at most), vectorized by
    ``costmodel.explore.sweep``: one row per point with its fields, exact params / macs /
    mem_bytes (int64) and the ``spec`` text shown on hover."""
    from ..explore import sweep

    frame = sweep(cls.name, **values)
    if "valid" in frame:
        frame = frame[frame["valid"].astype(bool)]
    if len(frame) > limit:
        frame = frame.sample(limit, random_state=0)
    varying = [k for k, v in values.items() if len(v) > 1]
    out = frame[list(values)].copy()
    for key in ("params", "macs", "mem_bytes"):
        out[key] = frame[key].astype("int64")
    fixed = {k: v[0] for k, v in values.items() if len(v) == 1}
    out["spec"] = [spec_text({k: ({**fixed, **dict(zip(varying, row))})[k] for k in values})
                   for row in frame[varying].itertuples(index=False)]
    return out.reset_index(drop=True)


def spec_text(fields: dict[str, Any]) -> str:
    """``c_in=64, c_out=64, ...`` (dtype_bytes left out: the report is fp32 throughout)."""
    return ", ".join(f"{k}={fmt(v)}" for k, v in fields.items() if k != "dtype_bytes")


def fmt(value: Any) -> str:
    """A field value as text; non-integer reals as small fractions (1/4, not 0.25)."""
    value = plain(value)
    if isinstance(value, float) and not value.is_integer():
        return str(Fraction(value).limit_denominator(64))
    return str(value)


def plain(value: Any) -> Any:
    """numpy scalars -> Python scalars."""
    return value.item() if hasattr(value, "item") else value


def fields_of(cls: type, row: dict[str, Any]) -> dict[str, Any]:
    """The spec fields of a frame row (as Python values), to rebuild the spec."""
    names = cls.field_ranges()
    return {k: plain(v) for k, v in row.items() if k in names}


def spec_label(spec: Any) -> str:
    """A spec's fields as ``spec_text`` writes them."""
    return spec_text({k: getattr(spec, k) for k in spec.field_ranges()})
