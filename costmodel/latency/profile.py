"""The latency profile of one device, as typed records with a JSON round trip.

A profile holds the calibrated roofline ``Peaks`` (``costmodel calibrate`` measures them), the
fitted per-key curves (``EfficiencyCurve`` for MAC ops, ``StreamCurve`` for elementwise ops, each
optionally with a ``Neighbours`` residual correction) and the ``Composition`` of ops into a design.
Each curve record evaluates itself (``seconds``); fitting is in ``costmodel.latency.fit``.

The file is a small JSON per device, thread count and batch (each its own profile key), by default
``~/.cache/costmodel/<device>-t<threads>.json`` (batch 1) or ``...-t<threads>-b<batch>.json``. A missing or corrupt profile raises
``ProfileError`` (a ValueError, so the CLI prints one line) that tells the user to run
``costmodel calibrate``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import types
import typing
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..core.spec import short_repr
from .features import (L2_BYTES_DEFAULT, SQUARE_FEATURES, WEIGHT_BYTES, TIME_GROUPS, cache_sizes, conv_features, cpu_flags, kernel_mean, neighbour_x, regressor_x,
                       column_bucket, gemm_columns, kernel_taps, vector_lanes, weight_bound_regime)

SCHEMA = 1
PEAK_KEYS = ("dense_macs_per_s", "depthwise_macs_per_s", "bandwidth_bytes_per_s", "call_overhead_s")


class ProfileError(ValueError):
    """A latency profile is missing, unreadable or for another device."""


def _known(cls, data: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that are fields of dataclass ``cls`` (older/newer keys ignored)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class Peaks:
    """Roofline numbers of one device: MAC/s of dense and depthwise convs, bytes/s, seconds per
    empty container call, and the per-core L2 size (bytes)."""

    dense_macs_per_s: float
    depthwise_macs_per_s: float
    bandwidth_bytes_per_s: float
    call_overhead_s: float
    l2_bytes: float = float(L2_BYTES_DEFAULT)
    # per column bucket, (weight bytes cycled per call, seconds per weight byte) of chains of
    # weight-bound convs (``calibrate.weight_set_curves``); empty in older profiles and off the CPU
    weight_set_curves: dict[int, tuple[tuple[float, float], ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # frozen: JSON gives string keys and lists of lists
        object.__setattr__(self, "weight_set_curves", {int(b): tuple((float(w), float(r)) for w, r in points)
                                                       for b, points in self.weight_set_curves.items()})

    def cold_s_per_byte(self, working_set: float, own: float, bucket: int) -> float:
        """Seconds per weight byte that a weight-bound op on ``bucket`` GEMM columns
        (``features.column_bucket``) with ``own`` weight bytes adds when a call cycles
        ``working_set`` bytes of weights through the caches: g(working_set) - g(own), g the
        bucket's ``weight_set_curves`` entry made non-decreasing and interpolated in log2 bytes
        (flat beyond its ends); 0 where the working set is no more than the op's own weights, or
        the bucket has no curve.

        Why: a training op timed alone in a hot loop finds its weights where its last call left
        them; in a block or network whose convs together hold more weights than the last-level
        cache keeps, each conv fetches its weights from memory. How much that costs depends on
        the GEMM kernel, so per bucket. Measured (AMD EPYC VM, 32 MiB L3 shared with other
        tenants, 2026-12-07, 1 thread), 1024 -> 1024 1x1 convs (4 MiB each), one alone against
        twelve in turn: on 4 x 4 pixels 113 -> 154 ps per weight byte, on 2 x 2 360 -> 420, on
        3 x 3 400 -> 405 (that kernel hides the fetch). ResNet-50's stage-4 entry block at
        112 px (23.6 MB of weights) ran 6.8 ms where its ops alone summed to 4.7 ms. Why added,
        not a factor: the fetch costs about the same per byte on 2 x 2 and 4 x 4 pixels, where
        the 4 x 4 chains' ratio (1.35x) put ResNet-50 at 64 px 8% slow."""
        points = self.weight_set_curves.get(int(bucket))
        if not points or working_set <= own or own <= 0:
            return 0.0
        sizes = np.log2([w for w, _ in points])
        rates = np.maximum.accumulate([r for _, r in points])
        return float(np.interp(math.log2(working_set), sizes, rates) - np.interp(math.log2(own), sizes, rates))

    def peak(self, cls: str) -> float:
        """MAC/s of a conv class: the depthwise peak for depthwise convs, the dense one otherwise."""
        return self.depthwise_macs_per_s if cls == "depthwise" else self.dense_macs_per_s

    @property
    def l2(self) -> int:
        return int(self.l2_bytes)


@dataclass(frozen=True)
class Neighbours:
    """A local residual correction: log(measured / curve) of the training ops at ``x`` (doublings,
    ``features.neighbour_x``), smoothed by a Gaussian of width ``tau`` and prior weight ``w0``."""

    tau: float
    w0: float
    x: list[list[float]]
    r: list[float]
    loo_rms_before: float = 0.0
    loo_rms_after: float = 0.0

    def correction(self, row: dict[str, Any], l2: int) -> float:
        """log(measured / curve) predicted for ``row`` from the training ops near it (0 far from all)."""
        at = np.array([neighbour_x(row, l2)])
        return float(kernel_mean(np.array(self.x), np.array(self.r), at, self.tau, self.w0)[0])


REGRESSORS = ("gradient_boosting", "random_forest")
"""scikit-learn tree ensembles tried per curve key (nn-Meter's per-kernel predictors)."""


@dataclass(frozen=True)
class Regressor:
    """A per-kernel residual regressor, kept where it beat the curve (and its neighbour
    correction) in cross-validation: log(measured / curve) of the training ops at ``x``
    (``features.regressor_x``) learnt by a scikit-learn tree ensemble ``kind`` with ``params``.
    The file stores the training points, not a pickle: the model is refitted (deterministic
    ``random_state``) on first use, in milliseconds."""

    kind: str
    params: dict[str, Any]
    x: list[list[float]]
    r: list[float]
    cv_rms_curve: float = 0.0
    cv_rms: float = 0.0
    features: list[str] | None = None  # the conv features of x (None: a profile from before the hinges)

    def model(self):
        """The fitted scikit-learn model (cached per record)."""
        return self._fitted()[1]

    def _fitted(self) -> tuple["Regressor", Any, dict[tuple[float, ...], float]]:
        """(self, the fitted model, its corrections so far by feature vector), cached per record."""
        key = id(self)
        found = _MODELS.get(key)
        if found is None or found[0] is not self:
            found = (self, fit_tree(self.kind, self.params, np.array(self.x), np.array(self.r)), {})
            _MODELS[key] = found
        return found

    def correction(self, row: dict[str, Any], l2: int) -> float:
        """log(measured / curve) predicted for ``row``; cached per feature vector (a network
        repeats its layers, and one scikit-learn call on one row costs about a millisecond)."""
        names = tuple(self.features) if self.features is not None else SQUARE_FEATURES
        x = tuple(regressor_x(row, l2, names))
        _, model, cache = self._fitted()
        if x not in cache:
            cache[x] = float(model.predict(np.array([x]))[0])
        return cache[x]


_MODELS: dict[int, tuple[Regressor, Any, dict[tuple[float, ...], float]]] = {}


def fit_tree(kind: str, params: dict[str, Any], x: np.ndarray, r: np.ndarray):
    """A scikit-learn ``GradientBoostingRegressor`` or ``RandomForestRegressor`` fitted to (x, r)."""
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

    if kind not in REGRESSORS:
        raise ValueError(f"regressor kind = {kind!r} is invalid: allowed is one of {', '.join(REGRESSORS)}")
    cls = GradientBoostingRegressor if kind == "gradient_boosting" else RandomForestRegressor
    return cls(random_state=0, **params).fit(x, r)


@dataclass(frozen=True)
class EfficiencyCurve:
    """t(op) = overhead_s + s_per_byte * mem_bytes + s_per_weight_byte * WEIGHT_BYTES * params
    + s_per_group * groups + MACs / (peak * exp(const + sum_i b_i * feature_i)); the features are
    ``features.conv_features`` (log2 sizes); ``coef`` maps feature name -> b_i. (Profiles written
    before the weight term load with s_per_weight_byte = 0.)"""

    overhead_s: float
    s_per_byte: float
    coef: dict[str, float]
    n: int = 0
    train_median_abs_pct: float = 0.0
    ridge: float | None = None
    cv_median_abs_pct: float | None = None
    neighbours: Neighbours | None = None
    regressor: Regressor | None = None
    log_eff_range: tuple[float, float] | None = None  # (min, max) log efficiency of the training ops
    s_per_weight_byte: float = 0.0
    s_per_group: float = 0.0  # fit.PER_GROUP_CLASSES only: kernels that loop over the groups
    s_per_streamed_weight_byte: float = 0.0  # weight-bound ops on 2-16 GEMM columns (0: none)
    s_per_streamed_weight_byte_gemv: float = 0.0  # the same on one column (matrix-vector)
    # the corner's training ops: (column bucket, weight bytes, seconds per weight byte, kernel
    # taps k * k_w; profiles written before the taps were kept have three entries: any kernel)
    streamed: tuple[tuple[int, float, float, int] | tuple[int, float, float], ...] = ()
    tag: ClassVar[str] = "efficiency"

    def weight_bound_seconds(self, row: dict[str, Any], l2: int) -> float:
        """An op in the weight-bound corner (``features.weight_bound_regime``: weights beyond L2
        on at most 16 GEMM columns): weight bytes x a streaming rate. The rate is the median of
        the (up to STREAMED_NEAREST) training ops of its column bucket (``features.column_bucket``)
        nearest in log weight bytes, where the bucket has at least MIN_BUCKET_OPS (a GEMV's rate
        grows once its weights leave the last-level cache); else s_per_streamed_weight_byte on
        2-16 columns, s_per_streamed_weight_byte_gemv on one. 0 outside the corner, or where this
        curve has no rate for the op (``fit.fit_weight_rates``)."""
        regime = weight_bound_regime(row, l2)
        if regime is None:
            return 0.0
        weights = WEIGHT_BYTES * row["params"]
        rate = streamed_rate(self.streamed, column_bucket(gemm_columns(row)), weights, kernel_taps(row))
        if rate is None:
            rate = self.s_per_streamed_weight_byte_gemv if regime == "gemv" else self.s_per_streamed_weight_byte
        return weights * rate

    def seconds(self, row: dict[str, Any], peak: float, l2: int) -> float:
        """The curve's time of one op row (seconds), without the neighbour correction.

        The log efficiency is clamped to the range the training ops had: a log-linear law
        extrapolated beyond its data (a size no training op had) can fall or climb without bound
        (seen: a 64->64 3x3 conv at 112x112 predicted at 5% of the dense peak, 19x its roofline,
        from a profile calibrated under load), while an unseen size runs like the nearest seen one."""
        feats = conv_features(row, l2)
        log_eff = self.coef["const"] + sum(b * feats[f] for f, b in self.coef.items() if f != "const")
        lo, hi = self.log_eff_range if self.log_eff_range is not None else (-50.0, 50.0)
        return (self.overhead_s + self.s_per_byte * row["mem_bytes"]
                + self.s_per_weight_byte * WEIGHT_BYTES * row["params"]
                + self.s_per_group * int(row.get("groups") or 1)
                + row["macs"] / (peak * math.exp(min(hi, max(lo, log_eff)))))


@dataclass(frozen=True)
class StreamCurve:
    """t(op) = overhead_s + s_per_byte * bytes + s_per_spill_byte * (bytes beyond L2) + s_per_op * elem
    (a pool window with ``rate_points``: its rate per element at the op's bytes instead of s_per_op)."""

    overhead_s: float
    s_per_byte: float
    s_per_spill_byte: float = 0.0
    s_per_op: float = 0.0
    n: int = 0
    train_median_abs_pct: float = 0.0
    neighbours: Neighbours | None = None
    regressor: Regressor | None = None
    # a pool window's (bytes moved, seconds per element) points (``fit.fit_window_line``): its
    # rate per element, interpolated in log2 bytes, instead of s_per_op; empty: s_per_op
    rate_points: tuple[tuple[float, float], ...] = ()
    tag: ClassVar[str] = "stream"

    def __post_init__(self) -> None:
        # frozen: JSON gives lists of lists
        object.__setattr__(self, "rate_points", tuple((float(b), float(r)) for b, r in self.rate_points))

    def per_op_s(self, nbytes: float) -> float:
        """Seconds per element of an op moving ``nbytes``: ``rate_points`` interpolated in log2
        bytes (flat beyond their ends), else s_per_op."""
        if not self.rate_points:
            return self.s_per_op
        return float(np.interp(math.log2(max(nbytes, 1.0)), [math.log2(b) for b, _ in self.rate_points],
                               [r for _, r in self.rate_points]))

    def seconds(self, row: dict[str, Any], peak: float, l2: int) -> float:
        """The line's time of one op row (seconds; ``peak`` unused: no MACs)."""
        spill = max(0.0, row["mem_bytes"] - l2)
        return (self.overhead_s + row["mem_bytes"] * self.s_per_byte + spill * self.s_per_spill_byte
                + row["elem"] * self.per_op_s(row["mem_bytes"]))


@dataclass(frozen=True)
class Composition:
    """t(design) = design_factors[design] * (call_overhead + scale * sum of its ops + per_op_s * (ops - 1)).

    ``design_factors``: a design's own factor (1 where it has none) for the work its op list does
    not show: hidden copies of channel slices, index building, gathers that run as several
    kernels (fitted per design on the composition sweep, ``fit.design_factors``).
    ``network_factors``: the same fitted with the training networks' layers too, for a layer
    inside a network (``factor(design, in_network=True)``; empty in older profiles, which then
    use ``design_factors``)."""

    scale: float
    per_op_s: float
    n: int = 0
    train_median_abs_pct: float = 0.0
    design_factors: dict[str, float] = field(default_factory=dict)
    network_factors: dict[str, float] = field(default_factory=dict)

    def factor(self, design: str | None, in_network: bool = False) -> float:
        """The design's factor (1 for an unknown design or none); ``in_network``: its factor as
        a network's layer (``network_factors``, else ``design_factors``)."""
        if not design:
            return 1.0
        if in_network and design in self.network_factors:
            return self.network_factors[design]
        return self.design_factors.get(design, 1.0)


@dataclass(frozen=True)
class NetworkComposition:
    """A layer inside a network: its time alone, split by the op group each part was predicted
    for (``features.TIME_GROUPS``: dense MAC kernels, depthwise kernels, elementwise/memory ops),
    each part scaled by its group's factor, plus ``per_layer_s`` (one more module call through
    the containers); fitted on training networks (``costmodel.latency.netfit``).

        t(layer in network) = scale_mac * t_mac + scale_depthwise * t_depthwise
                              + scale_elementwise * t_elementwise + per_layer_s
                              + s_per_weight_byte * min(weight bytes, weight_cap_bytes)

    Why per group: next to other layers, a compute-bound dense conv keeps its speed while a
    memory-bound depthwise conv or BN/ReLU finds its input evicted from cache, so one scale for
    all (the earlier model) predicted depthwise-heavy networks ~25% low and dense ones ~15% high.
    Why weight bytes: timed alone in a hot loop a layer finds its weights in its core's L2;
    inside a network the layers before it have evicted them, so it fetches them again. Only the
    bytes that fit in L2 count (``weight_cap_bytes``): a layer whose weights exceed L2 streams
    them from the shared cache or memory when alone too. Measured (Intel Xeon VM, 2 MiB L2 per
    core, 2026-12-06, 18 networks with every layer timed alone): the extra time of a network
    over its layers alone, fitted as a cost per layer + a cost per L2-capped weight byte, put
    all 18 within ±10% leave-one-out (78% within ±5%); with uncapped weight bytes 94% (61%),
    and VGG-16's 176-218 MB of weights were charged 5-7 ms it does not spend.
    ``weight_cap_bytes`` None (profiles saved before the cap): every weight byte counts."""

    scale_mac: float
    scale_depthwise: float
    scale_elementwise: float
    per_layer_s: float
    s_per_weight_byte: float = 0.0
    n: int = 0
    train_median_abs_pct: float = 0.0
    networks: list[str] = field(default_factory=list)
    weight_cap_bytes: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetworkComposition":
        """From its JSON object; a profile of the earlier one-scale form gives every group its scale
        (and keeps its weight-byte term)."""
        data = dict(data)
        if "scale" in data and "scale_mac" not in data:
            data.update(scale_mac=data["scale"], scale_depthwise=data["scale"], scale_elementwise=data["scale"])
        return cls(**_known(cls, data))

    def coefficients(self) -> np.ndarray:
        """(scale_mac, scale_depthwise, scale_elementwise, per_layer_s, s_per_weight_byte): the
        weights of ``netfit.layer_terms``."""
        return np.array([self.scale_mac, self.scale_depthwise, self.scale_elementwise, self.per_layer_s,
                         self.s_per_weight_byte])

    def layer_seconds(self, alone_by_group: dict[str, float], weight_bytes: float = 0.0) -> float:
        """Seconds of one layer inside a network, from its time alone split by op group and its
        weight bytes (capped at ``weight_cap_bytes``)."""
        return (float(self.coefficients()[:3] @ [alone_by_group.get(g, 0.0) for g in TIME_GROUPS])
                + self.per_layer_s + self.s_per_weight_byte * capped_weights(weight_bytes, self.weight_cap_bytes))

    def describe(self) -> str:
        """One line: the fitted law in microseconds."""
        return (f"a layer in a network = {self.scale_mac:.3f} x its dense-MAC time alone + {self.scale_depthwise:.3f} x "
                f"depthwise + {self.scale_elementwise:.3f} x elementwise + {self.per_layer_s * 1e6:.2f} us "
                f"+ {self.s_per_weight_byte * 1e12:.1f} ps per weight byte"
                + (f" (at most {self.weight_cap_bytes / 2**10:.0f} KiB, L2)" if self.weight_cap_bytes else ""))


def weight_rates_line(curves: dict[str, Any]) -> str:
    """The weight-streaming rates of the curves that have one, in ps per weight byte:
    "dense/gemm 96 (1 column: 53), pointwise/gemm 80"; "" where none has."""
    parts = []
    for key, c in sorted(curves.items()):
        if not isinstance(c, EfficiencyCurve):
            continue
        by_bucket = bucket_medians(c.streamed)
        if not (c.s_per_streamed_weight_byte or c.s_per_streamed_weight_byte_gemv or by_bucket):
            continue
        text = f"{key} {c.s_per_streamed_weight_byte * 1e12:.0f}" if c.s_per_streamed_weight_byte else key
        if c.s_per_streamed_weight_byte_gemv:
            text += f" (1 column: {c.s_per_streamed_weight_byte_gemv * 1e12:.0f})"
        if by_bucket:
            text += " [by columns: " + ", ".join(f"{b}: {r * 1e12:.0f}" for b, r in by_bucket.items()) + "]"
        parts.append(text)
    return (", ".join(parts) + " ps per weight byte") if parts else ""


MIN_BUCKET_OPS = 2
"""Training ops a column bucket needs before its own rate replaces the curve's regime rate."""

STREAMED_NEAREST = 3
"""Training ops of a column bucket whose median rate predicts an op (nearest in log weight bytes)."""


def streamed_rate(points, bucket: int, weight_bytes: float, taps: int = 0) -> float | None:
    """Seconds per weight byte of a weight-bound op: the median rate of the ``points`` (column
    bucket, weight bytes, rate, kernel taps) of ``bucket`` no farther from ``weight_bytes`` in log2
    than the STREAMED_NEAREST-th nearest (ties all count: training convs share weight sizes,
    512 x 2048 and 1024 x 1024 both 4 MiB, and the rate must not break them); None where the
    bucket has fewer than MIN_BUCKET_OPS points. Where MIN_BUCKET_OPS of the bucket's points have
    the op's kernel ``taps`` (k * k_w), only those count: on oneDNN a batched 3x3 conv streamed
    75-120 ps per weight byte where 5x5 convs on as many columns ran 113-240 (AMD EPYC VM,
    2026-12-06)."""
    same = [(w, r, t) for b, w, r, t in map(streamed_point, points) if int(b) == bucket]
    if taps and sum(t == taps for _, _, t in same) >= MIN_BUCKET_OPS:
        same = [p for p in same if p[2] == taps]
    if len(same) < MIN_BUCKET_OPS:
        return None
    dist = [(abs(math.log2(w / weight_bytes)), r) for w, r, _ in same]
    reach = sorted(d for d, _ in dist)[min(STREAMED_NEAREST, len(dist)) - 1]
    return float(np.median([r for d, r in dist if d <= reach + 1e-12]))


def streamed_point(point) -> tuple[int, float, float, int]:
    """(column bucket, weight bytes, rate, kernel taps) of a stored corner point; taps 0 (any
    kernel) for the three-entry points of older profiles."""
    b, w, r, *rest = point
    return int(b), float(w), float(r), int(rest[0]) if rest else 0


def bucket_medians(points) -> dict[int, float]:
    """Median seconds per weight byte of each column bucket with at least MIN_BUCKET_OPS points."""
    out, points = {}, [streamed_point(p) for p in points]
    for bucket in sorted({b for b, _, _, _ in points}):
        rates = [r for b, _, r, _ in points if b == bucket]
        if len(rates) >= MIN_BUCKET_OPS:
            out[bucket] = float(np.median(rates))
    return out


def capped_weights(weight_bytes: Any, cap: float | None) -> Any:
    """A layer's weight bytes that the network composition charges: at most ``cap`` (the L2 per
    core); all of them where ``cap`` is None. Works on numbers and numpy arrays."""
    return weight_bytes if cap is None else np.minimum(weight_bytes, cap)


Curve = EfficiencyCurve | StreamCurve
CURVE_TYPES: dict[str, type] = {c.tag: c for c in (EfficiencyCurve, StreamCurve)}
"""The JSON tag of each curve record (only the file needs a tag; code dispatches on the type)."""


def curve_from_dict(data: dict[str, Any]) -> Curve:
    """A curve record from its JSON object (``model`` names its type)."""
    kind = CURVE_TYPES[data["model"]]
    values = _known(kind, data)
    if values.get("neighbours") is not None:
        values["neighbours"] = Neighbours(**_known(Neighbours, values["neighbours"]))
    if values.get("streamed") is not None:
        values["streamed"] = tuple(map(streamed_point, values["streamed"]))
    if values.get("regressor") is not None:
        values["regressor"] = Regressor(**_known(Regressor, values["regressor"]))
    return kind(**values)


def curve_to_dict(curve: Curve) -> dict[str, Any]:
    """The JSON object of a curve record (with its ``model`` tag; no null neighbours or regressor)."""
    out = {"model": curve.tag, **asdict(curve)}
    return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Profile:
    """Calibrated numbers of one device. Units: MAC/s, bytes/s, seconds.

    ``peaks`` and ``curves`` may be given as plain dicts (as read from JSON); they are turned into
    records. A ``"composition"`` entry of ``curves`` (the older layout) becomes ``composition``.
    """

    device: str
    device_name: str
    threads: int
    torch_version: str
    peaks: Peaks
    curves: dict[str, Curve] = field(default_factory=dict)
    dtype: str = "float32"
    clock: str = "wall"
    meta: dict[str, Any] = field(default_factory=dict)
    composition: Composition | None = None
    fingerprint: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA
    batch: int = 1
    network: NetworkComposition | None = None

    def __post_init__(self) -> None:
        # frozen: the conversions of the dict forms go through object.__setattr__
        if isinstance(self.peaks, dict):
            object.__setattr__(self, "peaks", Peaks(**_known(Peaks, self.peaks)))
        curves = dict(self.curves)
        comp = curves.pop("composition", None) if self.composition is None else None
        if isinstance(comp, dict):
            comp = Composition(**_known(Composition, comp))
        if comp is not None:
            object.__setattr__(self, "composition", comp)
        if isinstance(self.composition, dict):
            object.__setattr__(self, "composition", Composition(**_known(Composition, self.composition)))
        if isinstance(self.network, dict):
            object.__setattr__(self, "network", NetworkComposition.from_dict(self.network))
        object.__setattr__(self, "curves", {k: curve_from_dict(v) if isinstance(v, dict) else v
                                            for k, v in curves.items()})

    @property
    def l2(self) -> int:
        return self.peaks.l2

    def to_json(self) -> str:
        data = asdict(self)
        data["curves"] = {k: curve_to_dict(c) for k, c in self.curves.items()}
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "<string>") -> "Profile":
        """Parse and check a profile; ProfileError (naming ``source``) when anything is off."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _corrupt(source, f"not JSON: {exc.msg} at line {exc.lineno}") from None
        if not isinstance(data, dict):
            raise _corrupt(source, "not a JSON object")
        if data.get("schema") != SCHEMA:
            raise _corrupt(source, f"schema {data.get('schema')!r}, expected {SCHEMA}")
        missing = [k for k in ("device", "device_name", "threads", "torch_version", "peaks") if k not in data]
        if missing:
            raise _corrupt(source, f"missing {', '.join(missing)}")
        peaks = data["peaks"]
        for key in PEAK_KEYS:
            value = peaks.get(key) if isinstance(peaks, dict) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise _corrupt(source, f"peaks.{key} = {value!r} is not a positive number")
        for key in ("curves", "meta", "fingerprint"):  # objects, or later code fails far from here
            if key in data and not isinstance(data[key], dict):
                raise _corrupt(source, f"{key} = {str(data[key])[:40]!r} is not a JSON object")
        curves = dict(data.get("curves", {}))
        older = curves.pop("composition", None)  # the older layout kept the composition in curves
        problem = (_record_problem(cls, {**data, "curves": curves}, "")  # every field has its declared type
                   or _value_problem(older, Composition | None, "curves.composition"))
        if problem:
            raise _corrupt(source, problem)
        try:
            return cls(**_known(cls, data))
        except (KeyError, TypeError, ValueError) as exc:
            raise _corrupt(source, f"bad curve or peak record: {type(exc).__name__}: {exc}") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the JSON (creating the folder); returns the path."""
        path = Path(path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path


def _record_problem(cls: type, data: dict[str, Any], where: str) -> str | None:
    """Why the JSON object ``data`` does not fit dataclass ``cls`` (the first field whose value
    is not of its declared type, e.g. ``curves.dense.coef = 'garbage' is not ...``), or None.
    Driven by the type hints, so a new field is checked without code here; missing fields are
    left to the constructor (its TypeError names them)."""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.name in data:
            problem = _value_problem(data[f.name], hints[f.name], f"{where}{f.name}")
            if problem:
                return problem
    return None


def _value_problem(value: Any, hint: Any, where: str) -> str | None:
    """Why ``value`` (as read from JSON) is not of type ``hint``, or None."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        tagged = {c.tag: c for c in args if isinstance(getattr(c, "tag", None), str)}
        if tagged:  # a curve record: its "model" names the type
            if not isinstance(value, dict):
                return f"{where} = {short_repr(value)} is not a JSON object"
            model = value.get("model")
            if model not in tagged:
                return f"{where}.model = {model!r} is not one of {', '.join(tagged)}"
            return _value_problem(value, tagged[model], where)
        problems = [_value_problem(value, a, where) for a in args if a is not type(None)]
        return None if None in problems else problems[0]
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            return f"{where} = {short_repr(value)} is not a JSON object"
        return _record_problem(hint, value, where + ".")
    if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):  # tuple[X, ...]: a list
        if not isinstance(value, (list, tuple)):
            return f"{where} = {short_repr(value)} is not a list"
        return next((p for i, v in enumerate(value) if (p := _value_problem(v, args[0], f"{where}[{i}]"))), None)
    if origin is tuple:  # a fixed-length tuple, a JSON list
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            return f"{where} = {short_repr(value)} is not a list of {len(args)}"
        return next((p for i, (v, a) in enumerate(zip(value, args)) if (p := _value_problem(v, a, f"{where}[{i}]"))),
                    None)
    if origin is dict:
        if not isinstance(value, dict):
            return f"{where} = {short_repr(value)} is not a JSON object"
        return next((p for k, v in value.items() if (p := _value_problem(v, args[1], f"{where}.{k}"))), None)
    expected = _JSON_TYPES.get(hint)
    if expected is not None and (isinstance(value, bool) != (hint is bool) or not isinstance(value, expected)):
        return f"{where} = {short_repr(value)} is not {_JSON_NAMES[hint]}"
    return None


_JSON_TYPES: dict[Any, tuple[type, ...]] = {float: (int, float), int: (int,), str: (str,), bool: (bool,)}
_JSON_NAMES = {float: "a number", int: "an integer", str: "a string", bool: "true or false"}


def _corrupt(source: str, why: str) -> ProfileError:
    """The one-line error of an unusable profile file, naming the fix."""
    return ProfileError(f"latency profile {source} is corrupt ({why}): "
                        f"run `costmodel calibrate` to rebuild it")


FINGERPRINT_KEYS = ("cpu_model", "cpu_flags_sha", "vector_lanes", "cache_bytes", "cpus", "torch_version",
                    "threads", "batch", "clock")
"""What must match for a profile to describe this machine (``machine_fingerprint``)."""


def machine_fingerprint(device: str, threads: int, clock: str, batch: int = 1) -> dict[str, Any]:
    """This machine as the latency model sees it: CPU model, a hash of its feature flags (and the
    vector ones in clear), the fp32 vector lanes, cache sizes, CPU count, torch version, threads,
    batch and clock; and the timing protocol of the measurements (``measurement_protocol``)."""
    import hashlib

    import torch

    from .measure import device_name

    flags = cpu_flags()
    return {"cpu_model": device_name(device), "cpu_flags_sha": hashlib.sha256(" ".join(flags).encode()).hexdigest()[:16],
            "vector_flags": [f for f in flags if f.startswith(("avx", "amx", "sse4", "fma", "neon", "sve"))],
            "vector_lanes": vector_lanes(flags), "cache_bytes": cache_sizes(), "cpus": os.cpu_count(),
            "torch_version": torch.__version__, "threads": int(threads), "batch": int(batch), "clock": clock,
            "protocol": measurement_protocol()}


def measurement_protocol() -> str:
    """The timing statistic a profile's times were measured with, e.g. "q0.05-raw": the low
    percentile ``protocol.QUANTILE`` of samples normalized pass by pass or not (``protocol.NORMALIZE``)."""
    from .protocol import NORMALIZE, QUANTILE

    return f"q{QUANTILE:g}-{'normalized' if NORMALIZE else 'raw'}"


LEGACY_PROTOCOL = "q0.1-normalized"
"""The protocol of a profile whose fingerprint names none: calibrated before stop 39, at the 10th
percentile of pass-normalized samples (the run's median speed)."""


def protocol_mismatch(profile: Profile) -> str | None:
    """"protocol: then != now" where ``profile`` was measured with another timing statistic than
    this code's (``measurement_protocol``); None where it matches or the profile has no
    fingerprint at all (one built by hand). Why it matters: on the same samples the old
    statistic read a median 13% and 27% slower than the new (two latency-eval runs, stop 39,
    AMD EPYC 7xx3 VM), so an old profile predicts a different quantity than is now measured."""
    if not profile.fingerprint:
        return None
    then, now = profile.fingerprint.get("protocol", LEGACY_PROTOCOL), measurement_protocol()
    return None if then == now else f"protocol: {then!r} != {now!r}"


def fingerprint_mismatch(profile: Profile) -> list[str]:
    """The fingerprint entries where ``profile`` and this machine differ ("key: then != now")."""
    if not profile.fingerprint:
        return []
    now = machine_fingerprint(profile.device, profile.threads, profile.clock, profile.batch)
    return [f"{k}: {profile.fingerprint.get(k)!r} != {now[k]!r}" for k in FINGERPRINT_KEYS
            if k in profile.fingerprint and profile.fingerprint[k] != now[k]]


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/costmodel`` or ``~/.cache/costmodel``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "costmodel"


def profile_path(device: str, threads: int, batch: int = 1) -> Path:
    """Default profile file of a device ("cpu"/"cuda"), thread count and batch on this machine
    (batch 1 keeps the plain ``-t<threads>`` name)."""
    from .measure import device_name

    slug = re.sub(r"[^a-z0-9]+", "-", f"{device}-{device_name(device)}".lower()).strip("-")
    return cache_dir() / (f"{slug}-t{threads}.json" if batch == 1 else f"{slug}-t{threads}-b{batch}.json")


def load_profile(path: str | os.PathLike | None = None, *, device: str | None = None,
                 threads: int = 1, batch: int = 1, check_machine: bool = True) -> Profile:
    """Read a profile (default: this device's file of ``threads`` and ``batch`` in the cache
    folder; where there is none for batch > 1, the batch-1 file, with a one-line warning). With
    ``check_machine``, a profile whose fingerprint differs from this machine's warns in one line,
    and so does one measured with another timing protocol (``protocol_mismatch``).

    Raises ProfileError, telling the user to run ``costmodel calibrate``, when the file is
    missing or corrupt.
    """
    if path is None:
        from .measure import default_device

        device = device or default_device()
        path = profile_path(device, threads, batch)
        if batch != 1 and not path.is_file() and profile_path(device, threads).is_file():
            warnings.warn(f"no batch-{batch} latency profile at {path}: using the batch-1 profile "
                          f"(run `costmodel calibrate --batch {batch}` for one of its own)", stacklevel=2)
            path = profile_path(device, threads)
    path = Path(path).expanduser()
    if not path.is_file():
        hint = (f" --threads {threads}" if threads != 1 else "") + (f" --batch {batch}" if batch != 1 else "")
        raise ProfileError(f"no latency profile at {path}: run `costmodel calibrate{hint}` first "
                           f"(about 1-2 min on 2 cores; it measures this machine's peak MAC/s and bandwidth)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _corrupt(str(path), f"unreadable: {exc}") from None
    profile = Profile.from_json(text, str(path))
    if check_machine and (diff := fingerprint_mismatch(profile)):
        warnings.warn(f"latency profile {path} was calibrated on another machine ({'; '.join(diff)}): "
                      f"predictions may be off; run `costmodel calibrate` here", stacklevel=2)
    elif check_machine and (old := protocol_mismatch(profile)):
        warnings.warn(f"latency profile {path} was measured with another timing protocol ({old}): "
                      f"predictions may be off; run `costmodel calibrate` again", stacklevel=2)
    return profile


