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

from ..core import Spec, designs
from ..designs.conv import Conv
from .glue import BNAct, plain_conv
from .graph import Network, conv_out
from .registry import NETWORK_OPTIONS, built, check_network_options

Named = list[tuple[str, Spec]]


def swappable() -> dict[str, type[Spec]]:
    """Designs that can replace a conv: ``conv`` (the plain conv) and every registered design
    that declares itself a swap (``swap_options()`` not None; its ``swap_for_conv`` says what
    one replacement is)."""
    out: dict[str, type[Spec]] = {"conv": Conv}
    out.update({nm: cls for nm, cls in designs().items() if cls.swap_options() is not None})
    return out


def design_options(design: str) -> tuple[str, ...]:
    return swappable()[design].swap_options() if design != "conv" else ()


def adapter(design: str) -> Callable[..., Named]:
    """adapter(c_in, c_out, k, stride, h, w, act, **design options) -> named specs: the design's
    ``swap_for_conv``, followed by the replaced conv's BN [+ activation] when the design keeps
    them; the plain conv where the design cannot replace that conv."""
    cls = swappable()[design]

    def make(c_in, c_out, k, stride, h, w, act, **options):
        named = cls.swap_for_conv(c_in, c_out, k, stride, h, w, act, **options)
        if named is None:
            return plain_conv(c_in, c_out, k, stride, h, w, act)
        if cls.swap_keeps_bn_act:
            ho, wo = conv_out(h, k, stride), conv_out(w, k, stride)
            named = named + [("_bn", BNAct(c_in=c_out, h=ho, w=wo, act=act))]
        return named

    return make


SWAP_TARGETS = {"resnet50": ("conv3x3", "conv1x1"), "vgg16": ("conv3x3",), "vgg16_cifar": ("conv3x3",)}


def _maker(design: str, options: dict[str, Any]):
    allowed = swappable()
    if design not in allowed:
        raise ValueError(f"design = {design!r} is not swappable: allowed is one of {', '.join(allowed)}")
    if design == "conv":  # only the plain conv follows the network's BN choice
        return plain_conv
    make_one = adapter(design)

    def make(c_in, c_out, k, stride, h, w, act, bn: bool = True):
        return make_one(c_in, c_out, k, stride, h, w, act, **options)

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
    net_kw = check_network_options(name, {k: options.pop(k) for k in NETWORK_OPTIONS[name] if k in options})
    allowed = set().union(*(design_options(d) for d in (conv3x3, conv1x1) if d in swappable()))
    extra = set(options) - allowed
    if extra:
        raise ValueError(f"option(s) {', '.join(sorted(extra))} are invalid here: allowed are "
                         f"{', '.join(sorted(allowed | set(NETWORK_OPTIONS[name])))}")
    makers = {}
    for slot, design in (("conv3x3", conv3x3), ("conv1x1", conv1x1)):
        if design is not None:
            own = {k: v for k, v in options.items() if k in (design_options(design) if design in swappable() else ())}
            makers[slot] = _maker(design, own)
    label = _label(conv3x3, conv1x1, options)
    if name == "resnet50":
        from .resnet import resnet50

        net = built(name, net_kw, lambda: resnet50(conv3x3=makers.get("conv3x3"), conv1x1=makers.get("conv1x1"),
                                                   swap_label=label, **net_kw))
    else:
        from . import vgg

        net = built(name, net_kw, lambda: getattr(vgg, name)(conv3x3=makers["conv3x3"], swap_label=label, **net_kw))
    net.config.update({"conv3x3": conv3x3, "conv1x1": conv1x1, **options})
    return net


def _label(conv3x3: str | None, conv1x1: str | None, options: dict[str, Any]) -> str:
    opts = ", ".join(f"{k}={v}" for k, v in options.items())
    parts = [f"{slot} -> {d}" for slot, d in (("3x3", conv3x3), ("1x1", conv1x1)) if d]
    return "; ".join(parts) + (f" ({opts})" if opts else "")
