"""A design's cost is the sum of its ops. Each op is one kernel the real module launches.

An ``Op`` carries sympy expressions for its MACs (conv/linear only), its elementwise count,
its parameters and the elements it reads and writes. The builders below are the only place
where a conv, a BN, an activation... is costed, so every design sums the same primitives.

Op kinds and who counts them:
  conv, conv_transpose  -> fvcore key "conv"    (MACs)
  linear                -> fvcore key "linear"  (MACs)
  batch_norm, adaptive_avg_pool2d -> fvcore counts them as elementwise ops under these names
  relu, hardsigmoid, softmax, add, mul, avg_pool2d, max_pool2d, gather, concat, ... -> fvcore
  ignores them; costmodel still counts them in the elementwise columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .symbols import (
    bn_ops,
    bn_params,
    conv2d_macs,
    conv2d_params,
    linear_macs,
    linear_params,
    out_size,
    pool_ops,
)

MAC_KINDS: dict[str, str] = {"conv": "conv", "conv_transpose": "conv", "linear": "linear"}
"""Op kind -> the fvcore ``by_operator()`` key its MACs land in."""

FVCORE_ELEMENTWISE: frozenset[str] = frozenset({"batch_norm", "adaptive_avg_pool2d", "upsample"})
"""Elementwise kinds that fvcore counts (under these names); the rest it ignores."""


@dataclass(frozen=True)
class Op:
    """One kernel: its cost expressions and, for convs, the geometry a latency model needs."""

    name: str
    kind: str
    macs: sp.Expr = sp.Integer(0)
    elem: sp.Expr = sp.Integer(0)
    params: sp.Expr = sp.Integer(0)
    reads: sp.Expr = sp.Integer(0)
    writes: sp.Expr = sp.Integer(0)
    geometry: dict[str, sp.Expr] = field(default_factory=dict)
    launches: sp.Expr = sp.Integer(1)
    """Identical kernel launches this row stands for (its costs are the sum over them): 1 for
    one kernel; a design that runs the same kernel b times in a row (SIC's stages) declares b
    with ``repeated``, so a latency model can time one launch and multiply."""
    kernel: str = ""
    """The CPU kernel this op runs where its kind alone does not say ("" = the kind's usual one):
    e.g. a "gather" is an ``index_select`` of whole rows, but DGC's filter gather is
    ``torch.gather`` of single elements ("gather_elements"), ~10x slower per element."""

    def scaled(self, factor: sp.Expr, name: str | None = None) -> "Op":
        """The same op ``factor`` times (e.g. present or absent through a 0/1 flag); the launch
        count is unchanged (a 0/1 flag removes or keeps the whole row)."""
        return Op(name or self.name, self.kind, self.macs * factor, self.elem * factor,
                  self.params * factor, self.reads * factor, self.writes * factor, self.geometry,
                  self.launches, self.kernel)

    def repeated(self, count: sp.Expr, name: str | None = None) -> "Op":
        """``count`` identical launches of this op in one row: costs times ``count`` and
        ``launches`` = count (each launch costs what this op costs)."""
        return Op(name or self.name, self.kind, self.macs * count, self.elem * count,
                  self.params * count, self.reads * count, self.writes * count, self.geometry,
                  self.launches * count, self.kernel)


def conv(name: str, cin, cout, kernel, h_in, w_in, stride_=1, groups_=1, bias_=0,
         padding=None, kernel_w=None) -> Op:
    """A k x k conv; MACs cout*(cin/groups)*k*k*h'*w', reads the input, writes the output."""
    kw = kernel if kernel_w is None else kernel_w
    pad_h = padding if padding is not None else sp.floor(sp.S(kernel) / 2)
    pad_w = padding if padding is not None else sp.floor(sp.S(kw) / 2)
    ho = out_size(h_in, kernel, stride_, pad_h)
    wo = out_size(w_in, kw, stride_, pad_w)
    return Op(name, "conv",
              macs=conv2d_macs(cin, cout, kernel, ho, wo, groups_, kernel_w=kw),
              params=conv2d_params(cin, cout, kernel, groups_, bias_, kernel_w=kw),
              reads=cin * h_in * w_in, writes=cout * ho * wo,
              geometry=dict(c_in=cin, c_out=cout, k=kernel, k_w=kw, groups=groups_,
                            stride=stride_, h_out=ho, w_out=wo))


def conv_transpose(name: str, cin, cout, kernel, h_in, w_in, stride_=1, groups_=1, bias_=0,
                   padding=0, output_padding=0) -> Op:
    """A k x k transposed conv (ConvTranspose2d). Each input element scatters a k x k x cout/g
    patch, so MACs = cin*(cout/groups)*k*k*h_in*w_in (fvcore and FlopCounterMode both count
    this); output size (h_in-1)*stride - 2*padding + k + output_padding."""
    ho = (h_in - 1) * stride_ - 2 * padding + kernel + output_padding
    wo = (w_in - 1) * stride_ - 2 * padding + kernel + output_padding
    return Op(name, "conv_transpose",
              macs=conv2d_macs(cin, cout, kernel, h_in, w_in, groups_),
              params=conv2d_params(cout, cin, kernel, groups_, 0) + bias_ * cout,
              reads=cin * h_in * w_in, writes=cout * ho * wo,
              geometry=dict(c_in=cin, c_out=cout, k=kernel, k_w=kernel, groups=groups_,
                            stride=stride_, h_out=ho, w_out=wo))


def linear(name: str, fin, fout, bias_=1) -> Op:
    """A fully connected layer on one vector: fin*fout MACs."""
    return Op(name, "linear", macs=linear_macs(fin, fout), params=linear_params(fin, fout, bias_),
              reads=fin, writes=fout, geometry=dict(c_in=fin, c_out=fout))


def batch_norm(name: str, channels, h_, w_) -> Op:
    """Eval-mode BatchNorm2d: 2 ops per element, 2 params per channel."""
    size = channels * h_ * w_
    return Op(name, "batch_norm", elem=bn_ops(channels, h_, w_), params=bn_params(channels),
              reads=size, writes=size)


def elementwise(name: str, kind: str, size, ops_per_element=1, inputs: int = 1) -> Op:
    """A pointwise op over ``size`` elements (activation, add, mul, ...)."""
    return Op(name, kind, elem=ops_per_element * size, reads=inputs * size, writes=size)


def global_avg_pool(name: str, channels, h_, w_) -> Op:
    """AdaptiveAvgPool2d(1): one op per input element (fvcore's count)."""
    return Op(name, "adaptive_avg_pool2d", elem=pool_ops(channels, h_, w_),
              reads=channels * h_ * w_, writes=channels)


def avg_pool(name: str, channels, h_in, w_in, kernel, stride_, padding=0) -> Op:
    """AvgPool2d: kernel*kernel ops per output element."""
    ho, wo = out_size(h_in, kernel, stride_, padding), out_size(w_in, kernel, stride_, padding)
    return Op(name, "avg_pool2d", elem=kernel * kernel * channels * ho * wo,
              reads=channels * h_in * w_in, writes=channels * ho * wo,
              geometry=dict(k=kernel, k_w=kernel, stride=stride_))  # the window: a latency curve of its own


def max_pool(name: str, channels, h_in, w_in, kernel, stride_, padding) -> Op:
    """MaxPool2d: kernel*kernel comparisons per output element."""
    ho, wo = out_size(h_in, kernel, stride_, padding), out_size(w_in, kernel, stride_, padding)
    return Op(name, "max_pool2d", elem=kernel * kernel * channels * ho * wo,
              reads=channels * h_in * w_in, writes=channels * ho * wo,
              geometry=dict(k=kernel, k_w=kernel, stride=stride_))  # the window: a latency curve of its own


def concat(name: str, size) -> Op:
    """torch.cat: no arithmetic, but it copies ``size`` elements."""
    return Op(name, "concat", reads=size, writes=size)


def conv_bn_act(prefix: str, cin, cout, kernel, h_in, w_in, stride_=1, groups_=1, bias_=0,
                bn_=1, act_=1, act_kind: str = "relu", padding=None, kernel_w=None) -> list[Op]:
    """conv -> [BN] -> [activation]; ``bn_``/``act_`` are 0/1 (symbols or numbers)."""
    c = conv(f"{prefix}conv", cin, cout, kernel, h_in, w_in, stride_, groups_, bias_, padding, kernel_w)
    ho, wo = c.geometry["h_out"], c.geometry["w_out"]
    return [c, batch_norm(f"{prefix}bn", cout, ho, wo).scaled(bn_),
            elementwise(f"{prefix}{act_kind}", act_kind, cout * ho * wo).scaled(act_)]
