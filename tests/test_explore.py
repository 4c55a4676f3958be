"""Sweeps and Pareto fronts (costmodel/explore/).

The vectorized sweep must give, row for row, what ``spec.costs()`` gives (and, for invalid
points, the reason the constructor raises), for every registered design. int64 must never wrap
silently, and the Pareto front must equal a brute-force O(n^2) front.
"""

from __future__ import annotations

import re

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel import explore
from costmodel.cli import main
from costmodel.explore import accepts_array, front_mask, pareto_front, parse_grid, stack_costs, sweep
from costmodel.core.registry import designs, get_design
from costmodel.core import Range
from costmodel.core.spec import vector_evaluator
from strategies import expected_row, field_strategy

DESIGNS = list(designs())


def check_rows(cls, frame: pd.DataFrame) -> int:
    """Every row against the constructor + spec.costs(); returns the number of valid rows."""
    n_valid = 0
    for row in frame.to_dict("records"):
        fields = {nm: row[nm] for nm in cls.field_ranges()}
        try:
            spec = cls(**fields)
        except ValueError as exc:
            assert not row["valid"], (fields, str(exc))
            field, _, text = row["reason"].partition(": ")
            # the constructor's message names the same field and the same rule
            assert f".{field} = " in str(exc) and text in str(exc), (row["reason"], str(exc))
            assert pd.isna(row["params"]) and pd.isna(row["macs"])
            continue
        assert row["valid"] and row["reason"] == "", (fields, row["reason"])
        n_valid += 1
        for name, value in expected_row(spec).items():
            got = row[name]
            if isinstance(value, float):
                assert got == pytest.approx(value, rel=1e-12, abs=0), (name, fields)
            else:
                assert got == value, (name, fields, got, value)
    return n_valid


def near_default_grid(cls) -> dict[str, list]:
    """Per field: the default and a few neighbours (so that many points are valid)."""
    grid = {}
    for f in dataclasses.fields(cls):
        rng = f.metadata.get("range")
        if rng is None:
            continue
        d = f.default
        if f.name == "dtype_bytes":
            grid[f.name] = [2, 4]
        elif rng.kind == "int":
            grid[f.name] = sorted({1, 3, max(1, d // 2), d, d + 1, 2 * d})
        elif rng.kind == "flag":
            grid[f.name] = [False, True]
        elif rng.kind == "real":
            grid[f.name] = sorted({d, 0.5, 0.25, 0.125})
        else:
            grid[f.name] = list(rng.options)
    return grid


@pytest.mark.parametrize("design", DESIGNS)
def test_sweep_equals_per_point_costs_near_defaults(design):
    """300 random points around the defaults: valid rows equal spec.costs() exactly, invalid
    rows carry the constructor's reason."""
    cls = get_design(design)
    frame = sweep(design, sample=300, seed=7, **near_default_grid(cls))
    assert len(frame) == 300
    assert check_rows(cls, frame) >= 1  # the defaults are in the grid: some points are valid


@pytest.mark.parametrize("design", DESIGNS)
@given(data=st.data())
def test_sweep_equals_per_point_costs_random_grids(design, data):
    """Random small grids drawn with the designs' own test strategies."""
    cls = get_design(design)
    grids = {nm: data.draw(st.lists(field_strategy(design, nm, rng), min_size=1, max_size=3), label=nm)
             for nm, rng in cls.field_ranges().items()}
    frame = sweep(design, sample=40, seed=data.draw(st.integers(0, 2**16), label="seed"), **grids)
    check_rows(cls, frame)


def test_full_grid_order_and_hand_worked_numbers():
    """group_conv c_in=64, c_out=64, k=3, 56x56, groups 4: params = 64*(64/4)*9 = 9,216;
    MACs = 9,216 * 56*56 = 28,901,376; bytes = 4*(64*56*56 in + 64*56*56 out + 9,216) = 1,642,496."""
    frame = sweep("group_conv", c_out=[64, 128], groups=[1, 4])
    assert list(frame["c_out"]) == [64, 64, 128, 128]  # the first field varies slowest
    assert list(frame["groups"]) == [1, 4, 1, 4]
    row = frame.iloc[1]
    assert (row["params"], row["macs"], row["flops"], row["mem_bytes"]) == (9216, 28901376, 57802752, 1642496)
    assert frame["params"].dtype == np.int64  # every point valid: plain int64
    assert frame.attrs["units"]["macs"] == "MACs" and frame.attrs["units"]["mem_bytes"] == "bytes"


def test_invalid_points_get_the_right_reason():
    """groups=0 breaks the range (checked first, like the constructor); 3 does not divide 64;
    with c_in=48 (divisible by 3), 3 does not divide c_out=64."""
    frame = sweep("group_conv", c_in=[64, 48], c_out=64, groups=[0, 3, 4])
    reasons = list(frame["reason"])
    assert reasons == ["groups: allowed is an integer >= 1 and <= 2,147,483,648", "groups: groups must divide c_in", "",
                       "groups: allowed is an integer >= 1 and <= 2,147,483,648", "groups: groups must divide c_out", ""]
    assert list(frame["valid"]) == [False, False, True, False, False, True]
    assert str(frame["macs"].dtype) == "Int64" and frame["macs"].isna().sum() == 4
    # 48*(64/4)*9 = 6,912 params for the last point
    assert frame["params"].iloc[5] == 6912
    assert frame.attrs["invalid"] == {"groups: allowed is an integer >= 1 and <= 2,147,483,648": 2,
                                      "groups: groups must divide c_in": 1,
                                      "groups: groups must divide c_out": 1}


def test_all_invalid_sweep_is_empty_but_typed():
    frame = sweep("group_conv", c_in=64, groups=[3, 5, 7], valid_only=True)
    assert len(frame) == 0
    for col in ("params", "macs", "flops", "mem_bytes", "macs_conv", "elem_batch_norm"):
        assert frame[col].dtype == np.int64, col
    assert frame["c_in"].dtype == np.int64 and frame["valid"].dtype == bool
    assert frame.attrs["invalid"] == {"groups: groups must divide c_in": 3}
    kept = sweep("group_conv", c_in=[0], groups=[3, 5])  # keep the rows: reasons per point
    assert list(kept["reason"]) == ["c_in: allowed is an integer >= 1 and <= 2,147,483,648"] * 2
    assert kept["macs"].isna().all() and str(kept["macs"].dtype) == "Int64"


@pytest.mark.parametrize("sample", [0, -1, -(2**70), np.int64(0), True, 2.0])
def test_sample_below_one_is_refused(sample):
    """sample = 0 would be an empty result that looks like an answer: refused, like negatives."""
    with pytest.raises(ValueError, match=r"^sample = .* is invalid: allowed is an integer >= 1$"):
        sweep("conv", sample=sample)


@pytest.mark.parametrize("kw, message", [
    ({"sample": 3, "seed": -1}, "seed = -1 is invalid: allowed is an integer >= 0"),  # numpy's vaguer error before
    ({"sample": 3, "seed": 1.5}, "seed = 1.5 is invalid"),                            # a TypeError before
    ({"sample": 3, "seed": True}, "seed = True is invalid"),                          # silently seed 1 before
    ({"max_points": 0}, "max_points = 0 is invalid: allowed is an integer >= 1"),
    ({"max_points": True}, "max_points = True is invalid"),
    ({"memory_budget": -1}, "memory_budget = -1 is invalid: allowed is an integer >= 1"),
])
def test_sweep_keywords_name_their_range(kw, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        sweep("conv", c_in=range(1, 9), **kw)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "a"])
def test_space_sample_seed_names_its_range(seed):
    from costmodel.spaces import space

    with pytest.raises(ValueError, match=re.escape(f"seed = {seed!r} is invalid: allowed is an integer >= 0")):
        space("resnet50").sample(3, seed=seed)


def test_int64_overflow_is_detected_not_wrapped():
    """conv c_in = c_out = 2**20, k=3, 4096x4096: MACs = 2**20 * 2**20 * 9 * 2**12 * 2**12
    = 9 * 2**64 = 166,020,696,663,385,964,544 (beyond int64). params = 2**40 * 9 =
    9,895,604,649,984 still fits. With c_out = 64: MACs = 9 * 2**50 = 10,133,099,161,583,616."""
    frame = sweep("conv", c_in=2**20, c_out=[2**20, 64], h=4096, w=4096)
    assert frame["macs_conv"].iloc[0] == 166_020_696_663_385_964_544 == 9 * 2**64
    assert frame["flops"].iloc[0] == 2 * 9 * 2**64
    assert frame["macs"].iloc[1] == 10_133_099_161_583_616
    assert frame["macs"].dtype == object and frame["params"].dtype == np.int64
    assert frame["params"].iloc[0] == 9_895_604_649_984
    assert frame.attrs["exact_rows"] >= 1
    # without the guard, int64 would have wrapped: 9 * 2**64 mod 2**64 = 0
    cls = get_design("conv")
    names, evaluate = vector_evaluator(cls, ())
    args = {"c_in": 2**20, "c_out": 2**20, "k": 3, "stride": 1, "h": 4096, "w": 4096, "bias": 0,
            "bn": 0, "act": 0, "dtype_bytes": 4}
    raw = dict(zip(names, evaluate(*(np.array([args[a]]) for a in cls.argument_names()))))
    assert int(raw["macs_conv"][0]) != 9 * 2**64


def test_values_beyond_int64_take_the_exact_path():
    """Sizes are bounded by 2**31 (issue 14), but their products are not: c_in = c_out = 2**31 at
    2**20 x 2**20 gives MACs = 2**31 * 2**31 * 9 * 2**40 = 9 * 2**102 exactly; c_in = 2**70 is
    beyond the field's range and invalid, as the constructor says."""
    frame = sweep("conv", c_in=[2**31, 64], c_out=2**31, h=2**20, w=2**20)
    assert frame["macs"].iloc[0] == 9 * 2**102
    assert frame["macs"].iloc[1] == 64 * 2**31 * 9 * 2**40
    assert frame["valid"].all()
    over = sweep("conv", c_in=[2**70])
    assert not over["valid"].iloc[0] and over["reason"].iloc[0].startswith("c_in: allowed is")


def test_spec_instance_sets_the_defaults():
    base = get_design("group_conv")(c_in=32, c_out=32, groups=2)
    frame = sweep(base, k=[1, 3])
    assert list(frame["c_in"]) == [32, 32] and list(frame["groups"]) == [2, 2]
    # 1x1: 32*(32/2) = 512 params; 3x3: 512*9 = 4,608
    assert list(frame["params"]) == [512, 4608]


def test_bad_sweep_arguments_raise_value_error():
    with pytest.raises(ValueError, match="not a field of GroupConv"):
        sweep("group_conv", nonsense=[1])
    with pytest.raises(ValueError, match="max_points"):
        sweep("group_conv", c_in=range(1, 1001), c_out=range(1, 1001), max_points=10_000)
    with pytest.raises(ValueError, match="at least one value"):
        sweep("group_conv", c_in=[])


def test_sample_is_reproducible_and_draws_from_the_grid():
    a = sweep("group_conv", sample=50, seed=3, c_out=[16, 32, 48], groups=[1, 2, 4])
    b = sweep("group_conv", sample=50, seed=3, c_out=[16, 32, 48], groups=[1, 2, 4])
    pd.testing.assert_frame_equal(a, b)
    assert set(a["c_out"]) <= {16, 32, 48} and set(a["groups"]) <= {1, 2, 4}


@settings(max_examples=max(30, settings.default.max_examples))
@given(st.lists(st.one_of(st.integers(-3, 3), st.floats(-3, 3), st.booleans(),
                          st.sampled_from([float("nan"), float("inf"), 2.5, 1.0, 0.0])), min_size=1, max_size=12))
def test_accepts_array_equals_range_accepts(values):
    for rng in (Range("int", 1), Range("int", 0, 2), Range("real", 0.0, 1.0, True, False), Range("flag"),
                Range("real", -1.0, None)):
        for arr in (np.array([v for v in values if not isinstance(v, bool)] or [0]),
                    np.array([v for v in values if isinstance(v, bool)] or [True])):
            want = [rng.accepts(v) for v in arr.tolist()]
            assert accepts_array(rng, arr).tolist() == want, (rng, arr)


# --- Pareto fronts ---------------------------------------------------------------------------

def brute_front(points: np.ndarray) -> set[int]:
    """O(n^2): i is on the front unless some j is <= everywhere and < somewhere."""
    out = set()
    for i, p in enumerate(points):
        dominated = any(np.all(q <= p) and np.any(q < p) for j, q in enumerate(points) if j != i)
        if not dominated:
            out.add(i)
    return out


@settings(max_examples=max(60, settings.default.max_examples))  # cheap: more than the ci default
@given(k=st.integers(1, 4), data=st.data())
def test_pareto_front_equals_brute_force(k, data):
    rows = data.draw(st.lists(st.tuples(*[st.integers(0, 6)] * k), min_size=0, max_size=40), label="rows")
    flip = data.draw(st.lists(st.booleans(), min_size=k, max_size=k), label="maximize")
    points = np.array(rows, dtype=np.int64).reshape(len(rows), k)
    signed = points * np.where(flip, -1, 1)
    assert set(np.flatnonzero(front_mask(signed))) == brute_front(signed)
    frame = pd.DataFrame(points, columns=[f"o{i}" for i in range(k)])
    frame.index = frame.index * 10  # the front keeps the frame's own index
    front = pareto_front(frame, list(frame.columns), maximize=flip)
    assert set(front.index // 10) == brute_front(signed)
    assert list(front["o0"]) == sorted(front["o0"], reverse=flip[0])


def test_pareto_front_on_a_sweep_ignores_invalid_rows_and_is_exact_on_big_ints():
    frame = sweep("group_conv", c_in=64, c_out=64, groups=[1, 2, 3, 4, 8])  # groups=3 invalid
    front = pareto_front(frame, ["macs", "params"])
    # more groups -> fewer MACs and params: groups = 8 dominates every other point
    assert list(front["groups"]) == [8]
    big = pd.DataFrame({"a": np.array([2**70, 2**70 + 1, 5], dtype=object),
                        "b": np.array([1, 0, 2], dtype=object)})
    # 2**70 and 2**70 + 1 differ by one: exact comparison keeps (2**70+1, 0) and (5, 2) and (2**70, 1)
    assert set(pareto_front(big, ["a", "b"]).index) == {0, 1, 2}
    big.loc[1, "b"] = 1  # now (2**70 + 1, 1) is dominated by (2**70, 1)
    assert set(pareto_front(big, ["a", "b"]).index) == {0, 2}


# --- stacks, grids, CLI ---------------------------------------------------------------------

def test_stack_costs_equals_the_sum_of_spec_costs():
    specs = [get_design("conv")(c_in=3, c_out=32, k=3, stride=2, h=224, w=224, bn=True, act=True),
             get_design("pointwise")(c_in=32, c_out=64, h=112, w=112),
             get_design("group_conv")(c_in=64, c_out=64, groups=4, h=112, w=112),
             get_design("conv")(c_in=64, c_out=64, k=3, h=112, w=112),
             get_design("conv")(c_in=2**20, c_out=2**20, k=3, h=4096, w=4096)]  # exact path
    specs.append(get_design("ghost")())  # extras (intrinsic channels) are not summed
    want: dict[str, int] = {}
    for s in specs:
        for name, v in expected_row(s).items():
            if name in ("params", "macs", "flops", "mem_bytes") or name.startswith(("macs_", "elem_")):
                want[name] = want.get(name, 0) + v
    got = stack_costs(specs)
    assert got == want
    many = [get_design("pointwise")(c_in=c, c_out=2 * c, h=14, w=14) for c in range(1, 41)] * 8  # 320: vectorized
    many.append(get_design("pointwise")(c_in=2**31, c_out=2**31, h=2**12, w=2**12))  # 2**86 MACs: exact path
    # 8 x the sum over c = 1..40 of 2c*c*196 = 8 * 392 * (40*41*81/6) = 8 * 392 * 22,140 = 69,431,040;
    # the last spec adds 2**31 * 2**31 * 2**12 * 2**12 = 2**86
    assert stack_costs(many[:-1])["macs_conv"] == 69_431_040  # one numpy call
    assert stack_costs(many)["macs_conv"] == 69_431_040 + 2**86  # the shadow sends the group to exact ints


def test_parse_grid():
    ints = Range("int", 1)
    assert parse_grid("16:64:16", ints) == [16, 32, 48, 64]  # inclusive of b
    assert parse_grid("2,3,4", ints) == [2, 3, 4]
    assert parse_grid("1:3,8", ints) == [1, 2, 3, 8]
    assert parse_grid("7", ints) == [7]
    assert parse_grid("1/4:1/2:1/8", Range("real", 0, 1)) == [0.25, 0.375, 0.5]
    assert parse_grid("both", Range("flag")) == [False, True]
    assert parse_grid("parallel", Range("choice", options=("sequential", "parallel"))) == ["parallel"]
    for bad in ("5:1", "1:4:0", "x", "1,,2"):
        with pytest.raises(ValueError):
            parse_grid(bad, ints)


def test_cli_sweep_writes_csv(tmp_path, capsys):
    out = tmp_path / "sweep.csv"
    code = main(["sweep", "group_conv", "--quiet", "--out", str(out), "--c-out", "16:64:16", "--groups", "1,2,3"])
    assert code == 0
    frame = pd.read_csv(out)  # valid rows have an empty reason, read back as NaN
    assert len(frame) == 12 and list(frame["c_out"].unique()) == [16, 32, 48, 64]
    # groups=3 never divides c_in=64 (the default): 4 invalid rows
    assert (frame["reason"] == "groups: groups must divide c_in").sum() == 4
    # c_out=16, groups=1: params = 16*64*9 = 9,216
    assert frame.query("c_out == 16 and groups == 1")["params"].item() == 9216
    assert frame["reason"].isna().sum() == 8
    assert "12 points of group_conv, 8 valid" in capsys.readouterr().out


def test_cli_sweep_pareto_and_errors(capsys):
    assert main(["sweep", "group_conv", "--quiet", "--groups", "1,2,4", "--pareto", "macs,params"]) == 0
    assert "Pareto front on macs, params (1 points" in capsys.readouterr().out
    assert main(["sweep", "group_conv", "--quiet", "--c-out", "64:16"]) == 2
    assert "a <= b" in capsys.readouterr().err
    assert main(["sweep", "group_conv", "--quiet", "--nope", "1"]) == 2
    capsys.readouterr()
    # ghost's --s and --d are not abbreviations of --sample / --seed
    assert main(["sweep", "ghost", "--s", "2,3", "--d", "1,3", "--c-out", "16", "--quiet"]) == 0
    assert "4 points of ghost, 4 valid" in capsys.readouterr().out


def test_explore_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, costmodel; costmodel.sweep('group_conv', groups=[1, 2]); "
            "print('torch' in sys.modules, 'fvcore' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_exports():
    import costmodel

    assert costmodel.sweep is explore.sweep and costmodel.pareto_front is explore.pareto_front


# --- derived symbols: vectorized when the design's derived() is plain arithmetic -------------

import math  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from costmodel.core import ops as _ops  # noqa: E402
from costmodel.core import Spec, fraction, size  # noqa: E402


@dataclass(frozen=True, kw_only=True)
class KeptFloor(Spec):
    """Not registered: a 1x1 conv on the kept = c_in - floor(zeta*c_in) channels (DGC's rule).
    derived() uses math.floor, which refuses arrays: the sweep must fall back to one call per row."""

    c_in: int = size(8)
    zeta: float = fraction(0.5, hi_open=True)
    derived_symbols = ("kept",)

    def derived(self) -> dict[str, int]:
        return {"kept": self.c_in - math.floor(self.zeta * self.c_in)}

    @classmethod
    def ops(cls, p):
        return [_ops.conv("conv", p.kept, 1, 1, 1, 1)]  # MACs = params = kept


@dataclass(frozen=True, kw_only=True)
class KeptHalf(KeptFloor):
    """derived() with plain integer arithmetic: evaluated once on whole columns."""

    def derived(self) -> dict[str, int]:
        return {"kept": self.c_in - self.c_in // 2}


def test_derived_symbols_per_row_and_vectorized():
    frame = sweep(KeptFloor, c_in=[8, 10], zeta=[0.0, 0.25, 0.5, 0.9])
    # kept = 8-0, 8-2, 8-4, 8-floor(7.2)=1; 10-0, 10-floor(2.5)=8, 10-5, 10-9=1
    assert list(frame["macs_conv"]) == [8, 6, 4, 1, 10, 8, 5, 1]
    check_rows(KeptFloor, frame)
    half = sweep(KeptHalf, c_in=[7, 8, 9])
    assert list(half["params"]) == [4, 4, 5]  # 7-3, 8-4, 9-4
    check_rows(KeptHalf, half)
    bad = sweep(KeptFloor, zeta=[1.0, 0.5])  # zeta < 1 (open): the range reason, no derived() call
    assert list(bad["reason"]) == ["zeta: allowed is a number in [0, 1)", ""]


@pytest.mark.parametrize("design, grid", [
    ("group_conv", {"c_in": [64, 48, 2**21], "c_out": [64, 2**21], "groups": [0, 1, 3, 4], "h": [56, 4096]}),
    ("sic", {"variant": ["sequential", "parallel"], "k": [2, 3], "n": [16, 24]}),
])
def test_chunking_does_not_change_the_frame(monkeypatch, design, grid):
    """Rows are evaluated in chunks; 5-row chunks (invalid rows, exact big rows and structural
    groups falling across boundaries) must give the same frame as one chunk."""
    whole = sweep(design, **grid)
    monkeypatch.setattr(explore.sweeps, "CHUNK", 5)
    pieces = sweep(design, **grid)
    pd.testing.assert_frame_equal(whole, pieces)
    assert whole.attrs["invalid"] == pieces.attrs["invalid"]
    check_rows(get_design(design), pieces)
