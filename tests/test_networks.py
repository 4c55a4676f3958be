"""Built-in networks and conv swaps: analytic costs (sum of the designs' formulas) against the
real modules, exactly; hand-worked totals; the published table.

Each network is traced once per session (fvcore through ``analyze``), so the file stays fast.
"""

from __future__ import annotations

import re

import pytest

from costmodel.analysis import analyze
from costmodel.designs.ghost import GhostBottleneck
from costmodel.networks import network, published_table, swap
from costmodel.peers.keys import fold_macs
from costmodel.peers.trace import count_params

NETWORKS = {
    "ghostnet-0.5": ("ghostnet", {"width": 0.5}),
    "ghostnet-1.0": ("ghostnet", {"width": 1.0}),
    "ghostnet-1.3": ("ghostnet", {"width": 1.3}),
    "resnet50": ("resnet50", {}),
    "vgg16": ("vgg16", {}),
    "vgg16_cifar": ("vgg16_cifar", {}),
    "mobilenet_v1": ("mobilenet_v1", {}),
}
"""Every built-in network at its default (paper) resolution."""

SWAPS = {
    "resnet50 3x3 conv": ("resnet50", {"conv3x3": "conv"}),
    "resnet50 ghost s=2 (all convs)": ("resnet50", {"conv3x3": "ghost", "conv1x1": "ghost", "s": 2}),
    "resnet50 ghost s=4 (all convs)": ("resnet50", {"conv3x3": "ghost", "conv1x1": "ghost", "s": 4}),
    "resnet50 ghost s=2 (3x3)": ("resnet50", {"conv3x3": "ghost", "s": 2}),
    "resnet50 spconv 1/2": ("resnet50", {"conv3x3": "spconv", "alpha": 0.5}),
    "resnet50 spconv 1/4": ("resnet50", {"conv3x3": "spconv", "alpha": 0.25}),
    "resnet50 spconv 1/8": ("resnet50", {"conv3x3": "spconv", "alpha": 0.125}),
    "resnet50 tbc B=2": ("resnet50", {"conv3x3": "tbc", "B": 2}),
    "resnet50 tbc B=4": ("resnet50", {"conv3x3": "tbc", "B": 4}),
    "resnet50 sic": ("resnet50", {"conv3x3": "sic", "b": 2}),
    "resnet50 dgc zeta=0.5": ("resnet50", {"conv3x3": "dgc", "zeta": 0.5}),
    "vgg16_cifar ghost s=2": ("vgg16_cifar", {"conv3x3": "ghost", "s": 2}),
    "vgg16_cifar spconv 1/2": ("vgg16_cifar", {"conv3x3": "spconv", "alpha": 0.5}),
}
"""Swaps, traced at a small input (ResNet-50 at 32x32: same layers, cheap forward)."""


def _traced(net):
    module = net.module()
    return net, net.costs(), analyze(module, (1,) + tuple(net.input_shape), fvcore=True), count_params(module)


@pytest.fixture(scope="session")
def built():
    """(network, costs, analysis, torch params) per built-in network; one trace each."""
    return {label: _traced(network(name, **kw)) for label, (name, kw) in NETWORKS.items()}


@pytest.fixture(scope="session")
def swapped():
    out = {}
    for label, (name, kw) in SWAPS.items():
        res = 32 if name == "resnet50" else None
        out[label] = _traced(swap(name, **kw, **({"resolution": res} if res else {})))
    return out


def fvcore_conv_linear(analysis) -> dict[str, int]:
    """fvcore's by_operator() folded into conv and linear (bmm/matmul/addmm count as linear)."""
    return fold_macs(analysis.fvcore_by_operator)


def assert_network_exact(net, costs, analysis, torch_params) -> None:
    assert costs.params == torch_params, f"{net}: params"
    assert costs.macs_by_key == fvcore_conv_linear(analysis), f"{net}: conv/linear MACs vs fvcore"
    # analyze() on the module: the same totals, fvcore's total reproduced, every design's
    # formula equal to the leaf-level count of its own module
    assert analysis.params == torch_params
    assert analysis.totals["conv MACs"] == costs.macs_by_key["conv"]
    assert analysis.totals["linear MACs"] == costs.macs_by_key["linear"]
    assert analysis.totals["fvcore convention (MACs + BN + pools)"] == analysis.fvcore_total
    assert analysis.table["fvcore_match"].dropna().all()
    assert analysis.totals["unknown"] == 0
    nonzero = {k: v for k, v in costs.elementwise.items() if v}
    assert {k: v for k, v in analysis.totals["elementwise"].items() if v} == nonzero
    assert analysis.totals["designs recognised"] == len(net.layers) - sum(
        1 for layer in net.layers if layer.design == "add")
    assert analysis.totals["designs matching their leaves"] == analysis.totals["designs recognised"]


@pytest.mark.parametrize("label", list(NETWORKS))
def test_builtin_network_matches_trace_exactly(built, label):
    assert_network_exact(*built[label])


@pytest.mark.parametrize("label", list(SWAPS))
def test_swap_matches_trace_exactly(swapped, label):
    assert_network_exact(*swapped[label])


def test_resnet50_hand_worked(built):
    net, costs, _, _ = built["resnet50"]
    # Params, torchvision layout. Stem 7x7 3->64 + BN: 9408 + 128. A bottleneck of width m from
    # c channels: c*m + 9*m*m + m*4m weights + BN 2m + 2m + 8m; projection 1x1 c->4m + BN 8m.
    def block(c, m, proj):
        return c * m + 9 * m * m + 4 * m * m + 12 * m + (c * 4 * m + 8 * m if proj else 0)

    stages = [(64, 64, 3), (256, 128, 4), (512, 256, 6), (1024, 512, 3)]
    body = sum(block(c, m, True) + (n - 1) * block(4 * m, m, False) for c, m, n in stages)
    assert costs.params == 9408 + 128 + body + 2048 * 1000 + 1000 == 25_557_032
    # MACs: stem 112^2 * 64 * 147 = 118,013,952; fc 2,048,000; total 4,089,184,256 (the "4.1 B").
    assert net.layers[0].spec.costs().macs == 112 * 112 * 64 * 3 * 49 == 118_013_952
    assert costs.macs == 4_089_184_256


def test_vgg16_hand_worked(built):
    _, costs, _, _ = built["vgg16"]
    # conv MACs = 9 * sum(h*w * c_in*c_out) over the 13 convs (same padding), per stage:
    conv = 9 * (224 ** 2 * (3 * 64 + 64 * 64) + 112 ** 2 * (64 * 128 + 128 * 128)
                + 56 ** 2 * (128 * 256 + 2 * 256 * 256) + 28 ** 2 * (256 * 512 + 2 * 512 * 512)
                + 14 ** 2 * 3 * 512 * 512)
    linear = 25088 * 4096 + 4096 * 4096 + 4096 * 1000
    assert costs.macs_by_key == {"conv": conv, "linear": linear}
    assert conv == 15_346_630_656
    # params: 3x3 weights + biases, then the three linear layers with bias: 138,357,544
    conv_params = sum(9 * a * b + b for a, b in [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256),
                                                 (256, 256), (256, 256), (256, 512), (512, 512),
                                                 (512, 512), (512, 512), (512, 512), (512, 512)])
    assert costs.params == conv_params + linear + 4096 + 4096 + 1000 == 138_357_544


def test_mobilenet_v1_hand_worked(built):
    _, costs, _, _ = built["mobilenet_v1"]
    # Stem 3x3/2 3->32 at 112^2: 112^2*32*27 = 10,838,016 MACs. Each separable block: depthwise
    # 9*c*h'w' + pointwise c*n*h'w'. The paper's 569 M = 568,740,352 (conv + fc 1,024,000).
    blocks = [(32, 64, 112), (64, 128, 56), (128, 128, 56), (128, 256, 28), (256, 256, 28),
              (256, 512, 14)] + [(512, 512, 14)] * 5 + [(512, 1024, 7), (1024, 1024, 7)]
    conv = 112 ** 2 * 32 * 27 + sum((9 * c + c * n) * s * s for c, n, s in blocks)
    assert costs.macs == conv + 1024 * 1000 == 568_740_352
    assert costs.params == 4_231_976  # the paper's / Keras' 4.2 M (BN affine included)


def test_ghostnet_widths_follow_reference_make_divisible(built):
    # _make_divisible(v, 4) = max(4, int(v + 2) // 4 * 4), +4 if that is < 0.9 v.
    # 0.5x: stem 16*0.5 = 8; first stage-4 block (k=5, exp 72, out 40): 36 -> 36, 20 -> 20.
    # 1.3x: stem 20.8 -> int(22.8)//4*4 = 20; exp 72*1.3 = 93.6 -> int(95.6)//4*4 = 92;
    #       out 112*1.3 = 145.6 -> int(147.6)//4*4 = 144; last conv 960*1.3 = 1248.
    half, wide = built["ghostnet-0.5"][0], built["ghostnet-1.3"][0]
    assert half.layers[0].spec.c_out == 8
    assert (half.layers[4].spec.c_exp, half.layers[4].spec.c_out) == (36, 20)
    assert wide.layers[0].spec.c_out == 20
    assert (wide.layers[4].spec.c_exp, wide.layers[4].spec.c_out) == (92, 52)
    assert wide.layers[11].spec.c_out == 144
    assert [layer.spec.c_out for layer in wide.layers if layer.name == "blocks.9"] == [1248]
    assert all(isinstance(layer.spec, GhostBottleneck) for layer in wide.layers[1:17])


def test_ghostnet_published_within_rounding(built):
    # GhostNet 1.0x: 141 M MACs, 5.2 M params (paper, Table 7); the head 960 -> 1280 conv
    # (1,228,800 MACs + 1280 bias) and the classifier (1,280,000) are inside those numbers.
    _, costs, _, _ = built["ghostnet-1.0"]
    assert round(costs.macs / 1e6) == 141
    assert round(costs.params / 1e5) == 52
    assert built["ghostnet-1.0"][0].layers[-2].spec.costs().macs == 960 * 1280


def test_spconv_resnet50_params_hand_worked(built):
    # Replacing a width-w 3x3 conv (9w^2) by SPConv alpha = 1/2: gwc (w/2 -> w, 3x3, 2 groups)
    # 9w^2/4, pwc w^2/2, redundant 1x1 w^2/2 + w bias, two inner BNs 4w; the block's BN stays.
    # Delta per block = 9w^2 - 13w^2/4 - 5w = 23w^2/4 - 5w, over 3x64, 4x128, 6x256, 3x512.
    widths = [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3
    delta = sum(23 * w * w // 4 - 5 * w for w in widths)
    assert swap("resnet50", conv3x3="spconv", alpha=0.5).costs().params == 25_557_032 - delta == 18_345_448


@pytest.mark.parametrize("name", ["resnet50", "vgg16", "vgg16_cifar"])
def test_identity_swap_equals_the_plain_network(built, name):
    plain = built[name][1]
    same = swap(name, conv3x3="conv").costs()
    assert (same.params, same.macs_by_key, same.elementwise) == (plain.params, plain.macs_by_key, plain.elementwise)


def test_ghost_3x3_swap_params_hand_worked():
    # A width-w 3x3 conv + BN (9w^2 + 2w) becomes a Ghost module, s=2, d=3, m = w/2:
    # primary 3x3 w -> w/2 (9w^2/2), cheap depthwise 3x3 on w/2 (9w/2), BN after each (w + w):
    # 9w^2/2 + 13w/2. Delta per block = 9w^2/2 - 9w/2, over 3x64, 4x128, 6x256, 3x512.
    widths = [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3
    delta = sum((9 * w * w - 9 * w) // 2 for w in widths)
    assert swap("resnet50", conv3x3="ghost", s=2).costs().params == 25_557_032 - delta == 19_915_400
    # MACs of the first swapped 3x3 (56x56, w = 64): (64*32*9 + 32*9) * 56*56
    layer = [x for x in swap("resnet50", conv3x3="ghost", s=2).layers if x.name == "layer1.0.body.conv2"][0]
    assert layer.spec.costs().macs == (64 * 32 * 9 + 32 * 9) * 56 * 56 == 58_705_920


def test_published_table_rows():
    frame = published_table()
    same = frame[frame["note"].str.startswith("equal at the paper's precision")]
    assert len(same) >= 9
    assert (same["ours (paper's precision)"] == same["paper"]).all()
    assert set(frame["network"]) == {"GhostNet", "ResNet-50", "Ghost-ResNet-50", "SPConv-ResNet-50",
                                     "MobileNet v1", "VGG-16", "VGG-16 CIFAR", "Ghost-VGG-16 CIFAR"}
    vgg = frame[(frame["network"] == "VGG-16") & (frame["quantity"] == "MACs")].iloc[0]
    assert vgg["ours (paper's precision)"] == "15.5 B"  # 15,470,264,320: the FC layers included
    assert frame["note"].str.len().min() > 20  # every row says why


def test_layers_have_module_paths(built):
    net = built["resnet50"][0]
    module = net.module()
    names = [layer.name for layer in net.layers]
    assert names[:3] == ["conv1", "maxpool", "layer1.0"]
    for name in names:
        module.get_submodule(name)  # every layer name is a real module path


@pytest.mark.parametrize("call, message", [
    (lambda: network("resnet18"), "network = 'resnet18' is unknown"),
    (lambda: network("ghostnet", width=0), "width = 0 is invalid"),
    (lambda: network("vgg16", width=2), "network 'vgg16'"),
    (lambda: swap("resnet50", conv3x3="winograd"), "design = 'winograd' is not swappable"),
    (lambda: swap("resnet50", conv3x3="ghost", alpha=0.5), "option(s) alpha are invalid"),
    (lambda: swap("mobilenet_v1", conv3x3="ghost"), "network = 'mobilenet_v1' has no swap"),
    (lambda: swap("resnet50", conv3x3="tbc", B=3), "B must divide"),
    # issue 14 part 2: every network option is checked like a spec field, naming it and its range
    (lambda: network("ghostnet", width=True), "width = True is invalid: allowed is a number in (0, 4]"),
    (lambda: network("mobilenet_v1", width="1"), "width = '1' is invalid: allowed is a number in (0, 4]"),
    (lambda: network("ghostnet", width=float("nan")), "width = nan is invalid"),
    (lambda: network("resnet50", resolution="224"), "resolution = '224' is invalid: allowed is an integer >= 1"),
    (lambda: network("vgg16", resolution=224.0), "resolution = 224.0 is invalid"),
    (lambda: network("vgg16_cifar", resolution=None), "resolution = None is invalid"),
    (lambda: network("ghostnet", num_classes=2**31 + 1), "num_classes = 2147483649 is invalid"),
    (lambda: network("resnet50", width=1), "option(s) width are invalid for network 'resnet50': allowed are "
                                           "resolution, num_classes"),
    (lambda: swap("resnet50", conv3x3="ghost", resolution=True), "resolution = True is invalid"),
])
def test_bad_input_names_the_parameter(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_numpy_options_become_python_numbers():
    import numpy as np

    net = network("ghostnet", width=np.float64(0.5), resolution=np.int64(96))
    assert net.config["resolution"] == 96 and type(net.config["resolution"]) is int
    assert net.input_shape == (3, 96, 96)


def test_a_resolution_too_large_for_a_layer_names_the_network_and_option():
    """A resolution in range for the option can still overflow a layer (VGG-16's first FC takes
    512 * (r / 32)^2 inputs): the error names the network and resolution, then the layer's reason."""
    import costmodel as cm

    with pytest.raises(ValueError, match=r"network 'vgg16' with resolution=1000000000 cannot be built: .*c_in"):
        cm.network("vgg16", resolution=10**9)
    with pytest.raises(ValueError, match=r"network 'vgg16' with resolution=1000000000 cannot be built"):
        cm.swap("vgg16", conv3x3="ghost", resolution=10**9)
