"""Predicted latency from the analytic per-op costs (MACs, bytes, op class) and a device profile.

A design's latency is built from its ops (``spec.op_table()``):

    t(design) = call_overhead + scale * sum over ops of t(op) + per_op_s * (ops - 1)

(``scale`` and ``per_op_s``: the "composition" curve, fitted on whole designs; without it,
scale = 1 and per_op_s = 0).

Roofline (always available, also after ``costmodel calibrate --no-fit``):

    t(op) = call_overhead + max(MACs / peak, mem_bytes / bandwidth)

with the depthwise peak for depthwise convs and the dense peak otherwise.

Refined (fitted by ``costmodel calibrate`` on a training sweep of single ops):
  * MAC ops get one **efficiency curve** per key = class / CPU kernel (``curve_key``):
    dense, pointwise, group, depthwise (and depthwise with a channel multiplier), transposed
    conv, linear; on a CPU each conv class is split by the kernel PyTorch dispatches it to
    (``conv_backend``: oneDNN or im2col + GEMM), and grouped convs whose channels per group
    fill no 16-channel block are apart ("unblocked"):

        t(op) = overhead + s_per_byte * mem_bytes + MACs / (peak * efficiency),
        log(efficiency) = b0 + sum_i b_i * feature_i,

    features (``conv_features``) are log2 of the channels per group, groups, output pixels,
    kernel area and stride, the vector-lane waste and block alignment of the channel counts,
    and how far the working set exceeds L2: each b_i says how efficiency changes when that
    quantity doubles. Fitted by Levenberg-Marquardt on the log error (relative error), with a
    ridge on the b_i chosen by 4-fold cross-validation.
  * elementwise kinds (batch_norm, relu, add, concat, pools, gather, pad...) get a line:

        t(op) = overhead + s_per_byte * bytes + s_per_spill_byte * (bytes beyond L2) + s_per_op * ops.

  * both then get a **neighbour correction** when it helps in leave-one-out: the
    Gaussian-weighted mean of the log residuals of the training ops near this one (distance in
    doublings), shrunk to 0 away from them.

Ops of a kind without a curve fall back to the roofline.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .memory import CONV_CLASSES, classify_conv, traffic_table

L2_BYTES_DEFAULT = 2 << 20
"""Per-core L2 size used when the OS does not tell (bytes)."""


def l2_bytes() -> int:
    """This CPU's per-core L2 cache (from sysfs), the working-set size beyond which bandwidth drops."""
    import glob

    for path in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/")):
        try:
            with open(path + "level") as fh:
                level = fh.read().strip()
            with open(path + "size") as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if level == "2" and text[:-1].isdigit():
            return int(text[:-1]) * {"K": 1 << 10, "M": 1 << 20}.get(text[-1], 1)
    return L2_BYTES_DEFAULT


VECTOR_LANES = 16
"""fp32 lanes of one AVX-512 register: channel counts are padded to a multiple of this."""

CONV_FEATURES = ("log_cin_g", "log_cout_g", "log_groups", "log_mult", "log_hw", "log_kk", "log_stride",
                 "waste_out", "waste_c", "small_in", "small_out", "aligned_in", "aligned_out",
                 "sq_hw", "sq_cin_g", "sq_cout_g", "log_spill")
"""Features of a conv efficiency curve (see ``conv_features``); a feature constant within a
curve's training set (e.g. log_kk for pointwise) gets a zero coefficient."""

_NO_MULT = tuple(f for f in CONV_FEATURES if f != "log_mult")
FEATURES: dict[str, tuple[str, ...]] = {
    "dense": _NO_MULT, "pointwise": _NO_MULT, "group": _NO_MULT, "transpose": _NO_MULT,
    "depthwise": CONV_FEATURES, "linear": ("log_cin_g", "log_cout_g"),
}
"""The features of each MAC class's efficiency curve (all log2, see ``conv_features``)."""

STREAM_KINDS = ("batch_norm", "relu", "hardsigmoid", "sigmoid", "add", "mul", "concat",
                "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "softmax", "gather", "shuffle",
                "pad", "topk")
"""Elementwise kinds timed in the training sweep; others use the pooled "elementwise" line."""

POOLED = ("relu", "hardsigmoid", "sigmoid", "add", "mul", "concat")
"""Kinds pooled into the fallback "elementwise" line."""


def _aligned(channels: float) -> bool:
    """A multiple of VECTOR_LANES, or a power of two below it (1, 2, 4, 8)."""
    c = int(round(channels))
    return c % VECTOR_LANES == 0 or (c < VECTOR_LANES and c & (c - 1) == 0)


def _lane_waste(channels: float) -> float:
    """log2 of padded / real channels when padded to VECTOR_LANES (0 when a multiple)."""
    c = max(1.0, channels)
    return math.log2(math.ceil(c / VECTOR_LANES) * VECTOR_LANES / c)


def conv_features(row: dict[str, Any], l2: int = L2_BYTES_DEFAULT) -> dict[str, float]:
    """log2 features of one conv/linear op row (op-table columns, batch already folded in macs).

    The repeat count ``rep`` = MACs / (one sample's conv MACs) catches convs run on a reshaped
    batch (Tied Block Conv runs its shared conv on N*B samples) and batch > 1.
    """
    groups = max(1, int(row.get("groups") or 1))
    cin_g = max(1.0, row["c_in"] / groups)
    cout_g = max(1.0, row["c_out"] / groups)
    kk = max(1, int(row.get("k") or 1)) * max(1, int(row.get("k_w") or row.get("k") or 1))
    pixels = max(1, int(row.get("h_out") or 1)) * max(1, int(row.get("w_out") or 1))
    one = cin_g * cout_g * groups * kk * pixels
    rep = max(1.0, row["macs"] / one) if row["kind"] != "linear" else 1.0
    return {"log_cin_g": math.log2(cin_g), "log_cout_g": math.log2(cout_g),
            "log_groups": math.log2(groups), "log_mult": math.log2(max(1.0, row["c_out"] / max(1, row["c_in"]))),
            "log_hw": math.log2(pixels * rep), "log_kk": math.log2(kk),
            "log_stride": math.log2(max(1, int(row.get("stride") or 1))),
            "waste_out": _lane_waste(cout_g), "waste_c": _lane_waste(row["c_in"]),
            # doublings short of a full vector of channels per group (0 from 16 channels up)
            "small_in": max(0.0, math.log2(VECTOR_LANES / cin_g)),
            "small_out": max(0.0, math.log2(VECTOR_LANES / cout_g)),
            # 1 when the channels per group fill whole vector blocks (a multiple of 16, or a
            # power of two below it): oneDNN's blocked kernels apply; other counts fall back
            "aligned_in": float(_aligned(cin_g)), "aligned_out": float(_aligned(cout_g)),
            # squares (scaled by 1/10) let efficiency rise and then saturate with size
            "sq_hw": math.log2(pixels * rep) ** 2 / 10, "sq_cin_g": math.log2(cin_g) ** 2 / 10,
            "sq_cout_g": math.log2(cout_g) ** 2 / 10, "rep": rep,
            # working set beyond the L2 cache: 0 while it fits, +1 per doubling past it
            "log_spill": math.log2(max(1.0, row["mem_bytes"] / l2))}


MKLDNN_MIN_NUMEL = 20480
"""PyTorch CPU conv dispatch: below this input size a small-kernel conv uses im2col + GEMM."""


def conv_backend(row: dict[str, Any], device: str = "cpu") -> str:
    """Which CPU kernel PyTorch (fp32) dispatches a conv to: "onednn" or "gemm" (im2col + GEMM).

    PyTorch's rule (checked with torch.profiler on torch 2.13: ``aten::mkldnn_convolution`` vs
    ``aten::_slow_conv2d_forward``): oneDNN when
      (stride > 1 or batch >= 16 or the kernel is not 1x1 or threads > 1)
      and (groups > 1 or both kernel sides > 3 or batch > 1 or input elements > 20480).
    On CUDA every conv goes to cuDNN.
    """
    if not device.startswith("cpu"):
        return "cudnn"
    k, kw = int(row.get("k") or 1), int(row.get("k_w") or row.get("k") or 1)
    batch = round(conv_features(row)["rep"])
    first = int(row.get("stride") or 1) > 1 or batch >= 16 or k != 1 or kw != 1
    second = (int(row.get("groups") or 1) > 1 or (k > 3 and kw > 3) or batch > 1
              or row["reads"] > MKLDNN_MIN_NUMEL)
    return "onednn" if first and second else "gemm"


def curve_key(row: dict[str, Any], device: str = "cpu") -> str:
    """The efficiency curve an op uses: class/backend, with depthwise x multiplier apart."""
    cls = latency_class(row)
    if cls in CONV_CLASSES:
        if cls == "depthwise" and row["c_out"] > row["c_in"]:
            cls = "depthwise_mult"  # a channel multiplier > 1 takes a much slower kernel
        backend = conv_backend(row, device)
        if cls == "group" and backend == "onednn":
            groups = max(1, int(row["groups"]))
            if not (_aligned(row["c_in"] / groups) and _aligned(row["c_out"] / groups)):
                backend += "_unblocked"  # channels per group that fill no vector block: slow path
        return f"{cls}/{backend}"
    return cls


def latency_class(row: dict[str, Any]) -> str:
    """conv -> its geometry class; conv_transpose -> dense; linear; else the op kind."""
    if row["kind"] == "conv":
        return classify_conv(int(row["c_in"]), int(row["c_out"]), int(row["groups"]),
                             int(row["k"]), int(row["k_w"]))
    if row["kind"] == "conv_transpose":
        return "transpose"
    return str(row["kind"])


def _peak(profile, cls: str) -> float:
    key = "depthwise_macs_per_s" if cls == "depthwise" else "dense_macs_per_s"
    return float(profile.peaks[key])


def _l2(profile) -> int:
    return int(profile.peaks.get("l2_bytes", L2_BYTES_DEFAULT))


def roofline_op(row: dict[str, Any], profile) -> float:
    """call_overhead + max(MACs / peak, bytes / bandwidth), seconds."""
    p = profile.peaks
    compute = row["macs"] / _peak(profile, latency_class(row)) if row["macs"] else 0.0
    memory = row["mem_bytes"] / p["bandwidth_bytes_per_s"]
    return p["call_overhead_s"] + max(compute, memory)


_REPEATED = re.compile(r"\(x [^)]+\)$")
"""An op named ``"name (x b)"`` stands for b identical launches (SIC's stages), not a batch."""


def launches(row: dict[str, Any]) -> int:
    """How many identical kernel launches a MAC op row stands for (1 unless named "... (x b)")."""
    if row["macs"] and _REPEATED.search(str(row.get("op", ""))):
        return max(1, round(conv_features(row)["rep"]))
    return 1


def predict_op(row: dict[str, Any], profile, refined: bool = True) -> float:
    """Seconds of one op row; a row of n identical launches costs n times one launch."""
    n = launches(row)
    if n == 1:
        return _predict_one(row, profile, refined)
    one = dict(row)
    for col in ("macs", "elem", "reads", "writes", "params", "mem_bytes"):  # op.scaled(b) scaled all
        one[col] = row[col] / n
    return n * _predict_one(one, profile, refined)


def _predict_one(row: dict[str, Any], profile, refined: bool = True) -> float:
    """Seconds of one op row: its fitted curve (class/backend, else class), else the roofline."""
    cls = latency_class(row)
    curves = profile.curves if refined else {}
    key = curve_key(row, profile.device) if row["macs"] else cls
    if row["macs"] and (key in curves or cls in curves):
        curve = curves.get(key) or curves[cls]
        t = _curve_time(curve, row, _peak(profile, cls), _l2(profile))
        if "neighbours" in curve:
            t *= math.exp(_neighbour_correction(curve["neighbours"], row, _l2(profile)))
        return t
    if not row["macs"]:
        curve = curves.get(cls) or curves.get("elementwise")
        if curve is not None and curve.get("model") == "stream":
            t = _stream_time(curve, row, _l2(profile))
            if "neighbours" in curve:
                t *= math.exp(_neighbour_correction(curve["neighbours"], row, _l2(profile)))
            return t
    return roofline_op(row, profile)


def _stream_time(curve: dict[str, Any], row: dict[str, Any], l2: int) -> float:
    """overhead + s_per_byte * bytes + s_per_spill_byte * (bytes beyond L2) + s_per_op * elem."""
    spill = max(0.0, row["mem_bytes"] - l2)
    return (curve["overhead_s"] + row["mem_bytes"] * curve["s_per_byte"]
            + spill * curve.get("s_per_spill_byte", 0.0) + row["elem"] * curve["s_per_op"])


def op_rows(spec, batch: int = 1) -> list[dict[str, Any]]:
    """The traffic table of ``spec`` as dicts, activations and MACs scaled to ``batch``.

    Weights are read once per call whatever the batch; activations and MACs scale with it.
    """
    rows = traffic_table(spec).to_dict("records")
    for row in rows:
        if batch != 1:
            for col in ("macs", "elem", "reads", "writes"):
                row[col] = row[col] * batch
            row["mem_bytes"] = spec.dtype_bytes * (row["reads"] + row["writes"] + row["params"])
    return rows


def predict_spec(spec, profile, batch: int = 1, refined: bool = True) -> float:
    """Predicted seconds per call of ``spec.module()``.

    Roofline: container call + sum of its ops. Refined, with a fitted "composition" curve:
    container call + scale * sum of its ops + per_op_s * (number of ops - 1), because a chain of ops
    runs slower than its ops timed alone (each op is one more Python module call and dispatch,
    and the intermediates of a chain compete for the cache).
    """
    rows = op_rows(spec, batch)
    total = sum(predict_op(r, profile, refined) for r in rows)
    comp = profile.curves.get("composition") if refined else None
    if comp:
        total = comp["scale"] * total + comp["per_op_s"] * max(0, len(rows) - 1)
    return profile.peaks["call_overhead_s"] + total


def composition_sweep(profile, seed: int = 0, per_design: int = 3, budget_s: float = 10.0,
                      min_run_time: float = 0.05, show_progress: bool = True):
    """Whole designs (random configs, a TRAINING seed apart from latency-eval's): measured time
    beside the sum of their ops' fitted predictions. One row per config."""
    import pandas as pd

    from .latency import measure, progress, spec_label
    from .latency_accuracy import sample_specs
    from .core.registry import designs

    specs = [s for cls in designs().values()
             for s in sample_specs(cls, per_design, seed=f"compose{seed}", max_macs=60_000_000)]
    random.Random(seed).shuffle(specs)
    rows, start = [], time.perf_counter()
    for spec in progress(specs, "composition sweep", show_progress):
        if time.perf_counter() - start > budget_s:
            break
        try:
            ops_ = op_rows(spec)
            t = measure(spec.module(), spec.example_input(1), threads=profile.threads,
                        device=profile.device, min_run_time=min_run_time, clock=profile.clock)
        except Exception:  # noqa: BLE001 - a design that cannot run gives no point
            continue
        rows.append({"config": spec_label(spec), "measured_s": t.median_s, "n_ops": len(ops_),
                     "sum_ops_s": sum(predict_op(r, profile) for r in ops_)})
    return pd.DataFrame(rows)


SCALE_RANGE = (0.8, 1.25)
"""A composition scale outside this range means the op curves are off, not the composition."""


def fit_composition(frame, profile, iterations: int = 100) -> dict[str, Any] | None:
    """scale and per_op_s of ``t - call = scale * sum_ops + per_op_s * (n_ops - 1)``.

    A chain of ops runs a little slower than its ops timed alone (scale), and each op after the
    first adds a fixed dispatch cost (per_op_s). Fitted robustly, by least absolute relative
    error (iteratively reweighted least squares), because a few designs run hidden work that
    their op list does not show (e.g. copies of sliced inputs) and must not set the constants
    for all. None with fewer than 5 designs.
    """
    if len(frame) < 5:
        return None
    t = frame["measured_s"].to_numpy(float) - profile.peaks["call_overhead_s"]
    a = np.stack([frame["sum_ops_s"].to_numpy(float),
                  np.maximum(frame["n_ops"].to_numpy(float) - 1, 0)], axis=1) / t[:, None]
    coef = np.array([1.0, 0.0])
    for _ in range(iterations):
        weight = 1.0 / np.maximum(np.abs(a @ coef - 1.0), 1e-6)  # L1 as reweighted L2
        sw = np.sqrt(weight)
        coef, *_ = np.linalg.lstsq(a * sw[:, None], sw, rcond=None)
        if coef[1] < 0:  # no negative per-op cost: the scale alone
            coef = np.array([float(np.sum(weight * a[:, 0]) / np.sum(weight * a[:, 0] ** 2)), 0.0])
    if not SCALE_RANGE[0] <= coef[0] <= SCALE_RANGE[1]:
        # the op curves themselves are off (too small a training sweep): keep scale 1 and fit
        # only the per-op cost, as the weighted median of each design's implied cost
        extra, sums = a[:, 1] * t, a[:, 0] * t
        keep = extra > 0
        implied = (t[keep] - sums[keep]) / extra[keep]
        weight = extra[keep] / t[keep]
        order = np.argsort(implied)
        cumulative = np.cumsum(weight[order])
        per_op = implied[order][np.searchsorted(cumulative, cumulative[-1] / 2)] if keep.any() else 0.0
        coef = np.array([1.0, max(0.0, float(per_op))])
    pred = (a @ coef) * t
    return {"model": "composition", "scale": float(coef[0]), "per_op_s": float(coef[1]),
            "n": int(len(t)), "train_median_abs_pct": float(100 * np.median(np.abs(pred / t - 1)))}


def predict_table(spec, profile, batch: int = 1):
    """Per-op predictions (roofline and refined, microseconds) beside MACs, bytes, intensity."""
    import pandas as pd

    rows = []
    for r in op_rows(spec, batch):
        rows.append({"op": r["op"], "class": latency_class(r), "macs": r["macs"], "mem_bytes": r["mem_bytes"],
                     "intensity": r["intensity"], "roofline_us": 1e6 * predict_op(r, profile, False),
                     "predicted_us": 1e6 * predict_op(r, profile, True)})
    return pd.DataFrame(rows)


# --- training sweep ------------------------------------------------------------------------------

def _conv_item(rng: random.Random, cls: str) -> dict[str, Any]:
    """A random single-conv geometry of class ``cls`` (input h = w, MACs capped for speed)."""
    chans = (8, 12, 16, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256, 320, 384, 512)
    for _ in range(1000):
        h = rng.choice((4, 7, 8, 14, 16, 28, 32, 56, 64))
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
            groups = rng.choice((2, 2, 4, 4, 8, 16, 32))
            k = kw = rng.choice((1, 3, 3, 5))
            if cin % groups or cout % groups or groups == cin:
                continue
        if cls in ("dense", "group") and rng.random() < 0.15:
            batch = rng.choice((2, 4))  # reshaped batches (Tied Block Conv) and batch > 1
        macs = batch * cout * (cin // groups) * k * kw * ((h - 1) // stride + 1) ** 2
        if macs <= 120e6:
            return dict(cin=cin, cout=cout, k=k, kw=kw, h=h, stride=stride, groups=groups, batch=batch,
                        pad=k // 2, pad_w=kw // 2, transpose=False)
    raise RuntimeError(f"no {cls} geometry found")  # pragma: no cover - the loop always finds one


def _transpose_item(rng: random.Random) -> dict[str, Any]:
    """A random stride-k k x k transposed conv (the upsampling of a spatial bottleneck)."""
    k = rng.choice((2, 2, 3, 4))
    return dict(cin=rng.choice((16, 32, 64, 96, 128, 256)), cout=rng.choice((16, 32, 64, 96, 128, 256)),
                k=k, kw=k, h=rng.choice((4, 7, 8, 14, 16, 28)), stride=k, groups=1, batch=1, pad=0,
                pad_w=0, transpose=True, cls="transpose")


def _conv_case(g: dict[str, Any]):
    """(module, input, op row) of one training conv (or transposed conv)."""
    import torch

    from .core import ops

    if g["transpose"]:
        op = ops.conv_transpose("train", g["cin"], g["cout"], g["k"], g["h"], g["h"], g["stride"], g["groups"])
        module = torch.nn.ConvTranspose2d(g["cin"], g["cout"], g["k"], g["stride"], groups=g["groups"],
                                          bias=False)
    else:
        same = (g["pad"], g["pad_w"]) == (g["k"] // 2, g["kw"] // 2)  # "same" padding per side
        op = ops.conv("train", g["cin"], g["cout"], g["k"], g["h"], g["h"], g["stride"], g["groups"],
                      padding=None if same else g["pad"], kernel_w=g["kw"])
        module = torch.nn.Conv2d(g["cin"], g["cout"], (g["k"], g["kw"]), g["stride"],
                                 (g["pad"], g["pad_w"]), groups=g["groups"], bias=False)
    return module, torch.randn(g["batch"], g["cin"], g["h"], g["h"]), _row(op, g["batch"])


def _geometry_from_row(row: dict[str, Any]) -> dict[str, Any] | None:
    """The single-conv training item that reproduces one conv op of a design (square input)."""
    n = launches(row)
    if n > 1:  # time one of the n identical launches
        row = {**row, **{c: row[c] // n for c in ("macs", "reads", "writes", "params", "mem_bytes")}}
    feats = conv_features(row)
    batch = max(1, round(feats["rep"]))
    transpose = row["kind"] == "conv_transpose"
    cin, cout, k, kw, stride = (int(row[c]) for c in ("c_in", "c_out", "k", "k_w", "stride"))
    h = math.isqrt(max(1, row["reads"] // max(1, cin * batch)))
    if h * h * cin * batch != row["reads"] or (transpose and k != kw):
        return None  # not square: skip rather than time another shape
    item = dict(cin=cin, cout=cout, k=k, kw=kw, h=h, stride=stride, groups=int(row["groups"]),
                batch=batch, pad=0, pad_w=0, transpose=transpose, cls=latency_class(row))
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
    from .latency_accuracy import sample_specs
    from .core.registry import designs

    items = []
    for cls in designs().values():
        for spec in sample_specs(cls, per_design, seed=f"train{seed}", max_macs=120_000_000):
            try:
                rows = op_rows(spec)
            except Exception:  # noqa: BLE001 - a design whose table fails gives no items
                continue
            for row in rows:
                if row["kind"] in ("conv", "conv_transpose") and row["macs"]:
                    item = _geometry_from_row(row)
                    if item is not None and item not in items:
                        items.append(item)
    return items


def _row(op, batch: int = 1) -> dict[str, Any]:
    """A numeric op-table row from an Op built on integers."""
    row = {"op": op.name, "kind": op.kind}
    for f in ("macs", "elem", "reads", "writes"):
        row[f] = batch * int(getattr(op, f))
    row["params"] = int(op.params)
    for g in ("c_in", "c_out", "k", "k_w", "groups", "stride", "h_out", "w_out"):
        row[g] = int(op.geometry.get(g, 0))
    row["mem_bytes"] = 4 * (row["reads"] + row["writes"] + row["params"])
    return row


def _linear_case(rng: random.Random):
    import torch

    from .core import ops

    fin, fout = rng.choice((16, 64, 128, 256, 512, 960, 1280)), rng.choice((4, 16, 64, 256, 1000, 1280))
    return torch.nn.Linear(fin, fout), torch.randn(1, fin), _row(ops.linear("train", fin, fout))


def _stream_case(kind: str, c: int, h: int):
    """(module, inputs, op row) of one elementwise op of ``kind`` on a 1 x c x h x h tensor."""
    import torch
    from torch import nn

    from .core import ops
    from .core.ops import Op

    size = c * h * h
    x = torch.randn(1, c, h, h)

    class Fn(nn.Module):
        def __init__(self, fn: Callable):
            super().__init__()
            self.fn = fn

        def forward(self, *xs):
            return self.fn(*xs)

    table = {
        "batch_norm": (nn.BatchNorm2d(c), (x,), ops.batch_norm("t", c, h, h)),
        "relu": (nn.ReLU(inplace=True), (x,), ops.elementwise("t", "relu", size)),
        "hardsigmoid": (nn.Hardsigmoid(), (x,), ops.elementwise("t", "hardsigmoid", size)),
        "sigmoid": (nn.Sigmoid(), (x,), ops.elementwise("t", "sigmoid", size)),
        "add": (Fn(torch.add), (x, x.clone()), ops.elementwise("t", "add", size, inputs=2)),
        "mul": (Fn(torch.mul), (x, x.clone()), ops.elementwise("t", "mul", size, inputs=2)),
        "concat": (Fn(lambda a, b: torch.cat((a, b), 1)), (x, x.clone()), ops.concat("t", 2 * size)),
        "max_pool2d": (nn.MaxPool2d(3, 1, 1), (x,), ops.max_pool("t", c, h, h, 3, 1, 1)),
        "avg_pool2d": (nn.AvgPool2d(2, 2), (x,), ops.avg_pool("t", c, h, h, 2, 2)),
        "adaptive_avg_pool2d": (nn.AdaptiveAvgPool2d(1), (x,), ops.global_avg_pool("t", c, h, h)),
        "softmax": (nn.Softmax(dim=1), (x,), ops.elementwise("t", "softmax", size, ops_per_element=3)),
        # channel gather (index_select), as topological subdivisioning and DGC do
        "gather": (Fn(lambda a, i: torch.index_select(a, 1, i)), (x, torch.arange(2 * c) % c),
                   Op("t", "gather", reads=size, writes=2 * size)),
        "shuffle": (Fn(lambda a: a.view(1, 4, c // 4, h, h).transpose(1, 2).contiguous()), (x,),
                    Op("t", "shuffle", reads=size, writes=size)),
        "pad": (Fn(lambda a: torch.nn.functional.pad(a, (0, 1, 0, 1))), (x,),
                Op("t", "pad", reads=size, writes=c * (h + 1) * (h + 1))),
        "topk": (Fn(lambda a: torch.topk(a.flatten(1), c // 2, dim=1)), (x[:, :, 0, 0],),
                 Op("t", "topk", elem=c, reads=c, writes=2 * (c // 2))),
    }
    module, inputs, op = table[kind]
    return module, inputs, _row(op)


def training_plan(seed: int = 0, per_conv_class: int = 40, per_stream_kind: int = 5,
                  linear: int = 8, per_design: int = 3) -> list[tuple[str, dict[str, Any]]]:
    """The training items, interleaved so that a sweep cut short by its budget stays balanced:
    random single convs of each class, the conv ops of ``per_design`` random configs of every
    registered design (training seed), elementwise ops of each kind, and linear layers."""
    rng = random.Random(seed)
    convs = [[("conv", {"cls": cls, **_conv_item(rng, cls)}) for _ in range(per_conv_class)]
             for cls in CONV_CLASSES]
    from_designs = [("conv", item) for item in design_conv_items(seed, per_design)]
    from_designs += [("conv", _transpose_item(rng)) for _ in range(per_conv_class // 3)]
    rng.shuffle(from_designs)
    convs.append(from_designs)
    longest = max(len(c) for c in convs)
    convs = [c + [None] * (longest - len(c)) for c in convs]
    streams = [("stream", {"kind": kind, "c": rng.choice((16, 32, 64, 128, 256, 512)),
                           "h": rng.choice((7, 14, 28, 56))})
               for _ in range(per_stream_kind) for kind in STREAM_KINDS]
    lins = [("linear", {"seed": rng.randrange(1 << 30)}) for _ in range(linear)]
    plan = [item for group in zip(*convs) for item in group if item is not None]
    # spread the cheap items through the conv items
    for i, item in enumerate(streams + lins):
        plan.insert((i * 7) % (len(plan) + 1), item)
    return plan


def training_case(kind: str, spec: dict[str, Any]):
    """(module, inputs, op row) of one training item."""
    if kind == "conv":
        return _conv_case(spec)
    if kind == "linear":
        return _linear_case(random.Random(spec["seed"]))
    return _stream_case(spec["kind"], spec["c"], spec["h"])


def pick_anchors(frame, count: int = 12) -> list[dict[str, Any]]:
    """A few training ops spread over the time range (every n-th by measured time), stored in
    the profile with their times: re-timing them later tells how much faster or slower the
    machine runs now than during calibration (a shared machine drifts by several percent)."""
    ordered = frame.sort_values("measured_s").reset_index(drop=True)
    step = max(1, len(ordered) // count)
    picks = ordered.iloc[step // 2::step].head(count)
    return [{"kind": it[0], "spec": it[1], "s": float(t)} for it, t in zip(picks["item"], picks["measured_s"])]


def anchor_drift(profile, min_run_time: float = 0.03) -> float | None:
    """Median of (time now / time at calibration) over the profile's anchor ops; None if none."""
    from .latency import measure

    anchors = profile.meta.get("anchors") or []
    ratios = []
    for a in anchors:
        module, inputs, _ = training_case(a["kind"], a["spec"])
        t = measure(module, inputs, threads=profile.threads, device=profile.device,
                    min_run_time=min_run_time, clock=profile.clock).median_s
        ratios.append(t / a["s"])
    return float(np.median(ratios)) if ratios else None


def item_key(kind: str, spec: dict[str, Any]) -> str:
    """A stable text key of one training item (stored in the profile to keep eval disjoint)."""
    return kind + ":" + ",".join(f"{k}={spec[k]}" for k in sorted(spec) if k != "seed")


def training_sweep(profile, budget_s: float = 35.0, seed: int = 0, min_run_time: float = 0.03,
                   show_progress: bool = True):
    """Time every training item (single ops) until ``budget_s`` seconds; one row per op."""
    import pandas as pd

    from .latency import measure, progress

    rows = []
    start = time.perf_counter()
    # the plan grows with the budget (30 s: ~400 ops); the loop below stops at the budget
    scale = max(1.0, budget_s / 30.0)
    plan = training_plan(seed, per_conv_class=int(40 * scale), per_stream_kind=int(5 * scale),
                         linear=int(8 * scale), per_design=int(3 * scale))
    for kind, spec in progress(plan, "training sweep", show_progress):
        if time.perf_counter() - start > budget_s:
            break
        module, inputs, row = training_case(kind, spec)
        timing = measure(module, inputs, threads=profile.threads, device=profile.device,
                         min_run_time=min_run_time, clock=profile.clock)
        row.update(key=item_key(kind, spec), measured_s=timing.median_s, cv=timing.cv, item=(kind, spec),
                   cls=latency_class(row))
        rows.append(row)
    return pd.DataFrame(rows)


# --- fitting -------------------------------------------------------------------------------------

def _efficiency_time(theta: np.ndarray, x: np.ndarray, macs: np.ndarray, nbytes: np.ndarray,
                     peak: float) -> np.ndarray:
    """overhead + s_per_byte * bytes + MACs / (peak * exp(x . b)); theta = (log o, log s, b...)."""
    with np.errstate(over="ignore", under="ignore"):  # a wild LM trial step is just rejected
        return (np.exp(np.clip(theta[0], -60, 10)) + np.exp(np.clip(theta[1], -80, 10)) * nbytes
                + macs / (peak * np.exp(np.clip(x @ theta[2:], -50, 50))))


RIDGES = (1e-3, 1e-2, 1e-1, 1.0)
"""Ridge strengths tried for each efficiency curve; 4-fold cross-validation picks one, so a
curve with few training points keeps its coefficients small instead of extrapolating wildly."""


def _fit_efficiency(frame, cls: str, peak: float, l2: int) -> dict[str, Any]:
    """The efficiency curve of ``_fit_efficiency_at`` with the ridge chosen by 4-fold CV."""
    if len(frame) < 12:
        return _fit_efficiency_at(frame, cls, peak, l2, RIDGES[-1])
    folds = np.arange(len(frame)) % 4
    best = None
    for ridge in RIDGES:
        errs = []
        for k in range(4):
            curve = _fit_efficiency_at(frame[folds != k], cls, peak, l2, ridge, iterations=40)
            test = frame[folds == k]
            pred = np.array([_curve_time(curve, r, peak, l2) for r in test.to_dict("records")])
            errs.append(np.log(pred / test["measured_s"].to_numpy(float)) ** 2)
        err = float(np.mean(np.concatenate(errs)))
        if best is None or err < best[0]:
            best = (err, ridge)
    curve = _fit_efficiency_at(frame, cls, peak, l2, best[1])
    curve["ridge"] = best[1]
    curve["cv_median_abs_pct"] = float(100 * (np.exp(np.sqrt(best[0])) - 1))
    return curve


def _curve_time(curve: dict[str, Any], row: dict[str, Any], peak: float, l2: int) -> float:
    feats = conv_features(row, l2)
    log_eff = curve["coef"]["const"] + sum(b * feats[f] for f, b in curve["coef"].items() if f != "const")
    return (curve["overhead_s"] + curve.get("s_per_byte", 0.0) * row["mem_bytes"]
            + row["macs"] / (peak * math.exp(min(50.0, max(-50.0, log_eff)))))


def _fit_efficiency_at(frame, cls: str, peak: float, l2: int, ridge: float = 1e-3,
                       iterations: int = 80) -> dict[str, Any]:
    """Fit overhead + s_per_byte * bytes + MACs / (peak * exp(b . features)) to the measured
    times, minimising the squared log error (i.e. relative error) plus a small ridge on b.

    Start: the log-efficiency least-squares fit with a small overhead; then Levenberg-Marquardt
    steps (numerical Jacobian; tens of points and at most 17 parameters, so it is instant).
    The overhead and the byte cost are fitted through their logs, so they stay positive.
    """
    names = FEATURES[cls]
    feats = [conv_features(r, l2) for r in frame.to_dict("records")]
    x = np.array([[1.0] + [f[n] for n in names] for f in feats])
    t = frame["measured_s"].to_numpy(float)
    macs = frame["macs"].to_numpy(float)
    nbytes = frame["mem_bytes"].to_numpy(float)
    shrink = np.sqrt(ridge) * np.ones(x.shape[1])
    shrink[0] = 0.0  # the constant is not shrunk

    def residuals(theta: np.ndarray) -> np.ndarray:
        return np.concatenate([np.log(_efficiency_time(theta, x, macs, nbytes, peak) / t),
                               shrink * theta[2:]])

    overhead = 0.3 * t.min()
    y = np.log(macs / (peak * (t - overhead)))
    reg = ridge * np.diag(shrink > 0) * len(t)
    coef = np.linalg.solve(x.T @ x + reg, x.T @ y)
    theta = np.concatenate([[np.log(overhead), np.log(1e-14)], coef])
    res = residuals(theta)
    cost, lam = float(res @ res), 1e-2
    for _ in range(iterations):
        jac = np.empty((len(res), len(theta)))
        for j in range(len(theta)):
            step = np.zeros_like(theta)
            step[j] = 1e-6
            jac[:, j] = (residuals(theta + step) - res) / 1e-6
        hess, grad = jac.T @ jac, jac.T @ res
        while lam < 1e9:
            trial = theta + np.linalg.solve(hess + lam * (np.diag(np.diag(hess)) + 1e-9 * np.eye(len(theta))), -grad)
            trial_res = residuals(trial)
            if np.all(np.isfinite(trial_res)) and float(trial_res @ trial_res) < cost:
                theta, res, cost, lam = trial, trial_res, float(trial_res @ trial_res), max(lam / 3, 1e-9)
                break
            lam *= 5
        if lam >= 1e9:
            break
    pred = _efficiency_time(theta, x, macs, nbytes, peak)
    return {"model": "efficiency", "overhead_s": float(np.exp(theta[0])), "s_per_byte": float(np.exp(theta[1])),
            "n": int(len(t)), "coef": {"const": float(theta[2]), **{n: float(b) for n, b in zip(names, theta[3:])}},
            "train_median_abs_pct": float(100 * np.median(np.abs(pred / t - 1)))}


def _fit_stream(frame, l2: int) -> dict[str, Any]:
    """Fit overhead + s_per_byte * bytes + s_per_spill_byte * (bytes beyond L2) + s_per_op * elem
    by least relative squares, with no negative coefficient."""
    t = frame["measured_s"].to_numpy(float)
    cols = {"overhead_s": np.ones_like(t), "s_per_byte": frame["mem_bytes"].to_numpy(float),
            "s_per_spill_byte": np.maximum(0.0, frame["mem_bytes"].to_numpy(float) - l2),
            "s_per_op": frame["elem"].to_numpy(float)}
    active = [k for k in cols if cols[k].any()]
    while True:
        a = np.stack([cols[k] / t for k in active], axis=1)
        coef, *_ = np.linalg.lstsq(a, np.ones_like(t), rcond=None)
        if (coef >= 0).all() or len(active) == 1:
            break
        active = [k for k, c in zip(active, coef) if c >= 0]  # drop a negative slope and refit
    out = {k: 0.0 for k in cols}
    out.update({k: max(0.0, float(c)) for k, c in zip(active, coef)})
    pred = sum(out[k] * cols[k] for k in cols)
    out.update(model="stream", n=int(len(t)),
               train_median_abs_pct=float(100 * np.median(np.abs(pred / t - 1))))
    return out


NEIGHBOUR_FEATURES = ("log_cin_g", "log_cout_g", "log_groups", "log_mult", "log_hw", "log_kk",
                      "log_stride", "aligned_in", "aligned_out")
"""Where a MAC op sits for the residual correction: log2 sizes (one unit = a doubling)."""


def _neighbour_x(row: dict[str, Any], l2: int) -> list[float]:
    """MAC ops: NEIGHBOUR_FEATURES; elementwise ops: log2 of bytes and of elementwise ops."""
    if not row["macs"]:
        return [math.log2(max(1.0, row["mem_bytes"])), math.log2(1.0 + row["elem"])]
    feats = conv_features(row, l2)
    return [feats[f] for f in NEIGHBOUR_FEATURES]


def _kernel_mean(x_train: np.ndarray, r_train: np.ndarray, x: np.ndarray, tau: float, w0: float,
                 leave_one_out: bool = False) -> np.ndarray:
    """Gaussian-weighted mean of the residuals near each x, shrunk to 0 by the prior weight w0."""
    d2 = ((x[:, None, :] - x_train[None, :, :]) ** 2).sum(-1)
    w = np.exp(-d2 / (2 * tau ** 2))
    if leave_one_out:
        np.fill_diagonal(w, 0.0)
    return (w @ r_train) / (w.sum(1) + w0)


def _neighbour_correction(nb: dict[str, Any], row: dict[str, Any], l2: int) -> float:
    """log(measured / curve) predicted from the training ops near this one (0 far from all)."""
    x = np.array([_neighbour_x(row, l2)])
    return float(_kernel_mean(np.array(nb["x"]), np.array(nb["r"]), x, nb["tau"], nb["w0"])[0])


def _fit_neighbours(sub, curve: dict[str, Any], cls: str, profile) -> dict[str, Any] | None:
    """The residual correction of one curve: its training ops' log(measured / curve), smoothed
    with a Gaussian kernel of width tau (in doublings) and prior weight w0, both chosen by
    leave-one-out. A local refinement: ops like no training op get no correction."""
    if len(sub) < 10:
        return None
    l2, peak = _l2(profile), _peak(profile, cls)
    rows = sub.to_dict("records")
    x = np.array([_neighbour_x(r, l2) for r in rows])
    timed = [_stream_time(curve, q, l2) if curve["model"] == "stream" else _curve_time(curve, q, peak, l2)
             for q in rows]
    r = np.log(sub["measured_s"].to_numpy(float) / np.array(timed))
    best = None
    for tau in (0.25, 0.5, 1.0):
        for w0 in (0.1, 0.5, 2.0):
            err = float(np.mean((r - _kernel_mean(x, r, x, tau, w0, leave_one_out=True)) ** 2))
            if best is None or err < best[0]:
                best = (err, tau, w0)
    if best[0] >= float(np.mean(r ** 2)):
        return None  # the correction does not help on held-out training points
    return {"tau": best[1], "w0": best[2], "x": np.round(x, 4).tolist(), "r": np.round(r, 5).tolist(),
            "loo_rms_before": float(np.sqrt(np.mean(r ** 2))), "loo_rms_after": float(np.sqrt(best[0]))}


def fit_curves(frame, profile) -> dict[str, dict[str, Any]]:
    """One curve per class and per class/backend key in the training frame (enough points each);
    MAC curves also get a neighbour (residual) correction when it helps."""
    curves: dict[str, dict[str, Any]] = {}
    frame = frame[(frame["macs"] > 0) | ~frame["cls"].isin(list(FEATURES))]  # a MAC curve needs MACs
    frame = frame.assign(curve=[curve_key(r, profile.device) for r in frame.to_dict("records")])
    for cls, part in frame.groupby("cls"):
        cls = str(cls)
        if cls in FEATURES:
            if len(part) >= 8:
                curves[cls] = _fit_efficiency(part, cls, _peak(profile, cls), _l2(profile))
            for key, sub in part.groupby("curve"):
                if key != cls and len(sub) >= 8:
                    curve = _fit_efficiency(sub, cls, _peak(profile, cls), _l2(profile))
                    nb = _fit_neighbours(sub, curve, cls, profile)
                    if nb:
                        curve["neighbours"] = nb
                    curves[str(key)] = curve
        elif len(part) >= 3:
            curve = _fit_stream(part, _l2(profile))
            nb = _fit_neighbours(part, curve, cls, profile)
            if nb:
                curve["neighbours"] = nb
            curves[cls] = curve
    pooled = frame[frame["cls"].isin(POOLED)]
    if len(pooled) >= 3:
        curves["elementwise"] = _fit_stream(pooled, _l2(profile))
    return curves
