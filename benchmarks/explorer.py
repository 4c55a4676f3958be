"""Architecture explorer speed (issue 17): candidates/s of exact evaluation, and seconds for the
exact Pareto front of the built-in >= 10^15-candidate ghostnet space (and of (predicted latency,
params) when this machine has a profile).

    .venv/bin/python benchmarks/explorer.py [--n 1000000] [--repeat 3]

Prints measured wall-clock figures (best of --repeat) with the machine load (os.getloadavg)
beside them: on a shared machine the rates move with the load, so quote them with it. Exactness
is checked on the way: gathered rows against build(c).costs(), and a sample against the front
(no sampled candidate may beat a front point on both objectives).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from costmodel.latency.measure import device_name

from costmodel.spaces import space
from costmodel.spaces import tables as tables_module
from costmodel.spaces.tables import cost_tables, evaluate


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"before: {_load()}; {device_name('cpu')}")
    sp = space("ghostnet")
    t = time.perf_counter()
    tables = cost_tables(sp)  # no latency source: the integer costs only
    print(f"ghostnet space: {sp.count():.3e} candidates; {len(tables.keys)} table rows, "
          f"{len(tables.makers)} distinct blocks costed in {time.perf_counter() - t:.2f} s (measured, cold)")
    idx = sp.draw(args.n, seed=0)
    cols = sp.canonical_columns(idx)
    gather = _best(lambda: tables.plan.gather_block(cols), args.repeat)
    print(f"gather + sum ({len(tables.plan.steps)} pieces, exact {tables.plan.ints.dtype}): "
          f"{args.n / gather:,.0f} candidates/s measured ({args.n:,} in {gather:.3f} s, best of {args.repeat})")
    frame_s = _best(lambda: evaluate(sp, idx, tables=tables), args.repeat)
    print(f"space.evaluate -> DataFrame (check, canonical, gather, frame): {args.n / frame_s:,.0f} "
          f"candidates/s measured ({args.n:,} in {frame_s:.3f} s)")
    sample_s = _best(lambda: sp.sample(args.n, seed=1, profile=None), args.repeat)
    print(f"space.sample(n) (draw + evaluate): {args.n / sample_s:,.0f} candidates/s measured")
    frame = evaluate(sp, idx[:20], tables=tables)
    for cand, (_, row) in zip(idx[:20], frame.iterrows()):
        costs = sp.build(cand).costs()
        assert row["params"] == costs.params and row["MACs"] == costs.macs, sp.describe(cand)
    print("exactness: 20 gathered rows == build(c).costs() (params, MACs)")
    print(f"now: {_load()}")
    for objectives in (("macs", "params"), ("bytes", "params"), ("macs", "elementwise")):
        tables_module.clear_tables()  # cold: the per-block tables are built inside the timing
        t = time.perf_counter()
        front = sp.front(objectives, profile=None)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        sp.front(objectives, profile=None)
        warm = time.perf_counter() - t
        print(f"exact front {objectives}: {len(front)} points of {sp.count():.3e} candidates in {cold:.2f} s "
              f"measured with the tables rebuilt, {warm:.2f} s with the tables cached")
        _check_against_sample(sp, front, objectives, tables)
    _latency_front(sp)
    print(f"after: {_load()}")


def _latency_front(sp) -> None:
    """(predicted latency, params): the per-block latency tables need this machine's profile
    (``costmodel calibrate``); cold = every distinct block predicted inside the timing."""
    import costmodel

    try:
        profile = costmodel.load_profile()
    except ValueError as exc:
        print(f"exact front ('latency', 'params'): skipped, {exc}")
        return
    tables_module.clear_tables()
    cpu, t = time.process_time(), time.perf_counter()
    front = sp.front(("latency", "params"), profile=profile)
    cold, cold_cpu = time.perf_counter() - t, time.process_time() - cpu
    t = time.perf_counter()
    sp.front(("latency", "params"), profile=profile)
    warm = time.perf_counter() - t
    print(f"exact front ('latency', 'params') (predicted latency, profile {profile.device_name}): {len(front)} points "
          f"in {cold:.2f} s measured ({cold_cpu:.2f} s CPU) with the tables rebuilt, {warm:.2f} s with them cached")


def _check_against_sample(sp, front, objectives, tables, n: int = 100_000) -> None:
    """No sampled candidate is strictly better than the front on both objectives."""
    from costmodel.spaces.front import OBJECTIVES

    names = [OBJECTIVES[o] for o in objectives]
    sample = evaluate(sp, sp.draw(n, seed=9), tables=tables)
    pts, fr = sample[names].to_numpy(), front[names].to_numpy()
    # a sample point p is covered when some front point f has f <= p on both objectives
    covered = np.zeros(len(pts), bool)
    for f in fr:
        covered |= (f[0] <= pts[:, 0]) & (f[1] <= pts[:, 1])
    assert covered.all(), "a sampled candidate beats the exact front"


if __name__ == "__main__":
    main()
