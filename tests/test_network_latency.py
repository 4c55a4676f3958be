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
