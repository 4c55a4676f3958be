"""Field fuzz counts (issue 14): bad values of every field of every registered design.

    .venv/bin/python benchmarks/fuzz_fields.py [--per-design 10000] [--seed 0]

Each trial sets ONE field of a design to a value drawn from one bad category (wrong type, bool
for an integer, float for an integer, NaN/inf, below or above the range, a huge integer, a bad
layout) and calls the constructor. Outcomes:
  clear   ValueError naming the field (``Design.field = value is invalid: allowed ...``)
  unclear ValueError whose message does not name the field and its allowed range
  crash   any other exception (OverflowError, TypeError, ...)
  silent  the constructor accepted the bad value
Prints a table of counts per design (tried, clear, unclear, crash, silent), one per category,
and the totals with the rate.
A second pass sets one integer field to the largest value its range admits (a VALID, huge config)
and calls ``costs()``: every cost must be an exact non-negative int, never an OverflowError.
Plain ``random`` (not hypothesis): the
point is volume; tests/test_fuzz_fields.py is the property test in the suite.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter
from typing import Any, Callable

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from costmodel.core.fields import MAX_SIZE, Range  # noqa: E402
from costmodel.core.registry import designs  # noqa: E402

JUNK: tuple[Any, ...] = (None, "", "3", "abc", [1], [1, 2], {}, object())


def _int_bad(rng: Range, r: random.Random) -> tuple[str, Any]:
    lo, hi = int(rng.lo if rng.lo is not None else 0), int(rng.hi if rng.hi is not None else MAX_SIZE)
    options: list[tuple[str, Callable[[], Any]]] = [
        ("wrong type", lambda: r.choice(JUNK)),
        ("bool", lambda: r.choice((True, False))),
        ("integral float", lambda: float(r.randint(max(lo, 1), min(hi, 4096)))),
        ("float", lambda: r.uniform(lo, lo + 100) + 0.5),
        ("nan/inf", lambda: r.choice((math.nan, math.inf, -math.inf))),
        ("below range", lambda: lo - r.randint(1, 10**6)),
        ("above range", lambda: hi + r.randint(1, 10**6)),
        ("huge int", lambda: r.choice((10**400, 2**64, 2**63, -(10**400)))),
    ]
    category, make = r.choice(options)
    return category, make()


def _flag_bad(rng: Range, r: random.Random) -> tuple[str, Any]:
    options = [("wrong type", lambda: r.choice(JUNK)), ("float", lambda: r.choice((0.5, 1.0, 0.0, math.nan))),
               ("int not 0/1", lambda: r.choice((2, -1, 10**400)))]
    category, make = r.choice(options)
    return category, make()


def _real_bad(rng: Range, r: random.Random) -> tuple[str, Any]:
    def outside() -> float:
        for _ in range(100):
            v = r.choice((-1.0, 1.0)) * 10 ** r.uniform(-3, 300)
            if not rng.accepts(v):
                return v
        return math.nan
    options = [("wrong type", lambda: r.choice(JUNK)), ("bool", lambda: r.choice((True, False))),
               ("nan/inf", lambda: r.choice((math.nan, math.inf, -math.inf))), ("out of range", outside)]
    category, make = r.choice(options)
    return category, make()


def _layout_bad(rng: Range, r: random.Random) -> tuple[str, Any]:
    options = [("wrong type", lambda: r.choice((None, object(), 2.5))), ("empty", lambda: ()),
               ("zero/negative", lambda: r.choice(((0,), (2, -1), (0, 4)))),
               ("huge", lambda: (MAX_SIZE + r.randint(1, 10),)), ("float entries", lambda: (2.0, 2)),
               ("wrong length", lambda: tuple(2 for _ in range(r.randint(3, 6)))),
               ("text", lambda: r.choice(("abc", "x", "8,,8")))]
    category, make = r.choice(options)
    return category, make()


def _choice_bad(rng: Range, r: random.Random) -> tuple[str, Any]:
    junk = [v for v in JUNK if v not in rng.options] if all(isinstance(o, str) for o in rng.options) else list(JUNK)
    options = [("wrong type", lambda: r.choice(junk)), ("not an option", lambda: r.randint(10**6, 10**7))]
    category, make = r.choice(options)
    return category, make()


BAD_BY_KIND = {"int": _int_bad, "flag": _flag_bad, "real": _real_bad, "choice": _choice_bad}


def bad_value(rng: Range, r: random.Random) -> tuple[str, Any]:
    """(category, value) of one bad value for a field of range ``rng``."""
    if rng.role == "layout":
        return _layout_bad(rng, r)
    return BAD_BY_KIND[rng.kind](rng, r)


def classify(cls: type, name: str, value: Any) -> str:
    try:
        cls(**{name: value})
    except ValueError as exc:
        text = str(exc)
        return "clear" if f".{name} = " in text and "allowed" in text else "unclear"
    except Exception:  # noqa: BLE001 - counting crashes is the point
        return "crash"
    return "silent"


def huge_valid(cls: type, name: str, rng: Range) -> str:
    """Set one integer field to its largest admitted value; costs() must be exact ints."""
    try:
        spec = cls(**{name: int(rng.hi)})
    except ValueError:
        return "refused"  # a derived constraint (e.g. groups | c_in) rejects it: fine
    except Exception:  # noqa: BLE001
        return "crash"
    try:
        c = spec.costs()
    except Exception:  # noqa: BLE001
        return "crash"
    numbers = [c.params, c.mem_bytes, *c.macs_by_key.values(), *c.elementwise.values()]
    return "exact" if all(type(v) is int and v >= 0 for v in numbers) else "inexact"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-design", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    start = time.perf_counter()
    outcomes: Counter = Counter()
    by_category: dict[str, Counter] = {}
    by_design: dict[str, Counter] = {}
    examples: dict[str, str] = {}
    huge: Counter = Counter()
    for design, cls in sorted(designs().items()):
        r = random.Random(f"{design}:{args.seed}")
        ranges = cls.field_ranges()
        names = sorted(ranges)
        for _ in range(args.per_design):
            name = r.choice(names)
            category, value = bad_value(ranges[name], r)
            outcome = classify(cls, name, value)
            outcomes[outcome] += 1
            by_category.setdefault(category, Counter())[outcome] += 1
            by_design.setdefault(design, Counter())[outcome] += 1
            if outcome != "clear":
                examples.setdefault(outcome, f"{cls.__name__}({name}={value!r})")
        for name, rng in ranges.items():
            if rng.kind == "int" and rng.hi is not None:
                huge[huge_valid(cls, name, rng)] += 1
    n_designs, elapsed, trials = len(designs()), time.perf_counter() - start, sum(outcomes.values())
    print(f"{n_designs} designs x {args.per_design:,} bad values each = {trials:,} trials "
          f"(seed {args.seed}, {elapsed:.1f} s, {trials / elapsed:,.0f} trials/s)")
    for label, table in (("design", by_design), ("category", by_category)):
        print(f"\n{label:<18} {'tried':>8} {'clear':>8} {'unclear':>8} {'crash':>8} {'silent':>8}")
        for key, counts in sorted(table.items()):
            print(f"{key:<18} {sum(counts.values()):>8,} " +
                  " ".join(f"{counts[o]:>8,}" for o in ("clear", "unclear", "crash", "silent")))
    print(f"{'total':<18} {trials:>8,} " + " ".join(f"{outcomes[o]:>8,}" for o in ("clear", "unclear", "crash", "silent")))
    for outcome, example in examples.items():
        print(f"first {outcome}: {example}")
    print("largest valid value of each integer field -> costs(): " +
          ", ".join(f"{k} {v}" for k, v in sorted(huge.items())))
    return 0 if set(outcomes) <= {"clear"} and "crash" not in huge and "inexact" not in huge else 1


if __name__ == "__main__":
    sys.exit(main())
