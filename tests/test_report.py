"""The HTML report: it builds from the registry, works offline, labels every axis with its unit,
puts mismatches at the top in red, and really renders in a headless Chromium."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from costmodel.core.registry import designs
from costmodel.htmlreport import build, page
from costmodel.htmlreport.space import front

# --- one small report of every registered design, shared by the tests below ----------------


@pytest.fixture(scope="module")
def small_report():
    return build(small=True)


@pytest.fixture(scope="module")
def report_file(small_report, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "costmodel.html"
    path.write_text(small_report.html, encoding="utf-8")
    return path


def test_every_registered_design_is_in_the_report(small_report):
    html = small_report.html
    for name in designs():
        assert f'id="design-{name}"' in html, f"design {name} has no block in the Designs section"
    assert set(small_report.data["space_frames"]) == set(designs())  # every design has grid points
    # each design's own grid is drawn in the full report only (test_report_story: full_report); the
    # small one (at most 1.5 MB) says so
    assert '<details class="fold" id="space-' not in html and "Left out of a --small report" in html
    family = small_report.section("space").figures[0]  # all designs at c_in = c_out = 64, 3x3, 56x56
    left_out = {"inception"}  # its output is the sum of four branch widths: no single c_out to pin
    names = {t.name for t in family.data}
    # depthwise (c -> c, 3x3, mult 1: 9c params) has both the fewest params and MACs at c_in = c_out,
    # so it alone makes up the front; the dotted front of the others is drawn beside it
    assert names == (set(designs()) - left_out) | {"Pareto front", "front without depthwise"}


def test_no_mismatch_or_failure_in_the_small_report(small_report):
    assert small_report.alerts == [], "\n".join(small_report.alerts)
    assert 'class="alerts"' not in small_report.html


def test_conv_reference_row_has_the_hand_worked_numbers(small_report):
    # Conv default: c_in = c_out = 64, k = 3, stride 1, 56x56, no bias/BN.
    # params = 64*64*9 = 36,864; MACs = 36,864 * 56*56 = 36,864 * 3,136 = 115,605,504;
    # FLOPs = 2 * MACs = 231,211,008.
    assert small_report.data["design_rows"][0]["design"] == "conv"  # catalogue order, A1 first
    rows = {r["design"]: r for r in small_report.data["design_rows"]}
    conv = rows["conv"]
    assert (conv["params"], conv["MACs"], conv["FLOPs"]) == (36_864, 115_605_504, 231_211_008)
    assert conv["MACs / conv"] == 1
    # Depthwise default (c_in 64, k 3, 56x56) vs the matched 64->64 conv: 1/c_out = 1/64 of the MACs.
    assert rows["depthwise"]["MACs / conv"] == pytest.approx(1 / 64, rel=0, abs=1e-15)
    assert "115,605,504" in small_report.html


def test_formulas_are_mathml_with_latex_beside(small_report):
    html = small_report.html
    assert html.count("<math>") >= 2 * len(designs())  # params and MACs of every design at least
    assert "<msub><mi>c</mi><mi>in</mi></msub>" in html  # c_in as a subscript, from sympy's printer
    assert 'class="latex"' in html


# --- offline -----------------------------------------------------------------------------------

_SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?([^\"'\s>]+)", re.I)
_LINK_HREF = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?([^\"'\s>]+)", re.I)


def test_no_remote_script_or_stylesheet(small_report):
    html = small_report.html
    remote = [u for u in _SCRIPT_SRC.findall(html) + _LINK_HREF.findall(html) if re.match(r"(https?:)?//", u)]
    assert remote == []
    assert _SCRIPT_SRC.findall(html) == []  # nothing external at all: every script is inline
    assert page.remote_sources(html) == []


def test_plotly_js_is_inlined_exactly_once(small_report):
    js = page.plotly_js()  # the vendored basic bundle, not plotly.py's full one
    assert small_report.html.count(js[:200]) == 1 and js in small_report.html
    assert "</script" not in js  # so the bundle can sit in a plain <script> element
    assert small_report.html.count("var CM_TEMPLATE=") == 1  # the layout template, once per page


def test_the_remote_source_check_can_fail():
    bad = '<html><head><script src="https://cdn.plot.ly/plotly-2.js"></script><link rel="stylesheet" href="//x.org/a.css"></head></html>'
    assert len(page.remote_sources(bad)) == 2
    assert [u for u in _SCRIPT_SRC.findall(bad) if u.startswith("https://")] == ["https://cdn.plot.ly/plotly-2.js"]


# --- figures -----------------------------------------------------------------------------------

UNIT = re.compile(r"\b(MACs|params|bytes|ms|FLOPs|ops|layer|design|network)\b")


def _axes(layout: dict) -> dict[str, dict]:
    return {k: v for k, v in layout.items() if re.fullmatch(r"[xy]axis\d*", k)}


def _title(axis: dict) -> str:
    title = axis.get("title") or {}
    return title.get("text", "") if isinstance(title, dict) else str(title)


def test_every_figure_axis_has_a_title_with_its_unit(small_report):
    assert len(small_report.figures) >= 3
    for i, fig in enumerate(small_report.figures):
        layout = fig.to_plotly_json()["layout"]
        axes = _axes(layout)
        assert {"xaxis", "yaxis"} <= set(axes), f"figure {i} lacks an x or y axis"
        for name, axis in axes.items():
            text = _title(axis)
            assert UNIT.search(text), f"figure {i} {name} title {text!r} names no unit"
        for menu in layout.get("updatemenus", []):  # menus that switch an axis switch its title too
            for button in menu["buttons"]:
                for key, value in (button["args"][1] if len(button["args"]) > 1 else {}).items():
                    if key.endswith("title.text"):
                        assert UNIT.search(value), f"figure {i} menu sets {key} to {value!r}"


def test_embedded_figure_json_matches_the_figures(small_report):
    specs = page.figure_specs(small_report.html)
    assert len(specs) == len(small_report.figures)
    for spec in specs:
        for name, axis in _axes(spec["layout"]).items():
            assert UNIT.search(_title(axis)), (name, _title(axis))
        assert spec["data"], "a figure without traces"


def test_menus_and_sliders_address_every_trace(small_report):
    # A restyle/update argument list shorter or longer than the figure's traces silently
    # mislabels traces in the browser; check every button and slider step against the figure.
    checked = 0
    for i, fig in enumerate(small_report.figures):
        layout = fig.to_plotly_json()["layout"]
        n = len(fig.data)
        controls = [b for m in layout.get("updatemenus", []) for b in m["buttons"]]
        controls += [s for sl in layout.get("sliders", []) for s in sl["steps"]]
        for ctl in controls:
            for key, value in ctl["args"][0].items():
                if isinstance(value, list):
                    assert len(value) == n, f"figure {i}: {ctl['label']!r} sets {key} for {len(value)} of {n} traces"
                    checked += 1
            if "x" in ctl["args"][0] and "y" in ctl["args"][0]:
                for xs, ys in zip(ctl["args"][0]["x"], ctl["args"][0]["y"]):
                    assert len(xs) == len(ys)
    assert checked > 10


def test_design_space_hover_shows_the_full_spec(small_report):
    fig = small_report.section("space").figures[0]
    trace = next(t for t in fig.data if t.name == "group_conv")
    # the family pins c_in = c_out = 64, k = 3, stride 1, 56x56: written once in the template;
    # groups varies, so it is a customdata column (columnar hover data: no text per point)
    for field in ("c_in=64", "c_out=64", "k=3", "stride=1", "h=56", "w=56", "groups=%{customdata[0]}"):
        assert field in trace.hovertemplate
    assert len(trace.customdata[0]) == 4  # groups, params, MACs, bytes
    # groups around the default 4: 4 // 2, 4, 4 + 1, 2 * 4, 4 * 4 = 2, 4, 5, 8, 16; --small keeps the first two
    assert sorted({row[0] for row in trace.customdata}) == [2, 4]


# --- mismatches go to the top, in red ------------------------------------------------------------

def test_a_mismatch_is_shown_in_red_at_the_top(monkeypatch):
    import dataclasses

    import costmodel.htmlreport.validation as validation

    real = validation.validate

    def wrong(spec, batch=1):  # the torch params count off by one
        result = real(spec, batch=batch)
        checks = tuple(dataclasses.replace(c, torch=c.analytic + 1) if c.quantity == "params" else c
                       for c in result.checks)
        return dataclasses.replace(result, checks=checks)

    monkeypatch.setattr(validation, "validate", wrong)
    monkeypatch.setattr(validation, "network_specs", lambda ctx: None)
    report = build(designs=["conv"], small=True, sections=["findings", "validation"])
    assert any("MISMATCH: conv" in a for a in report.alerts)
    html = report.html
    top = html.index('class="alerts"')
    assert top < html.index("<section"), "the alert box must come before every section"
    assert "MISMATCH: conv" in html[top:html.index("<section")]
    assert "tr class=bad-row" in html and 'class="bad">✗' in html


WITHOUT_NETWORKS = ["designs", "validation", "space", "latency"]
"""Sections of the quick reports below (the networks are covered by small_report)."""


def test_a_section_left_out_degrades_to_a_note():
    report = build(designs=["conv"], small=True, sections=WITHOUT_NETWORKS)
    sec = report.section("networks")
    assert not sec.available and "Not available" in "".join(map(str, sec.body))
    assert report.section("latency").available is False  # latency only with latency=True


# --- pieces --------------------------------------------------------------------------------------

def test_pareto_mask_matches_brute_force():
    rng = random.Random(1)
    for _ in range(50):
        n = rng.randint(1, 40)
        x = [rng.randint(0, 9) for _ in range(n)]
        y = [rng.randint(0, 9) for _ in range(n)]
        brute = [not any((x[j] <= x[i] and y[j] < y[i]) or (x[j] < x[i] and y[j] <= y[i]) for j in range(n))
                 for i in range(n)]
        fx, fy = front(x, y)  # the report's front line, from costmodel.explore's front_mask
        # ties: identical points may appear once or more; compare the sets of values kept
        assert set(zip(fx, fy)) == {(x[i], y[i]) for i in range(n) if brute[i]}
        assert fx == sorted(fx)


def test_cli_writes_the_report(tmp_path):
    from costmodel.cli import main

    out = tmp_path / "r.html"
    assert main(["report", "--small", "--designs", "conv", "depthwise", "--sections", *WITHOUT_NETWORKS,
                 "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert 'id="design-depthwise"' in html and 'id="design-separable"' not in html


def test_unknown_design_is_a_clear_error(tmp_path):
    from costmodel.cli import main

    with pytest.raises(ValueError, match="design = 'nope' is unknown"):
        build(designs=["nope"])
    with pytest.raises(ValueError, match="section = 'nope' is unknown: allowed are findings, designs, "):
        build(designs=["conv"], sections=["nope"])
    assert main(["report", "--designs", "nope", "--out", str(tmp_path / "x.html")]) == 2


def test_python_entry_point_is_callable_after_submodule_import(tmp_path):
    import costmodel
    import costmodel.htmlreport  # the package is htmlreport, so costmodel.report stays the function

    out = costmodel.report(tmp_path / "r.html", designs=["pointwise"], small=True, sections=WITHOUT_NETWORKS)
    assert out.exists() and out.stat().st_size > 1_000_000  # plotly.js inline: several MB


# --- a real browser ------------------------------------------------------------------------------

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
CONSOLE_ERROR = re.compile(r"Uncaught|ERROR:CONSOLE|CONSOLE.*\b(Error|error)\b")


def chromium(url: str, *extra: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Headless Chromium on ``url`` with a throwaway profile; stdout = DOM when --dump-dom."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
               "--virtual-time-budget=20000", *extra, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line and CONSOLE_ERROR.search(line)]


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                    "(apt-get install chromium; .ci/run installs it)")


@pytest.mark.browser
@needs_chromium
def test_console_check_catches_a_page_error(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>notDefinedAnywhere();</script></body></html>")
    result = chromium(bad.as_uri(), "--dump-dom")
    assert console_errors(result.stderr), result.stderr[-2000:]


@pytest.mark.browser
@needs_chromium
def test_report_renders_in_headless_chromium(small_report, report_file, tmp_path):
    result = chromium(report_file.as_uri(), "--dump-dom")
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_errors(result.stderr) == [], console_errors(result.stderr)
    ids = re.findall(r'<div id="([\w-]+-fig\d+)" class="plotly-graph-div[^"]*js-plotly-plot', dom)
    assert len(ids) == len(small_report.figures), "every figure div must have been turned into a plot"
    starts = [dom.index(f'<div id="{i}"') for i in ids] + [len(dom)]
    for fig_id, a, b in zip(ids, starts, starts[1:]):
        chunk = dom[a:b]
        assert 'class="main-svg"' in chunk, f"{fig_id}: no SVG drawn"
        assert re.search(r'class="trace (scatter|bars)', chunk) or 'class="point"' in chunk, f"{fig_id}: no traces"
    assert dom.count('class="point"') > 100  # scatter markers and bars really drawn
    assert "<math>" in dom  # MathML survives parsing

    # the findings panel is the first section, and every link in it lands on an element of the page
    sections = re.findall(r'<section id="([\w-]+)"', dom)
    assert sections[0] == "findings", sections[:3]
    panel = dom[dom.index('<section id="findings"'):]
    panel = panel[:panel.index("</section>")]
    links = re.findall(r'href="#([\w-]+)"', panel)
    assert len(links) >= 4 and all(f'id="{a}"' in dom for a in links), links
    # nothing of the build machine in the rendered text (scripts and styles stripped)
    text = re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S)
    root = str(Path(__file__).resolve().parents[1])
    assert root not in text and str(Path.home()) + "/" not in text and "seed 0" not in text

    shot = tmp_path / "report.png"
    result = chromium(report_file.as_uri(), "--window-size=1400,4000", f"--screenshot={shot}")
    assert shot.exists(), result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 100_000  # a blank page compresses to ~10 kB
    keep = os.environ.get("COSTMODEL_SCREENSHOT")  # to look at it: COSTMODEL_SCREENSHOT=reports/shot.png
    if keep:
        Path(keep).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, keep)


COLOUR_PROBE = """<script>
setTimeout(function () {
  var out = [];
  document.querySelectorAll('.js-plotly-plot').forEach(function (gd) {
    out.push({id: gd.id, traces: (gd._fullData || []).map(function (t) {
      var c = t.marker && t.marker.color;
      return [t.name, typeof c === 'string' ? c : null, t.type];
    })});
  });
  var pre = document.createElement('pre');
  pre.id = 'cm-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 3000);
</script>"""


@pytest.mark.browser
@needs_chromium
def test_rendered_figures_give_each_design_its_own_colour(small_report, tmp_path):
    import html as htmllib
    import json

    import itertools

    from costmodel.htmlreport.colors import MIN_DELTA_E, delta_e, glue_names

    probe = tmp_path / "probe.html"
    probe.write_text(small_report.html.replace("</body>", COLOUR_PROBE + "</body>"), encoding="utf-8")
    result = chromium(probe.as_uri(), "--dump-dom")
    found = re.search(r'<pre id="cm-probe">(.*?)</pre>', result.stdout, re.S)
    assert found, result.stderr[-2000:]
    figures = json.loads(htmllib.unescape(found.group(1)))
    assert len(figures) == len(small_report.figures)
    names = set(designs()) | set(glue_names())
    everywhere: dict[str, str] = {}
    multi = 0
    for fig in figures:
        assert fig["traces"], f"{fig['id']}: no traces drawn"
        colours = {}
        for name, colour, _ in fig["traces"]:
            if name in names and colour:
                assert colours.setdefault(name, colour) == colour, (fig["id"], name)
                assert everywhere.setdefault(name, colour) == colour, f"{name} changes colour in {fig['id']}"
        assert len(set(colours.values())) == len(colours), f"{fig['id']}: two designs share a colour: {colours}"
        # not only different strings: far apart to the eye (dgc and global_pool were 2.4 apart)
        close = [(a, b, round(delta_e(colours[a], colours[b]), 1)) for a, b in itertools.combinations(colours, 2)
                 if delta_e(colours[a], colours[b]) < MIN_DELTA_E]
        assert close == [], f"{fig['id']}: colours too close to tell apart: {close}"
        multi += len(colours) > 5
    assert multi >= 3  # the check really saw figures with many designs


def test_cm_validate_stays_callable_after_its_module_is_imported():
    # cm.ratio imports costmodel.validation; cm.validate must still be the function.
    import costmodel as cm

    cm.ratio("conv", "conv")
    assert cm.validate(cm.Conv(c_in=8, c_out=8, h=8, w=8))["match"] is True


def test_latency_section_measures_and_predicts(tmp_path, monkeypatch):
    import math

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no profile yet: the report calibrates one
    report = build(designs=["conv", "depthwise"], latency=True, small=True,
                   sections=WITHOUT_NETWORKS + ["gaps", "explorer"])
    assert report.alerts == [], report.alerts
    assert list(tmp_path.glob("costmodel/*.json")), "the calibrated profile is saved for next time"
    sec = report.section("latency")
    assert sec.available
    rows = report.data["latency_rows"]
    assert {r["design"] for r in rows} == {"conv", "depthwise"}
    for r in rows:
        assert r["measured ms"] > 0 and r["predicted ms"] > 0 and math.isfinite(r["error %"])
        assert r["error %"] == pytest.approx(100 * (r["predicted ms"] / r["measured ms"] - 1))
    fig = sec.figures[0]
    assert "ms" in fig.layout.xaxis.title.text and "ms" in fig.layout.yaxis.title.text
    band = fig.data[0]  # the ±10% band: y = 0.9x .. 1.1x
    assert band.y[0] == pytest.approx(0.9 * band.x[0]) and band.y[2] == pytest.approx(1.1 * band.x[2])
    titles = [f.layout.xaxis.title.text for f in report.section("space").figures]
    assert page.UNITS["latency_ms"] in titles and page.UNITS["latency_ms"].startswith("predicted latency")
    gaps = {r["design"]: r for r in report.data["gap_rows"]}
    # depthwise 64 ch 3x3 vs the matched 64 -> 64 3x3 conv: MACs ratio 1/c_out = 1/64
    assert gaps["depthwise"]["MACs ratio"] == pytest.approx(1 / 64)
    assert gaps["depthwise"]["measured latency ratio"] > 0 and gaps["conv"]["MACs ratio"] == 1
    # the conv is its own reference (one timed item): its ratio is exactly 1 with no spread;
    # depthwise's ratio has two independent estimates, each part's design time / conv time
    assert gaps["conv"]["measured latency ratio"] == 1 and gaps["conv"]["ratio spread"] == 0
    assert 0 <= gaps["depthwise"]["ratio spread"] < math.inf
    # the explorer's measured points: per space, 2 front points (--small) + its built-in networks,
    # timed here with predict_latency beside; GhostNet 1.0x keeps its exact counts
    for name, space in report.data["explorer"].items():
        measured = space["measured"]
        assert len(measured) == 2 + len(space["points"]) and (measured["measured ms"] > 0).all()
        assert (measured["predicted ms"] > 0).all()
    ghost = report.data["explorer"]["ghostnet"]["measured"].set_index("network").loc["ghostnet_1.0x"]
    assert (ghost["MACs"], ghost["params"]) == (141_150_512, 5_182_508)
    figs = report.section("explorer").figures
    assert any("measured and predicted" in (f.layout.yaxis.title.text or "") for f in figs)


def test_dgc_row_shows_dense_expected_and_executed_macs(small_report):
    # DGC default: c_in = c_out = 64, 3x3, 56x56, H = 4, zeta = 0.5, d = 16.
    # dense conv: 64*64*9*3,136 = 115,605,504 MACs.
    # expected: saliency FCs 2*H*c_in*(c_in//d) = 2*4*64*4 = 2,048, plus the kept-channel convs
    # c_out*kept*9*3,136 with kept = 64 - floor(0.5*64) = 32: 64*32*9*3,136 = 57,802,752 -> 57,804,800.
    # executed (the module run on one sample keeps 32 channels per head) = the same 57,804,800.
    dgc = {r["design"]: r for r in small_report.data["design_rows"]}["dgc"]
    assert (dgc["dense MACs"], dgc["MACs"], dgc["executed MACs"]) == (115_605_504, 57_804_800, 57_804_800)
