"""analyze() on hand-built plain-torch models (answers worked out by hand), designs recognised by
tag, unknown layers reported, and reconcile(): each peer's total predicted exactly from its
conventions. The CLI runs in-process."""

from __future__ import annotations

import importlib.util
import textwrap

import pytest
import torch
from torch import nn

from costmodel.analysis import analyze
from costmodel.cli import main
from costmodel.designs.ghost import Ghost
from costmodel.networks import network, swap
from costmodel.analysis import reconcile


def plain_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=True), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


class Block(nn.Module):
    """Residual add, depthwise, pointwise, group conv, a mean, an FC gate and a multiply:
    the non-leaf module computes the add, mean, sigmoid and mul itself (functional ops)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
        self.pw = nn.Conv2d(4, 8, 1, bias=False)
        self.gconv = nn.Conv2d(8, 8, 3, padding=1, groups=2, bias=False)
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x) + x
        z = self.gconv(self.pw(self.dw(y)))
        gate = torch.sigmoid(self.fc(z.mean((2, 3))))
        return z * gate[:, :, None, None]


class Exotic(nn.Module):
    """A custom leaf layer calling a function costmodel has no rule for (a Bessel function)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.special.i0(x) * self.gamma


def test_plain_model_hand_worked():
    a = analyze(plain_model(), (2, 3, 8, 8), fvcore=True)
    t = a.table.set_index("path")
    # conv 3->8, 3x3, same padding, batch 2: 2*8*8*8 outputs x 3*9 = 27,648 MACs; 8*27 + 8 params
    assert (t.loc["0", "MACs"], t.loc["0", "params"], t.loc["0", "layer"]) == (27_648, 224, "conv")
    # BN eval, affine: 2 ops x 2*8*8*8 = 2,048; 16 params
    assert (t.loc["1", "elementwise ops"], t.loc["1", "params"]) == (2_048, 16)
    # ReLU 1,024 elements; max pool 2x2 -> 2*8*4*4 = 256 outputs x 4 = 1,024
    assert (t.loc["2", "elementwise ops"], t.loc["3", "elementwise ops"]) == (1_024, 1_024)
    # global pool reads 256 elements; Linear 8->10 on 2 samples: 160 MACs, 90 params
    assert (t.loc["4", "elementwise ops"], t.loc["6", "MACs"], t.loc["6", "params"]) == (256, 160, 90)
    assert "5" not in t.index  # Flatten: free, no row
    assert a.params == 224 + 16 + 90 == 330
    assert a.macs == 27_648 + 160
    # fvcore counts conv + BN + global pool + linear: 27,648 + 2,048 + 256 + 160
    assert a.fvcore_total == a.totals["fvcore convention (MACs + BN + pools)"] == 30_112
    assert a.table["fvcore_match"].all()
    # bytes of the conv row: (2*3*8*8 input + 1,024 output + 224 weights) x 4 bytes
    assert t.loc["0", "mem bytes"] == (384 + 1_024 + 224) * 4 == 6_528


def test_functional_ops_and_conv_kinds_hand_worked():
    a = analyze(Block(), (1, 4, 6, 6), fvcore=True)
    t = a.table.set_index(a.table["path"] + ":" + a.table["kind"])
    # conv1 4->4 3x3 on 6x6: 36 x 4 x 36 = 5,184; depthwise: 4 x 9 x 36 = 1,296;
    # pointwise 4->8: 8 x 4 x 36 = 1,152; group 8->8, 2 groups: 8 x 4 x 9 x 36 = 10,368; fc 64
    assert t.loc["conv1:conv", "MACs"] == 5_184 and t.loc["conv1:conv", "layer"] == "conv"
    assert (t.loc["dw:conv", "MACs"], t.loc["dw:conv", "layer"]) == (1_296, "depthwise")
    assert (t.loc["pw:conv", "MACs"], t.loc["pw:conv", "layer"]) == (1_152, "pointwise")
    assert (t.loc["gconv:conv", "MACs"], t.loc["gconv:conv", "layer"]) == (10_368, "group")
    assert t.loc["fc:linear", "MACs"] == 64
    # the block's own ops: add over 4*6*6 = 144, mean reads 8*36 = 288, sigmoid 8, mul 288
    assert t.loc[":add", "elementwise ops"] == 144
    assert t.loc[":mean", "elementwise ops"] == 288
    assert t.loc[":sigmoid", "elementwise ops"] == 8
    assert t.loc[":mul", "elementwise ops"] == 288
    assert a.params == 144 + 36 + 32 + 288 + 72 == 572
    assert a.macs == 5_184 + 1_296 + 1_152 + 10_368 + 64 == 18_064
    assert a.fvcore_total == 18_064  # fvcore: conv + linear only here (no BN, no handled pool)


def test_transposed_conv_hand_worked():
    # ConvTranspose2d 4->8, k=2, stride 2 on 5x5: each input pixel scatters 8*4 weights per input
    # channel: 4 x 8 x 2*2 x 25 = 3,200 MACs; params 4*8*4 + 8 = 136
    a = analyze(nn.Sequential(nn.ConvTranspose2d(4, 8, 2, stride=2)), (1, 4, 5, 5), fvcore=True)
    row = a.table.iloc[0]
    assert (row["kind"], row["MACs"], row["params"], row["output"]) == ("conv_transpose", 3_200, 136, "1x8x10x10")
    assert a.fvcore_total == 3_200


def test_unknown_custom_layer_is_reported_with_shapes():
    # issue 15: a custom leaf is costed by the functions it calls; only the Bessel i0 is unknown
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Exotic(8), nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    a = analyze(model, (1, 3, 4, 4))
    assert list(a.unknown["module"]) == ["Exotic.special_i0"]
    unknown = a.unknown.iloc[0]
    assert (unknown["path"], unknown["input"], unknown["output"]) == ("1", "1x8x4x4", "1x8x4x4")
    t = a.table.set_index(a.table["path"] + ":" + a.table["kind"])
    row = t.loc["1:unknown"]
    assert row["MACs"] is pd_na() and row["elementwise ops"] is pd_na() and row["mem bytes"] is pd_na()
    assert t.loc["1:mul", "elementwise ops"] == 8 * 16  # x * gamma: 1 per output element
    assert a.totals["unknown"] == 1
    assert a.params == 8 * 27 + 8 + 8 + 128 * 2 + 2  # the unknown layer's params still count
    # conv 16 x 8 x 27 = 3,456 + linear 256: the unknown op adds nothing to any total
    assert a.macs == 3_456 + 256 and a.totals["elementwise ops"] == 128


def pd_na():
    import pandas as pd

    return pd.NA


def test_recognised_design_uses_its_formulas():
    spec = Ghost(c_in=8, c_out=12, k=1, s=3, d=3, stride=1, h=6, w=6, relu=True)
    a = analyze(spec.module(), (2, 8, 6, 6))
    assert len(a.table) == 1
    row = a.table.iloc[0]
    # m = ceil(12/3) = 4: primary 8 -> 4 (1x1), cheap 3x3 depthwise 4 -> 8; per sample
    # (8*4 + 8*9) * 36 = 3,744 MACs; batch 2 -> 7,488
    assert (row["kind"], row["MACs"], row["leaf_check"]) == ("ghost", 7_488, True)
    # the same module at 10x10: the spec is re-sized, (32 + 72) * 100 * 2 = 20,800
    assert analyze(spec.module(), (2, 8, 10, 10)).table.iloc[0]["MACs"] == 20_800
    leaves = analyze(spec.module(), (2, 8, 6, 6), collapse_specs=False)
    assert list(leaves.table["kind"]) == ["conv", "batch_norm", "relu", "conv", "batch_norm", "relu", "concat"]
    # the module's own cat is recognised by its class name (GhostModule) as a Ghost module op
    assert leaves.table.iloc[-1][["layer", "module"]].tolist() == [Ghost.title, "GhostModule.cat"]
    assert leaves.macs == 7_488


def test_bad_input_shape():
    with pytest.raises(ValueError, match="input_shape = .* is invalid"):
        analyze(plain_model(), (0, 3, 8, 8))
    assert analyze(plain_model(), "1,3,8,8", fvcore=False).macs == 13_824 + 80


# --- reconciliation ---------------------------------------------------------------------------

PEERS = ["fvcore", "FlopCounterMode", "ptflops", "thop"]
PACKAGES = {"fvcore": "fvcore", "FlopCounterMode": "torch", "ptflops": "ptflops", "thop": "thop"}

# Hand-worked on plain_model() at 1x3x8x8 (per sample). Ours: conv 13,824 + BN 1,024 + ReLU 512
# + max pool 512 + global pool 128 + linear 80 = 16,080.
#   fvcore: drops ReLU and max pool: 16,080 - 512 - 512 = 15,056.
#   FlopCounterMode: 2 x (13,824 + 80) = 27,808 FLOPs.
#   thop: conv 13,824 + BN 4 x 512 + (16/1 + 1) x 8 global pool + linear 80 = 16,088.
#   ptflops: conv + bias 13,824 + 512; BN 1,024; ReLU 512 (hook) + 512 (patched F.relu inside);
#            max pool 512 + 512 and global pool 128 + 128 (hook on the INPUT + patched F.*);
#            linear 80 + 10 bias: 17,754.
HAND = {"fvcore": 15_056, "FlopCounterMode": 27_808, "thop": 16_088, "ptflops": 17_754}


def need(peer: str) -> None:
    if importlib.util.find_spec(PACKAGES[peer]) is None:
        pytest.skip(f"{PACKAGES[peer]} is not installed (pip install costmodel[peers])")


@pytest.fixture(scope="module")
def reconciled():
    models = {"plain": (plain_model(), (1, 3, 8, 8)), "block": (Block(), (1, 4, 6, 6))}
    for label, net in [("ghostnet@64", network("ghostnet", resolution=64)),
                       ("resnet50 dgc@32", swap("resnet50", conv3x3="dgc", resolution=32)),
                       ("resnet50 spconv@32", swap("resnet50", conv3x3="spconv", alpha=0.25, resolution=32))]:
        models[label] = (net.module(), (1,) + tuple(net.input_shape))
    return {label: reconcile(model, shape) for label, (model, shape) in models.items()}


@pytest.mark.parametrize("peer", PEERS)
def test_reconcile_plain_model_hand_worked(reconciled, peer):
    need(peer)
    result = reconciled["plain"]
    assert result.ours_total == 16_080
    assert result.peers[peer].actual == HAND[peer]
    assert result.peers[peer].predicted == HAND[peer]


@pytest.mark.parametrize("label", ["plain", "block", "ghostnet@64", "resnet50 dgc@32", "resnet50 spconv@32"])
@pytest.mark.parametrize("peer", PEERS)
def test_explained_gaps_add_up_to_each_peer_total(reconciled, label, peer):
    need(peer)
    p = reconciled[label].peers[peer]
    assert not p.skipped
    assert p.ours + p.explained_gaps == p.actual  # our total + every named gap = the peer's total
    assert p.unexplained == 0
    assert int(p.table["gap"].sum()) == p.explained_gaps
    assert p.table["convention"].str.len().min() > 0
    if "category matches" in p.table:  # peers that split their count by operator / module
        assert p.table["category matches"].all()


def test_missing_peer_is_skipped_with_reason(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "thop" else real(name, *a))
    result = reconcile(plain_model(), (1, 3, 8, 8), peers=("fvcore", "thop"))
    assert "thop is not installed" in result.peers["thop"].skipped
    assert result.peers["fvcore"].unexplained == 0


# --- CLI --------------------------------------------------------------------------------------

def test_cli_analyze_user_file_reports_unknown(tmp_path, capsys):
    path = tmp_path / "user_model.py"
    path.write_text(textwrap.dedent("""
        import torch
        from torch import nn

        class Scale(nn.Module):
            def __init__(self):
                super().__init__()
                self.gamma = nn.Parameter(torch.ones(4, 1, 1))

            def forward(self, x):
                return torch.special.i0(x) * self.gamma

        def build():
            return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), Scale(), nn.ReLU())
    """))
    assert main(["analyze", f"{path}:build", "--input", "1,3,8,8"]) == 0
    out = capsys.readouterr().out
    assert "UNKNOWN" in out and "Scale" in out
    assert "6,912" in out  # conv 3->4 3x3 on 8x8: 64 x 4 x 27 = 6,912 MACs


def test_cli_bad_model_is_one_line_error(capsys):
    assert main(["analyze", "no_such_thing", "--input", "1,3,8,8"]) == 2
    assert "model = 'no_such_thing' is invalid" in capsys.readouterr().err


def test_cli_network_published(capsys):
    assert main(["network", "published"]) == 0
    out = capsys.readouterr().out
    assert "141 M" in out and "18.34 M" in out


def test_cli_network_swap(capsys):
    assert main(["network", "resnet50", "--swap3x3", "spconv", "--option", "alpha=1/2"]) == 0
    assert "18,345,448" in capsys.readouterr().out  # the hand-worked SPConv-ResNet-50 params


def test_dynamic_design_uses_executed_costs_per_sample():
    from costmodel.designs.dgc import DGC

    # DGC c_in = c_out = 16, 3x3, H = 4 heads, zeta = 0.5, d = 16 on 8x8, batch 2. Each head keeps
    # 16 - floor(0.5*16) = 8 channels: conv 16 x 8 x 9 x 64 = 73,728 MACs per sample; saliency
    # FC1 16 -> 4*(16//16) and per-head FC2 1 -> 16: 64 + 64 = 128 linear MACs per sample.
    spec = DGC(c_in=16, c_out=16, k=3, H=4, zeta=0.5, d=16, h=8, w=8)
    a = analyze(spec.module(), (2, 16, 8, 8), fvcore=True)
    row = a.table.iloc[0]
    assert (row["kind"], row["conv MACs"], row["linear MACs"]) == ("dgc", 2 * 73_728, 2 * 128)
    assert row["leaf_check"] and row["fvcore_match"]
    assert a.unknown.empty  # top-k, gathers and index arithmetic all have rules


class Resizes(nn.Module):
    """Area resize, grid_sample, tensordot, mv and a bicubic nn.Upsample: ops whose peer
    conventions differ from ours (issue 15's wider function coverage)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(16, 16))
        self.up = nn.Upsample(scale_factor=2, mode="bicubic")

    def forward(self, x):  # (1, 2, 4, 4)
        a = nn.functional.interpolate(x, size=(2, 2), mode="area")
        g = nn.functional.grid_sample(x, torch.zeros(1, 3, 5, 2), mode="nearest", align_corners=False)
        t = torch.tensordot(x.flatten(2), self.w, dims=([2], [0]))
        m = torch.mv(self.w, x.flatten()[:16])
        return a.sum() + g.sum() + t.sum() + m.sum() + self.up(x).sum()


@pytest.mark.parametrize("peer, total", [("fvcore", 152), ("FlopCounterMode", 1_024), ("thop", 33_152)])
def test_reconcile_resizes_and_products_hand_worked(peer, total):
    need(peer)
    # Ours: area resize = adaptive avg pool, 1 per input element: 32; nearest grid_sample 1x2x3x5
    # = 30 outputs x 1; tensordot (1,2,16) x (16,16): 32 outputs x 16 = 512 MACs; mv 16 x 16 = 256
    # MACs; bicubic upsample 128 outputs x 16 = 2,048.
    #   fvcore: adaptive_avg_pool2d 32 + grid_sampler "assume bilinear" 4 x 30 = 120; no handle
    #     for tensordot, mv or bicubic: 152.
    #   FlopCounterMode: the tensordot's mm, 2 x 512 = 1,024 FLOPs (aten mv has no formula).
    #   thop: only the nn.Upsample hook, bicubic 259 ops per output element: 128 x 259 = 33,152.
    result = reconcile(Resizes(), (1, 2, 4, 4), peers=(peer,))
    assert result.analysis.unknown.empty
    p = result.peers[peer]
    assert (p.actual, p.predicted, p.unexplained) == (total, total, 0)
