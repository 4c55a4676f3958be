"""CLI conventions (issue 14 part 3, issue 19 part 5): every failure is one line on stderr with no
traceback, exit 2 for bad input; global flags in any position; --csv/--json; design --help.

Every subcommand of ``build_parser()`` is covered automatically: a new command is tested with a
bad flag and a bad value as soon as it is registered (and fails here until its positional
arguments have a sample value in ``SAMPLE``). Run in-process through ``main([...])`` (fast);
subprocesses only for ``python -m costmodel`` and ``--version``.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys

import pytest

from costmodel.cli import GLOBAL_FLAGS, _subparsers, build_parser, main
from costmodel.cli.common import cell_text, plain_value

SAMPLE = {"design": "conv", "model": "vgg16_cifar", "name": "vgg16_cifar", "space": "ghostnet"}
"""A valid value of each required positional argument (by dest)."""

BOGUS = {"design": "nosuchdesign", "model": "nosuchmodel", "name": "nosuchnet", "space": "nosuchspace",
         "designs": "nosuchdesign"}
"""An invalid value of each positional argument (by dest)."""

COMMANDS = _subparsers(build_parser())


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, expected: int = 2) -> None:
    assert code == expected, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("costmodel: error: "), err


def _positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]


def _required_args(parser: argparse.ArgumentParser) -> list[str]:
    """Sample values of the required positionals, and of required options (an output file)."""
    args = []
    for action in _positionals(parser):
        if action.nargs in ("*", "?", argparse.REMAINDER):
            continue
        assert action.dest in SAMPLE, f"add a sample value of positional {action.dest!r} to SAMPLE"
        args.append(SAMPLE[action.dest])
    return args + _required_options(parser)


def _required_options(parser: argparse.ArgumentParser) -> list[str]:
    return [arg for a in parser._actions if a.option_strings and a.required for arg in (a.option_strings[0], "o.csv")]


def _typed_option(parser: argparse.ArgumentParser) -> str | None:
    """A flag of ``parser`` whose value argparse converts or checks (a number, a choice)."""
    for action in parser._actions:
        if action.option_strings and action.nargs is None and (action.type not in (None, str) or action.choices) \
                and action.dest != "columns":
            return action.option_strings[0]
    return None


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_an_unknown_flag(capsys, command):
    code, out, err = run(capsys, command, *_required_args(COMMANDS[command]), "--no-such-flag")
    assert_one_line_error(code, err)
    assert "--no-such-flag" in err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_a_bad_value(capsys, command):
    parser = COMMANDS[command]
    flag = _typed_option(parser)
    if flag is not None:
        code, _, err = run(capsys, command, *_required_args(parser), flag, "not-a-value")
        assert_one_line_error(code, err)
        assert flag in err and "not-a-value" in err
    bogus = [a for a in _positionals(parser) if a.dest in BOGUS and a.nargs != argparse.REMAINDER]
    if bogus:
        code, _, err = run(capsys, command, BOGUS[bogus[0].dest], *_required_options(parser), "--quiet")
        assert_one_line_error(code, err)
        assert "nosuch" in err
    if flag is None and not bogus:
        code, _, err = run(capsys, command, *_required_args(parser), "--columns", "x")  # the global typed flag
        assert_one_line_error(code, err)
        assert "--columns" in err


def _file_args(command: str, parser: argparse.ArgumentParser, tmp_path) -> list[str] | None:
    """Arguments that name a missing input file, where the command reads one."""
    dests = {a.dest for a in _positionals(parser)}
    if "model" in dests:
        return [str(tmp_path / "missing.py") + ":build"]
    if "space" in dests:
        return [str(tmp_path / "missing.toml"), *(["--out", str(tmp_path / "o.csv")] if command == "lut" else [])]
    options = {s for a in parser._actions for s in a.option_strings}
    if "--profile" in options and "profile" not in (parser.get_default("output_dests") or ()):
        return [*(_required_args(parser)), "--profile", str(tmp_path / "missing.json"),
                *(["--predict"] if "--predict" in options else [])]
    return None


FILE_COMMANDS = [c for c in sorted(COMMANDS) if _file_args(c, COMMANDS[c], __import__("pathlib").Path("/x"))]


def test_file_commands_are_found():
    # analyze and reconcile read a model file; explore and lut a space file; latency, latency-eval
    # and latency-gaps a profile (calibrate writes its profile: not an input)
    assert {"analyze", "reconcile", "explore", "lut", "latency", "latency-eval", "latency-gaps"} <= set(FILE_COMMANDS)
    assert "calibrate" not in FILE_COMMANDS


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_every_command_reports_a_missing_file(capsys, tmp_path, command):
    code, _, err = run(capsys, command, *_file_args(command, COMMANDS[command], tmp_path))
    assert_one_line_error(code, err)
    assert "missing" in err


# --- output paths (issue 19 part 5) ---------------------------------------------------------------

@pytest.mark.parametrize("argv", [("query", "conv", "--csv", "{dir}"), ("query", "conv", "--json", "{dir}"),
                                  ("sweep", "conv", "--out", "{dir}"), ("report", "--out", "{dir}"),
                                  ("calibrate", "--profile", "{dir}")])
def test_output_path_that_is_a_directory(capsys, tmp_path, argv):
    code, out, err = run(capsys, *(a.format(dir=tmp_path) for a in argv))
    assert_one_line_error(code, err)
    assert "is a directory" in err and out == ""  # refused before any work


@pytest.mark.parametrize("argv", [("query", "conv", "--json", "{file}/x.json"),
                                  ("sweep", "conv", "--out", "{file}/deeper/x.csv"),
                                  ("analyze", "vgg16_cifar", "--csv", "{file}/x.csv")])
def test_output_path_that_cannot_be_created(capsys, tmp_path, argv):
    file = tmp_path / "plain-file"
    file.write_text("x")
    code, out, err = run(capsys, *(a.format(file=file) for a in argv))
    assert_one_line_error(code, err)
    assert "is not a directory" in err and out == ""


@pytest.mark.parametrize("argv", [("query", "conv", "--json", "/proc/no-such-folder/x.json"),  # mkdir fails
                                  ("sweep", "conv", "--out", "/proc/version")])  # exists, cannot be written
def test_output_path_that_the_system_refuses(capsys, argv):
    # even as root: the permission bits say yes, the file system says no; refused before any work
    code, out, err = run(capsys, *argv)
    assert_one_line_error(code, err)
    assert argv[2] in err and "is invalid" in err and out == ""


def test_the_output_probe_leaves_no_file(capsys, tmp_path):
    target = tmp_path / "sub" / "q.json"
    code, _, err = run(capsys, "query", "conv", "--k", "0", "--json", str(target))  # checked, then bad input
    assert_one_line_error(code, err)
    assert "Conv.k = 0" in err and not target.exists()


# --- bad numbers (issue 19 part 5) ----------------------------------------------------------------

@pytest.mark.parametrize("argv, needle", [
    (("validate", "conv", "--batch", "0"), "--batch"),           # exited 0 with all counts 0 before
    (("validate", "conv", "--batch", "-3"), "--batch"),
    (("validate", "--batch", "0", "conv"), "--batch"),
    (("latency-eval", "--per-design", "0"), "--per-design"),
    (("latency-eval", "--input-shape", "0,0"), "--input-shape"),  # ignored without --networks: timed for minutes
    (("latency-eval", "--seed", "-1"), "--seed"),
    (("latency-eval", "--networks", "--budget", "0"), "--budget"),
    (("calibrate", "--budget", "-5"), "--budget"),
    (("sic-paper", "--n", "-4"), "--n"),
    (("sic-paper", "--size", "0"), "--size"),
    (("query", "conv", "--columns", "5"), "--columns"),
    # a forward that cannot fit is refused before torch allocates (input 64 x 2^31 x 1 fp32 = 512 GiB)
    (("validate", "conv", "--h", "2147483648", "--w", "1"), "Conv.h = 2147483648 is invalid: a forward"),
    (("latency", "conv", "--h", "100000", "--w", "100000"), "forward budget"),
    (("validate", "conv", "--batch", "100000", "--h", "3000", "--w", "3000"), "at batch 100000"),
    (("network", "resnet50", "--resolution", "100000", "--trace"), "resnet50.resolution = 100000"),
])
def test_bad_numbers_are_one_line(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err)
    assert needle in err


@pytest.mark.parametrize("argv, needle", [  # issue 14 part 2: network, swap and space options
    (("network", "ghostnet", "--width", "nan"), "width = nan"),
    (("network", "ghostnet", "--width", "0"), "width = 0"),
    (("network", "vgg16_cifar", "--resolution", "0"), "= 0"),
    (("network", "resnet50", "--swap3x3", "ghost", "--option", "alpha=1/4"), "alpha"),  # not a Ghost option
    (("network", "resnet50", "--swap3x3", "ghost", "--option", "s=abc"), "Ghost.s = 'abc'"),
    (("network", "resnet50", "--swap3x3", "ghost", "--option", "s"), "KEY=VALUE"),
    (("analyze", "vgg16_cifar", "--input", "a,b"), "input_shape = 'a,b'"),
    (("explore", "ghostnet", "--measure", "-1"), "--measure"),
    (("network", "resnet50", "--width", "1"), "option(s) width are invalid for network 'resnet50'"),
    (("network", "resnet50", "--swap3x3", "ghost", "--resolution", "0"), "resolution = 0 is invalid"),
    (("network", "resnet50", "--swap3x3", "spconv", "--option", "alpha=1e400"), "SPConv.alpha = '1e400'"),  # no OverflowError
    (("network", "resnet50", "--swap3x3", "spconv", "--option", "=3"), "KEY=VALUE with a KEY"),
    (("explore", "ghostnet", "--sample", "0"), "--sample"),     # printed an empty table before
    (("explore", "ghostnet", "--sample", "5", "--seed", "-1"), "--seed"),
    (("sweep", "conv", "--c-in", "1:5", "--sample", "3", "--seed", "-1"), "--seed"),  # "expected non-negative integer"
    (("sweep", "conv", "--c-in", "1:5", "--sample", "0"), "--sample"),
    (("explore", "ghostnet", "--budget", "params=-1"), "LIMIT a number > 0"),   # kept nothing, silently
    (("explore", "ghostnet", "--budget", "params=nan"), "LIMIT a number > 0"),
    (("lut", "ghostnet", "--out", "l.csv", "--chunk", "0"), "--chunk"),         # measured every block before
    (("lut", "ghostnet", "--out", "l.csv", "--threads", "0"), "--threads"),
    (("lut", "ghostnet", "--out", "l.csv", "--min-run-time", "nan"), "--min-run-time"),
])
def test_network_and_space_options_are_one_line(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err)
    assert needle in err


def test_a_failed_check_exits_1(capsys, monkeypatch):
    from types import SimpleNamespace

    import costmodel.peers.trace as peers_trace

    # a tracer that sees nothing: the analytic params and MACs no longer match it
    monkeypatch.setattr(peers_trace, "trace", lambda module, x: SimpleNamespace(params=0, fvcore_macs={}))
    code, out, err = run(capsys, "network", "vgg16_cifar", "--trace")
    assert code == 1 and "MISMATCH" in out and "Traceback" not in err


def test_missing_cuda_is_one_line(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = run(capsys, "latency", "conv", "--device", "cuda")
    assert_one_line_error(code, err)
    assert "CUDA" in err


# --- corrupt latency profiles (issue 19 part 5) -------------------------------------------------

PEAKS = {"dense_macs_per_s": 1e9, "depthwise_macs_per_s": 1e8, "bandwidth_bytes_per_s": 1e9, "call_overhead_s": 1e-6}


CURVE = {"model": "efficiency", "overhead_s": 1e-6, "s_per_byte": 1e-10, "coef": {"const": 0.0}}


@pytest.mark.parametrize("change", [{"curves": "garbage"}, {"meta": []}, {"fingerprint": 3},
                                    {"peaks": {**PEAKS, "dense_macs_per_s": True}},
                                    # fields deeper in the records, checked against their declared types
                                    {"batch": True}, {"threads": "x"}, {"clock": 5}, {"composition": "garbage"},
                                    {"network": [1]}, {"peaks": {**PEAKS, "l2_bytes": "x"}},
                                    {"curves": {"dense": "garbage"}}, {"curves": {"dense": {"model": "nope"}}},
                                    {"curves": {"dense": {**CURVE, "coef": "garbage"}}},
                                    {"curves": {"dense": {**CURVE, "overhead_s": "x"}}},
                                    {"curves": {"composition": {"scale": "x", "per_op_s": 0.0}}}])
def test_corrupt_profile_names_calibrate(capsys, tmp_path, change):
    doc = {"schema": 1, "device": "cpu", "device_name": "test cpu", "threads": 1, "torch_version": "x",
           "peaks": PEAKS, **change}
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(doc))
    code, _, err = run(capsys, "latency-eval", "conv", "--per-design", "1", "--profile", str(path))
    assert_one_line_error(code, err)
    assert "corrupt" in err and "costmodel calibrate" in err
    assert next(iter(change)) in err  # the field is named


def test_a_well_formed_profile_passes_the_type_checks():
    from costmodel.latency.profile import EfficiencyCurve, Profile

    doc = {"schema": 1, "device": "cpu", "device_name": "test cpu", "threads": 1, "torch_version": "x",
           "peaks": PEAKS, "batch": 2, "curves": {"dense": CURVE, "composition": {"scale": 1.0, "per_op_s": 0.0}}}
    profile = Profile.from_json(json.dumps(doc))
    assert isinstance(profile.curves["dense"], EfficiencyCurve) and profile.composition.scale == 1.0
    assert profile.batch == 2


# --- user models that fail (issue 19 part 5; the generic handler of main) -----------------------

USER_MODELS = """
import torch
from torch import nn
not_callable = 3
def needs_arguments(width):
    return nn.Conv2d(3, width, 3)
def conv():
    return nn.Conv2d(3, 8, 3)
"""


@pytest.fixture
def models(tmp_path):
    (tmp_path / "models.py").write_text(USER_MODELS)
    (tmp_path / "broken.py").write_text("import torch\nraise RuntimeError('broken on import')\n")
    return tmp_path


@pytest.mark.parametrize("command", ["analyze", "reconcile"])
@pytest.mark.parametrize("target, extra, needle", [
    ("broken.py:conv", (), "RuntimeError"),              # the file fails to import
    ("models.py:not_callable", (), "not_callable"),      # 3 is neither an nn.Module nor callable
    ("models.py:needs_arguments", (), "needs_arguments"),  # a function that needs arguments
    ("models.py:conv", ("--input", "1,4,16,16"), "4"),   # 4 channels into a 3-channel conv
    ("models.py:conv", ("--input", "1,3,16"), "16"),     # wrong rank for a conv
])
def test_user_model_failures_are_one_line(capsys, models, command, target, extra, needle):
    code, _, err = run(capsys, command, str(models / target.split(":")[0]) + ":" + target.split(":")[1], *extra)
    assert_one_line_error(code, err)
    assert needle in err
    if extra:  # a forward that rejects the shape: the same wording in both commands
        assert "models.py:conv on input (" in err and "failed: RuntimeError" in err


@pytest.mark.parametrize("target, needle", [
    ("broken.py:conv", "RuntimeError"), ("models.py:not_callable", "not_callable"),
    ("models.py:needs_arguments", "needs_arguments"),
    ("models.py:seven", "seven() returned int, not an nn.Module"),  # an AttributeError from the timer before
    ("models.py:quits", "building it failed: SystemExit: 3"),  # exited 3 with no message before
])
def test_latency_loads_user_models_like_analyze(capsys, models, target, needle):
    (models / "models.py").write_text(USER_MODELS + "def seven():\n    return 7\ndef quits():\n    raise SystemExit(3)\n")
    code, _, err = run(capsys, "latency", str(models / target.split(":")[0]) + ":" + target.split(":")[1])
    assert_one_line_error(code, err)
    assert needle in err


@pytest.mark.parametrize("target", [":build", "models.py:", "  :x"])
def test_model_spec_with_an_empty_part(capsys, target):
    code, _, err = run(capsys, "analyze", target)  # an AttributeError from importlib before (":build")
    assert_one_line_error(code, err)
    assert "both parts given" in err


def test_debug_shows_the_traceback(capsys):
    code, _, err = run(capsys, "query", "conv", "--k", "0", "--debug")
    assert code == 2
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("costmodel: error: Conv.k = 0")


# --- global flags, output files, tables ---------------------------------------------------------

def _query_csv(path) -> dict[str, str]:
    with open(path, newline="") as fh:
        return {row["quantity"]: row["value"] for row in csv.DictReader(fh)}


@pytest.mark.parametrize("position", ["first", "before-design", "last"])
def test_global_flags_in_any_position(capsys, tmp_path, position):
    out = str(tmp_path / "q.csv")
    design = ["conv", "--c-in", "64", "--c-out", "128", "--k", "3", "--h", "56", "--w", "56"]
    flags = ["--quiet", "--csv", out, "--columns", "80"]
    argv = {"first": [*flags, "query", *design], "before-design": ["query", *flags, *design],
            "last": ["query", *design, *flags]}[position]
    code, stdout, err = run(capsys, *argv)
    assert code == 0 and err == ""
    rows = _query_csv(out)
    # 128*64*3*3 = 73,728 params; x 56*56 = 231,211,008 MACs; FLOPs = 2 x MACs
    assert rows["params"] == "73728" and rows["MACs (conv + linear)"] == "231211008"
    assert rows["FLOPs"] == "462422016"
    assert max(len(line) for line in stdout.splitlines()) <= 80


@pytest.mark.parametrize("argv", [["--width", "60", "query", "conv"], ["query", "conv", "--width", "60"],
                                  ["query", "conv", "--width=60"], ["compare", "--width", "60"]])
def test_width_is_an_alias_of_columns(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 60


def test_network_keeps_its_own_width(capsys):
    # `network --width` is GhostNet's multiplier (the title says 0.5x); --columns is the table width
    code, out, err = run(capsys, "network", "ghostnet", "--width", "0.5", "--columns", "70")
    assert code == 0, err
    assert "GhostNet 0.5x" in " ".join(out.split()) and max(len(line) for line in out.splitlines()) <= 70


def test_no_design_field_is_spelled_like_a_global_flag():
    # design flags share the pass-through options with the global flags, which are taken out first
    from costmodel.core.registry import designs

    names = {name for f in GLOBAL_FLAGS for name in (f.flag, *f.aliases)}
    for design, cls in designs().items():
        flags = {"--" + nm.replace("_", "-") for nm in cls.field_ranges()}
        assert not flags & names, design


def test_command_flags_after_the_design_flags(capsys):
    code, out, err = run(capsys, "validate", "conv", "--c-in", "4", "--c-out", "4", "--h", "5", "--w", "5",
                         "--batch", "3", "--columns", "200")
    assert code == 0, err
    assert "(batch 3)" in out
    # conv MACs for the batch: 3 * 4*4*3*3 * 5*5 = 10,800
    assert "10,800" in out and " yes " in out and " no " not in out


def test_json_has_every_table_and_csv_the_main_one(capsys, tmp_path):
    js, cs = tmp_path / "n.json", tmp_path / "n.csv"
    code, _, err = run(capsys, "network", "vgg16_cifar", "--json", str(js), "--csv", str(cs))
    assert code == 0, err
    doc = json.loads(js.read_text())
    assert doc["command"] == "network" and len(doc["tables"]) == 2  # per-layer table, then totals
    layers, totals = doc["tables"]
    with open(cs, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(layers["rows"]) and list(rows[0]) == layers["columns"]  # CSV: the first table
    total = {r["quantity"]: r["value"] for r in totals["rows"]}
    assert isinstance(total["params"], int)  # exact ints, not strings
    assert total["params"] == sum(r["params"] for r in layers["rows"])


@pytest.mark.parametrize("argv", [("formula", "conv"), ("calibrate",), ("report",), ("lut", "ghostnet", "--out", "l.csv")])
def test_csv_json_on_a_command_without_a_table(capsys, tmp_path, argv):
    # refused before any work (calibrate, report and lut would run for minutes first)
    code, out, err = run(capsys, *argv, "--json", str(tmp_path / "f.json"))
    assert_one_line_error(code, err)
    assert "prints no table" in err and out == ""


def test_explore_quiet_still_writes_json(capsys, tmp_path):
    target = tmp_path / "front.json"
    code, out, err = run(capsys, "explore", "ghostnet", "--quiet", "--json", str(target))
    assert code == 0 and err == "" and "params" in out  # --quiet: no status; the table prints as everywhere
    rows = json.loads(target.read_text())["tables"][0]["rows"]
    assert rows and all(isinstance(r["params"], int) for r in rows)


def test_design_help_lists_flags_defaults_and_ranges(capsys):
    with pytest.raises(SystemExit):  # the plain command help still works
        main(["query", "--help"])
    capsys.readouterr()
    code, out, err = run(capsys, "query", "ghost", "--help")
    assert code == 0 and err == ""
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("--c-in"))
    assert "default 64" in line and "allowed: an integer >= 1" in line  # Ghost's c_in field
    assert "--relu/--no-relu" in out and "--s " in out
    for f in GLOBAL_FLAGS:
        assert f.flag in out


@pytest.mark.parametrize("flags, expected", [(["--bn"], ["yes"]), (["--no-bn"], ["no"]),
                                             (["--bn", "--no-bn"], ["yes", "no"]), (["--bn", "both"], ["yes", "no"]),
                                             (["--bn", "false"], ["no"])])
def test_sweep_booleans_use_the_query_syntax(capsys, tmp_path, flags, expected):
    out = tmp_path / "s.json"
    code, _, err = run(capsys, "sweep", "conv", "--k", "3", *flags, "--json", str(out))
    assert code == 0, err
    rows = json.loads(out.read_text())["tables"][0]["rows"]
    assert sorted(cell_text(r["bn"]) for r in rows) == sorted(expected)


@pytest.mark.parametrize("value, text", [(None, "-"), (float("nan"), "-"), (True, "yes"), (False, "no"),
                                         (1234567, "1,234,567"), (2.0, "2"), (0.123456, "0.1235"),
                                         (2**70, "1,180,591,620,717,411,303,424"), ("x", "x")])
def test_cell_text(value, text):
    assert cell_text(value) == text


def test_plain_values_are_exact():
    np = pytest.importorskip("numpy")
    assert plain_value(np.int64(7)) == 7 and type(plain_value(np.int64(7))) is int
    assert plain_value(2**70) == 2**70 and plain_value(np.bool_(True)) is True
    assert plain_value(float("nan")) is None and plain_value((1, 2)) == [1, 2]


def test_progress_is_off_when_quiet_or_not_a_terminal(capsys):
    from costmodel.core import progress

    with progress.quiet():
        assert not progress.enabled() and progress.is_quiet()
    assert not progress.is_quiet()
    assert not progress.enabled()  # pytest's captured stderr is not a terminal
    seen = []
    with progress.progress_bar(3, "steps") as advance:
        advance(2)
        seen.append(1)
    assert list(progress.track(range(3), "items")) == [0, 1, 2] and seen == [1]
    progress.status("not shown")
    assert capsys.readouterr().err == ""


# --- as a user runs it ----------------------------------------------------------------------------

def test_version_and_python_m():
    from costmodel import __version__

    version = subprocess.run([sys.executable, "-m", "costmodel", "--version"], capture_output=True, text=True,
                             timeout=120)
    assert version.returncode == 0 and version.stdout.strip() == f"costmodel {__version__}"
    bad = subprocess.run([sys.executable, "-m", "costmodel", "query", "conv", "--k", "0"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
    assert "Traceback" not in bad.stderr
