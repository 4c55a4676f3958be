"""Generic torch building blocks shared by the design modules.

This file imports torch at the top, so only ``build()`` methods import it: ``import costmodel``
and the analytic commands never load torch.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_act(cin: int, cout: int, kernel: int | tuple[int, int], stride: int | tuple[int, int] = 1,
                groups: int = 1, bias: bool = False, bn: bool = False, act: bool = False,
                padding: int | tuple[int, int] | None = None, activation: type[nn.Module] = nn.ReLU
                ) -> nn.Sequential:
    """conv -> [BN] -> [activation], "same" padding k//2 unless given."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    if padding is None:
        padding = (kh // 2, kw // 2)
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, (kh, kw), stride, padding, groups=groups, bias=bias)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    if act:
        layers.append(activation(inplace=True) if activation is nn.ReLU else activation())
    return nn.Sequential(*layers)


class Residual(nn.Module):
    """post(body(x) + shortcut(x)); shortcut None means the identity."""

    def __init__(self, body: nn.Module, shortcut: nn.Module | None = None,
                 post: nn.Module | None = None) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.post = post if post is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.body(x) + self.shortcut(x))


class Concat(nn.Module):
    """Run branches on the same input and concatenate along channels."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)
