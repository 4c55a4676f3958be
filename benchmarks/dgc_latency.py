"""Measured CPU latency of the DGC inference path vs the dense conv, for zeta in {0, .25, .5, .75}.

Does DGC's MAC saving turn into time? For each zeta this prints the expected MACs (formula), the
dense conv's MACs, and the median latency of
  * dense:   Conv2d(c_in, c_out, k) + BN + ReLU (the layer DGC replaces), eval mode
  * DGC:     the sparse inference path (saliency, top-k, gathers, one grouped conv, shuffle, BN, ReLU)
  * masked:  DGC's dense training path run without gradients (for reference)
  * grouped conv: the inference path's grouped conv alone (where the MACs are)
  * select:  the saliency generator + top-k alone (overhead paid whatever zeta is)
with torch.utils.benchmark (fixed thread count, warm-up, blocked_autorange medians).

Usage: python benchmarks/dgc_latency.py [--c 128 --n 128 --size 28 --heads 4 --d 16 --batch 1
                                         --threads 1 --min-time 0.5 --rounds 3]
Numbers depend on the machine and its load: report them with both.
"""

from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import benchmark

from costmodel.designs.dgc import DGC

ZETAS = (0.0, 0.25, 0.5, 0.75)


def measure(fn, x: torch.Tensor, threads: int, min_time: float) -> tuple[float, float]:
    """(median, fastest block) seconds of fn(x) under no_grad (blocked_autorange)."""
    timer = benchmark.Timer(stmt="fn(x)", globals={"fn": fn, "x": x}, num_threads=threads)
    with torch.no_grad():
        for _ in range(3):  # warm-up (first calls allocate)
            fn(x)
        m = timer.blocked_autorange(min_run_time=min_time)
    return m.median, min(m.times)


def dense_layer(spec: DGC) -> nn.Module:
    """The dense conv + BN + ReLU that DGC replaces."""
    return nn.Sequential(nn.Conv2d(spec.c_in, spec.c_out, spec.k, spec.stride, spec.k // 2, bias=False),
                         nn.BatchNorm2d(spec.c_out), nn.ReLU()).eval()


def grouped_conv_only(spec: DGC, batch: int):
    """The inference path's grouped conv alone, on tensors of the gathered shapes."""
    kept, groups = spec.costs().extra["kept"], batch * spec.H
    weight = torch.randn(batch * spec.c_out, kept, spec.k, spec.k)
    inputs = torch.randn(1, groups * kept, spec.h, spec.w)
    return lambda _x: F.conv2d(inputs, weight, stride=spec.stride, padding=spec.k // 2, groups=groups)


def one_round(base: DGC, x: torch.Tensor, args) -> dict[str, tuple[float, float]]:
    """Every timing once, interleaved, so that load changes hit all of them alike."""
    out = {"dense": measure(dense_layer(base), x, args.threads, args.min_time)}
    for z in ZETAS:
        spec = base.replace(zeta=z)
        module = spec.module()
        out[f"dgc {z}"] = measure(module.forward_sparse, x, args.threads, args.min_time)
        out[f"conv {z}"] = measure(grouped_conv_only(spec, x.shape[0]), x, args.threads, args.min_time)
        out[f"masked {z}"] = measure(module.forward_masked, x, args.threads, args.min_time)
        out[f"select {z}"] = measure(module.select, x, args.threads, args.min_time)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--c", type=int, default=128, help="input channels")
    ap.add_argument("--n", type=int, default=128, help="output channels")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--size", type=int, default=28, help="input height = width")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--d", type=int, default=16, help="squeeze rate")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds per blocked_autorange")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median round is shown")
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    base = DGC(c_in=args.c, c_out=args.n, k=args.k, H=args.heads, d=args.d, h=args.size, w=args.size)
    x = base.example_input(args.batch)
    rounds = [one_round(base, x, args) for _ in range(args.rounds)]
    # median over rounds of the medians (typical, load included) and the fastest block seen
    # (the best estimate of the uncontended time on a shared machine)
    ms = {key: 1e3 * statistics.median(r[key][0] for r in rounds) for key in rounds[0]}
    best = {key: 1e3 * min(r[key][1] for r in rounds) for key in rounds[0]}
    dense_macs = base.costs().extra["dense_macs"]
    print(f"# DGC c_in={args.c} c_out={args.n} k={args.k} {args.size}x{args.size} H={args.heads} d={args.d} "
          f"batch={args.batch} threads={args.threads}, torch {torch.__version__}; "
          f"{args.rounds} interleaved rounds; ms as median / fastest block")
    print(f"# dense conv+BN+ReLU: {dense_macs:,} MACs/sample, {ms['dense']:.3f} / {best['dense']:.3f} ms")
    print("zeta | kept | expected MACs/sample | MACs/dense | DGC ms | DGC/dense time (median, fastest)"
          " | grouped conv ms | select ms | masked ms")
    for z in ZETAS:
        c = base.replace(zeta=z).costs()
        cell = {key: f"{ms[f'{key} {z}']:.3f} / {best[f'{key} {z}']:.3f}"
                for key in ("dgc", "conv", "select", "masked")}
        print(f"{z:.2f} | {c.extra['kept']} | {c.macs:,} | {c.macs / dense_macs:.3f} | {cell['dgc']} | "
              f"{ms[f'dgc {z}'] / ms['dense']:.2f}, {best[f'dgc {z}'] / best['dense']:.2f} | "
              f"{cell['conv']} | {cell['select']} | {cell['masked']}")


if __name__ == "__main__":
    main()
