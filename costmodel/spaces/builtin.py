"""The built-in design spaces, with the built-in networks as their fixed points.

* ``ghostnet``: a MobileNetV2/GhostNet-style inverted-bottleneck space. GhostNet 1.0x's 16
  G-bnecks grouped by output width into 6 stages (16 | 24 | 40 | 80 | 112 | 160), each with
  width multipliers 0.75 / 1.0 / 1.25 (make_divisible(., 4)), a depth choice, and per block:
  design x kernel (3, 5) x expansion (GhostNet's own t, 3, 6). The designs are the seed designs
  (``GHOST_DESIGNS``): G-bneck (Ghost s = 2, with or without SE; Ghost s = 3); MobileNetV2's
  inverted residual, whose depthwise k x k + 1x1 project is the depthwise-separable conv, with
  plain, Ghost or TBC (B = 2) 1x1 convs; and the inverted residual with its depthwise replaced
  by a full k x k conv: standard, SPConv alpha = 1/2, SIC b = 2 (a plain conv where strided),
  DGC zeta = 1/2. GhostNet 1.0x is the point ``ghostnet_1.0x`` (141,150,512 MACs, 5,182,508
  params).
* ``resnet50``: ResNet-50 with, per stage, one 3x3 replacement for all its blocks (conv, Ghost
  s=2, SPConv alpha=1/2, TBC B=2, SIC b=2, DGC zeta=1/2), a depth choice and width 0.75x / 1.0x. Plain
  ResNet-50 is the point ``resnet50`` (4,089,184,256 MACs, 25,557,032 params).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from ..designs.ghost import make_divisible
from ..networks.ghostnet import CFG_GHOSTNET
from ..networks.resnet import CFG_RESNET50, EXPANSION
from .blocks import Choice
from .space import NetworkSpace, Stage

GHOST_MULTS = (0.75, 1.0, 1.25)
GHOST_DEPTHS = {1: (1,), 2: (1, 2), 4: (2, 3, 4), 5: (3, 4, 5)}  # GhostNet depth -> allowed depths


def _ghost_blocks() -> list[tuple[int, int, int, int, bool, int]]:
    """GhostNet 1.0x's blocks as (c_in, k, exp, out, se, stride), channels at width 1.0."""
    out, c_in = [], 16
    for stage in CFG_GHOSTNET:
        for k, exp, c_out, se, stride in stage:
            out.append((c_in, k, exp, c_out, se > 0, stride))
            c_in = c_out
    return out


GHOST_DESIGNS = (
    ("ghost_bottleneck", (("se", False),)),  # GhostNet's own G-bneck (Ghost s = 2)
    ("ghost_bottleneck", (("se", True),)),
    ("inverted_residual", (("pw", "conv"),)),  # MobileNetV2: depthwise-separable
    ("inverted_residual", (("pw", "ghost"),)),
    ("inverted_residual", (("pw", "tbc"),)),  # TBC, B = 2
    ("ghost_bottleneck", (("se", False), ("s", 3))),  # Ghost with s = 3
    ("inverted_residual", (("mid", "conv"),)),  # standard k x k conv
    ("inverted_residual", (("mid", "spconv"), ("alpha", 0.5))),
    ("inverted_residual", (("mid", "sic"), ("b", 2))),
    ("inverted_residual", (("mid", "dgc"), ("zeta", 0.5))),
)
"""(block design, options) offered in every slot of the ghostnet space, each x kernel x expansion.
The first five keep their earlier order, so earlier candidates' indices are unchanged."""


def _ghost_choices(k0: int, t0: float) -> tuple[Choice, ...]:
    kernels = sorted({k0, 3, 5})
    expansions = sorted({t0, 3.0, 6.0})
    return tuple(Choice(d, k, t, opts) for d, opts in GHOST_DESIGNS for k in kernels for t in expansions)


@functools.cache
def ghostnet_space() -> NetworkSpace:
    blocks = _ghost_blocks()
    groups: dict[int, list] = {}
    for b in blocks:
        groups.setdefault(b[3], []).append(b)
    stages, point = [], {}
    for c_out, members in groups.items():
        name = f"s{c_out}"
        slots = tuple(_ghost_choices(k, exp / c_in) for c_in, k, exp, _, _, _ in members)
        widths = tuple(make_divisible(c_out * m, 4) for m in GHOST_MULTS)
        stages.append(Stage(name, widths, slots, GHOST_DEPTHS[len(members)], stride=members[0][5]))
        point[name] = (c_out, len(members), [Choice("ghost_bottleneck", k, exp / c_in, (("se", se),))
                                             for c_in, k, exp, _, se, _ in members])
    space = NetworkSpace("ghostnet", tuple(stages), (3, 224, 224), ("conv", (("c_out", 16), ("k", 3), ("stride", 2))),
                         ("ghostnet", (("c_last", 960), ("c_head", 1280), ("classes", 1000))),
                         "GhostNet-style inverted-bottleneck space")
    return dataclasses.replace(space, fixed_points=(("ghostnet_1.0x", space.encode(point)),))


RESNET_3X3 = ((("conv3x3", "conv"),), (("conv3x3", "ghost"), ("s", 2)), (("conv3x3", "spconv"), ("alpha", 0.5)),
              (("conv3x3", "tbc"), ("B", 2)), (("conv3x3", "sic"), ("b", 2)), (("conv3x3", "dgc"), ("zeta", 0.5)))
RESNET_DEPTHS = {3: (2, 3), 4: (2, 3, 4), 6: (3, 4, 5, 6)}
RESNET_MULTS = (0.75, 1.0)


@functools.cache
def resnet50_space() -> NetworkSpace:
    choices = tuple(Choice("bottleneck", 3, 1 / EXPANSION, opts) for opts in RESNET_3X3)
    stages, point = [], {}
    for i, (width, depth, stride) in enumerate(CFG_RESNET50, start=1):
        name = f"layer{i}"
        c_out = width * EXPANSION
        stages.append(Stage(name, tuple(int(c_out * m) for m in RESNET_MULTS), (choices,) * depth,
                            RESNET_DEPTHS[depth], stride=stride, tied=True))
        point[name] = (c_out, depth, [choices[0]] * depth)
    space = NetworkSpace("resnet50", tuple(stages), (3, 224, 224), ("resnet", (("c_out", 64),)),
                         ("classifier", (("classes", 1000),)), "ResNet-50 space (per-stage 3x3 replacement)")
    return dataclasses.replace(space, fixed_points=(("resnet50", space.encode(point)),))


SPACES: dict[str, Callable[[], NetworkSpace]] = {"ghostnet": ghostnet_space, "resnet50": resnet50_space}
"""name -> the built-in space (built once)."""

def space(name: str) -> NetworkSpace:
    """A built-in space by name, or a space file (``*.toml``) by path."""
    if name in SPACES:
        return SPACES[name]()
    if name.endswith(".toml"):
        from .schema import load_space

        return load_space(name)
    raise ValueError(f"space = {name!r} is unknown: allowed is one of {', '.join(SPACES)} or a .toml file")
