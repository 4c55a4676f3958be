"""Latency section (only with ``latency=True``): measured latency of a few configs of every design
on this machine against the calibrated prediction from the analytic costs, with the ±10% band.

Measurement comes from ``costmodel.latency`` (torch.utils.benchmark harness), the prediction
from ``predicted`` (the calibrated device profile; calibrated now if this machine has none).
"""

from __future__ import annotations

import random
from typing import Any

from .context import Context
from .grids import grid, spec_label
from .page import UNITS, Section, note, table
from .predicted import profile as device_profile

PER_DESIGN = {False: 3, True: 1}
"""Configs measured per design: the reference plus random points of the design-space grid."""

MIN_RUN_TIME = {False: 0.2, True: 0.02}
"""Seconds of timed blocks per measurement (full vs --small)."""


def build(ctx: Context) -> Section:
    sec = Section("latency", "Latency")
    if not ctx.latency:
        return sec.unavailable("latency is measured only with `costmodel report --latency` "
                               "(costmodel.report(latency=True)); it takes a minute or two.")
    profile, how = device_profile(ctx)
    specs = choose_specs(ctx)
    rows = measure(specs, profile, ctx)
    if not rows:
        return sec.unavailable("no config could be measured")
    within = sum(abs(r["error %"]) <= 10 for r in rows)
    within20 = sum(abs(r["error %"]) <= 20 for r in rows)
    sec.add(note(f"Profile: {how}. {len(rows)} configs, batch 1, fp32, 1 thread, median of timed blocks "
                 f"({MIN_RUN_TIME[ctx.small]} s each). Within ±10%: {within}/{len(rows)} "
                 f"({100 * within / len(rows):.0f}%); within ±20%: {within20}/{len(rows)}. "
                 "These configs are not held out from anything; `costmodel latency-eval` gives the "
                 "held-out accuracy."))
    sec.figure(scatter(rows), "Each point is one config; the grey band is ±10% around y = x. Hover for the spec.")
    sec.add(table(rows, ["design", "spec", "measured ms", "predicted ms", "error %", "CV", "noisy", "MACs", "bytes"]))
    ctx.shared["latency_rows"] = rows
    return sec


def choose_specs(ctx: Context) -> list[Any]:
    """The reference config of each design plus random valid points of its design-space grid."""
    from ..core.registry import get_design

    rng = random.Random(0)
    specs = []
    for name in ctx.designs:
        cls = get_design(name)
        try:
            chosen = [cls()]
        except Exception:
            continue
        values = grid(cls, ctx.small)
        tries = 0
        while len(chosen) < PER_DESIGN[ctx.small] and tries < 50:
            tries += 1
            try:
                chosen.append(cls(**{k: rng.choice(v) for k, v in values.items()}))
            except ValueError:
                continue
        specs += chosen
    return specs


def measure(specs: list[Any], profile: Any, ctx: Context) -> list[dict[str, Any]]:
    from ..latency.measure import measure_spec
    from ..latency.predict import predict_spec

    rows = []
    for spec in ctx.progress.track(specs, "Latency: measuring configs"):
        try:
            t = measure_spec(spec, threads=profile.threads, device=profile.device,
                             min_run_time=MIN_RUN_TIME[ctx.small])
            predicted = predict_spec(spec, profile)
        except Exception as exc:  # one config that fails to run is listed, the rest still plot
            ctx.progress.log(f"latency of {spec.name} failed: {exc}")
            continue
        measured = t.median_s
        rows.append({"design": spec.name, "spec": spec_label(spec), "measured ms": 1e3 * measured,
                     "predicted ms": 1e3 * predicted, "error %": 100 * (predicted / measured - 1),
                     "CV": t.cv, "noisy": "noisy" if t.noisy else "", "MACs": spec.macs(), "bytes": spec.mem_bytes()})
    return rows


def scatter(rows: list[dict[str, Any]]):
    import plotly.graph_objects as go

    fig = go.Figure()
    values = [r["measured ms"] for r in rows] + [r["predicted ms"] for r in rows]
    lo, hi = min(values) / 1.5, max(values) * 1.5
    fig.add_trace(go.Scatter(x=[lo, hi, hi, lo], y=[lo * 0.9, hi * 0.9, hi * 1.1, lo * 1.1], fill="toself",
                             mode="none", fillcolor="rgba(120,120,120,0.18)", name="±10%", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="predicted = measured",
                             line=dict(color="gray", dash="dash"), hoverinfo="skip"))
    for design in dict.fromkeys(r["design"] for r in rows):
        sub = [r for r in rows if r["design"] == design]
        fig.add_trace(go.Scatter(
            x=[r["measured ms"] for r in sub], y=[r["predicted ms"] for r in sub], mode="markers", name=design,
            customdata=[[r["spec"], r["error %"], r["MACs"], r["bytes"]] for r in sub],
            hovertemplate=("<b>%{fullData.name}</b><br>%{customdata[0]}<br>measured: %{x:.4f} ms<br>"
                           "predicted: %{y:.4f} ms<br>error: %{customdata[1]:+.1f}%<br>"
                           "MACs: %{customdata[2]:,}<br>bytes: %{customdata[3]:,}<extra></extra>")))
    fig.update_layout(height=600, template="plotly_white", margin=dict(l=80, r=20, t=30, b=60),
                      xaxis=dict(type="log", title=dict(text="measured " + UNITS["latency_ms"])),
                      yaxis=dict(type="log", title=dict(text="predicted " + UNITS["latency_ms"])),
                      legend=dict(title=dict(text="design")))
    return fig

