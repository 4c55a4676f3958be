"""The latency model's coverage of network-sized layers (issue 16): wide training convs, pool
windows, the weight-byte term, saturating (hinge) features, per-design composition factors and
the network composition fitted on MEASURED layer times. Synthetic data only: no timing here."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from costmodel.designs.conv import Conv
from costmodel.latency.profile import Composition, Profile


def _profile(**kw) -> Profile:
    """A made-up profile with round numbers (not a measurement)."""
    peaks = {"dense_macs_per_s": 1e9, "depthwise_macs_per_s": 1e8, "bandwidth_bytes_per_s": 1e9,
             "call_overhead_s": 1e-6, "l2_bytes": 2.0 ** 21}
    return Profile(device="cpu", device_name="test cpu", threads=1, torch_version="x", peaks=peaks, **kw)


def test_wide_training_convs_reach_network_sizes_under_the_cap():
    from costmodel.latency.sampler import WIDE_MAX_MACS, conv_item

    rng = random.Random(5)
    items = [conv_item(rng, cls) for cls in ("dense", "pointwise", "depthwise", "group") for _ in range(300)]
    macs = [it["batch"] * it["cout"] * (it["cin"] // it["groups"]) * it["k"] * it["kw"]
            * ((it["h"] + 2 * it["pad"] - it["k"]) // it["stride"] + 1)
            * ((it["h"] + 2 * it["pad_w"] - it["kw"]) // it["stride"] + 1) for it in items]
    assert max(macs) <= WIDE_MAX_MACS
    assert all(it["cin"] % it["groups"] == 0 and it["cout"] % it["groups"] == 0 for it in items)
    assert all(it["groups"] == it["cin"] for it in items[600:900])  # depthwise stays depthwise
    # a VGG-like 3x3 conv on a 96-128 pixel image with >= 32 channels each side is drawn
    dense = items[:300]
    assert any(it["h"] >= 96 and min(it["cin"], it["cout"]) >= 32 and it["k"] == 3 for it in dense)


def test_pool_training_items_use_the_downsampling_windows():
    from costmodel.latency.cases import training_case
    from costmodel.latency.features import pool_window_key
    from costmodel.latency.sampler import POOL_MIN_INPUT, POOL_WINDOWS, stream_items, training_plan

    # the default plan (5 per kind) times each pool window at least three times: rounds of the
    # 3 windows large (>= 2^17 input elements), small (2^12 to 2^15), large
    pools = [it for kind, it in training_plan(seed=3) if kind == "stream" and "pool" in it]
    for kind in ("max_pool2d", "avg_pool2d"):
        mine = [it for it in pools if it["kind"] == kind]
        windows = [tuple(it["pool"]) for it in mine]
        assert sorted(set(windows)) == sorted(POOL_WINDOWS) and min(map(windows.count, POOL_WINDOWS)) >= 3
        sizes = [it["c"] * it["h"] ** 2 for it in mine]
        assert all(n >= POOL_MIN_INPUT for n in sizes[:3] + sizes[6:9])
        assert all(1 << 12 <= n <= 1 << 15 for n in sizes[3:6])
    # one per kind: round 0 has all 17 elementwise kinds, rounds 1-8 the 2 windowed pools only
    # (3 x 3 windows = 9 rounds): 17 + 8 x 2 = 33 items
    assert len(stream_items(random.Random(0), 1)) == 33
    module, (x,), row = training_case("stream", {"kind": "max_pool2d", "c": 16, "h": 8, "pool": [2, 2, 0]})
    assert tuple(module(x).shape) == (1, 16, 4, 4)
    # 16 x 4 x 4 = 256 outputs, 2 x 2 = 4 comparisons each; reads 16 x 8 x 8 = 1024
    assert (row["writes"], row["elem"], row["reads"]) == (256, 1024, 1024)
    assert pool_window_key(row) == "max_pool2d/k2s2"  # 1024 / 256 = 4 = 2^2 both ways
    # items saved before pool windows existed are the pools they were: max 3x3/1, average 2x2/2
    module, (x,), row = training_case("stream", {"kind": "max_pool2d", "c": 4, "h": 6})
    assert tuple(module(x).shape) == (1, 4, 6, 6) and row["elem"] == 9 * 4 * 36
    assert pool_window_key(row) == "max_pool2d/k3s1"  # 9 comparisons per output, 144 reads for 144 outputs
    module, (x,), row = training_case("stream", {"kind": "avg_pool2d", "c": 4, "h": 6})
    assert tuple(module(x).shape) == (1, 4, 3, 3) and row["elem"] == 4 * 4 * 9  # 2x2 window, 36 outputs


def test_hinge_features_saturate_instead_of_turning_down():
    from costmodel.latency.cases import conv_row
    from costmodel.latency.features import conv_features

    def feats(c, h):
        return conv_features(conv_row(dict(cin=c, cout=c, k=3, kw=3, h=h, stride=1, groups=1, batch=1,
                                           pad=1, pad_w=1, transpose=False)))

    # 8 x 8 = 64 output pixels: log2 = 6, 4 doublings short of the 1024-pixel knee
    assert feats(16, 8)["few_pixels"] == pytest.approx(4.0)
    assert feats(16, 112)["few_pixels"] == 0.0  # 12544 pixels: past the knee
    # 16 channels: log2 = 4, 2 doublings short of 64; 256 channels: none
    assert feats(16, 8)["few_cin"] == pytest.approx(2.0) and feats(256, 8)["few_cout"] == 0.0


def test_efficiency_fit_recovers_a_weight_byte_cost():
    from costmodel.latency.fit import fit_efficiency_at

    # dense convs at constant efficiency 0.5 of a 1e9 MAC/s peak, 5 us overhead and
    # 2e-10 s per weight byte (fp32: 4 bytes a weight), nothing per activation byte
    rows = []
    for cin, cout, h in [(16, 16, 8), (64, 64, 4), (256, 256, 2), (32, 64, 16), (128, 512, 2),
                         (512, 512, 1), (8, 32, 32), (64, 128, 8), (256, 64, 4), (16, 256, 16),
                         (512, 128, 2), (32, 32, 32)]:
        params = cin * cout * 9
        macs = params * h * h
        rows.append({"kind": "conv", "c_in": cin, "c_out": cout, "k": 3, "k_w": 3, "groups": 1, "stride": 1,
                     "h_out": h, "w_out": h, "macs": macs, "params": params, "reads": cin * h * h,
                     "mem_bytes": 4 * (cin * h * h + cout * h * h + params),
                     "measured_s": 5e-6 + 2e-10 * 4 * params + macs / (1e9 * 0.5)})
    curve = fit_efficiency_at(pd.DataFrame(rows), "dense", 1e9, 2 ** 21, ridge=1e-3)
    pred = np.array([curve.seconds(r, 1e9, 2 ** 21) for r in rows])
    truth = np.array([r["measured_s"] for r in rows])
    assert np.max(np.abs(pred / truth - 1)) < 0.02
    # the 512 x 512 conv on one pixel: 2.36M weights, 9.4 MB: 1.9 ms of its 6.6 ms is weights
    assert curve.s_per_weight_byte == pytest.approx(2e-10, rel=0.15)


def test_group_curves_fit_a_cost_per_group():
    from costmodel.latency.fit import fit_efficiency_at

    # 1x1 grouped convs at efficiency 0.5 of a 1e9 MAC/s peak, 5 us overhead and 2.5 us per
    # group (a kernel that loops over the groups): 64 groups on 7 x 7 pay 160 us of loop alone
    rows = []
    for cin, cout, g, h in [(576, 64, 64, 7), (576, 64, 64, 28), (128, 128, 4, 14), (256, 256, 32, 7),
                            (64, 64, 2, 56), (512, 512, 16, 4), (96, 96, 8, 28), (192, 64, 32, 14),
                            (384, 384, 2, 7), (128, 256, 16, 28), (64, 128, 8, 8), (256, 128, 4, 32)]:
        params = cin * cout // g
        macs = params * h * h
        rows.append({"kind": "conv", "c_in": cin, "c_out": cout, "k": 1, "k_w": 1, "groups": g, "stride": 1,
                     "h_out": h, "w_out": h, "macs": macs, "params": params,
                     "mem_bytes": 4 * (cin * h * h + cout * h * h + params),
                     "measured_s": 5e-6 + 2.5e-6 * g + macs / (1e9 * 0.5)})
    curve = fit_efficiency_at(pd.DataFrame(rows), "group", 1e9, 2 ** 21, ridge=1e-3)
    pred = np.array([curve.seconds(r, 1e9, 2 ** 21) for r in rows])
    truth = np.array([r["measured_s"] for r in rows])
    assert np.max(np.abs(pred / truth - 1)) < 0.03
    assert curve.s_per_group == pytest.approx(2.5e-6, rel=0.15)
    # a dense curve has no per-group term (one group: it would be the overhead again)
    dense = fit_efficiency_at(pd.DataFrame(rows).assign(groups=1), "dense", 1e9, 2 ** 21, ridge=1e-3)
    assert dense.s_per_group == 0.0


def test_an_older_profile_predicts_grouped_convs_from_its_own_keys():
    from costmodel.latency.cases import conv_row
    from costmodel.latency.predict import op_curve
    from costmodel.latency.profile import EfficiencyCurve

    blocked = EfficiencyCurve(overhead_s=1e-6, s_per_byte=0.0, coef={"const": 0.0})
    unblocked = EfficiencyCurve(overhead_s=2e-6, s_per_byte=0.0, coef={"const": -1.0})
    old = _profile(curves={"group/onednn": blocked, "group/onednn_unblocked": unblocked})

    def row(cin, cout, groups):  # a 3x3 grouped conv on 14 x 14 (oneDNN's path)
        return conv_row(dict(cin=cin, cout=cout, k=3, kw=3, h=14, stride=1, groups=groups, batch=1, pad=1,
                             pad_w=1, transpose=False))

    # 8 and 8 channels per group: powers of two below a vector, "aligned" under the old rule,
    # so the old profile's blocked curve (on AVX2 the new key is that key itself)
    assert op_curve(row(32, 32, 4), old) == ("group/onednn", blocked)
    # 6 and 16: not aligned under the old rule -> its unblocked curve
    assert op_curve(row(48, 128, 8), old) == ("group/onednn_unblocked", unblocked)


def test_new_fitted_fields_survive_save_and_load(tmp_path):
    import numpy as np

    from costmodel.latency.netfit import fit_network_composition
    from costmodel.latency.profile import EfficiencyCurve, load_profile

    # three networks whose time is 1 us + 10 ps per capped weight byte: the fit stores its cap
    x = np.array([[1e-3, 0, 0, 10, 1e6], [2e-3, 0, 0, 20, 2e6], [3e-3, 1e-4, 0, 30, 1e5]])
    comp = fit_network_composition(x, x @ [1, 1, 1, 0, 1e-11] + 1e-6, 1e-6, ["a", "b", "c"], weight_cap=2 ** 21)
    assert comp.weight_cap_bytes == 2 ** 21
    curve = EfficiencyCurve(overhead_s=1e-6, s_per_byte=0.0, coef={"const": 0.0}, s_per_group=2.5e-6)
    back = load_profile(_profile(curves={"group/onednn_gemm": curve}, network=comp).save(tmp_path / "p.json"))
    assert back.curves["group/onednn_gemm"].s_per_group == 2.5e-6
    assert back.network.weight_cap_bytes == 2 ** 21


def test_design_factors_shrink_toward_one_and_clip():
    from costmodel.latency.fit import design_factors

    # "a": three configs all 1.5x slower than composed: exp(3/4 * ln 1.5) = 1.5 ** 0.75 = 1.3554
    # "b": one config 9x: exp(1/2 * ln 9) = 3, clipped to 2; "c": two configs 0.8x and 1.25x:
    # median of the logs = 0: factor 1
    got = design_factors(["a", "a", "a", "b", "c", "c"], np.array([1.5, 1.5, 1.5, 9.0, 0.8, 1.25]))
    assert got["a"] == pytest.approx(1.5 ** 0.75) and got["b"] == 2.0 and got["c"] == pytest.approx(1.0)


def test_a_design_factor_scales_that_design_only():
    from costmodel.latency.predict import predict_spec

    plain = _profile(composition=Composition(scale=1.0, per_op_s=0.0))
    with_factor = _profile(composition=Composition(scale=1.0, per_op_s=0.0, design_factors={"conv": 1.25}))
    spec = Conv(c_in=8, c_out=16, k=3, h=10, w=10)
    # the whole composed time (call included) times the design's factor
    assert predict_spec(spec, with_factor) == pytest.approx(1.25 * predict_spec(spec, plain))
    assert with_factor.composition.factor("ghost") == 1.0 and with_factor.composition.factor(None) == 1.0


def test_composition_factors_saved_and_loaded(tmp_path):
    from costmodel.latency.profile import load_profile

    prof = _profile(composition=Composition(scale=1.1, per_op_s=2e-6, design_factors={"dgc": 1.4}))
    back = load_profile(prof.save(tmp_path / "p.json"))
    assert back.composition.design_factors == {"dgc": 1.4}


def test_network_composition_from_measured_layer_times():
    from costmodel.latency.features import TIME_GROUPS
    from costmodel.latency.netfit import NetworkSweep, measured_design_matrix

    def table(rows):
        return pd.DataFrame([{"kind": k, "alone_s": sum(parts), "weight_bytes": w,
                              **{f"alone_{g}_s": p for g, p in zip(TIME_GROUPS, parts)}}
                             for k, parts, w in rows])

    # network 1: a layer predicted 30 us (20 mac + 10 elementwise) measured 60 us alone, so each
    # of its groups doubles (40, 0, 20); a residual add with no module of its own (NaN) keeps
    # its predicted 5 us elementwise; the model-call row counts in no column
    t1 = table([("conv", (20e-6, 0.0, 10e-6), 864), ("add", (0.0, 0.0, 5e-6), 0), ("call", (0.0, 0.0, 1e-6), 0)])
    sweep = NetworkSweep(names=["n1"], tables=[t1], measured=np.array([1e-4]),
                         alone=[np.array([60e-6, np.nan])], layers=pd.DataFrame())
    x = measured_design_matrix(sweep)
    # columns: mac, depthwise, elementwise seconds, layers (the call row is not one), weight bytes
    assert x[0] == pytest.approx([40e-6, 0.0, 25e-6, 2.0, 864.0])


def test_network_composition_charges_each_layers_weight_bytes():
    import dataclasses

    from torch import nn

    from costmodel.latency.network import predict_latency
    from costmodel.latency.profile import NetworkComposition

    plain = NetworkComposition(scale_mac=1.0, scale_depthwise=1.0, scale_elementwise=1.0, per_layer_s=0.0)
    heavy = dataclasses.replace(plain, s_per_weight_byte=1e-9)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU())
    a = predict_latency(model, (1, 3, 8, 8), profile=_profile(network=plain))
    b = predict_latency(model, (1, 3, 8, 8), profile=_profile(network=heavy))
    # the conv's 8 x 3 x 3 x 3 = 216 fp32 weights are 864 bytes: + 864 ns; the ReLU has none
    assert b.seconds - a.seconds == pytest.approx(864e-9, rel=1e-9)
    assert b.table["seconds"].sum() == pytest.approx(b.seconds)


def test_network_composition_caps_weight_bytes_at_l2():
    from costmodel.latency.features import TIME_GROUPS
    from costmodel.latency.netfit import NetworkSweep, measured_design_matrix
    from costmodel.latency.profile import NetworkComposition

    comp = NetworkComposition(scale_mac=1.0, scale_depthwise=1.0, scale_elementwise=1.0, per_layer_s=0.0,
                              s_per_weight_byte=1e-11, weight_cap_bytes=2 * 2**20)
    # a VGG classifier layer of 64 MiB of weights pays for 2 MiB only (it streams them alone too):
    # 2 * 2**20 bytes * 10 ps = 20.97 us on top of its 1 ms alone
    assert comp.layer_seconds({"mac": 1e-3}, 64 * 2**20) == pytest.approx(1e-3 + 2 * 2**20 * 1e-11)
    # a 1 MiB layer pays for all of it: 10.49 us
    assert comp.layer_seconds({"mac": 1e-3}, 2**20) == pytest.approx(1e-3 + 2**20 * 1e-11)
    # a profile saved before the cap (None) charges every byte: 64 MiB * 10 ps = 671 us
    old = NetworkComposition(scale_mac=1.0, scale_depthwise=1.0, scale_elementwise=1.0, per_layer_s=0.0,
                             s_per_weight_byte=1e-11)
    assert old.layer_seconds({"mac": 1e-3}, 64 * 2**20) == pytest.approx(1e-3 + 64 * 2**20 * 1e-11)
    # the fit's design matrix caps the same way: layers of 3 MiB and 1 KiB -> 2 MiB + 1 KiB
    t = pd.DataFrame([{"kind": "conv", "alone_s": 1e-4, "weight_bytes": w, **{f"alone_{g}_s": 0.0 for g in TIME_GROUPS}}
                      for w in (3 * 2**20, 1024)])
    sweep = NetworkSweep(names=["n"], tables=[t], measured=np.array([1e-3]), alone=[np.array([1e-4, 1e-4])],
                         layers=pd.DataFrame())
    assert measured_design_matrix(sweep, weight_cap=2 * 2**20)[0, -1] == 2 * 2**20 + 1024


# --- drift: reference ops in every calibration chunk, anchors of the evaluated kind ---------------

def _est(seconds: float):
    from costmodel.latency.protocol import summarize

    return summarize([seconds] * 4)  # four equal samples: the estimate is that time


def test_reference_normalizes_each_chunk_to_the_first_chunks_machine_speed():
    from costmodel.latency.reference import Reference

    ref = Reference(cases=[None, None])
    # chunk 1: two items, references at 100 and 200 us -> factor 1, items unchanged
    first = ref.normalize([_est(50e-6), _est(80e-6), _est(100e-6), _est(200e-6)])
    assert [e.seconds for e in first] == pytest.approx([50e-6, 80e-6])
    # chunk 2: the machine is slower, references 1.2x and 1.1x: median 1.15 -> items / 1.15
    second = ref.normalize([_est(115e-6), _est(120e-6), _est(220e-6)])
    assert second[0].seconds == pytest.approx(100e-6)
    assert second[0].times == pytest.approx((100e-6,) * 4)  # every sample time scaled alike
    # the median of the chunk factors 1 and 1.15: 1.075; their 25th percentile 1 + 0.25 x 0.15 = 1.0375
    # and each reference op's own ratio per chunk: 1 and 1 first, then 120/100 and 220/200
    assert ref.summary() == {"chunks": 2, "min": 1.0, "max": pytest.approx(1.15), "median": pytest.approx(1.075),
                             "quick": pytest.approx(1.0375), "remeasured": 0, "factors": [1.0, pytest.approx(1.15)],
                             "op_ratios": [[1.0, 1.0], [pytest.approx(1.2), pytest.approx(1.1)]]}


def test_a_disturbed_chunk_is_measured_again_and_the_calmer_run_kept(monkeypatch):
    from costmodel.latency import protocol
    from costmodel.latency.reference import MAX_REMEASURES, Reference, measure_normalized

    ref = Reference(cases=[None])
    ref.normalize([_est(100e-6)])  # chunk 1: the reference at 100 us (factor 1)
    ref.normalize([_est(102e-6)])  # chunk 2: 1.02
    runs = []

    def fake(cases, **_):  # chunk 3 first at 1.30x (item 130 us), then at 1.04x (item 104 us)
        runs.append(1)
        t = 1.30 if len(runs) == 1 else 1.04
        return [_est(t * 100e-6), _est(t * 100e-6)]

    monkeypatch.setattr(protocol, "measure_interleaved", fake)
    # median of 1 and 1.02 is 1.01; 1.30 / 1.01 is 29% off (> DISTURBED = 8%): measured again,
    # and 1.04 (3% off) is kept: the item 104 us / 1.04 = 100 us
    out = measure_normalized([("item", None)], ref)
    assert len(runs) == 2 and out[0].seconds == pytest.approx(100e-6) and ref.remeasured == 1
    # with retry off, or once MAX_REMEASURES chunks were measured again, it is measured once
    runs.clear()
    measure_normalized([("item", None)], ref, retry=False)
    assert len(runs) == 1
    ref.remeasured = MAX_REMEASURES
    runs.clear()
    measure_normalized([("item", None)], ref)
    assert len(runs) == 1


def test_a_faster_chunk_is_not_measured_again(monkeypatch):
    from costmodel.latency import protocol
    from costmodel.latency.reference import Reference, measure_normalized

    ref = Reference(cases=[None])
    ref.normalize([_est(100e-6)])  # chunk 1: the reference at 100 us (factor 1)
    ref.normalize([_est(98e-6)])  # chunk 2: 0.98
    runs = []

    def fake(cases, **_):  # chunk 3 at 0.70x: the machine got faster (item 70 us)
        runs.append(1)
        return [_est(70e-6), _est(70e-6)]

    monkeypatch.setattr(protocol, "measure_interleaved", fake)
    # median of 1 and 0.98 is 0.99; 0.70 / 0.99 is 29% faster: not disturbed, measured once,
    # and normalized by its own factor 0.70: the item 70 us / 0.70 = 100 us
    out = measure_normalized([("item", None)], ref)
    assert len(runs) == 1 and ref.remeasured == 0 and out[0].seconds == pytest.approx(100e-6)


def test_anchors_cover_every_op_group():
    from costmodel.latency.calibrate import pick_anchors

    # 30 ops of each group (a dense 3x3 conv, a depthwise 3x3 conv, a ReLU), times 1..30 us
    rows = []
    for group, kind, groups, macs in (("mac", "conv", 1, 1000), ("depthwise", "conv", 16, 1000), ("elementwise", "relu", 1, 0)):
        for i in range(30):
            rows.append({"kind": kind, "macs": macs, "c_in": 16, "c_out": 16, "k": 3, "k_w": 3, "groups": groups,
                         "stride": 1, "h_out": 4, "w_out": 4, "item": (kind, {"group": group, "i": i}),
                         "measured_s": (i + 1) * 1e-6})
    anchors = pick_anchors(pd.DataFrame(rows), count=24)
    assert [a["spec"]["group"] for a in anchors] == ["mac"] * 8 + ["depthwise"] * 8 + ["elementwise"] * 8
    # every n-th of 30 by time with n = 30 // 8 = 3, from index 1: 2, 5, 8 ... 23 us
    assert [a["s"] for a in anchors[:8]] == pytest.approx([(2 + 3 * j) * 1e-6 for j in range(8)])


def test_design_anchor_round_trip():
    from costmodel.latency.calibrate import pick_design_anchors, spec_fields, spec_from

    spec = Conv(c_in=8, c_out=24, k=5, h=12, w=12, bn=True)
    fields = spec_fields(spec)
    assert fields["c_out"] == 24 and fields["k"] == 5 and "dtype_bytes" not in fields
    assert spec_from("conv", fields) == spec
    assert spec_from("conv", {"c_in": -3}) is None  # a config the design refuses now: skipped
    frame = pd.DataFrame({"design": ["conv"] * 4, "fields": [fields] * 4, "measured_s": [4e-6, 1e-6, 3e-6, 2e-6]})
    # count 2 of 4 by time (1, 2, 3, 4 us): step 2, from index 1: 2 us and 4 us
    assert [a["s"] for a in pick_design_anchors(frame, count=2)] == [2e-6, 4e-6]


def test_drift_is_the_median_ratio_of_anchor_times():
    from costmodel.latency.evaluate import drift_of

    anchors = [{"s": 1e-6}, {"s": 2e-6}, {"s": 4e-6}]
    # now 1.1, 0.9 and 1.3 times: median 1.1
    assert drift_of(anchors, [_est(1.1e-6), _est(1.8e-6), _est(5.2e-6)]) == pytest.approx(1.1)
    assert drift_of([], []) is None


def test_wide_design_configs_are_network_sized():
    from costmodel.latency.sampler import WIDE_DESIGN_SPATIAL, sample_specs

    wide = sample_specs(Conv, 6, seed=1, max_macs=480_000_000, wide=True)
    small = sample_specs(Conv, 6, seed=1)
    assert len(wide) == 6 and all(s.h in WIDE_DESIGN_SPATIAL for s in wide)
    # Conv's default is 64 channels; wide factors are 1-4x (64-256), the held-out ones 0.25-2x
    assert all(s.c_out >= 64 for s in wide) and all(s.macs() <= 480_000_000 for s in wide)
    assert {s.h for s in small} <= {7, 14, 28, 56}


def test_profile_at_another_machine_speed_scales_every_fitted_time():
    from costmodel.latency.predict import predict_op
    from costmodel.latency.profile import EfficiencyCurve, NetworkComposition, StreamCurve
    from costmodel.latency.reference import at_speed

    eff = EfficiencyCurve(overhead_s=2e-6, s_per_byte=1e-11, s_per_weight_byte=3e-11, coef={"const": -0.5},
                          log_eff_range=(-1.0, 0.0), s_per_group=1e-6)
    relu = StreamCurve(overhead_s=1e-6, s_per_byte=2e-11, s_per_spill_byte=1e-11, s_per_op=1e-10)
    prof = _profile(curves={"dense": eff, "relu": relu},
                    composition=Composition(scale=1.1, per_op_s=3e-6, design_factors={"dgc": 1.3}),
                    network=NetworkComposition(1.0, 1.2, 1.1, 5e-6, 2e-11),
                    meta={"anchors": [{"kind": "conv", "spec": {}, "s": 1e-5}], "network_anchors": [{"name": "n", "s": 0.02}]})
    slow = at_speed(prof, 2.0)
    conv = {"kind": "conv", "c_in": 16, "c_out": 16, "k": 3, "k_w": 3, "groups": 1, "stride": 1, "h_out": 8,
            "w_out": 8, "macs": 147456, "params": 2304, "reads": 1024, "writes": 1024, "elem": 0,
            "mem_bytes": 4 * (1024 + 1024 + 2304)}
    relu_row = {"kind": "relu", "macs": 0, "elem": 1024, "reads": 1024, "writes": 1024, "params": 0, "mem_bytes": 8192}
    # every fitted time doubles: overhead, byte terms, and MACs / (peak * efficiency / 2)
    assert predict_op(conv, slow) == pytest.approx(2 * predict_op(conv, prof), rel=1e-12)
    assert predict_op(relu_row, slow) == pytest.approx(2 * predict_op(relu_row, prof), rel=1e-12)
    assert slow.composition.per_op_s == pytest.approx(6e-6) and slow.composition.scale == 1.1
    assert slow.composition.design_factors == {"dgc": 1.3}  # ratios do not change
    assert (slow.network.per_layer_s, slow.network.s_per_weight_byte) == pytest.approx((1e-5, 4e-11))
    assert slow.meta["anchors"][0]["s"] == pytest.approx(2e-5) and slow.meta["network_anchors"][0]["s"] == 0.04


def test_predict_latency_scaled_by_a_drift_factor():
    from torch import nn

    from costmodel.latency.network import predict_latency

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU())
    plain = predict_latency(model, (1, 3, 8, 8), profile=_profile())
    slow = predict_latency(model, (1, 3, 8, 8), profile=_profile(), drift=1.25)
    # every row times 1.25, so the total too; the table still sums to it
    assert slow.seconds == pytest.approx(1.25 * plain.seconds) and slow.conditions["drift"] == 1.25
    assert slow.table["seconds"].sum() == pytest.approx(slow.seconds)
    with pytest.raises(ValueError, match=r"drift = -1 is invalid: allowed is a finite number > 0"):
        predict_latency(model, (1, 3, 8, 8), profile=_profile(), drift=-1)


def test_machine_drift_needs_anchors():
    from costmodel.latency.evaluate import machine_drift

    with pytest.raises(ValueError, match="no anchors to re-time.*run `costmodel calibrate`"):
        machine_drift(_profile())
    with pytest.raises(ValueError, match="anchors = 'layers' is invalid: allowed is one of networks, designs, ops"):
        machine_drift(_profile(), anchors="layers")


def test_regressor_uses_the_features_it_was_trained_on():
    from costmodel.latency.cases import conv_row
    from costmodel.latency.features import CONV_FEATURES, SQUARE_FEATURES, regressor_x
    from costmodel.latency.profile import Regressor

    row = conv_row(dict(cin=16, cout=16, k=3, kw=3, h=8, stride=1, groups=1, batch=1, pad=1, pad_w=1, transpose=False))
    # 64 output pixels: the hinge "few_pixels" is 10 - 6 = 4; the old square "sq_hw" is 6^2 / 10 = 3.6
    assert regressor_x(row, 2 ** 21)[CONV_FEATURES.index("few_pixels")] == pytest.approx(4.0)
    assert regressor_x(row, 2 ** 21, SQUARE_FEATURES)[SQUARE_FEATURES.index("sq_hw")] == pytest.approx(3.6)
    # a one-tree regressor that learnt r = 0.1 * (its 14th feature) at 0, 3.6 and 4: the hinge one sees 4 -> 0.4,
    # one saved before the hinges (features None) sees the square 3.6 -> 0.36
    new = Regressor(kind="random_forest", params={"n_estimators": 1, "max_features": 1.0, "bootstrap": False},
                    x=[[0.0] * 17] + [[0.0] * 13 + [v] + [0.0] * 3 for v in (3.6, 4.0)],
                    r=[0.0, 0.36, 0.4], features=list(CONV_FEATURES))
    old = Regressor(kind=new.kind, params=new.params, x=new.x, r=new.r)
    assert new.correction(row, 2 ** 21) == pytest.approx(0.4) and old.correction(row, 2 ** 21) == pytest.approx(0.36)


def test_network_anchors_are_rebuilt_at_the_profiles_batch():
    from costmodel.latency.evaluate import network_anchor_cases
    from costmodel.latency.netfit import training_networks

    name = training_networks()[0][0]
    _, cases = network_anchor_cases(_profile(batch=8, meta={"network_anchors": [{"name": name, "s": 1e-2}]}))
    assert cases[0][1].shape[0] == 8  # timed at batch 8 by calibrate: re-timed at batch 8


def test_pick_anchors_of_nothing_is_no_anchors():
    from costmodel.latency.calibrate import pick_anchors

    empty = pd.DataFrame({"kind": [], "macs": [], "item": [], "measured_s": []})
    assert pick_anchors(empty) == []


def test_cli_drift_without_predict_is_one_line(capsys):
    from costmodel.cli import main

    assert main(["latency", "ghostnet", "--drift"]) == 2
    err = capsys.readouterr().err
    assert "--drift is invalid without --predict" in err and "Traceback" not in err


def test_one_odd_training_op_does_not_bend_an_efficiency_curve(monkeypatch):
    import itertools

    from costmodel.latency import fit

    # 26 dense 3x3 convs (a grid of channels and sizes, at most 4e8 MACs) of one law:
    # 5 us + MACs / (0.5 * 1e9 MAC/s), except the 256 -> 512 conv at 2 px, which ran 3x slower
    # than the law (a 38 MB-weight conv at a few pixels did that on the VM)
    geometry = [(cin, cout, h) for cin, cout, h in itertools.product((16, 64, 256), (32, 128, 512), (2, 8, 32))
                if cin * cout * 9 * h * h <= 4e8]
    odd = geometry.index((256, 512, 2))
    rows = []
    for i, (cin, cout, h) in enumerate(geometry):
        params = cin * cout * 9
        macs = params * h * h
        rows.append({"kind": "conv", "c_in": cin, "c_out": cout, "k": 3, "k_w": 3, "groups": 1, "stride": 1,
                     "h_out": h, "w_out": h, "macs": macs, "params": params, "reads": cin * h * h,
                     "mem_bytes": 4 * (cin * h * h + cout * h * h + params),
                     "measured_s": (5e-6 + macs / (1e9 * 0.5)) * (3.0 if i == odd else 1.0)})
    frame = pd.DataFrame(rows)
    others = [r for i, r in enumerate(rows) if i != odd]
    assert len(others) == 25

    def worst_error(curve) -> float:
        return max(abs(curve.seconds(r, 1e9, 2 ** 21) / r["measured_s"] - 1) for r in others)

    robust = worst_error(fit.fit_efficiency_at(frame, "dense", 1e9, 2 ** 21, ridge=1e-3))
    monkeypatch.setattr(fit, "ROBUST_SCALE", None)  # plain least squares of the log error
    plain = worst_error(fit.fit_efficiency_at(frame, "dense", 1e9, 2 ** 21, ridge=1e-3))
    # the odd op's log error is log(3) = 1.1: least squares spreads it over its neighbours in
    # feature space (worst 57% when written), soft-L1's linear tail pulls them only a little (5%)
    assert robust < 0.10
    assert plain > 0.30


def test_robust_residuals_are_scipys_soft_l1():
    from costmodel.latency.fit import robust_residuals

    r = robust_residuals(np.array([0.05, -1.0, 0.0]), 0.05)
    # 0.05 * sqrt(2 * (sqrt(1 + 1) - 1)) = 0.05 * 0.91018 = 0.045509
    # -0.05 * sqrt(2 * (sqrt(1 + 400) - 1)) = -0.05 * sqrt(38.0500) = -0.308424
    assert r == pytest.approx([0.045509, -0.308424, 0.0], abs=1e-6)
    # half its square is scipy's soft-L1 cost scale^2 * (sqrt(1 + (r / scale)^2) - 1): 0.0025 * 19.02498
    assert 0.5 * r[1] ** 2 == pytest.approx(0.0025 * (401 ** 0.5 - 1))
    assert robust_residuals(np.array([0.3]), None)[0] == 0.3  # None: plain least squares


def test_pool_window_rate_follows_the_size():
    """A window's small and large training pools: its rate per comparison interpolated in log2
    bytes between them, flat beyond."""
    import pandas as pd

    from costmodel.latency.fit import fit_window_line

    # 2.5 ns per comparison on 163,840 bytes (+ a 1 us call): 32,768 comparisons -> 82.92 us;
    # 5.3 ns on 2,007,040 bytes: 401,408 comparisons -> 2,128.5 us
    frame = pd.DataFrame({"elem": [32768, 401408], "measured_s": [1e-6 + 32768 * 2.5e-9, 1e-6 + 401408 * 5.3e-9],
                          "mem_bytes": [163840, 2007040]})
    line = fit_window_line(frame, 1e-6)
    assert line.per_op_s(163840) == pytest.approx(2.5e-9) and line.per_op_s(2007040) == pytest.approx(5.3e-9)
    assert line.per_op_s(1000) == pytest.approx(2.5e-9) and line.per_op_s(1e8) == pytest.approx(5.3e-9)
    # at the geometric mean of the two sizes, halfway in log2 bytes: (2.5 + 5.3) / 2 = 3.9 ns
    assert line.per_op_s((163840 * 2007040) ** 0.5) == pytest.approx(3.9e-9)
    # a 2x2 pool of 128 x 16 x 16 (8,192 outputs x 4 comparisons, 163,840 bytes): 1 + 81.92 us
    row = {"elem": 32768, "mem_bytes": 163840}
    assert line.seconds(row, 0.0, 0) == pytest.approx(1e-6 + 32768 * 2.5e-9)
    # sizes within 4x of each other: one rate (the median), no points
    close = fit_window_line(frame.assign(mem_bytes=[1e6, 2e6]), 1e-6)
    assert close.rate_points == () and close.s_per_op == pytest.approx((2.5e-9 + 5.3e-9) / 2)


def test_pool_window_line_fits_each_window_apart():
    """Three windows, each with its own cost per comparison: one line per window recovers each
    rate, and predict takes the window's line before the pool's shared one."""
    import pandas as pd

    from costmodel.latency.fit import fit_window_line
    from costmodel.latency.profile import StreamCurve

    # 2x2/2 at 5 ns per comparison + a 2 us call: 4e5 comparisons -> 2,002 us, 1e5 -> 502 us
    frame = pd.DataFrame({"elem": [4e5, 1e5], "measured_s": [2002e-6, 502e-6], "mem_bytes": [2e6, 5e5]})
    line = fit_window_line(frame, 2e-6)
    assert (line.overhead_s, line.s_per_op) == pytest.approx((2e-6, 5e-9), rel=1e-6)
    assert isinstance(line, StreamCurve) and line.train_median_abs_pct == pytest.approx(0, abs=1e-6)
    # two pools of the SAME size (2,100 and 2,129 us on 401,408 comparisons) still give a rate:
    # the median of (t - 1 us) / elem = (2,099 / 401,408 + 2,128 / 401,408) / 2 = 5.265 ns
    same = fit_window_line(pd.DataFrame({"elem": [401408, 401408], "measured_s": [2100e-6, 2129e-6],
                                         "mem_bytes": [2007040, 2007040]}), 1e-6)
    assert same.s_per_op == pytest.approx(5.2652e-9, rel=1e-4) and same.overhead_s == 1e-6
    from costmodel.latency.predict import op_curve

    peaks = {"dense_macs_per_s": 1e9, "depthwise_macs_per_s": 1e8, "bandwidth_bytes_per_s": 1e9,
             "call_overhead_s": 1e-6, "l2_bytes": 2.0 ** 21}
    shared = StreamCurve(overhead_s=0.0, s_per_byte=1e-9)
    profile = Profile(device="cpu", device_name="t", threads=1, torch_version="x", peaks=peaks,
                      curves={"max_pool2d": shared, "max_pool2d/k2s2": line})
    two = {"kind": "max_pool2d", "macs": 0, "elem": 1024, "reads": 1024, "writes": 256, "mem_bytes": 5120}
    three = {**two, "elem": 9 * 1024, "reads": 1024, "writes": 1024}  # 3x3, stride 1: no line of its own
    assert op_curve(two, profile) == ("max_pool2d/k2s2", line)
    assert op_curve(three, profile) == ("max_pool2d", shared)


def test_profile_speed_is_the_quick_chunks_not_the_median():
    from costmodel.latency.reference import Reference

    # five chunks of one reference op each: its ratio is the chunk's factor
    ref = Reference(cases=[], op_ratios=[[1.0], [1.49], [1.2], [1.3], [0.97]])
    # sorted 0.97, 1.0, 1.2, 1.3, 1.49: the 25th percentile is the second (index 4 x 0.25 = 1),
    # 1.0; the median 1.2
    assert ref.quick() == pytest.approx(1.0) and ref.median() == pytest.approx(1.2)
    summary = ref.summary()
    assert summary["quick"] == pytest.approx(1.0) and summary["factors"] == [1.0, 1.49, 1.2, 1.3, 0.97]
    assert Reference(cases=[]).quick() == 1.0  # no chunk yet: the first chunk's speed
