"""Glue layers of whole networks: pooling, classifier, residual add, activation.

They are network-local specs (not registered designs): the same Spec machinery (sympy ops,
exact costs, a real module) for the pieces between the designs. Costs use the shared ops
builders, so a max pool here is costed exactly like anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import ClassVar

from ..core import ops
from ..core.ops import Op
from ..core import Spec, choice, flag, size
from ..designs.conv import Conv, Pointwise


@dataclass(frozen=True, kw_only=True)
class MaxPool(Spec):
    """MaxPool2d(k, stride, padding): k*k comparisons per output element, no params."""

    name: ClassVar[str] = "max_pool"
    title: ClassVar[str] = "Max pooling"
    c_in: int = size(64, "channels", role="channels")
    h: int = size(112, "input height", role="spatial")
    w: int = size(112, "input width", role="spatial")
    k: int = size(3, "window", role="kernel")
    stride: int = size(2, "stride", role="stride")
    padding: int = size(1, "padding", minimum=0)

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return [ops.max_pool("pool", p.c_in, p.h, p.w, p.k, p.stride, p.padding)]

    def build(self):
        from torch import nn

        return nn.MaxPool2d(self.k, self.stride, self.padding)


@dataclass(frozen=True, kw_only=True)
class GlobalPool(Spec):
    """AdaptiveAvgPool2d(1) (+ flatten): one op per input element (fvcore's count)."""

    name: ClassVar[str] = "global_pool"
    title: ClassVar[str] = "Global average pooling"
    c_in: int = size(512, "channels", role="channels")
    h: int = size(7, "input height", role="spatial")
    w: int = size(7, "input width", role="spatial")
    flatten: bool = choice(True, (True, False), "flatten to (N, C) after pooling")

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return [ops.global_avg_pool("pool", p.c_in, p.h, p.w)]

    def build(self):
        from torch import nn

        layers = [nn.AdaptiveAvgPool2d(1)] + ([nn.Flatten(1)] if self.flatten else [])
        return nn.Sequential(*layers)


@dataclass(frozen=True, kw_only=True)
class FC(Spec):
    """Flatten, Linear(c_in, c_out) [+ ReLU] [+ Dropout]: c_in*c_out MACs, params +c_out with bias."""

    name: ClassVar[str] = "fc"
    title: ClassVar[str] = "Fully connected"
    c_in: int = size(512, "input features", role="channels")
    c_out: int = size(1000, "output features", role="channels")
    bias: bool = flag(True, "bias")
    act: bool = flag(False, "ReLU after the linear layer")
    dropout: bool = choice(False, (False, True), "Dropout after (identity at inference, costs nothing)")

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return [ops.linear("linear", p.c_in, p.c_out, p.bias),
                ops.elementwise("relu", "relu", p.c_out).scaled(p.act)]

    def input_shape(self) -> tuple[int, ...]:
        return (1, self.c_in)

    def build(self):
        from torch import nn

        layers: list[nn.Module] = [nn.Flatten(1), nn.Linear(self.c_in, self.c_out, bias=self.bias)]
        if self.act:
            layers.append(nn.ReLU(inplace=True))
        if self.dropout:
            layers.append(nn.Dropout(0.5))
        return nn.Sequential(*layers)


@dataclass(frozen=True, kw_only=True)
class Add(Spec):
    """The residual add of two (c, h, w) tensors: one op per output element.

    It has no module of its own: the enclosing residual block performs it.
    """

    name: ClassVar[str] = "add"
    title: ClassVar[str] = "Residual add"
    c_in: int = size(64, "channels", role="channels")
    h: int = size(56, "height", role="spatial")
    w: int = size(56, "width", role="spatial")

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return [ops.elementwise("add", "add", p.c_in * p.h * p.w, inputs=2)]

    def build(self):
        raise ValueError("Add has no standalone module: the residual block performs it")


@dataclass(frozen=True, kw_only=True)
class Act(Spec):
    """An activation over (c, h, w): one op per element."""

    name: ClassVar[str] = "act"
    title: ClassVar[str] = "Activation"
    c_in: int = size(64, "channels", role="channels")
    h: int = size(56, "height", role="spatial")
    w: int = size(56, "width", role="spatial")
    kind: str = choice("relu", ("relu",), "activation")

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return [ops.elementwise(p.kind, p.kind, p.c_in * p.h * p.w)]

    def build(self):
        from torch import nn

        return nn.ReLU(inplace=True)


@dataclass(frozen=True, kw_only=True)
class BNAct(Spec):
    """BatchNorm2d [+ ReLU] after a swapped-in design (e.g. SPConv-ResNet keeps the block's BN)."""

    name: ClassVar[str] = "bn_act"
    title: ClassVar[str] = "BatchNorm (+ ReLU)"
    c_in: int = size(64, "channels", role="channels")
    h: int = size(56, "height", role="spatial")
    w: int = size(56, "width", role="spatial")
    act: bool = flag(True, "ReLU after the BN")

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return [ops.batch_norm("bn", p.c_in, p.h, p.w),
                ops.elementwise("relu", "relu", p.c_in * p.h * p.w).scaled(p.act)]

    def build(self):
        from torch import nn

        layers: list[nn.Module] = [nn.BatchNorm2d(self.c_in)]
        if self.act:
            layers.append(nn.ReLU(inplace=True))
        return nn.Sequential(*layers)


def plain_conv(c_in: int, c_out: int, k: int, stride: int, h: int, w: int, act: bool,
               bn: bool = True) -> list[tuple[str, Spec]]:
    """The plain conv as the network has it: conv + BN, or conv with bias and no BN (VGG-16)."""
    if k == 1:
        return [("", Pointwise(c_in=c_in, c_out=c_out, stride=stride, h=h, w=w, bias=not bn, bn=bn, act=act))]
    return [("", Conv(c_in=c_in, c_out=c_out, k=k, stride=stride, h=h, w=w, bias=not bn, bn=bn, act=act))]
