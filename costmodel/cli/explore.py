"""``costmodel sweep``: exact costs over a grid or a random sample of one design's space."""

from __future__ import annotations

import math
import sys

from ..core.registry import get_design
from ..explore import check_writable, parse_grid, pareto_front, sweep, write_sweep
from ..explore.grid import axis_length
from .common import CliParser, UsageError, add_grid_flags, non_negative_int, positive_int, print_frame


def cmd_sweep(args) -> int:
    """``costmodel sweep DESIGN --field GRID ...``: grid or random sample -> CSV, with progress."""
    import argparse
    import time


    cls = get_design(args.design)
    parser = CliParser(prog=f"costmodel sweep {args.design}", add_help=False, allow_abbrev=False)
    ranges = cls.field_ranges()
    add_grid_flags(parser, ranges)  # one flag per spec field, named as in design_parser
    _sweep_options(parser, argparse.SUPPRESS)  # also accepted after the design name
    try:
        values, unknown = parser.parse_known_args(args.options)
    except SystemExit:
        raise UsageError(f"bad grid in {' '.join(args.options)!r} for design {args.design!r}") from None
    if unknown:
        allowed = ", ".join("--" + f.replace("_", "-") for f in ranges)
        raise UsageError(f"unknown option(s) {' '.join(unknown)} for design {args.design!r}; allowed: {allowed}")
    given = vars(values)
    for option in _OPTION_NAMES:
        if option in given:
            setattr(args, option, given.pop(option))
    grids = {nm: parse_grid(text, ranges[nm], "--" + nm.replace("_", "-"))
             for nm, text in given.items() if text is not None}
    if args.out:
        check_writable(args.out)  # before any work: a bad path is one line, at once
    points = math.prod(axis_length(g) for g in grids.values())
    total = points if args.sample is None else min(args.sample, points)
    objectives = [o.strip() for o in args.pareto.split(",")] if args.pareto else []
    fronts: list = []  # with --out: each chunk's front (the front of the union is the union's front)
    from ..core.progress import progress_bar, status

    t0 = time.perf_counter()
    with progress_bar(total, f"sweep {args.design}", not args.quiet) as advance:
        if args.out:  # streamed chunk by chunk: memory stays one chunk however large --sample is
            summary = write_sweep(args.out, args.design, sample=args.sample, seed=args.seed,
                                  valid_only=args.valid_only, progress=advance,
                                  on_chunk=(lambda f: fronts.append(pareto_front(f, objectives))) if objectives else None,
                                  **grids)
            frame = None
        else:
            frame = sweep(args.design, sample=args.sample, seed=args.seed, valid_only=args.valid_only,
                          progress=advance, **grids)
            summary = {"rows": len(frame), "valid": int(frame["valid"].sum()), "invalid": frame.attrs["invalid"],
                       "note": frame.attrs["note"]}
    elapsed = time.perf_counter() - t0
    if summary["note"]:
        print(f"costmodel: note: {summary['note']}", file=sys.stderr)
    rows = summary["rows"]
    print(f"{rows:,} points of {args.design}, {summary['valid']:,} valid, in {elapsed:.3f} s "
          f"({rows / max(elapsed, 1e-9):,.0f} points/s)")
    for text, count in summary["invalid"].items():
        print(f"  invalid ({count:,}): {text}")
    if args.out and not args.quiet:
        status(f"wrote {args.out}")  # stderr: stdout carries only the results
    if objectives:
        import pandas as pd

        source = frame if frame is not None else pd.concat(fronts, ignore_index=True) if fronts else None
        front = pareto_front(source, objectives) if source is not None else None
        if front is not None:
            print_frame(front.head(40).to_dict("records"), f"Pareto front on {', '.join(objectives)} "
                                        f"({len(front):,} points, all minimized)")
    elif frame is not None:
        print_frame(frame.head(20).to_dict("records"), f"first rows of the sweep of {args.design}")
    return 0


def add_cli(sub) -> None:
    """Register ``costmodel sweep``."""
    import argparse

    p = sub.add_parser("sweep", allow_abbrev=False, help="exact costs over a grid or a random sample of a design's space",
                       description="Grid syntax per design flag: a:b:step (inclusive), a,b,c, or one "
                                   "value; flag fields: --bn, --no-bn, or both given for both values "
                                   "(--bn true|false|both also works). Example: costmodel sweep "
                                   "group_conv --c-out 16:1024:16 --groups 1,2,4,8 --out sweep.csv")
    p.add_argument("design", help="registered design name (see `costmodel list`)")
    _sweep_options(p, None)
    p.add_argument("options", nargs=argparse.REMAINDER, help="--field GRID ... for the design")
    p.set_defaults(func=cmd_sweep)


_OPTION_NAMES = ("sample", "seed", "out", "pareto", "valid_only", "quiet")


def _sweep_options(p, suppress) -> None:
    """The sweep's own options; ``suppress`` (argparse.SUPPRESS) leaves unset ones out."""
    def default(value):
        return suppress if suppress is not None else value

    p.add_argument("--sample", type=positive_int, default=default(None), metavar="N",
                   help="draw N distinct random points instead of the grid (an integer >= 1)")
    p.add_argument("--seed", type=non_negative_int, default=default(0),
                   help="random seed for --sample (an integer >= 0; default 0)")
    p.add_argument("--out", default=default(None),
                   help="stream the sweep to this file, chunk by chunk: Parquet if it ends in .parquet, else CSV")
    p.add_argument("--pareto", default=default(None),
                   help="print the Pareto front on these columns, e.g. macs,params (all minimized)")
    p.add_argument("--valid-only", dest="valid_only", action="store_true", default=default(False),
                   help="drop invalid points")
    p.add_argument("--quiet", action="store_true", default=default(False), help="no progress bar")
