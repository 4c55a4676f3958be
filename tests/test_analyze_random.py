"""Hypothesis: random small sequential models (built-in convs, a custom leaf calling F.conv2d,
ReLU) -- analyze() MACs equal FlopCounterMode FLOPs / 2 on the unfused math path."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st
from torch import nn

from costmodel.analysis import analyze
from tests.test_analyze_cases import flop_counter_macs


class ConvLeaf(nn.Module):
    """A leaf holding a weight and calling F.conv2d itself (3x3, padding 1, no bias)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c, c, 3, 3))

    def forward(self, x):
        return F.conv2d(x, self.weight, padding=1)


MENU = {
    "conv": lambda c: nn.Conv2d(c, c, 3, padding=1, bias=False),
    "pointwise": lambda c: nn.Conv2d(c, c, 1, bias=False),
    "depthwise": lambda c: nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
    "leaf": ConvLeaf,
    "relu": lambda c: nn.ReLU(),
}


@given(st.lists(st.sampled_from(sorted(MENU)), min_size=1, max_size=4),
       st.sampled_from([2, 4]), st.sampled_from([4, 6]))
def test_random_sequential_matches_flop_counter(layers, c, hw):
    model = nn.Sequential(*(MENU[name](c) for name in layers))
    shape = (1, c, hw, hw)
    assert analyze(model, shape).macs == flop_counter_macs(model, shape)
