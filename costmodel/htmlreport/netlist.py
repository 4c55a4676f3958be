"""The networks the report covers (every built-in network at its default config, ResNet-50 with
its 3x3 convs swapped for each swappable design) and the validation row of one network.
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

def validate_network(net: Any, batch: int = 1) -> dict[str, Any]:
    """Analytic (sum of the layers' formulas; executed costs for dynamic layers) vs the traced
    module: params, conv and linear MACs (fvcore and FlopCounterMode ÷ 2), fvcore elementwise
    kinds. Same row shape as ``costmodel.validation.validate``."""
    from ..core.ops import FVCORE_ELEMENTWISE
    from ..peers.trace import trace

    module = net.module()
    counts = trace(module, net.example_input(batch))
    params, macs, elem = 0, {"conv": 0, "linear": 0}, {}
    for layer in net.layers:
        spec = layer.spec  # dynamic layers: what the traced forward really ran (the declared hook)
        c = spec.executed_costs(module.get_submodule(layer.name), batch) if spec.dynamic else spec.costs()
        params += c.params
        for k, v in c.macs_by_key.items():
            macs[k] = macs.get(k, 0) + v
        for k, v in c.elementwise.items():
            if k in FVCORE_ELEMENTWISE:
                elem[k] = elem.get(k, 0) + v
    row: dict[str, Any] = {"design": net.name, "spec": repr(net), "batch": batch,
                           "params_analytic": params, "params_torch": counts.params,
                           "params_match": params == counts.params}
    fv, fcm = counts.fvcore_macs, counts.fcm_macs
    for key in ("conv", "linear"):
        ours = macs.get(key, 0) * batch
        row.update({f"{key}_macs_analytic": ours, f"{key}_macs_fvcore": fv.get(key, 0),
                    f"{key}_macs_torch": fcm.get(key, 0), f"{key}_match": ours == fv.get(key, 0) == fcm.get(key, 0)})
    theirs = counts.fvcore_elementwise
    for kind in sorted({k for k, v in elem.items() if v} | set(theirs)):
        ours = elem.get(kind, 0) * batch
        row.update({f"{kind}_analytic": ours, f"{kind}_fvcore": theirs.get(kind, 0),
                    f"{kind}_match": ours == theirs.get(kind, 0)})
    row["fvcore_unsupported"] = ", ".join(sorted(counts.fvcore_unsupported)) or ""
    row["match"] = all(v for k, v in row.items() if k.endswith("_match"))
    return row


