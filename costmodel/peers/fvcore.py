"""fvcore's ``FlopCountAnalysis``: the ONE set-up (warnings off, jit trace) and its convention.

fvcore counts MACs (it calls them "flops") per operator through a jit trace: conv, linear,
matmul/bmm/einsum, and elementwise handles for batch_norm (eval: 2 per element with affine, 1
without), layer/group/instance norm, adaptive_avg_pool2d (1 per input element; also what a 2-D
"area" interpolate runs), 2-D upsample (1 per output element nearest, 4 bilinear) and
grid_sampler (4 per output element whatever the mode: "assume bilinear"). Every other aten op
(1-D / 3-D upsample, bicubic, tensordot, mv...) has no handle and counts 0.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from .keys import category, fold_categories

COUNTED = frozenset({"conv", "conv_transpose", "linear", "matmul", "einsum", "batch_norm", "layer_norm",
                     "group_norm", "instance_norm", "adaptive_avg_pool2d", "upsample"})
"""Our op kinds fvcore has a handle for (MACs for conv/linear/matmul; elementwise for the rest)."""

FVCORE_RESIZE = ("nearest", "bilinear")
"""2-D interpolate modes fvcore counts (upsample_nearest2d, upsample_bilinear2d)."""


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


def einsum_macs(equation: str, shapes: list[tuple[int, ...]]) -> int:
    """fvcore's einsum handle (fvcore/nn/jit_handles.py, einsum_flop_jit), reproduced: letters
    renamed in order of appearance; "abc,abd->acd" and "abc,adc->adb" counted as the batched
    matmul they are; any other equation by numpy's *optimal* contraction path, its printed
    "Optimized FLOP count" (4 significant digits) halved and floored. torch runs the operands
    left to right, so for 3+ operands (or a lone reduced operand) fvcore's count is not ours."""
    from collections import OrderedDict

    import numpy as np

    eq = equation.replace(" ", "")
    order = OrderedDict((k, 0) for k in eq if k.isalpha()).keys()
    eq = eq.translate({ord(x): 97 + i for i, x in enumerate(order)})
    if eq == "abc,abd->acd":
        n, c, t = shapes[0]
        return n * c * t * shapes[-1][-1]
    if eq == "abc,adc->adb":
        n, t, g = shapes[0]
        return n * t * g * shapes[-1][1]
    text = np.einsum_path(eq, *(np.zeros(s) for s in shapes), optimize="optimal")[1]
    line = next(line for line in text.split("\n") if "optimized flop" in line.lower())
    return int(np.floor(float(line.split(":")[-1]) / 2))


def rule(r: Any) -> list[tuple[str, int, str]]:
    """fvcore: the same MACs (bias not counted), BN 2/1 per element in eval, adaptive avg pool 1 per
    input element, upsample per output element; einsum along numpy's optimal path
    (``einsum_macs``); every other aten op has no handle: 0."""
    cat = category(r.kind)
    if r.kind == "einsum" and "equation" in r.info:
        theirs = einsum_macs(r.info["equation"], r.in_shapes)
        return [(cat, theirs, "same count" if theirs == r.count else
                 "einsum counted along numpy's optimal path (torch runs left to right)")]
    if r.kind == "upsample" and not (r.info.get("dims") == 2 and r.info.get("mode") in FVCORE_RESIZE):
        return [(cat, 0, f"fvcore has no handle for {r.info.get('dims')}-D {r.info.get('mode')} upsample")]
    if r.kind == "grid_sample":
        theirs = 4 * math.prod(r.out_shape)
        return [(cat, theirs, "same count" if theirs == r.count else "grid_sampler counted as bilinear (4 per output)")]
    if r.mac_key and r.info.get("vector"):
        return [(cat, 0, "a product with a 1-D operand runs aten mv / dot: fvcore has no handle")]
    if r.kind in COUNTED or r.info.get("fvcore_sees"):
        return [(cat, r.count, "same count")]
    return [(cat, 0, f"fvcore has no handle for {r.kind}: skipped (listed as unsupported)")]


def run(model, x) -> tuple[int, dict[str, int]]:
    """fvcore's total and its count per reconciliation category."""
    by_op, _ = counts(model, x)
    return sum(by_op.values()), fold_categories(by_op)
