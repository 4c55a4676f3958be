"""GhostNet: More Features from Cheap Operations (Han et al., CVPR 2020),
https://arxiv.org/abs/1911.11907 -- the Ghost module (B1) and the Ghost bottleneck (B2).

Sources: seeds 000 and 004; the paper's reference code (huawei-noah/Efficient-AI-Backbones,
``ghostnet_pytorch``), whose rounding we reproduce exactly because every count depends on it:

* Ghost module: ``m = ceil(c_out/s)`` intrinsic maps from the primary conv, ``m*(s-1)`` ghost
  maps from a depthwise d x d "cheap" conv (each intrinsic map spawns s-1 ghosts), then
  ``cat`` and a slice back to ``c_out``. When s does not divide c_out the slice throws away
  ``m*s - c_out`` channels that were computed, and the trace counts them; so do we.
* SE width: ``_make_divisible(c_exp * 0.25, 4)`` (round to the nearest multiple of 4, at least
  4, and never more than 10 % below the exact value).

The paper's speed-up r_s and compression r_c are derived from the formulas by sympy in
``Ghost.ratios()`` and exposed in ``costmodel.formula("ghost").extra``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from types import SimpleNamespace

import sympy as sp

from ..core import ops
from ..core.ops import Op
from ..core.registry import register_design
from ..core import Constraint, Formulas, Spec, flag, size
from ..core.symbols import ceil_div, floor_div, is_odd, iverson

PAPER = "GhostNet, Han et al., CVPR 2020, https://arxiv.org/abs/1911.11907"


# --- formulas shared by the module and the bottleneck ---------------------------------------

def intrinsic_channels(cout: sp.Expr, ratio: sp.Expr) -> sp.Expr:
    """m = ceil(c_out / s): the maps the primary conv really computes."""
    return ceil_div(cout, ratio)


def ghost_ops(prefix: str, cin, cout, kernel, ratio, dw, stride_, h_in, w_in, relu_) -> list[Op]:
    """Ops of one Ghost module (c_in -> c_out).

    primary k x k conv c_in -> m (stride), BN, [ReLU]; cheap d x d depthwise conv m -> m*(s-1)
    (groups m, stride 1), BN, [ReLU]; concat of m*s maps. The slice to c_out is a view (no op).
    MACs = (c_in*m*k^2 + m*(s-1)*d^2) * h'*w'; params = c_in*m*k^2 + m*(s-1)*d^2 + 2*m*s (BN).
    """
    m = intrinsic_channels(cout, ratio)
    primary = ops.conv_bn_act(f"{prefix}primary_", cin, m, kernel, h_in, w_in, stride_, 1, 0, 1, relu_)
    ho, wo = primary[0].geometry["h_out"], primary[0].geometry["w_out"]
    # d is odd (a constraint), so the padding d//2 is (d-1)/2: written so, h' x w' stays visible.
    cheap = ops.conv_bn_act(f"{prefix}cheap_", m, m * (ratio - 1), dw, ho, wo, 1, m, 0, 1, relu_,
                            padding=(sp.S(dw) - 1) / 2)
    return primary + cheap + [ops.concat(f"{prefix}concat", m * ratio * ho * wo)]


def make_divisible(value: float, divisor: int = 4, min_value: int | None = None) -> int:
    """The reference GhostNet rounding: nearest multiple of ``divisor`` (ties up), at least
    ``min_value`` (default ``divisor``), bumped up by one ``divisor`` if that lost more than 10 %."""
    floor_value = divisor if min_value is None else min_value
    rounded = max(floor_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:  # same float comparison as the reference
        rounded += divisor
    return rounded


def se_width(c_exp_: sp.Expr) -> sp.Expr:
    """make_divisible(c_exp/4, 4) in closed form, exact for every integer c_exp >= 1.

    int(c/4 + 2) // 4 * 4 = 4*q with q = floor((c + 8)/16); max(4, .) adds 4 exactly when c < 8
    (q = 0); the 10 % rule (4*q < 0.9*c/4, i.e. 160*q < 9*c, never true for c < 8) adds 4 more:
    it fires for c in 18..23, 36..39, 54..55 (e.g. c = 23: 4 -> 8).
    """
    q = floor_div(c_exp_ + 8, 16)
    # sympy rewrites 160*q < 9*c as c > 160*q/9, which the integer printer floors; for an
    # integer c, c > floor(x/9) <=> c > x/9, so it stays exact (tests check c = 1..4999).
    return 4 * q + 4 * iverson(c_exp_ < 8) + 4 * iverson(sp.And(c_exp_ >= 8, 160 * q < 9 * c_exp_))


# --- B1: the Ghost module ------------------------------------------------------------------

@register_design("ghost", "Ghost module (B1)", PAPER)
@dataclasses.dataclass(frozen=True, kw_only=True)
class Ghost(Spec):
    """Ghost module: a primary conv makes m = ceil(c_out/s) maps, a cheap depthwise conv the rest.

    MACs = (c_in*m*k^2 + m*(s-1)*d^2)*h'*w' with h' = floor((h + 2*(k//2) - k)/stride) + 1;
    params = c_in*m*k^2 + m*(s-1)*d^2 + 2*m*s (BN after both convs). ReLU is optional.
    Speed-up over a standard k x k conv (s | c_out): r_s = c*k^2 / (c*k^2/s + (s-1)*d^2/s),
    = s*c/(s + c - 1) when d = k, -> s as c -> oo; see ``ratios()``.
    """

    # -- conv swap (networks.swap): a Ghost module with the replaced conv's kernel and stride
    #    (GhostNet sec. 4.1); it carries its own BNs and ReLU --
    swap_keeps_bn_act = False
    foreign_module_names = ("ghostmodule",)

    @classmethod
    def swap_for_conv(cls, c_in, c_out, k, stride, h, w, act, *, s: int = 2, d: int = 3):
        return [("", cls(c_in=c_in, c_out=c_out, k=k, s=s, d=d, stride=stride, h=h, w=w, relu=act))]

    @classmethod
    def swap_options(cls):
        return ("s", "d")


    c_in: int = size(64, "input channels [c]", role="channels")
    c_out: int = size(128, "output channels [n], kept after the slice", role="channels")
    k: int = size(1, "primary conv kernel size", role="kernel")
    s: int = size(2, "ratio s: each intrinsic map yields s-1 ghost maps", minimum=2)
    d: int = size(3, "cheap depthwise kernel size (odd: padding d//2 keeps the size)", role="kernel")
    stride: int = size(1, "stride of the primary conv", role="stride")
    h: int = size(56, "input height", role="spatial")
    w: int = size(56, "input width", role="spatial")
    relu: bool = flag(True, "ReLU after each conv (after BN)")

    @classmethod
    def constraints(cls, p: SimpleNamespace) -> list[Constraint]:
        return [Constraint("d", is_odd(p.d),
                           "d must be odd (an even cheap kernel changes the size, so cat fails)")]

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return ghost_ops("", p.c_in, p.c_out, p.k, p.s, p.d, p.stride, p.h, p.w, p.relu)

    @classmethod
    def extra_formulas(cls, p: SimpleNamespace) -> dict[str, sp.Expr]:
        m = intrinsic_channels(p.c_out, p.s)
        return {"intrinsic_channels": m, "ghost_channels": m * (p.s - 1),
                "discarded_channels": m * p.s - p.c_out}

    @classmethod
    def formulas(cls, structure: tuple | None = None) -> Formulas:
        """The generic formulas, plus the symbolic ratios of ``ratios()`` in ``extra``.

        The ratios are not integers, so they are only symbolic: ``costs().extra`` holds the
        channel counts only (the exact evaluator floors every division).
        """
        base = super().formulas(structure)
        return dataclasses.replace(base, extra={**base.extra, **cls.ratios()})

    @classmethod
    def ratios(cls) -> dict[str, sp.Expr]:
        """The paper's ratios, derived by sympy from this design's ops (cached).

        * ``r_s_exact``: standard k x k conv MACs (c_in -> c_out, same stride) / Ghost conv MACs,
          with the real m = ceil(c_out/s).
        * ``r_s``: the paper's speed-up, m = c_out/s (s | c_out): c*k^2*s / (c*k^2 + (s-1)*d^2).
        * ``r_c``: the compression, from conv weights (BN ignored, as in the paper): same form.
        * ``r_s_d_eq_k``: r_s at d = k, = s*c/(s + c - 1); ``r_s_limit``: lim c->oo r_s = s.
        """
        return dict(_ghost_ratios())

    def build(self):
        return _nn().GhostModule(self.c_in, self.c_out, self.k, self.s, self.d, self.stride, self.relu)


@functools.cache
def _ghost_ratios() -> tuple[tuple[str, sp.Expr], ...]:
    p = Ghost.namespace()
    convs = [op for op in Ghost.ops(p) if op.kind == "conv"]
    standard = ops.conv("standard", p.c_in, p.c_out, p.k, p.h, p.w, p.stride)
    macs = sp.Add(*(op.macs for op in convs))  # the spatial factor h'*w' cancels
    weights = sp.Add(*(op.params for op in convs))
    exact = sp.factor(sp.simplify(standard.macs / macs))
    ideal = {intrinsic_channels(p.c_out, p.s): p.c_out / p.s}  # the paper assumes s | c_out
    r_s = sp.factor(sp.simplify(exact.subs(ideal)))
    r_c = sp.factor(sp.simplify((standard.params / weights).subs(ideal)))
    r_s_dk = sp.factor(sp.simplify(r_s.subs(p.d, p.k)))
    return (("r_s_exact", exact), ("r_s", r_s), ("r_c", r_c),
            ("r_s_d_eq_k", r_s_dk), ("r_s_limit", sp.limit(r_s, p.c_in, sp.oo)))


# --- B2: the Ghost bottleneck ----------------------------------------------------------------

@register_design("ghost_bottleneck", "Ghost bottleneck, G-bneck (B2)", PAPER)
@dataclasses.dataclass(frozen=True, kw_only=True)
class GhostBottleneck(Spec):
    """Ghost module (expand, ReLU) -> [depthwise k x k stride, BN if stride > 1] -> [SE] ->
    Ghost module (project, no ReLU) -> + shortcut.

    Both Ghost modules are 1x1 primary convs (ratio s, cheap kernel d). SE: global pool, 1x1
    c_exp -> c_se with bias, ReLU, 1x1 c_se -> c_exp with bias, hard-sigmoid, multiply, where
    c_se = make_divisible(c_exp/4, 4). Shortcut: identity if c_in = c_out and stride = 1, else
    depthwise k x k (stride) + BN + 1x1 c_in -> c_out + BN. MACs = ghost1 + dw + SE convs +
    ghost2 + shortcut convs; the pool, activations, multiply and add are elementwise columns.
    """

    foreign_module_names = ("ghostbottleneck",)


    c_in: int = size(24, "input channels", role="channels")
    c_exp: int = size(72, "expansion width: the first Ghost module's output", role="channels")
    c_out: int = size(40, "output channels", role="channels")
    k: int = size(5, "depthwise kernel size (odd)", role="kernel")
    stride: int = size(2, "stride of the depthwise conv (present only if stride > 1)", role="stride")
    se: bool = flag(True, "squeeze-and-excitation, reduction 0.25 rounded to a multiple of 4")
    s: int = size(2, "Ghost ratio of both Ghost modules", minimum=2)
    d: int = size(3, "cheap depthwise kernel of both Ghost modules (odd)", role="kernel")
    h: int = size(56, "input height", role="spatial")
    w: int = size(56, "input width", role="spatial")

    @classmethod
    def constraints(cls, p: SimpleNamespace) -> list[Constraint]:
        return [Constraint("k", is_odd(p.k),
                           "k must be odd (padding (k-1)//2 must keep body and shortcut the same size)"),
                Constraint("d", is_odd(p.d),
                           "d must be odd (an even cheap kernel changes the size, so cat fails)")]

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        out: list[Op] = ghost_ops("ghost1_", p.c_in, p.c_exp, 1, p.s, p.d, 1, p.h, p.w, 1)
        dw = ops.conv("dw_conv", p.c_exp, p.c_exp, p.k, p.h, p.w, p.stride, p.c_exp)
        ho, wo = dw.geometry["h_out"], dw.geometry["w_out"]
        strided = iverson(p.stride > 1)  # the reference has no depthwise conv at stride 1
        out += [dw.scaled(strided), ops.batch_norm("dw_bn", p.c_exp, ho, wo).scaled(strided)]
        out += [op.scaled(p.se) for op in _se_ops(p.c_exp, ho, wo)]
        out += ghost_ops("ghost2_", p.c_exp, p.c_out, 1, p.s, p.d, 1, ho, wo, 0)
        projected = 1 - iverson(sp.And(sp.Eq(p.c_in, p.c_out), sp.Eq(p.stride, 1)))
        shortcut = [ops.conv("shortcut_dw", p.c_in, p.c_in, p.k, p.h, p.w, p.stride, p.c_in),
                    ops.batch_norm("shortcut_dw_bn", p.c_in, ho, wo),
                    ops.conv("shortcut_pw", p.c_in, p.c_out, 1, ho, wo),
                    ops.batch_norm("shortcut_pw_bn", p.c_out, ho, wo)]
        out += [op.scaled(projected) for op in shortcut]
        return out + [ops.elementwise("residual_add", "add", p.c_out * ho * wo, inputs=2)]

    @classmethod
    def extra_formulas(cls, p: SimpleNamespace) -> dict[str, sp.Expr]:
        return {"c_se": p.se * se_width(p.c_exp),
                "ghost1_intrinsic_channels": intrinsic_channels(p.c_exp, p.s),
                "ghost2_intrinsic_channels": intrinsic_channels(p.c_out, p.s)}

    def build(self):
        return _nn().GhostBottleneckModule(self.c_in, self.c_exp, self.c_out, self.k, self.stride,
                                           self.se, self.s, self.d)


def _se_ops(channels, h_, w_) -> list[Op]:
    """SE on a (channels, h, w) map: pool, 1x1 + bias, ReLU, 1x1 + bias, hard-sigmoid, multiply.

    The two 1x1 convs run on a 1x1 map: MACs 2*channels*c_se, params 2*channels*c_se + c_se +
    channels. The multiply reads the map and the per-channel gate.
    """
    c_se_ = se_width(channels)
    size_ = channels * h_ * w_
    return [ops.global_avg_pool("se_pool", channels, h_, w_),
            ops.conv("se_reduce", channels, c_se_, 1, 1, 1, bias_=1),
            ops.elementwise("se_relu", "relu", c_se_),
            ops.conv("se_expand", c_se_, channels, 1, 1, 1, bias_=1),
            ops.elementwise("se_gate", "hardsigmoid", channels),
            Op("se_mul", "mul", elem=size_, reads=size_ + channels, writes=size_)]


# --- Ghost-VGG-16 on CIFAR (the paper's Table 3 setting) --------------------------------------

VGG16_CIFAR: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                      512, 512, 512, "M", 512, 512, 512, "M")
"""VGG-16 conv widths; "M" = 2x2 max pool, stride 2."""


def ghost_vgg16_cifar(s: int, d: int = 3, size_: int = 32, c_in: int = 3) -> list[Ghost]:
    """The 13 convs of VGG-16 on a size_ x size_ input, each replaced by a 3x3 Ghost module.

    Every layer keeps its kernel (k = 3, stride 1, ReLU); the max pools halve the size. The
    stack's conv MACs are the sum of the layers'; the pools and classifier are left out.
    """
    layers: list[Ghost] = []
    for item in VGG16_CIFAR:
        if item == "M":
            size_ //= 2
            continue
        layers.append(Ghost(c_in=c_in, c_out=int(item), k=3, s=s, d=d, stride=1,
                            h=size_, w=size_, relu=True))
        c_in = int(item)
    return layers


# --- the torch modules (torch imported only here) ------------------------------------------------

@functools.cache
def _nn() -> SimpleNamespace:
    """GhostModule and GhostBottleneckModule, defined on first use so torch loads lazily."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int, relu: bool) -> nn.Sequential:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                                   nn.BatchNorm2d(cout)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        return nn.Sequential(*layers)

    class GhostModule(nn.Module):
        """primary conv -> m maps; cheap depthwise -> m*(s-1) maps; cat; keep c_out."""

        def __init__(self, cin: int, cout: int, kernel: int = 1, ratio: int = 2, dw: int = 3,
                     stride: int = 1, relu: bool = True) -> None:
            super().__init__()
            self.cout = cout
            m = math.ceil(cout / ratio)  # as the reference computes it
            self.primary = conv_bn(cin, m, kernel, stride, 1, relu)
            self.cheap = conv_bn(m, m * (ratio - 1), dw, 1, m, relu)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            intrinsic = self.primary(x)
            out = torch.cat([intrinsic, self.cheap(intrinsic)], dim=1)
            return out[:, :self.cout]  # a view: the extra channels were computed anyway

    class SqueezeExcite(nn.Module):
        """x * hardsigmoid(W2 relu(W1 avgpool(x) + b1) + b2)."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            reduced = make_divisible(channels * 0.25, 4)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.reduce = nn.Conv2d(channels, reduced, 1, bias=True)
            self.act = nn.ReLU(inplace=True)
            self.expand = nn.Conv2d(reduced, channels, 1, bias=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            gate = self.expand(self.act(self.reduce(self.pool(x))))
            return x * F.hardsigmoid(gate)  # = relu6(gate + 3) / 6, the reference gate

    class GhostBottleneckModule(nn.Module):
        """ghost1 (ReLU) -> [dw k x k stride + BN] -> [SE] -> ghost2 -> + shortcut."""

        def __init__(self, cin: int, cexp: int, cout: int, kernel: int, stride: int, se: bool,
                     ratio: int, dw: int) -> None:
            super().__init__()
            pad = (kernel - 1) // 2
            self.ghost1 = GhostModule(cin, cexp, 1, ratio, dw, 1, relu=True)
            self.dw = (nn.Sequential(nn.Conv2d(cexp, cexp, kernel, stride, pad, groups=cexp, bias=False),
                                     nn.BatchNorm2d(cexp)) if stride > 1 else nn.Identity())
            self.se = SqueezeExcite(cexp) if se else nn.Identity()
            self.ghost2 = GhostModule(cexp, cout, 1, ratio, dw, 1, relu=False)
            if cin == cout and stride == 1:
                self.shortcut: nn.Module = nn.Identity()
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cin, kernel, stride, pad, groups=cin, bias=False), nn.BatchNorm2d(cin),
                    nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            body = self.ghost2(self.se(self.dw(self.ghost1(x))))
            return body + self.shortcut(x)

    return SimpleNamespace(GhostModule=GhostModule, SqueezeExcite=SqueezeExcite,
                           GhostBottleneckModule=GhostBottleneckModule)
