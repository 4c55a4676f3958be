"""The ``costmodel`` command line: the only package that parses arguments or prints for a person.

Each command group is one module of this package (``COMMAND_GROUPS``) with ``add_cli(sub)``. Design
hyperparameters become flags generated from the spec's fields (``c_in`` -> ``--c-in``), so a new
design needs no CLI code. torch and fvcore are imported only by the commands that trace or time a
module.

Conventions, all enforced here in one place so that every command (new ones included) gets them:
  * global flags in any position: ``--quiet``, ``--debug``, ``--csv PATH``, ``--json PATH``,
    ``--columns N`` (alias ``--width N``, except in ``network``, ``analyze`` and ``reconcile``,
    whose ``--width`` is a network's width multiplier); ``--version`` on the top parser;
  * a command's own flags may also follow the design's flags (``validate conv --k 3 --batch 2``);
  * output paths are checked before the command starts;
  * errors: one line on stderr, no traceback (``--debug`` shows it); exit 2 for bad input or
    anything else that stops a command, 1 when a check ran and failed (the command returns 1),
    0 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class GlobalFlag:
    """A flag every command accepts, in any position."""

    flag: str
    dest: str
    help: str
    takes_value: bool = False
    type: Any = str
    metavar: str | None = None
    aliases: tuple[str, ...] = ()
    """Other spellings; a command whose own flag has one of these names keeps its own meaning
    there (``network --width`` is the width multiplier; ``--columns`` still sets the table width)."""

    def names(self, parser: argparse.ArgumentParser | None = None) -> list[str]:
        """The flag and the aliases ``parser`` (if given) does not define itself."""
        own = parser._option_string_actions if parser is not None else {}
        return [self.flag] + [a for a in self.aliases if a not in own]


def _columns(text: str) -> int:
    """A table width: an integer >= 20. The message says "table width": ``--width`` is also a
    network's multiplier in ``network``/``analyze``/``reconcile``, so ``latency ghostnet --width
    1.3`` must not read as if a multiplier had been checked."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 20:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid: allowed is a table width in characters, "
                                         f"an integer >= 20")
    return value


GLOBAL_FLAGS: tuple[GlobalFlag, ...] = (
    GlobalFlag("--quiet", "quiet", "no progress bars or status lines (they go to stderr, and only to a terminal)"),
    GlobalFlag("--debug", "debug", "on an error, also print the Python traceback"),
    GlobalFlag("--csv", "csv", "write the command's main table as CSV to PATH", True, metavar="PATH"),
    GlobalFlag("--json", "json", "write every printed table as JSON to PATH", True, metavar="PATH"),
    GlobalFlag("--columns", "columns", "table width in characters (also --width N, unless the command has its "
                                       "own --width; default: the terminal's; 20 a column, 100 to 240, when stdout "
                                       "is not a terminal)", True, _columns, "N", aliases=("--width",)),
)

OUTPUT_DESTS: tuple[str, ...] = ("out", "csv", "json", "sweep_csv")
"""Argument names that are output files in any command: checked (not a directory, creatable)
before the command starts. A command adds its own with ``set_defaults(output_dests=(...))``."""


def _add_global_flags(parser: argparse.ArgumentParser, prefix: str) -> frozenset[str]:
    """Add the global flags ``parser`` does not define itself; return the dests it already had
    (the command then handles that flag itself, e.g. ``analyze --csv``). Top-level copies use
    ``prefix``ed dests and subcommand copies default to SUPPRESS, so neither hides the other."""
    own = frozenset(f.dest for f in GLOBAL_FLAGS if f.flag in parser._option_string_actions)
    group = parser.add_argument_group("global options (any position)")
    for f in GLOBAL_FLAGS:
        if f.dest in own:
            continue
        kw: dict[str, Any] = {"dest": prefix + f.dest, "help": f.help}
        kw.update({"type": f.type, "metavar": f.metavar} if f.takes_value else {"action": "store_true"})
        if not prefix:
            kw["default"] = argparse.SUPPRESS
        group.add_argument(*f.names(parser), **kw)
    return own


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def build_parser() -> argparse.ArgumentParser:
    """The top parser: every command group's subcommands, each with the global flags."""
    from .. import __version__
    from .common import CliParser

    parser = CliParser(prog="costmodel", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"costmodel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_GROUPS:
        importlib.import_module(module).add_cli(sub)
    _add_global_flags(parser, "global_")
    for name, p in _subparsers(parser).items():
        p.set_defaults(own_globals=_add_global_flags(p, ""), command_parser=p, command=name)
    return parser


def _strip_globals(options: list[str], parser: argparse.ArgumentParser | None = None
                   ) -> tuple[dict[str, Any], list[str]]:
    """Global flags found among a command's pass-through options (after a design name), and the
    options left. Exact flag names only (no abbreviations), ``--flag=value`` accepted; an alias
    the command defines itself is left to the command."""
    by_flag = {name: f for f in GLOBAL_FLAGS for name in f.names(parser)}
    found: dict[str, Any] = {}
    rest: list[str] = []
    i = 0
    while i < len(options):
        name, eq, value = options[i].partition("=")
        f = by_flag.get(name)
        if f is None:
            rest.append(options[i])
        elif not f.takes_value:
            found[f.dest] = True
        else:
            if not eq:
                i += 1
                if i >= len(options):
                    from .common import UsageError

                    raise UsageError(f"argument {name}: expected one argument")
                value = options[i]
            found[f.dest] = _convert(f, value, name)
        i += 1
    return found, rest


def _convert(f: GlobalFlag, value: str, name: str) -> Any:
    from .common import UsageError

    try:
        return f.type(value)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise UsageError(f"argument {name}: {exc}") from None


def _own_flags(args: argparse.Namespace) -> None:
    """A command's own flags given after the design's (``validate conv --k 3 --batch 2``): parse
    them out of ``args.options`` into ``args``; the design flags stay in ``options``."""
    from .common import CliParser

    parser: argparse.ArgumentParser = args.command_parser
    own = CliParser(prog=parser.prog, add_help=False, allow_abbrev=False)
    for action in parser._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            own._add_action(action)
    given, rest = own.parse_known_args(args.options, namespace=argparse.Namespace())
    named = {t.partition("=")[0] for t in args.options if t.startswith("-")}
    for action in own._actions:  # only the flags really given: the others keep their values
        if named & set(action.option_strings) and hasattr(given, action.dest):
            setattr(args, action.dest, getattr(given, action.dest))
    args.options = rest


def _merge_globals(args: argparse.Namespace) -> None:
    """One value per global flag on ``args``: given before the command, after it, or among the
    design flags (the later wins; flags are on if given anywhere)."""
    found: dict[str, Any] = {}
    if isinstance(getattr(args, "options", None), list):
        found, args.options = _strip_globals(args.options, getattr(args, "command_parser", None))
        _own_flags(args)
    for f in GLOBAL_FLAGS:
        values = [getattr(args, "global_" + f.dest, None), getattr(args, f.dest, None), found.get(f.dest)]
        if f.takes_value:
            value = next((v for v in reversed(values) if v is not None), None)
        else:
            value = any(bool(v) for v in values)
        setattr(args, f.dest, value)


def _design_help(args: argparse.Namespace) -> bool:
    """``costmodel COMMAND DESIGN --help``: the command's help, then the design's flags with
    their defaults and allowed values."""
    options = getattr(args, "options", None)
    if not isinstance(options, list) or not ({"-h", "--help"} & set(options)) or not hasattr(args, "design"):
        return False
    from .common import design_help

    print(args.command_parser.format_help())
    from ..core.registry import designs

    if args.design in designs():  # `latency NETWORK --help`: no design flags to list
        print(design_help(args.design, args.command))
    return True


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any work, output paths that cannot be written and ``--csv``/``--json`` on a
    command that prints no table (``set_defaults(prints_table=False)``)."""
    from .common import UsageError, check_output_path

    given = [f"--{d}" for d in ("csv", "json") if d not in args.own_globals and getattr(args, d, None)]
    if given and not getattr(args, "prints_table", True):
        raise UsageError(f"{'/'.join(given)}: `costmodel {args.command}` prints no table to write")

    for dest in OUTPUT_DESTS + tuple(getattr(args, "output_dests", ())):
        path = getattr(args, dest, None)
        if isinstance(path, str) and path:
            check_output_path(path, "--" + dest.replace("_", "-"))


def _error_line(exc: BaseException) -> str:
    """One line: a ValueError's own text (it names the field, value and range), else the
    exception type and its first line."""
    text = " ".join(str(exc).split()) or repr(exc)
    return text if isinstance(exc, ValueError) else f"{type(exc).__name__}: {text}"


def _run(args: argparse.Namespace) -> int:
    from ..core.progress import quiet
    from .common import Output, output_context, write_outputs

    own = args.own_globals
    out = Output(csv=None if "csv" in own else args.csv, json=None if "json" in own else args.json,
                 columns=args.columns)
    with quiet(args.quiet), output_context(out):
        code = int(args.func(args) or 0)
        write_outputs(out, args.command)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 1 a check failed, 2 bad input or an error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        _merge_globals(args)
        debug = args.debug
        if _design_help(args):
            return 0
        _check_outputs(args)
        return _run(args)
    except BrokenPipeError:  # e.g. `costmodel formula ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("costmodel: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure is one line (ValueError/UsageError: bad input), exit 2
        if debug:
            import traceback

            traceback.print_exc()
        print(f"costmodel: error: {_error_line(exc)}"
              f"{'' if debug or isinstance(exc, ValueError) else ' (--debug shows the traceback)'}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
