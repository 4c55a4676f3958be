"""A network as a small tree of specs: leaves are specs, inner nodes are sequences and residuals.

The analytic cost of a network is the sum of its leaves' costs (each a spec whose formulas are
checked against its own module). ``module()`` assembles the leaves' real modules with the same
tree, so the module path of every leaf is its layer name and the trace sees exactly those
modules.
"""

from __future__ import annotations

from ..core.geometry import conv_out_size as conv_out  # noqa: F401  (re-exported to the builders)

import functools
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Union

from ..core import Costs, MacTotals, Spec
from ..core.spec import check_forward_bytes


@dataclass(frozen=True)
class Layer:
    """One leaf: a spec at a module path, with its (C, H, W) input and output shapes."""

    name: str
    spec: Spec
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    role: str = ""  # e.g. "stem", "conv3x3", "classifier": what a swap looks for

    @property
    def design(self) -> str:
        return self.spec.name


@dataclass
class Seq:
    """Children run one after another (an ``nn.Sequential`` with named children)."""

    name: str
    children: list["Node"] = field(default_factory=list)


@dataclass
class Res:
    """post(body(x) + shortcut(x)); shortcut None is the identity. Built as ``blocks.Residual``."""

    name: str
    body: Seq
    shortcut: Seq | None
    add: Layer
    post: Layer | None


Node = Union[Layer, Seq, Res]


def leaves(node: Node) -> Iterator[Layer]:
    """Every leaf layer in execution order (body, then shortcut, then add, then post)."""
    if isinstance(node, Layer):
        yield node
    elif isinstance(node, Seq):
        for child in node.children:
            yield from leaves(child)
    else:
        yield from leaves(node.body)
        if node.shortcut is not None:
            yield from leaves(node.shortcut)
        yield node.add
        if node.post is not None:
            yield node.post


def build(node: Node):
    """The torch module of a node (torch imported here only)."""
    from collections import OrderedDict

    from torch import nn

    from ..core.blocks import Residual

    if isinstance(node, Layer):
        return node.spec.module()
    if isinstance(node, Seq):
        return nn.Sequential(OrderedDict((_short(c.name), build(c)) for c in node.children))
    shortcut = build(node.shortcut) if node.shortcut is not None else None
    post = build(node.post) if node.post is not None else None
    return Residual(build(node.body), shortcut, post)


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class NetworkCosts(MacTotals):
    """Per-layer exact costs (``table``) and totals, per sample. Units in the column names."""

    per_layer: list[tuple["Layer", Any]]  # (layer, its Costs); ``table`` is the DataFrame view
    params: int
    macs_by_key: dict[str, int]
    elementwise: dict[str, int]
    mem_bytes: int

    @functools.cached_property
    def table(self):
        """pandas.DataFrame, one row per leaf layer (built on first use: the totals don't need it)."""
        import pandas as pd

        return pd.DataFrame([_layer_row(layer, c) for layer, c in self.per_layer])

    def totals(self) -> dict[str, int]:
        out = {"params": self.params, "MACs": self.macs, "FLOPs": self.flops}
        out.update({f"{k} MACs": v for k, v in self.macs_by_key.items()})
        out.update({f"{k} ops": v for k, v in self.elementwise.items() if v})
        out["mem bytes"] = self.mem_bytes
        return out


def _layer_row(layer: "Layer", c: Any) -> dict[str, Any]:
    """One row of the per-layer table; units in the column names."""
    return {"layer": layer.name, "design": layer.design, "role": layer.role,
            "input": "x".join(map(str, layer.in_shape)), "output": "x".join(map(str, layer.out_shape)),
            "params": c.params, "MACs": c.macs, "conv MACs": c.macs_by_key.get("conv", 0),
            "linear MACs": c.macs_by_key.get("linear", 0),
            "elementwise ops": sum(c.elementwise.values()), "mem bytes": c.mem_bytes}


class Network:
    """A whole network: a root ``Seq`` of spec leaves, plus its input shape (C, H, W)."""

    def __init__(self, name: str, root: Seq, input_shape: tuple[int, int, int], title: str = "",
                 config: dict[str, Any] | None = None) -> None:
        self.name = name
        self.title = title or name
        self.root = root
        self.input_shape = input_shape
        self.config = dict(config or {})

    def __repr__(self) -> str:
        cfg = ", ".join(f"{k}={v}" for k, v in self.config.items())
        return f"Network({self.name!r}{', ' + cfg if cfg else ''}; {len(self.layers)} layers)"

    @property
    def layers(self) -> list[Layer]:
        """Every leaf layer (a spec with its module path), in execution order."""
        return list(leaves(self.root))

    def costs(self) -> NetworkCosts:
        """Exact analytic costs: the sum of each layer's design formulas."""
        per_layer = [(layer, layer.spec.costs()) for layer in self.layers]
        total = sum((c for _, c in per_layer), Costs.zero())
        return NetworkCosts(per_layer, total.params, total.macs_by_key, total.elementwise, total.mem_bytes)

    def module(self):
        """The real network module, eval mode, tagged ``.costmodel_network``."""
        mod = build(self.root)
        mod.eval()
        mod.costmodel_network = self
        return mod

    def example_input(self, batch: int = 1, seed: int = 0):
        """A seeded fp32 input of ``batch`` samples; refused (ValueError naming the resolution)
        before allocation when the forward would exceed ``FORWARD_BUDGET``."""
        import torch

        largest = max((layer.spec.largest_output_elements() for layer in self.layers), default=0)
        elements = functools.reduce(operator.mul, self.input_shape, 1) + largest
        check_forward_bytes(self.name, "resolution", self.input_shape[-1], elements, batch)
        gen = torch.Generator().manual_seed(seed)
        return torch.randn((batch,) + tuple(self.input_shape), generator=gen)


# --- builder helpers ---------------------------------------------------------------------

class Cursor:
    """Tracks the current activation shape ((C, H, W), or (C,) once flattened) while a builder
    appends layers."""

    def __init__(self, c: int, h: int, w: int) -> None:
        self.shape: tuple[int, ...] = (c, h, w)

    @property
    def c(self) -> int:
        return self.shape[0]

    @property
    def h(self) -> int:
        return self.shape[1] if len(self.shape) == 3 else 1

    @property
    def w(self) -> int:
        return self.shape[2] if len(self.shape) == 3 else 1

    def layer(self, name: str, spec: Spec, out: tuple[int, ...], role: str = "") -> Layer:
        """A leaf from the current shape to ``out``; the cursor moves to ``out``."""
        leaf = Layer(name, spec, self.shape, tuple(out), role)
        self.shape = tuple(out)
        return leaf
