"""Sampling runs and LUT measurements larger than memory: chunk by chunk to Parquet, locally
or on a Dask cluster (the optional ``costmodel[distributed]`` extra).

* ``sample_chunks(space, n, seed, chunk)`` yields the rows of ``space.sample(n, seed)`` one
  chunk at a time. Chunk k's candidates are drawn by jumping the seed's PCG64 stream to row
  ``start`` (``PCG64.advance``: one 64-bit draw per column), so any chunking, run anywhere,
  gives exactly the rows of the one-shot sample.
* ``sample_to_parquet`` / ``evaluate_parquet`` write the chunks to a Parquet file as they come
  (``pyarrow.parquet.ParquetWriter``, one row group per chunk): memory holds one chunk (per
  worker on Dask), whatever ``n``.
* ``client``: None runs here; ``"local"`` starts a ``distributed.LocalCluster``; an address
  (``"tcp://host:8786"``) or a ``distributed.Client`` uses that cluster. The per-block tables are
  computed once here and scattered to the workers; each task draws and evaluates one chunk, and
  results are written in chunk order, so the file is identical to the local run's.
* ``measure_lut_to_parquet`` measures a space's blocks in chunks of keys (on a cluster: one
  task per chunk, each worker one device of the same kind) and appends each chunk's rows.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.fields import check_count
from .tables import Tables, evaluate, evaluate_columns, tables_for

if TYPE_CHECKING:  # the space calls into this module; a runtime import would be a cycle
    from .space import NetworkSpace

CHUNK = 1 << 20
"""Default candidates per chunk (about 150 MB of frame for the ghostnet space)."""


def draw_columns(space: NetworkSpace, start: int, size: int, seed: int = 0,
                 chunk: int = 1 << 13) -> np.ndarray:
    """Rows ``[start, start + size)`` of ``space.draw(n, seed)`` for any n >= start + size, in
    the (columns, rows) layout of ``space.canonical_columns``: uniform per column,
    ``floor(u * column size)`` with u the seed's PCG64 doubles in row-major order."""
    check_count("seed", seed, 0)  # numpy's own error is vaguer
    sizes = np.asarray(space.column_sizes(), dtype=float)
    bits = np.random.PCG64(int(seed))
    bits.advance(int(start) * len(sizes))  # random() takes one 64-bit draw per double
    u = np.random.Generator(bits).random((int(size), len(sizes)))
    cols = np.empty((len(sizes), int(size)), dtype=space.index_dtype())
    for s in range(0, int(size), chunk):  # u < 1, so u * size < size fits the index type
        cols[:, s:s + chunk] = (u[s:s + chunk] * sizes).astype(cols.dtype).T
    return space.zero_absent(cols)


def draw_rows(space: NetworkSpace, start: int, size: int, seed: int = 0) -> np.ndarray:
    """``draw_columns`` as (rows, columns) int64: what ``space.draw`` returns."""
    return np.ascontiguousarray(draw_columns(space, start, size, seed).T, dtype=np.int64)


def spans(n: int, chunk: int) -> list[tuple[int, int]]:
    """(start, size) of each chunk of ``n`` rows."""
    check_count("n", n, 0)
    check_count("chunk", chunk, 1)
    return [(s, min(chunk, n - s)) for s in range(0, n, chunk)]


def sample_chunk(space: NetworkSpace, tables: Tables, start: int, size: int, seed: int):
    """One chunk of the sample as its evaluated DataFrame (index: row numbers in the sample)."""
    frame = evaluate_columns(space, draw_columns(space, start, size, seed), tables)
    frame.index = range(start, start + size)
    return frame


def sample_chunks(space: NetworkSpace, n: int, seed: int = 0, chunk: int = CHUNK, *,
                  profile: Any = "auto", lut: Any = None, client: Any = None) -> Iterator[Any]:
    """The evaluated frames of ``space.sample(n, seed)``, chunk by chunk, in order."""
    parts = spans(n, chunk)
    tables = tables_for(space, profile, lut)
    if client is None:
        for start, size in parts:
            yield sample_chunk(space, tables, start, size, seed)
        return
    with dask_client(client) as c:
        shared = c.scatter(_portable(tables), broadcast=True)
        yield from _in_order(c, [(sample_chunk, space, shared, start, size, seed) for start, size in parts])


def evaluate_chunks(space: NetworkSpace, candidates: str | os.PathLike, chunk: int = CHUNK, *,
                    profile: Any = "auto", lut: Any = None) -> Iterator[Any]:
    """The candidates of a Parquet file (the space's columns), read and evaluated chunk by chunk."""
    import pyarrow.parquet as pq

    tables = tables_for(space, profile, lut)
    start = 0
    for batch in pq.ParquetFile(os.fspath(candidates)).iter_batches(batch_size=chunk, columns=space.columns):
        frame = evaluate(space, batch.to_pandas(), tables=tables)
        frame.index = range(start, start + len(frame))
        start += len(frame)
        yield frame


def sample_to_parquet(space: NetworkSpace, path: str | os.PathLike, n: int, seed: int = 0,
                      chunk: int = CHUNK, *, profile: Any = "auto", lut: Any = None, client: Any = None,
                      progress: Callable[[int], Any] | None = None) -> Path:
    """Write ``space.sample(n, seed)`` to the Parquet file ``path``, one row group per chunk."""
    return write_parquet(sample_chunks(space, n, seed, chunk, profile=profile, lut=lut, client=client),
                         path, progress)


def evaluate_parquet(space: NetworkSpace, candidates: str | os.PathLike, path: str | os.PathLike,
                     chunk: int = CHUNK, *, profile: Any = "auto", lut: Any = None,
                     progress: Callable[[int], Any] | None = None) -> Path:
    """Evaluate the candidates of one Parquet file into another, chunk by chunk."""
    return write_parquet(evaluate_chunks(space, candidates, chunk, profile=profile, lut=lut), path, progress)


def write_parquet(frames: Iterator[Any], path: str | os.PathLike,
                  progress: Callable[[int], Any] | None = None) -> Path:
    """Append each frame to ``path`` as it comes (the schema is the first frame's); memory
    holds the frame being written and nothing before it."""
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix != ".parquet":
        raise ValueError(f"out = {str(path)!r} is invalid: allowed is a .parquet file")
    writer = None
    try:
        for frame in frames:
            table = _arrow(frame)
            if writer is None:
                writer = pq.ParquetWriter(os.fspath(path), table.schema)
            writer.write_table(table)
            if progress is not None:
                progress(len(frame))
            del frame, table  # the next chunk is made with nothing of this one held
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise ValueError("n = 0 is invalid for a Parquet file: allowed is n >= 1 (a file needs a schema)")
    return path


def _arrow(frame):
    """A frame as an Arrow table: int64 / float64 / bool columns as they are; Python-int (object)
    columns, past the int64 guard, as exact decimal256(76, 0)."""
    import decimal

    import pyarrow as pa

    arrays, names = [], []
    for name in frame.columns:
        col = frame[name]
        if col.dtype == object:
            arrays.append(pa.array([decimal.Decimal(int(v)) for v in col], type=pa.decimal256(76, 0)))
        else:
            arrays.append(pa.array(col.to_numpy()))
        names.append(str(name))
    return pa.Table.from_arrays(arrays, names=names)


# --- Dask --------------------------------------------------------------------------------

@contextlib.contextmanager
def dask_client(client: Any, **local: Any):
    """A ``distributed.Client``: the one given, ``"local"`` (a LocalCluster for this run, with
    ``local`` as its options), or a scheduler address. ValueError when the ``distributed`` extra
    is absent."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError(f"client = {client!r} needs dask.distributed: install costmodel[distributed]") from None
    if isinstance(client, Client):
        yield client
    elif client == "local":
        with LocalCluster(processes=False, dashboard_address=None, **local) as cluster, Client(cluster) as c:
            yield c
    elif isinstance(client, str):
        with Client(client) as c:
            yield c
    else:
        raise ValueError(f"client = {client!r} is invalid: allowed is None, 'local', a scheduler address "
                         f"or a distributed.Client")


def _portable(tables: Tables) -> Tables:
    """The tables without their block makers (closures a worker does not need for evaluation)."""
    import dataclasses

    plan = tables.plan  # built here once, shipped with the tables
    return dataclasses.replace(tables, makers={}, _plan=plan)


def _in_order(client: Any, tasks: list[tuple]) -> Iterator[Any]:
    """Results of ``tasks`` in order, with at most two tasks per worker in flight (bounded memory)."""
    window: deque = deque()
    limit = 2 * max(1, len(client.scheduler_info()["workers"]))
    for fn, *args in tasks:
        window.append(client.submit(fn, *args, pure=False))
        if len(window) >= limit:
            yield _take(window)
    while window:
        yield _take(window)


def _take(window: deque) -> Any:
    future = window.popleft()
    result = future.result()
    future.release()
    return result


# --- LUTs --------------------------------------------------------------------------------

def measure_lut_to_parquet(space: NetworkSpace, path: str | os.PathLike, chunk: int = 64, *,
                           min_run_time: float = 0.05, threads: int = 1, client: Any = None,
                           progress: Callable[[int], Any] | None = None) -> Path:
    """Measure every buildable block of ``space`` in chunks of ``chunk`` keys and append each
    chunk's LUT rows (``lut.COLUMNS`` plus ``host``) to ``path``. On a cluster each chunk is a
    task: run one single-threaded worker per device (all of one kind), and each row's ``host``
    says which device measured it."""
    keys = list(space.tables(profile=None).makers)
    parts = [keys[s:s + size] for s, size in spans(len(keys), chunk)]
    if client is None:
        frames = (_lut_chunk(space, part, min_run_time, threads) for part in parts)
        return write_parquet(frames, path, progress)
    # "local": ONE single-threaded worker (this machine is one device; blocks timed side by side
    # would slow each other down)
    with dask_client(client, n_workers=1, threads_per_worker=1) as c:
        tasks = [(_lut_chunk, space, part, min_run_time, threads) for part in parts]
        return write_parquet(_in_order(c, tasks), path, progress)


def _lut_chunk(space: NetworkSpace, keys: list[str], min_run_time: float, threads: int):
    import socket

    from .lut import measure_lut

    tables = tables_for(space, None)  # cached per process: every chunk of keys shares it
    frame = measure_lut(space, keys=keys, min_run_time=min_run_time, threads=threads, tables=tables).frame()
    return frame.assign(host=socket.gethostname())
