"""One truth (issue 19, parts 1-2): every sweep row says what the constructor says.

Random full grids over every registered design mix ordinary values with the inputs that used
to disagree: huge integers (2**62 .. 2**64 and beyond), integral floats (3.0: the spec rejects
them, issue 14), numpy scalars, bools, 0/1 flags, Fractions and layout spellings ("8x8", [2, 4],
8). For every row, ``valid``, ``reason`` and every cost column must equal what ``cls(**given)``
and ``spec.costs()`` give for the values the user gave (or name the field of its ValueError).
A float is never presented as an exact integer.
"""

from __future__ import annotations

import fractions
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.core.registry import designs, get_design
from costmodel.explore import sweep
from strategies import expected_row, field_strategy

DESIGNS = list(designs())
MAX_ROWS = 48
"""Rows per drawn grid: the lists shrink to one value once the product reaches this."""

HUGE = st.sampled_from([2**31 + 1, 2**53 + 1, 2**62 - 1, 2**62, 2**63 - 1, 2**63, 2**64, 2**64 + 1,
                        3**50, -(2**63), -1, 0])
"""Integers outside every size range (<= 2**31): each must be refused by its field's range."""


def _numpy_int(v: int) -> st.SearchStrategy:
    kinds = [t for t in (np.int64, np.int32, np.uint64, np.int16) if np.iinfo(t).min <= v <= np.iinfo(t).max]
    return st.sampled_from(kinds).map(lambda t: t(v)) if kinds else st.just(v)


def good_values(design: str, name: str, rng) -> st.SearchStrategy:
    """Values the field accepts, in every spelling the constructor normalises; big sizes (up to
    the field's bound, 2**31) make the products overflow int64 and take the exact path."""
    ordinary = field_strategy(design, name, rng)
    if rng.kind == "int":
        big = st.integers(max(int(rng.lo), 2**16), int(rng.hi)) if rng.hi >= 2**16 else ordinary
        return st.one_of(ordinary, ordinary, ordinary.flatmap(_numpy_int), big, big.flatmap(_numpy_int))
    if rng.kind == "flag":
        return st.sampled_from([False, True, 0, 1, np.bool_(True), np.bool_(False), np.int64(1), np.uint8(0)])
    if rng.kind == "real":
        inside = [v for v in (0, 1, fractions.Fraction(1, 3), fractions.Fraction(2, 3), np.int64(0), -0.0,
                              np.float32(0.25)) if rng.accepts(v)]
        return st.one_of(ordinary, ordinary.map(np.float64), st.sampled_from(inside))
    if rng.role == "layout":
        return ordinary.flatmap(layout_spelling)
    return st.sampled_from(rng.options)


def bad_values(rng) -> st.SearchStrategy:
    """Values the field refuses: beyond its range, integral floats (issue 14), bools for sizes..."""
    if rng.kind == "int":
        return st.one_of(HUGE, st.integers(2**31 + 1, 2**80), HUGE.flatmap(_numpy_int),
                         st.sampled_from([3.0, 64.0, np.float64(3.0), True, False, "3", None]))
    if rng.kind == "flag":
        return st.sampled_from([2, 1.0, -1, 2**64, "True", np.float64(1.0)])
    if rng.kind == "real":
        return st.sampled_from([float("nan"), float("inf"), -1e-9, 1.5, 2**64, True, np.bool_(False), "0.5"])
    if rng.role == "layout":
        return st.sampled_from([(), (0, 4), (2**31 + 1,), "8y8", 8.0, (2.0, 4), (True,), None])
    return st.sampled_from(["nonsense", 0, None])


def layout_spelling(value: tuple) -> st.SearchStrategy:
    spellings = [value, list(value), "x".join(map(str, value)), ",".join(map(str, value)),
                 tuple(np.int64(v) for v in value)]
    if len(value) == 1:
        spellings += [value[0], np.int64(value[0])]
    return st.sampled_from(spellings)


@st.composite
def grids(draw, design: str) -> dict[str, list]:
    """One list of 1-3 values per field, the product of lengths kept <= MAX_ROWS. Up to three
    fields also get refused values, so that many rows stay valid and every refusal is met."""
    ranges = get_design(design).field_ranges()
    odd = draw(st.sets(st.sampled_from(list(ranges)), max_size=3), label="fields with refused values")
    out, rows = {}, 1
    for name, rng in ranges.items():
        most = max(1, min(3, MAX_ROWS // rows))
        values = st.one_of(good_values(design, name, rng), bad_values(rng)) if name in odd else \
            good_values(design, name, rng)
        out[name] = draw(st.lists(values, min_size=1, max_size=most), label=name)
        rows *= len(out[name])
    return out


def check_against_constructor(cls, grid: dict[str, list], frame: pd.DataFrame) -> tuple[int, int]:
    """Row r of a full grid is the r-th element of the product of the lists (first field
    slowest). Returns (rows checked, valid rows); any disagreement fails the test."""
    names = list(cls.field_ranges())
    assert list(frame.columns[:len(names)]) == names
    records = frame.to_dict("records")
    combos = list(itertools.product(*(grid[nm] for nm in names)))
    assert len(records) == len(combos) == math.prod(len(grid[nm]) for nm in names)
    n_valid = 0
    for row, combo in zip(records, combos):
        given_values = dict(zip(names, combo))
        try:
            spec = cls(**given_values)
        except ValueError as exc:
            assert not row["valid"], (given_values, str(exc))
            field, _, text = row["reason"].partition(": ")
            # the constructor's message names the same field and says the same rule
            assert f".{field} = " in str(exc) and text and text in str(exc), (row["reason"], str(exc))
            assert pd.isna(row["params"]) and pd.isna(row["macs"]) and pd.isna(row["mem_bytes"])
            continue
        n_valid += 1
        assert row["valid"] and row["reason"] == "", (given_values, row["reason"])
        for nm in names:  # the field columns hold the constructor's normalised values
            assert row[nm] == getattr(spec, nm), (nm, row[nm], getattr(spec, nm))
        for name, value in expected_row(spec).items():
            got = row[name]
            if isinstance(value, float):
                assert got == pytest.approx(value, rel=1e-12, abs=0), (name, given_values)
            else:  # exact: an int column (int64 / Int64 / object of Python ints), never a float
                assert not isinstance(got, float) and got == value, (name, given_values, got, value)
                assert frame[name].dtype.kind in "iO" or str(frame[name].dtype) == "Int64", (name, frame[name].dtype)
    return len(records), n_valid


@pytest.mark.parametrize("design", DESIGNS)
@settings(max_examples=max(4, settings.default.max_examples // 3))  # x 21 designs: ci 8 each, deep 100
@given(data=st.data())
def test_every_row_equals_the_constructor(design, data):
    cls = get_design(design)
    grid = data.draw(grids(design), label="grid")
    frame = sweep(design, **grid)
    check_against_constructor(cls, grid, frame)


def test_issue_examples():
    """The three disagreements the issue reports, pinned."""
    # dtype_bytes = 3.0 is an integral float: the constructor rejects it (issue 14), so does the sweep
    frame = sweep("conv", w=[2**31 - 1], dtype_bytes=[3.0, 3])
    assert list(frame["valid"]) == [False, True]
    assert frame["reason"].iloc[0] == "dtype_bytes: allowed is an integer >= 1 and <= 16"
    spec = get_design("conv")(w=2**31 - 1, dtype_bytes=3)
    assert frame["mem_bytes"].iloc[1] == spec.mem_bytes()
    # conv 64 -> 64, 3x3 at 56 x (2**31 - 1), no bias, no BN: bytes = 3 * (64*56*w in + 64*56*w out
    # + 64*64*9 weights) = 3 * (15,393,162,781,696 + 36,864) = 3 * 15,393,162,818,560
    assert frame["mem_bytes"].iloc[1] == 46_179_488_455_680
    # values of 2**61 and more are out of the fields' range: that is the reason, not a default's rule
    frame = sweep("group_conv", c_in=[2**62, 2**31], c_out=[2**62], groups=[2**61])
    assert list(frame["reason"]) == ["c_in: allowed is an integer >= 1 and <= 2,147,483,648",  # the first field
                                     "c_out: allowed is an integer >= 1 and <= 2,147,483,648"]
    # c_in = c_out = 2**31, groups = 2**30 divides both: valid, params = 2**31 * 2 * 9 = 38,654,705,664
    frame = sweep("group_conv", c_in=[2**31], c_out=[2**31], groups=[2**30, 3])
    assert list(frame["valid"]) == [True, False]
    assert frame["params"].iloc[0] == 38_654_705_664
    assert frame["reason"].iloc[1] == "groups: groups must divide c_in"
    # a layout of one axis: dims = 8 means (8,), as Subdivision(dims=8) says
    frame = sweep("subdivision", n=[8], dims=[8, "8", (8,), "2x4"], neighbourhood=[3])
    assert list(frame["valid"]) == [True, True, True, False]
    assert list(frame["dims"][:3]) == [(8,)] * 3


def test_numpy_scalars_become_python_values():
    frame = sweep("conv", c_in=[np.int64(64), np.uint64(64)], bias=[np.bool_(True)], k=[np.int32(3)])
    assert frame["valid"].all() and frame["params"].tolist() == [64 * 64 * 9 + 64] * 2  # weights + bias
    assert frame["c_in"].dtype == np.int64 and frame["bias"].dtype == bool
