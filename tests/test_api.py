"""The public API surface: every exported name resolves, and none is shadowed by a submodule."""

from __future__ import annotations

import pkgutil

import pytest

import costmodel


def test_no_export_shares_its_name_with_a_submodule():
    # `import costmodel.x` binds costmodel.x to the module, which would hide a function `x`.
    submodules = {m.name for m in pkgutil.iter_modules(costmodel.__path__)}
    assert not set(costmodel._EXPORTS) & submodules


@pytest.mark.parametrize("name", sorted(costmodel._EXPORTS))
def test_every_export_resolves(name):
    assert getattr(costmodel, name) is not None


def test_functions_stay_callable_after_every_submodule_is_imported():
    import importlib

    for module in pkgutil.iter_modules(costmodel.__path__):
        importlib.import_module(f"costmodel.{module.name}")
    for name in ("validate", "compare", "ratio", "formula", "analyze", "reconcile", "report", "sweep",
                 "list_designs"):
        assert callable(getattr(costmodel, name)), name
