"""Deep check of issue 19: sweep rows vs the constructor, and the memory of a huge-space sample.

A script, not a test: ``python benchmarks/sweep_agreement.py [--examples N] [--designs a,b]``.
For every registered design it draws N random full grids with the CI test's own strategies
(tests/test_sweep_agreement.py: ordinary values mixed with huge integers, integral floats,
numpy scalars, bools and layout spellings), sweeps each, and checks every row against
``cls(**given)`` / ``spec.costs()`` (valid, reason, every cost). It prints rows checked, valid
rows and disagreements per design, then the tracemalloc peak of a 1,000-point sample of a
10**18-point conv space. Counts are exact; the elapsed time is only indicative (a shared box).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from costmodel.core.registry import designs, get_design  # noqa: E402
from costmodel.explore import sweep  # noqa: E402
from test_sweep_agreement import check_against_constructor, grids  # noqa: E402


def check_design(design: str, examples: int) -> dict:
    """Rows checked, valid rows and the first disagreement (None if none) for one design."""
    cls = get_design(design)
    tally = {"grids": 0, "rows": 0, "valid": 0, "disagreement": None}

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(grid=grids(design))
    def run(grid):
        frame = sweep(design, **grid)
        rows, valid = check_against_constructor(cls, grid, frame)
        tally["grids"] += 1
        tally["rows"] += rows
        tally["valid"] += valid

    try:
        run()
    except AssertionError as exc:  # hypothesis re-raises the shrunk failing example
        tally["disagreement"] = str(exc)[:300]
    return tally


def huge_sample_peak() -> tuple[int, int]:
    """(rows, tracemalloc peak bytes) of sample=1000 over c_in, c_out in 1..10**9."""
    sweep("conv", sample=10, c_in=[8], c_out=[8])  # compiled formulas outside the measurement
    tracemalloc.start()
    try:
        frame = sweep("conv", sample=1000, seed=1, c_in=range(1, 10**9 + 1), c_out=range(1, 10**9 + 1))
        return len(frame), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300, help="random grids per design (default 300)")
    parser.add_argument("--designs", default="", help="comma list (default: every registered design)")
    args = parser.parse_args()
    names = [d for d in args.designs.split(",") if d] or list(designs())
    t0 = time.perf_counter()
    total = {"grids": 0, "rows": 0, "valid": 0, "disagreements": 0}
    print(f"{'design':<20} {'grids':>6} {'rows':>8} {'valid':>8}  disagreement")
    for design in names:
        t = check_design(design, args.examples)
        for key in ("grids", "rows", "valid"):
            total[key] += t[key]
        total["disagreements"] += t["disagreement"] is not None
        print(f"{design:<20} {t['grids']:>6,} {t['rows']:>8,} {t['valid']:>8,}  {t['disagreement'] or '-'}", flush=True)
    rows, peak = huge_sample_peak()
    print(f"total: {total['grids']:,} grids, {total['rows']:,} rows checked ({total['valid']:,} valid), "
          f"{total['disagreements']} designs with a disagreement, {time.perf_counter() - t0:,.0f} s")
    print(f"sample of {rows:,} points from a 10**18-point conv space: tracemalloc peak {peak / 2**20:.2f} MiB")
    return 1 if total["disagreements"] else 0


if __name__ == "__main__":
    sys.exit(main())
