"""Shared pieces of the command line: design flags generated from spec fields, and table output."""

from __future__ import annotations

import argparse
import contextlib
import numbers
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..core.progress import status
from ..core.registry import get_design


class UsageError(ValueError):
    """A bad command line; printed as one line, exit code 2."""


class CliParser(argparse.ArgumentParser):
    """argparse, but a parse error is a ``UsageError`` (one line on stderr, exit 2, printed by
    ``main``) instead of usage text and ``SystemExit``. Subparsers inherit the class."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def int_at_least(minimum: int, text: str, name: str = "") -> int:
    """``text`` as an integer >= ``minimum``, or argparse's one-line error naming the range."""
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        label = f"{name} = {text!r}" if name else repr(text)
        raise argparse.ArgumentTypeError(f"{label} is invalid: allowed is an integer >= {minimum}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (batch sizes, counts)."""
    return int_at_least(1, text)


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0 (0 = none)."""
    return int_at_least(0, text)


def positive_real(text: str) -> float:
    """An argparse type: a finite real > 0 (seconds, budgets)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is invalid: allowed is a number > 0")
    return value


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
    parser = CliParser(prog=f"{prog} {design}", add_help=False, exit_on_error=False)
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


# --- output: one table printer, and the machine-readable copy of what it printed --------------

@dataclass
class Output:
    """The per-invocation output settings ``main`` sets (``--csv``, ``--json``, ``--columns``) and
    every table ``print_frame`` printed (or ``record_table`` added) during the command."""

    csv: str | None = None
    json: str | None = None
    columns: int | None = None
    tables: list[tuple[str, list[str], list[list[Any]], bool]] = field(default_factory=list)


_OUTPUT: ContextVar[Output | None] = ContextVar("costmodel_output", default=None)


@contextlib.contextmanager
def output_context(out: Output) -> Iterator[Output]:
    """Tables printed inside the block are recorded in ``out`` (``main`` writes them at the end)."""
    token = _OUTPUT.set(out)
    try:
        yield out
    finally:
        _OUTPUT.reset(token)


def table_width(n_columns: int = 5) -> int:
    """``--columns N``, else the terminal's width (COLUMNS, then the tty) when stdout is a
    terminal; when it is not (a file, a pipe) there is no width to follow, so the output does not
    depend on the environment: 20 characters a column, 100 to 240."""
    import sys

    out = _OUTPUT.get()
    if out is not None and out.columns:
        return out.columns
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return max(100, min(240, 20 * n_columns))


def print_frame(frame, title: str | None = None, main: bool = False) -> None:
    """Print a DataFrame, or a list of row dicts, as a rich table at the table width: integers
    with thousands separators, ``-`` where a value does not apply (None/NaN), ``yes``/``no``
    for booleans. The table is also recorded for ``--csv``/``--json`` (``main``: the table
    ``--csv`` writes; default the first printed). Rows need no pandas: `costmodel query` skips
    its import (start-up time)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    columns, rows = _columns_rows(frame)
    table = Table(title=Text(title) if title else None, show_lines=False)
    for i, col in enumerate(columns):
        numeric = all(_is_number(r[i]) or _missing(r[i]) for r in rows) and any(_is_number(r[i]) for r in rows)
        # fold, never truncate: a narrow terminal wraps a number onto two lines, it does not cut it
        table.add_column(Text(str(col)), justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell_text(v)) for v in row))
    Console(width=table_width(len(columns))).print(table)
    record_table(columns, rows, title, main)


def record_table(frame_or_columns, rows_or_title=None, title: str | None = None, main: bool = False) -> None:
    """Add a table to the machine-readable output only (e.g. every measured row, where the
    terminal shows a summary): ``record_table(frame, title, main=True)``, or
    ``record_table(columns, rows, title, main)``."""
    out = _OUTPUT.get()
    if out is None:
        return
    if isinstance(frame_or_columns, list) and rows_or_title is not None and not isinstance(rows_or_title, str):
        columns, rows = frame_or_columns, rows_or_title
    else:
        (columns, rows), title = _columns_rows(frame_or_columns), rows_or_title if title is None else title
    out.tables.append((title or f"table {len(out.tables) + 1}", [str(c) for c in columns],
                       [list(r) for r in rows], main))


def _columns_rows(frame) -> tuple[list[Any], list[list[Any]]]:
    if isinstance(frame, list):
        columns = list(dict.fromkeys(k for row in frame for k in row))
        return columns, [[row.get(c) for c in columns] for row in frame]
    return list(frame.columns), [list(r) for r in frame.itertuples(index=False)]


def _missing(value: Any) -> bool:
    """None, NaN, pandas NA/NaT: "does not apply"."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT and pd.NA (NA != NA raises: caught below)
    except (TypeError, ValueError):
        return True


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, (bool, np_bool())) and not _missing(value)


def np_bool() -> type:
    """numpy's bool type when numpy is loaded (it is not imported for this)."""
    import sys

    np = sys.modules.get("numpy")
    return np.bool_ if np is not None else bool


def cell_text(value: Any) -> str:
    """How one value prints: ``-`` for None/NaN, ``yes``/``no`` for booleans, ``1,234`` for
    integers (also integral floats below 2**53), 4 significant digits for other reals."""
    if isinstance(value, (bool, np_bool())):
        return "yes" if value else "no"
    if _missing(value):
        return "-"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        v = float(value)
        if v.is_integer() and abs(v) < 2**53:
            return f"{int(v):,}"
        return f"{v:.4g}"
    return str(value)


def plain_value(value: Any) -> Any:
    """A value for JSON/CSV: exact Python ints, floats, bools, None for "does not apply",
    lists for tuples; anything else as its text."""
    if isinstance(value, (bool, np_bool())):
        return bool(value)
    if _missing(value):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if isinstance(value, (str, int, float)):
        return value
    return str(value)


def write_outputs(out: Output, command: str) -> None:
    """``--json PATH``: every table, ``{"command", "tables": [{"title", "columns", "rows"}]}``
    (rows are objects keyed by column). ``--csv PATH``: the main table (the one the command
    marks ``main``, else the first printed), header row first."""
    import csv
    import json

    if (out.csv or out.json) and not out.tables:
        raise UsageError(f"--csv/--json: `costmodel {command}` prints no table to write")
    if out.json:
        doc = {"command": command,
               "tables": [{"title": title, "columns": cols, "rows": [dict(zip(cols, map(plain_value, r))) for r in rows]}
                          for title, cols, rows, _ in out.tables]}
        with open(out.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
        status(f"wrote {out.json} ({len(out.tables)} table(s))")
    if out.csv:
        title, cols, rows, _ = next((t for t in out.tables if t[3]), out.tables[0])
        with open(out.csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(cols)
            writer.writerows([["" if v is None else v for v in map(plain_value, r)] for r in rows])
        status(f"wrote {out.csv} ({title})")


def check_output_path(path: str, flag: str) -> None:
    """Refuse an output path that is a directory or cannot be created, before any work starts;
    missing parent directories are created."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{flag} = {path!r} is invalid: it is a directory; allowed is a file path")
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{flag} = {path!r} is invalid: {str(ancestor)!r} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"{flag} = {path!r} is invalid: cannot be written (permission denied)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. under /proc, or a read-only file system, even as root
        raise UsageError(f"{flag} = {path!r} is invalid: its folder cannot be created "
                         f"({exc.strerror or type(exc).__name__})") from None
    existed = target.exists()
    try:  # the permission bits do not tell everything (root, read-only mounts, /sys): try it
        with open(target, "a"):
            pass
    except OSError as exc:
        raise UsageError(f"{flag} = {path!r} is invalid: cannot be written "
                         f"({exc.strerror or type(exc).__name__})") from None
    if not existed:
        target.unlink()  # the probe leaves nothing behind


def design_help(design: str, command: str) -> str:
    """The design flags of ``costmodel COMMAND DESIGN``: each field's flag, meaning, default and
    allowed values (from the Range objects of core/fields.py)."""
    import dataclasses

    cls = get_design(design)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    lines = [f"design flags of `costmodel {command} {design}` ({cls.title}); unset flags keep the default:"]
    for name, rng in cls.field_ranges().items():
        flag = "--" + name.replace("_", "-")
        if rng.kind == "flag":
            flag = f"{flag}/--no-{name.replace('_', '-')}"
        default = fields[name].default
        shown = "required" if default is dataclasses.MISSING else f"default {_default_text(default)}"
        doc = fields[name].metadata.get("doc", "")
        lines.append(f"  {flag:<26} {doc + '; ' if doc else ''}{shown}; allowed: {rng.describe()}")
    return "\n".join(lines)


def _default_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return str(value)


class _BoolGrid(argparse.Action):
    """``--bn`` (true), ``--no-bn`` (false), both given (both values), or the documented alias
    ``--bn true|false|both``: the grid text of one flag field in a sweep."""

    def __call__(self, parser, namespace, value, option_string=None):
        negative = option_string.startswith("--no-")
        if negative and value is not None:
            raise argparse.ArgumentError(self, f"{option_string} takes no value")
        text = "false" if negative else ("true" if value is None else value)
        seen = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, text if seen is None or seen == text else f"{seen},{text}")


def add_grid_flags(parser: argparse.ArgumentParser, ranges: dict) -> None:
    """One grid flag per spec field (``--c-in 16:64:16``), named as in ``design_parser``; flag
    fields use the same ``--bn/--no-bn`` syntax as every other command (both given = both)."""
    for name, rng in ranges.items():
        flag = "--" + name.replace("_", "-")
        if rng.kind == "flag":
            parser.add_argument(flag, "--no-" + name.replace("_", "-"), dest=name, default=None, nargs="?",
                                action=_BoolGrid, metavar="true|false|both")
        else:
            parser.add_argument(flag, dest=name, default=None)


def add_design_command(sub, name: str, func: Callable, help_: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_, description=help_ + f" Design flags: `costmodel {name} DESIGN --help`.")
    parser.add_argument("design", help="registered design name (see `costmodel list`)")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="--field value ... for the design")
    parser.set_defaults(func=func)
    return parser
