"""Dynamic Group Convolution: formulas vs the traced inference path, skipping loses nothing,
the paper's savings ratio, the dense training path, and bad input."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from fractions import Fraction

import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st

from costmodel.designs.dgc import DGC
from costmodel.core.symbols import c_in, c_out, d, h_out, k, w_out, zeta
from costmodel.peers.flopcounter import counts as flop_counter_counts
from costmodel.peers.fvcore import counts as fvcore_counts
from costmodel.validation import compare, validate


def assert_trace_matches(spec: DGC, batch: int) -> dict:
    row = validate(spec, batch)
    bad = {key: val for key, val in row.items() if key.endswith("_match") and not val}
    assert row["match"], f"{row['spec']} batch {batch}: {bad} {row}"
    return row


def randomized(spec: DGC, seed: int = 0):
    """The eval-mode module with non-trivial BN statistics, so BN is not the identity."""
    torch.manual_seed(seed)
    module = spec.module()
    with torch.no_grad():
        module.bn.running_mean.uniform_(-0.5, 0.5)
        module.bn.running_var.uniform_(0.5, 2.0)
        module.bn.weight.uniform_(0.5, 1.5)
        module.bn.bias.uniform_(-0.2, 0.2)
    return module


# --- hand-worked numbers ------------------------------------------------------------------


def test_small_config_by_hand():
    spec = DGC(c_in=8, c_out=4, k=3, stride=1, H=2, zeta=0.5, d=2, h=4, w=4)
    c = spec.costs()
    # kept = 8 - floor(0.5*8) = 4; m = 8//2 = 4; h' = w' = 4 (same padding)
    assert c.extra["kept"] == 4
    assert c.macs_by_key["conv"] == 2304  # c_out*kept*k^2*h'w' = 4*4*9*16
    assert c.macs_by_key["linear"] == 128  # H*(c*m + m*c) = 2*(32 + 32)
    assert c.extra["dense_macs"] == 4608  # 4*8*9*16
    # filters 4*8*9 = 288; fc1 2*4*8 = 64; fc2 2*4*8 = 64 + bias 2*8 = 16; BN 2*4 = 8 -> 440
    assert c.params == 440
    assert c.elementwise["adaptive_avg_pool2d"] == 128  # 8*4*4
    assert c.elementwise["batch_norm"] == 128  # 2*4*16
    # savings = 1 - (128 + 2304)/4608 = 2176/4608 = 17/36; paper: 1/2 - 2*2*8/(2*9*4*16) = 1/2 - 1/36
    assert spec.savings() == Fraction(17, 36)
    assert spec.savings_paper() == Fraction(17, 36)


def test_kept_rounds_like_the_module():
    # floor(0.25*10) = floor(2.5) = 2 -> 8 kept, not the paper's 7.5
    assert DGC(c_in=10, c_out=6, H=3, zeta=0.25, d=3).costs().extra["kept"] == 8
    # 0.29*100 is 28.999999999999996 in floating point: floor 28 -> 72 kept, and the module agrees
    spec = DGC(c_in=100, c_out=4, H=2, zeta=0.29, d=10, h=3, w=3)
    assert spec.costs().extra["kept"] == 72
    assert spec.module().kept == 72


def test_cli_query_shows_expected_and_dense_side_by_side():
    from costmodel.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["query", "dgc", "--zeta", "0.5"]) == 0
    text = out.getvalue()
    # defaults c=n=64, k=3, 56x56, H=4, d=16: dense = 64*64*9*3136 = 115,605,504;
    # expected = 64*32*9*3136 + 4*2*64*4 = 57,802,752 + 2,048 = 57,804,800
    assert "dense_macs" in text and "115,605,504" in text
    assert "expected MACs" in text and "57,804,800" in text
    # exact savings = 1 - 57,804,800/115,605,504 = 0.4999823...
    assert "0.499982" in text


def test_cli_compare_executed_column():
    from costmodel.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["compare", "--executed", "dgc"]) == 0
    text = out.getvalue()
    assert "executed MACs" in text and "dense MACs" in text
    assert text.count("57,804,800") == 2  # expected (MACs column) and executed, same numbers as above


def test_compare_row_has_dense_expected_and_executed():
    row = compare([DGC(c_in=16, c_out=8, H=2, zeta=0.75, d=4, h=5, w=5)], executed=True).iloc[0]
    # kept = 16 - 12 = 4; conv = 8*4*9*25 = 7200; linear = 2*2*16*4 = 256; dense = 8*16*9*25 = 28800
    assert row["MACs"] == 7456
    assert row["executed MACs"] == 7456
    assert row["dense MACs"] == 28800


# --- formula == trace on the inference path -------------------------------------------------

@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("zeta_", [0.0, 0.25, 0.5, 0.75])
@pytest.mark.parametrize("heads,squeeze", [(1, 1), (2, 3), (4, 12)])
def test_grid_matches_trace(batch, zeta_, heads, squeeze):
    spec = DGC(c_in=12, c_out=8, k=3, stride=1, H=heads, zeta=zeta_, d=squeeze, h=6, w=6)
    row = assert_trace_matches(spec, batch)
    kept_ = {0.0: 12, 0.25: 9, 0.5: 6, 0.75: 3}[zeta_]  # 12 - floor(12*zeta)
    # conv: batch * c_out*kept*k^2*h'w' = batch * 8*kept*9*36; linear: batch * H*2*12*(12//d)
    assert row["conv_macs_fvcore"] == batch * 8 * kept_ * 9 * 36
    assert row["linear_macs_fvcore"] == batch * heads * 2 * 12 * (12 // squeeze)


@st.composite
def dgc_specs(draw):
    heads = draw(st.integers(1, 4), label="H")
    cin = draw(st.integers(1, 24), label="c_in")
    return DGC(c_in=cin, c_out=heads * draw(st.integers(1, 4), label="c_out/H"),
               k=draw(st.sampled_from([1, 3, 5]), label="k"), stride=draw(st.integers(1, 2), label="stride"),
               H=heads, zeta=draw(st.one_of(st.sampled_from([0.0, 0.25, 0.5, 0.75]),
                                            st.floats(0, 1, exclude_max=True)), label="zeta"),
               d=draw(st.integers(1, cin), label="d"),
               h=draw(st.integers(1, 11), label="h"), w=draw(st.integers(1, 11), label="w"))


@given(spec=dgc_specs(), batch=st.sampled_from([1, 8]))
def test_random_specs_match_trace(spec, batch):
    row = assert_trace_matches(spec, batch)
    kept_ = spec.c_in - int(spec.zeta * spec.c_in)  # the module's rounding, written independently
    ho = (spec.h - 1) // spec.stride + 1  # odd k, same padding
    wo = (spec.w - 1) // spec.stride + 1
    assert row["conv_macs_torch"] == batch * spec.c_out * kept_ * spec.k ** 2 * ho * wo


# --- skipping loses nothing -----------------------------------------------------------------

@pytest.mark.parametrize("cfg", [dict(c_in=16, c_out=8, H=2, zeta=0.5, d=4, k=3, h=7, w=7),
                                 dict(c_in=9, c_out=6, H=3, zeta=0.75, d=2, k=3, stride=2, h=8, w=5),
                                 dict(c_in=5, c_out=4, H=4, zeta=0.0, d=1, k=1, h=3, w=3),
                                 dict(c_in=32, c_out=32, H=4, zeta=0.3, d=16, k=5, h=6, w=6)])
def test_sparse_output_equals_masked_dense_output(cfg):
    spec = DGC(**cfg)
    module = randomized(spec)
    x = spec.example_input(4, seed=1)
    with torch.no_grad():
        sparse = module.forward_sparse(x)
        dense = module.forward_masked(x)
    assert sparse.shape == dense.shape
    torch.testing.assert_close(sparse, dense, rtol=1e-4, atol=1e-5)


def test_batch_selects_per_sample_and_matches_single_runs():
    spec = DGC(c_in=16, c_out=8, H=2, zeta=0.5, d=4, h=6, w=6)
    module = randomized(spec, seed=3)
    x = spec.example_input(6, seed=2)
    with torch.no_grad():
        batched = module(x)
        idx = module.last_indices.sort(dim=2).values
        singles = torch.cat([module(x[i:i + 1]) for i in range(6)])
    # samples really choose different channel sets (otherwise this test proves nothing)
    assert any(not torch.equal(idx[0], idx[i]) for i in range(1, 6))
    torch.testing.assert_close(batched, singles, rtol=1e-4, atol=1e-5)


# --- the training path is dense and counted as such ------------------------------------------

def test_training_path_is_dense_and_counted_separately():
    spec = DGC(c_in=12, c_out=8, H=2, zeta=0.5, d=3, h=6, w=6)
    module = spec.module().train()
    x = spec.example_input(2)
    fcm = flop_counter_counts(module, x)
    fv, _ = fvcore_counts(module, x)
    # dense conv per sample: 8*12*9*36 = 31104 (not 8*6*9*36 = 15552); linear: 2*2*12*4 = 192
    assert fcm["aten.convolution"] // 2 == 2 * 31104 == fv["conv"]
    assert spec.training_costs().macs_by_key == {"conv": 31104, "linear": 192}
    assert spec.executed_costs(module, 2).macs_by_key["conv"] == 31104
    assert spec.costs().macs_by_key["conv"] == 15552  # the inference formula stays the sparse one


def test_training_gradients_reach_only_kept_channels():
    spec = DGC(c_in=12, c_out=8, H=2, zeta=0.5, d=3, h=5, w=5)
    module = spec.module().train()
    module(spec.example_input(1)).sum().backward()
    idx = module.last_indices[0]  # (H, kept) channels each head kept for the one sample
    grad = module.weight.grad.view(2, 4, 12, 3, 3)  # heads x outputs per head x c_in x k x k
    for head in range(2):
        pruned = sorted(set(range(12)) - set(idx[head].tolist()))
        assert len(pruned) == 6
        assert torch.count_nonzero(grad[head][:, pruned]) == 0
        assert torch.count_nonzero(grad[head][:, idx[head]]) > 0


def test_executed_costs_follow_what_the_module_ran():
    from costmodel.peers.trace import trace

    spec = DGC(c_in=12, c_out=8, H=2, zeta=0.5, d=3, h=6, w=6)
    module = spec.module()
    module.kept = 2  # a module that keeps fewer channels than zeta says (e.g. a tuned threshold)
    counts = trace(module, spec.example_input(8))
    executed = spec.executed_costs(module, 8)
    # conv: 8 samples * c_out*2*k^2*h'w' = 8 * 8*2*9*36 = 41472; expected would be 8 * 15552
    assert counts.fvcore_macs["conv"] == counts.fcm_macs["conv"] == 8 * executed.macs_by_key["conv"] == 41472
    assert executed.extra["kept"] == 2 and spec.costs().extra["kept"] == 6
    assert spec.costs().macs_by_key["conv"] == 15552


def test_executed_costs_needs_a_matching_forward():
    spec = DGC(c_in=8, c_out=4, H=2, d=2, h=4, w=4)
    module = spec.module()
    with pytest.raises(ValueError, match="has not run"):
        spec.executed_costs(module, 1)
    with torch.no_grad():
        module(spec.example_input(3))
    with pytest.raises(ValueError, match="batch = 1"):
        spec.executed_costs(module, 1)
    assert spec.executed_costs(module, 3) == spec.costs()


# --- the paper's savings ratio ---------------------------------------------------------------

def test_savings_ratio_exact_and_paper_form():
    exact = DGC.savings_ratio()
    hh = sp.Symbol("H", integer=True, positive=True)
    assert sp.simplify(exact - (sp.floor(zeta * c_in) / c_in
                                - 2 * hh * sp.floor(c_in / d) / (k ** 2 * c_out * h_out * w_out))) == 0
    # dropping the two floors gives the paper's zeta - 2*H*c/(d*k^2*n*h'w')
    approx = exact.subs({sp.floor(zeta * c_in): zeta * c_in, sp.floor(c_in / d): c_in / d})
    paper = zeta - 2 * hh * c_in / (d * k ** 2 * c_out * h_out * w_out)
    assert sp.simplify(approx - paper) == 0
    assert sp.simplify(DGC.savings_ratio_paper() - paper) == 0
    # with the output size put back, it is 1 - MACs/dense of the formulas themselves
    f = DGC.formulas()
    back = exact.subs(DGC.output_size_subs())
    assert sp.simplify(back - (1 - f.macs_total / f.extra["dense_macs"])) == 0


def test_zeta_zero_conv_equals_dense_conv():
    f = DGC.formulas()
    assert sp.simplify(f.macs["conv"].subs(zeta, 0) - f.extra["dense_macs"]) == 0
    c = DGC(zeta=0.0).costs()
    assert c.macs_by_key["conv"] == c.extra["dense_macs"] == 115_605_504  # 64*64*9*56*56


def test_heads_barely_matter():
    hh = sp.Symbol("H", integer=True, positive=True)
    assert sp.simplify(DGC.head_sensitivity()
                       + 2 * sp.floor(c_in / d) / (k ** 2 * c_out * h_out * w_out)) == 0
    assert not DGC.head_sensitivity().has(hh)
    one, many = DGC(H=1), DGC(H=64)
    # 63 extra heads add 63 * 2*64*(64//16) = 32,256 MACs: 2.79e-4 of the dense 115,605,504
    assert many.macs() - one.macs() == 32_256
    assert one.savings() - many.savings() == Fraction(32_256, 115_605_504)


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("changes,pattern", [
    (dict(zeta=1.0), r"zeta = 1\.0 is invalid: allowed is a number in \[0, 1\)"),
    (dict(zeta=-0.1), r"zeta = -0\.1 is invalid"),
    (dict(H=3), r"H = 3 is invalid: H must divide c_out"),
    (dict(d=65), r"d = 65 is invalid: d must be <= c_in"),
    (dict(H=-2), r"H = -2 is invalid: allowed is an integer >= 1"),
    (dict(c_in=0), r"c_in = 0 is invalid"),
])
def test_bad_input_raises_clear_value_error(changes, pattern):
    with pytest.raises(ValueError, match=pattern):
        DGC(**changes)
