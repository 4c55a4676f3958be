"""Which measurement protocol reproduces on THIS machine? (issue 16: "measure reproducibility,
don't assume it"). A benchmark script, not a test: it prints ratios from one run.

Items: whole networks at 64 px and single design layers, timed by ``measure_interleaved``
(interleaved bursts). Rounds alternate two settings: the process free to run on any core, and
pinned to one core (``os.sched_setaffinity``). From the raw samples of each round it scores
statistics (10th / 25th percentile, median) and sample counts (first half, all):
  * within-round: two estimates from disjoint halves of one round (what latency-eval reports);
  * across rounds: the same statistic from two rounds minutes apart (two separate measurements).
Prints, per setting and statistic, the share of items whose two estimates agree within ±3% and
the median disagreement.

    python benchmarks/protocol_options.py [--rounds 4] [--samples 40] [--clock thread]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from costmodel.latency.measure import device_name
from costmodel.latency.protocol import estimates, low_percentile, measure_interleaved, spread


def items():
    """(label, module, input) of the timed items: networks at 64 px and a few design layers."""
    import costmodel as cm

    nets = [cm.network(n, resolution=64) for n in ("ghostnet", "mobilenet_v1", "resnet50")]
    nets.append(cm.network("vgg16_cifar", resolution=32))
    out = [(n.name, n.module(), n.example_input(1)) for n in nets]
    for spec in (cm.Conv(), cm.Separable(), cm.Ghost(), cm.Depthwise(), cm.SPConv(), cm.TiedBlockConv()):
        out.append((spec.name, spec.module(), spec.example_input(1)))
    return out


def run_round(cases, samples: int, clock: str, pinned: bool) -> list[tuple[float, ...]]:
    """The raw samples of every case in one interleaved round, pinned to one core or not."""
    before = os.sched_getaffinity(0)
    if pinned:
        os.sched_setaffinity(0, {min(before)})
    try:
        found = measure_interleaved(cases, samples=samples, clock=clock, seed=int(time.time()))
    finally:
        os.sched_setaffinity(0, before)
    return [e.times for e in found]


STATS = {"p10": 0.10, "p25": 0.25, "median": 0.50}


def score(rounds: list[list[tuple[float, ...]]], q: float, n: int) -> tuple[float, float, float, float]:
    """(within-round share within 3%, its median spread, across-round share, its median spread)."""
    within = [spread(estimates(t[:n], 2, q)) for r in rounds for t in r]
    across = [spread([low_percentile(a[:n], q), low_percentile(b[:n], q)])
              for r1, r2 in zip(rounds[::2], rounds[1::2]) for a, b in zip(r1, r2)]
    return (float(np.mean(np.array(within) <= 0.03)), float(np.median(within)),
            float(np.mean(np.array(across) <= 0.03)), float(np.median(across)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=4, help="rounds per setting (pairs are compared)")
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--clock", default="thread", choices=("wall", "thread"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    cases = [(m, x) for _, m, x in items()]
    print(f"{len(cases)} items; CPU {device_name('cpu')}; "
          f"load {os.getloadavg()[0]:.2f}; clock {args.clock}")
    data = {False: [], True: []}
    for _ in range(args.rounds):
        for pinned in (False, True):  # alternate, so drift hits both settings alike
            data[pinned].append(run_round(cases, args.samples, args.clock, pinned))
    print(f"load at the end {os.getloadavg()[0]:.2f}")
    print(f"{'setting':10} {'stat':7} {'samples':>7} | {'within-round ±3%':>16} {'median':>7} | {'across-rounds ±3%':>17} {'median':>7}")
    for pinned, rounds in data.items():
        for name, q in STATS.items():
            for n in (args.samples // 2, args.samples):
                w, wm, a, am = score(rounds, q, n)
                print(f"{'pinned' if pinned else 'free':10} {name:7} {n:7d} | {100 * w:15.0f}% {100 * wm:6.1f}% | "
                      f"{100 * a:16.0f}% {100 * am:6.1f}%")


if __name__ == "__main__":
    main()
