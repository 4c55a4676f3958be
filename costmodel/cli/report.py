"""``costmodel report``: build the offline HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..htmlreport import DEFAULT_PATH, SECTIONS, build


def cmd_report(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from ..core.progress import is_quiet

    console = Console(stderr=True)
    built = build(args.designs or None, latency=args.latency, small=args.small, progress=True,
                  sections=args.sections)  # the bar: core.progress (stderr, a terminal, not --quiet)
    out = Path(args.out)  # checked by cli.main before the build
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(built.html, encoding="utf-8")
    size = out.stat().st_size / 1e6
    if not is_quiet():
        console.print(f"wrote [bold]{out}[/] ({size:.1f} MB, {len(built.figures)} figures, {built.seconds:.1f} s); "
                      f"open it in a browser: file://{out.resolve()}")
    for alert in built.alerts:
        console.print(f"[bold red]✗ {escape(alert)}[/]", highlight=False)
    if not built.alerts and not is_quiet():
        console.print("[green]✓ every compared count matched exactly[/]")
    return 1 if built.alerts else 0


def add_cli(sub: Any) -> None:
    p = sub.add_parser("report", help="build the interactive, self-contained HTML report",
                       description="Build one offline HTML file: designs, formulas, validation, design "
                                   "space, networks, latency, reconciliation.")
    p.add_argument("--out", default=DEFAULT_PATH, help=f"output HTML file (default {DEFAULT_PATH})")
    p.add_argument("--designs", nargs="+", default=None, metavar="NAME",
                   help="registered designs to include (default: all; see `costmodel list`)")
    p.add_argument("--latency", action=argparse.BooleanOptionalAction, default=False,
                   help="measure latency on this machine and add the Latency section (default: off)")
    p.add_argument("--small", action="store_true", help="tiny sweeps, for a quick look or tests")
    p.add_argument("--sections", nargs="+", default=None, metavar="KEY",
                   help=f"sections to build (default: all: {', '.join(k for k, _ in SECTIONS)})")
    p.set_defaults(func=cmd_report, prints_table=False)
