"""The measurement protocol for a shared, noisy machine: items timed interleaved, burst by burst,
summarised by a low percentile, with the spread of independent estimates beside each number.

Why (measured on a 2-core shared VM, issue 16): whole networks timed in three rounds of
``blocked_autorange`` differed between rounds by a median of 18%, while the same networks timed
**interleaved call by call**, as the 10th percentile of 40 calls, gave estimates within 2-3%.
Load from other processes comes in slow periods; interleaving spreads each slow period over all
items instead of letting it hit one, and a low percentile ignores the slowed samples.

The protocol (``measure_interleaved``):
  * every item is warmed up (``warmup`` calls) and one call is timed to choose its burst length
    ``number`` = ceil(target_s / t_one), so one sample lasts about ``target_s`` (short ops are
    timed as a short hot loop, above the clock's resolution; a network is one call);
  * then ``samples`` passes: each pass times one burst of every item, in a new order each pass
    (with ``long_item_samples``, an item whose one call outlasts the burst target joins only
    every s-th pass: ``pass_strides``);
    each burst follows ``prime`` untimed calls of the same item (``PRIME``), so the timed calls
    find the item's weights and activations in cache, where its neighbour in the pass left them
    cold; a sample is the burst's time / ``number`` (seconds per call);
  * the samples are NOT normalized pass by pass unless asked (``normalize``, ``NORMALIZE``);
  * an item's latency is the ``q``-quantile (default the 5th percentile, ``QUANTILE``) of its samples
    (``low_percentile``);
  * its reproducibility is the spread of ``parts`` independent estimates, each the same
    percentile over a disjoint, contiguous slice of the passes (``spread``: max / min - 1);
    ``raw_spread`` is the same before the pass normalization (None where there was none, the
    default).

Before timing on a CPU, glibc's malloc is settled (``allocator.steady_allocator``): otherwise an
op that allocates more than 128 KiB page-faults on some calls and in some processes, not others.

Why no pass normalization by default (``NORMALIZE``; until stop 39 it was on): the pass
normalization (``pass_factors``) divides every sample by the pass's speed seen by the other
items, which puts the estimates at the run's MEDIAN speed. On the AMD EPYC 7xx3 VM (2026-12-07)
the machine switches between two states every few seconds: a slow one (35% of a 120 s probe,
33-97% of each of eight 9 s runs in another) that slows dense convs 1.41x, grouped and
depthwise 1.55-1.56x and elementwise ops 1.68-1.76x (the six reference ops timed 716 times in
120 s, ``reference``). The median speed then moves with
the share of slow passes, and one factor over-corrects compute-bound items and under-corrects
memory-bound ones. Two latency-eval runs back to back on one profile (84 held-out configs, 500
passes each, the same samples summarized both ways): the raw 10th percentile of one run agreed
with the other's within ±3% for 92% of configs at a level of 0.996 between the runs; the
normalized one for 0% (level 0.889; 73% after dividing by it). Against the same predictions,
raw 60% and 58% within ±10%, normalized 30% and 14% (the kept choice, ``keep_normalized``,
followed the normalized halves in the second run). The raw low percentile is the machine's
quick state, which reproduced across these two runs (its level still moves a few percent over
tens of minutes: the anchors' drift).

The statistics are pure functions of a series of sample times, unit-tested on synthetic series
with injected slow periods.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .allocator import settle_for

QUANTILE = 0.05
"""The low percentile that is an item's latency: robust to slow periods covering most samples.

Why the 5th (the 10th until stop 39): on the AMD EPYC 7xx3 VM (2026-12-07) the quick state
covered 10-40% of a half-run, and at the 10th percentile a half with less of it read slow.
Three latency-eval runs of 84 held-out configs (500 passes each, raw samples; two on one
profile, one on another), the same samples summarized at each percentile: two estimates (the
halves) within ±3% for 96/82/45% of configs at the 5th, 99/58/25% at the 10th, 98/83/58% at
the 2nd, 76/17/8% at the 20th; the two runs on one profile agreed with each other within ±3%
for 94% at the 5th, 92% at the 10th, 88% at the 2nd; held-out predictions within ±10% were
the same (60/60/66% and 60/58/67%)."""

PARTS = 2
"""Independent estimates per item (disjoint slices of the passes) whose spread is reported."""

SAMPLES = 40
"""Interleaved passes of one measurement (networks, gaps, a single model). Measured with
``benchmarks/protocol_options.py`` before the priming call and the pass normalization (10
networks and layers, Intel Xeon VM, load 1.2-1.8, 2026-12-06): two estimates agree within ±3%
for 62% of items within a run and 70% across runs with 40 passes, 35-40% with 20; pinning the
process to one core made it worse (22-50%). With both (25 items, 60 passes): 85% and 92%."""

PRIME = 1
"""Untimed calls of an item right before each of its timed bursts. Measured (2-core Intel Xeon
VM, 2026-12-06, 65 networks and layers, 60 passes, two rounds): without it the coefficient of
variation of a layer's samples was 8-10% and two half-run estimates agreed within ±3% for
56-62% of layers; with one priming call 5-8% and 79-85% (pass-normalized)."""

NORMALIZE = False
"""Whether ``measure_interleaved`` normalizes the samples pass by pass by default (the module
docstring says why not)."""

NORMALIZE_MIN_ITEMS = 8
"""Fewest items for the pass normalization: the speed of a pass is a median over the other
items, which needs several of them to be the machine's speed rather than one item's noise."""

REPRODUCIBLE_WITHIN = 0.03
"""Two independent estimates of an item agreeing within this (max / min - 1) count as reproduced."""

LONG_ITEM_SAMPLES = 60
"""Fewest samples of a long item where a measurement thins them (``pass_strides``): 30 per
independent estimate, the 5th percentile between the 2nd and 3rd lowest of each."""

EXTEND_BLOCK = 20
"""Passes added at a time when a measurement has not reproduced yet (``measure_interleaved``'s
``until_share``)."""

TARGET_S = 5e-4
"""Length of one timed burst (seconds): short ops run a short hot loop, above clock resolution."""


def percentile_words(q: float) -> str:
    """A quantile in words, rounded to a whole percent: 0.05 -> "5th percentile", 0.02 -> "2nd
    percentile", 0.25 -> "25th percentile" (11th-13th take "th")."""
    n = round(100 * q)
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} percentile"


def low_percentile(samples: Sequence[float], q: float = QUANTILE) -> float:
    """The q-quantile of ``samples`` (linear interpolation, numpy's default); q in (0, 1)."""
    if not 0 < q < 1:
        raise ValueError(f"q = {q!r} is invalid: allowed is a number in (0, 1)")
    values = np.asarray(samples, dtype=float)
    if values.size == 0:
        raise ValueError("samples = [] is invalid: allowed is at least one sample time")
    return float(np.quantile(values, q))


def estimates(samples: Sequence[float], parts: int = PARTS, q: float = QUANTILE) -> list[float]:
    """``parts`` independent estimates: the q-quantile of each contiguous slice of ``samples``
    (in the order they were taken, so a slow period lands in one slice, as it would in one of
    two separate measurements)."""
    if parts < 1:
        raise ValueError(f"parts = {parts!r} is invalid: allowed is an integer >= 1")
    chunks = np.array_split(np.asarray(samples, dtype=float), parts)
    return [low_percentile(c, q) for c in chunks if c.size]


def spread(values: Sequence[float]) -> float:
    """max / min - 1 of independent estimates (0 when they agree; 0.03 = within 3%)."""
    lo, hi = min(values), max(values)
    return hi / lo - 1 if lo > 0 else math.inf


def _nanmedian(values: np.ndarray, **kw: Any) -> np.ndarray:
    """``np.nanmedian`` without its warning for an all-NaN slice (NaN there): a pass every item
    but one sat out (``pass_strides``), an item never timed, an unusable clock."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, **kw)


def pass_factors(times: np.ndarray) -> np.ndarray:
    """Per item and pass, the machine's relative speed in that pass seen by the OTHER items:
    ``f[i, k] = median_{j != i}(t[j, k] / median_k t[j, :])``, divided by its median over the
    passes (so the run's median speed is 1). ``times`` is items x passes (seconds). An item
    never normalizes itself, so its own noise stays in its spread."""
    t = np.asarray(times, dtype=float)
    if t.ndim != 2 or t.shape[0] < 2:
        raise ValueError(f"times of shape {t.shape} is invalid: allowed is items x passes with at least 2 items")
    med = _nanmedian(t, axis=1, keepdims=True)
    usable = np.isfinite(med) & (med > 0)  # an item timed at 0 (a coarse clock) says nothing of speed
    rel = np.where(usable & np.isfinite(t), t / np.where(usable, med, 1.0), np.nan)
    out = np.ones_like(rel)
    for i in range(len(rel)):
        others = np.delete(rel, i, axis=0)
        if np.isfinite(others).any():
            f = _nanmedian(others, axis=0)
            f = np.where(np.isfinite(f), f, 1.0)
            out[i] = f / np.median(f)
    return out


def timed(row: Sequence[float]) -> np.ndarray:
    """An item's samples without the passes it sat out (NaN: ``pass_strides``), in time order."""
    values = np.asarray(row, dtype=float)
    return values[~np.isnan(values)]


def pass_strides(one_call_s: Sequence[float], samples: int, least: int, target_s: float = TARGET_S) -> list[int]:
    """Per item, every how many passes it is timed: ``s = max(1, min(floor(t / target_s),
    samples // least))`` for one call of ``t`` seconds. An item whose call outlasts the burst
    target is timed in about as many seconds as a short one (``samples * target_s``) but in at
    least ``least`` passes. Why: in ``latency-eval``'s 500 passes the 8 longest of 84 held-out
    configs (6-53 ms a call, each call primed) took two thirds of the time (AMD EPYC VM,
    2026-12-07: 268 s of measuring by the configs' measured times, 67 s with these strides;
    the whole evaluation then measured 85-99 s instead of 322-373 s)."""
    if least < 1:
        raise ValueError(f"least = {least!r} is invalid: allowed is an integer >= 1")
    cap = max(1, samples // least)
    return [max(1, min(int(t / target_s), cap)) for t in one_call_s]


def median_spread(times: np.ndarray, parts: int = PARTS, q: float = QUANTILE) -> float:
    """The median over the items (rows of ``times``) of the spread of their ``parts`` estimates."""
    return float(np.median([spread(estimates(timed(row), parts, q)) for row in np.asarray(times, dtype=float)]))


def keep_normalized(raw: np.ndarray, normalized: np.ndarray, parts: int = PARTS, q: float = QUANTILE) -> bool:
    """Whether the pass-normalized samples make the items' independent estimates agree better
    (a lower ``median_spread``) than the raw ones.

    Why a choice per run: the normalization removes a speed change that moves all items alike,
    and adds the other items' noise where there was none. Measured (AMD EPYC VM, 2026-12-06):
    on a quiet run two estimates of a network agreed within ±3% for 98% of 46 networks raw and
    59% normalized; on a run whose speed moved, 87% raw and 98% normalized."""
    return median_spread(normalized, parts, q) < median_spread(raw, parts, q)


def normalize_passes(times: np.ndarray, min_items: int = NORMALIZE_MIN_ITEMS) -> np.ndarray:
    """``times / pass_factors(times)`` where there are at least ``min_items`` items, else
    ``times`` unchanged (items x passes)."""
    t = np.asarray(times, dtype=float)
    return t / pass_factors(t) if t.shape[0] >= min_items else t


@dataclass(frozen=True)
class Estimate:
    """One item's measured latency (seconds per call) and its reproducibility."""

    seconds: float
    spread: float
    estimates: tuple[float, ...]
    samples: int
    number: int
    clock: str
    quantile: float
    times: tuple[float, ...] = ()  # the samples (seconds per call, in time order): re-analysable
    raw_spread: float | None = None  # the spread before the pass normalization (None: not normalized)
    leveled_spread: float | None = None  # the spread with each part at its anchors' level (``with_levels``)

    def row(self) -> dict[str, Any]:
        """A flat dict (one DataFrame row), times in microseconds."""
        return {"measured_us": 1e6 * self.seconds, "spread": self.spread, "samples": self.samples,
                "number": self.number, "clock": self.clock, "quantile": self.quantile,
                "raw_spread": math.nan if self.raw_spread is None else self.raw_spread,
                "leveled_spread": math.nan if self.leveled_spread is None else self.leveled_spread}


def summarize(samples: Sequence[float], *, number: int = 1, clock: str = "wall", q: float = QUANTILE,
              parts: int = PARTS, raw: Sequence[float] | None = None) -> Estimate:
    """The Estimate of one item from its sample times (seconds per call, in time order; NaN where
    it sat a pass out); ``raw``: the same samples before the pass normalization, whose spread is
    kept beside."""
    samples = timed(samples)
    raw = None if raw is None else timed(raw)
    est = estimates(samples, parts, q)
    return Estimate(seconds=low_percentile(samples, q), spread=spread(est), estimates=tuple(est),
                    samples=len(samples), number=number, clock=clock, quantile=q,
                    times=tuple(float(t) for t in samples),
                    raw_spread=None if raw is None else spread(estimates(raw, parts, q)))


MIN_LEVEL_ANCHORS = 3
"""Fewest anchors with every part's estimate for ``part_levels``: one anchor's level is its noise."""


def part_levels(anchors: Sequence[Estimate]) -> tuple[float, ...] | None:
    """Each part's machine speed relative to the whole run: the median over ``anchors`` (items
    timed in the same passes, e.g. a profile's anchors) of part estimate / whole estimate;
    None with fewer than MIN_LEVEL_ANCHORS anchors that have all their parts.

    Why: the two halves of a run are independent estimates, but on a shared VM the machine's
    quick state itself moves a few percent over a minute (AMD EPYC 7xx3 VM, 2026-12-07: the
    anchors of one half read 2.6% faster than the other's in one run), which moves every item
    of a half alike. Each half divided by its own anchors' level (this function), the halves
    of five saved latency-eval runs (82-84 held-out configs, 12 design anchors) agreed within
    ±3% for 96/86/76/96/98% of configs, against 96/82/45/90/99% raw; in run S37 55% against 29%,
    in S38 82% against 27%."""
    parts = max((len(a.estimates) for a in anchors), default=0)
    full = [a for a in anchors
            if a.seconds > 0 and len(a.estimates) == parts > 1 and all(math.isfinite(e) and e > 0 for e in a.estimates)]
    if len(full) < MIN_LEVEL_ANCHORS:
        return None
    ratios = np.array([[e / a.seconds for e in a.estimates] for a in full])
    return tuple(float(r) for r in np.median(ratios, axis=0))


def with_levels(found: Sequence[Estimate], levels: Sequence[float] | None) -> list[Estimate]:
    """``found`` with ``leveled_spread``: the spread of each item's part estimates divided by
    their part's level (``part_levels``); unchanged where there are no levels."""
    if levels is None:
        return list(found)
    return [dataclasses.replace(e, leveled_spread=spread([x / lv for x, lv in zip(e.estimates, levels)]))
            if len(e.estimates) == len(levels) else e for e in found]


def reproduced_share(found: Sequence[Estimate], within: float = REPRODUCIBLE_WITHIN) -> float:
    """Share of ``found`` whose independent estimates agree within ``within`` (0 for none)."""
    return float(np.mean([e.spread <= within for e in found])) if found else 0.0


def finish(times: Sequence[Sequence[float]], numbers: Sequence[int], *, clock: str, q: float, parts: int,
           normalize: bool) -> list[Estimate]:
    """The Estimates of items x passes ``times``: pass-normalized (``normalize_passes``) where
    ``normalize`` and there are NORMALIZE_MIN_ITEMS items, and only where that makes the items'
    estimates agree better (``keep_normalized``)."""
    raw = np.array(times)
    normalized = normalize and len(raw) >= NORMALIZE_MIN_ITEMS
    kept = normalize_passes(raw) if normalized else raw
    if normalized and not keep_normalized(raw, kept, parts, q):
        kept = raw  # a quiet run: the normalization would only add the other items' noise
    return [summarize(t, number=n, clock=clock, q=q, parts=parts, raw=r if normalized else None)
            for t, r, n in zip(kept, raw, numbers)]


def _burst(module, inputs: tuple, number: int, timer: Callable[[], float], sync: Callable[[], None],
           prime: int = 0) -> float:
    """Seconds per call of ``number`` back-to-back calls, after ``prime`` untimed ones."""
    for _ in range(prime):
        module(*inputs)
    sync()
    start = timer()
    for _ in range(number):
        module(*inputs)
    sync()
    return (timer() - start) / number


def measure_interleaved(cases: Sequence[tuple[Any, Any]], *, threads: int = 1, device: str = "cpu",
                        clock: str = "wall", samples: int = SAMPLES, target_s: float = TARGET_S,
                        warmup: int = 3, q: float = QUANTILE, parts: int = PARTS, seed: int = 0,
                        progress: Callable[[int], None] | None = None, prime: int = PRIME,
                        normalize: bool = NORMALIZE, until_share: float | None = None,
                        max_samples: int | None = None,
                        deadlines: Sequence[tuple[float, int]] = (),
                        long_item_samples: int | None = None) -> list[Estimate]:
    """Latency of each (module, inputs) case by the protocol in the module docstring.

    ``inputs`` is one tensor or a tuple of tensors. Modules are put in eval mode (their previous
    mode is restored) and run under ``torch.inference_mode()`` with ``threads`` torch threads.
    ``progress(n)`` is called after each pass with the number of passes done. ``prime``:
    untimed calls before each burst (``PRIME``). ``normalize``: the pass normalization
    (``normalize_passes``), applied where there are enough items (off by default:
    ``NORMALIZE``). On a CPU, glibc's malloc is settled first (``allocator.settle_for``,
    process-wide).

    ``until_share``: after the ``samples`` passes, EXTEND_BLOCK more at a time, up to
    ``max_samples`` in all, until that share of the items reproduces (``reproduced_share``: two
    estimates, each from a contiguous half of all the passes, within REPRODUCIBLE_WITHIN). Why:
    a disturbed minute can leave 40 passes short. Measured (AMD EPYC VM, 2026-12-06, the 46
    evaluation networks, 80 passes, disturbed early on): the 10th percentile of halves of 20
    passes reproduced within ±3% for 39% of networks, halves of 30 for 72%, halves of 40 for
    96%. The stopping rule looks at the statistic it reports, so a run stops on a lucky
    agreement slightly more often than a fixed count would; ``max_samples`` bounds the time.

    ``deadlines``: (``time.perf_counter()`` value, passes) pairs; no pass starts after a deadline
    once its passes are done (at least ``parts``, at most ``samples``): how a calibration on a
    slow machine meets its time with fewer passes, e.g. a soft deadline with a floor that keeps
    the estimates useful and a later one with a lower floor that keeps the total time.

    ``long_item_samples``: an item whose one call outlasts ``target_s`` is timed only in every
    s-th pass (``pass_strides``, from a different pass for each item), in at least that many of
    the ``samples`` passes; its sample is NaN in the others (dropped by ``summarize``; the pass
    normalization takes the other items' medians without it).
    """
    import torch

    from .measure import check_positive, clock_function, on_device, restore_modes, submodule_modes

    check_positive("samples", samples, "an integer >= 1")
    if until_share is not None and not 0 < until_share <= 1:
        raise ValueError(f"until_share = {until_share!r} is invalid: allowed is a share in (0, 1]")
    if max_samples is not None and max_samples < samples:
        raise ValueError(f"max_samples = {max_samples!r} is invalid: allowed is an integer >= samples ({samples})")
    check_positive("target_s", target_s, "a number of seconds > 0")
    if samples < parts:
        raise ValueError(f"samples = {samples!r} is invalid: allowed is an integer >= parts ({parts})")
    if long_item_samples is not None and long_item_samples < parts:
        raise ValueError(f"long_item_samples = {long_item_samples!r} is invalid: allowed is an integer >= parts ({parts})")
    if long_item_samples is not None and deadlines:  # a deadline could leave a long item no sample
        raise ValueError(f"long_item_samples = {long_item_samples!r} is invalid with deadlines: "
                         "allowed is None where passes may stop early")
    timer = clock_function(clock, device, threads)
    settle_for(device)  # after the settings are checked: a refused call changes nothing
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    prepared = [(on_device(m, device), tuple(x.to(device) for x in (i if isinstance(i, (tuple, list)) else (i,))))
                for m, i in cases]
    modes = [submodule_modes(m) for m, _ in cases]
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    times: list[list[float]] = [[] for _ in prepared]
    try:
        with torch.inference_mode():
            numbers, ones = [], []
            for m, x in prepared:
                m.eval()
                for _ in range(max(1, warmup)):
                    m(*x)
                one = _burst(m, x, 1, timer, sync)
                ones.append(one)
                numbers.append(max(1, math.ceil(target_s / max(one, 1e-9))))
            order = list(range(len(prepared)))
            rng = random.Random(seed)
            strides = ([1] * len(prepared) if long_item_samples is None
                       else pass_strides(ones, samples, long_item_samples, target_s))
            # long items' passes spread over the run; no draw for the others: the pass orders stay as they were
            offsets = [rng.randrange(s) if s > 1 else 0 for s in strides]
            done, want, cap = 0, samples, max_samples or samples
            floors = [(at, max(parts, min(int(n), samples))) for at, n in deadlines]
            while True:
                late = False
                for _ in range(want - done):
                    now = time.perf_counter()
                    late = any(done >= n and now >= at for at, n in floors)
                    if late:
                        break
                    rng.shuffle(order)  # no item always follows the same neighbour
                    for i in order:
                        if (done + offsets[i]) % strides[i]:
                            times[i].append(math.nan)
                            continue
                        m, x = prepared[i]
                        times[i].append(_burst(m, x, numbers[i], timer, sync, prime))
                    done += 1
                    if progress is not None:
                        progress(done)
                found = finish(times, numbers, clock=clock, q=q, parts=parts, normalize=normalize)
                if late or until_share is None or done >= cap or reproduced_share(found) >= until_share:
                    return found
                want = min(done + EXTEND_BLOCK, cap)
    finally:
        torch.set_num_threads(previous)
        for module_modes in modes:
            restore_modes(module_modes)
