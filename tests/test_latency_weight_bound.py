"""Weight-streaming rates of the MAC curves (the weight-bound corner: weights beyond L2 on at
most 16 GEMM columns) and the two sets of design factors (configs alone, layers of a network). Round made-up numbers, hand calculations beside
every pinned value; nothing here is timed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from costmodel.latency.profile import Composition, EfficiencyCurve, Profile

L2 = 2 ** 21  # 2 MiB


def _profile(**kw) -> Profile:
    """A made-up profile with round numbers (not a measurement)."""
    peaks = {"dense_macs_per_s": 1e9, "depthwise_macs_per_s": 1e8, "bandwidth_bytes_per_s": 1e9,
             "call_overhead_s": 1e-6, "l2_bytes": float(L2)}
    return Profile(device="cpu", device_name="test cpu", threads=1, torch_version="x", peaks=peaks, **kw)


def _conv(cin: int, cout: int, k: int, h: int, measured_s: float = 0.0) -> dict:
    """The op row of a stride-1 'same' conv on an h x h input (batch 1)."""
    from costmodel.latency.cases import conv_row

    row = conv_row(dict(cin=cin, cout=cout, k=k, kw=k, h=h, stride=1, groups=1, batch=1, pad=k // 2,
                        pad_w=k // 2, transpose=False))
    return {**row, "measured_s": measured_s, "cls": "pointwise" if k == 1 else "dense"}


def test_weight_bound_seconds_by_pixels_and_cache():
    curve = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0},
                            s_per_streamed_weight_byte=85e-12, s_per_streamed_weight_byte_gemv=50e-12)
    # 512 -> 2048 1x1 on 2 x 2 pixels: 512 * 2048 = 1,048,576 weights = 4,194,304 bytes > 2 MiB;
    # 4 output pixels take the GEMM rate: 4,194,304 * 85 ps = 356.52 us
    assert curve.weight_bound_seconds(_conv(512, 2048, 1, 2), L2) == pytest.approx(4_194_304 * 85e-12)
    # on 4 x 4 = 16 pixels still the corner; the same conv on one pixel is a matrix-vector
    # product: 4,194,304 * 50 ps = 209.72 us
    assert curve.weight_bound_seconds(_conv(512, 2048, 1, 4), L2) == pytest.approx(4_194_304 * 85e-12)
    assert curve.weight_bound_seconds(_conv(512, 2048, 1, 1), L2) == pytest.approx(4_194_304 * 50e-12)
    # outside the corner: 5 x 5 = 25 pixels (> 16)
    assert curve.weight_bound_seconds(_conv(512, 2048, 1, 5), L2) == 0.0
    # on 2-16 columns the corner begins at 192 KiB = 196,608 bytes, within L2: 256 -> 256 1x1
    # (65,536 weights = 262,144 bytes) on 2 x 2 is in it, 262,144 * 85 ps = 22.28 us; 128 -> 256
    # (131,072 bytes) is not, nor is 256 -> 256 on one pixel (a matrix-vector product within L2)
    assert curve.weight_bound_seconds(_conv(256, 256, 1, 2), L2) == pytest.approx(262_144 * 85e-12)
    assert curve.weight_bound_seconds(_conv(128, 256, 1, 2), L2) == 0.0
    assert curve.weight_bound_seconds(_conv(256, 256, 1, 1), L2) == 0.0
    # a curve fitted without weight-bound ops has no rate
    plain = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0})
    assert plain.weight_bound_seconds(_conv(512, 2048, 1, 2), L2) == 0.0


def test_a_linear_layer_is_in_the_corner_by_its_rows():
    from costmodel.core import ops
    from costmodel.latency.cases import op_row

    curve = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0},
                            s_per_streamed_weight_byte=85e-12, s_per_streamed_weight_byte_gemv=40e-12)
    # Linear(2048, 1000) on one vector: 2048 * 1000 + 1000 = 2,049,000 params = 8,196,000 bytes
    # > 2 MiB, 1 row: the matrix-vector rate, 8,196,000 * 40 ps = 327.84 us
    one = op_row(ops.linear("fc", 2048, 1000))
    assert curve.weight_bound_seconds(one, L2) == pytest.approx(8_196_000 * 40e-12)
    # on 8 rows (a batch of 8): 8 GEMM columns, the GEMM rate: 8,196,000 * 85 ps = 696.66 us
    assert curve.weight_bound_seconds(op_row(ops.linear("fc", 2048, 1000), 8), L2) == pytest.approx(8_196_000 * 85e-12)
    # a ViT MLP, Linear(768, 3072) on 197 tokens: 197 columns, not weight-bound (0: the curve)
    assert curve.weight_bound_seconds(op_row(ops.linear("mlp", 768, 3072), 197), L2) == 0.0


def test_the_rate_predicts_the_corner_and_the_curve_the_rest():
    from costmodel.latency.predict import predict_op

    # the curve: MACs / (peak * e^0) with peak 1e9 MAC/s
    curve = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0}, s_per_streamed_weight_byte=85e-12)
    prof = _profile(curves={"pointwise/gemm": curve})
    # in the corner (512 -> 2048 1x1 on 2 x 2): the rate, 4,194,304 B * 85 ps = 356.5 us, although
    # the curve says 4,194,304 MACs / 1e9 = 4.194 ms (it was fitted without such ops)
    assert predict_op(_conv(512, 2048, 1, 2), prof) == pytest.approx(4_194_304 * 85e-12)
    # on 8 x 8 = 64 pixels the curve: 512 * 2048 * 64 = 67,108,864 MACs / 1e9 = 67.1 ms
    assert predict_op(_conv(512, 2048, 1, 8), prof) == pytest.approx(67_108_864 / 1e9)
    # a curve without the rate, and no class curve with one: the curve predicts the corner, 4.194 ms
    plain = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0})
    assert predict_op(_conv(512, 2048, 1, 2), _profile(curves={"pointwise/gemm": plain})) == pytest.approx(4_194_304 / 1e9)
    # ... also beside a class curve ("pointwise") that has a rate: another kernel's rate is not its
    # own (the curve's 4.194 ms again, not 4,194,304 B * 90 ps)
    pooled = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0}, s_per_streamed_weight_byte=90e-12)
    both = _profile(curves={"pointwise/gemm": plain, "pointwise": pooled})
    assert predict_op(_conv(512, 2048, 1, 2), both) == pytest.approx(4_194_304 / 1e9)


def test_a_grouped_conv_in_the_corner_borrows_the_dense_rate_of_its_kernel_family():
    from costmodel.latency.cases import conv_row
    from costmodel.latency.predict import cold_seconds, predict_op, rate_donor

    def grouped(cin, cout, k, h, groups):
        return conv_row(dict(cin=cin, cout=cout, k=k, kw=k, h=h, stride=1, groups=groups, batch=1, pad=k // 2,
                             pad_w=k // 2, transpose=False))

    plain = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0})  # MACs / 1e9, no rate
    dense = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0}, s_per_streamed_weight_byte=85e-12)
    prof = _profile(curves={"group/onednn": plain, "group/gemm": plain, "dense/onednn": dense})
    # DGC's 1024 -> 512 3x3 conv in 4 groups on 4 x 4 (16 GEMM columns, oneDNN): 256 * 512 * 9 =
    # 1,179,648 weights = 4,718,592 B, beyond the 2 MiB L2 -> the corner; its own curve has no
    # rate, so it borrows dense/onednn's: 4,718,592 B * 85 ps = 401.1 us (the curve alone would
    # say 1,179,648 * 16 MACs / 1e9 = 18.87 ms)
    deep = grouped(1024, 512, 3, 4, 4)
    assert rate_donor(deep, prof) is dense
    assert predict_op(deep, prof) == pytest.approx(4_718_592 * 85e-12)
    # the same conv on 8 x 8 (64 columns) is outside the corner: the curve, 75,497,472 MACs / 1e9
    assert predict_op(grouped(1024, 512, 3, 8, 4), prof) == pytest.approx(75_497_472 / 1e9)
    # ATen's 1x1 group-by-group GEMM (stride 1, batch 1) has no dense/gemm donor here, and
    # dense/onednn is another kernel: 2048 -> 2048 in 4 groups on 2 x 2 (1,048,576 weights,
    # 4 MiB) keeps its curve, 4,194,304 MACs / 1e9 = 4.194 ms, and adds no cold seconds
    aten = grouped(2048, 2048, 1, 2, 4)
    assert rate_donor(aten, prof) is None
    assert predict_op(aten, prof) == pytest.approx(4_194_304 / 1e9)
    assert cold_seconds(aten, prof, 64 * 2 ** 20) == 0.0
    # an ungrouped conv never borrows: the dense curve is its own
    assert rate_donor(_conv(512, 2048, 1, 2), prof) is None


def test_a_row_of_repeated_launches_is_in_the_corner_by_one_launch():
    from costmodel.latency.predict import predict_op

    curve = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0}, s_per_streamed_weight_byte=85e-12)
    prof = _profile(curves={"pointwise/gemm": curve})
    one = _conv(512, 2048, 1, 2)
    two = {**one, **{c: 2 * one[c] for c in ("macs", "reads", "writes", "params", "mem_bytes")}, "launches": 2}
    # two launches of 4,194,304 weight bytes each: 2 x 356.5 us = 713.0 us
    assert predict_op(two, prof) == pytest.approx(2 * 4_194_304 * 85e-12)
    # a 256 -> 128 1x1 on 2 x 2 (32,768 weights = 131,072 bytes, under the corner's 196,608 on
    # 2-16 columns) twice: 262,144 bytes in the row, beyond 196,608, but within it per launch,
    # so the curve: 2 x 256 * 128 * 4 MACs / 1e9 = 0.262 ms
    small = _conv(256, 128, 1, 2)
    pair = {**small, **{c: 2 * small[c] for c in ("macs", "reads", "writes", "params", "mem_bytes")}, "launches": 2}
    assert predict_op(pair, prof) == pytest.approx(2 * 256 * 128 * 4 / 1e9)


def test_fit_weight_rates_takes_the_median_rate_per_pixel_regime():
    from costmodel.latency.fit import fit_weight_rates

    w = 4 * 512 * 2048  # 4,194,304 bytes of weights per conv below
    frame = pd.DataFrame([
        # four weight-bound convs on 2 x 2 pixels at 80, 85, 90, 95 ps per weight byte
        *[_conv(512, 2048, 1, 2, w * r * 1e-12) for r in (80, 85, 90, 95)],
        # three on one pixel at 50, 55, 60 ps/B
        *[_conv(512, 2048, 1, 1, w * r * 1e-12) for r in (50, 55, 60)],
        # big weights on 8 x 8 = 64 pixels (> 16: compute-bound) and small weights: not bound
        _conv(512, 2048, 1, 8, 1e-3), _conv(64, 64, 1, 2, 1e-5),
    ])
    rates, predicted = fit_weight_rates(frame, L2)
    # medians: (85 + 90) / 2 = 87.5 ps/B; 55 ps/B
    assert rates["s_per_streamed_weight_byte"] == pytest.approx(87.5e-12)
    assert rates["s_per_streamed_weight_byte_gemv"] == pytest.approx(55e-12)
    assert predicted.tolist() == [True] * 7 + [False, False]
    # every corner op is a point (column bucket, weight bytes, rate, taps): 4 on 2 x 2 (bucket 4), 3 on one pixel
    assert [(b, w_, t) for b, w_, _, t in rates["streamed"]] == [(4, w, 1)] * 4 + [(1, w, 1)] * 3  # 1x1: 1 tap
    assert rates["streamed"][0][2] == pytest.approx(80e-12)
    # two one-pixel convs (< MIN_STREAMED_OPS = 3): no gemv median, but 2 = MIN_BUCKET_OPS points
    # of bucket 1, so the bucket's points predict them and the curve is fitted without them
    rates, predicted = fit_weight_rates(frame.drop(index=[6]), L2)
    assert "s_per_streamed_weight_byte_gemv" not in rates
    assert predicted.tolist() == [True] * 6 + [False] * 2
    # one one-pixel conv left: no rate of any kind, it stays with the curve (with the two uncornered)
    rates, predicted = fit_weight_rates(frame.drop(index=[5, 6]), L2)
    assert predicted.tolist() == [True] * 4 + [False] * 3


def test_streamed_rate_by_column_bucket_and_nearest_weights():
    from costmodel.latency.features import column_bucket
    from costmodel.latency.profile import streamed_rate

    # buckets: 1 column; 2-4; 5-9; 10-16 (and beyond: the last)
    assert [column_bucket(c) for c in (1, 2, 4, 5, 9, 10, 16, 20)] == [1, 4, 4, 9, 9, 16, 16, 16]
    mib = 2 ** 20
    points = ((1, 4 * mib, 20e-12), (1, 8 * mib, 22e-12), (1, 16 * mib, 30e-12), (1, 64 * mib, 50e-12),
              (1, 96 * mib, 52e-12), (4, 9 * mib, 290e-12))
    # 67 MiB on one column: nearest three in log2 weights are 64 (0.07), 96 (0.52), 16 (2.07) MiB
    # -> median(50, 52, 30) = 50 ps/B
    assert streamed_rate(points, 1, 67 * mib) == pytest.approx(50e-12)
    # 6 MiB: nearest 4 and 8 MiB (0.58, 0.42), then 16 (1.42) -> median(20, 22, 30) = 22 ps/B
    assert streamed_rate(points, 1, 6 * mib) == pytest.approx(22e-12)
    # bucket 4 has one point (< MIN_BUCKET_OPS = 2) and bucket 16 none: no rate
    assert streamed_rate(points, 4, 9 * mib) is None and streamed_rate(points, 16, 9 * mib) is None
    # ties all count, whatever their rates: five 4 MiB points (512 x 2048 and 1024 x 1024 1x1
    # convs share that size) -> median(200, 110, 180, 150, 120) = 150, not the lowest three's 120
    tied = tuple((4, 4 * mib, r * 1e-12) for r in (200, 110, 180, 150, 120)) + ((4, 16 * mib, 300e-12),)
    assert streamed_rate(tied, 4, 4 * mib) == pytest.approx(150e-12)


def test_bucket_rates_come_before_the_regime_rate(tmp_path):
    from costmodel.latency.profile import load_profile

    w = 4 * 512 * 2048  # 4,194,304 bytes
    curve = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0},
                            s_per_streamed_weight_byte=150e-12, s_per_streamed_weight_byte_gemv=40e-12,
                            streamed=((16, w, 110e-12), (16, 2 * w, 130e-12), (9, w, 370e-12)))
    # 4 x 4 = 16 columns: bucket 16 has two points -> median(110, 130) = 120 ps/B
    assert curve.weight_bound_seconds(_conv(512, 2048, 1, 4), L2) == pytest.approx(w * 120e-12)
    # 3 x 3 = 9 columns: one point only -> the 2-16 column median, 150 ps/B
    assert curve.weight_bound_seconds(_conv(512, 2048, 1, 3), L2) == pytest.approx(w * 150e-12)
    # one column: no bucket-1 points -> the matrix-vector median, 40 ps/B
    assert curve.weight_bound_seconds(_conv(512, 2048, 1, 1), L2) == pytest.approx(w * 40e-12)
    # the points survive a save and load (JSON lists back to tuples)
    back = load_profile(_profile(curves={"pointwise/gemm": curve}).save(tmp_path / "p.json"))
    # three-entry points (older profiles) load with kernel taps 0: any kernel
    assert back.curves["pointwise/gemm"].streamed == tuple(p + (0,) for p in curve.streamed)


def test_curves_are_fitted_without_the_ops_a_rate_predicts():
    from costmodel.latency.fit import fit_curves

    # 20 pointwise (gemm) convs that follow MACs / (1e9 * 0.5) exactly, and 4 weight-bound ones
    # at 90 ps per weight byte, far off that law (512 -> 2048 on 2 x 2: 4,194,304 MACs / 0.5e9 =
    # 8.4 ms by the law, 4,194,304 B * 90 ps = 377 us measured): the curve must not bend to them
    rng = np.random.default_rng(0)
    law = [_conv(int(c), int(c), 1, int(h)) for c, h in zip(rng.choice([16, 32, 64, 128], 20),
                                                           rng.choice([7, 14, 28], 20))]
    law = [{**r, "measured_s": r["macs"] / 0.5e9} for r in law]
    bound = [_conv(c, 2048, 1, 2) for c in (512, 768, 1024, 2048)]
    bound = [{**r, "measured_s": 4 * r["params"] * 90e-12} for r in bound]
    frame = pd.DataFrame(law + bound)
    curve = fit_curves(frame, _profile(), regressors=False)["pointwise/gemm"]
    assert curve.s_per_streamed_weight_byte == pytest.approx(90e-12)
    assert curve.n == 20  # fitted on the 20 law ops only
    # a law op is still predicted by the law (efficiency 0.5 of the 1e9 peak), within 2%
    probe = law[0]
    assert curve.seconds(probe, 1e9, L2) == pytest.approx(probe["measured_s"], rel=0.02)


def test_weight_bound_training_items_share_the_sweep_with_the_plan():
    from costmodel.latency.features import STREAM_KINDS
    from costmodel.latency.sampler import (FEW_COLUMN_BYTES, OC_BLOCK_PROBES, PER_GROUP_PROBES, TRANSPOSE_PROBES,
                                           WEIGHT_BOUND_BYTES, training_plan, weight_bound_items)

    plan = training_plan(0, per_conv_class=4, per_stream_kind=3, linear=3, per_design=0, weight_bound=6)
    # 3 of each elementwise kind, 3 linear layers, the 6 per-group probes, the 10 output-block
    # probes and the 8 transposed-conv probes
    lead = 3 * len(STREAM_KINDS) + 3 + len(PER_GROUP_PROBES) + len(OC_BLOCK_PROBES) + len(TRANSPOSE_PROBES)
    bound = weight_bound_items(0, 6)
    # the weight-bound items keep their own order inside the plan, the first right after the lead
    at = [plan.index(item) for item in bound]
    assert at == sorted(at) and at[0] == lead
    convs = [g for kind, g in bound if kind == "conv" and g["h"] <= 4]
    # the sides take turns, 1, 2, 3, 4, 1, 2: every column bucket gets its convs; four 1x1
    # convs, then 3x3 ones (then 5x5)
    assert [g["h"] for g in convs] == [1, 2, 3, 4, 1, 2]
    assert [g["k"] for g in convs] == [1, 1, 1, 1, 3, 3]
    for g in convs:
        weights = 4 * g["cin"] * g["cout"] * g["k"] * g["kw"]
        assert g["groups"] == 1
        # one pixel (a matrix-vector product): 2.25-96 MiB (beyond L2, up to beyond the last-level
        # cache); 2-16 pixels: 256 KiB (1 << 18 = 262,144 bytes) to 24 MiB
        if g["h"] == 1:
            assert WEIGHT_BOUND_BYTES[0] == 9 << 18 <= weights <= 96 << 20
        else:
            assert FEW_COLUMN_BYTES == 262_144 <= weights <= WEIGHT_BOUND_BYTES[1] == 24 << 20
    # one big-weight conv after each three convs (2.25-24 MiB on 7 x 7, then 8 x 8 pixels) and one
    # linear layer after the six (16-96 MiB of weights): a sweep cut short keeps some of each
    assert [kind for kind, _ in bound] == ["conv"] * 4 + ["conv"] * 3 + ["conv", "linear"]
    assert [bound[3][1]["h"], bound[7][1]["h"]] == [7, 8]
    assert all(WEIGHT_BOUND_BYTES[0] <= 4 * g["cin"] * g["cout"] * g["k"] * g["kw"] <= WEIGHT_BOUND_BYTES[1]
               for g in (bound[3][1], bound[7][1]))
    assert 16 << 20 <= 4 * bound[8][1]["fin"] * bound[8][1]["fout"] <= 96 << 20
    # without them the plan is the plan of weight_bound=0
    plain = training_plan(0, per_conv_class=4, per_stream_kind=3, linear=3, per_design=0)
    assert [item for item in plan if item not in bound] == plain


def test_nominal_cost_of_training_items():
    from costmodel.latency.sampler import nominal_seconds

    g = dict(cin=512, cout=512, k=3, kw=3, h=7, stride=1, groups=1, pad=1, pad_w=1, transpose=False, batch=1)
    # 512 * 512 * 9 * 49 = 115,605,504 MACs / 3e10 = 3.8535e-3 s; bytes 4 * (25,088 in + 2,359,296
    # weights + 25,088 out) = 9,637,888 / 1.5e10 = 6.4253e-4 s: 4.4960e-3 s
    assert nominal_seconds(("conv", g)) == pytest.approx(4.4960e-3, rel=1e-4)
    # a 4096 x 4096 linear layer: 16,777,216 MACs (5.5924e-4 s) and 4 * (4096 + 16,777,216 +
    # 4096 bias + 4096) = 67,158,016 bytes (4.4772e-3 s): 5.0364e-3 s
    assert nominal_seconds(("linear", {"fin": 4096, "fout": 4096})) == pytest.approx(5.0364e-3, rel=1e-4)
    # a tiny conv and an elementwise op cost one timed burst (TARGET_S = 0.5 ms)
    tiny = dict(g, cin=4, cout=4, h=4)
    assert nominal_seconds(("conv", tiny)) == nominal_seconds(("stream", {"kind": "relu", "c": 8, "h": 8})) == 5e-4


def test_merge_by_cost_gives_each_list_its_share():
    from costmodel.latency.sampler import merge_by_cost

    relu = [("stream", {"kind": "relu", "c": 8, "h": k}) for k in range(1, 9)]  # 0.5 ms each
    first, second = relu[:4], relu[4:]
    # equal costs, share 0.5: they alternate, the first list first
    assert merge_by_cost(first, second, 0.5) == [relu[0], relu[4], relu[1], relu[5], relu[2], relu[6], relu[3], relu[7]]
    # share 0.25: one of the first, then three of the second (1 / 0.25 = 4 <= 3 / 0.75 = 4), ...
    # until the second list runs out
    assert merge_by_cost(first, second, 0.25) == [relu[0], relu[4], relu[5], relu[6], relu[1], relu[7], relu[2], relu[3]]
    # a 4.5 ms conv in the first list is worth nine 0.5 ms items of the second at share 0.5
    big = ("conv", dict(cin=512, cout=512, k=3, kw=3, h=7, stride=1, groups=1, pad=1, pad_w=1, transpose=False, batch=1))
    many = [("stream", {"kind": "relu", "c": 8, "h": k}) for k in range(1, 12)]
    merged = merge_by_cost([big, big], many, 0.5)
    assert merged.index(big, 1) == 10 and merged[0] == big  # big, then 9 small (4.5 ms), then big
    with pytest.raises(ValueError, match="share = 1"):
        merge_by_cost(first, second, 1)


def test_filter_gather_training_op_is_dgcs_gather():
    import torch

    from costmodel.designs.dgc import DGC
    from costmodel.latency.cases import stream_case
    from costmodel.latency.predict import op_rows

    module, (bank, index), row = stream_case("gather_elements", 512, 1)
    # 4 heads x 128 filters x 256 kept channels x 9 = 1,179,648 elements, as DGC's own
    # 512 -> 512 3x3 filter gather (c_out 512 x kept 256 x 9)
    dgc = next(r for r in op_rows(DGC(c_in=512, c_out=512, h=4, w=4)) if r.get("kernel") == "gather_elements")
    assert row["elem"] == dgc["elem"] == 1_179_648 and row["kernel"] == "gather_elements"
    assert module(bank, index).numel() == 1_179_648
    # topk's order, not sorted by channel: each head's kept channels are out of order
    kept = index[0, :, 0, :, 0]
    assert all(not torch.equal(h, torch.sort(h).values) for h in kept)


def test_each_elementwise_kind_leads_with_small_to_large_ops():
    from costmodel.latency.features import STREAM_KINDS
    from costmodel.latency.sampler import training_plan

    plan = training_plan(0, per_conv_class=2, per_stream_kind=4, linear=3, per_design=0)
    kinds = len(STREAM_KINDS)
    lead = plan[:3 * kinds]
    # three rounds over the kinds with 32, 128, then 512 channels (the filter gather's largest size)
    assert [g["c"] for _, g in lead] == [32] * kinds + [128] * kinds + [512] * kinds
    assert [g["kind"] for _, g in lead[:kinds]] == list(STREAM_KINDS)
    # at most 8 MiB per tensor: 512 channels on at most 56 x 56 pixels (512 * 56 * 56 = 1,605,632 floats)
    assert all(g["c"] * g["h"] ** 2 <= 1 << 21 for _, g in lead)


def test_network_factor_applies_to_layers_in_a_network_only():
    from costmodel.designs.conv import Conv
    from costmodel.latency.network import layer_row
    from costmodel.latency.predict import predict_spec

    comp = Composition(scale=1.0, per_op_s=0.0, design_factors={"conv": 1.25}, network_factors={"conv": 1.5})
    assert comp.factor("conv") == 1.25 and comp.factor("conv", in_network=True) == 1.5
    # a design without a network factor keeps its own; an older profile has none at all
    only = Composition(scale=1.0, per_op_s=0.0, design_factors={"conv": 1.25})
    assert only.factor("conv", in_network=True) == 1.25 and comp.factor("ghost", in_network=True) == 1.0
    spec = Conv(c_in=8, c_out=16, k=3, h=10, w=10)
    prof = _profile(composition=comp)
    # alone: 1.25 x the composed time; as a network's layer: 1.5 x, i.e. 1.5 / 1.25 = 1.2 x alone
    assert layer_row(spec, prof)["alone_s"] == pytest.approx(1.2 * predict_spec(spec, prof))


def test_composition_keeps_network_layers_out_of_the_design_factors(tmp_path):
    from costmodel.latency.fit import fit_composition
    from costmodel.latency.profile import load_profile

    # six configs of design "a" exactly "call 1 us + sum of ops" (one op each): scale 1, 0 us per op
    sums = [50e-6, 80e-6, 100e-6, 200e-6, 300e-6, 150e-6]
    frame = pd.DataFrame({"design": "a", "n_ops": 1, "sum_ops_s": sums, "measured_s": [1e-6 + s for s in sums]})
    # eight network layers of "a" that run 1.5x their composed time
    layers = pd.DataFrame({"design": "a", "n_ops": 1, "sum_ops_s": 8 * [100e-6], "measured_s": 8 * [1.5 * 101e-6]})
    comp = fit_composition(frame, _profile(), network_extra=layers)
    # alone: six ratios of 1: exp(6/7 * 0) = 1
    assert comp.design_factors["a"] == pytest.approx(1.0, abs=1e-3)
    # in a network: 6 log ratios 0 and 8 of ln 1.5, median ln 1.5 -> 1.5 ** (14/15) = 1.4600
    assert comp.network_factors["a"] == pytest.approx(1.5 ** (14 / 15), rel=1e-3)
    back = load_profile(_profile(composition=comp).save(tmp_path / "p.json"))
    assert back.composition.network_factors == comp.network_factors
    # without network layers there is no second set
    assert fit_composition(frame, _profile()).network_factors == {}


def test_profile_at_another_machine_speed_scales_the_weight_rates():
    from costmodel.latency.predict import predict_op
    from costmodel.latency.reference import at_speed

    w = 4 * 512 * 2048
    fast = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": float(np.log(100))},
                           s_per_streamed_weight_byte=85e-12, s_per_streamed_weight_byte_gemv=50e-12,
                           streamed=((16, w, 110e-12), (16, w, 120e-12)))
    prof = _profile(curves={"pointwise/gemm": fast})
    slow = at_speed(prof, 2.0)
    # the rates set the times (4,194,304 weight bytes: 356.5 us on 2 x 2 pixels, 209.7 us on one,
    # 482.3 us on 4 x 4 from the bucket's points): at half the speed they double
    for h in (2, 1, 4):
        row = _conv(512, 2048, 1, h)
        assert predict_op(row, slow) == pytest.approx(2 * predict_op(row, prof), rel=1e-12)
    assert predict_op(_conv(512, 2048, 1, 4), prof) == pytest.approx(w * 115e-12)
    assert slow.curves["pointwise/gemm"].s_per_streamed_weight_byte_gemv == pytest.approx(100e-12)


def test_calibrate_prints_rates_and_factors_with_their_units():
    from costmodel.cli.latency import furthest_factors
    from costmodel.latency.profile import weight_rates_line

    both = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0}, s_per_streamed_weight_byte=85e-12,
                           s_per_streamed_weight_byte_gemv=50e-12)
    gemv = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0}, s_per_streamed_weight_byte_gemv=40e-12)
    plain = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0})
    # 85e-12 s = 85 ps; a curve without a rate is left out; keys sorted
    assert (weight_rates_line({"pointwise/gemm": both, "linear": gemv, "dense": plain})
            == "linear (1 column: 40), pointwise/gemm 85 (1 column: 50) ps per weight byte")
    assert weight_rates_line({"dense": plain}) == ""
    # bucket medians of the buckets with >= 2 points: 4 columns (290 + 300) / 2 = 295 ps/B
    buckets = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0}, s_per_streamed_weight_byte=200e-12,
                              streamed=((4, 1e7, 290e-12), (4, 2e7, 300e-12), (9, 1e7, 370e-12)))
    assert weight_rates_line({"dense": buckets}) == "dense 200 [by columns: 4: 295] ps per weight byte"
    # a curve with bucket points only (no regime median) is printed too
    only = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0},
                           streamed=((16, 1e7, 110e-12), (16, 2e7, 130e-12)))
    assert weight_rates_line({"pointwise": only}) == "pointwise [by columns: 16: 120] ps per weight byte"
    # distance from 1: e 1.00, b 0.50, c 0.30, a 0.05, d 0: the first three
    assert furthest_factors({"a": 1.05, "b": 0.5, "c": 1.3, "d": 1.0, "e": 2.0}, 3) == "e x2.00, b x0.50, c x1.30"


def test_cold_filter_gather_turns_through_banks_beyond_the_last_level_cache():
    import torch

    from costmodel.latency.cases import cold_bytes, stream_case
    from costmodel.latency.features import in_network_row
    from costmodel.latency.profile import StreamCurve

    module, (bank, index), row = stream_case("gather_elements_cold", 16, 1)
    # 4 heads x 4 filters x 8 kept channels (16 / 2) x 9 = 1,152 elements, read and written
    assert row["elem"] == 1152 and row["kernel"] == "gather_elements_cold"
    # the bank: 4 x 4 x 16 x 9 = 2,304 floats = 9,216 bytes; with 64 MiB of banks (a 32 MiB
    # last-level cache or less): 67,108,864 / 9,216 -> 7,282 banks, 7,281 besides the one handed in
    assert len(module.banks) == -(-cold_bytes() // 9216) - 1
    if cold_bytes() == 64 << 20:
        assert len(module.banks) == 7281
    first, second = module(bank, index), module(bank, index)
    assert first.shape == (1, 4, 4, 8, 9) and not torch.equal(first, second)  # another bank each call
    assert not torch.equal(first, torch.gather(bank, 3, index))  # not the bank it was handed
    assert torch.equal(first, torch.gather(module.banks[1], 3, index))  # the first call: bank 1 of its own
    hot_module, _, hot = stream_case("gather_elements", 16, 1)
    assert torch.equal(hot_module(bank, index), torch.gather(bank, 3, index)) and hot["kernel"] == "gather_elements"
    # inside a network the filter gather takes the cold line where the profile has one
    curves = {"gather_elements_cold": StreamCurve(overhead_s=0.0, s_per_byte=1e-9)}
    assert in_network_row(hot, curves)["kernel"] == "gather_elements_cold"
    assert in_network_row(hot, {})["kernel"] == "gather_elements"  # an older profile: as it is


def test_cold_bytes_is_twice_the_largest_cache_and_at_least_64_mib(monkeypatch):
    from costmodel.latency import cases, features

    monkeypatch.setattr(features, "cache_sizes", lambda: {"L1d": "48K", "L2": "1024K", "L3": "32768K"})
    assert cases.cold_bytes() == 64 << 20  # 2 x 32 MiB
    monkeypatch.setattr(features, "cache_sizes", lambda: {"L2": "2048K", "L3": "107520K"})
    assert cases.cold_bytes() == 2 * 107520 * 1024  # a 105 MiB L3 (Sapphire Rapids): 210 MiB of banks
    monkeypatch.setattr(features, "cache_sizes", lambda: {})
    assert cases.cold_bytes() == 64 << 20  # no sysfs: the floor


def test_streamed_rate_prefers_the_ops_own_kernel():
    from costmodel.latency.profile import streamed_rate

    mib = 2 ** 20
    # bucket 9: two 5x5 convs (25 taps) at 220 and 230 ps/B, two batched 3x3 (9 taps) at 100 and 110
    points = ((9, 6 * mib, 220e-12, 25), (9, 6 * mib, 230e-12, 25), (9, 6 * mib, 100e-12, 9), (9, 6 * mib, 110e-12, 9))
    # a 3x3 op: its own two points (= MIN_BUCKET_OPS) -> (100 + 110) / 2 = 105 ps/B
    assert streamed_rate(points, 9, 6 * mib, taps=9) == pytest.approx(105e-12)
    # a 5x5 op: (220 + 230) / 2 = 225
    assert streamed_rate(points, 9, 6 * mib, taps=25) == pytest.approx(225e-12)
    # a 1x1 op has no point of its own: the nearest three of the bucket count, and all four tie
    # at 6 MiB -> median(100, 110, 220, 230) = (110 + 220) / 2 = 165
    assert streamed_rate(points, 9, 6 * mib, taps=1) == pytest.approx(165e-12)
    # one 3x3 point (< MIN_BUCKET_OPS) does not make a rate of its own: the bucket's three -> median 220
    one = points[:2] + points[2:3]
    assert streamed_rate(one, 9, 6 * mib, taps=9) == pytest.approx(220e-12)
    # points of an older profile (no taps) count for every kernel: median(220, 230, 100) = 220
    old = tuple(p[:3] for p in one)
    assert streamed_rate(old, 9, 6 * mib, taps=9) == pytest.approx(220e-12)


def test_batched_turn_of_the_weight_bound_items_runs_on_onednn():
    from costmodel.latency.cases import conv_row
    from costmodel.latency.features import column_bucket, conv_backend, gemm_columns
    from costmodel.latency.sampler import weight_bound_convs

    convs = [g for _, g in weight_bound_convs(0, 16)]
    # turns of four: 1x1, 3x3 (im2col), 5x5 at batch 1, then 3x3 at batch (2, 4, 2, 4) on
    # (1, 1, 2, 2) pixels a side: 2, 4, 8 and 16 GEMM columns
    assert [g["k"] for g in convs] == [1] * 4 + [3] * 4 + [5] * 4 + [3] * 4
    batched = convs[12:]
    assert [(g["batch"], g["h"]) for g in batched] == [(2, 1), (4, 1), (2, 2), (4, 2)]
    rows = [conv_row(g) for g in batched]
    assert [gemm_columns(r) for r in rows] == [2, 4, 8, 16]
    assert [column_bucket(gemm_columns(r)) for r in rows] == [4, 4, 9, 16]
    # a batch over 1 takes a 3x3 conv to oneDNN (conv_backend), where the im2col turn stays on GEMM
    assert all(conv_backend(r) == "onednn" for r in rows)
    assert all(conv_backend(conv_row(g)) == "gemm" for g in convs[4:8])
    # 256 KiB to 24 MiB of weights each (FEW_COLUMN_BYTES, WEIGHT_BOUND_BYTES[1])
    assert all(262_144 <= 4 * g["cin"] * g["cout"] * 9 <= 24 << 20 for g in batched)


def test_strided_pointwise_turn_of_the_weight_bound_items_runs_on_onednn():
    from costmodel.latency.cases import conv_row
    from costmodel.latency.features import conv_backend, gemm_columns, weight_bound_regime
    from costmodel.latency.sampler import weight_bound_convs

    convs = [g for _, g in weight_bound_convs(0, 20)][16:20]
    # the fifth turn: 1x1 at stride 2 on 7, 5, 4, 7 pixels a side -> 4 x 4, 3 x 3, 2 x 2, 4 x 4
    # outputs ((side - 1) // 2 + 1): 16, 9, 4, 16 GEMM columns
    assert [(g["k"], g["stride"], g["h"]) for g in convs] == [(1, 2, 7), (1, 2, 5), (1, 2, 4), (1, 2, 7)]
    rows = [conv_row(g) for g in convs]
    assert [gemm_columns(r) for r in rows] == pytest.approx([16, 9, 4, 16])
    # inputs beyond MKLDNN_MIN_NUMEL = 20,480 (c_in * side^2: at 7 px c_in >= 512 gives >= 25,088),
    # so all run on oneDNN, and all are in the corner (>= 256 KiB of weights)
    assert all(g["cin"] * g["h"] ** 2 > 20_480 for g in convs)
    assert all(conv_backend(r) == "onednn" for r in rows)
    assert all(weight_bound_regime(r, 1 << 20) == "gemm" for r in rows)


MIB = 1 << 20
# a made-up weight-set curve (weight bytes cycled per call, seconds per weight byte), its last
# point below the one before (noise): made non-decreasing it is 110, 118, 146, 161, 161 ps/B
WEIGHT_SET = ((4 * MIB, 110e-12), (8 * MIB, 118e-12), (16 * MIB, 146e-12), (24 * MIB, 161e-12), (48 * MIB, 155e-12))


def test_cold_rate_interpolates_the_weight_set_curve_in_log_bytes():
    from costmodel.latency.profile import Peaks

    peaks = Peaks(1e9, 1e8, 1e9, 1e-6, float(L2), weight_set_curves={16: WEIGHT_SET})
    # an op of 4 MiB in a design cycling 24 MiB: 161 - 110 = 51 ps more per weight byte
    assert peaks.cold_s_per_byte(24 * MIB, 4 * MIB, 16) == pytest.approx(51e-12)
    # 12 MiB lies log2(12 / 8) = 0.585 of the way from 8 to 16 MiB: 118 + 0.585 * 28 = 134.38 ps/B
    assert peaks.cold_s_per_byte(12 * MIB, 4 * MIB, 16) == pytest.approx((118 + np.log2(1.5) * 28 - 110) * 1e-12)
    # flat beyond the ends: 1 MiB takes the 4 MiB rate, 100 MiB the (non-decreasing) 161
    assert peaks.cold_s_per_byte(24 * MIB, 1 * MIB, 16) == pytest.approx(51e-12)
    assert peaks.cold_s_per_byte(100 * MIB, 48 * MIB, 16) == pytest.approx(0.0)
    # no more weights than the op's own, no curve, or no curve for the bucket (9 columns): 0
    assert peaks.cold_s_per_byte(24 * MIB, 4 * MIB, 9) == 0.0
    assert peaks.cold_s_per_byte(4 * MIB, 8 * MIB, 16) == 0.0
    assert Peaks(1e9, 1e8, 1e9, 1e-6).cold_s_per_byte(24 * MIB, 4 * MIB, 16) == 0.0


def test_a_weight_bound_op_is_slower_in_a_design_whose_weights_outgrow_the_cache():
    from costmodel.latency.predict import predict_op

    curve = EfficiencyCurve(overhead_s=0.0, s_per_byte=0.0, coef={"const": 0.0}, s_per_streamed_weight_byte=100e-12)
    prof = _profile(curves={"pointwise/gemm": curve})
    prof = Profile(**{**prof.__dict__, "peaks": type(prof.peaks)(**{**prof.peaks.__dict__, "weight_set_curves": {4: WEIGHT_SET}})})
    # 1024 -> 1024 1x1 on 2 x 2 (4 GEMM columns: bucket 4): 1,048,576 weights = 4 MiB; alone 4,194,304 * 100 ps = 419.4 us
    alone = _conv(1024, 1024, 1, 2)
    assert predict_op(alone, prof) == pytest.approx(4 * MIB * 100e-12)
    # in a design of 24 MiB of weights: 4,194,304 * (100 + 51) ps = 633.3 us
    assert predict_op({**alone, "weight_set_bytes": 24 * MIB}, prof) == pytest.approx(4 * MIB * 151e-12)
    # what it adds in a network of 48 MiB: 4,194,304 * 51 ps = 213.9 us; twice for two launches
    from costmodel.latency.predict import cold_seconds

    assert cold_seconds(alone, prof, 48 * MIB) == pytest.approx(4 * MIB * 51e-12)
    pair = {**alone, **{c: 2 * alone[c] for c in ("macs", "reads", "writes", "params", "mem_bytes")}, "launches": 2}
    assert cold_seconds(pair, prof, 48 * MIB) == pytest.approx(2 * 4 * MIB * 51e-12)
    # 4 x 4 pixels (bucket 16) has no curve here, and 8 x 8 (64 columns) is outside the corner: 0
    assert cold_seconds(_conv(1024, 1024, 1, 4), prof, 48 * MIB) == 0.0
    assert cold_seconds(_conv(1024, 1024, 1, 8), prof, 48 * MIB) == 0.0


def test_the_weight_set_curve_survives_the_profile_file(tmp_path):
    from costmodel.latency.profile import load_profile

    prof = _profile()
    prof = Profile(**{**prof.__dict__, "peaks": type(prof.peaks)(**{**prof.peaks.__dict__, "weight_set_curves": {16: WEIGHT_SET}})})
    path = prof.save(tmp_path / "p.json")
    back = load_profile(path, device="cpu")
    assert back.peaks.weight_set_curves == {16: tuple((float(w), float(r)) for w, r in WEIGHT_SET)}
    assert back.peaks.cold_s_per_byte(24 * MIB, 4 * MIB, 16) == pytest.approx(51e-12)


def test_op_rows_carry_the_designs_weight_bytes():
    from costmodel.core.registry import get_design
    from costmodel.latency.predict import op_rows

    spec = get_design("conv")(c_in=16, c_out=32, k=3, h=8, w=8, bn=True)
    rows = op_rows(spec)
    # 16 * 32 * 9 = 4,608 conv weights + 2 * 32 = 64 BN affine = 4,672 params, 18,688 fp32 bytes
    assert {r["weight_set_bytes"] for r in rows} == {18_688}
