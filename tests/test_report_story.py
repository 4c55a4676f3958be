"""Issue 18: the report tells the story first. The matched conv (the Inception ratio), findings
first with links that resolve, one colour per design, the vendored plotly.js basic bundle, size
limits for the small and the full report, and nothing of the build machine in the page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from costmodel.core.registry import designs, get_design
from costmodel.designs.conv import matched_conv
from costmodel.htmlreport import build, page

MB = 1_000_000


@pytest.fixture(scope="module")
def small():
    return build(small=True)


@pytest.fixture(scope="session")
def full_report():
    """The full report (no latency: that needs minutes of timing), built once per session."""
    return build()


# --- the one matched conv ----------------------------------------------------------------------

def test_inception_is_compared_with_the_192_to_256_conv():
    # GoogLeNet inception(3a) at 28x28: c_in 192, branches 64 + 128 + 32 + 32 = 256 channels out.
    ref = matched_conv(get_design("inception")())
    assert (ref.c_in, ref.c_out, ref.k, ref.stride, ref.h, ref.w) == (192, 256, 3, 1, 28, 28)
    # matched conv: 192 * 256 * 9 * 28 * 28 = 442,368 * 784 = 346,816,512 MACs
    assert ref.macs() == 346_816_512
    # inception: 784 * (192*(64+96+16+32) + 9*96*128 + 25*16*32) = 784 * (39,936 + 110,592 + 12,800)
    #          = 784 * 163,328 = 128,049,152 MACs; ratio = 163,328 / 442,368 (both / 784) = 0.36921...
    spec = get_design("inception")()
    assert spec.macs() == 128_049_152
    assert spec.macs() / ref.macs() == pytest.approx(0.369213, abs=1e-6)


def test_the_report_and_latency_gaps_use_the_same_matched_conv(small):
    from costmodel.latency.evaluate import reference_conv

    row = {r["design"]: r for r in small.data["design_rows"]}["inception"]
    assert row["MACs / conv"] == pytest.approx(128_049_152 / 346_816_512)  # hand numbers above
    assert reference_conv(get_design("inception")()) == matched_conv(get_design("inception")())


@pytest.mark.parametrize("name", sorted(designs()))
def test_matched_conv_has_the_designs_input_and_output_shape(name):
    import torch

    spec = get_design(name)()
    ref = matched_conv(spec)
    with torch.inference_mode():
        y, y_ref = spec.module()(spec.example_input(1)), ref.module()(ref.example_input(1))
    assert spec.input_shape() == ref.input_shape() and y.shape == y_ref.shape


# --- findings first -----------------------------------------------------------------------------

def test_findings_are_the_first_section_and_their_links_resolve(small):
    html = small.html
    assert small.sections[0].key == "findings"
    first = html.index("<section")
    assert html.startswith('<section id="findings">', first)
    findings = html[first:html.index("</section>", first)]
    links = re.findall(r'href="#([\w-]+)"', findings)
    assert len(links) >= 4
    for anchor in links:
        assert f'id="{anchor}"' in html, f"finding links to #{anchor}, which is not in the page"


def test_findings_come_from_the_data(small):
    texts = " ".join(text for text, _, _ in small.data["findings"])
    # the cheapest design at c = 64 under half the conv's params (64*64*9 / 2 = 18,432) is computed
    # from the family frames: check it against a brute-force search of the same frames
    frames = small.data["family_frames"][64]
    best = min(((n, r) for n, f in frames.items() for r in f.to_dict("records") if r["params"] <= 18_432),
               key=lambda t: t[1]["macs"])
    assert f"are {best[0]}'s: {best[1]['macs']:,}" in texts
    # the fact's reference, the standard conv 64 -> 64, 3x3, stride 1, 56x56: params 64*64*9 = 36,864,
    # budget 36,864 / 2 = 18,432, MACs 36,864 * 56*56 = 115,605,504
    assert "with at most 18,432 params (1/2 of the standard conv's 36,864)" in texts
    assert "the conv's 115,605,504)" in texts
    ok = sum(bool(r["match"]) for r in small.data["validation_rows"] + small.data.get("network_validation_rows", []))
    assert f"exactly on {ok} of " in texts


# --- colours ------------------------------------------------------------------------------------

def test_every_design_and_glue_op_has_its_own_colour():
    from costmodel.htmlreport.colors import color, glue_names

    names = list(designs()) + glue_names()
    assert {"max_pool", "global_pool", "fc"} <= set(glue_names())
    colours = [color(n) for n in names]
    assert len(set(colours)) == len(names)  # distinct
    assert [color(n) for n in names] == colours  # stable


def test_cielab_conversion_and_the_palette_distances():
    from costmodel.htmlreport.colors import MIN_DELTA_E, color, delta_e, glue_names, lab

    # sRGB red #ff0000 in CIELAB (D65), the textbook value: L* 53.24, a* 80.09, b* 67.20
    assert lab("#ff0000") == pytest.approx((53.24, 80.09, 67.20), abs=0.05)
    assert lab("#ffffff") == pytest.approx((100, 0, 0), abs=0.05) and lab("#000000") == pytest.approx((0, 0, 0))
    # CIE76: black to white is 100 apart
    assert delta_e("#000000", "#ffffff") == pytest.approx(100, abs=0.05)
    names = list(designs()) + glue_names()
    worst = min(delta_e(color(a), color(b)) for i, a in enumerate(names) for b in names[i + 1:])
    assert worst >= MIN_DELTA_E, worst
    # and every colour stays readable on white and is not a grey (L* <= 80, chroma >= 20)
    for n in names:
        lightness, a, b = lab(color(n))
        assert lightness <= 80 and (a * a + b * b) ** 0.5 >= 20, (n, color(n))


def test_space_blocks_take_their_designs_colour():
    from costmodel.htmlreport.colors import color, design_of

    assert design_of("3x3 spconv") == "spconv" and design_of("tbc") == "tbc"
    assert design_of("inverted_residual") == "inverted_residual"  # not a registered design: its own colour
    assert color("inverted_residual") not in {color(n) for n in designs()}


def test_a_front_of_one_design_gets_the_front_of_the_others():
    import pandas as pd

    from costmodel.htmlreport.space import fronts

    # a dominates everything (fewest params and MACs); b and c trade params for MACs
    frames = {"a": pd.DataFrame({"params": [10], "macs": [100]}),
              "b": pd.DataFrame({"params": [20, 40], "macs": [500, 300]}),
              "c": pd.DataFrame({"params": [30], "macs": [200]})}
    found = fronts(frames, "params")
    assert [label for label, _, _ in found] == ["Pareto front", "front without a"]
    assert [(n, r["params"], r["macs"]) for n, r in found[0][1]] == [("a", 10, 100)]
    # without a: (20, 500) and (30, 200) are on the front; (40, 300) is dominated by (30, 200)
    assert [(n, r["params"], r["macs"]) for n, r in found[1][1]] == [("b", 20, 500), ("c", 30, 200)]
    # two designs on the front: no second front
    assert [label for label, _, _ in fronts({"b": frames["b"], "c": frames["c"]}, "params")] == ["Pareto front"]


def test_the_gaps_caption_says_what_its_y_axis_is(small):
    from costmodel.htmlreport.page import _FigureSlot

    sec = small.section("gaps")
    captions = [frag.caption for frag in sec.body if isinstance(frag, _FigureSlot)]
    assert len(captions) == 1 and "bytes" in captions[0] and "latency ratio" not in captions[0]
    assert "bytes" in sec.figures[0].layout.yaxis.title.text


def test_no_two_designs_share_a_colour_in_a_figure(small):
    known = set(designs())
    from costmodel.htmlreport.colors import glue_names

    known |= set(glue_names())
    checked = 0
    for fig in small.figures:
        seen: dict[str, str] = {}
        for trace in fig.data:
            marker = getattr(trace, "marker", None)
            if trace.name in known and marker is not None and isinstance(marker.color, str):
                seen.setdefault(trace.name, marker.color)
                assert seen[trace.name] == marker.color
        assert len(set(seen.values())) == len(seen), f"two designs share a colour: {seen}"
        checked += len(seen) > 1
    assert checked >= 3


# --- the plotly bundle, offline, size -------------------------------------------------------------

def test_vendored_bundle_matches_plotly_py_and_the_trace_types_used(small):
    from plotly.offline import get_plotlyjs_version

    js = page.plotly_js()
    assert f"plotly.js (basic - minified) v{page.PLOTLY_BASIC_VERSION}" in js[:200]
    assert get_plotlyjs_version().split(".")[0] == page.PLOTLY_BASIC_VERSION.split(".")[0]
    assert (Path(page.__file__).parent / "assets" / "plotly-LICENSE.txt").read_text().startswith("MIT License")
    used = {t["type"] for spec in page.figure_specs(small.html) for t in spec["data"]}
    assert used <= page.TRACE_TYPES, used


def _external(html: str) -> list[str]:
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", html, re.I)
    return [t for t in tags if re.search(r"\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", t, re.I)]


def test_small_report_is_at_most_1_5_mb_and_offline(small):
    size = len(small.html.encode("utf-8"))
    assert size <= 1.5 * MB, f"small report is {size / MB:.2f} MB"
    assert _external(small.html) == [] and page.remote_sources(small.html) == []


@pytest.mark.slow
def test_full_report_is_at_most_3_mb_and_offline(full_report):
    size = len(full_report.html.encode("utf-8"))
    assert size <= 3 * MB, f"full report is {size / MB:.2f} MB"
    assert _external(full_report.html) == [] and page.remote_sources(full_report.html) == []
    assert full_report.alerts == [], full_report.alerts
    for name in designs():  # each design's own grid, folded (the full report only)
        assert f'<details class="fold" id="space-{name}">' in full_report.html


def _leaks(html: str) -> list[str]:
    root = str(Path(__file__).resolve().parents[1])
    text = html.replace(page.plotly_js(), "")
    found = [p for p in (root, str(Path.home()) + "/", "seed 0") if p in text]
    return found + re.findall(r"/(?:home|root|tmp|work)/[\w./-]+", text)


def test_no_build_machine_path_or_internal_reference_in_the_page(small):
    assert _leaks(small.html) == []
    assert _leaks("<p>Reference: seed 003</p>") == ["seed 0"]  # the check can fail


def test_scrub_takes_the_build_machines_paths_out_of_messages():
    text = "ImportError: cannot import name 'X' from 'm' (/srv/build/checkout/costmodel/htmlreport/colors.py)"
    assert page.scrub(text) == "ImportError: cannot import name 'X' from 'm' (costmodel/htmlreport/colors.py)"
    assert page.scrub(f"profile {Path.home()}/.cache/costmodel/cpu-t1.json") == "profile ~/.cache/costmodel/cpu-t1.json"
    assert page.scrub("/tmp/job/out/data.csv") == "data.csv"
    keep = "c_in/c_out, 1/2 ratio, a/b/c.d, </td>, http://x.org/a/b.js"  # not paths of this machine
    assert page.scrub(keep) == keep
    assert _leaks(page.scrub("failed: (/opt/ci/costmodel/x.py)")) == []


def test_a_failed_section_names_no_path_in_the_page(monkeypatch):
    import costmodel.htmlreport.gaps as gaps

    def broken(ctx):
        raise RuntimeError(f"cannot read {Path(gaps.__file__).resolve()}")

    monkeypatch.setattr(gaps, "build", broken)
    report = build(designs=["conv"], small=True, sections=["findings", "gaps"])
    assert any("costmodel/htmlreport/gaps.py" in a for a in report.alerts)  # the terminal keeps it
    assert "cannot read costmodel/htmlreport/gaps.py" in report.html and _leaks(report.html) == []


def test_the_noise_of_a_gaps_run_is_the_spread_of_its_ratios():
    from costmodel.htmlreport.gaps import noise, noise_text

    rows = [{"design": "ghost", "ratio spread": 0.02}, {"design": "sic", "ratio spread": 0.15},
            {"design": "tbc", "ratio spread": 0.01}, {"design": "dgc", "note": "failed"}]
    # three measured ratios: spreads 1%, 2%, 15% -> median 2%, worst 15% (sic); the failed row has none
    assert noise(rows) == {"median": 0.02, "worst": 0.15, "design": "sic", "n": 3}
    assert "differ by a median 2.0% (worst 15.0%, sic)" in noise_text(noise(rows), 1.0, 2.0)
    assert noise(rows[3:]) is None  # nothing measured: no spread to show


def test_labels_of_close_networks_go_to_either_side():
    from costmodel.htmlreport.latency import label_positions

    # 1e9 and 1.1e9 are within 1.3x: the lower one's label goes below; 4e9 is far from both
    assert label_positions([1.1e9, 4e9, 1e9], [80, 50, 70]) == ["top center", "top center", "bottom center"]
    assert label_positions([1.1e9, 4e9, 1e9], [60, 50, 70]) == ["bottom center", "top center", "top center"]
    # three close points: highest above, lowest below, the middle one to its right
    assert label_positions([1.0, 1.1, 1.2], [2, 3, 1]) == ["middle right", "top center", "bottom center"]


def test_per_layer_axes_go_logarithmic_where_values_span_decades():
    from costmodel.htmlreport.networks import axis_type

    assert axis_type([1_000, 50_000, 10_000_000]) == "log"  # 1e7 / 1e3 = 10,000 >= 100
    assert axis_type([0, 200, 19_000]) == "linear"  # zeros ignored; 19,000 / 200 = 95 < 100
    assert axis_type([0, 0]) == "linear"


def test_a_designs_own_grid_has_a_slider_over_its_hyperparameter_and_no_front():
    from costmodel.htmlreport.grids import sweep_design
    from costmodel.htmlreport.space import design_figure, slider_field

    cls = get_design("group_conv")
    frame = sweep_design(cls, True)
    field = slider_field(cls, frame)
    assert field == "groups"  # its own hyperparameter, not a shape field
    fig = design_figure("group_conv", frame, field)
    n = len(fig.data)
    # one trace per groups value, no front (the grid mixes shapes: c_in, c_out in 32, 64; k in 3, 5)
    assert [t.name for t in fig.data] == [f"groups={v}" for v in sorted(frame["groups"].unique())]
    steps = fig.layout.sliders[0].steps
    assert len(steps) == n + 1 and all(len(s.args[0]["visible"]) == n for s in steps)
    assert steps[0].args[0]["visible"] == [True] * n  # "all"


@pytest.mark.slow
@pytest.mark.browser
def test_full_report_renders_every_figure_in_chromium(full_report, tmp_path):
    """The small report's browser test, on the full one (which adds each design's own grid)."""
    from test_report import CHROMIUM, chromium, console_errors

    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    path = tmp_path / "full.html"
    path.write_text(full_report.html, encoding="utf-8")
    result = chromium(path.as_uri(), "--dump-dom", timeout=300)
    assert console_errors(result.stderr) == [], console_errors(result.stderr)
    dom = result.stdout
    drawn = re.findall(r'<div id="([\w-]+-fig\d+)" class="plotly-graph-div[^"]*js-plotly-plot', dom)
    assert len(drawn) == len(full_report.figures)
    assert sum(i.startswith("space-fig") for i in drawn) > len(designs())  # the families + each design's own grid
    starts = [dom.index(f'<div id="{i}"') for i in drawn] + [len(dom)]
    empty = [i for i, a, b in zip(drawn, starts, starts[1:]) if not re.search(r'class="trace (scatter|bars)', dom[a:b])]
    assert empty == []
    sections = re.findall(r'<section id="([\w-]+)"', dom)
    assert sections[0] == "findings"
    assert _leaks(re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S)) == []


def test_the_totals_caption_is_computed_from_the_networks():
    import pandas as pd

    from costmodel.htmlreport.networks import totals_caption

    tables = {"big": pd.DataFrame({"macs": [10_000_000_000, 5_000_000_000]}),
              "tiny": pd.DataFrame({"macs": [100_000_000, 50_000_000]})}
    # 15e9 / 150e6 = 100x apart
    assert "big's 15,000,000,000 MACs and tiny's 150,000,000 on one chart, 100x apart" in totals_caption(tables)


# --- the latency accuracy line and fact say how far from the target, and the machine's drift -------

def test_the_latency_line_is_green_only_where_the_target_is_met():
    from costmodel.htmlreport.latency import accuracy_class

    # stop 38, report run R7: 3% plain, 63% x drift 1.370: under the 90% target either way
    assert accuracy_class({"within_10": 0.03, "anchored": {"within_10": 0.63}, "drift": 1.37}) == "warn-line"
    # 85% plain but 92% once scaled by the drift: met
    assert accuracy_class({"within_10": 0.85, "anchored": {"within_10": 0.92}, "drift": 1.1}) == "ok-line"
    assert accuracy_class({"within_10": 0.90}) == "ok-line"  # exactly at the target, no anchors
    assert accuracy_class({"within_10": 0.89}) == "warn-line"


def test_the_latency_fact_names_a_drifted_machine():
    from types import SimpleNamespace

    from costmodel.htmlreport.findings import latency_accuracy

    summary = {"n": 62, "within_10": 0.03, "median_abs_pct": 25.1, "spread_pct": 2.5,
               "anchored": {"within_10": 0.63}, "drift": 1.37}
    text, anchor, _ = latency_accuracy(SimpleNamespace(shared={"latency_summary": summary}))
    # drift 1.37 -> 37% slower; the scaled figure 63%
    assert "3% of 62 held-out configs" in text and anchor == "latency"
    assert "ran 37% slower than at calibration" in text and "within ±10% for 63%" in text
    # a drift of 1.03 (under 5%) is not named
    text, _, _ = latency_accuracy(SimpleNamespace(shared={"latency_summary": {**summary, "drift": 1.03}}))
    assert "calibration" not in text and text.endswith("median 2.5%).")
    # faster: drift 0.9 -> 10% faster
    text, _, _ = latency_accuracy(SimpleNamespace(shared={"latency_summary": {**summary, "drift": 0.9}}))
    assert "ran 10% faster than at calibration" in text
