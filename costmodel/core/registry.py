"""The design registry: a name -> Spec class map filled by the ``@register_design`` decorator.

Registering a name twice raises, as torch's ``register_flop_formula`` does. The design files
are imported on first lookup, so ``import costmodel`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TypeVar

from .spec import Spec

_DESIGNS: dict[str, type[Spec]] = {}

FAMILY_ORDER: tuple[str, ...] = ("conv", "separable", "inception", "dgc", "sic", "ghost", "spconv", "tied")
"""Registration order of the seed families (tables list designs in this order); any other file in
costmodel/designs/ is found by itself and loaded after them, in name order."""


def families() -> tuple[str, ...]:
    """Every design family module: the files of the ``costmodel.designs`` package."""
    import pkgutil

    # a plugin look-up by name, not a dependency: the core never uses what the design files hold
    package = importlib.import_module("costmodel.designs")
    found = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))
    ordered = [nm for nm in FAMILY_ORDER if nm in found] + [nm for nm in found if nm not in FAMILY_ORDER]
    return tuple(f"costmodel.designs.{nm}" for nm in ordered)

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


_LOADED: list[bool] = []


def _load_all() -> None:
    if _LOADED:
        return
    for module in families():
        importlib.import_module(module)
    _LOADED.append(True)


def designs() -> dict[str, type[Spec]]:
    """Every registered design, by name, in registration order."""
    _load_all()
    return dict(_DESIGNS)


def design_class(class_name: str) -> type[Spec] | None:
    """The registered Spec class called ``class_name`` (``"Ghost"``), for ``costmodel.Ghost``."""
    _load_all()
    return next((cls for cls in _DESIGNS.values() if cls.__name__ == class_name), None)


def get_design(name: str) -> type[Spec]:
    """The Spec class registered as ``name``; a clear ValueError otherwise."""
    _load_all()
    try:
        return _DESIGNS[name]
    except KeyError:
        raise ValueError(f"design = {name!r} is unknown: allowed is one of {', '.join(_DESIGNS)}") from None
