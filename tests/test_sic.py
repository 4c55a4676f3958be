"""SIC (D1), topological subdivisioning (D2), SIC + subdivisioning and the spatial bottleneck (D3).

Wang, Liu, Foroosh 2016, https://arxiv.org/abs/1608.04337. Each design: hand-worked numbers, the
closed-form formula vs the trace (fvcore and FlopCounterMode) vs torch params on hypothesis
configs, the neighbourhood index table, the two SIC variants, fvcore's transposed-conv count,
bad input, the symbolic ratios and the paper's one-layer table.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st

from costmodel.cli import main
from costmodel.designs.conv import Conv
from costmodel.designs.sic import (
    SIC,
    STANDARD_MACS,
    SICSubdivided,
    SpatialBottleneck,
    Subdivision,
    neighbourhood_table,
    ratios,
    sic_large_n_ratio,
    window_offsets,
)
from costmodel.core.symbols import b, c_nbr, k, n
from costmodel.papers import paper_table
from costmodel.peers.trace import trace
from costmodel.validation import validate

# --- strategies -------------------------------------------------------------------------------


@st.composite
def layouts(draw):
    """A channel layout (dims) and a window (neighbourhood) with c_i <= d_i; prod(dims) <= 64."""
    rank = draw(st.integers(1, 3), label="rank")
    dims = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    nbr = tuple(draw(st.integers(1, d)) for d in dims)
    return dims, nbr


odd_k = st.sampled_from([1, 3, 5])
side = st.integers(1, 9)


def assert_traced_exactly(spec) -> dict:
    row = validate(spec)
    assert row["params_match"] and row["conv_match"] and row["linear_match"], row
    assert row["match"], row
    return row


# --- hand-worked numbers ------------------------------------------------------------------------


def test_sic_hand_numbers():
    seq = SIC(n=4, k=3, b=2, h=5, w=5)
    # b*(n*k^2 + n^2)*h*w = 2*(4*9 + 16)*25 = 2*52*25 = 2600 MACs
    assert seq.macs() == 2600
    # b*(n*k^2 + n^2) = 2*(36 + 16) = 104 params (no bias)
    assert seq.params() == 104
    # residual adds: b*n*h*w = 2*4*25 = 200; parallel sums: (b-1)*n*h*w = 100
    assert seq.costs().elementwise["add"] == 200
    assert seq.replace(variant="parallel").costs().elementwise["add"] == 100


def test_subdivision_hand_numbers():
    spec = Subdivision(n=6, dims=(6,), neighbourhood=(3,), k=3, h=4, w=5)
    # n*c*k^2*h*w = 6*3*9*20 = 3240 MACs; n*c*k^2 = 162 params
    assert spec.macs() == 3240
    assert spec.params() == 162


def test_sic_subdivided_hand_numbers():
    spec = SICSubdivided(n=6, dims=(2, 3), neighbourhood=(2, 2), k=3, b=3, h=4, w=4)
    # c = 2*2 = 4; b*(n*k^2 + n*c)*h*w = 3*(54 + 24)*16 = 3*78*16 = 3744 MACs; params 3*78 = 234
    assert spec.macs() == 3744
    assert spec.params() == 234


def test_spatial_bottleneck_hand_numbers():
    spec = SpatialBottleneck(n=3, k=2, h=4, w=6)
    # down: n^2*k^2*(h/k)*(w/k) = 9*4*2*3 = 216; up (transposed): n*n*k^2*2*3 = 216; total 432 = 2*n^2*h*w
    assert spec.macs() == 432 == 2 * 9 * 24
    assert spec.params() == 72  # 2*n^2*k^2 = 2*9*4
    padded = SpatialBottleneck(n=2, k=3, h=4, w=5, pad=True)
    # ceil(4/3) = ceil(5/3) = 2: 2 * n^2*k^2*2*2 = 2*4*9*4 = 288 MACs
    assert padded.macs() == 288


def test_standard_macs_is_the_registered_conv_for_odd_k():
    # n^2*k^2*h*w: for n=5, k=3, h=7, w=4: 25*9*28 = 6300
    assert Conv(c_in=5, c_out=5, k=3, h=7, w=4).macs() == 6300
    for nn_, kk, hh, ww in [(5, 3, 7, 4), (3, 5, 6, 6), (2, 1, 3, 9)]:
        value = STANDARD_MACS.subs({n: nn_, k: kk, sp.Symbol("h", integer=True, positive=True): hh,
                                    sp.Symbol("w", integer=True, positive=True): ww})
        assert Conv(c_in=nn_, c_out=nn_, k=kk, h=hh, w=ww).macs() == value


# --- formula vs trace vs params on hypothesis configs -------------------------------------------


@given(nn_=st.integers(1, 12), k_=odd_k, b_=st.integers(1, 4), h_=side, w_=side,
       variant=st.sampled_from(["sequential", "parallel"]))
def test_sic_formula_trace_params(nn_, k_, b_, h_, w_, variant):
    spec = SIC(n=nn_, k=k_, b=b_, h=h_, w=w_, variant=variant)
    assert spec.macs() == b_ * (nn_ * k_**2 + nn_**2) * h_ * w_
    assert spec.params() == b_ * (nn_ * k_**2 + nn_**2)
    adds = b_ if variant == "sequential" else b_ - 1
    assert spec.costs().elementwise["add"] == adds * nn_ * h_ * w_
    assert_traced_exactly(spec)


@given(layout=layouts(), k_=odd_k, h_=side, w_=side)
def test_subdivision_formula_trace_params(layout, k_, h_, w_):
    dims, nbr = layout
    nn_, c = math.prod(dims), math.prod(nbr)
    spec = Subdivision(n=nn_, dims=dims, neighbourhood=nbr, k=k_, h=h_, w=w_)
    assert spec.macs() == nn_ * c * k_**2 * h_ * w_
    assert spec.params() == nn_ * c * k_**2
    row = assert_traced_exactly(spec)
    assert row["conv_macs_fvcore"] == nn_ * c * k_**2 * h_ * w_  # not n^2*k^2*h*w


@given(layout=layouts(), k_=odd_k, b_=st.integers(1, 3), h_=side, w_=side,
       variant=st.sampled_from(["sequential", "parallel"]))
def test_sic_subdivided_formula_trace_params(layout, k_, b_, h_, w_, variant):
    dims, nbr = layout
    nn_, c = math.prod(dims), math.prod(nbr)
    spec = SICSubdivided(n=nn_, dims=dims, neighbourhood=nbr, k=k_, b=b_, h=h_, w=w_, variant=variant)
    assert spec.macs() == b_ * (nn_ * k_**2 + nn_ * c) * h_ * w_
    assert spec.params() == b_ * (nn_ * k_**2 + nn_ * c)
    assert_traced_exactly(spec)


@given(nn_=st.integers(1, 12), k_=st.integers(1, 4), hq=st.integers(1, 5), wq=st.integers(1, 5),
       extra_h=st.integers(0, 3), extra_w=st.integers(0, 3))
def test_spatial_bottleneck_formula_trace_params(nn_, k_, hq, wq, extra_h, extra_w):
    # exact multiples of k: 2*n^2*h*w
    spec = SpatialBottleneck(n=nn_, k=k_, h=k_ * hq, w=k_ * wq)
    assert spec.macs() == 2 * nn_**2 * (k_ * hq) * (k_ * wq)
    assert spec.params() == 2 * nn_**2 * k_**2
    assert_traced_exactly(spec)
    # padding rule: h, w padded up to k*ceil(h/k), k*ceil(w/k)
    h_, w_ = k_ * hq + min(extra_h, k_ - 1), k_ * wq + min(extra_w, k_ - 1)
    padded = SpatialBottleneck(n=nn_, k=k_, h=h_, w=w_, pad=True)
    assert padded.macs() == 2 * nn_**2 * k_**2 * (-(-h_ // k_)) * (-(-w_ // k_))
    assert_traced_exactly(padded)


@pytest.mark.parametrize("spec", [
    SIC(n=5, k=3, b=2, h=6, w=7), SIC(n=5, k=5, b=3, h=6, w=7, variant="parallel"),
    Subdivision(n=12, dims=(3, 4), neighbourhood=(2, 3), k=3, h=5, w=6),
    SICSubdivided(n=8, dims=(2, 2, 2), neighbourhood=(1, 2, 2), k=3, b=2, h=5, w=3),
    SpatialBottleneck(n=4, k=2, h=6, w=8), SpatialBottleneck(n=4, k=3, h=7, w=5, pad=True),
], ids=lambda s: s.name)
def test_output_keeps_n_h_w(spec):
    out = spec.module()(spec.example_input())
    assert tuple(out.shape) == (1, spec.n, spec.h, spec.w)


# --- the wrap-around neighbourhood ----------------------------------------------------------------


def test_window_offsets():
    assert list(window_offsets(1)) == [0]
    assert list(window_offsets(2)) == [-1, 0]
    assert list(window_offsets(3)) == [-1, 0, 1]
    assert list(window_offsets(4)) == [-2, -1, 0, 1]


def test_table_1d_by_hand():
    # 6 channels in a ring, window 3: o reads o-1, o, o+1 (mod 6)
    assert neighbourhood_table((6,), (3,)) == [
        [5, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 0]]


def test_table_2d_by_hand():
    # layout 2 x 3 (channel = 3*row + col), window 2 x 2 with offsets (-1, 0) on each axis,
    # listed row-major over the offsets: (r-1,c-1), (r-1,c), (r,c-1), (r,c), all mod (2, 3).
    # o=0 at (0,0): (1,2)=5, (1,0)=3, (0,2)=2, (0,0)=0;  o=4 at (1,1): (0,0)=0, (0,1)=1, (1,0)=3, (1,1)=4
    assert neighbourhood_table((2, 3), (2, 2)) == [
        [5, 3, 2, 0],
        [3, 4, 0, 1],
        [4, 5, 1, 2],
        [2, 0, 5, 3],
        [0, 1, 3, 4],
        [1, 2, 4, 5],
    ]


@given(layout=layouts())
def test_every_output_reads_exactly_c_distinct_inputs(layout):
    dims, nbr = layout
    nn_, c = math.prod(dims), math.prod(nbr)
    table = neighbourhood_table(dims, nbr)
    assert len(table) == nn_
    assert all(len(row) == c and len(set(row)) == c for row in table)
    assert all(o in row for o, row in enumerate(table))  # the window contains its centre
    # symmetric windows under wrap-around: every input feeds exactly c outputs
    uses = [0] * nn_
    for row in table:
        for i in row:
            uses[i] += 1
    assert uses == [c] * nn_


def test_module_connects_each_output_only_to_its_table_row():
    # Perturb one input channel at a time; only the outputs whose table row holds it may change.
    spec = Subdivision(n=12, dims=(3, 4), neighbourhood=(2, 3), k=1, h=2, w=2)
    table = neighbourhood_table(spec.dims, spec.neighbourhood)
    module = spec.module()
    gather = module[0]
    assert gather.index.tolist() == [i for row in table for i in row]
    x = spec.example_input()
    with torch.no_grad():
        base = module(x)
        for j in range(spec.n):
            bumped = x.clone()
            bumped[:, j] += 1.0
            changed = {o for o in range(spec.n) if not torch.allclose(module(bumped)[:, o], base[:, o])}
            assert changed == {o for o, row in enumerate(table) if j in row}


# --- sequential vs parallel SIC ---------------------------------------------------------------------


@pytest.mark.parametrize("cls,extra", [(SIC, {}), (SICSubdivided, dict(n=6, dims=(2, 3), neighbourhood=(2, 2)))])
def test_sequential_and_parallel_same_macs_different_outputs(cls, extra):
    fields = dict(n=6, k=3, b=3, h=5, w=4) | extra
    seq, par = cls(**fields, variant="sequential"), cls(**fields, variant="parallel")
    assert seq.macs() == par.macs() and seq.params() == par.params()
    # adds differ: b*n*h*w = 3*6*20 = 360 vs (b-1)*n*h*w = 240
    assert seq.costs().elementwise["add"] == 360 and par.costs().elementwise["add"] == 240
    row_seq, row_par = assert_traced_exactly(seq), assert_traced_exactly(par)
    assert row_seq["conv_macs_fvcore"] == row_par["conv_macs_fvcore"] == seq.macs()
    m_seq, m_par = seq.module(), par.module()
    m_par.load_state_dict(m_seq.state_dict())  # same weights: only the wiring differs
    x = seq.example_input()
    with torch.no_grad():
        assert not torch.allclose(m_seq(x), m_par(x))


# --- fvcore on transposed conv (upstream fvcore issue #78) ---------------------------------------


@pytest.mark.parametrize("cin,cout,kk,groups,h_,w_", [(8, 8, 2, 1, 5, 7), (6, 9, 3, 3, 4, 4), (4, 6, 3, 2, 3, 5)])
def test_fvcore_transposed_conv_agrees_with_flop_counter(cin, cout, kk, groups, h_, w_):
    # fvcore 0.1.5.post20221221 + torch 2.13 count cin*(cout/g)*k^2*H_in*W_in, like FlopCounterMode/2;
    # a regression of fvcore issue #78 (a count based on the output size or missing groups) fails here.
    layer = torch.nn.ConvTranspose2d(cin, cout, kk, stride=kk, groups=groups, bias=False)
    counts = trace(layer, torch.randn(1, cin, h_, w_))
    expected = cin * (cout // groups) * kk * kk * h_ * w_  # e.g. 8*8*4*35 = 8960 for the first case
    assert counts.fcm_macs["conv"] == expected
    assert counts.fvcore_macs["conv"] == expected


def test_spatial_bottleneck_transposed_half_is_counted_by_both():
    spec = SpatialBottleneck(n=4, k=2, h=4, w=6)
    counts = trace(spec.module().up, torch.randn(1, 4, 2, 3))
    # up: n*n*k^2*(h/k)*(w/k) = 4*4*4*2*3 = 384 MACs, by fvcore and FlopCounterMode/2 alike
    assert counts.fvcore_macs["conv"] == counts.fcm_macs["conv"] == 384


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("build,needle", [
    (lambda: Subdivision(n=12, dims=(3, 3), neighbourhood=(1, 1)), "prod(dims) = n"),
    (lambda: SICSubdivided(n=12, dims=(2, 2, 2), neighbourhood=(1, 1, 1)), "prod(dims) = n"),
    (lambda: Subdivision(n=12, dims=(3, 4), neighbourhood=(4, 1)), "c = 4 > d = 3"),
    (lambda: SICSubdivided(n=12, dims=(3, 4), neighbourhood=(1, 5)), "c = 5 > d = 4"),
    (lambda: Subdivision(n=12, dims=(3, 4), neighbourhood=(3,)), "one size per axis"),
    (lambda: Subdivision(n=12, dims="3,a", neighbourhood=(1, 1)), "tuple of integers"),
    (lambda: Subdivision(n=12, dims=(3, 4), neighbourhood=(0, 1)), "tuple of integers"),
    (lambda: SpatialBottleneck(k=2, h=15, w=8), "multiple of k"),
    (lambda: SpatialBottleneck(k=3, h=9, w=10), "multiple of k"),
    (lambda: SIC(b=0), "integer >= 1"),
    (lambda: SICSubdivided(b=0), "integer >= 1"),
    (lambda: SIC(k=4), "odd k"),
    (lambda: SIC(variant="zigzag"), "'sequential', 'parallel'"),
])
def test_bad_input_raises_clear_value_error(build, needle):
    with pytest.raises(ValueError) as err:
        build()
    assert needle in str(err.value) and "is invalid" in str(err.value)


def test_layout_written_as_text_is_accepted():
    assert Subdivision(n=24, dims="2x3x4", neighbourhood="1,3,3").dims == (2, 3, 4)


# --- ratios -----------------------------------------------------------------------------------------


def test_ratios_simplify():
    r = ratios()
    assert sp.simplify(r["sic"] - b * (k**2 + n) / (k**2 * n)) == 0
    assert sp.simplify(r["sic"] - (b / k**2 + b / n)) == 0
    assert sic_large_n_ratio() == b / k**2
    assert r["subdivision"] == c_nbr / n
    assert sp.simplify(r["sic_subdivided"] - b * (k**2 + c_nbr) / (k**2 * n)) == 0
    assert r["spatial_bottleneck"] == 2 / k**2


@pytest.mark.parametrize("name", ["sic", "subdivision", "sic_subdivided", "spatial_bottleneck"])
def test_ratios_agree_with_the_registered_conv(name):
    # cm.ratio against the registered conv (c_in = c_out = n, stride 1, odd k = 2j+1 so that
    # same padding keeps h x w); the bottleneck also needs k | h, w. Back-substituting j = (k-1)/2
    # must give ratios()[name].
    from costmodel.core.symbols import c_in, c_out, h, stride, w
    from costmodel.validation import ratio

    j = sp.Symbol("j", integer=True, nonnegative=True)
    hq, wq = sp.symbols("hq wq", integer=True, positive=True)
    subs = {c_in: n, c_out: n, stride: 1, k: 2 * j + 1}
    if name == "spatial_bottleneck":
        subs.update({h: (2 * j + 1) * hq, w: (2 * j + 1) * wq})
    against_conv = sp.simplify(ratio(name, "conv", substitutions=subs).subs(j, (k - 1) / 2))
    assert sp.simplify(against_conv - ratios()[name]) == 0


# --- the paper's one-layer table ----------------------------------------------------------------


def test_paper_table_numbers():
    frame = paper_table()  # n = 256 at 56 x 56; hw = 3136
    macs = dict(zip(frame["design"] + " " + frame["spec"], frame["MACs"]))
    rows = list(frame["MACs"])
    assert rows[0] == 1_849_688_064  # 256^2 * 9 * 3136
    assert rows[1:4] == [b_ * (256 * 9 + 256**2) * 3136 for b_ in (1, 2, 4)]  # 212,746,240 for b=1
    assert rows[4] == 256 * 9 * 9 * 3136  # 16x16 layout, 3x3 window: c = 9 -> 65,028,096
    assert rows[5:7] == [b_ * (256 * 9 + 256 * 9) * 3136 for b_ in (2, 4)]
    assert rows[7] == 2 * 256**2 * 3136  # k=2: 411,041,792
    assert rows[8] == 2 * 256**2 * 9 * 19 * 19  # k=3 padded to 57x57: 425,852,928
    assert len(macs) == 9
    assert list(frame["params"])[:2] == [589_824, 67_840]  # 256^2*9; 256*9 + 256^2


def test_paper_table_traces_exactly_small():
    frame = paper_table(n=16, size_=10, trace=True)
    assert frame["traced"].all()


@pytest.mark.parametrize("n, size", [(16, 9), (1, 1), (7, 3)])
def test_paper_table_takes_any_n_and_size(n, size):
    # odd sizes: both spatial bottleneck rows zero-pad up to a multiple of k (an error before);
    # n = 1: a 1x1 layout with a 1x1 window; n = 7 (not a square): a 1-D layout of 7 with c = 7
    frame = paper_table(n=n, size_=size, trace=True)
    assert frame["traced"].all()
    sb2 = frame[frame["spec"].str.contains("k=2")].iloc[0]
    assert ("pad=True" in sb2["spec"]) == (size % 2 == 1)


# --- CLI and lazy torch -----------------------------------------------------------------------------


def test_cli_validate_query_and_errors(capsys):
    assert main(["validate", "sic", "--n", "16", "--h", "6", "--w", "6"]) == 0
    assert main(["validate", "subdivision", "--n", "12", "--dims", "3,4", "--neighbourhood", "2,3",
                 "--h", "4", "--w", "4"]) == 0
    assert main(["query", "spatial_bottleneck", "--k", "3", "--h", "10", "--w", "9", "--pad"]) == 0
    assert main(["query", "subdivision", "--n", "12", "--dims", "3,3"]) == 2
    assert "prod(dims) = n" in capsys.readouterr().err
    assert main(["sic-paper", "--n", "16", "--size", "8"]) == 0
    assert "b/k**2" in capsys.readouterr().out


def test_import_does_not_load_torch():
    code = ("import sys, costmodel.designs.sic as m; m.SIC().costs(); m.ratios(); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
