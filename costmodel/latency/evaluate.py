"""Held-out accuracy of the latency prediction (``latency_eval``), and the "explained gaps" table.

``latency_eval`` draws random configs of EVERY registered design (``sampler.sample_specs``: each
field varied around the design's defaults, invalid combinations rejected), measures each real
module with ``measure.measure`` and compares with ``predict.predict_spec``.
The configs are whole designs (several ops), not the single ops of the training sweep; a
single-op config whose conv geometry appears in the training sweep is skipped, so the two sets
are disjoint.

``explained_gaps`` puts, for each design at its reference config, its MACs ratio to the standard
conv with the same input, output channels, kernel and stride beside the measured and predicted
latency ratios: the table that shows when a MACs saving turns into time and when it does not.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .allocator import settle_for
from .cases import training_case
from .measure import check_positive, default_device, progress_bar, spec_label
from .predict import predict_spec
from .profile import Profile, load_profile
from .protocol import LONG_ITEM_SAMPLES, PARTS, SAMPLES, TARGET_S, measure_interleaved, part_levels, with_levels
from .sampler import sample_specs

@dataclass
class EvalResult:
    """Rows (one per held-out config) and the run's conditions."""

    frame: Any
    conditions: dict[str, Any]

    def summary(self, column: str = "err") -> dict[str, float]:
        """n, fraction within 10% / 20%, median and worst absolute error (%) of ``column``."""
        ok = self.frame.dropna(subset=[column])
        a = ok[column].abs()
        return {"n": int(len(ok)), "within_10": float((a <= 0.10).mean()) if len(ok) else math.nan,
                "within_20": float((a <= 0.20).mean()) if len(ok) else math.nan,
                "median_abs_pct": float(100 * a.median()) if len(ok) else math.nan,
                "worst_abs_pct": float(100 * a.max()) if len(ok) else math.nan}


def _conditions(profile, threads: int, clock: str, min_run_time: float) -> dict[str, Any]:
    import torch

    # a profile calibrated before the settled allocator says so ("default")
    return {"allocator": settle_for(profile.device), "profile_allocator": profile.meta.get("allocator", "default"),
            "utc": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()), "device": profile.device,
            "device_name": profile.device_name, "threads": threads, "clock": clock,
            "torch": torch.__version__, "cpus": os.cpu_count(), "min_run_time_s": min_run_time,
            "load_avg_start": load_average(), "profile_created": profile.meta.get("created", "?")}


def load_average() -> float:
    """The 1-minute load average (NaN where the OS does not tell): how shared the machine was."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def runnable_cases(rows: list[dict[str, Any]], cases: list[tuple[Any, Any]]) -> list[int]:
    """Indices of the cases whose module runs once on its input; a failure is noted in its row."""
    import torch

    ok = []
    for i, (row, (module, x)) in enumerate(zip(rows, cases)):
        try:
            with torch.inference_mode():
                module.eval()(*(x if isinstance(x, tuple) else (x,)))
            ok.append(i)
        except Exception as exc:  # noqa: BLE001 - one broken design must not stop the sweep
            row["error"] = f"{type(exc).__name__}: {exc}"[:200]
    return ok


def op_anchor_cases(profile: Profile) -> tuple[list[dict[str, Any]], list[tuple[Any, Any]]]:
    """The profile's single-op anchors (training ops with their calibration times) and their
    (module, inputs), at the profile's batch."""
    kept = profile.meta.get("anchors") or []
    return kept, [training_case(a["kind"], a["spec"], profile.batch)[:2] for a in kept]


def design_anchor_cases(profile: Profile) -> tuple[list[dict[str, Any]], list[tuple[Any, Any]]]:
    """The profile's whole-design anchors that still build, and their (module, inputs), at the
    profile's batch."""
    from .calibrate import spec_from

    kept, cases = [], []
    for a in profile.meta.get("design_anchors") or []:
        spec = spec_from(a["design"], a["fields"])
        if spec is not None:
            kept.append(a)
            cases.append((spec.module(), spec.example_input(profile.batch)))
    return kept, cases


def network_anchor_cases(profile: Profile) -> tuple[list[dict[str, Any]], list[tuple[Any, Any]]]:
    """The profile's training-network anchors (timed whole by calibrate) and their (module, input)."""
    from .netfit import training_networks

    nets = dict(training_networks())
    kept = [a for a in profile.meta.get("network_anchors") or [] if a["name"] in nets]
    # at the batch calibrate timed them with (the profile's)
    return kept, [(nets[a["name"]].module(), nets[a["name"]].example_input(profile.batch)) for a in kept]


def drift_of(anchors: list[dict[str, Any]], found: Sequence[Any]) -> float | None:
    """How much slower (> 1) or faster the machine runs now than at calibration: the median of
    the anchors' time now / time then (None without anchors)."""
    import numpy as np

    ratios = [est.seconds / a["s"] for a, est in zip(anchors, found)]
    return float(np.median(ratios)) if ratios else None


DRIFT_ANCHORS = ("networks", "designs", "ops")
"""Anchor kinds ``machine_drift`` can re-time, in the order it falls back when a profile lacks one."""

ANCHOR_CASES = {"networks": network_anchor_cases, "designs": design_anchor_cases, "ops": op_anchor_cases}
"""Anchor kind -> its (anchors, cases) builder."""

ANCHOR_NAMES = {"networks": "the training networks", "designs": "whole designs", "ops": "single ops",
                "none": "none"}
"""How evaluation conditions name each anchor kind."""


def measure_with_anchors(cases: Sequence[tuple[Any, Any]], profile: Profile, kinds: Sequence[str],
                         **measure: Any) -> tuple[list[Any], float | None, str]:
    """(estimates of ``cases``, drift, anchor kind): ``cases`` timed interleaved
    (``measure_interleaved(**measure)``) with the profile's anchors of the first of ``kinds``
    it has; drift = their median time now / at calibration (``drift_of``; None and "none"
    where the profile has none of those kinds). Each estimate also carries its halves'
    spread at the anchors' level in each half (``protocol.part_levels``, ``leveled_spread``)."""
    kept, extra, kind = [], [], "none"
    for candidate in kinds:
        kept, extra = ANCHOR_CASES[candidate](profile)
        if kept:
            kind = candidate
            break
    found = measure_interleaved(list(cases) + extra, **measure)
    drift = drift_of(kept, found[len(cases):])
    # each item's halves also at their own anchors' level: the quick state's own drift apart
    found = with_levels(found[:len(cases)], part_levels(found[len(cases):]))
    return found, drift, kind if drift is not None else "none"


def machine_drift(profile: Profile, anchors: str = "networks", samples: int = SAMPLES) -> tuple[float, str]:
    """(factor, anchor kind): how much slower (> 1) or faster this machine runs now than when
    ``profile`` was calibrated, the median time now / then of its anchors of kind ``anchors``
    ("networks": the training networks, a few seconds; "designs": whole designs; "ops": single
    ops), re-timed interleaved; the next kind in DRIFT_ANCHORS where the profile has none of it.
    Multiply a prediction by the factor to predict for the machine as it runs now."""
    if anchors not in DRIFT_ANCHORS:
        raise ValueError(f"anchors = {anchors!r} is invalid: allowed is one of {', '.join(DRIFT_ANCHORS)}")
    _, drift, kind = measure_with_anchors([], profile, DRIFT_ANCHORS[DRIFT_ANCHORS.index(anchors):],
                                          threads=profile.threads, device=profile.device, clock=profile.clock,
                                          samples=samples)
    if drift is None:
        raise ValueError("this profile has no anchors to re-time (a profile from `costmodel calibrate --no-fit` or "
                         "an older one): run `costmodel calibrate`")
    return drift, kind


MEASURED_COLUMNS = ("measured_us", "spread", "raw_spread", "leveled_spread", "samples")
"""The columns an evaluation row takes from its item's ``Estimate.row()``."""


def measured_columns(est: Any) -> dict[str, Any]:
    """measured_us, spread, raw_spread (the spread before the pass normalization was weighed, which
    ``protocol.keep_normalized`` keeps or not; NaN where it was not: off by default,
    ``protocol.NORMALIZE``, or too few items), leveled_spread (the spread with each half at its
    anchors' level, ``protocol.with_levels``; NaN without anchors) and samples of one
    ``protocol.Estimate``."""
    row = est.row()
    return {k: row[k] for k in MEASURED_COLUMNS}


def measure_rows(rows: list[dict[str, Any]], cases: list[tuple[Any, Any]], profile: Profile, *,
                 threads: int, device: str, clock: str, samples: int, anchor: bool,
                 show_progress: bool, target_s: float = TARGET_S) -> tuple[float | None, str]:
    """Measure every runnable case by the interleaved protocol (``protocol``; a case whose call
    outlasts a burst in only every s-th pass, LONG_ITEM_SAMPLES passes at least) and write
    measured_us, spread (of two independent estimates) and the errors into its row. With
    ``anchor``, the profile's whole-design anchors (or, in a profile without them, its op
    anchors) are measured in the same passes; returns (drift, anchor kind): their median
    now / at-calibration time ratio, or (None, "none")."""
    ok = runnable_cases(rows, cases)
    # whole designs are scaled by the drift of whole designs (multi-op modules drift apart from
    # single ops); the single-op anchors only where the profile has no design anchors
    with progress_bar(samples, "latency-eval passes", show_progress) as advance:
        found, drift, kind = measure_with_anchors([cases[i] for i in ok], profile, ("designs", "ops") if anchor else (),
                                                  threads=threads, device=device, clock=clock, samples=samples,
                                                  target_s=target_s, progress=lambda _n: advance(1),
                                                  long_item_samples=LONG_ITEM_SAMPLES)
    for i, est in zip(ok, found):
        rows[i].update(measured_columns(est))
    for row in rows:
        if "measured_us" in row and "error" not in row:
            row["err"] = row["predicted_us"] / row["measured_us"] - 1
            row["roofline_err"] = row["roofline_us"] / row["measured_us"] - 1
            if drift is not None:
                row["anchored_us"] = row["predicted_us"] * drift
                row["anchored_err"] = row["anchored_us"] / row["measured_us"] - 1
    return drift, kind


def latency_eval(per_design: int = 6, seed: int = 2024, threads: int = 1, device: str | None = None,
                 profile_path_: str | None = None, min_run_time: float = 0.25,
                 designs_: list[str] | None = None, clock: str | None = None,
                 anchor: bool = True, show_progress: bool = True, batch: int = 1) -> EvalResult:
    """Measure held-out configs of every (or the named) design and compare with the predictions.

    All configs are measured together by the interleaved protocol (``costmodel.latency.protocol``):
    ``min_run_time / TARGET_S`` passes, each timing a short burst of every config (a config whose
    call outlasts a burst in only every s-th pass, at least LONG_ITEM_SAMPLES: ``measure_rows``),
    the latency the low percentile (``protocol.QUANTILE``) of a config's samples, and ``spread``
    the disagreement of two independent estimates (the first and second half of its samples).

    ``anchor``: the profile's anchors (24 training ops and 12 whole-design configs) are measured
    in the same passes, and a second prediction is reported scaled by how much slower or faster
    the machine runs now than during calibration: the design anchors' drift where the profile
    has them, else the ops' (``anchored_err``; the plain ``err`` is unchanged).
    """
    import pandas as pd

    from ..core.registry import designs, get_design

    check_positive("min_run_time", min_run_time, "a number of seconds > 0")
    device = device or default_device()
    profile = load_profile(profile_path_, device=device, threads=threads, batch=batch)
    clock = clock or profile.clock
    exclude = set(profile.meta.get("train_keys", []))
    classes = [get_design(n) for n in designs_] if designs_ else list(designs().values())
    seen = set(profile.meta.get("train_configs", []))  # whole configs timed by calibrate
    specs = [s for cls in classes for s in sample_specs(cls, per_design, seed, exclude=exclude, skip=seen)]
    conditions = _conditions(profile, threads, clock, min_run_time)
    rows: list[dict[str, Any]] = []
    cases: list[tuple[Any, Any]] = []
    for spec in specs:
        row: dict[str, Any] = {"design": spec.name, "config": spec_label(spec), "macs": spec.macs()}
        try:
            case = (spec.module(), spec.example_input(batch))
            row["predicted_us"] = 1e6 * predict_spec(spec, profile, batch=batch)
            row["roofline_us"] = 1e6 * predict_spec(spec, profile, batch=batch, refined=False)
        except Exception as exc:  # noqa: BLE001 - one broken design must not stop the sweep
            row["error"] = f"{type(exc).__name__}: {exc}"[:200]
            case = (None, None)
        rows.append(row)
        cases.append(case)
    good = [i for i, r in enumerate(rows) if "error" not in r]
    samples = max(PARTS * 2, round(min_run_time / TARGET_S))
    sub = [rows[i] for i in good]
    drift, kind = measure_rows(sub, [cases[i] for i in good], profile, threads=threads, device=device,
                               clock=clock, samples=samples, anchor=anchor, show_progress=show_progress)
    conditions.update(batch=batch, samples=samples, anchor_drift=drift if drift is not None else "n/a", anchors=ANCHOR_NAMES[kind],
                      load_avg_end=load_average(), designs=len(classes))
    return EvalResult(pd.DataFrame(rows), conditions)


# --- explained gaps -------------------------------------------------------------------------------

def reference_conv(spec):
    """The standard conv with the design's input, total output channels, kernel and stride
    (``costmodel.designs.conv.matched_conv``: the one matched conv of the package)."""
    from ..designs.conv import matched_conv

    return matched_conv(spec)


def explained_gaps(threads: int = 1, device: str | None = None, profile_path_: str | None = None,
                   samples: int = SAMPLES, designs_: list[str] | None = None,
                   clock: str | None = None, show_progress: bool = True):
    """One row per design (reference config): MACs, bytes, measured and predicted latency ratios vs
    the same-shape conv.

    Every design and every distinct reference conv are timed together by the interleaved protocol
    (``protocol.measure_interleaved``), so a slow period of the machine hits a design and its conv
    alike instead of one of them. ``ratio spread``: the spread of the latency ratio's independent
    estimates (each part's design estimate / the same part's conv estimate): its reproducibility."""
    import pandas as pd

    from ..core.registry import designs, get_design
    from .protocol import spread

    device = device or default_device()
    profile = load_profile(profile_path_, device=device, threads=threads)
    clock = clock or profile.clock
    classes = [get_design(n) for n in designs_] if designs_ else list(designs().values())
    pairs, rows, modules = [], [], {}
    for cls in classes:
        spec = cls()
        try:
            ref = reference_conv(spec)
            for s in (spec, ref):  # one timed item per distinct spec (most designs share one conv)
                if spec_label(s) not in modules:
                    modules[spec_label(s)] = (s.module(), s.example_input(1))
        except Exception as exc:  # noqa: BLE001 - report, don't stop
            rows.append({"design": cls.name, "note": f"{type(exc).__name__}: {exc}"[:120]})
            continue
        pairs.append((cls.name, spec, ref))
    labels = list(modules)
    with progress_bar(samples, "explained gaps", show_progress) as advance:
        found = dict(zip(labels, measure_interleaved(list(modules.values()), threads=threads, device=device,
                                                     clock=clock, samples=samples,
                                                     progress=lambda _n: advance(1))))
    for name, spec, ref in pairs:
        t_spec, t_ref = found[spec_label(spec)], found[spec_label(ref)]
        rows.append({"design": name,
                     "vs conv": f"{ref.c_in}->{ref.c_out} k{ref.k} s{ref.stride} {ref.h}x{ref.w}",
                     "MACs ratio": spec.macs() / ref.macs(),
                     "bytes ratio": spec.mem_bytes() / ref.mem_bytes(),
                     "measured latency ratio": t_spec.seconds / t_ref.seconds,
                     "predicted latency ratio": predict_spec(spec, profile) / predict_spec(ref, profile),
                     "ratio spread": spread([d / c for d, c in zip(t_spec.estimates, t_ref.estimates)]),
                     "design us": 1e6 * t_spec.seconds, "conv us": 1e6 * t_ref.seconds,
                     "note": ""})
    order = {cls.name: i for i, cls in enumerate(classes)}
    rows.sort(key=lambda r: order[r["design"]])
    return pd.DataFrame(rows).fillna("")


# --- whole networks -------------------------------------------------------------------------------

NETWORK_RESOLUTIONS = {"vgg16_cifar": (32, 64)}
"""Input sizes of the network evaluation; other networks use DEFAULT_RESOLUTIONS (small enough
that a pass over every network and swap stays a few seconds on one core)."""

DEFAULT_RESOLUTIONS = (64, 112)


def network_cases(resolutions: dict[str, tuple[int, ...]] | None = None) -> list[tuple[str, Any]]:
    """(label, Network) of every built-in network and every swap of a swappable network (each
    swappable design into its 3x3 convs), at two resolutions each."""
    from ..networks import network, network_names, swap, swappable
    from ..networks.swaps import SWAP_TARGETS

    table = {**NETWORK_RESOLUTIONS, **(resolutions or {})}
    out = []
    for name in network_names():
        for res in table.get(name, DEFAULT_RESOLUTIONS):
            out.append((f"{name} @{res}", network(name, resolution=res)))
            if name in SWAP_TARGETS:
                for design in swappable():
                    try:
                        out.append((f"{name}[3x3->{design}] @{res}", swap(name, conv3x3=design, resolution=res)))
                    except ValueError:  # a design whose constraints this network breaks
                        continue
    return out


NETWORK_UNTIL_SHARE = 0.95
"""``network_eval`` adds passes (``protocol.measure_interleaved``'s ``until_share``) until this
share of the networks reproduces within ±3% (issue 16's target), up to NETWORK_MAX_SAMPLES."""

NETWORK_MAX_SAMPLES = 100
"""Most interleaved passes of ``network_eval``: 40 passes of the 46 networks and 10 training
networks took 223-257 s on the AMD EPYC VM, 80 passes 447 s and 100 passes 521 s (stop 30)."""

NETWORK_BUDGET_S = 240.0
"""Seconds of ``network_eval``'s measuring (warm-up and passes) after which it starts no more
passes once it has NETWORK_MIN_SAMPLES. Why: on the slow AMD EPYC VM of stops 33-38 a pass took
7.8-8.5 s and the 95% target was never reached, so every run took its 100 passes (15-16 min);
more passes did not buy agreement there: in one 60-pass run (2026-12-07) the two halves of the
first 20, 30, 40 and 60 passes agreed within ±3% for 26%, 28%, 33% and 39% of the 46 networks."""

NETWORK_MIN_SAMPLES = 20
"""Fewest passes of ``network_eval`` whatever its budget: 10 per independent estimate."""


def network_eval(threads: int = 1, profile_path_: str | None = None, clock: str | None = None,
                 samples: int = SAMPLES, extra: list[tuple[str, Any, tuple[int, ...]]] | None = None,
                 show_progress: bool = True, budget_s: float | None = NETWORK_BUDGET_S) -> EvalResult:
    """Measured (interleaved protocol, all networks together) vs predicted (``predict_latency``)
    latency of every built-in network and swap at two resolutions, plus ``extra`` user models
    (label, nn.Module, input shape). Conditions include the Spearman rank correlation.

    Two predictions per network: ``err``, the profile's (its network composition fitted by
    calibrate on TRAINING networks, ``netfit``), and ``cv_err``, the network composition fitted
    here by leave-one-family-out cross-validation (``netfit.group_cv``: each network predicted by
    a fit on the other families' measurements only; family = the network before its swap).

    The networks are timed in ``samples`` passes, more (up to NETWORK_MAX_SAMPLES) until
    NETWORK_UNTIL_SHARE of them reproduce, but no pass starts after ``budget_s`` seconds of
    measuring once NETWORK_MIN_SAMPLES are done (None: no time limit)."""
    import pandas as pd
    import torch
    from scipy.stats import spearmanr

    from .netfit import design_matrix, fixed_seconds, group_cv, single_scale_matrix
    from .network import predict_latency

    if budget_s is not None:  # before anything is built or timed
        check_positive("budget_s", budget_s, "a number of seconds > 0")
    profile = load_profile(profile_path_, threads=threads)
    clock = clock or profile.clock
    conditions = _conditions(profile, threads, clock, 0.0)
    items = [(label, net, None) for label, net in network_cases()] + list(extra or [])
    rows, cases, tables = [], [], []
    for label, model, shape in items:
        pred = predict_latency(model, shape, profile=profile, threads=threads)
        tables.append(pred.table)
        module = model.module() if shape is None else model
        x = model.example_input(1) if shape is None else torch.randn(shape)
        macs = int(pred.table["MACs"].fillna(0).sum())
        rows.append({"design": label.split(" @")[0], "config": label, "macs": macs,
                     "predicted_us": 1e6 * pred.seconds,
                     "roofline_us": 1e6 * predict_latency(model, shape, profile=_roofline(profile),
                                                          threads=threads).seconds})
        cases.append((module, x))
    # networks are scaled by the drift of the training networks calibrate timed whole, where the
    # profile has them, else by that of the single-op anchors
    deadlines = [] if budget_s is None else [(time.perf_counter() + budget_s, NETWORK_MIN_SAMPLES)]
    with progress_bar(samples, "network passes", show_progress) as advance:
        found, drift, anchor_kind = measure_with_anchors(cases, profile, ("networks", "ops"), threads=threads,
                                                         deadlines=deadlines,
                                                         device=profile.device, clock=clock, samples=samples,
                                                         progress=lambda _n: advance(1),
                                                         until_share=NETWORK_UNTIL_SHARE,
                                                         max_samples=max(samples, NETWORK_MAX_SAMPLES))
    for row, est in zip(rows, found):
        row.update(measured_columns(est))
        row["err"] = row["predicted_us"] / row["measured_us"] - 1
        row["roofline_err"] = row["roofline_us"] / row["measured_us"] - 1
    frame = pd.DataFrame(rows)
    families = [family(label) for label, _, _ in items]
    # the cross-validated fit takes the same weight cap as the profile's own composition
    cap = profile.network.weight_cap_bytes if profile.network is not None else profile.l2
    x, measured_s = design_matrix(tables, cap), frame["measured_us"].to_numpy(float) / 1e6
    fixed = fixed_seconds(tables, profile.peaks.call_overhead_s)
    cv = group_cv(x, measured_s, fixed, families)
    frame["cv_single_err"] = group_cv(single_scale_matrix(x), measured_s, fixed,
                                      families) / measured_s - 1  # the one-scale form, same measurements
    frame["family"] = families
    frame["cv_predicted_us"] = 1e6 * cv
    frame["cv_err"] = frame["cv_predicted_us"] / frame["measured_us"] - 1
    if drift is not None:  # the same predictions scaled by how fast the machine runs now
        frame["anchored_us"] = frame["predicted_us"] * drift
        frame["anchored_err"] = frame["anchored_us"] / frame["measured_us"] - 1
        frame["cv_anchored_err"] = frame["cv_predicted_us"] * drift / frame["measured_us"] - 1
    rho = spearmanr(frame["predicted_us"], frame["measured_us"]).statistic if len(frame) > 2 else math.nan
    ok = frame.dropna(subset=["cv_err"])
    cv_rho = spearmanr(ok["cv_predicted_us"], ok["measured_us"]).statistic if len(ok) > 2 else math.nan
    macs_rho = spearmanr(frame["macs"], frame["measured_us"]).statistic if len(frame) > 2 else math.nan
    net = profile.network
    passes = max((e.samples for e in found), default=samples)  # more or fewer than samples: extended, or stopped
    conditions.update(samples=passes, budget_s=budget_s if budget_s is not None else "none", networks=len(frame), spearman=float(rho), spearman_cv=float(cv_rho),
                      anchor_drift=drift if drift is not None else "n/a", anchors=ANCHOR_NAMES[anchor_kind],
                      network_fit=(f"{net.n} training networks" if net is not None else "none (calibrate it)"),
                      spearman_macs=float(macs_rho), load_avg_end=load_average())
    return EvalResult(frame, conditions)


def family(label: str) -> str:
    """The family of a network label: the built-in network before its swap and resolution
    ("resnet50[3x3->ghost] @64" -> "resnet50"); a user model is its own family."""
    return label.split(" @")[0].split("[")[0]


def _roofline(profile: Profile) -> Profile:
    """The same profile without fitted curves (the roofline-only prediction)."""
    import dataclasses

    return dataclasses.replace(profile, curves={}, composition=None, network=None)
