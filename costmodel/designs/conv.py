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
from ..core import Constraint, Spec, size
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


# --- the standard conv a design is compared with ---------------------------------------------------

def output_shape(spec: Spec) -> tuple[int, int, int]:
    """(channels, h_out, w_out) of one sample of ``spec``'s output: one forward of its module.

    A forward, not the op table, because op tables sum repeated stages and branches (a
    concatenation, Inception's 64 + 128 + 32 + 32 = 256 channels, or SIC's b stages)."""
    import torch

    with torch.inference_mode():
        y = spec.module()(spec.example_input(1))
    return int(y.shape[1]), int(y.shape[2]), int(y.shape[3])


def matched_conv(spec: Spec) -> Conv:
    """The standard conv with ``spec``'s input (c_in, h, w), total output channels, kernel and
    stride, read from field ROLES and the op table (not from field names):

      c_in, h, w  <- ``spec.input_shape()``;  c_out <- ``output_shape(spec)`` (all branches);
      k           <- the first field of role "kernel" (3 where the design has none, e.g. Inception,
                     or where it is even: a "same" conv needs an odd kernel);
      stride      <- the first field of role "stride" (else h / h_out);
      the conv's "tail" (bias, bn, act) and "bytes" fields <- the spec's where it has the same ones.

    MACs of the result = c_out * c_in * k^2 * h_out * w_out (e.g. Inception 3a at 28x28:
    256 * 192 * 9 * 28 * 28 = 346,816,512)."""
    ranges = type(spec).field_ranges()
    _, c_in, h, w = spec.input_shape()
    c_out, h_out, _ = output_shape(spec)
    # an even kernel with padding k//2 changes the size (k = 2: 57x57 from 56x56): compare with a 3x3
    k = next((getattr(spec, nm) for nm, r in ranges.items() if r.role == "kernel"), 3)
    k = k if k % 2 else 3
    stride = next((getattr(spec, nm) for nm, r in ranges.items() if r.role == "stride"), max(1, h // h_out))
    # the conv's own tail (bias / BN / act) and dtype switches, where the design has the same ones
    conv_ranges = Conv.field_ranges()
    shared = {nm: getattr(spec, nm) for nm, r in conv_ranges.items()
              if r.role in ("tail", "bytes") and nm in ranges and ranges[nm].role == r.role}
    return Conv(c_in=c_in, c_out=c_out, k=k, stride=stride, h=h, w=w, **shared)
