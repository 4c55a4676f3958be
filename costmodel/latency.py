"""Measured latency of a design's real module, with ``torch.utils.benchmark``.

How one number is measured (``measure``):
  * the module is put in ``eval()`` and run under ``torch.inference_mode()`` (no autograd);
  * the thread count is fixed (``torch.set_num_threads`` and the Timer's ``num_threads``) and
    recorded, because latency on a CPU depends on it more than on anything else;
  * a few warm-up calls first (allocator, oneDNN primitive caches, lazy init), then
    ``Timer.blocked_autorange``: blocks of repeated calls until ``min_run_time`` seconds;
  * the reported latency is the **median** per-call time over blocks, with the inter-quartile
    range (IQR) and the coefficient of variation (CV = std / mean of the block times);
    a result with CV above ``noisy_cv`` is flagged ``noisy``;
  * on CUDA the Timer synchronises the device around each block (``torch.accelerator.synchronize``)
    and we synchronise after warm-up too, so asynchronous launches are not mistaken for speed.
Every row carries batch, dtype, device, threads, torch version and the mode flags, so a number
is never separated from the conditions it was measured under.

The CLI commands ``latency``, ``calibrate``, ``latency-eval`` and ``latency-gaps`` are added here
(see ``add_cli``); calibration lives in ``costmodel.profile``, prediction in ``costmodel.predict``
and the held-out evaluation and explained-gaps table in ``costmodel.latency_accuracy``.
"""

from __future__ import annotations

import argparse
import math
import platform
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_THREADS = 1
"""One thread by default: on a shared machine a single-thread number is the reproducible one."""

CLOCKS = ("wall", "thread")
"""wall: elapsed time (``time.perf_counter``), the latency a user sees on an idle machine.
thread: CPU time of the calling thread (``time.thread_time``); on a CPU with one torch thread all
the work runs on that thread, so this is the latency without the time other processes held the
core. It is the robust choice on a shared machine; it is refused on CUDA and with threads > 1."""

NOISY_CV = 0.10
"""A measurement whose block times vary by more than 10% (std / mean) is flagged noisy."""


@dataclass(frozen=True)
class Timing:
    """One latency measurement and the conditions it was taken under. Times in seconds."""

    label: str
    median_s: float
    iqr_s: float
    cv: float
    noisy: bool
    blocks: int
    runs_per_block: int
    threads: int
    clock: str
    batch: int
    dtype: str
    device: str
    device_name: str
    torch_version: str
    inference_mode: bool = True
    eval_mode: bool = True

    def row(self) -> dict[str, Any]:
        """A flat dict (one DataFrame row)."""
        out = asdict(self)
        out["median_us"] = self.median_s * 1e6
        return out


def device_name(device: str) -> str:
    """A human name of the device: the GPU's name, or the CPU model from /proc/cpuinfo."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # not Linux: fall back to what Python knows
        pass
    return platform.processor() or platform.machine()


def default_device() -> str:
    """"cuda" when a GPU is present, else "cpu"."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _check_positive(name: str, value: float, allowed: str = "a number > 0") -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} = {value!r} is invalid: allowed is {allowed}")


def measure(module, inputs, *, label: str = "", threads: int = DEFAULT_THREADS,
            min_run_time: float = 0.2, warmup: int = 3, device: str | None = None,
            noisy_cv: float = NOISY_CV, clock: str = "wall") -> Timing:
    """Median latency (seconds per call) of ``module(*inputs)``, with IQR, CV and metadata.

    ``inputs`` is one tensor or a tuple of tensors; the batch is read from the first one.
    ``clock`` is "wall" or "thread" (see ``CLOCKS``).
    """
    import torch
    from torch.utils import benchmark

    _check_positive("threads", threads, "an integer >= 1")
    _check_positive("min_run_time", min_run_time, "a number of seconds > 0")
    device = device or default_device()
    timer_fn = _clock(clock, device, threads)
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))  # warm-up runs with the timed thread count too
    try:
        module = module.to(device).eval()
        inputs = tuple(x.to(device) for x in inputs)
        with torch.inference_mode():
            for _ in range(max(1, warmup)):
                module(*inputs)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            timer = benchmark.Timer("module(*inputs)", globals={"module": module, "inputs": inputs},
                                    num_threads=int(threads), label=label, timer=timer_fn)
            result = timer.blocked_autorange(min_run_time=min_run_time)
    finally:
        torch.set_num_threads(previous)
    return _timing(result, label, threads, clock, inputs[0], device, noisy_cv)


def _clock(clock: str, device: str, threads: int):
    """The timer function of ``clock``; thread CPU time only where it equals the latency."""
    import time

    if clock == "wall":
        return time.perf_counter
    if clock != "thread":
        raise ValueError(f"clock = {clock!r} is invalid: allowed is one of {', '.join(CLOCKS)}")
    if device != "cpu" or threads != 1:
        raise ValueError(f"clock = 'thread' is invalid with device={device!r}, threads={threads}: "
                         f"allowed only on cpu with threads=1 (use clock='wall')")
    return time.thread_time


def _timing(result, label: str, threads: int, clock: str, x, device: str, noisy_cv: float) -> Timing:
    import statistics

    import torch

    times = list(result.times)
    mean = statistics.fmean(times)
    cv = statistics.pstdev(times) / mean if len(times) > 1 and mean > 0 else 0.0
    return Timing(label=label, median_s=float(result.median), iqr_s=float(result.iqr), cv=float(cv),
                  noisy=bool(cv > noisy_cv), blocks=len(times),
                  runs_per_block=int(result.number_per_run), threads=int(threads), clock=clock,
                  batch=int(x.shape[0]) if x.dim() else 1, dtype=str(x.dtype).replace("torch.", ""),
                  device=device, device_name=device_name(device), torch_version=torch.__version__)


def torch_dtype(name: str):
    """``"float32"`` -> ``torch.float32``; a clear ValueError for anything else."""
    import torch

    allowed = ("float32", "float16", "bfloat16", "float64")
    if name not in allowed:
        raise ValueError(f"dtype = {name!r} is invalid: allowed is one of {', '.join(allowed)}")
    return getattr(torch, name)


def measure_spec(spec, *, batch: int = 1, dtype: str = "float32", **kwargs: Any) -> Timing:
    """Latency of ``spec.module()`` on a random input of ``batch`` samples."""
    _check_positive("batch", batch, "an integer >= 1")
    tdtype = torch_dtype(dtype)
    module = spec.module().to(tdtype)
    x = spec.example_input(batch).to(tdtype)
    kwargs.setdefault("label", spec_label(spec))
    return measure(module, x, **kwargs)


def spec_label(spec) -> str:
    """``design(field=value, ...)`` with the non-default fields only (short, readable)."""
    import dataclasses

    changed = [f"{f.name}={getattr(spec, f.name)!r}" for f in dataclasses.fields(spec)
               if f.name != "dtype_bytes" and getattr(spec, f.name) != f.default]
    return f"{spec.name}({', '.join(changed)})"


def progress(items: Sequence, desc: str, enabled: bool = True) -> Iterable:
    """A tqdm progress bar over ``items`` (on stderr); plain iteration when disabled."""
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, mininterval=0.5)


def measure_specs(specs: Sequence, *, show_progress: bool = True, **kwargs: Any):
    """One row per spec (a DataFrame): the Timing fields plus design name and MACs."""
    import pandas as pd

    rows = []
    for spec in progress(specs, "measuring", show_progress):
        row = measure_spec(spec, **kwargs).row()
        row.update(design=spec.name, macs=spec.macs(), mem_bytes=spec.mem_bytes())
        rows.append(row)
    return pd.DataFrame(rows)


# --- CLI ------------------------------------------------------------------------------------

def _add_timing_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"torch threads, fixed and recorded (default {DEFAULT_THREADS})")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--profile", default=None,
                        help="profile JSON path (default: ~/.cache/costmodel/<device>-t<threads>.json)")
    parser.add_argument("--clock", choices=CLOCKS, default=None,
                        help="wall (elapsed) or thread (CPU time of the one torch thread: robust on a "
                             "shared machine); default: wall, or the profile's clock when one is used")


def cmd_latency(args: argparse.Namespace) -> int:
    import pandas as pd

    from .cli import print_frame, spec_from_args
    from .predict import predict_spec
    from .profile import load_profile

    own = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    _add_latency_flags(own)  # the latency flags may also come after the design's flags
    given, rest = own.parse_known_args(args.options)
    vars(args).update(vars(given))
    spec = spec_from_args(args.design, rest)
    timing = measure_spec(spec, batch=args.batch, dtype=args.dtype, threads=args.threads,
                          device=args.device, min_run_time=args.min_run_time, clock=args.clock or "wall")
    row = timing.row()
    rows = [{"quantity": k, "value": v} for k, v in row.items() if k not in ("label",)]
    table = None
    if args.predict:
        from .predict import predict_table

        profile = load_profile(args.profile, device=timing.device, threads=args.threads)
        pred = predict_spec(spec, profile, batch=args.batch)
        rows.append({"quantity": "predicted_s", "value": pred})
        rows.append({"quantity": "prediction error %", "value": 100 * (pred / timing.median_s - 1)})
        table = predict_table(spec, profile, batch=args.batch)
    print_frame(pd.DataFrame(rows).astype(str), f"Latency of {timing.label}")
    if table is not None:
        print_frame(table, "Per op: MACs, bytes moved, MACs/byte, roofline and fitted prediction (us)")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .profile import calibrate, profile_path

    profile = calibrate(threads=args.threads, device=args.device, fit=not args.no_fit,
                        budget_s=args.budget, clock=args.clock or "wall", sweep_csv=args.sweep_csv)
    path = profile.save(args.profile or profile_path(profile.device, profile.threads))
    peaks = profile.peaks
    print(f"device: {profile.device_name} ({profile.device}), threads {profile.threads}, "
          f"clock {profile.clock}, torch {profile.torch_version}")
    print(f"dense conv peak      {peaks['dense_macs_per_s'] / 1e9:8.2f} GMAC/s")
    print(f"depthwise conv peak  {peaks['depthwise_macs_per_s'] / 1e9:8.2f} GMAC/s")
    print(f"memory bandwidth     {peaks['bandwidth_bytes_per_s'] / 1e9:8.2f} GB/s")
    print(f"module call overhead {peaks['call_overhead_s'] * 1e6:8.2f} us")
    if profile.curves:
        print(f"efficiency curves: {', '.join(sorted(profile.curves))} "
              f"({profile.meta.get('train_points', 0)} training points)")
    comp = profile.curves.get("composition")
    if comp:
        print(f"composition: a design = {comp['scale']:.3f} x sum of its ops + {comp['per_op_s'] * 1e6:.2f} us "
              f"per op after the first ({comp['n']} training designs)")
    print(f"took {profile.meta.get('seconds', 0):.1f} s; saved {path}")
    return 0


def cmd_latency_eval(args: argparse.Namespace) -> int:
    from .latency_accuracy import latency_eval, print_eval

    result = latency_eval(per_design=args.per_design, seed=args.seed, threads=args.threads,
                          device=args.device, profile_path_=args.profile, clock=args.clock,
                          rounds=args.rounds, anchor=not args.no_anchor,
                          min_run_time=args.min_run_time, designs_=args.designs or None)
    print_eval(result, worst=args.worst)
    if args.csv:
        result.frame.to_csv(args.csv, index=False)
        print(f"rows written to {args.csv}")
    return 0


def cmd_latency_gaps(args: argparse.Namespace) -> int:
    from .cli import print_frame
    from .latency_accuracy import explained_gaps

    frame = explained_gaps(threads=args.threads, device=args.device, profile_path_=args.profile,
                           clock=args.clock, min_run_time=args.min_run_time,
                           designs_=args.designs or None)
    print_frame(frame, "Explained gaps: each design vs the standard conv with the same "
                       "c_in, c_out, k, stride, h, w (ratios < 1 = design is cheaper)")
    if args.csv:
        frame.to_csv(args.csv, index=False)
        print(f"rows written to {args.csv}")
    return 0


def _add_latency_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--dtype", default="float32", help="float32 (default), float16, bfloat16, float64")
    p.add_argument("--min-run-time", type=float, default=0.3, help="seconds of timed blocks (default 0.3)")
    p.add_argument("--predict", action="store_true", help="also print the calibrated prediction")
    _add_timing_flags(p)


def add_cli(sub) -> None:
    """Subcommands: latency, calibrate, latency-eval, latency-gaps."""
    from .cli import add_design_command

    p = add_design_command(sub, "latency", cmd_latency,
                           "Measured latency of one design (torch.utils.benchmark), optional prediction.")
    _add_latency_flags(p)

    p = sub.add_parser("calibrate", help="measure peak MAC/s and bandwidth; fit latency curves")
    p.add_argument("--no-fit", action="store_true", help="roofline peaks only (skip the training sweep)")
    p.add_argument("--sweep-csv", default=None, help="also write the training sweep's rows to this CSV")
    p.add_argument("--budget", type=float, default=30.0,
                   help="seconds for the single-op training sweep (default 30; the whole-design sweep gets a third of it)")
    _add_timing_flags(p)
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("latency-eval", help="predicted vs measured latency on held-out configs of every design")
    p.add_argument("designs", nargs="*", help="design names (default: every registered design)")
    p.add_argument("--per-design", type=int, default=6, help="held-out configs per design (default 6)")
    p.add_argument("--seed", type=int, default=2024, help="sampling seed of the held-out configs")
    p.add_argument("--min-run-time", type=float, default=0.25, help="seconds of timed blocks per config")
    p.add_argument("--rounds", type=int, default=2,
                   help="interleaved measurement rounds; a config's latency is its best round median")
    p.add_argument("--no-anchor", action="store_true",
                   help="skip re-timing the profile's anchor ops (the drift-scaled prediction)")
    p.add_argument("--worst", type=int, default=10, help="how many worst configs to print")
    p.add_argument("--csv", default=None, help="write every row to this CSV file")
    _add_timing_flags(p)
    p.set_defaults(func=cmd_latency_eval)

    p = sub.add_parser("latency-gaps", help="MACs ratio vs measured and predicted latency ratio, per design")
    p.add_argument("designs", nargs="*", help="design names (default: every registered design)")
    p.add_argument("--min-run-time", type=float, default=0.3, help="seconds of timed blocks per module")
    p.add_argument("--csv", default=None, help="write the table to this CSV file")
    _add_timing_flags(p)
    p.set_defaults(func=cmd_latency_gaps)
