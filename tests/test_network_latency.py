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

def test_network_composition_applies_per_layer_and_table_still_sums():
    import dataclasses

    from torch import nn

    from costmodel.latency.profile import NetworkComposition

    comp = NetworkComposition(scale=2.0, per_layer_s=1e-6, s_per_weight_byte=1e-9)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU())
    result = predict_latency(model, (1, 3, 8, 8), profile=dataclasses.replace(_profile(), network=comp))
    _check(result)
    # alone (hand-worked above): conv 14.824 us, ReLU 5.096 us, model call 1 us (not composed).
    # in a network: conv 2 * 14.824 + 1 + 1e-9 * 864 weight bytes (8*3*9*4) * 1e6 us = 31.512 us;
    # ReLU 2 * 5.096 + 1 + 0 = 11.192 us.
    assert list(result.table["alone_s"]) == pytest.approx([14.824e-6, 5.096e-6, 1e-6])
    assert list(result.table["seconds"]) == pytest.approx([31.512e-6, 11.192e-6, 1e-6])
    assert result.seconds == pytest.approx(43.704e-6)


def test_network_composition_fit_recovers_known_coefficients():
    import numpy as np

    from costmodel.latency.netfit import fit_network_composition

    # networks made from t = 1e-6 + 1.2 * sum_alone + 3e-6 * layers + 2e-11 * weight bytes, exactly
    x = np.array([[1e-3, 20, 1e6], [5e-3, 50, 4e7], [2e-2, 90, 1e8], [8e-3, 16, 3e6], [3e-3, 120, 2e7]])
    t = 1e-6 + x @ np.array([1.2, 3e-6, 2e-11])
    comp = fit_network_composition(x, t, 1e-6, ["a", "b", "c", "d", "e"])
    assert (comp.scale, comp.per_layer_s, comp.s_per_weight_byte) == pytest.approx((1.2, 3e-6, 2e-11), rel=1e-6)
    assert comp.n == 5 and comp.networks == ["a", "b", "c", "d", "e"]
    assert fit_network_composition(x[:2], t[:2], 1e-6) is None  # 2 networks fit nothing


def test_group_cv_never_scores_a_network_with_a_fit_that_saw_its_family():
    import numpy as np

    from costmodel.latency.netfit import group_cv

    x = np.array([[1e-3, 20, 1e6], [5e-3, 50, 4e7], [2e-2, 90, 1e8], [8e-3, 16, 3e6], [3e-3, 120, 2e7],
                  [4e-3, 30, 5e6]])
    t = x @ np.array([1.0, 2e-6, 1e-11])
    t_bad = t.copy()
    t_bad[:2] *= 10  # family "a" runs 10x slower than the others' law
    cv = group_cv(x, t_bad, 0.0, ["a", "a", "b", "b", "c", "c"])
    # "a" is predicted from b and c only (the clean law): 10x below its own measurement
    assert cv[:2] == pytest.approx(t[:2], rel=1e-6)
