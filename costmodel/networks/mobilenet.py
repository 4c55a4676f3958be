"""MobileNet v1: a stack of depthwise-separable convolutions (A5).

"MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications",
Howard et al. 2017, https://arxiv.org/abs/1704.04861. 1.0x at 224: 569 M MACs, 4.2 M params.
"""

from __future__ import annotations

from ..designs.conv import Conv
from ..designs.separable import Separable
from .glue import FC, GlobalPool
from .graph import Cursor, Network, Seq, conv_out

# (output channels, stride) of each separable block (Table 1 of the paper)
CFG_MOBILENET_V1: list[tuple[int, int]] = [
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def scaled(channels: int, width: float) -> int:
    """The width multiplier as the reference TF code applies it: max(int(c * width), 8)."""
    return max(int(channels * width), 8)


def mobilenet_v1(width: float = 1.0, resolution: int = 224, num_classes: int = 1000) -> Network:
    """Stem 3x3/2 conv-BN-ReLU, 13 separable blocks (BN + ReLU after both convs), pool, FC."""
    if not 0 < width <= 4:
        raise ValueError(f"width = {width!r} is invalid: allowed is a number in (0, 4]")
    cur = Cursor(3, resolution, resolution)
    c0 = scaled(32, width)
    ho = conv_out(resolution, 3, 2)
    root = Seq("", [cur.layer("stem", Conv(c_in=3, c_out=c0, k=3, stride=2, h=resolution, w=resolution,
                                           bn=True, act=True), (c0, ho, ho), "stem")])
    blocks = Seq("blocks")
    for i, (c, stride) in enumerate(CFG_MOBILENET_V1):
        c_out = scaled(c, width)
        spec = Separable(c_in=cur.c, c_out=c_out, k=3, stride=stride, h=cur.h, w=cur.w, bn=True, act=True)
        hs, ws = conv_out(cur.h, 3, stride), conv_out(cur.w, 3, stride)
        blocks.children.append(cur.layer(f"blocks.{i}", spec, (c_out, hs, ws), "separable"))
    root.children.append(blocks)
    root.children.append(cur.layer("avgpool", GlobalPool(c_in=cur.c, h=cur.h, w=cur.w), (cur.c,), "pool"))
    root.children.append(cur.layer("fc", FC(c_in=cur.c, c_out=num_classes), (num_classes,), "classifier"))
    return Network("mobilenet_v1", root, (3, resolution, resolution), f"MobileNet v1 {width}x",
                   {"width": width, "resolution": resolution, "num_classes": num_classes})
