"""glibc's malloc settled for timing (``steady_allocator``), once per process, by every
measurement on a CPU (``protocol.measure_interleaved``, ``measure.measure``; ``settle_for``).

Why: an op whose output or temporaries exceed glibc's default mmap threshold (128 KiB, raised
dynamically) gets fresh pages, and their page faults, on some calls and in some processes but
not others. Measured (2-core Intel Xeon VM, 2026-12-06): a DGC layer (256 -> 256 channels at
8 x 8, its gathered filters fresh every call) ran 1543-1576 us in two default processes and
1023-1033 us in two with the allocator settled; a grouped conv on freshly cloned weights ran
888 us in one default process and 494 us in the next.
"""

from __future__ import annotations

import os
from typing import Any

MMAP_THRESHOLD_BYTES = 32 << 20
"""glibc's largest mmap threshold on 64-bit systems (``DEFAULT_MMAP_THRESHOLD_MAX``): allocations
below it come from the heap, whose pages stay mapped between calls."""

TRIM_THRESHOLD_BYTES = 2 ** 31 - 1
"""Free memory at the top of the heap that glibc may keep before returning it to the OS (an int
for ``mallopt``): large enough that a timed loop never returns, and faults again, its buffers."""

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""``mallopt`` parameter numbers (glibc's malloc.h)."""

OTHER_ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")
"""Allocators that replace glibc's malloc when preloaded; their own settings then apply."""

SETTLED = "glibc settled"

_ALLOCATOR: dict[str, Any] = {}


def settle_for(device: str) -> str:
    """``steady_allocator()`` for a CPU device; "n/a" on CUDA (its memory is the caching allocator's)."""
    return "n/a" if str(device).startswith("cuda") else steady_allocator()


def steady_allocator() -> str:
    """Settle glibc's malloc for timing (once per process): ``mallopt(M_MMAP_THRESHOLD,
    MMAP_THRESHOLD_BYTES)`` and ``mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)``, so a
    repeated call reuses its buffers instead of page-faulting fresh ones. This is process-wide
    (like jemalloc or tcmalloc, which PyTorch's CPU tuning guide recommends for inference) and
    cannot be undone; models and tensors are untouched. Returns what was done: ``SETTLED``, or
    why not (not glibc, another allocator preloaded, a call refused)."""
    if "state" not in _ALLOCATOR:
        _ALLOCATOR["state"] = _settle_glibc()
    return _ALLOCATOR["state"]


def _settle_glibc() -> str:
    import ctypes

    preloaded = os.environ.get("LD_PRELOAD", "")
    if any(name in preloaded for name in OTHER_ALLOCATORS):
        return f"{preloaded} preloaded: allocator left as it is"
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols: the malloc it really uses
        libc.gnu_get_libc_version  # only glibc has it (musl, macOS: AttributeError)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return "not glibc: allocator left as it is"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) != 1:
        return "glibc refused the mmap threshold: allocator left as it is"
    if mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) != 1:
        return "glibc mmap threshold set, trim threshold refused"
    return SETTLED
