"""ptflops (``get_model_complexity_info``, pytorch backend, its defaults) and its convention.

Source read: ptflops/pytorch_ops.py. It hooks modules (MODULES_MAPPING) AND patches a list of
functional attributes (count_functional=True): a patched call inside a hooked module counts
twice. ptflops is part of the optional extra ``costmodel[peers]``; it always runs one sample.
"""

from __future__ import annotations

import math
from typing import Any

from .keys import category

ACT_HOOKED = {"ReLU", "PReLU", "ELU", "LeakyReLU", "ReLU6", "GELU"}
POOLS = {f"{a}{b}{d}d" for a in ("", "Adaptive") for b in ("MaxPool", "AvgPool") for d in (1, 2, 3)}
NORMS = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
         "InstanceNorm3d", "GroupNorm", "LayerNorm"}
FUNCTIONAL = ("relu", "prelu", "elu", "relu6", "gelu", "silu", "avg_pool1d", "avg_pool2d", "avg_pool3d",
              "max_pool1d", "max_pool2d", "max_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
              "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
              "adaptive_max_pool3d", "softmax", "upsample", "interpolate")
TENSOR = ("matmul", "mm", "bmm", "addmm", "baddbmm", "mul", "add")
TENSOR_METHODS = ("matmul", "mm", "bmm", "addmm", "mul", "add")
VIA_CATEGORY = {"relu": "activation", "prelu": "activation", "elu": "activation", "relu6": "activation",
                "gelu": "activation", "silu": "activation", "softmax": "softmax", "upsample": "upsample",
                "interpolate": "upsample", "matmul": "linear", "mm": "linear", "bmm": "linear",
                "addmm": "linear", "baddbmm": "linear", "mul": "mul", "add": "add"}
"""A patched attribute's name -> the reconciliation category of what ptflops adds for it."""


def _numel(shape) -> int:
    return int(math.prod(shape))


def watch() -> list[tuple[Any, str, str]]:
    """The attributes ptflops (count_functional=True) patches: calls through them are counted."""
    import torch
    import torch.nn.functional as F

    targets = [(F, name, f"F.{name}") for name in FUNCTIONAL]
    targets += [(torch, name, f"torch.{name}") for name in TENSOR]
    targets += [(torch.Tensor, name, f"Tensor.{name}") for name in TENSOR_METHODS]
    return targets


def rule(r: Any) -> list[tuple[str, int, str]]:
    """ptflops module hooks (source: ptflops/pytorch_ops.py MODULES_MAPPING)."""
    cat = category(r.kind)
    mod = r.module
    if r.source != "module":
        return [(cat, 0, "module hooks only; a patched functional call is counted separately below")]
    if mod.startswith("Conv") or mod == "Linear":
        bias = _numel(r.out_shape) if r.info.get("bias") else 0
        return [(cat, r.count + bias, "adds the bias: 1 per output element" if bias else "same MACs")]
    if mod in NORMS:
        n = _numel(r.in_shapes[0])
        return [(cat, n * (2 if r.info.get("affine") else 1), "norm = 1 per element, 2 with affine")]
    if mod in ACT_HOOKED:
        return [(cat, _numel(r.out_shape), "activation module = 1 per element")]
    if mod in POOLS:
        return [(cat, _numel(r.in_shapes[0]), "pool module = 1 per INPUT element")]
    if mod == "Upsample":
        return [(cat, _numel(r.out_shape), "upsample module = 1 per output element")]
    return [(cat, 0, f"no ptflops hook for {mod}")]


def functional(note: dict[str, Any]) -> tuple[str, int, str]:
    """What ptflops adds for one call through an attribute it patches (its functional handlers)."""
    name = note["via"].split(".")[-1]
    shapes = note["in_shapes"]
    cat = VIA_CATEGORY.get(name, "global_pool" if "adaptive_avg" in name else "pool")
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


def run(model, x) -> tuple[int, dict[str, int]]:
    """ptflops' total (it gives no per-operator split)."""
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
