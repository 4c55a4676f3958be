"""The grouped-conv curve keys follow the kernel oneDNN really runs: its verbose log names the
implementation and the source layout (aBcd16b / aBcd8b / aBcd4b blocks, or plain abcd for the
per-group GEMM), and ``features.onednn_group_block`` must name the same block."""

from __future__ import annotations

import os
import re
import sys
import tempfile

import pytest

from costmodel.latency.features import VECTOR_LANES, curve_key, onednn_group_block


def onednn_conv_kernel(cin: int, cout: int, k: int, h: int, groups: int) -> tuple[str, int | None] | None:
    """(implementation, channel block or None) of oneDNN's forward conv, read from its verbose
    log (printed to file descriptor 1, so the descriptor itself is redirected); None when
    oneDNN did not run the conv (ATen's own kernel)."""
    import torch

    conv, x = torch.nn.Conv2d(cin, cout, k, 1, k // 2, groups=groups).eval(), torch.randn(1, cin, h, h)
    with torch.inference_mode(), tempfile.TemporaryFile() as log:
        conv(x)  # primitive creation and first-call work stay out of the log
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(log.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                conv(x)
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        text = log.read().decode(errors="replace")
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) > 6 and fields[2] == "primitive" and fields[5] == "convolution":
            block = re.search(r"src:f32:a:blocked:aBcd(\d+)b", line)
            return fields[6], int(block.group(1)) if block else None
    return None


CASES = [
    # (c_in, c_out, groups, {lanes: block}): channels per group in, out -> the widest block of
    # the ISA's list (AVX-512: 16/8/4, AVX2: 8) dividing both, None: oneDNN's per-group GEMM
    (320, 64, 4, {16: 16, 8: 8}),      # 80, 16 -> 16 divides both; AVX2 has no 16 -> 8
    (96, 16, 2, {16: 8, 8: 8}),        # 48, 8 -> 8 (Tied Group Conv's default-like geometry)
    (192, 256, 16, {16: 4, 8: None}),  # 12, 16 -> 4; AVX2 has no 4-channel block
    (80, 32, 4, {16: 4, 8: None}),     # 20, 8 -> 4; AVX2: 8 does not divide 20
    (384, 16, 4, {16: 4, 8: None}),    # 96, 4 -> 4 (DGC's 4-head conv to 16 channels); AVX2: none
    (48, 128, 8, {16: None, 8: None}),  # 6, 16 -> none: 6 is no multiple of 4 -> per-group GEMM
    (16, 16, 8, {16: None, 8: None}),  # 2, 2 -> none
    (256, 96, 16, {16: None, 8: None}),  # 16, 6 -> none
]


@pytest.mark.skipif(VECTOR_LANES not in (8, 16), reason="the blocks were read on AVX-512 and AVX2 CPUs only")
@pytest.mark.parametrize("cin, cout, groups, blocks", CASES)
def test_group_block_rule_names_onednns_kernel(cin, cout, groups, blocks):
    found = onednn_conv_kernel(cin, cout, 3, 14, groups)
    if found is None:
        pytest.skip("oneDNN did not log this conv (no oneDNN verbose support in this build)")
    implementation, block = found
    rule = onednn_group_block(cin // groups, cout // groups)
    assert rule == blocks[VECTOR_LANES]
    assert block == rule
    # no block: oneDNN's GEMM-per-group implementation; a block: its direct jit kernel
    assert ("gemm" in implementation) == (rule is None)


@pytest.mark.parametrize("cin, cout, groups, blocks", CASES)
def test_group_block_rule_by_hand(cin, cout, groups, blocks):
    # the table's hand-worked blocks, for both ISAs on any machine
    for lanes, block in blocks.items():
        assert onednn_group_block(cin // groups, cout // groups, lanes=lanes) == block


def test_group_block_feature_by_hand(monkeypatch):
    from costmodel.latency import features
    from costmodel.latency.features import FEATURES, conv_features, log_group_block

    monkeypatch.setattr(features, "VECTOR_LANES", 16)  # AVX-512: blocks 16, 8, 4
    # 32 -> 24 per group: 16 does not divide 24, 8 divides both -> log2(8) = 3
    assert log_group_block(2, 32, 24) == 3.0
    # 32 -> 20 per group: 8 does not divide 20, 4 does -> log2(4) = 2
    assert log_group_block(4, 32, 20) == 2.0
    # 6 -> 16 per group: no block (oneDNN's GEMM per group) -> 0; an ungrouped conv -> 0
    assert log_group_block(2, 6, 16) == 0.0
    assert log_group_block(1, 32, 24) == 0.0
    # the TGC conv of the held-out config: 64 -> 48 channels in 2 groups (32 -> 24), 5 x 5, 28 x 28
    row = {"kind": "conv", "c_in": 64, "c_out": 48, "groups": 2, "k": 5, "k_w": 5, "stride": 2,
           "h_out": 28, "w_out": 28, "macs": 48 * 32 * 25 * 28 * 28, "mem_bytes": 1}
    assert conv_features(row)["log_block"] == 3.0
    monkeypatch.setattr(features, "VECTOR_LANES", 8)  # AVX2: block 8 only
    # 32 -> 20 per group: 8 does not divide 20 -> no block -> 0; 32 -> 24: 8 -> 3
    assert (log_group_block(4, 32, 20), log_group_block(2, 32, 24)) == (0.0, 3.0)
    # only the grouped-conv curve uses it: for the others it is 0 on every op
    assert "log_block" in FEATURES["group"] and all("log_block" not in FEATURES[c] for c in ("dense", "pointwise"))


def test_output_block_waste_by_hand(monkeypatch):
    import math

    from costmodel.latency import features
    from costmodel.latency.features import FEATURES, conv_features, oc_blocking_waste

    monkeypatch.setattr(features, "VECTOR_LANES", 8)  # AVX2, where the step of 4 blocks was measured
    # steps of 4 blocks of 8 channels, a tail of one block paid as two:
    # 8 -> 1 block -> tail 1 paid 2: log2(2 / 1) = 1; 4 -> 1 block (lane padding aside) alike
    assert oc_blocking_waste(8) == 1.0 and oc_blocking_waste(4) == 1.0
    # 16, 24, 32 -> 2, 3, 4 blocks, paid as they are: 0; 48 -> 4 + 2; 64 -> 4 + 4: 0
    assert [oc_blocking_waste(c) for c in (16, 24, 32, 48, 64)] == [0.0] * 5
    # 40 -> 5 blocks -> 4 + a tail of 1 paid 2 -> 6 blocks: log2(6 / 5) = 0.263
    assert oc_blocking_waste(40) == pytest.approx(math.log2(1.2))
    # 72 -> 9 blocks -> 4 + 4 + 1 paid 2 -> 10: log2(10 / 9) = 0.152
    assert oc_blocking_waste(72) == pytest.approx(math.log2(10 / 9))
    # 12 -> 2 blocks (16 channels) paid as 2: 0 (the padding 12 -> 16 is waste_out's)
    assert oc_blocking_waste(12) == 0.0
    # 16 lanes (AVX-512): no measured step -> 0 whatever the channels
    assert oc_blocking_waste(16, lanes=16) == 0.0 and oc_blocking_waste(80, lanes=16) == 0.0

    def conv(c_in: int, c_out: int, groups: int, k: int = 3, side: int = 28) -> dict:
        return {"kind": "conv", "c_in": c_in, "c_out": c_out, "groups": groups, "k": k, "k_w": k, "stride": 1,
                "h_out": side, "w_out": side, "macs": c_out * (c_in // groups) * k * k * side * side,
                "reads": c_in * side * side, "mem_bytes": 1}

    # DGC's grouped conv (64 -> 32 in 4 groups: 16 -> 8 per group, block 8, 3 x 3, 28 x 28): 1
    assert conv_features(conv(64, 32, 4))["block_out"] == 1.0
    # an ungrouped 3 x 3 conv of 32 -> 8 on 28 x 28 (25,088 input elements > 20,480): oneDNN, 1
    assert conv_features(conv(32, 8, 1))["block_out"] == 1.0
    # 16 -> 8 on 28 x 28 reads 12,544 <= 20,480 elements: ATen's im2col + GEMM, not oneDNN -> 0
    assert conv_features(conv(16, 8, 1))["block_out"] == 0.0
    # 48 -> 32 in 4 groups (12 -> 8 per group): 8 does not divide 12, so oneDNN runs a GEMM per
    # group ("group/onednn_gemm"), no output-block step -> 0
    assert conv_features(conv(48, 32, 4))["block_out"] == 0.0
    # the dense and grouped curves have it; pointwise and depthwise convs run other kernels
    assert "block_out" in FEATURES["dense"] and "block_out" in FEATURES["group"]
    assert "block_out" not in FEATURES["pointwise"] and "block_out" not in FEATURES["depthwise"]


def test_batch_repeat_feature_by_hand():
    from costmodel.latency.cases import conv_row
    from costmodel.latency.features import FEATURES, conv_features

    g = dict(cin=128, cout=128, k=3, kw=3, h=4, stride=1, groups=1, pad=1, pad_w=1, transpose=False)
    one, four = conv_row({**g, "batch": 1}), conv_row({**g, "batch": 4})
    # batch 4 on 4 x 4 pixels: log_rep = log2(4) = 2, log_hw = log2(16 * 4) = 6; batch 1: 0 and 4
    assert conv_features(four)["log_rep"] == 2.0 and conv_features(four)["log_hw"] == 6.0
    assert conv_features(one)["log_rep"] == 0.0 and conv_features(one)["log_hw"] == 4.0
    # the dense and grouped curves use it; pointwise convs at a batch under 16 run image by image
    # on the GEMM (features.conv_backend), so theirs does not
    assert "log_rep" in FEATURES["dense"] and "log_rep" in FEATURES["group"]
    assert "log_rep" not in FEATURES["pointwise"] and "log_rep" not in FEATURES["depthwise"]


def test_group_curve_keys(monkeypatch):
    from costmodel.latency import features
    from costmodel.latency.cases import conv_row

    def row(cin, cout, groups):  # a 3x3 grouped conv on 14 x 14 (oneDNN's path: groups > 1)
        return conv_row(dict(cin=cin, cout=cout, k=3, kw=3, h=14, stride=1, groups=groups, batch=1, pad=1,
                             pad_w=1, transpose=False))

    monkeypatch.setattr(features, "VECTOR_LANES", 16)
    # AVX-512, 20 and 8 per group: block 4, narrower than the 16-lane vector
    assert curve_key(row(80, 32, 4)) == "group/onednn_subblock"
    # 6 and 16 per group: no block
    assert curve_key(row(48, 128, 8)) == "group/onednn_gemm"
    # 32 and 32 per group: a full vector block
    assert curve_key(row(128, 128, 4)) == "group/onednn"
    monkeypatch.setattr(features, "VECTOR_LANES", 8)
    # AVX2, 20 and 8 per group: no 4-channel block on this ISA -> the per-group GEMM
    assert curve_key(row(80, 32, 4)) == "group/onednn_gemm"
    # 32 and 32 per group: block 8, a full AVX2 vector
    assert curve_key(row(128, 128, 4)) == "group/onednn"


def test_depthwise_channel_block_feature_by_hand(monkeypatch):
    from costmodel.latency import features
    from costmodel.latency.cases import conv_row

    def blocked(c: int) -> float:
        row = conv_row(dict(cin=c, cout=c, k=3, kw=3, h=56, stride=1, groups=c, batch=1, pad=1, pad_w=1,
                            transpose=False))
        return features.conv_features(row)["blocked_c"]

    # AVX-512: 16 fp32 lanes; 64 = 4 x 16 -> 1, 72 = 4 x 16 + 8 -> 0, 8 < 16 -> 0 (a power of
    # two below the lanes is "aligned" per group, but oneDNN's depthwise kernel ran 8 channels
    # at 2.4 GMAC/s against 5.7 for 16: AMD EPYC VM, 2026-12-07)
    monkeypatch.setattr(features, "VECTOR_LANES", 16)
    assert (blocked(64), blocked(72), blocked(8)) == (1.0, 0.0, 0.0)
    # AVX2: 8 lanes; 72 = 9 x 8 -> 1, 36 = 4 x 8 + 4 -> 0
    monkeypatch.setattr(features, "VECTOR_LANES", 8)
    assert (blocked(72), blocked(36)) == (1.0, 0.0)
    # only the depthwise curves use it
    assert "blocked_c" in features.FEATURES["depthwise"]
    assert all("blocked_c" not in features.FEATURES[c] for c in ("dense", "pointwise", "group"))


def test_depthwise_curve_learns_the_channel_block(monkeypatch):
    import numpy as np
    import pandas as pd

    from costmodel.latency import features
    from costmodel.latency.cases import conv_row
    from costmodel.latency.fit import fit_efficiency_at

    monkeypatch.setattr(features, "VECTOR_LANES", 16)
    # 3x3 depthwise convs: 50 us overhead, then 2e9 MAC/s on whole 16-channel blocks and half
    # that on the others (the measured oneDNN kernel: 64 channels at 56 x 56 in 160 us, 72 in
    # 333 us). The fitted curve must give the blocked ones twice the efficiency: b = ln 2 = 0.69.
    rows = []
    for c in (16, 24, 32, 40, 48, 56, 64, 72, 96, 120, 128, 136):
        for h in (14, 28, 56):
            row = conv_row(dict(cin=c, cout=c, k=3, kw=3, h=h, stride=1, groups=c, batch=1, pad=1, pad_w=1,
                                transpose=False))
            rate = 2e9 if c % 16 == 0 else 1e9
            rows.append({**row, "measured_s": 50e-6 + row["macs"] / rate})
    curve = fit_efficiency_at(pd.DataFrame(rows), "depthwise", 4e9, 2 ** 20, ridge=1e-3)
    assert curve.coef["blocked_c"] == pytest.approx(np.log(2), abs=0.1)
    # 72 channels at 56 x 56: 72 * 9 * 3136 = 2.03 M MACs at 1e9 -> 50 + 2032 us; 64: 50 + 903 us
    for c, truth in ((72, 50e-6 + 2032128 / 1e9), (64, 50e-6 + 1806336 / 2e9)):
        row = conv_row(dict(cin=c, cout=c, k=3, kw=3, h=56, stride=1, groups=c, batch=1, pad=1, pad_w=1,
                            transpose=False))
        assert curve.seconds(row, 4e9, 2 ** 20) == pytest.approx(truth, rel=0.03)


def test_few_depthwise_training_convs_sit_on_the_overhead_floor(monkeypatch):
    import random

    from costmodel.latency import sampler
    from costmodel.latency.cases import conv_row

    def share_under(keep: float) -> float:
        monkeypatch.setattr(sampler, "DEPTHWISE_FLOOR_KEEP", keep)
        rng = random.Random(7)
        macs = [conv_row(sampler.conv_item(rng, "depthwise"))["macs"] for _ in range(400)]
        return sum(m < sampler.DEPTHWISE_FLOOR_MACS for m in macs) / len(macs)

    # keeping every draw, a third of the random depthwise convs sit under 0.2 M MACs (seed 7:
    # 134 of 400); kept at rate k, the share becomes p k / (p k + 1 - p) = 0.335 * 0.25 /
    # (0.084 + 0.665) = 0.11
    assert share_under(1.0) == pytest.approx(0.335, abs=0.05)
    assert share_under(0.25) == pytest.approx(0.11, abs=0.04)
    # the floor itself still gets points: the curve needs its overhead
    assert share_under(0.25) > 0.05
    # and none over the cap (30 M MACs): a 384-channel 7x7 depthwise conv at 128 px
    # (384 * 49 * 128^2 = 308 M MACs) halves its channels four times, to 24 (19.3 M); one that
    # stays over the cap is redrawn
    rng = random.Random(11)
    assert max(conv_row(sampler.conv_item(rng, "depthwise"))["macs"] for _ in range(400)) <= sampler.DEPTHWISE_MAX_MACS
