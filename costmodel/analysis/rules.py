"""The op -> cost rule tables of ``analyze()`` (data, like fvcore's handles): one handler per
module class and per tensor function, each returning the kind, label, MACs and elementwise ops.

Conventions (the same as the designs' ``core.ops``):
  * conv (any dim, groups):  MACs = out.numel() * (c_in/groups) * prod(kernel); transposed:
    in.numel() * (c_out/groups) * prod(kernel); bias adds no MAC. Linear: out.numel() * in_features.
  * BatchNorm (eval): 2 ops per element with affine, 1 without. LayerNorm / GroupNorm: 5 per
    element with affine, 4 without; InstanceNorm likewise (fvcore's estimate, stated as such).
  * activations, add, mul, softmax, gather: 1 op per output element; topk: 1 per input element.
    Max/avg pool: prod(kernel) per output element. Adaptive avg pool: 1 per input element.
    Upsample / interpolate / grid_sample: 1 per output element (nearest), 2 linear, 4 bilinear,
    8 trilinear, 16 bicubic; "area" is an adaptive average pool: 1 per input element.
    F.normalize: 2 per element (the norm reads each, the divide writes each). RMS norm: 4 per
    element with a weight (square, mean, scale, weight), 3 without. Outer product: 1 mul per
    output element. cat, views, permute, dropout, identity, flatten: 0 ops (data movement / free).
  * matmul / mm / bmm / mv / dot / addmm / addmv / baddbmm: out.numel() x the contracted size;
    tensordot likewise (contracted size = sqrt(a.numel() x b.numel() / out.numel())). einsum: left-to-right
    pairwise contractions, prod(label sizes) MACs each. Attention (SDPA, nn.MultiheadAttention):
    see ``_f_sdpa`` and ``_f_mha``; its MACs go to the "linear" key like every matrix product.
A module or function with no rule gets kind "unknown" (its costs None): never silently zero.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.geometry import classify_conv
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
    """pointwise / depthwise (groups == c_in, any channel multiplier) / group / conv: the core
    classifier's kind, with "conv" for a dense kernel (the analysis table's wording)."""
    kind = classify_conv(c_in, c_out, groups, 1 if all(k == 1 for k in kernel) else 3)
    return "conv" if kind == "dense" else kind


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


def _upsample(mod, ins, out) -> Cost | None:
    """nn.Upsample: the same cost as F.interpolate in its mode (``resize_cost``)."""
    return resize_cost(mod.mode, ins[0], out)


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
    """The rule of the module's class or of its nearest base class that has one, if the module
    still runs that class's forward (a subclass with its own forward is costed by what it calls)."""
    global _MODULE_RULES
    if _MODULE_RULES is None:
        _MODULE_RULES = _module_rules()
    klass = next((k for k in type(mod).__mro__ if k in _MODULE_RULES), None)
    owner = next((k for k in type(mod).__mro__ if "forward" in vars(k)), None)
    if klass is None or owner is None or not owner.__module__.startswith("torch."):
        return None  # no rule, or a user class's own forward
    return _MODULE_RULES[klass]


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
    if cost is None:
        return rec  # the rule does not cover this configuration (e.g. an unusual mode)
    rec.kind, rec.layer, rec.macs, rec.elem = cost.kind, cost.layer, int(cost.macs), int(cost.elem)
    rec.info.update(cost.info)
    return rec


# --- function rules: (call, input shapes, output shapes) -> Cost or [Cost, ...] -----------------

@dataclass
class Call:
    """One tensor function call: its positional and keyword arguments, and ``arg(name)`` by name."""

    func: Any
    args: tuple
    kwargs: dict

    def arg(self, name: str, index: int, default: Any = None) -> Any:
        """The argument ``name`` (keyword, else position ``index``), else ``default``."""
        if name in self.kwargs:
            return self.kwargs[name]
        return self.args[index] if len(self.args) > index else default


def _elementwise(kind: str, layer: str = "elementwise"):
    def rule(call, ins, outs) -> Cost:
        return Cost(kind, layer, elem=sum(numel(s) for s in outs),
                    info={"tensor_operands": sum(1 for a in call.args[:2] if hasattr(a, "shape"))})
    return rule


def _activation(kind: str):
    def rule(call, ins, outs) -> Cost:
        return Cost(kind, "activation", elem=sum(numel(s) for s in outs))
    return rule


def _f_concat(call, ins, outs) -> Cost:
    return Cost("concat", "concat")


def _f_gather(call, ins, outs) -> Cost:  # a copy of the selected elements, as dgc.py
    return Cost("gather", "gather", elem=numel(outs[0]))


def _f_topk(call, ins, outs) -> Cost:  # 1 comparison per input element, as dgc.py
    return Cost("topk", "selection", elem=sum(numel(s) for s in ins))


def _f_softmax(call, ins, outs) -> Cost:
    return Cost("softmax", "softmax", elem=sum(numel(s) for s in outs))


def _f_matmul(call, ins, outs) -> Cost:
    """A @ B, mm, bmm, mv, dot (any rank, broadcast batch): out.numel() x the contracted size A[-1].
    With a 1-D operand torch runs aten mv / dot, which FlopCounterMode has no formula for."""
    return Cost("matmul", "matmul", macs=numel(outs[0]) * ins[0][-1],
                info={"vector": len(ins[0]) == 1 or len(ins[1]) == 1})


def _f_addmm(kind: str):
    def rule(call, ins, outs) -> Cost:
        """input + A @ B (addmm, addmv, baddbmm): out.numel() x A[-1]; the add of ``input`` is not a MAC."""
        return Cost(kind, "matmul", macs=numel(outs[0]) * ins[1][-1], info={"vector": len(ins[2]) == 1})
    return rule


def _f_tensordot(call, ins, outs) -> Cost:
    """torch.tensordot: a (free_a x c) by (c x free_b) product, out.numel() x c MACs with
    c = sqrt(a.numel() x b.numel() / out.numel()) (the contracted dims appear in both operands)."""
    contracted = math.isqrt(numel(ins[0]) * numel(ins[1]) // max(numel(outs[0]), 1))
    return Cost("tensordot", "matmul", macs=numel(outs[0]) * contracted)


def _f_outer(call, ins, outs) -> Cost:
    """torch.outer / ger: one multiply per output element, nothing accumulated."""
    return Cost("mul", "elementwise", elem=numel(outs[0]))


def _f_linear(call, ins, outs) -> Cost:
    weight = ins[1]
    return Cost("linear", "linear", macs=sum(numel(s) for s in outs) * weight[-1],
                info={"bias": len(ins) > 2, "in_features": weight[-1]})


def _f_conv(call, ins, outs) -> Cost:
    """F.conv{1,2,3}d: out.numel() x (c_in/groups) x prod(kernel) = out.numel() x weight[1:].numel()."""
    return Cost("conv", "conv", macs=numel(outs[0]) * numel(ins[1][1:]), info={"bias": len(ins) > 2})


def _f_conv_transpose(call, ins, outs) -> Cost:
    """F.conv_transpose{1,2,3}d: in.numel() x (c_out/groups) x prod(kernel) = in.numel() x weight[1:].numel()."""
    return Cost("conv_transpose", "transposed conv", macs=numel(ins[0]) * numel(ins[1][1:]),
                info={"bias": len(ins) > 2})


def _f_reduce_input(kind: str, layer: str = "pool"):
    def rule(call, ins, outs) -> Cost:
        """A reduction: 1 op per input element."""
        return Cost(kind, layer, elem=numel(ins[0]))
    return rule


def _f_pool(kind: str):
    def rule(call, ins, outs) -> Cost:
        k = call.arg("kernel_size", 1)
        dims = len(ins[0]) - 2
        k = (k,) * dims if isinstance(k, int) else tuple(k)
        return Cost(kind, "pool", elem=math.prod(k) * numel(outs[0]), info={"kernel": k})
    return rule


def _f_batch_norm(call, ins, outs) -> Cost:
    """F.batch_norm (eval): 2 ops per element with a weight (scale and shift), 1 without."""
    affine = call.arg("weight", 3) is not None
    return Cost("batch_norm", "BN", elem=numel(ins[0]) * (2 if affine else 1), info={"affine": affine})


def _f_norm(kind: str, weight_index: int):
    def rule(call, ins, outs) -> Cost:
        """layer / group / instance norm: 5 ops per element with a weight, 4 without."""
        affine = call.arg("weight", weight_index) is not None
        return Cost(kind, "norm", elem=numel(ins[0]) * (5 if affine else 4), info={"affine": affine})
    return rule


INTERPOLATE_OPS = {"nearest": 1, "nearest-exact": 1, "linear": 2, "bilinear": 4, "bicubic": 16, "trilinear": 8}
"""Interpolation mode -> ops per output element (the taps it blends; nearest copies)."""


def resize_cost(mode: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> Cost | None:
    """Interpolation: INTERPOLATE_OPS[mode] per output element; "area" is adaptive average
    pooling, 1 op per input element; any other mode has no rule (None: unknown)."""
    if mode == "area":  # torch runs adaptive_avg_pool{1,2,3}d: name it so (fvcore counts the 2-D one)
        return Cost(f"adaptive_avg_pool{len(in_shape) - 2}d", "upsample", elem=numel(in_shape), info={"mode": mode})
    if mode not in INTERPOLATE_OPS:
        return None
    return Cost("upsample", "upsample", elem=INTERPOLATE_OPS[mode] * numel(out_shape),
                info={"mode": mode, "dims": len(in_shape) - 2})


def _f_interpolate(call, ins, outs) -> Cost | None:
    """F.interpolate / F.upsample: ``resize_cost`` of its mode; antialiased resizing (wider,
    scale-dependent filters) has no rule."""
    if call.arg("antialias", 6, False):
        return None
    return resize_cost(call.arg("mode", 3, "nearest"), ins[0], outs[0])


def _f_grid_sample(call, ins, outs) -> Cost | None:
    """F.grid_sample: INTERPOLATE_OPS[mode] per output element (bilinear 4 taps on 2-D input,
    trilinear 8 on 3-D: torch calls both "bilinear"); the grid itself is read, not computed."""
    mode = call.arg("mode", 2, "bilinear")
    if mode == "bilinear" and len(ins[0]) == 5:
        mode = "trilinear"
    if mode not in INTERPOLATE_OPS:
        return None
    return Cost("grid_sample", "upsample", elem=INTERPOLATE_OPS[mode] * numel(outs[0]), info={"mode": mode})


def _f_normalize(call, ins, outs) -> Cost:
    """F.normalize: the p-norm reads every element (1 op), the divide writes every element (1 op)."""
    return Cost("normalize", "norm", elem=2 * numel(ins[0]))


def _f_rms_norm(call, ins, outs) -> Cost:
    """F.rms_norm (nn.RMSNorm): square, mean, scale by the rsqrt: 3 ops per element, + 1 weight."""
    affine = call.arg("weight", 2) is not None
    return Cost("rms_norm", "norm", elem=numel(ins[0]) * (4 if affine else 3), info={"affine": affine})


def _attention_costs(rows: int, s: int, e: int, ev: int, masked: bool, fvcore_sees: bool = False) -> list[Cost]:
    """Attention core: QK^T (rows x S x E MACs) and AV (rows x S x Ev), rows = batch x heads x L;
    then per score (rows x S): 1 scale + 1 softmax (+ 1 mask add) elementwise ops.
    ``fvcore_sees``: fvcore's trace counts the products (MHA's explicit path runs bmm, which
    fvcore handles; a mask makes QK^T a baddbmm, which it does not; SDPA it never sees)."""
    scores = rows * s
    return [Cost("attention", "attention QK^T", macs=scores * e,
                 info={"scores": scores, "fvcore_sees": fvcore_sees and not masked}),
            Cost("attention", "attention AV", macs=scores * ev, info={"fvcore_sees": fvcore_sees}),
            Cost("softmax", "attention softmax", elem=scores * (2 + int(masked)))]


def _f_sdpa(call, ins, outs) -> list[Cost]:
    """F.scaled_dot_product_attention (any backend: costed from shapes, not from the kernel that
    ran). q (..., Hq, L, E), k (..., Hk, S, E), v (..., Hk, S, Ev); GQA repeats k/v over Hq // Hk,
    so every one of the Hq heads does L x S x (E + Ev) MACs. Causal and masked: the full product
    (what the math path computes), plus 1 mask op per score."""
    q, k, v = ins[0], ins[1], ins[2]
    masked = call.arg("attn_mask", 3) is not None or bool(call.arg("is_causal", 5, False))
    return _attention_costs(numel(outs[0][:-1]), k[-2], q[-1], v[-1], masked)


def _f_mha(call, ins, outs) -> list[Cost]:
    """F.multi_head_attention_forward (nn.MultiheadAttention, fast or slow path): query (L, N, E)
    or unbatched (L, E); key (S, N, kdim), value (S, N, vdim).
    MACs: q projection L N E^2, k projection S N kdim E, v projection S N vdim E (packed or separate
    weights: rows x weight.numel()), attention N L S' E twice (QK^T and AV over all heads, S' = S
    + 1 per bias_k / add_zero_attn), out projection L N E^2. Biases add no MAC."""
    q, k, v = (call.arg(n, i) for n, i in (("query", 0), ("key", 1), ("value", 2)))
    batch = q.shape[1] if q.dim() == 3 else 1
    rows_q, rows_k, rows_v = (t.shape[0] * batch for t in (q, k, v))
    e = int(call.arg("embed_dim_to_check", 3))
    if call.arg("use_separate_proj_weight", 17, False):
        w = [call.arg(n, i) for n, i in (("q_proj_weight", 18), ("k_proj_weight", 19), ("v_proj_weight", 20))]
        proj = [r * t.numel() for r, t in zip((rows_q, rows_k, rows_v), w)]
    else:
        proj = [r * e * e for r in (rows_q, rows_k, rows_v)]
    if call.arg("static_k", 21) is not None:
        proj[1] = 0
    if call.arg("static_v", 22) is not None:
        proj[2] = 0
    s = k.shape[0] + int(call.arg("bias_k", 7) is not None) + int(bool(call.arg("add_zero_attn", 9, False)))
    out_w = call.arg("out_proj_weight", 11)
    projections = Cost("linear", "attention projections", macs=sum(proj) + rows_q * out_w.numel())
    masked = any(call.arg(n, i) is not None for n, i in (("attn_mask", 16), ("key_padding_mask", 14))) \
        or bool(call.arg("is_causal", 24, False))
    heads = int(call.arg("num_heads", 4))
    # need_weights=True (the default) runs explicit bmm's, which fvcore's trace counts; False runs SDPA
    core = _attention_costs(batch * heads * q.shape[0], s, e // heads, e // heads, masked,
                            fvcore_sees=bool(call.arg("need_weights", 15, True)))
    return [projections, *core]


def _f_einsum(call, ins, outs) -> Cost | None:
    """torch.einsum: operands contracted left to right (torch's order without opt_einsum); each
    pairwise step first sums out labels no later step needs (adds, not MACs), then does
    prod(sizes of the labels of both operands) MACs, the batched matmul torch runs."""
    equation = call.args[0] if call.args else call.kwargs.get("equation")
    operands = [t for t in tensors(list(call.args[1:]))]
    plan = einsum_plan(equation, [tuple(t.shape) for t in operands])
    if plan is None:
        return None
    macs, adds = plan
    return Cost("einsum", "einsum", macs=macs, info={"equation": equation, "summed": adds})


def einsum_plan(equation: str, shapes: list[tuple[int, ...]]) -> tuple[int, int] | None:
    """(MACs, summed elements) of an einsum, left-to-right pairwise; None if it cannot be parsed."""
    eq = equation.replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        return None
    if "." in eq:
        terms, rhs = _expand_ellipsis(terms, shapes, rhs if "->" in eq else None)
    sizes: dict[str, int] = {}
    for term, shp in zip(terms, shapes):
        if len(term) != len(shp):
            return None
        for label, n in zip(term, shp):
            sizes[label] = max(sizes.get(label, 1), n)
    if "->" not in eq:
        rhs = "".join(sorted(label for label in sizes if "".join(terms).count(label) == 1))
    current, macs, adds = terms[0], 0, 0
    for i, term in enumerate(terms[1:], start=1):
        later = set(rhs) | set("".join(terms[i + 1:]))
        keep_a = {c for c in current if c in term or c in later}
        keep_b = {c for c in term if c in current or c in later}
        adds += _summed(current, keep_a, sizes) + _summed(term, keep_b, sizes)
        labels = keep_a | keep_b
        macs += math.prod(sizes[c] for c in labels)
        current = "".join(sorted(c for c in labels if c in later))
    adds += _summed(current, set(rhs), sizes)
    return macs, adds


def _summed(term: str, keep: set[str], sizes: dict[str, int]) -> int:
    """Elements read by summing ``term`` over its labels not in ``keep`` (0 when none is summed)."""
    if set(term) <= keep:
        return 0
    return math.prod(sizes[c] for c in set(term))


def _expand_ellipsis(terms, shapes, rhs=None):
    """Replace "..." by fresh upper-case labels (right-aligned broadcast dims)."""
    fresh = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    width = max((len(s) - (len(t) - 3) for t, s in zip(terms, shapes) if "..." in t), default=0)
    dots = fresh[:width]
    out = [t.replace("...", dots[width - (len(s) - (len(t) - 3)):]) if "..." in t else t
           for t, s in zip(terms, shapes)]
    if rhs is None:
        return out, None
    return out, rhs.replace("...", dots)


UNARY = ("relu", "relu6", "hardtanh", "hardsigmoid", "hardswish", "sigmoid", "silu", "gelu", "tanh",
         "leaky_relu", "elu", "selu", "celu", "mish", "softplus", "softsign", "prelu", "logsigmoid", "log_sigmoid",
         "hardshrink", "softshrink", "rrelu",
         "tanhshrink", "threshold", "glu", "exp", "log", "sqrt", "rsqrt", "abs", "neg", "erf", "sin",
         "cos", "square", "reciprocal", "sign", "floor", "ceil", "round")
"""Activations and unary math: 1 op per output element, kind = the function's name."""

REDUCTIONS = ("sum", "amax", "amin", "max", "min", "var", "std", "norm", "logsumexp", "prod", "cumsum",
              "argmax", "argmin", "var_mean", "std_mean")
"""Reductions: 1 op per input element (kind "reduction")."""

FUNCTION_RULES: dict[str, Callable] = {
    **{n: _elementwise("add") for n in ("add", "iadd", "radd", "sub", "isub", "rsub", "subtract")},
    **{n: _elementwise("mul") for n in ("mul", "imul", "rmul", "div", "truediv", "itruediv", "rtruediv",
                                        "maximum", "minimum", "where", "masked_fill", "pow", "rpow",
                                        "addcmul", "addcdiv", "lerp", "floordiv", "rfloordiv", "ifloordiv",
                                        "floor_divide", "true_divide", "remainder", "mod", "rmod", "imod",
                                        "fmod", "multiply", "divide")},
    **{n: _activation(n) for n in UNARY},
    "clamp": _activation("clamp"), "clamp_min": _activation("clamp"), "clip": _activation("clamp"),
    "softmax": _f_softmax, "log_softmax": _f_softmax, "softmin": _f_softmax,
    "cat": _f_concat, "concat": _f_concat, "stack": _f_concat,
    "matmul": _f_matmul, "mm": _f_matmul, "bmm": _f_matmul, "mv": _f_matmul, "dot": _f_matmul,
    "vdot": _f_matmul, "addmm": _f_addmm("matmul"), "addmv": _f_addmm("matmul"),
    "baddbmm": _f_addmm("baddbmm"), "einsum": _f_einsum, "linear": _f_linear, "tensordot": _f_tensordot,
    "outer": _f_outer, "ger": _f_outer,
    **{f"conv{d}d": _f_conv for d in (1, 2, 3)},
    **{f"conv_transpose{d}d": _f_conv_transpose for d in (1, 2, 3)},
    **{f"adaptive_avg_pool{d}d": _f_reduce_input(f"adaptive_avg_pool{d}d") for d in (1, 2, 3)},
    **{f"adaptive_max_pool{d}d": _f_reduce_input(f"adaptive_max_pool{d}d") for d in (1, 2, 3)},
    **{f"{kind}{d}d": _f_pool(f"{kind}{d}d") for kind in ("avg_pool", "max_pool") for d in (1, 2, 3)},
    "mean": _f_reduce_input("mean"), **{n: _f_reduce_input("reduction", "reduction") for n in REDUCTIONS},
    "batch_norm": _f_batch_norm, "layer_norm": _f_norm("layer_norm", 2), "group_norm": _f_norm("group_norm", 2),
    "instance_norm": _f_norm("instance_norm", 3), "interpolate": _f_interpolate,
    "normalize": _f_normalize, "rms_norm": _f_rms_norm, "grid_sample": _f_grid_sample,
    "upsample": _f_interpolate, "scaled_dot_product_attention": _f_sdpa,
    "multi_head_attention_forward": _f_mha,
    "gather": _f_gather, "index_select": _f_gather, "embedding": _f_gather, "take_along_dim": _f_gather,
    "topk": _f_topk, "sort": _f_topk,
}
"""Tensor function name (in-place "_" and dunder stripped) -> rule."""

FREE_FUNCTIONS = frozenset({
    "get", "size", "dim", "numel", "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten",
    "permute", "movedim", "moveaxis", "swapaxes", "swapdims", "transpose", "t", "contiguous", "getitem",
    "chunk", "split", "split_with_sizes", "tensor_split", "narrow", "unsqueeze", "squeeze", "expand",
    "expand_as", "unbind", "to", "float", "half", "double", "type", "type_as", "detach", "clone", "len",
    "is_contiguous", "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
    "feature_alpha_dropout", "identity", "empty", "zeros", "ones", "full", "zeros_like", "ones_like",
    "empty_like", "full_like", "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor", "tensor",
    "set_grad_enabled", "is_floating_point", "setitem", "repeat", "repeat_interleave", "tile",
    "channel_shuffle", "pixel_shuffle", "pixel_unshuffle", "pad", "format", "repr", "bool", "item",
    "tolist", "requires_grad_", "data_ptr", "storage_offset", "stride", "element_size", "flip", "roll",
    "fill", "zero", "copy", "unfold", "fold", "bernoulli", "rand", "randn", "rand_like", "randn_like",
    "normal", "uniform", "arange", "linspace", "device", "shape", "dtype", "is_complex", "nelement",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_not", "logical_and", "logical_or", "isfinite", "isnan",
    "any", "all", "triu", "tril", "masked_select", "nonzero",
})
"""Tensor functions that compute nothing to count (views, copies, shape queries, allocations,
comparisons and masks): no record."""


def function_record(path: str, func: Any, args: tuple, kwargs: dict, result: Any) -> list[Record]:
    """Cost one tensor function call: its records ([] for free ones; kind "unknown" without a rule)."""
    name = function_name(func)
    if name in FREE_FUNCTIONS:
        return []
    found = tensors(list(args) + list(kwargs.values()))
    outs = tensors(result)
    if not found and not outs:
        return []  # no tensor involved (e.g. a shape computation)
    if outs and not any(t.is_floating_point() or t.is_complex() for t in outs):
        return []  # index arithmetic (arange, offsets): bookkeeping, not model compute
    ins = [shape(t) for t in found]
    out_shapes = [shape(t) for t in outs]

    def record(cost: Cost | None, first: bool) -> Record:
        rec = Record(path, "function", name, "unknown", "unknown", ins, out_shapes[0] if out_shapes else (),
                     macs=None, elem=None, reads=sum(numel(s) for s in ins) if first else 0,
                     writes=sum(numel(s) for s in out_shapes) if first else 0)
        if cost is not None:
            rec.kind, rec.layer, rec.macs, rec.elem = cost.kind, cost.layer, int(cost.macs), int(cost.elem)
            rec.info.update(cost.info)
        return rec

    rule = FUNCTION_RULES.get(name)
    costs = rule(Call(func, args, kwargs), ins, out_shapes) if rule is not None else None
    costs = costs if isinstance(costs, list) else [costs]
    return [record(cost, i == 0) for i, cost in enumerate(costs)]


# --- design hints ------------------------------------------------------------------------------

def design_hints() -> tuple[tuple[str, str], ...]:
    """(lower-case class-name fragment, design title) from every registered design's declared
    ``foreign_module_names`` hook (core/spec.py), longest fragment first so that the most specific
    name wins ("ghostbottleneck" before a shorter fragment it contains). Adding a design adds its
    hints here with no edit to this file (the table is rebuilt when the registry changes)."""
    from ..core.registry import designs

    return _hints_of(tuple(designs().values()))


@functools.lru_cache(maxsize=4)
def _hints_of(classes: tuple[type, ...]) -> tuple[tuple[str, str], ...]:
    pairs = {(fragment.lower(), cls.title or cls.name) for cls in classes for fragment in cls.foreign_module_names}
    return tuple(sorted(pairs, key=lambda p: (-len(p[0]), p)))


def design_hint(class_name: str) -> str | None:
    """The design a non-leaf module's own ops belong to, recognised by its class name."""
    low = class_name.lower()
    return next((label for fragment, label in design_hints() if fragment in low), None)
