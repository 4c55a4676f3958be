"""Design-space section: interactive MACs-vs-params (vs bytes, vs predicted latency) scatters with
Pareto fronts, a dropdown for the x quantity and the design shown, and a slider over a
hyperparameter. Grids come from each spec's field ranges, so a new design needs no code here."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction
from typing import Any

from .context import Context, public
from .page import UNITS, Section, esc, note

SHAPE_VALUES = {"c_in": [16, 32, 64, 128, 256], "c_out": [16, 32, 64, 128, 256], "k": [1, 3, 5, 7],
                "stride": [1, 2]}
SMALL_SHAPE_VALUES = {"c_in": [32, 64], "c_out": [32, 64], "k": [3, 5], "stride": [1]}
FIXED = ("h", "w", "dtype_bytes")
"""Fields held at their defaults: the spatial size is the reference's, fp32."""

MAX_POINTS = {False: 600, True: 60}
"""Points per design (random sample of the grid when it is larger), full vs --small."""

QUANTITIES = [("params", "params"), ("mem_bytes", "mem_bytes"), ("latency_ms", "latency_ms")]


def build(ctx: Context) -> Section:
    from ..core.registry import get_design

    sec = Section("space", "Design space")
    frames, sources = {}, set()
    for name in ctx.progress.track(ctx.designs, "Design space: sweeping grids"):
        cls = get_design(name)
        try:
            frame, source = sweep_design(cls, ctx.small)
        except Exception as exc:  # a design whose sweep fails is reported, the rest still plot
            sec.alerts.append(f"design space of {name} failed: {type(exc).__name__}: {exc}")
            continue
        if len(frame):
            frames[name] = frame
            sources.add(source)
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
                 f"{MAX_POINTS[ctx.small]} points per design. Evaluated by {', '.join(sorted(sources))}. "
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


# --- grids -----------------------------------------------------------------------------------

def grid(cls: type, small: bool = False) -> dict[str, list]:
    """Values per field: shapes from SHAPE_VALUES, own hyperparameters around their defaults."""
    import dataclasses

    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    shapes = SMALL_SHAPE_VALUES if small else SHAPE_VALUES
    out: dict[str, list] = {}
    for nm, rng in cls.field_ranges().items():
        default = defaults[nm]
        if nm in FIXED or rng.kind == "flag" or default is dataclasses.MISSING:
            values = [default]
        elif nm in shapes:  # the default too: some designs only accept a few shapes (e.g. k | h)
            values = sorted({v for v in shapes[nm] if rng.accepts(v)} | {default})
        elif rng.kind == "choice":
            values = list(rng.options)
        elif rng.kind == "int":
            values = _ints_around(default, rng, small)
        else:
            values = _reals_around(default, rng, small)
        out[nm] = values
    return out


def _ints_around(default: int, rng: Any, small: bool) -> list[int]:
    candidates = [default // 2, default, default + 1, 2 * default, 4 * default]
    values = sorted({v for v in candidates if rng.accepts(v)})
    return values[:2] if small else values


def _reals_around(default: float, rng: Any, small: bool) -> list[float]:
    candidates = [default, 1 / 8, 1 / 4, 1 / 2, 3 / 4, 1.0]
    values = sorted({v for v in candidates if rng.accepts(v)})
    return values[:2] if small else values


def sweep_design(cls: type, small: bool = False):
    """The valid grid points of ``cls`` with params, macs, mem_bytes and a ``spec`` text column.

    Uses ``costmodel.sweep`` when it exists; otherwise builds each spec (exact, a few µs each).
    """
    return evaluate(cls, grid(cls, small), MAX_POINTS[small])


def evaluate(cls: type, values: dict[str, list], limit: int):
    """(frame, how): the valid points of the grid ``values`` (a random ``limit`` of them at most)."""
    import pandas as pd

    points = list(itertools.product(*values.values()))
    sweep = public("sweep")
    if sweep is not None:
        try:
            return _with_sweep(sweep, cls, values, limit), "costmodel.sweep (vectorized)"
        except Exception:  # fall back to the exact per-point loop below
            pass
    if len(points) > limit:
        points = random.Random(0).sample(points, limit)
    rows = []
    for point in points:
        fields = dict(zip(values, point))
        try:
            spec = cls(**fields)
        except ValueError:
            continue  # invalid combination (e.g. groups not dividing c_in)
        c = spec.costs()
        row = dict(fields)
        row.update(params=c.params, macs=c.macs, mem_bytes=c.mem_bytes, spec=_text(fields))
        rows.append(row)
    return pd.DataFrame(rows), "exact per-point evaluation"


def _with_sweep(sweep: Any, cls: type, values: dict[str, list], limit: int):
    frame = sweep(cls.name, **values)
    if "valid" in frame:
        frame = frame[frame["valid"].astype(bool)]
    if len(frame) > limit:
        frame = frame.sample(limit, random_state=0)
    varying = [k for k, v in values.items() if len(v) > 1]
    out = frame[list(values)].copy()
    for key in ("params", "macs", "mem_bytes"):
        out[key] = frame[key].astype("int64")
    fixed = {k: v[0] for k, v in values.items() if len(v) == 1}
    out["spec"] = [_text({k: ({**fixed, **dict(zip(varying, row))})[k] for k in values})
                   for row in frame[varying].itertuples(index=False)]
    return out.reset_index(drop=True)


def _text(fields: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in fields.items() if k != "dtype_bytes")


def _fmt(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return str(Fraction(value).limit_denominator(64))
    return str(value)


def add_latency(frames: dict[str, Any], ctx: Context) -> str:
    """Adds a ``latency_ms`` column (predicted) where costmodel.latency can predict; returns a note."""
    if not ctx.latency:
        return ""
    from .latency import predictor

    predict, how = predictor(ctx)
    if predict is None:
        return ""
    from ..core.registry import get_design

    for name, frame in ctx.progress.track(list(frames.items()), "Design space: predicting latency"):
        cls = get_design(name)
        specs = [cls(**_fields_of(cls, row)) for row in frame.to_dict("records")]
        frame["latency_ms"] = [predict(s) for s in specs]
    return how


def _fields_of(cls: type, row: dict[str, Any]) -> dict[str, Any]:
    names = cls.field_ranges()
    return {k: _plain(v) for k, v in row.items() if k in names}


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
    import dataclasses

    from ..core.registry import get_design

    out: dict[int, dict[str, Any]] = {}
    for c in ctx.progress.track(SHAPE_CHANNELS[ctx.small], "Design space: designs at fixed shapes"):
        for name in ctx.designs:
            cls = get_design(name)
            try:
                values = shape_values(cls, c, ctx.small)
                frame, _ = evaluate(cls, values, PER_SHAPE_POINTS[ctx.small])
                if not len(frame) and "k" in values:
                    default_k = {f.name: f.default for f in dataclasses.fields(cls)}["k"]
                    frame, _ = evaluate(cls, {**values, "k": [default_k]}, PER_SHAPE_POINTS[ctx.small])
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

def pareto_mask(x: list[float], y: list[float]) -> list[bool]:
    """Points no other point beats on both x and y (both minimised). O(n log n): sort by x, keep
    each point whose y is strictly below every y seen at a smaller x."""
    order = sorted(range(len(x)), key=lambda i: (x[i], y[i]))
    keep = [False] * len(x)
    best = float("inf")
    for i in order:
        if y[i] < best:
            keep[i] = True
            best = y[i]
    return keep


def front(x: list[float], y: list[float]) -> tuple[list[float], list[float]]:
    mask = pareto_mask(x, y)
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
        label = name if value is None else f"{field}={_fmt(_plain(value))}"
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
        steps += [dict(label=_fmt(_plain(v)), method="restyle",
                       args=[{"visible": [j == i for j in range(n)] + [True]}]) for i, (v, _) in enumerate(groups)]
        layout["sliders"] = [dict(active=0, steps=steps, currentvalue=dict(prefix=f"{field} = "),
                                  pad=dict(t=50), x=0.0, len=0.9)]
        layout["height"] = 600
    fig.update_layout(**layout)
    return fig


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
