"""GhostNet (B3) at width 0.5x / 1.0x / 1.3x, built from the registered Ghost bottleneck (B2).

"GhostNet: More Features from Cheap Operations", Han et al., CVPR 2020,
https://arxiv.org/abs/1911.11907. Layout as the reference ``ghostnet_pytorch``: every channel
count is ``make_divisible(c * width, 4)`` (the reference ``_make_divisible``, reused from
``designs/ghost.py`` so there is one copy); the head conv (1280) and the classifier are not
scaled. Paper: 42 / 141 / 226 M MACs and 2.6 / 5.2 / 7.3 M params at 224x224.
"""

from __future__ import annotations

from ..designs.conv import Conv, Pointwise
from ..designs.ghost import GhostBottleneck, make_divisible
from .glue import FC, GlobalPool
from .graph import Cursor, Network, Seq, conv_out

# one list per stage; each row: k, exp, out, se ratio, stride
CFG_GHOSTNET: list[list[tuple[int, int, int, float, int]]] = [
    [(3, 16, 16, 0, 1)],
    [(3, 48, 24, 0, 2)],
    [(3, 72, 24, 0, 1)],
    [(5, 72, 40, 0.25, 2)],
    [(5, 120, 40, 0.25, 1)],
    [(3, 240, 80, 0, 2)],
    [(3, 200, 80, 0, 1), (3, 184, 80, 0, 1), (3, 184, 80, 0, 1), (3, 480, 112, 0.25, 1),
     (3, 672, 112, 0.25, 1)],
    [(5, 672, 160, 0.25, 2)],
    [(5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1)],
]
HEAD_CHANNELS = 1280  # conv_head width, not scaled by the width multiplier


def ghostnet(width: float = 1.0, resolution: int = 224, num_classes: int = 1000) -> Network:
    """Stem 3x3/2 -> 16 G-bnecks -> 1x1 conv to 960w -> pool -> 1x1 conv 1280 (bias, ReLU) -> FC."""
    if not 0 < width <= 4:
        raise ValueError(f"width = {width!r} is invalid: allowed is a number in (0, 4]")
    cur = Cursor(3, resolution, resolution)
    c0 = make_divisible(16 * width, 4)
    ho = conv_out(resolution, 3, 2)
    root = Seq("", [cur.layer("conv_stem", Conv(c_in=3, c_out=c0, k=3, stride=2, h=resolution,
                                                w=resolution, bn=True, act=True), (c0, ho, ho), "stem")])
    blocks = Seq("blocks")
    exp = 16
    for i, stage in enumerate(CFG_GHOSTNET):
        seq = Seq(f"blocks.{i}")
        for j, (k, exp, out, se_ratio, stride) in enumerate(stage):
            c_out = make_divisible(out * width, 4)
            c_exp = make_divisible(exp * width, 4)
            spec = GhostBottleneck(c_in=cur.c, c_exp=c_exp, c_out=c_out, k=k, stride=stride,
                                   se=se_ratio > 0, s=2, d=3, h=cur.h, w=cur.w)
            shape = (c_out, conv_out(cur.h, k, stride), conv_out(cur.w, k, stride))
            seq.children.append(cur.layer(f"blocks.{i}.{j}", spec, shape, "ghost_bottleneck"))
        blocks.children.append(seq)
    c_last = make_divisible(exp * width, 4)
    blocks.children.append(cur.layer(f"blocks.{len(CFG_GHOSTNET)}",
                                     Pointwise(c_in=cur.c, c_out=c_last, h=cur.h, w=cur.w, bn=True, act=True),
                                     (c_last, cur.h, cur.w), "conv1x1"))
    root.children.append(blocks)
    root.children.append(cur.layer("global_pool", GlobalPool(c_in=cur.c, h=cur.h, w=cur.w, flatten=False),
                                   (cur.c, 1, 1), "pool"))
    root.children.append(cur.layer("conv_head", Pointwise(c_in=cur.c, c_out=HEAD_CHANNELS, h=1, w=1,
                                                          bias=True, act=True),
                                   (HEAD_CHANNELS, 1, 1), "head"))
    root.children.append(cur.layer("classifier", FC(c_in=HEAD_CHANNELS, c_out=num_classes),
                                   (num_classes,), "classifier"))
    return Network("ghostnet", root, (3, resolution, resolution), f"GhostNet {width}x",
                   {"width": width, "resolution": resolution, "num_classes": num_classes})
