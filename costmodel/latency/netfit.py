"""Whole-network composition: how layers timed alone add up to a network, fitted on TRAINING
networks that latency-eval never scores.

A layer inside a network does not run as fast as the same layer timed alone in a hot loop: its
input and weights were evicted by the layers before it (in a hot loop they stay in cache), which
slows memory-bound work (depthwise convs, BN, activations) much more than compute-bound dense
convs, and every layer is one more module call through the network's containers. The
network-level composition

    t(network) = call + sum over layers i of ( sum over op groups g of scale_g * t_i,g + per_layer_s
                                             + s_per_weight_byte * min(weight bytes_i, L2) )

(``t_i,g``: the part of layer i's time alone spent in op group g, ``features.TIME_GROUPS``:
dense MAC kernels, depthwise kernels, elementwise ops) is fitted by bounded linear least squares
(``scipy.optimize.lsq_linear``: each scale in SCALE_BOUNDS, the rest >= 0) on the relative
error of a few training networks (``training_networks``: other widths, 1x1 swaps and the plain
ResNet-50 and VGG-16, all at a resolution that ``evaluate.network_cases`` never uses), so no
network is scored at an input size the calibration timed (its architecture may have been timed
at another size; the leave-one-family-out figure refits without it). calibrate fits
it on each layer's MEASURED time alone (``network_sweep``, ``measured_design_matrix``): fitted on
predicted times it also absorbed the layer model's errors (a dense-MAC scale of 1.45 and 98 us
per layer, Intel Xeon VM, 2026-12-06), which do not carry over to other networks. One scale for
all groups (the earlier form) left depthwise-heavy networks ~25% low and dense ones ~15% high
(Intel Xeon VM, 2026-12-06); ``single_scale_matrix`` keeps that form for comparison.
``group_cv`` scores the same law by leave-one-family-out cross-validation over any set of
networks, fitted on their PREDICTED times alone (the evaluated networks' layers are not timed
alone), so it is not the exact method calibrate uses on its training networks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .features import TIME_GROUPS
from .protocol import SAMPLES
from .profile import NetworkComposition, Profile, capped_weights

TRAIN_RESOLUTION = 96
"""Input size of the training networks (the evaluation uses 32, 64 and 112)."""

TRAIN_NETWORKS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ghostnet", {"width": 0.5}), ("ghostnet", {"width": 1.3}),
    ("mobilenet_v1", {"width": 0.5}), ("mobilenet_v1", {"width": 0.75}),
    ("resnet50", {"conv1x1": "ghost"}), ("resnet50", {"conv1x1": "conv", "conv3x3": "ghost"}),
    ("resnet50", {"conv1x1": "tbc"}), ("resnet50", {"conv1x1": "spconv"}),
    ("resnet50", {"conv1x1": "dgc"}),
    ("resnet50", {}), ("vgg16", {}),
)
"""(network, options) of the training networks: other widths and 1x1-slot swaps than the
evaluated ones (which use width 1 and 3x3-slot swaps only), and the plain ResNet-50 and VGG-16,
all at TRAIN_RESOLUTION (the evaluation uses 32, 64 and 112).

Why the plain two: their layers timed alone are training points of the network factors
(``Composition.network_factors``, ``fit.fit_composition``), and only they run the network-sized ``bottleneck`` design as one
layer. Measured (2-core Intel Xeon VM, 2026-12-06): ResNet-50's bottlenecks at 64 px ran 1.21x
their prediction alone, while the random and network-sized bottleneck configs of the
composition sweep gave the design a factor of 1.03; ResNet-50 was then predicted 19-28% low at
64 px in every run, and its 3x3-conv swap, the same arithmetic split into smaller layers,
within 6%."""

FEATURES = tuple(f"scale_{g}" for g in TIME_GROUPS) + ("per_layer_s", "s_per_weight_byte")
"""The unknowns of the network composition, in the order of ``design_matrix``'s columns."""


def training_networks(resolution: int = TRAIN_RESOLUTION) -> list[tuple[str, Any]]:
    """(label, Network) of the training networks that build (a swap a network refuses is skipped)."""
    from ..networks import network, swap

    out = []
    for name, options in TRAIN_NETWORKS:
        opts = dict(options)
        slots = {k: opts.pop(k) for k in ("conv3x3", "conv1x1") if k in opts}
        try:
            net = (swap(name, resolution=resolution, **slots, **opts) if slots
                   else network(name, resolution=resolution, **opts))
        except ValueError:
            continue
        text = ", ".join(f"{k}={v}" for k, v in options.items())
        out.append((f"{name}({text}) @{resolution}", net))
    return out


def layer_terms(table, alone_scale: np.ndarray | None = None, weight_cap: float | None = None) -> np.ndarray:
    """Per layer row of a predicted table: (t_i,g alone for each op group g, 1, weight bytes
    capped at ``weight_cap``, ``profile.capped_weights``); the model-call row gives zeros (it is
    the constant ``call``). ``alone_scale``: per row, a factor on its times alone (measured /
    predicted, ``measured_design_matrix``)."""
    layer = (table["kind"] != "call").to_numpy()
    scale = layer * (alone_scale if alone_scale is not None else 1.0)
    groups = [table[f"alone_{g}_s"].to_numpy(float) * scale for g in TIME_GROUPS]
    weights = capped_weights(table["weight_bytes"].fillna(0).to_numpy(float), weight_cap) * layer
    return np.stack(groups + [layer.astype(float), weights], axis=1)


def design_matrix(tables: Sequence[Any], weight_cap: float | None = None) -> np.ndarray:
    """One row per network: the column sums of ``layer_terms`` (sum t_i,g per group, layers,
    capped weight bytes)."""
    return np.stack([layer_terms(t, weight_cap=weight_cap).sum(axis=0) for t in tables])


def fixed_seconds(tables: Sequence[Any], call_s: float) -> np.ndarray:
    """Per network, the time outside the fitted law: the model call + its layers' ``as_timed_s``
    (``features.AS_TIMED_KERNELS``, added as predicted alone) and ``cold_weights_s`` (weights
    fetched again because the network's outgrow the cache: measured at calibration, not fitted)."""
    return np.array([call_s + float(_column(t, "as_timed_s").sum() + _column(t, "cold_weights_s").sum())
                     for t in tables])


def _column(table, name: str) -> np.ndarray:
    """A table's column as floats, 0 where missing (tables built before the column)."""
    return table[name].fillna(0).to_numpy(float) if name in table else np.zeros(len(table))


def single_scale_matrix(x: np.ndarray) -> np.ndarray:
    """The design matrix of the one-scale form (one scale for every group's time): (sum over
    groups, layers). ``group_cv`` scores it beside the per-group form from the same measurements."""
    return np.concatenate([x[:, :len(TIME_GROUPS)].sum(axis=1, keepdims=True), x[:, len(TIME_GROUPS):]], axis=1)


SCALE_BOUNDS = (0.9, 2.0)
"""The range allowed for each group's scale: a layer's part in a network runs at most 10%
faster than alone (a hot loop is the best case) and at most 2x slower. With 0.5 allowed, the
five coefficients fitted on eight networks traded off against each other from one calibration
to the next (dense-MAC scale 0.60-0.79 against 57-79 us per layer; Intel Xeon VM, 2026-12-06)
for no better held-out accuracy."""


def fit_coefficients(x: np.ndarray, measured: np.ndarray, call_s: float | np.ndarray) -> np.ndarray | None:
    """Coefficients of ``call + x @ coef`` ~ ``measured``: the first columns (one per op group,
    or one for all) are scales in SCALE_BOUNDS, the last two (per_layer_s, s_per_weight_byte) >= 0
    (``call_s``: one time for all networks or one per network, ``fixed_seconds``); least squares on the relative error
    (``scipy.optimize.lsq_linear`` on the rows divided by the measured time, columns scaled to unit
    norm). None with fewer than 3 networks."""
    from scipy.optimize import lsq_linear

    if len(measured) < 3:
        return None
    a = x / measured[:, None]
    norms = np.where(np.linalg.norm(a, axis=0) > 0, np.linalg.norm(a, axis=0), 1.0)
    scales = x.shape[1] - 2
    lo = np.array([SCALE_BOUNDS[0]] * scales + [0.0, 0.0]) * norms
    hi = np.array([SCALE_BOUNDS[1]] * scales + [np.inf, np.inf]) * norms
    return lsq_linear(a / norms, (measured - call_s) / measured, bounds=(lo, hi)).x / norms


def fit_network_composition(x: np.ndarray, measured: np.ndarray, call_s: float | np.ndarray,
                            names: Sequence[str] = (), weight_cap: float | None = None) -> NetworkComposition | None:
    """The composition (``fit_coefficients`` on ``design_matrix`` columns, built with
    ``weight_cap``) of the measured networks, with its in-sample median error. None with fewer
    than 3 networks."""
    coef = fit_coefficients(x, measured, call_s)
    if coef is None:
        return None
    pred = call_s + x @ coef
    return NetworkComposition(*map(float, coef), n=int(len(measured)),
                              train_median_abs_pct=float(100 * np.median(np.abs(pred / measured - 1))),
                              networks=list(names), weight_cap_bytes=weight_cap)


def group_cv(x: np.ndarray, measured: np.ndarray, call_s: float | np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Leave-one-group-out predictions: each network predicted by the composition fitted on the
    networks of the OTHER groups (families), so no network is scored by a fit that saw it.
    NaN where fewer than 3 networks remain to fit on. ``call_s``: as in ``fit_coefficients``."""
    groups = np.asarray(groups)
    fixed = np.broadcast_to(np.asarray(call_s, float), measured.shape)
    out = np.full(len(measured), np.nan)
    for g in np.unique(groups):
        held = groups == g
        coef = fit_coefficients(x[~held], measured[~held], fixed[~held])
        if coef is not None:
            out[held] = fixed[held] + x[held] @ coef
    return out


@dataclass
class NetworkSweep:
    """The training networks measured whole, and each of their layers measured alone.

    ``tables``: each network's predicted table (op-group shares of every layer's time alone);
    ``measured``: each network's seconds per call; ``alone``: per network, each layer's measured
    seconds alone (NaN for a layer with no module of its own, e.g. a residual add);
    ``layers``: one row per distinct layer spec that ran alone (config, design, measured_s, n_ops,
    sum_ops_s: the columns of the composition sweep, so the network factors learn from real
    layers)."""

    names: list[str]
    tables: list[Any]
    measured: np.ndarray
    alone: list[np.ndarray]
    layers: Any
    passes: int = 0  # interleaved passes measured (fewer than asked where a deadline stopped them)


def _layer_cases(nets, batch: int) -> tuple[list[Any], list[list[int]], list[tuple[Any, Any]]]:
    """(distinct layer specs, per network the index of each layer's spec or -1, their cases)."""
    specs: list[Any] = []
    index: dict[Any, int] = {}
    cases: list[tuple[Any, Any]] = []
    where: list[list[int]] = []
    for _, net in nets:
        row = []
        for layer in net.layers:
            if layer.spec not in index:
                try:
                    case = (layer.spec.module(), layer.spec.example_input(batch))
                except ValueError:  # no module of its own (a residual add runs inside its block)
                    case = None
                index[layer.spec] = len(specs) if case is not None else -1
                if case is not None:
                    specs.append(layer.spec)
                    cases.append(case)
            row.append(index[layer.spec])
        where.append(row)
    return specs, where, cases


def network_sweep(profile: Profile, samples: int = SAMPLES, show_progress: bool = True,
                  reference: Any = None, deadlines: Sequence[tuple[float, int]] = (),
                  tables: bool = True) -> NetworkSweep:
    """Measure the training networks and every distinct layer of theirs alone, all interleaved
    (``protocol``): each network's time beside the sum of its layers' measured times alone
    separates the network composition (``fit_measured_composition``) from the layer model's own
    errors, and the layers are training points of the design composition (``fit.fit_composition``).
    With a ``reference`` (``reference.Reference``), its ops run in the same passes and every time
    is normalized to the machine speed of the rest of the calibration. ``deadlines``:
    (time, passes) pairs that end the passes early (``protocol.measure_interleaved``). ``tables``
    False: no predicted tables yet (``with_tables`` adds them, e.g. once the design composition
    they use is fitted)."""
    import pandas as pd

    from .measure import progress_bar, spec_label
    from .predict import op_rows, predict_op
    from .reference import measure_normalized

    nets = training_networks()
    base = profile_without_network_fit(profile)
    specs, where, layer_cases = _layer_cases(nets, profile.batch)
    cases = [(net.module(), net.example_input(profile.batch)) for _, net in nets] + layer_cases
    with progress_bar(samples, "network sweep", show_progress) as advance:
        # one long chunk (~20 s): measured once, whatever its speed, to keep calibrate within budget
        found = measure_normalized(cases, reference, retry=False, threads=profile.threads, device=profile.device,
                                   clock=profile.clock, samples=samples, progress=lambda _n: advance(1),
                                   deadlines=deadlines)
    seconds = np.array([e.seconds for e in found])
    layer_s = seconds[len(nets):]
    alone = [np.array([layer_s[i] if i >= 0 else np.nan for i in row]) for row in where]
    layers = pd.DataFrame([{"config": spec_label(spec), "design": spec.name, "measured_s": t,
                            "n_ops": len(ops), "sum_ops_s": sum(predict_op(r, base) for r in ops)}
                           for spec, t in zip(specs, layer_s) for ops in [op_rows(spec, profile.batch)]])
    sweep = NetworkSweep(names=[label for label, _ in nets], tables=[], measured=seconds[:len(nets)],
                         alone=alone, layers=layers, passes=found[0].samples if found else 0)
    return with_tables(sweep, profile) if tables else sweep


def with_tables(sweep: NetworkSweep, profile: Profile) -> NetworkSweep:
    """``sweep`` with each training network's predicted table under ``profile`` (without its
    network composition): the op-group shares of every layer's time alone."""
    import dataclasses

    from .network import predict_latency

    base = profile_without_network_fit(profile)
    nets = dict(training_networks())
    return dataclasses.replace(sweep, tables=[predict_latency(nets[name], profile=base, batch=profile.batch,
                                                              threads=profile.threads).table for name in sweep.names])


def measured_design_matrix(sweep: NetworkSweep, weight_cap: float | None = None) -> np.ndarray:
    """``design_matrix`` with each layer's time alone MEASURED (split over the op groups in the
    predicted proportions; the predicted time where a layer has no module of its own), less its
    as-timed ops' predicted time alone (``as_timed_alone_s``: hot, as the layer ran alone)."""
    rows = []
    for table, alone in zip(sweep.tables, sweep.alone):
        # the op-group parts only: a layer measured alone ran its as-timed ops hot
        hot, as_timed = (_column(table, c) for c in ("as_timed_alone_s", "as_timed_s"))
        predicted = table["alone_s"].to_numpy(float) - as_timed
        measured = np.concatenate([alone, np.full(len(table) - len(alone), np.nan)]) - hot
        ratio = np.where(np.isfinite(measured) & (predicted > 0), np.maximum(measured, 0.0) / np.where(predicted > 0, predicted, 1),
                         1.0)
        rows.append(layer_terms(table, ratio, weight_cap).sum(axis=0))
    return np.stack(rows)


def fit_measured_composition(sweep: NetworkSweep, call_s: float,
                             weight_cap: float | None = None) -> NetworkComposition | None:
    """The network composition fitted on the layers' MEASURED times alone (``measured_design_matrix``):
    how much slower (or faster) a layer runs inside a network than alone, and nothing of how
    well its time alone is predicted."""
    return fit_network_composition(measured_design_matrix(sweep, weight_cap), sweep.measured,
                                   fixed_seconds(sweep.tables, call_s), sweep.names, weight_cap)


def profile_without_network_fit(profile: Profile) -> Profile:
    """The same profile with no network composition (layers summed as timed alone)."""
    import dataclasses

    return dataclasses.replace(profile, network=None)
