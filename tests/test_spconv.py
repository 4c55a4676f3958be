"""SPConv (B4): the float split, the branch costs, stride 2 pooling, and bad input."""

from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import assume, example, given
from hypothesis import strategies as st

from costmodel.cli import main
from costmodel.core.compile import compile_scalar, compile_vector
from costmodel.designs.spconv import SPConv
from costmodel.core.symbols import k, w
from costmodel.validation import validate


def assert_exact(row: dict) -> None:
    assert row["params_analytic"] == row["params_torch"], row
    assert row["conv_macs_analytic"] == row["conv_macs_fvcore"] == row["conv_macs_torch"], row
    assert row["batch_norm_analytic"] == row["batch_norm_fvcore"], row
    assert row["adaptive_avg_pool2d_analytic"] == row["adaptive_avg_pool2d_fvcore"], row
    assert row["match"], row


@st.composite
def spconv_specs(draw) -> SPConv:
    groups = draw(st.sampled_from([1, 2, 4]))
    values = dict(c_in=draw(st.integers(2, 40)), c_out=groups * draw(st.integers(1, 8)),
                  alpha=draw(st.one_of(st.sampled_from([0.5, 0.25, 0.125, 0.29, 0.7, 0.3]),
                                       st.floats(0.01, 0.99))),
                  k=draw(st.sampled_from([1, 3, 5])), stride=draw(st.sampled_from([1, 2])), groups=groups,
                  h=draw(st.integers(1, 17)), w=draw(st.integers(1, 17)))
    try:
        return SPConv(**values)
    except ValueError:
        assume(False)


@given(spec=spconv_specs())
@example(spec=SPConv(c_in=13, c_out=10, alpha=0.34, k=5, stride=2, h=15, w=9))  # odd sizes, stride 2
@example(spec=SPConv(c_in=100, c_out=6, alpha=0.29, k=1, stride=2, h=1, w=2))  # float split, 1-pixel map
def test_spconv_matches_trace(spec):
    assert_exact(validate(spec))


def test_batch_of_two_matches_trace():
    assert_exact(validate(SPConv(c_in=12, c_out=8, alpha=0.5, stride=2, h=7, w=6), batch=2))


def test_hand_counts_stride_2_odd_size():
    c = SPConv(c_in=13, c_out=10, alpha=0.34, k=5, stride=2, h=15, w=9).costs()
    # c_r = floor(13*0.34 = 4.42) = 4 representative, 9 redundant channels.
    assert c.extra == {"representative_channels": 4, "redundant_channels": 9}
    # h' = floor((15 + 4 - 5)/2) + 1 = 8 = ceil(15/2); w' = floor((9 + 4 - 5)/2) + 1 = 5 = ceil(9/2): 40.
    # gwc 10*(4/2)*25*40 = 20,000; pwc (after the pool) 10*4*40 = 1,600; redundant 1x1 10*9*40 = 3,600.
    assert c.macs_by_key == {"conv": 25_200, "linear": 0}
    # params: 500 + 40 + 90 + bias 10 + two BNs 2*2*10 = 680.
    assert c.params == 680
    # Elementwise: BN 2*(2*10*40) = 1,600; the two global pools 2*400 = 800; the 2x2 pools read
    # every input element once: (4 + 9)*15*9 = 1,755; softmax over 2*10 scores; two multiplies
    # 2*400; adds: gwc + pwc 400 and the fused output 400.
    assert c.elementwise == {"avg_pool2d": 1755, "add": 800, "batch_norm": 1600, "adaptive_avg_pool2d": 800,
                             "concat": 0, "softmax": 20, "mul": 800}


def test_stride_1_has_no_pool_and_even_alpha_split():
    c = SPConv(c_in=64, c_out=64, alpha=0.5, k=3, stride=1, groups=2, h=56, w=56).costs()
    # c_r = 32: gwc 64*16*9 = 9,216, pwc 64*32 = 2,048, redundant 64*32 = 2,048 per position;
    # (9,216 + 4,096) * 3,136 = 41,746,432.
    assert c.macs == 41_746_432
    assert "avg_pool2d" not in c.elementwise
    # params 9,216 + 4,096 + bias 64 + BN 256 = 13,632.
    assert c.params == 13_632


def test_split_uses_the_modules_float_arithmetic():
    # 100*0.29 = 28.999999999999996 in binary floating point: the module keeps 28, not 29.
    spec = SPConv(c_in=100, c_out=8, alpha=0.29, h=4, w=4)
    assert spec.costs().extra["representative_channels"] == 28
    assert spec.module().gwc.in_channels == 28
    assert_exact(validate(spec))


def test_numeric_stride_output_size_compiles_exactly():
    """sympy writes floor((w - k)/2 + floor(k/2)) + 1 as floor(k/2) + floor(w/2 - k/2) + 1; a shared
    ``k/2`` must not be floored on its own (it gave 2 for w=2, k=1 instead of 1)."""
    size = sp.floor(k / 2) + sp.floor(w / 2 - k / 2) + 1
    assert compile_scalar([size], ["k", "w"])(1, 2) == (1,)
    assert compile_vector([size], ["k", "w"])(1, 2)[0] == 1


@pytest.mark.parametrize("changes, field, words", [
    ({"alpha": 0.0}, "alpha", "allowed is a number in (0, 1)"),
    ({"alpha": 1.0}, "alpha", "allowed is a number in (0, 1)"),
    ({"alpha": 1.5}, "alpha", "allowed is a number in (0, 1)"),
    ({"alpha": -0.25}, "alpha", "allowed is a number in (0, 1)"),
    ({"c_in": 5, "alpha": 0.1}, "alpha", "representative part floor(alpha*c_in) must be >= 1"),
    ({"c_in": 10, "alpha": 0.3}, "groups", "groups must divide the representative channels"),  # c_r = 3
    ({"c_out": 7}, "groups", "groups must divide c_out"),
    ({"k": 4}, "k", "k must be odd"),
    ({"stride": 3}, "stride", "one of 1, 2"),
])
def test_bad_input(changes, field, words):
    with pytest.raises(ValueError) as err:
        SPConv(**changes)
    message = str(err.value)
    value = changes.get(field, 2)  # the split rules blame groups, whose default is 2
    assert f"SPConv.{field} = {value!r} is invalid" in message and words in message


def test_alpha_just_below_one_keeps_one_redundant_channel():
    # 3 * 0.9999999999999999 = 2.9999999999999996 in floating point: the split is 2 + 1.
    spec = SPConv(c_in=3, c_out=2, alpha=0.9999999999999999, groups=1, h=3, w=3)
    assert spec.costs().extra == {"representative_channels": 2, "redundant_channels": 1}
    assert_exact(validate(spec))


def test_cli(capsys):
    assert main(["query", "spconv", "--alpha", "1/4", "--c-in", "16", "--c-out", "8"]) == 0
    assert "representative_channels" in capsys.readouterr().out
    assert main(["validate", "spconv", "--stride", "2", "--h", "7", "--w", "7"]) == 0
    assert main(["query", "spconv", "--alpha", "1"]) == 2
    assert "SPConv.alpha = 1.0 is invalid" in capsys.readouterr().err
