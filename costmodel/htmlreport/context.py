"""What every section builder receives: the chosen designs and sections, the size of the sweeps,
whether latency is measured, a progress bar, and the results sections pass to each other."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


class Progress:
    """A rich progress bar on the terminal; silent when ``enabled`` is False (tests, libraries)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar = None
        self._live = None

    def __enter__(self) -> "Progress":
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

        from ..core.progress import live

        # core.progress: stderr only, off when quiet or stderr is not a terminal
        self._live = live(TextColumn("[bold]{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), transient=False, requested=self.enabled)
        self._bar = self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = self._bar = None

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        """Iterate ``items``, advancing one bar line per item."""
        items = list(items) if total is None else items
        if self._bar is None:
            yield from items
            return
        task = self._bar.add_task(description, total=total if total is not None else len(items))  # type: ignore[arg-type]
        for item in items:
            yield item
            self._bar.advance(task)

    def log(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message)


@dataclass
class Context:
    """Options of one report run."""

    designs: list[str]
    small: bool = False
    latency: bool = False
    progress: Progress = field(default_factory=lambda: Progress(False))
    shared: dict[str, Any] = field(default_factory=dict)  # results one section passes to another
    sections: frozenset[str] | None = None  # section keys built (None: all)

    def wants(self, key: str) -> bool:
        """Whether section ``key`` is part of this report (sections left out are not computed)."""
        return self.sections is None or key in self.sections
