"""Which configs the latency model is trained and judged on: random valid configs of every
registered design (held-out and training seeds), the random single-op geometries of the
training plan, and the keys that keep the training and held-out sets disjoint.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

from ..core.geometry import conv_out_size
from .features import MKLDNN_MIN_NUMEL, POOL_KINDS, STREAM_KINDS, WEIGHT_BYTES, conv_rep, latency_class, launches
from .memory import CONV_CLASSES
from .measure import spec_label
from .predict import op_rows

SPATIAL = (7, 14, 28, 56)
"""Input sizes the held-out configs use (square)."""

CHANNEL_FACTORS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
"""Channel-like fields are the default times one of these, rounded to a multiple of 4."""

MAX_MACS = 300_000_000
"""Configs above this many MACs are redrawn, so the sweep stays a few minutes long."""


def _draw_default(rng_: Any, default: Any, r: random.Random) -> Any:
    """An integer field with no role of its own: mostly the default, else a neighbour of it."""
    if r.random() < 0.6:
        return default
    return max(int(rng_.lo or 1), r.choice((default * 2, default // 2, default + 1)))


WIDE_DESIGN_SPATIAL = (14, 28, 56, 112)
WIDE_CHANNEL_FACTORS = (1.0, 2.0, 3.0, 4.0)
"""Network-sized design configs (``sample_specs(wide=True)``): the sizes whole networks give
their layers, beyond the held-out configs' range, for the design factors of the composition."""

_DRAW_BY_ROLE = {
    "bytes": lambda rng_, default, r, wide: 4,
    "tail": lambda rng_, default, r, wide: r.random() < 0.5,  # bias / BN / act: either
    "spatial": lambda rng_, default, r, wide: r.choice(WIDE_DESIGN_SPATIAL if wide else SPATIAL),
    "stride": lambda rng_, default, r, wide: r.choice((1, 1, 2)),
    "kernel": lambda rng_, default, r, wide: r.choice((default, 3, 5)) if default > 1 else default,
    "channels": lambda rng_, default, r, wide: max(4, int(round(
        default * r.choice(WIDE_CHANNEL_FACTORS if wide else CHANNEL_FACTORS) / 4)) * 4),
}
"""How a field is drawn, by its declared role (core.fields.ROLES), not its name."""


def _draw_choice(rng_: Any, default: Any, r: random.Random) -> Any:
    return default if r.random() < 0.5 else r.choice(rng_.options)


def _draw_real(rng_: Any, default: Any, r: random.Random) -> Any:
    """Half the time the default, else a point of a 9-point grid over the allowed interval."""
    if r.random() < 0.5:
        return default
    lo, hi = rng_.lo, rng_.hi
    grid = [g for g in (lo + (hi - lo) * i / 8 for i in range(9)) if rng_.accepts(g)]
    return r.choice(grid) if grid else default


def _draw_field(rng_: Any, default: Any, r: random.Random, wide: bool = False) -> Any:
    """One random value of a field near its default (see the module docstring)."""
    if rng_.role in _DRAW_BY_ROLE and (rng_.kind != "int" or default not in (dataclasses.MISSING, None)):
        return _DRAW_BY_ROLE[rng_.role](rng_, default, r, wide)
    if rng_.kind == "flag":
        return default  # structural switches (SE, padding...) keep their default
    if rng_.kind == "choice":
        return _draw_choice(rng_, default, r)
    if rng_.kind == "real":
        return _draw_real(rng_, default, r)
    if default is dataclasses.MISSING or default is None:
        return None
    return _draw_default(rng_, default, r)


def sample_specs(cls, count: int, seed: int = 0, max_macs: int = MAX_MACS,
                 exclude: set | None = None, tries: int = 400, skip: set | None = None, wide: bool = False) -> list:
    """Up to ``count`` distinct valid random specs of design class ``cls`` (square inputs),
    none whose single-conv training key is in ``exclude`` or whose label is in ``skip``;
    ``wide``: network-sized (WIDE_DESIGN_SPATIAL, WIDE_CHANNEL_FACTORS)."""
    r = random.Random(f"{cls.name}:{seed}")
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    out: list = []
    for _ in range(tries):
        if len(out) >= count:
            break
        ranges = cls.field_ranges()
        values = {nm: _draw_field(rng_, defaults.get(nm), r, wide) for nm, rng_ in ranges.items()}
        values = {k: v for k, v in values.items() if v is not None}
        square = [nm for nm in values if ranges[nm].role == "spatial"]
        for nm in square[1:]:  # square inputs: every spatial field takes the first one's value
            values[nm] = values[square[0]]
        try:
            spec = cls(**values)
            macs = spec.macs()
        except (ValueError, ZeroDivisionError, TypeError):
            continue
        if not 0 < macs <= max_macs or spec in out:
            continue
        if exclude and (key := training_key(spec)) is not None and key in exclude:
            continue
        if skip and spec_label(spec) in skip:
            continue
        out.append(spec)
    return out


def training_key(spec) -> str | None:
    """The training-sweep key of a single-conv spec (to keep held-out and training apart)."""
    try:
        rows = op_rows(spec)
    except Exception:  # noqa: BLE001 - a design without an op table cannot collide
        return None
    if len(rows) != 1 or rows[0]["kind"] not in ("conv", "conv_transpose"):
        return None
    item = geometry_from_row(rows[0])
    return item_key("conv", item) if item is not None else None


CHANNELS = (8, 12, 16, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256, 320, 384, 512)
"""Channel counts of the training convs (most items)."""

TRAIN_SPATIAL = (4, 7, 8, 14, 16, 28, 32, 56, 64)
"""Input sizes of the training convs (most items)."""

WIDE_SHARE = 0.25
"""Share of training convs drawn from the wider, network-sized range below: whole networks run
convs that no design config reaches (a 64-channel 3x3 conv on 112 x 112 pixels, 1024-channel
1x1 convs), and the efficiency curves must not extrapolate to them (before this range, the
curves put VGG-16's 112-pixel convs 78% too slow; Intel Xeon VM, 2026-12-06)."""

WIDE_CHANNELS = (3, 16, 32, 48, 64, 96, 128, 256, 384, 512, 768, 1024, 2048)
WIDE_SPATIAL = (7, 14, 28, 56, 96, 112, 128)
WIDE_MAX_MACS = 480e6
"""The wide range's channels, input sizes and MAC cap (one such conv: ~7 ms on one core)."""


DEPTHWISE_FLOOR_MACS = 200_000
DEPTHWISE_FLOOR_KEEP = 0.25
"""A random depthwise conv under DEPTHWISE_FLOOR_MACS is kept only at this rate (else redrawn).

Why: oneDNN runs a depthwise conv in a fixed ~55 us up to ~0.2 M MACs (AMD EPYC VM,
2026-12-07), so such ops tell the curve its overhead and nothing of its efficiency, and drawn
uniformly from CHANNELS x TRAIN_SPATIAL they were 12 of the 35 depthwise/oneDNN training ops
(run Q5). Its curve then put the aligned depthwise convs of 1-8 M MACs (48-128 channels at
56 x 56) 15-35% slow in every calibration.

DEPTHWISE_MAX_MACS caps them at 30 M MACs (about EfficientNet's 5x5 on 96 channels at 112 px; ~1.5 ms
on one core): without it, redrawing the small ones left the wide range's 100-480 M MAC depthwise
convs (up to 82 ms a call at ~4 GMAC/s) to take 214 ms of every sweep pass against 91 before,
and the sweep timed a quarter fewer training ops (run R2: 273 convs against 352 in run Q5)."""
DEPTHWISE_MAX_MACS = 30_000_000


GROUP_COUNTS = (2, 2, 4, 4, 8, 16, 32, 64)
"""Group counts of the random grouped convs. Why up to 64: SIC's subdivided projection is a 1x1
conv in 64 groups (ATen runs it group by group, ~4.2 us a group on the Zen 3 VM, 2026-12-07),
and with at most 32 in training the curve's cost per group was extrapolated: +22% at 7 x 7 and
-18% at 56 x 56 (run S14)."""


def conv_geometry(cin: int, cout: int, k: int, h: int, *, kw: int | None = None, stride: int = 1, groups: int = 1,
                  batch: int = 1, pad: int | None = None, pad_w: int | None = None, transpose: bool = False,
                  cls: str | None = None) -> dict[str, Any]:
    """The one form of a single-conv training item (``cases.training_case`` builds it): ``cin`` ->
    ``cout`` channels, a ``k`` x ``kw`` kernel (``kw`` = k by default) on ``h`` x ``h`` input
    pixels, "same" padding k // 2 and kw // 2 unless given; ``cls`` (the curve class) only where
    the caller knows it."""
    kw = k if kw is None else kw
    item = dict(cin=cin, cout=cout, k=k, kw=kw, h=h, stride=stride, groups=groups, batch=batch,
                pad=k // 2 if pad is None else pad, pad_w=kw // 2 if pad_w is None else pad_w, transpose=transpose)
    return item if cls is None else {**item, "cls": cls}


def conv_item(rng: random.Random, cls: str, batched: bool = False) -> dict[str, Any]:
    """A random single-conv geometry of class ``cls`` (input h = w, MACs capped for speed); at
    batch 2 or 4 when ``batched``, else one dense or grouped conv in ~7 is."""
    for _ in range(1000):
        wide = rng.random() < WIDE_SHARE
        chans = WIDE_CHANNELS if wide else CHANNELS
        h = rng.choice(WIDE_SPATIAL if wide else TRAIN_SPATIAL)
        stride = rng.choice((1, 1, 2) if cls == "pointwise" else (1, 1, 1, 2))  # strided 1x1 -> oneDNN
        cin, cout, groups, batch = rng.choice(chans), rng.choice(chans), 1, 1
        k = kw = rng.choice((3, 3, 5, 7))
        if cls == "pointwise":
            k = kw = 1
        elif cls == "dense" and rng.random() < 0.15:  # asymmetric k x 1 / 1 x k factorizations
            k, kw = rng.choice(((1, 3), (3, 1), (1, 5), (5, 1), (1, 7), (7, 1)))
        if cls == "depthwise":
            groups = cin
            cout = cin * rng.choice((1, 1, 1, 2, 3, 5))
        elif cls == "group":
            groups = rng.choice(GROUP_COUNTS)
            k = kw = rng.choice((1, 3, 3, 5))
            if cin % groups or cout % groups or groups == cin:
                continue
        if batched or (cls in ("dense", "group") and rng.random() < 0.15):
            batch = rng.choice((2, 4))  # reshaped batches (Tied Block Conv) and batch > 1
        def macs_of(cin: int, cout: int, groups: int) -> int:
            return batch * cout * (cin // groups) * k * kw * conv_out_size(h, k, stride) * conv_out_size(h, kw, stride)

        # a wide conv (any depthwise conv) over its cap halves its larger channel count (both,
        # depthwise) rather than being redrawn, so large images with moderate channels are drawn
        # as often as the rest
        cap = DEPTHWISE_MAX_MACS if cls == "depthwise" else WIDE_MAX_MACS if wide else 120e6
        while (wide or cls == "depthwise") and macs_of(cin, cout, groups) > cap and min(cin, cout) >= 32:
            if cls == "depthwise":
                cin, cout, groups = cin // 2, cout // 2, cin // 2
            elif cin >= cout:
                cin //= 2
            else:
                cout //= 2
            if cin % groups or cout % groups:
                break
        macs = macs_of(cin, cout, groups)
        if cls == "depthwise" and macs < DEPTHWISE_FLOOR_MACS and rng.random() >= DEPTHWISE_FLOOR_KEEP:
            continue
        if macs <= cap and not (cin % groups or cout % groups):
            return conv_geometry(cin, cout, k, h, kw=kw, stride=stride, groups=groups, batch=batch)
    raise RuntimeError(f"no {cls} geometry found")  # pragma: no cover - the loop always finds one


WEIGHT_BOUND_CHANNELS = (128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
"""Channel counts of the weight-bound training convs (``weight_bound_item``)."""

WEIGHT_BOUND_BYTES = (9 << 18, 24 << 20)
"""Weights of a weight-bound training conv (fp32): at least 2.25 MiB (a 256 -> 256 3x3 conv),
beyond the L2 of the cores seen (1-2 MiB), and at most 24 MiB, so that each call stays near
2 ms (a 5x5 2048 -> 2048 conv has 419 MB of weights, and 24 such convs ate a 60 s sweep's whole
budget). Why not from 4 MiB: the rate per weight byte grows with the weights (AMD EPYC VM,
2026-12-06: batched 3x3 convs on 4 columns streamed 81-95 ps/B with 4.5 MiB, 215 with 18 MiB),
and a Tied Block Conv's 2.25 MiB at 2 x 2 pixels took the rate of the nearest points, 10-18 MiB."""

FEW_COLUMN_BYTES = 1 << 18
"""Smallest weights of a weight-bound training conv on 2-16 GEMM columns: 256 KiB, within L2 but
in the corner (``features.FEW_COLUMN_MIN_WEIGHT_BYTES``), so that an op with 0.25-2 MiB of
weights takes the rate of points of its own size."""


WEIGHT_BOUND_GEMV_MAX_BYTES = 96 << 20
"""Weights of a one-pixel weight-bound conv or linear layer: up to 96 MiB (a matrix-vector
product reads them once, ~5 ms per call), beyond a server's last-level cache: VGG-16's 64 MiB
classifier layer ran ~50 ps per weight byte alone on an AMD EPYC VM with a 32 MiB L3
(2026-12-06), against 20 ps for the training layers of 2-8 MiB."""

WEIGHT_BOUND_SIDES = (1, 2, 3, 4)
"""Input pixels a side of the weight-bound training convs, in turn: one conv per column bucket
(``features.COLUMN_BUCKETS``) in every four."""

WEIGHT_BOUND_BATCHED = ((2, 1), (4, 1), (2, 2), (4, 2))
"""(batch, input side) of the batched 3x3 turn of ``WEIGHT_BOUND_TURNS``: 2, 4, 8 and 16 GEMM
columns on oneDNN, as a Tied Block Conv's reshaped batch runs VGG's 256 -> 256 3x3 at 2 x 2
pixels. Measured alone (AMD EPYC VM, 2026-12-06): such convs streamed 75-120 ps per weight byte,
where the 5x5 convs at batch 1, until then the only oneDNN points of the corner, ran 113-153
(~200-240 in the sweep); the TBC layers at 2 x 2 were predicted 85% slow."""

STRIDED_POINTWISE_SIDES = ((1, 7), (1, 5), (1, 4), (1, 7))
"""(batch, input side) of the strided 1x1 turn of ``WEIGHT_BOUND_TURNS``: 16, 9 and 4 GEMM
columns, with inputs beyond ``features.MKLDNN_MIN_NUMEL`` so that PyTorch runs them on oneDNN
(``conv_backend``), as ResNet-50's stage-entry shortcuts run at 112 px (1024 -> 2048 on
7 x 7 -> 4 x 4). Measured alone (AMD EPYC VM, 2026-12-07): that shortcut 1742 us, a 1024 ->
2048 1x1 conv on 4 x 4 pixels at stride 1 (the GEMM) 959 us; pointwise/onednn had no corner
points and its curve said 1163 us."""

WEIGHT_BOUND_TURNS = ((1, 1, tuple((1, s) for s in WEIGHT_BOUND_SIDES)), (3, 1, tuple((1, s) for s in WEIGHT_BOUND_SIDES)),
                      (5, 1, tuple((1, s) for s in WEIGHT_BOUND_SIDES)), (3, 1, WEIGHT_BOUND_BATCHED),
                      (1, 2, STRIDED_POINTWISE_SIDES))
"""(kernel size, stride, its four (batch, input side)) of the weight-bound training convs, in
turns of four: the three kernels PyTorch runs them on at batch 1 (1x1: GEMM, 3x3: im2col + GEMM,
its input kept within ``features.MKLDNN_MIN_NUMEL``, 5x5: oneDNN; ``conv_backend``) on each of
WEIGHT_BOUND_SIDES, so that each column bucket of each kernel gets the points its rate needs
(``profile.MIN_BUCKET_OPS``), then a 3x3 conv at a batch of 2 or 4 (``WEIGHT_BOUND_BATCHED``),
then a strided 1x1 conv on oneDNN (``STRIDED_POINTWISE_SIDES``). At a batch over 1 the columns
grow with the batch, and the larger sides leave the corner."""


def weight_bound_convs(seed: int, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The plan's ``count`` convs in the weight-bound corner: kernels, batches and sides in turn
    (WEIGHT_BOUND_TURNS)."""
    per_turn, convs = len(WEIGHT_BOUND_SIDES), []
    for i in range(count):
        k, stride, geometry = WEIGHT_BOUND_TURNS[(i // per_turn) % len(WEIGHT_BOUND_TURNS)]
        batch, side = geometry[i % per_turn]
        convs.append(("conv", weight_bound_item(random.Random(f"weight-bound{seed}-{i}"), side, k, batch, stride)))
    return convs


def weight_bound_items(seed: int, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The plan's ``count`` weight-bound convs (``weight_bound_convs``), with one big-weight conv
    after each three and one weight-bound linear layer after each six."""
    convs = weight_bound_convs(seed, count)
    linears = [("linear", weight_bound_linear(random.Random(f"weight-bound-linear{seed}-{i}")))
               for i in range(count // 6)]
    # and one conv with as many weights on a few more pixels per three (``big_weight_item``)
    sides = len(BIG_WEIGHT_SIDES)
    wider = [("conv", big_weight_item(random.Random(f"big-weight{seed}-{i}"), BIG_WEIGHT_SIDES[i % sides]))
             for i in range(count // 3)]
    # each linear layer after its six convs and each big-weight conv after its three, so that a
    # sweep cut short still has some of every kind
    out = []
    for i, conv in enumerate(convs, start=1):
        out.append(conv)
        if i % 3 == 0 and i // 3 <= len(wider):
            out.append(wider[i // 3 - 1])
        if i % 6 == 0 and i // 6 <= len(linears):
            out.append(linears[i // 6 - 1])
    return out


BIG_WEIGHT_SIDES = (7, 8, 10, 14)
"""Input pixels a side of the big-weight training convs (``big_weight_item``): 49-196 GEMM
columns, a network's last stages at 112-224 px."""


def big_weight_item(rng: random.Random, side: int) -> dict[str, Any]:
    """A stride-1 3x3 (two in three) or 1x1 conv with 2.25-24 MiB of weights on ``side`` x ``side``
    pixels: beyond the weight-bound corner, still beyond L2. The random sweep has almost none
    (9 of 552 ops, all near 1 MiB, on the AMD EPYC VM, 2026-12-06), and VGG-16's 512 -> 512 3x3
    convs (9.4 MB) on 7 x 7 to 14 x 14 pixels came out 21-36% fast by the curve."""
    return conv_with_weights(rng, side, rng.choice((3, 3, 1)), WEIGHT_BOUND_BYTES[1])


def conv_with_weights(rng: random.Random, side: int, k: int, top: int, gemm_only: bool = False,
                      bottom: int = WEIGHT_BOUND_BYTES[0], stride: int = 1) -> dict[str, Any]:
    """A k x k conv at ``stride`` on ``side`` x ``side`` pixels with WEIGHT_BOUND_CHANNELS in and
    out, its weights nearest in log2 to a size drawn log-uniformly from ``bottom`` to ``top``
    bytes (ties drawn at random); ``gemm_only``: a 3x3 conv keeps its input within
    ``features.MKLDNN_MIN_NUMEL``, so it runs on im2col + GEMM; a strided 1x1 conv's input goes
    beyond it, so it runs on oneDNN.

    Why log-uniform: the streaming rate grows with the weights (``WEIGHT_BOUND_BYTES``) and an op
    takes the rate of the training points nearest in weight bytes; the first channel pair within
    the range, drawn uniformly, put few points near the smallest sizes."""
    def size(pair: tuple[int, int]) -> float:
        return math.log2(WEIGHT_BYTES * pair[0] * pair[1] * k * k)

    pairs = [(cin, cout) for cin in WEIGHT_BOUND_CHANNELS for cout in WEIGHT_BOUND_CHANNELS
             if not (gemm_only and k == 3 and cin * side * side > MKLDNN_MIN_NUMEL)  # else oneDNN
             and not (stride > 1 and cin * side * side <= MKLDNN_MIN_NUMEL)  # else the GEMM
             and math.log2(bottom) <= size((cin, cout)) <= math.log2(top)]
    target = rng.uniform(min(map(size, pairs)), max(map(size, pairs)))  # the sizes this kernel can have
    gap = [abs(size(p) - target) for p in pairs]
    cin, cout = rng.choice([p for p, g in zip(pairs, gap) if g <= min(gap) + 1e-9])
    return conv_geometry(cin, cout, k, side, stride=stride, cls="pointwise" if k == 1 else "dense")


def weight_bound_item(rng: random.Random, side: int, k: int, batch: int = 1, stride: int = 1) -> dict[str, Any]:
    """A k x k conv at ``stride`` and ``batch`` with WEIGHT_BOUND_BYTES of weights (from
    FEW_COLUMN_BYTES on more than one column, up to WEIGHT_BOUND_GEMV_MAX_BYTES on one: one pixel
    at batch 1) on ``side`` x ``side`` input
    pixels; at batch 1 a 3x3 conv is kept on im2col + GEMM, at a larger batch PyTorch runs it on
    oneDNN (``features.conv_backend``): a network's last stage at a small input
    (ResNet-50's 2048-channel convs at 2 x 2 pixels, VGG's 512 x 512 3x3 at 2-4 pixels), where
    streaming the weights from memory is the time. The random sweep has almost none (8 of 624
    ops with weights beyond L2 on the Intel Xeon VM, 2026-12-06), and the curves put such convs
    at a third to a half of their measured time."""
    gemv = side == 1 and batch == 1
    top = WEIGHT_BOUND_GEMV_MAX_BYTES if gemv else WEIGHT_BOUND_BYTES[1]
    bottom = WEIGHT_BOUND_BYTES[0] if gemv else FEW_COLUMN_BYTES
    return {**conv_with_weights(rng, side, k, top, gemm_only=batch == 1, bottom=bottom, stride=stride), "batch": batch}


WEIGHT_BOUND_LINEAR_SIZES = (1024, 2048, 4096, 8192)
"""Input and output features of the weight-bound training linear layers (``weight_bound_linear``)."""


def weight_bound_linear(rng: random.Random) -> dict[str, Any]:
    """A linear layer (one row at batch 1) with 16 MiB to WEIGHT_BOUND_GEMV_MAX_BYTES of weights:
    a classifier whose weights leave the last-level cache (VGG-16's 4096 x 4096). The random
    linear layers of the plan have up to 8 MiB."""
    while True:
        fin, fout = rng.choice(WEIGHT_BOUND_LINEAR_SIZES), rng.choice(WEIGHT_BOUND_LINEAR_SIZES)
        if 16 << 20 <= WEIGHT_BYTES * fin * fout <= WEIGHT_BOUND_GEMV_MAX_BYTES:
            return {"fin": fin, "fout": fout}


def transposed_conv(cin: int, cout: int, k: int, h: int) -> dict[str, Any]:
    """The training item of a stride-k k x k transposed conv of ``cin`` -> ``cout`` channels on
    ``h`` x ``h`` input pixels (the upsampling of a spatial bottleneck)."""
    return conv_geometry(cin, cout, k, h, stride=k, pad=0, pad_w=0, transpose=True, cls="transpose")


def transpose_item(rng: random.Random) -> dict[str, Any]:
    """A random ``transposed_conv``."""
    k = rng.choice((2, 2, 3, 4))
    cin, cout = rng.choice((16, 32, 64, 96, 128, 256)), rng.choice((16, 32, 64, 96, 128, 256))
    return transposed_conv(cin, cout, k, rng.choice((4, 7, 8, 14, 16, 28)))



def geometry_from_row(row: dict[str, Any]) -> dict[str, Any] | None:
    """The single-conv training item that reproduces one conv op of a design (square input)."""
    n = launches(row)
    if n > 1:  # time one of the n identical launches
        row = {**row, **{c: row[c] // n for c in ("macs", "reads", "writes", "params", "mem_bytes")}}
    batch = max(1, round(conv_rep(row)))
    transpose = row["kind"] == "conv_transpose"
    cin, cout, k, kw, stride = (int(row[c]) for c in ("c_in", "c_out", "k", "k_w", "stride"))
    h = math.isqrt(max(1, row["reads"] // max(1, cin * batch)))
    if h * h * cin * batch != row["reads"] or (transpose and k != kw):
        return None  # not square: skip rather than time another shape
    item = conv_geometry(cin, cout, k, h, kw=kw, stride=stride, groups=int(row["groups"]), batch=batch, pad=0,
                         pad_w=0, transpose=transpose, cls=latency_class(row))
    if transpose:
        return item
    for pad in (k // 2, 0, (k - 1) // 2, k - 1):  # the padding that gives the op's output size
        if (h + 2 * pad - k) // stride + 1 == row["h_out"]:
            pad_w = next((q for q in (kw // 2, 0, (kw - 1) // 2, kw - 1)
                          if (h + 2 * q - kw) // stride + 1 == row["w_out"]), None)
            if pad_w is not None and (pad == pad_w or (pad, pad_w) == (k // 2, kw // 2)):
                item.update(pad=pad, pad_w=pad_w)
                return item
    return None


def design_conv_items(seed: int, per_design: int = 2) -> list[dict[str, Any]]:
    """Conv ops of random configs of every registered design, drawn with a TRAINING seed
    (latency-eval draws with another seed, and skips any single-conv config seen here)."""
    from ..core.registry import designs

    items = []
    for cls in designs().values():
        for spec in sample_specs(cls, per_design, seed=f"train{seed}", max_macs=120_000_000):
            try:
                rows = op_rows(spec)
            except Exception:  # noqa: BLE001 - a design whose table fails gives no items
                continue
            for row in rows:
                if row["kind"] in ("conv", "conv_transpose") and row["macs"]:
                    item = geometry_from_row(row)
                    if item is not None and item not in items:
                        items.append(item)
    return items



POOL_WINDOWS = ((3, 1, 1), (2, 2, 0), (3, 2, 1))
"""(kernel, stride, padding) of the training pools: the "same" 3x3 of Inception-style blocks and
the two downsampling pools of VGG and ResNet stems (a stride-2 pool reads 4x what it writes)."""


LEAD_STREAM_CHANNELS = (32, 128, 512)
"""Channels of the first three training ops of each elementwise kind, which lead the plan: small
to large whatever the draw. Why: the filter gather's line needs its largest size (DGC's
512-channel gather runs 2.5x slower per element than the small ones), and in two calibrations on
the AMD EPYC VM (2026-12-06) its one 512-channel item fell after the sweep's budget ran out: DGC
networks came out -20% to -34%, against -7% to -12% where it ran."""


POOL_MIN_INPUT = 1 << 17
"""Input elements (512 KiB) of a large training pool at least: the rate of a network's large
pools. Smaller pools run up to 2.5x faster per output (a 2x2 max pool: 7-12 ns per output below
~256 KiB of input, 21 ns above; AMD EPYC VM, 2026-12-06), so every other round of pools is
small (``POOL_SMALL_INPUT``) and a window's rate follows the size (``fit.window_rate_points``)."""

POOL_SMALL_INPUT = (1 << 13, 1 << 15)
"""Input elements (32-128 KiB) of a small training pool: VGG-16-CIFAR's pools at 32 px (128 x
16 x 16 = 32 Ki elements, 256 x 8 x 8, 512 x 4 x 4), predicted 1.9-2.3x their time alone at the
large pools' rate (AMD EPYC VM, 2026-12-07)."""


def stream_item(rng: random.Random, kind: str, channels: int | None = None, index: int = 0) -> dict[str, Any]:
    """A random elementwise training op of ``kind`` on a 1 x c x h x h tensor (``channels``: c
    instead of a random one; pools: window ``index`` of POOL_WINDOWS in turn, on at least
    POOL_MIN_INPUT elements, every other round of windows on POOL_SMALL_INPUT)."""
    item: dict[str, Any] = {"kind": kind, "c": rng.choice((16, 32, 64, 128, 256, 512)),
                            "h": rng.choice((7, 14, 28, 56, 112))}
    item["c"] = channels or item["c"]
    if kind in ("gather_elements", "gather_elements_cold"):
        item["h"] = 1  # the filter gather has no pixels (``cases.filter_gather_case``): one key per c
    if kind in POOL_KINDS:
        item["pool"] = list(POOL_WINDOWS[index % len(POOL_WINDOWS)])
        if (index // len(POOL_WINDOWS)) % 2:  # every other round small
            item["h"] = max(4, int(math.sqrt(rng.uniform(*POOL_SMALL_INPUT) / item["c"])))
        else:
            while item["c"] * item["h"] ** 2 < POOL_MIN_INPUT:
                item["h"] *= 2
    if item["c"] * item["h"] ** 2 > 1 << 21:  # at most 8 MiB per tensor: a network's largest
        item["h"] //= 2
    return item


def stream_items(rng: random.Random, per_kind: int) -> list[tuple[str, dict[str, Any]]]:
    """``per_kind`` elementwise training ops of each of STREAM_KINDS, round by round (the first
    LEAD_STREAM_CHANNELS rounds at those channels), and pools at least three of each window
    (large, small, large: ``stream_item``)."""
    leads, items = len(LEAD_STREAM_CHANNELS), []
    for i in range(max(per_kind, 3 * len(POOL_WINDOWS))):
        kinds = STREAM_KINDS if i < per_kind else POOL_KINDS
        items += [("stream", stream_item(rng, kind, LEAD_STREAM_CHANNELS[i] if i < leads else None, i))
                  for kind in kinds]
    return items


BATCHED_PER = 4
"""One extra batched dense conv (batch 2 or 4, ``conv_item``) per this many convs of each class
in the plan, beyond the one in ~7 of the random dense convs: the dense curve's "log_rep" feature
(``features.FEATURES``) learns from them. A calibration without them had 4 batched convs among
53 on dense/oneDNN (AMD EPYC VM, 2026-12-06), too few to tell a batch of small images from one
large image, and drawing more of the random dense convs batched left the im2col curve
(dense/gemm, batch-1 convs only) 19 points instead of 22."""


def training_plan(seed: int = 0, per_conv_class: int = 40, per_stream_kind: int = 5,
                  linear: int = 8, per_design: int = 3, weight_bound: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """The training items, interleaved so that a sweep cut short by its budget stays balanced:
    random single convs of each class, the conv ops of ``per_design`` random configs of every
    registered design (training seed), batched dense convs (``BATCHED_PER``), elementwise ops of each kind, linear layers, and
    ``weight_bound`` convs whose weights stream from memory, with weight-bound linear layers and
    big-weight convs beyond the corner (``weight_bound_items``). The first elementwise ops and
    linear layers lead; then the weight-bound items get ``BOUND_SHARE`` of the sweep's time
    beside the rest (``merge_by_cost``), so a slower machine cuts both alike."""
    rng = random.Random(seed)
    bound = weight_bound_items(seed, weight_bound)
    convs = [[("conv", {"cls": cls, **conv_item(rng, cls)}) for _ in range(per_conv_class)]
             for cls in CONV_CLASSES]
    from_designs = [("conv", item) for item in design_conv_items(seed, per_design)]
    from_designs += [("conv", transpose_item(rng)) for _ in range(per_conv_class // 3)]
    from_designs += [("conv", {"cls": "dense", **conv_item(rng, "dense", batched=True)})
                     for _ in range(per_conv_class // BATCHED_PER)]
    rng.shuffle(from_designs)
    convs.append(from_designs)
    leads = len(LEAD_STREAM_CHANNELS)
    streams = stream_items(rng, per_stream_kind)
    lins = [("linear", {"seed": rng.randrange(1 << 30)}) for _ in range(linear)]
    plan = round_robin(convs)
    # the first 3 of each elementwise kind and of the linear layers lead (cheap, and a curve
    # needs 3 points even when a loaded machine cuts the sweep short), then the per-group, the
    # output-block and the transposed-conv probes; the rest are spread through the conv items
    kinds = len(STREAM_KINDS)
    lead = streams[:leads * kinds] + lins[:3] + per_group_probes() + oc_block_probes() + transpose_probes()
    rest = streams[leads * kinds:] + lins[3:]
    for i, item in enumerate(rest):
        plan.insert((i * 7) % (len(plan) + 1), item)
    return lead + merge_by_cost(bound, plan, BOUND_SHARE)


PER_GROUP_PROBES = ((512, 512, 7, 64), (256, 256, 14, 16), (576, 576, 28, 64),
                    (576, 64, 14, 64), (576, 64, 28, 64), (576, 64, 56, 64))
"""(channels in, channels out, input side, groups) of the 1x1 grouped convs that lead the plan
(``per_group_probes``): ATen runs a stride-1 1x1 grouped conv at batch 1 group by group
("group/gemm"), and these many-group ones pin that curve's cost per group, which the random
draws (mostly 2-8 groups on many pixels) leave confounded with its overhead and MAC time. The
first three have as many channels out as in (8-16 per group) on few pixels; the last three are
SIC's subdivided projection (576 -> 64 in 64 groups: 9 channels in and one out per group, a
GEMM of one row per group) on 14 to 56 pixels a side.

Why the first three: in run S15 (AMD EPYC 7xx3 VM, 2026-12-07) the curve's 8 training convs
had 2-8 groups and it took 10.9 us a group (~4.2 measured at 64 groups); SIC's subdivided layer
at 7-28 px came out +20% to +28%. Refitted with them: held-out layers 78% -> 80% within ±10%.
Why the last three: one output channel per group is a regime no other training conv has, and
the curve's error on SIC's projection grew with the pixels (run S17, each op timed alone: -2%
at 7 x 7, +5% at 14, +20% at 28, +39% at 56); the design's factor, fitted on configs of all
sizes, then set the level of the small ones, and SIC's subdivided layer at 7-28 px swung between
runs (S15 +20..+28%, S17 within ±5%, S18 -12..-24%). Measured beside four runs' sweeps
(scaled by their own group/gemm ops) and refitted offline: that layer 5 of 16 held-out configs
within ±10% -> 11 of 16; all held-out layers 79, 72, 78, 77% -> 84, 71, 77, 80% (runs S15-S18)."""


def per_group_probes() -> list[tuple[str, dict[str, Any]]]:
    """The PER_GROUP_PROBES training items."""
    return [("conv", conv_geometry(cin, cout, 1, h, groups=groups, cls="group")) for cin, cout, h, groups in PER_GROUP_PROBES]


OC_BLOCK_PROBES = ((32, 16, 3, 28, 2), (64, 32, 3, 14, 4), (32, 16, 5, 14, 2), (96, 32, 3, 28, 4),
                   (64, 80, 3, 14, 2), (128, 64, 5, 7, 8), (32, 8, 3, 28, 1), (48, 8, 5, 14, 1),
                   (128, 40, 3, 14, 1), (64, 40, 5, 28, 1))
"""(channels in, channels out, kernel, input side, groups) of the oneDNN convs with 8 or 40
output channels per group that lead the plan (``oc_block_probes``): six grouped (16-32 -> 8 or
40 channels per group, the shape of DGC's, SPConv's and TGC's grouped convs) and four dense,
each run by oneDNN's direct kernel (``features.runs_direct_onednn``). Their ``block_out`` feature
(``features.oc_blocking_waste``) is what the curves need to price a step of one block of output
channels as one of two; the random draws give the grouped curve none (8 or 40 channels per group
are rare among them, and a feature on fewer than ``fit.MIN_FEATURE_SUPPORT`` ops gets no
coefficient).

Measured (AMD EPYC 7xx3 VM, 2026-12-07): the probes timed beside each of five saved runs' oneDNN
training convs (S31-S33, S35, S36; scaled to the run's speed by those convs' median ratio),
appended to its sweep and refitted: held-out layers within ±10% 66/63/65/72/76% -> 68/72/68/82/82%
(the curves took block_out coefficients of -0.12 to -0.67 dense and -0.15 to -0.48 grouped, i.e.
an 8-channel step 1.1-2.0x slower than its MACs say); TGC's config with 16 -> 8 channels per
group -22 to -38% -> -13 to +7%. Without the probes the feature alone moved them 63/67/65/74/79%.
In the first calibration with the probes in its own sweep (run S37, a slow hour: 240 training
ops where S36 had 336), refitting without them and the feature gave 57% against 55% with them:
DGC's four configs -14..-16% -> -10..+11%, TGC's 16 -> 8 per group -24% -> -4%, but two grouped
configs of other shapes moved the wrong way (a curve of 16 ops and 18 features shifts as a whole)."""


def oc_block_probes() -> list[tuple[str, dict[str, Any]]]:
    """The OC_BLOCK_PROBES training items."""
    return [("conv", conv_geometry(cin, cout, k, h, groups=groups, cls="group" if groups > 1 else "dense"))
            for cin, cout, k, h, groups in OC_BLOCK_PROBES]


TRANSPOSE_PROBES = ((16, 56), (32, 28), (64, 14), (128, 7), (32, 56), (64, 28), (128, 14), (256, 7))
"""(channels in = out, input side) of the 2x2 stride-2 transposed convs that lead the plan
(``transpose_probes``): the upsampling of a spatial bottleneck, on two diagonals of equal MACs
(channels doubling as the side halves: 3.2 M and 12.8 M MACs), 16-256 channels on 7-56 pixels a
side, ~0.1-0.7 ms each. With them a calibration always has the 8 ops a curve needs
(``fit.MIN_CURVE_POINTS``), ahead of any budget cut.

Why: the random transposed convs were a third of a class, shuffled among the design convs, and
a disturbed or slow calibration measured 1-5 of them (runs S14 and S16, AMD EPYC 7xx3 VM,
2026-12-07): no curve, the roofline priced such convs at 15-57% of their time (n -> n 2x2
convs measured against those profiles came out 43-85% fast) and the spatial bottleneck's
design factor rose to 1.46-1.51 to make up for it, where the runs with a curve had 0.91-1.08;
its held-out configs then missed by 13-22% either way."""


def transpose_probes() -> list[tuple[str, dict[str, Any]]]:
    """The TRANSPOSE_PROBES training items."""
    return [("conv", transposed_conv(c, c, 2, h)) for c, h in TRANSPOSE_PROBES]


BOUND_SHARE = 0.5
"""Share of the training sweep's time (by ``nominal_seconds``) that the weight-bound items get
while the rest of the plan runs beside them (``merge_by_cost``).

Why not all first: they are the sweep's most expensive items (4 MiB to 24 MiB of weights, up to
50 ms a call). They used to lead the plan; on an AMD EPYC 7xx3 VM (Zen 3, no AVX-512, 33 GMAC/s
dense peak, 2026-12-07) they took the whole of the 38 s non-adaptive budget but 14 items, and the
sweep ended with 2 depthwise and 3 grouped convs: no curve for either (their ops fell back to
the roofline) and held-out layers were 23% within ±10%. By nominal cost they were 61-75% of
the time of the ~280 items the same sweep measured on the Zen 4 VM."""

NOMINAL_MACS_PER_S = 3e10
NOMINAL_BYTES_PER_S = 1.5e10
"""A nominal machine for ordering the plan by cost (``nominal_seconds``): only the items'
relative costs matter, and they must not depend on the machine, so every machine gets the same
plan."""


def nominal_seconds(item: tuple[str, dict[str, Any]]) -> float:
    """What one training item costs the sweep, relative to the others: max(TARGET_S, MACs /
    NOMINAL_MACS_PER_S + bytes / NOMINAL_BYTES_PER_S) per call for a conv or a linear layer of
    known size; TARGET_S (one timed burst) for an elementwise op or a random linear layer."""
    from ..core import ops
    from .cases import conv_row, op_row
    from .protocol import TARGET_S

    kind, spec = item
    if kind == "conv":
        row = conv_row(spec)
    elif kind == "linear" and spec.get("fin") and spec.get("fout"):
        row = op_row(ops.linear("plan", spec["fin"], spec["fout"]))
    else:
        return TARGET_S
    return max(TARGET_S, row["macs"] / NOMINAL_MACS_PER_S + row["mem_bytes"] / NOMINAL_BYTES_PER_S)


def merge_by_cost(first: list, second: list, share: float) -> list:
    """``first`` and ``second`` merged, each in its own order, so that every prefix gives
    ``first`` about ``share`` of its nominal seconds (``nominal_seconds``; a weighted fair queue:
    the next item comes from the list whose cost so far, divided by its share, is lower; ties go
    to ``first``). Once one list runs out the other continues."""
    if not 0 < share < 1:
        raise ValueError(f"share = {share!r} is invalid: allowed is a number in (0, 1)")
    out, i, j, spent_first, spent_second = [], 0, 0, 0.0, 0.0
    while i < len(first) or j < len(second):
        if j >= len(second) or (i < len(first) and spent_first / share <= spent_second / (1 - share)):
            spent_first += nominal_seconds(first[i])
            out.append(first[i])
            i += 1
        else:
            spent_second += nominal_seconds(second[j])
            out.append(second[j])
            j += 1
    return out



def item_key(kind: str, spec: dict[str, Any]) -> str:
    """A stable text key of one training item (stored in the profile to keep eval disjoint)."""
    return kind + ":" + ",".join(f"{k}={spec[k]}" for k in sorted(spec) if k != "seed")



ADAPTIVE_DRAWS: dict[str, Any] = {
    **{cls: (lambda rng, cls: {"cls": cls, **conv_item(rng, cls)}) for cls in CONV_CLASSES},
    "transpose": lambda rng, cls: transpose_item(rng),
}
"""Curve class -> a random training conv of it (rng, class): what the adaptive sweep can draw."""


def key_class(key: str) -> str | None:
    """The class of a curve key that the adaptive sweep can draw (ADAPTIVE_DRAWS), else None."""
    cls = key.split("/")[0].replace("_mult", "")
    return cls if cls in ADAPTIVE_DRAWS else None


ADAPTIVE_FLOOR_PCT = 3.0
"""A curve whose cross-validated median error is below this (%) gets no extra training ops."""


def adaptive_items(errors: dict[str, float], count: int, seed: int = 0, device: str = "cpu",
                   needed: dict[str, int] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """``count`` extra training convs spent where the fitted curves are worst: first ``needed``
    (key -> items) for the conv keys with too few training ops for a curve of their own, then
    each curve key a share of the rest proportional to its cross-validated median error (% above
    ADAPTIVE_FLOOR_PCT, ``errors``: key -> %), drawn from the key's class until the geometry
    lands on the key (``features.curve_key``). Keys of classes it cannot draw (not in
    ADAPTIVE_DRAWS: elementwise ops, linear layers) get none.

    Why ``needed``: a key without a curve has no cross-validated error, so the errors alone never
    sent it an item, and its ops were predicted by the class's pooled curve. On the AMD EPYC 7xx3
    VM (AVX2, 2026-12-07, run S13) the 1x1 grouped convs that ATen runs group by group
    ("group/gemm", SIC's subdivided projections and ShuffleNet's) had 7 training ops, one short
    of a curve, and held-out configs built on them were predicted 26-42% fast."""
    from .cases import conv_row
    from .features import curve_key

    weights = {k: e - ADAPTIVE_FLOOR_PCT for k, e in errors.items() if e > ADAPTIVE_FLOOR_PCT and key_class(k)}
    needed = {k: n for k, n in (needed or {}).items() if n > 0 and key_class(k)}
    if (not weights and not needed) or count < 1:
        return []
    spare = max(0, count - sum(needed.values()))
    total = sum(weights.values())
    wants = dict(needed)
    for key, w in weights.items():
        wants[key] = wants.get(key, 0) + max(1, round(spare * w / total))
    rng = random.Random(f"adaptive{seed}")
    heads: list[list[tuple[str, dict[str, Any]]]] = []
    tails: list[list[tuple[str, dict[str, Any]]]] = []
    for key, want in sorted(wants.items(), key=lambda kv: (-needed.get(kv[0], 0), -weights.get(kv[0], 0.0))):
        found = []
        cls = key_class(key)
        for _ in range(40 * want):
            if len(found) >= want:
                break
            item = ADAPTIVE_DRAWS[cls](rng, cls)
            if key == cls or curve_key(conv_row(item), device) == key:
                found.append(("conv", item))
        top_up = needed.get(key, 0)
        heads.append(found[:top_up])
        tails.append(found[top_up:])
    # the top-up first, then the error-weighted items; each interleaved over its keys, so a
    # sweep cut short by its budget still spreads over them
    return (round_robin(heads) + round_robin(tails))[:count]


def round_robin(lists: list[list[Any]]) -> list[Any]:
    """The lists' first items, then their second items, and so on."""
    longest = max((len(f) for f in lists), default=0)
    return [f[i] for i in range(longest) for f in lists if i < len(f)]
