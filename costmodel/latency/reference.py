"""Reference ops timed in every chunk of a calibration sweep, so the sweep's times share one
scale although the machine's speed drifts while it runs.

Why: on a shared VM the same ops run 5-20% faster or slower from one minute to the next (the
2-core Intel Xeon VM, 2026-12-06: ops re-timed two minutes after calibration ran 8% and 18%
faster), and a calibration sweep lasts two minutes. Each chunk of the sweep times these fixed
ops in its own interleaved passes; the chunk's factor is the median of their time now / their
time in the first chunk, and every item of the chunk is divided by it (``Reference.normalize``).
Curves, design factors and the network composition are then fitted on times of one machine
speed, that of the first chunk; ``calibrate`` then re-expresses the whole profile, anchors
included, at the machine's quick speed over the sweep (``Reference.quick``: a low quantile of
the chunk factors; ``at_speed``), since a first chunk often runs slow and the measurements it is
judged against are a low percentile too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .protocol import Estimate
from .sampler import conv_geometry


def _conv(cls: str, cin: int, cout: int, k: int, h: int, groups: int = 1) -> tuple[str, dict[str, Any]]:
    return ("conv", conv_geometry(cin, cout, k, h, groups=groups, cls=cls))


REFERENCE_ITEMS: tuple[tuple[str, dict[str, Any]], ...] = (
    _conv("dense", 64, 64, 3, 14), _conv("pointwise", 128, 256, 1, 14), _conv("depthwise", 128, 128, 3, 28, 128),
    _conv("group", 128, 128, 3, 14, 4), ("stream", {"kind": "relu", "c": 64, "h": 28}),
    ("stream", {"kind": "batch_norm", "c": 128, "h": 14}),
)
"""The reference ops: one of each conv class and two memory-bound ops (20-200 us each)."""


DISTURBED = 0.08
"""A chunk whose factor is more than 8% above the median of the chunks before it ran in a
disturbed (slow) minute of the machine and is measured again (``measure_normalized``), and the
quicker of its two runs is kept. Why: dividing by the factor does not undo a slow minute, which
slows memory-bound ops more than compute-bound ones (two calibrations on the AMD EPYC VM,
2026-12-06, each had a chunk at 1.32-1.34x of the first).

Why only slower chunks: a chunk that runs faster than those before it says the earlier chunks
were the disturbed ones, and measuring it again only pulls the sweep back to the slow speed. In
run S20 (AMD EPYC 7xx3 VM, 2026-12-07) the first five chunks ran slow and the machine then ran
1.5x faster (factors 1.0, 0.95, 0.99, 0.94, 0.90, then 0.64-0.74): four of the fast chunks were
measured again, ~18 s of the plan's 38 s, and the plan ended at 216 ops (336 in the quiet runs
S17/S18); held-out layers 53% within ±10%. Re-timing its disturbed chunks' items from
other runs changed nothing offline (53-57%): its error came from the ops it never measured."""

SPEED_QUANTILE = 0.25
"""The quantile of the chunk factors at which ``calibrate`` expresses the profile
(``Reference.quick``). Why not the median (until stop 33): a latency is a low percentile of its
samples (``protocol.QUANTILE``), the machine's quick speed, and a calibration that met a slow
spell for most of its chunks then predicted every later measurement high. On the AMD EPYC 7xx3 VM (2026-12-07, run
S10) the chunks ran 0.97-1.49x the first, median 1.13x; the held-out layers measured next ran
at 0.88x the calibration's speed (anchor drift), and 33% were within ±10% (54% x drift)."""

MAX_REMEASURES = 4
"""At most this many chunks of one calibration (one ``Reference`` serves its training,
adaptive and composition sweeps) are measured again; each costs one chunk's time, beyond the
sweep's budget where it is the last chunk."""


@dataclass
class Reference:
    """The reference ops of one sweep: their cases, their times in the first chunk, each op's
    ratio (time now / first time) in every chunk (``op_ratios``; a chunk's factor is their
    median, ``factors``), and how many chunks were measured again."""

    cases: list[tuple[Any, Any]]
    base: list[float] | None = None
    op_ratios: list[list[float]] = field(default_factory=list)
    remeasured: int = 0

    @property
    def factors(self) -> list[float]:
        """Each chunk's factor: the median of its reference ops' ratios (1 for the first chunk,
        whose ratios are all 1)."""
        return [float(np.median(r)) for r in self.op_ratios]

    @classmethod
    def build(cls, batch: int = 1) -> "Reference":
        from .cases import training_case

        return cls([training_case(kind, spec, batch)[:2] for kind, spec in REFERENCE_ITEMS])

    def slowdown(self, found: Sequence[Estimate]) -> float:
        """log of a chunk's factor (``found``: the reference estimates) relative to the median of
        the chunks before it (> 0: slower than they ran); 0 before two chunks are in."""
        if self.base is None or len(self.factors) < 2:
            return 0.0
        return float(np.log(self._ratio(found) / np.median(self.factors)))

    def disturbed(self, found: Sequence[Estimate]) -> bool:
        """Whether a chunk ran more than DISTURBED slower than the chunks before it, and may be
        measured again (never a faster one: ``DISTURBED``)."""
        return self.remeasured < MAX_REMEASURES and self.slowdown(found) > np.log1p(DISTURBED)

    def _ratios(self, found: Sequence[Estimate]) -> list[float]:
        """Each reference op's time in ``found`` / its first-chunk time."""
        return [e.seconds / b for e, b in zip(found, self.base)]

    def _ratio(self, found: Sequence[Estimate]) -> float:
        """Median over the reference ops of their time in ``found`` / their first-chunk time."""
        return float(np.median(self._ratios(found)))

    def factor(self, found: Sequence[Estimate]) -> float:
        """This chunk's factor from the reference ops' estimates (1 for the first chunk)."""
        if self.base is None:
            self.base = [e.seconds for e in found]
        self.op_ratios.append([float(r) for r in self._ratios(found)])
        return float(np.median(self.op_ratios[-1]))

    def normalize(self, found: Sequence[Estimate]) -> list[Estimate]:
        """The chunk's item estimates divided by its factor; ``found`` ends with the references."""
        n = len(found) - len(self.cases)
        f = self.factor(found[n:])
        return [scaled(e, 1.0 / f) for e in found[:n]]

    def summary(self) -> dict[str, float]:
        """Range, median and quick speed (``quick``) of the chunk factors, and the factors and each
        reference op's ratios (``REFERENCE_ITEMS`` order) in chunk order: how much the machine
        drifted during the sweep, and how unequally it slowed the ops. Why the ops' own ratios:
        the VM's slow state slows dense convs 1.41x and elementwise ops 1.7x (stop 39), and a
        per-kind normalization can only be judged offline where they were kept."""
        return {"chunks": len(self.factors), "min": min(self.factors, default=1.0),
                "max": max(self.factors, default=1.0), "median": self.median(), "quick": self.quick(),
                "remeasured": self.remeasured, "factors": self.factors, "op_ratios": self.op_ratios}

    def median(self) -> float:
        """The median chunk factor: the machine's typical speed over the sweep, relative to the first chunk."""
        return float(np.median(self.factors)) if self.factors else 1.0

    def quick(self, q: float = SPEED_QUANTILE) -> float:
        """The machine's quick speed over the sweep, relative to the first chunk: the q-quantile
        of the chunk factors (numpy's linear interpolation; 1 before any chunk)."""
        return float(np.quantile(self.factors, q)) if self.factors else 1.0


def measure_normalized(cases: Sequence[tuple[Any, Any]], reference: Reference | None, retry: bool = True,
                       **measure: Any) -> list[Estimate]:
    """``protocol.measure_interleaved(cases, **measure)``; with a ``reference``, its ops run in
    the same passes and the cases' estimates are normalized by it (``Reference.normalize``).
    ``retry``: a disturbed chunk (``Reference.disturbed``) is measured once more and the
    quicker run (its reference ops' lower factor) is kept."""
    from .protocol import measure_interleaved

    extra = reference.cases if reference is not None else []
    found = measure_interleaved(list(cases) + extra, **measure)
    if reference is None:
        return found
    n = len(cases)
    if retry and reference.disturbed(found[n:]):  # a disturbed minute: measure the chunk once more, keep the calmer
        reference.remeasured += 1
        again = measure_interleaved(list(cases) + extra, **measure)
        if reference.slowdown(again[n:]) < reference.slowdown(found[n:]):
            found = again
    return reference.normalize(found)


def at_speed(profile: Any, factor: float) -> Any:
    """``profile`` with every fitted time multiplied by ``factor``: the calibration re-expressed at
    another machine speed (``calibrate`` moves it from the first chunk's speed to the median
    chunk's, so one slow or fast first chunk does not shift every prediction). Efficiency curves
    take it in their constant (efficiency / factor) and their time terms; residual models are
    ratios and stay; anchors' times scale too."""
    import math

    from .profile import EfficiencyCurve, StreamCurve, streamed_point

    def curve(c):
        if isinstance(c, EfficiencyCurve):
            shift = math.log(factor)
            rng = None if c.log_eff_range is None else (c.log_eff_range[0] - shift, c.log_eff_range[1] - shift)
            return dataclasses.replace(c, overhead_s=c.overhead_s * factor, s_per_byte=c.s_per_byte * factor,
                                       s_per_weight_byte=c.s_per_weight_byte * factor,
                                       s_per_group=c.s_per_group * factor,
                                       s_per_streamed_weight_byte=c.s_per_streamed_weight_byte * factor,
                                       s_per_streamed_weight_byte_gemv=c.s_per_streamed_weight_byte_gemv * factor,
                                       streamed=tuple((b, w, r * factor, t) for b, w, r, t in map(streamed_point, c.streamed)),
                                       coef={**c.coef, "const": c.coef["const"] - shift}, log_eff_range=rng)
        if isinstance(c, StreamCurve):
            return dataclasses.replace(c, overhead_s=c.overhead_s * factor, s_per_byte=c.s_per_byte * factor,
                                       s_per_spill_byte=c.s_per_spill_byte * factor, s_per_op=c.s_per_op * factor)
        return c

    comp, net = profile.composition, profile.network
    meta = dict(profile.meta)
    for key in ("anchors", "design_anchors", "network_anchors"):
        if meta.get(key):
            meta[key] = [{**a, "s": a["s"] * factor} for a in meta[key]]
    return dataclasses.replace(
        profile, curves={k: curve(c) for k, c in profile.curves.items()}, meta=meta,
        composition=None if comp is None else dataclasses.replace(comp, per_op_s=comp.per_op_s * factor),
        network=None if net is None else dataclasses.replace(net, per_layer_s=net.per_layer_s * factor,
                                                             s_per_weight_byte=net.s_per_weight_byte * factor))


def scaled(est: Estimate, by: float) -> Estimate:
    """An estimate with every time multiplied by ``by``."""
    return dataclasses.replace(est, seconds=est.seconds * by, estimates=tuple(t * by for t in est.estimates),
                               times=tuple(t * by for t in est.times))
