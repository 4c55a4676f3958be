"""Conv swaps: rebuild a network with its 3x3 (and optionally 1x1) convs replaced by a design.

``swap("resnet50", conv3x3="ghost", s=2)`` replaces every conv + BN + ReLU of the bottlenecks'
3x3 position by a Ghost module (which carries its own BNs and ReLU). Each adapter below says
what one replacement is, as named specs, so the swapped network is still a sum of designs
and its module is still checked by trace. The adapters follow the papers' networks:

* ``ghost`` (s, d=3): Ghost module with the replaced conv's kernel and stride (GhostNet sec. 4.1).
* ``spconv`` (alpha): SPConv (2 groups) then the block's own BN + ReLU, as SPConv-ResNet does.
* ``tbc`` (B): Tied Block Conv + BN [+ ReLU]; B must divide the channels.
* ``sic`` (b, variant): SIC + BN [+ ReLU]. SIC keeps channels and size, so a strided or
  channel-changing conv stays a plain conv (ResNet-50: the three stride-2 3x3 convs).
* ``dgc`` (zeta, H=4, d=16): Dynamic Group Conv (its own BN + ReLU); 3x3 positions with ReLU only.
* ``conv``: the plain conv (a swap that changes nothing: a consistency check).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..designs.conv import Conv, Pointwise
from ..core.spec import Spec
from .glue import BNAct
from .graph import Network, conv_out

Named = list[tuple[str, Spec]]


def plain_conv(c_in: int, c_out: int, k: int, stride: int, h: int, w: int, act: bool, bn: bool = True) -> Named:
    """The plain conv as the network has it: conv + BN, or conv with bias and no BN (VGG-16)."""
    if k == 1:
        return [("", Pointwise(c_in=c_in, c_out=c_out, stride=stride, h=h, w=w, bias=not bn, bn=bn, act=act))]
    return [("", Conv(c_in=c_in, c_out=c_out, k=k, stride=stride, h=h, w=w, bias=not bn, bn=bn, act=act))]


def _ghost(c_in, c_out, k, stride, h, w, act, *, s: int = 2, d: int = 3) -> Named:
    from ..designs.ghost import Ghost

    return [("", Ghost(c_in=c_in, c_out=c_out, k=k, s=s, d=d, stride=stride, h=h, w=w, relu=act))]


def _spconv(c_in, c_out, k, stride, h, w, act, *, alpha: float = 0.5, groups: int = 2) -> Named:
    from ..designs.spconv import SPConv

    ho, wo = conv_out(h, k, stride), conv_out(w, k, stride)
    return [("", SPConv(c_in=c_in, c_out=c_out, alpha=alpha, k=k, stride=stride, groups=groups, h=h, w=w)),
            ("_bn", BNAct(c_in=c_out, h=ho, w=wo, act=act))]


def _tbc(c_in, c_out, k, stride, h, w, act, *, B: int = 2) -> Named:
    from ..designs.tied import TiedBlockConv

    return [("", TiedBlockConv(c_in=c_in, c_out=c_out, k=k, stride=stride, B=B, h=h, w=w, bn=True, act=act))]


def _sic(c_in, c_out, k, stride, h, w, act, *, b: int = 2, variant: str = "sequential") -> Named:
    from ..designs.sic import SIC

    if stride != 1 or c_in != c_out:
        return plain_conv(c_in, c_out, k, stride, h, w, act)
    return [("", SIC(n=c_in, k=k, b=b, h=h, w=w, variant=variant)), ("_bn", BNAct(c_in=c_out, h=h, w=w, act=act))]


def _dgc(c_in, c_out, k, stride, h, w, act, *, zeta: float = 0.5, H: int = 4, d: int = 16) -> Named:
    from ..designs.dgc import DGC

    if not act:
        raise ValueError("conv1x1 = 'dgc' is invalid: DGC always ends with ReLU; swap only ReLU convs (conv3x3)")
    return [("", DGC(c_in=c_in, c_out=c_out, k=k, stride=stride, H=H, zeta=zeta, d=d, h=h, w=w))]


SWAPPABLE: dict[str, Callable[..., Named]] = {
    "conv": plain_conv, "ghost": _ghost, "spconv": _spconv, "tbc": _tbc, "sic": _sic, "dgc": _dgc,
}
"""design name -> adapter(c_in, c_out, k, stride, h, w, act, **design options) -> named specs."""

DESIGN_OPTIONS: dict[str, tuple[str, ...]] = {
    "conv": (), "ghost": ("s", "d"), "spconv": ("alpha", "groups"), "tbc": ("B",),
    "sic": ("b", "variant"), "dgc": ("zeta", "H", "d"),
}
NETWORK_OPTIONS = ("resolution", "num_classes")
SWAP_TARGETS = {"resnet50": ("conv3x3", "conv1x1"), "vgg16": ("conv3x3",), "vgg16_cifar": ("conv3x3",)}


def _maker(design: str, options: dict[str, Any]):
    if design not in SWAPPABLE:
        raise ValueError(f"design = {design!r} is not swappable: allowed is one of {', '.join(SWAPPABLE)}")
    adapter = SWAPPABLE[design]

    def make(c_in, c_out, k, stride, h, w, act, bn: bool = True):
        # only the plain conv follows the network's BN choice; the designs bring their own BNs
        extra = {"bn": bn} if adapter is plain_conv else {}
        return adapter(c_in, c_out, k, stride, h, w, act, **options, **extra)

    return make


def swap(name: str, conv3x3: str | None = None, conv1x1: str | None = None, **options: Any) -> Network:
    """``name`` with its 3x3 (``conv3x3``) and/or 1x1 (``conv1x1``: bottleneck 1x1s and projection
    shortcuts) convs replaced by a design; ``options`` are the design's (s, alpha, B, b, zeta...)
    plus the network's (resolution, num_classes)."""
    if name not in SWAP_TARGETS:
        raise ValueError(f"network = {name!r} has no swap: allowed is one of {', '.join(SWAP_TARGETS)}")
    if conv3x3 is None and conv1x1 is None:
        raise ValueError("swap needs conv3x3=<design> and/or conv1x1=<design>")
    if conv1x1 is not None and "conv1x1" not in SWAP_TARGETS[name]:
        raise ValueError(f"conv1x1 = {conv1x1!r} is invalid for {name!r}: only conv3x3 can be swapped")
    net_kw = {k: options.pop(k) for k in NETWORK_OPTIONS if k in options}
    allowed = set().union(*(DESIGN_OPTIONS.get(d, ()) for d in (conv3x3, conv1x1) if d))
    extra = set(options) - allowed
    if extra:
        raise ValueError(f"option(s) {', '.join(sorted(extra))} are invalid here: allowed are "
                         f"{', '.join(sorted(allowed | set(NETWORK_OPTIONS))) or 'resolution, num_classes'}")
    makers = {}
    for slot, design in (("conv3x3", conv3x3), ("conv1x1", conv1x1)):
        if design is not None:
            own = {k: v for k, v in options.items() if k in DESIGN_OPTIONS.get(design, ())}
            makers[slot] = _maker(design, own)
    label = _label(conv3x3, conv1x1, options)
    if name == "resnet50":
        from .resnet import resnet50

        net = resnet50(conv3x3=makers.get("conv3x3"), conv1x1=makers.get("conv1x1"), swap_label=label, **net_kw)
    else:
        from . import vgg

        net = getattr(vgg, name)(conv3x3=makers["conv3x3"], swap_label=label, **net_kw)
    net.config.update({"conv3x3": conv3x3, "conv1x1": conv1x1, **options})
    return net


def _label(conv3x3: str | None, conv1x1: str | None, options: dict[str, Any]) -> str:
    opts = ", ".join(f"{k}={v}" for k, v in options.items())
    parts = [f"{slot} -> {d}" for slot, d in (("3x3", conv3x3), ("1x1", conv1x1)) if d]
    return "; ".join(parts) + (f" ({opts})" if opts else "")
