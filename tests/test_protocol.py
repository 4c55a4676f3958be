"""The measurement protocol's statistics on synthetic timing series with injected slow periods,
and the interleaved harness on real tiny modules (positive, finite; no timing threshold)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from costmodel.latency.protocol import (Estimate, _burst, estimates, low_percentile, measure_interleaved,
                                        normalize_passes, part_levels, pass_factors, spread, summarize,
                                        with_levels)


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


def _drifting_run(items: int = 10, passes: int = 20, slow_from: int = 11, slow: float = 1.3) -> tuple[np.ndarray, np.ndarray]:
    """(times items x passes, machine speed per pass): item i takes (i + 1) * 100 us at full
    speed; the whole machine runs ``slow`` times slower from pass ``slow_from`` on (a slow
    minute of the VM hits every item alike)."""
    speed = np.where(np.arange(passes) >= slow_from, slow, 1.0)
    base = (np.arange(items) + 1.0) * 100e-6
    return base[:, None] * speed[None, :], speed


def test_pass_factors_recover_a_machine_wide_slow_period():
    times, speed = _drifting_run()
    # 11 passes at speed 1.0 and 9 at 1.3: the median pass runs at 1.0, so the factors are the
    # speeds themselves (1.0, then 1.3), the same for every item
    assert np.allclose(pass_factors(times), speed[None, :])
    # divided out, every item is its full-speed time in every pass
    assert np.allclose(normalize_passes(times), (np.arange(10) + 1.0)[:, None] * 100e-6)


def test_pass_normalization_makes_the_two_halves_agree():
    times, _ = _drifting_run()  # at the 10th percentile (q=0.1), whatever protocol.QUANTILE is
    # raw: the first half (passes 0-9) runs at 1.0; the second (10-19) has one pass at 1.0 and
    # nine at 1.3, whose 10th percentile is at rank 0.9: 1.0 + 0.9 * 0.3 = 1.27 -> spread 27%
    assert spread(estimates(times[0], q=0.1)) == pytest.approx(0.27)
    # normalized: both halves are 100 us
    assert spread(estimates(normalize_passes(times)[0], q=0.1)) == pytest.approx(0.0, abs=1e-12)


def test_an_items_own_slow_sample_is_not_normalized_away():
    times, _ = _drifting_run(slow=1.0)  # a steady machine
    times[0, 3] *= 2.0  # only item 0 is slow in pass 3 (its own noise)
    normalized = normalize_passes(times)
    # item 0's factor comes from the nine other items (all at 1.0 in pass 3): its sample stays 2x
    assert normalized[0, 3] == pytest.approx(200e-6)
    # the other items' factor is the median of nine ratios, eight of them 1.0 and item 0's 2.0: 1.0
    assert np.allclose(normalized[1:], times[1:])


def test_an_item_timed_at_zero_does_not_spoil_the_others():
    times, speed = _drifting_run()
    times[0] = 0.0  # a coarse clock read 0 for item 0 in every pass
    factors = pass_factors(times)
    # the other nine items still see the machine's speeds (1.0, then 1.3) ...
    assert np.allclose(factors[1:], speed[None, :])
    # ... and item 0's own samples stay 0 (finite) after normalization
    assert np.array_equal(normalize_passes(times)[0], np.zeros(20))


def test_too_few_items_are_not_normalized():
    times, _ = _drifting_run(items=3)
    # 3 < NORMALIZE_MIN_ITEMS (8): a median over two other items is not the machine's speed
    assert np.array_equal(normalize_passes(times), times)
    with pytest.raises(ValueError, match="at least 2 items"):
        pass_factors(times[:1])


def test_summarize_keeps_the_raw_spread():
    # normalized samples agree (spread 0); the raw ones were 100 and 110 us: spread 10%
    est = summarize([1.0, 1.0], raw=[100e-6, 110e-6], q=0.5)
    assert est.spread == 0.0 and est.raw_spread == pytest.approx(0.10)
    assert est.row()["raw_spread"] == pytest.approx(0.10)
    # without raw samples (not normalized) the row has no raw spread
    assert math.isnan(summarize([1.0, 2.0], q=0.5).row()["raw_spread"])


def _drifting(base: float, slower: float, n: int = 200) -> list[float]:
    """A quiet series whose second half runs ``slower`` times the first (the quick state's drift)."""
    return list(np.concatenate([np.full(n // 2, base), np.full(n // 2, base * slower)]))


def test_part_levels_remove_a_drift_that_moves_every_item_alike():
    # three anchors and an item; the whole machine runs 6% slower in the second half
    anchors = [summarize(_drifting(b, 1.06), q=0.05) for b in (10e-6, 50e-6, 300e-6)]
    item = summarize(_drifting(80e-6, 1.06), q=0.05)
    # each anchor: halves (b, 1.06 b), whole 5th percentile b (the quick first half): ratios (1, 1.06)
    assert part_levels(anchors) == pytest.approx((1.0, 1.06))
    # raw: the item's halves 80 and 84.8 us, spread 6%; at each half's level both are 80 us: 0
    assert item.spread == pytest.approx(0.06)
    (leveled,) = with_levels([item], part_levels(anchors))
    assert leveled.leveled_spread == pytest.approx(0.0, abs=1e-12)
    assert leveled.seconds == item.seconds and leveled.spread == item.spread  # the measurement itself unchanged
    assert leveled.row()["leveled_spread"] == pytest.approx(0.0, abs=1e-12)


def test_part_levels_keep_an_items_own_change():
    # the anchors hold still, the item alone slows 5% in its second half: that stays in its spread
    anchors = [summarize(_drifting(b, 1.0), q=0.05) for b in (10e-6, 50e-6, 300e-6)]
    (leveled,) = with_levels([summarize(_drifting(80e-6, 1.05), q=0.05)], part_levels(anchors))
    assert leveled.leveled_spread == pytest.approx(0.05)


def test_part_levels_need_three_anchors():
    two = [summarize(_drifting(b, 1.06), q=0.05) for b in (10e-6, 50e-6)]
    item = summarize(_drifting(80e-6, 1.06), q=0.05)
    assert part_levels(two) is None and part_levels([]) is None
    (same,) = with_levels([item], part_levels(two))
    assert same.leveled_spread is None and math.isnan(same.row()["leveled_spread"])


def test_part_levels_skip_anchors_without_every_part():
    # four anchors whose second half ran 4% slower; one has no second estimate, one a NaN there:
    # the two left are too few (3 needed); a third full anchor makes them enough: (1, 1.04)
    full = [summarize(_drifting(b, 1.04), q=0.05) for b in (10e-6, 50e-6)]
    short = Estimate(seconds=20e-6, spread=0.0, estimates=(20e-6,), samples=1, number=1, clock="wall", quantile=0.05)
    broken = Estimate(seconds=20e-6, spread=0.0, estimates=(20e-6, math.nan), samples=2, number=1, clock="wall",
                      quantile=0.05)
    assert part_levels(full + [short, broken]) is None
    third = summarize(_drifting(300e-6, 1.04), q=0.05)
    assert part_levels(full + [short, broken, third]) == pytest.approx((1.0, 1.04))


def test_burst_primes_then_times_number_calls():
    calls = []

    def module(x):
        calls.append(x)

    # the clock reads the number of calls so far: the timed part starts after the 2 priming
    # calls (clock 2) and ends after 3 more (clock 5): (5 - 2) / 3 = 1 call per call
    per_call = _burst(module, (1,), 3, lambda: float(len(calls)), lambda: None, prime=2)
    assert len(calls) == 5 and per_call == pytest.approx(1.0)


def test_measure_interleaved_normalizes_only_when_asked_and_many_items():
    import torch

    # off by default (protocol.NORMALIZE: the raw low percentile reproduced across runs, the
    # normalized one moved with the run's median speed): no raw spread is kept beside
    default = measure_interleaved([(torch.nn.ReLU(), torch.randn(8))] * 8, samples=4, target_s=1e-5, clock="thread")
    assert all(e.raw_spread is None for e in default)
    few = measure_interleaved([(torch.nn.ReLU(), torch.randn(8))] * 2, samples=4, target_s=1e-5, clock="thread",
                              normalize=True)
    assert all(e.raw_spread is None for e in few)  # 2 items: not normalized even when asked
    many = measure_interleaved([(torch.nn.ReLU(), torch.randn(8))] * 8, samples=4, target_s=1e-5, clock="thread",
                               normalize=True)
    assert all(e.raw_spread is not None and e.raw_spread >= 0 for e in many)


def test_steady_allocator_settles_once_per_process(monkeypatch):
    import torch

    from costmodel.latency import allocator

    calls = []
    monkeypatch.setattr(allocator, "_ALLOCATOR", {})
    monkeypatch.setattr(allocator, "_settle_glibc", lambda: calls.append(1) or "glibc settled")
    measure_interleaved([(torch.nn.ReLU(), torch.randn(8))], samples=2, target_s=1e-5, clock="thread")
    assert allocator.steady_allocator() == "glibc settled"
    assert calls == [1]  # measure_interleaved settled it; the second call found it done


MMAPPED_BLOCKS = """
import ctypes, importlib.util, sys
spec = importlib.util.spec_from_file_location("allocator", sys.argv[1])
allocator = importlib.util.module_from_spec(spec)
spec.loader.exec_module(allocator)
if sys.argv[2] == "settle":
    assert allocator.steady_allocator() == allocator.SETTLED
fields = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in fields]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
before = libc.mallinfo2().hblks
block = libc.malloc(1 << 20)
print(libc.mallinfo2().hblks - before)
"""


def test_settled_glibc_keeps_a_megabyte_in_the_heap():
    """A 1 MiB malloc in a fresh process (no torch: nothing has moved glibc's dynamic threshold):
    glibc's default maps it with mmap (beyond its 128 KiB threshold: one more mmapped block, whose
    pages fault on first touch); once settled it comes from the heap (none)."""
    import platform
    import subprocess
    import sys

    from costmodel.latency import allocator

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")

    def mmapped_blocks(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", MMAPPED_BLOCKS, allocator.__file__, mode],
                             capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])

    assert mmapped_blocks("default") == 1
    assert mmapped_blocks("settle") == 0


def test_another_preloaded_allocator_is_left_alone(monkeypatch):
    from costmodel.latency import allocator

    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
    assert allocator._settle_glibc() == "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 preloaded: allocator left as it is"
    assert allocator.settle_for("cuda:0") == "n/a"


def test_normalization_is_kept_only_where_it_makes_the_halves_agree():
    from costmodel.latency.protocol import keep_normalized, median_spread

    # all at the 10th percentile (q=0.1), whatever protocol.QUANTILE is
    # a machine-wide slow period: raw halves 27% apart for every item, normalized 0% apart
    times, _ = _drifting_run()
    assert median_spread(times, q=0.1) == pytest.approx(0.27)
    assert keep_normalized(times, normalize_passes(times), q=0.1)
    # a steady machine, each item slow in its own passes: 10 items x 20 passes, item i slow (2x)
    # in passes i and i + 10 only. Raw: each half has 9 passes at the base and one at 2x, the 10th
    # percentile (rank 0.9 of 10) = base in both halves -> spread 0. Normalized: an item's factor
    # in a pass where another item is slow is still 1 (median of nine ratios, eight of them 1),
    # so nothing moves: spread 0 too, not lower -> the raw samples are kept
    steady, _ = _drifting_run(slow=1.0)
    for i in range(10):
        steady[i, [i, i + 10]] *= 2.0
    assert median_spread(steady, q=0.1) == pytest.approx(0.0, abs=1e-12)
    assert not keep_normalized(steady, normalize_passes(steady), q=0.1)
    # and where normalizing would ADD disagreement (another item's fluke drags one pass of the
    # first half down for all), the raw samples are kept: made-up normalized series with a 5% gap
    worse = steady.copy()
    worse[:, :10] *= 1.05
    assert median_spread(worse, q=0.1) == pytest.approx(0.05)
    assert not keep_normalized(steady, worse, q=0.1)


def _scripted_bursts(monkeypatch, series):
    """Make every timed burst of item i return the next value of ``series(i, k)`` (k: its
    burst count so far); the burst that picks the call count (no priming) returns 1 ms."""
    from costmodel.latency import protocol

    def fake(module, inputs, number, timer, sync, prime=0):
        if not prime:
            return 1e-3
        k = module.bursts  # counted on the module itself: an id() can be reused by the next test's
        module.bursts = k + 1
        return series(module.index, k)

    monkeypatch.setattr(protocol, "_burst", fake)


def _items(n):
    import torch

    out = []
    for i in range(n):
        m = torch.nn.Identity()
        m.index, m.bursts = i, 0
        out.append((m, torch.zeros(1)))
    return out


def test_measure_interleaved_adds_passes_until_the_items_reproduce(monkeypatch):
    from costmodel.latency import protocol

    monkeypatch.setattr(protocol, "EXTEND_BLOCK", 4)
    # passes 0-1 at 1 ms, 2-3 at 2 ms, then 1 ms for good
    _scripted_bursts(monkeypatch, lambda i, k: 2e-3 if k in (2, 3) else 1e-3)
    # after 4 passes the halves are [1, 1] and [2, 2] ms: 10th percentiles 1 and 2, spread 100%;
    # after 4 more, halves of 4: [1, 1, 2, 2] -> q10 = 1 (linear: 1 + 0.3 * 0 = 1) and [1, 1, 1, 1]
    # -> 1: spread 0, both items reproduce, and the run stops at 8 passes
    found = measure_interleaved(_items(2), samples=4, until_share=1.0, max_samples=20, clock="wall")
    assert [e.samples for e in found] == [8, 8]
    assert all(e.spread == 0 for e in found)
    # without a target the run keeps its 4 passes and reports the disagreement
    fixed = measure_interleaved(_items(2), samples=4, clock="wall")
    assert [e.samples for e in fixed] == [4, 4] and all(e.spread == pytest.approx(1.0) for e in fixed)


def test_measure_interleaved_stops_at_max_samples(monkeypatch):
    from costmodel.latency import protocol

    monkeypatch.setattr(protocol, "EXTEND_BLOCK", 4)
    # item 0 slows down for good after its first 2 passes: halves never agree within 3%
    # (e.g. after 10 passes: [1, 1, 2, 2, 2] -> q10 = 1, [2, ...] -> 2); item 1 is steady
    _scripted_bursts(monkeypatch, lambda i, k: 2e-3 if i == 0 and k >= 2 else 1e-3)
    found = measure_interleaved(_items(2), samples=4, until_share=1.0, max_samples=10, clock="wall")
    # 4, then 8, then 10 (the last block cut at max_samples); half the items reproduce
    assert [e.samples for e in found] == [10, 10]
    assert protocol.reproduced_share(found) == 0.5
    # a target of one item in two is met at once
    found = measure_interleaved(_items(2), samples=4, until_share=0.5, max_samples=10, clock="wall")
    assert [e.samples for e in found] == [4, 4]


def test_measure_interleaved_rejects_bad_extension_settings():
    import torch

    case = [(torch.nn.ReLU(), torch.randn(2))]
    with pytest.raises(ValueError, match="until_share = 1.5 is invalid: allowed is a share in"):
        measure_interleaved(case, samples=4, until_share=1.5)
    with pytest.raises(ValueError, match=r"max_samples = 3 is invalid: allowed is an integer >= samples \(4\)"):
        measure_interleaved(case, samples=4, until_share=0.9, max_samples=3)


def test_a_deadline_stops_the_passes_once_its_floor_is_done():
    import time

    import torch

    from costmodel.latency.protocol import measure_interleaved

    cases = [(torch.nn.ReLU(), torch.randn(8))] * 2
    # a deadline already past: 4 passes (the floor) instead of 10, for every item
    late = measure_interleaved(cases, samples=10, deadlines=[(0.0, 4)], target_s=1e-5, clock="thread")
    assert [e.samples for e in late] == [4, 4]
    # two deadlines, both past: the lower floor (3) ends it; the floor never goes under PARTS (2)
    late = measure_interleaved(cases, samples=10, deadlines=[(0.0, 6), (0.0, 3)], target_s=1e-5, clock="thread")
    assert [e.samples for e in late] == [3, 3]
    late = measure_interleaved(cases, samples=10, deadlines=[(0.0, 1)], target_s=1e-5, clock="thread")
    assert [e.samples for e in late] == [2, 2]
    # a soft deadline past with its floor of 4, a hard one far ahead with a floor of 2: 4 passes
    late = measure_interleaved(cases, samples=10, deadlines=[(0.0, 4), (time.perf_counter() + 3600, 2)],
                               target_s=1e-5, clock="thread")
    assert [e.samples for e in late] == [4, 4]
    # even where passes would be added until the items reproduce: the deadline ends it
    late = measure_interleaved(cases, samples=10, deadlines=[(0.0, 4)], target_s=1e-5, clock="thread",
                               until_share=1.0, max_samples=30)
    assert [e.samples for e in late] == [4, 4]
    # a deadline far ahead changes nothing: all 10
    ahead = measure_interleaved(cases, samples=10, deadlines=[(time.perf_counter() + 3600, 4)],
                                target_s=1e-5, clock="thread")
    assert [e.samples for e in ahead] == [10, 10]


def test_pass_strides_hand_worked():
    from costmodel.latency.protocol import pass_strides

    # target 0.5 ms, 500 passes, at least 60 samples: cap = 500 // 60 = 8
    # 0.1 ms -> floor(0.2) = 0 -> 1 (every pass); 1.2 ms -> floor(2.4) = 2; 53 ms -> ~106 -> cap 8
    assert pass_strides([1e-4, 1.2e-3, 53e-3], samples=500, least=60, target_s=5e-4) == [1, 2, 8]
    # fewer passes than the floor: nothing is thinned (cap = max(1, 100 // 200) = 1)
    assert pass_strides([53e-3], samples=100, least=200, target_s=5e-4) == [1]
    with pytest.raises(ValueError, match="least = 0 is invalid: allowed is an integer >= 1"):
        pass_strides([1e-3], samples=10, least=0)


def test_a_long_item_sits_out_passes_and_keeps_its_floor_of_samples(monkeypatch):
    from costmodel.latency import protocol

    one_call = {0: 1e-4, 1: 5e-3}  # item 1 outlasts the 0.5 ms burst target ten times

    def fake(module, inputs, number, timer, sync, prime=0):
        if not prime:
            return one_call[module.index]
        module.bursts += 1
        return one_call[module.index]

    monkeypatch.setattr(protocol, "_burst", fake)
    items = _items(2)
    # 20 passes, at least 4 samples: stride of item 1 = min(floor(5e-3 / 5e-4) = 10, 20 // 4 = 5) = 5
    found = measure_interleaved(items, samples=20, long_item_samples=4, target_s=5e-4, clock="wall", normalize=False)
    assert [e.samples for e in found] == [20, 4]
    assert [m.bursts for m, _ in items] == [20, 4]  # the passes it sat out were not timed at all
    assert found[1].seconds == pytest.approx(5e-3) and found[1].spread == 0
    assert all(math.isfinite(t) for t in found[1].times)  # the sat-out passes are not samples
    with pytest.raises(ValueError, match="long_item_samples = 4 is invalid with deadlines"):
        measure_interleaved(items, samples=20, long_item_samples=4, deadlines=[(0.0, 4)])
    # one sample would be one estimate, spread 0: "reproduced" by construction
    with pytest.raises(ValueError, match=r"long_item_samples = 1 is invalid: allowed is an integer >= parts \(2\)"):
        measure_interleaved(items, samples=20, long_item_samples=1)


def test_pass_factors_ignore_the_passes_an_item_sat_out():
    # three items, 4 passes; pass 2 runs at half speed for all; item 2 sat out passes 0 and 1
    t = np.array([[1.0, 1.0, 2.0, 1.0],
                  [3.0, 3.0, 6.0, 3.0],
                  [np.nan, np.nan, 10.0, 5.0]])
    f = pass_factors(t)
    # item 2's median over its own passes is nanmedian([10, 5]) = 7.5, so it takes part: in pass 2
    # the others' relative times are 2 / 1 = 2 and 6 / 3 = 2 -> factor 2 for item 2 there
    assert f[2, 2] / f[2, 0] == pytest.approx(2.0)
    # and normalizing by it leaves item 2 with 10 / 2 = 5 and 5 / 1 = 5: one speed
    norm = t / f
    assert norm[2, 2] == pytest.approx(norm[2, 3])
    assert np.isnan(norm[2, :2]).all()
    # item 2 also speaks for the others where it ran: item 0's factor in pass 2 is the median of
    # item 1's 6 / 3 = 2 and item 2's 10 / 7.5 = 1.333 -> 1.667 (its passes: [1, 1, 1.667, 0.833],
    # median 1); leaving item 2 out for its NaNs would give 2
    assert f[0, 2] == pytest.approx(5 / 3)


def test_a_pass_every_other_item_sat_out_warns_nothing_and_counts_as_speed_1():
    import warnings

    # three long items that never share a pass: no other item speaks for any pass, so every
    # factor is the neutral 1 (and numpy's all-NaN warning stays inside the protocol)
    t = np.array([[1.0, np.nan, 1.0, np.nan],
                  [np.nan, 2.0, np.nan, 2.0],
                  [3.0, np.nan, 3.0, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = pass_factors(t)
    assert (f == 1.0).all()


def test_default_estimate_is_each_items_quick_state_when_the_slow_state_slows_items_unequally():
    from costmodel.latency.protocol import NORMALIZE, QUANTILE, finish

    # the two-state VM of stop 39: 10 items, 40 passes, the first 24 in a slow state that slows
    # items 0-4 (compute-bound) 1.4x and items 5-9 (memory-bound) 1.8x; quick: item i (i+1)*10 us
    base = (np.arange(10) + 1.0) * 10e-6
    slowdown = np.where(np.arange(10) < 5, 1.4, 1.8)
    slow = np.arange(40) < 24
    times = base[:, None] * np.where(slow[None, :], slowdown[:, None], 1.0)
    found = finish(times, [1] * 10, clock="wall", q=QUANTILE, parts=2, normalize=NORMALIZE)
    # raw 5th percentile of 24 slow and 16 quick samples: the quick time of every item, exactly
    assert [e.seconds for e in found] == pytest.approx(list(base))
    # the halves: passes 0-19 all slow, 20-39 four slow then quick -> spread = the slowdown - 1
    assert [e.spread for e in found] == pytest.approx(list(slowdown - 1))
    # pass-normalized (finish keeps it: its halves agree, median spread 0.14 against 0.60 raw),
    # the estimates move to the run's median (slow) speed. Each neighbour's median time is its
    # slow time, so a quick pass's ratios are 1/1.4 = 0.714 (compute) and 1/1.8 = 0.556
    # (memory), a slow pass's 1; the pass factors' median over the passes is 1 (24 slow of 40).
    # Compute item: its nine neighbours are 4 x 0.714 and 5 x 0.556 -> factor 0.556, its quick
    # samples become base / 0.556 = 1.8 base, its slow ones stay 1.4 base -> 5th percentile 1.4 base.
    # Memory item: 5 x 0.714 and 4 x 0.556 -> 0.714: quick 1.4 base, slow 1.8 base -> 1.4 base.
    normalized = finish(times, [1] * 10, clock="wall", q=QUANTILE, parts=2, normalize=True)
    assert [e.seconds for e in normalized] == pytest.approx(list(1.4 * base))


def test_percentile_words_take_the_english_ordinal():
    from costmodel.latency.protocol import QUANTILE, percentile_words

    assert percentile_words(QUANTILE) == "5th percentile"  # protocol.QUANTILE = 0.05
    assert [percentile_words(q) for q in (0.01, 0.02, 0.03, 0.1, 0.11, 0.12, 0.13, 0.21, 0.25)] == [
        "1st percentile", "2nd percentile", "3rd percentile", "10th percentile", "11th percentile",
        "12th percentile", "13th percentile", "21st percentile", "25th percentile"]
