"""Reference ops timed in every chunk of a calibration sweep, so the sweep's times share one
scale although the machine's speed drifts while it runs.

Why: on a shared VM the same ops run 5-20% faster or slower from one minute to the next (the
2-core Intel Xeon VM, 2026-12-06: ops re-timed two minutes after calibration ran 8% and 18%
faster), and a calibration sweep lasts two minutes. Each chunk of the sweep times these fixed
ops in its own interleaved passes; the chunk's factor is the median of their time now / their
time in the first chunk, and every item of the chunk is divided by it (``Reference.normalize``).
Curves, design factors and the network composition are then fitted on times of one machine
speed, that of the first chunk, and the profile's anchors carry that same scale.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .protocol import Estimate


def _conv(cls: str, cin: int, cout: int, k: int, h: int, groups: int = 1) -> tuple[str, dict[str, Any]]:
    return ("conv", {"cls": cls, "cin": cin, "cout": cout, "k": k, "kw": k, "h": h, "stride": 1,
                     "groups": groups, "batch": 1, "pad": k // 2, "pad_w": k // 2, "transpose": False})


REFERENCE_ITEMS: tuple[tuple[str, dict[str, Any]], ...] = (
    _conv("dense", 64, 64, 3, 14), _conv("pointwise", 128, 256, 1, 14), _conv("depthwise", 128, 128, 3, 28, 128),
    _conv("group", 128, 128, 3, 14, 4), ("stream", {"kind": "relu", "c": 64, "h": 28}),
    ("stream", {"kind": "batch_norm", "c": 128, "h": 14}),
)
"""The reference ops: one of each conv class and two memory-bound ops (20-200 us each)."""


@dataclass
class Reference:
    """The reference ops of one sweep: their cases, their times in the first chunk, and each
    chunk's factor (time now / first time, median over the ops)."""

    cases: list[tuple[Any, Any]]
    base: list[float] | None = None
    factors: list[float] = field(default_factory=list)

    @classmethod
    def build(cls, batch: int = 1) -> "Reference":
        from .cases import training_case

        return cls([training_case(kind, spec, batch)[:2] for kind, spec in REFERENCE_ITEMS])

    def factor(self, found: Sequence[Estimate]) -> float:
        """This chunk's factor from the reference ops' estimates (1 for the first chunk)."""
        times = [e.seconds for e in found]
        if self.base is None:
            self.base = times
            value = 1.0
        else:
            value = float(np.median([t / b for t, b in zip(times, self.base)]))
        self.factors.append(value)
        return value

    def normalize(self, found: Sequence[Estimate]) -> list[Estimate]:
        """The chunk's item estimates divided by its factor; ``found`` ends with the references."""
        n = len(found) - len(self.cases)
        f = self.factor(found[n:])
        return [scaled(e, 1.0 / f) for e in found[:n]]

    def summary(self) -> dict[str, float]:
        """Range of the chunk factors (how much the machine drifted during the sweep)."""
        return {"chunks": len(self.factors), "min": min(self.factors, default=1.0),
                "max": max(self.factors, default=1.0)}


def scaled(est: Estimate, by: float) -> Estimate:
    """An estimate with every time multiplied by ``by``."""
    return dataclasses.replace(est, seconds=est.seconds * by, estimates=tuple(t * by for t in est.estimates),
                               times=tuple(t * by for t in est.times))
