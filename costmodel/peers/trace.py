"""What fvcore and FlopCounterMode see when they trace a real module: ``trace()`` and its counts.

fvcore's "flops" are MACs, per operator; FlopCounterMode counts FLOPs (2 per MAC) at dispatch
level. Both are folded into the conv / linear MAC keys by the one op-key map (``keys``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import flopcounter, fvcore
from .keys import fold_macs, mac_key


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
        return fold_macs(self.fvcore_by_op)

    @property
    def fvcore_elementwise(self) -> dict[str, int]:
        """fvcore's counts of the operators that are not MACs (batch_norm, pools, upsample...)."""
        return {op: int(v) for op, v in self.fvcore_by_op.items() if mac_key(op) is None}

    @property
    def fcm_macs(self) -> dict[str, int]:
        """FlopCounterMode FLOPs / 2, folded into conv and linear."""
        return fold_macs(self.fcm_flops_by_op, scale=2)


def count_params(module) -> int:
    """sum(p.numel()) over the module's parameters (BN affine included, buffers not)."""
    return int(sum(p.numel() for p in module.parameters()))


def trace(module, inputs) -> TraceCounts:
    """Run both counters on ``module`` (put in eval mode: BN counts depend on it)."""
    import torch

    module.eval()
    with torch.no_grad():
        fv, unsupported = fvcore.counts(module, inputs)
    fcm = flopcounter.counts(module, inputs)
    batch = (inputs[0] if isinstance(inputs, tuple) else inputs).shape[0]
    return TraceCounts(count_params(module), fv, unsupported, fcm, batch)
