"""One stable colour per design (and per glue op of the networks), the same in every figure.

Designs take plotly's qualitative ``Dark24`` palette in catalogue order; the networks' glue ops
(pools, fc, add, ...) and anything else take ``Light24``, so a glue op never looks like a
design. 24 + 24 distinct colours cover the registered designs plus the glue ops; a name past
the palette's end raises instead of reusing a colour (two traces of a figure never share one).
"""

from __future__ import annotations

import functools

FRONT = "#111111"
"""Pareto fronts and reference lines: black, never a design's colour."""


@functools.lru_cache(maxsize=1)
def _palette() -> dict[str, str]:
    """{name: colour} of every registered design (catalogue order) and every glue op."""
    import plotly.express as px

    from ..core.registry import designs
    from . import catalogue_order

    dark, light = px.colors.qualitative.Dark24, px.colors.qualitative.Light24
    names = catalogue_order(designs())
    if len(names) > len(dark):
        raise ValueError(f"designs = {len(names)} registered: allowed is at most {len(dark)} distinct colours")
    out = dict(zip(names, dark))
    for i, name in enumerate(glue_names()):
        out[name] = light[i]
    return out


def glue_names() -> list[str]:
    """Names of the networks' glue specs (max_pool, global_pool, fc, ...), in module order."""
    import inspect

    from ..core.spec import Spec
    from ..networks import glue

    return [cls.name for _, cls in inspect.getmembers(glue, inspect.isclass)
            if issubclass(cls, Spec) and cls.__module__ == glue.__name__ and cls.name]


_extra: dict[str, str] = {}


def color(name: str) -> str:
    """The colour of design (or glue op, or space block label) ``name``: fixed per name for the
    whole report. Unknown names take the next free Light24 colour, in first-asked order."""
    import plotly.express as px

    known = _palette()
    if name in known:
        return known[name]
    if name not in _extra:
        used = set(known.values()) | set(_extra.values())
        free = [c for c in px.colors.qualitative.Light24 + px.colors.qualitative.Alphabet if c not in used]
        if not free:
            raise ValueError(f"name = {name!r} needs a colour: allowed is at most "
                             f"{len(known) + len(_extra)} distinct names per report")
        _extra[name] = free[0]
    return _extra[name]
