"""Thread safety (issue 19, part 4): concurrent sweeps over overflowing grids equal the serial
results. A 10 us switch interval makes the interpreter swap threads inside the evaluators (the
overflow recorder, the derived-symbol probes, the compile caches), where shared mutable state
used to crash or return wrapped int64 MACs as exact."""

from __future__ import annotations

import sys
import threading
import time

import pandas as pd

from costmodel.explore import sweep

CASES = [
    # conv: 2**31 x 2**31 channels at 2**20 x 2**20: MACs = 9 * 2**102, beyond int64 (exact path);
    # the 64-channel rows stay in int64 in the same chunk
    ("conv", {"c_in": [2**31, 64, 3], "c_out": [2**31, 64], "h": [2**20, 56], "w": [2**20, 7]}),
    ("group_conv", {"c_in": [2**30, 48, 64], "c_out": [2**30, 64], "groups": [1, 3, 4, 2**29], "h": [2**20, 14]}),
    # a design with derived symbols (c_nbr) and its own checks
    ("subdivision", {"n": [8, 2**31], "dims": [8, (2, 4), 2**31], "neighbourhood": [3, (1, 3), 1],
                     "h": [2**20, 5], "w": [2**20, 5]}),
    ("dgc", {"c_in": [2**31, 32], "c_out": [2**31, 64], "zeta": [0.0, 0.5, 0.75], "h": [2**16, 8]}),
]
SECONDS = 3.0


def test_concurrent_sweeps_equal_serial_results():
    serial = {design: sweep(design, **grid) for design, grid in CASES}
    assert all(frame.attrs["exact_rows"] > 0 for frame in serial.values())  # each case overflows
    failures: list[str] = []
    counts = [0, 0]

    def worker(slot: int, order: list) -> None:
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline and not failures:
            for design, grid in order:
                try:
                    pd.testing.assert_frame_equal(sweep(design, **grid), serial[design])
                except Exception as exc:  # noqa: BLE001 - reported by the main thread
                    failures.append(f"{design}: {type(exc).__name__}: {exc}"[:500])
                    return
                counts[slot] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=worker, args=(0, CASES)),
                   threading.Thread(target=worker, args=(1, CASES[::-1]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert sys.getswitchinterval() == old
    assert not failures, failures
    assert min(counts) >= len(CASES), counts  # both threads really swept, concurrently
