"""glibc's malloc settled for timing (``steady_allocator``), once per process, by every
measurement on a CPU (``protocol.measure_interleaved``, ``measure.measure``).

Why: an op whose output or temporaries exceed glibc's default mmap threshold (128 KiB, raised
dynamically) gets fresh pages, and their page faults, on some calls and in some processes but
not others. Measured (2-core Intel Xeon VM, 2026-12-06): a DGC layer (256 -> 256 channels at
8 x 8, its gathered filters fresh every call) ran 1543-1576 us in two default processes and
1023-1033 us in two with the allocator settled; a grouped conv on freshly cloned weights ran
888 us in one default process and 494 us in the next.
"""

from __future__ import annotations

from typing import Any

MMAP_THRESHOLD_BYTES = 32 << 20
"""glibc's largest mmap threshold on 64-bit systems (``DEFAULT_MMAP_THRESHOLD_MAX``): allocations
below it come from the heap, whose pages stay mapped between calls."""

TRIM_THRESHOLD_BYTES = 2 ** 31 - 1
"""Free memory at the top of the heap that glibc may keep before returning it to the OS (an int
for ``mallopt``): large enough that a timed loop never returns, and faults again, its buffers."""

_ALLOCATOR: dict[str, Any] = {}


def steady_allocator() -> str:
    """Settle glibc's malloc for timing (once per process): ``mallopt(M_MMAP_THRESHOLD,
    MMAP_THRESHOLD_BYTES)`` and ``mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)``, so a
    repeated call reuses its buffers instead of page-faulting fresh ones. This is process-wide
    (like jemalloc or tcmalloc, which PyTorch's CPU tuning guide recommends for inference) and
    cannot be undone; models and tensors are untouched. Returns what was done: "glibc settled",
    or why not ("not glibc", a failed call)."""
    if "state" not in _ALLOCATOR:
        _ALLOCATOR["state"] = _settle_glibc()
    return _ALLOCATOR["state"]


def _settle_glibc() -> str:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return "not glibc: allocator left as it is"
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    done = mallopt(m_mmap_threshold, MMAP_THRESHOLD_BYTES) == 1 and mallopt(m_trim_threshold, TRIM_THRESHOLD_BYTES) == 1
    return "glibc settled" if done else "glibc mallopt refused: allocator left as it is"
