"""Tied Block Convolution: Leaner and Better CNNs with Shared Thinner Filters (Wang & Yu,
AAAI 2021), https://arxiv.org/abs/2009.12021 -- Tied Block Convolution (B5) and Tied Group
Convolution (B6).

Sources: seed 000. The input's c_in channels are cut into B equal blocks and ONE conv
(c_in/B -> c_out/B, k x k, optionally grouped) is shared by every block. It runs as one kernel
through a reshape (N, c_in, H, W) -> (N*B, c_in/B, H, W), and the result is reshaped back to
(N, c_out, H', W'). A tracer therefore sees a conv on a batch of N*B: its MACs for N samples are
N*B*(c_out/B)*(c_in/B)/g*k^2*H'*W', i.e. per sample exactly c_in*c_out*k^2*H'*W'/(B*g).
"""

from __future__ import annotations

import dataclasses
import functools
from types import SimpleNamespace

import sympy as sp

from ..core import ops
from ..core.ops import Op
from ..core.registry import register_design
from ..core import Constraint, size
from ..core.layer import LayerSpec
from ..core.symbols import divides

PAPER = "Tied Block Convolution, Wang & Yu, AAAI 2021, https://arxiv.org/abs/2009.12021"


def tied_conv(name: str, cin, cout, kernel, blocks, h_in, w_in, stride_=1, groups_=1, bias_=0) -> Op:
    """One shared conv (c_in/B -> c_out/B, groups g) applied to B blocks.

    MACs = B * (c_out/B)*(c_in/B)/g*k^2*h'*w' = c_in*c_out*k^2*h'*w'/(B*g);
    params = (c_in/B)*(c_out/B)*k^2/g (+ c_out/B bias): stored once, a B^2 reduction.
    """
    shared = ops.conv(name, cin / blocks, cout / blocks, kernel, h_in, w_in, stride_, groups_, bias_)
    return Op(name, "conv", macs=blocks * shared.macs, params=shared.params,
              reads=blocks * shared.reads, writes=blocks * shared.writes,
              geometry={**shared.geometry, "batch": blocks})  # the kernel runs on a batch of B


@register_design("tbc", "Tied Block Convolution, TBC (B5)", PAPER)
@dataclasses.dataclass(frozen=True, kw_only=True)
class TiedBlockConv(LayerSpec):
    """One k x k conv (c_in/B -> c_out/B) shared by B channel blocks, then [BN] [ReLU] on c_out.

    MACs = c_in*c_out*k^2*h'*w'/B (a B-fold cut); params = c_in*c_out*k^2/B^2 (a B^2-fold cut),
    + c_out/B shared bias, + 2*c_out BN (BN is per output channel, not shared).
    """

    # -- conv swap: Tied Block Conv + BN [+ ReLU]; B must divide the channels --
    swap_keeps_bn_act = False

    @classmethod
    def swap_for_conv(cls, c_in, c_out, k, stride, h, w, act, *, B: int = 2):
        if cls is not TiedBlockConv:  # TGC inherits fields, not the swap
            return super().swap_for_conv(c_in, c_out, k, stride, h, w, act)
        return [("", cls(c_in=c_in, c_out=c_out, k=k, stride=stride, B=B, h=h, w=w, bn=True, act=act))]

    @classmethod
    def swap_options(cls):
        return ("B",) if cls is TiedBlockConv else None


    c_in: int = size(64, "input channels (B divides it)", role="channels")
    c_out: int = size(64, "output channels (B divides it)", role="channels")
    k: int = size(3, "kernel size", role="kernel")
    stride: int = size(1, "stride", role="stride")
    B: int = size(2, "number of blocks sharing one conv", role="groups")

    @classmethod
    def constraints(cls, p: SimpleNamespace) -> list[Constraint]:
        return [Constraint("B", divides(p.B, p.c_in), "B must divide c_in"),
                Constraint("B", divides(p.B, p.c_out), "B must divide c_out")]

    @classmethod
    def _groups(cls, p: SimpleNamespace) -> sp.Expr:
        return sp.Integer(1)

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        conv = tied_conv("tied_conv", p.c_in, p.c_out, p.k, p.B, p.h, p.w, p.stride, cls._groups(p), p.bias)
        ho, wo = conv.geometry["h_out"], conv.geometry["w_out"]
        return [conv, ops.batch_norm("bn", p.c_out, ho, wo).scaled(p.bn),
                ops.elementwise("relu", "relu", p.c_out * ho * wo).scaled(p.act)]

    def build(self):
        return _nn().tied_conv_bn_act(self.c_in, self.c_out, self.k, self.stride, self.B, 1,
                                      self.bias, self.bn, self.act)


@register_design("tgc", "Tied Group Convolution, TGC (B6)", PAPER)
@dataclasses.dataclass(frozen=True, kw_only=True)
class TiedGroupConv(TiedBlockConv):
    """TBC whose shared conv is itself grouped (g groups inside each block).

    MACs = c_in*c_out*k^2*h'*w'/(B*g); params = c_in*c_out*k^2/(B^2*g) (+ c_out/B bias, + 2*c_out BN).
    """

    groups: int = size(2, "groups of the shared conv (divides c_in/B and c_out/B)", role="groups")

    @classmethod
    def constraints(cls, p: SimpleNamespace) -> list[Constraint]:
        return super().constraints(p) + [
            Constraint("groups", divides(p.B * p.groups, p.c_in), "groups must divide c_in/B"),
            Constraint("groups", divides(p.B * p.groups, p.c_out), "groups must divide c_out/B")]

    @classmethod
    def _groups(cls, p: SimpleNamespace) -> sp.Expr:
        return p.groups

    def build(self):
        return _nn().tied_conv_bn_act(self.c_in, self.c_out, self.k, self.stride, self.B, self.groups,
                                      self.bias, self.bn, self.act)


@functools.cache
def _nn() -> SimpleNamespace:
    """TiedConv and a conv -> [BN] -> [ReLU] builder, defined on first use (lazy torch)."""
    import torch
    from torch import nn

    class TiedConv(nn.Module):
        """One conv shared by B channel blocks, run as a single conv on a batch of N*B."""

        def __init__(self, cin: int, cout: int, kernel: int, stride: int, blocks: int,
                     groups: int = 1, bias: bool = False) -> None:
            super().__init__()
            self.blocks = blocks
            self.conv = nn.Conv2d(cin // blocks, cout // blocks, kernel, stride, kernel // 2,
                                  groups=groups, bias=bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, c, h, w = x.shape
            y = self.conv(x.reshape(n * self.blocks, c // self.blocks, h, w))
            return y.reshape(n, -1, y.shape[-2], y.shape[-1])

    def tied_conv_bn_act(cin: int, cout: int, kernel: int, stride: int, blocks: int, groups: int,
                         bias: bool, bn: bool, act: bool) -> nn.Sequential:
        layers: list[nn.Module] = [TiedConv(cin, cout, kernel, stride, blocks, groups, bias)]
        if bn:
            layers.append(nn.BatchNorm2d(cout))
        if act:
            layers.append(nn.ReLU(inplace=True))
        return nn.Sequential(*layers)

    return SimpleNamespace(TiedConv=TiedConv, tied_conv_bn_act=tied_conv_bn_act)
