"""Hypothesis strategies for random valid specs of any registered design.

The generic strategy draws each field from a small range chosen by the field's name and kind
(so traces stay cheap), builds the spec and rejects invalid combinations. A design whose
constraints reject too often gets an entry in ``OVERRIDES``: field name -> strategy.
"""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from costmodel.core.registry import get_design

SMALL_INT: dict[str, st.SearchStrategy] = {
    "k": st.integers(1, 7),
    "stride": st.integers(1, 2),
    "h": st.integers(1, 19),
    "w": st.integers(1, 19),
    "groups": st.sampled_from([1, 2, 3, 4]),
    "mult": st.integers(1, 3),
    "dtype_bytes": st.just(4),
}
"""Strategies by field name; any other integer field draws from 1..40."""

OVERRIDES: dict[str, dict[str, st.SearchStrategy]] = {
    # design name -> {field: strategy}; add one entry when the generic draw rejects too much.
    "sic": {"k": st.sampled_from([1, 3, 5]), "b": st.integers(1, 4)},
    "subdivision": {"n": st.sampled_from([6, 8, 12]), "k": st.sampled_from([1, 3]),
                    "dims": st.sampled_from([(6,), (2, 3), (8,), (2, 4), (2, 2, 2), (12,), (3, 4), (2, 2, 3)]),
                    "neighbourhood": st.sampled_from([(3,), (2,), (1, 2), (2, 3), (2, 2), (1, 2, 2), (2, 1, 3)])},
    "sic_subdivided": {"n": st.sampled_from([6, 8, 12]), "k": st.sampled_from([1, 3]), "b": st.integers(1, 3),
                       "dims": st.sampled_from([(6,), (2, 3), (8,), (2, 4), (2, 2, 2), (12,), (3, 4), (2, 2, 3)]),
                       "neighbourhood": st.sampled_from([(3,), (2,), (1, 2), (2, 3), (2, 2), (1, 2, 2), (2, 1, 3)])},
    "ghost": {"k": st.sampled_from([1, 2, 3, 5]), "s": st.integers(2, 6), "d": st.sampled_from([1, 3, 5])},
    "ghost_bottleneck": {"k": st.sampled_from([1, 3, 5]), "stride": st.integers(1, 3), "s": st.integers(2, 4),
                         "d": st.sampled_from([1, 3])},
    "spconv": {"k": st.sampled_from([1, 3, 5]), "groups": st.sampled_from([1, 2])},
    "tbc": {"B": st.sampled_from([1, 2, 3, 4]), "c_in": st.sampled_from([12, 24, 36]),
            "c_out": st.sampled_from([12, 24, 36])},
    "tgc": {"B": st.sampled_from([1, 2, 3, 4]), "groups": st.sampled_from([1, 2]),
            "c_in": st.sampled_from([24, 48]), "c_out": st.sampled_from([24, 48])},
}


def field_strategy(design: str, name: str, rng) -> st.SearchStrategy:
    override = OVERRIDES.get(design, {})
    if name in override:
        return override[name]
    if rng.kind == "flag":
        return st.booleans()
    if rng.kind == "choice":
        return st.sampled_from(rng.options)
    if rng.kind == "real":
        return st.floats(rng.lo, rng.hi, exclude_min=rng.lo_open, exclude_max=rng.hi_open,
                         allow_nan=False)
    if name in SMALL_INT:
        return SMALL_INT[name]
    return st.integers(max(1, int(rng.lo)), 40)


@st.composite
def specs(draw, design: str):
    """A random valid spec of ``design``."""
    cls = get_design(design)
    values = {nm: draw(field_strategy(design, nm, rng), label=nm) for nm, rng in cls.field_ranges().items()}
    try:
        return cls(**values)
    except ValueError:
        assume(False)


def expected_row(spec) -> dict:
    """The numbers a sweep row must hold, from the exact per-point path."""
    c = spec.costs()
    out = {"params": c.params, "macs": c.macs, "flops": c.flops, "mem_bytes": c.mem_bytes}
    out.update({f"macs_{k}": v for k, v in c.macs_by_key.items()})
    out.update({f"elem_{k}": v for k, v in c.elementwise.items()})
    out.update(c.extra)
    return out
