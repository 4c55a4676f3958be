"""Architecture explorer section: the exact Pareto front (MACs vs params) of whole networks in
each built-in design space (``costmodel.spaces.report.report_data``), points coloured by the
block design most of their blocks use, the built-in networks marked on the same axes; hover
shows the architecture."""

from __future__ import annotations

from typing import Any

from .colors import FRONT, MARKER_GREY, color, design_of
from .context import Context
from .page import UNITS, Section, esc, note, table


def build(ctx: Context) -> Section:
    sec = Section("explorer", "Architecture explorer")
    from ..spaces.report import report_data

    data = report_data()
    ctx.shared["explorer"] = data
    sec.add(note("Each built-in network design space searched exactly (dynamic programming over its blocks, no "
                 "enumeration): the Pareto front of whole networks in MACs against params, both exact, per "
                 "sample at 224x224. `costmodel explore SPACE` gives the same front on the command line."))
    for name, space in data.items():
        front, points = space["front"], space["points"]
        sec.add(f"<h3>{esc(space['title'])} <span class=\"note\">({esc(name)}: {space['count']:.3g} candidate "
                f"networks, {len(front)} on the front)</span></h3>")
        sec.figure(space_figure(front, points), f"{space['title']}: the front (line) and the built-in networks "
                                                "(stars). Hover a point for its architecture.")
        sec.add(table(points[["network", "params", "MACs"]].to_dict("records")))
    return sec


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


def space_figure(front: Any, points: Any):
    import plotly.graph_objects as go

    fig = go.Figure()
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
