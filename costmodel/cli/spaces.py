"""CLI: ``costmodel explore`` (exact Pareto front or a sample of a design space) and
``costmodel lut`` (measure every distinct block of a space on this device).

    costmodel explore ghostnet [--objectives macs,params|latency,params] [--budget params=5e6]
                               [--sample N] [--out front.csv] [--measure K] [--quiet]
    costmodel explore ghostnet --objectives measured,params [--sample 1000] [--measure 8]   # not additive: sampled
    costmodel explore ghostnet --sample 100000000 --out s.parquet [--chunk 1048576] [--scheduler local|ADDRESS]
    costmodel lut tiny.toml --out lut.csv|json|parquet [--min-run-time 0.05] [--scheduler local|ADDRESS]

A sample written to .parquet streams chunk by chunk (memory: one chunk), on a Dask cluster with
--scheduler (the costmodel[distributed] extra); the file is identical to the local run's.

SPACE is a built-in space (ghostnet, resnet50) or a .toml space file. All numbers are per
sample (batch 1); latency columns say predicted, LUT or measured.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from ..core.progress import progress_bar
from .common import UsageError, non_negative_int, positive_int, positive_real, print_frame

PREDICTED = "predicted latency (s)"
SAMPLED_N, SAMPLED_K = 1000, 8
"""A non-additive objective (measured latency): candidates sampled and measured by default."""


def add_cli(sub) -> None:
    p = sub.add_parser("explore", help="exact Pareto front of whole networks in a design space (or a sample)",
                       description="Exact Pareto front of a network design space by dynamic programming "
                                   "(SPACE: ghostnet, resnet50, or a .toml space file).")
    p.add_argument("space", help="built-in space name or .toml file")
    p.add_argument("--objectives", default="macs,params",
                   help="two of macs, params, latency, bytes, elementwise (additive: the exact DP front); "
                        "measured (measured latency) is not additive and falls back to --sample N --measure K")
    p.add_argument("--budget", default=None, metavar="OBJECTIVE=LIMIT",
                   help="keep front rows within the limit and report the best on the other objective")
    p.add_argument("--sample", type=positive_int, default=None, metavar="N",
                   help="evaluate N random candidates instead (an integer >= 1)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of --sample (an integer >= 0; default 0)")
    p.add_argument("--lut", default=None, help="a LUT file (costmodel lut) to use for latency")
    p.add_argument("--measure", type=non_negative_int, default=0, metavar="K", help="measure the latency of K front points")
    p.add_argument("--out", default=None, help="write the rows to this .csv (or .parquet) file")
    p.add_argument("--chunk", type=positive_int, default=None, metavar="ROWS",
                   help="--sample to .parquet: candidates per chunk (an integer >= 1; default 2^20)")
    p.add_argument("--scheduler", default=None, metavar="local|ADDRESS",
                   help="--sample to .parquet on Dask: a LocalCluster or a scheduler address")
    p.add_argument("--quiet", action="store_true", help="no progress bar or status lines (the table still prints)")
    p.set_defaults(func=cmd_explore)

    p = sub.add_parser("lut", help="measure every distinct block of a space: a latency lookup table",
                       description="Measure every distinct block of SPACE on this device (batch 1, fp32) "
                                   "and write a lookup table (format: costmodel/spaces/lut.py).")
    p.add_argument("space", help="built-in space name or .toml file")
    p.add_argument("--out", required=True, help="lut.csv, lut.json or lut.parquet (streamed in chunks of keys)")
    p.add_argument("--min-run-time", type=positive_real, default=0.05,
                   help="seconds of timing per block (a number > 0; default 0.05)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (an integer >= 1; default 1)")
    p.add_argument("--chunk", type=positive_int, default=64, metavar="KEYS",
                   help=".parquet: blocks per chunk (an integer >= 1; default 64)")
    p.add_argument("--scheduler", default=None, metavar="local|ADDRESS",
                   help=".parquet on Dask: one single-threaded worker per device of one kind")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_lut, prints_table=False)


def _budget(text: str | None) -> dict[str, float]:
    if text is None:
        return {}
    key, sep, value = text.partition("=")
    try:
        limit = float(value) if sep else math.nan
    except ValueError:
        limit = math.nan
    if not 0 < limit < math.inf:  # a limit of 0 or below keeps nothing; NaN keeps nothing silently
        _bad_budget(text)
    return {key.strip(): limit}


def _bad_budget(text: str) -> dict[str, float]:
    raise UsageError(f"--budget = {text!r} is invalid: allowed is OBJECTIVE=LIMIT with LIMIT a number > 0, "
                     f"e.g. params=5e6")


def cmd_explore(args) -> int:
    from ..spaces import space
    from ..spaces.front import NON_ADDITIVE, check_objectives, column_of, pareto_front

    sp = space(args.space)
    objectives = check_objectives(args.objectives, additive=False)
    measured = any(o in NON_ADDITIVE for o in objectives)
    budget = _budget(args.budget)
    if budget and next(iter(budget)) not in objectives:
        raise UsageError(f"--budget {next(iter(budget))} is invalid: allowed is one of the objectives "
                         f"{', '.join(objectives)}")
    streamed = args.sample is not None and args.out is not None and Path(args.out).suffix == ".parquet"
    if (args.chunk is not None or args.scheduler is not None) and not streamed:
        raise UsageError("--chunk / --scheduler are invalid here: allowed with --sample N --out FILE.parquet")
    if streamed and (budget or args.measure or measured):
        raise UsageError("--budget / --measure / objective measured are invalid with a streamed sample "
                         "(--out .parquet): filter the file afterwards")
    if streamed:
        return _stream_sample(sp, args)
    if measured:
        frame, what = _sampled_front(sp, objectives, args)
    elif args.sample is not None:
        with progress_bar(1, f"sampling {args.sample:,} candidates", requested=not args.quiet):
            frame = sp.sample(args.sample, args.seed, lut=args.lut)
        what = f"{len(frame):,} sampled candidates of {sp.count():.3g}"
    else:
        with progress_bar(len(sp.stages), "exact front (DP over stages)", requested=not args.quiet) as advance:
            frame = pareto_front(sp, objectives, lut=args.lut, progress=advance)
        what = f"exact Pareto front ({len(frame)} points) of {sp.count():.3g} candidates"
    if budget:
        (key, limit), = budget.items()
        frame = frame[frame[column_of(key, frame)] <= limit]
        other = [o for o in objectives if o != key][0]
        frame = frame.sort_values(column_of(other, frame), kind="stable")
        what += f", within {key} <= {limit:g} (best {other} first)"
    if args.measure and not measured:
        frame = _measured(sp, frame, args.measure, args.quiet)
    if args.out:
        _write(frame, args.out)
    shown = [c for c in frame.columns if c not in sp.columns]
    title = f"{sp.title or sp.name}: {what}; per sample, batch 1"
    print_frame(frame[shown].head(40), title)  # --quiet turns off progress and status lines, not results
    return 0


def _stream_sample(sp, args) -> int:
    """--sample N --out FILE.parquet: chunk by chunk, here or on Dask (--scheduler)."""
    from ..spaces.stream import CHUNK, sample_to_parquet

    desc = f"sampling {args.sample:,} candidates to {args.out}"
    with progress_bar(args.sample, desc, requested=not args.quiet) as advance:
        sample_to_parquet(sp, args.out, args.sample, args.seed, args.chunk or CHUNK, lut=args.lut,
                          client=args.scheduler, progress=advance)
    if not args.quiet:
        print(f"{args.sample:,} sampled candidates of {sp.count():.3g} (per sample, batch 1) -> {args.out}",
              file=sys.stderr)
    return 0


def _sampled_front(sp, objectives: list[str], args):
    """A non-additive objective (measured latency): no DP front exists, so say so on stderr and
    fall back to sampling: --sample N candidates (exact costs), --measure K of them spread evenly
    along the additive objective, each built and timed; ``sampled front`` marks the Pareto rows
    among the measured (a sampled front: not exact)."""
    from ..explore import front_mask
    from ..spaces.front import NON_ADDITIVE, column_of

    n, k = args.sample or SAMPLED_N, args.measure or SAMPLED_K
    name = next(o for o in objectives if o in NON_ADDITIVE)
    other = next(o for o in objectives if o not in NON_ADDITIVE)
    print(f"explore: objective {name!r}: {NON_ADDITIVE[name]}; falling back to sampling: {n:,} candidates, "
          f"{k} of them measured (spread along {other})", file=sys.stderr)
    with progress_bar(1, f"sampling {n:,} candidates", requested=not args.quiet):
        frame = sp.sample(n, args.seed, lut=args.lut)
    frame = frame[frame["valid"]].sort_values(column_of(other, frame), kind="stable")
    frame = _measured(sp, frame, k, args.quiet)
    frame = frame[frame["measured latency (s)"].notna()].reset_index(drop=True)
    points = frame[[column_of(o, frame) for o in objectives]].to_numpy(dtype=float)
    frame["sampled front"] = front_mask(points)
    return frame, (f"{len(frame)} measured of {n:,} sampled candidates of {sp.count():.3g} "
                   f"({int(frame['sampled front'].sum())} on the sampled front; measured latency is not "
                   f"additive, so no exact front)")


def _measured(sp, frame, k: int, quiet: bool):
    """Measure K evenly spaced rows together (``spaces.report.measure_networks``: the interleaved
    protocol, batch 1) beside the predicted: the frame's own predicted latency column, or else each
    measured network's ``predict_latency`` (this machine's profile; left out when there is none)."""
    from ..latency.protocol import SAMPLES
    from ..spaces.report import measure_networks, spread_picks

    frame = frame.reset_index(drop=True)
    picks = spread_picks(len(frame), k)
    with progress_bar(SAMPLES, f"measuring {len(picks)} front points", requested=not quiet) as advance:
        timed = measure_networks([sp.build(frame.iloc[i]) for i in picks], progress=lambda _n: advance(1))
    measured, predicted = [float("nan")] * len(frame), [float("nan")] * len(frame)
    for i, t in zip(picks, timed):
        measured[i], predicted[i] = t["measured_s"], t["predicted_s"]
    extra = {"measured latency (s)": measured}
    if PREDICTED not in frame.columns and any(p == p for p in predicted):  # NaN != NaN: no profile
        extra[PREDICTED] = predicted
    return frame.assign(**extra)


def _write(frame, out: str) -> None:
    path = Path(out)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        raise UsageError(f"--out = {out!r} is invalid: allowed is a .csv or .parquet file")


def cmd_lut(args) -> int:
    from ..spaces import space
    from ..spaces.lut import measure_lut

    from ..spaces.stream import measure_lut_to_parquet

    suffix = Path(args.out).suffix
    if suffix not in (".csv", ".json", ".parquet"):
        raise UsageError(f"--out = {args.out!r} is invalid: allowed is a .csv, .json or .parquet file")
    if args.scheduler is not None and suffix != ".parquet":
        raise UsageError(f"--scheduler is invalid with --out {args.out!r}: allowed with a .parquet file")
    sp = space(args.space)
    n = len(sp.tables(profile=None).makers)
    with progress_bar(n, f"measuring {n} blocks", requested=not args.quiet) as advance:
        if suffix == ".parquet":
            measure_lut_to_parquet(sp, args.out, args.chunk, min_run_time=args.min_run_time, threads=args.threads,
                                   client=args.scheduler, progress=advance)
        else:
            measure_lut(sp, min_run_time=args.min_run_time, threads=args.threads, progress=advance).save(args.out)
    if not args.quiet:
        print(f"{n} blocks measured (s per call, batch 1, fp32) -> {args.out}", file=sys.stderr)
    return 0
