"""analyze() on the cases of issue 15, each answer worked out by hand in the comment beside it:
custom leaves calling tensor functions, einsum, bmm, attention (SDPA, nn.MultiheadAttention),
conv variants, a BN subclass, interpolate, layer scale, a method other than forward, batch 4.
Each MAC total is also checked against FlopCounterMode / 2 on the unfused (math) path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from costmodel.analysis import analyze


def flop_counter_macs(model: nn.Module, shape: tuple[int, ...]) -> int:
    """FlopCounterMode's FLOPs / 2 on the unfused math path, grad enabled (so nn.MultiheadAttention
    takes its slow path and SDPA its math kernel: every product is visible at the aten level)."""
    x = torch.randn(shape)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2


def by_kind(result) -> dict[str, int]:
    """Our per-kind sums of MACs + elementwise ops (rows of the table; "params" rows hold a
    module's own parameters used by the functions it calls, and cost nothing)."""
    out: dict[str, int] = {}
    for kind, macs, elem in zip(result.table["kind"], result.table["MACs"], result.table["elementwise ops"]):
        if kind != "params":
            out[kind] = out.get(kind, 0) + int(macs) + int(elem)
    return out


def check(model: nn.Module, shape: tuple[int, ...], macs: int, params: int):
    """analyze() gives the hand-worked MACs and params, FlopCounterMode agrees, nothing unknown."""
    result = analyze(model, shape)
    assert result.macs == macs
    assert result.params == params == sum(p.numel() for p in model.parameters())
    assert result.totals["unknown"] == 0 and result.unknown.empty
    assert flop_counter_macs(model, shape) == macs
    return result


# --- modules -------------------------------------------------------------------------------------

class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv(self.conv(x))


class FunctionalLeaf(nn.Module):
    """A leaf holding Parameters, computing with F.conv2d and ``@`` (no child modules)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 3, 3, 3))
        self.proj = nn.Parameter(torch.randn(8, 5))

    def forward(self, x):
        return F.conv2d(x, self.weight, padding=1).mean((2, 3)) @ self.proj


class Einsums(nn.Module):
    def forward(self, x):
        gram = torch.einsum("bchw,bdhw->bcd", x, x)
        square = torch.einsum("bij,bjk->bik", gram, gram)
        return torch.einsum("bc,cd->bd", x.mean((2, 3)), square[0])


class Bmm(nn.Module):
    def forward(self, x):
        tokens = x.flatten(2)
        return torch.bmm(tokens, tokens.transpose(1, 2))


class Sdpa(nn.Module):
    def __init__(self, causal: bool) -> None:
        super().__init__()
        self.causal = causal

    def forward(self, x):
        q = x.flatten(2).reshape(x.shape[0], 2, -1, 4)  # (N, 2 heads, L, E = 4)
        return F.scaled_dot_product_attention(q, q, q, is_causal=self.causal)


class Attention(nn.Module):
    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.batch_first = batch_first
        self.attn = nn.MultiheadAttention(16, 4, batch_first=batch_first)

    def forward(self, x):
        t = x.flatten(2).transpose(1, 2)  # (N, L, E)
        t = t if self.batch_first else t.transpose(0, 1)
        return self.attn(t, t, t)[0]


class CrossAttention(nn.Module):
    """kdim / vdim differ from embed_dim (separate projection weights), with a key padding mask."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 2, kdim=8, vdim=12, batch_first=True)

    def forward(self, x):
        n = x.shape[0]
        q = x.flatten(2).transpose(1, 2)  # (N, 9, 16)
        k, v = torch.ones(n, 5, 8), torch.ones(n, 5, 12)
        mask = torch.zeros(n, 5, dtype=torch.bool)
        mask[:, -1] = True
        return self.attn(q, k, v, key_padding_mask=mask)[0]


class BNAct(nn.BatchNorm2d):
    """A "BN + act" layer: a BatchNorm2d subclass that calls F.batch_norm itself, with a child."""

    def __init__(self, c: int) -> None:
        super().__init__(c)
        self.act = nn.ReLU()

    def forward(self, x):
        y = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                         self.momentum, self.eps)
        return self.act(y)


class Resize(nn.Module):
    def forward(self, x):
        a = F.interpolate(x, size=(6, 6), mode="nearest")
        b = F.interpolate(x, scale_factor=2, mode="nearest")
        c = F.interpolate(x, size=(6, 6), mode="bilinear", align_corners=False)
        d = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return a + b + c + d


class LayerScale(nn.Module):
    """A non-leaf module multiplying a branch by its own parameter (CaiT / ConvNeXt layer scale)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1, bias=False)
        self.gamma = nn.Parameter(torch.full((4, 1, 1), 1e-2))

    def forward(self, x):
        return x + self.gamma * self.conv(x)


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x):  # never called: the model uses logits()
        raise AssertionError("not this one")

    def logits(self, x):
        return self.fc(x) * self.scale


class ViaMethod(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 1)
        self.head = Head()

    def forward(self, x):
        return self.head.logits(self.body(x).mean((2, 3)))


# --- the cases -----------------------------------------------------------------------------------

def test_conv_called_twice_counts_params_once_macs_twice():
    # 4 -> 4, 3x3, same padding on 5x5: 4*25 = 100 outputs x 4*9 = 3,600 MACs per call, 2 calls;
    # params 4*4*9 = 144, once
    result = check(Twice(), (1, 4, 5, 5), macs=7_200, params=144)
    assert list(result.table["MACs"]) == [3_600, 3_600]


def test_functional_leaf_inside_a_model():
    # F.conv2d 3 -> 8, 3x3, same, on 2x3x6x6: 2*8*36 = 576 outputs x 27 = 15,552 MACs;
    # mean reads 576; (2, 8) @ (8, 5): 10 outputs x 8 = 80 MACs. Params 8*27 + 8*5 = 256
    model = nn.Sequential(nn.Identity(), FunctionalLeaf())
    result = check(model, (2, 3, 6, 6), macs=15_632, params=256)
    assert by_kind(result) == {"conv": 15_552, "mean": 576, "matmul": 80}
    assert set(result.table["path"]) == {"1"}


def test_root_module_without_children():
    # the same leaf as the whole model: 15,552 + 80 MACs, 256 params
    result = check(FunctionalLeaf(), (2, 3, 6, 6), macs=15_632, params=256)
    assert set(result.table["path"]) == {""}


def test_einsum_three_equations():
    # x 2x3x4x4. "bchw,bdhw->bcd": b c d h w = 2*3*3*4*4 = 288 MACs;
    # "bij,bjk->bik" on 2x3x3: 2*3*3*3 = 54; "bc,cd->bd" (2x3, 3x3): 2*3*3 = 18; total 360
    result = check(Einsums(), (2, 3, 4, 4), macs=360, params=0)
    assert list(result.table.loc[result.table["kind"] == "einsum", "MACs"]) == [288, 54, 18]


def test_bmm():
    # tokens 2x3x16, (2x3x16) bmm (2x16x3): 2*3*3 = 18 outputs x 16 = 288 MACs
    check(Bmm(), (2, 3, 4, 4), macs=288, params=0)


@pytest.mark.parametrize("causal, softmax_ops", [(False, 512), (True, 768)])
def test_sdpa(causal, softmax_ops):
    # q = k = v: 2 x 2 heads x L = 8 x E = 4. QK^T: 2*2*8*8 scores x 4 = 1,024 MACs; AV the same:
    # 2,048. Causal: the math path still computes the full products. Per score (256): 1 scale
    # + 1 softmax = 512 ops, + 1 mask op when causal = 768
    result = check(Sdpa(causal), (2, 4, 4, 4), macs=2_048, params=0)
    assert by_kind(result) == {"attention": 2_048, "softmax": softmax_ops}


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("train", [False, True])
def test_multihead_attention(batch_first, train):
    # E = 16, 4 heads (E/h = 4), N = 2, L = S = 9 tokens. In-projections q, k, v: 3 x L*N*E^2 =
    # 3 x 9*2*256 = 13,824; out projection 4,608; QK^T and AV: 2 x N*h*L*S*(E/h) = 2 x 2*4*9*9*4
    # = 5,184. Total 23,616 MACs. Params: in_proj 3*16*16 + 48 bias, out_proj 256 + 16 = 1,088.
    # eval (the fast path outside analyze) and train (the slow path) give the same count
    model = Attention(batch_first).train(train)
    result = check(model, (2, 16, 3, 3), macs=23_616, params=1_088)
    assert by_kind(result)["linear"] == 18_432 and by_kind(result)["attention"] == 5_184
    assert model.training is train and model.attn.training is train
    # out_proj's forward never runs (its weight goes to F.multi_head_attention_forward): 272 params
    out_proj = result.table.set_index("path").loc["attn.out_proj"]
    assert (out_proj["layer"], out_proj["params"]) == ("used by parent", 272)


def test_multihead_attention_kdim_vdim_and_mask():
    # E = 16, 2 heads (E/h = 8), N = 2, L = 9 queries, S = 5 keys, kdim 8, vdim 12.
    # q: L*N*E*E = 9*2*256 = 4,608; k: S*N*kdim*E = 5*2*8*16 = 1,280; v: 5*2*12*16 = 1,920;
    # out 4,608 -> projections 12,416. QK^T and AV: 2 x N*h*L*S*(E/h) = 2 x 2*2*9*5*8 = 2,880.
    # Total 15,296. Params: q 256, k 128, v 192, in bias 48, out 256 + 16 = 896
    result = check(CrossAttention(), (2, 16, 3, 3), macs=15_296, params=896)
    # scores N*h*L*S = 180: scale + softmax + mask = 3 ops each
    assert by_kind(result)["softmax"] == 540


def test_linear_on_3d_input():
    # (2, 3, 5) -> (2, 3, 7): 42 outputs x 5 = 210 MACs; params 35 + 7
    check(nn.Linear(5, 7), (2, 3, 5), macs=210, params=42)


def test_grouped_transposed_conv_with_output_padding():
    # ConvTranspose2d 4 -> 6, k 3, stride 2, 2 groups, output_padding 1 on 5x5: output
    # (5-1)*2 + 3 + 1 = 12. Each of the 4*25 = 100 input elements scatters (6/2)*9 = 27 products:
    # 2,700 MACs. Params: weight 4 x 3 x 3 x 3 = 108 + bias 6 = 114
    result = check(nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2, output_padding=1), (1, 4, 5, 5),
                   macs=2_700, params=114)
    assert result.table.iloc[0]["output"] == "1x6x12x12"


def test_conv1d_and_conv3d():
    # Conv1d 3 -> 4, k 3 on length 10: 4*8 = 32 outputs x 9 = 288 MACs; params 36 + 4
    check(nn.Conv1d(3, 4, 3), (1, 3, 10), macs=288, params=40)
    # Conv3d 3 -> 4, k 3 on 5^3: 4*27 = 108 outputs x 3*27 = 8,748 MACs; params 324 + 4
    check(nn.Conv3d(3, 4, 3), (1, 3, 5, 5, 5), macs=8_748, params=328)


def test_dilated_grouped_conv():
    # 4 -> 8, k 3, dilation 2 (span 5), 2 groups on 9x9: 5x5 out, 200 outputs x (4/2)*9 = 3,600;
    # params 8*2*9 + 8 = 152
    result = check(nn.Conv2d(4, 8, 3, dilation=2, groups=2), (1, 4, 9, 9), macs=3_600, params=152)
    assert result.table.iloc[0]["layer"] == "group"


def test_depthwise_with_channel_multiplier():
    # 4 -> 8, groups 4 (multiplier 2), k 3 on 6x6: 4x4 out, 128 outputs x 1*9 = 1,152 MACs;
    # params 8*9 + 8 = 80
    result = check(nn.Conv2d(4, 8, 3, groups=4), (1, 4, 6, 6), macs=1_152, params=80)
    assert result.table.iloc[0]["layer"] == "depthwise"


def test_batchnorm_subclass_calling_f_batch_norm():
    # 1x4x3x3 = 36 elements: eval BN with affine 2 ops each = 72; the ReLU child 36. Params 8
    result = check(BNAct(4), (1, 4, 3, 3), macs=0, params=8)
    assert by_kind(result) == {"batch_norm": 72, "relu": 36}


def test_interpolate_size_and_scale_factor():
    # 1x2x3x3 -> 1x2x6x6 = 72 outputs each way: nearest 1 op per output (size= and scale_factor=:
    # 72 + 72), bilinear 4 (288 + 288); three adds of 72. No MACs
    result = check(Resize(), (1, 2, 3, 3), macs=0, params=0)
    assert by_kind(result) == {"upsample": 72 + 72 + 288 + 288, "add": 216}
    modes = list(zip(result.table["module"], result.table["elementwise ops"]))[:4]
    assert modes == [("Resize.interpolate", 72)] * 2 + [("Resize.interpolate", 288)] * 2


def test_layer_scale_in_a_non_leaf_module():
    # 1x1 conv 4 -> 4 on 3x3: 36 outputs x 4 = 144 MACs; gamma * branch 36, + x 36; params 16 + 4
    result = check(LayerScale(), (1, 4, 3, 3), macs=144, params=20)
    assert by_kind(result) == {"conv": 144, "mul": 36, "add": 36}


def test_submodule_reached_through_another_method():
    # body 1x1 conv 3 -> 4 on 2x3x4x4: 128 outputs x 3 = 384 MACs; mean reads 128;
    # head.fc 4 -> 3 on 2 samples: 6 outputs x 4 = 24 MACs; * scale 6 ops.
    # Params: 12 + 4 + 12 + 3 + 3 = 34 (Head's own scale counted though Head.forward never ran)
    result = check(ViaMethod(), (2, 3, 4, 4), macs=408, params=34)
    assert by_kind(result) == {"conv": 384, "mean": 128, "linear": 24, "mul": 6}
    assert "head.fc" in set(result.table["path"])


def test_batch_4():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 10))
    # conv: 4*8*8*8 = 2,048 outputs x 27 = 55,296; linear 4*10 x 8 = 320; params 216 + 90
    result = check(model, (4, 3, 8, 8), macs=55_616, params=306)
    # ReLU 2,048 elements, global pool reads 2,048
    assert by_kind(result) == {"conv": 55_296, "relu": 2_048, "adaptive_avg_pool2d": 2_048, "linear": 320}
    assert analyze(model, (1, 3, 8, 8)).macs * 4 == 55_616


def test_stochastic_depth_and_permute_are_known():
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            y = self.fc(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            if self.training:  # stochastic depth: identity in eval
                y = y * torch.bernoulli(torch.full((x.shape[0], 1, 1, 1), 0.9)) / 0.9
            return x + y

    # fc on 1x3x3 tokens of 4: 36 outputs x 4 = 144 MACs; add 36; params 20
    result = check(Block().train(), (1, 4, 3, 3), macs=144, params=20)
    assert by_kind(result) == {"linear": 144, "add": 36}


class Gqa(nn.Module):
    """Grouped-query attention: 4 query heads share 2 key/value heads (enable_gqa)."""

    def forward(self, x):  # x (2, 4, 8, 4): q = x, k = 2 heads x S = 6 x E = 4, v the same with Ev = 3
        return F.scaled_dot_product_attention(x, x[:, :2, :6], x[:, :2, :6, :3], enable_gqa=True)


class MaskedSdpa(nn.Module):
    def forward(self, x):  # (2, 2, 8, 4); a float mask (8, 8) added to every score
        return F.scaled_dot_product_attention(x, x, x, attn_mask=torch.zeros(8, 8))


def test_sdpa_grouped_query_heads():
    # every one of the Hq = 4 query heads attends: rows N*Hq*L = 2*4*8 = 64. QK^T 64 x S 6 x E 4 =
    # 1,536; AV 64 x 6 x Ev 3 = 1,152: 2,688 MACs. Scores 64*6 = 384: scale + softmax = 768 ops
    result = check(Gqa(), (2, 4, 8, 4), macs=2_688, params=0)
    assert by_kind(result) == {"attention": 2_688, "softmax": 768}


def test_sdpa_with_an_explicit_mask():
    # as the plain case (2,048 MACs over 256 scores) plus 1 mask add per score: 256 * 3 = 768
    result = check(MaskedSdpa(), (2, 2, 8, 4), macs=2_048, params=0)
    assert by_kind(result) == {"attention": 2_048, "softmax": 768}


class CausalAttention(nn.Module):
    """nn.MultiheadAttention, sequence first, a causal attn_mask and need_weights=False (its slow
    path then runs F.scaled_dot_product_attention instead of explicit bmm's)."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4)

    def forward(self, x):
        t = x.flatten(2).permute(2, 0, 1)  # (L = 9, N = 2, E = 16)
        mask = torch.ones(9, 9, dtype=torch.bool).triu(1)
        return self.attn(t, t, t, attn_mask=mask, need_weights=False)[0]


def test_multihead_attention_causal_mask_without_weights():
    # the shapes of test_multihead_attention: 18,432 projection + 5,184 attention = 23,616 MACs,
    # 1,088 params. Scores N*h*L*S = 2*4*9*9 = 648: scale + softmax + mask = 1,944 ops. The module
    # first turns the 9x9 bool mask into a float one (masked_fill, 1 op per element): 81
    result = check(CausalAttention(), (2, 16, 3, 3), macs=23_616, params=1_088)
    assert by_kind(result) == {"linear": 18_432, "attention": 5_184, "softmax": 1_944, "mul": 81}


def test_multihead_attention_fast_path_model_is_counted(monkeypatch):
    # eval, no grad, batch_first, self-attention: torch's fused fast path, which never calls
    # F.multi_head_attention_forward (and which FlopCounterMode cannot see into on CPU).
    model = Attention(batch_first=True).eval()
    calls = []
    real = F.multi_head_attention_forward
    with monkeypatch.context() as patch, torch.no_grad():
        patch.setattr(F, "multi_head_attention_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
        model(torch.randn(2, 16, 3, 3))
    assert calls == []  # the fast path ran
    # analyze() still gives the hand-worked 23,616 MACs of test_multihead_attention
    assert analyze(model, (2, 16, 3, 3)).macs == 23_616
    assert not model.training


class Composite(nn.Module):
    """Tensor functions torch runs as one composite call (the function mode sees only the outer
    call): normalize, rms_norm, tensordot, outer, mv, floor division, grid_sample, area resize."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(4))
        self.grid = nn.Parameter(torch.zeros(1, 3, 5, 2))

    def forward(self, x):  # x (1, 2, 4, 4)
        t = x.flatten(2).transpose(1, 2)  # (1, 16, 2)
        a = F.normalize(t, dim=-1)
        b = F.rms_norm(x.transpose(1, 3), (2,))
        c = torch.tensordot(t, t, dims=([1], [1]))  # (1, 2, 1, 2), 16 contracted
        d = torch.outer(self.w, self.w)
        e = torch.mv(d, self.w)
        f = x // 2 + x % 2
        g = F.grid_sample(x, self.grid, align_corners=False)
        h = F.interpolate(x, size=(2, 2), mode="area")
        return a.sum() + b.sum() + c.sum() + e.sum() + f.sum() + g.sum() + h.sum()


def test_composite_functions_are_named_and_costed():
    result = analyze(Composite(), (1, 2, 4, 4))
    assert result.unknown.empty
    ops = dict(zip(result.table["module"], zip(result.table["MACs"], result.table["elementwise ops"])))
    # normalize 32 elements: norm + divide = 64; rms_norm without weight 3 per element = 96
    assert ops["Composite.normalize"] == (0, 64) and ops["Composite.rms_norm"] == (0, 96)
    # tensordot: out 1*2*1*2 = 4 elements x 16 contracted = 64 MACs; outer 4x4 = 16 muls;
    # mv (4x4) @ 4: 4 outputs x 4 = 16 MACs
    assert ops["Composite.tensordot"] == (64, 0) and ops["Composite.outer"] == (0, 16)
    assert ops["Composite.mv"] == (16, 0)
    # floor division and remainder: 32 each; bilinear grid_sample 1x2x3x5 = 30 outputs x 4 = 120;
    # area resize to 2x2 is an adaptive average pool: 1 op per input element, 32
    assert ops["Composite.floordiv"] == (0, 32) and ops["Composite.remainder"] == (0, 32)
    assert ops["Composite.grid_sample"] == (0, 120) and ops["Composite.interpolate"] == (0, 32)
    # params w 4 + grid 30; MACs 64 + 16 = 80
    assert (result.params, result.macs) == (34, 80)


def test_upsample_module_modes():
    # 1x2x3x3 -> 1x2x6x6 = 72 outputs: nearest 1 op each, bilinear 4, bicubic 16
    for mode, ops in (("nearest", 72), ("bilinear", 288), ("bicubic", 1_152)):
        result = analyze(nn.Upsample(scale_factor=2, mode=mode), (1, 2, 3, 3))
        assert result.totals["elementwise"] == {"upsample": ops}, mode


class ExtraKeys(nn.Module):
    """nn.MultiheadAttention with a learnt bias key/value and a zero key (S grows by 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, add_bias_kv=True, add_zero_attn=True, batch_first=True)

    def forward(self, x):
        t = x.flatten(2).transpose(1, 2)  # (N = 2, L = 9, E = 16)
        return self.attn(t, t, t)[0]


def test_multihead_attention_bias_kv_and_zero_attn():
    # projections as test_multihead_attention: 18,432. Keys S' = 9 + 1 (bias_k) + 1 (zero) = 11:
    # QK^T and AV 2 x N*h*L*S'*(E/h) = 2 x 2*4*9*11*4 = 6,336. Total 24,768 MACs.
    # Params 1,088 + bias_k 16 + bias_v 16 = 1,120; scores 2*4*9*11 = 792 x (scale + softmax)
    result = check(ExtraKeys(), (2, 16, 3, 3), macs=24_768, params=1_120)
    assert by_kind(result)["attention"] == 6_336 and by_kind(result)["softmax"] == 1_584


def test_a_module_never_used_is_not_called():
    class WithSpare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1, bias=False)
            self.spare = nn.Linear(2, 3)  # defined, never used

        def forward(self, x):
            return self.conv(x)

    result = analyze(WithSpare(), (1, 2, 3, 3))
    spare = result.table.set_index("path").loc["spare"]
    # Linear 2 -> 3: 6 + 3 = 9 params, counted (torch counts them) but not called; conv 18 x 2 = 36 MACs
    assert (spare["layer"], spare["params"], result.params, result.macs) == ("not called", 9, 13, 36)


def test_modules_called_with_keyword_arguments():
    class Keywords(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 5)

        def forward(self, x):
            return self.fc(input=x)

    # (2, 3, 4) -> (2, 3, 5): 30 outputs x 4 = 120 MACs; params 20 + 5
    check(Keywords(), (2, 3, 4), macs=120, params=25)
