"""Split to Be Slim: An Overlooked Redundancy in Vanilla Convolution (Zhang et al., IJCAI 2020),
https://arxiv.org/abs/2006.12085 -- SPConv (B4).

Sources: seed 000; the paper's reference ``SPConv_3x3``. The input channels are split at
``c_r = int(alpha * c_in)`` (the float product, floored, exactly as the module computes it):

* representative part (c_r channels): group-wise k x k conv (c_r -> c_out, ``groups`` = 2, stride)
  plus point-wise 1x1 conv (c_r -> c_out), summed, then BN;
* redundant part (c_in - c_r channels): 1x1 conv with bias (-> c_out), then BN;
* fusion: global average pool of each branch, softmax across the two branches per channel,
  weighted sum.
With stride 2 a 2x2 average pool (stride 2) runs before each 1x1 path. We use ``ceil_mode=True``
so that odd sizes work: the pooled size ceil(h/2) then equals the strided k x k output (k odd).

Choices (documented, each enforced by a ValueError): alpha in (0, 1) open; both parts must be
non-empty (c_r >= 1 and c_in - c_r >= 1); ``groups`` must divide c_r and c_out (so with the
paper's groups = 2, an odd c_r is rejected rather than silently changed); k odd, so the strided
k x k output and the pooled 1x1 paths have the same size.
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
from ..core import Constraint, Spec, choice, fraction, size
from ..core.symbols import floor_div, is_odd
from ..core.symbols import divides


def representative_channels(cin: sp.Expr, alpha_: sp.Expr) -> sp.Expr:
    """c_r = floor(alpha * c_in); compiled, it is the same float product as ``int(c_in * alpha)``."""
    return floor_div(alpha_ * cin, 1)


def pool2_op(name: str, channels, h_in, w_in, h_out, w_out) -> Op:
    """2x2 / stride-2 average pool (ceil mode): the windows tile the input, so each input element
    is summed once: channels*h*w ops (= 4 per output element when h and w are even)."""
    size_in = channels * h_in * w_in
    return Op(name, "avg_pool2d", elem=size_in, reads=size_in, writes=channels * h_out * w_out)


@register_design("spconv", "SPConv, split to be slim (B4)",
                 "Split to Be Slim, Zhang et al., IJCAI 2020, https://arxiv.org/abs/2006.12085")
@dataclasses.dataclass(frozen=True, kw_only=True)
class SPConv(Spec):
    """Split c_in into c_r = floor(alpha*c_in) representative and c_in - c_r redundant channels.

    MACs = [c_out*(c_r/g)*k^2 + c_out*c_r + c_out*(c_in - c_r)] * h'*w'  (gwc + pwc + 1x1);
    params = c_out*(c_r/g)*k^2 + c_out*c_r + c_out*(c_in - c_r) + c_out (bias) + 4*c_out (2 BN).
    Elementwise: 2 BN, 2 global pools, the gwc+pwc add, softmax over 2*c_out scores, two
    multiplies and the final add (each c_out*h'*w'), and with stride 2 the two 2x2 pools.
    """

    # -- conv swap: SPConv (2 groups), then the block's own BN + ReLU, as SPConv-ResNet does --
    foreign_module_names = ("spconv",)

    @classmethod
    def swap_for_conv(cls, c_in, c_out, k, stride, h, w, act, *, alpha: float = 0.5, groups: int = 2):
        return [("", cls(c_in=c_in, c_out=c_out, alpha=alpha, k=k, stride=stride, groups=groups, h=h, w=w))]

    @classmethod
    def swap_options(cls):
        return ("alpha", "groups")


    c_in: int = size(64, "input channels [c]", role="channels")
    c_out: int = size(64, "output channels [n]", role="channels")
    alpha: float = fraction(0.5, "split ratio: c_r = floor(alpha*c_in) representative channels",
                            lo_open=True, hi_open=True)
    k: int = size(3, "kernel of the group-wise conv (odd)", role="kernel")
    stride: int = choice(1, (1, 2), "stride (2: 2x2 average pool before the 1x1 paths)")
    groups: int = size(2, "groups of the representative k x k conv (divides c_r and c_out)", role="groups")
    h: int = size(56, "input height", role="spatial")
    w: int = size(56, "input width", role="spatial")

    @classmethod
    def constraints(cls, p: SimpleNamespace) -> list[Constraint]:
        c_r = representative_channels(p.c_in, p.alpha)
        return [Constraint("alpha", c_r >= 1, "the representative part floor(alpha*c_in) must be >= 1"),
                Constraint("alpha", p.c_in - c_r >= 1,
                           "the redundant part c_in - floor(alpha*c_in) must be >= 1"),
                Constraint("groups", divides(p.groups, c_r),
                           "groups must divide the representative channels floor(alpha*c_in)"),
                Constraint("groups", divides(p.groups, p.c_out), "groups must divide c_out"),
                Constraint("k", is_odd(p.k),
                           "k must be odd (the k x k and 1x1 paths must give the same size)")]

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        c_r = representative_channels(p.c_in, p.alpha)
        c_red = p.c_in - c_r
        gwc = ops.conv("gwc", c_r, p.c_out, p.k, p.h, p.w, p.stride, p.groups)
        # For odd k the strided k x k output is ceil(h/2) = the ceil-mode pooled size: one h' x w'.
        ho, wo = gwc.geometry["h_out"], gwc.geometry["w_out"]
        out_size_ = p.c_out * ho * wo
        pooled = p.stride == 2
        rep: list[Op] = [gwc]
        red: list[Op] = []
        if pooled:
            rep.append(pool2_op("rep_pool", c_r, p.h, p.w, ho, wo))
            red.append(pool2_op("red_pool", c_red, p.h, p.w, ho, wo))
        h1, w1 = (ho, wo) if pooled else (p.h, p.w)
        rep += [ops.conv("pwc", c_r, p.c_out, 1, h1, w1),
                ops.elementwise("rep_add", "add", out_size_, inputs=2),
                ops.batch_norm("rep_bn", p.c_out, ho, wo),
                ops.global_avg_pool("rep_gap", p.c_out, ho, wo)]
        red += [ops.conv("red_conv", c_red, p.c_out, 1, h1, w1, bias_=1),
                ops.batch_norm("red_bn", p.c_out, ho, wo),
                ops.global_avg_pool("red_gap", p.c_out, ho, wo)]
        fuse = [ops.concat("fusion_stack", 2 * p.c_out),
                ops.elementwise("fusion_softmax", "softmax", 2 * p.c_out),
                Op("rep_mul", "mul", elem=out_size_, reads=out_size_ + p.c_out, writes=out_size_),
                Op("red_mul", "mul", elem=out_size_, reads=out_size_ + p.c_out, writes=out_size_),
                ops.elementwise("fusion_add", "add", out_size_, inputs=2)]
        return rep + red + fuse

    @classmethod
    def extra_formulas(cls, p: SimpleNamespace) -> dict[str, sp.Expr]:
        c_r = representative_channels(p.c_in, p.alpha)
        return {"representative_channels": c_r, "redundant_channels": p.c_in - c_r}

    def build(self):
        return _nn().SPConvModule(self.c_in, self.c_out, self.alpha, self.k, self.stride, self.groups)


@functools.cache
def _nn() -> SimpleNamespace:
    """SPConvModule, defined on first use so torch loads lazily."""
    import torch
    from torch import nn

    class SPConvModule(nn.Module):
        """Representative (gwc + pwc, BN) and redundant (1x1 + bias, BN) paths, softmax-fused."""

        def __init__(self, cin: int, cout: int, alpha: float, kernel: int = 3, stride: int = 1,
                     groups: int = 2) -> None:
            super().__init__()
            self.c_rep = math.floor(cin * alpha)  # the reference's int(c * ratio), same float
            c_red = cin - self.c_rep
            self.gwc = nn.Conv2d(self.c_rep, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
            self.pwc = nn.Conv2d(self.c_rep, cout, 1, bias=False)
            self.red = nn.Conv2d(c_red, cout, 1, bias=True)
            self.pool = nn.AvgPool2d(2, 2, ceil_mode=True) if stride == 2 else nn.Identity()
            self.bn_rep = nn.BatchNorm2d(cout)
            self.bn_red = nn.BatchNorm2d(cout)
            self.gap = nn.AdaptiveAvgPool2d(1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x_rep, x_red = x[:, :self.c_rep], x[:, self.c_rep:]
            rep = self.bn_rep(self.gwc(x_rep) + self.pwc(self.pool(x_rep)))
            red = self.bn_red(self.red(self.pool(x_red)))
            scores = torch.stack([self.gap(rep).flatten(1), self.gap(red).flatten(1)], dim=2)
            weights = torch.softmax(scores, dim=2)  # (N, c_out, 2): per channel, across branches
            return rep * weights[:, :, 0, None, None] + red * weights[:, :, 1, None, None]

    return SimpleNamespace(SPConvModule=SPConvModule)
