"""The networks the report covers (every built-in network at its default config, ResNet-50 with
its 3x3 convs swapped for each swappable design).
Shared by the Networks, Validation, Reconciliation and findings sections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .context import Context

SMALL_RESOLUTION = 64
"""Input resolution of the networks in a --small report (the layer structure is unchanged)."""


def _options(ctx: Context) -> dict[str, Any]:
    return {"resolution": SMALL_RESOLUTION} if ctx.small else {}


def builtin_networks(ctx: Context) -> list[tuple[str, Callable[[], Any]]]:
    """(label, factory) for every registered network at its default config."""
    from ..networks import network, network_names

    kw = _options(ctx)
    return [(name, lambda n=name: network(n, **kw)) for name in network_names()]


def swapped_networks(ctx: Context) -> list[tuple[str, Callable[[], Any]]]:
    """(label, factory): ResNet-50 with its 3x3 convs swapped for each swappable design
    (default options) that is among the report's designs (the first two in a --small report)."""
    from ..networks import swap, swappable

    kw = _options(ctx)
    designs = [d for d in swappable() if d != "conv" and d in ctx.designs]
    if ctx.small:
        designs = designs[:2]
    return [(f"resnet50 3x3→{d}", lambda d=d: swap("resnet50", conv3x3=d, **kw)) for d in designs]

