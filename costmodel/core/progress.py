"""The one progress library (rich), wrapped: bars and status lines on stderr only, and nothing at
all when stderr is not a terminal or output is quiet.

    with progress_bar(total, "sweep conv") as advance:   # advance(n) adds n steps
        ...
    for item in track(items, "measuring"):             # plain iteration when off
        ...

``quiet()`` switches every bar off for the code it wraps (``costmodel --quiet`` runs each command
inside it). The switch is a ``ContextVar``, so two threads (or two in-process CLI calls) do not
share it. rich is imported only when a bar is really shown.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_QUIET: ContextVar[bool] = ContextVar("costmodel_quiet", default=False)


@contextlib.contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """No progress output inside the block (when ``on``)."""
    token = _QUIET.set(on or _QUIET.get())
    try:
        yield
    finally:
        _QUIET.reset(token)


def is_quiet() -> bool:
    """True inside ``quiet()``."""
    return _QUIET.get()


def enabled(requested: bool = True) -> bool:
    """Whether a bar is shown: asked for, not quiet, and stderr is a terminal (so redirected or
    piped output never carries progress noise)."""
    return bool(requested) and not _QUIET.get() and sys.stderr.isatty()


@contextlib.contextmanager
def live(*columns: Any, transient: bool = True, requested: bool = True) -> Iterator[Any]:
    """A rich ``Progress`` on stderr (several tasks at once), or None when bars are off."""
    if not enabled(requested):
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(*columns, console=Console(stderr=True), transient=transient) as bar:
        yield bar


@contextlib.contextmanager
def progress_bar(total: int | None, desc: str, requested: bool = True) -> Iterator[Callable[..., None]]:
    """One bar of ``total`` steps; yields ``advance(n=1)`` (a no-op when bars are off)."""
    with live(requested=requested) as bar:
        if bar is None:
            yield _nothing
            return
        task = bar.add_task(desc, total=total)
        yield lambda n=1: bar.advance(task, n)


def track(items: Iterable[T], desc: str, requested: bool = True, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` with a bar (plain iteration when bars are off)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(total, desc, requested) as advance:
        for item in items:
            yield item
            advance(1)


def status(message: str) -> None:
    """A status line for a person (e.g. "wrote sweep.csv"): stderr, under the same rule as the
    bars (never stdout, which carries the results)."""
    if enabled():
        print(message, file=sys.stderr)


def _nothing(n: int = 1) -> None:
    return None
