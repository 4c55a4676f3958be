"""The ``costmodel`` command line.

Each subcommand is a function ``cmd_<name>(args)`` registered in ``COMMANDS`` with a small
``add_<name>`` that declares its arguments. Design hyperparameters become flags generated from
the spec's fields (``c_in`` -> ``--c-in``), so a new design needs no CLI code. Bad input
(ValueError) prints one line and exits 2, with no traceback. torch and fvcore are imported only
by the commands that trace or time a module.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from .core.registry import designs, get_design


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


# --- commands --------------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace) -> int:
    import pandas as pd

    rows = []
    for name, cls in designs().items():
        fields = ", ".join(f"{f}: {r.describe()}" for f, r in cls.field_ranges().items() if f != "dtype_bytes")
        rows.append({"design": name, "title": cls.title, "hyperparameters": fields})
    print_frame(pd.DataFrame(rows), "Registered designs")
    return 0


def cost_rows(spec) -> list[dict[str, Any]]:
    """The quantity/value/unit rows of one spec, as ``query`` prints them."""
    c = spec.costs()
    rows = [{"quantity": "params", "value": c.params, "unit": "parameters"},
            {"quantity": "MACs (conv + linear)", "value": c.macs, "unit": "MACs"},
            {"quantity": "FLOPs", "value": c.flops, "unit": "FLOPs (= 2 x MACs)"}]
    rows += [{"quantity": f"{k} MACs", "value": v, "unit": "MACs"} for k, v in c.macs_by_key.items() if v]
    rows += [{"quantity": f"{k} ops", "value": v, "unit": "elementwise ops"}
             for k, v in c.elementwise.items() if v]
    rows.append({"quantity": "memory traffic", "value": c.mem_bytes, "unit": "bytes"})
    rows += [{"quantity": k, "value": v, "unit": "MACs" if k.endswith("_macs") else "see design"}
             for k, v in c.extra.items()]
    rows += getattr(spec, "query_rows", list)()  # a design's own rows (e.g. DGC: expected vs dense)
    return rows


def cmd_query(args: argparse.Namespace) -> int:
    spec = spec_from_args(args.design, args.options)
    print_frame(cost_rows(spec), f"{spec.title}: {_fields_text(spec)}")  # rows: no pandas import
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    import pandas as pd

    from .validation import validate

    spec = spec_from_args(args.design, args.options)
    row = validate(spec, batch=args.batch)
    rows = []
    for key in [k[:-6] for k in row if k.endswith("_match")]:
        unit = "parameters" if key == "params" else ("MACs" if key in ("conv", "linear") else "ops")
        prefix = f"{key}_macs" if key in ("conv", "linear") else key
        rows.append({"quantity": key, "unit": unit, "analytic": row.get(f"{prefix}_analytic"),
                     "fvcore": row.get(f"{prefix}_fvcore", row.get("params_torch") if key == "params" else None),
                     "FlopCounterMode/2": row.get(f"{prefix}_torch", "-") if key != "params" else "-",
                     "match": row[f"{key}_match"]})
    print_frame(pd.DataFrame(rows).astype(object).fillna("-"),
                f"{spec.title}: {_fields_text(spec)} (batch {args.batch})")
    return 0 if row["match"] else 1


def cmd_formula(args: argparse.Namespace) -> int:
    """Print a design's symbolic formulas (sympy pretty print, or LaTeX with --latex)."""
    import sympy as sp

    latex = args.latex or "--latex" in args.options
    spec = spec_from_args(args.design, [o for o in args.options if o != "--latex"])
    f = type(spec).formulas(spec.structure())
    rows = [("params", f.params, "parameters"), ("MACs (conv + linear)", f.macs_total, "MACs"),
            ("FLOPs", f.flops, "FLOPs = 2 x MACs")]
    rows += [(f"{kind} ops", expr, "elementwise ops") for kind, expr in f.elementwise.items() if expr != 0]
    rows += [("memory traffic", f.mem_bytes, "bytes"), *[(name, expr, "") for name, expr in f.extra.items()]]
    rows += [(f"where {short}", expr, "output size") for short, expr in f.output_sizes().items()]
    render = sp.latex if latex else (lambda e: sp.pretty(e, use_unicode=True))
    print(f"{spec.title} -- symbols are the spec's fields; 0/1 flags (bias, bn, act, ...) switch terms")
    for name, expr, unit in rows:
        print(f"\n{name}{f' [{unit}]' if unit else ''}:")
        print(render(expr if name.startswith("where") else f.readable(expr)))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .validation import compare

    specs = [get_design(name)() for name in (args.designs or designs())]
    print_frame(compare(specs, executed=args.executed), "Designs at their reference configs (per sample)")
    return 0


def _fields_text(spec) -> str:
    return ", ".join(f"{k}={getattr(spec, k)}" for k in spec.field_ranges() if k != "dtype_bytes")


def add_design_command(sub, name: str, func: Callable, help_: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_, description=help_ + " Design flags: see `costmodel list`.")
    parser.add_argument("design", help="registered design name (see `costmodel list`)")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="--field value ... for the design")
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="costmodel", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list designs and their hyperparameters").set_defaults(func=cmd_list)
    add_design_command(sub, "query", cmd_query, "Exact params, MACs, FLOPs and bytes of one design.")
    p = add_design_command(sub, "validate", cmd_validate,
                           "Analytic vs fvcore vs FlopCounterMode vs params for one design.")
    p.add_argument("--batch", type=int, default=1, help="batch size traced (default 1)")
    p = add_design_command(sub, "formula", cmd_formula,
                           "Symbolic formulas of one design (structural flags such as --variant pick the form).")
    p.add_argument("--latex", action="store_true", help="print LaTeX instead of a pretty print")
    p = sub.add_parser("compare", help="table of every design at its reference config")
    p.add_argument("designs", nargs="*", help="design names (default: all)")
    p.add_argument("--executed", action="store_true",
                   help="also run dynamic designs' modules and show the MACs they executed (loads torch)")
    p.set_defaults(func=cmd_compare)
    for module in EXTENSIONS:
        importlib.import_module(module).add_cli(sub)
    return parser


EXTENSIONS: tuple[str, ...] = (
    "costmodel.explore",
    "costmodel.designs.sic",
    "costmodel.htmlreport",
    "costmodel.latency",
    "costmodel.networks.cli",
)
"""Feature modules that add subcommands: each defines ``add_cli(subparsers)`` and keeps its heavy
imports (torch, fvcore, plotly) inside the command functions. One line per module."""


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
