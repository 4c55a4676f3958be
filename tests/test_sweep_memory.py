"""Bounded memory (issue 19, part 3): lazy axes, samples drawn without building the grid, limits
checked before allocation, distinct sample points, streaming one chunk at a time.

tracemalloc sees numpy's buffers as well as Python objects, so its peak bounds what a sweep
allocates. Each test warms the design's compiled formulas first: the peak is the data path's.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from costmodel.core.registry import get_design
from costmodel.explore import sweep
from costmodel.explore.grid import Shuffle

MB = 1 << 20


def peak_bytes(fn) -> tuple[int, object]:
    """(peak traced bytes, result) of fn()."""
    tracemalloc.start()
    try:
        result = fn()
        return tracemalloc.get_traced_memory()[1], result
    except Exception as exc:  # noqa: BLE001 - returned to the test to inspect
        return tracemalloc.get_traced_memory()[1], exc
    finally:
        tracemalloc.stop()


def test_sample_of_a_huge_space_allocates_little():
    """10**9 x 10**9 = 10**18 points: 1,000 of them, distinct, in well under 50 MB."""
    sweep("conv", sample=10, c_in=[8], c_out=[8])  # compile once outside the measurement
    peak, frame = peak_bytes(lambda: sweep("conv", sample=1000, seed=1, c_in=range(1, 10**9 + 1),
                                           c_out=range(1, 10**9 + 1)))
    assert peak < 50 * MB, peak
    assert len(frame) == 1000 and len(set(zip(frame["c_in"], frame["c_out"]))) == 1000
    assert frame["valid"].all()  # every c_in, c_out in 1..10**9 is in range
    # a few rows against the constructor (conv k=3, 56x56, stride 1: MACs = c_in*c_out*9*3136)
    for row in frame.head(5).itertuples():
        assert row.macs == row.c_in * row.c_out * 9 * 3136


def test_grid_over_max_points_is_refused_before_allocation():
    """999,999**2 ~ 10**12 points > max_points = 20,000,000: refused in a few kB."""
    peak, exc = peak_bytes(lambda: sweep("conv", c_in=range(1, 10**6), c_out=range(1, 10**6)))
    assert isinstance(exc, ValueError) and "999,998,000,001 points" in str(exc) and "max_points" in str(exc)
    assert peak < 1 * MB, peak


def test_sample_over_the_memory_budget_is_refused_before_allocation():
    peak, exc = peak_bytes(lambda: sweep("conv", sample=10**11, c_in=range(1, 10**9)))
    assert isinstance(exc, ValueError) and "memory_budget" in str(exc), exc
    assert peak < 1 * MB, peak
    with pytest.raises(ValueError, match="memory_budget"):
        sweep("conv", sample=1000, c_in=range(1, 10**9), memory_budget=1000)


def test_cli_grid_over_max_points_is_one_line_before_allocation(capsys):
    from costmodel.cli import main

    peak, code = peak_bytes(lambda: main(["sweep", "conv", "--quiet", "--c-in", "1:3000", "--c-out", "1:30000000"]))
    assert code == 2 and peak < 2 * MB, (code, peak)
    err = capsys.readouterr().err.strip()
    assert "90,000,000,000 points" in err and len(err.splitlines()) == 1  # 3,000 x 30,000,000


def test_sample_larger_than_the_grid_draws_each_point_once():
    frame = sweep("group_conv", sample=100, seed=5, c_out=[16, 32, 48], groups=[1, 2, 4])
    assert len(frame) == 9 and len(set(zip(frame["c_out"], frame["groups"]))) == 9  # 3 x 3, no duplicates
    assert frame.attrs["note"] == "sample = 100 is more than the 9 points of the grid: each point drawn once (9 rows)"
    small = sweep("group_conv", sample=5, seed=5, c_out=[16, 32, 48], groups=[1, 2, 4])
    assert len(set(zip(small["c_out"], small["groups"]))) == 5 and small.attrs["note"] == ""


@pytest.mark.parametrize("total", [1, 2, 3, 10, 1000, 4097])
def test_shuffle_is_a_permutation(total):
    rows = Shuffle(total, seed=3)(0, total)
    assert sorted(rows.tolist()) == list(range(total))
    assert rows.tolist() == np.concatenate([Shuffle(total, 3)(0, total // 2), Shuffle(total, 3)(total // 2, total)]).tolist()


def test_shuffle_of_spaces_past_int64():
    """3**50 ~ 7.2e23 > 2**62: Python ints, still distinct and in range."""
    rows = Shuffle(3**50, seed=0)(0, 500).tolist()
    assert len(set(rows)) == 500 and all(0 <= r < 3**50 for r in rows)
    frame = sweep("conv", sample=50, c_in=range(1, 2**31 + 1), c_out=range(1, 2**31 + 1), h=range(1, 2**31 + 1))
    assert len(set(zip(frame["c_in"], frame["c_out"], frame["h"]))) == 50  # 2**93 points
    assert frame["valid"].all()


def test_subdivision_tables_over_the_budget_are_refused_by_field():
    """n = 10**8 channels with a 1-wide neighbourhood: the gather index alone is 10**8 int64
    (800 MB) and its Python table far more; the spec is valid but its module is refused before
    anything is built, naming the field."""
    cls = get_design("subdivision")
    spec = cls(n=10**8, dims=10**8, neighbourhood=1, h=1, w=1)  # costs stay exact and cheap
    assert spec.params() == 10**8 * 1 * 9  # n * c * k^2
    peak, exc = peak_bytes(spec.module)
    assert isinstance(exc, ValueError) and str(exc).startswith("Subdivision.n = 100000000 is invalid"), exc
    assert peak < 1 * MB, peak


def test_streamed_frames_hold_one_chunk(monkeypatch):
    from costmodel import explore
    from costmodel.explore import iter_sweep

    monkeypatch.setattr(explore.sweeps, "CHUNK", 7)
    frames = list(iter_sweep("group_conv", sample=30, seed=2, c_out=range(1, 100), groups=[1, 2, 3]))
    assert [len(f) for f in frames] == [7, 7, 7, 7, 2]
    whole = sweep("group_conv", sample=30, seed=2, c_out=range(1, 100), groups=[1, 2, 3])
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), whole, check_categorical=False)
