"""fvcore's ``FlopCountAnalysis``: the ONE set-up (warnings off, jit trace) and its convention.

fvcore counts MACs (it calls them "flops") per operator through a jit trace: conv, linear,
matmul/bmm/einsum, and elementwise handles for batch_norm (eval: 2 per element with affine, 1
without), layer/group/instance norm, adaptive_avg_pool2d (1 per input element) and upsample
(1 per output element, nearest; 4 bilinear). Every other aten op has no handle and counts 0.
"""

from __future__ import annotations

import logging
from typing import Any

from .keys import category, fold_categories

COUNTED = frozenset({"conv", "conv_transpose", "linear", "matmul", "einsum", "batch_norm", "layer_norm",
                     "group_norm", "instance_norm", "adaptive_avg_pool2d", "upsample"})
"""Our op kinds fvcore has a handle for (MACs for conv/linear/matmul; elementwise for the rest)."""


def analysis(module, inputs) -> Any:
    """fvcore's ``FlopCountAnalysis`` of ``module`` on ``inputs``, every warning silenced.

    The one place fvcore is set up: every caller (trace, analyze's fvcore column, reconcile,
    the benchmarks) goes through here.
    """
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    result = FlopCountAnalysis(module, inputs)
    result.unsupported_ops_warnings(False)
    result.uncalled_modules_warnings(False)
    result.tracer_warnings("none")
    return result


def counts(module, inputs) -> tuple[dict[str, int], dict[str, int]]:
    """fvcore by_operator() (MACs) and its unsupported ops."""
    a = analysis(module, inputs)
    return {k: int(v) for k, v in a.by_operator().items()}, dict(a.unsupported_ops())


def by_module(module, inputs) -> tuple[dict[str, int], int, dict[str, int]]:
    """(by_module(), total(), by_operator()) of one fvcore run, as ints."""
    a = analysis(module, inputs)
    modules = {k: int(v) for k, v in a.by_module().items()}
    return modules, int(a.total()), {k: int(v) for k, v in a.by_operator().items()}


def rule(r: Any) -> list[tuple[str, int, str]]:
    """fvcore: the same MACs (bias not counted), BN 2/1 per element in eval, adaptive avg pool 1 per
    input element, upsample per output element; every other aten op has no handle: 0."""
    cat = category(r.kind)
    if r.kind in COUNTED or r.info.get("fvcore_sees"):
        return [(cat, r.count, "same count")]
    return [(cat, 0, f"fvcore has no handle for {r.kind}: skipped (listed as unsupported)")]


def run(model, x) -> tuple[int, dict[str, int]]:
    """fvcore's total and its count per reconciliation category."""
    by_op, _ = counts(model, x)
    return sum(by_op.values()), fold_categories(by_op)
