"""Whole-network composition: how layers timed alone add up to a network, fitted on TRAINING
networks that latency-eval never scores.

A layer inside a network runs slower than the same layer timed alone in a hot loop: its weights
were evicted by the layers before it (in a hot loop they stay in cache), and every layer is one
more module call through the network's containers. The network-level composition

    t(network) = call + sum over layers i of ( scale * t_i + per_layer_s + s_per_weight_byte * w_i )

(``t_i``: the layer predicted alone, ``w_i``: its weight bytes) is fitted by bounded linear least
squares (``scipy.optimize.lsq_linear``: scale in SCALE_BOUNDS, the others >= 0) on the relative error of a few training networks (``training_networks``: widths, 1x1 swaps and a
resolution that ``evaluate.network_cases`` never uses), so the network evaluation stays held-out.
``group_cv`` scores the same fit by leave-one-family-out cross-validation over any set of networks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .profile import NetworkComposition, Profile

TRAIN_RESOLUTION = 96
"""Input size of the training networks (the evaluation uses 32, 64 and 112)."""

TRAIN_NETWORKS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ghostnet", {"width": 0.5}), ("ghostnet", {"width": 1.3}),
    ("mobilenet_v1", {"width": 0.5}), ("mobilenet_v1", {"width": 0.75}),
    ("resnet50", {"conv1x1": "ghost"}), ("resnet50", {"conv1x1": "conv", "conv3x3": "ghost"}),
    ("resnet50", {"conv1x1": "tbc"}), ("resnet50", {"conv1x1": "spconv"}),
    ("resnet50", {"conv1x1": "dgc"}),
)
"""(network, options) of the training networks: other widths and 1x1-slot swaps than the
evaluated ones (which use width 1 and 3x3-slot swaps only), at TRAIN_RESOLUTION."""

FEATURES = ("scale", "per_layer_s", "s_per_weight_byte")
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


def layer_terms(table) -> np.ndarray:
    """Per layer row of a predicted table: (t_i alone, 1, weight bytes w_i); the model-call row
    gives zeros (it is the constant ``call``)."""
    layer = (table["kind"] != "call").to_numpy()
    return np.stack([table["alone_s"].to_numpy(float) * layer, layer.astype(float),
                     table["weight_bytes"].to_numpy(float) * layer], axis=1)


def design_matrix(tables: Sequence[Any]) -> np.ndarray:
    """One row per network: the column sums of ``layer_terms`` (sum t_i, layers, sum w_i)."""
    return np.stack([layer_terms(t).sum(axis=0) for t in tables])


SCALE_BOUNDS = (0.7, 1.5)
"""The range allowed for ``scale``: a layer in a network runs at most this much slower or faster
than alone; outside it the layer curves are off, and the per-layer terms must not absorb that."""


def fit_network_composition(x: np.ndarray, measured: np.ndarray, call_s: float,
                            names: Sequence[str] = ()) -> NetworkComposition | None:
    """scale in SCALE_BOUNDS, per_layer_s >= 0 and s_per_weight_byte >= 0 minimising the squared
    relative error of ``call + x @ coef`` against ``measured`` (``scipy.optimize.lsq_linear`` on
    the rows divided by the measured time, columns scaled to unit norm). None with fewer than 3
    networks."""
    from scipy.optimize import lsq_linear

    if len(measured) < 3:
        return None
    target = measured - call_s
    a = x / measured[:, None]
    norms = np.where(np.linalg.norm(a, axis=0) > 0, np.linalg.norm(a, axis=0), 1.0)
    lo = np.array([SCALE_BOUNDS[0], 0.0, 0.0]) * norms
    hi = np.array([SCALE_BOUNDS[1], np.inf, np.inf]) * norms
    scaled = lsq_linear(a / norms, target / measured, bounds=(lo, hi)).x
    coef = scaled / norms
    pred = call_s + x @ coef
    return NetworkComposition(scale=float(coef[0]), per_layer_s=float(coef[1]), s_per_weight_byte=float(coef[2]),
                              n=int(len(measured)), train_median_abs_pct=float(100 * np.median(np.abs(pred / measured - 1))),
                              networks=list(names))


def group_cv(x: np.ndarray, measured: np.ndarray, call_s: float, groups: Sequence[str]) -> np.ndarray:
    """Leave-one-group-out predictions: each network predicted by the composition fitted on the
    networks of the OTHER groups (families), so no network is scored by a fit that saw it.
    NaN where fewer than 3 networks remain to fit on."""
    groups = np.asarray(groups)
    out = np.full(len(measured), np.nan)
    for g in np.unique(groups):
        held = groups == g
        comp = fit_network_composition(x[~held], measured[~held], call_s)
        if comp is not None:
            out[held] = call_s + x[held] @ comp.coefficients()
    return out


def network_sweep(profile: Profile, samples: int = 20, show_progress: bool = True) -> NetworkComposition | None:
    """Measure the training networks (interleaved protocol) and fit the network composition."""
    from .measure import progress_bar
    from .network import predict_latency
    from .protocol import measure_interleaved

    nets = training_networks()
    base = profile_without_network_fit(profile)
    tables = [predict_latency(net, profile=base, batch=profile.batch, threads=profile.threads).table
              for _, net in nets]
    cases = [(net.module(), net.example_input(profile.batch)) for _, net in nets]
    with progress_bar(samples, "network sweep", show_progress) as advance:
        found = measure_interleaved(cases, threads=profile.threads, device=profile.device, clock=profile.clock,
                                    samples=samples, progress=lambda _n: advance(1))
    measured = np.array([e.seconds for e in found])
    return fit_network_composition(design_matrix(tables), measured, profile.peaks.call_overhead_s,
                                   [label for label, _ in nets])


def profile_without_network_fit(profile: Profile) -> Profile:
    """The same profile with no network composition (layers summed as timed alone)."""
    import dataclasses

    return dataclasses.replace(profile, network=None)
