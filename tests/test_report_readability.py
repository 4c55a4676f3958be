"""A newcomer's reading of the report: the findings say the input size and batch of a network
pair and read as sentences; the Networks totals show the same predicted latency as
``costmodel.predict_latency``; the gaps table names its measured times and shows the ratio
spread in %; the explorer draws a sample of the space behind its front."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from costmodel.htmlreport.context import Context
from costmodel.latency.profile import Profile


def _profile() -> Profile:
    """A made-up profile with round numbers (not a measurement), without network composition."""
    peaks = {"dense_macs_per_s": 1e9, "depthwise_macs_per_s": 1e8, "bandwidth_bytes_per_s": 1e9,
             "call_overhead_s": 1e-6, "l2_bytes": 2.0 ** 21}
    return Profile(device="cpu", device_name="test cpu", threads=1, torch_version="x", peaks=peaks)


# --- 1. the network pair says its resolution and batch ----------------------------------------

def _ctx(rows: list[dict], res: int | None = 112) -> Context:
    ctx = Context(designs=[])
    ctx.shared["network_latency_rows"] = rows
    if res:
        ctx.shared["network_latency_resolution"] = res
    return ctx


def test_the_network_pair_finding_states_input_size_and_batch():
    from costmodel.htmlreport.findings import networks_macs_vs_time

    rows = [{"network": "a", "MACs": 25, "measured ms": 20.0}, {"network": "b", "MACs": 100, "measured ms": 10.0}]
    text, anchor, _ = networks_macs_vs_time(_ctx(rows))
    # a: 25/100 = 0.25x the MACs, 20/10 = 2x the time; one pair (a, b) inverts
    assert text == ("At 112x112 input, batch 1: a needs 0.25× the MACs of b yet takes 2× its time "
                    "(measured, 20 vs 10 ms per call); 1 network pair inverts MACs and latency.")
    assert anchor == "network-latency"


def test_the_network_pair_count_is_plural_from_two():
    from costmodel.htmlreport.findings import networks_macs_vs_time

    # c has the fewest MACs and the most time: (c, a) and (c, b) invert, (a, b) does not
    rows = [{"network": "a", "MACs": 50, "predicted ms": 5.0}, {"network": "b", "MACs": 100, "predicted ms": 8.0},
            {"network": "c", "MACs": 10, "predicted ms": 9.0}]
    text, _, _ = networks_macs_vs_time(_ctx(rows, 64))
    # the starkest pair maximises (MACs ratio b/a) x (time ratio a/b): (c, b) 100/10 x 9/8 = 11.25 beats
    # (c, a) 50/10 x 9/5 = 9; c: 10/100 = 0.1x the MACs, 9/8 = 1.1x the time
    assert text.startswith("At 64x64 input, batch 1: c needs 0.1× the MACs of b yet takes 1.1× its time")
    assert text.endswith("; 2 network pairs invert MACs and latency.")
    assert "pair(s)" not in text


# --- 3. the peer counters in one sentence -----------------------------------------------------

def _peer(unit: str, ours: int, rows: list[tuple[str, int, int, str]], unexplained: int = 0):
    table = pd.DataFrame([{"category": c, "ours": o, "gap": g, "convention": why} for c, o, g, why in rows])
    predicted = ours + int(table["gap"].sum())
    return SimpleNamespace(unit=unit, ours=ours, table=table, skipped="", actual=predicted + unexplained,
                           predicted=predicted, unexplained=unexplained)


def _reconciliations() -> dict:
    ours = 1000  # conv 900 + relu 60 + add 40
    fvcore = _peer("MACs + BN/pool ops", ours, [
        ("conv", 900, 0, "same count"),
        ("activation", 60, -60, "fvcore has no handle for relu: skipped (listed as unsupported)"),
        ("add", 40, -40, "fvcore has no handle for add: skipped (listed as unsupported)")])
    flops = _peer("FLOPs (2 x MACs)", ours, [
        ("conv", 900, 900, "counts FLOPs = 2 x MACs"),
        ("activation", 60, -60, "counts only convolutions and matrix products"),
        ("add", 40, -40, "counts only convolutions and matrix products")])
    thop = _peer("MACs (+ BN, pools)", ours, [("conv", 900, 0, "same count"),
                                              ("activation", 60, -60, "ReLU registered as zero ops")])
    return {"tiny": SimpleNamespace(peers={"fvcore": fvcore, "FlopCounterMode": flops, "thop": thop})}


def test_the_peer_finding_is_one_sentence_from_the_data():
    from costmodel.htmlreport.findings import peer_story

    text = peer_story(_reconciliations())
    # gaps in MACs: fvcore -60 - 40 = 100 (10% of 1,000), two conventions (relu, add);
    # FlopCounterMode: conv 1,800 FLOPs = 900 MACs (no gap once halved), -60 - 40 = 100 (10%), one
    # convention; thop: -60 (6%). Ties: the first, fvcore; its largest convention is relu's 60.
    assert text == ("fvcore, FlopCounterMode and thop agree with our counts on tiny once their conventions are "
                    "applied (every gap explained); the largest gap, fvcore's on tiny (10.0% of our count), is mostly "
                    "activation, which it leaves out (fvcore has no handle for relu)")
    assert text.count(";") == 1 and "UNEXPLAINED" not in text


def test_an_unexplained_peer_gap_is_named():
    from costmodel.htmlreport.findings import peer_story

    results = _reconciliations()
    results["tiny"].peers["thop"].unexplained = 7
    text = peer_story(results)
    assert text.startswith("fvcore and FlopCounterMode agree with our counts on tiny")
    assert "thop on tiny differs by 7 MACs (+ BN, pools) that no convention explains" in text


# --- 2. the network's predicted latency is predict_latency's -----------------------------------

def test_network_totals_show_predict_latency_not_the_sum_of_layers_alone():
    import costmodel as cm
    from costmodel.htmlreport.networks import PREDICTED, _add_latency, _normalise, _totals, totals_figure
    from costmodel.latency.predict import predict_spec

    prof = _profile()
    ctx = Context(designs=[], small=True, latency=True)
    ctx.shared["latency_profile"], ctx.shared["latency_how"] = prof, "made up"
    net = cm.network("ghostnet", resolution=64)
    frame = _normalise(net.costs().table.copy())
    total = _add_latency(net, frame, ctx)
    api = cm.predict_latency(net, profile=prof).ms
    assert total == api
    alone = 1e3 * sum(predict_spec(layer.spec, prof) for layer in net.layers)
    # without a network composition each layer costs its time alone; the network adds one model
    # call (call_overhead_s = 1e-6 s = 0.001 ms): the old column (the layers alone) was short of it
    assert api == pytest.approx(alone + 0.001, rel=1e-9)
    row = _totals({"ghostnet": frame}, {"ghostnet": total})[0]
    # shown to 3 significant digits: within 0.5% of the API's number
    assert row[PREDICTED] == pytest.approx(api, rel=5e-3) and PREDICTED == "predicted latency (ms, batch 1)"
    assert len(f"{row[PREDICTED]:.15g}".replace(".", "").strip("0")) <= 3
    fig = totals_figure({"ghostnet": frame}, {"ghostnet": total})
    latency = [b for b in fig.layout.updatemenus[0].buttons if "latency" in b.label][0]
    assert latency.args[0]["y"] == [[api]]


# --- 5. labels of the whole-network chart -----------------------------------------------------

def test_a_lone_networks_label_goes_away_from_its_other_marker():
    from costmodel.htmlreport.latency import label_positions

    # 1e6 and 1e9 are far apart (no cluster): the first's predicted marker (15) is above its measured
    # point (12), so its label goes below; the second's (5) is below (8), so its label stays above
    assert label_positions([1e6, 1e9], [12, 8], avoid=[15, 5]) == ["bottom center", "top center"]
    # a cluster (3.88e9 and 3.84e9, within 1.3x) keeps top / bottom whatever the other markers
    assert label_positions([3.88e9, 3.84e9], [77, 66], avoid=[187, 160]) == ["top center", "bottom center"]


# --- 4. the gaps table's measured times and spread --------------------------------------------

def test_gaps_table_shows_measured_times_to_three_digits_and_the_spread_in_percent():
    from costmodel.htmlreport.gaps import CONV_US, DESIGN_US, SPREAD, shown_row

    row = {"design": "ghost", "measured latency ratio": 0.5, "ratio spread": 0.0234,
           "design us": 12437.6, "conv us": 3.4567, "note": ""}
    shown = shown_row(row)
    # 0.0234 -> 2.34%; 12,437.6 us -> 12,400 (3 significant digits); 3.4567 -> 3.46
    assert (shown[SPREAD], shown[DESIGN_US], shown[CONV_US]) == (2.34, 12_400.0, 3.46)
    assert DESIGN_US.startswith("measured design (us") and CONV_US.startswith("measured conv (us")
    assert "%" in SPREAD and "design us" not in shown and shown["measured latency ratio"] == 0.5


def test_gaps_table_cells_have_one_number_format():
    from costmodel.htmlreport.gaps import COLUMNS, shown_row
    from costmodel.htmlreport.page import table

    html = table([shown_row({"design": "x", "ratio spread": 0.1, "design us": 12437.6, "conv us": 987.65})], COLUMNS)
    # 12,437.6 -> "12,400"; 987.65 -> "988"; 0.1 -> "10" (%): no exponent notation
    assert '<td class="num">12,400</td>' in html and '<td class="num">988</td>' in html
    assert '<td class="num">10</td>' in html and "e+" not in html


# --- 6. the explorer's sample cloud -----------------------------------------------------------

def test_cloud_values_keep_three_significant_digits():
    from costmodel.htmlreport.explorer import rounded

    # 151,146,512 -> 151,000,000; 1,049 -> 1,050 (round half to even on 1.049e3 keeps 1.05e3)
    assert rounded([151_146_512, 999, 1_049, 5_182_508]) == [151_000_000, 999, 1_050, 5_180_000]


def test_explorer_figure_draws_a_grey_cloud_behind_the_front_and_stars():
    from costmodel.htmlreport.explorer import CLOUD_GREY, cloud_caption, space_figure

    front = pd.DataFrame({"params": [10, 20], "MACs": [200, 100], "design": ["ghost", "ghost"],
                          "architecture": ["a", "b"]})
    points = pd.DataFrame({"network": ["net"], "params": [50], "MACs": [500], "architecture": ["c"]})
    cloud = pd.DataFrame({"params": [30, 40, 60], "MACs": [150, 300, 900]})
    fig = space_figure(front, points, cloud)
    assert fig.data[0].marker.color == CLOUD_GREY and fig.data[0].hoverinfo == "skip"  # first: drawn behind
    assert list(fig.data[0].x) == [30, 40, 60] and fig.data[-1].marker.symbol == "star"
    assert fig.layout.xaxis.type == fig.layout.yaxis.type == "log"
    text = cloud_caption({"title": "T", "count": 1e6, "front": front}, cloud)
    # one cloud point (150) has fewer MACs than the front's largest (200)
    assert "over 3 candidates drawn at random from the 1e+06" in text
    assert "MACs run from 150 to 900; 1 of the 3 have fewer MACs than the front's largest (200)" in text


def test_the_report_samples_each_space_reproducibly():
    from costmodel.htmlreport.explorer import sample_cloud

    a, b = sample_cloud("ghostnet", 50), sample_cloud("ghostnet", 50)
    assert len(a) == 50 and a.equals(b)  # same seed, same cloud
    assert (a["MACs"] > 0).all() and (a["params"] > 0).all()
