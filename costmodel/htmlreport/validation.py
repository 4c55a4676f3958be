"""Validation section: analytic counts vs the module's parameters, fvcore and FlopCounterMode,
for every registered design and every built-in network.
Any mismatch becomes an alert at the top of the report."""

from __future__ import annotations

from typing import Any

from .context import Context
from ..validation import MAC_KEYS, validate
from .netlist import builtin_networks, swapped_networks
from .page import Raw, Section, esc, note, table


def build(ctx: Context) -> Section:
    from ..core.registry import get_design

    sec = Section("validation", "Validation")
    sec.add(note("Analytic = costmodel's formulas. Params = sum(p.numel()) of the real module. "
                 "fvcore counts one multiply-accumulate as one flop; FlopCounterMode counts FLOPs, "
                 "shown here ÷ 2 as MACs. Batch 1, eval mode. ✓ = exactly equal."))
    specs = []
    for name in ctx.designs:
        cls = get_design(name)
        try:
            specs.append(("reference", cls()))
        except Exception as exc:  # a design that cannot even build its reference spec: red, listed
            sec.alerts.append(f"validation of {name}: reference spec failed: {type(exc).__name__}: {exc}")
            continue
        if not ctx.small:
            on = flags_on(cls)
            if on is not None:
                specs.append(("all flags on", on))
    rows = []
    for label, spec in ctx.progress.track(specs, "Validation: designs vs fvcore/torch"):
        rows.append(_row(spec.name, label, lambda s=spec: validate(s, batch=1), sec))
    sec.add("<h3>Designs</h3>", _summary(rows), table(rows, COLUMNS, highlight="match"))
    nets = network_specs(ctx)
    if nets:
        net_rows = []
        for label, make in ctx.progress.track(nets, "Validation: networks (tracing)"):
            net_rows.append(_row(label, "network", lambda m=make: validate(m(), batch=1), sec))
        sec.add("<h3>Networks</h3>", _summary(net_rows), table(net_rows, COLUMNS, highlight="match"))
        ctx.shared["network_validation_rows"] = net_rows
    ctx.shared["validation_rows"] = rows
    return sec


def _summary(rows: list[dict[str, Any]]) -> str:
    ok = sum(bool(r.get("match")) for r in rows)
    cls = "ok-line" if ok == len(rows) else "bad-line"
    return f'<p class="{cls}">{ok} of {len(rows)} configs match exactly on every compared count.</p>'


COLUMNS = ["design", "config", "spec", "params (analytic)", "params (torch)", "params ✓",
           "conv MACs (analytic)", "conv MACs (fvcore)", "conv MACs (FlopCounterMode ÷ 2)", "conv ✓",
           "linear MACs (analytic)", "linear MACs (fvcore)", "linear MACs (FlopCounterMode ÷ 2)", "linear ✓",
           "fvcore elementwise (analytic)", "fvcore elementwise (fvcore)", "elementwise ✓",
           "fvcore unsupported ops", "match"]


def _row(name: str, label: str, run: Any, sec: Section) -> dict[str, Any]:
    try:
        v = run()
    except Exception as exc:  # a trace that crashes is a failed validation, shown in red
        sec.alerts.append(f"validation of {name} ({label}) crashed: {type(exc).__name__}: {exc}")
        return {"design": name, "config": label, "match": False, "spec": f"error: {exc}"}
    elem = v.elementwise
    row = {"design": name, "config": label, "spec": Raw(f'<span class="spec">{esc(v.spec)}</span>'),
           "params (analytic)": v.check("params").analytic, "params (torch)": v.check("params").torch,
           "params ✓": v.check("params").match,
           "fvcore elementwise (analytic)": sum(c.analytic for c in elem),
           "fvcore elementwise (fvcore)": sum(c.fvcore for c in elem),
           "elementwise ✓": all(c.match for c in elem),
           "fvcore unsupported ops": ", ".join(v.fvcore_unsupported), "match": v.match}
    for key in MAC_KEYS:
        c = v.check(key)
        row.update({f"{key} MACs (analytic)": c.analytic, f"{key} MACs (fvcore)": c.fvcore,
                    f"{key} MACs (FlopCounterMode ÷ 2)": c.torch, f"{key} ✓": c.match})
    if not v.match:
        sec.alerts.append(f"MISMATCH: {name} ({label}: {v.spec}) differs on {', '.join(v.mismatches)}")
    return row


def flags_on(cls: type) -> Any | None:
    """The reference config with every flag (bias, BN, activation, ...) switched on, if valid."""
    flags = {nm: True for nm, r in cls.field_ranges().items() if r.kind == "flag"}
    if not flags:
        return None
    try:
        return cls(**flags)
    except (ValueError, TypeError):
        return None


def network_specs(ctx: Context) -> list[tuple[str, Any]]:
    """(label, () -> network) for every built-in network (and swap, in a full report); none when
    the report leaves the Networks section out."""
    if not ctx.wants("networks"):
        return []
    # --small (tests, a quick look) traces the built-in networks only; the full report adds swaps.
    return builtin_networks(ctx) + ([] if ctx.small else swapped_networks(ctx))
