"""ResNet-50, torchvision layout: bottlenecks [3, 4, 6, 3], stride on the 3x3 conv.

"Deep Residual Learning for Image Recognition", He et al., CVPR 2016,
https://arxiv.org/abs/1512.03385 (torchvision's ``resnet50``: 25,557,032 params).

The plain network is made of the registered ``bottleneck`` design (A7). A swap replaces the
3x3 (and/or the 1x1) convs: the blocks are then spelled out as a residual tree whose leaves
are the swapped-in designs, so each leaf is still a design checked against its own module.
"""

from __future__ import annotations

from collections.abc import Callable

from ..designs.conv import Conv
from ..designs.inception import Bottleneck
from ..core import Spec
from .glue import FC, Act, Add, GlobalPool, MaxPool, plain_conv
from .graph import Cursor, Layer, Network, Res, Seq, conv_out

# stage: (bottleneck width, number of blocks, stride of the first block)
CFG_RESNET50: list[tuple[int, int, int]] = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]
EXPANSION = 4

Maker = Callable[..., list[tuple[str, Spec]]]
"""(c_in, c_out, k, stride, h, w, act) -> named specs replacing one conv + BN [+ ReLU]."""


def resnet50(resolution: int = 224, num_classes: int = 1000, conv3x3: Maker | None = None,
             conv1x1: Maker | None = None, swap_label: str = "") -> Network:
    """ResNet-50; ``conv3x3``/``conv1x1`` replace the bottlenecks' 3x3 / 1x1 convs (and the
    1x1 projection shortcuts) with another design."""
    cur = Cursor(3, resolution, resolution)
    root = Seq("")
    ho = conv_out(resolution, 7, 2)
    root.children.append(cur.layer("conv1", Conv(c_in=3, c_out=64, k=7, stride=2, h=resolution,
                                                 w=resolution, bn=True, act=True), (64, ho, ho), "stem"))
    hp = conv_out(ho, 3, 2, 1)
    root.children.append(cur.layer("maxpool", MaxPool(c_in=64, h=ho, w=ho, k=3, stride=2, padding=1),
                                   (64, hp, hp), "pool"))
    for i, (width, blocks, stride) in enumerate(CFG_RESNET50, start=1):
        stage = Seq(f"layer{i}")
        for j in range(blocks):
            name = f"layer{i}.{j}"
            s = stride if j == 0 else 1
            if conv3x3 is None and conv1x1 is None:
                stage.children.append(_registered_block(cur, name, width, s))
            else:
                stage.children.append(_swapped_block(cur, name, width, s, conv3x3 or plain_conv,
                                                     conv1x1 or plain_conv))
        root.children.append(stage)
    root.children.append(cur.layer("avgpool", GlobalPool(c_in=cur.c, h=cur.h, w=cur.w), (cur.c,), "pool"))
    root.children.append(cur.layer("fc", FC(c_in=cur.c, c_out=num_classes), (num_classes,), "classifier"))
    title = "ResNet-50" + (f" ({swap_label})" if swap_label else "")
    return Network("resnet50", root, (3, resolution, resolution), title,
                   {"resolution": resolution, "num_classes": num_classes})


def _registered_block(cur: Cursor, name: str, width: int, stride: int) -> Layer:
    """One torchvision bottleneck as the registered ``bottleneck`` design."""
    c_out = width * EXPANSION
    spec = Bottleneck(c_in=cur.c, c_mid=width, c_out=c_out, k=3, stride=stride, h=cur.h, w=cur.w,
                      bn=True, act=True)
    ho = conv_out(cur.h, 3, stride)
    return cur.layer(name, spec, (c_out, ho, conv_out(cur.w, 3, stride)), "bottleneck")


def _parts(cur: Cursor, prefix: str, named: list[tuple[str, Spec]], out: tuple[int, int, int],
           role: str) -> list[Layer]:
    """Leaves for the specs replacing one conv."""
    # every part of a replacement ends at the replaced conv's output shape (e.g. SPConv, then BN)
    return [cur.layer(prefix + suffix, spec, out, role) for suffix, spec in named]


def _swapped_block(cur: Cursor, name: str, width: int, stride: int, make3: Maker, make1: Maker) -> Res:
    """A bottleneck spelled out: 1x1 -> 3x3 (stride) -> 1x1 (no ReLU) + shortcut, add, ReLU."""
    c_in, h, w = cur.c, cur.h, cur.w
    c_out = width * EXPANSION
    ho, wo = conv_out(h, 3, stride), conv_out(w, 3, stride)
    body = Seq(f"{name}.body")
    body.children += _parts(cur, f"{name}.body.conv1", make1(c_in, width, 1, 1, h, w, True),
                            (width, h, w), "conv1x1")
    body.children += _parts(cur, f"{name}.body.conv2", make3(width, width, 3, stride, h, w, True),
                            (width, ho, wo), "conv3x3")
    body.children += _parts(cur, f"{name}.body.conv3", make1(width, c_out, 1, 1, ho, wo, False),
                            (c_out, ho, wo), "conv1x1")
    shortcut = None
    if stride != 1 or c_in != c_out:
        side = Cursor(c_in, h, w)
        shortcut = Seq(f"{name}.shortcut",
                       _parts(side, f"{name}.shortcut.proj", make1(c_in, c_out, 1, stride, h, w, False),
                              (c_out, conv_out(h, 1, stride), conv_out(w, 1, stride)), "shortcut"))
    add = Layer(name, Add(c_in=c_out, h=ho, w=wo), (c_out, ho, wo), (c_out, ho, wo), "add")
    post = Layer(f"{name}.post", Act(c_in=c_out, h=ho, w=wo), (c_out, ho, wo), (c_out, ho, wo), "act")
    return Res(name, body, shortcut, add, post)


# One block at a time, for the ResNet-50 design space (costmodel.spaces builds its candidates
# block by block with the same code as resnet50(), so its fixed point is this network exactly).
registered_block = _registered_block
swapped_block = _swapped_block
