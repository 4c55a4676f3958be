"""Which measurement protocol reproduces on THIS machine? (issue 16: "measure reproducibility,
don't assume it"). A benchmark script, not a test: it prints ratios from one run.

Items: whole networks at 64 px and one random config of every design, timed by
``measure_interleaved`` (interleaved bursts) with the pass normalization off, so that it can be
scored both ways from the same raw samples. Rounds alternate two settings: one untimed priming
call before each burst (``protocol.PRIME``) and none. Per setting, from the raw samples of each
round, it scores the 5th percentile (``protocol.QUANTILE``), the 10th and the median, raw and
pass-normalized (``protocol.normalize_passes``):
  * within-round: two estimates from disjoint halves of one round (what latency-eval reports);
  * across rounds: the same statistic from two rounds a minute apart, after dividing out the
    rounds' common speed ratio (the median over the items: what anchors re-timed in the same
    passes correct; a machine that runs 5% faster now is not a measurement error). That
    division also hides the level the pass normalization moves with the share of slow passes,
    which decided stop 39 against it (README, "No pass normalization since stop 39").
Prints, per setting, the share of items whose two estimates agree within ±3% and the median
disagreement.

    python benchmarks/protocol_options.py [--rounds 4] [--samples 60] [--clock wall]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from costmodel.latency.measure import device_name
from costmodel.latency.protocol import estimates, low_percentile, measure_interleaved, normalize_passes, spread
from costmodel.latency.runs import speed_normalized_ratios


def items():
    """(label, module, input) of the timed items: networks at 64 px and a config of every design."""
    import costmodel as cm
    from costmodel.core.registry import designs
    from costmodel.latency.sampler import sample_specs

    nets = [cm.network(n, resolution=64) for n in ("ghostnet", "mobilenet_v1", "resnet50")]
    nets.append(cm.network("vgg16_cifar", resolution=32))
    out = [(n.name, n.module(), n.example_input(1)) for n in nets]
    for cls in designs().values():
        for spec in sample_specs(cls, 1, seed=777):
            out.append((spec.name, spec.module(), spec.example_input(1)))
    return out


def run_round(cases, samples: int, clock: str, prime: int) -> np.ndarray:
    """The raw samples (items x passes) of one interleaved round."""
    found = measure_interleaved(cases, samples=samples, clock=clock, seed=int(time.time()), prime=prime,
                                normalize=False)
    return np.array([e.times for e in found])


STATS = {"p05": 0.05, "p10": 0.10, "median": 0.50}  # p05: protocol.QUANTILE since stop 39


def score(rounds: list[np.ndarray], q: float, normalized: bool) -> tuple[float, float, float, float]:
    """(within-round share within 3%, its median spread, across-round share, its median spread)."""
    rounds = [normalize_passes(r) if normalized else r for r in rounds]
    within = [spread(estimates(t, 2, q)) for r in rounds for t in r]
    across = []
    for r1, r2 in zip(rounds[::2], rounds[1::2]):
        a = np.array([low_percentile(t, q) for t in r1])
        b = np.array([low_percentile(t, q) for t in r2])
        across += [spread([x, 1.0]) for x in speed_normalized_ratios(b, a)]
    return (float(np.mean(np.array(within) <= 0.03)), float(np.median(within)),
            float(np.mean(np.array(across) <= 0.03)), float(np.median(across)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=4, help="rounds per setting (pairs are compared)")
    ap.add_argument("--samples", type=int, default=60)
    ap.add_argument("--clock", default="wall", choices=("wall", "thread"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    cases = [(m, x) for _, m, x in items()]
    print(f"{len(cases)} items; CPU {device_name('cpu')}; "
          f"load {os.getloadavg()[0]:.2f}; clock {args.clock}; {args.samples} passes")
    data: dict[int, list[np.ndarray]] = {0: [], 1: []}
    for _ in range(args.rounds):
        for prime in (0, 1):  # alternate, so drift hits both settings alike
            data[prime].append(run_round(cases, args.samples, args.clock, prime))
    print(f"load at the end {os.getloadavg()[0]:.2f}")
    print(f"{'priming':8} {'samples':10} {'stat':7} | {'within-round ±3%':>16} {'median':>7} | "
          f"{'across-rounds ±3%':>17} {'median':>7}")
    for prime, rounds in data.items():
        for normalized in (False, True):
            for name, q in STATS.items():
                w, wm, a, am = score(rounds, q, normalized)
                print(f"{prime:8d} {'normalized' if normalized else 'raw':10} {name:7} | {100 * w:15.0f}% "
                      f"{100 * wm:6.1f}% | {100 * a:16.0f}% {100 * am:6.1f}%")


if __name__ == "__main__":
    main()
