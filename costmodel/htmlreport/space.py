"""Design-space section: interactive MACs-vs-params (vs bytes, vs predicted latency) scatters with
Pareto fronts, a dropdown for the x quantity and the design shown, and a slider over a
hyperparameter. Grids come from each spec's field ranges, so a new design needs no code here."""

from __future__ import annotations

from typing import Any

from .context import Context
from .grids import MAX_POINTS, SHAPE_VALUES, SMALL_SHAPE_VALUES, defaults, evaluate, fields_of, fmt, grid, plain, sweep_design
from .page import UNITS, Section, esc, note
from .predicted import predictor

QUANTITIES = [("params", "params"), ("mem_bytes", "mem_bytes"), ("latency_ms", "latency_ms")]


def build(ctx: Context) -> Section:
    from ..core.registry import get_design

    sec = Section("space", "Design space")
    frames = {}
    for name in ctx.progress.track(ctx.designs, "Design space: sweeping grids"):
        cls = get_design(name)
        try:
            frame = sweep_design(cls, ctx.small)
        except Exception as exc:  # a design whose sweep fails is reported, the rest still plot
            sec.alerts.append(f"design space of {name} failed: {type(exc).__name__}: {exc}")
            continue
        if len(frame):
            frames[name] = frame
    if not frames:
        return sec.unavailable("no design produced valid grid points")
    shapes = shape_frames(ctx)
    latency = add_latency(frames, ctx)
    for by_design in shapes.values():
        add_latency(by_design, ctx)
    grid_values = SMALL_SHAPE_VALUES if ctx.small else SHAPE_VALUES
    sec.add(note(f"Grids: c_in, c_out in {grid_values['c_in']}, k in {grid_values['k']}, stride in "
                 f"{grid_values['stride']} (where the design has them, plus its default), each design's own hyperparameters "
                 "around their defaults, other fields at their defaults; at most "
                 f"{MAX_POINTS[ctx.small]} points per design. Exact costs, vectorized by costmodel.explore.sweep. "
                 + ("Latency: " + latency if latency else "Latency: `costmodel report --latency` adds the "
                    "predicted latency as an x quantity.")))
    sec.add("<p>Use the menus to change the x quantity and the designs shown; click legend entries "
            "to hide traces; hover a point for its full spec. The black line is the Pareto front "
            "(no other point has both fewer MACs and a smaller x).</p>")
    if shapes:
        sec.add("<h3>All designs at one layer shape</h3>",
                "<p>Every design at c_in = c_out = c (n = c for SIC-style designs), k = 3 where it "
                "accepts it, stride 1, the reference h x w; its own hyperparameters vary. The slider "
                "picks c; the black line is the Pareto front of all designs at that shape.</p>")
        sec.figure(shape_figure(shapes), "Designs compared at the same input and output shape.")
    sec.add("<h3>All designs, whole grids</h3>")
    sec.figure(all_designs_figure(frames), "All designs on their whole grids (shapes differ between points).")
    for name, frame in ctx.progress.track(list(frames.items()), "Design space: figures"):
        cls = get_design(name)
        sec.add(f"<h3>{esc(cls.title)} <span class=\"note\">({esc(name)})</span></h3>")
        sec.figure(design_figure(name, frame, slider_field(cls, frame)),
                   f"{cls.title}: drag the slider to show one value of the hyperparameter.")
    ctx.shared["space_frames"] = frames
    return sec


def add_latency(frames: dict[str, Any], ctx: Context) -> str:
    """Adds a ``latency_ms`` column (predicted) where costmodel.latency can predict; returns a note."""
    predict, how = predictor(ctx)
    if predict is None:
        return ""
    from ..core.registry import get_design

    for name, frame in ctx.progress.track(list(frames.items()), "Design space: predicting latency"):
        cls = get_design(name)
        specs = [cls(**fields_of(cls, row)) for row in frame.to_dict("records")]
        frame["latency_ms"] = [predict(s) for s in specs]
    return how


SHAPE_CHANNELS = {False: [32, 64, 128, 256], True: [32, 64]}
PER_SHAPE_POINTS = {False: 80, True: 20}


def shape_values(cls: type, c: int, small: bool) -> dict[str, list]:
    """The design's grid with the layer shape pinned: c_in = c_out = n = c, k = 3, stride 1."""
    values = grid(cls, small)
    for nm in ("c_in", "c_out", "n"):
        if nm in values:
            values[nm] = [c]
    if "k" in values:
        values["k"] = [3]
    if "stride" in values:
        values["stride"] = [1]
    return values


def shape_frames(ctx: Context) -> dict[int, dict[str, Any]]:
    """{c: {design: frame}} for the shape-pinned grids (k falls back to the default if 3 is invalid)."""
    from ..core.registry import get_design

    out: dict[int, dict[str, Any]] = {}
    for c in ctx.progress.track(SHAPE_CHANNELS[ctx.small], "Design space: designs at fixed shapes"):
        for name in ctx.designs:
            cls = get_design(name)
            try:
                values = shape_values(cls, c, ctx.small)
                frame = evaluate(cls, values, PER_SHAPE_POINTS[ctx.small])
                if not len(frame) and "k" in values:
                    frame = evaluate(cls, {**values, "k": [defaults(cls)["k"]]}, PER_SHAPE_POINTS[ctx.small])
            except Exception:  # reported by the whole-grid sweep of the same design
                continue
            if len(frame):
                out.setdefault(c, {})[name] = frame
    return out


def shape_figure(shapes: dict[int, dict[str, Any]]):
    """Traces per (c, design) and a Pareto front per c; the slider shows one c at a time."""
    import plotly.express as px
    import plotly.graph_objects as go

    fig = go.Figure()
    colors = px.colors.qualitative.Dark24
    names = list(dict.fromkeys(n for frames in shapes.values() for n in frames))
    owner: list[int] = []  # the c of each trace
    cs = list(shapes)
    start = cs.index(64) if 64 in cs else 0
    for c, frames in shapes.items():
        for name, frame in frames.items():
            data, tmpl = _hover(frame)
            fig.add_trace(go.Scatter(x=list(frame["params"]), y=list(frame["macs"]), mode="markers", name=name,
                                     legendgroup=name, visible=c == cs[start],
                                     marker=dict(size=8, opacity=0.8, color=colors[names.index(name) % len(colors)]),
                                     customdata=data, hovertemplate=tmpl))
            owner.append(c)
        fx, fy = _overall_front(frames, "params")
        fig.add_trace(go.Scatter(x=fx, y=fy, mode="lines+markers", name=f"Pareto front (c={c})",
                                 visible=c == cs[start], line=dict(color="black", width=2, shape="hv"),
                                 marker=dict(size=4, color="black"),
                                 hovertemplate="Pareto front<br>x: %{x:,}<br>MACs: %{y:,}<extra></extra>"))
        owner.append(c)
    steps = [dict(label=str(c), method="restyle", args=[{"visible": [o == c for o in owner]}]) for c in cs]
    quantities = [q for q, _ in QUANTITIES if all(q in f for frames in shapes.values() for f in frames.values())]
    x_menu = []
    for q in quantities:
        xs, ys = [], []
        for c, frames in shapes.items():
            xs += [list(f[q]) for f in frames.values()]
            ys += [list(f["macs"]) for f in frames.values()]
            fx, fy = _overall_front(frames, q)
            xs.append(fx)
            ys.append(fy)
        x_menu.append(dict(label=f"x = {UNITS[q]}", method="update",
                           args=[{"x": xs, "y": ys}, {"xaxis.title.text": UNITS[q]}]))
    fig.update_layout(
        height=680, template="plotly_white", margin=dict(l=80, r=20, t=70, b=60),
        xaxis=dict(type="log", title=dict(text=UNITS["params"])),
        yaxis=dict(type="log", title=dict(text=UNITS["macs"])),
        updatemenus=[dict(buttons=x_menu, x=0.0, y=1.12, xanchor="left", yanchor="top", direction="down")],
        sliders=[dict(active=start, steps=steps, currentvalue=dict(prefix="c_in = c_out = "), pad=dict(t=50))],
        legend=dict(title=dict(text="design")))
    return fig


# --- Pareto ----------------------------------------------------------------------------------

def front(x: list[float], y: list[float]) -> tuple[list[float], list[float]]:
    """The Pareto front of the points (x, y), both minimised, sorted by x (costmodel.explore's
    front_mask: the package's one Pareto implementation)."""
    import numpy as np

    from ..explore import front_mask

    if not len(x):
        return [], []
    mask = front_mask(np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)]))
    pts = sorted((a, b) for a, b, m in zip(x, y, mask) if m)
    return [p[0] for p in pts], [p[1] for p in pts]


# --- figures ---------------------------------------------------------------------------------

def _quantities(frames: dict[str, Any]) -> list[str]:
    return [q for q, _ in QUANTITIES if all(q in f for f in frames.values())]


def _hover(frame: Any) -> tuple[list, str]:
    lat = "latency_ms" in frame
    data = [[r["spec"], int(r["params"]), int(r["macs"]), int(r["mem_bytes"]),
             float(r["latency_ms"]) if lat else 0.0] for r in frame.to_dict("records")]
    tmpl = ("<b>%{fullData.name}</b><br>%{customdata[0]}<br>MACs: %{customdata[2]:,}<br>"
            "params: %{customdata[1]:,}<br>bytes: %{customdata[3]:,}"
            + ("<br>latency: %{customdata[4]:.4f} ms" if lat else "") + "<extra></extra>")
    return data, tmpl


def all_designs_figure(frames: dict[str, Any]):
    """One trace per design plus the overall Pareto front; menus for x quantity and design shown."""
    import plotly.graph_objects as go

    fig = go.Figure()
    names = list(frames)
    quantities = _quantities(frames)
    for name, frame in frames.items():
        data, tmpl = _hover(frame)
        fig.add_trace(go.Scatter(x=list(frame["params"]), y=list(frame["macs"]), mode="markers", name=name,
                                   marker=dict(size=6, opacity=0.75), customdata=data, hovertemplate=tmpl))
    fx, fy = _overall_front(frames, "params")
    fig.add_trace(go.Scatter(x=fx, y=fy, mode="lines+markers", name="Pareto front",
                             line=dict(color="black", width=2, shape="hv"), marker=dict(size=5, color="black"),
                             hovertemplate="Pareto front<br>x: %{x:,}<br>MACs: %{y:,}<extra></extra>"))
    x_menu = []
    for q in quantities:
        fx, fy = _overall_front(frames, q)
        xs = [list(frames[n][q]) for n in names] + [fx]
        ys = [list(frames[n]["macs"]) for n in names] + [fy]
        x_menu.append(dict(label=f"x = {UNITS[q]}", method="update",
                           args=[{"x": xs, "y": ys}, {"xaxis.title.text": UNITS[q]}]))
    n = len(names)
    show = [dict(label="all designs", method="restyle", args=[{"visible": [True] * (n + 1)}])]
    for i, name in enumerate(names):
        show.append(dict(label=name, method="restyle",
                         args=[{"visible": [j == i for j in range(n)] + [True]}]))
    fig.update_layout(
        height=620, template="plotly_white", margin=dict(l=80, r=20, t=90, b=60),
        xaxis=dict(type="log", title=dict(text=UNITS["params"])),
        yaxis=dict(type="log", title=dict(text=UNITS["macs"])),
        updatemenus=[dict(buttons=x_menu, x=0.0, y=1.16, xanchor="left", yanchor="top", direction="down"),
                     dict(buttons=show, x=0.42, y=1.16, xanchor="left", yanchor="top", direction="down")],
        legend=dict(title=dict(text="design")))
    return fig


def _overall_front(frames: dict[str, Any], q: str) -> tuple[list, list]:
    x = [v for f in frames.values() for v in f[q]]
    y = [v for f in frames.values() for v in f["macs"]]
    return front(x, y)


def slider_field(cls: type, frame: Any) -> str | None:
    """The hyperparameter the slider walks: the design's own field with most values, else c_out."""
    own = [c for c in frame.columns if c in cls.field_ranges() and c not in SHAPE_VALUES and frame[c].nunique() > 1]
    if own:
        return max(own, key=lambda c: frame[c].nunique())
    for c in ("c_out", "c_in", "k"):
        if c in frame and frame[c].nunique() > 1:
            return c
    return None


def design_figure(name: str, frame: Any, field: str | None):
    """One design: a trace per value of ``field`` (slider shows one or all), its Pareto front,
    and a dropdown for the x quantity."""
    import plotly.graph_objects as go

    fig = go.Figure()
    groups = [(None, frame)] if field is None else [(v, frame[frame[field] == v]) for v in sorted(frame[field].unique())]
    for value, sub in groups:
        data, tmpl = _hover(sub)
        label = name if value is None else f"{field}={fmt((value))}"
        fig.add_trace(go.Scatter(x=list(sub["params"]), y=list(sub["macs"]), mode="markers", name=label,
                                   marker=dict(size=7, opacity=0.8), customdata=data, hovertemplate=tmpl))
    fx, fy = front(list(frame["params"]), list(frame["macs"]))
    fig.add_trace(go.Scatter(x=fx, y=fy, mode="lines", name="Pareto front",
                             line=dict(color="black", width=2, shape="hv"),
                             hovertemplate="Pareto front<br>x: %{x:,}<br>MACs: %{y:,}<extra></extra>"))
    quantities = [q for q, _ in QUANTITIES if q in frame]
    x_menu = []
    for q in quantities:
        fx, fy = front(list(frame[q]), list(frame["macs"]))
        xs = [list(sub[q]) for _, sub in groups] + [fx]
        ys = [list(sub["macs"]) for _, sub in groups] + [fy]
        x_menu.append(dict(label=f"x = {UNITS[q]}", method="update",
                           args=[{"x": xs, "y": ys}, {"xaxis.title.text": UNITS[q]}]))
    layout: dict[str, Any] = dict(
        height=520, template="plotly_white", margin=dict(l=80, r=20, t=70, b=60),
        xaxis=dict(type="log", title=dict(text=UNITS["params"])),
        yaxis=dict(type="log", title=dict(text=UNITS["macs"])),
        updatemenus=[dict(buttons=x_menu, x=0.0, y=1.2, xanchor="left", yanchor="top", direction="down")],
        legend=dict(title=dict(text=field or "design")))
    if field is not None and len(groups) > 1:
        n = len(groups)
        steps = [dict(label="all", method="restyle", args=[{"visible": [True] * (n + 1)}])]
        steps += [dict(label=fmt((v)), method="restyle",
                       args=[{"visible": [j == i for j in range(n)] + [True]}]) for i, (v, _) in enumerate(groups)]
        layout["sliders"] = [dict(active=0, steps=steps, currentvalue=dict(prefix=f"{field} = "),
                                  pad=dict(t=50), x=0.0, len=0.9)]
        layout["height"] = 600
    fig.update_layout(**layout)
    return fig

