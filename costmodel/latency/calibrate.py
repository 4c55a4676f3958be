"""``costmodel calibrate``: measure this device's roofline peaks with a few micro-benchmarks,
time a training sweep of single ops and of whole designs, and fit the profile's curves.

  * ``dense_macs_per_s``: peak attainable MAC/s of a dense k x k conv (best of a few large shapes),
  * ``depthwise_macs_per_s``: the same for a depthwise conv,
  * ``bandwidth_bytes_per_s``: attainable memory bandwidth of an out-of-place add (2 reads + 1 write),
  * ``call_overhead_s``: the cost of calling an empty ``nn.Sequential`` (the container a design is),
then (unless ``fit=False``) the single-op training sweep (``training_sweep``; curves fitted by
``costmodel.latency.fit``) and the whole-design composition sweep. A dozen training ops are kept
as anchors (``pick_anchors``): re-timing them later tells how much the machine has drifted.
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from typing import Any

import numpy as np

from .cases import training_case
from .features import l2_bytes, latency_class
from .fit import fit_composition, fit_curves
from .measure import default_device, device_name, measure, progress, spec_label
from .predict import op_rows, predict_op
from .profile import Peaks, Profile
from .sampler import item_key, sample_specs, training_plan


def _conv_rate(cin: int, cout: int, k: int, hw: int, groups: int, threads: int, device: str,
               min_run_time: float, clock: str) -> float:
    """MAC/s of one conv shape (batch 1, fp32)."""
    import torch

    conv = torch.nn.Conv2d(cin, cout, k, 1, k // 2, groups=groups, bias=False)
    x = torch.randn(1, cin, hw, hw)
    macs = cout * (cin // groups) * k * k * hw * hw
    return macs / measure(conv, x, threads=threads, device=device, min_run_time=min_run_time,
                          clock=clock).median_s


def _bandwidth(threads: int, device: str, min_run_time: float, clock: str,
               elements: int = 1 << 23) -> float:
    """Bytes/s of ``torch.add(a, b, out=c)`` on ``elements`` fp32 values (32 MiB per tensor)."""
    import torch

    class AddInto(torch.nn.Module):
        def forward(self, a, b, c):
            return torch.add(a, b, out=c)

    tensors = tuple(torch.randn(elements) for _ in range(3))
    timing = measure(AddInto(), tensors, threads=threads, device=device, min_run_time=min_run_time,
                     clock=clock)
    return 3 * 4 * elements / timing.median_s


def _call_overhead(threads: int, device: str, min_run_time: float, clock: str) -> float:
    """Seconds per call of an empty nn.Sequential (what a design's container adds)."""
    import torch

    x = torch.randn(1, 8, 4, 4)
    return measure(torch.nn.Sequential(), x, threads=threads, device=device,
                   min_run_time=min_run_time, clock=clock).median_s


def measure_peaks(threads: int = 1, device: str = "cpu", min_run_time: float = 0.3,
                  clock: str = "wall") -> Peaks:
    """The roofline numbers: best dense and depthwise MAC/s over a few shapes, bandwidth, overhead."""
    args = (threads, device, min_run_time, clock)
    dense = max(_conv_rate(c, c, 3, hw, 1, *args) for c, hw in ((128, 28), (256, 14)))
    depthwise = max(_conv_rate(c, c, k, 56, c, *args) for c, k in ((256, 3), (128, 5)))
    return Peaks(dense_macs_per_s=dense, depthwise_macs_per_s=depthwise,
                 bandwidth_bytes_per_s=_bandwidth(*args),
                 call_overhead_s=_call_overhead(threads, device, min_run_time / 3, clock),
                 l2_bytes=float(l2_bytes()))


def calibrate(threads: int = 1, device: str | None = None, fit: bool = True,
              budget_s: float = 35.0, seed: int = 0, show_progress: bool = True,
              clock: str = "wall", sweep_csv: str | None = None) -> Profile:
    """Measure this device's peaks and (``fit``) fit the efficiency curves on a training sweep
    (its rows are written to ``sweep_csv`` when given)."""
    import torch

    if threads < 1:
        raise ValueError(f"threads = {threads!r} is invalid: allowed is an integer >= 1")
    device = device or default_device()
    start = time.perf_counter()
    peaks = measure_peaks(threads, device, clock=clock)
    profile = Profile(device=device, device_name=device_name(device), threads=threads,
                      torch_version=torch.__version__, peaks=peaks, clock=clock)
    meta: dict[str, Any] = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    curves: dict[str, Any] = {}
    composition = None
    if fit:
        frame = training_sweep(profile, budget_s=budget_s, seed=seed, show_progress=show_progress)
        if sweep_csv:
            frame.to_csv(sweep_csv, index=False)
        curves = fit_curves(frame, profile)
        meta["train_points"] = int(len(frame))
        meta["train_keys"] = sorted(set(frame["key"]))
        meta["anchors"] = pick_anchors(frame)
        frame = frame.drop(columns=["item"])
        with_curves = dataclasses.replace(profile, curves=curves)
        # 3 configs per design: small design spaces (subdivision has ~10 configs) must keep
        # enough configs that calibrate never timed for latency-eval
        designs_frame = composition_sweep(with_curves, seed=seed, budget_s=budget_s / 3, per_design=3,
                                          show_progress=show_progress)
        if sweep_csv:
            designs_frame.to_csv(str(sweep_csv) + ".designs.csv", index=False)
        composition = fit_composition(designs_frame, profile)
        meta["train_configs"] = sorted(designs_frame["config"]) if len(designs_frame) else []
    meta["seconds"] = time.perf_counter() - start
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    meta["load_average_1min"] = load
    return Profile(device=device, device_name=profile.device_name, threads=threads,
                   torch_version=torch.__version__, peaks=peaks, curves=curves, clock=clock, meta=meta,
                   composition=composition)


def training_sweep(profile, budget_s: float = 35.0, seed: int = 0, min_run_time: float = 0.03,
                   show_progress: bool = True):
    """Time every training item (single ops) until ``budget_s`` seconds; one row per op."""
    import pandas as pd

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


def composition_sweep(profile, seed: int = 0, per_design: int = 3, budget_s: float = 10.0,
                      min_run_time: float = 0.05, show_progress: bool = True):
    """Whole designs (random configs, a TRAINING seed apart from latency-eval's): measured time
    beside the sum of their ops' fitted predictions. One row per config."""
    import pandas as pd

    from ..core.registry import designs

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
    anchors = profile.meta.get("anchors") or []
    ratios = []
    for a in anchors:
        module, inputs, _ = training_case(a["kind"], a["spec"])
        t = measure(module, inputs, threads=profile.threads, device=profile.device,
                    min_run_time=min_run_time, clock=profile.clock).median_s
        ratios.append(t / a["s"])
    return float(np.median(ratios)) if ratios else None

