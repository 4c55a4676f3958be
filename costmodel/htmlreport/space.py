"""Design-space section: every design compared like for like, one shape family at a time
(c_in = c_out = c, 3x3, stride 1, 56x56; a menu picks c), MACs against params, memory traffic
and (with --latency) predicted latency, with the Pareto front of each family; then each design's
own grid, folded, without a front (its points are at different shapes), where the hover says
which shape each point is at.

Grids come from each spec's field roles (grids.py), so a new design needs no code here."""

from __future__ import annotations

from typing import Any

from .colors import FRONT, color
from .context import Context
from .grids import FAMILY_CHANNELS, FAMILY_POINTS, MAX_POINTS, ROLE_VALUES, evaluate, family_values, fields_of, sweep_design
from .page import UNITS, Section, esc, note
from .predicted import predictor

QUANTITIES = ("params", "mem_bytes", "latency_ms")
"""x quantities of the family figures (y is always MACs); latency only with --latency."""


def build(ctx: Context) -> Section:
    from ..core.registry import get_design

    sec = Section("space", "Design space")
    frames = {}
    for name in ctx.progress.track(ctx.designs, "Design space: sweeping grids"):
        try:
            frame = sweep_design(get_design(name), ctx.small)
        except Exception as exc:  # a design whose sweep fails is reported, the rest still plot
            sec.alerts.append(f"design space of {name} failed: {type(exc).__name__}: {exc}")
            continue
        if len(frame):
            frames[name] = frame
    if not frames:
        return sec.unavailable("no design produced valid grid points")
    families, left_out = family_frames(ctx)
    how = ""
    for by_design in families.values():
        how = add_latency(by_design, ctx)
    sec.add(paragraph_html(families, left_out, how))
    for q in QUANTITIES:
        if families and all(q in f for by in families.values() for f in by.values()):
            sec.figure(family_figure(families, q), family_caption(families, q))
    ctx.shared["family_frames"] = families
    ctx.shared["space_frames"] = frames
    if ctx.small:  # a quick look: the families above only (each grid's figure would add ~2.5 kB per design)
        sec.add("<h3>Each design on its own grid</h3>" + note(
            f"Left out of a --small report: {len(frames)} designs have grid points ({sum(map(len, frames.values()))} "
            "in all); `costmodel report` shows each design's own grid."))
        return sec
    blocks = []
    for name, frame in ctx.progress.track(list(frames.items()), "Design space: figures"):
        cls = get_design(name)
        blocks.append((name, cls.title, frame))
    sec.add("<h3>Each design on its own grid</h3>"
            + note(f"c_in, c_out in {ROLE_VALUES[ctx.small]['channels']}, kernels in "
                   f"{ROLE_VALUES[ctx.small]['kernel']}, strides in {ROLE_VALUES[ctx.small]['stride']} "
                   "(where the design has them, plus its default), its own hyperparameters around their "
                   f"defaults, at most {MAX_POINTS[ctx.small]} distinct points per design. Shapes differ "
                   "between points: compare designs in the families above; the hover says each point's shape."))
    for name, title, frame in blocks:
        fig = design_figure(name, frame, slider_field(get_design(name), frame))
        sec.add(f'<details class="fold" id="space-{esc(name)}"><summary>{esc(title)} ({esc(name)}): '
                f"{len(frame)} points</summary>")
        sec.figure(fig, f"{title}: drag the slider to show one value of the hyperparameter.")
        sec.add("</details>")
    return sec


def paragraph_html(families: dict[int, dict[str, Any]], left_out: list[str], how: str) -> str:
    cs = ", ".join(str(c) for c in families)
    text = (f"Each family pins every design to one input and output shape: c_in = c_out = c (c in {cs}), "
            "a 3x3 kernel where the design takes one (else its default kernel), stride 1, 56x56 input; each design's own "
            "hyperparameters vary. The menu picks c. Black: the Pareto front of that family (no other point "
            "of the same shape has both fewer MACs and a smaller x); dotted, where one design alone makes up the "
            "front: the front of the other designs. Exact costs, per sample, batch 1, fp32.")
    if left_out:
        text += f" Not in the families (no single input and output width to pin): {', '.join(left_out)}."
    if how:
        text += f" Latency: {how}."
    return f"<p>{esc(text)}</p>"


def add_latency(frames: dict[str, Any], ctx: Context) -> str:
    """Adds a ``latency_ms`` column (predicted) where costmodel.latency can predict; returns a note."""
    predict, how = predictor(ctx)
    if predict is None:
        return ""
    from ..core.registry import get_design

    for name, frame in frames.items():
        cls = get_design(name)
        frame["latency_ms"] = [predict(cls(**fields_of(cls, row))) for row in frame.to_dict("records")]
    return how


def family_frames(ctx: Context) -> tuple[dict[int, dict[str, Any]], list[str]]:
    """({c: {design: frame}} of the shape families, designs left out of them)."""
    from ..core.registry import get_design

    out: dict[int, dict[str, Any]] = {}
    left_out: list[str] = []
    for c in ctx.progress.track(FAMILY_CHANNELS[ctx.small], "Design space: shape families"):
        for name in ctx.designs:
            cls = get_design(name)
            try:
                values = family_values(cls, c, ctx.small)
                if values is None:
                    left_out.append(name)
                    continue
                frame = evaluate(cls, values, FAMILY_POINTS[ctx.small])
                if not len(frame):  # no valid 3x3 (factorized needs k >= 5): its default kernel
                    frame = evaluate(cls, family_values(cls, c, ctx.small, kernel=False), FAMILY_POINTS[ctx.small])
            except Exception:  # reported by the whole-grid sweep of the same design
                continue
            if len(frame):
                out.setdefault(c, {})[name] = frame
    return out, sorted(set(left_out), key=ctx.designs.index)


# --- Pareto ----------------------------------------------------------------------------------

def front(x: list[float], y: list[float]) -> tuple[list[float], list[float]]:
    """The Pareto front of the points (x, y), both minimised, sorted by x (costmodel.explore's
    front_mask: the package's one Pareto implementation)."""
    import numpy as np

    from ..explore import front_mask

    if not len(x):
        return [], []
    mask = front_mask(np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)]))
    pts = sorted(set((a, b) for a, b, m in zip(x, y, mask) if m))
    return [p[0] for p in pts], [p[1] for p in pts]


def family_front(frames: dict[str, Any], q: str) -> list[tuple[str, Any]]:
    """(design, row) of the family's front points in ``q`` against MACs, sorted by ``q``."""
    rows = [(name, r) for name, f in frames.items() for r in f.to_dict("records")]
    fx, fy = front([r[q] for _, r in rows], [r["macs"] for _, r in rows])
    keep = set(zip(fx, fy))
    seen, out = set(), []
    for name, r in sorted(rows, key=lambda t: t[1][q]):
        if (r[q], r["macs"]) in keep and (r[q], r["macs"]) not in seen:
            seen.add((r[q], r["macs"]))
            out.append((name, r))
    return out


# --- figures ---------------------------------------------------------------------------------

def hover(cls_name: str, frame: Any) -> tuple[list[list], str]:
    """Columnar hover data: only the fields that vary in ``frame`` (the fixed ones are written
    once into the template), then params, MACs, bytes (and predicted latency)."""
    from ..core.registry import get_design

    names = list(get_design(cls_name).field_ranges())
    varying = [nm for nm in names if nm in frame and frame[nm].nunique() > 1]
    fixed = [nm for nm in names if nm in frame and nm not in varying and nm != "dtype_bytes"]
    extra = [q for q in ("params", "macs", "mem_bytes", "latency_ms") if q in frame]
    cols = varying + extra
    data = [[_value(v) for v in row] for row in frame[cols].itertuples(index=False)]
    first = frame.iloc[0]
    shape = ", ".join([f"{nm}=%{{customdata[{i}]}}" for i, nm in enumerate(varying)]
                      + [f"{nm}={_value(first[nm])}" for nm in fixed])
    at = {q: len(varying) + i for i, q in enumerate(extra)}
    tmpl = (f"<b>{cls_name}</b><br>{shape}<br>MACs: %{{customdata[{at['macs']}]:,}}<br>"
            f"params: %{{customdata[{at['params']}]:,}}<br>bytes: %{{customdata[{at['mem_bytes']}]:,}}"
            + (f"<br>predicted latency: %{{customdata[{at['latency_ms']}]:.4f}} ms" if "latency_ms" in at else "")
            + "<extra></extra>")
    return data, tmpl


def _value(v: Any) -> Any:
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v if isinstance(v, (int, float, bool)) else str(v)


def family_figure(families: dict[int, dict[str, Any]], q: str):
    """One trace per (family, design) and the family's front; the menu shows one family."""
    import plotly.graph_objects as go

    fig = go.Figure()
    owner: list[int] = []
    cs = list(families)
    start = cs.index(64) if 64 in cs else 0
    for c, frames in families.items():
        for name, frame in frames.items():
            data, tmpl = hover(name, frame)
            fig.add_trace(go.Scatter(x=list(frame[q]), y=list(frame["macs"]), mode="markers", name=name,
                                     legendgroup=name, visible=c == cs[start],
                                     marker=dict(size=8, opacity=0.8, color=color(name)),
                                     customdata=data, hovertemplate=tmpl))
            owner.append(c)
        for label, pts, dash in fronts(frames, q):
            fig.add_trace(go.Scatter(x=[r[q] for _, r in pts], y=[r["macs"] for _, r in pts], mode="lines+markers",
                                     name=label, visible=c == cs[start],
                                     line=dict(color=FRONT, width=2, shape="hv", dash=dash),
                                     marker=dict(size=5, color=FRONT), customdata=[n for n, _ in pts],
                                     hovertemplate=label + ": %{customdata}<br>x: %{x:,}<br>MACs: %{y:,}<extra></extra>"))
            owner.append(c)
    buttons = [dict(label=f"c_in = c_out = {c}, 3x3, 56x56", method="restyle",
                    args=[{"visible": [o == c for o in owner]}]) for c in cs]
    fig.update_layout(
        height=600, template="plotly_white", margin=dict(l=80, r=20, t=60, b=60),
        xaxis=dict(type="log", title=dict(text=UNITS[q])),
        yaxis=dict(type="log", title=dict(text=UNITS["macs"])),
        updatemenus=[dict(buttons=buttons, active=start, x=0.0, y=1.12, xanchor="left", yanchor="top",
                          direction="down")],
        legend=dict(title=dict(text="design")))
    return fig


def fronts(frames: dict[str, Any], q: str) -> list[tuple[str, list[tuple[str, Any]], str]]:
    """(label, points, line dash) of the family's Pareto front and, when a single design makes up
    the whole front (it has both the fewest MACs and the smallest ``q`` at this shape), the front
    of the other designs, so the figure still shows a trade-off."""
    pts = family_front(frames, q)
    out = [("Pareto front", pts, "solid")]
    names = set(n for n, _ in pts)
    rest = {n: f for n, f in frames.items() if n not in names}
    if len(names) == 1 and rest:
        out.append((f"front without {next(iter(names))}", family_front(rest, q), "dot"))
    return out


def family_caption(families: dict[int, dict[str, Any]], q: str) -> str:
    """What the front of each family is made of, from the data."""
    parts = []
    what = UNITS[q].split(" (")[0]
    for c, frames in families.items():
        found = fronts(frames, q)
        pts = found[0][1]
        names = list(dict.fromkeys(n for n, _ in pts))
        text = f"c = {c}: {len(pts)} front point(s), from {', '.join(names)}"
        if len(found) > 1:
            others = list(dict.fromkeys(n for n, _ in found[1][1]))
            text += (f" (it has both the fewest MACs and the least {what} of every design at this shape; dotted: the "
                     f"front of the others, from {', '.join(others)})")
        parts.append(text)
    return f"MACs against {what}, designs at the same shape. " + "; ".join(parts) + "."


def slider_field(cls: type, frame: Any) -> str | None:
    """The field the slider walks: the design's own hyperparameter (not a shape role) with most
    values, else the first varying channels field."""
    ranges = cls.field_ranges()
    shape_roles = ("channels", "kernel", "stride", "spatial", "bytes")
    varying = [c for c in frame.columns if c in ranges and frame[c].nunique() > 1]
    own = [c for c in varying if ranges[c].role not in shape_roles]
    if own:
        return max(own, key=lambda c: frame[c].nunique())
    return next((c for c in varying if ranges[c].role == "channels"), None)


def design_figure(name: str, frame: Any, field: str | None):
    """One design on its own grid: a trace per value of ``field`` (the slider shows one or all),
    MACs against params. The points are at different shapes, so no front is drawn (the families
    above compare like for like)."""
    import plotly.graph_objects as go

    from .grids import plain

    fig = go.Figure()
    groups = [(None, frame)] if field is None else [(v, frame[frame[field] == v]) for v in sorted(frame[field].unique())]
    for value, sub in groups:
        data, tmpl = hover(name, sub)
        label = name if value is None else f"{field}={_value(plain(value))}"
        marker = dict(size=7, opacity=0.8) | (dict(color=color(name)) if value is None else {})
        fig.add_trace(go.Scatter(x=list(sub["params"]), y=list(sub["macs"]), mode="markers", name=label,
                                 marker=marker, customdata=data, hovertemplate=tmpl))
    # no Pareto front here: the grid mixes shapes, and a front only compares points of one shape
    layout: dict[str, Any] = dict(
        height=480, template="plotly_white", margin=dict(l=80, r=20, t=30, b=60),
        xaxis=dict(type="log", title=dict(text=UNITS["params"])),
        yaxis=dict(type="log", title=dict(text=UNITS["macs"])),
        legend=dict(title=dict(text=field or "design")))
    if field is not None and len(groups) > 1:
        n = len(groups)
        steps = [dict(label="all", method="restyle", args=[{"visible": [True] * n}])]
        steps += [dict(label=str(_value(plain(v))), method="restyle",
                       args=[{"visible": [j == i for j in range(n)]}]) for i, (v, _) in enumerate(groups)]
        layout["sliders"] = [dict(active=0, steps=steps, currentvalue=dict(prefix=f"{field} = "),
                                  pad=dict(t=50), x=0.0, len=0.9)]
        layout["height"] = 560
    fig.update_layout(**layout)
    return fig
