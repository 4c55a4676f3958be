"""Sampling runs and LUTs larger than memory (costmodel.spaces.stream): chunked draws equal the
one-shot sample, Parquet round-trips holding one chunk at a time, Dask equals the local run."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pandas as pd
import pytest

from costmodel.spaces import load_space, sample_chunks, sample_to_parquet, space
from costmodel.spaces import stream
from costmodel.spaces.lut import load_lut
from tests.test_spaces import ONE_BLOCK, TINY


def test_draw_rows_are_rows_of_the_one_shot_draw():
    sp = space("ghostnet")
    whole = sp.draw(1000, seed=4)
    # rows 337..736 drawn alone (the PCG64 stream advanced by 337 rows x 28 columns)
    assert np.array_equal(stream.draw_rows(sp, 337, 400, seed=4), whole[337:737])
    # the draw is uniform per column: index = floor(u * column size), u in [0, 1)
    assert whole.min() == 0 and (whole.max(axis=0) < sp.column_sizes()).all()


def test_chunks_equal_the_one_shot_sample():
    sp = load_space(TINY)
    chunks = list(sample_chunks(sp, 1000, seed=2, chunk=300, profile=None))
    # 1000 rows in chunks of 300: 300, 300, 300, 100
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    pd.testing.assert_frame_equal(pd.concat(chunks), sp.sample(1000, 2, profile=None))


def test_parquet_round_trips(tmp_path):
    sp = load_space(TINY)
    path = sample_to_parquet(sp, tmp_path / "s.parquet", 2500, seed=7, chunk=1000, profile=None)
    import pyarrow.parquet as pq

    assert pq.ParquetFile(path).metadata.num_row_groups == 3  # one row group per chunk
    back = pd.read_parquet(path)
    want = sp.sample(2500, 7, profile=None)
    pd.testing.assert_frame_equal(back, want, check_dtype=False)
    assert back["params"].dtype == np.int64 and back["MACs"].tolist() == want["MACs"].tolist()
    # evaluating the written candidates again, chunk by chunk, gives the same file content
    again = stream.evaluate_parquet(sp, path, tmp_path / "e.parquet", chunk=700, profile=None)
    pd.testing.assert_frame_equal(pd.read_parquet(again), back)


def test_parquet_stream_holds_one_chunk(tmp_path, monkeypatch):
    """Each chunk is dead (weakref) before the next is made, and the traced peak memory stays a
    few chunks' worth while the file holds 20 chunks."""
    sp = load_space(TINY)
    n, chunk = 200_000, 10_000
    import pyarrow.parquet  # noqa: F401  imported and the tables cached before tracing: neither is a chunk

    stream.tables_for(sp, None).plan
    alive_at_creation: list[int] = []
    refs: list[weakref.ref] = []
    made = stream.sample_chunk

    def watched(*args):
        gc.collect()
        alive_at_creation.append(sum(r() is not None for r in refs))
        frame = made(*args)
        refs.append(weakref.ref(frame))
        return frame

    monkeypatch.setattr(stream, "sample_chunk", watched)
    one = sp.sample(chunk, 0, profile=None)
    chunk_bytes = int(one.memory_usage(deep=True).sum())
    del one
    tracemalloc.start()
    try:
        sample_to_parquet(sp, tmp_path / "big.parquet", n, seed=1, chunk=chunk, profile=None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert alive_at_creation == [0] * 20  # 200,000 / 10,000 chunks, none alive when the next starts
    # a run that kept its chunks would peak above 20 chunks; one chunk plus its temporaries
    # (the drawn doubles and their int64 indices, each about a frame's size, and the (8, n)
    # int64 sums) measured about 4 chunks here
    assert peak < 6 * chunk_bytes, (peak, chunk_bytes)
    assert len(pd.read_parquet(tmp_path / "big.parquet", columns=["params"])) == n


def test_zero_rows_and_bad_chunk_are_value_errors(tmp_path):
    sp = load_space(TINY)
    with pytest.raises(ValueError, match=r"chunk = 0 is invalid: allowed is an integer >= 1"):
        list(sample_chunks(sp, 10, chunk=0, profile=None))
    with pytest.raises(ValueError, match=r"out = .*s\.csv' is invalid: allowed is a \.parquet file"):
        sample_to_parquet(sp, tmp_path / "s.csv", 10, profile=None)


def test_lut_chunks_stream_to_parquet_and_load(tmp_path):
    path = tmp_path / "one.toml"
    path.write_text(ONE_BLOCK)
    sp = load_space(path)
    out = stream.measure_lut_to_parquet(sp, tmp_path / "lut.parquet", chunk=2, min_run_time=0.002)
    frame = pd.read_parquet(out)
    keys = list(sp.tables(profile=None).makers)
    # stem, 2 heads, 2 blocks = 5 keys, in chunks of 2: 3 row groups, every key once
    assert sorted(frame["key"]) == sorted(keys) and len(frame) == 5
    assert (frame["seconds"] > 0).all() and frame["host"].nunique() == 1
    lut = load_lut(out)
    got = sp.evaluate([[1, 0, 0]], lut=lut)["LUT latency (s)"].iloc[0]
    block = [k for k in keys if "8x8x8 -> 16" in k][0]
    head = [k for k in keys if k.startswith("head | 16x")][0]
    assert got == pytest.approx(lut.seconds("stem") + lut.seconds(block) + lut.seconds(head), rel=1e-12)


def test_dask_local_cluster_equals_the_local_run(tmp_path):
    distributed = pytest.importorskip("distributed", reason="the costmodel[distributed] extra (dask) is absent")
    sp = load_space(TINY)
    local = sample_to_parquet(sp, tmp_path / "local.parquet", 5000, seed=3, chunk=800, profile=None)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        remote = sample_to_parquet(sp, tmp_path / "dask.parquet", 5000, seed=3, chunk=800, profile=None,
                                   client=client)
    pd.testing.assert_frame_equal(pd.read_parquet(remote), pd.read_parquet(local))
    pd.testing.assert_frame_equal(pd.read_parquet(local), sp.sample(5000, 3, profile=None), check_dtype=False)


def test_dask_absent_or_bad_client_is_a_value_error(monkeypatch):
    sp = load_space(TINY)
    with pytest.raises(ValueError, match=r"client = 3 is invalid|needs dask\.distributed"):
        list(sample_chunks(sp, 10, chunk=5, profile=None, client=3))
