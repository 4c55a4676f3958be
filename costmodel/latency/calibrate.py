"""``costmodel calibrate``: measure this device's roofline peaks with a few micro-benchmarks,
time a training sweep of single ops and of whole designs, and fit the profile's curves.

  * ``dense_macs_per_s``: peak attainable MAC/s of a dense k x k conv (best of a few large shapes),
  * ``depthwise_macs_per_s``: the same for a depthwise conv,
  * ``bandwidth_bytes_per_s``: attainable memory bandwidth of an out-of-place add (2 reads + 1 write),
  * ``call_overhead_s``: the cost of calling an empty ``nn.Sequential`` (the container a design is),
then (unless ``fit=False``) the single-op training sweep (``training_sweep``; curves fitted by
``costmodel.latency.fit``), the whole-design composition sweep and the whole-network sweep of a
few TRAINING networks and their layers alone (``netfit``: widths and swaps that the network
evaluation never scores). Reference ops run in every chunk of every sweep (``reference``), and
the profile is expressed at the machine's quick speed over the chunks (``reference.Reference.quick``). Anchors are kept: 24 training ops
(``pick_anchors``), 12 whole designs (``pick_design_anchors``) and the training networks;
re-timing them later (``evaluate.machine_drift``) tells how much the machine has drifted.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from typing import Any

import numpy as np

from .allocator import settle_for
from .cases import training_case
from .features import WEIGHT_BOUND_MAX_COLUMNS, WEIGHT_BYTES, column_bucket, curve_key, l2_bytes, latency_class
from .fit import fit_composition, fit_curves, residual_model
from .measure import CLOCKS, default_device, device_name, measure, progress_bar, spec_label
from .predict import op_rows, predict_op
from .profile import Peaks, Profile, machine_fingerprint
from .protocol import TARGET_S, measure_interleaved
from .reference import Reference, at_speed, measure_normalized
from .sampler import ADAPTIVE_DRAWS, WIDE_MAX_MACS, adaptive_items, item_key, round_robin, sample_specs, training_plan


DEFAULT_BUDGET_S = 55.0
"""Seconds of the single-op training sweep by default (the whole-design sweep gets as much,
the training networks ~20 s): `costmodel calibrate` stays under 3 minutes on one core. Why not
60: with 60 it took 160-172 s on the AMD EPYC VM on a quiet machine and 179-182 s where it
re-measured disturbed chunks (2026-12-07)."""


CALIBRATE_TARGET_S = 170.0
"""What ``calibrate`` aims at with the default budget (each second of budget beyond it adds two:
the single-op and whole-design sweeps get one each). The single-op sweep keeps its budget; then
the training networks are measured with deadlines (``network_deadlines``) and the whole-design
sweep gets what is left (``sweep_budget``), never running past the time the final fits need
(``sweep_deadline``). Why: the fixed work (peaks, the weight-set chains,
the fits, the training networks) takes longer on a slower CPU. On an AMD EPYC 7xx3 VM (Zen 3,
no AVX-512, 2026-12-07) calibrate took 199-216 s with the full 55 s whole-design sweep and 40
network passes (89 s for the networks alone; runs S7-S9), 167 and 181 s with this order (S10,
S11), 189 s with the designs first at their full budget and the networks' deadline (S12); on
the Zen 4 VM 152-161 s, where neither limit binds. The order did not decide the layer figure:
the design composition's cost per op was 18-21 us in S10-S12 (either order), 13.6 us in S8."""

MIN_COMPOSITION_BUDGET_S = 20.0
"""The whole-design sweep's floor: the design factors need a few configs of every design. The
sweep checks its budget between chunks of 24 configs, so it runs a chunk beyond it (on the Zen 3
VM, 2026-12-07: 34-35 s at a budget of 25 s, 126 configs; calibrate 167 and 181 s, runs S10
and S11)."""

MIN_NETWORK_SAMPLES = 20
"""The training networks' sweep's floor in passes (``protocol.SAMPLES`` = 40 where time allows):
two estimates from halves of 20 passes reproduced within ±3% for 39% of the evaluation networks
on a disturbed machine, halves of 40 for 96% (AMD EPYC VM, stop 30), so fewer is not useful."""

FINAL_FITS_RESERVE_S = 12.0
"""Seconds kept after the whole-design sweep for the final fits (4-8 s on the Zen 3 VM, runs
S17-S24): the sweeps end by ``calibrate_target`` minus this, whatever their floors above."""

LAST_NETWORK_SAMPLES = 10
"""The training networks' hard floor in passes: past the last deadline (``network_deadlines``)
the passes stop even short of MIN_NETWORK_SAMPLES. Why: on the Zen 3 VM at its slowest
(2026-12-07, runs S22-S24, dense peak 20-27 GMAC/s against 37-42) 20 passes took 53-57 s, the
whole-design sweep its 20 s floor plus a chunk (22-26 s), and calibrate 174-181 s by its own
clock, 180-186 s wall: over the 3 minutes. The floors now give way to the deadline. Why the
whole-design sweep keeps its 20 s and the networks give way: with a last network deadline that
left it 10 s (run S25, the same VM, dense peak 25.8 GMAC/s), 20 passes ended at 149 s and the
sweep measured one chunk (24 configs, ~1 per design) in 6 s."""

FIT_RESERVE_S = 30.0
"""Seconds kept for what follows the sweeps: the final fits (16 s on the Zen 3 VM), a chunk's
overrun, a re-measured chunk."""


def calibrate_target(budget_s: float) -> float:
    """Seconds ``calibrate`` aims at: CALIBRATE_TARGET_S + 2 x (budget_s - DEFAULT_BUDGET_S)."""
    return CALIBRATE_TARGET_S + 2 * (budget_s - DEFAULT_BUDGET_S)


def sweep_budget(budget_s: float, elapsed_s: float) -> float:
    """The whole-design sweep's seconds: ``calibrate_target(budget_s)`` - elapsed_s -
    FIT_RESERVE_S, between MIN_COMPOSITION_BUDGET_S and ``budget_s``."""
    left = calibrate_target(budget_s) - elapsed_s - FIT_RESERVE_S
    return float(min(budget_s, max(MIN_COMPOSITION_BUDGET_S, left)))


def sweep_deadline(budget_s: float, elapsed_s: float) -> float:
    """Seconds from the whole-design sweep's start by which its last chunk ends (no chunk starts
    that the longest so far would end after it): ``calibrate_target(budget_s)`` - elapsed_s -
    FINAL_FITS_RESERVE_S, at least MIN_COMPOSITION_BUDGET_S. ``sweep_budget`` is when the sweep
    stops starting chunks on time; this is what it never runs past, floors and all."""
    return float(max(MIN_COMPOSITION_BUDGET_S, calibrate_target(budget_s) - elapsed_s - FINAL_FITS_RESERVE_S))


def network_deadlines(budget_s: float, start: float) -> list[tuple[float, int]]:
    """The training networks' (time, passes) deadlines (``protocol.measure_interleaved``) for a
    calibration started at ``start`` (``time.perf_counter()``): MIN_NETWORK_SAMPLES passes, then
    none after the time that leaves the whole-design sweep MIN_COMPOSITION_BUDGET_S and the fits
    FIT_RESERVE_S; LAST_NETWORK_SAMPLES passes, then none after the time that leaves the sweep
    MIN_COMPOSITION_BUDGET_S and the final fits only FINAL_FITS_RESERVE_S."""
    target = start + calibrate_target(budget_s)
    return [(target - FIT_RESERVE_S - MIN_COMPOSITION_BUDGET_S, MIN_NETWORK_SAMPLES),
            (target - FINAL_FITS_RESERVE_S - MIN_COMPOSITION_BUDGET_S, LAST_NETWORK_SAMPLES)]


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


WEIGHT_SET_CHAIN = (1, 2, 4, 6, 12)
"""Convs in turn of ``weight_set_curves``' chains: 4 to 48 MiB of weights cycled per call, from
within a server's last-level cache share to well beyond it."""

WEIGHT_SET_CHANNELS = 1024
"""Channels in and out of the chains' 1x1 convs: 4 MiB of fp32 weights each."""

WEIGHT_SET_SIDES = (2, 3, 4)
"""Pixels a side of the chains' inputs: the weight-bound corner's column buckets 4, 9 and 16."""


def weight_set_curves(threads: int, device: str, clock: str, samples: int = 20) -> dict[int, tuple[tuple[float, float], ...]]:
    """Per column bucket (``features.column_bucket``), (weight bytes per call, seconds per weight
    byte) of chains of WEIGHT_SET_CHAIN distinct 1024 -> 1024 1x1 convs on WEIGHT_SET_SIDES
    pixels a side, all measured interleaved (``protocol``): how a weight-bound op's rate grows
    when a call cycles more weights than the caches keep (``Peaks.cold_s_per_byte``). About 2 s
    on the AMD EPYC VM. Empty off the CPU."""
    import torch

    if not device.startswith("cpu"):
        return {}
    c = WEIGHT_SET_CHANNELS
    convs = [torch.nn.Conv2d(c, c, 1, bias=False) for _ in range(max(WEIGHT_SET_CHAIN))]
    cases = [(torch.nn.Sequential(*convs[:n]), torch.randn(1, c, side, side))
             for side in WEIGHT_SET_SIDES for n in WEIGHT_SET_CHAIN]
    found = iter(measure_interleaved(cases, threads=threads, device=device, clock=clock, samples=samples))
    per_conv = WEIGHT_BYTES * c * c
    return {column_bucket(side * side): tuple((float(n * per_conv), next(found).seconds / (n * per_conv))
                                              for n in WEIGHT_SET_CHAIN) for side in WEIGHT_SET_SIDES}


def measure_peaks(threads: int = 1, device: str = "cpu", min_run_time: float = 0.3,
                  clock: str = "wall") -> Peaks:
    """The roofline numbers: best dense and depthwise MAC/s over a few shapes, bandwidth, overhead,
    and the weight-set curves (``weight_set_curves``)."""
    args = (threads, device, min_run_time, clock)
    dense = max(_conv_rate(c, c, 3, hw, 1, *args) for c, hw in ((128, 28), (256, 14)))
    depthwise = max(_conv_rate(c, c, k, 56, c, *args) for c, k in ((256, 3), (128, 5)))
    return Peaks(dense_macs_per_s=dense, depthwise_macs_per_s=depthwise,
                 bandwidth_bytes_per_s=_bandwidth(*args),
                 call_overhead_s=_call_overhead(threads, device, min_run_time / 3, clock),
                 l2_bytes=float(l2_bytes()), weight_set_curves=weight_set_curves(threads, device, clock))


def calibrate(threads: int = 1, device: str | None = None, fit: bool = True,
              budget_s: float = DEFAULT_BUDGET_S, seed: int = 0, show_progress: bool = True,
              clock: str = "auto", sweep_csv: str | None = None, batch: int = 1,
              networks: bool = True) -> Profile:
    """Measure this device's peaks and (``fit``) fit the efficiency curves on a training sweep
    (its rows are written to ``sweep_csv`` when given). ``clock`` "auto": the clock whose
    measurements reproduce better on this machine now (``choose_clock``). ``batch``: the
    sweeps run at that batch (a profile key of its own, like ``threads``). ``networks``: also fit
    the network composition on the training networks (``netfit.network_sweep``)."""
    import pandas as pd
    import torch

    if threads < 1:
        raise ValueError(f"threads = {threads!r} is invalid: allowed is an integer >= 1")
    if batch < 1:
        raise ValueError(f"batch = {batch!r} is invalid: allowed is an integer >= 1")
    device = device or default_device()
    start = time.perf_counter()
    meta: dict[str, Any] = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    phases: dict[str, float] = {}  # where the time went (seconds per phase)
    meta["phases_s"] = phases
    last = [start]

    def lap(name: str) -> None:
        now = time.perf_counter()
        phases[name] = now - last[0]
        last[0] = now

    if clock == "auto":
        clock, meta["clock_spread"] = choose_clock(threads, device, seed)
    elif clock not in CLOCKS:
        raise ValueError(f"clock = {clock!r} is invalid: allowed is auto or one of {', '.join(CLOCKS)}")
    peaks = measure_peaks(threads, device, clock=clock)
    lap("clock_and_peaks")
    meta["allocator"] = settle_for(device)  # every sweep timed with malloc settled (allocator)
    profile = Profile(device=device, device_name=device_name(device), threads=threads,
                      torch_version=torch.__version__, peaks=peaks, clock=clock, batch=batch)
    curves: dict[str, Any] = {}
    composition = network = None
    if fit:
        reference = Reference.build(batch)
        frame = training_sweep(profile, budget_s=budget_s, seed=seed, show_progress=show_progress,
                               reference=reference)
        lap("training_sweep")
        if sweep_csv:
            frame.to_csv(sweep_csv, index=False)
        curves = fit_curves(frame, profile)
        meta["residual_models"] = {k: residual_model(c) for k, c in sorted(curves.items())}
        meta["train_points"] = int(len(frame))
        meta["train_keys"] = sorted(set(frame["key"]))
        meta["anchors"] = pick_anchors(frame)
        frame = frame.drop(columns=["item"])
        with_curves = dataclasses.replace(profile, curves=curves)
        lap("fit")
        nets = None
        if networks:
            from .netfit import network_sweep

            # the training networks first, with deadlines: the whole-design sweep then gets
            # what is left (``sweep_budget``) and the final fits their reserve (``sweep_deadline``)
            nets = network_sweep(with_curves, show_progress=show_progress, reference=reference, tables=False,
                                 deadlines=network_deadlines(budget_s, start))
            lap("network_sweep")
        elapsed = time.perf_counter() - start
        compose_s, finish_s = sweep_budget(budget_s, elapsed), sweep_deadline(budget_s, elapsed)
        meta["composition_budget_s"], meta["composition_deadline_s"] = compose_s, finish_s
        # 6 configs per design (+ 2 network-sized): small design spaces (subdivision has ~10
        # configs) must keep enough configs that calibrate never timed for latency-eval
        designs_frame = composition_sweep(with_curves, seed=seed, budget_s=compose_s, per_design=6, wide=2,
                                          show_progress=show_progress, reference=reference, finish_s=finish_s)
        lap("composition_sweep")
        if sweep_csv:
            designs_frame.to_csv(str(sweep_csv) + ".designs.csv", index=False)
        # the law (scale, per-op cost) from the random design configs of the held-out range; each
        # design's factor from those and its network-sized configs, and its factor as a
        # network's layer from the training networks' layers too (``fit_composition``)
        wide = designs_frame["wide"].astype(bool) if len(designs_frame) else None
        small = designs_frame if wide is None else designs_frame[~wide]
        sized = [] if wide is None else [designs_frame[wide]]
        layers = None
        if nets is not None:
            from .netfit import fit_measured_composition, with_tables

            # the composition so far gives the layers' op-group shares in the network tables
            interim = fit_composition(small, profile, extra=pd.concat(sized) if sized else None)
            nets = with_tables(nets, dataclasses.replace(with_curves, composition=interim))
            meta["network_passes"] = nets.passes
            # weights count up to the L2 of a core: what a layer keeps in cache alone only
            network = fit_measured_composition(nets, peaks.call_overhead_s, weight_cap=with_curves.l2)
            layers = nets.layers
        extra = pd.concat(sized, ignore_index=True) if sized else None
        composition = fit_composition(small, profile, extra=extra, network_extra=layers)
        timed = [part.get("config", []) for part in (designs_frame, extra, layers) if part is not None]
        meta["train_configs"] = sorted(set().union(*map(set, timed)))
        meta["reference_drift"] = reference.summary()
        meta["design_anchors"] = pick_design_anchors(small)
        if networks:
            meta["network_anchors"] = [{"name": n, "s": float(t)} for n, t in zip(nets.names, nets.measured)]
    lap("final_fits")
    meta["seconds"] = time.perf_counter() - start
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    meta["load_average_1min"] = load
    fitted = Profile(device=device, device_name=profile.device_name, threads=threads,
                     torch_version=torch.__version__, peaks=peaks, curves=curves, clock=clock, meta=meta,
                     composition=composition, fingerprint=machine_fingerprint(device, threads, clock, batch),
                     batch=batch, network=network)
    # the sweeps were normalized to their first chunk's machine speed: express the profile at
    # the machine's quick speed over them (one slow first chunk put every prediction ~15% high,
    # 2026-12-06; a slow spell over most chunks ~13% high, 2026-12-07: ``Reference.quick``)
    return at_speed(fitted, reference.quick()) if fit else fitted


SWEEP_SAMPLES = 30
"""Interleaved passes per chunk of the training sweeps (the latency: their low percentile, ``protocol.QUANTILE``)."""

CHUNK = 24
"""Items measured interleaved together; the sweep checks its time budget between chunks."""


def _measure_chunks(items: list, build, profile: Profile, budget_s: float, samples: int,
                    desc: str, show_progress: bool, reference: Reference | None = None,
                    min_items: int = 0, finish_s: float = math.inf) -> list[tuple[Any, Any, Any]]:
    """(item, built, Estimate) for the items measured chunk by chunk (``protocol``) until the
    budget is spent, but never before the chunks that hold the first ``min_items`` items (the
    top-up of keys short of a curve, ``adaptive_budget``). ``build(item)`` -> (module, inputs,
    extra) or None when it cannot run. ``finish_s``: a hard end (seconds from the start): after
    the first chunk, no chunk starts, and no disturbed chunk is measured again, that the
    longest chunk so far would carry past it (the chunks of the first ``min_items`` aside).
    With a ``reference``, its ops run in every chunk and the chunk's times are normalized to
    the machine speed of the reference's first chunk (``reference.Reference``)."""
    start = time.perf_counter()
    out = []
    longest = 0.0
    with progress_bar(len(items), desc, show_progress) as advance:
        for k in range(0, len(items), CHUNK):
            began = time.perf_counter() - start
            if k >= min_items and (began > budget_s or began + longest > finish_s):
                break
            built = [(item, b) for item in items[k:k + CHUNK] if (b := build(item)) is not None]
            found = measure_normalized([(b[0], b[1]) for _, b in built], reference, threads=profile.threads,
                                       device=profile.device, clock=profile.clock, samples=samples, seed=k,
                                       retry=k < min_items or began + 2 * longest <= finish_s)
            longest = max(longest, time.perf_counter() - start - began)
            out += [(item, b, est) for (item, b), est in zip(built, found)]
            advance(len(items[k:k + CHUNK]))
    return out


ADAPTIVE_SHARE = 0.3
"""Share of the training-sweep budget spent adaptively (``sampler.adaptive_items``), after a
first fit on the rest: where the curves' cross-validated error is largest."""


def adaptive_budget(left_s: float, needed: dict[str, int], samples: int) -> int:
    """Items of the adaptive sweep: as many as ``left_s`` allows at about ``samples`` bursts of
    TARGET_S (plus warm-up) each (~22 ms an item at 30), never fewer than the top-up ``needed``
    (``short_keys``). ``sampler.adaptive_items`` puts the top-up first and ``_measure_chunks``
    (``min_items``) measures it whatever the time, so it runs even when the plan has spent the
    whole budget.

    Why: on a disturbed spell the plan's chunks are measured again (``reference``) and can take
    all of the budget. In run S19 (AMD EPYC 7xx3 VM, 2026-12-07; reference ops 0.94-1.42x, four
    chunks measured again) the plan ran 63 s of a 55 s budget, the adaptive sweep got nothing,
    and oneDNN's blocked grouped convs ("group/onednn") were left with 6 ops: no curve of their
    own. The top-up is a few items (~0.1 s each)."""
    return max(int(max(left_s, 0.0) / (1.5 * samples * TARGET_S)), sum(needed.values()))


def short_keys(rows: list[dict[str, Any]], device: str = "cpu") -> dict[str, int]:
    """Curve keys of the training rows' convs (the classes the adaptive sweep can draw,
    ``sampler.ADAPTIVE_DRAWS``) with fewer than ``fit.MIN_CURVE_POINTS`` ops (key -> how many more
    a curve of its own needs).

    Why transposed convs too: the plan's few (a third of a class's share, shuffled among the
    design convs) were cut by the budget to 1 on the Zen 3 VM (runs S13, S14), so the spatial
    bottleneck's upsampling had no curve and took the roofline: 20 us predicted, ~100 us measured
    (a 64 -> 64 2 x 2 stride-2 transposed conv to 14 x 14, ATen's slow_conv_transpose2d)."""
    from collections import Counter

    from .fit import MIN_CURVE_POINTS

    counts = Counter(curve_key(r, device) for r in rows if r["macs"] and r["cls"] in ADAPTIVE_DRAWS)
    short = {k: MIN_CURVE_POINTS - n for k, n in counts.items() if n < MIN_CURVE_POINTS}
    seen = {r["cls"] for r in rows if r["macs"]}
    return {**{cls: MIN_CURVE_POINTS for cls in ADAPTIVE_DRAWS if cls not in seen}, **short}  # a class with none at all


def training_sweep(profile: Profile, budget_s: float = DEFAULT_BUDGET_S, seed: int = 0, samples: int = SWEEP_SAMPLES,
                   show_progress: bool = True, adaptive: float = ADAPTIVE_SHARE, reference: Reference | None = None):
    """Time the training items (single ops) interleaved, chunk by chunk, until ``budget_s``
    seconds; one row per op (its op-table row, ``measured_s`` and the ``spread`` of two estimates).

    Adaptive sampling: the plan gets ``1 - adaptive`` of the budget; then the curves are fitted
    and the rest of the budget goes to extra convs of the keys with the largest cross-validated
    error (``sampler.adaptive_items``, one item per ~22 ms of budget left); keys short of a curve
    are topped up first, even when the plan has spent the whole budget (``adaptive_budget``).
    The adaptive sweep ends by the budget (``_measure_chunks``' ``finish_s``), the top-up aside:
    it started chunks until the budget, and a disturbed one was measured again, so the sweep ran
    68 s of its 55 s (AMD EPYC 7xx3 VM, run S27, 2026-12-07)."""
    import pandas as pd

    # the plan grows with the budget (30 s: ~400 ops); the loop stops at the budget
    scale = max(1.0, budget_s / 30.0)
    plan = training_plan(seed, per_conv_class=int(40 * scale), per_stream_kind=int(5 * scale),
                         linear=int(8 * scale), per_design=int(3 * scale),
                         # at a batch over 16 no conv is in the weight-bound corner (features)
                         weight_bound=int(28 * scale) if profile.batch <= WEIGHT_BOUND_MAX_COLUMNS else 0)
    start = time.perf_counter()

    def build(item):
        return training_case(*item, batch=profile.batch)

    def rows_of(found) -> list[dict[str, Any]]:
        out = []
        for (kind, spec), (_, _, row), est in found:
            row.update(key=item_key(kind, spec), measured_s=est.seconds, spread=est.spread, item=(kind, spec),
                       cls=latency_class(row))
            out.append(row)
        return out

    rows = rows_of(_measure_chunks(plan, build, profile, budget_s * (1 - adaptive), samples,
                                   "training sweep", show_progress, reference))
    left = budget_s - (time.perf_counter() - start)
    needed = short_keys(rows, profile.device) if rows else {}
    if adaptive > 0 and rows and (left > 1.0 or needed):
        errors = {}
        if left > 1.0:  # rank the keys by error; with no time left only the top-up runs
            curves = fit_curves(pd.DataFrame(rows), profile, regressors=False)
            errors = {k: c.cv_median_abs_pct for k, c in curves.items()
                      if getattr(c, "cv_median_abs_pct", None) is not None}
            # the fit is part of the budget (7 s of a 60 s sweep on the AMD EPYC VM, 2026-12-06)
            left = budget_s - (time.perf_counter() - start)
        extra = adaptive_items(errors, count=adaptive_budget(left, needed, samples), seed=seed,
                               device=profile.device, needed=needed)
        seen = {r["key"] for r in rows}
        extra = [it for it in extra if item_key(*it) not in seen]
        rows += [dict(r, adaptive=True) for r in rows_of(_measure_chunks(
            extra, build, profile, left, samples, "adaptive sweep", show_progress, reference,
            min_items=sum(needed.values()), finish_s=left))]
    return pd.DataFrame(rows)


def composition_sweep(profile: Profile, seed: int = 0, per_design: int = 3, budget_s: float = 10.0,
                      samples: int = SWEEP_SAMPLES, show_progress: bool = True, reference: Reference | None = None,
                      wide: int = 1, finish_s: float = math.inf):
    """Whole designs (random configs, a TRAINING seed apart from latency-eval's, plus ``wide``
    network-sized configs per design): measured time beside the sum of their ops' fitted
    predictions. One row per config (``wide`` True for the network-sized ones). Chunks start
    until ``budget_s``; none runs past ``finish_s`` (``_measure_chunks``)."""
    import pandas as pd

    from ..core.registry import designs

    small = [sample_specs(cls, per_design, seed=f"compose{seed}", max_macs=60_000_000) for cls in designs().values()]
    # and network-sized configs of every design (its factor must hold where networks use it)
    big = [sample_specs(cls, wide, seed=f"compose-wide{seed}", max_macs=int(WIDE_MAX_MACS), wide=True)
           for cls in designs().values()]
    wide_ids = {id(s) for specs_ in big for s in specs_}
    specs = composition_order(small, big, seed)

    def build(spec):
        try:
            ops_ = op_rows(spec, profile.batch)
            module, x = spec.module(), spec.example_input(profile.batch)
            with torch_inference():
                module.eval()(x)
        except Exception:  # noqa: BLE001 - a design that cannot run gives no point
            return None
        return module, x, ops_

    rows = [{"config": spec_label(spec), "design": spec.name, "fields": spec_fields(spec), "measured_s": est.seconds,
             "n_ops": len(b[2]), "sum_ops_s": sum(predict_op(r, profile) for r in b[2]), "wide": id(spec) in wide_ids}
            for spec, b, est in _measure_chunks(specs, build, profile, budget_s, samples,
                                                "composition sweep", show_progress, reference,
                                                finish_s=finish_s)]
    return pd.DataFrame(rows)


SMALL_ROUNDS_FIRST = 2
"""Rounds of one random config of every design that open the whole-design sweep before any
network-sized config (``composition_order``)."""


def composition_order(small: list[list], big: list[list], seed: int = 0) -> list:
    """The whole-design sweep's order: SMALL_ROUNDS_FIRST rounds of one random config of every
    design (designs in a seeded random order, the same in every round), then the network-sized
    configs' rounds alternating with the remaining random ones. ``small`` / ``big``: each
    design's random / network-sized configs, design by design in the same order.

    Why: the sweep stops between chunks of 24 configs when its time runs out, and on a slow
    machine it measured one chunk (AMD EPYC 7xx3 VM, 2026-12-08, runs S38 and S39: 10 s, 24
    configs). Shuffled, that chunk held 6 network-sized configs (up to 11-19 ms a call) and
    configs of only 15 of the 21 designs; in this order one chunk is a random config of every
    design and 3 of a second round."""
    per_design = list(zip(small, big))
    random.Random(seed).shuffle(per_design)
    rounds, wide_rounds = (_rounds([configs[i] for configs in per_design]) for i in (0, 1))
    head, rest = rounds[:SMALL_ROUNDS_FIRST], rounds[SMALL_ROUNDS_FIRST:]
    return [s for part in head + round_robin([wide_rounds, rest]) for s in part]


def _rounds(lists: list[list]) -> list[list]:
    """Round r: the r-th item of every list that has one, in the lists' order."""
    return [[items[r] for items in lists if r < len(items)] for r in range(max(map(len, lists), default=0))]


def torch_inference():
    """``torch.inference_mode()`` (torch imported only when a sweep runs)."""
    import torch

    return torch.inference_mode()


def choose_clock(threads: int, device: str, seed: int = 0, items: int = 12,
                 samples: int = 2 * SWEEP_SAMPLES) -> tuple[str, dict[str, float]]:
    """The clock with the more reproducible measurements on this machine now: a dozen training
    ops measured with each clock (wall, thread, wall, thread), the median spread of their two
    independent estimates compared. Wall only where thread CPU time is not the latency (CUDA,
    threads > 1)."""
    import numpy as np

    if device != "cpu" or threads != 1:
        return "wall", {}
    cases = [training_case(*it)[:2] for it in training_plan(seed + 1, per_conv_class=3, per_stream_kind=1,
                                                             linear=1, per_design=0)[:items]]
    spreads: dict[str, list[float]] = {"wall": [], "thread": []}
    for clock in ("wall", "thread", "wall", "thread"):
        found = measure_interleaved(cases, threads=threads, device=device, clock=clock, samples=samples // 2)
        spreads[clock] += [e.spread for e in found]
    median = {c: float(np.median(v)) for c, v in spreads.items()}
    return min(median, key=lambda c: (median[c], c != "thread")), median


ANCHORS = 24
"""Training ops kept as anchors. On a shared VM the machine itself runs 5-20% faster or slower
from one minute to the next (measured on the 2-core Intel Xeon VM, 2026-12-06: the same ops
re-timed two minutes after calibration ran 8% and 18% faster), so every evaluation re-times them
in its own passes; two dozen, spread over the op groups, keep that factor's own noise small."""


def pick_anchors(frame, count: int = ANCHORS) -> list[dict[str, Any]]:
    """A few training ops of every op group (``features.TIME_GROUPS``), each group's spread over
    its time range (every n-th by measured time), stored in the profile with their times:
    re-timing them later tells how much faster or slower the machine runs now than during
    calibration."""
    import pandas as pd

    from .features import TIME_GROUPS, time_group

    groups = np.array([time_group(r) for r in frame.to_dict("records")])
    picks = [spread_over_time(frame[groups == g], count // len(TIME_GROUPS)) for g in TIME_GROUPS]
    picks = [p for p in picks if len(p)]
    if not picks:
        return []
    chosen = pd.concat(picks, ignore_index=True)
    return [{"kind": it[0], "spec": it[1], "s": float(t)} for it, t in zip(chosen["item"], chosen["measured_s"])]


def spec_fields(spec) -> dict[str, Any]:
    """The non-default fields of a spec (JSON values), enough to build it again (``spec_from``)."""
    import dataclasses

    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)
            if f.name != "dtype_bytes" and getattr(spec, f.name) != f.default}


def spec_from(design: str, fields: dict[str, Any]):
    """The spec of a design anchor (``spec_fields``); None if the design no longer accepts it."""
    from ..core.registry import get_design

    try:
        return get_design(design)(**fields)
    except (TypeError, ValueError):
        return None


def pick_design_anchors(frame, count: int = ANCHORS // 2) -> list[dict[str, Any]]:
    """Whole-design anchors: ``count`` configs of the composition sweep spread over its time
    range. Re-timed by latency-eval beside the held-out configs, they give the drift of whole
    designs (multi-op modules drifted 7% more than single ops between calibration and a
    latency-eval two minutes later; Intel Xeon VM, 2026-12-06)."""
    if not len(frame) or "fields" not in frame:
        return []
    picks = spread_over_time(frame, count)
    return [{"design": d, "fields": f, "s": float(t)} for d, f, t in zip(picks["design"], picks["fields"], picks["measured_s"])]


def spread_over_time(frame, count: int):
    """``count`` rows of ``frame`` spread over its time range: every n-th by ``measured_s``
    (n = rows // count), starting half a step in."""
    ordered = frame.sort_values("measured_s").reset_index(drop=True)
    step = max(1, len(ordered) // max(1, count))
    return ordered.iloc[step // 2::step].head(count)
