"""The building pieces of a design space: block, stem and head makers, by name (data tables).

A maker appends one piece of a network at a ``Cursor`` (the current (C, H, W)) and returns its
node; the cursor moves to the piece's output shape. The same maker builds the network of a
candidate AND the per-block cost tables, so a candidate's gathered costs equal
``space.build(c).costs()`` by construction (the tests check it anyway).

Blocks (``BLOCKS``; ``choice.expansion`` is t, ``choice.k`` the spatial kernel):

* ``ghost_bottleneck`` (options ``se``, ``s``, ``d``): the registered G-bneck with
  c_exp = make_divisible(t * c_in, 4) -- GhostNet's own widths at 1.0x (e.g. 16 -> 48 is t = 3).
* ``inverted_residual`` (option ``pw`` = conv | ghost | tbc, with ``s`` / ``B``; option ``mid``):
  MobileNetV2's 1x1 expand (ReLU) -> k x k depthwise (stride, ReLU) -> 1x1 project, + identity
  when the shape is kept; the two 1x1 convs are the ``pw`` design (the conv-swap adapters of
  ``networks.swaps``). The depthwise k x k + the 1x1 project is the depthwise-separable conv;
  ``mid`` replaces the depthwise by a full k x k conv c_exp -> c_exp of a swappable design
  (``conv``: standard, ``ghost`` s, ``spconv`` alpha, ``tbc`` B, ``sic`` b, ``dgc`` zeta), as the
  swap adapters make it (SIC keeps size, so a strided ``sic`` stays a plain conv, as in swaps).
* ``bottleneck`` (option ``conv3x3`` = any swappable design, with its options): the torchvision
  ResNet bottleneck, c_mid = t * c_out; ``conv3x3 = "conv"`` is the registered design (A7).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.fields import MAX_SIZE, Range
from ..core.spec import short_repr
from ..designs.conv import Conv, Depthwise, Pointwise
from ..designs.ghost import GhostBottleneck, make_divisible
from ..networks.glue import FC, Add, GlobalPool, MaxPool
from ..networks.graph import Cursor, Layer, Node, Res, Seq, conv_out
from ..networks.glue import plain_conv
from ..networks.swaps import adapter, design_options, swappable


MAX_FACTOR = 64
"""Upper bound of a multiplier (expansion t, width multiplier): every field has one."""

CHOICE_RANGES: dict[str, Range] = {"k": Range("int", 1, MAX_SIZE, role="kernel"),
                                   "expansion": Range("real", 0, MAX_FACTOR, lo_open=True)}
"""The allowed values of a Choice's fields (the same rules as a spec field's)."""


@dataclass(frozen=True)
class Choice:
    """One block option: a block maker's name, its spatial kernel k, expansion t and options."""

    design: str
    k: int = 3
    expansion: float = 1.0
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        for name, rng in CHOICE_RANGES.items():
            value = getattr(self, name)
            try:
                rng.normalize(value)  # checked only: the stored value keeps its type (labels, keys)
            except ValueError as exc:
                raise ValueError(f"Choice.{name} = {short_repr(value)} is invalid: {exc}") from None

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)

    def label(self) -> str:
        """e.g. ``ghost_bottleneck k5 t6 se=True``: what the front's hover text shows."""
        opts = " ".join(f"{k}={v}" for k, v in self.options)
        return f"{self.design} k{self.k} t{self.expansion:g}" + (f" {opts}" if opts else "")


BlockMaker = Callable[[Cursor, str, int, int, Choice], Node]
"""(cursor, module path, c_out, stride, choice) -> node; the cursor moves to the output."""


def _out(cur: Cursor, c_out: int, k: int, stride: int) -> tuple[int, int, int]:
    return c_out, conv_out(cur.h, k, stride), conv_out(cur.w, k, stride)


def ghost_bottleneck(cur: Cursor, name: str, c_out: int, stride: int, ch: Choice) -> Node:
    """One registered Ghost bottleneck (B2) leaf."""
    c_exp = make_divisible(ch.expansion * cur.c, 4)
    spec = GhostBottleneck(c_in=cur.c, c_exp=c_exp, c_out=c_out, k=ch.k, stride=stride,
                           se=bool(ch.option("se", False)), s=ch.option("s", 2), d=ch.option("d", 3),
                           h=cur.h, w=cur.w)
    return cur.layer(name, spec, _out(cur, c_out, ch.k, stride), "ghost_bottleneck")


def _adapter(design: str, options: dict[str, Any]) -> Callable[..., list]:
    """The conv-swap adapter of ``design`` with its own options picked from ``options``."""
    allowed = swappable()
    if design not in allowed:
        raise ValueError(f"design = {design!r} is not swappable: allowed is one of {', '.join(allowed)}")
    if design == "conv":
        return plain_conv
    own = {k: v for k, v in options.items() if k in design_options(design)}
    return functools.partial(adapter(design), **own)


def _parts(cur: Cursor, prefix: str, named: list, out: tuple[int, ...], role: str) -> list[Layer]:
    # every part of one replaced conv ends at that conv's output shape (e.g. SPConv, then BN)
    return [cur.layer(prefix + suffix, spec, out, role) for suffix, spec in named]


def inverted_residual(cur: Cursor, name: str, c_out: int, stride: int, ch: Choice) -> Node:
    """1x1 expand + BN + ReLU -> k x k depthwise (stride) + BN + ReLU -> 1x1 project + BN
    [+ identity add when stride = 1 and c_in = c_out]; the 1x1s are the ``pw`` design."""
    c_in, h, w = cur.c, cur.h, cur.w
    c_exp = make_divisible(ch.expansion * c_in, 4)
    pw = _adapter(ch.option("pw", "conv"), dict(ch.options))
    out = _out(cur, c_out, ch.k, stride)
    body = Seq(f"{name}.body")
    body.children += _parts(cur, f"{name}.body.expand", pw(c_in, c_exp, 1, 1, h, w, True),
                            (c_exp, h, w), "conv1x1")
    mid = ch.option("mid", "depthwise")
    if mid == "depthwise":
        body.children.append(cur.layer(f"{name}.body.dw", Depthwise(c_in=c_exp, k=ch.k, stride=stride, h=h, w=w,
                                                                    bn=True, act=True),
                                       (c_exp,) + out[1:], "depthwise"))
    else:  # a full k x k conv c_exp -> c_exp of the ``mid`` design, with its BN + ReLU
        body.children += _parts(cur, f"{name}.body.mid", _adapter(mid, dict(ch.options))(
            c_exp, c_exp, ch.k, stride, h, w, True), (c_exp,) + out[1:], "conv3x3")
    body.children += _parts(cur, f"{name}.body.project", pw(c_exp, c_out, 1, 1, out[1], out[2], False),
                            out, "conv1x1")
    if stride != 1 or c_in != c_out:
        return body
    return Res(name, body, None, Layer(name, Add(c_in=c_out, h=out[1], w=out[2]), out, out, "add"), None)


def bottleneck(cur: Cursor, name: str, c_out: int, stride: int, ch: Choice) -> Node:
    """A torchvision ResNet bottleneck (c_mid = t * c_out) with its 3x3 conv as ``conv3x3``."""
    from ..networks.resnet import registered_block, swapped_block

    width = int(round(ch.expansion * c_out))
    if width * 4 != c_out:
        raise ValueError(f"bottleneck expansion = {ch.expansion!r} is invalid for c_out = {c_out}: "
                         f"allowed is t with t * c_out = c_out / 4 (the torchvision layout)")
    design = ch.option("conv3x3", "conv")
    options = dict(ch.options)
    if design == "conv" and ch.k == 3:
        return registered_block(cur, name, width, stride)
    return swapped_block(cur, name, width, stride, _adapter(design, options), plain_conv)


BLOCKS: dict[str, BlockMaker] = {
    "ghost_bottleneck": ghost_bottleneck,
    "inverted_residual": inverted_residual,
    "bottleneck": bottleneck,
}
"""block design name -> maker; a block's options are the keyword arguments its maker reads."""

BLOCK_OPTIONS: dict[str, dict[str, tuple]] = {
    "ghost_bottleneck": {"se": (False, True), "s": (2, 3, 4), "d": (1, 3, 5)},
    "inverted_residual": {"pw": ("conv", "ghost", "tbc"), "mid": ("depthwise",) + tuple(swappable()),
                          "s": (2, 3, 4), "B": (2, 4), "alpha": (0.5, 0.25, 0.125), "b": (1, 2, 3),
                          "zeta": (0.25, 0.5, 0.75)},
    "bottleneck": {"conv3x3": tuple(swappable()), "s": (2, 3, 4),
                   "alpha": (0.5, 0.25, 0.125), "B": (2, 4), "b": (1, 2, 3), "groups": (2,),
                   "variant": ("sequential", "parallel"), "d": (1, 3, 5), "zeta": (0.25, 0.5, 0.75)},
}
"""The options each block accepts and their allowed values (the space-file schema checks them).
DGC's inference MACs are exact and input-independent (kept = c_in - floor(zeta c_in) channels per
head, whichever they are), so it is additive like the others; its training path is not counted."""


# --- stems and heads: fixed pieces, data tables keyed by ``kind`` --------------------------

def conv_stem(cur: Cursor, c_out: int = 16, k: int = 3, stride: int = 2) -> list[Node]:
    """k x k conv (stride) + BN + ReLU (GhostNet, MobileNet)."""
    spec = Conv(c_in=cur.c, c_out=c_out, k=k, stride=stride, h=cur.h, w=cur.w, bn=True, act=True)
    return [cur.layer("conv_stem", spec, _out(cur, c_out, k, stride), "stem")]


def resnet_stem(cur: Cursor, c_out: int = 64) -> list[Node]:
    """7x7/2 conv + BN + ReLU, then 3x3/2 max pool (padding 1), as torchvision ResNet."""
    conv = cur.layer("conv1", Conv(c_in=cur.c, c_out=c_out, k=7, stride=2, h=cur.h, w=cur.w, bn=True, act=True),
                     _out(cur, c_out, 7, 2), "stem")
    hp, wp = conv_out(cur.h, 3, 2, 1), conv_out(cur.w, 3, 2, 1)
    pool = cur.layer("maxpool", MaxPool(c_in=c_out, h=cur.h, w=cur.w, k=3, stride=2, padding=1),
                     (c_out, hp, wp), "pool")
    return [conv, pool]


def ghostnet_head(cur: Cursor, c_last: int = 960, c_head: int = 1280, classes: int = 1000) -> list[Node]:
    """1x1 conv to c_last + BN + ReLU -> global pool -> 1x1 conv c_head (bias, ReLU) -> FC."""
    last = cur.layer("conv_last", Pointwise(c_in=cur.c, c_out=c_last, h=cur.h, w=cur.w, bn=True, act=True),
                     (c_last, cur.h, cur.w), "conv1x1")
    pool = cur.layer("global_pool", GlobalPool(c_in=c_last, h=cur.h, w=cur.w, flatten=False),
                     (c_last, 1, 1), "pool")
    head = cur.layer("conv_head", Pointwise(c_in=c_last, c_out=c_head, h=1, w=1, bias=True, act=True),
                     (c_head, 1, 1), "head")
    fc = cur.layer("classifier", FC(c_in=c_head, c_out=classes), (classes,), "classifier")
    return [last, pool, head, fc]


def classifier_head(cur: Cursor, classes: int = 1000) -> list[Node]:
    """Global average pool (flatten) -> FC, as torchvision ResNet."""
    pool = cur.layer("avgpool", GlobalPool(c_in=cur.c, h=cur.h, w=cur.w), (cur.c,), "pool")
    return [pool, cur.layer("fc", FC(c_in=cur.c, c_out=classes), (classes,), "classifier")]


STEMS: dict[str, Callable[..., list[Node]]] = {"conv": conv_stem, "resnet": resnet_stem}
HEADS: dict[str, Callable[..., list[Node]]] = {"ghostnet": ghostnet_head, "classifier": classifier_head}
STEM_OPTIONS: dict[str, tuple[str, ...]] = {"conv": ("c_out", "k", "stride"), "resnet": ("c_out",)}
HEAD_OPTIONS: dict[str, tuple[str, ...]] = {"ghostnet": ("c_last", "c_head", "classes"),
                                            "classifier": ("classes",)}


def make_block(cur: Cursor, name: str, c_out: int, stride: int, choice: Choice) -> Node:
    """The block ``choice`` at the cursor (the one way a space makes a block)."""
    return BLOCKS[choice.design](cur, name, c_out, stride, choice)
