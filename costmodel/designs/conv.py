"""The plain convolutions: standard (A1), pointwise (A2), group (A3) and depthwise (A4).

Sources: the lightweight-CNN survey (seed 003); MobileNet (Howard et al. 2017,
https://arxiv.org/abs/1704.04861) for depthwise; AlexNet/ResNeXt for group convolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace


from ..core import ops
from ..core.ops import Op
from ..core.registry import register_design
from ..core import Constraint, Spec, flag, size
from ..core.layer import LayerSpec
from ..core.symbols import divides


@register_design("conv", "Standard convolution (A1)", "seed 003; any CNN textbook")
@dataclass(frozen=True, kw_only=True)
class Conv(LayerSpec):
    """k x k conv. MACs = c_out*c_in*k^2*h'*w'; params = c_out*c_in*k^2 (+c_out bias, +2c_out BN)."""

    c_in: int = size(64, "input channels", role="channels")
    c_out: int = size(64, "output channels", role="channels")
    k: int = size(3, "kernel size", role="kernel")
    stride: int = size(1, "stride", role="stride")

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return ops.conv_bn_act("", p.c_in, p.c_out, p.k, p.h, p.w, p.stride, 1, p.bias, p.bn, p.act)

    def build(self):
        from ..core.blocks import conv_bn_act

        return conv_bn_act(self.c_in, self.c_out, self.k, self.stride, 1, self.bias, self.bn, self.act)


@register_design("pointwise", "Pointwise 1x1 convolution (A2)", "seed 003; Network in Network")
@dataclass(frozen=True, kw_only=True)
class Pointwise(LayerSpec):
    """1x1 conv. MACs = c_out*c_in*h'*w'; params = c_out*c_in."""

    c_in: int = size(64, "input channels", role="channels")
    c_out: int = size(64, "output channels", role="channels")
    stride: int = size(1, "stride", role="stride")

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return ops.conv_bn_act("", p.c_in, p.c_out, 1, p.h, p.w, p.stride, 1, p.bias, p.bn, p.act)

    def build(self):
        from ..core.blocks import conv_bn_act

        return conv_bn_act(self.c_in, self.c_out, 1, self.stride, 1, self.bias, self.bn, self.act)


@register_design("group_conv", "Group convolution (A3)", "AlexNet; ResNeXt (https://arxiv.org/abs/1611.05431)")
@dataclass(frozen=True, kw_only=True)
class GroupConv(LayerSpec):
    """k x k conv in g groups. MACs = c_out*(c_in/g)*k^2*h'*w'; params = c_out*(c_in/g)*k^2."""

    c_in: int = size(64, "input channels", role="channels")
    c_out: int = size(64, "output channels", role="channels")
    k: int = size(3, "kernel size", role="kernel")
    stride: int = size(1, "stride", role="stride")
    groups: int = size(4, "groups (divides c_in and c_out)", role="groups")

    @classmethod
    def constraints(cls, p: SimpleNamespace) -> list[Constraint]:
        return [Constraint("groups", divides(p.groups, p.c_in), "groups must divide c_in"),
                Constraint("groups", divides(p.groups, p.c_out), "groups must divide c_out")]

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return ops.conv_bn_act("", p.c_in, p.c_out, p.k, p.h, p.w, p.stride, p.groups,
                               p.bias, p.bn, p.act)

    def build(self):
        from ..core.blocks import conv_bn_act

        return conv_bn_act(self.c_in, self.c_out, self.k, self.stride, self.groups,
                           self.bias, self.bn, self.act)


@register_design("depthwise", "Depthwise convolution (A4)", "MobileNet (https://arxiv.org/abs/1704.04861)")
@dataclass(frozen=True, kw_only=True)
class Depthwise(LayerSpec):
    """One k x k filter per channel (x multiplier). MACs = mult*c_in*k^2*h'*w'; params = mult*c_in*k^2."""

    c_in: int = size(64, "input channels (= groups)", role="channels")
    mult: int = size(1, "channel multiplier: c_out = mult*c_in")
    k: int = size(3, "kernel size", role="kernel")
    stride: int = size(1, "stride", role="stride")

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return ops.conv_bn_act("", p.c_in, p.mult * p.c_in, p.k, p.h, p.w, p.stride, p.c_in,
                               p.bias, p.bn, p.act)

    def build(self):
        from ..core.blocks import conv_bn_act

        return conv_bn_act(self.c_in, self.mult * self.c_in, self.k, self.stride, self.c_in,
                           self.bias, self.bn, self.act)
