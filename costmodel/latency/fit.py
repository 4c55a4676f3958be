"""Fitting the latency curves to timed training ops: efficiency curves of MAC ops
(``scipy.optimize.least_squares`` on the log error, ridge chosen by 4-fold cross-validation),
non-negative lines of elementwise ops (``scipy.optimize.nnls``), the neighbour correction
(leave-one-out) and the composition of ops into designs (``least_squares`` with a robust loss).

Inputs are pandas frames of op rows with a ``measured_s`` column (``calibrate.training_sweep``);
outputs are the typed records of ``costmodel.latency.profile``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .features import (CONV_FEATURES, FEATURES, POOL_KINDS, POOLED, WEIGHT_BYTES, column_bucket, conv_features, curve_key, kernel_taps,
                       gemm_columns, pool_window_key, kernel_mean, neighbour_x, regressor_x, weight_bound_regime)
from .profile import MIN_BUCKET_OPS, REGRESSORS, Composition, EfficiencyCurve, Neighbours, Profile, Regressor, StreamCurve, fit_tree

RIDGES = (1e-3, 1e-2, 1e-1, 1.0)
"""Ridge strengths tried for each efficiency curve; 4-fold cross-validation picks one, so a
curve with few training points keeps its coefficients small instead of extrapolating wildly."""

SCALE_RANGE = (0.8, 1.25)
"""A composition scale outside this range means the op curves are off, not the composition."""


ROBUST_SCALE: float | None = 0.05
"""The efficiency-curve fits pass every residual through scipy's soft-L1 loss of this scale
(``robust_residuals``; None: plain least squares). On the ops' log errors it is squared up to
~5% and grows linearly beyond, so one odd training op cannot bend a whole curve; on the ridge
residuals sqrt(ridge) * b it makes the penalty quadratic for small coefficients and linear
(lasso-like) for large ones. Measured (2-core Intel Xeon VM, 2026-12-06): one 96 -> 2048 7x7
conv at 7 x 7 pixels (38 MB of weights, 20 GMAC/s against the 87 GMAC/s peak) taught the plain
least-squares dense/oneDNN curve that efficiency falls with output channels, and VGG-16's
512 -> 512 convs at 14 px were predicted up to 64% slow. 5-fold cross-validation over three
calibration sweeps put 57.1-57.9% of the training ops within ±10% with plain least squares,
57.3-61.1% with the loss on the log errors only, and 59.2-62.4% with it on both (README)."""


def robust_residuals(r: np.ndarray, scale: float | None = ROBUST_SCALE) -> np.ndarray:
    """Residuals whose half squares sum to scipy's soft-L1 cost of ``r``:
    sign(r) * scale * sqrt(2 * (sqrt(1 + (r / scale)^2) - 1)), about r while |r| << scale and
    about sign(r) * sqrt(2 * scale * |r|) beyond it; ``r`` itself where ``scale`` is None."""
    if scale is None:
        return r
    # r * sqrt(2 / (q + 1)) with q = sqrt(1 + (r / scale)^2): the same value, with no 0/0 at r = 0
    return r * np.sqrt(2.0 / (np.sqrt(1.0 + (r / scale) ** 2) + 1.0))


def robust_slope(r: np.ndarray, scale: float | None = ROBUST_SCALE) -> np.ndarray:
    """d robust_residuals(r) / dr = sqrt((q + 1) / 2) / q with q = sqrt(1 + (r / scale)^2): 1 at
    r = 0, falling as 1 / sqrt(2 |r| / scale) far out; 1 everywhere where ``scale`` is None."""
    if scale is None:
        return np.ones_like(r)
    q = np.sqrt(1.0 + (r / scale) ** 2)
    return np.sqrt((q + 1.0) / 2.0) / q


LOG_TERMS = 3
"""Leading entries of an efficiency curve's theta that are logs of positive terms: the overhead,
the cost per byte moved and the cost per weight byte."""


PER_GROUP_CLASSES = ("group",)
"""Conv classes whose curves also pay a cost per group (``s_per_group``): their kernels loop over
the groups (ATen's 1x1 grouped conv, oneDNN's GEMM per group), and at a few output pixels that
loop is the time. Measured (Intel Xeon VM, 2026-12-06): a 576 -> 64 1x1 conv in 64 groups ran
167 us at 7 x 7 (2.6 us a group) and was predicted 88 us by the efficiency law alone. Other
classes have one group (dense: the same as the overhead) or one per channel (depthwise: the
bytes term), so they do not get the term."""


def efficiency_time(theta: np.ndarray, x: np.ndarray, macs: np.ndarray, nbytes: np.ndarray,
                    wbytes: np.ndarray, peak: float, groups: np.ndarray | None = None) -> np.ndarray:
    """overhead + s_per_byte * bytes + s_per_weight_byte * weight bytes [+ s_per_group * groups]
    + MACs / (peak * exp(x . b)); theta = (log o, log s, log s_w, [log s_g,] b...), the per-group
    term present when ``groups`` is given."""
    return efficiency_terms(theta, x, macs, nbytes, wbytes, peak, groups).sum(axis=1)


LOG_CLIPS = ((-60.0, 10.0), (-80.0, 10.0), (-80.0, 10.0), (-80.0, 10.0))
"""Clips of the log terms of theta (overhead, per byte, per weight byte, per group) before exp:
a wild trial step of the optimizer gives a huge but finite time, which it then rejects."""


def efficiency_terms(theta: np.ndarray, x: np.ndarray, macs: np.ndarray, nbytes: np.ndarray,
                     wbytes: np.ndarray, peak: float, groups: np.ndarray | None = None) -> np.ndarray:
    """The additive parts of ``efficiency_time``, one column each: overhead, bytes, weight bytes,
    [groups,] MACs. Each log term's column is also its derivative by its theta entry, and
    -x[:, j] * the MAC column the derivative by the j-th efficiency coefficient
    (``efficiency_jacobian``)."""
    logs = LOG_TERMS + (groups is not None)
    n = len(macs)
    scales = [np.ones(n), nbytes, wbytes] + ([groups] if groups is not None else [])
    with np.errstate(over="ignore", under="ignore"):
        parts = [np.exp(np.clip(theta[i], *LOG_CLIPS[i])) * scales[i] for i in range(logs)]
        parts.append(macs / (peak * np.exp(np.clip(x @ theta[logs:], -50, 50))))
    return np.stack(parts, axis=1)


def efficiency_jacobian(theta: np.ndarray, x: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """d log(efficiency_time) / d theta per op (rows), from its ``efficiency_terms``: a log
    term's share of the time for its entry (0 where the clip holds it), -x * the MAC share for
    the efficiency coefficients (0 where their clip holds). Analytic, so ``least_squares`` needs
    no finite differences: with them, ``fit_curves(regressors=False)`` on run S17's 384 training
    ops took 17.9 s, 5.3 s with this (AMD EPYC 7xx3 VM, 2026-12-07; same curves, ridges and CV
    errors but the class-level "group" curve's), and the time saved goes to measuring."""
    logs = terms.shape[1] - 1
    share = terms / terms.sum(axis=1, keepdims=True)
    held = [not LOG_CLIPS[i][0] < theta[i] < LOG_CLIPS[i][1] for i in range(logs)]
    log_part = np.where(held, 0.0, share[:, :logs])
    eff = x @ theta[logs:]
    mac = np.where((eff > -50) & (eff < 50), share[:, logs], 0.0)
    return np.concatenate([log_part, -x * mac[:, None]], axis=1)


def fit_efficiency(frame, cls: str, peak: float, l2: int) -> EfficiencyCurve:
    """The efficiency curve of ``fit_efficiency_at`` with the ridge chosen by 4-fold CV."""
    if len(frame) < 12:
        return fit_efficiency_at(frame, cls, peak, l2, RIDGES[-1])
    folds = np.arange(len(frame)) % 4
    best = None
    for ridge in RIDGES:
        errs = []
        for k in range(4):
            curve = fit_efficiency_at(frame[folds != k], cls, peak, l2, ridge, max_nfev=40)
            test = frame[folds == k]
            pred = np.array([curve.seconds(r, peak, l2) for r in test.to_dict("records")])
            errs.append(np.log(pred / test["measured_s"].to_numpy(float)) ** 2)
        err = float(np.mean(np.concatenate(errs)))
        if best is None or err < best[0]:
            best = (err, ridge)
    curve = fit_efficiency_at(frame, cls, peak, l2, best[1])
    return dataclasses.replace(curve, ridge=best[1],
                               cv_median_abs_pct=float(100 * (np.exp(np.sqrt(best[0])) - 1)))


MIN_FEATURE_SUPPORT = 3
"""Training ops of a curve that must differ from the rest in a feature for it to get a
coefficient (``supported_features``)."""


def supported_features(names: tuple[str, ...], feats: list[dict[str, float]],
                       min_support: int = MIN_FEATURE_SUPPORT) -> tuple[str, ...]:
    """The features of ``names`` on which at least ``min_support`` of the training ops
    (``feats``: their ``conv_features``) differ from the median op; the others get no
    coefficient (0).

    Why: a feature that only one or two training ops have fits their own quirk. A dense/gemm curve
    (AMD EPYC VM, 2026-12-06, runs P14 and P21) had two stride-2 ops among 22-23, one of them a
    16 -> 192 3x3 conv on 2 x 2 pixels at 1 GMAC/s: the stride coefficient came out -1.7 to -1.8,
    and every stride-2 conv on that kernel was predicted 5-6x its time (a Reduce layer's
    64 -> 512 3x3: 2.4 ms against 0.57 ms measured)."""
    out = []
    for name in names:
        values = np.array([f[name] for f in feats], dtype=float)
        if values.size and int(np.sum(np.abs(values - np.median(values)) > 1e-9)) >= min_support:
            out.append(name)
    return tuple(out)


def fit_efficiency_at(frame, cls: str, peak: float, l2: int, ridge: float = 1e-3,
                      max_nfev: int | None = None) -> EfficiencyCurve:
    """Fit overhead + s_per_byte * bytes + s_per_weight_byte * weight bytes
    + MACs / (peak * exp(b . features)) to the measured times: the log errors (relative errors)
    and the ridge residuals sqrt(ridge) * b, all under the soft-L1 loss of ``ROBUST_SCALE``
    (``robust_residuals``).

    Why a weight term of its own: an fp32 oneDNN conv reorders its weights into the blocked
    layout on every eager call, so a conv with large weights on a small image (VGG's 512 x 512
    3x3 at 7 x 7, a 1x1 conv to 2048 channels at 4 x 4) pays per weight byte, not per MAC.

    Group-class curves (``PER_GROUP_CLASSES``) add ``s_per_group * groups``.

    Start: the log-efficiency least-squares fit with a small overhead; then
    ``scipy.optimize.least_squares`` (trust region, numerical Jacobian; tens of points and at
    most ~20 parameters). The overhead and the byte cost are fitted through their logs, so they
    stay positive.
    """
    from scipy.optimize import least_squares

    feats = [conv_features(r, l2) for r in frame.to_dict("records")]
    names = supported_features(FEATURES[cls], feats)
    x = np.array([[1.0] + [f[n] for n in names] for f in feats])
    t = frame["measured_s"].to_numpy(float)
    macs = frame["macs"].to_numpy(float)
    nbytes = frame["mem_bytes"].to_numpy(float)
    wbytes = WEIGHT_BYTES * frame["params"].to_numpy(float)
    groups = frame["groups"].fillna(1).to_numpy(float) if cls in PER_GROUP_CLASSES else None
    logs = LOG_TERMS + (groups is not None)
    shrink = np.sqrt(ridge) * np.ones(x.shape[1])
    shrink[0] = 0.0  # the constant is not shrunk

    def raw(theta: np.ndarray, terms: np.ndarray) -> np.ndarray:
        return np.concatenate([np.log(terms.sum(axis=1) / t), shrink * theta[logs:]])

    def terms_of(theta: np.ndarray) -> np.ndarray:
        return efficiency_terms(theta, x, macs, nbytes, wbytes, peak, groups)

    def residuals(theta: np.ndarray) -> np.ndarray:
        return robust_residuals(raw(theta, terms_of(theta)), ROBUST_SCALE)

    # d(ridge residual) / d theta: constant, zero on the log terms
    ridge_rows = np.zeros((len(shrink), logs + len(shrink)))
    ridge_rows[:, logs:] = np.diag(shrink)

    def jacobian(theta: np.ndarray) -> np.ndarray:
        terms = terms_of(theta)  # once for both the slope of the loss and the model's derivative
        jac = np.concatenate([efficiency_jacobian(theta, x, terms), ridge_rows])
        return robust_slope(raw(theta, terms), ROBUST_SCALE)[:, None] * jac

    overhead = 0.3 * t.min()
    y = np.log(macs / (peak * (t - overhead)))
    reg = ridge * np.diag(shrink > 0) * len(t)
    coef = np.linalg.solve(x.T @ x + reg, x.T @ y)
    starts = [np.log(overhead), np.log(1e-14), np.log(1e-14)] + ([np.log(1e-9)] if groups is not None else [])
    theta = least_squares(residuals, np.concatenate([starts, coef]), jac=jacobian, method="trf", x_scale="jac",
                          max_nfev=max_nfev).x
    pred = efficiency_time(theta, x, macs, nbytes, wbytes, peak, groups)
    log_eff = x @ theta[logs:]  # each training op's fitted log efficiency: the range it may be used in
    return EfficiencyCurve(overhead_s=float(np.exp(theta[0])), s_per_byte=float(np.exp(theta[1])),
                           s_per_weight_byte=float(np.exp(theta[2])),
                           s_per_group=float(np.exp(np.clip(theta[LOG_TERMS], -80, 10))) if groups is not None else 0.0,
                           n=int(len(t)), coef={"const": float(theta[logs]), **{n: 0.0 for n in FEATURES[cls]},
                                                **{n: float(b) for n, b in zip(names, theta[logs + 1:])}},
                           train_median_abs_pct=float(100 * np.median(np.abs(pred / t - 1))),
                           log_eff_range=(float(log_eff.min()), float(log_eff.max())))


MIN_STREAMED_OPS = 3
"""Weight-bound training ops a weight-streaming rate needs (per curve, and per regime: one GEMM
column or 2-16)."""


def fit_weight_rates(frame, l2: int) -> tuple[dict[str, Any], np.ndarray]:
    """The weight-streaming rates of one curve and the rows they predict.

    ``streamed``: every corner row as (column bucket, weight bytes, measured / weight bytes,
    kernel taps), the
    points ``profile.streamed_rate`` predicts from where a bucket has MIN_BUCKET_OPS of them
    (the rate depends on the column count on some CPUs, and on the weights' size beyond the
    last-level cache); the regime medians below are the fallback.

    s_per_streamed_weight_byte = median(measured / weight bytes) over the rows in the
    weight-bound corner (``features.weight_bound_regime``) on 2-16 GEMM columns;
    s_per_streamed_weight_byte_gemv the same over those on one column (a matrix-vector product,
    which reads each weight once: measured on the Intel Xeon VM, 2026-12-06, 43-63 ps per weight
    byte against 78-111 for the same convs on 2 x 2 pixels and more). A regime with fewer than
    MIN_STREAMED_OPS such rows gets no median (0); its rows stay with the curve unless their
    column bucket has MIN_BUCKET_OPS points (``profile.streamed_rate`` predicts them). The returned
    mask marks the rows a rate now predicts: the efficiency curve is fitted without them, since
    its additive terms cannot bend to a second law without bending for every op.
    """
    records = frame.to_dict("records")
    regime = np.array([weight_bound_regime(r, l2) or "" for r in records])
    weights = WEIGHT_BYTES * np.maximum(1.0, frame["params"].to_numpy(float))
    rate = frame["measured_s"].to_numpy(float) / weights
    rates: dict[str, Any] = {}
    predicted = np.zeros(len(frame), bool)
    for name, which in (("s_per_streamed_weight_byte", "gemm"), ("s_per_streamed_weight_byte_gemv", "gemv")):
        rows = regime == which
        if rows.sum() >= MIN_STREAMED_OPS:
            rates[name] = float(np.median(rate[rows]))
            predicted |= rows
    corner = regime != ""
    bucket = np.array([column_bucket(gemm_columns(r)) if c else 0 for r, c in zip(records, corner)])
    points = tuple((int(bucket[i]), float(weights[i]), float(rate[i]), kernel_taps(records[i]))
                   for i in np.flatnonzero(corner))
    if points:
        rates["streamed"] = points
        counts = {b: int((bucket[corner] == b).sum()) for b in set(bucket[corner])}
        predicted |= np.array([c and counts[b] >= MIN_BUCKET_OPS for b, c in zip(bucket, corner)])
    return rates, predicted


def _fit_with_rates(frame, cls: str, peak: float, l2: int, regressors: bool = True,
                    residuals: bool = False) -> EfficiencyCurve:
    """The efficiency curve of ``frame`` (with its residual model when ``residuals``), fitted on
    the rows no weight-streaming rate predicts (on all rows where fewer than 8 others are left),
    and those rates (``fit_weight_rates``)."""
    rates, predicted = fit_weight_rates(frame, l2)
    rest = frame[~predicted] if (~predicted).sum() >= 8 else frame
    curve = fit_efficiency(rest, cls, peak, l2)
    if residuals:
        curve = _with_neighbours(curve, rest, peak, l2, regressors)
    return dataclasses.replace(curve, **rates)


def fit_stream(frame, l2: int) -> StreamCurve:
    """Fit overhead + s_per_byte * bytes + s_per_spill_byte * (bytes beyond L2) + s_per_op * elem
    by least relative squares with no negative coefficient (``scipy.optimize.nnls`` on the
    columns divided by the measured time)."""
    from scipy.optimize import nnls

    t = frame["measured_s"].to_numpy(float)
    cols = {"overhead_s": np.ones_like(t), "s_per_byte": frame["mem_bytes"].to_numpy(float),
            "s_per_spill_byte": np.maximum(0.0, frame["mem_bytes"].to_numpy(float) - l2),
            "s_per_op": frame["elem"].to_numpy(float)}
    a = np.stack([c / t for c in cols.values()], axis=1)
    # scale each column to unit norm so nnls sees a well-conditioned problem (bytes ~1e6, ones ~1)
    norms = np.where(np.linalg.norm(a, axis=0) > 0, np.linalg.norm(a, axis=0), 1.0)
    scaled, _ = nnls(a / norms, np.ones_like(t))
    coef = dict(zip(cols, (scaled / norms).tolist()))
    pred = sum(coef[k] * cols[k] for k in cols)
    return StreamCurve(**coef, n=int(len(t)),
                       train_median_abs_pct=float(100 * np.median(np.abs(pred / t - 1))))


MIN_WINDOW_OPS = 1
"""Training ops a pool window's line (``fit_window_line``) needs: one fixes its rate, and the
plan's lead times each window once (``sampler.stream_items``) however early the budget runs out."""


def fit_window_line(frame, overhead_s: float) -> StreamCurve:
    """overhead_s (the profile's call overhead) + s_per_op * elem for the ops of ONE pool window
    (``features.pool_window_key``): a window costs a fixed time per comparison (or add), whatever
    the bytes; s_per_op is the median over the ops of (t - overhead_s) / elem.

    Why the overhead is not fitted: two training pools of the same size (a calibration on the
    AMD EPYC VM, 2026-12-06) left a fitted overhead + slope undetermined, and the least-squares
    answer put all of it in the overhead: every 2x2 pool at 2.1 ms, from 512 to 200k outputs."""
    t = frame["measured_s"].to_numpy(float)
    elem = frame["elem"].to_numpy(float)
    rates = np.maximum(t - overhead_s, 0.0) / np.maximum(elem, 1.0)
    per_op = float(np.median(rates))
    line = StreamCurve(overhead_s=overhead_s, s_per_byte=0.0, s_per_op=per_op, n=int(len(t)),
                       rate_points=window_rate_points(frame["mem_bytes"].to_numpy(float), rates))
    pred = np.array([line.seconds(r, 0.0, 0) for r in frame.to_dict("records")])
    return dataclasses.replace(line, train_median_abs_pct=float(100 * np.median(np.abs(pred / t - 1))))


POOL_SIZE_RATIO = 4.0
"""Bytes ratio between a window's smallest and largest training pools from which its rate per
element follows the size (``window_rate_points``)."""


def window_rate_points(nbytes: np.ndarray, rates: np.ndarray) -> tuple[tuple[float, float], ...]:
    """(bytes, seconds per element) of a pool window's training ops, the median rate of each size
    (sorted by bytes), where the sizes span POOL_SIZE_RATIO or more; else () (one rate).

    Why: a small pool runs faster per element than a large one (its input stays in the near
    caches). Measured (AMD EPYC VM, 2026-12-07): 2x2 max pools of 128 x 16 x 16, 256 x 8 x 8 and
    512 x 4 x 4 inside VGG-16-CIFAR ran 84, 38 and 24 us alone, and the window's one rate,
    5.3 ns per element from its 1-2 MB training pools, said 175, 89 and 46 us."""
    if len(nbytes) < 2 or nbytes.max() < POOL_SIZE_RATIO * nbytes.min():
        return ()
    sizes = np.unique(nbytes)
    return tuple((float(b), float(np.median(rates[nbytes == b]))) for b in sizes)


def fit_neighbours(sub, curve: EfficiencyCurve | StreamCurve, peak: float, l2: int) -> Neighbours | None:
    """The residual correction of one curve: its training ops' log(measured / curve), smoothed
    with a Gaussian kernel of width tau (in doublings) and prior weight w0, both chosen by
    leave-one-out. A local refinement: ops like no training op get no correction."""
    if len(sub) < 10:
        return None
    rows = sub.to_dict("records")
    x = np.array([neighbour_x(r, l2) for r in rows])
    timed = np.array([curve.seconds(q, peak, l2) for q in rows])
    r = np.log(sub["measured_s"].to_numpy(float) / timed)
    best = None
    for tau in (0.25, 0.5, 1.0):
        for w0 in (0.1, 0.5, 2.0):
            err = float(np.mean((r - kernel_mean(x, r, x, tau, w0, leave_one_out=True)) ** 2))
            if best is None or err < best[0]:
                best = (err, tau, w0)
    if best[0] >= float(np.mean(r ** 2)):
        return None  # the correction does not help on held-out training points
    return Neighbours(tau=best[1], w0=best[2], x=np.round(x, 4).tolist(), r=np.round(r, 5).tolist(),
                      loo_rms_before=float(np.sqrt(np.mean(r ** 2))), loo_rms_after=float(np.sqrt(best[0])))


TREE_PARAMS: dict[str, dict[str, Any]] = {
    "gradient_boosting": {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.08, "subsample": 0.8},
    "random_forest": {"n_estimators": 50, "min_samples_leaf": 2, "max_features": 0.6},
}
"""Hyperparameters of the per-kernel regressors (small ensembles: tens to hundreds of points)."""

MIN_REGRESSOR_POINTS = 24
"""A curve key needs this many training ops before a regressor is tried (5 folds of >= 4 test points)."""

REGRESSOR_MARGIN = 0.9
"""A regressor must cut the cross-validated rms log error to below this fraction of the
alternative's (the curve with its neighbour correction, or alone) to be kept."""


def cv_tree_rms(kind: str, x: np.ndarray, r: np.ndarray, folds: int = 5) -> float:
    """Root mean square of the out-of-fold errors of a tree ensemble predicting r from x."""
    fold = np.arange(len(r)) % folds
    err = np.empty(len(r))
    for k in range(folds):
        model = fit_tree(kind, TREE_PARAMS[kind], x[fold != k], r[fold != k])
        err[fold == k] = r[fold == k] - model.predict(x[fold == k])
    return float(np.sqrt(np.mean(err ** 2)))


def fit_regressor(sub, curve, peak: float, l2: int, baseline_rms: float) -> Regressor | None:
    """The best per-kernel regressor of the curve's log residuals, if it beats ``baseline_rms``
    (the cross-validated rms log error without one) by REGRESSOR_MARGIN; else None."""
    if len(sub) < MIN_REGRESSOR_POINTS:
        return None
    rows = sub.to_dict("records")
    x = np.array([regressor_x(q, l2) for q in rows])
    r = np.log(sub["measured_s"].to_numpy(float) / np.array([curve.seconds(q, peak, l2) for q in rows]))
    order = np.random.default_rng(0).permutation(len(r))  # folds not ordered by the sweep
    x, r = x[order], r[order]
    scores = {kind: cv_tree_rms(kind, x, r) for kind in REGRESSORS}
    kind = min(scores, key=scores.get)
    if scores[kind] >= REGRESSOR_MARGIN * baseline_rms:
        return None
    return Regressor(kind=kind, params=TREE_PARAMS[kind], x=np.round(x, 4).tolist(), r=np.round(r, 5).tolist(),
                     features=list(CONV_FEATURES),
                     cv_rms_curve=float(baseline_rms), cv_rms=float(scores[kind]))


def residual_model(curve) -> str:
    """Which residual model a fitted curve uses: a regressor kind, "neighbours" or "none"."""
    if getattr(curve, "regressor", None) is not None:
        return curve.regressor.kind
    return "neighbours" if getattr(curve, "neighbours", None) is not None else "none"


def _with_neighbours(curve, sub, peak: float, l2: int, regressors: bool = True):
    """``curve`` with its residual model: the neighbour correction when it helps in
    leave-one-out, replaced by a per-kernel regressor where one beats that in cross-validation."""
    nb = fit_neighbours(sub, curve, peak, l2)
    if nb is not None:
        curve = dataclasses.replace(curve, neighbours=nb)
    if regressors:
        rows = sub.to_dict("records")
        r = np.log(sub["measured_s"].to_numpy(float) / np.array([curve.seconds(q, peak, l2) for q in rows]))
        baseline = nb.loo_rms_after if nb is not None else float(np.sqrt(np.mean(r ** 2)))
        reg = fit_regressor(sub, curve, peak, l2, baseline)
        if reg is not None:
            curve = dataclasses.replace(curve, regressor=reg)
    return curve


MIN_CURVE_POINTS = 8
"""Fewest training ops of a conv class or class/backend key for its own efficiency curve; a key
with fewer falls back to its class's pooled curve (``predict.op_curve``), and the adaptive sweep
tops it up to this many (``sampler.adaptive_items``' ``needed``)."""


def fit_curves(frame, profile: Profile, regressors: bool = True) -> dict[str, EfficiencyCurve | StreamCurve]:
    """One curve per class and per class/backend key in the training frame (enough points each);
    per-key and elementwise curves also get a residual model when it helps (the neighbour
    correction, or with ``regressors`` a per-kernel regressor that beats it in CV)."""
    curves: dict[str, Any] = {}
    l2 = profile.l2
    frame = frame[(frame["macs"] > 0) | ~frame["cls"].isin(list(FEATURES))]  # a MAC curve needs MACs
    frame = frame.assign(curve=[curve_key(r, profile.device) for r in frame.to_dict("records")])
    for cls, part in frame.groupby("cls"):
        cls = str(cls)
        peak = profile.peaks.peak(cls)
        if cls in FEATURES:
            if len(part) >= MIN_CURVE_POINTS:
                curves[cls] = _fit_with_rates(part, cls, peak, l2)
            for key, sub in part.groupby("curve"):
                if key != cls and len(sub) >= MIN_CURVE_POINTS:
                    curves[str(key)] = _fit_with_rates(sub, cls, peak, l2, regressors, residuals=True)
        elif len(part) >= 3:
            curves[cls] = _with_neighbours(fit_stream(part, l2), part, peak, l2, regressors)
        if cls in POOL_KINDS:
            for key, sub in part.groupby(part.apply(lambda r: pool_window_key(r.to_dict()), axis=1)):
                if len(sub) >= MIN_WINDOW_OPS:
                    curves[str(key)] = fit_window_line(sub, profile.peaks.call_overhead_s)
    pooled = frame[frame["cls"].isin(POOLED)]
    if len(pooled) >= 3:
        curves["elementwise"] = fit_stream(pooled, l2)
    return curves


def fit_composition(frame, profile: Profile, extra=None, network_extra=None) -> Composition | None:
    """scale and per_op_s of ``t - call = scale * sum_ops + per_op_s * (n_ops - 1)``.

    A chain of ops runs a little slower than its ops timed alone (scale), and each op after the
    first adds a fixed dispatch cost (per_op_s >= 0). Fitted robustly on the relative error
    (``least_squares`` on the curves' ``robust_residuals``: soft-L1 of scale ``ROBUST_SCALE``,
    quadratic within ~5%, linear beyond), because a few designs run hidden work that their op list does
    not show (e.g. copies of sliced inputs) and must not set the constants for all. None with
    fewer than 5 designs.

    Why not a smaller scale: at 1e-4 the loss was least absolute error, whose two-parameter
    solution sits on a vertex set by two designs and jumped between vertices from one
    calibration to the next. Refitted from five saved calibrations (AMD EPYC VM, runs Q1-Q5,
    2026-12-06), (scale, per-op cost) came out 1.02-1.11 and 2.2-8.2 us at 1e-4, 1.04-1.06 and
    6.0-7.4 us at 0.05; over six runs (Q1-Q5, P22) held-out layers within ±10% moved by -1 to
    +6 points (71-83% to 72-84%) and networks by 0 to +13 (61-85% to 67-85%).

    Then each design's own factor (``design_factors``) from the rows of ``frame`` and ``extra``
    (more configs of the same designs, e.g. network-sized ones, which do not move the law) of
    that design: measured / composed; and with ``network_extra`` (the training networks'
    layers), each design's factor as a network's layer (``network_factors``) from all three.

    Why two sets: the training networks have many distinct layers of a few designs, and in one
    median they outvote the random configs. Measured over eight calibrations (2-core Intel Xeon
    VM, 2026-12-06), held-out layers within ±10% (drift-corrected): 60-74% (mean 65.5%) with
    the networks' layers in the factors, 62-74% (mean 68.6%) without them.
    """
    import pandas as pd
    from scipy.optimize import least_squares

    if len(frame) < 5:
        return None
    t = frame["measured_s"].to_numpy(float) - profile.peaks.call_overhead_s
    a = np.stack([frame["sum_ops_s"].to_numpy(float),
                  np.maximum(frame["n_ops"].to_numpy(float) - 1, 0)], axis=1) / t[:, None]
    # per_op_s is fitted in microseconds so both unknowns are of order 1
    units = np.array([1.0, 1e-6])
    fit = least_squares(lambda c: robust_residuals((a * units) @ c - 1.0), np.array([1.0, 0.0]),
                        bounds=([0.0, 0.0], [np.inf, np.inf]), x_scale=1.0)
    coef = fit.x * units
    if not SCALE_RANGE[0] <= coef[0] <= SCALE_RANGE[1]:
        coef = np.array([1.0, _median_per_op_cost(a, t)])
    call = profile.peaks.call_overhead_s
    measured = frame["measured_s"].to_numpy(float)
    pred = (a @ coef) * t + call
    factors: dict[str, float] = {}
    network_factors: dict[str, float] = {}
    if "design" in frame:
        def factors_of(*parts) -> dict[str, float]:
            rows = pd.concat([p for p in parts if p is not None and len(p)], ignore_index=True)
            law = call + coef[0] * rows["sum_ops_s"].to_numpy(float) + coef[1] * np.maximum(rows["n_ops"].to_numpy(float) - 1, 0)
            return design_factors(rows["design"], rows["measured_s"].to_numpy(float) / law)

        factors = factors_of(frame, extra)
        if network_extra is not None and len(network_extra):
            network_factors = factors_of(frame, extra, network_extra)
        pred = pred * np.array([factors.get(d, 1.0) for d in frame["design"]])
    return Composition(scale=float(coef[0]), per_op_s=float(coef[1]), n=int(len(t)),
                       train_median_abs_pct=float(100 * np.median(np.abs(pred / measured - 1))),
                       design_factors=factors, network_factors=network_factors)


FACTOR_RANGE = (0.5, 2.0)
"""A design's factor is clipped to this range: beyond it the op list itself is wrong."""


def design_factors(designs, ratios: np.ndarray) -> dict[str, float]:
    """Each design's factor: exp(n / (n + 1) * median log(measured / composed)) over its n
    configs in the composition sweep (shrunk toward 1, so one config moves it only halfway),
    clipped to FACTOR_RANGE. A design whose op list shows all its work gets a factor near 1;
    one that runs hidden work (DGC's index building, SPConv's slice copies) gets its ratio."""
    import pandas as pd

    logs = pd.Series(np.log(ratios), index=list(designs))
    out = {}
    for design, values in logs.groupby(level=0):
        n = len(values)
        out[str(design)] = float(np.clip(np.exp(n / (n + 1) * float(np.median(values))), *FACTOR_RANGE))
    return out


def _median_per_op_cost(a: np.ndarray, t: np.ndarray) -> float:
    """The op curves themselves are off (too small a training sweep): scale 1 and the per-op
    cost as the weighted median (weights: extra ops / time) of each design's implied cost
    (t - sum_ops) / (ops - 1)."""
    extra, sums = a[:, 1] * t, a[:, 0] * t
    keep = extra > 0
    if not keep.any():
        return 0.0
    implied = (t[keep] - sums[keep]) / extra[keep]
    weight = extra[keep] / t[keep]
    order = np.argsort(implied)
    cumulative = np.cumsum(weight[order])
    return max(0.0, float(implied[order][np.searchsorted(cumulative, cumulative[-1] / 2)]))
