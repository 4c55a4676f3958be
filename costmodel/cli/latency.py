"""Latency commands: latency, calibrate, latency-eval, latency-gaps."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..latency.calibrate import DEFAULT_BUDGET_S
from ..latency.evaluate import NETWORK_BUDGET_S, NETWORK_MIN_SAMPLES, EvalResult
from ..latency.measure import CLOCKS, DEFAULT_THREADS, measure_spec
from ..latency.features import FEW_COLUMN_MIN_WEIGHT_BYTES, WEIGHT_BOUND_MAX_COLUMNS
from ..latency.profile import weight_rates_line
from ..latency.protocol import REPRODUCIBLE_WITHIN, SAMPLES
from .common import CliParser, UsageError, add_design_command, int_at_least, non_negative_int, positive_int, positive_real, print_frame, record_table

if TYPE_CHECKING:
    import pandas as pd


def _threads(text: str) -> int:
    """--threads: a positive integer, or "all" = this machine's CPU count."""
    import os

    if text == "all":
        return os.cpu_count() or 1
    try:
        return int_at_least(1, text, "threads")
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"threads = {text!r} is invalid: allowed is an integer >= 1 "
                                         "or 'all'") from None


def _device(text: str) -> str:
    """--device: cpu, or cuda[:N] when this torch sees a CUDA device (checked here, before any
    work, so that a missing GPU is one line and exit 2)."""
    if text == "cpu":
        return text
    if text == "cuda" or text.startswith("cuda:"):
        import torch

        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text!r} is invalid: no CUDA device is available to this torch "
                                             f"({torch.__version__}); allowed here is cpu")
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is invalid: allowed is cpu or cuda")


def _add_timing_flags(parser: argparse.ArgumentParser, clock: bool = True) -> None:
    parser.add_argument("--threads", type=_threads, default=DEFAULT_THREADS,
                        help=f"torch threads, fixed and recorded: a number or 'all' (every core; its own "
                             f"profile file) (default {DEFAULT_THREADS})")
    parser.add_argument("--device", type=_device, default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--profile", default=None,
                        help="profile JSON path (default: ~/.cache/costmodel/<device>-t<threads>.json)")
    if clock:
        parser.add_argument("--clock", choices=CLOCKS, default=None,
                            help="wall (elapsed) or thread (CPU time of the one torch thread: robust on a "
                                 "shared machine); default: wall, or the profile's clock when one is used")


def _user_model(target: str):
    """The nn.Module of ``file.py:function`` (or ``module:function``): the one loader of
    ``analyze``, so the same failures give the same one-line errors."""
    from .analyze import load_user_model

    return load_user_model(target)[0]


def _shape(text: str) -> tuple[int, ...]:
    """--input-shape: N,C,H,W (or NxCxHxW) positive integers."""
    from ..analysis import check_shape

    try:
        return check_shape(text)
    except ValueError:
        raise UsageError(f"--input-shape = {text!r} is invalid: allowed is positive integers N,C,H,W, "
                         "e.g. 1,3,224,224") from None


def _is_model(name: str) -> bool:
    from ..networks import network_names

    return name in network_names() or ".py:" in name


def cmd_network_latency(args: argparse.Namespace) -> int:
    """``costmodel latency NETWORK|file.py:function``: measured (and with --predict, predicted) latency."""
    import pandas as pd

    from ..latency.network import measure_latency, predict_latency
    from ..latency.profile import load_profile

    own = CliParser(prog=f"costmodel latency {args.design}", add_help=False)
    own.add_argument("--input-shape", default="1,3,224,224",
                     help="input shape of a file.py:function model, batch first (default 1,3,224,224)")
    own.add_argument("--samples", type=positive_int, default=SAMPLES, help=f"interleaved timed calls (default {SAMPLES})")
    own.add_argument("--drift", action="store_true",
                     help="with --predict: re-time the profile's anchors and scale the prediction by the "
                          "machine's speed now vs at calibration")
    given = own.parse_args(args.options)  # the latency flags are already on args (cli.main)
    for name in ("batch", "threads", "profile", "clock", "predict"):
        setattr(given, name, getattr(args, name))
    if given.drift and not given.predict:
        raise UsageError("--drift is invalid without --predict: allowed is --predict --drift (it scales the prediction)")
    if ".py:" in args.design:
        shape = _shape(given.input_shape)
        model = _user_model(args.design)
    else:
        model, shape = args.design, None
    profile = load_profile(given.profile, threads=given.threads, batch=given.batch) if given.predict else None
    clock = given.clock or (profile.clock if profile is not None else "wall")  # compare like with like
    measured = measure_latency(model, shape, batch=given.batch, threads=given.threads, clock=clock,
                               samples=given.samples)
    rows = [{"quantity": "measured ms per call", "value": f"{measured.ms:.3f}"},
            {"quantity": "measurement spread (two estimates)", "value": f"{100 * measured.spread:.1f}%"},
            {"quantity": "batch / threads / clock", "value": f"{measured.batch} / {measured.threads} / "
                                                             f"{measured.conditions['clock']}"}]
    if given.predict:
        factor = 1.0
        if given.drift:
            from ..latency.evaluate import machine_drift

            factor, kind = machine_drift(profile)
            rows.append({"quantity": f"measured machine drift (time now / at calibration, {kind} anchors, "
                                     f"batch {profile.batch})", "value": f"{factor:.3f}"})
        predicted = predict_latency(model, shape, profile=profile, batch=given.batch, threads=given.threads,
                                    drift=factor)
        rows += [{"quantity": "predicted ms per call" + (" x drift" if given.drift else ""), "value": f"{predicted.ms:.3f}"},
                 {"quantity": "prediction error %", "value": f"{100 * (predicted.seconds / measured.seconds - 1):+.1f}"}]
        table = predicted.table.assign(predicted_us=lambda f: (1e6 * f["seconds"]).round(2)).drop(columns="seconds")
        print_frame(table, f"Per layer: predicted us per call (batch {predicted.batch})")
    print_frame(pd.DataFrame(rows), f"Latency of {measured.name}")
    return 0


SECONDS_SHOWN = {"median_s": "measured us per call (median)", "iqr_s": "measured IQR us"}
"""Timing fields in seconds, shown in microseconds (one unit in the table) under these names."""


def cmd_latency(args: argparse.Namespace) -> int:
    if _is_model(args.design):
        return cmd_network_latency(args)

    from .common import print_frame, spec_from_args
    from ..latency.predict import predict_spec, predict_table
    from ..latency.profile import load_profile

    spec = spec_from_args(args.design, args.options)  # latency flags after the design: cli.main
    # the profile first: a missing or corrupt one stops the command before any timing
    profile = (load_profile(args.profile, device=args.device, threads=args.threads, batch=args.batch)
               if args.predict else None)
    timing = measure_spec(spec, batch=args.batch, dtype=args.dtype, threads=args.threads,
                          device=args.device, min_run_time=args.min_run_time, clock=args.clock or "wall")
    rows = [{"quantity": SECONDS_SHOWN.get(k, k), "value": 1e6 * v if k in SECONDS_SHOWN else v}
            for k, v in timing.row().items() if k not in ("label", "median_us")]
    table = None
    if profile is not None:
        pred = predict_spec(spec, profile, batch=args.batch)
        rows.append({"quantity": "predicted us per call", "value": 1e6 * pred})
        rows.append({"quantity": "prediction error %", "value": 100 * (pred / timing.median_s - 1)})
        table = predict_table(spec, profile, batch=args.batch)
    print_frame(rows, f"Latency of {timing.label}")
    if table is not None:
        print_frame(table, "Per op: MACs, bytes moved, MACs/byte, roofline and fitted prediction (us)")
    return 0


def furthest_factors(factors: dict[str, float], count: int = 4) -> str:
    """The ``count`` factors furthest from 1, as "name x1.23, ..." (design factors are ratios)."""
    far = sorted(factors.items(), key=lambda kv: -abs(kv[1] - 1))[:count]
    return ", ".join(f"{name} x{value:.2f}" for name, value in far)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ..latency.calibrate import calibrate
    from ..latency.profile import profile_path
    from ..latency.protocol import percentile_words
    from ..latency.reference import SPEED_QUANTILE

    profile = calibrate(threads=args.threads, device=args.device, fit=not args.no_fit,
                        budget_s=args.budget, clock=args.clock or "auto", sweep_csv=args.sweep_csv,
                        batch=args.batch)
    path = profile.save(args.profile or profile_path(profile.device, profile.threads, profile.batch))
    peaks = profile.peaks
    print(f"device: {profile.device_name} ({profile.device}), threads {profile.threads}, batch {profile.batch}, "
          f"clock {profile.clock}, torch {profile.torch_version}")
    print(f"dense conv peak      {peaks.dense_macs_per_s / 1e9:8.2f} GMAC/s (measured, batch 1)")
    print(f"depthwise conv peak  {peaks.depthwise_macs_per_s / 1e9:8.2f} GMAC/s (measured, batch 1)")
    print(f"memory bandwidth     {peaks.bandwidth_bytes_per_s / 1e9:8.2f} GB/s (measured)")
    print(f"module call overhead {peaks.call_overhead_s * 1e6:8.2f} us (measured)")
    if profile.curves:
        print(f"efficiency curves: {', '.join(sorted(profile.curves))} "
              f"({profile.meta.get('train_points', 0)} training points)")
    comp = profile.composition
    if comp is not None:
        print(f"composition: a design = {comp.scale:.3f} x sum of its ops + {comp.per_op_s * 1e6:.2f} us "
              f"per op after the first ({comp.n} training designs)")
        for title, factors in (("own factors of the designs furthest from it", comp.design_factors),
                               ("as a network's layer (with the training networks' layers)", comp.network_factors)):
            if factors:
                print(f"  {title}: {furthest_factors(factors)}")
    rates = weight_rates_line(profile.curves)
    if rates:
        print(f"weight-bound ops (2-{WEIGHT_BOUND_MAX_COLUMNS} GEMM columns with over "
              f"{FEW_COLUMN_MIN_WEIGHT_BYTES >> 10} KiB of weights, 1 column with weights beyond L2): {rates}")
    for bucket, curve in sorted(profile.peaks.weight_set_curves.items()):
        points = ", ".join(f"{w / 2**20:.0f} MiB: {r * 1e12:.0f}" for w, r in curve)
        print(f"weight-bound rate on {bucket} columns by the weights a call cycles (measured, ps per weight byte): {points}")
    drift = profile.meta.get("reference_drift")
    if drift:
        print(f"machine speed during calibration: reference ops ran {drift['min']:.2f}-{drift['max']:.2f}x their "
              f"first time over {drift['chunks']} chunks (every time normalized to the machine's quick speed, "
              f"the {percentile_words(SPEED_QUANTILE)} chunk's, {drift.get('quick', drift.get('median', 1.0)):.2f}x the first"
              + (f"; {drift['remeasured']} disturbed chunk(s) measured again" if drift.get("remeasured") else "") + ")")
    net = profile.network
    if net is not None:
        print(f"network composition: {net.describe()} "
              f"({net.n} training networks, median |error| {net.train_median_abs_pct:.1f}% in-sample)")
    phases = profile.meta.get("phases_s")
    if phases:
        passes = profile.meta.get("network_passes")
        names = {"network_sweep": f"training networks ({passes} passes)" if passes else "training networks",
                 "composition_sweep": "designs"}
        print("where the time went: " + ", ".join(f"{names.get(k, k.replace('_', ' '))} {v:.0f} s"
                                                  for k, v in phases.items()))
    print(f"took {profile.meta.get('seconds', 0):.1f} s; saved {path}")
    return 0


def cmd_latency_eval(args: argparse.Namespace) -> int:
    from ..latency.evaluate import latency_eval, network_eval

    shape = _shape(args.input_shape)  # checked before any timing, --networks or not
    if args.networks:
        extra = [(t, _user_model(t), shape) for t in args.designs]
        result = network_eval(threads=args.threads, profile_path_=args.profile, clock=args.clock,
                              samples=args.samples, extra=extra, budget_s=args.budget)
        print_network_eval(result)
        record_table(result.frame, "every network row (measured and predicted)", main=True)  # --csv
        return 0

    _check_designs(args.designs)  # before the profile is read: a typo is the error to show
    result = latency_eval(per_design=args.per_design, seed=args.seed, threads=args.threads,
                          device=args.device, profile_path_=args.profile, clock=args.clock,
                          anchor=not args.no_anchor, batch=args.batch,
                          min_run_time=args.min_run_time, designs_=args.designs or None)
    print_eval(result, worst=args.worst)
    record_table(result.frame, "every held-out config (measured and predicted)", main=True)  # --csv
    return 0


def _check_designs(names: list[str]) -> None:
    """Every name is a registered design (ValueError naming the unknown one otherwise)."""
    from ..core.registry import get_design

    for name in names:
        get_design(name)


def cmd_latency_gaps(args: argparse.Namespace) -> int:
    from ..latency.evaluate import explained_gaps

    _check_designs(args.designs)
    frame = explained_gaps(threads=args.threads, device=args.device, profile_path_=args.profile,
                           clock=args.clock, samples=args.samples, designs_=args.designs or None)
    print_frame(frame, "Explained gaps: each design vs the standard conv with the same "
                       "c_in, c_out, k, stride, h, w (ratios < 1 = design is cheaper)")
    return 0


def _add_latency_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=positive_int, default=1, help="batch size (default 1)")
    p.add_argument("--dtype", default="float32", help="float32 (default), float16, bfloat16, float64")
    p.add_argument("--min-run-time", type=positive_real, default=0.3, help="seconds of timed blocks (default 0.3)")
    p.add_argument("--predict", action="store_true", help="also print the calibrated prediction")
    _add_timing_flags(p)


def add_cli(sub) -> None:
    """Subcommands: latency, calibrate, latency-eval, latency-gaps."""

    p = add_design_command(sub, "latency", cmd_latency,
                           "Measured latency of one design (torch.utils.benchmark), optional prediction.")
    _add_latency_flags(p)

    p = sub.add_parser("calibrate", help="measure peak MAC/s and bandwidth; fit latency curves")
    p.add_argument("--no-fit", action="store_true", help="roofline peaks only (skip the training sweep)")
    p.add_argument("--sweep-csv", default=None, help="also write the training sweep's rows to this CSV")
    p.add_argument("--clock", choices=("auto",) + CLOCKS, default=None,
                   help="auto (default): the clock whose measurements reproduce better on this machine now")
    p.add_argument("--budget", type=positive_real, default=DEFAULT_BUDGET_S,
                   help=f"seconds for the single-op training sweep (default {DEFAULT_BUDGET_S:.0f}; "
                        "the whole-design sweep gets as much)")
    p.add_argument("--batch", type=positive_int, default=1,
                   help="batch of the training sweeps: each batch is a profile of its own (default 1)")
    _add_timing_flags(p, clock=False)
    p.set_defaults(func=cmd_calibrate, output_dests=("profile",), prints_table=False)

    p = sub.add_parser("latency-eval", help="predicted vs measured latency on held-out configs of every design")
    p.add_argument("designs", nargs="*", help="design names (default: every registered design)")
    p.add_argument("--per-design", type=positive_int, default=6, help="held-out configs per design (default 6)")
    p.add_argument("--seed", type=non_negative_int, default=2024,
                   help="sampling seed of the held-out configs (an integer >= 0; default 2024)")
    p.add_argument("--min-run-time", type=positive_real, default=0.25,
                   help="seconds of timed samples per config (interleaved passes of 0.5 ms bursts; default 0.25)")
    p.add_argument("--no-anchor", action="store_true",
                   help="skip re-timing the profile's anchor ops (the drift-scaled prediction)")
    p.add_argument("--networks", action="store_true",
                   help="whole networks instead: every built-in network and swap at two resolutions, plus "
                        "user models given as file.py:function")
    p.add_argument("--input-shape", default="1,3,224,224", help="input shape of file.py:function models")
    p.add_argument("--samples", type=positive_int, default=SAMPLES,
                   help=f"--networks: interleaved timed calls per network (default {SAMPLES})")
    p.add_argument("--budget", type=positive_real, default=NETWORK_BUDGET_S,
                   help=f"--networks: seconds of measuring after which no pass starts once {NETWORK_MIN_SAMPLES} "
                        f"passes are done (default {NETWORK_BUDGET_S:.0f})")
    p.add_argument("--worst", type=positive_int, default=10, help="how many worst configs to print")
    p.add_argument("--batch", type=positive_int, default=1, help="batch of the held-out configs (its own profile; default 1)")
    _add_timing_flags(p)
    p.set_defaults(func=cmd_latency_eval)

    p = sub.add_parser("latency-gaps", help="MACs ratio vs measured and predicted latency ratio, per design")
    p.add_argument("designs", nargs="*", help="design names (default: every registered design)")
    p.add_argument("--samples", type=positive_int, default=SAMPLES,
                   help=f"interleaved timed bursts per design and per conv (default {SAMPLES})")
    _add_timing_flags(p)
    p.set_defaults(func=cmd_latency_gaps)


def reproducibility_line(spread: pd.Series, raw: pd.Series | None = None, leveled: pd.Series | None = None) -> str:
    """How well two independent estimates (halves of the interleaved passes) of each item agree;
    given ``leveled`` (each half divided by its own anchors' level, ``protocol.part_levels``),
    also then; given ``raw`` (where the samples were pass-normalized,
    ``protocol.normalize_passes``; not by default), also before the normalization."""
    def share(values) -> str:
        return (f"{100 * (values <= REPRODUCIBLE_WITHIN).mean():.0f}% "
                f"(median {100 * values.median():.1f}%)")

    raw = None if raw is None else raw.dropna()
    leveled = None if leveled is None else leveled.dropna()
    at_level = ("" if leveled is None or leveled.empty else
                f"; with each half at its anchors' level (the machine's own drift between the halves "
                f"removed) {share(leveled)}" + ("" if len(leveled) == len(spread) else f" of {len(leveled)}"))
    before = "" if raw is None or raw.empty else f"; before the pass normalization {share(raw)}"
    return (f"measurement reproducibility (measured): two independent estimates of the same item agree "
            f"within ±{100 * REPRODUCIBLE_WITHIN:.0f}% for {100 * (spread <= REPRODUCIBLE_WITHIN).mean():.0f}% "
            f"of {len(spread)} items "
            f"(median disagreement {100 * spread.median():.1f}%, worst {100 * spread.max():.1f}%){at_level}{before}")


def print_eval(result: EvalResult, worst: int = 10) -> None:
    """Accuracy summary (refined and roofline), per design, worst configs, conditions."""
    import pandas as pd


    frame = result.frame
    lines = []
    for name, col in (("refined (fitted curves)", "err"),
                      ("refined x anchor drift", "anchored_err"), ("roofline only", "roofline_err")):
        if col in frame:
            s = result.summary(col)
            lines.append({"predictor": name, "configs": s["n"], "within ±10%": f"{100 * s['within_10']:.0f}%",
                          "within ±20%": f"{100 * s['within_20']:.0f}%",
                          "median |error|": f"{s['median_abs_pct']:.1f}%", "worst |error|": f"{s['worst_abs_pct']:.0f}%"})
    print_frame(pd.DataFrame(lines), "Latency prediction on held-out configs (error = predicted / measured - 1)")
    if "err" in frame:
        s = result.summary("err")
        print(f"layers within ±10% (predicted vs measured, held-out configs): {100 * s['within_10']:.0f}% of "
              f"{s['n']} (±20%: {100 * s['within_20']:.0f}%), median |error| {s['median_abs_pct']:.1f}%")
    if "err" in frame:
        ok = frame.dropna(subset=["err"]).assign(abs_err=lambda f: f["err"].abs())
        per = ok.groupby("design").agg(configs=("err", "size"),
                                       within_10=("abs_err", lambda a: f"{100 * (a <= 0.1).mean():.0f}%"),
                                       median_abs_pct=("abs_err", lambda a: round(100 * a.median(), 1)))
        print_frame(per.reset_index(), "Per design")
        cols = ["config", "measured_us", "predicted_us", "roofline_us", "err", "spread"]
        if "spread" in ok:
            print(reproducibility_line(ok["spread"], ok.get("raw_spread"), ok.get("leveled_spread")))
        top = ok.sort_values("abs_err", ascending=False).head(worst)[cols]
        print_frame(top.assign(err=lambda f: (100 * f["err"]).round(1)).rename(columns={"err": "err %"}),
                    f"Worst {worst} configs")
    if "error" in frame:
        failed = frame.dropna(subset=["error"])
        if len(failed):
            print_frame(failed[["config", "error"]], "Configs that could not be measured")
    cond = result.conditions
    print("conditions: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                     for k, v in cond.items()))


def print_network_eval(result: EvalResult) -> None:
    """Per network: measured vs predicted ms, error, spread; then the accuracy and rank correlation."""
    import pandas as pd

    frame = result.frame
    table = pd.DataFrame({"network": frame["config"], "MACs": frame["macs"],
                          "measured ms": (frame["measured_us"] / 1e3).round(3),
                          "predicted ms": (frame["predicted_us"] / 1e3).round(3),
                          "err %": (100 * frame["err"]).round(1),
                          "CV err %": (100 * frame["cv_err"]).round(1),
                          **({"x drift err %": (100 * frame["anchored_err"]).round(1)} if "anchored_err" in frame else {}),
                          "spread %": (100 * frame["spread"]).round(1)})
    print_frame(table, "Whole networks, batch 1: measured vs predicted latency (ms per call)")
    s = result.summary("err")
    cond = result.conditions
    print(f"networks within ±10% (predicted vs measured): {100 * s['within_10']:.0f}% of {s['n']} "
          f"(±20%: {100 * s['within_20']:.0f}%), median |error| {s['median_abs_pct']:.1f}%; Spearman rank "
          f"correlation predicted vs measured {cond['spearman']:.3f} (MACs vs measured {cond['spearman_macs']:.3f})")
    c = result.summary("cv_err")
    print(f"networks within ±10%, leave-one-family-out cross-validated network composition: "
          f"{100 * c['within_10']:.0f}% of {c['n']} (±20%: {100 * c['within_20']:.0f}%), median |error| "
          f"{c['median_abs_pct']:.1f}%; Spearman {cond['spearman_cv']:.3f}")
    if "anchored_err" in frame:
        a, ca = result.summary("anchored_err"), result.summary("cv_anchored_err")
        print(f"networks within ±10%, predicted x anchor drift {cond['anchor_drift']:.3f} (the machine's speed now "
              f"vs at calibration, from {cond.get('anchors', 'the anchors')} re-timed in the same passes): "
              f"{100 * a['within_10']:.0f}% of {a['n']} (±20%: {100 * a['within_20']:.0f}%), median |error| "
              f"{a['median_abs_pct']:.1f}%; cross-validated composition x drift: {100 * ca['within_10']:.0f}% "
              f"(±20%: {100 * ca['within_20']:.0f}%)")
    one = result.summary("cv_single_err")
    print(f"  the same with one scale for all op groups (the earlier composition): {100 * one['within_10']:.0f}% "
          f"(±20%: {100 * one['within_20']:.0f}%), median |error| {one['median_abs_pct']:.1f}%")
    print(reproducibility_line(frame["spread"], frame.get("raw_spread"), frame.get("leveled_spread")))
    print("conditions: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                     for k, v in cond.items()))
