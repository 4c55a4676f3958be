"""One stable colour per design (and per glue op of the networks), the same in every figure,
and far apart from every other one.

The candidates are plotly's qualitative palettes (POOL, in that order), without the colours too
light to read on white. They are handed out greedily by largest distance in CIELAB (the
"max-min" rule: each new name takes the candidate whose nearest already-taken colour, or the
page's white, black front line and grey markers, is furthest away): designs first in catalogue
order, then the networks' glue ops, then any other name (a space's block label) in first-asked
order. Greys (chroma below MIN_CHROMA) are left out. So the set of colours depends only on the registries, and no two names in a report are
closer than MIN_DELTA_E (a palette taken in order, such as Dark24 + Light24, put dgc and
global_pool 2.4 apart: the same magenta).
"""

from __future__ import annotations

import functools

FRONT = "#111111"
"""Pareto fronts and reference lines: black, never a design's colour."""

MARKER_GREY = "#444444"
"""Built-in networks' stars in the explorer: grey, never a design's colour."""

POOL = ("Dark24", "Alphabet", "Light24", "D3", "G10", "T10", "Plotly", "Set1", "Dark2", "Bold", "Vivid",
        "Safe", "Prism", "Antique")
"""plotly.express.colors.qualitative palettes the colours are drawn from, in this order."""

MAX_LIGHTNESS = 80.0
"""CIELAB L* above which a colour is too pale for markers on a white page."""

MIN_CHROMA = 20.0
"""CIELAB chroma sqrt(a*^2 + b*^2) below which a colour is a grey: greys are kept for the page's
own lines and markers."""

MIN_DELTA_E = 20.0
"""The smallest CIELAB distance (CIE76 delta E) allowed between two names' colours; about 2.3 is
a just-noticeable difference, so 20 is clearly distinct at a glance."""


@functools.lru_cache(maxsize=None)
def lab(hex_colour: str) -> tuple[float, float, float]:
    """CIELAB (D65) of an sRGB ``#rrggbb`` colour: linearise each channel
    (c <= 0.04045: c / 12.92, else ((c + 0.055) / 1.055) ** 2.4), XYZ by the sRGB matrix, then
    L* = 116 f(Y/Yn) - 16, a* = 500 (f(X/Xn) - f(Y/Yn)), b* = 200 (f(Y/Yn) - f(Z/Zn)) with
    f(t) = t ** (1/3) above (6/29) ** 3, else t / (3 (6/29) ** 2) + 4/29."""
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def delta_e(a: str, b: str) -> float:
    """CIE76 colour difference: the Euclidean distance of the two colours in CIELAB."""
    return sum((p - q) ** 2 for p, q in zip(lab(a), lab(b))) ** 0.5


def _hex(colour: str) -> str:
    """'#RRGGBB' or 'rgb(r, g, b)' -> '#rrggbb'."""
    if colour.startswith("#"):
        return colour.lower()
    r, g, b = (int(v) for v in colour[colour.index("(") + 1:-1].split(","))
    return f"#{r:02x}{g:02x}{b:02x}"


@functools.lru_cache(maxsize=1)
def candidates() -> tuple[str, ...]:
    """The pool's colours, deduplicated, in POOL order, without the too pale and the grey ones."""
    import plotly.express as px

    seen = dict.fromkeys(_hex(c) for name in POOL for c in getattr(px.colors.qualitative, name))
    return tuple(c for c in seen if lab(c)[0] <= MAX_LIGHTNESS and _chroma(c) >= MIN_CHROMA)


def _chroma(colour: str) -> float:
    _, a, b = lab(colour)
    return (a * a + b * b) ** 0.5


class _Assigner:
    """Greedy max-min assignment: each new name takes the free candidate furthest from all taken
    colours and the page's own colours (white, the black front line, the grey markers)."""

    def __init__(self) -> None:
        self.taken: dict[str, str] = {}
        self._nearest = {c: min(delta_e(c, p) for p in ("#ffffff", FRONT, MARKER_GREY)) for c in candidates()}

    def take(self, name: str) -> str:
        if name not in self.taken:
            free = {c: d for c, d in self._nearest.items() if c not in self.taken.values()}
            if not free:
                raise ValueError(f"name = {name!r} needs a colour: allowed is at most {len(self._nearest)} "
                                 "distinct names per report")
            best = max(free, key=free.__getitem__)  # ties: the first in pool order
            self.taken[name] = best
            self._nearest = {c: min(d, delta_e(c, best)) for c, d in self._nearest.items()}
        return self.taken[name]


@functools.lru_cache(maxsize=1)
def _assigner() -> _Assigner:
    """Designs (catalogue order), then glue ops, already assigned: their colours never depend on
    which other names a report asks for."""
    from ..core.registry import designs
    from . import catalogue_order

    out = _Assigner()
    for name in catalogue_order(designs()) + glue_names():
        out.take(name)
    return out


def glue_names() -> list[str]:
    """Names of the networks' glue specs (max_pool, global_pool, fc, ...), in module order."""
    import inspect

    from ..core.spec import Spec
    from ..networks import glue

    return [cls.name for _, cls in inspect.getmembers(glue, inspect.isclass)
            if issubclass(cls, Spec) and cls.__module__ == glue.__name__ and cls.name]


def color(name: str) -> str:
    """The colour of design (or glue op, or space block label) ``name``: fixed per name for the
    whole report."""
    return _assigner().take(name)


def design_of(label: str) -> str:
    """The registered design a label names ('3x3 spconv' -> 'spconv'), else the label itself, so
    that a block of a design space takes that design's colour."""
    from ..core.registry import designs

    known = designs()
    if label in known:
        return label
    return next((word for word in reversed(label.split()) if word in known), label)
