"""Design spaces (costmodel.spaces): fixed points, exact gather evaluation, the DP front against
brute force, modules against fvcore, space-file errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from costmodel.explore import front_mask
from costmodel.networks import network
from costmodel.spaces import load_space, space, space_from_dict
from costmodel.spaces.blocks import Choice
from costmodel.spaces.space import NetworkSpace, Stage
from costmodel.spaces.front import OBJECTIVES, best_under, pareto_front

TINY = Path(__file__).resolve().parents[1] / "costmodel" / "spaces" / "examples" / "tiny.toml"

ONE_BLOCK = """name = "one"
input = [3, 8, 8]
stem = { kind = "conv", c_out = 8, stride = 1 }
head = { kind = "classifier", classes = 4 }
[[stages]]
name = "s"
widths = [8, 16]
depths = [1]
blocks = [{ design = "inverted_residual", pw = "conv" }]
"""


def _totals(costs) -> tuple:
    return (costs.params, costs.macs_by_key["conv"], costs.macs_by_key["linear"],
            sum(costs.elementwise.values()), costs.mem_bytes)


def _row_totals(row) -> tuple:
    return (row["params"], row["conv MACs"], row["linear MACs"], row["elementwise ops"], row["mem bytes"])


def test_ghostnet_fixed_point_is_ghostnet_1x():
    sp = space("ghostnet")
    point = sp.point("ghostnet_1.0x")
    row = sp.evaluate([point], profile=None).iloc[0]
    # GhostNet 1.0x (reference ghostnet_pytorch): 141,150,512 MACs and 5,182,508 params, the
    # numbers test_networks pins against fvcore and sum(p.numel())
    assert row["MACs"] == 141_150_512
    assert row["params"] == 5_182_508
    assert row["FLOPs"] == 2 * 141_150_512
    assert _row_totals(row) == _totals(network("ghostnet").costs())


def test_resnet50_fixed_point_is_resnet50():
    sp = space("resnet50")
    row = sp.evaluate([sp.point("resnet50")], profile=None).iloc[0]
    # torchvision resnet50: 25,557,032 params; 4,089,184,256 MACs (fvcore, 224x224)
    assert row["MACs"] == 4_089_184_256
    assert row["params"] == 25_557_032
    assert _row_totals(row) == _totals(network("resnet50").costs())


def test_tiny_space_count_by_hand():
    sp = load_space(TINY)
    # s1: 2 widths x (16 + 16^2) block choices (2 kernels x 2 expansions x 4 designs = 16 per
    # slot, depth 1 or 2) = 544; s2: 1 width x (2 + 2^2) = 6; 544 * 6 = 3264
    assert sp.count() == 3264
    assert sp.stages[0].widths == (12, 24)  # make_divisible(24 * 0.5, 4) = 12


@pytest.mark.parametrize("name", ["ghostnet", "resnet50"])
def test_random_candidates_equal_built_network_costs(name):
    sp = space(name)
    frame = sp.sample(12, seed=3, profile=None)
    for _, row in frame.iterrows():  # build() reads the choice columns of the row
        assert _row_totals(row) == _totals(sp.build(row).costs()), sp.describe(row)


def _fvcore_conv_linear(analysis) -> dict[str, int]:
    from costmodel.peers.keys import fold_macs

    return fold_macs(analysis.fvcore_by_operator)


def _non_default(sp, seed: int) -> tuple[int, ...]:
    """A drawn candidate that differs from the fixed point in a block choice."""
    for cand in sp.draw(50, seed):
        if tuple(cand) != sp.fixed_points[0][1]:
            return tuple(cand)
    raise AssertionError("no non-default candidate drawn")


@pytest.mark.parametrize("which", ["tiny-0", "tiny-1", "ghostnet", "resnet50"])
def test_built_candidate_module_matches_fvcore_and_params(which):
    from costmodel.analysis import analyze
    from costmodel.peers.trace import count_params

    if which.startswith("tiny"):
        sp = load_space(TINY)
        cand = tuple(sp.draw(1, seed=int(which[-1]) + 7)[0])
    else:
        sp = space(which)
        cand = _non_default(sp, 11)
    net = sp.build(cand)
    costs, module = net.costs(), net.module()
    analysis = analyze(module, (1,) + tuple(net.input_shape), fvcore=True)
    assert costs.params == count_params(module) == sum(p.numel() for p in module.parameters())
    assert costs.macs_by_key == _fvcore_conv_linear(analysis), sp.describe(cand)


def _every(sp) -> np.ndarray:
    """Every index vector of the space (duplicates of one network included), (n, columns)."""
    sizes = sp.column_sizes()
    return np.stack(np.meshgrid(*[np.arange(n) for n in sizes], indexing="ij"), -1).reshape(-1, len(sizes))


def _brute_front(sp, objectives) -> list[tuple]:
    every = _every(sp)
    frame = sp.evaluate(every, profile=None)
    frame = frame[frame["valid"]]
    pts = frame[[OBJECTIVES[o] for o in objectives]].to_numpy()
    return sorted(set(map(tuple, pts[front_mask(pts)])))


_DESIGNS = [{"design": "ghost_bottleneck", "se": [False, True]},
            {"design": "inverted_residual", "pw": ["conv", "ghost"]},
            {"design": "inverted_residual", "pw": "tbc"},
            {"design": "ghost_bottleneck", "s": 3},
            {"design": "inverted_residual", "mid": ["conv", "spconv", "sic"]}]


@st.composite
def small_spaces(draw):
    stages = []
    for i in range(draw(st.integers(1, 3))):
        stages.append({
            "name": f"s{i}", "widths": draw(st.lists(st.sampled_from([8, 12, 16, 24]), min_size=1, max_size=2, unique=True)),
            "depths": draw(st.sampled_from([[1], [1, 2], [2]])), "stride": draw(st.sampled_from([1, 2])),
            "kernels": draw(st.lists(st.sampled_from([3, 5]), min_size=1, max_size=2, unique=True)),
            "expansions": draw(st.lists(st.sampled_from([1, 3, 6]), min_size=1, max_size=2, unique=True)),
            "tied": draw(st.booleans()),
            "blocks": draw(st.lists(st.sampled_from(_DESIGNS), min_size=1, max_size=2, unique_by=str))})
    return {"name": "random", "input": [3, 16, 16], "stem": {"kind": "conv", "c_out": 8, "stride": 1},
            "head": {"kind": "classifier", "classes": 10}, "stages": stages}


@given(small_spaces(), st.sampled_from([("macs", "params"), ("params", "bytes"), ("bytes", "elementwise")]))
def test_dp_front_equals_brute_force_front(data, objectives):
    sp = space_from_dict(data)
    assume(sp.count() <= 20_000)  # keep the brute force small (hypothesis counts the discards)
    dp = pareto_front(sp, objectives, profile=None)
    got = sorted(map(tuple, dp[[OBJECTIVES[o] for o in objectives]].to_numpy()))
    assert got == _brute_front(sp, objectives)
    # every front row is a real candidate: its built network has those costs
    first = dp.iloc[0]
    assert _row_totals(first) == _totals(sp.build(first).costs())


def test_budget_query_is_the_best_feasible_candidate():
    sp = space("resnet50")
    every = _every(sp)
    frame = sp.evaluate(every, profile=None)
    limit = 4.0e9  # MACs
    want = frame[frame["MACs"] <= limit]["params"].min()
    got = best_under(sp, "params", {"macs": limit}, profile=None)
    assert got["params"] == want and got["MACs"] <= limit


def test_resnet_front_on_macs_params_by_brute_force():
    sp = space("resnet50")
    dp = pareto_front(sp, ("macs", "params"), profile=None)
    assert sorted(map(tuple, dp[["MACs", "params"]].to_numpy())) == _brute_front(sp, ("macs", "params"))


def _space(tmp_path, text: str):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return load_space(path)


BASE = """name = "t"
input = [3, 16, 16]
[[stages]]
name = "a"
{stage}
[[stages.blocks]]
{block}
"""


@pytest.mark.parametrize("stage, block, message", [
    ("widths = [16]\ncolour = 3", 'design = "ghost_bottleneck"', r"stages\[0\]\.colour is not a known key"),
    ("widths = [16]\nkernels = []", 'design = "ghost_bottleneck"', r"stages\[0\]\.kernels = \[\] is invalid"),
    ("widths = [16]", 'design = "ghost_bottleneck"\nse = []', r"stages\[0\]\.blocks\[0\]\.se = \[\] is invalid"),
    ("widths = [16]", 'design = "inverted_residual"\npw = "spconv"', r"blocks\[0\]\.pw = 'spconv' is invalid"),
    ("widths = [16]", 'design = "warp"', r"blocks\[0\]\.design = 'warp' is invalid"),
    # TBC with B = 4 cannot split 18 channels: no choice of the block can be built
    ("widths = [18]", 'design = "inverted_residual"\npw = "tbc"\nB = 4', r"stage 'a' block 0: no choice .* channels 16 -> 18"),
    # issue 14 part 2: every number has a range, named with the key (TOML has nan and inf)
    ("width = 1000000000000", 'design = "ghost_bottleneck"', r"stages\[0\]\.width = 1000000000000 is invalid: "
                                                            r"allowed is an integer in \[1, 2,147,483,648\]"),
    ("width = 24\nwidth_mults = [inf]", 'design = "ghost_bottleneck"', r"width_mults = \[inf\] is invalid"),
    ("width = 24\nwidth_mults = [nan]", 'design = "ghost_bottleneck"', r"width_mults = \[nan\] is invalid"),
    # 2^31 x 2 = 2^32 channels: each number in range, the product not
    ("width = 2147483648\nwidth_mults = [2.0]", 'design = "ghost_bottleneck"', r"the widths \[4294967296\] must be"),
    ("widths = [16]\nexpansions = [inf]", 'design = "ghost_bottleneck"', r"expansions = \[inf\] is invalid: "
                                                                        r"allowed is a list of numbers in \(0, 64\]"),
    ("widths = [16]\nstride = 0", 'design = "ghost_bottleneck"', r"stages\[0\]\.stride = 0 is invalid"),  # crashed
    ("widths = [16]\ndepths = [1000000000]", 'design = "ghost_bottleneck"',  # MemoryError before
     r"depths = \[1000000000\] is invalid: allowed is a list of integers in \[1, 1,024\]"),
    ("widths = [16]\nkernels = [2147483649]", 'design = "ghost_bottleneck"', r"kernels = \[2147483649\] is invalid"),
])
def test_bad_space_file_names_the_key(tmp_path, stage, block, message):
    with pytest.raises(ValueError, match=message):
        _space(tmp_path, BASE.format(stage=stage, block=block))


@pytest.mark.parametrize("top, message", [
    ('input = [3, 1000000000000, 16]', r"input = \[3, 1000000000000, 16\] is invalid"),
    ('[head]\nkind = "classifier"\nclasses = 0', r"head\.classes = 0 is invalid"),  # accepted before
    ('[stem]\nkind = "conv"\nc_out = 1000000000000000', r"stem\.c_out = 1000000000000000 is invalid"),
])
def test_bad_space_numbers_outside_the_stages(tmp_path, top, message):
    text = BASE.format(stage="widths = [16]", block='design = "ghost_bottleneck"').replace("input = [3, 16, 16]\n", "")
    head, stages = text.split("[[stages]]", 1)
    with pytest.raises(ValueError, match=message):
        _space(tmp_path, head + top + "\n[[stages]]" + stages)


@pytest.mark.parametrize("make, message", [
    (lambda: Choice("inverted_residual", k=3.0), r"Choice\.k = 3\.0 is invalid"),
    (lambda: Choice("inverted_residual", expansion=float("nan")), r"Choice\.expansion = nan is invalid"),
    (lambda: Stage("s", (2**40,), ((Choice("inverted_residual"),),), (1,)), r"widths = \(1099511627776,\) is invalid"),
    (lambda: Stage("s", (16,), ((Choice("inverted_residual"),),), (1,), stride=0), r"stride = 0 is invalid"),
    (lambda: NetworkSpace("n", (Stage("s", (16,), ((Choice("inverted_residual"),),), (1,)),), (3, 32.0, 32)),
     r"input_shape = \(3, 32\.0, 32\) is invalid"),
])
def test_bad_python_space_values_name_the_field(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_candidate_names_the_column():
    sp = load_space(TINY)
    with pytest.raises(ValueError, match=r"s1\.0 = 16 is invalid: allowed is an index in \[0, 15\]"):
        sp.evaluate([[0, 0, 16, 0, 0, 0, 0, 0]], profile=None)


# --- the seed designs of the ghostnet space -------------------------------------------------

def test_ghostnet_space_offers_every_seed_design():
    from costmodel.spaces.builtin import GHOST_DESIGNS

    sp = space("ghostnet")
    labels = {(c.design, c.options) for c in sp.stages[0].slots[0]}
    assert labels == set(GHOST_DESIGNS)
    offered = {dict(o).get("mid", dict(o).get("pw")) for _, o in GHOST_DESIGNS} | {
        ("ghost s", dict(o).get("s", 2)) for d, o in GHOST_DESIGNS if d == "ghost_bottleneck"}
    # standard, separable (MobileNetV2's depthwise + 1x1: pw=conv), Ghost s=2 and s=3, SPConv,
    # TBC, DGC, SIC
    assert {"conv", "tbc", "spconv", "sic", "dgc", ("ghost s", 2), ("ghost s", 3)} <= offered
    # stage s16's one block: GhostNet's k3, t = 16 / 16 = 1 -> kernels {3, 5} x expansions
    # {1, 3, 6} x 10 designs = 60 choices; s24's first block (t = 48 / 16 = 3): 2 x 2 x 10 = 40
    assert [len(sp.stages[i].slots[0]) for i in (0, 1)] == [60, 40]


@pytest.mark.parametrize("design, options", [
    ("inverted_residual", (("mid", "conv"),)),
    ("inverted_residual", (("mid", "spconv"), ("alpha", 0.5))),
    ("inverted_residual", (("mid", "sic"), ("b", 2))),
    ("inverted_residual", (("mid", "dgc"), ("zeta", 0.5))),
    ("inverted_residual", (("mid", "ghost"), ("s", 2))),
    ("inverted_residual", (("mid", "tbc"), ("B", 2))),
    ("ghost_bottleneck", (("se", False), ("s", 3))),
    ("bottleneck", (("conv3x3", "dgc"), ("zeta", 0.5))),
])
def test_seed_design_blocks_equal_fvcore_and_params(design, options):
    """A strided block then an identity block of each design, declared in Python: the gathered
    costs equal build().costs(), and the module equals fvcore and sum(p.numel())."""
    from costmodel.analysis import analyze
    from costmodel.peers.trace import count_params
    from costmodel.spaces import Choice, NetworkSpace, Stage

    # the bottleneck's mid width is c_out / 4 = 16 (DGC's d = 16 needs c_in >= 16)
    t, width = (0.25, 64) if design == "bottleneck" else (2.0, 32)
    choice = Choice(design, 3, t, options)
    stage = Stage("s", (width,), ((choice,), (choice,)), (2,), stride=2)
    sp = NetworkSpace("one", (stage,), (3, 16, 16), ("conv", (("c_out", 16), ("stride", 1))))
    net = sp.build([0, 0, 0, 0])
    costs, module = net.costs(), net.module()
    row = sp.evaluate([[0, 0, 0, 0]], profile=None).iloc[0]
    assert _row_totals(row) == _totals(costs)
    analysis = analyze(module, (1, 3, 16, 16), fvcore=True)
    assert costs.params == count_params(module) == sum(p.numel() for p in module.parameters())
    assert costs.macs_by_key == _fvcore_conv_linear(analysis)


# --- latency objectives ---------------------------------------------------------------------

def _made_up_profile(composition: bool):
    """A roofline profile with round numbers (not a measurement), optionally with a network
    composition (each layer inside a network: 1.25 x its dense-MAC time alone + 1.5 x depthwise +
    0.75 x elementwise + 3 us)."""
    from costmodel.latency.profile import NetworkComposition, Profile

    peaks = {"dense_macs_per_s": 1e9, "depthwise_macs_per_s": 1e8, "bandwidth_bytes_per_s": 1e9,
             "call_overhead_s": 1e-6, "l2_bytes": 2.0 ** 21}
    net = (NetworkComposition(scale_mac=1.25, scale_depthwise=1.5, scale_elementwise=0.75, per_layer_s=3e-6)
           if composition else None)
    return Profile(device="cpu", device_name="test cpu", threads=1, torch_version="x", peaks=peaks, network=net)


@pytest.mark.parametrize("composition", [False, True])
def test_predicted_latency_equals_predict_latency_of_the_built_network(composition):
    from costmodel.latency.network import predict_latency

    sp, profile = load_space(TINY), _made_up_profile(composition)
    frame = sp.sample(6, seed=5, profile=profile)
    for _, row in frame.iterrows():
        want = predict_latency(sp.build(row), profile=profile).seconds
        assert row["predicted latency (s)"] == pytest.approx(want, rel=1e-12), sp.describe(row)


def _dyadic_lut(sp, seed: int) -> dict[str, float]:
    """Made-up seconds k / 1024 per block (k in 1..999): every sum is exact in float64, so the DP
    and the brute force see identical numbers."""
    keys = list(sp.tables(profile=None).makers)
    ks = np.random.default_rng(seed).integers(1, 1000, len(keys))
    return {key: float(k) / 1024 for key, k in zip(keys, ks)}


def _all_candidates(sp, **kw):
    every = _every(sp)
    frame = sp.evaluate(every, **kw)
    return frame[frame["valid"]]


def test_latency_params_front_with_a_lut_equals_brute_force():
    sp = load_space(TINY)
    lut = _dyadic_lut(sp, 1)
    dp = pareto_front(sp, ("latency", "params"), lut=lut)
    frame = _all_candidates(sp, lut=lut)
    pts = frame[["LUT latency (s)", "params"]].to_numpy()
    assert sorted(map(tuple, dp[["LUT latency (s)", "params"]].to_numpy())) == sorted(set(map(tuple, pts[front_mask(pts)])))


def test_budget_lowest_latency_within_params():
    sp, profile = load_space(TINY), _made_up_profile(True)
    frame = _all_candidates(sp, profile=profile)
    limit = 20_000  # params
    got = best_under(sp, "latency", {"params": limit}, profile=profile)
    want = frame[frame["params"] <= limit]["predicted latency (s)"].min()
    assert got["params"] <= limit and got["predicted latency (s)"] == pytest.approx(want, rel=1e-12)


def test_measured_latency_is_not_additive_and_says_so():
    with pytest.raises(ValueError, match=r"objective 'measured' is not additive: .* sample instead"):
        pareto_front(load_space(TINY), ("measured", "params"), profile=None)


def test_readme_dozen_line_space_runs(capsys):
    """The README's own-space example, run as written: a dozen lines, an exact front, a network."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b.split("```")[0] for b in readme.split("```python\n") if "a space in a dozen lines" in b)
    assert len(block.strip().splitlines()) <= 13
    exec(compile(block, "README.md", "exec"), {})
    # stages: 2 widths x sum over depths of 16^d block choices (4 designs x 2 kernels x 2 t):
    # s0 depths 1-2: 2 x (16 + 256) = 544; s1 depths 1-3: 2 x (16 + 256 + 4096) = 8736;
    # s2, s3 depths 2-4: 2 x (256 + 4096 + 65536) = 139776; 544 x 8736 x 139776^2 = 9.29e16
    assert capsys.readouterr().out.startswith(f"{544 * 8736 * 139776 ** 2:.2g} candidates, ")


def test_measured_points_time_front_points_and_builtin_networks():
    """The report's measured explorer points: k front points spread along the front plus every
    built-in network, each measured (interleaved protocol) with its predict_latency beside it."""
    from costmodel.latency.network import predict_latency
    from costmodel.spaces.report import measured_points

    sp = space("ghostnet")
    front = sp.front(("macs", "params"), profile=None)
    points = sp.evaluate([p for _, p in sp.fixed_points], profile=None)
    points.insert(0, "network", [n for n, _ in sp.fixed_points])
    profile = _made_up_profile(True)
    got = measured_points(sp, front, points, 2, profile=profile, samples=2)
    # 2 picks: the first and the last front point (by params), then the built-in GhostNet 1.0x
    assert list(got["network"]) == [f"front point 1 of {len(front)}", f"front point {len(front)} of {len(front)}",
                                    "ghostnet_1.0x"]
    assert got["MACs"].iloc[-1] == 141_150_512 and got["params"].iloc[-1] == 5_182_508  # GhostNet 1.0x, exact
    assert (got["measured ms"] > 0).all() and (got["spread %"] >= 0).all()
    ghost = sp.build(sp.fixed_points[0][1])
    assert got["predicted ms"].iloc[-1] == pytest.approx(1e3 * predict_latency(ghost, profile=profile).seconds)
