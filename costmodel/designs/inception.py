"""Cheaper large kernels: 1x1 reduction (A6), the ResNet bottleneck (A7), kernel factorization
into stacked 3x3 (A8) or k x 1 + 1 x k (A9), and the GoogLeNet Inception module (A10).

Sources: "Going Deeper with Convolutions" (Szegedy et al. 2015, https://arxiv.org/abs/1409.4842);
"Rethinking the Inception Architecture" (https://arxiv.org/abs/1512.00567);
"Deep Residual Learning" (He et al. 2016, https://arxiv.org/abs/1512.03385); seed 003.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import sympy as sp

from ..core import ops
from ..core.ops import Op
from ..core.registry import register_design
from ..core import Constraint, flag, size
from ..core.symbols import is_odd, iverson
from ..core.layer import LayerSpec


def _out_hw(op_list: list[Op]) -> tuple[sp.Expr, sp.Expr]:
    """Output size of the first op (a conv) of a conv_bn_act triple."""
    return op_list[0].geometry["h_out"], op_list[0].geometry["w_out"]


@register_design("reduce", "1x1 reduction before a large kernel (A6)",
                 "GoogLeNet, https://arxiv.org/abs/1409.4842")
@dataclass(frozen=True, kw_only=True)
class Reduce(LayerSpec):
    """1x1 c_in -> c_mid, then k x k c_mid -> c_out.

    MACs = c_in*c_mid*h*w + c_mid*c_out*k^2*h'*w'; params = c_in*c_mid + c_mid*c_out*k^2.
    """

    c_in: int = size(128, "input channels", role="channels")
    c_mid: int = size(32, "reduced width", role="channels")
    c_out: int = size(256, "output channels", role="channels")
    k: int = size(5, "kernel of the large conv", role="kernel")
    stride: int = size(1, "stride of the large conv", role="stride")

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        red = ops.conv_bn_act("reduce_", p.c_in, p.c_mid, 1, p.h, p.w, 1, 1, p.bias, p.bn, p.act)
        return red + ops.conv_bn_act("conv_", p.c_mid, p.c_out, p.k, p.h, p.w, p.stride, 1,
                                     p.bias, p.bn, p.act)

    def build(self):
        from torch import nn

        from ..core.blocks import conv_bn_act

        return nn.Sequential(
            conv_bn_act(self.c_in, self.c_mid, 1, 1, 1, self.bias, self.bn, self.act),
            conv_bn_act(self.c_mid, self.c_out, self.k, self.stride, 1, self.bias, self.bn, self.act))


@register_design("bottleneck", "ResNet bottleneck (A7)", "ResNet, https://arxiv.org/abs/1512.03385")
@dataclass(frozen=True, kw_only=True)
class Bottleneck(LayerSpec):
    """1x1 c_in -> c_mid, k x k c_mid -> c_mid (stride, torchvision layout), 1x1 c_mid -> c_out,
    plus the shortcut: identity, or 1x1 (stride) + BN when stride != 1 or c_in != c_out.

    MACs = c_in*c_mid*h*w + c_mid^2*k^2*h'*w' + c_mid*c_out*h'*w' (+ c_in*c_out*h'*w' projection);
    with c_out = c_in and stride 1 this is (c*m + m^2*k^2 + m*c)*h*w.
    """

    c_in: int = size(256, "input channels", role="channels")
    c_mid: int = size(64, "bottleneck width", role="channels")
    c_out: int = size(256, "output channels", role="channels")
    k: int = size(3, "kernel of the middle conv", role="kernel")
    stride: int = size(1, "stride (on the middle conv)", role="stride")
    residual: bool = flag(True, "add the shortcut")

    @classmethod
    def constraints(cls, p: SimpleNamespace) -> list[Constraint]:
        return [Constraint("k", is_odd(p.k),
                           "k must be odd (an even kernel changes the size, so the shortcut no longer fits)")]

    @classmethod
    def projection(cls, p: SimpleNamespace) -> sp.Expr:
        """1 when the shortcut needs a 1x1 projection (shape changes), else 0."""
        return p.residual * iverson(sp.Or(sp.Ne(p.stride, 1), sp.Ne(p.c_in, p.c_out)))

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        first = ops.conv_bn_act("conv1_", p.c_in, p.c_mid, 1, p.h, p.w, 1, 1, p.bias, p.bn, p.act)
        middle = ops.conv_bn_act("conv2_", p.c_mid, p.c_mid, p.k, p.h, p.w, p.stride, 1, p.bias, p.bn, p.act)
        ho, wo = _out_hw(middle)
        last = ops.conv_bn_act("conv3_", p.c_mid, p.c_out, 1, ho, wo, 1, 1, p.bias, p.bn, 0)
        proj = [op.scaled(cls.projection(p)) for op in
                ops.conv_bn_act("shortcut_", p.c_in, p.c_out, 1, p.h, p.w, p.stride, 1, p.bias, p.bn, 0)]
        out = p.c_out * ho * wo
        add = ops.elementwise("add", "add", out, inputs=2).scaled(p.residual)
        relu = ops.elementwise("relu", "relu", out).scaled(p.act)
        return first + middle + last + proj + [add, relu]

    def build(self):
        from torch import nn

        from ..core.blocks import Residual, conv_bn_act

        body = nn.Sequential(
            conv_bn_act(self.c_in, self.c_mid, 1, 1, 1, self.bias, self.bn, self.act),
            conv_bn_act(self.c_mid, self.c_mid, self.k, self.stride, 1, self.bias, self.bn, self.act),
            conv_bn_act(self.c_mid, self.c_out, 1, 1, 1, self.bias, self.bn, False))
        post = nn.ReLU(inplace=True) if self.act else nn.Identity()
        if not self.residual:
            return nn.Sequential(body, post)
        shortcut = None
        if self.stride != 1 or self.c_in != self.c_out:
            shortcut = conv_bn_act(self.c_in, self.c_out, 1, self.stride, 1, self.bias, self.bn, False)
        return Residual(body, shortcut, post)


@register_design("factorized", "Kernel factorization into stacked 3x3 (A8)",
                 "Rethinking Inception, https://arxiv.org/abs/1512.00567")
@dataclass(frozen=True, kw_only=True)
class Factorized(LayerSpec):
    """A k x k conv replaced by L = (k-1)/2 stacked 3x3 convs (same receptive field):
    c_in -> c_mid, (L-2) x c_mid -> c_mid, c_mid -> c_out; the first carries the stride.

    MACs = 9*(c_in*c_mid + (L-2)*c_mid^2 + c_mid*c_out)*h'*w'. For k = 5: 9*c*n' + 9*n'*n per pixel.
    """

    c_in: int = size(64, "input channels", role="channels")
    c_mid: int = size(64, "width between the 3x3 layers", role="channels")
    c_out: int = size(64, "output channels", role="channels")
    k: int = size(5, "receptive field replaced (odd, >= 5)", role="kernel")
    stride: int = size(1, "stride of the first 3x3", role="stride")

    @classmethod
    def constraints(cls, p: SimpleNamespace) -> list[Constraint]:
        return [Constraint("k", sp.And(is_odd(p.k), p.k >= 5),
                           "k must be odd and >= 5 (two or more stacked 3x3 layers)")]

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        first = ops.conv_bn_act("first_", p.c_in, p.c_mid, 3, p.h, p.w, p.stride, 1, p.bias, p.bn, p.act)
        ho, wo = _out_hw(first)
        middle_count = (p.k - 1) / 2 - 2
        middle = [op.scaled(middle_count) for op in
                  ops.conv_bn_act("middle_", p.c_mid, p.c_mid, 3, ho, wo, 1, 1, p.bias, p.bn, p.act)]
        last = ops.conv_bn_act("last_", p.c_mid, p.c_out, 3, ho, wo, 1, 1, p.bias, p.bn, p.act)
        return first + middle + last

    def build(self):
        from torch import nn

        from ..core.blocks import conv_bn_act

        layers = [conv_bn_act(self.c_in, self.c_mid, 3, self.stride, 1, self.bias, self.bn, self.act)]
        layers += [conv_bn_act(self.c_mid, self.c_mid, 3, 1, 1, self.bias, self.bn, self.act)
                   for _ in range((self.k - 1) // 2 - 2)]
        layers.append(conv_bn_act(self.c_mid, self.c_out, 3, 1, 1, self.bias, self.bn, self.act))
        return nn.Sequential(*layers)


@register_design("asymmetric", "Asymmetric factorization k x 1 + 1 x k (A9)",
                 "Rethinking Inception, https://arxiv.org/abs/1512.00567")
@dataclass(frozen=True, kw_only=True)
class Asymmetric(LayerSpec):
    """k x 1 conv c_in -> c_mid (stride), then 1 x k conv c_mid -> c_out.

    MACs = k*c_in*c_mid*h'*w' + k*c_mid*c_out*h'*w'; params = k*c_in*c_mid + k*c_mid*c_out.
    """

    c_in: int = size(64, "input channels", role="channels")
    c_mid: int = size(64, "width between the two convs", role="channels")
    c_out: int = size(64, "output channels", role="channels")
    k: int = size(3, "kernel length", role="kernel")
    stride: int = size(1, "stride of the k x 1 conv", role="stride")

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        tall = ops.conv_bn_act("kx1_", p.c_in, p.c_mid, p.k, p.h, p.w, p.stride, 1, p.bias, p.bn, p.act,
                               kernel_w=1)
        ho, wo = _out_hw(tall)
        return tall + ops.conv_bn_act("1xk_", p.c_mid, p.c_out, 1, ho, wo, 1, 1, p.bias, p.bn, p.act,
                                      kernel_w=p.k)

    def build(self):
        from torch import nn

        from ..core.blocks import conv_bn_act

        return nn.Sequential(
            conv_bn_act(self.c_in, self.c_mid, (self.k, 1), self.stride, 1, self.bias, self.bn, self.act),
            conv_bn_act(self.c_mid, self.c_out, (1, self.k), 1, 1, self.bias, self.bn, self.act))


@register_design("inception", "Inception module with 1x1 reductions (A10)",
                 "GoogLeNet, https://arxiv.org/abs/1409.4842")
@dataclass(frozen=True, kw_only=True)
class Inception(LayerSpec):
    """Four branches concatenated: 1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 max-pool -> 1x1.

    MACs = h*w*(c_in*(c1x1 + c3x3red + c5x5red + pool_proj) + 9*c3x3red*c3x3 + 25*c5x5red*c5x5).
    Defaults are GoogLeNet inception(3a) at 28x28 as published (conv bias, ReLU, no BN).
    """

    c_in: int = size(192, "input channels", role="channels")
    c1x1: int = size(64, "#1x1", role="channels")
    c3x3red: int = size(96, "#3x3 reduce", role="channels")
    c3x3: int = size(128, "#3x3", role="channels")
    c5x5red: int = size(16, "#5x5 reduce", role="channels")
    c5x5: int = size(32, "#5x5", role="channels")
    pool_proj: int = size(32, "pool proj", role="channels")
    h: int = size(28, "input height", role="spatial")
    w: int = size(28, "input width", role="spatial")
    bias: bool = flag(True, "conv bias (GoogLeNet has it)", role="tail")
    act: bool = flag(True, "ReLU after each conv", role="tail")

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        def cba(prefix, cin, cout, kernel):
            return ops.conv_bn_act(prefix, cin, cout, kernel, p.h, p.w, 1, 1, p.bias, p.bn, p.act)

        out_channels = p.c1x1 + p.c3x3 + p.c5x5 + p.pool_proj
        return (cba("b1_", p.c_in, p.c1x1, 1)
                + cba("b2_reduce_", p.c_in, p.c3x3red, 1) + cba("b2_", p.c3x3red, p.c3x3, 3)
                + cba("b3_reduce_", p.c_in, p.c5x5red, 1) + cba("b3_", p.c5x5red, p.c5x5, 5)
                + [ops.max_pool("b4_pool", p.c_in, p.h, p.w, 3, 1, 1)] + cba("b4_proj_", p.c_in, p.pool_proj, 1)
                + [ops.concat("concat", out_channels * p.h * p.w)])

    def build(self):
        from torch import nn

        from ..core.blocks import Concat, conv_bn_act

        def cba(cin, cout, kernel):
            return conv_bn_act(cin, cout, kernel, 1, 1, self.bias, self.bn, self.act)

        return Concat(
            cba(self.c_in, self.c1x1, 1),
            nn.Sequential(cba(self.c_in, self.c3x3red, 1), cba(self.c3x3red, self.c3x3, 3)),
            nn.Sequential(cba(self.c_in, self.c5x5red, 1), cba(self.c5x5red, self.c5x5, 5)),
            nn.Sequential(nn.MaxPool2d(3, 1, 1), cba(self.c_in, self.pool_proj, 1)))
