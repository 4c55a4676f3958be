"""Cross-validation: analytic formulas vs parameter count vs fvcore vs FlopCounterMode."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sympy as sp

from .core.registry import get_design
from .core import Costs, Spec


def validate(spec: Spec, batch: int = 1) -> dict[str, Any]:
    """One row: analytic vs traced params and MACs (conv, linear, each fvcore elementwise kind).

    ``*_match`` flags are exact equality; ``match`` is all of them. MACs are per batch of
    ``batch`` samples for the traced side, so the analytic side is multiplied by ``batch``.
    """
    from .peers.trace import trace

    module = spec.module()
    counts = trace(module, spec.example_input(batch))
    analytic = executed_costs(spec, module, batch)
    row: dict[str, Any] = {"design": spec.name, "spec": _spec_text(spec), "batch": batch}
    row.update(params_analytic=analytic.params, params_torch=counts.params,
               params_match=analytic.params == counts.params)
    fv, fcm = counts.fvcore_macs, counts.fcm_macs
    for key in ("conv", "linear"):
        ours = analytic.macs_by_key.get(key, 0) * batch
        row.update({f"{key}_macs_analytic": ours, f"{key}_macs_fvcore": fv.get(key, 0),
                    f"{key}_macs_torch": fcm.get(key, 0),
                    f"{key}_match": ours == fv.get(key, 0) == fcm.get(key, 0)})
    ours_elem = {kd: v * batch for kd, v in analytic.fvcore_elementwise().items()}
    theirs_elem = counts.fvcore_elementwise
    for kind in sorted(set(ours_elem) | set(theirs_elem)):
        row.update({f"{kind}_analytic": ours_elem.get(kind, 0), f"{kind}_fvcore": theirs_elem.get(kind, 0),
                    f"{kind}_match": ours_elem.get(kind, 0) == theirs_elem.get(kind, 0)})
    row["fvcore_unsupported"] = ", ".join(sorted(counts.fvcore_unsupported)) or ""
    row["match"] = all(v for k, v in row.items() if k.endswith("_match"))
    return row


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


def _spec_text(spec: Spec) -> str:
    return ", ".join(f"{k}={v}" for k, v in spec.values().items() if k != "dtype_bytes")


def compare(specs: Iterable[Spec], executed: bool = False):
    """A DataFrame of exact costs, one row per spec, every number labelled with its unit.

    Designs with a ``dense_macs`` extra (dynamic ones: "MACs" is then the expected count) get a
    "dense MACs" column; with ``executed``, dynamic designs (those defining ``executed_costs``)
    also run their module on one sample and report "executed MACs" (this imports torch).
    """
    import pandas as pd

    rows = []
    for spec in specs:
        c = spec.costs()
        row = {"design": spec.name, "spec": _spec_text(spec), "params": c.params,
               "MACs": c.macs, "FLOPs": c.flops, "conv MACs": c.macs_by_key.get("conv", 0),
               "linear MACs": c.macs_by_key.get("linear", 0),
               "elementwise ops": sum(c.elementwise.values()), "mem bytes": c.mem_bytes}
        if "dense_macs" in c.extra:
            row["dense MACs"] = int(c.extra["dense_macs"])
        if executed and hasattr(spec, "executed_costs"):
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
