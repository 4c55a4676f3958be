"""Cross-validation: analytic formulas vs parameter count vs fvcore vs FlopCounterMode."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

from .core.registry import get_design
from .core import Costs, Spec


@dataclass(frozen=True)
class Check:
    """One quantity of a validation: our analytic count against the traced ones.

    ``fvcore``: fvcore's count (MACs for conv/linear, ops for its elementwise kinds; None for
    params). ``torch``: ``sum(p.numel())`` for params, FlopCounterMode ÷ 2 for conv/linear MACs,
    None where it does not count the quantity. ``match``: every count that exists is equal.
    """

    quantity: str
    unit: str
    analytic: int
    fvcore: int | None
    torch: int | None = None

    @property
    def match(self) -> bool:
        return all(v == self.analytic for v in (self.fvcore, self.torch) if v is not None)


@dataclass(frozen=True)
class ValidationResult(Mapping):
    """Analytic vs traced counts of one spec or network, one :class:`Check` per quantity.

    Typed access: ``.match``, ``.checks``, ``.check("conv")``, ``.mismatches``. It is also a
    read-only mapping of flat column names (``params_analytic``, ``conv_macs_fvcore``,
    ``conv_match``, ``relu_fvcore``, ..., ``match``) generated from the checks, for tables.
    """

    design: str
    spec: str
    batch: int
    checks: tuple[Check, ...]
    fvcore_unsupported: tuple[str, ...] = ()

    @property
    def match(self) -> bool:
        return all(c.match for c in self.checks)

    @property
    def mismatches(self) -> list[str]:
        return [c.quantity for c in self.checks if not c.match]

    @property
    def elementwise(self) -> tuple[Check, ...]:
        """The checks of fvcore's elementwise kinds (everything but params and MAC keys)."""
        return tuple(c for c in self.checks if c.unit == "ops")

    def check(self, quantity: str) -> Check:
        for c in self.checks:
            if c.quantity == quantity:
                return c
        raise KeyError(quantity)

    def flat(self) -> dict[str, Any]:
        row: dict[str, Any] = {"design": self.design, "spec": self.spec, "batch": self.batch}
        for c in self.checks:
            prefix = f"{c.quantity}_macs" if c.unit == "MACs" else c.quantity
            row[f"{prefix}_analytic"] = c.analytic
            if c.fvcore is not None:
                row[f"{prefix}_fvcore"] = c.fvcore
            if c.torch is not None:
                row[f"{prefix}_torch"] = c.torch
            row[f"{c.quantity}_match"] = c.match
        row["fvcore_unsupported"] = ", ".join(self.fvcore_unsupported)
        row["match"] = self.match
        return row

    def __getitem__(self, key: str) -> Any:
        return self.flat()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.flat())

    def __len__(self) -> int:
        return len(self.flat())


MAC_KEYS = ("conv", "linear")
"""The MAC keys both fvcore and FlopCounterMode count (conv and linear/matmul)."""


def validate(target: Spec | Any, batch: int = 1) -> ValidationResult:
    """Analytic vs traced params and MACs (conv, linear, each fvcore elementwise kind) of a
    spec or a built-in network (``costmodel.networks.Network``).

    Traced MACs are per batch of ``batch`` samples, so the analytic side is multiplied by
    ``batch``; params are per model. Dynamic layers use what their module really executed.
    """
    from .peers.trace import trace

    if batch < 1:
        raise ValueError(f"batch = {batch!r} is invalid: must be an integer >= 1")
    module = target.module()
    counts = trace(module, target.example_input(batch))
    if isinstance(target, Spec):
        analytic, label = executed_costs(target, module, batch), target.fields_text()
    else:
        analytic, label = _network_costs(target, module, batch), repr(target)
    checks = [Check("params", "parameters", analytic.params, None, counts.params)]
    for key in MAC_KEYS:
        checks.append(Check(key, "MACs", analytic.macs_by_key.get(key, 0) * batch,
                            counts.fvcore_macs.get(key, 0), counts.fcm_macs.get(key, 0)))
    ours = {kind: v * batch for kind, v in analytic.fvcore_elementwise().items()}
    theirs = counts.fvcore_elementwise
    for kind in sorted(set(ours) | set(theirs)):
        checks.append(Check(kind, "ops", ours.get(kind, 0), theirs.get(kind, 0)))
    return ValidationResult(target.name, label, batch, tuple(checks),
                            tuple(sorted(counts.fvcore_unsupported)))


def _network_costs(net: Any, module: Any, batch: int) -> Costs:
    """A network's analytic costs: the sum of its layers' (executed costs for dynamic layers)."""
    total = Costs.zero()
    for layer in net.layers:
        spec = layer.spec
        part = spec.executed_costs(module.get_submodule(layer.name), batch) if spec.dynamic else spec.costs()
        total = total + part
    return total


def executed_costs(spec: Spec, module: Any, batch: int) -> Costs:
    """The costs the module executes; dynamic designs override ``executed_costs``."""
    return spec.executed_costs(module, batch)


def executed_macs(spec: Spec) -> int:
    """conv + linear MACs the module really executes on one example sample."""
    import torch

    module = spec.module()
    with torch.no_grad():
        module(spec.example_input(1))
    return executed_costs(spec, module, 1).macs


def compare(specs: Iterable[Spec], executed: bool = False):
    """A DataFrame of exact costs, one row per spec, every number labelled with its unit.

    Designs whose ``dense_macs()`` hook gives a count (dynamic ones: "MACs" is then the expected
    count) get a "dense MACs" column; with ``executed``, dynamic designs (``Spec.dynamic``)
    also run their module on one sample and report "executed MACs" (this imports torch).
    """
    import pandas as pd

    rows = []
    for spec in specs:
        c = spec.costs()
        row = {"design": spec.name, "spec": spec.fields_text(), "params": c.params,
               "MACs": c.macs, "FLOPs": c.flops, "conv MACs": c.macs_by_key.get("conv", 0),
               "linear MACs": c.macs_by_key.get("linear", 0),
               "elementwise ops": sum(c.elementwise.values()), "mem bytes": c.mem_bytes}
        dense = spec.dense_macs()
        if dense is not None:
            row["dense MACs"] = dense
        if executed and spec.dynamic:
            row["executed MACs"] = executed_macs(spec)
        rows.append(row)
    return pd.DataFrame(rows)


def formula(name: str, structure: tuple | None = None):
    """The symbolic Formulas of design ``name`` (params, macs, elementwise, mem_bytes, ops)."""
    return get_design(name).formulas(structure)


def ratio(a: Spec | str, b: Spec | str, quantity: str = "macs",
          substitutions: dict[sp.Symbol, sp.Expr] | None = None) -> sp.Expr:
    """Simplified symbolic ratio quantity(a) / quantity(b) ("macs" = conv+linear, or "params").

    Both designs' formulas share symbols, so e.g. ratio("separable", "conv") simplifies to
    1/c_out + 1/k**2 (with bias/bn/act off). ``substitutions`` pins symbols first.
    """
    fa, fb = (formula(x) if isinstance(x, str) else type(x).formulas(x.structure()) for x in (a, b))
    pick = (lambda f: f.macs_total) if quantity == "macs" else (lambda f: f[quantity])
    num, den = pick(fa), pick(fb)
    subs = dict(substitutions or {})
    for spec in (a, b):
        if isinstance(spec, Spec):
            subs.update({k: v for k, v in _flag_values(spec).items() if k not in subs})
    expr = (num / den).subs(subs)
    return sp.simplify(sp.expand(sp.simplify(expr)))


def _flag_values(spec: Spec) -> dict[sp.Symbol, int]:
    from .core.symbols import SYMBOLS

    ranges = spec.field_ranges()
    return {SYMBOLS[nm]: int(getattr(spec, nm)) for nm, r in ranges.items() if r.kind == "flag"}
