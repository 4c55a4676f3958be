"""thop (``thop.profile``): forward hooks on registered module types, and its convention.

Source read: thop/vision/basic_hooks.py. Tensor functions (x + y, F.*, torch.cat) are never seen.
thop is part of the optional extra ``costmodel[peers]``.
"""

from __future__ import annotations

import math
from typing import Any

from .keys import category

ZERO = {"ReLU", "ReLU6", "LeakyReLU", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AdaptiveMaxPool1d",
        "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "Dropout", "ZeroPad2d", "PixelShuffle"}
NORMS = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "InstanceNorm1d", "InstanceNorm2d",
         "InstanceNorm3d", "SyncBatchNorm"}
TYPE_CATEGORY = {**{n: "batch_norm" for n in NORMS if "Batch" in n},
                 "LayerNorm": "norm", "InstanceNorm1d": "norm", "InstanceNorm2d": "norm",
                 "InstanceNorm3d": "norm", "Linear": "linear", "PReLU": "activation",
                 "Softmax": "softmax", "Upsample": "upsample", "AvgPool2d": "pool", "AvgPool1d": "pool",
                 "AvgPool3d": "pool", "AdaptiveAvgPool2d": "global_pool",
                 "AdaptiveAvgPool1d": "global_pool", "AdaptiveAvgPool3d": "global_pool",
                 **{f"Conv{d}d": "conv" for d in (1, 2, 3)},
                 **{f"ConvTranspose{d}d": "conv" for d in (1, 2, 3)}}
"""thop's hooked module class -> the reconciliation category of what it adds."""


def _numel(shape) -> int:
    return int(math.prod(shape))


def rule(r: Any) -> list[tuple[str, int, str]]:
    """thop: hooks on registered module types only (source: thop/vision/basic_hooks.py)."""
    cat = category(r.kind)
    mod = r.module
    if r.source != "module":
        return [(cat, 0, "thop hooks modules only: tensor functions (x + y, x * g, F.*, torch.cat) are missed")]
    if mod.startswith("Conv") and "Transpose" not in mod:
        return [(cat, r.count, "same MACs (bias not counted)")]
    if mod.startswith("ConvTranspose"):
        c_in = r.in_shapes[0][1]
        per = (c_in // r.info["groups"]) * math.prod(r.info["kernel"])
        return [(cat, _numel(r.out_shape) * per, "transposed conv counted per OUTPUT element x c_in/groups x k^2")]
    if mod == "Linear":
        return [(cat, r.count, "same MACs (bias not counted)")]
    if mod in NORMS:
        thop = 2 * _numel(r.in_shapes[0]) * (2 if r.info.get("affine") else 1)
        return [(cat, thop, "norm = 2 per element, doubled with affine (4 per element)")]
    if mod == "PReLU":
        return [(cat, _numel(r.in_shapes[0]), "PReLU 1 per element")]
    if mod in ZERO:
        return [(cat, 0, f"{mod} registered as zero ops")]
    if mod in ("AvgPool1d", "AvgPool2d", "AvgPool3d"):
        return [(cat, _numel(r.out_shape), "avg pool = 1 per output element (window ignored)")]
    if mod in ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d"):
        ratio = 1.0
        for i, o in zip(r.in_shapes[0][2:], r.out_shape[2:]):
            ratio *= i / o
        return [(cat, int((ratio + 1) * _numel(r.out_shape)),
                 "adaptive avg pool = (window + 1 division) per output element")]
    if mod == "Softmax":
        nf = r.in_shapes[0][r.info.get("dim", -1)]
        return [(cat, (_numel(r.in_shapes[0]) // nf) * (3 * nf - 1), "softmax = exp + add + div: 3n-1 per row")]
    if mod in ("Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d"):
        mode = r.info.get("mode", "nearest")
        # thop/vision/calc_func.py calculate_upsample: bicubic 224 + 35 ops, trilinear 13 * 2 + 5
        per = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 259, "trilinear": 31}.get(mode, 0)
        return [(cat, per * _numel(r.out_shape), f"upsample {mode} = {per} per output element")]
    return [(cat, 0, f"no thop rule for {mod}: zero")]


def run(model, x) -> tuple[int, dict[str, int]]:
    """thop's total and its count per reconciliation category (from its per-layer info)."""
    import contextlib
    import io
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # thop imports distutils' LooseVersion
        from thop import profile

    with contextlib.redirect_stdout(io.StringIO()):
        total, _params, layers = profile(model, inputs=(x,), verbose=False, ret_layer_info=True)
    by_cat: dict[str, int] = {}

    def walk(mod, info: dict) -> None:
        children = dict(mod.named_children())
        for name, (ops_, _p, sub) in info.items():
            child = children[name]
            if sub:
                walk(child, sub)
            elif ops_:
                cat = TYPE_CATEGORY.get(type(child).__name__, "other")
                by_cat[cat] = by_cat.get(cat, 0) + int(ops_)

    walk(model, layers)
    return int(total), by_cat
