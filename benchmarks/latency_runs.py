"""Compare independent runs of ``benchmarks/latency_accuracy.sh`` item by item.

    python benchmarks/latency_runs.py RUN_DIR RUN_DIR [RUN_DIR ...]

Each RUN_DIR holds a run's ``eval-layers.csv`` and ``eval-networks.csv`` (the script writes them
to reports/latency/; copy that folder away after each run). All runs must use the same held-out
seed, so that they time the same items. Prints, for layers and networks:

* how well the MEASURED times reproduce across runs (each pair of runs, the machine's overall
  speed between them divided out): the measurement's reproducibility beyond one run;
* how alike the runs' prediction ERRORS are: their correlation, and the items whose mean error
  over the runs is furthest from 0 (a model error every calibration makes) beside the spread of
  their error over the runs (noise).

Statistics: ``costmodel.latency.runs``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from costmodel.latency.runs import error_consistency, item_table, measured_agreement

WORST = 8
"""Items listed with the largest mean error."""


def report(kind: str, frames: dict[str, pd.DataFrame]) -> None:
    """Print the cross-run figures of one evaluation (layers or networks)."""
    pairs = measured_agreement(item_table(frames, "measured_us"))
    if pairs:
        w3 = [p.within_3 for p in pairs]
        w10 = [p.within_10 for p in pairs]
        med = [p.median_abs for p in pairs]
        print(f"{kind}: measured (microseconds per call, batch 1) in {len(pairs)} pairs of runs, speed between "
              f"runs divided out: within ±3% for {100 * min(w3):.0f}-{100 * max(w3):.0f}% of items (median "
              f"{100 * np.median(w3):.0f}%), within ±10% for {100 * min(w10):.0f}-{100 * max(w10):.0f}%, median "
              f"disagreement {100 * min(med):.1f}-{100 * max(med):.1f}%")
    c = error_consistency(item_table(frames, "err"))
    print(f"{kind}: predicted / measured - 1 over {c.runs} runs: median correlation of the errors between runs "
          f"{c.median_correlation:.2f}; per item, the mean error over the runs is within ±10% for "
          f"{100 * c.mean_error_within_10:.0f}% of {c.items} items (median |mean error| "
          f"{100 * c.median_abs_mean_error:.1f}%), and the error's spread over the runs is a median "
          f"{100 * c.median_error_spread:.1f}% (standard deviation)")
    worst = c.per_item.reindex(c.per_item["mean_error"].abs().sort_values(ascending=False).index).head(WORST)
    for item, row in worst.iterrows():
        print(f"    {100 * row['mean_error']:+6.1f}% (spread {100 * row['error_spread']:4.1f}%)  {item}")


def main(argv: list[str]) -> int:
    dirs = [Path(a) for a in argv]
    if len(dirs) < 2:
        print("usage: python benchmarks/latency_runs.py RUN_DIR RUN_DIR [RUN_DIR ...] (at least 2 runs)")
        return 2
    for kind, name in (("layers", "eval-layers.csv"), ("networks", "eval-networks.csv")):
        frames = {d.name: pd.read_csv(d / name) for d in dirs if (d / name).is_file()}
        if len(frames) >= 2:
            report(kind, frames)
        else:
            print(f"{kind}: fewer than 2 runs have {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
