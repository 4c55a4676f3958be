"""Design-space grids of the report: which values each field of a design takes, chosen by the
field's ROLE (core/fields.py: channels, kernel, stride, spatial, ...), never by its name, and the
exact costs of the grid's valid points (through ``costmodel.explore.sweep``).

Also the report's shape families: every design pinned to one input and output shape
(c_in = c_out = c, a 3x3 kernel, stride 1, 56x56), so that its points compare like for like."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

ROLE_VALUES = {False: {"channels": [16, 32, 64, 128, 256], "kernel": [1, 3, 5, 7], "stride": [1, 2]},
               True: {"channels": [32, 64], "kernel": [3, 5], "stride": [1]}}
"""Values per field role (full vs --small), each design's default added (some designs accept
only a few shapes, e.g. k | h)."""

FIXED_ROLES = ("spatial", "bytes")
"""Roles held at the design's default: the spatial size is the reference's, fp32."""

MAX_POINTS = {False: 150, True: 20}
"""Points per design (a seeded random sample of the grid when it is larger), full vs --small."""

FAMILY_CHANNELS = {False: [32, 64, 128, 256], True: [64]}
"""c of the shape families c_in = c_out = c (full vs --small)."""

FAMILY_SHAPE = {"kernel": 3, "stride": 1, "spatial": 56}
"""The rest of a family's shape: a 3x3 kernel (the conv the designs replace), stride 1, 56x56."""

FAMILY_POINTS = {False: 60, True: 15}
"""Points per design and family."""


def defaults(cls: type) -> dict[str, Any]:
    """Each field's default (dataclasses.MISSING where it has none)."""
    return {f.name: f.default for f in dataclasses.fields(cls)}


def grid(cls: type, small: bool = False) -> dict[str, list]:
    """Values per field: by role from ROLE_VALUES, own hyperparameters around their defaults."""
    default_of = defaults(cls)
    by_role = ROLE_VALUES[small]
    out: dict[str, list] = {}
    for nm, rng in cls.field_ranges().items():
        default = default_of[nm]
        if rng.role in FIXED_ROLES or rng.kind == "flag" or default is dataclasses.MISSING:
            values = [default]
        elif rng.role in by_role and rng.kind == "int":
            values = sorted({v for v in by_role[rng.role] if rng.accepts(v)} | {default})
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
    """The valid grid points of ``cls`` (at most MAX_POINTS) with params, macs, mem_bytes."""
    return evaluate(cls, grid(cls, small), MAX_POINTS[small])


def evaluate(cls: type, values: dict[str, list], limit: int):
    """The valid points of the grid ``values`` (a seeded random ``limit`` of them at most),
    vectorized by ``costmodel.explore.sweep``: one row per point with its fields and exact
    params / macs / mem_bytes (int64). Points with the same three costs are kept once (the
    figures would draw them on top of each other)."""
    from ..explore import sweep

    frame = sweep(cls.name, **values)
    if "valid" in frame:
        frame = frame[frame["valid"].astype(bool)]
    out = frame[list(values)].copy()
    for key in ("params", "macs", "mem_bytes"):
        out[key] = frame[key].astype("int64")
    out = out.drop_duplicates(subset=["params", "macs", "mem_bytes"])
    if len(out) > limit:
        out = out.sample(limit, random_state=0)
    return out.reset_index(drop=True)


def plain(value: Any) -> Any:
    """numpy scalars -> Python scalars."""
    return value.item() if hasattr(value, "item") else value


def fields_of(cls: type, row: dict[str, Any]) -> dict[str, Any]:
    """The spec fields of a frame row (as Python values), to rebuild the spec."""
    names = cls.field_ranges()
    return {k: plain(v) for k, v in row.items() if k in names}


# --- shape families --------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def io_fields(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(fields that set the input channels, fields that set the output channels) of ``cls``:
    the "channels"-role fields whose doubling changes the default spec's input or output
    channels (``matched_conv``). None where either is not exactly one field (Inception's output
    is the sum of four branch widths, so it has no single c_out to pin)."""
    from ..designs.conv import matched_conv

    widths = [nm for nm, rng in cls.field_ranges().items() if rng.role == "channels"]
    if len(widths) == 1:  # one width (SIC's n): channels in = channels out
        return (widths[0],), (widths[0],)
    base = cls()
    ref = matched_conv(base)
    into, out = [], []
    for nm in widths:
        try:
            moved = matched_conv(base.replace(**{nm: 2 * getattr(base, nm)}))
        except ValueError:  # doubling breaks a constraint: the field is not a free width
            continue
        if moved.c_in != ref.c_in:
            into.append(nm)
        if moved.c_out != ref.c_out:
            out.append(nm)
    if len(into) != 1 or len(out) != 1:
        return None
    return tuple(into), tuple(out)


def family_values(cls: type, c: int, small: bool, kernel: bool = True) -> dict[str, list] | None:
    """The design's grid pinned to the family c_in = c_out = c, k = 3 (its first kernel-role
    field; with ``kernel=False`` its default, for designs that take no 3x3, e.g. factorized
    5x5 -> 2 x 3x3: the input and output shape stay the family's), stride 1, 56x56; its own
    hyperparameters keep their grid. None when the design has no single input and output width
    (see ``io_fields``)."""
    io = io_fields(cls)
    if io is None:
        return None
    values = grid(cls, small)
    for nm in io[0] + io[1]:
        values[nm] = [c]
    ranges = cls.field_ranges()
    first = next((nm for nm, r in ranges.items() if r.role == "kernel"), None) if kernel else None
    default_of = defaults(cls)
    for nm, rng in ranges.items():
        if rng.role in ("stride", "spatial") or nm == first:
            values[nm] = [FAMILY_SHAPE["kernel" if nm == first else rng.role]]
        elif rng.role == "kernel" and not kernel and nm == next(n for n, r in ranges.items() if r.role == "kernel"):
            values[nm] = [default_of[nm]]
    return values
