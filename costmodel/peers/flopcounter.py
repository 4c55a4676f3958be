"""torch's ``FlopCounterMode`` (torch.utils.flop_counter): the set-up and its convention.

It counts FLOPs = 2 x MACs of the convolutions and matrix products that really execute, at the
aten dispatch level, and nothing else. Fused attention kernels it has no formula for count 0
(e.g. the CPU flash kernel), so attention is checked on the unfused math path only.
"""

from __future__ import annotations

from typing import Any

from .keys import category, fold_categories


def counts(module, inputs, grad: bool = False) -> dict[str, int]:
    """FlopCounterMode FLOPs per aten op (2 per MAC), under no_grad unless ``grad``."""
    import contextlib

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    with (contextlib.nullcontext() if grad else torch.no_grad()), counter:
        module(*args)
    return {str(op): int(v) for op, v in counter.get_flop_counts().get("Global", {}).items()}


def rule(r: Any) -> list[tuple[str, int, str]]:
    """FlopCounterMode: FLOPs = 2 per MAC for conv / matrix products; nothing else."""
    cat = category(r.kind)
    if r.mac_key and r.info.get("vector"):
        return [(cat, 0, "a product with a 1-D operand runs aten mv / dot: no FlopCounterMode formula")]
    if r.mac_key:
        return [(cat, 2 * r.count, "counts FLOPs = 2 x MACs")]
    return [(cat, 0, "counts only convolutions and matrix products")]


def run(model, x) -> tuple[int, dict[str, int]]:
    """FlopCounterMode's total FLOPs and its FLOPs per reconciliation category."""
    by_op = counts(model, x)
    return sum(by_op.values()), fold_categories(by_op)
