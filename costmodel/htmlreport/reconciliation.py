"""Reconciliation section: each peer counter's total beside ours, op kind by op kind, with the
convention behind every gap, from ``costmodel.reconcile`` (built-in networks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .context import Context
from .netlist import builtin_networks
from .page import Section, details, esc, note, table

if TYPE_CHECKING:
    from ..analysis.reconcile import Reconciliation

NETWORKS = {False: ("ghostnet", "resnet50", "mobilenet_v1"), True: ("ghostnet",)}
"""Networks reconciled (full vs --small); the peers trace each one, so keep the list short."""


def build(ctx: Context) -> Section:
    sec = Section("reconciliation", "Reconciliation")
    from ..analysis import reconcile

    sec.add(note("fvcore, FlopCounterMode and (if installed) ptflops and thop count the same network "
                 "differently: BN, activations, bias and pooling are in or out. Each row is one gap, "
                 "named by the convention that explains it."))
    wanted = NETWORKS[ctx.small]
    items = [(label, make) for label, make in builtin_networks(ctx) if label in wanted]
    for label, make in ctx.progress.track(items, "Reconciliation: peer counters"):
        try:
            net = make()
            result = reconcile(net.module(), (1,) + tuple(net.input_shape))
        except Exception as exc:  # a reconciliation that fails is reported in red
            sec.alerts.append(f"reconciliation of {label}: {type(exc).__name__}: {exc}")
            continue
        ctx.shared.setdefault("reconciliations", {})[label] = result
        sec.add(f"<h3>{esc(label)}</h3>", render(result))
        for peer, res in result.peers.items():
            if not res.skipped and res.unexplained:
                sec.alerts.append(f"reconciliation of {label}: {res.unexplained:,} unexplained vs {peer}")
    return sec


def render(result: Reconciliation) -> str:
    """One row per peer (``summary()``), then every peer's gaps by op kind (``table()``), folded."""
    return (table(result.summary(), highlight=None)
            + details("Gap by op kind, per peer (the convention behind each gap)", table(result.table())))
