"""Benchmarks for issue 10: analytic speed vs tracing, sweep rate, query latency, CLI start-up.

A script, not a test: ``python benchmarks/bench.py`` (add ``--quick`` for fewer repeats). It
prints every target as a measured ratio or rate from this one run, and the machine it ran on.
Timings are best of repeated runs after a warm-up call (formulas compiled and cached), so
they describe a steady state, not the first call. Torch runs with one thread unless
``--threads N`` says otherwise.

  1. whole-network analytic cost vs fvcore's trace vs FlopCounterMode (GhostNet 1.0x, ResNet-50;
     while ``costmodel.network`` is missing: a ResNet-50-shaped stack of plain conv specs),
  2. a sweep of 10^6 configurations of one design,
  3. a single-layer query through the Python API,
  4. ``costmodel query`` from the shell (and whether torch/fvcore got imported),
  5. ``analyze()`` (no fvcore column) vs fvcore's own trace of the same module on three built-in
     networks (issue 15: the analytic answer of any model must come faster than fvcore's).

``--only 5`` runs the listed sections only (e.g. ``--only 1,5``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np


def best_time(fn: Callable[[], object], repeats: int, inner: int = 1) -> float:
    """Best over ``repeats`` of the mean time of ``inner`` calls, in seconds (after one warm-up).

    The minimum, as timeit advises: on a shared machine the other jobs only ever add time, so
    the best run is the closest to the cost of the code itself (for tracers and formulas alike).
    """
    fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return min(samples)


def fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, load average {load}"


# --- 1. networks -----------------------------------------------------------------------------

def resnet50_shaped_stack():
    """The conv layers of ResNet-50's main path (no shortcuts), as plain specs: the fallback
    workload while costmodel.network() is not there."""
    from costmodel.core.registry import get_design

    conv, pw = get_design("conv"), get_design("pointwise")
    specs = [conv(c_in=3, c_out=64, k=7, stride=2, h=224, w=224, bn=True, act=True)]
    size, c = 56, 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            s = stride if i == 0 else 1
            specs.append(pw(c_in=c, c_out=width, h=size, w=size, bn=True, act=True))
            specs.append(conv(c_in=width, c_out=width, k=3, stride=s, h=size, w=size, bn=True, act=True))
            size = (size - 1) // s + 1
            specs.append(pw(c_in=width, c_out=4 * width, h=size, w=size, bn=True))
            c = 4 * width
    return specs


def workloads():
    """(label, specs, module, input, network costs function or None)."""
    import costmodel

    network = getattr(costmodel, "network", None)
    if network is None:
        try:
            from costmodel.networks import network
        except ImportError:
            network = None
    if network is not None:
        for label, name, kw in (("GhostNet 1.0x", "ghostnet", {"width": 1.0}), ("ResNet-50", "resnet50", {})):
            net = network(name, **kw)
            specs = [layer.spec for layer in net.layers]
            yield label, specs, net.module(), net.example_input(), net.costs
        return
    import torch

    specs = resnet50_shaped_stack()
    module = torch.nn.Sequential(*(s.module() for s in specs)).eval()
    yield "ResNet-50-shaped conv stack (no networks yet)", specs, module, specs[0].example_input(), None


def bench_networks(repeats: int) -> list[str]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from costmodel.peers import fvcore as fvcore_peer

    from costmodel.explore import stack_costs

    lines = []
    for label, specs, module, x, net_costs in workloads():
        def fvcore_run():
            return fvcore_peer.analysis(module, x).by_operator()

        def fcm_run():
            with torch.no_grad(), FlopCounterMode(display=False) as mode:
                module(x)
            return mode.get_total_flops()

        def per_spec():
            return sum(s.costs().macs for s in specs)

        by_op = fvcore_run()
        fv_macs = by_op.get("conv", 0) + by_op.get("linear", 0)
        fcm_macs = fcm_run() // 2
        totals = stack_costs(specs)
        t_fv = best_time(fvcore_run, repeats)
        t_fcm = best_time(fcm_run, repeats)
        t_stack = best_time(lambda: stack_costs(specs), repeats, inner=100)
        t_loop = best_time(per_spec, repeats, inner=100)
        lines.append(f"{label}: {len(specs)} layer specs; MACs (conv + linear) analytic {totals['macs']:,}, "
                     f"fvcore {fv_macs:,}, FlopCounterMode/2 {fcm_macs:,}; params analytic {totals['params']:,}")
        lines.append(f"  fvcore trace {fmt(t_fv)} | FlopCounterMode {fmt(t_fcm)} | analytic: spec.costs() per "
                     f"layer {fmt(t_loop)}, explore.stack_costs {fmt(t_stack)}")
        paths = [("spec.costs() per layer", t_loop), ("explore.stack_costs", t_stack)]
        if net_costs is not None:
            t_net = best_time(net_costs, repeats, inner=5)
            lines.append(f"  network(...).costs() (totals; the per-layer DataFrame is built on demand) {fmt(t_net)}")
            paths.insert(0, ("network(...).costs()", t_net))
        for name, t in paths:
            lines.append(f"  {name}: {t_fv / t:,.0f}x faster than fvcore (target >= 1000x: "
                         f"{verdict(t_fv / t >= 1000)}), {t_fcm / t:,.0f}x faster than FlopCounterMode "
                         f"(target >= 300x: {verdict(t_fcm / t >= 300)})")
    return lines


# --- 2. sweep rate ---------------------------------------------------------------------------

def bench_sweep(repeats: int) -> list[str]:
    from costmodel.explore import sweep

    grid = dict(c_in=range(16, 1025, 16), c_out=range(16, 1025, 16), k=[1, 3, 5, 7], groups=[1, 2, 4, 8],
                h=[7, 14, 28, 56], stride=[1, 2], bn=[False, True])
    n = int(np.prod([len(v) for v in grid.values()]))
    frame = sweep("group_conv", **grid)
    t_grid = best_time(lambda: sweep("group_conv", **grid), repeats)
    t_sample = best_time(lambda: sweep("group_conv", sample=1_000_000, seed=1, **grid), repeats)
    per_million = t_grid * 1e6 / n
    return [f"group_conv full grid: {n:,} configurations ({int(frame['valid'].sum()):,} valid; params, MACs, "
            f"FLOPs, bytes, elementwise ops, validity + reason) in {fmt(t_grid)} = {n / t_grid / 1e6:.2f} M configs/s",
            f"  10^6 configurations: {fmt(per_million)} (target < 1 s: {verdict(per_million < 1)}); "
            f"random sample of 10^6 from the same space: {fmt(t_sample)}"]


# --- 3. single-layer query -------------------------------------------------------------------

def bench_query(repeats: int) -> list[str]:
    import costmodel

    spec = costmodel.Conv(c_in=64, c_out=128, k=3, h=56, w=56, bn=True, act=True)
    spec.costs()
    t_costs = best_time(spec.costs, repeats, inner=5000)
    t_new = best_time(lambda: costmodel.Conv(c_in=64, c_out=128, k=3, h=56, w=56, bn=True, act=True).macs(),
                        repeats, inner=5000)
    return [f"spec.costs() on an existing spec: {fmt(t_costs)}; build + query "
            f"(costmodel.Conv(...).macs()): {fmt(t_new)} (target < 50 us: {verdict(t_new < 50e-6)})"]


# --- 4. CLI start-up -------------------------------------------------------------------------

def bench_cli(repeats: int) -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "costmodel")
    cmd = [exe, "query", "conv", "--c-in", "64", "--c-out", "128"]
    subprocess.run(cmd, capture_output=True, check=True)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        samples.append(time.perf_counter() - t0)
    probe = ("import sys; from costmodel.cli import main; main(['query', 'conv']); "
             "print('IMPORTED', 'torch' in sys.modules, 'fvcore' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    flags = out.strip().splitlines()[-1].split()[1:]
    t = statistics.median(samples)
    return [f"`costmodel query conv --c-in 64 --c-out 128`: median {fmt(t)}, best {fmt(min(samples))} over "
            f"{repeats} runs (target < 1.5 s, on the median: {verdict(t < 1.5)}); torch imported: {flags[0]}, "
            f"fvcore imported: {flags[1]}"]


# --- 5. analyze() vs fvcore ---------------------------------------------------------------------

ANALYZE_NETWORKS = (("MobileNet v1", "mobilenet_v1"), ("GhostNet 1.0x", "ghostnet"), ("ResNet-50", "resnet50"))
"""The three built-in networks analyze() is timed on (224 x 224, batch 1)."""


def bench_analyze(repeats: int) -> list[str]:
    """analyze(module, shape) (fvcore=False, the default) vs fvcore's FlopCountAnalysis on the
    same module and input, each best of ``repeats`` after a warm-up; both run one forward pass."""
    from costmodel.analysis import analyze
    from costmodel.networks import network
    from costmodel.peers import fvcore as fvcore_peer

    lines = []
    for label, name in ANALYZE_NETWORKS:
        net = network(name)
        module, x = net.module(), net.example_input()
        shape = tuple(x.shape)
        result = analyze(module, shape)
        fv = fvcore_peer.analysis(module, (x,))
        fv_macs = sum(v for k, v in fv.by_operator().items() if k in ("conv", "linear"))
        t_an = best_time(lambda: analyze(module, shape), repeats)
        t_fv = best_time(lambda: fvcore_peer.analysis(module, (x,)).by_operator(), repeats)
        lines.append(f"{label} ({net.input_shape[1]}x{net.input_shape[2]}, batch 1): analyze() {fmt(t_an)} "
                     f"vs fvcore trace {fmt(t_fv)} = {t_fv / t_an:.2f}x (target analyze faster: "
                     f"{verdict(t_an < t_fv)}); MACs analyze {result.macs:,}, fvcore {fv_macs:,}, "
                     f"unknown ops {result.totals['unknown']}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the traced runs (default 1: on a shared 2-core box, "
                             "2 threads fighting other jobs make the tracers' times swing 5x)")
    parser.add_argument("--only", default="", help="comma-separated section numbers to run (default: all)")
    args = parser.parse_args()
    repeats = 3 if args.quick else 9
    import torch

    torch.set_num_threads(args.threads)

    print(f"machine: {machine()}")
    print(f"python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"numpy {np.__version__}; best of {repeats} runs after a warm-up")
    sections = (("1. whole-network analytic cost vs tracing", bench_networks),
                ("2. sweep rate", bench_sweep),
                ("3. single-layer query latency (Python API)", bench_query),
                ("4. CLI start-up", bench_cli),
                ("5. analyze() vs fvcore's trace", bench_analyze))
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    for title, fn in sections:
        if only and title.split(".")[0] not in only:
            continue
        print(f"\n{title}")
        for line in fn(repeats):
            print("  " + line)
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
