"""Held-out accuracy of the latency prediction, and the "explained gaps" table.

``latency_eval`` draws random configs of EVERY registered design (``sample_specs``: each field
varied around the design's defaults, invalid combinations rejected), measures each real module
with ``costmodel.latency.measure_spec`` and compares with ``costmodel.predict.predict_spec``.
The configs are whole designs (several ops), not the single ops of the training sweep; a
single-op config whose conv geometry appears in the training sweep is skipped, so the two sets
are disjoint.

``explained_gaps`` puts, for each design at its reference config, its MACs ratio to the standard
conv with the same input, output channels, kernel and stride beside the measured and predicted
latency ratios: the table that shows when a MACs saving turns into time and when it does not.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from dataclasses import dataclass
from typing import Any

SPATIAL = (7, 14, 28, 56)
"""Input sizes the held-out configs use (square)."""

CHANNEL_FACTORS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
"""Channel-like fields are the default times one of these, rounded to a multiple of 4."""

MAX_MACS = 300_000_000
"""Configs above this many MACs are redrawn, so the sweep stays a few minutes long."""


def _is_channel(name: str) -> bool:
    return name == "n" or (name.startswith("c") and name not in ("c_se",))


def _draw_field(name: str, rng_: Any, default: Any, r: random.Random) -> Any:
    """One random value of a field near its default (see the module docstring)."""
    if name == "dtype_bytes":
        return 4
    if rng_.kind == "flag":
        return r.random() < 0.5 if name in ("bias", "bn", "act") else default
    if rng_.kind == "choice":
        return default if r.random() < 0.5 else r.choice(rng_.options)
    if rng_.kind == "real":
        if r.random() < 0.5:
            return default
        lo, hi = rng_.lo, rng_.hi
        grid = [lo + (hi - lo) * i / 8 for i in range(9)]
        grid = [g for g in grid if rng_.accepts(g)]
        return r.choice(grid) if grid else default
    if default is dataclasses.MISSING or default is None:
        return None
    if name in ("h", "w"):
        return r.choice(SPATIAL)
    if name == "stride":
        return r.choice((1, 1, 2))
    if name == "k":
        return r.choice((default, 3, 5)) if default > 1 else default
    if _is_channel(name):
        return max(4, int(round(default * r.choice(CHANNEL_FACTORS) / 4)) * 4)
    if r.random() < 0.6:
        return default
    return max(int(rng_.lo or 1), r.choice((default * 2, default // 2, default + 1)))


def sample_specs(cls, count: int, seed: int = 0, max_macs: int = MAX_MACS,
                 exclude: set | None = None, tries: int = 400, skip: set | None = None) -> list:
    """Up to ``count`` distinct valid random specs of design class ``cls`` (square inputs),
    none whose single-conv training key is in ``exclude`` or whose label is in ``skip``."""
    r = random.Random(f"{cls.name}:{seed}")
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    out: list = []
    for _ in range(tries):
        if len(out) >= count:
            break
        values = {nm: _draw_field(nm, rng_, defaults.get(nm), r) for nm, rng_ in cls.field_ranges().items()}
        values = {k: v for k, v in values.items() if v is not None}
        if "h" in values and "w" in values:
            values["w"] = values["h"]
        try:
            spec = cls(**values)
            macs = spec.macs()
        except (ValueError, ZeroDivisionError, TypeError):
            continue
        if not 0 < macs <= max_macs or spec in out:
            continue
        if exclude and (key := training_key(spec)) is not None and key in exclude:
            continue
        if skip and _label(spec) in skip:
            continue
        out.append(spec)
    return out


def _label(spec) -> str:
    from .latency import spec_label

    return spec_label(spec)


def training_key(spec) -> str | None:
    """The training-sweep key of a single-conv spec (to keep held-out and training apart)."""
    from .predict import _geometry_from_row, item_key, op_rows

    try:
        rows = op_rows(spec)
    except Exception:  # noqa: BLE001 - a design without an op table cannot collide
        return None
    if len(rows) != 1 or rows[0]["kind"] not in ("conv", "conv_transpose"):
        return None
    item = _geometry_from_row(rows[0])
    return item_key("conv", item) if item is not None else None


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

    return {"utc": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()), "device": profile.device,
            "device_name": profile.device_name, "threads": threads, "clock": clock,
            "torch": torch.__version__, "cpus": os.cpu_count(), "min_run_time_s": min_run_time,
            "load_avg_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan,
            "profile_created": profile.meta.get("created", "?")}


def latency_eval(per_design: int = 6, seed: int = 2024, threads: int = 1, device: str | None = None,
                 profile_path_: str | None = None, min_run_time: float = 0.25,
                 designs_: list[str] | None = None, clock: str | None = None, rounds: int = 2,
                 anchor: bool = True, show_progress: bool = True) -> EvalResult:
    """Measure held-out configs of every (or the named) design and compare with the predictions.

    Each config is measured in ``rounds`` interleaved rounds (all configs once, then again), and
    its latency is the smallest of its per-round medians: a burst of load from other processes
    then has to hit every round of a config to bias it.

    ``anchor``: at the start of each round, re-time the profile's anchor ops (a dozen training
    ops) and report a second prediction scaled by how much slower or faster the machine runs now
    than during calibration (``anchored_err``; the plain ``err`` is unchanged).
    """
    import numpy as np
    import pandas as pd

    from .latency import default_device, measure, progress, spec_label
    from .predict import predict_spec
    from .profile import load_profile
    from .core.registry import designs, get_design

    if rounds < 1:
        raise ValueError(f"rounds = {rounds!r} is invalid: allowed is an integer >= 1")
    device = device or default_device()
    profile = load_profile(profile_path_, device=device, threads=threads)
    clock = clock or profile.clock
    exclude = set(profile.meta.get("train_keys", []))
    classes = [get_design(n) for n in designs_] if designs_ else list(designs().values())
    seen = set(profile.meta.get("train_configs", []))  # whole configs timed by calibrate
    specs = [s for cls in classes for s in sample_specs(cls, per_design, seed, exclude=exclude, skip=seen)]
    conditions = _conditions(profile, threads, clock, min_run_time)
    conditions["rounds"] = rounds
    rows: list[dict[str, Any]] = []
    cases = []
    for spec in specs:
        row: dict[str, Any] = {"design": spec.name, "config": spec_label(spec), "macs": spec.macs()}
        try:
            cases.append((row, spec.module(), spec.example_input(1)))
            row["predicted_us"] = 1e6 * predict_spec(spec, profile)
            row["roofline_us"] = 1e6 * predict_spec(spec, profile, refined=False)
        except Exception as exc:  # noqa: BLE001 - one broken design must not stop the sweep
            row["error"] = f"{type(exc).__name__}: {exc}"[:200]
        rows.append(row)
    from .predict import anchor_drift

    work = [(r, case) for r in range(rounds) for case in cases if "error" not in case[0]]
    drifts: list[float] = []
    current_round = -1
    for round_, (row, module, x) in progress(work, "latency-eval", show_progress):
        if anchor and round_ != current_round:  # re-time the anchor ops at the start of each round
            current_round = round_
            drift = anchor_drift(profile)
            if drift is not None:
                drifts.append(drift)
        if "error" in row:
            continue
        try:
            t = measure(module, x, threads=threads, device=device, min_run_time=min_run_time,
                        clock=clock, label=row["config"])
        except Exception as exc:  # noqa: BLE001
            row["error"] = f"{type(exc).__name__}: {exc}"[:200]
            continue
        if "measured_us" not in row or 1e6 * t.median_s < row["measured_us"]:
            row.update(measured_us=1e6 * t.median_s, iqr_us=1e6 * t.iqr_s, cv=t.cv, noisy=t.noisy)
        row.setdefault("round_us", []).append(round(1e6 * t.median_s, 3))
    drift = float(np.median(drifts)) if drifts else None
    conditions["anchor_drift"] = drift if drift is not None else "n/a"
    for row in rows:
        if "measured_us" in row and "error" not in row:
            row["err"] = row["predicted_us"] / row["measured_us"] - 1
            row["roofline_err"] = row["roofline_us"] / row["measured_us"] - 1
            if drift is not None:
                row["anchored_us"] = row["predicted_us"] * drift
                row["anchored_err"] = row["anchored_us"] / row["measured_us"] - 1
            spread = row["round_us"]
            row["round_spread"] = max(spread) / min(spread) - 1
    conditions["load_avg_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    conditions["designs"] = len(classes)
    return EvalResult(pd.DataFrame(rows), conditions)


# --- explained gaps -------------------------------------------------------------------------------

def reference_conv(spec):
    """The standard conv with the design's input, output channels, kernel and stride (one forward)."""
    import torch

    from .designs.conv import Conv

    module = spec.module()
    x = spec.example_input(1)
    with torch.inference_mode():
        y = module(x)
    c_in, h, w = int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
    c_out, h_out = int(y.shape[1]), int(y.shape[2])
    stride = max(1, round(h / max(1, h_out)))
    return Conv(c_in=c_in, c_out=c_out, k=int(getattr(spec, "k", 3)), stride=stride, h=h, w=w,
                bn=bool(getattr(spec, "bn", False)), act=bool(getattr(spec, "act", False)))


def explained_gaps(threads: int = 1, device: str | None = None, profile_path_: str | None = None,
                   min_run_time: float = 0.3, designs_: list[str] | None = None,
                   clock: str | None = None, show_progress: bool = True):
    """One row per design (reference config): MACs, measured and predicted latency ratios vs conv."""
    import pandas as pd

    from .latency import default_device, measure_spec, progress
    from .predict import predict_spec
    from .profile import load_profile
    from .core.registry import designs, get_design

    device = device or default_device()
    profile = load_profile(profile_path_, device=device, threads=threads)
    clock = clock or profile.clock
    classes = [get_design(n) for n in designs_] if designs_ else list(designs().values())
    rows = []
    for cls in progress(classes, "explained gaps", show_progress):
        spec = cls()
        try:
            ref = reference_conv(spec)
            t_spec = measure_spec(spec, threads=threads, device=device, min_run_time=min_run_time, clock=clock)
            t_ref = measure_spec(ref, threads=threads, device=device, min_run_time=min_run_time, clock=clock)
        except Exception as exc:  # noqa: BLE001 - report, don't stop
            rows.append({"design": cls.name, "note": f"{type(exc).__name__}: {exc}"[:120]})
            continue
        p_spec, p_ref = predict_spec(spec, profile), predict_spec(ref, profile)
        rows.append({"design": cls.name,
                     "vs conv": f"{ref.c_in}->{ref.c_out} k{ref.k} s{ref.stride} {ref.h}x{ref.w}",
                     "MACs ratio": spec.macs() / ref.macs(),
                     "bytes ratio": spec.mem_bytes() / ref.mem_bytes(),
                     "measured latency ratio": t_spec.median_s / t_ref.median_s,
                     "predicted latency ratio": p_spec / p_ref,
                     "design us": 1e6 * t_spec.median_s, "conv us": 1e6 * t_ref.median_s,
                     "note": ""})
    return pd.DataFrame(rows).fillna("")
