"""Memory traffic (bytes read / written / weights) and arithmetic intensity vs hand-worked values.

Convention: each op reads its inputs once, writes its output once, reads its weights once, at
dtype_bytes = 4 (fp32). Intensity = MACs / total bytes.
"""

from __future__ import annotations

import pytest
import sympy as sp

from costmodel.designs.conv import Conv, Depthwise
from costmodel.latency.memory import classify_conv, traffic, traffic_formulas, traffic_table
from costmodel.core.symbols import sym


def test_conv_traffic_hand_worked():
    spec = Conv(c_in=8, c_out=16, k=3, h=10, w=10)
    t = traffic(spec)
    # input 8*10*10 = 800 elements -> 3,200 bytes
    assert t["read_bytes"] == 3200
    # output 16*10*10 = 1,600 elements ("same" padding, stride 1) -> 6,400 bytes
    assert t["write_bytes"] == 6400
    # weights 16*8*3*3 = 1,152 -> 4,608 bytes (no bias)
    assert t["weight_bytes"] == 4608
    # total 3,200 + 6,400 + 4,608 = 14,208 bytes
    assert t["mem_bytes"] == 14208
    # MACs 16*8*9*100 = 115,200; intensity 115,200 / 14,208 = 8.108... MACs/byte
    assert t["macs"] == 115200
    assert t["intensity"] == pytest.approx(115200 / 14208)


def test_conv_stride_bias_traffic():
    spec = Conv(c_in=3, c_out=4, k=3, stride=2, h=9, w=9, bias=True)
    t = traffic(spec)
    # input 3*81 = 243 elements -> 972 bytes
    assert t["read_bytes"] == 972
    # output: floor((9 + 2*1 - 3)/2) + 1 = 5, so 4*5*5 = 100 elements -> 400 bytes
    assert t["write_bytes"] == 400
    # weights 4*3*9 = 108 + bias 4 = 112 -> 448 bytes
    assert t["weight_bytes"] == 448
    assert t["mem_bytes"] == 972 + 400 + 448


def test_depthwise_bn_relu_traffic_per_op():
    spec = Depthwise(c_in=8, k=3, h=10, w=10, bn=True, act=True)
    table = traffic_table(spec).set_index("op")
    # conv: reads 8*100 = 800, writes 800, weights 8*9 = 72 -> 4*(800+800+72) = 6,688 bytes
    assert table.loc["conv", "mem_bytes"] == 6688
    # MACs 8*9*100 = 7,200 -> 7,200 / 6,688 = 1.0766 MACs/byte: 7.5x less than the dense conv above
    assert table.loc["conv", "macs"] == 7200
    assert table.loc["conv", "intensity"] == pytest.approx(7200 / 6688)
    assert table.loc["conv", "op_class"] == "depthwise"
    # BN: reads 800, writes 800, affine params 2*8 = 16 -> 4*1,616 = 6,464 bytes
    assert table.loc["bn", "mem_bytes"] == 6464
    # ReLU: reads 800, writes 800 -> 6,400 bytes, no MACs so intensity 0
    assert table.loc["relu", "mem_bytes"] == 6400
    assert table.loc["relu", "intensity"] == 0
    # design: 6,688 + 6,464 + 6,400 = 19,552 bytes; the intermediates are paid twice
    assert traffic(spec)["mem_bytes"] == 19552


def test_ghost_module_traffic_hand_worked():
    ghost = pytest.importorskip("costmodel.designs.ghost")
    spec = ghost.Ghost(c_in=4, c_out=6, k=1, s=2, d=3, h=5, w=5, relu=True)
    table = traffic_table(spec).set_index("op")
    # m = ceil(6/2) = 3 intrinsic maps.
    # primary 1x1 conv 4 -> 3: reads 4*25 = 100, writes 3*25 = 75, weights 3*4 = 12
    #   -> 4*(100+75+12) = 748 bytes; MACs 3*4*25 = 300
    assert table.loc["primary_conv", "mem_bytes"] == 748
    assert table.loc["primary_conv", "op_class"] == "pointwise"
    # cheap 3x3 depthwise 3 -> 3*(2-1) = 3: reads 75, writes 75, weights 3*9 = 27
    #   -> 4*(75+75+27) = 708 bytes; MACs 3*9*25 = 675
    assert table.loc["cheap_conv", "mem_bytes"] == 708
    assert table.loc["cheap_conv", "op_class"] == "depthwise"
    # concat of m*s = 6 maps of 25: reads 150, writes 150 -> 1,200 bytes
    assert table.loc["concat", "mem_bytes"] == 1200
    t = traffic(spec)
    # reads: 100 (primary) + 75 + 75 (BN, ReLU) + 75 (cheap) + 75 + 75 (BN, ReLU) + 150 (concat)
    #      = 625 elements -> 2,500 bytes
    assert t["read_bytes"] == 2500
    # writes: six ops of 75 + concat 150 = 600 elements -> 2,400 bytes
    assert t["write_bytes"] == 2400
    # weights: 12 + 6 (BN) + 27 + 6 (BN) = 51 -> 204 bytes
    assert t["weight_bytes"] == 204
    # total 5,104 bytes for 300 + 675 = 975 MACs: intensity 0.19 MACs/byte
    assert t["mem_bytes"] == 5104
    assert t["intensity"] == pytest.approx(975 / 5104)


def test_traffic_formulas_match_numbers():
    spec = Conv(c_in=8, c_out=16, k=3, h=10, w=10, bn=True)
    f = traffic_formulas(Conv)
    values = {sym(k): v for k, v in spec.values().items()}
    t = traffic(spec)
    for key in ("read_bytes", "write_bytes", "weight_bytes", "mem_bytes"):
        assert int(f[key].subs(values)) == t[key]
    assert float(f["intensity"].subs(values)) == pytest.approx(t["intensity"])
    # the total is the one Formulas.mem_bytes already has (no second definition)
    assert sp.simplify(f["mem_bytes"] - Conv.formulas().mem_bytes) == 0


@pytest.mark.parametrize("geometry, expected", [
    ((64, 64, 1, 3, 3), "dense"),
    ((64, 64, 1, 1, 1), "pointwise"),
    ((64, 64, 1, 1, 3), "dense"),        # a 1x3 asymmetric kernel is not pointwise
    ((64, 64, 64, 3, 3), "depthwise"),
    ((32, 64, 32, 3, 3), "depthwise"),   # channel multiplier 2
    ((64, 64, 4, 3, 3), "group"),
    ((64, 64, 4, 1, 1), "group"),
    ((64, 32, 64, 3, 3), "group"),       # groups == c_in but c_out not a multiple
])
def test_classify_conv(geometry, expected):
    c_in, c_out, groups, k, k_w = geometry
    assert classify_conv(c_in, c_out, groups, k, k_w) == expected


def test_forward_budget_is_checked_before_the_input_exists():
    from costmodel.core.spec import FORWARD_BUDGET

    spec = Conv(c_in=8, c_out=16, k=3, h=10, w=10)
    # input 8*10*10 = 800 elements; largest op output 16*10*10 = 1,600 ("same" padding)
    assert spec.input_elements() == 800 and spec.largest_output_elements() == 1600
    assert tuple(spec.example_input(2).shape) == (2, 8, 10, 10)
    # h = 2^27: (8 + 16) * 2^27 * 10 elements * 4 bytes = 120 GiB > the 8 GiB budget, refused by name
    huge = Conv(c_in=8, c_out=16, k=3, h=2**27, w=10)
    assert (huge.input_elements() + huge.largest_output_elements()) * 4 == 120 * 2**30 > FORWARD_BUDGET
    with pytest.raises(ValueError, match=r"Conv\.h = 134217728 is invalid: a forward at batch 1 .* 122,880 MiB"):
        huge.example_input()
    # batch counts too: (800 + 1,600) elements * 4 bytes = 9,600 bytes a sample; 10^6 samples =
    # 9.6e9 bytes = 9,155 MiB > 8 GiB
    with pytest.raises(ValueError, match="at batch 1000000 would allocate at least 9,155 MiB"):
        spec.example_input(10**6)
