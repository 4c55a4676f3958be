"""The CLI, run as a subprocess like a user would."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "costmodel", *args], capture_output=True,
                          text=True, timeout=300)


def test_query_prints_labelled_exact_numbers():
    out = run("query", "conv", "--c-in", "64", "--c-out", "128", "--k", "3", "--h", "56", "--w", "56")
    assert out.returncode == 0, out.stderr
    # 128*64*9 = 73,728 params; *56*56 = 231,211,008 MACs; FLOPs twice that
    assert "73,728" in out.stdout and "231,211,008" in out.stdout and "462,422,016" in out.stdout
    for unit in ("parameters", "MACs", "FLOPs", "bytes"):
        assert unit in out.stdout


def test_validate_shows_matches():
    out = run("validate", "bottleneck", "--h", "9", "--w", "9", "--stride", "2", "--bn")
    assert out.returncode == 0, out.stdout + out.stderr
    assert " yes " in out.stdout and " no " not in out.stdout  # match column: yes/no like every boolean
    assert "fvcore" in out.stdout and "FlopCounterMode" in out.stdout


@pytest.mark.parametrize("args, needle", [
    (("query", "group_conv", "--c-in", "64", "--groups", "5"), "groups = 5"),
    (("query", "conv", "--k", "0"), "k = 0"),
    (("query", "conv", "--bogus", "3"), "unknown option"),
    (("query", "nosuchdesign"), "design = 'nosuchdesign' is unknown"),
    (("query", "conv", "--k", "three"), "invalid int value"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    out = run(*args)
    assert out.returncode == 2
    assert needle in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_list_names_every_design():
    from costmodel.core.registry import designs

    out = run("list")
    assert out.returncode == 0
    for name in designs():
        assert name in out.stdout


def test_query_does_not_import_torch():
    code = ("import sys; from costmodel.cli import main; main(['query', 'conv']); "
            "assert 'torch' not in sys.modules and 'fvcore' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_formula_prints_readable_and_latex_forms():
    out = run("formula", "separable")
    assert out.returncode == 0, out.stderr
    # MACs c_in*c_out*h_o1*w_o1 + c_in*k^2*h_o1*w_o1, with h_o1 defined once below
    assert "MACs (conv + linear) [MACs]" in out.stdout and "where h_o1 [output size]" in out.stdout
    latex = run("formula", "ghost", "--latex")
    assert latex.returncode == 0, latex.stderr
    assert r"\left\lceil{\frac{c_{out}}{s}}\right\rceil" in latex.stdout  # m = ceil(c_out/s)
