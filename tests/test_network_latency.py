"""Whole-network latency: predict_latency on a built-in network, a swap and a hand-written
nn.Module (positive, finite, the table sums to the total, every row mapped to a curve), and
measure_latency (positive and finite; no timing threshold)."""

from __future__ import annotations

import math

import pytest

from costmodel.latency.network import measure_latency, predict_latency
from costmodel.latency.profile import Profile


def _profile() -> Profile:
    """A made-up roofline profile with round numbers (not a measurement)."""
    peaks = {"dense_macs_per_s": 1e9, "depthwise_macs_per_s": 1e8, "bandwidth_bytes_per_s": 1e9,
             "call_overhead_s": 1e-6, "l2_bytes": 2.0 ** 21}
    return Profile(device="cpu", device_name="test cpu", threads=1, torch_version="x", peaks=peaks)


def _check(result) -> None:
    assert math.isfinite(result.seconds) and result.seconds > 0
    assert result.table["seconds"].sum() == pytest.approx(result.seconds, rel=1e-12)
    assert (result.table["seconds"] > 0).all()
    assert result.table["curve"].map(lambda c: isinstance(c, str) and c != "").all()
    assert result.kind == "predicted"


def test_predict_latency_hand_written_module_hand_worked():
    from torch import nn

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU())
    result = predict_latency(model, (1, 3, 8, 8), profile=_profile())
    _check(result)
    # conv: MACs 8*3*9*64 = 13,824 at 1e9 MAC/s = 13.824 us; bytes 4*(192 + 512 + 216) = 3,680
    # at 1e9 B/s = 3.68 us: compute-bound, + 1 us overhead = 14.824 us.
    # ReLU: 4*(512 + 512) = 4,096 bytes -> 4.096 us + 1 us = 5.096 us. Model call: 1 us.
    assert list(result.table["curve"]) == ["roofline", "roofline", "call_overhead"]
    assert list(result.table["seconds"]) == pytest.approx([14.824e-6, 5.096e-6, 1e-6])
    assert result.seconds == pytest.approx(20.92e-6)
    assert result.batch == 1


def test_predict_latency_builtin_network_and_swap():
    from costmodel.networks import network, swap

    net = network("vgg16_cifar")
    result = predict_latency(net, profile=_profile())
    _check(result)
    # one row per layer plus the model call
    assert len(result.table) == len(net.layers) + 1
    by_name = predict_latency("vgg16_cifar", profile=_profile())
    assert by_name.seconds == pytest.approx(result.seconds)
    swapped = predict_latency(swap("vgg16_cifar", conv3x3="ghost"), profile=_profile())
    _check(swapped)
    # batch 2: activations and MACs double, so compute-bound layers take longer
    assert predict_latency(net, profile=_profile(), batch=2).seconds > result.seconds


def test_predict_latency_bad_input():
    from torch import nn

    with pytest.raises(ValueError, match="model_or_network = 'nonet' is unknown"):
        predict_latency("nonet", profile=_profile())
    with pytest.raises(ValueError, match="input_shape = None is invalid"):
        predict_latency(nn.ReLU(), profile=_profile())


def test_measure_latency_positive_finite_and_mode_restored():
    from torch import nn

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    model.train()
    result = measure_latency(model, (1, 3, 8, 8), samples=4)
    assert result.kind == "measured" and math.isfinite(result.seconds) and result.seconds > 0
    assert result.spread is not None and result.spread >= 0
    assert result.table["seconds"].sum() == pytest.approx(result.seconds)
    assert model.training


# --- the network composition (netfit) ------------------------------------------------------------

def test_network_composition_applies_per_group_and_table_still_sums():
    import dataclasses

    from torch import nn

    from costmodel.latency.profile import NetworkComposition

    comp = NetworkComposition(scale_mac=2.0, scale_depthwise=3.0, scale_elementwise=0.5, per_layer_s=1e-6)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False))
    result = predict_latency(model, (1, 3, 8, 8), profile=dataclasses.replace(_profile(), network=comp))
    _check(result)
    # alone (roofline, hand-worked in test_predict_latency_hand_written_module_hand_worked):
    # conv 14.824 us, ReLU 5.096 us; depthwise: MACs 8*9*64 = 4,608 at 1e8 MAC/s = 46.08 us
    # (bytes 4*(512 + 512 + 72) = 4,384 -> 4.384 us: compute-bound) + 1 us = 47.08 us. Model call 1 us.
    assert list(result.table["alone_s"]) == pytest.approx([14.824e-6, 5.096e-6, 47.08e-6, 1e-6])
    assert list(result.table["alone_mac_s"]) == pytest.approx([14.824e-6, 0, 0, 0])
    assert list(result.table["alone_depthwise_s"]) == pytest.approx([0, 0, 47.08e-6, 0])
    # in a network: conv 2 * 14.824 + 1 = 30.648 us; ReLU 0.5 * 5.096 + 1 = 3.548 us;
    # depthwise 3 * 47.08 + 1 = 142.24 us; the model call is not composed (1 us).
    assert list(result.table["seconds"]) == pytest.approx([30.648e-6, 3.548e-6, 142.24e-6, 1e-6])
    assert result.seconds == pytest.approx(177.436e-6)


def test_network_rows_split_a_layer_by_op_group():
    """A built-in network layer with several ops (Ghost: a dense primary conv, a depthwise cheap
    op, BN/ReLU) splits its composed time alone over the groups in proportion to its ops."""
    from costmodel import Ghost
    from costmodel.latency.network import _group_columns
    from costmodel.latency.predict import op_rows, predict_op

    profile = _profile()
    ops = op_rows(Ghost(c_in=16, c_out=32, h=8, w=8), 1)
    seconds = [predict_op(r, profile) for r in ops]
    cols = _group_columns(ops, seconds, 2 * sum(seconds))  # a composed total twice the ops' sum
    assert sum(cols.values()) == pytest.approx(2 * sum(seconds))
    assert cols["alone_mac_s"] > 0 and cols["alone_depthwise_s"] > 0 and cols["alone_elementwise_s"] > 0
    # each group gets exactly twice its ops' own time
    dw = sum(t for r, t in zip(ops, seconds) if r["kind"] == "conv" and r["groups"] == r["c_in"] > 1)
    assert cols["alone_depthwise_s"] == pytest.approx(2 * dw)


def test_network_composition_fit_recovers_known_coefficients():
    import numpy as np

    from costmodel.latency.netfit import fit_network_composition

    # networks made from t = 1e-6 + 1.2 t_mac + 1.6 t_dw + 0.95 t_elem + 3e-6 * layers
    # + 2e-11 s per weight byte (columns: mac, depthwise, elementwise seconds, layers, weight bytes), exactly
    x = np.array([[1e-3, 2e-4, 3e-4, 20, 4e6], [5e-3, 1e-4, 9e-4, 50, 1e8], [2e-2, 3e-3, 2e-3, 90, 2e7],
                  [8e-3, 4e-3, 1e-4, 16, 6e7], [3e-3, 6e-4, 5e-4, 120, 1e6], [6e-3, 1e-3, 4e-4, 60, 3e8]])
    t = 1e-6 + x @ np.array([1.2, 1.6, 0.95, 3e-6, 2e-11])
    comp = fit_network_composition(x, t, 1e-6, ["a", "b", "c", "d", "e", "f"])
    assert (comp.scale_mac, comp.scale_depthwise, comp.scale_elementwise, comp.per_layer_s,
            comp.s_per_weight_byte) == pytest.approx((1.2, 1.6, 0.95, 3e-6, 2e-11), rel=1e-6)
    assert comp.n == 6 and comp.networks == ["a", "b", "c", "d", "e", "f"]
    assert fit_network_composition(x[:2], t[:2], 1e-6) is None  # 2 networks fit nothing


def test_old_one_scale_profile_loads_with_that_scale_for_every_group():
    from costmodel.latency.profile import NetworkComposition

    comp = NetworkComposition.from_dict({"scale": 0.9, "per_layer_s": 2e-6, "s_per_weight_byte": 2e-11, "n": 8})
    assert (comp.scale_mac, comp.scale_depthwise, comp.scale_elementwise, comp.per_layer_s, comp.n) == (
        0.9, 0.9, 0.9, 2e-6, 8)


def test_group_cv_never_scores_a_network_with_a_fit_that_saw_its_family():
    import numpy as np

    from costmodel.latency.netfit import group_cv

    x = np.array([[1e-3, 2e-4, 3e-4, 20, 0], [5e-3, 1e-4, 9e-4, 50, 0], [2e-2, 3e-3, 2e-3, 90, 0],
                  [8e-3, 4e-3, 1e-4, 16, 0], [3e-3, 6e-4, 5e-4, 120, 0], [4e-3, 1e-3, 7e-4, 30, 0]])
    t = x @ np.array([1.0, 1.5, 0.95, 2e-6, 0.0])
    t_bad = t.copy()
    t_bad[:2] *= 10  # family "a" runs 10x slower than the others' law
    cv = group_cv(x, t_bad, 0.0, ["a", "a", "b", "b", "c", "c"])
    # "a" is predicted from b and c only (the clean law): 10x below its own measurement
    assert cv[:2] == pytest.approx(t[:2], rel=1e-6)


def test_training_networks_run_at_an_input_size_never_evaluated():
    from costmodel.latency.evaluate import network_cases
    from costmodel.latency.netfit import TRAIN_RESOLUTION, training_networks

    train = training_networks()
    # ResNet-50 with DGC in its 1x1 slots is refused by the swap and skipped
    assert [label for label, _ in train] == [
        "ghostnet(width=0.5) @96", "ghostnet(width=1.3) @96", "mobilenet_v1(width=0.5) @96",
        "mobilenet_v1(width=0.75) @96", "resnet50(conv1x1=ghost) @96", "resnet50(conv1x1=conv, conv3x3=ghost) @96",
        "resnet50(conv1x1=tbc) @96", "resnet50(conv1x1=spconv) @96", "resnet50() @96", "vgg16() @96"]
    # no evaluated network runs at the training input size: the same architecture may be both
    # trained on and scored (the plain ResNet-50), never at the same size
    assert all(net.input_shape[-1] != TRAIN_RESOLUTION for _, net in network_cases())
    assert all(net.input_shape[-1] == TRAIN_RESOLUTION for _, net in train)


def test_filter_gather_is_added_as_timed_outside_every_fitted_factor():
    """DGC's filter gather (``features.AS_TIMED_KERNELS``) costs in a network what its cold line
    says: no design factor, no composition scale, no network group scale; the other ops get all
    of them. A profile without the cold line keeps the gather inside the factors."""
    import dataclasses

    from costmodel import DGC
    from costmodel.latency.network import in_network_seconds, layer_row
    from costmodel.latency.predict import op_rows, predict_op
    from costmodel.latency.profile import Composition, NetworkComposition, StreamCurve

    comp = NetworkComposition(scale_mac=2.0, scale_depthwise=3.0, scale_elementwise=0.5, per_layer_s=1e-6)
    design = Composition(scale=1.5, per_op_s=0.0, n=1, train_median_abs_pct=0.0, design_factors={"dgc": 2.0})
    cold = StreamCurve(overhead_s=0.0, s_per_byte=1e-9)
    profile = dataclasses.replace(_profile(), composition=design, network=comp, curves={"gather_elements_cold": cold})
    spec = DGC(c_in=16, c_out=16, k=3, h=4, w=4)
    row = layer_row(spec, profile)
    # 4 heads x 4 filters each x 8 kept channels (16 - floor(0.5 * 16)) x 9 = 1,152 elements,
    # read and written: 8 x 1,152 = 9,216 bytes at 1 ns per byte = 9.216 us (the cold line)
    assert row["as_timed_s"] == pytest.approx(9.216e-6)
    # hot, alone (roofline): 9,216 B at 1e9 B/s + 1 us call = 10.216 us
    assert row["as_timed_alone_s"] == pytest.approx(10.216e-6)
    # every other op: factor 2 x (1 us call + 1.5 x its roofline time), the gather counted out
    rest = sum(predict_op(r, profile) for r in op_rows(spec) if r.get("kernel") != "gather_elements")
    groups = sum(row[f"alone_{g}_s"] for g in ("mac", "depthwise", "elementwise"))
    assert groups == pytest.approx(2.0 * (1e-6 + 1.5 * rest))
    assert row["alone_s"] == pytest.approx(groups + 9.216e-6)
    expected = comp.layer_seconds({g: row[f"alone_{g}_s"] for g in ("mac", "depthwise", "elementwise")}) + 9.216e-6
    assert in_network_seconds(row, profile) == pytest.approx(expected)
    # without the cold line (a profile from before it) the gather stays inside the factors
    old = layer_row(spec, dataclasses.replace(profile, curves={}))
    assert old["as_timed_s"] == 0.0
    assert old["alone_s"] == pytest.approx(2.0 * (1e-6 + 1.5 * (rest + 10.216e-6)))


def test_network_composition_fit_takes_each_networks_fixed_time():
    import numpy as np

    from costmodel.latency.netfit import fit_network_composition

    # the same law as test_network_composition_fit_recovers_known_coefficients, with 0-40 us per
    # network outside it (the call + as-timed gathers): the fit subtracts each network's own
    x = np.array([[1e-3, 2e-4, 3e-4, 20, 4e6], [5e-3, 1e-4, 9e-4, 50, 1e8], [2e-2, 3e-3, 2e-3, 90, 2e7],
                  [8e-3, 4e-3, 1e-4, 16, 6e7], [3e-3, 6e-4, 5e-4, 120, 1e6], [6e-3, 1e-3, 4e-4, 60, 3e8]])
    fixed = np.array([1e-6, 41e-6, 1e-6, 11e-6, 21e-6, 1e-6])
    t = fixed + x @ np.array([1.2, 1.6, 0.95, 3e-6, 2e-11])
    comp = fit_network_composition(x, t, fixed)
    assert (comp.scale_mac, comp.scale_depthwise, comp.scale_elementwise, comp.per_layer_s,
            comp.s_per_weight_byte) == pytest.approx((1.2, 1.6, 0.95, 3e-6, 2e-11), rel=1e-6)


def test_windowed_pools_compose_with_the_mac_ops_and_bn_with_the_memory_ops():
    from costmodel.core import ops
    from costmodel.latency.features import time_group

    def row(op):
        return {"kind": op.kind, "macs": int(op.macs), "elem": int(op.elem), "reads": int(op.reads),
                "writes": int(op.writes), "kernel": op.kernel}

    # a loop-bound pool keeps its speed next to other layers; a BN streams its bytes
    assert time_group(row(ops.max_pool("p", 64, 112, 112, 2, 2, 0))) == "mac"
    assert time_group(row(ops.avg_pool("a", 64, 56, 56, 3, 1, 1))) == "mac"
    assert time_group(row(ops.batch_norm("bn", 64, 56, 56))) == "elementwise"
    assert time_group(row(ops.global_avg_pool("g", 64, 7, 7))) == "elementwise"


def test_filter_gather_in_a_network_takes_the_cold_line_and_names_it():
    import dataclasses

    from costmodel import DGC
    from costmodel.latency.network import layer_row
    from costmodel.latency.profile import StreamCurve

    cold = StreamCurve(overhead_s=0.0, s_per_byte=2e-9)
    row = layer_row(DGC(c_in=16, c_out=16, k=3, h=4, w=4), dataclasses.replace(_profile(), curves={"gather_elements_cold": cold}))
    # the gather moves 1,152 elements, 9,216 bytes read and written, at 2 ns per byte: 18.432 us
    assert row["as_timed_s"] == pytest.approx(18.432e-6)
    assert "gather_elements_cold" in row["curve"].split(", ")

def test_network_composition_names_its_weight_cap_in_kib():
    from costmodel.latency.profile import NetworkComposition

    # a 512 KiB L2 (AMD EPYC 7xx3) printed as "0 MiB" before: the cap is shown in KiB
    comp = NetworkComposition(scale_mac=1.0, scale_depthwise=1.0, scale_elementwise=1.0, per_layer_s=2e-6,
                              s_per_weight_byte=3.2e-10, weight_cap_bytes=524_288)
    assert comp.describe().endswith("+ 2.00 us + 320.0 ps per weight byte (at most 512 KiB, L2)")


def test_whole_design_sweep_gets_what_the_deadline_leaves():
    from costmodel.latency.calibrate import sweep_budget

    # default budget 55 s, target 170 s: 100 s spent (training sweep, fits, networks) leave
    # 170 - 100 - 30 (reserve for the final fits) = 40 s
    assert sweep_budget(55.0, 100.0) == pytest.approx(40.0)
    # a fast machine keeps the budget (170 - 70 - 30 = 70 > 55)
    assert sweep_budget(55.0, 70.0) == 55.0
    # a very slow one keeps the floor of 20 s
    assert sweep_budget(55.0, 150.0) == 20.0
    # --budget 100: the target grows by 2 x 45 = 90 s to 260 s: 260 - 150 - 30 = 80 s
    assert sweep_budget(100.0, 150.0) == pytest.approx(80.0)


def test_calibrate_prints_where_its_time_went(monkeypatch, tmp_path, capsys):
    from costmodel.cli import main
    from costmodel.latency import calibrate as calibrate_module

    meta = {"seconds": 168.0, "network_passes": 24,
            "phases_s": {"clock_and_peaks": 14.2, "training_sweep": 55.4, "fit": 16.1, "network_sweep": 45.0,
                         "composition_sweep": 25.3, "final_fits": 12.0}}
    monkeypatch.setattr(calibrate_module, "calibrate", lambda **_: Profile(
        device="cpu", device_name="test cpu", threads=1, torch_version="x", peaks=_profile().peaks, meta=meta))
    assert main(["calibrate", "--profile", str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert ("where the time went: clock and peaks 14 s, training sweep 55 s, fit 16 s, training networks "
            "(24 passes) 45 s, designs 25 s, final fits 12 s") in out
    assert "took 168.0 s" in out


def test_network_eval_stops_its_passes_at_the_budget(monkeypatch, tmp_path):
    import time

    import torch

    from costmodel.latency import evaluate

    path = _profile().save(tmp_path / "p.json")
    seen = {}

    class Measured(Exception):
        pass

    def fake(cases, profile, kinds, **measure):
        seen.update(measure, n=len(cases))
        raise Measured

    monkeypatch.setattr(evaluate, "network_cases", lambda: [])
    monkeypatch.setattr(evaluate, "measure_with_anchors", fake)
    tiny = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    before = time.perf_counter()
    with pytest.raises(Measured):
        evaluate.network_eval(profile_path_=str(path), extra=[("tiny", tiny, (1, 3, 8, 8))], budget_s=30,
                              show_progress=False)
    (at, floor), = seen["deadlines"]
    # one deadline, 30 s after the call began, with its floor of NETWORK_MIN_SAMPLES = 20 passes
    assert floor == 20 and before + 30 <= at <= time.perf_counter() + 30
    assert seen["n"] == 1 and seen["until_share"] == 0.95
    # no budget: no deadline; a budget of 0 s is refused before anything is timed
    with pytest.raises(Measured):
        evaluate.network_eval(profile_path_=str(path), extra=[("tiny", tiny, (1, 3, 8, 8))], budget_s=None,
                              show_progress=False)
    assert seen["deadlines"] == []
    with pytest.raises(ValueError, match="budget_s = 0 is invalid: allowed is a number of seconds > 0"):
        evaluate.network_eval(profile_path_=str(path), budget_s=0)


def test_composition_order_opens_with_rounds_of_every_design():
    from costmodel.latency.calibrate import SMALL_ROUNDS_FIRST, composition_order

    small = [[f"{d}{i}" for i in range(6)] for d in "abc"]  # 3 designs x 6 random configs
    big = [[f"{d}W{i}" for i in range(2)] for d in "abc"]  # x 2 network-sized ones
    order = composition_order(small, big, seed=0)
    # every config once: 3 x 6 + 3 x 2 = 24
    assert sorted(order) == sorted(sum(small, []) + sum(big, []))
    assert SMALL_ROUNDS_FIRST == 2
    # rounds 1 and 2: each design's first random config, then its second, designs in one order
    first, second = order[:3], order[3:6]
    assert sorted(c[0] for c in first) == ["a", "b", "c"] and [c[1:] for c in first] == ["0"] * 3
    assert [c[0] for c in second] == [c[0] for c in first] and [c[1:] for c in second] == ["1"] * 3
    # then the first network-sized round, a random round (third configs), the second
    # network-sized round, and the last three random rounds: 6 + 3 + 3 + 3 + 9 = 24
    assert [c[1:] for c in order[6:9]] == ["W0"] * 3 and [c[1:] for c in order[9:12]] == ["2"] * 3
    assert [c[1:] for c in order[12:15]] == ["W1"] * 3
    assert [c[1:] for c in order[15:]] == ["3"] * 3 + ["4"] * 3 + ["5"] * 3
