"""Predicted latency of a design (or one op row) from the analytic per-op costs (MACs, bytes, op class) and a device profile.

A design's latency is built from its ops (``spec.op_table()``):

    t(design) = factor(design) * (call_overhead + scale * sum over ops of t(op) + per_op_s * (ops - 1))

(``scale`` and ``per_op_s``: the "composition" curve, fitted on whole designs, with each
design's own factor for the work its op list does not show; without it, scale = factor = 1 and
per_op_s = 0).

Roofline (always available, also after ``costmodel calibrate --no-fit``):

    t(op) = call_overhead + max(MACs / peak, mem_bytes / bandwidth)

with the depthwise peak for depthwise convs and the dense peak otherwise.

Refined (fitted by ``costmodel calibrate`` on a training sweep of single ops):
  * MAC ops get one **efficiency curve** per key = class / CPU kernel (``curve_key``):
    dense, pointwise, group, depthwise (and depthwise with a channel multiplier), transposed
    conv, linear; on a CPU each conv class is split by the kernel PyTorch dispatches it to
    (``conv_backend``: oneDNN or im2col + GEMM), and grouped convs on oneDNN by the channel
    block oneDNN takes (``features.onednn_group_block``: a full vector block, a narrower one,
    or a GEMM per group):

        t(op) = overhead + s_per_byte * mem_bytes + s_per_weight_byte * weight bytes
                [+ s_per_group * groups, grouped convs] + MACs / (peak * efficiency),
        log(efficiency) = b0 + sum_i b_i * feature_i,

    except in the **weight-bound corner** (2-16 GEMM columns with over 192 KiB of weights, or one
    column with weights beyond L2; columns: a conv's output pixels x batch, a linear layer's rows;
    ``features.weight_bound_regime``), where
    t(op) = (rate + cold rate) * weight bytes (``Peaks.cold_s_per_byte``: more where the design's
    weights together outgrow the cache): the rate is the median of the curve's training ops of the op's column
    bucket (1, 2-4, 5-9, 10-16 columns) nearest in weight bytes (``profile.streamed_rate``), else
    the median over the corner's 2-16 columns (a second one on one column, where the GEMM is a
    matrix-vector product) (``fit.fit_weight_rates``; the curve is fitted without them; a kernel without the rate keeps
    its curve: another kernel's rate is not its own, e.g. oneDNN re-orders its weights every call
    and a strided 1024 -> 2048 1x1 conv on it ran 1351 us where the GEMM kernels' rate said 701;
    a grouped conv without one borrows the dense rate of its own kernel family, ``rate_donor``),

    features (``conv_features``) are log2 of the channels per group, groups, output pixels,
    kernel area and stride, the vector-lane waste and block alignment of the channel counts,
    and how far the working set exceeds L2: each b_i says how efficiency changes when that
    quantity doubles. Fitted (``costmodel.latency.fit``) by ``scipy.optimize.least_squares`` on the
    log error (relative error), with a ridge on the b_i chosen by 4-fold cross-validation.
  * elementwise kinds (batch_norm, relu, add, concat, pools, gather, pad...) get a line:

        t(op) = overhead + s_per_byte * bytes + s_per_spill_byte * (bytes beyond L2) + s_per_op * ops.

  * both then get a **neighbour correction** when it helps in leave-one-out: the
    Gaussian-weighted mean of the log residuals of the training ops near this one (distance in
    doublings), shrunk to 0 away from them;
  * or, per curve key where it beats the curve and the neighbour correction in 5-fold
    cross-validation, a **per-kernel regressor** (scikit-learn gradient boosting or random forest,
    as nn-Meter does) of the log residual over all the conv features.

Ops of a kind without a curve fall back to the roofline.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from .features import (WEIGHT_BYTES, aligned, column_bucket, conv_backend, curve_key, gemm_columns, latency_class,
                       launches, stream_key)
from .memory import traffic_table
from .profile import EfficiencyCurve, Profile, StreamCurve


def roofline_op(row: dict[str, Any], profile: Profile) -> float:
    """call_overhead + max(MACs / peak, bytes / bandwidth), seconds."""
    p = profile.peaks
    compute = row["macs"] / p.peak(latency_class(row)) if row["macs"] else 0.0
    memory = row["mem_bytes"] / p.bandwidth_bytes_per_s
    return p.call_overhead_s + max(compute, memory)


def one_launch(row: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(n, the row of one launch) of a row that stands for n identical launches."""
    n = launches(row)
    if n == 1:
        return 1, row
    one = dict(row)
    for col in ("macs", "elem", "reads", "writes", "params", "mem_bytes"):  # op.scaled(b) scaled all
        one[col] = row[col] / n
    return n, one


def predict_op(row: dict[str, Any], profile: Profile, refined: bool = True) -> float:
    """Seconds of one op row; a row of n identical launches costs n times one launch."""
    n, one = one_launch(row)
    return n * predict_one(one, profile, refined)


def cold_seconds(row: dict[str, Any], profile: Profile, working_set: float) -> float:
    """Seconds a weight-bound op row (n launches: n times one) adds when a call cycles
    ``working_set`` bytes of weights through the caches: its weight bytes x
    ``Peaks.cold_s_per_byte`` at its column bucket; 0 for an op its curve does not predict by a
    weight-streaming rate (``EfficiencyCurve.weight_bound_seconds``)."""
    n, one = one_launch(row)
    found = op_curve(one, profile)
    if found is None or not isinstance(found[1], EfficiencyCurve) or streamed_seconds(one, found[1], profile) <= 0:
        return 0.0
    return n * cold_weight_seconds(one, profile, working_set)


def rate_donor(row: dict[str, Any], profile: Profile) -> EfficiencyCurve | None:
    """The curve whose weight-streaming rate a grouped conv in the weight-bound corner borrows when
    its own curve has none: the dense conv curve of the same kernel family ("dense/onednn" for a
    grouped conv on oneDNN, "dense/gemm" for ATen's group-by-group GEMM); None for other ops.

    Why: streaming weights from memory is the same work whatever the class, and few calibrations
    draw a grouped conv into the corner (few pixels, weights beyond L2): without a rate, its
    efficiency curve, fitted on cache-resident ops, priced DGC's 1024 -> 512 3x3 conv in 4 groups
    on 4 x 4 pixels (4.7 MB of weights) at 0.67 ms in run S16 (Zen 3 VM, 2026-12-07; ~0.9 ms
    measured hot, more among a network's other weights), and the DGC-swapped VGG networks came
    out 12-16% fast. Only the same backend: another kernel's rate is not its own (module docstring)."""
    if latency_class(row) != "group":
        return None
    donor = profile.curves.get("dense/" + conv_backend(row, profile.device))
    return donor if isinstance(donor, EfficiencyCurve) else None


def streamed_seconds(row: dict[str, Any], curve: EfficiencyCurve, profile: Profile) -> float:
    """``curve.weight_bound_seconds`` of one launch, else its ``rate_donor``'s (0 outside the corner)."""
    own = curve.weight_bound_seconds(row, profile.l2)
    if own > 0:
        return own
    donor = rate_donor(row, profile)
    return donor.weight_bound_seconds(row, profile.l2) if donor is not None else 0.0


def cold_weight_seconds(row: dict[str, Any], profile: Profile, working_set: float) -> float:
    """Weight bytes x ``Peaks.cold_s_per_byte`` at the row's column bucket, for one launch of a
    weight-bound op whose call cycles ``working_set`` bytes of weights."""
    weights = WEIGHT_BYTES * row["params"]
    return weights * profile.peaks.cold_s_per_byte(working_set, weights, column_bucket(gemm_columns(row)))


def legacy_key(key: str, row: dict[str, Any]) -> str | None:
    """The curve key a profile saved before the grouped-conv keys followed oneDNN's channel
    blocks (``features.onednn_group_block``) used for this op: "group/onednn" where both channel
    counts per group were ``aligned``, else "group/onednn_unblocked"; None for other keys.
    ``op_curve`` tries it after the key itself, before the bare class."""
    if not key.startswith("group/onednn"):
        return None
    groups = max(1, int(row["groups"]))
    both = aligned(row["c_in"] / groups) and aligned(row["c_out"] / groups)
    return "group/onednn" if both else "group/onednn_unblocked"


def op_curve(row: dict[str, Any], profile: Profile) -> tuple[str, EfficiencyCurve | StreamCurve] | None:
    """(key, curve) that predicts one op row: its class/backend key, else its class (MAC ops);
    its pool window's key (``features.pool_window_key``), else its kind, else the pooled
    "elementwise" line (other ops); None: the roofline applies."""
    cls = latency_class(row)
    curves = profile.curves
    if row["macs"]:
        key = curve_key(row, profile.device)
        for k in (key, legacy_key(key, row), cls):
            if k is not None and isinstance(curves.get(k), EfficiencyCurve):
                return k, curves[k]
        return None
    for k in (stream_key(row), cls, "elementwise"):
        if isinstance(curves.get(k), StreamCurve):
            return k, curves[k]
    return None


def predict_one(row: dict[str, Any], profile: Profile, refined: bool = True) -> float:
    """Seconds of one launch: its fitted curve times the neighbour correction (in the weight-bound
    corner, the curve's weight-streaming rate), else the roofline."""
    found = op_curve(row, profile) if refined else None
    if found is None:
        return roofline_op(row, profile)
    curve = found[1]
    if isinstance(curve, EfficiencyCurve) and (streamed := streamed_seconds(row, curve, profile)) > 0:
        # the curve was fitted without the corner's ops: their own law predicts them, slower
        # where the design's other weights evict theirs from the cache
        return streamed + cold_weight_seconds(row, profile, float(row.get("weight_set_bytes") or 0.0))
    t = curve.seconds(row, profile.peaks.peak(latency_class(row)), profile.l2)
    if curve.regressor is not None:  # a per-kernel regressor won the cross-validation
        t *= math.exp(curve.regressor.correction(row, profile.l2))
    elif curve.neighbours is not None:
        t *= math.exp(curve.neighbours.correction(row, profile.l2))
    return t


@functools.lru_cache(maxsize=4096)
def _traffic_records(spec) -> tuple[dict[str, Any], ...]:
    """``traffic_table(spec)`` as records, once per distinct spec (specs are frozen dataclasses).

    Why: a network repeats its layer specs (ResNet-50's blocks, VGG's convs) and ``latency-eval
    --networks`` predicts every network twice (fitted and roofline); the pandas table took ~28 ms
    a layer, 39 s of the evaluation's 46 networks (AMD EPYC Zen 3 VM, 2026-12-07)."""
    return tuple(traffic_table(spec).to_dict("records"))


def op_rows(spec, batch: int = 1) -> list[dict[str, Any]]:
    """The traffic table of ``spec`` as dicts, activations and MACs scaled to ``batch``, each row
    with the weight bytes of the whole design (``weight_set_bytes``, for ``Peaks.cold_s_per_byte``).

    Weights are read once per call whatever the batch; activations and MACs scale with it.
    The rows are the caller's own (copies of the cached table's records).
    """
    try:
        records = _traffic_records(spec)
    except TypeError:  # a spec with an unhashable field: no cache
        records = tuple(traffic_table(spec).to_dict("records"))
    rows = [dict(record) for record in records]
    weight_set = spec.dtype_bytes * sum(row["params"] for row in rows)
    for row in rows:
        row["weight_set_bytes"] = weight_set  # the weights one call cycles through the caches
        if batch != 1:
            for col in ("macs", "elem", "reads", "writes"):
                row[col] = row[col] * batch
            row["mem_bytes"] = spec.dtype_bytes * (row["reads"] + row["writes"] + row["params"])
    return rows


def compose(op_seconds: list[float], profile: Profile, refined: bool = True, design: str | None = None,
            in_network: bool = False) -> float:
    """A design from its ops: factor(design) * (call + scale * sum + per_op_s * (ops - 1))
    (refined, with a fitted composition), else call + sum; ``in_network``: the design's factor
    as a network's layer (``Composition.factor``)."""
    total = sum(op_seconds)
    comp = profile.composition if refined else None
    if comp is None:
        return profile.peaks.call_overhead_s + total
    total = comp.scale * total + comp.per_op_s * max(0, len(op_seconds) - 1)
    return comp.factor(design, in_network) * (profile.peaks.call_overhead_s + total)


def predict_spec(spec, profile: Profile, batch: int = 1, refined: bool = True) -> float:
    """Predicted seconds per call of ``spec.module()``.

    Roofline: container call + sum of its ops. Refined, with a fitted "composition" curve:
    container call + scale * sum of its ops + per_op_s * (number of ops - 1), because a chain of ops
    runs slower than its ops timed alone (each op is one more Python module call and dispatch,
    and the intermediates of a chain compete for the cache).
    """
    return compose([predict_op(r, profile, refined) for r in op_rows(spec, batch)], profile, refined, spec.name)


def predict_table(spec, profile: Profile, batch: int = 1):
    """Per-op predictions (roofline and refined, microseconds) beside MACs, bytes, intensity."""
    import pandas as pd

    rows = []
    for r in op_rows(spec, batch):
        rows.append({"op": r["op"], "class": latency_class(r), "macs": r["macs"], "mem_bytes": r["mem_bytes"],
                     "intensity": r["intensity"], "roofline_us": 1e6 * predict_op(r, profile, False),
                     "predicted_us": 1e6 * predict_op(r, profile, True)})
    return pd.DataFrame(rows)
