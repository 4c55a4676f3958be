"""Design of Efficient Convolutional Layers using Single Intra-channel Convolution, Topological
Subdivisioning and Spatial "Bottleneck" Structure (Min Wang, Baoyuan Liu, Hassan Foroosh, 2016),
https://arxiv.org/abs/1608.04337. Catalogue section D (seed 002).

Every layer here maps n channels to n channels at h x w, like the standard k x k conv it replaces,
whose cost is n^2*k^2*h*w MACs (``STANDARD_MACS``).

* D1 SIC (``sic``): b stages, each a k x k intra-channel (depthwise) conv then a 1x1 projection
  n -> n; sequential stages add a residual, parallel stages all read the input and are summed.
  MACs = b*(n*k^2 + n^2)*h*w, a ratio b/k^2 + b/n ~ b/k^2.
* D2 topological subdivisioning (``subdivision``): channels laid out as d1 x ... x ds (prod = n);
  output channel o reads only the c = prod(c_i) channels in a c1 x ... x cs wrap-around window
  around its own position. Built as a channel gather (index_select) + a grouped conv (groups = n),
  so the trace sees n*c*k^2*h*w MACs, a ratio c/n.
* D1 + D2 (``sic_subdivided``): SIC whose per-stage projection is subdivided: b*(n*k^2 + n*c)*h*w.
* D3 spatial bottleneck (``spatial_bottleneck``): k x k conv with stride k, then a k x k transposed
  conv with stride k back to h x w. MACs = 2*n^2*h*w, a ratio 2/k^2.

Channel layouts (``dims``, ``neighbourhood``) are structural tuples; the formulas only see
c = prod(c_i), the derived symbol ``c_nbr``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import sympy as sp

from ..core import ops
from ..core.ops import Op
from ..core.registry import register_design
from ..core import Constraint, Range, Spec, choice, flag, size
from ..core.fields import MAX_SIZE
from ..core.symbols import ceil_div, is_odd
from ..core.symbols import h as _h
from ..core.symbols import k as _k
from ..core.symbols import n as _n
from ..core.symbols import w as _w

REFERENCE = "Wang, Liu, Foroosh 2016, https://arxiv.org/abs/1608.04337 (seed 002)"

STANDARD_MACS: sp.Expr = _n**2 * _k**2 * _h * _w
"""MACs of the standard k x k conv n -> n that keeps h x w (the registered ``conv`` with
c_in = c_out = n and odd k): the paper's n^2*k^2*h*w."""


# --- channel layouts (structural tuple fields) ------------------------------------------------


@dataclass(frozen=True)
class SizeTuple(Range):
    """A structural field holding a non-empty tuple of integers >= 1 (a channel layout).

    ``options`` are examples only (used by ``describe``); any such tuple is accepted. On the
    command line the tuple is written ``8,8`` or ``8x8``.
    """

    def describe(self) -> str:
        return f"a non-empty tuple of integers in [1, {MAX_SIZE:,}], written like 8,8 or 4x4x4"

    def normalize(self, value: Any) -> Any:
        """A tuple of Python ints (a list, one int or "8x8" text is accepted, as the constructor does)."""
        value = as_sizes(value)
        if (isinstance(value, tuple) and value
                and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and 1 <= v <= MAX_SIZE
                        for v in value)):
            return tuple(int(v) for v in value)
        raise ValueError(f"allowed is {self.describe()}")


def size_tuple(default: tuple[int, ...], doc: str) -> Any:
    """A channel-layout field (structural: formulas are built per layout)."""
    return dataclasses.field(default=default, metadata={"range": SizeTuple("choice", options=(default,), role="layout"),
                                                        "doc": doc})


def as_sizes(value: Any) -> Any:
    """A layout written as a tuple/list of ints, one int, or text "8,8" / "8x8" -> tuple of ints.

    Anything else is returned unchanged, so that the range check reports it.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(value)
    if isinstance(value, str):
        parts = [t.strip() for t in value.strip().strip("()").replace("x", ",").split(",")]
        if parts and parts[-1] == "" and len(parts) > 1:  # "8," is a one-axis tuple, as in Python
            parts.pop()
        if not all(t.isdigit() for t in parts):  # "8,,8", "x", "": refused by the range check
            return value
        return tuple(int(t) for t in parts)
    return value


def window_offsets(c: int) -> range:
    """Offsets of a c-wide window around position 0: -(c//2) .. c-1-c//2 (c=3: -1,0,1; c=2: -1,0)."""
    return range(-(c // 2), c - c // 2)


def neighbourhood_table(dims: Sequence[int], neighbourhood: Sequence[int]) -> list[list[int]]:
    """Row o: the c = prod(c_i) input channels that output channel o reads.

    Channel o sits at position (p1, ..., ps) of the row-major d1 x ... x ds layout. Its inputs are
    the positions (p_i + t_i) mod d_i for t_i in ``window_offsets(c_i)`` (wrap-around at the
    edges), listed in row-major order of the offsets. Since c_i <= d_i, the c_i positions on each
    axis are distinct, so every row holds exactly c distinct channels.
    """
    n = math.prod(dims)
    windows = [window_offsets(c) for c in neighbourhood]
    table = []
    for o in range(n):
        pos = _unravel(o, dims)
        row = []
        for offs in itertools.product(*windows):
            row.append(_ravel([(p + t) % d for p, t, d in zip(pos, offs, dims)], dims))
        table.append(row)
    return table


def _unravel(index: int, dims: Sequence[int]) -> list[int]:
    """Row-major position of ``index`` in a d1 x ... x ds layout."""
    pos = []
    for d in reversed(dims):
        index, r = divmod(index, d)
        pos.append(r)
    return pos[::-1]


def _ravel(pos: Sequence[int], dims: Sequence[int]) -> int:
    index = 0
    for p, d in zip(pos, dims):
        index = index * d + p
    return index


def _normalize_layout(spec: Spec) -> None:
    """Accept layouts given as text or lists (the CLI passes "8,8") before the range checks."""
    for nm in ("dims", "neighbourhood"):
        object.__setattr__(spec, nm, as_sizes(getattr(spec, nm)))


def _check_layout(spec: Spec) -> None:
    """One neighbourhood size per layout axis, each c_i in [1, d_i] (so windows do not overlap)."""
    dims, nbr = spec.dims, spec.neighbourhood  # type: ignore[attr-defined]
    cls = type(spec).__name__
    if len(nbr) != len(dims):
        raise ValueError(f"{cls}.neighbourhood = {nbr!r} (with {cls}.dims = {dims!r}) is invalid: allowed is "
                         f"one size per axis of dims ({len(nbr)} != {len(dims)} entries)")
    for axis, (c, d) in enumerate(zip(nbr, dims)):
        if c > d:
            raise ValueError(f"{cls}.neighbourhood = {nbr!r} is invalid: allowed is c_i in [1, d_i] on "
                             f"every axis; axis {axis} has c = {c} > d = {d} (dims = {dims!r})")


def _layout_constraint(p: SimpleNamespace) -> Constraint:
    total = math.prod(p.dims)
    return Constraint("dims", sp.Eq(p.n, total),
                      f"allowed is a layout with prod(dims) = n, but prod{tuple(p.dims)} = {total}")


def _odd_k(p: SimpleNamespace) -> Constraint:
    return Constraint("k", is_odd(p.k),
                      "allowed is an odd k (same padding (k-1)/2 keeps h x w, as the paper's layers do)")


# --- shared op lists ----------------------------------------------------------------------------


def gather(name: str, channels_in, channels_out, h_, w_) -> Op:
    """index_select along channels: no arithmetic; reads the input once, writes the copies."""
    return Op(name, "gather", reads=channels_in * h_ * w_, writes=channels_out * h_ * w_)


def subdivided_conv(prefix: str, n_, c_, kernel, h_, w_) -> list[Op]:
    """Gather the c neighbours of each output (n*c channels), then a grouped k x k conv n*c -> n
    with n groups: MACs n*c*k^2*h*w, params n*c*k^2 (odd k, same padding)."""
    return [gather(f"{prefix}gather", n_, n_ * c_, h_, w_),
            ops.conv(f"{prefix}conv", n_ * c_, n_, kernel, h_, w_, 1, n_, 0,
                     padding=(sp.S(kernel) - 1) / 2)]


def sic_ops(p: SimpleNamespace, projection: list[Op]) -> list[Op]:
    """b stages of [depthwise k x k, projection], plus the adds of the variant.

    Sequential: x <- x + P_i(DW_i(x)), b residual adds of n*h*w. Parallel: y = sum_i P_i(DW_i(x)),
    b - 1 summation adds of n*h*w. The stage ops are b identical launches each (one row each in
    op_table, ``Op.repeated``: costs times b, ``launches`` = b).
    """
    dw = ops.conv("dw", p.n, p.n, p.k, p.h, p.w, 1, p.n, 0, padding=(p.k - 1) / 2)
    stage = [op.repeated(p.b, f"stage.{op.name} (x b)") for op in [dw] + projection]
    add = ops.elementwise("add", "add", p.n * p.h * p.w, inputs=2)
    if p.variant == "sequential":
        return stage + [add.repeated(p.b, "residual_add (x b)")]
    return stage + [add.repeated(p.b - 1, "sum_add (x b-1)")]


# --- torch modules (torch is imported only when a module is built) -------------------------------


@functools.lru_cache(maxsize=None)
def _nn() -> SimpleNamespace:
    """This family's torch module classes, defined on first use."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class ChannelGather(nn.Module):
        """out[:, o*c + j] = x[:, table[o][j]]: each output's c neighbours, contiguous per group."""

        def __init__(self, table: list[list[int]]) -> None:
            super().__init__()
            self.register_buffer("index", torch.tensor([i for row in table for i in row], dtype=torch.long))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.index_select(1, self.index)

    class SICLayer(nn.Module):
        """b stages; sequential: x = x + stage(x); parallel: sum of stage(x)."""

        def __init__(self, stages: list[nn.Module], variant: str) -> None:
            super().__init__()
            self.stages = nn.ModuleList(stages)
            self.variant = variant

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.variant == "sequential":
                for stage in self.stages:
                    x = x + stage(x)
                return x
            y = self.stages[0](x)
            for stage in self.stages[1:]:
                y = y + stage(x)
            return y

    class SpatialBottleneckLayer(nn.Module):
        """[zero-pad bottom/right to multiples of k] -> k x k conv stride k -> k x k transposed conv
        stride k -> [crop back to h x w]."""

        def __init__(self, n: int, k: int, h: int, w: int, pad: bool) -> None:
            super().__init__()
            self.down = nn.Conv2d(n, n, k, stride=k, bias=False)
            self.up = nn.ConvTranspose2d(n, n, k, stride=k, bias=False)
            self.h, self.w, self.pad = h, w, pad
            self.extra = (0, -w % k, 0, -h % k)  # F.pad order: left, right, top, bottom

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.pad:
                x = F.pad(x, self.extra)
            y = self.up(self.down(x))
            return y[:, :, : self.h, : self.w] if self.pad else y

    return SimpleNamespace(ChannelGather=ChannelGather, SICLayer=SICLayer,
                           SpatialBottleneckLayer=SpatialBottleneckLayer)


def _depthwise(n: int, k: int):
    from torch import nn

    return nn.Conv2d(n, n, k, padding=k // 2, groups=n, bias=False)


def _subdivided(n: int, k: int, dims: tuple[int, ...], neighbourhood: tuple[int, ...]):
    """Gather + grouped k x k conv (n*c -> n, n groups)."""
    from torch import nn

    table = neighbourhood_table(dims, neighbourhood)
    c = math.prod(neighbourhood)
    return nn.Sequential(_nn().ChannelGather(table), nn.Conv2d(n * c, n, k, padding=k // 2, groups=n, bias=False))


# --- the designs --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _NSpec(Spec):
    """Channel-preserving layers: n -> n channels at h x w."""

    def input_shape(self) -> tuple[int, ...]:
        return (1, self.n, self.h, self.w)  # type: ignore[attr-defined]


@dataclass(frozen=True, kw_only=True)
class _Layout(_NSpec):
    """The channel layout of topological subdivisioning: n channels as a d1 x ... x ds tensor, each
    output reading the c = prod(c_i) channels of its wrap-around neighbourhood (c_nbr in formulas)."""

    dims: tuple = size_tuple((8, 8), "channel layout d1 x ... x ds, prod = n")
    neighbourhood: tuple = size_tuple((3, 3), "window c1 x ... x cs, c_i <= d_i (wraps around)")

    derived_symbols = ("c_nbr",)

    def __post_init__(self) -> None:
        _normalize_layout(self)
        super().__post_init__()
        _check_layout(self)

    def derived(self) -> dict[str, int]:
        return {"c_nbr": math.prod(self.neighbourhood)}

    def gathers(self) -> int:
        """How many channel gathers build() makes (one table each)."""
        return 1

    def module_bytes(self) -> dict[str, int]:
        """fp32 weights (4 x params) plus each gather's table: n rows of c = prod(neighbourhood)
        channels, as Python lists (~72 bytes a row + ~80 an entry: pointer, int, flat copy) and
        an int64 index buffer (8 an entry): n * (72 + 88 * c) bytes per gather, all driven by n."""
        table = self.gathers() * self.n * (72 + 88 * math.prod(self.neighbourhood))  # type: ignore[attr-defined]
        return {"n": 4 * self.params() + table}

    @classmethod
    def constraints(cls, p: SimpleNamespace) -> list[Constraint]:
        return [_layout_constraint(p), _odd_k(p)]


@register_design("sic", "Single intra-channel convolution, SIC (D1)", REFERENCE)
@dataclass(frozen=True, kw_only=True)
class SIC(_NSpec):
    """b stages of [k x k depthwise, 1x1 projection n -> n]; residual (sequential) or summed (parallel).

    MACs = b*(n*k^2 + n^2)*h*w; params = b*(n*k^2 + n^2); adds = b*n*h*w (sequential) or
    (b-1)*n*h*w (parallel), in the elementwise column ``add``.
    """

    # -- conv swap: SIC + the block's BN [+ ReLU]. SIC keeps channels and size, so a strided or
    #    channel-changing conv stays a plain conv (ResNet-50: the three stride-2 3x3 convs) --
    @classmethod
    def swap_for_conv(cls, c_in, c_out, k, stride, h, w, act, *, b: int = 2, variant: str = "sequential"):
        if cls is not SIC:
            return super().swap_for_conv(c_in, c_out, k, stride, h, w, act)
        if stride != 1 or c_in != c_out:
            return None
        return [("", cls(n=c_in, k=k, b=b, h=h, w=w, variant=variant))]

    @classmethod
    def swap_options(cls):
        return ("b", "variant") if cls is SIC else None  # subclasses inherit fields, not the swap


    n: int = size(64, "channels in = channels out", role="channels")
    k: int = size(3, "intra-channel kernel size (odd)", role="kernel")
    b: int = size(2, "number of stages (>= 1)")
    h: int = size(56, "input height", role="spatial")
    w: int = size(56, "input width", role="spatial")
    variant: str = choice("sequential", ("sequential", "parallel"),
                          "sequential: x += stage(x); parallel: sum of stage(x)")

    @classmethod
    def constraints(cls, p: SimpleNamespace) -> list[Constraint]:
        return [_odd_k(p)]

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return sic_ops(p, [ops.conv("proj", p.n, p.n, 1, p.h, p.w)])

    def build(self):
        from torch import nn

        stages = [nn.Sequential(_depthwise(self.n, self.k), nn.Conv2d(self.n, self.n, 1, bias=False))
                  for _ in range(self.b)]
        return _nn().SICLayer(stages, self.variant)


@register_design("subdivision", "Topological subdivisioning (D2)", REFERENCE)
@dataclass(frozen=True, kw_only=True)
class Subdivision(_Layout):
    """k x k conv n -> n where each output reads only its c = prod(c_i) layout neighbours.

    Gather (n*c channels) + grouped conv (n groups): MACs = n*c*k^2*h*w; params = n*c*k^2.
    """

    n: int = size(64, "channels in = channels out (= prod(dims))", role="channels")
    k: int = size(3, "kernel size (odd)", role="kernel")
    h: int = size(56, "input height", role="spatial")
    w: int = size(56, "input width", role="spatial")

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return subdivided_conv("", p.n, p.c_nbr, p.k, p.h, p.w)

    def build(self):
        return _subdivided(self.n, self.k, self.dims, self.neighbourhood)


@register_design("sic_subdivided", "SIC with subdivided projections (D1 + D2)", REFERENCE)
@dataclass(frozen=True, kw_only=True)
class SICSubdivided(_Layout, SIC):
    """SIC whose 1x1 projections read only c = prod(c_i) layout neighbours per output.

    MACs = b*(n*k^2 + n*c)*h*w; params = b*(n*k^2 + n*c); adds as in SIC.
    """

    def gathers(self) -> int:
        return self.b  # one subdivided projection per stage

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return sic_ops(p, subdivided_conv("proj_", p.n, p.c_nbr, 1, p.h, p.w))

    def build(self):
        from torch import nn

        stages = [nn.Sequential(_depthwise(self.n, self.k), _subdivided(self.n, 1, self.dims, self.neighbourhood))
                  for _ in range(self.b)]
        return _nn().SICLayer(stages, self.variant)


@register_design("spatial_bottleneck", "Spatial bottleneck: stride-k conv + transposed conv (D3)", REFERENCE)
@dataclass(frozen=True, kw_only=True)
class SpatialBottleneck(_NSpec):
    """k x k conv stride k (n -> n) to (h/k) x (w/k), then k x k transposed conv stride k back.

    With H = ceil(h/k), W = ceil(w/k): MACs = 2*n^2*k^2*H*W (= 2*n^2*h*w when k divides h and w);
    params = 2*n^2*k^2. h and w must be multiples of k unless ``pad``: then the input is
    zero-padded at the bottom/right to k*H x k*W and the output cropped back to h x w.
    """

    n: int = size(64, "channels in = channels out", role="channels")
    k: int = size(2, "kernel size = stride", role="kernel")
    h: int = size(56, "input height", role="spatial")
    w: int = size(56, "input width", role="spatial")
    pad: bool = flag(False, "zero-pad h, w up to multiples of k (and crop the output back)")

    @classmethod
    def constraints(cls, p: SimpleNamespace) -> list[Constraint]:
        rule = "allowed is a multiple of k, or pad=True (zero-pad up to a multiple of k)"
        # (h mod k) * (1 - pad) == 0: "k divides h, or pad"; arithmetic so that no boolean
        # subexpression is shared between the two rules.
        return [Constraint("h", sp.Eq(sp.Mod(p.h, p.k) * (1 - p.pad), 0), rule),
                Constraint("w", sp.Eq(sp.Mod(p.w, p.k) * (1 - p.pad), 0), rule)]

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        hq, wq = ceil_div(p.h, p.k), ceil_div(p.w, p.k)
        padded = p.n * p.k * hq * p.k * wq  # = n*h*w when k divides h and w
        pad = Op("pad", "pad", reads=p.n * p.h * p.w, writes=padded).scaled(p.pad)
        down = ops.conv("down", p.n, p.n, p.k, p.k * hq, p.k * wq, p.k, 1, 0, padding=0)
        up = ops.conv_transpose("up", p.n, p.n, p.k, hq, wq, p.k)
        return [pad, down, up]

    def build(self):
        return _nn().SpatialBottleneckLayer(self.n, self.k, self.h, self.w, self.pad)


# --- ratios and the paper's one-layer comparison --------------------------------------------------


def ratios() -> dict[str, sp.Expr]:
    """MACs of each design / ``STANDARD_MACS`` (n^2*k^2*h*w), simplified.

    sic: b*(k^2 + n)/(k^2*n) = b/k^2 + b/n; subdivision: c_nbr/n; sic_subdivided:
    b*(c_nbr + k^2)/(k^2*n); spatial_bottleneck, with k dividing h and w (h = k*hq, w = k*wq): 2/k^2.
    """
    from ..core.registry import get_design

    hq, wq = sp.symbols("hq wq", integer=True, positive=True)
    out: dict[str, sp.Expr] = {}
    for name, subs in (("sic", {}), ("subdivision", {}), ("sic_subdivided", {}),
                       ("spatial_bottleneck", {_h: _k * hq, _w: _k * wq})):
        macs = get_design(name).formulas().macs_total
        out[name] = sp.factor(sp.simplify((macs / STANDARD_MACS).subs(subs)))
    return out


def sic_large_n_ratio() -> sp.Expr:
    """The SIC ratio for n >> k^2: lim_{n -> oo} b*(k^2 + n)/(k^2*n) = b/k^2 (the paper's claim)."""
    return sp.limit(ratios()["sic"], _n, sp.oo)


