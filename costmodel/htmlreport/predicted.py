"""Predicted latency for the report: this machine's calibrated device profile (loaded, or
calibrated and saved now) and a spec -> predicted ms function. Shared by the Latency, Design
space and Networks sections; the profile is found or calibrated once per report.

The only module of the report that touches the latency package's profile and prediction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .context import Context


def profile(ctx: Context) -> tuple[Any, str]:
    """(profile, how it was obtained) for this device; calibrated now (and saved) when this
    machine has none or it is unreadable. The text names no path (the page is shareable)."""
    if "latency_profile" not in ctx.shared:
        ctx.shared["latency_profile"], ctx.shared["latency_how"] = _load_or_calibrate(ctx)
    return ctx.shared["latency_profile"], ctx.shared["latency_how"]


def _load_or_calibrate(ctx: Context) -> tuple[Any, str]:
    from ..latency.calibrate import DEFAULT_BUDGET_S, calibrate
    from ..latency.profile import load_profile, profile_path

    try:
        return load_profile(), "the saved calibration of this machine"
    except ValueError as exc:  # ProfileError: missing or unreadable
        ctx.progress.log(f"{exc}; calibrating now")
    prof = calibrate(fit=not ctx.small, budget_s=10.0 if ctx.small else DEFAULT_BUDGET_S, show_progress=False)
    prof.save(profile_path(prof.device, prof.threads))
    return prof, f"calibrated now ({prof.meta.get('seconds', 0):.0f} s) and saved for the next report"


def predictor(ctx: Context) -> tuple[Callable[[Any], float] | None, str]:
    """(spec -> predicted latency in ms, description), or (None, "") without ``--latency``."""
    if not ctx.latency:
        return None, ""
    from ..latency.predict import predict_spec

    prof, how = profile(ctx)
    return (lambda spec: 1e3 * predict_spec(spec, prof)), (
        f"predicted from the analytic per-op costs with the calibrated profile of {prof.device_name} "
        f"({prof.threads} thread(s)); profile: {how}")


def network_latency(net: Any, prof: Any) -> tuple[float, list[float]]:
    """(the network's predicted ms per call at batch 1, each layer's predicted ms inside it) by
    ``costmodel.latency.network.predict_latency``: the number ``costmodel.predict_latency``
    gives (its layers composed as in a network, plus one model call), so the Networks and
    Latency sections show the same figure. The layers' times sum to the total less the call."""
    from ..latency.network import predict_latency

    result = predict_latency(net, profile=prof, threads=prof.threads)
    layers = result.table[result.table["kind"] != "call"]["seconds"]
    return result.ms, [1e3 * float(s) for s in layers]
