"""Hypothesis: random small sequential models from a menu of layers -- built-in convs (plain,
pointwise, depthwise, grouped, transposed), custom leaves holding Parameters that call F.conv2d,
``@``, torch.einsum, torch.bmm and F.scaled_dot_product_attention, nn.MultiheadAttention, a BN
subclass calling F.batch_norm with an activation child, a layer-scale module, interpolate --
analyze() MACs equal FlopCounterMode FLOPs / 2 on the unfused math path (grad enabled)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st
from torch import nn

from costmodel.analysis import analyze
from tests.test_analyze_cases import BNAct, flop_counter_macs


class ConvLeaf(nn.Module):
    """A leaf holding a weight and calling F.conv2d itself (3x3, padding 1, no bias)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c, c, 3, 3))

    def forward(self, x):
        return F.conv2d(x, self.weight, padding=1)


class MatmulLeaf(nn.Module):
    """A channel mixer: tokens @ W (the ``@`` operator on a 3-D tensor)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c, c))

    def forward(self, x):
        n, c, h, w = x.shape
        return (x.flatten(2).transpose(1, 2) @ self.weight).transpose(1, 2).reshape(n, c, h, w)


class EinsumLeaf(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c, c))

    def forward(self, x):
        return torch.einsum("nchw,dc->ndhw", x, self.weight)


class BmmLeaf(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c, c))

    def forward(self, x):
        n = x.shape[0]
        return torch.bmm(self.weight.expand(n, -1, -1), x.flatten(2)).view_as(x)


class SdpaLeaf(nn.Module):
    """Self-attention over the pixels, one head per channel pair (no parameters)."""

    def forward(self, x):
        n, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2).reshape(n, h * w, c // 2, 2).transpose(1, 2)
        return F.scaled_dot_product_attention(t, t, t).transpose(1, 2).reshape(n, h * w, c).transpose(1, 2) \
            .reshape(n, c, h, w)


class MhaBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(c, 2, batch_first=True)

    def forward(self, x):
        n, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        return self.attn(t, t, t)[0].transpose(1, 2).reshape(n, c, h, w)


class LayerScaleConv(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 1, bias=False)
        self.gamma = nn.Parameter(torch.full((c, 1, 1), 0.1))

    def forward(self, x):
        return x + self.gamma * self.conv(x)


class Resample(nn.Module):
    """Up by 2 (bilinear), back down by max pooling: no MACs, shape kept."""

    def forward(self, x):
        return F.max_pool2d(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), 2)


MENU = {
    "conv": lambda c: nn.Conv2d(c, c, 3, padding=1, bias=False),
    "pointwise": lambda c: nn.Conv2d(c, c, 1, bias=False),
    "depthwise": lambda c: nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
    "group": lambda c: nn.Conv2d(c, c, 3, padding=2, dilation=2, groups=2),
    "transposed": lambda c: nn.ConvTranspose2d(c, c, 3, padding=1, groups=2),
    "leaf": ConvLeaf, "matmul": MatmulLeaf, "einsum": EinsumLeaf, "bmm": BmmLeaf,
    "sdpa": lambda c: SdpaLeaf(), "mha": MhaBlock, "bn_act": BNAct, "layer_scale": LayerScaleConv,
    "resample": lambda c: Resample(), "relu": lambda c: nn.ReLU(),
}


@given(st.lists(st.sampled_from(sorted(MENU)), min_size=1, max_size=4),
       st.sampled_from([2, 4]), st.sampled_from([4, 6]), st.sampled_from([1, 2]))
def test_random_sequential_matches_flop_counter(layers, c, hw, batch):
    model = nn.Sequential(*(MENU[name](c) for name in layers))
    shape = (batch, c, hw, hw)
    result = analyze(model, shape)
    assert result.totals["unknown"] == 0
    assert result.params == sum(p.numel() for p in model.parameters())
    assert result.macs == flop_counter_macs(model, shape)
