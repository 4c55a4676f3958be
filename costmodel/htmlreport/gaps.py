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
from .page import Section, note, sig3, table
from .predicted import profile as device_profile

SAMPLES = {False: 40, True: 8}
"""Interleaved timed bursts per design and per matched conv (full vs --small)."""

SPREAD = "ratio spread % (two estimates of the measured ratio)"
DESIGN_US = "measured design (us per call)"
CONV_US = "measured conv (us per call)"

COLUMNS = ["design", "vs conv", "MACs ratio", "bytes ratio", "measured latency ratio", "predicted latency ratio",
           SPREAD, DESIGN_US, CONV_US]
"""The table's columns: explained_gaps' names, its ratio spread as a percentage and its times
(``design us``, ``conv us``) named as measured."""

SHOWN = {"ratio spread": (SPREAD, 100.0), "design us": (DESIGN_US, 1.0), "conv us": (CONV_US, 1.0)}
"""explained_gaps column -> (table header, factor): the spread in %, the times in us."""


def shown_row(row: dict[str, Any]) -> dict[str, Any]:
    """One explained_gaps row as the table shows it: spread in %, times as measured us, 3 digits."""
    out = {k: v for k, v in row.items() if k not in SHOWN}
    for key, (header, factor) in SHOWN.items():
        if isinstance(row.get(key), float):
            out[header] = sig3(factor * row[key])
    return out



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
    shown = [shown_row(r) for r in rows]
    sec.add(table(shown, [c for c in COLUMNS if any(c in r for r in shown)] + ["note"]))
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
    """How well this run's measured ratios reproduce: the median and the worst ``ratio spread``
    (two independent estimates of each design/conv ratio) and the design of the worst; None when
    nothing was measured."""
    spreads = [(r["ratio spread"], r["design"]) for r in rows if isinstance(r.get("ratio spread"), float)]
    if not spreads:
        return None
    values = sorted(v for v, _ in spreads)
    worst, design = max(spreads)
    return {"median": values[len(values) // 2], "worst": worst, "design": design, "n": len(spreads)}


def noise_text(spread: dict[str, Any] | None, load_start: float, load_end: float) -> str:
    """The run's noise in words: the load, and how far two independent estimates of each ratio agree."""
    text = (f"Load average {load_start:.1f} at the start and {load_end:.1f} at the end of these timings "
            f"({os.cpu_count()} CPU cores); every design and conv are timed interleaved, burst by burst.")
    if spread:
        text += (f" Reproducibility: two independent estimates of each measured ratio differ by a median "
                 f"{100 * spread['median']:.1f}% (worst {100 * spread['worst']:.1f}%, {spread['design']}); "
                 f"ratios within that much of 1 are noise.")
    return text


def gap_rows(ctx: Context) -> list[dict[str, Any]]:
    """explained_gaps rows (with --latency), else the MACs ratios of the Designs section."""
    if ctx.latency:
        from ..latency.evaluate import explained_gaps

        profile, _ = device_profile(ctx)
        frame = explained_gaps(threads=profile.threads, device=profile.device, designs_=list(ctx.designs),
                               samples=SAMPLES[ctx.small], show_progress=False)
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
