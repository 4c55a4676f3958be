"""The design registry: a name -> Spec class map filled by the ``@register_design`` decorator.

Registering a name twice raises, as torch's ``register_flop_formula`` does. The design files
are imported on first lookup, so ``import costmodel`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TypeVar

from .spec import Spec

_DESIGNS: dict[str, type[Spec]] = {}

# One line per design family; adding a family means adding its module here.
FAMILIES: tuple[str, ...] = (
    "costmodel.designs.conv",
    "costmodel.designs.separable",
    "costmodel.designs.inception",
    "costmodel.designs.dgc",
    "costmodel.designs.sic",
    "costmodel.designs.ghost",
    "costmodel.designs.spconv",
    "costmodel.designs.tied",
)

S = TypeVar("S", bound=type[Spec])


def register_design(name: str, title: str = "", reference: str = ""):
    """Class decorator: register a Spec subclass under ``name``."""

    def decorate(cls: S) -> S:
        if name in _DESIGNS:
            raise ValueError(f"design {name!r} is already registered (by {_DESIGNS[name].__name__})")
        cls.name = name
        cls.title = title or cls.__name__
        cls.reference = reference
        _DESIGNS[name] = cls
        return cls

    return decorate


def _load_all() -> None:
    for module in FAMILIES:
        importlib.import_module(module)


def designs() -> dict[str, type[Spec]]:
    """Every registered design, by name, in registration order."""
    _load_all()
    return dict(_DESIGNS)


def get_design(name: str) -> type[Spec]:
    """The Spec class registered as ``name``; a clear ValueError otherwise."""
    _load_all()
    try:
        return _DESIGNS[name]
    except KeyError:
        raise ValueError(f"design = {name!r} is unknown: allowed is one of {', '.join(_DESIGNS)}") from None
