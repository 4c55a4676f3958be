"""Why the peer counters disagree: each one's total beside ours, op kind by op kind, with the
named convention behind every gap, and the gaps adding up exactly to each peer's total.

Ours: conv/linear/matmul MACs plus elementwise ops (``analyze.py`` rules), per sample.
For every peer we *predict* what it counts for each of our records (a leaf module call or a
tensor function) from its documented / source-read convention, then run the peer and compare:

  predicted peer total = our total + sum of the explained gaps,   unexplained = actual - predicted.

Peers: fvcore (MACs, jit trace), torch FlopCounterMode (FLOPs = 2 x MACs), ptflops (pytorch
backend, its defaults) and thop (module hooks). ptflops and thop are the optional extra
``costmodel[peers]``; a peer that is not installed is skipped with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .analysis import Analysis, Record, analyze

CATEGORIES = ("conv", "linear", "batch_norm", "norm", "activation", "pool", "global_pool", "upsample",
              "add", "mul", "softmax", "other")
"""Op kinds of the reconciliation table (linear includes matmul/bmm; conv includes transposed)."""

_KIND_CATEGORY = {"conv": "conv", "conv_transpose": "conv", "linear": "linear", "matmul": "linear",
                  "batch_norm": "batch_norm", "layer_norm": "norm", "group_norm": "norm",
                  "instance_norm": "norm", "upsample": "upsample", "add": "add", "mul": "mul",
                  "softmax": "softmax", "adaptive_avg_pool2d": "global_pool",
                  "adaptive_avg_pool1d": "global_pool", "adaptive_avg_pool3d": "global_pool"}


def category(kind: str) -> str:
    """The reconciliation category of one of our op kinds."""
    if kind in _KIND_CATEGORY:
        return _KIND_CATEGORY[kind]
    if "pool" in kind:
        return "pool"
    if kind in ("concat", "gather", "topk", "free", "params", "mean", "unknown"):
        return "other"
    return "activation"


def ours(r: Record) -> int:
    """Our count for one record: MACs for conv/linear/matmul, else elementwise ops."""
    return int(r.macs or 0) + int(r.elem or 0)


Gap = tuple[str, int, str]  # (category, peer count, convention); our count is separate


# --- fvcore ----------------------------------------------------------------------------------

FVCORE_COUNTED = {"conv", "conv_transpose", "linear", "matmul", "batch_norm", "layer_norm", "group_norm",
                  "instance_norm", "adaptive_avg_pool2d", "upsample"}


def fvcore_rule(r: Record) -> list[Gap]:
    """fvcore: the same MACs (bias not counted), BN 2/1 per element in eval, adaptive avg pool 1 per
    input element, upsample per output element; every other aten op has no handle: 0."""
    cat = category(r.kind)
    if r.kind in FVCORE_COUNTED:
        return [(cat, ours(r), "same count")]
    return [(cat, 0, f"fvcore has no handle for {r.kind}: skipped (listed as unsupported)")]


FVCORE_KEYS = {"conv": "conv", "linear": "linear", "addmm": "linear", "matmul": "linear", "mm": "linear",
               "bmm": "linear", "einsum": "linear", "batch_norm": "batch_norm", "group_norm": "norm",
               "layer_norm": "norm", "instance_norm": "norm", "adaptive_avg_pool2d": "global_pool",
               "upsample_nearest2d": "upsample", "upsample_bilinear2d": "upsample"}


def run_fvcore(model, x) -> tuple[int, dict[str, int]]:
    import logging

    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    a = FlopCountAnalysis(model, x)
    a.unsupported_ops_warnings(False)
    a.uncalled_modules_warnings(False)
    a.tracer_warnings("none")
    by_cat: dict[str, int] = {}
    for op, v in a.by_operator().items():
        cat = FVCORE_KEYS.get(op, "other")
        by_cat[cat] = by_cat.get(cat, 0) + int(v)
    return int(a.total()), by_cat


# --- FlopCounterMode ---------------------------------------------------------------------------

def fcm_rule(r: Record) -> list[Gap]:
    """FlopCounterMode: FLOPs = 2 per MAC for conv / matrix products; nothing else."""
    cat = category(r.kind)
    if r.mac_key:
        return [(cat, 2 * ours(r), "counts FLOPs = 2 x MACs")]
    return [(cat, 0, "counts only convolutions and matrix products")]


def run_fcm(model, x) -> tuple[int, dict[str, int]]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    by_cat: dict[str, int] = {}
    for op, v in counter.get_flop_counts().get("Global", {}).items():  # absent when nothing counted
        name = str(op)
        cat = "conv" if "convolution" in name else ("linear" if name.split(".")[-1] in
                                                       ("mm", "addmm", "bmm", "baddbmm", "matmul") else "other")
        by_cat[cat] = by_cat.get(cat, 0) + int(v)
    return int(counter.get_total_flops()), by_cat


# --- thop ------------------------------------------------------------------------------------

THOP_ZERO = {"ReLU", "ReLU6", "LeakyReLU", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AdaptiveMaxPool1d",
             "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "Dropout", "ZeroPad2d", "PixelShuffle"}
THOP_NORMS = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "InstanceNorm1d", "InstanceNorm2d",
              "InstanceNorm3d", "SyncBatchNorm"}


def thop_rule(r: Record) -> list[Gap]:
    """thop: hooks on registered module types only (source: thop/vision/basic_hooks.py)."""
    cat = category(r.kind)
    mod = r.module
    if r.source != "module":
        return [(cat, 0, "thop hooks modules only: tensor functions (x + y, x * g, F.*, torch.cat) are missed")]
    if mod.startswith("Conv") and "Transpose" not in mod:
        return [(cat, ours(r), "same MACs (bias not counted)")]
    if mod.startswith("ConvTranspose"):
        out_numel = _numel(r.out_shape)
        c_in = r.in_shapes[0][1]
        per = (c_in // r.info["groups"]) * math.prod(r.info["kernel"])
        return [(cat, out_numel * per, "transposed conv counted per OUTPUT element x c_in/groups x k^2")]
    if mod == "Linear":
        return [(cat, ours(r), "same MACs (bias not counted)")]
    if mod in THOP_NORMS:
        n = _numel(r.in_shapes[0])
        thop = 2 * n * (2 if r.info.get("affine") else 1)
        return [(cat, thop, "norm = 2 per element, doubled with affine (4 per element)")]
    if mod == "PReLU":
        return [(cat, _numel(r.in_shapes[0]), "PReLU 1 per element")]
    if mod in THOP_ZERO:
        return [(cat, 0, f"{mod} registered as zero ops")]
    if mod in ("AvgPool1d", "AvgPool2d", "AvgPool3d"):
        return [(cat, _numel(r.out_shape), "avg pool = 1 per output element (window ignored)")]
    if mod in ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d"):
        ratio = 1.0
        for i, o in zip(r.in_shapes[0][2:], r.out_shape[2:]):
            ratio *= i / o
        return [(cat, int((ratio + 1) * _numel(r.out_shape)),
                 "adaptive avg pool = (window + 1 division) per output element")]
    if mod == "Softmax":
        dim = r.info.get("dim", -1)
        nf = r.in_shapes[0][dim]
        return [(cat, (_numel(r.in_shapes[0]) // nf) * (3 * nf - 1), "softmax = exp + add + div: 3n-1 per row")]
    if mod in ("Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d"):
        mode = r.info.get("mode", "nearest")
        per = {"nearest": 1, "linear": 5, "bilinear": 11}.get(mode, 0)
        return [(cat, per * _numel(r.out_shape), f"upsample {mode} = {per} per output element")]
    return [(cat, 0, f"no thop rule for {mod}: zero")]


def run_thop(model, x) -> tuple[int, dict[str, int]]:
    import contextlib
    import io
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # thop imports distutils' LooseVersion
        from thop import profile

    with contextlib.redirect_stdout(io.StringIO()):
        total, _params, layers = profile(model, inputs=(x,), verbose=False, ret_layer_info=True)
    by_cat: dict[str, int] = {}

    def walk(mod, info: dict) -> None:
        children = dict(mod.named_children())
        for name, (ops_, _p, sub) in info.items():
            child = children[name]
            if sub:
                walk(child, sub)
            elif ops_:
                cat = _THOP_TYPE_CATEGORY.get(type(child).__name__, "other")
                by_cat[cat] = by_cat.get(cat, 0) + int(ops_)

    walk(model, layers)
    return int(total), by_cat


_THOP_TYPE_CATEGORY = {**{n: "batch_norm" for n in THOP_NORMS if "Batch" in n},
                       "LayerNorm": "norm", "InstanceNorm1d": "norm", "InstanceNorm2d": "norm",
                       "InstanceNorm3d": "norm", "Linear": "linear", "PReLU": "activation",
                       "Softmax": "softmax", "Upsample": "upsample", "AvgPool2d": "pool", "AvgPool1d": "pool",
                       "AvgPool3d": "pool", "AdaptiveAvgPool2d": "global_pool",
                       "AdaptiveAvgPool1d": "global_pool", "AdaptiveAvgPool3d": "global_pool",
                       **{f"Conv{d}d": "conv" for d in (1, 2, 3)},
                       **{f"ConvTranspose{d}d": "conv" for d in (1, 2, 3)}}


# --- ptflops (pytorch backend, default config) ---------------------------------------------------

PTFLOPS_ACT_HOOKED = {"ReLU", "PReLU", "ELU", "LeakyReLU", "ReLU6", "GELU"}
PTFLOPS_POOLS = {f"{a}{b}{d}d" for a in ("", "Adaptive") for b in ("MaxPool", "AvgPool") for d in (1, 2, 3)}
PTFLOPS_NORMS = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
                 "InstanceNorm3d", "GroupNorm", "LayerNorm"}
PTFLOPS_FUNCTIONAL = ("relu", "prelu", "elu", "relu6", "gelu", "silu", "avg_pool1d", "avg_pool2d", "avg_pool3d",
                      "max_pool1d", "max_pool2d", "max_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
                      "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
                      "adaptive_max_pool3d", "softmax", "upsample", "interpolate")
PTFLOPS_TENSOR = ("matmul", "mm", "bmm", "addmm", "baddbmm", "mul", "add")
PTFLOPS_TENSOR_METHODS = ("matmul", "mm", "bmm", "addmm", "mul", "add")


def ptflops_watch() -> list[tuple[Any, str, str]]:
    """The attributes ptflops (count_functional=True) patches: calls through them are counted."""
    import torch
    import torch.nn.functional as F

    targets = [(F, name, f"F.{name}") for name in PTFLOPS_FUNCTIONAL]
    targets += [(torch, name, f"torch.{name}") for name in PTFLOPS_TENSOR]
    targets += [(torch.Tensor, name, f"Tensor.{name}") for name in PTFLOPS_TENSOR_METHODS]
    return targets


def ptflops_rule(r: Record) -> list[Gap]:
    """ptflops module hooks (source: ptflops/pytorch_ops.py MODULES_MAPPING)."""
    cat = category(r.kind)
    mod = r.module
    if r.source != "module":
        return [(cat, 0, "module hooks only; a patched functional call is counted separately below")]
    if mod.startswith("Conv") or mod == "Linear":
        bias = _numel(r.out_shape) if r.info.get("bias") else 0
        note = "adds the bias: 1 per output element" if bias else "same MACs"
        return [(cat, ours(r) + bias, note)]
    if mod in PTFLOPS_NORMS:
        n = _numel(r.in_shapes[0])
        return [(cat, n * (2 if r.info.get("affine") else 1), "norm = 1 per element, 2 with affine")]
    if mod in PTFLOPS_ACT_HOOKED:
        return [(cat, _numel(r.out_shape), "activation module = 1 per element")]
    if mod in PTFLOPS_POOLS:
        return [(cat, _numel(r.in_shapes[0]), "pool module = 1 per INPUT element")]
    if mod == "Upsample":
        return [(cat, _numel(r.out_shape), "upsample module = 1 per output element")]
    return [(cat, 0, f"no ptflops hook for {mod}")]


_VIA_CATEGORY = {"relu": "activation", "prelu": "activation", "elu": "activation", "relu6": "activation",
                 "gelu": "activation", "silu": "activation", "softmax": "softmax", "upsample": "upsample",
                 "interpolate": "upsample", "matmul": "linear", "mm": "linear", "bmm": "linear",
                 "addmm": "linear", "baddbmm": "linear", "mul": "mul", "add": "add"}


def ptflops_functional(note: dict[str, Any]) -> Gap:
    """What ptflops adds for one call through an attribute it patches (its functional handlers)."""
    name = note["via"].split(".")[-1]
    shapes = note["in_shapes"]
    cat = _VIA_CATEGORY.get(name, "global_pool" if "adaptive_avg" in name else "pool")
    where = " inside a hooked module: counted twice" if note["in_leaf"] else ""
    if name in ("matmul", "mm", "bmm"):
        return (cat, _numel(shapes[0]) * shapes[1][-1], f"patched {note['via']}: prod(A) x B[-1]")
    if name in ("addmm", "baddbmm"):
        return (cat, _numel(shapes[1]) * shapes[2][-1] + _numel(shapes[0]),
                f"patched {note['via']}: MACs + bias elements")
    if name in ("mul", "add"):
        return (cat, note["out_numel"], f"patched {note['via']}: 1 per output element "
                                        "(the + and * operators are not patched)")
    if name in ("upsample", "interpolate"):
        return (cat, note["out_numel"], f"patched {note['via']}: 1 per output element{where}")
    return (cat, _numel(shapes[0]) if shapes else 0, f"patched {note['via']}: 1 per input element{where}")


def run_ptflops(model, x) -> tuple[int, dict[str, int]]:
    import contextlib
    import io

    from ptflops import get_model_complexity_info

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        macs, _params = get_model_complexity_info(model, tuple(x.shape[1:]), as_strings=False,
                                                  print_per_layer_stat=False, verbose=False,
                                                  backend="pytorch")
    if macs is None:
        raise RuntimeError("ptflops failed on this model")
    return int(macs), {}


# --- the reconciliation ---------------------------------------------------------------------------

@dataclass
class PeerResult:
    """One peer: its total, our total, the predicted total and per-category gaps with reasons."""

    peer: str
    unit: str
    actual: int | None
    predicted: int
    ours: int
    table: Any  # DataFrame: category, ours, predicted peer, gap, convention, actual (if split)
    skipped: str = ""

    @property
    def unexplained(self) -> int | None:
        return None if self.actual is None else self.actual - self.predicted

    @property
    def explained_gaps(self) -> int:
        return self.predicted - self.ours


@dataclass
class Reconciliation:
    """Our total and every peer's, with the conventions that explain each gap exactly."""

    analysis: Analysis
    ours_total: int
    peers: dict[str, PeerResult] = field(default_factory=dict)

    def summary(self):
        """One row per peer: unit, ours, explained gaps, predicted, actual, unexplained."""
        import pandas as pd

        rows = []
        for name, p in self.peers.items():
            rows.append({"peer": name, "unit": p.unit, "ours (MACs + elementwise ops)": p.ours,
                         "explained gaps": None if p.skipped else p.explained_gaps,
                         "predicted": None if p.skipped else p.predicted, "peer total": p.actual,
                         "unexplained": p.unexplained, "note": p.skipped or "gaps add up exactly"
                         if p.unexplained == 0 else p.skipped or "UNEXPLAINED GAP"})
        return pd.DataFrame(rows)

    @property
    def totals(self):
        """The summary DataFrame (one row per peer)."""
        return self.summary()

    @property
    def by_kind(self):
        """Every peer's per-category rows (``table()``)."""
        return self.table()

    def table(self):
        """Every peer's per-category rows in one DataFrame."""
        import pandas as pd

        frames = [p.table.assign(peer=name) for name, p in self.peers.items() if not p.skipped]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


PEERS: dict[str, tuple[str, Callable[[Record], list[Gap]], Callable, str]] = {
    "fvcore": ("MACs + BN/pool ops", fvcore_rule, run_fvcore, "fvcore"),
    "FlopCounterMode": ("FLOPs (2 x MACs)", fcm_rule, run_fcm, "torch"),
    "ptflops": ("MACs (+ bias, BN, activations, pools)", ptflops_rule, run_ptflops, "ptflops"),
    "thop": ("MACs (+ BN, pools)", thop_rule, run_thop, "thop"),
}


def reconcile(model, input_shape, peers: tuple[str, ...] | None = None) -> Reconciliation:
    """Ours vs each peer, per category, with the convention behind every gap (batch as given).

    ptflops always runs one sample, so the input batch must be 1 to compare with it.
    """
    import importlib.util

    import torch

    analysis = analyze(model, input_shape, fvcore=False, collapse_specs=False, watch=ptflops_watch())
    x = torch.randn(analysis.input_shape)
    records = [r for r in analysis.records if r.kind not in ("free", "params")]
    total = sum(ours(r) for r in records if r.known)
    result = Reconciliation(analysis, total)
    for name in peers or tuple(PEERS):
        if name not in PEERS:
            raise ValueError(f"peer = {name!r} is unknown: allowed is one of {', '.join(PEERS)}")
        unit, rule, runner, package = PEERS[name]
        if importlib.util.find_spec(package) is None:
            result.peers[name] = PeerResult(name, unit, None, 0, total, None,
                                            f"skipped: {package} is not installed (pip install costmodel[peers])")
            continue
        if name == "ptflops" and analysis.input_shape[0] != 1:
            result.peers[name] = PeerResult(name, unit, None, 0, total, None,
                                            "skipped: ptflops runs one sample; reconcile with batch 1")
            continue
        gaps = _gaps(records, rule)
        if name == "ptflops":
            gaps += [(cat, 0, value, why) for cat, value, why in map(ptflops_functional, analysis.watched)]
        model.eval()
        actual, by_cat = runner(model, x)
        result.peers[name] = _peer_result(name, unit, gaps, actual, by_cat, total)
    return result


def _gaps(records: list[Record], rule) -> list[tuple[str, int, int, str]]:
    """(category, ours, peer predicted, convention) per record; unknown records stay visible."""
    out = []
    for r in records:
        if not r.known:
            out.append((category(r.kind), 0, 0, f"unknown to costmodel: {r.module} at {r.path or '(root)'}"))
            continue
        for cat, value, why in rule(r):
            out.append((cat, ours(r), value, why))
    return out


def _peer_result(name: str, unit: str, gaps, actual: int, by_cat: dict[str, int], total: int) -> PeerResult:
    import pandas as pd

    rows: dict[tuple[str, str], list[int]] = {}
    for cat, our, peer, why in gaps:
        key = (cat, why if peer != our or why.startswith("unknown") else "same count")
        acc = rows.setdefault(key, [0, 0])
        acc[0] += our
        acc[1] += peer
    frame = pd.DataFrame([{"category": cat, "ours": v[0], "predicted peer": v[1], "gap": v[1] - v[0],
                           "convention": why} for (cat, why), v in rows.items()])
    frame = frame.sort_values(["category", "convention"], key=lambda s: s.map(_order) if s.name == "category"
                              else s).reset_index(drop=True)
    predicted = int(frame["predicted peer"].sum()) if len(frame) else 0
    if by_cat:
        missing = [c for c, v in by_cat.items() if v and c not in set(frame["category"])]
        if missing:  # the peer counted a kind we predicted nothing for (e.g. inside an unknown op)
            extra = pd.DataFrame([{"category": c, "ours": 0, "predicted peer": 0, "gap": 0,
                                   "convention": "counted by the peer, not predicted (see unknown)"}
                                  for c in missing])
            frame = pd.concat([frame, extra], ignore_index=True)
        per_cat = frame.groupby("category")["predicted peer"].sum().to_dict()
        frame["peer actual (category)"] = frame["category"].map(
            lambda c: by_cat.get(c, 0) if c in per_cat else None)
        frame["category matches"] = frame["category"].map(lambda c: per_cat.get(c, 0) == by_cat.get(c, 0))
    return PeerResult(name, unit, actual, predicted, total, frame)


def _order(cat: str) -> int:
    return CATEGORIES.index(cat) if cat in CATEGORIES else len(CATEGORIES)


def _numel(shape) -> int:
    return int(math.prod(shape))
