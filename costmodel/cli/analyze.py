"""CLI: ``costmodel analyze`` and ``costmodel reconcile`` (any nn.Module, built-in or the user's).

    costmodel analyze resnet50 --input 1,3,224,224
    costmodel analyze my_models.py:build --input 1,3,64,64 [--leaves] [--reconcile] [--fvcore]
    costmodel analyze my_models:build --depth 2 --strict --csv rows.csv --json rows.json
    costmodel reconcile ghostnet

torch, fvcore and the peers are imported inside the command functions only.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from .common import print_frame
from .networks import _network_kw, _network_options


def add_cli(sub) -> None:
    """Register ``analyze`` and ``reconcile`` on the main parser's subparsers."""
    p = sub.add_parser("analyze", help="per-layer analytic costs of any nn.Module (built-in or module:function)",
                       description="Analytic per-layer costs of a model: MODEL is a built-in network name "
                                   "or module:function / path/to/file.py:function returning an nn.Module.")
    _model_arguments(p)
    p.add_argument("--leaves", action="store_true", help="one row per leaf module (designs not collapsed)")
    p.add_argument("--fvcore", action="store_true", help="add fvcore's per-module column (a jit trace: slower)")
    p.add_argument("--depth", type=int, default=None,
                   help="torchinfo-style view: per-module subtotals down to this depth (0 = the model)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if any op is unknown or fvcore's MACs differ beyond the explained gaps")
    p.add_argument("--csv", default=None, metavar="PATH", help="write the per-layer rows and totals as CSV")
    p.add_argument("--json", default=None, metavar="PATH", help="write the per-layer rows and totals as JSON")
    p.add_argument("--reconcile", action="store_true", help="also reconcile with the peer counters")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("reconcile", help="fvcore / FlopCounterMode / ptflops / thop vs ours, gap by gap",
                       description="Each peer counter's total beside ours, op kind by op kind, with the "
                                   "convention behind every gap.")
    _model_arguments(p)
    p.set_defaults(func=cmd_reconcile)


def _model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="built-in network name, or module:function / file.py:function")
    p.add_argument("--input", default=None, help="input shape N,C,H,W (default: the network's, batch 1)")
    _network_options(p)


# --- loading the user's model ------------------------------------------------------------------

def load_model(spec: str, args: argparse.Namespace) -> tuple[Any, tuple[int, ...] | None]:
    """(module, default input shape) for a built-in name or ``module:function``."""
    from ..networks.registry import NETWORKS

    if spec in NETWORKS:
        from ..networks import network

        net = network(spec, **_network_kw(args))
        return net.module(), (1,) + tuple(net.input_shape)
    return load_user_model(spec)


def load_user_model(spec: str) -> tuple[Any, tuple[int, ...] | None]:
    """(module, default input shape or None) for ``module:function`` or ``file.py:function`` (also
    an nn.Module object, or a function returning a costmodel Network or Spec); every failure is a
    ValueError of one line (a missing file, an import error, a builder that needs arguments or
    raises, a result that is not a module)."""
    from ..networks.registry import NETWORKS

    if ":" not in spec:
        raise ValueError(f"model = {spec!r} is invalid: allowed is a built-in network "
                         f"({', '.join(NETWORKS)}) or module:function / path/to/file.py:function")
    target, attr = spec.rsplit(":", 1)
    if not target.strip() or not attr.strip():
        raise ValueError(f"model = {spec!r} is invalid: allowed is module:function or path/to/file.py:function, "
                         "both parts given")
    module = _import(target)
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"model = {spec!r} is invalid: {target} has no attribute {attr!r}") from None
    from torch import nn

    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise ValueError(f"model = {spec!r} is invalid: {attr} is a {type(obj).__name__}, not an nn.Module "
                             "or a function returning one")
        needed = _required_parameters(obj)
        if needed:
            raise ValueError(f"model = {spec!r} is invalid: {attr}() needs arguments ({', '.join(needed)}); "
                             "allowed is a function callable with no arguments")
        try:
            obj = obj()
        except (Exception, SystemExit) as exc:  # the user's builder failed (or called sys.exit): one line, exit 2
            raise ValueError(f"model = {spec!r}: building it failed: {type(exc).__name__}: {_one_line(exc)}") from None
    if hasattr(obj, "module") and hasattr(obj, "costs"):  # a costmodel Network or Spec
        shape = getattr(obj, "input_shape", None)
        shape = shape() if callable(shape) else (1,) + tuple(shape)
        return obj.module(), tuple(shape)
    if not isinstance(obj, nn.Module):
        raise ValueError(f"model = {spec!r} is invalid: {attr}() returned {type(obj).__name__}, not an nn.Module")
    return obj, None


def _required_parameters(func) -> list[str]:
    """The parameters ``func`` needs (no default, not *args / **kwargs); [] if it has no signature."""
    import inspect

    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable: let the call decide
        return []
    return [p.name for p in params if p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


def _import(target: str):
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        if not path.exists():
            raise ValueError(f"model file {target!r} does not exist")
        name = f"costmodel_user_{path.stem}"
        loader = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        try:
            loader.loader.exec_module(module)
        except (Exception, SystemExit) as exc:  # user code: sys.exit() too
            raise ValueError(f"model file {target!r} failed to import: {type(exc).__name__}: "
                             f"{_one_line(exc)}") from None
        return module
    if "" not in sys.path and str(Path.cwd()) not in sys.path:  # module:function next to the user's file
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        raise ValueError(f"model module {target!r} cannot be imported: {exc}") from None
    except (Exception, SystemExit) as exc:  # the module raised (or exited) while importing
        raise ValueError(f"model module {target!r} failed to import: {type(exc).__name__}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _input_shape(args: argparse.Namespace, default: tuple[int, ...] | None) -> tuple[int, ...]:
    if args.input:
        from ..analysis import check_shape

        return check_shape(args.input)
    if default is None:
        return (1, 3, 224, 224)
    return default


# --- commands -------------------------------------------------------------------------------------

def human(value: Any) -> Any:
    """An int in K / M / G (10^3 steps, 2 decimals) for the terminal; anything else unchanged."""
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) < 10_000:
        return value
    for unit, scale in (("G", 10 ** 9), ("M", 10 ** 6), ("K", 10 ** 3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return value


NUMBER_COLUMNS = ("params", "MACs", "conv MACs", "linear MACs", "elementwise ops", "mem bytes", "fvcore")


def _analysis_frame(table):
    """Unknown costs print as 'unknown'; columns that do not apply to a row print as '-'; counts
    in K / M / G."""
    frame = table.astype(object)
    for col in frame.columns:
        fill = "unknown" if col in ("MACs", "elementwise ops", "mem bytes") else "-"
        frame[col] = frame[col].where(table[col].notna(), fill)
        if col in NUMBER_COLUMNS:
            frame[col] = [human(int(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                          for v in frame[col]]
    return frame.drop(columns=[c for c in ("source",) if c in frame])


def _totals_rows(result) -> list[dict[str, Any]]:
    totals = {k: v for k, v in result.totals.items() if k != "elementwise"}
    totals.update({f"{k} ops": v for k, v in result.totals["elementwise"].items()})
    return [{"quantity": k, "value": v} for k, v in totals.items()]


def _write_outputs(result, args: argparse.Namespace) -> None:
    """--csv / --json: the per-layer rows (exact ints) and the totals."""
    import json

    if args.csv:
        import pandas as pd

        layer = [{**{k: (None if _missing(v) else v) for k, v in row.items()}, "section": "layer"}
                 for row in result.table.astype(object).to_dict("records")]
        totals = [{"section": "total", "path": r["quantity"], "value": r["value"]} for r in _totals_rows(result)]
        pd.DataFrame(layer + totals, dtype=object).to_csv(args.csv, index=False)  # exact ints, not floats
    if args.json:
        rows = [{k: (None if _missing(v) else v) for k, v in row.items()}
                for row in result.table.astype(object).to_dict("records")]
        doc = {"input_shape": list(result.input_shape), "batch": result.input_shape[0],
               "units": "MACs and elementwise ops for the whole batch; params once; bytes",
               "rows": rows, "totals": {r["quantity"]: r["value"] for r in _totals_rows(result)},
               "unknown": result.unknown.astype(object).to_dict("records")}
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=1, default=_json_value)


def _missing(value: Any) -> bool:
    import pandas as pd

    return not isinstance(value, (list, dict, str)) and bool(pd.isna(value))


def _json_value(value: Any) -> Any:
    return int(value) if hasattr(value, "__int__") else str(value)


def cmd_analyze(args: argparse.Namespace) -> int:
    import warnings

    import pandas as pd

    from ..analysis import FvcoreGapWarning, IncompleteAnalysis, analyze

    model, default = load_model(args.model, args)
    shape = _input_shape(args, default)
    failed = ""
    try:
        with forward_errors(args.model, shape), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FvcoreGapWarning)
            result = analyze(model, shape, fvcore=args.fvcore, collapse_specs=not args.leaves, strict=args.strict)
        for warning in caught:  # --fvcore: an unexplained gap to fvcore, one line
            if issubclass(warning.category, FvcoreGapWarning):
                print(f"costmodel: warning: {warning.message}", file=sys.stderr)
            else:  # the user's own warnings, as they would have shown
                warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    except IncompleteAnalysis as exc:  # --strict: print everything, then fail the check (exit 1)
        result, failed = exc.result, str(exc)
    basis = f"input {'x'.join(map(str, shape))}, batch {shape[0]}, predicted (analytic), whole batch"
    if args.depth is not None:
        view = result.hierarchy(args.depth)
        print_frame(_analysis_frame(view.drop(columns=["path"])), f"{args.model}: per-module subtotals to depth "
                                                                  f"{args.depth} ({basis})")
    else:
        print_frame(_analysis_frame(result.table), f"{args.model}: per-layer analytic costs ({basis})")
    rows = [{"quantity": r["quantity"], "value": "-" if r["value"] is None else human(r["value"])}
            for r in _totals_rows(result)]
    print_frame(pd.DataFrame(rows), f"Totals ({basis}; MACs = conv + linear + matmul; unknown rows add nothing)")
    if len(result.unknown):
        print_frame(result.unknown, f"UNKNOWN: {len(result.unknown)} op(s) with no cost rule (shapes shown; "
                                    f"not counted in any total; {basis})")
    _write_outputs(result, args)
    code = _print_reconcile(model, (1,) + tuple(shape[1:]), args.model) if args.reconcile else 0
    if failed:
        print(f"costmodel: strict: {failed}", file=sys.stderr)
        return 1
    return code


def cmd_reconcile(args: argparse.Namespace) -> int:
    model, default = load_model(args.model, args)
    shape = _input_shape(args, default)
    return _print_reconcile(model, (1,) + tuple(shape[1:]), args.model)


def _forward_failed(label: str, shape, exc: BaseException) -> ValueError:
    """The one-line error (exit 2) of a user's model whose forward fails on the given input."""
    return ValueError(f"forward of {label} on input {tuple(shape)} failed: {type(exc).__name__}: {_one_line(exc)}")


@contextlib.contextmanager
def forward_errors(label: str, shape):
    """Run the body (analyze or reconcile of a user's model) with every failure of the user's
    forward, torch's own ValueErrors (``ForwardFailed``) and ``sys.exit`` included, turned into
    ``_forward_failed``'s one line (exit 2); our own ValueErrors and a failed ``--strict`` check
    (IncompleteAnalysis, exit 1) pass as they are."""
    from ..analysis import ForwardFailed, IncompleteAnalysis

    try:
        yield
    except ForwardFailed as exc:  # the forward rejected this input (torch raises ValueError too)
        raise _forward_failed(label, shape, exc.__cause__) from None
    except (ValueError, IncompleteAnalysis):
        raise
    except (Exception, SystemExit) as exc:  # the user's forward failed on this input
        raise _forward_failed(label, shape, exc) from None


def _print_reconcile(model, shape, label: str) -> int:
    from ..analysis import reconcile

    with forward_errors(label, shape):
        result = reconcile(model, shape)
    print_frame(result.summary().astype(object).fillna("-"),
                f"Peer counters vs ours, input {shape}, batch {shape[0]} (ours = MACs + elementwise ops, "
                "predicted; peers measured)")
    for name, peer in result.peers.items():
        if peer.skipped:
            continue
        frame = peer.table.astype(object).fillna("-")
        print_frame(frame, f"{name} ({peer.unit}): gaps by op kind and convention")
    bad = [f"{n} {p.unexplained:+,} {p.unit}" for n, p in result.peers.items() if p.unexplained not in (0, None)]
    if bad:  # a failed check: one line, exit 1 (the same for `reconcile` and `analyze --reconcile`)
        print(f"costmodel: reconcile: unexplained gap to {'; '.join(bad)}", file=sys.stderr)
        return 1
    return 0
