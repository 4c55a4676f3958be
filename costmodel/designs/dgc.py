"""Dynamic Group Convolution (catalogue C).

Paper: Zhuo Su, Linpu Fang, Wenxiong Kang, Dewen Hu, Matti Pietikäinen, Li Liu,
"Dynamic Group Convolution for Accelerating Convolutional Neural Networks", ECCV 2020,
https://arxiv.org/abs/2007.04242 (seed 001).

The c_out output channels are split into H heads. Head i has its own saliency generator,
SE-style, on the globally pooled input:  g_i = ReLU(W2_i ReLU(W1_i GAP(x)) + beta_i)  (c_in scores).
The head keeps the ``kept = c_in - floor(zeta*c_in)`` highest-scoring input channels, multiplies
them by their scores and convolves only those into its c_out/H outputs. Heads are concatenated,
channel-shuffled, then BatchNorm + ReLU.

Two execution paths, counted separately:
  * inference (``module.eval()``): the pruned channels are really skipped. A batch gathers each
    sample's kept channels (and the matching filter slices) and runs ONE grouped conv with
    N*H groups of ``kept`` channels. Its cost is the design's formula (``spec.costs()``).
  * training (``module.train()``): a dense conv over all c_in channels, the pruned ones multiplied
    by zero so that gradients reach only the kept channels. It costs as much as the dense conv;
    ``DGC.training_costs()`` counts it, and ``executed_costs`` returns it after a training forward.

Per sample (h', w' = output size, m = c_in // d):
  saliency MACs  = H * (c_in*m + m*c_in) = 2*H*c_in*m          (paper: 2*H*c_in^2/d)
  conv MACs      = c_out * kept * k^2 * h'*w'                   (paper: k^2*(1-zeta)*c_in*c_out*h'w')
  dense conv     = c_out * c_in * k^2 * h'*w'
  savings = 1 - MACs/dense = floor(zeta*c_in)/c_in - 2*H*m/(k^2*c_out*h'*w')
          ~ zeta - 2*H*c_in/(d*k^2*c_out*h'*w')   (the paper's form, without the two floors)
d(savings)/dH = -2*c_in/(d*k^2*c_out*h'w'): about -4.4e-6 per head at c=n=64, k=3, 56x56, d=16,
so the number of heads barely matters.

Elementwise columns (ours; no tracer counts them): gathers count one op per element moved, the
score weighting one mul per kept input element, top-k one comparison per candidate (a lower
bound). mem_bytes counts the whole filter bank once as weights, although a forward reads only
the kept slices of it. fvcore and FlopCounterMode see the FCs as linear (mm + bmm) and the
grouped conv as conv; fvcore also counts the GAP and the eval-mode BN.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import sympy as sp

from ..core import compile as _compile
from ..core import ops
from ..core.ops import Op
from ..core.spec import costs_from
from ..core.registry import register_design
from ..core import Constraint, Costs, Spec, fraction, size, sum_ops
from ..core.symbols import conv2d_macs, floor_div, out_size, sym
from ..core.symbols import divides

PATHS = ("inference", "training")


def kept_channels(c_in: Any, zeta: Any) -> Any:
    """Channels each head keeps: c_in - floor(zeta*c_in) (sympy, or exact on Python numbers).

    The module calls this too, so the formula and the module round identically.
    """
    if isinstance(c_in, sp.Basic) or isinstance(zeta, sp.Basic):
        return c_in - sp.floor(zeta * c_in)
    return int(c_in) - int((c_in * zeta) // 1)


def _out_hw(p: SimpleNamespace) -> tuple[sp.Expr, sp.Expr]:
    """Output size with "same" padding k//2."""
    return out_size(p.h, p.k, p.stride), out_size(p.w, p.k, p.stride)


def _saliency_ops(p: SimpleNamespace) -> list[Op]:
    """H saliency generators on one pooled vector: GAP once, FC c->m, ReLU, FC m->c + bias, ReLU.

    The GAP is shared by the heads (same input), so it runs once: c_in*h*w ops.
    FC1 of all heads is one linear c_in -> H*m (no bias); FC2 is a batched matmul (H of m -> c_in)
    followed by its bias add, a separate kernel here.
    """
    m = floor_div(p.c_in, p.d)
    return [ops.global_avg_pool("saliency.gap", p.c_in, p.h, p.w),
            ops.linear("saliency.fc1", p.c_in, p.H * m, bias_=0),
            ops.elementwise("saliency.relu1", "relu", p.H * m),
            ops.linear("saliency.fc2", m, p.c_in, bias_=1).scaled(p.H),
            ops.elementwise("saliency.bias", "add", p.H * p.c_in, inputs=2),
            ops.elementwise("saliency.relu2", "relu", p.H * p.c_in)]


def _topk(p: SimpleNamespace, kept: sp.Expr) -> Op:
    """Top-``kept`` of H*c_in scores: one comparison per candidate counted (a lower bound; no tracer
    counts it); writes the kept values and their indices."""
    return Op("select.topk", "topk", elem=p.H * p.c_in, reads=p.H * p.c_in, writes=2 * p.H * kept)


def _head_conv(p: SimpleNamespace, channels: sp.Expr) -> Op:
    """The H heads' convs as one conv with H groups of ``channels`` inputs each.

    MACs = c_out * channels * k^2 * h'w'. Params are the full filter bank c_out*c_in*k^2 whatever
    is gathered from it.
    """
    c = ops.conv("conv", p.H * channels, p.c_out, p.k, p.h, p.w, p.stride, p.H)
    return replace(c, params=p.c_out * p.c_in * p.k ** 2)


def _tail_ops(p: SimpleNamespace) -> list[Op]:
    """Concat (a view: no op), channel shuffle (a copy), BN, ReLU on c_out x h' x w'."""
    ho, wo = _out_hw(p)
    out = p.c_out * ho * wo
    return [Op("shuffle", "shuffle", reads=out, writes=out),
            ops.batch_norm("bn", p.c_out, ho, wo),
            ops.elementwise("relu", "relu", out)]


def dgc_ops(p: SimpleNamespace, kept: sp.Expr, path: str = "inference") -> list[Op]:
    """Every op of one DGC layer, per sample, with ``kept`` channels selected per head.

    inference: gather kept inputs (H*kept*h*w element copies) and scale them by their scores
    (as many muls), gather each sample's filter slices (c_out*kept*k^2 copies), grouped conv
    over the kept channels only.
    training: scatter the kept scores into a zero mask (H*kept ops, H*c_in written), scale all
    H*c_in*h*w inputs, grouped conv over all c_in channels per head: as dense as the plain conv.
    """
    if path not in PATHS:
        raise ValueError(f"path = {path!r} is invalid: allowed is one of {', '.join(PATHS)}")
    if path == "inference":
        moved = p.H * kept * p.h * p.w
        body = [Op("select.gather_input", "gather", elem=moved, reads=moved, writes=moved),
                ops.elementwise("select.scale", "mul", moved),
                Op("select.gather_weight", "gather", elem=p.c_out * kept * p.k ** 2,
                   reads=p.c_out * kept * p.k ** 2, writes=p.c_out * kept * p.k ** 2,
                   kernel="gather_elements"),  # torch.gather of single elements, not index_select
                _head_conv(p, kept)]
    else:
        body = [Op("select.mask", "scatter", elem=p.H * kept, reads=2 * p.H * kept, writes=p.H * p.c_in),
                ops.elementwise("select.scale", "mul", p.H * p.c_in * p.h * p.w),
                _head_conv(p, p.c_in)]
    return _saliency_ops(p) + [_topk(p, kept)] + body + _tail_ops(p)


@register_design("dgc", "Dynamic Group Convolution (C)",
                 "Su et al., ECCV 2020, https://arxiv.org/abs/2007.04242 (seed 001)")
@dataclass(frozen=True, kw_only=True)
class DGC(Spec):
    """DGC layer, inference path. MACs = 2*H*c_in*(c_in//d) + c_out*(c_in - floor(zeta*c_in))*k^2*h'w'.

    Params = c_out*c_in*k^2 (filters) + H*(2*c_in*(c_in//d) + c_in) (saliency) + 2*c_out (BN).
    """

    dynamic = True  # the kept channels depend on the input: costs() is the expected count

    # -- conv swap: a DGC layer with its own BN + ReLU; only convs followed by ReLU --
    swap_keeps_bn_act = False

    @classmethod
    def swap_for_conv(cls, c_in, c_out, k, stride, h, w, act, *, zeta: float = 0.5, H: int = 4, d: int = 16):
        if not act:
            raise ValueError("conv1x1 = 'dgc' is invalid: DGC always ends with ReLU; swap only ReLU convs (conv3x3)")
        return [("", cls(c_in=c_in, c_out=c_out, k=k, stride=stride, H=H, zeta=zeta, d=d, h=h, w=w))]

    @classmethod
    def swap_options(cls):
        return ("zeta", "H", "d")

    def dense_macs(self) -> int:
        """MACs of the dense k x k conv c_in -> c_out that DGC prunes (the ``dense_macs`` extra)."""
        return int(self.costs().extra["dense_macs"])


    c_in: int = size(64, "input channels", role="channels")
    c_out: int = size(64, "output channels (H divides it)", role="channels")
    k: int = size(3, "kernel size", role="kernel")
    stride: int = size(1, "stride", role="stride")
    H: int = size(4, "heads (divides c_out)")
    zeta: float = fraction(0.5, "pruning ratio: each head drops floor(zeta*c_in) input channels",
                           lo=0.0, hi=1.0, hi_open=True)
    d: int = size(16, "squeeze rate of the saliency generator (c_in//d >= 1)", role="count")
    h: int = size(56, "input height", role="spatial")
    w: int = size(56, "input width", role="spatial")

    @classmethod
    def constraints(cls, p: SimpleNamespace) -> list[Constraint]:
        # kept >= 1 needs no rule: for zeta < 1 the float product zeta*c_in rounds strictly below
        # c_in (c*(1-2^-53) is never rounded up to c), so floor(zeta*c_in) <= c_in - 1.
        return [Constraint("H", divides(p.H, p.c_out), "H must divide c_out"),
                Constraint("d", sp.Ge(floor_div(p.c_in, p.d), 1), "d must be <= c_in so that c_in//d >= 1")]

    @classmethod
    def ops(cls, p: SimpleNamespace) -> list[Op]:
        return dgc_ops(p, kept_channels(p.c_in, p.zeta), "inference")

    @classmethod
    def extra_formulas(cls, p: SimpleNamespace) -> dict[str, sp.Expr]:
        """kept channels per head, and the dense conv's MACs (k^2*c_out*c_in*h'w')."""
        ho, wo = _out_hw(p)
        return {"kept": kept_channels(p.c_in, p.zeta),
                "dense_macs": conv2d_macs(p.c_in, p.c_out, p.k, ho, wo)}

    # -- the paper's quantities --------------------------------------------------------------
    @classmethod
    def savings_ratio(cls) -> sp.Expr:
        """Exact MAC savings vs the dense conv, 1 - (conv + linear MACs) / dense conv MACs:

        floor(zeta*c_in)/c_in - 2*H*(c_in//d)/(k^2*c_out*h_out*w_out), where h_out, w_out name the
        output size out_size(h, k, stride) (substitute it back with ``output_size_subs()``).
        """
        f = cls.formulas()
        exact = (1 - f.macs_total / f.extra["dense_macs"]).subs(cls._output_names())
        return sp.expand(exact)

    @classmethod
    def savings_ratio_paper(cls) -> sp.Expr:
        """The paper's form: zeta - 2*H*c_in / (d*k^2*c_out*h_out*w_out)."""
        p = cls.namespace()
        return p.zeta - 2 * p.H * p.c_in / (p.d * p.k ** 2 * p.c_out * sym("h_out") * sym("w_out"))

    @classmethod
    def head_sensitivity(cls) -> sp.Expr:
        """d(savings)/dH, exact: -2*(c_in//d)/(k^2*c_out*h_out*w_out). Tiny: heads barely matter."""
        return sp.diff(cls.savings_ratio(), sym("H"))

    @classmethod
    def _output_names(cls) -> dict[sp.Expr, sp.Expr]:
        ho, wo = _out_hw(cls.namespace())
        return {ho: sym("h_out"), wo: sym("w_out")}

    @classmethod
    def output_size_subs(cls) -> dict[sp.Expr, sp.Expr]:
        """{h_out: out_size(h, k, stride), w_out: ...}: puts the exact output size back."""
        return {v: k for k, v in cls._output_names().items()}

    def savings(self) -> Fraction:
        """This spec's exact savings ratio, 1 - MACs/dense MACs, as a fraction."""
        c = self.costs()
        return 1 - Fraction(c.macs, int(c.extra["dense_macs"]))

    def savings_paper(self) -> Fraction:
        """The paper's approximation at this spec (zeta taken as the exact binary fraction)."""
        ho = (self.h + 2 * (self.k // 2) - self.k) // self.stride + 1
        wo = (self.w + 2 * (self.k // 2) - self.k) // self.stride + 1
        return Fraction(self.zeta) - Fraction(2 * self.H * self.c_in,
                                              self.d * self.k ** 2 * self.c_out * ho * wo)

    def query_rows(self) -> list[dict[str, Any]]:
        """Rows ``costmodel query`` adds after the extras (which end with dense_macs)."""
        c = self.costs()
        return [{"quantity": "expected MACs (inference, conv + linear)", "value": c.macs, "unit": "MACs"},
                {"quantity": "training-path MACs (dense masked conv)", "value": self.training_costs().macs,
                 "unit": "MACs"},
                {"quantity": "savings ratio (exact)", "value": f"{float(self.savings()):.6f}",
                 "unit": "1 - MACs/dense_macs"},
                {"quantity": "savings ratio (paper form)", "value": f"{float(self.savings_paper()):.6f}",
                 "unit": "zeta - 2*H*c_in/(d*k^2*c_out*h'w')"}]

    # -- executed costs ------------------------------------------------------------------------
    def training_costs(self) -> Costs:
        """Per-sample costs of the training path (dense masked conv): what module.train() runs."""
        return self._costs_at(kept_channels(self.c_in, self.zeta), "training")

    def executed_costs(self, module: Any, batch: int) -> Costs:
        """Per-sample costs of the module's last forward, at the channels it actually kept.

        Reads ``module.last_forward`` (path, batch, kept per head, recorded from the tensors the
        conv ran on). The grouped conv needs the same count in every (sample, head), so one
        number describes the batch.
        """
        rec = getattr(module, "last_forward", None)
        if rec is None:
            raise ValueError("executed_costs: the module has not run a forward pass yet")
        if rec["batch"] != batch:
            raise ValueError(f"batch = {batch} is invalid: the module's last forward had batch {rec['batch']}")
        return self._costs_at(rec["kept"], rec["path"])

    def _costs_at(self, kept: int, path: str) -> Costs:
        names, fn = _executed_evaluator(type(self), path)
        values = self.values()
        values["kept"] = int(kept)
        return costs_from(names, fn(*(values[nm] for nm in type(self).argument_names() + ("kept",))))

    def build(self):
        return _module_class()(self.c_in, self.c_out, self.k, self.stride, self.H, self.zeta, self.d)


@functools.lru_cache(maxsize=None)
def _executed_evaluator(cls: type[DGC], path: str):
    """(names, f) for the costs with the symbol ``kept`` as an extra argument."""
    p = cls.namespace(())
    extra = {**cls.extra_formulas(p), "kept": sym("kept")}  # kept as executed, dense_macs as is
    f = sum_ops(cls.name, dgc_ops(p, sym("kept"), path), sym("dtype_bytes"), extra)
    q = f.quantities()
    return tuple(q), _compile.compile_scalar(list(q.values()), cls.argument_names() + ("kept",))


@functools.lru_cache(maxsize=None)
def _module_class():
    """The torch module class, defined on first use so that importing this file never loads torch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class DGCLayer(nn.Module):
        """DGC layer: eval() runs the sparse inference path, train() the dense masked path."""

        def __init__(self, c_in: int, c_out: int, k: int, stride: int, heads: int, zeta: float,
                     d: int) -> None:
            super().__init__()
            self.c_in, self.c_out, self.k, self.stride, self.heads = c_in, c_out, k, stride, heads
            self.kept = kept_channels(c_in, zeta)
            m = c_in // d
            self.fc1_weight = nn.Parameter(torch.empty(heads * m, c_in))  # all heads' FC1, stacked
            self.fc2_weight = nn.Parameter(torch.empty(heads, m, c_in))  # per head m -> c_in
            self.fc2_bias = nn.Parameter(torch.empty(heads, c_in))
            self.weight = nn.Parameter(torch.empty(c_out, c_in, k, k))  # head i: rows i*c_out/H...
            self.bn = nn.BatchNorm2d(c_out)
            self.last_forward: dict[str, Any] | None = None
            self.last_indices = None
            self.reset_parameters()

        def reset_parameters(self) -> None:
            nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
            bound1, bound2 = self.c_in ** -0.5, self.fc2_weight.shape[1] ** -0.5
            nn.init.uniform_(self.fc1_weight, -bound1, bound1)
            nn.init.uniform_(self.fc2_weight, -bound2, bound2)
            nn.init.uniform_(self.fc2_bias, 0.0, bound2)  # positive: scores start mostly non-zero

        def saliency(self, x: torch.Tensor) -> torch.Tensor:
            """(N, H, c_in) scores: ReLU(W2 ReLU(W1 GAP(x)) + b) per head."""
            pooled = F.adaptive_avg_pool2d(x, 1).flatten(1)  # (N, c_in), shared by the heads
            hidden = F.relu(F.linear(pooled, self.fc1_weight))  # (N, H*m)
            hidden = hidden.view(x.shape[0], self.heads, -1).transpose(0, 1)  # (H, N, m)
            scores = torch.bmm(hidden, self.fc2_weight) + self.fc2_bias[:, None, :]  # (H, N, c_in)
            return F.relu(scores).transpose(0, 1)  # (N, H, c_in)

        def select(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """Top-``kept`` scores and channel indices per (sample, head): (N, H, kept) each."""
            scores, idx = self.saliency(x).topk(self.kept, dim=2)
            self.last_indices = idx
            return scores, idx

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.forward_masked(x) if self.training else self.forward_sparse(x)

        def forward_sparse(self, x: torch.Tensor) -> torch.Tensor:
            """Gather each sample's kept channels and filter slices; one conv with N*H groups."""
            n, c, hh, ww = x.shape
            heads, per_head = self.heads, self.c_out // self.heads
            scores, idx = self.select(x)
            kept = idx.shape[2]
            # rows of the (n*c, h*w) view: index_select copies whole rows (~10x faster than gather)
            rows = (idx + c * torch.arange(n, device=x.device)[:, None, None]).reshape(-1)
            inputs = x.reshape(n * c, hh * ww).index_select(0, rows)  # (n*H*kept, h*w)
            inputs = inputs * scores.reshape(-1, 1)
            bank = self.weight.view(1, heads, per_head, c, self.k * self.k).expand(n, -1, -1, -1, -1)
            filters = torch.gather(bank, 3, idx[:, :, None, :, None].expand(n, heads, per_head, kept,
                                                                              self.k * self.k))
            out = F.conv2d(inputs.view(1, n * heads * kept, hh, ww),
                           filters.reshape(n * self.c_out, kept, self.k, self.k),
                           stride=self.stride, padding=self.k // 2, groups=n * heads)
            self.last_forward = {"path": "inference", "batch": int(n), "kept": int(kept)}
            return self._finish(out.view(n, self.c_out, out.shape[2], out.shape[3]))

        def forward_masked(self, x: torch.Tensor) -> torch.Tensor:
            """Dense: every channel convolved, the pruned ones scaled by 0 (no gradient reaches them)."""
            n, c, hh, ww = x.shape
            scores, idx = self.select(x)
            mask = torch.zeros(n, self.heads, c, dtype=x.dtype, device=x.device).scatter(2, idx, scores)
            inputs = (x[:, None] * mask[:, :, :, None, None]).reshape(n, self.heads * c, hh, ww)
            out = F.conv2d(inputs, self.weight, stride=self.stride, padding=self.k // 2, groups=self.heads)
            self.last_forward = {"path": "training", "batch": int(n), "kept": int(idx.shape[2])}
            return self._finish(out)

        def _finish(self, out: torch.Tensor) -> torch.Tensor:
            """Heads are already concatenated (head-major channels); shuffle, BN, ReLU."""
            n, c, ho, wo = out.shape
            out = out.view(n, self.heads, c // self.heads, ho, wo).transpose(1, 2).reshape(n, c, ho, wo)
            return F.relu(self.bn(out))

    return DGCLayer
