"""Built-in networks by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.fields import MAX_SIZE, Range
from ..core.spec import short_repr
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

NETWORK_FIELDS: dict[str, Range] = {
    "width": Range("real", 0, 4, lo_open=True, role="ratio"),
    "resolution": Range("int", 1, MAX_SIZE, role="spatial"),
    "num_classes": Range("int", 1, MAX_SIZE, role="channels"),
}
"""The allowed values of each network option (the same ``Range`` rules as a spec field)."""

NETWORK_OPTIONS: dict[str, tuple[str, ...]] = {
    "ghostnet": ("width", "resolution", "num_classes"),
    "mobilenet_v1": ("width", "resolution", "num_classes"),
    "resnet50": ("resolution", "num_classes"),
    "vgg16": ("resolution", "num_classes"),
    "vgg16_cifar": ("resolution", "num_classes"),
}
"""The options each built-in network takes."""


def check_network_options(name: str, kw: dict[str, Any]) -> dict[str, Any]:
    """``kw`` normalised (numpy scalars become Python numbers), or a ValueError naming the option,
    its value and the allowed range; an option ``name`` does not take is named with those it does."""
    allowed = NETWORK_OPTIONS.get(name, tuple(NETWORK_FIELDS))
    extra = sorted(set(kw) - set(allowed))
    if extra:
        raise ValueError(f"option(s) {', '.join(extra)} are invalid for network {name!r}: allowed are "
                         f"{', '.join(allowed)}")
    out = {}
    for key, value in kw.items():
        try:
            out[key] = NETWORK_FIELDS[key].normalize(value)
        except ValueError as exc:
            raise ValueError(f"{key} = {short_repr(value)} is invalid: {exc}") from None
    return out


def built(name: str, options: dict[str, Any], build: Any) -> Any:
    """``build()``, with a layer's refusal (a ValueError naming an inner field, e.g. a huge
    resolution making an FC layer's c_in overflow) re-raised naming the network and the options
    it was asked for, so the message says which input caused it."""
    try:
        return build()
    except ValueError as exc:
        if not options:
            raise
        given = ", ".join(f"{k}={short_repr(v)}" for k, v in options.items())
        raise ValueError(f"network {name!r} with {given} cannot be built: {exc}") from None


def network_names() -> list[str]:
    return list(NETWORKS)


def network(name: str, **kw: Any) -> Network:
    """The built-in network ``name`` (e.g. ``network("ghostnet", width=1.3)``)."""
    try:
        builder = NETWORKS[name]
    except KeyError:
        raise ValueError(f"network = {name!r} is unknown: allowed is one of {', '.join(NETWORKS)}") from None
    options = check_network_options(name, kw)
    return built(name, options, lambda: builder(**options))
