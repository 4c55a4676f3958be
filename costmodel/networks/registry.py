"""Built-in networks by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .graph import Network


def _resnet50(**kw: Any) -> Network:
    from .resnet import resnet50

    return resnet50(**kw)


def _vgg16(**kw: Any) -> Network:
    from .vgg import vgg16

    return vgg16(**kw)


def _vgg16_cifar(**kw: Any) -> Network:
    from .vgg import vgg16_cifar

    return vgg16_cifar(**kw)


def _mobilenet_v1(**kw: Any) -> Network:
    from .mobilenet import mobilenet_v1

    return mobilenet_v1(**kw)


def _ghostnet(**kw: Any) -> Network:
    from .ghostnet import ghostnet

    return ghostnet(**kw)


NETWORKS: dict[str, Callable[..., Network]] = {
    "ghostnet": _ghostnet,
    "resnet50": _resnet50,
    "vgg16": _vgg16,
    "vgg16_cifar": _vgg16_cifar,
    "mobilenet_v1": _mobilenet_v1,
}
"""name -> builder; keyword arguments: resolution, num_classes, width (ghostnet, mobilenet_v1)."""


def network_names() -> list[str]:
    return list(NETWORKS)


def network(name: str, **kw: Any) -> Network:
    """The built-in network ``name`` (e.g. ``network("ghostnet", width=1.3)``)."""
    try:
        builder = NETWORKS[name]
    except KeyError:
        raise ValueError(f"network = {name!r} is unknown: allowed is one of {', '.join(NETWORKS)}") from None
    try:
        return builder(**kw)
    except TypeError as exc:  # an option this network does not take
        raise ValueError(f"network {name!r}: {exc}") from None
