"""Data for the report's "Architecture explorer" section: per built-in space, its exact front
and the built-in networks' points on the same axes (the report helper plots them)."""

from __future__ import annotations

from typing import Any

from .builtin import SPACES


def report_data(objectives: tuple[str, str] = ("macs", "params"), profile: Any = None) -> dict[str, dict[str, Any]]:
    """{space name: {"title", "objectives", "count", "front": DataFrame (one row per front point,
    with ``architecture`` and ``design``: the most frequent block design, for colouring),
    "points": DataFrame of the built-in networks (fixed points), same columns}}."""
    out = {}
    for name, make in SPACES.items():
        sp = make()
        front = sp.front(objectives, profile=profile if profile is not None else "auto")
        points = sp.evaluate([p for _, p in sp.fixed_points], profile=profile)
        points.insert(0, "network", [n for n, _ in sp.fixed_points])
        points["architecture"] = [sp.describe(p) for _, p in sp.fixed_points]
        front["design"] = [_main_design(sp, row) for _, row in front.iterrows()]
        out[name] = {"title": sp.title, "objectives": objectives, "count": sp.count(),
                     "front": front, "points": points}
    return out


def _main_design(sp, row) -> str:
    """The block design most blocks of a candidate use."""
    designs = [c.design if c.design != "bottleneck" else f"3x3 {c.option('conv3x3', 'conv')}"
               for d in sp.decode(row).values() for c in d["blocks"]]
    return max(set(designs), key=designs.count)
