"""The sympy symbols of the seed designs' fields, and the cost primitives written once (a new
design's new field name gets its symbol from its declared range: ``field_symbol``).

Convention (stated once, used everywhere): 1 MAC = one multiply-accumulate; FLOPs = 2 x MACs.
Costs are per sample (batch 1), NCHW, fp32 unless a spec says otherwise.

Symbols carry assumptions (integer/positive) so that sympy can simplify ratios. Boolean
options of a spec (bias, bn, act, ...) are 0/1 integer symbols, so one formula covers both.
"""

from __future__ import annotations

import sympy as sp


def _size(name: str) -> sp.Symbol:
    return sp.Symbol(name, integer=True, positive=True)


def _flag(name: str) -> sp.Symbol:
    return sp.Symbol(name, integer=True, nonnegative=True)


def _fraction(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True, nonnegative=True)


# Sizes and channel counts (catalogue notation in brackets).
c_in = _size("c_in")  # input channels [c]
c_out = _size("c_out")  # output channels [n]
n = _size("n")  # channels of a channel-preserving layer (SIC, spatial bottleneck)
k = _size("k")  # kernel size
stride = _size("stride")
groups = _size("groups")
h = _size("h")  # input height
w = _size("w")  # input width
mult = _size("mult")  # depthwise channel multiplier
c_mid = _size("c_mid")  # bottleneck / reduction / factorization width
dtype_bytes = _size("dtype_bytes")  # bytes per element (4 for fp32)

# Inception branch widths (GoogLeNet naming).
c1x1 = _size("c1x1")
c3x3red = _size("c3x3red")
c3x3 = _size("c3x3")
c5x5red = _size("c5x5red")
c5x5 = _size("c5x5")
pool_proj = _size("pool_proj")

# Efficient-design hyperparameters.
s = _size("s")  # Ghost ratio
d = _size("d")  # Ghost cheap-op kernel / DGC squeeze rate
c_exp = _size("c_exp")  # Ghost bottleneck expansion width
c_se = _flag("c_se")  # SE reduced width (0 = no SE)
alpha = sp.Symbol("alpha", real=True, positive=True)  # SPConv split ratio
B = _size("B")  # TBC blocks
H = _size("H")  # DGC heads
zeta = _fraction("zeta")  # DGC pruning ratio
b = _size("b")  # SIC stages
c_nbr = _size("c_nbr")  # topological subdivisioning: inputs per output
kept = _size("kept")  # DGC: channels actually kept per head
h_out, w_out = _size("h_out"), _size("w_out")  # output size, as a name in displayed ratios (DGC)

# 0/1 options.
bias = _flag("bias")
bn = _flag("bn")
act = _flag("act")
se = _flag("se")
pad = _flag("pad")  # spatial bottleneck: zero-pad h, w up to multiples of k
relu = _flag("relu")  # Ghost module: ReLU after each of its two convs
residual = _flag("residual")
padding = _flag("padding")  # pooling padding (network glue layers)

SYMBOLS: dict[str, sp.Symbol] = {
    str(v): v for v in list(globals().values()) if isinstance(v, sp.Symbol)
}


def sym(name: str) -> sp.Symbol:
    """The symbol called ``name``: one declared above, or one a spec field declared
    (``field_symbol``); every symbol is registered in ``SYMBOLS``."""
    try:
        return SYMBOLS[name]
    except KeyError:
        raise KeyError(f"symbol {name!r} is not declared: not in costmodel/core/symbols.py and no "
                       f"spec field of that name has been used yet") from None


def field_symbol(name: str, kind: str = "int", lo: float | None = 0, lo_open: bool = False) -> sp.Symbol:
    """The symbol of a spec field called ``name``: the one declared above when there is one (its
    assumptions stay), else a new one with the assumptions the field's range allows, registered
    so that ``sym(name)`` finds it from then on. So a design with a new field name needs no edit
    to this file.

    Assumptions of a new symbol: "int" fields are integers, positive when lo >= 1 (or lo > 0),
    nonnegative when lo >= 0; "flag" fields are nonnegative integers (0/1); "real" fields are
    real, positive when lo > 0 (or lo = 0 open), nonnegative when lo >= 0.
    """
    found = SYMBOLS.get(name)
    if found is not None:
        return found
    positive = lo is not None and (lo > 0 or (lo == 0 and lo_open))
    nonnegative = lo is not None and lo >= 0
    if kind == "real":
        assumptions = {"real": True, "positive": True} if positive else \
            {"real": True, "nonnegative": True} if nonnegative else {"real": True}
    elif kind == "flag":
        assumptions = {"integer": True, "nonnegative": True}
    else:
        assumptions = {"integer": True, "positive": True} if positive else \
            {"integer": True, "nonnegative": True} if nonnegative else {"integer": True}
    return SYMBOLS.setdefault(name, sp.Symbol(name, **assumptions))


# --- integer helpers that stay exact in sympy, Python ints and numpy arrays -----------

def ceil_div(a: sp.Expr, q: sp.Expr) -> sp.Expr:
    """ceil(a / q), as the real modules compute ``math.ceil``."""
    return sp.ceiling(sp.Mul(a, sp.Pow(q, -1), evaluate=True))


def floor_div(a: sp.Expr, q: sp.Expr) -> sp.Expr:
    """floor(a / q), Python's ``a // q``."""
    return sp.floor(sp.Mul(a, sp.Pow(q, -1), evaluate=True))


def divides(divisor: sp.Expr, value: sp.Expr) -> sp.Basic:
    """``divisor`` divides ``value`` exactly (a constraint)."""
    return sp.Eq(sp.Mod(value, divisor), 0)


def is_odd(value: sp.Expr) -> sp.Basic:
    """``value`` is odd (a constraint: "same" padding v//2 keeps the size only for odd kernels)."""
    return sp.Eq(sp.Mod(value, 2), 1)


def iverson(condition: sp.Basic) -> sp.Expr:
    """1 where ``condition`` holds, else 0 (a Piecewise)."""
    return sp.Piecewise((1, condition), (0, True))


# --- the cost primitives --------------------------------------------------------------

def out_size(size: sp.Expr, kernel: sp.Expr, stride_: sp.Expr = 1,
             padding: sp.Expr | None = None, dilation: sp.Expr = 1) -> sp.Expr:
    """Output size of a conv or pool: floor((size + 2p - dilation*(kernel-1) - 1)/stride) + 1.

    ``padding`` defaults to "same" padding ``kernel // 2`` (the catalogue's convention).
    """
    if padding is None:
        padding = floor_div(kernel, 2)
    return floor_div(size + 2 * padding - dilation * (kernel - 1) - 1, stride_) + 1


def conv2d_macs(cin: sp.Expr, cout: sp.Expr, kernel_h: sp.Expr, h_out: sp.Expr,
                w_out: sp.Expr, groups_: sp.Expr = 1, kernel_w: sp.Expr | None = None) -> sp.Expr:
    """MACs of a 2-D conv: cout * (cin/groups) * kh*kw * h_out*w_out."""
    kw = kernel_h if kernel_w is None else kernel_w
    return cout * cin * kernel_h * kw * h_out * w_out / groups_


def conv2d_params(cin: sp.Expr, cout: sp.Expr, kernel_h: sp.Expr, groups_: sp.Expr = 1,
                  bias_: sp.Expr = 0, kernel_w: sp.Expr | None = None) -> sp.Expr:
    """Weights cout * (cin/groups) * kh*kw, plus cout if there is a bias."""
    kw = kernel_h if kernel_w is None else kernel_w
    return cout * cin * kernel_h * kw / groups_ + bias_ * cout


def linear_macs(fin: sp.Expr, fout: sp.Expr) -> sp.Expr:
    """MACs of a linear layer (one sample): fin * fout. The bias add is not a MAC."""
    return fin * fout


def linear_params(fin: sp.Expr, fout: sp.Expr, bias_: sp.Expr = 1) -> sp.Expr:
    """fin * fout weights, plus fout if there is a bias."""
    return fin * fout + bias_ * fout


def bn_ops(channels: sp.Expr, h_: sp.Expr, w_: sp.Expr) -> sp.Expr:
    """Eval-mode affine BatchNorm: 2 ops per element (scale and shift), fvcore's count."""
    return 2 * channels * h_ * w_


def bn_params(channels: sp.Expr) -> sp.Expr:
    """BatchNorm affine weight and bias: 2 per channel (running stats are buffers)."""
    return 2 * channels


def pool_ops(channels: sp.Expr, h_in: sp.Expr, w_in: sp.Expr) -> sp.Expr:
    """Global average pool: 1 op per input element (fvcore's adaptive_avg_pool2d count)."""
    return channels * h_in * w_in
