"""Independent evaluation runs compared item by item: is a prediction's miss noise or model?

``latency-eval`` reports, per run, two independent estimates of every item (within-run
reproducibility). Several runs of ``benchmarks/latency_accuracy.sh`` (each a fresh calibration
and evaluation, the same held-out seed, so the same items) answer two further questions:

* **Does the measurement reproduce across runs?** ``measured_agreement``: for every pair of
  runs, each item's measured time in one over the other, divided by the pair's median ratio
  (the machine's overall speed differs from one run to the next); the share of items within
  ±3% and ±10% of that.
* **Are the prediction errors systematic?** ``error_consistency``: the correlation of the items'
  errors between runs, and each item's mean error over the runs beside its spread (standard
  deviation) over them. Errors that correlate across runs come from the model (the same config
  is mispredicted the same way by every calibration); errors that do not are the calibration's
  or the measurement's noise.

Pure functions of item x run tables (pandas), so they are unit-tested on synthetic tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

MIN_SHARED_ITEMS = 10
"""Fewest items two runs must share for their comparison to count."""


def item_table(frames: Mapping[str, pd.DataFrame], column: str, key: str = "config") -> pd.DataFrame:
    """Items x runs: ``column`` of each run's evaluation CSV, indexed by ``key`` (items missing
    from a run are NaN)."""
    for run, frame in frames.items():
        for name in (key, column):
            if name not in frame:
                raise ValueError(f"run {run!r}: column {name!r} is missing: allowed are the columns of "
                                 f"a latency-eval CSV ({', '.join(map(str, frame.columns))})")
    return pd.concat({run: frame.set_index(key)[column] for run, frame in frames.items()}, axis=1)


@dataclass(frozen=True)
class PairAgreement:
    """Two runs' measured times of their shared items, the machine's speed between them divided out."""

    runs: tuple[str, str]
    items: int
    within_3: float
    within_10: float
    median_abs: float


def speed_normalized_ratios(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """b / a per item, divided by its median: two measurements of the same items with the
    machine's overall speed between them divided out (1 = the item moved with the machine)."""
    ratio = np.asarray(b, dtype=float) / np.asarray(a, dtype=float)
    return ratio / np.median(ratio)


def measured_agreement(measured: pd.DataFrame) -> list[PairAgreement]:
    """For each pair of runs (columns of ``measured``, items x runs, seconds or microseconds)
    sharing at least MIN_SHARED_ITEMS items: r_i = t_i,b / t_i,a over the shared items, divided by
    the median r; the share of items with |r_i - 1| within 3% and 10%, and the median |r_i - 1|."""
    out = []
    for a, b in combinations(measured.columns, 2):
        both = measured[[a, b]].dropna()
        both = both[(both[a] > 0) & (both[b] > 0)]
        if len(both) < MIN_SHARED_ITEMS:
            continue
        dev = np.abs(speed_normalized_ratios(both[a].to_numpy(float), both[b].to_numpy(float)) - 1)
        out.append(PairAgreement(runs=(str(a), str(b)), items=len(both), within_3=float(np.mean(dev <= 0.03)),
                                 within_10=float(np.mean(dev <= 0.10)), median_abs=float(np.median(dev))))
    return out


@dataclass(frozen=True)
class Consistency:
    """How alike the runs' prediction errors are."""

    runs: int
    items: int
    median_correlation: float
    mean_error_within_10: float
    median_abs_mean_error: float
    median_error_spread: float
    per_item: pd.DataFrame


def error_consistency(errors: pd.DataFrame) -> Consistency:
    """``errors``: items x runs, predicted / measured - 1. The median over pairs of runs of the
    Pearson correlation of their errors (over the items both have); per item (items in every run),
    its mean error and its standard deviation over the runs (ddof 1); the share of items whose
    mean error is within ±10%, the median |mean error| and the median standard deviation."""
    if errors.shape[1] < 2:
        raise ValueError(f"runs = {errors.shape[1]} is invalid: allowed is at least 2 runs to compare")
    shared = (errors[[a, b]].dropna() for a, b in combinations(errors.columns, 2))
    corr = [pair.corr().iloc[0, 1] for pair in shared if len(pair) >= MIN_SHARED_ITEMS]
    full = errors.dropna()
    per_item = pd.DataFrame({"mean_error": full.mean(axis=1), "error_spread": full.std(axis=1, ddof=1)})
    per_item = per_item.sort_values("mean_error")
    return Consistency(runs=int(errors.shape[1]), items=len(full),
                       median_correlation=float(np.median(corr)) if corr else float("nan"),
                       mean_error_within_10=float(np.mean(np.abs(per_item["mean_error"]) <= 0.10)),
                       median_abs_mean_error=float(np.median(np.abs(per_item["mean_error"]))),
                       median_error_spread=float(np.median(per_item["error_spread"])), per_item=per_item)
