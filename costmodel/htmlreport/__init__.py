"""The interactive, self-contained HTML report: ``costmodel report`` / ``costmodel.report()``.

One HTML file that works offline (plotly.js inline once, formulas as MathML, no CDN), with one
section per part of the project, each generated from the registry so that a new design, network
or latency result appears without report code:

  Findings        a few generated facts, each linking to its section (first on the page)
  Designs         formulas (MathML + LaTeX), costs at the reference config, ratio vs the same-shape conv
  FLOPs vs time   MACs ratio against measured and predicted latency ratio (``latency-gaps``)
  Networks        totals (log scale), shares by design, per-layer bars, published-vs-ours table
  Latency         held-out accuracy with the ±10% band; whole networks, measured vs predicted vs MACs
  Explorer        exact Pareto fronts of whole networks per built-in design space
  Design space    designs at one shape family at a time (menu), Pareto fronts, each design's own grid
  Validation      analytic vs params vs fvcore vs FlopCounterMode, ✓/✗ (mismatches go to the top)
  Reconciliation  peer-counter gaps, op kind by op kind

Each section is one module of this package with a ``build(ctx) -> Section`` function; adding a
section is one module plus one line in SECTIONS. A section that fails to build is shown in red
(its message at the top) instead of hiding the others; a section left out (``sections=``) says so.
"""

from __future__ import annotations

import datetime
import importlib
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .context import Context, Progress
from .page import Section, note, render

SECTIONS: tuple[tuple[str, str], ...] = (
    ("findings", "Findings"),
    ("designs", "Designs"),
    ("gaps", "FLOPs are not latency"),
    ("networks", "Networks"),
    ("latency", "Latency"),
    ("explorer", "Architecture explorer"),
    ("space", "Design space"),
    ("validation", "Validation"),
    ("reconciliation", "Reconciliation"),
)
"""(module in costmodel.htmlreport, title), in page order; each module defines ``build(ctx)``.
The findings come first on the page but are built last, from what the others computed."""

BUILT_LAST = ("findings",)

DEFAULT_PATH = "reports/costmodel.html"


@dataclass
class Report:
    """A built report: its sections (with their plotly figures), the alerts, and the HTML."""

    sections: list[Section]
    alerts: list[str]
    html: str
    seconds: float
    data: dict[str, Any]  # what the sections computed (design rows, validation rows, sweep frames...)

    @property
    def figures(self) -> list[Any]:
        return [f for s in self.sections for f in s.figures]

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)


def build(designs: Sequence[str] | None = None, latency: bool = False, small: bool = False,
          progress: bool = False, sections: Sequence[str] | None = None) -> Report:
    """Build the report in memory. ``designs``: registered names (default: all); ``sections``:
    section keys to build (default: all of SECTIONS; the others show a one-line note)."""
    from ..core.registry import designs as registered, get_design

    names = list(designs) if designs else catalogue_order(registered())
    for name in names:
        get_design(name)  # unknown names: a ValueError listing the allowed ones
    chosen = check_sections(sections)
    start = time.perf_counter()
    with Progress(progress) as bar:
        ctx = Context(designs=names, small=small, latency=latency, progress=bar, sections=chosen)
        order = [k for k, _ in SECTIONS if k not in BUILT_LAST] + list(BUILT_LAST)
        titles = dict(SECTIONS)
        built = {key: _section(key, titles[key], ctx) if ctx.wants(key) else
                 Section(key, titles[key]).unavailable("left out of this report (sections=...).")
                 for key in order}
        sections = [built[key] for key, _ in SECTIONS]
    alerts = [a for s in sections for a in s.alerts]
    seconds = time.perf_counter() - start
    subtitle = [f"{len(names)} designs · generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
                f"on {platform.machine()} ({platform.processor() or platform.system()}, Python "
                f"{platform.python_version()}) in {seconds:.1f} s" + (" · small config" if small else "")
                + ("" if latency else " · latency not measured (add --latency)"),
                "Units: 1 MAC = one multiply-accumulate; FLOPs = 2 × MACs; params = sum(p.numel()); "
                "bytes = memory traffic at dtype_bytes (4 = fp32); per sample unless stated."]
    page = render("costmodel report", subtitle, sections, alerts)
    return Report(sections, alerts, page, seconds, ctx.shared)


def catalogue_order(classes: dict[str, type]) -> list[str]:
    """Design names in the order of the registry's families() (conv first), then registration order.

    Registration order alone depends on which module happened to be imported first (the CLI
    imports some families early), so the report sorts by family to stay stable."""
    from ..core.registry import families

    rank = {module: i for i, module in enumerate(families())}
    names = list(classes)
    return sorted(names, key=lambda n: (rank.get(classes[n].__module__, len(rank)), names.index(n)))


def check_sections(sections: Sequence[str] | None) -> frozenset[str] | None:
    """The chosen section keys; a ValueError naming an unknown one and the allowed ones."""
    if sections is None:
        return None
    known = [key for key, _ in SECTIONS]
    for key in sections:
        if key not in known:
            raise ValueError(f"section = {key!r} is unknown: allowed are {', '.join(known)}")
    return frozenset(sections)


def _section(key: str, title: str, ctx: Context) -> Section:
    try:
        module = importlib.import_module(f"{__name__}.{key}")
        return module.build(ctx)
    except Exception as exc:  # one broken section must not hide the others; it is shown in red
        sec = Section(key, title)
        sec.alerts.append(f"section {title} failed: {type(exc).__name__}: {exc}")
        sec.add(note(f"This section failed to build: {type(exc).__name__}: {exc}", "bad"))
        return sec


def report(path: str | Path = DEFAULT_PATH, designs: Sequence[str] | None = None, latency: bool = False,
           small: bool = False, progress: bool = False, sections: Sequence[str] | None = None) -> Path:
    """Write the self-contained HTML report to ``path`` and return the path.

    ``latency=True`` measures latency on this machine (costmodel.latency) and adds the Latency
    section and predicted-latency axes; ``small=True`` uses tiny sweeps (for tests and a quick look).
    """
    built = build(designs, latency=latency, small=small, progress=progress, sections=sections)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(built.html, encoding="utf-8")
    return out


