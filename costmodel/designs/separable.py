"""Depthwise-separable convolution (A5) and the Xception block (A11).

Sources: MobileNets (Howard et al. 2017, https://arxiv.org/abs/1704.04861);
Xception (Chollet 2017, https://arxiv.org/abs/1610.02357); seed 003.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from ..core import ops
from ..core.ops import Op
from ..core.registry import register_design
from ..core import size
from ..core.layer import LayerSpec


@dataclass(frozen=True, kw_only=True)
class _DepthwisePointwise(LayerSpec):
    """The fields of a depthwise k x k + pointwise 1x1 pair (in either order)."""

    c_in: int = size(64, "input channels", role="channels")
    c_out: int = size(64, "output channels", role="channels")
    k: int = size(3, "depthwise kernel size", role="kernel")
    stride: int = size(1, "stride of the depthwise conv", role="stride")


@register_design("separable", "Depthwise-separable convolution (A5)",
                 "MobileNets, https://arxiv.org/abs/1704.04861")
@dataclass(frozen=True, kw_only=True)
class Separable(_DepthwisePointwise):
    """Depthwise k x k (stride) then pointwise 1x1.

    MACs = c_in*k^2*h'*w' + c_in*c_out*h'*w'; params = c_in*k^2 + c_in*c_out.
    Ratio to a standard conv: 1/c_out + 1/k^2. ``bn``/``act`` follow each of the two convs
    (MobileNet v1 puts BN + ReLU after both).
    """

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        dw = ops.conv_bn_act("dw_", p.c_in, p.c_in, p.k, p.h, p.w, p.stride, p.c_in, p.bias, p.bn, p.act)
        ho, wo = dw[0].geometry["h_out"], dw[0].geometry["w_out"]
        return dw + ops.conv_bn_act("pw_", p.c_in, p.c_out, 1, ho, wo, 1, 1, p.bias, p.bn, p.act)

    def build(self):
        from torch import nn

        from ..core.blocks import conv_bn_act

        return nn.Sequential(
            conv_bn_act(self.c_in, self.c_in, self.k, self.stride, self.c_in, self.bias, self.bn, self.act),
            conv_bn_act(self.c_in, self.c_out, 1, 1, 1, self.bias, self.bn, self.act))


@register_design("xception", "Xception block, 'extreme Inception' (A11)",
                 "Xception, https://arxiv.org/abs/1610.02357")
@dataclass(frozen=True, kw_only=True)
class XceptionBlock(_DepthwisePointwise):
    """Pointwise 1x1 first, then a per-channel k x k (stride) on the c_out maps.

    MACs = c_in*c_out*h*w + c_out*k^2*h'*w'; params = c_in*c_out + c_out*k^2 (A5 with the order
    swapped, so the depthwise runs on c_out channels).
    """

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        pw = ops.conv_bn_act("pw_", p.c_in, p.c_out, 1, p.h, p.w, 1, 1, p.bias, p.bn, p.act)
        return pw + ops.conv_bn_act("dw_", p.c_out, p.c_out, p.k, p.h, p.w, p.stride, p.c_out,
                                    p.bias, p.bn, p.act)

    def build(self):
        from torch import nn

        from ..core.blocks import conv_bn_act

        return nn.Sequential(
            conv_bn_act(self.c_in, self.c_out, 1, 1, 1, self.bias, self.bn, self.act),
            conv_bn_act(self.c_out, self.c_out, self.k, self.stride, self.c_out, self.bias, self.bn, self.act))
