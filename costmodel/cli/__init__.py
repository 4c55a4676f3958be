"""The ``costmodel`` command line: the only package that parses arguments or prints for a person.

Each command group is one module of this package (``COMMAND_GROUPS``) with ``add_cli(sub)``. Design hyperparameters become flags generated from
the spec's fields (``c_in`` -> ``--c-in``), so a new design needs no CLI code. Bad input
(ValueError) prints one line and exits 2, with no traceback. torch and fvcore are imported only
by the commands that trace or time a module.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_GROUPS: tuple[str, ...] = (
    "costmodel.cli.designs",
    "costmodel.cli.explore",
    "costmodel.cli.networks",
    "costmodel.cli.analyze",
    "costmodel.cli.latency",
    "costmodel.cli.report",
    "costmodel.cli.papers",
    "costmodel.cli.spaces",
)
"""One module per command group; each defines ``add_cli(subparsers)`` and keeps its heavy imports
(torch, fvcore, plotly) inside the command functions, so ``costmodel query`` starts fast."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="costmodel", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_GROUPS:
        importlib.import_module(module).add_cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `costmodel formula ... | head`
        sys.stderr.close()
        return 0
    except ValueError as exc:  # includes UsageError: bad input is one line, exit 2
        print(f"costmodel: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
