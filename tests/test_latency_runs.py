"""Cross-run comparison of latency evaluations (costmodel.latency.runs) on synthetic tables."""

import math

import pandas as pd
import pytest

from costmodel.latency.runs import MIN_SHARED_ITEMS, error_consistency, item_table, measured_agreement


def _items(n):
    return [f"item{i}" for i in range(n)]


def test_measured_agreement_divides_out_the_speed_between_runs():
    # run b is 10% slower on every item (the machine), and item0 5% and item1 20% beyond that:
    # ratios 1.155, 1.32 and ten times 1.10 -> median 1.10; deviations 0.05, 0.20 and ten 0
    a = pd.Series(100.0, index=_items(12))
    b = a * 1.10
    b["item0"] *= 1.05
    b["item1"] *= 1.20
    (pair,) = measured_agreement(pd.DataFrame({"runA": a, "runB": b}))
    assert pair.runs == ("runA", "runB")
    assert pair.items == 12
    assert pair.within_3 == pytest.approx(10 / 12)   # item0 (5%) and item1 (20%) are out
    assert pair.within_10 == pytest.approx(11 / 12)  # only item1 is out
    assert pair.median_abs == pytest.approx(0.0)


def test_measured_agreement_skips_pairs_with_too_few_shared_items():
    # run c has only MIN_SHARED_ITEMS - 1 of the items: the pairs with it are skipped, a-b stays
    full = pd.Series(1.0, index=_items(MIN_SHARED_ITEMS + 2))
    partial = full.iloc[:MIN_SHARED_ITEMS - 1]
    pairs = measured_agreement(pd.DataFrame({"a": full, "b": full * 2, "c": partial}))
    assert [p.runs for p in pairs] == [("a", "b")]


def test_error_consistency_of_two_runs_that_differ_by_a_constant():
    # errors a_i = 0.01 i and b_i = 0.01 i + 0.04 over 10 items: correlation 1; mean error
    # 0.01 i + 0.02 (0.02 .. 0.11: 9 of 10 within ±10%); median |mean| = (0.06 + 0.07) / 2 = 0.065;
    # the standard deviation (ddof 1) of two values 0.04 apart is 0.04 / sqrt(2) = 0.028284
    a = pd.Series([0.01 * i for i in range(10)], index=_items(10))
    c = error_consistency(pd.DataFrame({"a": a, "b": a + 0.04}))
    assert c.runs == 2 and c.items == 10
    assert c.median_correlation == pytest.approx(1.0)
    assert c.mean_error_within_10 == pytest.approx(0.9)
    assert c.median_abs_mean_error == pytest.approx(0.065)
    assert c.median_error_spread == pytest.approx(0.04 / math.sqrt(2))
    assert c.per_item.index[0] == "item0" and c.per_item["mean_error"].iloc[-1] == pytest.approx(0.11)


def test_error_consistency_median_correlation_over_pairs():
    # a and b correlate +1, c runs the other way: pairs (a,b) +1, (a,c) -1, (b,c) -1 -> median -1
    a = pd.Series([0.01 * i for i in range(10)], index=_items(10))
    c = error_consistency(pd.DataFrame({"a": a, "b": a + 0.02, "c": a[::-1].to_numpy()}, index=a.index))
    assert c.median_correlation == pytest.approx(-1.0)


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="runs = 1 is invalid"):
        error_consistency(pd.DataFrame({"a": [0.1] * 12}))
    with pytest.raises(ValueError, match="column 'measured_us' is missing"):
        item_table({"P1": pd.DataFrame({"config": ["x"], "err": [0.1]})}, "measured_us")
