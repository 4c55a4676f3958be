"""Shared pieces of the command line: design flags generated from spec fields, and table output."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from ..core.registry import get_design


class UsageError(ValueError):
    """A bad command line; printed as one line, exit code 2."""


# --- design flags from spec fields ----------------------------------------------------------

def _number(text: str) -> float:
    """A real number, also written as a fraction ("1/4")."""
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def design_parser(design: str, prog: str = "costmodel") -> argparse.ArgumentParser:
    """A parser with one flag per field of ``design``'s spec."""
    cls = get_design(design)
    parser = argparse.ArgumentParser(prog=f"{prog} {design}", add_help=False, exit_on_error=False)
    for name, rng in cls.field_ranges().items():
        flag = "--" + name.replace("_", "-")
        if rng.kind == "flag":
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None)
        elif rng.kind == "choice":
            kinds = {type(o) for o in rng.options}
            parser.add_argument(flag, dest=name, default=None,
                                type=kinds.pop() if len(kinds) == 1 and kinds != {tuple} else str)
        else:
            parser.add_argument(flag, dest=name, default=None, type=int if rng.kind == "int" else _number)
    return parser


def spec_from_args(design: str, argv: Sequence[str]):
    """Build a spec of ``design`` from ``--field value`` flags (unset fields keep their defaults)."""
    parser = design_parser(design)
    try:
        values, unknown = parser.parse_known_args(list(argv))
    except argparse.ArgumentError as exc:
        raise UsageError(f"bad value for design {design!r}: {exc}") from None
    if unknown:
        allowed = ", ".join("--" + f.replace("_", "-") for f in get_design(design).field_ranges())
        raise UsageError(f"unknown option(s) {' '.join(unknown)} for design {design!r}; allowed: {allowed}")
    given = {k: v for k, v in vars(values).items() if v is not None}
    return get_design(design)(**given)


# --- output ----------------------------------------------------------------------------------

def print_frame(frame, title: str | None = None) -> None:
    """Print a DataFrame, or a list of row dicts, as a rich table (integers with thousands
    separators). Rows need no pandas: `costmodel query` skips its import (start-up time)."""
    from rich.console import Console
    from rich.table import Table

    if isinstance(frame, list):
        columns = list(dict.fromkeys(k for row in frame for k in row))
        rows = [[row.get(c) for c in columns] for row in frame]
        right = [all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (r[i] for r in rows))
                 for i in range(len(columns))]
    else:
        columns = list(frame.columns)
        rows = frame.itertuples(index=False)
        right = [frame[c].dtype.kind in "iuf" for c in columns]
    table = Table(title=title, show_lines=False)
    for col, numeric in zip(columns, right):
        table.add_column(str(col), justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    Console(width=max(100, min(240, 20 * len(columns)))).print(table)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, int) or (hasattr(value, "is_integer") and isinstance(value, float) and value.is_integer()
                                  and abs(value) < 2**53):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def fields_text(spec) -> str:
    return ", ".join(f"{k}={getattr(spec, k)}" for k in spec.field_ranges() if k != "dtype_bytes")


def add_design_command(sub, name: str, func: Callable, help_: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_, description=help_ + " Design flags: see `costmodel list`.")
    parser.add_argument("design", help="registered design name (see `costmodel list`)")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="--field value ... for the design")
    parser.set_defaults(func=func)
    return parser
