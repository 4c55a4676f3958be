"""The report's building blocks: sections, tables, figures, and the one self-contained HTML page.

Offline by construction: plotly.js (the vendored basic bundle: scatter, bar, pie) and the shared
layout template are inlined exactly once in ``<head>``, and every figure is a ``<div>`` plus a
small inline ``<script>`` with its compacted JSON; formulas are presentation MathML, which
Chromium and Firefox render natively. No tag loads anything from the network.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

UNITS: dict[str, str] = {
    "params": "params (parameters)",
    "macs": "MACs (multiply-accumulates per sample)",
    "flops": "FLOPs (= 2 × MACs, per sample)",
    "mem_bytes": "memory traffic (bytes per sample)",
    "latency_ms": "predicted latency (ms per call, batch 1)",
    "elem": "elementwise ops (ops per sample)",
}
"""Axis titles: every one names its unit."""

@dataclass
class Section:
    """One titled part of the report: body HTML, its plotly figures, and alerts for the top."""

    key: str
    title: str
    body: list[str] = field(default_factory=list)
    figures: list[Any] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    available: bool = True

    def add(self, *fragments: str) -> None:
        self.body.extend(fragments)

    def figure(self, fig: Any, caption: str = "") -> None:
        """Append a plotly figure (rendered later, once plotly.js is in the page)."""
        self.figures.append(fig)
        self.body.append(_FigureSlot(len(self.figures) - 1, caption))  # type: ignore[arg-type]

    def unavailable(self, reason: str) -> "Section":
        self.available = False
        self.body.append(note(f"Not available: {reason}"))
        return self


@dataclass(frozen=True)
class _FigureSlot:
    index: int
    caption: str


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


_CODE = re.compile(r"`([^`]+)`")


def prose(text: str) -> str:
    """Escaped text with `backticked` spans (commands, calls) set as <code>."""
    return _CODE.sub(r"<code>\1</code>", esc(text))


def note(text: str, cls: str = "note") -> str:
    return f'<p class="{cls}">{prose(text)}</p>'


def cell(value: Any) -> str:
    """One table cell: integers with thousands separators, booleans as a coloured ✓ / ✗."""
    value = plain(value)
    if value is None or (isinstance(value, float) and value != value):
        return '<td class="na">–</td>'
    if isinstance(value, bool):
        return '<td class="ok">✓</td>' if value else '<td class="bad">✗</td>'
    if isinstance(value, int):
        return f'<td class="num">{value:,}</td>'
    if isinstance(value, float):
        v = value
        text = f"{int(v):,}" if v.is_integer() and abs(v) < 2**53 else f"{v:.4g}"
        return f'<td class="num">{text}</td>'
    if isinstance(value, Raw):
        return f"<td>{value.html}</td>"
    return f"<td>{esc(value)}</td>"


def sig3(value: float) -> float:
    """``value`` to 3 significant digits (12,437.6 -> 12,400; 3.4567 -> 3.46): one number format
    for a column of measured or predicted times (``cell`` prints integral values with separators)."""
    return float(f"{value:.3g}")


def plain(value: Any) -> Any:
    """numpy scalars -> Python scalars (so bools print as ✓/✗ and ints get separators)."""
    return value.item() if hasattr(value, "dtype") and hasattr(value, "item") else value


@dataclass(frozen=True)
class Raw:
    """Trusted HTML for a table cell (e.g. MathML we generated)."""

    html: str


def table(rows: Sequence[dict[str, Any]] | Any, columns: Sequence[str] | None = None,
          cls: str = "data", highlight: str | None = None) -> str:
    """An HTML table from dict rows or a DataFrame; a row whose ``highlight`` column is False is red."""
    if hasattr(rows, "to_dict"):
        rows = rows.to_dict("records")
    rows = list(rows)
    if not rows:
        return note("(no rows)")
    cols = list(columns or dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = []
    for r in rows:
        bad = highlight is not None and plain(r.get(highlight)) is False
        body.append(f'<tr{" class=bad-row" if bad else ""}>' + "".join(cell(r.get(c)) for c in cols) + "</tr>")
    return f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def details(summary: str, inner: str) -> str:
    return f"<details><summary>{esc(summary)}</summary>{inner}</details>"


# --- the page --------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
header{background:#1d2d50;color:#fff;padding:18px 32px}
header h1{margin:0 0 4px 0;font-size:26px} header p{margin:2px 0;opacity:.85}
main{padding:8px 32px 48px 32px;max-width:1500px}
nav{margin:12px 0;position:sticky;top:0;z-index:10;background:#fafbfc;padding:6px 0;border-bottom:1px solid #e2e5ea} nav a{margin-right:14px;color:#1d4ed8;text-decoration:none;font-weight:600}
section{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:8px 20px 16px 20px;margin:18px 0}
h2{border-bottom:2px solid #e2e5ea;padding-bottom:4px} h3{margin-top:26px}
.alerts{background:#fdecec;border:2px solid #c81e1e;color:#8b1111;border-radius:8px;padding:10px 20px;margin:16px 0}
.alerts h2{color:#c81e1e;border:none;margin:4px 0} .allok{background:#e9f7ee;border:2px solid #15803d;color:#14532d;border-radius:8px;padding:8px 20px;margin:16px 0}
table.data{border-collapse:collapse;font-size:13px;margin:8px 0}
table.data th{background:#eef1f5;text-align:left;padding:4px 8px;border-bottom:1px solid #cfd5dd;position:sticky;top:0}
table.data td{padding:3px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums} td.ok{color:#15803d;font-weight:700;text-align:center}
td.bad{color:#c81e1e;font-weight:700;text-align:center} td.na{color:#999;text-align:center}
tr.bad-row td{background:#fdecec}
.scroll{overflow-x:auto;max-height:560px;overflow-y:auto}
.note{color:#6b7280;font-style:italic} .formula{margin:6px 0 6px 12px;font-size:17px;overflow-x:auto}
.formula math{display:block;margin:4px 0 2px 16px;text-align:left}
code.latex{display:block;white-space:pre-wrap;background:#f3f4f6;padding:6px;font-size:12px;margin:4px 0 8px 12px}
.figure{margin:10px 0 22px 0} .caption{color:#4b5563;font-size:13px;margin:2px 0 0 4px}
.design{border-top:1px dashed #d5d9df;margin-top:18px}
details summary{cursor:pointer;color:#1d4ed8;margin:4px 0}
span.spec{font-size:11px;color:#4b5563;display:inline-block;min-width:220px;max-width:420px}
.ok-line{color:#15803d;font-weight:600} .warn-line{color:#b45309;font-weight:600} .bad-line{color:#c81e1e;font-weight:700}
#findings{border:2px solid #1d4ed8;background:#f3f7ff} ul.findings{font-size:16px;line-height:1.5;padding-left:22px}
ul.findings li{margin:6px 0} ul.findings a{color:#1d4ed8;font-weight:600;white-space:nowrap}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em;background:#eef1f5;padding:0 3px;border-radius:3px;font-style:normal}
details.fold,details.design{border:1px solid #e2e5ea;border-radius:6px;padding:2px 10px;margin:6px 0}
details.fold>summary,details.design>summary{font-size:15px;color:#1d2330}
"""


PLOTLY_BASIC_VERSION = "4.1.1"
"""plotly.js of the vendored basic bundle (assets/plotly-basic.min.js: scatter, bar and pie)."""

TRACE_TYPES = frozenset({"scatter", "bar", "pie"})
"""Trace types the basic bundle draws; a figure using another one fails a test."""

TEMPLATE = "plotly_white"
"""Every figure's template, shipped once in the page instead of once per figure."""


def plotly_js() -> str:
    """The vendored plotly.js basic bundle (package data: no network at build time)."""
    from importlib.resources import files

    return (files(__package__) / "assets" / "plotly-basic.min.js").read_text(encoding="utf-8")


_PATH = re.compile(r"(?<![\w~.:/])(?:/[\w.+@-]+)+/(?=[\w.+@-]+\.\w+\b)")


def scrub(text: str) -> str:
    """Text without the build machine's directories (the page is shared): the home directory
    becomes ~, and any other absolute path of a file keeps only the part from the costmodel
    package down (an exception's "/abs/path/costmodel/htmlreport/colors.py" becomes
    "costmodel/htmlreport/colors.py"), else its file name."""
    from pathlib import Path

    def short(match: re.Match) -> str:
        folder = match.group(0)
        at = folder.rfind("/costmodel/")
        return folder[at + 1:] if at >= 0 else ""

    return _PATH.sub(short, text.replace(str(Path.home()) + "/", "~/"))


def render(title: str, subtitle: Sequence[str], sections: Iterable[Section], alerts: Sequence[str]) -> str:
    """The whole HTML document: plotly.js and the shared template inlined once, then every section
    (its text scrubbed of the build machine's paths)."""
    sections = list(sections)
    top = (f'<div class="alerts" id="alerts"><h2>✗ {len(alerts)} problem(s) found</h2><ul>'
           + "".join(f"<li>{esc(scrub(a))}</li>" for a in alerts) + "</ul></div>") if alerts else ""
    nav = "<nav>" + "".join(f'<a href="#{s.key}">{esc(s.title)}</a>' for s in sections) + "</nav>"
    body = [nav, top]
    for s in sections:
        parts = [f'<section id="{s.key}"><h2>{esc(s.title)}</h2>']
        for frag in s.body:
            if isinstance(frag, _FigureSlot):
                parts.append(_figure_html(s.figures[frag.index], f"{s.key}-fig{frag.index}", frag.caption))
            else:
                parts.append(scrub(frag))
        parts.append("</section>")
        body.append("".join(parts))
    sub = "".join(f"<p>{esc(line)}</p>" for line in subtitle)
    # plotly.js contains no "</script" (checked in the tests), so it can sit in a plain script tag.
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{_CSS}</style>"
            f"<script type=\"text/javascript\">{plotly_js()}</script>"
            f"<script type=\"text/javascript\">{_template_js()}</script></head>"
            f"<body><header><h1>{esc(title)}</h1>{sub}</header><main>{''.join(body)}</main></body></html>\n")


def _template_js() -> str:
    """``CM_TEMPLATE`` (the layout template, trace defaults of the drawn types only) and
    ``cmPlot(id, data, layout)``, which every figure calls."""
    import plotly.io as pio

    tmpl = pio.templates[TEMPLATE].to_plotly_json()
    tmpl["data"] = {k: v for k, v in tmpl.get("data", {}).items() if k in TRACE_TYPES}
    return (f"var CM_TEMPLATE={dumps(tmpl)};"
            "function cmPlot(id,data,layout){layout.template=CM_TEMPLATE;"
            "return Plotly.newPlot(id,data,layout,{displaylogo:false,responsive:true});}")


def _figure_html(fig: Any, div_id: str, caption: str) -> str:
    spec = fig.to_plotly_json()
    layout = compact(spec["layout"])
    layout.pop("template", None)
    height = layout.get("height", 450)
    cap = f'<div class="caption">{esc(caption)}</div>' if caption else ""
    return (f'<div class="figure"><div id="{div_id}" class="plotly-graph-div" style="height:{height}px;width:100%">'
            f'</div><script type="text/javascript">cmPlot("{div_id}",{dumps(compact(spec["data"]))},'
            f"{dumps(layout)});</script>{cap}</div>")


SIGNIFICANT = 6
"""Significant digits kept of non-integer floats in the page (exact integers stay exact)."""


def compact(value: Any) -> Any:
    """Figure JSON made small: numpy arrays as lists, floats to SIGNIFICANT digits, integral
    floats as ints, NaN as null. Integers (params, MACs) are never rounded."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [compact(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return compact(value.tolist())
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return float(f"{value:.{SIGNIFICANT}g}")
    return value


def dumps(value: Any) -> str:
    """Compact JSON that can sit inside a <script> element ("</" is written "<\\/")."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")


# --- checks the tests (and the report itself) use --------------------------------------------

_REMOTE = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", re.I)


def remote_sources(page: str) -> list[str]:
    """Tags that would load something from the network (must be empty)."""
    return _REMOTE.findall(page)


def figure_specs(page: str) -> list[dict[str, Any]]:
    """The (data, layout) JSON of every plotly figure embedded in ``page``."""
    out = []
    for match in re.finditer(r'cmPlot\("[^"]+",', page):
        decoder = json.JSONDecoder()
        data, end = decoder.raw_decode(page, match.end())
        rest = page[end:].lstrip()[1:].lstrip()
        layout, _ = decoder.raw_decode(rest)
        out.append({"data": data, "layout": layout})
    return out
