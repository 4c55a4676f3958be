"""The ONE op-key map: every counter's operator names -> our MAC key and reconciliation category.

Names come from four places and all land here:
  * our op kinds (``analysis`` records: "conv", "matmul", "batch_norm", "attention", ...),
  * fvcore's ``by_operator()`` keys ("conv", "linear", "addmm", "bmm", "einsum", "upsample_nearest2d"),
  * FlopCounterMode's aten ops ("aten.convolution", "aten.mm", "aten.bmm", ...),
  * thop's / ptflops' hooked module class names (in their own modules; they map to categories here).

MAC key: the fvcore ``by_operator()`` key MACs land in ("conv" or "linear"; every matrix product,
attention's included, is "linear", as in fvcore). Category: the rows of the reconciliation table.
"""

from __future__ import annotations

CATEGORIES = ("conv", "linear", "batch_norm", "norm", "activation", "pool", "global_pool", "upsample",
              "add", "mul", "softmax", "other")
"""Op kinds of the reconciliation table (linear includes matmul/bmm/attention; conv includes transposed)."""

OP_KEYS: dict[str, tuple[str | None, str]] = {
    # name: (MAC key or None, category). Ours, fvcore's and aten's names share one table.
    "conv": ("conv", "conv"), "conv_transpose": ("conv", "conv"), "convolution": ("conv", "conv"),
    "_convolution": ("conv", "conv"), "convolution_backward": ("conv", "conv"),
    "linear": ("linear", "linear"), "matmul": ("linear", "linear"), "mm": ("linear", "linear"),
    "addmm": ("linear", "linear"), "bmm": ("linear", "linear"), "baddbmm": ("linear", "linear"),
    "einsum": ("linear", "linear"), "attention": ("linear", "linear"), "tensordot": ("linear", "linear"),
    # FlopCounterMode's fused attention kernels (it counts their two matrix products)
    **{name: ("linear", "linear") for name in (
        "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention", "_flash_attention_forward", "_efficient_attention_forward")},
    "batch_norm": (None, "batch_norm"), "layer_norm": (None, "norm"), "group_norm": (None, "norm"),
    "instance_norm": (None, "norm"), "normalize": (None, "norm"), "rms_norm": (None, "norm"),
    "grid_sample": (None, "upsample"), "grid_sampler": (None, "upsample"), "upsample": (None, "upsample"), "upsample_nearest2d": (None, "upsample"),
    "upsample_bilinear2d": (None, "upsample"), "add": (None, "add"), "mul": (None, "mul"),
    "softmax": (None, "softmax"), "adaptive_avg_pool1d": (None, "global_pool"),
    "adaptive_avg_pool2d": (None, "global_pool"), "adaptive_avg_pool3d": (None, "global_pool"),
    "concat": (None, "other"), "gather": (None, "other"), "topk": (None, "other"), "free": (None, "other"),
    "params": (None, "other"), "mean": (None, "other"), "reduction": (None, "other"), "unknown": (None, "other"),
}


def op_name(op: object) -> str:
    """A counter's operator name without the ``aten.`` namespace or overload: ``aten.mm.default`` -> mm."""
    name = str(op)
    if name.startswith("aten."):
        name = name[len("aten."):]
    return name.split(".")[0]


def mac_key(op: object) -> str | None:
    """"conv" / "linear" for an op whose count is MACs (any counter's name), else None."""
    return OP_KEYS.get(op_name(op), (None, ""))[0]


def category(op: object) -> str:
    """The reconciliation category of an op kind or a counter's operator name."""
    name = op_name(op)
    if name in OP_KEYS:
        return OP_KEYS[name][1]
    return "pool" if "pool" in name else "activation"


def fold_macs(by_op: dict, scale: int = 1) -> dict[str, int]:
    """A counter's per-operator counts folded into {"conv", "linear"} MACs (``// scale``: FLOPs -> MACs)."""
    out = {"conv": 0, "linear": 0}
    for op, value in by_op.items():
        key = mac_key(op)
        if key is not None:
            out[key] += int(value) // scale
    return out


def fold_categories(by_op: dict) -> dict[str, int]:
    """A counter's per-operator counts folded into reconciliation categories (unknown names: other)."""
    out: dict[str, int] = {}
    for op, value in by_op.items():
        name = op_name(op)
        cat = OP_KEYS[name][1] if name in OP_KEYS else "other"
        out[cat] = out.get(cat, 0) + int(value)
    return out
