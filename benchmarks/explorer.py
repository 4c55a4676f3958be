"""Architecture explorer speed (issue 17): candidates/s of exact evaluation, and seconds for the
exact Pareto front of the built-in >= 10^15-candidate ghostnet space.

    .venv/bin/python benchmarks/explorer.py [--n 1000000] [--repeat 3]

Prints measured wall-clock figures with the machine load (os.getloadavg) beside them. Exactness
is checked on the way: a slice of the gathered rows is compared with build(c).costs().
"""

from __future__ import annotations

import argparse
import os
import time

from costmodel.spaces import space
from costmodel.spaces.tables import cost_tables, evaluate


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    sp = space("ghostnet")
    t = time.perf_counter()
    tables = cost_tables(sp)  # no latency source: the integer costs only
    print(f"ghostnet space: {sp.count():.3e} candidates; {len(tables.keys)} table rows, "
          f"{len(tables.makers)} distinct blocks costed in {time.perf_counter() - t:.2f} s (measured, cold)")
    idx = sp.draw(args.n, seed=0)
    cols = sp.canonical_columns(idx)
    gather = _best(lambda: tables.plan.gather_block(cols), args.repeat)
    print(f"gather + sum (exact {tables.plan.ints.dtype}): {args.n / gather:,.0f} candidates/s measured "
          f"({args.n:,} in {gather:.3f} s, best of {args.repeat})")
    frame_s = _best(lambda: evaluate(sp, idx, tables=tables), args.repeat)
    print(f"space.evaluate -> DataFrame (check, canonical, frame): {args.n / frame_s:,.0f} candidates/s measured")
    frame = evaluate(sp, idx[:20], tables=tables)
    for cand, (_, row) in zip(idx[:20], frame.iterrows()):
        assert row["params"] == sp.build(cand).costs().params and row["MACs"] == sp.build(cand).costs().macs
    print("exactness: 20 gathered rows == build(c).costs() (params, MACs)")
    for objectives in (("macs", "params"), ("bytes", "params"), ("macs", "elementwise")):
        t = time.perf_counter()
        front = sp.front(objectives, profile=None)
        print(f"exact front {objectives}: {len(front)} points of {sp.count():.3e} candidates in "
              f"{time.perf_counter() - t:.2f} s measured (tables cached)")
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
