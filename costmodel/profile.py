"""The latency profile of one device: calibrated roofline peaks and fitted efficiency curves.

``costmodel calibrate`` measures, with a few micro-benchmarks (``calibrate``):
  * ``dense_macs_per_s``: peak attainable MAC/s of a dense k x k conv (best of a few large shapes),
  * ``depthwise_macs_per_s``: the same for a depthwise conv,
  * ``bandwidth_bytes_per_s``: attainable memory bandwidth of an out-of-place add (2 reads + 1 write),
  * ``call_overhead_s``: the cost of calling an empty ``nn.Sequential`` (the container a design is),
and then (unless ``fit=False``) times a small training sweep of single ops and fits the per-kind
efficiency curves of ``costmodel.predict``. The result is a small JSON file per device and
thread count, by default ``~/.cache/costmodel/<device>-t<threads>.json``.

A missing or corrupt profile raises ``ProfileError`` (a ValueError, so the CLI prints one line)
that tells the user to run ``costmodel calibrate``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = 1
PEAK_KEYS = ("dense_macs_per_s", "depthwise_macs_per_s", "bandwidth_bytes_per_s", "call_overhead_s")


class ProfileError(ValueError):
    """A latency profile is missing, unreadable or for another device."""


@dataclass(frozen=True)
class Profile:
    """Calibrated numbers of one device. Units: MAC/s, bytes/s, seconds."""

    device: str
    device_name: str
    threads: int
    torch_version: str
    peaks: dict[str, float]
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)
    dtype: str = "float32"
    clock: str = "wall"
    meta: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "<string>") -> "Profile":
        """Parse and check a profile; ProfileError (naming ``source``) when anything is off."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _corrupt(source, f"not JSON: {exc.msg} at line {exc.lineno}") from None
        if not isinstance(data, dict):
            raise _corrupt(source, "not a JSON object")
        if data.get("schema") != SCHEMA:
            raise _corrupt(source, f"schema {data.get('schema')!r}, expected {SCHEMA}")
        missing = [k for k in ("device", "device_name", "threads", "torch_version", "peaks") if k not in data]
        if missing:
            raise _corrupt(source, f"missing {', '.join(missing)}")
        peaks = data["peaks"]
        for key in PEAK_KEYS:
            value = peaks.get(key) if isinstance(peaks, dict) else None
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise _corrupt(source, f"peaks.{key} = {value!r} is not a positive number")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: str | os.PathLike) -> Path:
        """Write the JSON (creating the folder); returns the path."""
        path = Path(path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path


def _corrupt(source: str, why: str) -> ProfileError:
    return ProfileError(f"latency profile {source} is corrupt ({why}): "
                        f"run `costmodel calibrate` to rebuild it")


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/costmodel`` or ``~/.cache/costmodel``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "costmodel"


def profile_path(device: str, threads: int) -> Path:
    """Default profile file of a device ("cpu"/"cuda") and thread count on this machine."""
    from .latency import device_name

    slug = re.sub(r"[^a-z0-9]+", "-", f"{device}-{device_name(device)}".lower()).strip("-")
    return cache_dir() / f"{slug}-t{threads}.json"


def load_profile(path: str | os.PathLike | None = None, *, device: str | None = None,
                 threads: int = 1) -> Profile:
    """Read a profile (default: this device's file in the cache folder).

    Raises ProfileError, telling the user to run ``costmodel calibrate``, when the file is
    missing or corrupt.
    """
    if path is None:
        from .latency import default_device

        device = device or default_device()
        path = profile_path(device, threads)
    path = Path(path).expanduser()
    if not path.is_file():
        hint = f" --threads {threads}" if threads != 1 else ""
        raise ProfileError(f"no latency profile at {path}: run `costmodel calibrate{hint}` first "
                           f"(about 30 s; it measures this machine's peak MAC/s and bandwidth)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _corrupt(str(path), f"unreadable: {exc}") from None
    return Profile.from_json(text, str(path))


# --- micro-benchmarks ---------------------------------------------------------------------------

def _conv_rate(cin: int, cout: int, k: int, hw: int, groups: int, threads: int, device: str,
               min_run_time: float, clock: str) -> float:
    """MAC/s of one conv shape (batch 1, fp32)."""
    import torch

    from .latency import measure

    conv = torch.nn.Conv2d(cin, cout, k, 1, k // 2, groups=groups, bias=False)
    x = torch.randn(1, cin, hw, hw)
    macs = cout * (cin // groups) * k * k * hw * hw
    return macs / measure(conv, x, threads=threads, device=device, min_run_time=min_run_time,
                          clock=clock).median_s


def _bandwidth(threads: int, device: str, min_run_time: float, clock: str,
               elements: int = 1 << 23) -> float:
    """Bytes/s of ``torch.add(a, b, out=c)`` on ``elements`` fp32 values (32 MiB per tensor)."""
    import torch

    from .latency import measure

    class AddInto(torch.nn.Module):
        def forward(self, a, b, c):
            return torch.add(a, b, out=c)

    tensors = tuple(torch.randn(elements) for _ in range(3))
    timing = measure(AddInto(), tensors, threads=threads, device=device, min_run_time=min_run_time,
                     clock=clock)
    return 3 * 4 * elements / timing.median_s


def _call_overhead(threads: int, device: str, min_run_time: float, clock: str) -> float:
    """Seconds per call of an empty nn.Sequential (what a design's container adds)."""
    import torch

    from .latency import measure

    x = torch.randn(1, 8, 4, 4)
    return measure(torch.nn.Sequential(), x, threads=threads, device=device,
                   min_run_time=min_run_time, clock=clock).median_s


def measure_peaks(threads: int = 1, device: str = "cpu", min_run_time: float = 0.3,
                  clock: str = "wall") -> dict[str, float]:
    """The roofline numbers: best dense and depthwise MAC/s over a few shapes, bandwidth, overhead."""
    from .predict import l2_bytes

    args = (threads, device, min_run_time, clock)
    dense = max(_conv_rate(c, c, 3, hw, 1, *args) for c, hw in ((128, 28), (256, 14)))
    depthwise = max(_conv_rate(c, c, k, 56, c, *args) for c, k in ((256, 3), (128, 5)))
    return {"dense_macs_per_s": dense, "depthwise_macs_per_s": depthwise,
            "bandwidth_bytes_per_s": _bandwidth(*args),
            "call_overhead_s": _call_overhead(threads, device, min_run_time / 3, clock),
            "l2_bytes": float(l2_bytes())}


def calibrate(threads: int = 1, device: str | None = None, fit: bool = True,
              budget_s: float = 35.0, seed: int = 0, show_progress: bool = True,
              clock: str = "wall", sweep_csv: str | None = None) -> Profile:
    """Measure this device's peaks and (``fit``) fit the efficiency curves on a training sweep
    (its rows are written to ``sweep_csv`` when given)."""
    import torch

    from .latency import default_device, device_name

    if threads < 1:
        raise ValueError(f"threads = {threads!r} is invalid: allowed is an integer >= 1")
    device = device or default_device()
    start = time.perf_counter()
    peaks = measure_peaks(threads, device, clock=clock)
    profile = Profile(device=device, device_name=device_name(device), threads=threads,
                      torch_version=torch.__version__, peaks=peaks, clock=clock)
    meta: dict[str, Any] = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    curves: dict[str, dict[str, Any]] = {}
    if fit:
        from .predict import composition_sweep, fit_composition, fit_curves, pick_anchors, training_sweep

        frame = training_sweep(profile, budget_s=budget_s, seed=seed, show_progress=show_progress)
        if sweep_csv:
            frame.to_csv(sweep_csv, index=False)
        curves = fit_curves(frame, profile)
        meta["train_points"] = int(len(frame))
        meta["train_keys"] = sorted(set(frame["key"]))
        meta["anchors"] = pick_anchors(frame)
        frame = frame.drop(columns=["item"])
        with_curves = dataclasses.replace(profile, curves=curves)
        # 3 configs per design: small design spaces (subdivision has ~10 configs) must keep
        # enough configs that calibrate never timed for latency-eval
        designs_frame = composition_sweep(with_curves, seed=seed, budget_s=budget_s / 3, per_design=3,
                                          show_progress=show_progress)
        if sweep_csv:
            designs_frame.to_csv(str(sweep_csv) + ".designs.csv", index=False)
        composition = fit_composition(designs_frame, profile)
        if composition:
            curves["composition"] = composition
        meta["train_configs"] = sorted(designs_frame["config"]) if len(designs_frame) else []
    meta["seconds"] = time.perf_counter() - start
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    meta["load_average_1min"] = load
    return Profile(device=device, device_name=profile.device_name, threads=threads,
                   torch_version=torch.__version__, peaks=peaks, curves=curves, clock=clock, meta=meta)
