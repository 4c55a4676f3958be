"""``costmodel sweep``: exact costs over a grid or a random sample of one design's space."""

from __future__ import annotations

import math

from ..core.registry import get_design
from ..explore import parse_grid, pareto_front, sweep
from .common import CliParser, UsageError, add_grid_flags, print_frame


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
    total = args.sample if args.sample is not None else math.prod(len(g) for g in grids.values())
    from ..core.progress import progress_bar

    t0 = time.perf_counter()
    with progress_bar(total, f"sweep {args.design}", not args.quiet) as advance:
        frame = sweep(args.design, sample=args.sample, seed=args.seed, valid_only=args.valid_only,
                      progress=advance, **grids)
    elapsed = time.perf_counter() - t0
    n_valid = int(frame["valid"].sum())
    print(f"{len(frame):,} points of {args.design}, {n_valid:,} valid, in {elapsed:.3f} s "
          f"({len(frame) / max(elapsed, 1e-9):,.0f} points/s)")
    for text, count in frame.attrs["invalid"].items():
        print(f"  invalid ({count:,}): {text}")
    if args.out:
        frame.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    if args.pareto:
        objectives = [o.strip() for o in args.pareto.split(",")]
        front = pareto_front(frame, objectives)
        print_frame(front.head(40).to_dict("records"), f"Pareto front on {', '.join(objectives)} "
                                    f"({len(front):,} points, all minimized)")
    elif not args.out:
        print_frame(frame.head(20).to_dict("records"), f"first rows of the sweep of {args.design}")
    return 0


def add_cli(sub) -> None:
    """Register ``costmodel sweep``."""
    import argparse

    p = sub.add_parser("sweep", allow_abbrev=False, help="exact costs over a grid or a random sample of a design's space",
                       description="Grid syntax per design flag: a:b:step (inclusive), a,b,c, or one "
                                   "value; flags take true,false or both. Example: costmodel sweep "
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

    p.add_argument("--sample", type=int, default=default(None), help="draw N random points instead of the grid")
    p.add_argument("--seed", type=int, default=default(0), help="random seed for --sample (default 0)")
    p.add_argument("--out", default=default(None), help="write the sweep to this CSV file")
    p.add_argument("--pareto", default=default(None),
                   help="print the Pareto front on these columns, e.g. macs,params (all minimized)")
    p.add_argument("--valid-only", dest="valid_only", action="store_true", default=default(False),
                   help="drop invalid points")
    p.add_argument("--quiet", action="store_true", default=default(False), help="no progress bar")
