"""The op -> cost rule tables of ``analyze()`` (data, like fvcore's handles): one handler per
module class and per tensor function, each returning the kind, label, MACs and elementwise ops.

Conventions (the same as the designs' ``core.ops``):
  * conv (any dim, groups):  MACs = out.numel() * (c_in/groups) * prod(kernel); transposed:
    in.numel() * (c_out/groups) * prod(kernel); bias adds no MAC. Linear: out.numel() * in_features.
  * BatchNorm (eval): 2 ops per element with affine, 1 without. LayerNorm / GroupNorm: 5 per
    element with affine, 4 without; InstanceNorm likewise (fvcore's estimate, stated as such).
  * activations, add, mul, softmax, gather: 1 op per output element; topk: 1 per input element.
    Max/avg pool: prod(kernel) per output element. Adaptive avg pool: 1 per input element.
    Upsample: 1 per output element (nearest), 4 (bilinear). cat, views, dropout, identity,
    flatten: 0 ops (data movement / free).
A module or function with no rule gets kind "unknown" (its costs None): never silently zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .recording import Record, function_name, numel, shape, tensors


@dataclass
class Cost:
    """What one rule says: op kind, human label, MACs, elementwise ops, facts peers need."""

    kind: str
    layer: str
    macs: int = 0
    elem: int = 0
    info: dict[str, Any] = field(default_factory=dict)


def conv_label(c_in: int, c_out: int, groups: int, kernel: tuple[int, ...]) -> str:
    """pointwise / depthwise (groups == c_in, any channel multiplier) / group / conv."""
    if groups == 1:
        return "pointwise" if all(k == 1 for k in kernel) else "conv"
    if groups == c_in and c_out % c_in == 0:
        return "depthwise"
    return "group"


# --- module rules: (module, input shapes, output shape) -> Cost --------------------------------

def _conv(mod, ins, out) -> Cost:
    kernel = tuple(mod.kernel_size)
    info = {"bias": mod.bias is not None, "groups": mod.groups, "kernel": kernel}
    if mod.transposed:  # every input element scatters (c_out/groups) * prod(k) products
        per = (mod.out_channels // mod.groups) * math.prod(kernel)
        return Cost("conv_transpose", "transposed conv", numel(ins[0]) * per, info={**info, "transposed": True})
    per = (mod.in_channels // mod.groups) * math.prod(kernel)
    label = conv_label(mod.in_channels, mod.out_channels, mod.groups, kernel)
    return Cost("conv", label, numel(out) * per, info={**info, "transposed": False})


def _linear(mod, ins, out) -> Cost:
    return Cost("linear", "linear", numel(out) * mod.in_features,
                info={"bias": mod.bias is not None, "in_features": mod.in_features})


def _batch_norm(mod, ins, out) -> Cost:
    return Cost("batch_norm", "BN", elem=numel(ins[0]) * (2 if mod.affine else 1), info={"affine": bool(mod.affine)})


def _norm(kind: str, flag: str):
    def rule(mod, ins, out) -> Cost:
        affine = bool(getattr(mod, flag))
        return Cost(kind, "norm", elem=numel(ins[0]) * (5 if affine else 4), info={"affine": affine})
    return rule


def _per_output(kind: str, layer: str):
    def rule(mod, ins, out) -> Cost:
        return Cost(kind, layer, elem=numel(out))
    return rule


def _softmax(mod, ins, out) -> Cost:
    return Cost("softmax", "softmax", elem=numel(out), info={"dim": mod.dim})


def _pool(mod, ins, out) -> Cost:
    dims = len(ins[0]) - 2
    k = mod.kernel_size if isinstance(mod.kernel_size, tuple) else (mod.kernel_size,) * dims
    kind = ("max_pool" if "Max" in type(mod).__name__ else "avg_pool") + f"{dims}d"
    return Cost(kind, "pool", elem=math.prod(k) * numel(out), info={"kernel": tuple(k)})


def _adaptive(prefix: str):
    def rule(mod, ins, out) -> Cost:
        return Cost(f"{prefix}{len(ins[0]) - 2}d", "pool", elem=numel(ins[0]))
    return rule


def _upsample(mod, ins, out) -> Cost:
    return Cost("upsample", "upsample", elem=(4 if mod.mode == "bilinear" else 1) * numel(out), info={"mode": mod.mode})


def _free(mod, ins, out) -> Cost:
    return Cost("free", "free")


ACTIVATIONS = {"ReLU": "relu", "ReLU6": "relu6", "LeakyReLU": "leaky_relu", "PReLU": "prelu",
               "ELU": "elu", "GELU": "gelu", "SiLU": "silu", "Sigmoid": "sigmoid", "Tanh": "tanh",
               "Hardsigmoid": "hardsigmoid", "Hardswish": "hardswish", "Hardtanh": "hardtanh",
               "Mish": "mish", "Softplus": "softplus"}
"""nn activation class -> op kind (1 op per output element)."""

FREE_MODULES = ("Identity", "Dropout", "Dropout2d", "Dropout1d", "Dropout3d", "AlphaDropout",
                "Flatten", "Unflatten", "ZeroPad2d", "ConstantPad2d", "PixelShuffle", "ChannelShuffle")
"""nn classes that move data or do nothing in eval: 0 ops."""


def _module_rules() -> dict[type, Callable]:
    """nn class -> rule; a module uses the rule of the first class of its MRO found here."""
    from torch import nn

    rules: dict[type, Callable] = {
        nn.modules.conv._ConvNd: _conv, nn.Linear: _linear, nn.modules.batchnorm._BatchNorm: _batch_norm,
        nn.LayerNorm: _norm("layer_norm", "elementwise_affine"), nn.GroupNorm: _norm("group_norm", "affine"),
        nn.modules.instancenorm._InstanceNorm: _norm("instance_norm", "affine"),
        nn.Softmax: _softmax, nn.LogSoftmax: _softmax, nn.Upsample: _upsample,
        nn.Embedding: _per_output("gather", "embedding"), nn.EmbeddingBag: _per_output("gather", "embedding"),
    }
    for name in ("MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d"):
        rules[getattr(nn, name)] = _pool
    for d in (1, 2, 3):
        rules[getattr(nn, f"AdaptiveAvgPool{d}d")] = _adaptive("adaptive_avg_pool")
        rules[getattr(nn, f"AdaptiveMaxPool{d}d")] = _adaptive("adaptive_max_pool")
    rules.update({getattr(nn, name): _per_output(kind, "activation") for name, kind in ACTIVATIONS.items()})
    rules.update({getattr(nn, name): _free for name in FREE_MODULES if hasattr(nn, name)})
    return rules


_MODULE_RULES: dict[type, Callable] | None = None


def module_rule_for(mod) -> Callable | None:
    """The rule of the module's class (or of its nearest base class that has one)."""
    global _MODULE_RULES
    if _MODULE_RULES is None:
        _MODULE_RULES = _module_rules()
    return next((_MODULE_RULES[k] for k in type(mod).__mro__ if k in _MODULE_RULES), None)


def module_record(path: str, mod, args: Any, output: Any, params: int) -> Record:
    """Cost a leaf module's call from its shapes (the rules in the module docstring)."""
    ins = [shape(t) for t in tensors(args)]
    outs = tensors(output)
    out = shape(outs[0]) if outs else ()
    rec = Record(path, "module", type(mod).__name__, "unknown", "unknown", ins, out, params=params,
                 macs=None, elem=None, reads=sum(numel(s) for s in ins), writes=numel(out))
    rule = module_rule_for(mod)
    if rule is None or not ins:
        return rec  # unknown: shapes and params kept, costs None
    cost = rule(mod, ins, out)
    rec.kind, rec.layer, rec.macs, rec.elem = cost.kind, cost.layer, int(cost.macs), int(cost.elem)
    rec.info.update(cost.info)
    return rec


# --- function rules: (args, kwargs, input shapes, output shapes) -> Cost -------------------------

def _elementwise(kind: str, layer: str = "elementwise"):
    def rule(args, kwargs, ins, outs) -> Cost:
        return Cost(kind, layer, elem=sum(numel(s) for s in outs),
                    info={"tensor_operands": sum(1 for a in args[:2] if hasattr(a, "shape"))})
    return rule


def _activation(kind: str):
    def rule(args, kwargs, ins, outs) -> Cost:
        return Cost(kind, "activation", elem=sum(numel(s) for s in outs))
    return rule


def _f_concat(args, kwargs, ins, outs) -> Cost:
    return Cost("concat", "concat")


def _f_gather(args, kwargs, ins, outs) -> Cost:  # a copy of the selected elements, as dgc.py
    return Cost("gather", "gather", elem=numel(outs[0]))


def _f_topk(args, kwargs, ins, outs) -> Cost:  # 1 comparison per input element, as dgc.py
    return Cost("topk", "selection", elem=sum(numel(s) for s in ins))


def _f_softmax(args, kwargs, ins, outs) -> Cost:
    return Cost("softmax", "softmax", elem=sum(numel(s) for s in outs))


def _f_matmul(args, kwargs, ins, outs) -> Cost:
    return Cost("matmul", "matmul", macs=numel(outs[0]) * ins[0][-1])


def _f_linear(args, kwargs, ins, outs) -> Cost:
    weight = ins[1]
    return Cost("linear", "linear", macs=sum(numel(s) for s in outs) * weight[-1],
                info={"bias": len(ins) > 2, "in_features": weight[-1]})


def _f_conv(args, kwargs, ins, outs) -> Cost:
    return Cost("conv", "conv", macs=sum(numel(s) for s in outs) * numel(ins[1][1:]), info={"bias": len(ins) > 2})


def _f_reduce_input(kind: str):
    def rule(args, kwargs, ins, outs) -> Cost:
        return Cost(kind, "pool", elem=sum(numel(s) for s in ins))
    return rule


def _f_pool(kind: str):
    def rule(args, kwargs, ins, outs) -> Cost:
        k = args[1] if len(args) > 1 else kwargs.get("kernel_size")
        k = (k, k) if isinstance(k, int) else tuple(k)
        return Cost(kind, "pool", elem=math.prod(k) * sum(numel(s) for s in outs), info={"kernel": k})
    return rule


FUNCTION_RULES: dict[str, Callable] = {
    **{n: _elementwise("add") for n in ("add", "iadd", "radd", "sub", "isub", "rsub")},
    **{n: _elementwise("mul") for n in ("mul", "imul", "rmul", "div", "truediv", "itruediv", "rtruediv")},
    **{n: _activation(n) for n in ("relu", "relu6", "hardtanh", "hardsigmoid", "hardswish", "sigmoid",
                                   "silu", "gelu", "tanh", "leaky_relu", "elu")},
    "clamp": _activation("clamp"), "clamp_min": _activation("clamp"),
    "softmax": _f_softmax, "log_softmax": _f_softmax,
    "cat": _f_concat, "concat": _f_concat, "stack": _f_concat,
    "matmul": _f_matmul, "mm": _f_matmul, "bmm": _f_matmul, "linear": _f_linear, "conv2d": _f_conv,
    "adaptive_avg_pool2d": _f_reduce_input("adaptive_avg_pool2d"), "mean": _f_reduce_input("mean"),
    "avg_pool2d": _f_pool("avg_pool2d"), "max_pool2d": _f_pool("max_pool2d"),
    "gather": _f_gather, "index_select": _f_gather, "topk": _f_topk, "sort": _f_topk,
}
"""Tensor function name (in-place "_" and dunder stripped) -> rule."""

FREE_FUNCTIONS = frozenset({
    "get", "size", "dim", "numel", "view", "reshape", "flatten", "permute", "transpose", "t",
    "contiguous", "getitem", "chunk", "split", "narrow", "unsqueeze", "squeeze", "expand",
    "expand_as", "unbind", "to", "float", "type", "detach", "clone", "len", "is_contiguous",
    "dropout", "identity", "empty", "zeros", "ones", "zeros_like", "ones_like", "empty_like",
    "set_grad_enabled", "is_floating_point", "setitem", "repeat", "new_zeros", "new_empty",
    "channel_shuffle", "pixel_shuffle", "pad", "format", "repr", "bool", "item", "tolist",
    "requires_grad_", "data_ptr", "storage_offset", "stride", "element_size", "flip", "roll",
})
"""Tensor functions that compute nothing (views, copies, shape queries, allocations): no record."""


def function_record(path: str, func: Any, args: tuple, kwargs: dict, result: Any) -> Record | None:
    """Cost a tensor function called by a non-leaf module; None for free ones."""
    name = function_name(func)
    if name in FREE_FUNCTIONS:
        return None
    found = tensors(list(args) + list(kwargs.values()))
    outs = tensors(result)
    if not found and not outs:
        return None  # no tensor involved (e.g. a shape computation)
    if outs and not any(t.is_floating_point() or t.is_complex() for t in outs):
        return None  # index arithmetic (arange, offsets): bookkeeping, not model compute
    ins = [shape(t) for t in found]
    out_shapes = [shape(t) for t in outs]
    rec = Record(path, "function", name, "unknown", "unknown", ins, out_shapes[0] if out_shapes else (),
                 macs=None, elem=None, reads=sum(numel(s) for s in ins), writes=sum(numel(s) for s in out_shapes))
    rule = FUNCTION_RULES.get(name)
    if rule is None:
        return rec
    cost = rule(args, kwargs, ins, out_shapes)
    rec.kind, rec.layer, rec.macs, rec.elem = cost.kind, cost.layer, int(cost.macs), int(cost.elem)
    rec.info.update(cost.info)
    return rec


# --- design hints ------------------------------------------------------------------------------

DESIGN_HINTS: tuple[tuple[str, str], ...] = (
    ("squeezeexcit", "SE"), ("selayer", "SE"), ("semodule", "SE"), ("ghostbottleneck", "Ghost bottleneck"),
    ("ghost", "Ghost module"), ("spconv", "SPConv"), ("bottleneck", "bottleneck"), ("residual", "residual"),
    ("basicblock", "residual"), ("inception", "Inception"),
)
"""Lower-case class-name fragments of foreign modules -> the design their own ops belong to."""


def design_hint(class_name: str) -> str | None:
    """The design a non-leaf module's own ops belong to, recognised by its class name."""
    low = class_name.lower()
    return next((label for fragment, label in DESIGN_HINTS if fragment in low), None)
