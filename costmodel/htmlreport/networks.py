"""Networks section: every built-in network and conv swap (from ``costmodel.networks``), as
per-layer bars of MACs / params / bytes (/ predicted latency), a comparison stacked by design,
and the published-vs-ours table. Also the network validation used by the Validation section."""

from __future__ import annotations

from typing import Any

from .colors import color
from .context import Context
from .netlist import SMALL_RESOLUTION, builtin_networks, swapped_networks
from .page import UNITS, Section, esc, note, sig3, table
from .predicted import network_latency, profile as device_profile

QUANTITY_COLUMNS = [("MACs", "macs"), ("params", "params"), ("mem bytes", "mem_bytes"),
                    ("predicted latency (ms, batch 1)", "latency_ms")]

# --- the section -----------------------------------------------------------------------------

def build(ctx: Context) -> Section:
    sec = Section("networks", "Networks")
    items = builtin_networks(ctx) + swapped_networks(ctx)
    tables: dict[str, Any] = {}
    titles: dict[str, str] = {}
    predicted: dict[str, float] = {}  # network -> predicted ms per call (costmodel.predict_latency)
    for label, make in ctx.progress.track(items, "Networks: per-layer costs"):
        try:
            net = make()
            frame = net.costs().table.copy()
        except Exception as exc:  # a network that fails to build is shown in red, never hidden
            sec.alerts.append(f"network {label}: {type(exc).__name__}: {exc}")
            continue
        frame = _normalise(frame)
        total = _add_latency(net, frame, ctx)
        if total is not None:
            predicted[label] = total
        tables[label] = frame
        titles[label] = getattr(net, "title", label)
    if ctx.small:
        sec.add(note(f"Small report: networks at {SMALL_RESOLUTION}x{SMALL_RESOLUTION} input (same layers, "
                     "fewer MACs); run without --small for the 224x224 numbers."))
    if tables:
        sec.add("<h3>Totals</h3>", table(_totals(tables, predicted)))
        if predicted:
            sec.add(note(f"Predicted latency: costmodel.predict_latency on this machine's profile, batch 1, "
                         f"{device_profile(ctx)[0].threads} thread(s): each layer's predicted time inside the "
                         "network plus one model call (per-layer bars: each layer's time inside the network)."))
        sec.figure(totals_figure(tables, predicted), totals_caption(tables))
        sec.figure(compare_figure(tables), "Each bar is one network, split by the design of its layers as a share "
                                           "of the network's total. Use the menu to switch the quantity.")
    _published(sec)
    sec.add("<h3>Layer by layer</h3>")
    builtin = {label for label, _ in builtin_networks(ctx)}
    if ctx.small:
        sec.add(note("Small report: per-layer charts of the built-in networks only (the swaps are in the totals)."))
    for label, frame in tables.items():
        if ctx.small and label not in builtin:
            continue
        sec.add(f'<details class="fold" id="net-{esc(label)}"><summary>{esc(titles[label])} '
                f'<span class="note">({esc(label)}, {len(frame)} layers)</span></summary>')
        sec.figure(layer_figure(label, frame), f"{label}: one bar per layer, coloured by design; "
                                               "hover for the layer's path and shapes.")
        sec.add("</details>")
    ctx.shared["network_tables"] = tables
    return sec


def _normalise(frame: Any) -> Any:
    """Column names as the figures use them (macs, params, mem_bytes)."""
    rename = {"MACs": "macs", "mem bytes": "mem_bytes"}
    return frame.rename(columns={k: v for k, v in rename.items() if k in frame})


def _add_latency(net: Any, frame: Any, ctx: Context) -> float | None:
    """With --latency: the layers' predicted ms inside the network as ``latency_ms``, and the
    network's predicted ms per call (predicted.network_latency, = costmodel.predict_latency)."""
    if not ctx.latency:
        return None
    total, layers = network_latency(net, device_profile(ctx)[0])
    frame["latency_ms"] = layers
    return total


PREDICTED = "predicted latency (ms, batch 1)"
"""The Totals column of a network's predicted latency (costmodel.predict_latency, per call)."""


def _totals(tables: dict[str, Any], predicted: dict[str, float] | None = None) -> list[dict[str, Any]]:
    rows = []
    for label, f in tables.items():
        row = {"network": label, "layers": len(f), "params": int(f["params"].sum()),
               "MACs": int(f["macs"].sum()), "FLOPs": 2 * int(f["macs"].sum()), "mem bytes": int(f["mem_bytes"].sum())}
        if predicted and label in predicted:
            row[PREDICTED] = sig3(predicted[label])
        rows.append(row)
    return rows


def total(label: str, frame: Any, col: str, predicted: dict[str, float] | None = None) -> float:
    """A network's total of ``col``: the sum over its layers, except predicted latency, which is
    the network's own prediction (layers composed, plus the model call)."""
    if col == "latency_ms" and predicted and label in predicted:
        return float(predicted[label])
    return float(frame[col].sum())


def _published(sec: Section) -> None:
    from ..networks import published_table

    try:
        frame = published_table()
    except Exception as exc:  # a failing table is a note, the rest of the section still shows
        sec.add("<h3>Published vs ours</h3>", note(f"Not available: {type(exc).__name__}: {exc}"))
        return
    sec.add("<h3>Published vs ours</h3>",
            note("The papers' numbers beside ours; where they differ, the note column says why."),
            table(frame))


def totals_caption(tables: dict[str, Any]) -> str:
    """Why the totals axis is logarithmic, from the data: the largest and smallest MACs."""
    macs = {label: float(f["macs"].sum()) for label, f in tables.items()}
    big, small = max(macs, key=macs.__getitem__), min(macs, key=macs.__getitem__)
    return (f"One bar per network (log scale: {big}'s {macs[big]:,.0f} MACs and {small}'s {macs[small]:,.0f} on "
            f"one chart, {macs[big] / macs[small]:,.0f}x apart). Use the menu to switch the quantity.")


def _quantities(frames: list[Any]) -> list[tuple[str, str]]:
    return [(label, col) for label, col in QUANTITY_COLUMNS if all(col in f for f in frames)]


DECADES = 100
"""A per-layer axis is logarithmic when its largest positive value is at least this many times
its smallest (a GhostNet's layers span 1e3 to 1e7 MACs); each bar stands alone there (one layer
per x), so a log axis does not distort a stack."""


def axis_type(values: Any) -> str:
    """'log' where the positive values span DECADES or more, else 'linear'."""
    pos = [float(v) for v in values if v and float(v) > 0]
    return "log" if pos and max(pos) >= DECADES * min(pos) else "linear"


def compare_figure(tables: dict[str, Any]):
    """Bars per network, stacked by design; a menu switches MACs / params / bytes / latency."""
    import plotly.graph_objects as go

    labels = list(tables)
    designs = list(dict.fromkeys(d for f in tables.values() for d in f["design"]))
    quantities = _quantities(list(tables.values()))
    fig = go.Figure()

    def values(col: str, design: str) -> list:
        return [float(f.loc[f["design"] == design, col].sum()) for f in tables.values()]

    first = quantities[0][1]
    for d in designs:
        fig.add_trace(go.Bar(x=labels, y=values(first, d), name=d, marker=dict(color=color(d)),
                             hovertemplate=f"%{{x}}<br>{d}: %{{y:,.4~g}}<extra></extra>"))
    buttons = [dict(label=share(col), method="update",
                    args=[{"y": [values(col, d) for d in designs]}, {"yaxis.title.text": share(col)}])
               for _, col in quantities]
    fig.update_layout(barmode="stack", barnorm="percent", height=560, template="plotly_white",
                      margin=dict(l=80, r=20, t=70, b=120),
                      xaxis=dict(title=dict(text="network (layers grouped by design)")),
                      yaxis=dict(title=dict(text=share(first))),
                      legend=dict(title=dict(text="design")),
                      updatemenus=[dict(buttons=buttons, x=0.0, y=1.15, xanchor="left", yanchor="top")])
    return fig


def share(col: str) -> str:
    """Axis title of a share: '% of the network's MACs (multiply-accumulates per sample)'."""
    return f"% of the network's {UNITS[col]}"


def totals_figure(tables: dict[str, Any], predicted: dict[str, float] | None = None):
    """One bar per network on a log axis; a menu switches MACs / params / bytes / latency."""
    import plotly.graph_objects as go

    labels = list(tables)
    quantities = _quantities(list(tables.values()))
    first = quantities[0][1]

    def totals(col: str) -> list[float]:
        return [total(label, f, col, predicted) for label, f in tables.items()]

    fig = go.Figure(go.Bar(x=labels, y=totals(first), name="total",
                           marker=dict(color="#1f4e9c"), hovertemplate="%{x}: %{y:,.4~g}<extra></extra>"))
    buttons = [dict(label=UNITS[col], method="update",
                    args=[{"y": [totals(col)]}, {"yaxis.title.text": UNITS[col]}])
               for _, col in quantities]
    fig.update_layout(height=480, template="plotly_white", margin=dict(l=80, r=20, t=70, b=120), showlegend=False,
                      xaxis=dict(title=dict(text="network")), yaxis=dict(type="log", title=dict(text=UNITS[first])),
                      updatemenus=[dict(buttons=buttons, x=0.0, y=1.15, xanchor="left", yanchor="top")])
    return fig


def layer_figure(label: str, frame: Any):
    """One bar per layer (x = layer index), one trace per design; a menu switches the quantity."""
    import plotly.graph_objects as go

    quantities = _quantities([frame])
    first = quantities[0][1]
    fig = go.Figure()
    designs = list(dict.fromkeys(frame["design"]))
    idx = list(range(len(frame)))
    for d in designs:
        rows = [i for i in idx if frame["design"].iloc[i] == d]
        sub = frame.iloc[rows]
        custom = [[r.get("layer", ""), r.get("input", ""), r.get("output", ""), int(r["macs"]), int(r["params"]),
                   int(r["mem_bytes"])] for r in sub.to_dict("records")]
        fig.add_trace(go.Bar(x=rows, y=list(sub[first]), name=d, customdata=custom, marker=dict(color=color(d)),
                             hovertemplate=("<b>%{customdata[0]}</b> (" + d + ")<br>in %{customdata[1]} → out "
                                            "%{customdata[2]}<br>MACs: %{customdata[3]:,}<br>params: "
                                            "%{customdata[4]:,}<br>bytes: %{customdata[5]:,}<extra></extra>")))
    buttons = []
    for _, col in quantities:
        ys = [list(frame.iloc[[i for i in idx if frame["design"].iloc[i] == d]][col]) for d in designs]
        buttons.append(dict(label=UNITS[col], method="update",
                            args=[{"y": ys}, {"yaxis.title.text": UNITS[col], "yaxis.type": axis_type(frame[col])}]))
    fig.update_layout(barmode="stack", height=460, template="plotly_white", margin=dict(l=80, r=20, t=60, b=60),
                      xaxis=dict(title=dict(text="layer (index in execution order)")),
                      yaxis=dict(type=axis_type(frame[first]), title=dict(text=UNITS[first])),
                      legend=dict(title=dict(text="design")),
                      updatemenus=[dict(buttons=buttons, x=0.0, y=1.2, xanchor="left", yanchor="top")])
    return fig
