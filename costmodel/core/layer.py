"""``LayerSpec``: the fields shared by single-input layer designs (input size, bias/BN/act)."""

from __future__ import annotations

from dataclasses import dataclass

from .fields import flag, size
from .spec import Spec


@dataclass(frozen=True, kw_only=True)
class LayerSpec(Spec):
    """Fields shared by single-input layers: input size and the bias/BN/activation options."""

    h: int = size(56, "input height", role="spatial")
    w: int = size(56, "input width", role="spatial")
    bias: bool = flag(False, "conv bias", role="tail")
    bn: bool = flag(False, "BatchNorm after each conv", role="tail")
    act: bool = flag(False, "ReLU after each conv (after BN)", role="tail")
