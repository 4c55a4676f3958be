"""Tied Block Convolution (B5) and Tied Group Convolution (B6): exact counts through the reshape,
the B^2 params and B (x g) MACs ratios, and bad input."""

from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from costmodel.cli import main
from costmodel.designs.conv import Conv
from costmodel.designs.tied import TiedBlockConv, TiedGroupConv
from costmodel.core.symbols import B, bias, bn, c_in, c_out, groups, h, k, stride, w
from costmodel.validation import ratio, validate


def assert_exact(row: dict) -> None:
    assert row["params_analytic"] == row["params_torch"], row
    assert row["conv_macs_analytic"] == row["conv_macs_fvcore"] == row["conv_macs_torch"], row
    assert row["match"], row


@st.composite
def tied_specs(draw):
    blocks, g = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    common = dict(c_in=blocks * g * draw(st.integers(1, 5)), c_out=blocks * g * draw(st.integers(1, 5)),
                  k=draw(st.integers(1, 5)), stride=draw(st.integers(1, 2)), B=blocks,
                  h=draw(st.integers(1, 17)), w=draw(st.integers(1, 17)), bias=draw(st.booleans()),
                  bn=draw(st.booleans()), act=draw(st.booleans()))
    if draw(st.booleans()):
        return TiedGroupConv(groups=g, **common)
    return TiedBlockConv(**common)


@given(spec=tied_specs(), batch=st.sampled_from([1, 2]))
@example(spec=TiedBlockConv(c_in=6, c_out=9, B=3, k=4, stride=2, h=15, w=9, bias=True, bn=True, act=True),
         batch=1)
@example(spec=TiedGroupConv(c_in=12, c_out=24, B=3, groups=2, k=3, stride=2, h=7, w=8, bias=True), batch=3)
def test_tied_matches_trace(spec, batch):
    # The shared conv runs on a batch of batch*B: the trace's total must still be batch x ours.
    assert_exact(validate(spec, batch=batch))


def test_tbc_hand_counts():
    c = TiedBlockConv(c_in=6, c_out=9, B=3, k=4, stride=2, h=15, w=9, bias=True, bn=True, act=True).costs()
    # Shared conv 6/3 = 2 -> 9/3 = 3, 4x4, padding 2: h' = floor((15 + 4 - 4)/2) + 1 = 8,
    # w' = floor((9 + 4 - 4)/2) + 1 = 5. MACs = 3 blocks x 3*2*16*40 = 11,520.
    assert c.macs == 11_520
    # params: 3*2*16 = 96 shared weights + 3 shared biases + BN 2*9 = 117.
    assert c.params == 117
    assert c.elementwise == {"batch_norm": 2 * 9 * 40, "relu": 9 * 40}


def test_tgc_hand_counts():
    c = TiedGroupConv(c_in=64, c_out=128, k=3, B=4, groups=2, h=8, w=8).costs()
    # Shared conv 16 -> 32 in 2 groups: 32*(16/2)*9 = 2,304 weights (vs 128*64*9 = 73,728: /32).
    assert c.params == 2_304
    # MACs = 4 blocks x 2,304 x 64 positions = 589,824 (vs 4,718,592: /8).
    assert c.macs == 589_824


def test_params_ratio_is_exactly_b_squared():
    plain = Conv(c_in=64, c_out=64, k=3)
    assert ratio(plain, TiedBlockConv(c_in=64, c_out=64, k=3, B=4), "params") == B**2
    assert ratio(plain, TiedBlockConv(c_in=64, c_out=64, k=3, B=4), "macs") == B
    assert ratio(plain, TiedGroupConv(c_in=64, c_out=64, k=3, B=4), "params") == B**2 * groups
    assert ratio(plain, TiedGroupConv(c_in=64, c_out=64, k=3, B=4), "macs") == B * groups
    # Numbers: 64*64*9 = 36,864 params vs (16*16*9 = 2,304) = 36,864 / 16.
    assert plain.params() == 16 * TiedBlockConv(c_in=64, c_out=64, k=3, B=4).params() == 36_864


@pytest.mark.parametrize("cls, changes, field, words", [
    (TiedBlockConv, {"c_in": 10, "B": 4}, "B", "B must divide c_in"),
    (TiedBlockConv, {"c_out": 6, "B": 4}, "B", "B must divide c_out"),
    (TiedBlockConv, {"B": 0}, "B", "allowed is an integer >= 1"),
    (TiedGroupConv, {"c_in": 12, "B": 4, "groups": 2}, "groups", "groups must divide c_in/B"),
    (TiedGroupConv, {"c_out": 36, "B": 2, "groups": 4}, "groups", "groups must divide c_out/B"),
])
def test_bad_input(cls, changes, field, words):
    with pytest.raises(ValueError) as err:
        cls(**changes)
    message = str(err.value)
    assert f"{cls.__name__}.{field} = {changes[field]!r} is invalid" in message and words in message


def test_cli(capsys):
    assert main(["validate", "--batch", "2", "tbc", "--B", "4", "--h", "9", "--w", "9"]) == 0
    assert main(["query", "tgc", "--c-in", "10", "--B", "4"]) == 2
    assert "TiedGroupConv.B = 4 is invalid: B must divide c_in" in capsys.readouterr().err


def test_formulas_are_the_catalogue_ones():
    f = TiedGroupConv.formulas()
    ho = sp.floor((h + 2 * sp.floor(k / 2) - k) / stride) + 1
    wo = sp.floor((w + 2 * sp.floor(k / 2) - k) / stride) + 1
    # params (c_in/B)(c_out/B)k^2/g + shared bias c_out/B + BN 2*c_out; MACs c_in*c_out*k^2*h'w'/(B*g).
    assert sp.simplify(f.params - (c_in * c_out * k**2 / (B**2 * groups) + bias * c_out / B + 2 * bn * c_out)) == 0
    assert sp.simplify(f.macs["conv"] - c_in * c_out * k**2 * ho * wo / (B * groups)) == 0
