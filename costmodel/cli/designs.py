"""Design commands: list, query, validate, formula, compare."""

from __future__ import annotations

import argparse
from typing import Any

from ..core.registry import designs, get_design
from .common import add_design_command, positive_int, print_frame, spec_from_args


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
    print_frame(cost_rows(spec), f"{spec.title}: {spec.fields_text()}")  # rows: no pandas import
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..validation import validate

    spec = spec_from_args(args.design, args.options)
    result = validate(spec, batch=args.batch)
    rows = [{"quantity": c.quantity, "unit": c.unit, "analytic": c.analytic,
             "fvcore": c.fvcore if c.fvcore is not None else c.torch,  # params: sum(numel)
             "FlopCounterMode/2": c.torch if c.unit == "MACs" else "-", "match": c.match}
            for c in result.checks]
    print_frame(pd.DataFrame(rows).astype(object).fillna("-"),
                f"{spec.title}: {spec.fields_text()} (batch {args.batch})")
    return 0 if result.match else 1


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
    from ..validation import compare

    specs = [get_design(name)() for name in (args.designs or designs())]
    print_frame(compare(specs, executed=args.executed), "Designs at their reference configs (per sample)")
    return 0


def add_cli(sub) -> None:
    sub.add_parser("list", help="list designs and their hyperparameters").set_defaults(func=cmd_list)
    add_design_command(sub, "query", cmd_query, "Exact params, MACs, FLOPs and bytes of one design.")
    p = add_design_command(sub, "validate", cmd_validate,
                           "Analytic vs fvcore vs FlopCounterMode vs params for one design.")
    p.add_argument("--batch", type=positive_int, default=1, help="batch size traced (default 1)")
    p = add_design_command(sub, "formula", cmd_formula,
                           "Symbolic formulas of one design (structural flags such as --variant pick the form).")
    p.add_argument("--latex", action="store_true", help="print LaTeX instead of a pretty print")
    p.set_defaults(prints_table=False)
    p = sub.add_parser("compare", help="table of every design at its reference config")
    p.add_argument("designs", nargs="*", help="design names (default: all)")
    p.add_argument("--executed", action="store_true",
                   help="also run dynamic designs' modules and show the MACs they executed (loads torch)")
    p.set_defaults(func=cmd_compare)
