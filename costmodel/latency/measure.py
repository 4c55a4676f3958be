"""The timing harness: measured latency of a module or a design's real module (``torch.utils.benchmark``).

How one number is measured (``measure``):
  * the module is put in ``eval()`` and run under ``torch.inference_mode()`` (no autograd);
    every submodule's mode is given back afterwards, and a module on another device is copied,
    never moved;
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
"""

from __future__ import annotations

import math
import platform
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .allocator import settle_for

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
    allocator: str = ""  # ``allocator.settle_for``: "glibc settled", "n/a" on CUDA, or why not

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


def check_positive(name: str, value: float, allowed: str = "a number > 0") -> None:
    """ValueError naming the field, the value and the allowed range unless ``value`` is a finite number > 0."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} = {value!r} is invalid: allowed is {allowed}")


def on_device(module, device: str):
    """``module`` itself where it already lives on ``device``, else a copy moved there: the
    caller's model is never moved (``Module.to`` works in place)."""
    import copy
    import itertools

    import torch

    where = next((t.device for t in itertools.chain(module.parameters(), module.buffers())), torch.device("cpu"))
    return module if where == torch.device(device) else copy.deepcopy(module).to(device)


def submodule_modes(module) -> list[tuple[Any, bool]]:
    """(submodule, training flag) of every submodule, to give back after timing in eval mode."""
    return [(sub, sub.training) for sub in module.modules()]


def restore_modes(modes: list[tuple[Any, bool]]) -> None:
    """Every submodule's own flag back (``Module.train(mode)`` would set them all to one value:
    a frozen BN inside a training model must stay in eval)."""
    for sub, training in modes:
        sub.training = training


def measure(module, inputs, *, label: str = "", threads: int = DEFAULT_THREADS,
            min_run_time: float = 0.2, warmup: int = 3, device: str | None = None,
            noisy_cv: float = NOISY_CV, clock: str = "wall") -> Timing:
    """Median latency (seconds per call) of ``module(*inputs)``, with IQR, CV and metadata.

    ``inputs`` is one tensor or a tuple of tensors; the batch is read from the first one.
    ``clock`` is "wall" or "thread" (see ``CLOCKS``).
    """
    import torch
    from torch.utils import benchmark

    check_positive("threads", threads, "an integer >= 1")
    check_positive("min_run_time", min_run_time, "a number of seconds > 0")
    device = device or default_device()
    timer_fn = clock_function(clock, device, threads)
    allocator = settle_for(device)  # the same settled malloc as the interleaved protocol, once the settings are checked
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))  # warm-up runs with the timed thread count too
    modes = submodule_modes(module)
    try:
        module = on_device(module, device).eval()
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
        restore_modes(modes)
    return _timing(result, label, threads, clock, inputs[0], device, noisy_cv, allocator)


def clock_function(clock: str, device: str, threads: int):
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


def _timing(result, label: str, threads: int, clock: str, x, device: str, noisy_cv: float,
            allocator: str = "") -> Timing:
    import statistics

    import torch

    times = list(result.times)
    mean = statistics.fmean(times)
    cv = statistics.pstdev(times) / mean if len(times) > 1 and mean > 0 else 0.0
    return Timing(label=label, median_s=float(result.median), iqr_s=float(result.iqr), cv=float(cv),
                  noisy=bool(cv > noisy_cv), blocks=len(times),
                  runs_per_block=int(result.number_per_run), threads=int(threads), clock=clock,
                  batch=int(x.shape[0]) if x.dim() else 1, dtype=str(x.dtype).replace("torch.", ""),
                  device=device, device_name=device_name(device), torch_version=torch.__version__,
                  allocator=allocator)


def torch_dtype(name: str):
    """``"float32"`` -> ``torch.float32``; a clear ValueError for anything else."""
    import torch

    allowed = ("float32", "float16", "bfloat16", "float64")
    if name not in allowed:
        raise ValueError(f"dtype = {name!r} is invalid: allowed is one of {', '.join(allowed)}")
    return getattr(torch, name)


def measure_spec(spec, *, batch: int = 1, dtype: str = "float32", **kwargs: Any) -> Timing:
    """Latency of ``spec.module()`` on a random input of ``batch`` samples."""
    check_positive("batch", batch, "an integer >= 1")
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


def progress_bar(total: int, desc: str, enabled: bool = True):
    """A progress bar of ``total`` steps on stderr (core.progress: off when disabled, quiet or
    stderr is not a terminal); yields ``advance(n)``."""
    from ..core.progress import progress_bar as bar

    return bar(total, desc, enabled)


def progress(items: Sequence, desc: str, enabled: bool = True) -> Iterable:
    """A progress bar over ``items`` on stderr (core.progress); plain iteration when off."""
    from ..core.progress import track

    return track(items, desc, enabled)
