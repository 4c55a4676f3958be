"""Architecture explorer section: the exact Pareto front (MACs vs params) of whole networks in
each built-in design space (``costmodel.spaces.report.report_data``), points coloured by the
block design most of their blocks use, the built-in networks marked on the same axes, over a
light-grey cloud of candidates drawn at random from the space (``space.sample(n, seed)``) so
the reader sees where the front and the built-in networks sit in it; hover shows the architecture."""

from __future__ import annotations

from typing import Any

from .colors import FRONT, MARKER_GREY, color, design_of
from .context import Context
from .page import UNITS, Section, esc, note, scrub, table

CLOUD = {False: 2000, True: 500}
"""Random candidates drawn per space for the grey cloud (full vs --small): enough to show the
space's extent, few enough for the page's size limits (3 MB, 1.5 MB)."""

CLOUD_SEED = 0
"""The cloud's seed: the same candidates in every report."""

CLOUD_DIGITS = 3
"""Significant digits kept of the cloud's params and MACs (it shows the space's shape; the exact
numbers are the front's and the stars', on hover)."""

CLOUD_GREY = "#c8c8c8"
"""The cloud: light grey, behind everything, never a design's colour."""


MEASURED = {False: 3, True: 2}
"""Front points measured per space with --latency (full vs --small), beside the built-in networks."""


def build(ctx: Context) -> Section:
    sec = Section("explorer", "Architecture explorer")
    from ..spaces.report import report_data

    if ctx.latency:  # front points and built-in networks timed on this machine, predicted beside
        from .predicted import profile as device_profile

        data = report_data(profile=device_profile(ctx)[0], measure=MEASURED[ctx.small])
    else:
        data = report_data()
    ctx.shared["explorer"] = data
    sec.add(note("Each built-in network design space searched exactly (dynamic programming over its blocks, no "
                 "enumeration): the Pareto front of whole networks in MACs against params, both exact, per "
                 "sample at 224x224. `costmodel explore SPACE` gives the same front on the command line."))
    for name, space in data.items():
        front, points = space["front"], space["points"]
        sec.add(f"<h3>{esc(space['title'])} <span class=\"note\">({esc(name)}: {space['count']:.3g} candidate "
                f"networks, {len(front)} on the front)</span></h3>")
        try:
            cloud = sample_cloud(name, CLOUD[ctx.small])
        except Exception as exc:  # the cloud is context only: without it the front is still shown
            cloud = None
            sec.add(note(f"No random sample drawn ({type(exc).__name__}: {scrub(str(exc))}); the front alone is "
                         "shown."))
        sec.figure(space_figure(front, points, cloud), cloud_caption(space, cloud))
        sec.add(table(points[["network", "params", "MACs"]].to_dict("records")))
        if space.get("measured") is not None:
            sec.figure(measured_figure(space["measured"]),
                       f"{space['title']}: {len(space['measured']) - len(points)} front points (spread along the "
                       "front) and the built-in networks, built and timed on this machine (batch 1, 224x224, "
                       "1 thread, interleaved protocol; filled: measured, open: predicted).")
            sec.add(table(space["measured"].round(3).to_dict("records")))
    if not ctx.latency:
        sec.add(note("Front points are not measured here: `costmodel report --latency` times a few of them and the "
                     "built-in networks, and `costmodel explore SPACE --measure K` any K."))
    return sec


def measured_figure(measured: Any):
    """params (x) against latency (y, ms per call, log): measured (filled) and predicted (open)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    is_front = measured["network"].str.startswith("front point")
    for label, rows, symbol in (("front points", measured[is_front], "circle"),
                                ("built-in networks", measured[~is_front], "star")):
        fig.add_trace(go.Scatter(x=list(rows["params"]), y=list(rows["measured ms"]), mode="markers",
                                 name=f"{label}, measured", text=list(rows["network"]),
                                 marker=dict(symbol=symbol, size=12, color=FRONT if symbol == "circle" else MARKER_GREY),
                                 hovertemplate="%{text}<br>params: %{x:,}<br>measured: %{y:.3g} ms<extra></extra>"))
        if rows["predicted ms"].notna().any():
            fig.add_trace(go.Scatter(x=list(rows["params"]), y=list(rows["predicted ms"]), mode="markers",
                                     name=f"{label}, predicted", text=list(rows["network"]),
                                     marker=dict(symbol=f"{symbol}-open", size=12,
                                                 color=FRONT if symbol == "circle" else MARKER_GREY),
                                     hovertemplate="%{text}<br>params: %{x:,}<br>predicted: %{y:.3g} ms"
                                                   "<extra></extra>"))
    fig.update_layout(xaxis=dict(title=UNITS["params"], type="log"),
                      yaxis=dict(title="latency (ms per call, batch 1): measured and predicted", type="log"))
    return fig


def rounded(values: Any, digits: int = CLOUD_DIGITS) -> list[int]:
    """Integers to ``digits`` significant digits (151,146,512 -> 151,000,000 at 3)."""
    return [int(float(f"{int(v):.{digits - 1}e}")) for v in values]


def sample_cloud(name: str, n: int) -> Any:
    """``n`` candidates of built-in space ``name`` drawn at random (``space.sample``, seed
    CLOUD_SEED), as a frame of their params and MACs rounded to CLOUD_DIGITS digits."""
    import pandas as pd

    from ..spaces.report import SPACES

    frame = SPACES[name]().sample(n, seed=CLOUD_SEED, profile=None)
    frame = frame[frame["valid"]] if "valid" in frame else frame
    return pd.DataFrame({"params": rounded(frame["params"]), "MACs": rounded(frame["MACs"])})


def cloud_caption(space: dict[str, Any], cloud: Any | None) -> str:
    """What the figure shows, with where the front lies in the sample, from the data."""
    text = f"{space['title']}: the exact front (black line, coloured by block design) and the built-in networks (stars)"
    if cloud is None or not len(cloud):
        return text + ". Hover a point for its architecture."
    front = space["front"]
    below = int((cloud["MACs"] < front["MACs"].max()).sum())
    return (text + f", over {len(cloud):,} candidates drawn at random from the {space['count']:.3g} (grey; a fixed "
            f"seed, so the same in every report; rounded to {CLOUD_DIGITS} significant digits). The sample's MACs run from "
            f"{int(cloud['MACs'].min()):,} to {int(cloud['MACs'].max()):,}; {below:,} of the {len(cloud):,} "
            f"have fewer MACs than the front's largest ({int(front['MACs'].max()):,}). Log axes. Hover a front "
            "point or a star for its architecture.")


def _wrap(text: str, width: int = 110) -> str:
    """The architecture text cut into hover lines at its '; ' separators."""
    lines, cur = [], ""
    for part in str(text).split("; "):
        if cur and len(cur) + len(part) > width:
            lines.append(cur)
            cur = part
        else:
            cur = f"{cur}; {part}" if cur else part
    return "<br>".join(lines + [cur])


def space_figure(front: Any, points: Any, cloud: Any | None = None):
    """The cloud (grey, no hover), the front (line + markers by design) and the stars, log axes."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if cloud is not None and len(cloud):
        fig.add_trace(go.Scatter(x=list(cloud["params"]), y=list(cloud["MACs"]), mode="markers",
                                 name=f"random sample ({len(cloud):,})", hoverinfo="skip",
                                 marker=dict(size=4, color=CLOUD_GREY, opacity=0.6)))
    ordered = front.sort_values("params")
    fig.add_trace(go.Scatter(x=list(ordered["params"]), y=list(ordered["MACs"]), mode="lines", name="Pareto front",
                             line=dict(color=FRONT, width=2, shape="hv"), hoverinfo="skip"))
    for design in dict.fromkeys(front["design"]):
        sub = front[front["design"] == design]
        fig.add_trace(go.Scatter(x=list(sub["params"]), y=list(sub["MACs"]), mode="markers", name=design,
                                 marker=dict(size=10, color=color(design_of(design))),
                                 customdata=[_wrap(a) for a in sub["architecture"]],
                                 hovertemplate=("<b>front: mostly " + design + "</b><br>params: %{x:,}<br>MACs: %{y:,}"
                                                "<br>%{customdata}<extra></extra>")))
    fig.add_trace(go.Scatter(x=list(points["params"]), y=list(points["MACs"]), mode="markers+text",
                             text=list(points["network"]), textposition="top center", name="built-in networks",
                             marker=dict(size=14, symbol="star", color=MARKER_GREY),
                             customdata=[_wrap(a) for a in points["architecture"]],
                             hovertemplate="<b>%{text}</b><br>params: %{x:,}<br>MACs: %{y:,}<br>%{customdata}"
                                           "<extra></extra>"))
    fig.update_layout(height=520, template="plotly_white", margin=dict(l=80, r=20, t=30, b=60),
                      xaxis=dict(type="log", title=dict(text=UNITS["params"] + ", whole network")),
                      yaxis=dict(type="log", title=dict(text=UNITS["macs"] + ", whole network")),
                      legend=dict(title=dict(text="block design")))
    return fig
