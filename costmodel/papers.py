"""The seed papers' one-layer comparison tables, built from registered designs and traced.

SIC (Wang, Liu, Foroosh 2016): a standard 3x3 conv n -> n against SIC, topological
subdivisioning and the spatial bottleneck, at the same input.
"""

from __future__ import annotations

import math

from .core import Spec
from .designs.conv import Conv
from .designs.sic import SIC, SICSubdivided, SpatialBottleneck, Subdivision
from .validation import compare, validate


def paper_specs(n: int = 256, size_: int = 56) -> list[Spec]:
    """The paper's one-layer comparison: a standard 3x3 conv n -> n at size x size vs SIC
    (b = 1, 2, 4), subdivisioning and SIC + subdivisioning on a 16 x 16 layout with a 3 x 3 window
    (c = 9; our choice of layout), and the spatial bottleneck (k = 2 and k = 3, zero-padded up to a
    multiple of k where the size is not one). Any n >= 1 and size >= 1 gives a table."""

    side = math.isqrt(n)
    dims = (side, side) if side * side == n else (n,)
    nbr = (min(3, side),) * 2 if len(dims) == 2 else (min(9, n),)  # the window fits a small layout
    hw = dict(h=size_, w=size_)
    return ([Conv(c_in=n, c_out=n, k=3, **hw)]
            + [SIC(n=n, k=3, b=b, **hw) for b in (1, 2, 4)]
            + [Subdivision(n=n, k=3, dims=dims, neighbourhood=nbr, **hw)]
            + [SICSubdivided(n=n, k=3, b=b, dims=dims, neighbourhood=nbr, **hw) for b in (2, 4)]
            + [SpatialBottleneck(n=n, k=2, pad=size_ % 2 != 0, **hw),  # odd sizes: zero-padded, as k = 3
               SpatialBottleneck(n=n, k=3, pad=size_ % 3 != 0, **hw)])


def paper_table(n: int = 256, size_: int = 56, trace: bool = False):
    """``validate.compare`` of ``paper_specs`` plus a layout column and MACs relative to the
    standard conv (row 0). With ``trace``, each row is also traced (fvcore and FlopCounterMode)
    and ``traced`` says whether params and MACs matched exactly."""

    specs = paper_specs(n, size_)
    frame = compare(specs)
    frame.insert(2, "layout", [_layout_text(s) for s in specs])
    frame["MACs / conv"] = frame["MACs"] / frame["MACs"].iloc[0]
    frame["params / conv"] = frame["params"] / frame["params"].iloc[0]
    if trace:
        frame["traced"] = [validate(s).match for s in specs]
    return frame


def _layout_text(spec: Spec) -> str:
    """The structural choices of a spec, read from its field declarations: layouts as ``8x8``
    (``dims / neighbourhood``), choices by value, switched-on structural flags by name."""
    parts, layouts = [], []
    for name, rng in spec.field_ranges().items():
        value = getattr(spec, name)
        if rng.role == "layout":
            layouts.append("x".join(map(str, value)))
        elif rng.kind == "choice":
            parts.append(str(value))
        elif rng.kind == "flag" and rng.role == "option" and value:
            parts.append(name)
    if layouts:
        parts.insert(1 if parts else 0, " / ".join(layouts))
    return ", ".join(parts) or "-"
