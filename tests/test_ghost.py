"""Ghost module (B1) and Ghost bottleneck (B2): exact counts vs fvcore and FlopCounterMode,
the paper's ratios derived by sympy, the reference SE rounding, and a Ghost-VGG-16 on CIFAR."""

from __future__ import annotations

import sympy as sp
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import costmodel
from costmodel.cli import main
from costmodel.designs.conv import Conv
from costmodel.designs.ghost import (VGG16_CIFAR, Ghost, GhostBottleneck, ghost_vgg16_cifar, make_divisible,
                                     se_width)
from costmodel.core.symbols import c_exp, c_in, c_out, d, k, s
from costmodel.validation import validate


def assert_exact(row: dict) -> None:
    """Every count the tracers make equals ours: params, conv/linear MACs (fvcore and
    FlopCounterMode/2), and each elementwise kind fvcore counts."""
    assert row["params_analytic"] == row["params_torch"], row
    assert row["conv_macs_analytic"] == row["conv_macs_fvcore"] == row["conv_macs_torch"], row
    assert row["linear_macs_analytic"] == row["linear_macs_fvcore"] == row["linear_macs_torch"], row
    assert row["match"], row


@st.composite
def ghost_specs(draw) -> Ghost:
    return Ghost(c_in=draw(st.integers(1, 24)), c_out=draw(st.integers(1, 24)), k=draw(st.integers(1, 5)),
                 s=draw(st.integers(2, 6)), d=draw(st.sampled_from([1, 3, 5])), stride=draw(st.integers(1, 3)),
                 h=draw(st.integers(1, 17)), w=draw(st.integers(1, 17)), relu=draw(st.booleans()))


@st.composite
def bottleneck_specs(draw) -> GhostBottleneck:
    return GhostBottleneck(c_in=draw(st.integers(1, 24)), c_exp=draw(st.integers(1, 40)),
                           c_out=draw(st.integers(1, 24)), k=draw(st.sampled_from([1, 3, 5])),
                           stride=draw(st.integers(1, 3)), se=draw(st.booleans()), s=draw(st.integers(2, 4)),
                           d=draw(st.sampled_from([1, 3])), h=draw(st.integers(1, 17)), w=draw(st.integers(1, 17)))


# --- exact agreement with the tracers -------------------------------------------------------

@given(spec=ghost_specs())
@example(spec=Ghost(c_in=7, c_out=13, k=3, s=3, d=5, stride=2, h=15, w=9, relu=False))  # s does not divide c_out
@example(spec=Ghost(c_in=5, c_out=7, k=2, s=4, d=1, stride=1, h=1, w=2))  # even k, 1-pixel map
def test_ghost_matches_trace(spec):
    assert_exact(validate(spec))


@given(spec=bottleneck_specs())
@example(spec=GhostBottleneck(c_in=16, c_exp=23, c_out=16, k=3, stride=1, se=True, h=9, w=7))  # identity
@example(spec=GhostBottleneck(c_in=5, c_exp=9, c_out=7, k=3, stride=3, se=False, s=3, d=1, h=11, w=10))
def test_bottleneck_matches_trace(spec):
    assert_exact(validate(spec))


def test_batch_of_three_matches_trace():
    assert_exact(validate(GhostBottleneck(c_in=8, c_exp=20, c_out=12, h=9, w=9), batch=3))


# --- hand-worked counts -----------------------------------------------------------------------

def test_ghost_counts_when_s_does_not_divide_c_out():
    spec = Ghost(c_in=7, c_out=13, k=3, s=3, d=5, stride=2, h=15, w=9, relu=False)
    c = spec.costs()
    # m = ceil(13/3) = 5 intrinsic maps, 5*(3-1) = 10 ghosts, 15 computed, 15 - 13 = 2 thrown away.
    assert c.extra == {"intrinsic_channels": 5, "ghost_channels": 10, "discarded_channels": 2}
    # h' = floor((15 + 2 - 3)/2) + 1 = 8, w' = floor((9 + 2 - 3)/2) + 1 = 5: 40 positions.
    # MACs = (7*5*9 + 10*25) * 40 = (315 + 250) * 40 = 22600.
    assert c.macs == 22600 and c.flops == 45200
    # params = 315 + 250 + BN 2*5 + 2*10 = 595.
    assert c.params == 595
    # BN: 2 ops x (5 + 10) channels x 40; no ReLU; concat copies but does no arithmetic.
    assert c.elementwise == {"batch_norm": 1200, "relu": 0, "concat": 0}


def test_bottleneck_reference_stage_counts():
    """GhostNet's [k=5, exp=72, out=40, se=0.25, stride=2] bottleneck on a 24 x 56 x 56 input."""
    c = GhostBottleneck(c_in=24, c_exp=72, c_out=40, k=5, stride=2, se=True, h=56, w=56).costs()
    # c_se = make_divisible(72/4 = 18, 4) = int(20)//4*4 = 20. h' = floor((56 + 4 - 5)/2) + 1 = 28.
    # ghost1 24->72, m=36: (24*36 + 36*9)*56*56 = 1188*3136 = 3,725,568
    # dw 72, 5x5, stride 2: 72*25*784 = 1,411,200; SE: 72*20 + 20*72 = 2,880
    # ghost2 72->40, m=20: (72*20 + 20*9)*784 = 1620*784 = 1,270,080
    # shortcut dw 24*25*784 = 470,400 + pw 24*40*784 = 752,640   -> total 7,632,768
    assert c.macs == 7_632_768
    assert c.extra["c_se"] == 20
    # SE pool reads 72*28*28 = 56,448 elements; multiply 56,448; residual add 40*784 = 31,360.
    assert c.elementwise["adaptive_avg_pool2d"] == 56_448
    assert c.elementwise["mul"] == 56_448 and c.elementwise["add"] == 31_360
    assert c.elementwise["hardsigmoid"] == 72


def test_bottleneck_identity_shortcut_and_se_rounding():
    c = GhostBottleneck(c_in=16, c_exp=23, c_out=16, k=3, stride=1, se=True, h=9, w=7).costs()
    # c_se = make_divisible(5.75, 4): int(7.75)//4*4 = 4 < 0.9*5.75 = 5.175, so 4 + 4 = 8.
    # ghost1 16->23, m=12: (16*12 + 12*9)*63 = 18,900; SE 23*8 + 8*23 = 368;
    # ghost2 23->16, m=8: (23*8 + 8*9)*63 = 16,128; no dw (stride 1), identity shortcut.
    assert c.macs == 18_900 + 368 + 16_128 == 35_396
    # params: ghost1 192 + 108 + BN 48 = 348; SE 23*8 + 8 + 8*23 + 23 = 399; ghost2 184 + 72 + 32 = 288.
    assert c.params == 348 + 399 + 288 == 1035
    # ReLU: ghost1's 24 computed maps x 63 = 1,512, plus the SE's 8; ghost2 has none.
    assert c.elementwise["relu"] == 1520
    assert c.elementwise["batch_norm"] == 2 * 24 * 63 + 2 * 16 * 63 == 5040


def test_se_width_follows_the_reference_rounding():
    # GhostNet 1.0x's SE widths: 72 -> 20, 120 -> 32, 480 -> 120, 672 -> 168, 960 -> 240.
    assert [make_divisible(c * 0.25, 4) for c in (72, 120, 480, 672, 960)] == [20, 32, 120, 168, 240]
    # The 10 % rule: c = 18: int(6.5)//4*4 = 4 < 4.05 -> 8; c = 17: 4 >= 3.825 -> 4.
    assert make_divisible(18 * 0.25, 4) == 8 and make_divisible(17 * 0.25, 4) == 4
    from costmodel.core.compile import compile_scalar, compile_vector
    import numpy as np

    scalar = compile_scalar([se_width(c_exp)], ["c_exp"])
    vector = compile_vector([se_width(c_exp)], ["c_exp"])
    widths = np.arange(1, 5000)
    expected = [make_divisible(int(c) * 0.25, 4) for c in widths]
    assert [scalar(int(c))[0] for c in widths] == expected
    assert vector(widths)[0].tolist() == expected


# --- the paper's ratios, derived by sympy -----------------------------------------------------

def test_speedup_and_compression_match_the_paper():
    r = costmodel.formula("ghost").extra
    paper = c_in * k**2 / (c_in * k**2 / s + (s - 1) * d**2 / s)  # Han et al. eq. (4) and (5)
    assert sp.simplify(r["r_s"] - paper) == 0
    assert sp.simplify(r["r_c"] - paper) == 0
    assert sp.simplify(r["r_s_d_eq_k"] - s * c_in / (s + c_in - 1)) == 0
    assert r["r_s_limit"] == s
    assert sp.limit(r["r_s"].subs(d, k), c_in, sp.oo) == s
    assert "\\frac" in sp.latex(r["r_s"])


def test_exact_speedup_includes_the_ceiling():
    r_exact = Ghost.ratios()["r_s_exact"]
    assert r_exact.has(sp.ceiling)
    # s | c_out: the ceiling disappears and the exact ratio is the paper's.
    t = sp.Symbol("t", integer=True, positive=True)
    assert sp.simplify(r_exact.subs(c_out, s * t) - Ghost.ratios()["r_s"]) == 0
    # c_in=64, c_out=100, k=d=3, s=3: m = 34 (102 computed). 64*100*9 / ((64*9 + 2*9)*34)
    # = 57600 / 20196 = 1600/561 = 2.85, below the paper's 3*64/66 = 32/11 = 2.91.
    ghost = Ghost(c_in=64, c_out=100, k=3, s=3, d=3, h=8, w=8)
    value = r_exact.subs({c_in: 64, c_out: 100, k: 3, s: 3, d: 3})
    assert value == sp.Rational(1600, 561)
    assert Conv(c_in=64, c_out=100, k=3, h=8, w=8).macs() * 561 == ghost.macs() * 1600


# --- Ghost-VGG-16 on CIFAR ------------------------------------------------------------------------

# Per layer (k = d = 3): MACs = (c_in*m*9 + m*(s-1)*9)*h*w = 9*m*(c_in + s - 1)*h*w, m = ceil(c_out/s).
# Layers (c_in -> c_out @ h*w): 3->64, 64->64 @ 1024 | 64->128, 128->128 @ 256 |
# 128->256, 256->256 x2 @ 64 | 256->512, 512->512 x2 @ 16 | 512->512 x3 @ 4.
# Plain VGG-16 convs: 9*[(3*64 + 64*64)*1024 + (64*128 + 128*128)*256 + (128*256 + 2*256^2)*64
#                        + (256*512 + 2*512^2)*16 + 3*512^2*4] = 313,196,544 MACs.
VGG16_PLAIN_MACS = 313_196_544

GHOST_VGG16_MACS = {
    # s=2, m = 32, 64, 128, 256:
    # 9*32*4*1024 + 9*32*65*1024 = 1,179,648 + 19,169,280          = 20,348,928
    # 9*64*65*256 + 9*64*129*256 = 9,584,640 + 19,021,824          = 28,606,464
    # 9*128*129*64 + 2*9*128*257*64 = 9,510,912 + 2*18,948,096     = 47,407,104
    # 9*256*257*16 + 2*9*256*513*16 = 9,474,048 + 2*18,911,232     = 47,296,512
    # 3*9*256*513*4 = 3*4,727,808                                   = 14,183,424
    2: 157_842_432,
    # s=3, m = ceil(64/3)=22, ceil(128/3)=43, ceil(256/3)=86, ceil(512/3)=171:
    # 9*22*5*1024 + 9*22*66*1024 = 1,013,760 + 13,381,632          = 14,395,392
    # 9*43*66*256 + 9*43*130*256 = 6,538,752 + 12,879,360          = 19,418,112
    # 9*86*130*64 + 2*9*86*258*64 = 6,439,680 + 2*12,780,288       = 32,000,256
    # 9*171*258*16 + 2*9*171*514*16 = 6,352,992 + 2*12,656,736     = 31,666,464
    # 3*9*171*514*4 = 3*3,164,184                                   = 9,492,552
    3: 106_972_776,
    # s=4, m = 16, 32, 64, 128:
    # 9*16*6*1024 + 9*16*67*1024 = 884,736 + 9,879,552             = 10,764,288
    # 9*32*67*256 + 9*32*131*256 = 4,939,776 + 9,658,368           = 14,598,144
    # 9*64*131*64 + 2*9*64*259*64 = 4,829,184 + 2*9,547,776        = 23,924,736
    # 9*128*259*16 + 2*9*128*515*16 = 4,773,888 + 2*9,492,480      = 23,758,848
    # 3*9*128*515*4 = 3*2,373,120                                   = 7,119,360
    4: 80_165_376,
    # s=5, m = ceil(64/5)=13, ceil(128/5)=26, ceil(256/5)=52, ceil(512/5)=103:
    # 9*13*7*1024 + 9*13*68*1024 = 838,656 + 8,146,944             = 8,985,600
    # 9*26*68*256 + 9*26*132*256 = 4,073,472 + 7,907,328           = 11,980,800
    # 9*52*132*64 + 2*9*52*260*64 = 3,953,664 + 2*7,787,520        = 19,528,704
    # 9*103*260*16 + 2*9*103*516*16 = 3,856,320 + 2*7,653,312      = 19,162,944
    # 3*9*103*516*4 = 3*1,913,328                                   = 5,739,984
    5: 65_398_032,
}


@pytest.mark.parametrize("ratio", [2, 3, 4, 5])
def test_ghost_vgg16_cifar_macs(ratio):
    layers = ghost_vgg16_cifar(ratio)
    assert len(layers) == 13
    total = sum(layer.macs() for layer in layers)
    assert total == GHOST_VGG16_MACS[ratio]
    # MACs fall roughly as 1/s: 313.2 M / 157.8 M = 1.98, / 107.0 M = 2.93, / 80.2 M = 3.91,
    # / 65.4 M = 4.79. Below s (the cheap op and the rounded-up m cost a little), above 0.95*s.
    assert 0.95 * ratio < VGG16_PLAIN_MACS / total < ratio


def test_ghost_vgg16_cifar_stack_matches_trace():
    """The whole s=3 stack (max pools between stages) traced at once: conv MACs and params."""
    import torch
    from torch import nn

    from costmodel.peers.trace import trace

    layers = ghost_vgg16_cifar(3)
    remaining = iter(layers)
    modules = [nn.MaxPool2d(2) if item == "M" else next(remaining).module() for item in VGG16_CIFAR]
    counts = trace(nn.Sequential(*modules).eval(), torch.randn(1, 3, 32, 32))
    assert counts.fvcore_macs["conv"] == counts.fcm_macs["conv"] == GHOST_VGG16_MACS[3]
    assert counts.params == sum(layer.params() for layer in layers)


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, field, words", [
    ({"s": 1}, "s", "allowed is an integer >= 2"),
    ({"s": 0}, "s", "allowed is an integer >= 2"),
    ({"d": 4}, "d", "d must be odd"),
    ({"d": 0}, "d", "allowed is an integer >= 1"),
    ({"d": -3}, "d", "allowed is an integer >= 1"),
    ({"c_out": 0}, "c_out", "allowed is an integer >= 1"),
])
def test_ghost_bad_input_names_field_value_and_range(changes, field, words):
    with pytest.raises(ValueError) as err:
        Ghost(**changes)
    message = str(err.value)
    assert f"Ghost.{field} = {changes[field]!r} is invalid" in message and words in message


@pytest.mark.parametrize("changes, words", [({"k": 4}, "k must be odd"), ({"d": 2}, "d must be odd"),
                                            ({"s": 1}, "allowed is an integer >= 2")])
def test_bottleneck_bad_input(changes, words):
    with pytest.raises(ValueError, match=words):
        GhostBottleneck(**changes)


# --- CLI ------------------------------------------------------------------------------------------

def test_cli_query_and_validate_ghost(capsys):
    args = ["--c-in", "7", "--c-out", "13", "--k", "3", "--s", "3", "--d", "5", "--stride", "2",
            "--h", "15", "--w", "9", "--no-relu"]
    assert main(["query", "ghost", *args]) == 0
    out = capsys.readouterr().out
    assert "22,600" in out and "595" in out  # MACs and params, as worked out above
    assert main(["validate", "ghost", *args]) == 0
    assert main(["query", "ghost", "--s", "1"]) == 2
    assert "Ghost.s = 1 is invalid" in capsys.readouterr().err
