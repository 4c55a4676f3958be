"""Whole-network latency: predicted (``predict_latency``) and measured (``measure_latency``).

What a network is made of, for the prediction:
  * a built-in ``Network`` (``costmodel.networks.network(...)``, a swap, or its name): its layers
    are design specs, each predicted like ``predict.predict_spec`` (its ops, fitted curves and
    composition) but with its design's factor as a network's layer
    (``Composition.network_factors``), so a network is the sum of its layers plus one container
    call;
  * any other ``nn.Module``: ``costmodel.analysis.analyze()``'s per-layer records (one per leaf
    module call or tensor function), each turned into an op row (``record_row``) and predicted by
    ``predict.predict_op``, composed like a design's ops (scale x op + per-op dispatch cost).

With a fitted network composition in the profile (``profile.network``, ``netfit``: fitted on
training networks), each layer's time alone (``alone_s``, split by op group into
``alone_mac_s``, ``alone_depthwise_s`` and ``alone_elementwise_s``) becomes its time inside the
network: each group's part times that group's scale, + per_layer_s (one more module call)
+ s_per_weight_byte x its weight bytes up to the L2 of a core (alone they stay in L2; in the
network the layers before it evicted them), + the ops of ``features.AS_TIMED_KERNELS``
(``as_timed_s``: DGC's filter gather) at the time of their COLD training op alone (its data
evicted before each call, as in a network), outside every fitted factor;
without one, a layer costs its time alone.

Every row of the table names the curve it was predicted with (``curve``): a fitted key, or
"roofline" where no curve fits; no layer is ever silently zero. ``table["seconds"].sum()``
equals ``.seconds``. Times are seconds per forward call of the whole batch, predicted or
measured as the ``kind`` says.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from .features import POOL_KINDS, TIME_GROUPS, in_network_row, latency_class, pools_compute_bound, runs_as_timed, time_group
from .predict import cold_seconds, op_curve, op_rows, predict_op
from .profile import Profile, load_profile
from .protocol import SAMPLES

FREE_KINDS = frozenset({"free", "params"})
"""analyze() record kinds that launch no kernel (views, reshapes; parameters of uncalled modules)."""


@dataclass
class LatencyResult:
    """Latency of one model: ``seconds`` per forward call (the whole batch) and a per-layer table."""

    name: str
    seconds: float
    table: Any  # pandas.DataFrame: layer, kind, curve, MACs, weight_bytes, alone_s (+ by op group), seconds (sums to ``seconds``)
    kind: str  # "predicted" or "measured"
    batch: int
    threads: int
    spread: float | None = None  # measured: disagreement of two independent estimates
    conditions: dict[str, Any] = field(default_factory=dict)

    @property
    def ms(self) -> float:
        return 1e3 * self.seconds

    def __repr__(self) -> str:
        extra = f", spread {100 * self.spread:.1f}%" if self.spread is not None else ""
        return (f"LatencyResult({self.name!r}: {self.kind} {self.ms:.3f} ms per call, batch {self.batch}, "
                f"{self.threads} thread(s), {len(self.table)} rows{extra})")


def resolve(model_or_network, input_shape=None, batch: int = 1, build: bool = True):
    """(name, Network or None, nn.Module, input shape with batch) of what the caller passed: a
    built-in network's name, a ``Network``, or an ``nn.Module`` with ``input_shape``.
    ``build`` False: a network's module is not built (None; a prediction needs only its layer
    specs, and building VGG-16's weights alone takes seconds)."""
    from ..networks import Network, network, network_names

    if isinstance(model_or_network, str):
        if model_or_network not in network_names():
            raise ValueError(f"model_or_network = {model_or_network!r} is unknown: allowed is a Network, "
                             f"an nn.Module, or one of {', '.join(network_names())}")
        model_or_network = network(model_or_network)
    if isinstance(model_or_network, Network):
        net = model_or_network
        return net.name, net, net.module() if build else None, (batch,) + tuple(net.input_shape)
    if input_shape is None:
        raise ValueError("input_shape = None is invalid for an nn.Module: allowed is a tuple of "
                         "positive integers, batch first, e.g. (1, 3, 224, 224)")
    shape = tuple(int(v) for v in input_shape)
    return type(model_or_network).__name__, None, model_or_network, shape


def _profile(profile, threads: int, batch: int = 1) -> Profile:
    """``profile`` itself, or the profile file it names (None: this machine's, key threads/batch)."""
    if isinstance(profile, Profile):
        return profile
    return load_profile(profile, threads=threads, batch=batch)


def record_row(record, width: int = 4) -> dict[str, Any]:
    """The op row (``Spec.op_table()`` columns) of one analyze() record.

    Conv geometry comes from the shapes: c_in / c_out are the channel dims, the stride is
    round(in size / out size), k / k_w and groups from the record's info.
    """
    ins = record.in_shapes[0] if record.in_shapes else ()
    out = tuple(record.out_shape)
    row: dict[str, Any] = {"op": record.path or record.module, "kind": record.kind,
                           "macs": int(record.macs or 0), "elem": int(record.elem or 0),
                           "reads": int(record.reads), "writes": int(record.writes),
                           "params": int(record.params), "c_in": 0, "c_out": 0, "k": 0, "k_w": 0,
                           "groups": 1, "stride": 1, "h_out": 0, "w_out": 0}
    if record.kind in ("conv", "conv_transpose") and len(ins) == 4 and len(out) == 4:
        kernel = tuple(record.info.get("kernel") or (1, 1))
        big, small = (out, ins) if record.kind == "conv_transpose" else (ins, out)
        row.update(c_in=ins[1], c_out=out[1], k=kernel[0], k_w=kernel[-1],
                   groups=int(record.info.get("groups", 1)), h_out=out[2], w_out=out[3],
                   stride=max(1, round(big[2] / max(1, small[2]))))
    elif record.kind in POOL_KINDS and len(ins) == 4 and len(out) == 4:
        kernel = tuple(record.info.get("kernel") or (1, 1))
        row.update(k=kernel[0], k_w=kernel[-1], stride=max(1, round(ins[2] / max(1, out[2]))))
    elif record.kind in ("linear", "matmul") and ins and out:
        row.update(c_in=ins[-1], c_out=out[-1], k=1, k_w=1, h_out=1, w_out=1)
    elif record.kind == "conv":  # 1d / 3d convs: no curve of their own, the roofline applies
        row["kind"] = "conv_nd"
    row["mem_bytes"] = width * (row["reads"] + row["writes"] + row["params"])
    row["intensity"] = row["macs"] / row["mem_bytes"] if row["mem_bytes"] else 0.0
    return row


def _curve_name(row: dict[str, Any], profile: Profile) -> str:
    found = op_curve(row, profile)
    return found[0] if found is not None else "roofline"


def _composed(rows: list[dict[str, Any]], profile: Profile) -> list[float]:
    """Each op's share of the composed time: scale * t(op) + per_op_s (the first op: no dispatch
    cost; ``features.AS_TIMED_KERNELS``: no scale), so the shares sum to the composed total minus
    the container call."""
    comp = profile.composition
    scale, per_op = (comp.scale, comp.per_op_s) if comp is not None else (1.0, 0.0)
    return [(predict_op(in_network_row(r, profile.curves), profile) if runs_as_timed(r, profile.curves)
             else scale * predict_op(r, profile)) + (per_op if i else 0.0) for i, r in enumerate(rows)]


def _group_columns(ops: list[dict[str, Any]], op_seconds: list[float], total_s: float,
                   pools_compute: bool = True) -> dict[str, float]:
    """``total_s`` (a layer's time alone) split over ``TIME_GROUPS`` in proportion to its ops'
    predicted times (``features.time_group``, ``pools_compute`` passed on): columns
    alone_<group>_s that sum to ``total_s``; ``as_timed_s`` and ``as_timed_alone_s`` 0 (see
    ``layer_row``)."""
    shares = dict.fromkeys(TIME_GROUPS, 0.0)
    for row, t in zip(ops, op_seconds):
        shares[time_group(row, pools_compute)] += t
    whole = sum(shares.values())
    if whole <= 0:  # no op time to split by: all of it is elementwise (memory) work
        shares, whole = {**shares, "elementwise": 1.0}, 1.0
    return {**{f"alone_{g}_s": total_s * shares[g] / whole for g in TIME_GROUPS}, "as_timed_s": 0.0,
            "as_timed_alone_s": 0.0}


def layer_row(spec, profile: Profile, batch: int = 1, name: str = "", network_weights: float = 0.0) -> dict[str, Any]:
    """The predicted row of one network layer (a design spec): its curves, MACs, weight bytes and
    time alone (``alone_s``: ``predict_spec`` with the design's factor as a network's layer,
    ``Composition.network_factors``, except that ops of ``features.AS_TIMED_KERNELS`` are added as
    their cold kernel predicts them, outside the factors: ``as_timed_s``), the rest split by op
    group (``_group_columns``); ``curve`` names the curves used in the network;
    ``cold_weights_s``: what its weight-bound ops add when the call cycles ``network_weights``
    bytes of weights rather than the layer's own (``predict.cold_seconds``), outside the fitted
    network composition like ``as_timed_s``."""
    from .predict import compose

    ops = op_rows(spec, batch)
    fixed = [runs_as_timed(r, profile.curves) for r in ops]
    cold = [in_network_row(r, profile.curves) for r in ops]
    seconds = [predict_op(r, profile) for r in cold]
    # the as-timed ops (their cold line) stay out of the factors: 0 inside them, added after
    composed = compose([0.0 if f else t for f, t in zip(fixed, seconds)], profile, design=spec.name, in_network=True)
    as_timed = sum(t for f, t in zip(fixed, seconds) if f)
    curves = sorted({_curve_name(r, profile) for r in cold})
    return {"layer": name, "kind": spec.name, "curve": ", ".join(curves),
            "MACs": int(sum(r["macs"] for r in ops)),
            "weight_bytes": int(spec.dtype_bytes * sum(r["params"] for r in ops)),
            "alone_s": composed + as_timed,
            **_group_columns([r for r, f in zip(ops, fixed) if not f], [t for t, f in zip(seconds, fixed) if not f],
                             composed, pools_compute_bound(profile.curves)),
            "as_timed_s": as_timed,
            # the same ops timed alone, hot (what a layer measured alone includes): netfit's ratios
            "as_timed_alone_s": sum(predict_op(r, profile) for r, f in zip(ops, fixed) if f),
            "cold_weights_s": sum(cold_seconds(r, profile, network_weights) - cold_seconds(r, profile, r["weight_set_bytes"])
                                  for r in ops)}


def _network_rows(net, profile: Profile, batch: int) -> list[dict[str, Any]]:
    """One row per layer of a built-in network: its design spec predicted as a whole, its weights
    cycled with all the network's (``layer_row``'s ``network_weights``)."""
    weights = float(sum(layer.spec.dtype_bytes * layer.spec.params() for layer in net.layers))
    return [layer_row(layer.spec, profile, batch, layer.name, weights) for layer in net.layers]


def _module_rows(model, shape: tuple[int, ...], profile: Profile) -> list[dict[str, Any]]:
    """One row per analyze() record of any nn.Module (free views skipped: no kernel)."""
    from ..analysis import analyze

    result = analyze(model, shape, fvcore=False, collapse_specs=False)
    ops = [record_row(r) for r in result.records if r.kind not in FREE_KINDS]
    shares = _composed(ops, profile)
    pools_compute = pools_compute_bound(profile.curves)
    weights = 4.0 * sum(r["params"] for r in ops)  # all the model's weights cycle through the caches
    return [{"layer": r["op"], "kind": latency_class(r), "curve": _curve_name(in_network_row(r, profile.curves), profile),
             "MACs": int(r["macs"]), "weight_bytes": 4 * int(r["params"]), "alone_s": s,
             **({**_group_columns([], [], 0.0), "as_timed_s": s} if runs_as_timed(r, profile.curves)
                else _group_columns([r], [s], s, pools_compute)),
             "cold_weights_s": cold_seconds(r, profile, weights)}
            for r, s in zip(ops, shares)]


def in_network_seconds(row: dict[str, Any], profile: Profile) -> float:
    """A row's time inside a network: its time alone, or (with ``profile.network``) the fitted
    network composition of its op-group parts + its ``as_timed_s`` part as it is; the model-call
    row is never composed."""
    comp = profile.network
    if comp is None or row["kind"] == "call":
        return row["alone_s"]
    return (comp.layer_seconds({g: row[f"alone_{g}_s"] for g in TIME_GROUPS}, row.get("weight_bytes") or 0.0)
            + row.get("as_timed_s", 0.0) + row.get("cold_weights_s", 0.0))


def _in_network(rows: list[dict[str, Any]], profile: Profile) -> None:
    """Each row's ``seconds``: ``in_network_seconds``."""
    for row in rows:
        row["seconds"] = in_network_seconds(row, profile)


def predict_latency(model_or_network, input_shape=None, *, profile=None, batch: int = 1,
                    threads: int = 1, drift: float = 1.0) -> LatencyResult:
    """Predicted seconds per forward call of a network or any ``nn.Module`` (see the module
    docstring), with a per-layer table whose ``seconds`` column sums to ``.seconds``.

    ``profile``: a Profile, a path, or None for this machine's default profile of ``threads``.
    ``batch`` applies to networks (an nn.Module's batch is ``input_shape[0]``).
    ``drift``: a factor (> 0) on every row: how much slower or faster the machine runs now than
    at calibration, e.g. ``evaluate.machine_drift(profile)[0]`` (its anchors re-timed, a few
    seconds). ``conditions["drift"]`` records it.
    """
    import pandas as pd

    name, net, model, shape = resolve(model_or_network, input_shape, batch, build=False)
    prof = _profile(profile, threads, shape[0])
    if net is not None:
        rows = _network_rows(net, prof, shape[0])
    else:
        rows = _module_rows(model, shape, prof)
    call = prof.peaks.call_overhead_s
    rows.append({"layer": "(model call)", "kind": "call", "curve": "call_overhead", "MACs": 0,
                 "weight_bytes": 0, "alone_s": call, **_group_columns([], [], call)})
    _in_network(rows, prof)
    factor = _drift_factor(drift, prof)
    for row in rows:
        row["seconds"] *= factor
    table = pd.DataFrame(rows)
    bad = table[~table["seconds"].map(lambda s: math.isfinite(s) and s > 0)]
    if len(bad):  # never a silent zero: a layer without a time is an error in the model
        raise ValueError(f"layer {bad.iloc[0]['layer']!r} got a predicted time of {bad.iloc[0]['seconds']!r}: "
                         f"allowed is a finite number > 0 (curve {bad.iloc[0]['curve']!r})")
    return LatencyResult(name=name, seconds=float(table["seconds"].sum()), table=table, kind="predicted",
                         batch=shape[0], threads=threads,
                         conditions={"profile_device": prof.device_name, "clock": prof.clock, "drift": factor})


def _drift_factor(drift: float, profile: Profile) -> float:
    """``drift`` checked: a finite number > 0 (not a bool)."""
    if isinstance(drift, (int, float)) and not isinstance(drift, bool) and math.isfinite(drift) and drift > 0:
        return float(drift)
    raise ValueError(f"drift = {drift!r} is invalid: allowed is a finite number > 0 (1: no drift)")


def measure_latency(model_or_network, input_shape=None, *, batch: int = 1, threads: int = 1,
                    clock: str = "wall", samples: int = SAMPLES, device: str = "cpu") -> LatencyResult:
    """Measured seconds per forward call by the interleaved protocol (``protocol``): the low
    percentile ``protocol.QUANTILE`` (the 5th) of ``samples`` calls, with the spread of two
    independent estimates. The table has one row (the whole model). The caller's module keeps its mode (restored after timing)."""
    results = measure_many([model_or_network], input_shape, batch=batch, threads=threads, clock=clock,
                           samples=samples, device=device)
    return results[0]


def measure_many(models: list, input_shape=None, *, batch: int = 1, threads: int = 1, clock: str = "wall",
                 samples: int = SAMPLES, device: str = "cpu", progress=None) -> list[LatencyResult]:
    """``measure_latency`` of several models at once, interleaved call by call (a slow period of
    the machine then hits all of them alike instead of one); ``progress(n)`` after each pass."""
    import pandas as pd
    import torch

    from .protocol import measure_interleaved

    resolved = [resolve(m, input_shape, batch) for m in models]
    cases = [(model, torch.randn(shape)) for _, _, model, shape in resolved]
    found = measure_interleaved(cases, threads=threads, device=device, clock=clock, samples=samples,
                                progress=progress)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    out = []
    for (name, _, _, shape), est in zip(resolved, found):
        table = pd.DataFrame([{"layer": "(whole model)", "kind": "measured", "curve": "", "MACs": None,
                               "seconds": est.seconds}])
        out.append(LatencyResult(name=name, seconds=est.seconds, table=table, kind="measured",
                                 batch=shape[0], threads=threads, spread=est.spread,
                                 conditions={"clock": clock, "samples": est.samples, "load_avg": load}))
    return out
