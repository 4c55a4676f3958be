"""Fuzzing every field of every registered design (issue 14): a wrong type, an out-of-range value,
NaN/inf, a huge integer or a bad layout is a ValueError that names the field; a valid draw has
exact, non-negative integer costs and a module that runs."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.core.fields import MAX_SIZE
from costmodel.core.registry import designs

from strategies import specs

DESIGNS = sorted(designs())

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
BAD_EXAMPLES = settings(max_examples=10_000) if DEEP else settings()
"""The deep profile runs 10^4 bad values per design (issue 14); ci keeps the profile's default."""

JUNK = st.one_of(st.none(), st.text(max_size=5), st.lists(st.integers(), max_size=2), st.just(object()))


def bad_values(rng) -> st.SearchStrategy:
    """Values outside ``rng`` of every category: wrong type, out of range, NaN/inf, huge."""
    if rng.kind == "int":
        return st.one_of(JUNK, st.booleans(), st.floats(allow_nan=True),  # floats, even 3.0, are refused
                         st.integers(max_value=int(rng.lo) - 1),
                         st.integers(min_value=int(rng.hi) + 1, max_value=10**400))
    if rng.kind == "flag":
        return st.one_of(JUNK, st.floats(), st.integers().filter(lambda v: v not in (0, 1)))
    if rng.kind == "real":
        outside = st.floats(allow_nan=False).filter(lambda v: not rng.accepts(v))
        return st.one_of(JUNK, st.booleans(), st.just(math.nan), st.just(math.inf), st.just(-math.inf), outside)
    if rng.role == "layout":
        return st.one_of(st.none(), st.just(()), st.just((0,)), st.just((2, -1)), st.just((MAX_SIZE + 1,)),
                         st.just((2.0, 2)), st.text(alphabet="abc", min_size=1, max_size=3),
                         st.sampled_from(("8,,8", "x", ",", "8,x")))  # malformed layout text
    return st.one_of(JUNK.filter(lambda v: v not in rng.options), st.integers(10**6, 10**7))


@pytest.mark.parametrize("design", DESIGNS)
@BAD_EXAMPLES
@given(data=st.data())
def test_bad_field_values_are_value_errors_naming_the_field(design, data):
    cls = designs()[design]
    name = data.draw(st.sampled_from(sorted(cls.field_ranges())), label="field")
    value = data.draw(bad_values(cls.field_ranges()[name]), label="value")
    with pytest.raises(ValueError) as err:
        cls(**{name: value})
    assert f".{name} = " in str(err.value) and "allowed" in str(err.value)


@pytest.mark.parametrize("design", DESIGNS)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_valid_draws_have_exact_costs_and_a_module_that_runs(design, data):
    import torch

    spec = data.draw(specs(design))
    c = spec.costs()
    numbers = [c.params, c.mem_bytes, *c.macs_by_key.values(), *c.elementwise.values()]
    assert all(isinstance(v, int) and v >= 0 for v in numbers)
    with torch.no_grad():
        out = spec.module()(spec.example_input(1))
    assert torch.isfinite(out).all()
