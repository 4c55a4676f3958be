""""FLOPs are not latency" section: each design at its reference config against the standard
conv of the same input and output shape (``designs.conv.matched_conv``): its MACs ratio beside
its measured and predicted latency ratios, the data of ``costmodel latency-gaps``
(``costmodel.latency.evaluate.explained_gaps``). Measured only with --latency; otherwise the
MACs ratios alone, from the Designs section."""

from __future__ import annotations

import os
from typing import Any

from .colors import color
from .context import Context
from .page import Section, note, table
from .predicted import profile as device_profile

MIN_RUN_TIME = {False: 0.3, True: 0.05}
"""Seconds of timed blocks per design and per matched conv (full vs --small)."""

COLUMNS = ["design", "vs conv", "MACs ratio", "bytes ratio", "measured latency ratio", "predicted latency ratio",
           "design us", "conv us"]


def build(ctx: Context) -> Section:
    sec = Section("gaps", "FLOPs are not latency")
    sec.add(note("Each design at its reference config against the standard conv with the same input and output "
                 "shape (the 'vs conv' column: c_in->c_out kernel stride h x w). A ratio below 1: the design is "
                 "cheaper than that conv. MACs are exact; latencies are measured on this machine (batch 1, fp32), "
                 "the same table as `costmodel latency-gaps`."))
    load = os.getloadavg()[0]
    rows = gap_rows(ctx)
    ctx.shared["gap_rows"] = rows
    if not rows:
        return sec.unavailable("no design could be compared")
    measured = any(isinstance(r.get("measured latency ratio"), float) for r in rows)
    if not measured:
        sec.add(note("Latency not measured: run `costmodel report --latency` for the measured and predicted "
                     "latency ratios."))
    else:
        spread = noise(rows)
        ctx.shared["gap_noise"] = spread
        sec.add(note(noise_text(spread, load, os.getloadavg()[0])))
    sec.figure(gap_figure(rows, measured), CAPTION[measured])
    sec.add(table(rows, [c for c in COLUMNS if any(c in r for r in rows)] + ["note"]))
    return sec


CAPTION = {
    True: ("x: MACs ratio; y: latency ratio, measured (filled) and predicted (open), log scales. On the dashed "
           "line, time falls exactly as MACs do; above it, the design saves MACs but less time; above 1, it is "
           "slower than the conv it replaces."),
    False: ("x: MACs ratio; y: memory-traffic (bytes) ratio, both exact, log scales (latency is not measured in "
            "this report). On the dashed line, bytes fall exactly as MACs do; above it, the design moves "
            "relatively more memory than the conv; above 1, more memory in absolute terms."),
}
"""The figure's caption, with and without measured latency."""


def noise(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How far apart the timings of one and the same reference conv are in this table (most
    designs share the c -> c 3x3 conv, each timed anew): {conv, n, min_us, max_us}, for the
    conv shape timed most often; None when no shape was timed twice."""
    times: dict[str, list[float]] = {}
    for r in rows:
        if isinstance(r.get("conv us"), float):
            times.setdefault(r["vs conv"], []).append(r["conv us"])
    shape, found = max(times.items(), key=lambda kv: len(kv[1]), default=(None, []))
    if len(found) < 2:
        return None
    return {"conv": shape, "n": len(found), "min_us": min(found), "max_us": max(found)}


def noise_text(spread: dict[str, Any] | None, load_start: float, load_end: float) -> str:
    """The run's noise in words: the same conv's fastest and slowest timing, and the load."""
    text = (f"Load average {load_start:.1f} at the start and {load_end:.1f} at the end of these timings "
            f"({os.cpu_count()} CPU cores); each design and its conv are timed one after the other.")
    if spread:
        text += (f" Noise of this run: the same {spread['conv']} conv, timed {spread['n']} times in this table, "
                 f"took {spread['min_us']:,.0f} to {spread['max_us']:,.0f} us "
                 f"({spread['max_us'] / spread['min_us']:.2g}x apart); ratios within that factor of 1 are noise.")
    return text


def gap_rows(ctx: Context) -> list[dict[str, Any]]:
    """explained_gaps rows (with --latency), else the MACs ratios of the Designs section."""
    if ctx.latency:
        from ..latency.evaluate import explained_gaps

        profile, _ = device_profile(ctx)
        frame = explained_gaps(threads=profile.threads, device=profile.device, designs_=list(ctx.designs),
                               min_run_time=MIN_RUN_TIME[ctx.small], show_progress=False)
        return [{k: v for k, v in r.items() if v != ""} | {"note": r.get("note", "")}
                for r in frame.to_dict("records")]
    from ..core.registry import get_design
    from ..designs.conv import matched_conv

    rows = []
    for name in ctx.designs:
        try:
            spec = get_design(name)()
            ref = matched_conv(spec)
        except ValueError as exc:  # a design without a matched conv is listed with the reason
            rows.append({"design": name, "note": str(exc)})
            continue
        rows.append({"design": name, "vs conv": f"{ref.c_in}->{ref.c_out} k{ref.k} s{ref.stride} {ref.h}x{ref.w}",
                     "MACs ratio": spec.macs() / ref.macs(), "bytes ratio": spec.mem_bytes() / ref.mem_bytes(),
                     "note": ""})
    return rows


def gap_figure(rows: list[dict[str, Any]], measured: bool):
    """Measured (filled) and predicted (open) latency ratio against MACs ratio, per design."""
    import plotly.graph_objects as go

    fig = go.Figure()
    good = [r for r in rows if isinstance(r.get("MACs ratio"), float)]
    key = "measured latency ratio" if measured else "bytes ratio"
    values = [r["MACs ratio"] for r in good] + [r[key] for r in good if isinstance(r.get(key), float)]
    lo, hi = min(values + [1.0]) / 1.5, max(values + [1.0]) * 1.5
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines",
                             name="latency ratio = MACs ratio" if measured else "bytes ratio = MACs ratio",
                             line=dict(color="gray", dash="dash"), hoverinfo="skip"))
    for r in good:
        name = r["design"]
        ys = [(key, "circle", 11)] + ([("predicted latency ratio", "diamond-open", 10)] if measured else [])
        for column, symbol, size in ys:
            if not isinstance(r.get(column), float):
                continue
            fig.add_trace(go.Scatter(x=[r["MACs ratio"]], y=[r[column]], mode="markers", name=name,
                                     legendgroup=name, showlegend=column == key,
                                     marker=dict(color=color(name), symbol=symbol, size=size,
                                                 line=dict(width=2, color=color(name))),
                                     customdata=[[r.get("vs conv", ""), column]],
                                     hovertemplate=(f"<b>{name}</b> vs conv %{{customdata[0]}}<br>MACs ratio: "
                                                    "%{x:.3g}<br>%{customdata[1]}: %{y:.3g}<extra></extra>")))
    ytitle = ("latency ratio to the same-shape conv: measured (●), predicted (◇)" if measured
              else "memory-traffic (bytes) ratio to the same-shape conv")
    fig.update_layout(height=560, template="plotly_white", margin=dict(l=80, r=20, t=30, b=60),
                      xaxis=dict(type="log", title=dict(text="MACs ratio to the same-shape conv (exact)")),
                      yaxis=dict(type="log", title=dict(text=ytitle)),
                      legend=dict(title=dict(text="design")))
    return fig
