"""Peer counters: one module per counter (fvcore, FlopCounterMode, ptflops, thop), the ONE op-key
map (``keys``) and ``trace()``. Each counter module has its set-up (``run``/``counts``) and its
convention as a rule: what it counts for one of our records (a duck-typed ``analysis`` Record).

Nothing here imports ``costmodel.analysis``: analysis and reconcile build on the peers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import flopcounter, fvcore, ptflops, thop

PEERS: dict[str, tuple[str, Callable[[Any], list[tuple[str, int, str]]], Callable, str]] = {
    "fvcore": ("MACs + BN/pool ops", fvcore.rule, fvcore.run, "fvcore"),
    "FlopCounterMode": ("FLOPs (2 x MACs)", flopcounter.rule, flopcounter.run, "torch"),
    "ptflops": ("MACs (+ bias, BN, activations, pools)", ptflops.rule, ptflops.run, "ptflops"),
    "thop": ("MACs (+ BN, pools)", thop.rule, thop.run, "thop"),
}
"""peer name -> (unit, rule per record, runner (model, x) -> (total, per category), package)."""
