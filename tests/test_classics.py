"""Hand-worked numbers for the classic designs (A1-A11), arithmetic in the comments."""

from __future__ import annotations

import sympy as sp

import costmodel as cm
from costmodel.core.symbols import c_out, k

PLAIN = dict(bias=False, bn=False, act=False)


def test_reduce_1x1_before_5x5_seed_example():
    # 1x1 128->32: 128*32 = 4,096; 5x5 32->256: 32*256*25 = 204,800 ... the seed's 204,800 is
    # the 5x5 alone; with the 1x1 the block has 4,096 + 204,800 = 208,896.
    reduced = cm.Reduce(c_in=128, c_mid=32, c_out=256, k=5, **PLAIN)
    direct = cm.Conv(c_in=128, c_out=256, k=5, **PLAIN)
    assert reduced.op_table().set_index("op").loc["conv_conv", "params"] == 204_800
    assert reduced.params() == 4_096 + 204_800
    # direct 5x5 128->256: 128*256*25 = 819,200
    assert direct.params() == 819_200


def test_bottleneck_seed_example():
    # 1x1 256->64: 16,384; 3x3 64->64: 64*64*9 = 36,864; 1x1 64->256: 16,384; total 69,632
    block = cm.Bottleneck(c_in=256, c_mid=64, c_out=256, k=3, **PLAIN)
    assert block.params() == 69_632
    # plain 3x3 256->256: 256*256*9 = 589,824
    assert cm.Conv(c_in=256, c_out=256, k=3, **PLAIN).params() == 589_824
    # MACs at 56x56: 69,632 weights each used 56*56 = 3,136 times = 218,365,952
    assert cm.Bottleneck(c_in=256, c_mid=64, c_out=256, k=3, h=56, w=56, **PLAIN).macs() == 218_365_952


def test_bottleneck_with_projection_and_bn():
    # stride 2, 256 -> 512 (mid 128), 56x56 -> 28x28, BN everywhere:
    # conv1 256*128 = 32,768; conv2 128*128*9 = 147,456; conv3 128*512 = 65,536;
    # projection 256*512 = 131,072; BN 2*(128+128+512+512) = 2,560; total 379,392
    block = cm.Bottleneck(c_in=256, c_mid=128, c_out=512, stride=2, h=56, w=56, bn=True, act=True)
    assert block.params() == 379_392
    # MACs: conv1 at 56x56: 32,768*3,136 = 102,760,448; the rest at 28x28 (784):
    # (147,456 + 65,536 + 131,072)*784 = 269,746,176; total 372,506,624
    assert block.macs() == 372_506_624


def test_5x5_has_25_over_9_the_params_of_3x3():
    from costmodel.core.symbols import bias, bn

    plain = cm.formula("conv").params.subs({bias: 0, bn: 0})  # c_out*c_in*k**2
    assert sp.simplify(plain.subs(k, 5) / plain.subs(k, 3)) == sp.Rational(25, 9)
    # and numerically: 7*5*25 = 875 vs 7*5*9 = 315, 875/315 = 25/9
    assert cm.Conv(c_in=7, c_out=5, k=5).params() == 875
    assert cm.Conv(c_in=7, c_out=5, k=3).params() == 315


def test_factorized_5x5_into_two_3x3():
    # two 3x3: 9*64*32 + 9*32*64 = 36,864 vs one 5x5 64->64: 25*64*64 = 102,400
    assert cm.Factorized(c_in=64, c_mid=32, c_out=64, k=5).params() == 36_864
    # k=7 -> three 3x3: 9*(64*32 + 32*32 + 32*64) = 46,080
    assert cm.Factorized(c_in=64, c_mid=32, c_out=64, k=7).params() == 46_080


def test_asymmetric_factorization():
    # 3x1 32->16: 3*32*16 = 1,536; 1x3 16->32: 1,536; total 3,072 (vs 9*32*32 = 9,216)
    block = cm.Asymmetric(c_in=32, c_mid=16, c_out=32, k=3, h=10, w=10)
    assert block.params() == 3_072
    assert block.macs() == 3_072 * 100


def test_inception_3a():
    # GoogLeNet inception(3a), 192 in, 28x28, conv bias on:
    # 1x1: 192*64 + 64 = 12,352
    # 3x3 branch: 192*96 + 96 = 18,528; 96*128*9 + 128 = 110,720
    # 5x5 branch: 192*16 + 16 = 3,088; 16*32*25 + 32 = 12,832
    # pool proj: 192*32 + 32 = 6,176
    # total 163,696
    block = cm.Inception()
    assert block.params() == 163_696
    # MACs: weights (no bias) 12,288 + 18,432 + 110,592 + 3,072 + 12,800 + 6,144 = 163,328
    # times 28*28 = 784 -> 128,049,152
    assert block.macs() == 128_049_152


def test_depthwise_separable_ratio_is_exactly_1_over_n_plus_1_over_k2():
    r = cm.ratio("separable", "conv")
    from costmodel.core.symbols import act, bias, bn

    r = sp.simplify(r.subs({bias: 0, bn: 0, act: 0}))
    assert sp.simplify(r - (1 / c_out + 1 / k**2)) == 0
    assert sp.expand(r) == 1 / c_out + 1 / k**2


def test_ratio_with_specs_uses_their_options():
    r = cm.ratio(cm.Separable(), cm.Conv())
    assert sp.expand(r) == 1 / c_out + 1 / k**2


def test_group_conv_divides_by_groups():
    # 64->128, 3x3, g=4: 128*(64/4)*9 = 18,432 params; at 7x7: *49 = 903,168 MACs
    spec = cm.GroupConv(c_in=64, c_out=128, k=3, groups=4, h=7, w=7)
    assert spec.params() == 18_432
    assert spec.macs() == 903_168
    assert sp.simplify(cm.ratio("group_conv", "conv") - 1 / sp.Symbol("groups", integer=True, positive=True)) == 0


def test_depthwise_and_pointwise_counts():
    # depthwise 32 ch, 3x3, stride 2 on 15x15 -> 8x8: params 32*9 = 288, MACs 288*64 = 18,432
    assert cm.Depthwise(c_in=32, k=3, stride=2, h=15, w=15).macs() == 18_432
    assert cm.Depthwise(c_in=32, k=3, stride=2, h=15, w=15).params() == 288
    # pointwise 32->64 at 10x10 with bias and BN: 32*64 + 64 + 128 = 2,240 params
    assert cm.Pointwise(c_in=32, c_out=64, h=10, w=10, bias=True, bn=True).params() == 2_240


def test_memory_traffic_of_a_conv():
    # 3x3 16->32 on 8x8, fp32: input 16*64 = 1,024, output 32*64 = 2,048, weights 4,608
    # -> (1,024 + 2,048 + 4,608) * 4 bytes = 30,720 bytes
    assert cm.Conv(c_in=16, c_out=32, k=3, h=8, w=8).mem_bytes() == 30_720


def test_compare_frame_has_units_in_columns():
    frame = cm.compare([cm.Conv(), cm.Separable()])
    assert list(frame["design"]) == ["conv", "separable"]
    assert {"params", "MACs", "FLOPs", "mem bytes"} <= set(frame.columns)
    # 3x3 64->64 at 56x56: 36,864 * 3,136 = 115,605,504 MACs
    assert frame.loc[0, "MACs"] == 115_605_504 and frame.loc[0, "FLOPs"] == 231_211_008


def test_invalid_specs_name_the_field():
    import pytest

    with pytest.raises(ValueError, match=r"GroupConv\.groups = 3 .*divide c_in"):
        cm.GroupConv(c_in=64, c_out=96, groups=3)
    with pytest.raises(ValueError, match=r"Conv\.k = 0 .*integer >= 1"):
        cm.Conv(k=0)
    with pytest.raises(ValueError, match=r"Conv\.h = -5"):
        cm.Conv(h=-5)
    with pytest.raises(ValueError, match=r"Factorized\.k = 4 .*odd"):
        cm.Factorized(k=4)
    with pytest.raises(ValueError, match=r"Conv\.bias = 'yes'"):
        cm.Conv(bias="yes")
