"""What the peer counters see when they trace a real module.

fvcore's ``FlopCountAnalysis`` counts MACs (it calls them "flops") per operator: ``conv``,
``linear``, ``batch_norm``, ``adaptive_avg_pool2d``, ... ``torch.utils.flop_counter.FlopCounterMode``
counts FLOPs (2 per MAC) of what really executes at dispatch level. Both are imported here only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

FCM_TO_KEY = {
    "aten.convolution": "conv", "aten._convolution": "conv", "aten.convolution_backward": "conv",
    "aten.mm": "linear", "aten.addmm": "linear", "aten.bmm": "linear", "aten.baddbmm": "linear",
    "aten.matmul": "linear",
}
"""FlopCounterMode op -> the fvcore key its MACs correspond to (matrix products are 'linear')."""

FVCORE_MAC_KEYS = {"conv": "conv", "linear": "linear", "addmm": "linear", "matmul": "linear",
                   "mm": "linear", "bmm": "linear", "einsum": "linear"}


@dataclass(frozen=True)
class TraceCounts:
    """Counts of one traced forward pass, batch as given. Units in the field names."""

    params: int
    fvcore_by_op: dict[str, int]  # fvcore's "flops" = MACs, per operator
    fvcore_unsupported: dict[str, int]
    fcm_flops_by_op: dict[str, int]  # FlopCounterMode FLOPs per aten op
    batch: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def fvcore_macs(self) -> dict[str, int]:
        """fvcore's conv and linear MACs (matrix-product operators folded into linear)."""
        out = {"conv": 0, "linear": 0}
        for op, v in self.fvcore_by_op.items():
            if op in FVCORE_MAC_KEYS:
                out[FVCORE_MAC_KEYS[op]] += int(v)
        return out

    @property
    def fvcore_elementwise(self) -> dict[str, int]:
        return {op: int(v) for op, v in self.fvcore_by_op.items() if op not in FVCORE_MAC_KEYS}

    @property
    def fcm_macs(self) -> dict[str, int]:
        """FlopCounterMode FLOPs / 2, grouped like fvcore's keys."""
        out = {"conv": 0, "linear": 0}
        for op, v in self.fcm_flops_by_op.items():
            out[FCM_TO_KEY.get(op, op)] = out.get(FCM_TO_KEY.get(op, op), 0) + int(v) // 2
        return out


def count_params(module) -> int:
    """sum(p.numel()) over the module's parameters (BN affine included, buffers not)."""
    return int(sum(p.numel() for p in module.parameters()))


def fvcore_counts(module, inputs) -> tuple[dict[str, int], dict[str, int]]:
    """fvcore by_operator() (MACs) and its unsupported ops, warnings silenced."""
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    analysis = FlopCountAnalysis(module, inputs)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    return {k: int(v) for k, v in analysis.by_operator().items()}, dict(analysis.unsupported_ops())


def flop_counter_counts(module, inputs) -> dict[str, int]:
    """FlopCounterMode FLOPs per aten op (2 per MAC)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(*inputs) if isinstance(inputs, tuple) else module(inputs)
    return {str(op): int(v) for op, v in counter.get_flop_counts()["Global"].items()}


def trace(module, inputs) -> TraceCounts:
    """Run both counters on ``module`` (put in eval mode: BN counts depend on it)."""
    import torch

    module.eval()
    with torch.no_grad():
        fv, unsupported = fvcore_counts(module, inputs)
    fcm = flop_counter_counts(module, inputs)
    batch = (inputs[0] if isinstance(inputs, tuple) else inputs).shape[0]
    return TraceCounts(count_params(module), fv, unsupported, fcm, batch)
