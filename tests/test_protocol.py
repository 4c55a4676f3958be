"""The measurement protocol's statistics on synthetic timing series with injected slow periods,
and the interleaved harness on real tiny modules (positive, finite; no timing threshold)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from costmodel.latency.protocol import Estimate, estimates, low_percentile, measure_interleaved, spread, summarize


def _series(n: int = 200, base: float = 100e-6, jitter: float = 0.01, seed: int = 0) -> np.ndarray:
    """Sample times of a quiet machine: base * (1 + |N(0, jitter)|) (noise only ever adds time)."""
    rng = np.random.default_rng(seed)
    return base * (1 + np.abs(rng.normal(0, jitter, n)))


def test_low_percentile_hand_worked():
    # 10 samples 1..10: the 10th percentile by linear interpolation sits at rank 0.1 * 9 = 0.9,
    # i.e. 1 + 0.9 * (2 - 1) = 1.9
    assert low_percentile(list(range(1, 11)), 0.10) == pytest.approx(1.9)
    # the median of 1..10 is 5.5
    assert low_percentile(list(range(1, 11)), 0.5) == pytest.approx(5.5)


def test_low_percentile_ignores_a_slow_period_covering_most_samples():
    times = _series()
    slowed = times.copy()
    slowed[40:160] *= 3.0  # another process holds the core for 60% of the run: 3x slower there
    # quiet: the 10th percentile of 1 + |N(0, 1%)| is about 1 + 1% * 0.126 (half-normal quantile)
    quiet = low_percentile(times)
    assert quiet == pytest.approx(100e-6, rel=0.005)
    # 40% of samples stay fast, so the 10th percentile is still among them: within 0.5%
    assert low_percentile(slowed) == pytest.approx(quiet, rel=0.005)
    # the median, by contrast, moves to the slow level (3x)
    assert np.median(slowed) > 2.5 * quiet


def test_estimates_and_spread_of_independent_slices():
    # first half at 100 us, second half at 103 us: two estimates 3% apart
    times = np.concatenate([np.full(50, 100e-6), np.full(50, 103e-6)])
    est = estimates(times, parts=2)
    assert est == pytest.approx([100e-6, 103e-6])
    assert spread(est) == pytest.approx(0.03)
    # a slow period inside one slice that leaves 30% of it fast does not move that slice's estimate
    slowed = _series(100, seed=1)
    slowed[10:45] *= 2.0
    a, b = estimates(slowed, parts=2)
    assert spread([a, b]) < 0.01
    assert spread([1.0, 1.0]) == 0.0


def test_summarize_fields():
    est = summarize([3.0, 1.0, 2.0, 4.0], number=5, clock="thread", q=0.5, parts=2)
    # median of 1..4 = 2.5; slices [3, 1] and [2, 4]: medians 2 and 3: spread 3 / 2 - 1 = 0.5
    assert isinstance(est, Estimate)
    assert (est.seconds, est.estimates, est.spread) == (2.5, (2.0, 3.0), 0.5)
    assert (est.samples, est.number, est.clock, est.quantile) == (4, 5, "thread", 0.5)
    assert est.row()["measured_us"] == pytest.approx(2.5e6)


@pytest.mark.parametrize("call, message", [
    (lambda: low_percentile([1.0], 0.0), "q = 0.0 is invalid"),
    (lambda: low_percentile([], 0.1), "samples = \\[\\] is invalid"),
    (lambda: estimates([1.0, 2.0], parts=0), "parts = 0 is invalid"),
])
def test_bad_statistics_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_measure_interleaved_real_modules_and_mode_restored():
    import torch

    conv = torch.nn.Conv2d(4, 4, 3, padding=1)
    relu = torch.nn.ReLU()
    conv.train()
    out = measure_interleaved([(conv, torch.randn(1, 4, 8, 8)), (relu, (torch.randn(1, 64),))],
                              samples=6, target_s=1e-5, clock="thread")
    assert len(out) == 2
    for est in out:
        assert math.isfinite(est.seconds) and est.seconds > 0
        assert est.samples == 6 and est.number >= 1 and len(est.estimates) == 2
        assert est.spread >= 0 and est.clock == "thread"
    assert conv.training  # the caller's mode is restored


def test_measure_interleaved_restores_mixed_submodule_modes():
    """A training model with a frozen (eval) BN inside comes back with both flags as they were,
    not with every submodule set to the root's mode."""
    import torch

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
    model.train()
    model[1].eval()
    before = [m.training for m in model.modules()]
    measure_interleaved([(model, torch.randn(1, 3, 8, 8))], samples=2, target_s=1e-5, clock="thread")
    assert [m.training for m in model.modules()] == before == [True, True, False, True]


def test_measure_interleaved_rejects_bad_settings():
    import torch

    with pytest.raises(ValueError, match="samples = 1 is invalid"):
        measure_interleaved([(torch.nn.ReLU(), torch.randn(2))], samples=1)
    with pytest.raises(ValueError, match="clock = 'sundial' is invalid"):
        measure_interleaved([(torch.nn.ReLU(), torch.randn(2))], clock="sundial")


def test_measure_restores_mixed_modes():
    """``measure`` (blocked_autorange harness) gives back every submodule's own flag too."""
    import torch

    from costmodel.latency.measure import measure

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5))
    model.train()
    model[1].eval()
    measure(model, torch.randn(2, 4), min_run_time=0.01, warmup=1)
    assert [m.training for m in model.modules()] == [True, True, False]
