"""A user's MobileViT-style hybrid (conv stem, inverted residual, transformer blocks with
nn.MultiheadAttention and with a custom F.scaled_dot_product_attention, LayerNorm, GELU, layer
scale, stochastic depth, F.interpolate), analysed as a user would: every op named, nothing
unknown, MACs worked out by hand and equal to FlopCounterMode / 2 on the math path, fvcore's
count explained (strict), the model given back in train mode. Issue 15's "done when"."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from costmodel.analysis import analyze
from tests.test_analyze_cases import flop_counter_macs


class ConvBNAct(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__(nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out),
                         nn.SiLU() if act else nn.Identity())


class InvertedResidual(nn.Module):
    def __init__(self, c: int, expand: int) -> None:
        super().__init__()
        self.block = nn.Sequential(ConvBNAct(c, c * expand, 1), ConvBNAct(c * expand, c * expand, 3, groups=c * expand),
                                   ConvBNAct(c * expand, c, 1, act=False))

    def forward(self, x):
        return x + self.block(x)


class DropPath(nn.Module):
    """timm-style stochastic depth: identity outside training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty(x.shape[0], 1, 1, device=x.device).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(1e-5 * torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class SelfAttention(nn.Module):
    """timm-style attention: one qkv projection, SDPA over heads, an output projection."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mha: bool) -> None:
        super().__init__()
        self.mha = mha
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True) if mha else SelfAttention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.ls2 = LayerScale(dim)
        self.drop_path = DropPath(0.1)

    def forward(self, x):
        y = self.norm1(x)
        y = self.attn(y, y, y, need_weights=False)[0] if self.mha else self.attn(y)
        x = x + self.drop_path(self.ls1(y))
        return x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))


class Hybrid(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvBNAct(3, 8, 3, stride=2)
        self.ir = InvertedResidual(8, 2)
        self.transformers = nn.Sequential(TransformerBlock(8, 2, mha=True), TransformerBlock(8, 2, mha=False))
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        y = self.ir(self.stem(x))
        n, c, h, w = y.shape
        t = self.transformers(y.flatten(2).transpose(1, 2))
        y = y + t.transpose(1, 2).reshape(n, c, h, w)
        y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        return self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1))


def build() -> nn.Module:
    return Hybrid()


# Hand-worked at 1x3x16x16 (batch 1). Conv MACs:
#   stem 3 -> 8, 3x3, stride 2 -> 8x8: 64*8 = 512 outputs x 27 = 13,824
#   inverted residual (x2): pw 8 -> 16: 1,024 outputs x 8 = 8,192; dw 3x3: 1,024 x 9 = 9,216;
#   pw 16 -> 8: 512 x 16 = 8,192                                             conv: 39,424
# Linear MACs on L = 64 tokens of E = 8, 2 heads (E/h = 4):
#   MHA block: q, k, v, out projections 4 x 64*8*8 = 16,384; QK^T + AV 2 x 2*64*64*4 = 65,536;
#     MLP 8 -> 16 -> 8: 2 x 64*16*8 = 16,384                                          98,304
#   SDPA block: qkv 64*24*8 = 12,288; SDPA 2 x 1*2*64*64*4 = 65,536; proj 64*8*8 = 4,096;
#     MLP 16,384                                                                      98,304
#   fc 8 -> 10: 80                                                            linear: 196,688
# Total 39,424 + 196,688 = 236,112 MACs.
# Params: stem 216 + BN 16; IR 128 + 32, 144 + 32, 128 + 16; each block LN 16 + 16, attention
# 288 (MHA in_proj 192 + 24, out 64 + 8; or qkv 216 + proj 72), layer scales 8 + 8, MLP 144 +
# 136; fc 90. 232 + 480 + 2 x 616 + 90 = 2,034.
MACS, CONV, PARAMS = 236_112, 39_424, 2_034

KINDS = {"conv", "batch_norm", "silu", "add", "layer_norm", "linear", "attention", "softmax", "mul", "gelu",
         "upsample", "adaptive_avg_pool2d", "params"}
"""Every op kind the hybrid runs, by name (params rows: a module's own weights used by its calls)."""


def test_hybrid_model_exact_and_every_op_named():
    model = build().train()  # a user's model, left in train mode (stochastic depth active)
    result = analyze(model, (1, 3, 16, 16), strict=True)  # strict: 0 unknown, fvcore's count explained
    assert (result.macs, result.totals["conv MACs"], result.params) == (MACS, CONV, PARAMS)
    assert result.params == sum(p.numel() for p in model.parameters())
    assert result.totals["unknown"] == 0 and set(result.table["kind"]) == KINDS
    assert model.training and all(m.training for m in model.modules())
    assert flop_counter_macs(model.eval(), (1, 3, 16, 16)) == MACS
    # softmax over the scores of both attentions: 2 x (1*2*64*64) scores x (scale + softmax)
    assert result.totals["elementwise"]["softmax"] == 2 * 8_192 * 2


def test_hybrid_from_the_cli_strict(tmp_path, capsys):
    from costmodel.cli import main

    path = tmp_path / "hybrid.py"
    path.write_text(open(__file__).read())
    assert main(["analyze", f"{path}:build", "--input", "1,3,16,16", "--strict", "--fvcore"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "236.11 K" in captured.out  # 236,112 MACs in human units
