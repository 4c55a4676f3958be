"""Results of a design: its symbolic ``Formulas`` and its exact ``Costs``.

Units: params (learnable parameters), MACs (multiply-accumulates; FLOPs = 2 x MACs),
elementwise ops by kind, memory traffic in bytes. Per sample unless a caller scales them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from .ops import FVCORE_ELEMENTWISE, MAC_KINDS, Op


@dataclass(frozen=True)
class Formulas:
    """The symbolic costs of a design (per sample). Units: params, MACs, ops, bytes."""

    design: str
    params: sp.Expr
    macs: dict[str, sp.Expr]  # fvcore key ("conv", "linear") -> MACs
    elementwise: dict[str, sp.Expr]  # op kind -> elementwise ops
    mem_bytes: sp.Expr
    ops: tuple[Op, ...]
    extra: dict[str, sp.Expr] = dataclasses.field(default_factory=dict)

    @property
    def macs_total(self) -> sp.Expr:
        """conv + linear MACs: the headline number."""
        return sp.Add(*self.macs.values())

    @property
    def flops(self) -> sp.Expr:
        """FLOPs = 2 x MACs (conv + linear)."""
        return 2 * self.macs_total

    def quantities(self) -> dict[str, sp.Expr]:
        """Every named total: params, macs_<key>, elem_<kind>, mem_bytes, and extras."""
        out: dict[str, sp.Expr] = {"params": self.params}
        out.update({f"macs_{key}": v for key, v in self.macs.items()})
        out.update({f"elem_{kind}": v for kind, v in self.elementwise.items()})
        out["mem_bytes"] = self.mem_bytes
        out.update(self.extra)
        return out

    def __getitem__(self, name: str) -> sp.Expr:
        return self.quantities()[name]

    def output_sizes(self) -> dict[sp.Symbol, sp.Expr]:
        """Short names h_o1, w_o1, ... for the output-size floor expressions of the design's ops,
        so that a formula prints as c_out*c_in*k**2*h_o1*w_o1 with each size defined once."""
        names: dict[sp.Expr, sp.Symbol] = {}
        for op in self.ops:
            for axis in ("h_out", "w_out"):
                expr = sp.sympify(op.geometry.get(axis, 0))
                if expr.has(sp.floor) and expr not in names:
                    index = sum(1 for v in names.values() if v.name[0] == axis[0]) + 1
                    names[expr] = sp.Symbol(f"{axis[0]}_o{index}", integer=True, positive=True)
        return {v: k for k, v in names.items()}

    def readable(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with output sizes replaced by their short names (see ``output_sizes``)."""
        return sp.sympify(expr).xreplace({full: short for short, full in self.output_sizes().items()})


def sum_ops(design: str, ops: Sequence[Op], bytes_per_element: sp.Expr,
            extra: dict[str, sp.Expr] | None = None) -> Formulas:
    """Totals of a list of ops: memory traffic = width x (reads + writes + weights)."""
    macs: dict[str, sp.Expr] = {"conv": sp.Integer(0), "linear": sp.Integer(0)}
    elementwise: dict[str, sp.Expr] = {}
    for op in ops:
        if op.kind in MAC_KINDS:
            macs[MAC_KINDS[op.kind]] += op.macs
        else:
            elementwise[op.kind] = elementwise.get(op.kind, sp.Integer(0)) + op.elem
    params = sp.Add(*(op.params for op in ops))
    traffic = sp.Add(*(op.reads + op.writes + op.params for op in ops))
    return Formulas(design, params, macs, elementwise, bytes_per_element * traffic, tuple(ops),
                    extra or {})


class MacTotals:
    """``macs`` (conv + linear, the papers' headline "FLOPs") and ``flops`` = 2 x MACs, from a
    ``macs_by_key`` dict; shared by a layer's and a network's costs."""

    macs_by_key: dict[str, int]

    @property
    def macs(self) -> int:
        return sum(self.macs_by_key.values())

    @property
    def flops(self) -> int:
        return 2 * self.macs


@dataclass(frozen=True)
class Costs(MacTotals):
    """Exact per-sample costs of one spec. ``flops`` = 2 x ``macs``."""

    params: int
    macs_by_key: dict[str, int]
    elementwise: dict[str, int]
    mem_bytes: int
    extra: dict[str, Any]

    def fvcore_elementwise(self) -> dict[str, int]:
        """The elementwise kinds fvcore counts, with our numbers."""
        return {kd: v for kd, v in self.elementwise.items() if kd in FVCORE_ELEMENTWISE and v}

    def __add__(self, other: "Costs") -> "Costs":
        """The costs of running both: params, MACs per key, elementwise ops per kind and bytes
        add up. Design-specific extras (e.g. Ghost's intrinsic channels) are not quantities of
        the sum, so the result has none. ``sum(costs, Costs.zero())`` totals a network."""
        if not isinstance(other, Costs):
            return NotImplemented
        return Costs(self.params + other.params, _add_counts(self.macs_by_key, other.macs_by_key),
                     _add_counts(self.elementwise, other.elementwise), self.mem_bytes + other.mem_bytes, {})

    @staticmethod
    def zero() -> "Costs":
        """The neutral element of ``+``: nothing run (conv and linear keys present, at 0)."""
        return Costs(0, {"conv": 0, "linear": 0}, {}, 0, {})


def _add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out
