"""Designs section: every registered design's formulas, its costs at the reference (default)
config, and its ratio to a standard convolution, all generated from the registry."""

from __future__ import annotations

import re
from typing import Any

import sympy as sp

from .context import Context
from .formulas import formula_block, latex, mathml
from .page import Section, details, esc, note, table

REFERENCE = "conv"
"""The design every other one is compared to (standard k x k convolution)."""


def build(ctx: Context) -> Section:
    from ..core.registry import get_design

    sec = Section("designs", "Designs")
    sec.add(note("Every registered design, at its reference config (its fields' defaults). "
                 "1 MAC = one multiply-accumulate; FLOPs = 2 × MACs; params = sum(p.numel()); "
                 "memory traffic = dtype bytes × (reads + writes + weights) of every op. Per sample."))
    rows, blocks = [], []
    for name in ctx.progress.track(ctx.designs, "Designs: formulas and costs"):
        try:
            row, block = _design(get_design(name), RATIO_SECONDS / 8 if ctx.small else RATIO_SECONDS,
                                 more=not ctx.small)
        except Exception as exc:  # a broken design is shown in red, never hidden
            sec.alerts.append(f"design {name}: formulas or costs failed: {type(exc).__name__}: {exc}")
            blocks.append(f'<div class="design" id="design-{esc(name)}"><h3>{esc(name)}</h3>'
                          f'{note(f"failed: {exc}", "bad")}</div>')
            continue
        rows.append(row)
        blocks.append(block)
    ctx.shared["design_rows"] = rows
    if rows:
        sec.add("<h3>Summary at the reference configs</h3>",
                table(rows, ["design", "title", "spec", "params", "MACs", "FLOPs", "mem bytes",
                             "MACs / conv", "params / conv", "vs conv"]))
        sec.figure(_overview(rows), "Each design at its reference config against the standard conv with the "
                                    "same input and output shape (1 = as costly as that conv; log scale). "
                                    "Hover for both shapes.")
    sec.add("<h3>Formulas, design by design</h3>", *blocks)
    return sec


def _design(cls: type, ratio_seconds: float = 4.0, more: bool = True) -> tuple[dict[str, Any], str]:
    """(summary row, HTML block) of one design; ``more``: add the hyperparameter table, the
    memory-traffic formula and the per-op table (left out of a --small report, to keep it small)."""
    spec = cls()
    f = cls.formulas(spec.structure())
    c = spec.costs()
    ref = _matched(spec)
    rc = ref.costs() if ref is not None else None
    row = {"design": cls.name, "title": cls.title, "spec": spec.fields_text(),
           "vs conv": ref.fields_text() if ref is not None else "", "params": c.params,
           "MACs": c.macs, "FLOPs": c.flops, "mem bytes": c.mem_bytes,
           "elementwise ops": sum(c.elementwise.values()),
           "MACs / conv": c.macs / rc.macs if rc and rc.macs else None,
           "params / conv": c.params / rc.params if rc and rc.params else None}
    if spec.dynamic:  # dynamic designs: MACs is the expected count; show dense and executed
        from ..validation import executed_macs

        row["dense MACs"] = spec.dense_macs()
        row["executed MACs"] = executed_macs(spec)
    ratio = f" · MACs ÷ conv = {row['MACs / conv']:.3g}" if row["MACs / conv"] else ""
    parts = [f'<details class="design" id="design-{esc(cls.name)}"><summary><b>{esc(cls.title)}</b> '
             f'<span class="note">({esc(cls.name)}){esc(ratio)}</span></summary>']
    doc = (cls.__doc__ or "").strip().splitlines()
    if doc:
        parts.append(f"<p>{esc(doc[0])}</p>")
    if public_reference(cls.reference):
        parts.append(f"<p class=\"note\">Reference: {esc(public_reference(cls.reference))}</p>")
    parts.append(formula_block("params", f.readable(f.params), "parameters"))
    parts.append(formula_block("MACs", f.readable(f.macs_total), "multiply-accumulates per sample, conv + linear"))
    parts += [formula_block(str(short), full, "output size") for short, full in f.output_sizes().items()]
    parts.append(_ratio_html(spec, ref, row, ratio_seconds))
    extra = [f"<p><b>Hyperparameters</b></p>{table(_fields(cls))}",
            formula_block("bytes", f.readable(f.mem_bytes), "memory traffic per sample"),
            *(formula_block(key, f.readable(expr), "design-specific") for key, expr in f.extra.items()),
            f"<p><b>At the reference config</b> ({esc(spec.fields_text())}):</p>{table(_cost_rows(c))}"]
    try:
        extra.append(f"<p><b>Per-op costs (exact)</b></p>{table(spec.op_table())}")
    except Exception as exc:  # the per-op table is a convenience; say why it is missing
        extra.append(note(f"per-op table unavailable: {exc}"))
    if more:
        parts.append(details("Hyperparameters, memory-traffic formula, costs at the reference config, per-op table",
                             "".join(extra)))
    else:
        parts.append(note("Hyperparameters, memory-traffic formula and per-op table: in the full report "
                          "(without --small)."))
    parts.append("</details>")
    return row, "".join(parts)


def _matched(spec: Any) -> Any | None:
    """The standard conv of the same input and output shape (``designs.conv.matched_conv``), or
    None where there is none (the ratio cells then say "–")."""
    from ..designs.conv import matched_conv

    try:
        return matched_conv(spec)
    except ValueError:
        return None


def _fields(cls: type) -> list[dict[str, Any]]:
    import dataclasses

    fields = {f.name: f for f in dataclasses.fields(cls)}
    return [{"field": nm, "default": repr(fields[nm].default), "allowed": rng.describe(),
             "meaning": fields[nm].metadata.get("doc", "")}
            for nm, rng in cls.field_ranges().items()]


def _cost_rows(c: Any) -> list[dict[str, Any]]:
    rows = [{"quantity": "params", "value": c.params, "unit": "parameters"},
            {"quantity": "MACs (conv + linear)", "value": c.macs, "unit": "MACs"},
            {"quantity": "FLOPs", "value": c.flops, "unit": "FLOPs (= 2 × MACs)"},
            {"quantity": "memory traffic", "value": c.mem_bytes, "unit": "bytes"}]
    rows += [{"quantity": f"{k} MACs", "value": v, "unit": "MACs"} for k, v in c.macs_by_key.items() if v]
    rows += [{"quantity": f"{k}", "value": v, "unit": "elementwise ops"} for k, v in c.elementwise.items() if v]
    rows += [{"quantity": k, "value": v, "unit": "design-specific"} for k, v in c.extra.items()]
    return rows


RATIO_SECONDS = 4.0
"""Time allowed to simplify one design's symbolic ratios (sympy can take minutes on big piecewise
formulas); past it the page shows the numeric ratio and says the symbolic one timed out."""


def _ratio_html(spec: Any, ref: Any, row: dict[str, Any], seconds: float = RATIO_SECONDS) -> str:
    """Symbolic ratio to the standard conv (flags substituted), and its value at the reference."""
    if ref is None:
        return note("no standard conv to compare with")
    parts = ["<p><b>Ratio to a standard conv</b> with the same shapes "
             f"({esc(ref.fields_text())}):</p>"]
    symbolic = symbolic_ratios(spec, ref, seconds)
    for quantity, label in (("macs", "MACs"), ("params", "params")):
        value = row[f"{label} / conv"]
        number = f"{value:.4g}" if value is not None else "–"
        got = symbolic.get(quantity)
        if isinstance(got, tuple):
            parts.append(f'<div class="formula">{got[0]} <span class="note">= {number} at the reference '
                         f'config</span><details><summary>LaTeX</summary><code class="latex">{esc(got[1])}'
                         "</code></details></div>")
        else:
            parts.append(note(f"{label} ratio = {number} at the reference config (symbolic form: {got})"))
    return "".join(parts)


QUANTITIES = (("macs", "MACs"), ("params", "params"))


def symbolic_ratios(spec: Any, ref: Any, seconds: float) -> dict[str, Any]:
    """{"macs"|"params": (MathML, LaTeX) or a reason string}, each computed in its own forked
    worker (the two run side by side) that is stopped after ``seconds`` (sympy's simplify cannot
    be interrupted in-process)."""
    import multiprocessing
    import queue
    import time

    if type(spec).name == REFERENCE:
        return _ratios(spec, ref, QUANTITIES)
    try:
        mp = multiprocessing.get_context("fork")
    except ValueError:  # no fork (Windows): compute in-process, without a time limit
        return _ratios(spec, ref, QUANTITIES)
    results = mp.Queue()
    workers = [mp.Process(target=_ratio_worker, args=(spec, ref, (q,), results), daemon=True) for q in QUANTITIES]
    for worker in workers:
        worker.start()
    out: dict[str, Any] = {}
    deadline = time.monotonic() + seconds
    try:
        while len(out) < len(QUANTITIES):
            out.update(results.get(timeout=max(0.0, deadline - time.monotonic())))
    except queue.Empty:
        pass
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
    for q, _ in QUANTITIES:
        out.setdefault(q, f"not simplified within {seconds:g} s")
    return out


def _ratio_worker(spec: Any, ref: Any, quantities: tuple, results: Any) -> None:
    results.put(_ratios(spec, ref, quantities))


def _ratios(spec: Any, ref: Any, quantities: tuple) -> dict[str, Any]:
    from ..validation import ratio

    out: dict[str, Any] = {}
    for quantity, label in quantities:
        try:
            expr = ratio(spec, ref, quantity) if type(spec).name != REFERENCE else sp.Integer(1)
            out[quantity] = (mathml(expr, f"{label} / conv"), latex(expr))
        except Exception as exc:  # sympy can fail to simplify; the number still stands
            out[quantity] = f"unavailable ({type(exc).__name__}: {exc})"
    return out


INTERNAL = re.compile(r"\s*;?\s*\bseeds?\s+\d+\b\s*;?\s*", re.I)
"""Internal source notes ("seed 003") that mean nothing to a reader of the page."""


def public_reference(text: str) -> str:
    """A design's reference without the project's internal source notes."""
    return INTERNAL.sub("; ", text).strip("; ").strip()


def _overview(rows: list[dict[str, Any]]):
    """MACs and params of each design divided by those of the standard conv with the SAME input
    and output shape (its "vs conv" column): like-for-like bars, log scale, 1 = conv."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from .colors import color

    rows = [r for r in rows if r.get("MACs / conv")]
    names = [r["design"] for r in rows]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("MACs ÷ matched conv's MACs", "params ÷ matched conv's params"))
    for col, key in enumerate(("MACs / conv", "params / conv"), start=1):
        fig.add_trace(go.Bar(x=names, y=[r[key] for r in rows], name=key, showlegend=False,
                             marker=dict(color=[color(n) for n in names]),
                             customdata=[[r["spec"], r["vs conv"]] for r in rows],
                             hovertemplate=(f"<b>%{{x}}</b>: {key} = %{{y:.4g}}<br>%{{customdata[0]}}<br>"
                                            "vs conv(%{customdata[1]})<extra></extra>")),
                      row=1, col=col)
        fig.update_yaxes(type="log", title_text=f"{key.split(' /')[0]} ratio to the same-shape conv (1 = conv)",
                         row=1, col=col)
        fig.update_xaxes(title_text="design", row=1, col=col)
    fig.update_layout(height=460, template="plotly_white", margin=dict(l=70, r=20, t=40, b=110))
    return fig
